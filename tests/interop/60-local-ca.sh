#!/usr/bin/env bash
# moat's local CA (`moat ca`) with real peers: certificates it issues verify
# with openssl, curl and moat get; `moat serve` without --cert makes its own
# localhost certificate from the CA in $MOAT_CA_HOME.
. "$(dirname "$0")/../lib.sh"
need openssl curl || { finish; exit; }
need_moat
make_site "$T_TMP/site"
export MOAT_CA_HOME=$T_TMP/ca-home
ROOT=$MOAT_CA_HOME/rootCA.pem

# `moat ca init` and `moat ca path`.
out=$T_TMP/ca-init
timeout "$T_CLIENT" "$MOAT" ca init >"$out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ -s "$ROOT" ] && [ -s "$MOAT_CA_HOME/rootCA-key.pem" ] &&
	openssl x509 -in "$ROOT" -noout -ext basicConstraints 2>/dev/null | grep -q 'CA:TRUE'; then
	ok "ca init makes rootCA.pem (a CA) and rootCA-key.pem in \$MOAT_CA_HOME"
else
	notok "ca init makes rootCA.pem (a CA) and rootCA-key.pem in \$MOAT_CA_HOME" "exit $rc"
	diag "$out"
fi
key_mode=$(stat -c %a "$MOAT_CA_HOME/rootCA-key.pem" 2>/dev/null)
check "ca root key is private to its owner (mode $key_mode)" [ "${key_mode#6}" = 00 ]
timeout "$T_CLIENT" "$MOAT" ca init >"$out" 2>&1
rc=$?
check "ca init refuses to replace an existing CA (exit $rc)" [ $rc -ne 0 ]
path=$(timeout "$T_CLIENT" "$MOAT" ca path 2>/dev/null)
check "ca path prints \$MOAT_CA_HOME (got '$path')" [ "$path" = "$MOAT_CA_HOME" ]

# `moat ca issue` then serve with it.
mkdir -p "$T_TMP/issued"
out=$T_TMP/ca-issue
(cd "$T_TMP/issued" && timeout "$T_CLIENT" "$MOAT" ca issue localhost 127.0.0.1 \
	--cert-file leaf.pem --key-file leaf-key.pem) >"$out" 2>&1
rc=$?
if [ $rc -eq 0 ] && openssl verify -CAfile "$ROOT" -verify_hostname localhost "$T_TMP/issued/leaf.pem" >>"$out" 2>&1 &&
	openssl verify -CAfile "$ROOT" -verify_ip 127.0.0.1 "$T_TMP/issued/leaf.pem" >>"$out" 2>&1; then
	ok "ca issue localhost 127.0.0.1: openssl verify accepts it for both names"
else
	notok "ca issue localhost 127.0.0.1: openssl verify accepts it for both names" "exit $rc"
	diag "$out"
fi
if [ -s "$T_TMP/issued/leaf.pem" ] &&
	moat_serve "ca issued cert" "$T_TMP/site" --cert "$T_TMP/issued/leaf.pem" --key "$T_TMP/issued/leaf-key.pem"; then
	out=$T_TMP/curl-issued
	timeout "$T_CLIENT" curl -sS --cacert "$ROOT" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
	check "ca issued cert: curl --cacert rootCA.pem fetches from moat serve" has "$out" "$SITE_TOKEN"
	bg_stop "$SRV_PID"
fi

# `moat serve` without --cert, with a CA home that does not exist yet.
export MOAT_CA_HOME=$T_TMP/ca-fresh
ROOT=$MOAT_CA_HOME/rootCA.pem
if moat_serve "serve without --cert" "$T_TMP/site"; then
	check "serve without --cert made rootCA.pem in a fresh \$MOAT_CA_HOME" test -s "$ROOT"
	out=$T_TMP/curl-auto
	timeout "$T_CLIENT" curl -sS --cacert "$ROOT" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
	check "serve without --cert: curl --cacert rootCA.pem, https://localhost" has "$out" "$SITE_TOKEN"
	timeout "$T_CLIENT" curl -sS --cacert "$ROOT" "https://127.0.0.1:$SRV_PORT/index.html" >"$out" 2>&1
	check "serve without --cert: curl --cacert rootCA.pem, https://127.0.0.1" has "$out" "$SITE_TOKEN"
	moat_get "auto" "$T_TMP/get-auto" --cacert "$ROOT" "https://localhost:$SRV_PORT/index.html"
	check "serve without --cert: moat get --cacert rootCA.pem (exit $GET_RC)" has "$T_TMP/get-auto" "$SITE_TOKEN"
	bg_stop "$SRV_PID"
	first=$(openssl x509 -in "$MOAT_CA_HOME/serve/localhost.pem" -noout -serial 2>/dev/null)
	if moat_serve "serve without --cert, again" "$T_TMP/site"; then
		second=$(openssl x509 -in "$MOAT_CA_HOME/serve/localhost.pem" -noout -serial 2>/dev/null)
		check "serve without --cert reuses its localhost certificate" [ -n "$first" -a "$first" = "$second" ]
		bg_stop "$SRV_PID"
	fi
fi
finish
