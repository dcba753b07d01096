// `sidetrace doctor` as an operator runs it: the real CLI (dist/cli/index.js) in a
// child process, against a real OTLP receiver (healthy and failing), a local
// HTTP server in the collector health endpoint's role and, for the Jaeger
// step, a local server answering Jaeger's query API from what the receiver
// decoded; then end to end against the real collector and the real Jaeger.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startOtlpReceiver, OtlpReceiver } from './helpers/otlp-receiver';
import { ROOT, run } from './helpers/app';
import { jaegerTrace, startStack } from './helpers/stack';

const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
const SECRET_HEADER = 'doctor-secret-4f7a9c';
const SECRET_PASSWORD = 'doctor-pass-8b2e1d';
const LICENSE_KEY = 'eu01xxdoctorlicense0000000000000000NRAL';

const servers: http.Server[] = [];
let rx: OtlpReceiver;
let health: { url: string; status: number };

before(async () => {
  rx = await startOtlpReceiver();
  health = { url: '', status: 200 };
  const h = await serve((_req, res) => res.writeHead(health.status, { 'content-type': 'application/json' }).end('{"status":"Server available"}'));
  health.url = h;
});
after(async () => {
  await rx.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function doctor(env: Record<string, string>, args: string[] = []) {
  return run(process.execPath, [CLI, 'doctor', ...args], { env, timeoutMs: 40_000 });
}

/** The environment of a service that sends to `rx`, with every kind of secret sidetrace must mask. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: 'doctor-svc',
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url.replace('http://', `http://ops:${SECRET_PASSWORD}@`),
    OTEL_EXPORTER_OTLP_HEADERS: `api-key=${SECRET_HEADER}`,
    NEW_RELIC_LICENSE_KEY: LICENSE_KEY,
    SIDETRACE_COLLECTOR_HEALTH_URL: health.url,
    ...extra,
  };
}

function steps(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^(ok|FAIL|skip) /.test(l));
}

function assertNoSecrets(out: string) {
  for (const s of [SECRET_HEADER, SECRET_PASSWORD, LICENSE_KEY]) assert.ok(!out.includes(s), `doctor printed a secret (${s}):\n${out}`);
}

describe('sidetrace doctor', () => {
  it('healthy setup: prints the configuration masked, each step ok, a real test span reaches the receiver, exit 0', async () => {
    const r = await doctor(env());
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 0, out);
    assert.match(r.stdout, /^ {2}service +doctor-svc@0\.1\.0$/m, 'the version of the app in the current directory');
    assert.match(r.stdout, /^ {2}exporters +otlp http\/protobuf http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/v1\/traces \(headers api-key=\*\*\*\)$/m);
    assert.match(r.stdout, /^ {2}collector health +http:\/\/127\.0\.0\.1:\d+\/$/m);
    const trace = /^ok export: span sidetrace\.doctor \(trace ([0-9a-f]{32})\) accepted by otlp /m.exec(r.stdout);
    assert.ok(trace, r.stdout);
    assert.deepEqual(
      steps(r.stdout).map((l) => l.split(':')[0]),
      ['ok config', 'ok tracing', 'ok collector health', 'ok export', 'skip jaeger'],
    );
    assert.match(r.stdout, /^sidetrace doctor: all checks passed$/m);
    const [span] = await rx.waitForSpans((s) => s.traceId === trace![1]);
    assert.equal(span.name, 'sidetrace.doctor');
    assert.equal(span.resource['service.name'], 'doctor-svc');
    const request = rx.requests.find((q) => q.headers['api-key'] === SECRET_HEADER);
    assert.ok(request, 'the configured header was sent');
    assert.equal(request!.headers.authorization, `Basic ${Buffer.from(`ops:${SECRET_PASSWORD}`).toString('base64')}`, 'the userinfo was sent as basic auth');
    assertNoSecrets(out);
  });

  for (const [mode, reason] of [
    [500, /HTTP 500 Internal Server Error/],
    [503, /kept answering 429\/502\/503\/504/],
    ['hang', /Request timed out|no answer within/],
    ['down', /socket hang up|ECONNRESET/],
  ] as const) {
    it(`OTLP endpoint ${mode === 'hang' ? 'never answering' : mode === 'down' ? 'resetting connections' : `answering ${mode}`}: FAIL export with the reason, exit 1, no secret in the error`, async () => {
      rx.setMode(mode);
      try {
        const r = await doctor(env());
        assert.equal(r.code, 1, r.stdout);
        const fail = steps(r.stdout).filter((l) => l.startsWith('FAIL'));
        assert.equal(fail.length, 1, r.stdout);
        assert.match(fail[0], /^FAIL export: otlp http\/protobuf http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/v1\/traces \(headers api-key=\*\*\*\): /);
        assert.match(fail[0], reason);
        assert.match(r.stdout, /^sidetrace doctor: 1 check\(s\) failed: export$/m);
        assertNoSecrets(r.stdout + r.stderr);
      } finally {
        rx.setMode('ok');
      }
    });
  }

  it('OTLP endpoint unreachable: FAIL export naming the refused connection', async () => {
    const r = await doctor(env({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}?token=${SECRET_PASSWORD}` }));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL export: otlp http\/protobuf http:\/\/127\.0\.0\.1:\d+\/v1\/traces\?token=\*\*\* \(headers api-key=\*\*\*\): .*ECONNREFUSED/m);
    assertNoSecrets(r.stdout + r.stderr);
  });

  it('collector health endpoint answering 503 or unreachable: FAIL collector health, exit 1, export still checked', async () => {
    health.status = 503;
    try {
      const r = await doctor(env());
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^FAIL collector health: http:\/\/127\.0\.0\.1:\d+\/ answered 503 Service Unavailable$/m);
      assert.match(r.stdout, /^ok export: /m);
      assert.match(r.stdout, /^sidetrace doctor: 1 check\(s\) failed: collector health$/m);
    } finally {
      health.status = 200;
    }
    const r = await doctor(env({ SIDETRACE_COLLECTOR_HEALTH_URL: `http://127.0.0.1:${await freePort()}/` }));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL collector health: http:\/\/127\.0\.0\.1:\d+\/ is unreachable \(ECONNREFUSED\)$/m);
  });

  it('derives the health URL from the OTLP endpoint host (port 13133) and skips it on request', async () => {
    const derived = await doctor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.invalid:4318', OTEL_EXPORTER_OTLP_TIMEOUT: '500' });
    assert.match(derived.stdout, /^ {2}collector health +http:\/\/collector\.invalid:13133\/$/m);
    assert.match(derived.stdout, /^FAIL collector health: http:\/\/collector\.invalid:13133\/ is unreachable \(ENOTFOUND\)$/m);
    const none = await doctor(env({ SIDETRACE_COLLECTOR_HEALTH_URL: 'none' }));
    assert.equal(none.code, 0, none.stdout);
    assert.match(none.stdout, /^skip collector health: SIDETRACE_COLLECTOR_HEALTH_URL=none$/m);
  });

  it('config problems and tracing off are failures, each on its own line', async () => {
    const r = await doctor({
      OTEL_BSP_MAX_QUEUE_SIZE: 'lots',
      OTEL_TRACES_SAMPLER: 'sometimes',
      SIDETRACE_COLLECTOR_HEALTH_URL: health.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      SIDETRACE_ENABLED: 'false',
    });
    assert.equal(r.code, 1);
    const fail = steps(r.stdout).filter((l) => l.startsWith('FAIL'));
    assert.deepEqual(fail, [
      'FAIL config: OTEL_TRACES_SAMPLER="sometimes" is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; using parentbased_always_on',
      'FAIL config: OTEL_BSP_MAX_QUEUE_SIZE="lots" is not a whole number from 1 to 1000000; using 2048',
      'FAIL tracing: off: SIDETRACE_ENABLED=false',
    ]);
    assert.match(r.stdout, /^sidetrace doctor: 3 check\(s\) failed: config, tracing$/m);
  });

  it('New Relic agent mode: checks what the agent needs instead of the exporters, never prints the key', async () => {
    // newrelic (a devDependency here) is installed, so with a key the mode is ready; the agent itself is not loaded.
    const ready = await doctor({
      SIDETRACE_AGENT: 'newrelic',
      NEW_RELIC_LICENSE_KEY: LICENSE_KEY,
      NEW_RELIC_APP_NAME: 'doctor-nr',
      NEW_RELIC_NO_CONFIG_FILE: 'true',
    });
    assert.equal(ready.code, 0, ready.stdout + ready.stderr);
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'newrelic', 'package.json'), 'utf8')).version;
    assert.deepEqual(steps(ready.stdout), [
      'ok config: no problems',
      `ok tracing: on: New Relic agent mode, newrelic ${version} (license key from NEW_RELIC_LICENSE_KEY)`,
      'skip collector health: New Relic agent mode: the agent sends to New Relic directly',
      'skip export: New Relic agent mode: the agent sends to New Relic directly',
      'skip jaeger: New Relic agent mode: the agent sends to New Relic directly',
    ]);
    assert.doesNotMatch(ready.stdout, /not available/);
    assertNoSecrets(ready.stdout + ready.stderr);

    const noKey = await doctor({ SIDETRACE_AGENT: 'newrelic', NEW_RELIC_APP_NAME: 'doctor-nr', NEW_RELIC_NO_CONFIG_FILE: 'true' });
    assert.equal(noKey.code, 1);
    assert.deepEqual(
      steps(noKey.stdout).filter((l) => l.startsWith('FAIL')),
      [
        'FAIL tracing: SIDETRACE_AGENT=newrelic but NEW_RELIC_LICENSE_KEY is not set and there is no newrelic.js; the New Relic agent is not loaded and the app runs untraced',
      ],
    );
  });

  it('--help explains it; an unexpected argument exits 2', async () => {
    const help = await doctor({}, ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: sidetrace doctor/);
    const bad = await doctor({}, ['--fix']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unexpected argument "--fix"/);
  });

  describe('the Jaeger step, against a server answering Jaeger query API from the receiver', () => {
    let jaegerUrl: string;
    let known = true; // false: answer as if the trace never reached Jaeger
    let token: string | undefined; // set: answer 401 unless this bearer token is sent, as a Jaeger behind an auth proxy
    before(async () => {
      // /api/traces/<id> the way Jaeger answers it: 200 with data[0].spans/processes, or 404.
      jaegerUrl = await serve((req, res) => {
        if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
          res.writeHead(401).end('unauthorized');
          return;
        }
        const id = /^\/api\/traces\/([0-9a-f]{32})$/.exec(req.url ?? '')?.[1];
        const spans = known ? rx.spans.filter((s) => s.traceId === id) : [];
        if (!spans.length) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}');
          return;
        }
        const data = [
          {
            traceID: id,
            spans: spans.map((s) => ({ traceID: s.traceId, spanID: s.spanId, operationName: s.name, processID: 'p1' })),
            processes: { p1: { serviceName: spans[0].resource['service.name'] } },
          },
        ];
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
      });
    });

    it('confirms the span arrived', async () => {
      const r = await doctor(env({ SIDETRACE_JAEGER_QUERY_URL: jaegerUrl }));
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /^ok jaeger: trace [0-9a-f]{32} found at http:\/\/127\.0\.0\.1:\d+\/? \(span sidetrace\.doctor of service doctor-svc\)$/m);
    });

    it('sends SIDETRACE_JAEGER_HEADERS to an authenticated query endpoint and prints none of their values', async () => {
      token = 'jaeger-s3cret-token';
      try {
        const denied = await doctor(env({ SIDETRACE_JAEGER_QUERY_URL: jaegerUrl }));
        assert.equal(denied.code, 1);
        assert.match(
          denied.stdout,
          /^FAIL jaeger: http:\/\/127\.0\.0\.1:\d+\/? refused the query \(HTTP 401\); set its credentials in SIDETRACE_JAEGER_HEADERS$/m,
        );
        const r = await doctor(env({ SIDETRACE_JAEGER_QUERY_URL: jaegerUrl, SIDETRACE_JAEGER_HEADERS: `Authorization=Bearer%20${token}` }));
        assert.equal(r.code, 0, r.stdout);
        assert.match(r.stdout, /^ok jaeger: trace [0-9a-f]{32} found at /m);
        assert.doesNotMatch(r.stdout + r.stderr, /jaeger-s3cret-token/);
      } finally {
        token = undefined;
      }
    });

    it('fails with the reason when the trace never shows up', async () => {
      known = false;
      try {
        const r = await doctor(env({ SIDETRACE_JAEGER_QUERY_URL: jaegerUrl }));
        assert.equal(r.code, 1);
        assert.match(r.stdout, /^FAIL jaeger: trace [0-9a-f]{32} not found at http:\/\/127\.0\.0\.1:\d+\/? within 10 s \(last answer: 404\)$/m);
      } finally {
        known = true;
      }
    });

    it('says there is nothing to look for when the export failed', async () => {
      rx.setMode(500);
      try {
        const r = await doctor(env({ SIDETRACE_JAEGER_QUERY_URL: jaegerUrl }));
        assert.equal(r.code, 1);
        assert.match(r.stdout, /^FAIL jaeger: no test span to look for \(the export failed\)$/m);
      } finally {
        rx.setMode('ok');
      }
    });
  });

  it('against the real collector and Jaeger: every step ok, the span found through the Jaeger HTTP API', async () => {
    const stack = await startStack();
    try {
      const r = await doctor({
        OTEL_SERVICE_NAME: 'doctor-stack',
        OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl,
        SIDETRACE_COLLECTOR_HEALTH_URL: stack.collectorHealthUrl,
        SIDETRACE_JAEGER_QUERY_URL: stack.jaegerUrl,
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok collector health: http:\/\/127\.0\.0\.1:\d+\/ answered 200$/m);
      const trace = /^ok jaeger: trace ([0-9a-f]{32}) found at .* \(span sidetrace\.doctor of service doctor-stack\)$/m.exec(r.stdout);
      assert.ok(trace, r.stdout);
      // Read back independently: the span is in Jaeger under that trace id.
      const spans = await jaegerTrace(stack.jaegerUrl, trace![1]);
      assert.deepEqual(
        spans.map((s) => [s.name, s.service]),
        [['sidetrace.doctor', 'doctor-stack']],
      );

      // The collector gone: its health check and the export fail, and the doctor says so.
      await stack.stopCollector();
      const down = await doctor({
        OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl,
        SIDETRACE_COLLECTOR_HEALTH_URL: stack.collectorHealthUrl,
        SIDETRACE_JAEGER_QUERY_URL: stack.jaegerUrl,
      });
      assert.equal(down.code, 1);
      assert.match(down.stdout, /^sidetrace doctor: 3 check\(s\) failed: collector health, export, jaeger$/m);
    } finally {
      await stack.stop();
    }
  });
});
