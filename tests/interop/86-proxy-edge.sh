#!/usr/bin/env bash
# moat serve --proxy at its edges: a proxied request cannot climb out of its
# route at a decoding backend (python3 http.server); a non-idempotent request
# is never sent twice (tests/apps/once.py); a Host that is not host[:port]
# is 400, and the one forwarded is quoted in Forwarded (RFC 7239); what a
# client claims about itself (X-Real-IP, Client-Cert) never reaches the app,
# which gets RFC 9440 Client-Cert and Client-Cert-Chain from moat instead.
. "$(dirname "$0")/../lib.sh"
need openssl curl python3 node || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
APPS=$MOAT_ROOT/tests/apps
D=$T_TMP/px
mkdir -p "$D/www/v1"
out=$T_TMP/out

# ---- the backends: python3 http.server over www/, whose v1/ is the route's
# target and whose secret.txt lies outside it; once.py; a node echo app.
SECRET="secret-$RANDOM$RANDOM" V1="v1-$RANDOM$RANDOM"
echo "$SECRET" >"$D/www/secret.txt"
echo "$V1" >"$D/www/v1/ok.txt"
echo "$V1 space" >"$D/www/v1/a b.txt"
echo "$V1 cafe" >"$D/www/v1/café.txt"
PY=$(free_port)
bg_start "$D/python" python3 -m http.server --bind 127.0.0.1 --directory "$D/www" "$PY"
wait_listen "$PY" || { notok "proxy edge: python3 http.server starts"; diag "$D/python.err"; finish; exit; }
ONCE=$(free_port)
: >"$D/once.log"
bg_start "$D/once" python3 "$APPS/once.py" "$ONCE" "$D/once.log"
wait_listen "$ONCE" || { notok "proxy edge: once.py starts"; diag "$D/once.err"; finish; exit; }
NODE=$(free_port)
bg_start "$D/node" node "$APPS/echo.js" "$NODE" n1
wait_listen "$NODE" || { notok "proxy edge: echo.js starts"; diag "$D/node.err"; finish; exit; }
ok "proxy edge: backends start (python3 http.server, once.py, node)"

moat_serve "proxy edge" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--proxy "/app/=http://127.0.0.1:$PY/v1/" --proxy "/raw=http://127.0.0.1:$PY" \
	--proxy "/once/=http://127.0.0.1:$ONCE/" --proxy "http://127.0.0.1:$NODE" || { finish; exit; }
P=$SRV_PORT
U=https://localhost:$P
px() { timeout "$T_CLIENT" curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$P:127.0.0.1" "$@"; }
# raw TARGET [HOST]: the request-target exactly as given; prints the response.
raw() {
	printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "${2-localhost}" |
		timeout "$T_CLIENT" openssl s_client -quiet -connect "127.0.0.1:$P" -servername localhost 2>/dev/null
}

# ---- 11: no way out of the route. python3 http.server decodes the path and
# resolves dot segments, so /v1/..%2fsecret.txt would be www/secret.txt.
px "$U/app/ok.txt" >"$out" 2>&1
check "proxy edge: /app/ok.txt reaches /v1/ok.txt" has "$out" "^$V1$"
timeout "$T_CLIENT" curl -sS "http://127.0.0.1:$PY/v1/..%2fsecret.txt" >"$out" 2>&1
check "proxy edge: python3 http.server itself serves /v1/..%2fsecret.txt from outside /v1 (the risk is real)" \
	has "$out" "^$SECRET$"
for t in /app/..%2fsecret.txt /app/..%2Fsecret.txt /app/%2e%2e/secret.txt /app/%2E%2E/secret.txt \
	/app/%2e%2e%2fsecret.txt /app/.%2e/secret.txt /app/..%5csecret.txt '/app/..\secret.txt' \
	'/app/;/../secret.txt' '/app/..;/secret.txt' /app/..%3b/secret.txt /app/../secret.txt \
	/app/./../secret.txt /app//secret.txt /app/%2fsecret.txt /app/x%00.txt \
	/raw/..%2fsecret.txt /raw/%2e%2e/secret.txt '/raw/..\secret.txt' /%61pp/..%2fsecret.txt; do
	raw "$t" >"$out"
	check "proxy edge: $t refused with 400, the secret never sent" \
		sh -c "head -1 '$out' | grep -q '^HTTP/1.1 400' && ! grep -q '$SECRET' '$out'"
done
raw /app/%252e%252e/secret.txt >"$out"
check "proxy edge: /app/%252e%252e/secret.txt forwarded as it is: a literal %2e%2e at the backend, 404, no secret" \
	sh -c "head -1 '$out' | grep -q '^HTTP/1.1 404' && ! grep -q '$SECRET' '$out'"
check "proxy edge: the backend got /v1/%252e%252e/secret.txt unchanged" has "$D/python.err" '"GET /v1/%252e%252e/secret.txt '
raw /app/..%252fsecret.txt >"$out"
check "proxy edge: /app/..%252fsecret.txt forwarded as it is: 404, no secret" \
	sh -c "head -1 '$out' | grep -q '^HTTP/1.1 404' && ! grep -q '$SECRET' '$out'"
raw '/app/a%20b.txt' >"$out"
check "proxy edge: /app/a%20b.txt still served" has "$out" "^$V1 space$"
raw '/app/caf%C3%A9.txt' >"$out"
check "proxy edge: /app/caf%C3%A9.txt still served" has "$out" "^$V1 cafe$"
check "proxy edge: the backend got %20 and %C3%A9 as sent" \
	sh -c "grep -q '\"GET /v1/a%20b.txt ' '$D/python.err' && grep -q '\"GET /v1/caf%C3%A9.txt ' '$D/python.err'"
raw '/anything;v=1/x%2fy' >"$out"
check "proxy edge: the fallback route (the app's whole tree) keeps ';' and %2f" has "$out" "^n1: GET /anything;v=1/x%2fy$"

# ---- 12: once.py answers the first request of a connection and drops
# (reads, logs, closes unanswered) every later one, so each request below
# goes out on a pooled connection the backend then closes before any byte.
# RFC 9110 9.2.2: only an idempotent one may be sent again.
# retry NAME CURL-ARGS...: a warm-up request (pools a connection), then this.
retry() {
	local name=$1
	shift
	px -o /dev/null "$U/once/warm-$name" >/dev/null 2>&1
	px -o "$out" -w '%{http_code}' "$@" "$U/once/$name" >"$out.code" 2>&1
	sent=$(grep -c "^[A-Z]* /$name " "$D/once.log")
}
retry post-empty --data-binary ''
check "proxy edge: POST with Content-Length: 0 on a pooled connection the backend drops: 502, sent once ($sent)" \
	sh -c "grep -q '^502$' '$out.code' && [ $sent = 1 ]"
retry post-bare -X POST
check "proxy edge: POST with no body nor length, dropped: 502, sent once ($sent)" \
	sh -c "grep -q '^502$' '$out.code' && [ $sent = 1 ]"
retry patch -X PATCH
check "proxy edge: PATCH, dropped: 502, sent once ($sent)" sh -c "grep -q '^502$' '$out.code' && [ $sent = 1 ]"
retry get
check "proxy edge: GET, dropped: sent again on a new connection, 200 ($sent times at the backend)" \
	sh -c "grep -q '^200$' '$out.code' && [ $sent = 2 ] && grep -q '^GET /get$' '$out'"
retry delete -X DELETE
check "proxy edge: DELETE (idempotent), dropped: sent again, 200 ($sent times)" \
	sh -c "grep -q '^200$' '$out.code' && [ $sent = 2 ]"
check "proxy edge: the 502s have error-log lines" has "$SRV_LOG.err" "PATCH /once/patch .*(502)"

# ---- 15: Host is host[:port] (RFC 9112 3.2), for files and proxy alike.
for h in 'attacker.example, for=6.6.6.6;host=x' 'a,for=6.6.6.6' 'a;host=x' 'a"b' 'a b' 'a/b' 'u@a' \
	'[::1' 'a:99999' ':80'; do
	raw /index.html "$h" >"$out"
	check "proxy edge: Host '$h' on a static file is 400" sh -c "head -1 '$out' | grep -q '^HTTP/1.1 400'"
	raw /headers "$h" >"$out"
	check "proxy edge: Host '$h' on a proxied path is 400, the app never asked" \
		sh -c "head -1 '$out' | grep -q '^HTTP/1.1 400' && ! grep -q '\"app\"' '$out'"
done
raw /headers '[::1]:8443' >"$out"
check "proxy edge: Host [::1]:8443 forwarded; Forwarded quotes it: host=\"[::1]:8443\"" \
	sh -c "grep -qF '\"forwarded\":\"for=127.0.0.1;proto=https;host=\\\"[::1]:8443\\\"\"' '$out' &&
		grep -qF '\"x-forwarded-host\":\"[::1]:8443\"' '$out'"
raw /headers '' >"$out"
check "proxy edge: an empty Host (allowed): no host= in Forwarded, no X-Forwarded-Host" \
	sh -c "grep -qF '\"forwarded\":\"for=127.0.0.1;proto=https\"' '$out' && ! grep -q 'x-forwarded-host' '$out'"
raw /index.html 'localhost:1' >"$out"
check "proxy edge: Host localhost:1 on a static file is served" has "$out" "$SITE_TOKEN"

server_alive "proxy edge"
bg_stop "$SRV_PID"

# ---- 17: client certificates (RFC 9440), spoofed identity headers, and the
# Content-Length of a bodiless POST. bob's certificate comes from an
# intermediate CA, which curl sends after it.
gen_client_cert || { notok "proxy edge: client certificate made"; diag "$CERTS/alice.log"; finish; exit; }
(
	set -e
	cd "$CERTS"
	exec >bob.log 2>&1
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key \
		-subj "/O=moat tests/CN=moat test intermediate" -out int.csr
	openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -sha256 \
		-extfile int.ext -out int.pem
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bob.key \
		-subj "/O=moat tests/CN=bob" -out bob.csr
	openssl x509 -req -in bob.csr -CA int.pem -CAkey int.key -CAcreateserial -days 7 -sha256 \
		-extfile alice.ext -out bob.pem
	cat bob.pem int.pem >bob-chain.pem
) || { notok "proxy edge: intermediate and bob's certificate made"; diag "$CERTS/bob.log"; finish; exit; }
sf() { printf ':%s:' "$(openssl x509 -in "$1" -outform DER | base64 -w0)"; }
if moat_serve "proxy edge mtls" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" \
	--workers 1 --client-ca "$CERTS/ca.pem" --client-auth optional --proxy-only \
	--proxy "http://127.0.0.1:$NODE"; then
	P=$SRV_PORT U=https://localhost:$SRV_PORT
	spoof=(-H 'X-Real-IP: 6.6.6.6' -H 'Client-Cert: :Zm9v:' -H 'Client-Cert-Chain: :YmFy:'
		-H 'X_Real_IP: 6.6.6.7' -H 'Client_Cert: :YmF6:' -H 'client_cert_CHAIN: :cXV4:')
	# headers FILE PYTHON-CHECK: the JSON the app saw, h its headers.
	headers() {
		python3 - "$1" "$2" >"$1.why" 2>&1 <<-'PY'
			import json, sys
			h = json.load(open(sys.argv[1]))["headers"]
			bad = [k for k in h if k.replace("_", "-") in ("x-real-ip", "client-cert", "client-cert-chain") and "_" in k]
			bad += [k for k, v in h.items() if "6.6.6" in v or v in (":Zm9v:", ":YmFy:", ":YmF6:", ":cXV4:")]
			ok = eval(sys.argv[2])
			print("bad:", bad, "check:", ok, h)
			sys.exit(0 if ok and not bad else 1)
		PY
	}
	px "${spoof[@]}" --cert "$CERTS/alice.pem" --key "$CERTS/alice.key" "$U/headers" >"$out" 2>&1
	# curl adds what it finds of alice's chain in --cacert (the root) after her.
	want=$(sf "$CERTS/alice.pem") chain=$(sf "$CERTS/ca.pem")
	if headers "$out" "h.get('client-cert') == '$want' and h.get('client-cert-chain', '$chain') == '$chain' and 'x-real-ip' not in h and 'alice' in h.get('x-client-cert-subject', '')"; then
		ok "proxy edge: alice's certificate as Client-Cert :DER base64: (RFC 9440), spoofed X-Real-IP and Client-Cert* (also with '_') gone"
	else
		notok "proxy edge: alice's certificate as Client-Cert :DER base64: (RFC 9440), spoofed X-Real-IP and Client-Cert* (also with '_') gone"
		diag "$out.why"
	fi
	px "${spoof[@]}" --cert "$CERTS/bob-chain.pem" --key "$CERTS/bob.key" "$U/headers" >"$out" 2>&1
	want=$(sf "$CERTS/bob.pem") chain=$(sf "$CERTS/int.pem")
	if headers "$out" "h.get('client-cert') == '$want' and h.get('client-cert-chain') == '$chain' and 'bob' in h.get('x-client-cert-subject', '')"; then
		ok "proxy edge: bob's certificate as Client-Cert, the intermediate curl sent as Client-Cert-Chain"
	else
		notok "proxy edge: bob's certificate as Client-Cert, the intermediate curl sent as Client-Cert-Chain"
		diag "$out.why"
	fi
	px "${spoof[@]}" "$U/headers" >"$out" 2>&1
	if headers "$out" "h.get('x-forwarded-for') == '127.0.0.1' and not any(k in h for k in ('client-cert', 'client-cert-chain', 'x-real-ip', 'x-client-cert-subject'))"; then
		ok "proxy edge: without a client certificate no Client-Cert, Client-Cert-Chain nor X-Real-IP reaches the app"
	else
		notok "proxy edge: without a client certificate no Client-Cert, Client-Cert-Chain nor X-Real-IP reaches the app"
		diag "$out.why"
	fi
	# A resumed connection (the ticket carries the chain) gives the app the
	# same Client-Cert and Client-Cert-Chain as the full handshake did.
	# sc SESSION-OPTION: bob over openssl s_client, its stdout in $out.raw.
	sc() {
		printf 'GET /headers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
			timeout "$T_CLIENT" openssl s_client -ign_eof -connect "127.0.0.1:$P" -servername localhost \
				-CAfile "$CERTS/ca.pem" -cert "$CERTS/bob.pem" -cert_chain "$CERTS/int.pem" \
				-key "$CERTS/bob.key" "$@" >"$out.raw" 2>/dev/null
		sed -n 's/^\({"app".*\)/\1/p' "$out.raw" >"$out"
	}
	sc -sess_out "$T_TMP/bob.sess"
	if headers "$out" "h.get('client-cert') == '$want' and h.get('client-cert-chain') == '$chain'"; then
		sc -sess_in "$T_TMP/bob.sess"
		if grep -q '^Reused, TLSv1.3' "$out.raw" &&
			headers "$out" "h.get('client-cert') == '$want' and h.get('client-cert-chain') == '$chain' and 'bob' in h.get('x-client-cert-subject', '')"; then
			ok "proxy edge: a resumed connection gives the app the same Client-Cert and Client-Cert-Chain (the ticket carries the chain)"
		else
			notok "proxy edge: a resumed connection gives the app the same Client-Cert and Client-Cert-Chain (the ticket carries the chain)"
			diag "$out.why"
			grep -E '^(New|Reused)' "$out.raw" >&2
		fi
	else
		notok "proxy edge: bob over openssl s_client, the full handshake, gets Client-Cert (before resuming)"
		diag "$out.why"
	fi
	px --data-binary '' "$U/headers" >"$out" 2>&1
	check "proxy edge: a POST with Content-Length: 0 keeps it at the app" \
		headers "$out" "h.get('content-length') == '0' and h.get('x-forwarded-for') == '127.0.0.1'"
	printf 'POST /headers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
		timeout "$T_CLIENT" openssl s_client -quiet -connect "127.0.0.1:$P" -servername localhost 2>/dev/null |
		sed -n 's/^\({"app".*\)/\1/p' >"$out"
	check "proxy edge: a POST with no body and no length reaches the app with Content-Length: 0 (RFC 9110 8.6)" \
		headers "$out" "h.get('content-length') == '0'"
	px "$U/headers" >"$out" 2>&1
	check "proxy edge: a GET gets no Content-Length" headers "$out" "'content-length' not in h and 'transfer-encoding' not in h"
	server_alive "proxy edge mtls"
	bg_stop "$SRV_PID"
fi
finish
