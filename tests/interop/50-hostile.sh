#!/usr/bin/env bash
# Hostile and wrong peers through real sockets. moat serve: TLS 1.2-only
# clients, garbage bytes, unsupported suites and groups, and it must keep
# serving. moat get: untrusted, expired and misnamed certificates, -k,
# TLS 1.2-only servers, bad usage.
. "$(dirname "$0")/../lib.sh"
need openssl curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# still_serves NAME: server alive and a normal fetch still works.
still_serves() {
	local out=$T_TMP/still.$RANDOM
	if ! alive "$SRV_PID"; then
		notok "$1: moat serve survives" "moat serve exited"
		diag "$SRV_LOG.err"
		return
	fi
	timeout "$T_CLIENT" curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$out" 2>&1
	if has "$out" "$SITE_TOKEN"; then ok "$1: moat serve survives and still serves"; else
		notok "$1: moat serve survives and still serves" "curl could not fetch afterwards"
		diag "$out"
	fi
}

# raw_send NAME < <(CMD): write the bytes CMD prints to the server on a plain TCP socket and
# expect the server to close the connection within T_CLIENT seconds.
raw_send() {
	local name=$1 out=$T_TMP/raw.$RANDOM rc
	timeout "$T_CLIENT" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 99
		cat >&3 2>/dev/null
		cat <&3 >"$2"' _ "$SRV_PORT" "$out"
	rc=$?
	case $rc in
	0 | 1) ok "$name: connection closed by moat serve ($(stat -c %s "$out") bytes back)" ;;
	124) notok "$name: connection closed by moat serve" "still open after ${T_CLIENT}s" ;;
	*) notok "$name: connection closed by moat serve" "exit $rc" ;;
	esac
}

# hang_up: write stdin's bytes to the server and close at once.
hang_up() {
	timeout "$T_CLIENT" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && cat >&3' _ "$SRV_PORT" 2>/dev/null
}

if moat_serve "hostile serve" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	# A TLS 1.2-only client gets a protocol_version alert (70).
	out=$T_TMP/tls12
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_2 \
		</dev/null >"$out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && has "$out" 'protocol version|alert number 70'; then
		ok "hostile: TLS 1.2-only s_client refused with a protocol_version alert"
	else
		notok "hostile: TLS 1.2-only s_client refused with a protocol_version alert" "s_client exit $rc"
		diag "$out"
	fi
	still_serves "hostile: after TLS 1.2 client"

	# A TLS 1.3 client offering only a suite moat does not have.
	out=$T_TMP/ccm
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-ciphersuites TLS_AES_128_CCM_SHA256 </dev/null >"$out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && has "$out" 'alert'; then
		ok "hostile: client with only TLS_AES_128_CCM_SHA256 refused with an alert"
	else
		notok "hostile: client with only TLS_AES_128_CCM_SHA256 refused with an alert" "s_client exit $rc"
		diag "$out"
	fi
	# A TLS 1.3 client offering only a group moat does not have.
	out=$T_TMP/x448
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_3 \
		-groups X448 </dev/null >"$out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && has "$out" 'alert'; then
		ok "hostile: client with only X448 refused with an alert"
	else
		notok "hostile: client with only X448 refused with an alert" "s_client exit $rc"
		diag "$out"
	fi
	still_serves "hostile: after unsupported suite and group"

	# Garbage instead of a ClientHello.
	raw_send "hostile: plain HTTP request" < <(printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
	raw_send "hostile: 64 KiB of random bytes" < <(head -c 65536 /dev/urandom)
	raw_send "hostile: SSLv2-style hello" < <(printf '\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00')
	raw_send "hostile: application data before handshake" < <(printf '\x17\x03\x03\x00\x20AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
	raw_send "hostile: ClientHello of 2 bytes" < <(printf '\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03')
	# Inputs that are only incomplete: moat may wait for more, so we hang up.
	printf '\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03' | hang_up
	printf '\x16\x03\x01\xff\xff' | hang_up
	: | hang_up
	still_serves "hostile: after garbage and truncated records"

	# A burst of clients that go away mid-handshake.
	for i in $(seq 1 20); do
		timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "\x16\x03\x01" >&3' _ "$SRV_PORT" 2>/dev/null
	done
	still_serves "hostile: after 20 half-handshakes"

	# A client that connects and says nothing must not stop others being served.
	timeout 30 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; sleep 30' _ "$SRV_PORT" 2>/dev/null &
	silent=$!
	sleep 0.3
	still_serves "hostile: while a silent client holds a connection"
	kill "$silent" 2>/dev/null
	wait "$silent" 2>/dev/null
	bg_stop "$SRV_PID"
fi

# moat get refuses bad certificates with exit 60 and a browser-like reason.
# refused NAME CERT CODE: s_server with CERT; moat get must exit 60 and say
# "moat: refused https://localhost...: <words> (NET::CODE)".
refused() {
	local name=$1 cert=$2 code=$3 out=$T_TMP/refused.$RANDOM
	PEER_CERT=$CERTS/$cert.pem PEER_KEY=$CERTS/$cert.key s_server_start "$name" "$T_TMP/site" || return
	moat_get "$name" "$out" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 60 ] && has "$out.err" "^moat: refused https://localhost(:$PEER_PORT)?/[^ ]*: .+ \(NET::$code\)\$" &&
		! has "$out" "$SITE_TOKEN"; then
		ok "$name: exit 60, $(grep -m1 '^moat: refused' "$out.err")"
	else
		notok "$name: exit 60 naming NET::$code" "exit $GET_RC"
		diag "$out.err"
	fi
	# -k goes on anyway, with a warning.
	moat_get "$name -k" "$out.k" -k "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 0 ] && has "$out.k" "$SITE_TOKEN" && has "$out.k.err" '[Ww]arning|WARNING|not (checked|verified)'; then
		ok "$name: -k fetches the page with a warning"
	else
		notok "$name: -k fetches the page with a warning" "exit $GET_RC"
		diag "$out.k.err"
	fi
	bg_stop "$PEER_PID"
}
refused "get untrusted (self-signed)" selfsigned ERR_CERT_AUTHORITY_INVALID
refused "get expired" expired ERR_CERT_DATE_INVALID
refused "get name mismatch" wrongname ERR_CERT_COMMON_NAME_INVALID

# Without --cacert the test CA is unknown too.
if s_server_start "get no --cacert" "$T_TMP/site"; then
	moat_get "get no --cacert" "$T_TMP/nocacert" "https://localhost:$PEER_PORT/index.html"
	if [ "$GET_RC" -eq 60 ] && has "$T_TMP/nocacert.err" 'NET::ERR_CERT_AUTHORITY_INVALID'; then
		ok "get test CA not trusted without --cacert: exit 60"
	else
		notok "get test CA not trusted without --cacert: exit 60" "exit $GET_RC"
		diag "$T_TMP/nocacert.err"
	fi
	bg_stop "$PEER_PID"
fi

# A TLS 1.2-only server: the handshake fails, exit 35.
if PEER_PROTO=-tls1_2 s_server_start "get TLS 1.2 server" "$T_TMP/site"; then
	moat_get "get TLS 1.2 server" "$T_TMP/tls12get" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	check "get TLS 1.2-only s_server: exit 35 (got $GET_RC)" [ "$GET_RC" -eq 35 ]
	bg_stop "$PEER_PID"
fi

# Bad usage: exit 2.
moat_get "usage" "$T_TMP/usage1"
check "get with no URL: exit 2 (got $GET_RC)" [ "$GET_RC" -eq 2 ]
moat_get "usage" "$T_TMP/usage2" --no-such-option https://localhost/
check "get with an unknown option: exit 2 (got $GET_RC)" [ "$GET_RC" -eq 2 ]
finish
