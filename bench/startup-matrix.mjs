// Start-up across Node versions: the express hello-world under bare node,
// sidetrace (tracing on, and off), and the stock OpenTelemetry register, on
// each pinned Node (scripts/node-install.sh), interleaved (every variant on
// every Node in turn, round after round), median of N. With --esm, also a
// 500-module ES module app under `--import`: start-up and first request.
//
//   npm run build && node bench/startup-matrix.mjs [--nodes 20,22,24] [--reps 10] [--esm] [--json FILE]
//     [--compare-preload PATH]   another sidetrace build next to this one (e.g. dist/lib/preload.js, unbundled)
//     [--preload PATH]           this build's preload, when not dist/preload.js (e.g. a copy, to compare copy against copy)
//     [--compare-register PATH]  the same for the ESM app (another build's register.mjs)
//     [--compare-env K=V,...]    environment for the compared build (e.g. SIDETRACE_COMPILE_CACHE=off: this build without its caches)
//     [--variants bare,on,compare,off,stock]  which variants of the hello-world to run (default all)
//
// Reported per variant: spawn → listening (wall, ms), CPU time used by then (ms;
// the steadier figure on a shared machine), and peak RSS at listening (MiB).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { REPO_ROOT, cleanEnv, startSink } from './lib/procs.mjs';
import { makeHelloApp } from './lib/hello-app.mjs';
import { makeEsmApp } from './lib/esm-app.mjs';
import { fmt, machine, median, signed, table } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const NODES = flag('--nodes', '20,22,24').split(',');
const REPS = Number(flag('--reps', 10));
const ESM = args.includes('--esm');
const JSON_OUT = flag('--json', path.join(REPO_ROOT, 'bench', 'results', 'startup-matrix.json'));
const PRELOAD = path.resolve(flag('--preload', path.join(REPO_ROOT, 'dist', 'preload.js')));
const REGISTER = path.join(REPO_ROOT, 'dist', 'register.mjs');
const COMPARE = flag('--compare-preload', undefined);
const COMPARE_REGISTER = flag('--compare-register', undefined);
const COMPARE_ENV = Object.fromEntries(
  (flag('--compare-env', '') || '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const ONLY = flag('--variants', undefined)?.split(',');
const STOCK = path.join(REPO_ROOT, 'node_modules', '@opentelemetry', 'auto-instrumentations-node', 'build', 'src', 'register.js');

const nodeBin = Object.fromEntries(
  NODES.map((major) => [
    major,
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'node-install.sh'), major], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop(),
  ]),
);
const nodeVersion = Object.fromEntries(NODES.map((m) => [m, execFileSync(nodeBin[m], ['--version'], { encoding: 'utf8' }).trim()]));

const sink = await startSink();
const on = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url };
const VARIANTS = {
  bare: { label: 'bare node', nodeArgs: [], env: {} },
  on: { label: 'sidetrace (tracing on)', nodeArgs: ['--require', PRELOAD], env: on },
  ...(COMPARE
    ? {
        compare: {
          label: `sidetrace (${path.relative(REPO_ROOT, COMPARE)}${
            Object.keys(COMPARE_ENV).length
              ? ` ${Object.entries(COMPARE_ENV)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')}`
              : ''
          })`,
          nodeArgs: ['--require', path.resolve(COMPARE)],
          env: { ...on, ...COMPARE_ENV },
        },
      }
    : {}),
  off: { label: 'sidetrace (off: no exporter)', nodeArgs: ['--require', PRELOAD], env: {} },
  stock: { label: 'stock auto-instrumentations-node/register', nodeArgs: ['--require', STOCK], env: { OTEL_TRACES_EXPORTER: 'otlp', ...on } },
};
const ESM_VARIANTS = {
  bare: { label: 'bare node', nodeArgs: [], env: {} },
  on: { label: 'sidetrace --import register (tracing on)', nodeArgs: ['--import', REGISTER], env: on },
  ...(COMPARE_REGISTER
    ? {
        compare: { label: `sidetrace --import ${path.relative(REPO_ROOT, COMPARE_REGISTER)}`, nodeArgs: ['--import', path.resolve(COMPARE_REGISTER)], env: on },
      }
    : {}),
  off: { label: 'sidetrace --import register (off)', nodeArgs: ['--import', REGISTER], env: {} },
};

/** Starts the app, waits for its listening line, optionally times one request, then kills it. */
function once(node, script, cwd, variant, firstRequest) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(node, [...variant.nodeArgs, script], {
      cwd,
      env: cleanEnv({ PORT: '0', OTEL_SERVICE_NAME: 'bench', ...variant.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not listen within 60 s`));
    }, 60_000);
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${err}`)));
    readline.createInterface({ input: child.stdout }).on('line', async (line) => {
      const m = /listening on (\S+) maxrss_kib=(\d+) uptime_ms=([\d.]+) cpu_ms=([\d.]+)/.exec(line);
      if (!m) return;
      const sample = { wallMs: Number(process.hrtime.bigint() - t0) / 1e6, uptimeMs: Number(m[3]), cpuMs: Number(m[4]), rssMiB: Number(m[2]) / 1024 };
      if (firstRequest) {
        const t1 = process.hrtime.bigint();
        const res = await fetch(`${m[1]}/hello`);
        await res.text();
        sample.firstRequestMs = Number(process.hrtime.bigint() - t1) / 1e6;
      }
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.once('exit', () => resolve(sample));
      child.kill('SIGKILL');
    });
  });
}

async function matrix(title, app, variants, firstRequest) {
  const samples = {};
  for (let rep = -1; rep < REPS; rep++) {
    for (const major of NODES) {
      for (const [name, v] of Object.entries(variants)) {
        const s = await once(nodeBin[major], app.script, app.dir, v, firstRequest);
        if (rep >= 0) (samples[`${major}/${name}`] ??= []).push(s);
      }
    }
    process.stderr.write(`${title}: round ${rep + 1}/${REPS}\n`);
  }
  const med = (key, field) => median(samples[key].map((s) => s[field]));
  const rows = [];
  const summary = {};
  for (const major of NODES) {
    for (const [name, v] of Object.entries(variants)) {
      const key = `${major}/${name}`;
      const bare = `${major}/bare`;
      summary[key] = Object.fromEntries(['wallMs', 'cpuMs', 'rssMiB', 'firstRequestMs'].map((f) => [f, med(key, f)]));
      rows.push([
        nodeVersion[major],
        v.label,
        fmt(med(key, 'wallMs')),
        name === 'bare' ? '–' : signed(med(key, 'wallMs') - med(bare, 'wallMs')),
        fmt(med(key, 'cpuMs')),
        name === 'bare' ? '–' : signed(med(key, 'cpuMs') - med(bare, 'cpuMs')),
        fmt(med(key, 'rssMiB'), 1),
        name === 'bare' ? '–' : signed(med(key, 'rssMiB') - med(bare, 'rssMiB'), 1),
        ...(firstRequest
          ? [fmt(med(key, 'firstRequestMs'), 1), name === 'bare' ? '–' : signed(med(key, 'firstRequestMs') - med(bare, 'firstRequestMs'), 1)]
          : []),
      ]);
    }
  }
  const header = [
    'node',
    'variant',
    'spawn → listening (ms)',
    'Δ vs bare',
    'CPU ms at listening',
    'Δ vs bare',
    'peak RSS (MiB)',
    'Δ vs bare',
    ...(firstRequest ? ['first request (ms)', 'Δ vs bare'] : []),
  ];
  console.log(`\n## ${title} (median of ${REPS}, interleaved)\n\n${table(header, rows)}`);
  return { summary, samples };
}

const m = machine();
console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; runner Node ${m.node}; load average at start ${m.loadAverage}; ${m.date}`);
const results = { machine: m, nodes: nodeVersion, reps: REPS };
try {
  const variants = Object.fromEntries(Object.entries(VARIANTS).filter(([name]) => name === 'bare' || !ONLY || ONLY.includes(name)));
  results.hello = await matrix('express hello-world start-up', makeHelloApp(), variants, false);
  if (ESM) results.esm = await matrix('500-module ESM app: start-up and first request', makeEsmApp(500), ESM_VARIANTS, true);
} finally {
  await sink.stop();
}
results.loadAverageAtEnd = machine().loadAverage;
fs.mkdirSync(path.dirname(JSON_OUT), { recursive: true });
fs.writeFileSync(JSON_OUT, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nload average at the end ${results.loadAverageAtEnd}; wrote ${path.relative(process.cwd(), JSON_OUT)}`);
