#!/usr/bin/env bash
# bindings/python/build.sh BUILD_DIR -- builds the Python binding against BUILD_DIR's libssa.
#
# Result: BUILD_DIR/bindings/python/ssa/ (__init__.py and _ssa*.so, with an rpath to
# BUILD_DIR/core/.libs), so `PYTHONPATH=BUILD_DIR/bindings/python python3 -c 'import ssa'` works
# without installing anything.  PYTHON selects the interpreter (default: Debian's python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: build.sh BUILD_DIR}" && pwd)
python=${PYTHON:-/usr/bin/python3}
lib=$build/core/.libs
out=$build/bindings/python

die() { echo "build.sh: $*" >&2; exit 1; }
[ -e "$lib/libssa.so" ] || die "no $lib/libssa.so: build the library first"
command -v swig >/dev/null || die "swig not found (apt-get install swig)"
# The interpreter itself says where its headers are and how extensions are named.
pyinc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
[ -e "$pyinc/Python.h" ] || die "no $pyinc/Python.h (apt-get install python3-dev)"

mkdir -p "$out/ssa"
swig -python -noproxy -I"$src/core/include" -o "$out/_ssa_wrap.c" "$here/ssa.i"
${CC:-cc} -shared -fPIC -O2 -g -Wall -Wno-unused-label -I"$pyinc" -I"$src/core/include" \
	"$out/_ssa_wrap.c" -o "$out/ssa/_ssa$suffix" -L"$lib" -Wl,-rpath,"$lib" -lssa
cp "$here/ssa/__init__.py" "$out/ssa/"
echo "build.sh: built $out/ssa/_ssa$suffix"
