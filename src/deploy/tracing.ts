// Tracing for one CLI process: the SDK started from the same environment as
// the preload (no instrumentation, no signal hooks: the CLI flushes itself),
// under the deploy's service identity. When tracing is off the CLI still does
// its work and says so in one line.
import type { Tracer } from '@opentelemetry/api';
import { log } from '../logging/log';
import { ConfigError, start } from '../start';
import { DISTRO_VERSION } from '../version';
import type { CarrierIdentity } from './carrier';

export const TRACER_NAME = 'sidetrace.deploy';

export interface Tracing {
  enabled: boolean;
  tracer?: Tracer;
}

/** Start tracing; `untraced` finishes the line said when it is off ("the command runs untraced"). */
export function startTracing(identity: CarrierIdentity, untraced: string): Tracing {
  let enabled = false;
  let reason = '';
  try {
    const r = start({
      instrumentations: false,
      shutdownHooks: false,
      announce: false,
      identity: { name: identity.service, version: identity.version, environment: identity.environment },
    });
    enabled = r.enabled;
    reason = r.config.disabledReason ?? (r.config.agent === 'newrelic' ? 'SIDETRACE_AGENT=newrelic' : 'not configured');
  } catch (err) {
    reason = err instanceof ConfigError ? err.message.replace(/^sidetrace: /, '') : `could not start (${(err as Error).message})`;
  }
  if (!enabled) {
    log.info(`tracing is off (${reason}); ${untraced}`);
    return { enabled: false };
  }
  const { trace } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  return { enabled: true, tracer: trace.getTracer(TRACER_NAME, DISTRO_VERSION) };
}
