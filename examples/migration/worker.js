'use strict';
// A BullMQ worker for the preview backfill: run it under sidetrace's preload
// (`node --require sidetrace/preload examples/migration/worker.js`), as many
// as you like. Each job is one batch; sidetrace continues the run from the
// job's carrier and records the batch as a trace of its own.
//
// Env: REDIS_URL, MIGRATION_QUEUE (default 'preview-backfill'),
// MIGRATION_CONCURRENCY (default 2), MIGRATION_FLAKY_BATCH (a batch index
// whose first attempt fails, to show a retried batch; default 7, -1 for none).
const { Worker } = require('bullmq');
const { Redis } = require('ioredis');
const { migrationWorker, RedisCheckpointStore } = require('sidetrace');
const { backfillBatch } = require('./previews');

const env = process.env;
const queueName = env.MIGRATION_QUEUE || 'preview-backfill';
const flakyBatch = Number(env.MIGRATION_FLAKY_BATCH ?? 7);
const redis = new Redis(env.REDIS_URL || 'redis://127.0.0.1:6379');

const processor = migrationWorker(
  async (batch, job) => {
    if (batch.index === flakyBatch && job.attemptsMade === 0) {
      throw new Error(`batch ${batch.index}: preview store timed out (injected; BullMQ retries the job)`);
    }
    await backfillBatch(redis, batch);
  },
  { store: new RedisCheckpointStore(redis) },
);

const connection = new Redis(env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const worker = new Worker(queueName, processor, {
  connection,
  concurrency: Number(env.MIGRATION_CONCURRENCY || 2),
});
worker.on('ready', () => console.log(`worker ${process.pid} ready on queue ${queueName}`));
worker.on('failed', (job, err) => console.log(`worker ${process.pid}: job ${job?.id} failed: ${err.message}`));

// Finish the jobs in hand, then exit; the preload flushes the spans on the way out.
async function stop() {
  await worker.close();
  await Promise.all([connection.quit(), redis.quit()]);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
