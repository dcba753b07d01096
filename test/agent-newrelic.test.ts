// SIDETRACE_AGENT=newrelic with the real `newrelic` agent. The agent gets a
// dummy license key and a closed port on 127.0.0.1, so it instruments but can
// never send; the tests read what it holds for its next harvest (its span
// events and transaction events) through test/fixtures/nr-collected.js.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServices } from '../scripts/services-lib.mjs';
import { FIXTURES, ROOT, get, run, startApp, type RunningApp } from './helpers/app';
import { refusedPort } from './helpers/refused-port.mjs';

/** 40 characters, the shape the agent expects; it never reaches New Relic. */
const LICENSE_KEY = `${'x'.repeat(36)}NRAL`;
const APP = path.join(FIXTURES, 'nr-app.js');
const COLLECTED = path.join(FIXTURES, 'nr-collected.js');
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');

type Attrs = Record<string, unknown>;
/** An event as the agent sends it: intrinsics, user (custom) attributes, agent attributes. */
type NrEvent = [Attrs, Attrs, Attrs];
interface Collected {
  agentLoaded: boolean;
  agentState?: string;
  spans: NrEvent[];
  transactions: NrEvent[];
  modules: { newrelic: boolean; sidetraceSdk: boolean; otelInstrumentations: number; otelSdkTraceNode: boolean };
}

let tmp: string;
let closedPort: number;
const apps: RunningApp[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-nr-'));
  // No listener: every connect is refused.
  closedPort = await refusedPort();
});

after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

function agentEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    SIDETRACE_AGENT: 'newrelic',
    NEW_RELIC_LICENSE_KEY: LICENSE_KEY,
    NEW_RELIC_APP_NAME: 'sidetrace-nr-test',
    NEW_RELIC_HOST: '127.0.0.1',
    NEW_RELIC_PORT: String(closedPort),
    NEW_RELIC_LOG: path.join(tmp, 'newrelic_agent.log'),
    // Sample every transaction, so span events never depend on the adaptive sampler's luck.
    NEW_RELIC_DISTRIBUTED_TRACING_SAMPLER_ROOT: 'always_on',
    HOME: tmp,
    ...extra,
  };
}

async function start(env: Record<string, string | undefined>, cwd?: string): Promise<RunningApp> {
  const app = await startApp({ script: APP, env, cwd, timeoutMs: 30_000 });
  apps.push(app);
  return app;
}

async function collected(app: RunningApp): Promise<Collected> {
  const r = await get(`${app.url}/collected`);
  assert.equal(r.status, 200);
  return JSON.parse(r.body) as Collected;
}

async function getJson<T>(url: string): Promise<T> {
  const r = await get(url);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as T;
}

const txNamed = (c: Collected, name: string) => c.transactions.filter((t) => t[0].name === name);
const spansNamed = (c: Collected, name: string) => c.spans.filter((s) => s[0].name === name);
const sidetraceLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('sidetrace:'));

function onlyOne(events: NrEvent[], what: string): NrEvent {
  assert.equal(events.length, 1, `expected one ${what}, got ${events.length}`);
  return events[0];
}

test('agent mode: the agent instruments the app; root work, migrations and deploys become named background transactions', async () => {
  const app = await start(agentEnv());
  const secrets = { Cookie: 'session=s3cret-cookie', Authorization: 'Bearer s3cret-auth' };
  for (const p of ['/hello', '/users/42?token=s3cret-token', '/health', '/up', '/assets/app.css']) assert.equal((await get(app.url + p, secrets)).status, 200);
  const work = await getJson<{ internal: string; consumer: string }>(`${app.url}/root-work`);
  const migration = await getJson<{ runId: string; status: string }>(`${app.url}/migration`);
  const deploy = await getJson<{ traceId: string; deploymentId: string }>(`${app.url}/deploy`);
  const c = await collected(app);

  // One start-up line, no key in it; the agent loaded, never connected; no OpenTelemetry SDK beside it.
  const [startLine, ...others] = sidetraceLines(app.stderr());
  assert.match(startLine, /New Relic agent 13\.\d+\.\d+ for app sidetrace-nr-test .*OpenTelemetry bridge on.*noise policy on/);
  assert.deepEqual(others, [`sidetrace: recording deploy nr-shop v42 to staging as trace ${deploy.traceId}`]);
  assert.ok(!app.stderr().includes(LICENSE_KEY));
  assert.equal(c.agentLoaded, true);
  assert.ok(!['connected', 'started'].includes(c.agentState ?? ''), `agent state ${c.agentState}`);
  assert.deepEqual(c.modules, { newrelic: true, sidetraceSdk: false, otelInstrumentations: 0, otelSdkTraceNode: false });

  // The agent's own instrumentation names web transactions by route.
  const names = c.transactions.map((t) => String(t[0].name));
  assert.ok(names.includes('WebTransaction/Expressjs/GET//hello'), names.join('\n'));
  assert.ok(names.includes('WebTransaction/Expressjs/GET//users/:id'), names.join('\n'));
  // Nothing named `unknown` (the bridge's name for a root span it cannot place), nor `undefined/…` (a transaction ended by a CONSUMER span).
  for (const n of [...names, ...c.spans.map((s) => String(s[0].name))]) assert.doesNotMatch(n, /unknown|^undefined/i);

  // Raw root work from inside a web transaction: a transaction of its own, with the root span's trace id and attributes.
  const web = onlyOne(txNamed(c, 'WebTransaction/Expressjs/GET//root-work'), 'root-work web transaction');
  const internal = onlyOne(txNamed(c, 'OtherTransaction/RootWorkTest/internal-root'), 'internal-root transaction');
  assert.equal(internal[0].traceId, work.internal);
  assert.notEqual(internal[0].guid, web[0].guid);
  assert.deepEqual(internal[1], { 'custom.kind': 'internal', 'custom.count': 3 });
  for (const name of ['custom.internal', 'custom.internal.child']) {
    const span = onlyOne(spansNamed(c, name), name);
    assert.equal(span[0].transactionId, internal[0].guid, name);
    assert.equal(span[0].traceId, work.internal, name);
  }
  assert.equal(onlyOne(spansNamed(c, 'custom.internal'), 'custom.internal')[2]['custom.count'], 3);
  // A CONSUMER root span neither names nor ends its transaction: the span after it is in the same one.
  const consumer = onlyOne(txNamed(c, 'OtherTransaction/RootWorkTest/consumer-root'), 'consumer-root transaction');
  assert.equal(consumer[0].traceId, work.consumer);
  for (const name of ['custom.consumer', 'custom.after_consumer']) assert.equal(onlyOne(spansNamed(c, name), name)[0].transactionId, consumer[0].guid, name);

  // A migration: one background transaction per batch, one for the run, one per marker; ids searchable.
  assert.equal(migration.status, 'failed');
  const runTx = onlyOne(txNamed(c, 'OtherTransaction/Migration/migration.run nr-backfill'), 'run transaction');
  assert.equal(runTx[1]['migration.run_id'], migration.runId);
  assert.equal(runTx[1]['migration.run.status'], 'failed');
  const runSpan = onlyOne(spansNamed(c, 'migration.run nr-backfill'), 'run span');
  assert.equal(runSpan[0].traceId, runTx[0].traceId);
  assert.equal(runSpan[2]['migration.run.batches.committed'], 2);
  assert.equal(runSpan[2]['migration.run.batches.errored'], 1);
  const batches = txNamed(c, 'OtherTransaction/Migration/migration.batch nr-backfill');
  assert.equal(batches.length, 3);
  assert.deepEqual(batches.map((b) => b[1]['migration.batch.index']).sort(), [0, 1, 2]);
  for (const b of batches) {
    assert.equal(b[1]['migration.name'], 'nr-backfill');
    assert.equal(b[1]['migration.run_id'], migration.runId);
    // The batch that threw is an error transaction.
    const failed = b[1]['migration.batch.index'] === 2;
    assert.equal(b[1]['migration.batch.outcome'], failed ? 'error' : 'committed');
    assert.equal(b[0].error, failed);
    // The batch's link to the run, as an attribute that finds the run's trace.
    assert.equal(b[1]['link.run.trace_id'], runTx[0].traceId);
    assert.notEqual(b[0].traceId, runTx[0].traceId);
  }
  const batchSpans = spansNamed(c, 'migration.batch nr-backfill');
  assert.equal(batchSpans.length, 3);
  const second = batchSpans.find((s) => s[2]['migration.batch.index'] === 1)!;
  assert.equal(second[2]['migration.records.failed'], 1);
  assert.equal(second[2]['migration.run_id'], migration.runId);
  assert.equal(second[0].transactionId, batches.find((b) => b[1]['migration.batch.index'] === 1)![0].guid);
  for (const marker of ['migration.run.start', 'migration.run.end']) {
    const tx = onlyOne(txNamed(c, `OtherTransaction/Migration/${marker}`), marker);
    assert.equal(tx[1]['migration.run_id'], migration.runId);
  }

  // A deploy: its transaction carries the trace id sidetrace announced and the deployment attributes.
  const deployTx = onlyOne(txNamed(c, 'OtherTransaction/Deploy/deploy nr-shop'), 'deploy transaction');
  assert.equal(deployTx[0].traceId, deploy.traceId);
  assert.equal(deployTx[1]['deployment.id'], deploy.deploymentId);
  assert.equal(deployTx[1]['deployment.environment.name'], 'staging');
  assert.equal(deployTx[1]['service.version'], 'v42');
  const deploySpan = onlyOne(spansNamed(c, 'deploy nr-shop'), 'deploy span');
  assert.equal(deploySpan[0].transactionId, deployTx[0].guid);
  assert.equal(deploySpan[2]['deployment.status'], 'succeeded');
  assert.equal(deploySpan[2]['deployment.id'], deploy.deploymentId);

  // Noise: health checks and static files are no transactions; secrets nowhere.
  const uris = [...c.transactions, ...c.spans].map((e) => e[2]['request.uri']).filter(Boolean);
  assert.ok(uris.includes('/hello'));
  for (const ignored of ['/health', '/up', '/assets/app.css']) assert.ok(!uris.includes(ignored), `${ignored} was recorded`);
  assert.ok(!JSON.stringify(c).includes('s3cret'));
});

test('agent mode: the noise policy is mapped onto the agent (secret headers excluded even with allow_all_headers, ignored paths); SIDETRACE_NOISE=off leaves the agent as configured', async () => {
  const headers = { Cookie: 'session=s3cret-cookie', Authorization: 'Bearer s3cret-auth', 'X-Api-Key': 's3cret-key', 'X-Request-Id': 'req-1' };
  const [on, off] = await Promise.all([
    start(agentEnv({ NEW_RELIC_ALLOW_ALL_HEADERS: 'true' })),
    start(agentEnv({ NEW_RELIC_ALLOW_ALL_HEADERS: 'true', SIDETRACE_NOISE: 'off' })),
  ]);
  for (const app of [on, off]) {
    assert.equal((await get(`${app.url}/hello`, headers)).status, 200);
    assert.equal((await get(`${app.url}/healthz`)).status, 404);
    assert.equal((await get(`${app.url}/health`)).status, 200);
    assert.equal((await get(`${app.url}/up/?probe=k8s`)).status, 200);
  }
  const helloOf = (c: Collected) => onlyOne(txNamed(c, 'WebTransaction/Expressjs/GET//hello'), '/hello transaction');

  const cOn = await collected(on);
  const helloOn = helloOf(cOn);
  assert.equal(helloOn[2]['request.headers.xRequestId'], 'req-1', 'all headers are captured');
  for (const h of ['cookie', 'authorization', 'xApiKey']) assert.equal(helloOn[2][`request.headers.${h}`], undefined, h);
  assert.ok(!JSON.stringify(cOn).includes('s3cret'));
  const urisOn = cOn.transactions.map((t) => t[2]['request.uri']);
  assert.deepEqual(urisOn, ['/hello']);
  assert.match(sidetraceLines(on.stderr())[0], /noise policy on \(\d+ ignoring rules, secret headers excluded\)/);

  const cOff = await collected(off);
  assert.equal(helloOf(cOff)[2]['request.headers.cookie'], 'session=s3cret-cookie');
  assert.deepEqual(cOff.transactions.map((t) => t[2]['request.uri']).sort(), ['/health', '/healthz', '/hello', '/up']);
  assert.match(sidetraceLines(off.stderr())[0], /noise policy off/);
});

test('agent mode without a license key: one line, the app serves untraced, the agent is not loaded', async () => {
  for (const env of [agentEnv({ NEW_RELIC_LICENSE_KEY: undefined }), agentEnv({ NEW_RELIC_ENABLED: 'false' })]) {
    const app = await start(env);
    assert.equal((await get(`${app.url}/hello`)).status, 200);
    const c = await collected(app);
    assert.equal(c.agentLoaded, false);
    assert.equal(c.modules.newrelic, false);
    const lines = sidetraceLines(app.stderr());
    assert.equal(lines.length, 1, app.stderr());
    assert.match(
      lines[0],
      env.NEW_RELIC_ENABLED
        ? /NEW_RELIC_ENABLED=false; the New Relic agent is not loaded/
        : /NEW_RELIC_LICENSE_KEY is not set .*not loaded and the app runs untraced/,
    );
    assert.equal(app.stderr().split('\n').filter(Boolean).length, 1, app.stderr());
    await app.stop();
  }
});

test('agent mode with the key in a newrelic.js file (no NEW_RELIC_LICENSE_KEY): the agent loads from it', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'cfg-'));
  fs.writeFileSync(
    path.join(dir, 'newrelic.js'),
    `exports.config = { app_name: ['from-config-file'], license_key: '${LICENSE_KEY}', host: '127.0.0.1', port: ${closedPort} };\n`,
  );
  const env = agentEnv({ NEW_RELIC_LICENSE_KEY: undefined, NEW_RELIC_APP_NAME: undefined, NEW_RELIC_HOST: undefined, NEW_RELIC_PORT: undefined });
  const app = await start(env, dir);
  assert.equal((await get(`${app.url}/hello`)).status, 200);
  const c = await collected(app);
  assert.equal(c.agentLoaded, true);
  assert.ok(c.transactions.some((t) => t[0].name === 'WebTransaction/Expressjs/GET//hello'));
  assert.match(sidetraceLines(app.stderr())[0], /for app from-config-file \(newrelic\.js\)/);
});

test('sidetrace deploy under the agent: the deploy and a step run in another process are background transactions of one distributed trace', async () => {
  const dump = path.join(tmp, 'deploy-dump.json');
  const stepDump = path.join(tmp, 'step-dump.json');
  // The deploy wraps `sidetrace deploy step migrate -- <command>`: a second process, under the agent too, joining through TRACEPARENT.
  const step = [
    'env',
    `NR_DUMP_FILE=${stepDump}`,
    process.execPath,
    '--require',
    COLLECTED,
    CLI,
    'deploy',
    'step',
    'migrate',
    '--',
    process.execPath,
    '-e',
    'console.log("child " + process.env.TRACEPARENT)',
  ];
  const r = await run(
    process.execPath,
    ['--require', COLLECTED, CLI, 'deploy', '--service', 'nr-cli-shop', '--version', 'v7', '--environment', 'production', '--', ...step],
    {
      env: agentEnv({ NEW_RELIC_APP_NAME: 'nr-cli', NR_DUMP_FILE: dump }),
      timeoutMs: 60_000,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  const c = JSON.parse(fs.readFileSync(dump, 'utf8')) as Collected;
  const s = JSON.parse(fs.readFileSync(stepDump, 'utf8')) as Collected;
  for (const x of [c, s]) {
    assert.deepEqual(x.modules, { newrelic: true, sidetraceSdk: false, otelInstrumentations: 0, otelSdkTraceNode: false });
    for (const t of x.transactions) assert.doesNotMatch(String(t[0].name), /unknown|^undefined/i);
  }

  const tx = onlyOne(txNamed(c, 'OtherTransaction/Deploy/deploy nr-cli-shop'), 'deploy transaction');
  const traceId = String(tx[0].traceId);
  assert.match(r.stderr, new RegExp(`recording deploy nr-cli-shop v7 to production as trace ${traceId}`));
  assert.equal(tx[1]['deployment.environment.name'], 'production');
  assert.equal(tx[1]['service.version'], 'v7');
  assert.equal(tx[1]['process.exit.code'], 0);
  const span = onlyOne(spansNamed(c, 'deploy nr-cli-shop'), 'deploy span');
  assert.equal(span[0].traceId, traceId);
  assert.equal(span[2]['deployment.status'], 'succeeded');

  // The step's process: its own transaction, in the deploy's trace, under the deploy span.
  const stepTx = onlyOne(txNamed(s, 'OtherTransaction/Deploy/migrate'), 'step transaction');
  assert.equal(stepTx[0].traceId, traceId);
  assert.equal(stepTx[0].parentSpanId, span[0].guid);
  const stepSpan = onlyOne(spansNamed(s, 'migrate'), 'step span');
  assert.equal(stepSpan[0].traceId, traceId);
  // The step's command was handed the step span.
  const child = /child 00-([0-9a-f]{32})-([0-9a-f]{16})-01/.exec(r.stdout);
  assert.ok(child, r.stdout);
  assert.deepEqual([child[1], child[2]], [traceId, stepSpan[0].guid]);
});

test('agent mode: a migration through BullMQ (CONSUMER batch spans in a worker) lands as named background transactions', async () => {
  const services = await startServices({ postgres: false, redis: true });
  try {
    const r = await run(process.execPath, ['--require', path.join(ROOT, 'dist', 'preload.js'), path.join(FIXTURES, 'nr-migration-queue.js')], {
      env: agentEnv({ REDIS_URL: services.redisUrl, QUEUE: `nr-queue-${process.pid}` }),
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runId: string; jobs: number; status: string; collected: Collected };
    assert.deepEqual([out.jobs, out.status], [3, 'succeeded']);
    const c = out.collected;
    for (const n of [...c.transactions, ...c.spans].map((e) => String(e[0].name))) assert.doesNotMatch(n, /unknown|^undefined/i);
    const runTx = onlyOne(txNamed(c, 'OtherTransaction/Migration/migration.run nr-queued'), 'run transaction');
    const send = onlyOne(txNamed(c, 'OtherTransaction/Migration/send ' + `nr-queue-${process.pid}`), 'enqueue transaction');
    assert.equal(send[1]['link.run.trace_id'], runTx[0].traceId);
    const batches = txNamed(c, 'OtherTransaction/Migration/migration.batch nr-queued');
    assert.deepEqual(batches.map((b) => b[1]['migration.batch.index']).sort(), [0, 1, 2]);
    for (const b of batches) {
      assert.equal(b[1]['migration.run_id'], out.runId);
      assert.equal(b[1]['messaging.system'], 'bullmq');
      assert.equal(b[1]['migration.batch.outcome'], 'committed');
      assert.equal(b[1]['link.run.trace_id'], runTx[0].traceId);
      // The CONSUMER span is inside its transaction, not the start of one of its own.
      const span = c.spans.find((s) => s[0].name === 'migration.batch nr-queued' && s[0].transactionId === b[0].guid);
      assert.ok(span, `no batch span in transaction ${b[0].guid}`);
      assert.equal(span[2]['migration.records.processed'], 10);
    }
  } finally {
    await services.stop();
  }
});
