// Assembles the OpenTelemetry tracing SDK from a validated config: resource,
// sampler, span processors (redaction, noise rescue, export) and the
// instrumentations. Loaded only when tracing is enabled.
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SidetraceConfig } from '../config';
import { createContextManager } from './context-manager';
import { createExporter, ExportPipeline, type ExportStats } from './exporter';
import { idGenerator } from './id-generator';
import { createInstrumentations, createOnFirstRequire } from '../instrumentations';
import { log } from '../logging/log';
import { NoiseFilterProcessor } from '../policy/noise';
import { createPropagator } from './propagators';
import { RedactionProcessor } from '../policy/redaction';
import { buildResource, type ServiceIdentity } from './resource';
import { samplerFor } from './sampler';
import { registerInstrumentations } from './register-instrumentations';
import { MainThreadForwarder, receiveWorkerSpans } from './worker-spans';
import { instrumentationTracerProvider } from './unsampled-children';

export interface SdkHandle {
  /** Export statistics per pipeline, in exporter order. */
  stats: ExportStats[];
  instrumentations: Instrumentation[];
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Which instrumentations to create at start, and which when the app first requires their module. */
export interface InstrumentationNames {
  atStart: string[];
  onFirstRequire: string[];
}

export function startSdk(config: SidetraceConfig, identity: ServiceIdentity, names: InstrumentationNames, options: { inWorker?: boolean } = {}): SdkHandle {
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');

  // In a worker thread, spans go to the main thread's pipelines (./worker-spans.ts), not to an exporter of the worker's own.
  const pipelines: ExportPipeline[] = [];
  if (!options.inWorker) {
    for (const name of config.exporters) {
      const target = createExporter(name, config);
      if (target) pipelines.push(new ExportPipeline(target, config.batch.maxQueueSize, config.batch));
    }
  }
  const sinks: SpanProcessor[] = options.inWorker ? [new MainThreadForwarder()] : pipelines;
  const processors: SpanProcessor[] = [new RedactionProcessor(config.redaction.queryParams)];
  for (const p of sinks) processors.push(config.noise.enabled ? new NoiseFilterProcessor(p) : p);

  const resource = options.inWorker ? undefined : buildResource(config, identity);
  const provider = new NodeTracerProvider({
    resource,
    sampler: samplerFor(config),
    spanLimits: config.spanLimits,
    idGenerator,
    spanProcessors: processors,
    forceFlushTimeoutMillis: config.shutdownTimeoutMs,
  });
  provider.register({ propagator: createPropagator(config), contextManager: createContextManager(config.inheritedParent) });

  const warn = (line: string) => log.warn(line);
  const instrumentations = createInstrumentations(names.atStart, config, warn);
  const tracerProvider = instrumentationTracerProvider(provider, config.sampler);
  const unregisters = [registerInstrumentations(instrumentations, tracerProvider)];
  const stopWatching = createOnFirstRequire(names.onFirstRequire, config, warn, (name, instrumentation) => {
    instrumentations.push(instrumentation);
    unregisters.push(registerInstrumentations([instrumentation], tracerProvider));
    log.debug(`instrumentation ${name} loaded: the app required its module`);
  });

  // Workers' spans are already redacted; the noise filter still re-parents them past this thread's folded handler spans.
  const stopReceiving = resource && pipelines.length ? receiveWorkerSpans(resource, processors.slice(1)) : () => {};

  return {
    stats: pipelines.map((p) => p.stats),
    instrumentations,
    forceFlush: () => provider.forceFlush(),
    shutdown: async () => {
      stopWatching();
      stopReceiving();
      for (const unregister of unregisters) unregister();
      await provider.shutdown();
    },
  };
}
