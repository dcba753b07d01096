// OTEL_PROPAGATORS as the spec defines it (default: W3C trace context and baggage).
import type { TextMapPropagator } from '@opentelemetry/api';
import type { SidetraceConfig } from '../config';

export function createPropagator(config: SidetraceConfig): TextMapPropagator | null {
  if (config.propagators.length === 0) return null;
  const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch covers every Propagator name (tsc checks it)
  const list: TextMapPropagator[] = config.propagators.map((name) => {
    switch (name) {
      case 'tracecontext':
        return new core.W3CTraceContextPropagator();
      case 'baggage':
        return new core.W3CBaggagePropagator();
      case 'b3': {
        const b3 = require('@opentelemetry/propagator-b3');
        return new b3.B3Propagator();
      }
      case 'b3multi': {
        const b3 = require('@opentelemetry/propagator-b3');
        return new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.MULTI_HEADER });
      }
      case 'jaeger': {
        const { JaegerPropagator } = require('@opentelemetry/propagator-jaeger');
        return new JaegerPropagator();
      }
    }
  });
  return new core.CompositePropagator({ propagators: list });
}
