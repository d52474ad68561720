# tests/lib.sh: shell helpers shared by tests/run.sh and tests/interop/*.sh.
# Source it; it sets up a temp dir, a cleanup trap, ok/not-ok reporting,
# free loopback ports, test certificates and a way to start `moat serve`.
# shellcheck shell=bash

MOAT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOAT=${MOAT:-$MOAT_ROOT/build/moat}
# Seconds any single client command may take before we call it hung.
T_CLIENT=${T_CLIENT:-10}
# Seconds a server may take to say it is ready.
T_READY=${T_READY:-10}

SUITES=(TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256)
GROUPS_=(x25519 secp256r1 secp384r1)

T_PASS=0
T_FAIL=0
T_PIDS=()
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/moat-test.XXXXXX")

t_cleanup() {
	local pid
	for pid in "${T_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${T_PIDS[@]}"; do
		# Bounded: give each process a moment, then force it.
		timeout 3 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null
	done
	if [ -n "${KEEP_TMP:-}" ] || [ "$T_FAIL" -gt 0 ]; then
		echo "# kept $T_TMP (certificates, server logs)"
	else
		rm -rf "$T_TMP"
	fi
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# ok NAME / notok NAME [why...]: one TAP-like line each.
ok() {
	echo "ok - $*"
	T_PASS=$((T_PASS + 1))
}
notok() {
	local name=$1
	shift
	echo "not ok - $name${*:+ # $*}"
	T_FAIL=$((T_FAIL + 1))
}
# check NAME CMD...: ok if CMD succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else notok "$name"; fi
}
# diag LINE...: indented detail shown under a failure.
# (awk ends every line, so a file without a last newline cannot glue the
# next ok line to its end)
diag() { cat "$@" 2>/dev/null | tail -n "${DIAG_LINES:-12}" | awk '{ print "#   " $0 }'; }

# finish: exit status of the script, from the counts.
finish() {
	echo "# $(basename "$0"): $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}

# need CMD...: a missing peer is a failure, never a silent skip.
need() {
	local c missing=0
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			notok "peer $c installed" "not found in PATH; tests/run.sh installs it when run as root"
			missing=1
		fi
	done
	return $missing
}

# need_moat: the moat binary must exist.
need_moat() {
	if [ ! -x "$MOAT" ]; then
		notok "moat binary $MOAT built" "run make first"
		finish
		exit 1
	fi
}

# free_port: a TCP port nobody listens on at 127.0.0.1 right now.
# Ports come from below the kernel's ephemeral range, so that the outgoing
# connections of a load test can never take the port before the server
# binds it; one in use in any state (listening or connected) is skipped.
free_port() {
	local p i lo
	lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${lo:-0}" -gt 12000 ] || lo=61000
	for i in $(seq 1 200); do
		if [ "$lo" -eq 61000 ]; then p=$((61000 + RANDOM % 4000)); else p=$((10000 + RANDOM % (lo - 10000))); fi
		if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_listen PORT [SECONDS]: until something listens on PORT.
wait_listen() {
	local port=$1 secs=${2:-$T_READY} i
	for i in $(seq 1 $((secs * 10))); do
		ss -Htln "( sport = :$port )" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# wait_file_line FILE PATTERN [SECONDS]: until FILE has a line matching PATTERN.
wait_file_line() {
	local f=$1 pat=$2 secs=${3:-$T_READY} i
	for i in $(seq 1 $((secs * 10))); do
		grep -q -- "$pat" "$f" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

alive() { kill -0 "$1" 2>/dev/null; }

# http_status TEXT [VERSION]: the status code on TEXT's first line when it
# is an HTTP/VERSION status line (VERSION 1.1 unless given).
http_status() {
	local v=${2:-1.1}
	printf '%s' "$1" | sed -n "1s/^HTTP\/${v//./\\.} \([0-9]*\).*/\1/p" | tr -d '\r'
}
# hdr NAME TEXT: the value of the first NAME field in an answer's head.
hdr() { printf '%s' "$2" | tr -d '\r' | grep -i "^$1:" | head -n 1 | cut -d' ' -f2-; }
# expect_status NAME WANT TEXT [VERSION]: ok "NAME (WANT)" if TEXT's status
# line is HTTP/VERSION WANT; else not ok, with the head of TEXT.
expect_status() {
	local got
	got=$(http_status "$3" "$4")
	if [ "$got" = "$2" ]; then ok "$1 ($2)"; else
		notok "$1" "want HTTP/${4:-1.1} $2, got '$got'"
		printf '%s\n' "$3" | head -n 8 | sed 's/^/#   /'
	fi
}

# bg_start LOGPREFIX CMD...: start CMD in the background; sets BG_PID.
# stdout goes to LOGPREFIX.out, stderr to LOGPREFIX.err.
bg_start() {
	local pre=$1
	shift
	"$@" >"$pre.out" 2>"$pre.err" </dev/null &
	BG_PID=$!
	T_PIDS+=("$BG_PID")
}

# bg_stop PID: stop a background process (bounded wait).
bg_stop() {
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	timeout 3 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# nginx_start DIR: start nginx with DIR as its prefix. The body of the
# http block comes on stdin (server blocks and any http-level lines); the
# rest (pid, logs in DIR/logs, temp paths, user root when run as root) is
# written here to DIR/nginx.conf. Sets NGINX_PID; the caller waits for its
# ports. The cleanup trap stops it, or bg_stop "$NGINX_PID" earlier.
nginx_start() {
	local dir=$1
	mkdir -p "$dir/logs"
	{
		[ "$(id -u)" -eq 0 ] && echo "user root;"
		cat <<-EOF
			worker_processes 1;
			daemon off;
			pid $dir/nginx.pid;
			error_log $dir/logs/error.log warn;
			events { worker_connections 256; }
			http {
			    access_log $dir/logs/access.log;
			    client_body_temp_path $dir/tmp-body;
			    proxy_temp_path $dir/tmp-proxy;
			    fastcgi_temp_path $dir/tmp-fcgi;
			    uwsgi_temp_path $dir/tmp-uwsgi;
			    scgi_temp_path $dir/tmp-scgi;
		EOF
		cat
		echo "}"
	} >"$dir/nginx.conf"
	bg_start "$dir/nginx" nginx -e "$dir/logs/error.log" -p "$dir" -c "$dir/nginx.conf"
	NGINX_PID=$BG_PID
}

# haproxy_start PORT: check $T_TMP/haproxy.cfg, start haproxy on it and
# wait until it listens on PORT. Sets HAP_PID. A bad configuration or no
# listener is a failure that ends the script.
haproxy_start() {
	if ! haproxy -c -q -f "$T_TMP/haproxy.cfg" >"$T_TMP/haproxy-check.log" 2>&1; then
		notok "haproxy: the configuration is valid"
		diag "$T_TMP/haproxy-check.log"
		finish
		exit
	fi
	bg_start "$T_TMP/haproxy" haproxy -db -f "$T_TMP/haproxy.cfg"
	HAP_PID=$BG_PID
	wait_listen "$1" || { notok "haproxy: listens" "port $1"; diag "$T_TMP/haproxy.err"; finish; exit; }
}

# hap CMD: one command on haproxy's stats socket ($T_TMP/hap.sock).
hap() {
	timeout 5 python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\n")
d=b""
while True:
    b=s.recv(65536)
    if not b: break
    d+=b
sys.stdout.write(d.decode())' "$T_TMP/hap.sock" "$1"
}

# nginx_dav_cookies: location lines for a server block of nginx_start's:
# PUT into /dav/ (up to 200 MB), three Set-Cookie fields from /setcookie
# (a path, Max-Age with Secure and HttpOnly, a deeper path) and the Cookie
# field sent back by /showcookie.
nginx_dav_cookies() {
	cat <<-'EOF'
		        location /dav/ { dav_methods PUT; client_max_body_size 200m; }
		        location = /setcookie {
		            add_header Set-Cookie "n1=v1; Path=/";
		            add_header Set-Cookie "n2=v2; Max-Age=3600; Secure; HttpOnly";
		            add_header Set-Cookie "n3=v3; Path=/deep/";
		            return 200 "set\n";
		        }
		        location = /showcookie { return 200 "cookie=[$http_cookie]\n"; }
	EOF
}

# hap_direct NAME FRONT BACK: haproxy configuration lines for frontend
# fNAME on port FRONT, whose one server, NAME at 127.0.0.1:BACK, gets a v2
# PROXY header (backend onlyNAME).
hap_direct() {
	printf 'frontend f%s\n    bind 127.0.0.1:%s\n    default_backend only%s\n' "$1" "$2" "$1"
	printf 'backend only%s\n    server %s 127.0.0.1:%s send-proxy-v2\n' "$1" "$1" "$3"
}

# moat_serve NAME DIR [ARGS...]: start moat serve on a free port.
# Sets SRV_PID, SRV_PORT, SRV_LOG (prefix of .out/.err). Returns non-zero
# (and prints a not-ok line named "NAME: server starts") if it never gets ready.
moat_serve() {
	local name=$1 dir=$2
	shift 2
	SRV_PORT=$(free_port)
	SRV_LOG=$T_TMP/serve-$SRV_PORT
	export MOAT_CA_HOME=${MOAT_CA_HOME:-$T_TMP/moat-ca}
	bg_start "$SRV_LOG" "$MOAT" serve "$dir" --listen "127.0.0.1:$SRV_PORT" "$@"
	SRV_PID=$BG_PID
	if ! wait_file_line "$SRV_LOG.out" "^moat: serving .* on https://127.0.0.1:$SRV_PORT/"; then
		notok "$name: moat serve starts" "no ready line within ${T_READY}s"
		diag "$SRV_LOG.out" "$SRV_LOG.err"
		bg_stop "$SRV_PID"
		return 1
	fi
	return 0
}

# make_site DIR: a small site with a unique token in index.html.
make_site() {
	local d=$1
	mkdir -p "$d/sub"
	SITE_TOKEN="moat-token-$RANDOM$RANDOM"
	printf '<!doctype html>\n<title>moat test</title>\n<p>%s</p>\n' "$SITE_TOKEN" >"$d/index.html"
	printf 'plain text %s\n' "$SITE_TOKEN" >"$d/sub/hello.txt"
	head -c 200000 /dev/urandom | base64 >"$d/big.txt"
}

# ---------------------------------------------------------------------------
# Certificates, generated fresh with the openssl command into $CERTS.
#   ca.pem ca.key          test CA (ECDSA P-256)
#   p256.pem p256.key      leaf, localhost + 127.0.0.1, ECDSA P-256
#   p384.pem p384.key      leaf, ECDSA P-384
#   rsa.pem rsa.key        leaf, RSA-2048
#   ed25519.pem ed25519.key leaf, Ed25519
#   selfsigned.pem/.key    self-signed localhost (not from the test CA)
#   expired.pem/.key       from the test CA, expired in 2021
#   wrongname.pem/.key     from the test CA, for wrong.example only
#   *-chain.pem            leaf followed by CA (what a server sends)
gen_certs() {
	CERTS=$T_TMP/certs
	[ -f "$CERTS/ca.pem" ] && return 0
	mkdir -p "$CERTS"
	(
		set -e
		cd "$CERTS"
		exec 2>gen.log
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
		openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/O=moat tests/CN=moat test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
		cat >leaf.ext <<-EOF
			basicConstraints=critical,CA:FALSE
			keyUsage=critical,digitalSignature,keyEncipherment
			extendedKeyUsage=serverAuth
			subjectAltName=DNS:localhost,IP:127.0.0.1
		EOF
		sed 's/^subjectAltName=.*/subjectAltName=DNS:wrong.example/' leaf.ext >wrong.ext
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
		openssl genpkey -algorithm ED25519 -out ed25519.key
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out expired.key
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out wrongname.key
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out selfsigned.key
		local k
		for k in p256 p384 rsa ed25519; do
			openssl req -new -key $k.key -subj "/CN=localhost" -out $k.csr
			openssl x509 -req -in $k.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
				-days 7 -extfile leaf.ext -out $k.pem
		done
		openssl req -new -key wrongname.key -subj "/CN=wrong.example" -out wrongname.csr
		openssl x509 -req -in wrongname.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 7 -extfile wrong.ext -out wrongname.pem
		openssl req -x509 -new -key selfsigned.key -sha256 -days 7 -subj "/CN=localhost" \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out selfsigned.pem
		# An expired leaf: `openssl ca` is the only stock way to set past dates.
		mkdir -p ca-db
		: >ca-db/index.txt
		echo 1000 >ca-db/serial
		cat >ca.cnf <<-EOF
			[ca]
			default_ca = tca
			[tca]
			dir = ca-db
			database = ca-db/index.txt
			serial = ca-db/serial
			new_certs_dir = ca-db
			certificate = ca.pem
			private_key = ca.key
			default_md = sha256
			policy = anything
			unique_subject = no
			copy_extensions = none
			[anything]
			commonName = supplied
		EOF
		openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
		openssl ca -batch -notext -config ca.cnf -startdate 20200101000000Z -enddate 20210101000000Z \
			-extfile leaf.ext -in expired.csr -out expired.pem
		for k in p256 p384 rsa ed25519 expired wrongname; do
			cat $k.pem ca.pem >$k-chain.pem
		done
	) || {
		notok "test certificates generated" "see below"
		diag "$CERTS/gen.log"
		return 1
	}
}

# gen_client_cert: $CERTS/alice.pem and alice.key, a clientAuth certificate
# (CN=alice) from the test CA, for the mTLS tests. Non-zero on failure,
# with openssl's words in $CERTS/alice.log.
gen_client_cert() {
	[ -f "$CERTS/alice.pem" ] && return 0
	(
		set -e
		cd "$CERTS"
		exec >alice.log 2>&1
		printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >alice.ext
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out alice.key
		openssl req -new -key alice.key -subj "/O=moat tests/CN=alice" -out alice.csr
		openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -sha256 \
			-extfile alice.ext -out alice.pem
	)
}

# nss_db: an NSS database in $T_TMP/nssdb that trusts the test CA.
nss_db() {
	NSSDB=$T_TMP/nssdb
	[ -f "$NSSDB/cert9.db" ] && return 0
	mkdir -p "$NSSDB"
	certutil -N -d "sql:$NSSDB" --empty-password >/dev/null 2>&1 &&
		certutil -A -d "sql:$NSSDB" -n moat-test-ca -t "CT,C,C" -i "$CERTS/ca.pem" >/dev/null 2>&1
}

# chrome_home NAME: a home directory for Chromium, $HOMEC, whose NSS
# database trusts the test CA (run chromium with HOME=$HOMEC). A failure is
# reported as "NAME: an NSS database trusting the test CA".
chrome_home() {
	HOMEC=$T_TMP/chrome-home
	mkdir -p "$HOMEC/.pki/nssdb"
	certutil -N -d "sql:$HOMEC/.pki/nssdb" --empty-password >"$T_TMP/certutil.log" 2>&1 &&
		certutil -A -d "sql:$HOMEC/.pki/nssdb" -n moat-test-ca -t "C,," -i "$CERTS/ca.pem" >>"$T_TMP/certutil.log" 2>&1 ||
		notok "$1: an NSS database trusting the test CA"
}

# ---------------------------------------------------------------------------
# Names of suites and groups in each peer's own words.
suite_gnutls() {
	case $1 in
	TLS_AES_128_GCM_SHA256) echo AES-128-GCM ;;
	TLS_AES_256_GCM_SHA384) echo AES-256-GCM ;;
	TLS_CHACHA20_POLY1305_SHA256) echo CHACHA20-POLY1305 ;;
	esac
}
group_gnutls() {
	case $1 in
	x25519) echo X25519 ;;
	secp256r1) echo SECP256R1 ;;
	secp384r1) echo SECP384R1 ;;
	esac
}
suite_nss() { # cipher-suite code for tstclnt -c, and the words tstclnt -v prints
	case $1 in
	TLS_AES_128_GCM_SHA256) echo ":1301 128-bit AES-GCM" ;;
	TLS_AES_256_GCM_SHA384) echo ":1302 256-bit AES-GCM" ;;
	TLS_CHACHA20_POLY1305_SHA256) echo ":1303 256-bit CHACHA20POLY1305" ;;
	esac
}
group_nss() { # name for tstclnt -I, and the key exchange size it prints
	case $1 in
	x25519) echo "x25519 255-bit" ;;
	secp256r1) echo "P256 256-bit" ;;
	secp384r1) echo "P384 384-bit" ;;
	esac
}
# group_openssl_re GROUP: what s_client -brief prints as "Server Temp Key".
group_openssl_re() {
	case $1 in
	x25519) echo 'X25519' ;;
	secp256r1) echo '(prime256v1|secp256r1|P-256)' ;;
	secp384r1) echo '(secp384r1|P-384)' ;;
	esac
}
# gnutls_priority SUITE GROUP: a priority string allowing only these.
gnutls_priority() {
	echo "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+$(suite_gnutls "$1"):-GROUP-ALL:+GROUP-$(group_gnutls "$2")"
}

# http_req PATH: an HTTP/1.1 request for localhost that asks to close.
http_req() { printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1"; }

# has FILE PATTERN: FILE contains PATTERN (extended regex).
has() { grep -Eq -- "$2" "$1" 2>/dev/null; }

# server_alive NAME: ok if the moat server is still running.
server_alive() {
	if alive "$SRV_PID"; then
		ok "$1: moat serve still running"
	else
		notok "$1: moat serve still running" "it exited"
		diag "$SRV_LOG.err"
	fi
}

# req_hold PATH: the request, then stdin held open (bounded) so that the
# client reads the whole answer before it sees end of input.
req_hold() {
	http_req "$1"
	sleep "$T_CLIENT" 2>/dev/null
}

# s_server_start NAME DIR [ARGS...]: `openssl s_server "${PEER_PROTO:--tls1_3}" -WWW` serving
# DIR on a free port with the P-256 leaf. Sets PEER_PID, PEER_PORT, PEER_LOG.
s_server_start() {
	local name=$1 dir=$2
	shift 2
	PEER_PORT=$(free_port)
	PEER_LOG=$T_TMP/s_server-$PEER_PORT
	bg_start "$PEER_LOG" bash -c 'cd "$1" && shift && exec "$@"' _ "$dir" \
		openssl s_server "${PEER_PROTO:--tls1_3}" -WWW -alpn http/1.1 -accept "127.0.0.1:$PEER_PORT" \
		-cert "${PEER_CERT:-$CERTS/p256.pem}" -key "${PEER_KEY:-$CERTS/p256.key}" "$@"
	PEER_PID=$BG_PID
	if ! wait_listen "$PEER_PORT"; then
		notok "$name: openssl s_server starts"
		diag "$PEER_LOG.out" "$PEER_LOG.err"
		bg_stop "$PEER_PID"
		return 1
	fi
}

# gnutls_serv_start NAME PRIORITY: `gnutls-serv --http` on a free port with
# the P-256 leaf. Sets PEER_PID, PEER_PORT, PEER_LOG.
gnutls_serv_start() {
	local name=$1 prio=$2
	PEER_PORT=$(free_port)
	PEER_LOG=$T_TMP/gnutls-serv-$PEER_PORT
	bg_start "$PEER_LOG" gnutls-serv --http -p "$PEER_PORT" --x509certfile "$CERTS/p256.pem" \
		--x509keyfile "$CERTS/p256.key" --priority "$prio"
	PEER_PID=$BG_PID
	if ! wait_listen "$PEER_PORT"; then
		notok "$name: gnutls-serv starts"
		diag "$PEER_LOG.out" "$PEER_LOG.err"
		bg_stop "$PEER_PID"
		return 1
	fi
}

# moat_get NAME OUT ARGS...: run `moat get` (bounded); stdout to OUT,
# stderr to OUT.err; sets GET_RC.
moat_get() {
	local out=$2
	shift 2
	timeout "$T_CLIENT" "$MOAT" get "$@" >"$out" 2>"$out.err" </dev/null
	GET_RC=$?
}

# pebble_start NAME: Debian's pebble (Let's Encrypt's ACME test server)
# and pebble-challtestsrv as its DNS, on loopback, validating against
# $HTTP_PORT (http-01) and $TLS_PORT (tls-alpn-01) of 127.0.0.1 (the
# default A record). pebble's HTTPS certificate comes from moat ca; its
# random badNonce answers stay on, raised from 5% to 20% so that the
# retry is exercised in every run; no authorization is reused
# (PEBBLE_AUTHZREUSE=0), so every order is validated. Sets CAROOT (pebble's HTTPS root),
# DIR_URL, MGMT_PORT, CTS_PORT, PEBBLE_PID, CTS_PID and
# $T_TMP/pebble-root.pem (the root of what pebble issues). Returns
# non-zero after a not-ok line.
pebble_start() {
	local name=$1 dns
	export MOAT_CA_HOME=$T_TMP/ca
	"$MOAT" ca init >"$T_TMP/ca.log" 2>&1 &&
		(cd "$T_TMP" && "$MOAT" ca issue localhost 127.0.0.1 >>"$T_TMP/ca.log" 2>&1)
	check "$name: moat ca issues pebble's certificate" [ -s "$T_TMP/localhost.pem" ]
	CAROOT=$MOAT_CA_HOME/rootCA.pem
	ACME_PORT=$(free_port)
	MGMT_PORT=$(free_port)
	dns=$(free_port)
	CTS_PORT=$(free_port)
	cat >"$T_TMP/pebble.json" <<EOF2
{"pebble": {"listenAddress": "127.0.0.1:$ACME_PORT",
 "managementListenAddress": "127.0.0.1:$MGMT_PORT",
 "certificate": "$T_TMP/localhost.pem", "privateKey": "$T_TMP/localhost-key.pem",
 "httpPort": $HTTP_PORT, "tlsPort": $TLS_PORT, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOF2
	# challtestsrv: only its DNS and management listeners, on loopback.
	bg_start "$T_TMP/cts" pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
		-dns01 "127.0.0.1:$dns" -management "127.0.0.1:$CTS_PORT" \
		-http01 "" -https01 "" -tlsalpn01 ""
	CTS_PID=$BG_PID
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=20 PEBBLE_ALTERNATE_ROOTS=1 PEBBLE_AUTHZREUSE=0 bg_start "$T_TMP/pebble" \
		pebble -config "$T_TMP/pebble.json" -dnsserver "127.0.0.1:$dns"
	PEBBLE_PID=$BG_PID
	if ! wait_listen "$ACME_PORT" 20 || ! wait_listen "$CTS_PORT" 10; then
		notok "$name: pebble and challtestsrv start"
		diag "$T_TMP/pebble.out" "$T_TMP/pebble.err" "$T_TMP/cts.out" "$T_TMP/cts.err"
		return 1
	fi
	ok "$name: pebble and challtestsrv start"
	DIR_URL=https://localhost:$ACME_PORT/dir
	timeout "$T_CLIENT" curl -sS --cacert "$CAROOT" "https://localhost:$MGMT_PORT/roots/0" \
		>"$T_TMP/pebble-root.pem" 2>"$T_TMP/root.err"
	check "$name: its root from the management interface" has "$T_TMP/pebble-root.pem" "BEGIN CERTIFICATE"
}
