#!/usr/bin/env bash
# fetch-source.sh PACKAGE VERSION DIR
#
# Unpacks the Debian source package PACKAGE (exactly VERSION) into DIR/PACKAGE-VERSION with
# `apt-get source`.  apt needs a deb-src entry for that: when the machine has none, one is
# derived from its own binary entries (the same mirrors, suites and keys, Types: deb-src), so
# no mirror is ever named here.
set -euo pipefail

pkg=${1:?usage: fetch-source.sh PACKAGE VERSION DIR}
version=${2:?usage: fetch-source.sh PACKAGE VERSION DIR}
dest=${3:?usage: fetch-source.sh PACKAGE VERSION DIR}
derived=/etc/apt/sources.list.d/ssa-deb-src.sources

have_deb_src() {
	grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/
}

derive_deb_src() {
	local src
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$derived"
	elif [ -f /etc/apt/sources.list ]; then
		src=${derived%.sources}.list
		sed -nE 's/^deb (.*)/deb-src \1/p' /etc/apt/sources.list >"$src"
	else
		echo "fetch-source: no apt sources file to derive a deb-src entry from" >&2
		exit 1
	fi
	apt-get update -qq
}

if ! have_deb_src; then
	[ "$(id -u)" -eq 0 ] || { echo "fetch-source: need root to add a deb-src entry" >&2; exit 1; }
	derive_deb_src
fi
command -v dpkg-source >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null

mkdir -p "$dest"
cd "$dest"
upstream=${version#*:}
upstream=${upstream%-*}
# The source package's name may differ from the binary's (netcat-traditional comes from netcat).
unpacked() { find . -maxdepth 1 -type d -name "*-$upstream" | head -n 1; }
if [ -z "$(unpacked)" ]; then
	apt-get source -qq "$pkg=$version" 2>&1 >/dev/null | grep -v "unsandboxed as root" >&2 || true
fi
dir=$(unpacked)
[ -n "$dir" ] || { echo "fetch-source: $pkg $version did not unpack into $dest" >&2; exit 1; }
echo "$PWD/${dir#./}"
