// The `migration.*` span, event and attribute names. No OpenTelemetry semantic
// convention covers data migrations, so these are sidetrace's own; the queue
// parts use the messaging conventions (messaging.*) instead. The README's
// "Migrations" section lists them for people searching in a backend.

/** Span names: `<prefix> <migration name>` for run and batch; markers as is. */
export const SPAN_RUN = 'migration.run';
export const SPAN_BATCH = 'migration.batch';
export const SPAN_RUN_START = 'migration.run.start';
export const SPAN_RUN_PROGRESS = 'migration.run.progress';
export const SPAN_RUN_END = 'migration.run.end';
/** Span event for one record that failed (id and error only, never the record). */
export const EVENT_RECORD_FAILED = 'migration.record.failed';

/** The runAsRootWork group (a New Relic background transaction category). */
export const ROOT_WORK_GROUP = 'Migration';

export const MIGRATION_NAME = 'migration.name';
/** Stable across resumed attempts: search a backend by this tag to find a run. */
export const MIGRATION_RUN_ID = 'migration.run_id';
/** 1 for the first attempt, +1 for every resume of the same run id. */
export const MIGRATION_RUN_ATTEMPT = 'migration.run.attempt';
/** succeeded | failed | cancelled | interrupted (run span and end marker). */
export const MIGRATION_RUN_STATUS = 'migration.run.status';
/** true on the start marker and run span of an attempt that resumed a run. */
export const MIGRATION_RUN_RESUMED = 'migration.run.resumed';
/** Records in the run, as declared by `total`. */
export const MIGRATION_RUN_TOTAL = 'migration.run.total';
/** Declared records per batch. */
export const MIGRATION_RUN_BATCH_SIZE = 'migration.run.batch_size';
/** Cursor of the run's first record (`cursor` option, default 0). */
export const MIGRATION_RUN_CURSOR_ORIGIN = 'migration.run.cursor.origin';
/** Where the run resumes: every record below this cursor is in a committed batch. */
export const MIGRATION_RUN_RESUME_CURSOR = 'migration.run.resume_cursor';
/** Batches committed so far (the whole run, all attempts and processes). */
export const MIGRATION_RUN_BATCHES_COMMITTED = 'migration.run.batches.committed';
/** Batches this process saw throw (not committed; a resume redoes them). */
export const MIGRATION_RUN_BATCHES_ERRORED = 'migration.run.batches.errored';

export const MIGRATION_BATCH_INDEX = 'migration.batch.index';
export const MIGRATION_BATCH_SIZE = 'migration.batch.size';
export const MIGRATION_BATCH_CURSOR_START = 'migration.batch.cursor.start';
export const MIGRATION_BATCH_CURSOR_END = 'migration.batch.cursor.end';
/** Retries of this batch (job attempts before this one, plus `batch.retried()`). */
export const MIGRATION_BATCH_RETRIES = 'migration.batch.retries';
/** committed | already_committed | duplicate | error | abandoned (see batch.ts). */
export const MIGRATION_BATCH_OUTCOME = 'migration.batch.outcome';

/** Per batch on a batch span; per run (all committed batches) on run/marker spans. */
export const MIGRATION_RECORDS_PROCESSED = 'migration.records.processed';
export const MIGRATION_RECORDS_SKIPPED = 'migration.records.skipped';
export const MIGRATION_RECORDS_FAILED = 'migration.records.failed';
/** Failed records beyond the per-batch event limit (counted, not recorded as events). */
export const MIGRATION_RECORDS_FAILED_UNRECORDED = 'migration.records.failed.unrecorded';
/** On a `migration.record.failed` event: the record's id (never its content). */
export const MIGRATION_RECORD_ID = 'migration.record.id';

/** Run progress after this batch / at this marker: records done (processed + skipped + failed). */
export const MIGRATION_PROGRESS_DONE = 'migration.progress.done';
export const MIGRATION_PROGRESS_TOTAL = 'migration.progress.total';
/** done / total × 100, one decimal. */
export const MIGRATION_PROGRESS_PERCENT = 'migration.progress.percent';
/** Records done per second in the current attempt. */
export const MIGRATION_PROGRESS_RATE = 'migration.progress.records_per_second';
/** Seconds left at the current rate (absent while the rate is 0). */
export const MIGRATION_PROGRESS_ETA = 'migration.progress.eta_seconds';

/** Link attribute saying what a link points at: 'run' or 'previous_attempt'. */
export const MIGRATION_LINK = 'migration.link';
