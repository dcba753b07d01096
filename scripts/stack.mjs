#!/usr/bin/env node
// `npm run stack`: the real OpenTelemetry Collector and Jaeger v2 on loopback,
// with the config files compose uses. Ctrl-C or SIGTERM stops both (exit 0).
// Ports follow the same variables as the config files (e.g.
// SIDETRACE_COLLECTOR_OTLP_HTTP_PORT=5318 npm run stack); NEW_RELIC_LICENSE_KEY
// and NEW_RELIC_OTLP_ENDPOINT are passed through to the collector.
import { startStack } from './stack-lib.mjs';

const say = (line) => console.log(`stack: ${line}`);

async function main() {
  const stopRequested = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopRequested.abort());

  say('starting Jaeger and the OpenTelemetry Collector (builds them first if needed)');
  let stack;
  try {
    stack = await startStack({ log: say });
  } catch (err) {
    console.error(`stack: ${err.message}`);
    return 1;
  }
  const local = (url) => url.replace('//127.0.0.1:', '//localhost:');
  console.log(`
sidetrace stack is running (listening on 127.0.0.1 only)
  Jaeger query API   ${local(stack.jaegerUrl)}/api/services, /api/traces?service=NAME
  Jaeger UI          ${local(stack.jaegerUrl)}  (the full UI ships in the Docker image; a source build serves a placeholder page)
  OTLP/HTTP          ${local(stack.otlpHttpUrl)}  (OTEL_EXPORTER_OTLP_ENDPOINT for your app)
  OTLP/gRPC          ${local(stack.otlpGrpcUrl)}
  Jaeger thrift      ${local(stack.jaegerThriftUrl)}  (OTEL_TRACES_EXPORTER=jaeger, no collector)
  span metrics       ${local(stack.spanMetricsUrl)}
  collector          health ${local(stack.collectorHealthUrl)}, own metrics ${local(stack.collectorMetricsUrl)}
  New Relic          ${stack.newRelic ? `on, to ${stack.newRelicEndpoint} (queue in ${stack.storageDir})` : 'off (set NEW_RELIC_LICENSE_KEY to turn it on)'}
  logs               ${stack.logDir}/collector.log, ${stack.logDir}/jaeger.log
Ctrl-C stops both.
`);
  if (!stopRequested.signal.aborted) {
    await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve, { once: true }));
  }
  say('stopping the collector, then Jaeger');
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
