#!/usr/bin/env python3
"""Certificates for tests/interop/33-trust-chromium.sh, made with the openssl
command into DIR: one PKI per kind of case, then DIR/cases.tsv, one line per
case, and DIR/trusted.pem, the roots (and the one intermediate) both
Chromium's NSS database and moat get's --cacert trust.

usage: trust-cases.py DIR

cases.tsv columns, tab-separated:
  name  host  cert  rest  key  staple  crl  expect  why
cert: the server's own certificate; rest: the certificates it sends after
it, in that order (a PEM file, or "-"); staple: a DER OCSP response for s_server -status_file, or "-";
crl: a PEM file for moat get --crl, or "-"; expect: "-" when Chromium is
the judge, else the browser-like verdict (OK or ERR_...) the test holds
moat to, with why saying why Chromium cannot judge it.
"""
import datetime
import os
import subprocess
import sys

D = os.path.abspath(sys.argv[1])
os.makedirs(D, exist_ok=True)
os.chdir(D)
LOG = open("gen.log", "w")
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

CNF = """\
[ca]
default_ca = c
[c]
database = $ENV::MOAT_DB
new_certs_dir = $ENV::MOAT_NEWDIR
serial = serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
email_in_dn = no
[pol]
organizationName = optional
commonName = optional
[crl_critical]
1.3.6.1.4.1.55555.1 = critical,ASN1:NULL
"""
with open("ca.cnf", "w") as f:
    f.write(CNF)
os.makedirs("new", exist_ok=True)
with open("serial", "w") as f:
    f.write("1000\n")


def run(*args, env=None):
    LOG.write("$ " + " ".join(args) + "\n")
    LOG.flush()
    e = dict(os.environ)
    e.update(env or {})
    subprocess.run(args, check=True, stdout=LOG, stderr=LOG, env=e)


def when(days):
    return (NOW + datetime.timedelta(days=days)).strftime("%Y%m%d%H%M%SZ")


KEYS = {}


def key(name, kind="ec"):
    """A key file; kind ec (P-256), ec384, rsa2048 or rsa1024."""
    if name in KEYS:
        return KEYS[name]
    path = name + ".key"
    if kind == "ec":
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    elif kind == "ec384":
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", path)
    else:
        bits = kind[3:]
        run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:" + bits, "-out", path)
    KEYS[name] = path
    return path


CA_EXT = {
    "basicConstraints": "critical,CA:TRUE",
    "keyUsage": "critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier": "hash",
}
LEAF_EXT = {
    "basicConstraints": "critical,CA:FALSE",
    "keyUsage": "critical,digitalSignature",
    "extendedKeyUsage": "serverAuth",
    "subjectAltName": "DNS:good.test",
    "subjectKeyIdentifier": "hash",
    "authorityKeyIdentifier": "keyid",
}


def issue(name, cn, keyfile, issuer=None, base=None, ext=None, start=-1, end=30, md="sha256"):
    """Certificate NAME.pem for CN (None: no CN) with keyfile, signed by
    issuer (a name issued before; None: self-signed), extensions base
    updated with ext (a value of None drops that extension), valid from
    start to end days from now. Each issuer keeps an openssl ca database
    NAME.idx, for its OCSP answers and its CRL."""
    exts = dict(base if base is not None else (CA_EXT if issuer is None else LEAF_EXT))
    if issuer is not None and base is CA_EXT:
        exts["authorityKeyIdentifier"] = "keyid"
    for k, v in (ext or {}).items():
        if v is None:
            exts.pop(k, None)
        else:
            exts[k] = v
    with open(name + ".ext", "w") as f:
        for k, v in exts.items():
            f.write("%s = %s\n" % (k, v))
    subj = "/O=moat trust tests" + ("/CN=" + cn if cn else "")
    run("openssl", "req", "-new", "-key", keyfile, "-subj", subj, "-out", name + ".csr")
    open(name + ".idx", "a").close()
    signer = issuer or name
    args = ["openssl", "ca", "-batch", "-config", "ca.cnf", "-notext", "-rand_serial", "-preserveDN",
            "-in", name + ".csr", "-out", name + ".pem", "-extfile", name + ".ext", "-md", md,
            "-startdate", when(start), "-enddate", when(end)]
    if issuer is None:
        args += ["-selfsign", "-keyfile", keyfile]
    else:
        args += ["-cert", issuer + ".pem", "-keyfile", KEYFILE[issuer]]
    run(*args, env={"MOAT_DB": signer + ".idx", "MOAT_NEWDIR": "new"})
    KEYFILE[name] = keyfile
    return name


KEYFILE = {}


def ca(name, issuer=None, ext=None, kind="ec", **kw):
    return issue(name, "moat " + name, key(name, kind), issuer, CA_EXT, ext, **kw)


def leaf(name, issuer, ext=None, keyname="leaf", kind="ec", cn="good.test", **kw):
    return issue(name, cn, key(keyname, kind), issuer, LEAF_EXT, ext, **kw)


def bundle(out, *names):
    with open(out, "w") as f:
        for n in names:
            with open(n + ".pem") as c:
                f.write(c.read())
    return out


CASES = []


def case(name, chain, host="good.test", staple="-", crl="-", expect="-", why="-"):
    """chain: names, leaf first, in the order the server sends them."""
    rest = bundle("rest-" + name + ".pem", *chain[1:]) if chain[1:] else "-"
    CASES.append((name, host, chain[0] + ".pem", rest, KEYFILE[chain[0]], staple, crl, expect, why))


def ocsp(out, issuer, cert, signer=None, extra=(), index=None):
    """A DER OCSP answer about cert from issuer's database (or index),
    signed by signer (default: the issuer itself)."""
    signer = signer or issuer
    run("openssl", "ocsp", "-issuer", issuer + ".pem", "-cert", cert + ".pem", "-no_nonce", "-reqout", out + ".req")
    run("openssl", "ocsp", "-index", index or issuer + ".idx", "-CA", issuer + ".pem", "-rsigner", signer + ".pem",
        "-rkey", KEYFILE[signer], "-reqin", out + ".req", "-respout", out, *extra)
    return out


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def der_items(b):
    """The TLVs of a DER sequence's body: [(tag, whole, body)]."""
    out, i = [], 0
    while i < len(b):
        tag, n, j = b[i], b[i + 1], i + 2
        if n & 0x80:
            k = n & 0x7F
            n, j = int.from_bytes(b[j:j + k], "big"), j + k
        out.append((tag, b[i:j + n], b[j:j + n]))
        i = j + n
    return out


def backdate(out, fresh, signer, days):
    """A copy of the OCSP answer fresh whose times (producedAt, then the
    revocationTime of a revoked one, thisUpdate, nextUpdate if any) are
    those days from now, signed again by signer: openssl ocsp cannot date
    an answer in the past. Stale, as a server that stopped refreshing its
    staple sends."""
    resp = open(fresh, "rb").read()
    status, rb = der_items(der_items(resp)[0][2])
    oid, octet = der_items(der_items(rb[2])[0][2])
    tbs, alg, _sig, *rest = der_items(der_items(octet[2])[0][2])
    body = tbs[1]
    # producedAt, [revocationTime,] thisUpdate, nextUpdate: GeneralizedTimes.
    found = [i for i in range(len(body) - 16) if body[i:i + 2] == b"\x18\x0f" and body[i + 2:i + 16].isdigit()
             and body[i + 16:i + 17] == b"Z"]
    assert len(found) == len(days), "unexpected OCSP answer layout"
    for pos, t in zip(found, days):
        body = body[:pos + 2] + when(t).encode() + body[pos + 17:]
    open(out + ".tbs", "wb").write(body)
    run("openssl", "dgst", "-sha256", "-sign", KEYFILE[signer], "-out", out + ".sig", out + ".tbs")
    sig = open(out + ".sig", "rb").read()
    basic = der(0x30, body + alg[1] + der(0x03, b"\x00" + sig) + b"".join(r[1] for r in rest))
    open(out, "wb").write(der(0x30, status[1] + der(0xA0, der(0x30, oid[1] + der(0x04, basic)))))
    return out


def backdate_crl(out, fresh, signer, this_days, next_days):
    """A copy of the CRL fresh with thisUpdate this_days and nextUpdate
    next_days from now, signed again: openssl ca makes none in the past."""
    run("openssl", "crl", "-in", fresh, "-outform", "DER", "-out", out + ".fresh")
    tbs, alg, _sig = der_items(der_items(open(out + ".fresh", "rb").read())[0][2])
    body = tbs[2]
    pos = 0
    for t in (when(this_days)[2:], when(next_days)[2:]):
        pos = body.index(b"\x17\x0d", pos)
        body = body[:pos + 2] + t.encode() + body[pos + 15:]
        pos += 15
    open(out + ".tbs", "wb").write(der(0x30, body))
    run("openssl", "dgst", "-sha256", "-sign", KEYFILE[signer], "-out", out + ".sig", out + ".tbs")
    sig = open(out + ".sig", "rb").read()
    open(out + ".der", "wb").write(der(0x30, der(0x30, body) + alg[1] + der(0x03, b"\x00" + sig)))
    run("openssl", "crl", "-inform", "DER", "-in", out + ".der", "-out", out)
    return out


def revoke(issuer, cert, reason="keyCompromise"):
    run("openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", issuer + ".pem", "-keyfile", KEYFILE[issuer],
        "-revoke", cert + ".pem", "-crl_reason", reason, env={"MOAT_DB": issuer + ".idx", "MOAT_NEWDIR": "new"})


def crl(out, issuer, extra=()):
    run("openssl", "ca", "-batch", "-config", "ca.cnf", "-gencrl", "-cert", issuer + ".pem", "-keyfile",
        KEYFILE[issuer], "-out", out, *extra, env={"MOAT_DB": issuer + ".idx", "MOAT_NEWDIR": "new"})
    return out


TRUSTED = []


def trust(*names):
    TRUSTED.extend(names)


# ---- the ordinary PKI: root A, intermediate A, leaves for good.test
ca("rootA")
trust("rootA")
ca("intA", "rootA")
A = ["intA"]

# ---- names: DNS and IP SANs, wildcards, no fallback to the CN
case("good", [leaf("good", "intA")] + A)
case("leaf-from-root", [leaf("direct", "rootA")])
case("san-other-name", [leaf("othername", "intA", {"subjectAltName": "DNS:other.test"})] + A)
case("san-second-of-three", [leaf("three", "intA", {"subjectAltName": "DNS:a.test,DNS:good.test,DNS:b.test"})] + A)
case("san-upper-case", [leaf("upper", "intA", {"subjectAltName": "DNS:GOOD.Test"})] + A)
case("cn-only-no-san", [leaf("cnonly", "intA", {"subjectAltName": None})] + A)
case("cn-matches-san-not", [leaf("cnsan", "intA", {"subjectAltName": "DNS:other.test"})] + A)
case("san-without-cn", [leaf("nocn", "intA", cn=None)] + A)
leaf("wild", "intA", {"subjectAltName": "DNS:*.wild.test"})
case("wildcard-one-label", ["wild"] + A, host="a.wild.test")
case("wildcard-two-labels", ["wild"] + A, host="a.b.wild.test")
case("wildcard-bare-domain", ["wild"] + A, host="wild.test")
case("wildcard-partial-label", [leaf("partial", "intA", {"subjectAltName": "DNS:a*.wild.test"})] + A,
     host="ab.wild.test")
case("wildcard-not-leftmost", [leaf("midwild", "intA", {"subjectAltName": "DNS:a.*.test"})] + A,
     host="a.wild.test")
case("wildcard-in-cn-only", [leaf("cnwild", "intA", {"subjectAltName": None}, cn="*.wild.test")] + A,
     host="a.wild.test")
case("wildcard-whole-tld", [leaf("tldwild", "intA", {"subjectAltName": "DNS:*.test"})] + A)
case("ip-san", [leaf("ip", "intA", {"subjectAltName": "IP:127.0.0.1"})] + A, host="127.0.0.1")
case("ip-and-dns-san", [leaf("ipdns", "intA", {"subjectAltName": "DNS:good.test,IP:127.0.0.1"})] + A,
     host="127.0.0.1")
case("ip-as-dns-san", [leaf("ipasdns", "intA", {"subjectAltName": "DNS:127.0.0.1"})] + A, host="127.0.0.1")
case("ip-in-cn-only", [leaf("ipcn", "intA", {"subjectAltName": None}, cn="127.0.0.1")] + A, host="127.0.0.1")
case("ip-other-address", [leaf("ipother", "intA", {"subjectAltName": "IP:127.0.0.2"})] + A, host="127.0.0.1")
case("dns-san-for-ip-host", ["good"] + A, host="127.0.0.1")
case("ipv6-san", [leaf("ip6", "intA", {"subjectAltName": "IP:::1"})] + A, host="::1")
case("ipv6-other-address", [leaf("ip6other", "intA", {"subjectAltName": "IP:::2,IP:127.0.0.1"})] + A, host="::1")

# ---- name constraints, on an intermediate (and one on a root)
def nc(name, constraint, san="DNS:good.test", host="good.test", cn="good.test"):
    ca("nc-" + name, "rootA", {"nameConstraints": "critical," + constraint})
    case("nc-" + name, [leaf("l-nc-" + name, "nc-" + name, {"subjectAltName": san}, cn=cn), "nc-" + name], host=host)


nc("dns-permitted", "permitted;DNS:good.test")
nc("dns-permitted-parent", "permitted;DNS:test")
nc("dns-permitted-other", "permitted;DNS:allowed.test")
nc("dns-excluded", "excluded;DNS:good.test")
nc("dns-excluded-parent", "excluded;DNS:test")
nc("dns-excluded-other", "excluded;DNS:bad.test")
nc("ip-permitted", "permitted;IP:127.0.0.0/255.0.0.0", "IP:127.0.0.1", "127.0.0.1")
nc("ip-permitted-other", "permitted;IP:10.0.0.0/255.0.0.0", "IP:127.0.0.1", "127.0.0.1")
nc("ip-excluded", "excluded;IP:127.0.0.0/255.0.0.0", "IP:127.0.0.1", "127.0.0.1")
nc("ip-excluded-other", "excluded;IP:10.0.0.0/255.0.0.0", "IP:127.0.0.1", "127.0.0.1")
nc("dns-permitted-cn-only", "permitted;DNS:allowed.test", None)
nc("dns-permitted-cn-outside", "permitted;DNS:good.test", cn="other.test")
nc("dns-permitted-ip-leaf", "permitted;DNS:allowed.test", "IP:127.0.0.1", "127.0.0.1")
ca("rootNC", ext={"nameConstraints": "critical,permitted;DNS:allowed.test"})
trust("rootNC")
ca("intNC", "rootNC")
case("nc-on-trusted-root", [leaf("l-rootnc", "intNC"), "intNC"])

# ---- basicConstraints and path length
case("int-without-basic-constraints", [leaf("l-nobc", ca("int-nobc", "rootA", {"basicConstraints": None})), "int-nobc"])
case("int-ca-false", [leaf("l-cafalse", ca("int-cafalse", "rootA", {"basicConstraints": "critical,CA:FALSE"})),
                      "int-cafalse"])
case("int-bc-not-critical", [leaf("l-bcnc", ca("int-bcnc", "rootA", {"basicConstraints": "CA:TRUE"})), "int-bcnc"])
case("leaf-is-ca", [leaf("l-isca", "intA", {"basicConstraints": "critical,CA:TRUE"})] + A)
case("leaf-without-basic-constraints", [leaf("l-leafnobc", "intA", {"basicConstraints": None})] + A)
ca("int-pl0", "rootA", {"basicConstraints": "critical,CA:TRUE,pathlen:0"})
case("pathlen0-then-leaf", [leaf("l-pl0", "int-pl0"), "int-pl0"])
ca("int-pl0-sub", "int-pl0")
case("pathlen0-exceeded", [leaf("l-pl0-sub", "int-pl0-sub"), "int-pl0-sub", "int-pl0"])
ca("int-pl1", "rootA", {"basicConstraints": "critical,CA:TRUE,pathlen:1"})
ca("int-pl1-sub", "int-pl1")
case("pathlen1-two-intermediates", [leaf("l-pl1-sub", "int-pl1-sub"), "int-pl1-sub", "int-pl1"])
ca("rootPL0", ext={"basicConstraints": "critical,CA:TRUE,pathlen:0"})
trust("rootPL0")
ca("intPL0", "rootPL0")
case("root-pathlen0-with-intermediate", [leaf("l-rootpl0", "intPL0"), "intPL0"])

# ---- key usage and extended key usage, on the leaf and the intermediate
case("leaf-ku-keyencipherment-only", [leaf("l-kuenc", "intA", {"keyUsage": "critical,keyEncipherment"})] + A)
case("leaf-ku-absent", [leaf("l-kunone", "intA", {"keyUsage": None})] + A)
case("leaf-ku-not-critical", [leaf("l-kunc", "intA", {"keyUsage": "digitalSignature"})] + A)
case("leaf-eku-clientauth-only", [leaf("l-ekuclient", "intA", {"extendedKeyUsage": "clientAuth"})] + A)
case("leaf-eku-absent", [leaf("l-ekunone", "intA", {"extendedKeyUsage": None})] + A)
case("leaf-eku-server-and-client", [leaf("l-ekuboth", "intA", {"extendedKeyUsage": "serverAuth,clientAuth"})] + A)
case("leaf-eku-any", [leaf("l-ekuany", "intA", {"extendedKeyUsage": "anyExtendedKeyUsage"})] + A)
case("leaf-eku-codesigning", [leaf("l-ekucode", "intA", {"extendedKeyUsage": "codeSigning"})] + A)
case("int-eku-clientauth-only", [leaf("l-iekuc", ca("int-ekuclient", "rootA", {"extendedKeyUsage": "clientAuth"})),
                                 "int-ekuclient"])
case("int-eku-serverauth", [leaf("l-iekus", ca("int-ekuserver", "rootA", {"extendedKeyUsage": "serverAuth"})),
                            "int-ekuserver"])
case("int-eku-any", [leaf("l-iekuany", ca("int-ekuany", "rootA", {"extendedKeyUsage": "anyExtendedKeyUsage"})),
                     "int-ekuany"])
case("leaf-eku-any-ku-keycertsign", [leaf("l-ekuanyku", "intA", {"extendedKeyUsage": "anyExtendedKeyUsage",
                                                                   "keyUsage": "critical,keyCertSign"})] + A)
case("int-ku-no-keycertsign", [leaf("l-ikunocs", ca("int-kunocs", "rootA", {"keyUsage": "critical,digitalSignature,cRLSign"})),
                               "int-kunocs"])
case("int-ku-absent", [leaf("l-ikunone", ca("int-kunone", "rootA", {"keyUsage": None})), "int-kunone"])
ca("rootEKU", ext={"extendedKeyUsage": "clientAuth"})
trust("rootEKU")
ca("intEKU", "rootEKU")
case("root-eku-clientauth-only", [leaf("l-rooteku", "intEKU"), "intEKU"])

# ---- signatures and keys: SHA-1, weak RSA
ca("rootRSA", kind="rsa2048")
trust("rootRSA")
ca("intRSA", "rootRSA", kind="rsa2048")
case("rsa2048-leaf", [leaf("l-rsa2048", "intRSA", keyname="leafrsa2048", kind="rsa2048"), "intRSA"])
case("leaf-sha1-signed", [leaf("l-sha1", "intRSA", keyname="leafrsa2048", kind="rsa2048", md="sha1"), "intRSA"])
ca("int-sha1", "rootRSA", kind="rsa2048", md="sha1")
case("int-sha1-signed", [leaf("l-intsha1", "int-sha1", keyname="leafrsa2048", kind="rsa2048"), "int-sha1"])
ca("rootSHA1", kind="rsa2048", md="sha1")
trust("rootSHA1")
ca("intSHA1root", "rootSHA1", kind="rsa2048")
case("root-self-signed-sha1", [leaf("l-rootsha1", "intSHA1root"), "intSHA1root"])
case("leaf-rsa768", [leaf("l-rsa768", "intRSA", keyname="leafrsa768", kind="rsa768"), "intRSA"])
case("leaf-rsa1024", [leaf("l-rsa1024", "intRSA", keyname="leafrsa1024", kind="rsa1024"), "intRSA"])
ca("int-rsa1024", "rootRSA", kind="rsa1024")
case("int-rsa1024", [leaf("l-intrsa1024", "int-rsa1024"), "int-rsa1024"])
case("leaf-p384", [leaf("l-p384", "intA", keyname="leafp384", kind="ec384")] + A)

# ---- validity of the leaf, the intermediate and the root
case("leaf-expired", [leaf("l-expired", "intA", start=-60, end=-1)] + A)
case("leaf-not-yet-valid", [leaf("l-future", "intA", start=2, end=60)] + A)
case("leaf-valid-400-days", [leaf("l-400", "intA", end=399)] + A)
case("leaf-valid-10-years", [leaf("l-10y", "intA", end=3650)] + A)
case("leaf-outlives-intermediate", [leaf("l-outlive", ca("int-short", "rootA", end=5), end=60), "int-short"])
case("int-expired", [leaf("l-intexp", ca("int-expired", "rootA", start=-60, end=-1)), "int-expired"])
case("int-not-yet-valid", [leaf("l-intfut", ca("int-future", "rootA", start=2, end=60)), "int-future"])
ca("rootExpired", start=-60, end=-1)
trust("rootExpired")
ca("intRootExpired", "rootExpired", start=-30)
case("root-expired", [leaf("l-rootexp", "intRootExpired"), "intRootExpired"])
ca("rootFuture", start=2, end=60)
trust("rootFuture")
ca("intRootFuture", "rootFuture")
case("root-not-yet-valid", [leaf("l-rootfut", "intRootFuture"), "intRootFuture"])

# ---- chains: order, gaps, extras, untrusted roots, cross-signing
ca("int2", "intA")
leaf("l-int2", "int2")
case("chain-in-order", ["l-int2", "int2", "intA"])
case("chain-reversed", ["l-int2", "intA", "int2"])
case("chain-missing-intermediate", ["good"])
case("chain-missing-middle", ["l-int2", "intA"])
case("chain-with-root", ["good", "intA", "rootA"])
case("chain-duplicate-intermediate", ["good", "intA", "intA"])
ca("stray", "rootA")
case("chain-unrelated-extra", ["good", "stray", "intA"])
ca("rootUntrusted")
ca("intUntrusted", "rootUntrusted")
case("untrusted-root", [leaf("l-untrusted", "intUntrusted"), "intUntrusted"])
case("untrusted-root-sent", ["l-untrusted", "intUntrusted", "rootUntrusted"])
case("self-signed-leaf", [issue("selfsigned", "good.test", key("leaf"), None, LEAF_EXT,
                                 {"authorityKeyIdentifier": None})])
# Cross-signing: rootNew (same name and key as the self-signed rootNew)
# signed by rootOld. Only rootOld trusted: the path runs through the cross
# certificate. Only rootNew trusted: the cross certificate is sent but the
# path ends at rootNew.
ca("rootOld")
trust("rootOld")
ca("rootNew")
issue("xNew-by-Old", "moat rootNew", KEYFILE["rootNew"], "rootOld", CA_EXT)
ca("intNew", "rootNew")
leaf("l-cross", "intNew")
case("cross-signed-old-root-trusted", ["l-cross", "intNew", "xNew-by-Old"])
ca("rootOld2")
ca("rootNew2")
trust("rootNew2")
issue("xNew2-by-Old2", "moat rootNew2", KEYFILE["rootNew2"], "rootOld2", CA_EXT)
ca("intNew2", "rootNew2")
leaf("l-cross2", "intNew2")
case("cross-signed-new-root-trusted", ["l-cross2", "intNew2", "xNew2-by-Old2"])
ca("rootOld3")
trust("rootOld3")
ca("rootNew3")
trust("rootNew3")
issue("xNew3-by-Old3", "moat rootNew3", KEYFILE["rootNew3"], "rootOld3", CA_EXT, start=-60, end=-1)
ca("intNew3", "rootNew3")
leaf("l-cross3", "intNew3")
case("cross-signed-expired-cross-cert", ["l-cross3", "intNew3", "xNew3-by-Old3"])
case("cross-signed-no-cross-cert", ["l-cross", "intNew"])
# An intermediate trusted on its own (its root is not).
ca("rootHidden")
ca("intAnchor", "rootHidden")
trust("intAnchor")
case("intermediate-as-trust-anchor", [leaf("l-anchor", "intAnchor"), "intAnchor"])

# ---- OCSP staples
leaf("l-ocsp-good", "intA")
leaf("l-ocsp-revoked", "intA")
revoke("intA", "l-ocsp-revoked")
ca("ocspResponder", "intA", ext={"basicConstraints": "critical,CA:FALSE", "keyUsage": "critical,digitalSignature",
                                  "extendedKeyUsage": "OCSPSigning"})
good_der = ocsp("ocsp-good.der", "intA", "l-ocsp-good", extra=("-ndays", "7"))
case("ocsp-good", ["l-ocsp-good"] + A, staple=good_der)
case("ocsp-revoked", ["l-ocsp-revoked"] + A, staple=ocsp("ocsp-revoked.der", "intA", "l-ocsp-revoked",
                                                         extra=("-ndays", "7")))
case("ocsp-good-delegated-responder", ["l-ocsp-good"] + A,
     staple=ocsp("ocsp-good-deleg.der", "intA", "l-ocsp-good", "ocspResponder", ("-ndays", "7")))
case("ocsp-revoked-delegated-responder", ["l-ocsp-revoked"] + A,
     staple=ocsp("ocsp-revoked-deleg.der", "intA", "l-ocsp-revoked", "ocspResponder", ("-ndays", "7")))
case("ocsp-for-another-cert", ["good"] + A, staple=good_der)
case("ocsp-unrelated-signer", ["good"] + A,
     staple=ocsp("ocsp-unrelated.der", "intA", "good", "rootUntrusted", ("-ndays", "7")))
case("ocsp-stale", ["good"] + A, staple=backdate("ocsp-stale.der", ocsp("ocsp-fresh.der", "intA", "good", extra=("-ndays", "1")),
                                                  "intA", (-10, -10, -3)))
open("empty.idx", "w").close()
case("ocsp-unknown", ["good"] + A, staple=ocsp("ocsp-unknown.der", "intA", "good", extra=("-ndays", "7"), index="empty.idx"))
case("ocsp-revoked-stale", ["l-ocsp-revoked"] + A,
     staple=backdate("ocsp-revoked-stale.der", ocsp("ocsp-revoked-fresh.der", "intA", "l-ocsp-revoked",
                                                    extra=("-ndays", "1")), "intA", (-10, -11, -10, -3)))
# No nextUpdate, made 10 days ago: moat believes such an answer for 7 days.
case("ocsp-good-no-next-update-old", ["good"] + A,
     staple=backdate("ocsp-good-old.der", ocsp("ocsp-good-now.der", "intA", "good"), "intA", (-10, -10)))
case("ocsp-revoked-no-next-update-old", ["l-ocsp-revoked"] + A,
     staple=backdate("ocsp-revoked-old.der", ocsp("ocsp-revoked-now.der", "intA", "l-ocsp-revoked"), "intA",
                     (-10, -11, -10)))
case("ocsp-revoked-unrelated-signer", ["l-ocsp-revoked"] + A,
     staple=ocsp("ocsp-revoked-unrelated.der", "intA", "l-ocsp-revoked", "rootUntrusted", ("-ndays", "7")))

# ---- CRLs (moat get --crl): Chromium reads no CRL file, so the test holds
# moat to the browser-like verdict written here.
NOCRL = "Chromium reads no CRL file (it has only Google's CRLSet); moat get --crl judges as curl --crlfile"
crlA = crl("crl-intA.pem", "intA", ("-crldays", "7"))
case("crl-good", ["good"] + A, crl=crlA, expect="OK", why=NOCRL)
case("crl-leaf-revoked", ["l-ocsp-revoked"] + A, crl=crlA, expect="ERR_CERT_REVOKED", why=NOCRL)
ca("int-revoked", "rootA")
revoke("rootA", "int-revoked", "cACompromise")
bundle("crl-chain.pem", "rootA", "int-revoked")
crl("crl-rootA.pem", "rootA", ("-crldays", "7"))
crl("crl-int-revoked.pem", "int-revoked", ("-crldays", "7"))
with open("crl-int.pem", "w") as f:
    f.write(open("crl-rootA.pem").read() + open("crl-int-revoked.pem").read())
case("crl-intermediate-revoked", [leaf("l-introv", "int-revoked"), "int-revoked"], crl="crl-int.pem",
     expect="ERR_CERT_REVOKED", why=NOCRL)
case("crl-wrong-issuer", ["good"] + A, crl=crl("crl-untrusted.pem", "rootUntrusted", ("-crldays", "7")),
     expect="ERR_CERT_UNABLE_TO_CHECK_REVOCATION", why=NOCRL)
case("crl-expired", ["good"] + A, crl=backdate_crl("crl-expired.pem", crl("crl-fresh.pem", "intA", ("-crldays", "1")),
                                                   "intA", -10, -3),
     expect="ERR_CERT_UNABLE_TO_CHECK_REVOCATION", why=NOCRL)
case("crl-critical-extension", ["good"] + A,
     crl=crl("crl-critical.pem", "intA", ("-crldays", "7", "-crlexts", "crl_critical")),
     expect="ERR_CERT_UNABLE_TO_CHECK_REVOCATION", why=NOCRL)

bundle("trusted.pem", *TRUSTED)
with open("trusted.txt", "w") as f:
    f.write("\n".join(n + ".pem" for n in TRUSTED) + "\n")
with open("cases.tsv", "w") as f:
    for c in CASES:
        f.write("\t".join(c) + "\n")
print(len(CASES), "cases")
