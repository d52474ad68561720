#!/usr/bin/env bash
# moat serve --access-log-format json: every line parses (python3's json)
# and carries the request's values: method, uri, host, status, size,
# user agent (quotes, backslashes, a tab, a byte that is not UTF-8 and
# one character that is, escaped), TLS version, suite, group, resumed (s_client
# -sess_in), SNI, the client certificate's subject, a PROXY v2 header's
# authority and unique ID; a request that does not parse; combined stays
# the default; a bad format value exits 2. Then systemd's Type=notify
# protocol, spoken to a python3 datagram socket as NOTIFY_SOCKET (a path,
# and an abstract @name): READY=1 once moat listens, RELOADING=1 and
# READY=1 around SIGHUP, STOPPING=1 on SIGTERM; and examples/moat.service
# passes systemd-analyze verify.
. "$(dirname "$0")/../lib.sh"
need python3 openssl curl systemd-analyze || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
gen_client_cert || notok "json: client certificate made"
make_site "$T_TMP/site"
C=$CERTS
head -c 80 /dev/urandom >"$T_TMP/keys"
LOG=$T_TMP/access.json
moat_serve "json" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--ticket-keys "$T_TMP/keys" --client-ca "$C/ca.pem" --client-auth optional \
	--access-log "$LOG" --access-log-format json || { finish; exit; }
P=$SRV_PORT J_PID=$SRV_PID
# A second server reads a PROXY header from 127.0.0.2, into the same log.
moat_serve "json pp" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--access-log "$LOG" --access-log-format json --proxy-protocol https \
	--proxy-protocol-from 127.0.0.2/32 || { finish; exit; }
PPP=$SRV_PORT PP_PID=$SRV_PID

# 1: a plain GET with a hostile User-Agent, SNI localhost, a client cert.
ua=$(printf 'ev"il\\ua\tb\xff\xc3\xa9')
curl -sk --max-time "$T_CLIENT" -o /dev/null --resolve "localhost:$P:127.0.0.1" \
	--cert "$C/alice.pem" --key "$C/alice.key" -A "$ua" -e "https://ref.example/" \
	"https://localhost:$P/index.html?q=1"
# 2: a 404 with HEAD, no SNI.
curl -sk --max-time "$T_CLIENT" -o /dev/null -I "https://127.0.0.1:$P/missing"
# 3 and 4: a session saved, then resumed, with s_client.
req="GET /sub/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
printf "$req" | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$P" -servername localhost \
	-sess_out "$T_TMP/sess" -ign_eof >"$T_TMP/s1.out" 2>&1
printf "$req" | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$P" -servername localhost \
	-sess_in "$T_TMP/sess" -ign_eof >"$T_TMP/s2.out" 2>&1
check "json: s_client resumed its session" grep -q '^Reused, TLSv1.3' "$T_TMP/s2.out"
# 5: a malformed request.
printf 'BROKEN\r\n\r\n' | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$P" -quiet \
	-ign_eof >/dev/null 2>&1
# 6: from 127.0.0.2 with a PROXY v2 header naming 192.0.2.7, an
# authority and a unique ID, then TLS.
for i in $(seq 1 50); do [ "$(wc -l <"$LOG")" -ge 5 ] && break; sleep 0.1; done
timeout "$T_CLIENT" python3 - "$PPP" <<'PY' >"$T_TMP/pp.out" 2>&1
import socket, ssl, struct, sys
port = int(sys.argv[1])
tlv = lambda t, v: struct.pack("!BH", t, len(v)) + v
addrs = socket.inet_aton("192.0.2.7") + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 40000, port)
body = addrs + tlv(0x02, b"front.example") + tlv(0x05, bytes.fromhex("c0ffee01"))
hdr = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.connect(("127.0.0.1", port))
s.sendall(hdr)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s, server_hostname="front.example")
t.sendall(b"GET / HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n\r\n")
print(t.recv(100).split(b"\r\n")[0].decode())
PY
check "json: a client behind a PROXY v2 header is answered" grep -q "HTTP/1.1 200" "$T_TMP/pp.out"
for i in $(seq 1 50); do [ "$(wc -l <"$LOG")" -ge 6 ] && break; sleep 0.1; done

# Each expectation: line number, then a python expression on the object o.
cat >"$T_TMP/expect.py" <<'PY'
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
ua = sys.argv[2].encode("utf-8", "surrogateescape")
print(f"# {len(lines)} lines")
objs = []
for i, l in enumerate(lines):
    try:
        objs.append(json.loads(l))
        print(f"ok - json: line {i+1} parses as one JSON object")
    except Exception as e:
        objs.append({})
        print(f"not ok - json: line {i+1} parses as one JSON object # {e}: {l[:200]!r}")
def t(o):
    return o.get("request", {}).get("tls", {})
def r(o):
    return o.get("request", {})
# The user agent's bytes, decoded as moat writes them: UTF-8 kept, any
# other byte at or over 0x7f as the code point U+00XX.
want_ua = 'ev"il\\ua\tb\xff\u00e9'
checks = [
    (0, "GET /index.html?q=1, 200, its size", lambda o: r(o)["method"] == "GET" and r(o)["uri"] == "/index.html?q=1" and o["status"] == 200 and o["size"] == len(open(sys.argv[3], "rb").read())),
    (0, "host, proto and remote_ip", lambda o: r(o)["host"] == f"localhost:{sys.argv[4]}" and r(o)["proto"] == "HTTP/2.0" and r(o)["remote_ip"] == "127.0.0.1"),
    (0, "the hostile user agent, escaped and read back whole", lambda o: r(o)["user_agent"] == want_ua),
    (0, "the referer", lambda o: r(o)["referer"] == "https://ref.example/"),
    (0, "TLSv1.3, its suite and group", lambda o: t(o)["version"] == "TLSv1.3" and t(o)["cipher_suite"].startswith("TLS_") and t(o)["group"] == "x25519"),
    (0, "SNI localhost, not resumed", lambda o: t(o)["server_name"] == "localhost" and t(o)["resumed"] is False),
    (0, "the client certificate's subject", lambda o: "CN=alice" in t(o)["client_subject"]),
    (0, "a duration and a ts", lambda o: isinstance(o["duration"], float) and o["duration"] >= 0 and o["ts"] > 1.7e9),
    (1, "HEAD /missing is 404, no SNI, no client certificate", lambda o: r(o)["method"] == "HEAD" and o["status"] == 404 and t(o)["server_name"] is None and t(o)["client_subject"] is None),
    (2, "s_client's first connection: not resumed", lambda o: r(o)["uri"] == "/sub/" and t(o)["resumed"] is False),
    (3, "s_client's second: resumed", lambda o: r(o)["uri"] == "/sub/" and t(o)["resumed"] is True),
    (4, "a malformed request: 400 with null method and uri", lambda o: o["status"] == 400 and r(o)["method"] is None and r(o)["uri"] is None),
    (5, "the PROXY header's client address", lambda o: r(o)["remote_ip"] == "192.0.2.7"),
    (5, "the PROXY header's authority and unique ID", lambda o: r(o)["proxy_protocol"] == {"authority": "front.example", "unique_id": "c0ffee01"}),
    (5, "the SNI the client sent", lambda o: t(o)["server_name"] == "front.example"),
    (0, "no proxy_protocol member without a header", lambda o: "proxy_protocol" not in r(o)),
]
for i, name, f in checks:
    try:
        good = i < len(objs) and f(objs[i])
    except Exception as e:
        good = False
    print(("ok" if good else "not ok") + f" - json: line {i+1}: {name}" + ("" if good else f" # {objs[i] if i < len(objs) else None}"))
PY
python3 "$T_TMP/expect.py" "$LOG" "$ua" "$T_TMP/site/index.html" "$P" >"$T_TMP/expect.out" 2>&1
cat "$T_TMP/expect.out"
T_PASS=$((T_PASS + $(grep -c '^ok' "$T_TMP/expect.out")))
T_FAIL=$((T_FAIL + $(grep -c '^not ok' "$T_TMP/expect.out")))
check "json: six lines, six requests" test "$(wc -l <"$LOG")" -eq 6
bg_stop "$J_PID"
bg_stop "$PP_PID"

moat_serve "combined default" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--access-log "$T_TMP/combined.log" && {
	curl -sk --max-time "$T_CLIENT" -o /dev/null "https://127.0.0.1:$SRV_PORT/"
	for i in $(seq 1 30); do [ -s "$T_TMP/combined.log" ] && break; sleep 0.1; done
	check "json: combined stays the default" \
		grep -Eq '^127\.0\.0\.1 - - \[[^]]+\] "GET / HTTP/2\.0" 200 [0-9]+ "-" "curl/[^"]+" TLSv1\.3 TLS_[A-Z0-9_]+ x25519$' "$T_TMP/combined.log"
	bg_stop "$SRV_PID"
}
printf 'access-log-format json\n' >"$T_TMP/j.conf"
moat_serve "json config" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--access-log "$T_TMP/conf.log" --config "$T_TMP/j.conf" && {
	curl -sk --max-time "$T_CLIENT" -o /dev/null "https://127.0.0.1:$SRV_PORT/"
	for i in $(seq 1 30); do [ -s "$T_TMP/conf.log" ] && break; sleep 0.1; done
	check "json: access-log-format json in a config file" \
		python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); sys.exit(o["status"]!=200)' "$T_TMP/conf.log"
	bg_stop "$SRV_PID"
}
"$MOAT" serve "$T_TMP/site" --access-log-format apache >"$T_TMP/bad.out" 2>&1
check "json: --access-log-format apache exits 2" test $? -eq 2
check "json: and names the values it takes" grep -q "access-log-format takes combined or json, not 'apache'" "$T_TMP/bad.out"

# ---- systemd's notification protocol ----
# listen.py SOCKET PORT OUT: prints each datagram (newlines as |), and on
# READY=1 whether PORT accepts a connection at that moment.
cat >"$T_TMP/listen.py" <<'PY'
import socket, sys
path, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
s.settimeout(60)
with open(out, "w", buffering=1) as f:
    f.write("bound\n")
    while True:
        try:
            d = s.recv(4096).decode()
        except socket.timeout:
            break
        f.write(d.replace("\n", "|") + "\n")
        if d.startswith("READY=1"):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                f.write("listening\n")
            except OSError:
                f.write("not listening\n")
        if d.startswith("STOPPING=1"):
            break
PY
notify_run() { # NAME SOCKET
	local name=$1 sock=$2 port out=$T_TMP/notify-$1.out
	port=$(free_port)
	bg_start "$T_TMP/listen-$name" python3 "$T_TMP/listen.py" "$sock" "$port" "$out"
	local lp=$BG_PID
	wait_file_line "$out" '^bound$' || notok "notify $name: the listener binds"
	NOTIFY_SOCKET=$sock bg_start "$T_TMP/notify-srv-$name" "$MOAT" serve "$T_TMP/site" \
		--cert "$C/p256.pem" --key "$C/p256.key" --workers 2 --listen "127.0.0.1:$port"
	local sp=$BG_PID
	check "notify $name: READY=1 once moat listens" wait_file_line "$out" '^listening$'
	kill -HUP "$sp"
	check "notify $name: RELOADING=1 with MONOTONIC_USEC on SIGHUP" \
		wait_file_line "$out" '^RELOADING=1|MONOTONIC_USEC=[0-9]\+$'
	wait_file_line "$T_TMP/notify-srv-$name.err" 'reloaded (generation 1)'
	check "notify $name: READY=1 again after the reload" \
		bash -c "[ \"\$(grep -c '^READY=1$' '$out')\" -eq 2 ]"
	kill -TERM "$sp"
	check "notify $name: STOPPING=1 on SIGTERM" wait_file_line "$out" '^STOPPING=1$'
	check "notify $name: in that order" \
		bash -c "[ \"\$(grep -v listening '$out' | cut -c1-11 | tr '\n' ' ')\" = 'bound READY=1 RELOADING=1 READY=1 STOPPING=1 ' ]"
	bg_stop "$sp"
	bg_stop "$lp"
}
notify_run path "$T_TMP/notify.sock"
notify_run abstract "@moat-test-$$-$RANDOM"
# Without NOTIFY_SOCKET nothing is sent and nothing fails (every other
# test runs that way); a NOTIFY_SOCKET nobody listens on is no error.
NOTIFY_SOCKET=$T_TMP/nobody.sock moat_serve "notify nobody" "$T_TMP/site" --cert "$C/p256.pem" \
	--key "$C/p256.key" --workers 1 && {
	check "notify: a NOTIFY_SOCKET nobody reads does not stop moat serving" \
		curl -sk --max-time "$T_CLIENT" -o /dev/null "https://127.0.0.1:$SRV_PORT/"
	bg_stop "$SRV_PID"
}

# The example unit: systemd-analyze verify, with ExecStart pointed at this
# build and moat(1) on MANPATH (its Documentation= is checked).
mkdir -p "$T_TMP/man/man1"
cp "$MOAT_ROOT/docs/moat.1" "$T_TMP/man/man1/"
unit=$T_TMP/moat.service
sed "s|/usr/local/bin/moat|$MOAT|" "$MOAT_ROOT/examples/moat.service" >"$unit"
if MANPATH=$T_TMP/man systemd-analyze verify "$unit" >"$T_TMP/verify.log" 2>&1; then
	ok "notify: systemd-analyze verify passes examples/moat.service"
else
	notok "notify: systemd-analyze verify passes examples/moat.service"
	diag "$T_TMP/verify.log"
fi
for opt in Type=notify NoNewPrivileges=yes ProtectSystem=strict \
	CapabilityBoundingSet=CAP_NET_BIND_SERVICE AmbientCapabilities=CAP_NET_BIND_SERVICE \
	PrivateTmp=yes ProtectHome=yes; do
	check "notify: the unit sets $opt" grep -qx "$opt" "$unit"
done
sed "s|^ExecStart=$MOAT |ExecStart=$T_TMP/no-such-moat |" "$unit" >"$T_TMP/bad.service"
check "notify: systemd-analyze verify refuses a unit whose ExecStart is missing" \
	bash -c "! MANPATH=$T_TMP/man systemd-analyze verify '$T_TMP/bad.service' >/dev/null 2>&1"
finish
