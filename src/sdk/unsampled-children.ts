// The tracer provider the instrumentations get (./register-instrumentations.ts):
// the SDK's, except that a span whose parent the sampler has already dropped
// is built without the SDK's Tracer.
//
// With a parent-based sampler (the default, and every `parentbased_*`), a
// child of a not-sampled parent is never recorded: the SDK's Tracer#startSpan
// would still validate the parent's ids (two regular expressions), copy the
// attributes the instrumentation built, ask the sampler and count the span in
// its span-start metric, for a non-recording span. In an unsampled request of
// the demo routes that is every pg, ioredis and outgoing-call span. Here such a
// span is the one the SDK would return: the parent's trace id and trace state,
// a new span id from the same IdGenerator, not sampled. Server spans still go
// to the SDK (the noise policy's sampler may record one whatever its parent),
// as does everything else: a root, a sampled parent, suppressed tracing.
import {
  context,
  trace,
  SpanKind,
  TraceFlags,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerOptions,
  type TracerProvider,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { SidetraceConfig } from '../config';
import { idGenerator } from './id-generator';
import { isValidSpanContext } from '../tracing/traceparent';

/** `provider` as it is when the sampler is not parent-based; otherwise wrapped. */
export function instrumentationTracerProvider(provider: TracerProvider, sampler: SidetraceConfig['sampler']): TracerProvider {
  return sampler.name.startsWith('parentbased_') ? new UnsampledChildrenProvider(provider) : provider;
}

class UnsampledChildrenProvider implements TracerProvider {
  constructor(private readonly sdk: TracerProvider) {}

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return new UnsampledChildrenTracer(this.sdk.getTracer(name, version, options));
  }
}

class UnsampledChildrenTracer implements Tracer {
  constructor(private readonly sdk: Tracer) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    if (options.kind !== SpanKind.SERVER && options.root !== true) {
      const parent = trace.getSpanContext(ctx);
      // A parent with ids the SDK holds invalid goes to the SDK, which starts a new trace for it.
      if (parent !== undefined && (parent.traceFlags & TraceFlags.SAMPLED) === 0 && isValidSpanContext(parent) && !isTracingSuppressed(ctx)) {
        return trace.wrapSpanContext({
          traceId: parent.traceId,
          spanId: idGenerator.generateSpanId(),
          traceFlags: TraceFlags.NONE,
          traceState: parent.traceState,
        });
      }
    }
    return this.sdk.startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, a?: SpanOptions | F, b?: Context | F, c?: F): ReturnType<F> {
    // As the SDK's Tracer reads its arguments: the function is the last one given.
    let options: SpanOptions | undefined;
    let ctx: Context | undefined;
    let fn: F;
    if (c !== undefined) {
      options = a as SpanOptions;
      ctx = b as Context;
      fn = c;
    } else if (b !== undefined) {
      options = a as SpanOptions;
      fn = b as F;
    } else {
      fn = a as F;
    }
    const parentContext = ctx ?? context.active();
    const span = this.startSpan(name, options, parentContext);
    return context.with(trace.setSpan(parentContext, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}
