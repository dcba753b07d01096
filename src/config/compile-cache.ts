// SIDETRACE_COMPILE_CACHE: where Node's compile cache (module.enableCompileCache,
// Node ≥ 22.1) keeps the compiled code of the modules loaded after the preload,
// sidetrace's bundle first. Read twice: by the preload before anything else loads
// (src/start/compile-cache.ts, silently), and by readConfig, which reports a bad value.
import os from 'node:os';
import path from 'node:path';
import type { Reader } from './reader';

const OFF = ['off', 'false', '0', 'no', 'none'];

export function defaultCompileCacheDir(): string {
  return path.join(os.tmpdir(), 'sidetrace-compile-cache');
}

/** The cache directory, or undefined when turned off. */
export function readCompileCache(r: Reader): string | undefined {
  const v = r.raw('SIDETRACE_COMPILE_CACHE');
  if (v === undefined) return defaultCompileCacheDir();
  if (OFF.includes(v.toLowerCase())) return undefined;
  if (!path.isAbsolute(v)) {
    r.problem('SIDETRACE_COMPILE_CACHE', v, 'is neither off nor an absolute directory', `using ${defaultCompileCacheDir()}`);
    return defaultCompileCacheDir();
  }
  return v;
}
