#!/usr/bin/env bash
# moat's own ML-KEM-768 runs in constant time: keygen, encaps and decaps
# under valgrind memcheck with every secret marked undefined (ctgrind) give
# no error, while a deliberate early-exit compare on a secret does; then a
# dudect-style timing report of decaps, valid against invalid ciphertexts
# ('#' lines, nothing timed asserted).
. "$(dirname "$0")/../lib.sh"
need valgrind || { finish; exit; }
CT=$(dirname "$MOAT")/tests/ct_mlkem
if [ ! -x "$CT" ]; then
	notok "mlkem ct: $CT built" "run make first"
	finish
	exit
fi

# relay FILE: the program's own result lines counted as ours, '#' lines shown.
relay() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) notok "${line#not ok - }" ;;
		"#"*) echo "$line" ;;
		esac
	done <"$1"
}

log=$T_TMP/ct.log
timeout 300 valgrind --error-exitcode=99 "$CT" >"$log" 2>&1
rc=$?
relay "$log"
if [ $rc -eq 0 ] && ! grep -q 'depends on uninitialised value\|Use of uninitialised value' "$log"; then
	ok "mlkem ct: memcheck finds no branch or index on a secret in keygen, encaps, decaps"
else
	notok "mlkem ct: memcheck finds no branch or index on a secret in keygen, encaps, decaps" "exit $rc"
	DIAG_LINES=40 diag "$log"
fi
sed -n 's/^==[0-9]*== \(ERROR SUMMARY: .*\)/# \1/p' "$log"

# The same marking catches a leak when there is one.
timeout 300 valgrind --error-exitcode=99 "$CT" --leaky >"$log.leaky" 2>&1
rc=$?
if [ $rc -eq 99 ] && grep -q 'Conditional jump or move depends on uninitialised value' "$log.leaky"; then
	ok "mlkem ct: memcheck reports a deliberate early-exit compare on a secret"
else
	notok "mlkem ct: memcheck reports a deliberate early-exit compare on a secret" "exit $rc"
	diag "$log.leaky"
fi

timeout 300 "$CT" --dudect "${MLKEM_DUDECT_N:-20000}" >"$log.dudect" 2>&1
rc=$?
relay "$log.dudect"
[ $rc -eq 0 ] || notok "mlkem ct: dudect report ran" "exit $rc"
finish
