#!/usr/bin/env bash
# The Python binding: builds it against BUILD_DIR (bindings/python/build.sh) and runs its
# pytest suite with Debian's python3.  Prints TAP, one line per pytest case.
#   tests/suites.d/python.sh BUILD_DIR
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: python.sh BUILD_DIR}" && pwd)
python=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d /tmp/ssa-python.XXXXXX)
trap 'rm -rf "$work"' EXIT

fail_early() { # NAME LOG
	echo "not ok 1 - $1"
	sed 's/^/# /' "$2" | tail -40
	echo "1..1"
	exit 1
}

if [ -z "${SSA_TEST_PKI:-}" ]; then
	export SSA_TEST_PKI=$work/pki
	bash "$src/tests/pki.sh" "$SSA_TEST_PKI" >"$work/pki.log" 2>&1 ||
		fail_early "make the test PKI" "$work/pki.log"
fi
PYTHON=$python bash "$src/bindings/python/build.sh" "$build" >"$work/build.log" 2>&1 ||
	fail_early "build the Python binding" "$work/build.log"
"$python" -c 'import pytest' >"$work/pytest.log" 2>&1 ||
	fail_early "pytest for $python (apt-get install python3-pytest)" "$work/pytest.log"

# pytest's JUnit report names every case and its outcome; TAP is made from it.  The console
# output is kept for the failures' details.
SSA_BUILD_DIR=$build PYTHONPATH=$build/bindings/python PYTHONDONTWRITEBYTECODE=1 timeout 900 \
	"$python" -m pytest -q -rfEs -p no:cacheprovider --junitxml="$work/junit.xml" \
	"$src/bindings/python/tests" >"$work/pytest.log" 2>&1
rc=$?
[ -s "$work/junit.xml" ] || fail_early "pytest ran (exit status $rc)" "$work/pytest.log"

"$python" - "$work/junit.xml" "$rc" <<'EOF'
import sys
import xml.etree.ElementTree as ET

n = failed = 0
for case in ET.parse(sys.argv[1]).iter("testcase"):
    n += 1
    name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.{case.get('name')}"
    bad = case.find("failure") if case.find("failure") is not None else case.find("error")
    skip = case.find("skipped")
    if bad is not None:
        failed += 1
        print(f"not ok {n} - {name}")
        for line in (bad.get("message", "") + "\n" + (bad.text or "")).splitlines()[-25:]:
            print(f"# {line}")
    elif skip is not None:
        print(f"ok {n} - {name} # SKIP {skip.get('message', '')}")
    else:
        print(f"ok {n} - {name}")
if failed == 0 and sys.argv[2] != "0":  # pytest failed outside any case
    n += 1
    print(f"not ok {n} - pytest exit status {sys.argv[2]}")
print(f"1..{n}")
sys.exit(1 if failed or sys.argv[2] != "0" else 0)
EOF
status=$?
[ "$status" -eq 0 ] || sed 's/^/# /' "$work/pytest.log" | tail -15
exit "$status"
