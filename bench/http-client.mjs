// What an outgoing http.request call costs the caller (CPU µs per call), inside
// a traced request: bare node, sidetrace without http client spans, sidetrace's
// default (upstream instrumentation-http, its server side off), and a prototype
// built on Node's http.client.* diagnostics channels (bench/lib/http-client-channels.cjs,
// Node >= 22.12). Interleaved, medians. Spans go to the local OTLP sink.
//
//   npm run build && node bench/http-client.mjs [--calls 20000] [--concurrency 20] [--reps 3]
import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { REPO_ROOT, cleanEnv, startSink } from './lib/procs.mjs';
import { median, fmt, table, machine } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const CALLS = Number(flag('--calls', 20000));
const CONCURRENCY = Number(flag('--concurrency', 20));
const REPS = Number(flag('--reps', 3));
const PRELOAD = path.join(REPO_ROOT, 'dist', 'preload.js');
const CHANNELS = path.join(REPO_ROOT, 'bench', 'lib', 'http-client-channels.cjs');
const LOAD = path.join(REPO_ROOT, 'bench', 'lib', 'http-client-load.cjs');

const target = http.createServer((req, res) => res.end('ok'));
await new Promise((r) => target.listen(0, '127.0.0.1', () => r(undefined)));
const url = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (target.address()).port}/x`;
const sink = await startSink();
const traced = { OTEL_SERVICE_NAME: 'bench-http-client', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_MAX_QUEUE_SIZE: '100000' };
const variants = {
  bare: { label: 'bare node', nodeArgs: [], env: {} },
  none: {
    label: 'sidetrace, no http client spans (OTEL_NODE_DISABLED_INSTRUMENTATIONS=http)',
    nodeArgs: ['--require', PRELOAD],
    env: { ...traced, OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http' },
  },
  upstream: { label: "sidetrace default: upstream instrumentation-http's client side", nodeArgs: ['--require', PRELOAD], env: traced },
  channels: {
    label: 'prototype: http.client.* diagnostics channels',
    nodeArgs: ['--require', PRELOAD, '--require', CHANNELS],
    env: { ...traced, OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http' },
  },
};
const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const spans = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, v] of Object.entries(variants)) {
    await sink.reset();
    const out = await new Promise((resolve, reject) =>
      execFile(
        process.execPath,
        [...v.nodeArgs, LOAD, url, String(CALLS), String(CONCURRENCY)],
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
const base = median(samples.none);
console.log(`Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}; ${m.date}; ${CALLS} calls, ${CONCURRENCY} in flight, median of ${REPS}\n`);
console.log(
  table(
    ['variant', 'caller CPU µs per call', 'added by client spans (µs)', 'spans exported per run'],
    Object.entries(variants).map(([k, v]) => [
      v.label,
      fmt(median(samples[k]), 1),
      k === 'upstream' || k === 'channels' ? fmt(median(samples[k]) - base, 1) : '–',
      fmt(median(spans[k])),
    ]),
  ),
);
await sink.stop();
target.close();
process.exit(0);
