#!/usr/bin/env bash
# ports/lighttpd/build.sh [--check]
#
# Builds Debian's lighttpd 1.4.69-1 with lighttpd-1.4.69-ssa.patch against the installed libssa
# (pkg-config ssa) and installs ports/out/sbin/lighttpd and its modules in
# ports/out/lib/lighttpd/.  Nothing is rebuilt while the installed build matches the patch, this
# script, <ssa/in_tls.h> and the output directory.  No TLS library is configured (lighttpd's
# default): mod_openssl, mod_gnutls, mod_mbedtls, mod_nss and mod_wolfssl are not built, and TLS
# comes from libssa.
#
# --check also runs lighttpd's own tests (make check) in the build tree, rebuilding it if needed.
#
# Environment: LIGHTTPD_PORT_BUILD (default /tmp/lighttpd-port-build) is the build tree,
# LIGHTTPD_PORT_SRC (default /tmp/lighttpd-port-src) where `apt-get source` unpacks.
set -euo pipefail

version=1.4.69-1
here=$(cd "$(dirname "$0")" && pwd)
ports=$(dirname "$here")
out=$ports/out
build=${LIGHTTPD_PORT_BUILD:-/tmp/lighttpd-port-build}
srcroot=${LIGHTTPD_PORT_SRC:-/tmp/lighttpd-port-src}
patch=$here/lighttpd-1.4.69-ssa.patch
moddir=$out/lib/lighttpd
check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

say() { printf 'lighttpd-port: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

pkg-config --exists ssa || die "libssa is not installed (pkg-config ssa); run ./bootstrap build"
inc=$(pkg-config --variable=includedir ssa)
stamp=$(cat "$patch" "$0" "$inc/ssa/in_tls.h" | sha256sum | cut -d' ' -f1)
stamp="$stamp $version $out"

built() { [ -f "$1" ] && [ "$(cat "$1")" = "$stamp" ]; }

install_deps() {
	local need=() p
	for p in gcc make pkg-config libpcre2-dev zlib1g-dev perl dpkg-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${need[*]}"
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

build_tree() {
	local src tree=$build/lighttpd-1.4.69
	install_deps
	src=$(bash "$ports/fetch-source.sh" lighttpd "$version" "$srcroot")
	say "building in $tree"
	rm -rf "$build"
	mkdir -p "$build"
	cp -a "$src" "$tree"
	(cd "$tree" && patch -p1 -s --no-backup-if-mismatch <"$patch")
	(cd "$tree" && ./configure --disable-dependency-tracking --prefix="$out" --libdir="$moddir" \
		--with-pcre2 --with-zlib CPPFLAGS="$(pkg-config --cflags ssa)" >"$build/configure.log" 2>&1) ||
		die "configure failed, see $build/configure.log"
	make -C "$tree" -j"$(nproc)" >"$build/make.log" 2>&1 || die "make failed, see $build/make.log"
	# Only the server links libssa: the modules reach its socket calls through the server, so
	# nothing but the server names a TLS library, even indirectly.
	rm -f "$tree/src/lighttpd"
	make -C "$tree/src" LIBS="$(pkg-config --libs ssa)" lighttpd >>"$build/make.log" 2>&1 ||
		die "linking lighttpd failed, see $build/make.log"
	echo "$stamp" >"$build/stamp"
}

install_out() {
	local tree=$build/lighttpd-1.4.69
	mkdir -p "$out/sbin"
	install -m 755 "$tree/src/lighttpd" "$out/sbin/lighttpd.new"
	mv -f "$out/sbin/lighttpd.new" "$out/sbin/lighttpd"
	rm -rf "$moddir"
	mkdir -p "$moddir"
	install -m 644 "$tree"/src/.libs/mod_*.so "$moddir/"
	echo "$stamp" >"$moddir/.ssa-port-stamp"
	say "installed $out/sbin/lighttpd and $(ls "$moddir" | wc -l) modules in $moddir"
}

if ! built "$moddir/.ssa-port-stamp" || [ ! -x "$out/sbin/lighttpd" ]; then
	built "$build/stamp" || build_tree
	install_out
fi
if [ "$check" -eq 1 ]; then
	built "$build/stamp" || build_tree
	# A tests/tmp/bind.conf left by a run of LightyTest without socket activation would move
	# the servers off the ports the tests wait on.
	rm -f "$build/lighttpd-1.4.69/tests/tmp/bind"*.conf
	make -C "$build/lighttpd-1.4.69" check
fi
