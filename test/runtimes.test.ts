// What the preload loads and where it runs: instrumentations load on the app's
// first require of their module (not because the module is installed), and
// the Node version a CI leg meant to test is the one running the tests and
// the apps they start.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startOtlpReceiver, OtlpReceiver } from './helpers/otlp-receiver';
import { BUILD, FIXTURES, REGISTER, ROOT, get, run, startApp, RunningApp } from './helpers/app';
import { useServices } from './helpers/services';
import { nodeStatus } from '../src/cli/node-support';
import { packageNameOf } from '../src/instrumentations/first-require';
import { hasClientRequestCreatedChannel } from '../src/instrumentations/http-client/channels';
import nodeModule from 'node:module';

/** The ESM loader hook runs in-thread (module.registerHooks), so instrumentations load on the app's first import. */
const syncEsmHooks =
  typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function' &&
  (
    nodeModule.createRequire(path.join(ROOT, 'package.json'))('import-in-the-middle/supports-sync-hooks.mjs') as { supportsSyncHooks(): boolean }
  ).supportsSyncHooks();

const services = useServices();
let rx: OtlpReceiver;
const apps: RunningApp[] = [];
before(async () => {
  rx = await startOtlpReceiver();
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await rx.close();
});

let n = 0;
async function lateApp() {
  const service = `late-${++n}`;
  const a = await startApp({
    script: `${FIXTURES}/late-require-app.js`,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
    },
  });
  apps.push(a);
  return { app: a, service, loaded: async () => JSON.parse((await get(`${a.url}/loaded`)).body) as string[] };
}

describe('instrumentations load on first require', () => {
  it('an app that never requires grpc, pg or redis loads none of their instrumentations, though all are installed', async () => {
    const { app, loaded } = await lateApp();
    assert.equal((await get(`${app.url}/hello`)).status, 200);
    // grpc, pg, ioredis and redis are all installed where this app resolves modules. express is
    // required, but under the noise policy its route hook is sidetrace's own, not upstream's package.
    // http's client and fetch spans are sidetrace's own on every Node: the bundle loads no upstream http or undici
    // package (the unbundled build still requires upstream http's attribute builder from node_modules).
    const upstreamHttp = BUILD.endsWith(path.join('dist', 'lib'));
    assert.deepEqual(await loaded(), upstreamHttp ? ['@opentelemetry/instrumentation-http'] : []);
  });

  it('a plain-http app loads no https, tls or worker_threads, and no upstream instrumentation base, until it uses them', async () => {
    const { app } = await lateApp();
    assert.equal((await get(`${app.url}/hello`)).status, 200);
    const { builtins, importInTheMiddle } = JSON.parse((await get(`${app.url}/loaded-builtins`)).body) as { builtins: string[]; importInTheMiddle: boolean };
    assert.ok(builtins.includes('http'), `the list is Node's: ${builtins.join(' ')}`);
    // Where Node has no http.client.request.created channel (Node 20), client spans wrap https.request: https and tls load at start.
    for (const name of hasClientRequestCreatedChannel() ? ['https', 'tls', 'worker_threads'] : ['worker_threads'])
      assert.ok(!builtins.includes(name), `${name} is not loaded: ${builtins.join(' ')}`);
    assert.equal(importInTheMiddle, false, 'import-in-the-middle (with @opentelemetry/instrumentation) is not loaded');
  });

  it('an app that requires pg, ioredis and node-redis after start-up gets their spans under the request', async () => {
    const { app, service, loaded } = await lateApp();
    assert.equal((await get(`${app.url}/late`)).status, 200);
    const mine = (pred: (s: (typeof rx.spans)[number]) => boolean) => (s: (typeof rx.spans)[number]) => s.resource['service.name'] === service && pred(s);
    const [server] = await rx.waitForSpans(mine((s) => s.kind === 2 && s.attributes['http.route'] === '/late'));
    const [query] = await rx.waitForSpans(mine((s) => s.attributes['db.system.name'] === 'postgresql' || s.attributes['db.system'] === 'postgresql'));
    const [ioredis] = await rx.waitForSpans(mine((s) => s.scope.name.includes('ioredis')));
    const [nodeRedis] = await rx.waitForSpans(mine((s) => s.scope.name.includes('instrumentation-redis')));
    for (const child of [query, ioredis, nodeRedis]) {
      assert.equal(child.traceId, server.traceId, `${child.name} is in the request's trace`);
      assert.equal(child.kind, 3);
    }
    assert.match(query.name, /SELECT/);
    const after = await loaded();
    for (const pkg of ['pg', 'ioredis', 'redis'])
      assert.ok(after.includes(`@opentelemetry/instrumentation-${pkg}`), `${pkg} instrumentation loaded after the late require: ${after}`);
    assert.ok(!after.includes('@opentelemetry/instrumentation-grpc'), 'grpc was never required');
  });
});

describe('which package a require names', () => {
  it('bare names, scoped names, paths into node_modules; not relative paths, other paths or core modules', () => {
    const cases: [string, string | undefined][] = [
      ['express', 'express'],
      ['pg/lib/client', 'pg'],
      ['@redis/client', '@redis/client'],
      ['@redis/client/dist/lib/client', '@redis/client'],
      ['/app/node_modules/express', 'express'],
      ['/app/node_modules/a/node_modules/@grpc/grpc-js/build/src/index.js', '@grpc/grpc-js'],
      ['./lib/router', undefined],
      ['../node-modules-like', undefined],
      ['/app/lib/util.js', undefined],
      ['node:http', undefined],
    ];
    for (const [id, name] of cases) assert.equal(packageNameOf(id), name, id);
  });
});

describe('the Node version', () => {
  const expected = process.env.SIDETRACE_EXPECTED_NODE;
  it(`the apps the tests start run on the Node running the tests (${process.version})`, async () => {
    const r = await run(process.execPath, ['-p', 'process.version']);
    assert.equal(r.stdout.trim(), process.version);
  });
  it('sidetrace doctor names the running Node, with its end of life, and says when it is past it', async () => {
    const r = await run(process.execPath, [path.join(ROOT, 'dist', 'cli', 'index.js'), 'doctor'], {
      env: { SIDETRACE_COLLECTOR_HEALTH_URL: 'none' },
      timeoutMs: 40_000,
    });
    const row = r.stdout.split('\n').find((l) => /^\s+node\s/.test(l));
    assert.ok(row, `a node row: ${r.stdout}`);
    assert.ok(row.includes(`v${process.versions.node}`), row);
    assert.match(row, /supported: Node ≥ 20\.6\.0, tested on 20, 22, 24, 26/);
    // Node 20 reached its end of life on 2026-04-30, before this test was written.
    if (process.versions.node.startsWith('20.')) assert.match(row, /past its end of life \(2026-04-30\).*move to Node 22 or later/);
    else assert.match(row, /, end of life 20\d\d-\d\d-\d\d \(/);
  });

  it('the end-of-life table: supported range, end of life by date', () => {
    const may2026 = new Date('2026-05-01T00:00:00Z');
    assert.deepEqual(nodeStatus('20.20.2', may2026), { version: '20.20.2', supported: true, endOfLife: '2026-04-30', pastEndOfLife: true });
    assert.equal(nodeStatus('20.20.2', new Date('2026-04-30T12:00:00Z')).pastEndOfLife, false);
    assert.equal(nodeStatus('20.5.0', may2026).supported, false);
    assert.equal(nodeStatus('24.22.3', may2026).pastEndOfLife, false);
    assert.equal(nodeStatus('27.0.0', may2026).endOfLife, undefined);
  });

  it(`is the one this CI leg meant to test (SIDETRACE_EXPECTED_NODE=${expected ?? ''})`, {
    skip: expected ? false : 'SIDETRACE_EXPECTED_NODE is not set (a run outside the CI matrix)',
  }, () => {
    // A major ("20") or an exact version ("24.22.3").
    const want = expected!.replace(/^v/, '');
    if (/^\d+$/.test(want)) assert.equal(process.versions.node.split('.')[0], want, `running ${process.version}`);
    else assert.equal(process.versions.node, want);
  });
});

describe('worker_threads', () => {
  it('a Worker under the preload starts no second exporter; its spans reach the receiver through the main thread, in the request trace', async () => {
    const service = 'worker-svc';
    const a = await startApp({
      script: `${FIXTURES}/worker-app.js`,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service, OTEL_BSP_SCHEDULE_DELAY: '50' },
    });
    apps.push(a);
    const r = await get(`${a.url}/work`);
    assert.equal(r.body, 'worker got 200');
    const mine = (pred: (s: (typeof rx.spans)[number]) => boolean) => (s: (typeof rx.spans)[number]) => s.resource['service.name'] === service && pred(s);
    const [work] = await rx.waitForSpans(mine((s) => s.kind === 2 && s.attributes['http.route'] === '/work'));
    const [task] = await rx.waitForSpans(mine((s) => s.name === 'worker-task'));
    const [call] = await rx.waitForSpans(mine((s) => s.kind === 3 && s.parentSpanId === task.spanId));
    const [hello] = await rx.waitForSpans(mine((s) => s.kind === 2 && s.attributes['http.route'] === '/hello'));
    assert.equal(task.parentSpanId, work.spanId, 'the worker span continues the request that started the worker');
    assert.equal(hello.parentSpanId, call.spanId, "the worker's outgoing call is the parent of the server span it reached");
    for (const s of [task, call, hello]) assert.equal(s.traceId, work.traceId);
    // One SDK with one resource: a second SDK in the worker would detect its own service.instance.id.
    assert.ok(work.resource['service.instance.id'], 'the main thread has a service.instance.id');
    for (const s of [task, call]) assert.equal(s.resource['service.instance.id'], work.resource['service.instance.id']);
    const lines = a
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('sidetrace:'));
    assert.equal(lines.length, 1, `one start-up line, from the main thread: ${lines.join(' | ')}`);
  });
});

describe('worker_threads, tracing off', () => {
  it('the one tracing-off line comes from the main thread only; the Worker runs untraced', async () => {
    const a = await startApp({ script: `${FIXTURES}/worker-app.js`, env: { OTEL_SERVICE_NAME: 'worker-off-svc' } });
    apps.push(a);
    assert.equal((await get(`${a.url}/work`)).body, 'worker got 200');
    await a.stop();
    const lines = a
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('sidetrace:'));
    assert.deepEqual(lines, [
      'sidetrace: tracing is off: no exporter is configured; set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER) or SIDETRACE_ENABLED=true to turn it on',
    ]);
  });
});

describe('ESM (--import sidetrace/register, the loader hook limited to instrumented modules)', () => {
  it('an ESM app importing express and pg is traced: the route, and the query under it', async () => {
    const service = 'esm-pg-svc';
    const a = await startApp({
      script: `${FIXTURES}/esm-pg-app.mjs`,
      nodeArgs: ['--import', REGISTER],
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service, OTEL_BSP_SCHEDULE_DELAY: '50', DATABASE_URL: services.databaseUrl },
    });
    apps.push(a);
    assert.equal((await get(`${a.url}/esm-users/5`)).body, 'user 5');
    const mine = (pred: (s: (typeof rx.spans)[number]) => boolean) => (s: (typeof rx.spans)[number]) => s.resource['service.name'] === service && pred(s);
    const [server] = await rx.waitForSpans(mine((s) => s.kind === 2 && s.attributes['http.route'] === '/esm-users/:id'));
    const [query] = await rx.waitForSpans(mine((s) => s.kind === 3 && /SELECT/.test(s.name)));
    assert.equal(query.traceId, server.traceId);
    // With the in-thread hook (module.registerHooks) they load on the first import; with the off-thread one, at start when installed.
    if (syncEsmHooks) assert.match(a.stderr(), /instrumentations: http, undici \(\+\d+ when the app first imports or requires their module\)/);
    else assert.match(a.stderr(), /instrumentations: http, undici, .*express.*pg/);
  });

  it('leaves the modules no instrumentation patches alone (not wrapped by the hook), while pg is wrapped and traced', async () => {
    const service = 'esm-bypass-svc';
    const a = await startApp({
      script: `${FIXTURES}/esm-bypass-app.mjs`,
      nodeArgs: ['--import', REGISTER],
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service, OTEL_BSP_SCHEDULE_DELAY: '50', DATABASE_URL: services.databaseUrl },
    });
    apps.push(a);
    assert.equal((await get(`${a.url}/bypass-users/7`)).body, 'user 7 1s');
    const { resolved, loaded } = JSON.parse((await get(`${a.url}/resolved`)).body) as { resolved: Record<string, string>; loaded: string[] };
    // import-in-the-middle wraps a module by resolving it to its own URL (`?iitm=true`): what the app's loader
    // chain resolves each specifier to shows which modules the hook took over.
    assert.match(resolved.pg, /[?&]iitm=true/, 'pg, which the pg instrumentation patches, is wrapped');
    for (const specifier of ['ms', './esm-helper.mjs', 'express']) {
      assert.doesNotMatch(resolved[specifier], /iitm/, `${specifier} goes through Node untouched: ${resolved[specifier]}`);
      assert.ok(resolved[specifier].startsWith('file:///'), resolved[specifier]);
    }
    const mine = (pred: (s: (typeof rx.spans)[number]) => boolean) => (s: (typeof rx.spans)[number]) => s.resource['service.name'] === service && pred(s);
    const [server] = await rx.waitForSpans(mine((s) => s.kind === 2 && s.attributes['http.route'] === '/bypass-users/:id'));
    const [query] = await rx.waitForSpans(mine((s) => s.kind === 3 && /SELECT/.test(s.name)));
    assert.equal(query.traceId, server.traceId);
    assert.equal(query.parentSpanId, server.spanId);
    assert.ok(loaded.includes('@opentelemetry/instrumentation-pg'), `${loaded}`);
    // grpc, ioredis and redis are installed where the app resolves modules, but it never imports them.
    if (syncEsmHooks)
      for (const pkg of ['grpc', 'ioredis', 'redis', 'pino'])
        assert.ok(!loaded.includes(`@opentelemetry/instrumentation-${pkg}`), `${pkg} not loaded: ${loaded}`);
  });
});
