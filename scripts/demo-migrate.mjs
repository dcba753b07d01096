#!/usr/bin/env node
// `npm run demo:migrate`: the preview backfill migration (examples/migration)
// through the real stack. Starts Redis (unless REDIS_URL is set), the
// collector + Jaeger, two BullMQ workers and the producer as child processes
// under sidetrace's preload, waits for the run to end, then prints where to
// look in Jaeger and keeps the stack up until Ctrl-C (or DEMO_DURATION_MS).
// MIGRATION_RECORDS / MIGRATION_BATCH_SIZE (defaults 20000 / 1000) size it;
// DEMO_FREE_PORTS=1 runs the stack on free ports (tests, a machine where the
// default ports are taken).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopOnSignals } from './demo-lib.mjs';
import { startServices } from './services-lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PRELOAD = path.join(ROOT, 'dist', 'preload.js');
const EXAMPLE = path.join(ROOT, 'examples', 'migration');
const WORKERS = 2;
const QUEUE = 'preview-backfill';
const say = (line) => console.log(`demo:migrate: ${line}`);

/** A node child under the preload, in its own process group, its output prefixed. */
function startNode(name, script, env) {
  const child = spawn(process.execPath, ['--require', PRELOAD, script], {
    cwd: ROOT,
    env: { ...process.env, OTEL_BSP_SCHEDULE_DELAY: '500', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let buffered = '';
  const lines = [];
  const waiters = [];
  const onData = (d) => {
    buffered += d;
    let nl;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      console.log(`[${name}] ${line}`);
      lines.push(line);
      for (const w of waiters.splice(0)) w();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal });
    });
  });
  return {
    exited,
    lines,
    /** Resolves with the first output line matching `re` (null if the child exits first). */
    async waitFor(re) {
      for (;;) {
        const found = lines.find((l) => re.test(l));
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null) return null;
        await new Promise((r) => waiters.push(r));
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM'); // the worker finishes its jobs; the preload flushes its spans
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The stack from scripts/stack-lib.mjs when it is there, else OTEL_EXPORTER_OTLP_ENDPOINT as set. */
async function startTracingStack() {
  const lib = path.join(ROOT, 'scripts', 'stack-lib.mjs');
  if (!fs.existsSync(lib)) {
    say(
      `scripts/stack-lib.mjs not found: no local Jaeger; spans go to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'the default OTLP endpoint (http://localhost:4318)'}`,
    );
    return undefined;
  }
  const { startStack } = await import(lib);
  say('starting the OpenTelemetry Collector and Jaeger');
  return startStack({ log: say, freePorts: process.env.DEMO_FREE_PORTS === '1' });
}

/** `npx sidetrace …` with --jaeger when the stack is not on Jaeger's default port. */
function sidetraceCommand(jaegerUrl, args) {
  const jaeger = /^http:\/\/(localhost|127\.0\.0\.1):16686$/.test(jaegerUrl) ? '' : ` --jaeger ${jaegerUrl}`;
  return `npx sidetrace ${args}${jaeger}`;
}

function jaegerLinks(jaegerUrl, runId) {
  const tags = encodeURIComponent(JSON.stringify({ 'migration.run_id': runId }));
  return {
    run: `${jaegerUrl}/search?service=preview-backfill&tags=${tags}`,
    batches: `${jaegerUrl}/search?service=preview-backfill-worker&operation=${encodeURIComponent('migration.batch backfill-previews')}&tags=${tags}&limit=100`,
    errors: `${jaegerUrl}/search?service=preview-backfill-worker&tags=${encodeURIComponent(JSON.stringify({ 'migration.run_id': runId, error: 'true' }))}`,
  };
}

async function main() {
  if (!fs.existsSync(PRELOAD)) {
    console.error('demo:migrate: dist/preload.js is missing: run `npm run build` first');
    process.exit(1);
  }
  const stopRequested = stopOnSignals(say);
  const cleanups = []; // run in reverse order of start
  let exitCode = 0;
  try {
    const stack = await startTracingStack();
    if (stack) cleanups.push(() => stack.stop());
    say('starting Redis (set REDIS_URL to use your own)');
    const services = await startServices({ postgres: false, redis: true, log: say });
    cleanups.push(() => services.stop());

    const env = { REDIS_URL: services.redisUrl, MIGRATION_QUEUE: QUEUE };
    if (stack) env.OTEL_EXPORTER_OTLP_ENDPOINT = stack.otlpHttpUrl;
    const workers = [];
    for (let i = 1; i <= WORKERS; i++) {
      const w = startNode(`worker-${i}`, path.join(EXAMPLE, 'worker.js'), { ...env, OTEL_SERVICE_NAME: 'preview-backfill-worker' });
      workers.push(w);
      cleanups.push(() => w.stop());
    }
    for (const w of workers) if (!(await w.waitFor(/ready on queue/))) throw new Error('a worker exited before it was ready');

    const producer = startNode('producer', path.join(EXAMPLE, 'producer.js'), { ...env, OTEL_SERVICE_NAME: 'preview-backfill' });
    cleanups.push(() => producer.stop());
    stopRequested.signal.addEventListener('abort', () => void producer.stop());
    const started = await producer.waitFor(/^run \S+ \(attempt/);
    const ended = await producer.exited;
    if (ended.code !== 0) throw new Error(`the producer exited with ${ended.code ?? ended.signal}`);
    const runId = started?.split(' ')[1];
    for (const w of workers) await w.stop(); // flush the last batch spans now

    const wait = Number(process.env.DEMO_DURATION_MS);
    if (stack && runId) {
      const links = jaegerLinks(stack.jaegerUrl, runId);
      console.log(`
The migration ran: run id ${runId}
  the run (span "migration.run backfill-previews" and its start/progress/end markers):
    ${links.run}
  its batches, one trace each (open one: its link leads back to the run):
    ${links.batches}
  batches that failed (the injected flaky batch, before its retry):
    ${links.errors}
  In the Jaeger UI: service preview-backfill-worker, Tags: migration.run_id=${runId}
  In this terminal, the run's state (status, counts, failed and slowest batches):
    ${sidetraceCommand(stack.jaegerUrl, `migration ${runId}`)}
  and the batch that failed:
    ${sidetraceCommand(stack.jaegerUrl, `traces --service preview-backfill-worker --errors --tag migration.run_id=${runId}`)}
${Number.isFinite(wait) ? `Stopping after ${wait} ms (DEMO_DURATION_MS).` : 'Ctrl-C stops Jaeger, the collector and Redis.'}
`);
      await new Promise((resolve) => {
        stopRequested.signal.addEventListener('abort', resolve);
        if (Number.isFinite(wait)) setTimeout(resolve, wait).unref();
      });
    } else if (runId) {
      say(`run id ${runId}: search your backend for the tag migration.run_id=${runId}`);
    }
  } catch (err) {
    if (!stopRequested.signal.aborted) {
      console.error(`demo:migrate: ${err.message}`);
      exitCode = 1;
    }
  } finally {
    say('stopping');
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err) => {
        console.error(`demo:migrate: while stopping: ${err.message}`);
        exitCode = 1;
      });
    }
    say('stopped');
  }
  process.exit(exitCode);
}

main();
