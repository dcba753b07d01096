// W3C trace context as text, the one parser and formatter: the TRACEPARENT/
// TRACESTATE environment variables (read by config, handed to children by a
// deploy), the parent a carrier file records, migration carriers. Also the
// check of a span context's ids that the request hot path runs.
// Formatted and parsed here directly, whatever OTEL_PROPAGATORS says, because
// environment variables always carry the W3C form.
import type { SpanContext } from '@opentelemetry/api';

/** W3C trace-flags bit 0 (TraceFlags.SAMPLED), without loading the API: config reads TRACEPARENT on the tracing-off path too. */
export const SAMPLED_FLAG = 0x01;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** The parts of a version-00 traceparent, or undefined when it is malformed or all-zero. */
export function parseTraceparent(value: string | undefined): ParsedTraceparent | undefined {
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16) };
}

export function formatTraceparent(ctx: Pick<SpanContext, 'traceId' | 'spanId' | 'traceFlags'>): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The API's isSpanContextValid (ids of hex digits in either case, of the right
 * count, not all zeros) without its two regular expressions, which cost most on
 * ids sliced out of a longer string (a traceparent header, the id generator's
 * hex pool): for the hot path, where every request's parent is checked.
 */
export function isValidSpanContext(ctx: Pick<SpanContext, 'traceId' | 'spanId'>): boolean {
  return isValidId(ctx.traceId, 32) && isValidId(ctx.spanId, 16);
}

function isValidId(id: string, length: number): boolean {
  if (typeof id !== 'string' || id.length !== length) return false;
  let any = false;
  for (let i = 0; i < length; i++) {
    const c = id.charCodeAt(i);
    if (c === 48) continue;
    if (!((c > 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
    any = true;
  }
  return any;
}

export function isSampled(traceFlags: number): boolean {
  return (traceFlags & SAMPLED_FLAG) === SAMPLED_FLAG;
}
