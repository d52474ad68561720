#!/usr/bin/env bash
# Hostile load on one worker: N idle TCP connections (10,000 by default,
# MOAT_LOAD_CONNS to change) held open while curl is still served; every
# one of those unfinished handshakes times out (--handshake-timeout 5);
# then N connections with finished TLS handshakes held silent, curl still
# served; connections beyond --max-conns are refused cleanly; moat serve's
# RSS is measured with all of them open and must stay under stated bounds.
. "$(dirname "$0")/../lib.sh"
need curl python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
N=${MOAT_LOAD_CONNS:-10000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The bound: 64 MB plus 4 KB per connection (its TLS state and buffers),
# 104 MB for 10,000.
BOUND_KB=$((65536 + 4 * N))
if moat_serve "load" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--max-conns $((N + 100)) --handshake-timeout 5 --header-timeout 5; then
	# The holder: opens N connections (half of them send a partial
	# ClientHello), prints "open K", then holds them until stdin closes.
	cat >"$T_TMP/hold.py" <<'PY'
import os, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            s.send(bytes([22, 3, 1, 1, 0, 1, 0, 0, 0xfc, 3, 3]))  # half a ClientHello
        socks.append(s)
    except OSError as e:
        print("error", i, e, flush=True)
        break
print("open", len(socks), flush=True)
sys.stdin.read()
# How many the server closed meanwhile (the half-open handshakes).
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(4096) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print("closed", closed, flush=True)
PY
	mkfifo "$T_TMP/hold.in"
	python3 "$T_TMP/hold.py" "$SRV_PORT" "$N" <"$T_TMP/hold.in" >"$T_TMP/hold.out" 2>&1 &
	HOLD=$!
	T_PIDS+=("$HOLD")
	exec 9>"$T_TMP/hold.in"
	wait_file_line "$T_TMP/hold.out" '^open ' 180
	opened=$(sed -n 's/^open //p' "$T_TMP/hold.out")
	echo "# $opened of $N connections open"
	check "load: $N idle connections open at once" test "${opened:-0}" -ge "$N"
	timeout 20 curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$T_TMP/curl" 2>&1
	check "load: curl still served with $opened idle connections" has "$T_TMP/curl" "$SITE_TOKEN"
	rss=0
	for p in $SRV_PID $(pgrep -P "$SRV_PID"); do
		r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
		rss=$((rss + ${r:-0}))
	done
	echo "# moat serve RSS with $opened connections: $rss KB (bound $BOUND_KB KB)"
	check "load: RSS $((rss / 1024)) MB with $opened connections, under $((BOUND_KB / 1024)) MB" test "$rss" -le "$BOUND_KB"
	sleep 8 # past --handshake-timeout
	exec 9>&-
	wait_file_line "$T_TMP/hold.out" '^closed ' 60
	closed=$(sed -n 's/^closed //p' "$T_TMP/hold.out")
	echo "# the server closed $closed of $opened connections after the timeouts"
	# Every one of them is a handshake that never finished (silent, or half
	# a ClientHello): all must have been closed.
	check "load: unfinished handshakes timed out (closed $closed of $opened)" test "${closed:-0}" -ge "${opened:-1}"
	timeout 20 curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$T_TMP/curl2" 2>&1
	check "load: curl served after the flood" has "$T_TMP/curl2" "$SITE_TOKEN"
	server_alive "load"
	bg_stop "$SRV_PID"
fi

# N connections whose TLS handshake completed, then held silent (bench/hold,
# moat's engine as the client): one worker keeps them all, curl is still
# served, and each costs the server little memory (RSS before and after).
HOLD_BIN=$(cd "$(dirname "$MOAT")" && pwd)/bench/hold
if [ ! -x "$HOLD_BIN" ]; then
	notok "established: $HOLD_BIN built" "make builds it with the rest"
elif moat_serve "established" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--max-conns $((N + 100)); then
	rss_of() {
		local p r t=0
		for p in $SRV_PID $(pgrep -P "$SRV_PID"); do
			r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
			t=$((t + ${r:-0}))
		done
		echo "$t"
	}
	before=$(rss_of)
	mkfifo "$T_TMP/est.in"
	"$HOLD_BIN" -p "$SRV_PORT" -n "$N" -t 170 <"$T_TMP/est.in" >"$T_TMP/est.out" 2>&1 &
	T_PIDS+=("$!")
	exec 8>"$T_TMP/est.in"
	wait_file_line "$T_TMP/est.out" '^held ' 180
	held=$(sed -n 's/^held \([0-9]*\) failed.*/\1/p' "$T_TMP/est.out")
	sleep 1
	after=$(rss_of)
	per=$(((after - before) * 1024 / ${held:-1}))
	echo "# $held TLS connections held: RSS $before KB before, $after KB after, $per bytes each"
	check "established: $N TLS connections completed and held at once (held ${held:-0})" test "${held:-0}" -ge "$N"
	timeout 20 curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$T_TMP/curl-est" 2>&1
	check "established: curl still served with $held TLS connections held" has "$T_TMP/curl-est" "$SITE_TOKEN"
	# The bound: 8 KB per idle TLS connection (its keys, the kernel's
	# socket buffers are not in RSS); make bench reports the exact figure.
	check "established: $per bytes of server RSS per idle TLS connection, at most 8192" test "$per" -le 8192
	exec 8>&-
	wait_file_line "$T_TMP/est.out" '^alive ' 60
	alive_n=$(sed -n 's/^alive //p' "$T_TMP/est.out")
	check "established: all $held held connections still open before the idle timeout (alive ${alive_n:-0})" \
		test "${alive_n:-0}" -ge "${held:-1}"
	server_alive "established"
	bg_stop "$SRV_PID"
fi

# Beyond --max-conns: refused cleanly, and served again once below it.
if moat_serve "limit" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 --max-conns 50; then
	python3 - "$SRV_PORT" >"$T_TMP/limit" 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
extra = socket.create_connection(("127.0.0.1", port), timeout=5)
extra.settimeout(5)
try:
    print("extra", "closed" if extra.recv(100) == b"" else "data")
except ConnectionResetError:
    print("extra closed")
except socket.timeout:
    print("extra held")
PY
	sed 's/^/# /' "$T_TMP/limit"
	check "limit: connection 51 beyond --max-conns 50 is closed" has "$T_TMP/limit" '^extra closed'
	timeout 20 curl -sS --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" >"$T_TMP/curl3" 2>&1
	check "limit: served again once the holders left" has "$T_TMP/curl3" "$SITE_TOKEN"
	server_alive "limit"
	bg_stop "$SRV_PID"
fi
finish
