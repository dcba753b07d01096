// The public options and results of a migration run, and the checks that turn
// a caller's options into valid values (one error naming what was wrong).
import type { Attributes, SpanKind } from '@opentelemetry/api';
import type { BatchOutcome } from './batch';
import { DEFAULT_PROGRESS, type ProgressEvery } from './carrier';
import type { CheckpointStore, MigrationStatus } from './checkpoint';
import { checkInteger, fail } from './validate';

export interface StartMigrationOptions {
  /** What the migration does, e.g. 'backfill-previews' (span names, migration.name). */
  name: string;
  /**
   * Records in the run, when known up front. Without it progress has no
   * percent or ETA, run.batches() needs a `to`, and end() defaults to
   * 'succeeded' unless a batch failed in this process.
   */
  total?: number;
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
  /** Last cursor, inclusive (default the run's last record; required when the run has no total). */
  to?: number;
}

export interface EndOptions {
  /** Default: 'succeeded' when the checkpoint counts every record done (with no total: when no batch failed in this process), else 'failed'. */
  status?: MigrationStatus;
}

export const STATUSES: readonly MigrationStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export function checkStore(where: string, store: unknown): CheckpointStore {
  const methods = ['get', 'begin', 'isCommitted', 'committedBatches', 'commitBatch', 'counters', 'finish'];
  const missing = store && typeof store === 'object' ? methods.filter((m) => typeof (store as Record<string, unknown>)[m] !== 'function') : methods;
  if (missing.length) fail(where, 'options.store', `a CheckpointStore (missing ${missing.join(', ')})`, store);
  return store as CheckpointStore;
}

export function checkProgressEvery(where: string, p: Partial<ProgressEvery> | undefined): ProgressEvery {
  if (p === undefined) return { ...DEFAULT_PROGRESS };
  if (p === null || typeof p !== 'object') fail(where, 'options.progressEvery', 'an object { batches?, seconds? }', p);
  return {
    batches: p.batches === undefined ? DEFAULT_PROGRESS.batches : checkInteger(where, 'options.progressEvery.batches', p.batches, 1),
    seconds: p.seconds === undefined ? DEFAULT_PROGRESS.seconds : checkInteger(where, 'options.progressEvery.seconds', p.seconds, 1),
  };
}
