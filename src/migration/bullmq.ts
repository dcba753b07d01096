// Distributing a run's batches over BullMQ: one job per batch, the carrier in
// its payload, and a processor that continues the run in the worker. Only the
// shapes of BullMQ's Queue and Job are used (the caller passes them in), so
// bullmq is never loaded by sidetrace and stays an optional peer dependency.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import * as A from './attributes';
import type { MigrationBatch } from './batch';
import { spanContextOf, type MigrationCarrier } from './carrier';
import type { CheckpointStore } from './checkpoint';
import type { BatchesRange, BatchResult } from './options';
import type { MigrationRun } from './run';
import { continueMigration } from './start';
import { asRootWork, linkTo, safely, startRootSpan } from './telemetry';
import { describe } from './validate';
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
} from '../tracing/semconv';

/** What one batch job carries. */
export interface MigrationJobData {
  carrier: MigrationCarrier;
  index: number;
  cursorStart: number;
  cursorEnd: number;
}

/** The part of a BullMQ Queue used here. */
export interface MigrationQueue {
  readonly name: string;
  addBulk(jobs: { name: string; data: MigrationJobData; opts?: Record<string, unknown> }[]): Promise<unknown[]>;
}

/** The part of a BullMQ Job used here. */
export interface MigrationJob {
  readonly id?: string;
  readonly queueName: string;
  readonly data: unknown;
  readonly attemptsMade: number;
}

export interface EnqueueOptions {
  /** Job name (default 'migration-batch'). */
  jobName?: string;
  /** BullMQ job options for every job (attempts, backoff, removeOnComplete…); jobId is set here. */
  jobOptions?: Record<string, unknown>;
}

export interface MigrationWorkerOptions {
  /** The run's checkpoint store, shared with the producer (e.g. a RedisCheckpointStore). */
  store?: CheckpointStore;
}

const ADD_BULK_CHUNK = 500;
const CACHED_RUNS = 16;

const messaging = (queueName: string) => ({ [ATTR_MESSAGING_SYSTEM]: 'bullmq', [ATTR_MESSAGING_DESTINATION_NAME]: queueName });

/**
 * Adds one job per batch of `range` that the checkpoint has not committed;
 * returns how many. Job ids are `<runId>.<attempt>.<index>`: adding again in
 * the same attempt adds nothing twice, and a resumed attempt re-adds what is
 * left. Recorded as one PRODUCER span `send <queue>`, linked to the run.
 */
export async function enqueueMigrationBatches(
  queue: MigrationQueue,
  run: MigrationRun,
  range: BatchesRange = {},
  options: EnqueueOptions = {},
): Promise<number> {
  if (!queue || typeof queue.addBulk !== 'function' || typeof queue.name !== 'string') {
    throw new Error(`sidetrace enqueueMigrationBatches: the first argument must be a BullMQ Queue (got ${describe(queue)})`);
  }
  const carrier = run.carrier();
  const jobName = options.jobName ?? 'migration-batch';
  const name = `send ${queue.name}`;
  return asRootWork(name, async () => {
    const span = startRootSpan(name, {
      kind: SpanKind.PRODUCER,
      links: linkTo(carrier.traceparent ? spanContextOf(carrier.traceparent) : undefined, 'run'),
      attributes: {
        ...messaging(queue.name),
        [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
        [ATTR_MESSAGING_OPERATION_NAME]: 'addBulk',
        [A.MIGRATION_NAME]: run.name,
        [A.MIGRATION_RUN_ID]: run.runId,
        [A.MIGRATION_RUN_ATTEMPT]: run.attempt,
      },
    });
    let count = 0;
    try {
      let chunk: { name: string; data: MigrationJobData; opts: Record<string, unknown> }[] = [];
      for await (const b of run.pendingBatches(range)) {
        chunk.push({ name: jobName, data: { carrier, ...b }, opts: { ...options.jobOptions, jobId: `${run.runId}.${run.attempt}.${b.index}` } });
        if (chunk.length === ADD_BULK_CHUNK) {
          await queue.addBulk(chunk);
          count += chunk.length;
          chunk = [];
        }
      }
      if (chunk.length) await queue.addBulk(chunk);
      count += chunk.length;
      return count;
    } catch (err) {
      safely('recording an enqueue error', () => {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
      });
      throw err;
    } finally {
      safely('ending the enqueue span', () => {
        span.setAttribute(ATTR_MESSAGING_BATCH_MESSAGE_COUNT, count);
        span.end();
      });
    }
  });
}

/**
 * A BullMQ processor for batch jobs: continues the run from the job's carrier
 * and runs `process` as that batch (a CONSUMER span with messaging.*
 * attributes; the job's earlier attempts count as retries). Whatever
 * `process` throws fails the job, so BullMQ's retry policy applies; a job
 * whose batch is already committed returns without calling `process`.
 */
export function migrationWorker<J extends MigrationJob>(
  process: (batch: MigrationBatch, job: J) => unknown,
  options: MigrationWorkerOptions = {},
): (job: J) => Promise<BatchResult> {
  if (typeof process !== 'function') throw new Error(`sidetrace migrationWorker: the first argument must be the batch function (got ${describe(process)})`);
  const runs = new Map<string, Promise<MigrationRun>>(); // per run attempt, so progress markers keep their pace across jobs
  return async (job: J) => {
    const data = job?.data as Partial<MigrationJobData> | undefined;
    if (!data || typeof data !== 'object' || data.carrier === undefined) {
      throw new Error(
        `sidetrace migrationWorker: job ${job?.id} on queue ${job?.queueName} has no data.carrier; enqueue batch jobs with enqueueMigrationBatches`,
      );
    }
    const key = `${(data.carrier as Partial<MigrationCarrier>)?.runId}.${(data.carrier as Partial<MigrationCarrier>)?.attempt}`;
    let pending = runs.get(key);
    if (!pending) {
      pending = continueMigration(data.carrier, { store: options.store });
      pending.catch(() => runs.delete(key));
      runs.set(key, pending);
      if (runs.size > CACHED_RUNS) runs.delete(runs.keys().next().value as string);
    }
    const run = await pending;
    return run.batch({ cursorStart: data.cursorStart as number, cursorEnd: data.cursorEnd as number, index: data.index }, (batch) => process(batch, job), {
      retries: job.attemptsMade,
      kind: SpanKind.CONSUMER,
      attributes: {
        ...messaging(job.queueName),
        [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
        [ATTR_MESSAGING_OPERATION_NAME]: 'process',
        ...(job.id !== undefined ? { [ATTR_MESSAGING_MESSAGE_ID]: String(job.id) } : {}),
      },
    });
  };
}
