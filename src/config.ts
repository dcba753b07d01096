// The one place that reads sidetrace's environment. Every OTEL_* and
// SIDETRACE_* variable is parsed and validated here into a typed object; the
// rest of the code reads that object, never process.env.
//
// A bad value never stops the app: it becomes one `problems` line naming the
// variable, the value and what is used instead (SIDETRACE_STRICT=true makes
// start-up fail on them instead).

export type TracesExporterName = 'otlp' | 'jaeger' | 'console' | 'none';
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';
export type LogLevel = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
export type Propagator = 'tracecontext' | 'baggage' | 'b3' | 'b3multi' | 'jaeger';
export type ResourceDetectorName =
  | 'env'
  | 'host'
  | 'os'
  | 'process'
  | 'serviceinstance'
  | 'container'
  | 'aws'
  | 'gcp'
  | 'azure'
  | 'alibaba';

export interface OtlpConfig {
  /** Full URL of the traces endpoint (http: ends in /v1/traces). */
  endpoint: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
  compression: 'gzip' | 'none';
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
    /** Jaeger's query service, to confirm the test span arrived; undefined → not checked. */
    jaegerQueryUrl?: string;
  };
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

type Env = Record<string, string | undefined>;

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

/** Query parameters whose values are secrets (redacted in URLs on every span). */
export const DEFAULT_REDACTED_QUERY_PARAMS = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'key',
  'api_key',
  'apikey',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'signature',
  'sig',
  'code',
  'auth',
  'AWSAccessKeyId',
  'Signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'X-Goog-Signature',
];

const EXPORTERS: TracesExporterName[] = ['otlp', 'jaeger', 'console', 'none'];
const PROTOCOLS: OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
const SAMPLERS: SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
const LOG_LEVELS: LogLevel[] = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'];
const PROPAGATORS: Propagator[] = ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger'];
const DETECTORS: ResourceDetectorName[] = [
  'env',
  'host',
  'os',
  'process',
  'serviceinstance',
  'container',
  'aws',
  'gcp',
  'azure',
  'alibaba',
];
const DEFAULT_DETECTORS: ResourceDetectorName[] = ['env', 'host', 'os', 'process', 'serviceinstance', 'container'];

/** Variables whose values are secrets: never echoed back in a problem line. */
const SECRET_VARIABLES = new Set([
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'OTEL_EXPORTER_JAEGER_PASSWORD',
  'NEW_RELIC_LICENSE_KEY',
]);

class Reader {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly env: Env) {}

  /** Set at all, even to an empty string. */
  isSet(name: string): boolean {
    return this.env[name] !== undefined;
  }

  /** The trimmed value, or undefined when unset or blank. */
  raw(name: string): string | undefined {
    const v = this.env[name];
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  problem(variable: string, value: string | undefined, why: string, instead: string): void {
    const shown = SECRET_VARIABLES.has(variable) ? '(value hidden)' : oneLine(JSON.stringify(truncate(value ?? '')));
    this.problems.push({ variable, message: `${variable}=${shown} ${why}; ${instead}` });
  }

  bool(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(l)) return true;
    if (['false', '0', 'no', 'off'].includes(l)) return false;
    this.problem(name, v, 'is not true or false', 'ignoring it');
    return undefined;
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      this.problem(name, v, `is not a whole number from ${min} to ${max}`, `using ${fallback}`);
      return fallback;
    }
    return Number(v);
  }

  optionalInt(name: string, min: number): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      this.problem(name, v, `is not a whole number of at least ${min}`, 'using the default');
      return undefined;
    }
    return Number(v);
  }

  choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const l = v.toLowerCase() as T;
    if (allowed.includes(l)) return l;
    this.problem(name, v, `is not one of ${allowed.join(', ')}`, `using ${fallback}`);
    return fallback;
  }

  /** A comma-separated list of known names; unknown names are dropped with one line. */
  list<T extends string>(name: string, allowed: readonly T[] | undefined, fallback: T[]): T[] {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const items = splitList(v);
    if (items.length === 0) {
      this.problem(name, v, 'names nothing', `using ${fallback.join(', ') || 'none'}`);
      return fallback;
    }
    if (!allowed) return items as T[];
    const known = [...new Set(items.filter((i) => allowed.includes(i.toLowerCase() as T)).map((i) => i.toLowerCase() as T))];
    const unknown = items.filter((i) => !allowed.includes(i.toLowerCase() as T));
    if (unknown.length) {
      this.problem(name, v, `names unknown ${unknown.length === 1 ? 'entry' : 'entries'} ${echo(unknown)}`, known.length ? `using ${known.join(', ')}` : `using ${fallback.join(', ') || 'none'}`);
      return known.length ? known : fallback;
    }
    return known;
  }

  url(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return v;
    } catch {
      // Even a URL too broken to use can carry a password or a token: mask them in the line.
      const masked = v.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/?#]*@/i, '$1***@').replace(/([?&][^=&#]*)=[^&#]*/g, '$1=***');
      this.problem(name, masked, 'is not an http(s) URL', 'ignoring it');
      return undefined;
    }
  }

  /** W3C-baggage-style `key=value,key2=value2`, percent-decoded (the OTel spec's format). */
  keyValues(name: string): Record<string, string> {
    const v = this.raw(name);
    const out: Record<string, string> = {};
    if (v === undefined) return out;
    const bad: string[] = [];
    for (const part of v.split(',')) {
      if (!part.trim()) continue;
      const eq = part.indexOf('=');
      const key = eq > 0 ? safeDecode(part.slice(0, eq).trim()) : undefined;
      const value = eq > 0 ? safeDecode(part.slice(eq + 1).trim()) : undefined;
      if (!key || value === undefined) {
        bad.push(part.trim());
        continue;
      }
      out[key] = value;
    }
    if (bad.length) {
      const shown = SECRET_VARIABLES.has(name) ? `${bad.length} malformed entr${bad.length === 1 ? 'y' : 'ies'}` : `malformed entries ${echo(bad)}`;
      this.problems.push({ variable: name, message: `${name} has ${shown} (expected key=value,key2=value2); ignoring ${bad.length === 1 ? 'it' : 'them'}` });
    }
    return out;
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Control characters and line separators escaped: a value echoed into a log line must not break it. */
export function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Entries of a bad value, for a problem line: one line, not too long. */
function echo(entries: string[]): string {
  return oneLine(truncate(entries.join(', ')));
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function otlpEndpoint(r: Reader, protocol: OtlpProtocol): string {
  const specific = r.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (specific) return specific; // used as-is, by the spec
  const base = r.url('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (protocol === 'grpc') return base ?? 'http://localhost:4317';
  if (base) {
    // The signal path goes on the path, before any query string (a token may ride there).
    const u = new URL(base);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`;
    return u.toString();
  }
  return 'http://localhost:4318/v1/traces';
}

function readExporters(r: Reader): TracesExporterName[] {
  const list = r.list('OTEL_TRACES_EXPORTER', EXPORTERS, ['otlp']);
  if (list.includes('none') && list.length > 1) {
    r.problem('OTEL_TRACES_EXPORTER', r.raw('OTEL_TRACES_EXPORTER'), 'mixes none with exporters', `using ${list.filter((e) => e !== 'none').join(', ')}`);
    return list.filter((e) => e !== 'none');
  }
  return [...new Set(list)];
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** OTLP headers: entries HTTP cannot send (bad name, line break in the value) would fail every export; drop them with one line. */
function readHeaders(r: Reader, name: string): Record<string, string> {
  const headers = r.keyValues(name);
  const bad = Object.keys(headers).filter((k) => !HEADER_NAME.test(k) || /[\r\n\0]/.test(headers[k]));
  if (bad.length) {
    for (const k of bad) delete headers[k];
    r.problems.push({ variable: name, message: `${name} has entries HTTP cannot send as headers (${echo(bad)}: a name that is not a token, or a line break in the value); ignoring ${bad.length === 1 ? 'it' : 'them'}` });
  }
  return headers;
}

function readIgnorePaths(r: Reader): string[] {
  // `+/a,/b` adds to the defaults; `/a,/b` replaces them; empty string → none.
  const v = r.raw('SIDETRACE_IGNORE_PATHS');
  if (v === undefined) return r.isSet('SIDETRACE_IGNORE_PATHS') ? [] : DEFAULT_IGNORE_PATHS;
  const add = v.startsWith('+');
  const items = splitList(add ? v.slice(1) : v);
  const bad = items.filter((p) => !(p.startsWith('/') || p.startsWith('*.')));
  const good = items.filter((p) => p.startsWith('/') || p.startsWith('*.'));
  if (bad.length) r.problem('SIDETRACE_IGNORE_PATHS', v, `has entries that are neither a /path nor *.ext: ${echo(bad)}`, 'ignoring those entries');
  return add ? [...DEFAULT_IGNORE_PATHS, ...good] : good;
}

/** A New Relic boolean as the agent reads it: only false, f, no, n, disabled and 0 are false. */
function newRelicBool(r: Reader, name: string): boolean | undefined {
  const v = r.raw(name);
  if (v === undefined) return undefined;
  return !['false', 'f', 'no', 'n', 'disabled', '0'].includes(v.toLowerCase());
}

function readNewRelic(r: Reader, explicitEnabled: boolean | undefined): NewRelicConfig {
  let disabledReason: string | undefined;
  if (explicitEnabled === false) disabledReason = 'SIDETRACE_ENABLED=false';
  else if (newRelicBool(r, 'NEW_RELIC_ENABLED') === false) disabledReason = 'NEW_RELIC_ENABLED=false';
  const noConfigFile = newRelicBool(r, 'NEW_RELIC_NO_CONFIG_FILE') === true;
  const dirs = [r.raw('NEW_RELIC_HOME'), process.cwd(), r.raw('HOME')].filter((d): d is string => d !== undefined);
  return {
    disabledReason,
    licenseKeySet: r.raw('NEW_RELIC_LICENSE_KEY') !== undefined,
    appNameSet: r.raw('NEW_RELIC_APP_NAME') !== undefined,
    configFileDirs: noConfigFile ? [] : dirs,
    configFileName: r.raw('NEW_RELIC_CONFIG_FILENAME'),
  };
}

export function readConfig(env: Env = process.env): ConfigResult {
  const r = new Reader(env);

  const strict = r.bool('SIDETRACE_STRICT') ?? false;
  const sdkDisabled = r.bool('OTEL_SDK_DISABLED') ?? false;
  const explicitEnabled = r.bool('SIDETRACE_ENABLED');
  const agent = r.choice('SIDETRACE_AGENT', ['opentelemetry', 'newrelic'] as const, 'opentelemetry');

  const exporters = readExporters(r);
  const protocol = r.choice(
    'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    PROTOCOLS,
    r.choice('OTEL_EXPORTER_OTLP_PROTOCOL', PROTOCOLS, 'http/protobuf'),
  );
  const headers = { ...readHeaders(r, 'OTEL_EXPORTER_OTLP_HEADERS'), ...readHeaders(r, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS') };
  const timeoutMs = r.int('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', r.int('OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, 1, 600_000), 1, 600_000);
  const compression = r.choice(
    'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION',
    ['gzip', 'none'] as const,
    r.choice('OTEL_EXPORTER_OTLP_COMPRESSION', ['gzip', 'none'] as const, 'none'),
  );
  const otlp: OtlpConfig = { endpoint: otlpEndpoint(r, protocol), protocol, headers, timeoutMs, compression };

  const jaeger: JaegerConfig = {
    endpoint: r.url('OTEL_EXPORTER_JAEGER_ENDPOINT'),
    agentHost: r.raw('OTEL_EXPORTER_JAEGER_AGENT_HOST'),
    agentPort: r.optionalInt('OTEL_EXPORTER_JAEGER_AGENT_PORT', 1),
    user: r.raw('OTEL_EXPORTER_JAEGER_USER'),
    password: r.raw('OTEL_EXPORTER_JAEGER_PASSWORD'),
    timeoutMs: r.int('OTEL_EXPORTER_JAEGER_TIMEOUT', 10_000, 1, 600_000),
  };

  // Off unless configured: an exporter must be named, or an endpoint given.
  const exporterConfigured =
    r.raw('OTEL_TRACES_EXPORTER') !== undefined && !exporters.includes('none')
      ? true
      : ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_JAEGER_ENDPOINT', 'OTEL_EXPORTER_JAEGER_AGENT_HOST'].some(
          (n) => r.raw(n) !== undefined,
        ) && !exporters.includes('none');
  let enabled: boolean;
  let disabledReason: string | undefined;
  if (sdkDisabled) {
    enabled = false;
    disabledReason = 'OTEL_SDK_DISABLED=true';
  } else if (explicitEnabled !== undefined) {
    enabled = explicitEnabled;
    if (!enabled) disabledReason = 'SIDETRACE_ENABLED=false';
  } else {
    enabled = exporterConfigured;
    if (!enabled)
      disabledReason = exporters.includes('none')
        ? 'OTEL_TRACES_EXPORTER=none'
        : 'no exporter is configured; set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER) or SIDETRACE_ENABLED=true to turn it on';
  }
  // Jaeger endpoint alone implies the jaeger exporter.
  let chosenExporters = exporters;
  if (r.raw('OTEL_TRACES_EXPORTER') === undefined && !r.raw('OTEL_EXPORTER_OTLP_ENDPOINT') && !r.raw('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') && (jaeger.endpoint || jaeger.agentHost)) {
    chosenExporters = ['jaeger'];
  }

  const samplerName = r.choice('OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on');
  let ratio = 1;
  const ratioRaw = r.raw('OTEL_TRACES_SAMPLER_ARG');
  if (ratioRaw !== undefined) {
    const n = Number(ratioRaw);
    if (!Number.isFinite(n) || n < 0 || n > 1) r.problem('OTEL_TRACES_SAMPLER_ARG', ratioRaw, 'is not a number from 0 to 1', 'using 1');
    else ratio = n;
  }

  const maxQueueSize = r.int('OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 1_000_000);
  let maxExportBatchSize = r.int('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1, 1_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    r.problem('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', String(maxExportBatchSize), `is larger than OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`, `using ${maxQueueSize}`);
    maxExportBatchSize = maxQueueSize;
  }
  const batch: BatchConfig = {
    scheduledDelayMillis: r.int('OTEL_BSP_SCHEDULE_DELAY', 5000, 0, 600_000),
    exportTimeoutMillis: r.int('OTEL_BSP_EXPORT_TIMEOUT', 30_000, 1, 600_000),
    maxQueueSize,
    maxExportBatchSize,
  };

  const spanLimits: SpanLimitsConfig = {
    attributeValueLengthLimit: r.optionalInt('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 1) ?? r.optionalInt('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 1),
    attributeCountLimit: r.optionalInt('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 0) ?? r.optionalInt('OTEL_ATTRIBUTE_COUNT_LIMIT', 0),
    eventCountLimit: r.optionalInt('OTEL_SPAN_EVENT_COUNT_LIMIT', 0),
    linkCountLimit: r.optionalInt('OTEL_SPAN_LINK_COUNT_LIMIT', 0),
    attributePerEventCountLimit: r.optionalInt('OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT', 0),
    attributePerLinkCountLimit: r.optionalInt('OTEL_LINK_ATTRIBUTE_COUNT_LIMIT', 0),
  };

  const enabledRaw = r.raw('OTEL_NODE_ENABLED_INSTRUMENTATIONS');
  const enabledInstrumentations = enabledRaw === undefined ? undefined : splitList(enabledRaw).map((s) => s.toLowerCase());
  const disabledInstrumentations = splitList(r.raw('OTEL_NODE_DISABLED_INSTRUMENTATIONS') ?? '').map((s) => s.toLowerCase());

  let resourceDetectors = DEFAULT_DETECTORS;
  const detRaw = r.raw('OTEL_NODE_RESOURCE_DETECTORS');
  if (detRaw !== undefined) {
    const items = splitList(detRaw).map((s) => s.toLowerCase());
    if (items.includes('none')) resourceDetectors = [];
    else if (items.includes('all')) resourceDetectors = DETECTORS;
    else resourceDetectors = r.list('OTEL_NODE_RESOURCE_DETECTORS', DETECTORS, DEFAULT_DETECTORS);
  }

  const propRaw = r.raw('OTEL_PROPAGATORS');
  const propagators: Propagator[] =
    propRaw !== undefined && splitList(propRaw).map((s) => s.toLowerCase()).includes('none')
      ? []
      : r.list('OTEL_PROPAGATORS', PROPAGATORS, ['tracecontext', 'baggage']);

  const noiseSetting = r.choice('SIDETRACE_NOISE', ['on', 'off'] as const, 'on');
  const extraParams = splitList(r.raw('SIDETRACE_REDACT_QUERY_PARAMS') ?? '');

  const config: SidetraceConfig = {
    enabled,
    disabledReason,
    agent,
    strict,
    serviceName: r.raw('OTEL_SERVICE_NAME'),
    resourceAttributes: r.keyValues('OTEL_RESOURCE_ATTRIBUTES'),
    exporters: chosenExporters,
    otlp,
    jaeger,
    sampler: { name: samplerName, ratio },
    batch,
    spanLimits,
    enabledInstrumentations,
    disabledInstrumentations,
    resourceDetectors,
    propagators,
    logLevel: r.choice('OTEL_LOG_LEVEL', LOG_LEVELS, 'info'),
    shutdownTimeoutMs: r.int('SIDETRACE_SHUTDOWN_TIMEOUT_MS', 2000, 0, 60_000),
    noise: { enabled: noiseSetting === 'on', ignorePaths: noiseSetting === 'on' ? readIgnorePaths(r) : [] },
    redaction: { queryParams: [...DEFAULT_REDACTED_QUERY_PARAMS, ...extraParams] },
    deploy: {
      version: r.raw('KAMAL_VERSION') ?? r.raw('GIT_COMMIT_SHA') ?? r.raw('GITHUB_SHA'),
      environment: r.raw('KAMAL_DESTINATION'),
    },
    nodeEnv: r.raw('NODE_ENV'),
    inheritedParent: readInheritedParent(r),
    newRelic: readNewRelic(r, explicitEnabled),
    doctor: {
      collectorHealthUrl: collectorHealthUrl(r, exporters.includes('otlp') ? otlp.endpoint : undefined),
      jaegerQueryUrl: r.url('SIDETRACE_JAEGER_QUERY_URL'),
    },
  };
  return { config, problems: r.problems };
}

/** A version-00 W3C traceparent in TRACEPARENT (the environment-variable carrier), with TRACESTATE. */
function readInheritedParent(r: Reader): InheritedParent | undefined {
  const v = r.raw('TRACEPARENT');
  if (v === undefined) return undefined;
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(v.toLowerCase());
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) {
    r.problem('TRACEPARENT', v, 'is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)', 'root spans start new traces');
    return undefined;
  }
  return { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), traceState: r.raw('TRACESTATE') };
}

/** The collector's health_check extension: SIDETRACE_COLLECTOR_HEALTH_URL, `none` for no check, else port 13133 on the OTLP endpoint's host. */
function collectorHealthUrl(r: Reader, otlpEndpoint: string | undefined): string | undefined {
  if (r.raw('SIDETRACE_COLLECTOR_HEALTH_URL')?.toLowerCase() === 'none') return undefined;
  const explicit = r.url('SIDETRACE_COLLECTOR_HEALTH_URL');
  if (explicit || !otlpEndpoint) return explicit;
  return `http://${new URL(otlpEndpoint).hostname}:13133/`;
}

/** The OTLP headers with every value masked, for logs and `doctor`. */
export function maskedHeaders(headers: Record<string, string>): string {
  return Object.keys(headers)
    .map((k) => `${k}=***`)
    .join(',');
}

/** A URL with any userinfo and query string values masked, for logs. */
export function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = '***';
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
