#!/usr/bin/env bash
# moat's ML-KEM-768 against an independent implementation, the npm package
# @noble/post-quantum, on random keys in both directions: noble keygen,
# moat encaps, noble decaps; moat keygen, noble encaps, moat decaps; the
# same implicit-rejection secret for a changed ciphertext; a key with a
# coefficient q refused by both. tests/apps/mlkem holds the Node side; its
# package is installed (npm ci) when missing.
. "$(dirname "$0")/../lib.sh"
need node npm || { finish; exit; }
TOOL=$(dirname "$MOAT")/tests/mlkem_tool
APP=$MOAT_ROOT/tests/apps/mlkem
if [ ! -x "$TOOL" ]; then
	notok "mlkem noble: $TOOL built" "run make first"
	finish
	exit
fi
if [ ! -f "$APP/node_modules/@noble/post-quantum/package.json" ]; then
	(cd "$APP" && timeout 300 npm ci --no-audit --no-fund) >"$T_TMP/npm.log" 2>&1
fi
if [ ! -f "$APP/node_modules/@noble/post-quantum/package.json" ]; then
	notok "mlkem noble: npm package @noble/post-quantum installed" "npm ci failed in tests/apps/mlkem"
	diag "$T_TMP/npm.log"
	finish
	exit
fi
echo "# @noble/post-quantum $(sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$APP/node_modules/@noble/post-quantum/package.json")," \
	"node $(node --version), moat: $("$MOAT" version | sed -n 's/^ML-KEM-768: //p')"

out=$T_TMP/noble.log
(cd "$APP" && timeout 120 node crosscheck.mjs "$TOOL" "${MLKEM_NOBLE_N:-100}") >"$out" 2>&1
rc=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) notok "${line#not ok - }" ;;
	*) echo "# $line" ;;
	esac
done <"$out"
[ $rc -eq 0 ] || grep -q '^not ok - ' "$out" || notok "mlkem noble: crosscheck.mjs ran to its end" "exit $rc"
finish
