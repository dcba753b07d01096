// New Relic change tracking: a deployment marker through NerdGraph's
// changeTrackingCreateDeployment mutation, so New Relic's charts show where
// the new version took traffic. The entity is a GUID, or a name looked up
// with entitySearch (APM and OpenTelemetry services). A marker that cannot
// be created never fails the deploy: the caller prints the one-line reason.
// The user API key goes in the API-Key header and nowhere else.
import type { NewRelicSettings } from '../config/deploy';
import {
  ATTR_CICD_PIPELINE_RUN_URL_FULL,
  ATTR_DEPLOYMENT_ID,
  ATTR_DEPLOYMENT_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_VCS_REF_HEAD_REVISION,
} from '../tracing/semconv';

export interface MarkerDetails {
  version: string;
  commit?: string;
  changelog?: string;
  description?: string;
  user?: string;
  deepLink?: string;
  deploymentType?: string;
  groupId?: string;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
}

export type MarkerResult = { ok: true; deploymentId: string; entityGuid: string } | { ok: false; reason: string };

export const DEPLOYMENT_TYPES = ['BASIC', 'BLUE_GREEN', 'CANARY', 'OTHER', 'ROLLING', 'SHADOW'] as const;

export const CREATE_DEPLOYMENT = `mutation SidetraceDeploymentMarker($deployment: ChangeTrackingDeploymentInput!) {
  changeTrackingCreateDeployment(deployment: $deployment) { deploymentId entityGuid }
}`;

export const FIND_ENTITY = `query SidetraceFindEntity($query: String!) {
  actor { entitySearch(query: $query) { results { entities { guid name } } } }
}`;

const TIMEOUT_MS = 5000;

/** An entity GUID is base64 of "<account>|<DOMAIN>|<TYPE>|<id>"; anything else is taken as a name. */
export function looksLikeEntityGuid(v: string): boolean {
  if (!/^[A-Za-z0-9+/_-]{20,}={0,2}$/.test(v)) return false;
  const decoded = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
  return /^\d+\|[A-Z]+\|[A-Z_]+\|\S+$/.test(decoded);
}

async function nerdgraph(settings: NewRelicSettings, query: string, variables: Record<string, unknown>): Promise<{ data?: any; error?: string }> {
  let res: Response;
  try {
    res = await fetch(settings.nerdgraphUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'API-Key': settings.userApiKey! },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const e = err as Error;
    return {
      error:
        e.name === 'TimeoutError'
          ? `NerdGraph did not answer within ${TIMEOUT_MS} ms`
          : `NerdGraph is unreachable (${(e.cause as Error)?.message ?? e.message})`,
    };
  }
  let body: any;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const firstError = Array.isArray(body?.errors) && body.errors.length ? String(body.errors[0]?.message ?? 'unknown error') : undefined;
  if (!res.ok) return { error: `NerdGraph answered HTTP ${res.status}${firstError ? `: ${firstError}` : ''}` };
  if (firstError) return { error: `NerdGraph refused it: ${firstError}` };
  return { data: body?.data };
}

async function entityGuidFor(settings: NewRelicSettings, entity: string): Promise<{ guid?: string; error?: string }> {
  if (looksLikeEntityGuid(entity)) return { guid: entity };
  const query = `name = '${entity.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' AND domain IN ('APM', 'EXT')`;
  const { data, error } = await nerdgraph(settings, FIND_ENTITY, { query });
  if (error) return { error };
  const entities: { guid?: string; name?: string }[] = data?.actor?.entitySearch?.results?.entities ?? [];
  const exact = entities.find((e) => e.name === entity && e.guid);
  if (!exact) return { error: `no New Relic APM or OpenTelemetry entity is named ${JSON.stringify(entity)}` };
  return { guid: exact.guid };
}

export async function createDeploymentMarker(settings: NewRelicSettings, entity: string, details: MarkerDetails): Promise<MarkerResult> {
  const { guid, error } = await entityGuidFor(settings, entity);
  if (!guid) return { ok: false, reason: error! };
  const deployment: Record<string, unknown> = { entityGuid: guid, version: details.version, timestamp: details.timestamp };
  for (const key of ['commit', 'changelog', 'description', 'user', 'deepLink', 'deploymentType', 'groupId'] as const) {
    if (details[key]) deployment[key] = details[key];
  }
  const res = await nerdgraph(settings, CREATE_DEPLOYMENT, { deployment });
  if (res.error) return { ok: false, reason: res.error };
  const created = res.data?.changeTrackingCreateDeployment;
  if (!created?.deploymentId) return { ok: false, reason: 'NerdGraph returned no deploymentId' };
  return { ok: true, deploymentId: String(created.deploymentId), entityGuid: String(created.entityGuid ?? guid) };
}

export interface MarkerRequest {
  settings: NewRelicSettings;
  /** --newrelic-entity, else NEW_RELIC_ENTITY_GUID, NEW_RELIC_ENTITY_NAME, else the service name. */
  entity?: string;
  service: string;
  /** The deploy span's attributes: version, commit, user, run URL, id and name come from there. */
  attributes: Record<string, unknown>;
  changelog?: string;
  deploymentType?: string;
  traceId?: string;
  timestamp: number;
}

/** Create the marker when NEW_RELIC_USER_API_KEY is set; report the outcome in one line. Never throws. */
export async function markDeployment(req: MarkerRequest, say: (line: string) => void): Promise<MarkerResult | undefined> {
  if (!req.settings.userApiKey) return undefined;
  const str = (k: string) => (typeof req.attributes[k] === 'string' ? (req.attributes[k] as string) : undefined);
  const entity = req.entity ?? req.settings.entityGuid ?? req.settings.entityName ?? req.service;
  const version = str(ATTR_SERVICE_VERSION);
  let result: MarkerResult;
  if (!version) {
    result = { ok: false, reason: 'the deploy has no version (give --version)' };
  } else {
    try {
      result = await createDeploymentMarker(req.settings, entity, {
        version,
        commit: str(ATTR_VCS_REF_HEAD_REVISION),
        changelog: req.changelog,
        description: `${str(ATTR_DEPLOYMENT_NAME) ?? `deploy ${req.service}`}${req.traceId ? ` (trace ${req.traceId})` : ''}`,
        user: str('user.name'),
        deepLink: str(ATTR_CICD_PIPELINE_RUN_URL_FULL),
        deploymentType: req.deploymentType ?? 'BASIC',
        groupId: str(ATTR_DEPLOYMENT_ID),
        timestamp: req.timestamp,
      });
    } catch (err) {
      result = { ok: false, reason: (err as Error).message };
    }
  }
  if (result.ok) say(`New Relic deployment marker ${result.deploymentId} created on entity ${result.entityGuid}`);
  else say(`New Relic deployment marker not created: ${result.reason}; the deploy itself is unaffected`);
  return result;
}
