// sidetrace's benchmark suite: what the preload costs a service, next to bare
// node, the stock OpenTelemetry register and the New Relic agent, measured in
// one run, interleaved (A B C D A B C D …), repeated, reported as medians and
// ratios to bare node. Spans go to a local OTLP sink that counts what arrives,
// so the export cost is really paid. Results: stdout (markdown) and JSON.
//
//   npm run build && node bench/run.mjs [options]
//     --only startup,throughput,routes,outage   sub-benches (default: these four)
//     --only ladder        the cost ladder: the hello-world route with sidetrace's layers added one at a time
//     --quick                                   fewer repetitions, shorter loads (a smoke run)
//     --reps N             repetitions of each throughput/routes measurement (default 3; quick 1)
//     --slices N           throughput/routes: every variant's app runs at once, idle but for its turn, and each gets N
//                          slices of --duration seconds, in rotating order (instead of --reps runs one after another)
//     --startup-reps N     repetitions of each startup measurement (default 10; quick 3)
//     --duration S         seconds of measured load per throughput run (default 10; quick 3)
//     --outage-duration S  seconds of load per outage scenario (default 60; quick 15)
//     --connections N      autocannon connections (default 50)
//     --variants a,b       only these variants (bare, sidetrace, sidetrace-upstream-encoder, sidetrace-10, sidetrace-batch, sidetrace-10-batch, sidetrace-0, sidetrace-10-no-db, bare-client, bare-context, bare-context-client, sidetrace-0-client, sidetrace-off, stock, stock-10, newrelic)
//     --node 24|20|PATH    run the bench and the apps on this node (24, 20, 22, 26: the pinned binary from scripts/node-install.sh)
//     --preload PATH       the sidetrace preload to measure (default dist/preload.js)
//     --compare-preload PATH  also measure this sidetrace build (variants "sidetrace-compare", "sidetrace-10-compare"): before/after an optimisation
//     --export-batch N     variants "sidetrace-batch", "sidetrace-10-batch": OTEL_BSP_MAX_EXPORT_BATCH_SIZE=N
//     --json FILE          where to write all samples and medians (default bench/results/latest.json)
//
// See BENCHMARKS.md for what each number means.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { REPO_ROOT, startNode, startSink, memoryOf, cpuMsOf, childPidsRunning } from './lib/procs.mjs';
import { refusedPort } from '../test/helpers/refused-port.mjs';
import { median, fmt, pct, signed, mib, table, machine } from './lib/stats.mjs';
import { makeHelloApp } from './lib/hello-app.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const has = (name) => args.includes(name);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
// --node: re-run this script on the chosen node, so the apps, the demo and the load generator all use it.
const NODE_CHOICE = flag('--node', undefined);
if (NODE_CHOICE) {
  const bin = /^\d+$/.test(NODE_CHOICE)
    ? execFileSync('bash', [path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'scripts', 'node-install.sh'), NODE_CHOICE], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop()
    : path.resolve(NODE_CHOICE);
  const rest = args.filter((a, i) => a !== '--node' && args[i - 1] !== '--node');
  const r = spawnSync(bin, [new URL(import.meta.url).pathname, ...rest], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const QUICK = has('--quick');
const DEFAULT_BENCHES = ['startup', 'throughput', 'routes', 'outage'];
// ladder: where a traced request's cost comes from, one layer at a time (opt-in: --only ladder).
const ALL_BENCHES = [...DEFAULT_BENCHES, 'ladder'];
const only = flag('--only', DEFAULT_BENCHES.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const b of only) if (!ALL_BENCHES.includes(b)) throw new Error(`--only: unknown sub-bench "${b}" (known: ${ALL_BENCHES.join(', ')})`);
const SLICES = flag('--slices', undefined) && Number(flag('--slices'));
if (SLICES !== undefined && !(Number.isInteger(SLICES) && SLICES > 0)) throw new Error(`--slices: expected a positive whole number, got "${flag('--slices')}"`);
const REPS = SLICES || Number(flag('--reps', QUICK ? 1 : 3));
const STARTUP_REPS = Number(flag('--startup-reps', QUICK ? 3 : 10));
const DURATION_S = Number(flag('--duration', QUICK ? 3 : 10));
const WARMUP_S = QUICK ? 1 : 3;
const OUTAGE_S = Number(flag('--outage-duration', QUICK ? 15 : 60));
const OUTAGE_REPS = Number(flag('--outage-reps', QUICK ? 1 : 2));
const CONNECTIONS = Number(flag('--connections', 50));
const PRELOAD = path.resolve(flag('--preload', path.join(REPO_ROOT, 'dist', 'preload.js')));
const COMPARE_PRELOAD = flag('--compare-preload', undefined) && path.resolve(flag('--compare-preload'));
const EXPORT_BATCH = flag('--export-batch', undefined);
const JSON_OUT = path.resolve(flag('--json', path.join(REPO_ROOT, 'bench', 'results', 'latest.json')));
const wantedVariants = flag('--variants', undefined)?.split(',');

const HELLO_APP = makeHelloApp();
const startHello = (nodeArgs, env) => startNode({ script: HELLO_APP.script, cwd: HELLO_APP.dir, nodeArgs, env });
const STOCK_REGISTER = require.resolve('@opentelemetry/auto-instrumentations-node/register');
const NEWRELIC = require.resolve('newrelic');
const DUMMY_LICENSE_KEY = 'bench0000000000000000000000000000000000000'.slice(0, 40);

if (!fs.existsSync(PRELOAD)) {
  console.error(`${path.relative(process.cwd(), PRELOAD)} is missing: run \`npm run build\` first`);
  process.exit(1);
}

const TEN_PERCENT = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' };
/** bench/lib/side-traffic.cjs: the *-client variants' outgoing POSTs. */
const SIDE_TRAFFIC = path.join(REPO_ROOT, 'bench', 'lib', 'side-traffic.cjs');
/** bench/lib/context-floor.cjs: the bare-context variants' per-request AsyncLocalStorage context. */
const CONTEXT_FLOOR = path.join(REPO_ROOT, 'bench', 'lib', 'context-floor.cjs');

/**
 * The contenders. `preload` is the module given to --require (null: none);
 * `endpoint` is where the variant's spans go (the sink, or a dead port).
 */
function variantsFor({ endpoint, deadPort }) {
  const all = {
    bare: { label: 'bare node', preload: null, env: {} },
    sidetrace: { label: 'sidetrace (default, tracing on)', preload: PRELOAD, env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } },
    ...(COMPARE_PRELOAD
      ? {
          'sidetrace-compare': {
            label: `sidetrace (${path.relative(REPO_ROOT, COMPARE_PRELOAD)})`,
            preload: COMPARE_PRELOAD,
            env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint },
          },
          'sidetrace-10-compare': {
            label: `sidetrace, 10% sampled (${path.relative(REPO_ROOT, COMPARE_PRELOAD)})`,
            preload: COMPARE_PRELOAD,
            env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT },
          },
        }
      : {}),
    'sidetrace-upstream-encoder': {
      label: "sidetrace, upstream's OTLP serializer",
      preload: PRELOAD,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, SIDETRACE_OTLP_ENCODER: 'upstream' },
    },
    'sidetrace-10': { label: 'sidetrace, 10% sampled', preload: PRELOAD, env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT } },
    // The same with another export batch size (--export-batch N; opt-in: --variants): how long a span waits in the queue,
    // and how much is serialized in one go.
    ...(EXPORT_BATCH
      ? {
          'sidetrace-batch': {
            label: `sidetrace, export batches of ${EXPORT_BATCH}`,
            preload: PRELOAD,
            env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: EXPORT_BATCH },
          },
          'sidetrace-10-batch': {
            label: `sidetrace, 10% sampled, export batches of ${EXPORT_BATCH}`,
            preload: PRELOAD,
            env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: EXPORT_BATCH },
          },
        }
      : {}),
    // What an unsampled request costs with no sampled request mixed in (opt-in: --variants).
    'sidetrace-0': {
      label: 'sidetrace, nothing sampled',
      preload: PRELOAD,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT, OTEL_TRACES_SAMPLER_ARG: '0' },
    },
    // The same apps with one outgoing POST every 100 ms and no tracing of it: what outgoing HTTP traffic alone costs a
    // process, which the exporter's sends bring to the sampled variants (opt-in: --variants).
    'bare-client': { label: 'bare node + a POST every 100 ms', preload: SIDE_TRAFFIC, env: { SIDE_URL: endpoint } },
    // Each request's listeners in an AsyncLocalStorage context and nothing else: the floor under any tracer (opt-in).
    'bare-context': { label: 'bare node + a context per request', preload: CONTEXT_FLOOR, env: {} },
    'bare-context-client': { label: 'bare node + a context per request + a POST every 100 ms', preload: CONTEXT_FLOOR, env: { SIDE_URL: endpoint } },
    'sidetrace-0-client': {
      label: 'sidetrace, nothing sampled + a POST every 100 ms',
      preload: SIDE_TRAFFIC,
      env: { SIDE_URL: endpoint, SIDE_INNER: PRELOAD, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT, OTEL_TRACES_SAMPLER_ARG: '0' },
    },
    // The most that skipping the database and cache instrumentations in unsampled requests could save (opt-in: --variants).
    'sidetrace-10-no-db': {
      label: 'sidetrace, 10% sampled, no pg/ioredis/redis instrumentation',
      preload: PRELOAD,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT, OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg,ioredis,redis' },
    },
    'sidetrace-off': { label: 'sidetrace (off: no exporter configured)', preload: PRELOAD, env: {} },
    stock: {
      label: 'stock auto-instrumentations-node/register',
      preload: STOCK_REGISTER,
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint },
    },
    'stock-10': {
      label: 'stock register, 10% sampled',
      preload: STOCK_REGISTER,
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...TEN_PERCENT },
    },
    newrelic: {
      label: 'newrelic agent 13 (cannot send)',
      preload: NEWRELIC,
      env: {
        NEW_RELIC_NO_CONFIG_FILE: 'true',
        NEW_RELIC_LICENSE_KEY: DUMMY_LICENSE_KEY,
        NEW_RELIC_APP_NAME: 'sidetrace-bench',
        NEW_RELIC_HOST: '127.0.0.1',
        NEW_RELIC_PORT: String(deadPort),
        NEW_RELIC_LOG_ENABLED: 'false',
      },
    },
  };
  for (const v of Object.values(all)) v.env = { OTEL_SERVICE_NAME: 'sidetrace-bench', ...v.env };
  return all;
}

const pick = (names) =>
  names
    .flatMap((n) =>
      COMPARE_PRELOAD && n === 'sidetrace' ? [n, 'sidetrace-compare'] : COMPARE_PRELOAD && n === 'sidetrace-10' ? [n, 'sidetrace-10-compare'] : [n],
    )
    // A compare variant goes with its base variant, named in --variants or not.
    .filter((n) => !wantedVariants || wantedVariants.includes(n) || wantedVariants.includes(n.replace(/-compare$/, '')));
/** Variants measured only when --variants names them. */
const optIn = (names) => names.filter((n) => wantedVariants?.includes(n));
const nodeArgs = (v) => (v.preload ? ['--require', v.preload] : []);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => process.stderr.write(`${line}\n`);

function load(url, seconds, extra = {}) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: seconds, ...extra }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function loadResult(res) {
  return {
    requests: res.requests.total,
    reqPerSec: res.requests.total / res.duration,
    p50: res.latency.p50,
    p99: res.latency.p99,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
  };
}

// ---------------------------------------------------------------- startup

async function benchStartup(ctx) {
  const names = pick(['bare', 'sidetrace', 'sidetrace-off', 'stock', 'newrelic']);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  // One unrecorded round first: it warms the page cache for every variant's modules.
  for (let rep = -1; rep < STARTUP_REPS; rep++) {
    for (const name of names) {
      const v = ctx.variants[name];
      const app = await startHello(nodeArgs(v), v.env);
      const { hwmKiB } = memoryOf(app.pid);
      await app.stop(0);
      if (rep >= 0) samples[name].push({ startupMs: app.startupMs, maxRssKiB: app.maxRssKiB, hwmKiB });
    }
    if (rep >= 0) log(`startup: round ${rep + 1}/${STARTUP_REPS} done`);
  }
  const bare = samples.bare ? median(samples.bare.map((s) => s.startupMs)) : NaN;
  const bareRss = samples.bare ? median(samples.bare.map((s) => s.maxRssKiB)) : NaN;
  const summary = {};
  for (const name of names) {
    const ms = median(samples[name].map((s) => s.startupMs));
    const rss = median(samples[name].map((s) => s.maxRssKiB));
    summary[name] = { startupMs: ms, deltaMs: ms - bare, ratio: ms / bare, maxRssMiB: mib(rss), deltaMiB: mib(rss - bareRss) };
  }
  const text = table(
    ['variant', 'spawn → listening (ms)', 'Δ vs bare (ms)', 'peak RSS at listening (MiB)', 'Δ vs bare (MiB)'],
    names.map((n) => [
      ctx.variants[n].label,
      fmt(summary[n].startupMs),
      signed(summary[n].deltaMs),
      fmt(summary[n].maxRssMiB, 1),
      signed(summary[n].deltaMiB, 1),
    ]),
  );
  return { reps: STARTUP_REPS, samples, summary, text };
}

// ---------------------------------------------------------------- throughput

/** Runs every variant REPS times, interleaved; `run(variant)` returns one sample. */
async function interleaved(title, names, run) {
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const name of names) {
      const s = await run(name);
      samples[name].push(s);
      log(
        `${title}: rep ${rep + 1}/${REPS} ${name}: ${fmt(s.reqPerSec)} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, ${fmt(s.cpuUsPerRequest)} CPU µs/req, spans/req ${fmt(s.spansPerRequest, 2)}`,
      );
    }
  }
  return samples;
}

/**
 * --slices N: every variant's app is started at once, each exporting to a sink of its own, and they take turns:
 * N rounds, each giving every variant one slice of DURATION_S seconds of load, the order rotating by one each
 * round. This VM's speed drifts (bare node's user CPU per request moved 180 → 360 µs within ten minutes, with nothing
 * else running, and by tens of percent within seconds: BENCHMARKS.md); runs one after another can land on different
 * sides of a drift, slices spread every variant over the same minutes, and a ratio read within one round compares
 * variants measured seconds apart.
 * A slice's CPU includes the export of its last spans (its sink is drained before the next slice starts).
 * `start(name, endpoint)` returns { url, pid, requests?, stop }.
 */
async function sliced(title, names, start) {
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const running = {};
  try {
    for (const name of names) {
      const sink = await startSink();
      running[name] = { sink };
      Object.assign(running[name], await start(name, sink.url));
    }
    for (const name of names) await load(running[name].url, WARMUP_S, { requests: running[name].requests });
    for (let round = 0; round < SLICES; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const r = running[name];
        await drained(r.sink);
        await r.sink.reset();
        const cpu0 = cpuMsOf(r.pid);
        const res = loadResult(await load(r.url, DURATION_S, { requests: r.requests }));
        await drained(r.sink);
        const cpuMs = cpuMsOf(r.pid) - cpu0;
        const received = await r.sink.stats();
        const s = {
          ...res,
          round,
          seconds: DURATION_S,
          hwmKiB: memoryOf(r.pid).hwmKiB,
          cpuUsPerRequest: (cpuMs * 1000) / res.requests,
          spans: received.spans,
          exportBytes: received.bytes,
          exportRequests: received.requests,
          spansPerRequest: received.spans / res.requests,
        };
        samples[name].push(s);
        log(
          `${title}: round ${round + 1}/${SLICES} ${name}: ${fmt(s.reqPerSec)} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, ${fmt(s.cpuUsPerRequest)} CPU µs/req, spans/req ${fmt(s.spansPerRequest, 2)}`,
        );
      }
    }
  } finally {
    for (const r of Object.values(running)) {
      await r.stop?.();
      await r.sink.stop();
    }
  }
  return samples;
}

/** Waits until a sink has received nothing new for 400 ms (at most 3 s): the exports of a finished slice. */
async function drained(sink) {
  let last = -1;
  let quiet = 0;
  for (let waited = 0; waited < 3000 && quiet < 2; waited += 200) {
    const { bytes } = await sink.stats();
    quiet = bytes === last ? quiet + 1 : 0;
    last = bytes;
    await sleep(200);
  }
}

/** A variant's environment with its spans sent to `endpoint` instead of the shared sink. */
function ownSink(ctx, env, endpoint) {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === ctx.sink.url ? endpoint : v]));
}

/**
 * a ÷ b by throughput, rep by rep (or round by round), and the median of those: each rep's two runs are close in
 * time, so this cancels the machine's drift better than the ratio of the two medians.
 */
function pairedRatio(samples, a, b) {
  const each = samples[a].map((s, i) => s.reqPerSec / samples[b][i].reqPerSec);
  return { median: median(each), each };
}

function summarise(ctx, names, samples) {
  const summary = {};
  for (const name of names) {
    const ss = samples[name];
    summary[name] = {
      reqPerSec: median(ss.map((s) => s.reqPerSec)),
      p50: median(ss.map((s) => s.p50)),
      p99: median(ss.map((s) => s.p99)),
      cpuUsPerRequest: median(ss.map((s) => s.cpuUsPerRequest)),
      spansPerRequest: median(ss.map((s) => s.spansPerRequest)),
      exportKiBPerSec: median(ss.map((s) => s.exportBytes / 1024 / s.seconds)),
      rssUnderLoadMiB: median(ss.map((s) => mib(s.hwmKiB ?? NaN))),
      failed: ss.reduce((n, s) => n + s.non2xx + s.errors + s.timeouts, 0),
    };
  }
  const bare = summary.bare;
  for (const name of names) {
    const s = summary[name];
    s.ratioToBare = bare ? s.reqPerSec / bare.reqPerSec : NaN;
    s.p99RatioToBare = bare ? s.p99 / bare.p99 : NaN;
    s.cpuRatioToBare = bare ? s.cpuUsPerRequest / bare.cpuUsPerRequest : NaN;
  }
  const text = table(
    [
      'variant',
      'req/s',
      'vs bare',
      'p50 (ms)',
      'p99 (ms)',
      'p99 vs bare',
      'app CPU µs/req',
      'CPU vs bare',
      'spans/req',
      'export KiB/s',
      'peak RSS (MiB)',
      'failed req',
    ],
    names.map((n) => {
      const s = summary[n];
      return [
        ctx.variants[n].label,
        fmt(s.reqPerSec),
        pct(s.ratioToBare),
        fmt(s.p50),
        fmt(s.p99),
        `${fmt(s.p99RatioToBare, 2)}×`,
        fmt(s.cpuUsPerRequest),
        `${fmt(s.cpuRatioToBare, 2)}×`,
        fmt(s.spansPerRequest, 2),
        fmt(s.exportKiBPerSec),
        fmt(s.rssUnderLoadMiB, 0),
        String(s.failed),
      ];
    }),
  );
  return { summary, text };
}

/** One measurement: warm up, zero the sink, measure, let the last batch arrive, count. */
async function measure(ctx, url, pid, requests) {
  await load(url, WARMUP_S, { requests });
  await sleep(300);
  await ctx.sink.reset();
  const cpu0 = cpuMsOf(pid);
  const res = loadResult(await load(url, DURATION_S, { requests }));
  const cpuMs = cpuMsOf(pid) - cpu0;
  const { hwmKiB } = memoryOf(pid);
  await sleep(1500); // the batch processors' last full batches
  const received = await ctx.sink.stats();
  return {
    ...res,
    seconds: DURATION_S,
    hwmKiB,
    cpuUsPerRequest: (cpuMs * 1000) / res.requests,
    spans: received.spans,
    exportBytes: received.bytes,
    exportRequests: received.requests,
    spansPerRequest: received.spans / res.requests,
  };
}

async function benchThroughput(ctx) {
  // The encoder comparison runs only when named (--variants …,sidetrace-upstream-encoder).
  const encoder = wantedVariants?.includes('sidetrace-upstream-encoder') ? ['sidetrace-upstream-encoder'] : [];
  const names = pick([
    'bare',
    'sidetrace',
    ...encoder,
    'sidetrace-10',
    ...optIn(['sidetrace-batch', 'sidetrace-10-batch', 'bare-client', 'bare-context', 'bare-context-client', 'sidetrace-0', 'sidetrace-0-client']),
    'stock',
    'stock-10',
    'newrelic',
  ]);
  const samples = SLICES
    ? await sliced('throughput', names, async (name, endpoint) => {
        const v = ctx.variants[name];
        const app = await startHello(nodeArgs(v), ownSink(ctx, v.env, endpoint));
        return { url: `${app.url}/hello`, pid: app.pid, stop: () => app.stop(2000) };
      })
    : await interleaved('throughput', names, async (name) => {
        const v = ctx.variants[name];
        const app = await startHello(nodeArgs(v), v.env);
        try {
          return await measure(ctx, `${app.url}/hello`, app.pid);
        } finally {
          await app.stop(2000);
        }
      });
  return { reps: REPS, sliced: Boolean(SLICES), durationS: DURATION_S, connections: CONNECTIONS, samples, ...summarise(ctx, names, samples) };
}

// ---------------------------------------------------------------- cost ladder

/** The hello-world route with sidetrace's layers added one at a time. */
function ladderVariants(endpoint) {
  const traced = { OTEL_SERVICE_NAME: 'sidetrace-bench', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint };
  return {
    bare: { label: 'bare node', preload: null, env: {} },
    als: { label: '+ AsyncLocalStorage.run per request, nothing else', preload: path.join(REPO_ROOT, 'bench', 'lib', 'als-only.cjs'), env: {} },
    'http-unsampled': {
      label: "+ SDK and sidetrace's server instrumentation, nothing sampled",
      preload: PRELOAD,
      env: { ...traced, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http', OTEL_TRACES_SAMPLER: 'always_off' },
    },
    'http-10': {
      label: '… 10% sampled (parentbased_traceidratio 0.1), exported',
      preload: PRELOAD,
      env: { ...traced, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http', ...TEN_PERCENT },
    },
    'http-unexported': {
      label: '+ every server span recorded, not exported',
      preload: PRELOAD,
      env: { ...traced, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http', OTEL_TRACES_EXPORTER: 'none', SIDETRACE_ENABLED: 'true' },
    },
    http: { label: '+ exported over OTLP (http only)', preload: PRELOAD, env: { ...traced, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http' } },
    sidetrace: { label: '+ express route hook and undici = sidetrace default', preload: PRELOAD, env: traced },
    'upstream-http': {
      label: "for comparison: upstream's http + express + undici (SIDETRACE_NOISE=off)",
      preload: PRELOAD,
      env: { ...traced, SIDETRACE_NOISE: 'off', OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express,undici' },
    },
  };
}

async function benchLadder(ctx) {
  const variants = ladderVariants(ctx.sink.url);
  const names = Object.keys(variants);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const name of names) {
      const v = variants[name];
      const app = await startHello(nodeArgs(v), v.env);
      try {
        const s = await measure(ctx, `${app.url}/hello`, app.pid);
        samples[name].push(s);
        log(`ladder: rep ${rep + 1}/${REPS} ${name}: ${fmt(s.reqPerSec)} req/s, ${fmt(s.cpuUsPerRequest)} CPU µs/req`);
      } finally {
        await app.stop(2000);
      }
    }
  }
  const { summary } = summarise({ variants }, names, samples);
  let previous;
  const text = table(
    ['layer', 'req/s', 'vs bare', 'p99 (ms)', 'app CPU µs/req', 'added by this layer (µs/req)'],
    names.map((n) => {
      const s = summary[n];
      const added = previous === undefined ? '–' : signed(s.cpuUsPerRequest - previous);
      previous = s.cpuUsPerRequest;
      return [variants[n].label, fmt(s.reqPerSec), pct(s.ratioToBare), fmt(s.p99), fmt(s.cpuUsPerRequest), added];
    }),
  );
  return { reps: REPS, durationS: DURATION_S, samples, summary, text };
}

// ---------------------------------------------------------------- realistic routes (the demo app)

/** The demo app's mix: database queries, a Redis cache, and an outgoing call to the preview service. */
const ROUTES = [
  { method: 'GET', path: '/' }, //                      PostgreSQL join
  { method: 'GET', path: '/users' }, //                 PostgreSQL
  { method: 'GET', path: '/users/3' }, //               Redis (cached user)
  { method: 'GET', path: '/projects/2' }, //            Redis + outgoing HTTP call to the preview service
  { method: 'GET', path: '/projects/1/previews' }, //   PostgreSQL join
];

async function benchRoutes(ctx) {
  const { startServices } = await import('../scripts/services-lib.mjs');
  const { startDemoApp } = await import('../scripts/demo-lib.mjs');
  let services;
  try {
    services = await startServices({ postgres: true, redis: true });
  } catch (err) {
    return { skipped: `PostgreSQL/Redis unavailable: ${err.message}`, text: `skipped: ${err.message}` };
  }
  try {
    const names = pick([
      'bare',
      'sidetrace',
      'sidetrace-10',
      ...optIn(['bare-context', 'bare-context-client', 'sidetrace-0', 'sidetrace-10-no-db']),
      'stock',
      'stock-10',
      'newrelic',
    ]);
    const demoApp = path.join('examples', 'demo', 'app.js');
    const samples = SLICES
      ? await sliced('routes', names, async (name, endpoint) => {
          const v = ctx.variants[name];
          const before = new Set(childPidsRunning(demoApp));
          const demo = await startDemoApp({
            databaseUrl: services.databaseUrl,
            redisUrl: services.redisUrl,
            preload: v.preload,
            env: ownSink(ctx, v.env, endpoint),
          });
          const pid = childPidsRunning(demoApp).find((p) => !before.has(p));
          return { url: demo.appUrl, pid, requests: ROUTES, stop: () => demo.stop() };
        })
      : await interleaved('routes', names, async (name) => {
          const v = ctx.variants[name];
          const demo = await startDemoApp({ databaseUrl: services.databaseUrl, redisUrl: services.redisUrl, preload: v.preload, env: v.env });
          try {
            const [pid] = childPidsRunning(demoApp);
            return await measure(ctx, demo.appUrl, pid, ROUTES);
          } finally {
            await demo.stop();
          }
        });
    return {
      reps: REPS,
      sliced: Boolean(SLICES),
      durationS: DURATION_S,
      connections: CONNECTIONS,
      routes: ROUTES.map((r) => `${r.method} ${r.path}`),
      samples,
      ...summarise(ctx, names, samples),
    };
  } finally {
    await services.stop();
  }
}

// ---------------------------------------------------------------- collector outage

async function benchOutage(ctx) {
  const hanging = await startSink({ hang: true });
  const scenarios = {
    healthy: { label: 'collector healthy', endpoint: ctx.sink.url },
    down: { label: 'collector down (nothing listening)', endpoint: `http://127.0.0.1:${ctx.deadPort}` },
    hang: { label: 'collector hangs (accepts, never answers)', endpoint: hanging.url },
  };
  const samples = Object.fromEntries(Object.keys(scenarios).map((n) => [n, []]));
  try {
    for (let rep = 0; rep < OUTAGE_REPS; rep++) {
      for (const [name, sc] of Object.entries(scenarios)) {
        const app = await startHello(['--require', PRELOAD], { OTEL_SERVICE_NAME: 'sidetrace-bench', OTEL_EXPORTER_OTLP_ENDPOINT: sc.endpoint });
        const rss = [{ t: 0, rssMiB: mib(memoryOf(app.pid).rssKiB) }];
        const t0 = Date.now();
        const sampler = setInterval(() => rss.push({ t: Math.round((Date.now() - t0) / 1000), rssMiB: mib(memoryOf(app.pid).rssKiB) }), 5000);
        let res;
        try {
          res = loadResult(await load(`${app.url}/hello`, OUTAGE_S));
        } finally {
          clearInterval(sampler);
        }
        const warnings = app.output.filter((l) => /export to .* (is failing|recovered)|queue is full/.test(l));
        await app.stop(3000);
        // Flat = no growth once warm: the heap, the JIT and the export queue fill up in the first
        // quarter; after that, the last three samples against the first three (medians, so one
        // GC's timing does not decide).
        const settled = rss.filter((r) => r.t >= OUTAGE_S / 4).map((r) => r.rssMiB);
        const k = Math.min(3, settled.length >> 1);
        const growthMiB = k ? median(settled.slice(-k)) - median(settled.slice(0, k)) : NaN;
        const sample = { ...res, rss, growthMiB, maxRssMiB: Math.max(...rss.map((r) => r.rssMiB)), warnings };
        samples[name].push(sample);
        log(
          `outage: rep ${rep + 1}/${OUTAGE_REPS} ${name}: ${fmt(res.reqPerSec)} req/s, RSS ${rss.map((r) => fmt(r.rssMiB)).join(' ')} MiB, ${warnings.length} warning line(s)`,
        );
      }
    }
  } finally {
    await hanging.stop();
  }
  const summary = {};
  const healthy = median(samples.healthy.map((s) => s.reqPerSec));
  for (const name of Object.keys(scenarios)) {
    const ss = samples[name];
    summary[name] = {
      reqPerSec: median(ss.map((s) => s.reqPerSec)),
      ratioToHealthy: median(ss.map((s) => s.reqPerSec)) / healthy,
      p99: median(ss.map((s) => s.p99)),
      growthMiB: median(ss.map((s) => s.growthMiB)),
      maxRssMiB: median(ss.map((s) => s.maxRssMiB)),
      rssSamplesMiB: ss[ss.length - 1].rss.map((r) => Math.round(r.rssMiB)),
      warningLines: ss[ss.length - 1].warnings.length,
    };
  }
  const text = table(
    ['scenario', 'req/s', 'vs healthy', 'p99 (ms)', 'RSS every 5 s (MiB, last run)', 'RSS growth once warm (MiB)', 'export warning lines'],
    Object.keys(scenarios).map((n) => {
      const s = summary[n];
      return [
        scenarios[n].label,
        fmt(s.reqPerSec),
        pct(s.ratioToHealthy),
        fmt(s.p99),
        s.rssSamplesMiB.join(' '),
        signed(s.growthMiB, 1),
        String(s.warningLines),
      ];
    }),
  );
  return { reps: OUTAGE_REPS, durationS: OUTAGE_S, samples, summary, text };
}

// ---------------------------------------------------------------- goals

function goals(results) {
  const out = [];
  const goal = (name, ok, detail) => out.push({ name, met: ok, detail });
  // Ratios are judged rep by rep (pairedRatio): the median of the per-rep ratios, each rep's shown.
  const paired = (bench, a, b, what) => {
    const p = pairedRatio(bench.samples, a, b);
    const medians = bench.summary[a].reqPerSec / bench.summary[b].reqPerSec;
    const shown = what === '%' ? pct : (x) => `${fmt(x, 2)}×`;
    return { ratio: p.median, detail: `${shown(p.median)} (per rep ${p.each.map(shown).join(', ')}; ratio of medians ${shown(medians)})` };
  };
  const tb = results.throughput;
  const t = tb?.summary;
  if (t?.sidetrace && t.bare) {
    const ofBare = paired(tb, 'sidetrace', 'bare', '%');
    goal('hello-world at 100% sampling ≥ 55% of bare', ofBare.ratio >= 0.55, `${ofBare.detail} of bare`);
    if (t.stock) {
      const ofStock = paired(tb, 'sidetrace', 'stock');
      goal('hello-world at 100% sampling ≥ 2× the stock register', ofStock.ratio >= 2, `${ofStock.detail} the stock register`);
    }
  }
  if (t?.['sidetrace-10'] && t.bare) {
    const ten = t['sidetrace-10'];
    const ofBare = paired(tb, 'sidetrace-10', 'bare', '%');
    goal('hello-world at 10% sampling ≥ 85% of bare', ofBare.ratio >= 0.85, `${ofBare.detail} of bare`);
    goal('hello-world at 10% sampling: p99 ≤ 1.3× bare', ten.p99RatioToBare <= 1.3, `${fmt(ten.p99RatioToBare, 2)}× bare (${ten.p99} vs ${t.bare.p99} ms)`);
  }
  const rb = results.routes;
  const r = rb?.summary;
  if (r?.sidetrace && r.stock) {
    const p = paired(rb, 'sidetrace', 'stock');
    goal('demo routes ≥ 1.5× the stock register (100% sampling)', p.ratio >= 1.5, p.detail);
  }
  if (r?.['sidetrace-10'] && r['stock-10']) {
    const p = paired(rb, 'sidetrace-10', 'stock-10');
    goal('demo routes ≥ 1.5× the stock register (10% sampling)', p.ratio >= 1.5, p.detail);
  }
  const s = results.startup?.summary;
  if (s?.sidetrace && s.bare) {
    goal('startup ≤ +60 ms over bare', s.sidetrace.deltaMs <= 60, `${signed(s.sidetrace.deltaMs)} ms`);
    goal('peak RSS ≤ +15 MiB over bare', s.sidetrace.deltaMiB <= 15, `${signed(s.sidetrace.deltaMiB, 1)} MiB`);
  }
  const o = results.outage?.summary;
  if (o) {
    for (const sc of ['down', 'hang']) {
      goal(`outage (${sc}): throughput within 10% of healthy`, o[sc].ratioToHealthy >= 0.9, `${pct(o[sc].ratioToHealthy)} of healthy`);
      goal(`outage (${sc}): RSS flat (≤ 5 MiB growth once warm)`, o[sc].growthMiB <= 5, `${signed(o[sc].growthMiB, 1)} MiB`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main() {
  const m = machine();
  log(`sidetrace bench: ${only.join(', ')}${QUICK ? ' (quick)' : ''}`);
  const header = `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; load average at start ${m.loadAverage}; ${m.date}`;
  log(header);
  const sink = await startSink();
  const deadPort = await refusedPort();
  const ctx = { sink, deadPort, variants: variantsFor({ endpoint: sink.url, deadPort }) };
  const results = { machine: m, quick: QUICK, preload: path.relative(REPO_ROOT, PRELOAD) };
  try {
    if (only.includes('startup')) results.startup = await benchStartup(ctx);
    if (only.includes('throughput')) results.throughput = await benchThroughput(ctx);
    if (only.includes('routes')) results.routes = await benchRoutes(ctx);
    if (only.includes('outage')) results.outage = await benchOutage(ctx);
    if (only.includes('ladder')) results.ladder = await benchLadder(ctx);
  } finally {
    await sink.stop();
  }
  results.machine.loadAverageAtEnd = machine().loadAverage;
  results.goals = goals(results);

  const sections = [header];
  if (results.startup) sections.push(`## Startup (express hello-world, median of ${STARTUP_REPS})\n\n${results.startup.text}`);
  if (results.throughput)
    sections.push(
      `## Throughput, hello-world route (autocannon ${CONNECTIONS} connections, ${DURATION_S} s, ${SLICES ? `${SLICES} slices each, all variants running` : `median of ${REPS}`})\n\n${results.throughput.text}`,
    );
  if (results.routes)
    sections.push(
      `## Throughput, demo app routes (PostgreSQL, Redis, outgoing HTTP; ${CONNECTIONS} connections, ${DURATION_S} s, ${SLICES ? `${SLICES} slices each, all variants running` : `median of ${REPS}`})\n\n${results.routes.text}`,
    );
  if (results.outage) sections.push(`## Collector outage (sidetrace, hello-world, ${OUTAGE_S} s of load, median of ${OUTAGE_REPS})\n\n${results.outage.text}`);
  if (results.ladder)
    sections.push(`## Cost ladder, hello-world route (${CONNECTIONS} connections, ${DURATION_S} s, median of ${REPS})\n\n${results.ladder.text}`);
  if (results.goals.length)
    sections.push(
      `## Goals\n\n${table(
        ['goal', 'result', 'measured'],
        results.goals.map((g) => [g.name, g.met ? 'met' : 'NOT met', g.detail]),
      )}`,
    );
  console.log(sections.join('\n\n'));

  fs.mkdirSync(path.dirname(JSON_OUT), { recursive: true });
  for (const r of [results.startup, results.throughput, results.routes, results.outage, results.ladder]) if (r) delete r.text;
  fs.writeFileSync(JSON_OUT, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), JSON_OUT)}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err.stack ?? err);
    process.exit(1);
  },
);
