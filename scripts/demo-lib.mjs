// Starts the demo workload as real child processes: the preview renderer and
// the demo app (examples/demo), each under a preload (sidetrace's by default),
// on loopback. Used by `npm run demo`, the end-to-end tests and the benchmarks.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SIDETRACE_PRELOAD = path.join(REPO_ROOT, 'dist', 'preload.js');
const DEMO_DIR = path.join(REPO_ROOT, 'examples', 'demo');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * @param {{
 *   databaseUrl: string, redisUrl: string,
 *   preload?: string | null,   // a module for --require; null runs the apps without one
 *   port?: number,             // the app's port (default 0: any free one)
 *   env?: Record<string, string | undefined>,        // for both processes (OTEL_* etc.)
 *   appEnv?: Record<string, string | undefined>,     // the app only
 *   previewEnv?: Record<string, string | undefined>, // the preview service only
 *   onOutput?: (name: 'app' | 'preview', line: string) => void,
 * }} options
 * @returns {Promise<{ appUrl: string, previewUrl: string, output: { app: string[], preview: string[] }, stop(): Promise<void> }>}
 */
export async function startDemoApp(options) {
  const { databaseUrl, redisUrl, preload = SIDETRACE_PRELOAD, port = 0, env = {}, appEnv = {}, previewEnv = {}, onOutput } = options;
  if (preload === SIDETRACE_PRELOAD && !fs.existsSync(SIDETRACE_PRELOAD)) {
    throw new Error(`${path.relative(process.cwd(), SIDETRACE_PRELOAD)} is missing: run \`npm run build\` first`);
  }
  const output = { app: [], preview: [] };
  const children = [];
  const stop = () => Promise.all(children.map(stopChild)).then(() => {});
  try {
    const preview = startNode(
      'preview',
      path.join(DEMO_DIR, 'preview-service.js'),
      preload,
      {
        OTEL_SERVICE_NAME: 'sidetrace-preview',
        ...env,
        ...previewEnv,
        PORT: '0',
      },
      output,
      onOutput,
    );
    children.push(preview);
    const previewUrl = await preview.url;
    const app = startNode(
      'app',
      path.join(DEMO_DIR, 'app.js'),
      preload,
      {
        OTEL_SERVICE_NAME: 'sidetrace-demo',
        ...env,
        ...appEnv,
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        PREVIEW_URL: previewUrl,
      },
      output,
      onOutput,
    );
    children.push(app);
    const appUrl = await app.url;
    return { appUrl, previewUrl, output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function startNode(name, script, preload, env, output, onOutput) {
  const args = preload ? ['--require', preload, script] : [script];
  // Own process group: a terminal's Ctrl-C reaches only the orchestrator,
  // which stops the app before the collector so the app's last spans arrive.
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolve({ code, signal });
    });
    child.once('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  const url = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not print "listening on" within ${START_TIMEOUT_MS} ms:\n${tail(output[name])}`)),
      START_TIMEOUT_MS,
    );
    exited.then(({ code, signal, error }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${error?.message ?? signal ?? code}) before listening:\n${tail(output[name])}`));
    });
    const onLine = (line) => {
      output[name].push(line);
      if (output[name].length > 2000) output[name].splice(0, 1000); // bounded: a long demo logs a lot
      onOutput?.(name, line);
      const m = /^listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    for (const stream of [child.stdout, child.stderr]) readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  });
  url.catch(() => {}); // observed by the caller; avoids an unhandled rejection after a successful start
  return { name, child, url, exited };
}

function tail(lines) {
  return (
    lines
      .slice(-20)
      .map((l) => `  ${l}`)
      .join('\n') || '  (no output)'
  );
}

/** SIGTERM (the preload flushes and exits), then SIGKILL after STOP_TIMEOUT_MS. */
async function stopChild({ child, exited }) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * An AbortController aborted by the first SIGINT/SIGTERM/SIGHUP (stop cleanly);
 * a second signal exits at once ('exit' hooks kill the children).
 * @param {(line: string) => void} say
 */
export function stopOnSignals(say) {
  const stopRequested = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (!stopRequested.signal.aborted) return stopRequested.abort();
      say('second signal: killing everything now');
      process.exit(130);
    });
  }
  return stopRequested;
}
