// What collector faults cost the app: the same express app under the
// preload, loaded with autocannon, once per collector behaviour (healthy,
// unreachable, 500, 503, 429, never answering, resetting connections), with
// sidetrace's default batch settings. Reports throughput and p50/p99 latency
// as ratios to the healthy run, and what happened to the spans. Two reference
// rows: tracing off, and — to calibrate the memory checks of
// test/faults.test.ts — a hanging collector with the queue bound lifted
// (OTEL_BSP_MAX_QUEUE_SIZE=1000000), which is what an unbounded queue costs.
//
//   npm run build && node --import tsx bench/faults.mjs [--seconds 10] [--connections 10] [--json out.json]
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';
import { startOtlpReceiver } from '../test/helpers/otlp-receiver.ts';
import { REPO_ROOT, startNode } from './lib/procs.mjs';
import { fmt, machine, table } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const SECONDS = Number(flag('--seconds', '10'));
const CONNECTIONS = Number(flag('--connections', '10'));
const jsonOut = flag('--json', undefined);
const APP = path.join(REPO_ROOT, 'test', 'fixtures', 'fault-app.js');
const PRELOAD = path.join(REPO_ROOT, 'dist', 'preload.js');
const getJson = async (url) => (await fetch(url)).json();

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
  await new Promise((r) => s.close(r));
  return port;
}

const SCENARIOS = [
  { label: 'tracing off', mode: 'off' },
  { label: 'healthy collector', mode: 'ok' },
  { label: 'unreachable', mode: 'unreachable' },
  { label: 'answers 500', mode: 500 },
  { label: 'answers 503', mode: 503 },
  { label: 'answers 429', mode: 429 },
  { label: 'never answers', mode: 'hang' },
  { label: 'resets connections', mode: 'down' },
  // Calibration: what the queue bound saves (small batches and timeouts, as in test/faults.test.ts).
  {
    label: 'never answers, queue bound lifted',
    mode: 'hang',
    env: { OTEL_BSP_MAX_QUEUE_SIZE: '1000000', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' },
  },
  {
    label: 'never answers, queue 200 (as in the test)',
    mode: 'hang',
    env: { OTEL_BSP_MAX_QUEUE_SIZE: '200', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' },
  },
];

function cannon(url, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: seconds }, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function measure(scenario) {
  const rx = await startOtlpReceiver();
  let endpoint = rx.url;
  if (scenario.mode === 'unreachable') endpoint = `http://127.0.0.1:${await freePort()}`;
  else if (scenario.mode !== 'off') rx.setMode(scenario.mode);
  const env = { OTEL_SERVICE_NAME: 'bench-faults', ...(scenario.mode === 'off' ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), ...scenario.env };
  const app = await startNode({ script: APP, nodeArgs: ['--expose-gc', '--require', PRELOAD], env });
  try {
    await cannon(`${app.url}/work`, 2); // warm-up
    const before = await getJson(`${app.url}/rss`);
    const r = await cannon(`${app.url}/work`, SECONDS);
    const after = await getJson(`${app.url}/rss`);
    const stats = (await getJson(`${app.url}/stats`))[0] ?? {};
    const failing = app.output.filter((l) => / is failing \(/.test(l)).length;
    return {
      label: scenario.label,
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      non2xx: r.non2xx + r.errors + r.timeouts,
      requests: r.requests.total,
      heapGrowthMiB: (after.heapUsed - before.heapUsed) / 1048576,
      heapMiB: after.heapUsed / 1048576,
      rssGrowthMiB: (after.rss - before.rss) / 1048576,
      exported: stats.exported ?? 0,
      lost: (stats.failed ?? 0) + (stats.droppedQueueFull ?? 0),
      failingLines: failing,
    };
  } finally {
    await app.stop(0);
    await rx.close();
  }
}

const results = [];
for (const s of SCENARIOS) {
  process.stderr.write(`${s.label}…\n`);
  results.push(await measure(s));
}
const healthy = results.find((r) => r.label === 'healthy collector');
const ratio = (x, base) => (base ? `${(x / base).toFixed(2)}×` : '–');

console.log(`# The app under collector faults: ${SECONDS} s of autocannon (${CONNECTIONS} connections) per row, GET /work`);
const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, load average ${m.loadAverage} at start of table\n`);
console.log(
  table(
    [
      'collector',
      'req/s',
      'vs healthy',
      'p50 ms',
      'p99 ms',
      'p99 vs healthy',
      'non-2xx',
      'spans exported',
      'spans lost (counted)',
      '"is failing" lines',
      'heap after GC',
      'heap growth',
    ],
    results.map((r) => [
      r.label,
      fmt(r.rps),
      ratio(r.rps, healthy.rps),
      fmt(r.p50, 1),
      fmt(r.p99, 1),
      ratio(r.p99, healthy.p99),
      String(r.non2xx),
      String(r.exported),
      String(r.lost),
      String(r.failingLines),
      `${fmt(r.heapMiB, 1)} MiB`,
      `${r.heapGrowthMiB >= 0 ? '+' : ''}${fmt(r.heapGrowthMiB, 1)} MiB`,
    ]),
  ),
);
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ machine: machine(), seconds: SECONDS, connections: CONNECTIONS, results }, null, 2));
