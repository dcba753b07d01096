// The CLI handlers of deploys and steps that open in one process and close
// in another, through a carrier file (carrier.ts): `sidetrace deploy open`,
// `close`, `step NAME --open/--close` and the internal `expire`. Kamal's
// pre-deploy opens the deploy, pre-app-boot/post-app-boot open and close each
// boot group, post-deploy closes the deploy. What the wrapped deploy
// (deploy.ts) and steps (step.ts) share with them is in lifecycle.ts. A deploy that is never closed (its post-deploy did not
// run because it failed) is closed as failed, ending at its last recorded
// activity, by whichever comes first: the next `deploy open` on the same
// carrier, or the watchdog that `open` leaves behind (SIDETRACE_DEPLOY_TIMEOUT).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { readConfig } from '../config';
import type { DeployEnv } from '../config/deploy';
import { log } from '../logging/log';
import { runAsRootWork } from '../tracing/root-work';
import { shutdown } from '../start';
import { claimCarrier, hrTimeOf, isAlive, nowUnixNano, readCarrier, removeQuietly, writeCarrier, type Carrier, type CarrierAttributes } from './carrier';
import { deployAttributes, resolveDeployFacts, type DeployFlags } from './facts';
import { CLI, closeLeftoverSteps, prepareCarrier, spanIdOf, stepAttributes } from './lifecycle';
import { markDeployment } from './newrelic-marker';
import { contextOf, emitRecordedSpan } from './spans';
import { startSpanWithIds } from './span-ids';
import { githubRunTraceId } from './trace-id';
import { formatTraceparent, parseTraceparent } from '../tracing/traceparent';
import { startTracing } from './tracing';
import { ATTR_DEPLOYMENT_ID, ATTR_DEPLOYMENT_STATUS } from '../tracing/semconv';

const POLL_MS = 1000;

export type Status = 'succeeded' | 'failed';

function traceIdOf(traceparent: string): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * The pid of a running `sidetrace deploy -- <command>` that owns `file`:
 * Kamal's hooks under `sidetrace deploy -- kamal deploy` (as in the GitHub
 * Actions example) find its carrier in SIDETRACE_DEPLOY_CARRIER, and their
 * open/close leave the deploy to it while their steps join it.
 */
function wrappingDeploy(file: string): number | undefined {
  try {
    const owner = readCarrier(file)?.deploy.ownerPid;
    return owner && owner !== process.pid && isAlive(owner) ? owner : undefined;
  } catch {
    return undefined; // prepareCarrier reports an unreadable carrier
  }
}

function announceOpen(name: string, traceId: string | undefined, file: string, denv: DeployEnv, github: boolean): void {
  log.info(`opened ${name}${traceId ? ` as trace ${traceId}` : ''} in ${file}`);
  if (!github || !traceId || !denv.stepSummaryPath) return;
  try {
    fs.appendFileSync(denv.stepSummaryPath, `sidetrace: ${name} is trace \`${traceId}\`\n`);
  } catch (err) {
    log.warn(`could not write the trace id to GITHUB_STEP_SUMMARY (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** `sidetrace deploy open`: record a deploy that a later `sidetrace deploy close` ends. */
export async function openDeploy(flags: DeployFlags, file: string, denv: DeployEnv): Promise<number> {
  for (const p of denv.problems) log.warn(p);
  const wrapper = wrappingDeploy(file);
  if (wrapper) {
    log.info(`the deploy is already recorded by the sidetrace deploy wrapping this one (pid ${wrapper}); its steps join that deploy`);
    return 0;
  }
  try {
    prepareCarrier(file);
  } catch (err) {
    log.error(`${(err as Error).message}; the deploy is not recorded`);
    return 1;
  }
  const facts = resolveDeployFacts(flags, denv, readConfig().config);
  const tracing = startTracing(
    { service: facts.service, version: facts.version, environment: facts.environment },
    'the deploy is recorded for the New Relic marker only',
  );
  const parent = contextOf(denv.traceparent, denv.tracestate);
  const isRoot = parent === ROOT_CONTEXT;
  const github = isRoot ? facts.ci?.github : undefined;
  const name = `${facts.kind} ${facts.service}`;
  let traceparent: string;
  if (tracing.enabled) {
    // Started only for its ids and sampling decision, and never ended here:
    // `close` emits it with these ids (spans.ts).
    const { span } = startSpanWithIds(tracing.tracer!, name, { kind: SpanKind.INTERNAL, root: isRoot }, parent, {
      traceId: github ? githubRunTraceId(github) : undefined,
    });
    traceparent = formatTraceparent(span.spanContext());
  } else {
    const p = parseTraceparent(denv.traceparent);
    traceparent = formatTraceparent({ traceId: p?.traceId ?? randomHex(16), spanId: randomHex(8), traceFlags: 0 });
  }
  const now = nowUnixNano().toString();
  const carrier: Carrier = {
    format: 'sidetrace-deploy-carrier',
    version: 1,
    deploy: {
      name,
      traceparent,
      tracestate: denv.tracestate,
      parent: isRoot ? undefined : denv.traceparent,
      startTimeUnixNano: now,
      lastActivityUnixNano: now,
      attributes: deployAttributes(facts, facts.id ?? spanIdOf(traceparent)!, denv),
      identity: { service: facts.service, version: facts.version, environment: facts.environment },
      kind: facts.kind,
      marker: { changelog: flags.changelog, deploymentType: flags.deploymentType, entity: flags.newrelicEntity },
    },
    steps: {},
  };
  try {
    writeCarrier(file, carrier);
    if (denv.timeoutSeconds > 0) {
      carrier.deploy.watcherPid = startWatchdog(file, spanIdOf(traceparent)!, denv.timeoutSeconds);
      writeCarrier(file, carrier);
    }
  } catch (err) {
    log.error(`${(err as Error).message}; the deploy is not recorded`);
    await shutdown();
    return 1;
  }
  announceOpen(name, tracing.enabled ? traceIdOf(traceparent) : undefined, file, denv, !!github);
  await shutdown();
  return 0;
}

/** A detached process that closes the deploy as failed if it is still open after `seconds`. */
function startWatchdog(file: string, spanId: string, seconds: number): number | undefined {
  const child = spawn(
    process.execPath,
    [CLI, 'deploy', 'expire', '--carrier', file, '--deploy-span', spanId, '--after', String(seconds), '--reason', 'timeout'],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  child.on('error', () => log.warn('could not start the watchdog; a deploy that never closes is closed by the next deploy only'));
  child.unref();
  return child.pid;
}

/** `sidetrace deploy close`: end the deploy recorded in `file`. */
export async function closeDeploy(file: string, status: Status, denv: DeployEnv): Promise<number> {
  for (const p of denv.problems) log.warn(p);
  let carrier: Carrier | undefined;
  let claimed: string | undefined;
  try {
    carrier = readCarrier(file);
    if (!carrier) {
      log.error(`no open deploy in ${file} (did \`sidetrace deploy open\` run?); nothing to close`);
      return 1;
    }
    const owner = carrier.deploy.ownerPid;
    if (owner && isAlive(owner)) {
      log.info(`the deploy is recorded by the sidetrace deploy wrapping this one (pid ${owner}), which closes it when its command exits`);
      return 0;
    }
    claimed = claimCarrier(file);
    carrier = claimed ? readCarrier(claimed) : undefined;
    if (!carrier) {
      log.error(`the deploy in ${file} was closed by another process meanwhile; nothing to close`);
      return 1;
    }
  } catch (err) {
    log.error(`${(err as Error).message}; the deploy is not closed`);
    return 1;
  }

  const rec = carrier.deploy;
  const tracing = startTracing(rec.identity, 'the deploy is not exported');
  const now = nowUnixNano();
  const failed = status === 'failed' ? 'the deploy failed' : undefined;
  const attributes: CarrierAttributes = { [ATTR_DEPLOYMENT_STATUS]: status };
  // Kamal's post-deploy says how long the whole command took, build and push
  // included, which happen before pre-deploy: the deploy span starts then.
  let startUnixNano: bigint | undefined;
  const runtime = denv.kamal.runtimeSeconds;
  if (runtime !== undefined) {
    attributes['kamal.runtime'] = runtime;
    const began = now - BigInt(Math.round(runtime * 1e9));
    if (began < BigInt(rec.startTimeUnixNano)) startUnixNano = began;
  }
  if (tracing.enabled) {
    const tracer = tracing.tracer!;
    await runAsRootWork(rec.name, 'Deploy', async () => {
      closeLeftoverSteps(tracer, carrier!, now, 'this step was still open when the deploy closed');
      if (startUnixNano !== undefined && rec.kind === 'deploy') {
        // What ran before pre-deploy: known only as a time range.
        const before = tracer.startSpan(
          'build and push',
          {
            kind: SpanKind.INTERNAL,
            startTime: hrTimeOf(startUnixNano),
            attributes: { [ATTR_DEPLOYMENT_ID]: rec.attributes[ATTR_DEPLOYMENT_ID], 'sidetrace.deploy.inferred': true },
          },
          contextOf(rec.traceparent),
        );
        before.end(hrTimeOf(rec.startTimeUnixNano));
      }
      emitRecordedSpan(tracer, rec, { endUnixNano: now, failed, attributes, startUnixNano });
    });
  }
  if (!failed) {
    await markDeployment(
      {
        settings: denv.newRelic,
        entity: rec.marker.entity,
        service: rec.identity.service,
        attributes: rec.attributes,
        changelog: rec.marker.changelog,
        deploymentType: rec.marker.deploymentType,
        traceId: tracing.enabled ? traceIdOf(rec.traceparent) : undefined,
        timestamp: Date.now(),
      },
      log.info,
    );
  }
  removeQuietly(claimed!);
  log.info(`closed ${rec.name} as ${status}`);
  await shutdown();
  return 0;
}

/** `sidetrace deploy step NAME --open`: record a step that `--close` ends, possibly in another process. */
export async function openStep(name: string, file: string, denv: DeployEnv): Promise<number> {
  let carrier: Carrier | undefined;
  try {
    carrier = readCarrier(file);
  } catch (err) {
    log.error(`${(err as Error).message}; step "${name}" is not recorded`);
    return 1;
  }
  if (!carrier) {
    log.error(`no open deploy in ${file}; step "${name}" is not recorded`);
    return 1;
  }
  if (carrier.steps[name]) log.warn(`step "${name}" is already open in ${file}; starting it again`);
  const tracing = startTracing(carrier.deploy.identity, 'the step is not recorded');
  let traceparent: string;
  if (tracing.enabled) {
    // Never ended here: `--close` emits it with these ids.
    traceparent = formatTraceparent(tracing.tracer!.startSpan(name, { kind: SpanKind.INTERNAL }, contextOf(carrier.deploy.traceparent)).spanContext());
  } else {
    traceparent = formatTraceparent({ traceId: traceIdOf(carrier.deploy.traceparent) ?? randomHex(16), spanId: randomHex(8), traceFlags: 0 });
  }
  const now = nowUnixNano().toString();
  carrier.steps[name] = {
    name,
    traceparent,
    parent: carrier.deploy.traceparent,
    startTimeUnixNano: now,
    attributes: stepAttributes(denv, carrier),
  };
  carrier.deploy.lastActivityUnixNano = now;
  try {
    writeCarrier(file, carrier);
  } catch (err) {
    log.error(`${(err as Error).message}; step "${name}" is not recorded`);
    await shutdown();
    return 1;
  }
  await shutdown();
  return 0;
}

/** `sidetrace deploy step NAME --close`. */
export async function closeStep(name: string, file: string, status: Status): Promise<number> {
  let carrier: Carrier | undefined;
  try {
    carrier = readCarrier(file);
  } catch (err) {
    log.error(`${(err as Error).message}; step "${name}" is not closed`);
    return 1;
  }
  const rec = carrier?.steps[name];
  if (!carrier || !rec) {
    log.error(`no open step "${name}" in ${file} (did \`sidetrace deploy step "${name}" --open\` run?); nothing to close`);
    return 1;
  }
  const tracing = startTracing(carrier.deploy.identity, 'the step is not exported');
  const now = nowUnixNano();
  if (tracing.enabled) {
    await runAsRootWork(name, 'Deploy', async () => {
      emitRecordedSpan(tracing.tracer!, rec, { endUnixNano: now, failed: status === 'failed' ? `step "${name}" failed` : undefined });
    });
  }
  delete carrier.steps[name];
  carrier.deploy.lastActivityUnixNano = now.toString();
  try {
    writeCarrier(file, carrier);
  } catch (err) {
    log.warn(`${(err as Error).message}; the step was recorded but stays listed as open`);
  }
  await shutdown();
  return 0;
}

/**
 * `sidetrace deploy expire` (internal: the watchdog, and `open` finding an
 * unclosed deploy): once `afterSeconds` have passed, close the deploy whose
 * span id is `spanId` as failed, if the carrier still holds it. Exits early,
 * doing nothing, as soon as the carrier is gone or holds another deploy.
 */
export async function expireDeploy(file: string, spanId: string, afterSeconds: number, reason: 'timeout' | 'next-deploy'): Promise<number> {
  const deadline = Date.now() + afterSeconds * 1000;
  for (;;) {
    let current: Carrier | undefined;
    try {
      current = readCarrier(file);
    } catch {
      return 0; // replaced by something unreadable: not ours to close any more
    }
    if (!current || spanIdOf(current.deploy.traceparent) !== spanId) return 0;
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, left)));
  }
  let claimed: string | undefined;
  let carrier: Carrier | undefined;
  try {
    claimed = claimCarrier(file);
    carrier = claimed ? readCarrier(claimed) : undefined;
  } catch (err) {
    log.error(`${(err as Error).message}; the unfinished deploy is not closed`);
    return 1;
  }
  if (!claimed || !carrier) return 0;
  if (spanIdOf(carrier.deploy.traceparent) !== spanId) {
    // Replaced between the last look and the claim: put the new deploy back.
    if (!fs.existsSync(file)) fs.renameSync(claimed, file);
    return 0;
  }
  const rec = carrier.deploy;
  const why =
    reason === 'timeout'
      ? `the deploy did not finish within ${afterSeconds} s (nothing closed it)`
      : 'the deploy never finished (the next deploy started before anything closed it)';
  const tracing = startTracing(rec.identity, 'the unfinished deploy is not exported');
  const end = BigInt(rec.lastActivityUnixNano);
  if (tracing.enabled) {
    await runAsRootWork(rec.name, 'Deploy', async () => {
      closeLeftoverSteps(tracing.tracer!, carrier!, end, 'the deploy never finished');
      emitRecordedSpan(tracing.tracer!, rec, { endUnixNano: end, failed: why, attributes: { [ATTR_DEPLOYMENT_STATUS]: 'failed' } });
    });
  }
  removeQuietly(claimed);
  log.info(`closed ${rec.name}${tracing.enabled ? ` (trace ${traceIdOf(rec.traceparent)})` : ''} as failed: ${why}`);
  await shutdown();
  return 0;
}
