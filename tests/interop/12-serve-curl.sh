#!/usr/bin/env bash
# moat serve against curl: every suite x every group (--tls13-ciphers, --curves),
# over HTTP/2 (ALPN h2, curl's first choice); --http1.1 once.
. "$(dirname "$0")/../lib.sh"
need curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

if moat_serve "serve curl" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	for s in "${SUITES[@]}"; do
		for g in "${GROUPS_[@]}"; do
			name="serve curl $s $g"
			out=$T_TMP/curl.$s.$g
			timeout "$T_CLIENT" curl -sS -v --tlsv1.3 --tls13-ciphers "$s" --curves "$g" --cacert "$CERTS/ca.pem" \
				--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
			rc=$? why=""
			[ $rc -eq 0 ] || why="curl exit $rc;"
			has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
			has "$out" "SSL connection using TLSv1.3 / $s" || why="$why did not negotiate $s;"
			has "$out" "ALPN: server accepted h2" || why="$why no ALPN h2;"
			if [ -z "$why" ]; then ok "$name"; else notok "$name" "$why"; diag "$out"; fi
		done
	done
	# HEAD, a file in a subdirectory, and a missing file.
	out=$T_TMP/curl.head
	if timeout "$T_CLIENT" curl -sS -I --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$out" 2>&1 && has "$out" '^HTTP/2 200'; then
		ok "serve curl HEAD /index.html"
	else notok "serve curl HEAD /index.html"; diag "$out"; fi
	out=$T_TMP/curl.sub
	if timeout "$T_CLIENT" curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/sub/hello.txt" >"$out" 2>&1 && has "$out" "^plain text $SITE_TOKEN\$"; then
		ok "serve curl GET /sub/hello.txt"
	else notok "serve curl GET /sub/hello.txt"; diag "$out"; fi
	code=$(timeout "$T_CLIENT" curl -s -o /dev/null -w '%{http_code}' --cacert "$CERTS/ca.pem" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/no-such-file")
	check "serve curl GET /no-such-file is 404 (got $code)" [ "$code" = 404 ]
	out=$T_TMP/curl.h1
	timeout "$T_CLIENT" curl -sS -v --http1.1 --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
	if has "$out" "ALPN: server accepted http/1.1" && has "$out" "$SITE_TOKEN"; then
		ok "serve curl --http1.1: ALPN http/1.1"
	else notok "serve curl --http1.1: ALPN http/1.1"; diag "$out"; fi
	# Several requests on one connection (keep-alive).
	out=$T_TMP/curl.keepalive
	timeout "$T_CLIENT" curl -sS -v --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" "https://localhost:$SRV_PORT/sub/hello.txt" >"$out" 2>&1
	if has "$out" "Re-using existing connection" && [ "$(grep -c "$SITE_TOKEN" "$out")" -ge 2 ]; then
		ok "serve curl two requests on one connection"
	else notok "serve curl two requests on one connection"; diag "$out"; fi
	server_alive "serve curl"
fi
finish
