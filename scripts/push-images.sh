#!/usr/bin/env bash
# Pushes the images docker/build.sh made (DRIVER_TAG) to a registry, one
# manifest list per driver with its linux/amd64 and linux/arm64 images:
#
#   scripts/push-images.sh <registry/namespace> [extra-tag...]
#     -> <registry/namespace>/argo-artifact-drivers/<driver>:<DRIVER_TAG> and :<extra-tag>
#   scripts/push-images.sh oci:<dir> [extra-tag...]      (a dry run into an OCI layout)
#
# Every driver but local (UNPUBLISHED_DRIVERS, a grep pattern). Log in first
# (podman login). Prints one JSON line per driver: image, tags,
# the list's digest and each architecture's image digest (what release.yml
# signs and attests). Lists are OCI image indexes with gzip-compressed layers,
# the same bytes build.sh put in docker/.cache/oci/<tag>, so the digests are too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/lib.sh"
destination=${1:?usage: scripts/push-images.sh <registry/namespace> [extra-tag...]}
shift
extra_tags=("$@")
platforms=(amd64 arm64)
[ "$CONTAINER_TOOL" = podman ] || die "pushing needs podman (CONTAINER_TOOL=$CONTAINER_TOOL)"
ensure_podman >&2
# local is the reference driver, a model and a test of the core: not published.
mapfile -t drivers < <(all_drivers | grep -vx "${UNPUBLISHED_DRIVERS:-local}")
[[ $destination == oci:* ]] && mkdir -p "${destination#oci:}"
for driver in "${drivers[@]}"; do
  # The names the driver index and the README use: argo-artifact-drivers/<driver>.
  repository="$destination/argo-artifact-drivers/$driver"
  target() {
    if [[ $destination == oci:* ]]; then
      mkdir -p "$(dirname "${repository#oci:}")"
      echo "$repository-$1"
    else
      echo "docker://$repository:$1"
    fi
  }
  digest=$(push_driver_list "$driver" "$(target "$DRIVER_TAG")")
  for tag in "${extra_tags[@]}"; do
    [ "$(push_driver_list "$driver" "$(target "$tag")")" = "$digest" ] ||
      die "$repository:$tag got another digest than :$DRIVER_TAG"
  done
  index=$(node -e '
    const { readFileSync } = require("fs");
    const [layout, ref] = process.argv.slice(1);
    const top = JSON.parse(readFileSync(`${layout}/index.json`, "utf8"));
    const entry = top.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref);
    if (!entry) process.exit(1);
    console.log(entry.digest);
    for (const m of JSON.parse(readFileSync(`${layout}/blobs/${entry.digest.replace(":", "/")}`, "utf8")).manifests)
      console.log(`${m.platform.architecture} ${m.digest}`);
  ' "$cache_dir/oci/$DRIVER_TAG" "$driver") || die "docker/.cache/oci/$DRIVER_TAG has no $driver list; run docker/build.sh"
  [ "$(head -n 1 <<<"$index")" = "$digest" ] ||
    die "$repository:$DRIVER_TAG has digest $digest, the local build $(head -n 1 <<<"$index")"
  node -e '
    const [driver, image, digest, tags, platforms] = process.argv.slice(1);
    console.log(JSON.stringify({
      driver, image, digest, tags: tags.split(" ").filter(Boolean),
      platforms: Object.fromEntries(platforms.trim().split("\n").map((line) => line.split(" "))),
    }));
  ' "$driver" "$repository" "$digest" "$DRIVER_TAG ${extra_tags[*]}" "$(tail -n +2 <<<"$index")"
done
