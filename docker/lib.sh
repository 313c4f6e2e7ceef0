# Sourced by docker/build.sh and docker/test.sh: names, the Node toolchain,
# the container tool (podman, or Docker buildx) and its settings.

docker_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$docker_dir/.." && pwd)
cache_dir="$docker_dir/.cache"
lock_file="$docker_dir/base/packages.lock"

# shellcheck source=../scripts/toolchain.sh
source "$repo_root/scripts/toolchain.sh"

IMAGE_PREFIX=${IMAGE_PREFIX:-localhost/argo-artifact-drivers}
# DRIVER_TAG=1.2.3 docker/build.sh tags a release instead of :dev.
DRIVER_TAG=${DRIVER_TAG:-dev}
# Argo's own images run as this uid; the driver images do too.
PLUGIN_UID=8737
# One timestamp for every file, layer and config of the driver layers: the
# commit's. The runtime base takes the time of the last commit that changed
# what it is made of, so its layer (nearly all of an image's bytes) stays the
# same from one release to the next until the lock changes.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$repo_root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
if [ -z "${BASE_EPOCH:-}" ]; then
  BASE_EPOCH=$(git -C "$repo_root" log -1 --format=%ct -- docker/base docker/rootfs.sh 2>/dev/null || true)
  BASE_EPOCH=${BASE_EPOCH:-$SOURCE_DATE_EPOCH}
fi
# podman unless told otherwise or only Docker is there.
if [ -z "${CONTAINER_TOOL:-}" ]; then
  if command -v podman >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    CONTAINER_TOOL=podman
  else
    CONTAINER_TOOL=docker
  fi
fi

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

# The manifest list; each architecture's image is tagged <list>-<arch>.
driver_image() { echo "$IMAGE_PREFIX/$1:$DRIVER_TAG"; }

# What the runtime base is made of, as a short hash: it names the cached tar
# and the base image, which are rebuilt only when it changes.
base_key() {
  {
    cat "$lock_file" "$docker_dir/rootfs.sh" "$docker_dir/base/Dockerfile"
    echo "$BASE_EPOCH"
    llvm-strip --version 2>/dev/null | head -n 1
  } | sha256sum | cut -c1-16
}
rootfs_tar() { echo "$cache_dir/rootfs/$1-$(base_key).tar"; }
base_image() { echo "$IMAGE_PREFIX/runtime:$(base_key)-$1"; }

# <arch> <rootfs.tar>: the runtime base image of one architecture, built
# without the layer cache (buildah's cache matched layers of other contents
# and timestamps), every file and date set to BASE_EPOCH.
build_base_image() {
  local arch=$1 tar=$2 context base_ref
  base_ref=$(base_image "$arch")
  context="$cache_dir/contexts/base-$arch"
  rm -rf "$context"
  mkdir -p "$context"
  ln "$tar" "$context/rootfs-$arch.tar" 2>/dev/null || cp "$tar" "$context/rootfs-$arch.tar"
  if [ "$CONTAINER_TOOL" = docker ]; then
    docker buildx build --quiet --platform "linux/$arch" --network=none --no-cache \
      --build-arg "SOURCE_DATE_EPOCH=$BASE_EPOCH" \
      --output "type=docker,name=$(base_image "$arch"),rewrite-timestamp=true" \
      -f "$docker_dir/base/Dockerfile" "$context" >/dev/null
  else
    podman build --pull=never --network=none --quiet --no-cache --platform "linux/$arch" \
      --timestamp "$BASE_EPOCH" --label io.argo-artifact-drivers.base=runtime \
      -f "$docker_dir/base/Dockerfile" -t "$(base_image "$arch")" "$context" >/dev/null
    # Its layer gzip-compressed, as a registry stores it: the size users
    # download (docker/test/structure.test.mjs reads it).
    # Pushed once per key: the same inputs give the same layer.
    if ! grep -qs "\"${base_ref#*:}\"" "$cache_dir/oci/base/index.json"; then
      mkdir -p "$cache_dir/oci/base"
      podman push --quiet "$(base_image "$arch")" "oci:$cache_dir/oci/base:${base_ref#*:}" >/dev/null
    fi
  fi
  rm -rf "$context"
}

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

apt_install() {
  [ "$(id -u)" = 0 ] || die "missing $*; install them (Debian/Ubuntu: apt-get install $*) or run as root"
  local started
  started=$(now_ms)
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  mkdir -p "$cache_dir"
  timing setup "apt-get install $*: $(seconds_since "$started") s"
}

ensure_podman() {
  [ "$CONTAINER_TOOL" = podman ] || return 0
  local missing=() tool
  for tool in podman buildah runc newuidmap slirp4netns; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing podman and friends with apt (missing: ${missing[*]})"
    apt_install podman buildah runc uidmap slirp4netns
  fi
  configure_podman
}

ensure_build_tools() {
  if [ "$CONTAINER_TOOL" = docker ]; then
    docker buildx version >/dev/null 2>&1 || die "CONTAINER_TOOL=docker needs Docker with buildx"
  else
    ensure_podman
  fi
  local packages=()
  command -v curl >/dev/null 2>&1 || packages+=(curl)
  command -v llvm-strip >/dev/null 2>&1 || compgen -c llvm-strip- >/dev/null || packages+=(llvm)
  if [ ${#packages[@]} -gt 0 ]; then apt_install "${packages[@]}"; fi
}

container_tool_version() {
  if [ "$CONTAINER_TOOL" = docker ]; then
    docker buildx version
  else
    echo "$(podman --version), CONTAINERS_CONF=${CONTAINERS_CONF#"$repo_root"/}"
  fi
}

# <driver> <context> <label>...: one image per architecture, <tag>-<arch>;
# <tag> itself names the machine's architecture's image, the one to run here.
build_driver_image() {
  local driver=$1 context=$2 image arch args=() label
  shift 2
  image=$(driver_image "$driver")
  for label in "$@"; do args+=(--label "$label"); done
  for arch in "${platforms[@]}"; do
    if [ "$CONTAINER_TOOL" = docker ]; then
      # BuildKit: SOURCE_DATE_EPOCH for the config and history,
      # rewrite-timestamp for the files in the layers.
      docker buildx build --quiet --platform "linux/$arch" --network=none --no-cache \
        --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" --build-arg "BASE_IMAGE=$(base_image "$arch")" "${args[@]}" \
        --output "type=docker,name=$image-$arch,rewrite-timestamp=true" \
        -f "$repo_root/drivers/$driver/Dockerfile" "$context" >/dev/null
    else
      # --timestamp sets the config's and history's dates and every new
      # file's mtime; no layer cache (see build_base_image); the bundle's
      # layer is small.
      podman build --pull=never --network=none --quiet --no-cache --platform "linux/$arch" \
        --timestamp "$SOURCE_DATE_EPOCH" --build-arg "BASE_IMAGE=$(base_image "$arch")" "${args[@]}" \
        -f "$repo_root/drivers/$driver/Dockerfile" -t "$image-$arch" "$context" >/dev/null
    fi
    echo "$driver $arch image $("$CONTAINER_TOOL" image inspect --format '{{.Id}}' "$image-$arch")" >>"$digests"
    if [ "$arch" = "$(machine_arch)" ]; then
      "$CONTAINER_TOOL" tag "$image-$arch" "$image"
    fi
  done
}

machine_arch() {
  case "$(uname -m)" in
  x86_64) echo amd64 ;;
  aarch64 | arm64) echo arm64 ;;
  *) uname -m ;;
  esac
}

# <driver> <destination>: the driver's per-architecture images joined in a
# manifest list (OCI image index) and copied with their layers, gzip-compressed
# as a registry stores them, to <destination> (oci:<dir>:<name>, or
# docker://<registry>/<repository>:<tag>). Prints the list's digest. The list
# is made for the copy and removed after it: podman 4's lists in local storage
# break when their images are rebuilt.
push_driver_list() {
  local driver=$1 destination=$2 list digestfile arch
  list="localhost/argo-artifact-drivers-list/$driver:$$"
  digestfile=$(mktemp)
  podman manifest rm "$list" >/dev/null 2>&1 || true
  podman manifest create "$list" >/dev/null
  for arch in "${platforms[@]}"; do
    podman manifest add "$list" "containers-storage:$(driver_image "$driver")-$arch" >/dev/null
  done
  podman manifest push --all --quiet --format oci --digestfile "$digestfile" "$list" "$destination" ||
    { podman manifest rm "$list" >/dev/null; rm -f "$digestfile"; return 1; }
  podman manifest rm "$list" >/dev/null
  cat "$digestfile"
  rm -f "$digestfile"
}

# Earlier builds of the same tags, now untagged, and the bases of the
# debootstrap-era images.
prune_superseded_images() {
  [ "$CONTAINER_TOOL" = podman ] || return 0
  podman image prune --force --filter "label=io.argo-artifact-drivers.driver" >/dev/null 2>&1 || true
  podman image prune --force --filter "label=io.argo-artifact-drivers.base" >/dev/null 2>&1 || true
  local image keep=" $(base_image amd64) $(base_image arm64) "
  for image in $(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$IMAGE_PREFIX/runtime"); do
    [[ $keep == *" $image "* ]] || podman rmi "$image" >/dev/null 2>&1 || true
  done
  local old
  for old in "$IMAGE_PREFIX/node" "$IMAGE_PREFIX/debian"; do
    podman images --quiet --filter "reference=$old" | xargs -r podman rmi --force >/dev/null 2>&1 || true
  done
}

image_size() { "$CONTAINER_TOOL" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
