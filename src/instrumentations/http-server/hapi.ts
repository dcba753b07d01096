// hapi through a server extension point, no spans: every server
// created gets one `onPreResponse` extension, which sees each request once its
// response is decided, thrown errors included (as Boom objects wrapping the
// original error). It names the route from `request.route.path`, which carries
// the prefix of the plugin (realm) that declared it. hapi's own 404 and 400
// routes (method `_special`) are not named. Only 5xx responses are recorded
// as errors: a 4xx leaves a server span's status unset.
import type { IncomingMessage } from 'node:http';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { ExportsHook } from '../exports-hook';
import { recordRequestError, setRoute } from './route';

const WRAPPED = Symbol.for('sidetrace.hapi.wrapped');

interface HapiRequestLike {
  raw: { req: IncomingMessage };
  route?: { method?: string; path?: string };
  response?: { isBoom?: boolean; output?: { statusCode?: number } } | null;
}
interface HapiToolkitLike {
  continue: symbol;
}
interface HapiServerLike {
  ext(event: 'onPreResponse', method: (request: HapiRequestLike, h: HapiToolkitLike) => symbol): void;
}
type ServerFactory = (...args: unknown[]) => HapiServerLike;

function onPreResponse(request: HapiRequestLike, h: HapiToolkitLike): symbol {
  try {
    const req = request.raw.req;
    const route = request.route;
    if (route && route.method !== '_special' && typeof route.path === 'string') setRoute(req, route.path);
    const response = request.response;
    if (response?.isBoom === true && (response.output?.statusCode ?? 500) >= 500) recordRequestError(req, response);
  } catch {
    // Telemetry never throws into the app.
  }
  return h.continue;
}

function withRouteExtension(create: ServerFactory): ServerFactory {
  const server = function server(this: unknown, ...args: unknown[]) {
    const instance = create.apply(this, args);
    try {
      instance.ext('onPreResponse', onPreResponse);
    } catch {
      // A server that refuses the extension is still served, without route names.
    }
    return instance;
  };
  (server as unknown as { [WRAPPED]: boolean })[WRAPPED] = true;
  return server;
}

/** `server` and `Server` are the same factory (@hapi/hapi 17–21, lib/index.js); both are public. */
function patchHapi(exports: unknown): boolean {
  if (typeof exports !== 'object' || exports === null) return false;
  const e = exports as Record<string, ServerFactory & { [WRAPPED]?: boolean }>;
  if (typeof e.server !== 'function') return false;
  for (const name of ['server', 'Server']) if (typeof e[name] === 'function' && !e[name][WRAPPED]) e[name] = withRouteExtension(e[name]);
  return true;
}

export class HapiRouteInstrumentation extends ExportsHook {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-hapi', { '@hapi/hapi': patchHapi }, config);
  }
}
