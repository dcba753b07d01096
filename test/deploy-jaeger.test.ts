// A deploy trace through the real collector into the real Jaeger: the
// parent/child structure a person sees in Jaeger's UI, and the search by
// version that lines the deploy up with the app's own traces.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PRELOAD } from './helpers/app';
import { cli, CLI, HOOKS, run, tempDir } from './helpers/deploy';
import { jaegerTrace, startStack, waitFor, type JaegerSpan, type Stack } from './helpers/stack';

const NODE = process.execPath;
const SERVICE = `shop-${crypto.randomBytes(3).toString('hex')}`;
let stack: Stack;
let dir: string;

before(async () => {
  stack = await startStack();
  dir = tempDir();
});
after(async () => {
  await stack?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl,
  OTEL_SERVICE_NAME: SERVICE,
  SIDETRACE_DEPLOY_TIMEOUT: '0',
  ...extra,
});

function traceIdIn(stderr: string): string {
  const m = /as trace ([0-9a-f]{32})/.exec(stderr);
  assert.ok(m, `the CLI names the trace: ${stderr}`);
  return m[1];
}

const inJaeger = (traceId: string, names: string[]) =>
  waitFor(
    () => jaegerTrace(stack.jaegerUrl, traceId),
    (spans) => names.every((n) => spans.some((s) => s.name === n)),
    { timeoutMs: 30_000, what: `${names.join(', ')} of trace ${traceId} in Jaeger`, describe: (spans) => spans.map((s) => s.name).join(', ') },
  );

async function search(tags: Record<string, string>): Promise<{ traceID: string }[]> {
  const q = new URLSearchParams({ service: SERVICE, tags: JSON.stringify(tags), lookback: '1h', limit: '100' });
  const res = await fetch(`${stack.jaegerUrl}/api/traces?${q}`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as any).data ?? [];
}

describe('deploy traces in Jaeger (real collector, real Jaeger)', () => {
  it('a wrapped deploy: steps, a step across processes and an instrumented child, all under the deploy span', async () => {
    const child = path.join(dir, 'migrate.js');
    fs.writeFileSync(
      child,
      `const api = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
       const parent = api.propagation.extract(api.ROOT_CONTEXT, { traceparent: process.env.TRACEPARENT });
       api.context.with(parent, () => api.trace.getTracer('migrations').startSpan('migrate users').end());`,
    );
    const st = `${NODE} ${CLI} deploy step`;
    const script = [
      `${st} build -- true`,
      `${st} push -- sh -c 'exit 0'`,
      `${st} 'boot web' --open`,
      `${st} 'boot web' --close`,
      `${st} 'health check' -- sh -c 'exit 1' || true`,
      `${NODE} --require ${PRELOAD} ${child}`,
    ].join(' && ');
    const r = await cli(['deploy', '--version', 'v10.1', '--environment', 'production', '--', 'sh', '-c', script], { env: env() });
    assert.equal(r.code, 0, r.err);
    const traceId = traceIdIn(r.err);
    const spans = await inJaeger(traceId, [`deploy ${SERVICE}`, 'build', 'push', 'boot web', 'health check', 'migrate users']);
    const deploy = spans.find((s) => s.name === `deploy ${SERVICE}`)!;
    assert.equal(deploy.parentId, undefined, 'the deploy is the root');
    assert.equal(deploy.service, SERVICE);
    assert.equal(deploy.resource['service.version'], 'v10.1', 'the resource (Jaeger process tags) carries the version');
    assert.equal(deploy.attributes['deployment.status'], 'succeeded');
    assert.equal(deploy.attributes['deployment.environment.name'], 'production');
    const children = spans.filter((s) => s !== deploy);
    for (const s of children) assert.equal(s.parentId, deploy.spanId, `${s.name} is a child of the deploy`);
    const status = (name: string) => children.find((s) => s.name === name)!.status;
    assert.equal(status('health check'), 'ERROR');
    assert.notEqual(status('build'), 'ERROR');
    assert.ok(children.every((s) => s.startTimeMicros >= deploy.startTimeMicros));
  });

  it('a Kamal deploy through the hooks: the deploy, its build and push, and each boot group', async () => {
    const kamal = env({
      SIDETRACE: `${NODE} ${CLI}`,
      TMPDIR: dir,
      KAMAL_SERVICE: SERVICE,
      KAMAL_VERSION: 'kamal-v2',
      KAMAL_DESTINATION: 'production',
      KAMAL_PERFORMER: 'alice@example.com',
      KAMAL_COMMAND: 'deploy',
    });
    const hook = async (name: string, extra: Record<string, string> = {}) => {
      const r = await run(path.join(HOOKS, name), [], { env: { ...kamal, ...extra } });
      assert.equal(r.code, 0, r.err);
      return r;
    };
    const open = await hook('pre-deploy');
    const traceId = traceIdIn(open.err);
    await hook('pre-app-boot', { KAMAL_HOSTS: 'web-1' });
    await hook('post-app-boot', { KAMAL_HOSTS: 'web-1' });
    await hook('pre-app-boot', { KAMAL_HOSTS: 'web-2' });
    await hook('post-app-boot', { KAMAL_HOSTS: 'web-2' });
    await hook('post-deploy', { KAMAL_RUNTIME: '30' });
    const spans = await inJaeger(traceId, [`deploy ${SERVICE}`, 'build and push', 'boot web-1', 'boot web-2']);
    const deploy = spans.find((s) => s.name === `deploy ${SERVICE}`)!;
    assert.equal(deploy.parentId, undefined);
    assert.equal(deploy.attributes['user.name'], 'alice@example.com');
    assert.equal(deploy.resource['service.version'], 'kamal-v2');
    const byName = new Map<string, JaegerSpan>(spans.map((s) => [s.name, s]));
    for (const n of ['build and push', 'boot web-1', 'boot web-2']) assert.equal(byName.get(n)!.parentId, deploy.spanId, n);
    assert.ok(byName.get('boot web-1')!.startTimeMicros < byName.get('boot web-2')!.startTimeMicros);
  });

  it('the search "traces of version X" finds the deploy and the app\'s own traces of that version, and nothing else', async () => {
    const version = `v-${crypto.randomBytes(3).toString('hex')}`;
    const r = await cli(['deploy', '--version', version, '--', 'true'], { env: env() });
    const deployTrace = traceIdIn(r.err);
    // The app, as Kamal starts it: KAMAL_VERSION in its environment gives its resource the same version.
    const app = path.join(dir, 'app.js');
    fs.writeFileSync(
      app,
      `const api = require(${JSON.stringify(require.resolve('@opentelemetry/api'))}); const s = api.trace.getTracer('app').startSpan('GET /orders'); console.log(s.spanContext().traceId); s.end();`,
    );
    const a = await run(NODE, ['--require', PRELOAD, app], { env: env({ KAMAL_VERSION: version }) });
    assert.equal(a.code, 0, a.err);
    const appTrace = a.stdout.toString().trim();
    await inJaeger(deployTrace, [`deploy ${SERVICE}`]);
    await inJaeger(appTrace, ['GET /orders']);

    const found = await waitFor(
      () => search({ 'service.version': version }),
      (t) => t.length >= 2,
      { timeoutMs: 20_000, what: `traces with service.version=${version}` },
    );
    assert.deepEqual(found.map((t) => t.traceID).sort(), [deployTrace, appTrace].sort());
    assert.deepEqual(await search({ 'service.version': `${version}-other` }), []);
  });
});
