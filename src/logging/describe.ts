// One-line descriptions of the configured pipeline, secrets masked, for the
// start-up line and `doctor`. Free of OpenTelemetry imports so that the
// tracing-off path loads nothing.
import type { SidetraceConfig, TracesExporterName } from '../config';
import { maskedHeaders, maskedUrl } from './mask';

export function describeTargets(config: SidetraceConfig): string[] {
  return config.exporters.filter((e) => e !== 'none').map((e) => describeExporter(e, config));
}

export function describeExporter(name: TracesExporterName, config: SidetraceConfig): string {
  switch (name) {
    case 'otlp': {
      const h = maskedHeaders(config.otlp.headers);
      return `otlp ${config.otlp.protocol} ${maskedUrl(config.otlp.endpoint)}${h ? ` (headers ${h})` : ''}${config.otlp.compression === 'gzip' ? ' gzip' : ''}`;
    }
    case 'jaeger':
      return config.jaeger.endpoint
        ? `jaeger ${maskedUrl(config.jaeger.endpoint)}`
        : `jaeger agent udp://${config.jaeger.agentHost ?? 'localhost'}:${config.jaeger.agentPort ?? 6832}`;
    default:
      return name;
  }
}

export function describeSampler(config: SidetraceConfig): string {
  const { name, ratio } = config.sampler;
  return name.endsWith('traceidratio') ? `${name}(${ratio})` : name;
}
