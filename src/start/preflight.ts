// What the preload runs before sidetrace's bundle: Node's compile cache, then
// the tracing-off decision. When tracing is off the bundle (about 400 KiB) is
// never read: on Node 20, which has no compile cache, parsing it and running
// start()'s imports cost 15–30 ms, for a process that traces nothing.
import { readConfig, type ConfigResult } from '../config';
import { announceTracingOff } from './off';
import { inWorkerThread } from './thread';

export { codeCacheDir, requireWithCodeCache } from './code-cache';
export { enableCompileCache } from './compile-cache';

/**
 * The configuration start() needs, or undefined when the preload has nothing
 * more to do: tracing is off and the lines start() would print are printed.
 * A configuration hands everything to start() (tracing on, New Relic agent
 * mode, a strict config with problems), which then does not read it again;
 * so does an empty object, when reading failed here.
 */
export function configForStart(env: Record<string, string | undefined> = process.env): { config?: ConfigResult } | undefined {
  try {
    const read = readConfig(env);
    const { config, problems } = read;
    if (config.enabled || config.agent === 'newrelic' || (config.strict && problems.length)) return { config: read };
    announceTracingOff(config, problems, { inWorker: inWorkerThread(), announce: true });
    return undefined;
  } catch {
    return {};
  }
}
