// Everything a deploy learns from its environment, read once into one typed
// object: the trace it continues (TRACEPARENT), the carrier file, the Kamal
// hook variables, CI variables (GitHub Actions, GitLab CI) and the New Relic
// change-tracking settings. Tracing's own settings (exporter, service name,
// resource) are read by ./index.ts. KAMAL_RECORDED_AT is not read: it has
// one-second resolution, and the CLI's own clock marks the same moment.
// The deploy code (src/deploy/) receives the DeployEnv and never reads the
// environment itself.
import type { Env } from './reader';

export type { Env };

export interface KamalVars {
  performer?: string;
  version?: string;
  service?: string;
  hosts?: string;
  roles?: string;
  command?: string;
  subcommand?: string;
  destination?: string;
  /** Seconds the whole kamal command took (post-deploy only). */
  runtimeSeconds?: number;
}

export interface CiRun {
  provider: 'github-actions' | 'gitlab-ci';
  runId: string;
  runUrl?: string;
  pipelineName?: string;
  revision?: string;
  repositoryUrl?: string;
  actor?: string;
  /** GitHub only: what the deterministic trace id is derived from. */
  github?: { repository: string; runId: string; runAttempt: string };
}

export interface NewRelicSettings {
  userApiKey?: string;
  entityGuid?: string;
  entityName?: string;
  nerdgraphUrl: string;
}

export interface DeployEnv {
  traceparent?: string;
  tracestate?: string;
  carrierPath?: string;
  /** Seconds after which an opened deploy that was never closed is closed as failed; 0 = never. */
  timeoutSeconds: number;
  kamal: KamalVars;
  ci?: CiRun;
  gitCommitSha?: string;
  newRelic: NewRelicSettings;
  /** GitHub Actions' job summary file: the trace id is written there. */
  stepSummaryPath?: string;
  /** GITHUB_REPOSITORY, GITHUB_RUN_ID and GITHUB_RUN_ATTEMPT as set (`sidetrace deploy trace-id` defaults), even outside GitHub Actions. */
  githubRun: { repository?: string; runId?: string; runAttempt?: string };
  problems: string[];
}

export const NERDGRAPH_US = 'https://api.newrelic.com/graphql';
export const NERDGRAPH_EU = 'https://api.eu.newrelic.com/graphql';
export const DEFAULT_TIMEOUT_SECONDS = 3600;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function readCi(env: Env): CiRun | undefined {
  if (value(env, 'GITHUB_ACTIONS') === 'true' || value(env, 'GITHUB_RUN_ID')) {
    const runId = value(env, 'GITHUB_RUN_ID');
    const repository = value(env, 'GITHUB_REPOSITORY');
    if (!runId) return undefined;
    const runAttempt = value(env, 'GITHUB_RUN_ATTEMPT') ?? '1';
    const server = (value(env, 'GITHUB_SERVER_URL') ?? 'https://github.com').replace(/\/+$/, '');
    return {
      provider: 'github-actions',
      runId,
      runUrl: repository ? `${server}/${repository}/actions/runs/${runId}/attempts/${runAttempt}` : undefined,
      pipelineName: value(env, 'GITHUB_WORKFLOW'),
      revision: value(env, 'GITHUB_SHA'),
      repositoryUrl: repository ? `${server}/${repository}` : undefined,
      actor: value(env, 'GITHUB_ACTOR'),
      github: repository ? { repository, runId, runAttempt } : undefined,
    };
  }
  const pipelineId = value(env, 'CI_PIPELINE_ID');
  if (value(env, 'GITLAB_CI') === 'true' && pipelineId) {
    return {
      provider: 'gitlab-ci',
      runId: pipelineId,
      runUrl: value(env, 'CI_PIPELINE_URL'),
      pipelineName: value(env, 'CI_PIPELINE_NAME') ?? value(env, 'CI_PROJECT_PATH'),
      revision: value(env, 'CI_COMMIT_SHA'),
      repositoryUrl: value(env, 'CI_PROJECT_URL'),
      actor: value(env, 'GITLAB_USER_LOGIN'),
    };
  }
  return undefined;
}

export function readDeployEnv(env: Env = process.env): DeployEnv {
  const problems: string[] = [];

  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  const timeoutRaw = value(env, 'SIDETRACE_DEPLOY_TIMEOUT');
  if (timeoutRaw !== undefined) {
    if (/^\d+$/.test(timeoutRaw) && Number(timeoutRaw) <= 7 * 24 * 3600) timeoutSeconds = Number(timeoutRaw);
    else
      problems.push(`SIDETRACE_DEPLOY_TIMEOUT=${JSON.stringify(timeoutRaw)} is not a whole number of seconds up to 604800; using ${DEFAULT_TIMEOUT_SECONDS}`);
  }

  let runtimeSeconds: number | undefined;
  const runtimeRaw = value(env, 'KAMAL_RUNTIME');
  if (runtimeRaw !== undefined) {
    if (/^\d+(\.\d+)?$/.test(runtimeRaw)) runtimeSeconds = Number(runtimeRaw);
    else problems.push(`KAMAL_RUNTIME=${JSON.stringify(runtimeRaw)} is not a number of seconds; ignoring it`);
  }

  let nerdgraphUrl = value(env, 'NEW_RELIC_REGION')?.toUpperCase() === 'EU' ? NERDGRAPH_EU : NERDGRAPH_US;
  const urlRaw = value(env, 'NEW_RELIC_NERDGRAPH_URL');
  if (urlRaw !== undefined) {
    try {
      const u = new URL(urlRaw);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
      nerdgraphUrl = urlRaw;
    } catch {
      problems.push(`NEW_RELIC_NERDGRAPH_URL=${JSON.stringify(urlRaw)} is not an http(s) URL; using ${nerdgraphUrl}`);
    }
  }

  return {
    traceparent: value(env, 'TRACEPARENT'),
    tracestate: value(env, 'TRACESTATE'),
    carrierPath: value(env, 'SIDETRACE_DEPLOY_CARRIER'),
    timeoutSeconds,
    kamal: {
      performer: value(env, 'KAMAL_PERFORMER'),
      version: value(env, 'KAMAL_VERSION'),
      service: value(env, 'KAMAL_SERVICE'),
      hosts: value(env, 'KAMAL_HOSTS'),
      roles: value(env, 'KAMAL_ROLES'),
      command: value(env, 'KAMAL_COMMAND'),
      subcommand: value(env, 'KAMAL_SUBCOMMAND'),
      destination: value(env, 'KAMAL_DESTINATION'),
      runtimeSeconds,
    },
    ci: readCi(env),
    gitCommitSha: value(env, 'GIT_COMMIT_SHA'),
    newRelic: {
      userApiKey: value(env, 'NEW_RELIC_USER_API_KEY'),
      entityGuid: value(env, 'NEW_RELIC_ENTITY_GUID'),
      entityName: value(env, 'NEW_RELIC_ENTITY_NAME'),
      nerdgraphUrl,
    },
    stepSummaryPath: value(env, 'GITHUB_STEP_SUMMARY'),
    githubRun: { repository: value(env, 'GITHUB_REPOSITORY'), runId: value(env, 'GITHUB_RUN_ID'), runAttempt: value(env, 'GITHUB_RUN_ATTEMPT') },
    problems,
  };
}
