// A migration run: the run span (start to end), the short marker spans that
// survive a crash (start, progress, end), and its batches, each one trace of
// its own linked to the run span. The checkpoint store holds the truth about
// progress, so any process holding the carrier reports the whole run's.
// Starting and resuming a run: ./start.ts.
import { SpanKind, SpanStatusCode, context, trace, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import * as A from './attributes';
import { BatchRecorder, finishBatchSpan, outcomeOf, type BatchRange, type MigrationBatch } from './batch';
import { traceparentOf, type MigrationCarrier, type ProgressEvery } from './carrier';
import { doneOf, type CheckpointStore, type CommitResult, type MigrationCounters, type MigrationStatus, type RunCheckpoint } from './checkpoint';
import { batchIndexOf, lastCursor, planBatches, resumeCursor } from './cursor';
import { STATUSES, type BatchOptions, type BatchResult, type BatchesRange, type EndOptions } from './options';
import { counterAttributes, progressAttributes, type RateBase } from './progress';
import { storeError } from './store-error';
import { asRootWork, emitMarker, flushTelemetry, linkTo, safely, startRootSpan, warnOnce } from './telemetry';
import { checkInteger, fail } from './validate';

export interface RunInit {
  name: string;
  runId: string;
  total: number | undefined;
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
  /** Undefined when the run's total is not known. */
  readonly total: number | undefined;
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
    if (to === undefined) fail(where, 'range.to', 'the last cursor to run, as this run has no total', range.to);
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
    // With no total, a run is done when its caller ends it; it failed if a batch threw here.
    const complete = this.total === undefined ? this.errored === 0 : counters !== undefined && doneOf(counters) >= this.total;
    const status = explicit ?? (counters && complete ? 'succeeded' : 'failed');
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
          const done = !counters
            ? 'checkpoint unreadable'
            : this.total === undefined
              ? `${doneOf(counters)} records done, ${this.errored} batch${this.errored === 1 ? '' : 'es'} failed`
              : `${doneOf(counters)} of ${this.total} records done`;
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
