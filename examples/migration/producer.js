'use strict';
// Starts the preview backfill: a run with its checkpoint in Redis, one BullMQ
// job per batch (run the workers with worker.js), progress lines until every
// batch is committed, then the run's end. Run it under sidetrace's preload.
//
// Env: REDIS_URL, MIGRATION_RECORDS (default 20000), MIGRATION_BATCH_SIZE
// (default 1000), MIGRATION_QUEUE (default 'preview-backfill'), MIGRATION_RUN_ID
// (resume that run instead of starting a new one).
const { Queue } = require('bullmq');
const { Redis } = require('ioredis');
const { startMigration, enqueueMigrationBatches, RedisCheckpointStore } = require('sidetrace');
const { seedExistingPreviews } = require('./previews');

const env = process.env;
const WAIT_LIMIT_MS = 30 * 60_000;

function positiveInt(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (Number.isSafeInteger(n) && n > 0) return n;
  console.log(`${name}=${raw} is not a positive integer; using ${fallback}`);
  return fallback;
}

async function main() {
  const total = positiveInt('MIGRATION_RECORDS', 20000);
  const batchSize = positiveInt('MIGRATION_BATCH_SIZE', 1000);
  const url = env.REDIS_URL || 'redis://127.0.0.1:6379';
  const redis = new Redis(url);
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(env.MIGRATION_QUEUE || 'preview-backfill', { connection });
  try {
    const store = new RedisCheckpointStore(redis);
    if (!env.MIGRATION_RUN_ID) await seedExistingPreviews(redis, total);
    const run = await startMigration({ name: 'backfill-previews', total, batchSize, runId: env.MIGRATION_RUN_ID || undefined, store });
    console.log(`run ${run.runId} (attempt ${run.attempt}): ${total} files in batches of ${batchSize}`);
    const jobs = await enqueueMigrationBatches(queue, run, {}, { jobOptions: { attempts: 3, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: true } });
    console.log(`enqueued ${jobs} batch jobs on ${queue.name}`);

    // Until the queue has nothing left to run (a batch that failed all its attempts stays failed).
    const batches = Math.ceil(total / batchSize);
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const c = await store.counters(run.runId);
      console.log(`progress: ${c.batches}/${batches} batches, ${c.processed} previews made, ${c.skipped} skipped, ${c.failed} failed`);
      const left = await queue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized');
      if (left === 0 || c.batches >= batches || Date.now() > deadline) break;
    }
    const status = await run.end();
    console.log(`run ${run.runId} ended: ${status}`);
  } finally {
    await queue.close();
    await Promise.all([connection.quit(), redis.quit()]);
  }
}

main().catch((err) => {
  console.error(`producer: ${err.message}`);
  process.exitCode = 1;
});
