// Flush on SIGTERM, SIGINT and beforeExit, within a bound. If the app has no
// handler of its own for the signal, exit the conventional way afterwards
// (re-raise the signal); if it has one, the exit is the app's to make.
import { log } from '../logging/log';

export function withTimeout(work: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    work.then(
      () => {
        clearTimeout(timer);
        resolve('done');
      },
      () => {
        clearTimeout(timer);
        resolve('done');
      },
    );
  });
}

export function installShutdownHooks(flush: () => Promise<unknown>, timeoutMs: number): () => void {
  let flushing: Promise<'done' | 'timeout'> | undefined;
  const bounded = () => (flushing ??= withTimeout(flush(), timeoutMs));

  const onSignal = (signal: NodeJS.Signals) => {
    const appHandlesIt = process.listenerCount(signal) > 1;
    if (flushing && !appHandlesIt) {
      // A second signal while flushing: the operator insists.
      remove();
      process.kill(process.pid, signal);
      return;
    }
    bounded().then((outcome) => {
      if (outcome === 'timeout') log.warn(`flush did not finish within ${timeoutMs} ms; exiting without it`);
      if (appHandlesIt) return;
      remove();
      process.kill(process.pid, signal);
    });
  };
  const onBeforeExit = () => {
    // The app's work is done; only ours is left. If the flush ran out of time,
    // an export request still in flight (up to the exporter's own timeout)
    // would keep the process alive: end it now, with the app's exit code.
    bounded().then((outcome) => {
      if (outcome === 'timeout') {
        log.warn(`flush did not finish within ${timeoutMs} ms; exiting without it`);
        process.exit();
      }
    });
  };

  const remove = () => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('beforeExit', onBeforeExit);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.once('beforeExit', onBeforeExit);
  return remove;
}
