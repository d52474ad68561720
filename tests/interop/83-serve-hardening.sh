#!/usr/bin/env bash
# moat serve against what a security review found: workers under --user
# end with a master killed with SIGKILL; records that carry no HTTP bytes
# (empty ones, KeyUpdates, a record trickled a byte at a time) do not hold
# a connection past --idle-timeout, and a burst of empty records is cut;
# a worker's memory holds no secret of the connections it has finished;
# dotfiles are 404 unless --serve-dotfiles, /.well-known/ is always served.
. "$(dirname "$0")/../lib.sh"
need openssl curl python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
S=$T_TMP/site
make_site "$S"
C=$CERTS

# ---- --user: a worker ends with its master, even one killed with SIGKILL
# (the kernel clears PR_SET_PDEATHSIG on a change of user, so it must be
# set after it), and a new master can take the port at once.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 755 "$T_TMP"
	if moat_serve "user" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 2 --user nobody; then
		port=$SRV_PORT
		for i in $(seq 1 30); do [ "$(pgrep -P "$SRV_PID" | wc -l)" = 2 ] && break; sleep 0.1; done
		wks=$(pgrep -P "$SRV_PID")
		{ kill -9 "$SRV_PID"; wait "$SRV_PID"; } 2>/dev/null
		left=
		for i in $(seq 1 30); do
			left=
			for w in $wks; do alive "$w" && left="$left $w"; done
			[ -z "$left" ] && break
			sleep 0.1
		done
		check "--user nobody: both workers end within 3 s of kill -9 of the master (left:${left:- none})" [ -z "$left" ]
		bg_start "$T_TMP/again" "$MOAT" serve "$S" --listen "127.0.0.1:$port" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1
		again=$BG_PID
		if wait_file_line "$T_TMP/again.out" "^moat: serving" 5; then
			ok "--user nobody: a new master binds the port of the one killed"
		else
			notok "--user nobody: a new master binds the port of the one killed"
			diag "$T_TMP/again.err"
		fi
		bg_stop "$again"
		for w in $left; do kill -9 "$w" 2>/dev/null; done
	fi
else
	ok "--user: not root, privilege drop not tested # skip"
fi

# ---- --idle-timeout 2 against records that carry no HTTP bytes, one every
# 1.5 s (tests/tools/trickle: moat's engine as the client)
TRICKLE=${TRICKLE:-$(dirname "$MOAT")/tests/tools/trickle}
if [ ! -x "$TRICKLE" ]; then
	notok "trickle helper $TRICKLE built" "run make first"
elif moat_serve "idle" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 --idle-timeout 2; then
	for m in empty keyupdate partial; do
		case $m in
		empty) what="an empty application_data record" ;;
		keyupdate) what="a KeyUpdate" ;;
		partial) what="one byte of a record holding a request" ;;
		esac
		timeout 20 "$TRICKLE" -p "$SRV_PORT" -m "$m" -i 1500 -t 8 >"$T_TMP/trickle-$m" 2>&1
		got=$(tail -n 1 "$T_TMP/trickle-$m")
		check "--idle-timeout 2: $what every 1.5 s is closed within 3.5 s ($got)" \
			bash -c '[ "${1%% *}" = closed ] && [ "${1##* }" -le 3500 ]' _ "$got"
	done
	timeout 20 "$TRICKLE" -p "$SRV_PORT" -m request -i 1500 -t 6 >"$T_TMP/trickle-request" 2>&1
	got=$(tail -n 1 "$T_TMP/trickle-request")
	check "--idle-timeout 2: a request every 1.5 s keeps the connection open for 6 s ($got)" \
		bash -c '[ "${1%% *}" = open ]' _ "$got"
	timeout 20 "$TRICKLE" -p "$SRV_PORT" -m empty -n 40 -t 5 >"$T_TMP/trickle-burst" 2>&1
	check "40 empty records at once get unexpected_message and a close" \
		bash -c 'grep -q "alert.*unexpected_message" "$1" && grep -q "^closed" "$1"' _ "$T_TMP/trickle-burst"
	server_alive "idle"
	bg_stop "$SRV_PID"
fi

# ---- secrets are wiped: once its connections have ended, the worker's
# memory (read through /proc/PID/mem) holds none of the secrets of the key
# log, nor the KeyUpdate secrets, keys and IVs derived from them
MEMSECRETS=$(dirname "$0")/../tools/memsecrets.py
sc() { # sc OUT ARGS...: s_client to the server, stdin from the caller
	local out=$1
	shift
	timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost \
		-CAfile "$C/ca.pem" "$@" >"$out" 2>&1
}
req() { printf 'GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'; }
KL=$T_TMP/keylog
if [ "$(id -u)" != 0 ]; then
	ok "secrets: not root, /proc/PID/mem of the worker not read # skip"
elif SSLKEYLOGFILE=$KL moat_serve "secrets" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1; then
	wk=$(pgrep -P "$SRV_PID" | head -n 1)
	# The control: a connection still open must be found, or the search
	# proves nothing.
	(sleep 4 | sc "$T_TMP/held") &
	held=$!
	for i in $(seq 1 50); do [ "$(wc -l <"$KL")" -ge 5 ] && break; sleep 0.1; done
	python3 "$MEMSECRETS" "$wk" "$KL" >"$T_TMP/mem-open" 2>&1
	check "secrets: those of an open connection are found in the worker ($(tail -n 1 "$T_TMP/mem-open"))" \
		grep -q '^found .*TRAFFIC_SECRET_0' "$T_TMP/mem-open"
	wait "$held"
	U=https://localhost:$SRV_PORT
	timeout "$T_CLIENT" curl -s -o /dev/null -o /dev/null --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"$U/index.html" "$U/sub/hello.txt"
	timeout "$T_CLIENT" curl -s -o /dev/null --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 --cacert "$C/ca.pem" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "$U/index.html"
	# A KeyUpdate both ways (K asks for ours), then a request; a ticket.
	(sleep 0.5; printf 'K\n'; sleep 0.5; req; sleep 1) |
		sc "$T_TMP/ku" -ciphersuites TLS_AES_256_GCM_SHA384 -sess_out "$T_TMP/sess"
	check "secrets: s_client sent a KeyUpdate and got the page" \
		bash -c 'grep -q "^KEYUPDATE" "$1" && grep -q "$2" "$1"' _ "$T_TMP/ku" "$SITE_TOKEN"
	# Resumed, and quiet long enough (1.5 s) for the worker to park the
	# cipher contexts and make them again from the secrets.
	(sleep 1.5; req; sleep 1) | sc "$T_TMP/resumed" -ciphersuites TLS_AES_256_GCM_SHA384 -sess_in "$T_TMP/sess"
	check "secrets: s_client resumed, parked and got the page" \
		bash -c 'grep -q "^Reused" "$1" && grep -q "$2" "$1"' _ "$T_TMP/resumed" "$SITE_TOKEN"
	sleep 3 # every connection closed and its linger over
	ss -Htn "( sport = :$SRV_PORT )" >"$T_TMP/conns"
	python3 "$MEMSECRETS" "$wk" "$KL" >"$T_TMP/mem-closed" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		ok "secrets: none of $(grep -c . "$KL") key log lines (or what derives from them) is in the worker after the connections ended ($(tail -n 1 "$T_TMP/mem-closed"))"
	else
		notok "secrets: none of the key log's secrets is in the worker after the connections ended" "exit $rc"
		diag "$T_TMP/mem-closed" "$T_TMP/conns"
	fi
	bg_stop "$SRV_PID"
fi

# ---- dotfiles: hidden unless --serve-dotfiles; /.well-known/ always served
D=$T_TMP/dots
make_site "$D"
mkdir -p "$D/.git" "$D/.well-known/acme-challenge" "$D/sub/.hidden"
echo "secret-env-$SITE_TOKEN" >"$D/.env"
echo "secret-git-$SITE_TOKEN" >"$D/.git/config"
echo "secret-pw-$SITE_TOKEN" >"$D/sub/.htpasswd"
echo "secret-dir-$SITE_TOKEN" >"$D/sub/.hidden/x.txt"
echo "secret-wk-$SITE_TOKEN" >"$D/.well-known/.secret"
echo "Contact: mailto:security@example.com" >"$D/.well-known/security.txt"
echo "token-$SITE_TOKEN" >"$D/.well-known/acme-challenge/tok"
status() { # status PATH: the status code of a GET
	timeout "$T_CLIENT" curl -s -o /dev/null -w '%{http_code}' --path-as-is --cacert "$C/ca.pem" \
		--resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT$1"
}
hidden=(/.env /.git/config /.git/ /.git /sub/.htpasswd /sub/.hidden/x.txt /%2eenv /./.env
	/sub/%2Ehtpasswd /.well-known/.secret //.env /.well-known/../.env)
if moat_serve "dotfiles" "$D" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1; then
	for p in "${hidden[@]}"; do
		a=$(status "$p")
		check "dotfiles: GET $p is 404, or 400 for .. (got $a)" bash -c "[ '$a' = 404 ] || { [ '$a' = 400 ] && [[ '$p' == *..* ]]; }"
	done
	for p in /.well-known/security.txt /.well-known/acme-challenge/tok /sub/hello.txt /%2ewell-known/security.txt; do
		a=$(status "$p")
		check "dotfiles: GET $p is served (got $a)" [ "$a" = 200 ]
	done
	bg_stop "$SRV_PID"
fi
if moat_serve "dotfiles on" "$D" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 --serve-dotfiles; then
	for p in /.env /.git/config /sub/.htpasswd /.well-known/.secret; do
		a=$(status "$p")
		check "--serve-dotfiles: GET $p is served (got $a)" [ "$a" = 200 ]
	done
	bg_stop "$SRV_PID"
fi
printf 'serve-dotfiles on\n' >"$T_TMP/dots.conf"
if moat_serve "dotfiles config" "$D" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 --config "$T_TMP/dots.conf"; then
	a=$(status /.env)
	check "config serve-dotfiles on: GET /.env is served (got $a)" [ "$a" = 200 ]
	bg_stop "$SRV_PID"
fi
printf 'serve-dotfiles perhaps\n' >"$T_TMP/bad.conf"
timeout "$T_CLIENT" "$MOAT" serve "$D" --config "$T_TMP/bad.conf" >"$T_TMP/bad.out" 2>&1
rc=$?
check "config serve-dotfiles perhaps: exit 2 naming file, line and setting (exit $rc)" \
	bash -c '[ "$1" = 2 ] && grep -q "bad.conf:1: serve-dotfiles takes on or off" "$2"' _ "$rc" "$T_TMP/bad.out"
timeout "$T_CLIENT" "$MOAT" serve "$D" --serve-dotfiles=perhaps >"$T_TMP/bad2.out" 2>&1
rc=$?
check "--serve-dotfiles=perhaps: exit 2 naming the flag (exit $rc)" \
	bash -c '[ "$1" = 2 ] && grep -q "serve-dotfiles takes on or off" "$2"' _ "$rc" "$T_TMP/bad2.out"
timeout "$T_CLIENT" "$MOAT" serve --help >"$T_TMP/help.out" 2>&1
check "moat serve --help lists --serve-dotfiles" has "$T_TMP/help.out" "--serve-dotfiles"

finish
