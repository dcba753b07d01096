// Outgoing http.request calls, each inside its own root span (as each call a
// traced request makes), for bench/http-client.mjs: argv URL COUNT CONCURRENCY.
// Prints one line: `calls=N cpu_us_per_call=X`.
const http = require('node:http');
const path = require('node:path');
const { trace } = require(path.join(__dirname, '..', '..', 'node_modules', '@opentelemetry', 'api'));

const [url, count, concurrency] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const tracer = trace.getTracer('bench');
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const get = () =>
  new Promise((resolve, reject) => {
    tracer.startActiveSpan('parent', (parent) => {
      http
        .get(url, { agent }, (res) =>
          res.resume().on('end', () => {
            parent.end();
            resolve(undefined);
          }),
        )
        .on('error', reject);
    });
  });

async function run(n) {
  let next = 0;
  const worker = async () => {
    while (next++ < n) await get();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

(async () => {
  await run(2000); // warm-up
  const cpu0 = process.cpuUsage();
  await run(count);
  const cpu = process.cpuUsage(cpu0);
  console.log(`calls=${count} cpu_us_per_call=${((cpu.user + cpu.system) / count).toFixed(2)}`);
  agent.destroy();
  setTimeout(() => process.kill(process.pid, 'SIGTERM'), 200);
})();
