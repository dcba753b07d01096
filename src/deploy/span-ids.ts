// Starting a span whose ids were chosen beforehand. Two cases need it:
// - a span that crosses processes (a carrier file): it is opened in one
//   process, children in other processes already point at its span id, and it
//   is emitted by the process that closes it, which must reuse that id;
// - a GitHub Actions deploy, whose trace id is derived from the run.
// The OpenTelemetry JS tracer takes ids only from its IdGenerator, which is
// fixed when the provider is built (src/sdk.ts). So for one synchronous
// startSpan call this swaps the tracer's generator for one that hands out
// the chosen ids, then puts it back. That generator is an SDK-internal field
// (sdk-trace 2.x); when it is absent (another SDK, the New Relic agent) the
// span gets fresh ids and the caller is told, so it can say so in one line.
import type { Context, Span, SpanOptions, Tracer } from '@opentelemetry/api';

interface IdGenerator {
  generateTraceId(): string;
  generateSpanId(): string;
}

export interface ChosenIds {
  /** Only for a root span: a child takes its parent's trace id. */
  traceId?: string;
  spanId?: string;
}

export function startSpanWithIds(tracer: Tracer, name: string, options: SpanOptions, parent: Context, ids: ChosenIds): { span: Span; exact: boolean } {
  const sdkTracer = tracer as unknown as { _idGenerator?: IdGenerator };
  const original = sdkTracer._idGenerator;
  if (!ids.traceId && !ids.spanId) return { span: tracer.startSpan(name, options, parent), exact: true };
  if (!original || typeof original.generateSpanId !== 'function' || typeof original.generateTraceId !== 'function') {
    return { span: tracer.startSpan(name, options, parent), exact: false };
  }
  sdkTracer._idGenerator = {
    generateTraceId: () => ids.traceId ?? original.generateTraceId(),
    generateSpanId: () => ids.spanId ?? original.generateSpanId(),
  };
  try {
    const span = tracer.startSpan(name, options, parent);
    const ctx = span.spanContext();
    const exact = (!ids.spanId || ctx.spanId === ids.spanId) && (!ids.traceId || ctx.traceId === ids.traceId);
    return { span, exact };
  } finally {
    sdkTracer._idGenerator = original;
  }
}
