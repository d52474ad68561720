#!/usr/bin/env bash
# moat get against nginx (a server no one here wrote) on loopback, one
# server block per certificate case: a valid leaf, a chain with an
# intermediate, and each refusal (expired, not yet valid, wrong host,
# unknown CA, self-signed, revoked by CRL, SHA-1 signed, no serverAuth),
# each asserting the exit code and the message; redirects with the method
# rules; chunked responses; -f, -o, -O, -I, -i, -H, -w.
. "$(dirname "$0")/../lib.sh"
need openssl nginx gnutls-serv || { finish; exit; }
need_moat

D=$T_TMP/n
C=$D/certs
mkdir -p "$C" "$D/site/sub" "$D/logs"
# ---- certificates: a root, an intermediate under it, and one leaf per case
mkcerts() {
	set -e
	cd "$C"
	exec 2>gen.log >&2
	key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
	key root.key
	openssl req -x509 -new -key root.key -sha256 -days 30 -subj "/O=moat get tests/CN=moat get root" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem
	key other.key
	openssl req -x509 -new -key other.key -sha256 -days 30 -subj "/CN=some other CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out other.pem
	key int.key
	openssl req -new -key int.key -subj "/O=moat get tests/CN=moat get intermediate" -out int.csr
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
	openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 -sha256 \
		-extfile int.ext -out int.pem
	mkdir -p db
	: >db/index.txt
	echo 2000 >db/serial
	echo 1000 >db/crlnumber
	cat >ca.cnf <<-EOF
		[ca]
		default_ca = root
		[root]
		dir = db
		database = db/index.txt
		serial = db/serial
		crlnumber = db/crlnumber
		new_certs_dir = db
		certificate = root.pem
		private_key = root.key
		default_md = sha256
		default_crl_days = 7
		policy = anything
		unique_subject = no
		copy_extensions = none
		[anything]
		commonName = supplied
		[leaf]
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature
		extendedKeyUsage=serverAuth
		subjectAltName=DNS:localhost,IP:127.0.0.1
		[wrong]
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature
		extendedKeyUsage=serverAuth
		subjectAltName=DNS:wrong.example,DNS:www.wrong.example
		[client]
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature
		extendedKeyUsage=clientAuth
		subjectAltName=DNS:localhost,IP:127.0.0.1
	EOF
	# leaf NAME SECTION [openssl ca args...]: a leaf for localhost from the root
	leaf() {
		local n=$1 sec=$2
		shift 2
		key "$n.key"
		openssl req -new -key "$n.key" -subj "/CN=localhost" -out "$n.csr"
		openssl ca -batch -notext -config ca.cnf -extensions "$sec" -in "$n.csr" -out "$n.pem" "$@"
	}
	leaf valid leaf -days 7
	leaf expired leaf -startdate 20200101000000Z -enddate 20210101000000Z
	leaf future leaf -startdate 20400101000000Z -enddate 20410101000000Z
	leaf wrong wrong -days 7
	leaf revoked leaf -days 7
	leaf sha1 leaf -days 7 -md sha1
	leaf noserver client -days 7
	openssl ca -batch -config ca.cnf -revoke revoked.pem -crl_reason keyCompromise
	openssl ca -batch -config ca.cnf -gencrl -out crl.pem
	# a leaf from the intermediate, served with it
	key chain.key
	openssl req -new -key chain.key -subj "/CN=localhost" -out chain.csr
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n' >chain.ext
	openssl x509 -req -in chain.csr -CA int.pem -CAkey int.key -CAcreateserial -days 7 -sha256 \
		-extfile chain.ext -out chain-leaf.pem
	cat chain-leaf.pem int.pem >chain.pem
	# unknown CA and self-signed
	key unknown.key
	openssl req -new -key unknown.key -subj "/CN=localhost" -out unknown.csr
	openssl x509 -req -in unknown.csr -CA other.pem -CAkey other.key -CAcreateserial -days 7 -sha256 \
		-extfile chain.ext -out unknown.pem
	key self.key
	openssl req -x509 -new -key self.key -sha256 -days 7 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost" -out self.pem
}
if ! (mkcerts); then
	notok "get nginx: certificates made" "see below"
	diag "$C/gen.log"
	finish
	exit
fi

# ---- the site
TOKEN="moat-nginx-$RANDOM$RANDOM"
printf '<p>%s</p>\n' "$TOKEN" >"$D/site/index.html"
printf 'hello %s\n' "$TOKEN" >"$D/site/sub/hello.txt"
head -c 300000 /dev/urandom | base64 >"$D/site/chunky.txt"
echo "REPLACE-ME $TOKEN" >>"$D/site/chunky.txt"
head -c 100000000 /dev/urandom >"$D/site/big.bin"
BIG_SUM=$(sha256sum <"$D/site/big.bin" | cut -d' ' -f1)

CASES="valid chain expired future wrong unknown self revoked noserver"
declare -A PORT
conf=$D/nginx.conf
{
	[ "$(id -u)" -eq 0 ] && echo "user root;"
	cat <<-EOF
		worker_processes 1;
		daemon off;
		pid $D/nginx.pid;
		error_log $D/logs/error.log warn;
		events { worker_connections 256; }
		http {
		    access_log $D/logs/access.log;
		    client_body_temp_path $D/tmp-body;
		    proxy_temp_path $D/tmp-proxy;
		    fastcgi_temp_path $D/tmp-fcgi;
		    uwsgi_temp_path $D/tmp-uwsgi;
		    scgi_temp_path $D/tmp-scgi;
		    default_type application/octet-stream;
		    ssl_protocols TLSv1.3;
		    keepalive_requests 100;
	EOF
	for c in $CASES; do
		p=$(free_port)
		PORT[$c]=$p
		cat <<-EOF
			    server {
			        listen 127.0.0.1:$p ssl;
			        server_name localhost;
			        ssl_certificate $C/$c.pem;
			        ssl_certificate_key $C/$c.key;
			        root $D/site;
			        location = /r301 { return 301 /sub/hello.txt; }
			        location = /r302 { return 302 https://localhost:$p/sub/hello.txt; }
			        location = /r303 { return 303 sub/hello.txt; }
			        location = /r307 { return 307 /sub/hello.txt; }
			        location = /r308 { return 308 /sub/hello.txt; }
			        location = /hop1 { return 302 /hop2; }
			        location = /hop2 { return 301 /index.html; }
			        location = /loop { return 302 /loop; }
			        location = /echo-method { return 200 "method=\$request_method ua=\$http_user_agent x=\$http_x_moat\n"; }
			        location = /chunky.txt { sub_filter 'REPLACE-ME' 'replaced'; sub_filter_once off; sub_filter_types *; }
			    }
		EOF
	done
	echo "}"
} >"$conf"

bg_start "$D/nginx" nginx -e "$D/logs/error.log" -p "$D" -c "$conf"
NGINX_PID=$BG_PID
for c in $CASES; do
	if ! wait_listen "${PORT[$c]}"; then
		notok "get nginx: nginx starts" "port ${PORT[$c]} ($c) not listening"
		diag "$D/nginx.err" "$D/logs/error.log"
		finish
		exit
	fi
done
ok "get nginx: nginx starts with 9 TLS servers"

R=(--cacert "$C/root.pem")
url() { echo "https://localhost:${PORT[$1]}$2"; }

# ---- accepted
out=$T_TMP/valid
moat_get "valid" "$out" "${R[@]}" "$(url valid /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "$TOKEN"; then ok "get nginx: valid certificate, page fetched"
else notok "get nginx: valid certificate, page fetched" "exit $GET_RC"; diag "$out.err"; fi

out=$T_TMP/chain
moat_get "chain" "$out" -v "${R[@]}" "$(url chain /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "$TOKEN" && has "$out.err" "issuer: .*CN=moat get intermediate" &&
	has "$out.err" "SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}"; then
	ok "get nginx: chain with an intermediate, trusted through the root; -v shows both"
else notok "get nginx: chain with an intermediate, trusted through the root; -v shows both" "exit $GET_RC"; diag "$out.err"; fi

# ---- refused: exit 60, one line naming the site, the reason and the code
refused() { # refused CASE WHAT REGEX [args...]
	local c=$1 what=$2 re=$3 out=$T_TMP/refused-$1
	shift 3
	moat_get "$c" "$out" "${R[@]}" "$@" "$(url "$c" /index.html)"
	local line
	line=$(grep '^moat: refused' "$out.err" | head -n 1)
	if [ "$GET_RC" -eq 60 ] && [ ! -s "$out" ] &&
		echo "$line" | grep -Eq "^moat: refused https://localhost:${PORT[$c]}/: .*$re"; then
		ok "get nginx: refuses $what (exit 60): ${line#moat: refused https://localhost:${PORT[$c]}/: }"
	else
		notok "get nginx: refuses $what (exit 60)" "exit $GET_RC"
		diag "$out.err"
	fi
}
refused expired "an expired certificate" "expired on 2021-01-01.*NET::ERR_CERT_DATE_INVALID"
refused future "a certificate not yet valid" "2040-01-01.*NET::ERR_CERT_DATE_INVALID"
refused wrong "a certificate for other names" "wrong\.example.*www\.wrong\.example.*NET::ERR_CERT_COMMON_NAME_INVALID"
refused unknown "an unknown issuer" "NET::ERR_CERT_AUTHORITY_INVALID"
refused self "a self-signed certificate" "self-signed.*NET::ERR_CERT_AUTHORITY_INVALID"
refused revoked "a certificate revoked by the CRL" "revoked.*NET::ERR_CERT_REVOKED" --crl "$C/crl.pem"
# nginx (libssl) will not present a SHA-1 signed chain to a client that does
# not list SHA-1 among its signature algorithms, and moat does not: so this
# case is served by gnutls-serv, which sends it and lets the client judge.
PORT[sha1]=$(free_port)
bg_start "$D/gnutls-sha1" gnutls-serv --http -p "${PORT[sha1]}" --x509certfile "$C/sha1.pem" --x509keyfile "$C/sha1.key"
GNUTLS_PID=$BG_PID
if wait_listen "${PORT[sha1]}"; then
	refused sha1 "a SHA-1 signed leaf (from gnutls-serv)" "signature algorithm.*NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM"
else
	notok "get nginx: gnutls-serv starts for the SHA-1 case"
	diag "$D/gnutls-sha1.err"
fi
bg_stop "$GNUTLS_PID"
refused noserver "a certificate without serverAuth usage" "NET::ERR_CERT_INVALID"

out=$T_TMP/revoked-nocrl
moat_get "revoked without crl" "$out" "${R[@]}" "$(url revoked /index.html)"
check "get nginx: the revoked leaf is fetched when no CRL is given" test "$GET_RC" -eq 0

out=$T_TMP/insecure
moat_get "-k" "$out" -k "${R[@]}" "$(url self /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "$TOKEN" && has "$out.err" "WARNING.*NOT checked"; then
	ok "get nginx: -k fetches from a self-signed server, with a loud warning"
else notok "get nginx: -k fetches from a self-signed server, with a loud warning" "exit $GET_RC"; diag "$out.err"; fi

# ---- 100 MB, checksums at both ends
out=$T_TMP/big
moat_get "big" "$out.stdout" "${R[@]}" -o "$out" "$(url valid /big.bin)"
if [ "$GET_RC" -eq 0 ] && [ "$(sha256sum <"$out" | cut -d' ' -f1)" = "$BIG_SUM" ]; then
	ok "get nginx: 100 MB download, sha256 matches"
else notok "get nginx: 100 MB download, sha256 matches" "exit $GET_RC, $(stat -c %s "$out" 2>/dev/null) bytes"; diag "$out.stdout.err"; fi
rm -f "$out"

# ---- chunked: sub_filter drops Content-Length, nginx sends chunks
out=$T_TMP/chunky
moat_get "chunked" "$out" -i "${R[@]}" "$(url valid /chunky.txt)"
if [ "$GET_RC" -eq 0 ] && has "$out" "^Transfer-Encoding: chunked" && has "$out" "^replaced $TOKEN" &&
	[ "$(sed '1,/^\r$/d' "$out" | wc -c)" -eq $(($(stat -c %s "$D/site/chunky.txt") - 2)) ]; then
	ok "get nginx: chunked response decoded, whole body"
else notok "get nginx: chunked response decoded, whole body" "exit $GET_RC"; diag "$out.err"; fi

# ---- redirects
for code in 301 302 303 307 308; do
	out=$T_TMP/r$code
	moat_get "r$code" "$out" -L -v "${R[@]}" "$(url valid /r$code)"
	if [ "$GET_RC" -eq 0 ] && has "$out" "^hello $TOKEN\$" && has "$out.err" "following $code"; then
		ok "get nginx: -L follows $code"
	else notok "get nginx: -L follows $code" "exit $GET_RC"; diag "$out.err"; fi
done
out=$T_TMP/hops
moat_get "hops" "$out" -L -v "${R[@]}" "$(url valid /hop1)"
n=$(grep -c "reusing the connection" "$out.err")
if [ "$GET_RC" -eq 0 ] && has "$out" "$TOKEN" && [ "$n" -eq 2 ] &&
	[ "$(grep -c "protocol: TLSv1.3" "$out.err")" -eq 1 ]; then
	ok "get nginx: two redirects on one connection (reused, one handshake)"
else notok "get nginx: two redirects on one connection (reused, one handshake)" "exit $GET_RC, reused $n"; diag "$out.err"; fi
out=$T_TMP/noL
moat_get "noL" "$out" -i "${R[@]}" "$(url valid /r301)"
check "get nginx: without -L a 301 is shown, not followed" has "$out" "^HTTP/1.1 301"
out=$T_TMP/loop
moat_get "loop" "$out" -L "${R[@]}" "$(url valid /loop)"
if [ "$GET_RC" -eq 47 ] && has "$out.err" "after 20 redirects"; then ok "get nginx: a redirect loop stops after 20 (exit 47)"
else notok "get nginx: a redirect loop stops after 20 (exit 47)" "exit $GET_RC"; diag "$out.err"; fi

# ---- method rules: POST to 301/302/303 becomes GET; 307/308 keep POST
# (nginx answers /r30x with the redirect whatever the method; the target
# /echo-method is reached by rewriting the Location through a chain)
for code in 301 303 307; do
	out=$T_TMP/m$code
	moat_get "m$code" "$out" -L -v -d x=1 "${R[@]}" "$(url valid /r$code)"
	want=GET
	[ $code = 307 ] && want=POST
	if has "$out.err" "^> $want /sub/hello.txt"; then ok "get nginx: POST redirected by $code goes on as $want"
	else notok "get nginx: POST redirected by $code goes on as $want" "exit $GET_RC"; diag "$out.err"; fi
done

# ---- -f, -I, -H, -X, -O, -w
out=$T_TMP/f404
moat_get "f" "$out" -f "${R[@]}" "$(url valid /nope)"
if [ "$GET_RC" -eq 22 ] && [ ! -s "$out" ] && has "$out.err" "404"; then ok "get nginx: -f on a 404 exits 22, no body"
else notok "get nginx: -f on a 404 exits 22, no body" "exit $GET_RC"; diag "$out.err"; fi
out=$T_TMP/nof
moat_get "nof" "$out" "${R[@]}" "$(url valid /nope)"
check "get nginx: a 404 without -f exits 0 with the page" test "$GET_RC" -eq 0 -a -s "$out"
out=$T_TMP/head
moat_get "head" "$out" -I "${R[@]}" "$(url valid /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "^HTTP/1.1 200" && has "$out" "^Content-Length: " && ! has "$out" "$TOKEN"; then
	ok "get nginx: -I shows the head only"
else notok "get nginx: -I shows the head only" "exit $GET_RC"; diag "$out" "$out.err"; fi
out=$T_TMP/hdr
moat_get "hdr" "$out" -X PUT -H "X-Moat: yes" -H "User-Agent: tester/1" "${R[@]}" "$(url valid /echo-method)"
check "get nginx: -X PUT and -H reach the server (and -H replaces User-Agent)" has "$out" "^method=PUT ua=tester/1 x=yes$"
abs_moat=$(realpath "$MOAT")
(cd "$T_TMP" && timeout "$T_CLIENT" "$abs_moat" get -s -O "${R[@]}" "$(url valid /sub/hello.txt)" >/dev/null 2>&1)
check "get nginx: -O saves under the URL's file name" has "$T_TMP/hello.txt" "^hello $TOKEN\$"
out=$T_TMP/w
moat_get "w" "$out" -s -o /dev/null -w '%{http_code} %{size_download} %{ssl_verify_result} %{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}\n' "${R[@]}" "$(url valid /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "^200 $(stat -c %s "$D/site/index.html") 0( [0-9]+\.[0-9]{6}){5}$"; then
	ok "get nginx: -w prints code, size, verify result and five timings"
else notok "get nginx: -w prints code, size, verify result and five timings" "exit $GET_RC: $(cat "$out")"; diag "$out.err"; fi

# ---- --explain over a real nginx handshake
out=$T_TMP/explain
moat_get "explain" "$out" --explain "${R[@]}" "$(url chain /index.html)"
why=""
for re in "ClientHello" "ServerHello" "EncryptedExtensions" "a chain of 2 certificates" "CertificateVerify" \
	"Finished" "key shares.*x25519" "group chosen: x25519" "Handshake Secret" "application traffic" \
	"GET /index.html HTTP/1.1" "HTTP/1.1 200" "records?, [0-9]+ bytes on the wire"; do
	has "$out.err" "$re" || why="$why missing '$re';"
done
if [ "$GET_RC" -eq 0 ] && [ -z "$why" ]; then ok "get nginx: --explain narrates the handshake and the records"
else notok "get nginx: --explain narrates the handshake and the records" "exit $GET_RC;$why"; diag "$out.err"; fi

alive "$NGINX_PID" && ok "get nginx: nginx still running" || notok "get nginx: nginx still running"
bg_stop "$NGINX_PID"
finish
