#!/usr/bin/env bash
# moat serve's HTTP with curl and raw requests over TLS: ranges (single,
# multiple, 416, If-Range), ETag and dates (304), precompressed siblings,
# --redirect-http, --hsts, SNI with two certificates, --list-dirs, MIME
# types, errors and limits (405/501/413/414/431/505), smuggling, a path
# traversal suite, --config, --pid-file and the default DIR.
. "$(dirname "$0")/../lib.sh"
need openssl curl gzip python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
S=$T_TMP/site
make_site "$S"
C=$CERTS
SECRET="moat-secret-$RANDOM$RANDOM"
echo "$SECRET" >"$T_TMP/secret.txt"
mkdir -p "$T_TMP/outside" "$S/list"
echo "$SECRET" >"$T_TMP/outside/secret.txt"
ln -s ../secret.txt "$S/link-out"
ln -s ../../outside "$S/sub/link-dir" # $S/sub/../../outside: the real dir holding secret.txt
printf 'body { color: #123456; }\n%.0s' $(seq 1 50) >"$S/style.css"
gzip -9 -k "$S/style.css"
printf 'pretend-brotli' >"$S/style.css.br"
printf 'console.log("moat");\n%.0s' $(seq 1 50) >"$S/app.js"
gzip -9 -k "$S/app.js"
echo 0123456789abcdefghij >"$S/r.txt" # 21 bytes
echo x >"$S/list/a.txt"
echo y >"$S/list/<script>x.txt"
echo z >"$S/doc.odt"

# raw REQUEST-BYTES: sends them over TLS as they are, prints the answer.
raw() {
	printf '%b' "$1" | timeout "$T_CLIENT" openssl s_client -quiet -ign_eof -connect "127.0.0.1:$SRV_PORT" \
		-servername localhost 2>/dev/null
}
# cu ARGS...: curl against the server over HTTP/1.1 (15-serve-h2 asks the
# same over HTTP/2), headers and body to stdout.
cu() {
	timeout "$T_CLIENT" curl -sS -i --http1.1 --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" "$@" 2>&1
}
U() { echo "https://localhost:$SRV_PORT$1"; }

printf 'workers 2\nhsts 31536000\n# a comment\nlist-dirs on\nmax-body-size 1000\nmax-header-size 4096\n' >"$T_TMP/good.conf"
if moat_serve "http" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --config "$T_TMP/good.conf" \
	--pid-file "$T_TMP/moat.pid"; then
	check "--pid-file holds the master's pid" [ "$(cat "$T_TMP/moat.pid" 2>/dev/null)" = "$SRV_PID" ]

	# ---- ranges
	a=$(cu -H 'Range: bytes=0-9' "$(U /r.txt)")
	expect_status "range 0-9" 206 "$a"
	check "range 0-9: Content-Range bytes 0-9/21 and the ten bytes" \
		bash -c "[ '$(hdr Content-Range "$a")' = 'bytes 0-9/21' ] && printf '%s' \"\$1\" | tail -n 1 | grep -qx 0123456789" _ "$a"
	a=$(cu -H 'Range: bytes=-5' "$(U /r.txt)")
	check "range suffix -5: the last five bytes (fghij + newline)" bash -c "printf '%s' \"\$1\" | tail -n 1 | grep -qx ghij && [ '$(hdr Content-Range "$a")' = 'bytes 16-20/21' ]" _ "$a"
	a=$(cu -H 'Range: bytes=0-1,5-6' "$(U /r.txt)")
	expect_status "range two parts" 206 "$a"
	if hdr Content-Type "$a" | grep -q '^multipart/byteranges; boundary=' &&
		[ "$(printf '%s' "$a" | grep -c 'Content-Range: bytes')" = 2 ] &&
		printf '%s' "$a" | grep -q 'bytes 5-6/21'; then ok "range two parts: multipart/byteranges with both parts"
	else notok "range two parts: multipart/byteranges with both parts"; printf '%s\n' "$a" | sed 's/^/#   /' | head -20; fi
	a=$(cu -H 'Range: bytes=500-600' "$(U /r.txt)")
	expect_status "range past the end" 416 "$a"
	check "range past the end: Content-Range bytes */21" [ "$(hdr Content-Range "$a")" = 'bytes */21' ]
	a=$(cu -H 'Range: chars=0-3' "$(U /r.txt)")
	expect_status "range in an unknown unit is ignored" 200 "$a"

	# ---- validators
	a=$(cu -I "$(U /r.txt)")
	etag=$(hdr ETag "$a")
	lm=$(hdr Last-Modified "$a")
	check "ETag and Last-Modified present (etag $etag, $lm)" bash -c '[ -n "$1" ] && [ -n "$2" ]' _ "$etag" "$lm"
	expect_status "If-None-Match with the ETag" 304 "$(cu -H "If-None-Match: $etag" "$(U /r.txt)")"
	expect_status "If-None-Match with a list holding W/ETag" 304 "$(cu -H "If-None-Match: \"x\", W/$etag" "$(U /r.txt)")"
	expect_status "If-None-Match with another tag" 200 "$(cu -H 'If-None-Match: "nope"' "$(U /r.txt)")"
	expect_status "If-Modified-Since Last-Modified" 304 "$(cu -H "If-Modified-Since: $lm" "$(U /r.txt)")"
	expect_status "If-Modified-Since 1990" 200 "$(cu -H 'If-Modified-Since: Mon, 01 Jan 1990 00:00:00 GMT' "$(U /r.txt)")"
	expect_status "If-Range with the ETag keeps the range" 206 "$(cu -H 'Range: bytes=0-1' -H "If-Range: $etag" "$(U /r.txt)")"
	expect_status "If-Range with an old ETag sends it all" 200 "$(cu -H 'Range: bytes=0-1' -H 'If-Range: "old"' "$(U /r.txt)")"
	expect_status "If-Range with Last-Modified keeps the range" 206 "$(cu -H 'Range: bytes=0-1' -H "If-Range: $lm" "$(U /r.txt)")"

	# ---- precompressed siblings
	a=$(cu -H 'Accept-Encoding: gzip' -o /dev/null -D - "$(U /style.css)")
	check "precompressed: Accept-Encoding gzip gets style.css.gz (Content-Encoding gzip, Vary)" \
		bash -c "[ '$(hdr Content-Encoding "$a")' = gzip ] && [ '$(hdr Vary "$a")' = Accept-Encoding ] && [ '$(hdr Content-Length "$a")' = $(stat -c %s "$S/style.css.gz") ]"
	check "precompressed: curl --compressed gets the original bytes of app.js (from app.js.gz)" \
		bash -c "timeout $T_CLIENT curl -sS --compressed --cacert '$C/ca.pem' --resolve localhost:$SRV_PORT:127.0.0.1 '$(U /app.js)' | cmp -s - '$S/app.js'"
	a=$(cu -H 'Accept-Encoding: br, gzip' -o /dev/null -D - "$(U /style.css)")
	check "precompressed: br preferred when accepted" [ "$(hdr Content-Encoding "$a")" = br ]
	a=$(cu -H 'Accept-Encoding: br;q=0, gzip;q=0' -o /dev/null -D - "$(U /style.css)")
	check "precompressed: q=0 refuses; identity with Vary, text/css" \
		bash -c "[ -z '$(hdr Content-Encoding "$a")' ] && [ '$(hdr Vary "$a")' = Accept-Encoding ] && [ '$(hdr Content-Type "$a")' = 'text/css; charset=utf-8' ]"

	# ---- headers, listing, MIME
	a=$(cu -I "$(U /)")
	check "--hsts from --config: Strict-Transport-Security max-age=31536000" [ "$(hdr Strict-Transport-Security "$a")" = max-age=31536000 ]
	a=$(cu "$(U /list/)")
	if printf '%s' "$a" | grep -q 'href="a.txt"' && printf '%s' "$a" | grep -q '&lt;script&gt;x.txt' &&
		printf '%s' "$a" | grep -q 'href="%3Cscript%3Ex.txt"' && ! printf '%s' "$a" | grep -q '<script>'; then
		ok "--list-dirs: a listing with names HTML-escaped and URL-encoded"
	else notok "--list-dirs: a listing with names HTML-escaped and URL-encoded"; printf '%s\n' "$a" | sed 's/^/#   /' | tail -8; fi
	a=$(cu -I "$(U /doc.odt)")
	check "MIME type from /etc/mime.types (.odt: $(hdr Content-Type "$a"))" bash -c "[ ! -f /etc/mime.types ] || [ '$(hdr Content-Type "$a")' = application/vnd.oasis.opendocument.text ]"
	expect_status "a directory without its slash redirects" 301 "$(cu "$(U /sub)")"
	# The Location is the normalised path: never //host/..., which a
	# browser takes for another site (a protocol-relative open redirect).
	for p in '//sub' '///sub' '/%2fsub' '/./sub' '//sub?x=1'; do
		a=$(raw "GET $p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		want=/sub/
		case $p in *\?*) want="/sub/?x=1" ;; esac
		check "directory redirect for $p: 301 Location $want (got '$(hdr Location "$a")')" \
			bash -c '[ "$1" = 301 ] && [ "$2" = "$3" ]' _ "$(http_status "$a")" "$(hdr Location "$a")" "$want"
	done
	mkdir -p "$S/evil.example/dir"
	a=$(raw 'GET //evil.example/dir HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
	check "directory redirect for //evil.example/dir stays on this site (Location '$(hdr Location "$a")')" \
		[ "$(hdr Location "$a")" = /evil.example/dir/ ]

	# ---- a symlinked directory leading out of the root
	check "the test's link-dir really leads to the outside secret" [ -f "$S/sub/link-dir/secret.txt" ]
	a=$(raw 'GET /sub/link-dir/secret.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
	check "a symlinked directory out of the root: 403/404 ($(http_status "$a")), the secret not in the body" \
		bash -c '[[ $1 =~ ^(403|404)$ ]] && ! printf "%s" "$2" | grep -q "$3"' _ "$(http_status "$a")" "$a" "$SECRET"
	a=$(raw 'GET /sub/link-dir/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
	check "a symlinked directory out of the root is not listed ($(http_status "$a"))" \
		bash -c '[[ $1 =~ ^(403|404)$ ]] && ! printf "%s" "$2" | grep -q secret.txt' _ "$(http_status "$a")" "$a"

	# ---- pipelining: three requests in one write, three answers in order
	a=$(raw 'GET /r.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /sub/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
	got=$(printf '%s' "$a" | tr -d '\r' | grep -E '^HTTP/1.1 |^0123456789abcdefghij$|'"$SITE_TOKEN" | cut -c1-40 | tr '\n' '|')
	check "pipelining: 3 requests in one write, 200 r.txt, 200 hello.txt, 404, in order ($got)" \
		bash -c 'printf "%s" "$1" | grep -q "^HTTP/1.1 200 OK|0123456789abcdefghij|HTTP/1.1 200 OK|[^|]*'"$SITE_TOKEN"'[^|]*|HTTP/1.1 404 Not Found|$"' _ "$got"

	# ---- errors and limits
	a=$(cu -X POST -d x=1 "$(U /)")
	expect_status "POST is 405" 405 "$a"
	check "405 has Allow: GET, HEAD" [ "$(hdr Allow "$a")" = 'GET, HEAD' ]
	expect_status "an unknown method is 501" 501 "$(raw 'BREW / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')"
	expect_status "a body over --max-body-size is 413" 413 "$(raw 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n')"
	# Chunked bodies are bounded too: read as they come, 413 past 1000 bytes.
	head -c 5000 /dev/zero | tr '\0' c >"$T_TMP/5000.bin"
	a=$(cu -X POST -H 'Transfer-Encoding: chunked' --data-binary "@$T_TMP/5000.bin" "$(U /)")
	expect_status "a chunked body over --max-body-size is 413 (curl)" 413 "$a"
	check "the 413 for a chunked body closes the connection" [ "$(hdr Connection "$a")" = close ]
	a=$(raw "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n$(head -c 1000 /dev/zero | tr '\0' a)\r\n1\r\nb\r\n0\r\n\r\nGET /r.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
	check "a chunked body 1 byte over the limit in two chunks: 413, the request after it unanswered" \
		bash -c '[ "$1" = 413 ] && [ "$(printf "%s" "$2" | grep -c "^HTTP/1.1 ")" = 1 ]' _ "$(http_status "$a")" "$a"
	a=$(raw 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /r.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
	check "a chunked body under the limit is read: 405, then the next request on the connection is 200" \
		bash -c '[ "$(printf "%s" "$1" | grep "^HTTP/1.1 " | tr -d "\r" | tr "\n" "|")" = "HTTP/1.1 405 Method Not Allowed|HTTP/1.1 200 OK|" ]' _ "$a"
	expect_status "a 9000-byte target is 414" 414 "$(raw "GET /$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1\r\nHost: localhost\r\n\r\n")"
	expect_status "a header over --max-header-size is 431" 431 "$(raw "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: $(head -c 5000 /dev/zero | tr '\0' a)\r\n\r\n")"
	expect_status "HTTP/2.0 in a request line is 505" 505 "$(raw 'GET / HTTP/2.0\r\nHost: localhost\r\n\r\n')"
	expect_status "Transfer-Encoding gzip, chunked is 501" 501 "$(raw 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')"
	expect_status "Transfer-Encoding frobnicate, chunked (unknown coding) is 501" 501 "$(raw 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: frobnicate, chunked\r\n\r\n')"
	expect_status "Transfer-Encoding gzip (not ending in chunked) is 400" 400 "$(raw 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n')"
	expect_status "HTTP/1.1 without Host is 400" 400 "$(raw 'GET / HTTP/1.1\r\n\r\n')"

	# ---- smuggling: answered 400, then closed: the hidden request is never answered
	smuggle() { # smuggle NAME HEAD-LINES
		local a n
		a=$(raw "POST / HTTP/1.1\r\nHost: localhost\r\n$2\r\n\r\n0\r\n\r\nGET /r.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
		n=$(printf '%s' "$a" | grep -c '^HTTP/1.1 ')
		if [ "$(http_status "$a")" = 400 ] && [ "$n" = 1 ] && printf '%s' "$a" | grep -qi '^Connection: close'; then
			ok "smuggling: $1: 400 and closed"
		else notok "smuggling: $1: 400 and closed" "status $(http_status "$a"), $n answers"; fi
	}
	smuggle "Content-Length with Transfer-Encoding" 'Content-Length: 5\r\nTransfer-Encoding: chunked'
	smuggle "Transfer-Encoding then Content-Length" 'Transfer-Encoding: chunked\r\nContent-Length: 5'
	smuggle "two differing Content-Lengths" 'Content-Length: 5\r\nContent-Length: 6'
	smuggle "Content-Length list 5, 6" 'Content-Length: 5, 6'
	smuggle "Content-Length with a sign" 'Content-Length: +5'
	smuggle "space before the colon" 'Transfer-Encoding : chunked'
	smuggle "obs-fold" 'X-A: a\r\n chunked'
	smuggle "chunked, identity (chunked not last)" 'Transfer-Encoding: chunked, identity'
	smuggle "chunked, chunked" 'Transfer-Encoding: chunked, chunked'
	smuggle "chunked twice in two fields" 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked'
	smuggle "bare LF in a header" 'X-A: a\nTransfer-Encoding: chunked'

	# ---- path traversal: none reaches a file outside the root
	paths=(
		'/../secret.txt' '/%2e%2e/secret.txt' '/%2E%2E/secret.txt' '/.%2e/secret.txt' '/%2e./secret.txt'
		'/..%2fsecret.txt' '/..%2Fsecret.txt' '/%2e%2e%2fsecret.txt' '/sub/../../secret.txt'
		'/sub/%2e%2e/%2e%2e/secret.txt' '/sub/..%2f..%2fsecret.txt' '/..%5csecret.txt' '/..\\secret.txt'
		'/%252e%252e/secret.txt' '/%c0%ae%c0%ae/secret.txt' '/..%00/secret.txt' '/secret.txt%00.html'
		'/./../secret.txt' '//../secret.txt' '/.../secret.txt' '/..;/secret.txt' '/sub/./../../secret.txt'
		'/%2e%2e%5c%2e%2e%5csecret.txt' '/link-out' '/sub/link-dir/secret.txt' '/%2fetc%2fpasswd'
		'//etc/passwd' '/../../../../etc/passwd' '/%2e%2e/%2e%2e/%2e%2e/etc/passwd'
		'https://localhost/../secret.txt' '/sub/..%252f..%252fsecret.txt' '/.%00./secret.txt'
		'/..%c0%af/secret.txt' '/%u002e%u002e/secret.txt' '/sub/link-dir/../../secret.txt'
		'/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd' '/..%u2215secret.txt' '/sub%2f..%2f..%2fsecret.txt'
	)
	bad=0
	for p in "${paths[@]}"; do
		a=$(raw "GET $p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		st=$(http_status "$a")
		if printf '%s' "$a" | grep -q -e "$SECRET" -e 'root:.*:0:0:' || ! [[ $st =~ ^(400|403|404)$ ]]; then
			bad=$((bad + 1))
			echo "#   $p -> ${st:-no answer}"
		fi
	done
	if [ $bad = 0 ]; then ok "path traversal: ${#paths[@]} encoded variants all 400/403/404, nothing outside the root"
	else notok "path traversal: ${#paths[@]} encoded variants all 400/403/404, nothing outside the root" "$bad got through"; fi
	server_alive "http"
	bg_stop "$SRV_PID"
fi

# ---- SNI with two certificates, --redirect-http
(
	cd "$C" || exit 1
	sed 's/^subjectAltName=.*/subjectAltName=DNS:other.test/' leaf.ext >other.ext
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key &&
		openssl req -new -key other.key -subj "/CN=other.test" -out other.csr &&
		openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -extfile other.ext -out other.pem
) >"$T_TMP/other.log" 2>&1
RPORT=$(free_port)
if moat_serve "sni" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --cert "$C/other.pem" --key "$C/other.key" \
	--redirect-http "127.0.0.1:$RPORT" --workers 1; then
	a=$(timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --resolve "other.test:$SRV_PORT:127.0.0.1" "https://other.test:$SRV_PORT/" 2>&1)
	check "sni: curl for other.test verifies the second certificate" bash -c "printf '%s' \"\$1\" | grep -q '$SITE_TOKEN'" _ "$a"
	a=$(cu "$(U /)")
	check "sni: curl for localhost verifies the first" bash -c "printf '%s' \"\$1\" | grep -q '$SITE_TOKEN'" _ "$a"
	a=$(timeout "$T_CLIENT" curl -sS -i "http://localhost:$RPORT/sub/hello.txt?x=1" 2>&1)
	check "redirect-http: 308 to https://localhost:$SRV_PORT/sub/hello.txt?x=1" \
		bash -c "[ '$(http_status "$a")' = 308 ] && [ '$(hdr Location "$a")' = 'https://localhost:$SRV_PORT/sub/hello.txt?x=1' ]"
	a=$(timeout "$T_CLIENT" curl -sS -L --cacert "$C/ca.pem" "http://localhost:$RPORT/sub/hello.txt" 2>&1)
	check "redirect-http: curl -L follows to the page" bash -c "printf '%s' \"\$1\" | grep -q '$SITE_TOKEN'" _ "$a"
	bg_stop "$SRV_PID"
fi

# ---- --idle-timeout: a keep-alive connection left quiet is closed after it
if moat_serve "idle" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 --idle-timeout 1; then
	# python's ssl module: s_client does not end on the server's close
	# while its own input is still open.
	el=$(timeout 10 python3 - "$SRV_PORT" "$C/ca.pem" <<-'EOF' 2>&1
		import socket, ssl, sys, time
		c = ssl.create_default_context(cafile=sys.argv[2])
		s = c.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
		s.sendall(b"GET /r.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
		got, t = b"", time.time()
		while True:
		    d = s.recv(4096)
		    if not d: break
		    got += d
		print("%.1f %s" % (time.time() - t, got.split(b"\r\n")[0].decode()))
	EOF
	)
	check "--idle-timeout 1: answered, then the quiet connection closed by the server ($el)" \
		bash -c 'set -- $1; [ "$2 $3" = "HTTP/1.1 200" ] && awk "BEGIN{exit !($1 >= 0.9 && $1 < 4)}"' _ "$el"
	server_alive "idle"
	bg_stop "$SRV_PID"
fi

# ---- config mistakes, default DIR
printf 'workers 2\n\nworkers lots\n' >"$T_TMP/bad.conf"
out=$T_TMP/badconf
timeout "$T_CLIENT" "$MOAT" serve "$S" --config "$T_TMP/bad.conf" >"$out" 2>&1
rc=$?
check "--config: a bad value is reported as file:line (exit $rc)" bash -c "[ $rc = 2 ] && grep -q 'bad.conf:3: workers' '$out'"
printf 'frobnicate yes\n' >"$T_TMP/bad2.conf"
timeout "$T_CLIENT" "$MOAT" serve "$S" --config "$T_TMP/bad2.conf" >"$out" 2>&1
rc=$?
check "--config: an unknown setting is reported as file:line (exit $rc)" bash -c "[ $rc = 2 ] && grep -q 'bad2.conf:1: unknown setting frobnicate' '$out'"
timeout "$T_CLIENT" "$MOAT" serve "$S" --workers 0 >"$out" 2>&1
rc=$?
check "--workers 0 is a usage error (exit $rc)" [ $rc = 2 ]

P=$(free_port)
bg_start "$T_TMP/default" bash -c 'cd "$1" && exec "$2" serve --listen "127.0.0.1:$3" --cert "$4" --key "$5" --workers 1' _ \
	"$S/sub" "$(readlink -f "$MOAT")" "$P" "$C/p256.pem" "$C/p256.key"
if wait_file_line "$T_TMP/default.out" "on https://127.0.0.1:$P/"; then
	a=$(timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --resolve "localhost:$P:127.0.0.1" "https://localhost:$P/hello.txt" 2>&1)
	check "moat serve without DIR serves the current directory" bash -c "printf '%s' \"\$1\" | grep -q '$SITE_TOKEN'" _ "$a"
else notok "moat serve without DIR starts"; diag "$T_TMP/default.out" "$T_TMP/default.err"; fi
bg_stop "$BG_PID"
finish
