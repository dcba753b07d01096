// `npm run lint:deps` (part of `npm test`, after the build): fails on an
// undeclared or unused dependency.
//
// 1. The shipped code: every package dist/ requires (require(), import and
//    require.resolve with a literal name, and the packages the instrumentation
//    table in src/instrumentations/index.ts requires by name, which no static
//    analysis sees) is in package.json's dependencies, or an optional peer
//    dependency; and every entry of dependencies is required by dist/ (one
//    used only by tests, benchmarks or scripts is a devDependency).
// 2. Then `knip --dependencies` (knip.config.js) over src/, test/, bench/ and
//    scripts/: no declared dependency unused, none used without being declared.
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** The package a module specifier names: `@scope/name` or `name`; undefined for relative paths and Node's own modules. */
function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return builtinModules.includes(name) ? undefined : name;
}

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : /\.(c|m)?js$/.test(e.name) ? [p] : [];
  });
}

/** Package name → the dist/ files that require it. */
function requiredByDist() {
  const found = new Map();
  const add = (name, where) => {
    if (!name) return;
    if (!found.has(name)) found.set(name, new Set());
    found.get(name).add(where);
  };
  const literal = /(?:\brequire(?:\.resolve)?\(\s*|\bimport\(\s*|\bfrom\s+|^\s*import\s+)(['"])([^'"\n]+)\1/gm;
  for (const f of files(DIST)) {
    const where = path.relative(ROOT, f);
    for (const m of fs.readFileSync(f, 'utf8').matchAll(literal)) add(packageOf(m[2]), where);
  }
  // Required by a name taken from a table: the table says which.
  const { INSTRUMENTATION_PACKAGES } = require(path.join(DIST, 'instrumentations', 'index.js'));
  if (!Array.isArray(INSTRUMENTATION_PACKAGES) || INSTRUMENTATION_PACKAGES.length < 10) {
    throw new Error('dist/instrumentations/index.js exports no INSTRUMENTATION_PACKAGES table: the check cannot see the lazily required packages');
  }
  for (const p of INSTRUMENTATION_PACKAGES) add(packageOf(p), 'dist/instrumentations/index.js (the instrumentation table)');
  return found;
}

function checkDist() {
  const problems = [];
  if (!fs.existsSync(path.join(DIST, 'index.js'))) return ['dist/ is not built: run npm run build first'];
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const optionalPeers = new Set(Object.keys(pkg.peerDependencies ?? {}).filter((n) => pkg.peerDependenciesMeta?.[n]?.optional));
  const required = requiredByDist();
  for (const [name, where] of [...required].sort(([a], [b]) => a.localeCompare(b))) {
    if (name === pkg.name) continue;
    if (!deps.has(name) && !optionalPeers.has(name)) {
      problems.push(`${name} is required by ${[...where][0]} but is not in dependencies (nor an optional peer dependency)`);
    }
  }
  for (const name of deps) {
    if (!required.has(name)) problems.push(`${name} is in dependencies but dist/ never requires it (move it to devDependencies, or remove it)`);
  }
  return problems;
}

const problems = checkDist();
for (const p of problems) console.error(`lint:deps: ${p}`);

if (problems.length) {
  console.error('lint:deps: failed');
  process.exit(1);
}
console.log('lint:deps: dist/ requires only declared dependencies, and every dependency is required');
