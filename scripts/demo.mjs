#!/usr/bin/env node
// `npm run demo`: the collector + Jaeger stack, PostgreSQL and Redis (unless
// DATABASE_URL / REDIS_URL are set), the preview renderer and the demo app
// under sidetrace's preload, a round of reference traffic, then light traffic
// until Ctrl-C / SIGTERM (or DEMO_DURATION_MS), when everything stops in order:
// traffic, app (flushes its spans), collector + Jaeger, databases.
import { createRequire } from 'node:module';
import net from 'node:net';
import { startDemoApp, stopOnSignals } from './demo-lib.mjs';
import { runTraffic } from './demo-traffic.mjs';
import { startServices } from './services-lib.mjs';
import { startStack } from './stack-lib.mjs';

const LIGHT_TRAFFIC_INTERVAL_MS = 5_000;
const { JaegerClient } = createRequire(import.meta.url)('../dist/lib/cli/traces/jaeger.js');
const say = (line) => console.log(`demo: ${line}`);

function durationFromEnv() {
  const raw = process.env.DEMO_DURATION_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (Number.isInteger(ms) && ms >= 0) return ms;
  say(`DEMO_DURATION_MS=${raw} is not a non-negative integer; running until Ctrl-C instead`);
  return undefined;
}

/** DEMO_PORT, else 3000 when it is free (a stable URL to bookmark), else any free port. */
async function appPort() {
  const raw = process.env.DEMO_PORT;
  if (raw) {
    const port = Number(raw);
    if (Number.isInteger(port) && port >= 0 && port < 65536) return port;
    say(`DEMO_PORT=${raw} is not a port number; using 3000 or, if taken, any free port`);
  }
  const free = await new Promise((resolve) => {
    const probe = net.createServer().once('error', () => resolve(false));
    probe.listen(3000, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return free ? 3000 : 0;
}

/** `npx sidetrace …` with --jaeger when the stack is not on Jaeger's default port. */
function sidetraceCommand(jaegerUrl, args) {
  const jaeger = /^http:\/\/(localhost|127\.0\.0\.1):16686$/.test(jaegerUrl) ? '' : ` --jaeger ${jaegerUrl}`;
  return `npx sidetrace ${args}${jaeger}`;
}

/** The newest trace of a request the demo just sent (GET /projects/:id), once Jaeger has it; undefined after `ms`. */
async function exampleTraceId(jaegerUrl, signal, ms = 20_000) {
  const client = new JaegerClient(jaegerUrl, { timeoutMs: 2_000 });
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !signal.aborted) {
    const [trace] = await client
      .search({ service: 'sidetrace-demo', operation: 'GET /projects/:id', limit: 1, startMicros: (Date.now() - 600_000) * 1_000 })
      .catch(() => []);
    if (trace) return trace[0].traceId;
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

async function main() {
  const durationMs = durationFromEnv();
  const stopRequested = stopOnSignals(say);
  const checkpoint = () => {
    if (stopRequested.signal.aborted) throw new Error('stopped during startup');
  };
  if (durationMs !== undefined) setTimeout(() => stopRequested.abort(), durationMs).unref();

  const cleanups = []; // run in reverse order of start
  let exitCode = 0;
  try {
    say('starting the OpenTelemetry Collector and Jaeger');
    const stack = await startStack({ log: say });
    cleanups.push(() => stack.stop());
    checkpoint();

    say('starting PostgreSQL and Redis (set DATABASE_URL / REDIS_URL to use your own)');
    const services = await startServices({ log: say });
    cleanups.push(() => services.stop());
    checkpoint();

    say('starting the preview service and the demo app with --require ./dist/preload.js');
    const demo = await startDemoApp({
      databaseUrl: services.databaseUrl,
      redisUrl: services.redisUrl,
      port: await appPort(),
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: stack.otlpHttpUrl, OTEL_BSP_SCHEDULE_DELAY: '1000' },
      onOutput: (name, line) => console.log(`[${name}] ${line}`),
    });
    cleanups.push(() => demo.stop());

    const first = await runTraffic({ baseUrl: demo.appUrl, rounds: 1, intervalMs: 0, signal: stopRequested.signal });
    say(`sent ${first.requests} requests (health checks, pages, static files, API calls, a job, a 404 and a 500)`);
    for (const line of first.unexpected) say(`unexpected response: ${line}`);
    checkpoint();

    console.log(`
sidetrace demo is running
  demo app:   ${demo.appUrl}  (try ${demo.appUrl}/projects/1)
  traces:     ${stack.jaegerUrl}/search?service=sidetrace-demo  (Jaeger UI; spans appear within a few seconds)
  terminal:   ${sidetraceCommand(stack.jaegerUrl, 'traces --service sidetrace-demo')}  (the same traces in this terminal)
  collector:  ${stack.otlpHttpUrl}  (OTLP/HTTP)
Light traffic every ${LIGHT_TRAFFIC_INTERVAL_MS / 1000} s; ${durationMs === undefined ? 'Ctrl-C stops everything' : `stopping by itself after ${durationMs} ms (DEMO_DURATION_MS)`}.
`);
    exampleTraceId(stack.jaegerUrl, stopRequested.signal).then((id) => {
      if (id) say(`a request it just sent (GET /projects/:id), as a waterfall: ${sidetraceCommand(stack.jaegerUrl, `trace ${id}`)}`);
    });
    const light = await runTraffic({ baseUrl: demo.appUrl, intervalMs: LIGHT_TRAFFIC_INTERVAL_MS, signal: stopRequested.signal });
    for (const line of light.unexpected) say(`unexpected response: ${line}`);
  } catch (err) {
    if (!stopRequested.signal.aborted) {
      console.error(`demo: ${err.message}`);
      exitCode = 1;
    }
  } finally {
    say('stopping');
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err) => {
        console.error(`demo: while stopping: ${err.message}`);
        exitCode = 1;
      });
    }
    say('stopped');
  }
  process.exit(exitCode);
}

main();
