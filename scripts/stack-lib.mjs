// The local tracing stack: the real OpenTelemetry Collector (otelcol-sidetrace,
// built by scripts/stack-build.sh) and the real Jaeger v2, on loopback, with
// the same config files compose uses (collector/*.yaml). Used by
// `npm run stack`, `npm run demo` and the tests.
//
// startStack() builds the binaries when missing, starts Jaeger then the
// collector, waits for both health endpoints, and returns their URLs and a
// stop(). Children are stopped on stop(), on process exit, on SIGINT/SIGTERM/
// SIGHUP when nobody else handles them, and (through a small shell watchdog)
// even when this process is killed outright.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const COLLECTOR_DIR = path.join(REPO_ROOT, 'collector');
export const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'stack-build.sh');

/** The collector's config files: the base, the New Relic overlay (only with a license key), the debug overlay. */
export const COLLECTOR_CONFIG_FILES = ['otel-collector.yaml', 'newrelic.yaml', 'debug.yaml'];
export const COLLECTOR_ENTRYPOINT = 'entrypoint.sh';
export const JAEGER_CONFIG_FILE = 'jaeger.yaml';

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

/** Variables the stack runner sets itself (besides the ports). */
export const COLLECTOR_HOST_ENV = 'SIDETRACE_COLLECTOR_HOST';
export const JAEGER_HOST_ENV = 'SIDETRACE_JAEGER_HOST';
export const JAEGER_ENDPOINT_ENV = 'SIDETRACE_JAEGER_OTLP_ENDPOINT';
export const STORAGE_DIR_ENV = 'SIDETRACE_COLLECTOR_STORAGE_DIR';
/** Passed through from the caller's environment to the collector. */
export const NEW_RELIC_ENV = ['NEW_RELIC_LICENSE_KEY', 'NEW_RELIC_OTLP_ENDPOINT'];
/** Prefixes of the caller's variables passed to the collector and Jaeger as overrides (memory limits, queue size…). */
const PASSED_PREFIXES = ['SIDETRACE_COLLECTOR_', 'SIDETRACE_SPANMETRICS_', 'SIDETRACE_NEW_RELIC_', 'SIDETRACE_JAEGER_'];
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

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @param {import('./stack-lib.d.mts').StartStackOptions} [options]
 * @returns {Promise<import('./stack-lib.d.mts').Stack>}
 */
export async function startStack(options = {}) {
  const { env = process.env, log = () => {}, freePorts = false, collectorEnv = {}, jaegerEnv = {} } = options;
  const bins = await ensureBinaries({ log });

  const ports = {};
  for (const [name, spec] of Object.entries(PORTS)) {
    const given = options.ports?.[name] ?? (freePorts ? undefined : numberOr(env[spec.env], spec.default));
    ports[name] = given ?? (await freePort());
  }

  // Default (the developer's stack): state and logs under .stack/, kept across runs so the
  // New Relic queue survives a restart. Free ports (tests): a temp dir removed on stop().
  const tempDir = freePorts && !(options.storageDir && options.logDir) ? fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-stack-')) : undefined;
  const stateDir = tempDir ?? path.join(REPO_ROOT, '.stack');
  const storageDir = options.storageDir ?? path.join(stateDir, 'collector-storage');
  const logDir = options.logDir ?? path.join(stateDir, 'logs');
  fs.mkdirSync(storageDir, { recursive: true });
  fs.mkdirSync(logDir, { recursive: true });

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

  const urls = {
    jaegerUrl: `http://${LOOPBACK}:${ports.jaegerQueryHttp}`,
    jaegerThriftUrl: `http://${LOOPBACK}:${ports.jaegerThriftHttp}/api/traces`,
    jaegerOtlpHttpUrl: `http://${LOOPBACK}:${ports.jaegerOtlpHttp}`,
    jaegerHealthUrl: `http://${LOOPBACK}:${ports.jaegerHealth}/status`,
    jaegerMetricsUrl: `http://${LOOPBACK}:${ports.jaegerMetrics}/metrics`,
    otlpHttpUrl: `http://${LOOPBACK}:${ports.otlpHttp}`,
    otlpGrpcUrl: `http://${LOOPBACK}:${ports.otlpGrpc}`,
    collectorHealthUrl: `http://${LOOPBACK}:${ports.collectorHealth}/`,
    collectorMetricsUrl: `http://${LOOPBACK}:${ports.collectorMetrics}/metrics`,
    spanMetricsUrl: `http://${LOOPBACK}:${ports.spanMetrics}/metrics`,
  };

  const owned = new OwnedProcesses(tempDir);
  const jaeger = new Service({
    name: 'jaeger',
    command: bins.jaegerBin,
    args: ['--config', path.join(COLLECTOR_DIR, JAEGER_CONFIG_FILE)],
    env: { ...base, ...jaegerEnv },
    logFile: path.join(logDir, 'jaeger.log'),
    healthUrl: urls.jaegerHealthUrl,
    owned,
    log,
  });
  let collectorOverrides = { ...collectorEnv };
  const collectorEnvNow = () => ({
    ...base,
    OTELCOL_BIN: bins.otelcolBin,
    SIDETRACE_COLLECTOR_CONFIG_DIR: COLLECTOR_DIR,
    ...collectorOverrides,
  });
  const collector = new Service({
    name: 'collector',
    command: 'sh',
    args: [path.join(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT)],
    env: collectorEnvNow(),
    logFile: path.join(logDir, 'collector.log'),
    healthUrl: urls.collectorHealthUrl,
    owned,
    log,
    // The entrypoint's own lines (New Relic on/off) are for the user; the collector's log goes to the file.
    relay: (line) => line.startsWith('sidetrace collector:'),
  });

  try {
    await jaeger.start();
    await collector.start();
  } catch (err) {
    await owned.stop();
    throw err;
  }

  const newRelicKey = collectorEnvNow().NEW_RELIC_LICENSE_KEY;
  return {
    ...urls,
    ports,
    logDir,
    storageDir,
    binaries: bins,
    newRelic: Boolean(newRelicKey),
    newRelicEndpoint: collectorEnvNow().NEW_RELIC_OTLP_ENDPOINT ?? 'https://otlp.nr-data.net',
    collector: { get pid() { return collector.child?.pid; }, logFile: collector.logFile },
    jaeger: { get pid() { return jaeger.child?.pid; }, logFile: jaeger.logFile },
    /** Stops the collector (SIGTERM, or the signal given) and starts it again with the same ports and storage. */
    async restartCollector({ signal = 'SIGTERM', env: overrides } = {}) {
      await collector.stop(signal);
      if (overrides) collectorOverrides = { ...collectorOverrides, ...overrides };
      collector.env = collectorEnvNow();
      await collector.start();
    },
    stopCollector: (signal = 'SIGTERM') => collector.stop(signal),
    startCollector: () => collector.start(),
    collectorRunning: () => collector.running(),
    /** The collector's log so far (for failure messages). */
    collectorLog: () => readTail(collector.logFile),
    jaegerLog: () => readTail(jaeger.logFile),
    stop: () => owned.stop(),
  };
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
        throw new Error(`${this.name} exited during startup (${how.error?.message ?? `code ${how.code}, signal ${how.signal}`}): ${reason} (log: ${this.logFile})`);
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
    const pids = this.services.map((s) => s.child?.pid).filter(Boolean).join(' ');
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
