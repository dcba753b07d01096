// restify through the server's own events, no spans: every server
// created gets a `routed` listener, which names the route from the matched
// route's path (what `req.getRoute()` returns), and a `restifyError` listener,
// which restify emits for `next(err)`, a rejected async handler and, with
// `handleUncaughtExceptions`, a thrown error. Only errors answered with a 5xx
// are recorded: a 4xx (the router's 404 and 405 too) leaves a server span's
// status unset.
import type { IncomingMessage } from 'node:http';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { ExportsHook } from '../exports-hook';
import { recordRequestError, setRoute } from './route';

const WRAPPED = Symbol.for('sidetrace.restify.wrapped');

interface RestifyServerLike {
  on(event: 'routed', listener: (req: IncomingMessage, res: unknown, route: { path?: unknown } | undefined) => void): void;
  on(event: 'restifyError', listener: (req: IncomingMessage, res: unknown, err: unknown, callback: () => void) => void): void;
}
type CreateServer = (...args: unknown[]) => RestifyServerLike;

function onRouted(req: IncomingMessage, _res: unknown, route: { path?: unknown } | undefined): void {
  try {
    if (typeof route?.path === 'string') setRoute(req, route.path);
  } catch {
    // Telemetry never throws into the app.
  }
}

function onRestifyError(req: IncomingMessage, _res: unknown, err: unknown, callback: () => void): void {
  try {
    // restify answers an error without a numeric statusCode with a 500 (lib/server.js, _routeErrorResponse).
    const status = (err as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status !== 'number' || status >= 500) recordRequestError(req, err);
  } catch {
    // Telemetry never throws into the app.
  }
  // restify waits for every restifyError listener to call back before it answers.
  callback();
}

function withRouteListeners(create: CreateServer): CreateServer {
  const createServer = function createServer(this: unknown, ...args: unknown[]) {
    const server = create.apply(this, args);
    try {
      server.on('routed', onRouted);
      server.on('restifyError', onRestifyError);
    } catch {
      // A server that refuses the listeners is still served, without route names.
    }
    return server;
  };
  (createServer as unknown as { [WRAPPED]: boolean })[WRAPPED] = true;
  return createServer;
}

/** restify 10–12: `createServer` on the package's exports. */
function patchRestify(exports: unknown): boolean {
  if (typeof exports !== 'object' || exports === null) return false;
  const e = exports as { createServer?: CreateServer & { [WRAPPED]?: boolean } };
  if (typeof e.createServer !== 'function') return false;
  if (!e.createServer[WRAPPED]) e.createServer = withRouteListeners(e.createServer);
  return true;
}

export class RestifyRouteInstrumentation extends ExportsHook {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-restify', { restify: patchRestify }, config);
  }
}
