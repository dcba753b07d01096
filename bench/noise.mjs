// Noise measurement: the demo app under its reference traffic mix, once with
// the stock OpenTelemetry register and once with sidetrace, spans going to a
// real OTLP receiver. Reports spans and bytes sent, spans per request, and a
// retention check: every meaningful span the stock register sends is still
// sent by sidetrace (server spans of real routes, database queries inside
// requests, outgoing HTTP calls, every failed request with its exceptions).
// A second sidetrace run with OTLP gzip shows what compression adds.
//
//   npm run build && node --import tsx bench/noise.mjs [--rounds 20] [--json out.json]
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { startOtlpReceiver } from '../test/helpers/otlp-receiver.ts';
import { startServices } from '../scripts/services-lib.mjs';
import { startDemoApp, REPO_ROOT, SIDETRACE_PRELOAD } from '../scripts/demo-lib.mjs';
import { runTraffic, ROUND } from '../scripts/demo-traffic.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const ROUNDS = Number(flag('--rounds', '20'));
const jsonOut = flag('--json', undefined);

const STOCK = path.join(REPO_ROOT, 'node_modules', '@opentelemetry', 'auto-instrumentations-node', 'build', 'src', 'register.js');
const NOISE_PATHS = new Set(['/up', '/assets/app.css', '/favicon.ico']);

const pathOf = (s) => String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? '').split('?')[0];
const isDb = (s) => s.kind === 3 && (s.attributes['db.system'] ?? s.attributes['db.system.name']) !== undefined;
const isDbQuery = (s) => isDb(s) && (s.attributes['db.statement'] ?? s.attributes['db.query.text']) !== undefined;
const isHttpClient = (s) => s.kind === 3 && (s.attributes['url.full'] ?? s.attributes['http.url']) !== undefined;

async function measure(label, preload, env) {
  const services = await startServices({ postgres: true, redis: true });
  const rx = await startOtlpReceiver();
  const demo = await startDemoApp({
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    preload,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, ...env },
  });
  try {
    const traffic = await runTraffic({ baseUrl: demo.appUrl, rounds: ROUNDS, intervalMs: 0 });
    if (traffic.unexpected.length) throw new Error(`${label}: unexpected responses: ${traffic.unexpected.slice(0, 3).join('; ')}`);
    // Let the background jobs finish and the batch processors flush on their
    // default 5 s schedule (both preloads batch the same way).
    await new Promise((r) => setTimeout(r, 6500));
    await demo.stop();
    await new Promise((r) => setTimeout(r, 500));
    const spans = rx.spans.filter((s) => s.resource['service.name'] === 'sidetrace-demo');
    const traceBytes = rx.requests.filter((r) => r.path === '/v1/traces').reduce((n, r) => n + r.wireBytes, 0);
    return { label, traffic, spans, bytes: traceBytes, requests: traffic.requests };
  } finally {
    await demo.stop();
    await rx.close();
    await services.stop();
  }
}

/** The meaningful spans of one run, as comparable keys with counts. */
function meaningful(run) {
  const servers = run.spans.filter((s) => s.kind === 2 && !NOISE_PATHS.has(pathOf(s)));
  const realTraces = new Set(servers.map((s) => s.traceId));
  const count = (keys) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map());
  const routeOf = (traceId) => servers.find((s) => s.traceId === traceId)?.name ?? '?';
  return {
    'server spans of real routes': count(servers.map((s) => s.name)),
    'database queries inside requests': count(
      run.spans.filter((s) => isDbQuery(s) && realTraces.has(s.traceId)).map((s) => `${routeOf(s.traceId)} → ${s.name}`),
    ),
    'outgoing HTTP calls': count(run.spans.filter((s) => isHttpClient(s) && realTraces.has(s.traceId)).map((s) => `${routeOf(s.traceId)} → ${s.name}`)),
    // An error is kept when the failed request still shows as failed, with every exception it recorded
    // (sidetrace moves a route handler's error onto the server span instead of sending a duplicate span).
    'failed requests': count([...new Set(run.spans.filter((s) => s.status.code === 2 && realTraces.has(s.traceId)).map((s) => s.traceId))].map(routeOf)),
    'exception events': count(
      run.spans.filter((s) => realTraces.has(s.traceId)).flatMap((s) => s.events.filter((e) => e.name === 'exception').map(() => routeOf(s.traceId))),
    ),
  };
}

function retention(stock, ours) {
  const a = meaningful(stock);
  const b = meaningful(ours);
  const rows = [];
  for (const kind of Object.keys(a)) {
    let want = 0;
    let kept = 0;
    const missing = [];
    for (const [key, n] of a[kind]) {
      want += n;
      const got = Math.min(n, b[kind].get(key) ?? 0);
      kept += got;
      if (got < n) missing.push(`${key} (${got}/${n})`);
    }
    rows.push({ kind, want, kept, missing });
  }
  return rows;
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

const stock = await measure('stock register', STOCK, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
const ours = await measure('sidetrace', SIDETRACE_PRELOAD, {});
const gzip = await measure('sidetrace + gzip', SIDETRACE_PRELOAD, { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' });

const perRound = Object.values(ROUND).reduce((a, b) => a + b, 0);
const pct = (a, b) => `${(100 * (1 - b / a)).toFixed(1)}%`;
console.log(`# Noise: demo app, ${ROUNDS} rounds of the reference mix (${perRound} requests a round)`);
console.log(`machine: ${machine()}\n`);
console.log('| | stock register | sidetrace | reduction |');
console.log('|---|---:|---:|---:|');
console.log(`| spans sent | ${stock.spans.length} | ${ours.spans.length} | ${pct(stock.spans.length, ours.spans.length)} |`);
console.log(`| bytes sent (OTLP/protobuf) | ${stock.bytes} | ${ours.bytes} | ${pct(stock.bytes, ours.bytes)} |`);
console.log(`| spans per request | ${(stock.spans.length / stock.requests).toFixed(2)} | ${(ours.spans.length / ours.requests).toFixed(2)} | |`);
console.log(`| bytes sent with OTEL_EXPORTER_OTLP_COMPRESSION=gzip | ${stock.bytes} (none) | ${gzip.bytes} | ${pct(stock.bytes, gzip.bytes)} |`);
console.log('\nRetention (meaningful spans of the stock run that sidetrace also sent):\n');
console.log('| kind | stock | kept by sidetrace |');
console.log('|---|---:|---:|');
const ret = retention(stock, ours);
for (const r of ret) console.log(`| ${r.kind} | ${r.want} | ${r.kept} (${r.want ? ((100 * r.kept) / r.want).toFixed(0) : 100}%) |`);
const allKept = ret.every((r) => r.kept === r.want);
for (const r of ret) if (r.missing.length) console.log(`missing ${r.kind}: ${r.missing.join(', ')}`);
const byName = (run) => [...run.spans.reduce((m, s) => m.set(s.name, (m.get(s.name) ?? 0) + 1), new Map())].sort((x, y) => y[1] - x[1]);
console.log(
  `\nstock span names: ${byName(stock)
    .map(([n, c]) => `${n}×${c}`)
    .join(', ')}`,
);
console.log(
  `sidetrace span names: ${byName(ours)
    .map(([n, c]) => `${n}×${c}`)
    .join(', ')}`,
);
const spanCut = 1 - ours.spans.length / stock.spans.length;
const byteCut = 1 - ours.bytes / stock.bytes;
console.log(
  `\ngoal: ≥70% fewer spans and bytes with 100% retention → spans ${(spanCut * 100).toFixed(1)}%, bytes ${(byteCut * 100).toFixed(1)}%, retention ${allKept ? '100%' : 'INCOMPLETE'}`,
);
if (jsonOut)
  fs.writeFileSync(
    jsonOut,
    JSON.stringify(
      {
        machine: machine(),
        rounds: ROUNDS,
        stock: { spans: stock.spans.length, bytes: stock.bytes, requests: stock.requests },
        sidetrace: { spans: ours.spans.length, bytes: ours.bytes, requests: ours.requests },
        sidetraceGzip: { spans: gzip.spans.length, bytes: gzip.bytes },
        retention: ret,
      },
      null,
      2,
    ),
  );
