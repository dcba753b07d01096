// sidetrace's own log lines: one prefix, one line each, on stderr.
// OTEL_LOG_LEVEL decides what is shown; the SDK's internal diagnostics are
// only wired in at debug and below, because at warn they repeat every failed
// export (sidetrace reports an outage once instead).
import fs from 'node:fs';
import type { LogLevel } from '../config';

const RANK: Record<LogLevel, number> = { none: 0, error: 1, warn: 2, info: 3, debug: 4, verbose: 5, all: 6 };

let threshold = RANK.info;

export function setLogLevel(level: LogLevel): void {
  threshold = RANK[level];
}

function write(rank: number, line: string): void {
  if (rank > threshold) return;
  writeStderr(`sidetrace: ${line}\n`);
}

/**
 * One write on file descriptor 2: opening process.stderr constructs a tty or pipe
 * stream (1–3 ms on Node 20) that a process tracing nothing may never use. Falls
 * back to process.stderr for what the descriptor did not take (EAGAIN on a full
 * non-blocking pipe, a closed descriptor); never throws.
 */
function writeStderr(text: string): void {
  const bytes = Buffer.from(text);
  let written = 0;
  try {
    written = fs.writeSync(2, bytes);
  } catch {
    written = 0;
  }
  if (written >= bytes.length) return;
  try {
    process.stderr.write(bytes.subarray(written));
  } catch {
    // A closed stderr must never take the app down.
  }
}

export const log = {
  error: (line: string) => write(RANK.error, line),
  warn: (line: string) => write(RANK.warn, line),
  info: (line: string) => write(RANK.info, line),
  debug: (line: string) => write(RANK.debug, line),
};

/** Route the OpenTelemetry API's diagnostics to stderr at debug/verbose/all. */
export function wireDiagnostics(level: LogLevel): void {
  if (RANK[level] < RANK.debug) return;
  // Loaded only here so that the default path costs nothing.
  const { diag, DiagConsoleLogger, DiagLogLevel } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const map = { debug: DiagLogLevel.DEBUG, verbose: DiagLogLevel.VERBOSE, all: DiagLogLevel.ALL } as const;
  diag.setLogger(new DiagConsoleLogger(), { logLevel: map[level as keyof typeof map], suppressOverrideMessage: true });
}
