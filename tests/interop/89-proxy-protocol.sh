#!/usr/bin/env bash
# moat serve --proxy-protocol behind Debian's haproxy in TCP mode: two
# servers sharing one --ticket-keys file; the client (127.0.0.2) reaches
# them through haproxy (127.0.0.1) with send-proxy-v2 and send-proxy, and
# both access logs show the client, not haproxy; a session made on A
# resumes on B; haproxy's health checks (v2 LOCAL) find both up. A peer
# not in --proxy-protocol-from, a malformed header and no header at all
# are closed and logged; a v1 TCP6 header and the ClientHello in one
# write; the --redirect-http listener with a header; bad flags;
# --proxy-send-proxy v2 and v1 to tests/apps/ppecho.py, which reports the
# header it got.
. "$(dirname "$0")/../lib.sh"
need haproxy python3 openssl curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
C=$CERTS
head -c 160 /dev/urandom >"$T_TMP/keys"

# Two servers, each only for headers from 127.0.0.1 (haproxy, and this
# script's own raw clients).
serve_pp() { # NAME LOG ARGS...
	local name=$1 log=$2
	shift 2
	moat_serve "$name" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
		--ticket-keys "$T_TMP/keys" --access-log "$log" --proxy-protocol https \
		--proxy-protocol-from 127.0.0.1/32 "$@"
}
serve_pp "pp A" "$T_TMP/a.log" || { finish; exit; }
A=$SRV_PORT A_ERR=$SRV_LOG.err A_PID=$SRV_PID
serve_pp "pp B" "$T_TMP/b.log" || { finish; exit; }
B=$SRV_PORT B_PID=$SRV_PID

ipv6=0
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null && ipv6=1
for v in FL FA FB FV1 F6; do
	p=$(free_port)
	while grep -qw "$p" <<<"${used_ports:-} $A $B"; do p=$(free_port); done
	used_ports="${used_ports:-} $p"
	printf -v "$v" '%s' "$p"
done
cat >"$T_TMP/haproxy.cfg" <<CFG
global
    maxconn 100
    stats socket $T_TMP/hap.sock level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fl
    bind 127.0.0.1:$FL
    unique-id-format %ci:%cp
    default_backend both
backend both
    balance roundrobin
    server a 127.0.0.1:$A send-proxy-v2 proxy-v2-options unique-id check inter 300
    server b 127.0.0.1:$B send-proxy-v2 proxy-v2-options unique-id check inter 300
$(hap_direct a "$FA" "$A")
$(hap_direct b "$FB" "$B")
frontend fv1
    bind 127.0.0.1:$FV1
    default_backend v1b
backend v1b
    server b 127.0.0.1:$B send-proxy
$([ "$ipv6" = 1 ] && printf 'frontend f6\n    bind [::1]:%s\n    default_backend onlya\n' "$F6")
CFG
haproxy_start "$FV1"

# Health checks: both servers UP (v2 LOCAL headers, closed by haproxy after connecting).
up=0
for _ in $(seq 1 50); do
	hap "show stat" >"$T_TMP/stat" 2>&1
	up=$(grep -cE '^both,(a|b),.*,UP,' "$T_TMP/stat")
	[ "$up" = 2 ] && break
	sleep 0.2
done
if [ "$up" = 2 ]; then ok "haproxy health checks with send-proxy-v2 (LOCAL): both servers UP"
else notok "haproxy health checks with send-proxy-v2 (LOCAL): both servers UP" "$up up"; diag "$T_TMP/stat"; fi

out=$T_TMP/out
cl() { timeout "$T_CLIENT" curl -sS --interface 127.0.0.2 --cacert "$C/ca.pem" "$@"; }
for i in 1 2 3 4; do
	cl --resolve "localhost:$FL:127.0.0.1" "https://localhost:$FL/index.html?n=$i" >"$out.$i" 2>&1
done
check "through haproxy send-proxy-v2 (roundrobin): the page, 4 times" \
	bash -c "grep -q '$SITE_TOKEN' '$out.1' && grep -q '$SITE_TOKEN' '$out.2' && grep -q '$SITE_TOKEN' '$out.3' && grep -q '$SITE_TOKEN' '$out.4'"
sleep 0.3
check "access log of A: the client's address 127.0.0.2 from the v2 header" has "$T_TMP/a.log" '^127\.0\.0\.2 .*GET /index.html\?n='
check "access log of B: the client's address 127.0.0.2 from the v2 header" has "$T_TMP/b.log" '^127\.0\.0\.2 .*GET /index.html\?n='
if has "$T_TMP/a.log" '^127\.0\.0\.1 ' || has "$T_TMP/b.log" '^127\.0\.0\.1 '; then
	notok "access logs: haproxy's address 127.0.0.1 nowhere"; diag "$T_TMP/a.log" "$T_TMP/b.log"
else ok "access logs: haproxy's address 127.0.0.1 nowhere"; fi
check "access log: the v2 unique ID (hex of client:port) appended as pp=" \
	has "$T_TMP/a.log" ' pp="-","3132372e302e302e323a[0-9a-f]+"$'

cl --resolve "localhost:$FV1:127.0.0.1" "https://localhost:$FV1/sub/hello.txt" >"$out" 2>&1
check "through haproxy send-proxy (v1): the page" has "$out" "$SITE_TOKEN"
check "access log of B: v1's client address" has "$T_TMP/b.log" '^127\.0\.0\.2 .*GET /sub/hello.txt'

# An IPv6 client through haproxy: a v2 TCP6 header.
if [ "$ipv6" = 1 ]; then
	http_req /sub/hello.txt | timeout "$T_CLIENT" openssl s_client -connect "[::1]:$F6" -servername localhost \
		-CAfile "$C/ca.pem" -ign_eof >"$out" 2>&1
	check "through haproxy from ::1 (send-proxy-v2 TCP6): the page" has "$out" "$SITE_TOKEN"
	check "access log of A: the IPv6 client ::1" has "$T_TMP/a.log" '^::1 .*GET /sub/hello.txt'
else
	notok "haproxy over IPv6" "no ::1 on this machine"
fi

# A session made through haproxy on A resumes on B (one ticket key file).
sc() { # OUT PORT ARGS...
	local o=$1 p=$2
	shift 2
	http_req / | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$p" -servername localhost \
		-CAfile "$C/ca.pem" -ign_eof "$@" >"$o" 2>&1
}
sc "$T_TMP/sa" "$FA" -sess_out "$T_TMP/sess"
if has "$T_TMP/sa" '^New, TLSv1.3' && has "$T_TMP/sa" "$SITE_TOKEN" && [ -s "$T_TMP/sess" ]; then
	ok "resume: a full handshake on A through haproxy, a ticket"
else notok "resume: a full handshake on A through haproxy, a ticket"; diag "$T_TMP/sa"; fi
sc "$T_TMP/sb" "$FB" -sess_in "$T_TMP/sess"
if has "$T_TMP/sb" '^Reused, TLSv1.3' && has "$T_TMP/sb" "$SITE_TOKEN"; then
	ok "resume: A's session resumes on B through haproxy"
else notok "resume: A's session resumes on B through haproxy"; diag "$T_TMP/sb"; fi

# raw PORT HEXHEADER [tls]: sends a header (hex), then a TLS GET / in the
# same socket (the ClientHello may share a segment with it) or nothing;
# prints the response, or "closed".
cat >"$T_TMP/raw.py" <<'PY'
import socket, ssl, sys
port, hdr, mode = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if mode == "tls":
    ctx = ssl.create_default_context(cafile=sys.argv[4])
    if len(sys.argv) > 6:
        ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inb, outb, server_hostname="localhost")
    try: o.do_handshake()
    except ssl.SSLWantReadError: pass
    s.sendall(hdr + outb.read())  # header and ClientHello in one write
    while True:
        try:
            o.do_handshake(); break
        except ssl.SSLWantReadError:
            if outb.pending: s.sendall(outb.read())
            d = s.recv(65536)
            if not d: print("closed"); sys.exit(0)
            inb.write(d)
    o.write(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    s.sendall(outb.read())
    data = b""
    while True:
        try:
            b = o.read(65536)
            if not b: break
            data += b
        except ssl.SSLWantReadError:
            if outb.pending: s.sendall(outb.read())
            d = s.recv(65536)
            if not d: break
            inb.write(d)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
    print(data.decode(errors="replace"))
else:
    s.sendall(hdr)
    try:
        d = s.recv(65536)
        print(d.decode(errors="replace") if d else "closed")
    except ConnectionResetError:
        print("closed")
PY
raw() { timeout "$T_CLIENT" python3 "$T_TMP/raw.py" "$@" 2>&1; }
hx() { printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'; }

raw "$A" "$(hx 'PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n')" tls "$C/ca.pem" >"$out"
check "v1 TCP6 header and ClientHello in one write: the page" has "$out" "$SITE_TOKEN"
check "v1 TCP6: the access log has 2001:db8::7" has "$T_TMP/a.log" '^2001:db8::7 '
raw "$A" "$(hx 'PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n')" plain >"$out"
check "a malformed header: closed" has "$out" '^closed$'
check "a malformed header: logged" wait_file_line "$A_ERR" 'bad PROXY header' 3
n0=$(grep -c 'bad PROXY header' "$A_ERR")
timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --resolve "localhost:$A:127.0.0.1" "https://localhost:$A/" >"$out" 2>&1
check "no header (a plain ClientHello): curl fails" bash -c "! grep -q '$SITE_TOKEN' '$out'"
sleep 0.3
n1=$(grep -c 'bad PROXY header' "$A_ERR")
if [ "$n1" -gt "$n0" ]; then ok "no header: closed and logged"; else notok "no header: closed and logged"; diag "$A_ERR"; fi

# A server that takes headers only from 10.0.0.0/8: 127.0.0.1 may not send one.
if moat_serve "pp C" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--proxy-protocol https,redirect --proxy-protocol-from 10.0.0.0/8 --redirect-http "127.0.0.1:$(free_port)"; then
	raw "$SRV_PORT" "$(hx 'PROXY TCP4 192.0.2.1 192.0.2.2 1000 443\r\n')" plain >"$out"
	check "a peer not in --proxy-protocol-from: closed" has "$out" '^closed$'
	check "a peer not in --proxy-protocol-from: logged" wait_file_line "$SRV_LOG.err" 'not in --proxy-protocol-from' 3
	bg_stop "$SRV_PID"
fi

# The --redirect-http listener with a header (and the request in the same write).
RP=$(free_port)
if serve_pp "pp R" "$T_TMP/r.log" --proxy-protocol https,redirect --redirect-http "127.0.0.1:$RP"; then
	wait_listen "$RP"
	raw "$RP" "$(hx 'PROXY TCP4 192.0.2.44 192.0.2.2 1000 80\r\nGET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')" plain >"$out"
	check "--redirect-http with a header: 308" has "$out" '^HTTP/1.1 308'
	sleep 0.2
	check "--redirect-http with a header: logged as 192.0.2.44" has "$T_TMP/r.log" '^192\.0\.2\.44 .*308'
	bg_stop "$SRV_PID"
fi

# --client-ca: the identity's access log line has the header's address.
gen_client_cert
if serve_pp "pp M" "$T_TMP/m.log" --client-ca "$C/ca.pem" --client-auth require; then
	raw "$SRV_PORT" "$(hx 'PROXY TCP4 192.0.2.50 192.0.2.1 4444 443\r\n')" tls "$C/ca.pem" \
		"$C/alice.pem" "$C/alice.key" >"$out"
	check "--client-ca behind a header: the page" has "$out" "$SITE_TOKEN"
	check "--client-ca behind a header: the identity logged with the header's address" \
		has "$T_TMP/m.log" '^192\.0\.2\.50 .*"CN=alice,O=moat tests" TLSv1\.[23] [A-Z0-9_]+ (x25519|X25519MLKEM768|secp256r1|secp384r1|-)$'
	bg_stop "$SRV_PID"
fi

# The config file's form, and a header not whole within --handshake-timeout.
printf 'proxy-protocol https\nproxy-protocol-from 127.0.0.0/8\nhandshake-timeout 1\n' >"$T_TMP/pp.conf"
if moat_serve "pp T" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--access-log "$T_TMP/t.log" --config "$T_TMP/pp.conf"; then
	raw "$SRV_PORT" "$(hx 'PROXY TCP4 192.0.2.9 192.0.2.1 1 443\r\n')" tls "$C/ca.pem" >"$out"
	check "config file: proxy-protocol, proxy-protocol-from: the page" has "$out" "$SITE_TOKEN"
	check "config file: the header's address logged" has "$T_TMP/t.log" '^192\.0\.2\.9 '
	raw "$SRV_PORT" "$(hx 'PROXY TCP4 192.0.2.')" plain >"$out"
	check "half a header, then silence: closed after --handshake-timeout 1" has "$out" '^closed$'
	check "half a header, then silence: logged" wait_file_line "$SRV_LOG.err" 'no PROXY header within --handshake-timeout' 3
	bg_stop "$SRV_PID"
fi

# --proxy-send-proxy: the application gets a PROXY header with the client's
# address (the one moat got in its own header), once per backend connection.
PE=$(free_port)
bg_start "$T_TMP/ppecho" python3 "$MOAT_ROOT/tests/apps/ppecho.py" "$PE"
wait_listen "$PE" || notok "ppecho listens" "port $PE"
if serve_pp "pp S" "$T_TMP/s.log" --proxy-only --proxy "http://127.0.0.1:$PE" --proxy-send-proxy v2; then
	SP=$SRV_PORT
	raw "$SP" "$(hx 'PROXY TCP4 192.0.2.7 192.0.2.1 5555 443\r\n')" tls "$C/ca.pem" >"$out"
	check "--proxy-send-proxy v2: the application gets the client's address from moat's header" \
		has "$out" '^pp=v2 cmd=PROXY src=192\.0\.2\.7:5555 dst=192\.0\.2\.1:443 n=1 xff=192\.0\.2\.7$'
	bg_stop "$SRV_PID"
fi
if moat_serve "pp V1" "$T_TMP/site" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 \
	--proxy-only --proxy "http://127.0.0.1:$PE" --proxy-send-proxy v1; then
	u="https://localhost:$SRV_PORT/"
	cl --resolve "localhost:$SRV_PORT:127.0.0.1" "$u" "$u" >"$out" 2>&1
	check "--proxy-send-proxy v1 (no header in): the socket's addresses, the client 127.0.0.2" \
		has "$out" "^pp=v1 src=127\.0\.0\.2:[0-9]+ dst=127\.0\.0\.1:$SRV_PORT n=1 xff=127\.0\.0\.2$"
	check "--proxy-send-proxy v1: one header per backend connection (the pooled one's next request)" \
		has "$out" "^pp=v1 src=127\.0\.0\.2:[0-9]+ dst=127\.0\.0\.1:$SRV_PORT n=2 "
	bg_stop "$SRV_PID"
fi

# Bad flags: exit 2, naming the problem.
bad() { # NAME PATTERN ARGS...
	local name=$1 pat=$2 rc
	shift 2
	timeout 5 "$MOAT" serve "$T_TMP/site" "$@" >"$out" 2>&1
	rc=$?
	if [ $rc = 2 ] && has "$out" "$pat"; then ok "$name"; else notok "$name" "exit $rc"; diag "$out"; fi
}
bad "flags: --proxy-protocol without --proxy-protocol-from: exit 2" 'needs --proxy-protocol-from' --proxy-protocol https
bad "flags: --proxy-protocol bogus: exit 2" "proxy-protocol takes https" --proxy-protocol tls --proxy-protocol-from 127.0.0.1
bad "flags: --proxy-protocol-from 10.0.0.1/8: exit 2" "proxy-protocol-from wants" --proxy-protocol https --proxy-protocol-from 10.0.0.1/8
bad "flags: --proxy-protocol redirect without --redirect-http: exit 2" 'needs --redirect-http' --proxy-protocol redirect --proxy-protocol-from 127.0.0.1
bad "flags: --proxy-send-proxy v3: exit 2" "proxy-send-proxy takes v1, v2 or off" --proxy http://127.0.0.1:1 --proxy-send-proxy v3

check "haproxy still running" alive "$HAP_PID"
check "servers A and B still running" alive "$A_PID" && alive "$B_PID"
finish
