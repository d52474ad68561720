#!/usr/bin/env bash
# moat get's exit codes as curl's (2 usage, 6 resolve, 7 connect, 28
# timeout, 35 handshake), the progress bar only on a terminal, -s, and
# SSLKEYLOGFILE; against openssl s_server and a silent python3 listener.
. "$(dirname "$0")/../lib.sh"
need openssl python3 script || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
head -c 3000000 /dev/urandom >"$T_TMP/site/three.bin"

# code NAME WANT ARGS...: moat get exits WANT with a message.
code() {
	local name=$1 want=$2 out=$T_TMP/code.$RANDOM
	shift 2
	moat_get "$name" "$out" "$@"
	if [ "$GET_RC" -eq "$want" ] && [ -s "$out.err" ]; then ok "get: $name: exit $want ($(head -n 1 "$out.err"))"
	else notok "get: $name: exit $want" "exit $GET_RC"; diag "$out.err"; fi
}
code "bad usage" 2 --no-such-flag https://localhost/
code "missing URL" 2 -s
code "-X with a space" 2 -X "GE T" https://localhost/
code "cannot resolve" 6 https://no-such-host.invalid/
port=$(free_port)
code "cannot connect" 7 "https://127.0.0.1:$port/"
code "--resolve to a closed port" 7 --resolve "example.com:$port:127.0.0.1" "https://example.com:$port/"

# A listener that accepts and never speaks: the handshake times out.
cat >"$T_TMP/silent.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)
EOF
SP=$(free_port)
bg_start "$T_TMP/silent" python3 "$T_TMP/silent.py" "$SP"
SILENT_PID=$BG_PID
if wait_file_line "$T_TMP/silent.out" "^ready"; then
	code "--connect-timeout 1 on a silent server" 28 --connect-timeout 1 "https://127.0.0.1:$SP/"
	code "-m 1 on a silent server" 28 -m 1 "https://127.0.0.1:$SP/"
else notok "get: silent python listener starts"; fi
bg_stop "$SILENT_PID"

# A TLS 1.2-only server: the handshake fails.
if PEER_PROTO=-tls1_2 s_server_start "tls12" "$T_TMP/site"; then
	code "a TLS 1.2-only server" 35 --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
	bg_stop "$PEER_PID"
fi

if s_server_start "progress" "$T_TMP/site"; then
	U="https://localhost:$PEER_PORT/three.bin"
	# On a terminal (script gives it a pty), -o draws a progress bar.
	timeout "$T_CLIENT" script -qec "'$MOAT' get --cacert '$CERTS/ca.pem' -o '$T_TMP/p1' '$U'" /dev/null \
		>"$T_TMP/tty.out" 2>&1 </dev/null
	if has "$T_TMP/tty.out" "3.0 MB, [0-9.]+ (B|kB|MB|GB)/s" && cmp -s "$T_TMP/p1" "$T_TMP/site/three.bin"; then
		ok "get: -o on a terminal shows a progress bar (bytes, rate)"
	else notok "get: -o on a terminal shows a progress bar (bytes, rate)"; diag "$T_TMP/tty.out"; fi
	timeout "$T_CLIENT" script -qec "'$MOAT' get -s --cacert '$CERTS/ca.pem' -o '$T_TMP/p2' '$U'" /dev/null \
		>"$T_TMP/tty-s.out" 2>&1 </dev/null
	check "get: -s on a terminal: no progress bar" bash -c "! grep -Eq '/s' '$T_TMP/tty-s.out'"
	out=$T_TMP/notty
	moat_get "notty" "$out" --cacert "$CERTS/ca.pem" -o "$T_TMP/p3" "$U"
	check "get: stderr not a terminal: no progress bar" test "$GET_RC" -eq 0 -a ! -s "$out.err"
	# SSLKEYLOGFILE gets the secrets of the connection
	SSLKEYLOGFILE=$T_TMP/keys timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CERTS/ca.pem" \
		"https://localhost:$PEER_PORT/index.html" >/dev/null 2>&1
	if has "$T_TMP/keys" "^CLIENT_HANDSHAKE_TRAFFIC_SECRET " && has "$T_TMP/keys" "^SERVER_TRAFFIC_SECRET_0 "; then
		ok "get: SSLKEYLOGFILE receives the key log lines"
	else notok "get: SSLKEYLOGFILE receives the key log lines"; fi
	bg_stop "$PEER_PID"
fi
finish
