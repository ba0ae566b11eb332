#!/usr/bin/env bash
# bindings/python/install.sh PREFIX -- installs the ssa package for Debian's python3, linked
# against the libssa installed under PREFIX (run `make install` first).
#
# The package goes where Debian's python3 looks: PREFIX/lib/python3/dist-packages for /usr,
# PREFIX/lib/python3.X/dist-packages otherwise (on sys.path for /usr/local; other prefixes need
# PYTHONPATH).  DESTDIR stages the files, as with make install.  PYTHON picks the interpreter.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:?usage: install.sh PREFIX}
python=${PYTHON:-/usr/bin/python3}
root=${DESTDIR:-}$prefix

die() { echo "install.sh: $*" >&2; exit 1; }
[ -e "$root/lib/libssa.so" ] || die "no $root/lib/libssa.so: run make install first"
[ -e "$root/include/ssa/ssa.h" ] || die "no $root/include/ssa/ssa.h: run make install first"
command -v swig >/dev/null || die "swig not found (apt-get install swig)"
pyinc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ -e "$pyinc/Python.h" ] || die "no $pyinc/Python.h (apt-get install python3-dev)"
if [ "$prefix" = /usr ]; then
	site=$prefix/lib/python3/dist-packages
	rpath=() # the system's own library directory
else
	site=$prefix/lib/python$version/dist-packages
	rpath=(-Wl,-rpath,"$prefix/lib") # found without ldconfig or LD_LIBRARY_PATH
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
swig -python -noproxy -I"$root/include" -o "$tmp/_ssa_wrap.c" "$here/ssa.i"
${CC:-cc} -shared -fPIC -O2 -Wall -Wno-unused-label -I"$pyinc" -I"$root/include" \
	"$tmp/_ssa_wrap.c" -o "$tmp/_ssa$suffix" -L"$root/lib" "${rpath[@]}" -lssa
install -d "${DESTDIR:-}$site/ssa"
install -m 644 "$here/ssa/__init__.py" "${DESTDIR:-}$site/ssa/__init__.py"
install -m 755 "$tmp/_ssa$suffix" "${DESTDIR:-}$site/ssa/_ssa$suffix"
echo "install.sh: installed ${DESTDIR:-}$site/ssa"
