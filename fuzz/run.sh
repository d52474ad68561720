#!/usr/bin/env bash
# fuzz/run.sh BUILD SECONDS TARGET...: runs each libFuzzer target for
# SECONDS, one after another, starting from its seeds in fuzz/corpus/TARGET
# (copied: new inputs go to BUILD/corpus/TARGET, never into the repo).
# Prints "ok - fuzz TARGET: N runs, cov C ft F" per target, or "not ok"
# with the crash when one is found (the input is kept in BUILD/crashes/).
set -u
cd "$(dirname "$0")/.." || exit 1
B=$1 SECS=$2
shift 2
fails=0
mkdir -p "$B/crashes"
for t in "$@"; do
	bin=$B/$t
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz $t: $bin was not built"
		fails=$((fails + 1))
		continue
	fi
	work=$B/corpus/$t
	mkdir -p "$work"
	[ -d "fuzz/corpus/$t" ] && cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
	log=$B/$t.log
	# -rss_limit_mb and -timeout turn a blow-up or a hang into a finding.
	timeout -k 10 $((SECS + 120)) "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$B/crashes/$t-" "$work" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
	if [ "$rc" -eq 0 ]; then
		echo "ok - fuzz $t: ${runs:-?} runs in ${SECS}s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}"
	else
		echo "not ok - fuzz $t: exit $rc after ${runs:-?} runs (see $log)"
		grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written' "$log" | head -n 8 | sed 's/^/#   /'
		fails=$((fails + 1))
	fi
done
[ "$fails" -eq 0 ]
