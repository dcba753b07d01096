// Client spans of http.request / https.request / http.get: sidetrace's own
// (noise policy on: Node's http.client.* diagnostics channels on Node >= 22.12,
// a wrap of http/https.request and get on Node 20) against upstream
// instrumentation-http (SIDETRACE_NOISE=off), from one real app under the real
// preload calling real servers, spans read from a real OTLP receiver. The same
// calls give the same span names, statuses, attributes and exception events;
// the response callback and the response's listeners run in the caller's
// context; every call carries its own traceparent, a call with no parent
// neither span nor header; tokens in query strings are redacted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { clientTarget, refusedUrl } from './helpers/client-target';
import { comparableClientSpan, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, ROOT, run, startApp } from './helpers/app';
import { selfSignedCert } from './helpers/tls';

const [major, minor] = process.versions.node.split('.').map(Number);
const CHANNELS = major > 23 || (major === 23 && minor >= 2) || (major === 22 && minor >= 12);
const APP = path.join(FIXTURES, 'http-client-app.js');
const CONCURRENT = 200;
const CASES = [
  'get',
  'post',
  'options-object',
  'query-token',
  'not-found',
  'server-error',
  'refused',
  'timeout',
  'abort-signal',
  'https',
  'https-request-url-options',
  'headers-array',
  'esm-named-import',
  'response-destroyed',
  'redirect',
];
const KEEP_ALIVE = ['keep-alive-1', 'keep-alive-2', 'keep-alive-3'];
/** The call the app makes with no parent span. */
const ORPHAN = '/ok?orphan=1';

let rx: OtlpReceiver;
let target: http.Server;
let tlsTarget: https.Server;
let refused: string;
/** The traceparent each request arrived with, by path and query. */
const received = new Map<string, string | undefined>();

const answer = clientTarget(() => received, '/ok');

const listen = async (server: http.Server | https.Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
};

before(async () => {
  rx = await startOtlpReceiver();
  const { key, cert } = selfSignedCert();
  target = http.createServer(answer);
  tlsTarget = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, answer);
  await listen(target);
  await listen(tlsTarget);
  refused = await refusedUrl();
});
after(async () => {
  target.closeAllConnections();
  tlsTarget.closeAllConnections();
  target.close();
  tlsTarget.close();
  await rx.close();
});

interface Seen {
  parent: string;
  outcome: string | number;
  activeInResponse?: string;
  activeInData?: string;
  activeInEnd?: string;
  activeInError?: string;
}
interface Run {
  seen: Record<string, Seen>;
  spans: ReceivedSpan[];
  stderr: string;
  /** The files of upstream's instrumentation-http that the app had loaded. */
  upstreamHttp: string[];
  /** Whether the call with no parent arrived, and the traceparent it carried. */
  orphan: { arrived: boolean; traceparent?: string };
  /** The client span of a case, found by its parent. */
  client(name: string): ReceivedSpan;
}

let runs = 0;
async function runApp(env: Record<string, string> = {}, expect: { cases: boolean; clients: boolean } = { cases: true, clients: true }): Promise<Run> {
  const service = `http-client-${++runs}`;
  received.delete(ORPHAN);
  const app = await startApp({
    script: APP,
    waitListening: false,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_BSP_MAX_QUEUE_SIZE: '20000',
      TARGET: `http://127.0.0.1:${(target.address() as AddressInfo).port}`,
      TLS_TARGET: `https://localhost:${(tlsTarget.address() as AddressInfo).port}`,
      REFUSED: refused,
      ...env,
    },
  });
  await app.exited;
  const orphan = { arrived: received.has(ORPHAN), traceparent: received.get(ORPHAN) };
  const line = app.stdout().match(/^cases (.*)$/m);
  assert.ok(line, `the app printed its cases; stdout: ${app.stdout()} stderr: ${app.stderr()}`);
  const { upstreamHttp, ...seen } = JSON.parse(line[1]) as { upstreamHttp: string[] } & Record<string, Seen>;
  const mine = (s: ReceivedSpan) => s.resource['service.name'] === service;
  const total = CASES.length + KEEP_ALIVE.length + CONCURRENT;
  // The case spans, and (unless none are expected) one client span per case.
  if (expect.cases) await rx.waitForSpans((s) => mine(s) && s.name.startsWith('case '), { count: total, timeoutMs: 20_000 });
  // Upstream's default (SIDETRACE_NOISE=off) also makes a root span for the call with no parent.
  const orphans = env.SIDETRACE_NOISE === 'off' ? 1 : 0;
  if (expect.clients) await rx.waitForSpans((s) => mine(s) && s.kind === 3, { count: total + orphans, timeoutMs: 20_000 });
  const spans = rx.spans.filter(mine);
  return {
    seen,
    spans,
    stderr: app.stderr(),
    upstreamHttp,
    orphan,
    client(name) {
      const found = spans.filter((s) => s.kind === 3 && s.parentSpanId === seen[name].parent);
      assert.equal(found.length, 1, `one client span for ${name}: ${JSON.stringify(found.map((s) => s.name))}`);
      return found[0];
    },
  };
}

describe('http.request client spans', { timeout: 180_000 }, () => {
  let lean: Run;
  let upstream: Run;
  before(async () => {
    lean = await runApp();
    upstream = await runApp({ SIDETRACE_NOISE: 'off' });
  });

  it(`come from sidetrace's ${CHANNELS ? 'diagnostics-channel instrumentation' : 'wrap of http/https.request and get'} on Node ${process.versions.node}, and the start-up line says so`, () => {
    // One client span per call and no other: none for the exporter's own requests to the receiver; upstream's also one for the call with no parent.
    assert.equal(lean.spans.filter((s) => s.kind === 3).length, CASES.length + KEEP_ALIVE.length + CONCURRENT);
    assert.equal(upstream.spans.filter((s) => s.kind === 3).length, CASES.length + KEEP_ALIVE.length + CONCURRENT + 1);
    const scopes = new Set(lean.spans.filter((s) => s.kind === 3).map((s) => s.scope.name));
    assert.deepEqual([...scopes], ['sidetrace-http-client']);
    assert.match(
      lean.stderr,
      CHANNELS
        ? /http client spans: sidetrace \(http\.client\.\* diagnostics channels\)/
        : /http client spans: sidetrace \(wraps http\/https\.request and get: Node [\d.]+ has no http\.client\.request\.created channel\)/,
    );
    // Upstream's instrumentation-http does not load at all with the noise policy on.
    assert.deepEqual(lean.upstreamHttp, []);
    assert.equal(upstream.upstreamHttp.length, 1);
    assert.deepEqual([...new Set(upstream.spans.filter((s) => s.kind === 3).map((s) => s.scope.name))], ['@opentelemetry/instrumentation-http']);
    assert.match(upstream.stderr, /http client spans: upstream instrumentation-http;/);
  });

  for (const name of [...CASES, ...KEEP_ALIVE]) {
    it(`${name}: the same span as upstream's`, () => {
      assert.deepEqual(lean.seen[name].outcome, upstream.seen[name].outcome);
      assert.deepEqual(comparableClientSpan(lean.client(name)), comparableClientSpan(upstream.client(name)));
    });
  }

  it('records what each call did (stable HTTP semantic conventions)', () => {
    const port = (target.address() as AddressInfo).port;
    const get = lean.client('get');
    assert.equal(get.name, 'GET');
    assert.deepEqual(get.status, { code: 0, message: '' });
    assert.equal(get.attributes['http.request.method'], 'GET');
    assert.equal(get.attributes['url.full'], `http://127.0.0.1:${port}/ok`);
    assert.equal(get.attributes['server.address'], '127.0.0.1');
    assert.equal(get.attributes['server.port'], port);
    assert.equal(get.attributes['http.response.status_code'], 200);
    assert.equal(get.attributes['user_agent.original'], 'http-client-test');
    assert.equal(lean.client('post').name, 'POST');
    assert.equal(lean.client('not-found').status.code, 2);
    assert.equal(lean.client('not-found').attributes['http.response.status_code'], 404);
    assert.equal(lean.client('server-error').status.code, 2);
    assert.equal(lean.client('https').attributes['url.full'], `https://localhost:${(tlsTarget.address() as AddressInfo).port}/ok`);
    // A redirect is not followed by node:http: one span, with the 302.
    assert.equal(lean.client('redirect').attributes['http.response.status_code'], 302);
    for (const [name, type, message] of [
      ['refused', 'Error', /ECONNREFUSED/],
      ['timeout', 'Error', /request timed out/],
      ['abort-signal', 'AbortError', /aborted/],
    ] as const) {
      const span = lean.client(name);
      assert.equal(span.status.code, 2, name);
      assert.match(span.status.message, message, name);
      assert.equal(span.attributes['error.type'], type, name);
      assert.deepEqual(
        span.events.map((e) => e.name),
        ['exception'],
        name,
      );
      assert.match(String(span.events[0].attributes['exception.message']), message, name);
    }
  });

  it("a call with no parent span gets neither span nor traceparent (upstream's default: a root span)", () => {
    assert.deepEqual(lean.orphan, { arrived: true, traceparent: undefined });
    assert.equal(lean.spans.filter((s) => String(s.attributes['url.full']).endsWith(ORPHAN)).length, 0);
    const root = upstream.spans.filter((s) => s.kind === 3 && String(s.attributes['url.full']).endsWith(ORPHAN));
    assert.equal(root.length, 1);
    assert.equal(root[0].parentSpanId, '');
    assert.equal(upstream.orphan.traceparent, `00-${root[0].traceId}-${root[0].spanId}-01`);
  });

  it("redacts tokens in the query string (upstream's list and sidetrace's secrets)", () => {
    for (const run of [lean, upstream]) {
      const url = String(run.client('query-token').attributes['url.full']);
      assert.match(url, /[?&]user=7(&|$)/);
      assert.match(url, /[?&]token=REDACTED(&|$)/);
      assert.match(url, /[?&]access_token=REDACTED(&|$)/);
      assert.doesNotMatch(
        JSON.stringify(run.spans, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
        /s3cret-token|access_token=abc/,
      );
    }
  });

  it("runs the response callback, res.on('data'/'end') and 'error' listeners in the caller's context, as upstream", () => {
    for (const [label, run] of [
      ['sidetrace', lean],
      ['upstream', upstream],
    ] as const) {
      for (const name of [...CASES, ...KEEP_ALIVE, 'concurrent-0', 'concurrent-199']) {
        const seen = run.seen[name];
        const client = run.client(name);
        for (const key of ['activeInResponse', 'activeInData', 'activeInEnd', 'activeInError'] as const) {
          if (seen[key] !== undefined) assert.equal(seen[key], seen.parent, `${label} ${name} ${key}`);
        }
        // Spans started there are the caller's children, never the client span's.
        for (const prefix of ['in-response', 'in-end']) {
          const inner = run.spans.find((s) => s.name === `${prefix} ${name}`);
          if (seen.activeInResponse === undefined) continue;
          assert.ok(inner, `${label} ${name}: ${prefix} span exported`);
          assert.equal(inner.parentSpanId, seen.parent, `${label} ${name}: ${prefix} is the caller's child`);
          assert.notEqual(inner.parentSpanId, client.spanId);
        }
      }
    }
  });

  it(`${CONCURRENT} concurrent calls on a keep-alive pool: each span is its caller's child and the server got its traceparent`, () => {
    for (const [label, run] of [
      ['sidetrace', lean],
      ['upstream', upstream],
    ] as const) {
      const traceOf = new Map(run.spans.filter((s) => s.name.startsWith('case ')).map((s) => [s.spanId, s.traceId]));
      for (let i = 0; i < CONCURRENT; i++) {
        const name = `concurrent-${i}`;
        const client = run.client(name);
        assert.equal(client.traceId, traceOf.get(run.seen[name].parent), `${label} ${name}`);
        assert.equal(client.attributes['url.full'], `http://127.0.0.1:${(target.address() as AddressInfo).port}/ok?i=${i}`);
        assert.equal(run.seen[name].activeInEnd, run.seen[name].parent, `${label} ${name}: no context from another call`);
      }
    }
    // The target server keeps the last run's headers per URL: the upstream run's. Check the sidetrace run separately below.
  });

  it('injects traceparent before the headers are sent: every call, sampled or not, carries its own span', async () => {
    received.clear();
    const run = await runApp();
    for (let i = 0; i < CONCURRENT; i++) {
      const client = run.client(`concurrent-${i}`);
      assert.equal(received.get(`/ok?i=${i}`), `00-${client.traceId}-${client.spanId}-01`, `concurrent-${i}`);
    }
    // http.get, https.request with a URL and options, and a named ES module import of request.
    for (const [name, url] of [
      ['options-object', '/ok?a=1'],
      ['https-request-url-options', '/ok?b=2'],
      ['esm-named-import', '/ok?esm=1'],
    ]) {
      const client = run.client(name);
      assert.equal(received.get(url), `00-${client.traceId}-${client.spanId}-01`, name);
    }
    // Headers given as an array are written by the ClientRequest constructor: the span is made, nothing can be added.
    assert.ok(received.has('/ok?array=1'));
    assert.equal(received.get('/ok?array=1'), undefined);
    received.clear();
    // Unsampled: the caller's trace goes on with the not-sampled flag, and no client span is exported.
    const off = await runApp({ OTEL_TRACES_SAMPLER: 'always_off' }, { cases: false, clients: false });
    assert.equal(off.spans.length, 0);
    for (let i = 0; i < CONCURRENT; i++) assert.match(received.get(`/ok?i=${i}`) ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, `concurrent-${i}`);
    const ids = new Set([...received.values()].filter(Boolean));
    assert.ok(ids.size >= CONCURRENT, 'each call its own span id');
  });

  it('traces a `request` an ES module imported from node:http before sidetrace started', async () => {
    const service = `http-client-${++runs}`;
    const app = await startApp({
      script: path.join(FIXTURES, 'http-client-esm-early.mjs'),
      nodeArgs: [],
      waitListening: false,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_SERVICE_NAME: service,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        TARGET: `http://127.0.0.1:${(target.address() as AddressInfo).port}`,
      },
    });
    await app.exited;
    const parent = app.stdout().match(/^esm-early (\w+)$/m)?.[1];
    assert.ok(parent, `stdout: ${app.stdout()} stderr: ${app.stderr()}`);
    const [client] = await rx.waitForSpans((s) => s.resource['service.name'] === service && s.kind === 3);
    assert.equal(client.parentSpanId, parent);
    assert.equal(client.scope.name, 'sidetrace-http-client');
    assert.equal(received.get('/ok?esm-early=1'), `00-${client.traceId}-${client.spanId}-01`);
  });

  it('OTEL_NODE_DISABLED_INSTRUMENTATIONS=http turns the client spans off too', async () => {
    received.clear();
    const run = await runApp({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http' }, { cases: true, clients: false });
    assert.equal(run.spans.filter((s) => s.kind === 3).length, 0);
    assert.equal(received.get('/ok?i=0'), undefined);
    assert.match(run.stderr, /http client spans: none \(http not loaded\)/);
  });

  it('sidetrace doctor says which instrumentation makes the client spans', async () => {
    const doctor = (extra: Record<string, string>) =>
      run(process.execPath, [path.join(ROOT, 'dist', 'cli', 'index.js'), 'doctor'], {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'http-client-doctor', SIDETRACE_COLLECTOR_HEALTH_URL: 'none', ...extra },
        timeoutMs: 40_000,
      });
    const row = (stdout: string) => stdout.match(/^ {2}http client spans +(.*)$/m)?.[1];
    assert.equal(
      row((await doctor({})).stdout),
      CHANNELS
        ? 'sidetrace (http.client.* diagnostics channels)'
        : `sidetrace (wraps http/https.request and get: Node ${process.versions.node} has no http.client.request.created channel)`,
    );
    assert.equal(row((await doctor({ SIDETRACE_NOISE: 'off' })).stdout), 'upstream instrumentation-http');
    assert.equal(row((await doctor({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http' })).stdout), 'none (http not loaded)');
  });
});
