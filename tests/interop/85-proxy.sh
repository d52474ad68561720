#!/usr/bin/env bash
# moat serve --proxy in front of applications: python3 -m http.server, nginx
# (plain HTTP) and a small Node app (tests/apps/echo.js) as backends. Routing,
# forwarded and hop-by-hop headers, client-certificate identity, bodies both
# ways (50 MB up and 1 GB down with RSS sampled), WebSocket, wrk, 502, 504.
. "$(dirname "$0")/../lib.sh"
need openssl curl nginx python3 node wrk || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
APPS=$MOAT_ROOT/tests/apps
D=$T_TMP/px
mkdir -p "$D/py" "$D/ng/logs" "$D/ng/www"
RSS_BOUND_KB=${RSS_BOUND_KB:-32768} # the proxy's VmRSS during the big transfers

# ---- the backends
PY_TOKEN="py-$RANDOM$RANDOM" NG_TOKEN="ng-$RANDOM$RANDOM"
echo "$PY_TOKEN" >"$D/py/hello.txt"
echo "$NG_TOKEN" >"$D/ng/www/hello.txt"
echo sts >"$D/ng/www/sts.txt"
PY=$(free_port)
bg_start "$D/python" python3 -m http.server --bind 127.0.0.1 --directory "$D/py" "$PY"
wait_listen "$PY"
NG=$(free_port)
{
	[ "$(id -u)" -eq 0 ] && echo "user root;"
	cat <<-EOF
		worker_processes 1;
		daemon off;
		pid $D/ng/nginx.pid;
		error_log $D/ng/logs/error.log warn;
		events { worker_connections 1024; }
		http {
		    access_log off;
		    client_body_temp_path $D/ng/tmp-body;
		    proxy_temp_path $D/ng/tmp-proxy;
		    fastcgi_temp_path $D/ng/tmp-fcgi;
		    uwsgi_temp_path $D/ng/tmp-uwsgi;
		    scgi_temp_path $D/ng/tmp-scgi;
		    keepalive_requests 100000;
		    server { listen 127.0.0.1:$NG; root $D/ng/www;
		        location = /sts.txt { add_header Strict-Transport-Security "max-age=5" always; } }
		}
	EOF
} >"$D/ng/nginx.conf"
bg_start "$D/nginx" nginx -e "$D/ng/logs/error.log" -p "$D/ng" -c "$D/ng/nginx.conf"
wait_listen "$NG"
declare -A NPORT NPID
for n in n1 n2 n3 n4; do
	NPORT[$n]=$(free_port)
	bg_start "$D/$n" node "$APPS/echo.js" "${NPORT[$n]}" "$n"
	NPID[$n]=$BG_PID
	# each listens before the next port is picked, so no two pick the same
	wait_listen "${NPORT[$n]}" || { notok "proxy: backends start" "$n not listening"; diag "$D/$n.err"; finish; exit; }
done
for p in "$PY" "$NG"; do
	wait_listen "$p" || { notok "proxy: backends start" "port $p not listening"; diag "$D"/*.err; finish; exit; }
done
ok "proxy: backends start (python3 http.server, nginx, 4 node apps)"

n() { echo "http://127.0.0.1:${NPORT[$1]}"; }
moat_serve "proxy" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--max-body-size 100000000 --proxy-read-timeout 2 --access-log "$D/access.log" \
	--proxy "$(n n1)" --proxy "/py/=http://127.0.0.1:$PY/" --proxy "/ng/=http://127.0.0.1:$NG/" \
	--proxy "/app=$(n n2),$(n n3)" --proxy "/cut/=$(n n3)/" --proxy "/trunc/=$(n n4)/" || { finish; exit; }
P=$SRV_PORT
U=https://localhost:$P
px() { timeout "${PX_TIMEOUT:-$T_CLIENT}" curl -sS --http1.1 --cacert "$CERTS/ca.pem" --resolve "localhost:$P:127.0.0.1" "$@"; }
out=$T_TMP/out

# ---- routing
px "$U/index.html" >"$out" 2>&1
check "proxy: a static file is still served from DIR" has "$out" "$SITE_TOKEN"
px "$U/no/such/file?q=1" >"$out" 2>&1
check "proxy: what no file answers goes to --proxy URL (node)" has "$out" "^n1: GET /no/such/file\?q=1$"
px "$U/py/hello.txt" >"$out" 2>&1
check "proxy: /py/ prefix to python3 http.server, prefix replaced by the URL's path" has "$out" "^$PY_TOKEN$"
px "$U/ng/hello.txt" >"$out" 2>&1
check "proxy: /ng/ prefix to nginx" has "$out" "^$NG_TOKEN$"
px "$U/app/x" "$U/app/x" >"$out" 2>&1
check "proxy: /app round-robin over two backends" sh -c "grep -q '^n2: GET /app/x' '$out' && grep -q '^n3: GET /app/x' '$out'"
px -o /dev/null -w '%{http_code}' "$U/py/../index.html" --path-as-is >"$out" 2>&1
check "proxy: a dot segment in a proxied path is refused (400)" has "$out" "^400$"
px "$U/%61pp/x%2Dy" >"$out" 2>&1
check "proxy: /%61pp/x%2Dy is routed like /app/x-y (unreserved escapes decoded)" has "$out" "^n[23]: GET /app/x-y$"
px -o /dev/null -w '%{http_code}' "$U/py/%2e%2e/index.html" --path-as-is >"$out" 2>&1
check "proxy: an encoded dot segment is refused too (400)" has "$out" "^400$"

# ---- bodies, both framings, both ways
px --data-binary "hello-cl" "$U/echo" >"$out" 2>&1
check "proxy: POST with Content-Length echoed by node" has "$out" "^hello-cl$"
px -H 'Transfer-Encoding: chunked' --data-binary "hello-chunked" "$U/echo" >"$out" 2>&1
check "proxy: chunked POST re-framed and echoed" has "$out" "^hello-chunked$"
px -D "$out.h" "$U/chunked" >"$out" 2>&1
check "proxy: chunked response streamed back chunked" sh -c "grep -q '^end$' '$out' && grep -qi '^transfer-encoding: chunked' '$out.h'"
printf 'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
	timeout 5 openssl s_client -quiet -connect 127.0.0.1:$P -servername localhost >"$out" 2>/dev/null
check "proxy: Content-Length with Transfer-Encoding refused before forwarding (400)" has "$out" "^HTTP/1.1 400"

# ---- headers at the backend
px -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Client-Cert-Subject: CN=admin' -H 'Forwarded: for=6.6.6.6' \
	-H 'X_Client_Cert_Subject: evil' -H 'x-client_cert-SUBJECT: evil2' -H 'X_Forwarded_For: 6.6.6.7' \
	-H 'X_Forwarded_Port: 1' -H 'X_Kept_Too: yes' \
	-H 'X-Forwarded-Host: evil.example' -H 'X-Forwarded-Proto: http' -H 'Proxy-Authorization: Basic eA==' \
	-H 'Connection: X-Secret' -H 'X-Secret: s' -H 'Keep-Alive: 5' -H 'TE: trailers' -H 'X-Kept: yes' \
	-D "$out.h" "$U/headers" >"$out" 2>&1
if python3 - "$out" "$P" >"$out.why" 2>&1 <<-'EOF'; then
	import json, sys
	h = json.load(open(sys.argv[1]))["headers"]; host = "localhost:" + sys.argv[2]
	want = {"host": host, "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "https",
	        "x-forwarded-host": host, "forwarded": 'for=127.0.0.1;proto=https;host="%s"' % host, "x-kept": "yes",
	        "x_kept_too": "yes"}
	bad = [k for k, v in want.items() if h.get(k) != v]
	# '_' and '-' read alike to CGI/WSGI: no look-alike of our headers passes
	bad += [k for k in h if k.replace("_", "-") in ("x-client-cert-subject", "x-forwarded-for", "x-forwarded-port") and "_" in k]
	bad += [k for k, v in h.items() if "evil" in v or "6.6.6" in v]
	bad += [k for k in ("x-client-cert-subject", "proxy-authorization", "x-secret", "keep-alive", "te") if k in h]
	print("wrong or present:", bad, h); sys.exit(1 if bad else 0)
	EOF
	ok "proxy: backend sees X-Forwarded-*, Forwarded, Host; spoofed copies (also X_Client_Cert_Subject), X-Client-Cert-Subject and hop-by-hop fields gone"
else
	notok "proxy: backend sees X-Forwarded-*, Forwarded, Host; spoofed copies (also X_Client_Cert_Subject), X-Client-Cert-Subject and hop-by-hop fields gone"
	diag "$out.why"
fi
check "proxy: hop-by-hop fields of the response removed (Keep-Alive, those Connection lists)" \
	sh -c "! grep -Eqi '^(keep-alive|x-hop):' '$out.h' && grep -qi '^content-length:' '$out.h'"

# ---- WebSocket
timeout 10 node "$APPS/wsclient.js" "$P" "$CERTS/ca.pem" /ws "hello-ws" >"$out" 2>&1
check "proxy: WebSocket upgrade passed through, frames echoed" sh -c "grep -q '^HTTP/1.1 101' '$out' && grep -q '^echo n1: hello-ws$' '$out'"

# ---- big bodies; the proxy's RSS sampled meanwhile
rss_watch() { # sample VmRSS (kB) of moat and its workers into $1 until killed
	while :; do
		for p in $SRV_PID $(pgrep -P "$SRV_PID"); do awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null; done >>"$1"
		sleep 0.1
	done
}
head -c 50000000 /dev/urandom >"$D/up.bin"
want=$(sha256sum <"$D/up.bin" | cut -c1-64)
: >"$D/rss-up"
rss_watch "$D/rss-up" &
W=$!
PX_TIMEOUT=60 px --data-binary "@$D/up.bin" "$U/sha256" >"$out" 2>&1
kill "$W"; wait "$W" 2>/dev/null
rss=$(sort -n "$D/rss-up" | tail -1)
check "proxy: 50 MB POST, sha256 equal at the backend ($(cut -c1-12 "$out")...)" has "$out" "^$want 50000000$"
check "proxy: RSS during the 50 MB POST under $RSS_BOUND_KB kB (max ${rss:-?} kB)" test "${rss:-999999}" -lt "$RSS_BOUND_KB"
echo "# RSS during 50 MB POST: max ${rss} kB"
rm -f "$D/up.bin"

head -c 1073741824 /dev/urandom >"$D/ng/www/big.bin"
want=$(sha256sum <"$D/ng/www/big.bin" | cut -c1-64)
: >"$D/rss-down"
rss_watch "$D/rss-down" &
W=$!
t0=$(date +%s.%N)
got=$(PX_TIMEOUT=120 px "$U/ng/big.bin" | sha256sum | cut -c1-64)
t1=$(date +%s.%N)
kill "$W"; wait "$W" 2>/dev/null
rss=$(sort -n "$D/rss-down" | tail -1)
check "proxy: 1 GB download from nginx, sha256 equal" test "$got" = "$want"
check "proxy: RSS during the 1 GB download under $RSS_BOUND_KB kB (max ${rss:-?} kB)" test "${rss:-999999}" -lt "$RSS_BOUND_KB"
echo "# RSS during 1 GB download: max ${rss} kB; $(awk "BEGIN{printf \"%.0f\", 1024 / ($t1 - $t0)}") MB/s"
rm -f "$D/ng/www/big.bin"

# ---- a backend that never answers: 504 after --proxy-read-timeout 2
t0=$(date +%s)
px -o "$out" -w '%{http_code}' "$U/hang" >"$out.code" 2>&1
t1=$(date +%s)
check "proxy: a backend that never answers gives 504 after the read timeout ($((t1 - t0)) s)" \
	sh -c "grep -q '^504$' '$out.code' && [ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -le 5 ]"
check "proxy: the 504 has a page and an error-log line" sh -c "grep -q 504 '$out' && grep -q 'GET /hang.*(504)' '$SRV_LOG.err'"

# ---- a backend killed mid-request: 502 to that client, others served
PX_TIMEOUT=15 px -o "$D/cut.body" -w '%{http_code}' "$U/cut/wait?ms=5000" >"$D/cut.code" 2>&1 &
CUT=$!
sleep 1
px "$U/app/during" "$U/py/hello.txt" >"$out" 2>&1
kill -9 "${NPID[n3]}"; wait "${NPID[n3]}" 2>/dev/null
wait "$CUT"
check "proxy: others are served while a request waits on a backend" has "$out" "$PY_TOKEN"
check "proxy: backend killed mid-request gives 502 to that client" has "$D/cut.code" "^502$"
check "proxy: the 502 has an error-log line" has "$SRV_LOG.err" "GET /cut/wait.*(502)"
: >"$out"
for i in 1 2 3 4 5 6; do px "$U/app/after$i" >>"$out" 2>&1; done
check "proxy: round-robin leaves the dead backend out, 6 of 6 served by the other" \
	test "$(grep -c '^n2: GET /app/after' "$out")" -eq 6
# Killed after its head: too late for a 502, the response is cut short
# (no terminating close_notify) and the client sees it.
PX_TIMEOUT=15 px -o "$D/trunc.body" "$U/trunc/slow" >"$D/trunc.err" 2>&1 &
TR=$!
sleep 1
kill -9 "${NPID[n4]}"; wait "${NPID[n4]}" 2>/dev/null
wait "$TR"
rc=$?
check "proxy: backend killed mid-body: the client sees a truncated response (curl exit $rc)" \
	sh -c "[ $rc -ne 0 ] && [ \$(stat -c %s '$D/trunc.body') -lt 1000000 ]"

# ---- wrk: 200 connections for 10 s through the proxy to nginx
timeout 30 wrk -t 2 -c 200 -d 10 "https://127.0.0.1:$P/ng/hello.txt" >"$D/wrk" 2>&1
sed 's/^/# wrk: /' "$D/wrk" | grep -E 'Requests/sec|requests in|errors|Non-2xx|Latency'
check "proxy: wrk -c 200 -d 10 through the proxy: requests made, 0 errors, 0 non-2xx" \
	sh -c "grep -q 'requests in' '$D/wrk' && ! grep -Eq 'Socket errors|Non-2xx' '$D/wrk'"
server_alive "proxy"
bg_stop "$SRV_PID"

# ---- limits: --max-body-size on chunked uploads, --hsts, passive health
# checks on timeouts, idle pool sweeping, WebSocket tunnels and idle time.
# rec.py: a backend that records how many bytes each connection brought
# and never answers.
REC=$(free_port)
cat >"$D/rec.py" <<-'EOF'
	import socket, sys, threading
	srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
	def conn(c):
	    n = 0
	    c.settimeout(5)
	    try:
	        while True:
	            d = c.recv(65536)
	            if not d: break
	            n += len(d)
	    except OSError:
	        pass
	    with open(sys.argv[2], "a") as f: f.write("%d\n" % n)
	while True:
	    c, _ = srv.accept()
	    threading.Thread(target=conn, args=(c,), daemon=True).start()
EOF
: >"$D/rec.log"
bg_start "$D/rec" python3 "$D/rec.py" "$REC" "$D/rec.log"
REC_PID=$BG_PID
wait_listen "$REC"
if moat_serve "proxy-limits" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--max-body-size 1000 --hsts 600 --proxy-read-timeout 1 --proxy-idle-timeout 1 --idle-timeout 3 \
	--proxy "$(n n1)" --proxy "/rec/=http://127.0.0.1:$REC/" --proxy "/ng/=http://127.0.0.1:$NG/" \
	--proxy "/slow/=$(n n1)/,$(n n2)/" --proxy "/other/=$(n n1)/,$(n n2)/"; then
	P=$SRV_PORT U=https://localhost:$SRV_PORT
	head -c 5000 /dev/zero | tr '\0' u >"$D/5000.bin"
	px -H 'Transfer-Encoding: chunked' --data-binary "@$D/5000.bin" -o "$out" -w '%{http_code}' "$U/sha256" >"$out.code" 2>&1
	check "proxy limits: a chunked upload over --max-body-size 1000 gets 413 before any answer" has "$out.code" "^413$"
	check "proxy limits: the 413 has an error-log line" has "$SRV_LOG.err" "POST /sha256.*max-body-size .413.$"
	px -H 'Transfer-Encoding: chunked' --data-binary "small-chunked" "$U/echo" >"$out" 2>&1
	check "proxy limits: a chunked upload under the limit still goes through" has "$out" "^small-chunked$"
	px -H 'Transfer-Encoding: chunked' --data-binary "@$D/5000.bin" -o /dev/null -w '%{http_code}' "$U/rec/up" >"$out.code" 2>&1
	sleep 0.5
	got=$(awk '{s += $1} END {print s + 0}' "$D/rec.log")
	check "proxy limits: chunked over the limit to a silent backend: 413, forwarding stopped ($got bytes reached it, not 5000)" \
		sh -c "grep -q '^413$' '$out.code' && [ '$got' -lt 1500 ]"
	: >"$D/rec.log"
	printf 'POST /rec/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
		timeout 5 openssl s_client -quiet -connect 127.0.0.1:$P -servername localhost >"$out" 2>/dev/null
	sleep 0.5
	check "proxy limits: Content-Length with Transfer-Encoding: 400, and the backend got nothing (no connection)" \
		sh -c "grep -q '^HTTP/1.1 400' '$out' && [ ! -s '$D/rec.log' ]"

	px -D "$out.h" -o /dev/null "$U/app-page" >"$out" 2>&1
	check "proxy limits: --hsts on a proxied response (Strict-Transport-Security: max-age=600)" \
		grep -qi '^strict-transport-security: max-age=600' "$out.h"
	px -D "$out.h" -o /dev/null "$U/ng/sts.txt" >"$out" 2>&1
	check "proxy limits: the backend's own Strict-Transport-Security is kept, not doubled" \
		sh -c "[ \$(grep -ci '^strict-transport-security:' '$out.h') = 1 ] && grep -qi '^strict-transport-security: max-age=5' '$out.h'"

	# Passive health: a read timeout (504) leaves that backend out, for
	# every route naming it. /slow's first pick is n1.
	px -o /dev/null -w '%{http_code}' "$U/slow/hang" >"$out.code" 2>&1
	check "proxy limits: /slow/hang on n1 times out: 504" has "$out.code" "^504$"
	: >"$out"
	for i in 1 2 3 4; do px "$U/slow/x$i" "$U/other/y$i" >>"$out" 2>&1; done
	check "proxy limits: after the 504, n1 is left out: 8 of 8 on /slow and /other served by n2" \
		sh -c "[ \$(grep -c '^n2: GET /[xy][1-4]$' '$out') = 8 ]"
	check "proxy limits: the timeout marked the backend down in the error log" has "$SRV_LOG.err" "did not answer in time; left out"

	# Idle pooled connections go after --proxy-idle-timeout 1 with no traffic.
	px "$U/ng/hello.txt" >/dev/null 2>&1
	before=$(ss -Htn state established "( dport = :$NG )" | wc -l)
	sleep 2.6
	after=$(ss -Htn state established "( dport = :$NG )" | wc -l)
	check "proxy limits: an idle pooled backend connection is closed by the timer ($before before, $after after 2.6 s)" \
		sh -c "[ $before -ge 1 ] && [ $after = 0 ]"

	# WebSocket: quiet past --proxy-read-timeout 1 is no 504; quiet for
	# --idle-timeout 3 ends the tunnel cleanly.
	timeout 15 node - "$P" "$CERTS/ca.pem" >"$out" 2>&1 <<-'EOF'
		const tls = require('tls'), fs = require('fs'), crypto = require('crypto');
		const [port, ca] = process.argv.slice(2);
		const s = tls.connect({ host: '127.0.0.1', port: +port, servername: 'localhost', ca: fs.readFileSync(ca) });
		const frame = (t) => { const p = Buffer.from(t), m = crypto.randomBytes(4);
		  return Buffer.concat([Buffer.from([0x81, 0x80 | p.length]), m, Buffer.from(p.map((b, i) => b ^ m[i & 3]))]); };
		let buf = '', t0 = 0, n = 0;
		s.on('secureConnect', () => s.write('GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n' +
		  'Connection: Upgrade\r\nSec-WebSocket-Key: ' + crypto.randomBytes(16).toString('base64') +
		  '\r\nSec-WebSocket-Version: 13\r\n\r\n'));
		s.on('data', (d) => {
		  buf += d.toString('latin1');
		  if (buf.startsWith('HTTP/1.1 101') && n === 0 && buf.includes('\r\n\r\n')) { console.log('101'); n = 1; s.write(frame('one')); }
		  if (n === 1 && buf.includes('echo n1: one')) { n = 2; console.log('got one'); setTimeout(() => s.write(frame('two')), 1600); }
		  if (n === 2 && buf.includes('echo n1: two')) { n = 3; console.log('got two after 1.6 s quiet'); t0 = Date.now(); }
		  if (buf.includes('504')) console.log('504');
		});
		s.on('end', () => { console.log('closed after ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s quiet'); process.exit(0); });
		s.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
	EOF
	q=$(sed -n 's/^closed after \([0-9.]*\) s quiet$/\1/p' "$out")
	check "proxy limits: a WebSocket tunnel quiet past the read timeout is kept (no 504)" \
		sh -c "grep -q '^got two after' '$out' && ! grep -q '^504' '$out'"
	check "proxy limits: a WebSocket tunnel quiet for --idle-timeout 3 is closed cleanly (after ${q:-?} s)" \
		awk "BEGIN{exit !(\"${q:-0}\" + 0 >= 2.5 && \"${q:-0}\" + 0 < 6)}"
	server_alive "proxy-limits"
	bg_stop "$SRV_PID"
fi
bg_stop "$REC_PID"

# ---- --proxy-only, and the client certificate's identity
gen_client_cert
if moat_serve "proxy-only" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--client-ca "$CERTS/ca.pem" --client-auth optional --proxy-only --proxy "$(n n1)"; then
	P=$SRV_PORT U=https://localhost:$SRV_PORT
	px "$U/index.html" >"$out" 2>&1
	check "proxy-only: nothing from disk, index.html goes to the app" has "$out" "^n1: GET /index.html$"
	px --cert "$CERTS/alice.pem" --key "$CERTS/alice.key" -H 'X-Client-Cert-Subject: CN=admin' "$U/headers" >"$out" 2>&1
	check "proxy-only: the client certificate's subject in X-Client-Cert-Subject, the spoofed one gone" \
		sh -c "grep -q '\"x-client-cert-subject\":\"[^\"]*alice' '$out' && ! grep -q 'CN=admin' '$out'"
	px -H 'X-Client-Cert-Subject: CN=admin' "$U/headers" >"$out" 2>&1
	check "proxy-only: without a client certificate no X-Client-Cert-Subject reaches the app" \
		sh -c "grep -q '\"app\":\"n1\"' '$out' && ! grep -qi 'x-client-cert-subject' '$out'"
	server_alive "proxy-only"
	bg_stop "$SRV_PID"
fi
"$MOAT" serve --proxy-only >"$out" 2>&1
check "proxy: --proxy-only without --proxy is a usage error (exit 2)" test $? -eq 2
"$MOAT" serve --proxy ftp://x >"$out" 2>&1
check "proxy: a non-http URL is refused with a message (exit 2)" sh -c "[ $? -eq 2 ] && grep -q 'http://' '$out'"
finish
