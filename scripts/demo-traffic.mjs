#!/usr/bin/env node
// The demo app's reference traffic mix (the workload for the noise
// measurement, the benchmarks and `npm run demo`). One round is a fixed list
// of requests, so the counts per route are exactly rounds × ROUND; with the
// default pacing of one round per second it also yields one health check per
// second. Each round creates its own project and invalidates its owner's cache
// entry, so every round hits the same cache misses and hits: the spans per
// round do not depend on what earlier rounds left in Redis.
import { pathToFileURL } from 'node:url';

/** Requests per round, by route template (what a server span's http.route should say). */
export const ROUND = Object.freeze({
  'POST /jobs/reindex': 1, // background job (runs after the response, outside the request)
  'GET /up': 1, // health check
  'GET /': 1, // page view
  'GET /assets/app.css': 1, // static
  'GET /favicon.ico': 1, // static
  'GET /users': 1, // API, database
  'POST /projects': 1, // API, database transaction + cache invalidation
  'GET /users/:id': 2, // cache miss (database) then hit
  'GET /projects/:id': 2, // cache miss then hit, each with an outgoing call to the preview service
  'GET /projects/:id/previews': 1, // API, database
  'GET /no-such-page': 1, // 404
  'GET /boom': 1, // 500, thrown error
});

const USERS = 10; // seeded by examples/demo/schema.sql

/**
 * @param {{ baseUrl: string, rounds?: number, durationMs?: number, intervalMs?: number, signal?: AbortSignal }} options
 *   rounds: stop after this many rounds; durationMs: stop starting rounds after this long (at least one round);
 *   neither: run until `signal` aborts. intervalMs: a round starts every intervalMs (default 1000; 0 = back to back).
 * @returns {Promise<{ rounds: number, requests: number, byRoute: Record<string, number>, unexpected: string[] }>}
 */
export async function runTraffic({ baseUrl, rounds, durationMs, intervalMs = 1000, signal }) {
  const base = baseUrl.replace(/\/$/, '');
  const byRoute = Object.fromEntries(Object.keys(ROUND).map((k) => [k, 0]));
  const unexpected = [];
  const started = Date.now();
  let done = 0;

  async function call(routeKey, method, path, expected, body) {
    if (signal?.aborted) throw signal.reason;
    const response = await fetch(base + path, {
      method,
      headers: { 'user-agent': 'sidetrace-demo-traffic', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal,
    });
    const text = await response.text();
    byRoute[routeKey]++;
    if (response.status !== expected) unexpected.push(`${method} ${path}: expected ${expected}, got ${response.status} ${text.slice(0, 200)}`);
    return response.headers.get('content-type')?.includes('json') && text ? JSON.parse(text) : text;
  }

  async function round(n) {
    const ownerId = 1 + (n % USERS);
    await call('POST /jobs/reindex', 'POST', '/jobs/reindex', 202);
    await call('GET /up', 'GET', '/up', 200);
    await call('GET /', 'GET', '/', 200);
    await call('GET /assets/app.css', 'GET', '/assets/app.css', 200);
    await call('GET /favicon.ico', 'GET', '/favicon.ico', 200);
    await call('GET /users', 'GET', '/users', 200);
    const project = await call('POST /projects', 'POST', '/projects', 201, { name: `Traffic project ${n + 1}`, ownerId });
    await call('GET /users/:id', 'GET', `/users/${ownerId}`, 200);
    await call('GET /users/:id', 'GET', `/users/${ownerId}`, 200);
    const projectId = project?.id ?? 1;
    await call('GET /projects/:id', 'GET', `/projects/${projectId}`, 200);
    await call('GET /projects/:id', 'GET', `/projects/${projectId}`, 200);
    await call('GET /projects/:id/previews', 'GET', `/projects/${projectId}/previews`, 200);
    await call('GET /no-such-page', 'GET', '/no-such-page', 404);
    await call('GET /boom', 'GET', '/boom', 500);
  }

  try {
    for (;;) {
      const roundStart = Date.now();
      await round(done);
      done++;
      if (rounds !== undefined && done >= rounds) break;
      if (durationMs !== undefined && Date.now() - started >= durationMs) break;
      const wait = intervalMs - (Date.now() - roundStart);
      if (wait > 0) await sleep(wait, signal);
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
  const requests = Object.values(byRoute).reduce((a, b) => a + b, 0);
  return { rounds: done, requests, byRoute, unexpected };
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function parseArgs(argv) {
  const usage = 'usage: node scripts/demo-traffic.mjs [--rounds N | --duration-ms N] [--interval-ms N] [BASE_URL]';
  const options = { baseUrl: 'http://127.0.0.1:3000' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const numeric = { '--rounds': 'rounds', '--duration-ms': 'durationMs', '--interval-ms': 'intervalMs' }[arg];
    if (numeric) {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 0) throw new Error(`${arg} needs a non-negative integer, got ${argv[i]}\n${usage}`);
      options[numeric] = value;
    } else if (/^https?:\/\//.test(arg)) {
      options.baseUrl = arg;
    } else {
      throw new Error(`unknown argument ${arg}\n${usage}`);
    }
  }
  if (options.rounds === undefined && options.durationMs === undefined) options.rounds = 1;
  return options;
}

// No top-level await: tests load this module through require(esm).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  Promise.resolve()
    .then(() => runTraffic(parseArgs(process.argv.slice(2))))
    .then(
      (result) => {
        console.log(JSON.stringify(result, null, 2));
        process.exitCode = result.unexpected.length ? 1 : 0;
      },
      (err) => {
        console.error(`demo-traffic: ${err.message}`);
        process.exitCode = 1;
      },
    );
}
