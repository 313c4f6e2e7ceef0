# Sourced by scripts/test.sh: puts a Go >= 1.25 on PATH (the Go interop tests
# use Argo's module, which needs it) and builds grpcurl into .tools/go/bin.
# Debian 12 ships Go 1.19 only, so when the machine's Go is missing or older,
# that Go fetches the official toolchain from the Go module proxy (as `go`'s
# own toolchain switching does) into .tools/go-toolchain.
GO_TOOLCHAIN=go1.26.8
GRPCURL_VERSION=v1.9.4

go_minor() { go env GOVERSION 2>/dev/null | sed -nE 's/^go1\.([0-9]+).*/\1/p'; }

if [ -x "$tools/go-toolchain/bin/go" ]; then
  export PATH="$tools/go-toolchain/bin:$PATH" GOROOT="$tools/go-toolchain"
elif [ "$(go_minor || echo 0)" -lt 25 ] 2>/dev/null || ! command -v go >/dev/null; then
  if ! command -v go >/dev/null; then
    echo "go-toolchain: installing Debian's golang-go to bootstrap $GO_TOOLCHAIN" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
  fi
  echo "go-toolchain: fetching $GO_TOOLCHAIN from the Go module proxy" >&2
  module="golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64"
  scratch=$(mktemp -d)
  (cd "$scratch" && go mod init bootstrap >/dev/null 2>&1 && GOFLAGS=-mod=mod go mod download "$module")
  rm -rf "$scratch" "$tools/go-toolchain"
  cp -r "$(go env GOMODCACHE)/$module" "$tools/go-toolchain"
  chmod -R u+w,a+rX "$tools/go-toolchain" && chmod +x "$tools/go-toolchain"/bin/* "$tools/go-toolchain"/pkg/tool/*/*
  export PATH="$tools/go-toolchain/bin:$PATH" GOROOT="$tools/go-toolchain"
fi
export GOTOOLCHAIN=local

if [ ! -x "$tools/go/bin/grpcurl" ]; then
  echo "go-toolchain: building grpcurl $GRPCURL_VERSION (a grpc-go reflection client for the tests)" >&2
  GOBIN="$tools/go/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
fi
echo "go-toolchain: $(go version)" >&2
