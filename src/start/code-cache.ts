// A V8 code cache for sidetrace's bundles where Node has no compile cache
// (module.enableCompileCache, Node ≥ 22.1): on Node 20 dist/sidetrace.js and
// dist/vendor.js (1.3 MiB) are otherwise compiled from source at every start.
// Each file is compiled through vm.Script with the cached data of the last
// start; when there was none, or V8 rejected it, the cache is written once
// start-up is done (so that the functions compiled lazily while starting are
// in it), asynchronously, through a temporary file and a rename.
//
// The bundles have no import() (scripts/build.mjs): on Node 20 a vm.Script's
// import() needs an experimental callback.
//
// Written here rather than taken from v8-compile-cache (or -lib): those replace
// Module.prototype._compile for every module of the app, where this compiles
// two files of sidetrace's own.
import fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import type vm from 'node:vm';
import { readCompileCache } from '../config/compile-cache';
import { Reader } from '../config/reader';

/** How long after the preload the cache is written: the app's start-up has run by then. */
const WRITE_AFTER_MS = 1000;

/** The folder inside SIDETRACE_COMPILE_CACHE, or undefined when Node's compile cache or source maps are in use, or it is off. */
export function codeCacheDir(env: Record<string, string | undefined> = process.env): string | undefined {
  try {
    if (typeof (Module as { enableCompileCache?: unknown }).enableCompileCache === 'function') return undefined;
    // A script compiled by vm.Script gets no source map: with --enable-source-maps, Node's loader keeps stack traces on the TypeScript.
    if (sourceMapsEnabled()) return undefined;
    const dir = readCompileCache(new Reader(env));
    return dir && path.join(dir, 'v8-code-cache');
  } catch {
    return undefined;
  }
}

function sourceMapsEnabled(): boolean {
  const p = process as { sourceMapsEnabled?: boolean };
  if (typeof p.sourceMapsEnabled === 'boolean') return p.sourceMapsEnabled;
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes('--enable-source-maps');
}

/**
 * Requires the files in order through the code cache and returns the last one's exports; every file
 * enters require.cache, so a later require of it gets the same module. Without `dir`, only the last is required, as usual.
 */
export function requireWithCodeCache(files: string[], dir: string | undefined): unknown {
  if (!dir) return require(path.resolve(files[files.length - 1]));
  let exports: unknown;
  for (const file of files) {
    const filename = path.resolve(file);
    const compiled = require.cache[filename] ? undefined : compile(filename, dir);
    exports = compiled ? run(filename, compiled) : require(filename);
  }
  return exports;
}

function compile(filename: string, dir: string): ((...args: unknown[]) => unknown) | undefined {
  try {
    // Loaded here: the tracing-off path, which shares this file, never needs it.
    const { Script } = require('node:vm') as typeof vm;
    const source = fs.readFileSync(filename, 'utf8');
    const stat = fs.statSync(filename);
    // Named by the file's folder (two installs of sidetrace keep one cache each), size and time (a new bundle never meets an
    // old cache) and Node; a cache V8 still rejects (other V8 flags) is rewritten.
    const cacheFile = path.join(
      dir,
      `${path.basename(filename)}-${hashOf(path.dirname(filename))}-${stat.size}-${Math.trunc(stat.mtimeMs)}-${process.version}-${process.arch}.bin`,
    );
    let cachedData: Buffer | undefined;
    try {
      cachedData = fs.readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
    const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
      filename,
      cachedData,
    });
    if (!cachedData || script.cachedDataRejected) setTimeout(() => writeCache(script, dir, cacheFile), WRITE_AFTER_MS).unref();
    return script.runInThisContext();
  } catch {
    return undefined;
  }
}

function run(filename: string, fn: (...args: unknown[]) => unknown): unknown {
  const mod = new Module(filename, module);
  mod.filename = filename;
  require.cache[filename] = mod;
  try {
    fn.call(mod.exports, mod.exports, createRequire(filename), mod, filename, path.dirname(filename));
  } catch (error) {
    // As require does: a module that threw is not cached.
    delete require.cache[filename];
    throw error;
  }
  mod.loaded = true;
  return mod.exports;
}

/** Never throws, never waits for the disk: a cache that cannot be written only costs the next start its compile time. */
function writeCache(script: vm.Script, dir: string, cacheFile: string): void {
  try {
    const data = script.createCachedData();
    // Unique per writer: a Worker's preload shares the process id, and another process may be writing the same cache.
    const temporary = `${cacheFile}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
    fs.mkdir(dir, { recursive: true }, (mkdirError) => {
      if (mkdirError) return;
      fs.writeFile(temporary, data, (writeError) => {
        if (writeError) return fs.rm(temporary, { force: true }, () => {});
        fs.rename(temporary, cacheFile, () => removeOlder(dir, cacheFile));
      });
    });
  } catch {
    // See above.
  }
}

/** The caches of an earlier build or Node of the same file: one per file and folder stays on disk. */
function removeOlder(dir: string, cacheFile: string): void {
  const prefix = `${path.basename(cacheFile).split('-').slice(0, 2).join('-')}-`;
  fs.readdir(dir, (error, names) => {
    if (error) return;
    for (const name of names)
      if (name.startsWith(prefix) && name !== path.basename(cacheFile) && name.endsWith('.bin')) fs.rm(path.join(dir, name), { force: true }, () => {});
  });
}

/** FNV-1a, in hex: a short stable name for a folder, without loading node:crypto. */
function hashOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}
