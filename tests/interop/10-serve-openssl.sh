#!/usr/bin/env bash
# moat serve against `openssl s_client -tls1_3`: every suite x every group
# forced on the client side, then each suite and group forced on moat's side.
. "$(dirname "$0")/../lib.sh"
need openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# s_client_get NAME PORT PATH [s_client args...]: fetch PATH; checks the
# body token and the negotiated suite/group given in $WANT_SUITE/$WANT_GROUP.
s_client_get() {
	local name=$1 port=$2 path=$3 out
	shift 3
	out=$T_TMP/s_client.$RANDOM
	timeout "$T_CLIENT" openssl s_client -brief -connect "127.0.0.1:$port" -servername localhost \
		-tls1_3 -CAfile "$CERTS/ca.pem" -verify_return_error -verify_hostname localhost "$@" \
		< <(req_hold "$path") >"$out" 2>&1
	local rc=$? why=""
	[ $rc -eq 0 ] || why="s_client exit $rc;"
	has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
	has "$out" '^Verification: OK' || why="$why certificate not verified;"
	[ -z "${WANT_SUITE:-}" ] || has "$out" "^Ciphersuite: $WANT_SUITE\$" || why="$why suite is not $WANT_SUITE;"
	[ -z "${WANT_GROUP:-}" ] || has "$out" "^(Server|Peer) Temp Key: .*$(group_openssl_re "$WANT_GROUP")" || why="$why group is not $WANT_GROUP;"
	if [ -z "$why" ]; then ok "$name"; else notok "$name" "$why"; diag "$out"; fi
}

if moat_serve "serve openssl" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	for s in "${SUITES[@]}"; do
		for g in "${GROUPS_[@]}"; do
			WANT_SUITE=$s WANT_GROUP=$g s_client_get "serve openssl-s_client $s $g" "$SRV_PORT" /index.html \
				-ciphersuites "$s" -groups "$g"
		done
	done
	# No server_name extension: moat still answers with its certificate.
	out=$T_TMP/nosni
	timeout "$T_CLIENT" openssl s_client -brief -noservername -connect "127.0.0.1:$SRV_PORT" -tls1_3 \
		-CAfile "$CERTS/ca.pem" -verify_return_error < <(req_hold /index.html) >"$out" 2>&1
	if has "$out" "$SITE_TOKEN" && has "$out" '^Verification: OK'; then
		ok "serve openssl-s_client without SNI"
	else notok "serve openssl-s_client without SNI"; diag "$out"; fi
	# Session resumption: a ticket from the first connection resumes the second.
	out=$T_TMP/resume
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-CAfile "$CERTS/ca.pem" -sess_out "$T_TMP/sess.pem" < <(req_hold /index.html) >"$out.1" 2>&1
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-CAfile "$CERTS/ca.pem" -sess_in "$T_TMP/sess.pem" < <(req_hold /index.html) >"$out.2" 2>&1
	if has "$out.2" '^Reused, TLSv1.3' && has "$out.2" "$SITE_TOKEN"; then
		ok "serve openssl-s_client resumes a session with a ticket"
	else
		notok "serve openssl-s_client resumes a session with a ticket" \
			"$([ -s "$T_TMP/sess.pem" ] && echo "ticket saved but not reused" || echo "no ticket received")"
		grep -E '^(New|Reused),' "$out.1" "$out.2" | sed 's/^/#   /'
	fi
	# A larger body, so that it spans many records.
	out=$T_TMP/big.out
	timeout "$T_CLIENT" openssl s_client -quiet -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-CAfile "$CERTS/ca.pem" < <(req_hold /big.txt) >"$out" 2>/dev/null
	if tail -c "$(stat -c %s "$T_TMP/site/big.txt")" "$out" | cmp -s - "$T_TMP/site/big.txt"; then
		ok "serve openssl-s_client 270 KB body intact"
	else
		notok "serve openssl-s_client 270 KB body intact" "got $(stat -c %s "$out") bytes"
	fi
	server_alive "serve openssl"
	bg_stop "$SRV_PID"
fi

# Each suite, then each group, forced on moat's side (--ciphers / --groups);
# the client offers everything.
for s in "${SUITES[@]}"; do
	if moat_serve "serve --ciphers $s" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --ciphers "$s"; then
		WANT_SUITE=$s WANT_GROUP="" s_client_get "serve --ciphers $s, openssl-s_client offers all" "$SRV_PORT" /index.html
		bg_stop "$SRV_PID"
	fi
done
for g in "${GROUPS_[@]}"; do
	if moat_serve "serve --groups $g" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --groups "$g"; then
		# The client's first key share is x25519: other groups need a HelloRetryRequest.
		WANT_SUITE="" WANT_GROUP=$g s_client_get "serve --groups $g, openssl-s_client offers all" "$SRV_PORT" /index.html \
			-groups x25519:secp256r1:secp384r1
		bg_stop "$SRV_PID"
	fi
done
finish
