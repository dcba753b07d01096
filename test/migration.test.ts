// Migration batch tracing, as a user's migration script produces it: real
// child processes under the real preload, spans as a real OTLP receiver
// decodes them, checkpoints in a real Redis.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { continueMigration, MemoryCheckpointStore, migrationWorker, RedisCheckpointStore, startMigration } from '../src/index';
import { finished, useMigrationFixtures } from './helpers/migration-fixtures';
import { startOtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { useServices } from './helpers/services';

const services = useServices({ postgres: false, redis: true });
const fixtures = useMigrationFixtures();
const { fixture } = fixtures;

const ofRun = (runId: string) => (s: ReceivedSpan) => s.attributes['migration.run_id'] === runId;
const named = (name: string, runId: string) => (s: ReceivedSpan) => s.name === name && s.attributes['migration.run_id'] === runId;

/** The run span, its batch spans and its markers, once the expected numbers have arrived. */
async function spansOf(runId: string, batches: number, markers: { start: number; progress: number; end: number }) {
  const [run] = await fixtures.rx.waitForSpans(named('migration.run backfill-previews', runId));
  const batch = await fixtures.rx.waitForSpans(named('migration.batch backfill-previews', runId), { count: batches });
  const start = await fixtures.rx.waitForSpans(named('migration.run.start', runId), { count: markers.start });
  const progress = markers.progress ? await fixtures.rx.waitForSpans(named('migration.run.progress', runId), { count: markers.progress }) : [];
  const end = await fixtures.rx.waitForSpans(named('migration.run.end', runId), { count: markers.end });
  return {
    run,
    batch: batch.sort((a, b) => Number(a.attributes['migration.batch.index']) - Number(b.attributes['migration.batch.index'])),
    start,
    progress,
    end,
  };
}

function assertLinkedTo(span: ReceivedSpan, run: ReceivedSpan, kind = 'run') {
  assert.equal(span.parentSpanId, '', `${span.name} is a root span`);
  assert.notEqual(span.traceId, run.traceId, `${span.name} has a trace of its own`);
  assert.deepEqual(
    span.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, kind: l.attributes['migration.link'] })),
    [{ traceId: run.traceId, spanId: run.spanId, kind }],
    `${span.name} links to the run span`,
  );
}

test('inline form: one trace per batch linked to the run, counts, failures as events, a throwing batch as an error', async () => {
  const p = await fixture('inline.js', { MIGRATION_FORM: 'inline', TOTAL: '50', BATCH_SIZE: '10', THROW_BATCH: '2' });
  const exit = await finished(p);
  assert.equal(exit.code, 0, p.stderr());
  const { runId } = p.lines()[0];
  assert.deepEqual(p.lines().at(-1), { event: 'ended', status: 'failed', errors: 1 });
  assert.match(p.lines().find((l) => l.event === 'error')!.message, /batch 2: database went away/, 'run.batch rethrows');

  const { run, batch, start, progress, end } = await spansOf(runId, 5, { start: 1, progress: 2, end: 1 });
  assert.equal(run.parentSpanId, '');
  assert.deepEqual(run.scope.name, 'sidetrace');
  assert.equal(run.status.code, 2, 'a run that did not do every record failed');
  assert.match(run.status.message, /40 of 50 records done/);
  for (const [k, v] of Object.entries({
    'migration.name': 'backfill-previews',
    'migration.run.total': 50,
    'migration.run.batch_size': 10,
    'migration.run.attempt': 1,
    'migration.run.resumed': false,
    'migration.run.status': 'failed',
    'migration.records.processed': 32,
    'migration.records.skipped': 4,
    'migration.records.failed': 4,
    'migration.run.batches.committed': 4,
    'migration.run.batches.errored': 1,
    'migration.progress.done': 40,
    'migration.progress.total': 50,
    'migration.progress.percent': 80,
  })) {
    assert.deepEqual(run.attributes[k], v, `run span ${k}`);
  }

  assert.equal(new Set(batch.map((b) => b.traceId)).size, 5, 'five batches, five traces');
  let done = 0;
  for (const b of batch) {
    assertLinkedTo(b, run);
    const i = b.attributes['migration.batch.index'] as number;
    assert.equal(b.attributes['migration.batch.cursor.start'], i * 10);
    assert.equal(b.attributes['migration.batch.cursor.end'], i * 10 + 9);
    assert.equal(b.attributes['migration.batch.size'], 10);
    assert.equal(b.attributes['migration.batch.retries'], 0);
    if (i === 2) {
      assert.equal(b.status.code, 2);
      assert.equal(b.attributes['migration.batch.outcome'], 'error');
      const exception = b.events.find((e) => e.name === 'exception');
      assert.equal(exception?.attributes['exception.message'], 'batch 2: database went away');
      assert.equal(b.attributes['migration.progress.done'], undefined, 'an uncommitted batch moves no progress');
      continue;
    }
    done += 10;
    assert.equal(b.status.code, 0);
    assert.equal(b.attributes['migration.batch.outcome'], 'committed');
    assert.deepEqual(
      [b.attributes['migration.records.processed'], b.attributes['migration.records.skipped'], b.attributes['migration.records.failed']],
      [8, 1, 1],
    );
    assert.equal(b.attributes['migration.progress.done'], done, 'progress after this batch');
    assert.equal(b.attributes['migration.progress.total'], 50);
    assert.equal(typeof b.attributes['migration.progress.records_per_second'], 'number');
    assert.equal(typeof b.attributes['migration.progress.eta_seconds'], 'number');
    assert.deepEqual(b.events, [
      {
        name: 'migration.record.failed',
        attributes: {
          'migration.record.id': String(i * 10 + 3),
          'exception.type': 'RangeError',
          'exception.message': `record ${i * 10 + 3}: corrupt image header`,
        },
      },
    ]);
  }

  for (const m of [...start, ...progress, ...end]) assertLinkedTo(m, run);
  assert.deepEqual(progress.map((m) => m.attributes['migration.run.batches.committed']).sort(), [2, 4], 'a progress marker every 2 committed batches');
  assert.equal(start[0].attributes['migration.run.resume_cursor'], 0);
  assert.equal(end[0].attributes['migration.run.status'], 'failed');
  assert.equal(end[0].attributes['migration.records.processed'], 32);
});

test('iterator form: for await over run.batches(), failed-record events bounded per batch', async () => {
  const p = await fixture('inline.js', { MIGRATION_FORM: 'iterator', TOTAL: '100', BATCH_SIZE: '25', FAIL_BATCH: '1' });
  const exit = await finished(p);
  assert.equal(exit.code, 0, p.stderr());
  const { runId } = p.lines()[0];
  assert.deepEqual(p.lines().at(-1), { event: 'ended', status: 'succeeded', errors: 0 });

  const { run, batch } = await spansOf(runId, 4, { start: 1, progress: 2, end: 1 });
  assert.equal(run.status.code, 0);
  assert.equal(run.attributes['migration.run.status'], 'succeeded');
  assert.equal(run.attributes['migration.progress.done'], 100);
  // Batch 1 (25…49): all 25 fail; elsewhere ids ending in 3 fail: 3, 13, 23, 53, 63, 73, 83, 93.
  assert.equal(run.attributes['migration.records.failed'], 25 + 8);
  assert.deepEqual(
    batch.map((b) => [b.attributes['migration.batch.cursor.start'], b.attributes['migration.batch.cursor.end'], b.attributes['migration.batch.outcome']]),
    [
      [0, 24, 'committed'],
      [25, 49, 'committed'],
      [50, 74, 'committed'],
      [75, 99, 'committed'],
    ],
  );
  for (const b of batch) assertLinkedTo(b, run);
  const all = batch[1];
  assert.equal(all.attributes['migration.records.failed'], 25);
  assert.equal(all.events.filter((e) => e.name === 'migration.record.failed').length, 20, 'at most 20 failed-record events');
  assert.equal(all.attributes['migration.records.failed.unrecorded'], 5, 'the rest counted');
  for (const e of all.events) assert.deepEqual(Object.keys(e.attributes).sort(), ['exception.message', 'exception.type', 'migration.record.id']);
});

test('a migration killed with SIGKILL mid-run resumes from the Redis checkpoint under the same run id', async () => {
  const runId = `resume-${process.pid}`;
  const env = { MIGRATION_FORM: 'inline', TOTAL: '100', BATCH_SIZE: '10', RUN_ID: runId, REDIS_URL: services.redisUrl };
  const first = await fixture('inline.js', { ...env, DELAY_MS: '150' });
  await first.waitForLine((l) => l.event === 'done' && l.index === 2);
  // Let the exporter (100 ms schedule) send what ended so far, as it would in a long run.
  await fixtures.rx.waitForSpans((s) => s.name === 'migration.batch backfill-previews' && s.attributes['migration.run_id'] === runId, { count: 3 });
  first.child.kill('SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');
  const reportedDone = first
    .lines()
    .filter((l) => l.event === 'done')
    .map((l) => l.index as number);

  const redis = new Redis(services.redisUrl);
  try {
    const store = new RedisCheckpointStore(redis);
    const mid = await store.get(runId);
    assert.equal(mid?.status, 'running', 'the dead attempt never ended the run');
    // The store is the truth: every batch reported done is in it, plus at most the one committed just before the kill.
    const committedFirst = [...(await store.committedBatches(runId))].sort((a, b) => a - b);
    assert.deepEqual(committedFirst, [...Array(committedFirst.length).keys()], 'one batch after the other');
    for (const i of reportedDone) assert.ok(committedFirst.includes(i), `batch ${i} reported done is committed`);
    assert.ok(committedFirst.length - reportedDone.length <= 1);
    assert.ok(committedFirst.length >= 3 && committedFirst.length < 10, `killed mid-run after ${committedFirst.length} batches`);

    const second = await fixture('inline.js', env);
    const exit = await finished(second);
    assert.equal(exit.code, 0, second.stderr());
    assert.equal(second.lines()[0].runId, runId);
    assert.equal(second.lines()[0].attempt, 2);
    assert.equal(second.lines().at(-1)?.status, 'succeeded');
    const outcomes = second.lines().filter((l) => l.event === 'done');
    const processedSecond = second
      .lines()
      .filter((l) => l.event === 'processing')
      .map((l) => l.index as number);
    for (const i of committedFirst) {
      assert.ok(!processedSecond.includes(i), `batch ${i}, committed before the kill, is not processed again`);
      assert.equal(outcomes.find((l) => l.index === i)?.outcome, 'already_committed');
    }
    assert.deepEqual(
      processedSecond,
      [...Array(10).keys()].filter((i) => !committedFirst.includes(i)),
    );

    const final = await store.get(runId);
    assert.equal(final?.status, 'succeeded');
    assert.equal(final?.attempt, 2);
    assert.deepEqual(final?.counters, { processed: 80, skipped: 10, failed: 10, batches: 10 }, 'every record counted once');
    assert.equal(final?.nextBatch, 10);

    // What the backend shows: the first attempt's markers and batches, an
    // 'interrupted' end for it, and the second attempt linked to the first.
    const [start1] = await fixtures.rx.waitForSpans((s) => named('migration.run.start', runId)(s) && s.attributes['migration.run.attempt'] === 1);
    const [run2] = await fixtures.rx.waitForSpans(named('migration.run backfill-previews', runId));
    const [start2] = await fixtures.rx.waitForSpans((s) => named('migration.run.start', runId)(s) && s.attributes['migration.run.attempt'] === 2);
    const run1Link = start1.links[0];
    assert.equal(run2.attributes['migration.run.attempt'], 2);
    assert.equal(run2.attributes['migration.run.resumed'], true);
    assert.deepEqual(
      run2.links.map((l) => [l.traceId, l.spanId, l.attributes['migration.link']]),
      [[run1Link.traceId, run1Link.spanId, 'previous_attempt']],
      "the resumed run span links to the dead attempt's run span",
    );
    assert.equal(start2.attributes['migration.run.resume_cursor'], committedFirst.length * 10);
    assert.equal(start2.attributes['migration.run.batches.committed'], committedFirst.length);
    const [interrupted] = await fixtures.rx.waitForSpans((s) => named('migration.run.end', runId)(s) && s.attributes['migration.run.status'] === 'interrupted');
    assert.equal(interrupted.attributes['migration.run.attempt'], 1);
    assert.deepEqual([interrupted.links[0].traceId, interrupted.links[0].spanId], [run1Link.traceId, run1Link.spanId]);

    const committedSpans = fixtures.rx.spans.filter(
      (s) => named('migration.batch backfill-previews', runId)(s) && s.attributes['migration.batch.outcome'] === 'committed',
    );
    const indexes = committedSpans.map((s) => s.attributes['migration.batch.index'] as number).sort((a, b) => a - b);
    assert.deepEqual(indexes, [...Array(10).keys()], 'each batch committed exactly once across both attempts');
    for (const s of committedSpans) {
      const attempt = s.attributes['migration.run.attempt'];
      assert.equal(attempt, committedFirst.includes(s.attributes['migration.batch.index'] as number) ? 1 : 2);
    }
    assert.equal(
      fixtures.rx.spans.filter(ofRun(runId)).filter((s) => s.name === 'migration.run backfill-previews').length,
      1,
      'the killed attempt never exported its run span',
    );
  } finally {
    await redis.quit();
  }
});

for (const mode of ['down', 'hang'] as const) {
  test(`an exporter that is ${mode === 'down' ? 'down' : 'hanging'} never reaches the migration`, async () => {
    const broken = await startOtlpReceiver();
    broken.setMode(mode);
    try {
      const p = await fixture('inline.js', { OTEL_EXPORTER_OTLP_ENDPOINT: broken.url, MIGRATION_FORM: 'inline', TOTAL: '30', BATCH_SIZE: '10' });
      const exit = await finished(p);
      assert.equal(exit.code, 0, p.stderr());
      assert.deepEqual(p.lines().at(-1), { event: 'ended', status: 'succeeded', errors: 0 });
      if (mode === 'hang') assert.ok(broken.requests.length > 0, 'the exporter did try');
    } finally {
      await broken.close();
    }
  });
}

test('bad input gets one clear error naming what is wrong', async () => {
  await assert.rejects(startMigration({ total: 10, batchSize: 5 } as never), {
    message:
      "sidetrace startMigration: options.name must be a non-empty string of at most 128 characters naming the migration, e.g. 'backfill-previews' (got undefined)",
  });
  await assert.rejects(startMigration({ name: 'x', total: 10, batchSize: 0 }), {
    message: 'sidetrace startMigration: options.batchSize must be an integer ≥ 1 (got 0)',
  });
  await assert.rejects(startMigration(undefined as never), /options object \{ name, total\?, batchSize \}/);
  await assert.rejects(startMigration({ name: 'x', total: 10, batchSize: 5, runId: 'has:colon' }), /options.runId must be a string of 1 to 128 letters/);

  const run = await startMigration({ name: 'bad-input', total: 10, batchSize: 5 });
  const good = run.carrier();
  const corrupt: [unknown, RegExp][] = [
    ['{"v":1,', /corrupt migration carrier: it is a string but not JSON/],
    [null, /corrupt migration carrier: expected the object run.carrier\(\) returned \(got null\)/],
    [{ ...good, v: 2 }, /carrier.v must be 1/],
    [{ ...good, name: '' }, /carrier.name must be a non-empty string/],
    [{ ...good, batchSize: 0 }, /carrier.batchSize must be an integer ≥ 1 \(got 0\)/],
    [{ ...good, runId: undefined }, /carrier.runId must be .* \(got undefined\)/],
    [{ ...good, traceparent: '00-xyz' }, /carrier.traceparent must be a W3C traceparent/],
  ];
  for (const [carrier, message] of corrupt) await assert.rejects(continueMigration(carrier), message);
  assert.equal((await continueMigration(JSON.stringify(good))).runId, run.runId, 'the JSON text of a good carrier is accepted');

  await assert.rejects(
    run.batch({ cursorStart: 5, cursorEnd: 2 }, () => {}),
    /range.cursorEnd must be an integer ≥ 5 \(got 2\)/,
  );
  await assert.rejects(run.batch({ cursorStart: 0, cursorEnd: 4 }, undefined as never), /the second argument must be the function that migrates the batch/);
  await assert.rejects(run.end({ status: 'done' as never }), /options.status must be succeeded, failed, cancelled, interrupted \(got "done"\)/);
  await assert.rejects(
    migrationWorker(() => {})({ id: '7', queueName: 'q', data: { some: 'payload' }, attemptsMade: 0 }),
    /job 7 on queue q has no data.carrier/,
  );
  assert.equal(await run.end({ status: 'cancelled' }), 'cancelled');
});

test('checkpoint stores (Redis and in-memory): a batch commits once, counters add up, the resume point follows', async () => {
  const redis = new Redis(services.redisUrl);
  try {
    for (const store of [new RedisCheckpointStore(redis, { keyPrefix: `test:${process.pid}:` }), new MemoryCheckpointStore()]) {
      const what = store.constructor.name;
      const runId = 'store-contract';
      assert.equal(await store.get(runId), undefined, what);
      const first = await store.begin(runId, {
        name: 'n',
        total: 50,
        batchSize: 10,
        origin: 100,
        startedAt: 1000,
        runSpan: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      });
      assert.deepEqual(
        [first.attempt, first.status, first.nextBatch, first.origin, first.runSpan, first.counters],
        [1, 'running', 0, 100, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', { processed: 0, skipped: 0, failed: 0, batches: 0 }],
        what,
      );
      const one = await store.commitBatch(runId, { index: 1, processed: 7, skipped: 2, failed: 1 });
      assert.deepEqual([one.committed, one.nextBatch], [true, 0], `${what}: batch 1 before batch 0 leaves the resume point`);
      // Two workers finishing batch 0 at once: exactly one counts.
      const both = await Promise.all([0, 0].map(() => store.commitBatch(runId, { index: 0, processed: 10, skipped: 0, failed: 0 })));
      assert.deepEqual(both.map((r) => r.committed).sort(), [false, true], what);
      assert.deepEqual(both[1].counters, { processed: 17, skipped: 2, failed: 1, batches: 2 }, what);
      assert.equal(Math.max(...both.map((r) => r.nextBatch)), 2, `${what}: 0 and 1 committed → resume at batch 2`);
      assert.equal(await store.isCommitted(runId, 1), true, what);
      assert.equal(await store.isCommitted(runId, 2), false, what);
      assert.deepEqual([...(await store.committedBatches(runId))].sort(), [0, 1], what);
      const second = await store.begin(runId, { name: 'n', total: 60, batchSize: 10, origin: 100, startedAt: 2000 });
      assert.deepEqual([second.attempt, second.total, second.attemptStartDone, second.runSpan], [2, 60, 20, undefined], what);
      await store.finish(runId, 'cancelled');
      assert.equal((await store.get(runId))?.status, 'cancelled', what);
      assert.deepEqual(await store.counters(runId), { processed: 17, skipped: 2, failed: 1, batches: 2 }, what);
    }
  } finally {
    await redis.quit();
  }
});

test('works with any registered OpenTelemetry tracer provider, without the preload', async () => {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  try {
    const run = await startMigration({ name: 'plain-otel', total: 20, batchSize: 10 });
    await run.batch({ cursorStart: 0, cursorEnd: 9 }, (b) => b.processed(10));
    const worker = await continueMigration(JSON.parse(JSON.stringify(run.carrier())), { store: undefined });
    for await (const b of worker.batches({ from: 10 })) b.skipped(b.size);
    assert.equal(await run.end({ status: 'succeeded' }), 'succeeded');
    const spans = exporter.getFinishedSpans();
    const runSpan = spans.find((s) => s.name === 'migration.run plain-otel')!;
    const batches = spans.filter((s) => s.name === 'migration.batch plain-otel');
    assert.equal(batches.length, 2);
    for (const b of batches) {
      assert.equal(b.instrumentationScope.name, 'sidetrace');
      assert.deepEqual(
        b.links.map((l) => l.context.spanId),
        [runSpan.spanContext().spanId],
      );
    }
    assert.deepEqual(
      batches.map((b) => [b.attributes['migration.records.processed'], b.attributes['migration.records.skipped']]),
      [
        [10, 0],
        [0, 10],
      ],
    );
  } finally {
    trace.disable();
  }
});

test('a run with no known total: progress without total, percent or ETA; end() decides by failed batches; batches() needs a `to`', async () => {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  const redis = new Redis(services.redisUrl);
  try {
    const store = new RedisCheckpointStore(redis, { keyPrefix: `test:${process.pid}:open:` });
    const run = await startMigration({ name: 'open-ended', batchSize: 10, store });
    assert.equal(run.total, undefined);
    await run.batch({ cursorStart: 0, cursorEnd: 9 }, (b) => b.processed(10));
    await run.batch({ cursorStart: 10, cursorEnd: 19 }, (b) => {
      b.processed(9);
      b.failed('r-13', new Error('bad row'));
    });
    await assert.rejects(async () => {
      for await (const b of run.batches()) b.processed(b.size);
    }, /sidetrace run.batches: range.to must be the last cursor to run, as this run has no total \(got undefined\)/);
    const worker = await continueMigration(JSON.parse(JSON.stringify(run.carrier())), { store });
    assert.equal(worker.total, undefined, 'the carrier keeps "no total"');
    for await (const b of worker.batches({ from: 20, to: 29 })) b.processed(b.size);
    assert.equal((await store.get(run.runId))?.total, undefined, 'so does the Redis checkpoint');
    assert.equal(await run.end(), 'succeeded', 'no batch failed');

    const spans = exporter.getFinishedSpans();
    const [runSpan] = spans.filter((s) => s.name === 'migration.run open-ended');
    const batches = spans.filter((s) => s.name === 'migration.batch open-ended');
    assert.equal(batches.length, 3);
    for (const span of [runSpan, ...batches, ...spans.filter((s) => s.name.startsWith('migration.run.'))]) {
      for (const absent of ['migration.run.total', 'migration.progress.total', 'migration.progress.percent', 'migration.progress.eta_seconds']) {
        assert.equal(span.attributes[absent], undefined, `${span.name} has no ${absent}`);
      }
    }
    assert.deepEqual(
      batches.map((b) => b.attributes['migration.progress.done']),
      [10, 20, 30],
    );
    assert.ok(
      batches.every((b) => typeof b.attributes['migration.progress.records_per_second'] === 'number'),
      'the rate is there',
    );
    assert.deepEqual([runSpan.attributes['migration.run.status'], runSpan.attributes['migration.progress.done']], ['succeeded', 30]);

    const failing = await startMigration({ name: 'open-ended-failing', batchSize: 10 });
    await assert.rejects(failing.batch({ cursorStart: 0, cursorEnd: 9 }, () => Promise.reject(new Error('db down'))));
    assert.equal(await failing.end(), 'failed', 'a batch failed in this process');
    const failedRun = exporter.getFinishedSpans().find((s) => s.name === 'migration.run open-ended-failing')!;
    assert.equal(failedRun.status.message, 'migration failed (0 records done, 1 batch failed)');
  } finally {
    trace.disable();
    await redis.quit();
  }
});

test('a tracer that throws costs the spans, never the migration', async () => {
  const broken = () => {
    throw new Error('tracer exploded');
  };
  trace.setGlobalTracerProvider({ getTracer: () => ({ startSpan: broken, startActiveSpan: broken }) } as never);
  try {
    const run = await startMigration({ name: 'broken-tracer', total: 20, batchSize: 10 });
    const result = await run.batch({ cursorStart: 0, cursorEnd: 9 }, (b) => b.processed(10));
    assert.deepEqual([result.outcome, result.processed], ['committed', 10]);
    for await (const b of run.batches({ from: 10 })) b.processed(b.size);
    assert.equal(run.carrier().traceparent, undefined, 'no run span, no traceparent');
    assert.equal(await run.end(), 'succeeded');
    await assert.rejects(
      run.batch({ cursorStart: 10, cursorEnd: 19, index: 5 }, () => Promise.reject(new Error('the migration’s own error'))),
      /the migration’s own error/,
    );
  } finally {
    trace.disable();
  }
});
