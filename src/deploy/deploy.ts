// A deploy as a span: `deploy <service>` (or `rollback <service>`) around
// the deploy's work, with the deployment, version, VCS, CI and performer
// attributes; children join through TRACEPARENT. Used by the library API
// (traceDeploy) and by `sidetrace deploy [options] -- <command...>`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { readConfig } from '../config';
import { log } from '../logging/log';
import { runAsRootWork } from '../tracing/root-work';
import { shutdown } from '../start';
import { DISTRO_VERSION } from '../version';
import { claimCarrier, nowUnixNano, readCarrier, removeQuietly, writeCarrier, type Carrier } from './carrier';
import { runCommand } from './child';
import { readDeployEnv, type DeployEnv, type Env } from '../config/deploy';
import { deployAttributes, resolveDeployFacts, type DeployFacts, type DeployFlags } from './facts';
import { markDeployment } from './newrelic-marker';
import { closeLeftoverSteps, prepareCarrier } from './lifecycle';
import { contextOf, envJoining } from './spans';
import { startSpanWithIds } from './span-ids';
import { githubRunTraceId } from './trace-id';
import { formatTraceparent } from '../tracing/traceparent';
import { startTracing, TRACER_NAME } from './tracing';
import { ATTR_DEPLOYMENT_ID, ATTR_DEPLOYMENT_STATUS, ATTR_PROCESS_EXIT_CODE } from '../tracing/semconv';

export interface DeployHandle {
  readonly span: Span;
  readonly traceId: string;
  readonly deploymentId: string;
  /** `base` (default process.env) plus TRACEPARENT/TRACESTATE of the deploy span, for a child that should join it. */
  childEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Mark the deploy failed (deployment.status=failed, span status error) without throwing. */
  fail(message: string): void;
}

export interface TraceDeployOptions extends DeployFlags {
  /** Environment to read instead of process.env. */
  env?: Env;
  cwd?: string;
}

export function identityOf(facts: DeployFacts) {
  return { service: facts.service, version: facts.version, environment: facts.environment };
}

/**
 * Run `work` as a deploy of the service, after `start()`: a span
 * `deploy <service>` whose status follows `work` (a throw or `fail()` marks
 * it failed), then a New Relic change marker when NEW_RELIC_USER_API_KEY is
 * set. Resolves or rejects as `work` does.
 */
export async function traceDeploy<T>(options: TraceDeployOptions, work: (deploy: DeployHandle) => Promise<T>): Promise<T> {
  const denv = readDeployEnv(options.env);
  const facts = resolveDeployFacts(options, denv, readConfig(options.env).config, options.cwd);
  return runInDeploySpan(trace.getTracer(TRACER_NAME, DISTRO_VERSION), facts, denv, options, work);
}

export async function runInDeploySpan<T>(
  tracer: Tracer,
  facts: DeployFacts,
  denv: DeployEnv,
  flags: DeployFlags,
  work: (deploy: DeployHandle) => Promise<T>,
): Promise<T> {
  const parent = contextOf(denv.traceparent, denv.tracestate);
  const isRoot = parent === ROOT_CONTEXT;
  const github = isRoot ? facts.ci?.github : undefined;
  const spanName = `${facts.kind} ${facts.service}`;
  return runAsRootWork(spanName, 'Deploy', async () => {
    const { span } = startSpanWithIds(tracer, spanName, { kind: SpanKind.INTERNAL, root: isRoot }, parent, {
      traceId: github ? githubRunTraceId(github) : undefined,
    });
    const ctx = span.spanContext();
    const valid = trace.isSpanContextValid(ctx);
    const deploymentId = facts.id ?? ctx.spanId;
    const attributes = deployAttributes(facts, deploymentId, denv);
    span.setAttributes(attributes);
    if (valid) announce(facts, ctx.traceId, github ? denv.stepSummaryPath : undefined);

    let failure: string | undefined;
    const handle: DeployHandle = {
      span,
      traceId: ctx.traceId,
      deploymentId,
      childEnv: (base = process.env) => envJoining(ctx, base),
      fail(message) {
        failure ??= message;
      },
    };
    let result: T | undefined;
    let thrown: { error: unknown } | undefined;
    try {
      result = await work(handle);
    } catch (error) {
      thrown = { error };
      failure ??= error instanceof Error ? error.message : String(error);
    }
    span.setAttribute(ATTR_DEPLOYMENT_STATUS, failure ? 'failed' : 'succeeded');
    if (failure) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    span.end();
    if (!failure) {
      await markDeployment(
        {
          settings: denv.newRelic,
          entity: flags.newrelicEntity,
          service: facts.service,
          attributes,
          changelog: flags.changelog,
          deploymentType: flags.deploymentType,
          traceId: valid ? ctx.traceId : undefined,
          timestamp: Date.now(),
        },
        log.info,
      );
    }
    if (thrown) throw thrown.error;
    return result as T;
  });
}

function announce(facts: DeployFacts, traceId: string, summaryPath: string | undefined): void {
  log.info(`recording ${facts.name} as trace ${traceId}`);
  if (!summaryPath) return;
  try {
    fs.appendFileSync(summaryPath, `sidetrace: ${facts.name} is trace \`${traceId}\`\n`);
  } catch (err) {
    log.warn(`could not write the trace id to GITHUB_STEP_SUMMARY (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** `sidetrace deploy [options] -- <command...>`: the CLI exits with the command's status. */
export async function runDeployCommand(flags: DeployFlags, command: string[], carrierFlag: string | undefined, denv: DeployEnv): Promise<number> {
  for (const p of denv.problems) log.warn(p);
  const { config } = readConfig();
  // The facts (git lookups included) are needed only for a span or a marker.
  const facts = config.enabled || config.agent === 'newrelic' || denv.newRelic.userApiKey ? resolveDeployFacts(flags, denv, config) : undefined;
  const tracing = startTracing(facts ? identityOf(facts) : { service: flags.service ?? config.serviceName ?? 'unknown_service' }, 'the command runs untraced');

  if (!tracing.enabled || !facts) {
    const outcome = await runCommand(command, process.env);
    if (outcome.startError) log.error(`cannot run the command: ${outcome.startError}`);
    if (outcome.exitCode === 0 && facts) {
      const attributes = deployAttributes(facts, facts.id ?? '', denv);
      await markDeployment(
        {
          settings: denv.newRelic,
          entity: flags.newrelicEntity,
          service: facts.service,
          attributes,
          changelog: flags.changelog,
          deploymentType: flags.deploymentType,
          timestamp: Date.now(),
        },
        log.info,
      );
    }
    return outcome.exitCode;
  }

  const tracer = tracing.tracer!;
  let exitCode = 1;
  try {
    await runInDeploySpan(tracer, facts, denv, flags, async (deploy) => {
      const carrier = ownCarrier(carrierFlag, deploy, facts);
      const env = deploy.childEnv(carrier ? { ...process.env, SIDETRACE_DEPLOY_CARRIER: carrier.path } : process.env);
      const outcome = await runCommand(command, env);
      exitCode = outcome.exitCode;
      if (outcome.startError) {
        log.error(`cannot run the command: ${outcome.startError}`);
        deploy.fail(`cannot run the command: ${outcome.startError}`);
      } else if (outcome.signal) {
        deploy.fail(`the command was killed by ${outcome.signal}`);
      } else if (outcome.code !== 0) {
        deploy.fail(`the command exited with code ${outcome.code}`);
      }
      deploy.span.setAttribute(ATTR_PROCESS_EXIT_CODE, exitCode);
      if (carrier) carrier.finish(tracer);
    });
  } finally {
    await shutdown();
  }
  return exitCode;
}

/**
 * The carrier a wrapped deploy hands its command (SIDETRACE_DEPLOY_CARRIER),
 * so that phases opened and closed by separate processes inside it
 * (`sidetrace deploy step NAME --open/--close`) find their deploy. It is
 * owned by this process: `sidetrace deploy close` leaves it alone, and this
 * process closes whatever phase is still open when the command exits.
 */
function ownCarrier(carrierFlag: string | undefined, deploy: DeployHandle, facts: DeployFacts): { path: string; finish(tracer: Tracer): void } | undefined {
  let file: string;
  let tempDir: string | undefined;
  try {
    if (carrierFlag) {
      file = path.resolve(carrierFlag);
      prepareCarrier(file);
    } else {
      tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-deploy-'));
      file = path.join(tempDir, 'carrier.json');
    }
    const now = nowUnixNano().toString();
    const ctx = deploy.span.spanContext();
    const carrier: Carrier = {
      format: 'sidetrace-deploy-carrier',
      version: 1,
      deploy: {
        name: `${facts.kind} ${facts.service}`,
        traceparent: formatTraceparent(ctx),
        startTimeUnixNano: now,
        lastActivityUnixNano: now,
        attributes: { [ATTR_DEPLOYMENT_ID]: deploy.deploymentId },
        identity: identityOf(facts),
        kind: facts.kind,
        ownerPid: process.pid,
        marker: {},
      },
      steps: {},
    };
    writeCarrier(file, carrier);
  } catch (err) {
    log.warn(`${(err as Error).message}; phases opened by separate processes (step --open/--close) will not be recorded`);
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    return undefined;
  }
  return {
    path: file,
    finish(tracer) {
      try {
        const claimed = claimCarrier(file);
        const left = claimed ? readCarrier(claimed) : undefined;
        if (left) closeLeftoverSteps(tracer, left, nowUnixNano(), 'the deploy command exited before this step was closed');
        if (claimed) removeQuietly(claimed);
      } catch (err) {
        log.warn(`${(err as Error).message}; steps still open in it are not recorded`);
      }
      if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    },
  };
}
