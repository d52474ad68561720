#!/usr/bin/env bash
# moat get's curl flags and its answers to broken servers, each compared
# with Debian's curl against the same server: the request bytes of -u, -A,
# -e, --json, -F (boundary aside), -b; cookie jars (-c) written by both
# read alike; -C resuming from moat serve; -T streaming 100 MB with
# bounded memory; -D; --max-filesize; several --resolve across a
# redirect; -K equal to the flags; and the exit codes of an empty reply
# (52), a head too large (56), a header line too long (27), a
# close-framed body without close_notify (0), endless 1xx (8). The echo
# and broken server is tests/apps/getecho.py; nginx serves auth_basic, dav
# PUT, ranges and add_header Set-Cookie.
. "$(dirname "$0")/../lib.sh"
need openssl python3 curl sha256sum nginx || { finish; exit; }
[ -x /usr/bin/time ] || { notok "peer /usr/bin/time installed" "the time package"; finish; exit; }
# -T's memory bound: an ASan build carries its shadow memory and quarantine.
RSS_MAX=32768
case $MOAT in */asan/*) RSS_MAX=262144 ;; esac
need_moat
gen_certs || { finish; exit; }
CA=$CERTS/ca.pem

EP=$(free_port)
bg_start "$T_TMP/echo" python3 "$MOAT_ROOT/tests/apps/getecho.py" "$EP" "$CERTS/p256-chain.pem" "$CERTS/p256.key"
if ! wait_file_line "$T_TMP/echo.out" "^ready" || ! wait_listen "$EP"; then
	notok "flags: the python3 echo server starts"
	diag "$T_TMP/echo.err"
	finish
	exit
fi
E=https://localhost:$EP

# both NAME ARGS...: moat get and curl with the same arguments; bodies in
# $T_TMP/NAME.moat and .curl, exit codes in M_RC and C_RC.
both() {
	local name=$1
	shift
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" "$@" >"$T_TMP/$name.moat" 2>"$T_TMP/$name.moat.err" </dev/null
	M_RC=$?
	timeout "$T_CLIENT" curl -s --cacert "$CA" "$@" >"$T_TMP/$name.curl" 2>"$T_TMP/$name.curl.err" </dev/null
	C_RC=$?
}
# fields FILE NAME...: the named header lines of an echoed request, sorted.
fields() {
	local f=$1 re
	shift
	re=$(printf '%s|' "$@")
	sed -n '1,/^\r\?$/p' "$f" | tr -d '\r' | grep -iE "^(${re%|}):" | sort
}
# same_fields NAME WHAT FIELD...: the fields moat and curl sent are equal.
same_fields() {
	local name=$1 what=$2
	shift 2
	if [ "$M_RC" -eq 0 ] && [ "$C_RC" -eq 0 ] && [ -n "$(fields "$T_TMP/$name.moat" "$@")" ] &&
		[ "$(fields "$T_TMP/$name.moat" "$@")" = "$(fields "$T_TMP/$name.curl" "$@")" ]; then
		ok "flags: $what: $(fields "$T_TMP/$name.moat" "$@" | head -c 120 | tr '\n' ' ')as curl"
	else
		notok "flags: $what" "moat $M_RC: $(fields "$T_TMP/$name.moat" "$@" | tr '\n' ' '); curl $C_RC: $(fields "$T_TMP/$name.curl" "$@" | tr '\n' ' ')"
		diag "$T_TMP/$name.moat.err"
	fi
}
# body NAME: the body of an echoed request (after the empty line).
body() { sed '1,/^\r$/d' "$1"; }

# ---- the request bytes, against curl's
both user -u user:pass "$E/echo"
same_fields user "-u user:pass sends Basic credentials" Authorization
both auth -u user:pass "$E/auth"
check "flags: -u: the server that wants user:pass lets moat in" grep -q "^welcome user" "$T_TMP/auth.moat"
both agent -A "agent/1.0 (test)" "$E/echo"
same_fields agent "-A" User-Agent
both referer -e https://ref.test/page "$E/echo"
same_fields referer "-e" Referer
both refauto -L -e ";auto" "$E/redir?/echo"
same_fields refauto "-e ';auto' after a redirect" Referer
both json --json '{"a":[1,2]}' --json ',"b"' "$E/echo"
same_fields json "--json" Content-Type Accept Content-Length
if [ "$(head -1 "$T_TMP/json.moat")" = "$(head -1 "$T_TMP/json.curl")" ] &&
	[ "$(body "$T_TMP/json.moat")" = "$(body "$T_TMP/json.curl")" ]; then
	ok "flags: --json twice: the same POST and body as curl ($(body "$T_TMP/json.moat"))"
else notok "flags: --json twice: the same POST and body as curl" "$(body "$T_TMP/json.moat")"; fi
printf '{"from":"file"}\n' >"$T_TMP/j.json"
both jsonfile --json @"$T_TMP/j.json" "$E/echo"
if [ "$(body "$T_TMP/jsonfile.moat")" = "$(body "$T_TMP/jsonfile.curl")" ] && grep -q from "$T_TMP/jsonfile.moat"; then
	ok "flags: --json @FILE: the same body as curl"
else notok "flags: --json @FILE: the same body as curl"; fi

printf 'hello form file\n' >"$T_TMP/a.txt"
head -c 3000 /dev/urandom >"$T_TMP/b.bin"
both form -F name=value -F "semi=x;y" -F 'quoted="a;b\"c"' -F "up=@$T_TMP/a.txt" -F "bin=@$T_TMP/b.bin;type=application/x-test;filename=q\"uote.bin" -F "txt=<$T_TMP/a.txt" "$E/echo"
unboundary() { # the boundary of the Content-Type replaced by B everywhere
	local b
	b=$(tr -d '\r' <"$1" | sed -n 's/^Content-Type: multipart\/form-data; boundary=//Ip' | head -1)
	[ -n "$b" ] && sed "s/$b/B/g" "$1" | sed '1,/^\r$/d' | sha256sum | cut -c1-64
}
same_fields form "-F: the Content-Length of the multipart body" Content-Length
if [ -n "$(unboundary "$T_TMP/form.moat")" ] && [ "$(unboundary "$T_TMP/form.moat")" = "$(unboundary "$T_TMP/form.curl")" ]; then
	ok "flags: -F value, file, ;type=, ;filename= with a quote, <file: the multipart body is curl's, boundary aside"
else
	notok "flags: -F: the multipart body is curl's, boundary aside"
	diff <(sed '1,/^\r$/d' "$T_TMP/form.moat" | cat -v | head -30) <(sed '1,/^\r$/d' "$T_TMP/form.curl" | cat -v | head -30) | head -10 | sed 's/^/#   /'
fi
printf 'from stdin\n' >"$T_TMP/stdin.txt"
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -F "in=@-" -F after=1 "$E/echo" <"$T_TMP/stdin.txt" >"$T_TMP/fstdin.moat"
timeout "$T_CLIENT" curl -s --cacert "$CA" -F "in=@-" -F after=1 "$E/echo" <"$T_TMP/stdin.txt" >"$T_TMP/fstdin.curl"
if [ -n "$(unboundary "$T_TMP/fstdin.moat")" ] && [ "$(unboundary "$T_TMP/fstdin.moat")" = "$(unboundary "$T_TMP/fstdin.curl")" ] &&
	grep -q "^Transfer-Encoding: chunked" "$T_TMP/fstdin.moat"; then
	ok "flags: -F in=@-: stdin as a part named \"-\", curl's body (sent chunked, its length unknown)"
else notok "flags: -F in=@-: the multipart body is curl's"; fi
both cookielit -b "a=1; b=2" "$E/echo"
same_fields cookielit "-b 'a=1; b=2'" Cookie

# ---- cookie jars: written by both, read by both
curl -s --cacert "$CA" -c "$T_TMP/jar.c" "$E/cookies/set" >/dev/null
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -c "$T_TMP/jar.m" "$E/cookies/set" >/dev/null
# the expiry of a Max-Age cookie depends on the second each run ran: it is
# compared apart, within 5 s (maxage FILE NAME: that cookie's expiry)
jarlines() { grep -v '^# ' "$1" | grep . | awk -F'\t' '{ if ($5 > 0 && $5 < 2000000000) $5 = "MAX-AGE"; print }' OFS='\t' | sort; }
maxage() { awk -F'\t' -v n="$2" '$6 == n { print $5 }' "$1"; }
near() { [ -n "$1" ] && [ -n "$2" ] && [ $(($1 - $2)) -le 5 ] && [ $(($2 - $1)) -le 5 ]; }
if [ -s "$T_TMP/jar.m" ] && [ "$(jarlines "$T_TMP/jar.m")" = "$(jarlines "$T_TMP/jar.c")" ] &&
	[ "$(jarlines "$T_TMP/jar.m" | wc -l)" -eq 5 ] && near "$(maxage "$T_TMP/jar.m" aged)" "$(maxage "$T_TMP/jar.c" aged)"; then
	ok "flags: -c: moat's cookie jar has curl's 5 lines (host-only, path, Expires, Max-Age, Secure+HttpOnly; Max-Age=0 and a foreign Domain dropped)"
else
	notok "flags: -c: moat's cookie jar has curl's lines"
	diff <(jarlines "$T_TMP/jar.m") <(jarlines "$T_TMP/jar.c") | head | sed 's/^/#   /'
fi
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -b "$T_TMP/jar.c" "$E/cookies/show/x" >"$T_TMP/show.m" 2>&1
curl -s --cacert "$CA" -b "$T_TMP/jar.m" "$E/cookies/show/x" >"$T_TMP/show.c"
if grep -q "lasting=three" "$T_TMP/show.m" && cmp -s "$T_TMP/show.m" "$T_TMP/show.c"; then
	ok "flags: -b JAR: moat reading curl's jar sends what curl sends reading moat's ($(cat "$T_TMP/show.m"))"
else notok "flags: -b JAR: moat and curl send the same Cookie" "moat: $(cat "$T_TMP/show.m") curl: $(cat "$T_TMP/show.c")"; fi
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -b "$T_TMP/jar.c" "$E/show" >"$T_TMP/show2.m" 2>&1
check "flags: -b JAR: a path-scoped cookie stays on its path (only aged=four at /show)" grep -qx "cookie: aged=four" "$T_TMP/show2.m"
rm -f "$T_TMP/jar.rt"
timeout "$T_CLIENT" "$MOAT" get -s -L --cacert "$CA" -b "$T_TMP/jar.rt" -c "$T_TMP/jar.rt" "$E/redir?/cookies/set" >/dev/null
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -b "$T_TMP/jar.rt" -c "$T_TMP/jar.rt" "$E/cookies/show" >"$T_TMP/rt"
check "flags: -b FILE -c FILE: a round trip through the jar sends the cookies back" grep -q "plain=one" "$T_TMP/rt"

# ---- -D
curl -s -L --cacert "$CA" -D "$T_TMP/dump.c" "$E/redir?/echo" >/dev/null
timeout "$T_CLIENT" "$MOAT" get -s -L --cacert "$CA" -D "$T_TMP/dump.m" "$E/redir?/echo" >/dev/null
if [ "$(grep -c '^HTTP/1.1' "$T_TMP/dump.m")" -eq 2 ] && [ "$(grep '^HTTP/' "$T_TMP/dump.m")" = "$(grep '^HTTP/' "$T_TMP/dump.c")" ] &&
	grep -q '^Location: /echo' "$T_TMP/dump.m"; then
	ok "flags: -D FILE with -L: both heads, the 302 and the 200, as curl writes them"
else notok "flags: -D FILE with -L: both heads" "$(grep '^HTTP/' "$T_TMP/dump.m" | tr '\r\n' '  ')"; fi
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -D - -o "$T_TMP/dump.body" "$E/auth" >"$T_TMP/dump.out"
check "flags: -D - puts the head on stdout" grep -q "^HTTP/1.1 401" "$T_TMP/dump.out"

# ---- --max-filesize
for u in big/5000 bigchunked/5000 big/4000; do
	both "max-${u%%/*}" --max-filesize 4000 -o /dev/null "$E/$u"
	case $u in
	big/5000) want=63 curl_want=63 ;;
	bigchunked/5000) want=63 curl_want=0 ;; # curl 7.88 checks Content-Length only
	*) want=0 curl_want=0 ;;
	esac
	if [ "$M_RC" -eq "$want" ] && [ "$C_RC" -eq "$curl_want" ]; then
		ok "flags: --max-filesize 4000 on $u: exit $M_RC (curl $C_RC)"
	else notok "flags: --max-filesize 4000 on $u" "moat $M_RC (want $want), curl $C_RC"; fi
done

# ---- exit codes of broken servers, as curl's
for c in "empty 52" "empty-notify 52" "hdrbytes 56" "hdrline 27" "noclose 0"; do
	set -- $c
	both "broken-$1" "$E/$1"
	if [ "$M_RC" -eq "$2" ] && [ "$C_RC" -eq "$2" ]; then
		ok "flags: /$1: exit $2, as curl's"
	else notok "flags: /$1: exit $2, as curl's" "moat $M_RC, curl $C_RC"; diag "$T_TMP/broken-$1.moat.err"; fi
done
if cmp -s "$T_TMP/broken-noclose.moat" "$T_TMP/broken-noclose.curl" && grep -q "close_notify" "$T_TMP/broken-noclose.moat"; then
	ok "flags: /noclose: the same body, and a warning on stderr without -s"
else notok "flags: /noclose: the same body as curl"; fi
timeout "$T_CLIENT" "$MOAT" get --cacert "$CA" "$E/noclose" >/dev/null 2>"$T_TMP/noclose.err"
check "flags: /noclose: without -s, a warning says the body may have been cut off" grep -q "without TLS close_notify" "$T_TMP/noclose.err"
timeout "$T_CLIENT" "$MOAT" get --cacert "$CA" "$E/interim" >"$T_TMP/interim" 2>"$T_TMP/interim.err"
rc=$?
if [ "$rc" -eq 8 ] && [ ! -s "$T_TMP/interim" ] && grep -q "interim" "$T_TMP/interim.err"; then
	ok "flags: 200 interim 102 heads: exit 8, no body, the reason named (never exit 0 with a 102)"
else notok "flags: endless 1xx" "exit $rc"; diag "$T_TMP/interim.err"; fi

# ---- several --resolve, and a redirect to another host that uses them
R=(--resolve "a.test:$EP:127.0.0.1" --resolve "b.test:$EP:127.0.0.1")
# a.test and b.test are not in the test certificate: -k for both
both resolve -k -L -u user:pass "${R[@]}" "https://a.test:$EP/redir?https://b.test:$EP/echo"
if [ "$M_RC" -eq 0 ] && [ "$C_RC" -eq 0 ] && grep -q "^Host: b.test:$EP" "$T_TMP/resolve.moat" &&
	grep -q "^Host: b.test:$EP" "$T_TMP/resolve.curl"; then
	ok "flags: two --resolve: a redirect from a.test to b.test connects through the second, as curl"
else notok "flags: two --resolve and a redirect across hosts" "moat $M_RC, curl $C_RC"; diag "$T_TMP/resolve.moat.err"; fi
if ! grep -qi "^Authorization" "$T_TMP/resolve.moat" && ! grep -qi "^Authorization" "$T_TMP/resolve.curl"; then
	ok "flags: -u credentials are not sent to the other host of the redirect (neither by curl)"
else notok "flags: -u credentials stay with the first host"; fi

# ---- -K: a curl config file is the flags it names
cat >"$T_TMP/conf" <<EOF
# a comment, then options in curl's forms
url = "$E/echo"
user-agent = "agent \"quoted\"\tand a tab"
-H "X-One: 1"
--referer https://r.test/
json: {"k":2}
cookie="c=3"
silent
EOF
both confk -K "$T_TMP/conf"
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -A "$(printf 'agent "quoted"\tand a tab')" -H "X-One: 1" --referer https://r.test/ --json '{"k":2}' -b c=3 "$E/echo" >"$T_TMP/confflags"
if [ "$M_RC" -eq 0 ] && cmp -s "$T_TMP/confk.moat" "$T_TMP/confflags"; then
	ok "flags: -K FILE sends exactly what the same flags on the command line send"
else notok "flags: -K FILE equals the flags" "exit $M_RC"; diag "$T_TMP/confk.moat.err"; fi
same_fields confk "-K FILE: the fields curl sends for the same file" User-Agent X-One Referer Content-Type Accept Cookie Content-Length
timeout "$T_CLIENT" "$MOAT" get --cacert "$CA" -K - <"$T_TMP/conf" >"$T_TMP/confstdin" 2>/dev/null
check "flags: -K - reads the config from stdin" cmp -s "$T_TMP/confstdin" "$T_TMP/confflags"
printf '# names the other file\nconfig = "%s"\n' "$T_TMP/conf" >"$T_TMP/conf0"
timeout "$T_CLIENT" "$MOAT" get --cacert "$CA" -K "$T_TMP/conf0" >"$T_TMP/confnest" 2>/dev/null
check "flags: a config file naming another (config = FILE) reads both, as curl" cmp -s "$T_TMP/confnest" "$T_TMP/confflags"
printf 'config = "%s"\n' "$T_TMP/confself" >"$T_TMP/confself"
timeout "$T_CLIENT" "$MOAT" get -K "$T_TMP/confself" >/dev/null 2>"$T_TMP/confself.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "nested too deep" "$T_TMP/confself.err"; then
	ok "flags: a config file naming itself: exit 2, nested too deep (no loop)"
else notok "flags: a config file naming itself" "exit $rc"; fi
printf 'url = "unterminated\n' >"$T_TMP/badconf"
timeout "$T_CLIENT" "$MOAT" get -K "$T_TMP/badconf" >/dev/null 2>"$T_TMP/badconf.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "line 1" "$T_TMP/badconf.err"; then
	ok "flags: a config file with an unterminated quote: exit 2, the line named"
else notok "flags: a bad config file" "exit $rc"; fi

# ---- -T: PUT streamed, never whole in memory
head -c 100000000 /dev/urandom >"$T_TMP/up.bin"
sum=$(sha256sum <"$T_TMP/up.bin" | cut -c1-64)
/usr/bin/time -f "%M" -o "$T_TMP/up.rss" timeout 60 "$MOAT" get -s --cacert "$CA" -T "$T_TMP/up.bin" "$E/sha" >"$T_TMP/up.out" 2>"$T_TMP/up.err"
rc=$?
rss=$(tail -1 "$T_TMP/up.rss")
if [ "$rc" -eq 0 ] && grep -q "^$sum 100000000 PUT\$" "$T_TMP/up.out" && [ "${rss:-999999}" -lt "$RSS_MAX" ]; then
	ok "flags: -T 100 MB: PUT with its sha256 at the server, in $rss kB of memory at most"
else notok "flags: -T 100 MB streamed" "exit $rc, rss ${rss} kB: $(cat "$T_TMP/up.out")"; diag "$T_TMP/up.err"; fi
head -c 3000000 "$T_TMP/up.bin" >"$T_TMP/up3"
sum3=$(sha256sum <"$T_TMP/up3" | cut -c1-64)
timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -T - "$E/sha" <"$T_TMP/up3" >"$T_TMP/up3.out" 2>&1
check "flags: -T - sends stdin in the chunked coding (3 MB, sha256 at the server)" grep -q "^$sum3 3000000 PUT\$" "$T_TMP/up3.out"
both put -T "$T_TMP/a.txt" "$E/echo/"
if [ "$(head -1 "$T_TMP/put.moat" | tr -d '\r')" = "PUT /echo/a.txt HTTP/1.1" ] && [ "$(head -1 "$T_TMP/put.curl" | tr -d '\r')" = "PUT /echo/a.txt HTTP/1.1" ]; then
	ok "flags: -T FILE to a URL ending in /: the file's name is added, as curl"
else notok "flags: -T FILE to a URL ending in /" "$(head -1 "$T_TMP/put.moat")"; fi
same_fields put "-T FILE" Content-Length

# ---- -C: resume from moat serve (ranges)
mkdir -p "$T_TMP/site"
head -c 3000000 /dev/urandom >"$T_TMP/site/big.bin"
want=$(sha256sum <"$T_TMP/site/big.bin" | cut -c1-64)
if moat_serve "flags resume" "$T_TMP/site" --cert "$CERTS/p256-chain.pem" --key "$CERTS/p256.key"; then
	S=https://localhost:$SRV_PORT
	head -c 1234567 "$T_TMP/site/big.bin" >"$T_TMP/part"
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C - -o "$T_TMP/part" "$S/big.bin" 2>"$T_TMP/part.err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$(sha256sum <"$T_TMP/part" | cut -c1-64)" = "$want" ]; then
		ok "flags: -C - resumes a partial file (1234567 of 3000000 bytes) to the right sha256"
	else notok "flags: -C - resumes a partial file" "exit $rc"; diag "$T_TMP/part.err"; fi
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C - -o "$T_TMP/part" "$S/big.bin" 2>"$T_TMP/part2.err"
	rc=$?
	cp "$T_TMP/site/big.bin" "$T_TMP/whole.c"
	curl -s --cacert "$CA" -C - -o "$T_TMP/whole.c" "$S/big.bin"
	crc=$?
	if [ "$rc" -eq 0 ] && [ "$crc" -eq 0 ] && [ "$(sha256sum <"$T_TMP/part" | cut -c1-64)" = "$want" ]; then
		ok "flags: -C - on a whole file (416): exit 0 and the file untouched, as curl"
	else notok "flags: -C - on a whole file" "moat $rc, curl $crc"; fi
	head -c 100 "$T_TMP/site/big.bin" >"$T_TMP/part3"
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C 100 -o "$T_TMP/part3" "$S/big.bin"
	check "flags: -C 100 (an offset) resumes as well" test "$(sha256sum <"$T_TMP/part3" | cut -c1-64)" = "$want"
	bg_stop "$SRV_PID"
fi
both norange -C 10 -o /dev/null "$E/big/100"
if [ "$M_RC" -eq 33 ] && [ "$C_RC" -eq 33 ]; then
	ok "flags: -C 10 to a server that ignores Range: exit 33, as curl"
else notok "flags: -C to a server without ranges" "moat $M_RC, curl $C_RC"; fi

# ---- against nginx: auth_basic, dav PUT, ranges, add_header Set-Cookie
N=$T_TMP/nginx
mkdir -p "$N/logs" "$N/www/dav" "$N/www/private"
head -c 2000000 /dev/urandom >"$N/www/big.bin"
printf 'the secret page\n' >"$N/www/private/index.html"
printf 'user:%s\n' "$(openssl passwd -apr1 pass)" >"$N/htpasswd"
NP=$(free_port)
nginx_start "$N" <<-EOF
		    ssl_protocols TLSv1.3;
		    server {
		        listen 127.0.0.1:$NP ssl;
		        ssl_certificate $CERTS/p256-chain.pem;
		        ssl_certificate_key $CERTS/p256.key;
		        root $N/www;
		        location /private/ { auth_basic "moat"; auth_basic_user_file $N/htpasswd; }
		$(nginx_dav_cookies)
		    }
	EOF
if wait_listen "$NP"; then
	G=https://localhost:$NP
	both ngauth -w '%{http_code}' -u user:pass "$G/private/"
	both ngnoauth -w '%{http_code}' "$G/private/"
	if [ "$M_RC" -eq 0 ] && grep -q "secret page" "$T_TMP/ngauth.moat" && [ "$(tail -c 3 "$T_TMP/ngauth.moat")" = 200 ] &&
		[ "$(tail -c 3 "$T_TMP/ngnoauth.moat")" = 401 ] && [ "$(tail -c 3 "$T_TMP/ngnoauth.curl")" = 401 ]; then
		ok "flags nginx: auth_basic lets -u user:pass in (200), and not without it (401, as curl)"
	else notok "flags nginx: auth_basic and -u" "$(tail -c 3 "$T_TMP/ngauth.moat") $(tail -c 3 "$T_TMP/ngnoauth.moat")"; fi
	head -c 20000000 /dev/urandom >"$T_TMP/dav.bin"
	timeout 60 "$MOAT" get -s --cacert "$CA" -w '%{http_code}' -T "$T_TMP/dav.bin" "$G/dav/" >"$T_TMP/dav.out" 2>"$T_TMP/dav.err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$(tail -c 3 "$T_TMP/dav.out")" = 201 ] && cmp -s "$T_TMP/dav.bin" "$N/www/dav/dav.bin"; then
		ok "flags nginx: -T 20 MB to a dav location ending in /: 201, stored as dav.bin byte for byte"
	else notok "flags nginx: -T to nginx dav" "exit $rc, $(cat "$T_TMP/dav.out")"; diag "$T_TMP/dav.err" "$N/logs/error.log"; fi
	timeout 60 "$MOAT" get -s --cacert "$CA" -w '%{http_code}' -T - "$G/dav/stdin.bin" <"$T_TMP/dav.bin" >"$T_TMP/dav2.out" 2>"$T_TMP/dav2.err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$(tail -c 3 "$T_TMP/dav2.out")" = 201 ] && cmp -s "$T_TMP/dav.bin" "$N/www/dav/stdin.bin"; then
		ok "flags nginx: -T - (chunked) to dav: 201, stored byte for byte"
	else notok "flags nginx: -T - to nginx dav" "exit $rc, $(cat "$T_TMP/dav2.out")"; diag "$T_TMP/dav2.err" "$N/logs/error.log"; fi
	head -c 777777 "$N/www/big.bin" >"$T_TMP/ngpart"
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -C - -o "$T_TMP/ngpart" "$G/big.bin"
	check "flags nginx: -C - resumes from nginx's ranges to the same file" cmp -s "$T_TMP/ngpart" "$N/www/big.bin"
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$CA" -c "$T_TMP/ngjar.m" "$G/setcookie" >/dev/null
	curl -s --cacert "$CA" -c "$T_TMP/ngjar.c" "$G/setcookie" >/dev/null
	if [ "$(jarlines "$T_TMP/ngjar.m" | wc -l)" -eq 3 ] && [ "$(jarlines "$T_TMP/ngjar.m")" = "$(jarlines "$T_TMP/ngjar.c")" ] &&
	near "$(maxage "$T_TMP/ngjar.m" n2)" "$(maxage "$T_TMP/ngjar.c" n2)"; then
		ok "flags nginx: add_header Set-Cookie: moat's jar has curl's 3 lines"
	else notok "flags nginx: the jar of nginx's cookies" "$(jarlines "$T_TMP/ngjar.m" | tr '\t\n' ' |')"; fi
	both ngshow -b "$T_TMP/ngjar.c" "$G/showcookie"
	if grep -q "n1=v1" "$T_TMP/ngshow.moat" && cmp -s "$T_TMP/ngshow.moat" "$T_TMP/ngshow.curl"; then
		ok "flags nginx: the jar sends nginx what curl sends: $(cat "$T_TMP/ngshow.moat")"
	else notok "flags nginx: the cookies sent back" "$(cat "$T_TMP/ngshow.moat") / $(cat "$T_TMP/ngshow.curl")"; fi
else
	notok "flags nginx: nginx starts"
	diag "$N/nginx.err" "$N/logs/error.log"
fi
bg_stop "$NGINX_PID"

# ---- usage mistakes: exit 2 with the problem named
for bad in "-u nopassword" "--max-filesize 12x" "-C abc" "-F novalue" "-d a -T /etc/hostname" "-F a=@- -F b=<-"; do
	# shellcheck disable=SC2086
	timeout "$T_CLIENT" "$MOAT" get $bad "$E/" >/dev/null 2>"$T_TMP/bad.err"
	rc=$?
	if [ "$rc" -eq 2 ] && head -1 "$T_TMP/bad.err" | grep -q "^moat get: "; then
		ok "flags: '$bad': exit 2, $(head -1 "$T_TMP/bad.err" | cut -c11-80)"
	else notok "flags: '$bad' is a usage mistake" "exit $rc"; fi
done
finish
