// NestJS, no spans. Nest registers each route on the underlying express or
// fastify app with its full path (global prefix, version and controller path
// joined), so the express and fastify hooks name the route. What they cannot
// see is an error: Nest catches what a handler, guard, pipe or interceptor
// throws or rejects with and answers it itself. Only errors answered with a
// 5xx are recorded: an HttpException with a 4xx status leaves a server span's
// status unset. One method is wrapped:
// - NestJS 8–11 (CommonJS): ExceptionsHandler.next (@nestjs/core 11.2,
//   exceptions/exceptions-handler.js), which every such error passes through
//   before any exception filter.
// - NestJS 12 (ES modules only): its files load through the ES module loader,
//   which require hooks do not see, so the wrap goes where the package's
//   entry exports it: BaseExceptionFilter.catch (@nestjs/core 12.5), Nest's
//   default answer to an error, which exception filters extending it call too.
//   An exception filter of the app's own that does not extend it answers
//   without it, and that error is not recorded.
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

const COMMONJS_VERSIONS = ['>=8.0.0 <12'];
const ESM_VERSIONS = ['>=12.0.0 <13'];

interface HostLike {
  getType(): string;
  getArgByIndex(index: number): unknown;
}
type Handle = (this: unknown, exception: unknown, host: HostLike) => unknown;
interface ExceptionsHandlerModule {
  ExceptionsHandler?: { prototype: { next: Handle } };
}
interface CoreModule {
  BaseExceptionFilter?: { prototype: { catch: Handle } };
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

function recording(original: Handle): Handle {
  return function handle(this: unknown, exception: unknown, host: HostLike) {
    try {
      if (host?.getType() === 'http' && statusOf(exception) >= 500) {
        const req = incomingMessage(host.getArgByIndex(0));
        if (req) recordRequestError(req, exception);
      }
    } catch {
      // Telemetry never throws into the app.
    }
    return Reflect.apply(original, this, arguments);
  };
}

export class NestRouteInstrumentation extends InstrumentationBase {
  constructor(config: InstrumentationConfig = {}) {
    super('sidetrace-http-server-nestjs', DISTRO_VERSION, config);
  }

  protected init() {
    const file = new InstrumentationNodeModuleFile(
      '@nestjs/core/exceptions/exceptions-handler.js',
      COMMONJS_VERSIONS,
      (exports: ExceptionsHandlerModule) => {
        const proto = exports.ExceptionsHandler?.prototype;
        if (proto && !isWrapped(proto.next)) this._wrap(proto, 'next', recording);
        return exports;
      },
      (exports: ExceptionsHandlerModule) => {
        const proto = exports.ExceptionsHandler?.prototype;
        if (proto && isWrapped(proto.next)) this._unwrap(proto, 'next');
      },
    );
    return [
      new InstrumentationNodeModuleDefinition('@nestjs/core', COMMONJS_VERSIONS, undefined, undefined, [file]),
      new InstrumentationNodeModuleDefinition(
        '@nestjs/core',
        ESM_VERSIONS,
        (exports: CoreModule) => {
          const proto = exports.BaseExceptionFilter?.prototype;
          if (proto && !isWrapped(proto.catch)) this._wrap(proto, 'catch', recording);
          return exports;
        },
        (exports: CoreModule) => {
          const proto = exports.BaseExceptionFilter?.prototype;
          if (proto && isWrapped(proto.catch)) this._unwrap(proto, 'catch');
        },
      ),
    ];
  }
}
