#!/usr/bin/env node
// Creates or updates sidetrace's New Relic dashboards (dashboards/newrelic/*.json)
// through NerdGraph: a dashboard that already exists in the account under the
// same name is updated (dashboardUpdate), otherwise created (dashboardCreate).
//
//   NEW_RELIC_USER_API_KEY=NRAK-… NEW_RELIC_ACCOUNT_ID=1234567 node scripts/newrelic-dashboards.mjs [file.json …]
//   NEW_RELIC_NERDGRAPH_URL   NerdGraph endpoint (default US https://api.newrelic.com/graphql;
//                             EU accounts: https://api.eu.newrelic.com/graphql)
//
// The files carry the account id placeholder 0 in every nrqlQueries[].accountIds;
// it is replaced by NEW_RELIC_ACCOUNT_ID. Exit 0 when every dashboard was
// written, 1 when NerdGraph refused (one line saying why), 2 on bad arguments.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const DASHBOARD_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dashboards', 'newrelic');
export const DEFAULT_NERDGRAPH_URL = 'https://api.newrelic.com/graphql';
const ACCOUNT_PLACEHOLDER = 0;
const TIMEOUT_MS = 30_000;

const FIND = `query FindDashboard($query: String!) {
  actor { entitySearch(query: $query) { results { entities { guid name accountId ... on DashboardEntityOutline { dashboardParentGuid } } } } }
}`;
const CREATE = `mutation CreateDashboard($accountId: Int!, $dashboard: DashboardInput!) {
  dashboardCreate(accountId: $accountId, dashboard: $dashboard) { entityResult { guid name } errors { description type } }
}`;
const UPDATE = `mutation UpdateDashboard($guid: EntityGuid!, $dashboard: DashboardInput!) {
  dashboardUpdate(guid: $guid, dashboard: $dashboard) { entityResult { guid name } errors { description type } }
}`;

/** A failure to report as one line. */
export class DashboardError extends Error {}

/** The dashboard with the account placeholder replaced in every NRQL query. */
export function forAccount(dashboard, accountId) {
  const copy = structuredClone(dashboard);
  for (const page of copy.pages ?? []) {
    for (const widget of page.widgets ?? []) {
      for (const q of widget.rawConfiguration?.nrqlQueries ?? []) {
        q.accountIds = (q.accountIds ?? [ACCOUNT_PLACEHOLDER]).map((id) => (id === ACCOUNT_PLACEHOLDER ? accountId : id));
      }
    }
  }
  return copy;
}

/** NRQL-style single-quoted string (entity search syntax). */
const quoted = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Why NerdGraph said no, as one line; the key itself is never part of it. */
function refusal(status, errors, accountId) {
  const messages = (errors ?? []).map((e) => e.message ?? e.description).filter(Boolean);
  const text = messages.join('; ') || `HTTP ${status}`;
  const codes = (errors ?? []).map((e) => `${e.extensions?.error_code ?? ''} ${e.extensions?.errorClass ?? ''} ${e.type ?? ''}`).join(' ');
  if (status === 401 || /BAD_API_KEY|UNAUTHENTICATED/.test(codes) || /api.?key/i.test(text)) {
    return `NerdGraph rejected NEW_RELIC_USER_API_KEY (${text}); use a User key (NRAK-…) of a user in account ${accountId}`;
  }
  if (
    status === 403 ||
    /FORBIDDEN|ACCESS_DENIED|INVALID_ACCOUNT|NOT_AUTHORIZED/i.test(codes) ||
    /account|access denied|forbidden|not authori[sz]ed/i.test(text)
  ) {
    return `NerdGraph refused account NEW_RELIC_ACCOUNT_ID=${accountId} (${text}); check the id and that the key's user can reach that account`;
  }
  return `NerdGraph answered with an error: ${text}`;
}

async function nerdgraph({ url, apiKey, accountId, fetchImpl = fetch }, query, variables) {
  let res;
  try {
    res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'API-Key': apiKey },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new DashboardError(`could not reach NerdGraph at ${url} (${err.cause?.code ?? err.message})`);
  }
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new DashboardError(res.ok ? `NerdGraph at ${url} answered something other than JSON (HTTP ${res.status})` : refusal(res.status, [], accountId));
  }
  if (!res.ok || body.errors?.length) throw new DashboardError(refusal(res.status, body.errors, accountId));
  return body.data;
}

/** Creates or updates one dashboard; returns what was done. */
export async function upsertDashboard(api, dashboard) {
  const search = `type = 'DASHBOARD' AND accountId = ${api.accountId} AND name = ${quoted(dashboard.name)}`;
  const found = await nerdgraph(api, FIND, { query: search });
  // Pages are entities of type DASHBOARD too (with a parent): only whole dashboards count.
  const existing = (found?.actor?.entitySearch?.results?.entities ?? []).find(
    (e) => e.name === dashboard.name && !e.dashboardParentGuid && (e.accountId === undefined || Number(e.accountId) === api.accountId),
  );
  const input = forAccount(dashboard, api.accountId);
  const [op, data] = existing
    ? ['updated', (await nerdgraph(api, UPDATE, { guid: existing.guid, dashboard: input }))?.dashboardUpdate]
    : ['created', (await nerdgraph(api, CREATE, { accountId: api.accountId, dashboard: input }))?.dashboardCreate];
  if (data?.errors?.length) throw new DashboardError(refusal(200, data.errors, api.accountId));
  const guid = data?.entityResult?.guid;
  if (!guid) throw new DashboardError(`NerdGraph did not return the ${op} dashboard "${dashboard.name}"`);
  return { op, guid, name: dashboard.name };
}

/** Reads the environment and the files; throws DashboardError on bad input. */
export function readSettings(env, files) {
  const apiKey = env.NEW_RELIC_USER_API_KEY?.trim();
  if (!apiKey) throw new DashboardError("NEW_RELIC_USER_API_KEY is not set; create a User key (NRAK-…) in New Relic's API keys page");
  const rawAccount = env.NEW_RELIC_ACCOUNT_ID?.trim() ?? '';
  const accountId = Number(rawAccount);
  if (!/^[1-9][0-9]{0,11}$/.test(rawAccount) || !Number.isSafeInteger(accountId)) {
    throw new DashboardError(`NEW_RELIC_ACCOUNT_ID=${JSON.stringify(rawAccount)} is not an account id (a positive whole number)`);
  }
  const url = env.NEW_RELIC_NERDGRAPH_URL?.trim() || DEFAULT_NERDGRAPH_URL;
  try {
    if (!/^https?:$/.test(new URL(url).protocol)) throw new Error();
  } catch {
    throw new DashboardError(`NEW_RELIC_NERDGRAPH_URL=${JSON.stringify(url)} is not an http(s) URL`);
  }
  const paths = files.length
    ? files
    : fs
        .readdirSync(DASHBOARD_DIR)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(DASHBOARD_DIR, f));
  const dashboards = paths.map((p) => {
    let d;
    try {
      d = JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch (err) {
      throw new DashboardError(`${p}: ${err.code === 'ENOENT' ? 'no such file' : `not valid JSON (${err.message})`}`);
    }
    if (typeof d?.name !== 'string' || !Array.isArray(d.pages)) throw new DashboardError(`${p}: not a New Relic dashboard (needs "name" and "pages")`);
    return d;
  });
  return { api: { url, apiKey, accountId }, dashboards };
}

export async function main(argv = process.argv.slice(2), env = process.env, out = console) {
  if (argv.includes('-h') || argv.includes('--help')) {
    out.log('usage: NEW_RELIC_USER_API_KEY=… NEW_RELIC_ACCOUNT_ID=… node scripts/newrelic-dashboards.mjs [dashboard.json …]');
    return 0;
  }
  let settings;
  try {
    settings = readSettings(env, argv);
  } catch (err) {
    if (!(err instanceof DashboardError)) throw err;
    out.error(`sidetrace dashboards: ${err.message}`);
    return 2;
  }
  for (const dashboard of settings.dashboards) {
    try {
      const r = await upsertDashboard(settings.api, dashboard);
      out.log(`sidetrace dashboards: ${r.op} "${r.name}" (guid ${r.guid}) in account ${settings.api.accountId}`);
    } catch (err) {
      if (!(err instanceof DashboardError)) throw err;
      out.error(`sidetrace dashboards: "${dashboard.name}" not written: ${err.message}`);
      return 1;
    }
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then((code) => {
    process.exitCode = code;
  });
}
