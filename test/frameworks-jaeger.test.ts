// What a fastify, hapi, restify or NestJS handler sets on the active span, and
// an error it throws, reach the real Jaeger through the real collector, on the
// one server span the request makes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { FIXTURES, PRELOAD, REGISTER, startApp, type RunningApp } from './helpers/app';
import { field, jaegerRawSpans, startStack, tag, waitFor, type Stack } from './helpers/stack';

let stack: Stack;
const apps: RunningApp[] = [];

before(async () => {
  stack = await startStack();
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await stack?.stop();
});

const rawTrace = (traceId: string) => jaegerRawSpans(stack.jaegerUrl, traceId);

const FRAMEWORKS = [
  { label: 'fastify 5 (ES module)', script: `${FIXTURES}/fastify-app.mjs`, nodeArgs: ['--import', REGISTER], env: {}, prefix: '', route: '/users/:id' },
  { label: 'hapi 21', script: `${FIXTURES}/hapi-app.js`, nodeArgs: ['--require', PRELOAD], env: {}, prefix: '', route: '/users/{id}' },
  {
    label: 'restify 12',
    script: `${FIXTURES}/restify-app.js`,
    nodeArgs: ['--require', PRELOAD],
    env: { RESTIFY_MODULE: `${FIXTURES}/restify12-app/node_modules/restify` },
    prefix: '',
    route: '/users/:id',
  },
  {
    label: 'NestJS 11 on express',
    script: `${FIXTURES}/nest-app.js`,
    nodeArgs: ['--require', PRELOAD],
    env: { NEST_ADAPTER: 'express' },
    prefix: '/api',
    route: '/api/users/:id',
  },
];

/** Sends `path` as part of a new sampled trace and returns that trace's spans in Jaeger. */
async function traced(app: RunningApp, path: string): Promise<any[]> {
  const traceId = crypto.randomBytes(16).toString('hex');
  await (await fetch(`${app.url}${path}`, { headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } })).arrayBuffer();
  return waitFor(
    () => rawTrace(traceId),
    (s) => s.length >= 1,
    { what: `trace ${traceId} in Jaeger`, timeoutMs: 30_000 },
  );
}

for (const fw of FRAMEWORKS) {
  describe(`${fw.label} in Jaeger`, () => {
    let app: RunningApp;
    before(async () => {
      app = await startApp({
        script: fw.script,
        nodeArgs: fw.nodeArgs,
        env: {
          ...fw.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl,
          OTEL_SERVICE_NAME: `fw-jaeger-${crypto.randomBytes(3).toString('hex')}`,
          OTEL_BSP_SCHEDULE_DELAY: '50',
        },
      });
      apps.push(app);
    });

    it('the attribute, the event and the status a handler set are on the one server span, named by the route', async () => {
      const spans = await traced(app, `${fw.prefix}/users/31`);
      assert.equal(spans.length, 1, `one span: ${spans.map((s) => s.operationName)}`);
      const [server] = spans;
      assert.equal(server.operationName, `GET ${fw.route}`);
      assert.equal(tag(server, 'span.kind'), 'server');
      assert.equal(tag(server, 'http.route'), fw.route);
      assert.equal(tag(server, 'order.id'), '31');
      assert.equal(tag(server, 'otel.status_code'), 'OK');
      const event = server.logs.find((l: any) => field(l, 'event') === 'order.looked-up');
      assert.equal(event && field(event, 'order.id'), '31', `event in Jaeger: ${JSON.stringify(server.logs)}`);
    });

    it('a rejected async handler is an error on the server span, with its exception', async () => {
      const spans = await traced(app, `${fw.prefix}/rejects`);
      assert.equal(spans.length, 1, `one span: ${spans.map((s) => s.operationName)}`);
      const [server] = spans;
      assert.equal(tag(server, 'otel.status_code'), 'ERROR');
      assert.equal(tag(server, 'error'), true);
      const exception = server.logs.find((l: any) => field(l, 'event') === 'exception');
      assert.equal(exception && field(exception, 'exception.type'), 'RangeError', `exception in Jaeger: ${JSON.stringify(server.logs)}`);
      assert.equal(field(exception, 'exception.message'), 'kaput async');
      assert.match(String(field(exception, 'exception.stacktrace')), /at rejectAsync /);
    });
  });
}
