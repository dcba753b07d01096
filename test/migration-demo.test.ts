// `npm run demo:migrate` end to end: the real collector and Jaeger, a real
// Redis, BullMQ workers and the producer under the preload. What Jaeger's
// query API then holds for the run id the demo prints.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { ROOT, cleanEnv } from './helpers/app';
import { flattenTrace, waitFor, type JaegerSpan } from './helpers/stack';

const RECORDS = 4000;
const BATCH_SIZE = 500; // 8 batches; the demo's worker fails batch 7's first attempt
const demo = spawn(process.execPath, [path.join(ROOT, 'scripts', 'demo-migrate.mjs')], {
  cwd: ROOT,
  env: cleanEnv({ MIGRATION_RECORDS: String(RECORDS), MIGRATION_BATCH_SIZE: String(BATCH_SIZE), DEMO_FREE_PORTS: '1', DEMO_DURATION_MS: '90000' }),
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
demo.stdout.on('data', (d) => (output += d));
demo.stderr.on('data', (d) => (output += d));
const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));

after(async () => {
  if (demo.exitCode === null && demo.signalCode === null) {
    demo.kill('SIGTERM');
    const timer = setTimeout(() => demo.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
});

async function runTraces(jaegerUrl: string, service: string, runId: string): Promise<JaegerSpan[][]> {
  const q = new URLSearchParams({ service, tags: JSON.stringify({ 'migration.run_id': runId }), limit: '200', lookback: '1h' });
  const res = await fetch(`${jaegerUrl}/api/traces?${q}`, { signal: AbortSignal.timeout(5_000) });
  const body: any = await res.json().catch(() => ({}));
  return (body.data ?? []).map(flattenTrace);
}

test('the demo migration shows in Jaeger as a run plus one linked trace per batch', { timeout: 110_000 }, async () => {
  const deadline = Date.now() + 90_000;
  let m: RegExpMatchArray | null = null;
  while (!(m = output.match(/The migration ran: run id (\S+)\n\s+the run[^\n]*\n\s+(http:\/\/127\.0\.0\.1:\d+)\/search/))) {
    if (demo.exitCode !== null || Date.now() > deadline) assert.fail(`the demo did not report a finished run:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const [, runId, jaegerUrl] = m;
  assert.match(output, new RegExp(`run ${runId} ended: succeeded`));

  const expected = RECORDS / BATCH_SIZE;
  const batchTraces = await waitFor(
    () => runTraces(jaegerUrl, 'preview-backfill-worker', runId),
    (traces) => traces.filter((t) => t.some((s) => s.name === 'migration.batch backfill-previews')).length >= expected + 1,
    { timeoutMs: 30_000, describe: (t) => `${t.length} traces` },
  );
  const [runTrace] = await waitFor(
    () => runTraces(jaegerUrl, 'preview-backfill', runId).then((ts) => ts.filter((t) => t.some((s) => s.name === 'migration.run backfill-previews'))),
    (ts) => ts.length === 1,
    { timeoutMs: 30_000, describe: (t) => `${t.length} run traces` },
  );
  const run = runTrace.find((s) => s.name === 'migration.run backfill-previews')!;
  assert.equal(run.attributes['migration.run.status'], 'succeeded');
  assert.equal(run.attributes['migration.run.batches.committed'], expected);

  const batches = batchTraces.map((t) => t.find((s) => s.name === 'migration.batch backfill-previews')).filter((s): s is JaegerSpan => !!s);
  assert.equal(new Set(batches.map((b) => b.traceId)).size, batches.length, 'one trace per batch');
  const committed = batches.filter((b) => b.attributes['migration.batch.outcome'] === 'committed');
  assert.deepEqual(committed.map((b) => b.attributes['migration.batch.index']).sort(), [...Array(expected).keys()]);
  const errored = batches.filter((b) => b.attributes['migration.batch.outcome'] === 'error');
  assert.deepEqual(
    errored.map((b) => [b.attributes['migration.batch.index'], b.status]),
    [[7, 'ERROR']],
    'the injected flaky batch',
  );
  assert.equal(committed.find((b) => b.attributes['migration.batch.index'] === 7)!.attributes['migration.batch.retries'], 1, 'its retry');

  const raw = await fetch(`${jaegerUrl}/api/traces/${batches[0].traceId}`).then((r) => r.json() as Promise<any>);
  const root = raw.data[0].spans.find((s: any) => s.operationName === 'migration.batch backfill-previews');
  assert.deepEqual(
    root.references.map((r: any) => [r.refType, r.traceID, r.spanID]),
    [['FOLLOWS_FROM', run.traceId, run.spanId]],
    'a batch links to the run span',
  );
  for (const b of batches) assert.equal(b.parentId, undefined, 'batch spans are roots');

  const sum = (k: string) => committed.reduce((n, b) => n + Number(b.attributes[k]), 0);
  assert.equal(sum('migration.records.processed') + sum('migration.records.skipped') + sum('migration.records.failed'), RECORDS);
  assert.equal(run.attributes['migration.records.processed'], sum('migration.records.processed'));
  assert.equal(run.attributes['migration.records.failed'], sum('migration.records.failed'));
  assert.ok(sum('migration.records.failed') > 0, 'the injected broken files');

  demo.kill('SIGTERM');
  assert.equal(await exited, 0, output);
});
