#!/usr/bin/env bash
# Runs the Go interoperability tests against already built drivers.
# Builds nothing of Node and installs nothing: Go modules are downloaded into
# the default module cache on first use. Which drivers: INTEROP_DRIVERS (see
# README.md); by default the local driver at drivers/local/dist/main.js.
# Extra arguments go to `go test` (e.g. -run TestSaveStream, -v).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# The drivers run on the project's pinned Node: the one scripts/toolchain.sh
# installed into .tools/, else a Node 22 or later already on PATH.
if [ -x "$repo/.tools/node_modules/.bin/node" ]; then
  export PATH="$repo/.tools/node_modules/.bin:$PATH"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 22 ]; then
  echo "run.sh: the drivers need Node 22 or later on PATH (found ${major}); run: source scripts/toolchain.sh" >&2
  exit 2
fi
command -v go >/dev/null || { echo "run.sh: go is not on PATH (Go 1.25.7 or later is needed)" >&2; exit 2; }
cd "$here"
exec go test -count=1 -timeout=10m "$@" ./...
