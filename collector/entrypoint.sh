#!/bin/sh
# Starts otelcol-sidetrace with the config files its role and environment call
# for, saying in one line each what it chose when that is not the plain default:
#   sidecar (default)   otel-collector.yaml; + newrelic.yaml when NEW_RELIC_LICENSE_KEY is set;
#                       gateway mode when SIDETRACE_GATEWAY_ENDPOINTS or SIDETRACE_GATEWAY_DNS is set:
#                       + sidecar-gateway.yaml + sidecar-gateway-static.yaml or -dns.yaml (no newrelic.yaml:
#                       the gateways export); + debug.yaml when SIDETRACE_COLLECTOR_DEBUG=1
#   gateway             (SIDETRACE_COLLECTOR_ROLE=gateway) gateway.yaml; + gateway-newrelic.yaml when
#                       NEW_RELIC_LICENSE_KEY is set
# A bad value of a variable it checks is named in one line and replaced by the
# config's default (read from the yaml file, so there is one default).
# The Docker image's entrypoint, and what scripts/stack-lib.mjs runs, so the
# local stack and compose decide the same way.
#   entrypoint.sh             run the collector
#   entrypoint.sh validate    check the same config set and exit
#   entrypoint.sh files       print the config files it would use, one a line, and exit
#   OTELCOL_BIN                     the collector binary (otelcol-sidetrace on PATH)
#   SIDETRACE_COLLECTOR_CONFIG_DIR  where the yaml files are (this script's directory)
#   SIDETRACE_COLLECTOR_ROLE        sidecar (default) or gateway
set -euf
dir=${SIDETRACE_COLLECTOR_CONFIG_DIR:-$(dirname "$0")}
command=
case "${1:-}" in validate | files) command=$1 ;; esac

say() { echo "sidetrace collector: $*" >&2; }

# The default a config file gives NAME (${env:NAME:-default}).
default_of() { sed -n "s/.*\${env:$1:-\([^}]*\)}.*/\1/p" "$dir/$2" | head -n 1; }

# check NAME FILE TEST WHAT: when NAME is set and `TEST value` fails, say so and
# unset it, so the config's default applies.
check() {
  eval "value=\${$1-}"
  [ -z "$value" ] && return 0
  if ! "$3" "$value"; then
    say "$1=\"$value\" is not $4; using the default, $(default_of "$1" "$2")"
    unset "$1"
  fi
}
matches() { printf '%s' "$1" | grep -Eq "$2"; }
# Integers of at most 9 digits, so the shell's arithmetic cannot overflow.
integer_between() { matches "$1" '^[0-9]{1,9}$' && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
is_percent() { matches "$1" '^[0-9]{1,3}([.][0-9]+)?$' && awk -v v="$1" 'BEGIN { exit !(v <= 100) }'; }
is_slow_ms() { integer_between "$1" 1 86400000; }
is_spans_per_second() { integer_between "$1" 10 999999999; }
is_num_traces() { integer_between "$1" 1 100000000; }
is_queue_spans() { integer_between "$1" 1 100000000; }
is_port() { integer_between "$1" 1 65535; }
is_duration() { matches "$1" '^[0-9]{1,9}(ms|s|m|h)$'; }
is_positive_duration() { is_duration "$1" && matches "$1" '[1-9]'; }
is_hostname() { matches "$1" '^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$'; }
is_endpoint() { matches "$1" '^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?$'; }

role=${SIDETRACE_COLLECTOR_ROLE:-sidecar}
case "$role" in
  sidecar | gateway) ;;
  *) say "SIDETRACE_COLLECTOR_ROLE=\"$role\" is not sidecar or gateway; running as a sidecar"; role=sidecar ;;
esac

nr_off() { say "New Relic export is off (NEW_RELIC_LICENSE_KEY is not set); traces go to Jaeger only"; }

if [ "$role" = gateway ]; then
  check SIDETRACE_TAIL_SLOW_MS gateway.yaml is_slow_ms "a whole number of milliseconds from 1 to 86400000"
  check SIDETRACE_TAIL_SAMPLE_PERCENT gateway.yaml is_percent "a percentage from 0 to 100"
  check SIDETRACE_TAIL_MAX_SPANS_PER_SECOND gateway.yaml is_spans_per_second "a whole number of spans per second of at least 10"
  check SIDETRACE_TAIL_DECISION_WAIT gateway.yaml is_positive_duration "a duration such as 10s or 500ms"
  check SIDETRACE_TAIL_NUM_TRACES gateway.yaml is_num_traces "a whole number of traces from 1 to 100000000"
  set -- --config "$dir/gateway.yaml"
  if [ -n "${NEW_RELIC_LICENSE_KEY:-}" ]; then
    set -- "$@" --config "$dir/gateway-newrelic.yaml"
  else
    nr_off
  fi
  if [ "${SIDETRACE_COLLECTOR_DEBUG:-}" = 1 ]; then
    say "SIDETRACE_COLLECTOR_DEBUG=1 applies to sidecars only; a gateway prints no spans"
  fi
else
  # Gateway mode: the list wins over DNS; the list is rewritten as the YAML list
  # sidecar-gateway-static.yaml reads.
  resolver=
  if [ -n "${SIDETRACE_GATEWAY_ENDPOINTS:-}" ]; then
    list=
    for endpoint in $(printf '%s' "$SIDETRACE_GATEWAY_ENDPOINTS" | tr ',' ' '); do
      if is_endpoint "$endpoint"; then
        list="${list:+$list, }\"$endpoint\""
      else
        say "SIDETRACE_GATEWAY_ENDPOINTS: \"$endpoint\" is not host or host:port; left out"
      fi
    done
    if [ -n "$list" ]; then
      shown=$(printf '%s' "$list" | tr -d '"')
      export SIDETRACE_GATEWAY_ENDPOINTS="[$list]"
      resolver=static
      if [ -n "${SIDETRACE_GATEWAY_DNS:-}" ]; then
        say "SIDETRACE_GATEWAY_DNS is ignored: SIDETRACE_GATEWAY_ENDPOINTS is set"
      fi
    else
      say "SIDETRACE_GATEWAY_ENDPOINTS names no usable gateway; exporting to the backends directly"
    fi
  elif [ -n "${SIDETRACE_GATEWAY_DNS:-}" ]; then
    if is_hostname "$SIDETRACE_GATEWAY_DNS"; then
      check SIDETRACE_GATEWAY_PORT sidecar-gateway-dns.yaml is_port "a port number"
      check SIDETRACE_GATEWAY_DNS_INTERVAL sidecar-gateway-dns.yaml is_positive_duration "a duration such as 5s"
      shown="every address of $SIDETRACE_GATEWAY_DNS, port ${SIDETRACE_GATEWAY_PORT:-$(default_of SIDETRACE_GATEWAY_PORT sidecar-gateway-dns.yaml)}"
      resolver=dns
    else
      say "SIDETRACE_GATEWAY_DNS=\"$SIDETRACE_GATEWAY_DNS\" is not a host name; exporting to the backends directly"
    fi
  fi

  set -- --config "$dir/otel-collector.yaml"
  if [ -n "$resolver" ]; then
    check SIDETRACE_GATEWAY_QUEUE_SPANS sidecar-gateway.yaml is_queue_spans "a whole number of spans from 1 to 100000000"
    check SIDETRACE_GATEWAY_RETRY_MAX_ELAPSED sidecar-gateway.yaml is_duration "a duration such as 60s"
    set -- "$@" --config "$dir/sidecar-gateway.yaml" --config "$dir/sidecar-gateway-$resolver.yaml"
    say "gateway mode: traces go to $shown, routed by trace id; the gateways decide what is kept and export it${NEW_RELIC_LICENSE_KEY:+ (NEW_RELIC_LICENSE_KEY is not used here: the gateways export to New Relic)}"
  elif [ -n "${NEW_RELIC_LICENSE_KEY:-}" ]; then
    set -- "$@" --config "$dir/newrelic.yaml"
  else
    nr_off
  fi
  if [ "${SIDETRACE_COLLECTOR_DEBUG:-}" = 1 ]; then
    set -- "$@" --config "$dir/debug.yaml"
  fi
fi

if [ "$command" = files ]; then
  while [ $# -gt 0 ]; do
    echo "$2"
    shift 2
  done
  exit 0
fi
exec "${OTELCOL_BIN:-otelcol-sidetrace}" ${command:+"$command"} "$@"
