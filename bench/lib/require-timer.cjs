// For bench/startup.mjs: times every require() made while the preload runs
// and prints, at exit, one JSON line: the preload's total time and the
// inclusive time of each package it (directly or through sidetrace's own
// modules) required.
const Module = require('node:module');
const original = Module.prototype.require;
const byPackage = new Map();
let depth = 0;
let inPackage = 0;
const t0 = performance.now();
Module.prototype.require = function timedRequire(id) {
  // Charge a package's whole subtree to it: only the outermost package frame counts.
  const pkg = !inPackage && !id.startsWith('.') && !id.startsWith('node:') ? id.split('/').slice(0, id.startsWith('@') ? 2 : 1).join('/') : undefined;
  const start = performance.now();
  depth++;
  if (pkg) inPackage++;
  try {
    return original.apply(this, arguments);
  } finally {
    depth--;
    if (pkg) {
      inPackage--;
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + performance.now() - start);
    }
  }
};
let preloadMs;
setImmediate(() => {
  preloadMs = performance.now() - t0;
});
process.on('exit', () => {
  process.stderr.write(`REQUIRE_TIMES ${JSON.stringify({ preloadMs, bootMs: t0, packages: Object.fromEntries(byPackage) })}\n`);
});
