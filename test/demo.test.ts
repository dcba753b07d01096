// End to end through the real programs: the demo app and its preview service
// under sidetrace's preload (dist/preload.js) → the real OpenTelemetry
// Collector → the real Jaeger, queried through Jaeger's HTTP API; PostgreSQL
// and Redis are real servers. Then `npm run demo` itself, as a user runs it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDemoApp, type DemoApp } from '../scripts/demo-lib.mjs';
import { freePort, PORTS } from '../scripts/stack-lib.mjs';
import { useServices } from './helpers/services';
import { flattenTrace, jaegerServiceSpans, jaegerTrace, startStack, waitFor, type JaegerSpan, type Stack } from './helpers/stack';

const DEMO_VERSION: string = require('../examples/demo/package.json').version;

function describeSpans(spans: JaegerSpan[]): string {
  return spans.map((s) => `  ${s.service} ${s.kind} "${s.name}" ${s.spanId} <- ${s.parentId ?? '-'}`).join('\n');
}

/** Polls Jaeger until `ready` holds for the spans `read` returns (spans are batched, so they arrive over a moment). */
function waitForSpans(read: () => Promise<JaegerSpan[]>, ready: (spans: JaegerSpan[]) => boolean, what: string) {
  return waitFor(read, ready, { what, describe: describeSpans });
}

/** True when `span` sits below `ancestor` in the trace (through any number of intermediate spans). */
function isDescendant(spans: JaegerSpan[], span: JaegerSpan, ancestor: JaegerSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (let s: JaegerSpan | undefined = span; s?.parentId; s = byId.get(s.parentId)) {
    if (s.parentId === ancestor.spanId) return true;
  }
  return false;
}

/** The job spans of the service's recent traces, with the spans they link to (Jaeger's FOLLOWS_FROM references, in `links`). */
async function jobSpansWithLinks(jaegerUrl: string): Promise<JaegerSpan[]> {
  const q = new URLSearchParams({ service: 'sidetrace-demo', operation: 'job reindex-projects', limit: '50', lookback: '1h' });
  const response = await fetch(`${jaegerUrl}/api/traces?${q}`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200);
  const traces = ((await response.json()) as { data: any[] | null }).data ?? [];
  return traces.flatMap(flattenTrace);
}

const isDb = (system: string) => (s: JaegerSpan) => (s.attributes['db.system.name'] ?? s.attributes['db.system']) === system;
const statementOf = (s: JaegerSpan) => String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? '');

describe('demo app → collector → Jaeger', () => {
  const services = useServices();
  let stack: Stack;
  let demo: DemoApp;
  const appVersion = `2.5.0-e2e.${process.pid}`;

  before(async () => {
    stack = await startStack();
    demo = await startDemoApp({
      databaseUrl: services.databaseUrl,
      redisUrl: services.redisUrl,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' },
      appEnv: { OTEL_RESOURCE_ATTRIBUTES: `service.version=${appVersion}` },
    });
  });

  after(async () => {
    await demo?.stop();
    await stack?.stop();
  });

  test('GET /projects/:id is one trace: server span, pg and redis spans, the outgoing call and the preview service', async () => {
    const created = await fetch(`${demo.appUrl}/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e project', ownerId: 2 }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: number };

    // An upstream caller's context: the trace id is how we find the request in Jaeger.
    const traceId = crypto.randomBytes(16).toString('hex');
    const upstreamSpanId = crypto.randomBytes(8).toString('hex');
    const response = await fetch(`${demo.appUrl}/projects/${id}`, {
      headers: { traceparent: `00-${traceId}-${upstreamSpanId}-01` },
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { id: number; preview: { url: string } | null };
    assert.equal(body.id, id);
    assert.ok(body.preview?.url, 'the app got a preview from the preview service');

    const spans = await waitForSpans(
      () => jaegerTrace(stack.jaegerUrl, traceId),
      (all) =>
        all.some((s) => s.service === 'sidetrace-preview' && s.kind === 'server') &&
        all.some((s) => s.service === 'sidetrace-demo' && s.kind === 'server') &&
        all.some(isDb('postgresql')) &&
        all.filter(isDb('redis')).length >= 2,
      "the request's spans from both services",
    );
    const trace = describeSpans(spans);
    assert.ok(spans.length > 0, `Jaeger has no trace ${traceId}`);
    for (const s of spans) assert.equal(s.traceId, traceId, "every span is in the caller's trace");

    const server = spans.filter((s) => s.service === 'sidetrace-demo' && s.kind === 'server');
    assert.equal(server.length, 1, `one server span in the app:\n${trace}`);
    assert.equal(server[0].attributes['http.route'], '/projects/:id');
    assert.equal(server[0].parentId, upstreamSpanId, "the server span continues the caller's traceparent");
    assert.equal(Number(server[0].attributes['http.response.status_code'] ?? server[0].attributes['http.status_code']), 200);

    const pg = spans.filter(isDb('postgresql'));
    const projectQuery = pg.find((s) => /FROM projects p JOIN users u/.test(statementOf(s)));
    assert.ok(projectQuery, `the project SELECT is traced:\n${trace}`);
    assert.match(statementOf(projectQuery), /WHERE p\.id = \$1/, 'the statement keeps its placeholder');
    for (const s of pg) assert.ok(isDescendant(spans, s, server[0]), `pg span "${s.name}" is under the server span:\n${trace}`);

    const redis = spans.filter(isDb('redis'));
    assert.deepEqual(redis.map((s) => s.name).sort(), ['get', 'set'], `a cache miss: get then set:\n${trace}`);
    for (const s of redis) assert.ok(isDescendant(spans, s, server[0]), `redis span "${s.name}" is under the server span`);

    const client = spans.filter((s) => s.service === 'sidetrace-demo' && s.kind === 'client' && !isDb('postgresql')(s) && !isDb('redis')(s));
    assert.equal(client.length, 1, `one outgoing HTTP call:\n${trace}`);
    assert.ok(isDescendant(spans, client[0], server[0]), 'the outgoing call is under the server span');
    assert.match(String(client[0].attributes['url.full'] ?? client[0].attributes['http.url']), new RegExp(`/render/${id}\\?size=thumb$`));

    const preview = spans.filter((s) => s.service === 'sidetrace-preview' && s.kind === 'server');
    assert.equal(preview.length, 1, `one server span in the preview service:\n${trace}`);
    assert.equal(preview[0].parentId, client[0].spanId, "the preview service continues the outgoing call's context");

    // service.version: OTEL_RESOURCE_ATTRIBUTES for the app; the default (its package.json) for the preview service.
    assert.equal(server[0].resource['service.version'], appVersion);
    assert.equal(preview[0].resource['service.version'], DEMO_VERSION);
  });

  test('the background job is its own trace: a custom root span over its queries, linked to the request', async () => {
    const traceId = crypto.randomBytes(16).toString('hex');
    const requestSpanId = crypto.randomBytes(8).toString('hex');
    const response = await fetch(`${demo.appUrl}/jobs/reindex`, {
      method: 'POST',
      headers: { traceparent: `00-${traceId}-${requestSpanId}-01` },
    });
    assert.equal(response.status, 202);
    const request = await waitForSpans(
      () => jaegerTrace(stack.jaegerUrl, traceId),
      (all) => all.some((s) => s.kind === 'server'),
      'the request span',
    );
    const server = request.find((s) => s.kind === 'server');
    assert.ok(server, `the request is traced:\n${describeSpans(request)}`);
    assert.equal(server.attributes['http.route'], '/jobs/reindex');

    // The link points at the request's server span, which is the active span in the handler.
    const linked = (spans: JaegerSpan[]) =>
      spans.find((s) => s.name === 'job reindex-projects' && s.links.some((l) => l.traceId === traceId && l.spanId === server!.spanId));
    const spans = await waitForSpans(
      () => jobSpansWithLinks(stack.jaegerUrl),
      (all) => {
        const job = linked(all);
        return !!job && all.filter((s) => s.traceId === job.traceId && isDb('postgresql')(s)).length >= 2;
      },
      'the job trace',
    );
    const job = linked(spans);
    assert.ok(job, `a job span linked to the request's trace ${traceId}:\n${describeSpans(spans)}`);
    const jobTrace = spans.filter((s) => s.traceId === job.traceId);
    assert.notEqual(job.traceId, traceId, 'the job runs outside the request');
    assert.equal(job.parentId, undefined, 'the job span is a root span');
    const statements = jobTrace.filter(isDb('postgresql')).map(statementOf);
    assert.ok(
      statements.some((q) => /^SELECT id, name FROM projects/.test(q)),
      `job SELECT traced:\n${describeSpans(jobTrace)}`,
    );
    assert.ok(
      statements.some((q) => /^UPDATE projects SET search_text/.test(q)),
      'job UPDATE traced',
    );
    for (const s of jobTrace.filter((s) => s !== job)) assert.ok(isDescendant(jobTrace, s, job), `"${s.name}" is under the job span`);
  });
});

describe('npm run demo', () => {
  test('starts everything, prints where the traces are, sends traffic Jaeger receives, and stops cleanly', async () => {
    // The stack's ports through its documented variables: free ones, so a developer's running stack is no obstacle.
    const ports: Record<string, string> = {};
    for (const spec of Object.values(PORTS)) ports[spec.env] = String(await freePort());
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'scripts', 'demo.mjs')], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, ...ports, DEMO_PORT: '0', DEMO_DURATION_MS: '12000', DATABASE_URL: '', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const jaegerUrl = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Jaeger URL printed within 60 s:\n${output}`)), 60_000);
        const check = () => {
          const m = /traces:\s+(http:\/\/\S+?)\/search\?service=sidetrace-demo/.exec(output);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        };
        child.stdout.on('data', check);
        exited.then((code) => reject(new Error(`demo exited (${code}) before printing the Jaeger URL:\n${output}`)));
      });
      assert.match(output, /demo app:\s+http:\/\/127\.0\.0\.1:\d+/);

      // While the demo runs, its Jaeger has the traffic's traces.
      const spans = await waitForSpans(
        () => jaegerServiceSpans(jaegerUrl, 'sidetrace-demo', 100),
        (all) => all.some((s) => s.attributes['http.route'] === '/projects/:id') && all.some((s) => s.service === 'sidetrace-preview'),
        'the demo traffic in Jaeger',
      );
      const routes = new Set(spans.filter((s) => s.kind === 'server' && s.service === 'sidetrace-demo').map((s) => s.attributes['http.route']));
      for (const route of ['/', '/users', '/users/:id', '/projects', '/projects/:id', '/projects/:id/previews', '/boom']) {
        assert.ok(routes.has(route), `a server span for ${route} (got ${[...routes].join(', ')})`);
      }
      assert.equal(await exited, 0, `demo exit code (output:\n${output})`);
      assert.match(output, /demo: stopped/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
