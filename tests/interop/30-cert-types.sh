#!/usr/bin/env bash
# moat serve with RSA-2048, ECDSA P-256, ECDSA P-384 and Ed25519 certificates,
# against openssl s_client and curl; moat get against s_server with each.
. "$(dirname "$0")/../lib.sh"
need openssl curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

for k in rsa p256 p384 ed25519; do
	if ! moat_serve "cert $k" "$T_TMP/site" --cert "$CERTS/$k.pem" --key "$CERTS/$k.key"; then
		continue
	fi
	out=$T_TMP/s_client.$k
	timeout "$T_CLIENT" openssl s_client -brief -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-CAfile "$CERTS/ca.pem" -verify_return_error -verify_hostname localhost \
		< <(req_hold /index.html) >"$out" 2>&1
	rc=$? why=""
	[ $rc -eq 0 ] || why="s_client exit $rc;"
	has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
	has "$out" '^Verification: OK' || why="$why certificate not verified;"
	if [ -z "$why" ]; then
		ok "cert $k: serve openssl-s_client ($(grep -m1 '^Signature type' "$out"))"
	else
		notok "cert $k: serve openssl-s_client" "$why"
		diag "$out"
	fi
	out=$T_TMP/curl.$k
	timeout "$T_CLIENT" curl -sS -v --tlsv1.3 --cacert "$CERTS/ca.pem" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
	rc=$? why=""
	[ $rc -eq 0 ] || why="curl exit $rc;"
	has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
	if [ -z "$why" ]; then ok "cert $k: serve curl"; else notok "cert $k: serve curl" "$why"; diag "$out"; fi
	server_alive "cert $k"
	bg_stop "$SRV_PID"

	# The other direction: moat get verifying each kind of signature.
	if PEER_CERT=$CERTS/$k.pem PEER_KEY=$CERTS/$k.key s_server_start "cert $k: get" "$T_TMP/site"; then
		out=$T_TMP/get.$k
		moat_get "cert $k: get" "$out" -v --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
		case $k in
		rsa) scheme=rsa_pss_rsae_sha256 ;;
		p256) scheme=ecdsa_secp256r1_sha256 ;;
		p384) scheme=ecdsa_secp384r1_sha384 ;;
		ed25519) scheme=ed25519 ;;
		esac
		if [ "$GET_RC" -eq 0 ] && has "$out" "$SITE_TOKEN" && has "$out.err" "signature:? +$scheme"; then
			ok "cert $k: get openssl-s_server ($scheme)"
		else
			notok "cert $k: get openssl-s_server" "moat get exit $GET_RC; want signature $scheme in -v"
			diag "$out.err"
		fi
		bg_stop "$PEER_PID"
	fi
done
# A --cert file holding the chain (leaf, then CA), as servers usually have.
if moat_serve "cert chain file" "$T_TMP/site" --cert "$CERTS/p384-chain.pem" --key "$CERTS/p384.key"; then
	out=$T_TMP/chain
	timeout "$T_CLIENT" openssl s_client -showcerts -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-CAfile "$CERTS/ca.pem" -verify_return_error < <(req_hold /index.html) >"$out" 2>&1
	if has "$out" "$SITE_TOKEN" && [ "$(grep -c 'BEGIN CERTIFICATE' "$out")" -eq 2 ]; then
		ok "cert chain file: moat serve sends leaf and CA, s_client verifies"
	else
		notok "cert chain file: moat serve sends leaf and CA, s_client verifies" \
			"$(grep -c 'BEGIN CERTIFICATE' "$out") certificates sent"
		diag "$out"
	fi
	bg_stop "$SRV_PID"
fi
finish
