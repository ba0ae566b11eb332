#!/usr/bin/env bash
# ports/wget/build.sh [OUTDIR]
#
# The wget port: Debian's wget 1.21.3-1+deb12u1, fetched with ports/fetch-source.sh, patched
# with ssa.patch (https and ftps through IPPROTO_TLS, openssl.c and gnutls.c removed), and
# built against the installed libssa (pkg-config ssa) into OUTDIR/bin/wget (default
# ports/out).  The build tree stays in $WGET_PORT_WORK/tree (default /tmp/wget-port-build) for
# wget's own test suite (tests/suites.d/port-wget.sh runs it there).
#
# wget is configured --without-ssl, so it can link neither OpenSSL nor GnuTLS even where their
# development packages are installed; -DHAVE_LIBSSA turns its https and ftps code back on.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../out}
work=${WGET_PORT_WORK:-/tmp/wget-port-build}
version=1.21.3-1+deb12u1
# wget's build dependencies in Debian, less GnuTLS and OpenSSL.
deps="gcc make pkgconf libidn2-dev uuid-dev libpsl-dev libpcre2-dev zlib1g-dev"

die() { echo "ports/wget/build.sh: $*" >&2; exit 1; }

pkg-config --exists ssa || die "libssa is not installed (pkg-config ssa): run ./bootstrap build"
missing=$(for p in $deps; do dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
	grep -q '^install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || die "missing build dependencies (need root to install):" $missing
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

mkdir -p "$work"
src=$(bash "$here/../fetch-source.sh" wget "$version" "$work/src")
rm -rf "$work/tree"
cp -a "$src" "$work/tree"
cd "$work/tree"
patch -p1 --quiet --remove-empty-files <"$here/ssa.patch"

# Debian's flags (debian/rules) less the TLS choice.
./configure --quiet --prefix=/usr --sysconfdir=/etc --enable-ipv6 \
	--without-ssl \
	CFLAGS="$(dpkg-buildflags --get CFLAGS) -DNO_SSLv2 -D_FILE_OFFSET_BITS=64 -Wall" \
	CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS) -DHAVE_LIBSSA $(pkg-config --cflags ssa)" \
	LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" LIBS="$(pkg-config --libs ssa)" >configure.log
make -j"$(nproc)" -C lib >make.log 2>&1 && make -j"$(nproc)" -C src >>make.log 2>&1 ||
	{ tail -n 30 make.log >&2; die "build failed (log: $work/tree/make.log)"; }

# wget must load no TLS library: libssa loads its engine, and OpenSSL, only with a TLS socket.
tls='lib(ssl|crypto|gnutls)[.-]'
ldd src/wget | grep -E "$tls" && die "src/wget loads a TLS library"
readelf -d src/wget | grep -q 'NEEDED.*libssa' || die "src/wget does not link libssa"
install -D -m 755 src/wget "$out/bin/wget"
# What this binary was built from, for the suite's staleness check.
cat "$here/ssa.patch" "$here/build.sh" | sha256sum | cut -d' ' -f1 >"$out/wget.stamp"
echo "$out/bin/wget"
