#!/usr/bin/env bash
# Builds Argo's Go sample S3 plugin (argoproj-labs/artifact-plugin-s3, module
# github.com/pipekit/artifact-plugin-s3) from a local checkout, outside this
# repository, and prints the binary's path on its last line.
#
#   bash bench/go-sample-plugin.sh <checkout or bare git dir of artifact-plugin-s3>
#
# Why a checkout: the Go module proxy does not serve that module (403 "not
# available" for @latest and for its commits), so `go install` cannot fetch it.
# Its generated gRPC package (pkg/artifact) is not committed: its Makefile
# downloads artifact.proto from GitHub and runs protoc. Here the proto comes
# from the argo-workflows module the bench's client uses (v4.0.5, through the
# Go proxy), the google/api protos from grpc-gateway v1.16.0, and the protoc
# plugins at the versions below; protoc itself from apt if it is missing.
set -euo pipefail

source_dir="${1:?usage: go-sample-plugin.sh <checkout of artifact-plugin-s3>}"
commit="$(git -C "$source_dir" rev-parse HEAD)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/argo-artifact-drivers/artifact-plugin-s3-$commit"
binary="$cache/artifact-server"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

if ! command -v protoc >/dev/null; then
  echo "go-sample-plugin: installing protoc (apt protobuf-compiler)" >&2
  apt-get update -qq >&2 && apt-get install -y -qq protobuf-compiler >&2
fi

rm -rf "$cache.tmp" && mkdir -p "$cache.tmp/src" "$cache.tmp/bin"
git -C "$source_dir" archive "$commit" | tar -x -C "$cache.tmp/src"
GOBIN="$cache.tmp/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6 >&2
GOBIN="$cache.tmp/bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1 >&2
go mod download github.com/argoproj/argo-workflows/v4@v4.0.5 github.com/grpc-ecosystem/grpc-gateway@v1.16.0 >&2
modcache="$(go env GOMODCACHE)"

cd "$cache.tmp/src"
mkdir -p proto/google/api pkg/artifact
cp "$modcache/github.com/argoproj/argo-workflows/v4@v4.0.5/pkg/apiclient/artifact/artifact.proto" proto/
cp "$modcache"/github.com/grpc-ecosystem/grpc-gateway@v1.16.0/third_party/googleapis/google/api/{annotations,http}.proto proto/google/api/
chmod -R u+w proto
# The sample's own Makefile commands.
PATH="$cache.tmp/bin:$PATH" protoc -I proto --go_out=pkg/artifact --go_opt=paths=source_relative proto/artifact.proto
PATH="$cache.tmp/bin:$PATH" protoc -I proto --go-grpc_out=pkg/artifact --go-grpc_opt=paths=source_relative proto/artifact.proto
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$cache.tmp/artifact-server" . >&2
cd - >/dev/null
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$binary"
