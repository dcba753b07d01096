// The real collector and the real Jaeger for a test file, on free loopback
// ports (scripts/stack-lib.mjs), and a small client for Jaeger's query API.
// The binaries are built by scripts/stack-build.sh when missing; a failed
// build fails the test file (CI runs `npm run stack:build` first).
import { JaegerClient, type JaegerSpan } from '../../src/cli/traces/jaeger';
import { startStack as startLocalStack, type Stack, type StartStackOptions } from '../../scripts/stack-lib.mjs';

export type { Stack } from '../../scripts/stack-lib.mjs';

/** Starts Jaeger and the collector on free ports; state and logs in a temp dir that stop() removes. */
export function startStack(options: Omit<StartStackOptions, 'freePorts'> = {}): Promise<Stack> {
  return startLocalStack({ env: {}, ...options, freePorts: true });
}

// Jaeger's query API through the same client the terminal commands use.
export { flattenTrace, type JaegerSpan } from '../../src/cli/traces/jaeger';

const client = (jaegerUrl: string) => new JaegerClient(jaegerUrl, { timeoutMs: 5_000 });

/** GET /api/services */
export function jaegerServices(jaegerUrl: string): Promise<string[]> {
  return client(jaegerUrl).services();
}

/** GET /api/traces/{id}: the trace's spans ([] while Jaeger has none). */
export async function jaegerTrace(jaegerUrl: string, traceId: string): Promise<JaegerSpan[]> {
  return (await client(jaegerUrl).trace(traceId)) ?? [];
}

/** GET /api/traces?service=…: every span of the service's recent traces (the last hour). */
export async function jaegerServiceSpans(jaegerUrl: string, service: string, limit = 1000): Promise<JaegerSpan[]> {
  return (await client(jaegerUrl).search({ service, limit, startMicros: (Date.now() - 3_600_000) * 1_000 })).flat();
}

/** Jaeger's raw answer for a trace (GET /api/traces/{id}): its spans with tags and logs (events); [] while Jaeger has none. */
export async function jaegerRawSpans(jaegerUrl: string, traceId: string): Promise<any[]> {
  const res = await fetch(`${jaegerUrl}/api/traces/${traceId}`, { signal: AbortSignal.timeout(5_000) });
  if (res.status === 404) return [];
  const body: any = await res.json();
  return body.data?.[0]?.spans ?? [];
}

/** A tag of a raw Jaeger span, and a field of one of its logs. */
export const tag = (span: any, key: string) => span.tags.find((t: any) => t.key === key)?.value;
export const field = (log: any, key: string) => log.fields.find((f: any) => f.key === key)?.value;

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
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of a metric's samples whose labels include `match`. */
export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}
