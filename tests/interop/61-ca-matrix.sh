#!/usr/bin/env bash
# moat ca: every kind of root `moat ca init` makes (no constraints,
# --permit-dns with the loopback default, --permit-dns with --permit-ip) x
# every kind of leaf (DNS, wildcard, IPv4, IPv6, IP-only, mixed; client
# email, URI and mixed; ECDSA and RSA) through openssl verify, then curl and
# moat get against moat serve, and moat serve --client-ca logging clients
# by the email address or URI their certificates name, after resumption
# too.
. "$(dirname "$0")/../lib.sh"
need openssl curl || { finish; exit 1; }
need_moat

W=$T_TMP/work
mkdir -p "$W"
make_site "$T_TMP/site"
cd "$W" || exit 1
set -f # names such as *.example.test are words, not patterns

# mca LOG ARGS...: `moat ca ARGS` (bounded), output to LOG; sets RC.
mca() {
	local log=$1
	shift
	timeout "$T_CLIENT" "$MOAT" ca "$@" >"$log" 2>&1 </dev/null
	RC=$?
}

ROOTS="plain dns dnsip"
root_args() {
	case $1 in
	dns) echo "--permit-dns example.test" ;;
	dnsip) echo "--permit-dns example.test --permit-ip 127.0.0.0/8 --permit-ip ::1/128 --permit-ip 10.0.0.0/8" ;;
	esac
}

# label|purposes|arguments of `moat ca issue`
LEAVES="dns|sslserver|a.example.test
wildcard|sslserver|*.example.test
ipv4|sslserver|127.0.0.1
ipv6|sslserver|::1
ip-only|sslserver|127.0.0.1 ::1
mixed|sslserver|127.0.0.1 a.example.test ::1
client-email|sslclient|--client alice@example.test
client-uri|sslclient|--client spiffe://example.test/workload
client-mixed|sslserver sslclient|--client alice@example.test a.example.test 127.0.0.1"

# cn_ok FILE NAMES...: the leaf has no CN, or one of its names that is no
# IP address (OpenSSL holds a CN like 127.0.0.1 to DNS name constraints).
cn_ok() {
	local f=$1 cn n
	shift
	cn=$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253 2>/dev/null | sed -n 's/.*CN=\([^,]*\).*/\1/p')
	[ -z "$cn" ] && return 0
	is_ip "$cn" && return 1
	for n in "$@"; do
		[ "$n" = "$cn" ] && return 0
	done
	return 1
}
# is_ip NAME: an IPv4 address, or an IPv6 one (a ':' that is no URI's).
is_ip() { [[ $1 =~ ^[0-9.]+$ ]] || { [[ $1 == *:* ]] && [[ $1 != *://* ]]; }; }

# ---- openssl verify, for every root x leaf x key
for r in $ROOTS; do
	# shellcheck disable=SC2046
	mca init-$r.log init --ca-dir "$W/ca-$r" $(root_args $r)
	check "matrix $r: init (exit $RC)" [ $RC -eq 0 ]
	while IFS='|' read -r label purposes args; do
		for key in ec rsa; do
			name="matrix $r $label $key"
			f=$r-$label-$key
			k=
			[ $key = rsa ] && k=--rsa
			# shellcheck disable=SC2086
			mca $f.log issue --ca-dir "$W/ca-$r" $args $k --cert-file $f.pem --key-file $f-key.pem
			if [ $RC -ne 0 ]; then
				notok "$name: issued" "exit $RC"
				diag $f.log
				continue
			fi
			for p in $purposes; do
				if openssl verify -CAfile "$W/ca-$r/rootCA.pem" -purpose $p $f.pem >$f.$p 2>&1; then
					ok "$name: openssl verify -purpose $p"
				else
					notok "$name: openssl verify -purpose $p"
					diag $f.$p
				fi
			done
			# shellcheck disable=SC2086
			check "$name: no CN, or a CN that is one of its names and no IP address" cn_ok $f.pem ${args#--client }
			check "$name: key mode 0600" [ "$(stat -c %a $f-key.pem)" = 600 ]
		done
	done <<<"$LEAVES"
done

# ---- curl and moat get against moat serve, and the clients it logs

# sc PATH ARGS...: GET PATH through openssl s_client, output in $T_TMP/$r-$srv.sc.
sc() {
	http_req "$1" | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" \
		-CAfile "$ROOT" -ign_eof "${@:2}" >"$T_TMP/$r-$srv.sc" 2>&1
}
for r in $ROOTS; do
	ROOT=$W/ca-$r/rootCA.pem
	for srv in ip-only mixed; do
		LOG=$T_TMP/access-$r-$srv.log
		name="serve $r $srv"
		moat_serve "$name" "$T_TMP/site" --cert $r-$srv-ec.pem --key $r-$srv-ec-key.pem \
			--client-ca "$ROOT" --client-auth optional --access-log "$LOG" --workers 1 || continue
		U=https://127.0.0.1:$SRV_PORT
		out=$T_TMP/$r-$srv.curl
		timeout "$T_CLIENT" curl -sS --cacert "$ROOT" "$U/index.html" >"$out" 2>&1
		check "$name: curl https://127.0.0.1 verifies and gets the page" has "$out" "$SITE_TOKEN"
		moat_get "$name" $T_TMP/$r-$srv.get --cacert "$ROOT" "$U/index.html"
		if [ "$GET_RC" = 0 ] && has $T_TMP/$r-$srv.get "$SITE_TOKEN"; then ok "$name: moat get https://127.0.0.1 verifies and gets the page"
		else notok "$name: moat get https://127.0.0.1 verifies and gets the page" "exit $GET_RC"; diag $T_TMP/$r-$srv.get.err; fi
		for who in email uri; do
			c=$r-client-$who-ec
			out=$T_TMP/$r-$srv-$who.curl
			timeout "$T_CLIENT" curl -sS --cacert "$ROOT" --cert $c.pem --key $c-key.pem \
				"$U/sub/hello.txt?$who" >"$out" 2>&1
			check "$name: curl --cert (client $who) gets the page" has "$out" "$SITE_TOKEN"
		done
		moat_get "$name" $T_TMP/$r-$srv.getc --cacert "$ROOT" --cert $r-client-email-rsa.pem \
			--key $r-client-email-rsa-key.pem "$U/sub/hello.txt?moat"
		check "$name: moat get --cert (client email, RSA) gets the page" has $T_TMP/$r-$srv.getc "$SITE_TOKEN"
		# A resumed session (no certificate sent) keeps the client's name.
		sc "/sub/hello.txt?full" -cert $r-client-uri-ec.pem -key $r-client-uri-ec-key.pem \
			-sess_out $T_TMP/$r-$srv.sess
		sc "/sub/hello.txt?resumed" -sess_in $T_TMP/$r-$srv.sess
		check "$name: s_client resumes the URI client's session" has "$T_TMP/$r-$srv.sc" '^Reused, TLSv1.3'
		sleep 0.3
		check "$name: the access log names the resumed URI client spiffe://example.test/workload" \
			has "$LOG" '"GET /sub/hello.txt\?resumed HTTP/1.1" 200 .* "spiffe://example.test/workload" TLSv1\.[23] [A-Z0-9_]+ [0-9A-Za-z-]+$'
		check "$name: the access log names the email client alice@example.test" \
			has "$LOG" '"GET /sub/hello.txt\?email HTTP/2\.0" 200 .* "alice@example.test" TLSv1\.[23] [A-Z0-9_]+ [0-9A-Za-z-]+$'
		check "$name: the access log names the URI client spiffe://example.test/workload" \
			has "$LOG" '"GET /sub/hello.txt\?uri HTTP/2\.0" 200 .* "spiffe://example.test/workload" TLSv1\.[23] [A-Z0-9_]+ [0-9A-Za-z-]+$'
		check "$name: the access log names moat get's client alice@example.test" \
			has "$LOG" '"GET /sub/hello.txt\?moat HTTP/2\.0" 200 .* "alice@example.test" TLSv1\.[23] [A-Z0-9_]+ [0-9A-Za-z-]+$'
		server_alive "$name"
		bg_stop "$SRV_PID"
	done
done
finish
