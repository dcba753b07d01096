// A small client for Jaeger's HTTP query API (the API Jaeger's own UI uses:
// /api/services, /api/services/{svc}/operations, /api/traces,
// /api/traces/{id}), served by Jaeger v1 and v2 alike, and the flattened
// span model the terminal commands and the test suite read.

/** A problem the user can act on (Jaeger down, no such trace, a bad answer): one line, non-zero exit. */
export class QueryError extends Error {}

export interface JaegerLink {
  traceId: string;
  spanId: string;
}

export interface JaegerEvent {
  timeMicros: number;
  name: string;
  attributes: Record<string, unknown>;
}

export interface JaegerSpan {
  traceId: string;
  spanId: string;
  /** CHILD_OF reference; absent on a root span. */
  parentId?: string;
  /** FOLLOWS_FROM references: the span's links (OpenTelemetry links become these in Jaeger). */
  links: JaegerLink[];
  name: string;
  kind: string; // 'server' | 'client' | 'internal' | 'producer' | 'consumer' | ''
  service: string;
  /** Process tags other than the service name, i.e. the resource. */
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
  /** Span events (Jaeger "logs"); the event name is the `event` field. */
  events: JaegerEvent[];
  /** 'ERROR', 'OK' or '' (from Jaeger's otel.status_code tag). */
  status: string;
  /** The status description (otel.status_description), when there is one. */
  statusMessage?: string;
  startTimeMicros: number;
  durationMicros: number;
}

type JaegerTag = { key: string; value: unknown };
const tagsOf = (list: JaegerTag[] = []) => Object.fromEntries(list.map((t) => [t.key, t.value]));

/** One trace of Jaeger's answer, flattened: a span per entry with its process inlined. */
export function flattenTrace(trace: any): JaegerSpan[] {
  return (trace?.spans ?? []).map((s: any) => {
    const process = trace.processes?.[s.processID] ?? s.process ?? {};
    const attributes = tagsOf(s.tags);
    const refs: any[] = s.references ?? [];
    const parent = refs.find((r) => r.refType === 'CHILD_OF' && r.traceID === s.traceID);
    const span: JaegerSpan = {
      traceId: s.traceID,
      spanId: s.spanID,
      parentId: parent?.spanID,
      links: refs.filter((r) => r !== parent).map((r) => ({ traceId: r.traceID, spanId: r.spanID })),
      name: s.operationName,
      kind: String(attributes['span.kind'] ?? ''),
      service: process.serviceName,
      resource: tagsOf(process.tags),
      attributes,
      events: (s.logs ?? []).map((l: any) => {
        const { event, ...rest } = tagsOf(l.fields);
        return { timeMicros: l.timestamp, name: String(event ?? ''), attributes: rest };
      }),
      status: String(attributes['otel.status_code'] ?? ''),
      startTimeMicros: s.startTime,
      durationMicros: s.duration ?? 0,
    };
    if (attributes['otel.status_description'] !== undefined) span.statusMessage = String(attributes['otel.status_description']);
    return span;
  });
}

/** A trace id as Jaeger takes it: 1 to 32 hex digits (a 16-digit id is a 64-bit one). */
export const TRACE_ID = /^[0-9a-f]{1,32}$/i;

export interface SearchQuery {
  service: string;
  operation?: string;
  /** Exact-match tags (span attributes or resource attributes). */
  tags?: Record<string, string>;
  /** Microseconds since the epoch. */
  startMicros?: number;
  endMicros?: number;
  minDurationMicros?: number;
  limit?: number;
}

export interface JaegerClientOptions {
  /** Headers for an authenticated endpoint; values are never put in an error message. */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export class JaegerClient {
  readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(url: string, options: JaegerClientOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.headers = { accept: 'application/json', ...options.headers };
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** GET a query API path; 404 → undefined. */
  async get(pathAndQuery: string): Promise<any | undefined> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${pathAndQuery}`, { headers: this.headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new QueryError(`cannot reach Jaeger at ${this.url} (${why}); start it (npm run stack) or point SIDETRACE_JAEGER_URL / --jaeger at it`);
    }
    const text = await res.text();
    let body: any;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = undefined;
    }
    if (res.status === 404) return undefined;
    if (res.status === 401 || res.status === 403) {
      throw new QueryError(`Jaeger at ${this.url} refused the query (HTTP ${res.status}); set its credentials in SIDETRACE_JAEGER_HEADERS`);
    }
    if (!res.ok || body === undefined) {
      const said = body?.errors?.map((e: any) => e.msg).join('; ') || text.slice(0, 200).replace(/\s+/g, ' ');
      throw new QueryError(
        `Jaeger at ${this.url} answered ${pathAndQuery.split('?')[0]} with HTTP ${res.status}${said ? `: ${said}` : ''}` +
          `${body === undefined ? " (not JSON: is this Jaeger's query port?)" : ''}`,
      );
    }
    return body;
  }

  async services(): Promise<string[]> {
    const body = await this.get('/api/services');
    return [...((body?.data as string[] | null) ?? [])].sort();
  }

  async operations(service: string): Promise<string[]> {
    const body = await this.get(`/api/services/${encodeURIComponent(service)}/operations`);
    return [...((body?.data as string[] | null) ?? [])].sort();
  }

  /** GET /api/traces/{id}: the trace's spans, undefined when Jaeger has no such trace. */
  async trace(traceId: string): Promise<JaegerSpan[] | undefined> {
    const body = await this.get(`/api/traces/${encodeURIComponent(traceId)}`);
    const spans = ((body?.data ?? []) as any[]).flatMap(flattenTrace);
    return spans.length ? spans : undefined;
  }

  /** GET /api/traces?…: each matching trace as its spans (every span of it, not only the matching ones). */
  async search(q: SearchQuery): Promise<JaegerSpan[][]> {
    const params = new URLSearchParams({ service: q.service });
    if (q.operation) params.set('operation', q.operation);
    if (q.tags && Object.keys(q.tags).length) params.set('tags', JSON.stringify(q.tags));
    if (q.startMicros !== undefined) params.set('start', String(Math.floor(q.startMicros)));
    if (q.endMicros !== undefined) params.set('end', String(Math.ceil(q.endMicros)));
    if (q.minDurationMicros !== undefined) params.set('minDuration', `${Math.round(q.minDurationMicros)}us`);
    params.set('limit', String(q.limit ?? 20));
    const body = await this.get(`/api/traces?${params}`);
    return ((body?.data ?? []) as any[]).map(flattenTrace).filter((t) => t.length > 0);
  }
}
