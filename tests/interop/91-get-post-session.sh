#!/usr/bin/env bash
# moat get with request bodies and TLS features, against real peers:
# a python3 `ssl` HTTPS server (10 MB POST with sha256 at both ends, 307
# keeping the body, chunked answers, a server that closes mid-body), and
# `openssl s_server` for --session (resumption), --cert/--key (client
# certificates) and OCSP staples (a revoked one refuses the site).
. "$(dirname "$0")/../lib.sh"
need openssl python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# ---- the python backend
cat >"$T_TMP/backend.py" <<'EOF'
import hashlib, http.server, ssl, sys

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, extra=()):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if self.path == "/redir307":
            # read the body first, as nginx does, so the answer is not lost
            # to a reset while the client is still sending
            left = n
            while left:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    break
                left -= len(b)
            self.reply(307, b"", [("Location", "/post")])
            return
        h, left = hashlib.sha256(), n
        while left:
            b = self.rfile.read(min(left, 1 << 16))
            if not b:
                break
            h.update(b)
            left -= len(b)
        self.reply(200, ("%s %d %s\n" % (h.hexdigest(), n - left, self.command)).encode())

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(50):
                part = ("line %d of the chunked answer\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/cut":
            # promises 1 MB, sends 100 kB, then drops the connection
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"x" * 100000)
            self.wfile.flush()
            self.connection.close()
            self.close_connection = True
        else:
            self.reply(404, b"no\n")

srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
EOF
PY_PORT=$(free_port)
bg_start "$T_TMP/backend" python3 "$T_TMP/backend.py" "$PY_PORT" "$CERTS/p256-chain.pem" "$CERTS/p256.key"
PY_PID=$BG_PID
if wait_file_line "$T_TMP/backend.out" "^ready" && wait_listen "$PY_PORT"; then
	PY=https://localhost:$PY_PORT
	head -c 10000000 /dev/urandom >"$T_TMP/post.bin"
	sum=$(sha256sum <"$T_TMP/post.bin" | cut -d' ' -f1)
	out=$T_TMP/post
	moat_get "post" "$out" --cacert "$CERTS/ca.pem" --data-binary @"$T_TMP/post.bin" "$PY/post"
	if [ "$GET_RC" -eq 0 ] && has "$out" "^$sum 10000000 POST\$"; then
		ok "get python: 10 MB POST (--data-binary @FILE), sha256 matches at the server"
	else notok "get python: 10 MB POST (--data-binary @FILE), sha256 matches at the server" "exit $GET_RC: $(head -c 200 "$out")"; diag "$out.err"; fi

	out=$T_TMP/post307
	moat_get "post307" "$out" -L --cacert "$CERTS/ca.pem" --data-binary @"$T_TMP/post.bin" "$PY/redir307"
	if [ "$GET_RC" -eq 0 ] && has "$out" "^$sum 10000000 POST\$"; then
		ok "get python: -L on a 307 sends the same POST body again"
	else notok "get python: -L on a 307 sends the same POST body again" "exit $GET_RC"; diag "$out.err"; fi

	out=$T_TMP/form
	moat_get "form" "$out" --cacert "$CERTS/ca.pem" -d a=1 -d b=2 "$PY/post"
	want=$(printf 'a=1&b=2' | sha256sum | cut -d' ' -f1)
	check "get python: -d a=1 -d b=2 posts a=1&b=2" has "$out" "^$want 7 POST\$"

	out=$T_TMP/chunked
	moat_get "chunked" "$out" --cacert "$CERTS/ca.pem" "$PY/chunked"
	if [ "$GET_RC" -eq 0 ] && [ "$(wc -l <"$out")" -eq 50 ] && has "$out" "^line 49 of the chunked answer\$"; then
		ok "get python: chunked answer decoded (50 chunks)"
	else notok "get python: chunked answer decoded (50 chunks)" "exit $GET_RC"; diag "$out.err"; fi

	out=$T_TMP/cut
	moat_get "cut" "$out" --cacert "$CERTS/ca.pem" -o "$out.body" "$PY/cut"
	if [ "$GET_RC" -eq 18 ] && has "$out.err" "cut off"; then
		ok "get python: a server that closes mid-body gives exit 18, not success"
	else notok "get python: a server that closes mid-body gives exit 18, not success" "exit $GET_RC"; diag "$out.err"; fi
	bg_stop "$PY_PID"
else
	notok "get python: the python3 ssl backend starts"
	diag "$T_TMP/backend.out" "$T_TMP/backend.err"
	bg_stop "$PY_PID"
fi

# ---- --session: a ticket saved, then resumed (openssl s_server)
if s_server_start "session" "$T_TMP/site"; then
	S=$T_TMP/session.bin
	out=$T_TMP/sess1
	moat_get "sess1" "$out" -v --session "$S" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$out.err" "resumed: no" && [ -s "$S" ] && [ "$(stat -c %a "$S")" = 600 ]; then
		ok "get s_server: --session saves the ticket (mode 0600) after a full handshake"
	else notok "get s_server: --session saves the ticket (mode 0600) after a full handshake" "exit $GET_RC"; diag "$out.err"; fi
	out=$T_TMP/sess2
	moat_get "sess2" "$out" -v --session "$S" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$out" "$SITE_TOKEN" && has "$out.err" "resumed: yes"; then
		ok "get s_server: --session resumes on the next run (-v: resumed: yes)"
	else notok "get s_server: --session resumes on the next run (-v: resumed: yes)" "exit $GET_RC"; diag "$out.err"; fi
	out=$T_TMP/sess3
	moat_get "sess3" "$out" --explain --session "$S" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	check "get s_server: --explain of a resumed handshake says so" has "$out.err" "ticket .* accepted: this is a resumed session"
	printf 'garbage' >"$T_TMP/bad-session"
	out=$T_TMP/sess4
	moat_get "sess4" "$out" -v --session "$T_TMP/bad-session" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	check "get s_server: a damaged --session file means a full handshake, not a failure" \
		test "$GET_RC" -eq 0 -a "$(grep -c 'resumed: no' "$out.err")" -eq 1
	bg_stop "$PEER_PID"
fi

# ---- --session remembers how the server was judged: a session saved
# under -k is never offered to a verifying run, nor one verified with
# other CAs (a full handshake judges the server again, as curl does)
if PEER_CERT=$CERTS/selfsigned.pem PEER_KEY=$CERTS/selfsigned.key s_server_start "session-k" "$T_TMP/site"; then
	S=$T_TMP/session-k.bin
	out=$T_TMP/sessk1
	moat_get "sessk1" "$out" -k -v --session "$S" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && [ -s "$S" ]; then
		ok "get s_server: -k --session saves a session from a self-signed server"
	else notok "get s_server: -k --session saves a session from a self-signed server" "exit $GET_RC"; diag "$out.err"; fi
	cp "$S" "$S.orig"
	out=$T_TMP/sessk2
	moat_get "sessk2" "$out" -k -v --session "$S" "https://localhost:$PEER_PORT/index.html"
	check "get s_server: a -k session resumes under -k" has "$out.err" "resumed: yes"
	cp "$S.orig" "$S"
	out=$T_TMP/sessk3
	moat_get "sessk3" "$out" -v --session "$S" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 60 ] && has "$out.err" "self-signed and not trusted" && ! has "$out.err" "resumed: yes"; then
		ok "get s_server: a session saved under -k is not offered with --cacert: the self-signed server is refused (60)"
	else notok "get s_server: a session saved under -k is not offered with --cacert: the self-signed server is refused (60)" "exit $GET_RC"; diag "$out.err"; fi
	cp "$S.orig" "$S"
	out=$T_TMP/sessk4
	moat_get "sessk4" "$out" -v --session "$S" --cacert "$CERTS/selfsigned.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$out.err" "resumed: no" && has "$out.err" "certificate: verified for localhost$"; then
		ok "get s_server: a -k session is not offered even where the server would pass: a full handshake verifies it"
	else notok "get s_server: a -k session is not offered even where the server would pass: a full handshake verifies it" "exit $GET_RC"; diag "$out.err"; fi
	out=$T_TMP/sessk5
	cat "$CERTS/selfsigned.pem" "$CERTS/ca.pem" >"$T_TMP/two-cas.pem"
	moat_get "sessk5" "$out" -v --session "$S" --cacert "$T_TMP/two-cas.pem" "https://localhost:$PEER_PORT/index.html"
	check "get s_server: a session verified with one --cacert is not offered with another (full handshake)" \
		test "$GET_RC" -eq 0 -a "$(grep -c 'resumed: no' "$out.err")" -eq 1
	out=$T_TMP/sessk6
	moat_get "sessk6" "$out" -v --session "$S" --cacert "$T_TMP/two-cas.pem" "https://localhost:$PEER_PORT/index.html"
	check "get s_server: and resumes with the same --cacert" has "$out.err" "resumed: yes"
	out=$T_TMP/sessk7
	moat_get "sessk7" "$out" -v --session "$S" -k "https://localhost:$PEER_PORT/index.html"
	check "get s_server: a verified session is not offered under -k" \
		test "$GET_RC" -eq 0 -a "$(grep -c 'resumed: no' "$out.err")" -eq 1
	bg_stop "$PEER_PID"
fi

# ---- --cert/--key: s_server -Verify 1 demands a client certificate
C=$T_TMP/client
mkdir -p "$C"
(
	cd "$C" &&
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client.key &&
		openssl req -new -key client.key -subj "/CN=moat test client" -out client.csr &&
		printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >client.ext &&
		openssl x509 -req -in client.csr -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
			-days 7 -extfile client.ext -out client.pem
) >"$C/gen.log" 2>&1 || { notok "get s_server: client certificate made"; diag "$C/gen.log"; }
if s_server_start "mtls" "$T_TMP/site" -Verify 1 -CAfile "$CERTS/ca.pem"; then
	out=$T_TMP/mtls
	moat_get "mtls" "$out" --cert "$C/client.pem" --key "$C/client.key" --cacert "$CERTS/ca.pem" \
		"https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$out" "$SITE_TOKEN"; then
		ok "get s_server -Verify 1: --cert/--key presents a client certificate, page fetched"
	else notok "get s_server -Verify 1: --cert/--key presents a client certificate, page fetched" "exit $GET_RC"; diag "$out.err" "$PEER_LOG.err"; fi
	out=$T_TMP/mtls-none
	moat_get "mtls-none" "$out" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -ne 0 ] && [ ! -s "$out" ]; then
		ok "get s_server -Verify 1: without --cert the server refuses (exit $GET_RC)"
	else notok "get s_server -Verify 1: without --cert the server refuses" "exit $GET_RC"; diag "$out.err"; fi
	bg_stop "$PEER_PID"
fi
out=$T_TMP/badcert
moat_get "badcert" "$out" --cert "$T_TMP/nonexistent.pem" --key "$C/client.key" "https://localhost:1/"
check "get: an unreadable --cert is exit 58 before any connection" test "$GET_RC" -eq 58

# ---- OCSP staples from s_server -status_file
O=$T_TMP/ocsp
mkdir -p "$O"
: >"$O/index.txt"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\ndefault_md=sha256\nunique_subject=no\n' "$O" >"$O/ca.cnf"
ocsp_resp() { # ocsp_resp CERT OUT
	openssl ocsp -index "$O/index.txt" -rsigner "$CERTS/ca.pem" -rkey "$CERTS/ca.key" -CA "$CERTS/ca.pem" \
		-issuer "$CERTS/ca.pem" -cert "$1" -respout "$2" -ndays 1
}
{
	openssl ca -config "$O/ca.cnf" -keyfile "$CERTS/ca.key" -cert "$CERTS/ca.pem" -valid "$CERTS/p256.pem" &&
		ocsp_resp "$CERTS/p256.pem" "$O/good.der" &&
		openssl ca -config "$O/ca.cnf" -keyfile "$CERTS/ca.key" -cert "$CERTS/ca.pem" -revoke "$CERTS/p256.pem" &&
		ocsp_resp "$CERTS/p256.pem" "$O/revoked.der"
} >"$O/log" 2>&1 || { notok "get s_server: OCSP responses made with openssl ocsp"; diag "$O/log"; }
if s_server_start "ocsp good" "$T_TMP/site" -status_file "$O/good.der"; then
	out=$T_TMP/ocsp-good
	moat_get "ocsp good" "$out" -v --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$out.err" "OCSP stapled: yes"; then
		ok "get s_server -status_file good: fetched, -v shows the checked staple"
	else notok "get s_server -status_file good: fetched, -v shows the checked staple" "exit $GET_RC"; diag "$out.err"; fi
	bg_stop "$PEER_PID"
fi
if s_server_start "ocsp revoked" "$T_TMP/site" -status_file "$O/revoked.der"; then
	out=$T_TMP/ocsp-revoked
	moat_get "ocsp revoked" "$out" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	line=$(grep '^moat: refused' "$out.err")
	if [ "$GET_RC" -eq 60 ] && echo "$line" | grep -q "revoked.*NET::ERR_CERT_REVOKED"; then
		ok "get s_server -status_file revoked: refused, exit 60: ${line#moat: refused }"
	else notok "get s_server -status_file revoked: refused, exit 60" "exit $GET_RC"; diag "$out.err"; fi
	bg_stop "$PEER_PID"
fi
finish
