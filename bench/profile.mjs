// CPU profile of an app under load: where does the time of a traced request go?
// Runs the app with --cpu-prof under autocannon, spans going to the OTLP sink,
// then prints self time by package and the hottest functions, sidetrace's own
// (dist/) marked. The .cpuprofile is kept for Chrome DevTools / speedscope.
//
//   npm run build && node bench/profile.mjs [--variant sidetrace|stock|bare|newrelic] [--app hello|demo]
//                                           [--duration 15] [--preload PATH] [--top 40] [--out DIR] [--env K=V,K=V]
//   node bench/profile.mjs --summarise FILE.cpuprofile     (only print the summary of a saved profile)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { REPO_ROOT, startNode, startSink } from './lib/procs.mjs';
import { refusedPort } from '../test/helpers/refused-port.mjs';
import { makeHelloApp } from './lib/hello-app.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const VARIANT = flag('--variant', 'sidetrace');
const APP = flag('--app', 'hello');
const DURATION_S = Number(flag('--duration', 15));
const TOP = Number(flag('--top', 40));
const PRELOAD = path.resolve(flag('--preload', path.join(REPO_ROOT, 'dist', 'preload.js')));
const EXTRA_ENV = Object.fromEntries(
  (flag('--env', '') || '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const OUT = path.resolve(flag('--out', fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-prof-'))));

fs.mkdirSync(OUT, { recursive: true });
const SAVED = flag('--summarise', undefined);
if (SAVED) {
  summarise(JSON.parse(fs.readFileSync(SAVED, 'utf8')));
  process.exit(0);
}

const sink = await startSink();
const deadPort = await refusedPort();
const preloads = {
  bare: [],
  sidetrace: ['--require', PRELOAD],
  stock: ['--require', require.resolve('@opentelemetry/auto-instrumentations-node/register')],
  newrelic: ['--require', require.resolve('newrelic')],
};
const env = {
  OTEL_SERVICE_NAME: 'sidetrace-bench',
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
  ...(VARIANT === 'stock' ? { OTEL_TRACES_EXPORTER: 'otlp' } : {}),
  ...(VARIANT === 'newrelic'
    ? {
        NEW_RELIC_NO_CONFIG_FILE: 'true',
        NEW_RELIC_LICENSE_KEY: 'b'.repeat(40),
        NEW_RELIC_APP_NAME: 'sidetrace-bench',
        NEW_RELIC_HOST: '127.0.0.1',
        NEW_RELIC_PORT: String(deadPort),
        NEW_RELIC_LOG_ENABLED: 'false',
      }
    : {}),
  ...EXTRA_ENV,
};
// sidetrace exits on SIGTERM by itself; the others need help for --cpu-prof to write its file.
const exitOnSigterm = VARIANT === 'sidetrace' ? [] : ['--require', path.join(REPO_ROOT, 'bench', 'lib', 'exit-on-sigterm.cjs')];
const nodeArgs = [...preloads[VARIANT], ...exitOnSigterm, '--cpu-prof', `--cpu-prof-dir=${OUT}`];

let url;
let stop;
let services;
let requests;
if (APP === 'demo') {
  const { startServices } = await import('../scripts/services-lib.mjs');
  services = await startServices({ postgres: true, redis: true });
  // The demo's launcher takes one preload: a wrapper that loads the real one and profiles the app.
  const { startDemoApp } = await import('../scripts/demo-lib.mjs');
  const demo = await startDemoApp({
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    preload: path.join(REPO_ROOT, 'bench', 'lib', 'profiling-preload.cjs'),
    env: { ...env, BENCH_INNER_PRELOAD: preloads[VARIANT][1] ?? '' },
    appEnv: { BENCH_PROFILE_DIR: OUT },
  });
  url = demo.appUrl;
  stop = demo.stop;
  requests = [{ path: '/' }, { path: '/users' }, { path: '/users/3' }, { path: '/projects/2' }, { path: '/projects/1/previews' }];
} else {
  const hello = makeHelloApp();
  const app = await startNode({ script: hello.script, cwd: hello.dir, nodeArgs, env });
  url = `${app.url}/hello`;
  stop = () => app.stop(5000);
}

const res = await new Promise((resolve, reject) =>
  autocannon({ url, connections: 50, duration: DURATION_S, requests }, (err, r) => (err ? reject(err) : resolve(r))),
);
await new Promise((r) => setTimeout(r, 1500));
const received = await sink.stats();
await stop();
await sink.stop();
await services?.stop();
console.log(
  `${VARIANT} on ${APP}: ${(res.requests.total / res.duration).toFixed(0)} req/s, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms; sink got ${received.spans} spans, ${received.bytes} bytes`,
);

const file = fs
  .readdirSync(OUT)
  .filter((f) => f.endsWith('.cpuprofile'))
  .map((f) => path.join(OUT, f))
  .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
if (!file) throw new Error(`no .cpuprofile in ${OUT} (did the app exit normally?)`);
summarise(JSON.parse(fs.readFileSync(file, 'utf8')), res.requests.total);
console.log(`\nprofile: ${file}`);

/** Self time per node, from the sample timeline; with `requests`, also in µs per request. */
function summarise(profile, requests) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id).callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const bucketOf = (url) => {
    if (!url) return '(native / VM)';
    if (url.startsWith('node:')) return 'node core';
    if (url.includes(`${REPO_ROOT}/dist/`) || url.includes('/sidetrace/dist/')) return 'sidetrace (dist/)';
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
    if (m) return m[1];
    return url.replace(`file://${REPO_ROOT}/`, '');
  };
  const buckets = new Map();
  const fns = new Map();
  for (const [id, t] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    if (functionName === '(idle)') continue;
    const b = ['(garbage collector)', '(program)'].includes(functionName) ? functionName : bucketOf(url);
    buckets.set(b, (buckets.get(b) ?? 0) + t);
    const key = `${functionName || '(anonymous)'} ${
      url
        ? `${url
            .replace(/^file:\/\//, '')
            .replace(`${REPO_ROOT}/`, '')
            .replace(/.*node_modules\//, '')}:${lineNumber + 1}`
        : ''
    }`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  const pctOf = (t) => `${((100 * t) / busy).toFixed(1).padStart(5)}%${requests ? `  ${(t / requests).toFixed(1).padStart(6)} µs/req` : ''}`;
  console.log(`\nbusy ${(busy / 1e6).toFixed(1)} s of ${(total / 1e6).toFixed(1)} s profiled; self time by package (% of busy):`);
  for (const [b, t] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pctOf(t)}  ${b}`);
  console.log(`\nhottest functions (self time, % of busy):`);
  for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pctOf(t)}  ${f.includes('dist/') ? '★ ' : ''}${f}`);

  // Inclusive: everything that ran under a sidetrace frame, charged to the outermost one.
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ours = (n) => (n.callFrame.url ?? '').includes('/dist/') && bucketOf(n.callFrame.url) === 'sidetrace (dist/)';
  const inclusive = new Map();
  let under = 0;
  for (const [id, t] of self) {
    let outer;
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) if (ours(byId.get(cur))) outer = cur;
    if (outer === undefined) continue;
    under += t;
    const { functionName, url, lineNumber } = byId.get(outer).callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
    inclusive.set(key, (inclusive.get(key) ?? 0) + t);
  }
  console.log(`\ntime under sidetrace's own frames (inclusive): ${pctOf(under)} of busy`);
  for (const [f, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pctOf(t)}  ${f}`);
}
