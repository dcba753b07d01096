// Starting a span whose ids were chosen beforehand, through the tracer
// provider's IdGenerator (src/sdk/id-generator.ts). When the registered provider
// is not sidetrace's (another SDK, the New Relic agent), the span gets fresh
// ids and the caller is told, so it can say so in one line.
import type { Context, Span, SpanOptions, Tracer } from '@opentelemetry/api';
import { idGenerator, type ChosenIds } from '../sdk/id-generator';

export type { ChosenIds } from '../sdk/id-generator';

export function startSpanWithIds(tracer: Tracer, name: string, options: SpanOptions, parent: Context, ids: ChosenIds): { span: Span; exact: boolean } {
  if (!ids.traceId && !ids.spanId) return { span: tracer.startSpan(name, options, parent), exact: true };
  const span = idGenerator.withIds(ids, () => tracer.startSpan(name, options, parent));
  const ctx = span.spanContext();
  const exact = (!ids.spanId || ctx.spanId === ids.spanId) && (!ids.traceId || ctx.traceId === ids.traceId);
  return { span, exact };
}
