// Runs the wrapped command as a child that owns the terminal: stdin, stdout
// and stderr are the CLI's own file descriptors (nothing is read, copied or
// buffered), signals sent to the CLI are passed on, and the exit status comes
// back the way a shell reports it (a signal N becomes 128+N).
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { isatty } from 'node:tty';

export interface ChildOutcome {
  /** The status the CLI should exit with. */
  exitCode: number;
  /** The child's own exit code, when it exited by itself. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why the command could not be started at all. */
  startError?: string;
}

// SIGINT and SIGQUIT typed at a terminal already reach the whole foreground
// process group, child included; passing them on again would deliver them
// twice (a second Ctrl-C often means "skip the cleanup"). Without a terminal
// they can only have been sent to the CLI alone, so they are passed on.
const ALWAYS_FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR2'];
const TERMINAL_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

export function runCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const fromTerminal = isatty(0);
    const forwarded = fromTerminal ? ALWAYS_FORWARDED : [...ALWAYS_FORWARDED, ...TERMINAL_SIGNALS];
    // The handlers go in before the child starts: a signal sent the moment the
    // child is up (it may already be talking) must not find the CLI with the
    // default action, which would kill it and orphan the child. They run on
    // the event loop, so never before this block has assigned `child`.
    let child: ChildProcess;
    const forward = (signal: NodeJS.Signals) => {
      try {
        child.kill(signal);
      } catch {
        // the child is already gone; its exit is on its way
      }
    };
    // With a terminal, the CLI still must not die of SIGINT/SIGQUIT itself:
    // it waits for the child and reports how the child ended.
    const ignore = () => {};
    for (const s of forwarded) process.on(s, forward);
    if (fromTerminal) for (const s of TERMINAL_SIGNALS) process.on(s, ignore);
    let settled = false;
    const done = (outcome: ChildOutcome) => {
      if (settled) return;
      settled = true;
      for (const s of forwarded) process.removeListener(s, forward);
      if (fromTerminal) for (const s of TERMINAL_SIGNALS) process.removeListener(s, ignore);
      resolve(outcome);
    };
    child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
    child.once('error', (err: NodeJS.ErrnoException) => {
      // spawn failed (the command does not exist, or is not executable): the shell's 127 and 126.
      const exitCode = err.code === 'ENOENT' ? 127 : 126;
      const why = err.code === 'ENOENT' ? 'command not found' : err.code === 'EACCES' ? 'permission denied' : err.message;
      done({ exitCode, code: null, signal: null, startError: `${argv[0]}: ${why}` });
    });
    child.once('exit', (code, signal) => {
      if (signal) done({ exitCode: signalExitCode(signal), code: null, signal });
      else done({ exitCode: code ?? 1, code, signal: null });
    });
  });
}
