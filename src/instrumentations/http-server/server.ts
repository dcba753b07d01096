// sidetrace's HTTP server instrumentation: one SERVER span per request of a
// node:http or node:https server, with the handler running in its context.
//
// Cost is paid only for what is recorded. Per request it extracts the caller's
// context, asks the sampler (with only `url.path`, which is what the noise
// policy's sampler reads) and, when the sampler drops the request, stops there:
// a non-recording span carrying the ids (so outgoing calls propagate the
// decision), no attributes, no listeners, no closures. Given the provider's
// sampler (`sampler`, src/sdk/sampler.ts samplerFor), it asks it itself and
// builds a dropped request's span directly, as the SDK's Tracer#startSpan would
// (the same ids from the same IdGenerator, trace state and flags), without the
// SDK's attribute copies and span-start bookkeeping: 1–2 µs a request. A
// request the sampler keeps is started by the tracer, with the trace id the
// sampler saw, so the SDK's second ask gets the same answer.
//
// Four prototype methods are wrapped once, at enable():
// - http.Server#emit ('request' only): starts the span and runs the listeners
//   in its context;
// - net.Server#emit, for https servers: the same for a 'request' emitted by a
//   server that is not an http.Server (https.Server is a tls.Server, itself a
//   net.Server), so node:https and node:tls, which a plain-http app never
//   loads, are not loaded at start-up (5–7 ms on Node 24);
// - IncomingMessage#emit and ServerResponse#emit: run the request's and the
//   response's listeners in the request's context. Node emits a request's body
//   events ('data', 'end') and a response's 'finish'/'close' from the socket's
//   parser, whose async context is the connection's, not the request's: without
//   this a handler behind a body parser would run with no active span, and on
//   a keep-alive socket nothing would tell one request's events from the next.
//   The response's 'close' (and 'error') also ends the span, so no listener is
//   added per request.
// Attributes are those upstream instrumentation-http gives the same request
// (./attributes.ts), so they match whichever instrumentation ran.
// HTTP/2 servers (node:http2, including the compatibility API) emit other
// objects and are not traced here.
import http, { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { context, diag, propagation, trace, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, type Context, type Span } from '@opentelemetry/api';
import { SamplingDecision, type Sampler } from '@opentelemetry/sdk-trace-base';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { EmitInstrumentation, type Emit } from '../emit-instrumentation';
import { RPCType, setRPCMetadata, type RPCMetadata } from '@opentelemetry/core';
import { requestAttributes } from './attributes';
import { idGenerator } from '../../sdk/id-generator';
import { isValidSpanContext } from '../../tracing/traceparent';
import { REQUEST_STATE, type RequestState } from './route';

export const HTTP_SERVER_SCOPE = 'sidetrace-http-server';

/** The context a request's (and its response's) events run in. */
const REQUEST_CONTEXT = Symbol('sidetrace.http-server.context');

interface ServerState extends RequestState {
  method: string;
  rpc: RPCMetadata;
}

type Traced = { [REQUEST_CONTEXT]?: Context; [REQUEST_STATE]?: ServerState };

export interface HttpServerSettings extends InstrumentationConfig {
  /** Query parameters whose values are replaced in `url.query`. */
  redactedQueryParamsServer?: string[];
  /** The tracer provider's sampler, which must use sidetrace's IdGenerator (src/sdk/index.ts): asked first, so a dropped request builds no SDK span. */
  sampler?: Sampler;
}

export class HttpServerInstrumentation extends EmitInstrumentation<HttpServerSettings> {
  constructor(settings: HttpServerSettings = {}) {
    super(HTTP_SERVER_SCOPE, settings);
  }

  enable(): void {
    if (this.restore.length) return;
    this.wrapEmit(http.Server.prototype, (emit) => this.serverEmit(emit, 'http'));
    this.wrapEmit(net.Server.prototype, (emit) => this.serverEmit(emit, 'https'));
    this.wrapEmit(IncomingMessage.prototype, requestEmit);
    this.wrapEmit(ServerResponse.prototype, responseEmit);
  }

  private serverEmit(original: Emit, component: 'http' | 'https'): Emit {
    const instrumentation = this;
    return function emit(this: unknown, event: string | symbol, req?: unknown, res?: unknown) {
      if (
        event !== 'request' ||
        !(req instanceof IncomingMessage) ||
        !(res instanceof ServerResponse) ||
        (component === 'https' && this instanceof http.Server)
      )
        return Reflect.apply(original, this, arguments);
      let state: ServerState | undefined;
      try {
        state = instrumentation.startRequest(req, res, component);
      } catch (err) {
        diag.error('sidetrace http-server: could not start a request span', err);
        return Reflect.apply(original, this, arguments);
      }
      const ctx = (req as Traced)[REQUEST_CONTEXT] as Context;
      if (state === undefined) return context.with(ctx, Reflect.apply, undefined, original, this, arguments) as boolean;
      try {
        return context.with(ctx, Reflect.apply, undefined, original, this, arguments) as boolean;
      } catch (err) {
        failRequest(state, err);
        throw err;
      }
    };
  }

  /** Starts the request's span and stores its context (and, when recording, its state) on `req` and `res`. */
  private startRequest(req: IncomingMessage, res: ServerResponse, component: 'http' | 'https'): ServerState | undefined {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method || 'GET';
    const url = req.url || '/';
    const q = url.indexOf('?');
    // Only what the sampler reads: everything else waits until the span is known to record.
    const attributes = { 'url.path': q === -1 ? url : url.slice(0, q) };
    const sampler = this.settings.sampler;
    const span = sampler ? this.sampledSpan(sampler, parent, method, attributes) : this.tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
    let ctx: Context;
    let state: ServerState | undefined;
    if (span.isRecording()) {
      span.setAttributes(requestAttributes(req, component, this.settings.redactedQueryParamsServer) as Record<string, string | number>);
      const rpc: RPCMetadata = { type: RPCType.HTTP, span };
      state = { span, route: undefined, error: undefined, mounts: undefined, ended: false, method, rpc };
      // The RPC metadata lets upstream framework instrumentations that still run name the route.
      ctx = setRPCMetadata(trace.setSpan(parent, span), rpc);
    } else {
      ctx = trace.setSpan(parent, span);
    }
    // Both properties on every request, sampled or not: one object shape for all of them, so
    // the app's and the framework's code on req/res stays monomorphic when only some are sampled.
    (req as Traced)[REQUEST_CONTEXT] = ctx;
    (req as Traced)[REQUEST_STATE] = state;
    (res as Traced)[REQUEST_CONTEXT] = ctx;
    (res as Traced)[REQUEST_STATE] = state;
    return state;
  }

  /** What the SDK's Tracer#startSpan returns for this request, without building a dropped request's span through it. */
  private sampledSpan(sampler: Sampler, parent: Context, method: string, attributes: { 'url.path': string }): Span {
    const parentSpanContext = trace.getSpanContext(parent);
    const child = parentSpanContext !== undefined && isValidSpanContext(parentSpanContext);
    const traceId = child ? parentSpanContext.traceId : idGenerator.generateTraceId();
    const result = sampler.shouldSample(parent, traceId, method, SpanKind.SERVER, attributes, []);
    if (result.decision === SamplingDecision.NOT_RECORD) {
      const traceState = result.traceState ?? (child ? parentSpanContext.traceState : undefined);
      return trace.wrapSpanContext({ traceId, spanId: idGenerator.generateSpanId(), traceFlags: TraceFlags.NONE, traceState });
    }
    const start = () => this.tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
    return child ? start() : idGenerator.withIds({ traceId }, start);
  }
}

type Listened = Traced & { listenerCount(event: string | symbol): number };

function requestEmit(original: Emit): Emit {
  return function emit(this: unknown, event: string | symbol) {
    const ctx = (this as Traced)[REQUEST_CONTEXT];
    // No listener, nothing to run in the context (most of a request's events).
    if (ctx === undefined || (this as Listened).listenerCount(event) === 0 || context.active() === ctx) return Reflect.apply(original, this, arguments);
    return context.with(ctx, Reflect.apply, undefined, original, this, arguments) as boolean;
  };
}

function responseEmit(original: Emit): Emit {
  return function emit(this: unknown, event: string | symbol, err?: unknown) {
    const ctx = (this as Traced)[REQUEST_CONTEXT];
    if (ctx === undefined) return Reflect.apply(original, this, arguments);
    const state = (this as Traced)[REQUEST_STATE];
    if (state !== undefined && !state.ended) {
      // As upstream: the span ends before the app's own 'close' listeners run; after 'error' only 'close' follows.
      if (event === 'close') finishRequest(state, this as ServerResponse);
      else if (event === 'error') failRequest(state, err);
    }
    if ((this as Listened).listenerCount(event) === 0 || context.active() === ctx) return Reflect.apply(original, this, arguments);
    return context.with(ctx, Reflect.apply, undefined, original, this, arguments) as boolean;
  };
}

function finishRequest(state: ServerState, res: ServerResponse): void {
  state.ended = true;
  try {
    const span = state.span;
    const status = res.statusCode;
    span.setAttribute('http.response.status_code', status);
    const route = state.route ?? state.rpc.route;
    if (route) {
      span.setAttribute('http.route', route);
      span.updateName(`${state.method} ${route}`);
    }
    // A recorded error keeps its status message; otherwise the status follows the response code, as upstream.
    if (state.error === undefined && !(status >= 100 && status < 500)) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  } catch (err) {
    diag.error('sidetrace http-server: could not end a request span', err);
  }
}

/** What upstream does on a response 'error' or a listener that throws: error.type, status, exception, end. */
function failRequest(state: ServerState, err: unknown): void {
  if (state.ended) return;
  state.ended = true;
  try {
    const error = err instanceof Error ? err : new Error(String(err));
    state.span.setAttribute('error.type', error.name);
    state.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    state.span.recordException(error);
    state.span.end();
  } catch (e) {
    diag.error('sidetrace http-server: could not end a failed request span', e);
  }
}
