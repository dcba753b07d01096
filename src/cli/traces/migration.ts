// `sidetrace migration <name | run-id>`: a migration run's state, read back
// from the spans src/migration/ records (docs/migrations.md): the run span
// and its start/progress/end markers for status and whole-run counters, the
// batch spans (one trace each) for failed and slow batches and the newest
// progress. Markers are exported as they happen, so a run whose process
// died still shows how far it got.
import * as A from '../../migration/attributes';
import { parseWindowOptions, countFlag, durationFlag, nowMicros, openSession, runCommand, servicesToSearch, UsageError } from './command';
import { QueryError, type JaegerClient, type JaegerSpan } from './jaeger';
import { errorMessage } from './model';
import { columns, fit, formatCount, formatDuration, formatSeconds, formatTime, padEnd, padStart, printable, type Colors } from './terminal';

export const MIGRATION_USAGE = `Usage: sidetrace migration <name | run-id> [options]

A migration run's state from its spans: status, batches committed and failed,
records processed/skipped/failed, throughput, ETA, the resume cursor, the
failed and the slowest batches with their trace ids. Given a name, the most
recent run of that migration.

Options:
  --service S    search only service S (default: every service)
  --since D      how far back to look (default 7d)
  --limit N      at most N traces per service (default 1500)
  --json         the state as JSON, for scripts
  --jaeger URL   Jaeger's query service (default SIDETRACE_JAEGER_URL or http://localhost:16686)
`;

const SHOWN_BATCHES = 5;

export interface BatchInfo {
  index: number;
  /** The run attempt it ran in. */
  attempt: number;
  traceId: string;
  service: string;
  startMicros: number;
  durationMicros: number;
  outcome: string;
  processed: number;
  skipped: number;
  failed: number;
  retries: number;
  /** Why an errored batch failed. */
  error?: string;
  /** Failed records recorded as events (at most 20 per batch): id and error. */
  failedRecords: { id: string; error: string }[];
  /** An errored batch whose index was committed later (a retry). */
  committedLater?: boolean;
}

export interface MigrationState {
  name: string;
  runId: string;
  attempt: number;
  status: string;
  firstStartMicros: number;
  lastActivityMicros: number;
  total?: number;
  batchSize?: number;
  records: { processed: number; skipped: number; failed: number; done: number; percent?: number };
  batches: { committed: number; errored: number; erroredThenCommitted: number };
  /** Records per second of the latest attempt, from the newest span that says. */
  recordsPerSecond?: number;
  etaSeconds?: number;
  resumeCursor?: number;
  runSpans: { attempt: number; traceId: string; status?: string }[];
  failedBatches: BatchInfo[];
  batchesWithFailedRecords: BatchInfo[];
  slowestBatches: BatchInfo[];
  services: string[];
}

const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;
const endOf = (s: JaegerSpan) => s.startTimeMicros + s.durationMicros;
const newestFirst = (a: JaegerSpan, b: JaegerSpan) => endOf(b) - endOf(a);

/** The run's state from every span carrying its run id (markers, run spans, batches), from any service. */
export function migrationState(spans: JaegerSpan[]): MigrationState {
  const own = spans.filter((s) => s.attributes[A.MIGRATION_RUN_ID] !== undefined);
  if (!own.length) throw new Error('no migration spans');
  const first = own[0];
  const runId = String(first.attributes[A.MIGRATION_RUN_ID]);
  const name = String(first.attributes[A.MIGRATION_NAME] ?? '');
  const isRun = (s: JaegerSpan) => s.name.startsWith(`${A.SPAN_RUN} `);
  const isBatch = (s: JaegerSpan) => s.name.startsWith(`${A.SPAN_BATCH} `);
  const markers = own.filter((s) => s.name === A.SPAN_RUN_START || s.name === A.SPAN_RUN_PROGRESS || s.name === A.SPAN_RUN_END);
  const runSpans = own.filter(isRun);
  const batchSpans = own.filter(isBatch);
  const attempt = Math.max(...own.map((s) => num(s.attributes[A.MIGRATION_RUN_ATTEMPT]) ?? 1));

  // Status: the latest attempt's end marker or run span; neither → still running (or its process died unseen).
  const ended = [...markers, ...runSpans]
    .filter(
      (s) =>
        s.name !== A.SPAN_RUN_START &&
        s.name !== A.SPAN_RUN_PROGRESS &&
        num(s.attributes[A.MIGRATION_RUN_ATTEMPT]) === attempt &&
        s.attributes[A.MIGRATION_RUN_STATUS] !== undefined,
    )
    .sort(newestFirst)[0];
  const status = ended ? String(ended.attributes[A.MIGRATION_RUN_STATUS]) : 'running';

  const declared = [...markers, ...runSpans].sort(newestFirst);
  const total = declared.map((s) => num(s.attributes[A.MIGRATION_RUN_TOTAL])).find((v) => v !== undefined);
  const batchSize = declared.map((s) => num(s.attributes[A.MIGRATION_RUN_BATCH_SIZE])).find((v) => v !== undefined);
  const origin = declared.map((s) => num(s.attributes[A.MIGRATION_RUN_CURSOR_ORIGIN])).find((v) => v !== undefined) ?? 0;

  // Whole-run counters: the newest marker or run span that carries them…
  const counted = declared.filter((s) => num(s.attributes[A.MIGRATION_RUN_BATCHES_COMMITTED]) !== undefined)[0];
  let records = {
    processed: num(counted?.attributes[A.MIGRATION_RECORDS_PROCESSED]) ?? 0,
    skipped: num(counted?.attributes[A.MIGRATION_RECORDS_SKIPPED]) ?? 0,
    failed: num(counted?.attributes[A.MIGRATION_RECORDS_FAILED]) ?? 0,
  };
  let committedCount = num(counted?.attributes[A.MIGRATION_RUN_BATCHES_COMMITTED]) ?? 0;

  const batches = batchSpans.map(batchInfo);
  const committed = new Map<number, BatchInfo>();
  for (const b of batches) if (b.outcome === 'committed' && !committed.has(b.index)) committed.set(b.index, b);
  // …unless the batch spans seen since show more committed batches (markers come every N batches).
  if (committed.size > committedCount) {
    committedCount = committed.size;
    records = { processed: 0, skipped: 0, failed: 0 };
    for (const b of committed.values()) {
      records.processed += b.processed;
      records.skipped += b.skipped;
      records.failed += b.failed;
    }
  }
  const done = records.processed + records.skipped + records.failed;

  const errored = batches.filter((b) => b.outcome === 'error');
  for (const b of errored) b.committedLater = committed.has(b.index);

  // Rate and ETA: the newest span of the latest attempt that carries them (batches carry them too).
  const progressed = [...batchSpans, ...markers, ...runSpans]
    .filter((s) => num(s.attributes[A.MIGRATION_RUN_ATTEMPT]) === attempt && num(s.attributes[A.MIGRATION_PROGRESS_RATE]) !== undefined)
    .sort(newestFirst)[0];
  const recordsPerSecond = num(progressed?.attributes[A.MIGRATION_PROGRESS_RATE]);
  const running = status === 'running';
  const etaSeconds = running && total !== undefined && recordsPerSecond ? Math.round(Math.max(0, total - done) / recordsPerSecond) : undefined;

  // Resume cursor: it only grows; the newest recorded one, or past the lowest uncommitted batch seen.
  let resumeCursor = Math.max(-Infinity, ...own.map((s) => num(s.attributes[A.MIGRATION_RUN_RESUME_CURSOR]) ?? -Infinity));
  if (batchSize !== undefined) {
    let i = 0;
    while (committed.has(i)) i++;
    const fromBatches = origin + i * batchSize;
    resumeCursor = Math.max(resumeCursor, total !== undefined ? Math.min(fromBatches, origin + total) : fromBatches);
  }

  const withFailed = [...committed.values()].filter((b) => b.failed > 0).sort((a, b) => b.failed - a.failed || a.index - b.index);
  const slowest = [...committed.values()].sort((a, b) => b.durationMicros - a.durationMicros || a.index - b.index);
  return {
    name,
    runId,
    attempt,
    status,
    firstStartMicros: Math.min(...own.map((s) => s.startTimeMicros)),
    lastActivityMicros: Math.max(...own.map(endOf)),
    total,
    batchSize,
    records: { ...records, done, percent: total ? Math.round((done / total) * 1000) / 10 : undefined },
    batches: { committed: committedCount, errored: errored.length, erroredThenCommitted: errored.filter((b) => b.committedLater).length },
    recordsPerSecond,
    etaSeconds,
    resumeCursor: Number.isFinite(resumeCursor) ? resumeCursor : undefined,
    runSpans: runSpans
      .map((s) => ({
        attempt: num(s.attributes[A.MIGRATION_RUN_ATTEMPT]) ?? 1,
        traceId: s.traceId,
        status: s.attributes[A.MIGRATION_RUN_STATUS] as string | undefined,
      }))
      .sort((a, b) => a.attempt - b.attempt),
    failedBatches: errored.sort((a, b) => a.index - b.index || a.startMicros - b.startMicros),
    batchesWithFailedRecords: withFailed,
    slowestBatches: slowest.slice(0, SHOWN_BATCHES),
    services: [...new Set(own.map((s) => s.service))].sort(),
  };
}

function batchInfo(s: JaegerSpan): BatchInfo {
  const a = s.attributes;
  const info: BatchInfo = {
    index: num(a[A.MIGRATION_BATCH_INDEX]) ?? -1,
    attempt: num(a[A.MIGRATION_RUN_ATTEMPT]) ?? 1,
    traceId: s.traceId,
    service: s.service,
    startMicros: s.startTimeMicros,
    durationMicros: s.durationMicros,
    outcome: String(a[A.MIGRATION_BATCH_OUTCOME] ?? 'unknown'),
    processed: num(a[A.MIGRATION_RECORDS_PROCESSED]) ?? 0,
    skipped: num(a[A.MIGRATION_RECORDS_SKIPPED]) ?? 0,
    failed: num(a[A.MIGRATION_RECORDS_FAILED]) ?? 0,
    retries: num(a[A.MIGRATION_BATCH_RETRIES]) ?? 0,
    failedRecords: s.events
      .filter((e) => e.name === A.EVENT_RECORD_FAILED)
      .map((e) => ({
        id: String(e.attributes[A.MIGRATION_RECORD_ID] ?? ''),
        error: [e.attributes['exception.type'], e.attributes['exception.message']].filter(Boolean).join(': '),
      })),
  };
  if (info.outcome === 'error') info.error = errorMessage(s);
  return info;
}

export function migrationLines(m: MigrationState, width: number, c: Colors): string[] {
  const statusPaint = m.status === 'succeeded' ? c.green : m.status === 'running' ? c.cyan : c.red;
  const label = (l: string) => c.dim(padEnd(l, 12));
  const lines = [`${c.bold(`migration ${printable(m.name)}`)}  run ${printable(m.runId)}  attempt ${m.attempt}`];
  const when = m.status === 'running' ? `last activity ${formatTime(m.lastActivityMicros)} UTC` : `ended ${formatTime(m.lastActivityMicros)} UTC`;
  lines.push(
    `${label('status')}${statusPaint(m.status)}  ` +
      c.dim(`(started ${formatTime(m.firstStartMicros)} UTC, ${when}, ${formatDuration(m.lastActivityMicros - m.firstStartMicros)})`),
  );
  const r = m.records;
  if (m.total !== undefined) {
    const barWidth = Math.max(10, Math.min(40, width - 60));
    const filled = Math.min(barWidth, Math.round(((r.percent ?? 0) / 100) * barWidth));
    lines.push(
      `${label('progress')}${formatCount(r.done)} of ${formatCount(m.total)} records (${r.percent ?? 0}%)  ` +
        `${c.green('█'.repeat(filled))}${c.dim('░'.repeat(barWidth - filled))}`,
    );
  } else {
    lines.push(`${label('progress')}${formatCount(r.done)} records (total not known)`);
  }
  lines.push(
    `${label('records')}${formatCount(r.processed)} processed · ${formatCount(r.skipped)} skipped · ` +
      (r.failed ? c.red(`${formatCount(r.failed)} failed`) : '0 failed'),
  );
  const b = m.batches;
  const erroredText = b.errored ? c.red(`${b.errored} failed`) + (b.erroredThenCommitted ? ` (${b.erroredThenCommitted} committed on retry)` : '') : '0 failed';
  lines.push(`${label('batches')}${formatCount(b.committed)} committed${m.batchSize ? ` of ${m.batchSize} records each` : ''} · ${erroredText}`);
  const rate = m.recordsPerSecond === undefined ? 'not recorded' : `${formatCount(m.recordsPerSecond)} records/s`;
  const eta =
    m.status !== 'running' ? '' : m.etaSeconds !== undefined ? `  ETA ${formatSeconds(m.etaSeconds)}` : m.total === undefined ? '  ETA unknown (no total)' : '';
  lines.push(`${label('throughput')}${rate}${eta}`);
  if (m.resumeCursor !== undefined) lines.push(`${label('resume at')}cursor ${m.resumeCursor}`);
  if (m.runSpans.length) lines.push(`${label('run traces')}${m.runSpans.map((s) => `attempt ${s.attempt} ${c.cyan(s.traceId)}`).join('  ')}`);
  else lines.push(`${label('run traces')}${c.dim('none yet (a run span is exported when its attempt ends)')}`);
  lines.push(`${label('services')}${m.services.map(printable).join(', ')}`);

  // A batch per line: index, duration, trace id, then what happened; an error on a line of its own, so nothing is cut.
  const batchLine = (x: BatchInfo, what: string) => {
    const left = `  ${padStart(`#${x.index}`, 6)}  ${padStart(formatDuration(x.durationMicros), 9)}  `;
    return `${left}${c.cyan(x.traceId)}  ${fit(printable(what), Math.max(10, width - columns(left) - 34))}`;
  };
  const detail = (text: string) => `${' '.repeat(12)}${fit(printable(text), Math.max(10, width - 12))}`;
  if (m.failedBatches.length) {
    lines.push('', c.bold('failed batches'));
    for (const x of m.failedBatches) {
      lines.push(
        batchLine(x, [x.retries ? `retry ${x.retries}` : '', x.committedLater ? 'committed on a later try' : 'not committed'].filter(Boolean).join(', ')),
      );
      lines.push(c.red(detail(x.error ?? 'error')));
    }
  }
  if (m.batchesWithFailedRecords.length) {
    lines.push('', c.bold(`batches with failed records (${m.batchesWithFailedRecords.length})`));
    for (const x of m.batchesWithFailedRecords.slice(0, SHOWN_BATCHES)) {
      lines.push(batchLine(x, `${x.failed} failed record${x.failed === 1 ? '' : 's'}`));
      for (const f of x.failedRecords.slice(0, 3)) lines.push(c.red(detail(`${f.id}: ${f.error}`)));
      if (x.failed > Math.min(3, x.failedRecords.length)) lines.push(c.dim(detail(`… ${x.failed - Math.min(3, x.failedRecords.length)} more`)));
    }
  }
  if (m.slowestBatches.length) {
    lines.push('', c.bold('slowest batches'));
    for (const x of m.slowestBatches) lines.push(batchLine(x, `${formatCount(x.processed)} processed, ${x.skipped} skipped, ${x.failed} failed`));
  }
  return lines;
}

/** Every span carrying `tag=value`, from every service searched. */
async function spansTagged(
  client: JaegerClient,
  services: string[],
  tag: string,
  value: string,
  startMicros: number,
  endMicros: number,
  limit: number,
): Promise<JaegerSpan[]> {
  const found = new Map<string, JaegerSpan>();
  for (const service of services) {
    for (const trace of await client.search({ service, tags: { [tag]: value }, startMicros, endMicros, limit })) {
      for (const s of trace) if (String(s.attributes[tag]) === value) found.set(`${s.traceId}/${s.spanId}`, s);
    }
  }
  return [...found.values()];
}

export function migrationMain(argv: string[]): Promise<number> {
  return runCommand(MIGRATION_USAGE, argv, async () => {
    const { values, positionals } = parseWindowOptions('migration', argv, true);
    if (positionals.length !== 1 || !positionals[0].trim())
      throw new UsageError('migration: expected a migration name or run id (see sidetrace migration --help)');
    const wanted = positionals[0].trim();
    const since = durationFlag('migration', 'since', values.since, '7d')!;
    const limit = countFlag('migration', 'limit', values.limit, 1_500, 100_000);
    const { client, out } = openSession('migration', values.jaeger);
    const services = await servicesToSearch(client, values.service);
    const end = nowMicros();
    let spans = await spansTagged(client, services, A.MIGRATION_RUN_ID, wanted, end - since, end, limit);
    if (!spans.length) {
      // A name: its most recent run (the newest span), then every span of that run.
      const named = await spansTagged(client, services, A.MIGRATION_NAME, wanted, end - since, end, limit);
      const newest = named.sort(newestFirst)[0];
      if (newest) spans = await spansTagged(client, services, A.MIGRATION_RUN_ID, String(newest.attributes[A.MIGRATION_RUN_ID]), end - since, end, limit);
    }
    if (!spans.length) {
      throw new QueryError(
        `no migration run id or name ${JSON.stringify(wanted)} in Jaeger at ${client.url}` +
          ` (searched ${services.length ? services.join(', ') : 'no services'} over the last ${values.since ?? '7d'})`,
      );
    }
    const state = migrationState(spans);
    out.write(values.json ? `${JSON.stringify(state, null, 2)}\n` : `${migrationLines(state, out.width, out.colors).join('\n')}\n`);
    return 0;
  });
}
