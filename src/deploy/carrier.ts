// The carrier file: how a deploy (and its phases) span separate processes,
// e.g. Kamal's pre-deploy hook opening the deploy and post-deploy closing it.
//
// A span object cannot cross processes, so the process that opens a span
// records what the span will be (its ids, start time, parent, attributes)
// and the process that closes it creates the span then, with that start time
// and those ids (span-ids.ts), and ends it. Trade-off: until it is closed the
// span exists nowhere but in this file: if the file is lost (an ephemeral CI
// runner, a deleted temp dir) so is the span, though its children, exported
// as they close, still name it as their parent. A deploy that is never
// closed is closed as failed by the next deploy or by the watchdog
// (phases.ts), so an ordinary failure is never lost.
//
// Writes go to a temporary file renamed over the carrier, so a reader never
// sees half a file; closing first renames the carrier away ("claims" it), so
// two closers (post-deploy and the watchdog) cannot both emit the deploy.
import fs from 'node:fs';
import path from 'node:path';

export type CarrierAttributes = Record<string, string | number | boolean | string[]>;

export interface CarrierSpan {
  name: string;
  /** This span's own context, as a traceparent: its trace id, span id and sampled flag. */
  traceparent: string;
  tracestate?: string;
  /** The parent's context, when the span has one. */
  parent?: string;
  /** Start time, nanoseconds since the Unix epoch (a decimal string: it does not fit a double). */
  startTimeUnixNano: string;
  attributes: CarrierAttributes;
}

export interface CarrierIdentity {
  service: string;
  version?: string;
  environment?: string;
}

export interface DeployRecord extends CarrierSpan {
  identity: CarrierIdentity;
  kind: 'deploy' | 'rollback';
  /** Last time a phase opened or closed: where a deploy that never finished is ended. */
  lastActivityUnixNano: string;
  /** A running `sidetrace deploy -- <command>` owns this deploy and closes it itself. */
  ownerPid?: number;
  /** The watchdog process that closes the deploy after the timeout. */
  watcherPid?: number;
  /** What the New Relic change marker needs beyond the attributes. */
  marker: { changelog?: string; deploymentType?: string; entity?: string };
}

export interface Carrier {
  format: 'sidetrace-deploy-carrier';
  version: 1;
  deploy: DeployRecord;
  steps: Record<string, CarrierSpan>;
}

export class CarrierError extends Error {}

export function nowUnixNano(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

export function hrTimeOf(unixNano: string | bigint): [number, number] {
  const ns = BigInt(unixNano);
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

function isCarrier(v: unknown): v is Carrier {
  const c = v as Carrier;
  return (
    !!c &&
    c.format === 'sidetrace-deploy-carrier' &&
    c.version === 1 &&
    typeof c.deploy?.traceparent === 'string' &&
    typeof c.deploy?.startTimeUnixNano === 'string' &&
    typeof c.deploy?.identity?.service === 'string' &&
    typeof c.steps === 'object' &&
    c.steps !== null
  );
}

/** The carrier at `file`; undefined when there is none; a CarrierError naming the problem when it cannot be used. */
export function readCarrier(file: string): Carrier | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    throw new CarrierError(`carrier file ${file} cannot be read (${e.code ?? e.message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CarrierError(`carrier file ${file} is not JSON`);
  }
  if (!isCarrier(parsed)) throw new CarrierError(`carrier file ${file} is not a sidetrace deploy carrier`);
  return parsed;
}

export function writeCarrier(file: string, carrier: Carrier): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(carrier, null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    throw new CarrierError(`carrier file ${file} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * Take the carrier for closing: rename it away so nobody else closes the same
 * deploy. Returns the claimed path, or undefined when there is no carrier.
 */
export function claimCarrier(file: string): string | undefined {
  const claimed = `${file}.closing-${process.pid}`;
  try {
    fs.renameSync(file, claimed);
    return claimed;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    throw new CarrierError(`carrier file ${file} cannot be claimed for closing (${e.code ?? e.message})`);
  }
}

export function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // a leftover claimed file is harmless: nobody reads `*.closing-*`
  }
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
