#!/usr/bin/env bash
# moat get against `gnutls-serv --http`: every suite x every group, forced
# first by the server's --priority, then by moat get's --ciphers/--tls-group.
. "$(dirname "$0")/../lib.sh"
need gnutls-serv || { finish; exit; }
need_moat
gen_certs || { finish; exit; }

# get_case NAME SUITE GROUP [moat get args...]: gnutls-serv's page reports
# what was negotiated; check it.
get_case() {
	local name=$1 s=$2 g=$3 out=$T_TMP/get.$RANDOM why=""
	shift 3
	moat_get "$name" "$out" --cacert "$CERTS/ca.pem" "$@" "https://localhost:$PEER_PORT/"
	[ "$GET_RC" -eq 0 ] || why="moat get exit $GET_RC;"
	has "$out" "This is .*GnuTLS" || why="$why body did not arrive;"
	has "$out" "\(ECDHE-$(group_gnutls "$g")\).*\($(suite_gnutls "$s")\)" || why="$why did not negotiate $s/$g;"
	if [ -z "$why" ]; then ok "$name"; else notok "$name" "$why"; diag "$out.err" "$PEER_LOG.out"; fi
}

for s in "${SUITES[@]}"; do
	for g in "${GROUPS_[@]}"; do
		if gnutls_serv_start "get gnutls-serv $s $g" "$(gnutls_priority "$s" "$g")"; then
			get_case "get gnutls-serv $s $g (forced by server)" "$s" "$g"
			bg_stop "$PEER_PID"
		fi
	done
done

if gnutls_serv_start "get gnutls-serv" "NORMAL:-VERS-ALL:+VERS-TLS1.3"; then
	for s in "${SUITES[@]}"; do
		for g in "${GROUPS_[@]}"; do
			get_case "get gnutls-serv $s $g (forced by moat get)" "$s" "$g" --ciphers "$s" --tls-group "$g"
		done
	done
	bg_stop "$PEER_PID"
fi
finish
