// A real OTLP/HTTP trace receiver for tests: it decodes what is really sent
// (protobuf or JSON, gzip or not) and, in New Relic mode, checks what New
// Relic's OTLP endpoint requires. It can also fail on cue (down, hang, status).
import http from 'node:http';
import zlib from 'node:zlib';
import { AddressInfo, Socket } from 'node:net';
import protobuf from 'protobufjs';

// The subset of opentelemetry-proto (v1) that the receiver decodes: trace
// export requests and the common/resource messages they use. Inline, so the
// helper works from CommonJS and ESM callers alike.
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

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number; // 1 internal, 2 server, 3 client, 4 producer, 5 consumer
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: { name: string; attributes: Attributes }[];
  links: { traceId: string; spanId: string; attributes: Attributes }[];
  status: { code: number; message: string }; // 0 unset, 1 ok, 2 error
  resource: Attributes;
  scope: { name: string; version: string };
}

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  contentType: string;
  gzip: boolean;
  wireBytes: number;
  bodyBytes: number;
  spanCount: number;
  status: number;
}

/** 'ok' answers 200; 'down' resets every connection; 'hang' accepts and never answers; a number answers that status. */
export type ReceiverMode = 'ok' | 'down' | 'hang' | number;

export interface NewRelicRules {
  apiKey: string;
  maxBodyBytes?: number; // New Relic: payloads under 1 MB
  maxAttributeLength?: number; // New Relic: attribute values at most 4095 characters
}

export interface OtlpReceiverOptions {
  port?: number;
  newRelic?: NewRelicRules;
}

export interface OtlpReceiver {
  url: string; // http://127.0.0.1:PORT (append /v1/traces for a traces endpoint)
  port: number;
  spans: ReceivedSpan[];
  requests: ReceivedRequest[];
  violations: string[];
  setMode(mode: ReceiverMode): void;
  waitForSpans(predicate: (s: ReceivedSpan) => boolean, opts?: { count?: number; timeoutMs?: number }): Promise<ReceivedSpan[]>;
  clear(): void;
  close(): Promise<void>;
}

const NR_MAX_BODY = 1_000_000;
const NR_MAX_ATTR = 4095;

function hex(v: unknown): string {
  if (!v) return '';
  if (typeof v === 'string') return v.toLowerCase(); // OTLP/JSON carries ids as hex
  return Buffer.from(v as Uint8Array).toString('hex');
}

function bigintOf(v: unknown): bigint {
  if (v === undefined || v === null) return 0n;
  return BigInt(String(v));
}

function anyValue(v: any): AttributeValue {
  if (!v) return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.intValue !== undefined && v.intValue !== null) return Number(String(v.intValue));
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributesOf(v.kvlistValue.values) as AttributeValue;
  if (v.bytesValue) return hex(v.bytesValue);
  return null;
}

function attributesOf(list: any[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

function normalise(request: any): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
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
          events: (s.events ?? []).map((e: any) => ({ name: e.name ?? '', attributes: attributesOf(e.attributes) })),
          links: (s.links ?? []).map((l: any) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: attributesOf(l.attributes) })),
          status: { code: Number(s.status?.code ?? 0), message: s.status?.message ?? '' },
          resource,
          scope,
        });
      }
    }
  }
  return spans;
}

function longAttributes(span: ReceivedSpan, max: number): string[] {
  const found: string[] = [];
  const check = (where: string, attrs: Attributes) => {
    for (const [k, v] of Object.entries(attrs)) {
      if (typeof v === 'string' && v.length > max) found.push(`${where} attribute ${k} has ${v.length} characters`);
    }
  };
  check(`span ${span.name}`, span.attributes);
  check('resource', span.resource);
  for (const e of span.events) check(`event ${e.name}`, e.attributes);
  return found;
}

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: ReceivedRequest[] = [];
  const violations: string[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<http.ServerResponse>();
  let mode: ReceiverMode = 'ok';
  let waiters: (() => void)[] = [];
  const nr = options.newRelic;

  const server = http.createServer((req, res) => {
    if (mode === 'down') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const wire = Buffer.concat(chunks);
      const gzip = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
      const contentType = String(req.headers['content-type'] ?? '');
      const record: ReceivedRequest = {
        path: req.url ?? '',
        headers: req.headers,
        contentType,
        gzip,
        wireBytes: wire.length,
        bodyBytes: 0,
        spanCount: 0,
        status: 200,
      };
      requests.push(record);
      if (mode === 'hang') {
        hanging.add(res);
        return;
      }
      if (typeof mode === 'number') {
        record.status = mode;
        res.writeHead(mode, mode === 429 || mode === 503 ? { 'retry-after': '1' } : {}).end();
        return;
      }
      const reject = (status: number, why: string) => {
        violations.push(why);
        record.status = status;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(why);
      };
      if (nr) {
        if (req.headers['api-key'] !== nr.apiKey) return reject(403, `api-key header missing or wrong on ${req.url}`);
        if (!gzip) return reject(400, 'request body is not gzip-compressed');
        if (wire.length >= (nr.maxBodyBytes ?? NR_MAX_BODY)) return reject(413, `request body of ${wire.length} bytes is not under 1 MB`);
        if (!contentType.includes('protobuf')) return reject(415, `content-type ${contentType} is not protobuf`);
      }
      if (req.url !== '/v1/traces') return reject(404, `unexpected path ${req.url}`);
      let decoded: any;
      try {
        const body = gzip ? zlib.gunzipSync(wire) : wire;
        record.bodyBytes = body.length;
        decoded = contentType.includes('json')
          ? JSON.parse(body.toString('utf8'))
          : ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, defaults: false });
      } catch (err) {
        return reject(400, `undecodable body: ${(err as Error).message}`);
      }
      const got = normalise(decoded);
      record.spanCount = got.length;
      if (nr) for (const s of got) violations.push(...longAttributes(s, nr.maxAttributeLength ?? NR_MAX_ATTR));
      spans.push(...got);
      res.writeHead(200, { 'content-type': contentType.includes('json') ? 'application/json' : 'application/x-protobuf' });
      res.end(contentType.includes('json') ? '{}' : undefined);
      const w = waiters;
      waiters = [];
      for (const wake of w) wake();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    spans,
    requests,
    violations,
    setMode(m) {
      mode = m;
      if (m !== 'hang') {
        for (const r of hanging) r.socket?.destroy();
        hanging.clear();
      }
    },
    clear() {
      spans.length = 0;
      requests.length = 0;
      violations.length = 0;
    },
    async waitForSpans(predicate, opts = {}) {
      const count = opts.count ?? 1;
      const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
      for (;;) {
        const found = spans.filter(predicate);
        if (found.length >= count) return found;
        const left = deadline - Date.now();
        if (left <= 0) {
          const names = spans.map((s) => s.name).join(', ');
          throw new Error(`timed out waiting for ${count} matching span(s); got ${found.length}; received so far: [${names}]`);
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 250));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
