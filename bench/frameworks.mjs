// What tracing a request costs in fastify, hapi, restify and NestJS: bare
// node against sidetrace (its server span and route hooks, 100% and 10%
// sampled), sidetrace with SIDETRACE_NOISE=off and the framework's upstream
// instrumentation named (the same SDK pipeline with upstream's server and
// framework instrumentations) and the stock register. Interleaved
// (A B C D E A B C D E …), medians of the repetitions, ratios to bare node.
// Spans go to the local OTLP sink, so the export cost is paid.
//
//   npm run build && node bench/frameworks.mjs [--frameworks fastify,hapi] [--reps N] [--duration S] [--connections N] [--json FILE]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { REPO_ROOT, startNode, startSink, cpuMsOf } from './lib/procs.mjs';
import { median, fmt, pct, table, machine } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const REPS = Number(flag('--reps', 3));
const DURATION_S = Number(flag('--duration', 8));
const WARMUP_S = 2;
const CONNECTIONS = Number(flag('--connections', 50));
const JSON_OUT = path.resolve(flag('--json', path.join(REPO_ROOT, 'bench', 'results', 'frameworks.json')));
const PRELOAD = path.join(REPO_ROOT, 'dist', 'preload.js');
const STOCK_REGISTER = require.resolve('@opentelemetry/auto-instrumentations-node/register');

/** Each framework: the packages its app needs, and upstream's instrumentation names for SIDETRACE_NOISE=off. */
const FRAMEWORKS = {
  fastify: { packages: ['fastify'], upstream: 'http,fastify' },
  hapi: { packages: ['@hapi/hapi'], upstream: 'http,hapi' },
  restify: { packages: ['restify'], upstream: 'http,restify' },
  'nest-express': {
    packages: ['@nestjs/core', '@nestjs/common', '@nestjs/platform-express', 'reflect-metadata', 'rxjs'],
    upstream: 'http,express,nestjs-core',
  },
  'nest-fastify': {
    packages: ['@nestjs/core', '@nestjs/common', '@nestjs/platform-fastify', 'reflect-metadata', 'rxjs'],
    upstream: 'http,fastify,nestjs-core',
  },
};
const chosen = flag('--frameworks', Object.keys(FRAMEWORKS).join(',')).split(',');
for (const f of chosen) if (!FRAMEWORKS[f]) throw new Error(`--frameworks: unknown "${f}" (known: ${Object.keys(FRAMEWORKS).join(', ')})`);

/**
 * The app as its own project: a temporary directory whose node_modules holds
 * only the framework (links into the repository's), so sidetrace finds what
 * a real app of that framework has installed, not every framework of this repository.
 */
function makeApp(framework) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sidetrace-bench-${framework}-`));
  fs.copyFileSync(path.join(REPO_ROOT, 'bench', 'apps', 'framework-hello.js'), path.join(dir, 'app.js'));
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: `hello-${framework}`, version: '1.0.0', private: true }, null, 2)}\n`);
  for (const pkg of FRAMEWORKS[framework].packages) {
    const link = path.join(dir, 'node_modules', pkg);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', pkg), link, 'dir');
  }
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, script: path.join(dir, 'app.js') };
}

function variants(framework, endpoint) {
  // A short export delay (every traced variant alike) lets a run's last spans arrive before they are counted.
  const common = { OTEL_SERVICE_NAME: 'sidetrace-bench', BENCH_FRAMEWORK: framework, OTEL_BSP_SCHEDULE_DELAY: '300' };
  return {
    bare: { preload: null, env: common },
    sidetrace: { preload: PRELOAD, env: { ...common, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } },
    'sidetrace-10': {
      preload: PRELOAD,
      env: { ...common, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
    },
    upstream: {
      preload: PRELOAD,
      env: { ...common, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, SIDETRACE_NOISE: 'off', OTEL_NODE_ENABLED_INSTRUMENTATIONS: FRAMEWORKS[framework].upstream },
    },
    stock: { preload: STOCK_REGISTER, env: { ...common, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = (url, seconds) =>
  new Promise((resolve, reject) => autocannon({ url, connections: CONNECTIONS, duration: seconds }, (err, res) => (err ? reject(err) : resolve(res))));

/** Waits until the warm-up's spans have all arrived (the count holds still), so none is counted as the measured run's. */
async function settled(sink) {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 60 && still < 4; i++) {
    await sleep(250);
    const { spans } = await sink.stats();
    still = spans === last ? still + 1 : 0;
    last = spans;
  }
}

async function measure(app, variant, sink) {
  const proc = await startNode({ script: app.script, cwd: app.dir, nodeArgs: variant.preload ? ['--require', variant.preload] : [], env: variant.env });
  try {
    const url = `${proc.url}/users/42`;
    await load(url, WARMUP_S);
    await settled(sink);
    await sink.reset();
    const cpu0 = cpuMsOf(proc.pid);
    const res = await load(url, DURATION_S);
    const cpuMs = cpuMsOf(proc.pid) - cpu0;
    await settled(sink); // the batch processor's last batches
    const received = await sink.stats();
    if (res.non2xx || res.errors) throw new Error(`${res.non2xx} non-2xx answers and ${res.errors} errors`);
    return {
      reqPerSec: res.requests.total / res.duration,
      cpuUsPerRequest: (cpuMs * 1000) / res.requests.total,
      p99: res.latency.p99,
      spansPerRequest: received.spans / res.requests.total,
    };
  } finally {
    await proc.stop();
  }
}

const sink = await startSink();
const results = {};
try {
  for (const framework of chosen) {
    const app = makeApp(framework);
    const vs = variants(framework, sink.url);
    const samples = Object.fromEntries(Object.keys(vs).map((v) => [v, []]));
    for (let rep = 0; rep < REPS; rep++) {
      for (const [name, variant] of Object.entries(vs)) {
        process.stderr.write(`${framework} ${name} ${rep + 1}/${REPS}\n`);
        samples[name].push(await measure(app, variant, sink));
      }
    }
    results[framework] = Object.fromEntries(
      Object.entries(samples).map(([name, xs]) => [name, Object.fromEntries(Object.keys(xs[0]).map((k) => [k, median(xs.map((x) => x[k]))]))]),
    );
  }
} finally {
  await sink.stop();
}

const m = machine();
const rows = [];
for (const [framework, r] of Object.entries(results)) {
  for (const [name, x] of Object.entries(r)) {
    rows.push([framework, name, fmt(x.reqPerSec), pct(x.reqPerSec / r.bare.reqPerSec), fmt(x.cpuUsPerRequest), fmt(x.p99), fmt(x.spansPerRequest, 2)]);
  }
}
console.log(
  `${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.loadAverage}, ${m.date}; ${REPS} interleaved repetitions of ${DURATION_S} s, ${CONNECTIONS} connections, medians\n`,
);
console.log(table(['framework', 'variant', 'req/s', 'of bare', 'CPU µs/req', 'p99 ms', 'spans/req'], rows));
for (const [framework, r] of Object.entries(results)) {
  console.log(
    `\n${framework}: sidetrace ${(r.sidetrace.reqPerSec / r.upstream.reqPerSec).toFixed(2)}× upstream's instrumentations, ${(r.sidetrace.reqPerSec / r.stock.reqPerSec).toFixed(2)}× the stock register`,
  );
}
fs.mkdirSync(path.dirname(JSON_OUT), { recursive: true });
fs.writeFileSync(JSON_OUT, `${JSON.stringify({ machine: m, reps: REPS, durationS: DURATION_S, connections: CONNECTIONS, results }, null, 2)}\n`);
