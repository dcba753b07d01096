// `sidetrace deploys`: recent deploys and rollbacks recorded by `sidetrace
// deploy` (src/deploy/, docs/deploys.md), newest first: version,
// environment, performer, status, duration, steps and trace id.
import { parseWindowOptions, countFlag, durationFlag, nowMicros, openSession, runCommand, servicesToSearch } from './command';
import type { JaegerClient, JaegerSpan } from './jaeger';
import { errorMessage, isError } from './model';
import { columns, fit, formatDuration, formatShortTime, padEnd, padStart, printable, type Colors } from './terminal';

export const DEPLOYS_USAGE = `Usage: sidetrace deploys [options]

Recent deploys and rollbacks, newest first: start (UTC), kind, service,
version, environment, performer, status, duration, steps (3✗1: three, one
failed), and on the line below the trace id and why it failed.

Options:
  --service S    only deploys of service S (default: every service)
  --since D      how far back to look (default 30d)
  --limit N      at most N deploys (default 20)
  --json         JSON for scripts
  --jaeger URL   Jaeger's query service (default SIDETRACE_JAEGER_URL or http://localhost:16686)
`;

const KIND = 'sidetrace.deploy.kind';
const KINDS = ['deploy', 'rollback'];

export interface DeployStep {
  name: string;
  durationMicros: number;
  status: 'succeeded' | 'failed';
  exitCode?: number;
}

export interface DeployRow {
  traceId: string;
  spanId: string;
  kind: string;
  service: string;
  name: string;
  deploymentId?: string;
  version?: string;
  environment?: string;
  performer?: string;
  status: string;
  /** Why it failed, when it did. */
  reason?: string;
  startMicros: number;
  durationMicros: number;
  exitCode?: number;
  steps: DeployStep[];
}

const str = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : String(v));

/** The deploy spans of a trace (usually one) as rows, with their direct children as steps. */
export function deploysIn(trace: JaegerSpan[]): DeployRow[] {
  return trace
    .filter((s) => KINDS.includes(String(s.attributes[KIND])))
    .map((d) => {
      const a = d.attributes;
      const failed = isError(d) || a['deployment.status'] === 'failed';
      const row: DeployRow = {
        traceId: d.traceId,
        spanId: d.spanId,
        kind: String(a[KIND]),
        service: d.service,
        name: String(a['deployment.name'] ?? d.name),
        deploymentId: str(a['deployment.id']),
        version: str(a['service.version']) ?? str(d.resource['service.version']),
        environment: str(a['deployment.environment.name']) ?? str(d.resource['deployment.environment.name']),
        performer: str(a['user.name']),
        status: str(a['deployment.status']) ?? (failed ? 'failed' : 'succeeded'),
        startMicros: d.startTimeMicros,
        durationMicros: d.durationMicros,
        exitCode: typeof a['process.exit.code'] === 'number' ? (a['process.exit.code'] as number) : undefined,
        steps: trace
          .filter((s) => s.parentId === d.spanId)
          .sort((x, y) => x.startTimeMicros - y.startTimeMicros)
          .map((s) => ({
            name: s.name,
            durationMicros: s.durationMicros,
            status: isError(s) ? ('failed' as const) : ('succeeded' as const),
            exitCode: typeof s.attributes['process.exit.code'] === 'number' ? (s.attributes['process.exit.code'] as number) : undefined,
          })),
      };
      if (failed) row.reason = errorMessage(d);
      return row;
    });
}

export async function findDeploys(client: JaegerClient, services: string[], startMicros: number, endMicros: number, limit: number): Promise<DeployRow[]> {
  const rows = new Map<string, DeployRow>();
  for (const service of services) {
    for (const kind of KINDS) {
      for (const trace of await client.search({ service, tags: { [KIND]: kind }, startMicros, endMicros, limit })) {
        for (const row of deploysIn(trace)) if (row.service === service) rows.set(`${row.traceId}/${row.spanId}`, row);
      }
    }
  }
  return [...rows.values()].sort((a, b) => b.startMicros - a.startMicros).slice(0, limit);
}

/** Two lines per deploy: its facts in columns sized to the content, then its trace id (and why it failed). */
export function deployLines(rows: DeployRow[], width: number, c: Colors): string[] {
  const cells = rows.map((r) => {
    const failedSteps = r.steps.filter((s) => s.status === 'failed').length;
    return [
      formatShortTime(r.startMicros),
      r.kind,
      printable(r.service),
      printable(r.version ?? '-'),
      printable(r.environment ?? '-'),
      printable(r.performer ?? '-'),
      r.status,
      formatDuration(r.durationMicros),
      failedSteps ? `${r.steps.length}✗${failedSteps}` : String(r.steps.length),
    ];
  });
  const header = ['START (UTC)', 'KIND', 'SERVICE', 'VERSION', 'ENV', 'BY', 'STATUS', 'DURATION', 'STEPS'];
  const caps = [14, 8, 24, 16, 14, 14, 9, 8, 5];
  const right = new Set([7, 8]);
  const widths = header.map((h, i) => Math.min(caps[i], Math.max(columns(h), ...cells.map((row) => columns(row[i])))));
  const line = (row: string[]) => row.map((v, i) => (right.has(i) ? padStart(fit(v, widths[i]), widths[i]) : padEnd(fit(v, widths[i]), widths[i]))).join('  ');
  const lines = [c.bold(fit(line(header), width))];
  rows.forEach((r, i) => {
    const text = fit(line(cells[i]), width);
    lines.push(r.status === 'failed' ? c.red(text) : text);
    const second = `  trace ${r.traceId}${r.exitCode ? `  exit ${r.exitCode}` : ''}${r.reason ? `  ${printable(r.reason)}` : ''}`;
    lines.push(c.dim(fit(second, width)));
  });
  return lines;
}

export function deploysMain(argv: string[]): Promise<number> {
  return runCommand(DEPLOYS_USAGE, argv, async () => {
    const { values } = parseWindowOptions('deploys', argv, false);
    const since = durationFlag('deploys', 'since', values.since, '30d')!;
    const limit = countFlag('deploys', 'limit', values.limit, 20, 1_500);
    const { client, out, note } = openSession('deploys', values.jaeger);
    const services = await servicesToSearch(client, values.service);
    const end = nowMicros();
    const rows = await findDeploys(client, services, end - since, end, limit);
    if (values.json) out.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (!rows.length)
      note(`no deploys in the last ${values.since ?? '30d'}${values.service ? ` for ${values.service}` : ''} (record them with sidetrace deploy -- <command>)`);
    else out.write(`${deployLines(rows, out.width, out.colors).join('\n')}\n`);
    return 0;
  });
}
