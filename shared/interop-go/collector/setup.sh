#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the telemetry interop test sends to
# (main.go: an OTLP receiver and the file exporter, collector v0.165.0),
# idempotently, from the Go module proxy into the tools cache, and prints the
# binary's path on its last line. The folder's name carries a hash of this
# module's files, so a change to them builds anew.
# First build on this 2-core machine: about 2 minutes (module downloads and
# compile); afterwards nothing is done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../../.." && pwd)

hash=$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)
dir="${ARGO_ARTIFACT_DRIVERS_CACHE:-$HOME/.cache/argo-artifact-drivers}/otelcol-0.165.0-$hash"
collector="$dir/otelcol"
if [ ! -x "$collector" ]; then
  if ! command -v go >/dev/null; then
    # shellcheck source=/dev/null
    source "$repo_root/scripts/toolchain.sh"
    # shellcheck source=/dev/null
    source "$repo_root/scripts/go-toolchain.sh"
  fi
  echo "setup-collector: building the OpenTelemetry Collector (OTLP receiver, file exporter) into $dir" >&2
  mkdir -p "$dir"
  started=$SECONDS
  # auto: a Go older than this module's go directive fetches the newer
  # toolchain from the module proxy (the collector needs Go 1.26).
  (cd "$here" && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go build -trimpath -o "$collector.tmp" .)
  mv "$collector.tmp" "$collector"
  echo "setup-collector: built in $((SECONDS - started)) s" >&2
fi
echo "$collector"
