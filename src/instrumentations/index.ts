// Which instrumentations load, and how they are configured.
//
// Lazy on purpose: an instrumentation package is required only when it is
// enabled AND the app first requires the module it patches (installed is not
// enough: sidetrace's own dependencies bring @grpc/grpc-js into every app).
// Those that patch Node's own modules load at start. The stock register
// requires all ~40 packages eagerly, which costs hundreds of ms.
// The noise policy lives here too where an instrumentation has a setting for
// it, because a span that is never created costs nothing.
import fs from 'node:fs';
import path from 'node:path';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { SidetraceConfig } from '../config';
import { onFirstRequire } from './first-require';
import { loadPackage } from './load-package';

interface InstrumentationSpec {
  /** Upstream's short name, as in OTEL_NODE_ENABLED_INSTRUMENTATIONS. */
  name: string;
  pkg: string;
  exportName: string;
  /** Modules the app must have installed; empty → Node core, always present. */
  targets: string[];
  /** In sidetrace's default set (with the noise policy on). */
  defaultOn: boolean;
  /** Upstream's default (what SIDETRACE_NOISE=off restores). */
  upstreamOn: boolean;
  /** Settings under the noise policy; upstream defaults otherwise. */
  noiseConfig?: (config: SidetraceConfig) => object;
  /** Settings that always apply (secrets). */
  config?: (config: SidetraceConfig) => object;
  /**
   * sidetrace's own lean instrumentation that replaces `pkg` while the noise
   * policy is on (src/instrumentations/http-server/route.ts says the contract);
   * `pkg` with its settings loads instead under SIDETRACE_NOISE=off.
   */
  lean?: {
    /** A literal require (so the build bundles sidetrace's own module) returning the instrumentation's class. */
    load: () => new (settings: object) => Instrumentation;
    /** Settings only the lean instrumentation takes. */
    config?: (config: SidetraceConfig) => object;
  };
}

const otel = (n: string) => `@opentelemetry/instrumentation-${n}`;

const SPECS: InstrumentationSpec[] = [
  {
    name: 'http',
    pkg: otel('http'),
    exportName: 'HttpInstrumentation',
    targets: [],
    defaultOn: true,
    upstreamOn: true,
    config: (c) => ({
      redactedQueryParams: c.redaction.queryParams,
      redactedQueryParamsServer: c.redaction.queryParams,
    }),
    // Server and client spans from sidetrace's own instrumentation (./http-client/), which, like upstream's with
    // requireParentforOutgoingSpans, makes no span for a call with no parent (pool heartbeats, stray requests).
    // The server side asks the provider's sampler itself, so that a request it drops costs no span (http-server/server.ts).
    lean: {
      load: () => require('./http-client').HttpInstrumentation,
      config: (c) => ({ sampler: (require('../sdk/sampler') as typeof import('../sdk/sampler')).samplerFor(c) }),
    },
  },
  {
    name: 'undici',
    pkg: otel('undici'),
    exportName: 'UndiciInstrumentation',
    targets: [],
    defaultOn: true,
    upstreamOn: true,
    // fetch spans from sidetrace's own instrumentation on undici's diagnostics channels (./undici.ts), which
    // installs no require hook; like upstream's with requireParentforSpans, it makes none for a fetch with no parent.
    lean: { load: () => require('./undici').UndiciInstrumentation },
  },
  {
    name: 'express',
    pkg: otel('express'),
    exportName: 'ExpressInstrumentation',
    targets: ['express'],
    defaultOn: true,
    upstreamOn: true,
    // No layer spans: the route name and a handler's error go on the server span.
    lean: { load: () => require('./http-server/express').ExpressRouteInstrumentation },
  },
  {
    name: 'koa',
    pkg: otel('koa'),
    exportName: 'KoaInstrumentation',
    targets: ['koa'],
    defaultOn: true,
    upstreamOn: true,
    lean: { load: () => require('./http-server/koa').KoaRouteInstrumentation },
  },
  // connect has no setting to skip middleware spans, and every layer is one.
  { name: 'connect', pkg: otel('connect'), exportName: 'ConnectInstrumentation', targets: ['connect'], defaultOn: false, upstreamOn: true },
  // express 5 routes through the `router` package; the express instrumentation already names the route.
  { name: 'router', pkg: otel('router'), exportName: 'RouterInstrumentation', targets: ['router'], defaultOn: false, upstreamOn: true },
  // Nest's fastify adapter may keep its own fastify below @nestjs/platform-fastify.
  {
    name: 'fastify',
    pkg: '@fastify/otel',
    exportName: 'FastifyOtelInstrumentation',
    targets: ['fastify', '@nestjs/platform-fastify'],
    defaultOn: true,
    upstreamOn: false,
    config: () => ({ registerOnInitialization: true }),
    lean: { load: () => require('./http-server/fastify').FastifyRouteInstrumentation },
  },
  {
    name: 'hapi',
    pkg: otel('hapi'),
    exportName: 'HapiInstrumentation',
    targets: ['@hapi/hapi'],
    defaultOn: true,
    upstreamOn: true,
    lean: { load: () => require('./http-server/hapi').HapiRouteInstrumentation },
  },
  {
    name: 'restify',
    pkg: otel('restify'),
    exportName: 'RestifyInstrumentation',
    targets: ['restify'],
    defaultOn: true,
    upstreamOn: true,
    lean: { load: () => require('./http-server/restify').RestifyRouteInstrumentation },
  },
  {
    name: 'nestjs-core',
    pkg: otel('nestjs-core'),
    exportName: 'NestInstrumentation',
    targets: ['@nestjs/core'],
    defaultOn: true,
    upstreamOn: true,
    lean: { load: () => require('./http-server/nestjs').NestRouteInstrumentation },
  },
  // Pool checkouts and connects wrap every query in a request and say nothing the query span doesn't.
  {
    name: 'pg',
    pkg: otel('pg'),
    exportName: 'PgInstrumentation',
    targets: ['pg'],
    defaultOn: true,
    upstreamOn: true,
    noiseConfig: () => ({ requireParentSpan: true, ignoreConnectSpans: true }),
  },
  { name: 'mysql2', pkg: otel('mysql2'), exportName: 'MySQL2Instrumentation', targets: ['mysql2'], defaultOn: true, upstreamOn: true },
  { name: 'mysql', pkg: otel('mysql'), exportName: 'MySQLInstrumentation', targets: ['mysql'], defaultOn: true, upstreamOn: true },
  {
    name: 'redis',
    pkg: otel('redis'),
    exportName: 'RedisInstrumentation',
    targets: ['redis', '@redis/client'],
    defaultOn: true,
    upstreamOn: true,
    noiseConfig: () => ({ requireParentSpan: true }),
  },
  {
    name: 'ioredis',
    pkg: otel('ioredis'),
    exportName: 'IORedisInstrumentation',
    targets: ['ioredis'],
    defaultOn: true,
    upstreamOn: true,
    noiseConfig: () => ({ requireParentSpan: true }),
  },
  {
    name: 'mongodb',
    pkg: otel('mongodb'),
    exportName: 'MongoDBInstrumentation',
    targets: ['mongodb'],
    defaultOn: true,
    upstreamOn: true,
    noiseConfig: () => ({ requireParentSpan: true }),
  },
  {
    name: 'graphql',
    pkg: otel('graphql'),
    exportName: 'GraphQLInstrumentation',
    targets: ['graphql'],
    defaultOn: true,
    upstreamOn: true,
    noiseConfig: () => ({ ignoreTrivialResolveSpans: true }),
  },
  {
    name: 'aws-sdk',
    pkg: otel('aws-sdk'),
    exportName: 'AwsInstrumentation',
    targets: ['aws-sdk', '@smithy/smithy-client', '@aws-sdk/smithy-client'],
    defaultOn: true,
    upstreamOn: true,
    noiseConfig: () => ({ suppressInternalInstrumentation: true }),
  },
  { name: 'amqplib', pkg: otel('amqplib'), exportName: 'AmqplibInstrumentation', targets: ['amqplib'], defaultOn: true, upstreamOn: true },
  { name: 'kafkajs', pkg: otel('kafkajs'), exportName: 'KafkaJsInstrumentation', targets: ['kafkajs'], defaultOn: true, upstreamOn: true },
  { name: 'grpc', pkg: otel('grpc'), exportName: 'GrpcInstrumentation', targets: ['@grpc/grpc-js'], defaultOn: true, upstreamOn: true },
  { name: 'tedious', pkg: otel('tedious'), exportName: 'TediousInstrumentation', targets: ['tedious'], defaultOn: true, upstreamOn: true },
  { name: 'pino', pkg: otel('pino'), exportName: 'PinoInstrumentation', targets: ['pino'], defaultOn: true, upstreamOn: true },
  { name: 'winston', pkg: otel('winston'), exportName: 'WinstonInstrumentation', targets: ['winston'], defaultOn: true, upstreamOn: true },
  { name: 'bunyan', pkg: otel('bunyan'), exportName: 'BunyanInstrumentation', targets: ['bunyan'], defaultOn: true, upstreamOn: true },
  // Off by default: each span they make is noise for most services (README, noise rules).
  { name: 'fs', pkg: otel('fs'), exportName: 'FsInstrumentation', targets: [], defaultOn: false, upstreamOn: false },
  { name: 'dns', pkg: otel('dns'), exportName: 'DnsInstrumentation', targets: [], defaultOn: false, upstreamOn: true },
  { name: 'net', pkg: otel('net'), exportName: 'NetInstrumentation', targets: [], defaultOn: false, upstreamOn: true },
  // Off by default: they repeat the driver's spans one level up.
  { name: 'knex', pkg: otel('knex'), exportName: 'KnexInstrumentation', targets: ['knex'], defaultOn: false, upstreamOn: true },
  { name: 'mongoose', pkg: otel('mongoose'), exportName: 'MongooseInstrumentation', targets: ['mongoose'], defaultOn: false, upstreamOn: true },
  { name: 'generic-pool', pkg: otel('generic-pool'), exportName: 'GenericPoolInstrumentation', targets: ['generic-pool'], defaultOn: false, upstreamOn: true },
  { name: 'dataloader', pkg: otel('dataloader'), exportName: 'DataloaderInstrumentation', targets: ['dataloader'], defaultOn: false, upstreamOn: true },
  { name: 'lru-memoizer', pkg: otel('lru-memoizer'), exportName: 'LruMemoizerInstrumentation', targets: ['lru-memoizer'], defaultOn: false, upstreamOn: true },
  { name: 'memcached', pkg: otel('memcached'), exportName: 'MemcachedInstrumentation', targets: ['memcached'], defaultOn: true, upstreamOn: true },
  {
    name: 'cassandra-driver',
    pkg: otel('cassandra-driver'),
    exportName: 'CassandraDriverInstrumentation',
    targets: ['cassandra-driver'],
    defaultOn: true,
    upstreamOn: true,
  },
  { name: 'oracledb', pkg: otel('oracledb'), exportName: 'OracleInstrumentation', targets: ['oracledb'], defaultOn: true, upstreamOn: true },
  { name: 'socket.io', pkg: otel('socket.io'), exportName: 'SocketIoInstrumentation', targets: ['socket.io'], defaultOn: true, upstreamOn: true },
  { name: 'openai', pkg: otel('openai'), exportName: 'OpenAIInstrumentation', targets: ['openai'], defaultOn: true, upstreamOn: true },
  { name: 'aws-lambda', pkg: otel('aws-lambda'), exportName: 'AwsLambdaInstrumentation', targets: [], defaultOn: false, upstreamOn: true },
  { name: 'cucumber', pkg: otel('cucumber'), exportName: 'CucumberInstrumentation', targets: ['@cucumber/cucumber'], defaultOn: false, upstreamOn: true },
  { name: 'runtime-node', pkg: otel('runtime-node'), exportName: 'RuntimeNodeInstrumentation', targets: [], defaultOn: false, upstreamOn: true },
];

export const INSTRUMENTATION_NAMES = SPECS.map((s) => s.name);
/** The packages the table requires by name: the build bundles each, and scripts/lint-deps.mjs checks each is declared. */
export const INSTRUMENTATION_PACKAGES = SPECS.map((s) => s.pkg);

/** Is `mod` installed where the app would find it? A cheap walk up node_modules folders. */
function installed(mod: string, fromDirs: string[]): boolean {
  for (const start of fromDirs) {
    let dir = start;
    for (let i = 0; i < 30; i++) {
      if (fs.existsSync(path.join(dir, 'node_modules', mod, 'package.json'))) return true;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return false;
}

export interface InstrumentationPlan {
  /** Loaded at start: they patch Node's own modules. */
  load: string[];
  /** Loaded when the app first requires one of their target modules. */
  onFirstRequire: string[];
  /** Names in OTEL_NODE_[EN|DIS]ABLED_INSTRUMENTATIONS that sidetrace doesn't know. */
  unknown: string[];
}

function wanted(spec: InstrumentationSpec, config: SidetraceConfig): boolean {
  if (config.disabledInstrumentations.includes(spec.name)) return false;
  if (config.enabledInstrumentations) return config.enabledInstrumentations.includes(spec.name);
  return config.noise.enabled ? spec.defaultOn : spec.upstreamOn;
}

/**
 * The enabled instrumentations. With `installedIn`, those whose target module
 * is not installed there are left out (the ESM path, which loads eagerly, and
 * doctor's report).
 */
export function planInstrumentations(config: SidetraceConfig, installedIn?: string[]): InstrumentationPlan {
  const known = new Set(INSTRUMENTATION_NAMES);
  const named = [...(config.enabledInstrumentations ?? []), ...config.disabledInstrumentations];
  const plan: InstrumentationPlan = { load: [], onFirstRequire: [], unknown: [...new Set(named.filter((n) => !known.has(n)))] };
  for (const spec of SPECS) {
    if (!wanted(spec, config)) continue;
    if (spec.targets.length === 0) plan.load.push(spec.name);
    else if (!installedIn || spec.targets.some((t) => installed(t, installedIn))) plan.onFirstRequire.push(spec.name);
  }
  return plan;
}

/** The directories the app resolves its modules from: its main script's and the working directory. */
export function appDirs(): string[] {
  const dirs = [process.cwd()];
  if (process.argv[1]) dirs.unshift(path.dirname(path.resolve(process.argv[1])));
  return dirs;
}

/** Build the instrumentation objects for a plan; a package that fails to load is skipped with one line. */
export function createInstrumentations(names: string[], config: SidetraceConfig, onError: (line: string) => void): Instrumentation[] {
  const out: Instrumentation[] = [];
  for (const name of names) {
    const spec = SPECS.find((s) => s.name === name);
    if (!spec) continue;
    try {
      const always = spec.config ? spec.config(config) : {};
      if (config.noise.enabled && spec.lean) {
        out.push(new (spec.lean.load())({ ...(spec.lean.config ? spec.lean.config(config) : {}), ...always }));
        continue;
      }
      const Ctor = (loadPackage(spec.pkg) as Record<string, new (settings: object) => Instrumentation>)[spec.exportName];
      const settings = { ...(config.noise.enabled && spec.noiseConfig ? spec.noiseConfig(config) : {}), ...always };
      out.push(new Ctor(settings));
    } catch (err) {
      onError(`instrumentation ${name} could not be loaded (${(err as Error).message.split('\n')[0]}); continuing without it`);
    }
  }
  return out;
}

/** The modules each instrumentation patches, for the ESM loader hook's include list. */
export function targetModules(names: string[]): string[] {
  return SPECS.filter((s) => names.includes(s.name)).flatMap((s) => s.targets);
}

/**
 * Creates each instrumentation in `names` when the app first requires one of
 * its target modules, and hands it to `onCreated` before that module loads.
 * Returns a function that stops watching.
 */
export function createOnFirstRequire(
  names: string[],
  config: SidetraceConfig,
  onError: (line: string) => void,
  onCreated: (name: string, instrumentation: Instrumentation) => void,
): () => void {
  const byTarget = new Map<string, string[]>();
  for (const spec of SPECS) {
    if (!names.includes(spec.name)) continue;
    for (const t of spec.targets) byTarget.set(t, [...(byTarget.get(t) ?? []), spec.name]);
  }
  const created = new Set<string>();
  return onFirstRequire(byTarget.keys(), (target) => {
    for (const name of byTarget.get(target)!) {
      if (created.has(name)) continue;
      created.add(name);
      const [instrumentation] = createInstrumentations([name], config, onError);
      if (instrumentation) onCreated(name, instrumentation);
    }
  });
}
