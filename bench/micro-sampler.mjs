// What the sampler chain costs per request: the decision for one root server
// span (`parentbased_traceidratio` at 0.1 under the noise policy's sampler,
// path not noise), with the trace id taken from sidetrace's id generator as
// the SDK's tracer takes it. The SDK's TraceIdRatioBasedSampler against
// sidetrace's TraceIdRatioSampler (src/sdk/sampler.ts), each in its own
// process, interleaved rounds, medians of ns per decision.
//
//   npm run build && node bench/micro-sampler.mjs [--node 24|20|PATH] [--rounds 7] [--decisions 2000000]
import { execFileSync, spawnSync } from 'node:child_process';
import { REPO_ROOT } from './lib/procs.mjs';
import { flag, nodeBinary } from './lib/args.mjs';
import { median, machine } from './lib/stats.mjs';

const NODE = nodeBinary();
const ROUNDS = Number(flag('--rounds', 7));
const DECISIONS = Number(flag('--decisions', 2_000_000));

// One measurement, run in a child process so that neither sampler's feedback shapes the other's code.
const CHILD = `
const path = require('node:path');
const api = require('@opentelemetry/api');
const base = require('@opentelemetry/sdk-trace-base');
const lib = path.join(process.env.ROOT, 'dist', 'lib');
const { idGenerator } = require(path.join(lib, 'sdk', 'id-generator.js'));
const { NoiseSampler, PathMatcher } = require(path.join(lib, 'policy', 'noise.js'));
const { TraceIdRatioSampler } = require(path.join(lib, 'sdk', 'sampler.js'));
const root = process.env.WHICH === 'sdk' ? new base.TraceIdRatioBasedSampler(0.1) : new TraceIdRatioSampler(0.1);
const sampler = new NoiseSampler(new base.ParentBasedSampler({ root }), new PathMatcher(['/health', '/healthz', '/ready', '/metrics', '/favicon.ico', '*.css', '*.js', '/static/*']));
const n = Number(process.env.N);
const decide = () => sampler.shouldSample(api.ROOT_CONTEXT, idGenerator.generateTraceId(), 'GET', api.SpanKind.SERVER, { 'url.path': '/hello' }, []).decision;
let sampled = 0;
for (let i = 0; i < n / 4; i++) sampled += decide();
const t = process.hrtime.bigint();
for (let i = 0; i < n; i++) sampled += decide();
console.log(JSON.stringify({ ns: Number(process.hrtime.bigint() - t) / n, sampled }));
`;

const LOAD_AT_START = machine().loadAverage;
const samples = { sdk: [], sidetrace: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const which of Object.keys(samples)) {
    const r = spawnSync(NODE, ['-e', CHILD], {
      cwd: REPO_ROOT,
      env: { ...process.env, ROOT: REPO_ROOT, WHICH: which, N: String(DECISIONS) },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${which}: ${r.stderr.slice(0, 500)}`);
    samples[which].push(JSON.parse(r.stdout.trim().split('\n').pop()).ns);
  }
}
const m = machine();
console.log(
  `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim()}; load average at start ${LOAD_AT_START}, at end ${m.loadAverage}; ${DECISIONS} decisions per sample, median of ${ROUNDS}\n`,
);
console.log('| trace-id ratio sampler (inside ParentBased, inside NoiseSampler) | ns per decision, with the trace id | samples |\n| --- | ---: | --- |');
for (const [name, s] of Object.entries(samples)) {
  console.log(
    `| ${name === 'sdk' ? "the SDK's TraceIdRatioBasedSampler" : "sidetrace's TraceIdRatioSampler"} | ${median(s).toFixed(0)} | ${s.map((x) => x.toFixed(0)).join(' ')} |`,
  );
}
console.log(`\nsidetrace / SDK: ${(median(samples.sidetrace) / median(samples.sdk)).toFixed(2)}×`);
