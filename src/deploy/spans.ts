// Spans made from carrier records and traceparents: the parent context a
// traceparent names, and a recorded span emitted at last with its original
// ids and start time.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type Context, type SpanContext, type Tracer } from '@opentelemetry/api';
import { log } from '../logging/log';
import { hrTimeOf, type CarrierAttributes, type CarrierSpan } from './carrier';
import { startSpanWithIds } from './span-ids';
import { formatTraceparent, isSampled, parseTraceparent } from '../tracing/traceparent';

/** The context a traceparent names, as a remote parent; the root context when there is none. */
export function contextOf(traceparent: string | undefined, tracestate?: string): Context {
  const p = parseTraceparent(traceparent);
  if (!p) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: p.traceId,
    spanId: p.spanId,
    traceFlags: p.traceFlags,
    isRemote: true,
    traceState: tracestate ? createTraceState(tracestate) : undefined,
  });
}

/** `base` with TRACEPARENT/TRACESTATE naming `ctx`, for a child process that should join it (unchanged when `ctx` is invalid). */
export function envJoining(ctx: SpanContext, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  if (!trace.isSpanContextValid(ctx)) return env;
  env.TRACEPARENT = formatTraceparent(ctx);
  const state = ctx.traceState?.serialize();
  if (state) env.TRACESTATE = state;
  else delete env.TRACESTATE;
  return env;
}

export interface SpanEnd {
  endUnixNano: bigint | string;
  failed?: string;
  attributes?: CarrierAttributes;
  /** Move the start earlier (the deploy's KAMAL_RUNTIME shows it began before pre-deploy). */
  startUnixNano?: bigint;
}

let warnedIds = false;

/** Emit a span recorded in a carrier. Returns false when it was not sampled (nothing to emit). */
export function emitRecordedSpan(tracer: Tracer, rec: CarrierSpan, end: SpanEnd): boolean {
  const own = parseTraceparent(rec.traceparent);
  if (!own || !isSampled(own.traceFlags)) return false;
  const parent = contextOf(rec.parent, rec.tracestate);
  const isRoot = parent === ROOT_CONTEXT;
  const { span, exact } = startSpanWithIds(
    tracer,
    rec.name,
    {
      kind: SpanKind.INTERNAL,
      root: isRoot,
      startTime: hrTimeOf(end.startUnixNano ?? rec.startTimeUnixNano),
      attributes: { ...rec.attributes, ...end.attributes },
    },
    parent,
    { spanId: own.spanId, traceId: isRoot ? own.traceId : undefined },
  );
  if (!exact && !warnedIds) {
    warnedIds = true;
    log.warn(`could not give "${rec.name}" the ids recorded when it was opened (this tracing SDK does not allow it); its phases will show as detached`);
  }
  if (end.failed) span.setStatus({ code: SpanStatusCode.ERROR, message: end.failed });
  span.end(hrTimeOf(end.endUnixNano));
  return true;
}
