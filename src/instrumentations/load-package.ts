// Requires an instrumentation package by name. In the bundled build
// (scripts/build.mjs) this module is replaced by the bundle's own table of
// packages, so the names must stay plain package names.
export function loadPackage(name: string): unknown {
  return require(name);
}
