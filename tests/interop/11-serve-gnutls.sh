#!/usr/bin/env bash
# moat serve against gnutls-cli: every suite x every group forced with --priority.
. "$(dirname "$0")/../lib.sh"
need gnutls-cli || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

if moat_serve "serve gnutls" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	for s in "${SUITES[@]}"; do
		for g in "${GROUPS_[@]}"; do
			name="serve gnutls-cli $s $g"
			out=$T_TMP/gnutls.$s.$g
			timeout "$T_CLIENT" gnutls-cli -p "$SRV_PORT" --x509cafile "$CERTS/ca.pem" \
				--priority "$(gnutls_priority "$s" "$g")" localhost < <(req_hold /index.html) >"$out" 2>&1
			rc=$? why=""
			[ $rc -eq 0 ] || why="gnutls-cli exit $rc;"
			has "$out" "$SITE_TOKEN" || why="$why body did not arrive;"
			has "$out" 'certificate is trusted' || why="$why certificate not trusted;"
			has "$out" "Description: .*\(ECDHE-$(group_gnutls "$g")\).*\($(suite_gnutls "$s")\)" ||
				why="$why did not negotiate $s/$g;"
			if [ -z "$why" ]; then ok "$name"; else notok "$name" "$why"; diag "$out"; fi
		done
	done
	# --resume: a second connection resumes the first one's session.
	out=$T_TMP/gnutls.resume
	timeout "$T_CLIENT" gnutls-cli -p "$SRV_PORT" --x509cafile "$CERTS/ca.pem" --resume \
		--priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" localhost < <(req_hold /index.html) >"$out" 2>&1
	if has "$out" 'This is a resumed session'; then
		ok "serve gnutls-cli --resume resumes the session"
	else
		notok "serve gnutls-cli --resume resumes the session"
		grep -iE 'resum|session' "$out" | tail -n 5 | sed 's/^/#   /'
	fi
	server_alive "serve gnutls"
fi
finish
