// sidetrace's root work (migration batches and runs, their markers, deploys)
// under the New Relic agent. The agent's OpenTelemetry bridge drops an
// INTERNAL root span started outside a transaction, and turns a SERVER or
// CONSUMER one into a transaction named `unknown`; so every unit of root work
// runs in a background transaction of its own, named `<group>/<name>`.
//
// A span processor next to the bridge's own then ties that transaction to the
// root span started in it:
// - the transaction takes the span's trace id (or joins its remote parent),
//   so span links and trace ids printed by sidetrace resolve in New Relic;
// - it lasts until the span ends (a run span outlives the call that starts it);
// - it gets the span's attributes as custom attributes, plus the trace ids
//   of the span's links, so Transaction events are searchable by them;
// - a SERVER/CONSUMER span inside it is recorded as INTERNAL, because the
//   bridge ends (and renames) the transaction when such a span ends.
// Those steps reach into the agent and the bridge's provider; if either is
// not as expected, the runner still gives each unit its named transaction.
import { SpanKind, context, trace, type Context, type SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { RootWorkRunner } from '../tracing/root-work';
import { formatTraceparent, SAMPLED_FLAG } from '../tracing/traceparent';

/** The agent's internal transaction (newrelic 13.9.2: agent.tracer.getTransaction()), as far as this module uses it. */
interface NrTransaction {
  traceId: string;
}

interface NrTransactionHandle {
  acceptDistributedTraceHeaders(transport: string, headers: Record<string, string>): void;
}

export interface RootWorkAgent {
  startBackgroundTransaction(name: string, group: string, handle: () => unknown): unknown;
  getTransaction(): NrTransactionHandle;
  addCustomAttributes(attributes: Record<string, string | number | boolean>): void;
  agent?: { tracer?: { getTransaction?: () => NrTransaction | null } } | null;
}

/** A transaction never waits longer than this for its root span to end (a run whose end is never called). */
const MAX_ROOT_SPAN_WAIT_MS = 24 * 60 * 60 * 1000;
/** New Relic keeps at most 64 custom attributes per transaction. */
const MAX_CUSTOM_ATTRIBUTES = 64;

interface RootWork {
  handle: NrTransactionHandle;
  span?: ReadableSpan;
  attributes?: Record<string, string | number | boolean>;
  ended: Promise<void>;
  end: () => void;
}

/** Custom attributes for the transaction: `link.<kind>.trace_id` per link (first: they are the ids), then the span's scalar attributes. */
export function transactionAttributes(span: ReadableSpan): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  span.links.forEach((link, i) => {
    // A link's kind is its one short word-like attribute value (migration.link = run | previous_attempt), else its position.
    const kind = Object.values(link.attributes ?? {}).find((v): v is string => typeof v === 'string' && /^[a-z_]{1,32}$/.test(v));
    out[`link.${kind ?? i}.trace_id`] = link.context.traceId;
  });
  for (const [key, value] of Object.entries(span.attributes)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = value;
  }
  return Object.fromEntries(Object.entries(out).slice(0, MAX_CUSTOM_ATTRIBUTES));
}

function traceparentOf(ctx: SpanContext): string {
  return formatTraceparent({ ...ctx, traceFlags: ctx.traceFlags & SAMPLED_FLAG });
}

/** Watches spans starting inside the transactions the runner started. */
export class RootSpanProcessor implements SpanProcessor {
  private readonly works = new WeakMap<NrTransaction, RootWork>();
  private readonly bySpan = new WeakMap<object, RootWork>();

  constructor(private readonly currentTransaction: () => NrTransaction | null | undefined) {}

  /** Is the current transaction one the runner started? */
  inRootWork(): boolean {
    try {
      const tx = this.currentTransaction();
      return tx ? this.works.has(tx) : false;
    } catch {
      return false;
    }
  }

  watch(tx: NrTransaction, handle: NrTransactionHandle): RootWork {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const work: RootWork = { handle, ended, end };
    this.works.set(tx, work);
    return work;
  }

  onStart(span: Span, _parentContext: Context): void {
    try {
      const tx = this.currentTransaction();
      const work = tx ? this.works.get(tx) : undefined;
      if (!tx || !work) return;
      // Span.kind is readonly in @opentelemetry/sdk-trace-base 2.0.1 (the bridge's, newrelic 13.9.2); this processor runs
      // first (attachToBridge), so the bridge's own processor sees INTERNAL and does not end the transaction on it.
      if (span.kind === SpanKind.SERVER || span.kind === SpanKind.CONSUMER) (span as { kind: SpanKind }).kind = SpanKind.INTERNAL;
      const parent = span.parentSpanContext;
      // A child of the transaction's own segment already has its trace id.
      if (work.span || (parent && !parent.isRemote)) return;
      work.span = span;
      this.bySpan.set(span, work);
      if (parent && trace.isSpanContextValid(parent)) {
        const headers: Record<string, string> = { traceparent: traceparentOf(parent) };
        const state = parent.traceState?.serialize();
        if (state) headers.tracestate = state;
        work.handle.acceptDistributedTraceHeaders('Other', headers);
      } else {
        tx.traceId = span.spanContext().traceId;
      }
    } catch {
      // The span is still recorded, only not tied to its transaction.
    }
  }

  onEnd(span: ReadableSpan): void {
    const work = this.bySpan.get(span);
    if (!work) return;
    try {
      work.attributes = transactionAttributes(span);
    } finally {
      work.end();
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface BridgeSampler {
  shouldSample(...args: unknown[]): { decision: number };
}

/**
 * The bridge's tracer provider: private fields of BasicTracerProvider and Tracer, as in the
 * @opentelemetry/sdk-trace-base 2.0.1 that newrelic 13.9.2 depends on; read with care.
 */
interface BridgeProvider {
  _config?: { sampler?: BridgeSampler };
  _tracers?: Map<string, { _sampler?: BridgeSampler }>;
  _activeSpanProcessor?: { _spanProcessors?: unknown };
}

/** OpenTelemetry's SamplingDecision values (a stable part of the spec). */
const NOT_RECORD = 0;
const RECORD_AND_SAMPLED = 2;

/**
 * Ties `processor` into the bridge: first among its span processors (before
 * the bridge's own, which ends a transaction on a SERVER/CONSUMER span), and
 * around its sampler, which drops a span given an explicit context without
 * the transaction (`startSpan(name, { root: true }, ROOT_CONTEXT)`) even
 * inside root work. sdk-trace-base 2.x has no public way to do either after
 * the provider is built; false (and nothing changed) when the fields are not there.
 */
export function attachToBridge(processor: RootSpanProcessor): boolean {
  const proxy = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const provider = proxy.getDelegate?.() as BridgeProvider | undefined;
  const list = provider?._activeSpanProcessor?._spanProcessors;
  const inner = provider?._config?.sampler;
  if (!provider?._config || !Array.isArray(list) || typeof inner?.shouldSample !== 'function') return false;
  list.unshift(processor);
  const sampler: BridgeSampler = {
    shouldSample(...args: unknown[]) {
      const result = inner.shouldSample(...args);
      return result.decision === NOT_RECORD && processor.inRootWork() ? { decision: RECORD_AND_SAMPLED } : result;
    },
  };
  provider._config.sampler = sampler;
  for (const tracer of provider._tracers?.values() ?? []) tracer._sampler = sampler;
  return true;
}

/** Runs `f` outside any transaction, so that the root work gets one of its own even when called from inside another. */
function detached<T>(f: () => T): T {
  // The bridge's context class (newrelic 13.9.2): an instance made with no arguments holds no transaction.
  const Ctor = (context.active() as unknown as { constructor?: unknown }).constructor;
  if (typeof Ctor !== 'function' || Ctor === Object) return f();
  return context.with(new (Ctor as new () => Context)(), f);
}

export function createRootWorkRunner(nr: RootWorkAgent, processor: RootSpanProcessor | undefined): RootWorkRunner {
  return <T>(name: string, group: string, work: () => Promise<T>): Promise<T> => {
    let result: Promise<T> | undefined;
    const run = () => {
      result = (async () => work())();
      return result;
    };
    try {
      detached(() =>
        nr.startBackgroundTransaction(name, group, () => {
          const tx = processor ? nr.agent?.tracer?.getTransaction?.() : undefined;
          const watched = tx && processor ? processor.watch(tx, nr.getTransaction()) : undefined;
          const done = run();
          // The transaction ends when this settles: the work has settled and its root span ended.
          return done.then(
            () => finish(nr, watched),
            () => finish(nr, watched),
          );
        }),
      );
    } catch {
      // The agent failed around the work; the work itself must not.
    }
    return result ?? run();
  };
}

async function finish(nr: RootWorkAgent, work: RootWork | undefined): Promise<void> {
  if (!work) return;
  try {
    if (work.span) {
      let timer: NodeJS.Timeout | undefined;
      const cap = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, MAX_ROOT_SPAN_WAIT_MS);
        timer.unref();
      });
      await Promise.race([work.ended, cap]);
      clearTimeout(timer);
    }
    if (work.attributes) nr.addCustomAttributes(work.attributes);
  } catch {
    // Attributes are a convenience; the transaction ends either way.
  }
}
