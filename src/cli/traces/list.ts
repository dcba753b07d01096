// `sidetrace traces`: recent traces, newest first, one line each; with
// --follow, new traces as they arrive (oldest first, like tail -f).
import { parseArgs } from 'node:util';
import { countFlag, durationFlag, JAEGER_OPTION, nowMicros, openSession, runCommand, usageError, servicesToSearch, UsageError } from './command';
import type { JaegerClient, JaegerSpan, SearchQuery } from './jaeger';
import { summarize, type TraceSummary } from './model';
import { fit, formatDuration, formatShortTime, padEnd, padStart, printable, type Colors } from './terminal';

export const TRACES_USAGE = `Usage: sidetrace traces [options]

Recent traces, newest first: start (UTC), duration, span count, root service
and operation, services touched, an error mark (✗) and the trace id.

Options:
  --service S        only traces with spans of service S (default: every service)
  --operation O      only traces with an operation O (span name)
  --since D          how far back to look (default 1h; e.g. 15m, 2h, 7d)
  --min-duration D   only traces with a span at least this long (e.g. 200ms)
  --errors           only traces with a span in error (among the newest 10 × limit)
  --tag k=v          only traces with a span (or resource) attribute k=v; repeatable
  --limit N          at most N traces (default 20)
  --follow           keep printing new traces as they arrive (Ctrl-C stops)
  --json             JSON for scripts (with --follow: one object per line)
  --jaeger URL       Jaeger's query service (default SIDETRACE_JAEGER_URL or http://localhost:16686)
`;

const FOLLOW_INTERVAL_MS = 2_000;
/** A trace seen this many polls without change is printed even when its root span has not arrived. */
const SETTLED_POLLS = 2;
const MAX_REMEMBERED = 10_000;
/** Traces per service and poll while following (the window is at most a minute). */
const FOLLOW_LIMIT = 500;
const PARALLEL_SEARCHES = 4;
const MAX_LIMIT = 1_500;

export interface ListFilters {
  services: string[];
  operation?: string;
  tags: Record<string, string>;
  minDurationMicros?: number;
  limit: number;
  /** Only traces with a span in error. */
  errors?: boolean;
}

/** How many more traces to ask for when --errors filters them here. */
const ERRORS_WIDENING = 10;

/** Summaries of the matching traces between two times, newest first, across the services. */
export async function findTraces(client: JaegerClient, f: ListFilters, startMicros: number, endMicros: number): Promise<TraceSummary[]> {
  const byId = new Map<string, JaegerSpan[]>();
  const queue = [...f.services];
  // Jaeger v2 derives its `error` tag from the span status when it reads a span, and its tag search does not see it
  // (2.13, memory storage): errors are picked here, from a wider search.
  const limit = f.errors ? Math.min(MAX_LIMIT, f.limit * ERRORS_WIDENING) : f.limit;
  const worker = async () => {
    for (let service = queue.shift(); service !== undefined; service = queue.shift()) {
      const q: SearchQuery = { service, operation: f.operation, tags: f.tags, startMicros, endMicros, minDurationMicros: f.minDurationMicros, limit };
      for (const spans of await client.search(q)) {
        const have = byId.get(spans[0].traceId);
        if (!have || have.length < spans.length) byId.set(spans[0].traceId, spans);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_SEARCHES, queue.length) }, worker));
  return [...byId.values()]
    .map(summarize)
    .filter((t) => !f.errors || t.errorCount > 0)
    .sort((a, b) => b.startMicros - a.startMicros || a.traceId.localeCompare(b.traceId));
}

export function tagsFrom(command: string, list: string[] | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of list ?? []) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`${command}: --tag ${JSON.stringify(t)} is not key=value`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return tags;
}

const TIME_WIDTH = 14;
const DURATION_WIDTH = 8;
const SPANS_WIDTH = 5;
const ID_WIDTH = 32;

const FIXED_WIDTH = TIME_WIDTH + DURATION_WIDTH + SPANS_WIDTH + ID_WIDTH + 2 * 4;

/**
 * The table's lines (no header): plain layout, coloured last. The root column takes what the fixed columns leave:
 * the root's service (left out when it is the one service searched) and operation, then the other services touched.
 */
export function traceLines(traces: TraceSummary[], width: number, c: Colors, searched?: string): string[] {
  const rootWidth = Math.max(20, width - FIXED_WIDTH);
  return traces.map((t) => {
    const others = t.services.filter((s) => s !== t.service);
    const root = t.service === searched ? t.operation : `${t.service}: ${t.operation}`;
    const text = `${t.errorCount ? '✗ ' : ''}${root}${t.partial ? ' (root missing)' : ''}${others.length ? `  +${others.join(', ')}` : ''}`;
    const cell = padEnd(fit(printable(text), rootWidth), rootWidth);
    return [
      c.dim(formatShortTime(t.startMicros)),
      padStart(formatDuration(t.durationMicros), DURATION_WIDTH),
      padStart(String(t.spanCount), SPANS_WIDTH),
      t.errorCount ? c.red(cell) : cell,
      c.cyan(t.traceId),
    ].join('  ');
  });
}

export function traceHeader(width: number, c: Colors): string {
  const rootWidth = Math.max(20, width - FIXED_WIDTH);
  return c.bold(
    [
      padEnd('START (UTC)', TIME_WIDTH),
      padStart('DURATION', DURATION_WIDTH),
      padStart('SPANS', SPANS_WIDTH),
      padEnd('ROOT  +OTHER SERVICES', rootWidth),
      'TRACE',
    ].join('  '),
  );
}

export function tracesMain(argv: string[]): Promise<number> {
  return runCommand(TRACES_USAGE, argv, async () => {
    const { values } = parseOptions(argv);
    const since = durationFlag('traces', 'since', values.since, '1h')!;
    const minDurationMicros = durationFlag('traces', 'min-duration', values['min-duration']);
    const limit = countFlag('traces', 'limit', values.limit, 20, MAX_LIMIT);
    const tags = tagsFrom('traces', values.tag);
    const { client, out, note } = openSession('traces', values.jaeger);
    const filters: ListFilters = {
      services: await servicesToSearch(client, values.service),
      operation: values.operation,
      tags,
      minDurationMicros,
      limit,
      errors: values.errors,
    };
    const c = out.colors;
    const end = nowMicros();
    const traces = (await findTraces(client, filters, end - since, end)).slice(0, limit);

    if (!values.follow) {
      if (values.json) out.write(`${JSON.stringify(traces, null, 2)}\n`);
      else if (traces.length === 0) note(`no traces in the last ${values.since ?? '1h'} match${describeFilters(values)}`);
      else out.write([traceHeader(out.width, c), ...traceLines(traces, out.width, c, values.service)].join('\n') + '\n');
      return 0;
    }
    return follow(client, filters, traces, end, Boolean(values.json), out, note, values.service);
  });
}

function describeFilters(v: { service?: string; operation?: string; errors?: boolean; tag?: string[]; 'min-duration'?: string }): string {
  const parts = [
    v.service && `service ${v.service}`,
    v.operation && `operation ${v.operation}`,
    v.errors && 'errors only',
    v['min-duration'] && `at least ${v['min-duration']}`,
    ...(v.tag ?? []),
  ].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

async function follow(
  client: JaegerClient,
  filters: ListFilters,
  initial: TraceSummary[],
  startedAt: number,
  json: boolean,
  out: ReturnType<typeof openSession>['out'],
  note: (line: string) => void,
  searched: string | undefined,
): Promise<number> {
  const c = out.colors;
  const printed = new Set<string>();
  const pending = new Map<string, { spans: number; polls: number }>();
  const print = (ts: TraceSummary[]) => {
    if (!ts.length) return;
    out.write((json ? ts.map((t) => JSON.stringify(t)) : traceLines(ts, out.width, c, searched)).join('\n') + '\n');
    for (const t of ts) printed.add(t.traceId);
    while (printed.size > MAX_REMEMBERED) printed.delete(printed.values().next().value as string);
  };
  if (!json) out.write(`${traceHeader(out.width, c)}\n`);
  print([...initial].reverse());
  note('following new traces (Ctrl-C stops)');

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Late spans: look back over a window, and print a trace once its root is in or it stops changing.
  let windowStart = startedAt - FOLLOW_INTERVAL_MS * 1_000 * 5;
  try {
    for (;;) {
      const wake = await Promise.race([stopped.then(() => 'stop'), new Promise((r) => setTimeout(() => r('poll'), FOLLOW_INTERVAL_MS))]);
      if (wake === 'stop') return 0;
      const end = nowMicros();
      let found: TraceSummary[];
      try {
        found = await findTraces(client, { ...filters, limit: Math.max(filters.limit, FOLLOW_LIMIT) }, windowStart, end);
      } catch (err) {
        note(`${(err as Error).message}; retrying`);
        continue;
      }
      const ready: TraceSummary[] = [];
      for (const t of found) {
        if (printed.has(t.traceId)) continue;
        const seen = pending.get(t.traceId);
        const polls = seen && seen.spans === t.spanCount ? seen.polls + 1 : 1;
        if (!t.partial || polls >= SETTLED_POLLS) {
          ready.push(t);
          pending.delete(t.traceId);
        } else pending.set(t.traceId, { spans: t.spanCount, polls });
      }
      print(ready.sort((a, b) => a.startMicros - b.startMicros));
      for (const id of [...pending.keys()].slice(0, Math.max(0, pending.size - MAX_REMEMBERED))) pending.delete(id);
      windowStart = Math.max(windowStart, end - 60_000_000);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function parseOptions(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        ...JAEGER_OPTION,
        service: { type: 'string' },
        operation: { type: 'string' },
        since: { type: 'string' },
        'min-duration': { type: 'string' },
        errors: { type: 'boolean' },
        tag: { type: 'string', multiple: true },
        limit: { type: 'string' },
        follow: { type: 'boolean' },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw usageError('traces', err);
  }
}
