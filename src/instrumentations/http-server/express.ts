// Route names and handler errors for express 4 (express/lib/router) and
// express 5 (the `router` package 2.x), for the server span of ./server.ts.
// No spans: the active span in a handler is the server span.
//
// Patched once, on the exports of express (or `router`) right after the app loads it:
// - Route#dispatch, which the router calls when a route matched: it names the
//   route (mount paths + the route's path, built as upstream
//   instrumentation-express 0.x builds `http.route`) and records an error that
//   leaves the route (a throw, `next(err)`, and in express 5 a rejected
//   promise). express 4 ignores a rejected promise, so there is nothing to see.
// - Router#use: a layer mounted at a path (`app.use('/api', router)`, a
//   sub-app) gets a thin wrapper that remembers the mount path while the
//   request is inside it. Layers mounted at `/` are left alone.
// Both do nothing but a property read for a request whose span is not recording.
import type { IncomingMessage } from 'node:http';
import { ExportsHook } from '../exports-hook';
import { recordRequestError, requestState, setRoute } from './route';

type Handler = (req: IncomingMessage, res: unknown, next: (err?: unknown) => unknown) => unknown;
interface Layer {
  handle: Handler;
}
interface RouterLike {
  stack: Layer[];
  use(...args: unknown[]): unknown;
}
interface RouteLike {
  path: unknown;
  dispatch(req: IncomingMessage, res: unknown, done: (err?: unknown) => unknown): unknown;
}
type ExpressRequest = IncomingMessage & { originalUrl?: string };

const WRAPPED = Symbol('sidetrace.express.mount');

/** A mount or route path as upstream writes it: strings as they are, arrays joined with ',', regexps as text. */
function pathText(p: unknown): string | undefined {
  if (Array.isArray(p)) return p.map((x) => pathText(x) ?? '').join(',');
  if (typeof p === 'string') return p;
  if (p instanceof RegExp || typeof p === 'number') return p.toString();
  return undefined;
}

const WILDCARD_SEGMENT = /^\/\{[*][^}]*\}$/;
/** Starts with `/` followed by something, and has none of what upstream's rules treat specially. */
const PLAIN_TEMPLATE = /^\/(?!\/)(?:[^/,\\*[{]|\/(?!\/))+$/;

/**
 * `http.route` from the paths a request went through, by upstream's rules
 * (@opentelemetry/instrumentation-express 0.x, utils.js getActualMatchedRoute),
 * so both name a route the same way.
 */
export function matchedRoute(paths: string[], originalUrl: string): string | undefined {
  if (paths.length === 0) return undefined;
  // The common case, one plain template such as `/users/:id`: the same answer without building arrays.
  if (paths.length === 1 && PLAIN_TEMPLATE.test(paths[0])) {
    const p = paths[0];
    return originalUrl.startsWith(p) || p.includes(':') ? p : undefined;
  }
  if (paths.every((p) => p === '/')) return originalUrl === '/' ? '/' : undefined;
  const meaningful = paths.filter((p) => p !== '/' && p !== '/*' && !WILDCARD_SEGMENT.test(p));
  if (meaningful.length === 1 && meaningful[0] === '*') return '*';
  const constructed = meaningful.join('').replace(/\/{2,}/g, '/');
  if (constructed.includes('/') && (constructed.includes(',') || constructed.includes('\\') || constructed.includes('*') || constructed.includes('['))) {
    return constructed;
  }
  const route = constructed.startsWith('/') ? constructed : `/${constructed}`;
  const valid = route.length > 0 && (originalUrl === route || originalUrl.startsWith(route) || route.includes(':') || route.includes('*'));
  return valid ? route : undefined;
}

function patchDispatch(Route: { prototype: RouteLike }): void {
  const original = Route.prototype.dispatch;
  if ((original as { [WRAPPED]?: boolean })[WRAPPED]) return;
  const dispatch = function dispatch(this: RouteLike, req: ExpressRequest, res: unknown, done: (err?: unknown) => unknown) {
    const state = requestState(req);
    if (state === undefined || state.ended) return original.call(this, req, res, done);
    const own = pathText(this.path);
    const paths = state.mounts ? (own === undefined ? state.mounts : [...state.mounts, own]) : own === undefined ? [] : [own];
    const route = matchedRoute(paths, req.originalUrl ?? req.url ?? '');
    if (route !== undefined) setRoute(req, route);
    return original.call(this, req, res, function (this: unknown, err?: unknown) {
      // express's own signals, not errors
      if (err !== undefined && err !== null && err !== 'route' && err !== 'router') recordRequestError(req, err);
      return done.apply(this, arguments as unknown as [unknown]);
    });
  };
  (dispatch as unknown as { [WRAPPED]: boolean })[WRAPPED] = true;
  Route.prototype.dispatch = dispatch;
}

/** Router#use: wrap the layers it adds at a path other than `/`, to remember the mount path per request. */
function patchUse(proto: RouterLike): void {
  const original = proto.use;
  if ((original as { [WRAPPED]?: boolean })[WRAPPED]) return;
  const use = function use(this: RouterLike, ...args: unknown[]) {
    const before = this.stack.length;
    const result = original.apply(this, args);
    const first = args[0];
    const mount = typeof first === 'function' ? undefined : pathText(first);
    if (mount !== undefined && mount !== '/') {
      for (let i = before; i < this.stack.length; i++) wrapMount(this.stack[i], mount);
    }
    return result;
  };
  (use as unknown as { [WRAPPED]: boolean })[WRAPPED] = true;
  proto.use = use;
}

function wrapMount(layer: Layer, mount: string): void {
  const handle = layer.handle;
  // Error handlers (4 arguments) are told apart by their arity: leave them be.
  if (typeof handle !== 'function' || handle.length > 3 || (handle as { [WRAPPED]?: boolean })[WRAPPED]) return;
  const mounted = function mounted(this: unknown, req: IncomingMessage, res: unknown, next: (err?: unknown) => unknown) {
    const state = requestState(req);
    if (state === undefined || state.ended) return handle.call(this, req, res, next);
    const mounts = (state.mounts ??= []);
    const depth = mounts.length;
    mounts.push(mount);
    // Anonymous, as in Route#dispatch above: no defineProperty per request.
    return handle.call(this, req, res, function (this: unknown) {
      mounts.length = depth;
      return next.apply(this, arguments as unknown as [unknown]);
    });
  };
  // What code reads off a mounted router or app (its stack, its settings) still answers through the wrapper.
  Object.setPrototypeOf(mounted, handle);
  (mounted as unknown as { [WRAPPED]: boolean })[WRAPPED] = true;
  layer.handle = mounted as Handler;
}

type RouterPackage = { prototype: RouterLike; Route: { prototype: RouteLike } };

/** The `router` package (2.x: express 5's router; 1.x has the same shape): Router#use and Route#dispatch. */
function patchRouterPackage(Router: unknown): boolean {
  if (typeof Router !== 'function') return false;
  const R = Router as unknown as Partial<RouterPackage>;
  if (typeof R.prototype?.use !== 'function' || typeof R.Route?.prototype?.dispatch !== 'function') return false;
  patchUse(R.prototype);
  patchDispatch(R.Route);
  return true;
}

/** express 4 exports its own router (`Router`, whose `use` is an own property) and `Route`; express 5 exports the `router` package's. */
function patchExpress(express: unknown): boolean {
  if (typeof express !== 'function') return false;
  const e = express as unknown as { Router?: unknown; Route?: unknown };
  const router: unknown = e.Router;
  const route = e.Route as { prototype?: Partial<RouteLike> } | undefined;
  if (typeof router === 'function' && typeof (router as { use?: unknown }).use === 'function' && typeof route?.prototype?.dispatch === 'function') {
    patchUse(router as unknown as RouterLike);
    patchDispatch(route as { prototype: RouteLike });
    return true;
  }
  return patchRouterPackage(router);
}

export class ExpressRouteInstrumentation extends ExportsHook {
  constructor(config = {}) {
    super('sidetrace-express', { express: patchExpress, router: patchRouterPackage }, config);
  }
}
