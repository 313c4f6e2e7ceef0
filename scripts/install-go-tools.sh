#!/usr/bin/env bash
# Go-built test tools, into .tools/go/bin (git-ignored): grpcurl, a real
# grpc-go reflection client used by the reflection test.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
GRPCURL_VERSION=v1.9.4
if ! command -v go >/dev/null; then
  echo "install-go-tools: Go is missing; installing Debian's golang-go" >&2
  apt-get update -qq && apt-get install -y -qq golang-go >/dev/null
fi
if [ ! -x "$repo_root/.tools/go/bin/grpcurl" ]; then
  echo "install-go-tools: building grpcurl $GRPCURL_VERSION" >&2
  GOBIN="$repo_root/.tools/go/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
fi
