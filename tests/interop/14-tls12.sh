#!/usr/bin/env bash
# TLS 1.2, the safe subset, through sockets. moat serve against
# `openssl s_client -tls1_2` (every suite x group x certificate type forced
# on the client's side), gnutls-cli with a 1.2-only priority string,
# curl --tls-max 1.2 and NSS tstclnt -V tls1.2:tls1.2; resumption with a
# ticket, client certificates, an OCSP staple in CertificateStatus, the
# access log; refusals: no extended master secret, only CBC or only RSA
# key transport, TLS 1.0 and 1.1, a fallback SCSV, renegotiation, and
# --tls-min 1.3. moat get against `openssl s_server -tls1_2` (every suite x
# group x certificate type forced on the server's side), gnutls-serv with a
# 1.2-only priority string and nginx with ssl_protocols TLSv1.2; --session
# over 1.2, a client certificate, --tls-max and --tlsv1.3; a server that
# puts the downgrade sentinel in a 1.2 ServerHello, and one without the
# extended master secret.
. "$(dirname "$0")/../lib.sh"
need openssl gnutls-cli gnutls-serv curl tstclnt certutil nginx python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
gen_client_cert || { notok "client certificate made"; finish; exit; }
make_site "$T_TMP/site"
nss_db

OSSL_SUITES_ECDSA=(ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305)
OSSL_SUITES_RSA=(ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305)
GROUPS12=(x25519 secp256r1 secp384r1)

# sc12 OUT PORT [s_client args...]: a 1.2 s_client that fetches /index.html.
sc12() {
	local out=$1 port=$2
	shift 2
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls1_2 \
		-CAfile "$CERTS/ca.pem" -verify_return_error -verify_hostname localhost "$@" \
		< <(req_hold /index.html) >"$out" 2>&1
}

# matrix KIND SUITES: each suite of the certificate's kind x each group,
# the group forced by a moat serve --groups G (in 1.2 the server picks),
# the suite by the client; a client of an ECDSA certificate also lists
# the certificate's curve (RFC 8422 5.1).
matrix() {
	local kind=$1 s g out why glist
	local -n suites=OSSL_SUITES_$2
	for g in "${GROUPS12[@]}"; do
		glist=$g
		case $kind in p256) [ "$g" = secp256r1 ] || glist=$g:secp256r1 ;; p384) [ "$g" = secp384r1 ] || glist=$g:secp384r1 ;; esac
		moat_serve "tls12 $kind $g" "$T_TMP/site" --cert "$CERTS/$kind.pem" --key "$CERTS/$kind.key" \
			--groups "$g" || continue
		for s in "${suites[@]}"; do
			out=$T_TMP/m.$kind.$s.$g
			sc12 "$out" "$SRV_PORT" -cipher "$s" -groups "$glist"
			why=""
			has "$out" "^New, TLSv1.2, Cipher is $s\$" || why="not TLS 1.2 with $s;"
			has "$out" "$SITE_TOKEN" || why="$why no body;"
			has "$out" "Server Temp Key: .*$(group_openssl_re "$g")" || why="$why group is not $g;"
			has "$out" "Extended master secret: yes" || why="$why no EMS;"
			has "$out" "Secure Renegotiation IS supported" || why="$why no secure renegotiation;"
			if [ -z "$why" ]; then ok "tls12 s_client $kind $s $g"; else
				notok "tls12 s_client $kind $s $g" "$why"
				diag "$out"
			fi
		done
		bg_stop "$SRV_PID"
	done
}

for kind in p256 p384 rsa; do
	case $kind in rsa) k=RSA ;; *) k=ECDSA ;; esac
	matrix "$kind" "$k"
	if moat_serve "tls12 $kind" "$T_TMP/site" --cert "$CERTS/$kind.pem" --key "$CERTS/$kind.key" \
		--access-log "$T_TMP/access-$kind.log"; then
		# gnutls-cli with a 1.2-only priority string.
		out=$T_TMP/gnutls.$kind
		timeout "$T_CLIENT" gnutls-cli --x509cafile "$CERTS/ca.pem" -p "$SRV_PORT" localhost \
			--priority "NORMAL:-VERS-ALL:+VERS-TLS1.2" < <(req_hold /index.html) >"$out" 2>&1
		if has "$out" "$SITE_TOKEN" && has "$out" 'Description: \(TLS1\.2-X\.509\)-\(ECDHE-'; then
			ok "tls12 gnutls-cli $kind (1.2-only priority)"
		else notok "tls12 gnutls-cli $kind (1.2-only priority)"; diag "$out"; fi
		# curl --tls-max 1.2.
		out=$T_TMP/curl.$kind
		timeout "$T_CLIENT" curl -sS -v --tls-max 1.2 --cacert "$CERTS/ca.pem" \
			--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
		if has "$out" "$SITE_TOKEN" && has "$out" 'SSL connection using TLSv1.2 / ECDHE-'; then
			ok "tls12 curl --tls-max 1.2 $kind"
		else notok "tls12 curl --tls-max 1.2 $kind"; diag "$out"; fi
		# NSS tstclnt limited to 1.2.
		out=$T_TMP/nss.$kind
		timeout "$T_CLIENT" tstclnt -h 127.0.0.1 -p "$SRV_PORT" -a localhost -d "sql:$NSSDB" \
			-V tls1.2:tls1.2 -v < <(http_req /index.html) >"$out" 2>&1
		if has "$out" "$SITE_TOKEN" && has "$out" 'TLS 1.2|version 3.3|TLSv1.2'; then
			ok "tls12 tstclnt -V tls1.2:tls1.2 $kind"
		else notok "tls12 tstclnt -V tls1.2:tls1.2 $kind"; diag "$out"; fi
		sleep 0.3
		check "tls12 $kind: the access log records TLSv1.2 and the 1.2 suite" \
			has "$T_TMP/access-$kind.log" " TLSv1\.2 TLS_ECDHE_(ECDSA|RSA)_WITH_[A-Z0-9_]+ (x25519|secp256r1|secp384r1)$"
		server_alive "tls12 $kind"
		bg_stop "$SRV_PID"
	fi
done

# Resumption with a 1.2 ticket; a renegotiation attempt; the fallback
# SCSV; TLS 1.0 and 1.1.
if moat_serve "tls12 misc" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	sc12 "$T_TMP/res1" "$SRV_PORT" -sess_out "$T_TMP/sess12.pem"
	sc12 "$T_TMP/res2" "$SRV_PORT" -sess_in "$T_TMP/sess12.pem"
	if has "$T_TMP/res2" '^Reused, TLSv1.2' && has "$T_TMP/res2" "$SITE_TOKEN"; then
		ok "tls12 s_client resumes with a session ticket (RFC 5077)"
	else notok "tls12 s_client resumes with a session ticket (RFC 5077)"; diag "$T_TMP/res1" "$T_TMP/res2"; fi
	# s_client's R command renegotiates: moat answers no_renegotiation.
	out=$T_TMP/reneg
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_2 \
		-CAfile "$CERTS/ca.pem" < <(sleep 1; echo R; sleep 2) >"$out" 2>&1
	if has "$out" 'RENEGOTIATING' && has "$out" 'no renegotiation'; then
		ok "tls12 renegotiation (s_client R) refused with no_renegotiation"
	else notok "tls12 renegotiation (s_client R) refused with no_renegotiation"; diag "$out"; fi
	out=$T_TMP/fallback
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_2 \
		-fallback_scsv </dev/null >"$out" 2>&1
	check "tls12 a fallback SCSV (RFC 7507) gets inappropriate_fallback" has "$out" 'inappropriate fallback|alert number 86'
	for v in tls1 tls1_1; do
		out=$T_TMP/old.$v
		timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -$v \
			-cipher DEFAULT@SECLEVEL=0 </dev/null >"$out" 2>&1
		check "tls12 s_client -$v gets protocol_version" has "$out" 'protocol version|alert number 70'
	done
	server_alive "tls12 misc"
	bg_stop "$SRV_PID"
fi

# Client certificates in 1.2 (CertificateRequest, Certificate,
# CertificateVerify over the messages), and resumption keeps the identity.
if moat_serve "tls12 mtls" "$T_TMP/site" --cert "$CERTS/rsa.pem" --key "$CERTS/rsa.key" \
	--client-ca "$CERTS/ca.pem" --client-auth require --access-log "$T_TMP/mtls.log"; then
	sc12 "$T_TMP/mtls1" "$SRV_PORT" -cert "$CERTS/alice.pem" -key "$CERTS/alice.key" -sess_out "$T_TMP/mtls.sess"
	check "tls12 mtls: s_client with alice's certificate gets the page" has "$T_TMP/mtls1" "$SITE_TOKEN"
	sc12 "$T_TMP/mtls2" "$SRV_PORT" -cert "$CERTS/alice.pem" -key "$CERTS/alice.key" -sess_in "$T_TMP/mtls.sess"
	check "tls12 mtls: and resumes" has "$T_TMP/mtls2" '^Reused, TLSv1.2'
	sc12 "$T_TMP/mtls3" "$SRV_PORT"
	check "tls12 mtls: without a certificate, refused (handshake_failure)" has "$T_TMP/mtls3" 'handshake failure|alert number 40'
	sleep 0.3
	check "tls12 mtls: the access log names alice, full and resumed" \
		bash -c "[ \$(grep -c 'CN=alice.* TLSv1.2 TLS_ECDHE_RSA' '$T_TMP/mtls.log') -ge 2 ]"
	server_alive "tls12 mtls"
	bg_stop "$SRV_PID"
fi

# An OCSP staple in CertificateStatus (RFC 6066 8).
O=$T_TMP/ocsp
mkdir -p "$O/db"
: >"$O/db/index.txt"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/db/index.txt\ndefault_md=sha256\nunique_subject=no\n' "$O" >"$O/ca.cnf"
if openssl ca -config "$O/ca.cnf" -keyfile "$CERTS/ca.key" -cert "$CERTS/ca.pem" -valid "$CERTS/p256.pem" >"$O/log" 2>&1 &&
	openssl ocsp -index "$O/db/index.txt" -rsigner "$CERTS/ca.pem" -rkey "$CERTS/ca.key" -CA "$CERTS/ca.pem" \
		-issuer "$CERTS/ca.pem" -cert "$CERTS/p256.pem" -respout "$O/good.der" -ndays 1 >>"$O/log" 2>&1 &&
	moat_serve "tls12 ocsp" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --ocsp-staple "$O/good.der"; then
	sc12 "$T_TMP/ocsp1" "$SRV_PORT" -status
	if has "$T_TMP/ocsp1" 'OCSP Response Status: successful' && has "$T_TMP/ocsp1" 'Cert Status: good' &&
		has "$T_TMP/ocsp1" "$SITE_TOKEN"; then
		ok "tls12 ocsp: s_client -status gets the staple, good"
	else notok "tls12 ocsp: s_client -status gets the staple, good"; diag "$T_TMP/ocsp1"; fi
	sc12 "$T_TMP/ocsp2" "$SRV_PORT"
	check "tls12 ocsp: no staple unasked" bash -c "! grep -q 'OCSP Response Status' '$T_TMP/ocsp2'"
	bg_stop "$SRV_PID"
else notok "tls12 ocsp: staple made and served"; diag "$O/log"; fi

# Raw ClientHellos that a 1.2 server must refuse.
cat >"$T_TMP/hello12.py" <<'PY'
import os, socket, struct, sys

def vec(n, b):
    return len(b).to_bytes(n, "big") + b

def ext(t, body):
    return struct.pack(">H", t) + vec(2, body)

GCM = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA8, 0xCCA9]
CBC = [0xC023, 0xC027, 0xC009, 0xC013, 0xC00A, 0xC014]
RSA_KX = [0x009C, 0x009D, 0x003C, 0x002F, 0x0035]

def hello(legacy=0x0303, suites=GCM, ems=True):
    exts = ext(0, vec(2, b"\x00" + vec(2, b"localhost")))
    exts += ext(10, vec(2, struct.pack(">HHH", 0x001D, 0x0017, 0x0018)))
    exts += ext(11, vec(1, b"\x00"))
    exts += ext(13, vec(2, struct.pack(">HHHH", 0x0403, 0x0804, 0x0401, 0x0503)))
    exts += ext(0xff01, b"\x00")
    if ems:
        exts += ext(23, b"")
    body = (struct.pack(">H", legacy) + os.urandom(32) + vec(1, b"") +
            vec(2, b"".join(struct.pack(">H", s) for s in suites)) + b"\x01\x00" + vec(2, exts))
    msg = b"\x01" + vec(3, body)
    return b"\x16\x03\x01" + vec(2, msg)

kind = sys.argv[2]
ch = {"ok": hello(), "no-ems": hello(ems=False), "cbc": hello(suites=CBC),
      "rsa-kx": hello(suites=RSA_KX), "tls10": hello(legacy=0x0301),
      "tls11": hello(legacy=0x0302), "ssl3": hello(legacy=0x0300)}[kind]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(ch)
got = b""
while len(got) < 5 or len(got) < 5 + int.from_bytes(got[3:5], "big"):
    more = s.recv(65536)
    if not more:
        break
    got += more
if len(got) >= 7 and got[0] == 21:
    print("alert", got[6])
elif len(got) >= 11 and got[0] == 22 and got[5] == 2:
    print("server_hello", got[9:11].hex())
else:
    print("closed", got[:16].hex())
PY
hello12() {
	local name=$1 want=$2 out=$T_TMP/h12.$RANDOM
	timeout "$T_CLIENT" python3 "$T_TMP/hello12.py" "$SRV_PORT" "$3" >"$out" 2>&1
	if [ "$(cat "$out")" = "$want" ]; then ok "$name: $want"; else
		notok "$name: $want" "got: $(head -c 200 "$out")"
	fi
}
if moat_serve "tls12 refusals" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" \
	--cert "$CERTS/rsa.pem" --key "$CERTS/rsa.key"; then
	hello12 "tls12 a well-formed 1.2 ClientHello" "server_hello 0303" ok
	hello12 "tls12 no extended_master_secret" "alert 40" no-ems
	hello12 "tls12 only CBC suites" "alert 40" cbc
	hello12 "tls12 only RSA key transport suites" "alert 40" rsa-kx
	hello12 "tls12 a TLS 1.0 ClientHello" "alert 70" tls10
	hello12 "tls12 a TLS 1.1 ClientHello" "alert 70" tls11
	hello12 "tls12 an SSL 3 ClientHello" "alert 70" ssl3
	server_alive "tls12 refusals"
	bg_stop "$SRV_PID"
fi

# --tls-min 1.3: a 1.2 client gets protocol_version; 1.3 still works.
if moat_serve "tls12 min 1.3" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --tls-min 1.3; then
	hello12 "tls12 --tls-min 1.3: a 1.2 ClientHello" "alert 70" ok
	sc12 "$T_TMP/min13" "$SRV_PORT"
	check "tls12 --tls-min 1.3: s_client -tls1_2 refused" has "$T_TMP/min13" 'protocol version|alert number 70'
	bg_stop "$SRV_PID"
fi
# ---- moat get in 1.2
OSSL2MOAT() { # s_server's suite name -> moat's (IANA)
	echo "TLS_$1" | sed -e 's/-/_/g' -e 's/ECDHE_ECDSA_/ECDHE_ECDSA_WITH_/; s/ECDHE_RSA_/ECDHE_RSA_WITH_/' \
		-e 's/AES128_GCM/AES_128_GCM/; s/AES256_GCM/AES_256_GCM/; s/CHACHA20_POLY1305$/CHACHA20_POLY1305_SHA256/'
}
for kind in p256 p384 rsa; do
	case $kind in rsa) k=RSA ;; *) k=ECDSA ;; esac
	declare -n suites=OSSL_SUITES_$k
	for s in "${suites[@]}"; do
		for g in "${GROUPS12[@]}"; do
			PEER_PROTO=-tls1_2 PEER_CERT=$CERTS/$kind.pem PEER_KEY=$CERTS/$kind.key \
				s_server_start "get12 $kind $s $g" "$T_TMP/site" -cipher "$s" -groups "$g" || continue
			out=$T_TMP/get.$kind.$s.$g
			moat_get "get12" "$out" -v --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
			why=""
			[ "$GET_RC" -eq 0 ] || why="exit $GET_RC;"
			has "$out" "$SITE_TOKEN" || why="$why no body;"
			has "$out.err" '^\* protocol: TLSv1\.2$' || why="$why not TLS 1.2;"
			has "$out.err" "^\* cipher: $(OSSL2MOAT "$s")\$" || why="$why suite is not $s;"
			has "$out.err" "^\* group: $g\$" || why="$why group is not $g;"
			if [ -z "$why" ]; then ok "tls12 get from s_server $kind $s $g"; else
				notok "tls12 get from s_server $kind $s $g" "$why"
				diag "$out.err"
			fi
			bg_stop "$PEER_PID"
		done
	done
	unset -n suites
done

# --session over 1.2 with s_server's tickets; a client certificate.
if PEER_PROTO=-tls1_2 s_server_start "get12 session" "$T_TMP/site" -Verify 1 -CAfile "$CERTS/ca.pem"; then
	U="https://localhost:$PEER_PORT/index.html"
	moat_get "get12 s1" "$T_TMP/gs1" -v --cacert "$CERTS/ca.pem" --cert "$CERTS/alice.pem" --key "$CERTS/alice.key" --session "$T_TMP/get12.sess" "$U"
	moat_get "get12 s2" "$T_TMP/gs2" -v --cacert "$CERTS/ca.pem" --cert "$CERTS/alice.pem" --key "$CERTS/alice.key" --session "$T_TMP/get12.sess" "$U"
	check "tls12 get: a client certificate to s_server -Verify (1.2)" has "$T_TMP/gs1" "$SITE_TOKEN"
	if has "$T_TMP/gs2.err" '^\* resumed: yes' && has "$T_TMP/gs2.err" '^\* protocol: TLSv1\.2$' && has "$T_TMP/gs2" "$SITE_TOKEN"; then
		ok "tls12 get --session resumes a 1.2 session (RFC 5077 ticket)"
	else notok "tls12 get --session resumes a 1.2 session (RFC 5077 ticket)"; diag "$T_TMP/gs1.err" "$T_TMP/gs2.err"; fi
	moat_get "get12 13" "$T_TMP/g13" --tlsv1.3 --cacert "$CERTS/ca.pem" "$U"
	check "tls12 get --tlsv1.3 to a 1.2-only server: exit 35 (got $GET_RC)" [ "$GET_RC" -eq 35 ]
	bg_stop "$PEER_PID"
fi
# An OCSP staple from s_server -tls1_2 (CertificateStatus), checked by moat get.
if [ -s "$O/good.der" ] && PEER_PROTO=-tls1_2 s_server_start "get12 ocsp" "$T_TMP/site" -status_file "$O/good.der"; then
	moat_get "get12 ocsp" "$T_TMP/gocsp" -v --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$T_TMP/gocsp.err" '^\* OCSP stapled: yes \(checked\): good'; then
		ok "tls12 get checks s_server's staple in CertificateStatus (good)"
	else notok "tls12 get checks s_server's staple in CertificateStatus (good)" "exit $GET_RC"; diag "$T_TMP/gocsp.err"; fi
	bg_stop "$PEER_PID"
fi
# --tls-max 1.2 against moat serve (which speaks both).
if moat_serve "get12 moat" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	moat_get "get12 max" "$T_TMP/gmax" -v --tls-max 1.2 --cacert "$CERTS/ca.pem" "https://localhost:$SRV_PORT/index.html"
	check "tls12 get --tls-max 1.2 from moat serve: TLSv1.2" has "$T_TMP/gmax.err" '^\* protocol: TLSv1\.2$'
	moat_get "get12 def" "$T_TMP/gdef" -v --cacert "$CERTS/ca.pem" "https://localhost:$SRV_PORT/index.html"
	check "tls12 get (default) from moat serve: TLSv1.3" has "$T_TMP/gdef.err" '^\* protocol: TLSv1\.3$'
	bg_stop "$SRV_PID"
fi
# gnutls-serv with a 1.2-only priority string.
if gnutls_serv_start "get12 gnutls" "NORMAL:-VERS-ALL:+VERS-TLS1.2"; then
	moat_get "get12 gnutls" "$T_TMP/ggn" -v --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/"
	if [ "$GET_RC" -eq 0 ] && has "$T_TMP/ggn.err" '^\* protocol: TLSv1\.2$'; then ok "tls12 get from gnutls-serv (1.2 only)"
	else notok "tls12 get from gnutls-serv (1.2 only)" "exit $GET_RC"; diag "$T_TMP/ggn.err"; fi
	bg_stop "$PEER_PID"
fi
# nginx with ssl_protocols TLSv1.2, one server per certificate type.
N=$T_TMP/nginx
mkdir -p "$N/logs"
declare -A NP
{
	[ "$(id -u)" -eq 0 ] && echo "user root;"
	printf 'worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/logs/error.log warn;\n' "$N" "$N"
	printf 'events { worker_connections 64; }\nhttp {\n access_log off;\n client_body_temp_path %s/b;\n proxy_temp_path %s/p;\n fastcgi_temp_path %s/f;\n uwsgi_temp_path %s/u;\n scgi_temp_path %s/s;\n ssl_protocols TLSv1.2;\n' "$N" "$N" "$N" "$N" "$N"
	for kind in p256 p384 rsa; do
		NP[$kind]=$(free_port)
		printf ' server { listen 127.0.0.1:%s ssl; server_name localhost; ssl_certificate %s; ssl_certificate_key %s; root %s; }\n' \
			"${NP[$kind]}" "$CERTS/$kind.pem" "$CERTS/$kind.key" "$T_TMP/site"
	done
	echo "}"
} >"$N/nginx.conf"
bg_start "$N/nginx" nginx -e "$N/logs/error.log" -p "$N" -c "$N/nginx.conf"
NGINX_PID=$BG_PID
for kind in p256 p384 rsa; do
	if ! wait_listen "${NP[$kind]}"; then notok "tls12 nginx starts ($kind)"; diag "$N/nginx.err" "$N/logs/error.log"; continue; fi
	moat_get "get12 nginx" "$T_TMP/gng.$kind" -v --cacert "$CERTS/ca.pem" --session "$T_TMP/ng.$kind.sess" "https://localhost:${NP[$kind]}/index.html"
	moat_get "get12 nginx" "$T_TMP/gng2.$kind" -v --cacert "$CERTS/ca.pem" --session "$T_TMP/ng.$kind.sess" "https://localhost:${NP[$kind]}/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$T_TMP/gng.$kind" "$SITE_TOKEN" && has "$T_TMP/gng.$kind.err" '^\* protocol: TLSv1\.2$' &&
		has "$T_TMP/gng.$kind.err" '^\* cipher: TLS_ECDHE_(ECDSA|RSA)_WITH_' && has "$T_TMP/gng2.$kind.err" '^\* resumed: yes'; then
		ok "tls12 get from nginx (ssl_protocols TLSv1.2) $kind, and resumed"
	else notok "tls12 get from nginx (ssl_protocols TLSv1.2) $kind, and resumed" "exit $GET_RC"; diag "$T_TMP/gng.$kind.err" "$T_TMP/gng2.$kind.err"; fi
done
bg_stop "$NGINX_PID"

# --explain narrates a 1.2 handshake and what differs from 1.3.
if moat_serve "get12 explain" "$T_TMP/site" --cert "$CERTS/rsa.pem" --key "$CERTS/rsa.key"; then
	moat_get "get12 explain" "$T_TMP/gex" --explain --tls-max 1.2 --cacert "$CERTS/ca.pem" "https://localhost:$SRV_PORT/index.html"
	why=""
	for w in 'ServerKeyExchange \(' 'ClientKeyExchange \(' 'Certificate \([0-9]+ bytes, in the clear' \
		'change_cipher_spec: a real key change' 'What differs from TLS 1.3' 'keys come from the PRF' \
		'One round trip more' 'extended master secret'; do
		has "$T_TMP/gex.err" "$w" || why="$why missing '$w';"
	done
	if [ "$GET_RC" -eq 0 ] && [ -z "$why" ]; then ok "tls12 get --explain narrates the 1.2 handshake and the differences from 1.3"
	else notok "tls12 get --explain narrates the 1.2 handshake and the differences from 1.3" "exit $GET_RC;$why"; diag "$T_TMP/gex.err"; fi
	bg_stop "$SRV_PID"
fi

# A server that negotiates 1.2 with the downgrade sentinel in its random
# (as a 1.3 server stripped of 1.3 would), and one without EMS.
cat >"$T_TMP/fake12.py" <<'PY'
import os, socket, struct, sys

def vec(n, b):
    return len(b).to_bytes(n, "big") + b

def ext(t, body):
    return struct.pack(">H", t) + vec(2, body)

mode = sys.argv[2]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(4)
while True:
    c, _ = ls.accept()
    c.settimeout(10)
    try:
        c.recv(65536)
        rnd = os.urandom(24) + (b"DOWNGRD\x01" if mode == "downgrade" else os.urandom(8))
        exts = ext(0xff01, b"\x00")
        if mode != "no-ems":
            exts += ext(23, b"")
        body = b"\x03\x03" + rnd + vec(1, b"") + b"\xc0\x2b\x00" + vec(2, exts)
        c.sendall(b"\x16\x03\x03" + vec(2, b"\x02" + vec(3, body)))
        got = c.recv(64)
        sys.stdout.write("got %s\n" % got.hex())
        sys.stdout.flush()
    except Exception as e:
        sys.stdout.write("error %s\n" % e)
    c.close()
PY
for mode in downgrade no-ems; do
	FP=$(free_port)
	bg_start "$T_TMP/fake.$mode" python3 "$T_TMP/fake12.py" "$FP" "$mode"
	FPID=$BG_PID
	wait_listen "$FP" || { notok "tls12 fake server $mode starts"; continue; }
	moat_get "fake $mode" "$T_TMP/gf.$mode" --cacert "$CERTS/ca.pem" "https://localhost:$FP/"
	case $mode in
	downgrade)
		if [ "$GET_RC" -eq 35 ] && wait_file_line "$T_TMP/fake.$mode.out" '^got 15030[13]0002022f'; then
			ok "tls12 get sees DOWNGRD in a 1.2 ServerHello after offering 1.3: illegal_parameter, exit 35"
		else notok "tls12 get sees DOWNGRD in a 1.2 ServerHello after offering 1.3: illegal_parameter, exit 35" "exit $GET_RC"
			diag "$T_TMP/gf.$mode.err" "$T_TMP/fake.$mode.out"; fi
		moat_get "fake $mode 12" "$T_TMP/gf2.$mode" --tls-max 1.2 --cacert "$CERTS/ca.pem" "https://localhost:$FP/"
		check "tls12 get --tls-max 1.2 does not look for the sentinel (the handshake goes on: a certificate is awaited)" \
			bash -c "! grep -q 'illegal_parameter' '$T_TMP/gf2.$mode.err'"
		;;
	no-ems)
		if [ "$GET_RC" -eq 35 ] && has "$T_TMP/gf.$mode.err" 'extended master secret'; then
			ok "tls12 get refuses a 1.2 server without the extended master secret (exit 35, says why)"
		else notok "tls12 get refuses a 1.2 server without the extended master secret (exit 35, says why)" "exit $GET_RC"
			diag "$T_TMP/gf.$mode.err"; fi
		;;
	esac
	bg_stop "$FPID"
done
out=$T_TMP/badmin
"$MOAT" serve "$T_TMP/site" --tls-min 1.1 >"$out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$out" "tls-min takes 1.2 or 1.3, not '1.1'"; then ok "tls12 --tls-min 1.1: exit 2, named"; else
	notok "tls12 --tls-min 1.1: exit 2, named" "exit $rc"; diag "$out"; fi
finish
