#!/usr/bin/env bash
# The local driver's "backend" is a folder of the plugin's own file system, so
# there is nothing to install: this prints the folder test runs live under,
# like every driver's setup-backend.sh prints its server on its last line.
set -euo pipefail

dir="${ARGO_ARTIFACT_DRIVERS_CACHE:-$HOME/.cache/argo-artifact-drivers}/local"
mkdir -p "$dir"
echo "$dir"
