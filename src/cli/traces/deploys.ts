// `sidetrace deploys`: recent deploys and rollbacks recorded by `sidetrace
// deploy` (src/deploy/, docs/deploys.md), newest first: version,
// environment, performer, status, duration, steps and trace id.
import { parseArgs } from 'node:util';
import { countFlag, durationFlag, JAEGER_OPTION, nowMicros, openSession, runCommand, usageError, servicesToSearch } from './command';
import type { JaegerClient, JaegerSpan } from './jaeger';
import { errorMessage, isError } from './model';
import { fit, formatDuration, formatTime, padEnd, padStart, printable, type Colors } from './terminal';

export const DEPLOYS_USAGE = `Usage: sidetrace deploys [options]

Recent deploys and rollbacks, newest first: start (UTC), kind, service,
version, environment, performer, status, duration, steps, trace id.

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

export function deployLines(rows: DeployRow[], width: number, c: Colors): string[] {
  // START KIND SERVICE VERSION ENV BY STATUS DURATION STEPS TRACE
  const fixed = 19 + 8 + 9 + 9 + 6 + 32 + 2 * 9;
  const free = Math.max(30, width - fixed);
  const w = { service: Math.ceil(free * 0.25), version: Math.ceil(free * 0.3), env: Math.floor(free * 0.2), by: 0 };
  w.by = Math.max(4, free - w.service - w.version - w.env);
  const header = c.bold(
    [padEnd('START (UTC)', 19), padEnd('KIND', 8), padEnd('SERVICE', w.service), padEnd('VERSION', w.version), padEnd('ENV', w.env), padEnd('BY', w.by), padEnd('STATUS', 9), padStart('DURATION', 9), padStart('STEPS', 6), 'TRACE'].join('  '),
  );
  const lines = [header];
  for (const r of rows) {
    const failedSteps = r.steps.filter((s) => s.status === 'failed').length;
    const status = padEnd(r.status, 9);
    lines.push(
      [
        c.dim(formatTime(r.startMicros)),
        padEnd(r.kind, 8),
        padEnd(fit(printable(r.service), w.service), w.service),
        padEnd(fit(printable(r.version ?? '-'), w.version), w.version),
        padEnd(fit(printable(r.environment ?? '-'), w.env), w.env),
        padEnd(fit(printable(r.performer ?? '-'), w.by), w.by),
        r.status === 'failed' ? c.red(status) : r.status === 'succeeded' ? c.green(status) : status,
        padStart(formatDuration(r.durationMicros), 9),
        padStart(failedSteps ? `${r.steps.length}✗${failedSteps}` : String(r.steps.length), 6),
        c.cyan(r.traceId),
      ].join('  '),
    );
    if (r.reason) lines.push(c.red(`  ! ${fit(printable(r.reason), width - 4)}`));
  }
  return lines;
}

export function deploysMain(argv: string[]): Promise<number> {
  return runCommand(DEPLOYS_USAGE, argv, async () => {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...JAEGER_OPTION, service: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } }, allowPositionals: false, strict: true });
    } catch (err) {
      throw usageError('deploys', err);
    }
    const { values } = parsed;
    const since = durationFlag('deploys', 'since', values.since, '30d')!;
    const limit = countFlag('deploys', 'limit', values.limit, 20, 1_500);
    const { client, out, note } = openSession('deploys', values.jaeger);
    const services = await servicesToSearch(client, values.service);
    const end = nowMicros();
    const rows = await findDeploys(client, services, end - since, end, limit);
    if (values.json) out.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (!rows.length) note(`no deploys in the last ${values.since ?? '30d'}${values.service ? ` for ${values.service}` : ''} (record them with sidetrace deploy -- <command>)`);
    else out.write(`${deployLines(rows, out.width, out.colors).join('\n')}\n`);
    return 0;
  });
}
