#!/usr/bin/env bash
# Builds the real OpenTelemetry Collector (with ocb, from collector/builder-config.yaml)
# and the real Jaeger v2 into a cache outside the repository, keyed by version.
# Idempotent: a cached binary is reused (a second run takes well under a second).
#
#   scripts/stack-build.sh            build what is missing, then print the paths
#   scripts/stack-build.sh --print    print the paths only (exit 1 if something is missing)
#
# The last lines of stdout are machine-readable (scripts/stack-lib.mjs reads them):
#   OTELCOL_BIN=/…/otelcol-sidetrace-0.161.0
#   JAEGER_BIN=/…/jaeger-1.76.0
#   JAEGER_VERSION=2.13.0
# Progress goes to stderr.
set -euo pipefail

OCB_VERSION=0.161.0                # go.opentelemetry.io/collector/cmd/builder, same release as the manifest
OTELCOL_VERSION=0.161.0            # dist.version in collector/builder-config.yaml
JAEGER_MODULE_VERSION=1.76.0       # github.com/jaegertracing/jaeger module tag …
JAEGER_VERSION=2.13.0              # … which is this Jaeger v2 release (same commit); compose uses its image

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
manifest="$repo_root/collector/builder-config.yaml"
cache="${SIDETRACE_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidetrace}"
bin="$cache/bin"
work="$cache/work"
otelcol_bin="$bin/otelcol-sidetrace-$OTELCOL_VERSION"
jaeger_bin="$bin/jaeger-$JAEGER_MODULE_VERSION"

say() { echo "stack-build: $*" >&2; }

print_paths() {
  echo "OTELCOL_BIN=$otelcol_bin"
  echo "JAEGER_BIN=$jaeger_bin"
  echo "JAEGER_VERSION=$JAEGER_VERSION"
}

# The collector binary is also keyed by the manifest's content: editing the component
# list rebuilds even when the version stays the same.
manifest_sum=$(sha256sum "$manifest" | cut -d' ' -f1)
otelcol_current() { [ -x "$otelcol_bin" ] && [ "$(cat "$otelcol_bin.manifest-sha256" 2>/dev/null)" = "$manifest_sum" ]; }
jaeger_current() { [ -x "$jaeger_bin" ]; }

if [ "${1:-}" = "--print" ]; then
  otelcol_current && jaeger_current || { say "binaries missing or stale; run scripts/stack-build.sh"; exit 1; }
  print_paths
  exit 0
fi

if otelcol_current && jaeger_current; then
  print_paths
  exit 0
fi

# Go's official install location, for shells whose PATH lacks it.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="$PATH:/usr/local/go/bin"; fi
if ! command -v go >/dev/null 2>&1; then
  say "Go is not installed (needed once, to build the collector and Jaeger)."
  say "Install Go 1.26 or newer (the collector v0.161.0 modules require it) from the official Go downloads (tarball into /usr/local/go, add /usr/local/go/bin to PATH), then rerun: npm run stack:build"
  exit 1
fi

mkdir -p "$bin" "$work"
# One build at a time (parallel test files may all ask for the binaries).
exec 9>"$cache/build.lock"
flock 9

build_otelcol() {
  otelcol_current && return 0
  local started=$SECONDS gobin="$work/ocb-$OCB_VERSION"
  if [ ! -x "$gobin/builder" ]; then
    say "installing ocb v$OCB_VERSION"
    GOBIN="$gobin" go install "go.opentelemetry.io/collector/cmd/builder@v$OCB_VERSION"
  fi
  local dir="$work/otelcol-$OTELCOL_VERSION"
  rm -rf "$dir" && mkdir -p "$dir"
  say "building otelcol-sidetrace $OTELCOL_VERSION with ocb (several minutes on a cold Go cache)"
  (cd "$dir" && "$gobin/builder" --config "$manifest" >"$dir/ocb.log" 2>&1) || {
    say "ocb failed; last lines of $dir/ocb.log:"; tail -n 30 "$dir/ocb.log" >&2; exit 1; }
  install -m 0755 "$dir/otelcol-sidetrace-build/otelcol-sidetrace" "$otelcol_bin.tmp"
  mv "$otelcol_bin.tmp" "$otelcol_bin"
  echo "$manifest_sum" >"$otelcol_bin.manifest-sha256"
  say "built $otelcol_bin in $((SECONDS - started)) s"
}

build_jaeger() {
  jaeger_current && return 0
  local started=$SECONDS dir="$work/jaeger-$JAEGER_MODULE_VERSION"
  # A scratch module that requires Jaeger as a tool: `go install …@v1.x` refuses the
  # module because its go.mod carries replace directives; a requiring module does not.
  rm -rf "$dir" && mkdir -p "$dir"
  say "building jaeger v$JAEGER_VERSION (module v$JAEGER_MODULE_VERSION; several minutes on a cold Go cache)"
  (
    cd "$dir"
    go mod init sidetrace.local/jaeger-build >/dev/null 2>&1
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@v$JAEGER_MODULE_VERSION"
    v=github.com/jaegertracing/jaeger/internal/version
    CGO_ENABLED=0 go build -trimpath -o "$jaeger_bin.tmp" \
      -ldflags "-s -w -X $v.latestVersion=v$JAEGER_VERSION -X $v.commitSHA=v$JAEGER_MODULE_VERSION -X $v.date=1970-01-01T00:00:00Z" \
      github.com/jaegertracing/jaeger/cmd/jaeger
  ) >"$dir.log" 2>&1 || { say "jaeger build failed; last lines of $dir.log:"; tail -n 30 "$dir.log" >&2; exit 1; }
  mv "$jaeger_bin.tmp" "$jaeger_bin"
  say "built $jaeger_bin in $((SECONDS - started)) s"
}

build_otelcol
build_jaeger
say "binaries are in $bin"
print_paths
