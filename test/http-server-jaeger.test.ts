// What a handler sets on the active span reaches the real Jaeger through the
// real collector (its noise filter and redaction included): express 4,
// express 5 and koa apps under the preload, sidetrace's own server spans.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { FIXTURES, startApp, type RunningApp } from './helpers/app';
import { jaegerRawSpans, startStack, tag, waitFor, type Stack } from './helpers/stack';

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

for (const [label, script, env] of [
  ['express 4', `${FIXTURES}/lean-express-app.js`, {}],
  ['express 5', `${FIXTURES}/lean-express-app.js`, { EXPRESS_MODULE: `${FIXTURES}/express5-app/node_modules/express` }],
  ['koa', `${FIXTURES}/lean-koa-app.js`, {}],
] as const) {
  describe(`user data on the active span reaches Jaeger (${label})`, () => {
    it('the attribute, the event and the status a handler set are on the server span in Jaeger', async () => {
      const app = await startApp({
        script,
        env: {
          ...env,
          OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl,
          OTEL_SERVICE_NAME: `lean-jaeger-${crypto.randomBytes(3).toString('hex')}`,
          OTEL_BSP_SCHEDULE_DELAY: '50',
        },
      });
      apps.push(app);
      const traceId = crypto.randomBytes(16).toString('hex');
      const res = await fetch(`${app.url}/users/31`, { headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } });
      assert.equal(res.status, 200);
      const spans = await waitFor(
        () => rawTrace(traceId),
        (s) => s.length >= 1,
        { what: `trace ${traceId} in Jaeger`, timeoutMs: 30_000 },
      );
      assert.equal(spans.length, 1, `one span: ${spans.map((s) => s.operationName)}`);
      const [server] = spans;
      assert.equal(server.operationName, 'GET /users/:id');
      assert.equal(tag(server, 'span.kind'), 'server');
      assert.equal(tag(server, 'order.id'), '31');
      assert.equal(tag(server, 'http.route'), '/users/:id');
      assert.equal(tag(server, 'otel.status_code'), 'OK');
      const event = server.logs.find((l: any) => l.fields.some((f: any) => f.key === 'event' && f.value === 'user.looked.up'));
      assert.ok(event, `event in Jaeger: ${JSON.stringify(server.logs)}`);
      assert.equal(event.fields.find((f: any) => f.key === 'user.id')?.value, '31');
    });
  });
}
