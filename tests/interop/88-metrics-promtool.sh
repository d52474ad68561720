#!/usr/bin/env bash
# The Prometheus exposition moat's metrics registry renders (three forked
# workers summed, every metric of the table, label values that need
# escaping) parses with Prometheus's own promtool and passes its lint.
. "$(dirname "$0")/../lib.sh"
need promtool || { finish; exit; }
need_moat
tool=$(dirname "$MOAT")/tests/test_metrics
out=$T_TMP/metrics.txt
if ! "$tool" --dump >"$out" 2>"$out.err"; then
	notok "metrics: test_metrics --dump renders" "exit $?"
	diag "$out.err"
	finish
	exit
fi
check "metrics: the exposition has all 16 metrics" test "$(grep -c '^# TYPE moat_' "$out")" -eq 16
if promtool check metrics <"$out" >"$T_TMP/promtool.log" 2>&1; then
	ok "metrics: promtool check metrics finds no problem"
else
	notok "metrics: promtool check metrics finds no problem"
	diag "$T_TMP/promtool.log"
fi
# promtool must be judging: a counter without _total and a broken line fail.
printf '# HELP moat_x x\n# TYPE moat_x counter\nmoat_x 1\n' >"$T_TMP/bad1.txt"
check "metrics: promtool refuses a counter without _total" \
	bash -c "! promtool check metrics <'$T_TMP/bad1.txt' >/dev/null 2>&1"
printf 'moat_y{a="b} 1\n' >"$T_TMP/bad2.txt"
check "metrics: promtool refuses a broken label" \
	bash -c "! promtool check metrics <'$T_TMP/bad2.txt' >/dev/null 2>&1"
finish
