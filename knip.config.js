// knip's view of the project for `npm run lint:deps`, which runs it with
// --dependencies: unused and undeclared dependencies. The entry points of the
// package itself (main, exports, bin) knip takes from package.json.
const path = require('node:path');

// The instrumentation table requires these by name (require(spec.pkg)), which
// knip cannot follow: they count as used. scripts/lint-deps.mjs checks that
// each one is declared.
const { INSTRUMENTATION_PACKAGES } = require(path.join(__dirname, 'dist', 'lib', 'instrumentations', 'index.js'));

module.exports = {
  workspaces: {
    '.': {
      entry: [
        'test/**/*.test.ts',
        'test/fixtures/*.{js,mjs}',
        'test/fixtures/migration/*.js',
        'bench/*.mjs',
        'bench/apps/*.js',
        'bench/lib/*.{mjs,cjs}',
        'scripts/*.mjs',
        'examples/**/*.js',
      ],
      project: ['src/**/*.{ts,mts}', 'test/**/*.{ts,js,mjs,cjs}', 'bench/**/*.{js,mjs,cjs}', 'scripts/**/*.mjs', 'examples/**/*.js'],
      // Those the code also imports by a literal name are already used in knip's eyes.
      ignoreDependencies: INSTRUMENTATION_PACKAGES.filter((pkg) => pkg !== '@opentelemetry/instrumentation-http'),
      // System tools: scripts/services-lib.mjs runs useradd when started as root; the HTTPS tests make a certificate with openssl.
      ignoreBinaries: ['useradd', 'openssl'],
    },
    'test/fixtures/express5-app': {
      // Installed only so that the tests load express 5 under the name 'express' from this directory.
      ignoreDependencies: ['express'],
    },
    // Likewise restify 12 and NestJS 12, next to the versions the root installs.
    'test/fixtures/restify12-app': { ignoreDependencies: ['restify'] },
    'test/fixtures/nest12-app': { ignoreDependencies: [/^@nestjs\//] },
  },
};
