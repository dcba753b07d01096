// Running the built `sidetrace` CLI as a real child process, with bytes (not
// strings) in and out, for the deploy tests.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, ROOT } from './app';
import type { OtlpReceiver } from './otlp-receiver';

export const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
export const HOOKS = path.join(ROOT, 'examples', 'kamal', '.kamal', 'hooks');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stderr as text, for the one-line messages. */
  err: string;
}

export interface CliRun {
  child: ChildProcess;
  done: Promise<CliResult>;
  /** SIGKILL the process and everything it started (it runs in its own process group). */
  killAll(): void;
}

/** Start `cmd args` with exactly `env` (plus PATH/HOME); collect its output as bytes. */
export function start(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: Buffer | string; cwd?: string; timeoutMs?: number } = {},
): CliRun {
  // Its own process group, so that killAll() reaches a grandchild the CLI leaves behind when it dies.
  const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const killAll = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the whole group is gone already
    }
  };
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      killAll();
      reject(new Error(`${cmd} ${args.join(' ')} did not finish; stderr: ${Buffer.concat(err).toString()}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, err: stderr.toString('utf8') });
    });
  });
  child.stdin!.on('error', () => {}); // a child that does not read stdin closes it early
  child.stdin!.end(opts.input ?? '');
  return { child, done, killAll };
}

export function run(cmd: string, args: string[], opts: Parameters<typeof start>[2] = {}): Promise<CliResult> {
  return start(cmd, args, opts).done;
}

/** `node dist/cli/index.js ...args`. */
export function cli(args: string[], opts: Parameters<typeof start>[2] = {}): Promise<CliResult> {
  return run(process.execPath, [CLI, ...args], opts);
}

/** The environment that sends a CLI's spans to the receiver. */
export function tracingEnv(receiver: OtlpReceiver, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'shop',
    SIDETRACE_DEPLOY_TIMEOUT: '0',
    ...extra,
  };
}

export function tempDir(prefix = 'sidetrace-deploy-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** sidetrace's own stderr lines (`sidetrace: ...`). */
export function sidetraceLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('sidetrace: '));
}
