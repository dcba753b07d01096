// What an outgoing http.request call costs the caller (CPU µs per call), each
// call inside its own traced parent: bare node; sidetrace with no http client
// spans; sidetrace's default (its own client spans: on Node's http.client.*
// diagnostics channels on Node >= 22.12, a wrap of http/https.request and get
// on older Node); upstream's instrumentation-http (SIDETRACE_NOISE=off,
// its server side idle: the load process serves nothing). At 100% and at 10%
// sampling (parentbased_traceidratio 0.1). Interleaved, medians. Spans go to
// the local OTLP sink. With --fetch, the calls are fetch() calls and the
// variants are about the undici instrumentation: none, sidetrace's own on
// undici's diagnostics channels, upstream instrumentation-undici.
//
//   npm run build && node bench/http-client.mjs [--fetch] [--calls 20000] [--concurrency 20] [--reps 3]
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { REPO_ROOT, cleanEnv, startSink } from './lib/procs.mjs';
import { median, fmt, table, machine } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const CALLS = Number(flag('--calls', 20000));
const CONCURRENCY = Number(flag('--concurrency', 20));
const REPS = Number(flag('--reps', 3));
const FETCH = args.includes('--fetch');
const PRELOAD = path.join(REPO_ROOT, 'dist', 'preload.js');
const LOAD = path.join(REPO_ROOT, 'bench', 'lib', 'http-client-load.cjs');

const target = http.createServer((req, res) => res.end('ok'));
await new Promise((r) => target.listen(0, '127.0.0.1', () => r(undefined)));
const url = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (target.address()).port}/x`;
const sink = await startSink();
const traced = { OTEL_SERVICE_NAME: 'bench-http-client', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_MAX_QUEUE_SIZE: '100000' };
const tenth = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' };
const [major, minor] = process.versions.node.split('.').map(Number);
const channels = major > 23 || (major === 23 && minor >= 2) || (major === 22 && minor >= 12);
const instrumentation = FETCH ? 'undici' : 'http';
const defaultLabel = FETCH
  ? 'sidetrace default: undici:* diagnostics channels'
  : channels
    ? 'sidetrace default: http.client.* diagnostics channels'
    : 'sidetrace default: wraps http/https.request and get (no channel on this Node)';
const off = { OTEL_NODE_DISABLED_INSTRUMENTATIONS: instrumentation };
// Under SIDETRACE_NOISE=off only the measured instrumentation loads (upstream's http wraps node:http, which fetch does not use).
const upstream = { SIDETRACE_NOISE: 'off', ...(FETCH ? { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'undici' } : {}) };
const preload = ['--require', PRELOAD];
const variants = {
  bare: { label: 'bare node', nodeArgs: [], env: {} },
  none: {
    label: `sidetrace, no ${FETCH ? 'fetch' : 'http client'} spans (OTEL_NODE_DISABLED_INSTRUMENTATIONS=${instrumentation})`,
    nodeArgs: preload,
    env: { ...traced, ...off },
  },
  default: { label: defaultLabel, nodeArgs: preload, env: traced },
  upstream: { label: `upstream instrumentation-${instrumentation} (SIDETRACE_NOISE=off)`, nodeArgs: preload, env: { ...traced, ...upstream } },
  none10: { label: `no ${FETCH ? 'fetch' : 'http client'} spans, 10% sampled`, nodeArgs: preload, env: { ...traced, ...tenth, ...off } },
  default10: { label: `${defaultLabel}, 10% sampled`, nodeArgs: preload, env: { ...traced, ...tenth } },
  upstream10: { label: `upstream instrumentation-${instrumentation}, 10% sampled`, nodeArgs: preload, env: { ...traced, ...tenth, ...upstream } },
};
const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const spans = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, v] of Object.entries(variants)) {
    await sink.reset();
    const out = await new Promise((resolve, reject) =>
      execFile(
        process.execPath,
        [...v.nodeArgs, LOAD, url, String(CALLS), String(CONCURRENCY), FETCH ? 'fetch' : 'http'],
        { env: cleanEnv(v.env), timeout: 120_000 },
        (err, stdout, stderr) => (/cpu_us_per_call=/.test(stdout) ? resolve(stdout) : reject(new Error(`${name}: ${err?.message ?? ''} ${stdout} ${stderr}`))),
      ),
    );
    const line = /cpu_us_per_call=([\d.]+)/.exec(out);
    await new Promise((r) => setTimeout(r, 500));
    samples[name].push(Number(line[1]));
    spans[name].push((await sink.stats()).spans);
    process.stderr.write(`rep ${rep + 1} ${name}: ${line[1]} µs/call\n`);
  }
}
const m = machine();
const baseOf = (k) => median(samples[k.endsWith('10') ? 'none10' : 'none']);
console.log(
  `Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}; ${m.date}; load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(`${CALLS} ${FETCH ? 'fetch' : 'http.get'} calls, ${CONCURRENCY} in flight, median of ${REPS}\n`);
console.log(
  table(
    ['variant', 'caller CPU µs per call', 'added by client spans (µs)', 'spans exported per run'],
    Object.entries(variants).map(([k, v]) => [
      v.label,
      fmt(median(samples[k]), 1),
      k.startsWith('default') || k.startsWith('upstream') ? fmt(median(samples[k]) - baseOf(k), 1) : '–',
      fmt(median(spans[k])),
    ]),
  ),
);
await sink.stop();
target.close();
process.exit(0);
