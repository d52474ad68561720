/* How moat judges a peer's chain (crypto_verify_chain, crypto_x509_describe),
 * case by case: the refusal's words and browser code, for certificates
 * made with the openssl command in a temporary directory. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "crypto/x509info.h"
#include "moat/error.h"

static int failures;
static char dir[256];

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok" : "not ok");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok) failures++;
}

/* The certificates: a root and an intermediate; leaves issued by the
 * intermediate (name.pem and name.der) for the cases below. */
static const char script[] =
    "set -e; exec >gen.log 2>&1\n"
    "ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
    "printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' "
    ">ca.ext\n"
    "openssl req -x509 $ec -keyout root.key -out root.pem -days 30 -subj /CN=root "
    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
    "openssl req $ec -keyout inter.key -out inter.csr -subj /CN=inter\n"
    "openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 "
    "-extfile ca.ext -out inter.pem\n"
    "openssl x509 -in inter.pem -outform DER -out inter.der\n"
    "base='basicConstraints=critical,CA:FALSE\\nextendedKeyUsage=serverAuth,clientAuth'\n"
    "san='subjectAltName=DNS:localhost'\n"
    /* leaf NAME 'EXTENSIONS' KEYOPTIONS...: NAME.pem/.key/.der, issued by inter */
    "leaf() { n=$1; printf \"$2\\n\" >$n.ext; shift 2\n"
    "  openssl req -new \"$@\" -nodes -keyout $n.key -subj /CN=localhost -out $n.csr\n"
    "  openssl x509 -req -in $n.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 30 "
    "-extfile $n.ext -out $n.pem\n"
    "  openssl x509 -in $n.pem -outform DER -out $n.der; }\n"
    "leaf good \"$base\\n$san\" $ec\n"
    "leaf weak \"$base\\n$san\" -newkey rsa:768\n"
    /* A dNSName with a NUL inside: good.test\\0.evil.test */
    "leaf nul \"$base\\nsubjectAltName=DER:30:16:82:14:67:6f:6f:64:2e:74:65:73:74:00:2e:65:76:"
    "69:6c:2e:74:65:73:74\" $ec\n"
    /* keyUsage without digitalSignature: no TLS 1.3 leaf (4.4.2.2) */
    "leaf ka \"$base\n$san\nkeyUsage=critical,keyAgreement\" $ec\n"
    "leaf ke \"$base\n$san\nkeyUsage=critical,keyEncipherment\" -newkey rsa:2048\n"
    "leaf ds \"$base\n$san\nkeyUsage=critical,digitalSignature,keyAgreement\" $ec\n"
    "cat inter.pem root.pem >both.pem\n"
    /* A self-signed leaf, and a root that issued nothing here. */
    "openssl req -x509 $ec -keyout ss.key -out ss.pem -days 30 -subj /CN=localhost "
    "-addext subjectAltName=DNS:localhost\n"
    "openssl x509 -in ss.pem -outform DER -out ss.der\n"
    "openssl req -x509 $ec -keyout other.key -out other.pem -days 30 -subj /CN=other "
    "-addext basicConstraints=critical,CA:TRUE\n"

    /* A CRL from inter with an extension nobody knows, marked critical. */
    "mkdir db; : >db/index.txt; echo 01 >db/crlnumber\n"
    "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=db/index.txt\\ncrlnumber=db/crlnumber\\n"
    "default_md=sha256\\ndefault_crl_days=30\\ncrl_extensions=crlext\\n[crlext]\\n"
    "1.3.6.1.4.1.55555.1=critical,DER:05:00\\n' >crit.cnf\n"
    "openssl ca -batch -config crit.cnf -keyfile inter.key -cert inter.pem -gencrl "
    "-out crit.crl\n"
    /* An ordinary CRL from inter, revoking nothing. */
    "sed '/crl_extensions/d' crit.cnf >plain.cnf\n"
    "openssl ca -batch -config plain.cnf -keyfile inter.key -cert inter.pem -gencrl "
    "-out inter.crl\n"
    /* OCSP answers about good (and ds): good and revoked, signed by inter,
     * by an unrelated key (other), or about the other certificate. */
    "idx() { s=$(openssl x509 -in $1.pem -noout -serial | cut -d= -f2)\n"
    "  printf 'V\\t301231000000Z\\t\\t%s\\tunknown\\t/CN=localhost\\n' $s >$1-ok.idx\n"
    "  printf 'R\\t301231000000Z\\t200101000000Z,keyCompromise\\t%s\\tunknown\\t"
    "/CN=localhost\\n' $s >$1-rev.idx; }\n"
    "idx good; idx ds\n"
    "ocsp() { openssl ocsp -index $1.idx -rsigner $2.pem -rkey $2.key -CA inter.pem "
    "-issuer inter.pem -ndays 1 -cert $3.pem -respout $4.ocsp; }\n"
    "ocsp good-ok inter good good; ocsp good-rev inter good revoked\n"
    "ocsp good-ok other good forged; ocsp good-rev other good forged-revoked\n"
    "ocsp ds-ok inter ds another; ocsp ds-rev inter ds another-revoked\n"
    "printf 'not an OCSP response' >junk.ocsp\n";

static char *read_file(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)len + 1)) && fread(p, 1, (size_t)len, f) == (size_t)len) {
        p[len] = 0;
        *n = (size_t)len;
    } else {
        free(p);
        p = NULL;
    }
    if (f) fclose(f);
    return p;
}

/* A trust store from a PEM file of the directory, with a CRL file when
 * crl is not NULL. */
static moat_trust *trust(const char *pem, const char *crl)
{
    size_t n = 0;
    char err[256] = "", *p = read_file(pem, &n);
    moat_trust *t = p ? crypto_trust_new(p, n, err, sizeof err) : NULL;
    free(p);
    if (t && crl) {
        p = read_file(crl, &n);
        if (!p || crypto_trust_add_crl(t, p, n, err, sizeof err)) {
            crypto_trust_free(t);
            t = NULL;
        }
        free(p);
    }
    if (!t) printf("# trust %s: %s\n", pem, err);
    return t;
}

struct verdict {
    int r;
    const char *why, *code, *staple;
    moat_verdict v;
};

/* Verifies the chain "leaf.der inter.der ..." (names without .der) for host
 * at now, with a staple file when ocsp is not NULL; client: clientAuth. */
static const struct verdict *verify(moat_trust *t, const char *chain, const char *host, int client,
                                    const char *ocsp, int64_t now)
{
    static struct verdict v; /* until the next call */
    memset(&v, 0, sizeof v);
    v.r = -1;
    v.why = v.v.reason, v.code = "", v.staple = v.v.staple;
    const uint8_t *ders[8];
    size_t lens[8], n = 0, ocsp_n = 0;
    char names[256], *save = NULL, *staple = NULL;
    snprintf(names, sizeof names, "%s", chain);
    for (char *s = strtok_r(names, " ", &save); s && n < 8; s = strtok_r(NULL, " ", &save)) {
        char file[300];
        snprintf(file, sizeof file, "%s.der", s);
        if (!(ders[n] = (const uint8_t *)read_file(file, &lens[n]))) goto out;
        n++;
    }
    if (ocsp && !(staple = read_file(ocsp, &ocsp_n))) goto out;
    if (t)
        v.r = crypto_verify_chain(t, ders, lens, n, host, now, client, (const uint8_t *)staple,
                                  ocsp_n, &v.v);
    if (v.v.code) v.code = v.v.code;
out:
    for (size_t i = 0; i < n; i++)
        free((void *)ders[i]);
    free(staple);
    return &v;
}

/* Browser codes and plain words for what is wrong. */
static void test_names(void)
{
    int64_t now = (int64_t)time(NULL);
    moat_trust *t = trust("root.pem", NULL);
    const struct verdict *v = verify(t, "weak inter", "localhost", 0, NULL, now);
    check(v->r == MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE) &&
              !strcmp(v->code, "NET::ERR_CERT_WEAK_KEY") && strstr(v->why, "768-bit key"),
          "a 768-bit RSA leaf under a local root: NET::ERR_CERT_WEAK_KEY (%s; %s)", v->why,
          v->code);
    v = verify(t, "nul inter", "good.test", 0, NULL, now);
    check(v->r == MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE) &&
              !strcmp(v->code, "NET::ERR_CERT_COMMON_NAME_INVALID") &&
              strstr(v->why, "(it is valid for good.test\\x00.evil.test)"),
          "a SAN with a NUL inside is refused and shown escaped (%s)", v->why);
    size_t n = 0;
    char *der = read_file("nul.der", &n);
    struct moat_x509_info info;
    check(der && crypto_x509_describe((const uint8_t *)der, n, &info) == 0 &&
              !strcmp(info.sans, "DNS:good.test\\x00.evil.test"),
          "-v shows that SAN escaped: %s", der ? info.sans : "(no certificate)");
    free(der);
    char esc[16];
    check(crypto_x509_escape_name((const uint8_t *)"a\\b\x7f", 4, esc, sizeof esc) == 10 &&
              !strcmp(esc, "a\\x5cb\\x7f") &&
              crypto_x509_escape_name((const uint8_t *)"abc\x01", 4, esc, 6) == 3 &&
              !strcmp(esc, "abc"),
          "escaping: a backslash too, and never half an escape when short of room");
    crypto_trust_free(t);

    t = trust("both.pem", "crit.crl");
    v = verify(t, "good inter", "localhost", 0, NULL, now);
    check(v->r == MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_UNKNOWN) &&
              !strcmp(v->code, "NET::ERR_CERT_UNABLE_TO_CHECK_REVOCATION") &&
              strstr(v->why, "revocation status of its certificate could not be checked"),
          "a CRL with an unhandled critical extension: revocation unknown (%s; %s)", v->why,
          v->code);
    crypto_trust_free(t);
}

/* RFC 8446 4.4.2.2: a keyUsage, when present, allows digitalSignature. */
static void test_key_usage(void)
{
    int64_t now = (int64_t)time(NULL);
    moat_trust *t = trust("root.pem", NULL);
    int bad = MOAT_ERR_ALERT(MOAT_ALERT_UNSUPPORTED_CERTIFICATE);
    const struct verdict *v = verify(t, "ka inter", "localhost", 0, NULL, now);
    check(v->r == bad && !strcmp(v->code, "ERR_SSL_KEY_USAGE_INCOMPATIBLE") &&
              strstr(v->why, "(it allows keyAgreement)"),
          "an EC server leaf with keyUsage keyAgreement only is refused (%s; %s)", v->why, v->code);
    v = verify(t, "ke inter", "localhost", 0, NULL, now);
    check(v->r == bad && !strcmp(v->code, "ERR_SSL_KEY_USAGE_INCOMPATIBLE") &&
              strstr(v->why, "(it allows keyEncipherment)"),
          "an RSA server leaf with keyUsage keyEncipherment only is refused (%s)", v->why);
    v = verify(t, "ke inter", NULL, 1, NULL, now);
    check(v->r == bad && !strcmp(v->code, "ERR_SSL_KEY_USAGE_INCOMPATIBLE"),
          "the same as a client certificate: unsupported_certificate (%s)", v->why);
    v = verify(t, "ka inter", NULL, 1, NULL, now);
    check(v->r == bad, "an EC client certificate with keyAgreement only too (%s)", v->why);
    v = verify(t, "ds inter", "localhost", 0, NULL, now);
    check(v->r == 0, "digitalSignature with keyAgreement is accepted (%s)", v->why);
    v = verify(t, "good inter", "localhost", 0, NULL, now);
    check(v->r == 0, "no keyUsage at all is accepted (%s)", v->why);
    v = verify(t, "good inter", NULL, 1, NULL, now);
    check(v->r == 0, "and as a client certificate (%s)", v->why);
    crypto_trust_free(t);
}

/* Any certificate of the trust store is an anchor (partial chains), as
 * curl and browsers have it; names and dates are still checked. */
static void test_partial_chain(void)
{
    int64_t now = (int64_t)time(NULL);
    moat_trust *t = trust("inter.pem", NULL);
    const struct verdict *v = verify(t, "good inter", "localhost", 0, NULL, now);
    check(v->r == 0, "an intermediate in the trust file is an anchor (%s)", v->why);
    v = verify(t, "good", "localhost", 0, NULL, now);
    check(v->r == 0, "also when the server sends the leaf alone (%s)", v->why);
    v = verify(t, "good inter", "other.test", 0, NULL, now);
    check(v->r != 0 && !strcmp(v->code, "NET::ERR_CERT_COMMON_NAME_INVALID"),
          "under an intermediate anchor the name is still checked (%s)", v->code);
    v = verify(t, "good inter", "localhost", 0, NULL, now + 60 * 86400);
    check(v->r != 0 && !strcmp(v->code, "NET::ERR_CERT_DATE_INVALID"),
          "and the dates, the anchor's too (%s)", v->why);
    v = verify(t, "good inter", NULL, 1, NULL, now);
    check(v->r == MOAT_ERR_ALERT(MOAT_ALERT_UNKNOWN_CA),
          "a client certificate still needs a root of --client-ca (%s)", v->why);
    crypto_trust_free(t);

    t = trust("inter.pem", "inter.crl");
    v = verify(t, "good inter", "localhost", 0, NULL, now);
    check(v->r == 0, "with the intermediate's CRL, its leaf is checked and accepted (%s)", v->why);
    crypto_trust_free(t);

    t = trust("good.pem", NULL);
    v = verify(t, "good inter", "localhost", 0, NULL, now);
    check(v->r == 0, "the server's own leaf in the trust file is an anchor, as for curl (%s)",
          v->why);
    crypto_trust_free(t);

    t = trust("ss.pem", NULL);
    v = verify(t, "ss", "localhost", 0, NULL, now);
    check(v->r == 0, "a self-signed leaf in the trust file is accepted (%s)", v->why);
    v = verify(t, "ss", "other.test", 0, NULL, now);
    check(v->r != 0 && !strcmp(v->code, "NET::ERR_CERT_COMMON_NAME_INVALID"),
          "but only for its names (%s)", v->code);
    v = verify(t, "good inter", "localhost", 0, NULL, now);
    check(v->r == MOAT_ERR_ALERT(MOAT_ALERT_UNKNOWN_CA) &&
              !strcmp(v->code, "NET::ERR_CERT_AUTHORITY_INVALID") && strstr(v->why, "(root)"),
          "a chain reaching no certificate of the trust file is refused (%s)", v->why);
    crypto_trust_free(t);

    t = trust("other.pem", NULL);
    v = verify(t, "ss", "localhost", 0, NULL, now);
    check(v->r != 0 && strstr(v->why, "self-signed"),
          "a self-signed leaf not in it is refused (%s)", v->why);
    crypto_trust_free(t);
}

/* A stapled OCSP answer counts only when it is signed for this very
 * certificate and fresh; otherwise it is ignored, and -v says why. Only a
 * signed "revoked" about the certificate refuses. */
static void test_staples(void)
{
    int64_t now = (int64_t)time(NULL);
    int revoked = MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_REVOKED);
    moat_trust *t = trust("root.pem", NULL);
    const struct verdict *v = verify(t, "good inter", "localhost", 0, "good.ocsp", now);
    check(v->r == 0 && !v->staple[0], "a good staple counts (%s)", v->staple);
    v = verify(t, "good inter", "localhost", 0, "revoked.ocsp", now);
    check(v->r == revoked && !strcmp(v->code, "NET::ERR_CERT_REVOKED") &&
              strstr(v->why, "says the server's stapled OCSP answer"),
          "a signed revoked staple refuses (%s)", v->why);
    struct {
        const char *file, *why, *name;
    } ignored[] = {
        {"another.ocsp", "it is about another certificate", "a staple for another certificate"},
        {"another-revoked.ocsp", "it is about another certificate",
         "a revoked staple for another certificate"},
        {"forged.ocsp", "its signature does not verify", "a staple signed by an unrelated key"},
        {"forged-revoked.ocsp", "its signature does not verify",
         "a revoked staple signed by an unrelated key"},
        {"junk.ocsp", "not a successful OCSP response", "a staple that is no OCSP response"},
    };
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        v = verify(t, "good inter", "localhost", 0, ignored[i].file, now);
        check(v->r == 0 && !v->why[0] && strstr(v->staple, ignored[i].why),
              "%s is ignored, not a refusal: %s", ignored[i].name, v->staple);
    }
    v = verify(t, "good inter", "localhost", 0, "good.ocsp", now + 3 * 86400);
    check(v->r == 0 && strstr(v->staple, "it is out of date (next update "),
          "a staple past its nextUpdate is ignored: %s", v->staple);
    v = verify(t, "good inter", "localhost", 0, "revoked.ocsp", now + 3 * 86400);
    check(v->r == 0 && strstr(v->staple, "it is out of date (next update "),
          "a signed revoked staple past its nextUpdate is ignored, as Chromium ignores it: %s",
          v->staple);
    crypto_trust_free(t);

    /* Under an intermediate anchor, the intermediate's answers count. */
    t = trust("inter.pem", NULL);
    v = verify(t, "good inter", "localhost", 0, "good.ocsp", now);
    check(v->r == 0 && !v->staple[0], "a good staple counts under an intermediate anchor (%s)",
          v->staple);
    v = verify(t, "good", "localhost", 0, "revoked.ocsp", now);
    check(v->r == revoked, "and a revoked one refuses (%s)", v->why);
    crypto_trust_free(t);
    /* The leaf itself as the anchor: no issuer to match an answer with. */
    t = trust("good.pem", NULL);
    v = verify(t, "good", "localhost", 0, "revoked.ocsp", now);
    check(v->r == 0 && strstr(v->staple, "issuer is not known"),
          "with the leaf as its own anchor a staple cannot be matched: %s", v->staple);
    crypto_trust_free(t);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moat-verify-XXXXXX");
    if (!mkdtemp(dir) || chdir(dir)) {
        printf("not ok - a temporary directory\n");
        return 1;
    }
    if (system(script) != 0) {
        printf("not ok - test certificates could not be made (see %s/gen.log)\n", dir);
        return 1;
    }
    test_names();
    test_key_usage();
    test_partial_chain();
    test_staples();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!failures && system(cmd) != 0) printf("# could not remove %s\n", dir);
    return failures ? 1 : 0;
}
