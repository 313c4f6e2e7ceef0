#!/usr/bin/env bash
# Installs what the registration manifest tests (shared/client) need into
# .tools/go/bin: kustomize, built from the Go module proxy, and
# check-manifests, built from this folder. Needs Go >= 1.25 on PATH (source
# scripts/go-toolchain.sh first). Idempotent; prints the kustomize path on its
# last line.
set -euo pipefail
# v5.8.3 and later need Go 1.27; scripts/go-toolchain.sh installs 1.26.
KUSTOMIZE_VERSION=v5.8.2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="$repo/.tools/go/bin"
mkdir -p "$bin"
command -v go >/dev/null || { echo "setup.sh: go is not on PATH; run: source scripts/go-toolchain.sh" >&2; exit 2; }

if [ "$("$bin/kustomize" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]; then
  echo "manifests-go: building kustomize $KUSTOMIZE_VERSION" >&2
  GOBIN="$bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
# Cached by Go's build cache: a second run costs well under a second.
(cd "$here" && go build -o "$bin/check-manifests" .)
echo "$bin/kustomize"
