// Spans across processes through the carrier file, and the sample Kamal
// hooks (examples/kamal/.kamal/hooks) run in Kamal's order with Kamal's
// variables: a deploy, a failed deploy closed by the next one, a rollback,
// and the watchdog for a deploy nothing closes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, CLI, HOOKS, run, tempDir, tracingEnv } from './helpers/deploy';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';

let receiver: OtlpReceiver;
let dir: string;

before(async () => {
  receiver = await startOtlpReceiver();
  dir = tempDir();
});
after(async () => {
  await receiver.close();
  fs.rmSync(dir, { recursive: true, force: true }); // a watchdog still polling sees its carrier gone and exits
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

describe('carrier file', () => {
  it('a deploy and a step opened and closed by four separate processes keep their ids and start times', async () => {
    const file = path.join(dir, 'direct', 'carrier.json');
    const env = tracingEnv(receiver);
    const open = await cli(['deploy', 'open', '--carrier', file, '--version', 'v9', '--id', 'carrier-1'], { env });
    assert.equal(open.code, 0, open.err);
    const opened = JSON.parse(fs.readFileSync(file, 'utf8'));
    const [, traceId, deploySpanId] = opened.deploy.traceparent.split('-');
    assert.match(open.err, new RegExp(`^sidetrace: opened deploy shop as trace ${traceId} in ${file}$`, 'm'));

    assert.equal((await cli(['deploy', 'step', 'migrate', '--open', '--carrier', file], { env })).code, 0);
    const stepOpened = JSON.parse(fs.readFileSync(file, 'utf8')).steps.migrate;
    assert.equal((await cli(['deploy', 'step', 'migrate', '--close', '--carrier', file], { env })).code, 0);
    const close = await cli(['deploy', 'close', '--carrier', file], { env });
    assert.equal(close.code, 0, close.err);
    assert.equal(fs.existsSync(file), false, 'the carrier is gone once the deploy is closed');

    const [deploy] = await receiver.waitForSpans((s) => s.attributes['deployment.id'] === 'carrier-1' && s.name === 'deploy shop');
    assert.equal(deploy.traceId, traceId);
    assert.equal(deploy.spanId, deploySpanId, 'the span id recorded at open');
    assert.equal(deploy.parentSpanId, '');
    assert.equal(deploy.startTimeUnixNano, BigInt(opened.deploy.startTimeUnixNano), 'the start time recorded at open');
    assert.equal(deploy.attributes['deployment.status'], 'succeeded');
    assert.equal(deploy.resource['service.version'], 'v9');
    const [step] = await receiver.waitForSpans((s) => s.name === 'migrate' && s.traceId === traceId);
    assert.equal(step.parentSpanId, deploySpanId);
    assert.equal(step.spanId, stepOpened.traceparent.split('-')[2]);
    assert.equal(step.startTimeUnixNano, BigInt(stepOpened.startTimeUnixNano));
    assert.ok(step.endTimeUnixNano <= deploy.endTimeUnixNano);
  });

  it('closing with --status failed records a failed deploy', async () => {
    const file = path.join(dir, 'failed', 'carrier.json');
    const env = tracingEnv(receiver);
    assert.equal((await cli(['deploy', 'open', '--carrier', file, '--id', 'carrier-2'], { env })).code, 0);
    assert.equal((await cli(['deploy', 'close', '--carrier', file, '--status', 'failed'], { env })).code, 0);
    const [deploy] = await receiver.waitForSpans((s) => s.attributes['deployment.id'] === 'carrier-2');
    assert.equal(deploy.status.code, 2);
    assert.equal(deploy.attributes['deployment.status'], 'failed');
  });
});

describe('Kamal hooks', () => {
  const kamal = (extra: Record<string, string>) =>
    tracingEnv(receiver, {
      OTEL_SERVICE_NAME: undefined, // Kamal's KAMAL_SERVICE names the service
      SIDETRACE: `${process.execPath} ${CLI}`,
      TMPDIR: dir, // the hooks' default carrier lives in TMPDIR
      KAMAL_SERVICE: 'shop',
      KAMAL_DESTINATION: 'production',
      KAMAL_PERFORMER: 'alice@example.com',
      KAMAL_RECORDED_AT: new Date().toISOString(),
      KAMAL_COMMAND: 'deploy',
      ...extra,
    });

  async function hook(name: string, env: Record<string, string | undefined>) {
    const r = await run(path.join(HOOKS, name), [], { env });
    assert.equal(r.code, 0, `${name} always exits 0: ${r.err}`);
    return r;
  }

  it('record a deploy, each boot group, and the build and push before pre-deploy', async () => {
    const env = kamal({ KAMAL_VERSION: 'a1b2c3d' });
    await hook('pre-deploy', env);
    assert.ok(fs.existsSync(path.join(dir, 'sidetrace-deploy-shop-production.json')), 'the carrier at the default path in TMPDIR');
    await hook('pre-app-boot', { ...env, KAMAL_HOSTS: '10.0.0.1,10.0.0.2' });
    await hook('post-app-boot', { ...env, KAMAL_HOSTS: '10.0.0.1,10.0.0.2' });
    await hook('pre-app-boot', { ...env, KAMAL_HOSTS: '10.0.0.3' });
    await hook('post-app-boot', { ...env, KAMAL_HOSTS: '10.0.0.3' });
    await hook('post-deploy', { ...env, KAMAL_RUNTIME: '42' });

    const [deploy] = await receiver.waitForSpans((s) => s.name === 'deploy shop' && s.attributes['service.version'] === 'a1b2c3d');
    assert.notEqual(deploy.status.code, 2);
    assert.deepEqual(
      {
        status: deploy.attributes['deployment.status'],
        env: deploy.attributes['deployment.environment.name'],
        user: deploy.attributes['user.name'],
        runtime: deploy.attributes['kamal.runtime'],
        command: deploy.attributes['kamal.command'],
        kind: deploy.attributes['sidetrace.deploy.kind'],
        resourceVersion: deploy.resource['service.version'],
        service: deploy.resource['service.name'],
      },
      {
        status: 'succeeded',
        env: 'production',
        user: 'alice@example.com',
        runtime: 42,
        command: 'deploy',
        kind: 'deploy',
        resourceVersion: 'a1b2c3d',
        service: 'shop',
      },
    );
    assert.equal(deploy.endTimeUnixNano - deploy.startTimeUnixNano, 42_000_000_000n, 'KAMAL_RUNTIME sets the start: the build and push came first');
    const children = await receiver.waitForSpans((s) => s.traceId === deploy.traceId && s.parentSpanId === deploy.spanId, { count: 3 });
    const byName = Object.fromEntries(children.map((s) => [s.name, s]));
    assert.deepEqual(Object.keys(byName).sort(), ['boot 10.0.0.1,10.0.0.2', 'boot 10.0.0.3', 'build and push']);
    assert.equal(byName['boot 10.0.0.3'].attributes['kamal.hosts'], '10.0.0.3');
    assert.ok(byName['boot 10.0.0.1,10.0.0.2'].endTimeUnixNano <= byName['boot 10.0.0.3'].startTimeUnixNano, 'boot groups in order');
    assert.equal(byName['build and push'].startTimeUnixNano, deploy.startTimeUnixNano);
    for (const child of children) assert.equal(child.attributes['deployment.id'], deploy.attributes['deployment.id'], `${child.name} names its deploy`);
    assert.ok(byName['build and push'].endTimeUnixNano <= byName['boot 10.0.0.1,10.0.0.2'].startTimeUnixNano);
    assert.equal(fs.existsSync(path.join(dir, 'sidetrace-deploy-shop-production.json')), false);
  });

  it('a deploy whose post-deploy never ran is closed as failed at the next pre-deploy, under its own version', async () => {
    const first = kamal({ KAMAL_VERSION: 'bad0001' });
    await hook('pre-deploy', first);
    await hook('pre-app-boot', { ...first, KAMAL_HOSTS: '10.0.0.1' });
    // The boot fails: Kamal runs neither post-app-boot nor post-deploy.
    const second = kamal({ KAMAL_VERSION: 'good002' });
    const next = await hook('pre-deploy', second);
    assert.match(
      next.err,
      /^sidetrace: closed deploy shop \(trace [0-9a-f]{32}\) as failed: the deploy never finished \(the next deploy started before anything closed it\)$/m,
    );

    const [failed] = await receiver.waitForSpans((s) => s.name === 'deploy shop' && s.attributes['service.version'] === 'bad0001');
    assert.equal(failed.status.code, 2);
    assert.equal(failed.status.message, 'the deploy never finished (the next deploy started before anything closed it)');
    assert.equal(failed.attributes['deployment.status'], 'failed');
    assert.equal(failed.resource['service.version'], 'bad0001', 'reported under the version it deployed');
    const [boot] = await receiver.waitForSpans((s) => s.traceId === failed.traceId && s.name === 'boot 10.0.0.1');
    assert.equal(boot.parentSpanId, failed.spanId);
    assert.equal(boot.status.code, 2);
    assert.equal(failed.endTimeUnixNano, boot.startTimeUnixNano, 'ends at its last recorded activity, not at the next deploy');

    await hook('post-deploy', second);
    const [good] = await receiver.waitForSpans((s) => s.name === 'deploy shop' && s.attributes['service.version'] === 'good002');
    assert.equal(good.attributes['deployment.status'], 'succeeded');
    assert.notEqual(good.traceId, failed.traceId);
  });

  it('record a rollback as a rollback', async () => {
    const env = kamal({ KAMAL_VERSION: 'old0003', KAMAL_COMMAND: 'rollback' });
    await hook('pre-deploy', env);
    await hook('pre-app-boot', { ...env, KAMAL_HOSTS: '10.0.0.1' });
    await hook('post-app-boot', { ...env, KAMAL_HOSTS: '10.0.0.1' });
    await hook('post-deploy', { ...env, KAMAL_RUNTIME: '9' });
    const [rollback] = await receiver.waitForSpans((s) => s.name === 'rollback shop');
    assert.equal(rollback.attributes['sidetrace.deploy.kind'], 'rollback');
    assert.equal(rollback.attributes['deployment.name'], 'rollback shop old0003 to production');
    assert.equal(rollback.attributes['deployment.status'], 'succeeded');
    const children = await receiver.waitForSpans((s) => s.traceId === rollback.traceId && s.parentSpanId === rollback.spanId);
    assert.deepEqual(
      children.map((s) => s.name),
      ['boot 10.0.0.1'],
      'a rollback builds nothing',
    );
  });

  it('a watchdog closes a deploy nothing closes after SIDETRACE_DEPLOY_TIMEOUT, then exits', async () => {
    const env = kamal({ KAMAL_VERSION: 'hang004', KAMAL_DESTINATION: 'staging', SIDETRACE_DEPLOY_TIMEOUT: '1' });
    await hook('pre-deploy', env);
    const watcher = JSON.parse(fs.readFileSync(path.join(dir, 'sidetrace-deploy-shop-staging.json'), 'utf8')).deploy.watcherPid as number;
    assert.ok(watcher > 0);
    const [span] = await receiver.waitForSpans((s) => s.name === 'deploy shop' && s.attributes['service.version'] === 'hang004');
    assert.equal(span.status.message, 'the deploy did not finish within 1 s (nothing closed it)');
    assert.equal(span.attributes['deployment.status'], 'failed');
    assert.ok(await gone(watcher), 'the watchdog exits after closing it');
    assert.equal(fs.existsSync(path.join(dir, 'sidetrace-deploy-shop-staging.json')), false);
  });

  it('the watchdog of a deploy that closes normally exits without emitting anything', async () => {
    const env = kamal({ KAMAL_VERSION: 'fine005', KAMAL_DESTINATION: 'qa', SIDETRACE_DEPLOY_TIMEOUT: '600' });
    await hook('pre-deploy', env);
    const watcher = JSON.parse(fs.readFileSync(path.join(dir, 'sidetrace-deploy-shop-qa.json'), 'utf8')).deploy.watcherPid as number;
    assert.ok(alive(watcher), 'watching');
    await hook('post-deploy', env);
    assert.ok(await gone(watcher), 'the watchdog sees the deploy closed and exits');
    const spans = await receiver.waitForSpans((s) => s.attributes['service.version'] === 'fine005' && s.name === 'deploy shop');
    assert.equal(spans.length, 1);
    assert.equal(spans[0].attributes['deployment.status'], 'succeeded');
  });

  it('under `sidetrace deploy -- kamal deploy` (GitHub Actions), the boot groups join the wrapping deploy', async () => {
    const env = kamal({ KAMAL_VERSION: 'wrap007', KAMAL_DESTINATION: 'ci' });
    const h = (name: string) => path.join(HOOKS, name);
    const kamalDeploy = `${h('pre-deploy')} && KAMAL_HOSTS=10.0.0.9 ${h('pre-app-boot')} && KAMAL_HOSTS=10.0.0.9 ${h('post-app-boot')} && KAMAL_RUNTIME=5 ${h('post-deploy')}`;
    const r = await cli(['deploy', '--version', 'wrap007', '--', 'sh', '-c', kamalDeploy], { env });
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /not recorded|continuing/, 'no hook complains');
    assert.match(r.err, /^sidetrace: the deploy is already recorded by the sidetrace deploy wrapping this one \(pid \d+\); its steps join that deploy$/m);
    const [deploy] = await receiver.waitForSpans((s) => s.name === 'deploy shop' && s.attributes['service.version'] === 'wrap007');
    const [boot] = await receiver.waitForSpans((s) => s.name === 'boot 10.0.0.9' && s.traceId === deploy.traceId);
    assert.equal(boot.parentSpanId, deploy.spanId);
    assert.equal(receiver.spans.filter((s) => s.traceId === deploy.traceId && s.name === 'deploy shop').length, 1, 'one deploy span, not one per layer');
    assert.equal(fs.existsSync(path.join(dir, 'sidetrace-deploy-shop-ci.json')), false, 'the hooks did not write a carrier of their own');
  });

  it('hooks never fail a deploy: a post-deploy with nothing to close says so and exits 0', async () => {
    const r = await hook('post-deploy', kamal({ KAMAL_VERSION: 'none006', KAMAL_DESTINATION: 'nowhere' }));
    assert.match(r.err, /^sidetrace: no open deploy in .*sidetrace-deploy-shop-nowhere\.json \(did `sidetrace deploy open` run\?\); nothing to close$/m);
    assert.match(r.err, /^sidetrace: the deploy span was not closed; continuing$/m);
  });
});
