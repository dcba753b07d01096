// fastify 5 through its own seams (docs/Reference/Hooks.md, "Diagnostics
// Channel Hooks"), no patching and no spans:
// - the route: `tracing:fastify.request.handler:start` carries the matched
//   route's URL with every plugin prefix joined. fastify does not publish it
//   for its 404 handler.
// - errors: an `onError` hook added to each instance as it is created
//   (`fastify.initialization` channel), so children registered as plugins
//   inherit it. onError sees every error of the request lifecycle (hooks,
//   handlers, rejected promises, `reply.send(err)`), which the handler channel's
//   `error` event does not. Only errors answered with a 5xx are recorded: a
//   4xx is the client's fault and leaves a server span's status unset.
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { InstrumentationBase, type InstrumentationConfig } from '@opentelemetry/instrumentation';
import { DISTRO_VERSION } from '../../version';
import { recordRequestError, setRoute } from './route';

const HANDLER_START = 'tracing:fastify.request.handler:start';
const INITIALIZATION = 'fastify.initialization';

interface FastifyRequestLike {
  raw: IncomingMessage;
  is404?: boolean;
  routeOptions?: { url?: string };
}
interface HandlerStore {
  request?: FastifyRequestLike;
  route?: { url?: string };
}
interface FastifyLike {
  addHook(name: 'onError', hook: (request: FastifyRequestLike, reply: { statusCode: number }, error: unknown, done: () => void) => void): unknown;
}

function onHandlerStart(message: unknown): void {
  const store = message as HandlerStore;
  const url = store.route?.url;
  if (store.request && typeof url === 'string') setRoute(store.request.raw, url);
}

/** The status fastify answers `error` with (lib/error-status.js, fastify 5.12). */
function statusOf(error: unknown, replyStatus: number): number {
  if (replyStatus >= 400) return replyStatus;
  const e = error as { statusCode?: unknown; status?: unknown } | null;
  for (const code of [e?.statusCode, e?.status]) if (typeof code === 'number' && code >= 400 && code <= 599) return code;
  return 500;
}

function onFastifyError(request: FastifyRequestLike, reply: { statusCode: number }, error: unknown, done: () => void): void {
  try {
    if (statusOf(error, reply.statusCode) >= 500) {
      // An onRequest or preValidation hook fails before the handler channel has named the route.
      if (request.is404 === false) {
        const url = request.routeOptions?.url;
        if (url) setRoute(request.raw, url);
      }
      recordRequestError(request.raw, error);
    }
  } catch {
    // Telemetry never throws into the app.
  }
  done();
}

function onInitialization(message: unknown): void {
  try {
    (message as { fastify: FastifyLike }).fastify.addHook('onError', onFastifyError);
  } catch {
    // An instance that refuses the hook is still served, without error recording.
  }
}

export class FastifyRouteInstrumentation extends InstrumentationBase {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-fastify', DISTRO_VERSION, config);
  }

  protected init(): [] {
    return [];
  }

  override enable(): void {
    super.enable();
    diagnostics.subscribe(HANDLER_START, onHandlerStart);
    diagnostics.subscribe(INITIALIZATION, onInitialization);
  }

  override disable(): void {
    super.disable();
    diagnostics.unsubscribe(HANDLER_START, onHandlerStart);
    diagnostics.unsubscribe(INITIALIZATION, onInitialization);
  }
}
