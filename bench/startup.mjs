// Where the preload's start-up time goes: runs `node --require <timer>
// --require <preload> -e <app stand-in>` in the hello-world app's directory N
// times and prints the median time spent loading each package before the app's
// code starts (what delays the app) and after it (deferred), plus the totals.
//
//   npm run build && node bench/startup.mjs [--runs 15] [--preload PATH]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, cleanEnv } from './lib/procs.mjs';
import { makeHelloApp } from './lib/hello-app.mjs';
import { median, table } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const RUNS = Number(flag('--runs', 15));
const PRELOAD = path.resolve(flag('--preload', path.join(REPO_ROOT, 'dist', 'preload.js')));
const TIMER = path.join(REPO_ROOT, 'bench', 'lib', 'require-timer.cjs');
const app = makeHelloApp();

const runs = [];
for (let i = 0; i < RUNS; i++) {
  const out = spawnSync(
    process.execPath,
    ['--require', TIMER, '--require', PRELOAD, '-e', 'globalThis.__benchMainStart = performance.now(); setTimeout(() => {}, 100)'],
    {
      cwd: app.dir,
      env: cleanEnv({ OTEL_SERVICE_NAME: 'hello', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }),
      encoding: 'utf8',
    },
  );
  const line = /REQUIRE_TIMES (.*)/.exec(out.stderr)?.[1];
  if (!line) throw new Error(`no timing line:\n${out.stderr}`);
  runs.push(JSON.parse(line));
}
const rowsOf = (key, label) =>
  [...new Set(runs.flatMap((r) => Object.keys(r[key])))]
    .map((p) => [`${p}${label}`, median(runs.map((r) => r[key][p] ?? 0))])
    .filter(([, ms]) => ms >= 0.5)
    .sort((a, b) => b[1] - a[1]);
const rows = [...rowsOf('packages', ''), ...rowsOf('deferred', ' (deferred: after the app started)')];
console.log(`Preload start-up, hello-world app dir, median of ${RUNS} runs (${process.version}):\n`);
console.log(
  table(
    ['package (first required from the preload)', 'ms (inclusive)'],
    [
      ...rows.map(([p, ms]) => [p, ms.toFixed(1)]),
      ['**whole preload, before the app code runs**', median(runs.map((r) => r.preloadMs)).toFixed(1)],
      ['node bootstrap before the preload', median(runs.map((r) => r.bootMs)).toFixed(1)],
    ],
  ),
);
