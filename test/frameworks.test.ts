// Route names and errors on the server span for fastify, hapi, restify and
// NestJS (on express and on fastify), through real apps under the real
// preload and a real OTLP receiver. Under the noise policy (the default) the
// server span is the only span a request makes; with SIDETRACE_NOISE=off
// upstream's instrumentations run instead, and the server span's route must
// be the same.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpReceiver, OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, PRELOAD, REGISTER, get, startApp, RunningApp } from './helpers/app';

interface Framework {
  label: string;
  script: string;
  nodeArgs?: string[];
  env?: Record<string, string>;
  /** Mount prefix of every route (Nest's global prefix). */
  prefix: string;
  /** http.route of /users/7 and of /api/v1/orders/3/items/9. */
  userRoute: string;
  nestedRoute: string;
  /** What SIDETRACE_NOISE=off needs to name the route: upstream's default set does not load @fastify/otel. */
  upstreamEnv?: Record<string, string>;
  /** A request a hook turns away before its handler, and the route it must still carry. */
  rejected?: { url: string; route: string; status: number };
  /** Why this framework cannot run on this Node, if it cannot. */
  skip?: string;
  /** Its name in the start-up line's list of route hooks. */
  hook: string;
  /** Where upstream's http.route is known to differ, by request path: what upstream gives. */
  upstreamDiffers?: Record<string, string | undefined>;
}

const FRAMEWORKS: Framework[] = [
  {
    label: 'fastify 5 (ES module, --import)',
    hook: 'fastify',
    script: `${FIXTURES}/fastify-app.mjs`,
    nodeArgs: ['--import', REGISTER],
    prefix: '',
    userRoute: '/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
    upstreamEnv: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,fastify' },
    rejected: { url: '/admin/users/5', route: '/admin/users/:id', status: 401 },
  },
  {
    label: 'hapi 21',
    hook: 'hapi',
    script: `${FIXTURES}/hapi-app.js`,
    prefix: '',
    userRoute: '/users/{id}',
    nestedRoute: '/api/v1/orders/{orderId}/items/{itemId}',
    // @opentelemetry/instrumentation-hapi 0.69.0 takes the path a plugin declared, without the prefix it was
    // registered under; hapi matched (and request.route.path says) the prefixed path. It names the route
    // from the handler it wraps, so a request whose route prerequisite fails gets none.
    upstreamDiffers: { '/api/v1/orders/3/items/9': '/orders/{orderId}/items/{itemId}', '/hook-fails': undefined },
  },
  {
    label: 'restify 11',
    hook: 'restify',
    script: `${FIXTURES}/restify-app.js`,
    prefix: '',
    userRoute: '/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
    skip: httpParserBinding()
      ? undefined
      : `restify 11 cannot load on Node ${process.versions.node}: its dependency http-deceiver needs process.binding('http_parser')`,
  },
  {
    // restify 12 asks for Node >= 22 (package.json engines) and runs on Node 20.20 as well.
    label: 'restify 12',
    hook: 'restify',
    script: `${FIXTURES}/restify-app.js`,
    env: { RESTIFY_MODULE: `${FIXTURES}/restify12-app/node_modules/restify` },
    prefix: '',
    userRoute: '/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
  },
  {
    label: 'NestJS 11 on express',
    hook: 'nestjs-core',
    script: `${FIXTURES}/nest-app.js`,
    env: { NEST_ADAPTER: 'express' },
    prefix: '/api',
    userRoute: '/api/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
  },
  {
    label: 'NestJS 11 on fastify',
    hook: 'nestjs-core',
    script: `${FIXTURES}/nest-app.js`,
    env: { NEST_ADAPTER: 'fastify' },
    prefix: '/api',
    userRoute: '/api/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
    upstreamEnv: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,fastify,nestjs-core' },
  },
  {
    label: 'NestJS 12 on express (ES modules, --import)',
    hook: 'nestjs-core',
    script: `${FIXTURES}/nest12-app/app.mjs`,
    nodeArgs: ['--import', REGISTER],
    env: { NEST_ADAPTER: 'express' },
    prefix: '/api',
    userRoute: '/api/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
  },
  {
    label: 'NestJS 12 on fastify (ES modules, --import)',
    hook: 'nestjs-core',
    script: `${FIXTURES}/nest12-app/app.mjs`,
    nodeArgs: ['--import', REGISTER],
    env: { NEST_ADAPTER: 'fastify' },
    prefix: '/api',
    userRoute: '/api/users/:id',
    nestedRoute: '/api/v1/orders/:orderId/items/:itemId',
    upstreamEnv: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,fastify,nestjs-core' },
  },
];

/** Whether this Node still has the binding restify 11 loads (gone in Node 24). */
function httpParserBinding(): boolean {
  try {
    (process as unknown as { binding(name: string): unknown }).binding('http_parser');
    return true;
  } catch {
    return false;
  }
}

/** The request paths every fixture answers, under its prefix ('/nope' is not). */
const PATHS = ['/users/7', '/api/v1/orders/3/items/9', '/throws', '/rejects', '/client-error', '/hook-fails'];
/** The URL path of a request (and so the route of a route without parameters): the nested route carries its prefix already. */
const urlOf = (fw: Framework, path: string) => (path.startsWith('/api/v1') ? path : fw.prefix + path);

let rx: OtlpReceiver;
const apps: RunningApp[] = [];
before(async () => {
  rx = await startOtlpReceiver();
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await rx.close();
});

interface Run {
  app: RunningApp;
  service: string;
  spans: () => ReceivedSpan[];
  /** The server span of each request path, and the response body. */
  server: Map<string, ReceivedSpan>;
  body: Map<string, string>;
}

let n = 0;
async function runRequests(fw: Framework, env: Record<string, string>): Promise<Run> {
  const service = `fw-${++n}`;
  const app = await startApp({
    script: fw.script,
    nodeArgs: fw.nodeArgs ?? ['--require', PRELOAD],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service, OTEL_BSP_SCHEDULE_DELAY: '50', ...fw.env, ...env },
  });
  apps.push(app);
  const body = new Map<string, string>();
  const urls = [...PATHS.map((path) => urlOf(fw, path)), '/nope', ...(fw.rejected ? [fw.rejected.url] : [])];
  for (const url of urls) body.set(url, (await get(app.url + url)).body);
  const mine = (s: ReceivedSpan) => s.resource['service.name'] === service;
  await rx.waitForSpans((s) => mine(s) && s.kind === 2, { count: urls.length });
  // Anything else the request made (a framework span) is exported with or before its server span.
  await new Promise((r) => setTimeout(r, 300));
  const spans = () => rx.spans.filter(mine);
  const server = new Map<string, ReceivedSpan>();
  for (const s of spans()) if (s.kind === 2) server.set(String(s.attributes['url.path']), s);
  assert.deepEqual([...server.keys()].sort(), [...urls].sort(), 'one server span per request');
  return { app, service, spans, server, body };
}

/** A server span's attributes without what differs between two apps by nature (their ports). */
function comparable(span: ReceivedSpan, appUrl: string) {
  const attributes = { ...span.attributes };
  assert.equal(String(attributes['server.port']), new URL(appUrl).port);
  delete attributes['server.port'];
  delete attributes['network.peer.port'];
  // Set by the handler on the active span: upstream puts it on its own handler span.
  delete attributes['order.id'];
  return attributes;
}

function exceptionOf(span: ReceivedSpan) {
  const events = span.events.filter((e) => e.name === 'exception');
  assert.equal(events.length, 1, `one exception event on ${span.name}: ${JSON.stringify(span.events)}`);
  return events[0].attributes;
}

for (const fw of FRAMEWORKS) {
  describe(fw.label, { skip: fw.skip }, () => {
    let on: Run;
    let off: Run;
    const p = (path: string) => urlOf(fw, path);
    before(async () => {
      on = await runRequests(fw, {});
      off = await runRequests(fw, { SIDETRACE_NOISE: 'off', ...fw.upstreamEnv });
    });

    it("names the server span and http.route from the framework's matched route, prefixes and nesting included", () => {
      const user = on.server.get(p('/users/7'))!;
      assert.equal(user.attributes['http.route'], fw.userRoute);
      assert.equal(user.name, `GET ${fw.userRoute}`);
      const nested = on.server.get('/api/v1/orders/3/items/9')!;
      assert.equal(nested.attributes['http.route'], fw.nestedRoute);
      assert.equal(nested.name, `GET ${fw.nestedRoute}`);
    });

    it("says in the start-up line that sidetrace's server spans and this framework's route hook run", () => {
      assert.match(on.app.stderr(), new RegExp(`http server spans: sidetrace \\(routes: [^)]*\\b${fw.hook}\\b`));
      assert.match(off.app.stderr(), /http server spans: upstream instrumentation-http/);
    });

    it('creates no framework spans: every span is a server span, from the server instrumentation', () => {
      const others = on.spans().filter((s) => s.kind !== 2);
      assert.deepEqual(
        others.map((s) => `${s.scope.name}: ${s.name}`),
        [],
      );
      assert.deepEqual([...new Set(on.spans().map((s) => s.scope.name))], ['sidetrace-http-server']);
    });

    it('exports what the handler set on the active span (attribute, event, status) on the server span', () => {
      const user = on.server.get(p('/users/7'))!;
      assert.equal(JSON.parse(on.body.get(p('/users/7'))!).spanId, user.spanId, 'the active span in the handler is the server span');
      assert.equal(user.attributes['order.id'], '7');
      assert.deepEqual(user.events.find((e) => e.name === 'order.looked-up')?.attributes, { 'order.id': '7' });
      assert.equal(user.status.code, 1);
    });

    it("keeps concurrent requests apart: each handler annotates its own request's server span", async () => {
      const ids = Array.from({ length: 100 }, (_, i) => 1000 + i);
      const bodies = await Promise.all(ids.map((id) => get(`${on.app.url}${p(`/users/${id}`)}`)));
      const spanIdOf = new Map(ids.map((id, i) => [p(`/users/${id}`), JSON.parse(bodies[i].body).spanId as string]));
      const spans = await rx.waitForSpans((s) => s.kind === 2 && spanIdOf.has(String(s.attributes['url.path'])) && s.resource['service.name'] === on.service, {
        count: ids.length,
      });
      for (const span of spans) {
        const path = String(span.attributes['url.path']);
        assert.equal(span.spanId, spanIdOf.get(path), `the active span in the handler of ${path}`);
        assert.equal(span.attributes['order.id'], path.split('/').pop());
        assert.equal(span.attributes['http.route'], fw.userRoute);
      }
    });

    it('records a thrown error and a rejected async handler on the server span: status ERROR, exception type, message and stack', () => {
      for (const [path, type, message, frame] of [
        ['/throws', 'TypeError', 'kaput sync', 'throwSync'],
        ['/rejects', 'RangeError', 'kaput async', 'rejectAsync'],
      ]) {
        const span = on.server.get(p(path))!;
        assert.equal(span.attributes['http.response.status_code'], 500);
        assert.equal(span.attributes['http.route'], p(path));
        assert.equal(span.status.code, 2, `${path} status`);
        const exception = exceptionOf(span);
        assert.equal(exception['exception.type'], type);
        assert.equal(exception['exception.message'], message);
        assert.match(String(exception['exception.stacktrace']), new RegExp(`${type}: ${message}\\n\\s+at ${frame} `));
      }
    });

    it("records an error from the framework's error path before the handler (hook, route prerequisite, next(err), guard)", () => {
      const span = on.server.get(p('/hook-fails'))!;
      assert.equal(span.attributes['http.response.status_code'], 500);
      assert.equal(span.attributes['http.route'], p('/hook-fails'));
      assert.equal(span.status.code, 2);
      assert.equal(exceptionOf(span)['exception.message'], 'hook failed');
    });

    it('leaves a 4xx error unrecorded (status unset, no exception event), and a 404 without a route', () => {
      const client = on.server.get(p('/client-error'))!;
      assert.equal(client.attributes['http.response.status_code'], 400);
      assert.equal(client.attributes['http.route'], p('/client-error'));
      assert.equal(client.status.code, 0);
      assert.deepEqual(client.events, []);
      const missing = on.server.get('/nope')!;
      assert.equal(missing.attributes['http.response.status_code'], 404);
      assert.equal(missing.attributes['http.route'], undefined);
      assert.equal(missing.name, 'GET');
    });

    if (fw.rejected) {
      it('names the route of a request that a hook turns away before its handler', () => {
        const span = on.server.get(fw.rejected!.url)!;
        assert.equal(span.attributes['http.response.status_code'], fw.rejected!.status);
        assert.equal(span.attributes['http.route'], fw.rejected!.route);
        assert.equal(span.status.code, 0);
      });
    }

    it('gives every server span the same name and attributes, http.route included, as upstream (SIDETRACE_NOISE=off)', () => {
      assert.ok(
        off.spans().some((s) => s.kind !== 2),
        'upstream made its framework spans',
      );
      for (const [path, upstream] of off.server) {
        const ours = on.server.get(path)!;
        const [a, b] = [comparable(ours, on.app.url), comparable(upstream, off.app.url)];
        if (fw.upstreamDiffers && path in fw.upstreamDiffers) {
          assert.equal(b['http.route'], fw.upstreamDiffers[path], `upstream's http.route of ${path} (a known difference)`);
          delete a['http.route'];
          delete b['http.route'];
        } else {
          assert.equal(ours.name, upstream.name, `name of ${path}`);
        }
        assert.deepEqual(a, b, `attributes of ${path}`);
      }
    });
  });
}
