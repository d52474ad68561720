#!/usr/bin/env bash
# moat get's exit codes as curl's (2 usage, 6 resolve, 7 connect, 28
# timeout, also for a resolver that never answers, 35 handshake), the
# progress bar (bytes, rate, time left) only on a terminal, -s, and
# SSLKEYLOGFILE; against openssl s_server and python3 listeners.
. "$(dirname "$0")/../lib.sh"
need openssl python3 script unshare ip || { finish; exit; }
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
SP=$(free_port)
bg_start "$T_TMP/silent" python3 "$MOAT_ROOT/tests/apps/silent.py" "$SP"
SILENT_PID=$BG_PID
if wait_file_line "$T_TMP/silent.out" "^ready"; then
	code "--connect-timeout 1 on a silent server" 28 --connect-timeout 1 "https://127.0.0.1:$SP/"
	code "-m 1 on a silent server" 28 -m 1 "https://127.0.0.1:$SP/"
else notok "get: silent python listener starts"; fi
bg_stop "$SILENT_PID"

# A resolver that never answers: in namespaces of its own (user, network,
# mount), /etc/resolv.conf names 127.0.0.1, where a UDP socket swallows
# every query. The lookup is bounded by --connect-timeout and -m (exit 28
# in about a second, not the resolver's own 5 s x 2 tries).
cat >"$T_TMP/slowdns.sh" <<'SH'
set -e
ip link set lo up
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    s.recvfrom(4096)
' >"$1/dns.out" &
for i in $(seq 1 50); do grep -q ready "$1/dns.out" 2>/dev/null && break; sleep 0.1; done
echo "nameserver 127.0.0.1" >"$1/resolv.conf"
mount --bind "$1/resolv.conf" /etc/resolv.conf
dir=$1
shift
for args in "--connect-timeout 1" "-m 1"; do
	s=$(date +%s%N)
	rc=0
	timeout 8 "$@" $args https://slow-resolver.test/ 2>>"$dir/slowdns.err" || rc=$?
	e=$(date +%s%N)
	echo "$args rc=$rc ms=$(((e - s) / 1000000))"
done
kill %1
SH
timeout 30 unshare -r -n -m bash "$T_TMP/slowdns.sh" "$T_TMP" "$MOAT" get -s >"$T_TMP/slowdns.out" 2>&1
for a in "--connect-timeout 1" "-m 1"; do
	line=$(grep -- "^$a rc=" "$T_TMP/slowdns.out")
	ms=${line##*ms=}
	if echo "$line" | grep -q "rc=28 " && [ "${ms:-99999}" -lt 3000 ]; then
		ok "get: $a bounds a name lookup that never ends (exit 28 in $ms ms)"
	else notok "get: $a bounds a name lookup that never ends" "${line:-no result}"; diag "$T_TMP/slowdns.out" "$T_TMP/slowdns.err"; fi
done
check "get: a slow lookup says it timed out resolving" has "$T_TMP/slowdns.err" "resolving host slow-resolver.test timed out"

# A TLS 1.2-only server with --tlsv1.3: the handshake fails.
if PEER_PROTO=-tls1_2 s_server_start "tls12" "$T_TMP/site"; then
	code "a TLS 1.2-only server with --tlsv1.3" 35 --tlsv1.3 --cacert "$CERTS/ca.pem" "https://localhost:$PEER_PORT/index.html"
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

# A server that trickles 240 kB over about two seconds: the bar shows how
# much time is left while the transfer runs, and the total at the end.
cat >"$T_TMP/trickle.py" <<'PY'
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(4096)
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 245760\r\nConnection: close\r\n\r\n")
        for i in range(24):
            t.sendall(b"x" * 10240)
            time.sleep(0.08)
        t.close()
    except Exception as e:
        print(e, flush=True)
PY
TP=$(free_port)
bg_start "$T_TMP/trickle" python3 "$T_TMP/trickle.py" "$TP" "$CERTS/p256.pem" "$CERTS/p256.key"
TRICKLE_PID=$BG_PID
if wait_file_line "$T_TMP/trickle.out" "^ready"; then
	timeout "$T_CLIENT" script -qec "'$MOAT' get --cacert '$CERTS/ca.pem' -o '$T_TMP/p4' https://localhost:$TP/slow" \
		/dev/null >"$T_TMP/tty-eta.out" 2>&1 </dev/null
	if has "$T_TMP/tty-eta.out" "\[[#.]{20}\] +[0-9]+% [0-9.]+ (B|kB) of 245.8 kB, [0-9.]+ (B|kB|MB)/s, [0-9]+:[0-9]{2} left" &&
		has "$T_TMP/tty-eta.out" "100% 245.8 kB of 245.8 kB.*in [0-9.]+ s" && [ "$(stat -c %s "$T_TMP/p4")" -eq 245760 ]; then
		ok "get: the progress bar shows percent, bytes, rate and time left, then the total time"
	else notok "get: the progress bar shows percent, bytes, rate and time left, then the total time"; diag "$T_TMP/tty-eta.out" "$T_TMP/trickle.out"; fi
else notok "get: trickling python3 TLS server starts"; diag "$T_TMP/trickle.err"; fi
bg_stop "$TRICKLE_PID"
finish
