// The tracing-off path, shared by the preload's preflight (before sidetrace's
// bundle loads) and start(): the same lines, printed once per process.
import fs from 'node:fs';
import type { ConfigProblem, LogLevel, SidetraceConfig } from '../config';
import { log, setLogLevel } from '../logging/log';

/** Set by the preflight when it found tracing off and said so; start() then has nothing to print. */
const ANNOUNCED_OFF = Symbol.for('sidetrace.tracing-off.announced');

/** The levels that hide an info line. */
const QUIET: LogLevel[] = ['none', 'error', 'warn'];

/** Prints the config's problems (not in a worker: the main thread said them) and the one tracing-off line. */
export function announceTracingOff(config: SidetraceConfig, problems: ConfigProblem[], opts: { inWorker: boolean; announce: boolean }): void {
  const g = globalThis as { [ANNOUNCED_OFF]?: boolean };
  if (g[ANNOUNCED_OFF]) return;
  g[ANNOUNCED_OFF] = true;
  setLogLevel(config.logLevel);
  if (!opts.inWorker) for (const p of problems) log.warn(p.message);
  if (!opts.announce || opts.inWorker) return;
  const line = `tracing is off: ${config.disabledReason}`;
  // After the problem lines, the same stream keeps the order.
  if (problems.length) log.info(line);
  else if (!QUIET.includes(config.logLevel)) writeStderr(`sidetrace: ${line}\n`);
}

/**
 * One write on file descriptor 2: opening process.stderr constructs a tty or pipe
 * stream (1–3 ms on Node 20) that a process tracing nothing may never use. Falls
 * back to process.stderr for what the descriptor did not take (EAGAIN on a full
 * non-blocking pipe, a closed descriptor); never throws.
 */
function writeStderr(text: string): void {
  const bytes = Buffer.from(text);
  let written = 0;
  try {
    written = fs.writeSync(2, bytes);
  } catch {
    written = 0;
  }
  if (written >= bytes.length) return;
  try {
    process.stderr.write(bytes.subarray(written));
  } catch {
    // A closed stderr must never take the app down.
  }
}
