#!/usr/bin/env bash
# ports/netcat/build.sh [OUT]
#
# Builds netcat-traditional 1.10-47 (Debian source package `netcat`, with Debian's own patches)
# plus ssa.patch, which adds -S: TLS for connect and listen through the Secure Socket API.  It
# links the installed libssa (pkg-config ssa) and no TLS library.  The result is OUT/bin/nc,
# OUT defaulting to ports/out.  Compiler flags are those of debian/rules (hardening=+all).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../out}
mkdir -p "$out"
out=$(cd "$out" && pwd)

pkg-config --exists ssa || {
	echo "netcat build: libssa is not installed (pkg-config ssa): run ./bootstrap build as root" >&2
	exit 1
}
# Test suites may build at the same time: one build at a time per OUT.
exec 9>"$out/.netcat-build.lock"
flock 9
src=$("$here/../fetch-source.sh" netcat-traditional 1.10-47 "$out/src")

work=$out/build/netcat
rm -rf "$work"
mkdir -p "$(dirname "$work")"
cp -a "$src" "$work"
patch -d "$work" -p1 --quiet --no-backup-if-mismatch <"$here/ssa.patch"

flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
# netcat is K&R C: its many warnings go to the log, shown only if the build fails.
if ! make -C "$work" linux STATIC= \
	CC="gcc $(flags CFLAGS) -Wall $(flags CPPFLAGS) $(pkg-config --cflags ssa)" \
	LDFLAGS="$(flags LDFLAGS)" XLIBS="$(pkg-config --libs ssa)" \
	DFLAGS='-DLINUX -DTELNET -DGAPING_SECURITY_HOLE -DIP_TOS -DDEBIAN_VERSION=\"1.10-47+ssa\"' \
	>"$work/build.log" 2>&1; then
	grep -E 'error|Error' "$work/build.log" >&2 || tail -20 "$work/build.log" >&2
	echo "netcat build: failed, see $work/build.log" >&2
	exit 1
fi
install -D -m 0755 "$work/nc" "$out/bin/nc"
echo "$out/bin/nc"
