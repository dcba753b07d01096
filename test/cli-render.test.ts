// The terminal commands' pure parts on fixed trace data: the waterfall
// `sidetrace trace` prints (plain output, fixed width), the collapsing of
// similar siblings in a 5,000-span trace, the trace list's lines, and the
// parsing and printing of durations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createColors } from 'picocolors';
import { flattenTrace } from '../src/cli/traces/jaeger';
import { summarize } from '../src/cli/traces/model';
import { traceLines } from '../src/cli/traces/list';
import { columns, formatDuration, parseDuration, PLAIN } from '../src/cli/traces/terminal';
import { renderWaterfall } from '../src/cli/traces/waterfall';
import { bigTrace, linkedTrace, smallTrace } from './fixtures/traces.mjs';

const ANSI = /\u001b\[[0-9;]*m/g;

describe('waterfall', () => {
  it('renders a small trace exactly: tree, service where it changes, durations, bars scaled to the width, the error and its message', () => {
    assert.deepEqual(renderWaterfall(smallTrace(), { width: 100 }), [
      'trace 4bf92f3577b34da6a3ce929d0e0e4736  shop: GET /projects/:id',
      '2025-11-30 08:31:02 UTC · 48.2 ms · 6 spans · 2 services  2 errors',
      '                                         0                                                   48.2 ms',
      '✗ GET /projects/:id  shop        48.2 ms ███████████████████████████████████████████████████████████',
      '├─ pg.query:SELECT shop          2.10 ms  ███',
      '├─ pg.query:SELECT shop          9.80 ms     █████████████',
      '├─ GET                           30.0 ms                  █████████████████████████████████████',
      '│  └─ ✗ GET /render  previews    28.0 ms                   ███████████████████████████████████',
      '│        ! RangeError: image too large: 9000x9000',
      '└─ render page                   3.00 ms                                                        ████',
    ]);
  });

  it('fits every line in the width asked for, with or without attributes', () => {
    for (const width of [60, 80, 100, 132, 200]) {
      for (const spans of [smallTrace(), linkedTrace(), bigTrace()]) {
        for (const attrs of [false, true]) {
          const lines = renderWaterfall(spans, { width, attrs });
          const long = lines.filter((l) => columns(l) > width);
          assert.deepEqual(long, [], `width ${width}, attrs ${attrs}`);
        }
      }
    }
  });

  it('colours only when asked, and the coloured output is the plain one with escapes added', () => {
    const plain = renderWaterfall(smallTrace(), { width: 100 });
    assert.ok(plain.every((l) => !ANSI.test(l)));
    const coloured = renderWaterfall(smallTrace(), { width: 100, colors: createColors(true) });
    assert.ok(
      coloured.some((l) => /\u001b\[31m/.test(l)),
      'errors are red',
    );
    assert.deepEqual(
      coloured.map((l) => l.replace(ANSI, '')),
      plain,
    );
  });

  it('collapses 5,000 spans into a screenful: count, avg and max of each run of similar siblings; errors inside a run still show', () => {
    const spans = bigTrace();
    assert.equal(spans.length, 5000);
    const lines = renderWaterfall(spans, { width: 100 });
    assert.ok(lines.length < 20, `${lines.length} lines:\n${lines.join('\n')}`);
    const stats = (name: string) => {
      const d = spans.filter((s: any) => s.name === name).map((s: any) => s.durationMicros);
      return { n: d.length, avg: formatDuration(d.reduce((a: number, b: number) => a + b, 0) / d.length), max: formatDuration(Math.max(...d)) };
    };
    const users = stats('SELECT users');
    assert.ok(
      lines.some((l) => l.includes(`× ${users.n} SELECT users  avg ${users.avg}  max ${users.max}`)),
      lines.join('\n'),
    );
    assert.equal(users.max, '9.80 ms');
    const avatar = stats('GET /avatar');
    assert.ok(
      lines.some((l) => l.includes(`× ${avatar.n} GET /avatar  avg ${avatar.avg}  max ${avatar.max}  +1000 spans below`)),
      lines.join('\n'),
    );
    const cache = stats('cache.get');
    assert.ok(
      lines.some((l) => l.includes(`× ${cache.n} ✗ cache.get`)),
      'a run with failures is marked',
    );
    assert.ok(lines.some((l) => l.includes(`! 3 of ${cache.n} failed; first: cache timeout after 50 ms (key 5)`)));
    for (const single of ['render pdf', 'upload', 'notify'])
      assert.ok(
        lines.some((l) => l.includes(`└─ ${single}`) || l.includes(`├─ ${single}`)),
        single,
      );
    assert.ok(lines[1].includes('5000 spans') && lines[1].includes('3 errors'));
  });

  it('keeps fewer than five alike siblings apart, and collapses at the threshold asked for', () => {
    assert.equal(renderWaterfall(smallTrace(), { width: 100 }).filter((l) => l.includes('pg.query:SELECT shop')).length, 2);
    const collapsed = renderWaterfall(smallTrace(), { width: 100, collapseAt: 2 });
    assert.ok(
      collapsed.some((l) => l.includes('× 2 pg.query:SELECT shop  avg 5.95 ms  max 9.80 ms')),
      collapsed.join('\n'),
    );
  });

  it('shows links: a batch trace points at its run trace', () => {
    const lines = renderWaterfall(linkedTrace(), { width: 100 });
    assert.ok(lines.includes('│  ↪ link to trace 0af7651916cd43dd8448eb211c80319c (span b7ad6b7169203331)'), lines.join('\n'));
  });

  it('--attrs: attributes (not the internal ones) and events with their offset', () => {
    const lines = renderWaterfall(linkedTrace(), { width: 160, attrs: true });
    assert.ok(lines.some((l) => l.endsWith('migration.batch.outcome = committed')));
    assert.ok(
      lines.some((l) => l.includes('• +60.0 ms migration.record.failed  migration.record.id=file-3127 exception.type=Error exception.message=corrupt header')),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => l.includes('span.kind')), 'span.kind is shown as the tree, not as an attribute');
    const long = linkedTrace();
    long[1].attributes['db.query.text'] = `hmget previews ${'? '.repeat(1000)}`;
    const all = renderWaterfall(long, { width: 100, attrs: true });
    const at = all.findIndex((l) => l.includes('db.query.text = hmget previews ? ?'));
    assert.equal(all.length - at, 4, `a long value (the last line here) wraps onto at most 4 lines:\n${all.join('\n')}`);
    assert.match(all[all.length - 1], /^ {9}\? .* … \(\+\d+ characters\)$/);
    const without = renderWaterfall(linkedTrace(), { width: 120 });
    assert.ok(!without.some((l) => l.includes('migration.batch.outcome')));
  });

  it('--depth: deeper spans are counted, not printed', () => {
    const lines = renderWaterfall(smallTrace(), { width: 100, depth: 1 });
    assert.deepEqual(lines.slice(3), [
      '✗ GET /projects/:id  shop         48.2 ms ██████████████████████████████████████████████████████████',
      '└─ … 5 spans below (--depth 1)',
    ]);
  });

  it('a trace whose root has not arrived: the orphans are shown and said to be', () => {
    const spans = smallTrace().filter((s: any) => s.spanId !== '0000000000000001');
    const lines = renderWaterfall(spans, { width: 100 });
    assert.ok(lines.includes('the root span is not in Jaeger (yet); showing the spans that are'));
    assert.equal(lines.filter((l) => l.includes('parent span 0000000000000001 is not in this trace')).length, 4);
  });

  it('escapes control characters in names and values, so a span cannot move the cursor', () => {
    const spans = smallTrace();
    spans[1].name = 'evil\u001b[2Jname\nnext';
    const lines = renderWaterfall(spans, { width: 100 });
    assert.ok(lines.every((l) => !l.includes('\u001b')));
    assert.ok(lines.some((l) => l.includes('evil\\u001b[2Jname⏎next')));
  });

  it('reads spans the way Jaeger returns them: parent from CHILD_OF, links from FOLLOWS_FROM, events from logs, status', () => {
    const [root, child] = flattenTrace({
      processes: { p1: { serviceName: 'shop', tags: [{ key: 'host.name', value: 'h1' }] } },
      spans: [
        {
          traceID: 'aa',
          spanID: '01',
          operationName: 'GET /',
          references: [{ refType: 'FOLLOWS_FROM', traceID: 'bb', spanID: '09' }],
          startTime: 10,
          duration: 100,
          tags: [
            { key: 'otel.status_code', value: 'ERROR' },
            { key: 'otel.status_description', value: 'boom' },
          ],
          logs: [
            {
              timestamp: 20,
              fields: [
                { key: 'event', value: 'exception' },
                { key: 'exception.message', value: 'boom' },
              ],
            },
          ],
          processID: 'p1',
        },
        {
          traceID: 'aa',
          spanID: '02',
          operationName: 'SELECT',
          references: [{ refType: 'CHILD_OF', traceID: 'aa', spanID: '01' }],
          startTime: 15,
          duration: 5,
          tags: [],
          processID: 'p1',
        },
      ],
    });
    assert.deepEqual(
      [root.parentId, root.links, root.status, root.statusMessage, root.events, root.resource, root.durationMicros],
      [
        undefined,
        [{ traceId: 'bb', spanId: '09' }],
        'ERROR',
        'boom',
        [{ timeMicros: 20, name: 'exception', attributes: { 'exception.message': 'boom' } }],
        { 'host.name': 'h1' },
        100,
      ],
    );
    assert.deepEqual([child.parentId, child.links, child.service], ['01', [], 'shop']);
  });
});

describe('trace list lines', () => {
  it('one line per trace: time, duration, spans, error mark and root, services, full trace id; within the width', () => {
    const traces = [summarize(smallTrace()), summarize(bigTrace())];
    for (const width of [60, 100, 160]) {
      const lines = traceLines(traces, width, PLAIN);
      assert.equal(lines.length, 2);
      for (const l of lines) assert.ok(columns(l) <= Math.max(width, 87), `${columns(l)} > ${width}: ${l}`);
      assert.ok(lines[0].endsWith('4bf92f3577b34da6a3ce929d0e0e4736'));
    }
    const [small] = traceLines(traces, 100, PLAIN);
    assert.equal(small, '11-30 08:31:02   48.2 ms      6  ✗ shop: GET /projects/:id  +prev…  4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(
      traceLines(traces, 100, PLAIN, 'shop')[0],
      '11-30 08:31:02   48.2 ms      6  ✗ GET /projects/:id  +previews     4bf92f3577b34da6a3ce929d0e0e4736',
    );
    const [wide] = traceLines(traces, 160, PLAIN);
    assert.match(wide, /^11-30 08:31:02 {3}48\.2 ms {6}6 {2}✗ shop: GET \/projects\/:id {2}\+previews\s+4bf92f3577b34da6a3ce929d0e0e4736$/);
    assert.deepEqual([traces[1].spanCount, traces[1].errorCount, traces[1].services], [5000, 3, ['reports', 'avatars']]);
  });
});

describe('durations', () => {
  it('parses the units people type, and rejects the rest', () => {
    assert.deepEqual(
      ['500us', '500µs', '200ms', '1.5s', '15m', '2h', '7d', ' 3 s '].map(parseDuration),
      [500, 500, 200_000, 1_500_000, 900_000_000, 7_200_000_000, 604_800_000_000, 3_000_000],
    );
    for (const bad of ['', '15', 'm', '1.5.2s', '-3s', '2w', '1e3ms', 'soon']) assert.equal(parseDuration(bad), undefined, bad);
  });

  it('prints them short', () => {
    assert.deepEqual([840, 2_100, 12_345, 480_000, 4_210_000, 75_000_000, 7_800_000_000, 200_000_000_000].map(formatDuration), [
      '840 µs',
      '2.10 ms',
      '12.3 ms',
      '480 ms',
      '4.21 s',
      '1m 15s',
      '2h 10m',
      '2d 08h',
    ]);
  });
});
