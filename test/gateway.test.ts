// The gateway tier through the real programs: two services under the preload
// (test/fixtures/gateway-service.js), each exporting to its own collector
// sidecar in gateway mode, two gateway collectors running tail_sampling
// (collector/gateway.yaml), the real Jaeger v2 on Badger, and a local OTLP/HTTP
// receiver standing in for New Relic that checks what New Relic requires.
// All started by scripts/stack-lib.mjs through collector/entrypoint.sh, on loopback.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import YAML from 'yaml';
import {
  COLLECTOR_DIR,
  COLLECTOR_ENTRYPOINT,
  ensureBinaries,
  freePort,
  JAEGER_CLUSTER_CONFIG_FILES,
  JAEGER_CONFIG_FILE,
  type Binaries,
  writeHosts,
} from '../scripts/stack-lib.mjs';
import { cli } from './helpers/deploy';
import { collectorCase } from './helpers/once';
import { FIXTURES, PRELOAD, startApp, type RunningApp } from './helpers/app';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import { flattenTrace, jaegerTrace, scrape, startStack, sum, waitFor, type JaegerSpan, type Stack } from './helpers/stack';

const LICENSE_KEY = `test${crypto.randomBytes(16).toString('hex')}NRAL`;
const SAMPLE_PERCENT = 25;
const SLOW_MS = 1500;
const SERVICE_SLOW_MS = 2000;
const DECISION_WAIT = '4s';
const SERVICE = `gw-${crypto.randomBytes(3).toString('hex')}`;
const FRONT = `${SERVICE}-front`;
const BACK = `${SERVICE}-back`;
const SERVICE_SCRIPT = path.join(FIXTURES, 'gateway-service.js');
/** The name the sidecars resolve to find the gateways (in their own /etc/hosts: scripts/stack-lib.mjs). */
const GATEWAY_NAME = 'gateways.sidetrace.test';
const cfg = (f: string) => path.join(COLLECTOR_DIR, f);

/** `entrypoint.sh ARGS` with exactly `env` (plus PATH). */
function entrypoint(args: string[], env: Record<string, string>, bins?: Binaries) {
  return spawnSync('sh', [cfg(COLLECTOR_ENTRYPOINT), ...args], {
    env: { PATH: process.env.PATH, ...(bins ? { OTELCOL_BIN: bins.otelcolBin } : {}), ...env },
    encoding: 'utf8',
  });
}
const lines = (text: string, prefix = 'sidetrace collector:') => text.split('\n').filter((l) => l.startsWith(prefix));

describe('gateway tier: config files, checked by the real collector and the real Jaeger', () => {
  let bins: Binaries;
  before(async () => {
    bins = await ensureBinaries({ log: (line) => console.log(line) });
  });

  test('every config set the entrypoint can pick passes `otelcol validate`', () => {
    const sets: [string, Record<string, string>][] = [
      ['sidecar', {}],
      ['sidecar + New Relic', { NEW_RELIC_LICENSE_KEY: LICENSE_KEY }],
      ['sidecar in gateway mode, static list', { SIDETRACE_GATEWAY_ENDPOINTS: 'gw-1:4317, gw-2:4317', SIDETRACE_COLLECTOR_DEBUG: '1' }],
      ['sidecar in gateway mode, DNS', { SIDETRACE_GATEWAY_DNS: 'sidetrace-gateway.observability.svc.cluster.local' }],
      ['gateway', { SIDETRACE_COLLECTOR_ROLE: 'gateway' }],
      ['gateway + New Relic', { SIDETRACE_COLLECTOR_ROLE: 'gateway', NEW_RELIC_LICENSE_KEY: LICENSE_KEY, SIDETRACE_TAIL_SAMPLE_PERCENT: '12.5' }],
    ];
    for (const [name, env] of sets) {
      const r = entrypoint(['validate'], env, bins);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.ok(!`${r.stdout}${r.stderr}`.includes(LICENSE_KEY), `${name}: the license key is never printed`);
    }
    // validate checks each component's settings (not a rubber stamp), but builds no sampling policy:
    // the policies and their OTTL conditions are built when a gateway starts, as in the tests below.
    const broken = spawnSync(bins.otelcolBin, ['validate', '--config', cfg('gateway.yaml'), '--config', 'env:BROKEN'], {
      env: { PATH: process.env.PATH, BROKEN: 'processors: {tail_sampling: {sampling_strategy: whenever}}' },
      encoding: 'utf8',
    });
    assert.notEqual(broken.status, 0, 'a bad tail_sampling setting fails validation');
    assert.match(broken.stderr, /whenever/);
  });

  test('the entrypoint picks the files by role and variables, saying so in one line', () => {
    const files = (env: Record<string, string>) =>
      entrypoint(['files'], env)
        .stdout.trim()
        .split('\n')
        .map((f) => path.basename(f));
    assert.deepEqual(files({}), ['otel-collector.yaml']);
    assert.deepEqual(files({ NEW_RELIC_LICENSE_KEY: 'k' }), ['otel-collector.yaml', 'newrelic.yaml']);
    assert.deepEqual(
      files({ SIDETRACE_GATEWAY_ENDPOINTS: 'a:1', NEW_RELIC_LICENSE_KEY: 'k' }),
      ['otel-collector.yaml', 'sidecar-gateway.yaml', 'sidecar-gateway-static.yaml'],
      'gateway mode: no New Relic at the sidecar',
    );
    assert.deepEqual(files({ SIDETRACE_GATEWAY_DNS: 'gw.internal' }), ['otel-collector.yaml', 'sidecar-gateway.yaml', 'sidecar-gateway-dns.yaml']);
    assert.deepEqual(files({ SIDETRACE_COLLECTOR_ROLE: 'gateway' }), ['gateway.yaml']);
    assert.deepEqual(files({ SIDETRACE_COLLECTOR_ROLE: 'gateway', NEW_RELIC_LICENSE_KEY: 'k' }), ['gateway.yaml', 'gateway-newrelic.yaml']);

    const both = entrypoint(['files'], { SIDETRACE_GATEWAY_ENDPOINTS: 'gw-1:4317,gw-2', SIDETRACE_GATEWAY_DNS: 'gw.internal', NEW_RELIC_LICENSE_KEY: 'k' });
    assert.deepEqual(lines(both.stderr), [
      'sidetrace collector: SIDETRACE_GATEWAY_DNS is ignored: SIDETRACE_GATEWAY_ENDPOINTS is set',
      'sidetrace collector: gateway mode: traces go to gw-1:4317, gw-2, routed by trace id; the gateways decide what is kept and export it (NEW_RELIC_LICENSE_KEY is not used here: the gateways export to New Relic)',
    ]);
  });

  test('a bad value is named in one line with the default used instead, and the config with the defaults validates', () => {
    const gatewayYaml = fs.readFileSync(cfg('gateway.yaml'), 'utf8');
    const defaultOf = (name: string) => gatewayYaml.match(new RegExp(`\\$\\{env:${name}:-([^}]*)\\}`))![1];
    const bad = {
      SIDETRACE_COLLECTOR_ROLE: 'gateway',
      SIDETRACE_TAIL_SAMPLE_PERCENT: '150',
      SIDETRACE_TAIL_SLOW_MS: 'fast',
      SIDETRACE_TAIL_MAX_SPANS_PER_SECOND: '1e6',
      SIDETRACE_TAIL_DECISION_WAIT: '10 seconds',
      SIDETRACE_TAIL_NUM_TRACES: '-1',
    };
    const r = entrypoint(['validate'], bad, bins);
    assert.equal(r.status, 0, r.stderr);
    const said = lines(r.stderr);
    for (const [name, value] of Object.entries(bad).slice(1)) {
      const line = said.filter((l) => l.includes(`${name}="${value}"`));
      assert.equal(line.length, 1, `one line for ${name}: ${said.join('\n')}`);
      assert.ok(line[0].endsWith(`; using the default, ${defaultOf(name)}`), line[0]);
    }
    const role = entrypoint(['files'], { SIDETRACE_COLLECTOR_ROLE: 'gatway' });
    assert.deepEqual(lines(role.stderr).slice(0, 1), [
      'sidetrace collector: SIDETRACE_COLLECTOR_ROLE="gatway" is not sidecar or gateway; running as a sidecar',
    ]);
    const endpoints = entrypoint(['files'], { SIDETRACE_GATEWAY_ENDPOINTS: 'http://gw-1:4317' });
    assert.deepEqual(lines(endpoints.stderr).slice(0, 2), [
      'sidetrace collector: SIDETRACE_GATEWAY_ENDPOINTS: "http://gw-1:4317" is not host or host:port; left out',
      'sidetrace collector: SIDETRACE_GATEWAY_ENDPOINTS names no usable gateway; exporting to the backends directly',
    ]);
    assert.deepEqual(
      endpoints.stdout
        .trim()
        .split('\n')
        .map((f) => path.basename(f)),
      ['otel-collector.yaml'],
    );
  });

  test('gateway-newrelic.yaml exports to New Relic exactly as newrelic.yaml does', () => {
    const nr = YAML.parse(fs.readFileSync(cfg('newrelic.yaml'), 'utf8'));
    const gw = YAML.parse(fs.readFileSync(cfg('gateway-newrelic.yaml'), 'utf8'));
    assert.deepEqual(gw.processors['transform/newrelic'], nr.processors['transform/newrelic']);
    assert.deepEqual(gw.exporters['otlp_http/newrelic'], nr.exporters['otlp_http/newrelic']);
    assert.deepEqual(gw.extensions, nr.extensions);
    assert.deepEqual(gw.service.extensions, nr.service.extensions);
    // 200 spans a request, as newrelic.yaml's batch/newrelic: under 1 MB gzip'd at the attribute cap.
    const gateway = YAML.parse(fs.readFileSync(cfg('gateway.yaml'), 'utf8'));
    assert.equal(gateway.processors['batch/gateway'].send_batch_max_size, nr.processors['batch/newrelic'].send_batch_max_size);
  });

  test('Jaeger loads and validates its configs: Badger (default), memory, Elasticsearch, OpenSearch', () => {
    const validate = (file: string, env: Record<string, string> = {}) =>
      spawnSync(bins.jaegerBin, ['validate', '--config', cfg(file)], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    for (const storage of ['badger', 'memory']) {
      const r = validate(JAEGER_CONFIG_FILE, { SIDETRACE_JAEGER_STORAGE: storage });
      assert.equal(r.status, 0, `${storage}: ${r.stderr}`);
    }
    const local = YAML.parse(fs.readFileSync(cfg(JAEGER_CONFIG_FILE), 'utf8'));
    for (const file of JAEGER_CLUSTER_CONFIG_FILES) {
      const r = validate(file);
      assert.equal(r.status, 0, `${file}: ${r.stderr}`);
      // Only the store differs from jaeger.yaml: the same listeners, variables and pipeline.
      const cluster = YAML.parse(fs.readFileSync(cfg(file), 'utf8'));
      assert.deepEqual(cluster.receivers, local.receivers, file);
      assert.deepEqual(cluster.service, local.service, file);
      assert.deepEqual(cluster.extensions.healthcheckv2, local.extensions.healthcheckv2, file);
      assert.deepEqual({ ...cluster.extensions.jaeger_query, storage: undefined }, { ...local.extensions.jaeger_query, storage: undefined }, file);
      const urls = Object.values(cluster.extensions.jaeger_storage.backends as Record<string, any>).flatMap((b) =>
        Object.values(b).flatMap((c: any) => c.server_urls),
      );
      assert.ok(
        urls.every((u: string) => u.includes('127.0.0.1')),
        `${file}: the default cluster address is loopback`,
      );
    }
  });

  test('Jaeger refuses to start with a store its config does not declare (compose has no entrypoint to catch it)', async () => {
    // validate does not resolve store names; a real start does.
    const env: Record<string, string> = {
      PATH: process.env.PATH!,
      SIDETRACE_JAEGER_STORAGE: 'cassandra',
      SIDETRACE_JAEGER_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-jaeger-')),
    };
    for (const name of ['OTLP_GRPC', 'OTLP_HTTP', 'THRIFT_HTTP', 'QUERY_HTTP', 'QUERY_GRPC', 'HEALTH', 'METRICS'])
      env[`SIDETRACE_JAEGER_${name}_PORT`] = String(await freePort());
    const jaeger = spawn(bins.jaegerBin, ['--config', cfg(JAEGER_CONFIG_FILE)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    jaeger.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => jaeger.kill('SIGKILL'), 30_000);
    const code = await new Promise((resolve) => jaeger.on('exit', (c) => resolve(c)));
    clearTimeout(timer);
    fs.rmSync(env.SIDETRACE_JAEGER_DATA_DIR, { recursive: true, force: true });
    assert.notEqual(code, 0, 'Jaeger exits');
    assert.notEqual(code, null, 'by itself, not killed by the test');
    assert.match(stderr, /cassandra/);
  });
});

interface Sent {
  kind: string;
  traceId: string;
}

describe('two services, two sidecars, two gateways found by DNS (real collectors, real Jaeger on Badger)', () => {
  let stack: Stack;
  let newRelic: OtlpReceiver;
  let front: RunningApp;
  let back: RunningApp;
  const sent: Sent[] = [];

  before(async () => {
    newRelic = await startOtlpReceiver({ newRelic: { apiKey: LICENSE_KEY } });
    stack = await startStack({
      gateway: true,
      // The DNS resolver: the only one that changes the ring while running (the failover test below).
      gatewayDns: { name: GATEWAY_NAME },
      gatewayEnv: {
        NEW_RELIC_LICENSE_KEY: LICENSE_KEY,
        NEW_RELIC_OTLP_ENDPOINT: newRelic.url,
        SIDETRACE_TAIL_SAMPLE_PERCENT: String(SAMPLE_PERCENT),
        SIDETRACE_TAIL_SLOW_MS: String(SLOW_MS),
        SIDETRACE_TAIL_DECISION_WAIT: DECISION_WAIT,
        // The cap is tested on its own below; here every policy must be free to keep what it matches.
        SIDETRACE_TAIL_MAX_SPANS_PER_SECOND: '1000000',
      },
      collectorEnv: { SIDETRACE_GATEWAY_RETRY_MAX_ELAPSED: '30s', SIDETRACE_GATEWAY_DNS_INTERVAL: '1s' },
    });
    const serviceEnv = (name: string, sidecar: number, extra: Record<string, string> = {}) => ({
      OTEL_SERVICE_NAME: name,
      OTEL_EXPORTER_OTLP_ENDPOINT: stack.sidecars[sidecar].otlpHttpUrl,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_QUEUE_SIZE: '100000',
      ...extra,
    });
    back = await startApp({ script: SERVICE_SCRIPT, env: serviceEnv(BACK, 1, { ROLE: 'back', SLOW_MS: String(SERVICE_SLOW_MS) }) });
    front = await startApp({ script: SERVICE_SCRIPT, env: serviceEnv(FRONT, 0, { ROLE: 'front', BACK_URL: back.url }) });
  });

  after(async () => {
    await front?.stop();
    await back?.stop();
    await stack?.stop();
    await newRelic?.close();
  });

  /** `count` requests of one kind through both services, `concurrency` at a time; the trace ids they made. */
  async function drive(kind: string, count: number, concurrency = 16): Promise<Sent[]> {
    const out: Sent[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next++;
          const res = await fetch(`${front.url}/order?kind=${kind}`, { signal: AbortSignal.timeout(30_000) });
          const body = (await res.json()) as { traceId: string };
          assert.match(body.traceId, /^[0-9a-f]{32}$/);
          out.push({ kind, traceId: body.traceId });
        }
      }),
    );
    sent.push(...out);
    return out;
  }

  /** A metric summed over the running gateways. */
  const gatewayMetric = async (name: string, labels: Record<string, string> = {}) => {
    let total = 0;
    for (const g of stack.gateways.filter((x) => x.running())) total += sum(await scrape(g.metricsUrl), name, labels);
    return total;
  };

  /** At least `traces` decisions in all (the counters restart with a gateway), none waiting, and what the gateways kept has left their queues into Jaeger. */
  async function settled(traces: number) {
    // The batch processor holds up to 1 s of kept spans before the exporter sees them: the count
    // sent to Jaeger must also stay the same across two reads 1.5 s apart.
    let lastSent = -1;
    await waitFor(
      async () => ({
        decided: await gatewayMetric('otelcol_processor_tail_sampling_global_count_traces_sampled'),
        waiting: await gatewayMetric('otelcol_processor_tail_sampling_sampling_traces_on_memory'),
        queued: await gatewayMetric('otelcol_exporter_queue_size', { exporter: 'otlp_grpc/jaeger' }),
        sent: await gatewayMetric('otelcol_exporter_sent_spans', { exporter: 'otlp_grpc/jaeger' }),
        stored: sum(await scrape(stack.jaegerMetricsUrl), 'otelcol_exporter_sent_spans_total', { exporter: 'jaeger_storage_exporter' }),
      }),
      (m) => {
        const steady = m.sent === lastSent;
        lastSent = m.sent;
        return steady && m.decided >= traces && m.waiting === 0 && m.queued === 0 && m.stored >= m.sent;
      },
      { what: `${traces} traces decided and exported`, timeoutMs: 90_000, intervalMs: 1_500 },
    );
  }

  /** Jaeger's traces of the front service, by trace id. */
  async function jaegerTraces(): Promise<Map<string, JaegerSpan[]>> {
    const q = new URLSearchParams({ service: FRONT, limit: '10000', lookback: '1h' });
    const res = await fetch(`${stack.jaegerUrl}/api/traces?${q}`, { signal: AbortSignal.timeout(60_000) });
    const body: any = await res.json();
    return new Map((body.data ?? []).map((t: any) => [t.traceID, flattenTrace(t)] as [string, JaegerSpan[]]));
  }

  test('a trace across both services is kept or dropped whole; errors, slow, deploy and migration traces are all kept; the rest at the set percentage', async (t) => {
    const ordinary = await drive('ok', 1000);
    const errors = await drive('fail', 60);
    const slow = await drive('slow', 20);
    const deploys = await drive('deploy', 20);
    const migrations = await drive('migration', 20);
    await settled(sent.length);
    const jaeger = await jaegerTraces();

    // Whole or nothing: 3 spans (front server, front client, back server), 4 with the marked span.
    const expectedSpans = (kind: string) => (kind === 'deploy' || kind === 'migration' ? 4 : 3);
    const partial = sent.filter((s) => jaeger.has(s.traceId) && jaeger.get(s.traceId)!.length !== expectedSpans(s.kind));
    assert.deepEqual(
      partial.map(
        (s) =>
          `${s.kind} ${s.traceId}: ${jaeger
            .get(s.traceId)!
            .map((x) => `${x.service}/${x.name}`)
            .join(', ')}`,
      ),
      [],
      'no trace is kept in part',
    );
    for (const s of sent.filter((x) => jaeger.has(x.traceId))) {
      const services = new Set(jaeger.get(s.traceId)!.map((x) => x.service));
      assert.deepEqual(services, new Set([FRONT, BACK]), "each kept trace has both services' spans");
    }
    for (const [what, list] of [
      ['error', errors],
      ['slow', slow],
      ['deploy', deploys],
      ['migration', migrations],
    ] as const) {
      const missing = list.filter((s) => !jaeger.has(s.traceId));
      assert.equal(missing.length, 0, `every ${what} trace is kept (${missing.length} of ${list.length} missing)`);
    }
    const errorTrace = jaeger.get(errors[0].traceId)!;
    assert.ok(errorTrace.some((s) => s.status === 'ERROR'));
    // The rest: each kept with probability p, independently (the trace id hash), so the count is
    // binomial. 5 standard deviations: a correct sampler is outside about once in 1.7 million runs.
    const kept = ordinary.filter((s) => jaeger.has(s.traceId)).length;
    const n = ordinary.length;
    const p = SAMPLE_PERCENT / 100;
    const sd = Math.sqrt(n * p * (1 - p));
    const [low, high] = [Math.ceil(n * p - 5 * sd), Math.floor(n * p + 5 * sd)];
    assert.ok(kept >= low && kept <= high, `${kept} of ${n} ordinary traces kept; ${SAMPLE_PERCENT}% ± 5 sd is ${low}–${high}`);
    // Both gateways decided a share (the trace id routing spreads them).
    for (const g of stack.gateways) {
      assert.ok(
        sum(await scrape(g.metricsUrl), 'otelcol_processor_tail_sampling_global_count_traces_sampled') > sent.length / 5,
        `${g.name} decided a share of the traces`,
      );
    }
    t.diagnostic(
      `${sent.length} traces across two services: ${kept} of ${n} ordinary kept (${((100 * kept) / n).toFixed(1)}%, bound ${low}–${high}); all ${errors.length} error, ${slow.length} slow, ${deploys.length} deploy, ${migrations.length} migration traces kept; none partial`,
    );
  });

  test('a real deploy (sidetrace deploy) and a real migration run are kept, every trace of them', async () => {
    const deployService = `${SERVICE}-deploy`;
    const deployIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await cli(['deploy', '--version', `v${i}`, '--environment', 'test', '--', 'true'], {
        env: { OTEL_SERVICE_NAME: deployService, OTEL_EXPORTER_OTLP_ENDPOINT: stack.sidecars[0].otlpHttpUrl, SIDETRACE_DEPLOY_TIMEOUT: '0' },
      });
      assert.equal(r.code, 0, r.err);
      deployIds.push(/as trace ([0-9a-f]{32})/.exec(r.err)![1]);
    }
    const migrator = `${SERVICE}-migrate`;
    const migration = spawnSync(process.execPath, ['--require', PRELOAD, SERVICE_SCRIPT, 'migrate', 'gateway-backfill'], {
      env: { PATH: process.env.PATH, OTEL_SERVICE_NAME: migrator, OTEL_EXPORTER_OTLP_ENDPOINT: stack.sidecars[1].otlpHttpUrl, OTEL_BSP_SCHEDULE_DELAY: '200' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(migration.status, 0, `${migration.stdout}${migration.stderr}`);

    for (const id of deployIds) {
      const spans = await waitFor(
        () => jaegerTrace(stack.jaegerUrl, id),
        (s) => s.some((x) => x.name === `deploy ${deployService}`),
        {
          what: `deploy trace ${id} in Jaeger`,
          timeoutMs: 60_000,
        },
      );
      assert.ok(spans.some((s) => s.attributes['deployment.id'] !== undefined));
    }
    // The run and each of its 3 batches (a trace each) carry migration.run_id.
    const runTraces = await waitFor(
      async () => {
        const q = new URLSearchParams({ service: migrator, limit: '100', lookback: '1h' });
        const body: any = await (await fetch(`${stack.jaegerUrl}/api/traces?${q}`)).json();
        return (body.data ?? []).map(flattenTrace) as JaegerSpan[][];
      },
      (traces) =>
        traces.filter((t) => t.some((s) => s.name.startsWith('migration.batch'))).length === 3 &&
        traces.some((t) => t.some((s) => s.name === 'migration.run gateway-backfill')),
      {
        what: 'the migration run and its 3 batches in Jaeger',
        timeoutMs: 60_000,
        describe: (traces) => traces.map((t) => t.map((s) => s.name).join('+')).join(', '),
      },
    );
    for (const tr of runTraces)
      assert.ok(
        tr.some((s) => s.attributes['migration.run_id'] !== undefined),
        'every trace of the run carries migration.run_id',
      );
  });

  test('noise and secrets stop at the sidecar: a gateway only gets what the sidecar kept, redacted', async () => {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': `${SERVICE}-raw` }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${stack.sidecars[0].otlpHttpUrl}/v1/traces` }))],
    });
    const tracer = provider.getTracer('gateway-test');
    const root = tracer.startSpan('GET /callback', { kind: SpanKind.SERVER, attributes: { 'url.path': '/callback', 'url.query': 'code=s3cr3t-code&state=1' } });
    const ctx = trace.setSpan(context.active(), root);
    const health = tracer.startSpan('GET /healthz', { kind: SpanKind.SERVER, attributes: { 'url.path': '/healthz', 'http.response.status_code': 200 } }, ctx);
    health.end();
    const out = tracer.startSpan(
      'GET',
      { kind: SpanKind.CLIENT, attributes: { 'url.full': 'https://alice:pa55word@api.example.test/x?token=s3cr3t-token' } },
      ctx,
    );
    out.end();
    root.setStatus({ code: SpanStatusCode.ERROR });
    root.end();
    await provider.forceFlush();
    await provider.shutdown();
    const traceId = root.spanContext().traceId;
    const spans = await waitFor(
      () => jaegerTrace(stack.jaegerUrl, traceId),
      (s) => s.length >= 2,
      { what: 'the error trace in Jaeger', timeoutMs: 60_000 },
    );
    await newRelic.waitForSpans((s) => s.traceId === traceId, { count: 2, timeoutMs: 60_000 });
    assert.deepEqual(spans.map((s) => s.name).sort(), ['GET', 'GET /callback'], 'the health check span was dropped at the sidecar');
    const everywhere = JSON.stringify([spans, newRelic.spans.filter((s) => s.traceId === traceId)], (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    for (const secret of ['s3cr3t-code', 's3cr3t-token', 'pa55word']) assert.ok(!everywhere.includes(secret), `${secret} never left the sidecar`);
    assert.equal(spans.find((s) => s.name === 'GET')!.attributes['url.full'], 'https://REDACTED:REDACTED@api.example.test/x?token=REDACTED');
  });

  test("the New Relic stand-in gets exactly the kept traces, within New Relic's limits", async () => {
    const mark = await gatewayMetric('otelcol_processor_tail_sampling_global_count_traces_sampled');
    const long = await drive('fail-long', 5);
    await settled(mark + long.length);
    // Both backends are fed by the same exporters; poll until they agree, then compare (bounded).
    const ours = new Set(sent.map((s) => s.traceId));
    const read = async () => {
      const jaeger = await jaegerTraces();
      return {
        jaegerKept: new Set([...jaeger.keys()].filter((id) => ours.has(id))),
        nrTraces: new Set(newRelic.spans.filter((s) => ours.has(s.traceId)).map((s) => s.traceId)),
      };
    };
    const same = (v: { jaegerKept: Set<string>; nrTraces: Set<string> }) =>
      v.jaegerKept.size === v.nrTraces.size && [...v.jaegerKept].every((id) => v.nrTraces.has(id));
    let seen = await read();
    for (let i = 0; i < 60 && !same(seen); i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      seen = await read();
    }
    const { jaegerKept, nrTraces } = seen;
    assert.deepEqual(
      [...nrTraces].filter((id) => !jaegerKept.has(id)),
      [],
      'New Relic got no trace that was not kept',
    );
    assert.deepEqual(
      [...jaegerKept].filter((id) => !nrTraces.has(id)),
      [],
      'New Relic got every kept trace',
    );
    assert.ok(nrTraces.size < ours.size / 2, `New Relic got ${nrTraces.size} of ${ours.size} traces`);
    assert.deepEqual(newRelic.violations, []);
    for (const r of newRelic.requests) {
      assert.equal(r.headers['api-key'], LICENSE_KEY);
      assert.ok(r.gzip);
      assert.ok(r.wireBytes < 1_000_000, `request of ${r.wireBytes} bytes`);
    }
    // Attribute values over 4095 characters are cut at the gateway (for New Relic, and so for Jaeger too).
    const payload = newRelic.spans.find((s) => s.traceId === long[0].traceId && s.attributes.payload !== undefined);
    assert.equal(String(payload?.attributes.payload).length, 4095);
  });

  test('what each collector runs is what the entrypoint picks for its environment (stack and compose decide alike)', () => {
    for (const c of [...stack.sidecars, ...stack.gateways]) {
      const running = fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const configs = running.flatMap((a, i) => (running[i - 1] === '--config' ? [a] : []));
      const env = Object.fromEntries(Object.entries(c.env()).filter(([, v]) => v !== undefined)) as Record<string, string>;
      const picked = entrypoint(['files'], env).stdout.trim().split('\n');
      assert.deepEqual(configs, picked, `${c.name} runs the files the entrypoint picks`);
    }
    assert.deepEqual(
      fs
        .readFileSync(`/proc/${stack.sidecars[0].pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a.endsWith('.yaml'))
        .map((f) => path.basename(f)),
      ['otel-collector.yaml', 'sidecar-gateway.yaml', 'sidecar-gateway-dns.yaml'],
    );
    assert.deepEqual(
      fs
        .readFileSync(`/proc/${stack.gateways[0].pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a.endsWith('.yaml'))
        .map((f) => path.basename(f)),
      ['gateway.yaml', 'gateway-newrelic.yaml'],
    );
  });

  test('the spans-per-second cap: above it the rest is held to its share while errors are still kept', collectorCase, async (t) => {
    const CAP = 100;
    const restartAll = (env: Record<string, string>) => Promise.all(stack.gateways.map((g) => g.restart({ env })));
    await restartAll({ SIDETRACE_TAIL_MAX_SPANS_PER_SECOND: String(CAP), SIDETRACE_TAIL_SAMPLE_PERCENT: '100' });
    try {
      const started = Date.now();
      const [ordinary, errors] = await Promise.all([drive('ok', 300), drive('fail', 10, 2)]);
      const sendSeconds = (Date.now() - started) / 1000;
      // The gateways were restarted: their decision counters start from 0.
      await settled(ordinary.length + errors.length);
      const jaeger = await waitFor(jaegerTraces, (all) => errors.every((e) => all.has(e.traceId)), { what: 'the error traces in Jaeger', timeoutMs: 60_000 });
      const kept = ordinary.filter((s) => jaeger.has(s.traceId)).length;
      // The sample's share is 30% of the cap, per gateway and per second of decisions; the traces
      // arrived within sendSeconds, so they were decided within that many seconds plus two.
      const share = (CAP * 30) / 100 / 3;
      const bound = stack.gateways.length * share * (Math.ceil(sendSeconds) + 2);
      assert.ok(kept < ordinary.length, `the cap dropped some of the rest (${kept} of ${ordinary.length} kept at 100%)`);
      assert.ok(kept <= bound, `${kept} ordinary traces kept; the cap allows at most ${bound} in ${sendSeconds.toFixed(1)} s`);
      for (const e of errors) assert.equal(jaeger.get(e.traceId)?.length, 3, 'every error trace kept, whole');
      t.diagnostic(
        `cap ${CAP} spans/s per gateway, sample 100%: ${kept} of ${ordinary.length} ordinary traces kept (bound ${bound}), all ${errors.length} error traces kept`,
      );
    } finally {
      await restartAll({ SIDETRACE_TAIL_MAX_SPANS_PER_SECOND: '1000000', SIDETRACE_TAIL_SAMPLE_PERCENT: String(SAMPLE_PERCENT) });
    }
  });

  /** Spans the sidecars' load_balancing exporter took in (handed to a gateway's queue). */
  const lbSent = async () => {
    let n = 0;
    for (const sc of stack.sidecars) n += sum(await scrape(sc.collectorMetricsUrl), 'otelcol_exporter_sent_spans', { exporter: 'load_balancing/gateway' });
    return n;
  };
  /** A sidecar metric, one value per sidecar. */
  const sidecarMetric = (name: string) => Promise.all(stack.sidecars.map(async (sc) => sum(await scrape(sc.collectorMetricsUrl), name)));
  const accepted = (url: string) => scrape(url).then((m) => sum(m, 'otelcol_receiver_accepted_spans'));
  const complete = (jaeger: Map<string, JaegerSpan[]>, list: Sent[]) => list.filter((s) => jaeger.get(s.traceId)?.length === 3);
  const partialIn = (jaeger: Map<string, JaegerSpan[]>, list: Sent[]) => list.filter((s) => jaeger.has(s.traceId) && jaeger.get(s.traceId)!.length !== 3);
  // Whole log files (a handle's log() is only the tail).
  const fullLog = (file: string) => fs.readFileSync(file, 'utf8');
  const logMarks = () => stack.sidecars.map((sc) => fullLog(sc.logFile).length);
  /** The sidecars' "Dropping data" lines for `endpoint` since `marks`, and the spans they name. */
  const drops = (marks: number[], endpoint: string) => {
    const found = stack.sidecars.flatMap((sc, i) =>
      fullLog(sc.logFile)
        .slice(marks[i])
        .split('\n')
        .filter((l) => l.includes('Exporting failed. Dropping data.') && l.includes(endpoint)),
    );
    return { lines: found.length, spans: found.reduce((a, l) => a + Number(/"dropped_items": (\d+)/.exec(l)?.[1] ?? 0), 0) };
  };

  // Past the retry window the waiting share is dropped (the same "Dropping data" path the failover test
  // counts when the gateway leaves the ring); docs/gateway.md has that measured.
  test(
    'a gateway killed while the name still lists it (as a static list always does): its share waits at the sidecars and is all delivered when it is back within the retry window',
    collectorCase,
    async (t) => {
      const [, dead] = stack.gateways;
      try {
        // Killed, traffic, back within SIDETRACE_GATEWAY_RETRY_MAX_ELAPSED (30 s here).
        const sentA = await lbSent();
        await dead.stop('SIGKILL');
        const short = await drive('fail', 200);
        // The sidecars routed every span (the dead gateway's share into its queue), and the live gateway
        // decided and exported its share (settled() reads the running gateways only).
        await waitFor(
          async () => (await lbSent()) - sentA,
          (n) => n >= short.length * 3,
          { what: 'the sidecars to route the traffic' },
        );
        // The sidecars send from their queues: wait until the live gateway has stopped receiving.
        let last = -1;
        await waitFor(
          async () => accepted(stack.gateways[0].metricsUrl),
          (n) => n === last || ((last = n), false),
          { what: 'the live gateway to receive its share', intervalMs: 2_000 },
        );
        await settled(0);
        const whileDown = complete(await jaegerTraces(), short).length;
        assert.ok(
          whileDown >= 40 && whileDown <= 160,
          `while one of two gateways is down, only the live one's share arrives (${whileDown} of ${short.length})`,
        );
        await dead.start();
        const after = await waitFor(jaegerTraces, (j) => complete(j, short).length === short.length, {
          what: 'every trace after the gateway came back',
          timeoutMs: 60_000,
        });
        assert.deepEqual(partialIn(after, short), [], 'none partial');
        t.diagnostic(
          `gateway-2 SIGKILLed, still in DNS (as with a static list), back within the 30 s retry window: ${whileDown} of ${short.length} traces arrived while it was down, all ${short.length} after, none partial`,
        );
      } finally {
        if (!dead.running()) await dead.start();
      }
    },
  );

  test(
    'failover: a gateway killed and gone from DNS leaves the ring; traces after the re-resolution are all kept whole by the other, and the loss is bounded and counted',
    collectorCase,
    async (t) => {
      const [live, dead] = stack.gateways;
      const dns = stack.gatewayDns!;
      const address = (g: typeof live) => g.otlpGrpcEndpoint.split(':')[0];
      try {
        await settled(0);
        const updates0 = await sidecarMetric('otelcol_loadbalancer_num_backend_updates');
        assert.deepEqual(await sidecarMetric('otelcol_loadbalancer_num_backends'), [2, 2]);
        const sent0 = await lbSent();
        const live0 = await accepted(live.metricsUrl);
        const marks = logMarks();
        await dead.stop('SIGKILL');
        // Routed while the name still lists the dead gateway: its share waits in its queue at each sidecar.
        const before = await drive('fail', 200);
        await waitFor(
          async () => (await lbSent()) - sent0,
          (n) => n >= before.length * 3,
          { what: 'the sidecars to route the traffic' },
        );
        // The pod leaves the headless Service: its address leaves the name (edited in place; the bind mount follows the inode).
        writeHosts(dns.hostsFile, dns.name, [address(live)]);
        const removedAt = Date.now();
        await waitFor(
          () => sidecarMetric('otelcol_loadbalancer_num_backends'),
          (n) => n.every((x) => x === 1),
          { what: 'both sidecars to resolve the name to one gateway', timeoutMs: 30_000 },
        );
        const resolvedMs = Date.now() - removedAt;
        const moved = await drive('fail', 200);
        // Every span the sidecars took in is now either accepted by the live gateway or dropped (logged).
        const sentDuring = await waitFor(
          async () => (await lbSent()) - sent0,
          (n) => n >= (before.length + moved.length) * 3,
          { what: 'the sidecars to route the traffic' },
        );
        const accounted = await waitFor(
          async () => ({ dropped: drops(marks, dead.otlpGrpcEndpoint).spans, live: (await accepted(live.metricsUrl)) - live0 }),
          (v) => v.dropped + v.live === sentDuring,
          { what: "the dead gateway's waiting share dropped when it left the ring", timeoutMs: 60_000, intervalMs: 1_000 },
        );
        await settled(0);
        const jaeger = await jaegerTraces();

        // The share moved: every trace started after the re-resolution went to the live gateway, whole.
        assert.deepEqual(
          moved.filter((s) => jaeger.get(s.traceId)?.length !== 3).map((s) => s.traceId),
          [],
          'every trace after the re-resolution is kept whole',
        );
        // The loss: only traces routed before the re-resolution, the dead gateway's share of them, whole.
        const lost = before.filter((s) => !jaeger.has(s.traceId));
        assert.deepEqual(partialIn(jaeger, before), [], 'none partial');
        assert.ok(
          lost.length >= 40 && lost.length <= 160,
          `the dead gateway's share of the traces routed before the re-resolution was lost (${lost.length} of ${before.length})`,
        );
        // Counted exactly by the collectors' own metrics (sent by the sidecars' load_balancing exporter minus
        // accepted by the gateways; the dead one accepted nothing) and by the sidecars' log lines.
        assert.equal(sentDuring - accounted.live, lost.length * 3, 'sent at the sidecars minus accepted at the gateways is the loss');
        assert.equal(accounted.dropped, lost.length * 3, 'the sidecars logged every dropped span');
        // The ring change itself is in the metrics: one backend, and at least one more update at each sidecar.
        const updates = await sidecarMetric('otelcol_loadbalancer_num_backend_updates');
        assert.ok(
          updates.every((u, i) => u > updates0[i]),
          `num_backend_updates grew at each sidecar (${updates0.join(',')} → ${updates.join(',')})`,
        );
        t.diagnostic(
          `DNS failover, gateway-2 SIGKILLed then removed from the name: both sidecars re-resolved ${(resolvedMs / 1000).toFixed(1)} s after the edit (interval 1s, hosts file re-read every 5 s); ` +
            `all ${moved.length} traces after that kept whole by gateway-1; lost ${lost.length} of the ${before.length} routed before (${lost.length * 3} spans), none partial; ` +
            `metric gap ${sentDuring - accounted.live} spans, ${drops(marks, dead.otlpGrpcEndpoint).lines} "Dropping data" lines (${accounted.dropped} spans)`,
        );
      } finally {
        if (!dead.running()) await dead.start();
        writeHosts(dns.hostsFile, dns.name, stack.gateways.map(address));
        await waitFor(
          () => sidecarMetric('otelcol_loadbalancer_num_backends'),
          (n) => n.every((x) => x === 2),
          { what: 'both sidecars to resolve the name to both gateways again', timeoutMs: 30_000 },
        );
      }
    },
  );

  test('Jaeger restarted (SIGTERM, then SIGKILL): the traces it had are still returned (Badger)', collectorCase, async () => {
    for (const g of stack.gateways) if (!g.running()) await g.start();
    await settled(0);
    const before = await jaegerTraces();
    assert.ok(before.size > 100);
    const sample = [...before.keys()].slice(0, 50);
    const spansBefore = new Map<string, number>();
    for (const id of sample) spansBefore.set(id, (await jaegerTrace(stack.jaegerUrl, id)).length);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await stack.restartJaeger({ signal });
      for (const id of sample) assert.equal((await jaegerTrace(stack.jaegerUrl, id)).length, spansBefore.get(id), `trace ${id} after ${signal}`);
      assert.equal((await jaegerTraces()).size, before.size, `the search finds every trace after ${signal}`);
    }
  });
});

describe('the static list (SIDETRACE_GATEWAY_ENDPOINTS), as `npm run stack -- --gateway` and compose run it', collectorCase, () => {
  test('a sidecar given the list routes through the listed gateway into Jaeger', async () => {
    const stack = await startStack({ gateway: true, gateways: 1, sidecars: 1, gatewayEnv: { SIDETRACE_TAIL_DECISION_WAIT: '1s' } });
    try {
      const running = fs.readFileSync(`/proc/${stack.sidecars[0].pid}/cmdline`, 'utf8').split('\0');
      assert.ok(running.includes(cfg('sidecar-gateway-static.yaml')), running.join(' '));
      assert.equal(stack.sidecars[0].env().SIDETRACE_GATEWAY_ENDPOINTS, stack.gateways[0].otlpGrpcEndpoint);
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': `${SERVICE}-static` }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${stack.otlpHttpUrl}/v1/traces` }))],
      });
      const span = provider.getTracer('gateway-test').startSpan('through the listed gateway');
      // An error: kept by the gateway whatever the sample.
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      await provider.shutdown();
      await waitFor(
        () => jaegerTrace(stack.jaegerUrl, span.spanContext().traceId),
        (s) => s.length === 1,
        { what: 'the span in Jaeger', timeoutMs: 60_000 },
      );
      assert.ok(sum(await scrape(stack.gateways[0].metricsUrl), 'otelcol_receiver_accepted_spans') >= 1, 'the gateway received it');
    } finally {
      await stack.stop();
    }
  });
});

describe('Jaeger in memory, on request', () => {
  test('SIDETRACE_JAEGER_STORAGE=memory: a restart loses the traces (the option really switches the store)', collectorCase, async () => {
    const stack = await startStack({ jaegerStorage: 'memory' });
    try {
      assert.equal(stack.jaegerStorage, 'memory');
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': `${SERVICE}-memory` }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${stack.otlpHttpUrl}/v1/traces` }))],
      });
      const span = provider.getTracer('gateway-test').startSpan('kept in memory');
      span.end();
      await provider.shutdown();
      const traceId = span.spanContext().traceId;
      await waitFor(
        () => jaegerTrace(stack.jaegerUrl, traceId),
        (s) => s.length === 1,
        { what: 'the span in Jaeger' },
      );
      await stack.restartJaeger();
      assert.deepEqual(await jaegerTrace(stack.jaegerUrl, traceId), [], 'gone after the restart');
    } finally {
      await stack.stop();
    }
  });

  test('a bad SIDETRACE_JAEGER_STORAGE is named in one line and Badger is used', async () => {
    const said: string[] = [];
    const stack = await startStack({ jaegerEnv: { SIDETRACE_JAEGER_STORAGE: 'mem' }, log: (line) => said.push(line) });
    try {
      assert.deepEqual(
        said.filter((l) => l.includes('SIDETRACE_JAEGER_STORAGE')),
        ['SIDETRACE_JAEGER_STORAGE="mem" is not badger or memory; using badger'],
      );
      assert.equal(stack.jaegerStorage, 'badger');
      assert.deepEqual(fs.readdirSync(stack.jaegerDataDir).sort(), ['keys', 'values'], "Badger's directories are there");
    } finally {
      await stack.stop();
    }
  });
});
