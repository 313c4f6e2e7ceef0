#!/usr/bin/env bash
# Installs the WebDAV test servers: Debian's Apache httpd (mod_dav_fs, mod_ssl,
# digest authentication) with its htpasswd, Debian's rclone (`rclone serve
# webdav`), and openssl for the test certificates. Idempotent and a fast no-op
# when they are there. The packages start no service (no init system runs
# here; policy-rc.d keeps it so where one does). Prints the path of rclone,
# then the path of apache2 on the last line.
set -euo pipefail

missing=()
[ -x /usr/sbin/apache2 ] || missing+=(apache2)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v rclone >/dev/null || missing+=(rclone)
command -v openssl >/dev/null || missing+=(openssl)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "setup-backend: ${missing[*]} missing; install them with apt-get (needs root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when apt does not know the packages yet.
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >&2
  fi
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  echo "setup-backend: installing ${missing[*]} from Debian" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
fi

for module in mod_dav mod_dav_fs mod_ssl mod_auth_digest mod_socache_shmcb; do
  [ -f "/usr/lib/apache2/modules/$module.so" ] || {
    echo "setup-backend: /usr/lib/apache2/modules/$module.so is missing" >&2
    exit 1
  }
done
command -v rclone
echo /usr/sbin/apache2
