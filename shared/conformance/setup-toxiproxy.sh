#!/usr/bin/env bash
# Installs Toxiproxy (Shopify's TCP fault proxy), idempotently: built from its
# Go module into the test cache folder. The conformance kit's network-fault
# scenarios put it between every driver and its real backend. Needs Go on
# PATH the first time (scripts/go-toolchain.sh); prints the server's path on
# its last line.
set -euo pipefail

TOXIPROXY_VERSION=v2.12.0
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
dir="${ARGO_ARTIFACT_DRIVERS_CACHE:-$HOME/.cache/argo-artifact-drivers}/toxiproxy-$TOXIPROXY_VERSION"
toxiproxy="$dir/toxiproxy-server"
if [ ! -x "$toxiproxy" ]; then
  if ! command -v go >/dev/null; then
    # shellcheck source=/dev/null
    source "$repo_root/scripts/toolchain.sh"
    # shellcheck source=/dev/null
    source "$repo_root/scripts/go-toolchain.sh"
  fi
  echo "setup-toxiproxy: building toxiproxy $TOXIPROXY_VERSION into $dir" >&2
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >&2
  mv "$dir/server" "$toxiproxy"
fi
echo "$toxiproxy"
