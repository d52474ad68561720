#!/usr/bin/env bash
# moat get's network flags beside curl's: --compressed (br, gzip, deflate
# zlib-wrapped and raw, stacked codings, broken bodies, a bomb in bounded
# memory; nginx gzip on and moat serve's precompressed siblings), --retry
# (503 with Retry-After, backoff, 404 not retried, --retry-max-time,
# timeouts, --retry-connrefused), --limit-rate both ways, and HTTP CONNECT
# proxies (-x, -U, the CONNECT head compared with curl's, 403 and 407,
# https_proxy / all_proxy / no_proxy / --noproxy as curl reads them, the
# proxy resolving names, -v and --explain). Python servers from
# tests/tools (getnet_server.py, connect_proxy.py) and nginx.
. "$(dirname "$0")/../lib.sh"
need openssl curl nginx || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
# python3-brotli is Debian's: the interpreter it was built for.
PY=/usr/bin/python3
if ! $PY -c 'import brotli' 2>/dev/null; then
	notok "get net: python3-brotli installed" "$PY cannot import brotli"
	finish
	exit
fi
TOOLS=$MOAT_ROOT/tests/tools
C=$CERTS
CA=(--cacert "$C/ca.pem")

# ---- the servers ----
SP=$(free_port)
bg_start "$T_TMP/srv" $PY "$TOOLS/getnet_server.py" "$SP" "$C/p256-chain.pem" "$C/p256.key" "$T_TMP/srv.log"
if ! wait_file_line "$T_TMP/srv.out" "^ready"; then
	notok "get net: the python3 test server starts"
	diag "$T_TMP/srv.err"
	finish
	exit
fi
U=https://localhost:$SP

# run NAME CMD...: stdout to $T_TMP/NAME, stderr to $T_TMP/NAME.err, exit in RC.
run() {
	local n=$1
	shift
	timeout 60 "$@" >"$T_TMP/$n" 2>"$T_TMP/$n.err" </dev/null
	RC=$?
}

# ---- --compressed ----
$PY - "$T_TMP/plain" <<'EOF'
import sys
sys.path.insert(0, "")
open(sys.argv[1], "wb").write(b"".join(b"line %d of a body that compresses well\n" % i for i in range(3000)))
EOF
for e in br gzip deflate rawdeflate gzip-br identity; do
	run "m.$e" "$MOAT" get -s "${CA[@]}" --compressed "$U/enc/$e"
	mrc=$RC
	run "c.$e" curl -s "${CA[@]}" --compressed "$U/enc/$e"
	if [ "$mrc" -eq 0 ] && [ "$RC" -eq 0 ] && cmp -s "$T_TMP/m.$e" "$T_TMP/c.$e" && cmp -s "$T_TMP/m.$e" "$T_TMP/plain"; then
		ok "get net: --compressed $e: decoded, the same bytes as curl --compressed ($(wc -c <"$T_TMP/m.$e") bytes)"
	else
		notok "get net: --compressed $e" "moat exit $mrc, curl exit $RC"
		diag "$T_TMP/m.$e.err"
	fi
done
msize=$("$MOAT" get -s "${CA[@]}" --compressed -o /dev/null -w '%{size_download}' "$U/enc/gzip" 2>/dev/null)
csize=$(curl -s "${CA[@]}" --compressed -o /dev/null -w '%{size_download}' "$U/enc/gzip")
check "get net: --compressed -w %{size_download} counts the body as sent, as curl ($msize, $csize)" \
	test -n "$msize" -a "$msize" = "$csize" -a "${msize:-0}" -lt 100000
ae=$(grep -c "GET /enc/br HTTP/1.1 ae=deflate, gzip, br$" "$T_TMP/srv.log")
check "get net: --compressed sends Accept-Encoding: deflate, gzip, br (curl's order, less zstd)" test "$ae" -eq 1
run m.noflag "$MOAT" get -s "${CA[@]}" "$U/enc/gzip"
if [ "$RC" -eq 0 ] && ! cmp -s "$T_TMP/m.noflag" "$T_TMP/plain" && grep -q "GET /enc/gzip HTTP/1.1 ae=-$" "$T_TMP/srv.log"; then
	ok "get net: without --compressed: no Accept-Encoding, the body as sent (as curl)"
else notok "get net: without --compressed: no Accept-Encoding, the body as sent" "exit $RC"; fi

# Broken bodies: the exit status curl gives for each (61, or 23 for bytes
# after the end of the stream), and a message.
for e in corrupt-gzip corrupt-br unknown trailing-gzip; do
	run "m.$e" "$MOAT" get -s "${CA[@]}" --compressed "$U/enc/$e"
	mrc=$RC
	run "c.$e" curl -s "${CA[@]}" --compressed "$U/enc/$e"
	if [ "$mrc" -eq "$RC" ] && [ "$mrc" -ne 0 ] && [ -s "$T_TMP/m.$e.err" ]; then
		ok "get net: --compressed $e: exit $mrc as curl ($(head -n 1 "$T_TMP/m.$e.err"))"
	else
		notok "get net: --compressed $e: curl's exit status" "moat $mrc, curl $RC"
		diag "$T_TMP/m.$e.err"
	fi
done

# A bomb: 256 MiB of zeros in about 256 kB of gzip, decoded in bounded
# memory (the peak resident size of moat get, from getrusage).
cat >"$T_TMP/rss.py" <<'EOF'
import resource, subprocess, sys
out = open(sys.argv[1], "wb")
r = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
n = len(r.stdout)
print(r.returncode, n, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
# The baseline is the same fetch of the plain 120 kB body (an ASan build
# starts larger); the bomb may add at most 32 MB to it.
read -r _ _ base < <($PY "$T_TMP/rss.py" /dev/null "$MOAT" get -s "${CA[@]}" --compressed "$U/enc/identity")
read -r brc bsize brss < <($PY "$T_TMP/rss.py" /dev/null "$MOAT" get -s "${CA[@]}" --compressed "$U/enc/bomb")
if [ "${brc:-1}" -eq 0 ] && [ "${bsize:-0}" -eq 268435456 ] && [ "${brss:-999999}" -lt $((${base:-0} + 32768)) ]; then
	ok "get net: --compressed bomb: 256 MiB decoded, peak memory ${brss} kB (${base} kB for a 120 kB body)"
else notok "get net: --compressed bomb decoded in bounded memory" "exit ${brc:-?}, ${bsize:-?} bytes, ${brss:-?} kB (base ${base:-?})"; fi

# nginx with gzip on, and moat serve's precompressed sibling.
D=$T_TMP/nginx
mkdir -p "$D/logs" "$D/site"
cp "$T_TMP/plain" "$D/site/plain.txt"
NP=$(free_port)
nginx_start "$D" <<-EOF
		    default_type text/plain;
		    ssl_protocols TLSv1.3;
		    gzip on;
		    gzip_types text/plain;
		    gzip_min_length 100;
		    server {
		        listen 127.0.0.1:$NP ssl;
		        ssl_certificate $C/p256-chain.pem;
		        ssl_certificate_key $C/p256.key;
		        root $D/site;
		    }
	EOF
if wait_listen "$NP"; then
	run m.nginx "$MOAT" get -s -i "${CA[@]}" --compressed "https://localhost:$NP/plain.txt"
	if [ "$RC" -eq 0 ] && grep -qi "^content-encoding: gzip" "$T_TMP/m.nginx" &&
		sed '1,/^\r$/d' "$T_TMP/m.nginx" | cmp -s - "$T_TMP/plain"; then
		ok "get net: nginx gzip on: the gzip body decoded to the file"
	else notok "get net: nginx gzip on" "exit $RC"; diag "$T_TMP/m.nginx.err"; fi
else notok "get net: nginx starts" "port $NP"; diag "$D/logs/error.log"; fi
bg_stop "$NGINX_PID"

mkdir -p "$T_TMP/site"
cp "$T_TMP/plain" "$T_TMP/site/plain.txt"
gzip -9 -k "$T_TMP/site/plain.txt"
$PY -c 'import brotli,sys; open(sys.argv[2],"wb").write(brotli.compress(open(sys.argv[1],"rb").read()))' \
	"$T_TMP/site/plain.txt" "$T_TMP/site/plain.txt.br"
if moat_serve "get net" "$T_TMP/site" --cert "$C/p256-chain.pem" --key "$C/p256.key"; then
	for want in br gzip; do
		h=()
		[ $want = gzip ] && h=(-H "Accept-Encoding: gzip")
		run "m.serve.$want" "$MOAT" get -s -i "${CA[@]}" --compressed "${h[@]}" "https://localhost:$SRV_PORT/plain.txt"
		if [ "$RC" -eq 0 ] && grep -qi "^content-encoding: $want" "$T_TMP/m.serve.$want" &&
			sed '1,/^\r$/d' "$T_TMP/m.serve.$want" | cmp -s - "$T_TMP/plain"; then
			ok "get net: moat serve's precompressed plain.txt.$([ $want = br ] && echo br || echo gz) decoded"
		else notok "get net: moat serve's precompressed sibling ($want)" "exit $RC"; diag "$T_TMP/m.serve.$want.err"; fi
	done
	bg_stop "$SRV_PID"
fi

# ---- --retry ----
# warnings FILE: the Warning lines of a run, curl's wrapped lines (at 79
# columns, broken after a space, each part behind "Warning: ") joined.
warnings() {
	awk '/^Warning: / { s = substr($0, 10); if (cont) line = line s; else { if (line != "") print "Warning: " line; line = s }
		cont = (substr($0, length($0)) == " "); next } END { if (line != "") print "Warning: " line }' "$1" | grep .
}
CURL=(curl --no-progress-meter)
count() { curl -s "${CA[@]}" "$U/count?id=$1"; }

id=ra$RANDOM
t0=$(date +%s%N)
run m.retry "$MOAT" get "${CA[@]}" --retry 3 -o "$T_TMP/retry.out" "$U/flaky?id=$id&n=2&code=503&ra=1"
ms=$((($(date +%s%N) - t0) / 1000000))
mrc=$RC
run c.retry.v "${CURL[@]}" "${CA[@]}" --retry 3 -o "$T_TMP/c.retry.out" "$U/flaky?id=v$id&n=2&code=503&ra=1"
if [ "$mrc" -eq 0 ] && [ "$RC" -eq 0 ] && [ "$(count "$id")" = 3 ] && [ "$(cat "$T_TMP/retry.out")" = "finally 3" ] &&
	[ "$ms" -ge 1800 ] && [ "$ms" -lt 30000 ] &&
	diff <(warnings "$T_TMP/m.retry.err") <(warnings "$T_TMP/c.retry.v.err") >/dev/null; then
	ok "get net: --retry 3: 503 with Retry-After: 1 twice, then 200: 3 requests, ${ms} ms, curl's warnings, the file holds the last body only"
else
	notok "get net: --retry on 503 with Retry-After" "exit $RC, $(count "$id") requests, $ms ms"
	diag "$T_TMP/m.retry.err"
	diag "$T_TMP/c.retry.v.err"
fi

id=bo$RANDOM
run m.backoff "$MOAT" get "${CA[@]}" --retry 2 "$U/flaky?id=$id&n=2&code=500"
run c.backoff "${CURL[@]}" "${CA[@]}" --retry 2 "$U/flaky?id=c$id&n=2&code=500"
if [ "$(count "$id")" = 3 ] && warnings "$T_TMP/m.backoff.err" | grep -q "Will retry in 2 seconds. 1 retries left" &&
	diff <(warnings "$T_TMP/m.backoff.err") <(warnings "$T_TMP/c.backoff.err") >/dev/null; then
	ok "get net: --retry without Retry-After: curl's backoff (1 s, then 2 s), its warnings"
else notok "get net: --retry backoff" "$(count "$id") requests"; diag "$T_TMP/m.backoff.err" "$T_TMP/c.backoff.err"; fi

id=nf$RANDOM
run m.404 "$MOAT" get -s "${CA[@]}" --retry 3 "$U/flaky?id=$id&n=5&code=404"
if [ "$RC" -eq 0 ] && [ "$(count "$id")" = 1 ] && ! warnings "$T_TMP/m.404.err" >/dev/null; then
	ok "get net: --retry: a 404 is not retried (one request, as curl)"
else notok "get net: --retry does not retry 404" "exit $RC, $(count "$id") requests"; fi

id=fa$RANDOM
run m.fail "$MOAT" get "${CA[@]}" -f --retry 1 --retry-delay 1 "$U/flaky?id=$id&n=5&code=429"
mrc=$RC
run c.fail curl -s -S -f "${CA[@]}" --retry 1 --retry-delay 1 "$U/flaky?id=c$id&n=5&code=429"
if [ "$mrc" -eq 22 ] && [ "$RC" -eq 22 ] && [ "$(count "$id")" = 2 ] && [ ! -s "$T_TMP/m.fail" ]; then
	ok "get net: -f --retry 1 --retry-delay 1 on 429: two requests, exit 22 as curl"
else notok "get net: -f --retry on 429" "moat $mrc, curl $RC, $(count "$id") requests"; fi

id=mt$RANDOM
run m.maxtime "$MOAT" get "${CA[@]}" --retry 5 --retry-max-time 2 "$U/flaky?id=$id&n=5&code=503&ra=10"
mrc=$RC
run c.maxtime "${CURL[@]}" "${CA[@]}" --retry 5 --retry-max-time 2 "$U/flaky?id=c$id&n=5&code=503&ra=10"
if [ "$mrc" -eq 0 ] && [ "$(count "$id")" = 1 ] && [ "$(cat "$T_TMP/m.maxtime")" = "try again later" ] &&
	diff <(warnings "$T_TMP/m.maxtime.err") <(warnings "$T_TMP/c.maxtime.err") >/dev/null &&
	warnings "$T_TMP/m.maxtime.err" | grep -q "Retry-After: time would make"; then
	ok "get net: --retry-max-time 2 with Retry-After: 10: no retry, the 503 body kept, curl's warning"
else notok "get net: --retry-max-time against Retry-After" "exit $mrc, $(count "$id") requests"; diag "$T_TMP/m.maxtime.err" "$T_TMP/c.maxtime.err"; fi

id=mx$RANDOM
t0=$(date +%s%N)
run m.maxtime2 "$MOAT" get -s "${CA[@]}" --retry 100 --retry-delay 1 --retry-max-time 3 "$U/flaky?id=$id&n=100&code=502"
ms=$((($(date +%s%N) - t0) / 1000000))
n=$(count "$id")
if [ "$n" -ge 2 ] && [ "$n" -le 5 ] && [ "$ms" -lt 30000 ]; then
	ok "get net: --retry 100 --retry-delay 1 --retry-max-time 3: stops after $n requests (${ms} ms)"
else notok "get net: --retry-max-time bounds the retries" "$n requests, $ms ms"; fi

# A body cut off half way (exit 18) is retried with --retry-all-errors;
# the -o file is emptied first, so it ends with the whole body once.
id=cut$RANDOM
run m.cut "$MOAT" get "${CA[@]}" --retry 1 --retry-all-errors --retry-delay 1 -o "$T_TMP/cut.out" "$U/cut?id=$id&n=1"
mrc=$RC
run c.cut "${CURL[@]}" "${CA[@]}" --retry 1 --retry-all-errors --retry-delay 1 -o "$T_TMP/cut.c.out" "$U/cut?id=c$id&n=1"
if [ "$mrc" -eq 0 ] && [ "$RC" -eq 0 ] && [ "$(count "$id")" = 2 ] && cmp -s "$T_TMP/cut.out" "$T_TMP/cut.c.out" &&
	[ "$(wc -c <"$T_TMP/cut.out")" -eq 200000 ] && grep -q "^Throwing away 100000 bytes" "$T_TMP/m.cut.err" &&
	diff <(warnings "$T_TMP/m.cut.err") <(warnings "$T_TMP/c.cut.err") >/dev/null; then
	ok "get net: --retry-all-errors after a body cut off: the -o file emptied (100000 bytes thrown away), then whole, as curl's"
else notok "get net: a cut-off body retried into an emptied file" "moat $mrc, curl $RC, $(count "$id") requests"; diag "$T_TMP/m.cut.err" "$T_TMP/c.cut.err"; fi

# Timeouts are retried; a refused connection only with --retry-connrefused.
QP=$(free_port)
bg_start "$T_TMP/silent" $PY "$MOAT_ROOT/tests/apps/silent.py" "$QP"
if wait_file_line "$T_TMP/silent.out" "^ready"; then
	run m.timeout "$MOAT" get --retry 1 --retry-delay 1 -m 1 "https://127.0.0.1:$QP/"
	if [ "$RC" -eq 28 ] && [ "$(grep -c accept "$T_TMP/silent.out")" -eq 2 ] &&
		warnings "$T_TMP/m.timeout.err" | grep -qx "Warning: Problem : timeout. Will retry in 1 seconds. 1 retries left."; then
		ok "get net: --retry 1 -m 1 on a silent server: two connections, curl's timeout warning, exit 28"
	else notok "get net: a timeout is retried" "exit $RC"; diag "$T_TMP/m.timeout.err"; fi
else notok "get net: silent listener starts"; fi
CP=$(free_port)
run m.refused "$MOAT" get --retry 2 --retry-delay 1 "https://127.0.0.1:$CP/"
mrc=$RC
run m.refused2 "$MOAT" get --retry 2 --retry-delay 1 --retry-connrefused "https://127.0.0.1:$CP/"
run c.refused2 "${CURL[@]}" --retry 2 --retry-delay 1 --retry-connrefused "https://127.0.0.1:$CP/"
if [ "$mrc" -eq 7 ] && ! warnings "$T_TMP/m.refused.err" >/dev/null && [ "$RC" -eq 7 ] &&
	diff <(warnings "$T_TMP/m.refused2.err") <(warnings "$T_TMP/c.refused2.err") >/dev/null &&
	[ "$(warnings "$T_TMP/m.refused2.err" | wc -l)" -eq 2 ]; then
	ok "get net: a refused connection is retried only with --retry-connrefused (curl's warnings, exit 7)"
else notok "get net: --retry-connrefused" "exit $mrc / $RC"; diag "$T_TMP/m.refused2.err" "$T_TMP/c.refused2.err"; fi

# ---- --limit-rate ----
t0=$(date +%s%N)
run m.rate "$MOAT" get -s "${CA[@]}" --limit-rate 100k "$U/big?n=300000"
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$RC" -eq 0 ] && [ "$(wc -c <"$T_TMP/m.rate")" -eq 300000 ] && [ "$ms" -ge 2000 ] && [ "$ms" -lt 30000 ]; then
	ok "get net: --limit-rate 100k: 300000 bytes down in ${ms} ms (at least 2.9 s at the rate)"
else notok "get net: --limit-rate bounds the download" "exit $RC, $ms ms"; fi
head -c 300000 /dev/urandom >"$T_TMP/up.bin"
t0=$(date +%s%N)
run m.rateup "$MOAT" get -s "${CA[@]}" --limit-rate 100K --data-binary @"$T_TMP/up.bin" "$U/sink"
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$RC" -eq 0 ] && [ "$(cat "$T_TMP/m.rateup")" = "got 300000" ] && [ "$ms" -ge 2000 ] && [ "$ms" -lt 30000 ]; then
	ok "get net: --limit-rate 100K: 300000 bytes up in ${ms} ms"
else notok "get net: --limit-rate bounds the upload" "exit $RC, $ms ms"; fi
bad=0
for r in 10x 1.5M -5 "" 1kb; do
	run m.badrate "$MOAT" get --limit-rate "$r" "$U/"
	[ "$RC" -eq 2 ] && grep -q "limit-rate" "$T_TMP/m.badrate.err" || bad=$((bad + 1))
done
check "get net: --limit-rate 10x, 1.5M, -5, '' and 1kb refused (exit 2, named)" test "$bad" -eq 0

# ---- HTTP CONNECT proxies ----
# proxy NAME ARGS...: start connect_proxy.py; sets PP (port) and PLOG.
proxy() {
	local name=$1
	shift
	PP=$(free_port)
	PLOG=$T_TMP/proxy.$name.log
	: >"$PLOG"
	bg_start "$T_TMP/proxy.$name" $PY "$TOOLS/connect_proxy.py" "$PP" "$PLOG" "$@"
	PPID_=$BG_PID
	wait_file_line "$T_TMP/proxy.$name.out" "^ready" || notok "get net: proxy $name starts"
}
connects() { grep -c "^CONNECT " "$PLOG"; }

proxy open --map only-the-proxy.test=127.0.0.1
run m.px "$MOAT" get -s "${CA[@]}" -x "127.0.0.1:$PP" "$U/enc/identity"
mrc=$RC
head1=$(sed -n '1,/^\r$/p' "$PLOG" | grep -v '^User-Agent:')
: >"$PLOG"
run c.px curl -s "${CA[@]}" -x "127.0.0.1:$PP" "$U/enc/identity"
head2=$(sed -n '1,/^\r$/p' "$PLOG" | grep -v '^User-Agent:')
if [ "$mrc" -eq 0 ] && cmp -s "$T_TMP/m.px" "$T_TMP/plain" && [ -n "$head1" ] && [ "$head1" = "$head2" ]; then
	ok "get net: -x: the body through the tunnel; the CONNECT head is curl's, field for field (bar User-Agent)"
else
	notok "get net: -x CONNECT head as curl's" "exit $mrc"
	echo "$head1" | diag
	echo "$head2" | diag
fi
run m.pxv "$MOAT" get -v "${CA[@]}" -x "http://127.0.0.1:$PP" -U alice:s3cret "$U/enc/identity"
if [ "$RC" -eq 0 ] && grep -q "^> CONNECT localhost:$SP HTTP/1.1" "$T_TMP/m.pxv.err" &&
	grep -q "^> Proxy-Authorization: Basic \[hidden\]" "$T_TMP/m.pxv.err" && ! grep -q "YWxpY2U" "$T_TMP/m.pxv.err" &&
	grep -q "^< HTTP/1.1 200" "$T_TMP/m.pxv.err" && grep -q "tunnelled through proxy 127.0.0.1:$PP (HTTP CONNECT)" "$T_TMP/m.pxv.err"; then
	ok "get net: -v shows the CONNECT exchange (the credentials hidden) and says the TLS connection is tunnelled"
else notok "get net: -v with a proxy" "exit $RC"; diag "$T_TMP/m.pxv.err"; fi
run m.pxe "$MOAT" get --explain "${CA[@]}" -x "127.0.0.1:$PP" "$U/enc/identity"
if [ "$RC" -eq 0 ] && grep -q "The TLS connection is tunnelled through proxy 127.0.0.1:$PP (HTTP CONNECT)" "$T_TMP/m.pxe.err"; then
	ok "get net: --explain says the handshake went through the proxy's tunnel"
else notok "get net: --explain with a proxy" "exit $RC"; diag "$T_TMP/m.pxe.err"; fi
# The proxy resolves the server's name (a name only it knows); --resolve
# does not apply to the server when proxied, as curl.
run m.pxname "$MOAT" get -s -k -x "127.0.0.1:$PP" --resolve "only-the-proxy.test:$SP:127.0.0.9" "https://only-the-proxy.test:$SP/enc/identity"
mrc=$RC
run c.pxname curl -s -k -x "127.0.0.1:$PP" --resolve "only-the-proxy.test:$SP:127.0.0.9" "https://only-the-proxy.test:$SP/enc/identity"
if [ "$mrc" -eq 0 ] && [ "$RC" -eq 0 ] && cmp -s "$T_TMP/m.pxname" "$T_TMP/plain"; then
	ok "get net: the proxy resolves the server's name; --resolve for it is not used (as curl)"
else notok "get net: names resolved by the proxy" "moat $mrc, curl $RC"; diag "$T_TMP/m.pxname.err"; fi
# --resolve does apply to the proxy's own name.
run m.pxres "$MOAT" get -s "${CA[@]}" -x "proxy.invalid:$PP" --resolve "proxy.invalid:$PP:127.0.0.1" "$U/enc/identity"
mrc=$RC
run c.pxres curl -s "${CA[@]}" -x "proxy.invalid:$PP" --resolve "proxy.invalid:$PP:127.0.0.1" "$U/enc/identity"
check "get net: --resolve applies to the proxy's name (moat $mrc, curl $RC)" test "$mrc" -eq 0 -a "$RC" -eq 0

# The env table: which requests go through the proxy, moat beside curl.
# Each case: environment assignments, then extra flags after '--'.
T_HOST=localhost
envcase() {
	local want=$1 url=$2
	shift 2
	local envs=() flags=() seen=0 m c
	for a in "$@"; do
		if [ "$a" = "--" ]; then seen=1; elif [ $seen = 0 ]; then envs+=("$a"); else flags+=("$a"); fi
	done
	: >"$PLOG"
	env -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY -u http_proxy \
		"${envs[@]}" timeout 20 "$MOAT" get -s "${CA[@]}" "${flags[@]}" "$url" >/dev/null 2>"$T_TMP/env.err"
	local mrc=$?
	m=$(connects)
	: >"$PLOG"
	env -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY -u http_proxy \
		"${envs[@]}" timeout 20 curl -s "${CA[@]}" "${flags[@]}" "$url" >/dev/null 2>&1
	local crc=$?
	c=$(connects)
	local how=direct
	[ "$want" = 1 ] && how=proxied
	[ "$want" = 2 ] && how="proxied, two tunnels"
	if [ "$mrc" -eq 0 ] && [ "$crc" -eq 0 ] && [ "$m" = "$want" ] && [ "$c" = "$want" ]; then
		ok "get net: proxy env: ${envs[*]} ${flags[*]} ${url#https://} -> $how, as curl"
	else notok "get net: proxy env: ${envs[*]} ${flags[*]} ${url#https://} -> $how" "moat exit $mrc via proxy $m, curl exit $crc via proxy $c"; diag "$T_TMP/env.err"; fi
}
PX=http://127.0.0.1:$PP
UI=https://127.0.0.1:$SP/enc/identity
envcase 1 "$U/enc/identity" "https_proxy=$PX"
envcase 1 "$U/enc/identity" "HTTPS_PROXY=$PX"
envcase 1 "$U/enc/identity" "all_proxy=$PX"
envcase 1 "$U/enc/identity" "ALL_PROXY=127.0.0.1:$PP"
envcase 0 "$U/enc/identity" "http_proxy=$PX"
envcase 0 "$U/enc/identity" "https_proxy=$PX" "no_proxy=localhost"
envcase 0 "$U/enc/identity" "https_proxy=$PX" "NO_PROXY=example.com,localhost"
envcase 0 "$U/enc/identity" "https_proxy=$PX" "no_proxy=example.com localhost"
envcase 0 "$U/enc/identity" "https_proxy=$PX" "no_proxy=.localhost"
envcase 0 "$U/enc/identity" "https_proxy=$PX" "no_proxy=localhost."
envcase 1 "$U/enc/identity" "https_proxy=$PX" "no_proxy=calhost"
envcase 1 "$U/enc/identity" "https_proxy=$PX" "no_proxy=host"
envcase 0 "$U/enc/identity" "https_proxy=$PX" "no_proxy=*"
envcase 1 "$U/enc/identity" "https_proxy=$PX" "no_proxy=*.localhost"
envcase 1 "$U/enc/identity" "https_proxy=$PX" "no_proxy=localhost:$SP"
envcase 0 "$UI" "https_proxy=$PX" "no_proxy=127.0.0.1"
envcase 0 "$UI" "https_proxy=$PX" "no_proxy=127.0.0.0/8"
envcase 1 "$UI" "https_proxy=$PX" "no_proxy=127.0.0.2"
envcase 1 "$UI" "https_proxy=$PX" "no_proxy=10.0.0.0/8"
envcase 1 "$U/enc/identity" "https_proxy=$PX" "no_proxy=localhost" -- --noproxy ""
envcase 0 "$U/enc/identity" "https_proxy=$PX" -- --noproxy localhost
envcase 0 "$U/enc/identity" "no_proxy=localhost" -- -x "$PX"
envcase 1 "$U/enc/identity" "https_proxy=http://127.0.0.1:1" -- -x "$PX"
envcase 0 "$U/enc/identity" "https_proxy=$PX" -- -x ""
# Redirects: each origin is matched afresh (to 127.0.0.1, covered by
# no_proxy, directly; back on the proxied origin, through it).
envcase 1 "$U/redir?to=/enc/identity" "https_proxy=$PX" -- -L
envcase 1 "$U/redir?to=https://127.0.0.1:$SP/enc/identity" "https_proxy=$PX" "no_proxy=127.0.0.1" -- -L
envcase 2 "https://127.0.0.1:$SP/redir?to=https://localhost:$SP/enc/identity" "https_proxy=$PX" -- -L
bg_stop "$PPID_"

# Credentials: -U, or in the proxy URL; 407 without them, 403: curl's 56.
proxy auth --auth alice:s3cret
run m.auth "$MOAT" get -s "${CA[@]}" -x "127.0.0.1:$PP" -U alice:s3cret "$U/enc/identity"
mrc=$RC
run m.authurl "$MOAT" get -s "${CA[@]}" -x "http://alice:s3cret@127.0.0.1:$PP" "$U/enc/identity"
if [ "$mrc" -eq 0 ] && [ "$RC" -eq 0 ] && grep -q "^Proxy-Authorization: Basic YWxpY2U6czNjcmV0" "$PLOG"; then
	ok "get net: -U alice:s3cret and http://alice:s3cret@proxy: Proxy-Authorization Basic, tunnel open"
else notok "get net: proxy credentials" "exit $mrc / $RC"; diag "$T_TMP/m.auth.err"; fi
for how in none wrong; do
	u=()
	[ $how = wrong ] && u=(-U alice:nope)
	run "m.407$how" "$MOAT" get "${CA[@]}" -x "127.0.0.1:$PP" "${u[@]}" "$U/enc/identity"
	mrc=$RC
	run "c.407$how" curl -s "${CA[@]}" -x "127.0.0.1:$PP" "${u[@]}" "$U/enc/identity"
	if [ "$mrc" -eq 56 ] && [ "$RC" -eq 56 ] && grep -q "CONNECT tunnel failed, response 407" "$T_TMP/m.407$how.err"; then
		ok "get net: 407 from the proxy ($how credentials): exit 56 as curl ($(head -n 1 "$T_TMP/m.407$how.err"))"
	else notok "get net: 407 from the proxy ($how credentials)" "moat $mrc, curl $RC"; diag "$T_TMP/m.407$how.err"; fi
done
bg_stop "$PPID_"
proxy deny --deny
run m.403 "$MOAT" get "${CA[@]}" -x "127.0.0.1:$PP" "$U/enc/identity"
mrc=$RC
run c.403 curl -s "${CA[@]}" -x "127.0.0.1:$PP" "$U/enc/identity"
if [ "$mrc" -eq 56 ] && [ "$RC" -eq 56 ] && grep -q "response 403" "$T_TMP/m.403.err"; then
	ok "get net: 403 from the proxy: exit 56 as curl"
else notok "get net: 403 from the proxy" "moat $mrc, curl $RC"; diag "$T_TMP/m.403.err"; fi
bg_stop "$PPID_"
# A proxy that cannot be resolved (5) or reached (7), and one of a scheme
# moat does not speak.
run m.pxnx "$MOAT" get "${CA[@]}" -x "no-such-proxy.invalid:3128" "$U/"
mrc=$RC
run c.pxnx curl -s "${CA[@]}" -x "no-such-proxy.invalid:3128" "$U/"
check "get net: an unresolvable proxy: exit 5 as curl (moat $mrc, curl $RC)" test "$mrc" -eq 5 -a "$RC" -eq 5
run m.pxdown "$MOAT" get "${CA[@]}" -x "127.0.0.1:$CP" "$U/"
mrc=$RC
run c.pxdown curl -s "${CA[@]}" -x "127.0.0.1:$CP" "$U/"
check "get net: a proxy that refuses the connection: exit 7 as curl (moat $mrc, curl $RC)" test "$mrc" -eq 7 -a "$RC" -eq 7
run m.pxsocks "$MOAT" get "${CA[@]}" -x "socks5://127.0.0.1:$CP" "$U/"
if [ "$RC" -ne 0 ] && grep -q "unsupported proxy scheme" "$T_TMP/m.pxsocks.err"; then
	ok "get net: a socks5:// proxy is refused by name (exit $RC)"
else notok "get net: socks5:// refused" "exit $RC"; fi

finish
