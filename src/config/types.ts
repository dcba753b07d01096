// The typed configuration every other module reads (built by readConfig in ./index.ts).

export type TracesExporterName = 'otlp' | 'jaeger' | 'console' | 'none';
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
export type LogLevel = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
export type Propagator = 'tracecontext' | 'baggage' | 'b3' | 'b3multi' | 'jaeger';
export type ResourceDetectorName = 'env' | 'host' | 'os' | 'process' | 'serviceinstance' | 'container' | 'aws' | 'gcp' | 'azure' | 'alibaba';

export interface OtlpConfig {
  /** Full URL of the traces endpoint (http: ends in /v1/traces). */
  endpoint: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
  compression: 'gzip' | 'none';
  /** http/protobuf only: sidetrace's single-pass span encoder, or upstream's serializer (SIDETRACE_OTLP_ENCODER). */
  encoder: 'sidetrace' | 'upstream';
}

export interface JaegerConfig {
  /** Collector endpoint (thrift over HTTP), e.g. http://localhost:14268/api/traces; unset → UDP agent. */
  endpoint?: string;
  agentHost?: string;
  agentPort?: number;
  user?: string;
  password?: string;
  timeoutMs: number;
}

export interface BatchConfig {
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
}

export interface SpanLimitsConfig {
  attributeValueLengthLimit?: number;
  attributeCountLimit?: number;
  eventCountLimit?: number;
  linkCountLimit?: number;
  attributePerEventCountLimit?: number;
  attributePerLinkCountLimit?: number;
}

export interface PathRule {
  /** Exact path, a prefix ending in `*`, or an extension starting with `*.`. */
  pattern: string;
}

export interface SidetraceConfig {
  /** Whether the OpenTelemetry SDK starts at all. */
  enabled: boolean;
  /** Why tracing is off, for the one start-up line. */
  disabledReason?: string;
  agent: 'opentelemetry' | 'newrelic';
  strict: boolean;
  serviceName?: string;
  resourceAttributes: Record<string, string>;
  exporters: TracesExporterName[];
  otlp: OtlpConfig;
  jaeger: JaegerConfig;
  sampler: { name: SamplerName; ratio: number };
  batch: BatchConfig;
  spanLimits: SpanLimitsConfig;
  /** Upstream short names (`http`, `pg`, …); undefined → sidetrace's default set. */
  enabledInstrumentations?: string[];
  disabledInstrumentations: string[];
  resourceDetectors: ResourceDetectorName[];
  propagators: Propagator[];
  logLevel: LogLevel;
  shutdownTimeoutMs: number;
  /** Node's compile cache directory (SIDETRACE_COMPILE_CACHE); undefined when off. Used on Node ≥ 22.1. */
  compileCacheDir?: string;
  noise: { enabled: boolean; ignorePaths: string[] };
  redaction: { queryParams: string[] };
  /** Where the deploy and version facts come from (resource defaults). */
  deploy: { version?: string; environment?: string };
  nodeEnv?: string;
  /** TRACEPARENT/TRACESTATE handed down by a parent process (e.g. `sidetrace deploy`): the parent of this process's root work. */
  inheritedParent?: InheritedParent;
  /** SIDETRACE_AGENT=newrelic: what sidetrace checks before loading the agent (the agent reads its own settings). */
  newRelic: NewRelicConfig;
  /** What `sidetrace doctor` checks besides the exporters. */
  doctor: {
    /** The collector's health_check endpoint; undefined → not checked. */
    collectorHealthUrl?: string;
    /** SIDETRACE_COLLECTOR_HEALTH_URL=none: the check is turned off (rather than having no endpoint to check). */
    collectorHealthOff: boolean;
    /** Jaeger's query service, to confirm the test span arrived; undefined → not checked. */
    jaegerQueryUrl?: string;
  };
  /** Where `sidetrace traces`, `trace`, `migration` and `deploys` query Jaeger, and how they print. */
  terminal: TerminalConfig;
}

export interface TerminalConfig {
  /** Jaeger's query service (SIDETRACE_JAEGER_URL, else SIDETRACE_JAEGER_QUERY_URL, else http://localhost:16686). */
  jaegerUrl: string;
  /** Headers for an authenticated query endpoint (SIDETRACE_JAEGER_HEADERS); values are secrets, never printed. */
  jaegerHeaders: Record<string, string>;
  /** NO_COLOR is set to a non-empty value: no colours even on a terminal. */
  noColor: boolean;
}

export interface NewRelicConfig {
  /** Why the agent must not be loaded at all (SIDETRACE_ENABLED=false, NEW_RELIC_ENABLED=false). */
  disabledReason?: string;
  /** NEW_RELIC_LICENSE_KEY is set; its value is never kept here, the agent reads it itself. */
  licenseKeySet: boolean;
  /** NEW_RELIC_APP_NAME is set. */
  appNameSet: boolean;
  /** Where the agent looks for a newrelic.js/.cjs/.mjs config file, in its order (NEW_RELIC_HOME, cwd, HOME); empty with NEW_RELIC_NO_CONFIG_FILE. */
  configFileDirs: string[];
  /** NEW_RELIC_CONFIG_FILENAME: a file name the agent tries before newrelic.js. */
  configFileName?: string;
}

export interface InheritedParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState?: string;
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

export interface ConfigResult {
  config: SidetraceConfig;
  problems: ConfigProblem[];
}
