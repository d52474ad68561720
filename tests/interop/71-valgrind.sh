#!/usr/bin/env bash
# moat serve under valgrind memcheck through real client connections
# (openssl s_client: each suite; curl: pages, 404, keep-alive, a 270 KB
# body; a client that hangs up mid-handshake), then SIGTERM: 0 errors and
# 0 bytes definitely lost.
. "$(dirname "$0")/../lib.sh"
need valgrind openssl curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
vlog=$T_TMP/valgrind.log
port=$(free_port)
bg_start "$T_TMP/vg" valgrind --leak-check=full --errors-for-leak-kinds=definite \
	--trace-children=yes --log-file="$vlog.%p" \
	"$MOAT" serve "$T_TMP/site" --listen "127.0.0.1:$port" --workers 1 \
	--cert "$CERTS/p256.pem" --key "$CERTS/p256.key"
VG_PID=$BG_PID
if wait_file_line "$T_TMP/vg.out" "^moat: serving .* on https://127.0.0.1:$port/" 60; then
	ok "valgrind: moat serve starts under memcheck"
	for s in "${SUITES[@]}"; do
		req_hold /index.html | timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
			-CAfile "$CERTS/ca.pem" -ciphersuites "$s" -quiet >"$T_TMP/s_$s" 2>&1
		check "valgrind: s_client $s gets the page" has "$T_TMP/s_$s" "$SITE_TOKEN"
	done
	c() { timeout 30 curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$port:127.0.0.1" "$@"; }
	c "https://localhost:$port/index.html" "https://localhost:$port/sub/hello.txt" >"$T_TMP/curl1" 2>&1
	check "valgrind: curl, two pages on one connection" has "$T_TMP/curl1" "plain text $SITE_TOKEN"
	c -o "$T_TMP/big" "https://localhost:$port/big.txt" 2>/dev/null
	check "valgrind: curl, 270 KB body intact" cmp -s "$T_TMP/big" "$T_TMP/site/big.txt"
	c -o /dev/null -w '%{http_code}' "https://localhost:$port/nope" >"$T_TMP/curl404" 2>&1
	check "valgrind: curl, 404" has "$T_TMP/curl404" "404"
	head -c 100 "$MOAT_ROOT/fuzz/corpus/fuzz_server_hs/curl" 2>/dev/null |
		timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$port" 2>/dev/null
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$port" 2>/dev/null
	sleep 1
else
	notok "valgrind: moat serve starts under memcheck"
	diag "$T_TMP/vg.out" "$T_TMP/vg.err"
fi
kill -TERM "$VG_PID" 2>/dev/null
for i in $(seq 1 300); do alive "$VG_PID" || break; sleep 0.1; done
check "valgrind: moat serve exits on SIGTERM" eval '! alive $VG_PID'
n=0
for f in "$vlog".*; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	sum=$(grep -E 'ERROR SUMMARY|definitely lost' "$f" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')
	echo "# ${f##*/}: $sum"
	check "valgrind: ${f##*.}: 0 errors" has "$f" 'ERROR SUMMARY: 0 errors'
	if grep -q 'definitely lost' "$f"; then
		check "valgrind: ${f##*.}: 0 bytes definitely lost" has "$f" 'definitely lost: 0 bytes'
	else
		check "valgrind: ${f##*.}: 0 bytes definitely lost" has "$f" 'All heap blocks were freed|definitely lost: 0 bytes|LEAK SUMMARY'
	fi
done
[ $n -gt 0 ] || notok "valgrind: memcheck wrote a report"
finish
