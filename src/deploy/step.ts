// `sidetrace deploy step <name> -- <command...>`: one phase of the current
// deploy (build, push, migrate, health check...) as a child span around a
// command. The deploy is found, in this order, in the carrier named by
// --carrier, in TRACEPARENT (set by `sidetrace deploy` for its command and
// everything under it), or in the carrier named by SIDETRACE_DEPLOY_CARRIER.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { readConfig } from '../config';
import { log } from '../logging/log';
import { runAsRootWork } from '../tracing/root-work';
import { shutdown } from '../start';
import { readCarrier, type Carrier } from './carrier';
import { runCommand } from './child';
import type { DeployEnv } from '../config/deploy';
import { resolveDeployFacts, type DeployFlags } from './facts';
import { stepAttributes } from './lifecycle';
import { contextOf, envJoining } from './spans';
import { startTracing } from './tracing';
import { ATTR_PROCESS_EXIT_CODE } from '../tracing/semconv';

export async function runStepCommand(name: string, command: string[], carrierFlag: string | undefined, flags: DeployFlags, denv: DeployEnv): Promise<number> {
  for (const p of denv.problems) log.warn(p);
  const carrierPath = carrierFlag ?? denv.carrierPath;
  let carrier: Carrier | undefined;
  if (carrierPath) {
    try {
      carrier = readCarrier(carrierPath);
      if (!carrier && carrierFlag) log.warn(`no open deploy in ${carrierPath}`);
    } catch (err) {
      log.warn(`${(err as Error).message}; ignoring it`);
    }
  }
  let parent: { traceparent: string; tracestate?: string } | undefined;
  if (carrierFlag && carrier) parent = { traceparent: carrier.deploy.traceparent, tracestate: carrier.deploy.tracestate };
  else if (denv.traceparent) parent = { traceparent: denv.traceparent, tracestate: denv.tracestate };
  else if (carrier) parent = { traceparent: carrier.deploy.traceparent, tracestate: carrier.deploy.tracestate };

  const identity =
    carrier?.deploy.identity ??
    (({ service, version, environment }) => ({ service, version, environment }))(resolveDeployFacts(flags, denv, readConfig().config));
  const tracing = startTracing(identity, 'the command runs untraced');
  if (!tracing.enabled) {
    const outcome = await runCommand(command, process.env);
    if (outcome.startError) log.error(`cannot run the command: ${outcome.startError}`);
    return outcome.exitCode;
  }
  if (!parent) log.warn(`no deploy to attach step "${name}" to (no --carrier, TRACEPARENT or SIDETRACE_DEPLOY_CARRIER); recording it as a trace of its own`);

  let exitCode = 1;
  try {
    await runAsRootWork(name, 'Deploy', async () => {
      const span = tracing.tracer!.startSpan(
        name,
        { kind: SpanKind.INTERNAL, attributes: stepAttributes(denv, carrier) },
        contextOf(parent?.traceparent, parent?.tracestate),
      );
      const outcome = await runCommand(command, envJoining(span.spanContext(), process.env));
      exitCode = outcome.exitCode;
      span.setAttribute(ATTR_PROCESS_EXIT_CODE, exitCode);
      let failure: string | undefined;
      if (outcome.startError) {
        log.error(`cannot run the command: ${outcome.startError}`);
        failure = `cannot run the command: ${outcome.startError}`;
      } else if (outcome.signal) failure = `the command was killed by ${outcome.signal}`;
      else if (outcome.code !== 0) failure = `the command exited with code ${outcome.code}`;
      if (failure) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      span.end();
    });
  } finally {
    await shutdown();
  }
  return exitCode;
}
