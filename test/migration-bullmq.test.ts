// Distributed migration batches over real BullMQ on a real Redis: a producer
// process enqueues one job per batch, worker processes (under the preload)
// continue the run from the job's carrier. Spans as a real OTLP receiver
// decodes them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisCheckpointStore } from '../src/index';
import { finished, useMigrationFixtures, type FixtureProcess } from './helpers/migration-fixtures';
import type { ReceivedSpan } from './helpers/otlp-receiver';
import { useServices } from './helpers/services';

const services = useServices({ postgres: false, redis: true });
const fixtures = useMigrationFixtures(() => ({ REDIS_URL: services.redisUrl }));
const { fixture } = fixtures;

/** SIGTERM: the preload flushes, then the worker exits. */
async function stopWorker(p: FixtureProcess): Promise<void> {
  p.child.kill('SIGTERM');
  await finished(p, 10_000);
}

const named = (name: string, runId: string) => (s: ReceivedSpan) => s.name === name && s.attributes['migration.run_id'] === runId;

test('producer and worker processes: every batch is its own trace, linked to the one run span', async () => {
  const runId = `dist-${process.pid}`;
  const queue = `migrate-${process.pid}`;
  const worker = await fixture('worker.js', { QUEUE: queue });
  await worker.waitForLine((l) => l.event === 'ready');
  const producer = await fixture('producer.js', { QUEUE: queue, RUN_ID: runId, TOTAL: '95', BATCH_SIZE: '10' });
  const exit = await finished(producer);
  assert.equal(exit.code, 0, producer.stderr());
  assert.deepEqual(producer.lines(), [
    { event: 'enqueued', runId, jobs: 10 },
    { event: 'ended', status: 'succeeded' },
  ]);
  await stopWorker(worker);

  const [run] = await fixtures.rx.waitForSpans(named('migration.run backfill-previews', runId));
  const batches = await fixtures.rx.waitForSpans(named('migration.batch backfill-previews', runId), { count: 10 });
  assert.notEqual(run.resource['process.pid'], batches[0].resource['process.pid'], 'run and batches come from different processes');
  assert.equal(new Set(batches.map((b) => b.traceId)).size, 10);
  for (const b of batches) {
    assert.equal(b.parentSpanId, '');
    assert.notEqual(b.traceId, run.traceId);
    assert.deepEqual(
      b.links.map((l) => [l.traceId, l.spanId, l.attributes['migration.link']]),
      [[run.traceId, run.spanId, 'run']],
    );
    assert.equal(b.kind, 5, 'CONSUMER');
    assert.equal(b.attributes['messaging.system'], 'bullmq');
    assert.equal(b.attributes['messaging.destination.name'], queue);
    assert.equal(b.attributes['messaging.operation.type'], 'process');
    assert.equal(b.attributes['messaging.message.id'], `${runId}.1.${b.attributes['migration.batch.index']}`);
    assert.equal(b.attributes['migration.batch.outcome'], 'committed');
    assert.equal(b.attributes['migration.progress.total'], 95);
  }
  const last = batches.find((b) => b.attributes['migration.batch.index'] === 9)!;
  assert.deepEqual(
    [last.attributes['migration.batch.cursor.start'], last.attributes['migration.batch.cursor.end'], last.attributes['migration.batch.size']],
    [90, 94, 5],
  );
  const progressDone = batches.map((b) => b.attributes['migration.progress.done'] as number).sort((a, b) => a - b);
  assert.deepEqual(progressDone, [10, 20, 30, 40, 50, 60, 70, 80, 90, 95], 'progress from the shared checkpoint, batch after batch');

  const [send] = await fixtures.rx.waitForSpans((s) => s.name === `send ${queue}`);
  assert.equal(send.kind, 4, 'PRODUCER');
  assert.equal(send.attributes['messaging.batch.message_count'], 10);
  assert.equal(send.attributes['messaging.system'], 'bullmq');
  assert.deepEqual([send.links[0].traceId, send.links[0].spanId], [run.traceId, run.spanId]);

  // Progress markers come from the worker (every 3 committed batches of the run), linked to the run span.
  const progress = await fixtures.rx.waitForSpans(named('migration.run.progress', runId), { count: 3 });
  assert.deepEqual(progress.map((m) => m.attributes['migration.run.batches.committed']).sort(), [3, 6, 9]);
  for (const m of progress) assert.deepEqual([m.links[0].traceId, m.links[0].spanId], [run.traceId, run.spanId]);
  assert.equal(run.attributes['migration.run.status'], 'succeeded');
  assert.equal(run.attributes['migration.records.failed'], 10, 'ids ending in 3 fail');
  assert.equal(run.attributes['migration.records.processed'], 85);
});

test('a worker killed with SIGKILL mid-run: a restarted worker continues, committed batches are not processed again', async () => {
  const runId = `kill-${process.pid}`;
  const queue = `migrate-kill-${process.pid}`;
  const first = await fixture('worker.js', { QUEUE: queue, DIE_AFTER_COMMIT: '3' });
  await first.waitForLine((l) => l.event === 'ready');
  const producer = await fixture('producer.js', { QUEUE: queue, RUN_ID: runId, TOTAL: '80', BATCH_SIZE: '10' });
  assert.equal((await finished(first, 30_000)).signal, 'SIGKILL', 'the worker died after committing batch 3');
  const processedFirst = first
    .lines()
    .filter((l) => l.event === 'processing')
    .map((l) => l.index as number);
  assert.deepEqual(processedFirst, [0, 1, 2, 3]);

  const redis = new Redis(services.redisUrl);
  try {
    const store = new RedisCheckpointStore(redis);
    assert.deepEqual([...(await store.committedBatches(runId))].sort(), [0, 1, 2, 3], 'the checkpoint after the kill');

    const second = await fixture('worker.js', { QUEUE: queue });
    const exit = await finished(producer);
    assert.equal(exit.code, 0, producer.stderr());
    assert.equal(producer.lines().at(-1)?.status, 'succeeded');
    // Batch 3's job was still active when its worker died: BullMQ hands it on as stalled.
    await second.waitForLine((l) => l.event === 'batch' && l.index === 3);
    await stopWorker(second);

    const processedSecond = second
      .lines()
      .filter((l) => l.event === 'processing')
      .map((l) => l.index as number);
    assert.deepEqual(processedSecond.sort(), [4, 5, 6, 7], 'the restarted worker processes only what was not committed');
    assert.deepEqual(
      second.lines().find((l) => l.event === 'batch' && l.index === 3),
      { event: 'batch', index: 3, outcome: 'already_committed' },
    );
    assert.deepEqual(await store.counters(runId), { processed: 72, skipped: 0, failed: 8, batches: 8 }, 'every record counted once');

    const [run] = await fixtures.rx.waitForSpans(named('migration.run backfill-previews', runId));
    const spans = await fixtures.rx.waitForSpans(named('migration.batch backfill-previews', runId), { count: 9 });
    const committed = spans.filter((s) => s.attributes['migration.batch.outcome'] === 'committed');
    assert.deepEqual(committed.map((s) => s.attributes['migration.batch.index']).sort(), [0, 1, 2, 3, 4, 5, 6, 7], 'each batch committed once');
    const again = spans.filter((s) => s.attributes['migration.batch.outcome'] === 'already_committed');
    assert.deepEqual(
      again.map((s) => s.attributes['migration.batch.index']),
      [3],
    );
    assert.notEqual(again[0].resource['process.pid'], committed.find((s) => s.attributes['migration.batch.index'] === 3)!.resource['process.pid']);
    assert.equal(again[0].attributes['migration.records.processed'], 0, 'nothing was migrated again');
    for (const s of spans) assert.deepEqual([s.links[0].traceId, s.links[0].spanId], [run.traceId, run.spanId], 'all under the same run');
  } finally {
    await redis.quit();
  }
});

test('a job with a corrupt carrier fails with a message naming what is wrong', async () => {
  const queue = `migrate-corrupt-${process.pid}`;
  const worker = await fixture('worker.js', { QUEUE: queue });
  await worker.waitForLine((l) => l.event === 'ready');
  const connection = new Redis(services.redisUrl, { maxRetriesPerRequest: null });
  const eventsConnection = new Redis(services.redisUrl, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection });
  // From the stream's start: QueueEvents is "ready" once connected, before its first read is sent, so a
  // job that fails in between would otherwise be missed by waitUntilFinished (seen under load).
  const events = new QueueEvents(queue, { connection: eventsConnection, lastEventId: '0' });
  try {
    await events.waitUntilReady();
    const job = await q.add('migration-batch', { carrier: { v: 1, name: 'x', runId: 'r1', total: 10, batchSize: 0 }, index: 0, cursorStart: 0, cursorEnd: 9 });
    await assert.rejects(job.waitUntilFinished(events, 15_000), /corrupt migration carrier: carrier.batchSize must be an integer ≥ 1 \(got 0\)/);
    const plain = await q.add('not-a-migration', { file: 'a.png' });
    await assert.rejects(plain.waitUntilFinished(events, 15_000), /has no data.carrier; enqueue batch jobs with enqueueMigrationBatches/);
  } finally {
    await events.close();
    await q.close();
    // Connections passed in are not BullMQ's to close.
    await Promise.all([connection.quit(), eventsConnection.quit()]);
    await stopWorker(worker);
  }
});
