// sidetrace's own HTTP server instrumentation (the default under the noise
// policy) against upstream's instrumentations (SIDETRACE_NOISE=off), with real
// express 4, express 5 and koa + @koa/router apps under the real preload and
// a real OTLP receiver: the same requests give server spans with the same
// names and attributes; user data set on the active span is exported; errors
// land on the server span; context never leaks between requests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, REGISTER, ROOT, startApp, type RunningApp } from './helpers/app';
import { selfSignedCert } from './helpers/tls';

let rx: OtlpReceiver;
const apps: RunningApp[] = [];
let tls: { key: string; cert: string };

before(async () => {
  rx = await startOtlpReceiver();
  tls = selfSignedCert();
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await rx.close();
});

let n = 0;
async function launch(script: string, env: Record<string, string> = {}, nodeArgs?: string[]) {
  const service = `lean-${++n}`;
  const app = await startApp({
    script,
    nodeArgs,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_BSP_MAX_QUEUE_SIZE: '20000',
      TLS_KEY: tls.key,
      TLS_CERT: tls.cert,
      ...env,
    },
  });
  apps.push(app);
  const spans = () => rx.spans.filter((s) => s.resource['service.name'] === service);
  const tlsUrl = async () => {
    for (let i = 0; i < 100 && !/tls on https:/.test(app.stdout()); i++) await new Promise((r) => setTimeout(r, 50));
    return app.stdout().match(/tls on (https:\/\/\S+)/)?.[1];
  };
  return { app, service, spans, tlsUrl };
}

const isServer = (s: ReceivedSpan) => s.kind === 2;
const UA = 'user_agent.original';

/** One request with a user agent that names its case, so the case's span can be found in each run. */
function request(
  base: string,
  p: string,
  opts: { method?: string; body?: string; agent?: http.Agent; abortAfterMs?: number } = {},
  ua?: string,
): Promise<number> {
  const url = new URL(p, base);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: opts.agent,
        rejectUnauthorized: false,
        headers: { ...(ua ? { 'user-agent': ua } : {}), ...(opts.body ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (e) => (opts.abortAfterMs ? resolve(0) : reject(e)));
    if (opts.abortAfterMs) setTimeout(() => req.destroy(), opts.abortAfterMs);
    req.end(opts.body);
  });
}

/** Three requests written at once on one socket; resolves when all three answers have arrived. */
function pipelined(base: string, paths: string[], uaPrefix: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(paths.map((p, i) => `GET ${p} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: ${uaPrefix}${i + 1}\r\n\r\n`).join(''));
    });
    let text = '';
    socket.on('data', (d) => {
      text += d;
      if ((text.match(/HTTP\/1\.1 200/g) ?? []).length === paths.length && text.endsWith(`work ${paths.length === 3 ? 'p3' : ''}`)) socket.end();
    });
    socket.on('end', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    setTimeout(() => socket.end(), 3000);
  });
}

interface Flavour {
  label: string;
  script: string;
  env: Record<string, string>;
  nested: string;
  nestedRoute: string;
  nextError: boolean;
  rejects: boolean;
  https: boolean;
}

const FLAVOURS: Flavour[] = [
  {
    label: 'express 4',
    script: `${FIXTURES}/lean-express-app.js`,
    env: {},
    nested: '/api/v1/items/42',
    nestedRoute: '/api/:version/items/:id',
    nextError: true,
    rejects: false,
    https: true,
  },
  {
    label: 'express 5',
    script: `${FIXTURES}/lean-express-app.js`,
    env: { EXPRESS_MODULE: `${FIXTURES}/express5-app/node_modules/express` },
    nested: '/api/v1/items/42',
    nestedRoute: '/api/:version/items/:id',
    nextError: true,
    rejects: true,
    https: true,
  },
  {
    label: 'koa',
    script: `${FIXTURES}/lean-koa-app.js`,
    env: {},
    nested: '/api/items/42',
    nestedRoute: '/api/items/:id',
    nextError: false,
    rejects: true,
    https: false,
  },
];

/** Runs the request matrix against one app; returns the case names sent. */
async function runMatrix(f: Flavour, url: string, tlsUrl: string | undefined): Promise<string[]> {
  const cases: string[] = [];
  const send = async (name: string, p: string, opts: Parameters<typeof request>[2] = {}, base = url) => {
    cases.push(name);
    await request(base, p, opts, `matrix/${name}`);
  };
  await send('get', '/users/7');
  await send('nested', f.nested);
  if (f.label.startsWith('express')) {
    await send('router-route', '/api/v2/orders/9');
    await send('sub-app', '/admin/stats/load');
  }
  await send('post', '/echo', { method: 'POST', body: '{"a":1}' });
  await send('query', '/search?q=shoes&token=secret123');
  await send('not-found', '/nope');
  await send('thrown', '/boom');
  if (f.nextError) await send('next-error', '/next-error');
  if (f.rejects) await send('rejected', '/rejects');
  await send('stream', '/stream');
  await send('aborted', '/slow', { abortAfterMs: 80 });
  const answers = await pipelined(url, ['/work/p1', '/work/p2', '/work/p3'], 'matrix/pipe-');
  assert.equal((answers.match(/HTTP\/1\.1 200/g) ?? []).length, 3, answers);
  cases.push('pipe-1', 'pipe-2', 'pipe-3');
  if (f.https) await send('https', '/users/8', {}, tlsUrl);
  // The aborted request's handler answers 400 ms later: let it finish before comparing.
  await new Promise((r) => setTimeout(r, 600));
  return cases;
}

/** A server span's attributes with what differs between two runs by nature (ports) made comparable. */
function comparable(s: ReceivedSpan, port: string) {
  const attributes = { ...s.attributes };
  delete attributes['network.peer.port'];
  // Set by the handler on the active span: upstream puts it on its handler span (the next test checks ours).
  delete attributes['order.id'];
  assert.equal(String(attributes['server.port']), port, `server.port of ${s.name}`);
  delete attributes['server.port'];
  return { name: s.name, attributes };
}

for (const f of FLAVOURS) {
  describe(`request path (${f.label})`, () => {
    let lean: Awaited<ReturnType<typeof launch>>;
    let stock: Awaited<ReturnType<typeof launch>>;
    let cases: string[];

    before(async () => {
      lean = await launch(f.script, f.env);
      stock = await launch(f.script, { ...f.env, SIDETRACE_NOISE: 'off' });
      const leanTls = f.https ? await lean.tlsUrl() : undefined;
      const stockTls = f.https ? await stock.tlsUrl() : undefined;
      cases = await runMatrix(f, lean.app.url, leanTls);
      await runMatrix(f, stock.app.url, stockTls);
      for (const run of [lean, stock]) {
        await rx.waitForSpans((s) => s.resource['service.name'] === run.service && isServer(s) && String(s.attributes[UA]).startsWith('matrix/'), {
          count: cases.length,
        });
      }
    });

    it("runs sidetrace's server instrumentation under the noise policy, upstream's with SIDETRACE_NOISE=off", () => {
      assert.match(lean.app.stderr(), /http server spans: sidetrace \(routes: express, koa(, [a-z-]+)*\); AsyncContextFrame (on|off)/);
      assert.ok(
        lean
          .spans()
          .filter(isServer)
          .every((s) => s.scope.name === 'sidetrace-http-server'),
      );
      assert.ok(
        stock
          .spans()
          .filter(isServer)
          .every((s) => s.scope.name === '@opentelemetry/instrumentation-http'),
      );
    });

    it('gives each request of the matrix the same server span name and attributes as upstream', () => {
      const leanPort = new URL(lean.app.url).port;
      const stockPort = new URL(stock.app.url).port;
      for (const name of cases) {
        const find = (run: typeof lean) => run.spans().filter((s) => isServer(s) && s.attributes[UA] === `matrix/${name}`);
        const [ours, theirs] = [find(lean), find(stock)];
        assert.equal(ours.length, 1, `one server span for ${name} (sidetrace)`);
        assert.equal(theirs.length, 1, `one server span for ${name} (upstream)`);
        const tlsPort = (run: typeof lean) => run.app.stdout().match(/tls on https:\/\/[^:]+:(\d+)/)?.[1] ?? '';
        const [p1, p2] = name === 'https' ? [tlsPort(lean), tlsPort(stock)] : [leanPort, stockPort];
        assert.deepEqual(comparable(ours[0], p1), comparable(theirs[0], p2), `case ${name}`);
      }
    });

    it('names routes from the framework, including nested routers', () => {
      const route = (ua: string) => lean.spans().find((s) => isServer(s) && s.attributes[UA] === ua)?.attributes['http.route'];
      assert.equal(route('matrix/get'), '/users/:id');
      assert.equal(route('matrix/nested'), f.nestedRoute);
      assert.equal(route('matrix/not-found'), undefined);
      if (f.label.startsWith('express')) {
        assert.equal(route('matrix/router-route'), '/api/:version/orders/:orderId');
        assert.equal(route('matrix/sub-app'), '/admin/stats/:key');
      }
      const nested = lean.spans().find((s) => isServer(s) && s.attributes[UA] === 'matrix/nested');
      assert.equal(nested?.name, `GET ${f.nestedRoute}`);
    });

    it("creates no middleware, router or handler spans: the handler's own work hangs off the server span", () => {
      const framework = lean.spans().filter((s) => !isServer(s) && s.name !== 'work.child');
      assert.deepEqual(
        framework.map((s) => `${s.scope.name}: ${s.name}`),
        [],
      );
    });

    it('exports the attribute, event and status a handler sets on the active span', () => {
      const span = lean.spans().find((s) => isServer(s) && s.attributes[UA] === 'matrix/get')!;
      assert.equal(span.attributes['order.id'], '7');
      assert.deepEqual(
        span.events.map((e) => [e.name, e.attributes['user.id']]),
        [['user.looked.up', '7']],
      );
      assert.equal(span.status.code, 1);
    });

    it('records thrown errors, next(err) and rejected async handlers on the server span', () => {
      const expected: [string, string, string][] = [['thrown', 'Error', 'boom']];
      if (f.nextError) expected.push(['next-error', 'TypeError', 'passed to next']);
      if (f.rejects) expected.push(['rejected', 'RangeError', 'rejected']);
      for (const [name, type, message] of expected) {
        const span = lean.spans().find((s) => isServer(s) && s.attributes[UA] === `matrix/${name}`)!;
        assert.equal(span.status.code, 2, name);
        assert.equal(span.status.message, message, name);
        assert.equal(span.attributes['http.response.status_code'], 500, name);
        const events = span.events.filter((e) => e.name === 'exception');
        assert.equal(events.length, 1, `${name}: one exception event`);
        assert.equal(events[0].attributes['exception.type'], type);
        assert.equal(events[0].attributes['exception.message'], message);
        assert.match(String(events[0].attributes['exception.stacktrace']), new RegExp(`${type}: ${message}\\n\\s+at `));
      }
    });

    it('keeps pipelined requests on one socket apart: each child hangs off its own request', () => {
      for (const i of [1, 2, 3]) {
        const server = lean.spans().find((s) => isServer(s) && s.attributes[UA] === `matrix/pipe-${i}`)!;
        const child = lean.spans().find((s) => s.name === 'work.child' && s.attributes['work.n'] === `p${i}`)!;
        assert.equal(child.parentSpanId, server.spanId, `pipe-${i}`);
        assert.equal(child.traceId, server.traceId);
      }
      const traces = new Set([1, 2, 3].map((i) => lean.spans().find((s) => s.attributes[UA] === `matrix/pipe-${i}`)!.traceId));
      assert.equal(traces.size, 3);
    });

    it('keeps 1,000 concurrent requests apart (keep-alive sockets, body parsing, random waits)', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
      const count = 1000;
      const statuses = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          request(lean.app.url, `/work/c${i}`, { method: 'POST', body: JSON.stringify({ n: `c${i}` }), agent }, `load/${i}`),
        ),
      );
      agent.destroy();
      assert.ok(statuses.every((s) => s === 200));
      const children = await rx.waitForSpans(
        (s) => s.resource['service.name'] === lean.service && s.name === 'work.child' && String(s.attributes['work.n']).startsWith('c'),
        { count, timeoutMs: 30_000 },
      );
      await rx.waitForSpans((s) => s.resource['service.name'] === lean.service && isServer(s) && String(s.attributes[UA]).startsWith('load/'), {
        count,
        timeoutMs: 30_000,
      });
      const servers = new Map(
        lean
          .spans()
          .filter((s) => isServer(s) && String(s.attributes[UA]).startsWith('load/'))
          .map((s) => [s.spanId, s]),
      );
      const wrong = children.filter((c) => {
        const parent = servers.get(c.parentSpanId);
        return (
          !parent ||
          parent.attributes['url.path'] !== `/work/${c.attributes['work.n']}` ||
          c.attributes['work.body.n'] !== c.attributes['work.n'] ||
          parent.traceId !== c.traceId
        );
      });
      assert.equal(children.length, count);
      assert.deepEqual(
        wrong.slice(0, 5).map((c) => c.attributes['work.n']),
        [],
        `${wrong.length} children under the wrong parent`,
      );
    });
  });
}

describe('request path details', () => {
  it('leaves upgrade and CONNECT requests to the app, and the next request on the server is traced as usual', async () => {
    const run = await launch(`${FIXTURES}/lean-express-app.js`);
    const url = new URL(run.app.url);
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect(Number(url.port), url.hostname, () => s.write(text));
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('close', () => resolve(out));
        s.on('error', reject);
      });
    assert.match(await raw(`GET /ws HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`), /^HTTP\/1\.1 101/);
    assert.match(await raw(`CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n`), /^HTTP\/1\.1 200 Connection Established/);
    assert.equal(await request(run.app.url, '/users/5', {}, 'after/upgrade'), 200);
    const [span] = await rx.waitForSpans((s) => s.resource['service.name'] === run.service && s.attributes[UA] === 'after/upgrade');
    assert.equal(span.parentSpanId, '');
    assert.equal(span.name, 'GET /users/:id');
    assert.deepEqual(
      run
        .spans()
        .filter((s) => ['/ws', undefined].includes(s.attributes['url.path'] as string | undefined) && isServer(s))
        .map((s) => s.name),
      [],
    );
  });

  it("continues the caller's trace and does nothing costly for an unsampled request", async () => {
    const run = await launch(`${FIXTURES}/lean-express-app.js`);
    const sampled = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const unsampled = `00-${'ef'.repeat(16)}-${'12'.repeat(8)}-00`;
    const send = (tp: string) =>
      new Promise<void>((resolve, reject) =>
        http.get(`${run.app.url}/work/tp`, { headers: { traceparent: tp } }, (res) => res.resume().on('end', resolve)).on('error', reject),
      );
    await send(unsampled);
    await send(sampled);
    const spans = await rx.waitForSpans((s) => s.resource['service.name'] === run.service && s.traceId === 'ab'.repeat(16), { count: 2 });
    const server = spans.find(isServer)!;
    assert.equal(server.parentSpanId, 'cd'.repeat(8));
    assert.equal(spans.find((s) => s.name === 'work.child')!.parentSpanId, server.spanId);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      run
        .spans()
        .filter((s) => s.traceId === 'ef'.repeat(16))
        .map((s) => s.name),
      [],
      'nothing of the unsampled trace is exported',
    );
  });

  it('koa: a 4xx thrown with ctx.throw is an answer, not a recorded error', async () => {
    const run = await launch(`${FIXTURES}/lean-koa-app.js`);
    assert.equal(await request(run.app.url, '/forbidden', {}, 'koa/forbidden'), 403);
    const [span] = await rx.waitForSpans((s) => s.resource['service.name'] === run.service && s.attributes[UA] === 'koa/forbidden');
    assert.equal(span.status.code, 0);
    assert.deepEqual(span.events, []);
    assert.equal(span.attributes['http.route'], '/forbidden');
  });

  it('HTTP/2 compatibility servers answer as usual and are not traced (docs: HTTP server spans)', async () => {
    const run = await launch(`${FIXTURES}/lean-http2-app.js`);
    const client = http2.connect(run.app.url);
    const body = await new Promise<string>((resolve, reject) => {
      const req = client.request({ ':path': '/h2/1' });
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (text += d));
      req.on('end', () => resolve(text));
      req.on('error', reject);
    });
    client.close();
    assert.equal(body, 'h2 /h2/1');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      run.spans().map((s) => s.name),
      [],
    );
    assert.match(run.app.stderr(), /http server spans: sidetrace/);
  });

  it('setRoute and recordRequestError are safe on an untraced request (the contract framework hooks rely on)', async () => {
    const { setRoute, recordRequestError } = require(path.join(ROOT, 'dist', 'lib', 'instrumentations', 'http-server', 'route.js'));
    const server = http.createServer((req, res) => {
      setRoute(req, '/untraced/:id');
      recordRequestError(req, new Error('nobody records this'));
      recordRequestError(req, undefined);
      res.end('fine');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      assert.equal(await request(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, '/untraced/1'), 200);
    } finally {
      server.close();
    }
  });

  it('ES modules under --import: express and koa routes, user attributes and errors', async () => {
    const run = await launch(`${FIXTURES}/lean-esm-app.mjs`, {}, ['--import', REGISTER]);
    const koaUrl = run.app.stdout().match(/koa on (http:\/\/\S+)/)![1];
    await request(run.app.url, '/esm/users/3', {}, 'esm/express');
    await request(run.app.url, '/esm/boom', {}, 'esm/express-boom');
    await request(koaUrl, '/koa/users/4', {}, 'esm/koa');
    await request(koaUrl, '/koa/boom', {}, 'esm/koa-boom');
    const spans = await rx.waitForSpans((s) => s.resource['service.name'] === run.service && String(s.attributes[UA]).startsWith('esm/'), { count: 4 });
    const by = (ua: string) => spans.find((s) => s.attributes[UA] === ua)!;
    assert.equal(by('esm/express').name, 'GET /esm/users/:id');
    assert.equal(by('esm/express').attributes['order.id'], '3');
    assert.equal(by('esm/koa').name, 'GET /koa/users/:id');
    assert.equal(by('esm/koa').attributes['order.id'], '4');
    for (const ua of ['esm/express-boom', 'esm/koa-boom']) {
      assert.equal(by(ua).status.code, 2, ua);
      assert.equal(by(ua).events.filter((e) => e.name === 'exception').length, 1, ua);
    }
  });
});
