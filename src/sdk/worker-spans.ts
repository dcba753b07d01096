// Spans made in worker_threads Workers. The preload runs again inside each
// Worker (Node passes --require on to them); there it builds a tracer
// provider with no exporter, no resource detection and no shutdown hooks, and
// hands every ended span to the main thread over a BroadcastChannel. The main
// thread puts them into its own export pipelines, under its resource, so one
// process has one exporter and one connection to the collector.
//
// Spans cross threads as plain data (structured clone); TraceState is sent as
// its W3C string.
import type { Context, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';

const CHANNEL = 'sidetrace:worker-spans';

interface WireContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: string;
}

interface WireSpan {
  name: string;
  kind: number;
  context: WireContext;
  parent?: WireContext;
  startTime: HrTime;
  endTime: HrTime;
  duration: HrTime;
  status: ReadableSpan['status'];
  attributes: ReadableSpan['attributes'];
  links: { context: WireContext; attributes?: Link['attributes']; droppedAttributesCount?: number }[];
  events: TimedEvent[];
  scope: ReadableSpan['instrumentationScope'];
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
}

const toWire = (c: SpanContext): WireContext => ({
  traceId: c.traceId,
  spanId: c.spanId,
  traceFlags: c.traceFlags,
  isRemote: c.isRemote,
  traceState: c.traceState?.serialize(),
});

/** Worker side: the span processor that sends ended, sampled spans to the main thread. */
export class MainThreadForwarder implements SpanProcessor {
  private channel?: BroadcastChannel;

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    try {
      if (!this.channel) {
        this.channel = new BroadcastChannel(CHANNEL);
        // Never keeps the worker alive.
        (this.channel as unknown as { unref(): void }).unref();
      }
      const wire: WireSpan = {
        name: span.name,
        kind: span.kind,
        context: toWire(span.spanContext()),
        parent: span.parentSpanContext ? toWire(span.parentSpanContext) : undefined,
        startTime: span.startTime,
        endTime: span.endTime,
        duration: span.duration,
        status: span.status,
        attributes: span.attributes,
        links: span.links.map((l) => ({ context: toWire(l.context), attributes: l.attributes, droppedAttributesCount: l.droppedAttributesCount })),
        events: span.events,
        scope: span.instrumentationScope,
        droppedAttributesCount: span.droppedAttributesCount,
        droppedEventsCount: span.droppedEventsCount,
        droppedLinksCount: span.droppedLinksCount,
      };
      this.channel.postMessage(wire);
    } catch {
      // A span that cannot be sent (an attribute that cannot be cloned) is dropped, never thrown into the app.
    }
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.channel?.close();
    this.channel = undefined;
  }
}

/**
 * Main side: feeds the workers' spans into `sinks` (the export pipelines). The
 * channel opens when the process creates its first Worker (process 'worker'
 * event, emitted by the Worker constructor before the worker's code runs), so
 * a process without workers never loads Node's worker internals (5–7 ms of
 * start-up). Returns a function that stops listening.
 */
export function receiveWorkerSpans(resource: Resource, sinks: SpanProcessor[]): () => void {
  let channel: BroadcastChannel | undefined;
  const open = (): void => {
    process.off('worker', open);
    try {
      channel = listen(resource, sinks);
    } catch {
      // Without a channel, workers' spans are not exported; the app runs on.
    }
  };
  process.on('worker', open);
  return () => {
    process.off('worker', open);
    channel?.close();
  };
}

function listen(resource: Resource, sinks: SpanProcessor[]): BroadcastChannel {
  const { TraceState } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const fromWire = (c: WireContext): SpanContext => ({ ...c, traceState: c.traceState ? new TraceState(c.traceState) : undefined });
  const channel = new BroadcastChannel(CHANNEL);
  (channel as unknown as { unref(): void }).unref();
  channel.onmessage = (event) => {
    try {
      const w = (event as MessageEvent).data as WireSpan;
      const context = fromWire(w.context);
      const span: ReadableSpan = {
        name: w.name,
        kind: w.kind,
        spanContext: () => context,
        parentSpanContext: w.parent ? fromWire(w.parent) : undefined,
        startTime: w.startTime,
        endTime: w.endTime,
        duration: w.duration,
        status: w.status,
        attributes: w.attributes,
        links: w.links.map((l) => ({ ...l, context: fromWire(l.context) })),
        events: w.events,
        ended: true,
        resource,
        instrumentationScope: w.scope,
        droppedAttributesCount: w.droppedAttributesCount,
        droppedEventsCount: w.droppedEventsCount,
        droppedLinksCount: w.droppedLinksCount,
      };
      for (const sink of sinks) sink.onEnd(span);
    } catch {
      // A malformed message is dropped.
    }
  };
  return channel;
}
