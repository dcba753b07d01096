// What every terminal command shares: argument parsing (node:util's
// parseArgs), where Jaeger is (config, then --jaeger), the output, and the
// one-line error and exit code for bad input and unreachable Jaegers.
import { parseArgs } from 'node:util';
import { readConfig } from '../../config';
import type { Env } from '../../config/reader';
import { JaegerClient, QueryError } from './jaeger';
import { parseDuration, stdoutOutput, type Output } from './terminal';

/** Bad input on the command line: one line, exit 2. */
export class UsageError extends Error {}

export const EXIT_USAGE = 2;
export const EXIT_QUERY = 1;

const CONFIG_VARIABLES = new Set(['SIDETRACE_JAEGER_URL', 'SIDETRACE_JAEGER_QUERY_URL', 'SIDETRACE_JAEGER_HEADERS', 'NO_COLOR']);

export interface Session {
  client: JaegerClient;
  out: Output;
  /** A line for people on stderr (notes, hints), never mixed into the data on stdout. */
  note(line: string): void;
}

export const JAEGER_OPTION = { jaeger: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

/** The options of the commands that search a time window (`deploys`, `migration`): --service, --since, --limit and Jaeger's. */
export function parseWindowOptions(command: string, argv: string[], allowPositionals: boolean) {
  try {
    return parseArgs({
      args: argv,
      options: { ...JAEGER_OPTION, service: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw usageError(command, err);
  }
}

/** A node:util parseArgs error as one usage line. */
export function usageError(command: string, err: unknown): UsageError {
  const message = (err as Error).message;
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return new UsageError(`${command}: unknown option ${unknown[1]} (see sidetrace ${command} --help)`);
  return new UsageError(`${command}: ${message.split(/\.\s/)[0].replace(/\.$/, '')} (see sidetrace ${command} --help)`);
}

/** The Jaeger client and output for a command: SIDETRACE_JAEGER_URL/…_HEADERS from config, `--jaeger` over them. */
export function openSession(command: string, jaegerFlag: string | undefined, env: Env = process.env): Session {
  const { config, problems } = readConfig(env);
  const note = (line: string) => void process.stderr.write(`sidetrace: ${line}\n`);
  for (const p of problems) if (p.variable && CONFIG_VARIABLES.has(p.variable)) note(p.message);
  let url = config.terminal.jaegerUrl;
  if (jaegerFlag !== undefined) {
    if (!isHttpUrl(jaegerFlag)) throw new UsageError(`${command}: --jaeger ${JSON.stringify(jaegerFlag)} is not an http(s) URL (e.g. http://localhost:16686)`);
    url = jaegerFlag;
  }
  return { client: new JaegerClient(url, { headers: config.terminal.jaegerHeaders }), out: stdoutOutput(config.terminal.noColor), note };
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `--since 15m` and friends: a duration or one usage line naming the flag. */
export function durationFlag(command: string, flag: string, value: string | undefined, fallback?: string): number | undefined {
  const text = value ?? fallback;
  if (text === undefined) return undefined;
  const micros = parseDuration(text);
  if (micros === undefined || micros <= 0)
    throw new UsageError(`${command}: --${flag} ${JSON.stringify(text)} is not a duration (e.g. 500ms, 1.5s, 15m, 2h, 7d)`);
  return micros;
}

export function countFlag(command: string, flag: string, value: string | undefined, fallback: number, max = 10_000): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max)
    throw new UsageError(`${command}: --${flag} ${JSON.stringify(value)} is not a whole number from 1 to ${max}`);
  return Number(value);
}

/** The services to search: the one asked for (which Jaeger must know), else every service Jaeger knows. */
export async function servicesToSearch(client: JaegerClient, service: string | undefined): Promise<string[]> {
  const known = await client.services();
  if (service === undefined) return known;
  if (!known.includes(service)) {
    const list = known.length ? `it knows ${known.join(', ')}` : 'it knows no services yet (nothing has been sent to it)';
    throw new QueryError(`Jaeger at ${client.url} has no service ${JSON.stringify(service)}; ${list}`);
  }
  return [service];
}

/** Runs a command: usage errors exit 2, query errors 1, each as one line on stderr. */
export async function runCommand(usage: string, argv: string[], body: () => Promise<number>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    const code = await body();
    // The dispatcher exits right after; where stdout is asynchronous (pipes on macOS) let it drain first.
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    return code;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sidetrace ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof QueryError) {
      process.stderr.write(`sidetrace: ${err.message}\n`);
      return EXIT_QUERY;
    }
    throw err;
  }
}

export const nowMicros = () => Date.now() * 1_000;
