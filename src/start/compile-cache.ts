// The first thing the preload does: turn on Node's compile cache (Node ≥ 22.1),
// so that sidetrace's bundle and the SDK are compiled once, not at every start.
// Node has no per-module switch: the app's modules loaded after this are cached
// too (docs/preload.md). Never throws; a bad value is reported by readConfig.
import { readCompileCache } from '../config/compile-cache';
import { Reader } from '../config/reader';

/** How long after the preload the cache is written out: the app's start-up has run by then. */
const FLUSH_AFTER_MS = 1000;

export function enableCompileCache(env: Record<string, string | undefined> = process.env): void {
  try {
    const nodeModule = require('node:module') as { enableCompileCache?: (dir?: string) => unknown; flushCompileCache?: () => void };
    if (typeof nodeModule.enableCompileCache !== 'function') return;
    const dir = readCompileCache(new Reader(env));
    if (!dir) return;
    nodeModule.enableCompileCache(dir);
    // Node writes the cache when the process exits normally; a service stopped by a signal
    // (a container's SIGTERM or SIGKILL) never does, and would start cold every time.
    const { flushCompileCache } = nodeModule;
    if (typeof flushCompileCache === 'function')
      setTimeout(() => {
        try {
          flushCompileCache();
        } catch {
          // See below.
        }
      }, FLUSH_AFTER_MS).unref();
  } catch {
    // A cache that cannot be used only costs start-up time.
  }
}
