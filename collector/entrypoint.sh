#!/bin/sh
# Starts otelcol-sidetrace with collector/otel-collector.yaml, merging in
# newrelic.yaml only when NEW_RELIC_LICENSE_KEY is set (and saying so in one
# line when it is not), and debug.yaml when SIDETRACE_COLLECTOR_DEBUG=1.
# The Docker image's entrypoint, and what scripts/stack-lib.mjs runs, so the
# local stack and compose decide the same way.
#   entrypoint.sh             run the collector
#   entrypoint.sh validate    check the same config set and exit
#   OTELCOL_BIN                     the collector binary (otelcol-sidetrace on PATH)
#   SIDETRACE_COLLECTOR_CONFIG_DIR  where the yaml files are (this script's directory)
set -eu
dir=${SIDETRACE_COLLECTOR_CONFIG_DIR:-$(dirname "$0")}
command=
if [ "${1:-}" = validate ]; then command=validate; fi

set -- --config "$dir/otel-collector.yaml"
if [ -n "${NEW_RELIC_LICENSE_KEY:-}" ]; then
  set -- "$@" --config "$dir/newrelic.yaml"
else
  echo "sidetrace collector: New Relic export is off (NEW_RELIC_LICENSE_KEY is not set); traces go to Jaeger only" >&2
fi
if [ "${SIDETRACE_COLLECTOR_DEBUG:-}" = 1 ]; then
  set -- "$@" --config "$dir/debug.yaml"
fi
exec "${OTELCOL_BIN:-otelcol-sidetrace}" ${command:+"$command"} "$@"
