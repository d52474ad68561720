#!/usr/bin/env bash
# HTTP/2 attacks known from the field against moat serve, as raw frames
# (tests/tools/h2attack.py): rapid reset (CVE-2023-44487), CONTINUATION
# flood (CVE-2024-28182), an HPACK bomb, SETTINGS/PING/WINDOW_UPDATE and
# empty-DATA floods, an oversized header list (431), a zero-window stall
# and a body that never ends (--idle-timeout still ends them), garbage
# after the preface. After each, another client is served; the worker's
# memory stays bounded (RSS measured) and moat serve stays up.
. "$(dirname "$0")/../lib.sh"
need curl node openssl || { finish; exit; }
need_moat
PY3=/usr/bin/python3 # Debian's, with python3-h2 (hpack)
ATTACK=$MOAT_ROOT/tests/tools/h2attack.py
gen_certs || { finish; exit; }
S=$T_TMP/site
make_site "$S"
head -c 4000000 /dev/urandom >"$S/big.txt"
NP=$(free_port)
bg_start "$T_TMP/node" node "$MOAT_ROOT/tests/apps/echo.js" "$NP" n1
wait_listen "$NP" || notok "h2 attacks: the node backend starts"

# the worker's VmRSS bound (ASan's shadow memory and quarantine take more)
case $MOAT in */asan/*) RSS_BOUND_KB=${RSS_BOUND_KB:-524288} ;; esac
RSS_BOUND_KB=${RSS_BOUND_KB:-65536}
rss() { for p in $(pgrep -P "$SRV_PID"); do awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null; done | sort -n | tail -1; }

if moat_serve "h2 attacks" "$S" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" --workers 1 \
	--idle-timeout 3 --http2-max-streams 100 --proxy "http://127.0.0.1:$NP"; then
	P=$SRV_PORT
	rss0=$(rss)
	: >"$T_TMP/rss"
	(while kill -0 "$SRV_PID" 2>/dev/null; do rss >>"$T_TMP/rss"; sleep 0.1; done) &
	W=$!
	served() {
		local got
		got=$(timeout "$T_CLIENT" curl -sS --http2 --cacert "$CERTS/ca.pem" \
			--resolve "localhost:$P:127.0.0.1" "https://localhost:$P/index.html" 2>&1)
		grep -q "$SITE_TOKEN" <<<"$got"
	}
	# attack NAME WANT_REGEX [SECONDS]
	attack() {
		local name=$1 want=$2 secs=${3:-10} out t0 t1
		out=$T_TMP/attack-$name
		t0=$(date +%s.%N)
		timeout $((secs + 20)) "$PY3" "$ATTACK" "$P" "$name" "$secs" >"$out" 2>&1
		t1=$(date +%s.%N)
		if grep -Eqx -- "$want" "$out"; then ok "h2 attack $name: $(head -1 "$out") ($(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s)"; else
			notok "h2 attack $name" "want /$want/"
			diag "$out"
		fi
		check "h2 attack $name: another client is served afterwards" served
	}
	# GOAWAY ENHANCE_YOUR_CALM (0xb = 11)
	attack rapid-reset 'goaway 11 [0-9]+'
	attack continuation 'goaway 11 1'
	attack hpack-bomb 'goaway 11 [0-9]+'
	attack settings-flood 'goaway 11 0'
	attack ping-flood 'goaway 11 0'
	attack window-update-flood 'goaway 11 0'
	attack empty-data-flood 'goaway 11 [0-9]+'
	# a header list past --max-header-size: 431 on the stream, no more
	attack big-headers 'status 431'
	# --idle-timeout 3 ends them whatever they send (PINGs included)
	attack zero-window 'closed' 15
	# (answered by the files' 405 or, through the --proxy fallback, by the
	# backend at once; the stream is never reset)
	attack unfinished-body 'status (200|405) rst None closed' 15
	# (9=1: SETTINGS_NO_RFC7540_PRIORITIES, RFC 9218 2.1)
	attack refused-streams '2=0 3=100 4=262144 6=40960 9=1'
	attack garbage 'goaway [1-9][0-9]* 0'
	# several at once, while a client keeps being served
	apids=()
	for i in 1 2 3 4; do
		timeout 30 "$PY3" "$ATTACK" "$P" rapid-reset 10 >"$T_TMP/par-$i" 2>&1 &
		apids+=($!)
		timeout 30 "$PY3" "$ATTACK" "$P" continuation 10 >"$T_TMP/par-c$i" 2>&1 &
		apids+=($!)
	done
	good=0
	for i in $(seq 1 10); do served && good=$((good + 1)); done
	wait "${apids[@]}" 2>/dev/null
	check "h2 attacks: 8 attackers at once, a client served 10 of 10 times meanwhile ($good)" [ "$good" -eq 10 ]
	check "h2 attacks: all 8 got GOAWAY ENHANCE_YOUR_CALM" bash -c "[ \$(cat '$T_TMP'/par-* | grep -c '^goaway 11 ') -eq 8 ]"
	kill "$W"
	wait "$W" 2>/dev/null
	max=$(sort -n "$T_TMP/rss" | tail -1)
	echo "# worker RSS: ${rss0} kB before, max ${max} kB during the attacks"
	check "h2 attacks: worker RSS stayed under $RSS_BOUND_KB kB (max ${max:-?} kB)" test "${max:-999999}" -lt "$RSS_BOUND_KB"
	server_alive "h2 attacks"
fi
finish
