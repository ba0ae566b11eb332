#!/usr/bin/env bash
# ports/count-lines.sh: the table of docs/ports.md (the paper's Table 4), measured from the
# patches, as Markdown on stdout.
#
# For each port, its patches ports/PORT/*.patch (unified diffs) are read hunk by hunk, following
# the line counts of each "@@ -a,b +c,d @@" header, so that content lines that look like file
# headers are still counted as content.  Inside a hunk, a run of '-' and '+' lines with no
# context line between them is one block:
#   changed  = min(removed, added) of the block: a line replaced by another
#   added    = the block's other '+' lines
#   removed  = the block's other '-' lines
# so changed + added = lines written (diff's insertions) and changed + removed = lines taken
# out (deletions).  "in deleted files" is the part of removed that is whole files the patch
# deletes ("+++ /dev/null").  The in-house web server has no patch: its row is measured the same
# way on the diff between examples/tiny_httpd.c and its TLS variant (the sed of the test suite).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

# count FILE...: prints "files changed added removed in_deleted_files insertions deletions"
count() {
	awk '
	function flush() {
		m = (r < a) ? r : a
		changed += m; added += a - m; removed += r - m
		if (deleted) gone += r - m
		r = 0; a = 0
	}
	/^--- / && old_left == 0 && new_left == 0 { next }
	/^\+\+\+ / && old_left == 0 && new_left == 0 {
		files++
		deleted = ($2 == "/dev/null")
		next
	}
	/^@@ / && old_left == 0 && new_left == 0 {
		# @@ -a[,b] +c[,d] @@: b and d default to 1
		split($2, o, ","); split($3, w, ",")
		old_left = (2 in o) ? o[2] + 0 : 1
		new_left = (2 in w) ? w[2] + 0 : 1
		next
	}
	old_left > 0 || new_left > 0 {
		c = substr($0, 1, 1)
		if (c == "-") { r++; dels++; old_left-- }
		else if (c == "+") { a++; ins++; new_left-- }
		else if (c == "\\") { }
		else { flush(); old_left--; new_left-- }
		if (old_left == 0 && new_left == 0) flush()
		next
	}
	END { flush(); printf "%d %d %d %d %d %d %d\n", files, changed, added, removed, gone, ins, dels }
	' "$@"
}

num() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; } # 2382 -> 2,382

row() { # NAME PAPER-CHANGED PAPER-REMOVED SOURCE FILE...
	local name=$1 pc=$2 pr=$3 what=$4 f c a r g i d
	shift 4
	read -r f c a r g i d < <(count "$@")
	printf '| %s | %s | %s | %s | %s | %s | %s | +%s -%s | %s | %s |\n' "$name" "$what" "$f" \
		"$(num "$c")" "$(num "$a")" "$(num "$r")" "$(num "$g")" "$(num "$i")" "$(num "$d")" "$pc" "$pr"
}

echo "| port | measured from | files | changed | added | removed | of removed: deleted files | diff +/- | paper: LOC modified | paper: LOC removed |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"

port_row() { # PORT PAPER-CHANGED PAPER-REMOVED
	local p=$1 patches=()
	shopt -s nullglob
	patches=("$top"/ports/"$p"/*.patch)
	shopt -u nullglob
	if [ ${#patches[@]} -eq 0 ]; then
		echo "| $p | **no patch yet** (ports/$p/*.patch): rerun ports/count-lines.sh | | | | | | | $2 | $3 |"
		return
	fi
	row "$p" "$2" "$3" "$(cd "$top" && ls "${patches[@]#"$top"/}" | tr '\n' ' ' | sed 's/ $//')" "${patches[@]}"
}

port_row wget 15 "1,020"
port_row lighttpd 8 "2,063"
port_row netcat 5 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/a/examples" "$tmp/b/examples"
cp "$top/examples/tiny_httpd.c" "$tmp/a/examples/"
sed '/= socket(/s/IPPROTO_TCP/IPPROTO_TLS/' "$top/examples/tiny_httpd.c" >"$tmp/b/examples/tiny_httpd.c"
(cd "$tmp" && diff -u a/examples/tiny_httpd.c b/examples/tiny_httpd.c >web.diff || true)
row "in-house web server" "1 (5 with its own certificate options)" 0 \
	"examples/tiny_httpd.c, one-line sed" "$tmp/web.diff"

# Any other port directory with patches gets a row too, without paper figures.
for d in "$top"/ports/*/; do
	p=$(basename "$d")
	case $p in wget | lighttpd | netcat | out) continue ;; esac
	compgen -G "$d*.patch" >/dev/null && port_row "$p" "-" "-"
done
exit 0
