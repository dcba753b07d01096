// Client spans of fetch: sidetrace's own (undici's diagnostics channels,
// noise policy on) against upstream instrumentation-undici (SIDETRACE_NOISE=off),
// from one real app under the real preload calling a real server, spans read
// from a real OTLP receiver. The same calls give the same span names, statuses,
// attributes and exception events; the server receives the client span's
// traceparent; a fetch with no parent span gets neither span nor header.
// Nothing at start installs a require hook any more.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { clientTarget, refusedUrl } from './helpers/client-target';
import { comparableClientSpan, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, ROOT, run, startApp } from './helpers/app';

const APP = path.join(FIXTURES, 'fetch-client-app.js');
const CASES = ['get', 'post', 'not-found', 'server-error', 'refused', 'aborted', 'redirect', 'unconsumed', 'unread-large'];
/** Client spans per run: one per case, two for the redirect (fetch follows it), none for the fetch with no parent. */
const CLIENT_SPANS = CASES.length + 1;

let rx: OtlpReceiver;
let target: http.Server;
let refused: string;
/** The traceparent each request arrived with, by path and query (undefined: none). */
let received = new Map<string, string | undefined>();

before(async () => {
  rx = await startOtlpReceiver();
  target = http.createServer(clientTarget(() => received, '/ok?from=redirect'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  refused = await refusedUrl();
});
after(async () => {
  target.closeAllConnections();
  target.close();
  await rx.close();
});

interface Run {
  seen: Record<string, { parent?: string; outcome: unknown }>;
  hooks: { resolves: number; getBuiltinModule: string };
  received: Map<string, string | undefined>;
  spans: ReceivedSpan[];
  stderr: string;
  /** The client spans of a case (found by their parent), ordered by URL. */
  clients(name: string): ReceivedSpan[];
}

let runs = 0;
async function runApp(env: Record<string, string> = {}): Promise<Run> {
  const service = `fetch-client-${++runs}`;
  received = new Map();
  const app = await startApp({
    script: APP,
    waitListening: false,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      TARGET: `http://127.0.0.1:${(target.address() as AddressInfo).port}`,
      REFUSED: refused,
      ...env,
    },
  });
  await app.exited;
  const line = app.stdout().match(/^cases (.*)$/m);
  assert.ok(line, `the app printed its cases; stdout: ${app.stdout()} stderr: ${app.stderr()}`);
  const { seen, hooks } = JSON.parse(line[1]) as Pick<Run, 'seen' | 'hooks'>;
  const mine = (s: ReceivedSpan) => s.resource['service.name'] === service;
  await rx.waitForSpans((s) => mine(s) && s.name.startsWith('case '), { count: CASES.length, timeoutMs: 20_000 });
  await rx.waitForSpans((s) => mine(s) && s.kind === 3, { count: CLIENT_SPANS, timeoutMs: 20_000 });
  await rx.waitForSpans((s) => mine(s) && s.kind === 3 && s.attributes['url.full'] !== undefined && String(s.attributes['url.full']).endsWith('/ok?orphan=1'), {
    count: env.SIDETRACE_NOISE === 'off' ? 1 : 0,
    timeoutMs: 20_000,
  });
  const spans = rx.spans.filter(mine);
  return {
    seen,
    hooks,
    received,
    spans,
    stderr: app.stderr(),
    clients: (name) =>
      spans
        .filter((s) => s.kind === 3 && s.parentSpanId === seen[name].parent)
        .sort((a, b) => String(a.attributes['url.full']).localeCompare(String(b.attributes['url.full']))),
  };
}

describe('fetch client spans', { timeout: 120_000 }, () => {
  let lean: Run;
  let upstream: Run;
  before(async () => {
    lean = await runApp();
    upstream = await runApp({ SIDETRACE_NOISE: 'off', OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'undici' });
  });

  it("come from sidetrace's diagnostics-channel instrumentation (upstream's under SIDETRACE_NOISE=off), and the start-up line says so", () => {
    // One client span per request and no other; upstream's default (SIDETRACE_NOISE=off) also makes a root span for the fetch with no parent.
    assert.equal(lean.spans.filter((s) => s.kind === 3).length, CLIENT_SPANS);
    assert.equal(upstream.spans.filter((s) => s.kind === 3).length, CLIENT_SPANS + 1);
    assert.deepEqual([...new Set(lean.spans.filter((s) => s.kind === 3).map((s) => s.scope.name))], ['sidetrace-undici']);
    assert.deepEqual([...new Set(upstream.spans.filter((s) => s.kind === 3).map((s) => s.scope.name))], ['@opentelemetry/instrumentation-undici']);
    assert.match(lean.stderr, /; fetch spans: sidetrace \(undici:\* diagnostics channels\);/);
    assert.match(upstream.stderr, /; fetch spans: upstream instrumentation-undici;/);
  });

  for (const name of CASES) {
    it(`${name}: the same span as upstream's`, () => {
      assert.deepEqual(lean.seen[name].outcome, upstream.seen[name].outcome);
      assert.deepEqual(lean.clients(name).map(comparableClientSpan), upstream.clients(name).map(comparableClientSpan));
    });
  }

  it('records what each call did (stable HTTP semantic conventions)', () => {
    const port = (target.address() as AddressInfo).port;
    const [get] = lean.clients('get');
    assert.equal(get.name, 'GET');
    assert.deepEqual(get.status, { code: 0, message: '' });
    assert.deepEqual(get.attributes, {
      'http.request.method': 'GET',
      'http.request.method_original': 'GET',
      'url.full': `http://127.0.0.1:${port}/ok?q=1`,
      'url.path': '/ok',
      'url.query': '?q=1',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': port,
      'user_agent.original': 'fetch-client-test',
      'network.peer.address': '127.0.0.1',
      'network.peer.port': port,
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
    });
    assert.equal(lean.seen.post.outcome, '200 hello');
    assert.equal(lean.clients('post')[0].name, 'POST');
    for (const [name, code] of [
      ['not-found', 404],
      ['server-error', 500],
    ] as const) {
      const [span] = lean.clients(name);
      assert.equal(span.status.code, 2, name);
      assert.equal(span.attributes['error.type'], String(code), name);
      assert.equal(span.events.length, 0, name);
    }
    const [refused] = lean.clients('refused');
    assert.equal(refused.status.code, 2);
    assert.match(refused.status.message, /ECONNREFUSED/);
    assert.equal(refused.attributes['error.type'], 'ECONNREFUSED');
    assert.deepEqual(
      refused.events.map((e) => e.name),
      ['exception'],
    );
    // An abort the app asked for is not an error.
    const [aborted] = lean.clients('aborted');
    assert.equal(lean.seen.aborted.outcome, 'AbortError');
    assert.deepEqual(aborted.status, { code: 0, message: '' });
    assert.equal(aborted.attributes['error.type'], undefined);
    assert.equal(aborted.events.length, 0);
    assert.deepEqual(
      lean.clients('redirect').map((s) => [s.attributes['url.full'], s.attributes['http.response.status_code']]),
      [
        [`http://127.0.0.1:${port}/ok?from=redirect`, 200],
        [`http://127.0.0.1:${port}/redirect`, 302],
      ],
    );
    assert.equal(lean.seen.unconsumed.outcome, 200);
    // A large body never read: the span stays open until the response is garbage-collected, then ends with undici's cancellation.
    assert.equal(lean.seen['unread-large'].outcome, '200 cancelled');
    const [unread] = lean.clients('unread-large');
    assert.equal(unread.attributes['http.response.status_code'], 200);
    assert.equal(unread.status.code, 2);
    assert.equal(unread.attributes['error.type'], 'Error');
    assert.equal(lean.clients('unconsumed')[0].attributes['http.response.status_code'], 200);
  });

  it("the server receives each client span's traceparent; a fetch with no parent sends none (upstream's default: a root span)", () => {
    for (const [label, r] of [
      ['sidetrace', lean],
      ['upstream', upstream],
    ] as const) {
      let checked = 0;
      for (const name of CASES) {
        for (const span of r.clients(name)) {
          const url = new URL(String(span.attributes['url.full']));
          if (!r.received.has(url.pathname + url.search)) continue; // refused: never arrived
          assert.equal(r.received.get(url.pathname + url.search), `00-${span.traceId}-${span.spanId}-01`, `${label} ${name} ${url}`);
          checked++;
        }
      }
      assert.equal(checked, CLIENT_SPANS - 1, `${label}: every request that reached the server`);
      assert.equal(r.seen.orphan.outcome, 200);
      assert.ok(r.received.has('/ok?orphan=1'));
    }
    // As upstream's with requireParentforSpans (the noise policy's setting until this instrumentation replaced it): neither span nor header.
    assert.equal(lean.received.get('/ok?orphan=1'), undefined);
    // Upstream's default makes a root span and sends it.
    const orphan = upstream.spans.filter((s) => s.kind === 3 && String(s.attributes['url.full']).endsWith('/ok?orphan=1'));
    assert.equal(orphan.length, 1);
    assert.equal(orphan[0].parentSpanId, '');
    assert.equal(upstream.received.get('/ok?orphan=1'), `00-${orphan[0].traceId}-${orphan[0].spanId}-01`);
  });

  it('installs no require hook at start: the app resolves its first require once, and process.getBuiltinModule is Node’s own', async () => {
    const bare = (await run(process.execPath, ['-p', 'String(process.getBuiltinModule)'])).stdout.trim();
    assert.deepEqual(lean.hooks, { resolves: 1, getBuiltinModule: bare });
    // The check sees a hook where there is one: upstream's instrumentation-undici installs require-in-the-middle's.
    assert.ok(upstream.hooks.resolves > 1, `resolved ${upstream.hooks.resolves} times under upstream's`);
    assert.notEqual(upstream.hooks.getBuiltinModule, bare);
  });

  it('sidetrace doctor says which instrumentation makes the fetch spans', async () => {
    const doctor = async (extra: Record<string, string>) => {
      const r = await run(process.execPath, [path.join(ROOT, 'dist', 'cli', 'index.js'), 'doctor'], {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'fetch-client-doctor', SIDETRACE_COLLECTOR_HEALTH_URL: 'none', ...extra },
        timeoutMs: 40_000,
      });
      return r.stdout.match(/^ {2}fetch spans +(.*)$/m)?.[1];
    };
    assert.equal(await doctor({}), 'sidetrace (undici:* diagnostics channels)');
    assert.equal(await doctor({ SIDETRACE_NOISE: 'off' }), 'upstream instrumentation-undici');
  });
});
