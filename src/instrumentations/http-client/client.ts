// sidetrace's HTTP client instrumentation: one CLIENT span per
// http.request / https.request / http.get / https.get call. Loaded only with
// the noise policy on; it behaves as upstream instrumentation-http's client
// side does with `requireParentforOutgoingSpans`. It installs no require hook.
//
// - Where Node publishes `http.client.request.created` (>= 22.12, ./channels.ts):
//   that channel, fired at the end of the ClientRequest constructor, in the
//   caller's context, headers not yet sent. Elsewhere (Node 20) enable() wraps
//   `request` and `get` of `node:http` and `node:https` (required there)
//   and runs the same code right after the original `request()` returns
//   (still in the caller's context, headers not yet sent); the ES module
//   bindings follow through module.syncBuiltinESMExports().
//   With no parent span, nothing at all; with a remote parent, its traceparent
//   is passed on; otherwise the sampler is asked (tracer.startSpan with no
//   attributes, as no sampler sidetrace configures reads a client span's),
//   the context is injected with setHeader and, only if the span records, the
//   attributes are computed by upstream's own builder.
// - `http.client.response.finish` (the response's head arrived, before the
//   `response` event; Node 20 has it too): the response attributes.
// - ClientRequest#emit and IncomingMessage#emit, wrapped once: they end the
//   span where upstream does (the response's `end` or `error`, the request's
//   `error` or `close`), with no listener added per call.
// The app's `response` callback and its `res.on('data' | 'end')`, `error` and
// `timeout` listeners run in the caller's context, as upstream makes them:
// the request is created there, and Node runs a request's and its response's
// events in the context it was created in (also on a keep-alive socket that
// another call used before). The client span is never the active one, so a
// span started in a response callback is the caller's child, as upstream's.
// (Upstream creates the request inside its span's context, then binds the
// callbacks and both emitters back to the caller's, per call.)
import http, { IncomingMessage } from 'node:http';
import type https from 'node:https';
import diagnosticsChannel from 'node:diagnostics_channel';
import { syncBuiltinESMExports } from 'node:module';
import { context, diag, propagation, trace, SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { EmitInstrumentation, type Emit } from '../emit-instrumentation';
import { hasClientRequestCreatedChannel } from './channels';

// @opentelemetry/instrumentation-http 0.223.0, build/src/utils.js: the attribute
// builders its client side uses. Reused so that attributes match upstream's exactly.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const upstreamUtils = require('@opentelemetry/instrumentation-http/build/src/utils') as {
  getOutgoingRequestAttributes(
    options: { protocol?: string; host?: string; port?: number | string; path?: string; method?: string; headers?: Record<string, unknown> },
    settings: { component: string; hostname: string; port: number | string; redactedQueryParams?: string[] },
    enableSyntheticSourceDetection: boolean,
  ): Record<string, string | number>;
  getOutgoingRequestAttributesOnResponse(response: IncomingMessage): Record<string, string | number>;
};

export const HTTP_CLIENT_SCOPE = 'sidetrace-http-client';

/** The client span while it is recording and not ended. */
const CLIENT_SPAN = Symbol('sidetrace.http-client.span');

type Traced = { [CLIENT_SPAN]?: Span };
type ClientRequest = http.ClientRequest & Traced;

const headerSetter = {
  set(request: ClientRequest, key: string, value: string) {
    request.setHeader(key, value);
  },
};

export interface HttpClientSettings extends InstrumentationConfig {
  /** Query parameters whose values are replaced in `url.full`. */
  redactedQueryParams?: string[];
}

export class HttpClientInstrumentation extends EmitInstrumentation<HttpClientSettings> {
  constructor(settings: HttpClientSettings = {}) {
    super(HTTP_CLIENT_SCOPE, settings);
  }

  enable(): void {
    if (this.restore.length) return;
    if (hasClientRequestCreatedChannel()) {
      this.subscribe('http.client.request.created', (message) => this.onCreated((message as { request: ClientRequest }).request));
    } else {
      this.wrapRequest(http);
      // Required here only: where the channel serves, node:https stays unloaded until the app loads it.
      this.wrapRequest(require('node:https') as typeof https);
      syncBuiltinESMExports();
      this.restore.push(syncBuiltinESMExports);
    }
    this.subscribe('http.client.response.finish', (message) => {
      const { request, response } = message as { request: ClientRequest; response: IncomingMessage & Traced };
      onResponse(request, response);
    });
    this.wrapEmit(http.ClientRequest.prototype, requestEmit);
    this.wrapEmit(IncomingMessage.prototype, responseEmit);
  }

  private subscribe(name: string, onMessage: (message: unknown) => void): void {
    const listener = (message: unknown) => {
      try {
        onMessage(message);
      } catch (err) {
        diag.error(`sidetrace http-client: ${name} failed`, err);
      }
    };
    diagnosticsChannel.subscribe(name, listener);
    this.restore.push(() => diagnosticsChannel.unsubscribe(name, listener));
  }

  /**
   * Wraps `mod.request`, and `mod.get` as that request plus `end()` (Node's own
   * `get` calls the module's inner `request`, not the export). disable() puts
   * back what was there, unless something wrapped over it since: then the
   * wrap stays and passes calls straight through.
   */
  private wrapRequest(mod: typeof http | typeof https): void {
    type Request = typeof http.request;
    const target = mod as { request: Request; get: Request };
    const original = target.request;
    const originalGet = target.get;
    let active = true;
    const created = (request: ClientRequest) => {
      try {
        this.onCreated(request);
      } catch (err) {
        diag.error('sidetrace http-client: could not trace a request', err);
      }
    };
    const request = function request(this: unknown) {
      const req = Reflect.apply(original, this, arguments) as ClientRequest;
      if (active) created(req);
      return req;
    } as Request;
    const get = function get(this: unknown) {
      const req = Reflect.apply(request, this, arguments) as ClientRequest;
      req.end();
      return req;
    } as Request;
    target.request = request;
    target.get = get;
    this.restore.push(() => {
      active = false;
      if (target.request === request) target.request = original;
      if (target.get === get) target.get = originalGet;
    });
  }

  private onCreated(request: ClientRequest): void {
    const parent = context.active();
    // On every request, sampled or not: one object shape.
    request[CLIENT_SPAN] = undefined;
    const parentSpan = trace.getSpan(parent);
    // As upstream's requireParentforOutgoingSpans: no parent, no span and nothing to propagate.
    if (parentSpan === undefined || !trace.isSpanContextValid(parentSpan.spanContext())) return;
    // Headers given as an array are already written: nothing can be added.
    const writable = !request.headersSent;
    if (parentSpan.spanContext().isRemote) {
      if (writable) propagation.inject(parent, request, headerSetter);
      return;
    }
    const span = this.tracer.startSpan(request.method, { kind: SpanKind.CLIENT }, parent);
    if (writable) propagation.inject(trace.setSpan(parent, span), request, headerSetter);
    if (!span.isRecording()) return;
    request[CLIENT_SPAN] = span;
    span.setAttributes(this.requestAttributes(request));
  }

  /** What upstream's getOutgoingRequestAttributes gives for the options that made this request. */
  private requestAttributes(request: ClientRequest): Record<string, string | number> {
    const protocol = request.protocol;
    // Node sets Host to `host[:port]` (the port left out when it is the default); a Host the caller set may name another host.
    const hostHeader = String(request.getHeader('host') ?? renderedHost(request));
    const colon = hostHeader.lastIndexOf(':');
    const headerPort = colon > hostHeader.lastIndexOf(']') ? hostHeader.slice(colon + 1) : '';
    const port = headerPort || (protocol === 'https:' ? '443' : '80');
    const hostname = request.host;
    // url.full's authority as a URL's `host` gives it (upstream's for a URL or a string).
    const authority = `${hostname.includes(':') ? `[${hostname}]` : hostname}${headerPort ? `:${headerPort}` : ''}`;
    const userAgent = request.getHeader('user-agent');
    return upstreamUtils.getOutgoingRequestAttributes(
      {
        protocol,
        host: authority,
        port,
        path: request.path,
        method: request.method,
        headers: userAgent === undefined ? {} : { 'user-agent': userAgent },
      },
      { component: protocol === 'https:' ? 'https' : 'http', hostname, port, redactedQueryParams: this.settings.redactedQueryParams },
      false,
    );
  }
}

/**
 * The Host line of a request whose headers were given as an array: Node writes
 * those in the constructor (OutgoingMessage's `_header`) and keeps none for getHeader.
 */
function renderedHost(request: ClientRequest): string {
  const rendered = (request as { _header?: unknown })._header;
  if (typeof rendered !== 'string') return '';
  const match = /\r\nhost:[ \t]*([^\r\n]*)/i.exec(rendered);
  return match ? match[1].trim() : '';
}

function onResponse(request: ClientRequest, response: IncomingMessage & Traced): void {
  const span = request[CLIENT_SPAN];
  // The response's `end` ends it; if the app never reads the body, the request's `close` does, as upstream's.
  response[CLIENT_SPAN] = span;
  if (span !== undefined) span.setAttributes(upstreamUtils.getOutgoingRequestAttributesOnResponse(response));
}

function requestEmit(original: Emit): Emit {
  return function emit(this: unknown, event: string | symbol, err?: unknown) {
    const span = (this as Traced)[CLIENT_SPAN];
    if (span !== undefined) {
      // As upstream's errorMonitor: recorded before the app's listeners run.
      if (event === 'error') endWithError(this as Traced, span, err);
      // Closed before the response ended (a body never read, an `abort()`): ended as it is.
      else if (event === 'close') endSpan(this as Traced, span);
    }
    return Reflect.apply(original, this, arguments);
  };
}

function responseEmit(original: Emit): Emit {
  return function emit(this: unknown, event: string | symbol, err?: unknown) {
    const span = (this as Traced)[CLIENT_SPAN];
    if (span !== undefined) {
      // As upstream: the span ends before the app's own 'end' listeners run.
      if (event === 'end') endResponse(this as IncomingMessage & Traced, span);
      else if (event === 'error') endWithError(this as Traced, span, err);
    }
    return Reflect.apply(original, this, arguments);
  };
}

function endSpan(owner: Traced, span: Span): void {
  owner[CLIENT_SPAN] = undefined;
  // The request and its response both hold the span; the first to finish ends it.
  if (!span.isRecording()) return;
  try {
    span.end();
  } catch (e) {
    diag.error('sidetrace http-client: could not end a span', e);
  }
}

/** As upstream: a response cut short, or a status of 400 and above, is an error. */
function endResponse(response: IncomingMessage & Traced, span: Span): void {
  if (!span.isRecording()) return;
  const status = response.statusCode;
  if ((response.aborted && !response.complete) || !(status !== undefined && status >= 100 && status < 400)) {
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  endSpan(response, span);
}

/** What upstream's setSpanWithError does: error.type, status with the message, an exception event. */
function endWithError(owner: Traced, span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  try {
    const error = err instanceof Error ? err : new Error(String(err));
    span.setAttribute('error.type', error.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.recordException(error);
  } catch (e) {
    diag.error('sidetrace http-client: could not record an error', e);
  }
  endSpan(owner, span);
}
