// Random and malformed values for every variable sidetrace reads. The list is
// taken from src/config/ itself (every VARIABLE_NAME string literal in it),
// so a variable added there is fuzzed without anyone updating this file.
// 1. readConfig, thousands of times, in a worker thread that is stopped (and
//    the test failed) if it ever hangs: never throws, every problem is one
//    line that starts with its variable, and what is used instead is usable.
// 2. The real app under the real preload with random environments: it always
//    starts and serves, every problem is printed as its line — except under
//    SIDETRACE_STRICT=true with a problem, where it exits 78 with those lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { startOtlpReceiver, OtlpReceiver } from './helpers/otlp-receiver';
import { FIXTURES, ROOT, get, startApp, RunningApp } from './helpers/app';

const CONFIG_SOURCE_DIR = path.join(ROOT, 'src', 'config');
const CONFIG_MODULE = path.join(ROOT, 'dist', 'lib', 'config', 'index.js');
const { readConfig } = require(CONFIG_MODULE) as typeof import('../src/config');

/** Every environment variable name src/config/ mentions as a string literal (OTEL_*, SIDETRACE_*, KAMAL_*, NODE_ENV, …). */
function variablesReadByConfig(): string[] {
  const source = fs
    .readdirSync(CONFIG_SOURCE_DIR)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => fs.readFileSync(path.join(CONFIG_SOURCE_DIR, f), 'utf8'))
    .join('\n');
  return [...new Set([...source.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)].map((m) => m[1]))].sort();
}
const NAMES = variablesReadByConfig();
const READ_CONFIG_RUNS = 10_000;
const APP_RUNS = 15;

describe('config fuzzing', () => {
  it('finds the variables in src/config/', () => {
    // Spot checks that the extraction works, not the list itself.
    for (const n of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_BSP_MAX_QUEUE_SIZE', 'SIDETRACE_STRICT', 'SIDETRACE_REDACT_QUERY_PARAMS', 'KAMAL_VERSION'])
      assert.ok(NAMES.includes(n), n);
    assert.ok(NAMES.length >= 40, `${NAMES.length} variables: ${NAMES.join(', ')}`);
    assert.deepEqual(readConfig({}).problems, [], 'an empty environment has no problems');
  });

  it(`readConfig on ${READ_CONFIG_RUNS} random environments: never throws or hangs, one line per problem naming its variable, usable fallbacks`, async (t) => {
    const worker = new Worker(path.join(FIXTURES, 'config-fuzz-worker.js'), {
      workerData: { configModule: CONFIG_MODULE, names: NAMES, numRuns: READ_CONFIG_RUNS },
    });
    const HANG_MS = 60_000; // thousands of runs take a few seconds; a minute means a run never returned
    const result = await new Promise<{ ok: boolean; runs: number; problemLines?: number; seed: number; error?: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`readConfig hung: the property did not finish in ${HANG_MS / 1000} s`));
      }, HANG_MS);
      worker.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    await worker.terminate();
    assert.ok(result.ok, `seed ${result.seed}: ${result.error}`);
    assert.equal(result.runs, READ_CONFIG_RUNS);
    t.diagnostic(`${result.runs} environments over ${NAMES.length} variables, ${result.problemLines} problem lines, seed ${result.seed}`);
  });

  describe(`the app under the preload with ${APP_RUNS} random environments`, () => {
    let rx: OtlpReceiver;
    const apps: RunningApp[] = [];
    before(async () => {
      rx = await startOtlpReceiver();
    });
    after(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await rx.close();
    });

    it('starts and serves every time; under SIDETRACE_STRICT=true with a problem, exits 78 with the problem lines', async (t) => {
      // Values a process environment can hold (no NUL), short enough to keep each start fast.
      const value = fc.oneof(
        fc.constantFrom(
          '',
          ' ',
          'true',
          'false',
          'yes',
          '0',
          '1',
          '-1',
          '1.5',
          'NaN',
          '99999999999999999999',
          'none',
          'all',
          'otlp',
          'console',
          'jaeger',
          'zipkin',
          'grpc',
          'http/json',
          'gzip',
          'always_off',
          'traceidratio',
          'b3,xray',
          'http://127.0.0.1:1',
          'ftp://h',
          'a=b,c',
          'k=%zz',
          'bad name=1',
          '+/a,relative',
          'http,teleport',
          'debug',
          'newrelic',
          '\n',
          'a\u2028b',
          'é,😀',
        ),
        fc.string({ maxLength: 20 }).map((s) => s.replace(/\0/g, '')),
      );
      let started = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(fc.constantFrom(...NAMES), value, { minKeys: 1, maxKeys: 6 }),
          fc.constantFrom(undefined, 'true'),
          async (random, strict) => {
            // Mostly pointed at the receiver, so that tracing is on and the exporter really runs.
            const env: Record<string, string> = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_BSP_SCHEDULE_DELAY: '100', ...random };
            if (strict) env.SIDETRACE_STRICT = strict;
            const { config, problems } = readConfig(env);
            const shown = ['warn', 'info', 'debug', 'verbose', 'all'].includes(config.logLevel);
            if (config.strict && problems.length) {
              refused++;
              const a = await startApp({ script: `${FIXTURES}/express-app.js`, env, waitListening: false });
              apps.push(a);
              const { code } = await a.exited;
              assert.equal(code, 78, `env ${JSON.stringify(env)}\nstderr: ${a.stderr()}`);
              assert.doesNotMatch(a.stdout(), /listening on/);
              for (const p of problems) {
                assert.ok(a.stderr().includes(p.variable), `the refusal names ${p.variable}: ${a.stderr()}`);
                if (config.logLevel !== 'none') assert.ok(a.stderr().split('\n').includes(`sidetrace: ${p.message}`), `line for ${p.variable}: ${a.stderr()}`);
              }
              return;
            }
            started++;
            const a = await startApp({ script: `${FIXTURES}/express-app.js`, env });
            apps.push(a);
            try {
              assert.equal((await get(`${a.url}/hello`)).status, 200);
              const lines = a.stderr().split('\n').filter(Boolean);
              if (shown) for (const p of problems) assert.ok(lines.includes(`sidetrace: ${p.message}`), `line for ${p.variable} in: ${a.stderr()}`);
              // Below debug, everything on stderr is sidetrace's, one line per message.
              if (!['debug', 'verbose', 'all'].includes(config.logLevel)) {
                assert.deepEqual(
                  lines.filter((l) => !l.startsWith('sidetrace: ')),
                  [],
                  `env ${JSON.stringify(env)}`,
                );
              }
            } finally {
              await a.stop();
            }
          },
        ),
        { numRuns: APP_RUNS, endOnFailure: true },
      );
      t.diagnostic(`${started} apps started and served, ${refused} refused under SIDETRACE_STRICT=true`);
    });
  });
});
