#!/usr/bin/env bash
# Joins each driver's linux/amd64 and linux/arm64 images (DRIVER_TAG) in a
# manifest list and writes it, with its layers gzip-compressed as a registry
# stores them, to an OCI image layout (one ref per driver):
#
#   docker/lists.sh <layout-dir> [driver...]      (default: every driver)
#
# Prints "<driver> list <digest>" per driver: the digest a registry would
# give the list (scripts/push-images.sh pushes the same bytes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
layout=${1:?usage: docker/lists.sh <layout-dir> [driver...]}
shift
drivers=("$@")
if [ ${#drivers[@]} -eq 0 ]; then
  mapfile -t drivers < <(all_drivers)
fi
platforms=(amd64 arm64)
ensure_podman
mkdir -p "$layout"
for driver in "${drivers[@]}"; do
  echo "$driver list $(push_driver_list "$driver" "oci:$layout:$driver")"
done
