// The local tracing stack: the real OpenTelemetry Collector (otelcol-sidetrace,
// built by scripts/stack-build.sh) and the real Jaeger v2, on loopback, with
// the same config files compose uses (collector/*.yaml). Used by
// `npm run stack`, `npm run demo` and the tests.
//
// startStack() builds the binaries when missing, starts Jaeger then the
// collector, waits for both health endpoints, and returns their URLs and a
// stop(). With `gateway: true` it starts the tiered topology instead: Jaeger,
// two gateway collectors (collector/gateway.yaml) and two sidecars in gateway
// mode routing to them (docs/gateway.md); with `gatewayDns` the sidecars find
// the gateways by a DNS name that a test can change while they run (failover).
// Every collector is started through collector/entrypoint.sh, which picks its
// config files, so the local stack and compose decide the same way. Children are stopped on stop(), on process
// exit, on SIGINT/SIGTERM/SIGHUP when nobody else handles them, and (through a
// small shell watchdog) even when this process is killed outright.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const COLLECTOR_DIR = path.join(REPO_ROOT, 'collector');
export const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'stack-build.sh');

/** The sidecar's config files: the base, the New Relic overlay (only with a license key), the debug overlay. */
export const SIDECAR_CONFIG_FILES = ['otel-collector.yaml', 'newrelic.yaml', 'debug.yaml'];
/** Gateway mode at the sidecar (merged over otel-collector.yaml): the export to the gateways and its two resolvers. */
export const SIDECAR_GATEWAY_FILES = ['sidecar-gateway.yaml', 'sidecar-gateway-static.yaml', 'sidecar-gateway-dns.yaml'];
/** The gateway collector's config and its New Relic overlay (only with a license key). */
export const GATEWAY_CONFIG_FILES = ['gateway.yaml', 'gateway-newrelic.yaml'];
/** Every collector config file the entrypoint can choose. */
export const COLLECTOR_CONFIG_FILES = [...SIDECAR_CONFIG_FILES, ...SIDECAR_GATEWAY_FILES, ...GATEWAY_CONFIG_FILES];
export const COLLECTOR_ENTRYPOINT = 'entrypoint.sh';
export const JAEGER_CONFIG_FILE = 'jaeger.yaml';
/** Jaeger with a shared search cluster instead of Badger (docs/gateway.md); not used by the local stack. */
export const JAEGER_CLUSTER_CONFIG_FILES = ['jaeger-elasticsearch.yaml', 'jaeger-opensearch.yaml'];

/**
 * Every port of the stack: the variable its config file reads and the default there
 * (test/compose.test.ts checks this table against the config files and docker-compose.yml).
 */
export const PORTS = {
  otlpGrpc: { service: 'collector', env: 'SIDETRACE_COLLECTOR_OTLP_GRPC_PORT', default: 4317 },
  otlpHttp: { service: 'collector', env: 'SIDETRACE_COLLECTOR_OTLP_HTTP_PORT', default: 4318 },
  collectorHealth: { service: 'collector', env: 'SIDETRACE_COLLECTOR_HEALTH_PORT', default: 13133 },
  collectorMetrics: { service: 'collector', env: 'SIDETRACE_COLLECTOR_METRICS_PORT', default: 8888 },
  spanMetrics: { service: 'collector', env: 'SIDETRACE_SPANMETRICS_PORT', default: 8889 },
  jaegerOtlpGrpc: { service: 'jaeger', env: 'SIDETRACE_JAEGER_OTLP_GRPC_PORT', default: 24317 },
  jaegerOtlpHttp: { service: 'jaeger', env: 'SIDETRACE_JAEGER_OTLP_HTTP_PORT', default: 24318 },
  jaegerThriftHttp: { service: 'jaeger', env: 'SIDETRACE_JAEGER_THRIFT_HTTP_PORT', default: 14268 },
  jaegerQueryHttp: { service: 'jaeger', env: 'SIDETRACE_JAEGER_QUERY_HTTP_PORT', default: 16686 },
  jaegerQueryGrpc: { service: 'jaeger', env: 'SIDETRACE_JAEGER_QUERY_GRPC_PORT', default: 16685 },
  jaegerHealth: { service: 'jaeger', env: 'SIDETRACE_JAEGER_HEALTH_PORT', default: 23133 },
  jaegerMetrics: { service: 'jaeger', env: 'SIDETRACE_JAEGER_METRICS_PORT', default: 28888 },
};

/**
 * The tiered topology (`gateway: true`): how many of each, and the ports of each instance on loopback.
 * Sidecar i listens on the PORTS defaults + 10·i; gateway i on GATEWAY_PORTS + 10·i. A gateway reads
 * the sidecar's variable names (collector/gateway.yaml), so `env` is the variable each port is given in.
 */
export const TIER = { sidecars: 2, gateways: 2, step: 10 };
export const GATEWAY_PORTS = {
  otlpGrpc: { env: 'SIDETRACE_COLLECTOR_OTLP_GRPC_PORT', local: 4417 },
  health: { env: 'SIDETRACE_COLLECTOR_HEALTH_PORT', local: 13233 },
  metrics: { env: 'SIDETRACE_COLLECTOR_METRICS_PORT', local: 8988 },
};

/** Variables the stack runner sets itself (besides the ports). */
export const COLLECTOR_HOST_ENV = 'SIDETRACE_COLLECTOR_HOST';
export const JAEGER_HOST_ENV = 'SIDETRACE_JAEGER_HOST';
export const JAEGER_ENDPOINT_ENV = 'SIDETRACE_JAEGER_OTLP_ENDPOINT';
export const STORAGE_DIR_ENV = 'SIDETRACE_COLLECTOR_STORAGE_DIR';
export const ROLE_ENV = 'SIDETRACE_COLLECTOR_ROLE';
export const GATEWAY_ENDPOINTS_ENV = 'SIDETRACE_GATEWAY_ENDPOINTS';
export const GATEWAY_DNS_ENV = 'SIDETRACE_GATEWAY_DNS';
export const GATEWAY_PORT_ENV = 'SIDETRACE_GATEWAY_PORT';
export const JAEGER_STORAGE_ENV = 'SIDETRACE_JAEGER_STORAGE';
export const JAEGER_DATA_DIR_ENV = 'SIDETRACE_JAEGER_DATA_DIR';
export const JAEGER_STORAGES = ['badger', 'memory'];
/** Passed through from the caller's environment to the collector. */
export const NEW_RELIC_ENV = ['NEW_RELIC_LICENSE_KEY', 'NEW_RELIC_OTLP_ENDPOINT'];
/** Prefixes of the caller's variables passed to the collectors and Jaeger as overrides (memory limits, queue size, sampling…). */
const PASSED_PREFIXES = [
  'SIDETRACE_COLLECTOR_',
  'SIDETRACE_SPANMETRICS_',
  'SIDETRACE_NEW_RELIC_',
  'SIDETRACE_JAEGER_',
  'SIDETRACE_GATEWAY_',
  'SIDETRACE_TAIL_',
];
const PASSED_PLAIN = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'GOMEMLIMIT', 'GOMAXPROCS', ...NEW_RELIC_ENV];

const LOOPBACK = '127.0.0.1';
const HEALTH_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** Runs scripts/stack-build.sh (fast when cached) and returns the binaries' paths. */
export async function ensureBinaries({ log = () => {} } = {}) {
  const out = [];
  const code = await new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', reject);
    child.stdout.on('data', (d) => out.push(d));
    lines(child.stderr, log);
    child.on('close', resolve);
  });
  const vars = Object.fromEntries(
    Buffer.concat(out)
      .toString()
      .split('\n')
      .map((l) => l.match(/^([A-Z_]+)=(.*)$/))
      .filter(Boolean)
      .map((m) => [m[1], m[2]]),
  );
  if (code !== 0 || !vars.OTELCOL_BIN || !vars.JAEGER_BIN) {
    throw new Error(`scripts/stack-build.sh failed (exit ${code}); run \`npm run stack:build\` to see why`);
  }
  return { otelcolBin: vars.OTELCOL_BIN, jaegerBin: vars.JAEGER_BIN, jaegerVersion: vars.JAEGER_VERSION };
}

export { freePort } from './free-port.mjs';

/**
 * @param {import('./stack-lib.d.mts').StartStackOptions} [options]
 * @returns {Promise<import('./stack-lib.d.mts').Stack>}
 */
export async function startStack(options = {}) {
  const { env = process.env, log = () => {}, freePorts = false, gateway = false, gatewayDns, collectorEnv = {}, gatewayEnv = {}, jaegerEnv = {} } = options;
  const gatewayCount = gateway ? (options.gateways ?? TIER.gateways) : 0;
  const sidecarCount = gateway ? (options.sidecars ?? TIER.sidecars) : 1;
  const bins = await ensureBinaries({ log });

  const ports = {};
  for (const [name, spec] of Object.entries(PORTS)) {
    const given = options.ports?.[name] ?? (freePorts ? undefined : numberOr(env[spec.env], spec.default));
    ports[name] = given ?? (await freePort());
  }

  // Default (the developer's stack): state and logs under .stack/, kept across runs so the
  // New Relic queue and Jaeger's traces survive a restart. Free ports (tests): a temp dir removed on stop().
  const tempDir =
    freePorts && !(options.storageDir && options.logDir && options.jaegerDataDir) ? fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-stack-')) : undefined;
  const stateDir = tempDir ?? path.join(REPO_ROOT, '.stack');
  const storageDir = options.storageDir ?? path.join(stateDir, 'collector-storage');
  const logDir = options.logDir ?? path.join(stateDir, 'logs');
  const jaegerDataDir = options.jaegerDataDir ?? path.join(stateDir, 'jaeger-data');
  for (const dir of [storageDir, logDir, jaegerDataDir]) fs.mkdirSync(dir, { recursive: true });

  // PATH and HOME always (to find sh); the rest only from `env`, so a test's stack ignores the developer's shell.
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir() };
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (PASSED_PLAIN.includes(k) || PASSED_PREFIXES.some((p) => k.startsWith(p)))) base[k] = v;
  }
  for (const [name, spec] of Object.entries(PORTS)) base[spec.env] = String(ports[name]);
  base[COLLECTOR_HOST_ENV] = LOOPBACK;
  base[JAEGER_HOST_ENV] = LOOPBACK;
  base[JAEGER_ENDPOINT_ENV] = `${LOOPBACK}:${ports.jaegerOtlpGrpc}`;
  base[STORAGE_DIR_ENV] = storageDir;
  base[JAEGER_DATA_DIR_ENV] = jaegerDataDir;

  // Jaeger's store: badger unless memory is asked for (option, or the variable); a bad value is named and replaced.
  const storageWanted = options.jaegerStorage ?? jaegerEnv[JAEGER_STORAGE_ENV] ?? base[JAEGER_STORAGE_ENV];
  let jaegerStorage = 'badger';
  if (storageWanted !== undefined && storageWanted !== '') {
    if (JAEGER_STORAGES.includes(storageWanted)) jaegerStorage = storageWanted;
    else log(`${JAEGER_STORAGE_ENV}="${storageWanted}" is not ${JAEGER_STORAGES.join(' or ')}; using badger`);
  }

  const urls = {
    jaegerUrl: `http://${LOOPBACK}:${ports.jaegerQueryHttp}`,
    jaegerThriftUrl: `http://${LOOPBACK}:${ports.jaegerThriftHttp}/api/traces`,
    jaegerOtlpHttpUrl: `http://${LOOPBACK}:${ports.jaegerOtlpHttp}`,
    jaegerHealthUrl: `http://${LOOPBACK}:${ports.jaegerHealth}/status`,
    jaegerMetricsUrl: `http://${LOOPBACK}:${ports.jaegerMetrics}/metrics`,
  };

  const owned = new OwnedProcesses(tempDir);
  const jaeger = new Service({
    name: 'jaeger',
    command: bins.jaegerBin,
    args: ['--config', path.join(COLLECTOR_DIR, JAEGER_CONFIG_FILE)],
    env: { ...base, ...jaegerEnv, [JAEGER_STORAGE_ENV]: jaegerStorage },
    logFile: path.join(logDir, 'jaeger.log'),
    healthUrl: urls.jaegerHealthUrl,
    owned,
    log,
  });

  /** A collector run through the entrypoint; `overrides` change its environment on a restart. */
  const collectorService = (name, ownEnv, healthUrl, logFile, hostsFile) => {
    let overrides = {};
    const envNow = () => ({ ...base, OTELCOL_BIN: bins.otelcolBin, SIDETRACE_COLLECTOR_CONFIG_DIR: COLLECTOR_DIR, ...ownEnv, ...overrides });
    const entry = path.join(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT);
    // With a hosts file: a mount namespace of its own in which that file is /etc/hosts (bind-mounted,
    // so edits in place are seen), the machine's /etc/hosts untouched; every step execs, so the pid is
    // the collector's. Not root: a user namespace makes the mount possible where the kernel allows it.
    const userns = process.getuid?.() === 0 ? [] : ['--map-root-user'];
    const [command, args] = hostsFile
      ? ['unshare', [...userns, '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec sh "$1"', hostsFile, entry]]
      : ['sh', [entry]];
    const service = new Service({
      name,
      command,
      args,
      env: envNow(),
      logFile,
      healthUrl,
      owned,
      log,
      // The entrypoint's own lines (New Relic on/off, gateway mode, bad values) are for the user; the collector's log goes to the file.
      relay: (line) => line.startsWith('sidetrace collector:'),
    });
    const handle = {
      name,
      get pid() {
        return service.child?.pid;
      },
      logFile,
      env: () => envNow(),
      running: () => service.running(),
      start: () => service.start(),
      stop: (signal = 'SIGTERM') => service.stop(signal),
      /** Stops (SIGTERM, or the signal given) and starts again with the same ports and storage. */
      async restart({ signal = 'SIGTERM', env: more } = {}) {
        await service.stop(signal);
        if (more) overrides = { ...overrides, ...more };
        service.env = envNow();
        await service.start();
      },
      log: () => readTail(logFile),
    };
    return { service, handle };
  };

  const gateways = [];
  const sidecars = [];
  // DNS mode: gateway i listens on 127.0.0.(i+1), all on one OTLP/gRPC port, and the sidecars
  // resolve gatewayDns.name through their own /etc/hosts (see collectorService).
  const dnsPort = gateway && gatewayDns ? await freePort() : undefined;
  if (gateway) {
    for (let i = 0; i < gatewayCount; i++) {
      const host = dnsPort ? `127.0.0.${i + 1}` : LOOPBACK;
      const gp = {};
      for (const [key, spec] of Object.entries(GATEWAY_PORTS)) gp[key] = freePorts ? await freePort() : spec.local + TIER.step * i;
      if (dnsPort) gp.otlpGrpc = dnsPort;
      const gw = collectorService(
        `gateway-${i + 1}`,
        {
          ...Object.fromEntries(Object.entries(GATEWAY_PORTS).map(([key, spec]) => [spec.env, String(gp[key])])),
          [COLLECTOR_HOST_ENV]: host,
          [ROLE_ENV]: 'gateway',
          [STORAGE_DIR_ENV]: path.join(stateDir, `gateway-${i + 1}-storage`),
          ...gatewayEnv,
        },
        `http://${host}:${gp.health}/`,
        path.join(logDir, `gateway-${i + 1}.log`),
      );
      gateways.push({
        ...gw,
        urls: {
          otlpGrpcEndpoint: `${host}:${gp.otlpGrpc}`,
          healthUrl: `http://${host}:${gp.health}/`,
          metricsUrl: `http://${host}:${gp.metrics}/metrics`,
        },
      });
    }
  }
  const endpoints = gateways.map((g) => g.urls.otlpGrpcEndpoint).join(',');
  const hostsFile = dnsPort ? (gatewayDns.hostsFile ?? path.join(stateDir, 'gateway-hosts')) : undefined;
  if (hostsFile)
    writeHosts(
      hostsFile,
      gatewayDns.name,
      gateways.map((g) => g.urls.otlpGrpcEndpoint.split(':')[0]),
    );
  for (let i = 0; i < sidecarCount; i++) {
    const own = {};
    for (const [name, spec] of Object.entries(PORTS)) {
      if (spec.service !== 'collector') continue;
      own[name] = i === 0 ? ports[name] : freePorts ? await freePort() : ports[name] + TIER.step * i;
    }
    const sidecarEnv = Object.fromEntries(
      Object.entries(PORTS)
        .filter(([, spec]) => spec.service === 'collector')
        .map(([name, spec]) => [spec.env, String(own[name])]),
    );
    if (dnsPort) Object.assign(sidecarEnv, { [GATEWAY_DNS_ENV]: gatewayDns.name, [GATEWAY_PORT_ENV]: String(dnsPort) });
    else if (gateway) sidecarEnv[GATEWAY_ENDPOINTS_ENV] = endpoints;
    const sc = collectorService(
      gateway ? `sidecar-${i + 1}` : 'collector',
      { ...sidecarEnv, ...collectorEnv },
      `http://${LOOPBACK}:${own.collectorHealth}/`,
      path.join(logDir, gateway ? `sidecar-${i + 1}.log` : 'collector.log'),
      hostsFile,
    );
    sidecars.push({
      ...sc,
      urls: {
        otlpHttpUrl: `http://${LOOPBACK}:${own.otlpHttp}`,
        otlpGrpcUrl: `http://${LOOPBACK}:${own.otlpGrpc}`,
        collectorHealthUrl: `http://${LOOPBACK}:${own.collectorHealth}/`,
        collectorMetricsUrl: `http://${LOOPBACK}:${own.collectorMetrics}/metrics`,
        spanMetricsUrl: `http://${LOOPBACK}:${own.spanMetrics}/metrics`,
      },
    });
  }

  try {
    await jaeger.start();
    // Gateways before the sidecars that route to them.
    for (const g of gateways) await g.service.start();
    for (const s of sidecars) await s.service.start();
  } catch (err) {
    await owned.stop();
    throw err;
  }

  const first = sidecars[0];
  const newRelicKey = first.handle.env().NEW_RELIC_LICENSE_KEY ?? gateways[0]?.handle.env().NEW_RELIC_LICENSE_KEY;
  return {
    ...urls,
    ...first.urls,
    ports,
    logDir,
    storageDir,
    jaegerDataDir,
    jaegerStorage,
    binaries: bins,
    newRelic: Boolean(newRelicKey),
    newRelicEndpoint: first.handle.env().NEW_RELIC_OTLP_ENDPOINT ?? 'https://otlp.nr-data.net',
    collector: {
      get pid() {
        return first.handle.pid;
      },
      logFile: first.handle.logFile,
    },
    jaeger: {
      get pid() {
        return jaeger.child?.pid;
      },
      logFile: jaeger.logFile,
    },
    gatewayDns: hostsFile ? { name: gatewayDns.name, port: dnsPort, hostsFile } : undefined,
    // Object.assign keeps the handles' pid getters live across restarts.
    sidecars: sidecars.map((s) => Object.assign(s.handle, s.urls)),
    gateways: gateways.map((g) => Object.assign(g.handle, g.urls)),
    restartCollector: (opts) => first.handle.restart(opts),
    stopCollector: (signal = 'SIGTERM') => first.handle.stop(signal),
    startCollector: () => first.handle.start(),
    collectorRunning: () => first.handle.running(),
    /** The collector's log so far (for failure messages). */
    collectorLog: () => first.handle.log(),
    jaegerLog: () => readTail(jaeger.logFile),
    /** Stops Jaeger (SIGTERM, or the signal given) and starts it again with the same ports and data directory. */
    async restartJaeger({ signal = 'SIGTERM' } = {}) {
      await jaeger.stop(signal);
      await jaeger.start();
    },
    stop: () => owned.stop(),
  };
}

/**
 * The hosts file a DNS-mode sidecar resolves with: the machine's /etc/hosts and `name` at each address.
 * Written in place, never renamed over: the bind mount follows the inode.
 */
export function writeHosts(file, name, addresses) {
  const machine = fs
    .readFileSync('/etc/hosts', 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.split(/\s+/).slice(1).includes(name));
  fs.writeFileSync(file, [...machine, ...addresses.map((a) => `${a} ${name}`), ''].join('\n'));
}

function numberOr(v, fallback) {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback;
}

function lines(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => buf && onLine(buf));
}

function readTail(file, max = 20_000) {
  try {
    const s = fs.readFileSync(file, 'utf8');
    return s.length > max ? s.slice(-max) : s;
  } catch {
    return '';
  }
}

/** One long-running child: its log file, its health URL, start/stop. */
class Service {
  constructor({ name, command, args, env, logFile, healthUrl, owned, log, relay = () => false }) {
    Object.assign(this, { name, command, args, env, logFile, healthUrl, owned, log, relay });
    this.child = undefined;
    this.exited = undefined;
  }

  running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start() {
    const out = fs.createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(this.command, this.args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => resolve({ code: null, signal: null, error: err }));
    });
    this.owned.add(this);
    for (const stream of [child.stdout, child.stderr]) {
      stream.pipe(out, { end: false });
    }
    lines(child.stderr, (line) => this.relay(line) && this.log(line));
    this.exited.then(() => out.end());
    await this.waitHealthy();
  }

  async waitHealthy() {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    for (;;) {
      if (!this.running()) {
        const how = await this.exited;
        const logLines = readTail(this.logFile, 8_000).trim().split('\n');
        // The collector and Jaeger end a failed start with one "Error: …" line: that is the reason.
        const reason = logLines.findLast((l) => l.startsWith('Error: ')) ?? logLines.slice(-8).join('\n');
        throw new Error(
          `${this.name} exited during startup (${how.error?.message ?? `code ${how.code}, signal ${how.signal}`}): ${reason} (log: ${this.logFile})`,
        );
      }
      try {
        const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.name} not healthy at ${this.healthUrl} after ${HEALTH_TIMEOUT_MS / 1000} s; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(signal = 'SIGTERM') {
    if (!this.running()) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

/** The children of one stack, cleaned up however this process ends. */
class OwnedProcesses {
  constructor(tempDir) {
    this.tempDir = tempDir;
    this.services = [];
    this.watchdog = undefined;
    this.stopping = undefined;
    this.onExit = () => this.killNow();
    this.onSignal = (signal) => {
      // Whoever else handles the signal owns the shutdown (and calls stop()); 'exit' is the fallback.
      if (process.listenerCount(signal) > 0) return;
      this.killNow();
      process.kill(process.pid, signal);
    };
    process.once('exit', this.onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(s, this.onSignal);
  }

  add(service) {
    if (!this.services.includes(service)) this.services.push(service);
    this.armWatchdog();
  }

  /** A shell loop that outlives a SIGKILLed parent just long enough to stop our children. */
  armWatchdog() {
    this.watchdog?.kill('SIGKILL');
    const pids = this.services
      .map((s) => s.child?.pid)
      .filter(Boolean)
      .join(' ');
    const rm = this.tempDir ? `; rm -rf '${this.tempDir}'` : '';
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${pids} 2>/dev/null; sleep 5; kill -9 ${pids} 2>/dev/null${rm}`;
    this.watchdog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
    this.watchdog.unref();
  }

  /** Synchronous (runs in 'exit'): SIGTERM lets the collector persist its queue; the watchdog finishes the job. */
  killNow() {
    this.detach();
    for (const s of this.services) if (s.running()) s.child.kill('SIGTERM');
  }

  detach() {
    process.off('exit', this.onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(s, this.onSignal);
  }

  stop() {
    this.stopping ??= (async () => {
      this.detach();
      // The collector first, so it can still hand its last batch to Jaeger.
      for (const s of [...this.services].reverse()) await s.stop();
      this.watchdog?.kill('SIGKILL');
      if (this.tempDir) fs.rmSync(this.tempDir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}
