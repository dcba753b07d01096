// Where the start-up CPU goes: runs the express hello-world app (its own
// directory, express only) with `node --cpu-prof` under the preload, N times,
// each until its listening line, and prints the self time per run (median
// over the runs) by file, by function, and inside sidetrace's bundles by
// original source (through their source maps): the SDK package or sidetrace
// file a millisecond belongs to. `__require` (esbuild's module wrapper) is
// listed apart: V8 charges it the lazy compilation of each bundled module body.
//
//   npm run build && node bench/startup-profile.mjs [--node 24|20|PATH] [--runs 6] [--variant on|off|bare] [--preload PATH] [--top 25]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SourceMap } from 'node:module';
import { REPO_ROOT, cleanEnv } from './lib/procs.mjs';
import { makeHelloApp } from './lib/hello-app.mjs';
import { flag, nodeBinary } from './lib/args.mjs';
import { machine, median, table } from './lib/stats.mjs';

const NODE = nodeBinary();
const RUNS = Number(flag('--runs', 6));
const VARIANT = flag('--variant', 'on');
const PRELOAD = path.resolve(flag('--preload', path.join(REPO_ROOT, 'dist', 'preload.js')));
const TOP = Number(flag('--top', 25));

const app = makeHelloApp();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-startup-prof-'));
// Exits right after the app's listening line, so the profile covers start-up only.
const exitAtListen = path.join(dir, 'exit-at-listen.cjs');
fs.writeFileSync(
  exitAtListen,
  "const log = console.log;\nconsole.log = (...a) => { log(...a); if (String(a[0]).startsWith('listening')) setImmediate(() => process.exit(0)); };\n",
);
const env = cleanEnv({ PORT: '0', OTEL_SERVICE_NAME: 'hello', ...(VARIANT === 'on' ? { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' } : {}) });
const preload = VARIANT === 'bare' ? [] : ['--require', PRELOAD];
// One unprofiled run first, so the compile cache (Node ≥ 22.1) is warm as on any later start.
spawnSync(NODE, ['--require', exitAtListen, ...preload, app.script], { cwd: app.dir, env });
for (let i = 0; i < RUNS; i++) {
  const out = spawnSync(NODE, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '200', '--require', exitAtListen, ...preload, app.script], {
    cwd: app.dir,
    env,
    encoding: 'utf8',
  });
  if (!/listening on/.test(out.stdout)) throw new Error(`the app did not listen:\n${out.stderr}`);
}

const maps = new Map();
function sourceOf(file, line, column) {
  if (!maps.has(file)) {
    try {
      maps.set(file, new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8'))));
    } catch {
      maps.set(file, undefined);
    }
  }
  const source = maps.get(file)?.findEntry(line, column)?.originalSource;
  if (!source) return undefined;
  return source.includes('node_modules/') ? source.slice(source.lastIndexOf('node_modules/') + 13) : `sidetrace ${source.replace(/^.*?src\//, 'src/')}`;
}

const perRun = { file: [], fn: [], bundle: [] };
const totals = [];
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const byFile = new Map();
  const byFn = new Map();
  const byBundle = new Map();
  const add = (m, k, us) => m.set(k, (m.get(k) ?? 0) + us / 1000);
  let total = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (!us) continue;
    total += us / 1000;
    const { url, functionName, lineNumber, columnNumber } = node.callFrame;
    const file = url.replace('file://', '');
    const short = file ? file.replace(REPO_ROOT + path.sep, '').replace(/.*node_modules\//, '') : `(${functionName || 'native'})`;
    add(byFile, short, us);
    add(byFn, `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`, us);
    if (file.startsWith(path.join(REPO_ROOT, 'dist'))) {
      const key = functionName === '__require' ? `module wrapper (lazy compile) in ${short}` : (sourceOf(file, lineNumber, columnNumber) ?? short);
      add(byBundle, key, us);
    }
  }
  totals.push(total);
  perRun.file.push(byFile);
  perRun.fn.push(byFn);
  perRun.bundle.push(byBundle);
}
fs.rmSync(dir, { recursive: true, force: true });

const rows = (maps) =>
  [...new Set(maps.flatMap((m) => [...m.keys()]))]
    .map((k) => [k, median(maps.map((m) => m.get(k) ?? 0))])
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([k, ms]) => [k, ms.toFixed(1)]);
const m = machine();
const version = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
console.log(
  `Start-up CPU profile, express hello-world, ${VARIANT === 'bare' ? 'bare node' : `${path.relative(REPO_ROOT, PRELOAD)} (tracing ${VARIANT})`}, Node ${version}, median of ${RUNS} runs`,
);
console.log(`Machine: ${m.cpu}, ${m.cores} cores; load average ${m.loadAverage}. Profiled CPU until listening: ${median(totals).toFixed(1)} ms\n`);
console.log(`### Self time by file (ms)\n\n${table(['file', 'ms'], rows(perRun.file))}\n`);
console.log(`### Self time by function (ms)\n\n${table(['function', 'ms'], rows(perRun.fn))}\n`);
if (VARIANT !== 'bare') console.log(`### Inside sidetrace's bundles, by original source (ms)\n\n${table(['source', 'ms'], rows(perRun.bundle))}`);
