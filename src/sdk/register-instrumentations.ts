// Registers instrumentations with the tracer provider. Upstream's
// registerInstrumentations lives in @opentelemetry/instrumentation, whose
// module loads require-in-the-middle, import-in-the-middle and debug (about
// 5 ms of start-up); sidetrace's own instrumentations (on ../instrumentations/
// emit-instrumentation.ts and exports-hook.ts) need none of it. They are
// registered here, as upstream registers any instrumentation; an
// InstrumentationBase (upstream's, which has loaded that package already)
// still goes through upstream's function, which also hands it the global meter
// and logger providers.
import type { TracerProvider } from '@opentelemetry/api';
import type { Instrumentation, InstrumentationBase } from '@opentelemetry/instrumentation';

/** Enables `instrumentations` with `provider`; returns a function that disables them again. */
export function registerInstrumentations(instrumentations: Instrumentation[], provider: TracerProvider): () => void {
  const upstream = instrumentations.filter(isInstrumentationBase);
  const own = instrumentations.filter((i) => !isInstrumentationBase(i));
  const unregisterUpstream = upstream.length
    ? (require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation')).registerInstrumentations({
        instrumentations: upstream,
        tracerProvider: provider,
      })
    : () => {};
  for (const instrumentation of own) {
    instrumentation.setTracerProvider(provider);
    // As upstream: enabled at creation unless its config says enabled: false.
    if (!instrumentation.getConfig().enabled) instrumentation.enable();
  }
  return () => {
    unregisterUpstream();
    for (const instrumentation of own) instrumentation.disable();
  };
}

function isInstrumentationBase(i: Instrumentation): i is InstrumentationBase {
  return typeof (i as Partial<InstrumentationBase>).getModuleDefinitions === 'function';
}
