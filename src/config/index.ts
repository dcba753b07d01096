// The one place that reads sidetrace's environment. Every OTEL_* and
// SIDETRACE_* variable is parsed and validated here into a typed object; the
// rest of the code reads that object, never process.env.
//
// A bad value never stops the app: it becomes one `problems` line naming the
// variable, the value and what is used instead (SIDETRACE_STRICT=true makes
// start-up fail on them instead).
import { parseTraceparent } from '../tracing/traceparent';
import { DEFAULT_IGNORE_PATHS, DEFAULT_DETECTORS, DEFAULT_JAEGER_URL, DETECTORS, EXPORTERS, LOG_LEVELS, PROPAGATORS, PROTOCOLS, SAMPLERS } from './defaults';
import { echo, Reader, splitList, type Env } from './reader';
import { readCompileCache } from './compile-cache';
import { DEFAULT_REDACTED_QUERY_PARAMS, SECRET_VARIABLES } from '../policy/secrets';
import type {
  BatchConfig,
  ConfigResult,
  InheritedParent,
  JaegerConfig,
  NewRelicConfig,
  OtlpConfig,
  Propagator,
  SidetraceConfig,
  SpanLimitsConfig,
  TracesExporterName,
  OtlpProtocol,
} from './types';

export type * from './types';
export { DEFAULT_IGNORE_PATHS } from './defaults';
export { splitList } from './reader';

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
    const why = 'a name that is not a token, or a line break in the value';
    r.problems.push({
      variable: name,
      message: `${name} has entries HTTP cannot send as headers (${echo(bad)}: ${why}); ignoring ${bad.length === 1 ? 'it' : 'them'}`,
    });
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

/**
 * Spans per export request unless OTEL_BSP_MAX_EXPORT_BATCH_SIZE says otherwise: 128, where the spec says 512. A span
 * waits in the queue until a batch is full (or OTEL_BSP_SCHEDULE_DELAY passes); at a few hundred spans a second (a 10%
 * sample of a busy service) 512 took about a second to gather, long enough for every queued span to reach V8's old
 * generation, and was then serialized in one go. Measured in docs/performance.md (less CPU at 10%, less memory).
 */
export const DEFAULT_EXPORT_BATCH_SIZE = 128;

export function readConfig(env: Env = process.env): ConfigResult {
  const r = new Reader(env);

  const strict = r.bool('SIDETRACE_STRICT') ?? false;
  const sdkDisabled = r.bool('OTEL_SDK_DISABLED') ?? false;
  const explicitEnabled = r.bool('SIDETRACE_ENABLED');
  const agent = r.choice('SIDETRACE_AGENT', ['opentelemetry', 'newrelic'] as const, 'opentelemetry');

  const exporters = readExporters(r);
  const protocol = r.choice('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', PROTOCOLS, r.choice('OTEL_EXPORTER_OTLP_PROTOCOL', PROTOCOLS, 'http/protobuf'));
  const headers = { ...readHeaders(r, 'OTEL_EXPORTER_OTLP_HEADERS'), ...readHeaders(r, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS') };
  const timeoutMs = r.int('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', r.int('OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, 1, 600_000), 1, 600_000);
  const compression = r.choice(
    'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION',
    ['gzip', 'none'] as const,
    r.choice('OTEL_EXPORTER_OTLP_COMPRESSION', ['gzip', 'none'] as const, 'none'),
  );
  const encoder = r.choice('SIDETRACE_OTLP_ENCODER', ['sidetrace', 'upstream'] as const, 'sidetrace');
  const otlp: OtlpConfig = { endpoint: otlpEndpoint(r, protocol), protocol, headers, timeoutMs, compression, encoder };

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
  if (
    r.raw('OTEL_TRACES_EXPORTER') === undefined &&
    !r.raw('OTEL_EXPORTER_OTLP_ENDPOINT') &&
    !r.raw('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') &&
    (jaeger.endpoint || jaeger.agentHost)
  ) {
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
  let maxExportBatchSize = r.int('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', DEFAULT_EXPORT_BATCH_SIZE, 1, 1_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    // Said only of a size the user chose: the default simply takes a smaller queue's size.
    if (maxExportBatchSize !== DEFAULT_EXPORT_BATCH_SIZE)
      r.problem(
        'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
        String(maxExportBatchSize),
        `is larger than OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`,
        `using ${maxQueueSize}`,
      );
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
    propRaw !== undefined &&
    splitList(propRaw)
      .map((s) => s.toLowerCase())
      .includes('none')
      ? []
      : r.list('OTEL_PROPAGATORS', PROPAGATORS, ['tracecontext', 'baggage']);

  const noiseSetting = r.choice('SIDETRACE_NOISE', ['on', 'off'] as const, 'on');
  const extraParams = splitList(r.raw('SIDETRACE_REDACT_QUERY_PARAMS') ?? '');

  const doctorJaegerUrl = r.url('SIDETRACE_JAEGER_QUERY_URL');
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
    compileCacheDir: readCompileCache(r),
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
      collectorHealthOff: r.raw('SIDETRACE_COLLECTOR_HEALTH_URL')?.toLowerCase() === 'none',
      jaegerQueryUrl: doctorJaegerUrl,
    },
    terminal: {
      jaegerUrl: r.url('SIDETRACE_JAEGER_URL') ?? doctorJaegerUrl ?? DEFAULT_JAEGER_URL,
      jaegerHeaders: readHeaders(r, 'SIDETRACE_JAEGER_HEADERS'),
      // no-color.org: any non-empty value turns colours off.
      noColor: r.raw('NO_COLOR') !== undefined,
    },
  };
  return { config, problems: r.problems };
}

/**
 * The values of the variables that hold secrets (SECRET_VARIABLES), for output
 * that must mask them wherever they appear (`sidetrace doctor`). They are not
 * kept on the config object, which is described in start-up lines.
 */
export function secretValues(env: Env = process.env): string[] {
  return [...SECRET_VARIABLES].map((name) => env[name]?.trim()).filter((v): v is string => !!v);
}

/** A version-00 W3C traceparent in TRACEPARENT (the environment-variable carrier), with TRACESTATE. */
function readInheritedParent(r: Reader): InheritedParent | undefined {
  const v = r.raw('TRACEPARENT');
  if (v === undefined) return undefined;
  const parsed = parseTraceparent(v);
  if (!parsed) {
    r.problem('TRACEPARENT', v, 'is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)', 'root spans start new traces');
    return undefined;
  }
  return { ...parsed, traceState: r.raw('TRACESTATE') };
}

/** The collector's health_check extension: SIDETRACE_COLLECTOR_HEALTH_URL, `none` for no check, else port 13133 on the OTLP endpoint's host. */
function collectorHealthUrl(r: Reader, otlpEndpoint: string | undefined): string | undefined {
  if (r.raw('SIDETRACE_COLLECTOR_HEALTH_URL')?.toLowerCase() === 'none') return undefined;
  const explicit = r.url('SIDETRACE_COLLECTOR_HEALTH_URL');
  if (explicit || !otlpEndpoint) return explicit;
  return `http://${new URL(otlpEndpoint).hostname}:13133/`;
}
