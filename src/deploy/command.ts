// `sidetrace deploy ...`: picks the subcommand, checks its arguments, and
// returns the exit status (the wrapped command's, whenever it ran; 2 for a
// usage error; 1 when a carrier operation could not be done).
import { log } from '../logging/log';
import { oneOf, parseArgs, UsageError, type FlagSpec, type ParsedArgs } from './args';
import type { DeployEnv } from '../config/deploy';
import type { DeployFlags } from './facts';
import { DEPLOYMENT_TYPES } from './newrelic-marker';
import { githubRunTraceId } from './trace-id';

export const DEPLOY_USAGE = `Usage:
  sidetrace deploy [options] -- <command...>        run a command as a deploy span (deploy <service>)
  sidetrace deploy open [options]                   open a deploy in a carrier file (Kamal pre-deploy)
  sidetrace deploy close [--status S]               close it (Kamal post-deploy); S: succeeded (default), failed
  sidetrace deploy step <name> -- <command...>      run a command as a step of the current deploy
  sidetrace deploy step <name> --open | --close [--status S]
                                                    a step opened and closed by separate processes
  sidetrace deploy trace-id [--repository OWNER/NAME] [--run-id ID] [--run-attempt N]
                                                    the trace id of a GitHub Actions run's deploy

Options:
  --service NAME          service name (default OTEL_SERVICE_NAME, KAMAL_SERVICE, package.json name)
  --version VERSION       service.version (default KAMAL_VERSION, GIT_COMMIT_SHA, GITHUB_SHA, git HEAD)
  --environment ENV       deployment.environment.name (default KAMAL_DESTINATION, OTEL_RESOURCE_ATTRIBUTES)
  --name NAME             deployment.name (default "<kind> <service> <version> to <environment>")
  --id ID                 deployment.id (default the CI run id, else the deploy span id)
  --kind deploy|rollback  default rollback when KAMAL_COMMAND=rollback
  --carrier FILE          carrier file for open/close/step (default SIDETRACE_DEPLOY_CARRIER)
  --changelog TEXT        New Relic marker changelog
  --deployment-type TYPE  New Relic marker type: ${DEPLOYMENT_TYPES.join(', ')} (default BASIC)
  --newrelic-entity X     New Relic entity GUID or name (default NEW_RELIC_ENTITY_GUID, NEW_RELIC_ENTITY_NAME, the service)
`;

const IDENTITY: FlagSpec = {
  service: 'value',
  version: 'value',
  environment: 'value',
  name: 'value',
  id: 'value',
  kind: 'value',
  changelog: 'value',
  'deployment-type': 'value',
  'newrelic-entity': 'value',
  carrier: 'value',
};

function deployFlags(p: ParsedArgs, where: string): DeployFlags {
  const s = (k: string) => (typeof p.flags[k] === 'string' ? (p.flags[k] as string) : undefined);
  return {
    service: s('service'),
    version: s('version'),
    environment: s('environment'),
    name: s('name'),
    id: s('id'),
    kind: oneOf(p.flags.kind, ['deploy', 'rollback'] as const, 'kind', where),
    changelog: s('changelog'),
    deploymentType: oneOf(p.flags['deployment-type'], DEPLOYMENT_TYPES, 'deployment-type', where),
    newrelicEntity: s('newrelic-entity'),
  };
}

function needCommand(p: ParsedArgs, where: string): string[] {
  if (p.positionals.length) throw new UsageError(`${where}: unexpected argument ${JSON.stringify(p.positionals[0])} (put the command after --)`);
  if (!p.command) throw new UsageError(`${where}: no command given (sidetrace deploy [options] -- <command...>)`);
  if (!p.command.length) throw new UsageError(`${where}: no command after --`);
  return p.command;
}

function noPositionals(p: ParsedArgs, where: string): void {
  if (p.positionals.length) throw new UsageError(`${where}: unexpected argument ${JSON.stringify(p.positionals[0])}`);
  if (p.command) throw new UsageError(`${where}: takes no command after --`);
}

function carrierOf(p: ParsedArgs, where: string, denv: DeployEnv): string {
  const c = typeof p.flags.carrier === 'string' ? p.flags.carrier : denv.carrierPath;
  if (!c) throw new UsageError(`${where}: needs a carrier file (--carrier FILE or SIDETRACE_DEPLOY_CARRIER)`);
  return c;
}

function statusOf(p: ParsedArgs, where: string) {
  return oneOf(p.flags.status, ['succeeded', 'failed'] as const, 'status', where) ?? 'succeeded';
}

/** `denv`: the deploy's environment, as src/config/deploy.ts read it. */
export async function deployMain(argv: string[], denv: DeployEnv): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(DEPLOY_USAGE);
    return 0;
  }
  try {
    return await dispatch(argv, denv);
  } catch (err) {
    if (err instanceof UsageError) {
      log.error(`${err.message} (see sidetrace deploy --help)`);
      return 2;
    }
    throw err;
  }
}

async function dispatch(argv: string[], denv: DeployEnv): Promise<number> {
  const sub = argv[0];
  if (sub === 'open') {
    const where = 'deploy open';
    const p = parseArgs(argv.slice(1), IDENTITY, where);
    noPositionals(p, where);
    const flags = deployFlags(p, where);
    const { openDeploy } = require('./phases') as typeof import('./phases');
    return openDeploy(flags, carrierOf(p, where, denv), denv);
  }
  if (sub === 'close') {
    const where = 'deploy close';
    const p = parseArgs(argv.slice(1), { carrier: 'value', status: 'value' }, where);
    noPositionals(p, where);
    const status = statusOf(p, where);
    const { closeDeploy } = require('./phases') as typeof import('./phases');
    return closeDeploy(carrierOf(p, where, denv), status, denv);
  }
  if (sub === 'step') {
    const where = 'deploy step';
    const p = parseArgs(argv.slice(1), { ...IDENTITY, open: 'boolean', close: 'boolean', status: 'value' }, where);
    const name = p.positionals.shift();
    if (!name) throw new UsageError(`${where}: no step name (sidetrace deploy step <name> -- <command...>)`);
    if (p.flags.open || p.flags.close) {
      if (p.flags.open && p.flags.close) throw new UsageError(`${where}: --open and --close exclude each other`);
      noPositionals(p, where);
      const file = carrierOf(p, where, denv);
      const phases = require('./phases') as typeof import('./phases');
      return p.flags.open ? phases.openStep(name, file, denv) : phases.closeStep(name, file, statusOf(p, where));
    }
    if (p.flags.status) throw new UsageError(`${where}: --status goes with --close only`);
    const command = needCommand(p, where);
    const flags = deployFlags(p, where);
    const { runStepCommand } = require('./step') as typeof import('./step');
    return runStepCommand(name, command, typeof p.flags.carrier === 'string' ? p.flags.carrier : undefined, flags, denv);
  }
  if (sub === 'trace-id') {
    const where = 'deploy trace-id';
    const p = parseArgs(argv.slice(1), { repository: 'value', 'run-id': 'value', 'run-attempt': 'value' }, where);
    noPositionals(p, where);
    const repository = (p.flags.repository as string | undefined) ?? denv.githubRun.repository;
    const runId = (p.flags['run-id'] as string | undefined) ?? denv.githubRun.runId;
    const runAttempt = (p.flags['run-attempt'] as string | undefined) ?? denv.githubRun.runAttempt ?? '1';
    if (!repository || !runId) throw new UsageError(`${where}: needs --repository and --run-id (or GITHUB_REPOSITORY and GITHUB_RUN_ID)`);
    process.stdout.write(`${githubRunTraceId({ repository, runId, runAttempt })}\n`);
    return 0;
  }
  if (sub === 'expire') {
    // Internal: the watchdog `open` starts, and `open` closing an unfinished deploy.
    const where = 'deploy expire';
    const p = parseArgs(argv.slice(1), { carrier: 'value', 'deploy-span': 'value', after: 'value', reason: 'value' }, where);
    noPositionals(p, where);
    const after = Number(p.flags.after ?? 0);
    if (!Number.isFinite(after) || after < 0) throw new UsageError(`${where}: --after must be a number of seconds`);
    const reason = oneOf(p.flags.reason, ['timeout', 'next-deploy'] as const, 'reason', where) ?? 'timeout';
    const { expireDeploy } = require('./phases') as typeof import('./phases');
    return expireDeploy(carrierOf(p, where, denv), String(p.flags['deploy-span'] ?? ''), after, reason);
  }
  const where = 'deploy';
  const p = parseArgs(argv, IDENTITY, where);
  const command = needCommand(p, where);
  const flags = deployFlags(p, where);
  const { runDeployCommand } = require('./deploy') as typeof import('./deploy');
  return runDeployCommand(flags, command, typeof p.flags.carrier === 'string' ? p.flags.carrier : undefined, denv);
}
