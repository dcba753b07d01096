// What the terminal commands share: the output's width and colours, and the
// parsing and printing of durations, times and ids. Layout is computed on
// plain text and coloured last, so plain output (pipes, tests) and coloured
// output line up the same.
import { createColors } from 'picocolors';
import type { Colors } from 'picocolors/types';

export type { Colors };

/** Width when stdout is not a terminal (a pipe, a CI log). */
export const PIPED_WIDTH = 100;
const MIN_WIDTH = 60;

export interface Output {
  /** Columns to fill. */
  width: number;
  colors: Colors;
  write(text: string): void;
}

/** stdout as the commands print to it: colours only on a terminal and without NO_COLOR; its width, or 100 when piped. */
export function stdoutOutput(noColor: boolean, stream: NodeJS.WriteStream = process.stdout): Output {
  const tty = stream.isTTY === true;
  // `sidetrace traces | head`: the reader left; stop quietly instead of dying on EPIPE.
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  return {
    width: tty && stream.columns ? Math.max(MIN_WIDTH, stream.columns) : PIPED_WIDTH,
    colors: createColors(tty && !noColor),
    write: (text) => void stream.write(text),
  };
}

/** Colours off: for plain, deterministic output. */
export const PLAIN: Colors = createColors(false);

/** Control characters escaped, so a span name or attribute cannot move the cursor or break a line. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => (c === '\n' ? '⏎' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** Cut to `width` code points with an ellipsis. Wide characters (CJK, emoji) count as one column. */
export function fit(s: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...s];
  if (chars.length <= width) return s;
  return width === 1 ? '…' : `${chars.slice(0, width - 1).join('')}…`;
}

export function columns(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function padEnd(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - columns(s)));
}

export function padStart(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - columns(s))) + s;
}

const UNITS_MICROS: Record<string, number> = {
  us: 1,
  µs: 1,
  ms: 1_000,
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
  d: 86_400_000_000,
};

/** `200ms`, `1.5s`, `15m`, `2h`, `7d`, `500us` → microseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h|d)\s*$/i.exec(text);
  if (!m) return undefined;
  const micros = Number(m[1]) * UNITS_MICROS[m[2].toLowerCase()];
  return Number.isFinite(micros) ? micros : undefined;
}

/** A duration for people: `840 µs`, `12.3 ms`, `4.21 s`, `3m 05s`, `2h 10m`. */
export function formatDuration(micros: number): string {
  if (!Number.isFinite(micros) || micros < 0) return '?';
  if (micros < 1_000) return `${Math.round(micros)} µs`;
  if (micros < 1_000_000) {
    const ms = micros / 1_000;
    return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  }
  if (micros < 60_000_000) {
    const s = micros / 1_000_000;
    return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  }
  const totalSeconds = Math.round(micros / 1_000_000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m ${String(totalSeconds % 60).padStart(2, '0')}s`;
  const totalMinutes = Math.round(totalSeconds / 60);
  if (totalMinutes < 1440) return `${Math.floor(totalMinutes / 60)}h ${String(totalMinutes % 60).padStart(2, '0')}m`;
  const totalHours = Math.round(totalMinutes / 60);
  return `${Math.floor(totalHours / 24)}d ${String(totalHours % 24).padStart(2, '0')}h`;
}

/** Seconds as a duration (ETA, elapsed). */
export function formatSeconds(seconds: number): string {
  return formatDuration(seconds * 1_000_000);
}

/** `11-30 08:31:02` in UTC, for tables. */
export function formatShortTime(micros: number): string {
  return formatTime(micros).slice(5);
}

/** `2026-11-30 08:31:02` in UTC: traces come from many machines; UTC is what they share. */
export function formatTime(micros: number): string {
  return new Date(Math.floor(micros / 1_000)).toISOString().replace('T', ' ').slice(0, 19);
}

/** A count with thousands separators: 20,000. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** An attribute value on one line: strings as they are (escaped), the rest as JSON. */
export function formatValue(v: unknown): string {
  return printable(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));
}
