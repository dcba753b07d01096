// The trace-id ratio sampler sidetrace builds for OTEL_TRACES_SAMPLER
// `traceidratio` / `parentbased_traceidratio` decides exactly as the SDK's
// TraceIdRatioBasedSampler does: in process, id for id against the SDK's own
// sampler; and end to end, a real app under the preload keeps exactly the
// traces the SDK's sampler picks from the trace ids callers send.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { startOtlpReceiver, OtlpReceiver } from './helpers/otlp-receiver';
import { BUILD, FIXTURES, ROOT, get, startApp, RunningApp } from './helpers/app';

const { TraceIdRatioSampler } = require(path.join(ROOT, 'dist', 'lib', 'sdk', 'sampler.js'));
const { idGenerator } = require(path.join(ROOT, 'dist', 'lib', 'sdk', 'id-generator.js'));

const RATIOS = [0, 1e-9, 0.1, 0.25, 0.5, 0.9, 0.999999, 1, -1, 2, Number.NaN];

describe('TraceIdRatioSampler against the SDK TraceIdRatioBasedSampler (in process)', () => {
  it('the same decision for ids from the id generator, at every ratio', () => {
    for (const ratio of RATIOS) {
      const ours = new TraceIdRatioSampler(ratio);
      const sdk = new TraceIdRatioBasedSampler(ratio);
      assert.equal(ours.toString(), sdk.toString());
      for (let i = 0; i < 5000; i++) {
        const id = idGenerator.generateTraceId();
        assert.equal(ours.shouldSample(ROOT_CONTEXT, id).decision, sdk.shouldSample(ROOT_CONTEXT, id).decision, `ratio ${ratio}, id ${id}`);
      }
    }
  });

  it('the same decision for any string: hex of either case, wrong lengths, non-hex characters, all zeros', () => {
    const hex = fc.stringMatching(/^[0-9a-fA-F]{32}$/);
    const near = fc.stringMatching(/^[0-9a-fA-FgGxz\- ]{30,34}$/);
    const edges = fc.constantFrom(
      '0'.repeat(32),
      '0'.repeat(31),
      `${'0'.repeat(31)}1`,
      'F'.repeat(32),
      'f'.repeat(32),
      '',
      `${'a'.repeat(31)}/`,
      `${'a'.repeat(31)}:`,
      `${'a'.repeat(31)}@`,
      `${'a'.repeat(31)}G`,
      `${'a'.repeat(31)}\``,
      `${'a'.repeat(31)}g`,
    );
    fc.assert(
      fc.property(fc.oneof(hex, near, edges, fc.string()), fc.constantFrom(...RATIOS), (id, ratio) => {
        assert.equal(
          new TraceIdRatioSampler(ratio).shouldSample(ROOT_CONTEXT, id).decision,
          new TraceIdRatioBasedSampler(ratio).shouldSample(ROOT_CONTEXT, id).decision,
        );
      }),
      { numRuns: 20000 },
    );
    // Not a string at all (a broken IdGenerator): dropped, never a throw into the app.
    for (const id of [undefined, null, 42, {}]) {
      assert.equal(
        new TraceIdRatioSampler(1).shouldSample(ROOT_CONTEXT, id).decision,
        new TraceIdRatioBasedSampler(1).shouldSample(ROOT_CONTEXT, id as never).decision,
      );
    }
  });
});

/** The trace ids of `service`'s server spans, sorted, once `expected` have arrived (or 10 s passed) and 300 ms more for any extra. */
async function serverTraceIds(rx: OtlpReceiver, service: string, expected: number): Promise<string[]> {
  const servers = () => rx.spans.filter((s) => s.resource['service.name'] === service && s.kind === 2);
  for (let waited = 0; servers().length < expected && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300));
  return servers()
    .map((s) => s.traceId)
    .sort();
}

describe('traceidratio under the preload (real app, real OTLP receiver)', () => {
  let rx: OtlpReceiver;
  let app: RunningApp;

  before(async () => {
    rx = await startOtlpReceiver();
    app = await startApp({
      script: `${FIXTURES}/express-app.js`,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_SERVICE_NAME: 'ratio-app',
        OTEL_BSP_SCHEDULE_DELAY: '50',
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.3',
      },
    });
  });
  after(async () => {
    await app?.stop();
    await rx?.close();
  });

  it(`keeps exactly the traces the SDK's sampler picks from the callers' trace ids (${path.basename(BUILD)} build)`, async () => {
    // traceidratio (not parent-based) decides on the trace id even under a caller's context: here, the ids sent.
    const sent = Array.from({ length: 200 }, () => crypto.randomBytes(16).toString('hex'));
    for (const traceId of sent) {
      const res = await get(`${app.url}/hello`, { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` });
      assert.equal(res.status, 200);
    }
    const sdk = new TraceIdRatioBasedSampler(0.3);
    const expected = sent.filter((id) => sdk.shouldSample(ROOT_CONTEXT, id).decision !== 0).sort();
    assert.ok(expected.length > 20 && expected.length < 120, `a 0.3 ratio picks some but not all of 200 (${expected.length})`);
    assert.deepEqual(await serverTraceIds(rx, 'ratio-app', expected.length), expected);
  });
});

// The HTTP server instrumentation asks the sampler itself and builds a dropped request's span without the SDK's
// Tracer (src/instrumentations/http-server/server.ts). What leaves the process must be what the SDK would send:
// every root gets its own trace id, the decision on it is the SDK's sampler's, a kept root is exported under the
// trace id the sampler saw, and a dropped one still hands its ids and the caller's trace state on, not sampled.
describe('parentbased_traceidratio roots under the preload (real app, real downstream, real OTLP receiver)', () => {
  let rx: OtlpReceiver;
  let app: RunningApp;
  let target: http.Server;
  const seen: { traceparent?: string; tracestate?: string }[] = [];

  before(async () => {
    rx = await startOtlpReceiver();
    target = http.createServer((req, res) => {
      seen.push({ traceparent: req.headers.traceparent as string | undefined, tracestate: req.headers.tracestate as string | undefined });
      res.end('ok');
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    app = await startApp({
      script: `${FIXTURES}/express-app.js`,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_SERVICE_NAME: 'root-ratio-app',
        OTEL_BSP_SCHEDULE_DELAY: '50',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.5',
        TARGET_URL: `http://127.0.0.1:${(target.address() as AddressInfo).port}/`,
      },
    });
  });
  after(async () => {
    await app?.stop();
    await rx?.close();
    await new Promise((resolve) => target?.close(resolve));
  });

  it(`keeps the roots the SDK's sampler keeps, and propagates the dropped ones (${path.basename(BUILD)} build)`, async () => {
    for (let i = 0; i < 200; i++) assert.equal((await get(`${app.url}/outgoing`)).status, 200);
    assert.equal(seen.length, 200);
    const parsed = seen.map(({ traceparent }) => {
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(traceparent ?? '');
      assert.ok(m, `a W3C traceparent downstream: ${traceparent}`);
      return { traceId: m[1], spanId: m[2], sampled: m[3] === '01' };
    });
    assert.equal(new Set(parsed.map((p) => p.traceId)).size, 200, 'each root its own trace id');
    const sdk = new TraceIdRatioBasedSampler(0.5);
    for (const p of parsed) assert.equal(p.sampled, sdk.shouldSample(ROOT_CONTEXT, p.traceId).decision !== 0, `the SDK's decision on ${p.traceId}`);
    const kept = parsed.filter((p) => p.sampled);
    // Half of 200, within 4 standard deviations (7 each). A root started again under a new trace id would be kept
    // only when both ids are, a quarter of the time.
    assert.ok(kept.length >= 72 && kept.length <= 128, `a 0.5 ratio keeps about half of 200 (${kept.length})`);
    assert.deepEqual(await serverTraceIds(rx, 'root-ratio-app', kept.length), kept.map((p) => p.traceId).sort(), 'exactly the kept roots are exported');
    // A kept root's client span is the downstream's parent, and its own parent is the server span.
    const byId = new Map(rx.spans.map((s) => [s.spanId, s]));
    for (const p of kept) assert.equal(byId.get(byId.get(p.spanId)?.parentSpanId ?? '')?.kind, 2, `client span ${p.spanId} under its server span`);

    // A caller's unsampled context: its trace id and trace state go on, still not sampled, and nothing is exported.
    seen.length = 0;
    const callerTrace = crypto.randomBytes(16).toString('hex');
    const res = await get(`${app.url}/outgoing`, { traceparent: `00-${callerTrace}-${crypto.randomBytes(8).toString('hex')}-00`, tracestate: 'vendor=abc' });
    assert.equal(res.status, 200);
    assert.match(seen[0].traceparent ?? '', new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-00$`));
    assert.equal(seen[0].tracestate, 'vendor=abc');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rx.spans.filter((s) => s.traceId === callerTrace).length, 0);
  });
});
