// Reads one variable at a time; every bad value becomes one problem line
// naming the variable, the value (secrets hidden) and what is used instead.
import { oneLine } from '../logging/mask';
import { SECRET_VARIABLES } from '../policy/secrets';
import type { ConfigProblem } from './types';

export type Env = Record<string, string | undefined>;

export class Reader {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly env: Env) {}

  /** Set at all, even to an empty string. */
  isSet(name: string): boolean {
    return this.env[name] !== undefined;
  }

  /** The trimmed value, or undefined when unset or blank. */
  raw(name: string): string | undefined {
    const v = this.env[name];
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  problem(variable: string, value: string | undefined, why: string, instead: string): void {
    const shown = SECRET_VARIABLES.has(variable) ? '(value hidden)' : oneLine(JSON.stringify(truncate(value ?? '')));
    this.problems.push({ variable, message: `${variable}=${shown} ${why}; ${instead}` });
  }

  bool(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(l)) return true;
    if (['false', '0', 'no', 'off'].includes(l)) return false;
    this.problem(name, v, 'is not true or false', 'ignoring it');
    return undefined;
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      this.problem(name, v, `is not a whole number from ${min} to ${max}`, `using ${fallback}`);
      return fallback;
    }
    return Number(v);
  }

  optionalInt(name: string, min: number): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      this.problem(name, v, `is not a whole number of at least ${min}`, 'using the default');
      return undefined;
    }
    return Number(v);
  }

  choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const l = v.toLowerCase() as T;
    if (allowed.includes(l)) return l;
    this.problem(name, v, `is not one of ${allowed.join(', ')}`, `using ${fallback}`);
    return fallback;
  }

  /** A comma-separated list of known names; unknown names are dropped with one line. */
  list<T extends string>(name: string, allowed: readonly T[] | undefined, fallback: T[]): T[] {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const items = splitList(v);
    if (items.length === 0) {
      this.problem(name, v, 'names nothing', `using ${fallback.join(', ') || 'none'}`);
      return fallback;
    }
    if (!allowed) return items as T[];
    const known = [...new Set(items.filter((i) => allowed.includes(i.toLowerCase() as T)).map((i) => i.toLowerCase() as T))];
    const unknown = items.filter((i) => !allowed.includes(i.toLowerCase() as T));
    if (unknown.length) {
      this.problem(
        name,
        v,
        `names unknown ${unknown.length === 1 ? 'entry' : 'entries'} ${echo(unknown)}`,
        known.length ? `using ${known.join(', ')}` : `using ${fallback.join(', ') || 'none'}`,
      );
      return known.length ? known : fallback;
    }
    return known;
  }

  url(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return v;
    } catch {
      // Even a URL too broken to use can carry a password or a token: mask them in the line.
      const masked = v.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/?#]*@/i, '$1***@').replace(/([?&][^=&#]*)=[^&#]*/g, '$1=***');
      this.problem(name, masked, 'is not an http(s) URL', 'ignoring it');
      return undefined;
    }
  }

  /** W3C-baggage-style `key=value,key2=value2`, percent-decoded (the OTel spec's format). */
  keyValues(name: string): Record<string, string> {
    const v = this.raw(name);
    const out: Record<string, string> = {};
    if (v === undefined) return out;
    const bad: string[] = [];
    for (const part of v.split(',')) {
      if (!part.trim()) continue;
      const eq = part.indexOf('=');
      const key = eq > 0 ? safeDecode(part.slice(0, eq).trim()) : undefined;
      const value = eq > 0 ? safeDecode(part.slice(eq + 1).trim()) : undefined;
      if (!key || value === undefined) {
        bad.push(part.trim());
        continue;
      }
      out[key] = value;
    }
    if (bad.length) {
      const shown = SECRET_VARIABLES.has(name) ? `${bad.length} malformed entr${bad.length === 1 ? 'y' : 'ies'}` : `malformed entries ${echo(bad)}`;
      this.problems.push({ variable: name, message: `${name} has ${shown} (expected key=value,key2=value2); ignoring ${bad.length === 1 ? 'it' : 'them'}` });
    }
    return out;
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Entries of a bad value, for a problem line: one line, not too long. */
export function echo(entries: string[]): string {
  return oneLine(truncate(entries.join(', ')));
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
