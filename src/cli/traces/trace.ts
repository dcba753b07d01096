// `sidetrace trace <id>`: one trace as a waterfall in the terminal.
import { parseArgs } from 'node:util';
import { countFlag, JAEGER_OPTION, openSession, runCommand, usageError, UsageError } from './command';
import { QueryError, TRACE_ID } from './jaeger';
import { renderWaterfall } from './waterfall';

export const TRACE_USAGE = `Usage: sidetrace trace <trace-id> [options]

The trace as a waterfall: the span tree with timing bars, service, name and
duration; errors with their message; links to other traces. Five or more
siblings with the same name collapse into one line with count, avg and max.

Options:
  --attrs        show each span's attributes and events
  --depth N      show N levels of the tree (deeper spans are counted)
  --json         the trace's spans as JSON, for scripts
  --jaeger URL   Jaeger's query service (default SIDETRACE_JAEGER_URL or http://localhost:16686)
`;

export function traceMain(argv: string[]): Promise<number> {
  return runCommand(TRACE_USAGE, argv, async () => {
    const { values, positionals } = parseOptions(argv);
    if (positionals.length !== 1) throw new UsageError(`trace: expected one trace id, got ${positionals.length} (see sidetrace trace --help)`);
    const id = positionals[0].trim();
    if (!TRACE_ID.test(id)) throw new UsageError(`trace: ${JSON.stringify(id)} is not a trace id (1 to 32 hex digits, e.g. 4bf92f3577b34da6a3ce929d0e0e4736)`);
    const depth = values.depth === undefined ? undefined : countFlag('trace', 'depth', values.depth, 1, 1_000);
    const { client, out } = openSession('trace', values.jaeger);
    const spans = await client.trace(id.toLowerCase());
    if (!spans) throw new QueryError(`no trace ${id} in Jaeger at ${client.url} (spans take a few seconds to arrive; an in-memory Jaeger forgets old traces)`);
    if (values.json) out.write(`${JSON.stringify(spans, null, 2)}\n`);
    else out.write(`${renderWaterfall(spans, { width: out.width, colors: out.colors, attrs: values.attrs, depth }).join('\n')}\n`);
    return 0;
  });
}

function parseOptions(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...JAEGER_OPTION, attrs: { type: 'boolean' }, depth: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usageError('trace', err);
  }
}
