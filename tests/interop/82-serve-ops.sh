#!/usr/bin/env bash
# moat serve as an operator runs it: a worker killed with SIGKILL is
# replaced; SIGHUP during a wrk run reloads the certificate and loses no
# request; SIGTERM lets downloads finish; 1,000 slowloris connections are cut
# while curl is served; --user drops privileges; headless Chromium
# trusting the test CA renders a page with CSS, an image and a script.
. "$(dirname "$0")/../lib.sh"
need openssl curl wrk python3 chromium certutil || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
S=$T_TMP/site
make_site "$S"
C=$CERTS
head -c 600000 /dev/urandom >"$S/dl.bin"

get() { # get PATH: the body, bounded
	timeout "$T_CLIENT" curl -sS --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT$1" 2>&1
}
workers() { pgrep -P "$SRV_PID" | sort; }
# kill_one SIG: sends SIG to one of the two workers and waits (bounded) for
# another to take its place; replaced=1 when one did.
kill_one() {
	local victim now i
	victim=$(workers | head -n 1)
	kill "-$1" "$victim"
	replaced=0
	for i in $(seq 1 50); do
		now=$(workers)
		if [ "$(echo "$now" | wc -l)" = 2 ] && ! echo "$now" | grep -qx "$victim"; then
			replaced=1
			break
		fi
		sleep 0.1
	done
}

# ---- a worker killed with SIGKILL is replaced
if moat_serve "workers" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 2 --error-log "$T_TMP/error.log"; then
	for i in $(seq 1 30); do [ "$(workers | wc -l)" = 2 ] && break; sleep 0.1; done
	before=$(workers)
	check "--workers 2: the master has two worker processes" [ "$(echo "$before" | wc -l)" = 2 ]
	kill_one KILL
	check "a worker killed with SIGKILL is replaced" [ $replaced = 1 ]
	good=0
	for i in 1 2 3 4 5 6; do get /index.html | grep -q "$SITE_TOKEN" && good=$((good + 1)); done
	check "service goes on after the kill ($good/6 fetched)" [ $good = 6 ]
	check "the error log says the worker was killed and replaced" has "$T_TMP/error.log" "killed by signal 9; starting another"
	# Each worker has its own SO_REUSEPORT socket: one ended by a plain
	# SIGTERM from outside is replaced too, or its share would go unserved.
	for i in $(seq 1 30); do [ "$(workers | wc -l)" = 2 ] && break; sleep 0.1; done
	kill_one TERM
	check "a worker ended by SIGTERM from outside is replaced" [ $replaced = 1 ]
	good=0
	for i in $(seq 1 12); do get /index.html | grep -q "$SITE_TOKEN" && good=$((good + 1)); done
	check "every connection is served after it ($good/12, both sockets answered)" [ $good = 12 ]
	ss -Htln "( sport = :$SRV_PORT )" >"$T_TMP/listeners"
	check "--workers 2: two listening sockets on the port (SO_REUSEPORT)" [ "$(wc -l <"$T_TMP/listeners")" = 2 ]
	# A second server on the same port is refused, not let in to share it.
	timeout "$T_CLIENT" "$MOAT" serve "$S" --listen "127.0.0.1:$SRV_PORT" --cert "$C/p256.pem" \
		--key "$C/p256.key" >"$T_TMP/second" 2>&1
	rc=$?
	check "a second moat serve on the same port fails (exit $rc, address in use)" \
		bash -c '[ "$1" = 1 ] && grep -q "Address already in use" "$2"' _ "$rc" "$T_TMP/second"
	bg_stop "$SRV_PID"
fi

# ---- SIGHUP during wrk: reloads the certificate, no request lost
cp "$C/p256.pem" "$T_TMP/live.pem"
cp "$C/p256.key" "$T_TMP/live.key"
if moat_serve "reload" "$S" --cert "$T_TMP/live.pem" --key "$T_TMP/live.key" --workers 2; then
	serial() { openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null; }
	s1=$(serial)
	# 127.0.0.1, not localhost: the server listens on v4 only, and
	# localhost may resolve to ::1 first; the Host header names the site.
	timeout 20 wrk -t2 -c16 -d5s -H 'Host: localhost' "https://127.0.0.1:$SRV_PORT/index.html" >"$T_TMP/wrk.out" 2>&1 &
	WRK=$!
	sleep 1
	cp "$C/rsa.pem" "$T_TMP/live.pem"
	cp "$C/rsa.key" "$T_TMP/live.key"
	kill -HUP "$SRV_PID"
	sleep 1.5
	kill -HUP "$SRV_PID"
	sleep 1
	s2=$(serial)
	wait $WRK
	reqs=$(awk '/requests in/ {print $1}' "$T_TMP/wrk.out")
	echo "# wrk: $(grep -E 'requests in|Requests/sec' "$T_TMP/wrk.out" | tr -s ' ' | tr '\n' ' ')"
	if [ "${reqs:-0}" -gt 100 ] && ! has "$T_TMP/wrk.out" 'Socket errors|Non-2xx'; then
		ok "SIGHUP twice during wrk -d 5: $reqs requests, 0 errors, 0 non-2xx"
	else notok "SIGHUP twice during wrk -d 5: no errors, no non-2xx" "see below"; diag "$T_TMP/wrk.out"; fi
	check "SIGHUP reloaded the certificate (serial $s1 -> $s2)" bash -c "[ -n '$s1' ] && [ -n '$s2' ] && [ '$s1' != '$s2' ]"
	for i in $(seq 1 50); do [ "$(workers | wc -l)" = 2 ] && break; sleep 0.2; done
	check "after the reloads two workers remain (old ones finished)" [ "$(workers | wc -l)" = 2 ]
	: >"$T_TMP/live.key"
	kill -HUP "$SRV_PID"
	sleep 0.5
	check "a reload with a broken key keeps serving the old configuration" bash -c "get() { $(declare -f get | tail -n +2); }; C='$C' SRV_PORT=$SRV_PORT T_CLIENT=$T_CLIENT; get /index.html | grep -q '$SITE_TOKEN'"
	check "and says so on stderr" has "$SRV_LOG.err" 'reload failed'
	bg_stop "$SRV_PID"
fi

# ---- SIGTERM while downloads run: each finishes, then the server exits
if moat_serve "stop" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 2; then
	pids=()
	for i in 1 2 3; do
		timeout 20 curl -sS --limit-rate 300k --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
			-o "$T_TMP/dl$i" "https://localhost:$SRV_PORT/dl.bin" 2>"$T_TMP/dl$i.err" &
		pids+=($!)
	done
	sleep 0.7
	kill -TERM "$SRV_PID"
	sleep 0.3
	refused=0
	timeout 5 curl -sS --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/" >/dev/null 2>&1 || refused=1
	fine=0
	for i in 0 1 2; do wait "${pids[$i]}" && cmp -s "$T_TMP/dl$((i + 1))" "$S/dl.bin" && fine=$((fine + 1)); done
	check "SIGTERM during 3 downloads: each finishes whole ($fine/3)" [ $fine = 3 ]
	check "SIGTERM: new connections are refused once stopping" [ $refused = 1 ]
	timeout 10 tail --pid="$SRV_PID" -f /dev/null
	check "SIGTERM: the master exits when the downloads are done" bash -c "! kill -0 $SRV_PID 2>/dev/null"
	bg_stop "$SRV_PID"
fi

# ---- slowloris: a byte a second, while curl is still served
if moat_serve "slowloris" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 2 --header-timeout 3 --handshake-timeout 3; then
	cat >"$T_TMP/slow.py" <<-'EOF'
		import socket, ssl, sys, time
		port, n = int(sys.argv[1]), int(sys.argv[2])
		ctx = ssl.create_default_context(cafile=sys.argv[3])
		socks = []
		for i in range(n):
		    s = socket.create_connection(("127.0.0.1", port))
		    if i % 2:  # half: a TLS session trickling a request head
		        s = ctx.wrap_socket(s, server_hostname="localhost")
		    socks.append(s)
		print("open", len(socks), flush=True)
		cut = 0
		for sec in range(7):
		    for s in list(socks):
		        try:
		            s.send(b"G" if isinstance(s, ssl.SSLSocket) else b"\x16")
		        except OSError:
		            socks.remove(s)
		            cut += 1
		    time.sleep(1)
		print("cut", cut, "of", n, flush=True)
	EOF
	(ulimit -n 4096; timeout 40 python3 "$T_TMP/slow.py" "$SRV_PORT" 1000 "$C/ca.pem" >"$T_TMP/slow.out" 2>&1) &
	SLOW=$!
	wait_file_line "$T_TMP/slow.out" '^open' 25
	t0=$(date +%s%N)
	body=$(get /index.html)
	ms=$((($(date +%s%N) - t0) / 1000000))
	check "slowloris: curl served while 1000 slow connections are open (${ms} ms)" bash -c "printf '%s' \"\$1\" | grep -q '$SITE_TOKEN'" _ "$body"
	wait $SLOW
	cut=$(awk '/^cut/ {print $2}' "$T_TMP/slow.out")
	check "slowloris: the server cut the slow connections (${cut:-0} of 1000)" [ "${cut:-0}" -ge 900 ]
	server_alive "slowloris"
	bg_stop "$SRV_PID"
fi

# ---- --user: workers run unprivileged
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	if moat_serve "user" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1 --user nobody; then
		for i in $(seq 1 30); do [ -n "$(workers)" ] && break; sleep 0.1; done
		wu=$(ps -o user= -p "$(workers | head -n 1)" 2>/dev/null | tr -d ' ')
		check "--user nobody: the worker runs as nobody (got $wu)" [ "$wu" = nobody ]
		a=$(timeout "$T_CLIENT" curl -sS -o /dev/null -w '%{http_code}' --cacert "$C/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" "https://localhost:$SRV_PORT/")
		check "--user nobody: the worker still answers over TLS (status $a)" bash -c "[ '$a' = 200 ] || [ '$a' = 404 ]"
		bg_stop "$SRV_PID"
	fi
else
	ok "--user: not root, privilege drop not tested # skip"
fi

# ---- headless Chromium: CSS, an image and a script, trusting the test CA
W=$S/web
mkdir -p "$W"
python3 - "$W/dot.png" <<-'EOF'
	import struct, sys, zlib
	w, h = 7, 5
	raw = b"".join(b"\x00" + b"\x20\x80\xc0" * w for _ in range(h))
	def chunk(t, d):
	    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
	png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
	    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
	open(sys.argv[1], "wb").write(png)
EOF
cat >"$W/index.html" <<-EOF
	<!doctype html>
	<html><head><meta charset="utf-8"><title>moat page</title>
	<link rel="stylesheet" href="style.css"></head>
	<body><h1 id="title">$SITE_TOKEN</h1><img id="dot" src="dot.png" alt="dot">
	<p id="out">script did not run</p>
	<script src="app.js"></script></body></html>
EOF
printf '#title { color: rgb(1, 2, 3); }\n' >"$W/style.css"
cat >"$W/app.js" <<-'EOF'
	window.addEventListener("load", function () {
	  var img = document.getElementById("dot");
	  var color = getComputedStyle(document.getElementById("title")).color;
	  document.getElementById("out").textContent =
	    "script ran; css color " + color + "; image " + img.naturalWidth + "x" + img.naturalHeight +
	    "; " + location.protocol;
	});
EOF
chrome_home "chromium"
if moat_serve "chromium" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 2 --access-log "$T_TMP/chrome-access.log"; then
	out=$T_TMP/chrome.dom
	HOME=$HOMEC timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync --disable-quic \
		--user-data-dir="$T_TMP/chrome-profile" --dump-dom "https://localhost:$SRV_PORT/web/" >"$out" 2>"$out.err" </dev/null
	# A screenshot as an artifact, next to the logs of make test.
	SHOT=${MOAT_ARTIFACTS:-$MOAT_ROOT/tests/out}/serve-chromium.png
	mkdir -p "$(dirname "$SHOT")" && HOME=$HOMEC timeout 60 chromium --headless --no-sandbox --disable-gpu \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync --disable-quic \
		--user-data-dir="$T_TMP/chrome-profile" --window-size=800,400 --screenshot="$SHOT" \
		"https://localhost:$SRV_PORT/web/" >/dev/null 2>&1 </dev/null
	[ -s "$SHOT" ] && echo "# screenshot: $SHOT"
	check "chromium: the screenshot $SHOT is a non-empty PNG" \
		bash -c '[ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]' _ "$SHOT"
	line=$(grep -o 'script ran[^<]*' "$out")
	echo "# chromium rendered: ${line:-nothing}"
	if has "$out" "$SITE_TOKEN" && [[ $line == *"css color rgb(1, 2, 3); image 7x5; https:"* ]]; then
		ok "chromium trusting the test CA renders the page: CSS applied, image 7x5 decoded, script ran"
	else notok "chromium trusting the test CA renders the page: CSS applied, image 7x5 decoded, script ran"; diag "$out" "$out.err"; fi
	check "chromium fetched the page, the CSS, the image and the script over HTTP/2 (access log)" bash -c \
		"for f in /web/ /web/style.css /web/dot.png /web/app.js; do grep -q \"GET \$f HTTP/2.0\\\" 200\" '$T_TMP/chrome-access.log' || exit 1; done"
	bg_stop "$SRV_PID"
fi

# ---- without --cert: the local CA's localhost certificate is renewed by
# the master itself when fewer than 30 days remain (checked every hour;
# every second here), no SIGHUP needed.
R=$T_TMP/renew-ca
old_home=${MOAT_CA_HOME-}
export MOAT_CA_HOME=$R MOAT_SERVE_RENEW_CHECK_MS=1000
if moat_serve "renew" "$S" --workers 1; then
	sleep 2.5
	check "renew: a certificate with 90 days left is not renewed (no reload)" \
		bash -c '! grep -q "renewed\|reloaded" "$1"' _ "$SRV_LOG.err"
	(
		cd "$R" || exit 1
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >short.ext
		openssl req -new -key serve/localhost-key.pem -subj /CN=localhost -out short.csr &&
			openssl x509 -req -in short.csr -CA rootCA.pem -CAkey rootCA-key.pem -CAcreateserial -days 10 \
				-extfile short.ext -out short.pem && mv short.pem serve/localhost.pem
	) >"$T_TMP/renew.log" 2>&1
	rc=$?
	check "renew: the test put a 10-day certificate in place (exit $rc)" [ $rc = 0 ] || diag "$T_TMP/renew.log"
	wait_file_line "$SRV_LOG.err" "reloaded (generation 1)" || true
	check "renew: the master renewed it and reloaded by itself" \
		bash -c 'grep -q "localhost certificate was renewed; reloading" "$1" && grep -q "reloaded (generation 1)" "$1"' _ "$SRV_LOG.err"
	check "renew: the new certificate has more than 60 days left" \
		bash -c 'openssl x509 -in "$1" -noout -checkend $((60 * 86400)) >/dev/null' _ "$R/serve/localhost.pem"
	sleep 0.5
	served=$(timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null)
	file=$(openssl x509 -in "$R/serve/localhost.pem" -noout -fingerprint -sha256 2>/dev/null)
	check "renew: new connections get the renewed certificate" bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$served" "$file"
	server_alive "renew"
	bg_stop "$SRV_PID"
fi
unset MOAT_SERVE_RENEW_CHECK_MS
if [ -n "$old_home" ]; then export MOAT_CA_HOME=$old_home; else unset MOAT_CA_HOME; fi
finish
