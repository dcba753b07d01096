// New Relic change tracking: the deployment marker a deploy creates through
// NerdGraph, checked by a local GraphQL endpoint that looks at what a real
// one would: the API-Key header, the mutation and its variables.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { cli, tempDir, tracingEnv } from './helpers/deploy';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';

const API_KEY = 'NRAK-TESTKEY0123456789ABCDEFGHIJ';
const GUID = Buffer.from('1234567|APM|APPLICATION|987654').toString('base64');
const OTHER_GUID = Buffer.from('1234567|EXT|SERVICE|55').toString('base64');

interface Call {
  headers: http.IncomingHttpHeaders;
  query: string;
  variables: any;
}

let receiver: OtlpReceiver;
let server: http.Server;
let url: string;
let calls: Call[] = [];
let reject: { status: number; message: string } | undefined;
let dir: string;

before(async () => {
  receiver = await startOtlpReceiver();
  dir = tempDir();
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const { query, variables } = JSON.parse(body);
      calls.push({ headers: req.headers, query, variables });
      const answer = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      };
      if (reject) return answer(reject.status, { errors: [{ message: reject.message }] });
      if (req.headers['api-key'] !== API_KEY) return answer(401, { errors: [{ message: 'Invalid API key' }] });
      if (/entitySearch\(query: \$query\)/.test(query)) {
        const name = /^name = '(.*)' AND domain IN \('APM', 'EXT'\)$/.exec(variables.query)?.[1];
        const entities = name === 'shop' ? [{ guid: OTHER_GUID, name: 'shop' }] : [];
        return answer(200, { data: { actor: { entitySearch: { results: { entities } } } } });
      }
      if (/changeTrackingCreateDeployment\(deployment: \$deployment\)/.test(query)) {
        return answer(200, { data: { changeTrackingCreateDeployment: { deploymentId: 'dep-0001', entityGuid: variables.deployment.entityGuid } } });
      }
      answer(400, { errors: [{ message: 'unexpected query' }] });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
after(async () => {
  await receiver.close();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  calls = [];
  reject = undefined;
});

const github = {
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: 'acme/shop',
  GITHUB_RUN_ID: '555',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_SHA: 'a'.repeat(40),
  GITHUB_ACTOR: 'octocat',
};

describe('New Relic deployment marker', () => {
  it('is created with the version, commit, changelog, user, type, link and time, and the API key in the API-Key header only', async () => {
    const before = Date.now();
    const r = await cli(['deploy', '--version', 'v2.0.1', '--changelog', 'Faster checkout', '--deployment-type', 'rolling', '--', 'true'], {
      env: tracingEnv(receiver, { ...github, NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_ENTITY_GUID: GUID, NEW_RELIC_NERDGRAPH_URL: url }),
    });
    assert.equal(r.code, 0, r.err);
    const [span] = await receiver.waitForSpans((s) => s.attributes['deployment.id'] === '555-1');
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.equal(call.headers['api-key'], API_KEY);
    assert.match(String(call.headers['content-type']), /^application\/json/);
    assert.match(
      call.query,
      /^mutation \w+\(\$deployment: ChangeTrackingDeploymentInput!\) \{\s+changeTrackingCreateDeployment\(deployment: \$deployment\) \{ deploymentId entityGuid \}\s+\}$/,
    );
    const { timestamp, ...rest } = call.variables.deployment;
    assert.deepEqual(rest, {
      entityGuid: GUID,
      version: 'v2.0.1',
      commit: 'a'.repeat(40),
      changelog: 'Faster checkout',
      description: `deploy shop v2.0.1 (trace ${span.traceId})`,
      user: 'octocat',
      deepLink: 'https://github.com/acme/shop/actions/runs/555/attempts/1',
      deploymentType: 'ROLLING',
      groupId: '555-1',
    });
    assert.ok(timestamp >= before && timestamp <= Date.now(), 'milliseconds since the epoch, at the end of the deploy');
    assert.match(r.err, new RegExp(`^sidetrace: New Relic deployment marker dep-0001 created on entity ${GUID}$`, 'm'));
    assert.doesNotMatch(r.err + JSON.stringify(receiver.spans.map((s) => [s.attributes, s.resource])), /NRAK-/);
  });

  it('looks the entity up by name (the service name by default)', async () => {
    const r = await cli(['deploy', '--version', 'v3', '--', 'true'], {
      env: tracingEnv(receiver, { NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_NERDGRAPH_URL: url }),
    });
    assert.equal(r.code, 0, r.err);
    assert.equal(calls.length, 2);
    assert.match(calls[0].query, /entitySearch/);
    assert.equal(calls[0].variables.query, "name = 'shop' AND domain IN ('APM', 'EXT')");
    assert.equal(calls[1].variables.deployment.entityGuid, OTHER_GUID);
    assert.match(r.err, /^sidetrace: New Relic deployment marker dep-0001 created/m);

    calls = [];
    const unknown = await cli(['deploy', '--version', 'v3', '--newrelic-entity', 'nope', '--', 'true'], {
      env: tracingEnv(receiver, { NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_NERDGRAPH_URL: url }),
    });
    assert.equal(unknown.code, 0);
    assert.equal(calls.length, 1, 'no mutation without an entity');
    assert.match(
      unknown.err,
      /^sidetrace: New Relic deployment marker not created: no New Relic APM or OpenTelemetry entity is named "nope"; the deploy itself is unaffected$/m,
    );
  });

  it('a rejected API key is one line, and the deploy still succeeds', async () => {
    const r = await cli(['deploy', '--version', 'v4', '--id', 'nr-rejected', '--', 'sh', '-c', 'echo deployed'], {
      env: tracingEnv(receiver, { NEW_RELIC_USER_API_KEY: 'NRAK-WRONG', NEW_RELIC_ENTITY_GUID: GUID, NEW_RELIC_NERDGRAPH_URL: url }),
    });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), 'deployed\n');
    const lines = r.err.split('\n').filter((l) => l.includes('New Relic'));
    assert.deepEqual(lines, [
      'sidetrace: New Relic deployment marker not created: NerdGraph answered HTTP 401: Invalid API key; the deploy itself is unaffected',
    ]);
    assert.doesNotMatch(r.err, /NRAK-WRONG/);
    const [span] = await receiver.waitForSpans((s) => s.attributes['deployment.id'] === 'nr-rejected');
    assert.equal(span.attributes['deployment.status'], 'succeeded');
  });

  it('a GraphQL error or an unreachable endpoint is one line too', async () => {
    reject = { status: 200, message: 'Timestamp is too old' };
    const refused = await cli(['deploy', '--version', 'v5', '--', 'true'], {
      env: tracingEnv(receiver, { NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_ENTITY_GUID: GUID, NEW_RELIC_NERDGRAPH_URL: url }),
    });
    assert.equal(refused.code, 0);
    assert.match(
      refused.err,
      /^sidetrace: New Relic deployment marker not created: NerdGraph refused it: Timestamp is too old; the deploy itself is unaffected$/m,
    );

    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = await cli(['deploy', '--version', 'v5', '--', 'true'], {
      env: tracingEnv(receiver, { NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_ENTITY_GUID: GUID, NEW_RELIC_NERDGRAPH_URL: `http://127.0.0.1:${port}/graphql` }),
    });
    assert.equal(down.code, 0);
    assert.match(
      down.err,
      /^sidetrace: New Relic deployment marker not created: NerdGraph is unreachable \(.*ECONNREFUSED.*\); the deploy itself is unaffected$/m,
    );
  });

  it('is not created for a failed deploy, and is created with tracing off', async () => {
    const env = { OTEL_SERVICE_NAME: 'shop', NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_ENTITY_GUID: GUID, NEW_RELIC_NERDGRAPH_URL: url };
    const failed = await cli(['deploy', '--version', 'v6', '--', 'sh', '-c', 'exit 1'], { env: tracingEnv(receiver, env) });
    assert.equal(failed.code, 1);
    assert.equal(calls.length, 0);
    const untraced = await cli(['deploy', '--version', 'v6', '--', 'true'], { env });
    assert.equal(untraced.code, 0);
    assert.match(untraced.err, /tracing is off/);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].variables.deployment.version, 'v6');
  });

  it('is created when a carrier-file deploy closes (Kamal post-deploy)', async () => {
    const file = path.join(dir, 'carrier.json');
    const env = tracingEnv(receiver, { NEW_RELIC_USER_API_KEY: API_KEY, NEW_RELIC_NERDGRAPH_URL: url, KAMAL_PERFORMER: 'alice@example.com' });
    assert.equal(
      (await cli(['deploy', 'open', '--carrier', file, '--version', 'v7', '--newrelic-entity', GUID, '--deployment-type', 'BLUE_GREEN'], { env })).code,
      0,
    );
    assert.equal(calls.length, 0, 'not at open');
    const close = await cli(['deploy', 'close', '--carrier', file], { env });
    assert.equal(close.code, 0, close.err);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].variables.deployment.entityGuid, GUID);
    assert.equal(calls[0].variables.deployment.version, 'v7');
    assert.equal(calls[0].variables.deployment.user, 'alice@example.com');
    assert.equal(calls[0].variables.deployment.deploymentType, 'BLUE_GREEN');
  });
});
