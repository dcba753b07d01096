// The tracing-off path, shared by the preload's preflight (before sidetrace's
// bundle loads) and start(): the same lines, printed once per process.
import type { ConfigProblem, SidetraceConfig } from '../config';
import { log, setLogLevel } from '../logging/log';

/** Set by the preflight when it found tracing off and said so; start() then has nothing to print. */
const ANNOUNCED_OFF = Symbol.for('sidetrace.tracing-off.announced');

/** Prints the config's problems (not in a worker: the main thread said them) and the one tracing-off line. */
export function announceTracingOff(config: SidetraceConfig, problems: ConfigProblem[], opts: { inWorker: boolean; announce: boolean }): void {
  const g = globalThis as { [ANNOUNCED_OFF]?: boolean };
  if (g[ANNOUNCED_OFF]) return;
  g[ANNOUNCED_OFF] = true;
  setLogLevel(config.logLevel);
  if (!opts.inWorker) for (const p of problems) log.warn(p.message);
  if (opts.announce && !opts.inWorker) log.info(`tracing is off: ${config.disabledReason}`);
}
