// sidetrace's OTLP span encoder (src/sdk/otlp-protobuf.ts) against upstream's
// serializer and against real receivers:
// - generated batches of real SDK spans (every attribute type, unicode and lone
//   surrogates, long strings, events, links, trace state, remote parents,
//   status codes, dropped counts, several resources and scopes interleaved)
//   encode to exactly upstream's bytes, and decode (protobufjs, the OTLP
//   definitions) to what the spans hold;
// - values the SDK's attribute checks would refuse (nested arrays, maps, bytes,
//   integers beyond 2^53) still encode as upstream encodes them;
// - the preload's default OTLP exporter uses it (upstream's exporter package is
//   never loaded), SIDETRACE_OTLP_ENCODER=upstream goes back to upstream's;
// - an app under the preload exports through it to the real OTLP receiver
//   (plain and gzip), and through the real collector into the real Jaeger.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fc from 'fast-check';
import { createTraceState, ROOT_CONTEXT, trace, type Attributes, type AttributeValue, type HrTime, type SpanContext } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, AlwaysOnSampler, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { encodeTraceRequest } from '../src/sdk/otlp-protobuf';
import { readConfig } from '../src/config';
import { describeExporter } from '../src/logging/describe';
import { decodeTraceRequest, type ReceivedSpan } from './helpers/otlp-decode.mjs';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import { FIXTURES, ROOT, run, startApp, type RunningApp } from './helpers/app';
import { jaegerRawSpans, startStack, tag, field, waitFor, type Stack } from './helpers/stack';

const PROTOBUF = 'application/x-protobuf';
const upstreamBytes = (spans: ReadableSpan[]) => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []);
const ourBytes = (spans: ReadableSpan[]) => Buffer.from(encodeTraceRequest(spans));

// ---------- generated spans ----------

const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }), // any code unit, lone surrogates included
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ minLength: 130, maxLength: 20_000 }), // lengths of two and three varint bytes
);
const integer = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 32, -(2 ** 32), 2 ** 53, 2 ** 62, -(2 ** 63), 2 ** 63 - 2 ** 10),
);
const double = fc.double(); // NaN, ±Infinity, -0 included
const attributeValue: fc.Arbitrary<AttributeValue> = fc.oneof(
  text,
  integer,
  double,
  fc.boolean(),
  fc.array(fc.option(text, { nil: null }), { maxLength: 5 }) as fc.Arbitrary<AttributeValue>,
  fc.array(integer, { maxLength: 5 }),
  fc.array(double, { maxLength: 5 }),
  fc.array(fc.boolean(), { maxLength: 5 }),
);
const attributes = fc.dictionary(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), attributeValue, { maxKeys: 10 });
const hrTime = fc.tuple(fc.integer({ min: 0, max: 4_102_444_800 }), fc.integer({ min: 0, max: 999_999_999 })) as fc.Arbitrary<HrTime>;
const traceState = fc.option(fc.constantFrom('a=1', 'vendor=abc,other=x', 'congo=t61rcWkgMzE'), { nil: undefined });
const spanContext = fc.record({
  traceId: hex(16),
  spanId: hex(8),
  traceFlags: fc.integer({ min: 0, max: 255 }),
  isRemote: fc.option(fc.boolean(), { nil: undefined }),
  traceState,
});
const spanSpec = fc.record({
  provider: fc.nat(2),
  tracer: fc.nat(2),
  name: text,
  kind: fc.integer({ min: 0, max: 4 }),
  parent: fc.option(spanContext, { nil: undefined }),
  start: hrTime,
  durationNs: fc.integer({ min: 0, max: 10 ** 12 }),
  attributes,
  events: fc.array(fc.record({ name: text, attributes: fc.option(attributes, { nil: undefined }), time: hrTime }), { maxLength: 4 }),
  links: fc.array(fc.record({ context: spanContext, attributes: fc.option(attributes, { nil: undefined }) }), { maxLength: 3 }),
  status: fc.record({ code: fc.constantFrom(0, 1, 2), message: fc.option(text, { nil: undefined }) }),
});
type SpanSpec = typeof spanSpec extends fc.Arbitrary<infer T> ? T : never;

const addNs = ([s, ns]: HrTime, add: number): HrTime => {
  const total = ns + add;
  return [s + Math.floor(total / 1e9), total % 1e9];
};

/** Real SDK spans from three providers (three resources, one with tight span limits) and three tracers each, in generated order. */
function makeSpans(specs: SpanSpec[], resourceAttributes: Attributes[]): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const providers = resourceAttributes.map(
    (attrs, i) =>
      new BasicTracerProvider({
        resource: resourceFromAttributes(attrs, i === 1 ? { schemaUrl: 'https://opentelemetry.io/schemas/1.28.0' } : undefined),
        sampler: new AlwaysOnSampler(),
        spanProcessors: [new SimpleSpanProcessor(exporter)],
        spanLimits: i === 2 ? { attributeCountLimit: 3, eventCountLimit: 2, linkCountLimit: 1, attributeValueLengthLimit: 40 } : {},
      }),
  );
  const tracers = providers.map((p) => [
    p.getTracer('scope.a'),
    p.getTracer('scope.b', '1.0.0'),
    p.getTracer('scope.c', '2.0', { schemaUrl: 'https://example.com/s' }),
  ]);
  for (const spec of specs) {
    const parent = spec.parent
      ? trace.setSpanContext(ROOT_CONTEXT, {
          ...spec.parent,
          traceState: spec.parent.traceState ? createTraceState(spec.parent.traceState) : undefined,
        } as SpanContext)
      : ROOT_CONTEXT;
    const span = tracers[spec.provider][spec.tracer].startSpan(
      spec.name,
      {
        kind: spec.kind,
        startTime: spec.start,
        attributes: spec.attributes,
        links: spec.links.map((l) => ({
          context: { ...l.context, traceState: l.context.traceState ? createTraceState(l.context.traceState) : undefined } as SpanContext,
          attributes: l.attributes,
        })),
      },
      parent,
    );
    for (const e of spec.events) span.addEvent(e.name, e.attributes, e.time);
    if (spec.status.code) span.setStatus({ code: spec.status.code, message: spec.status.message });
    span.end(addNs(spec.start, spec.durationNs));
  }
  return exporter.getFinishedSpans();
}

// What a decoded value must be: UTF-8 turns lone surrogates into U+FFFD, -0 is the integer 0, a missing array entry is null.
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');
function expectedValue(v: unknown): unknown {
  if (typeof v === 'string') return utf8(v);
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map((x) => (x === undefined || x === null ? null : expectedValue(x)));
  return v;
}
const expectedAttributes = (attrs: Attributes | undefined) => Object.fromEntries(Object.entries(attrs ?? {}).map(([k, v]) => [utf8(k), expectedValue(v)]));
const nanos = ([s, ns]: HrTime) => BigInt(s) * 1_000_000_000n + BigInt(ns);

/** The decoded span says what the SDK span holds. */
function assertDecoded(got: ReceivedSpan, span: ReadableSpan): void {
  const ctx = span.spanContext();
  assert.equal(got.traceId, ctx.traceId);
  assert.equal(got.parentSpanId, span.parentSpanContext?.spanId ?? '');
  assert.equal(got.name, utf8(span.name));
  assert.equal(got.kind, span.kind + 1);
  assert.equal(got.startTimeUnixNano, nanos(span.startTime));
  assert.equal(got.endTimeUnixNano, nanos(span.endTime));
  assert.deepEqual(got.attributes, expectedAttributes(span.attributes));
  assert.deepEqual(
    got.events,
    span.events.map((e) => ({ name: utf8(e.name), attributes: expectedAttributes(e.attributes) })),
  );
  assert.deepEqual(
    got.links,
    span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, attributes: expectedAttributes(l.attributes) })),
  );
  assert.deepEqual(got.status, { code: span.status.code, message: span.status.message ? utf8(span.status.message) : '' });
  assert.deepEqual(got.resource, expectedAttributes(span.resource.attributes as Attributes));
  assert.deepEqual(got.scope, { name: span.instrumentationScope.name, version: span.instrumentationScope.version ?? '' });
}

describe('the encoder writes what upstream writes', () => {
  it('generated batches of SDK spans: byte for byte upstream, decoded as the spans are', () => {
    fc.assert(
      fc.property(fc.array(spanSpec, { minLength: 1, maxLength: 25 }), fc.array(attributes, { minLength: 3, maxLength: 3 }), (specs, resources) => {
        const spans = makeSpans(specs, resources);
        const ours = ourBytes(spans);
        assert.ok(ours.equals(upstreamBytes(spans)), 'the same bytes as upstream');
        const decoded = decodeTraceRequest(ours, PROTOBUF);
        assert.equal(decoded.length, spans.length);
        const bySpanId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
        for (const got of decoded) assertDecoded(got, bySpanId.get(got.spanId)!);
      }),
      { numRuns: 150 },
    );
  });

  it('values the SDK would refuse (nested arrays, maps, bytes, big integers) encode as upstream encodes them', () => {
    const exporter = new InMemorySpanExporter();
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('t').startSpan('s').end();
    const [real] = exporter.getFinishedSpans();
    const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        integer,
        double,
        fc.boolean(),
        fc.constantFrom(null, undefined),
        fc.uint8Array({ maxLength: 20 }),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 10 }), anyValue, { maxKeys: 8 }), (attrs) => {
        // a span record as another processor could hand it on: the SDK span with unchecked attributes
        const span = Object.create(real, { attributes: { value: attrs } }) as ReadableSpan;
        assert.ok(ourBytes([span]).equals(upstreamBytes([span])));
      }),
      { numRuns: 300 },
    );
  });

  it('a batch of several MiB (scope spans over 2 MiB: four-byte length prefixes) and a reused buffer that never changes bytes already handed out', () => {
    const specs = Array.from(
      { length: 40 },
      (_, i): SpanSpec => ({
        provider: 0,
        tracer: i % 2,
        name: `span ${i}`,
        kind: 1,
        parent: undefined,
        start: [1_764_000_000 + i, 123_456_789] as HrTime,
        durationNs: 5_000,
        attributes: { payload: 'x'.repeat(120_000), i },
        events: [],
        links: [],
        status: { code: 0 as const, message: undefined },
      }),
    );
    const big = makeSpans(specs, [{ 'service.name': 'a' }, { 'service.name': 'b' }, { 'service.name': 'c' }]);
    const first = encodeTraceRequest(big);
    const copy = Buffer.from(first);
    assert.ok(first.length > 2 ** 21, `${first.length} bytes`);
    assert.ok(Buffer.from(first).equals(upstreamBytes(big)));
    const small = makeSpans([{ ...specs[0], attributes: { other: 'y' } }], [{ 'service.name': 'a' }, {}, {}]);
    assert.ok(ourBytes(small).equals(upstreamBytes(small)));
    assert.ok(Buffer.from(first).equals(copy), 'the first request is unchanged after the next encode');
  });
});

// ---------- wiring: which serializer the preload's exporter uses ----------

/** In a fresh process (the unbundled build): the configured OTLP exporter exports two real spans to the receiver; says whether upstream's exporter package was loaded. */
async function exportThroughConfiguredExporter(receiver: OtlpReceiver, env: Record<string, string>): Promise<{ code: number; upstreamLoaded: boolean }> {
  const script = `
    const { readConfig } = require('./dist/lib/config');
    const { createExporter } = require('./dist/lib/sdk/exporter');
    const base = require('@opentelemetry/sdk-trace-base');
    const { config } = readConfig(process.env);
    const mem = new base.InMemorySpanExporter();
    const tracer = new base.BasicTracerProvider({ spanProcessors: [new base.SimpleSpanProcessor(mem)] }).getTracer('wiring');
    const parent = tracer.startSpan('wiring.parent');
    parent.setAttribute('wiring.case', process.env.WIRING_CASE);
    parent.end();
    tracer.startSpan('wiring.other').end();
    const { exporter } = createExporter('otlp', config);
    exporter.export(mem.getFinishedSpans(), (result) => {
      const upstreamLoaded = Object.keys(require.cache).some((k) => k.includes('exporter-trace-otlp-proto'));
      console.log(JSON.stringify({ code: result.code, upstreamLoaded }));
      exporter.shutdown();
    });`;
  const r = await run(process.execPath, ['-e', script], { cwd: ROOT, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env } });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('the preload exporter', () => {
  it('the start-up line names the upstream serializer when SIDETRACE_OTLP_ENCODER=upstream, and says nothing of the default', () => {
    const line = (env: Record<string, string>) => describeExporter('otlp', readConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', ...env }).config);
    assert.equal(line({}), 'otlp http/protobuf http://127.0.0.1:4318/v1/traces');
    assert.equal(line({ SIDETRACE_OTLP_ENCODER: 'upstream' }), 'otlp http/protobuf http://127.0.0.1:4318/v1/traces (upstream serializer)');
    assert.equal(line({ SIDETRACE_OTLP_ENCODER: 'upstream', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'otlp http/json http://127.0.0.1:4318/v1/traces');
  });

  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(() => receiver.close());

  it('http/protobuf uses the encoder by default; SIDETRACE_OTLP_ENCODER=upstream uses upstream exporter package; both deliver', async () => {
    const ours = await exportThroughConfiguredExporter(receiver, { WIRING_CASE: 'default' });
    assert.deepEqual(ours, { code: 0, upstreamLoaded: false });
    const theirs = await exportThroughConfiguredExporter(receiver, { WIRING_CASE: 'upstream', SIDETRACE_OTLP_ENCODER: 'upstream' });
    assert.deepEqual(theirs, { code: 0, upstreamLoaded: true });
    const json = await exportThroughConfiguredExporter(receiver, { WIRING_CASE: 'json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' });
    assert.equal(json.code, 0);
    const byCase = (c: string) => receiver.spans.filter((s) => s.attributes['wiring.case'] === c).map((s) => s.name);
    for (const c of ['default', 'upstream', 'json']) assert.deepEqual(byCase(c), ['wiring.parent'], c);
    assert.deepEqual(
      receiver.requests.map((r) => [r.contentType, r.spanCount]),
      [
        [PROTOBUF, 2],
        [PROTOBUF, 2],
        ['application/json', 2],
      ],
    );
  });
});

// ---------- end to end: an app under the preload ----------

interface Ids {
  TRACE_ID: string;
  PARENT_SPAN_ID: string;
  LINK_TRACE_ID: string;
  LINK_SPAN_ID: string;
}
const newIds = (): Ids => ({
  TRACE_ID: crypto.randomBytes(16).toString('hex'),
  PARENT_SPAN_ID: crypto.randomBytes(8).toString('hex'),
  LINK_TRACE_ID: crypto.randomBytes(16).toString('hex'),
  LINK_SPAN_ID: crypto.randomBytes(8).toString('hex'),
});

async function runFixture(endpoint: string, ids: Ids, env: Record<string, string> = {}): Promise<void> {
  const app: RunningApp = await startApp({
    script: `${FIXTURES}/otlp-encoder-app.js`,
    waitListening: false,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '8', ...ids, ...env },
  });
  const { code } = await app.exited;
  assert.equal(code, 0, app.stderr());
  assert.match(app.stdout(), new RegExp(`trace ${ids.TRACE_ID}`));
}

describe('an app under the preload, to the real OTLP receiver', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(() => receiver.close());

  for (const compression of ['none', 'gzip']) {
    it(`every field arrives as the app set it (compression ${compression})`, async () => {
      const ids = newIds();
      await runFixture(receiver.url, ids, { OTEL_EXPORTER_OTLP_COMPRESSION: compression, OTEL_SERVICE_NAME: 'encoder-e2e' });
      const spans = await receiver.waitForSpans((s) => s.traceId === ids.TRACE_ID, { count: 2 });
      const req = receiver.requests.find((r) => r.spanCount > 0 && r.gzip === (compression === 'gzip'));
      assert.ok(req, `a ${compression} request: ${JSON.stringify(receiver.requests.map((r) => [r.gzip, r.spanCount]))}`);
      const root = spans.find((s) => s.name === 'encoder.root ✓')!;
      const child = spans.find((s) => s.name === 'encoder.child')!;
      assert.ok(root && child, spans.map((s) => s.name).join());
      assert.equal(root.parentSpanId, ids.PARENT_SPAN_ID);
      assert.equal(root.kind, 2);
      assert.equal(root.resource['service.name'], 'encoder-e2e');
      assert.deepEqual(root.scope, { name: 'otlp-encoder-app', version: '1.2.3' });
      // the attribute count limit (8) keeps the first eight of ten
      assert.deepEqual(root.attributes, {
        'app.string': 'héllo wörld 日本 🚀',
        'app.empty': '',
        'app.int': 42,
        'app.negative': -7,
        'app.big': 2 ** 40,
        'app.double': 3.25,
        'app.bool': false,
        'app.strings': ['a', 'β', ''],
      });
      assert.deepEqual(root.events, [
        { name: 'cache.miss', attributes: { 'cache.key': 'user:31', 'cache.ttl': -1 } },
        { name: 'retry', attributes: { attempt: 2 } },
      ]);
      assert.ok(root.endTimeUnixNano >= root.startTimeUnixNano && root.startTimeUnixNano > 1_700_000_000_000_000_000n);
      assert.deepEqual(root.status, { code: 1, message: '' });
      assert.equal(child.parentSpanId, root.spanId);
      assert.equal(child.kind, 3);
      assert.deepEqual(child.links, [{ traceId: ids.LINK_TRACE_ID, spanId: ids.LINK_SPAN_ID, attributes: { 'link.why': 'batch' } }]);
      assert.deepEqual(child.status, { code: 2, message: 'upstream said nø' });
    });
  }
});

describe('an app under the preload, through the real collector into the real Jaeger', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack?.stop());

  it('Jaeger returns the trace with its attributes, events, links, remote parent and statuses', async () => {
    const ids = newIds();
    await runFixture(stack.otlpHttpUrl, ids, { OTEL_SERVICE_NAME: `encoder-jaeger-${crypto.randomBytes(3).toString('hex')}` });
    const spans = await waitFor(
      () => jaegerRawSpans(stack.jaegerUrl, ids.TRACE_ID),
      (s) => s.length >= 2,
      { what: `trace ${ids.TRACE_ID} in Jaeger`, timeoutMs: 30_000 },
    );
    const root = spans.find((s: any) => s.operationName === 'encoder.root ✓');
    const child = spans.find((s: any) => s.operationName === 'encoder.child');
    assert.ok(root && child, spans.map((s: any) => s.operationName).join());
    assert.equal(tag(root, 'span.kind'), 'server');
    assert.equal(tag(root, 'app.string'), 'héllo wörld 日本 🚀');
    assert.equal(tag(root, 'app.int'), 42);
    assert.equal(tag(root, 'app.negative'), -7);
    assert.equal(tag(root, 'app.big'), 2 ** 40);
    assert.equal(tag(root, 'app.double'), 3.25);
    assert.equal(tag(root, 'app.bool'), false);
    assert.deepEqual(JSON.parse(tag(root, 'app.strings')), ['a', 'β', '']);
    assert.equal(tag(root, 'otel.status_code'), 'OK');
    assert.equal(tag(root, 'w3c.tracestate'), 'vendor=abc,other=x');
    assert.ok(
      root.references.some((r: any) => r.refType === 'CHILD_OF' && r.spanID === ids.PARENT_SPAN_ID),
      `remote parent: ${JSON.stringify(root.references)}`,
    );
    const miss = root.logs.find((l: any) => field(l, 'event') === 'cache.miss');
    assert.ok(miss, JSON.stringify(root.logs));
    assert.equal(field(miss, 'cache.key'), 'user:31');
    assert.equal(field(miss, 'cache.ttl'), -1);
    assert.equal(tag(child, 'otel.status_code'), 'ERROR');
    assert.equal(tag(child, 'otel.status_description'), 'upstream said nø');
    assert.ok(
      child.references.some((r: any) => r.refType === 'CHILD_OF' && r.spanID === root.spanID),
      `parent: ${JSON.stringify(child.references)}`,
    );
    assert.ok(
      child.references.some((r: any) => r.refType === 'FOLLOWS_FROM' && r.traceID === ids.LINK_TRACE_ID && r.spanID === ids.LINK_SPAN_ID),
      `link: ${JSON.stringify(child.references)}`,
    );
  });
});
