// The carrier: what a worker in another process needs to work on a run,
// as plain JSON (it travels in a job payload). Versioned, so that a worker
// from a newer sidetrace can still read what an older producer wrote.
import type { SpanContext } from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent, SAMPLED_FLAG } from '../tracing/traceparent';
import { checkInteger, checkName, checkRunId, describe } from './validate';

export interface ProgressEvery {
  /** Emit a progress marker every this many committed batches of the run (default 10). */
  batches: number;
  /** …or when this process has not emitted one for this many seconds (default 60). */
  seconds: number;
}

export interface MigrationCarrier {
  v: 1;
  name: string;
  runId: string;
  /** Absent when the run's total is not known. */
  total?: number;
  batchSize: number;
  /** Cursor of the run's first record. */
  cursor: number;
  attempt: number;
  /** When the attempt started (ms since the epoch) and records done by then: the rate's base. */
  startedAt: number;
  doneAtStart: number;
  /** W3C traceparent of the run span; absent when the producer was not tracing. */
  traceparent?: string;
  /** A carrier without it (hand-written) gets DEFAULT_PROGRESS. */
  progressEvery: ProgressEvery;
}

const WHERE = 'sidetrace continueMigration: corrupt migration carrier';
export const DEFAULT_PROGRESS: ProgressEvery = { batches: 10, seconds: 60 };

/** Reads a carrier (the object, or its JSON text); throws an Error naming what is wrong. */
export function parseCarrier(input: unknown): MigrationCarrier {
  let c = input;
  if (typeof c === 'string') {
    try {
      c = JSON.parse(c);
    } catch (err) {
      throw new Error(`${WHERE}: it is a string but not JSON (${(err as Error).message})`);
    }
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) {
    throw new Error(`${WHERE}: expected the object run.carrier() returned (got ${describe(c)})`);
  }
  const o = c as Record<string, unknown>;
  if (o.v !== 1) throw new Error(`${WHERE}: carrier.v must be 1, the only carrier version this sidetrace reads (got ${describe(o.v)})`);
  const carrier: MigrationCarrier = {
    v: 1,
    name: checkName(WHERE, 'carrier.name', o.name),
    runId: checkRunId(WHERE, 'carrier.runId', o.runId),
    total: o.total === undefined ? undefined : checkInteger(WHERE, 'carrier.total', o.total, 0),
    batchSize: checkInteger(WHERE, 'carrier.batchSize', o.batchSize, 1),
    cursor: checkInteger(WHERE, 'carrier.cursor', o.cursor, 0),
    attempt: checkInteger(WHERE, 'carrier.attempt', o.attempt, 1),
    startedAt: checkInteger(WHERE, 'carrier.startedAt', o.startedAt, 0),
    doneAtStart: checkInteger(WHERE, 'carrier.doneAtStart', o.doneAtStart, 0),
    progressEvery: { ...DEFAULT_PROGRESS },
  };
  if (o.progressEvery !== undefined) {
    const p = o.progressEvery as Record<string, unknown>;
    if (p === null || typeof p !== 'object') throw new Error(`${WHERE}: carrier.progressEvery must be an object (got ${describe(p)})`);
    carrier.progressEvery = {
      batches: checkInteger(WHERE, 'carrier.progressEvery.batches', p.batches, 1),
      seconds: checkInteger(WHERE, 'carrier.progressEvery.seconds', p.seconds, 1),
    };
  }
  if (o.traceparent !== undefined) {
    if (typeof o.traceparent !== 'string' || !spanContextOf(o.traceparent)) {
      throw new Error(`${WHERE}: carrier.traceparent must be a W3C traceparent like 00-<32 hex>-<16 hex>-<2 hex> (got ${describe(o.traceparent)})`);
    }
    carrier.traceparent = o.traceparent;
  }
  return carrier;
}

/** The remote span context a traceparent names, or undefined when it is malformed or all zeros. */
export function spanContextOf(traceparent: string): SpanContext | undefined {
  const p = parseTraceparent(traceparent);
  return p && { traceId: p.traceId, spanId: p.spanId, traceFlags: p.traceFlags & SAMPLED_FLAG, isRemote: true };
}

export function traceparentOf(ctx: SpanContext): string {
  return formatTraceparent({ ...ctx, traceFlags: ctx.traceFlags & SAMPLED_FLAG });
}
