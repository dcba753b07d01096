// Runs a real child process (an app under the preload, or the CLI) and
// collects its output, for tests that look at what a user would see.
import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
/** The build the apps run under: the bundle (dist/), or tsc's output (dist/lib/) with SIDETRACE_TEST_BUILD=unbundled. */
export const BUILD = process.env.SIDETRACE_TEST_BUILD === 'unbundled' ? path.join(ROOT, 'dist', 'lib') : path.join(ROOT, 'dist');
export const PRELOAD = path.join(BUILD, 'preload.js');
export const REGISTER = path.join(BUILD, 'register.mjs');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export interface RunningApp {
  child: ChildProcess;
  url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with exit code/signal and how long after `since` it exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stop(): Promise<void>;
}

/** Only the variables a test names, plus PATH/HOME: nothing leaks in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export async function startApp(opts: {
  script: string;
  env?: Record<string, string | undefined>;
  nodeArgs?: string[];
  cwd?: string;
  /** Wait for `listening on URL` on stdout (default true). */
  waitListening?: boolean;
  timeoutMs?: number;
}): Promise<RunningApp> {
  const nodeArgs = opts.nodeArgs ?? ['--require', PRELOAD];
  const child = spawn(process.execPath, [...nodeArgs, opts.script], {
    cwd: opts.cwd ?? ROOT,
    env: cleanEnv({ PORT: '0', ...(opts.env ?? {}) }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  let url = '';
  if (opts.waitListening !== false) {
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`app did not start listening; stdout: ${out} stderr: ${err}`)), opts.timeoutMs ?? 15_000);
      const check = () => {
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout!.on('data', check);
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`app exited (${code ?? signal}) before listening; stdout: ${out} stderr: ${err}`));
      });
    });
  }
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Run a command to completion and capture its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish; stdout: ${stdout} stderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text() };
}
