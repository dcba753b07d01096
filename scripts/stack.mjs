#!/usr/bin/env node
// `npm run stack`: the real OpenTelemetry Collector and Jaeger v2 on loopback,
// with the config files compose uses. Ctrl-C or SIGTERM stops them (exit 0).
//   npm run stack                       a collector sidecar and Jaeger
//   npm run stack -- --gateway          two sidecars, two gateways (tail sampling) and Jaeger (docs/gateway.md)
//   npm run stack -- --jaeger-memory    Jaeger keeps traces in memory instead of on disk (Badger)
// Ports follow the same variables as the config files (e.g.
// SIDETRACE_COLLECTOR_OTLP_HTTP_PORT=5318 npm run stack); NEW_RELIC_LICENSE_KEY,
// NEW_RELIC_OTLP_ENDPOINT and the SIDETRACE_* overrides are passed through.
import { startStack } from './stack-lib.mjs';

const say = (line) => console.log(`stack: ${line}`);
const FLAGS = ['--gateway', '--jaeger-memory'];

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !FLAGS.includes(a));
  if (unknown.length) {
    console.error(`stack: unknown option ${unknown.join(' ')}; known: ${FLAGS.join(' ')}`);
    return 2;
  }
  const gateway = args.includes('--gateway');
  const stopRequested = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopRequested.abort());

  say(`starting Jaeger and ${gateway ? 'two gateways and two sidecars' : 'the OpenTelemetry Collector'} (builds them first if needed)`);
  let stack;
  try {
    stack = await startStack({ log: say, gateway, ...(args.includes('--jaeger-memory') ? { jaegerStorage: 'memory' } : {}) });
  } catch (err) {
    console.error(`stack: ${err.message}`);
    return 1;
  }
  const local = (url) => url.replace('//127.0.0.1:', '//localhost:');
  const sidecars = stack.sidecars.map(
    (s) =>
      `  ${s.name.padEnd(18)} OTLP/HTTP ${local(s.otlpHttpUrl)}, gRPC ${local(s.otlpGrpcUrl)}; health ${local(s.collectorHealthUrl)}, own metrics ${local(s.collectorMetricsUrl)}, span metrics ${local(s.spanMetricsUrl)}`,
  );
  const gateways = stack.gateways.map(
    (g) => `  ${g.name.padEnd(18)} OTLP/gRPC ${g.otlpGrpcEndpoint} (from the sidecars); health ${local(g.healthUrl)}, own metrics ${local(g.metricsUrl)}`,
  );
  const logs = [...stack.sidecars, ...stack.gateways]
    .map((c) => c.logFile)
    .concat(stack.jaeger.logFile)
    .join(', ');
  console.log(`
sidetrace stack is running (listening on 127.0.0.1 only)
  Jaeger query API   ${local(stack.jaegerUrl)}/api/services, /api/traces?service=NAME
  Jaeger UI          ${local(stack.jaegerUrl)}  (the full UI ships in the Docker image; a source build serves a placeholder page)
  Jaeger storage     ${stack.jaegerStorage === 'badger' ? `Badger in ${stack.jaegerDataDir} (kept across restarts; --jaeger-memory for memory)` : 'memory (lost when Jaeger stops)'}
  Jaeger thrift      ${local(stack.jaegerThriftUrl)}  (OTEL_TRACES_EXPORTER=jaeger, no collector)
${sidecars.join('\n')}
${gateways.length ? `${gateways.join('\n')}\n` : ''}  New Relic          ${stack.newRelic ? `on, to ${stack.newRelicEndpoint}` : 'off (set NEW_RELIC_LICENSE_KEY to turn it on)'}
  logs               ${logs}
Point your app at a sidecar's OTLP/HTTP address (OTEL_EXPORTER_OTLP_ENDPOINT). Ctrl-C stops everything.
`);
  if (!stopRequested.signal.aborted) {
    await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve, { once: true }));
  }
  say('stopping the collectors, then Jaeger');
  await stack.stop();
  say('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`stack: ${err.stack ?? err}`);
    process.exit(1);
  },
);
