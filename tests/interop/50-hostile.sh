#!/usr/bin/env bash
# Hostile and wrong peers through real sockets. moat serve: TLS 1.1-only
# clients, garbage bytes, unsupported suites and groups, ClientHellos with
# an old legacy_version or thousands of unknown extensions and key shares,
# and it must keep serving. moat get: untrusted, expired and misnamed certificates, -k,
# TLS 1.2-only servers (with --tlsv1.3), bad usage.
. "$(dirname "$0")/../lib.sh"
need openssl curl python3 || { finish; exit; }
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

# hello NAME WANT KIND: a ClientHello made by python (KIND picks how it
# is odd) on a plain TCP socket; WANT is what moat serve must answer:
# "server_hello", "hrr" or "alert N".
cat >"$T_TMP/hello.py" <<'PY'
import os, socket, struct, sys

def vec(n, b):
    return len(b).to_bytes(n, "big") + b

def ext(t, body):
    return struct.pack(">H", t) + vec(2, body)

X25519 = 0x001D

def hello(legacy=0x0303, groups=(X25519,), shares=None, extra=b""):
    if shares is None:
        shares = [(X25519, os.urandom(32))]
    exts = extra
    exts += ext(0, vec(2, b"\x00" + vec(2, b"localhost")))
    exts += ext(43, vec(1, b"\x03\x04"))
    exts += ext(10, vec(2, b"".join(struct.pack(">H", g) for g in groups)))
    exts += ext(13, vec(2, struct.pack(">HHH", 0x0403, 0x0804, 0x0807)))
    exts += ext(51, vec(2, b"".join(struct.pack(">H", g) + vec(2, k) for g, k in shares)))
    body = (struct.pack(">H", legacy) + os.urandom(32) + vec(1, os.urandom(32)) +
            vec(2, b"\x13\x01\x13\x02\x13\x03") + b"\x01\x00" + vec(2, exts))
    msg = b"\x01" + vec(3, body)
    # As many records as it takes, 2^14 bytes each (RFC 8446 5.1).
    return b"".join(b"\x16\x03\x01" + vec(2, msg[i:i + 16384]) for i in range(0, len(msg), 16384))

def unknown_exts(n, dup=False):
    return b"".join(ext(0x1000 + i, b"") for i in range(n)) + (ext(0x1000, b"") if dup else b"")

def unknown_shares(n, size):
    return [(0x6000 + i, os.urandom(size)) for i in range(n)]

def unknown_groups(n):
    return tuple(0x6000 + i for i in range(n))

kind = sys.argv[2]
if kind.startswith("legacy-"):
    ch = hello(legacy=int(kind[7:], 16))
elif kind == "exts":
    ch = hello(extra=unknown_exts(16000))
elif kind == "exts-dup":
    ch = hello(extra=unknown_exts(5000, dup=True))
elif kind == "shares":
    ch = hello(groups=unknown_groups(8000) + (X25519,),
               shares=unknown_shares(8000, 1) + [(X25519, os.urandom(32))])
elif kind == "shares-pq":
    ch = hello(groups=unknown_groups(40) + (X25519,),
               shares=unknown_shares(40, 1216) + [(X25519, os.urandom(32))])
elif kind == "shares-unknown":
    ch = hello(groups=unknown_groups(20) + (X25519,), shares=unknown_shares(20, 32))
elif kind == "shares-none-ours":
    ch = hello(groups=unknown_groups(20), shares=unknown_shares(20, 32))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(ch)
got = b""
while len(got) < 5 or len(got) < 5 + int.from_bytes(got[3:5], "big"):
    more = s.recv(65536)
    if not more:
        break
    got += more
HRR = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
if len(got) >= 7 and got[0] == 21:
    print("alert", got[6])
elif len(got) >= 5 + 38 and got[0] == 22 and got[5] == 2:
    print("hrr" if got[11:43] == HRR else "server_hello")
else:
    print("closed", got[:16].hex())
PY
hello() {
	local name=$1 want=$2 out=$T_TMP/hello.$RANDOM
	timeout "$T_CLIENT" python3 "$T_TMP/hello.py" "$SRV_PORT" "$3" >"$out" 2>&1
	if [ "$(cat "$out")" = "$want" ]; then ok "$name: $want"; else
		notok "$name: $want" "got: $(head -c 200 "$out")"
	fi
}

if moat_serve "hostile serve" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	# TLS 1.2 is served (tests/interop/14-tls12.sh); a TLS 1.1-only client
	# gets a protocol_version alert (70).
	out=$T_TMP/tls11
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost -tls1_1 \
		-cipher DEFAULT@SECLEVEL=0 </dev/null >"$out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && has "$out" 'protocol version|alert number 70'; then
		ok "hostile: TLS 1.1-only s_client refused with a protocol_version alert"
	else
		notok "hostile: TLS 1.1-only s_client refused with a protocol_version alert" "s_client exit $rc"
		diag "$out"
	fi
	still_serves "hostile: after TLS 1.1 client"

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

	# ClientHellos no TLS 1.3 client should send, and ones today's do.
	for v in 0000 0102 0200 0300; do
		hello "hostile: legacy_version 0x$v with supported_versions TLS 1.3" "alert 70" "legacy-$v"
	done
	hello "hostile: 16,000 unknown extensions over four records" server_hello exts
	hello "hostile: an unknown extension repeated among 5,001" "alert 47" exts-dup
	hello "hostile: 8,000 unknown key shares and an x25519 one" server_hello shares
	hello "hostile: 40 unknown key shares of 1,216 bytes and an x25519 one" server_hello shares-pq
	hello "hostile: only unknown key shares, x25519 listed" hrr shares-unknown
	hello "hostile: only unknown key shares and groups" "alert 40" shares-none-ours
	still_serves "hostile: after odd ClientHellos"

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

# A TLS 1.2-only server: moat get speaks 1.2 with it, unless told
# --tlsv1.3 (then the handshake fails, exit 35).
if PEER_PROTO=-tls1_2 s_server_start "get TLS 1.2 server" "$T_TMP/site"; then
	moat_get "get TLS 1.2 server" "$T_TMP/tls12get" --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	check "get TLS 1.2-only s_server: fetched over 1.2 (exit $GET_RC)" has "$T_TMP/tls12get" "$SITE_TOKEN"
	moat_get "get TLS 1.2 server" "$T_TMP/tls12get13" --tlsv1.3 --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	check "get --tlsv1.3 to a TLS 1.2-only s_server: exit 35 (got $GET_RC)" [ "$GET_RC" -eq 35 ]
	bg_stop "$PEER_PID"
fi

# Bad usage: exit 2.
moat_get "usage" "$T_TMP/usage1"
check "get with no URL: exit 2 (got $GET_RC)" [ "$GET_RC" -eq 2 ]
moat_get "usage" "$T_TMP/usage2" --no-such-option https://localhost/
check "get with an unknown option: exit 2 (got $GET_RC)" [ "$GET_RC" -eq 2 ]
finish
