// Starting a migration run, and working on one started elsewhere (a worker
// holding the carrier). The run itself: ./run.ts.
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
import { SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import * as A from './attributes';
import { parseCarrier, spanContextOf, traceparentOf } from './carrier';
import { MemoryCheckpointStore, type CheckpointStore, type RunCheckpoint } from './checkpoint';
import { resumeCursor } from './cursor';
import { checkProgressEvery, checkStore, type ContinueMigrationOptions, type StartMigrationOptions } from './options';
import { counterAttributes } from './progress';
import { MigrationRun } from './run';
import { storeError } from './store-error';
import { asRootWork, emitMarker, linkTo, safely, startRootSpan } from './telemetry';
import { checkInteger, checkName, checkRunId, describe, fail } from './validate';

function newRunId(name: string): string {
  const slug = name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 64);
  return `${slug}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** migration.run.total, when the total is known. */
function totalAttribute(total: number | undefined): Attributes {
  return total === undefined ? {} : { [A.MIGRATION_RUN_TOTAL]: total };
}

/** Starts a run (or, with a runId the store knows, a new attempt of it). */
export async function startMigration(options: StartMigrationOptions): Promise<MigrationRun> {
  const where = 'sidetrace startMigration';
  if (options === null || typeof options !== 'object') fail(where, 'the argument', 'an options object { name, total?, batchSize }', options);
  const name = checkName(where, 'options.name', options.name);
  const total = options.total === undefined ? undefined : checkInteger(where, 'options.total', options.total, 0);
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
        ...totalAttribute(total),
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
  safely('starting the run span', () => runSpan.setAttributes({ [A.MIGRATION_RUN_ATTEMPT]: state.attempt, [A.MIGRATION_RUN_RESUME_CURSOR]: resumeAt }));
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
      ...totalAttribute(total),
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
