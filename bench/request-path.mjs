// What one request costs in-process under sidetrace's server hook, at 0%, 10%
// and 100% sampling, next to bare node: bench/lib/one-request.cjs runs
// 100,000 requests through an express hello-world without sockets, under each
// variant in its own process, interleaved rounds, medians of CPU µs per
// request. Spans are exported to a closed port: serialization and the failed
// export are paid, but the exporter retries, the queue fills and most sampled
// spans are then dropped unserialized (at 100% more of them than at 10%, so
// 10% and 100% are not comparable per span). With --sink, to a real OTLP sink
// (bench/lib/otlp-sink.mjs, its own process), 100 requests per event-loop
// turn: every sampled span is serialized and sent, as in a service. With --compare-preload, the same for
// another build (before/after an optimisation). With --plain, a bare
// node:http handler instead of express. With --mix, two more variants at 0%:
// one request in ten recorded but not exported (a path the noise policy
// ignores), and one in ten sampled by its caller's traceparent and exported:
// what a 10% mix costs beyond the unsampled requests, recording and export apart.
// With --side http|worker|fetch, two more: bare and 0% with one outgoing POST every
// 5,000 requests and nothing traced: through http.request on this thread or from a
// worker thread, or through fetch on this thread.
//
//   npm run build && node bench/request-path.mjs [--node 24|20|PATH] [--rounds 5] [--requests 100000] [--sink] [--plain] [--mix] [--side http|worker|fetch] [--compare-preload PATH]
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { REPO_ROOT, startSink } from './lib/procs.mjs';
import { refusedPort } from '../test/helpers/refused-port.mjs';
import { flag, has, nodeBinary } from './lib/args.mjs';
import { median, machine } from './lib/stats.mjs';

const NODE = nodeBinary();
const ROUNDS = Number(flag('--rounds', 5));
const REQUESTS = flag('--requests', '100000');
const PRELOADS = { sidetrace: path.join(REPO_ROOT, 'dist', 'preload.js') };
const compare = flag('--compare-preload', undefined);
if (compare) PRELOADS.compare = path.resolve(compare);

const sink = has('--sink') ? await startSink() : undefined;
const endpoint = sink ? sink.url : `http://127.0.0.1:${await refusedPort()}`;
const base = {
  ...process.env,
  BENCH_REQUESTS: REQUESTS,
  OTEL_SERVICE_NAME: 'request-path',
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  ...(sink ? { BENCH_PER_TURN: '100' } : {}),
  ...(has('--plain') ? { BENCH_APP: 'plain' } : {}),
  SIDETRACE_LOG_LEVEL: 'error',
};
const ratio = (r) => ({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: r });
const variants = { bare: { args: [], env: base } };
const side = flag('--side', undefined);
if (side) variants[`bare + a POST every 5,000 (${side})`] = { args: [], env: { ...base, BENCH_SIDE: side } };
for (const [tag, preload] of Object.entries(PRELOADS)) {
  variants[`${tag} 0%`] = { args: ['--require', preload], env: { ...base, ...ratio('0') } };
  variants[`${tag} 10%`] = { args: ['--require', preload], env: { ...base, ...ratio('0.1') } };
  variants[`${tag} 100%`] = { args: ['--require', preload], env: base };
  if (side) variants[`${tag} 0% + a POST every 5,000 (${side})`] = { args: ['--require', preload], env: { ...base, ...ratio('0'), BENCH_SIDE: side } };
  if (has('--mix')) {
    variants[`${tag} 0%, 1 in 10 recorded, not exported`] = { args: ['--require', preload], env: { ...base, ...ratio('0'), BENCH_MIX: 'recorded' } };
    variants[`${tag} 0%, 1 in 10 sampled by its caller`] = { args: ['--require', preload], env: { ...base, ...ratio('0'), BENCH_MIX: 'sampled' } };
  }
}

const LOAD_AT_START = machine().loadAverage;
const samples = Object.fromEntries(Object.keys(variants).map((n) => [n, []]));
const app = path.join(REPO_ROOT, 'bench', 'lib', 'one-request.cjs');
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, v] of Object.entries(variants)) {
    const r = spawnSync(NODE, [...v.args, app], { env: v.env, encoding: 'utf8', cwd: REPO_ROOT });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (!line.startsWith('{')) throw new Error(`${name}: ${r.stderr.slice(0, 500)}`);
    samples[name].push(JSON.parse(line).cpuUsPerRequest);
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
const received = sink ? await sink.stats() : undefined;
await sink?.stop();
const bare = median(samples.bare);
const m = machine();
console.log(
  `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim()}; load average at start ${LOAD_AT_START}, at end ${m.loadAverage}; ${REQUESTS} requests per sample, median of ${ROUNDS}; spans to ${sink ? `a real OTLP sink (${received.spans} spans received)` : 'a closed port'}\n`,
);
console.log('| variant | CPU µs/request | over bare | samples |\n| --- | ---: | ---: | --- |');
for (const [name, s] of Object.entries(samples)) {
  const m = median(s);
  console.log(`| ${name} | ${m.toFixed(1)} | ${name === 'bare' ? '–' : `+${(m - bare).toFixed(1)}`} | ${s.map((x) => x.toFixed(1)).join(' ')} |`);
}
