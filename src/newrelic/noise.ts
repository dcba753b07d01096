// The noise policy in the New Relic agent's own terms (SIDETRACE_AGENT=newrelic):
// - every ignored path (SIDETRACE_IGNORE_PATHS, defaults in src/config/defaults.ts) becomes
//   an ignoring rule, so a health check, probe or static file is no transaction;
// - secret headers become attribute exclusions for every destination, both
//   as the agent names them (request.headers.cookie) and as OpenTelemetry
//   spans passed through the bridge name them (http.request.header.cookie).
// Both are added to what the app's own New Relic configuration says, never
// in place of it.
import { SECRET_HEADERS } from '../policy/secrets';

/** A sidetrace path pattern as the agent's ignoring rule: a case-insensitive regular expression on the request path. */
export function ignoringRule(pattern: string): string {
  const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (pattern.startsWith('*.')) return `\\.${escapeRegExp(pattern.slice(2))}$`;
  if (pattern.endsWith('*')) return `^${escapeRegExp(pattern.slice(0, -1))}`;
  const exact = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  return exact === '/' ? '^/$' : `^${escapeRegExp(exact)}/?$`;
}

function camelCase(header: string): string {
  return header.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Attribute names (the agent's exclude syntax) under which a secret header could be recorded. */
export function secretAttributeExcludes(): string[] {
  const out: string[] = [];
  for (const h of SECRET_HEADERS) {
    out.push(`request.headers.${camelCase(h)}`, `response.headers.${camelCase(h)}`);
    for (const name of new Set([h, h.replace(/-/g, '_')])) out.push(`http.request.header.${name}`, `http.response.header.${name}`);
  }
  return out;
}

/** What the agent exposes for this (its public API plus the config object the attribute filter watches). */
export interface NoiseTarget {
  addIgnoringRule(pattern: string): void;
  agent?: { config?: { attributes?: { exclude?: unknown }; emit?: (event: string, value: unknown) => unknown } } | null;
}

export interface NoiseMapping {
  ignoringRules: number;
  /** False when the agent's config could not take the exclusions (an agent version sidetrace does not know). */
  excludesApplied: boolean;
}

export function applyNoisePolicy(nr: NoiseTarget, ignorePaths: string[]): NoiseMapping {
  const rules = [...new Set(ignorePaths.map(ignoringRule))];
  for (const rule of rules) nr.addIgnoringRule(rule);

  let excludesApplied = false;
  const config = nr.agent?.config;
  const current = config?.attributes?.exclude;
  if (config?.attributes && Array.isArray(current) && typeof config.emit === 'function') {
    const merged = [...new Set([...(current as string[]), ...secretAttributeExcludes()])];
    config.attributes.exclude = merged;
    // The agent's attribute filter rebuilds its rules on this event.
    config.emit('attributes.exclude', merged);
    excludesApplied = true;
  }
  return { ignoringRules: rules.length, excludesApplied };
}
