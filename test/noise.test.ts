// The noise policy, rule by rule, with the real instrumentations and the real
// libraries they are about: express 4 and 5, pg against a real PostgreSQL,
// ioredis and node-redis against a real Redis, koa. Each rule is checked both
// ways: what is dropped and what is kept.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { startOtlpReceiver, OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, get, startApp, RunningApp } from './helpers/app';
import { useServices } from './helpers/services';

const services = useServices();
let rx: OtlpReceiver;
let upstream: http.Server;
let upstreamUrl = '';
/** The traceparent each call to the upstream server carried, by path. */
const sentTraceparent = new Map<string, string | undefined>();
const apps: RunningApp[] = [];

before(async () => {
  rx = await startOtlpReceiver();
  upstream = http.createServer((req, res) => {
    sentTraceparent.set(req.url ?? '', req.headers.traceparent as string | undefined);
    res.end('upstream');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`;
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  upstream.close();
  await rx.close();
});

let n = 0;
async function noiseApp(env: Record<string, string> = {}, script = `${FIXTURES}/noise-app.js`) {
  const service = `noise-${++n}`;
  const a = await startApp({
    script,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      TARGET_URL: upstreamUrl,
      ...env,
    },
  });
  apps.push(a);
  const spans = () => rx.spans.filter((s) => s.resource['service.name'] === service);
  return { app: a, service, spans };
}

const isServer = (s: ReceivedSpan) => s.kind === 2;
const routeOf = (s: ReceivedSpan) => s.attributes['http.route'];
const pathOf = (s: ReceivedSpan) => String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? '');
const settle = () => new Promise((r) => setTimeout(r, 600));

for (const [label, expressModule] of [
  ['express 4', 'express'],
  ['express 5', `${FIXTURES}/express5-app/node_modules/express`],
]) {
  describe(`noise policy on (${label})`, () => {
    let ctx: Awaited<ReturnType<typeof noiseApp>>;
    before(async () => {
      ctx = await noiseApp({ EXPRESS_MODULE: expressModule });
      for (const p of ['/up', '/health', '/assets/app.css', '/api/users/7', '/api/fail', '/api/throws', '/outgoing']) await get(ctx.app.url + p);
      await get(`${ctx.app.url}/run-custom`);
      await get(`${ctx.app.url}/api-error-span`);
      // The background heartbeats run every 100 ms: give them time to (not) show up.
      await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && s.name === 'custom.root');
      await settle();
    });

    it('keeps the server span of a real route, with http.route, and its db and redis children', () => {
      const server = ctx.spans().find((s) => isServer(s) && routeOf(s) === '/api/users/:id');
      assert.ok(server, 'server span for /api/users/:id');
      const children = ctx.spans().filter((s) => s.traceId === server!.traceId && s !== server);
      assert.ok(
        children.some((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql'),
        'pg span kept',
      );
      assert.ok(
        children.some((s) => s.name === 'get' || s.name === 'GET'),
        `redis spans kept: ${children.map((s) => s.name)}`,
      );
    });

    it('creates no middleware, router or handler spans, and the server span names the route', () => {
      const layers = ctx
        .spans()
        .filter((s) => s.attributes['express.type'] !== undefined || s.attributes['router.type'] !== undefined || s.name.startsWith('request handler'));
      assert.deepEqual(
        layers.map((s) => s.name),
        [],
      );
      const server = ctx.spans().find((s) => isServer(s) && routeOf(s) === '/api/users/:id');
      assert.equal(server?.name, 'GET /api/users/:id');
    });

    it('creates no pool checkout or connect spans; the query spans hang off the server span', () => {
      assert.deepEqual(
        ctx
          .spans()
          .filter((s) => /connect/.test(s.name))
          .map((s) => s.name),
        [],
      );
      const server = ctx.spans().find((s) => isServer(s) && routeOf(s) === '/api/users/:id')!;
      const query = ctx.spans().find((s) => s.traceId === server.traceId && s.name.startsWith('pg.query'));
      assert.equal(query?.parentSpanId, server.spanId);
    });

    it('does not trace health checks or static files, nor the queries they make', () => {
      const ignored = ctx.spans().filter((s) => isServer(s) && ['/up', '/health', '/assets/app.css'].includes(pathOf(s)));
      assert.deepEqual(
        ignored.map((s) => s.name),
        [],
      );
      // /up ran SELECT 1; no exported db span may be orphaned from a dropped /up
      const serverTraces = new Set(
        ctx
          .spans()
          .filter(isServer)
          .map((s) => s.traceId),
      );
      const customTraces = new Set(
        ctx
          .spans()
          .filter((s) => s.name === 'custom.root')
          .map((s) => s.traceId),
      );
      const stray = ctx.spans().filter((s) => s.kind === 3 && !serverTraces.has(s.traceId) && !customTraces.has(s.traceId));
      assert.deepEqual(
        stray.map((s) => s.name),
        [],
        'client spans outside any request or custom span',
      );
    });

    it('creates no client spans without a parent (pool heartbeats, redis pings), but keeps them inside a custom root span', () => {
      const custom = ctx.spans().find((s) => s.name === 'custom.root');
      assert.ok(custom);
      const inside = ctx.spans().filter((s) => s.traceId === custom!.traceId && s.spanId !== custom!.spanId);
      assert.ok(
        inside.some((s) => String(s.attributes['db.statement'] ?? s.attributes['db.query.text']).includes('SELECT')),
        'pg query inside the custom span kept',
      );
      assert.ok(
        inside.some((s) => s.name === 'ping' || s.name === 'PING'),
        `redis ping inside the custom span kept: ${inside.map((s) => s.name)}`,
      );
      const roots = ctx.spans().filter((s) => !s.parentSpanId && s.kind === 3);
      assert.deepEqual(
        roots.map((s) => s.name),
        [],
      );
    });

    it("never traces the exporter's own calls to the collector", () => {
      const exporterCalls = ctx.spans().filter((s) => String(s.attributes['url.full'] ?? s.attributes['http.url'] ?? '').includes(`:${rx.port}/`));
      assert.deepEqual(
        exporterCalls.map((s) => s.name),
        [],
      );
    });

    it("records a handler's thrown error on the server span, with its exception event", () => {
      const server = ctx.spans().find((s) => isServer(s) && routeOf(s) === '/api/throws');
      assert.equal(server?.status.code, 2);
      const exception = server!.events.find((e) => e.name === 'exception');
      assert.equal(exception?.attributes['exception.message'], 'kaput');
      const query = ctx.spans().find((s) => s.traceId === server!.traceId && s.name.startsWith('pg.query'));
      assert.equal(query?.parentSpanId, server!.spanId);
    });

    it('keeps errors and spans the user started: a failing route, a user span with error status, outgoing calls', () => {
      const failing = ctx.spans().find((s) => isServer(s) && routeOf(s) === '/api/fail');
      assert.equal(failing?.status.code, 2);
      assert.ok(ctx.spans().some((s) => s.name === 'user.operation.failed' && s.status.code === 2));
      const out = ctx.spans().find((s) => isServer(s) && routeOf(s) === '/outgoing');
      assert.ok(ctx.spans().some((s) => s.kind === 3 && s.traceId === out?.traceId && String(s.attributes['url.full']).startsWith(upstreamUrl)));
    });
  });
}

// At 10% sampling nine requests in ten take this path: nothing of theirs is exported, but their trace id still
// reaches the next service (unsampled, so it does not sample either) and the app's log lines.
describe('an unsampled request (parentbased_traceidratio)', () => {
  const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
  let ctx: Awaited<ReturnType<typeof noiseApp>>;
  const logLine = (id: string) => {
    const line = ctx.app
      .stdout()
      .split('\n')
      .find((l) => l.includes(`"work":"${id}"`));
    assert.ok(line, `log line of request ${id}`);
    return JSON.parse(line) as Record<string, unknown>;
  };
  const sent = (id: string) => {
    const m = TRACEPARENT.exec(sentTraceparent.get(`/work/${id}`) ?? '');
    assert.ok(m, `traceparent sent by request ${id}: ${sentTraceparent.get(`/work/${id}`)}`);
    return { traceId: m[1], spanId: m[2], flags: m[3] };
  };

  before(async () => {
    // Ratio 0: no request without a sampled caller is sampled.
    ctx = await noiseApp({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    assert.equal((await get(`${ctx.app.url}/api/users/1/work`)).body, 'upstream 200');
    assert.equal((await get(`${ctx.app.url}/api/users/2/work`, { traceparent: `00-${'c1'.repeat(16)}-${'d1'.repeat(8)}-00` })).body, 'upstream 200');
    assert.equal((await get(`${ctx.app.url}/api/users/3/work`, { traceparent: `00-${'e1'.repeat(16)}-${'f1'.repeat(8)}-01` })).body, 'upstream 200');
    // The sampled request's spans arriving shows the exporter has run since the unsampled ones ended.
    await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && s.traceId === 'e1'.repeat(16) && isServer(s));
    await settle();
  });

  it('exports nothing of a root request: no server, pg, redis, user or client span', () => {
    const { traceId, flags } = sent('1');
    assert.notEqual(traceId, '0'.repeat(32));
    assert.equal(flags, '00', 'the next service is told not to sample');
    assert.deepEqual(
      ctx
        .spans()
        .filter((s) => s.traceId === traceId)
        .map((s) => s.name),
      [],
    );
  });

  it("passes on its caller's unsampled trace and exports nothing of it", () => {
    assert.deepEqual(sent('2'), { traceId: 'c1'.repeat(16), spanId: sent('2').spanId, flags: '00' });
    assert.notEqual(sent('2').spanId, 'd1'.repeat(8), 'a span id of its own');
    assert.deepEqual(
      ctx
        .spans()
        .filter((s) => s.traceId === 'c1'.repeat(16))
        .map((s) => s.name),
      [],
    );
  });

  it('keeps the trace id in the log lines, with trace_flags 00', () => {
    for (const [id, traceId] of [
      ['1', sent('1').traceId],
      ['2', 'c1'.repeat(16)],
    ]) {
      const line = logLine(id);
      assert.equal(line.trace_id, traceId);
      assert.equal(line.trace_flags, '00');
    }
    assert.equal(logLine('3').trace_flags, '01');
  });

  it('a sampled request in the same process still gets its pg, redis, user and client spans', () => {
    const traceId = 'e1'.repeat(16);
    const spans = ctx.spans().filter((s) => s.traceId === traceId);
    const server = spans.find(isServer);
    assert.equal(server?.name, 'GET /api/users/:id/work');
    assert.ok(
      spans.some((s) => s.attributes['db.system.name'] === 'postgresql' || s.attributes['db.system'] === 'postgresql'),
      'pg',
    );
    assert.deepEqual(spans.filter((s) => s.name === 'get' || s.name === 'GET').length, 2, `both redis clients: ${spans.map((s) => s.name)}`);
    assert.ok(
      spans.some((s) => s.name === 'user.work'),
      'user span',
    );
    const client = spans.find((s) => s.kind === 3 && String(s.attributes['url.full']).startsWith(upstreamUrl));
    assert.ok(client, 'outgoing call');
    assert.deepEqual(sent('3'), { traceId, spanId: client.spanId, flags: '01' });
    assert.equal(logLine('3').trace_id, traceId);
  });
});

describe('noise policy details', () => {
  it('exports a failing health check after all, alone, marked as noise', async () => {
    const ctx = await noiseApp({ HEALTH_FAILS: '1' });
    await get(`${ctx.app.url}/health`);
    const [span] = await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && isServer(s) && pathOf(s) === '/health');
    assert.equal(span.status.code, 2);
    assert.equal(span.attributes['sidetrace.noise'], 'ignored_path');
  });

  it('traces a health check whose caller sent a sampled traceparent', async () => {
    const ctx = await noiseApp();
    const traceId = 'aa'.repeat(16);
    await get(`${ctx.app.url}/up`, { traceparent: `00-${traceId}-${'bb'.repeat(8)}-01` });
    const spans = await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && s.traceId === traceId, { count: 2 });
    assert.ok(spans.some((s) => isServer(s) && pathOf(s) === '/up'));
    assert.ok(
      spans.some((s) => s.kind === 3),
      'its db query too',
    );
  });

  it('SIDETRACE_IGNORE_PATHS=+/internal/* adds to the defaults', async () => {
    const ctx = await noiseApp({ SIDETRACE_IGNORE_PATHS: '+/internal/*' });
    await get(`${ctx.app.url}/internal/stats`);
    await get(`${ctx.app.url}/up`);
    await get(`${ctx.app.url}/api/users/1`);
    await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && routeOf(s) === '/api/users/:id');
    await settle();
    assert.deepEqual(
      ctx
        .spans()
        .filter((s) => isServer(s) && ['/internal/stats', '/up'].includes(pathOf(s)))
        .map((s) => s.name),
      [],
    );
  });

  it('SIDETRACE_IGNORE_PATHS=/internal/* replaces the defaults', async () => {
    const ctx = await noiseApp({ SIDETRACE_IGNORE_PATHS: '/internal/*' });
    await get(`${ctx.app.url}/internal/stats`);
    await get(`${ctx.app.url}/up`);
    await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && isServer(s) && pathOf(s) === '/up');
    await settle();
    assert.equal(ctx.spans().filter((s) => isServer(s) && pathOf(s) === '/internal/stats').length, 0);
  });

  it('SIDETRACE_NOISE=off restores upstream behaviour: middleware spans, health checks, root client spans', async () => {
    const ctx = await noiseApp({ SIDETRACE_NOISE: 'off' });
    await get(`${ctx.app.url}/up`);
    await get(`${ctx.app.url}/api/users/3`);
    await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && isServer(s) && pathOf(s) === '/up');
    await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && s.attributes['express.type'] === 'middleware');
    await rx.waitForSpans((s) => s.resource['service.name'] === ctx.service && !s.parentSpanId && s.kind === 3);
    assert.match(ctx.app.stderr(), /noise policy off; http server spans: upstream instrumentation-http; .*instrumentations: .*dns, net/);
  });

  it('koa: middleware layers are not created under the policy, and are with SIDETRACE_NOISE=off', async () => {
    const on = await noiseApp({}, `${FIXTURES}/koa-app.js`);
    const off = await noiseApp({ SIDETRACE_NOISE: 'off' }, `${FIXTURES}/koa-app.js`);
    await get(`${on.app.url}/k`);
    await get(`${off.app.url}/k`);
    await rx.waitForSpans((s) => s.resource['service.name'] === off.service && s.attributes['koa.type'] === 'middleware');
    await rx.waitForSpans((s) => s.resource['service.name'] === on.service && isServer(s));
    await settle();
    assert.deepEqual(
      on
        .spans()
        .filter((s) => s.attributes['koa.type'] !== undefined)
        .map((s) => s.name),
      [],
    );
  });

  it('turns fs, dns and net instrumentation off by default', async () => {
    const ctx = await noiseApp({ OTEL_LOG_LEVEL: 'debug' });
    await get(`${ctx.app.url}/api/users/1`);
    // At debug, each instrumentation says when the app's first require of its module loaded it.
    const loaded = [...ctx.app.stderr().matchAll(/instrumentation (\S+) loaded: the app required its module/g)].map((m) => m[1]);
    const line = ctx.app
      .stderr()
      .split('\n')
      .find((l) => l.includes('instrumentations:'))!;
    const names = [...line.split('instrumentations: ')[1].split(' (')[0].split(', '), ...loaded];
    for (const off of ['fs', 'dns', 'net', 'router', 'connect']) assert.ok(!names.includes(off), `${off} loaded: ${names.join(', ')}`);
    for (const on of ['http', 'express', 'pg', 'ioredis', 'redis']) assert.ok(names.includes(on), `${on} missing: ${names.join(', ')}`);
  });
});
