// What the preload runs before sidetrace's bundle: Node's compile cache, then
// the tracing-off decision. When tracing is off the bundle (about 400 KiB) is
// never read: on Node 20, which has no compile cache, parsing it and running
// start()'s imports cost 15–30 ms, for a process that traces nothing.
import { readConfig } from '../config';
import { announceTracingOff } from './off';
import { inWorkerThread } from './thread';

export { codeCacheDir, requireWithCodeCache } from './code-cache';
export { enableCompileCache } from './compile-cache';

/**
 * True when the preload has nothing more to do: tracing is off and the lines
 * start() would print are printed. False hands everything to start() (tracing
 * on, New Relic agent mode, a strict config with problems, or a failure here).
 */
export function tracingOffAtPreload(env: Record<string, string | undefined> = process.env): boolean {
  try {
    const { config, problems } = readConfig(env);
    if (config.enabled || config.agent === 'newrelic' || (config.strict && problems.length)) return false;
    announceTracingOff(config, problems, { inWorker: inWorkerThread(), announce: true });
    return true;
  } catch {
    return false;
  }
}
