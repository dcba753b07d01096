// The migration's way to the tracer: only the OpenTelemetry API (so it works
// with the preload's SDK or any registered provider, and with none), every
// root span through runAsRootWork, and no telemetry failure ever reaching the
// migration: a failing tracer or runner costs the span, never the batch.
import { INVALID_SPAN_CONTEXT, trace, type Link, type Span, type SpanContext, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { log } from '../logging/log';
import { runAsRootWork } from '../tracing/root-work';
import { withTimeout } from '../start/shutdown';
import { DISTRO_NAME, DISTRO_VERSION } from '../version';
import { MIGRATION_LINK, ROOT_WORK_GROUP } from './attributes';

const FLUSH_TIMEOUT_MS = 2000;

const warned = new Set<string>();

/** One line per kind of problem, not one per batch. */
export function warnOnce(key: string, line: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  log.warn(line);
}

/** Looked up per span (cheap), so a provider registered or replaced later is used from then on. */
function tracer(): Tracer {
  return trace.getTracer(DISTRO_NAME, DISTRO_VERSION);
}

/** A root span (never a child of whatever is active); a non-recording span if the tracer fails. */
export function startRootSpan(name: string, options: SpanOptions): Span {
  try {
    return tracer().startSpan(name, { ...options, root: true });
  } catch (err) {
    warnOnce('start', `migration span ${name} could not be started (${(err as Error)?.message ?? err}); the migration goes on untraced`);
    return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
  }
}

/** Runs span bookkeeping that must not throw into the migration. */
export function safely(what: string, f: () => void): void {
  try {
    f();
  } catch (err) {
    warnOnce(what, `migration telemetry failed while ${what} (${(err as Error)?.message ?? err}); the migration goes on`);
  }
}

export function linkTo(ctx: SpanContext | undefined, kind: 'run' | 'previous_attempt'): Link[] {
  return ctx && trace.isSpanContextValid(ctx) ? [{ context: ctx, attributes: { [MIGRATION_LINK]: kind } }] : [];
}

/**
 * Runs `work` as root work (see src/tracing/root-work.ts). If the installed runner fails
 * without starting the work, the work runs anyway; once started, the work's
 * own result or error is what the caller gets.
 */
export async function asRootWork<T>(name: string, work: () => Promise<T>): Promise<T> {
  let running: Promise<T> | undefined;
  try {
    return await runAsRootWork(name, ROOT_WORK_GROUP, () => (running = work()));
  } catch (err) {
    if (running) return running;
    warnOnce('runner', `the root work runner failed for ${name} (${(err as Error)?.message ?? err}); running it without`);
    return work();
  }
}

/** A short span that marks a moment of the run, in its own trace, linked to the run span. */
export async function emitMarker(name: string, attributes: SpanOptions['attributes'], links: Link[]): Promise<void> {
  try {
    await asRootWork(name, async () => startRootSpan(name, { attributes, links }).end());
  } catch (err) {
    warnOnce('marker', `migration marker ${name} could not be recorded (${(err as Error)?.message ?? err})`);
  }
}

/** Flushes the registered provider, if it can, within a bound; never throws. */
export async function flushTelemetry(): Promise<void> {
  try {
    const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
    const delegate = (provider.getDelegate?.() ?? provider) as { forceFlush?: () => Promise<void> };
    if (typeof delegate.forceFlush === 'function') await withTimeout(delegate.forceFlush(), FLUSH_TIMEOUT_MS);
  } catch (err) {
    warnOnce('flush', `flushing migration spans failed (${(err as Error)?.message ?? err})`);
  }
}
