#!/usr/bin/env bash
# Key logs: with SSLKEYLOGFILE set, tshark must decrypt what moat serve and
# moat get sent, and find the HTTP request inside.
. "$(dirname "$0")/../lib.sh"
need tshark curl openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"

# capture_start PORT: tshark on lo for that port; sets CAP_PID and CAP_FILE.
capture_start() {
	CAP_FILE=$T_TMP/cap-$1.pcapng
	rm -f "$CAP_FILE" "$T_TMP/tshark-$1.err"
	bg_start "$T_TMP/tshark-$1" tshark -i lo -f "tcp port $1" -w "$CAP_FILE"
	CAP_PID=$BG_PID
	# tshark says "Capturing on 'Loopback: lo'" once it is listening, but
	# on a busy machine packets can still slip past just after: a moment.
	wait_file_line "$T_TMP/tshark-$1.err" "Capturing on" 15 && sleep 1
}
# capture PORT CMD...: CMD's traffic to PORT, captured. A capture that
# caught no packet at all (tshark not yet receiving: a capture-tool race,
# nothing of moat's) is taken once more, and said so.
capture() {
	local port=$1 try
	shift
	for try in 1 2; do
		capture_start "$port" || return 1
		"$@"
		capture_stop
		[ "$(timeout 60 tshark -r "$CAP_FILE" 2>/dev/null | grep -c .)" -gt 0 ] && return 0
		echo "# capture $try on port $port caught no packet; again"
	done
	return 0
}
capture_stop() {
	sleep 0.5 # let the last packets reach the capture
	# SIGINT, and time to write the file out: on a busy machine tshark can
	# take more than bg_stop's few seconds, and a SIGKILL would leave a
	# capture with no packets in it.
	kill -INT "$CAP_PID" 2>/dev/null
	timeout 30 tail --pid="$CAP_PID" -f /dev/null 2>/dev/null
	bg_stop "$CAP_PID"
}
# decrypts NAME KEYLOG: the capture, decrypted with KEYLOG, shows GET /index.html.
decrypts() {
	local name=$1 keylog=$2 out=$T_TMP/decoded.$RANDOM
	if [ ! -s "$keylog" ]; then
		notok "$name" "key log $keylog is empty or missing"
		return
	fi
	timeout 60 tshark -r "$CAP_FILE" -o "tls.keylog_file:$keylog" -Y http \
		-T fields -e http.request.method -e http.request.uri >"$out" 2>&1
	if has "$out" '^GET	/index.html'; then
		ok "$name"
	else
		notok "$name" "no decrypted GET /index.html in the capture"
		diag "$out"
		timeout 60 tshark -r "$CAP_FILE" 2>&1 | tail -n 8 | sed 's/^/#   /'
	fi
}

# opaque NAME: without a key log, tshark sees TLS but no HTTP in the capture.
opaque() {
	local out=$T_TMP/opaque.$RANDOM
	timeout 60 tshark -r "$CAP_FILE" -Y http >"$out" 2>/dev/null
	local n_http
	n_http=$(grep -c . "$out")
	if [ "$n_http" -eq 0 ] && timeout 60 tshark -r "$CAP_FILE" -Y tls 2>/dev/null | grep -q .; then
		ok "$1"
	else
		notok "$1" "$n_http HTTP lines visible, or no TLS seen"
		diag "$out"
	fi
}

# moat serve's key log, read with curl as the client.
KEYLOG=$T_TMP/serve.keylog
if SSLKEYLOGFILE=$KEYLOG moat_serve "tshark serve" "$T_TMP/site" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"; then
	fetch() {
		timeout "$T_CLIENT" curl -sS --http1.1 --cacert "$CERTS/ca.pem" --resolve "localhost:$SRV_PORT:127.0.0.1" \
			"https://localhost:$SRV_PORT/index.html" >"$T_TMP/curl.out" 2>&1
	}
	if capture "$SRV_PORT" fetch; then
		check "tshark serve: curl got the page" has "$T_TMP/curl.out" "$SITE_TOKEN"
		decrypts "tshark serve: moat serve's SSLKEYLOGFILE decrypts the capture" "$KEYLOG"
		opaque "tshark serve: without the key log the capture shows no HTTP"
	else
		notok "tshark serve: tshark captures on lo"
		diag "$T_TMP/tshark-$SRV_PORT.err"
	fi
	bg_stop "$SRV_PID"
fi

# moat get's key log, against openssl s_server.
KEYLOG=$T_TMP/get.keylog
if s_server_start "tshark get" "$T_TMP/site"; then
	fetch() {
		SSLKEYLOGFILE=$KEYLOG moat_get "tshark get" "$T_TMP/get.out" --cacert "$CERTS/ca.pem" \
			"https://localhost:$PEER_PORT/index.html"
	}
	if capture "$PEER_PORT" fetch; then
		check "tshark get: moat get got the page" has "$T_TMP/get.out" "$SITE_TOKEN"
		decrypts "tshark get: moat get's SSLKEYLOGFILE decrypts the capture" "$KEYLOG"
		opaque "tshark get: without the key log the capture shows no HTTP"
	else
		notok "tshark get: tshark captures on lo"
		diag "$T_TMP/tshark-$PEER_PORT.err"
	fi
	bg_stop "$PEER_PID"
fi
finish
