#!/usr/bin/env bash
# Runs the Go interoperability tests against already built drivers.
# Builds nothing of Node and installs nothing: Go modules are downloaded into
# the default module cache on first use. Which drivers: INTEROP_DRIVERS (see
# README.md); by default the local driver at drivers/local/dist/main.js.
# Extra arguments go to `go test` (e.g. -run TestSaveStream, -v).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# The drivers run on the project's pinned Node, which toolchain.sh puts on PATH.
# shellcheck source=../../scripts/toolchain.sh
source "$repo/scripts/toolchain.sh"
command -v go >/dev/null || { echo "run.sh: go is not on PATH (Go 1.25.7 or later is needed)" >&2; exit 2; }
cd "$here"
exec go test -count=1 -timeout=10m "$@" ./...
