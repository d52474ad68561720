#!/usr/bin/env bash
# moat get judging certificates as a browser does, against openssl
# s_server: a leaf whose keyUsage lacks digitalSignature is refused
# (ERR_SSL_KEY_USAGE_INCOMPATIBLE, exit 60).
. "$(dirname "$0")/../lib.sh"
need openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# Leaves of the test CA, made here: NAME 'extra extension lines' KEYOPTS...
C=$T_TMP/trust
mkdir -p "$C"
leaf() {
	local n=$1 extra=$2
	shift 2
	printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n%b\n' \
		"$extra" >"$C/$n.ext"
	openssl req -new "$@" -nodes -keyout "$C/$n.key" -subj /CN=localhost -out "$C/$n.csr" &&
		openssl x509 -req -in "$C/$n.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
			-days 7 -extfile "$C/$n.ext" -out "$C/$n.pem"
}
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
{
	leaf ka "keyUsage=critical,keyAgreement" $EC &&
		leaf ke "keyUsage=critical,keyEncipherment" -newkey rsa:2048 &&
		leaf ds "keyUsage=critical,digitalSignature" $EC
} >"$C/gen.log" 2>&1 || { notok "trust: certificates made"; diag "$C/gen.log"; finish; exit; }

# get_case NAME WANT_RC PATTERN ARGS...: moat get exits WANT_RC and its
# stderr matches PATTERN (an empty PATTERN: the page arrived).
get_case() {
	local name=$1 want=$2 pat=$3 out=$T_TMP/get.$RANDOM
	shift 3
	moat_get "$name" "$out" "$@"
	if [ "$GET_RC" -eq "$want" ] && if [ -n "$pat" ]; then grep -Eq -- "$pat" "$out.err"; else grep -q "$SITE_TOKEN" "$out"; fi; then
		ok "trust: $name: exit $want"
	else
		notok "trust: $name: exit $want" "exit $GET_RC"
		diag "$out.err"
	fi
}

# RFC 8446 4.4.2.2: keyUsage, when present, must allow digitalSignature.
for k in ka:keyAgreement ke:keyEncipherment; do
	n=${k%%:*}
	if PEER_CERT=$C/$n.pem PEER_KEY=$C/$n.key s_server_start "ku $n" "$T_TMP/site"; then
		get_case "a leaf with keyUsage ${k#*:} only is refused" 60 \
			"refused https://localhost:$PEER_PORT/: its certificate's key usage does not allow digital signatures.*\(ERR_SSL_KEY_USAGE_INCOMPATIBLE\)" \
			--cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
		get_case "-k fetches the keyUsage ${k#*:} leaf, and -v says why it would be refused" 0 \
			"it would have been refused: .*ERR_SSL_KEY_USAGE_INCOMPATIBLE" \
			-k -v --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
		bg_stop "$PEER_PID"
	fi
done
if PEER_CERT=$C/ds.pem PEER_KEY=$C/ds.key s_server_start "ku ds" "$T_TMP/site"; then
	get_case "a leaf with keyUsage digitalSignature is accepted" 0 "" \
		-s --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	bg_stop "$PEER_PID"
fi

finish
