// Local PostgreSQL and Redis for the demo and the tests: uses DATABASE_URL /
// REDIS_URL when set, else starts the installed binaries in a fresh temporary
// directory on free loopback ports and tears them down on stop(), on exit,
// on SIGINT/SIGTERM/SIGHUP, and (through a tiny shell watchdog) even when
// the parent is killed outright.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.mjs';

const INSTALL_HINT = 'install it with `apt-get install -y postgresql redis-server`';
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * @param {{ postgres?: boolean, redis?: boolean, env?: NodeJS.ProcessEnv, log?: (line: string) => void }} [options]
 * @returns {Promise<{ databaseUrl?: string, redisUrl?: string, stop(): Promise<void> }>}
 */
export async function startServices(options = {}) {
  const { postgres = true, redis = true, env = process.env, log = () => {} } = options;
  const wantPostgres = postgres && !env.DATABASE_URL;
  const wantRedis = redis && !env.REDIS_URL;
  // Fail before starting anything when a binary is missing.
  const pgBin = wantPostgres ? findPostgres() : undefined;
  const redisBin = wantRedis ? findOnPath('redis-server') : undefined;
  if (wantRedis && !redisBin) {
    throw new Error(`redis-server not found on PATH (needed because REDIS_URL is not set): ${INSTALL_HINT}`);
  }

  const owned = new OwnedProcesses();
  try {
    const result = { databaseUrl: postgres ? env.DATABASE_URL : undefined, redisUrl: redis ? env.REDIS_URL : undefined };
    if (wantPostgres || wantRedis) owned.makeTempDir();
    // Start both at once: initdb is the slow part (~1 s).
    const [databaseUrl, redisUrl] = await Promise.all([
      wantPostgres ? startPostgres(pgBin, owned, log) : result.databaseUrl,
      wantRedis ? startRedis(redisBin, owned, log) : result.redisUrl,
    ]);
    return { databaseUrl, redisUrl, stop: () => owned.stop() };
  } catch (err) {
    await owned.stop();
    throw err;
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function findPostgres() {
  const initdb = findOnPath('initdb');
  const postgres = findOnPath('postgres');
  if (initdb && postgres) return { initdb, postgres };
  // Debian keeps the server binaries off PATH, one directory per major version.
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'postgres'))) {
      return { initdb: path.join(bin, 'initdb'), postgres: path.join(bin, 'postgres') };
    }
  }
  throw new Error(`PostgreSQL not found (initdb/postgres on PATH or in ${root}/*/bin; needed because DATABASE_URL is not set): ${INSTALL_HINT}`);
}

/** PostgreSQL refuses to run as root: use the Debian `postgres` user, else create an unprivileged one. */
function unprivilegedUser() {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'sidetrace-pg']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (uid.status === 0) {
      const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
      return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    }
  }
  const created = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'sidetrace-pg'], {
    encoding: 'utf8',
  });
  if (created.status !== 0) {
    throw new Error(`running as root and no \`postgres\` user exists; creating user sidetrace-pg failed: ${created.stderr.trim()}`);
  }
  return unprivilegedUser();
}

async function startPostgres(bin, owned, log) {
  const user = unprivilegedUser();
  const dir = path.join(owned.dir, 'postgres');
  fs.mkdirSync(dir);
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  if (user) {
    fs.chownSync(owned.dir, user.uid, user.gid);
    fs.chownSync(dir, user.uid, user.gid);
  }
  const data = path.join(dir, 'data');
  const init = await run(bin.initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], { ...ids, cwd: dir });
  if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}): ${lastLine(init.output)}`);

  // A free port can be taken between probing and binding: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = owned.spawn(
      bin.postgres,
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        // Throwaway data: durability buys nothing here and costs test time.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...ids, cwd: dir },
      'SIGINT', // fast shutdown: does not wait for clients to disconnect
    );
    try {
      await waitForLine(child, /database system is ready to accept connections/, 'postgres');
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      log(`postgres ready at ${url} (data in ${data})`);
      return url;
    } catch (err) {
      if (attempt < 3 && /Address already in use/.test(err.message)) continue;
      throw err;
    }
  }
}

async function startRedis(bin, owned, log) {
  const dir = path.join(owned.dir, 'redis');
  fs.mkdirSync(dir);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = owned.spawn(
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { cwd: dir },
      'SIGTERM',
    );
    try {
      await waitForLine(child, /Ready to accept connections/, 'redis-server');
      const url = `redis://127.0.0.1:${port}`;
      log(`redis ready at ${url}`);
      return url;
    } catch (err) {
      if (attempt < 3 && /Address already in use/.test(err.message)) continue;
      throw err;
    }
  }
}

function lastLine(text) {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] || '(no output)';
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Resolves when the child prints a line matching `ready`; rejects with its last output line if it exits first. */
function waitForLine(child, ready, name) {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => done(new Error(`${name} did not become ready in ${READY_TIMEOUT_MS} ms: ${lastLine(output)}`)), READY_TIMEOUT_MS);
    const onData = (d) => {
      output += d;
      if (output.length > 64_000) output = output.slice(-32_000);
      if (ready.test(output)) done();
    };
    const onExit = (code, signal) => done(new Error(`${name} exited (${signal || code}) before it was ready: ${lastLine(output)}`));
    function done(err) {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      child.off('exit', onExit);
      // Keep draining so a chatty server never blocks on a full pipe.
      child.stdout.resume();
      child.stderr.resume();
      if (err) reject(err);
      else resolve();
    }
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', onExit);
    child.once('error', (err) => done(new Error(`${name} could not be started: ${err.message}`)));
  });
}

/** The processes and temp dir one startServices() call owns, and every path that cleans them up. */
class OwnedProcesses {
  children = [];
  dir = undefined;
  watchdog = undefined;
  stopping = undefined;

  constructor() {
    this.onExit = () => this.killNow();
    this.onSignal = (signal) => {
      // Whoever else handles the signal owns the shutdown (and calls stop()); the 'exit' hook is the fallback.
      if (process.listenerCount(signal) > 0) return;
      this.killNow();
      process.kill(process.pid, signal); // keep the signal's default meaning: exit
    };
    process.once('exit', this.onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(s, this.onSignal);
  }

  makeTempDir() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-services-'));
  }

  spawn(cmd, args, opts, stopSignal) {
    // Own process group: a terminal's Ctrl-C reaches only our owner, which stops
    // its clients first and then us (stop()), instead of everything at once.
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    // A spawn failure emits 'error' and never 'exit'.
    const exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', resolve);
    });
    this.children.push({ child, stopSignal, exited });
    this.armWatchdog();
    return child;
  }

  /** A shell loop that outlives a SIGKILLed parent just long enough to kill our servers and remove the temp dir. */
  armWatchdog() {
    this.watchdog?.kill('SIGKILL');
    const pids = this.children
      .map((c) => c.child.pid)
      .filter(Boolean)
      .join(' ');
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pids} 2>/dev/null; rm -rf '${this.dir}'`;
    this.watchdog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
    this.watchdog.unref();
  }

  /** Synchronous (runs in 'exit'); the watchdog, left running, removes whatever a dying server still held. */
  killNow() {
    this.detach();
    for (const { child } of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    try {
      if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // a server was still writing; the watchdog retries after we exit
    }
  }

  detach() {
    process.off('exit', this.onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(s, this.onSignal);
  }

  stop() {
    this.stopping ??= (async () => {
      this.detach();
      this.watchdog?.kill('SIGKILL');
      await Promise.all(
        this.children.map(async ({ child, stopSignal, exited }) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill(stopSignal);
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
        }),
      );
      if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}
