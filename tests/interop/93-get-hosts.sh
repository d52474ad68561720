#!/usr/bin/env bash
# moat get reads hosts as browsers do, against openssl s_server: one
# trailing dot is kept out of SNI (a strict -servername_fatal server) and
# out of the name check (a SAN good.test. names good.test too); IPv4 in the
# WHATWG forms (127.1, 0x7f.1, 2130706433, 0177.0.0.1) is an address; a
# Unicode host is sent as its A-labels (IDNA2008) and shown in both forms.
. "$(dirname "$0")/../lib.sh"
need openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# leaf NAME SAN: a leaf of the test CA in $CERTS/NAME.{pem,key}.
leaf() {
	(
		set -e
		cd "$CERTS"
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
		openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
		sed "s/^subjectAltName=.*/subjectAltName=$2/" leaf.ext >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 \
			-extfile "$1.ext" -out "$1.pem"
	) >"$CERTS/$1.log" 2>&1 || { notok "leaf $1 made"; diag "$CERTS/$1.log"; }
}
leaf good "DNS:good.test"
leaf gooddot "DNS:good.test."
leaf idn "DNS:xn--caf-dma.test"

# has_all FILE PATTERN...: every pattern is in FILE.
has_all() {
	local f=$1 p
	shift
	for p in "$@"; do has "$f" "$p" || return 1; done
}

# fetch NAME URL ARGS...: moat get must fetch the page (exit 0, the token).
fetch() {
	local name=$1 url=$2 out=$T_TMP/out.$RANDOM
	shift 2
	moat_get "$name" "$out" -v --cacert "$CERTS/ca.pem" "$@" "$url"
	if [ "$GET_RC" -eq 0 ] && has "$out" "$SITE_TOKEN"; then ok "get hosts: $name"
	else notok "get hosts: $name" "exit $GET_RC"; diag "$out.err"; fi
	LAST=$out
}

# ---- a trailing dot: a server that refuses any SNI but good.test
if s_server_start "strict SNI" "$T_TMP/site" -servername good.test -servername_fatal \
	-cert2 "$CERTS/good.pem" -key2 "$CERTS/good.key"; then
	P=$PEER_PORT
	fetch "good.test. is sent as good.test (a strict SNI server answers) and verified" \
		"https://good.test.:$P/index.html" --resolve "good.test.:$P:127.0.0.1"
	fetch "--resolve good.test:PORT matches https://good.test./" \
		"https://good.test.:$P/index.html" --resolve "good.test:$P:127.0.0.1"
	check "get hosts: -v names good.test, the Host header keeps the dot" \
		has_all "$LAST.err" "verified for good.test$" "Host: good.test.:$P"
	fetch "--resolve good.test.:PORT matches https://good.test/" \
		"https://good.test:$P/index.html" --resolve "good.test.:$P:127.0.0.1"
	out=$T_TMP/strict-wrong
	moat_get "strict-wrong" "$out" --cacert "$CERTS/ca.pem" --resolve "other.test:$P:127.0.0.1" \
		"https://other.test:$P/index.html"
	check "get hosts: the strict server does refuse another name (exit 35)" test "$GET_RC" -eq 35
	bg_stop "$PEER_PID"
fi

# ---- a SAN written with the trailing dot
if PEER_CERT=$CERTS/gooddot.pem PEER_KEY=$CERTS/gooddot.key s_server_start "SAN good.test." "$T_TMP/site"; then
	P=$PEER_PORT
	fetch "a SAN good.test. matches https://good.test/" "https://good.test:$P/index.html" \
		--resolve "good.test:$P:127.0.0.1"
	fetch "a SAN good.test. matches https://good.test./" "https://good.test.:$P/index.html" \
		--resolve "good.test:$P:127.0.0.1"
	bg_stop "$PEER_PID"
fi

# ---- IPv4 as browsers read it: the P-256 leaf has IP:127.0.0.1
if s_server_start "IPv4 forms" "$T_TMP/site"; then
	P=$PEER_PORT
	for h in 127.1 0x7f.1 2130706433 0177.0.0.1 0x7F000001 127.0.0.1.; do
		fetch "https://$h/ is 127.0.0.1, checked against the IP SAN" "https://$h:$P/index.html"
		check "get hosts: -v for $h says 127.0.0.1" has "$LAST.err" "connected to 127.0.0.1 \(127.0.0.1\)"
	done
	out=$T_TMP/badip
	moat_get "badip" "$out" "https://1.2.3.256:$P/"
	check "get hosts: https://1.2.3.256/ is a malformed URL (exit 3)" \
		test "$GET_RC" -eq 3 -a -s "$out.err"
	bg_stop "$PEER_PID"
fi

# ---- Unicode: A-labels on the wire (a strict server knows only them)
if s_server_start "IDN" "$T_TMP/site" -servername xn--caf-dma.test -servername_fatal \
	-cert2 "$CERTS/idn.pem" -key2 "$CERTS/idn.key"; then
	P=$PEER_PORT
	fetch "café.test is sent as xn--caf-dma.test and verified" "https://café.test:$P/index.html" \
		--resolve "café.test:$P:127.0.0.1"
	check "get hosts: -v shows both forms, Host has the A-labels" \
		has_all "$LAST.err" "connected to café.test \(xn--caf-dma.test\)" "Host: xn--caf-dma.test:$P"
	fetch "CAFÉ.test. (upper case, trailing dot) too" "https://CAFÉ.test.:$P/index.html" \
		--resolve "xn--caf-dma.test:$P:127.0.0.1"
	bg_stop "$PEER_PID"
fi
if s_server_start "IDN refused" "$T_TMP/site"; then
	out=$T_TMP/idn-refused
	moat_get "idn-refused" "$out" --cacert "$CERTS/ca.pem" --resolve "café.test:$PEER_PORT:127.0.0.1" \
		"https://café.test:$PEER_PORT/"
	if [ "$GET_RC" -eq 60 ] && has "$out.err" "refused https://café.test:$PEER_PORT/ \(xn--caf-dma.test\)"; then
		ok "get hosts: a refusal names café.test and its A-labels ($(head -n 1 "$out.err"))"
	else notok "get hosts: a refusal names café.test and its A-labels" "exit $GET_RC"; diag "$out.err"; fi
	bg_stop "$PEER_PID"
fi
out=$T_TMP/idn-bad
moat_get "idn-bad" "$out" $'https://\xff\xfe.test/'
check "get hosts: a host that is not UTF-8 is a malformed URL (exit 3)" \
	test "$GET_RC" -eq 3 -a -s "$out.err"
out=$T_TMP/idn-bad2
moat_get "idn-bad2" "$out" $'https://\xcc\x81a.test/'
if [ "$GET_RC" -eq 3 ] && has "$out.err" "bad international host name"; then
	ok "get hosts: an invalid IDNA label is exit 3 with a clear message ($(head -n 1 "$out.err"))"
else notok "get hosts: an invalid IDNA label is exit 3 with a clear message" "exit $GET_RC"; diag "$out.err"; fi
finish
