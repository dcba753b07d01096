// The trace-id ratio sampler sidetrace builds for OTEL_TRACES_SAMPLER
// `traceidratio` / `parentbased_traceidratio` decides exactly as the SDK's
// TraceIdRatioBasedSampler does: in process, id for id against the SDK's own
// sampler; and end to end, a real app under the preload keeps exactly the
// traces the SDK's sampler picks from the trace ids callers send.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
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
    const mine = () => rx.spans.filter((s) => s.resource['service.name'] === 'ratio-app' && s.kind === 2);
    for (let waited = 0; mine().length < expected.length && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      mine()
        .map((s) => s.traceId)
        .sort(),
      expected,
    );
  });
});
