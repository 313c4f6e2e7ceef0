#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint (syntax, expressions, action
# inputs, and the shell of every run: step through shellcheck when present).
# actionlint is built once from the Go module proxy into .tools/go/bin.
#
#   scripts/actionlint.sh
set -euo pipefail
ACTIONLINT_VERSION=v1.7.12
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.sh
source "$repo_root/scripts/toolchain.sh"
actionlint="$tools/go/bin/actionlint-$ACTIONLINT_VERSION"
if [ ! -x "$actionlint" ]; then
  # shellcheck source=go-toolchain.sh
  source "$repo_root/scripts/go-toolchain.sh"
  echo "actionlint: building $ACTIONLINT_VERSION from the Go module proxy" >&2
  scratch=$(mktemp -d)
  GOBIN="$scratch" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  mkdir -p "$tools/go/bin"
  mv "$scratch/actionlint" "$actionlint"
  rm -rf "$scratch"
fi
# actionlint checks every run: script with shellcheck when it is on PATH.
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "actionlint: installing shellcheck with apt" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; }
fi
command -v shellcheck >/dev/null 2>&1 || echo "actionlint: no shellcheck; run: scripts are not checked" >&2
cd "$repo_root"
"$actionlint" -no-color .github/workflows/*.yml
echo "actionlint $ACTIONLINT_VERSION: $(ls .github/workflows/*.yml | wc -l) workflow files, no findings"
