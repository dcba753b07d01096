// Where spans go: one export pipeline per configured exporter, each a bounded
// batch queue in front of the exporter. Failures are reported once per
// outage with a count of the spans lost, never once per batch.
import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SidetraceConfig, TracesExporterName } from '../config';
import { maskedUrl, oneLine } from '../logging/mask';
import { describeExporter } from '../logging/describe';
import { log } from '../logging/log';
import { createProtobufTraceExporter } from './otlp-protobuf';

/** What happened to the spans handed to one pipeline (also what `doctor` and the bench read). */
export interface ExportStats {
  exported: number;
  failed: number;
  droppedQueueFull: number;
}

export interface ExportTarget {
  exporter: SpanExporter;
  /** For log lines: the exporter and where it sends, secrets masked. */
  description: string;
}

export function createExporter(name: TracesExporterName, config: SidetraceConfig): ExportTarget | undefined {
  const description = oneLine(describeExporter(name, config));
  switch (name) {
    case 'otlp': {
      const { endpoint, headers, timeoutMs, compression, protocol } = config.otlp;
      const options = { url: endpoint, headers, timeoutMillis: timeoutMs, compression: compression as never };
      if (protocol === 'grpc') {
        const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
        const { Metadata } = require('@grpc/grpc-js');
        const metadata = new Metadata();
        for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
        return { exporter: withoutRawEnvHeaders(() => new OTLPTraceExporter({ url: endpoint, metadata, timeoutMillis: timeoutMs, compression })), description };
      }
      if (protocol === 'http/protobuf' && config.otlp.encoder === 'sidetrace') {
        return { exporter: new DeferredExporter(() => withoutRawEnvHeaders(() => createProtobufTraceExporter(options))), description };
      }
      // Literal require() calls, so that the dependency check (scripts/lint-deps.mjs) sees both packages.
      const load = () => (protocol === 'http/json' ? require('@opentelemetry/exporter-trace-otlp-http') : require('@opentelemetry/exporter-trace-otlp-proto'));
      return { exporter: new DeferredExporter(() => withoutRawEnvHeaders(() => new (load().OTLPTraceExporter)(options))), description };
    }
    case 'jaeger': {
      const { JaegerExporter } = require('@opentelemetry/exporter-jaeger');
      const j = config.jaeger;
      return {
        exporter: new JaegerExporter({
          endpoint: j.endpoint,
          host: j.agentHost,
          port: j.agentPort,
          username: j.user,
          password: j.password,
          flushTimeout: j.timeoutMs,
        }),
        description,
      };
    }
    case 'console': {
      const { ConsoleSpanExporter } = require('@opentelemetry/sdk-trace-base');
      return { exporter: new ConsoleSpanExporter(), description };
    }
    case 'none':
      return undefined;
  }
}

/**
 * The OTLP/HTTP exporter package takes ~35 ms to load (its serializers pull in
 * the metrics and logs SDKs), the biggest single piece of start-up. Nothing is
 * exported before the first batch, so it is loaded off the start-up path: on
 * the first timer turn after the app's own start-up code, or at the first
 * export if that comes sooner. A failure to build it fails exports (reported
 * like any export failure), never the app.
 */
class DeferredExporter implements SpanExporter {
  private real?: SpanExporter;

  constructor(private readonly build: () => SpanExporter) {
    setTimeout(() => {
      try {
        this.load();
      } catch {
        // reported by the first export
      }
    }, 0).unref();
  }

  private load(): SpanExporter {
    return (this.real ??= this.build());
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    let real: SpanExporter;
    try {
      real = this.load();
    } catch (err) {
      done({ code: ExportResultCode.FAILED, error: err as Error });
      return;
    }
    real.export(spans, done);
  }

  shutdown(): Promise<void> {
    return this.real ? this.real.shutdown() : Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return this.real?.forceFlush ? this.real.forceFlush() : Promise.resolve();
  }
}

/**
 * The OTLP exporters also read OTEL_EXPORTER_OTLP_[TRACES_]HEADERS themselves,
 * as a fallback under the headers passed in: an entry src/config/ dropped (a
 * name HTTP cannot send) would come back and fail every export. The validated
 * headers are passed in, so the raw ones are hidden while the exporter is built.
 * Upstream: @opentelemetry/otlp-exporter-base 0.223.0 reads them in
 * configuration/otlp-node-http-env-configuration.js, with no option to turn that off.
 */
function withoutRawEnvHeaders<T>(build: () => T): T {
  const names = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'];
  const saved = names.map((n) => process.env[n]);
  for (const n of names) delete process.env[n];
  try {
    return build();
  } finally {
    names.forEach((n, i) => {
      if (saved[i] !== undefined) process.env[n] = saved[i];
    });
  }
}

/** Why an export failed, in one line with secrets masked (outage lines, `doctor`). */
export function failureReason(result: ExportResult): string {
  const code = (result.error as { code?: unknown } | undefined)?.code;
  // OTLP/HTTP errors carry the status code apart from the message (gRPC codes are 0–16).
  let msg = (typeof code === 'number' && code >= 100 ? `HTTP ${code} ` : '') + (result.error?.message || 'export failed');
  // The OTLP exporter's words for "retried until the timeout" name no status: say which ones it retries.
  if (msg === 'Export failed with retryable status') msg = 'the endpoint kept answering 429/502/503/504 until the export timeout';
  // Error texts can echo a URL; never let its userinfo or query through.
  return oneLine(
    msg
      .split('\n')[0]
      .slice(0, 200)
      .replace(/https?:\/\/[^\s]+/g, (u) => maskedUrl(u)),
  );
}

/** Tracks one outage at a time: one line when it starts, one when it ends. */
class OutageReporter {
  private since?: number;
  private lostInOutage = 0;
  constructor(private readonly description: string) {}

  lost(count: number, why: string): void {
    this.lostInOutage += count;
    if (this.since === undefined) {
      this.since = Date.now();
      log.warn(`export to ${this.description} is failing (${why}); spans are being dropped until it recovers`);
    }
  }

  ok(): void {
    if (this.since === undefined) return;
    const secs = ((Date.now() - this.since) / 1000).toFixed(1);
    log.warn(`export to ${this.description} recovered after ${secs}s; ${this.lostInOutage} spans were dropped during the outage`);
    this.since = undefined;
    this.lostInOutage = 0;
  }

  /** At shutdown: say what an unfinished outage cost. */
  finish(): void {
    if (this.since !== undefined) log.warn(`shutting down while export to ${this.description} is failing; ${this.lostInOutage} spans were dropped`);
  }
}

/**
 * Counts spans in and out of the exporter so the queue bound can be enforced
 * and reported, and hands the exporter one batch at a time. The batch
 * processor means to export one at a time, but after a failed export it
 * clears its busy flag while the next export is already running; during an
 * outage concurrent exports then double every timeout (up to the OTLP
 * exporter's limit of 30), all against the failing collector. Batches that
 * wait here are still counted as queued, so the queue bound holds.
 */
class CountingExporter implements SpanExporter {
  /** Spans passed to the inner exporter (not the ones waiting here). */
  handedOut = 0;
  private busy = false;
  private readonly waiting: { spans: ReadableSpan[]; done: (result: ExportResult) => void }[] = [];
  constructor(
    private readonly inner: SpanExporter,
    private readonly stats: ExportStats,
    private readonly outage: OutageReporter,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.busy) this.waiting.push({ spans, done });
    else this.send(spans, done);
  }

  private send(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.busy = true;
    this.handedOut += spans.length;
    let settled = false;
    const settle = (result: ExportResult) => {
      if (settled) return; // an exporter that answers twice must not release two batches
      settled = true;
      if (result.code === ExportResultCode.SUCCESS) {
        this.stats.exported += spans.length;
        this.outage.ok();
      } else {
        this.stats.failed += spans.length;
        this.outage.lost(spans.length, failureReason(result));
      }
      done(result);
      this.busy = false;
      const next = this.waiting.shift();
      if (next) this.send(next.spans, next.done);
    };
    try {
      this.inner.export(spans, settle);
    } catch (err) {
      settle({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
}

/**
 * A batch span processor with its queue bound made visible: a span that would
 * overflow the queue is counted (and reported with the outage) instead of
 * vanishing silently inside the batch processor.
 */
export class ExportPipeline implements SpanProcessor {
  readonly stats: ExportStats = { exported: 0, failed: 0, droppedQueueFull: 0 };
  private readonly batch: SpanProcessor;
  private readonly counting: CountingExporter;
  private readonly outage: OutageReporter;
  private handedIn = 0;

  constructor(
    target: ExportTarget,
    private readonly maxQueueSize: number,
    batchConfig: SidetraceConfig['batch'],
  ) {
    this.outage = new OutageReporter(target.description);
    this.counting = new CountingExporter(target.exporter, this.stats, this.outage);
    const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
    this.batch = new BatchSpanProcessor(this.counting, batchConfig);
  }

  onStart(span: Span, parentContext: Context): void {
    this.batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    if (this.handedIn - this.counting.handedOut >= this.maxQueueSize) {
      this.stats.droppedQueueFull++;
      this.outage.lost(1, 'the export queue is full');
      return;
    }
    this.handedIn++;
    this.batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  async shutdown(): Promise<void> {
    try {
      await this.batch.shutdown();
    } finally {
      this.outage.finish();
    }
  }
}
