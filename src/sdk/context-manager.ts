// The context manager. A process started with TRACEPARENT in its environment
// (by `sidetrace deploy`, a CI step, any parent that traces) continues that
// trace: work that would start a new root trace is parented to it instead.
// Spans that set their own parent (an incoming request's extracted context,
// `{ root: true }`) are unaffected.
import { ROOT_CONTEXT, trace, type Context, type ContextManager } from '@opentelemetry/api';
import type { InheritedParent } from '../config';

export function createContextManager(parent: InheritedParent | undefined): ContextManager {
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  if (!parent) return new AsyncLocalStorageContextManager();
  const { TraceState } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const base = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.traceFlags,
    isRemote: true,
    traceState: parent.traceState ? new TraceState(parent.traceState) : undefined,
  });

  class InheritingContextManager extends AsyncLocalStorageContextManager {
    override active(): Context {
      const current = super.active();
      return current === ROOT_CONTEXT ? base : current;
    }
  }
  return new InheritingContextManager();
}
