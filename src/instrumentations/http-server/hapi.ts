// hapi through a server extension point, no spans: every server
// created gets one `onPreResponse` extension, which sees each request once its
// response is decided, thrown errors included (as Boom objects wrapping the
// original error). It names the route from `request.route.path`, which carries
// the prefix of the plugin (realm) that declared it. hapi's own 404 and 400
// routes (method `_special`) are not named. Only 5xx responses are recorded
// as errors: a 4xx leaves a server span's status unset.
import type { IncomingMessage } from 'node:http';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, isWrapped, type InstrumentationConfig } from '@opentelemetry/instrumentation';
import { DISTRO_VERSION } from '../../version';
import { recordRequestError, setRoute } from './route';

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
  return function server(this: unknown, ...args: unknown[]) {
    const instance = create.apply(this, args);
    try {
      instance.ext('onPreResponse', onPreResponse);
    } catch {
      // A server that refuses the extension is still served, without route names.
    }
    return instance;
  };
}

export class HapiRouteInstrumentation extends InstrumentationBase {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-hapi', DISTRO_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      '@hapi/hapi',
      ['>=17.0.0 <22'],
      (exports: Record<string, ServerFactory>) => {
        // `server` and `Server` are the same factory (lib/index.js); both are public.
        for (const name of ['server', 'Server'])
          if (typeof exports[name] === 'function' && !isWrapped(exports[name])) this._wrap(exports, name, withRouteExtension);
        return exports;
      },
      (exports: Record<string, ServerFactory>) => {
        for (const name of ['server', 'Server']) if (isWrapped(exports[name])) this._unwrap(exports, name);
      },
    );
  }
}
