#!/usr/bin/env bash
# Installs the __name__ driver's test backend, idempotently and fast when it is
# already there, and prints the server's path on its last line (test/global-setup.ts
# starts it). The README's test command runs it on fresh machines, as root.
# BACKEND: install the server here: apt-get (run apt-get update first when the
# package is unknown), pip into a virtualenv in the cache folder, or a pinned
# download checked against its SHA-256; progress goes to stderr. The scaffold's
# backend is a folder, which needs nothing installed: the folder is its "server".
set -euo pipefail

dir="${ARGO_ARTIFACT_DRIVERS_CACHE:-$HOME/.cache/argo-artifact-drivers}/__name__"
mkdir -p "$dir"
echo "$dir"
