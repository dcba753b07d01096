// sidetrace's fetch / undici client instrumentation: one CLIENT span per
// request undici sends (global fetch, and the undici package's own API), made
// from undici's diagnostics channels. It implements the Instrumentation
// interface without upstream's InstrumentationBase, whose constructor installs
// require-in-the-middle's require hook even though this instrumentation
// patches no module. Loaded only with the noise policy on; it makes the span
// upstream instrumentation-undici makes with `requireParentforSpans: true`.
//
// - `undici:request:create` (in the caller's context, headers not yet sent):
//   with no parent span, no span, and the context is injected as upstream
//   does it (with an invalid span: no traceparent). Otherwise the sampler is
//   asked (tracer.startSpan with no attributes: no sampler sidetrace
//   configures reads a client span's), the context is injected into the
//   request's headers and, only if the span records, the attributes are added.
// - `undici:client:sendHeaders`: the peer address and protocol version.
// - `undici:request:headers`: status code; 400 and above is an error.
// - `undici:request:trailers` (the body fully received, read by the app or
//   not) and `undici:request:error` (refused, reset, aborted, or an unread
//   response garbage-collected) end the span.
// A redirect fetch follows is a new request: a span of its own, as upstream's.
// Left out, as sidetrace sets none of them: upstream's hooks
// (ignoreRequestHook, requestHook, startSpanHook, responseHook),
// headersToSpanAttributes, and the http.client.request.duration metric
// (sidetrace registers no MeterProvider).
import diagnosticsChannel from 'node:diagnostics_channel';
import { context, diag, INVALID_SPAN_CONTEXT, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { EmitInstrumentation } from './emit-instrumentation';

export const UNDICI_SCOPE = 'sidetrace-undici';

/** What the channels carry of undici's Request (v5: headers a string; v6+: a flat array). */
interface UndiciRequest {
  origin: string;
  path: string;
  method: string;
  headers: string | (string | string[])[];
  addHeader?: (name: string, value: string) => unknown;
}
interface UndiciResponse {
  statusCode: number;
}
interface UndiciSocket {
  remoteAddress?: string;
  remotePort?: number;
  alpnProtocol?: string | false;
}

const KNOWN_METHODS = new Set(['CONNECT', 'OPTIONS', 'HEAD', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'TRACE', 'QUERY']);
const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

const noParent = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export class UndiciInstrumentation extends EmitInstrumentation<InstrumentationConfig> {
  /** The recording span of each request in flight; an entry goes when its request ends (or with the request, if it never does). */
  private readonly spans = new WeakMap<UndiciRequest, Span>();

  constructor(settings: InstrumentationConfig = {}) {
    super(UNDICI_SCOPE, settings);
  }

  enable(): void {
    if (this.restore.length) return;
    this.subscribe('undici:request:create', (m) => this.onCreate(m.request as UndiciRequest));
    this.subscribe('undici:client:sendHeaders', (m) => this.onSendHeaders(m.request as UndiciRequest, m.socket as UndiciSocket));
    this.subscribe('undici:request:headers', (m) => this.onResponseHeaders(m.request as UndiciRequest, m.response as UndiciResponse));
    this.subscribe('undici:request:trailers', (m) => this.onDone(m.request as UndiciRequest));
    this.subscribe('undici:request:error', (m) => this.onError(m.request as UndiciRequest, m.error as Error & { code?: string | number }));
  }

  private subscribe(name: string, onMessage: (message: Record<string, unknown>) => void): void {
    const listener = (message: unknown) => {
      try {
        onMessage(message as Record<string, unknown>);
      } catch (err) {
        diag.error(`sidetrace undici: ${name} failed`, err);
      }
    };
    diagnosticsChannel.subscribe(name, listener);
    this.restore.push(() => diagnosticsChannel.unsubscribe(name, listener));
  }

  private onCreate(request: UndiciRequest): void {
    if (request.method === 'CONNECT') return;
    const parent = context.active();
    const parentSpan = trace.getSpan(parent);
    if (parentSpan === undefined || !trace.isSpanContextValid(parentSpan.spanContext())) {
      // As upstream's requireParentforSpans: no span; the other propagators (baggage) still inject.
      inject(request, trace.setSpan(parent, noParent));
      return;
    }
    const method = KNOWN_METHODS.has(request.method.toUpperCase()) ? request.method.toUpperCase() : '_OTHER';
    const span = this.tracer.startSpan(method === '_OTHER' ? 'HTTP' : method, { kind: SpanKind.CLIENT }, parent);
    if (span.isRecording()) {
      const attributes = requestAttributes(request, method);
      // Not in practice (undici checks origin and path): left unended, so never exported, and nothing injected, as upstream traces none.
      if (attributes === undefined) return;
      span.setAttributes(attributes);
      this.spans.set(request, span);
    }
    inject(request, trace.setSpan(parent, span));
  }

  private onSendHeaders(request: UndiciRequest, socket: UndiciSocket): void {
    const span = this.spans.get(request);
    if (span === undefined) return;
    span.setAttributes({
      'network.peer.address': socket.remoteAddress,
      'network.peer.port': socket.remotePort,
      // undici offers only http/1.1 and, with allowH2, h2.
      'network.protocol.version': socket.alpnProtocol === 'h2' ? '2' : '1.1',
    });
  }

  private onResponseHeaders(request: UndiciRequest, response: UndiciResponse): void {
    const span = this.spans.get(request);
    if (span === undefined) return;
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 400) {
      span.setAttribute('error.type', String(response.statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }

  private onDone(request: UndiciRequest): void {
    const span = this.spans.get(request);
    if (span === undefined) return;
    this.spans.delete(request);
    span.end();
  }

  // `error` is not always an Error: a response garbage-collected with its body unread cancels the request with a string.
  private onError(request: UndiciRequest, error: Error & { code?: string | number }): void {
    const span = this.spans.get(request);
    if (span === undefined) return;
    this.spans.delete(request);
    try {
      const { name, code, message } = (error ?? {}) as Partial<typeof error>;
      // An abort the app asked for (AbortController) is not an error (HTTP semantic conventions): the span just ends.
      const aborted = name === 'AbortError' || (error instanceof DOMException && code === DOMException.ABORT_ERR);
      if (!aborted) {
        // A low-cardinality class: the code or the name, never the message.
        span.setAttribute('error.type', String(code || name || 'Error'));
        span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message });
      }
    } finally {
      span.end();
    }
  }
}

/** The request attributes of upstream's span, in its order; undefined when origin + path is no URL. */
function requestAttributes(request: UndiciRequest, method: string): Attributes | undefined {
  let url: URL;
  try {
    url = new URL(request.path, request.origin);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.slice(0, -1);
  const attributes: Attributes = {
    'http.request.method': method,
    'http.request.method_original': request.method,
    'url.full': url.href,
    'url.path': url.pathname,
    'url.query': url.search,
    'url.scheme': scheme,
    'server.address': url.hostname,
  };
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[scheme];
  if (port !== undefined && !Number.isNaN(port)) attributes['server.port'] = port;
  const userAgent = headerValue(request.headers, 'user-agent');
  if (userAgent) attributes['user_agent.original'] = userAgent;
  return attributes;
}

/** The last value of a request header (as curl takes the last user agent), from either of undici's header forms. */
function headerValue(headers: UndiciRequest['headers'], name: string): string | undefined {
  let found: string | undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      const key = headers[i];
      if (typeof key !== 'string' || key.toLowerCase() !== name) continue;
      const value = headers[i + 1];
      found = Array.isArray(value) ? value[value.length - 1] : value;
    }
  } else if (typeof headers === 'string') {
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon !== -1 && line.slice(0, colon).toLowerCase() === name) found = line.slice(colon + 1).trim();
    }
  }
  return found;
}

/** Adds the propagators' headers to a request that has not sent its headers yet. */
function inject(request: UndiciRequest, ctx: ReturnType<typeof context.active>): void {
  const added: Record<string, string> = {};
  propagation.inject(ctx, added);
  for (const key in added) {
    if (typeof request.addHeader === 'function') request.addHeader(key, added[key]);
    else if (typeof request.headers === 'string') request.headers += `${key}: ${added[key]}\r\n`;
    else if (Array.isArray(request.headers)) request.headers.push(key, added[key]);
  }
}
