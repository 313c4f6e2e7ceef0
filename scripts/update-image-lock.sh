#!/usr/bin/env bash
# Rewrites docker/base/packages.lock: the Debian packages of the images'
# runtime base (their newest versions in this machine's apt sources) for amd64
# and arm64, and Node's per-platform npm packages at the version
# scripts/toolchain.sh pins, each with its URL and checksum. docker/rootfs.sh
# downloads exactly these files and refuses any whose checksum differs.
#
#   scripts/update-image-lock.sh      (root, Debian: adds the arm64 architecture to apt)
#
# Commit the new lock; a new lock gives new base layers.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.sh
source "$repo_root/scripts/toolchain.sh"
lock="$repo_root/docker/base/packages.lock"
packages=(libc6 gcc-12-base libgcc-s1 libstdc++6 ca-certificates tzdata)
arches=(amd64 arm64)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq

deb_line() { # <package>:<arch>: "deb name arch version sha256:... url"
  local line url file size sum version arch
  # Architecture-independent packages (ca-certificates, tzdata) have no
  # <package>:<arch> candidate; their "all" .deb serves both.
  line=$(cd /tmp && { apt-get download --print-uris "$1" 2>/dev/null ||
    apt-get download --print-uris "${1%%:*}"; } | tail -n 1)
  read -r url file size sum <<<"$line"
  url=${url//\'/}
  version=$(sed -E 's/^[^_]+_([^_]+)_.*/\1/' <<<"$file")
  version=$(printf '%b' "${version//%/\\x}")
  arch=$(sed -E 's/.*_([^_]+)\.deb$/\1/' <<<"$file")
  echo "deb ${1%%:*} $arch $version sha256:${sum#SHA256:} $url $size"
}

{
  echo "# Inputs of the images' runtime base, verified by docker/rootfs.sh before use."
  echo "# Written by scripts/update-image-lock.sh; do not edit by hand."
  echo "# kind name arch version checksum url size"
  for package in "${packages[@]}"; do
    for arch in "${arches[@]}"; do
      deb_line "$package:$arch"
    done
  done | sort -u
  for arch in "${arches[@]}"; do
    npm_name="node-linux-${arch/amd64/x64}"
    read -r integrity tarball < <(npm view "$npm_name@$NODE_VERSION" dist.integrity dist.tarball --json |
      node -e 'const d = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(d["dist.integrity"], d["dist.tarball"])')
    echo "npm $npm_name $arch $NODE_VERSION $integrity $tarball -"
  done
} >"$lock.new"
mv "$lock.new" "$lock"
echo "wrote ${lock#"$repo_root"/}:"
sed -n '4,$p' "$lock" | awk '{ print "  " $1, $2, $3, $4 }'
