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
import { createSampler } from '../policy/sampler';

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

export function startSdk(config: SidetraceConfig, identity: ServiceIdentity, names: InstrumentationNames): SdkHandle {
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');

  const pipelines: ExportPipeline[] = [];
  for (const name of config.exporters) {
    const target = createExporter(name, config);
    if (target) pipelines.push(new ExportPipeline(target, config.batch.maxQueueSize, config.batch));
  }
  const processors: SpanProcessor[] = [new RedactionProcessor(config.redaction.queryParams)];
  for (const p of pipelines) processors.push(config.noise.enabled ? new NoiseFilterProcessor(p) : p);

  const provider = new NodeTracerProvider({
    resource: buildResource(config, identity),
    sampler: createSampler(config),
    spanLimits: config.spanLimits,
    idGenerator,
    spanProcessors: processors,
    forceFlushTimeoutMillis: config.shutdownTimeoutMs,
  });
  provider.register({ propagator: createPropagator(config), contextManager: createContextManager(config.inheritedParent) });

  const warn = (line: string) => log.warn(line);
  const instrumentations = createInstrumentations(names.atStart, config, warn);
  const unregisters = [registerInstrumentations({ instrumentations, tracerProvider: provider })];
  const stopWatching = createOnFirstRequire(names.onFirstRequire, config, warn, (name, instrumentation) => {
    instrumentations.push(instrumentation);
    unregisters.push(registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider }));
    log.debug(`instrumentation ${name} loaded: the app required its module`);
  });

  return {
    stats: pipelines.map((p) => p.stats),
    instrumentations,
    forceFlush: () => provider.forceFlush(),
    shutdown: async () => {
      stopWatching();
      for (const unregister of unregisters) unregister();
      await provider.shutdown();
    },
  };
}
