#!/usr/bin/env bash
# moat's PROXY protocol parser on the headers HAProxy itself sends: haproxy
# in TCP mode with send-proxy (v1), send-proxy-v2 (IPv4 and IPv6, with
# CRC32C and a unique ID, and send-proxy-v2-ssl-cn with the authority and
# a client certificate after terminating TLS), and its health checks (v1,
# and v2 LOCAL), towards a
# python listener that keeps each connection's first bytes; build/tests/
# tools/ppdump parses them whole and byte by byte and must find the
# client's address and leave the client's bytes after the header alone.
. "$(dirname "$0")/../lib.sh"
need haproxy python3 openssl || { finish; exit; }
need_moat
dump=$(dirname "$MOAT")/tests/tools/ppdump
[ -x "$dump" ] || { notok "ppdump built" "$dump missing: run make"; finish; exit; }
cap=$T_TMP/cap
mkdir -p "$cap"

# The listener: each connection's bytes until it is quiet for 1.5 s or
# closed, into cap/PORT-N.bin (N counts per port).
cat >"$T_TMP/listen.py" <<'PY'
import socket, sys, threading, time, os
out = sys.argv[1]
count = {}
lock = threading.Lock()
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=keep, args=(c, port), daemon=True).start()
def keep(c, port):
    data = b""
    c.settimeout(1.5)
    try:
        while len(data) < 65536:
            b = c.recv(4096)
            if not b: break
            data += b
    except OSError:
        pass
    c.close()
    with lock:
        n = count.get(port, 0); count[port] = n + 1
        with open(os.path.join(out, "%d-%d.bin" % (port, n)), "wb") as f: f.write(data)
for p in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
open(os.path.join(out, "ready"), "w").close()
while True: time.sleep(60)
PY

# The client: connects (TLS when asked, with an SNI), sends PAYLOAD, holds
# the connection a moment; prints its own port.
cat >"$T_TMP/client.py" <<'PY'
import socket, ssl, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
payload = bytes.fromhex(sys.argv[4])
s = socket.create_connection((host, port), timeout=5)
print(s.getsockname()[1], flush=True)
if mode == "tls":
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    if len(sys.argv) > 7:
        ctx.load_cert_chain(sys.argv[6], sys.argv[7])
    s = ctx.wrap_socket(s, server_hostname=sys.argv[5])
s.sendall(payload)
time.sleep(0.5)
s.close()
PY

# A certificate for the TLS frontend (HAProxy wants key and chain in one file).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_TMP/hap.key" \
	-out "$T_TMP/hap.crt" -days 2 -subj /CN=proxied.example.test >/dev/null 2>&1
cat "$T_TMP/hap.crt" "$T_TMP/hap.key" >"$T_TMP/hap.pem"
# A client certificate (CN alice) from a CA HAProxy asks for: its CN
# travels in the SSL TLV's PP2_SUBTYPE_SSL_CN, which moat skips.
{
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_TMP/ca.key" \
		-out "$T_TMP/ca.pem" -days 2 -subj "/CN=proxy test CA" -addext basicConstraints=critical,CA:TRUE
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_TMP/alice.key" \
		-out "$T_TMP/alice.csr" -subj /CN=alice
	printf 'extendedKeyUsage=clientAuth\n' >"$T_TMP/alice.ext"
	openssl x509 -req -in "$T_TMP/alice.csr" -CA "$T_TMP/ca.pem" -CAkey "$T_TMP/ca.key" \
		-CAcreateserial -days 2 -extfile "$T_TMP/alice.ext" -out "$T_TMP/alice.pem"
} >"$T_TMP/certs.log" 2>&1

ipv6=0
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null && ipv6=1

for v in F1 F2 F3 F4 F6 F7 L1 L2 L3 L4 L6 L7 H1 H2; do
	p=$(free_port)
	while grep -qw "$p" <<<"${used_ports:-}"; do p=$(free_port); done
	used_ports="${used_ports:-} $p"
	printf -v "$v" '%s' "$p"
done

bg_start "$T_TMP/listen" python3 "$T_TMP/listen.py" "$cap" "$L1" "$L2" "$L3" "$L4" "$L6" "$L7" "$H1" "$H2"
for _ in $(seq 1 50); do [ -e "$cap/ready" ] && break; sleep 0.1; done
[ -e "$cap/ready" ] || { notok "listener starts"; diag "$T_TMP/listen.err"; finish; exit; }

v6front=""
if [ "$ipv6" = 1 ]; then
	v6front="
frontend f6
    bind [::1]:$F6
    default_backend b6
backend b6
    server s 127.0.0.1:$L6 send-proxy-v2
frontend f7
    bind [::1]:$F7
    default_backend b7
backend b7
    server s 127.0.0.1:$L7 send-proxy"
fi
cat >"$T_TMP/haproxy.cfg" <<CFG
global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f1
    bind 127.0.0.1:$F1
    default_backend b1
backend b1
    server s 127.0.0.1:$L1 send-proxy
frontend f2
    bind 127.0.0.1:$F2
    default_backend b2
backend b2
    server s 127.0.0.1:$L2 send-proxy-v2
frontend f3
    bind 127.0.0.1:$F3
    unique-id-format %ci:%cp
    default_backend b3
backend b3
    server s 127.0.0.1:$L3 send-proxy-v2 proxy-v2-options crc32c,unique-id
frontend f4
    bind 127.0.0.1:$F4 ssl crt $T_TMP/hap.pem ca-file $T_TMP/ca.pem verify optional
    default_backend b4
backend b4
    server s 127.0.0.1:$L4 send-proxy-v2-ssl-cn proxy-v2-options authority,crc32c
backend hc1
    server s 127.0.0.1:$H1 send-proxy check inter 400
backend hc2
    server s 127.0.0.1:$H2 send-proxy-v2 check inter 400
$v6front
CFG
haproxy_start "$F1"

# A ClientHello's first bytes and a word: what must come out after the header.
pay=160301000568656c6c6f
client() { timeout "$T_CLIENT" python3 "$T_TMP/client.py" "$@" 2>>"$T_TMP/client.err"; }
c1=$(client 127.0.0.1 "$F1" raw $pay)
c2=$(client 127.0.0.1 "$F2" raw $pay)
c3=$(client 127.0.0.1 "$F3" raw $pay)
c4=$(client 127.0.0.1 "$F4" tls 48454c4c4f proxied.example.test)
c5=$(client 127.0.0.1 "$F4" tls 48454c4c4f proxied.example.test "$T_TMP/alice.pem" "$T_TMP/alice.key")
if [ "$ipv6" = 1 ]; then
	c6=$(client ::1 "$F6" raw $pay)
	c7=$(client ::1 "$F7" raw $pay)
fi
sleep 2.5 # the listener writes a capture 1.5 s after the last byte; health checks every 0.4 s

# parsed NAME FILE EXPECT...: ppdump on the capture, each EXPECT a word of its line.
parsed() {
	local name=$1 f=$2 line w bad=""
	shift 2
	if [ ! -s "$f" ]; then
		notok "$name" "no capture $f"
		return
	fi
	line=$("$dump" "$f")
	for w in "$@"; do
		grep -qF -- " $w" <<<" $line " || bad="$bad $w"
	done
	if [ -z "$bad" ] && [[ $line == ok* ]]; then ok "$name"; else notok "$name" "missing:$bad"; fi
	echo "#   $(basename "$f"): $line"
	echo "#   bytes: $(head -c 120 "$f" | od -An -v -tx1 | tr -d ' \n' | cut -c1-200)"
}
# of_client LPORT SRC: the capture at listener LPORT of the client at SRC
# (two clients of one frontend may finish in either order).
of_client() {
	local f
	for f in "$cap/$1"-*.bin; do
		"$dump" "$f" 2>/dev/null | grep -qF " src=$2 " && { echo "$f"; return; }
	done
	echo "$cap/$1-none.bin"
}
parsed "haproxy send-proxy: v1 TCP4, the client's address, its bytes after" "$cap/$L1-0.bin" \
	v=1 family=TCP4 "src=127.0.0.1:$c1 " "dst=127.0.0.1:$F1 " "rest=$pay "
parsed "haproxy send-proxy-v2: PROXY TCP4, the client's address, its bytes after" "$cap/$L2-0.bin" \
	v=2 cmd=PROXY family=TCP4 "src=127.0.0.1:$c2 " "dst=127.0.0.1:$F2 " crc=no "rest=$pay "
uid=$(printf '127.0.0.1:%s' "$c3" | od -An -v -tx1 | tr -d ' \n')
parsed "haproxy send-proxy-v2 crc32c,unique-id: CRC checked, the unique ID kept" "$cap/$L3-0.bin" \
	v=2 cmd=PROXY "src=127.0.0.1:$c3 " crc=yes "unique_id=$uid " "rest=$pay "
parsed "haproxy send-proxy-v2-ssl-cn authority,crc32c after TLS: the SNI as authority, SSL TLVs skipped" \
	"$(of_client "$L4" "127.0.0.1:$c4")" v=2 cmd=PROXY "src=127.0.0.1:$c4 " authority=proxied.example.test crc=yes \
	"rest=48454c4c4f "
parsed "haproxy send-proxy-v2-ssl-cn with a client certificate: the SSL TLV with its CN skipped" \
	"$(of_client "$L4" "127.0.0.1:$c5")" v=2 cmd=PROXY "src=127.0.0.1:$c5 " authority=proxied.example.test crc=yes \
	"rest=48454c4c4f "
# 0x22 (PP2_SUBTYPE_SSL_CN), length 5, "alice": it was there to skip.
check "haproxy send-proxy-v2-ssl-cn: the capture carries CN alice" \
	grep -q 220005616c696365 <(od -An -v -tx1 "$(of_client "$L4" "127.0.0.1:$c5")" | tr -d ' \n')
if [ "$ipv6" = 1 ]; then
	parsed "haproxy send-proxy-v2 over IPv6: PROXY TCP6" "$cap/$L6-0.bin" v=2 family=TCP6 \
		"src=[::1]:$c6 " "dst=[::1]:$F6 " "rest=$pay "
	parsed "haproxy send-proxy over IPv6: v1 TCP6" "$cap/$L7-0.bin" v=1 family=TCP6 \
		"src=[::1]:$c7 " "dst=[::1]:$F7 " "rest=$pay "
else
	notok "haproxy over IPv6" "no ::1 on this machine"
fi
parsed "haproxy health check with send-proxy: a v1 header, nothing after" "$cap/$H1-0.bin" v=1 rest=-
parsed "haproxy health check with send-proxy-v2: LOCAL, no address" "$cap/$H2-0.bin" v=2 cmd=LOCAL \
	family=none rest=-

# The same real headers, damaged: one bit of the CRC-covered header, and cut short.
if [ -s "$cap/$L3-0.bin" ]; then
	python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[17]^=1; open(sys.argv[2],"wb").write(b)' \
		"$cap/$L3-0.bin" "$T_TMP/crcbad.bin"
	check "haproxy v2 header with one address bit flipped: CRC32C mismatch" \
		grep -q "CRC32C mismatch" <("$dump" "$T_TMP/crcbad.bin")
	hl=$(sed -n 's/.* used=\([0-9]*\) .*/\1/p' <<<"$("$dump" "$cap/$L3-0.bin")")
	head -c $((hl - 1)) "$cap/$L3-0.bin" >"$T_TMP/cut.bin"
	check "haproxy v2 header one byte short: incomplete" grep -q "^incomplete" <("$dump" "$T_TMP/cut.bin")
fi
check "haproxy still running" alive "$HAP_PID"
finish
