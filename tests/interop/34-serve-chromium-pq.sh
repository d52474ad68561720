#!/usr/bin/env bash
# Headless Chromium, which offers X25519MLKEM768 by default, loads a page
# from moat serve, and the access log shows the connection used the hybrid
# (draft-ietf-tls-ecdhe-mlkem); moat serve --groups x25519 serves the same
# Chromium over the x25519 share it sends beside the hybrid's.
. "$(dirname "$0")/../lib.sh"
need chromium certutil openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

chrome_home "chromium-pq"

# load NAME LOG [FLAGS...]: Chromium loads index.html; the page in $T_TMP/NAME.dom.
load() {
	local name=$1
	shift
	rm -rf "$T_TMP/profile-$name"
	HOME=$HOMEC timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync --disable-quic \
		--user-data-dir="$T_TMP/profile-$name" --host-resolver-rules="MAP pq.test 127.0.0.1" "$@" \
		--dump-dom "https://localhost:$SRV_PORT/index.html" >"$T_TMP/$name.dom" 2>"$T_TMP/$name.err" </dev/null
}

# run NAME WANT SERVE_FLAGS -- CHROMIUM_FLAGS
run() {
	local name=$1 want=$2 log=$T_TMP/$1-access.log
	shift 2
	local sflags=() cflags=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do sflags+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	cflags=("$@")
	if moat_serve "chromium-pq $name" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" \
		--access-log "$log" "${sflags[@]}"; then
		load "$name" "${cflags[@]}"
		sleep 0.3
		line=$(grep 'GET /index.html HTTP/2.0" 200' "$log" | tail -n 1)
		echo "# access log: $line"
		if has "$T_TMP/$name.dom" "$SITE_TOKEN" && [[ $line == *" $want" ]]; then
			ok "chromium-pq $name: Chromium loads the page over $want (access log)"
		else
			notok "chromium-pq $name: Chromium loads the page over $want (access log)"
			diag "$log" "$T_TMP/$name.err" "$SRV_LOG.err"
		fi
		server_alive "chromium-pq $name"
		bg_stop "$SRV_PID"
	fi
}

echo "# $(chromium --version 2>/dev/null)"
run default X25519MLKEM768 --
run serve-x25519 x25519 --groups x25519 --

# moat get's default sends the hybrid share: -v names the group, --explain
# says what the hybrid adds; --tls-group and --groups choose otherwise.
if moat_serve "get-pq" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" \
	--access-log "$T_TMP/get-access.log"; then
	U=https://localhost:$SRV_PORT/index.html
	R=(--cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1")
	moat_get "get-pq -v" "$T_TMP/g1" -v "${R[@]}" "$U"
	check "get-pq: moat get -v names X25519MLKEM768" has "$T_TMP/g1.err" '^\* group: X25519MLKEM768'
	moat_get "get-pq explain" "$T_TMP/g2" --explain "${R[@]}" "$U"
	check "get-pq: --explain gives the share sizes and harvest now, decrypt later" bash -c \
		'grep -q "1216 bytes: an ML-KEM-768 encapsulation key of 1184" "$1" && grep -q "1120 bytes, an ML-KEM ciphertext of 1088" "$1" && grep -q "harvest now, decrypt" "$1"' _ "$T_TMP/g2.err"
	moat_get "get-pq x25519" "$T_TMP/g3" -v --tls-group x25519 "${R[@]}" "$U"
	check "get-pq: --tls-group x25519 gets x25519" has "$T_TMP/g3.err" '^\* group: x25519'
	moat_get "get-pq groups" "$T_TMP/g4" -v --groups secp256r1,x25519mlkem768 "${R[@]}" "$U"
	check "get-pq: --groups secp256r1,x25519mlkem768 gets secp256r1" has "$T_TMP/g4.err" '^\* group: secp256r1'
	sleep 0.3
	check "get-pq: the access log records each group" bash -c \
		'[ "$(awk "{print \$NF}" "$1" | tr "\n" " ")" = "X25519MLKEM768 X25519MLKEM768 x25519 secp256r1 " ]' _ "$T_TMP/get-access.log"
	bg_stop "$SRV_PID"
fi
finish
