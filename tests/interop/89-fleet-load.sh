#!/usr/bin/env bash
# A fleet under load: Debian's haproxy in TCP mode (send-proxy-v2, health
# checks every 200 ms, observe layer4, retries with redispatch) in front of
# two moat serve sharing one --ticket-keys file, wrk through it:
# - one server SIGKILLed (master and worker) during a wrk run: the
#   requests cut on it are counted and reported; haproxy marks it DOWN; a
#   wrk run from then on sees no error and no non-2xx;
# - a rolling restart under wrk (SIGTERM to A, start A again, wait until
#   haproxy has it UP, then the same for B) loses no request: wrk's socket
#   errors and non-2xx are 0, and both servers answered;
# - ticket-key rotation on both (the new key first in the file, then
#   SIGHUP): a session made before it resumes on either server after it;
#   one made after it resumes across; dropping the old key ends the old
#   session's resumption (a full handshake), so the check can fail;
# - moat get --session through the balancer: a session from A resumes on B.
# Each server reports on --metrics; the requests each answered are read
# there.
. "$(dirname "$0")/../lib.sh"
need haproxy wrk python3 openssl curl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
C=$CERTS
head -c 160 /dev/urandom >"$T_TMP/keys"
WRK_C=${WRK_C:-8}

ports=" "
port() { # a free port not yet handed out here
	local p
	p=$(free_port)
	while [[ $ports == *" $p "* ]]; do p=$(free_port); done
	ports+="$p "
	echo "$p"
}
A=$(port) B=$(port) MA=$(port) MB=$(port) FL=$(port) FA=$(port) FB=$(port)

# start_srv NAME PORT MPORT: moat serve NAME (A or B) on PORT, in the
# background; sets NAME_PID. Its stderr is appended to across restarts.
start_srv() {
	local n=$1 p=$2 m=$3
	MOAT_CA_HOME=$T_TMP/ca "$MOAT" serve "$T_TMP/site" --listen "127.0.0.1:$p" --workers 1 \
		--cert "$C/p256.pem" --key "$C/p256.key" --ticket-keys "$T_TMP/keys" \
		--proxy-protocol https --proxy-protocol-from 127.0.0.1/32 --stop-timeout 5 \
		--metrics "$m" --access-log "$T_TMP/$n.log" >>"$T_TMP/$n.out" 2>>"$T_TMP/$n.err" </dev/null &
	printf -v "${n}_PID" '%s' "$!"
	T_PIDS+=("$!")
	wait_listen "$p" || notok "fleet: server $n starts on $p"
}
start_srv A "$A" "$MA"
start_srv B "$B" "$MB"

cat >"$T_TMP/haproxy.cfg" <<CFG
global
    maxconn 500
    stats socket $T_TMP/hap.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 20s
    timeout server 20s
    # A connection refused (a server stopped or dead) is tried again, on
    # another server from the second try on.
    retries 3
    option redispatch 1
frontend fl
    bind 127.0.0.1:$FL
    default_backend both
backend both
    balance roundrobin
    # Health checks every 200 ms (100 ms while changing state), down after
    # 2 failures, up after 2 successes; live traffic is watched too: a
    # connection error marks the server down at once.
    default-server send-proxy-v2 check inter 200 fastinter 100 downinter 200 fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
    server a 127.0.0.1:$A
    server b 127.0.0.1:$B
$(hap_direct a "$FA" "$A")
$(hap_direct b "$FB" "$B")
CFG
haproxy_start "$FB"

# state SERVER: UP, DOWN, ... of a server of backend "both".
state() { hap "show stat" | awk -F, -v s="$1" '$1 == "both" && $2 == s { print $18 }'; }
# until_state SERVER STATE: bounded wait (20 s).
until_state() {
	local i
	for i in $(seq 1 100); do
		[[ $(state "$1") == "$2"* ]] && return 0
		sleep 0.2
	done
	return 1
}
check "haproxy: a is UP (LOCAL health checks)" until_state a UP
check "haproxy: b is UP" until_state b UP

# wrk_run OUT SECONDS [ARGS]: wrk through the balancer, keep-alive
# connections (or, with -H "Connection: close", one per request).
wrk_run() {
	local out=$1 secs=$2
	shift 2
	timeout $((secs + 30)) wrk -t2 -c"$WRK_C" -d"$secs"s --timeout 10s "$@" \
		"https://127.0.0.1:$FL/index.html" >"$out" 2>&1
}
# wrk_errors OUT: socket errors plus non-2xx/3xx responses ("" if wrk did
# not report).
wrk_errors() {
	grep -q 'requests in' "$1" || return 0
	awk '/Socket errors:/ { gsub(",", ""); e += $4 + $6 + $8 + $10 }
	     /Non-2xx or 3xx responses:/ { e += $5 } END { print e + 0 }' "$1"
}
wrk_requests() { awk '/requests in/ { print $1 }' "$1"; }
# wrk_clean NAME OUT: ok "NAME (N requests)" when wrk's report OUT counts
# requests and no errors; sets WRK_N to the count.
wrk_clean() {
	local e
	e=$(wrk_errors "$2")
	WRK_N=$(wrk_requests "$2")
	if [ "$e" = 0 ] && [ "${WRK_N:-0}" -gt 0 ]; then
		ok "$1 ($WRK_N requests)"
	else
		notok "$1" "${e:-no report}"
		diag "$2"
	fi
}
# served PORT: the 2xx GETs a server answered, from its /metrics.
served() {
	curl -s --max-time "$T_CLIENT" "http://127.0.0.1:$1/metrics" |
		awk '$1 == "moat_http_requests_total{method=\"GET\",code=\"2xx\"}" { print $2 }'
}

# ---- 1. SIGKILL under load ----
wrk_run "$T_TMP/wrk-kill" 6 &
WRK=$!
sleep 2
a_worker=$(pgrep -P "$A_PID")
kill -9 "$A_PID" $a_worker
{ wait "$A_PID"; } 2>/dev/null # reaped here, so bash does not report it
wait "$WRK"
cut_at_kill=$(wrk_errors "$T_TMP/wrk-kill")
# Only the requests in flight on a's connections at the kill are lost: at
# most one per wrk connection; every new connection goes to b.
check "kill: wrk ran through the SIGKILL ($(wrk_requests "$T_TMP/wrk-kill") requests, $cut_at_kill cut on a at the kill, at most one per connection: $WRK_C)" \
	test -n "$cut_at_kill" -a "${cut_at_kill:-99}" -le "$WRK_C"
check "kill: haproxy marks a DOWN" until_state a DOWN
check "kill: b stays UP" until_state b UP
b0=$(served "$MB")
wrk_run "$T_TMP/wrk-after" 4
wrk_clean "kill: after a is taken out, wrk sees 0 errors and 0 non-2xx" "$T_TMP/wrk-after"
n_after=$WRK_N
b1=$(served "$MB")
# wrk counts what was answered within its time; the last requests of its
# connections, in flight at its end, are answered but not counted.
check "kill: b answered all of them ($((b1 - b0)) for wrk's $n_after and at most $WRK_C in flight)" \
	test "$((b1 - b0))" -ge "${n_after:-1}" -a "$((b1 - b0))" -le "$((${n_after:-0} + WRK_C))"

# ---- 2. A rolling restart under load ----
start_srv A "$A" "$MA"
check "restart: the new a is UP again" until_state a UP
# Keep-alive connections, and connections of one request each (which
# keep reaching both servers: haproxy balances connections).
wrk_run "$T_TMP/wrk-roll" 14 &
WRK=$!
wrk_run "$T_TMP/wrk-roll-close" 14 -H "Connection: close" &
WRK2=$!
sleep 2
restart() { # NAME PORT MPORT
	local pid_var=$1_PID
	kill -TERM "${!pid_var}"
	timeout 15 tail --pid="${!pid_var}" -f /dev/null
	start_srv "$1" "$2" "$3"
	until_state "${1,,}" UP
}
restart A "$A" "$MA"
ra=$?
sleep 1
restart B "$B" "$MB"
rb=$?
sleep 2
wait "$WRK" "$WRK2"
check "restart: a stopped, started again and UP within the run" test "$ra" -eq 0
check "restart: then b" test "$rb" -eq 0
wrk_clean "restart: wrk through the rolling restart: 0 errors, 0 non-2xx" "$T_TMP/wrk-roll"
wrk_clean "restart: wrk with a connection per request: 0 errors, 0 non-2xx" "$T_TMP/wrk-roll-close"
sa=$(served "$MA") sb=$(served "$MB")
check "restart: both new servers answered part of it (a $sa, b $sb)" test "${sa:-0}" -gt 0 -a "${sb:-0}" -gt 0
check "restart: each stop was graceful (exit 0, no worker killed)" \
	bash -c "! grep -q 'killed by signal\|SIGKILL' '$T_TMP/A.err' '$T_TMP/B.err'"

# ---- 3. Ticket-key rotation ----
sc() { # OUT PORT ARGS...
	local o=$1 p=$2
	shift 2
	http_req / | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$p" -servername localhost \
		-CAfile "$C/ca.pem" -ign_eof "$@" >"$o" 2>&1
}
reloads() { grep -c 'reloaded (generation' "$T_TMP/$1.err"; }
hup_both() {
	local ra rb i
	ra=$(reloads A) rb=$(reloads B)
	kill -HUP "$A_PID" "$B_PID"
	for i in $(seq 1 100); do
		[ "$(reloads A)" -gt "$ra" ] && [ "$(reloads B)" -gt "$rb" ] && return 0
		sleep 0.1
	done
	return 1
}
sc "$T_TMP/r0" "$FA" -sess_out "$T_TMP/sess-old"
check "rotate: a session made on a before the rotation" has "$T_TMP/r0" '^New, TLSv1.3'
head -c 80 /dev/urandom >"$T_TMP/newkey"
cat "$T_TMP/newkey" "$T_TMP/keys" >"$T_TMP/keys.new" && mv "$T_TMP/keys.new" "$T_TMP/keys"
check "rotate: the new key first in the file, SIGHUP to both: both reload" hup_both
sc "$T_TMP/r1" "$FB" -sess_in "$T_TMP/sess-old"
check "rotate: the old session resumes on b after the rotation" has "$T_TMP/r1" '^Reused, TLSv1.3'
sc "$T_TMP/r2" "$FA" -sess_in "$T_TMP/sess-old"
check "rotate: and on a" has "$T_TMP/r2" '^Reused, TLSv1.3'
sc "$T_TMP/r3" "$FB" -sess_out "$T_TMP/sess-new"
sc "$T_TMP/r4" "$FA" -sess_in "$T_TMP/sess-new"
check "rotate: a session made on b after it resumes on a" has "$T_TMP/r4" '^Reused, TLSv1.3'
# The old keys dropped: the old session is refused (a full handshake), the
# new one still resumes.
cp "$T_TMP/newkey" "$T_TMP/keys"
check "rotate: the old keys dropped, SIGHUP to both: both reload" hup_both
sc "$T_TMP/r5" "$FB" -sess_in "$T_TMP/sess-old"
check "rotate: then the old session gets a full handshake" has "$T_TMP/r5" '^New, TLSv1.3'
sc "$T_TMP/r6" "$FB" -sess_in "$T_TMP/sess-new"
check "rotate: and the new one still resumes" has "$T_TMP/r6" '^Reused, TLSv1.3'

# ---- 4. moat get --session through the balancer ----
S=$T_TMP/get-session
moat_get g1 "$T_TMP/g1" -v --session "$S" --cacert "$C/ca.pem" --resolve "localhost:$FA:127.0.0.1" \
	"https://localhost:$FA/index.html"
check "get: moat get --session through haproxy to a: a full handshake, the session saved" \
	bash -c "grep -q 'resumed: no' '$T_TMP/g1.err' && [ -s '$S' ]"
rb0=$(curl -s "http://127.0.0.1:$MB/metrics" | awk '$1 == "moat_tls_handshakes_total{outcome=\"resumed\"}" { print $2 }')
moat_get g2 "$T_TMP/g2" -v --session "$S" --cacert "$C/ca.pem" --resolve "localhost:$FB:127.0.0.1" \
	"https://localhost:$FB/index.html"
check "get: the same session resumes on b through haproxy (resumed: yes, the page)" \
	bash -c "grep -q 'resumed: yes' '$T_TMP/g2.err' && grep -q '$SITE_TOKEN' '$T_TMP/g2'"
rb1=$(curl -s "http://127.0.0.1:$MB/metrics" | awk '$1 == "moat_tls_handshakes_total{outcome=\"resumed\"}" { print $2 }')
check "get: b's metrics count the resumption" test "$((rb1 - rb0))" -eq 1
curl -s "http://127.0.0.1:$MB/metrics" >"$T_TMP/metrics-b.txt"
[ -n "${FLEET_REPORT:-}" ] && cp "$T_TMP"/wrk-* "$T_TMP/metrics-b.txt" "$FLEET_REPORT"/ 2>/dev/null
finish
