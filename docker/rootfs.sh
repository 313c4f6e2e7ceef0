#!/usr/bin/env bash
# Writes the runtime base of the driver images for one architecture as a tar:
#
#   docker/rootfs.sh <amd64|arm64> <out.tar>      (SOURCE_DATE_EPOCH: every mtime)
#
# A distroless-style root file system made only from the files pinned in
# docker/base/packages.lock, each verified against its checksum: the Debian
# packages Node needs (libc6, libgcc-s1, libstdc++6), the CA bundle
# (ca-certificates) and time zones (tzdata), unpacked with dpkg-deb -x (no
# maintainer scripts run, so no emulation is needed for another architecture),
# plus the official node binary from npm's node-linux-<arch> package. No shell,
# no package manager; users root, nobody and argo (uid/gid 8737); /tmp 1777.
# The same inputs and SOURCE_DATE_EPOCH give the same bytes.
set -euo pipefail
docker_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock="$docker_dir/base/packages.lock"
downloads="$docker_dir/.cache/downloads"
arch=${1:?usage: docker/rootfs.sh <amd64|arm64> <out.tar>}
out=${2:?usage: docker/rootfs.sh <amd64|arm64> <out.tar>}
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set (docker/build.sh uses the commit time)}"
case "$arch" in
amd64) triplet=x86_64-linux-gnu ;;
arm64) triplet=aarch64-linux-gnu ;;
*) echo "error: unknown architecture $arch (amd64 or arm64)" >&2 && exit 1 ;;
esac
die() {
  echo "error: $*" >&2
  exit 1
}

# <url> <checksum>: the cached download, fetched once and verified every time.
fetch() {
  local url=$1 checksum=$2 file actual
  file="$downloads/$(basename "$url")"
  mkdir -p "$downloads"
  if [ ! -f "$file" ]; then
    curl --fail --silent --show-error --location --retry 3 --output "$file.part" "$url" ||
      die "could not download $url (a mirror that no longer has this version: run scripts/update-image-lock.sh)"
    mv "$file.part" "$file"
  fi
  case "$checksum" in
  sha256:*) actual="sha256:$(sha256sum "$file" | cut -d' ' -f1)" ;;
  sha512-*) actual="sha512-$(openssl dgst -sha512 -binary "$file" | base64 -w0)" ;;
  *) die "unknown checksum $checksum in ${lock#"$docker_dir"/}" ;;
  esac
  if [ "$actual" != "$checksum" ]; then
    rm -f "$file"
    die "$url has checksum $actual, but docker/base/packages.lock pins $checksum; the download was removed"
  fi
  echo "$file"
}

strip_tool() {
  local tool
  for tool in llvm-strip llvm-strip-{20,19,18,17,16,15,14}; do
    command -v "$tool" >/dev/null 2>&1 && echo "$tool" && return
  done
  die "llvm-strip not found (Debian and Ubuntu: apt-get install llvm)"
}
strip_tool >/dev/null

root=$(mktemp -d "${TMPDIR:-/tmp}/argo-drivers-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/status.d"
found_node=false
while read -r kind name entry_arch version checksum url _size; do
  case "$kind" in '' | '#'*) continue ;; esac
  [ "$entry_arch" = "$arch" ] || [ "$entry_arch" = all ] || continue
  file=$(fetch "$url" "$checksum")
  case "$kind" in
  deb)
    dpkg-deb -x "$file" "$root"
    # What SBOM scanners (syft, trivy) read to list the packages of a
    # distroless image: one control file per package.
    dpkg-deb -f "$file" >"$root/var/lib/dpkg/status.d/$name"
    ;;
  npm)
    mkdir -p "$root/usr/local/bin" "$root/usr/local/share/doc/node"
    tar -xzf "$file" -O package/bin/node >"$root/node.unstripped"
    # The official binary carries its symbol table and debug sections (18 of
    # its 127 MB, 4 MB gzip-compressed); nothing in a container reads them.
    # llvm-strip handles both architectures' ELF files, GNU strip only the
    # machine's; the build ID stays.
    "$(strip_tool)" --strip-all -o "$root/usr/local/bin/node" "$root/node.unstripped"
    rm "$root/node.unstripped"
    chmod 0755 "$root/usr/local/bin/node"
    tar -xzf "$file" -O package/LICENSE >"$root/usr/local/share/doc/node/LICENSE"
    printf 'Package: node\nVersion: %s\nSource: npm %s@%s (%s), bin/node stripped with %s\n' \
      "$version" "$name" "$version" "$checksum" "$("$(strip_tool)" --version | grep -o 'LLVM version [0-9.]*')" \
      >"$root/usr/local/share/doc/node/ORIGIN"
    found_node=true
    ;;
  *) die "unknown kind $kind in docker/base/packages.lock" ;;
  esac
done <"$lock"
$found_node || die "docker/base/packages.lock has no node package for $arch"

# ca-certificates' postinst would write the bundle; it is the Mozilla
# certificates concatenated, which is what update-ca-certificates does.
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort |
  xargs cat >"$root/etc/ssl/certs/ca-certificates.crt"
[ -s "$root/etc/ssl/certs/ca-certificates.crt" ] || die "no certificates in ca-certificates"

# Nothing at run time reads these: iconv modules (Node converts with ICU),
# leap-second time zones, the packages' scripts, manuals, translations,
# lintian overrides and docs other than the copyright files (kept: licences).
rm -rf "$root/usr/lib/$triplet/gconv" "$root/usr/share/zoneinfo/right" \
  "$root/usr/sbin" "$root/usr/bin" "$root/sbin" "$root/bin" \
  "$root/usr/share/man" "$root/usr/share/locale" "$root/usr/share/lintian" \
  "$root/usr/share/info" "$root/usr/share/ca-certificates" "$root/usr/lib/$triplet/audit" \
  "$root/etc/ld.so.conf.d" "$root/usr/share/gcc" "$root/usr/share/gdb" \
  "$root/usr/share/doc/ca-certificates/examples" "$root/etc/ca-certificates"
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -path '*/doc/node/*' -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
argo:x:8737:8737:argo:/nonexistent:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
argo:x:8737:
GROUP
# /etc/hosts first (Kubernetes' hostAliases), then DNS; glibc's default asks DNS first.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
# Scanners match the Debian packages against Debian's advisories by this.
cat >"$root/etc/os-release" <<'OSRELEASE'
PRETTY_NAME="argo-artifact-drivers runtime (Debian 12 packages, distroless)"
NAME="Debian GNU/Linux"
ID=debian
VERSION_ID="12"
VERSION_CODENAME=bookworm
HOME_URL="https://github.com/argo-artifact-drivers"
OSRELEASE
mkdir -p "$root/tmp" "$root/root" "$root/app"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
chmod 0755 "$root" "$root/app"

# Every entry: name order, owner root, one mtime, no atime/ctime, no PAX
# headers naming the process.
tar --create --file "$out.part" --directory "$root" \
  --sort=name --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  .
mv "$out.part" "$out"
