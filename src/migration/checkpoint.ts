// Where a migration keeps its resume point and counters, so that a run can be
// resumed after a crash and its progress is shared by every process working
// on it. Cursor semantics:
// - records are numbered by cursor positions `origin … origin + total - 1`
//   (`origin` is the `cursor` option, default 0);
// - batch i covers `origin + i·batchSize … origin + (i+1)·batchSize - 1`
//   (inclusive, the last one cut at the end of the run);
// - a batch is committed once, when its callback has returned; its counts are
//   added to the run's counters in the same atomic step;
// - `nextBatch` is the first batch index not committed: every record below
//   `origin + nextBatch·batchSize` is done, so that is the resume cursor.
//   Batches after it may already be committed too (parallel workers); a
//   resume skips those by index.

export type MigrationStatus = 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export interface MigrationCounters {
  processed: number;
  skipped: number;
  failed: number;
  /** Committed batches. */
  batches: number;
}

export interface RunCheckpoint {
  runId: string;
  name: string;
  /** Undefined when the run's total is not known. */
  total?: number;
  batchSize: number;
  /** Cursor of the first record. */
  origin: number;
  /** 'running' until an attempt ends the run. */
  status: MigrationStatus | 'running';
  /** Attempts started so far (1 after the first start). */
  attempt: number;
  /** traceparent of the latest attempt's run span (absent when tracing was off). */
  runSpan?: string;
  /** When the latest attempt started (ms since the epoch). */
  attemptStartedAt: number;
  /** Records done when the latest attempt started (to compute its rate). */
  attemptStartDone: number;
  /** First batch index not committed (see above). */
  nextBatch: number;
  counters: MigrationCounters;
}

/** What an attempt records when it starts. */
export interface AttemptStart {
  name: string;
  /** Undefined when the run's total is not known. */
  total?: number;
  batchSize: number;
  origin: number;
  runSpan?: string;
  startedAt: number;
}

export interface BatchCommit {
  index: number;
  processed: number;
  skipped: number;
  failed: number;
}

export interface CommitResult {
  /** false when the batch was already committed (nothing was added). */
  committed: boolean;
  /** Run counters after this commit. */
  counters: MigrationCounters;
  nextBatch: number;
}

export interface CheckpointStore {
  /** The run's state, or undefined when the store has never seen the run id. */
  get(runId: string): Promise<RunCheckpoint | undefined>;
  /** Starts an attempt (the first creates the run): attempt + 1, status running, total updated; returns the new state. */
  begin(runId: string, start: AttemptStart): Promise<RunCheckpoint>;
  isCommitted(runId: string, index: number): Promise<boolean>;
  /** Indexes of the committed batches. */
  committedBatches(runId: string): Promise<Set<number>>;
  /** Marks the batch committed and adds its counts, atomically and at most once. */
  commitBatch(runId: string, commit: BatchCommit): Promise<CommitResult>;
  counters(runId: string): Promise<MigrationCounters>;
  /** Records the run's final status. */
  finish(runId: string, status: MigrationStatus): Promise<void>;
}

export function emptyCounters(): MigrationCounters {
  return { processed: 0, skipped: 0, failed: 0, batches: 0 };
}

export function doneOf(c: MigrationCounters): number {
  return c.processed + c.skipped + c.failed;
}

interface MemoryRun {
  state: RunCheckpoint;
  committed: Set<number>;
}

/** A store in this process's memory: progress and resume within one process only. */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly runs = new Map<string, MemoryRun>();

  async get(runId: string): Promise<RunCheckpoint | undefined> {
    const run = this.runs.get(runId);
    return run && copy(run.state);
  }

  async begin(runId: string, start: AttemptStart): Promise<RunCheckpoint> {
    let run = this.runs.get(runId);
    if (!run) {
      run = {
        committed: new Set(),
        state: { runId, ...identity(start), status: 'running', attempt: 0, attemptStartedAt: 0, attemptStartDone: 0, nextBatch: 0, counters: emptyCounters() },
      };
      this.runs.set(runId, run);
    }
    const s = run.state;
    s.attempt += 1;
    s.total = start.total;
    s.status = 'running';
    s.runSpan = start.runSpan;
    s.attemptStartedAt = start.startedAt;
    s.attemptStartDone = doneOf(s.counters);
    return copy(s);
  }

  async isCommitted(runId: string, index: number): Promise<boolean> {
    return this.runs.get(runId)?.committed.has(index) ?? false;
  }

  async committedBatches(runId: string): Promise<Set<number>> {
    return new Set(this.runs.get(runId)?.committed);
  }

  async commitBatch(runId: string, commit: BatchCommit): Promise<CommitResult> {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`run ${runId} is not in this checkpoint store (begin it first)`);
    const s = run.state;
    const committed = !run.committed.has(commit.index);
    if (committed) {
      run.committed.add(commit.index);
      s.counters.processed += commit.processed;
      s.counters.skipped += commit.skipped;
      s.counters.failed += commit.failed;
      s.counters.batches += 1;
      while (run.committed.has(s.nextBatch)) s.nextBatch += 1;
    }
    return { committed, counters: { ...s.counters }, nextBatch: s.nextBatch };
  }

  async counters(runId: string): Promise<MigrationCounters> {
    const run = this.runs.get(runId);
    return run ? { ...run.state.counters } : emptyCounters();
  }

  async finish(runId: string, status: MigrationStatus): Promise<void> {
    const run = this.runs.get(runId);
    if (run) run.state.status = status;
  }
}

function identity(start: AttemptStart) {
  return { name: start.name, total: start.total, batchSize: start.batchSize, origin: start.origin };
}

function copy(s: RunCheckpoint): RunCheckpoint {
  return { ...s, counters: { ...s.counters } };
}
