#!/usr/bin/env bash
# moat ca, checked by others: openssl verify/x509/crl, curl, moat get against
# moat serve, certutil, and headless Chromium trusting the root via NSS.
# Name constraints, revocation and CRLs, expiry, errors, concurrent use.
. "$(dirname "$0")/../lib.sh"
need openssl curl certutil chromium || { finish; exit 1; }
need_moat

export MOAT_CA_HOME=$T_TMP/ca
ROOT=$MOAT_CA_HOME/rootCA.pem
W=$T_TMP/work
mkdir -p "$W"
make_site "$T_TMP/site"
cd "$W" || exit 1

# mca LOG ARGS...: `moat ca ARGS` (bounded), output to LOG; sets RC.
mca() {
	local log=$1
	shift
	timeout "$T_CLIENT" "$MOAT" ca "$@" >"$log" 2>&1 </dev/null
	RC=$?
}
x509text() { openssl x509 -in "$1" -noout -text 2>&1; }
quiet() { "$@" >/dev/null 2>&1; }
# crlnum FILE: the CRL number, in decimal.
crlnum() { local n; n=$(openssl crl -in "$1" -noout -crlnumber 2>/dev/null | cut -d= -f2); n=${n#0x}; [ -n "$n" ] && echo $((16#$n)); }

# ---- init with name constraints
mca init.log init --permit-dns localhost --permit-dns Example.TEST
if [ $RC -eq 0 ] && [ -s "$ROOT" ]; then ok "ca init --permit-dns localhost --permit-dns example.test"
else notok "ca init --permit-dns" "exit $RC"; diag init.log; fi
x509text "$ROOT" >root.txt
check "root: nameConstraints critical" grep -q 'X509v3 Name Constraints: critical' root.txt
check "root: permits DNS:localhost and DNS:example.test (lower-cased)" \
	bash -c 'grep -A6 "Name Constraints" root.txt | grep -q "DNS:localhost" && grep -A6 "Name Constraints" root.txt | grep -q "DNS:example.test"'
check "root: IP addresses limited to loopback" grep -q 'IP:127.0.0.0/255.0.0.0' root.txt
check "root: CA:TRUE, pathlen:0" grep -q 'CA:TRUE, pathlen:0' root.txt
check "root: keyCertSign, cRLSign" grep -q 'Certificate Sign, CRL Sign' root.txt
check "root key mode 0600" [ "$(stat -c %a "$MOAT_CA_HOME/rootCA-key.pem")" = 600 ]
mca init2.log init --permit-dns 'bad name'
check "init --permit-dns 'bad name' refused (exit $RC)" [ $RC -eq 2 ]

# ---- issue: SANs, usages, validity, purposes
mca issue-lh.log issue localhost 127.0.0.1 ::1 --cert-file lh.pem --key-file lh-key.pem
check "issue localhost 127.0.0.1 ::1 (exit $RC)" [ $RC -eq 0 ]
check "lh.pem: openssl verify -purpose sslserver" \
	quiet openssl verify -CAfile "$ROOT" -purpose sslserver lh.pem
x509text lh.pem >lh.txt
check "lh.pem: SANs DNS:localhost, IP 127.0.0.1, IP ::1" \
	grep -q 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1' lh.txt
check "lh.pem: keyUsage critical Digital Signature" \
	bash -c 'grep -A1 "Key Usage: critical" lh.txt | grep -q "Digital Signature"'
check "lh.pem: extendedKeyUsage serverAuth" grep -q 'TLS Web Server Authentication' lh.txt
check "lh.pem: not sslclient without --client" \
	bash -c '! openssl verify -CAfile "$0" -purpose sslclient lh.pem >/dev/null 2>&1' "$ROOT"

mca issue-days.log issue www.example.test --days 10
check "issue www.example.test --days 10 (exit $RC)" [ $RC -eq 0 ]
check "www.example.test.pem: valid 10 days (checkend 9d yes, 11d no)" \
	bash -c 'openssl x509 -in www.example.test.pem -noout -checkend $((9*86400)) >/dev/null &&
		! openssl x509 -in www.example.test.pem -noout -checkend $((11*86400)) >/dev/null'
check "www.example.test.pem: verify sslserver for the host name" \
	quiet openssl verify -CAfile "$ROOT" -purpose sslserver -verify_hostname www.example.test www.example.test.pem

mca issue-rsa.log issue '*.example.test' --rsa --client
check "issue '*.example.test' --rsa --client (exit $RC)" [ $RC -eq 0 ]
check "wildcard: verify sslclient" quiet openssl verify -CAfile "$ROOT" -purpose sslclient _wildcard.example.test.pem
check "wildcard: verify sslserver for a.example.test" \
	quiet openssl verify -CAfile "$ROOT" -purpose sslserver -verify_hostname a.example.test _wildcard.example.test.pem
x509text _wildcard.example.test.pem >wc.txt
check "wildcard: RSA 2048, keyEncipherment, clientAuth" \
	bash -c 'grep -q "Public-Key: (2048 bit)" wc.txt && grep -q "Key Encipherment" wc.txt && grep -q "TLS Web Client Authentication" wc.txt'

# ---- name constraints: refused by moat, and enforced by verifiers
mca issue-out.log issue outside.test
check "issue outside.test refused with exit 2 (got $RC)" [ $RC -eq 2 ]
check "  the message names the name and the constraints" \
	bash -c 'grep -q "outside.test" issue-out.log && grep -q "DNS:localhost" issue-out.log'
check "  nothing written" bash -c '! ls outside.test* >/dev/null 2>&1'
mca issue-ip.log issue 10.1.2.3
check "issue 10.1.2.3 refused (outside the loopback ranges; exit $RC)" [ $RC -eq 2 ]
mca issue-sfx.log issue badlocalhost
check "issue badlocalhost refused (not under localhost; exit $RC)" [ $RC -eq 2 ]
mca issue-sub.log issue sub.localhost
check "issue sub.localhost allowed (under localhost; exit $RC)" [ $RC -eq 0 ]
# Bypass moat: sign a leaf for outside.test with the root key directly.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue-key.pem 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:outside.test\n' >rogue.ext
openssl req -new -key rogue-key.pem -subj /CN=outside.test -out rogue.csr 2>/dev/null
openssl x509 -req -in rogue.csr -CA "$ROOT" -CAkey "$MOAT_CA_HOME/rootCA-key.pem" -days 5 \
	-extfile rogue.ext -set_serial 0x1234 -out rogue.pem 2>/dev/null
openssl verify -CAfile "$ROOT" -purpose sslserver rogue.pem >rogue.verify 2>&1
rc=$?
check "a leaf for outside.test signed behind moat's back: openssl verify fails (exit $rc)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'permitted subtree violation' rogue.verify"

# ---- revocation and CRLs
mca issue-good.log issue localhost --cert-file good.pem --key-file good-key.pem
mca issue-bad.log issue localhost --cert-file bad.pem --key-file bad-key.pem
BAD=$(openssl x509 -in bad.pem -noout -serial | cut -d= -f2)
mca revoke.log revoke bad.pem --reason keyCompromise
check "revoke bad.pem --reason keyCompromise (exit $RC)" [ $RC -eq 0 ]
mca revoke2.log revoke bad.pem
check "revoking it again says so and changes nothing (exit $RC)" \
	bash -c "[ $RC -eq 0 ] && grep -q 'already revoked' revoke2.log"
mca crl.log crl --out crl.pem --days 7
check "crl --out crl.pem --days 7 (exit $RC)" [ $RC -eq 0 ]
openssl crl -in crl.pem -noout -text >crl.txt 2>&1
check "openssl crl -text: the revoked serial is listed" grep -qi "Serial Number: $BAD" crl.txt
check "openssl crl -text: reason Key Compromise" grep -q 'Key Compromise' crl.txt
check "openssl crl -text: CRL Number, Authority Key Identifier, Last and Next Update" \
	bash -c 'grep -q "CRL Number" crl.txt && grep -q "Authority Key Identifier" crl.txt &&
		grep -q "Last Update" crl.txt && grep -q "Next Update" crl.txt'
check "openssl crl -verify: signed by the root" \
	bash -c 'openssl crl -in crl.pem -noout -CAfile "$0" 2>&1 | grep -q "verify OK"' "$ROOT"
openssl verify -crl_check -CRLfile crl.pem -CAfile "$ROOT" bad.pem >v-bad.txt 2>&1
rc=$?
check "openssl verify -crl_check fails for the revoked leaf (exit $rc)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'certificate revoked' v-bad.txt"
check "openssl verify -crl_check passes for another leaf" \
	quiet openssl verify -crl_check -CRLfile crl.pem -CAfile "$ROOT" good.pem
N1=$(crlnum crl.pem)
mca crl2.log crl
check "crl with no --out prints PEM on stdout" grep -q -- '-----BEGIN X509 CRL-----' crl2.log
N2=$(crlnum crl2.log)
check "CRL numbers increase ($N1 then $N2)" [ "${N1:-0}" -ge 1 -a "${N2:-0}" -eq $((${N1:-0} + 1)) ]
mca crl3.log crl --der --out crl.der
check "crl --der: openssl reads DER" openssl crl -inform DER -in crl.der -noout

# revoke by serial, as openssl prints it (upper case) and with colons
mca issue-ser.log issue sub.localhost --cert-file ser.pem --key-file ser-key.pem
SER=$(openssl x509 -in ser.pem -noout -serial | cut -d= -f2)
COLONS=$(echo "$SER" | sed 's/../&:/g; s/:$//')
mca revoke-ser.log revoke "$COLONS" --reason superseded
check "revoke SERIAL (as AA:BB:..., exit $RC)" [ $RC -eq 0 ]
mca revoke-unk.log revoke 0123456789abcdef
check "revoke of an unknown serial refused (exit $RC)" [ $RC -eq 2 ]
mca revoke-rsn.log revoke good.pem --reason whatever
check "revoke --reason whatever refused, naming the reasons (exit $RC)" \
	bash -c "[ $RC -eq 2 ] && grep -q cessationOfOperation revoke-rsn.log"
check "  and good.pem is not revoked" bash -c '! grep -qi "$(openssl x509 -in good.pem -noout -serial | cut -d= -f2)" "$0"' "$MOAT_CA_HOME/revoked.txt"
mca rogue-rev.log revoke rogue.pem
check "revoke of a certificate signed behind moat's back still works (it is ours; exit $RC)" [ $RC -eq 0 ]
openssl x509 -in "$ROOT" -noout >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-key.pem -out other.pem \
	-subj /CN=other -days 2 2>/dev/null
mca rev-other.log revoke other.pem
check "revoke of a certificate from another issuer refused (exit $RC)" [ $RC -eq 2 ]

# list
mca list.log list
lower() { tr 'A-F' 'a-f'; }
badl=$(echo "$BAD" | lower | sed 's/^\(00\)*//')
serl=$(echo "$SER" | lower | sed 's/^\(00\)*//')
goodl=$(openssl x509 -in good.pem -noout -serial | cut -d= -f2 | lower | sed 's/^\(00\)*//')
check "list: exit 0" [ $RC -eq 0 ]
check "list: the revoked one says REVOKED (keyCompromise)" grep -q "^0*$badl .*REVOKED .*(keyCompromise)" list.log
check "list: the one revoked by serial says superseded" grep -q "^0*$serl .*REVOKED .*(superseded)" list.log
check "list: good.pem is valid, with its names and dates" \
	grep -Eq "^0*$goodl +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{4}-[0-9]{2}-[0-9]{2} +valid +localhost" list.log

# ---- moat get and curl against moat serve with the revoked and the good certificate
mca crl4.log crl --out crl.pem
if moat_serve "serve revoked" "$T_TMP/site" --cert bad.pem --key bad-key.pem; then
	moat_get "revoked" get-bad.out --cacert "$ROOT" --crl crl.pem "https://localhost:$SRV_PORT/"
	check "moat get --crl: the revoked certificate is refused with exit 60 (got $GET_RC)" [ "$GET_RC" = 60 ]
	check "  and the message says it is revoked" grep -qi 'revoked' get-bad.out.err
	check "  and no page was printed" bash -c "! grep -q '$SITE_TOKEN' get-bad.out"
	moat_get "revoked, no crl" get-bad2.out --cacert "$ROOT" "https://localhost:$SRV_PORT/"
	check "without --crl the same server is accepted (exit $GET_RC)" has get-bad2.out "$SITE_TOKEN"
	timeout "$T_CLIENT" curl -sS --cacert "$ROOT" --crlfile crl.pem "https://localhost:$SRV_PORT/" >curl-bad.out 2>&1
	rc=$?
	check "curl --crlfile refuses it too (exit $rc)" [ $rc -eq 60 ]
	bg_stop "$SRV_PID"
fi
if moat_serve "serve good" "$T_TMP/site" --cert good.pem --key good-key.pem; then
	moat_get "good" get-good.out --cacert "$ROOT" --crl crl.pem "https://localhost:$SRV_PORT/"
	check "moat get --crl: a certificate not revoked is accepted (exit $GET_RC)" has get-good.out "$SITE_TOKEN"
	bg_stop "$SRV_PID"
fi

# ---- expired certificate: curl and moat get refuse it with 60
mca issue-old.log issue localhost --not-before 2020-01-01 --not-after 2020-06-01 \
	--cert-file old.pem --key-file old-key.pem
check "issue --not-after in the past (exit $RC), with a note" \
	bash -c "[ $RC -eq 0 ] && grep -q expired issue-old.log"
check "old.pem: notAfter Jun 1 23:59:59 2020" \
	bash -c 'openssl x509 -in old.pem -noout -enddate | grep -q "Jun  1 23:59:59 2020 GMT"'
if moat_serve "serve expired" "$T_TMP/site" --cert old.pem --key old-key.pem; then
	timeout "$T_CLIENT" curl -sS --cacert "$ROOT" "https://localhost:$SRV_PORT/" >curl-old.out 2>&1
	rc=$?
	check "curl refuses the expired certificate (exit $rc)" \
		bash -c "[ $rc -eq 60 ] && grep -qi expired curl-old.out"
	moat_get "expired" get-old.out --cacert "$ROOT" "https://localhost:$SRV_PORT/"
	check "moat get refuses the expired certificate (exit $GET_RC)" \
		bash -c "[ '$GET_RC' = 60 ] && grep -qi expired get-old.out.err"
	bg_stop "$SRV_PID"
fi

# ---- errors: exit 2, a message naming the problem, nothing half-written
mca err-missing.log list --ca-dir "$T_TMP/nowhere"
check "a missing CA directory: exit 2 ($RC), says so, creates nothing" \
	bash -c "[ $RC -eq 2 ] && grep -q 'no CA directory' err-missing.log && [ ! -e '$T_TMP/nowhere' ]"
mkdir -p "$T_TMP/empty"
mca err-empty.log crl --ca-dir "$T_TMP/empty"
check "an empty directory: exit 2 ($RC), nothing written in it" \
	bash -c "[ $RC -eq 2 ] && [ -z \"\$(ls -A '$T_TMP/empty')\" ]"
mkdir -p "$T_TMP/corrupt"
cp "$MOAT_CA_HOME/rootCA-key.pem" "$T_TMP/corrupt/"
echo 'not a certificate' >"$T_TMP/corrupt/rootCA.pem"
mca err-corrupt.log issue localhost --ca-dir "$T_TMP/corrupt" --cert-file c.pem --key-file c-key.pem
check "a corrupt rootCA.pem: exit 2 ($RC), 'damaged', nothing issued" \
	bash -c "[ $RC -eq 2 ] && grep -q damaged err-corrupt.log && [ ! -e c.pem ] && [ ! -e c-key.pem ]"
mkdir -p "$T_TMP/wrongkey"
cp "$ROOT" "$T_TMP/wrongkey/"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/wrongkey/rootCA-key.pem" 2>/dev/null
mca err-key.log issue localhost --ca-dir "$T_TMP/wrongkey" --cert-file w.pem --key-file w-key.pem
check "a rootCA-key.pem that is not the root's: exit 2 ($RC), 'wrong key', nothing issued" \
	bash -c "[ $RC -eq 2 ] && grep -q 'wrong key' err-key.log && [ ! -e w.pem ] && [ ! -e w-key.pem ] && [ ! -d '$T_TMP/wrongkey/issued' ]"
mca err-crl.log crl --ca-dir "$T_TMP/wrongkey" --out w.crl
check "crl with the wrong key: exit 2 ($RC), no CRL" bash -c "[ $RC -eq 2 ] && [ ! -e w.crl ]"
mca err-name.log issue 'bad_name.localhost'
check "an invalid DNS name: exit 2 ($RC), named in the message" \
	bash -c "[ $RC -eq 2 ] && grep -q bad_name err-name.log && [ ! -e bad_name.localhost.pem ]"
mca err-ip.log issue 300.1.1.1
check "an invalid IP address: exit 2 ($RC)" [ $RC -eq 2 ]

# ---- concurrent use: issuances and revocations at once leave a consistent record
C=$T_TMP/conc
mkdir -p "$C"
pids=()
for i in 1 2 3 4 5 6 7 8; do
	timeout 30 "$MOAT" ca issue "c$i.localhost" --cert-file "$C/c$i.pem" --key-file "$C/c$i-key.pem" \
		>"$C/i$i.log" 2>&1 </dev/null &
	pids+=($!)
done
okc=0
for p in "${pids[@]}"; do wait "$p" && okc=$((okc + 1)); done
check "8 issuances at once all succeed ($okc)" [ $okc -eq 8 ]
pids=()
for i in 1 2 3 4 5 6 7 8; do
	timeout 30 "$MOAT" ca revoke "$C/c$i.pem" --reason cessationOfOperation >"$C/r$i.log" 2>&1 </dev/null &
	pids+=($!)
done
okc=0
for p in "${pids[@]}"; do wait "$p" && okc=$((okc + 1)); done
check "8 revocations at once all succeed ($okc)" [ $okc -eq 8 ]
mca conc-crl.log crl --out conc-crl.pem
allin=1
for i in 1 2 3 4 5 6 7 8; do
	openssl verify -crl_check -CRLfile conc-crl.pem -CAfile "$ROOT" "$C/c$i.pem" >/dev/null 2>&1 && allin=0
	s=$(openssl x509 -in "$C/c$i.pem" -noout -serial | cut -d= -f2 | lower | sed 's/^\(00\)*//')
	grep -q "^0*$s .*REVOKED" <("$MOAT" ca list 2>/dev/null) || allin=0
done
check "all 8 are in the record, the list and the CRL" [ $allin -eq 1 ]
check "no temporary files left in the CA directory" \
	bash -c '! find "$0" -name "*.tmp-*" | grep -q .' "$MOAT_CA_HOME"

# ---- trust stores
DB=$T_TMP/nssdb-trust
mca trust.log trust --nss-db "$DB"
FP=$(openssl x509 -in "$ROOT" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f' | cut -c1-16)
check "ca trust --nss-db DIR (exit $RC) creates the database" [ $RC -eq 0 -a -f "$DB/cert9.db" ]
timeout "$T_CLIENT" certutil -L -d "sql:$DB" >certutil.txt 2>&1
check "certutil -L lists \"moat local CA $FP\" with trust C,," grep -Eq "^moat local CA $FP +C,," certutil.txt
mca trust2.log trust --nss-db "$DB"
check "trusting again is fine (exit $RC)" [ $RC -eq 0 ]
mca untrust.log untrust --nss-db "$DB"
timeout "$T_CLIENT" certutil -L -d "sql:$DB" >certutil2.txt 2>&1
check "ca untrust --nss-db DIR removes it (exit $RC)" bash -c "[ $RC -eq 0 ] && ! grep -q 'moat local CA' certutil2.txt"
# The system store, in a directory of our own with a stand-in
# update-ca-certificates that records how it was called.
mkdir -p "$T_TMP/sys/certs" "$T_TMP/bin"
printf '#!/bin/sh\necho "update-ca-certificates $*" >>"%s/sys/calls"\n' "$T_TMP" >"$T_TMP/bin/update-ca-certificates"
chmod +x "$T_TMP/bin/update-ca-certificates"
MOAT_SYSTEM_CA_DIR=$T_TMP/sys/certs PATH=$T_TMP/bin:$PATH mca sys.log trust --system-only
check "trust --system-only installs moat-rootCA-$FP.crt and runs update-ca-certificates (exit $RC)" \
	bash -c "[ $RC -eq 0 ] && cmp -s '$ROOT' '$T_TMP/sys/certs/moat-rootCA-$FP.crt' && grep -qx 'update-ca-certificates ' '$T_TMP/sys/calls'"
MOAT_SYSTEM_CA_DIR=$T_TMP/sys/certs PATH=$T_TMP/bin:$PATH mca sys2.log untrust --system-only
check "untrust --system-only removes it and runs update-ca-certificates --fresh (exit $RC)" \
	bash -c "[ $RC -eq 0 ] && [ ! -e '$T_TMP/sys/certs/moat-rootCA-$FP.crt' ] && grep -qx 'update-ca-certificates --fresh' '$T_TMP/sys/calls'"
mca trust-bad.log trust --system-only --nss-only
check "trust --system-only --nss-only is a usage error (exit $RC)" [ $RC -eq 2 ]

# ---- headless Chromium, trusting the root through an NSS database
CHROME_FLAGS=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
	--disable-component-update --disable-sync --disable-quic)
chrome_dump() { # chrome_dump HOME URL OUT
	HOME=$1 timeout 60 chromium "${CHROME_FLAGS[@]}" --user-data-dir="$(mktemp -d "$T_TMP/chrome.XXXXXX")" \
		--dump-dom "$2" >"$3" 2>"$3.err" </dev/null
}
H1=$T_TMP/home-trusting
H2=$T_TMP/home-plain
mkdir -p "$H1" "$H2"
HOME=$H1 mca trust-home.log trust --nss-db "$H1/.pki/nssdb"
check "trust --nss-db \$HOME/.pki/nssdb (exit $RC)" [ $RC -eq 0 ]
if moat_serve "serve for chromium" "$T_TMP/site" --cert lh.pem --key lh-key.pem; then
	chrome_dump "$H1" "https://localhost:$SRV_PORT/" chrome-trust.out
	if has chrome-trust.out "$SITE_TOKEN"; then ok "Chromium trusting the root loads https://localhost from moat serve"
	else notok "Chromium trusting the root loads https://localhost from moat serve"; diag chrome-trust.out chrome-trust.out.err; fi
	chrome_dump "$H2" "https://localhost:$SRV_PORT/" chrome-plain.out
	if ! has chrome-plain.out "$SITE_TOKEN"; then ok "Chromium without the root does not show the page"
	else notok "Chromium without the root does not show the page" "the trust was not what made it work"; fi
	bg_stop "$SRV_PID"
fi
finish
