// The first thing the preload does: turn on Node's compile cache (Node ≥ 22.1),
// so that sidetrace's bundle and the SDK are compiled once, not at every start.
// Node has no per-module switch: the app's modules loaded after this are cached
// too (docs/preload.md). Never throws; a bad value is reported by readConfig.
import { readCompileCache } from '../config/compile-cache';
import { Reader } from '../config/reader';

export function enableCompileCache(env: Record<string, string | undefined> = process.env): void {
  try {
    const nodeModule = require('node:module') as { enableCompileCache?: (dir?: string) => unknown };
    if (typeof nodeModule.enableCompileCache !== 'function') return;
    const dir = readCompileCache(new Reader(env));
    if (dir) nodeModule.enableCompileCache(dir);
  } catch {
    // A cache that cannot be used only costs start-up time.
  }
}
