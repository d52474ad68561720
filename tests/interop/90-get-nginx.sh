#!/usr/bin/env bash
# moat get against nginx (a server no one here wrote) on loopback, one
# server block per certificate case: a valid leaf, a chain with an
# intermediate, and each refusal (expired, not yet valid, wrong host,
# unknown CA, self-signed, revoked by CRL, SHA-1 signed, no serverAuth),
# each asserting the exit code and the message; CRLs over the whole chain
# (a revoked intermediate); RFC 6125 wildcards; --capath with a hashed
# directory; intermediates sent out of order; redirects with the method
# rules and -H credentials dropped off-origin; chunked responses; -f, -o,
# -O, -I, -i, -H, -w, and -w ssl_verify_result under -k.
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
		[inter]
		basicConstraints=critical,CA:TRUE,pathlen:0
		keyUsage=critical,keyCertSign,cRLSign
		[wild]
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature
		extendedKeyUsage=serverAuth
		subjectAltName=DNS:*.example.test,DNS:f*.part.test,DNS:*.0.0.1
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
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n' >chain.ext
	leaf valid leaf -days 7
	leaf expired leaf -startdate 20200101000000Z -enddate 20210101000000Z
	leaf future leaf -startdate 20400101000000Z -enddate 20410101000000Z
	leaf wrong wrong -days 7
	leaf revoked leaf -days 7
	leaf sha1 leaf -days 7 -md sha1
	leaf noserver client -days 7
	leaf wild wild -days 7
	# an intermediate the root revokes, and one it does not, each with a
	# CA database of its own for the CRL it signs over its leaves
	subca() { # subca NAME: NAME.pem (from the root), NAME.cnf, NAME-leaf.pem
		local n=$1
		key "$n.key"
		openssl req -new -key "$n.key" -subj "/O=moat get tests/CN=moat get $n" -out "$n.csr"
		openssl ca -batch -notext -config ca.cnf -extensions inter -in "$n.csr" -out "$n.pem" -days 7
		mkdir -p "db-$n"
		: >"db-$n/index.txt"
		echo 3000 >"db-$n/serial"
		echo 1000 >"db-$n/crlnumber"
		sed -e "s|^dir = db|dir = db-$n|; s|db/|db-$n/|g; s|^certificate = root.pem|certificate = $n.pem|; s|^private_key = root.key|private_key = $n.key|" ca.cnf >"$n.cnf"
		key "$n-leaf.key"
		openssl req -new -key "$n-leaf.key" -subj "/CN=localhost" -out "$n-leaf.csr"
		openssl ca -batch -notext -config "$n.cnf" -extensions leaf -in "$n-leaf.csr" -out "$n-leaf.pem" -days 7
		openssl ca -batch -config "$n.cnf" -gencrl -out "$n-crl.pem"
		cat "$n-leaf.pem" "$n.pem" >"$n-chain.pem"
		cp "$n-leaf.key" "$n-chain.key"
	}
	subca goodint
	subca badint
	openssl ca -batch -config ca.cnf -revoke revoked.pem -crl_reason keyCompromise
	openssl ca -batch -config ca.cnf -revoke badint.pem -crl_reason cACompromise
	openssl ca -batch -config ca.cnf -gencrl -out crl.pem
	cat crl.pem goodint-crl.pem >crls-good.pem
	cat crl.pem badint-crl.pem >crls-bad.pem
	# two intermediates, sent out of order (and a stranger among them):
	# root -> mid1 -> mid2 -> leaf, served as leaf, other, mid1, mid2
	key mid1.key
	openssl req -new -key mid1.key -subj "/O=moat get tests/CN=moat get mid1" -out mid1.csr
	printf 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\n' >mid1.ext
	openssl x509 -req -in mid1.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 -sha256 \
		-extfile mid1.ext -out mid1.pem
	key mid2.key
	openssl req -new -key mid2.key -subj "/O=moat get tests/CN=moat get mid2" -out mid2.csr
	openssl x509 -req -in mid2.csr -CA mid1.pem -CAkey mid1.key -CAcreateserial -days 30 -sha256 \
		-extfile int.ext -out mid2.pem
	key order.key
	openssl req -new -key order.key -subj "/CN=localhost" -out order.csr
	openssl x509 -req -in order.csr -CA mid2.pem -CAkey mid2.key -CAcreateserial -days 7 -sha256 \
		-extfile chain.ext -out order-leaf.pem
	cat order-leaf.pem other.pem mid1.pem mid2.pem >order.pem
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

CASES="valid chain expired future wrong unknown self revoked noserver goodint-chain badint-chain order wild"
declare -A PORT
# every port first: a server block redirects to another's. Below the
# ephemeral range, where busy neighbours' outgoing connections cannot
# hold the port nginx is about to bind.
eph=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
for c in $CASES; do
	for i in $(seq 1 100); do
		p=$(free_port)
		[ "$p" -lt "${eph:-32768}" ] || continue
		case " ${PORT[*]} " in *" $p "*) ;; *) break ;; esac
	done
	PORT[$c]=$p
done
nginx_start "$D" < <(
	cat <<-EOF
		    default_type application/octet-stream;
		    ssl_protocols TLSv1.3;
		    keepalive_requests 100;
	EOF
	for c in $CASES; do
		p=${PORT[$c]}
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
			        location = /echo-auth { return 200 "auth=[\$http_authorization] cookie=[\$http_cookie] x=[\$http_x_moat]\n"; }
			        location = /auth-same { return 302 /echo-auth; }
			        location = /auth-port { return 302 https://localhost:${PORT[chain]}/echo-auth; }
			        location = /auth-host { return 302 https://127.0.0.1:$p/echo-auth; }
			        location = /auth-back { return 302 https://localhost:${PORT[chain]}/auth-home; }
			        location = /auth-home { return 302 https://localhost:${PORT[valid]}/echo-auth; }
			        location = /chunky.txt { sub_filter 'REPLACE-ME' 'replaced'; sub_filter_once off; sub_filter_types *; }
			    }
		EOF
	done
)
for c in $CASES; do
	if ! wait_listen "${PORT[$c]}"; then
		notok "get nginx: nginx starts" "port ${PORT[$c]} ($c) not listening"
		diag "$D/nginx.err" "$D/logs/error.log"
		finish
		exit
	fi
done
ok "get nginx: nginx starts with $(echo $CASES | wc -w) TLS servers"

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
	refused sha1 "a SHA-1 signed leaf (from gnutls-serv)" "signature algorithm.*NET::ERR_CERT_INVALID"
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

# ---- CRLs over the whole chain: the leaf always needs its issuer's CRL;
# an intermediate is checked when its issuer's (here the root's) CRL is given
out=$T_TMP/goodint
moat_get "goodint crls" "$out" "${R[@]}" --crl "$C/crls-good.pem" "$(url goodint-chain /index.html)"
check "get nginx: --crl with the root's and the intermediate's CRLs: a good chain passes" test "$GET_RC" -eq 0
refused badint-chain "an intermediate revoked by the root's CRL" \
	"an issuing certificate in its chain has been revoked on [0-9-]+ \(cACompromise\), per the CRL.*NET::ERR_CERT_REVOKED" \
	--crl "$C/crls-bad.pem"
out=$T_TMP/badint-noroot
moat_get "badint without the root crl" "$out" "${R[@]}" --crl "$C/badint-crl.pem" "$(url badint-chain /index.html)"
check "get nginx: without the root's CRL the intermediate is not checked (no refusal for a CRL not given)" test "$GET_RC" -eq 0
refused goodint-chain "a leaf whose issuer's CRL is missing" "revocation status.*could not be checked.*NET::ERR_CERT_UNABLE_TO_CHECK_REVOCATION" \
	--crl "$C/crl.pem"

# ---- intermediates in any order, a stranger among them
out=$T_TMP/order
moat_get "order" "$out" -v "${R[@]}" "$(url order /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "$TOKEN" && has "$out.err" "CN=moat get mid1" && has "$out.err" "CN=some other CA"; then
	ok "get nginx: a chain sent as leaf, stranger, mid1, mid2 is built and trusted"
else notok "get nginx: a chain sent as leaf, stranger, mid1, mid2 is built and trusted" "exit $GET_RC"; diag "$out.err"; fi

# ---- RFC 6125 wildcards: *.example.test names one label, never an IP
wild() { # wild NAME WANT-RC [URL-HOST]
	local n=$1 want=$2 h=${3:-$1} out=$T_TMP/wild-$1
	local p=${PORT[wild]}
	moat_get "wild $n" "$out" "${R[@]}" --resolve "$h:$p:127.0.0.1" "https://$h:$p/index.html"
	local seen=0
	if [ "$want" -eq 0 ]; then has "$out" "$TOKEN" && seen=1
	else has "$out.err" "not valid for $h .*\*\.example\.test.*NET::ERR_CERT_COMMON_NAME_INVALID" && seen=1; fi
	if [ "$GET_RC" -eq "$want" ] && [ $seen = 1 ]; then
		ok "get nginx: *.example.test and $n: exit $want"
	else notok "get nginx: *.example.test and $n: exit $want" "exit $GET_RC"; diag "$out.err"; fi
}
wild a.example.test 0
wild A.Example.TEST 0
wild a.b.example.test 60
wild example.test 60
wild foo.part.test 60
wild f.part.test 60
out=$T_TMP/wild-ip
moat_get "wild ip" "$out" "${R[@]}" "https://127.0.0.1:${PORT[wild]}/index.html"
if [ "$GET_RC" -eq 60 ] && has "$out.err" "not valid for 127\.0\.0\.1 "; then
	ok "get nginx: a DNS wildcard (*.0.0.1) never matches an IP address"
else notok "get nginx: a DNS wildcard (*.0.0.1) never matches an IP address" "exit $GET_RC"; diag "$out.err"; fi

# ---- --capath: a directory of hashed names (openssl rehash, c_rehash)
mkdir -p "$D/capath-rehash" "$D/capath-hashonly" "$D/capath-other"
cp "$C/root.pem" "$C/other.pem" "$D/capath-rehash/"
openssl rehash "$D/capath-rehash" 2>"$D/rehash.err"
cp "$C/root.pem" "$D/capath-hashonly/$(openssl x509 -hash -noout -in "$C/root.pem").0"
cp "$C/other.pem" "$D/capath-other/$(openssl x509 -hash -noout -in "$C/other.pem").0"
out=$T_TMP/capath1
moat_get "capath rehash" "$out" --capath "$D/capath-rehash" "$(url chain /index.html)"
if [ "$GET_RC" -eq 0 ] && has "$out" "$TOKEN" && ls "$D/capath-rehash" | grep -Eq '^[0-9a-f]{8}\.0$'; then
	ok "get nginx: --capath with a directory made by openssl rehash"
else notok "get nginx: --capath with a directory made by openssl rehash" "exit $GET_RC"; diag "$out.err" "$D/rehash.err"; fi
out=$T_TMP/capath2
moat_get "capath hash only" "$out" --capath "$D/capath-hashonly" "$(url valid /index.html)"
check "get nginx: --capath with only HASH.0 files (c_rehash style)" test "$GET_RC" -eq 0
out=$T_TMP/capath3
moat_get "capath other" "$out" --capath "$D/capath-other" "$(url valid /index.html)"
if [ "$GET_RC" -eq 60 ] && has "$out.err" "NET::ERR_CERT_AUTHORITY_INVALID"; then
	ok "get nginx: --capath without our root refuses (exit 60)"
else notok "get nginx: --capath without our root refuses (exit 60)" "exit $GET_RC"; diag "$out.err"; fi

# ---- -k: ssl_verify_result tells what verification would have said
out=$T_TMP/kw-good
moat_get "-k good" "$out" -k -s -o /dev/null -w '%{ssl_verify_result}' "${R[@]}" "$(url valid /index.html)"
check "get nginx: -k -w ssl_verify_result is 0 for a chain that verifies" test "$(cat "$out")" = 0
out=$T_TMP/kw-bad
moat_get "-k bad" "$out" -k -v -o /dev/null -w '%{ssl_verify_result}' "${R[@]}" "$(url self /index.html)"
if [ "$(cat "$out")" = 1 ] && has "$out.err" "NOT verified \(-k\); it would have been refused: .*self-signed"; then
	ok "get nginx: -k -w ssl_verify_result is 1 for a self-signed one, and -v says why"
else notok "get nginx: -k -w ssl_verify_result is 1 for a self-signed one, and -v says why" "$(cat "$out")"; diag "$out.err"; fi
out=$T_TMP/kw-rev
moat_get "-k revoked" "$out" -k -s -o /dev/null -w '%{ssl_verify_result}' "${R[@]}" --crl "$C/crl.pem" "$(url revoked /index.html)"
check "get nginx: -k with --crl: ssl_verify_result is 1 for a revoked leaf" test "$(cat "$out")" = 1

# ---- -H Authorization and Cookie stay with the first origin
auth() { # auth PATH WANT-KEPT(1|0) WHAT
	local out=$T_TMP/auth-$1
	moat_get "auth $1" "$out" -L -H "Authorization: Bearer s3cret" -H "Cookie: id=42" -H "X-Moat: on" \
		"${R[@]}" "$(url valid "/$1")"
	local want="auth=[] cookie=[] x=[on]"
	[ "$2" = 1 ] && want="auth=[Bearer s3cret] cookie=[id=42] x=[on]"
	if [ "$GET_RC" -eq 0 ] && grep -qxF "$want" "$out"; then ok "get nginx: -L $3"
	else notok "get nginx: -L $3" "exit $GET_RC: $(cat "$out")"; diag "$out.err"; fi
}
auth auth-same 1 "to the same origin keeps Authorization and Cookie"
auth auth-port 0 "to the same host on another port drops Authorization and Cookie (other headers stay)"
auth auth-host 0 "to another host drops Authorization and Cookie"
auth auth-back 1 "away and back to the first origin: sent again there, as curl does"

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
# (and its body); HEAD stays HEAD through a 303
# (nginx answers /r30x with the redirect whatever the method; the target
# /echo-method is reached by rewriting the Location through a chain)
for code in 301 302 303 307 308; do
	out=$T_TMP/m$code
	moat_get "m$code" "$out" -L -v -d x=1 "${R[@]}" "$(url valid /r$code)"
	want=GET
	[ $code = 307 ] || [ $code = 308 ] && want=POST
	bodies=1 # the body goes again only when the method stays POST
	[ $want = POST ] && bodies=2
	if has "$out.err" "^> $want /sub/hello.txt" && [ "$(grep -c '^> Content-Length: 3' "$out.err")" -eq $bodies ]; then
		ok "get nginx: POST redirected by $code goes on as $want"
	else notok "get nginx: POST redirected by $code goes on as $want" "exit $GET_RC"; diag "$out.err"; fi
done
out=$T_TMP/head303
moat_get "head303" "$out" -L -v -I "${R[@]}" "$(url valid /r303)"
check "get nginx: HEAD redirected by 303 stays HEAD" has "$out.err" "^> HEAD /sub/hello.txt"

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
