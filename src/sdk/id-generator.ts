// The tracer provider's IdGenerator (an SDK seam): random ids, except when a
// caller has chosen the ids of the next span to start. A carrier-file span
// (opened in one process, emitted by another) and a GitHub Actions deploy
// (trace id derived from the run) need that.
import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

export interface ChosenIds {
  /** Only for a root span: a child takes its parent's trace id. */
  traceId?: string;
  spanId?: string;
}

const INVALID_SPAN_ID = '0000000000000000';
const INVALID_TRACE_ID = '00000000000000000000000000000000';

// Ids are slices of a pool of random hex, refilled in bulk: one randomBytes() call
// per id cost ~2.7 µs (bench/micro.mjs); a hex conversion per id about 1.2 µs for a
// trace id and a span id together, a slice of the hex pool (a view, no copy)
// about 0.3 µs (Node 24). A live id keeps its pool's 8 KiB string alive: a full
// export queue (2,048 spans, at least 170 spans per pool) holds about a dozen.
const POOL = Buffer.allocUnsafe(4096);
let hex = '';
let used = 0;

function randomHex(bytes: number, invalid: string): string {
  const chars = bytes * 2;
  for (;;) {
    if (used + chars > hex.length) {
      randomFillSync(POOL);
      hex = POOL.toString('hex');
      used = 0;
    }
    const id = hex.slice(used, (used += chars));
    if (id !== invalid) return id;
  }
}

export class ChoosableIdGenerator implements IdGenerator {
  private chosen: ChosenIds | undefined;

  generateTraceId(): string {
    const id = this.chosen?.traceId;
    if (id) {
      this.chosen = { ...this.chosen, traceId: undefined };
      return id;
    }
    return randomHex(16, INVALID_TRACE_ID);
  }

  generateSpanId(): string {
    const id = this.chosen?.spanId;
    if (id) {
      this.chosen = { ...this.chosen, spanId: undefined };
      return id;
    }
    return randomHex(8, INVALID_SPAN_ID);
  }

  /** Run `start` (one synchronous startSpan) with these ids handed out first. */
  withIds<T>(ids: ChosenIds, start: () => T): T {
    this.chosen = ids;
    try {
      return start();
    } finally {
      this.chosen = undefined;
    }
  }
}

/** The generator sidetrace's tracer provider uses (src/sdk/index.ts). */
export const idGenerator = new ChoosableIdGenerator();
