// Command-line parsing for `sidetrace deploy ...`: `--flag value`,
// `--flag=value` and boolean flags before `--`, positionals, and the command
// after `--`. Anything it does not know is a UsageError: one line, exit 2.
export class UsageError extends Error {}

export type FlagSpec = Record<string, 'value' | 'boolean'>;

export interface ParsedArgs {
  flags: Record<string, string | true>;
  positionals: string[];
  /** Everything after `--`; undefined when there was no `--`. */
  command?: string[];
}

export function parseArgs(argv: string[], spec: FlagSpec, where: string): ParsedArgs {
  const flags: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return { flags, positionals, command: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq === -1 ? arg : arg.slice(0, eq)).replace(/^--?/, '');
    const kind = arg.startsWith('--') ? spec[name] : undefined;
    if (!kind) throw new UsageError(`${where}: unknown option ${eq === -1 ? arg : arg.slice(0, eq)}`);
    if (kind === 'boolean') {
      if (eq !== -1) throw new UsageError(`${where}: --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && argv[i + 1] !== '--') value = argv[++i];
    if (value === undefined) throw new UsageError(`${where}: --${name} needs a value`);
    // An empty value (`--changelog "$EMPTY"` in a script) means "not given": the default applies.
    if (value !== '') flags[name] = value;
  }
  return { flags, positionals };
}

export function oneOf<T extends string>(value: string | true | undefined, allowed: readonly T[], flag: string, where: string): T | undefined {
  if (value === undefined) return undefined;
  const v = String(value);
  const found = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
  if (!found) throw new UsageError(`${where}: --${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
  return found;
}
