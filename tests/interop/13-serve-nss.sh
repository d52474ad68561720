#!/usr/bin/env bash
# moat serve against NSS tstclnt: every suite (-c) x every group (-I),
# with an NSS database that trusts the test CA.
. "$(dirname "$0")/../lib.sh"
need tstclnt certutil || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
nss_db || { notok "NSS database with the test CA"; finish; exit; }
make_site "$T_TMP/site"
http_req /index.html >"$T_TMP/req.txt"

if moat_serve "serve nss" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	for s in "${SUITES[@]}"; do
		read -r code swords < <(suite_nss "$s")
		for g in "${GROUPS_[@]}"; do
			read -r gname gbits < <(group_nss "$g")
			name="serve nss-tstclnt $s $g"
			out=$T_TMP/nss.$s.$g
			timeout "$T_CLIENT" tstclnt -4 -h localhost -p "$SRV_PORT" -d "sql:$NSSDB" -V tls1.3:tls1.3 \
				-c "$code" -I "$gname" -v -A "$T_TMP/req.txt" </dev/null >"$out" 2>&1
			rc=$? why=""
			[ $rc -eq 0 ] || why="tstclnt exit $rc;"
			has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
			has "$out" "SSL version 3.4 using $swords" || why="$why suite is not $s;"
			has "$out" "Key Exchange: $gbits TLS 1.3" || why="$why group is not $g;"
			if [ -z "$why" ]; then ok "$name"; else notok "$name" "$why"; diag "$out"; fi
		done
	done
	server_alive "serve nss"
fi
finish
