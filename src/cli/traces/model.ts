// A trace as a tree, and the one-line summary `sidetrace traces` prints:
// both built from the flattened spans Jaeger returns.
import type { JaegerSpan } from './jaeger';

export interface SpanNode {
  span: JaegerSpan;
  children: SpanNode[];
  /** Its parent span is named but not in the trace (not arrived yet, or dropped). */
  orphan: boolean;
}

export interface TraceTree {
  traceId: string;
  /** Roots by start time: the real root first when there is one, then orphans. */
  roots: SpanNode[];
  startMicros: number;
  endMicros: number;
  spanCount: number;
}

const byStart = (a: SpanNode, b: SpanNode) =>
  a.span.startTimeMicros - b.span.startTimeMicros || (a.span.name < b.span.name ? -1 : a.span.name > b.span.name ? 1 : 0);

export function buildTree(spans: JaegerSpan[]): TraceTree {
  const nodes = new Map<string, SpanNode>();
  for (const span of spans) if (!nodes.has(span.spanId)) nodes.set(span.spanId, { span, children: [], orphan: false });
  const roots: SpanNode[] = [];
  for (const node of nodes.values()) {
    const parentId = node.span.parentId;
    const parent = parentId && parentId !== node.span.spanId ? nodes.get(parentId) : undefined;
    if (parent) parent.children.push(node);
    else {
      node.orphan = parentId !== undefined;
      roots.push(node);
    }
  }
  // A cycle of parent ids (corrupt data) would leave spans unreachable from any root: make them roots.
  const reached = new Set<SpanNode>();
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    if (reached.has(n)) continue;
    reached.add(n);
    stack.push(...n.children);
  }
  for (const node of nodes.values()) {
    if (reached.has(node)) continue;
    const parent = nodes.get(node.span.parentId!);
    if (parent) parent.children = parent.children.filter((c) => c !== node);
    node.orphan = true;
    roots.push(node);
    const again = [node];
    while (again.length) {
      const n = again.pop()!;
      if (reached.has(n)) continue;
      reached.add(n);
      again.push(...n.children);
    }
  }
  for (const node of nodes.values()) node.children.sort(byStart);
  roots.sort((a, b) => Number(a.orphan) - Number(b.orphan) || byStart(a, b));
  let start = Infinity;
  let end = -Infinity;
  for (const { span } of nodes.values()) {
    start = Math.min(start, span.startTimeMicros);
    end = Math.max(end, span.startTimeMicros + span.durationMicros);
  }
  return { traceId: spans[0]?.traceId ?? '', roots, startMicros: start, endMicros: end, spanCount: nodes.size };
}

export function isError(span: JaegerSpan): boolean {
  return span.status === 'ERROR' || span.attributes.error === true || span.attributes.error === 'true';
}

/** What went wrong in a span, in one line: its exception event, else its status description. */
export function errorMessage(span: JaegerSpan): string | undefined {
  const exception = span.events.find((e) => e.name === 'exception');
  if (exception) {
    const type = exception.attributes['exception.type'];
    const message = exception.attributes['exception.message'];
    if (type !== undefined || message !== undefined) return [type, message].filter((v) => v !== undefined && v !== '').join(': ');
  }
  return span.statusMessage || undefined;
}

export interface TraceSummary {
  traceId: string;
  startMicros: number;
  durationMicros: number;
  /** The root span's service and name (the earliest span when the root has not arrived). */
  service: string;
  operation: string;
  /** The root span was not in the trace. */
  partial: boolean;
  spanCount: number;
  errorCount: number;
  /** Services touched, the root's first. */
  services: string[];
}

export function summarize(spans: JaegerSpan[]): TraceSummary {
  const tree = buildTree(spans);
  const root = tree.roots[0]?.span;
  const services = [...new Set([root?.service, ...spans.map((s) => s.service)].filter((s): s is string => !!s))];
  return {
    traceId: tree.traceId,
    startMicros: tree.startMicros,
    durationMicros: tree.endMicros - tree.startMicros,
    service: root?.service ?? '',
    operation: root?.name ?? '',
    partial: tree.roots[0]?.orphan ?? true,
    spanCount: tree.spanCount,
    errorCount: spans.filter(isError).length,
    services,
  };
}
