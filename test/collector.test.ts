// The collector sidecar through the real programs: otelcol-sidetrace (built
// with ocb from collector/builder-config.yaml) and Jaeger v2, started by
// scripts/stack-lib.mjs with the shipped config files, and a local OTLP/HTTP
// receiver standing in for New Relic that checks what New Relic requires.
// Spans are produced by the real OpenTelemetry JS SDK.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { JaegerExporter } from '@opentelemetry/exporter-jaeger';
import YAML from 'yaml';
import { COLLECTOR_CONFIG_FILES, COLLECTOR_DIR, COLLECTOR_ENTRYPOINT, ensureBinaries, JAEGER_CONFIG_FILE, type Binaries } from '../scripts/stack-lib.mjs';
import { DEFAULT_IGNORE_PATHS } from '../src/config';
import { DEFAULT_REDACTED_QUERY_PARAMS } from '../src/policy/secrets';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { jaegerServices, jaegerServiceSpans, jaegerTrace, scrape, startStack, sum, waitFor, type Stack } from './helpers/stack';
import { PRELOAD } from './helpers/app';
import { collectorCase } from './helpers/once';

const LICENSE_KEY = `test${crypto.randomBytes(16).toString('hex')}NRAL`;
const NR_OFF_LINE = 'sidetrace collector: New Relic export is off';
const ROOT = path.resolve(__dirname, '..');

/** A real SDK pipeline to the collector: BatchSpanProcessor → OTLP/HTTP protobuf (or any exporter). */
async function sendSpans(exporter: SpanExporter, resource: Attributes, build: (tracer: Tracer) => void): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 2048, maxQueueSize: 4096, scheduledDelayMillis: 60_000 })],
  });
  build(provider.getTracer('sidetrace-collector-test', '1.0.0'));
  // One export request for everything built above; resolves once the receiver answered.
  await provider.forceFlush();
  await provider.shutdown();
}

function otlp(stack: Stack): SpanExporter {
  return new OTLPTraceExporter({ url: `${stack.otlpHttpUrl}/v1/traces` });
}

function resourceOf(service: string, version = '3.1.4'): Attributes {
  return { 'service.name': service, 'service.version': version, 'deployment.environment.name': 'test' };
}

function child(tracer: Tracer, parent: Span, name: string, kind: SpanKind, attributes: Attributes = {}): Span {
  return tracer.startSpan(name, { kind, attributes }, trace.setSpan(context.active(), parent));
}

/** An OTLP/JSON export request of `spans` server spans (one trace) with a `bytes`-long attribute each. */
function otlpJsonBody(spans: number, bytes: number): string {
  const traceId = crypto.randomBytes(16).toString('hex');
  const start = BigInt(Date.now()) * 1_000_000n;
  const filler = 'a'.repeat(bytes);
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', 'collector-test-burst')] },
        scopeSpans: [
          {
            scope: { name: 'burst' },
            spans: Array.from({ length: spans }, (_, i) => ({
              traceId,
              spanId: crypto.randomBytes(8).toString('hex'),
              name: `GET /items/:id`,
              kind: 2,
              startTimeUnixNano: String(start),
              endTimeUnixNano: String(start + BigInt(1_000_000 + i)),
              attributes: [str('http.route', '/items/:id'), str('payload', filler)],
            })),
          },
        ],
      },
    ],
  });
}

const idsOf = (spans: { spanId: string }[]) => new Set(spans.map((s) => s.spanId));
const uniqueService = (what: string) => `collector-test-${what}-${crypto.randomBytes(3).toString('hex')}`;

describe('collector sidecar (real otelcol-sidetrace and Jaeger v2)', () => {
  let bins: Binaries;
  let stack: Stack;
  let newRelic: OtlpReceiver;

  before(async () => {
    // Builds the binaries if the cache lacks them; a failed build fails the file (never skips).
    bins = await ensureBinaries({ log: (line) => console.log(line) });
    newRelic = await startOtlpReceiver({ newRelic: { apiKey: LICENSE_KEY } });
    stack = await startStack({
      collectorEnv: {
        NEW_RELIC_LICENSE_KEY: LICENSE_KEY,
        NEW_RELIC_OTLP_ENDPOINT: newRelic.url,
        SIDETRACE_SPANMETRICS_FLUSH_INTERVAL: '1s',
      },
    });
  });

  after(async () => {
    await stack?.stop();
    await newRelic?.close();
  });

  /** Waits for a span set at the New Relic stand-in; the message lists what did arrive. */
  const atNewRelic = (ids: Set<string>, timeoutMs = 20_000) => newRelic.waitForSpans((s) => ids.has(s.spanId), { count: ids.size, timeoutMs });

  const inJaeger = (traceId: string, count: number, timeoutMs = 20_000) =>
    waitFor(
      () => jaegerTrace(stack.jaegerUrl, traceId),
      (spans) => spans.length >= count,
      {
        timeoutMs,
        what: `${count} span(s) of trace ${traceId} in Jaeger`,
        describe: (spans) => spans.map((s) => s.name).join(', '),
      },
    );

  test('validate passes on every shipped config set (with and without the New Relic overlay)', () => {
    const cfg = (f: string) => ['--config', path.join(COLLECTOR_DIR, f)];
    const sets = [
      ['otel-collector.yaml'],
      ['otel-collector.yaml', 'newrelic.yaml'],
      ['otel-collector.yaml', 'debug.yaml'],
      ['otel-collector.yaml', 'newrelic.yaml', 'debug.yaml'],
    ];
    for (const set of sets) {
      const r = spawnSync(bins.otelcolBin, ['validate', ...set.flatMap(cfg)], {
        env: { PATH: process.env.PATH, NEW_RELIC_LICENSE_KEY: LICENSE_KEY },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `validate ${set.join(' + ')}: ${r.stderr}`);
    }
    // A broken config fails validation: validate really parses the OTTL.
    const broken = spawnSync(
      bins.otelcolBin,
      ['validate', '--config', 'yaml:processors::filter/noise::trace_conditions: ["NoSuchFunction(span.name)"]', ...cfg('otel-collector.yaml')],
      {
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
      },
    );
    assert.notEqual(broken.status, 0, 'an unknown OTTL function must fail validation');

    // The entrypoint (compose and the local stack) picks the set: the overlay only with a key.
    const viaEntrypoint = (key: string | undefined) =>
      spawnSync('sh', [path.join(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT), 'validate'], {
        env: { PATH: process.env.PATH, OTELCOL_BIN: bins.otelcolBin, ...(key ? { NEW_RELIC_LICENSE_KEY: key } : {}) },
        encoding: 'utf8',
      });
    const off = viaEntrypoint(undefined);
    assert.equal(off.status, 0, off.stderr);
    assert.equal(off.stderr.split('\n').filter((l) => l.startsWith(NR_OFF_LINE)).length, 1, `one "New Relic export is off" line: ${off.stderr}`);
    const on = viaEntrypoint(LICENSE_KEY);
    assert.equal(on.status, 0, on.stderr);
    assert.ok(!on.stderr.includes(NR_OFF_LINE), on.stderr);
    assert.ok(!`${on.stdout}${on.stderr}`.includes(LICENSE_KEY), 'the license key is never printed');

    // The build has exactly the components the shipped configs use.
    const built = YAML.parse(spawnSync(bins.otelcolBin, ['components'], { encoding: 'utf8' }).stdout);
    const kinds = ['receivers', 'processors', 'exporters', 'connectors', 'extensions'] as const;
    for (const kind of kinds) {
      const used = new Set<string>();
      for (const f of COLLECTOR_CONFIG_FILES)
        for (const id of Object.keys(YAML.parse(fs.readFileSync(path.join(COLLECTOR_DIR, f), 'utf8'))[kind] ?? {})) used.add(id.split('/')[0]);
      assert.deepEqual(new Set(built[kind].map((c: { name: string }) => c.name)), used, `built ${kind} = ${kind} the configs use`);
    }

    const jaeger = spawnSync(bins.jaegerBin, ['validate', '--config', path.join(COLLECTOR_DIR, JAEGER_CONFIG_FILE)], { encoding: 'utf8' });
    assert.equal(jaeger.status, 0, `jaeger validate: ${jaeger.stderr}`);
  });

  test('spans reach Jaeger and the New Relic stand-in: same spans, parentage, service.version, attributes truncated to 4095 for New Relic only', async () => {
    const service = uniqueService('e2e');
    const long = 'x'.repeat(10_000);
    let traceId = '';
    const sent: string[] = [];
    await sendSpans(otlp(stack), { ...resourceOf(service, '3.1.4'), 'process.command_line': `node ${long}` }, (tracer) => {
      const server = tracer.startSpan('GET /users/:id', {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': 'GET', 'http.route': '/users/:id', 'url.path': '/users/42', 'http.response.status_code': 200 },
      });
      traceId = server.spanContext().traceId;
      const db = child(tracer, server, 'SELECT app.users', SpanKind.CLIENT, {
        'db.system.name': 'postgresql',
        'db.query.text': 'SELECT * FROM users WHERE id = $1',
      });
      const render = child(tracer, server, 'render profile', SpanKind.INTERNAL, { 'profile.blob': long });
      render.addEvent('cache dump', { dump: long });
      const out = child(tracer, render, 'GET', SpanKind.CLIENT, { 'url.full': 'http://preview.internal/render?id=42' });
      for (const s of [out, render, db, server]) {
        sent.push(s.spanContext().spanId);
        s.end();
      }
    });

    const spans = await inJaeger(traceId, 4);
    const byName = new Map(spans.map((s) => [s.name, s]));
    assert.deepEqual(idsOf(spans), new Set(sent), 'Jaeger has exactly the spans sent');
    const server = byName.get('GET /users/:id')!;
    assert.equal(server.kind, 'server');
    assert.equal(server.parentId, undefined);
    assert.equal(byName.get('SELECT app.users')!.parentId, server.spanId);
    assert.equal(byName.get('render profile')!.parentId, server.spanId);
    assert.equal(byName.get('GET')!.parentId, byName.get('render profile')!.spanId);
    assert.ok((await jaegerServices(stack.jaegerUrl)).includes(service), 'Jaeger lists the service');
    for (const s of spans) {
      assert.equal(s.service, service);
      assert.equal(s.resource['service.version'], '3.1.4');
    }
    assert.equal(String(byName.get('render profile')!.attributes['profile.blob']).length, 10_000, 'Jaeger has no 4095 limit: the value is whole there');

    const nr = await atNewRelic(new Set(sent));
    assert.deepEqual(idsOf(nr.filter((s) => s.traceId === traceId)), new Set(sent), 'New Relic got the same spans');
    const nrRender = nr.find((s) => s.name === 'render profile')!;
    const truncated = String(nrRender.attributes['profile.blob']);
    assert.equal(truncated.length, 4095, 'truncated to 4095 characters for New Relic');
    assert.ok(long.startsWith(truncated), "truncation keeps the value's start");
    assert.equal(String(nrRender.events.find((e) => e.name === 'cache dump')?.attributes.dump).length, 4095, 'span event attributes too');
    assert.equal(String(nrRender.resource['process.command_line']).length, 4095, 'resource attributes too');
    assert.equal(nr.find((s) => s.name === 'SELECT app.users')!.parentSpanId, server.spanId);
    assert.equal(nr[0].resource['service.version'], '3.1.4');
    const requests = newRelic.requests.filter((r) => r.spanCount > 0);
    assert.ok(requests.length > 0);
    for (const r of requests) {
      assert.equal(r.headers['api-key'], LICENSE_KEY);
      assert.ok(r.gzip, 'gzip-compressed');
      assert.ok(r.wireBytes < 1_000_000, `request of ${r.wireBytes} bytes is under 1 MB`);
    }
    assert.deepEqual(newRelic.violations, []);
    assert.ok(!stack.collectorLog().includes(LICENSE_KEY), 'the license key never reaches the collector log');
  });

  test('noise filter: health checks, probes, static files and middleware spans are dropped; errors and real routes kept', async () => {
    const service = uniqueService('noise');
    const kept: string[] = [];
    const dropped: { id: string; why: string }[] = [];
    let traceId = '';
    await sendSpans(otlp(stack), resourceOf(service), (tracer) => {
      const root = tracer.startSpan('GET /users/:id', {
        kind: SpanKind.SERVER,
        attributes: { 'http.route': '/users/:id', 'url.path': '/users/42', 'http.response.status_code': 200 },
      });
      traceId = root.spanContext().traceId;
      const end = (s: Span, keep: boolean, why: string) => {
        const id = s.spanContext().spanId;
        if (keep) kept.push(id);
        else dropped.push({ id, why });
        s.end();
      };
      const server = (name: string, attributes: Attributes, status?: SpanStatusCode) => {
        const s = child(tracer, root, name, SpanKind.SERVER, attributes);
        if (status !== undefined) s.setStatus({ code: status });
        return s;
      };
      // Every default ignore path of the SDK (src/config/defaults.ts), as url.path: the collector's copy drops the same.
      for (const pattern of DEFAULT_IGNORE_PATHS) {
        const p = pattern.startsWith('*.')
          ? `/img/x/file${pattern.slice(1).toUpperCase()}`
          : pattern.endsWith('*')
            ? `${pattern.slice(0, -1)}app/main.bundle`
            : pattern;
        end(server(`GET ${p}`, { 'url.path': p, 'http.response.status_code': 200 }), false, `url.path ${p}`);
      }
      end(server('GET /healthz/', { 'http.route': '/healthz/' }), false, 'http.route /healthz/');
      end(server('GET /ready?probe=1', { 'http.target': '/ready?probe=1', 'http.status_code': 200 }), false, 'older http.target with a query');
      end(server('GET /static/app.js?v=3', { 'http.target': '/static/app.js?v=3' }), false, 'http.target under /static/');
      // Kept: errors, 5xx, real routes, look-alikes.
      end(server('GET /healthz failing', { 'url.path': '/healthz' }, SpanStatusCode.ERROR), true, '');
      end(server('GET /up 503', { 'url.path': '/up', 'http.response.status_code': 503 }), true, '');
      end(server('GET /healthcheck-report', { 'url.path': '/healthcheck-report', 'http.route': '/healthcheck-report' }), true, '');
      end(server('GET /docs/main.css.html', { 'url.path': '/docs/main.css.html' }), true, '');
      end(server('GET /search', { 'url.path': '/search', 'url.query': 'q=app.js' }), true, '');
      end(child(tracer, root, 'GET /health from a client', SpanKind.CLIENT, { 'url.path': '/health', 'url.full': 'http://other/health' }), true, '');
      // Framework layers.
      end(child(tracer, root, 'middleware - query', SpanKind.INTERNAL, { 'express.type': 'middleware', 'express.name': 'query' }), false, 'express middleware');
      end(child(tracer, root, 'router - /api', SpanKind.INTERNAL, { 'express.type': 'router', 'express.name': '/api' }), false, 'express router');
      end(child(tracer, root, 'middleware - bodyParser', SpanKind.INTERNAL, { 'koa.type': 'middleware' }), false, 'koa middleware');
      end(child(tracer, root, 'middleware - anonymous', SpanKind.INTERNAL, { 'connect.type': 'middleware' }), false, 'connect middleware');
      end(child(tracer, root, 'middleware - patched', SpanKind.INTERNAL, { 'router.type': 'middleware' }), false, 'router middleware');
      end(child(tracer, root, 'request handler - /users/:id', SpanKind.INTERNAL, { 'express.type': 'request_handler', 'http.route': '/users/:id' }), true, '');
      const failing = child(tracer, root, 'middleware - auth', SpanKind.INTERNAL, { 'express.type': 'middleware' });
      failing.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
      end(failing, true, '');
      end(root, true, '');
    });
    // A later request through the same FIFO pipelines: once it has arrived, the noise batch was fully processed.
    let sentinel = { traceId: '', spanId: '' };
    await sendSpans(otlp(stack), resourceOf(service), (tracer) => {
      const s = tracer.startSpan('sentinel', { kind: SpanKind.INTERNAL });
      sentinel = s.spanContext();
      s.end();
    });
    await inJaeger(sentinel.traceId, 1);
    await atNewRelic(new Set([sentinel.spanId]));

    const jaeger = await inJaeger(traceId, kept.length);
    const nr = newRelic.spans.filter((s) => s.traceId === traceId);
    const describeDropped = (ids: Set<string>) => dropped.filter((d) => ids.has(d.id)).map((d) => d.why);
    for (const [backend, spans] of [
      ['Jaeger', jaeger],
      ['New Relic', nr],
    ] as const) {
      const got = idsOf(spans);
      assert.deepEqual(describeDropped(got), [], `${backend} got spans the noise filter should drop`);
      assert.deepEqual(
        kept.filter((id) => !got.has(id)),
        [],
        `${backend} lost spans that carry information: ${spans.map((s) => s.name).join(', ')}`,
      );
    }
  });

  test('redaction: secret query parameters become REDACTED, userinfo too, secret header attributes are removed', async () => {
    const service = uniqueService('redact');
    let traceId = '';
    const secret = (p: string) => `s3cr3t-${p.toLowerCase()}`;
    const query = DEFAULT_REDACTED_QUERY_PARAMS.map((p) => `${p}=${secret(p)}`).join('&');
    await sendSpans(otlp(stack), resourceOf(service), (tracer) => {
      const server = tracer.startSpan('GET /callback', {
        kind: SpanKind.SERVER,
        attributes: {
          'url.path': '/callback',
          'url.query': `state=xyz&${query}`,
          'http.target': `/callback?${query}&page=2#frag`,
          'http.request.header.authorization': ['Bearer abc.def.ghi'],
          'http.request.header.cookie': ['sid=42'],
          'http.request.header.proxy-authorization': ['Basic Zm9vOmJhcg=='],
          'http.request.header.x-api-key': ['k-123'],
          'http.request.header.x_auth_token': ['tok-9'],
          'http.response.header.set-cookie': ['sid=43; HttpOnly'],
          'http.request.header.accept': ['text/html'],
        },
      });
      traceId = server.spanContext().traceId;
      const out = child(tracer, server, 'GET', SpanKind.CLIENT, {
        'url.full': `https://alice:pa55word@api.example.test/v1/items?${query}&Page=3`,
        'http.url': 'https://bob:hunter2@old.example.test/x?TOKEN=AbC&ok=1',
        'messaging.url': 'amqp://svc:pw@mq.internal:5672/vhost',
        note: 'contact ops, header was Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl',
      });
      out.end();
      server.end();
    });
    const spans = await inJaeger(traceId, 2);
    await atNewRelic(idsOf(spans));
    const nr = newRelic.spans.filter((s) => s.traceId === traceId);
    const expectedQuery = DEFAULT_REDACTED_QUERY_PARAMS.map((p) => `${p}=REDACTED`).join('&');
    for (const [backend, list] of [
      ['Jaeger', spans.map((s) => ({ name: s.name, attributes: s.attributes }))],
      ['New Relic', nr.map((s: ReceivedSpan) => ({ name: s.name, attributes: s.attributes }))],
    ] as const) {
      const server = list.find((s) => s.name === 'GET /callback')!.attributes;
      const out = list.find((s) => s.name === 'GET')!.attributes;
      assert.equal(server['url.query'], `state=xyz&${expectedQuery}`, backend);
      assert.equal(server['http.target'], `/callback?${expectedQuery}&page=2#frag`, backend);
      assert.equal(out['url.full'], `https://REDACTED:REDACTED@api.example.test/v1/items?${expectedQuery}&Page=3`, backend);
      assert.equal(out['http.url'], 'https://REDACTED:REDACTED@old.example.test/x?TOKEN=REDACTED&ok=1', backend);
      assert.equal(out['messaging.url'], 'amqp://REDACTED:REDACTED@mq.internal:5672/vhost', backend);
      assert.equal(out.note, 'contact ops, header was ****', `${backend}: bearer tokens/JWTs in any value are masked`);
      const headers = Object.keys(server).filter((k) => k.startsWith('http.request.header.') || k.startsWith('http.response.header.'));
      assert.deepEqual(headers, ['http.request.header.accept'], `${backend}: only harmless headers remain`);
      const all = JSON.stringify(list);
      for (const p of DEFAULT_REDACTED_QUERY_PARAMS) assert.ok(!all.includes(secret(p)), `${backend}: ${p}'s value left the collector`);
      for (const leak of ['pa55word', 'hunter2', 'Bearer abc', 'sid=42', 'k-123', 'tok-9', 'Zm9vOmJhcg'])
        assert.ok(!all.includes(leak), `${backend}: ${leak} leaked`);
    }
  });

  test('span metrics: RED metrics per route and version on the Prometheus endpoint', async () => {
    const service = uniqueService('metrics');
    await sendSpans(otlp(stack), resourceOf(service, '7.0.1'), (tracer) => {
      for (const status of [200, 200, 500]) {
        const s = tracer.startSpan('GET /projects/:id', {
          kind: SpanKind.SERVER,
          attributes: { 'http.request.method': 'GET', 'http.route': '/projects/:id', 'http.response.status_code': status },
        });
        if (status >= 500) s.setStatus({ code: SpanStatusCode.ERROR });
        s.end();
      }
      const health = tracer.startSpan('GET /up', { kind: SpanKind.SERVER, attributes: { 'url.path': '/up', 'http.route': '/up' } });
      health.end();
    });
    const samples = await waitFor(
      () => scrape(stack.spanMetricsUrl),
      (all) => sum(all, 'traces_span_metrics_calls_total', { service_name: service }) >= 3,
      { what: `span metrics for ${service}`, timeoutMs: 30_000, describe: (all) => [...new Set(all.map((s) => s.name))].join(', ') },
    );
    const calls = samples.filter((s) => s.name === 'traces_span_metrics_calls_total' && s.labels.service_name === service);
    const ok = calls.find((s) => s.labels.http_response_status_code === '200');
    assert.ok(ok, JSON.stringify(calls));
    assert.equal(ok.value, 2);
    assert.deepEqual(
      {
        route: ok.labels.http_route,
        method: ok.labels.http_request_method,
        version: ok.labels.service_version,
        env: ok.labels.deployment_environment_name,
        kind: ok.labels.span_kind,
        status: ok.labels.status_code,
        name: ok.labels.span_name,
      },
      {
        route: '/projects/:id',
        method: 'GET',
        version: '7.0.1',
        env: 'test',
        kind: 'SPAN_KIND_SERVER',
        status: 'STATUS_CODE_UNSET',
        name: 'GET /projects/:id',
      },
    );
    assert.equal(sum(samples, 'traces_span_metrics_calls_total', { service_name: service, status_code: 'STATUS_CODE_ERROR' }), 1);
    assert.equal(sum(samples, 'traces_span_metrics_calls_total', { service_name: service, http_route: '/up' }), 0, 'noise is not counted');
    assert.equal(sum(samples, 'traces_span_metrics_duration_milliseconds_count', { service_name: service }), 3);
    assert.ok(
      samples.some((s) => s.name === 'traces_span_metrics_duration_milliseconds_bucket' && s.labels.service_name === service && s.labels.le === '+Inf'),
    );
  });

  test('OTEL_TRACES_EXPORTER=jaeger: the Jaeger exporter (thrift over HTTP, no collector) reaches the real Jaeger', async () => {
    const service = uniqueService('thrift');
    let traceId = '';
    await sendSpans(new JaegerExporter({ endpoint: stack.jaegerThriftUrl }), resourceOf(service, '9.9.9'), (tracer) => {
      const server = tracer.startSpan('GET /orders/:id', { kind: SpanKind.SERVER, attributes: { 'http.route': '/orders/:id' } });
      traceId = server.spanContext().traceId;
      child(tracer, server, 'SELECT orders', SpanKind.CLIENT, { 'db.system.name': 'postgresql' }).end();
      server.end();
    });
    const spans = await inJaeger(traceId, 2);
    const server = spans.find((s) => s.name === 'GET /orders/:id');
    assert.ok(server, spans.map((s) => s.name).join(', '));
    assert.equal(server.kind, 'server');
    assert.equal(server.attributes['http.route'], '/orders/:id');
    assert.equal(spans.find((s) => s.name === 'SELECT orders')?.parentId, server.spanId);
    assert.equal(server.service, service);
    // The Jaeger exporter carries resource attributes as span tags, not process tags.
    assert.equal(server.attributes['service.version'] ?? server.resource['service.version'], '9.9.9');
  });

  test("OTEL_TRACES_EXPORTER=jaeger through the preload: an app's spans reach the real Jaeger", async () => {
    const service = uniqueService('preload-thrift');
    const script = [
      "const api = require('@opentelemetry/api');",
      "const span = api.trace.getTracer('app').startSpan('checkout', { attributes: { 'order.id': 42 } });",
      "api.context.with(api.trace.setSpan(api.context.active(), span), () => api.trace.getTracer('app').startSpan('charge card').end());",
      'span.end();',
    ].join('\n');
    const child = spawn(process.execPath, ['--require', PRELOAD, '-e', script], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        OTEL_SERVICE_NAME: service,
        OTEL_TRACES_EXPORTER: 'jaeger',
        OTEL_EXPORTER_JAEGER_ENDPOINT: stack.jaegerThriftUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output);
    const spans = await waitFor(
      () => jaegerServiceSpans(stack.jaegerUrl, service),
      (all) => all.length >= 2,
      {
        what: `the preload's spans for ${service} in Jaeger`,
        describe: (all) => `${all.map((s) => s.name).join(', ')}; app output: ${output}`,
      },
    );
    const checkout = spans.find((s) => s.name === 'checkout');
    assert.ok(checkout);
    assert.equal(spans.find((s) => s.name === 'charge card')?.parentId, checkout.spanId);
    assert.equal(checkout.attributes['order.id'], 42);
  });

  test(
    'New Relic down for 30 s (connections reset, then 503): Jaeger keeps getting spans promptly, New Relic gets every span afterwards',
    collectorCase,
    async (t) => {
      const OUTAGE_MS = 30_000;
      const service = uniqueService('outage');
      const sent = new Set<string>();
      const lags: number[] = [];
      newRelic.setMode('down');
      const outageStart = Date.now();
      while (Date.now() - outageStart < OUTAGE_MS - 5_000) {
        const roundStart = Date.now();
        if (roundStart - outageStart >= OUTAGE_MS / 2) newRelic.setMode(503);
        let traceId = '';
        await sendSpans(otlp(stack), resourceOf(service), (tracer) => {
          const root = tracer.startSpan(`GET /round/${lags.length}`, { kind: SpanKind.SERVER, attributes: { 'http.route': '/round/:n' } });
          traceId = root.spanContext().traceId;
          for (let i = 0; i < 4; i++) {
            const c = child(tracer, root, `step ${i}`, SpanKind.INTERNAL);
            sent.add(c.spanContext().spanId);
            c.end();
          }
          sent.add(root.spanContext().spanId);
          root.end();
        });
        const acceptedAt = Date.now();
        // New Relic stays down until every round is in Jaeger: a stalled Jaeger pipeline would time out here.
        await inJaeger(traceId, 5, 15_000);
        lags.push(Date.now() - acceptedAt);
        await new Promise((r) => setTimeout(r, Math.max(0, 4_000 - (Date.now() - roundStart))));
      }
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - outageStart))));
      assert.equal(newRelic.spans.filter((s) => sent.has(s.spanId)).length, 0, 'nothing reached New Relic while it was down');
      const refusedRequests = newRelic.requests.filter((r) => r.status === 503).length;
      newRelic.setMode('ok');
      const backAt = Date.now();
      const delivered = await atNewRelic(sent, 120_000);
      const catchUpMs = Date.now() - backAt;
      assert.deepEqual(newRelic.violations, []);
      const copies = newRelic.spans.filter((s) => sent.has(s.spanId)).length;
      t.diagnostic(
        `outage ${OUTAGE_MS / 1000} s, ${lags.length} rounds, ${sent.size} spans; Jaeger lag per round (ms): ${lags.join(', ')}; ` +
          `503s answered: ${refusedRequests}; New Relic caught up ${catchUpMs} ms after it came back; ${delivered.length} spans, ${copies - sent.size} duplicates`,
      );
    },
  );

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(
      `collector ${signal === 'SIGTERM' ? 'restarted' : 'killed (SIGKILL) and restarted'} while New Relic is down: the persistent queue delivers the spans afterwards`,
      collectorCase,
      async (t) => {
        const service = uniqueService(`restart-${signal}`);
        const queued = () => scrape(stack.collectorMetricsUrl).then((m) => sum(m, 'otelcol_exporter_queue_size', { exporter: 'otlp_http/newrelic' }));
        const sendTrace = async (label: string) => {
          const ids = new Set<string>();
          let traceId = '';
          await sendSpans(otlp(stack), resourceOf(service), (tracer) => {
            const root = tracer.startSpan(`job ${label}`, { kind: SpanKind.INTERNAL });
            traceId = root.spanContext().traceId;
            for (let i = 0; i < 4; i++) {
              const c = child(tracer, root, `${label} step ${i}`, SpanKind.INTERNAL);
              ids.add(c.spanContext().spanId);
              c.end();
            }
            ids.add(root.spanContext().spanId);
            root.end();
          });
          await inJaeger(traceId, 5);
          return ids;
        };
        newRelic.setMode('down');
        const before = await sendTrace('before-restart');
        // Once the spans are in the New Relic queue (on disk), stop the collector.
        const bytesQueued = await waitFor(queued, (n) => n > 0, { what: 'the New Relic queue to hold the spans' });
        await stack.restartCollector({ signal });
        const bytesAfterRestart = await queued();
        assert.ok(bytesAfterRestart >= bytesQueued, `the queue was restored from disk (${bytesAfterRestart} of ${bytesQueued} bytes)`);
        const afterRestart = await sendTrace('after-restart');
        newRelic.setMode('ok');
        const backAt = Date.now();
        await atNewRelic(new Set([...before, ...afterRestart]), 90_000);
        assert.deepEqual(newRelic.violations, []);
        await waitFor(queued, (n) => n === 0, { what: 'the New Relic queue to drain' });
        t.diagnostic(
          `${signal}: queued ${bytesQueued} bytes before, ${bytesAfterRestart} after the restart; all delivered ${Date.now() - backAt} ms after New Relic came back`,
        );
      },
    );
  }

  test("past the persistent queue's size, New Relic refuses new spans (counted) while Jaeger still gets them", collectorCase, async (t) => {
    const service = uniqueService('overflow');
    const metric = async (name: string) => sum(await scrape(stack.collectorMetricsUrl), name, { exporter: 'otlp_http/newrelic' });
    // A queue of 4 KiB: a couple of small traces fill it.
    await stack.restartCollector({ env: { SIDETRACE_NEW_RELIC_QUEUE_BYTES: '4096' } });
    try {
      newRelic.setMode('down');
      const traces: string[] = [];
      for (let round = 0; round < 8; round++) {
        await sendSpans(otlp(stack), resourceOf(service), (tracer) => {
          const root = tracer.startSpan(`batch ${round}`, { attributes: { 'batch.payload': 'p'.repeat(100) } });
          traces.push(root.spanContext().traceId);
          for (let i = 0; i < 4; i++) child(tracer, root, `item ${i}`, SpanKind.INTERNAL, { 'item.payload': 'q'.repeat(100) }).end();
          root.end();
        });
        await inJaeger(traces[round], 5);
      }
      const failed = await waitFor(
        () => metric('otelcol_exporter_enqueue_failed_spans'),
        (n) => n > 0,
        { what: 'enqueue failures to be counted' },
      );
      const queuedBytes = await metric('otelcol_exporter_queue_size');
      assert.ok(queuedBytes <= 4096, `the queue stays within its size (${queuedBytes} bytes)`);
      newRelic.setMode('ok');
      // What the queue held is still delivered; what it refused is gone, and counted.
      await waitFor(
        () => metric('otelcol_exporter_queue_size'),
        (n) => n === 0,
        { what: 'the queue to drain', timeoutMs: 60_000 },
      );
      const delivered = newRelic.spans.filter((s) => traces.includes(s.traceId)).length;
      assert.ok(delivered > 0, 'what the queue held was delivered');
      assert.equal(delivered + failed, traces.length * 5, `every span is either delivered (${delivered}) or counted as refused (${failed})`);
      t.diagnostic(
        `queue of 4096 bytes, New Relic down, 8 traces of 5 spans: ${delivered} delivered after recovery, ${failed} refused and counted in otelcol_exporter_enqueue_failed_spans; Jaeger got all 40`,
      );
    } finally {
      newRelic.setMode('ok');
      await stack.restartCollector({ env: { SIDETRACE_NEW_RELIC_QUEUE_BYTES: '268435456' } });
    }
  });

  test('a 10× burst is absorbed by memory_limiter: the collector refuses what it cannot hold, stays up and keeps exporting', collectorCase, async (t) => {
    // A sidecar with a small memory budget and no New Relic pipeline, so the burst only meets the limiter.
    const small = await startStack({
      collectorEnv: { SIDETRACE_COLLECTOR_MEMORY_LIMIT_MIB: '64', SIDETRACE_COLLECTOR_MEMORY_SPIKE_MIB: '16' },
      // A small in-memory Jaeger (the default store is Badger on disk).
      jaegerStorage: 'memory',
      jaegerEnv: { SIDETRACE_JAEGER_MAX_TRACES: '500' },
    });
    try {
      const SPANS_PER_REQUEST = 500;
      const bodies = Array.from({ length: 20 }, () => otlpJsonBody(SPANS_PER_REQUEST, 1_000));
      const statuses = new Map<string, number>();
      const post = async (body: string) => {
        const status = await fetch(`${small.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
          .then(async (r) => (await r.arrayBuffer(), String(r.status)))
          .catch(() => 'connection error');
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      };
      /** `perSecond` requests of 500 spans a second, for `ms`, without waiting for answers (as many services would). */
      const load = async (ms: number, perSecond: number) => {
        const inflight: Promise<void>[] = [];
        let i = 0;
        for (const end = Date.now() + ms; Date.now() < end; ) {
          const tick = Date.now();
          for (let k = 0; k < perSecond / 10; k++) inflight.push(post(bodies[i++ % bodies.length]));
          await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
        }
        await Promise.all(inflight);
      };
      await load(3_000, 4); // steady: 2,000 spans/s
      const steady = new Map(statuses);
      let peakRss = 0;
      const sampler = setInterval(() => {
        scrape(small.collectorMetricsUrl).then(
          (m) => (peakRss = Math.max(peakRss, sum(m, 'otelcol_process_memory_rss'))),
          () => {},
        );
      }, 250);
      // 10×: 20,000 spans/s, in 2 s rounds until the limiter has refused some (at most 20 s). A burst meets a
      // slow backend in practice: Jaeger is paused (SIGSTOP) meanwhile, so the collector holds what it accepted
      // instead of passing it on at once, and memory crosses the limit however fast this machine is.
      process.kill(small.jaeger.pid!, 'SIGSTOP');
      try {
        for (let round = 0; round < 10 && (statuses.get('503') ?? 0) === 0; round++) await load(2_000, 40);
      } finally {
        process.kill(small.jaeger.pid!, 'SIGCONT');
      }
      clearInterval(sampler);

      assert.ok(small.collectorRunning(), `the collector survived the burst:\n${small.collectorLog().slice(-2_000)}`);
      const health = await fetch(small.collectorHealthUrl);
      assert.equal(health.status, 200, 'and reports healthy');
      const ok = statuses.get('200') ?? 0;
      const refused = statuses.get('503') ?? 0;
      assert.ok(refused > 0, `the memory limiter refused part of the burst (answers: ${JSON.stringify([...statuses])})`);
      assert.deepEqual(
        [...statuses.keys()].filter((s) => s !== '200' && s !== '503'),
        [],
        'every request was answered: accepted or 503 (retry later)',
      );
      // The collector's own metrics count exactly what the clients were told.
      const metrics = await waitFor(
        () => scrape(small.collectorMetricsUrl),
        (m) => sum(m, 'otelcol_receiver_accepted_spans') === ok * SPANS_PER_REQUEST && sum(m, 'otelcol_receiver_refused_spans') === refused * SPANS_PER_REQUEST,
        {
          what: 'receiver metrics matching the answers',
          describe: (m) =>
            m
              .filter((s) => s.name.startsWith('otelcol_receiver'))
              .map((s) => `${s.name}=${s.value}`)
              .join(' '),
        },
      );
      // And it keeps exporting once the burst is over.
      let sentinel = '';
      await sendSpans(otlp(small), resourceOf(uniqueService('after-burst')), (tracer) => {
        const s = tracer.startSpan('after the burst');
        sentinel = s.spanContext().traceId;
        s.end();
      });
      await waitFor(
        () => jaegerTrace(small.jaegerUrl, sentinel),
        (spans) => spans.length === 1,
        { what: 'a span sent after the burst in Jaeger', timeoutMs: 30_000 },
      );
      t.diagnostic(
        `steady 3 s at 2,000 spans/s: ${JSON.stringify([...steady])}; burst at 20,000 spans/s: ${ok - (steady.get('200') ?? 0)} requests accepted, ${refused - (steady.get('503') ?? 0)} refused (503); ` +
          `collector metrics: accepted ${sum(metrics, 'otelcol_receiver_accepted_spans')} spans, refused ${sum(metrics, 'otelcol_receiver_refused_spans')}, ` +
          `memory_limiter refused ${sum(metrics, 'otelcol_processor_memory_limiter_refused_spans')} (all pipelines); peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB with limit_mib 64`,
      );
    } finally {
      await small.stop();
    }
  });
});
