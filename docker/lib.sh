# Sourced by docker/build.sh and docker/test.sh: names, the Node toolchain,
# podman and its settings for this kind of machine.

docker_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$docker_dir/.." && pwd)
cache_dir="$docker_dir/.cache"

# shellcheck source=../scripts/toolchain.sh
source "$repo_root/scripts/toolchain.sh"

IMAGE_PREFIX=localhost/argo-artifact-drivers
DEBIAN_SUITE=bookworm
DEBIAN_IMAGE="$IMAGE_PREFIX/debian:$DEBIAN_SUITE-minbase"
NODE_IMAGE="$IMAGE_PREFIX/node:$NODE_VERSION"
# DRIVER_TAG=v1.2.3 docker/build.sh tags a release instead of :dev.
DRIVER_TAG=${DRIVER_TAG:-dev}
# Argo's own images run as this uid; the driver images do too.
PLUGIN_UID=8737

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
# A note that is also kept for docker/test.sh's summary of measured numbers.
timing() {
  note "$2"
  echo "$2" >>"$cache_dir/timings-$1.txt"
}
now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# Every folder under drivers/ with a src/main.ts is a plugin with an image.
all_drivers() {
  local main
  for main in "$repo_root"/drivers/*/src/main.ts; do
    [ -e "$main" ] && basename "$(dirname "$(dirname "$main")")"
  done
}

driver_image() { echo "$IMAGE_PREFIX/$1:$DRIVER_TAG"; }

# Podman needs two settings on these machines: runc (crun refuses the hybrid
# cgroup layout) and a nofile limit within the hard limit (podman's default is
# above it). The limit is the machine's, so the file is written per run.
configure_podman() {
  mkdir -p "$cache_dir"
  local nofile
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  sed "s/@NOFILE@/$nofile/g" "$docker_dir/containers.conf" >"$cache_dir/containers.conf"
  export CONTAINERS_CONF="$cache_dir/containers.conf"
}

ensure_podman() {
  local missing=() tool
  for tool in podman buildah runc newuidmap slirp4netns debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root to install them with apt"
    step "installing podman and friends with apt (missing: ${missing[*]})"
    local started
    started=$(now_ms)
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      podman buildah runc uidmap slirp4netns debootstrap >/dev/null
    mkdir -p "$cache_dir"
    timing setup "apt-get install podman buildah runc uidmap slirp4netns debootstrap: $(seconds_since "$started") s"
  fi
  configure_podman
}

image_size() { podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
