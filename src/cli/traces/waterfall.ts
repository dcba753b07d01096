// The waterfall `sidetrace trace <id>` prints: the span tree with a timing
// bar per span scaled to the output's width, the service where it changes,
// the duration; errors marked with their message; links shown. A pure
// function of the spans and the options, so it is tested on fixed data.
//
// Thousands of spans stay readable: five or more siblings with the same
// service and name collapse into one line with their count, average and
// maximum (`× 1000 SELECT users  avg 2.1 ms  max 9.8 ms`), and their
// children are counted, not printed.
import type { Colors } from './terminal';
import type { JaegerSpan } from './jaeger';
import { buildTree, errorMessage, isError, type SpanNode, type TraceTree } from './model';
import { PLAIN, columns, fit, formatDuration, formatTime, formatValue, padStart, printable } from './terminal';

export interface WaterfallOptions {
  width: number;
  colors?: Colors;
  /** Attributes and events under each span. */
  attrs?: boolean;
  /** Levels shown (1 = the roots only); deeper spans are counted. Default: all. */
  depth?: number;
  /** Siblings alike (same service and name) that collapse into one line. Default 5. */
  collapseAt?: number;
}

/** Tags Jaeger or the SDK add that a reader gets elsewhere (kind, status) or never needs. */
const HIDDEN_ATTRIBUTES = new Set([
  'span.kind',
  'otel.status_code',
  'otel.status_description',
  'error',
  'internal.span.format',
  'otel.scope.name',
  'otel.scope.version',
]);
const DURATION_WIDTH = 9;
const MIN_BAR = 10;
/** Lines an attribute value may take with --attrs; the rest is counted. */
const MAX_WRAPPED = 4;

interface Row {
  /** Tree prefix (├─ etc.), plain. */
  prefix: string;
  /** The label after the prefix, plain, and how to colour it. */
  label: string;
  paint: (s: string) => string;
  /** Dim text after the label (service, collapse statistics). */
  note?: string;
  duration?: number;
  bar?: { start: number; end: number; kind: 'span' | 'group'; error: boolean };
  /** Lines under the row (errors, links, attributes), already laid out as plain text with their colour. */
  details: { text: string; paint: (s: string) => string; wrap?: boolean }[];
  /** Prefix that continues the tree under this row, for its details. */
  childPrefix: string;
  /** Rows follow that hang under this one (its details continue the tree line). */
  hasChildren: boolean;
}

export function renderWaterfall(spans: JaegerSpan[], options: WaterfallOptions): string[] {
  const c = options.colors ?? PLAIN;
  const tree = buildTree(spans);
  if (tree.spanCount === 0) return [];
  const rows = layoutRows(tree, options, c);
  return [...header(tree, spans, options.width, c), ...draw(rows, tree, options.width, c)];
}

function header(tree: TraceTree, spans: JaegerSpan[], width: number, c: Colors): string[] {
  const root = tree.roots[0].span;
  const errors = spans.filter(isError).length;
  const services = new Set(spans.map((s) => s.service));
  const facts = [
    `${formatTime(tree.startMicros)} UTC`,
    formatDuration(tree.endMicros - tree.startMicros),
    `${tree.spanCount} span${tree.spanCount === 1 ? '' : 's'}`,
    `${services.size} service${services.size === 1 ? '' : 's'}`,
  ];
  const title = `trace ${tree.traceId}`;
  const lines = [`${c.bold(title)}  ${fit(printable(`${root.service}: ${root.name}`), Math.max(1, width - columns(title) - 2))}`];
  const errorText = errors ? `${errors} error${errors === 1 ? '' : 's'}` : '';
  const factsText = fit(facts.join(' · '), width - (errorText ? columns(errorText) + 2 : 0));
  lines.push(c.dim(factsText) + (errorText ? `  ${c.red(errorText)}` : ''));
  if (tree.roots[0].orphan) lines.push(c.yellow(`the root span is not in Jaeger (yet); showing the spans that are`));
  return lines;
}

function layoutRows(tree: TraceTree, options: WaterfallOptions, c: Colors): Row[] {
  const rows: Row[] = [];
  const collapseAt = Math.max(2, options.collapseAt ?? 5);
  const maxDepth = options.depth ?? Infinity;

  const visit = (node: SpanNode, prefix: string, childPrefix: string, depth: number, parentService: string | undefined) => {
    const span = node.span;
    const error = isError(span);
    const row: Row = {
      prefix,
      label: `${error ? '✗ ' : ''}${printable(span.name)}`,
      paint: error ? c.red : (s) => s,
      note: span.service !== parentService ? printable(span.service) : undefined,
      duration: span.durationMicros,
      bar: { start: span.startTimeMicros, end: span.startTimeMicros + span.durationMicros, kind: 'span', error },
      details: [],
      childPrefix,
      hasChildren: node.children.length > 0,
    };
    if (node.orphan) row.details.push({ text: `parent span ${span.parentId} is not in this trace`, paint: c.yellow });
    if (error) {
      const message = errorMessage(span);
      if (message) row.details.push({ text: `! ${printable(message)}`, paint: c.red });
    }
    for (const link of span.links) {
      const here = link.traceId === span.traceId;
      row.details.push({ text: `↪ link to ${here ? `span ${link.spanId} in this trace` : `trace ${link.traceId} (span ${link.spanId})`}`, paint: c.cyan });
    }
    if (options.attrs) row.details.push(...attributeLines(span, c));
    rows.push(row);

    if (node.children.length === 0) return;
    if (depth + 1 >= maxDepth) {
      const hidden = countBelow(node);
      rows.push(textRow(`${childPrefix}└─ `, `… ${hidden} span${hidden === 1 ? '' : 's'} below (--depth ${maxDepth})`, c.dim, `${childPrefix}   `));
      return;
    }
    const entries = groupSiblings(node.children, collapseAt);
    entries.forEach((entry, i) => {
      const last = i === entries.length - 1;
      const branch = `${childPrefix}${last ? '└─ ' : '├─ '}`;
      const under = `${childPrefix}${last ? '   ' : '│  '}`;
      if (entry.length === 1) visit(entry[0], branch, under, depth + 1, span.service);
      else rows.push(groupRow(entry, branch, under, span.service, c));
    });
  };
  for (const root of tree.roots) visit(root, '', '', 0, undefined);
  return rows;
}

/** Children in start order; a service+name shared by `collapseAt` or more siblings becomes one entry, at its first member. */
function groupSiblings(children: SpanNode[], collapseAt: number): SpanNode[][] {
  const byKey = new Map<string, SpanNode[]>();
  for (const child of children) {
    const key = `${child.span.service}\u0000${child.span.name}`;
    const list = byKey.get(key);
    if (list) list.push(child);
    else byKey.set(key, [child]);
  }
  const entries: SpanNode[][] = [];
  const placed = new Set<string>();
  for (const child of children) {
    const key = `${child.span.service}\u0000${child.span.name}`;
    const group = byKey.get(key)!;
    if (group.length >= collapseAt) {
      if (!placed.has(key)) entries.push(group);
      placed.add(key);
    } else entries.push([child]);
  }
  return entries;
}

function groupRow(group: SpanNode[], prefix: string, childPrefix: string, parentService: string, c: Colors): Row {
  let total = 0;
  let max = 0;
  let start = Infinity;
  let end = -Infinity;
  let below = 0;
  const errors: JaegerSpan[] = [];
  for (const { span } of group) {
    total += span.durationMicros;
    max = Math.max(max, span.durationMicros);
    start = Math.min(start, span.startTimeMicros);
    end = Math.max(end, span.startTimeMicros + span.durationMicros);
    if (isError(span)) errors.push(span);
  }
  for (const node of group) below += countBelow(node);
  const first = group[0].span;
  const stats = [`avg ${formatDuration(total / group.length)}`, `max ${formatDuration(max)}`];
  if (first.service !== parentService) stats.unshift(printable(first.service));
  if (below) stats.push(`+${below} span${below === 1 ? '' : 's'} below`);
  const row: Row = {
    prefix,
    label: `× ${group.length} ${errors.length ? '✗ ' : ''}${printable(first.name)}`,
    paint: errors.length ? c.red : (s) => s,
    note: stats.join('  '),
    bar: { start, end, kind: 'group', error: errors.length > 0 },
    details: [],
    childPrefix,
    hasChildren: false,
  };
  if (errors.length) {
    const message = errorMessage(errors[0]);
    row.details.push({ text: `! ${errors.length} of ${group.length} failed${message ? `; first: ${printable(message)}` : ''}`, paint: c.red });
  }
  return row;
}

function textRow(prefix: string, label: string, paint: (s: string) => string, childPrefix: string): Row {
  return { prefix, label, paint, details: [], childPrefix, hasChildren: false };
}

function countBelow(node: SpanNode): number {
  let n = 0;
  const stack = [...node.children];
  while (stack.length) {
    const next = stack.pop()!;
    n++;
    for (const child of next.children) stack.push(child);
  }
  return n;
}

function attributeLines(span: JaegerSpan, c: Colors): Row['details'] {
  const lines: Row['details'] = [];
  const keys = Object.keys(span.attributes)
    .filter((k) => !HIDDEN_ATTRIBUTES.has(k))
    .sort();
  for (const k of keys) lines.push({ text: `${printable(k)} = ${formatValue(span.attributes[k])}`, paint: c.dim, wrap: true });
  for (const event of span.events) {
    const at = formatDuration(event.timeMicros - span.startTimeMicros);
    const attrs = Object.entries(event.attributes).map(([k, v]) => `${printable(k)}=${formatValue(v)}`);
    lines.push({ text: `• +${at} ${printable(event.name)}${attrs.length ? `  ${attrs.join(' ')}` : ''}`, paint: c.dim, wrap: true });
  }
  return lines;
}

function draw(rows: Row[], tree: TraceTree, width: number, c: Colors): string[] {
  const total = Math.max(1, tree.endMicros - tree.startMicros);
  const longest = rows.reduce((m, r) => Math.max(m, columns(r.prefix) + columns(r.label) + (r.note ? 2 + columns(r.note) : 0)), 0);
  // label, two spaces, duration, one space, bar (at least a fifth of the width)
  const labelWidth = Math.max(20, Math.min(longest, width - DURATION_WIDTH - 3 - Math.max(MIN_BAR, Math.floor(width * 0.2))));
  const barWidth = Math.max(MIN_BAR, width - labelWidth - DURATION_WIDTH - 3);

  const scaleLeft = '0';
  const scaleRight = formatDuration(total);
  const lines = [`${' '.repeat(labelWidth + DURATION_WIDTH + 3)}${c.dim(scaleLeft + padStart(scaleRight, barWidth - scaleLeft.length))}`];

  for (const row of rows) {
    const labelRoom = labelWidth - columns(row.prefix);
    const label = fit(row.label, labelRoom);
    const noteRoom = labelRoom - columns(label) - 2;
    const note = row.note && noteRoom >= 4 ? fit(row.note, noteRoom) : '';
    const plainLabel = note ? `${label}  ${note}` : label;
    const padding = ' '.repeat(Math.max(0, labelRoom - columns(plainLabel)));
    const duration = row.duration === undefined ? '' : formatDuration(row.duration);
    let line = `${c.dim(row.prefix)}${row.paint(label)}${note ? `  ${c.dim(note)}` : ''}${padding}  ${padStart(duration, DURATION_WIDTH)}`;
    if (row.bar) line += ` ${bar(row.bar, tree.startMicros, total, barWidth, c)}`;
    lines.push(line.trimEnd());
    for (const detail of row.details) {
      const indent = `${row.childPrefix}${row.hasChildren ? '│ ' : '  '} `;
      const room = Math.max(10, width - columns(indent));
      for (const part of detail.wrap ? wrap(detail.text, room) : [fit(detail.text, room)]) lines.push(`${c.dim(indent)}${detail.paint(part)}`);
    }
  }
  return lines;
}

/** Cut into lines of `width` code points, continuation lines indented by two, at most MAX_WRAPPED lines. */
function wrap(text: string, width: number): string[] {
  const chars = [...text];
  if (chars.length <= width) return [text];
  const out = [chars.slice(0, width).join('')];
  let i = width;
  for (; i < chars.length && out.length < MAX_WRAPPED; i += width - 2) out.push(`  ${chars.slice(i, i + width - 2).join('')}`);
  if (i < chars.length) {
    const more = ` … (+${chars.length - i} characters)`;
    const last = [...out[out.length - 1]];
    out[out.length - 1] = last.slice(0, Math.max(2, width - more.length)).join('') + more;
  }
  return out;
}

function bar(b: NonNullable<Row['bar']>, t0: number, total: number, width: number, c: Colors): string {
  const from = Math.min(width - 1, Math.max(0, Math.floor(((b.start - t0) / total) * width)));
  const to = Math.min(width, Math.max(from + 1, Math.ceil(((b.end - t0) / total) * width)));
  const body = (b.kind === 'group' ? '▒' : '█').repeat(to - from);
  const paint = b.error ? c.red : b.kind === 'group' ? c.cyan : c.green;
  return `${' '.repeat(from)}${paint(body)}`;
}
