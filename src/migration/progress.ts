// Run progress as attributes: records done of total, the current attempt's
// rate and the time left at that rate. Computed from the checkpoint's
// counters, so every process reports the whole run's progress.
import type { Attributes } from '@opentelemetry/api';
import * as A from './attributes';
import { doneOf, type MigrationCounters } from './checkpoint';

export interface RateBase {
  /** When the attempt started (ms since the epoch). */
  startedAt: number;
  /** Records done by then. */
  doneAtStart: number;
}

/** With no known total: records done and the rate only (no total, percent or ETA). */
export function progressAttributes(counters: MigrationCounters, total: number | undefined, base: RateBase, now = Date.now()): Attributes {
  const done = doneOf(counters);
  const seconds = (now - base.startedAt) / 1000;
  const rate = seconds > 0 ? Math.max(0, done - base.doneAtStart) / seconds : 0;
  const attrs: Attributes = {
    [A.MIGRATION_PROGRESS_DONE]: done,
    [A.MIGRATION_PROGRESS_RATE]: Math.round(rate * 10) / 10,
  };
  if (total === undefined) return attrs;
  attrs[A.MIGRATION_PROGRESS_TOTAL] = total;
  attrs[A.MIGRATION_PROGRESS_PERCENT] = total > 0 ? Math.round((done / total) * 1000) / 10 : 100;
  if (rate > 0) attrs[A.MIGRATION_PROGRESS_ETA] = Math.round(Math.max(0, total - done) / rate);
  return attrs;
}

export function counterAttributes(c: MigrationCounters): Attributes {
  return {
    [A.MIGRATION_RECORDS_PROCESSED]: c.processed,
    [A.MIGRATION_RECORDS_SKIPPED]: c.skipped,
    [A.MIGRATION_RECORDS_FAILED]: c.failed,
    [A.MIGRATION_RUN_BATCHES_COMMITTED]: c.batches,
  };
}
