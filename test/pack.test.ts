// The package as users get it: `npm pack` (its prepack script builds dist/
// from a clean slate), the tarball installed into a fresh app with npm and
// with pnpm (strict layout: only what sidetrace declares resolves from its
// code), then the app under `node --require sidetrace/preload` sends its
// server span to a real OTLP receiver, and `npx sidetrace --version` answers.
// The installs run from the package managers' caches when they hold the
// packages (--prefer-offline): only the first run on a machine downloads.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, get, run, startApp } from './helpers/app';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';

const PNPM = path.join(path.dirname(require.resolve('pnpm/package.json')), 'pnpm');
const VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const INSTALL_TIMEOUT_MS = 240_000;

const APP = `const http = require('node:http');
const server = http.createServer((req, res) => res.end('hello'));
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
`;

let work: string;
let tarball: string;
let rx: OtlpReceiver;
/** Both installs run side by side, started once the tarball is packed. */
const installs = new Map<'npm' | 'pnpm', Promise<string>>();

/** A fresh app directory with the tarball as its one dependency, installed by `installer`. */
async function installApp(installer: 'npm' | 'pnpm'): Promise<string> {
  const dir = path.join(work, `app-${installer}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `pack-smoke-${installer}`, version: '1.0.0', private: true, dependencies: { sidetrace: `file:${tarball}` } }),
  );
  fs.writeFileSync(path.join(dir, 'app.js'), APP);
  // pnpm runs no dependency's build script unless told; protobufjs's postinstall (a version notice) is not needed.
  if (installer === 'pnpm') fs.writeFileSync(path.join(dir, 'pnpm-workspace.yaml'), 'allowBuilds:\n  protobufjs: false\n');
  const [cmd, args] =
    installer === 'npm'
      ? ['npm', ['install', '--no-audit', '--no-fund', '--prefer-offline']]
      : [PNPM, ['install', '--prefer-offline', '--config.node-linker=isolated', '--config.hoist=false']];
  const r = await run(cmd, args, { cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS });
  assert.equal(r.code, 0, `${installer} install failed: ${r.stdout}\n${r.stderr}`);
  return dir;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-pack-'));
  rx = await startOtlpReceiver();
  const packed = await run('npm', ['pack', '--pack-destination', work, '--json'], { timeoutMs: INSTALL_TIMEOUT_MS });
  assert.equal(packed.code, 0, `npm pack failed: ${packed.stderr}`);
  tarball = path.join(work, JSON.parse(packed.stdout)[0].filename);
  for (const installer of ['npm', 'pnpm'] as const) {
    const installing = installApp(installer);
    installing.catch(() => {}); // reported by the installer's own tests
    installs.set(installer, installing);
  }
});

after(async () => {
  await rx?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships dist/, the collector configs, the dashboards and the LICENSE, and no tests', async () => {
    const r = await run('tar', ['-tzf', tarball]);
    assert.equal(r.code, 0, r.stderr);
    const files = r.stdout.split('\n').filter(Boolean);
    for (const f of [
      'package/dist/preload.js',
      'package/dist/register.mjs',
      'package/dist/cli/index.js',
      'package/dist/index.js',
      'package/dist/lib/index.d.ts',
      'package/LICENSE',
      'package/README.md',
    ]) {
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    }
    assert.ok(
      files.some((f) => f.startsWith('package/collector/')),
      'no collector configs',
    );
    assert.ok(
      files.some((f) => f.startsWith('package/dashboards/')),
      'no dashboards',
    );
    assert.deepEqual(
      files.filter((f) => /^package\/(test|src|bench|scripts)\//.test(f)),
      [],
    );
  });

  for (const installer of ['npm', 'pnpm'] as const) {
    describe(`installed with ${installer}`, () => {
      let dir: string;
      before(async () => {
        dir = await installs.get(installer)!;
      });

      it('traces the app under node --require sidetrace/preload: a server span reaches the OTLP receiver', async () => {
        const resolved = await run(process.execPath, ['-p', "require.resolve('sidetrace/preload')"], { cwd: dir });
        assert.ok(fs.realpathSync(resolved.stdout.trim()).startsWith(fs.realpathSync(dir)), `sidetrace/preload resolved outside the app: ${resolved.stdout}`);
        const service = `pack-smoke-${installer}`;
        const app = await startApp({
          script: path.join(dir, 'app.js'),
          cwd: dir,
          nodeArgs: ['--require', 'sidetrace/preload'],
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service },
        });
        try {
          assert.equal((await get(`${app.url}/hello`)).status, 200);
          const [span] = await rx.waitForSpans((s: ReceivedSpan) => s.kind === 2 && s.resource['service.name'] === service, { timeoutMs: 20_000 });
          assert.equal(span.attributes['url.path'] ?? span.attributes['http.target'], '/hello');
          assert.equal(span.resource['telemetry.distro.version'], VERSION);
          assert.doesNotMatch(app.stderr(), /Cannot find module|ERR_MODULE_NOT_FOUND/);
        } finally {
          await app.stop();
        }
      });

      it('runs the sidetrace command: npx -- sidetrace --version', async () => {
        // `--` keeps npx from taking --version for its own.
        const r = await run('npx', ['--no', '--', 'sidetrace', '--version'], { cwd: dir, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), VERSION);
      });
    });
  }
});
