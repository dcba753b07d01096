// OTLP/HTTP protobuf trace export with a single-pass encoder: ReadableSpans are
// written straight into one reused byte buffer as an ExportTraceServiceRequest.
//
// Upstream's serializer (@opentelemetry/otlp-transformer 0.223.0,
// trace/protobuf/trace-serializer.js) walks every span twice (a size estimate,
// then the write), allocates a Uint8Array for every trace and span id and
// checks capacity on every byte group. This one walks once, writes ids as hex
// digits straight into the buffer and checks capacity once per field. Its
// output is byte for byte upstream's (test/otlp-encoder.test.ts): the same
// field order, the same grouping (by resource object, then by instrumentation
// scope object), the same minimal varints.
//
// The transport is upstream's: OTLPExporterBase over
// createOtlpHttpExportDelegate (retries, timeouts, compression, headers,
// concurrency limit, shutdown and forceFlush), with this encoder as its
// serializer — the seam @opentelemetry/exporter-trace-otlp-proto itself uses.
import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** OTLP span flags: the low byte is the W3C trace flags; bit 8 says bit 9 (the parent/link context is remote) is known. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;
/** The write buffer starts at INITIAL_BYTES; a batch that grew it past RETAIN_BYTES does not keep that size for the next one. */
const INITIAL_BYTES = 64 * 1024;
const RETAIN_BYTES = 4 * 1024 * 1024;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

/** A growable protobuf writer over one Buffer. Length-delimited fields reserve the length bytes they usually need and move their body when the length takes more or fewer. */
class ProtoWriter {
  buf: Buffer = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** An unsigned varint below 2^32; callers reserve the (at most 5) bytes. */
  uint32(v: number): void {
    const b = this.buf;
    while (v > 0x7f) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[this.pos++] = v;
  }

  /** A tag and an unsigned varint (uint32 fields, enums, counts). */
  varintField(tag: number, v: number): void {
    this.reserve(7);
    this.buf[this.pos++] = tag;
    if (v >= 0 && v <= 0xffffffff) this.uint32(v >>> 0);
    else this.int64(v);
  }

  /** A varint of a 64-bit integer held in a double: two's complement for negatives (10 bytes), exact up to ±2^63. */
  int64(value: number): void {
    this.reserve(10);
    if (value >= 0 && value <= 0xffffffff) {
      this.uint32(value >>> 0);
      return;
    }
    const abs = Math.abs(value);
    let lo = abs >>> 0;
    let hi = (abs / 0x100000000) >>> 0;
    if (value < 0) {
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    }
    const b = this.buf;
    while (hi > 0 || lo > 0x7f) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  fixed32Field(tag: number, v: number): void {
    this.reserve(6);
    this.uint32(tag); // span.flags is field 16: a two-byte tag
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  /**
   * A tag and an HrTime as fixed64 nanoseconds, exact: seconds × 1e9 exceeds
   * 2^53, so seconds are split at bit 16 and each part's product (< 2^53) is
   * added into two 32-bit halves with the carry, as upstream does.
   */
  timeField(tag: number, time: HrTime): void {
    this.reserve(9);
    const seconds = time[0];
    const nanos = time[1];
    const fromLow = (seconds & 0xffff) * 1e9;
    const fromHigh = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (fromLow >>> 0) + (((fromHigh & 0xffff) * 0x10000) >>> 0) + nanos;
    const high = Math.floor(fromLow / 0x100000000) + ((fromHigh / 0x10000) >>> 0) + Math.floor(low / 0x100000000);
    const b = this.buf;
    b[this.pos++] = tag;
    b.writeUInt32LE(low >>> 0, this.pos);
    b.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  doubleField(tag: number, v: number): void {
    this.reserve(9);
    this.buf[this.pos++] = tag;
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** A tag and a string as UTF-8 (lone surrogates become U+FFFD, as TextEncoder makes them). */
  stringField(tag: number, s: string): void {
    const n = s.length;
    this.reserve(n + 6);
    const b = this.buf;
    const start = this.pos;
    b[this.pos++] = tag;
    this.uint32(n);
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        this.pos = start + 1;
        this.utf8(s);
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }

  private utf8(s: string): void {
    const bytes = Buffer.byteLength(s, 'utf8');
    this.reserve(bytes + 5);
    this.uint32(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }

  bytesField(tag: number, bytes: Uint8Array): void {
    this.reserve(bytes.length + 6);
    this.buf[this.pos++] = tag;
    this.uint32(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A tag and a hex id as bytes, written digit pair by digit pair (no intermediate array). */
  idField(tag: number, hex: string): void {
    const n = hex.length >>> 1;
    this.reserve(n + 6);
    const b = this.buf;
    b[this.pos++] = tag;
    this.uint32(n);
    let p = this.pos;
    for (let i = 0; i < hex.length; i += 2) b[p++] = (NIBBLE[hex.charCodeAt(i) & 0x7f] << 4) | NIBBLE[hex.charCodeAt(i + 1) & 0x7f];
    this.pos = p;
  }

  /**
   * Opens a length-delimited field: its tag and `reserved` length bytes (the
   * size its body usually needs: 1 for attributes, 2 for spans, 3 for the
   * groups of spans); returns where the body starts.
   */
  open(tag: number, reserved = 1): number {
    this.reserve(reserved + 1);
    this.buf[this.pos++] = tag;
    this.pos += reserved;
    return this.pos;
  }

  /** Closes what open() started: writes the body's length as a minimal varint, moving the body when that takes more or fewer bytes than were reserved. */
  close(bodyStart: number, reserved = 1): void {
    const length = this.pos - bodyStart;
    const needed = length < 0x80 ? 1 : length < 0x4000 ? 2 : length < 0x200000 ? 3 : length < 0x10000000 ? 4 : 5;
    if (needed !== reserved) {
      const shift = needed - reserved;
      if (shift > 0) this.reserve(shift);
      this.buf.copy(this.buf, bodyStart + shift, bodyStart, this.pos);
      this.pos += shift;
      bodyStart += shift;
    }
    const end = this.pos;
    this.pos = bodyStart - needed;
    this.uint32(length);
    this.pos = end;
  }

  /** The bytes written, copied out (a retried export re-sends them while this buffer is reused), and the writer reset. */
  take(): Uint8Array {
    const out = Buffer.allocUnsafeSlow(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    if (this.buf.length > RETAIN_BYTES) this.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    return out;
  }
}

/** Hex digit → value, for 0-9, a-f and A-F (ids are lower case; upstream accepts both). */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = NIBBLE[65 + i] = 10 + i;

// Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32); below field 16 they fit one byte.
const tag = (field: number, wire: number) => (field << 3) | wire;

function writeAttributes(w: ProtoWriter, attributes: Attributes, field: number): void {
  const t = tag(field, 2);
  // own enumerable keys, in for-in order: what upstream's for-in with hasOwnProperty visits
  const keys = Object.keys(attributes);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const kv = w.open(t);
    w.stringField(tag(1, 2), key);
    const value = w.open(tag(2, 2));
    writeAnyValue(w, attributes[key]);
    w.close(value);
    w.close(kv);
  }
}

/** One AnyValue's body, typed as upstream types it: integers in int64 range as int_value, other numbers as double_value. */
function writeAnyValue(w: ProtoWriter, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.stringField(tag(1, 2), value);
      return;
    case 'boolean':
      w.varintField(tag(2, 0), value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.reserve(1);
        w.buf[w.pos++] = tag(3, 0);
        w.int64(value);
      } else {
        w.doubleField(tag(4, 1), value);
      }
      return;
  }
  if (value instanceof Uint8Array) {
    w.bytesField(tag(7, 2), value);
  } else if (Array.isArray(value)) {
    const array = w.open(tag(5, 2));
    for (const item of value) {
      const v = w.open(tag(1, 2));
      writeAnyValue(w, item);
      w.close(v);
    }
    w.close(array);
  } else if (typeof value === 'object' && value !== null) {
    const list = w.open(tag(6, 2));
    writeAttributes(w, value as Attributes, 1);
    w.close(list);
  }
  // anything else (undefined, functions, symbols, bigints): no value, as upstream
}

function flagsOf(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

function writeLink(w: ProtoWriter, link: Link): void {
  const body = w.open(tag(13, 2));
  const ctx: SpanContext = link.context;
  w.idField(tag(1, 2), ctx.traceId);
  w.idField(tag(2, 2), ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) w.stringField(tag(3, 2), traceState);
  if (link.attributes) writeAttributes(w, link.attributes, 4);
  w.varintField(tag(5, 0), link.droppedAttributesCount || 0);
  w.fixed32Field(tag(6, 5), flagsOf(ctx.traceFlags, ctx.isRemote));
  w.close(body);
}

function writeSpan(w: ProtoWriter, span: ReadableSpan): void {
  const body = w.open(tag(2, 2), 2);
  const ctx = span.spanContext();
  w.idField(tag(1, 2), ctx.traceId);
  w.idField(tag(2, 2), ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) w.stringField(tag(3, 2), traceState);
  const parent = span.parentSpanContext;
  if (parent?.spanId) w.idField(tag(4, 2), parent.spanId);
  w.stringField(tag(5, 2), span.name);
  // OTLP's enum counts from SPAN_KIND_UNSPECIFIED = 0, the API's from INTERNAL = 0
  if (span.kind != null) w.varintField(tag(6, 0), span.kind + 1);
  w.timeField(tag(7, 1), span.startTime);
  w.timeField(tag(8, 1), span.endTime);
  if (span.attributes) writeAttributes(w, span.attributes, 9);
  w.varintField(tag(10, 0), span.droppedAttributesCount);
  for (const event of span.events) {
    const e = w.open(tag(11, 2));
    w.timeField(tag(1, 1), event.time);
    w.stringField(tag(2, 2), event.name);
    if (event.attributes) writeAttributes(w, event.attributes, 3);
    w.varintField(tag(4, 0), event.droppedAttributesCount || 0);
    w.close(e);
  }
  w.varintField(tag(12, 0), span.droppedEventsCount);
  for (const link of span.links) writeLink(w, link);
  w.varintField(tag(14, 0), span.droppedLinksCount);
  const status = w.open(tag(15, 2));
  if (span.status.message) w.stringField(tag(2, 2), span.status.message);
  w.varintField(tag(3, 0), span.status.code);
  w.close(status);
  w.fixed32Field(tag(16, 5), flagsOf(ctx.traceFlags, parent?.isRemote));
  w.close(body, 2);
}

type Scope = ReadableSpan['instrumentationScope'];
type Resource = ReadableSpan['resource'];

function writeScopeSpans(w: ProtoWriter, scope: Scope, spans: ReadableSpan[]): void {
  const body = w.open(tag(2, 2), 3);
  const s = w.open(tag(1, 2));
  w.stringField(tag(1, 2), scope.name);
  if (scope.version) w.stringField(tag(2, 2), scope.version);
  // The SDK's scopes carry no attributes today; upstream's serializer writes them when one does.
  const { attributes, droppedAttributesCount } = scope as Scope & { attributes?: Attributes; droppedAttributesCount?: number };
  if (attributes) writeAttributes(w, attributes, 3);
  if (droppedAttributesCount) w.varintField(tag(4, 0), droppedAttributesCount);
  w.close(s);
  for (const span of spans) writeSpan(w, span);
  if (scope.schemaUrl) w.stringField(tag(3, 2), scope.schemaUrl);
  w.close(body, 3);
}

function writeResourceSpans(w: ProtoWriter, resource: Resource, scopes: Map<Scope, ReadableSpan[]>): void {
  const body = w.open(tag(1, 2), 3);
  const r = w.open(tag(1, 2));
  if (resource.attributes) writeAttributes(w, resource.attributes, 1);
  w.varintField(tag(2, 0), 0); // dropped_attributes_count: the SDK's Resource drops none
  w.close(r);
  for (const [scope, spans] of scopes) writeScopeSpans(w, scope, spans);
  if (resource.schemaUrl) w.stringField(tag(3, 2), resource.schemaUrl);
  w.close(body, 3);
}

let writer: ProtoWriter | undefined;

/** An ExportTraceServiceRequest of these spans, grouped by resource, then by instrumentation scope, in first-seen order. */
export function encodeTraceRequest(spans: ReadableSpan[]): Uint8Array {
  const groups = new Map<Resource, Map<Scope, ReadableSpan[]>>();
  for (const span of spans) {
    let scopes = groups.get(span.resource);
    if (!scopes) groups.set(span.resource, (scopes = new Map()));
    const list = scopes.get(span.instrumentationScope);
    if (list) list.push(span);
    else scopes.set(span.instrumentationScope, [span]);
  }
  const w = (writer ??= new ProtoWriter());
  try {
    for (const [resource, scopes] of groups) writeResourceSpans(w, resource, scopes);
    return w.take();
  } catch (err) {
    w.pos = 0;
    throw err;
  }
}

/**
 * The OTLP http/protobuf trace exporter on upstream's transport with
 * encodeTraceRequest as its serializer: what exporter-trace-otlp-proto's
 * OTLPTraceExporter (0.223.0) builds, with the serializer swapped. `url`,
 * `headers`, `timeoutMillis` and `compression` are read as it reads them.
 */
export function createProtobufTraceExporter(options: {
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: never;
}): SpanExporter {
  const { OTLPExporterBase } = require('@opentelemetry/otlp-exporter-base') as typeof import('@opentelemetry/otlp-exporter-base');
  const { createOtlpHttpExportDelegate, convertLegacyHttpOptions } =
    require('@opentelemetry/otlp-exporter-base/node-http') as typeof import('@opentelemetry/otlp-exporter-base/node-http');
  // otlp-transformer (which loads sdk-metrics with it, 3–5 ms) is needed only to read a response body, so it is
  // loaded on the first one, not at start-up.
  const serializer = {
    serializeRequest: encodeTraceRequest,
    deserializeResponse: (data: Uint8Array) =>
      (require('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer')).ProtobufTraceSerializer.deserializeResponse(data),
  };
  const delegate = createOtlpHttpExportDelegate(
    convertLegacyHttpOptions(options, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
    serializer,
    'otlp_http_span_exporter',
    spanCounter,
    undefined,
  );
  return new OTLPExporterBase<ReadableSpan[]>(delegate);
}

/** What otlp-transformer's TraceExporterMetricsHelper is (0.223.0): how the exporter's own metrics count a request's items. */
const spanCounter = { name: 'span' as const, countItems: (spans: ReadableSpan[]) => spans.length };
