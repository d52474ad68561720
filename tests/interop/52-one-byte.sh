#!/usr/bin/env bash
# Reads and writes cut to one byte, through real sockets: moat serve and
# moat get run with tests/shim/onebyte.c preloaded, which makes every socket
# send/recv/read/write move at most one byte, and must still carry the whole
# handshake and a download intact (curl, openssl s_client and moat get).
. "$(dirname "$0")/../lib.sh"
need openssl curl sha256sum || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

SHIM=$(cd "$(dirname "$MOAT")" && pwd)/tests/onebyte.so
if [ ! -f "$SHIM" ]; then
	notok "one-byte shim $SHIM built" "make builds it with the rest"
	finish
	exit
fi
REAL_MOAT=$MOAT
REPORT=$T_TMP/cut.log
# moat, with every socket read and write cut to one byte.
cat >"$T_TMP/moat-1byte" <<EOS
#!/bin/sh
ONEBYTE_REPORT=$REPORT LD_PRELOAD=$SHIM exec $REAL_MOAT "\$@"
EOS
chmod +x "$T_TMP/moat-1byte"
want=$(sha256sum <"$T_TMP/site/big.txt" | cut -d' ' -f1)
T_CLIENT=60

MOAT=$T_TMP/moat-1byte
if moat_serve "one-byte serve" "$T_TMP/site" --workers 1 --cert "$CERTS/p256-chain.pem" --key "$CERTS/p256.key"; then
	MOAT=$REAL_MOAT
	out=$T_TMP/curl.out
	timeout "$T_CLIENT" curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		-o "$out" "https://localhost:$SRV_PORT/big.txt" 2>"$out.err"
	got=$(sha256sum <"$out" | cut -d' ' -f1)
	check "one-byte serve: curl downloads big.txt ($(stat -c %s "$T_TMP/site/big.txt") bytes) intact" [ "$got" = "$want" ]
	[ "$got" = "$want" ] || diag "$out.err" "$SRV_LOG.err"
	for s in "${SUITES[@]}"; do
		timeout "$T_CLIENT" openssl s_client -tls1_3 -ciphersuites "$s" -connect "127.0.0.1:$SRV_PORT" \
			-servername localhost -CAfile "$CERTS/ca.pem" -verify_return_error -ign_eof \
			< <(printf 'GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n') \
			>"$T_TMP/s_client.$s" 2>&1
		check "one-byte serve: openssl s_client $s handshake and page" grep -q "$SITE_TOKEN" "$T_TMP/s_client.$s"
	done
	moat_get "one-byte serve: moat get" "$T_TMP/get.out" --cacert "$CERTS/ca.pem" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/big.txt"
	got=$(sha256sum <"$T_TMP/get.out" | cut -d' ' -f1)
	check "one-byte serve: moat get downloads big.txt intact" [ "$GET_RC" -eq 0 -a "$got" = "$want" ]
	MOAT=$T_TMP/moat-1byte
	moat_get "one-byte get" "$T_TMP/get2.out" --cacert "$CERTS/ca.pem" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/big.txt"
	MOAT=$REAL_MOAT
	got=$(sha256sum <"$T_TMP/get2.out" | cut -d' ' -f1)
	check "one-byte serve and get: moat get downloads big.txt intact, both ends cut to one byte" \
		[ "$GET_RC" -eq 0 -a "$got" = "$want" ]
	[ "$got" = "$want" ] || diag "$T_TMP/get2.out.err"
	server_alive "one-byte serve"
	bg_stop "$SRV_PID"
fi
MOAT=$REAL_MOAT

# moat get alone cut to one byte, against openssl s_server.
if s_server_start "one-byte get" "$T_TMP/site"; then
	MOAT=$T_TMP/moat-1byte
	moat_get "one-byte get s_server" "$T_TMP/get3.out" --cacert "$CERTS/ca.pem" \
		--resolve "localhost:$PEER_PORT:127.0.0.1" "https://localhost:$PEER_PORT/index.html"
	MOAT=$REAL_MOAT
	check "one-byte get: moat get against openssl s_server" grep -q "$SITE_TOKEN" "$T_TMP/get3.out"
	bg_stop "$PEER_PID"
fi
# The shim was in the way of the server and of the client processes.
n=$(sort -u "$REPORT" 2>/dev/null | wc -l)
check "one-byte: the shim cut reads and writes in at least 3 moat processes ($n)" [ "$n" -ge 3 ]
finish
