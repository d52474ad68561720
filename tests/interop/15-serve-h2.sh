#!/usr/bin/env bash
# moat serve over HTTP/2 (ALPN h2) against real clients: curl --http2 (what
# 81 asks over HTTP/1.1: ranges, conditionals, siblings, redirects,
# listings, errors, HSTS, the access log), nghttp, h2load, python3-h2,
# Node's http2 module and headless Chromium (nextHopProtocol h2); a 1 GB
# download over one stream, 100 concurrent downloads on one connection,
# a 50 MB upload through --proxy, a graceful stop with GOAWAY, --http2 off,
# and the h2 preface without ALPN refused.
. "$(dirname "$0")/../lib.sh"
need curl nghttp h2load node chromium certutil openssl || { finish; exit; }
need_moat
PY3=/usr/bin/python3 # Debian's, with python3-h2
ATTACK=$MOAT_ROOT/tests/tools/h2attack.py
# the worker's VmRSS bound (ASan's shadow memory and quarantine take more)
case $MOAT in */asan/*) RSS_BOUND_KB=${RSS_BOUND_KB:-524288} ;; esac
RSS_BOUND_KB=${RSS_BOUND_KB:-32768}
APPS=$MOAT_ROOT/tests/apps
gen_certs || { finish; exit; }
S=$T_TMP/site
make_site "$S"
mkdir -p "$S/list" "$S/many"
echo 0123456789abcdefghij >"$S/r.txt" # 21 bytes
printf 'body { color: #123456; }\n%.0s' $(seq 1 50) >"$S/style.css"
gzip -9 -k "$S/style.css"
for i in $(seq 0 99); do head -c $((20000 + i * 997)) /dev/urandom >"$S/many/f$i.bin"; done
head -c 5000000 /dev/urandom >"$S/five.bin"
# 1 GB, sparse, with random islands: cheap to make, a wrong or missing
# block changes the checksum.
truncate -s 1G "$S/giga.bin"
for i in 0 7 100 333 512 777 1000 1023; do
	head -c 1048576 /dev/urandom | dd of="$S/giga.bin" bs=1M seek="$i" conv=notrunc status=none
done
GIGA_SUM=$(sha256sum <"$S/giga.bin" | cut -c1-64)
CU=(curl -sS --http2 --cacert "$CERTS/ca.pem")
LOG=$T_TMP/access.log

if moat_serve "h2" "$S" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 --hsts 600 \
	--list-dirs --access-log "$LOG" --stop-timeout 20; then
	P=$SRV_PORT
	U() { echo "https://localhost:$P$1"; }
	cu() { timeout "$T_CLIENT" "${CU[@]}" --resolve "localhost:$P:127.0.0.1" -i "$@" 2>&1; }
	st() { http_status "$1" 2; }
	expect() { expect_status "h2 curl: $1" "$2" "$3" 2; }
	expect "GET /index.html" 200 "$(cu "$(U /index.html)")"
	a=$(cu -v "$(U /index.html)")
	check "h2 curl: ALPN h2 chosen, the page arrives, HSTS sent" bash -c \
		"grep -q 'ALPN: server accepted h2' <<<\"\$1\" && grep -q '$SITE_TOKEN' <<<\"\$1\" && grep -qi '^strict-transport-security: max-age=600' <<<\"\$1\"" _ "$a"
	a=$(cu -H 'Range: bytes=0-9' "$(U /r.txt)")
	expect "range 0-9" 206 "$a"
	check "h2 curl: range 0-9 is bytes 0-9/21 and the ten bytes" bash -c \
		"[ '$(hdr content-range "$a")' = 'bytes 0-9/21' ] && printf '%s' \"\$1\" | tail -n 1 | grep -qx 0123456789" _ "$a"
	a=$(cu -H 'Range: bytes=0-1,5-6' "$(U /r.txt)")
	check "h2 curl: two ranges as multipart/byteranges" bash -c "[ '$(st "$a")' = 206 ] && grep -q 'multipart/byteranges' <<<\"\$1\"" _ "$a"
	expect "range past the end" 416 "$(cu -H 'Range: bytes=100-' "$(U /r.txt)")"
	etag=$(hdr etag "$(cu -I "$(U /r.txt)")")
	expect "If-None-Match with the ETag" 304 "$(cu -H "If-None-Match: $etag" "$(U /r.txt)")"
	lm=$(hdr last-modified "$(cu -I "$(U /r.txt)")")
	expect "If-Modified-Since Last-Modified" 304 "$(cu -H "If-Modified-Since: $lm" "$(U /r.txt)")"
	a=$(cu -H 'Accept-Encoding: gzip' -o /dev/null -D - "$(U /style.css)")
	check "h2 curl: the gzip sibling with Content-Encoding and Vary" bash -c \
		"[ '$(hdr content-encoding "$a")' = gzip ] && [ '$(hdr vary "$a")' = Accept-Encoding ]" _ "$a"
	a=$(cu "$(U /list)")
	check "h2 curl: a directory without its slash is 301 to /list/" bash -c "[ '$(st "$a")' = 301 ] && [ '$(hdr location "$a")' = /list/ ]"
	a=$(cu "$(U /list/)")
	check "h2 curl: the listing of an empty directory (--list-dirs)" bash -c "[ '$(st "$a")' = 200 ] && grep -q 'Index of' <<<\"\$1\"" _ "$a"
	expect "a missing file" 404 "$(cu "$(U /no-such-file)")"
	a=$(cu -X POST -d x "$(U /index.html)")
	check "h2 curl: POST is 405 with Allow" bash -c "[ '$(st "$a")' = 405 ] && [ '$(hdr allow "$a")' = 'GET, HEAD' ]"
	a=$(cu -I "$(U /index.html)")
	check "h2 curl: HEAD has Content-Length and no body" bash -c "[ '$(st "$a")' = 200 ] && [ -n '$(hdr content-length "$a")' ]"
	a=$(cu "$(U /.hidden)")
	expect "a dot file" 404 "$a"
	a=$(cu "$(U /%2e%2e/etc/passwd)")
	expect "a dot-dot path" 400 "$a"
	sleep 0.3
	check "h2: the access log says HTTP/2.0 (GET /index.html 200, GET /r.txt 206)" bash -c \
		"grep -q '\"GET /index.html HTTP/2.0\" 200' '$LOG' && grep -q '\"GET /r.txt HTTP/2.0\" 206' '$LOG'"

	# ---- nghttp, h2load, python3-h2, Node
	out=$T_TMP/nghttp
	timeout 20 nghttp -nv "$(U /index.html)" "$(U /sub/hello.txt)" >"$out" 2>&1
	check "h2 nghttp: two streams answered 200 on one connection" \
		bash -c "[ \$(grep -c ':status: 200' '$out') -eq 2 ]"
	check "h2 nghttp: our SETTINGS say 128 streams, no push" \
		bash -c "grep -q 'SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128' '$out' && grep -q 'SETTINGS_ENABLE_PUSH(0x02):0' '$out'"
	out=$T_TMP/h2load
	timeout 60 h2load -n 2000 -c 4 -m 10 "$(U /index.html)" >"$out" 2>&1
	check "h2load: 2000 requests on 4 connections x 10 streams, all 2xx" \
		grep -q '2000 succeeded, 0 failed, 0 errored' "$out"
	grep -E '^finished' "$out" | sed 's/^/# h2load: /'
	out=$T_TMP/pyh2
	timeout 20 "$PY3" "$ATTACK" "$P" get /index.html /sub/hello.txt /missing >"$out" 2>&1
	check "h2 python3-h2: three streams, 200 200 404, bodies intact" bash -c "
		grep -q '^/index.html 200 $(sha256sum <"$S/index.html" | cut -c1-64)' '$out' &&
		grep -q '^/sub/hello.txt 200 $(sha256sum <"$S/sub/hello.txt" | cut -c1-64)' '$out' &&
		grep -q '^/missing 404 ' '$out'"

	# 100 concurrent downloads on one connection (Node's http2), checksums
	paths=()
	for i in $(seq 0 99); do paths+=("/many/f$i.bin"); done
	out=$T_TMP/node100
	t0=$(date +%s.%N)
	timeout 60 node "$APPS/h2client.js" "$P" "$CERTS/ca.pem" "${paths[@]}" >"$out" 2>&1
	t1=$(date +%s.%N)
	bad=0
	for i in $(seq 0 99); do
		grep -q "^/many/f$i.bin 200 $(sha256sum <"$S/many/f$i.bin" | cut -c1-64) h2\$" "$out" || bad=$((bad + 1))
	done
	check "h2 node: 100 concurrent downloads on one connection, 100 checksums equal ($bad wrong)" [ "$bad" -eq 0 ]
	echo "# 100 concurrent downloads ($(du -sk "$S/many" | cut -f1) kB): $(echo "$t1 - $t0" | bc) s"

	# one 1 GB download over one stream
	t0=$(date +%s.%N)
	sum=$(timeout 120 "${CU[@]}" --resolve "localhost:$P:127.0.0.1" "$(U /giga.bin)" | sha256sum | cut -c1-64)
	t1=$(date +%s.%N)
	check "h2 curl: 1 GB over one stream, sha256 equal" [ "$sum" = "$GIGA_SUM" ]
	echo "# 1 GB over one h2 stream: $(echo "$t1 - $t0" | bc) s"

	# ---- headless Chromium: the navigation went over h2
	mkdir -p "$S/nav"
	cat >"$S/nav/index.html" <<-'EOF'
		<!doctype html><title>h2</title><p id=p>waiting</p>
		<script>document.getElementById('p').textContent = 'protocol ' +
		  performance.getEntriesByType('navigation')[0].nextHopProtocol + ' end';</script>
	EOF
	chrome_home "h2 chromium"
	out=$T_TMP/chrome.dom
	HOME=$HOMEC timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync --disable-quic \
		--user-data-dir="$T_TMP/chrome-profile" --dump-dom "$(U /nav/)" >"$out" 2>"$out.err" </dev/null
	if has "$out" 'protocol h2 end'; then ok "h2 chromium: nextHopProtocol is h2 in the rendered DOM"; else
		notok "h2 chromium: nextHopProtocol is h2 in the rendered DOM"
		diag "$out" "$out.err"
	fi

	# ---- the h2 preface over a connection that chose http/1.1: refused
	out=$T_TMP/preface
	printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' | timeout "$T_CLIENT" openssl s_client -quiet -ign_eof \
		-alpn http/1.1 -connect "127.0.0.1:$P" -servername localhost >"$out" 2>/dev/null
	check "h2: the HTTP/2 preface without ALPN h2 is refused (HTTP/1.1 505, no h2c)" \
		grep -q '^HTTP/1.1 505' "$out"

	# ---- reload (SIGHUP): the old worker's connections get GOAWAY, new ones are served
	timeout 20 "$PY3" "$ATTACK" "$P" goaway 15 >"$T_TMP/goaway-hup" 2>&1 &
	gpid=$!
	sleep 1
	kill -HUP "$SRV_PID"
	wait "$gpid"
	check "h2 reload: an open connection gets GOAWAY NO_ERROR with its last stream ($(cat "$T_TMP/goaway-hup"))" \
		grep -qx 'goaway 0 1 answered' "$T_TMP/goaway-hup"
	sleep 0.5
	expect "after the reload, a new connection is served" 200 "$(cu "$(U /index.html)")"

	# ---- graceful stop: GOAWAY with the last stream, in-flight streams finish
	out=$T_TMP/slow
	"${CU[@]}" --resolve "localhost:$P:127.0.0.1" --limit-rate 2M "$(U /five.bin)" -o "$T_TMP/five.got" 2>"$out" &
	cpid=$!
	timeout 20 "$PY3" "$ATTACK" "$P" goaway 15 >"$T_TMP/goaway" 2>&1 &
	gpid=$!
	sleep 1
	kill -TERM "$SRV_PID"
	wait "$gpid"
	wait "$cpid"
	rc=$?
	check "h2 stop: the idle client gets GOAWAY NO_ERROR with its last stream, after its answer ($(cat "$T_TMP/goaway"))" \
		grep -qx 'goaway 0 1 answered' "$T_TMP/goaway"
	check "h2 stop: a download in flight finishes within --stop-timeout (curl $rc, sha256 equal)" \
		bash -c "[ $rc -eq 0 ] && cmp -s '$S/five.bin' '$T_TMP/five.got'"
	timeout 10 tail --pid="$SRV_PID" -f /dev/null
	check "h2 stop: moat serve exited" bash -c "! kill -0 $SRV_PID 2>/dev/null"
fi

# ---- --http2 off: ALPN http/1.1 only
if moat_serve "h2 off" "$S" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --http2 off; then
	out=$T_TMP/off
	timeout "$T_CLIENT" "${CU[@]}" -v --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
	check "h2 off: curl --http2 gets HTTP/1.1 (ALPN http/1.1)" bash -c \
		"grep -q 'ALPN: server accepted http/1.1' '$out' && grep -q '$SITE_TOKEN' '$out'"
	bg_stop "$SRV_PID"
fi
out=$T_TMP/badflag
"$MOAT" serve "$S" --http2 maybe >"$out" 2>&1
rc=$?
check "h2: --http2 maybe is refused (exit $rc, message names it)" bash -c "[ $rc -eq 2 ] && grep -q 'http2 takes on or off' '$out'"

# ---- --proxy over h2: a 50 MB upload and its echo, streamed, RSS bounded
NP=$(free_port)
bg_start "$T_TMP/node" node "$APPS/echo.js" "$NP" n1
wait_listen "$NP" || notok "h2 proxy: the node backend starts"
if moat_serve "h2 proxy" "$S" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--proxy "http://127.0.0.1:$NP" --max-body-size 100000000; then
	P=$SRV_PORT
	head -c 50000000 /dev/urandom >"$T_TMP/up.bin"
	want=$(sha256sum <"$T_TMP/up.bin" | cut -c1-64)
	rss_watch() {
		while kill -0 "$SRV_PID" 2>/dev/null; do
			for p in $(pgrep -P "$SRV_PID"); do awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null; done >>"$1"
			sleep 0.1
		done
	}
	: >"$T_TMP/rss"
	rss_watch "$T_TMP/rss" &
	W=$!
	out=$T_TMP/up
	timeout 120 "${CU[@]}" --resolve "localhost:$P:127.0.0.1" --data-binary "@$T_TMP/up.bin" \
		"https://localhost:$P/sha256" >"$out" 2>&1
	got=$(timeout 120 "${CU[@]}" --resolve "localhost:$P:127.0.0.1" --data-binary "@$T_TMP/up.bin" \
		-H 'Content-Length:' "https://localhost:$P/echo" | sha256sum | cut -c1-64)
	kill "$W"
	wait "$W" 2>/dev/null
	rss=$(sort -n "$T_TMP/rss" | tail -1)
	check "h2 proxy: 50 MB POST through --proxy, sha256 equal at the backend" grep -q "^$want 50000000$" "$out"
	check "h2 proxy: 50 MB streamed (no Content-Length) to /echo and back, sha256 equal" [ "$got" = "$want" ]
	check "h2 proxy: worker RSS during both under $RSS_BOUND_KB kB (max ${rss:-?} kB)" test "${rss:-999999}" -lt "$RSS_BOUND_KB"
	echo "# RSS during the 50 MB h2 uploads: max $rss kB"
	a=$(timeout "$T_CLIENT" "${CU[@]}" --resolve "localhost:$P:127.0.0.1" "https://localhost:$P/chunked")
	check "h2 proxy: a chunked backend response arrives whole as DATA" bash -c "grep -q '^part 4$' <<<\"\$1\" && grep -q '^end$' <<<\"\$1\"" _ "$a"
	rm -f "$T_TMP/up.bin"
	server_alive "h2 proxy"
fi
finish
