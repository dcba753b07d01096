#!/usr/bin/env bash
# The Node matrix CI runs after `npm test` (the whole suite, bundled build, on
# the machine's Node 20). One leg per line: a pinned Node (scripts/node-install.sh),
# the build the apps run under, the test files. Each leg prints its Node version,
# and test/runtimes.test.ts fails if the tests did not run on that Node
# (SIDETRACE_EXPECTED_NODE). The leg's Node is first on PATH, so the tests, the
# apps they spawn (process.execPath) and any `node` a script calls are all it.
#
#   bash scripts/test-matrix.sh            (after npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=(test/preload.test.ts test/noise.test.ts test/http-server.test.ts test/http-server-jaeger.test.ts test/http-client.test.ts test/fetch-client.test.ts test/runtimes.test.ts test/deploy.test.ts test/cli.test.ts)

leg() { # leg <major> <bundled|unbundled> <test files...>
  local major=$1 build=$2 node
  shift 2
  node=$(bash scripts/node-install.sh "$major" | tail -n 1)
  echo "=== Node $("$node" --version), $build build: $*"
  PATH="$(dirname "$node"):$PATH" SIDETRACE_EXPECTED_NODE=$major SIDETRACE_TEST_BUILD=$build \
    "$node" --test --test-concurrency=1 --import tsx "$@"
}

# The collector's and Jaeger's own behaviour (Go programs, the same under any
# Node) ran on the Node 20 leg: those cases (test/helpers/once.ts) are skipped here.
SIDETRACE_TEST_COLLECTOR_CASES=done leg 24 bundled test/*.test.ts
# The two smoke legs are light (about 90 s each): they run side by side, each into
# its own log, printed whole when both are done, to keep a CI run under 30 minutes.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
leg 22 unbundled "${SMOKE[@]}" >"$logs/22" 2>&1 &   # tsc's dist/lib/ passes the tests the bundle passes on 20, 24 and 26
pid22=$!
leg 26 bundled   "${SMOKE[@]}" >"$logs/26" 2>&1 &
pid26=$!
status=0
wait "$pid22" || status=1
wait "$pid26" || status=1
cat "$logs/22" "$logs/26"
exit "$status"
