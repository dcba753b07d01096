// One-line descriptions of the configured pipeline, secrets masked, for the
// start-up line and `doctor`. Free of OpenTelemetry imports so that the
// tracing-off path loads nothing.
import type { SidetraceConfig, TracesExporterName } from '../config';
import { hasClientRequestCreatedChannel } from '../instrumentations/http-client/channels';
import { maskedHeaders, maskedUrl } from './mask';

export function describeTargets(config: SidetraceConfig): string[] {
  return config.exporters.filter((e) => e !== 'none').map((e) => describeExporter(e, config));
}

export function describeExporter(name: TracesExporterName, config: SidetraceConfig): string {
  switch (name) {
    case 'otlp': {
      const h = maskedHeaders(config.otlp.headers);
      // The default encoder goes unsaid; the escape hatch is named so that a report shows it is in use.
      const encoder = config.otlp.protocol === 'http/protobuf' && config.otlp.encoder === 'upstream' ? ' (upstream serializer)' : '';
      return `otlp ${config.otlp.protocol} ${maskedUrl(config.otlp.endpoint)}${h ? ` (headers ${h})` : ''}${config.otlp.compression === 'gzip' ? ' gzip' : ''}${encoder}`;
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

/** Which instrumentation makes the HTTP server spans, with the framework route hooks sidetrace loads. */
export function describeServerInstrumentation(config: SidetraceConfig, loaded: string[]): string {
  if (!loaded.includes('http')) return 'none (http not loaded)';
  if (!config.noise.enabled) return 'upstream instrumentation-http';
  const routes = ['express', 'koa', 'fastify', 'hapi', 'restify', 'nestjs-core'].filter((n) => loaded.includes(n));
  return `sidetrace${routes.length ? ` (routes: ${routes.join(', ')})` : ''}`;
}

/** Which instrumentation makes the client spans of http.request / https.request. */
export function describeClientInstrumentation(config: SidetraceConfig, loaded: string[]): string {
  if (!loaded.includes('http')) return 'none (http not loaded)';
  if (!config.noise.enabled) return 'upstream instrumentation-http';
  if (hasClientRequestCreatedChannel()) return 'sidetrace (http.client.* diagnostics channels)';
  return `sidetrace (wraps http/https.request and get: Node ${process.versions.node} has no http.client.request.created channel)`;
}

/** Which instrumentation makes the client spans of fetch and the undici package. */
export function describeFetchInstrumentation(config: SidetraceConfig, loaded: string[]): string {
  if (!loaded.includes('undici')) return 'none (undici not loaded)';
  return config.noise.enabled ? 'sidetrace (undici:* diagnostics channels)' : 'upstream instrumentation-undici';
}

/**
 * Whether Node's AsyncContextFrame carries async context (AsyncLocalStorage
 * without async_hooks: cheaper context switches per request), with advice when
 * it is off. Node 24 uses it by default; 22.9+ with --experimental-async-context-frame.
 */
export function describeAsyncContextFrame(): string {
  const { AsyncLocalStorage } = require('node:async_hooks') as typeof import('node:async_hooks');
  // The async_hooks-based AsyncLocalStorage has _propagate; the frame-based one has not.
  if (typeof (AsyncLocalStorage.prototype as { _propagate?: unknown })._propagate !== 'function') return 'on';
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major >= 24) return 'off (remove --no-async-context-frame: context propagation costs less with it)';
  if (major > 22 || (major === 22 && minor >= 9)) return 'off (start node with --experimental-async-context-frame, or use Node 24, where it is the default)';
  return 'off (Node 24 uses it by default; 22.9+ with --experimental-async-context-frame)';
}
