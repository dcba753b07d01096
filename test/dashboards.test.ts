// The dashboards (dashboards/newrelic, dashboards/grafana) against what sidetrace
// really emits, and scripts/newrelic-dashboards.mjs against a local NerdGraph.
//
// End to end: the demo app and its traffic, a failing health check, a small
// migration (a batch that throws, records that fail) and two deploys (one with a
// step, one failed), all under the preload or the CLI, all exporting to the real
// collector. The collector's New Relic pipeline sends to a real OTLP receiver
// (what New Relic would get); its span metrics endpoint is scraped. Every
// attribute a NRQL query names must be on those spans; every metric and label a
// Grafana query names must be in that scrape.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDemoApp, type DemoApp } from '../scripts/demo-lib.mjs';
import { runTraffic } from '../scripts/demo-traffic.mjs';
import { main as dashboardsMain } from '../scripts/newrelic-dashboards.mjs';
import { FIXTURES, ROOT, startApp, type RunningApp } from './helpers/app';
import { CLI, run } from './helpers/deploy';
import { startFixture } from './helpers/migration-fixtures';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { useServices } from './helpers/services';
import { scrape, startStack, waitFor, type Sample, type Stack } from './helpers/stack';

const NR_DIR = path.join(ROOT, 'dashboards', 'newrelic');
const GRAFANA_DIR = path.join(ROOT, 'dashboards', 'grafana');
const jsonFiles = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const nrDashboards = jsonFiles(NR_DIR).map((f) => ({ file: f, d: readJson(path.join(NR_DIR, f)) }));
const grafanaDashboards = jsonFiles(GRAFANA_DIR).map((f) => ({ file: f, d: readJson(path.join(GRAFANA_DIR, f)) }));

// ---------------------------------------------------------------------------
// NRQL: the attributes and literal values a query names.

const NRQL_KEYWORDS = new Set(
  'SELECT FROM WHERE FACET TIMESERIES SINCE UNTIL AGO LIMIT AS AND OR NOT IS NULL IN LIKE RLIKE COMPARE WITH ORDER BY ASC DESC MAX AUTO TRUE FALSE EXTRAPOLATE SLIDE CASES TIMEZONE NOW TODAY YESTERDAY'.split(
    ' ',
  ),
);
const NRQL_UNITS = /^(second|minute|hour|day|week|month)s?$/i;
const NRQL_FUNCTIONS = new Set(
  'count rate percentage percentile average sum max min latest earliest uniqueCount uniques filter numeric median stddev cardinality if round floor ceil abs'.split(
    ' ',
  ),
);

interface NrqlRef {
  eventTypes: string[];
  attributes: Set<string>;
  /** attr = 'x' / attr IN ('x', …) / attr LIKE 'x%' */
  literals: { attr: string; like: boolean; value: string }[];
}

function parseNrql(query: string): NrqlRef {
  const tokens: { t: 'name' | 'tick' | 'str' | 'num' | 'op'; v: string }[] = [];
  const re = /\s+|`([^`]+)`|'((?:[^'\\]|\\.)*)'|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_.]*)|(!=|<>|>=|<=|=|<|>|\(|\)|,|\*|\/|\+|-|%)/y;
  for (let m: RegExpExecArray | null; re.lastIndex < query.length; ) {
    const at = re.lastIndex;
    if (!(m = re.exec(query))) throw new Error(`NRQL: cannot read ${JSON.stringify(query.slice(at, at + 20))} in: ${query}`);
    if (m[1] !== undefined) tokens.push({ t: 'tick', v: m[1] });
    else if (m[2] !== undefined) tokens.push({ t: 'str', v: m[2].replace(/\\(.)/g, '$1') });
    else if (m[3] !== undefined) tokens.push({ t: 'num', v: m[3] });
    else if (m[4] !== undefined) tokens.push({ t: 'name', v: m[4] });
    else if (m[5] !== undefined) tokens.push({ t: 'op', v: m[5] });
  }
  const ref: NrqlRef = { eventTypes: [], attributes: new Set(), literals: [] };
  let inFrom = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const next = tokens[i + 1];
    const call = tok.t === 'name' && next?.t === 'op' && next.v === '(';
    if (call && NRQL_FUNCTIONS.has(tok.v)) continue;
    if (tok.t === 'name' && NRQL_KEYWORDS.has(tok.v.toUpperCase())) {
      const k = tok.v.toUpperCase();
      if (k === 'FROM') inFrom = true;
      else inFrom = false;
      if (k === 'AS') i++; // the alias
      continue;
    }
    if (call) throw new Error(`NRQL: unknown function ${tok.v}() in: ${query}`);
    if (tok.t === 'name' && tokens[i - 1]?.t === 'num' && NRQL_UNITS.test(tok.v)) continue;
    if (tok.t !== 'name' && tok.t !== 'tick') continue;
    if (inFrom) {
      ref.eventTypes.push(tok.v);
      continue;
    }
    ref.attributes.add(tok.v);
    // Literal values compared with the attribute.
    const op = next?.t === 'op' ? next.v : next?.t === 'name' ? next.v.toUpperCase() : '';
    if (op === '=' && tokens[i + 2]?.t === 'str') ref.literals.push({ attr: tok.v, like: false, value: tokens[i + 2].v });
    if (op === 'LIKE' && tokens[i + 2]?.t === 'str') ref.literals.push({ attr: tok.v, like: true, value: tokens[i + 2].v });
    if (op === 'IN' && tokens[i + 2]?.v === '(') {
      for (let j = i + 3; j < tokens.length && tokens[j].v !== ')'; j++)
        if (tokens[j].t === 'str') ref.literals.push({ attr: tok.v, like: false, value: tokens[j].v });
    }
  }
  if (!ref.eventTypes.length) throw new Error(`NRQL: no FROM in: ${query}`);
  return ref;
}

/**
 * Fields New Relic derives from the OTLP span itself rather than from an
 * attribute (its "OTLP span mapping"). They count as emitted when the OTLP field
 * they come from was present in a received span; the values are New Relic's
 * (span.kind lowercased, otel.status_code OK/ERROR only when the status is set).
 */
const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const NR_SPAN_FIELDS: Record<string, (s: ReceivedSpan) => unknown> = {
  name: (s) => s.name,
  timestamp: (s) => s.startTimeUnixNano,
  'duration.ms': (s) => Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6,
  'trace.id': (s) => s.traceId,
  id: (s) => s.spanId,
  'parent.id': (s) => s.parentSpanId || undefined,
  'span.kind': (s) => KIND_NAMES[s.kind],
  'otel.status_code': (s) => (s.status.code === 1 ? 'OK' : s.status.code === 2 ? 'ERROR' : undefined),
  'otel.status_description': (s) => s.status.message || undefined,
  'otel.library.name': (s) => s.scope.name || undefined,
  'otel.library.version': (s) => s.scope.version || undefined,
};
/** A span event becomes a SpanEvent: its attributes plus these. */
const NR_SPAN_EVENT_FIELDS: Record<string, (s: ReceivedSpan, e: ReceivedSpan['events'][number]) => unknown> = {
  name: (_s, e) => e.name,
  timestamp: (s) => s.startTimeUnixNano,
  'trace.id': (s) => s.traceId,
  'span.id': (s) => s.spanId,
};

type ValueIndex = Map<string, Set<string>>;
function add(index: ValueIndex, key: string, value: unknown) {
  if (value === undefined || value === null) return;
  if (!index.has(key)) index.set(key, new Set());
  index.get(key)!.add(typeof value === 'object' ? JSON.stringify(value) : String(value));
}
/** What New Relic would hold, per event type: attribute → values seen. */
function newRelicView(spans: ReceivedSpan[]): Record<string, ValueIndex> {
  const span: ValueIndex = new Map();
  const spanEvent: ValueIndex = new Map();
  for (const s of spans) {
    // Resource attributes are flattened onto the span; the span's own win.
    for (const [k, v] of Object.entries({ ...s.resource, ...s.attributes })) add(span, k, v);
    for (const [k, f] of Object.entries(NR_SPAN_FIELDS)) add(span, k, f(s));
    for (const e of s.events) {
      for (const [k, v] of Object.entries(e.attributes)) add(spanEvent, k, v);
      for (const [k, f] of Object.entries(NR_SPAN_EVENT_FIELDS)) add(spanEvent, k, f(s, e));
    }
  }
  return { Span: span, SpanEvent: spanEvent };
}

const likeToRegExp = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/%/g, '.*')
      .replace(/_/g, '.')}$`,
    's',
  );

function nrQueries(): { where: string; query: string }[] {
  return nrDashboards.flatMap(({ file, d }) =>
    d.pages.flatMap((p: any) =>
      p.widgets.flatMap((w: any) => (w.rawConfiguration.nrqlQueries ?? []).map((q: any) => ({ where: `${file} "${w.title}"`, query: q.query as string }))),
    ),
  );
}

// ---------------------------------------------------------------------------
// PromQL: the metrics, selectors and labels a Grafana query names.

const PROM_FUNCTIONS = new Set(
  'sum avg min max count rate irate increase histogram_quantile last_over_time max_over_time min_over_time avg_over_time sum_over_time label_values clamp_min abs topk bottomk delta deriv'.split(
    ' ',
  ),
);
const PROM_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset']);

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}
interface PromRef {
  selectors: Selector[];
  /** by (…) labels. */
  labels: Set<string>;
}

function parsePromQL(expr: string): PromRef {
  // Range selectors hold only durations and Grafana's interval variables.
  const text = expr.replace(/\[[^\]]*\]/g, '');
  const tokens: { t: 'id' | 'str' | 'num' | 'op'; v: string }[] = [];
  const re = /\s+|"((?:[^"\\]|\\.)*)"|(\d+(?:\.\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)|(=~|!~|!=|==|>=|<=|=|<|>|\(|\)|\{|\}|,|\*|\/|\+|-)/y;
  for (let m: RegExpExecArray | null; re.lastIndex < text.length; ) {
    const at = re.lastIndex;
    if (!(m = re.exec(text))) throw new Error(`PromQL: cannot read ${JSON.stringify(text.slice(at, at + 20))} in: ${expr}`);
    if (m[1] !== undefined) tokens.push({ t: 'str', v: m[1].replace(/\\(.)/g, '$1') });
    else if (m[2] !== undefined) tokens.push({ t: 'num', v: m[2] });
    else if (m[3] !== undefined) tokens.push({ t: 'id', v: m[3] });
    else if (m[4] !== undefined) tokens.push({ t: 'op', v: m[4] });
  }
  const ref: PromRef = { selectors: [], labels: new Set() };
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok.t !== 'id') continue;
    if (tok.v === 'by' || tok.v === 'without') {
      assert.equal(tokens[i + 1]?.v, '(', `PromQL: ${tok.v} without ( in: ${expr}`);
      for (i += 2; tokens[i] && tokens[i].v !== ')'; i++) if (tokens[i].t === 'id') ref.labels.add(tokens[i].v);
      continue;
    }
    if (PROM_KEYWORDS.has(tok.v)) continue;
    // A function call, or an aggregation written `sum by (…) (…)`.
    if (tokens[i + 1]?.v === '(' || tokens[i + 1]?.v === 'by' || tokens[i + 1]?.v === 'without') {
      if (!PROM_FUNCTIONS.has(tok.v)) throw new Error(`PromQL: unknown function ${tok.v}() in: ${expr}`);
      continue;
    }
    const sel: Selector = { metric: tok.v, matchers: [] };
    if (tokens[i + 1]?.v === '{') {
      for (i += 2; tokens[i] && tokens[i].v !== '}'; i++) {
        if (tokens[i].t !== 'id') continue;
        const [op, value] = [tokens[i + 1], tokens[i + 2]];
        if (op?.t !== 'op' || value?.t !== 'str') throw new Error(`PromQL: bad matcher at ${tokens[i].v} in: ${expr}`);
        sel.matchers.push({ label: tokens[i].v, op: op.v, value: value.v });
        i += 2;
      }
    }
    ref.selectors.push(sel);
  }
  return ref;
}

/** Does a sample satisfy a matcher? A value naming a Grafana variable ($service) matches anything, like "All". */
function matches(sample: Sample, m: Selector['matchers'][number]): boolean {
  if (m.value.includes('$')) return true;
  const v = sample.labels[m.label] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~':
      return !new RegExp(`^(?:${m.value})$`).test(v);
    default:
      throw new Error(`unknown matcher ${m.op}`);
  }
}

interface GrafanaQuery {
  where: string;
  expr: string;
  /** Labels a legend or a variable reads from the result. */
  labels: string[];
}
function grafanaQueries(): GrafanaQuery[] {
  const out: GrafanaQuery[] = [];
  for (const { file, d } of grafanaDashboards) {
    for (const p of d.panels) {
      for (const t of p.targets ?? []) {
        out.push({
          where: `${file} "${p.title}" ${t.refId}`,
          expr: t.expr,
          labels: [...String(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]),
        });
      }
    }
    for (const v of d.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query.query ?? v.query);
      assert.ok(m, `${file} variable ${v.name}: label_values(selector, label)`);
      out.push({ where: `${file} variable $${v.name}`, expr: m[1], labels: [m[2]] });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

describe('dashboard files follow their formats', () => {
  it('there are New Relic and Grafana dashboards', () => {
    assert.ok(nrDashboards.length >= 4, 'requests, deploys, migrations, sidetrace');
    assert.ok(grafanaDashboards.length >= 2, 'RED and migrations/deploys');
  });

  const VIZ = new Set([
    'viz.line',
    'viz.area',
    'viz.bar',
    'viz.billboard',
    'viz.table',
    'viz.pie',
    'viz.markdown',
    'viz.stacked-bar',
    'viz.heatmap',
    'viz.histogram',
    'viz.json',
    'viz.bullet',
    'viz.funnel',
  ]);
  for (const { file, d } of nrDashboards) {
    it(`New Relic ${file}: name, permissions, pages of widgets on the 12-column grid, NRQL with the account placeholder`, () => {
      assert.equal(typeof d.name, 'string');
      assert.ok(d.name.length > 0 && d.name.length <= 255);
      assert.ok(['PUBLIC_READ_WRITE', 'PUBLIC_READ_ONLY', 'PRIVATE'].includes(d.permissions), `permissions ${d.permissions}`);
      assert.ok(Array.isArray(d.pages) && d.pages.length > 0);
      for (const page of d.pages) {
        assert.equal(typeof page.name, 'string');
        assert.ok(page.widgets.length > 0);
        const cells = new Map<string, string>();
        for (const w of page.widgets) {
          assert.ok(w.title, `a widget without a title on page ${page.name}`);
          assert.ok(VIZ.has(w.visualization?.id), `${w.title}: visualization ${w.visualization?.id}`);
          const { column, row, width, height } = w.layout;
          for (const n of [column, row, width, height]) assert.ok(Number.isInteger(n) && n >= 1, `${w.title}: layout ${JSON.stringify(w.layout)}`);
          assert.ok(column + width - 1 <= 12, `${w.title}: past the 12th column`);
          for (let c = column; c < column + width; c++) {
            for (let r = row; r < row + height; r++) {
              const other = cells.get(`${c},${r}`);
              assert.equal(other, undefined, `${w.title} overlaps ${other}`);
              cells.set(`${c},${r}`, w.title);
            }
          }
          if (w.visualization.id === 'viz.markdown') {
            assert.ok(w.rawConfiguration.text?.length > 0, `${w.title}: markdown text`);
            continue;
          }
          const qs = w.rawConfiguration.nrqlQueries;
          assert.ok(Array.isArray(qs) && qs.length > 0, `${w.title}: nrqlQueries`);
          for (const q of qs) {
            assert.deepEqual(q.accountIds, [0], `${w.title}: the account id placeholder`);
            const ref = parseNrql(q.query);
            assert.ok(
              ref.eventTypes.every((t) => t === 'Span' || t === 'SpanEvent'),
              `${w.title}: FROM ${ref.eventTypes}`,
            );
            assert.ok(ref.attributes.size > 0, `${w.title}: names no attribute`);
          }
        }
      }
    });
  }

  for (const { file, d } of grafanaDashboards) {
    it(`Grafana ${file}: a JSON model with a \${DS_PROMETHEUS} input, unique panel ids, a 24-column grid`, () => {
      assert.ok(d.title && d.uid && Number.isInteger(d.schemaVersion));
      assert.deepEqual(
        d.__inputs.map((i: any) => [i.name, i.type, i.pluginId]),
        [['DS_PROMETHEUS', 'datasource', 'prometheus']],
      );
      const dsOk = (ds: any, what: string) => assert.deepEqual(ds, { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, `${what}: datasource`);
      for (const v of d.templating.list) if (v.type === 'query') dsOk(v.datasource, `variable ${v.name}`);
      const ids = new Set<number>();
      const cells = new Map<string, string>();
      for (const p of d.panels) {
        assert.ok(Number.isInteger(p.id) && !ids.has(p.id), `panel id ${p.id} unique`);
        ids.add(p.id);
        assert.ok(p.title && p.type);
        const { x, y, w, h } = p.gridPos;
        assert.ok(x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 24, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`);
        for (let c = x; c < x + w; c++) {
          for (let r = y; r < y + h; r++) {
            assert.equal(cells.get(`${c},${r}`), undefined, `${p.title} overlaps ${cells.get(`${c},${r}`)}`);
            cells.set(`${c},${r}`, p.title);
          }
        }
        if (p.type === 'text') {
          assert.ok(p.options.content.length > 0);
          continue;
        }
        dsOk(p.datasource, p.title);
        assert.ok(p.targets.length > 0, `${p.title}: targets`);
        assert.equal(new Set(p.targets.map((t: any) => t.refId)).size, p.targets.length, `${p.title}: unique refIds`);
        for (const t of p.targets) {
          dsOk(t.datasource, `${p.title} ${t.refId}`);
          assert.ok(parsePromQL(t.expr).selectors.length > 0, `${p.title} ${t.refId}: selects no metric`);
        }
      }
    });
  }

  it('the query readers find what they should (and reject what they should)', () => {
    const n = parseNrql(
      "SELECT percentage(count(*), WHERE otel.status_code = 'ERROR') AS 'err', `weird key` FROM Span WHERE span.kind IN ('server', 'client') AND name LIKE 'deploy %' FACET service.version TIMESERIES 5 minutes SINCE 1 day ago",
    );
    assert.deepEqual([...n.attributes].sort(), ['name', 'otel.status_code', 'service.version', 'span.kind', 'weird key']);
    assert.deepEqual(n.eventTypes, ['Span']);
    assert.deepEqual(n.literals, [
      { attr: 'otel.status_code', like: false, value: 'ERROR' },
      { attr: 'span.kind', like: false, value: 'server' },
      { attr: 'span.kind', like: false, value: 'client' },
      { attr: 'name', like: true, value: 'deploy %' },
    ]);
    assert.throws(() => parseNrql('SELECT cuont(*) FROM Span'), /unknown function cuont/);
    const p = parsePromQL('histogram_quantile(0.95, sum by (le, a) (rate(m_bucket{x="1", y=~"$v"}[$__rate_interval]))) / sum(m2)');
    assert.deepEqual([...p.labels], ['le', 'a']);
    assert.deepEqual(p.selectors, [
      {
        metric: 'm_bucket',
        matchers: [
          { label: 'x', op: '=', value: '1' },
          { label: 'y', op: '=~', value: '$v' },
        ],
      },
      { metric: 'm2', matchers: [] },
    ]);
    assert.throws(() => parsePromQL('rat(m[5m])'), /unknown function rat/);
  });
});

// ---------------------------------------------------------------------------

interface NerdGraphCall {
  query: string;
  variables: any;
  apiKey: string | undefined;
  contentType: string | undefined;
}

/** A local NerdGraph: entity search, dashboardCreate and dashboardUpdate over an in-memory account, with New Relic's error answers. */
async function startNerdGraph(opts: { apiKey: string; accountId: number }) {
  const calls: NerdGraphCall[] = [];
  const dashboards = new Map<string, { name: string; accountId: number; dashboard: any }>();
  let next = 1;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const { query, variables } = JSON.parse(body);
      calls.push({ query, variables, apiKey: req.headers['api-key'] as string | undefined, contentType: req.headers['content-type'] });
      if (req.method !== 'POST' || req.url !== '/graphql') return send(404, { errors: [{ message: 'not found' }] });
      if (req.headers['api-key'] !== opts.apiKey)
        return send(401, { errors: [{ extensions: { error_code: 'BAD_API_KEY' }, message: 'Bad API Key or no API Key provided' }] });
      if (/entitySearch/.test(query)) {
        const name = /name = '((?:[^'\\]|\\.)*)'/.exec(variables.query)?.[1]?.replace(/\\(.)/g, '$1');
        const account = Number(/accountId = (\d+)/.exec(variables.query)?.[1]);
        const entities = [...dashboards.entries()]
          .filter(([, d]) => d.name === name && d.accountId === account)
          .flatMap(([guid, d]) => [
            { guid, name: d.name, accountId: d.accountId, dashboardParentGuid: null },
            // A page entity with the same name, as New Relic lists pages too.
            { guid: `${guid}-page`, name: d.name, accountId: d.accountId, dashboardParentGuid: guid },
          ]);
        return send(200, { data: { actor: { entitySearch: { results: { entities } } } } });
      }
      const accountDenied = (field: string) =>
        send(200, {
          data: { [field]: null },
          errors: [{ message: `Access denied to account ${variables.accountId}.`, path: [field], extensions: { errorClass: 'FORBIDDEN' } }],
        });
      if (/dashboardCreate\(/.test(query)) {
        if (variables.accountId !== opts.accountId) return accountDenied('dashboardCreate');
        const guid = `GUID-${next++}`;
        dashboards.set(guid, { name: variables.dashboard.name, accountId: variables.accountId, dashboard: variables.dashboard });
        return send(200, { data: { dashboardCreate: { entityResult: { guid, name: variables.dashboard.name }, errors: [] } } });
      }
      if (/dashboardUpdate\(/.test(query)) {
        const known = dashboards.get(variables.guid);
        if (!known)
          return send(200, {
            data: { dashboardUpdate: { entityResult: null, errors: [{ description: 'Dashboard not found', type: 'DASHBOARD_NOT_FOUND' }] } },
          });
        known.dashboard = variables.dashboard;
        return send(200, { data: { dashboardUpdate: { entityResult: { guid: variables.guid, name: variables.dashboard.name }, errors: [] } } });
      }
      send(400, { errors: [{ message: 'unknown operation' }] });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    calls,
    dashboards,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Runs the script as a real child process. */
const script = (env: Record<string, string>, args: string[] = []) =>
  run(process.execPath, [path.join(ROOT, 'scripts', 'newrelic-dashboards.mjs'), ...args], { env });

describe('scripts/newrelic-dashboards.mjs against a local NerdGraph', () => {
  const KEY = 'NRAK-TESTKEY0123456789ABCDEFGHIJ';
  const ACCOUNT = 3141592;
  let ng: Awaited<ReturnType<typeof startNerdGraph>>;
  before(async () => {
    ng = await startNerdGraph({ apiKey: KEY, accountId: ACCOUNT });
  });
  after(() => ng?.close());
  const env = (extra: Record<string, string> = {}) => ({
    NEW_RELIC_USER_API_KEY: KEY,
    NEW_RELIC_ACCOUNT_ID: String(ACCOUNT),
    NEW_RELIC_NERDGRAPH_URL: ng.url,
    ...extra,
  });

  it('creates every dashboard with the account filled in, then updates them instead of duplicating', async () => {
    const first = await script(env());
    assert.equal(first.code, 0, first.err);
    assert.equal(ng.dashboards.size, nrDashboards.length);
    const creates = ng.calls.filter((c) => /mutation CreateDashboard/.test(c.query));
    assert.equal(creates.length, nrDashboards.length);
    for (const c of ng.calls) {
      assert.equal(c.apiKey, KEY, 'the API-Key header');
      assert.match(c.contentType ?? '', /^application\/json/);
    }
    for (const c of creates) {
      assert.match(c.query, /dashboardCreate\(accountId: \$accountId, dashboard: \$dashboard\)/);
      assert.equal(c.variables.accountId, ACCOUNT);
      const original = nrDashboards.find(({ d }) => d.name === c.variables.dashboard.name)!.d;
      const queries = c.variables.dashboard.pages.flatMap((p: any) => p.widgets.flatMap((w: any) => w.rawConfiguration.nrqlQueries ?? []));
      assert.ok(queries.length > 0);
      for (const q of queries) assert.deepEqual(q.accountIds, [ACCOUNT], 'placeholder replaced');
      assert.deepEqual(
        c.variables.dashboard.pages.map((p: any) => p.widgets.map((w: any) => [w.title, w.layout, w.visualization])),
        original.pages.map((p: any) => p.widgets.map((w: any) => [w.title, w.layout, w.visualization])),
        'the file as written',
      );
    }
    for (const d of nrDashboards) assert.match(first.stdout.toString(), new RegExp(`created "${d.d.name}" \\(guid GUID-\\d+\\)`));

    ng.calls.length = 0;
    const second = await script(env(), [path.join(NR_DIR, nrDashboards[0].file)]);
    assert.equal(second.code, 0, second.err);
    assert.equal(ng.dashboards.size, nrDashboards.length, 'no duplicate');
    const update = ng.calls.find((c) => /mutation UpdateDashboard/.test(c.query));
    assert.ok(update, 'dashboardUpdate was called');
    assert.match(update.query, /dashboardUpdate\(guid: \$guid, dashboard: \$dashboard\)/);
    assert.ok(ng.dashboards.has(update.variables.guid), 'the dashboard, not its page');
    assert.equal(update.variables.dashboard.name, nrDashboards[0].d.name);
    assert.match(second.stdout.toString(), /updated ".*" \(guid GUID-\d+\)/);
    assert.ok(!ng.calls.some((c) => /CreateDashboard/.test(c.query)));
  });

  it('a bad key: one line naming the key (never its value), exit 1', async () => {
    const r = await script(env({ NEW_RELIC_USER_API_KEY: 'NRAK-WRONGWRONGWRONG' }));
    assert.equal(r.code, 1);
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], /NEW_RELIC_USER_API_KEY/);
    assert.match(lines[0], /Bad API Key/);
    assert.doesNotMatch(r.err + r.stdout.toString(), /WRONGWRONG/);
  });

  it('a bad account: one line naming the account, exit 1', async () => {
    const r = await script(env({ NEW_RELIC_ACCOUNT_ID: '999' }));
    assert.equal(r.code, 1);
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], /NEW_RELIC_ACCOUNT_ID=999/);
    assert.match(lines[0], /Access denied/);
  });

  it('missing or malformed settings: one line, exit 2, nothing sent', async () => {
    ng.calls.length = 0;
    for (const [extra, why] of [
      [{ NEW_RELIC_USER_API_KEY: '' }, /NEW_RELIC_USER_API_KEY is not set/],
      [{ NEW_RELIC_ACCOUNT_ID: 'acme' }, /NEW_RELIC_ACCOUNT_ID="acme" is not an account id/],
      [{ NEW_RELIC_NERDGRAPH_URL: 'ftp://x' }, /NEW_RELIC_NERDGRAPH_URL="ftp:\/\/x" is not an http\(s\) URL/],
    ] as const) {
      const r = await script(env(extra));
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, why);
    }
    assert.equal(ng.calls.length, 0);
  });

  it('NerdGraph unreachable: one line, exit 1', async () => {
    const lines: string[] = [];
    const code = await dashboardsMain([], { ...env(), NEW_RELIC_NERDGRAPH_URL: 'http://127.0.0.1:1/graphql' }, {
      log: () => {},
      error: (l: string) => lines.push(l),
    } as any);
    assert.equal(code, 1);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /could not reach NerdGraph at http:\/\/127\.0\.0\.1:1\/graphql/);
  });
});

// ---------------------------------------------------------------------------

describe('every query names what a real run emits', () => {
  const services = useServices();
  let newRelic: OtlpReceiver;
  let stack: Stack;
  let demo: DemoApp | undefined;
  let noiseApp: RunningApp | undefined;
  let samples: Sample[] = [];
  const LICENSE_KEY = 'eu01xx0123456789abcdef0123456789abcdNRAL';

  before(async () => {
    newRelic = await startOtlpReceiver({ newRelic: { apiKey: LICENSE_KEY } });
    stack = await startStack({
      collectorEnv: { NEW_RELIC_LICENSE_KEY: LICENSE_KEY, NEW_RELIC_OTLP_ENDPOINT: newRelic.url, SIDETRACE_SPANMETRICS_FLUSH_INTERVAL: '1s' },
    });
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' };

    // Requests: the demo app under the preload, with a version and an environment.
    demo = await startDemoApp({
      databaseUrl: services.databaseUrl,
      redisUrl: services.redisUrl,
      env: otel,
      appEnv: { OTEL_RESOURCE_ATTRIBUTES: 'service.version=3.1.0-dash,deployment.environment.name=e2e' },
    });
    const traffic = await runTraffic({ baseUrl: demo.appUrl, rounds: 3, intervalMs: 0 });
    assert.deepEqual(traffic.unexpected, []);

    // A failing health check: exported anyway, marked sidetrace.noise.
    noiseApp = await startApp({
      script: path.join(FIXTURES, 'noise-app.js'),
      env: { ...otel, OTEL_SERVICE_NAME: 'dash-noise', HEALTH_FAILS: '1', DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl },
    });
    assert.equal((await fetch(`${noiseApp.url}/health`)).status, 503);

    // A migration: 5 batches, batch 2 throws, ids ending in 3 fail.
    const migration = await startFixture('inline.js', { ...otel, TOTAL: '50', BATCH_SIZE: '10', THROW_BATCH: '2' });
    const ended = await migration.waitForLine((l) => l.event === 'ended', 30_000);
    assert.equal(ended.errors, 1);
    await migration.exited;

    // Deploys: one with a step, one that fails.
    const deployEnv = { ...otel, OTEL_SERVICE_NAME: 'dash-shop', SIDETRACE_DEPLOY_TIMEOUT: '0' };
    const ok = await run(
      process.execPath,
      [CLI, 'deploy', '--version', 'v42', '--environment', 'e2e', '--', 'sh', '-c', `"${process.execPath}" "${CLI}" deploy step build -- true`],
      { env: deployEnv },
    );
    assert.equal(ok.code, 0, ok.err);
    const failed = await run(process.execPath, [CLI, 'deploy', '--version', 'v43', '--environment', 'e2e', '--', 'false'], { env: deployEnv });
    assert.equal(failed.code, 1, failed.err);

    await newRelic.waitForSpans((s) => s.name === 'migration.run.end');
    await newRelic.waitForSpans((s) => s.name === 'deploy dash-shop', { count: 2 });
    await newRelic.waitForSpans((s) => s.name === 'build');
    await newRelic.waitForSpans((s) => s.attributes['sidetrace.noise'] !== undefined);
    await newRelic.waitForSpans((s) => s.attributes['http.route'] === '/boom');
    samples = await waitFor(
      () => scrape(stack.spanMetricsUrl),
      (all) =>
        ['deploy dash-shop', 'migration.batch backfill-previews', 'migration.run.end'].every((n) => all.some((s) => s.labels.span_name === n)) &&
        all.some((s) => s.labels.http_route === '/boom' && s.labels.status_code === 'STATUS_CODE_ERROR'),
      { timeoutMs: 30_000, what: 'span metrics of the run', describe: (all) => [...new Set(all.map((s) => s.labels.span_name))].join(', ') },
    );
  });

  after(async () => {
    await noiseApp?.stop();
    await demo?.stop();
    await stack?.stop();
    await newRelic?.close();
  });

  it('New Relic: every attribute a NRQL query names is on the spans New Relic would receive, and every literal value occurs', () => {
    assert.deepEqual(newRelic.violations, [], 'the New Relic pipeline sends what New Relic accepts');
    const view = newRelicView(newRelic.spans);
    const problems: string[] = [];
    let checked = 0;
    for (const { where, query } of nrQueries()) {
      const ref = parseNrql(query);
      for (const type of ref.eventTypes) {
        const index = view[type];
        for (const attr of ref.attributes) {
          checked++;
          if (!index.has(attr)) problems.push(`${where}: ${type}.${attr} was never emitted`);
        }
        for (const lit of ref.literals) {
          const values = [...(index.get(lit.attr) ?? [])];
          const ok = lit.like ? values.some((v) => likeToRegExp(lit.value).test(v)) : values.includes(lit.value);
          if (!ok) problems.push(`${where}: no ${type} has ${lit.attr} ${lit.like ? 'LIKE' : '='} '${lit.value}' (seen: ${values.slice(0, 8).join(', ')})`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(checked > 100, `${checked} attribute references checked`);
  });

  it('Grafana: every metric, label and selector a query names is in a real scrape of the span metrics endpoint', () => {
    const problems: string[] = [];
    for (const { where, expr, labels } of grafanaQueries()) {
      const ref = parsePromQL(expr);
      const selected: Sample[] = [];
      for (const sel of ref.selectors) {
        const ofMetric = samples.filter((s) => s.name === sel.metric);
        if (!ofMetric.length) {
          problems.push(`${where}: no metric ${sel.metric}`);
          continue;
        }
        for (const m of sel.matchers) if (!ofMetric.some((s) => m.label in s.labels)) problems.push(`${where}: ${sel.metric} has no label ${m.label}`);
        const hits = ofMetric.filter((s) => sel.matchers.every((m) => matches(s, m)));
        if (!hits.length) problems.push(`${where}: ${sel.metric}{${sel.matchers.map((m) => `${m.label}${m.op}"${m.value}"`).join(', ')}} selects no series`);
        selected.push(...hits);
      }
      for (const label of [...ref.labels, ...labels]) {
        if (!selected.some((s) => label in s.labels)) problems.push(`${where}: label ${label} is on none of the selected series`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
