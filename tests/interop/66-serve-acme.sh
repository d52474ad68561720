#!/usr/bin/env bash
# moat serve --acme against Debian's pebble (pebble_start in lib.sh):
# tls-alpn-01 answered by the HTTPS listener's workers and http-01 by the
# --redirect-http listener's; curl and moat get trusting pebble's root see
# the new certificates; several names; an RSA key; a forced renewal under
# wrk with no failed request and a new serial; a refused authorization
# that keeps the old certificate and logs the CA's detail; SIGKILL
# mid-order; two servers sharing --acme-dir order once.
# shellcheck disable=SC2016 # bash -c conditions take their arguments quoted
. "$(dirname "$0")/../lib.sh"
need pebble pebble-challtestsrv openssl curl ss wrk || { finish; exit; }
need_moat

HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
pebble_start serve-acme || { finish; exit; }
ROOT=$T_TMP/pebble-root.pem
SITE=$T_TMP/site
make_site "$SITE"
TOKEN=$SITE_TOKEN

# acme_serve LOG PORT ARGS...: moat serve --acme against pebble on
# 127.0.0.1:PORT, in the background; sets AS_PID.
acme_serve() {
	local log=$1 port=$2
	shift 2
	bg_start "$log" "$MOAT" serve "$SITE" --listen "127.0.0.1:$port" --acme "$DIR_URL" \
		--acme-ca-root "$CAROOT" --acme-agree-tos --acme-email test@example.test "$@"
	AS_PID=$BG_PID
}

# got LOG NAME [COUNT] [SECONDS]: until LOG says COUNT new certificates for NAME.
got() {
	local log=$1 name=$2 count=${3:-1} secs=${4:-60} i
	for i in $(seq 1 $((secs * 10))); do
		[ "$(grep -c "a new certificate for $name " "$log" 2>/dev/null)" -ge "$count" ] && return 0
		sleep 0.1
	done
	return 1
}

# served NAME PORT: the serial of the certificate moat serves for NAME.
served() {
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$2" -servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

# fetch NAME PORT: curl trusting pebble's root only; the page's token?
fetch_ok() {
	timeout "$T_CLIENT" curl -sS --cacert "$ROOT" --resolve "$1:$2:127.0.0.1" "https://$1:$2/" 2>&1 |
		grep -q "$TOKEN"
}

secs_since() { printf '%.2f' "$(echo "$(date +%s.%N) - $1" | bc)"; }

# ---- flags
"$MOAT" serve "$SITE" --acme "$DIR_URL" --domain x.test >"$T_TMP/u1.out" 2>&1
check "serve --acme without --acme-agree-tos: exit 2, saying so" \
	bash -c '[ "$0" = 2 ] && grep -q -- "--acme-agree-tos" "$1"' $? "$T_TMP/u1.out"
"$MOAT" serve "$SITE" --acme --acme-agree-tos >"$T_TMP/u2.out" 2>&1
check "serve --acme without --domain: exit 2" bash -c '[ "$0" = 2 ] && grep -q -- "--domain" "$1"' $? "$T_TMP/u2.out"
"$MOAT" serve "$SITE" --acme --acme-agree-tos --domain x.test --acme-challenge http-01 >"$T_TMP/u3.out" 2>&1
check "serve --acme-challenge http-01 without --redirect-http: exit 2" \
	bash -c '[ "$0" = 2 ] && grep -q -- "--redirect-http" "$1"' $? "$T_TMP/u3.out"
"$MOAT" serve "$SITE" --acme --acme-agree-tos --domain x.test --acme-key-type dsa >"$T_TMP/u4.out" 2>&1
check "serve --acme-key-type dsa: exit 2 naming it" bash -c '[ "$0" = 2 ] && grep -q "dsa" "$1"' $? "$T_TMP/u4.out"

for d in Ex.test '*.x.test' -x.test; do
	"$MOAT" serve "$SITE" --acme --acme-agree-tos --domain "$d" >"$T_TMP/u7.out" 2>&1
	check "serve --domain $d: exit 2, naming it" bash -c '[ "$0" = 2 ] && grep -qF -- "$1" "$2"' $? "$d" "$T_TMP/u7.out"
done
printf 'acme %s\ndomain x.test\nacme-agree-tos maybe\n' "$DIR_URL" >"$T_TMP/bad.conf"
"$MOAT" serve "$SITE" --config "$T_TMP/bad.conf" >"$T_TMP/u5.out" 2>&1
check "serve --config: a bad acme-agree-tos value names the file and line, exit 2" \
	bash -c '[ "$0" = 2 ] && grep -q "bad.conf:3" "$1"' $? "$T_TMP/u5.out"
printf 'domain -x.test\n' >"$T_TMP/bad2.conf"
"$MOAT" serve "$SITE" --config "$T_TMP/bad2.conf" >"$T_TMP/u6.out" 2>&1
check "serve --config: a domain that is not a DNS name, exit 2" \
	bash -c '[ "$0" = 2 ] && grep -q "bad2.conf:1: domain" "$1"' $? "$T_TMP/u6.out"

# ---- tls-alpn-01 on the HTTPS listener, two names, two workers
S1=$T_TMP/acme1
t0=$(date +%s.%N)
acme_serve "$T_TMP/alpn" "$TLS_PORT" --acme-dir "$S1" --domain a.test --domain b.test --workers 2
if got "$T_TMP/alpn.err" a.test && got "$T_TMP/alpn.err" b.test; then
	ok "tls-alpn-01: certificates for a.test and b.test in $(secs_since "$t0") s"
else
	notok "tls-alpn-01: certificates for a.test and b.test"
	diag "$T_TMP/alpn.err"
fi
check "tls-alpn-01: the ordering process chose tls-alpn-01" has "$T_TMP/alpn.err" "tls-alpn-01 challenges"
wait_file_line "$T_TMP/alpn.err" "reloaded (generation 2)" 20
check "tls-alpn-01: curl trusting pebble's root fetches https://a.test/" fetch_ok a.test "$TLS_PORT"
check "tls-alpn-01: and https://b.test/" fetch_ok b.test "$TLS_PORT"
moat_get "serve-acme" "$T_TMP/get.out" "https://b.test:$TLS_PORT/" --cacert "$ROOT" \
	--resolve "b.test:$TLS_PORT:127.0.0.1"
check "tls-alpn-01: moat get trusting pebble's root fetches https://b.test/" has "$T_TMP/get.out" "$TOKEN"
check "tls-alpn-01: b.test's certificate is the one in --acme-dir/live" \
	[ "$(served b.test "$TLS_PORT")" = "$(openssl x509 -in "$S1/live/b.test.pem" -noout -serial | cut -d= -f2)" ]
check "tls-alpn-01: the key on disk is 0600" [ "$(stat -c %a "$S1/live/a.test-key.pem")" = 600 ]
check "tls-alpn-01: no challenge left behind" bash -c '[ -z "$(ls -A "$0"/challenges/tls-alpn-01)" ]' "$S1"
# acme-tls/1 for a name with nothing pending: the site's certificate.
timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername a.test -alpn acme-tls/1 \
	</dev/null >"$T_TMP/alpn-none.out" 2>&1
check "tls-alpn-01: acme-tls/1 with no challenge pending is not answered with one" \
	bash -c '! grep -q "ALPN protocol: acme-tls/1" "$0"' "$T_TMP/alpn-none.out"
bg_stop "$AS_PID"
# The next start serves the certificate on disk at once, ordering nothing.
acme_serve "$T_TMP/alpn2" "$TLS_PORT" --acme-dir "$S1" --domain a.test --domain b.test
wait_listen "$TLS_PORT" 10
sleep 1
check "restart: the certificate on disk is served at once" fetch_ok a.test "$TLS_PORT"
check "restart: nothing ordered" bash -c '! grep -q "obtaining\|renewing" "$0"' "$T_TMP/alpn2.err"
bg_stop "$AS_PID"

# ---- http-01 on the --redirect-http listener, an RSA key
S2=$T_TMP/acme2
P2=$(free_port)
t0=$(date +%s.%N)
# The settings from a --config file this time.
printf 'domain h.test\nacme-key-type rsa2048  # the certificate key\nacme-dir %s\n' "$S2" >"$T_TMP/acme.conf"
acme_serve "$T_TMP/http" "$P2" --redirect-http "127.0.0.1:$HTTP_PORT" --config "$T_TMP/acme.conf"
if got "$T_TMP/http.err" h.test; then
	ok "http-01: a certificate for h.test (RSA, settings from --config) in $(secs_since "$t0") s"
else
	notok "http-01: a certificate for h.test"
	diag "$T_TMP/http.err"
fi
check "http-01: chosen by default (HTTPS port not 443, --redirect-http given)" \
	has "$T_TMP/http.err" "http-01 challenges"
wait_file_line "$T_TMP/http.err" "reloaded" 20
check "http-01: curl trusting pebble's root fetches https://h.test/" fetch_ok h.test "$P2"
check "http-01: the key is RSA 2048" bash -c \
	'openssl x509 -in "$0" -noout -text | grep -q "Public-Key: (2048 bit)"' "$S2/live/h.test.pem"
code=$(timeout "$T_CLIENT" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/nothing")
check "http-01: an unknown token is 404, not redirected" [ "$code" = 404 ]
code=$(timeout "$T_CLIENT" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/x")
check "http-01: other paths are still redirected (308)" [ "$code" = 308 ]
bg_stop "$AS_PID"

# ---- --user: the workers, unprivileged, still read the challenges
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	# Its own directory that nobody can reach (T_TMP's parents may not be).
	UD=$(mktemp -d /tmp/moat-acme-user.XXXXXX)
	chmod 711 "$UD"
	mkdir -p "$UD/site"
	cp "$SITE/index.html" "$UD/site/"
	chmod -R a+rX "$UD/site"
	t0=$(date +%s.%N)
	bg_start "$T_TMP/user" "$MOAT" serve "$UD/site" --listen "127.0.0.1:$TLS_PORT" --acme "$DIR_URL" \
		--acme-ca-root "$CAROOT" --acme-agree-tos --acme-dir "$UD/acme" --domain u.test --user nobody
	AS_PID=$BG_PID
	if got "$T_TMP/user.err" u.test 1 30; then
		ok "--user nobody: the workers answer tls-alpn-01 ($(secs_since "$t0") s)"
	else
		notok "--user nobody: the workers answer tls-alpn-01"
		diag "$T_TMP/user.err"
	fi
	check "--user nobody: the account key stays out of their reach" \
		bash -c '[ "$(stat -c %a "$0/accounts")" = 700 ] && [ "$(stat -c %U "$0/accounts")" = root ]' "$UD/acme"
	bg_stop "$AS_PID"
	rm -rf "$UD"
else
	ok "--user: not root, the unprivileged workers not tested # skip"
fi

# ---- a forced renewal under wrk; then a refused one
t0=$(date +%s.%N)
MOAT_ACME_RETRY_MS=3000 acme_serve "$T_TMP/renew" "$TLS_PORT" --acme-dir "$S1" --domain a.test \
	--acme-renew-before 3650
wait_listen "$TLS_PORT" 10
old=$(served a.test "$TLS_PORT")
timeout 30 wrk -t2 -c8 -d6s -H 'Host: a.test' "https://127.0.0.1:$TLS_PORT/index.html" >"$T_TMP/wrk.out" 2>&1
reqs=$(awk '/requests in/ {print $1}' "$T_TMP/wrk.out")
echo "# wrk: $(grep -E 'requests in|Requests/sec' "$T_TMP/wrk.out" | tr -s ' ' | tr '\n' ' ')"
if got "$T_TMP/renew.err" a.test 1 30; then
	ok "forced renewal: renewed (--acme-renew-before 3650) while wrk ran"
else
	notok "forced renewal: renewed"
	diag "$T_TMP/renew.err"
fi
echo "# renewals during the run: $(grep -c "a new certificate for a.test" "$T_TMP/renew.err"), reloads: $(grep -c reloaded "$T_TMP/renew.err")"
if [ "${reqs:-0}" -gt 50 ] && ! has "$T_TMP/wrk.out" 'Socket errors|Non-2xx' && grep -q reloaded "$T_TMP/renew.err"; then
	ok "forced renewal: wrk through the reload: $reqs requests, 0 errors"
else
	notok "forced renewal: wrk through the reload with no failed request"
	diag "$T_TMP/wrk.out"
fi
new=$(served a.test "$TLS_PORT")
check "forced renewal: the served serial changed" bash -c '[ -n "$0" ] && [ -n "$1" ] && [ "$0" != "$1" ]' "$old" "$new"

# challtestsrv now resolves a.test elsewhere: the CA cannot validate.
timeout "$T_CLIENT" curl -sS -d '{"host":"a.test","addresses":["127.0.0.2"]}' \
	"http://127.0.0.1:$CTS_PORT/add-a" >/dev/null 2>&1
n0=$(grep -c "no certificate for a.test this time" "$T_TMP/renew.err")
t0=$(date +%s.%N)
for _ in $(seq 1 300); do
	[ "$(grep -c "no certificate for a.test this time" "$T_TMP/renew.err")" -gt "$n0" ] && break
	sleep 0.1
done
echo "# refused renewal logged after $(secs_since "$t0") s"
check "refused renewal: the CA's detail is logged" \
	has "$T_TMP/renew.err" "could not validate a.test: .*127\.0\.0\.2"
check "refused renewal: says the current certificate stays, and when it tries again" \
	has "$T_TMP/renew.err" "no certificate for a.test this time .*current one is still served.*trying again in"
kept=$(served a.test "$TLS_PORT")
check "refused renewal: the old certificate is still served" \
	bash -c '[ -n "$0" ] && [ "$0" = "$1" ] && [ "$0" = "$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)" ]' \
	"$kept" "$(served a.test "$TLS_PORT")" "$S1/live/a.test.pem"
timeout "$T_CLIENT" curl -sS -d '{"host":"a.test"}' "http://127.0.0.1:$CTS_PORT/clear-a" >/dev/null 2>&1
bg_stop "$AS_PID"

# ---- SIGKILL mid-order (while its challenge is pending), then a restart
# challtestsrv sends the CA to 127.0.0.3, where a listener takes the
# validation's connection and never answers: the order stays pending, for
# sure, until the server is killed.
S3=$T_TMP/acme3
timeout "$T_CLIENT" curl -sS -d '{"host":"k.test","addresses":["127.0.0.3"]}' \
	"http://127.0.0.1:$CTS_PORT/add-a" >/dev/null 2>&1
bg_start "$T_TMP/hang" timeout 60 python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.3", int(sys.argv[1])))
s.listen(8)
c, _ = s.accept()
open(sys.argv[2], "w").close()
time.sleep(60)' "$TLS_PORT" "$T_TMP/hung"
HANG_PID=$BG_PID
wait_listen "$TLS_PORT" 10
acme_serve "$T_TMP/kill" "$TLS_PORT" --acme-dir "$S3" --domain k.test
kpid=$AS_PID
for _ in $(seq 1 400); do [ -e "$T_TMP/hung" ] && break; sleep 0.05; done
check "SIGKILL mid-order: killed while the CA is validating" \
	bash -c '[ -e "$0" ] && [ -n "$(ls -A "$1/challenges/tls-alpn-01")" ]' "$T_TMP/hung" "$S3"
kill -9 "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
bg_stop "$HANG_PID"
for _ in $(seq 1 50); do ss -Htln "( sport = :$TLS_PORT )" | grep -q . || break; sleep 0.1; done
check "SIGKILL mid-order: no half-written certificate" \
	bash -c '! ls -A "$0/live" 2>/dev/null | grep -q .' "$S3"
timeout "$T_CLIENT" curl -sS -d '{"host":"k.test"}' "http://127.0.0.1:$CTS_PORT/clear-a" >/dev/null 2>&1
t0=$(date +%s.%N)
acme_serve "$T_TMP/kill2" "$TLS_PORT" --acme-dir "$S3" --domain k.test
if got "$T_TMP/kill2.err" k.test; then
	ok "SIGKILL mid-order: the restarted server obtains it ($(secs_since "$t0") s)"
else
	notok "SIGKILL mid-order: the restarted server obtains it"
	diag "$T_TMP/kill2.err"
fi
wait_file_line "$T_TMP/kill2.err" "reloaded" 20
check "SIGKILL mid-order: then serves it" fetch_ok k.test "$TLS_PORT"
bg_stop "$AS_PID"

# ---- two servers sharing --acme-dir: one orders, the other finds it
S4=$T_TMP/acme4
P4=$(free_port)
acme_serve "$T_TMP/two1" "$TLS_PORT" --acme-dir "$S4" --domain s.test
pid1=$AS_PID
acme_serve "$T_TMP/two2" "$P4" --acme-dir "$S4" --domain s.test
pid2=$AS_PID
got "$T_TMP/two1.err" s.test
got "$T_TMP/two2.err" s.test
check "two servers, one --acme-dir: exactly one ordered" \
	[ "$(cat "$T_TMP/two1.out" "$T_TMP/two2.out" | grep -c "wrote .*s.test.pem")" = 1 ]
check "two servers, one --acme-dir: the other did not order" \
	[ "$(cat "$T_TMP/two1.out" "$T_TMP/two2.out" | grep -c "not ordering")" = 1 ]
wait_file_line "$T_TMP/two2.err" "reloaded" 20
wait_file_line "$T_TMP/two1.err" "reloaded" 20
check "two servers, one --acme-dir: both serve the same certificate" \
	bash -c '[ -n "$0" ] && [ "$0" = "$1" ]' "$(served s.test "$TLS_PORT")" "$(served s.test "$P4")"
bg_stop "$pid1"
bg_stop "$pid2"

# With the ASan moat (tests/run.sh): no report from any of its processes.
check "no sanitizer report in the servers' logs" \
	bash -c '! cat "$0"/*.err | grep -Eq "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer"' "$T_TMP"
# Each order's own time, as the ordering processes logged it.
for f in alpn http user renew kill2 two1 two2; do
	echo "# $f: $(grep -o "a new certificate for [a-z.]* ([0-9.]* s)" "$T_TMP/$f.err" 2>/dev/null |
		sed 's/a new certificate for //' | tr '\n' ' ')"
done
echo "# refused: $(grep -o "no certificate for [a-z.]* this time ([0-9.]* s" "$T_TMP/renew.err" "$T_TMP/kill.err" |
	sed 's/.*no certificate for //; s/ this time (/ /' | tr '\n' ',')"
bg_stop "$PEBBLE_PID"
bg_stop "$CTS_PID"
finish
