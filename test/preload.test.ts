// The preload as a user runs it: a real express app in a child process under
// `--require sidetrace/preload`, spans as a real OTLP receiver decodes them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { startOtlpReceiver, OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILD, FIXTURES, PRELOAD, REGISTER, get, run, startApp, RunningApp } from './helpers/app';
import { waitFor } from './helpers/stack';

const APP = `${FIXTURES}/express-app.js`;
const FAST = { OTEL_BSP_SCHEDULE_DELAY: '50' };

let rx: OtlpReceiver;
const apps: RunningApp[] = [];
before(async () => {
  rx = await startOtlpReceiver();
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await rx.close();
});

async function app(env: Record<string, string | undefined>, opts: { script?: string; nodeArgs?: string[] } = {}) {
  const a = await startApp({ script: opts.script ?? APP, env: { ...FAST, ...env }, nodeArgs: opts.nodeArgs });
  apps.push(a);
  return a;
}

const serverSpan = (route: string, service: string) => (s: ReceivedSpan) =>
  s.kind === 2 && s.attributes['http.route'] === route && s.resource['service.name'] === service;

function sidetraceLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('sidetrace:'));
}

describe('preload', () => {
  it('sends a server span with http.route and the service identity over http/protobuf', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'proto-svc', OTEL_RESOURCE_ATTRIBUTES: 'service.version=1.2.3,team=web' });
    assert.equal((await get(`${a.url}/users/42`)).status, 200);
    const [span] = await rx.waitForSpans(serverSpan('/users/:id', 'proto-svc'));
    assert.equal(span.name, 'GET /users/:id');
    assert.equal(span.resource['service.version'], '1.2.3');
    assert.equal(span.resource['team'], 'web');
    assert.equal(span.resource['telemetry.distro.name'], 'sidetrace');
    assert.ok(rx.requests.some((r) => r.contentType.includes('protobuf')));
    const lines = sidetraceLines(a.stderr());
    assert.equal(lines.length, 1, `one start-up line, got: ${lines.join(' | ')}`);
    assert.match(
      lines[0],
      /tracing proto-svc@1\.2\.3 → otlp http\/protobuf .*instrumentations: http, undici \(\+\d+ when the app first requires their module\)$/,
    );
  });

  it('speaks http/json when asked', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'json-svc' });
    await get(`${a.url}/hello`);
    const [span] = await rx.waitForSpans(serverSpan('/hello', 'json-svc'));
    assert.equal(span.name, 'GET /hello');
    assert.ok(rx.requests.some((r) => r.contentType.includes('json')));
  });

  it('takes service.version from the deploy (KAMAL_VERSION) and the environment from NODE_ENV', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'deployed-svc', KAMAL_VERSION: 'abc123', NODE_ENV: 'staging' });
    await get(`${a.url}/hello`);
    const [span] = await rx.waitForSpans(serverSpan('/hello', 'deployed-svc'));
    assert.equal(span.resource['service.version'], 'abc123');
    assert.equal(span.resource['deployment.environment.name'], 'staging');
  });

  it('is off unless configured: loads no OpenTelemetry module, sends nothing, says how to turn it on', async () => {
    const before = rx.spans.length;
    const a = await app({ OTEL_SERVICE_NAME: 'off-svc' });
    const loaded = JSON.parse((await get(`${a.url}/loaded`)).body);
    assert.deepEqual(loaded, []);
    await get(`${a.url}/hello`);
    const lines = sidetraceLines(a.stderr());
    assert.equal(lines.length, 1);
    assert.match(lines[0], /tracing is off: no exporter is configured; set OTEL_EXPORTER_OTLP_ENDPOINT/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rx.spans.slice(before).filter((s) => s.resource['service.name'] === 'off-svc').length, 0);
  });

  it('tracing off: a bad value and the off line are said once, also when the app then calls start() itself', async () => {
    const index = path.join(BUILD, 'index.js');
    const r = await run(
      process.execPath,
      ['--require', PRELOAD, '-e', `require(${JSON.stringify(index)}).start(); require(${JSON.stringify(index)}).start()`],
      {
        env: { OTEL_BSP_MAX_QUEUE_SIZE: 'lots' },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(sidetraceLines(r.stderr), [
      'sidetrace: OTEL_BSP_MAX_QUEUE_SIZE="lots" is not a whole number from 1 to 1000000; using 2048',
      'sidetrace: tracing is off: no exporter is configured; set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER) or SIDETRACE_ENABLED=true to turn it on',
    ]);
  });

  it('OTEL_SDK_DISABLED=true wins over SIDETRACE_ENABLED=true and an endpoint', async () => {
    const a = await app({ OTEL_SDK_DISABLED: 'true', SIDETRACE_ENABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    assert.deepEqual(JSON.parse((await get(`${a.url}/loaded`)).body), []);
    assert.match(a.stderr(), /tracing is off: OTEL_SDK_DISABLED=true/);
  });

  it('SIDETRACE_ENABLED=false turns it off even with an endpoint', async () => {
    const a = await app({ SIDETRACE_ENABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    assert.deepEqual(JSON.parse((await get(`${a.url}/loaded`)).body), []);
  });

  const badValues: [string, string, RegExp][] = [
    ['OTEL_BSP_MAX_QUEUE_SIZE', 'lots', /OTEL_BSP_MAX_QUEUE_SIZE="lots" is not a whole number .*; using 2048/],
    ['OTEL_TRACES_SAMPLER', 'sometimes', /OTEL_TRACES_SAMPLER="sometimes" is not one of .*; using parentbased_always_on/],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'carrier-pigeon', /OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon" is not one of .*; using http\/protobuf/],
    ['OTEL_TRACES_SAMPLER_ARG', '7', /OTEL_TRACES_SAMPLER_ARG="7" is not a number from 0 to 1; using 1/],
    ['SIDETRACE_SHUTDOWN_TIMEOUT_MS', '-5', /SIDETRACE_SHUTDOWN_TIMEOUT_MS="-5" is not a whole number .*; using 2000/],
    ['OTEL_LOG_LEVEL', 'loud', /OTEL_LOG_LEVEL="loud" is not one of .*; using info/],
    ['OTEL_TRACES_EXPORTER', 'otlp,zipkin', /OTEL_TRACES_EXPORTER="otlp,zipkin" names unknown entry zipkin; using otlp/],
    ['OTEL_NODE_ENABLED_INSTRUMENTATIONS', 'http,express,teleport', /names unknown instrumentations teleport; ignoring them/],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'api-key=s3cr3t-value,garbage', /OTEL_EXPORTER_OTLP_HEADERS has 1 malformed entry .*; ignoring it/],
    ['SIDETRACE_ENABLED', 'maybe', /SIDETRACE_ENABLED="maybe" is not true or false; ignoring it/],
  ];
  for (const [name, value, line] of badValues) {
    it(`bad ${name} gets one line and the app keeps serving traced`, async () => {
      const service = `bad-${name.toLowerCase()}`;
      const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service, [name]: value });
      assert.equal((await get(`${a.url}/hello`)).status, 200);
      const problems = sidetraceLines(a.stderr()).filter((l) => line.test(l));
      assert.equal(problems.length, 1, `expected one line matching ${line}; stderr: ${a.stderr()}`);
      assert.ok(!a.stderr().includes('s3cr3t-value'), 'secret header value echoed');
      await rx.waitForSpans(serverSpan('/hello', service));
    });
  }

  it('SIDETRACE_STRICT=true makes a bad value fatal at start, with the same line', async () => {
    const a = await startApp({
      script: APP,
      env: { SIDETRACE_STRICT: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_BSP_SCHEDULE_DELAY: 'soon' },
      waitListening: false,
    });
    apps.push(a);
    const { code } = await a.exited;
    assert.equal(code, 78);
    assert.match(a.stderr(), /OTEL_BSP_SCHEDULE_DELAY="soon" is not a whole number/);
    assert.doesNotMatch(a.stdout(), /listening on/);
  });

  it('masks OTLP header values in the start-up line but sends them', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'hdr-svc', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=topsecret123' });
    await get(`${a.url}/hello`);
    await rx.waitForSpans(serverSpan('/hello', 'hdr-svc'));
    assert.match(a.stderr(), /headers api-key=\*\*\*/);
    assert.ok(!a.stderr().includes('topsecret123'));
    assert.ok(rx.requests.some((r) => r.headers['api-key'] === 'topsecret123'));
  });

  it('instruments an ESM app through --import sidetrace/register', async () => {
    const a = await app(
      { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'esm-svc' },
      { script: `${FIXTURES}/esm-app.mjs`, nodeArgs: ['--import', REGISTER] },
    );
    assert.equal((await get(`${a.url}/esm/9`)).body, 'esm 9');
    const [span] = await rx.waitForSpans(serverSpan('/esm/:id', 'esm-svc'));
    assert.equal(span.name, 'GET /esm/:id');
  });

  it('OTEL_TRACES_EXPORTER=console prints spans to stdout', async () => {
    const a = await app({ OTEL_TRACES_EXPORTER: 'console', OTEL_SERVICE_NAME: 'console-svc' });
    await get(`${a.url}/users/5`);
    const deadline = Date.now() + 5000;
    while (!a.stdout().includes("name: 'GET /users/:id'") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(a.stdout(), /name: 'GET \/users\/:id'/);
  });

  it('OTEL_TRACES_EXPORTER=none with SIDETRACE_ENABLED=true propagates context but exports nothing', async () => {
    const before = rx.spans.length;
    const seen: string[] = [];
    const upstream = http.createServer((req, res) => {
      seen.push(String(req.headers.traceparent ?? ''));
      res.end('up');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    try {
      const a = await app({
        OTEL_TRACES_EXPORTER: 'none',
        SIDETRACE_ENABLED: 'true',
        TARGET_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`,
      });
      assert.equal((await get(`${a.url}/outgoing`)).body, 'upstream 200');
      assert.match(seen[0], /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.match(a.stderr(), /no exporter \(propagation only\)/);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rx.spans.length, before);
    } finally {
      upstream.close();
    }
  });

  it('OTEL_TRACES_EXPORTER=jaeger sends thrift to the Jaeger collector endpoint', async () => {
    const bodies: Buffer[] = [];
    const jaeger = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/api/traces' && String(req.headers['content-type']).includes('thrift')) bodies.push(Buffer.concat(chunks));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => jaeger.listen(0, '127.0.0.1', r));
    try {
      const a = await app({
        OTEL_TRACES_EXPORTER: 'jaeger',
        OTEL_EXPORTER_JAEGER_ENDPOINT: `http://127.0.0.1:${(jaeger.address() as AddressInfo).port}/api/traces`,
        OTEL_SERVICE_NAME: 'jaeger-svc',
      });
      await get(`${a.url}/users/3`);
      const deadline = Date.now() + 8000;
      while (!bodies.some((b) => b.includes('GET /users/:id')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const body = bodies.find((b) => b.includes('GET /users/:id'));
      assert.ok(body, 'a thrift batch with the server span arrived');
      assert.ok(body!.includes('jaeger-svc'), 'the batch names the service');
    } finally {
      jaeger.close();
    }
  });
});

describe('export batches', () => {
  // A minute's schedule delay: only a full batch is exported while the test runs.
  async function burst(env: Record<string, string>, requests: number, batches: number) {
    const own = await startOtlpReceiver();
    let a: RunningApp | undefined;
    try {
      a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: own.url, OTEL_SERVICE_NAME: 'batch-svc', OTEL_BSP_SCHEDULE_DELAY: '60000', ...env });
      const url = `${a.url}/hello`;
      for (let i = 0; i < requests; i += 10) await Promise.all(Array.from({ length: 10 }, () => get(url)));
      await waitFor(
        async () => own.requests.map((r) => r.spanCount),
        (counts) => counts.length >= batches,
        { what: `${batches} export requests` },
      );
      return { counts: own.requests.map((r) => r.spanCount), stderr: a.stderr() };
    } finally {
      await a?.stop();
      await own.close();
    }
  }

  it('sends 128 spans a request by default (the spec says 512: see docs/performance.md)', async () => {
    const { counts, stderr } = await burst({}, 300, 2);
    assert.deepEqual(counts, [128, 128]);
    assert.deepEqual(
      sidetraceLines(stderr).filter((l) => /OTEL_BSP/.test(l)),
      [],
    );
  });

  it('OTEL_BSP_MAX_EXPORT_BATCH_SIZE still sets it; a queue smaller than the default batch takes its own size, without a line', async () => {
    assert.deepEqual((await burst({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '250' }, 300, 1)).counts, [250]);
    const { counts, stderr } = await burst({ OTEL_BSP_MAX_QUEUE_SIZE: '100' }, 250, 2);
    assert.deepEqual(counts.slice(0, 2), [100, 100]);
    assert.deepEqual(
      sidetraceLines(stderr).filter((l) => /OTEL_BSP/.test(l)),
      [],
    );
  });
});

describe('TRACEPARENT in the environment', () => {
  const parent = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;

  it("parents the process's root work to the trace it was started in (e.g. by sidetrace deploy)", async () => {
    const a = await startApp({
      script: `${FIXTURES}/short-script.js`,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'inherits', TRACEPARENT: parent },
      waitListening: false,
    });
    apps.push(a);
    await a.exited;
    const [span] = await rx.waitForSpans((s) => s.name === 'short.work' && s.resource['service.name'] === 'inherits');
    assert.equal(span.traceId, 'ab'.repeat(16));
    assert.equal(span.parentSpanId, 'cd'.repeat(8));
  });

  it('leaves incoming requests their own traces', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'inherits-server', TRACEPARENT: parent });
    await get(`${a.url}/hello`);
    const [span] = await rx.waitForSpans(serverSpan('/hello', 'inherits-server'));
    assert.notEqual(span.traceId, 'ab'.repeat(16));
    assert.equal(span.parentSpanId, '');
  });

  it('a malformed TRACEPARENT gets one line and is ignored', async () => {
    const a = await startApp({
      script: `${FIXTURES}/short-script.js`,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'bad-parent', TRACEPARENT: 'not-a-traceparent' },
      waitListening: false,
    });
    apps.push(a);
    await a.exited;
    assert.match(a.stderr(), /TRACEPARENT="not-a-traceparent" is not a W3C traceparent .*; root spans start new traces/);
    const [span] = await rx.waitForSpans((s) => s.name === 'short.work' && s.resource['service.name'] === 'bad-parent');
    assert.equal(span.parentSpanId, '');
  });
});

describe('shutdown', () => {
  it('exits on SIGTERM within the bound when the collector is unreachable', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', SIDETRACE_SHUTDOWN_TIMEOUT_MS: '500' });
    await get(`${a.url}/hello`);
    const sent = Date.now();
    a.child.kill('SIGTERM');
    const { signal, at } = await a.exited;
    assert.equal(signal, 'SIGTERM', 'exits the conventional way: by the signal');
    assert.ok(at - sent < 5000, `exited ${at - sent} ms after SIGTERM`);
  });

  it('exits on SIGTERM within the bound when the collector accepts and never answers', async () => {
    const hang = await startOtlpReceiver();
    hang.setMode('hang');
    try {
      const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: hang.url, SIDETRACE_SHUTDOWN_TIMEOUT_MS: '500', OTEL_BSP_SCHEDULE_DELAY: '5000' });
      await get(`${a.url}/hello`);
      const sent = Date.now();
      a.child.kill('SIGTERM');
      const { signal, at } = await a.exited;
      assert.equal(signal, 'SIGTERM');
      assert.ok(at - sent < 5000, `exited ${at - sent} ms after SIGTERM`);
      assert.ok(hang.requests.length >= 1, 'the flush did try to export');
      assert.match(a.stderr(), /did not finish within 500 ms/);
    } finally {
      await hang.close();
    }
  });

  it('a script that ends by itself exits within the bound with its own exit code, even when the collector hangs', async () => {
    const hang = await startOtlpReceiver();
    hang.setMode('hang');
    try {
      const a = await startApp({
        script: `${FIXTURES}/short-script.js`,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: hang.url, SIDETRACE_SHUTDOWN_TIMEOUT_MS: '500' },
        waitListening: false,
      });
      apps.push(a);
      const started = Date.now();
      const { code, at } = await a.exited;
      assert.equal(code, 3);
      assert.ok(at - started < 5000, `exited after ${at - started} ms (the exporter's own timeout is 10 s)`);
      assert.ok(hang.requests.length >= 1, 'the flush did try to export');
    } finally {
      await hang.close();
    }
  });

  it('a script that ends by itself flushes its spans before exiting', async () => {
    const a = await startApp({
      script: `${FIXTURES}/short-script.js`,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'short-script' },
      waitListening: false,
    });
    apps.push(a);
    assert.equal((await a.exited).code, 3);
    assert.ok(rx.spans.some((s) => s.name === 'short.work' && s.resource['service.name'] === 'short-script'));
  });

  it('flushes on SIGTERM and leaves the exit to an app that handles SIGTERM itself', async () => {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'own-handler', APP_SIGTERM_HANDLER: '1', OTEL_BSP_SCHEDULE_DELAY: '60000' });
    await get(`${a.url}/users/1`);
    a.child.kill('SIGTERM');
    const { code } = await a.exited;
    assert.equal(code, 7, "the app's own handler decided the exit code");
    assert.match(a.stdout(), /app got SIGTERM/);
    await rx.waitForSpans(serverSpan('/users/:id', 'own-handler'), { timeoutMs: 2000 });
  });
});

describe('compile cache (Node ≥ 22.1)', () => {
  const nodeModule = require('node:module') as { enableCompileCache?: unknown };
  it('a second start reads sidetrace and the SDK compiled from the cache (SIDETRACE_COMPILE_CACHE), none rejected', {
    skip: typeof nodeModule.enableCompileCache === 'function' ? false : `no module.enableCompileCache on ${process.version}`,
  }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-test-cache-'));
    try {
      // Node's own debug lines for the compile cache say, per file, whether it was written or read back.
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'cached', SIDETRACE_COMPILE_CACHE: dir, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' };
      const startOnce = () => run(process.execPath, ['--require', PRELOAD, `${FIXTURES}/short-script.js`], { env });
      const first = await startOnce();
      assert.equal(first.code, 3, first.stderr);
      const ours = (text: string, verb: RegExp) =>
        new Set([...text.matchAll(new RegExp(`${verb.source} (?:CommonJS )?(\\S+)`, 'g'))].map((m) => m[1]).filter((f) => f.startsWith(BUILD + path.sep)));
      const written = ours(first.stderr, /writing cache for/);
      const main = path.join(BUILD, BUILD.endsWith(`${path.sep}lib`) ? path.join('start', 'index.js') : 'sidetrace.js');
      assert.ok(written.has(main), `the first start wrote ${main} to the cache: ${[...written].join(', ')}`);
      const second = await startOnce();
      assert.equal(second.code, 3, second.stderr);
      const accepted = new Set([...second.stderr.matchAll(/cache for (?:CommonJS )?(\S+) was accepted/g)].map((m) => m[1]));
      const about = (file: string) =>
        second.stderr
          .split('\n')
          .filter((l) => l.includes(file))
          .join('\n');
      for (const file of written) assert.ok(accepted.has(file), `${file} was read back from the cache:\n${about(file)}`);
      const rejected = second.stderr.split('\n').filter((l) => /rejected/.test(l));
      assert.deepEqual(rejected, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('compile cache of a process stopped by a signal (Node ≥ 22.10)', () => {
  const nodeModule = require('node:module') as { flushCompileCache?: unknown };
  it('a server killed (SIGKILL) after start-up has written sidetrace to the cache, and the next start reads it back', {
    skip: typeof nodeModule.flushCompileCache === 'function' ? false : `no module.flushCompileCache on ${process.version}`,
  }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-test-cache-'));
    try {
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'killed', SIDETRACE_COMPILE_CACHE: dir, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' };
      const main = path.join(BUILD, BUILD.endsWith(`${path.sep}lib`) ? path.join('start', 'index.js') : 'sidetrace.js');
      const first = await app(env);
      // Node's own debug line for the file, printed when the cache is written out.
      await waitFor(
        async () => first.stderr(),
        (text) => text.includes(`writing cache for ${main}`) || text.includes(`writing cache for CommonJS ${main}`),
        // The flush runs a second after start-up; the tail of Node's debug output says how far it got.
        { what: `the cache of ${main} written while the server runs`, timeoutMs: 20_000, describe: (text) => text.slice(-3_000) },
      );
      await first.stop();
      assert.equal((await first.exited).signal, 'SIGKILL');
      const second = await app(env);
      await second.stop();
      const aboutMain = second
        .stderr()
        .split('\n')
        .filter((l) => l.includes(main));
      assert.ok(
        aboutMain.some((l) => l.includes('was accepted')),
        `the next start read ${main} back from the cache:\n${aboutMain.join('\n')}`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('V8 code cache (Node without module.enableCompileCache: Node 20)', () => {
  const nodeModule = require('node:module') as { enableCompileCache?: unknown };
  const skip =
    typeof nodeModule.enableCompileCache === 'function'
      ? `Node's compile cache serves ${process.version}`
      : BUILD.endsWith(`${path.sep}lib`)
        ? 'the unbundled build has no bundle to cache'
        : false;
  const cacheFiles = (dir: string) => {
    try {
      return fs.readdirSync(dir).filter((n) => n.endsWith('.bin'));
    } catch {
      return [];
    }
  };
  async function until(what: string, check: () => boolean) {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(check(), what);
  }
  /** The app traces, and has been up long enough for start-up's cache writes to have happened. */
  async function tracedApp(env: Record<string, string>, service: string, waitForWrite: () => boolean) {
    const a = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: service, ...env });
    assert.equal((await get(`${a.url}/hello`)).status, 200);
    await rx.waitForSpans(serverSpan('/hello', service));
    await until('the app wrote its code cache', waitForWrite);
    return a;
  }

  it('the first start writes sidetrace.js and vendor.js to the cache; the next reads them back (accepted, not rewritten); a corrupt one is replaced', {
    skip,
  }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-test-code-cache-'));
    const cache = path.join(dir, 'v8-code-cache');
    try {
      const env = { SIDETRACE_COMPILE_CACHE: dir };
      const first = await tracedApp(env, 'code-cache-1', () => cacheFiles(cache).length === 2);
      await first.stop();
      const files = cacheFiles(cache).sort();
      assert.deepEqual(
        files.map((f) => f.split('-')[0]),
        ['sidetrace.js', 'vendor.js'],
      );
      // One file is made unreadable to V8, the other is marked with an old time: the rejected one is rewritten, the accepted one left as it is.
      const [sidetraceCache, vendorCache] = files.map((f) => path.join(cache, f));
      fs.writeFileSync(sidetraceCache, Buffer.alloc(64, 7));
      const old = new Date('2020-01-01T00:00:00Z');
      fs.utimesSync(vendorCache, old, old);
      const second = await tracedApp(env, 'code-cache-2', () => fs.statSync(sidetraceCache).size > 64);
      await second.stop();
      assert.deepEqual(cacheFiles(cache).sort(), files, 'the same two caches, no others');
      assert.equal(fs.statSync(vendorCache).mtimeMs, old.getTime(), 'the accepted cache was read, not written again');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIDETRACE_COMPILE_CACHE=off writes no cache', { skip }, async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-test-tmpdir-'));
    try {
      // The default directory is under TMPDIR; a second app with the default shows what the first would have written.
      const off = await app({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: 'code-cache-off', SIDETRACE_COMPILE_CACHE: 'off', TMPDIR: tmp });
      assert.equal((await get(`${off.url}/hello`)).status, 200);
      await tracedApp(
        { TMPDIR: path.join(tmp, 'default') },
        'code-cache-default',
        () => cacheFiles(path.join(tmp, 'default', 'sidetrace-compile-cache', 'v8-code-cache')).length === 2,
      );
      assert.deepEqual(fs.readdirSync(tmp), ['default'], 'the app with the cache off wrote nothing in its TMPDIR');
      await off.stop();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('an error thrown inside sidetrace points at its TypeScript source under --enable-source-maps, at dist/sidetrace.js without', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-test-code-cache-'));
    try {
      const traced = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, SIDETRACE_COMPILE_CACHE: dir };
      if (!skip) {
        // A start that lives past start-up fills the code cache, so that the start below without source maps compiles from it.
        const filled = await run(process.execPath, ['--require', PRELOAD, '-e', 'setTimeout(() => {}, 1500)'], { env: traced });
        assert.equal(filled.code, 0, filled.stderr);
        assert.equal(cacheFiles(path.join(dir, 'v8-code-cache')).length, 2);
      }
      // A call of the library API that throws inside sidetrace (the preload has loaded the bundle, the API shares it); Node prints the stack.
      const throwing = `require(${JSON.stringify(path.join(BUILD, 'index.js'))}).migrationWorker(42)`;
      const mapped = await run(process.execPath, ['--enable-source-maps', '--require', PRELOAD, '-e', throwing], { env: traced });
      assert.notEqual(mapped.code, 0);
      assert.match(mapped.stderr, /the first argument must be the batch function/);
      assert.match(mapped.stderr, /\n\s+at (?:Object\.)?migrationWorker \(\S*src[\\/]migration[\\/]bullmq\.ts:\d+:\d+\)/, mapped.stderr);
      const plain = await run(process.execPath, ['--require', PRELOAD, '-e', throwing], { env: traced });
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /the first argument must be the batch function/);
      const file = BUILD.endsWith(`${path.sep}lib`) ? path.join(BUILD, 'migration', 'bullmq.js') : path.join(BUILD, 'sidetrace.js');
      assert.ok(plain.stderr.includes(`migrationWorker (${file}:`), plain.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
