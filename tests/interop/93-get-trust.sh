#!/usr/bin/env bash
# moat get judging certificates as a browser does, against openssl
# s_server: a leaf whose keyUsage lacks digitalSignature is refused
# (ERR_SSL_KEY_USAGE_INCOMPATIBLE, exit 60); any certificate of the trust
# file, store or directory is an anchor (partial chains); an unusable OCSP
# staple is ignored, as browsers do, and -v and --explain say why.
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
# An intermediate of the test CA and a leaf it issued (il), for partial chains.
{
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$C/inter.ext" &&
		openssl req -new $EC -nodes -keyout "$C/inter.key" -subj "/CN=moat test intermediate" -out "$C/inter.csr" &&
		openssl x509 -req -in "$C/inter.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
			-days 7 -extfile "$C/inter.ext" -out "$C/inter.pem" &&
		printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n' >"$C/il.ext" &&
		openssl req -new $EC -nodes -keyout "$C/il.key" -subj /CN=localhost -out "$C/il.csr" &&
		openssl x509 -req -in "$C/il.csr" -CA "$C/inter.pem" -CAkey "$C/inter.key" -CAcreateserial \
			-days 7 -extfile "$C/il.ext" -out "$C/il.pem" &&
		mkdir -p "$C/capath" && cp "$C/inter.pem" "$C/capath/inter.pem"
} >>"$C/gen.log" 2>&1 || { notok "trust: intermediate made"; diag "$C/gen.log"; finish; exit; }

# get_case NAME WANT_RC PATTERN ARGS...: moat get exits WANT_RC, its
# stderr matches PATTERN (unless empty) and, for exit 0, the page arrived.
get_case() {
	local name=$1 want=$2 pat=$3 out=$T_TMP/get.$RANDOM
	shift 3
	moat_get "$name" "$out" "$@"
	if [ "$GET_RC" -eq "$want" ] && { [ -z "$pat" ] || grep -Eq -- "$pat" "$out.err"; } &&
		{ [ "$want" -ne 0 ] || grep -q "$SITE_TOKEN" "$out"; }; then
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

# Partial chains: any certificate of the trust file is an anchor, as curl
# (X509_V_FLAG_PARTIAL_CHAIN) and browsers have it; --capath and the
# system store (here SSL_CERT_FILE) alike.
if PEER_CERT=$C/il.pem PEER_KEY=$C/il.key s_server_start "partial" "$T_TMP/site" -cert_chain "$C/inter.pem"; then
	U=https://localhost:$PEER_PORT/index.html
	get_case "an intermediate in --cacert is a trust anchor" 0 "" -s --cacert "$C/inter.pem" "$U"
	get_case "an intermediate in --capath is a trust anchor" 0 "" -s --capath "$C/capath" "$U"
	SSL_CERT_FILE=$C/inter.pem SSL_CERT_DIR=$C/no-such-dir \
		get_case "an intermediate in the system store is a trust anchor" 0 "" -s "$U"
	get_case "the server's own leaf in --cacert is a trust anchor" 0 "" -s --cacert "$C/il.pem" "$U"
	get_case "the root still works" 0 "" -s --cacert "$CERTS/ca.pem" "$U"
	get_case "an intermediate anchor still checks the name" 60 "not valid for 127\.0\.0\.1 .*NET::ERR_CERT_COMMON_NAME_INVALID" \
		--cacert "$C/inter.pem" "https://127.0.0.1:$PEER_PORT/index.html"
	get_case "a trust file without any certificate of the chain still refuses" 60 \
		"issued by an authority that is not trusted.*NET::ERR_CERT_AUTHORITY_INVALID" --cacert "$CERTS/selfsigned.pem" "$U"
	bg_stop "$PEER_PID"
fi
if PEER_CERT=$CERTS/selfsigned.pem PEER_KEY=$CERTS/selfsigned.key s_server_start "self-signed" "$T_TMP/site"; then
	get_case "a self-signed leaf in --cacert is accepted, as by curl" 0 "" -s --cacert "$CERTS/selfsigned.pem" \
		"https://localhost:$PEER_PORT/index.html"
	get_case "a self-signed leaf not in --cacert is refused" 60 "self-signed and not trusted" \
		--cacert "$C/inter.pem" "https://localhost:$PEER_PORT/index.html"
	bg_stop "$PEER_PID"
fi

# OCSP staples: one that is unusable (about another certificate, signed by
# an unrelated key) is ignored and the page fetched, -v and --explain
# saying why; a signed "revoked" about the leaf still refuses.
O=$T_TMP/ocsp
mkdir -p "$O"
p256=$(openssl x509 -in "$CERTS/p256.pem" -noout -serial | cut -d= -f2)
rsa=$(openssl x509 -in "$CERTS/rsa.pem" -noout -serial | cut -d= -f2)
printf 'V\t301231000000Z\t\t%s\tunknown\t/CN=localhost\nR\t301231000000Z\t200101000000Z,keyCompromise\t%s\tunknown\t/CN=localhost\n' \
	"$p256" "$rsa" >"$O/index.txt"
printf 'R\t301231000000Z\t200101000000Z,keyCompromise\t%s\tunknown\t/CN=localhost\n' "$p256" >"$O/revoked.txt"
ocsp_resp() { # ocsp_resp INDEX SIGNER CERT OUT
	openssl ocsp -index "$1" -rsigner "$2.pem" -rkey "$2.key" -CA "$CERTS/ca.pem" \
		-issuer "$CERTS/ca.pem" -cert "$3" -respout "$4" -ndays 1
}
{
	openssl req -x509 $EC -nodes -keyout "$O/rogue.key" -out "$O/rogue.pem" -days 7 -subj "/CN=rogue responder" &&
		ocsp_resp "$O/index.txt" "$CERTS/ca" "$CERTS/rsa.pem" "$O/another.der" &&
		ocsp_resp "$O/index.txt" "$O/rogue" "$CERTS/p256.pem" "$O/forged.der" &&
		ocsp_resp "$O/revoked.txt" "$O/rogue" "$CERTS/p256.pem" "$O/forged-revoked.der" &&
		ocsp_resp "$O/revoked.txt" "$CERTS/ca" "$CERTS/p256.pem" "$O/revoked.der"
} >"$O/log" 2>&1 || { notok "trust: OCSP responses made with openssl ocsp"; diag "$O/log"; }
for c in "another:it is about another certificate:a staple about another (revoked) certificate" \
	"forged:its signature does not verify:a staple signed by an unrelated key" \
	"forged-revoked:its signature does not verify:a revoked staple signed by an unrelated key"; do
	IFS=: read -r f why name <<<"$c"
	if s_server_start "staple $f" "$T_TMP/site" -status_file "$O/$f.der"; then
		U=https://localhost:$PEER_PORT/index.html
		get_case "$name is ignored; -v says why" 0 "OCSP stapled: yes, but ignored: $why" \
			-v --cacert "$CERTS/ca.pem" "$U"
		get_case "$name is ignored; --explain says why" 0 "moat ignored it, as browsers do: $why" \
			--explain --cacert "$CERTS/ca.pem" "$U"
		bg_stop "$PEER_PID"
	fi
done
if s_server_start "staple revoked" "$T_TMP/site" -status_file "$O/revoked.der"; then
	get_case "a signed revoked staple refuses" 60 "revoked .*stapled OCSP answer.*NET::ERR_CERT_REVOKED" \
		--cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	bg_stop "$PEER_PID"
fi

finish
