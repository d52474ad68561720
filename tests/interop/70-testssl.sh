#!/usr/bin/env bash
# testssl.sh (Debian's testssl.sh package) against moat serve --hsts: no
# finding rated VULNERABLE, NOT ok, HIGH or CRITICAL; TLS 1.2 and 1.3
# offered, nothing older; in 1.2 only the ECDHE AEAD suites; forward
# secrecy; HSTS. (testssl picks the version of its renegotiation probes
# before it tests protocols, and with 1.3 found first calls the server
# "TLS 1.3 only" there: 14-tls12.sh checks secure renegotiation and its
# refusal with s_client instead. SSL 2 and 3, which the local openssl
# cannot speak, are checked with raw hellos in 14-tls12.sh and 50.) Parses its --jsonfile output. The leaf is valid
# for a year and names a CRL, so that testssl judges moat, not a
# throw-away test certificate. Runs protocols, cipher categories, forward
# secrecy, server defaults and preference, headers, vulnerabilities and
# GREASE (implementation bugs); no client simulation, to save time.
. "$(dirname "$0")/../lib.sh"
need testssl openssl python3 || { finish; exit; }
need_moat
not_has() { ! grep -Eq -- "$2" "$1"; }
gen_certs || { finish; exit; }
make_site "$T_TMP/site"
L=$T_TMP/leaf
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$L.key" 2>/dev/null
openssl req -new -key "$L.key" -subj /CN=localhost -out "$L.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\ncrlDistributionPoints=URI:http://127.0.0.1/ca.crl\n' >"$L.ext"
openssl x509 -req -in "$L.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial -days 365 \
	-extfile "$L.ext" -out "$L.pem" 2>/dev/null
if moat_serve "testssl" "$T_TMP/site" --cert "$L.pem" --key "$L.key" --hsts 31536000; then
	json=$T_TMP/testssl.json
	# --ssl-native: testssl's own socket ClientHellos carry no
	# extended_master_secret, which moat requires in TLS 1.2 (RFC 7627),
	# so through them 1.2 looks "not offered"; openssl s_client sends it,
	# as every current client does.
	timeout 800 testssl --ssl-native --quiet --color 0 --warnings off --ip 127.0.0.1 --jsonfile "$json" \
		--protocols --standard --fs --server-defaults --server-preference --headers --vulnerable --grease \
		--add-ca "$CERTS/ca.pem" "https://localhost:$SRV_PORT/" >"$T_TMP/testssl.out" 2>&1
	if [ -s "$json" ]; then
		python3 - "$json" >"$T_TMP/verdict" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))
by = {i["id"]: i for i in items}
bad = [i for i in items if i.get("severity") in ("HIGH", "CRITICAL")
       or "VULNERABLE" in i.get("finding", "").upper() and "NOT VULNERABLE" not in i.get("finding", "").upper()
       or "NOT OK" in i.get("finding", "").upper()]
for i in bad:
    print("BAD %s %s: %s" % (i["id"], i.get("severity"), i.get("finding")))
for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
    f = by.get(p, {}).get("finding", "")
    untestable = p.startswith("SSL") and f.startswith("not tested due to lack of local support")
    print("PROTO %s %s" % (p, "ok" if f.startswith("not offered") or untestable else "BAD " + f))
for p in ("TLS1_2", "TLS1_3"):
    f = by.get(p, {}).get("finding", "")
    print("PROTO %s %s" % (p, "ok" if f.startswith("offered") else "BAD " + f))
# The 1.2 suites the server prefers, in order (--server-preference).
ours = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"}
order = [i for i in items if i["id"].lower().replace(".", "_") == "cipherorder_tlsv1_2"]
got = order[0].get("finding", "").split() if order else []
print("SUITES12 %s %s" % ("ok" if got and set(got) <= ours else "BAD", " ".join(got) or "none"))
for k in ("secure_renego", "secure_client_renego"):
    print("RENEGO %s %s" % (k, by.get(k, {}).get("finding", "")))
fs = by.get("FS", by.get("PFS", {})).get("finding", "")
print("FS %s %s" % ("ok" if fs.startswith("offered") else "BAD", fs))
hsts = by.get("HSTS_time", by.get("HSTS", {})).get("finding", "")
print("HSTS %s %s" % ("ok" if "31536000" in hsts or "365 days" in hsts else "BAD", hsts))
counts = {}
for i in items:
    counts[i.get("severity")] = counts.get(i.get("severity"), 0) + 1
for i in items:
    if i.get("severity") in ("MEDIUM", "LOW", "WARN"):
        print("NOTE %s %s: %s" % (i["id"], i["severity"], i.get("finding")))
print("SUMMARY " + " ".join("%s=%d" % kv for kv in sorted(counts.items(), key=str)))
PY
		sed 's/^/# /' "$T_TMP/verdict"
		check "testssl: no finding VULNERABLE, NOT ok, HIGH or CRITICAL" not_has "$T_TMP/verdict" '^BAD '
		for p in SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3; do
			check "testssl: $p $(case $p in TLS1_[23]) echo offered ;; SSL*) echo "not offered (or not testable locally)" ;; *) echo not offered ;; esac)" has "$T_TMP/verdict" "^PROTO $p ok"
		done
		check "testssl: TLS 1.2 suites only ECDHE with AES-GCM or ChaCha20-Poly1305" has "$T_TMP/verdict" '^SUITES12 ok'
		check "testssl: forward secrecy offered" has "$T_TMP/verdict" '^FS ok'
		check "testssl: HSTS max-age 31536000" has "$T_TMP/verdict" '^HSTS ok'
	else
		notok "testssl: wrote its JSON report"
		diag "$T_TMP/testssl.out"
	fi
	server_alive "testssl"
	bg_stop "$SRV_PID"
fi
finish
