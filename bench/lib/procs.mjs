// Child processes for the benchmarks: the app under test and the OTLP sink,
// each spawned straight from node (no shell) so the pid is the process we
// measure. Every child is killed when the runner exits, however it exits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** process.env without anything that would configure a tracer behind the bench's back. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OTEL_|NEW_RELIC_|SIDETRACE_)/.test(k) || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Spawns `node ...nodeArgs script` and resolves when it prints "listening on URL".
 * The app may append `maxrss_kib=N` (peak RSS at that moment) to the line.
 */
export function startNode({ script, nodeArgs = [], scriptArgs = [], env = {}, timeoutMs = 30_000, cwd = REPO_ROOT }) {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...nodeArgs, script, ...scriptArgs], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const output = [];
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${path.basename(script)} did not print "listening on" within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      err.message += `\n${output.slice(-15).join('\n')}`;
      reject(err);
    };
    exited.then(({ code, signal }) => fail(new Error(`${path.basename(script)} exited (${signal ?? code}) before listening`)));
    const onLine = (line) => {
      if (output.length < 200) output.push(line);
      const m = /^listening on (http:\/\/\S+)(?:.*maxrss_kib=(\d+))?/.exec(line);
      if (!m) return;
      const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid,
        url: m[1],
        startupMs,
        maxRssKiB: m[2] ? Number(m[2]) : undefined,
        output,
        exited,
        stop: (graceMs = 3000) => stopChild(child, exited, graceMs),
      });
    };
    for (const stream of [child.stdout, child.stderr]) readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  });
}

/** SIGTERM (sidetrace flushes and exits), SIGKILL after graceMs (the stock register ignores SIGTERM). */
export async function stopChild(child, exited, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** VmRSS and VmHWM (peak) of a live process, in KiB. */
export function memoryOf(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rssKiB: get('VmRSS'), hwmKiB: get('VmHWM') };
  } catch {
    return { rssKiB: NaN, hwmKiB: NaN };
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time (user + system) a live process has used so far, in ms. */
export function cpuMsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Pids of this process's direct children whose command line contains `fragment`. */
export function childPidsRunning(fragment) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(fragment)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * The OTLP sink (bench/lib/otlp-sink.mjs) as a child process, its counters read over HTTP.
 * hang: it accepts trace exports and never answers (a hung collector).
 */
export async function startSink({ hang = false } = {}) {
  const proc = await startNode({ script: path.join(REPO_ROOT, 'bench', 'lib', 'otlp-sink.mjs'), scriptArgs: hang ? ['--hang'] : [] });
  return {
    url: proc.url,
    pid: proc.pid,
    stats: async () => (await fetch(`${proc.url}/stats`)).json(),
    reset: async () => void (await (await fetch(`${proc.url}/reset`, { method: 'POST' })).arrayBuffer()),
    stop: () => proc.stop(2000),
  };
}
