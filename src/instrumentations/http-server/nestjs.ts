// NestJS, no spans. Nest registers each route on the underlying express or
// fastify app with its full path (global prefix, version and controller path
// joined), so the express and fastify hooks name the route. What they cannot
// see is an error: Nest catches what a handler, guard, pipe or interceptor
// throws or rejects with and answers it itself. Every such error passes
// through ExceptionsHandler.next (@nestjs/core 11.2, exceptions/exceptions-handler.js),
// before any exception filter; that one method is wrapped. Only errors
// answered with a 5xx are recorded: an HttpException with a 4xx status leaves
// a server span's status unset.
import type { IncomingMessage } from 'node:http';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import { DISTRO_VERSION } from '../../version';
import { recordRequestError } from './route';

const VERSIONS = ['>=8.0.0 <12'];

interface HostLike {
  getType(): string;
  getArgByIndex(index: number): unknown;
}
type Next = (this: unknown, exception: unknown, host: HostLike) => unknown;
interface ExceptionsHandlerModule {
  ExceptionsHandler?: { prototype: { next: Next } };
}

/** The Node request under Nest's request object: express's is one, fastify's carries it as `raw`. */
function incomingMessage(request: unknown): IncomingMessage | undefined {
  if (!request || typeof request !== 'object') return undefined;
  const raw = (request as { raw?: unknown }).raw;
  return (raw && typeof raw === 'object' ? raw : request) as IncomingMessage;
}

/** The status Nest's BaseExceptionFilter answers with: an HttpException's own, 500 for anything else. */
function statusOf(exception: unknown): number {
  const getStatus = (exception as { getStatus?: unknown } | null)?.getStatus;
  if (typeof getStatus === 'function') {
    const status = getStatus.call(exception);
    if (typeof status === 'number') return status;
  }
  return 500;
}

function recordingNext(original: Next): Next {
  return function next(this: unknown, exception: unknown, host: HostLike) {
    try {
      if (host?.getType() === 'http' && statusOf(exception) >= 500) {
        const req = incomingMessage(host.getArgByIndex(0));
        if (req) recordRequestError(req, exception);
      }
    } catch {
      // Telemetry never throws into the app.
    }
    return original.call(this, exception, host);
  };
}

export class NestRouteInstrumentation extends InstrumentationBase {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-nestjs', DISTRO_VERSION, config);
  }

  protected init() {
    const file = new InstrumentationNodeModuleFile(
      '@nestjs/core/exceptions/exceptions-handler.js',
      VERSIONS,
      (exports: ExceptionsHandlerModule) => {
        const proto = exports.ExceptionsHandler?.prototype;
        if (proto && !isWrapped(proto.next)) this._wrap(proto, 'next', recordingNext);
        return exports;
      },
      (exports: ExceptionsHandlerModule) => {
        const proto = exports.ExceptionsHandler?.prototype;
        if (proto && isWrapped(proto.next)) this._unwrap(proto, 'next');
      },
    );
    return new InstrumentationNodeModuleDefinition('@nestjs/core', VERSIONS, undefined, undefined, [file]);
  }
}
