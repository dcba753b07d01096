// `sidetrace traces`, `trace`, `migration` and `deploys` against the real
// Jaeger (test/helpers/stack.ts), fed by real programs: the demo app under
// the preload with the demo's traffic, a real migration in Redis (failed
// records, a batch that throws, a resumed run, a run with no total) and real
// deploys through `sidetrace deploy`. What the commands print is compared
// with what was sent; the error paths each give one line and a non-zero exit.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDemoApp, type DemoApp } from '../scripts/demo-lib.mjs';
import { runTraffic } from '../scripts/demo-traffic.mjs';
import { freePort } from '../scripts/stack-lib.mjs';
import { FIXTURES, PRELOAD } from './helpers/app';
import { cli, run, start, type CliResult } from './helpers/deploy';
import { useServices } from './helpers/services';
import { jaegerServiceSpans, jaegerTrace, startStack, waitFor, type JaegerSpan, type Stack } from './helpers/stack';

describe('terminal commands against the real Jaeger', () => {
  const services = useServices();
  let stack: Stack;
  let demo: DemoApp;
  const suffix = crypto.randomBytes(3).toString('hex');
  const DEPLOY_SERVICE = `shop-${suffix}`;
  const MIGRATION = `cli-backfill-${suffix}`;
  const ANSI = /\u001b\[/;

  before(async () => {
    stack = await startStack();
    demo = await startDemoApp({
      databaseUrl: services.databaseUrl,
      redisUrl: services.redisUrl,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
  });

  after(async () => {
    await demo?.stop();
    await stack?.stop();
  });

  /** `sidetrace <args>` against the test's Jaeger, stdout piped (so plain, 100 columns). */
  function sidetrace(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
    return cli(args, { env: { SIDETRACE_JAEGER_URL: stack.jaegerUrl, ...env } });
  }

  function ok(r: CliResult): string {
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.err}`);
    return r.stdout.toString('utf8');
  }

  /** One line on stderr, the exit code, nothing on stdout. */
  function oneLineError(r: CliResult, code: number, pattern: RegExp): string {
    assert.equal(r.code, code, `exit code; stderr: ${r.err}`);
    assert.equal(r.stdout.length, 0, `nothing on stdout: ${r.stdout}`);
    const lines = r.err.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.err}`);
    assert.match(lines[0], pattern);
    return lines[0];
  }

  const demoSpans = () => jaegerServiceSpans(stack.jaegerUrl, 'sidetrace-demo', 200);

  describe('sidetrace traces and trace, on the demo app', () => {
    let spans: JaegerSpan[];

    before(async () => {
      const traffic = await runTraffic({ baseUrl: demo.appUrl, rounds: 1, intervalMs: 0 });
      assert.deepEqual(traffic.unexpected, []);
      spans = await waitFor(
        demoSpans,
        (all) =>
          ['/projects/:id', '/boom', '/users'].every((r) => all.some((s) => s.attributes['http.route'] === r)) &&
          all.some((s) => s.service === 'sidetrace-preview'),
        {
          timeoutMs: 30_000,
          what: 'the demo traffic in Jaeger',
          describe: (all) => `${all.length} spans`,
        },
      );
      await new Promise((r) => setTimeout(r, 1_000)); // the last spans of those traces (batched at 100 ms)
      spans = await demoSpans();
    });

    const serverSpan = (route: string) => spans.find((s) => s.kind === 'server' && s.service === 'sidetrace-demo' && s.attributes['http.route'] === route)!;

    it('lists the traces Jaeger has, newest first, with root, duration, span count, services and the error mark', async () => {
      const list = JSON.parse(ok(await sidetrace(['traces', '--service', 'sidetrace-demo', '--limit', '50', '--json'])));
      const traceIds = new Set(spans.map((s) => s.traceId));
      assert.equal(list.length, Math.min(50, traceIds.size));
      for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].startMicros >= list[i].startMicros, 'newest first');

      const project = serverSpan('/projects/:id');
      const row = list.find((t: any) => t.traceId === project.traceId);
      const inJaeger = await jaegerTrace(stack.jaegerUrl, project.traceId);
      assert.deepEqual(
        { service: row.service, operation: row.operation, spanCount: row.spanCount, services: [...row.services].sort(), errorCount: row.errorCount },
        { service: 'sidetrace-demo', operation: project.name, spanCount: inJaeger.length, services: ['sidetrace-demo', 'sidetrace-preview'], errorCount: 0 },
      );
      const start = Math.min(...inJaeger.map((s) => s.startTimeMicros));
      assert.equal(row.durationMicros, Math.max(...inJaeger.map((s) => s.startTimeMicros + s.durationMicros)) - start);
      const boom = list.find((t: any) => t.traceId === serverSpan('/boom').traceId);
      assert.ok(boom.errorCount >= 1, 'GET /boom is marked as an error');

      const plain = ok(await sidetrace(['traces', '--service', 'sidetrace-demo', '--limit', '50']));
      assert.ok(!ANSI.test(plain), 'no colours when piped');
      const lines = plain.trimEnd().split('\n');
      assert.match(lines[0], /^START \(UTC\)\s+DURATION\s+SPANS\s+ROOT/);
      assert.equal(lines.length, list.length + 1);
      for (const l of lines) assert.ok([...l].length <= 100, `at most 100 columns when piped: ${l}`);
      const boomLine = lines.find((l) => l.endsWith(boom.traceId))!;
      assert.match(boomLine, / {2}✗ GET \/boom {2}/, 'the service searched is not repeated');
      // 100 columns leave the root column 33: the operation, then the other services, cut.
      assert.match(lines.find((l) => l.endsWith(project.traceId))!, new RegExp(`  ${inJaeger.length}  GET /projects/:id  \\+sidetrace-pr`));
      const wide = ok(await sidetrace(['traces', '--service', 'sidetrace-demo', '--limit', '50'], { COLUMNS: '200' }));
      assert.equal(wide, plain, 'a pipe is 100 columns whatever COLUMNS says');
    });

    it('filters: --errors, --tag, --operation, --min-duration, --limit', async () => {
      const ids = async (args: string[]) =>
        (JSON.parse(ok(await sidetrace(['traces', '--service', 'sidetrace-demo', '--limit', '100', '--json', ...args]))) as any[]).map((t) => t.traceId).sort();
      // Jaeger matches a trace by one span of the service searched that meets every condition.
      const tracesWhere = (pred: (s: JaegerSpan) => boolean) =>
        [...new Set(spans.filter((s) => s.service === 'sidetrace-demo' && pred(s)).map((s) => s.traceId))].sort();

      // --errors: a span in error anywhere in the trace (picked from the traces Jaeger returns for the service).
      const withErrors = [...new Set(spans.filter((s) => s.status === 'ERROR').map((s) => s.traceId))].sort();
      assert.ok(withErrors.length >= 1);
      assert.deepEqual(await ids(['--errors']), withErrors);
      assert.ok((await ids(['--errors'])).includes(serverSpan('/boom').traceId));
      assert.deepEqual(
        await ids(['--tag', 'http.route=/users/:id']),
        tracesWhere((s) => s.attributes['http.route'] === '/users/:id'),
      );
      assert.deepEqual(
        await ids(['--operation', 'GET /projects/:id/previews']),
        tracesWhere((s) => s.name === 'GET /projects/:id/previews'),
      );
      const slowest = Math.max(...spans.filter((s) => s.service === 'sidetrace-demo').map((s) => s.durationMicros));
      const threshold = Math.floor(slowest / 2);
      assert.deepEqual(
        await ids(['--min-duration', `${threshold}us`]),
        tracesWhere((s) => s.durationMicros >= threshold),
      );
      assert.equal((await ids(['--limit', '2'])).length, 2);
      const allServices = JSON.parse(ok(await sidetrace(['traces', '--limit', '100', '--json'])));
      assert.ok(
        allServices.some((t: any) => t.service === 'sidetrace-preview' || t.services.includes('sidetrace-preview')),
        'without --service: every service',
      );
    });

    it('draws a request as a waterfall: its spans, the service it called, bars within 100 columns, no colours when piped', async () => {
      const project = serverSpan('/projects/:id');
      const trace = await jaegerTrace(stack.jaegerUrl, project.traceId);
      const out = ok(await sidetrace(['trace', project.traceId]));
      assert.ok(!ANSI.test(out));
      const lines = out.trimEnd().split('\n');
      assert.equal(lines[0], `trace ${project.traceId}  sidetrace-demo: ${project.name}`);
      assert.match(lines[1], new RegExp(`· ${trace.length} spans · 2 services$`));
      for (const l of lines) assert.ok([...l].length <= 100, l);
      assert.match(lines[3], /^GET \/projects\/:id {2}sidetrace-demo\s+[0-9.]+ (ms|µs|s) █+$/);
      // Every span is on a line of its own (a request has fewer than five alike siblings) or in a collapsed group.
      const names = new Set(trace.map((s) => s.name));
      for (const name of names)
        assert.ok(
          lines.some((l) => l.includes(name)),
          `${name} is shown:\n${out}`,
        );
      const preview = trace.find((s) => s.service === 'sidetrace-preview' && s.kind === 'server')!;
      assert.ok(
        lines.some((l) => l.includes(`${preview.name}  sidetrace-preview`)),
        'the service is named where it changes',
      );

      const attrs = ok(await sidetrace(['trace', project.traceId, '--attrs']));
      assert.ok(attrs.includes('http.route = /projects/:id'));
      const json = JSON.parse(ok(await sidetrace(['trace', project.traceId, '--json'])));
      assert.deepEqual(json.map((s: JaegerSpan) => s.spanId).sort(), trace.map((s) => s.spanId).sort());
      const shallow = ok(await sidetrace(['trace', project.traceId, '--depth', '1']))
        .trimEnd()
        .split('\n');
      assert.match(shallow[shallow.length - 1], new RegExp(`└─ … ${trace.length - 1} spans below \\(--depth 1\\)`));
    });

    it("on a terminal: colours, the terminal's width; NO_COLOR turns the colours off", async () => {
      // A real pseudo-terminal (util-linux `script`), 120 columns wide.
      const project = serverSpan('/projects/:id');
      const onTty = async (env: Record<string, string> = {}) => {
        const r = await run(
          'script',
          ['-qec', `stty cols 120; exec ${process.execPath} ${path.join(__dirname, '..', 'dist', 'cli', 'index.js')} trace ${project.traceId}`, '/dev/null'],
          {
            env: { SIDETRACE_JAEGER_URL: stack.jaegerUrl, ...env },
          },
        );
        assert.equal(r.code, 0, r.stdout.toString());
        return r.stdout.toString().replace(/\r/g, '').trimEnd().split('\n');
      };
      const coloured = await onTty();
      assert.ok(
        coloured.some((l) => ANSI.test(l)),
        'colours on a terminal',
      );
      const plain = coloured.map((l) => l.replace(/\u001b\[[0-9;]*m/g, ''));
      assert.ok(
        plain.some((l) => [...l].length > 100),
        'wider than a pipe',
      );
      for (const l of plain) assert.ok([...l].length <= 120, `within the terminal's 120 columns: ${l}`);
      const noColor = await onTty({ NO_COLOR: '1' });
      assert.ok(!noColor.some((l) => ANSI.test(l)), 'NO_COLOR: none');
      assert.deepEqual(noColor, plain);
    });

    it('an error stands out with its exception message', async () => {
      const boom = serverSpan('/boom');
      const out = ok(await sidetrace(['trace', boom.traceId]));
      assert.match(out, /✗ GET \/boom/);
      assert.match(out, /! Error: boom: this route fails on purpose/);
    });

    it('--follow prints traces as they arrive', async () => {
      const follower = start(
        process.execPath,
        [
          path.join(__dirname, '..', 'dist', 'cli', 'index.js'),
          'traces',
          '--service',
          'sidetrace-demo',
          '--operation',
          'GET /users/:id',
          '--since',
          '1s',
          '--follow',
          '--json',
        ],
        {
          env: { SIDETRACE_JAEGER_URL: stack.jaegerUrl },
          timeoutMs: 60_000,
        },
      );
      let out = '';
      let err = '';
      follower.child.stdout!.on('data', (d) => (out += d));
      follower.child.stderr!.on('data', (d) => (err += d));
      try {
        await waitFor(
          async () => err,
          (e) => e.includes('following new traces'),
          { timeoutMs: 10_000, what: 'the follow note' },
        );
        await new Promise((r) => setTimeout(r, 2_500)); // it has polled once with nothing new
        const before = out;
        const traceId = crypto.randomBytes(16).toString('hex');
        const res = await fetch(`${demo.appUrl}/users/4`, { headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } });
        assert.equal(res.status, 200);
        const line = await waitFor(
          async () =>
            out
              .slice(before.length)
              .split('\n')
              .find((l) => l.includes(traceId)),
          (l) => l !== undefined,
          { timeoutMs: 20_000, what: 'the new trace in --follow output', describe: () => out },
        );
        const row = JSON.parse(line!);
        assert.equal(row.operation, 'GET /users/:id');
        follower.child.kill('SIGINT');
        const r = await follower.done;
        assert.equal(r.code, 0, `Ctrl-C ends --follow cleanly: ${r.err}`);
      } finally {
        follower.killAll();
      }
    });
  });

  describe('sidetrace migration, on a real run in Redis', () => {
    const fixture = path.join(FIXTURES, 'migration-run.js');
    const runPhase = async (phase: string, extra: Record<string, string> = {}) => {
      const r = await run(process.execPath, ['--require', PRELOAD, fixture], {
        env: {
          PHASE: phase,
          MIGRATION_NAME: MIGRATION,
          REDIS_URL: services.redisUrl,
          OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl,
          OTEL_SERVICE_NAME: `migrator-${suffix}`,
          ...extra,
        },
        timeoutMs: 60_000,
      });
      const out = r.stdout.toString();
      assert.equal(r.code, 0, `${phase}: ${out}${r.err}`);
      const [, runId, attempt] = /^run (\S+) attempt (\d+)$/m.exec(out)!;
      return { runId, attempt: Number(attempt), sent: JSON.parse(out.trimEnd().split('\n').pop()!) };
    };
    let runId: string;
    let sent: { processed: number; skipped: number; failed: number };
    let firstErrored: { index: number; message: string }[];

    before(async () => {
      const first = await runPhase('first');
      const second = await runPhase('resume', { RUN_ID: first.runId });
      assert.equal(second.runId, first.runId);
      assert.equal(second.attempt, 2);
      runId = first.runId;
      firstErrored = first.sent.errored;
      sent = {
        processed: first.sent.processed + second.sent.processed,
        skipped: first.sent.skipped + second.sent.skipped,
        failed: first.sent.failed + second.sent.failed,
      };
      await waitFor(
        () => jaegerServiceSpans(stack.jaegerUrl, `migrator-${suffix}`, 500),
        (all) => all.some((s) => s.name === `migration.run ${MIGRATION}`) && all.filter((s) => s.name === `migration.batch ${MIGRATION}`).length >= 10,
        { timeoutMs: 30_000, what: 'the run in Jaeger', describe: (all) => all.map((s) => s.name).join(', ') },
      );
    });

    it('the state matches what was sent: status, attempt, records, batches, the failed batch, resume cursor', async () => {
      const state = JSON.parse(ok(await sidetrace(['migration', runId, '--json'])));
      assert.deepEqual(firstErrored, [{ index: 3, message: 'disk full (injected)' }]);
      assert.deepEqual(sent, { processed: 54, skipped: 3, failed: 3 });
      assert.deepEqual(
        {
          name: state.name,
          runId: state.runId,
          attempt: state.attempt,
          status: state.status,
          total: state.total,
          batchSize: state.batchSize,
          records: state.records,
          batches: state.batches,
          resumeCursor: state.resumeCursor,
          runAttempts: state.runSpans.map((s: any) => s.attempt),
        },
        {
          name: MIGRATION,
          runId,
          attempt: 2,
          status: 'succeeded',
          total: 60,
          batchSize: 10,
          records: { ...sent, done: 60, percent: 100 },
          batches: { committed: 6, errored: 1, erroredThenCommitted: 1 },
          resumeCursor: 60,
          runAttempts: [2], // attempt 1's run span died with its process; its markers remain
        },
      );
      assert.deepEqual(
        state.failedBatches.map((b: any) => [b.index, b.error, b.committedLater]),
        [[3, 'Error: disk full (injected)', true]],
      );
      const failedBatch = await jaegerTrace(stack.jaegerUrl, state.failedBatches[0].traceId);
      assert.equal(failedBatch.find((s) => s.name === `migration.batch ${MIGRATION}`)!.attributes['migration.batch.outcome'], 'error');
      assert.deepEqual(
        state.batchesWithFailedRecords.map((b: any) => [b.index, b.failed, b.failedRecords.map((f: any) => f.id)]),
        [
          [1, 2, ['rec-12', 'rec-17']],
          [4, 1, ['rec-41']],
        ],
      );
      assert.equal(state.batchesWithFailedRecords[0].failedRecords[0].error, 'RangeError: record rec-12 has a corrupt header');
      const committedBatches = (await jaegerServiceSpans(stack.jaegerUrl, `migrator-${suffix}`, 500))
        .filter((s) => s.name === `migration.batch ${MIGRATION}` && s.attributes['migration.batch.outcome'] === 'committed')
        .sort((a, b) => b.durationMicros - a.durationMicros);
      assert.deepEqual(
        state.slowestBatches.map((b: any) => [b.index, b.durationMicros, b.traceId]),
        committedBatches.slice(0, 5).map((s) => [s.attributes['migration.batch.index'], s.durationMicros, s.traceId]),
      );
    });

    it('prints it for people, and finds the latest run by the migration name', async () => {
      const out = ok(await sidetrace(['migration', MIGRATION]));
      assert.ok(!ANSI.test(out));
      assert.match(out, new RegExp(`^migration ${MIGRATION}  run ${runId}  attempt 2$`, 'm'));
      assert.match(out, /^status {6}succeeded /m);
      assert.match(out, /^progress {4}60 of 60 records \(100%\)/m);
      assert.match(out, /^records {5}54 processed · 3 skipped · 3 failed$/m);
      assert.match(out, /^batches {5}6 committed of 10 records each · 1 failed \(1 committed on retry\)$/m);
      assert.match(out, /^resume at {3}cursor 60$/m);
      assert.match(out, /^failed batches\n +#3 +[0-9.]+ (ms|s) +[0-9a-f]{32} {2}committed on a later try\n +Error: disk full \(injected\)$/m);
      assert.match(
        out,
        /^batches with failed records \(2\)\n +#1 +[0-9.]+ (ms|s) +[0-9a-f]{32} {2}2 failed records\n +rec-12: RangeError: record rec-12 has a corrupt header\n +rec-17: RangeError: record rec-17 has a corrupt header$/m,
      );
      for (const l of out.split('\n')) assert.ok([...l].length <= 100, l);
    });

    it('a batch trace shows its link to the run', async () => {
      const state = JSON.parse(ok(await sidetrace(['migration', runId, '--json'])));
      const runTrace = state.runSpans[0].traceId;
      const batch = state.slowestBatches.find((b: any) => b.attempt === 2); // attempt 1's run span died with it
      const out = ok(await sidetrace(['trace', batch.traceId]));
      assert.match(out, new RegExp(`↪ link to trace ${runTrace} \\(span [0-9a-f]{16}\\)`));
    });

    it('a run with no known total, still going: progress without ETA', async () => {
      const open = await runPhase('open', { BATCHES: '3' });
      const state = await waitFor(
        async () => JSON.parse((await sidetrace(['migration', open.runId, '--json'])).stdout.toString() || 'null'),
        (s) => s?.batches?.committed === 3,
        { timeoutMs: 20_000, what: 'the open run' },
      );
      assert.deepEqual(
        { status: state.status, total: state.total, done: state.records.done, percent: state.records.percent, eta: state.etaSeconds },
        { status: 'running', total: undefined, done: open.sent.processed + open.sent.skipped + open.sent.failed, percent: undefined, eta: undefined },
      );
      assert.ok(state.recordsPerSecond > 0, 'throughput is known');
      const out = ok(await sidetrace(['migration', open.runId]));
      assert.match(out, /^progress {4}30 records \(total not known\)$/m);
      assert.match(out, /ETA unknown \(no total\)/);
    });
  });

  describe('sidetrace deploys, on real deploys', () => {
    const deploy = async (args: string[], extra: Record<string, string> = {}) => {
      const r = await cli(['deploy', '--service', DEPLOY_SERVICE, ...args], {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl, SIDETRACE_DEPLOY_TIMEOUT: '0', ...extra },
      });
      return { code: r.code, traceId: /as trace ([0-9a-f]{32})/.exec(r.err)![1] };
    };
    const sent: { traceId: string; code: number | null }[] = [];

    before(async () => {
      const step = `${process.execPath} ${path.join(__dirname, '..', 'dist', 'cli', 'index.js')} deploy step migrate -- ${process.execPath} -e 0`;
      sent.push(await deploy(['--version', 'v1.0.0', '--environment', 'staging', '--', 'sh', '-c', step]));
      sent.push(await deploy(['--version', 'v1.1.0', '--environment', 'production', '--', process.execPath, '-e', 'process.exit(3)']));
      sent.push(await deploy(['--kind', 'rollback', '--version', 'v1.0.0', '--environment', 'production', '--', process.execPath, '-e', '0']));
      assert.deepEqual(
        sent.map((d) => d.code),
        [0, 3, 0],
      );
      await waitFor(
        () => jaegerServiceSpans(stack.jaegerUrl, DEPLOY_SERVICE, 50),
        (all) => sent.every((d) => all.some((s) => s.traceId === d.traceId && s.attributes['sidetrace.deploy.kind'])) && all.some((s) => s.name === 'migrate'),
        { timeoutMs: 30_000, what: 'the deploys in Jaeger' },
      );
    });

    it('lists deploys and rollbacks newest first: version, environment, performer, status, steps, trace id', async () => {
      const rows = JSON.parse(ok(await sidetrace(['deploys', '--service', DEPLOY_SERVICE, '--json'])));
      const user = os.userInfo().username;
      assert.deepEqual(
        rows.map((r: any) => [r.traceId, r.kind, r.version, r.environment, r.performer, r.status, r.exitCode, r.steps.map((s: any) => [s.name, s.status])]),
        [
          [sent[2].traceId, 'rollback', 'v1.0.0', 'production', user, 'succeeded', 0, []],
          [sent[1].traceId, 'deploy', 'v1.1.0', 'production', user, 'failed', 3, []],
          [sent[0].traceId, 'deploy', 'v1.0.0', 'staging', user, 'succeeded', 0, [['migrate', 'succeeded']]],
        ],
      );
      const out = ok(await sidetrace(['deploys', '--service', DEPLOY_SERVICE]));
      const lines = out.trimEnd().split('\n');
      assert.match(lines[0], /^START \(UTC\)\s+KIND\s+SERVICE\s+VERSION\s+ENV\s+BY\s+STATUS\s+DURATION\s+STEPS$/);
      assert.equal(lines.length, 1 + 2 * 3, 'two lines per deploy');
      for (const l of lines) assert.ok([...l].length <= 100, l);
      const [failedLine, failedTrace] = lines.slice(3, 5);
      assert.match(failedLine, new RegExp(`^\\d\\d-\\d\\d [\\d:]{8}  deploy    ${DEPLOY_SERVICE}  v1\\.1\\.0   production  ${user}\\s+failed `));
      assert.match(failedTrace, new RegExp(`^  trace ${sent[1].traceId}  exit 3`));
      assert.match(lines[5], /\s1$/, 'the deploy with one step');
      assert.match(lines[1], /^\S+ \S+ {2}rollback {2}/);
      const limited = JSON.parse(ok(await sidetrace(['deploys', '--limit', '1', '--json'])));
      assert.deepEqual(
        limited.map((r: any) => r.traceId),
        [sent[2].traceId],
        'every service, newest first',
      );
    });
  });

  describe('errors: one line, non-zero exit', () => {
    it('Jaeger unreachable', async () => {
      const port = await freePort();
      oneLineError(
        await cli(['traces', '--jaeger', `http://127.0.0.1:${port}`]),
        1,
        new RegExp(`^sidetrace: cannot reach Jaeger at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
      );
      oneLineError(await cli(['trace', 'abc123'], { env: { SIDETRACE_JAEGER_URL: `http://127.0.0.1:${port}` } }), 1, /^sidetrace: cannot reach Jaeger/);
    });

    it('no such trace, malformed id, malformed duration, bad --limit and --jaeger', async () => {
      const id = crypto.randomBytes(16).toString('hex');
      oneLineError(await sidetrace(['trace', id]), 1, new RegExp(`^sidetrace: no trace ${id} in Jaeger at `));
      oneLineError(await sidetrace(['trace', 'not-a-trace-id']), 2, /^sidetrace trace: "not-a-trace-id" is not a trace id/);
      oneLineError(await sidetrace(['trace']), 2, /^sidetrace trace: expected one trace id, got 0/);
      oneLineError(await sidetrace(['traces', '--since', 'yesterday']), 2, /^sidetrace traces: --since "yesterday" is not a duration/);
      oneLineError(await sidetrace(['traces', '--min-duration', '200']), 2, /^sidetrace traces: --min-duration "200" is not a duration/);
      oneLineError(await sidetrace(['traces', '--limit', '0']), 2, /^sidetrace traces: --limit "0" is not a whole number/);
      oneLineError(await sidetrace(['traces', '--tag', 'novalue']), 2, /^sidetrace traces: --tag "novalue" is not key=value/);
      oneLineError(await sidetrace(['traces', '--frobnicate']), 2, /^sidetrace traces: unknown option --frobnicate/);
      oneLineError(await sidetrace(['deploys', '--jaeger', 'localhost']), 2, /^sidetrace deploys: --jaeger "localhost" is not an http\(s\) URL/);
    });

    it('a service Jaeger does not know: the ones it does are listed', async () => {
      const known = (await fetch(`${stack.jaegerUrl}/api/services`).then((r) => r.json() as Promise<any>)).data.sort();
      assert.ok(known.includes('sidetrace-demo'));
      const line = oneLineError(
        await sidetrace(['traces', '--service', 'no-such-service']),
        1,
        /^sidetrace: Jaeger at \S+ has no service "no-such-service"; it knows /,
      );
      assert.ok(line.endsWith(`it knows ${known.join(', ')}`), line);
      oneLineError(await sidetrace(['deploys', '--service', 'no-such-service']), 1, /has no service "no-such-service"/);
      oneLineError(await sidetrace(['migration', 'x', '--service', 'no-such-service']), 1, /has no service "no-such-service"/);
      oneLineError(
        await sidetrace(['migration', `no-such-run-${suffix}`]),
        1,
        new RegExp(`^sidetrace: no migration run id or name "no-such-run-${suffix}" in Jaeger`),
      );
    });

    it('an authenticated query endpoint: SIDETRACE_JAEGER_HEADERS is sent and never printed', async () => {
      // A gate in front of the real Jaeger that wants a bearer token, like an authenticating proxy.
      const token = `s3cret-${suffix}`;
      const gate = http.createServer((req, res) => {
        if (req.headers.authorization !== `Bearer ${token}`) {
          res.writeHead(401).end('{"errors":[{"code":401,"msg":"unauthorized"}]}');
          return;
        }
        const upstream = http.request(`${stack.jaegerUrl}${req.url}`, { headers: { accept: 'application/json' } }, (u) => {
          res.writeHead(u.statusCode!, u.headers);
          u.pipe(res);
        });
        upstream.end();
      });
      await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`;
      try {
        const list = await cli(['traces', '--service', 'sidetrace-demo', '--json'], {
          env: { SIDETRACE_JAEGER_URL: url, SIDETRACE_JAEGER_HEADERS: `Authorization=Bearer%20${token}` },
        });
        assert.ok(JSON.parse(ok(list)).length > 0);
        oneLineError(
          await cli(['traces'], { env: { SIDETRACE_JAEGER_URL: url } }),
          1,
          /refused the query \(HTTP 401\); set its credentials in SIDETRACE_JAEGER_HEADERS$/,
        );
        const wrong = await cli(['traces'], { env: { SIDETRACE_JAEGER_URL: url, SIDETRACE_JAEGER_HEADERS: `Authorization=Bearer%20wrong-${token},broken` } });
        assert.equal(wrong.code, 1);
        assert.ok(!wrong.err.includes(token) && !wrong.stdout.toString().includes(token), `the header value is never printed: ${wrong.err}`);
        assert.match(wrong.err, /^sidetrace: SIDETRACE_JAEGER_HEADERS has 1 malformed entry/m);
      } finally {
        gate.close();
      }
    });
  });
});
