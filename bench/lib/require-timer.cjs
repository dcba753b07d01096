// For bench/startup.mjs: times every require() and prints, at exit, one JSON
// line: how long the preload ran before the app's code started (the app's
// script sets globalThis.__benchMainStart first thing), and the inclusive
// time of each package, split into loaded before the app started and loaded
// later (deferred).
const Module = require('node:module');
const original = Module.prototype.require;
const byPackage = new Map();
const deferred = new Map();
let inPackage = 0;
const t0 = performance.now();
Module.prototype.require = function timedRequire(id) {
  // Charge a package's whole subtree to it: only the outermost package frame counts.
  const pkg =
    !inPackage && !id.startsWith('.') && !id.startsWith('node:')
      ? id
          .split('/')
          .slice(0, id.startsWith('@') ? 2 : 1)
          .join('/')
      : undefined;
  const start = performance.now();
  if (pkg) inPackage++;
  try {
    return original.apply(this, arguments);
  } finally {
    if (pkg) {
      inPackage--;
      const into = globalThis.__benchMainStart === undefined ? byPackage : deferred;
      into.set(pkg, (into.get(pkg) ?? 0) + performance.now() - start);
    }
  }
};
process.on('exit', () => {
  const preloadMs = globalThis.__benchMainStart - t0;
  process.stderr.write(
    `REQUIRE_TIMES ${JSON.stringify({ preloadMs, bootMs: t0, packages: Object.fromEntries(byPackage), deferred: Object.fromEntries(deferred) })}\n`,
  );
});
