// `sidetrace doctor`: checks a tracing setup the way the app would use it.
// It prints the effective configuration (secrets masked), then one line per
// step — `ok …`, `FAIL …` or `skip …` — and exits 1 when a step failed:
//   config            every variable parsed without a problem
//   tracing           the app would trace (not off; with SIDETRACE_AGENT=newrelic, the agent would load)
//   collector health  SIDETRACE_COLLECTOR_HEALTH_URL (default: port 13133 on the OTLP endpoint's host) answers 2xx
//   export            one real span `sidetrace.doctor` through each configured exporter
//   jaeger            that span's trace is found through SIDETRACE_JAEGER_QUERY_URL (/api/traces/<traceId>)
import path from 'node:path';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { readConfig, secretValues, type ConfigProblem, type ConfigResult, type SidetraceConfig } from '../config';
import { maskedUrl, oneLine } from '../logging/mask';
import {
  describeAsyncContextFrame,
  describeClientInstrumentation,
  describeFetchInstrumentation,
  describeExporter,
  describeSampler,
  describeServerInstrumentation,
  describeTargets,
} from '../logging/describe';
import { planInstrumentations } from '../instrumentations';
import { describeNode } from './node-support';
import { findAppPackage, serviceIdentity, type ServiceIdentity } from '../sdk/resource';
import { withTimeout } from '../start/shutdown';
import { DISTRO_VERSION } from '../version';

/** Each network step gives up after this long: the doctor must answer quickly. */
const STEP_TIMEOUT_MS = 5000;
/** The collector batches before it writes to Jaeger: poll this long for the trace. */
const JAEGER_WAIT_MS = 10_000;
const JAEGER_POLL_MS = 500;

const USAGE = `Usage: sidetrace doctor

Checks the tracing setup from the same environment variables the app reads:
prints the effective configuration (secrets masked), checks the collector's
health endpoint, exports one test span (sidetrace.doctor) through the
configured exporter and, when SIDETRACE_JAEGER_QUERY_URL is set, confirms it
arrived in Jaeger. Exits 1 when a check fails.
`;

type Outcome = 'ok' | 'FAIL' | 'skip';

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length) {
    process.stderr.write(`sidetrace doctor: unexpected argument ${JSON.stringify(argv[0])}; it reads only the environment (sidetrace doctor --help)\n`);
    return 2;
  }
  const doctor = new Doctor(readConfig(), secretValues());
  try {
    await doctor.run();
  } catch (err) {
    // A bug in a check must still end in an answer, not a stack trace.
    doctor.step('FAIL', 'doctor', `check crashed (${(err as Error)?.message ?? err})`);
  }
  return doctor.finish();
}

class Doctor {
  private readonly config: SidetraceConfig;
  private readonly problems: ConfigProblem[];
  private readonly secrets: string[];
  private readonly failed: string[] = [];

  /** `secretValues`: values of the secret variables, masked wherever they would appear. */
  constructor({ config, problems }: ConfigResult, secretValues: string[]) {
    this.config = config;
    this.problems = problems;
    this.secrets = secretsOf(config, secretValues);
  }

  async run(): Promise<void> {
    const c = this.config;
    // The app is the one in the current directory, not sidetrace's own package.
    const identity = serviceIdentity(c, findAppPackage(path.join(process.cwd(), 'package.json')));
    this.printConfig(identity);

    if (this.problems.length) for (const p of this.problems) this.step('FAIL', 'config', p.message);
    else this.step('ok', 'config', 'no problems');

    if (c.agent === 'newrelic') {
      this.checkNewRelicAgent();
      return;
    }
    if (!c.enabled) this.step('FAIL', 'tracing', `off: ${c.disabledReason}`);
    else this.step('ok', 'tracing', 'on');

    await this.checkHealth();
    const traceId = await this.checkExport(identity);
    await this.checkJaeger(traceId);
  }

  /** New Relic agent mode: the agent reports to New Relic itself, so there is no collector or exporter to check here. */
  private checkNewRelicAgent(): void {
    const { newRelicReadiness } = require('../newrelic/agent') as typeof import('../newrelic/agent');
    const readiness = newRelicReadiness(this.config.newRelic);
    if (!readiness.ready) {
      this.step('FAIL', 'tracing', readiness.reason);
      return;
    }
    const source = readiness.configFile ? `settings from ${readiness.configFile}` : 'license key from NEW_RELIC_LICENSE_KEY';
    this.step('ok', 'tracing', `on: New Relic agent mode, newrelic ${readiness.version} (${source})`);
    for (const check of ['collector health', 'export', 'jaeger']) this.step('skip', check, 'New Relic agent mode: the agent sends to New Relic directly');
  }

  finish(): number {
    if (this.failed.length === 0) {
      this.print('sidetrace doctor: all checks passed');
      return 0;
    }
    this.print(`sidetrace doctor: ${this.failed.length} check(s) failed: ${[...new Set(this.failed)].join(', ')}`);
    return 1;
  }

  step(outcome: Outcome, name: string, detail: string): void {
    if (outcome === 'FAIL') this.failed.push(name);
    this.print(`${outcome} ${name}: ${detail}`);
  }

  /** Every line goes through here: URLs masked, known secret values replaced, one line. */
  private print(line: string): void {
    let out = line.replace(/https?:\/\/[^\s,;)]+/g, (u) => maskedUrl(u));
    for (const s of this.secrets) out = out.split(s).join('***');
    process.stdout.write(`${oneLine(out)}\n`);
  }

  private printConfig(identity: ServiceIdentity): void {
    const c = this.config;
    const plan = planInstrumentations(c, [process.cwd()]);
    const b = c.batch;
    const rows: [string, string][] = [
      ['node', describeNode()],
      ['service', `${identity.name}${identity.version ? `@${identity.version}` : ''}${identity.environment ? ` (${identity.environment})` : ''}`],
      ['exporters', describeTargets(c).join('; ') || 'none (propagation only)'],
      ['sampler', `${describeSampler(c)}; noise policy ${c.noise.enabled ? 'on' : 'off'}`],
      ['batch', `queue ${b.maxQueueSize}, batch ${b.maxExportBatchSize}, every ${b.scheduledDelayMillis} ms, export timeout ${b.exportTimeoutMillis} ms`],
      ['shutdown bound', `${c.shutdownTimeoutMs} ms`],
      ['propagators', c.propagators.join(', ') || 'none'],
      [
        'instrumentations',
        `${plan.load.join(', ') || 'none'} at start` +
          `${plan.onFirstRequire.length ? `; ${plan.onFirstRequire.join(', ')} when the app first requires their module` : ''}` +
          ` (for the app in ${process.cwd()})`,
      ],
      ['http server spans', describeServerInstrumentation(c, [...plan.load, ...plan.onFirstRequire])],
      ['http client spans', describeClientInstrumentation(c, plan.load)],
      ['fetch spans', describeFetchInstrumentation(c, plan.load)],
      ['AsyncContextFrame', `${describeAsyncContextFrame()} (in this node, ${process.version})`],
      ['collector health', c.doctor.collectorHealthUrl ?? 'not checked'],
      ['jaeger query', c.doctor.jaegerQueryUrl ?? 'not set (SIDETRACE_JAEGER_QUERY_URL)'],
    ];
    this.print(`sidetrace doctor v${DISTRO_VERSION}`);
    for (const [k, v] of rows) this.print(`  ${k.padEnd(17)} ${v}`);
  }

  private async checkHealth(): Promise<void> {
    const url = this.config.doctor.collectorHealthUrl;
    if (!url) {
      const why = this.config.doctor.collectorHealthOff
        ? 'SIDETRACE_COLLECTOR_HEALTH_URL=none'
        : 'no OTLP exporter and SIDETRACE_COLLECTOR_HEALTH_URL is not set';
      this.step('skip', 'collector health', why);
      return;
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
      await res.arrayBuffer();
      if (res.ok) this.step('ok', 'collector health', `${url} answered ${res.status}`);
      else this.step('FAIL', 'collector health', `${url} answered ${res.status} ${res.statusText}`.trim());
    } catch (err) {
      this.step('FAIL', 'collector health', `${url} ${networkError(err)}`);
    }
  }

  /** Sends one span through every configured exporter; returns its trace id when at least one accepted it. */
  private async checkExport(identity: ServiceIdentity): Promise<string | undefined> {
    const names = this.config.exporters.filter((e) => e !== 'none');
    if (names.length === 0) {
      this.step('skip', 'export', 'no exporter is configured (propagation only)');
      return undefined;
    }
    const { testSpan } = require('../sdk/test-span') as typeof import('../sdk/test-span');
    const span = await testSpan(this.config, identity, STEP_TIMEOUT_MS);
    const traceId = span.spanContext().traceId;
    // The doctor's own short timeout, whatever the app's is.
    const short = {
      ...this.config,
      otlp: { ...this.config.otlp, timeoutMs: Math.min(this.config.otlp.timeoutMs, STEP_TIMEOUT_MS) },
      jaeger: { ...this.config.jaeger, timeoutMs: Math.min(this.config.jaeger.timeoutMs, STEP_TIMEOUT_MS) },
    };
    const { createExporter, failureReason } = require('../sdk/exporter') as typeof import('../sdk/exporter');
    const { ExportResultCode } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
    let accepted = false;
    for (const name of names) {
      const where = describeExporter(name, this.config);
      let target: ReturnType<typeof createExporter>;
      try {
        target = createExporter(name, short);
      } catch (err) {
        this.step('FAIL', 'export', `${where}: exporter could not be created (${(err as Error).message})`);
        continue;
      }
      if (!target) continue;
      const result = await exportWithin(target.exporter, span, STEP_TIMEOUT_MS + 1000);
      if (result === 'timeout') this.step('FAIL', 'export', `${where}: no answer within ${STEP_TIMEOUT_MS} ms`);
      else if (result.code === ExportResultCode.SUCCESS) {
        accepted = true;
        this.step('ok', 'export', `span sidetrace.doctor (trace ${traceId}) accepted by ${where}`);
      } else this.step('FAIL', 'export', `${where}: ${failureReason(result)}`);
      await withTimeout(target.exporter.shutdown(), 1000);
    }
    return accepted ? traceId : undefined;
  }

  private async checkJaeger(traceId: string | undefined): Promise<void> {
    const base = this.config.doctor.jaegerQueryUrl;
    if (!base) {
      this.step('skip', 'jaeger', 'SIDETRACE_JAEGER_QUERY_URL is not set');
      return;
    }
    if (!traceId) {
      this.step('FAIL', 'jaeger', 'no test span to look for (the export failed)');
      return;
    }
    const u = new URL(base);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/traces/${traceId}`;
    u.search = '';
    const deadline = Date.now() + JAEGER_WAIT_MS;
    let last = 'no answer';
    for (;;) {
      try {
        // The same credentials the terminal commands send to an authenticated query endpoint.
        const res = await fetch(u, { headers: this.config.terminal.jaegerHeaders, signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
        const body = await res.text();
        if (res.status === 401 || res.status === 403) {
          // Refused credentials do not change while polling: fail now.
          this.step('FAIL', 'jaeger', `${base} refused the query (HTTP ${res.status}); set its credentials in SIDETRACE_JAEGER_HEADERS`);
          return;
        }
        last = `${res.status}`;
        if (res.ok) {
          const trace = (
            JSON.parse(body) as { data?: { spans?: { operationName?: string; processID?: string }[]; processes?: Record<string, { serviceName?: string }> }[] }
          ).data?.[0];
          const span = trace?.spans?.find((s) => s.operationName === 'sidetrace.doctor');
          if (span) {
            const service = trace?.processes?.[span.processID ?? '']?.serviceName ?? 'unknown';
            this.step('ok', 'jaeger', `trace ${traceId} found at ${base} (span sidetrace.doctor of service ${service})`);
            return;
          }
          last = `${res.status} without the span`;
        }
      } catch (err) {
        last = networkError(err);
      }
      if (Date.now() + JAEGER_POLL_MS > deadline) break;
      await new Promise((r) => setTimeout(r, JAEGER_POLL_MS));
    }
    this.step('FAIL', 'jaeger', `trace ${traceId} not found at ${base} within ${JAEGER_WAIT_MS / 1000} s (last answer: ${last})`);
  }
}

function exportWithin(exporter: import('@opentelemetry/sdk-trace-base').SpanExporter, span: ReadableSpan, ms: number): Promise<ExportResult | 'timeout'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    const done = (r: ExportResult) => {
      clearTimeout(timer);
      resolve(r);
    };
    try {
      exporter.export([span], done);
    } catch (err) {
      done({ code: 1 /* FAILED */, error: err as Error });
    }
  });
}

function networkError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `gave no answer within ${STEP_TIMEOUT_MS} ms`;
  return `is unreachable (${e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)})`;
}

/** Values that must never be printed, even inside an error text: header values, passwords, URL userinfo and query values. */
function secretsOf(config: SidetraceConfig, secretValues: string[]): string[] {
  const values = [...Object.values(config.otlp.headers), ...Object.values(config.terminal.jaegerHeaders), config.jaeger.password, ...secretValues];
  for (const url of [config.otlp.endpoint, config.jaeger.endpoint, config.doctor.collectorHealthUrl, config.doctor.jaegerQueryUrl]) {
    if (!url) continue;
    try {
      const u = new URL(url);
      values.push(u.username, u.password, ...u.searchParams.values());
      values.push(decodeURIComponent(u.username), decodeURIComponent(u.password));
    } catch {
      // a userinfo that is not valid percent-encoding: its raw form is already listed
    }
  }
  // Very short values would mask ordinary text; masked URLs already hide them where they appear.
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.trim().length >= 4))].sort((a, b) => b.length - a.length);
}
