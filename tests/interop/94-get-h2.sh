#!/usr/bin/env bash
# moat get over HTTP/2 against servers no one here wrote: nginx (listen
# ... ssl http2, proxying POSTs to tests/apps/echo.js), h2o and nghttpd;
# small and large bodies by checksum, HEAD, -i beside curl --http2's,
# POST bodies, redirects between h2 and h1 hosts and on one h2 connection,
# --http1.1, an h1-only server, -v, --explain's frames, --session; curl's
# flags over h2 beside curl --http2 (-T of 100 MB with memory bounded and
# -T - to nginx dav, -F, -D -L, -c/-b, -u -A -e, -C -, --max-filesize and
# the stream cancelled); then a
# hostile h2 server (tests/tools/h2evil.py) for each exit code, with
# moat's memory bounded and no hang.
. "$(dirname "$0")/../lib.sh"
need openssl nginx h2o nghttpd curl node python3 valgrind || { finish; exit; }
need_moat
gen_certs || { finish; exit; }

D=$T_TMP/h2
SITE=$D/site
mkdir -p "$SITE/sub" "$SITE/dav" "$D/logs"
CA=$CERTS/ca.pem
TOKEN="moat-h2-$RANDOM$RANDOM"
printf '<p>%s</p>\n' "$TOKEN" >"$SITE/index.html"
printf 'hello %s\n' "$TOKEN" >"$SITE/sub/hello.txt"
head -c 30000000 /dev/urandom >"$SITE/big.bin"
BIG_SUM=$(sha256sum <"$SITE/big.bin" | cut -d' ' -f1)
head -c 1000000 /dev/urandom >"$D/upload.bin"
UP_SUM=$(sha256sum <"$D/upload.bin" | cut -d' ' -f1)

# /usr/bin/time's maximum resident set, in KB, of a moat get run:
# rss_get OUT ARGS... (sets GET_RC and RSS)
rss_get() {
	local out=$1
	shift
	timeout "$T_CLIENT" /usr/bin/time -f '%M' -o "$out.rss" "$MOAT" get "$@" >"$out" 2>"$out.err" </dev/null
	GET_RC=$?
	RSS=$(tail -n 1 "$out.rss" 2>/dev/null)
	case $RSS in '' | *[!0-9]*) RSS=999999 ;; esac
}

# ---- the servers
NG2=$(free_port)  # nginx, h2 and http/1.1
NG1=$(free_port)  # nginx, http/1.1 only
H2O=$(free_port)  # h2o
NGD=$(free_port)  # nghttpd
APP=$(free_port)  # echo.js behind nginx
bg_start "$D/app" node "$MOAT_ROOT/tests/apps/echo.js" "$APP" h2app
nginx_start "$D" <<-EOF
		    ssl_certificate $CERTS/p256-chain.pem;
		    ssl_certificate_key $CERTS/p256.key;
		    ssl_protocols TLSv1.2 TLSv1.3;
		    ssl_session_tickets on;
		    server {
		        listen 127.0.0.1:$NG2 ssl http2;
		        root $SITE;
		        location = /to-h1 { return 302 https://localhost:$NG1/sub/hello.txt; }
		        location = /same { return 301 /sub/hello.txt; }
		        location /app/ { proxy_pass http://127.0.0.1:$APP/; proxy_request_buffering off; }
		$(nginx_dav_cookies)
		    }
		    server {
		        listen 127.0.0.1:$NG1 ssl;
		        root $SITE;
		        location = /to-h2 { return 302 https://localhost:$NG2/sub/hello.txt; }
		    }
	EOF
cat >"$D/h2o.conf" <<-EOF
	num-threads: 1
	error-log: $D/logs/h2o-error.log
	pid-file: $D/h2o.pid
	$([ "$(id -u)" -eq 0 ] && echo "user: root")
	hosts:
	  default:
	    listen:
	      host: 127.0.0.1
	      port: $H2O
	      ssl:
	        certificate-file: $CERTS/p256-chain.pem
	        key-file: $CERTS/p256.key
	        ocsp-update-interval: 0
	        neverbleed: OFF
	    paths:
	      /:
	        file.dir: $SITE
EOF
bg_start "$D/h2o" h2o -c "$D/h2o.conf"
bg_start "$D/nghttpd" nghttpd -d "$SITE" "$NGD" "$CERTS/p256.key" "$CERTS/p256-chain.pem"
for p in $NG2 $NG1 $H2O $NGD $APP; do
	wait_listen "$p" || notok "get h2: a server listens on $p" "$(cat "$D"/*.err 2>/dev/null | tail -5)"
done

# ---- each h2 server: small and large bodies, the protocol, HEAD, -i
for s in nginx:$NG2 h2o:$H2O nghttpd:$NGD; do
	n=${s%%:*} p=${s#*:}
	U=https://localhost:$p
	moat_get x "$D/$n-small" --cacert "$CA" -w '%{http_code} %{http_version}\n' "$U/sub/hello.txt"
	check "get h2 $n: a small body over HTTP/2 (-w http_version 2)" \
		cmp -s "$D/$n-small" <(printf 'hello %s\n200 2\n' "$TOKEN")
	rss_get "$D/$n-big" --cacert "$CA" -o "$D/$n-big.bin" "$U/big.bin"
	if [ "$GET_RC" -eq 0 ] && [ "$(sha256sum <"$D/$n-big.bin" | cut -d' ' -f1)" = "$BIG_SUM" ]; then
		ok "get h2 $n: 30 MB body, same checksum"
	else
		notok "get h2 $n: 30 MB body, same checksum" "rc=$GET_RC"
		diag "$D/$n-big.err"
	fi
	check "get h2 $n: 30 MB in $RSS KB of memory (under 40 MB)" test "$RSS" -lt 40000
	rm -f "$D/$n-big.bin"
	moat_get x "$D/$n-v" --cacert "$CA" -v "$U/"
	grep -q '^\* using HTTP/2' "$D/$n-v.err" && grep -q '^> :method: GET' "$D/$n-v.err" &&
		grep -q '^> :path: /$' "$D/$n-v.err" && grep -q "^> :authority: localhost:$p" "$D/$n-v.err" &&
		grep -q '^< HTTP/2 200' "$D/$n-v.err" && ok "get h2 $n: -v says HTTP/2, :method, :path, :authority, < HTTP/2 200" ||
		{ notok "get h2 $n: -v says HTTP/2, :method, :path, :authority, < HTTP/2 200"; diag "$D/$n-v.err"; }
	moat_get x "$D/$n-head" --cacert "$CA" -I "$U/index.html"
	[ "$GET_RC" -eq 0 ] && head -n 1 "$D/$n-head" | grep -qx $'HTTP/2 200 \r' &&
		! grep -q "$TOKEN" "$D/$n-head" && ok "get h2 $n: -I gives the head alone" ||
		{ notok "get h2 $n: -I gives the head alone" "rc=$GET_RC"; diag "$D/$n-head" "$D/$n-head.err"; }
	# -i beside curl --http2 -i: the same status line and field names
	moat_get x "$D/$n-i" --cacert "$CA" -i "$U/index.html"
	timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -i "$U/index.html" >"$D/$n-curl-i"
	names() { sed -n '2,/^\r$/p' "$1" | cut -d: -f1 | grep -v '^\r$' | sort; }
	if [ "$(head -n 1 "$D/$n-i")" = "$(head -n 1 "$D/$n-curl-i")" ] &&
		[ "$(names "$D/$n-i")" = "$(names "$D/$n-curl-i")" ] && grep -q "$TOKEN" "$D/$n-i"; then
		ok "get h2 $n: -i as curl --http2 -i (status line, field names), then the body"
	else
		notok "get h2 $n: -i as curl --http2 -i (status line, field names), then the body"
		diff <(names "$D/$n-i") <(names "$D/$n-curl-i") | sed 's/^/#   /'
	fi
done

# ---- POST bodies, through nginx to echo.js (which hashes what it got)
U=https://localhost:$NG2
moat_get x "$D/post-bin" --cacert "$CA" --data-binary "@$D/upload.bin" -w '%{http_version}\n' "$U/app/sha256"
check "get h2: --data-binary @FILE (1 MB) arrives whole over h2 (echo.js's sha256)" \
	cmp -s "$D/post-bin" <(printf '%s 1000000\n2\n' "$UP_SUM")
moat_get x "$D/post-d" --cacert "$CA" -d 'a=1' -d 'b=2' "$U/app/headers"
grep -q '"method":"POST"' "$D/post-d" && grep -q '"content-type":"application/x-www-form-urlencoded"' "$D/post-d" &&
	grep -q '"content-length":"7"' "$D/post-d" && ok "get h2: -d is a form POST with its length" ||
	{ notok "get h2: -d is a form POST with its length" "rc=$GET_RC"; diag "$D/post-d" "$D/post-d.err"; }

moat_get x "$D/hdr" --cacert "$CA" --resolve "localhost:$NG2:127.0.0.1" -X PUT -H 'X-Test: One' \
	-H 'User-Agent: probe/1' -H 'Accept:' "$U/app/headers"
grep -q '"method":"PUT"' "$D/hdr" && grep -q '"x-test":"One"' "$D/hdr" && grep -q '"user-agent":"probe/1"' "$D/hdr" &&
	! grep -q '"accept"' "$D/hdr" && ok "get h2: --resolve, -X PUT, -H added, replacing and removing a default" ||
	{ notok "get h2: --resolve, -X PUT, -H added, replacing and removing a default" "rc=$GET_RC"; diag "$D/hdr" "$D/hdr.err"; }

# ---- curl's flags over h2 (the code HTTP/1.1 runs), beside curl --http2
# against the same nginx: -T streamed from a file and stdin to dav, -F,
# -D, -c/-b, -C -, --max-filesize, -u/-A/-e/-b in the request.
RSS_MAX=32768 # -T's bound; an ASan build carries its shadow memory
case $MOAT in */asan/*) RSS_MAX=262144 ;; esac
head -c 100000000 /dev/urandom >"$D/put.bin"
rss_get "$D/put" --cacert "$CA" -w '%{http_code} %{http_version}' -T "$D/put.bin" "$U/dav/"
if [ "$GET_RC" -eq 0 ] && [ "$(cat "$D/put")" = "201 2" ] && cmp -s "$D/put.bin" "$SITE/dav/put.bin" &&
	[ "$RSS" -lt "$RSS_MAX" ]; then
	ok "get h2 flags: -T 100 MB to nginx dav over h2: 201, stored byte for byte, in $RSS KB (under $RSS_MAX)"
else
	notok "get h2 flags: -T 100 MB to nginx dav over h2" "rc=$GET_RC $(cat "$D/put") rss=$RSS"
	diag "$D/put.err" "$D/logs/error.log"
fi
rm -f "$D/put.bin" "$SITE/dav/put.bin"
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -w '%{http_code} %{http_version}' -T - "$U/dav/stdin.bin" \
	<"$D/upload.bin" >"$D/put2" 2>"$D/put2.err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$D/put2")" = "201 2" ] && cmp -s "$D/upload.bin" "$SITE/dav/stdin.bin" &&
	ok "get h2 flags: -T - (no length: DATA frames to END_STREAM) to dav: 201, stored byte for byte" ||
	{ notok "get h2 flags: -T - to dav over h2" "rc=$rc $(cat "$D/put2")"; diag "$D/put2.err" "$D/logs/error.log"; }
# -F with a file part, echoed back by echo.js: curl's body, the boundary aside
printf 'a form file %s\n' "$TOKEN" >"$D/form.txt"
bnd() { LC_ALL=C sed 's/-\{24\}[0-9a-f]\{16\}/BOUNDARY/g' "$1"; }
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -F "f=@$D/form.txt" -F "t=hello" -F "u=@$D/upload.bin" \
	"$U/app/echo" >"$D/form.m" 2>"$D/form.m.err"
rc=$?
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -F "f=@$D/form.txt" -F "t=hello" -F "u=@$D/upload.bin" \
	"$U/app/echo" >"$D/form.c"
if [ "$rc" -eq 0 ] && grep -q "a form file $TOKEN" "$D/form.m" && [ "$(stat -c %s "$D/form.m")" -gt 1000000 ] &&
	cmp -s <(bnd "$D/form.m") <(bnd "$D/form.c"); then
	ok "get h2 flags: -F with two file parts (1 MB streamed) over h2: curl --http2's body, byte for byte"
else
	notok "get h2 flags: -F over h2 as curl --http2" "rc=$rc"
	diag "$D/form.m.err"
fi
# -D with -L: both heads as curl --http2 writes them ("HTTP/2 301 ", then
# "HTTP/2 200 ", the same field names)
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -L -D "$D/dump.m" -o /dev/null "$U/same"
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -L -D "$D/dump.c" -o /dev/null "$U/same"
dnames() { cut -d: -f1 "$1" | sort; }
[ "$(grep '^HTTP/' "$D/dump.m" | tr -d '\r' | tr '\n' '|')" = "HTTP/2 301 |HTTP/2 200 |" ] &&
	[ "$(dnames "$D/dump.m")" = "$(dnames "$D/dump.c")" ] &&
	[ "$(tail -n 1 "$D/dump.m")" = $'\r' ] && ok "get h2 flags: -D with -L writes the two h2 heads as curl --http2 does" ||
	{ notok "get h2 flags: -D as curl --http2"; diff <(dnames "$D/dump.m") <(dnames "$D/dump.c") | sed 's/^/#   /'; }
# -c: the jar from nginx's Set-Cookie over h2 equal to curl's; -b sends it
jarlines() { grep -v '^# ' "$1" | grep . | awk -F'\t' '{ if ($5 > 0) $5 = "EXPIRY"; print }' OFS='\t' | sort; }
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -c "$D/jar.m" "$U/setcookie" >/dev/null
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -c "$D/jar.c" "$U/setcookie" >/dev/null
[ "$(jarlines "$D/jar.m" | wc -l)" -eq 3 ] && [ "$(jarlines "$D/jar.m")" = "$(jarlines "$D/jar.c")" ] &&
	ok "get h2 flags: -c: the jar of nginx's 3 Set-Cookie over h2 has curl --http2's lines" ||
	{ notok "get h2 flags: -c over h2 as curl --http2"; diff <(jarlines "$D/jar.m") <(jarlines "$D/jar.c") | sed 's/^/#   /'; }
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -b "$D/jar.m" -b "lit=1" "$U/showcookie" >"$D/show.m"
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -b "$D/jar.m" -b "lit=1" "$U/showcookie" >"$D/show.c"
grep -q 'n1=v1' "$D/show.m" && grep -q 'lit=1' "$D/show.m" && cmp -s "$D/show.m" "$D/show.c" &&
	ok "get h2 flags: -b JAR -b name=value: nginx gets curl --http2's cookies ($(cat "$D/show.m"))" ||
	notok "get h2 flags: -b over h2 as curl --http2" "$(cat "$D/show.m") / $(cat "$D/show.c")"
# -u, -A, -e, -b, --json as echo.js sees them through nginx, beside curl --http2
hfields() {
	tr ',{}' '\n\n\n' <"$1" | grep -E '^"(method|authorization|user-agent|referer|cookie|accept|content-type|content-length)"' | sort
}
HF=(-s --cacert "$CA" -u user:pass -A 'agent/2 (h2)' -e https://ref.test/p -b 'a=1; b=2' --json '{"k":1}' "$U/app/headers")
timeout "$T_CLIENT" "$MOAT" get "${HF[@]}" >"$D/hf.m"
timeout "$T_CLIENT" curl --http2 "${HF[@]}" >"$D/hf.c"
[ "$(hfields "$D/hf.m" | wc -l)" -eq 8 ] && [ "$(hfields "$D/hf.m")" = "$(hfields "$D/hf.c")" ] &&
	ok "get h2 flags: -u, -A, -e, -b, --json arrive as curl --http2's: $(hfields "$D/hf.m" | tr '\n' ' ' | cut -c1-100)" ||
	{ notok "get h2 flags: -u -A -e -b --json over h2 as curl --http2"; diff <(hfields "$D/hf.m") <(hfields "$D/hf.c") | sed 's/^/#   /'; }
# -C -: a partial file resumed from nginx's 206 over h2; a whole one (416)
head -c 777777 "$SITE/big.bin" >"$D/part"
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C - -o "$D/part" "$U/big.bin" 2>"$D/part.err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(sha256sum <"$D/part" | cut -d' ' -f1)" = "$BIG_SUM" ] &&
	ok "get h2 flags: -C - resumes a partial file over h2 (206) to the right sha256" ||
	{ notok "get h2 flags: -C - over h2" "rc=$rc"; diag "$D/part.err"; }
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C - -o "$D/part" "$U/big.bin" 2>"$D/part2.err"
rc=$?
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -C - -o "$D/part" "$U/big.bin" 2>/dev/null
crc=$?
[ "$rc" -eq 0 ] && [ "$crc" -eq 0 ] && [ "$(sha256sum <"$D/part" | cut -d' ' -f1)" = "$BIG_SUM" ] &&
	ok "get h2 flags: -C - on a whole file (416 over h2): exit 0, the file untouched, as curl --http2" ||
	{ notok "get h2 flags: -C - on a whole file over h2" "moat $rc, curl $crc"; diag "$D/part2.err"; }
rm -f "$D/part"
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C 10 -o /dev/null "$U/app/x" 2>"$D/norange.err"
rc=$?
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" -C 10 -o /dev/null "$U/app/x" 2>/dev/null
crc=$?
[ "$rc" -eq 33 ] && [ "$crc" -eq 33 ] && ok "get h2 flags: -C 10 answered 200 over h2: exit 33, as curl --http2" ||
	notok "get h2 flags: -C against no ranges over h2" "moat $rc, curl $crc"
# --max-filesize: from content-length (and the stream given up with
# RST_STREAM CANCEL), and while a body without a length streams
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" --max-filesize 4000 --explain -o /dev/null "$U/big.bin" 2>"$D/max1.err"
rc=$?
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" --max-filesize 4000 -o /dev/null "$U/big.bin"
crc=$?
[ "$rc" -eq 63 ] && [ "$crc" -eq 63 ] && grep -q '^   -> RST_STREAM stream 1, .*CANCEL' "$D/max1.err" &&
	ok "get h2 flags: --max-filesize under content-length: exit 63 as curl --http2, the stream cancelled" ||
	{ notok "get h2 flags: --max-filesize on content-length over h2" "moat $rc, curl $crc"; DIAG_LINES=30 diag "$D/max1.err"; }
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" --max-filesize 4000 -o /dev/null --data-binary "@$D/upload.bin" \
	"$U/app/echo" 2>"$D/max2.err"
rc=$?
timeout "$T_CLIENT" curl -s --http2 --cacert "$CA" --max-filesize 4000 -o /dev/null --data-binary "@$D/upload.bin" \
	"$U/app/echo"
crc=$?
# (curl 7.88 checks Content-Length only, and lets this one through)
[ "$rc" -eq 63 ] && [ "$crc" -eq 0 ] && grep -q 'went over --max-filesize' "$D/max2.err" &&
	ok "get h2 flags: --max-filesize while a body of no length streams: exit 63, as over HTTP/1.1" ||
	{ notok "get h2 flags: --max-filesize while streaming over h2" "moat $rc, curl $crc"; diag "$D/max2.err"; }

# ---- redirects: h2 -> h1 host, h1 -> h2 host, and on one h2 connection
moat_get x "$D/r1" --cacert "$CA" -L -w '%{http_version}\n' "https://localhost:$NG2/to-h1"
check "get h2: -L from an h2 host to an h1-only host" cmp -s "$D/r1" <(printf 'hello %s\n1.1\n' "$TOKEN")
moat_get x "$D/r2" --cacert "$CA" -L -w '%{http_version}\n' "https://localhost:$NG1/to-h2"
check "get h2: -L from an h1-only host to an h2 host" cmp -s "$D/r2" <(printf 'hello %s\n2\n' "$TOKEN")
moat_get x "$D/r3" --cacert "$CA" -L -v "https://localhost:$NG2/same"
grep -q "hello $TOKEN" "$D/r3" && grep -q '^\* reusing the connection' "$D/r3.err" &&
	[ "$(grep -c '^\* using HTTP/2' "$D/r3.err")" -eq 1 ] && [ "$(grep -c '^> :method: GET' "$D/r3.err")" -eq 2 ] &&
	ok "get h2: -L on the same origin reuses the h2 connection (a second stream)" ||
	{ notok "get h2: -L on the same origin reuses the h2 connection (a second stream)"; diag "$D/r3.err"; }

# ---- --http1.1, --http2, an h1-only server
moat_get x "$D/h11" --cacert "$CA" --http1.1 -v -w '%{http_version}\n' "$U/sub/hello.txt"
grep -q '^\* ALPN: http/1.1' "$D/h11.err" && grep -q '^> GET /sub/hello.txt HTTP/1.1' "$D/h11.err" &&
	cmp -s "$D/h11" <(printf 'hello %s\n1.1\n' "$TOKEN") && ok "get h2: --http1.1 offers only http/1.1 to an h2 server" ||
	{ notok "get h2: --http1.1 offers only http/1.1 to an h2 server"; diag "$D/h11.err"; }
moat_get x "$D/h2f" --cacert "$CA" --http1.1 --http2 -w '%{http_version}\n' "$U/sub/hello.txt"
check "get h2: --http2 after --http1.1 offers h2 again" cmp -s "$D/h2f" <(printf 'hello %s\n2\n' "$TOKEN")
moat_get x "$D/h1only" --cacert "$CA" -v -w '%{http_version}\n' "https://localhost:$NG1/sub/hello.txt"
grep -q '^\* using HTTP/1.1' "$D/h1only.err" && cmp -s "$D/h1only" <(printf 'hello %s\n1.1\n' "$TOKEN") &&
	ok "get h2: an h1-only server gets HTTP/1.1 (h2 offered, not chosen)" ||
	{ notok "get h2: an h1-only server gets HTTP/1.1 (h2 offered, not chosen)"; diag "$D/h1only.err"; }

# ---- -o, -f, --session, --explain
moat_get x "$D/o" --cacert "$CA" -o "$D/o.html" "$U/index.html"
check "get h2: -o FILE" grep -q "$TOKEN" "$D/o.html"
moat_get x "$D/f" --cacert "$CA" -f "$U/nothing-here"
[ "$GET_RC" -eq 22 ] && grep -q 'answered 404 for' "$D/f.err" && ok "get h2: -f on a 404 is exit 22" ||
	{ notok "get h2: -f on a 404 is exit 22" "rc=$GET_RC"; diag "$D/f.err"; }
rm -f "$D/sess"
moat_get x "$D/s1" --cacert "$CA" --session "$D/sess" "$U/sub/hello.txt"
moat_get x "$D/s2" --cacert "$CA" --session "$D/sess" -v "$U/sub/hello.txt"
grep -q '^\* resumed: yes' "$D/s2.err" && grep -q '^\* using HTTP/2' "$D/s2.err" && grep -q "hello $TOKEN" "$D/s2" &&
	ok "get h2: --session resumes, and h2 is chosen again" ||
	{ notok "get h2: --session resumes, and h2 is chosen again"; diag "$D/s2.err"; }
moat_get x "$D/ex" --cacert "$CA" --explain "$U/sub/hello.txt"
e=$D/ex.err
grep -q '^moat -> server: "GET /sub/hello.txt HTTP/2"' "$e" && grep -q 'HTTP/2 frames (RFC 9113)' "$e" &&
	grep -q '^   -> SETTINGS, [0-9]* bytes: ENABLE_PUSH=0' "$e" && grep -q '^   -> HEADERS stream 1, .*END_STREAM' "$e" &&
	grep -q '^   <- HEADERS stream 1' "$e" && grep -q '^   <- DATA stream 1, .*END_STREAM' "$e" &&
	grep -q '^   -> WINDOW_UPDATE' "$e" && grep -q '^   <- SETTINGS, 0 bytes, ACK' "$e" &&
	grep -q '^   -> GOAWAY, .*NO_ERROR' "$e" &&
	ok "get h2: --explain lists the frames (SETTINGS, HEADERS, DATA, WINDOW_UPDATE, GOAWAY)" ||
	{ notok "get h2: --explain lists the frames (SETTINGS, HEADERS, DATA, WINDOW_UPDATE, GOAWAY)"; DIAG_LINES=30 diag "$e"; }

# ---- valgrind memcheck over an h2 session: a POST, a redirect on the same
# connection, a body; no error, no leak (not for the ASan moat, which
# cannot run under valgrind: the ASan re-run has its own checks)
if [ "${MOAT#*/asan/}" = "$MOAT" ]; then
	timeout 60 valgrind -q --error-exitcode=99 --run-libc-freeres=no --leak-check=full \
		--show-possibly-lost=no --errors-for-leak-kinds=definite \
		"$MOAT" get --cacert "$CA" -L -d 'a=1' "$U/same" -o "$D/vg.out" 2>"$D/vg.err"
	rc=$?
	[ "$rc" -eq 0 ] && grep -q "hello $TOKEN" "$D/vg.out" && ok "get h2: valgrind finds no error or leak in an h2 session" ||
		{ notok "get h2: valgrind finds no error or leak in an h2 session" "rc=$rc"; diag "$D/vg.err"; }
fi

# ---- a hostile h2 server: each mode its exit code, memory bounded, no hang
EVIL=$(free_port)
evil() { # evil MODE: (re)start h2evil.py in MODE
	[ -n "${EVIL_PID:-}" ] && bg_stop "$EVIL_PID"
	bg_start "$D/evil-$1" python3 "$MOAT_ROOT/tests/tools/h2evil.py" "$EVIL" "$CERTS/p256-chain.pem" "$CERTS/p256.key" "$1"
	EVIL_PID=$BG_PID
	wait_listen "$EVIL"
}
# mode, exit code, a word of the message, and what it is
while read -r mode code word what; do
	evil "$mode"
	rss_get "$D/evil-$mode.get" --cacert "$CA" -m 5 -d x=y "https://localhost:$EVIL/"
	if [ "$GET_RC" -eq "$code" ] && { [ "$word" = - ] || grep -q -- "$word" "$D/evil-$mode.get.err"; } &&
		[ "$RSS" -lt 40000 ]; then
		ok "get h2 hostile: $what -> exit $code ($RSS KB)"
	else
		notok "get h2 hostile: $what -> exit $code ($RSS KB)" "rc=$GET_RC"
		diag "$D/evil-$mode.get.err"
	fi
done <<-'MODES'
	ok 0 - a correct answer from the same script
	badframe 16 PROTOCOL_ERROR DATA on stream 0: moat ends the session with GOAWAY PROTOCOL_ERROR
	goaway 16 INTERNAL_ERROR GOAWAY INTERNAL_ERROR in the middle of a body
	rst 92 INTERNAL_ERROR RST_STREAM on the response, as curl's CURLE_HTTP2_STREAM
	cut 18 cut.off the connection closed with the stream open and 10 bytes to come
	noheaders 16 PROTOCOL_ERROR END_STREAM with no response head
	bigheaders 56 CONTINUATION a header block of endless CONTINUATION frames
	contflood 56 CONTINUATION endless empty CONTINUATION frames
	hpackbomb 56 over one 4 KB field referenced 4000 times (HPACK bomb)
	settings 16 control.frames endless SETTINGS
	ping 16 control.frames endless PING
	zerowindow 28 timed.out a window of 0 that never opens, under -m 5
	push 16 PROTOCOL_ERROR a PUSH_PROMISE though push is off
	MODES
# -L past a redirect whose body never ends: the stream cancelled, not
# read, and the next request a second stream on the same connection
evil redirect
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -L -v "https://localhost:$EVIL/" >"$D/evil-rd" 2>"$D/evil-rd.err"
rc=$?
wait_file_line "$D/evil-redirect.out" "^RST_STREAM" >/dev/null
[ "$rc" -eq 0 ] && cmp -s "$D/evil-rd" <(printf 'x%.0s' $(seq 20)) && grep -q '^\* reusing the connection' "$D/evil-rd.err" &&
	grep -qx 'RST_STREAM stream 1 code 8' "$D/evil-redirect.out" &&
	ok "get h2: -L cancels a redirect's endless body (RST_STREAM CANCEL) and reuses the connection" ||
	{ notok "get h2: -L cancels a redirect's body with RST_STREAM CANCEL" "rc=$rc"; diag "$D/evil-rd.err" "$D/evil-redirect.out"; }
bg_stop "$EVIL_PID"
finish
