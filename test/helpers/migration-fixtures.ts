// Runs the migration fixtures (test/fixtures/migration/) as real child
// processes under the preload, exporting to a test's OTLP receiver, and
// follows the JSON lines they print.
import path from 'node:path';
import { after, before } from 'node:test';
import { FIXTURES, startApp, type RunningApp } from './app';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver';

export const MIGRATION_FIXTURES = path.join(FIXTURES, 'migration');

export interface FixtureProcess extends RunningApp {
  /** The JSON lines printed so far. */
  lines(): Record<string, any>[];
  /** Resolves with the first line matching, or rejects when the process exits first or time runs out. */
  waitForLine(predicate: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
}

export async function startFixture(script: string, env: Record<string, string | undefined>): Promise<FixtureProcess> {
  const app = await startApp({
    script: path.join(MIGRATION_FIXTURES, script),
    env: { OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: `migration-${path.basename(script, '.js')}`, ...env },
    waitListening: false,
  });
  let exited = false;
  void app.exited.then(() => (exited = true));
  const lines = () =>
    app
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  return {
    ...app,
    lines,
    async waitForLine(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines().find(predicate);
        if (found) return found;
        if (exited || Date.now() > deadline) {
          throw new Error(`${script}: no such line ${exited ? 'before it exited' : `within ${timeoutMs} ms`}; stdout: ${app.stdout()} stderr: ${app.stderr()}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** Waits for a fixture to exit by itself; kills it if it does not in time. */
export async function finished(p: FixtureProcess, timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One OTLP receiver for a test file and a `fixture()` that starts migration
 * fixtures exporting to it (plus `env()`'s variables); everything is stopped in `after`.
 */
export function useMigrationFixtures(env: () => Record<string, string | undefined> = () => ({})) {
  let receiver: OtlpReceiver | undefined;
  const started: FixtureProcess[] = [];
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await receiver?.close();
  });
  return {
    get rx(): OtlpReceiver {
      if (!receiver) throw new Error('the receiver starts in before()');
      return receiver;
    },
    async fixture(script: string, extra: Record<string, string | undefined>): Promise<FixtureProcess> {
      const p = await startFixture(script, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver!.url, ...env(), ...extra });
      started.push(p);
      return p;
    },
  };
}
