// Outgoing http.get (or fetch) calls, each inside its own root span (as each call a
// traced request makes), for bench/http-client.mjs: argv URL COUNT CONCURRENCY [http|fetch].
// Prints one line: `calls=N cpu_us_per_call=X`.
const http = require('node:http');
const path = require('node:path');
const { trace } = require(path.join(__dirname, '..', '..', 'node_modules', '@opentelemetry', 'api'));

const [url, count, concurrency, kind] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5] ?? 'http'];
const tracer = trace.getTracer('bench');
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
// fetch keeps its connections alive in undici's global pool.
const fetchOne = () =>
  tracer.startActiveSpan('parent', async (parent) => {
    const res = await fetch(url);
    await res.arrayBuffer();
    parent.end();
  });
const httpGet = () =>
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

const get = kind === 'fetch' ? fetchOne : httpGet;

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
