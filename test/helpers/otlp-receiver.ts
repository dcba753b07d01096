// A real OTLP/HTTP trace receiver for tests: it decodes what is really sent
// (protobuf or JSON, gzip or not) and, in New Relic mode, checks what New
// Relic's OTLP endpoint requires. It can also fail on cue (down, hang, status).
import http from 'node:http';
import zlib from 'node:zlib';
import { AddressInfo, Socket } from 'node:net';
import { decodeTraceRequest, type Attributes, type ReceivedSpan } from './otlp-decode.mjs';

export type { AttributeValue, Attributes, ReceivedSpan } from './otlp-decode.mjs';

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
      let got: ReceivedSpan[];
      try {
        const body = gzip ? zlib.gunzipSync(wire) : wire;
        record.bodyBytes = body.length;
        got = decodeTraceRequest(body, contentType);
      } catch (err) {
        return reject(400, `undecodable body: ${(err as Error).message}`);
      }
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

/** What must be equal between sidetrace's and upstream's client span for the same call: everything but ids, times and stack traces. */
export function comparableClientSpan(span: ReceivedSpan) {
  return {
    name: span.name,
    kind: span.kind,
    status: span.status,
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, attributes: { ...e.attributes, 'exception.stacktrace': typeof e.attributes['exception.stacktrace'] } })),
  };
}
