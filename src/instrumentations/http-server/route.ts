// The contract between sidetrace's HTTP server instrumentation (./server.ts)
// and the framework hooks that name routes and record errors.
//
// - The server instrumentation starts one SERVER span per incoming request and
//   runs the app's `request` listeners inside its context, so the active span
//   in a handler IS the server span. No framework creates spans of its own.
// - A framework hook calls `setRoute(req, route)` when its router has matched
//   (the route TEMPLATE, e.g. `/users/:id`, with mount prefixes joined; last
//   call wins). When the response finishes the server instrumentation sets
//   `http.route` to it and renames the span `METHOD route`.
// - A framework hook calls `recordRequestError(req, err)` where the framework
//   sees a thrown error, a rejected async handler or `next(err)`: the server
//   span gets status ERROR and one exception event (type, message, stack).
//   The same error object is recorded once however many times it is passed.
// - Both are safe to call for any request: untraced (no server
//   instrumentation), unsampled, or already finished. They never throw and do
//   nothing costly unless the request's span is recording.
// - A framework hook is an Instrumentation: an ExportsHook (../exports-hook.ts)
//   that patches the package's exports right after the app loads it, or one built
//   on @opentelemetry/instrumentation's InstrumentationBase where it must patch
//   files inside the package (or one that subscribes to the framework's
//   diagnostics channels in enable()), in
//   src/instrumentations/http-server/<framework>.ts, exported as a class. It is
//   listed in SPECS (src/instrumentations/index.ts) as the `lean` variant of
//   the framework's entry: `lean: { pkg: './http-server/<framework>', exportName }`.
//   The plan loads it lazily like any instrumentation (only when enabled and
//   the framework is installed) while the noise policy is on; with
//   SIDETRACE_NOISE=off the upstream instrumentation of that entry loads instead.
//   Hooks patch prototypes or subscribe to channels once, at load: nothing
//   per layer, nothing per request beyond a property read and a setRoute call.
import type { IncomingMessage } from 'node:http';
import { SpanStatusCode, type Exception, type Span } from '@opentelemetry/api';

/** Where the server instrumentation keeps a request's state, on the request object itself. */
export const REQUEST_STATE = Symbol.for('sidetrace.http-server.request');

/** What the server instrumentation keeps for a request whose span is recording. */
export interface RequestState {
  span: Span;
  /** Set by framework hooks; read when the response finishes. */
  route: string | undefined;
  /** The last error recorded, so the same error passed along a chain is recorded once. */
  error: unknown;
  /** Framework-specific scratch (e.g. the mount paths an express request went through). */
  mounts: string[] | undefined;
  ended: boolean;
}

type WithState = IncomingMessage & { [REQUEST_STATE]?: RequestState };

/** The recording state of `req`, or undefined when it is untraced or unsampled. */
export function requestState(req: IncomingMessage | undefined | null): RequestState | undefined {
  return req ? (req as WithState)[REQUEST_STATE] : undefined;
}

/** Name the request's route (a template such as `/users/:id`); last call wins. */
export function setRoute(req: IncomingMessage, route: string): void {
  const state = requestState(req);
  if (state && !state.ended && typeof route === 'string' && route.length > 0) state.route = route;
}

/** Record `err` on the request's server span: status ERROR and an exception event. */
export function recordRequestError(req: IncomingMessage, err: unknown): void {
  const state = requestState(req);
  if (!state || state.ended || err === undefined || err === null || state.error === err) return;
  state.error = err;
  try {
    const exception = (typeof err === 'object' || typeof err === 'string' ? err : String(err)) as Exception;
    state.span.recordException(exception);
    const message = err instanceof Error ? err.message : typeof err === 'string' ? err : undefined;
    state.span.setStatus({ code: SpanStatusCode.ERROR, message });
  } catch {
    // Telemetry never throws into the app.
  }
}
