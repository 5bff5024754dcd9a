#!/usr/bin/env bash
# Builds the .deb and installs it on a clean Debian 12 (a debootstrap minbase root, in a chroot)
# with apt, so that apt resolves the package's declared dependencies from the Debian archive:
# a dependency missing from Depends, or one that only a -dev package provides, fails here.
# Then it checks the binary, the man page, the conffile and the systemd units, and releases
# 100 ids against `koorelease mock --plain` on 127.0.0.1 inside the chroot.
#
#   sudo bash scripts/check-deb.sh          # prints "check-deb: PASS" or "check-deb: FAIL: why"
#
# Needs root (debootstrap, chroot, mounts) and Debian's package mirror (the one in the
# machine's apt sources). The minbase root is downloaded once (88 packages, 32 MB, plus the
# archive's index; 206 MB unpacked; 95 s here) and kept in $KOORELEASE_DEB_CACHE (default
# /var/cache/koorelease-check-deb); every run installs into a fresh copy of it (build-deb/chroot,
# left for inspection), so each run sees a clean system. Remove the cache to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

build_dir=$repo/build-deb
cache=${KOORELEASE_DEB_CACHE:-/var/cache/koorelease-check-deb}
base=$cache/bookworm-minbase
root=$build_dir/chroot
mock_pid=
stage="starting"
started=$SECONDS

say() { echo "check-deb: $*"; }
failed=
fail() { say "FAIL: $*"; failed=1; exit 1; }

# Unmount what this run mounted in the working root, always (also on failure or Ctrl-C), and
# only then remove it; --one-file-system keeps rm out of anything still mounted.
cleanup() {
  local code=$?
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  exec 3<&- 2>/dev/null || true
  for m in dev/pts dev proc; do
    if mountpoint -q "$root/$m" 2>/dev/null; then umount "$root/$m" || umount -l "$root/$m"; fi
  done
  if [ "$code" -ne 0 ] && [ -z "$failed" ]; then say "FAIL: $stage (exit $code)"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { say "FAIL: run as root (debootstrap, chroot and mounts need it)"; exit 2; }

# The mirror of the machine's apt sources (one-line .list or deb822 .sources), else Debian's.
mirror_of() {  # $1: regex the URI must end with
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v '^[[:space:]]*#' | grep -oE '(https?|file)://[^[:space:]]+' | sed 's:/*$::' \
    | grep -E "$1\$" | head -n 1 || true
}
mirror=$(mirror_of '/debian')
mirror=${mirror:-http://deb.debian.org/debian}
security=$(mirror_of '/debian-security')

stage="installing the host's tools"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v cpack >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 1. The package, from a Release build of its own, or from the existing Release build named by
# KOORELEASE_DEB_BUILD (CI passes the one its tests used, to save a build).
stage="building the package"
t=$SECONDS
pkg_build=${KOORELEASE_DEB_BUILD:-$build_dir}
if [ -n "${KOORELEASE_DEB_BUILD:-}" ]; then
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$pkg_build/CMakeCache.txt" 2>/dev/null || true)
  [ "$type" = Release ] || fail "KOORELEASE_DEB_BUILD=$pkg_build is not a configured Release build"
else
  cmake -S . -B "$pkg_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKOORELEASE_TESTS=OFF >/dev/null
fi
cmake --build "$pkg_build" -j "$(nproc)" --target koorelease koorelease_man
rm -f "$pkg_build"/koorelease_*.deb
(cd "$pkg_build" && cpack -G DEB >/dev/null)
mkdir -p "$build_dir"
deb=$(ls "$pkg_build"/koorelease_*.deb)
say "built $(basename "$deb") in $((SECONDS - t)) s; Depends: $(dpkg-deb -f "$deb" Depends)"
if dpkg-deb -f "$deb" Depends | grep -q -- '-dev'; then fail "the package depends on a -dev package"; fi

# 2. A clean Debian 12, from the cache or downloaded once. Built aside and moved into place
# only when complete, so an interrupted download never leaves a half root in the cache.
stage="creating the Debian 12 root"
if [ ! -x "$base/usr/bin/apt-get" ]; then
  t=$SECONDS
  say "debootstrap --variant=minbase bookworm from $mirror (once; cached in $base)"
  rm -rf --one-file-system "$base.partial"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$base.partial" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log"; fail "debootstrap failed (log: $cache/debootstrap.log)"; }
  mv "$base.partial" "$base"
  say "debootstrap took $((SECONDS - t)) s, $(du -sm "$base" | cut -f1) MB"
fi

stage="copying the clean root"
rm -rf --one-file-system "$root"
cp -a "$base" "$root"
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -n "$security" ] && echo "deb $security bookworm-security main"
} >"$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$root/proc" "$root/dev/pts"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

# 3. apt installs the .deb and whatever its Depends name, from the archive.
stage="apt-get install ./$(basename "$deb") in the chroot"
t=$SECONDS
cp "$deb" "$root/tmp/"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/tmp/$(basename "$deb")" \
  >"$build_dir/apt-install.log" 2>&1 || { tail -n 30 "$build_dir/apt-install.log"; exit 1; }
say "apt-get install took $((SECONDS - t)) s: $(grep -c '^Setting up' "$build_dir/apt-install.log") packages set up"

# 4. What the package put in place.
stage="checking the installed files"
version=$(in_root koorelease --version)
say "installed: $version"
[ "$version" = "koorelease $(dpkg-deb -f "$deb" Version)" ] || fail "koorelease --version says '$version'"
if in_root ldd /usr/bin/koorelease | grep 'not found'; then fail "a library the binary needs is not installed"; fi
man_page=$(ls "$root"/usr/share/man/man1/koorelease.1* 2>/dev/null | head -n 1)
[ -n "$man_page" ] || fail "no man page in /usr/share/man/man1"
if [ "${man_page%.gz}" != "$man_page" ]; then gzip -t "$man_page" || fail "the man page is not valid gzip"; fi
for f in /usr/lib/systemd/system/koorelease-nightly.service /usr/lib/systemd/system/koorelease-nightly.timer \
         /usr/lib/systemd/system/koorelease-worker.service \
         /usr/share/doc/koorelease/README.md; do
  [ -f "$root$f" ] || fail "$f is missing"
done
grep -q 'exec /usr/bin/koorelease ' "$root/usr/lib/systemd/system/koorelease-nightly.service" \
  || fail "the service does not run /usr/bin/koorelease"
grep -q 'exec /usr/bin/koorelease ' "$root/usr/lib/systemd/system/koorelease-worker.service" \
  || fail "the worker service does not run /usr/bin/koorelease"
if [ -f "$repo/config/koorelease.toml" ]; then
  in_root dpkg-query -W -f='${Conffiles}\n' koorelease | grep -q '/etc/koorelease/koorelease.toml' \
    || fail "/etc/koorelease/koorelease.toml is not registered as a conffile"
  grep -q -- '--config /etc/koorelease/koorelease.toml ' "$root/usr/lib/systemd/system/koorelease-nightly.service" \
    || fail "the service does not read /etc/koorelease/koorelease.toml"
  # The installed binary accepts the installed config, as the service will use it.
  printf 'i-1\n' >"$root/tmp/one-id.txt"
  in_root env KOOPHONE_TOKEN=check-deb koorelease release --config /etc/koorelease/koorelease.toml \
    --input /tmp/one-id.txt --dry-run >"$build_dir/dry-run.out" 2>&1 \
    || { cat "$build_dir/dry-run.out"; fail "koorelease release --config /etc/koorelease/koorelease.toml --dry-run failed"; }
fi

# 5. The binary works: the mock on loopback inside the chroot, 100 ids released against it.
stage="releasing 100 ids against koorelease mock in the chroot"
token=check-deb-$RANDOM$RANDOM
exec 3< <(exec chroot "$root" /usr/bin/env -i KOOPHONE_TOKEN="$token" koorelease mock --plain --listen 127.0.0.1:0 \
          2>"$build_dir/mock.err")
mock_pid=$!
IFS= read -r -t 20 -u 3 line || { cat "$build_dir/mock.err"; fail "koorelease mock did not start"; }
url=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' <<<"$line")
[ -n "$url" ] || fail "unexpected first line from the mock: $line"
seq -f "deb-check-%03g" 1 100 >"$root/tmp/ids.txt"
set +e
chroot "$root" /usr/bin/env -i KOOPHONE_TOKEN="$token" koorelease release --endpoint "$url" \
  --input /tmp/ids.txt --output /tmp/results.jsonl --quiet 2>"$build_dir/release.err"
code=$?
set -e
[ "$code" -eq 0 ] || { cat "$build_dir/release.err"; fail "koorelease release exited $code"; }
released=$(grep -c '"outcome":"released"' "$root/tmp/results.jsonl" || true)
[ "$released" -eq 100 ] || fail "$released of 100 ids released"
say "koorelease release: exit 0, 100 of 100 ids released against $url"

stage="done"
say "PASS ($(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) on Debian $(cat "$root/etc/debian_version"), $((SECONDS - started)) s)"
