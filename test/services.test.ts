// scripts/services-lib.mjs: the real PostgreSQL and Redis binaries, started in
// a temporary directory, reachable through the real clients, and gone after
// stop() — or after the owning process is killed outright.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { startServices } from '../scripts/services-lib.mjs';

const LIB = path.join(__dirname, '..', 'scripts', 'services-lib.mjs');

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The temp dirs of the PostgreSQL servers a process started (from the postmaster's `-D DIR/postgres/data`). */
function tempDirsOf(pid: number): string[] {
  const dirs: string[] = [];
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const data = args[args.indexOf('-D') + 1];
      if (args[0].endsWith('/postgres') && data) dirs.push(path.dirname(path.dirname(data)));
    } catch {
      // the process exited while we looked
    }
  }
  return dirs;
}

test('starts a real PostgreSQL and Redis on loopback and removes them on stop()', async () => {
  const services = await startServices({ env: {} });
  let stopped = false;
  try {
    assert.match(services.databaseUrl!, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    assert.match(services.redisUrl!, /^redis:\/\/127\.0\.0\.1:\d+$/);
    const dirs = tempDirsOf(process.pid);
    assert.equal(dirs.length, 1, 'postgres runs in a temp dir');
    assert.ok(fs.existsSync(path.join(dirs[0], 'redis')), 'redis runs in the same temp dir');

    const pg = new Client({ connectionString: services.databaseUrl });
    await pg.connect();
    const { rows } = await pg.query('SELECT current_user AS who, version() AS version');
    await pg.end();
    assert.equal(rows[0].who, 'postgres');
    assert.match(rows[0].version, /^PostgreSQL \d+/);

    const redis = new Redis(services.redisUrl!);
    await redis.set('k', 'v');
    assert.equal(await redis.get('k'), 'v');
    redis.disconnect();

    await services.stop();
    stopped = true;
    assert.equal(await accepts(portOf(services.databaseUrl!)), false, 'postgres port closed');
    assert.equal(await accepts(portOf(services.redisUrl!)), false, 'redis port closed');
    for (const dir of dirs) assert.equal(fs.existsSync(dir), false, `${dir} removed`);
  } finally {
    if (!stopped) await services.stop();
  }
});

test('uses DATABASE_URL and REDIS_URL when set and starts nothing', async () => {
  const env = { DATABASE_URL: 'postgres://app@db.internal:5432/app', REDIS_URL: 'redis://cache.internal:6379' };
  const services = await startServices({ env });
  assert.equal(services.databaseUrl, env.DATABASE_URL);
  assert.equal(services.redisUrl, env.REDIS_URL);
  assert.deepEqual(tempDirsOf(process.pid), []);
  await services.stop();
});

test('a missing binary fails with one line saying what to install', () => {
  // PATH without redis-server (and the postgres symlinks): node and the shell tools only.
  const bin = fs.mkdtempSync(path.join('/tmp', 'sidetrace-nopath-'));
  try {
    for (const tool of ['sh', 'id']) fs.symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, tool));
    const result = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import { startServices } from ${JSON.stringify(LIB)}; await startServices({ env: {} });`],
      { env: { PATH: bin }, encoding: 'utf8' },
    );
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /redis-server not found on PATH .*apt-get install -y postgresql redis-server/);
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});

test('servers and temp dir are removed when the owning process is killed with SIGKILL', async () => {
  const owner = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { startServices } from ${JSON.stringify(LIB)};
       const s = await startServices({ env: {} });
       console.log(JSON.stringify(s));
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const urls = await new Promise<{ databaseUrl: string; redisUrl: string }>((resolve, reject) => {
      let out = '';
      owner.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      owner.once('exit', (code) => reject(new Error(`owner exited ${code}`)));
    });
    const dirs = tempDirsOf(owner.pid!);
    assert.equal(dirs.length, 1);
    owner.kill('SIGKILL');
    // The watchdog polls once a second.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await accepts(portOf(urls.redisUrl))) || dirs.some((d) => fs.existsSync(d)))) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await accepts(portOf(urls.databaseUrl)), false, 'postgres gone');
    assert.equal(await accepts(portOf(urls.redisUrl)), false, 'redis gone');
    for (const dir of dirs) assert.equal(fs.existsSync(dir), false, `${dir} removed`);
  } finally {
    owner.kill('SIGKILL');
  }
});
