#!/usr/bin/env bash
# Tests the images docker/build.sh made, the way Argo runs them:
#
#   docker/test.sh [driver...]     (default: every driver)
#
# For each image: time from `podman run` to the socket, the process's uid, the
# socket's mode, a clean start-up log, SIGTERM handling; for local a Save/Load
# round trip from an executor container running as another uid; for drivers
# with an entry in docker/test/images.test.mjs a first call that loads the SDK.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

drivers=("$@")
if [ ${#drivers[@]} -eq 0 ]; then
  mapfile -t drivers < <(all_drivers)
fi
ensure_podman
for driver in "${drivers[@]}"; do
  podman image exists "$(driver_image "$driver")" ||
    die "$(driver_image "$driver") is missing; run docker/build.sh first"
done
cd "$repo_root"
if [ ! -f shared/client/dist/main.js ]; then
  pnpm exec turbo run build --filter=./shared/client --output-logs=errors-only >/dev/null
fi

step "testing images: ${drivers[*]}"
results="$cache_dir/test-results.json"
rm -f "$results"
started=$(now_ms)
status=0
IMAGE_TEST_DRIVERS="${drivers[*]}" NODE_IMAGE="$NODE_IMAGE" IMAGE_PREFIX="$IMAGE_PREFIX" \
  DRIVER_TAG="$DRIVER_TAG" IMAGE_TEST_RESULTS="$results" \
  node --test --test-concurrency=1 --test-reporter=spec "$docker_dir/test/images.test.mjs" || status=$?

step "measured (tests took $(seconds_since "$started") s)"
for driver in "${drivers[@]}"; do
  note "$(driver_image "$driver"): $(image_size "$(driver_image "$driver")")"
done
note "$NODE_IMAGE: $(image_size "$NODE_IMAGE"), $DEBIAN_IMAGE: $(image_size "$DEBIAN_IMAGE")"
for kind in setup base app; do
  [ -f "$cache_dir/timings-$kind.txt" ] && sed "s/^/    last $kind build: /" "$cache_dir/timings-$kind.txt"
done
if [ -f "$results" ]; then
  node -e '
    const { drivers } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
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
