// The build: TypeScript into dist/lib/ (the unbundled build, and the types),
// then esbuild into two bundles, so that the preload loads two files instead
// of ~370:
//   dist/sidetrace.js  all of sidetrace's own code;
//   dist/vendor.js     the OpenTelemetry SDK packages it uses;
//   dist/instrumentations/*.js  one file per instrumentation package.
// Every module in a bundle is evaluated on its first require, as before, so
// tracing off still runs no OpenTelemetry code and never reads vendor.js.
// dist/preload.js, dist/register.mjs, dist/index.js and dist/cli/index.js are
// small entry files over dist/sidetrace.js, so the preload, the library API
// and the CLI share one copy of sidetrace's state.
//
// Left out of the bundles, required from node_modules at run time:
// - @opentelemetry/api: the app's copy must see the provider sidetrace registers
//   (its global is keyed by the API's major version), and npm gives both one copy;
// - import-in-the-middle: its loader hook and its Hook() must share one instance;
// - what is loaded only when configured (gRPC and Jaeger exporters, cloud resource
//   detectors) and the app's own packages (newrelic, bullmq, ioredis, redis).
//
//   node scripts/build.mjs            (npm run build)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');
const DIST = path.join(ROOT, 'dist');
const LIB = path.join(DIST, 'lib');
const require = createRequire(import.meta.url);

const UNBUNDLED = [
  '@opentelemetry/api',
  'import-in-the-middle',
  '@opentelemetry/exporter-trace-otlp-grpc',
  '@grpc/grpc-js',
  '@opentelemetry/exporter-jaeger',
  '@opentelemetry/resource-detector-aws',
  '@opentelemetry/resource-detector-gcp',
  '@opentelemetry/resource-detector-azure',
  '@opentelemetry/resource-detector-alibaba-cloud',
];

fs.rmSync(DIST, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });

// The packages sidetrace's code requires by literal name.
const packageOf = (id) => (id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0]);
const required = new Set();
for (const file of fs.readdirSync(LIB, { recursive: true })) {
  if (!file.endsWith('.js')) continue;
  for (const m of fs.readFileSync(path.join(LIB, file), 'utf8').matchAll(/require\((["'])([^"'.][^"']*)\1\)/g)) required.add(m[2]);
}
const isVendorable = (id) => id.startsWith('@opentelemetry/') && !UNBUNDLED.includes(packageOf(id));
const vendored = new Set([...required].filter(isVendorable));

const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: true, logLevel: 'error', legalComments: 'none', keepNames: true };

// dist/instrumentations/<name>.js: one file per instrumentation package, loaded on
// the first require of its target (so require.cache shows which were loaded). The
// OpenTelemetry packages they share come from vendor.js when they resolve to the
// same copy; a different nested copy is bundled into the instrumentation's file.
const { INSTRUMENTATION_PACKAGES } = require(path.join(LIB, 'instrumentations', 'index.js'));
const resolveFrom = (id, dir) => {
  try {
    return require.resolve(id, { paths: [dir] });
  } catch {
    return undefined;
  }
};
const instrumentationFile = (pkg) =>
  `instrumentations/${pkg
    .replace(/^@opentelemetry\//, '')
    .replace(/[@/]/g, '-')
    .replace(/^-/, '')}.js`;
const sharedThroughVendor = (pkg) => ({
  name: 'shared-through-vendor',
  setup(build) {
    build.onResolve({ filter: /^@opentelemetry\// }, (args) => {
      if (args.path === pkg || !isVendorable(args.path)) return undefined;
      const resolved = resolveFrom(args.path, args.resolveDir);
      if (!resolved || resolved !== resolveFrom(args.path, ROOT)) return undefined;
      vendored.add(args.path);
      return { path: args.path, namespace: 'vendored' };
    });
    build.onResolve({ filter: /^vendor$/ }, () => ({ path: '../vendor.js', external: true }));
    build.onLoad({ filter: /.*/, namespace: 'vendored' }, (args) => ({
      contents: `module.exports = require('vendor')(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
});
await Promise.all(
  INSTRUMENTATION_PACKAGES.map((pkg) =>
    esbuild.build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(pkg)});\n`, resolveDir: ROOT, sourcefile: `${pkg}-entry.js` },
      outfile: path.join(DIST, instrumentationFile(pkg)),
      external: UNBUNDLED,
      plugins: [sharedThroughVendor(pkg)],
    }),
  ),
);

// vendor.js: a function from package name to its exports, each package evaluated on first use.
const cases = [
  ...[...vendored].sort().map((id) => `    case ${JSON.stringify(id)}: return require(${JSON.stringify(id)});`),
  ...INSTRUMENTATION_PACKAGES.map((pkg) => `    case ${JSON.stringify(pkg)}: return require(${JSON.stringify(`./${instrumentationFile(pkg)}`)});`),
];
await esbuild.build({
  ...common,
  stdin: {
    contents: `'use strict';\nmodule.exports = function vendored(name) {\n  switch (name) {\n${cases.join('\n')}\n    default: return require(name);\n  }\n};\n`,
    resolveDir: ROOT,
    sourcefile: 'vendor-table.js',
  },
  outfile: path.join(DIST, 'vendor.js'),
  external: [...UNBUNDLED, './instrumentations/*'],
});

// sidetrace.js: sidetrace's own modules (the CommonJS tsc wrote, with its source maps), vendored packages through vendor.js.
const throughVendor = {
  name: 'through-vendor',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path === 'vendor') return { path: './vendor.js', external: true };
      if (vendored.has(args.path)) return { path: args.path, namespace: 'vendored' };
      return { path: args.path, external: true };
    });
    build.onLoad({ filter: /.*/, namespace: 'vendored' }, (args) => ({
      contents: `module.exports = require('vendor')(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
    // The instrumentations' loader (src/instrumentations/load-package.ts) becomes the vendor table.
    build.onLoad({ filter: /instrumentations[\\/]load-package\.js$/ }, () => ({
      contents: `exports.loadPackage = (name) => require('vendor')(name);`,
      loader: 'js',
    }));
  },
};
await esbuild.build({
  ...common,
  stdin: {
    contents: `'use strict';\nexports.start = () => require('./lib/start/index.js');\nexports.api = () => require('./lib/index.js');\nexports.cli = () => require('./lib/cli/index.js');\n`,
    resolveDir: DIST,
    sourcefile: 'sidetrace-entries.js',
  },
  outfile: path.join(DIST, 'sidetrace.js'),
  plugins: [throughVendor],
});

// compile-cache.js: what the preload runs before loading sidetrace.js (src/start/compile-cache.ts).
await esbuild.build({
  ...common,
  entryPoints: [path.join(LIB, 'start', 'compile-cache.js')],
  outfile: path.join(DIST, 'compile-cache.js'),
  plugins: [throughVendor],
});

const entry = (file, text, mode) => {
  fs.mkdirSync(path.dirname(path.join(DIST, file)), { recursive: true });
  fs.writeFileSync(path.join(DIST, file), text, { mode });
};
entry(
  'preload.js',
  `'use strict';\n// node --require sidetrace/preload app.js (src/preload.ts)\nrequire('./compile-cache.js').enableCompileCache();\nrequire('./sidetrace.js').start().startFromPreload();\n`,
);
entry(
  'register.mjs',
  `// node --import sidetrace/register app.mjs (src/register.mts)\nimport { createRequire } from 'node:module';\n\nconst require = createRequire(import.meta.url);\nrequire('./compile-cache.js').enableCompileCache();\nrequire('./sidetrace.js').start().startFromPreload({ esm: true });\n`,
);
entry('index.js', `'use strict';\n// The library API (types: dist/lib/index.d.ts).\nmodule.exports = require('./sidetrace.js').api();\n`);
entry('cli/index.js', `#!/usr/bin/env node\n'use strict';\nrequire('../sidetrace.js').cli();\n`, 0o755);
fs.chmodSync(path.join(LIB, 'cli', 'index.js'), 0o755);
const kib = (f) => `${(fs.statSync(path.join(DIST, f)).size / 1024).toFixed(0)} KiB`;
// On stderr: `npm pack --json` runs the build (prepack) and its stdout must stay JSON.
console.error(
  `build: dist/sidetrace.js ${kib('sidetrace.js')}, dist/vendor.js ${kib('vendor.js')} (${vendored.size} packages), dist/instrumentations/ (${INSTRUMENTATION_PACKAGES.length}), dist/lib/ unbundled`,
);
