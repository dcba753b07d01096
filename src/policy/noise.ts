// The noise policy's runtime parts. Most noise is never created at all (the
// instrumentation settings in src/instrumentations/); what is left is decided
// here, through the SDK's own seams:
// - NoiseSampler: a server span for a health check, probe or static file is
//   recorded but not sampled, so neither it nor its children are exported;
// - NoiseFilterProcessor: such a span that ends in error is exported after
//   all, alone, because an error is never noise; a client span that an
//   instrumentation started with no parent (a connect, a heartbeat) is
//   dropped unless it failed, for the libraries that have no setting to not
//   create it; and a framework's route-handler span, which repeats its server
//   span, is folded into it: its children are re-parented onto the server
//   span, and its error (status and exception events) is moved there.
import { Context, SpanContext, SpanKind, SpanStatusCode, TraceFlags, trace, Attributes, Link } from '@opentelemetry/api';
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
    let p = rawPath.slice(0, end);
    if (p.length > 1 && p.endsWith('/')) p = p.replace(/\/+$/, '');
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
    if (spanKind === SpanKind.SERVER && !this.paths.empty) {
      const parent = trace.getSpanContext(context);
      // A caller that sent a sampled traceparent asked for this trace: honour it.
      const callerSampled = parent !== undefined && parent.isRemote === true && (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
      const p = requestPath(attributes);
      if (!callerSampled && p !== undefined && this.paths.matches(p)) {
        return { decision: SamplingDecision.RECORD, attributes: { [NOISE_ATTRIBUTE]: 'ignored_path' } };
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

/** Bounds the bookkeeping: entries beyond this are evicted oldest first. */
const MAX_TRACKED = 10_000;

function isHandlerSpan(span: ReadableSpan): boolean {
  return span.attributes['express.type'] === 'request_handler';
}

/**
 * Where each map's oldest entry is. A fresh `keys()` iterator would step over
 * every entry deleted since the map was last compacted (thousands under load);
 * a kept one has already passed them, so eviction stays O(1).
 */
const oldestCursors = new WeakMap<Map<unknown, unknown>, Iterator<unknown>>();

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size <= MAX_TRACKED) return;
  let cursor = oldestCursors.get(map);
  let oldest = cursor?.next();
  if (!cursor || !oldest || oldest.done) {
    cursor = map.keys();
    oldestCursors.set(map, cursor);
    oldest = cursor.next();
  }
  map.delete(oldest.value as K);
}

interface FoldedHandler {
  parent: SpanContext | undefined;
  server: Span | undefined;
}

/**
 * `span` with another parent and links, as a plain object of one fixed shape.
 * Not Object.create(span): a prototype per span gives every view its own
 * hidden class, which turns the exporter's property reads megamorphic and
 * made every span it serializes about twice as slow.
 */
function rewired(span: ReadableSpan, parentSpanContext: SpanContext | undefined, links: Link[]): ReadableSpan {
  const context = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => context,
    parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: span.attributes,
    links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** Passes spans to `next`, minus the noise that could only be recognised at its end. */
export class NoiseFilterProcessor implements SpanProcessor {
  /** Open server spans, so a handler's error can be moved onto its server span. */
  private readonly servers = new Map<string, Span>();
  /** Handler spans (open or ended) whose children are re-parented onto the handler's parent. */
  private readonly handlers = new Map<string, FoldedHandler>();

  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    if (span.kind === SpanKind.SERVER) remember(this.servers, span.spanContext().spanId, span);
    else if (isHandlerSpan(span)) {
      const parent = span.parentSpanContext;
      remember(this.handlers, span.spanContext().spanId, { parent, server: parent ? this.servers.get(parent.spanId) : undefined });
    }
    this.next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (span.kind === SpanKind.SERVER) this.servers.delete(span.spanContext().spanId);
    const folded = this.handlers.get(span.spanContext().spanId);
    if (folded) {
      if (failed(span) && !this.moveError(span, folded.server)) this.forward(span);
      // Only the handler's own end needs its server span: don't keep it alive for MAX_TRACKED more requests.
      folded.server = undefined;
      return;
    }
    this.forward(this.withoutFoldedHandlers(span));
  }

  /** A view of `span` whose parent and links point past folded handler spans, at their server spans. */
  private withoutFoldedHandlers(span: ReadableSpan): ReadableSpan {
    if (this.handlers.size === 0) return span;
    const parentId = span.parentSpanContext?.spanId;
    const handler = parentId !== undefined ? this.handlers.get(parentId) : undefined;
    const linksMoved = span.links.some((l) => this.handlers.has(l.context.spanId));
    if (!handler && !linksMoved) return span;
    const links = linksMoved
      ? span.links.map((l) => {
          const h = this.handlers.get(l.context.spanId);
          return h?.parent ? { ...l, context: h.parent } : l;
        })
      : span.links;
    return rewired(span, handler ? handler.parent : span.parentSpanContext, links);
  }

  /** Copy a failed handler's status and events onto its still-open server span. */
  private moveError(handler: ReadableSpan, server: Span | undefined): boolean {
    if (!server || server.ended) return false;
    server.setStatus({ code: SpanStatusCode.ERROR, message: handler.status.message });
    for (const e of handler.events) server.addEvent(e.name, e.attributes, e.time);
    return true;
  }

  private forward(span: ReadableSpan): void {
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
