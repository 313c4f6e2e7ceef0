#!/usr/bin/env bash
# Regenerates artifactpb/ (Go messages and grpc-go client) from the
# repository's proto/artifact.proto with buf from node_modules and the code
# generators named in buf.gen.yaml, fetched through the Go module proxy.
# With --check, generates into a temporary folder and fails if the committed
# code differs (artifactpb's TestGeneratedCodeIsCurrent runs this).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
buf="$repo/node_modules/.bin/buf"
if [ ! -x "$buf" ]; then
  echo "generate.sh: $buf is missing; run pnpm install at the repository root" >&2
  exit 2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$here"
"$buf" generate "$repo/proto" --template buf.gen.yaml --output "$out"
if [ "${1:-}" = "--check" ]; then
  if ! diff -r --exclude='*_test.go' artifactpb "$out/artifactpb"; then
    echo "generate.sh: artifactpb/ is stale: run shared/interop-go/generate.sh and commit the result" >&2
    exit 1
  fi
  echo "artifactpb/ is up to date"
else
  cp "$out"/artifactpb/*.go artifactpb/
  echo "wrote $(cd "$out/artifactpb" && echo *.go) to shared/interop-go/artifactpb"
fi
