#!/usr/bin/env bash
# fuzz/record-corpus.sh: records the seed corpora of the handshake targets
# from real sessions through fuzz/recproxy.py. ClientHellos of openssl
# s_client, gnutls-cli, curl, Chromium and moat get against moat serve go
# to fuzz/corpus/fuzz_server_hs; the first flights of moat serve, openssl
# s_server and gnutls-serv answering moat get (ServerHello .. Finished, or
# a HelloRetryRequest) go to fuzz/corpus/fuzz_client_hs with the mode
# byte 0 in front. Needs build/moat. Run by hand; the output is committed.
. "$(dirname "$0")/../tests/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
gen_certs || exit 1
make_site "$T_TMP/site"
SH=$ROOT/fuzz/corpus/fuzz_server_hs CH=$ROOT/fuzz/corpus/fuzz_client_hs
mkdir -p "$SH" "$CH"
rec=$T_TMP/rec
mkdir -p "$rec"

proxy() { # proxy UPSTREAM PREFIX: sets PX_PORT, PX_PID
	PX_PORT=$(free_port)
	bg_start "$T_TMP/px-$PX_PORT" python3 "$ROOT/fuzz/recproxy.py" "$PX_PORT" "$1" "$rec/$2"
	PX_PID=$BG_PID
	wait_listen "$PX_PORT"
}

# ClientHellos, against moat serve.
moat_serve "record" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" || exit 1
t() { timeout 10 "$@" >/dev/null 2>&1 </dev/null; }
hello() { # hello NAME CLIENT-COMMAND... with @P@ for the port
	local name=$1 a args=()
	shift
	proxy "$SRV_PORT" "ch-$name"
	for a in "$@"; do args+=("${a//@P@/$PX_PORT}"); done
	t "${args[@]}"
	bg_stop "$PX_PID"
	for f in "$rec"/ch-"$name"-*.c2s; do [ -f "$f" ] && cp "$f" "$SH/$name"; done
}
url='https://localhost:@P@/index.html'
hello openssl openssl s_client -connect 127.0.0.1:@P@ -servername localhost -alpn http/1.1
hello openssl-p384-x25519 openssl s_client -connect 127.0.0.1:@P@ -servername localhost -groups P-384:X25519
hello openssl-chacha openssl s_client -connect 127.0.0.1:@P@ -ciphersuites TLS_CHACHA20_POLY1305_SHA256
hello openssl-tls12 openssl s_client -connect 127.0.0.1:@P@ -tls1_2
hello gnutls gnutls-cli --insecure -p @P@ localhost
hello gnutls-p384 gnutls-cli --insecure -p @P@ --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP384R1" localhost
hello curl curl -sk --resolve localhost:@P@:127.0.0.1 "$url"
hello curl-p256 curl -sk --tlsv1.3 --curves P-256 --resolve localhost:@P@:127.0.0.1 "$url"
hello chromium chromium --headless --no-sandbox --disable-gpu --ignore-certificate-errors --dump-dom \
	--host-resolver-rules="MAP localhost 127.0.0.1" "$url"
hello moat "$MOAT" get -k "$url"
hello moat-p384 "$MOAT" get -k --tls-group P-384 "$url"
bg_stop "$SRV_PID"

# Server flights, answering moat get.
flights() { # flights NAME UPSTREAM_PORT [moat get args]
	local name=$1 port=$2
	shift 2
	proxy "$port" "fl-$name"
	t "$MOAT" get -k "$@" "https://localhost:$PX_PORT/index.html"
	bg_stop "$PX_PID"
	for f in "$rec"/fl-"$name"-*.s2c; do
		[ -f "$f" ] && { printf '\0'; cat "$f"; } >"$CH/$name"
	done
}
moat_serve "record" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" || exit 1
flights moat-p256 "$SRV_PORT"
bg_stop "$SRV_PID"
moat_serve "record" "$T_TMP/site" --cert "$CERTS/rsa.pem" --key "$CERTS/rsa.key" --groups P-384 || exit 1
flights moat-rsa-hrr "$SRV_PORT"
bg_stop "$SRV_PID"
s_server_start "record" "$T_TMP/site" && { flights openssl-p256 "$PEER_PORT"; bg_stop "$PEER_PID"; }
PEER_CERT=$CERTS/ed25519.pem PEER_KEY=$CERTS/ed25519.key s_server_start "record" "$T_TMP/site" &&
	{ flights openssl-ed25519 "$PEER_PORT"; bg_stop "$PEER_PID"; }
s_server_start "record" "$T_TMP/site" -groups P-256 && { flights openssl-hrr "$PEER_PORT"; bg_stop "$PEER_PID"; }
gnutls_serv_start "record" "NORMAL:-VERS-ALL:+VERS-TLS1.3" && { flights gnutls "$PEER_PORT"; bg_stop "$PEER_PID"; }
ls -l "$SH" "$CH"
finish
