// Route names and errors for koa 2 and 3 (routes from @koa/router or any
// router that sets `ctx._matchedRoute`), for the server span of ./server.ts.
// No spans: the active span in a middleware is the server span.
//
// Patched once, on koa's context prototype (koa/lib/context.js, which koa's
// CommonJS and ESM entry points share):
// - `_matchedRoute` becomes an accessor: @koa/router assigns the matched
//   layer's path to it on every match, the setter names the route (last wins,
//   so a nested router's full path) and keeps the value where the getter finds it;
// - `onerror`, which koa calls with what a middleware threw or rejected with,
//   records the error. Errors koa exposes to the client as 4xx (`ctx.throw(404)`,
//   http-errors' `expose`) are answers, not failures, and are not recorded.
import type { IncomingMessage } from 'node:http';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile } from '@opentelemetry/instrumentation';
import { DISTRO_VERSION } from '../../version';
import { recordRequestError, setRoute } from './route';

const MATCHED_ROUTE = Symbol('sidetrace.koa.matchedRoute');
const PATCHED = Symbol.for('sidetrace.koa.patched');

interface KoaContext {
  req: IncomingMessage;
  [MATCHED_ROUTE]?: unknown;
  onerror(err: unknown): unknown;
}

function clientError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown };
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

export function patchKoaContext(proto: KoaContext & { [PATCHED]?: boolean }): void {
  if (proto[PATCHED]) return;
  proto[PATCHED] = true;
  Object.defineProperty(proto, '_matchedRoute', {
    configurable: true,
    enumerable: false,
    get(this: KoaContext) {
      return this[MATCHED_ROUTE];
    },
    set(this: KoaContext, value: unknown) {
      this[MATCHED_ROUTE] = value;
      if (value !== undefined && value !== null && this.req) setRoute(this.req, String(value));
    },
  });
  const onerror = proto.onerror;
  proto.onerror = function (this: KoaContext, err: unknown) {
    if (err !== undefined && err !== null && this.req && !clientError(err)) recordRequestError(this.req, err);
    return onerror.call(this, err);
  };
}

export class KoaRouteInstrumentation extends InstrumentationBase {
  constructor(config = {}) {
    super('sidetrace-koa', DISTRO_VERSION, config);
  }

  protected init() {
    return [
      new InstrumentationNodeModuleDefinition('koa', ['>=2.0.0 <4'], (exports: unknown) => exports, undefined, [
        new InstrumentationNodeModuleFile(
          'koa/lib/context.js',
          ['>=2.0.0 <4'],
          (proto: KoaContext) => {
            patchKoaContext(proto);
            return proto;
          },
          () => {},
        ),
      ]),
    ];
  }
}
