// The gateway tier's numbers on this machine (`npm run bench:gateway`), through
// the real collectors and Jaeger started by scripts/stack-lib.mjs on loopback,
// with a local OTLP receiver in New Relic mode standing in for New Relic:
//   1. throughput: demo-like traces as fast as a sidecar passes them to one
//      gateway with tail sampling on; spans/s, and spans per CPU-second of the
//      gateway (its own CPU time from /proc, so the sender and the sidecar,
//      which share this machine's cores, are not counted against it);
//   2. memory per 1,000 traces waiting for a decision (a long decision_wait
//      holds them; the gateway's Go heap and RSS before and after);
//   3. bytes sent to New Relic for the same traffic with and without tail
//      sampling (the sidecar alone vs sidecar → gateway), gzip'd, as New Relic bills.
// Writes bench/results/gateway.json and prints a summary. Run it alone: it
// uses both cores.
//   node --import tsx bench/gateway.mjs [--quick]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import protobuf from 'protobufjs';
import { REPO_ROOT, startStack } from '../scripts/stack-lib.mjs';
import { startOtlpReceiver } from '../test/helpers/otlp-receiver.ts';

const QUICK = process.argv.includes('--quick');
const LICENSE_KEY = `bench${crypto.randomBytes(16).toString('hex')}NRAL`;
const say = (line) => console.log(`bench:gateway: ${line}`);

// ---- demo-like traffic -------------------------------------------------------
// One trace per request of the demo app (examples/demo): a server span, two
// queries, a cache call, an outgoing HTTP call and a render step; 2% of the
// requests fail, 1% are slow (over the 1 s default threshold).
const PROTO = `
syntax = "proto3";
package p;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message InstrumentationScope { string name = 1; string version = 2; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
`;
const Request = protobuf.parse(PROTO).root.lookupType('p.ExportTraceServiceRequest');
const str = (key, value) => ({ key, value: { stringValue: value } });
const int = (key, value) => ({ key, value: { intValue: value } });
const RESOURCE = {
  attributes: [
    str('service.name', 'sidetrace-demo'),
    str('service.version', '3.1.4'),
    str('deployment.environment.name', 'production'),
    str('host.name', 'web-7f9c'),
    str('process.runtime.name', 'nodejs'),
    str('process.runtime.version', '20.20.2'),
    str('telemetry.sdk.name', 'opentelemetry'),
    str('telemetry.sdk.version', '2.12.0'),
  ],
};
export const SPANS_PER_TRACE = 6;

/** One demo-like trace: `kind` ok | error | slow. */
function demoTrace(kind, nowNs) {
  const traceId = crypto.randomBytes(16);
  const id = () => crypto.randomBytes(8);
  const root = id();
  const ms = 1_000_000n;
  const total = kind === 'slow' ? 1_500n * ms : 18n * ms;
  const start = nowNs - total;
  const span = (name, kind_, parent, from, to, attributes, error) => ({
    traceId,
    spanId: parent === undefined ? root : id(),
    parentSpanId: parent,
    name,
    kind: kind_,
    startTimeUnixNano: String(start + from * ms),
    endTimeUnixNano: String(start + to * ms),
    attributes,
    status: error ? { code: 2, message: 'boom' } : undefined,
  });
  const route = '/projects/:id/previews';
  const spans = [
    span(
      `GET ${route}`,
      2,
      undefined,
      0n,
      total / ms,
      [
        str('http.request.method', 'GET'),
        str('http.route', route),
        str('url.path', '/projects/4242/previews'),
        str('url.scheme', 'http'),
        int('http.response.status_code', kind === 'error' ? 500 : 200),
        str('user_agent.original', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'),
        str('server.address', 'demo.internal'),
        int('server.port', 3000),
        str('client.address', '10.1.2.3'),
      ],
      kind === 'error',
    ),
    span('SELECT sidetrace.projects', 3, root, 1n, 4n, [
      str('db.system.name', 'postgresql'),
      str('db.namespace', 'sidetrace'),
      str('db.operation.name', 'SELECT'),
      str('db.query.text', 'SELECT p.id, p.name, p.owner_id, p.created_at FROM projects p WHERE p.id = $1 AND p.deleted_at IS NULL'),
      str('server.address', 'postgres'),
      int('server.port', 5432),
    ]),
    span('SELECT sidetrace.previews', 3, root, 4n, 9n, [
      str('db.system.name', 'postgresql'),
      str('db.namespace', 'sidetrace'),
      str('db.operation.name', 'SELECT'),
      str('db.query.text', 'SELECT id, file_name, width, height, status FROM previews WHERE project_id = $1 ORDER BY created_at DESC LIMIT 50'),
      str('server.address', 'postgres'),
      int('server.port', 5432),
    ]),
    span('GET', 3, root, 9n, 10n, [
      str('db.system.name', 'redis'),
      str('db.operation.name', 'GET'),
      str('db.query.text', 'GET preview:4242:etag'),
      str('server.address', 'redis'),
      int('server.port', 6379),
    ]),
    span(
      'GET',
      3,
      root,
      10n,
      16n,
      [
        str('http.request.method', 'GET'),
        str('url.full', 'http://preview:3001/render?project=4242&size=large'),
        int('http.response.status_code', kind === 'error' ? 503 : 200),
        str('server.address', 'preview'),
        int('server.port', 3001),
      ],
      kind === 'error',
    ),
    span('render previews', 1, root, 16n, total / ms, [int('previews.count', 50), str('render.template', 'previews/index')]),
  ];
  return spans;
}

/** Requests of `tracesPerRequest` traces each, kinds mixed as the demo's: 2% errors, 1% slow. */
function makeRequests(count, tracesPerRequest) {
  const out = [];
  let n = 0;
  for (let r = 0; r < count; r++) {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const spans = [];
    for (let t = 0; t < tracesPerRequest; t++, n++) spans.push(...demoTrace(n % 100 < 2 ? 'error' : n % 100 === 2 ? 'slow' : 'ok', nowNs));
    out.push(
      Buffer.from(
        Request.encode({
          resourceSpans: [{ resource: RESOURCE, scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.223.0' }, spans }] }],
        }).finish(),
      ),
    );
  }
  return out;
}

/** POSTs each body to the sidecar, `concurrency` at a time; counts answers by status. */
async function send(url, bodies, concurrency) {
  const statuses = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const status = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body })
          .then(async (r) => (await r.arrayBuffer(), String(r.status)))
          .catch(() => 'error');
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

// ---- measuring ---------------------------------------------------------------
async function scrape(url) {
  const text = await (await fetch(url)).text();
  const out = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (m && !line.startsWith('#')) out.push({ name: m[1], labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}
const metric = (samples, name, labelPart = '') => samples.filter((s) => s.name === name && s.labels.includes(labelPart)).reduce((a, s) => a + s.value, 0);

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s on Linux)
}

async function waitFor(read, ready, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ready(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model;
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpu,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString().slice(0, 10),
  };
}

// ---- the runs ----------------------------------------------------------------
async function throughput(tracesPerRequest) {
  const requests = QUICK ? 300 : 1_500;
  const stack = await startStack({
    gateway: true,
    gateways: 1,
    sidecars: 1,
    freePorts: true,
    env: {},
    jaegerStorage: 'memory',
    collectorEnv: { SIDETRACE_COLLECTOR_MEMORY_LIMIT_MIB: '1500', SIDETRACE_COLLECTOR_MEMORY_SPIKE_MIB: '300' },
    gatewayEnv: {
      SIDETRACE_TAIL_DECISION_WAIT: '5s',
      SIDETRACE_COLLECTOR_MEMORY_LIMIT_MIB: '1500',
      SIDETRACE_COLLECTOR_MEMORY_SPIKE_MIB: '300',
      SIDETRACE_TAIL_MAX_SPANS_PER_SECOND: '1000000',
    },
  });
  try {
    const gw = stack.gateways[0];
    const bodies = makeRequests(requests, tracesPerRequest);
    const spans = requests * tracesPerRequest * SPANS_PER_TRACE;
    const cpu0 = cpuSeconds(gw.pid);
    const t0 = Date.now();
    const statuses = await send(stack.otlpHttpUrl, bodies, 8);
    // Until the gateway has received everything the sidecar accepted.
    const accepted = metric(await scrape(stack.collectorMetricsUrl), 'otelcol_receiver_accepted_spans');
    await waitFor(
      async () => metric(await scrape(gw.metricsUrl), 'otelcol_receiver_accepted_spans'),
      (n) => n >= accepted,
      120_000,
      'the gateway to receive what the sidecar accepted',
    );
    const seconds = (Date.now() - t0) / 1000;
    const cpu = cpuSeconds(gw.pid) - cpu0;
    const g = await scrape(gw.metricsUrl);
    return {
      spansSent: spans,
      sidecarAnswers: statuses,
      gatewayAcceptedSpans: metric(g, 'otelcol_receiver_accepted_spans'),
      gatewayRefusedSpans: metric(g, 'otelcol_receiver_refused_spans'),
      seconds: Number(seconds.toFixed(2)),
      spansPerSecond: Math.round(metric(g, 'otelcol_receiver_accepted_spans') / seconds),
      gatewayCpuSeconds: Number(cpu.toFixed(2)),
      spansPerGatewayCpuSecond: Math.round(metric(g, 'otelcol_receiver_accepted_spans') / cpu),
      gatewayPeakRssMiB: Math.round(metric(g, 'otelcol_process_memory_rss') / 2 ** 20),
    };
  } finally {
    await stack.stop();
  }
}

async function memoryPerThousandTraces() {
  const traces = QUICK ? 5_000 : 20_000;
  const stack = await startStack({
    gateway: true,
    gateways: 1,
    sidecars: 1,
    freePorts: true,
    env: {},
    jaegerStorage: 'memory',
    // Nothing is decided while we measure: every trace waits.
    gatewayEnv: {
      SIDETRACE_TAIL_DECISION_WAIT: '600s',
      SIDETRACE_TAIL_NUM_TRACES: '1000000',
      SIDETRACE_COLLECTOR_MEMORY_LIMIT_MIB: '4000',
      SIDETRACE_COLLECTOR_MEMORY_SPIKE_MIB: '500',
    },
  });
  try {
    const gw = stack.gateways[0];
    await new Promise((r) => setTimeout(r, 3_000));
    const before = await scrape(gw.metricsUrl);
    await send(stack.otlpHttpUrl, makeRequests(traces / 50, 50), 4);
    await waitFor(
      async () => metric(await scrape(gw.metricsUrl), 'otelcol_processor_tail_sampling_sampling_traces_on_memory'),
      (n) => n >= traces,
      120_000,
      `${traces} traces waiting at the gateway`,
    );
    // Let the Go runtime settle, then read.
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await scrape(gw.metricsUrl);
    const heap = (s) => metric(s, 'otelcol_process_runtime_heap_alloc_bytes');
    const rss = (s) => metric(s, 'otelcol_process_memory_rss');
    return {
      tracesWaiting: metric(after, 'otelcol_processor_tail_sampling_sampling_traces_on_memory'),
      spansPerTrace: SPANS_PER_TRACE,
      heapMiBPer1000Traces: Number(((heap(after) - heap(before)) / 2 ** 20 / (traces / 1000)).toFixed(2)),
      rssMiBPer1000Traces: Number(((rss(after) - rss(before)) / 2 ** 20 / (traces / 1000)).toFixed(2)),
      rssMiBIdle: Math.round(rss(before) / 2 ** 20),
      rssMiBWithTracesWaiting: Math.round(rss(after) / 2 ** 20),
    };
  } finally {
    await stack.stop();
  }
}

async function newRelicBytes() {
  const traces = QUICK ? 2_000 : 10_000;
  const bodies = makeRequests(traces / 20, 20);
  const run = async (tiered) => {
    const nr = await startOtlpReceiver({ newRelic: { apiKey: LICENSE_KEY } });
    const nrEnv = { NEW_RELIC_LICENSE_KEY: LICENSE_KEY, NEW_RELIC_OTLP_ENDPOINT: nr.url };
    const stack = await startStack({
      freePorts: true,
      env: {},
      jaegerStorage: 'memory',
      ...(tiered ? { gateway: true, gateways: 1, sidecars: 1, gatewayEnv: { ...nrEnv, SIDETRACE_TAIL_DECISION_WAIT: '2s' } } : { collectorEnv: nrEnv }),
    });
    try {
      await send(stack.otlpHttpUrl, bodies, 4);
      const exporter = tiered ? stack.gateways[0].metricsUrl : stack.collectorMetricsUrl;
      // Until everything decided has been sent: the New Relic exporter's sent spans stop moving and its queue is empty.
      let last = -1;
      await waitFor(
        async () => {
          const m = await scrape(exporter);
          const sent = metric(m, 'otelcol_exporter_sent_spans', 'otlp_http/newrelic');
          const done =
            sent === last &&
            metric(m, 'otelcol_exporter_queue_size', 'otlp_http/newrelic') === 0 &&
            (!tiered || metric(m, 'otelcol_processor_tail_sampling_global_count_traces_sampled') >= traces);
          last = sent;
          return done;
        },
        Boolean,
        120_000,
        'the New Relic export to finish',
      );
      const keptTraces = new Set(nr.spans.map((s) => s.traceId)).size;
      return {
        traces,
        keptTraces,
        spans: nr.spans.length,
        requests: nr.requests.length,
        gzipBytes: nr.requests.reduce((a, r) => a + r.wireBytes, 0),
        uncompressedBytes: nr.requests.reduce((a, r) => a + r.bodyBytes, 0),
        largestRequestBytes: Math.max(...nr.requests.map((r) => r.wireBytes)),
        violations: nr.violations.length,
      };
    } finally {
      await stack.stop();
      await nr.close();
    }
  };
  const without = await run(false);
  const withSampling = await run(true);
  return { withoutTailSampling: without, withTailSampling: withSampling, bytesSaved: Number((1 - withSampling.gzipBytes / without.gzipBytes).toFixed(3)) };
}

const results = { machine: machine(), quick: QUICK, spansPerTrace: SPANS_PER_TRACE };
say(`machine: ${JSON.stringify(results.machine)}`);
say('1/3 throughput of one gateway with tail sampling (10% of the rest, 1 s slow threshold, decision wait 5 s)');
results.throughput = await throughput(20);
say(JSON.stringify(results.throughput));
say('2/3 memory per 1,000 traces waiting for a decision');
results.memory = await memoryPerThousandTraces();
say(JSON.stringify(results.memory));
say('3/3 bytes to New Relic with and without tail sampling (defaults: errors, slow, 10% of the rest)');
results.newRelic = await newRelicBytes();
say(JSON.stringify(results.newRelic));
fs.mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
const out = path.join(REPO_ROOT, 'bench', 'results', QUICK ? 'gateway-quick.json' : 'gateway.json');
fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
say(`wrote ${path.relative(REPO_ROOT, out)}`);
