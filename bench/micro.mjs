// What sidetrace's own span processing costs per request, isolated from the
// network and the instrumentations: the same spans (an express request: a
// server span, its route-handler span, and for the "db" shape a pg query span
// under it) go through a real tracer provider with
//   upstream: ParentBased(AlwaysOn) sampler + BatchSpanProcessor
//   sidetrace: NoiseSampler + RedactionProcessor + NoiseFilterProcessor + ExportPipeline (what sdk.ts builds)
// both exporting to the real OTLP protobuf serializer (nothing sent). The
// difference is our cost. Runs interleaved rounds and reports medians.
//
//   npm run build && node bench/micro.mjs [--dist DIR] [--rounds 15] [--requests 20000] [--shape hello|db]
import path from 'node:path';
import { createRequire } from 'node:module';
import { REPO_ROOT } from './lib/procs.mjs';
import { median } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const DISTS = flag('--dist', path.join(REPO_ROOT, 'dist'))
  .split(',')
  .map((d) => path.resolve(d));
const ROUNDS = Number(flag('--rounds', 15));
const REQUESTS = Number(flag('--requests', 20000));
const SHAPE = flag('--shape', 'hello');

const api = require('@opentelemetry/api');
const base = require('@opentelemetry/sdk-trace-base');
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { ExportResultCode } = require('@opentelemetry/core');

/** Serializes like the OTLP/protobuf exporter, sends nothing. */
class SerializingExporter {
  bytes = 0;
  export(spans, done) {
    this.bytes += ProtobufTraceSerializer.serializeRequest(spans).length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown() {
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

const BATCH = { scheduledDelayMillis: 5000, exportTimeoutMillis: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 };

function upstream() {
  return new base.BasicTracerProvider({
    sampler: new base.ParentBasedSampler({ root: new base.AlwaysOnSampler() }),
    spanProcessors: [new base.BatchSpanProcessor(new SerializingExporter(), BATCH)],
  });
}

function sidetrace(dist) {
  const { NoiseSampler, PathMatcher, NoiseFilterProcessor } = require(path.join(dist, 'policy', 'noise.js'));
  const { RedactionProcessor } = require(path.join(dist, 'policy', 'redaction.js'));
  const { ExportPipeline } = require(path.join(dist, 'sdk', 'exporter.js'));
  const { DEFAULT_IGNORE_PATHS } = require(path.join(dist, 'config', 'index.js'));
  const { DEFAULT_REDACTED_QUERY_PARAMS } = require(path.join(dist, 'policy', 'secrets.js'));
  const pipeline = new ExportPipeline({ exporter: new SerializingExporter(), description: 'bench' }, BATCH.maxQueueSize, BATCH);
  return new base.BasicTracerProvider({
    sampler: new NoiseSampler(new base.ParentBasedSampler({ root: new base.AlwaysOnSampler() }), new PathMatcher(DEFAULT_IGNORE_PATHS)),
    spanProcessors: [new RedactionProcessor(DEFAULT_REDACTED_QUERY_PARAMS), new NoiseFilterProcessor(pipeline)],
  });
}

const SQL = `SELECT u.id, u.name, u.email, count(p.id)::int AS projects
       FROM users u LEFT JOIN projects p ON p.owner_id = u.id WHERE u.id = $1 GROUP BY u.id`;

/** One request's spans, shaped and timed like the http + express (+ pg) instrumentations make them. */
function request(tracer, i) {
  const server = tracer.startSpan(
    'GET',
    {
      kind: api.SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'url.scheme': 'http',
        'server.address': '127.0.0.1',
        'network.peer.address': '127.0.0.1',
        'network.peer.port': 40000 + (i % 20000),
        'network.protocol.version': '1.1',
        'user_agent.original': 'autocannon/9',
        'url.path': '/users/3',
        'url.query': i % 10 === 0 ? 'page=2&token=abc' : undefined,
        'client.address': '127.0.0.1',
        'server.port': 3000,
      },
    },
    api.ROOT_CONTEXT,
  );
  const serverCtx = api.trace.setSpan(api.ROOT_CONTEXT, server);
  const handler = tracer.startSpan(
    'request handler - /users/:id',
    { attributes: { 'http.route': '/users/:id', 'express.name': '/users/:id', 'express.type': 'request_handler' } },
    serverCtx,
  );
  if (SHAPE === 'db') {
    const db = tracer.startSpan(
      'pg.query:SELECT sidetrace',
      {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'db.system': 'postgresql',
          'db.name': 'sidetrace',
          'db.statement': SQL,
          'db.user': 'postgres',
          'db.connection_string': 'postgresql://127.0.0.1:5432/sidetrace',
          'net.peer.name': '127.0.0.1',
          'net.peer.port': 5432,
        },
      },
      api.trace.setSpan(serverCtx, handler),
    );
    db.end();
  }
  handler.end();
  server.setAttribute('http.response.status_code', 200);
  server.setAttribute('http.route', '/users/:id');
  server.updateName('GET /users/:id');
  server.end();
}

const tick = () => new Promise((r) => setImmediate(r));

/** µs per request, export included: requests in bursts of 100, the event loop turning in between as a server's would. */
async function time(provider) {
  const tracer = provider.getTracer('@opentelemetry/instrumentation-http');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) {
    request(tracer, i);
    if (i % 100 === 99) await tick();
  }
  await provider.forceFlush();
  return Number(process.hrtime.bigint() - t0) / REQUESTS / 1000;
}

const contenders = [['upstream chain', upstream()], ...DISTS.map((d) => [`sidetrace chain (${path.relative(REPO_ROOT, d) || d})`, sidetrace(d)])];
// Warm up every chain (JIT), then interleave the measured rounds.
for (const [, p] of contenders) await time(p);
const samples = contenders.map(() => []);
for (let r = 0; r < ROUNDS; r++) for (const [k, [, p]] of contenders.entries()) samples[k].push(await time(p));
const up = median(samples[0]);
console.log(`${REQUESTS} requests × ${ROUNDS} rounds, shape "${SHAPE}", Node ${process.version}; µs per request (median):`);
contenders.forEach(([label], k) => {
  const m = median(samples[k]);
  console.log(`  ${label.padEnd(48)} ${m.toFixed(2).padStart(7)} µs${k ? `   sidetrace's own: ${(m - up).toFixed(2)} µs` : ''}`);
});
await Promise.all(contenders.map(([, p]) => p.shutdown()));
