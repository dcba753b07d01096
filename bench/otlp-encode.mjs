// What OTLP http/protobuf export costs per span, and how much of it the span
// encoder is: upstream's serializer (@opentelemetry/otlp-transformer's
// ProtobufTraceSerializer) against sidetrace's single-pass encoder
// (src/sdk/otlp-protobuf.ts), on the same batches of real SDK spans, in
// interleaved rounds (A B A B …), medians reported. Then the rest of an export
// on the same batches: gzip of the encoded body, and whole exports through
// each exporter (upstream's OTLPTraceExporter, sidetrace's) to a local sink in
// its own process, without and with gzip, as this process's CPU per span.
//
//   npm run build && node bench/otlp-encode.mjs [--shape hello|db|rich] [--rounds 15] [--batches 40] [--dist DIR]
//   (node bench/otlp-encode.mjs --node 24 runs it on the pinned Node 24 binary)
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { REPO_ROOT, startSink } from './lib/procs.mjs';
import { median, machine } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};

const NODE = flag('--node', undefined);
if (NODE) {
  // Re-run this script on the pinned binary (scripts/node-install.sh), without --node.
  const bin = /^\d+$/.test(NODE) ? spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'node-install.sh'), NODE], { encoding: 'utf8' }).stdout.trim() : NODE;
  const rest = args.filter((a, i) => a !== '--node' && args[i - 1] !== '--node');
  const r = spawnSync(bin, [new URL(import.meta.url).pathname, ...rest], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const SHAPE = flag('--shape', 'hello');
const ROUNDS = Number(flag('--rounds', 15));
const BATCHES = Number(flag('--batches', 40));
const BATCH_SIZE = 512; // the batch span processor's default maxExportBatchSize
const DIST = path.resolve(flag('--dist', path.join(REPO_ROOT, 'dist')));

const require = createRequire(import.meta.url);
const api = require('@opentelemetry/api');
const base = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { encodeTraceRequest, createProtobufTraceExporter } = require(path.join(DIST, 'lib', 'sdk', 'otlp-protobuf.js'));

/** Real SDK spans, in batches of 512, shaped like what a traced express request exports. */
function makeBatches() {
  const spans = [];
  const collector = { export: (s, done) => (spans.push(...s), done({ code: 0 })), shutdown: async () => {}, forceFlush: async () => {} };
  const provider = new base.BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'sidetrace-bench',
      'service.version': '1.4.2',
      'deployment.environment.name': 'production',
      'host.name': os.hostname(),
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '2.12.0',
    }),
    spanProcessors: [new base.SimpleSpanProcessor(collector)],
  });
  const server = provider.getTracer('sidetrace-http-server', '0.1.0');
  const pg = provider.getTracer('@opentelemetry/instrumentation-pg', '0.76.0');
  const total = BATCHES * BATCH_SIZE;
  for (let i = 0; spans.length < total; i++) {
    const s = server.startSpan(
      'GET /users/:id',
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          'http.request.method': 'GET',
          'url.scheme': 'http',
          'url.path': `/users/${i % 1000}`,
          'server.address': '127.0.0.1',
          'server.port': 3000,
          'network.peer.address': '127.0.0.1',
          'network.peer.port': 40000 + (i % 20000),
          'network.protocol.version': '1.1',
          'client.address': '127.0.0.1',
          'user_agent.original': 'autocannon/9',
          'http.route': '/users/:id',
          'http.response.status_code': 200,
        },
      },
      api.ROOT_CONTEXT,
    );
    if (SHAPE === 'db' || SHAPE === 'rich') {
      const q = pg.startSpan(
        'SELECT sidetrace',
        {
          kind: api.SpanKind.CLIENT,
          attributes: {
            'db.system.name': 'postgresql',
            'db.namespace': 'sidetrace',
            'db.query.text': 'SELECT u.id, u.name, u.email FROM users u WHERE u.id = $1',
            'server.address': '127.0.0.1',
            'server.port': 5432,
          },
        },
        api.trace.setSpan(api.ROOT_CONTEXT, s),
      );
      q.end();
    }
    if (SHAPE === 'rich') {
      s.setAttribute('app.tags', ['a', 'béta', '日本']);
      s.setAttribute('app.ratio', 0.25);
      s.setAttribute('app.flag', true);
      s.addEvent('cache miss', { 'cache.key': `user:${i}`, 'cache.ttl': -1 });
      s.addLink({ context: { traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), traceFlags: 1, isRemote: true }, attributes: { why: 'batch' } });
      s.setStatus({ code: api.SpanStatusCode.ERROR, message: 'upstream said nø' });
    }
    s.end();
  }
  const batches = [];
  for (let b = 0; b < BATCHES; b++) batches.push(spans.slice(b * BATCH_SIZE, (b + 1) * BATCH_SIZE));
  return batches;
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU µs per span to encode every batch once, and the bytes per span. */
function timeEncode(encode, batches) {
  let bytes = 0;
  const t0 = cpuUs();
  for (const b of batches) bytes += encode(b).length;
  return { us: (cpuUs() - t0) / (batches.length * BATCH_SIZE), bytes: bytes / (batches.length * BATCH_SIZE) };
}

/** CPU µs per span to export every batch through a real exporter to the sink, one export at a time (as the pipeline sends them). */
async function timeExport(exporter, batches) {
  const t0 = cpuUs();
  for (const b of batches) {
    const result = await new Promise((resolve) => exporter.export(b, resolve));
    if (result.code !== 0) throw new Error(`export failed: ${result.error?.message}`);
  }
  return (cpuUs() - t0) / (batches.length * BATCH_SIZE);
}

const batches = makeBatches();
const upstream = (b) => ProtobufTraceSerializer.serializeRequest(b);
const first = batches[0];
const same = Buffer.from(upstream(first)).equals(Buffer.from(encodeTraceRequest(first)));

// 1. encoding alone
const encoders = [
  ['upstream ProtobufTraceSerializer', upstream],
  ['sidetrace encodeTraceRequest', encodeTraceRequest],
];
for (const [, enc] of encoders) timeEncode(enc, batches); // warm-up (JIT)
const encodeSamples = encoders.map(() => []);
const bytesPerSpan = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const [k, [, enc]] of encoders.entries()) {
    const { us, bytes } = timeEncode(enc, batches);
    encodeSamples[k].push(us);
    bytesPerSpan[k] = bytes;
  }
}

// 2. gzip of the encoded bodies (what OTEL_EXPORTER_OTLP_COMPRESSION=gzip adds)
const bodies = batches.map((b) => encodeTraceRequest(b));
const gzipSamples = [];
let gzBytes = 0;
for (let r = 0; r < Math.max(3, ROUNDS >> 2); r++) {
  const t0 = cpuUs();
  gzBytes = 0;
  for (const body of bodies) gzBytes += zlib.gzipSync(body).length;
  gzipSamples.push((cpuUs() - t0) / (batches.length * BATCH_SIZE));
}

// 3. whole exports to a sink in its own process: encode + upstream's transport (+ gzip)
const sink = await startSink();
const url = `${sink.url}/v1/traces`;
const exporters = [];
for (const name of ['none', 'gzip']) {
  const compression = /** @type {never} */ (name); // the exporters' CompressionAlgorithm enum is these strings
  exporters.push([`upstream OTLPTraceExporter, ${name}`, new OTLPTraceExporter({ url, compression })]);
  exporters.push([`sidetrace exporter, ${name}`, createProtobufTraceExporter({ url, headers: {}, timeoutMillis: 10_000, compression })]);
}
for (const [, e] of exporters) await timeExport(e, batches);
const exportSamples = exporters.map(() => []);
for (let r = 0; r < Math.max(3, ROUNDS >> 2); r++) for (const [k, [, e]] of exporters.entries()) exportSamples[k].push(await timeExport(e, batches));
const received = await sink.stats();
await Promise.all(exporters.map(([, e]) => e.shutdown()));
await sink.stop();

const m = machine();
console.log(
  `OTLP span encoding, shape "${SHAPE}", ${BATCHES} batches of ${BATCH_SIZE} spans, ${ROUNDS} interleaved rounds; Node ${process.version}; ${m.cpu ?? ''}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(`outputs byte-identical: ${same}; the sink counted ${received.spans} spans in ${received.requests} requests\n`);
console.log('| what | CPU µs per span (median) | spans/s | bytes per span |');
console.log('| --- | ---: | ---: | ---: |');
encoders.forEach(([label], k) => {
  const us = median(encodeSamples[k]);
  console.log(`| encode: ${label} | ${us.toFixed(2)} | ${Math.round(1e6 / us).toLocaleString('en')} | ${bytesPerSpan[k].toFixed(0)} |`);
});
const gz = median(gzipSamples);
console.log(
  `| gzip of the encoded body (zlib.gzipSync) | ${gz.toFixed(2)} | ${Math.round(1e6 / gz).toLocaleString('en')} | ${(gzBytes / (batches.length * BATCH_SIZE)).toFixed(0)} |`,
);
exporters.forEach(([label], k) => {
  const us = median(exportSamples[k]);
  console.log(`| whole export: ${label} | ${us.toFixed(2)} | ${Math.round(1e6 / us).toLocaleString('en')} | |`);
});
const ratio = median(encodeSamples[0]) / median(encodeSamples[1]);
console.log(`\nencode: sidetrace's encoder is ${ratio.toFixed(2)}× as fast as upstream's serializer`);
