#!/usr/bin/env bash
# Tests the images docker/build.sh made:
#
#   docker/test.sh [driver...]     (default: every driver)
#
# 1. the workflow files, with actionlint (built from the Go module proxy, cached)
# 2. structure of every image, every architecture (docker/test/structure.test.mjs):
#    platform, ELF machines, entrypoint, user, contents, sizes against the targets
# 3. the images of the machine's architecture run the way Argo runs them
#    (docker/test/images.test.mjs): time to socket, uid, socket mode, clean log,
#    round trip through an executor container, SIGTERM exit 0
# 4. a second build of one driver with --no-cache gives the same digests
#    (docker/test/reproducible.test.mjs; IMAGE_REPRODUCIBLE_DRIVER, default local)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

drivers=("$@")
if [ ${#drivers[@]} -eq 0 ]; then
  mapfile -t drivers < <(all_drivers)
fi
[ -f "$cache_dir/build-$DRIVER_TAG.env" ] || die "docker/.cache/build-$DRIVER_TAG.env is missing; run docker/build.sh first"
# The build's inputs (timestamps, revision), so that a commit since then
# changes neither the base images' names nor the second build.
set -a
# shellcheck source=/dev/null
source "$cache_dir/build-$DRIVER_TAG.env"
set +a
ensure_podman
platforms=(amd64 arm64)
for driver in "${drivers[@]}"; do
  for arch in "${platforms[@]}"; do
    podman image exists "$(driver_image "$driver")-$arch" ||
      die "$(driver_image "$driver")-$arch is missing; run docker/build.sh first"
  done
done
# The reproducibility test's second build rewrites them.
for kind in setup base app; do
  if [ -f "$cache_dir/timings-$kind.txt" ]; then
    cp "$cache_dir/timings-$kind.txt" "$cache_dir/timings-$kind.first.txt"
  else
    rm -f "$cache_dir/timings-$kind.first.txt"
  fi
done
cd "$repo_root"
if [ ! -f shared/client/dist/main.js ]; then
  pnpm exec turbo run build --filter=./shared/client --output-logs=errors-only >/dev/null
fi

status=0
step "workflow files (actionlint)"
bash "$repo_root/scripts/actionlint.sh" || status=$?

step "testing images: ${drivers[*]} (${platforms[*]})"
results="$cache_dir/test-results.json"
rm -f "$results"
started=$(now_ms)
export IMAGE_TEST_DRIVERS="${drivers[*]}" IMAGE_TEST_PLATFORMS="${platforms[*]}" \
  IMAGE_PREFIX DRIVER_TAG IMAGE_TEST_RESULTS="$results" \
  IMAGE_BASES="amd64=$(base_image amd64) arm64=$(base_image arm64)" IMAGE_BASE_LAYOUT="$cache_dir/oci/base" \
  IMAGE_REPRODUCIBLE_DRIVER="${IMAGE_REPRODUCIBLE_DRIVER:-local}"
node --test --test-concurrency=1 --test-reporter=spec \
  "$docker_dir/test/structure.test.mjs" "$docker_dir/test/images.test.mjs" \
  "$docker_dir/test/reproducible.test.mjs" || status=$?

step "measured (tests took $(seconds_since "$started") s)"
for kind in setup base app; do
  [ -f "$cache_dir/timings-$kind.first.txt" ] && sed "s/^/    last $kind build: /" "$cache_dir/timings-$kind.first.txt"
done
if [ -f "$results" ]; then
  node -e '
    const { drivers = {}, sizes = {} } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`.padStart(9);
    console.log("    image (arch)       uncompressed  gzip     (base + own layers, gzip)");
    for (const [image, size] of Object.entries(sizes)) {
      console.log(`    ${image.padEnd(18)} ${mb(size.uncompressed)}  ${mb(size.compressed)}  (${mb(size.base).trim()} + ${mb(size.own).trim()})`);
    }
    const labels = {
      runToSocketMs: "podman run -> socket exists",
      runToConnectableMs: "podman run -> socket accepts",
      containerStartToServingMs: "container start -> serving (log)",
      bindInProcessMs: "bind inside the process",
      executorSaveMs: "2 Saves from executor containers",
      hostLoadMs: "2 Loads from the host",
      unreachableCallMs: "first call, SDK load + refused",
      stopMs: "podman stop",
    };
    for (const [name, numbers] of Object.entries(drivers)) {
      for (const [key, label] of Object.entries(labels)) {
        if (numbers[key] !== undefined) console.log(`    ${name.padEnd(6)} ${label.padEnd(36)} ${numbers[key]} ms`);
      }
    }' "$results"
fi
exit "$status"
