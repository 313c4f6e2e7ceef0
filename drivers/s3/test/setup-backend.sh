#!/usr/bin/env bash
# Installs the S3 test backend, moto server, into a private virtualenv.
# Idempotent and fast when the pinned version is already there; prints the
# path of the moto_server executable on its last line.
set -euo pipefail

MOTO_VERSION=5.2.5
dir="${ARGO_ARTIFACT_DRIVERS_CACHE:-$HOME/.cache/argo-artifact-drivers}/moto-$MOTO_VERSION"
server="$dir/bin/moto_server"

if [ -x "$server" ] && [ -f "$dir/.installed" ]; then
  echo "$server"
  exit 0
fi

if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1 ||
  ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "setup-backend: installing Debian's python3 and python3-venv (moto server is Python)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-cache show python3-venv >/dev/null 2>&1 || apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
fi
python=$(command -v python3)

echo "setup-backend: installing moto[server]==$MOTO_VERSION into $dir" >&2
rm -rf "$dir"
"$python" -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
touch "$dir/.installed"
echo "$server"
