/* Trust stores and certificate chain validation through libcrypto's X509
 * verifier, with refusals explained in plain words as browsers do. */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "crypto/x509info.h"
#include "moat/error.h"

struct moat_trust {
    X509_STORE *store;
    int crl_check; /* CRLs were given: revocation is checked (see crl_cb) */
    int local;     /* roots the caller chose, not the system's public ones */
};

/* A store whose every certificate is an anchor, not only self-signed
 * roots: an intermediate (or the server's own leaf) given with --cacert
 * or --capath, or found in the system store, ends the chain, as curl
 * does (X509_V_FLAG_PARTIAL_CHAIN) and browsers do with any trusted
 * certificate. Set on the store so that the check of a stapled OCSP
 * answer's signer trusts the same certificates. Client certificates
 * still chain to a root (crypto_verify_chain clears it for them). */
static moat_trust *trust_alloc(void)
{
    if (crypto_init()) return NULL;
    moat_trust *t = OPENSSL_zalloc(sizeof *t);
    if (!t || !(t->store = X509_STORE_new())) {
        crypto_trust_free(t);
        return NULL;
    }
    X509_STORE_set_flags(t->store, X509_V_FLAG_PARTIAL_CHAIN);
    return t;
}

moat_trust *crypto_trust_new(const char *pem, size_t len, char *err, size_t errlen)
{
    moat_trust *t = trust_alloc();
    if (!t || len > INT_MAX) {
        snprintf(err, errlen, t ? "too large" : "out of memory");
        crypto_trust_free(t);
        return NULL;
    }
    t->local = 1;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    int n = 0;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        X509_STORE_add_cert(t->store, x);
        X509_free(x);
        n++;
    }
    BIO_free(b);
    ERR_clear_error();
    if (!n) {
        snprintf(err, errlen, "no PEM certificate found");
        crypto_trust_free(t);
        return NULL;
    }
    return t;
}

moat_trust *crypto_trust_new_system(const char *pem, size_t len, char *err, size_t errlen)
{
    moat_trust *t = trust_alloc();
    if (!t || len > INT_MAX) {
        snprintf(err, errlen, t ? "the system trust store is too large" : "out of memory");
        crypto_trust_free(t);
        return NULL;
    }
    /* Certificates and CRLs alike, skipping what does not parse, as
     * X509_STORE_set_default_paths loads the bundle and the hashed files
     * (X509_load_cert_crl_file). A CRL here is found when revocation is
     * checked, but does not turn the check on. */
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509_INFO) *infos = b ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        if (xi->x509) X509_STORE_add_cert(t->store, xi->x509);
        if (xi->crl) X509_STORE_add_crl(t->store, xi->crl);
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    ERR_clear_error();
    return t;
}

void crypto_trust_default_paths(struct crypto_trust_paths *p)
{
    p->file_env = X509_get_default_cert_file_env();
    p->dir_env = X509_get_default_cert_dir_env();
    p->file = X509_get_default_cert_file();
    p->dir = X509_get_default_cert_dir();
}

int crypto_trust_add_crl(moat_trust *t, const char *data, size_t len, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(data, (int)len);
    X509_CRL *c;
    int n = 0;
    while (b && (c = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL))) {
        X509_STORE_add_crl(t->store, c);
        X509_CRL_free(c);
        n++;
    }
    BIO_free(b);
    if (!n) {
        /* Not PEM: one DER CRL. */
        const unsigned char *p = (const unsigned char *)data;
        c = d2i_X509_CRL(NULL, &p, (long)len);
        if (c) {
            X509_STORE_add_crl(t->store, c);
            X509_CRL_free(c);
            n = 1;
        }
    }
    ERR_clear_error();
    if (!n) {
        snprintf(err, errlen, "no CRL found (PEM or DER)");
        return MOAT_ERR_FILE;
    }
    t->crl_check = 1;
    return 0;
}

void crypto_trust_free(moat_trust *t)
{
    if (!t) return;
    X509_STORE_free(t->store);
    OPENSSL_free(t);
}

static void fmt_date(const ASN1_TIME *a, char *out, size_t n)
{
    struct tm tm;
    if (a && ASN1_TIME_to_tm(a, &tm))
        strftime(out, n, "%Y-%m-%d", &tm);
    else
        snprintf(out, n, "an unreadable date");
}

/* The names a certificate is valid for, "a.example, b.example, 192.0.2.1";
 * each as it is, escaped: a NUL inside one is shown, not a cut-off name. */
static void list_names(X509 *x, char *out, size_t n)
{
    out[0] = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && used + 1 < n; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char one[1024] = "";
        const char *s = NULL;
        if (g->type == GEN_DNS) {
            crypto_x509_escape_name(ASN1_STRING_get0_data(g->d.dNSName),
                                    (size_t)ASN1_STRING_length(g->d.dNSName), one, sizeof one);
            s = one;
        } else if (g->type == GEN_IPADD) {
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            if (inet_ntop(l == 4 ? AF_INET : AF_INET6, d, one, sizeof one)) s = one;
        }
        if (!s) continue;
        int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", s);
        if (w < 0) break;
        used += (size_t)w;
    }
    GENERAL_NAMES_free(gens);
    if (!out[0]) snprintf(out, n, "no names");
}

static void subject_cn(X509_NAME *nm, char *out, size_t n)
{
    if (!nm || X509_NAME_get_text_by_NID(nm, NID_commonName, out, (int)n) <= 0)
        X509_NAME_oneline(nm, out, (int)n);
}

/* RFC 5280 5.3.1 reason codes, as `moat ca revoke` names them. */
static const char *reason_name(int code)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", "unknown",
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
    return code >= 0 && code <= 10 ? names[code] : "unknown";
}

/* " on 2026-01-01 (keyCompromise)" from the CRL entry that revoked x. */
static void crl_revocation(X509_STORE *store, X509 *x, char *out, size_t n)
{
    X509_REVOKED *rev = NULL;
    out[0] = 0;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; !rev && i < sk_X509_OBJECT_num(objs); i++) {
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
        if (crl && X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(x)) == 0 &&
            X509_CRL_get0_by_cert(crl, &rev, x) != 1)
            rev = NULL;
    }
    if (!rev) return;
    char d[40];
    fmt_date(X509_REVOKED_get0_revocationDate(rev), d, sizeof d);
    int crit = 0;
    ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
    long code = e ? ASN1_ENUMERATED_get(e) : -1;
    ASN1_ENUMERATED_free(e);
    if (code >= 0)
        snprintf(out, n, " on %s (%s)", d, reason_name((int)code));
    else
        snprintf(out, n, " on %s", d);
}

/* "this update 2026-01-01": a date of an OCSP answer, in words for -v. */
static void staple_date(const char *what, const ASN1_GENERALIZEDTIME *d, char *out, size_t n)
{
    char day[40];
    fmt_date(d, day, sizeof day);
    snprintf(out, n, "%s %s", what, day);
}

/* Judges an OCSP response stapled for the leaf of a verified chain. RFC
 * 6960 3.2: an answer counts only when it is about this very certificate,
 * signed by its issuer or a responder the issuer authorised, and fresh.
 * One that is not is ignored, as browsers do, and the connection goes on as
 * if nothing had been stapled (a staple is the server's offer, RFC 6066 8,
 * and anyone on the path could have swapped it for junk): v->staple says
 * why. Only a valid answer, signed and fresh, that says "revoked" refuses:
 * a stale one is ignored whatever it says, as Chromium ignores it (the
 * revocation itself is checked through fresh answers and CRLs, not through
 * an old answer a server chose to send). Returns 0 or certificate_revoked. */
static int check_staple(moat_trust *t, X509_STORE_CTX *ctx, const uint8_t *der, size_t len,
                        int64_t now, moat_verdict *v)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = NULL;
    OCSP_CERTID *id = NULL;
    STACK_OF(X509) *chain = X509_STORE_CTX_get1_chain(ctx);
    int r = 0, status = -1, why = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    char d[60];
    if (!resp || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(bs = OCSP_response_get1_basic(resp))) {
        snprintf(v->staple, sizeof v->staple, "it is not a successful OCSP response");
    } else if (!chain || sk_X509_num(chain) < 2 ||
               !(id = OCSP_cert_to_id(NULL, sk_X509_value(chain, 0), sk_X509_value(chain, 1)))) {
        /* The leaf is itself the anchor: its issuer is not known here. */
        snprintf(v->staple, sizeof v->staple,
                 "it cannot be matched: the certificate's issuer is not known here");
    } else if (!OCSP_resp_find_status(bs, id, &status, &why, &rev, &thisupd, &nextupd)) {
        snprintf(v->staple, sizeof v->staple, "it is about another certificate");
    } else if (OCSP_basic_verify(bs, chain, t->store, 0) <= 0) {
        snprintf(v->staple, sizeof v->staple,
                 "its signature does not verify (it is not signed by the certificate's issuer "
                 "or a responder the issuer authorised)");
    } else if (thisupd && ASN1_TIME_cmp_time_t(thisupd, (time_t)(now + 300)) > 0) {
        /* Five minutes of leeway for clocks, as OCSP_check_validity allows. */
        staple_date("this update", thisupd, d, sizeof d);
        snprintf(v->staple, sizeof v->staple, "it is not valid yet (%s)", d);
    } else if (nextupd && ASN1_TIME_cmp_time_t(nextupd, (time_t)(now - 300)) < 0) {
        staple_date("next update", nextupd, d, sizeof d);
        snprintf(v->staple, sizeof v->staple, "it is out of date (%s)", d);
    } else if (!nextupd &&
               (!thisupd || ASN1_TIME_cmp_time_t(thisupd, (time_t)(now - MOAT_OCSP_MAX_AGE)) < 0)) {
        /* RFC 6960 4.2.2.1: no nextUpdate means "newer information is
         * always available", not "valid forever"; browsers cap its age. */
        staple_date("made on", thisupd, d, sizeof d);
        snprintf(v->staple, sizeof v->staple,
                 "it is stale: it has no next update and was %s, more than %d days ago", d,
                 (int)(MOAT_OCSP_MAX_AGE / 86400));
    } else if (status == V_OCSP_CERTSTATUS_REVOKED) {
        fmt_date(rev, d, sizeof d);
        snprintf(v->reason, sizeof v->reason,
                 "its certificate has been revoked (on %s%s%s), says the server's stapled OCSP "
                 "answer",
                 d, why >= 0 ? ", " : "", why >= 0 ? reason_name(why) : "");
        v->code = "NET::ERR_CERT_REVOKED";
        r = MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_REVOKED);
    }
    /* Otherwise good, or unknown: a browser goes on without a verdict. */
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    sk_X509_pop_free(chain, X509_free);
    return r;
}

int crypto_ocsp_next_update(const uint8_t *der, size_t len, int64_t *next)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
    int r = MOAT_ERR_FILE;
    *next = 0;
    if (bs && OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
        OCSP_resp_count(bs) > 0) {
        OCSP_SINGLERESP *one = OCSP_resp_get0(bs, 0);
        ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
        struct tm tm;
        OCSP_single_get0_status(one, NULL, NULL, &thisupd, &nextupd);
        if (nextupd && ASN1_TIME_to_tm(nextupd, &tm))
            *next = (int64_t)timegm(&tm);
        else if (thisupd && ASN1_TIME_to_tm(thisupd, &tm))
            /* No nextUpdate: stapled for the 7 days clients believe it
             * (crypto_verify_chain's rule for such answers), not forever. */
            *next = (int64_t)timegm(&tm) + MOAT_OCSP_MAX_AGE;
        r = 0;
    }
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return r;
}

int crypto_ocsp_describe(const uint8_t *der, size_t len, int64_t now, char *out, size_t n)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
    int r = MOAT_ERR_FILE;
    snprintf(out, n, "not a valid OCSP response");
    if (bs && OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
        OCSP_resp_count(bs) > 0) {
        ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
        int st = OCSP_single_get0_status(OCSP_resp_get0(bs, 0), NULL, NULL, &thisupd, &nextupd);
        char tu[40], nu[40];
        fmt_date(thisupd, tu, sizeof tu);
        fmt_date(nextupd, nu, sizeof nu);
        const char *status = st == V_OCSP_CERTSTATUS_GOOD      ? "good"
                             : st == V_OCSP_CERTSTATUS_REVOKED ? "revoked"
                                                               : "unknown";
        if (nextupd)
            snprintf(out, n, "%s, this update %s, next update %s", status, tu, nu);
        else if (!thisupd || ASN1_TIME_cmp_time_t(thisupd, (time_t)(now - MOAT_OCSP_MAX_AGE)) < 0)
            snprintf(out, n,
                     "stale, ignored: it says %s but has no next update and was made on %s, "
                     "more than %d days ago",
                     status, tu, (int)(MOAT_OCSP_MAX_AGE / 86400));
        else
            snprintf(out, n, "%s, this update %s, no next update (trusted for %d days)", status, tu,
                     (int)(MOAT_OCSP_MAX_AGE / 86400));
        r = 0;
    }
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return r;
}

/* RFC 5280 4.2.1.12: anyExtendedKeyUsage allows every purpose, and
 * Chromium takes it for serverAuth (clientAuth too) on the leaf and on
 * issuers; libcrypto's SSL purposes do not, so that one refusal is undone.
 * The leaf's keyUsage, which the same purpose check covers, must still
 * allow a TLS key (a CA's keyCertSign is checked apart, as INVALID_CA). */
static int any_eku_cb(int ok, X509_STORE_CTX *ctx)
{
    X509 *x = X509_STORE_CTX_get_current_cert(ctx);
    if (ok || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_INVALID_PURPOSE || !x ||
        !(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
        !(X509_get_extended_key_usage(x) & XKU_ANYEKU))
        return ok;
    if (X509_STORE_CTX_get_error_depth(ctx) == 0 && (X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(x) & (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
        return ok;
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
    return 1;
}

/* With CRLs given, every certificate of the chain is checked
 * (X509_V_FLAG_CRL_CHECK_ALL), but only the leaf must have a CRL: that
 * flag alone would refuse an intermediate whose issuer (often the root)
 * published no CRL here, with "unable to get certificate CRL". So that
 * error is forgiven above the leaf: an intermediate is checked when its
 * issuer's CRL was supplied, and a revoked one refuses the chain. */
static int crl_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL &&
        X509_STORE_CTX_get_error_depth(ctx) > 0) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return 1;
    }
    return any_eku_cb(ok, ctx);
}

int crypto_x509_subject(const uint8_t *der, size_t len, char *out, size_t n)
{
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *b = BIO_new(BIO_s_mem());
    int r = MOAT_ERR_INTERNAL;
    if (x && b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *d;
        long l = BIO_get_mem_data(b, &d);
        if (l >= 0 && (size_t)l < n) {
            memcpy(out, d, (size_t)l);
            out[l] = 0;
            r = 0;
        }
    }
    BIO_free(b);
    X509_free(x);
    ERR_clear_error();
    return r;
}

/* An email or URI SAN fit to stand for the client: printable ASCII (no
 * space, so it cannot split a log field), and one that cannot be read as
 * a subject ("CN=...,O=..."): an email address has '@' and no '=' or ',';
 * a URI starts with a scheme (RFC 3986 3.1: a letter, then letters,
 * digits, '+', '-', '.') and ':', which a name's "CN=" cannot. */
static int identity_san(const GENERAL_NAME *g, char *out, size_t n)
{
    if (g->type != GEN_EMAIL && g->type != GEN_URI) return 0;
    const unsigned char *d = ASN1_STRING_get0_data(g->d.ia5);
    size_t len = (size_t)ASN1_STRING_length(g->d.ia5);
    if (len == 0 || len >= n) return 0;
    for (size_t i = 0; i < len; i++)
        if (d[i] < 0x21 || d[i] > 0x7e) return 0;
    if (g->type == GEN_EMAIL) {
        if (!memchr(d, '@', len) || memchr(d, '=', len) || memchr(d, ',', len)) return 0;
    } else {
        size_t i = 0;
        if (!((d[0] | 0x20) >= 'a' && (d[0] | 0x20) <= 'z')) return 0;
        while (i < len && (isalnum(d[i]) || d[i] == '+' || d[i] == '-' || d[i] == '.'))
            i++;
        if (i == len || d[i] != ':') return 0;
    }
    memcpy(out, d, len);
    out[len] = 0;
    return 1;
}

int crypto_x509_identity(const uint8_t *der, size_t len, char *out, size_t n)
{
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x) {
        ERR_clear_error();
        return MOAT_ERR_INTERNAL;
    }
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    /* Email addresses first, then URIs, each in the certificate's order. */
    static const int order[] = {GEN_EMAIL, GEN_URI};
    for (int k = 0; !found && k < 2; k++)
        for (int i = 0; !found && gens && i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            found = g->type == order[k] && identity_san(g, out, n);
        }
    GENERAL_NAMES_free(gens);
    X509_free(x);
    ERR_clear_error();
    return found ? 0 : crypto_x509_subject(der, len, out, n);
}

int crypto_x509_not_after(const uint8_t *der, size_t len, int64_t *out)
{
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int r = x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1 ? 0 : MOAT_ERR_INTERNAL;
    if (!r) *out = (int64_t)timegm(&tm);
    X509_free(x);
    ERR_clear_error();
    return r;
}

/* RFC 8446 4.4.2.2: the end-entity key signs the handshake
 * (CertificateVerify), so a keyUsage extension, when present, must allow
 * digitalSignature, for servers and clients alike. keyEncipherment or
 * keyAgreement alone belong to TLS 1.2's RSA key transport and static
 * ECDH. Browsers refuse such a leaf before judging its chain (Chromium:
 * ERR_SSL_KEY_USAGE_INCOMPATIBLE), and so does moat. Returns 0 or the
 * alert, with the reason in words. */
static int check_key_usage(X509 *leaf, moat_verdict *v)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } kus[] = {{KU_NON_REPUDIATION, "nonRepudiation"},     {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
               {KU_DATA_ENCIPHERMENT, "dataEncipherment"}, {KU_KEY_AGREEMENT, "keyAgreement"},
               {KU_KEY_CERT_SIGN, "keyCertSign"},          {KU_CRL_SIGN, "cRLSign"},
               {KU_ENCIPHER_ONLY, "encipherOnly"},         {KU_DECIPHER_ONLY, "decipherOnly"}};
    uint32_t ku = X509_get_key_usage(leaf); /* UINT32_MAX: no keyUsage */
    if (ku == UINT32_MAX || (ku & KU_DIGITAL_SIGNATURE)) return 0;
    char allows[200] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof kus / sizeof kus[0]; i++) {
        if (!(ku & kus[i].bit) || used >= sizeof allows) continue;
        int w =
            snprintf(allows + used, sizeof allows - used, "%s%s", used ? ", " : "", kus[i].name);
        if (w > 0) used += (size_t)w;
    }
    snprintf(v->reason, sizeof v->reason,
             "its certificate's key usage does not allow digital signatures, which TLS 1.3 "
             "needs (it allows %s)",
             used ? allows : "nothing");
    v->code = "ERR_SSL_KEY_USAGE_INCOMPATIBLE";
    return MOAT_ERR_ALERT(MOAT_ALERT_UNSUPPORTED_CERTIFICATE);
}

/* Why X509_verify_cert refused the chain: the reason in words, the
 * browser's code, and the alert to send. */
static int explain_failure(moat_trust *t, X509_STORE_CTX *ctx, X509 *leaf, const char *host,
                           int client, moat_verdict *v)
{
    int e = X509_STORE_CTX_get_error(ctx);
    X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
    if (!bad) bad = leaf;
    char a[512], b[256];
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    const char *whose = depth > 0 ? "an issuing certificate in its chain" : "its certificate";
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        fmt_date(X509_get0_notAfter(bad), a, sizeof a);
        snprintf(v->reason, sizeof v->reason, "%s expired on %s", whose, a);
        v->code = "NET::ERR_CERT_DATE_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_EXPIRED);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        fmt_date(X509_get0_notBefore(bad), a, sizeof a);
        snprintf(v->reason, sizeof v->reason, "%s is not valid until %s", whose, a);
        v->code = "NET::ERR_CERT_DATE_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_EXPIRED);
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        snprintf(v->reason, sizeof v->reason, "its certificate is self-signed and not trusted");
        v->code = "NET::ERR_CERT_AUTHORITY_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_UNKNOWN_CA);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        b[0] = 0;
        subject_cn(X509_get_issuer_name(bad), b, sizeof b);
        snprintf(v->reason, sizeof v->reason,
                 "its certificate was issued by an authority that is not trusted (%s)", b);
        v->code = "NET::ERR_CERT_AUTHORITY_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_UNKNOWN_CA);
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        list_names(leaf, a, sizeof a);
        snprintf(v->reason, sizeof v->reason,
                 "its certificate is not valid for %.255s (it is valid for %.280s)", host, a);
        v->code = "NET::ERR_CERT_COMMON_NAME_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
    case X509_V_ERR_CERT_REVOKED:
        crl_revocation(t->store, bad, a, sizeof a);
        snprintf(v->reason, sizeof v->reason, "%s has been revoked%s, per the CRL", whose, a);
        v->code = "NET::ERR_CERT_REVOKED";
        return MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_REVOKED);
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
        /* A CRL moat cannot fully read (RFC 5280 5.2: an unrecognised
         * critical extension) tells nothing about the certificate: its
         * status is unknown, which is not the certificate's own fault. */
        snprintf(v->reason, sizeof v->reason,
                 "the revocation status of %s could not be checked (%s)", whose,
                 X509_verify_cert_error_string(e));
        v->code = "NET::ERR_CERT_UNABLE_TO_CHECK_REVOCATION";
        return MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_UNKNOWN);
    case X509_V_ERR_INVALID_PURPOSE:
        snprintf(v->reason, sizeof v->reason, "%s is not meant for %s authentication", whose,
                 client ? "client" : "server");
        v->code = "NET::ERR_CERT_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_UNSUPPORTED_CERTIFICATE);
    case X509_V_ERR_CA_MD_TOO_WEAK: {
        int nid = X509_get_signature_nid(bad);
        snprintf(v->reason, sizeof v->reason,
                 "%s is signed with %s, a signature algorithm that is no longer trusted", whose,
                 nid == NID_sha1WithRSAEncryption || nid == NID_ecdsa_with_SHA1 ? "SHA-1"
                 : nid != NID_undef                                             ? OBJ_nid2ln(nid)
                                                                                : "a weak digest");
        /* Chromium's verifier refuses a SHA-1 signature in the chain as
         * ERR_CERT_INVALID, not ERR_CERT_WEAK_SIGNATURE_ALGORITHM
         * (tests/interop/33-trust-chromium.sh). */
        v->code = "NET::ERR_CERT_INVALID";
        return MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
    }
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
        snprintf(v->reason, sizeof v->reason, "%s has a %d-bit key, too weak to be trusted", whose,
                 X509_get0_pubkey(bad) ? EVP_PKEY_get_bits(X509_get0_pubkey(bad)) : 0);
        v->code = "NET::ERR_CERT_WEAK_KEY";
        return MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
    default:
        snprintf(v->reason, sizeof v->reason, "%s could not be verified: %s", whose,
                 X509_verify_cert_error_string(e));
        return MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
    }
}

/* The verifier's settings for one chain: the time, 112-bit security, the
 * purpose, CRLs, and the name or address asked for. */
static void set_params(moat_trust *t, X509_STORE_CTX *ctx, const char *host, int64_t now,
                       int client)
{
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, (time_t)now);
    /* No SHA-1 or MD5 signatures at either level. Chromium asks RSA 2048
     * and up only of chains to publicly trusted roots: under a root added
     * locally, RSA 1024 passes and smaller is refused. So 112-bit security
     * (level 2) with the system store, 80-bit (level 1) with --cacert.
     * Client certificates (--client-ca) stay at level 2, as a server on
     * Debian's libssl defaults would hold them. */
    X509_VERIFY_PARAM_set_auth_level(vp, t->local && !client ? 1 : 2);
    X509_STORE_CTX_set_purpose(ctx, client ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
    /* --client-ca names the roots whose clients are welcome, as nginx's
     * ssl_client_certificate does: no partial chains there. */
    if (client) X509_VERIFY_PARAM_clear_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_verify_cb(ctx, any_eku_cb);
    if (t->crl_check) {
        X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        X509_STORE_CTX_set_verify_cb(ctx, crl_cb);
    }
    unsigned char ipbuf[16];
    int is_ip =
        host && (inet_pton(AF_INET, host, ipbuf) == 1 || inet_pton(AF_INET6, host, ipbuf) == 1);
    if (host && is_ip) {
        /* The subject's CN is never a name here either: without this flag
         * libcrypto holds it to the DNS name constraints of the issuers
         * (when the leaf has no DNS SAN), which Chromium does not. */
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        X509_VERIFY_PARAM_set1_ip_asc(vp, host);
    } else if (host) {
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                                X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        /* A SAN written as the absolute name good.test. names good.test
         * too (the caller has dropped one trailing dot from host). */
        size_t hl = strlen(host);
        char abs[258];
        X509_VERIFY_PARAM_set1_host(vp, host, hl);
        if (hl + 2 <= sizeof abs) {
            memcpy(abs, host, hl);
            abs[hl] = '.';
            X509_VERIFY_PARAM_add1_host(vp, abs, hl + 1);
        }
    }
}

int crypto_verify_chain(moat_trust *t, const uint8_t *const *ders, const size_t *lens, size_t n,
                        const char *host, int64_t now, int client, const uint8_t *ocsp,
                        size_t ocsp_len, moat_verdict *v)
{
    v->reason[0] = v->staple[0] = 0;
    v->code = "NET::ERR_CERT_INVALID";
    if (!n) {
        snprintf(v->reason, sizeof v->reason, "it sent no certificate");
        return MOAT_ERR_ALERT(MOAT_ALERT_DECODE_ERROR);
    }
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int r = MOAT_ERR_ALERT(MOAT_ALERT_INTERNAL_ERROR);
    if (!rest || !ctx) goto out;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = ders[i];
        X509 *x = d2i_X509(NULL, &p, (long)lens[i]);
        if (!x || p != ders[i] + lens[i]) {
            X509_free(x);
            snprintf(v->reason, sizeof v->reason, "its certificate could not be parsed");
            r = MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
            goto out;
        }
        if (!leaf)
            leaf = x;
        else if (!sk_X509_push(rest, x)) {
            X509_free(x);
            goto out;
        }
    }
    /* good.test. is good.test (RFC 6066 3 keeps the dot out of SNI). */
    char name[256]; /* a DNS name has at most 253 characters (RFC 1035 2.3.4) */
    size_t hl = host ? strlen(host) : 0;
    if (hl > 1 && host[hl - 1] == '.') hl--;
    if (hl >= sizeof name) {
        snprintf(v->reason, sizeof v->reason, "the host name is too long");
        r = MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
        goto out;
    }
    if (host) {
        memcpy(name, host, hl);
        name[hl] = '\0';
        host = name;
    }
    if ((r = check_key_usage(leaf, v))) goto out;
    r = MOAT_ERR_ALERT(MOAT_ALERT_INTERNAL_ERROR);
    if (!X509_STORE_CTX_init(ctx, t->store, leaf, rest)) goto out;
    set_params(t, ctx, host, now, client);
    if (X509_verify_cert(ctx) == 1)
        r = ocsp ? check_staple(t, ctx, ocsp, ocsp_len, now, v) : 0;
    else
        r = explain_failure(t, ctx, leaf, host, client, v);
out:
    X509_STORE_CTX_free(ctx);
    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    ERR_clear_error();
    return r;
}
