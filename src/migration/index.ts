// Migration batch tracing: the public names (re-exported by src/index.ts).
export { startMigration, continueMigration } from './start';
export { MigrationRun } from './run';
export type { StartMigrationOptions, ContinueMigrationOptions, BatchOptions, BatchResult, BatchesRange, EndOptions } from './options';
export type { MigrationBatch, BatchRange, BatchOutcome } from './batch';
export type { MigrationCarrier, ProgressEvery } from './carrier';
export { MemoryCheckpointStore } from './checkpoint';
export type { CheckpointStore, RunCheckpoint, MigrationCounters, MigrationStatus, AttemptStart, BatchCommit, CommitResult } from './checkpoint';
export { RedisCheckpointStore } from './redis-checkpoint';
export type { RedisCommands, RedisCheckpointStoreOptions } from './redis-checkpoint';
export { enqueueMigrationBatches, migrationWorker } from './bullmq';
export type { MigrationJobData, MigrationQueue, MigrationJob, EnqueueOptions, MigrationWorkerOptions } from './bullmq';
export * as migrationAttributes from './attributes';
