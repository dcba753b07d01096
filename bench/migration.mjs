// Tracing overhead of a migration batch: batches of 1000 no-op records, run
// (1) as a plain loop, (2) through run.batch() with no tracer provider (what
// a user who never turns tracing on pays), (3) through run.batch() under
// sidetrace's SDK exporting OTLP/HTTP to a local sink process that counts the
// spans, so the export cost is really paid. In-memory checkpoint (a Redis
// checkpoint adds a round trip per batch, which is not tracing overhead).
// A global provider cannot be unregistered, so the no-provider rounds run
// first; then plain and SDK rounds interleave (plain, sdk, plain, sdk …). The
// report gives medians over rounds, the overhead in ms per batch and the
// ratio to the plain loop.
//
//   npm run build && node bench/migration.mjs [--rounds 5] [--batches 1000] [--records 1000] [--json FILE]
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { startSink } from './lib/procs.mjs';
import { fmt, machine, median, table } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const sidetrace = require('../dist/index.js');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const ROUNDS = Number(flag('--rounds', 5));
const BATCHES = Number(flag('--batches', 1000));
const RECORDS = Number(flag('--records', 1000));
const WARMUP = 200;
const jsonOut = flag('--json', undefined);

let sink = 0;
/** A record's "work", kept trivial on purpose: what is left is the tracing. */
const noop = (id) => {
  sink += id & 1;
};

let nextBatch = 0; // batch numbers never repeat, so no batch is 'already committed'

async function plainBatch() {
  const start = nextBatch++ * RECORDS;
  for (let id = start; id < start + RECORDS; id++) noop(id);
}

const viaRun = (run) => () => {
  const start = nextBatch++ * RECORDS;
  return run.batch({ cursorStart: start, cursorEnd: start + RECORDS - 1 }, (batch) => {
    for (let id = batch.cursorStart; id <= batch.cursorEnd; id++) {
      noop(id);
      batch.processed();
    }
  });
};

/** Mean ms per batch over `BATCHES` batches. */
async function timeBatches(batchFn) {
  const t0 = performance.now();
  for (let i = 0; i < BATCHES; i++) await batchFn();
  return (performance.now() - t0) / BATCHES;
}

const total = (ROUNDS * BATCHES + WARMUP) * RECORDS * 3;
const sinkProc = await startSink();
// No provider yet: the API's no-op tracer, what an untraced process gets.
const offRun = await sidetrace.startMigration({ name: 'bench-off', total, batchSize: RECORDS });
for (let i = 0; i < WARMUP; i++) await viaRun(offRun)();
const samples = { plain: [], off: [], sdk: [] };
for (let r = 0; r < ROUNDS; r++) samples.off.push(await timeBatches(viaRun(offRun)));

sidetrace.start({
  // A queue that holds every span: a full queue drops spans, which would make tracing look cheaper than it is.
  env: {
    OTEL_SERVICE_NAME: 'migration-bench',
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkProc.url,
    OTEL_LOG_LEVEL: 'warn',
    OTEL_BSP_MAX_QUEUE_SIZE: String(4 * (ROUNDS * BATCHES + WARMUP)),
  },
  instrumentations: false,
  shutdownHooks: false,
  announce: false,
});
const sdkRun = await sidetrace.startMigration({ name: 'bench-sdk', total, batchSize: RECORDS });
for (let i = 0; i < WARMUP; i++) {
  await plainBatch();
  await viaRun(sdkRun)();
}
for (let r = 0; r < ROUNDS; r++) {
  samples.plain.push(await timeBatches(plainBatch));
  samples.sdk.push(await timeBatches(viaRun(sdkRun)));
}
await sdkRun.end();
await sidetrace.forceFlush();
const exportStats = sidetrace.exportStats();
await sidetrace.shutdown();
const received = await sinkProc.stats();
await sinkProc.stop();

const m = { plain: median(samples.plain), off: median(samples.off), sdk: median(samples.sdk) };
const host = machine();
console.log(`machine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, ${host.os}, node ${host.node}, load ${host.loadAverage}`);
console.log(`${ROUNDS} rounds × ${BATCHES} batches of ${RECORDS} no-op records (after ${WARMUP} warm-up batches); medians over rounds\n`);
console.log(
  table(
    ['variant', 'ms per batch', 'overhead vs plain (ms per batch)', 'ratio to plain'],
    [
      ['plain loop (no sidetrace)', fmt(m.plain, 4), '–', '1.0×'],
      ['run.batch, no tracer provider', fmt(m.off, 4), fmt(m.off - m.plain, 4), `${fmt(m.off / m.plain, 1)}×`],
      ['run.batch, sidetrace SDK + OTLP export', fmt(m.sdk, 4), fmt(m.sdk - m.plain, 4), `${fmt(m.sdk / m.plain, 1)}×`],
    ],
  ),
);
console.log(`\ntarget: < 1 ms per batch of overhead → ${m.sdk - m.plain < 1 ? 'met' : 'NOT met'}`);
console.log(`export: ${JSON.stringify(exportStats)}; the sink received ${received.spans} spans in ${received.requests} requests`);
if (jsonOut)
  fs.writeFileSync(
    jsonOut,
    `${JSON.stringify({ machine: host, rounds: ROUNDS, batches: BATCHES, records: RECORDS, samples, medians: m, exportStats, received }, null, 2)}\n`,
  );
if (sink < 0) console.log(sink); // keeps the no-op work observable
