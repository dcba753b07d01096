// Runs a callback when the app first requires a package, before that package
// loads, so an instrumentation created in the callback registers its hooks in
// time to patch the package and every internal file it loads.
//
// Why not require-in-the-middle: its callback runs after a module has loaded,
// too late for instrumentations that patch internal files (e.g. @redis/client).
import Module from 'node:module';

type Require = (this: NodeJS.Module, id: string) => unknown;

/**
 * The package a require id names: `express` → `express`, `@redis/client/dist/x` →
 * `@redis/client`, `/app/node_modules/express` → `express`; relative ids, other
 * paths and core modules → undefined.
 */
export function packageNameOf(id: string): string | undefined {
  const c = id.charCodeAt(0);
  if (c === 46 /* . */ || c === 47 /* / */) {
    const at = id.lastIndexOf('/node_modules/');
    return at === -1 ? undefined : packageNameOf(id.slice(at + 14));
  }
  if (id.startsWith('node:')) return undefined;
  const slash = id.indexOf('/');
  if (c === 64 /* @ */) {
    const second = slash === -1 ? -1 : id.indexOf('/', slash + 1);
    return second === -1 ? id : id.slice(0, second);
  }
  return slash === -1 ? id : id.slice(0, slash);
}

interface FirstUse {
  pending: Set<string>;
  onFirst: (name: string) => void;
}
const firstUses = new Set<FirstUse>();

/** Runs the callbacks waiting for the package `id` names; true when one ran. */
function firstUseOf(id: string): boolean {
  const name = packageNameOf(id);
  if (name === undefined) return false;
  let ran = false;
  for (const use of firstUses) {
    if (!use.pending.delete(name)) continue;
    if (use.pending.size === 0) firstUses.delete(use);
    try {
      use.onFirst(name);
    } catch {
      // Telemetry never throws into the app's require or import.
    }
    ran = true;
  }
  return ran;
}

/**
 * Calls `onFirst(name)` the first time any module requires one of `packages`
 * (by bare name or a path inside it), or an ES module imports it where the
 * loader hook reports imports (`importedFirst`). Returns a function that stops watching.
 */
export function onFirstRequire(packages: Iterable<string>, onFirst: (name: string) => void): () => void {
  const use: FirstUse = { pending: new Set(packages), onFirst };
  if (use.pending.size === 0) return () => {};
  installRequireWatcher();
  firstUses.add(use);
  return () => {
    use.pending.clear();
    firstUses.delete(use);
  };
}

/**
 * The ES module loader hook's report of an `import` specifier, before the
 * module loads: runs what waits for its package, as a first require does.
 */
export function importedFirst(specifier: string): void {
  if (firstUses.size !== 0) firstUseOf(specifier);
}

let requireWatched = false;
function installRequireWatcher(): void {
  if (requireWatched) return;
  requireWatched = true;
  const proto = (Module as unknown as { prototype: { require: Require } }).prototype;
  const original = proto.require;
  const watcher: Require = function (this: NodeJS.Module, id: string) {
    if (firstUses.size !== 0 && typeof id === 'string') {
      const top = proto.require;
      // The callback may have installed a require hook of its own (the first
      // instrumentation creates require-in-the-middle's); go through it so this
      // very require is patched.
      if (firstUseOf(id) && proto.require !== top) return proto.require.apply(this, arguments as unknown as [string]);
    }
    return original.apply(this, arguments as unknown as [string]);
  };
  proto.require = watcher;
}

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const watchers = new Set<(request: string, exports: unknown) => void>();

/**
 * Calls `onLoaded(name, exports)` after a module named by one of `packages`
 * (bare name, or a path inside its node_modules folder, which is how an ES
 * module's `import` of a CommonJS package reaches Node's loader) has loaded,
 * until it returns true for that package. Sees what `require` and `import`
 * load through Node's CommonJS loader (Module._load), with one wrapper shared
 * by all callers. Returns a function that stops watching.
 */
export function onLoad(packages: Iterable<string>, onLoaded: (name: string, exports: unknown) => boolean): () => void {
  const pending = new Set(packages);
  if (pending.size === 0) return () => {};
  const watcher = (request: string, exports: unknown) => {
    const name = packageNameOf(request);
    if (name === undefined || !pending.has(name)) return;
    let done = false;
    try {
      done = onLoaded(name, exports);
    } catch {
      // A hook that fails leaves the app's module as it was.
    }
    if (done) pending.delete(name);
    if (pending.size === 0) watchers.delete(watcher);
  };
  if (watchers.size === 0) installLoadWrapper();
  watchers.add(watcher);
  return () => {
    watchers.delete(watcher);
  };
}

let loadWrapped = false;
function installLoadWrapper(): void {
  if (loadWrapped) return;
  loadWrapped = true;
  const loader = Module as unknown as { _load: Load };
  const original = loader._load;
  loader._load = function (this: unknown, request: string) {
    const exports = original.apply(this, arguments as unknown as Parameters<Load>);
    if (watchers.size !== 0 && typeof request === 'string') for (const w of watchers) w(request, exports);
    return exports;
  };
}
