#!/usr/bin/env bash
# moat get against `openssl s_server -tls1_3 -WWW`: every suite x every group,
# forced first on the server's side, then on moat's side.
. "$(dirname "$0")/../lib.sh"
need openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# get_case NAME SUITE GROUP [moat get args...]: fetch /index.html from the
# s_server now running; check the body, and the suite and group that
# moat get -v says were negotiated.
get_case() {
	local name=$1 s=$2 g=$3 out=$T_TMP/get.$RANDOM why=""
	shift 3
	moat_get "$name" "$out" -v --cacert "$CERTS/ca.pem" "$@" "https://localhost:$PEER_PORT/index.html"
	[ "$GET_RC" -eq 0 ] || why="moat get exit $GET_RC;"
	has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
	has "$out.err" "cipher:? +$s" || why="$why moat get -v does not report cipher $s;"
	has "$out.err" "group:? +$g" || why="$why moat get -v does not report group $g;"
	if [ -z "$why" ]; then ok "$name"; else notok "$name" "$why"; diag "$out.err" "$PEER_LOG.err"; fi
}

for s in "${SUITES[@]}"; do
	for g in "${GROUPS_[@]}"; do
		if s_server_start "get s_server $s $g" "$T_TMP/site" -ciphersuites "$s" -groups "$g"; then
			get_case "get openssl-s_server $s $g (forced by server)" "$s" "$g"
			bg_stop "$PEER_PID"
		fi
	done
done

if s_server_start "get s_server" "$T_TMP/site"; then
	for s in "${SUITES[@]}"; do
		for g in "${GROUPS_[@]}"; do
			get_case "get openssl-s_server $s $g (forced by moat get)" "$s" "$g" --ciphers "$s" --tls-group "$g"
		done
	done
	# An IP address in the URL is checked against the certificate's IP SAN.
	out=$T_TMP/get-ip
	moat_get "get ip" "$out" --cacert "$CERTS/ca.pem" "https://127.0.0.1:$PEER_PORT/sub/hello.txt"
	if [ "$GET_RC" -eq 0 ] && has "$out" "^plain text $SITE_TOKEN\$"; then
		ok "get openssl-s_server https://127.0.0.1 (IP address SAN)"
	else
		notok "get openssl-s_server https://127.0.0.1 (IP address SAN)" "exit $GET_RC"
		diag "$out.err"
	fi
	# -o FILE writes the body there.
	out=$T_TMP/get-o
	moat_get "get -o" "$out.stdout" --cacert "$CERTS/ca.pem" -o "$out" "https://localhost:$PEER_PORT/big.txt"
	if [ "$GET_RC" -eq 0 ] && cmp -s "$out" "$T_TMP/site/big.txt"; then
		ok "get openssl-s_server -o FILE, 270 KB body intact"
	else
		notok "get openssl-s_server -o FILE, 270 KB body intact" "exit $GET_RC"
		diag "$out.stdout.err"
	fi
	bg_stop "$PEER_PID"
fi
finish
