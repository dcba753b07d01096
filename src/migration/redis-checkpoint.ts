// The checkpoint store on Redis (the seed team's way): per run id, one hash
// with the run's state and counters, and one hash of committed batches
// (index → "processed,skipped,failed"). Every write is a Lua script, so a
// commit (mark the batch, add its counts, advance the resume point) is atomic
// and happens at most once even when two workers finish the same batch.
//
// Keys (the {runId} hash tag keeps both in one Redis Cluster slot):
//   <prefix>{<runId>}          run state: name, total, batchSize, origin, status,
//                              attempt, runSpan, attemptStartedAt, attemptStartDone,
//                              processed, skipped, failed, batches, nextBatch
//   <prefix>{<runId>}:batches  committed batches
// They are never expired: a checkpoint is a record of the migration.
import { createHash } from 'node:crypto';
import {
  doneOf,
  type AttemptStart,
  type BatchCommit,
  type CheckpointStore,
  type CommitResult,
  type MigrationCounters,
  type MigrationStatus,
  type RunCheckpoint,
} from './checkpoint';

/** The few commands used, as ioredis (which BullMQ uses) spells them. */
export interface RedisCommands {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  evalsha(sha1: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
  hexists(key: string, field: string): Promise<number>;
  hkeys(key: string): Promise<string[]>;
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
}

export interface RedisCheckpointStoreOptions {
  /** Key prefix (default 'sidetrace:migration:'). */
  keyPrefix?: string;
}

const BEGIN = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'batchSize', ARGV[3], 'origin', ARGV[4],
    'attempt', 0, 'processed', 0, 'skipped', 0, 'failed', 0, 'batches', 0, 'nextBatch', 0)
end
redis.call('HINCRBY', KEYS[1], 'attempt', 1)
local c = redis.call('HMGET', KEYS[1], 'processed', 'skipped', 'failed')
local done = tonumber(c[1]) + tonumber(c[2]) + tonumber(c[3])
redis.call('HSET', KEYS[1], 'total', ARGV[2], 'status', 'running', 'runSpan', ARGV[5], 'attemptStartedAt', ARGV[6], 'attemptStartDone', done)
return redis.call('HGETALL', KEYS[1])
`;

const COMMIT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('run not begun in this store') end
local added = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2] .. ',' .. ARGV[3] .. ',' .. ARGV[4])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'processed', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'failed', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'batches', 1)
  local next = tonumber(redis.call('HGET', KEYS[1], 'nextBatch'))
  while redis.call('HEXISTS', KEYS[2], tostring(next)) == 1 do next = next + 1 end
  redis.call('HSET', KEYS[1], 'nextBatch', next)
end
local c = redis.call('HMGET', KEYS[1], 'processed', 'skipped', 'failed', 'batches', 'nextBatch')
return { added, c[1], c[2], c[3], c[4], c[5] }
`;

const FINISH = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end
return 1
`;

export class RedisCheckpointStore implements CheckpointStore {
  private readonly prefix: string;

  /** `redis`: an ioredis client (or anything with the same commands). */
  constructor(
    private readonly redis: RedisCommands,
    options: RedisCheckpointStoreOptions = {},
  ) {
    const methods = ['eval', 'evalsha', 'hgetall', 'hexists', 'hkeys', 'hmget'] as const;
    if (!redis || methods.some((m) => typeof redis[m] !== 'function')) {
      throw new TypeError(`RedisCheckpointStore needs an ioredis client (an object with ${methods.join(', ')})`);
    }
    this.prefix = options.keyPrefix ?? 'sidetrace:migration:';
  }

  /** The run state hash's key (for inspection with redis-cli). */
  runKey(runId: string): string {
    return `${this.prefix}{${runId}}`;
  }

  /** The committed batches hash's key. */
  batchesKey(runId: string): string {
    return `${this.runKey(runId)}:batches`;
  }

  /**
   * EVALSHA first: a span of the Redis instrumentation then carries the
   * script's hash, not its text; EVAL (which caches it) when Redis lacks it.
   */
  private async script(lua: string, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(sha1(lua), numKeys, ...args);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error)?.message ?? '')) throw err;
      return this.redis.eval(lua, numKeys, ...args);
    }
  }

  async get(runId: string): Promise<RunCheckpoint | undefined> {
    const h = await this.redis.hgetall(this.runKey(runId));
    return h && Object.keys(h).length ? parseRun(runId, h) : undefined;
  }

  async begin(runId: string, s: AttemptStart): Promise<RunCheckpoint> {
    const flat = (await this.script(BEGIN, 1, this.runKey(runId), s.name, s.total ?? '', s.batchSize, s.origin, s.runSpan ?? '', s.startedAt)) as string[];
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1];
    return parseRun(runId, h);
  }

  async isCommitted(runId: string, index: number): Promise<boolean> {
    return (await this.redis.hexists(this.batchesKey(runId), String(index))) === 1;
  }

  async committedBatches(runId: string): Promise<Set<number>> {
    return new Set((await this.redis.hkeys(this.batchesKey(runId))).map(Number));
  }

  async commitBatch(runId: string, b: BatchCommit): Promise<CommitResult> {
    const r = (await this.script(COMMIT, 2, this.runKey(runId), this.batchesKey(runId), b.index, b.processed, b.skipped, b.failed)) as (number | string)[];
    return {
      committed: Number(r[0]) === 1,
      counters: { processed: Number(r[1]), skipped: Number(r[2]), failed: Number(r[3]), batches: Number(r[4]) },
      nextBatch: Number(r[5]),
    };
  }

  async counters(runId: string): Promise<MigrationCounters> {
    const [processed, skipped, failed, batches] = await this.redis.hmget(this.runKey(runId), 'processed', 'skipped', 'failed', 'batches');
    return { processed: Number(processed ?? 0), skipped: Number(skipped ?? 0), failed: Number(failed ?? 0), batches: Number(batches ?? 0) };
  }

  async finish(runId: string, status: MigrationStatus): Promise<void> {
    await this.script(FINISH, 1, this.runKey(runId), status);
  }
}

const hashes = new Map<string, string>();
function sha1(lua: string): string {
  let h = hashes.get(lua);
  if (!h) hashes.set(lua, (h = createHash('sha1').update(lua).digest('hex')));
  return h;
}

function parseRun(runId: string, h: Record<string, string>): RunCheckpoint {
  const counters = { processed: Number(h.processed), skipped: Number(h.skipped), failed: Number(h.failed), batches: Number(h.batches) };
  return {
    runId,
    name: h.name,
    total: h.total ? Number(h.total) : undefined, // '' when the run's total is not known
    batchSize: Number(h.batchSize),
    origin: Number(h.origin),
    status: (h.status ?? 'running') as RunCheckpoint['status'],
    attempt: Number(h.attempt),
    runSpan: h.runSpan || undefined,
    attemptStartedAt: Number(h.attemptStartedAt),
    attemptStartDone: Number(h.attemptStartDone ?? doneOf(counters)),
    nextBatch: Number(h.nextBatch),
    counters,
  };
}
