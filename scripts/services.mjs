#!/usr/bin/env node
// `npm run services`: a throwaway PostgreSQL and Redis on loopback for running
// the demo app by hand. Prints the URLs to export; Ctrl-C stops and removes both.
import { startServices } from './services-lib.mjs';

let services;
try {
  services = await startServices();
} catch (err) {
  console.error(`services: ${err.message}`);
  process.exit(1);
}
console.log(`DATABASE_URL=${services.databaseUrl}`);
console.log(`REDIS_URL=${services.redisUrl}`);
console.log('services: running; Ctrl-C stops them');

const keepAlive = setInterval(() => {}, 1 << 30);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await services.stop();
    clearInterval(keepAlive);
    console.log('services: stopped');
  });
}
