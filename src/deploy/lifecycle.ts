// What the deploy CLI handlers (phases.ts), the wrapped deploy (deploy.ts)
// and its steps (step.ts) share about carrier files: the attributes every
// step gets, closing steps left open, and making a carrier ready for a new
// deploy (closing, as failed, one that was never closed).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Tracer } from '@opentelemetry/api';
import type { DeployEnv } from '../config/deploy';
import { log } from '../logging/log';
import { parseTraceparent } from '../tracing/traceparent';
import { CarrierError, isAlive, readCarrier, type Carrier, type CarrierAttributes } from './carrier';
import { emitRecordedSpan } from './spans';
import { ATTR_DEPLOYMENT_ID } from '../tracing/semconv';

/** The sidetrace CLI, run for `deploy expire` (the watchdog, and closing an unclosed deploy). */
export const CLI = path.join(__dirname, '..', 'cli', 'index.js');

export function spanIdOf(traceparent: string): string | undefined {
  return parseTraceparent(traceparent)?.spanId;
}

/** Attributes every step gets: which deploy it belongs to, and Kamal's boot group when in a hook. */
export function stepAttributes(denv: DeployEnv, carrier: Carrier | undefined): CarrierAttributes {
  const a: CarrierAttributes = {};
  const id = carrier?.deploy.attributes[ATTR_DEPLOYMENT_ID];
  if (typeof id === 'string') a[ATTR_DEPLOYMENT_ID] = id;
  if (denv.kamal.hosts) a['kamal.hosts'] = denv.kamal.hosts;
  if (denv.kamal.roles) a['kamal.roles'] = denv.kamal.roles;
  return a;
}

/** Close, as failed, every step still open in a carrier. */
export function closeLeftoverSteps(tracer: Tracer, carrier: Carrier, end: bigint, why: string): void {
  for (const rec of Object.values(carrier.steps)) emitRecordedSpan(tracer, rec, { endUnixNano: end, failed: why });
}

/**
 * Make `file` ready for a new deploy. A deploy still recorded there was never
 * closed: it is closed now, as failed, by a separate process (so it is
 * reported under its own service version, not the new one). A carrier owned
 * by a running `sidetrace deploy -- <command>` is refused (CarrierError).
 */
export function prepareCarrier(file: string): void {
  let existing: Carrier | undefined;
  try {
    existing = readCarrier(file);
  } catch (err) {
    log.warn(`${(err as Error).message}; replacing it`);
    return;
  }
  if (!existing) return;
  const owner = existing.deploy.ownerPid;
  if (owner && owner !== process.pid && isAlive(owner)) {
    throw new CarrierError(`carrier file ${file} belongs to a running sidetrace deploy (pid ${owner})`);
  }
  const spanId = spanIdOf(existing.deploy.traceparent) ?? '';
  spawnSync(process.execPath, [CLI, 'deploy', 'expire', '--carrier', file, '--deploy-span', spanId, '--after', '0', '--reason', 'next-deploy'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 30_000,
  });
}
