// One batch: its span (the root of its own trace, linked to the run span) and
// the object the migration's callback reports to. Failed records become
// span events carrying the record id and the error's type and message only
// (never the record), at most MAX_FAILED_EVENTS per batch; the rest are
// counted.
//
// Outcomes (migration.batch.outcome):
//   committed          the callback returned and the checkpoint took the batch
//   already_committed  the checkpoint had it before: the callback was not called
//   duplicate          the callback ran, but another worker committed it first
//   error              the callback (or the checkpoint) threw: not committed
//   abandoned          iterator form: the loop stopped (break/throw) inside it
import { SpanStatusCode, context, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import * as A from './attributes';
import type { CommitResult } from './checkpoint';
import { safely, warnOnce } from './telemetry';
import { ATTR_EXCEPTION_MESSAGE, ATTR_EXCEPTION_TYPE } from '../tracing/semconv';

export const MAX_FAILED_EVENTS = 20;
const MAX_MESSAGE_LENGTH = 256;

export type BatchOutcome = 'committed' | 'already_committed' | 'duplicate' | 'error' | 'abandoned';

export interface BatchRange {
  /** Cursor of the batch's first record (inclusive). */
  cursorStart: number;
  /** Cursor of its last record (inclusive). */
  cursorEnd: number;
  /** Batch index; default ⌊(cursorStart − origin) / batchSize⌋. */
  index?: number;
}

/** What the migration's callback reports to (and what the iterator form yields). */
export interface MigrationBatch {
  readonly index: number;
  readonly cursorStart: number;
  readonly cursorEnd: number;
  /** cursorEnd − cursorStart + 1. */
  readonly size: number;
  /** The context holding the batch span: `context.with(batch.context, …)` parents spans to it in the iterator form. */
  readonly context: Context;
  /** n records migrated (default 1). */
  processed(n?: number): void;
  /** n records that needed nothing (default 1). */
  skipped(n?: number): void;
  /** A record that failed and was left behind: its id and the error, never its content. */
  failed(recordId: string | number, error: unknown): void;
  /** n retries inside this batch (default 1). */
  retried(n?: number): void;
}

export interface BatchCounts {
  processed: number;
  skipped: number;
  failed: number;
  retries: number;
}

export class BatchRecorder implements MigrationBatch {
  readonly size: number;
  readonly context: Context;
  private readonly counts: BatchCounts;
  private events = 0;
  private closed = false;

  constructor(
    readonly span: Span,
    readonly index: number,
    readonly cursorStart: number,
    readonly cursorEnd: number,
    retries: number,
  ) {
    this.size = cursorEnd - cursorStart + 1;
    this.context = trace.setSpan(context.active(), span);
    this.counts = { processed: 0, skipped: 0, failed: 0, retries };
  }

  processed(n = 1): void {
    this.add('processed', n);
  }

  skipped(n = 1): void {
    this.add('skipped', n);
  }

  retried(n = 1): void {
    this.add('retries', n);
  }

  failed(recordId: string | number, error: unknown): void {
    if (!this.open('failed')) return;
    this.counts.failed += 1;
    if (this.events >= MAX_FAILED_EVENTS || !this.span.isRecording()) return;
    this.events += 1;
    safely('recording a failed record', () =>
      this.span.addEvent(A.EVENT_RECORD_FAILED, {
        [A.MIGRATION_RECORD_ID]: String(recordId),
        [ATTR_EXCEPTION_TYPE]: errorType(error),
        [ATTR_EXCEPTION_MESSAGE]: errorMessage(error),
      }),
    );
  }

  /** Stops counting (later calls are ignored with a warning) and returns the counts. */
  close(): BatchCounts {
    this.closed = true;
    return { ...this.counts };
  }

  private add(field: keyof BatchCounts, n: number): void {
    if (!this.open(field)) return;
    if (!Number.isSafeInteger(n) || n < 0) {
      warnOnce(`count-${field}`, `migration batch.${field === 'retries' ? 'retried' : field}(${String(n)}): n must be an integer ≥ 0; counted nothing`);
      return;
    }
    this.counts[field] += n;
  }

  private open(what: string): boolean {
    if (!this.closed) return true;
    warnOnce(`closed-${what}`, `migration batch ${this.index}: ${what}() called after the batch ended; not counted`);
    return false;
  }
}

export function errorType(error: unknown): string {
  if (error instanceof Error) return error.name || error.constructor?.name || 'Error';
  return error === null ? 'null' : typeof error;
}

export function errorMessage(error: unknown): string {
  const m = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  return m.length > MAX_MESSAGE_LENGTH ? `${m.slice(0, MAX_MESSAGE_LENGTH)}…` : m;
}

/** Puts the batch's counts, the run's progress and the outcome on the span, sets its status and ends it. */
export function finishBatchSpan(recorder: BatchRecorder, outcome: BatchOutcome, counts: BatchCounts, progress: Attributes | undefined, error?: unknown): void {
  const span = recorder.span;
  safely('ending a batch span', () => {
    span.setAttributes({
      [A.MIGRATION_BATCH_OUTCOME]: outcome,
      [A.MIGRATION_RECORDS_PROCESSED]: counts.processed,
      [A.MIGRATION_RECORDS_SKIPPED]: counts.skipped,
      [A.MIGRATION_RECORDS_FAILED]: counts.failed,
      [A.MIGRATION_BATCH_RETRIES]: counts.retries,
      ...progress,
    });
    const unrecorded = counts.failed - Math.min(counts.failed, MAX_FAILED_EVENTS);
    if (unrecorded > 0) span.setAttribute(A.MIGRATION_RECORDS_FAILED_UNRECORDED, unrecorded);
    if (outcome === 'error') {
      span.recordException(error instanceof Error ? error : { name: errorType(error), message: errorMessage(error) });
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
    }
    span.end();
  });
}

export function outcomeOf(result: CommitResult): BatchOutcome {
  return result.committed ? 'committed' : 'duplicate';
}
