#!/usr/bin/env bash
# moat serve --metrics scraped by Debian's Prometheus server: a curl loop
# makes N requests over two workers, and a query through Prometheus's
# HTTP API (/api/v1/query) returns exactly N (and the 404s apart); the
# live exposition passes `promtool check metrics`; handshakes, groups,
# bytes, the duration histogram, certificate expiry, ticket-key age and a
# worker killed and restarted are reported; an open connection; proxy
# backends up and failing; a certificate replaced and reloaded has its
# new expiry; /metrics answers 404 and 405 elsewhere; a bad --metrics
# value exits 2; `metrics` in a config file.
. "$(dirname "$0")/../lib.sh"
need prometheus promtool curl python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
C=$CERTS
head -c 80 /dev/urandom >"$T_TMP/keys"
touch -d '-1 hour' "$T_TMP/keys"

cp "$C/p256.pem" "$T_TMP/cur.pem"
cp "$C/p256.key" "$T_TMP/cur.key"
MP=$(free_port) PY=$(free_port) DEAD=$(free_port)
mkdir -p "$T_TMP/py"
echo "from python" >"$T_TMP/py/index.html"
bg_start "$T_TMP/python" python3 -m http.server --bind 127.0.0.1 --directory "$T_TMP/py" "$PY"
moat_serve "metrics" "$T_TMP/site" --cert "$T_TMP/cur.pem" --key "$T_TMP/cur.key" \
	--cert "$C/wrongname.pem" --key "$C/wrongname.key" --workers 2 \
	--proxy "/app/=http://127.0.0.1:$PY/" --proxy "/dead/=http://127.0.0.1:$DEAD/" \
	--ticket-keys "$T_TMP/keys" --metrics "$MP" || { finish; exit; }
wait_listen "$PY" || notok "metrics: python3 http.server starts"
check "metrics: the banner names http://127.0.0.1:$MP/metrics (a bare port is loopback)" \
	grep -q "^moat: metrics on http://127.0.0.1:$MP/metrics$" "$SRV_LOG.out"
M=http://127.0.0.1:$MP/metrics
scrape() { curl -s --max-time "$T_CLIENT" "$M"; }
val() { # METRIC-WITH-LABELS: its value in the live exposition
	scrape | awk -v k="$1" '$1 == k { print $2 }'
}

# Prometheus, on its own port and storage, scraping every second.
PP=$(free_port)
while [ "$PP" = "$MP" ] || [ "$PP" = "$SRV_PORT" ]; do PP=$(free_port); done
cat >"$T_TMP/prom.yml" <<EOT
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: moat
    static_configs:
      - targets: ['127.0.0.1:$MP']
EOT
bg_start "$T_TMP/prom" prometheus --config.file="$T_TMP/prom.yml" \
	--storage.tsdb.path="$T_TMP/prom-data" --web.listen-address="127.0.0.1:$PP" \
	--log.level=warn
PROM_PID=$BG_PID
if ! wait_listen "$PP" 60; then
	notok "prometheus: starts" "not listening within 60 s"
	diag "$T_TMP/prom.err"
fi

N=25
fails=0
for i in $(seq 1 $N); do
	curl -sk --max-time "$T_CLIENT" -o /dev/null --resolve "localhost:$SRV_PORT:127.0.0.1" \
		"https://localhost:$SRV_PORT/index.html" || fails=$((fails + 1))
done
for i in 1 2 3; do
	curl -sk --max-time "$T_CLIENT" -o /dev/null "https://127.0.0.1:$SRV_PORT/missing-$i"
done
check "metrics: the curl loop's $N requests all answered" test "$fails" -eq 0

# query EXPR: the value Prometheus returns for an instant query ("" if none).
query() {
	curl -s --max-time "$T_CLIENT" "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys
d = json.load(sys.stdin)
r = d["data"]["result"] if d.get("status") == "success" else []
print(r[0]["value"][1] if len(r) == 1 else "")' 2>/dev/null
}
# poll EXPR WANT: until Prometheus answers WANT (bounded: 60 s).
poll() {
	local i got=
	for i in $(seq 1 120); do
		got=$(query "$1")
		[ "$got" = "$2" ] && return 0
		sleep 0.5
	done
	echo "# $1 = '${got}', want '$2'"
	return 1
}
check "prometheus: up{job=\"moat\"} is 1 (it scrapes moat's /metrics)" poll 'up{job="moat"}' 1
check "prometheus: /api/v1/query sum(moat_http_requests_total{code=\"2xx\"}) is the loop's $N" \
	poll 'sum(moat_http_requests_total{method="GET",code="2xx"})' "$N"
check "prometheus: the 3 requests for missing files are the 4xx" \
	poll 'sum(moat_http_requests_total{code="4xx"})' 3
check "prometheus: the histogram counted every request" \
	poll 'moat_http_request_duration_seconds_count' "$((N + 3))"
# rate() needs two scrapes of a series within its window: polled (30 s).
rate_back() {
	local i
	for i in $(seq 1 60); do
		curl -s --max-time "$T_CLIENT" "http://127.0.0.1:$PP/api/v1/query" \
			--data-urlencode 'query=rate(moat_http_requests_total[1m])' | grep -q '"result":\[{' && return 0
		sleep 0.5
	done
	return 1
}
check "prometheus: rate() works on the counter (a number comes back)" rate_back

scrape >"$T_TMP/live.txt"
if promtool check metrics <"$T_TMP/live.txt" >"$T_TMP/promtool.log" 2>&1; then
	ok "metrics: promtool check metrics finds no problem in the live exposition"
else
	notok "metrics: promtool check metrics finds no problem in the live exposition"
	diag "$T_TMP/promtool.log"
fi
check "metrics: one connection accepted per curl" \
	test "$(val moat_connections_accepted_total)" = "$((N + 3))"
check "metrics: as many full handshakes" \
	test "$(val 'moat_tls_handshakes_total{outcome="full"}')" = "$((N + 3))"
check "metrics: all TLSv1.3 over x25519" test "$(val 'moat_tls_versions_negotiated_total{version="TLSv1.3"}')" = "$((N + 3))" -a \
	"$(val 'moat_tls_groups_negotiated_total{group="x25519"}')" = "$((N + 3))"
check "metrics: no connection open now" test "$(val moat_connections_open)" = 0
check "metrics: bytes in and out counted" \
	test "$(val moat_received_bytes_total)" -gt 1000 -a "$(val moat_sent_bytes_total)" -gt 1000
exp=$(val 'moat_certificate_expiry_seconds{name="localhost"}')
na=$(date -d "$(openssl x509 -in "$C/p256.pem" -noout -enddate | cut -d= -f2)" +%s)
check "metrics: the certificate's expiry is its notAfter less now (${exp:-none} s)" \
	test "${exp:-0}" -gt $((na - $(date +%s) - 30)) -a "${exp:-0}" -le $((na - $(date +%s) + 30))
age=$(val moat_ticket_key_age_seconds)
check "metrics: the ticket key file's age is about an hour (${age:-none} s)" \
	test "${age:-0}" -ge 3590 -a "${age:-0}" -le 3700

# A failed handshake: a ClientHello offering nothing moat speaks (TLS 1.1).
openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null \
	>/dev/null 2>&1
check "metrics: a TLS 1.1-only client is a failed handshake, by its alert" \
	test "$(val 'moat_tls_handshakes_total{outcome="failed"}')" = 1 -a \
	"$(scrape | grep -c '^moat_tls_handshake_failures_total{alert="protocol_version"} 1$')" = 1

# A worker killed: the master starts another and counts it.
w=$(pgrep -P "$SRV_PID" | head -1)
[ -n "$w" ] && kill -9 "$w"
for i in $(seq 1 50); do [ "$(val moat_worker_restarts_total)" = 1 ] && break; sleep 0.2; done
check "metrics: a worker killed is a restart counted" test "$(val moat_worker_restarts_total)" = 1
check "metrics: the dead worker's requests still count" \
	test "$(val 'moat_http_requests_total{method="GET",code="2xx"}')" = "$N"

code() { curl -s --max-time "$T_CLIENT" -o /dev/null -w '%{http_code}' "$@"; }

# An open connection: a TLS handshake, then nothing, held a while.
python3 -c 'import socket,ssl,sys,time
c=ssl.create_default_context(); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE
s=c.wrap_socket(socket.create_connection(("127.0.0.1",int(sys.argv[1]))))
time.sleep(4)' "$SRV_PORT" &
HOLD=$!
for i in $(seq 1 30); do [ "$(val moat_connections_open)" = 1 ] && break; sleep 0.1; done
check "metrics: a connection held open is 1 open connection" test "$(val moat_connections_open)" = 1
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
for i in $(seq 1 30); do [ "$(val moat_connections_open)" = 0 ] && break; sleep 0.1; done
check "metrics: and 0 once it closed" test "$(val moat_connections_open)" = 0

# Proxy backends: one answers, one refuses.
check "metrics: /app/ through the proxy answers" test "$(code -k "https://127.0.0.1:$SRV_PORT/app/")" = 200
check "metrics: the backend that answered is up" \
	test "$(val "moat_proxy_backend_up{backend=\"http://127.0.0.1:$PY/\"}")" = 1
check "metrics: /dead/ is 502" test "$(code -k "https://127.0.0.1:$SRV_PORT/dead/x")" = 502
check "metrics: the refusing backend is down, with a connect error" \
	test "$(val "moat_proxy_backend_up{backend=\"http://127.0.0.1:$DEAD/\"}")" = 0 -a \
	"$(val "moat_proxy_backend_errors_total{backend=\"http://127.0.0.1:$DEAD/\",error=\"connect\"}")" -ge 1
check "metrics: the 502 is a 5xx" test "$(val 'moat_http_requests_total{method="GET",code="5xx"}')" = 1

# The second certificate is labelled by its name; replacing the first and
# reloading (as a renewal does) shows the new certificate's expiry.
check "metrics: each certificate by its DNS name" \
	test -n "$(val 'moat_certificate_expiry_seconds{name="wrong.example"}')"
(
	cd "$C" &&
		openssl req -new -key p256.key -subj /CN=localhost -out renew.csr 2>/dev/null &&
		openssl x509 -req -in renew.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile leaf.ext -out renew.pem 2>/dev/null
) && cp "$C/renew.pem" "$T_TMP/cur.pem"
kill -HUP "$SRV_PID"
wait_file_line "$SRV_LOG.err" 'reloaded (generation 1)'
exp=$(val 'moat_certificate_expiry_seconds{name="localhost"}')
check "metrics: after the reload, the renewed certificate's 2 days (${exp:-none} s)" \
	test "${exp:-0}" -gt $((2 * 86400 - 120)) -a "${exp:-0}" -le $((2 * 86400))
check "metrics: another path is 404" test "$(code "http://127.0.0.1:$MP/")" = 404
check "metrics: POST is 405" test "$(code -X POST "http://127.0.0.1:$MP/metrics")" = 405
check "metrics: a 9000-byte request line gets its 414, not a reset" bash -c "timeout $T_CLIENT python3 -c '
import socket, sys
s = socket.create_connection((\"127.0.0.1\", $MP))
s.sendall(b\"GET /\" + b\"a\" * 9000)
d = b\"\"
while True:
    b = s.recv(65536)
    if not b: break
    d += b
sys.exit(not d.startswith(b\"HTTP/1.1 414 \"))'"
check "metrics: HEAD has the content type of format 0.0.4" \
	bash -c "curl -sI --max-time $T_CLIENT '$M' | grep -qi '^content-type: text/plain; version=0.0.4'"
# A client that sends nothing is dropped after a bounded wait; the master
# goes on answering.
python3 -c 'import socket,time; s=socket.create_connection(("127.0.0.1",'"$MP"')); time.sleep(3)' &
SILENT=$!
sleep 0.3
check "metrics: a silent client does not stop the next scrape" test "$(code "$M")" = 200
wait "$SILENT"

"$MOAT" serve "$T_TMP/site" --listen "127.0.0.1:$(free_port)" --metrics 127.0.0.1:99999 \
	>"$T_TMP/bad.out" 2>&1
check "metrics: --metrics 127.0.0.1:99999 exits 2" test $? -eq 2
check "metrics: and says what is wrong" grep -q "bad --metrics address 127.0.0.1:99999" "$T_TMP/bad.out"

# In a config file, with a port on another address form.
MP2=$(free_port)
printf 'metrics 127.0.0.1:%s\ncert %s\nkey %s\n' "$MP2" "$C/p256.pem" "$C/p256.key" >"$T_TMP/m.conf"
moat_serve "metrics config" "$T_TMP/site" --config "$T_TMP/m.conf" --workers 1 && {
	curl -sk --max-time "$T_CLIENT" -o /dev/null "https://127.0.0.1:$SRV_PORT/"
	check "metrics: a config file's metrics line serves /metrics" \
		bash -c "curl -s --max-time $T_CLIENT http://127.0.0.1:$MP2/metrics | grep -q '^moat_http_requests_total{method=\"GET\",code=\"2xx\"} 1$'"
}
bg_stop "$PROM_PID"
finish
