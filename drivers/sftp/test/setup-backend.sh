#!/usr/bin/env bash
# Installs the test backend for the SFTP driver: Debian's OpenSSH server.
# Idempotent and a fast no-op when sshd is already there.
set -euo pipefail

if [ -x /usr/sbin/sshd ]; then
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "setup-backend: /usr/sbin/sshd is missing; install openssh-server (needs root)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when apt does not know the package yet.
if ! apt-cache show openssh-server >/dev/null 2>&1; then
  apt-get update -qq
fi
# policy-rc.d stops the package from starting a system sshd on port 22.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
