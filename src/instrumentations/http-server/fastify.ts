// fastify 5 through its own seams, no patching and no spans. Each instance
// gets two hooks as it is created (the `fastify.initialization` diagnostics
// channel; docs/Reference/Hooks.md), which every plugin registered on it
// inherits:
// - `onRequest`, the first of the request's hooks: names the route from
//   `request.routeOptions.url` (the matched route with every plugin prefix
//   joined), so a request that a later hook rejects (a 401 from an auth hook, a
//   400 from validation) still has its route, as with upstream. fastify's 404
//   handler has no route URL. The route is read only for a recording request.
// - `onError`: every error of the request lifecycle (hooks, handlers, rejected
//   promises, `reply.send(err)`). Only errors answered with a 5xx are
//   recorded: a 4xx is the client's and leaves a server span's status unset.
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { EmitInstrumentation } from '../emit-instrumentation';
import { recordRequestError, requestState, setRoute } from './route';

const INITIALIZATION = 'fastify.initialization';

interface FastifyRequestLike {
  raw: IncomingMessage;
  routeOptions?: { url?: string };
}
interface ReplyLike {
  statusCode: number;
}
interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: ReplyLike, done: () => void) => void): unknown;
  addHook(name: 'onError', hook: (request: FastifyRequestLike, reply: ReplyLike, error: unknown, done: () => void) => void): unknown;
}

function nameRoute(request: FastifyRequestLike): void {
  // routeOptions builds an object per read: only for a request whose span records.
  if (requestState(request.raw) === undefined) return;
  const url = request.routeOptions?.url;
  if (url) setRoute(request.raw, url);
}

function onRequest(request: FastifyRequestLike, _reply: ReplyLike, done: () => void): void {
  try {
    nameRoute(request);
  } catch {
    // Telemetry never throws into the app.
  }
  done();
}

/** The status fastify answers `error` with (lib/error-status.js, fastify 5.12). */
function statusOf(error: unknown, replyStatus: number): number {
  if (replyStatus >= 400) return replyStatus;
  const e = error as { statusCode?: unknown; status?: unknown } | null;
  for (const code of [e?.statusCode, e?.status]) if (typeof code === 'number' && code >= 400 && code <= 599) return code;
  return 500;
}

function onError(request: FastifyRequestLike, reply: ReplyLike, error: unknown, done: () => void): void {
  try {
    if (statusOf(error, reply.statusCode) >= 500) recordRequestError(request.raw, error);
  } catch {
    // Telemetry never throws into the app.
  }
  done();
}

function onInitialization(message: unknown): void {
  try {
    const fastify = (message as { fastify: FastifyLike }).fastify;
    fastify.addHook('onRequest', onRequest);
    fastify.addHook('onError', onError);
  } catch {
    // An instance that refuses the hooks is still served, without route names.
  }
}

// Not an InstrumentationBase: it patches no module, and that base class installs a require hook when constructed.
export class FastifyRouteInstrumentation extends EmitInstrumentation<InstrumentationConfig> {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-fastify', config);
  }

  enable(): void {
    if (this.restore.length) return;
    diagnostics.subscribe(INITIALIZATION, onInitialization);
    this.restore.push(() => diagnostics.unsubscribe(INITIALIZATION, onInitialization));
  }
}
