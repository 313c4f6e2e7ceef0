#!/usr/bin/env bash
# Builds every driver's image for linux/amd64 and linux/arm64, reproducibly,
# without emulation (--lists, and scripts/push-images.sh for a release, join
# each pair in a manifest list):
#
#   docker/build.sh [--no-cache] [--lists] [--reuse-bundles] [--platforms amd64,arm64] [driver...]
#                                                     (default: every driver)
#
# 1. tools: podman (default; apt-installed when missing) or Docker buildx
#    (CONTAINER_TOOL=docker), curl, llvm-strip
# 2. the runtime base per architecture, localhost/argo-artifact-drivers/runtime:<key>-<arch>
#    (docker/base/Dockerfile over docker/rootfs.sh's tar: pinned, verified .debs
#    and Node; <key> hashes its inputs, so it is rebuilt only when they change)
# 3. the drivers' TypeScript (turbo, cached) and one esbuild bundle per driver
#    (--reuse-bundles: the last build's, docker/.cache/bundles/<driver>)
# 4. drivers/<driver>/Dockerfile (COPY/ADD only) per architecture:
#      localhost/argo-artifact-drivers/<driver>:<tag>-<arch>, and :<tag> for
#      the machine's architecture (<tag>: DRIVER_TAG, default dev)
# 5. --lists: each driver's manifest list with gzip-compressed layers, as a
#    registry holds it, in the OCI layout docker/.cache/oci/<tag> (docker/lists.sh)
#
# Every timestamp is SOURCE_DATE_EPOCH (default: the commit time of HEAD; the
# base's: BASE_EPOCH, the last commit of docker/base and docker/rootfs.sh), so
# the same commit gives the same image digests; --no-cache rebuilds the base
# too (docker/test/reproducible.test.mjs compares). Digests land in
# docker/.cache/digests-<tag>.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

no_cache=false
lists=false
reuse_bundles=false
platforms=(amd64 arm64)
drivers=()
while [ $# -gt 0 ]; do
  case "$1" in
  --no-cache) no_cache=true ;;
  --lists) lists=true ;;
  --reuse-bundles) reuse_bundles=true ;;
  --platforms)
    IFS=, read -r -a platforms <<<"${2:?--platforms needs a list, e.g. amd64,arm64}"
    shift
    ;;
  -h | --help)
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  -*) die "unknown option $1" ;;
  *) drivers+=("$1") ;;
  esac
  shift
done
if [ ${#drivers[@]} -eq 0 ]; then
  mapfile -t drivers < <(all_drivers)
fi
for driver in "${drivers[@]}"; do
  [ -f "$repo_root/drivers/$driver/src/main.ts" ] || die "drivers/$driver/src/main.ts not found"
  [ -f "$repo_root/drivers/$driver/Dockerfile" ] ||
    die "drivers/$driver/Dockerfile not found: copy drivers/local/Dockerfile (every driver uses the same file)"
done
for arch in "${platforms[@]}"; do
  case "$arch" in amd64 | arm64) ;; *) die "unknown platform $arch (amd64, arm64)" ;; esac
done
total_started=$(now_ms)
mkdir -p "$cache_dir"
rm -f "$cache_dir/timings-app.txt" "$cache_dir/timings-base.txt"

step "tools"
ensure_build_tools
note "$(container_tool_version); SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ))"
lock_node=$(awk '$1 == "npm" && $3 == "amd64" { print $4 }' "$lock_file")
[ "$lock_node" = "$NODE_VERSION" ] ||
  die "docker/base/packages.lock pins Node $lock_node, scripts/toolchain.sh $NODE_VERSION: run scripts/update-image-lock.sh"

step "runtime base: ${platforms[*]} (docker/base/packages.lock, BASE_EPOCH=$BASE_EPOCH)"
declare -A rootfs
for arch in "${platforms[@]}"; do
  rootfs[$arch]=$(rootfs_tar "$arch")
  if $no_cache || ! "$CONTAINER_TOOL" image inspect "$(base_image "$arch")" >/dev/null 2>&1; then
    started=$(now_ms)
    if $no_cache || [ ! -f "${rootfs[$arch]}" ]; then
      mkdir -p "$(dirname "${rootfs[$arch]}")"
      SOURCE_DATE_EPOCH=$BASE_EPOCH bash "$docker_dir/rootfs.sh" "$arch" "${rootfs[$arch]}"
    fi
    build_base_image "$arch" "${rootfs[$arch]}"
    timing base "$(base_image "$arch"): $(image_size "$(base_image "$arch")") in $(seconds_since "$started") s"
  else
    note "$(base_image "$arch"): present ($(image_size "$(base_image "$arch")"))"
  fi
done
# Superseded bases (an older lock or script).
find "$cache_dir/rootfs" -name '*.tar' -mmin +60 -delete 2>/dev/null || true
for arch in "${platforms[@]}"; do [ -f "${rootfs[$arch]}" ] && touch "${rootfs[$arch]}"; done

cd "$repo_root"
if $reuse_bundles; then
  step "bundles: ${drivers[*]} (reused: docker/.cache/bundles)"
  for driver in "${drivers[@]}"; do
    [ -f "$cache_dir/bundles/$driver/main.mjs" ] || die "no bundle of $driver to reuse; run docker/build.sh without --reuse-bundles"
  done
else
  step "bundles: ${drivers[*]}"
  started=$(now_ms)
  if [ ! -d node_modules/esbuild ]; then
    note "installing the workspace's dependencies"
    pnpm install --frozen-lockfile --prefer-offline --reporter=silent
  fi
  filters=()
  for driver in "${drivers[@]}"; do filters+=("--filter=./drivers/$driver"); done
  if ! pnpm exec turbo run build "${filters[@]}" --output-logs=errors-only >"$cache_dir/turbo.log" 2>&1; then
    cat "$cache_dir/turbo.log" >&2
    die "the TypeScript build failed"
  fi
  grep -E '^ *(Tasks|Cached):' "$cache_dir/turbo.log" | sed 's/^ */    turbo /' || true
  node "$docker_dir/bundle.mjs" "${drivers[@]}" | sed 's/^/    /'
  timing app "typescript (turbo) + bundles: $(seconds_since "$started") s"
fi

step "driver images: ${platforms[*]}"
revision=${IMAGE_REVISION:-$(git -C "$repo_root" rev-parse HEAD 2>/dev/null || echo unknown)}
digests="$cache_dir/digests-$DRIVER_TAG.txt"
: >"$digests"
# What this build was made from, for docker/test.sh (and its second build):
# a commit landing in between must not change them.
{
  echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
  echo "BASE_EPOCH=$BASE_EPOCH"
  echo "IMAGE_REVISION=$revision"
  [ -n "${IMAGE_VERSION:-}" ] && echo "IMAGE_VERSION=$IMAGE_VERSION"
} >"$cache_dir/build-$DRIVER_TAG.env"
for driver in "${drivers[@]}"; do
  started=$(now_ms)
  # The build context: the bundle as app/, with modes that do not depend on
  # the machine's umask.
  context="$cache_dir/contexts/$driver"
  rm -rf "$context"
  mkdir -p "$context"
  cp -r "$cache_dir/bundles/$driver" "$context/app"
  chmod -R u=rwX,go=rX "$context/app"
  # The bundle's own digest: when a second build differs, this line tells
  # whether the code changed (an edit in the working tree meanwhile).
  echo "$driver bundle sha256:$(cd "$context/app" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)" >>"$digests"
  package_json="$repo_root/drivers/$driver/package.json"
  version=${IMAGE_VERSION:-$(node -p "require(process.argv[1]).version" "$package_json")}
  description=$(node -p "require(process.argv[1]).description ?? ''" "$package_json")
  labels=(
    "io.argo-artifact-drivers.driver=$driver"
    "org.opencontainers.image.title=argo-artifact-driver-$driver"
    "org.opencontainers.image.description=$description"
    "org.opencontainers.image.version=$version"
    "org.opencontainers.image.revision=$revision"
    "org.opencontainers.image.licenses=Apache-2.0"
    "org.opencontainers.image.created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ)"
  )
  [ -n "${IMAGE_SOURCE:-}" ] && labels+=("org.opencontainers.image.source=$IMAGE_SOURCE")
  build_driver_image "$driver" "$context" "${labels[@]}"
  timing app "$(driver_image "$driver"): $(for arch in "${platforms[@]}"; do printf '%s %s  ' "$arch" "$(image_size "$(driver_image "$driver")-$arch")"; done)built in $(seconds_since "$started") s"
done
prune_superseded_images

if $lists; then
  # The lists as a registry would hold them: their digests are what a release
  # publishes. Compressing the base layer for every list takes a while.
  step "manifest lists: docker/.cache/oci/$DRIVER_TAG"
  started=$(now_ms)
  rm -rf "$cache_dir/oci/$DRIVER_TAG"
  bash "$docker_dir/lists.sh" "$cache_dir/oci/$DRIVER_TAG" "${drivers[@]}" | tee -a "$digests" | sed 's/^/    /'
  timing app "manifest lists (gzip-compressed layers): $(seconds_since "$started") s"
fi

step "done in $(seconds_since "$total_started") s"
echo "build.sh ${drivers[*]} (${platforms[*]}): $(seconds_since "$total_started") s in all" >>"$cache_dir/timings-app.txt"
sed 's/^/    /' "$digests"
