// The time `sidetrace trace` takes to lay out a 5,000-span trace
// (test/fixtures/traces.mjs's bigTrace, already fetched: Jaeger's answer
// time is not in it), side by side in interleaved rounds:
//   waterfall          the default: runs of similar siblings collapsed (17 lines)
//   waterfall --attrs  the same with attributes and events
//   uncollapsed        every span on its own line (5,000+ lines; collapseAt ∞)
//   --json             JSON.stringify of the spans, what `trace --json` prints
// Each is also run with the spans rebuilt from Jaeger's wire JSON
// (flattenTrace), the part of the command's cost that is not layout.
//
// With --stack: the same trace stored in the real Jaeger (scripts/stack-lib.mjs,
// sent to Jaeger's OTLP port), and the whole command timed as a user runs it
// (`sidetrace trace <id>`: Node start, query, parse, layout, print to a pipe),
// interleaved with `trace --json` and `node -e 0` (Node's start alone).
//
//   npm run build && node bench/render.mjs [--rounds 7] [--reps 20] [--stack] [--json FILE]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { bigTrace } from '../test/fixtures/traces.mjs';
import { fmt, machine, median, table } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const { renderWaterfall } = require('../dist/lib/cli/traces/waterfall.js');
const { flattenTrace } = require('../dist/lib/cli/traces/jaeger.js');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const ROUNDS = Number(flag('--rounds', 7));
const REPS = Number(flag('--reps', 20));
const jsonOut = flag('--json', undefined);

const spans = bigTrace();
/** The same trace as Jaeger's /api/traces/{id} sends it. */
const processOf = new Map([...new Set(spans.map((s) => s.service))].map((svc, i) => [svc, `p${i + 1}`]));
const wire = {
  traceID: spans[0].traceId,
  processes: Object.fromEntries([...processOf].map(([svc, id]) => [id, { serviceName: svc, tags: [] }])),
  spans: spans.map((s) => ({
    traceID: s.traceId,
    spanID: s.spanId,
    operationName: s.name,
    references: s.parentId ? [{ refType: 'CHILD_OF', traceID: s.traceId, spanID: s.parentId }] : [],
    startTime: s.startTimeMicros,
    duration: s.durationMicros,
    tags: [
      ...Object.entries(s.attributes).map(([key, value]) => ({ key, value })),
      ...(s.status ? [{ key: 'otel.status_code', value: s.status }] : []),
      ...(s.statusMessage ? [{ key: 'otel.status_description', value: s.statusMessage }] : []),
    ],
    logs: [],
    processID: processOf.get(s.service),
  })),
};
const wireText = JSON.stringify({ data: [wire] });

let sink = 0;
const variants = {
  waterfall: () => renderWaterfall(spans, { width: 100 }),
  'waterfall --attrs': () => renderWaterfall(spans, { width: 100, attrs: true }),
  uncollapsed: () => renderWaterfall(spans, { width: 100, collapseAt: Infinity }),
  '--json': () => [JSON.stringify(spans, null, 2)],
  'parse + waterfall': () => renderWaterfall(flattenTrace(JSON.parse(wireText).data[0]), { width: 100 }),
};

const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const linesOf = Object.fromEntries(Object.entries(variants).map(([k, fn]) => [k, fn().length]));
for (const fn of Object.values(variants)) for (let i = 0; i < 3; i++) sink += fn().length; // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(variants)) {
    const t0 = performance.now();
    for (let i = 0; i < REPS; i++) sink += fn().length;
    samples[name].push((performance.now() - t0) / REPS);
  }
}

const base = median(samples.waterfall);
const rows = Object.keys(variants).map((name) => [name, String(linesOf[name]), fmt(median(samples[name]), 2), `${fmt(median(samples[name]) / base, 2)}×`]);
const m = machine();
console.log(`render a ${spans.length}-span trace: median ms per render over ${ROUNDS} interleaved rounds of ${REPS}`);
console.log(`${m.cpu}, ${m.cores} cores, Node ${m.node}, load ${m.loadAverage}, ${m.date}\n`);
console.log(table(['variant', 'lines', 'ms', 'vs waterfall'], rows));
if (sink < 0) console.log(sink);
const result = { machine: m, spans: spans.length, rounds: ROUNDS, reps: REPS, samples, lines: linesOf };
if (args.includes('--stack')) result.command = await commandBench();
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));

/** OTLP/JSON of the fixture, ids and times as they are. */
function otlpBody() {
  const byService = new Map();
  for (const s of spans) {
    if (!byService.has(s.service)) byService.set(s.service, []);
    byService.get(s.service).push({
      traceId: s.traceId,
      spanId: s.spanId,
      parentSpanId: s.parentId ?? '',
      name: s.name,
      kind: 1,
      startTimeUnixNano: String(BigInt(s.startTimeMicros) * 1000n),
      endTimeUnixNano: String(BigInt(s.startTimeMicros + s.durationMicros) * 1000n),
      status: s.status === 'ERROR' ? { code: 2, message: s.statusMessage ?? '' } : {},
    });
  }
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'bench' }, spans: list }],
    })),
  };
}

async function commandBench() {
  const { startStack } = await import('../scripts/stack-lib.mjs');
  const stack = await startStack({ freePorts: true, env: {} });
  try {
    const res = await fetch(`${stack.jaegerOtlpHttpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(otlpBody()),
    });
    if (!res.ok) throw new Error(`Jaeger's OTLP receiver answered ${res.status}`);
    const traceId = spans[0].traceId;
    for (let i = 0; ; i++) {
      const body = await fetch(`${stack.jaegerUrl}/api/traces/${traceId}`).then((r) => r.json());
      if ((body.data?.[0]?.spans.length ?? 0) === spans.length) break;
      if (i > 100) throw new Error('the trace did not arrive in Jaeger');
      await new Promise((r) => setTimeout(r, 200));
    }
    const cli = new URL('../dist/cli/index.js', import.meta.url).pathname;
    const env = { ...process.env, SIDETRACE_JAEGER_URL: stack.jaegerUrl };
    const commands = {
      'sidetrace trace <id>': [cli, 'trace', traceId],
      'sidetrace trace <id> --json': [cli, 'trace', traceId, '--json'],
      'node -e 0': ['-e', '0'],
    };
    const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
    const printed = execFileSync(process.execPath, commands['sidetrace trace <id>'], { env }).toString();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, argv] of Object.entries(commands)) {
        const t0 = performance.now();
        execFileSync(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
        times[name].push(performance.now() - t0);
      }
    }
    const base = median(times['node -e 0']);
    console.log(`\nthe whole command against the real Jaeger (${spans.length} spans stored), median ms over ${ROUNDS} interleaved runs:\n`);
    console.log(
      table(
        ['command', 'ms', 'over node -e 0'],
        Object.keys(commands).map((k) => [k, fmt(median(times[k]), 0), `+${fmt(median(times[k]) - base, 0)} ms`]),
      ),
    );
    console.log(`\n${printed.split('\n').length - 1} lines printed`);
    return { times, lines: printed.split('\n').length - 1 };
  } finally {
    await stack.stop();
  }
}
