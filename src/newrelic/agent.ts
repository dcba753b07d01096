// SIDETRACE_AGENT=newrelic: New Relic's own agent instead of the OpenTelemetry
// SDK. The agent instruments the app and sends to New Relic itself, configured
// the New Relic way (NEW_RELIC_* variables, newrelic.js); sidetrace turns on
// its OpenTelemetry bridge (so migration and deploy spans, made through the
// OpenTelemetry API, reach it), runs root work in named background
// transactions, and maps the noise policy onto the agent's settings.
// Without a license key the agent is not loaded at all: one line, untraced.
import fs from 'node:fs';
import path from 'node:path';
import type { NewRelicConfig, SidetraceConfig } from '../config';
import { oneLine } from '../logging/mask';
import { log } from '../logging/log';
import type { NoiseTarget } from './noise';
import type { RootWorkAgent } from './root-work';
import { serviceIdentity, type ServiceIdentity } from '../sdk/resource';
import { setRootWorkRunner } from '../tracing/root-work';
import { installShutdownHooks, withTimeout } from '../start/shutdown';
import { DISTRO_VERSION } from '../version';

/** The agent object behind the API (`newrelic.agent`), as far as sidetrace reads it. */
interface NewRelicAgent {
  tracer?: NonNullable<RootWorkAgent['agent']>['tracer'];
  config?: NonNullable<NonNullable<NoiseTarget['agent']>['config']> & {
    app_name?: string[];
    opentelemetry?: { enabled?: boolean; traces?: { enabled?: boolean } };
  };
}

/** The `newrelic` module's API, as far as sidetrace uses it. */
interface NewRelicApi extends RootWorkAgent, NoiseTarget {
  shutdown(options: { collectPendingData?: boolean; timeout?: number }, cb: (err?: Error) => void): void;
  agent?: NewRelicAgent | null;
}

export interface NewRelicStartOptions {
  /** Service identity overrides (the CLI's --service): the app name when NEW_RELIC_APP_NAME and newrelic.js are absent. */
  identity?: Partial<ServiceIdentity>;
  /** Flush on SIGTERM/SIGINT/beforeExit (default true; the CLI flushes itself). */
  shutdownHooks?: boolean;
  /** Print the start-up line (default true). */
  announce?: boolean;
}

const SUPPORTED_MAJOR = 13;

let api: NewRelicApi | undefined;
let timeoutMs = 2000;

/** The config file the agent would read, searched the way it searches (NEW_RELIC_HOME, cwd, HOME, above node_modules). */
function findConfigFile(c: NewRelicConfig): string | undefined {
  if (c.configFileDirs.length === 0) return undefined;
  const names = [c.configFileName, 'newrelic.js', 'newrelic.cjs', 'newrelic.mjs'].filter((n): n is string => n !== undefined);
  const dirs = [...c.configFileDirs];
  try {
    dirs.push(path.resolve(path.dirname(require.resolve('newrelic/package.json')), '..', '..'));
  } catch {
    // not installed: said elsewhere
  }
  for (const dir of dirs) {
    for (const name of names) {
      const file = path.resolve(dir, name);
      if (fs.existsSync(file)) return file;
    }
  }
  return undefined;
}

/** The installed agent's version, read without loading anything of it (a missing key must leave no trace in require.cache). */
function agentVersion(): string | undefined {
  try {
    const pkg = JSON.parse(fs.readFileSync(require.resolve('newrelic/package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

export type NewRelicReadiness = { ready: true; version: string; configFile?: string } | { ready: false; level: 'info' | 'warn'; reason: string };

/** Whether the agent can be loaded, decided without loading any of it (the start-up path and `sidetrace doctor` share this). */
export function newRelicReadiness(nrc: NewRelicConfig): NewRelicReadiness {
  if (nrc.disabledReason) return { ready: false, level: 'info', reason: `tracing is off: ${nrc.disabledReason}; the New Relic agent is not loaded` };
  const version = agentVersion();
  if (!version) {
    return {
      ready: false,
      level: 'warn',
      reason: `SIDETRACE_AGENT=newrelic needs the newrelic package (npm install newrelic@^${SUPPORTED_MAJOR}); the app runs untraced`,
    };
  }
  const configFile = findConfigFile(nrc);
  if (!nrc.licenseKeySet && !configFile) {
    return {
      ready: false,
      level: 'warn',
      reason:
        'SIDETRACE_AGENT=newrelic but NEW_RELIC_LICENSE_KEY is not set and there is no newrelic.js; ' +
        'the New Relic agent is not loaded and the app runs untraced',
    };
  }
  return { ready: true, version, configFile };
}

/** Starts the agent with its OpenTelemetry bridge; false (after one line) when the app runs untraced. */
export function startNewRelicAgent(config: SidetraceConfig, options: NewRelicStartOptions = {}): boolean {
  const nrc = config.newRelic;
  timeoutMs = config.shutdownTimeoutMs;
  const readiness = newRelicReadiness(nrc);
  if (!readiness.ready) {
    log[readiness.level](readiness.reason);
    return false;
  }
  const { version, configFile } = readiness;
  let appName: string | undefined;
  if (!nrc.appNameSet && !configFile) {
    const identity = { ...serviceIdentity(config), ...definedOnly(options.identity ?? {}) };
    if (identity.name.startsWith('unknown_service')) {
      log.warn(
        'SIDETRACE_AGENT=newrelic but NEW_RELIC_APP_NAME is not set (nor OTEL_SERVICE_NAME, nor a package.json name); ' +
          'the New Relic agent is not loaded and the app runs untraced',
      );
      return false;
    }
    appName = identity.name;
    // A hand-off, not a config read: the newrelic agent takes its settings
    // only from the environment (or newrelic.js) when it loads, so the values
    // sidetrace decided are written there just before require('newrelic').
    process.env.NEW_RELIC_APP_NAME = appName;
  }
  // newrelic 13.9.2 (index.js) marks a loaded agent with require.cache.__NR_cache; there is no public flag.
  const alreadyLoaded = (require.cache as Record<string, unknown>).__NR_cache !== undefined;
  // The same hand-off: the agent's OpenTelemetry bridge is switched on through its environment settings.
  process.env.NEW_RELIC_OPENTELEMETRY_ENABLED = 'true';
  process.env.NEW_RELIC_OPENTELEMETRY_TRACES_ENABLED = 'true';

  let nr: NewRelicApi;
  try {
    nr = require('newrelic') as NewRelicApi;
  } catch (err) {
    log.warn(`the New Relic agent failed to load (${oneLine((err as Error)?.message ?? String(err))}); the app runs untraced`);
    return false;
  }
  const agent = nr.agent;
  if (!agent) {
    log.warn('the New Relic agent did not start (its log, newrelic_agent.log by default, says why); the app runs untraced');
    return false;
  }
  api = nr;
  if (agent.config?.opentelemetry?.traces?.enabled !== true || agent.config?.opentelemetry?.enabled !== true) {
    log.warn(
      `the New Relic agent was loaded before sidetrace${alreadyLoaded ? ' (-r newrelic?)' : ''} with its OpenTelemetry bridge off; ` +
        'migration and deploy spans are not recorded: load sidetrace/preload alone',
    );
  }
  if (Number(version.split('.')[0]) !== SUPPORTED_MAJOR)
    log.warn(`newrelic ${version} is not the ${SUPPORTED_MAJOR}.x line sidetrace was built for; custom spans may not be tied to their transactions`);

  // Loaded only now: an app without a key loads nothing of this (nor the OpenTelemetry API).
  const { attachToBridge, createRootWorkRunner, RootSpanProcessor } = require('./root-work') as typeof import('./root-work');
  const { applyNoisePolicy } = require('./noise') as typeof import('./noise');
  const processor = new RootSpanProcessor(() => agent.tracer?.getTransaction?.());
  let bridged = false;
  try {
    bridged = attachToBridge(processor);
  } catch {
    // said below, like any other bridge sidetrace does not know
  }
  setRootWorkRunner(createRootWorkRunner(nr, bridged ? processor : undefined));

  let noise = 'noise policy off';
  if (config.noise.enabled) {
    try {
      const m = applyNoisePolicy(nr, config.noise.ignorePaths);
      noise = `noise policy on (${m.ignoringRules} ignoring rules${m.excludesApplied ? ', secret headers excluded' : ''})`;
      if (!m.excludesApplied)
        log.warn("the New Relic agent's attribute exclusions could not be extended; secret headers are excluded only as its own configuration says");
    } catch (err) {
      log.warn(`the noise policy could not be mapped onto the New Relic agent (${oneLine((err as Error)?.message ?? String(err))}); its own settings apply`);
    }
  }
  if (!bridged)
    log.warn("the New Relic bridge's span pipeline is not the one sidetrace knows; custom spans get named transactions but keep New Relic's trace ids");
  if (options.shutdownHooks !== false) installShutdownHooks(stopNewRelicAgent, config.shutdownTimeoutMs);

  const name = appName ?? (Array.isArray(agent.config?.app_name) ? agent.config.app_name.join(';') : undefined);
  if (options.announce === false) return true;
  log.info(
    oneLine(
      `v${DISTRO_VERSION} New Relic agent ${version} for ${name ? `app ${name}` : 'the app'}${appName ? ' (NEW_RELIC_APP_NAME unset: the service name)' : ''}` +
        `${configFile && !nrc.licenseKeySet ? ` (${path.basename(configFile)})` : ''} → New Relic directly` +
        `; OpenTelemetry bridge on: migration and deploy spans become background transactions; ${noise}`,
    ),
  );
  return true;
}

/** Sends what the agent holds and stops it, within the shutdown bound; never throws. */
export async function stopNewRelicAgent(): Promise<void> {
  const nr = api;
  api = undefined;
  if (!nr) return;
  const done = new Promise<void>((resolve) => {
    try {
      nr.shutdown({ collectPendingData: true, timeout: timeoutMs }, () => resolve());
    } catch {
      resolve();
    }
  });
  if ((await withTimeout(done, timeoutMs)) === 'timeout') log.warn(`the New Relic agent did not finish sending within ${timeoutMs} ms; some data may be lost`);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
