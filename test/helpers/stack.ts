// The real collector and the real Jaeger for a test file, on free loopback
// ports (scripts/stack-lib.mjs), and a small client for Jaeger's query API.
// The binaries are built by scripts/stack-build.sh when missing; a failed
// build fails the test file (CI runs `npm run stack:build` first).
import { startStack as startLocalStack, type Stack, type StartStackOptions } from '../../scripts/stack-lib.mjs';

export type { Stack } from '../../scripts/stack-lib.mjs';

/** Starts Jaeger and the collector on free ports; state and logs in a temp dir that stop() removes. */
export function startStack(options: Omit<StartStackOptions, 'freePorts'> = {}): Promise<Stack> {
  return startLocalStack({ env: {}, ...options, freePorts: true });
}

export interface JaegerSpan {
  traceId: string;
  spanId: string;
  /** CHILD_OF reference; absent on a root span. */
  parentId?: string;
  name: string;
  kind: string; // 'server' | 'client' | 'internal' | 'producer' | 'consumer' | ''
  service: string;
  /** Process tags other than the service name, i.e. the resource. */
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
  /** 'ERROR', 'OK' or '' (from Jaeger's otel.status_code tag). */
  status: string;
  startTimeMicros: number;
}

type JaegerTag = { key: string; value: unknown };

/** One trace of Jaeger's /api/traces answer, flattened: a span per entry with its process inlined. */
export function flattenTrace(trace: any): JaegerSpan[] {
  const tags = (list: JaegerTag[] = []) => Object.fromEntries(list.map((t) => [t.key, t.value]));
  return (trace.spans ?? []).map((s: any) => {
    const process = trace.processes?.[s.processID] ?? {};
    const attributes = tags(s.tags);
    return {
      traceId: s.traceID,
      spanId: s.spanID,
      parentId: (s.references ?? []).find((r: any) => r.refType === 'CHILD_OF')?.spanID,
      name: s.operationName,
      kind: String(attributes['span.kind'] ?? ''),
      service: process.serviceName,
      resource: tags(process.tags),
      attributes,
      status: String(attributes['otel.status_code'] ?? ''),
      startTimeMicros: s.startTime,
    };
  });
}

async function jaegerGet(jaegerUrl: string, pathAndQuery: string): Promise<any> {
  const res = await fetch(`${jaegerUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(5_000) });
  const body: any = await res.json().catch(() => ({}));
  if (res.status === 404) return { data: [] };
  if (!res.ok) throw new Error(`Jaeger ${pathAndQuery} answered ${res.status}: ${JSON.stringify(body.errors ?? body)}`);
  return body;
}

/** GET /api/services */
export async function jaegerServices(jaegerUrl: string): Promise<string[]> {
  return (await jaegerGet(jaegerUrl, '/api/services')).data ?? [];
}

/** GET /api/traces/{id}: the trace's spans ([] while Jaeger has none). */
export async function jaegerTrace(jaegerUrl: string, traceId: string): Promise<JaegerSpan[]> {
  return ((await jaegerGet(jaegerUrl, `/api/traces/${traceId}`)).data ?? []).flatMap(flattenTrace);
}

/** GET /api/traces?service=…: every span of the service's recent traces. */
export async function jaegerServiceSpans(jaegerUrl: string, service: string, limit = 1000): Promise<JaegerSpan[]> {
  const q = new URLSearchParams({ service, limit: String(limit), lookback: '1h' });
  return ((await jaegerGet(jaegerUrl, `/api/traces?${q}`)).data ?? []).flatMap(flattenTrace);
}

/** Polls `read` until `ready` holds; on timeout throws with `describe` of the last value. */
export async function waitFor<T>(
  read: () => Promise<T>,
  ready: (value: T) => boolean,
  { timeoutMs = 20_000, intervalMs = 200, what = 'condition', describe = (v: T) => JSON.stringify(v)?.slice(0, 2_000) } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ready(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describe(value)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Sample values of a Prometheus text exposition, by metric name (labels kept). */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export async function scrape(metricsUrl: string): Promise<Sample[]> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`${metricsUrl} answered ${res.status}`);
  return parsePrometheusText(await res.text());
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of a metric's samples whose labels include `match`. */
export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
