// Defaults and allowed values of the configuration (README's variable table).
import type { LogLevel, OtlpProtocol, Propagator, ResourceDetectorName, SamplerName, TracesExporterName } from './types';

/** Paths whose server spans carry no information (noise rule; README lists them). */
export const DEFAULT_IGNORE_PATHS = [
  '/up',
  '/health',
  '/healthz',
  '/livez',
  '/readyz',
  '/ready',
  '/ping',
  '/metrics',
  '/favicon.ico',
  '/assets/*',
  '/static/*',
  '*.css',
  '*.js',
  '*.mjs',
  '*.map',
  '*.png',
  '*.jpg',
  '*.jpeg',
  '*.gif',
  '*.svg',
  '*.ico',
  '*.webp',
  '*.avif',
  '*.woff',
  '*.woff2',
  '*.ttf',
  '*.eot',
  '*.txt',
];

export const EXPORTERS: TracesExporterName[] = ['otlp', 'jaeger', 'console', 'none'];
export const PROTOCOLS: OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
export const SAMPLERS: SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
export const LOG_LEVELS: LogLevel[] = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'];
export const PROPAGATORS: Propagator[] = ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger'];
export const DETECTORS: ResourceDetectorName[] = ['env', 'host', 'os', 'process', 'serviceinstance', 'container', 'aws', 'gcp', 'azure', 'alibaba'];
export const DEFAULT_DETECTORS: ResourceDetectorName[] = ['env', 'host', 'os', 'process', 'serviceinstance', 'container'];

/** Jaeger's query service on the local stack (scripts/stack-lib.mjs) and Jaeger's own default. */
export const DEFAULT_JAEGER_URL = 'http://localhost:16686';
