// start() and shutdown(): what the preload, the register hook and library
// users call. Reads the config once; when tracing is off it loads nothing
// else (no SDK, no instrumentation) and says so in one line.
import { readConfig, type ConfigResult, type SidetraceConfig } from '../config';
import { oneLine } from '../logging/mask';
import {
  describeAsyncContextFrame,
  describeClientInstrumentation,
  describeFetchInstrumentation,
  describeSampler,
  describeServerInstrumentation,
  describeTargets,
} from '../logging/describe';
import { appDirs, planInstrumentations } from '../instrumentations';
import { log, setLogLevel, wireDiagnostics } from '../logging/log';
import { serviceIdentity, type ServiceIdentity } from '../sdk/resource';
import type { SdkHandle } from '../sdk';
import type { Instrumentation, InstrumentationBase } from '@opentelemetry/instrumentation';
import { isBuiltin } from 'node:module';
import { importedFirst } from '../instrumentations/first-require';
import { loadPackage } from '../instrumentations/load-package';
import { installShutdownHooks, withTimeout } from './shutdown';
import { announceTracingOff } from './off';
import { inWorkerThread } from './thread';
import { DISTRO_VERSION } from '../version';

export interface StartOptions {
  /** Environment to read instead of process.env (tests, embedding). */
  env?: Record<string, string | undefined>;
  /** Register the ESM loader hook so `import`ed modules are instrumented too. */
  esm?: boolean;
  /** Load no instrumentation (the CLI traces itself only). */
  instrumentations?: false;
  /** Install SIGTERM/SIGINT/beforeExit flush hooks (default true). */
  shutdownHooks?: boolean;
  /** Overrides for the service identity (the CLI's --service/--version/--environment). */
  identity?: Partial<ServiceIdentity>;
  /** Print the start-up line (default true). */
  announce?: boolean;
  /** The configuration already read from the environment (the preload's, src/start/preflight.ts), so it is not read twice. */
  config?: ConfigResult;
}

export interface StartResult {
  enabled: boolean;
  config: SidetraceConfig;
  identity?: ServiceIdentity;
  /** Instrumentations loaded at start. */
  instrumentations: string[];
  /** Instrumentations that load when the app first requires their module. */
  onFirstRequire: string[];
}

/** Thrown by start() when SIDETRACE_STRICT=true and the config has problems. */
export class ConfigError extends Error {}

let handle: SdkHandle | undefined;
let stopAgent: (() => Promise<void>) | undefined;
let removeHooks: (() => void) | undefined;
let result: StartResult | undefined;
let timeoutMs = 2000;

export function start(options: StartOptions = {}): StartResult {
  if (result) return result;
  const { config, problems } = options.config ?? readConfig(options.env);
  setLogLevel(config.logLevel);
  timeoutMs = config.shutdownTimeoutMs;
  if (config.strict && problems.length) {
    for (const p of problems) log.error(p.message);
    throw new ConfigError(
      `sidetrace: SIDETRACE_STRICT=true and the configuration has ${problems.length} problem(s): ${problems.map((p) => p.variable).join(', ')}`,
    );
  }
  // Inside a worker_threads Worker the preload runs again; it traces the worker
  // through the main thread's exporter and says nothing the main thread said (src/sdk/worker-spans.ts).
  const inWorker = inWorkerThread();
  if (inWorker) options = { ...options, announce: false, shutdownHooks: false };
  else if (config.enabled || config.agent === 'newrelic') for (const p of problems) log.warn(p.message);

  if (config.agent === 'newrelic') {
    const { startNewRelicAgent, stopNewRelicAgent } = require('../newrelic/agent') as typeof import('../newrelic/agent');
    const enabled = startNewRelicAgent(config, { identity: options.identity, shutdownHooks: options.shutdownHooks, announce: options.announce });
    if (enabled) stopAgent = stopNewRelicAgent;
    result = { enabled, config, instrumentations: [], onFirstRequire: [] };
    return result;
  }

  if (!config.enabled) {
    announceTracingOff(config, problems, { inWorker, announce: options.announce !== false });
    result = { enabled: false, config, instrumentations: [], onFirstRequire: [] };
    return result;
  }

  wireDiagnostics(config.logLevel);
  const identity = { ...serviceIdentity(config), ...definedOnly(options.identity ?? {}) };
  // Under --import, the in-thread loader hook (module.registerHooks) reports each
  // import before the module loads, so instrumentations load on the app's first
  // import as on its first require. With the off-thread hook (Node 20, older 22
  // and 24) it cannot: the instrumentations of installed modules load at start.
  const syncEsm = options.esm === true && syncEsmHooks();
  const eagerEsm = options.esm === true && !syncEsm;
  const plan =
    options.instrumentations === false ? { load: [], onFirstRequire: [], unknown: [] } : planInstrumentations(config, eagerEsm ? appDirs() : undefined);
  if (plan.unknown.length && !inWorker)
    log.warn(`OTEL_NODE_[EN|DIS]ABLED_INSTRUMENTATIONS names unknown instrumentations ${oneLine(plan.unknown.join(', '))}; ignoring them`);
  const names = eagerEsm
    ? { atStart: [...plan.load, ...plan.onFirstRequire], onFirstRequire: [] }
    : { atStart: plan.load, onFirstRequire: plan.onFirstRequire };

  const { startSdk } = require('../sdk') as typeof import('../sdk');
  handle = startSdk(config, identity, names, { inWorker });
  if (syncEsm) registerSyncEsmHook(handle.instrumentations);
  else if (eagerEsm) {
    const patched = patchedModules(handle.instrumentations);
    if (patched.length) registerEsmHook(patched);
  }
  if (options.shutdownHooks !== false) removeHooks = installShutdownHooks(() => handle!.shutdown(), config.shutdownTimeoutMs);

  if (options.announce !== false) {
    const targets = describeTargets(config);
    // oneLine: the service name and header names come from the environment and may hold anything.
    log.info(
      oneLine(
        `v${DISTRO_VERSION} tracing ${identity.name}${identity.version ? `@${identity.version}` : ''}` +
          `${identity.environment ? ` (${identity.environment})` : ''} → ${targets.length ? targets.join(', ') : 'no exporter (propagation only)'}` +
          `; sampler ${describeSampler(config)}; noise policy ${config.noise.enabled ? 'on' : 'off'}` +
          `; http server spans: ${describeServerInstrumentation(config, [...names.atStart, ...names.onFirstRequire])}` +
          `; AsyncContextFrame ${describeAsyncContextFrame()}` +
          `; http client spans: ${describeClientInstrumentation(config, names.atStart)}` +
          `; fetch spans: ${describeFetchInstrumentation(config, names.atStart)}` +
          `; instrumentations: ${names.atStart.join(', ') || 'none'}` +
          `${names.onFirstRequire.length ? ` (+${names.onFirstRequire.length} when the app first ${syncEsm ? 'imports or requires' : 'requires'} their module)` : ''}`,
      ),
    );
  }
  result = { enabled: true, config, identity, instrumentations: names.atStart, onFirstRequire: names.onFirstRequire };
  return result;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The modules the instrumentations patch by name: only InstrumentationBase subclasses do (sidetrace's own hooks patch at load, ../instrumentations/exports-hook.ts). */
function patchedModules(instrumentations: Instrumentation[]): string[] {
  return instrumentations.flatMap((i) =>
    typeof (i as Partial<InstrumentationBase>).getModuleDefinitions === 'function' ? (i as InstrumentationBase).getModuleDefinitions().map((d) => d.name) : [],
  );
}

/** import-in-the-middle's in-thread hook works on this Node (module.registerHooks with nullish CommonJS source). */
function syncEsmHooks(): boolean {
  try {
    const nodeModule = require('node:module') as { registerHooks?: unknown };
    // require() of an ES module is warning-free wherever registerHooks exists (Node ≥ 22.15).
    return (
      typeof nodeModule.registerHooks === 'function' &&
      (require('import-in-the-middle/supports-sync-hooks.mjs') as { supportsSyncHooks(): boolean }).supportsSyncHooks()
    );
  } catch {
    return false;
  }
}

/**
 * The in-thread ESM loader hook (module.registerHooks). Each import's specifier
 * first goes to the first-use watcher, which creates the instrumentations of
 * its package before the package loads (../instrumentations/first-require.ts);
 * then only the modules the created instrumentations patch are wrapped, and
 * every other import goes through Node untouched.
 */
function registerSyncEsmHook(instrumentations: Instrumentation[]): void {
  const include = new Set<string>();
  let seen = 0;
  const shouldInclude = (url: string, specifier: string): boolean => {
    importedFirst(specifier);
    if (instrumentations.length !== seen) {
      for (const name of patchedModules(instrumentations.slice(seen))) include.add(isBuiltin(name) && !name.startsWith('node:') ? `node:${name}` : name);
      seen = instrumentations.length;
    }
    return include.has(specifier) || include.has(url);
  };
  try {
    // Loaded before the hook is: an instrumentation the hook creates on an import extends this package's base
    // class, and the package's own modules (import-in-the-middle among them) loaded from inside the hook fail to wrap.
    loadPackage('@opentelemetry/instrumentation');
    (require('import-in-the-middle/register-hooks.mjs') as { register(o: { shouldInclude: typeof shouldInclude }): void }).register({ shouldInclude });
  } catch (err) {
    log.warn(`ESM loader hook could not be registered (${(err as Error).message}); ESM imports will not be instrumented`);
  }
}

/**
 * The off-thread ESM loader hook (module.register), limited to the modules the
 * instrumentations loaded at start patch: every other `import` goes through
 * Node untouched.
 */
function registerEsmHook(modules: string[]): void {
  const include = [...new Set(modules)];
  try {
    const nodeModule = require('node:module') as typeof import('node:module');
    const { pathToFileURL } = require('node:url') as typeof import('node:url');
    const hook = require.resolve('import-in-the-middle/hook.mjs');
    nodeModule.register(pathToFileURL(hook).href, pathToFileURL(__filename).href, { data: { include } });
  } catch (err) {
    log.warn(`ESM loader hook could not be registered (${(err as Error).message}); ESM imports will not be instrumented`);
  }
}

/** Export statistics of the running SDK (empty when tracing is off). */
export function exportStats() {
  return handle ? handle.stats : [];
}

/** Flush what is queued, within the shutdown bound. */
export async function forceFlush(): Promise<void> {
  if (handle) await withTimeout(handle.forceFlush(), timeoutMs);
}

/** Flush and stop, within the shutdown bound (SIDETRACE_SHUTDOWN_TIMEOUT_MS). Never throws. */
export async function shutdown(): Promise<void> {
  const stop = stopAgent;
  stopAgent = undefined;
  if (stop) await stop(); // bounded by SIDETRACE_SHUTDOWN_TIMEOUT_MS
  removeHooks?.();
  removeHooks = undefined;
  const h = handle;
  handle = undefined;
  if (h) {
    const outcome = await withTimeout(h.shutdown(), timeoutMs);
    if (outcome === 'timeout') log.warn(`shutdown did not finish within ${timeoutMs} ms; some spans may be lost`);
  }
}

/**
 * What the preload and the register hook run: start, and never let telemetry
 * stop the app — anything unexpected becomes one line and the app runs
 * untraced, except a config error under SIDETRACE_STRICT=true, which is meant
 * to stop it (exit 78, EX_CONFIG).
 */
export function startFromPreload(options: StartOptions = {}): void {
  try {
    start(options);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`sidetrace: could not start tracing (${(err as Error)?.message ?? err}); the app runs untraced\n`);
  }
}
