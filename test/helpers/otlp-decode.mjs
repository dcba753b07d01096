// Decoding OTLP trace export requests, for the tests' receiver
// (test/helpers/otlp-receiver.ts) and the benchmarks' sink
// (bench/lib/otlp-sink.mjs). Plain JavaScript with types beside it
// (otlp-decode.d.mts), so TypeScript tests and .mjs benchmarks share it.
//
//   decodeTraceRequest: every span, with its resource, scope, attributes,
//     events and links (protobuf through protobufjs, or OTLP/JSON).
//   countSpans: the number of spans only, walking the protobuf framing
//     instead of decoding it, for a sink that must cost little CPU.
import protobuf from 'protobufjs';

// The subset of opentelemetry-proto (v1) that decodeTraceRequest decodes: trace
// export requests and the common/resource messages they use. Inline, so the
// module needs no .proto file at run time.
const OTLP_TRACE_PROTO = `
syntax = "proto3";
package opentelemetry.proto;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource {
  repeated KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans {
  Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
  string schema_url = 3;
}
message ScopeSpans {
  InstrumentationScope scope = 1;
  repeated Span spans = 2;
  string schema_url = 3;
}
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  message Event {
    fixed64 time_unix_nano = 1;
    string name = 2;
    repeated KeyValue attributes = 3;
    uint32 dropped_attributes_count = 4;
  }
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  message Link {
    bytes trace_id = 1;
    bytes span_id = 2;
    string trace_state = 3;
    repeated KeyValue attributes = 4;
    uint32 dropped_attributes_count = 5;
    fixed32 flags = 6;
  }
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
}
message Status {
  reserved 1;
  string message = 2;
  int32 code = 3;
}
`;
const ExportTraceServiceRequest = protobuf.parse(OTLP_TRACE_PROTO).root.lookupType('opentelemetry.proto.ExportTraceServiceRequest');

function hex(v) {
  if (!v) return '';
  if (typeof v === 'string') return v.toLowerCase(); // OTLP/JSON carries ids as hex
  return Buffer.from(v).toString('hex');
}

function bigintOf(v) {
  if (v === undefined || v === null) return 0n;
  return BigInt(String(v));
}

function anyValue(v) {
  if (!v) return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.intValue !== undefined && v.intValue !== null) return Number(String(v.intValue));
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributesOf(v.kvlistValue.values);
  if (v.bytesValue) return hex(v.bytesValue);
  return null;
}

function attributesOf(list) {
  const out = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** The spans of a decoded ExportTraceServiceRequest (protobufjs object or OTLP/JSON), flattened. */
function normalise(request) {
  const spans = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' };
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name ?? '',
          kind: Number(s.kind ?? 0),
          startTimeUnixNano: bigintOf(s.startTimeUnixNano),
          endTimeUnixNano: bigintOf(s.endTimeUnixNano),
          attributes: attributesOf(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name ?? '', attributes: attributesOf(e.attributes) })),
          links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: attributesOf(l.attributes) })),
          status: { code: Number(s.status?.code ?? 0), message: s.status?.message ?? '' },
          resource,
          scope,
        });
      }
    }
  }
  return spans;
}

/** Every span in an uncompressed request body; JSON when `contentType` says so, else protobuf. Throws on an undecodable body. */
export function decodeTraceRequest(body, contentType) {
  const request = String(contentType).includes('json')
    ? JSON.parse(body.toString('utf8'))
    : ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, defaults: false });
  return normalise(request);
}

/** Reads a varint at `pos`; returns [value, nextPos]. */
function varint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
    shift += 7;
  }
}

/** Calls `onField(fieldNumber, start, end)` for each length-delimited field of the message in buf[start, end). */
function eachMessageField(buf, start, end, onField) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(buf, pos);
    const wire = key & 7;
    if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      onField(key >>> 3, pos, pos + len);
      pos += len;
    } else if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Spans in a protobuf ExportTraceServiceRequest: resource_spans(1) → scope_spans(2) → spans(2). */
export function countProtobufSpans(buf) {
  let spans = 0;
  eachMessageField(buf, 0, buf.length, (f, s, e) => {
    if (f !== 1) return;
    eachMessageField(buf, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return;
      eachMessageField(buf, s2, e2, (f3) => {
        if (f3 === 2) spans++;
      });
    });
  });
  return spans;
}

/** Spans in an OTLP/JSON request body. */
export function countJsonSpans(text) {
  let spans = 0;
  const body = JSON.parse(text);
  for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += (ss.spans ?? []).length;
  return spans;
}

/** The number of spans in an uncompressed request body, JSON or protobuf by `contentType`. */
export function countSpans(body, contentType) {
  return String(contentType).includes('json') ? countJsonSpans(body.toString('utf8')) : countProtobufSpans(body);
}
