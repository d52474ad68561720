#!/usr/bin/env bash
# moat serve under valgrind memcheck through real client connections
# (openssl s_client: each suite, resumption, a client certificate, a TLS
# 1.2 session with a client certificate and its resumption; gnutls-cli
# and NSS tstclnt: each group; curl: pages, 404, keep-alive, a 270 KB body,
# ranges, 304, listing, a chunked upload, smuggling and oversized heads;
# the plain-HTTP redirect; a proxied request to python3's http.server; a
# client that hangs up mid-handshake), then SIGTERM: 0 errors and 0 bytes
# definitely lost. moat get runs under memcheck too.
. "$(dirname "$0")/../lib.sh"
need valgrind openssl curl gnutls-cli tstclnt certutil python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
nss_db
mkdir -p "$T_TMP/site/list" "$T_TMP/app/api"
echo listed >"$T_TMP/site/list/a.txt"
echo "app $SITE_TOKEN" >"$T_TMP/app/api/x.txt"
gen_client_cert || { notok "valgrind: client certificate made"; diag "$CERTS/alice.log"; }
app_port=$(free_port)
bg_start "$T_TMP/app" python3 -m http.server "$app_port" --bind 127.0.0.1 --directory "$T_TMP/app"
wait_listen "$app_port" || notok "valgrind: python3 http.server starts"
head -c 80 /dev/urandom >"$T_TMP/tickets"
vlog=$T_TMP/valgrind.log
port=$(free_port)
rport=$(free_port)
bg_start "$T_TMP/vg" valgrind --leak-check=full --errors-for-leak-kinds=definite \
	--trace-children=yes --log-file="$vlog.%p" \
	"$MOAT" serve "$T_TMP/site" --listen "127.0.0.1:$port" --workers 1 \
	--cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --ticket-keys "$T_TMP/tickets" \
	--client-ca "$CERTS/ca.pem" --client-auth optional --list-dirs --hsts 600 \
	--redirect-http "127.0.0.1:$rport" --proxy "/api/=http://127.0.0.1:$app_port/api/" \
	--max-body-size 100000 --access-log "$T_TMP/access.log"
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
	# Resumption, and a client certificate.
	req_hold /index.html | timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-CAfile "$CERTS/ca.pem" -sess_out "$T_TMP/sess" -quiet >"$T_TMP/r1" 2>&1
	req_hold /index.html | timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-CAfile "$CERTS/ca.pem" -sess_in "$T_TMP/sess" -ign_eof >"$T_TMP/r2" 2>&1
	check "valgrind: s_client resumes a ticket" has "$T_TMP/r2" '^Reused, TLSv1.3'
	c --cert "$CERTS/alice.pem" --key "$CERTS/alice.key" "https://localhost:$port/sub/hello.txt" >"$T_TMP/mtls" 2>&1
	check "valgrind: curl with a client certificate" has "$T_TMP/mtls" "$SITE_TOKEN"
	# A TLS 1.2 session: a full handshake with a client certificate, a
	# ticket, and its resumption.
	req_hold /index.html | timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-tls1_2 -CAfile "$CERTS/ca.pem" -cert "$CERTS/alice.pem" -key "$CERTS/alice.key" \
		-sess_out "$T_TMP/sess12" -ign_eof >"$T_TMP/t12a" 2>&1
	req_hold /index.html | timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-tls1_2 -CAfile "$CERTS/ca.pem" -sess_in "$T_TMP/sess12" -ign_eof >"$T_TMP/t12b" 2>&1
	check "valgrind: s_client -tls1_2 with a client certificate gets the page" has "$T_TMP/t12a" "$SITE_TOKEN"
	check "valgrind: s_client -tls1_2 resumes its ticket" has "$T_TMP/t12b" '^Reused, TLSv1.2'
	# Every group through gnutls-cli and NSS tstclnt.
	http_req /index.html >"$T_TMP/req.txt"
	for g in "${GROUPS_[@]}"; do
		timeout 30 gnutls-cli -p "$port" --x509cafile "$CERTS/ca.pem" \
			--priority "$(gnutls_priority TLS_AES_128_GCM_SHA256 "$g")" localhost < <(req_hold /index.html) >"$T_TMP/g_$g" 2>&1
		check "valgrind: gnutls-cli $g gets the page" has "$T_TMP/g_$g" "$SITE_TOKEN"
		read -r gname gbits < <(group_nss "$g")
		timeout 30 tstclnt -4 -h localhost -p "$port" -d "sql:$NSSDB" -V tls1.3:tls1.3 -I "$gname" \
			-A "$T_TMP/req.txt" </dev/null >"$T_TMP/n_$g" 2>&1
		check "valgrind: NSS tstclnt $g gets the page" has "$T_TMP/n_$g" "$SITE_TOKEN"
	done
	# HTTP features: ranges, validators, listing, uploads, limits, smuggling.
	c -r 0-9,20-29 "https://localhost:$port/big.txt" >"$T_TMP/ranges" 2>&1
	check "valgrind: two ranges (multipart/byteranges)" has "$T_TMP/ranges" 'Content-Range: bytes 20-29/'
	etag=$(c -sI "https://localhost:$port/index.html" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
	c -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "https://localhost:$port/index.html" >"$T_TMP/304" 2>&1
	check "valgrind: If-None-Match gives 304" has "$T_TMP/304" '^304$'
	c "https://localhost:$port/list/" >"$T_TMP/listing" 2>&1
	check "valgrind: a directory listing" has "$T_TMP/listing" 'a.txt'
	head -c 50000 /dev/urandom >"$T_TMP/up"
	c -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$T_TMP/up" \
		"https://localhost:$port/api/x.txt" >"$T_TMP/post" 2>&1
	check "valgrind: a chunked upload to the proxy is answered" grep -qE '^[2-5][0-9][0-9]$' "$T_TMP/post"
	head -c 200000 /dev/urandom >"$T_TMP/up2"
	c -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$T_TMP/up2" \
		"https://localhost:$port/index.html" >"$T_TMP/413" 2>&1
	check "valgrind: a chunked body over --max-body-size is 413" has "$T_TMP/413" '413'
	c -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" \
		"https://localhost:$port/" >"$T_TMP/431" 2>&1
	check "valgrind: an oversized header section is 431" has "$T_TMP/431" '431'
	printf 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
		timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost -quiet -ign_eof >"$T_TMP/smuggle" 2>&1
	check "valgrind: Content-Length with Transfer-Encoding is 400" has "$T_TMP/smuggle" 'HTTP/1.1 400'
	c "https://localhost:$port/api/x.txt" >"$T_TMP/proxied" 2>&1
	check "valgrind: a request through the proxy" has "$T_TMP/proxied" "app $SITE_TOKEN"
	timeout 30 curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rport/x" >"$T_TMP/308" 2>&1
	check "valgrind: the plain-HTTP listener answers 308" has "$T_TMP/308" '308'
	# moat get under memcheck as well, against this server.
	timeout 60 valgrind --leak-check=full --errors-for-leak-kinds=definite --log-file="$vlog.get.%p" \
		"$MOAT" get -s -v --cacert "$CERTS/ca.pem" --resolve "localhost:$port:127.0.0.1" \
		"https://localhost:$port/big.txt" >"$T_TMP/get" 2>"$T_TMP/get.err"
	check "valgrind: moat get under memcheck downloads big.txt intact" cmp -s "$T_TMP/get" "$T_TMP/site/big.txt"
	timeout 60 valgrind --leak-check=full --errors-for-leak-kinds=definite --log-file="$vlog.get12.%p" \
		"$MOAT" get -s --tls-max 1.2 --cacert "$CERTS/ca.pem" --resolve "localhost:$port:127.0.0.1" \
		"https://localhost:$port/big.txt" >"$T_TMP/get12" 2>"$T_TMP/get12.err"
	check "valgrind: moat get --tls-max 1.2 under memcheck downloads big.txt intact" cmp -s "$T_TMP/get12" "$T_TMP/site/big.txt"
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
