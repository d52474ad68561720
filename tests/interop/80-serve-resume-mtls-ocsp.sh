#!/usr/bin/env bash
# moat serve's resumption, client-certificate and OCSP-stapling flags with
# real peers: openssl s_client -sess_out/-sess_in and gnutls-cli --resume,
# two servers sharing --ticket-keys, a forged ticket; --client-ca with
# s_client -cert and curl --cert, certificate_required; --ocsp-staple with
# responses made by `openssl ocsp` (good, revoked, replaced while running).
. "$(dirname "$0")/../lib.sh"
need openssl gnutls-cli curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
C=$CERTS

# sclient OUT ARGS...: s_client asking for / and reading until the close.
sclient() {
	local out=$1
	shift
	http_req / | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" \
		-servername localhost -CAfile "$C/ca.pem" -ign_eof "$@" >"$out" 2>&1
}

# ---- resumption
head -c 160 /dev/urandom >"$T_TMP/keys-shared"
head -c 80 /dev/urandom >"$T_TMP/keys-other"
head -c 79 /dev/urandom >"$T_TMP/keys-bad"
out=$T_TMP/badkeys
timeout "$T_CLIENT" "$MOAT" serve "$T_TMP/site" --listen "127.0.0.1:$(free_port)" \
	--cert "$C/p256.pem" --key "$C/p256.key" --ticket-keys "$T_TMP/keys-bad" >"$out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$out" "80-byte"; then ok "ticket keys: a 79-byte file is refused (exit 2, names 80-byte keys)"
else notok "ticket keys: a 79-byte file is refused (exit 2, names 80-byte keys)" "exit $rc"; diag "$out"; fi

if moat_serve "resume A" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ticket-keys "$T_TMP/keys-shared" --workers 2; then
	A_PID=$SRV_PID A_PORT=$SRV_PORT
	sclient "$T_TMP/s1" -sess_out "$T_TMP/sess"
	if has "$T_TMP/s1" '^New, TLSv1.3' && has "$T_TMP/s1" "$SITE_TOKEN" && [ -s "$T_TMP/sess" ]; then
		ok "resume: s_client -sess_out gets a full handshake and a ticket"
	else notok "resume: s_client -sess_out gets a full handshake and a ticket"; diag "$T_TMP/s1"; fi
	# Twice: with two workers, the second connection may land on the other one.
	for i in 1 2; do
		sclient "$T_TMP/s2-$i" -sess_in "$T_TMP/sess"
		if has "$T_TMP/s2-$i" '^Reused, TLSv1.3' && has "$T_TMP/s2-$i" "$SITE_TOKEN"; then
			ok "resume: s_client -sess_in is Reused ($i)"
		else notok "resume: s_client -sess_in is Reused ($i)"; diag "$T_TMP/s2-$i"; fi
	done
	out=$T_TMP/gnutls-resume
	timeout "$T_CLIENT" gnutls-cli --resume --x509cafile "$C/ca.pem" -p "$SRV_PORT" localhost </dev/null >"$out" 2>&1
	check "resume: gnutls-cli --resume resumes" has "$out" 'This is a resumed session'

	if moat_serve "resume B" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
		--ticket-keys "$T_TMP/keys-shared" --workers 1; then
		sclient "$T_TMP/s3" -sess_in "$T_TMP/sess"
		if has "$T_TMP/s3" '^Reused, TLSv1.3' && has "$T_TMP/s3" "$SITE_TOKEN"; then
			ok "resume: a second moat serve with the same --ticket-keys resumes A's ticket"
		else notok "resume: a second moat serve with the same --ticket-keys resumes A's ticket"; diag "$T_TMP/s3"; fi
		bg_stop "$SRV_PID"
	fi
	if moat_serve "resume C" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
		--ticket-keys "$T_TMP/keys-other" --workers 1; then
		sclient "$T_TMP/s4" -sess_in "$T_TMP/sess"
		if has "$T_TMP/s4" '^New, TLSv1.3' && has "$T_TMP/s4" "$SITE_TOKEN"; then
			ok "resume: a ticket sealed under other keys (forged) gets a full handshake"
		else notok "resume: a ticket sealed under other keys (forged) gets a full handshake"; diag "$T_TMP/s4"; fi
		bg_stop "$SRV_PID"
	fi
	SRV_PID=$A_PID SRV_PORT=$A_PORT
	server_alive "resume A"
	bg_stop "$A_PID"
fi

# psk_ke (4.2.9): a resumption without ECDHE only when the server has
# --psk-ke and the client allows it (s_client -allow_no_dhe_kex offers both
# modes); otherwise psk_dhe_ke, whose ServerHello carries a key share.
temp_key() { grep -q 'Server Temp Key' "$1"; }
if moat_serve "psk_ke" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ticket-keys "$T_TMP/keys-shared" --workers 1 --psk-ke; then
	sclient "$T_TMP/k1" -sess_out "$T_TMP/sess-k"
	sclient "$T_TMP/k2" -sess_in "$T_TMP/sess-k" -allow_no_dhe_kex
	if has "$T_TMP/k2" '^Reused, TLSv1.3' && has "$T_TMP/k2" "$SITE_TOKEN" && ! temp_key "$T_TMP/k2"; then
		ok "psk_ke: --psk-ke and a client allowing it resume without a key exchange"
	else notok "psk_ke: --psk-ke and a client allowing it resume without a key exchange"; diag "$T_TMP/k2"; fi
	sclient "$T_TMP/k3" -sess_in "$T_TMP/sess-k"
	if has "$T_TMP/k3" '^Reused, TLSv1.3' && temp_key "$T_TMP/k3"; then
		ok "psk_ke: a client offering only psk_dhe_ke still gets ECDHE under --psk-ke"
	else notok "psk_ke: a client offering only psk_dhe_ke still gets ECDHE under --psk-ke"; diag "$T_TMP/k3"; fi
	bg_stop "$SRV_PID"
fi
if moat_serve "psk_dhe_ke" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ticket-keys "$T_TMP/keys-shared" --workers 1; then
	sclient "$T_TMP/k4" -sess_in "$T_TMP/sess-k" -allow_no_dhe_kex
	if has "$T_TMP/k4" '^Reused, TLSv1.3' && temp_key "$T_TMP/k4"; then
		ok "psk_ke: without --psk-ke a client allowing psk_ke still gets psk_dhe_ke"
	else notok "psk_ke: without --psk-ke a client allowing psk_ke still gets psk_dhe_ke"; diag "$T_TMP/k4"; fi
	bg_stop "$SRV_PID"
fi

# Rotation by SIGHUP: a new key first keeps old tickets opening; once the
# old key is gone they get a full handshake. And tickets expire.
head -c 80 /dev/urandom >"$T_TMP/k1"
head -c 80 /dev/urandom >"$T_TMP/k2"
cp "$T_TMP/k1" "$T_TMP/keys-rot"
if moat_serve "rotate" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ticket-keys "$T_TMP/keys-rot" --workers 1; then
	sclient "$T_TMP/r1" -sess_out "$T_TMP/sess-rot"
	cat "$T_TMP/k2" "$T_TMP/k1" >"$T_TMP/keys-rot"
	kill -HUP "$SRV_PID"
	wait_file_line "$SRV_LOG.err" 'reloaded (generation 1)' 5
	sleep 0.3
	sclient "$T_TMP/r2" -sess_in "$T_TMP/sess-rot"
	check "ticket rotation: after SIGHUP with a new key first, the old ticket still resumes" has "$T_TMP/r2" '^Reused, TLSv1.3'
	cp "$T_TMP/k2" "$T_TMP/keys-rot"
	kill -HUP "$SRV_PID"
	wait_file_line "$SRV_LOG.err" 'reloaded (generation 2)' 5
	sleep 0.3
	sclient "$T_TMP/r3" -sess_in "$T_TMP/sess-rot"
	if has "$T_TMP/r3" '^New, TLSv1.3' && has "$T_TMP/r3" "$SITE_TOKEN"; then
		ok "ticket rotation: once the old key is removed, its ticket gets a full handshake"
	else notok "ticket rotation: once the old key is removed, its ticket gets a full handshake"; diag "$T_TMP/r3"; fi
	bg_stop "$SRV_PID"
fi
if moat_serve "expiry" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --ticket-lifetime 1 --workers 1; then
	sclient "$T_TMP/e1" -sess_out "$T_TMP/sess-exp"
	sleep 2.2
	sclient "$T_TMP/e2" -sess_in "$T_TMP/sess-exp"
	if has "$T_TMP/e2" '^New, TLSv1.3' && has "$T_TMP/e2" "$SITE_TOKEN"; then
		ok "ticket expiry: a ticket past --ticket-lifetime 1 gets a full handshake"
	else notok "ticket expiry: a ticket past --ticket-lifetime 1 gets a full handshake"; diag "$T_TMP/e2"; fi
	bg_stop "$SRV_PID"
fi

# ---- client certificates
gen_client_cert || { notok "client certificate made"; diag "$C/alice.log"; }
# Client certificates whose keyUsage lacks digitalSignature: bob (RSA,
# keyEncipherment) and carol (EC, keyAgreement).
(
	set -e
	cd "$C"
	exec >bob.log 2>&1
	for who in bob:keyEncipherment:rsa:2048 carol:keyAgreement:ec; do
		IFS=: read -r n ku alg bits <<<"$who"
		printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,%s\nextendedKeyUsage=clientAuth\n' "$ku" >$n.ext
		if [ "$alg" = ec ]; then kopt="-newkey ec -pkeyopt ec_paramgen_curve:P-256"; else kopt="-newkey rsa:$bits"; fi
		openssl req -new $kopt -nodes -keyout $n.key -subj "/O=moat tests/CN=$n" -out $n.csr
		openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -sha256 \
			-extfile $n.ext -out $n.pem
	done
) || { notok "client certificates without digitalSignature made"; diag "$C/bob.log"; rm -f "$C/bob.pem"; }

LOG=$T_TMP/access.log
if moat_serve "mtls require" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--client-ca "$C/ca.pem" --client-auth require --access-log "$LOG" --workers 1; then
	sclient "$T_TMP/m1" -cert "$C/alice.pem" -key "$C/alice.key"
	check "mtls: s_client -cert with a clientAuth certificate gets the page" has "$T_TMP/m1" "$SITE_TOKEN"
	out=$T_TMP/m2
	timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --cert "$C/alice.pem" --key "$C/alice.key" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/sub/hello.txt" >"$out" 2>&1
	check "mtls: curl --cert/--key gets the page" has "$out" "$SITE_TOKEN"
	sclient "$T_TMP/m3"
	if has "$T_TMP/m3" 'certificate required|alert number 116' && ! has "$T_TMP/m3" "$SITE_TOKEN"; then
		ok "mtls: no certificate when required gets certificate_required (116)"
	else notok "mtls: no certificate when required gets certificate_required (116)"; diag "$T_TMP/m3"; fi
	out=$T_TMP/m4
	timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --cert "$C/p256.pem" --key "$C/p256.key" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/" >"$out" 2>&1
	check "mtls: a certificate without clientAuth EKU is refused" bash -c "! grep -q '$SITE_TOKEN' '$out'"
	# RFC 8446 4.4.2.2: a client certificate whose keyUsage lacks
	# digitalSignature cannot sign CertificateVerify; unsupported_certificate.
	if [ -f "$C/bob.pem" ]; then
		for n in bob:keyEncipherment carol:keyAgreement; do
			sclient "$T_TMP/m5-${n%%:*}" -cert "$C/${n%%:*}.pem" -key "$C/${n%%:*}.key"
			name="mtls: a client certificate with keyUsage ${n#*:} only gets unsupported_certificate (43)"
			if has "$T_TMP/m5-${n%%:*}" 'unsupported certificate|alert number 43' && ! has "$T_TMP/m5-${n%%:*}" "$SITE_TOKEN"; then
				ok "$name"
			else notok "$name"; diag "$T_TMP/m5-${n%%:*}"; fi
		done
	fi
	sleep 0.3
	check "mtls: the access log names the client (CN=alice) in Combined Log Format (curl over HTTP/2)" \
		has "$LOG" '^127\.0\.0\.1 - - \[[^]]+\] "GET /sub/hello.txt HTTP/2\.0" 200 [0-9]+ "-" "curl/[^"]*" "[^"]*CN=alice'
	server_alive "mtls require"
	bg_stop "$SRV_PID"
fi
if moat_serve "mtls optional" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--client-ca "$C/ca.pem" --client-auth optional --workers 1; then
	out=$T_TMP/o1
	timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/" >"$out" 2>&1
	check "mtls optional: curl without a certificate gets the page" has "$out" "$SITE_TOKEN"
	bg_stop "$SRV_PID"
fi

# ---- OCSP stapling
O=$T_TMP/ocsp
mkdir -p "$O/db"
: >"$O/db/index.txt"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/db/index.txt\ndefault_md=sha256\nunique_subject=no\n' "$O" >"$O/ca.cnf"
ocsp_resp() { # ocsp_resp CERT OUT
	openssl ocsp -index "$O/db/index.txt" -rsigner "$C/ca.pem" -rkey "$C/ca.key" -CA "$C/ca.pem" \
		-issuer "$C/ca.pem" -cert "$1" -respout "$2" -ndays 1 >>"$O/log" 2>&1
}
{
	openssl ca -config "$O/ca.cnf" -keyfile "$C/ca.key" -cert "$C/ca.pem" -valid "$C/p256.pem" &&
		openssl ca -config "$O/ca.cnf" -keyfile "$C/ca.key" -cert "$C/ca.pem" -valid "$C/rsa.pem" &&
		ocsp_resp "$C/p256.pem" "$O/p256-good.der" &&
		openssl ca -config "$O/ca.cnf" -keyfile "$C/ca.key" -cert "$C/ca.pem" -revoke "$C/rsa.pem" &&
		ocsp_resp "$C/rsa.pem" "$O/rsa-revoked.der" &&
		openssl ca -config "$O/ca.cnf" -keyfile "$C/ca.key" -cert "$C/ca.pem" -revoke "$C/p256.pem" &&
		ocsp_resp "$C/p256.pem" "$O/p256-revoked.der"
} >>"$O/log" 2>&1 || { notok "OCSP responses made with openssl ocsp"; diag "$O/log"; }

cp "$O/p256-good.der" "$O/staple.der"
if moat_serve "ocsp" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ocsp-staple "$O/staple.der" --workers 1; then
	sclient "$T_TMP/ocsp1" -status
	if has "$T_TMP/ocsp1" 'OCSP Response Status: successful' && has "$T_TMP/ocsp1" 'Cert Status: good'; then
		ok "ocsp: s_client -status shows the stapled response, successful, good"
	else notok "ocsp: s_client -status shows the stapled response, successful, good"; diag "$T_TMP/ocsp1"; fi
	sclient "$T_TMP/ocsp2"
	check "ocsp: no staple for a client that does not ask" bash -c "! grep -q 'OCSP Response Status' '$T_TMP/ocsp2'"
	# Replace the file while running: the next handshakes staple the new one.
	cp "$O/p256-revoked.der" "$O/staple.der.new" && touch -d '+2 seconds' "$O/staple.der.new" &&
		mv "$O/staple.der.new" "$O/staple.der"
	got=0
	for i in 1 2 3 4 5 6; do
		sleep 0.5
		sclient "$T_TMP/ocsp3" -status
		has "$T_TMP/ocsp3" 'Cert Status: revoked' && { got=1; break; }
	done
	if [ $got = 1 ]; then ok "ocsp: a replaced staple file is picked up while running (now revoked)"
	else notok "ocsp: a replaced staple file is picked up while running (now revoked)"; diag "$T_TMP/ocsp3"; fi
	server_alive "ocsp"
	bg_stop "$SRV_PID"
fi
if moat_serve "ocsp revoked" "$T_TMP/site" --cert "$C/rsa.pem" --key "$C/rsa.key" \
	--ocsp-staple "$O/rsa-revoked.der" --workers 1; then
	sclient "$T_TMP/ocsp4" -status
	if has "$T_TMP/ocsp4" 'OCSP Response Status: successful' && has "$T_TMP/ocsp4" 'Cert Status: revoked'; then
		ok "ocsp: a revoked response is stapled as is; s_client -status shows revoked"
	else notok "ocsp: a revoked response is stapled as is; s_client -status shows revoked"; diag "$T_TMP/ocsp4"; fi
	bg_stop "$SRV_PID"
fi
printf 'not der' >"$O/junk.der"
out=$T_TMP/ocsp-junk
timeout "$T_CLIENT" "$MOAT" serve "$T_TMP/site" --listen "127.0.0.1:$(free_port)" \
	--cert "$C/p256.pem" --key "$C/p256.key" --ocsp-staple "$O/junk.der" >"$out" 2>&1
rc=$?
check "ocsp: a file that is no OCSP response is refused at start (exit $rc)" [ $rc -eq 2 ]
finish
