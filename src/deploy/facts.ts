// What a deploy is: which service, which version, where, by whom, from which
// commit and CI run; resolved once from the CLI flags, the deploy
// environment (context.ts) and tracing's config, in the documented order.
import os from 'node:os';
import path from 'node:path';
import type { SidetraceConfig } from '../config';
import { findAppPackage } from '../sdk/resource';
import type { CarrierAttributes } from './carrier';
import type { CiRun, DeployEnv } from '../config/deploy';
import { canonicalRepositoryUrl, gitHeadRevision, gitRemoteUrl } from './git';
import {
  ATTR_CICD_PIPELINE_NAME,
  ATTR_CICD_PIPELINE_RUN_ID,
  ATTR_CICD_PIPELINE_RUN_URL_FULL,
  ATTR_DEPLOYMENT_ENVIRONMENT,
  ATTR_DEPLOYMENT_ENVIRONMENT_NAME,
  ATTR_DEPLOYMENT_ID,
  ATTR_DEPLOYMENT_NAME,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_VCS_REF_HEAD_REVISION,
  ATTR_VCS_REPOSITORY_URL_FULL,
} from '../tracing/semconv';

export type DeployKind = 'deploy' | 'rollback';

export interface DeployFlags {
  service?: string;
  version?: string;
  environment?: string;
  name?: string;
  id?: string;
  kind?: DeployKind;
  changelog?: string;
  deploymentType?: string;
  newrelicEntity?: string;
}

export interface DeployFacts {
  service: string;
  version?: string;
  environment?: string;
  kind: DeployKind;
  /** Explicit or from CI; otherwise the deploy span's id is used. */
  id?: string;
  name: string;
  revision?: string;
  repositoryUrl?: string;
  performer?: string;
  ci?: CiRun;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function osUser(): string | undefined {
  try {
    return os.userInfo().username || undefined;
  } catch {
    return undefined; // no passwd entry (some containers)
  }
}

export function resolveDeployFacts(flags: DeployFlags, denv: DeployEnv, config: SidetraceConfig, cwd = process.cwd()): DeployFacts {
  const attrs = config.resourceAttributes;
  const k = denv.kamal;
  let head: string | undefined | null = null; // looked up at most once, and only when needed
  const gitHead = () => (head === null ? (head = gitHeadRevision(cwd)) : head);
  const pkg = () => findAppPackage(path.join(cwd, 'package.json'));

  const service = flags.service ?? config.serviceName ?? attrs[ATTR_SERVICE_NAME] ?? k.service ?? pkg().name ?? 'unknown_service';
  // The same order the preload uses for the app's service.version (KAMAL_VERSION,
  // GIT_COMMIT_SHA, GITHUB_SHA), so the deploy and the app's spans line up.
  const version = flags.version ?? config.deploy.version ?? gitHead();
  const environment = flags.environment ?? k.destination ?? attrs[ATTR_DEPLOYMENT_ENVIRONMENT_NAME] ?? attrs[ATTR_DEPLOYMENT_ENVIRONMENT];
  const kind: DeployKind = flags.kind ?? (k.command === 'rollback' ? 'rollback' : 'deploy');
  const ci = denv.ci;
  const id = flags.id ?? (ci ? (ci.github ? `${ci.runId}-${ci.github.runAttempt}` : ci.runId) : undefined);
  const shortVersion = version && SHA.test(version) ? version.slice(0, 12) : version;
  const name = flags.name ?? `${kind} ${service}${shortVersion ? ` ${shortVersion}` : ''}${environment ? ` to ${environment}` : ''}`;
  const revision = ci?.revision ?? denv.gitCommitSha ?? (k.version && SHA.test(k.version) ? k.version : undefined) ?? gitHead();
  const repositoryUrl = canonicalRepositoryUrl(ci?.repositoryUrl ?? gitRemoteUrl(cwd));
  const performer = k.performer ?? ci?.actor ?? osUser();
  return { service, version, environment, kind, id, name, revision, repositoryUrl, performer, ci };
}

/** The deploy span's attributes (README: "Deploys" lists them). */
export function deployAttributes(facts: DeployFacts, deploymentId: string, denv: DeployEnv): CarrierAttributes {
  const a: CarrierAttributes = {
    [ATTR_DEPLOYMENT_NAME]: facts.name,
    [ATTR_DEPLOYMENT_ID]: deploymentId,
    'sidetrace.deploy.kind': facts.kind,
  };
  const set = (key: string, v: string | undefined) => {
    if (v) a[key] = v;
  };
  set(ATTR_DEPLOYMENT_ENVIRONMENT_NAME, facts.environment);
  set(ATTR_SERVICE_VERSION, facts.version);
  set(ATTR_VCS_REF_HEAD_REVISION, facts.revision);
  set(ATTR_VCS_REPOSITORY_URL_FULL, facts.repositoryUrl);
  set(ATTR_CICD_PIPELINE_NAME, facts.ci?.pipelineName);
  set(ATTR_CICD_PIPELINE_RUN_ID, facts.ci?.runId);
  set(ATTR_CICD_PIPELINE_RUN_URL_FULL, facts.ci?.runUrl);
  set('user.name', facts.performer);
  set('kamal.command', denv.kamal.command);
  set('kamal.subcommand', denv.kamal.subcommand);
  set('kamal.hosts', denv.kamal.hosts);
  set('kamal.roles', denv.kamal.roles);
  return a;
}
