// The tracer provider instrumentations get (src/sdk/unsampled-children.ts)
// builds a dropped parent's children without the SDK's Tracer. Whatever the
// parent, the span it returns must be the one the SDK's Tracer returns under
// the same parent-based sampler: recording or not, trace id, flags, trace
// state; a span of its own (a new span id); and startActiveSpan must run the
// function with that span active, in all three of its forms.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import { context, createTraceState, ROOT_CONTEXT, SpanKind, trace, type Context, type SpanContext, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOnSampler, BasicTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { ROOT } from './helpers/app';

const { instrumentationTracerProvider } = require(path.join(ROOT, 'dist', 'lib', 'sdk', 'unsampled-children.js'));
const { idGenerator } = require(path.join(ROOT, 'dist', 'lib', 'sdk', 'id-generator.js'));

const hex = (bytes: number) => crypto.randomBytes(bytes).toString('hex');

function providers(sampler: ParentBasedSampler) {
  const sdk = new BasicTracerProvider({ sampler, idGenerator });
  const wrapped: TracerProvider = instrumentationTracerProvider(sdk, { name: 'parentbased_always_on', ratio: 1 });
  return { sdk: sdk.getTracer('t'), ours: wrapped.getTracer('t') as Tracer };
}

const parents = fc.record({
  // null: random valid ids; then ids the SDK holds invalid (all zeros, too short, not hex) and valid upper-case ones.
  traceId: fc.oneof(
    fc.constant(null),
    fc.constant(null),
    fc.constant('0'.repeat(32)),
    fc.constant('short'),
    fc.constant(`${'0'.repeat(31)}g`),
    fc.constant('ABCDEF'.repeat(5) + '01'),
  ),
  spanId: fc.oneof(
    fc.constant(null),
    fc.constant(null),
    fc.constant('0'.repeat(16)),
    fc.constant('x'),
    fc.constant(`${'f'.repeat(15)}-`),
    fc.constant('0'.repeat(15) + 'A'),
  ),
  sampled: fc.boolean(),
  remote: fc.boolean(),
  traceState: fc.oneof(fc.constant(undefined), fc.constant('vendor=abc,other=1')),
  kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER, undefined),
  root: fc.boolean(),
  suppressed: fc.boolean(),
  noParent: fc.boolean(),
});

function contextOf(p: typeof parents extends fc.Arbitrary<infer T> ? T : never): Context {
  let ctx: Context = ROOT_CONTEXT;
  if (!p.noParent) {
    const parent: SpanContext = {
      traceId: p.traceId ?? hex(16),
      spanId: p.spanId ?? hex(8),
      traceFlags: p.sampled ? 1 : 0,
      isRemote: p.remote,
      traceState: p.traceState ? createTraceState(p.traceState) : undefined,
    };
    ctx = trace.setSpanContext(ctx, parent);
  }
  return p.suppressed ? suppressTracing(ctx) : ctx;
}

describe("children of a dropped parent, built without the SDK's Tracer (in process, against the SDK)", () => {
  before(() => context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  after(() => context.disable());

  for (const [label, sampler] of [
    ['parentbased_always_on', new ParentBasedSampler({ root: new AlwaysOnSampler() })],
    ['parentbased_traceidratio 0.5', new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.5) })],
  ] as const) {
    it(`the span the SDK's Tracer returns, for any parent (${label})`, () => {
      const { sdk, ours } = providers(sampler);
      fc.assert(
        fc.property(parents, (p) => {
          const ctx = contextOf(p);
          const options = { kind: p.kind, root: p.root, attributes: { 'db.system': 'postgresql' } };
          // The same ids handed out to both (the IdGenerator's seam), so that a root's random trace id, and with it
          // a ratio sampler's decision, is the same for both.
          const ids = { traceId: hex(16), spanId: hex(8) };
          const expected = idGenerator.withIds(ids, () => sdk.startSpan('child', options, ctx));
          const actual = idGenerator.withIds(ids, () => ours.startSpan('child', options, ctx));
          const e = expected.spanContext();
          const a = actual.spanContext();
          assert.equal(actual.isRecording(), expected.isRecording());
          assert.deepEqual({ ...a, traceState: a.traceState?.serialize() }, { ...e, traceState: e.traceState?.serialize() });
          const parent = trace.getSpanContext(ctx);
          if (!p.root && !p.suppressed && parent !== undefined && trace.isSpanContextValid(parent)) {
            assert.equal(a.traceId, parent.traceId);
            assert.notEqual(a.spanId, parent.spanId);
          }
          expected.end();
          actual.end();
        }),
        { numRuns: 500 },
      );
    });
  }

  it('startActiveSpan runs the function with the span active, in all three forms', () => {
    const { ours } = providers(new ParentBasedSampler({ root: new AlwaysOnSampler() }));
    const dropped = trace.setSpanContext(ROOT_CONTEXT, { traceId: hex(16), spanId: hex(8), traceFlags: 0, isRemote: true });
    // The explicit context: a dropped parent's child, not recording, in the parent's trace.
    const [span3, active3] = ours.startActiveSpan('c', {}, dropped, (s) => [s, trace.getActiveSpan()] as const);
    assert.equal(active3, span3);
    assert.equal(span3.isRecording(), false);
    assert.equal(span3.spanContext().traceId, trace.getSpanContext(dropped)!.traceId);
    // The active context, with and without options.
    const [span2, active2, ret2] = context.with(dropped, () =>
      ours.startActiveSpan('c', { kind: SpanKind.CLIENT }, (s) => [s, trace.getActiveSpan(), 2] as const),
    );
    assert.equal(active2, span2);
    assert.equal(ret2, 2);
    assert.equal(span2.spanContext().traceId, trace.getSpanContext(dropped)!.traceId);
    const [span1, active1] = context.with(dropped, () => ours.startActiveSpan('c', (s) => [s, trace.getActiveSpan()] as const));
    assert.equal(active1, span1);
    assert.equal(span1.isRecording(), false);
    // With no parent, the sampler is asked: recorded, the active span inside, and nothing active after.
    const root = ours.startActiveSpan('root', (s) => {
      assert.equal(trace.getActiveSpan(), s);
      return s;
    });
    assert.equal(root.isRecording(), true);
    assert.equal(trace.getActiveSpan(), undefined);
    root.end();
  });

  it('a sampler that is not parent-based gets the SDK provider itself', () => {
    const sdk = new BasicTracerProvider({});
    for (const name of ['always_on', 'always_off', 'traceidratio']) assert.equal(instrumentationTracerProvider(sdk, { name, ratio: 1 }), sdk);
    assert.notEqual(instrumentationTracerProvider(sdk, { name: 'parentbased_traceidratio', ratio: 1 }), sdk);
  });
});
