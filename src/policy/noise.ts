// The noise policy's runtime parts. Most noise is never created at all (the
// instrumentation settings in src/instrumentations/, and sidetrace's own HTTP
// server instrumentation, which makes no framework layer spans); what is left
// is decided here, through the SDK's own seams:
// - NoiseSampler: a server span for a health check, probe or static file is
//   recorded but not sampled, so neither it nor its children are exported;
// - NoiseFilterProcessor: such a span that ends in error is exported after
//   all, alone, because an error is never noise; and a client span that an
//   instrumentation started with no parent (a connect, a heartbeat) is
//   dropped unless it failed, for the libraries that have no setting to not
//   create it.
import { Context, SpanKind, SpanStatusCode, TraceFlags, trace, Attributes, Link } from '@opentelemetry/api';
import type { ReadableSpan, Sampler, SamplingResult, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_STATUS_CODE, ATTR_HTTP_TARGET, ATTR_URL_PATH } from '../tracing/semconv';

export const NOISE_ATTRIBUTE = 'sidetrace.noise';

/** Matches request paths against `/exact`, `/prefix/*` and `*.ext` patterns. */
export class PathMatcher {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly extensions = new Set<string>();

  constructor(patterns: string[]) {
    for (const p of patterns) {
      if (p.startsWith('*.')) this.extensions.add(p.slice(1).toLowerCase());
      else if (p.endsWith('*')) this.prefixes.push(p.slice(0, -1));
      else this.exact.add(p.length > 1 ? p.replace(/\/+$/, '') : p);
    }
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.prefixes.length === 0 && this.extensions.size === 0;
  }

  matches(rawPath: string): boolean {
    let end = rawPath.length;
    const q = rawPath.indexOf('?');
    if (q !== -1) end = q;
    const h = rawPath.indexOf('#');
    if (h !== -1 && h < end) end = h;
    let p = end === rawPath.length ? rawPath : rawPath.slice(0, end);
    if (p.length > 1 && p.charCodeAt(p.length - 1) === 47 /* / */) p = p.replace(/\/+$/, '');
    if (this.exact.has(p)) return true;
    for (const prefix of this.prefixes) if (p.startsWith(prefix)) return true;
    if (this.extensions.size) {
      const dot = p.lastIndexOf('.');
      if (dot > p.lastIndexOf('/') && this.extensions.has(p.slice(dot).toLowerCase())) return true;
    }
    return false;
  }
}

function requestPath(attributes: Attributes): string | undefined {
  const p = attributes[ATTR_URL_PATH] ?? attributes[ATTR_HTTP_TARGET];
  return typeof p === 'string' ? p : undefined;
}

export class NoiseSampler implements Sampler {
  constructor(
    private readonly inner: Sampler,
    private readonly paths: PathMatcher,
  ) {}

  shouldSample(context: Context, traceId: string, spanName: string, spanKind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    // Most requests are not noise: the parent is read only for one whose path is.
    if (spanKind === SpanKind.SERVER && !this.paths.empty) {
      const p = requestPath(attributes);
      if (p !== undefined && this.paths.matches(p)) {
        const parent = trace.getSpanContext(context);
        // A caller that sent a sampled traceparent asked for this trace: honour it.
        const callerSampled = parent !== undefined && parent.isRemote === true && (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
        if (!callerSampled) return { decision: SamplingDecision.RECORD, attributes: { [NOISE_ATTRIBUTE]: 'ignored_path' } };
      }
    }
    return this.inner.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `NoiseSampler{${this.inner.toString()}}`;
  }
}

function failed(span: ReadableSpan): boolean {
  if (span.status.code === SpanStatusCode.ERROR) return true;
  const status = span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] ?? span.attributes[ATTR_HTTP_STATUS_CODE];
  return typeof status === 'number' && status >= 500;
}

/** A view of a recorded-only span that export processors accept as sampled. */
function asSampled(span: ReadableSpan): ReadableSpan {
  const ctx = { ...span.spanContext(), traceFlags: span.spanContext().traceFlags | TraceFlags.SAMPLED };
  return Object.create(span, { spanContext: { value: () => ctx } });
}

const INSTRUMENTATION_SCOPE = /^@opentelemetry\/instrumentation-|^@fastify\/otel/;

/** Passes spans to `next`, minus the noise that could only be recognised at its end. */
export class NoiseFilterProcessor implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (span.attributes[NOISE_ATTRIBUTE] !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) {
      if (failed(span)) this.next.onEnd(asSampled(span));
      return;
    }
    const orphanClient = span.kind === SpanKind.CLIENT && span.parentSpanContext === undefined && INSTRUMENTATION_SCOPE.test(span.instrumentationScope.name);
    if (orphanClient && !failed(span)) return;
    this.next.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}
