# bench/stats.sh -- the statistics every bench script reports with (sourced, not run).

# median: the median of the numbers on standard input, separated by blanks or newlines (the mean
# of the two middle ones for an even count); fails on no numbers.
median() {
	tr -s ' \t' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B to two decimals, or n/a when either is n/a or B is zero.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}
