// A migration run: the run span (start to end), the short marker spans that
// survive a crash (start, progress, end), and its batches, each one trace of
// its own linked to the run span. The checkpoint store holds the truth about
// progress, so any process holding the carrier reports the whole run's.
//
// Resuming: startMigration with a runId the store already knows starts a new
// attempt of that run (same run id, attempt + 1) and skips the batches the
// checkpoint has committed. If the previous attempt never ended (status still
// 'running', i.e. its process died), its run span is lost with the process;
// what is recorded instead is a `migration.run.end` marker with status
// 'interrupted' for that attempt, linked to its run span, and the new run
// span links to it as 'previous_attempt'. So start a run id again only when
// the previous attempt is over.
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, context, trace, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import * as A from './attributes';
import { BatchRecorder, finishBatchSpan, outcomeOf, type BatchOutcome, type BatchRange, type MigrationBatch } from './batch';
import { DEFAULT_PROGRESS, parseCarrier, spanContextOf, traceparentOf, type MigrationCarrier, type ProgressEvery } from './carrier';
import {
  MemoryCheckpointStore,
  doneOf,
  type CheckpointStore,
  type CommitResult,
  type MigrationCounters,
  type MigrationStatus,
  type RunCheckpoint,
} from './checkpoint';
import { batchIndexOf, lastCursor, planBatches, resumeCursor } from './cursor';
import { counterAttributes, progressAttributes, type RateBase } from './progress';
import { asRootWork, emitMarker, flushTelemetry, linkTo, safely, startRootSpan, warnOnce } from './telemetry';
import { checkInteger, checkName, checkRunId, describe, fail } from './validate';

export interface StartMigrationOptions {
  /** What the migration does, e.g. 'backfill-previews' (span names, migration.name). */
  name: string;
  /** Records in the run. */
  total: number;
  /** Records per batch. */
  batchSize: number;
  /** Resume this run (with the same store); default a new id from the name. */
  runId?: string;
  /** Default: in this process's memory (no resume after a crash, no shared progress). */
  store?: CheckpointStore;
  /** Cursor of the first record (default 0). */
  cursor?: number;
  progressEvery?: Partial<ProgressEvery>;
}

export interface ContinueMigrationOptions {
  /** The run's store (a RedisCheckpointStore on the producer's Redis); default this process's memory. */
  store?: CheckpointStore;
}

export interface BatchOptions {
  /** Retries of this batch before this attempt (e.g. a job's attemptsMade). */
  retries?: number;
  /** Span kind of the batch span (default INTERNAL; CONSUMER for a queue job). */
  kind?: SpanKind;
  /** More attributes for the batch span (e.g. messaging.*). */
  attributes?: Attributes;
}

export interface BatchResult {
  index: number;
  outcome: Exclude<BatchOutcome, 'error' | 'abandoned'>;
  processed: number;
  skipped: number;
  failed: number;
  retries: number;
}

export interface BatchesRange {
  /** First cursor (default the run's origin). */
  from?: number;
  /** Last cursor, inclusive (default the run's last record). */
  to?: number;
}

export interface EndOptions {
  /** Default: 'succeeded' when the checkpoint counts every record done, else 'failed'. */
  status?: MigrationStatus;
}

const STATUSES: readonly MigrationStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

interface RunInit {
  name: string;
  runId: string;
  total: number;
  batchSize: number;
  origin: number;
  attempt: number;
  store: CheckpointStore;
  runSpan?: Span;
  runContext?: SpanContext;
  rateBase: RateBase;
  progressEvery: ProgressEvery;
}

export class MigrationRun {
  readonly name: string;
  readonly runId: string;
  readonly total: number;
  readonly batchSize: number;
  /** Cursor of the run's first record (the `cursor` option). */
  readonly origin: number;
  readonly attempt: number;
  private readonly store: CheckpointStore;
  /** Only in the process that started the attempt. */
  private readonly runSpan?: Span;
  private readonly runContext?: SpanContext;
  private readonly rateBase: RateBase;
  private readonly progressEvery: ProgressEvery;
  private lastMarkerAt = Date.now();
  private errored = 0;
  private endedWith?: MigrationStatus;

  /** Use startMigration() or continueMigration(). */
  constructor(init: RunInit) {
    this.name = init.name;
    this.runId = init.runId;
    this.total = init.total;
    this.batchSize = init.batchSize;
    this.origin = init.origin;
    this.attempt = init.attempt;
    this.store = init.store;
    this.runSpan = init.runSpan;
    this.runContext = init.runContext;
    this.rateBase = init.rateBase;
    this.progressEvery = init.progressEvery;
  }

  /** Runs `fn` as one batch in a trace of its own, commits it, and returns its counts; rethrows what `fn` throws. */
  async batch(range: BatchRange, fn: (batch: MigrationBatch) => unknown, options: BatchOptions = {}): Promise<BatchResult> {
    const where = 'sidetrace run.batch';
    const r = this.checkRange(where, range);
    if (typeof fn !== 'function') fail(where, 'the second argument', 'the function that migrates the batch', fn);
    const retries = options.retries === undefined ? 0 : checkInteger(where, 'options.retries', options.retries, 0);
    return asRootWork(this.batchSpanName(), async () => {
      const recorder = this.openBatch(r, retries, options);
      return context.with(recorder.context, async () => {
        let before: boolean;
        try {
          before = await this.store.isCommitted(this.runId, recorder.index);
        } catch (err) {
          throw this.batchFailed(recorder, storeError(`check batch ${recorder.index} of run ${this.runId}`, err));
        }
        if (before) {
          const counts = recorder.close();
          finishBatchSpan(recorder, 'already_committed', counts, undefined);
          return { index: recorder.index, outcome: 'already_committed' as const, ...counts };
        }
        try {
          await fn(recorder);
        } catch (err) {
          throw this.batchFailed(recorder, err);
        }
        return this.commit(recorder);
      });
    });
  }

  /**
   * The iterator form: yields the run's batches in `from … to` that the
   * checkpoint has not committed, one open batch at a time. The loop body
   * reports to it like the callback form; the next iteration commits it. A
   * loop left by break or throw ends the current batch 'abandoned',
   * uncommitted (an iterator cannot see the error: use run.batch to have it
   * recorded). The body does not run inside the batch span's context; wrap
   * code in context.with(batch.context, …) to parent spans to it.
   */
  async *batches(range: BatchesRange = {}): AsyncGenerator<MigrationBatch, void, undefined> {
    for await (const r of this.pendingBatches(range)) {
      const { recorder, release } = await this.holdBatch(r);
      let bodyDone = false;
      try {
        yield recorder;
        bodyDone = true;
      } finally {
        if (!bodyDone) {
          finishBatchSpan(recorder, 'abandoned', recorder.close(), undefined);
          release();
        }
      }
      try {
        await this.commit(recorder);
      } finally {
        release();
      }
    }
  }

  /** Batches in `from … to` that the checkpoint has not committed (read once, at the start). */
  async *pendingBatches(range: BatchesRange = {}): AsyncGenerator<Required<BatchRange>, void, undefined> {
    const where = 'sidetrace run.batches';
    if (range === null || typeof range !== 'object') fail(where, 'the range', 'an object { from?, to? }', range);
    const from = range.from === undefined ? this.origin : checkInteger(where, 'range.from', range.from, this.origin);
    const to = range.to === undefined ? lastCursor(this) : checkInteger(where, 'range.to', range.to, 0);
    let committed: Set<number>;
    try {
      committed = await this.store.committedBatches(this.runId);
    } catch (err) {
      throw storeError(`read the committed batches of run ${this.runId}`, err);
    }
    for (const r of planBatches(this, from, to)) if (!committed.has(r.index)) yield r;
  }

  /** What a worker needs to continueMigration(): plain JSON, for a job payload. */
  carrier(): MigrationCarrier {
    const carrier: MigrationCarrier = {
      v: 1,
      name: this.name,
      runId: this.runId,
      total: this.total,
      batchSize: this.batchSize,
      cursor: this.origin,
      attempt: this.attempt,
      startedAt: this.rateBase.startedAt,
      doneAtStart: this.rateBase.doneAtStart,
      progressEvery: { ...this.progressEvery },
    };
    if (this.runContext && trace.isSpanContextValid(this.runContext)) carrier.traceparent = traceparentOf(this.runContext);
    return carrier;
  }

  /** The run's checkpoint as the store has it now. */
  checkpoint(): Promise<RunCheckpoint | undefined> {
    return this.store.get(this.runId);
  }

  /** Ends the run: final status in the store, on the run span and on an end marker; flushes spans (bounded). */
  async end(options: EndOptions = {}): Promise<MigrationStatus> {
    const explicit = options?.status;
    if (explicit !== undefined && !STATUSES.includes(explicit)) fail('sidetrace run.end', 'options.status', STATUSES.join(', '), explicit);
    if (this.endedWith) {
      warnOnce('end-twice', `run.end() called again for run ${this.runId}; it already ended ${this.endedWith}, ignored`);
      return this.endedWith;
    }
    let counters: MigrationCounters | undefined;
    let problem: Error | undefined;
    try {
      counters = await this.store.counters(this.runId);
    } catch (err) {
      problem = storeError(`read the counters of run ${this.runId}`, err);
    }
    const status = explicit ?? (counters && doneOf(counters) >= this.total ? 'succeeded' : 'failed');
    this.endedWith = status;
    if (!problem) {
      try {
        await this.store.finish(this.runId, status);
      } catch (err) {
        problem = storeError(`record the end of run ${this.runId}`, err);
      }
    }
    const attrs: Attributes = {
      ...this.identity(),
      [A.MIGRATION_RUN_STATUS]: status,
      [A.MIGRATION_RUN_BATCHES_ERRORED]: this.errored,
      ...(counters ? { ...counterAttributes(counters), ...progressAttributes(counters, this.total, this.rateBase) } : {}),
    };
    const span = this.runSpan;
    if (span) {
      safely('ending the run span', () => {
        span.setAttributes(attrs);
        if (status === 'failed') {
          const done = counters ? `${doneOf(counters)} of ${this.total} records done` : 'checkpoint unreadable';
          span.setStatus({ code: SpanStatusCode.ERROR, message: `migration failed (${done})` });
        }
        span.end();
      });
    }
    await emitMarker(A.SPAN_RUN_END, attrs, linkTo(this.runContext, 'run'));
    await flushTelemetry();
    if (problem) throw problem;
    return status;
  }

  private batchSpanName(): string {
    return `${A.SPAN_BATCH} ${this.name}`;
  }

  private identity(): Attributes {
    return { [A.MIGRATION_NAME]: this.name, [A.MIGRATION_RUN_ID]: this.runId, [A.MIGRATION_RUN_ATTEMPT]: this.attempt };
  }

  private checkRange(where: string, range: BatchRange): Required<BatchRange> {
    if (range === null || typeof range !== 'object') fail(where, 'the range', 'an object { cursorStart, cursorEnd, index? }', range);
    const cursorStart = checkInteger(where, 'range.cursorStart', range.cursorStart, this.origin);
    const cursorEnd = checkInteger(where, 'range.cursorEnd', range.cursorEnd, cursorStart);
    const index = range.index === undefined ? batchIndexOf(this, cursorStart) : checkInteger(where, 'range.index', range.index, 0);
    return { cursorStart, cursorEnd, index };
  }

  private openBatch(r: Required<BatchRange>, retries: number, options: BatchOptions): BatchRecorder {
    const span = startRootSpan(this.batchSpanName(), {
      kind: options.kind ?? SpanKind.INTERNAL,
      links: linkTo(this.runContext, 'run'),
      attributes: {
        ...options.attributes,
        ...this.identity(),
        [A.MIGRATION_BATCH_INDEX]: r.index,
        [A.MIGRATION_BATCH_SIZE]: r.cursorEnd - r.cursorStart + 1,
        [A.MIGRATION_BATCH_CURSOR_START]: r.cursorStart,
        [A.MIGRATION_BATCH_CURSOR_END]: r.cursorEnd,
      },
    });
    return new BatchRecorder(span, r.index, r.cursorStart, r.cursorEnd, retries);
  }

  /** Opens a batch inside root work that lasts until `release` (the iterator form's body runs in between). */
  private holdBatch(r: Required<BatchRange>): Promise<{ recorder: BatchRecorder; release: () => void }> {
    return new Promise((resolve, reject) => {
      asRootWork(
        this.batchSpanName(),
        () =>
          new Promise<void>((release) => {
            try {
              resolve({ recorder: this.openBatch(r, 0, {}), release });
            } catch (err) {
              release();
              reject(err);
            }
          }),
      ).catch(reject);
    });
  }

  private batchFailed(recorder: BatchRecorder, err: unknown): unknown {
    this.errored += 1;
    finishBatchSpan(recorder, 'error', recorder.close(), undefined, err);
    return err;
  }

  private async commit(recorder: BatchRecorder): Promise<BatchResult> {
    const counts = recorder.close();
    let result: CommitResult;
    try {
      result = await this.store.commitBatch(this.runId, { index: recorder.index, processed: counts.processed, skipped: counts.skipped, failed: counts.failed });
    } catch (err) {
      throw this.batchFailed(recorder, storeError(`commit batch ${recorder.index} of run ${this.runId}`, err));
    }
    const progress = progressAttributes(result.counters, this.total, this.rateBase);
    const outcome = outcomeOf(result);
    finishBatchSpan(recorder, outcome, counts, progress);
    if (result.committed) await this.maybeProgressMarker(result, progress);
    return { index: recorder.index, outcome: outcome as BatchResult['outcome'], ...counts };
  }

  private async maybeProgressMarker(result: CommitResult, progress: Attributes): Promise<void> {
    const now = Date.now();
    const everyBatches = result.counters.batches % this.progressEvery.batches === 0;
    if (!everyBatches && now - this.lastMarkerAt < this.progressEvery.seconds * 1000) return;
    this.lastMarkerAt = now;
    await emitMarker(
      A.SPAN_RUN_PROGRESS,
      {
        ...this.identity(),
        ...counterAttributes(result.counters),
        ...progress,
        [A.MIGRATION_RUN_RESUME_CURSOR]: resumeCursor(this, result.nextBatch),
      },
      linkTo(this.runContext, 'run'),
    );
  }
}

function storeError(what: string, err: unknown): Error {
  return new Error(`sidetrace migration: the checkpoint store could not ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function checkStore(where: string, store: unknown): CheckpointStore {
  const methods = ['get', 'begin', 'isCommitted', 'committedBatches', 'commitBatch', 'counters', 'finish'];
  const missing = store && typeof store === 'object' ? methods.filter((m) => typeof (store as Record<string, unknown>)[m] !== 'function') : methods;
  if (missing.length) fail(where, 'options.store', `a CheckpointStore (missing ${missing.join(', ')})`, store);
  return store as CheckpointStore;
}

function checkProgressEvery(where: string, p: Partial<ProgressEvery> | undefined): ProgressEvery {
  if (p === undefined) return { ...DEFAULT_PROGRESS };
  if (p === null || typeof p !== 'object') fail(where, 'options.progressEvery', 'an object { batches?, seconds? }', p);
  return {
    batches: p.batches === undefined ? DEFAULT_PROGRESS.batches : checkInteger(where, 'options.progressEvery.batches', p.batches, 1),
    seconds: p.seconds === undefined ? DEFAULT_PROGRESS.seconds : checkInteger(where, 'options.progressEvery.seconds', p.seconds, 1),
  };
}

function newRunId(name: string): string {
  const slug = name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 64);
  return `${slug}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Starts a run (or, with a runId the store knows, a new attempt of it). */
export async function startMigration(options: StartMigrationOptions): Promise<MigrationRun> {
  const where = 'sidetrace startMigration';
  if (options === null || typeof options !== 'object') fail(where, 'the argument', 'an options object { name, total, batchSize }', options);
  const name = checkName(where, 'options.name', options.name);
  const total = checkInteger(where, 'options.total', options.total, 0);
  const batchSize = checkInteger(where, 'options.batchSize', options.batchSize, 1);
  const origin = options.cursor === undefined ? 0 : checkInteger(where, 'options.cursor', options.cursor, 0);
  const runId = options.runId === undefined ? newRunId(name) : checkRunId(where, 'options.runId', options.runId);
  const store = options.store === undefined ? new MemoryCheckpointStore() : checkStore(where, options.store);
  const progressEvery = checkProgressEvery(where, options.progressEvery);

  let previous: RunCheckpoint | undefined;
  try {
    previous = await store.get(runId);
  } catch (err) {
    throw storeError(`read run ${runId}`, err);
  }
  if (previous && (previous.name !== name || previous.batchSize !== batchSize || previous.origin !== origin)) {
    throw new Error(
      `${where}: run id ${runId} already belongs to migration ${describe(previous.name)} (batchSize ${previous.batchSize}, cursor ${previous.origin}) ` +
        `in this store; resume it with the same name, batchSize and cursor, or start a new runId`,
    );
  }
  const previousSpan = previous?.runSpan ? spanContextOf(previous.runSpan) : undefined;
  const spanName = `${A.SPAN_RUN} ${name}`;
  const runSpan = await asRootWork(spanName, async () =>
    startRootSpan(spanName, {
      links: linkTo(previousSpan, 'previous_attempt'),
      attributes: {
        [A.MIGRATION_NAME]: name,
        [A.MIGRATION_RUN_ID]: runId,
        [A.MIGRATION_RUN_TOTAL]: total,
        [A.MIGRATION_RUN_BATCH_SIZE]: batchSize,
        [A.MIGRATION_RUN_CURSOR_ORIGIN]: origin,
        [A.MIGRATION_RUN_RESUMED]: previous !== undefined,
      },
    }),
  );
  const runContext = runSpan.spanContext();
  const startedAt = Date.now();
  let state: RunCheckpoint;
  try {
    state = await store.begin(runId, {
      name,
      total,
      batchSize,
      origin,
      startedAt,
      runSpan: trace.isSpanContextValid(runContext) ? traceparentOf(runContext) : undefined,
    });
  } catch (err) {
    const problem = storeError(`begin run ${runId}`, err);
    safely('ending the run span', () => {
      runSpan.recordException(problem);
      runSpan.setStatus({ code: SpanStatusCode.ERROR, message: problem.message });
      runSpan.end();
    });
    throw problem;
  }
  const run = new MigrationRun({
    name,
    runId,
    total,
    batchSize,
    origin,
    attempt: state.attempt,
    store,
    runSpan,
    runContext,
    rateBase: { startedAt, doneAtStart: state.attemptStartDone },
    progressEvery,
  });
  const resumeAt = resumeCursor(run, state.nextBatch);
  safely('starting the run span', () =>
    runSpan.setAttributes({ [A.MIGRATION_RUN_ATTEMPT]: state.attempt, [A.MIGRATION_RUN_RESUME_CURSOR]: resumeAt }),
  );
  if (previous?.status === 'running') {
    await emitMarker(
      A.SPAN_RUN_END,
      {
        [A.MIGRATION_NAME]: name,
        [A.MIGRATION_RUN_ID]: runId,
        [A.MIGRATION_RUN_ATTEMPT]: previous.attempt,
        [A.MIGRATION_RUN_STATUS]: 'interrupted',
        ...counterAttributes(previous.counters),
      },
      linkTo(previousSpan, 'run'),
    );
  }
  await emitMarker(
    A.SPAN_RUN_START,
    {
      [A.MIGRATION_NAME]: name,
      [A.MIGRATION_RUN_ID]: runId,
      [A.MIGRATION_RUN_ATTEMPT]: state.attempt,
      [A.MIGRATION_RUN_RESUMED]: previous !== undefined,
      [A.MIGRATION_RUN_TOTAL]: total,
      [A.MIGRATION_RUN_BATCH_SIZE]: batchSize,
      [A.MIGRATION_RUN_RESUME_CURSOR]: resumeAt,
      ...counterAttributes(state.counters),
    },
    linkTo(runContext, 'run'),
  );
  return run;
}

/** Works on a run started elsewhere: `carrier` is what run.carrier() returned there (object or JSON text). */
export async function continueMigration(carrier: unknown, options: ContinueMigrationOptions = {}): Promise<MigrationRun> {
  const c = parseCarrier(carrier);
  let store: CheckpointStore;
  if (options?.store === undefined) {
    store = new MemoryCheckpointStore();
    await store.begin(c.runId, { name: c.name, total: c.total, batchSize: c.batchSize, origin: c.cursor, startedAt: c.startedAt });
  } else {
    store = checkStore('sidetrace continueMigration', options.store);
  }
  return new MigrationRun({
    name: c.name,
    runId: c.runId,
    total: c.total,
    batchSize: c.batchSize,
    origin: c.cursor,
    attempt: c.attempt,
    store,
    runContext: c.traceparent ? spanContextOf(c.traceparent) : undefined,
    rateBase: { startedAt: c.startedAt, doneAtStart: c.doneAtStart },
    progressEvery: c.progressEvery,
  });
}
