/* Key and certificate generation for the local CA: the libcrypto calls
 * behind `moat ca` (RFC 5280 profiles for a root and its leaves). */
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/x509gen.h"
#include "crypto/x509gen_int.h"
#include "moat/error.h"

int crypto_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    char what[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    if (err && errlen) snprintf(err, errlen, "%s%s%s", what, reason[0] ? ": " : "", reason);
    return code;
}

/* ---- PEM text in memory: the callers (ca/) read and write the files */

/* The contents of a memory BIO as a malloc'd copy (wiped by the caller
 * when it holds a key). */
static int bio_bytes(BIO *b, char **out, size_t *len, char *err, size_t errlen)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0 || !data) return crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot encode it");
    if (!(*out = malloc((size_t)n + 1)))
        return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    memcpy(*out, data, (size_t)n);
    (*out)[n] = '\0';
    *len = (size_t)n;
    return 0;
}

/* A read-only memory BIO over len bytes (BIO_new_mem_buf takes an int). */
static BIO *mem_in(const char *pem, size_t len)
{
    return len > INT_MAX ? NULL : BIO_new_mem_buf(pem, (int)len);
}

/* ---- keys */

/* A moat_pkey holding pk (taken over: freed on failure). */
static int wrap_pkey(EVP_PKEY *pk, moat_pkey **out, char *err, size_t errlen)
{
    moat_pkey *k = malloc(sizeof *k);
    if (!k) {
        EVP_PKEY_free(pk);
        return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    }
    k->pkey = pk;
    *out = k;
    return 0;
}

int crypto_pkey_generate(enum moat_key_type type, moat_pkey **out, char *err, size_t errlen)
{
    *out = NULL;
    EVP_PKEY *pk = NULL;
    if (type == MOAT_KEY_EC_P256)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (type == MOAT_KEY_RSA2048)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else
        return crypto_fail(MOAT_ERR_ARG, err, errlen, "unknown key type %d", (int)type);
    if (!pk) return crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "key generation failed");
    return wrap_pkey(pk, out, err, errlen);
}

int crypto_pkey_type(const moat_pkey *k)
{
    if (EVP_PKEY_is_a(k->pkey, "RSA"))
        return EVP_PKEY_get_bits(k->pkey) == 2048 ? MOAT_KEY_RSA2048 : -1;
    if (EVP_PKEY_is_a(k->pkey, "EC")) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(k->pkey, group, sizeof group, &glen) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            return MOAT_KEY_EC_P256;
    }
    return -1;
}

int crypto_pkey_to_pem(const moat_pkey *k, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    /* Secure heap when available, so the encoded key is wiped on free. */
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b) return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    int r;
    if (PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL) != 1)
        r = crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot encode the private key");
    else
        r = bio_bytes(b, out, len, err, errlen);
    BIO_free(b);
    return r;
}

/* Never prompts: a key with a passphrase is refused instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

int crypto_pkey_from_pem(const char *pem, size_t len, const char *what, moat_pkey **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    BIO *b = mem_in(pem, len);
    EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    if (!pk)
        return crypto_fail(MOAT_ERR_FILE, err, errlen,
                           "%s holds no private key moat can read (it must be PEM, without a "
                           "passphrase)",
                           what);
    return wrap_pkey(pk, out, err, errlen);
}

void crypto_pkey_free(moat_pkey *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey); /* libcrypto wipes key material when freeing */
    free(k);
}

/* ---- certificates */

static int wrap_cert(X509 *x, moat_cert **out, char *err, size_t errlen)
{
    moat_cert *c = malloc(sizeof *c);
    if (!c) {
        X509_free(x);
        return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    }
    c->x509 = x;
    *out = c;
    return 0;
}

/* A random positive serial of 128 bits (RFC 5280 4.1.2.2 allows 20 octets;
 * a leading zero octet is added by DER when the top bit is set). */
static int set_random_serial(X509 *x)
{
    unsigned char r[16];
    BIGNUM *bn = NULL;
    int ok = 0;
    do {
        if (RAND_bytes(r, sizeof r) != 1) return 0;
        BN_free(bn);
        bn = BN_bin2bn(r, sizeof r, NULL);
        if (!bn) return 0;
    } while (BN_is_zero(bn));
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    if (ai && X509_set_serialNumber(x, ai) == 1) ok = 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok;
}

static int add_name_entry(X509_NAME *n, const char *field, const char *value)
{
    if (!value || !*value) return 1;
    return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                      0) == 1;
}

static int set_subject(X509 *x, const char *o, const char *ou, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (!n) return 0;
    int ok = add_name_entry(n, "O", o) && add_name_entry(n, "OU", ou) &&
             (!cn || strlen(cn) > 64 || add_name_entry(n, "CN", cn)) &&
             X509_set_subject_name(x, n) == 1;
    X509_NAME_free(n);
    return ok;
}

static int set_validity(X509 *x, int64_t nb, int64_t na)
{
    return ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) &&
           ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
}

/* Adds an extension given in OpenSSL's configuration syntax; ctx carries
 * the issuer and subject, for the key identifiers. */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!e) return 0;
    int ok = X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* An IP range as a name constraint: address then mask (see the header). */
size_t crypto_cidr_parse(const char *s, unsigned char out[32])
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof addr) return 0;
    memcpy(addr, s, alen);
    addr[alen] = 0;
    size_t n;
    if (inet_pton(AF_INET, addr, out) == 1)
        n = 4;
    else if (inet_pton(AF_INET6, addr, out) == 1)
        n = 16;
    else
        return 0;
    long bits = (long)n * 8;
    if (slash) {
        char *end = NULL;
        if (slash[1] < '0' || slash[1] > '9') return 0;
        bits = strtol(slash + 1, &end, 10);
        if (*end || bits < 0 || bits > (long)n * 8) return 0;
    }
    for (size_t i = 0; i < n; i++) {
        long b = bits - (long)i * 8;
        unsigned char m = b >= 8 ? 0xff : b <= 0 ? 0 : (unsigned char)(0xff << (8 - b));
        if (out[i] & (unsigned char)~m) return 0; /* host bits set */
        out[n + i] = m;
    }
    return 2 * n;
}

/* The critical nameConstraints extension with permitted subtrees only. */
static int add_name_constraints(X509 *x, const struct moat_root_params *p, char *err, size_t errlen)
{
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    if (!nc || !(nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null())) {
        NAME_CONSTRAINTS_free(nc);
        return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    }
    int r = 0;
    for (size_t i = 0; i < p->n_permit_dns + p->n_permit_ip && r == 0; i++) {
        GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
        ASN1_STRING *v = NULL;
        int type;
        if (i < p->n_permit_dns) {
            const char *d = p->permit_dns[i];
            type = GEN_DNS;
            v = ASN1_IA5STRING_new();
            if (v && !ASN1_STRING_set(v, d, (int)strlen(d))) {
                ASN1_STRING_free(v);
                v = NULL;
            }
        } else {
            unsigned char b[32];
            const char *cidr = p->permit_ip[i - p->n_permit_dns];
            size_t n = crypto_cidr_parse(cidr, b);
            type = GEN_IPADD;
            if (n == 0) {
                GENERAL_SUBTREE_free(st);
                r = crypto_fail(MOAT_ERR_ARG, err, errlen,
                                "\"%s\" is not an IP range (address/prefix-length, no host bits)",
                                cidr);
                break;
            }
            v = ASN1_OCTET_STRING_new();
            if (v && !ASN1_OCTET_STRING_set(v, b, (int)n)) {
                ASN1_STRING_free(v);
                v = NULL;
            }
        }
        if (!st || !v) {
            ASN1_STRING_free(v);
            GENERAL_SUBTREE_free(st);
            r = crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
            break;
        }
        GENERAL_NAME_set0_value(st->base, type, v);
        if (!sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st)) {
            GENERAL_SUBTREE_free(st);
            r = crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
        }
    }
    /* Critical, as RFC 5280 4.2.1.10 requires of conforming CAs. */
    if (r == 0 && X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT) != 1)
        r = crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot add the name constraints");
    NAME_CONSTRAINTS_free(nc);
    return r;
}

int crypto_x509_make_root(const moat_pkey *key, const struct moat_root_params *p, moat_cert **out,
                          char *err, size_t errlen)
{
    *out = NULL;
    if (p->not_after <= p->not_before)
        return crypto_fail(MOAT_ERR_ARG, err, errlen, "the CA would expire before it is valid");
    X509 *x = X509_new();
    if (!x) return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    if (p->n_permit_dns + p->n_permit_ip > 0) {
        int r = add_name_constraints(x, p, err, errlen);
        if (r != 0) {
            X509_free(x);
            return r;
        }
    }
    X509V3_CTX ctx;
    int ok = X509_set_version(x, X509_VERSION_3) && set_random_serial(x) &&
             set_subject(x, p->org, p->org_unit, p->common_name) &&
             X509_set_issuer_name(x, X509_get_subject_name(x)) &&
             set_validity(x, p->not_before, p->not_after) && X509_set_pubkey(x, key->pkey);
    if (ok) {
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             X509_sign(x, key->pkey, EVP_sha256()) > 0;
    }
    if (!ok) {
        X509_free(x);
        return crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot make the root certificate");
    }
    return wrap_cert(x, out, err, errlen);
}

/* The kind of SAN a name of moat_issue_params becomes (see the header). */
static int san_type(const char *name)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1) return GEN_IPADD;
    if (strstr(name, "://")) return GEN_URI;
    if (strchr(name, '@')) return GEN_EMAIL;
    return GEN_DNS;
}

/* The subjectAltName extension (RFC 5280 4.2.1.6): iPAddress, dNSName,
 * rfc822Name or uniformResourceIdentifier, as san_type says. */
static int add_sans(X509 *x, const char *const *names, size_t n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (!gens) return 0;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        unsigned char ip[16];
        GENERAL_NAME *g = GENERAL_NAME_new();
        if (!g) {
            ok = 0;
            break;
        }
        int type = san_type(names[i]);
        if (type == GEN_IPADD &&
            (inet_pton(AF_INET, names[i], ip) == 1 || inet_pton(AF_INET6, names[i], ip) == 1)) {
            int iplen = strchr(names[i], ':') ? 16 : 4;
            ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
            if (os && ASN1_OCTET_STRING_set(os, ip, iplen)) {
                GENERAL_NAME_set0_value(g, GEN_IPADD, os);
            } else {
                ASN1_OCTET_STRING_free(os);
                ok = 0;
            }
        } else {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            if (s && ASN1_STRING_set(s, names[i], (int)strlen(names[i]))) {
                GENERAL_NAME_set0_value(g, type, s);
            } else {
                ASN1_IA5STRING_free(s);
                ok = 0;
            }
        }
        if (!ok || !sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            ok = 0;
        }
    }
    /* Critical only when the subject is empty (RFC 5280 4.2.1.6); ours
     * always has O and OU, so not critical. */
    if (ok) ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok;
}

int crypto_x509_issue(const moat_cert *ca, const moat_pkey *ca_key, const moat_pkey *leaf_key,
                      const struct moat_issue_params *p, moat_cert **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!p->names || p->n_names == 0)
        return crypto_fail(MOAT_ERR_ARG, err, errlen, "a certificate needs at least one name");
    if (p->not_after <= p->not_before)
        return crypto_fail(MOAT_ERR_ARG, err, errlen,
                           "the certificate would expire before it is valid");
    for (size_t i = 0; i < p->n_names; i++)
        if (!p->names[i] || !*p->names[i])
            return crypto_fail(MOAT_ERR_ARG, err, errlen, "empty name");
    X509 *x = X509_new();
    if (!x) return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    int rsa = EVP_PKEY_is_a(leaf_key->pkey, "RSA");
    /* serverAuth for a leaf that names a host, or that is no client's;
     * a certificate naming only people or workloads is for clients. */
    int host = !p->client_auth;
    for (size_t i = 0; i < p->n_names; i++)
        host |= san_type(p->names[i]) == GEN_DNS || san_type(p->names[i]) == GEN_IPADD;
    const char *eku = !p->client_auth ? "serverAuth"
                      : host          ? "serverAuth,clientAuth"
                                      : "clientAuth";
    X509V3_CTX ctx;
    int ok = X509_set_version(x, X509_VERSION_3) && set_random_serial(x) &&
             set_subject(x, p->org, p->org_unit, p->common_name) &&
             X509_set_issuer_name(x, X509_get_subject_name(ca->x509)) &&
             set_validity(x, p->not_before, p->not_after) && X509_set_pubkey(x, leaf_key->pkey);
    if (ok) {
        X509V3_set_ctx(&ctx, ca->x509, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage,
                     rsa ? "critical,digitalSignature,keyEncipherment"
                         : "critical,digitalSignature") &&
             add_ext(x, &ctx, NID_ext_key_usage, eku) &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
             add_sans(x, p->names, p->n_names) && X509_sign(x, ca_key->pkey, EVP_sha256()) > 0;
    }
    if (!ok) {
        X509_free(x);
        return crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot issue the certificate");
    }
    return wrap_cert(x, out, err, errlen);
}

/* One X509_verify_cert of leaf under root for one purpose (X509_PURPOSE_*):
 * 1 passes, 0 fails (*why says why), -1 could not be run. */
static int verify_for(X509 *root, X509 *leaf, int purpose, const char **why)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int r = -1;
    if (st && ctx && X509_STORE_add_cert(st, root) == 1 &&
        X509_STORE_CTX_init(ctx, st, leaf, NULL) == 1 &&
        X509_STORE_CTX_set_purpose(ctx, purpose) == 1) {
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_NO_CHECK_TIME);
        r = X509_verify_cert(ctx) == 1;
        if (!r) *why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return r;
}

int crypto_cert_check_leaf(const moat_cert *ca, const moat_cert *leaf, int server, int client,
                           char *err, size_t errlen)
{
    static const struct {
        int purpose;
        const char *name;
    } kinds[] = {{X509_PURPOSE_SSL_SERVER, "server"}, {X509_PURPOSE_SSL_CLIENT, "client"}};
    for (int i = 0; i < 2; i++) {
        if (!(i ? client : server)) continue;
        const char *why = "?";
        int r = verify_for(ca->x509, leaf->x509, kinds[i].purpose, &why);
        if (r < 0)
            return crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot check the certificate");
        ERR_clear_error();
        if (r == 0)
            return crypto_fail(
                MOAT_ERR_ARG, err, errlen,
                "verifiers would refuse it as a TLS %s certificate under this root: %s",
                kinds[i].name, why);
    }
    return 0;
}

int crypto_certs_to_pem(const moat_cert *const *certs, size_t n, char **out, size_t *len, char *err,
                        size_t errlen)
{
    *out = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        if (PEM_write_bio_X509(b, certs[i]->x509) != 1)
            r = crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot encode the certificate");
    if (r == 0) r = bio_bytes(b, out, len, err, errlen);
    BIO_free(b);
    return r;
}

int crypto_cert_from_pem(const char *pem, size_t len, const char *what, moat_cert **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    BIO *b = mem_in(pem, len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    if (!x) return crypto_fail(MOAT_ERR_FILE, err, errlen, "%s holds no PEM certificate", what);
    return wrap_cert(x, out, err, errlen);
}

void crypto_cert_free(moat_cert *c)
{
    if (!c) return;
    X509_free(c->x509);
    free(c);
}

static int asn1_time_to_epoch(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return MOAT_ERR_INTERNAL;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int crypto_cert_not_after(const moat_cert *c, int64_t *out)
{
    return asn1_time_to_epoch(X509_get0_notAfter(c->x509), out);
}

int crypto_cert_not_before(const moat_cert *c, int64_t *out)
{
    return asn1_time_to_epoch(X509_get0_notBefore(c->x509), out);
}

int crypto_cert_serial_hex(const moat_cert *c, char *buf, size_t len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->x509), NULL);
    if (!bn) return MOAT_ERR_INTERNAL;
    char *hex = BN_bn2hex(bn);
    BN_free(bn);
    if (!hex) return MOAT_ERR_NOMEM;
    int r = 0;
    size_t n = strlen(hex);
    if (n + 1 > len) {
        r = MOAT_ERR_ARG;
    } else {
        for (size_t i = 0; i <= n; i++)
            buf[i] = (char)((hex[i] >= 'A' && hex[i] <= 'F') ? hex[i] - 'A' + 'a' : hex[i]);
    }
    OPENSSL_free(hex);
    return r;
}

int crypto_cert_subject(const moat_cert *c, char *buf, size_t len)
{
    if (len == 0) return MOAT_ERR_ARG;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return MOAT_ERR_NOMEM;
    int r = MOAT_ERR_INTERNAL;
    if (X509_NAME_print_ex(b, X509_get_subject_name(c->x509), 0,
                           XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        if (n >= 0) {
            size_t m = (size_t)n < len - 1 ? (size_t)n : len - 1;
            memcpy(buf, data, m);
            buf[m] = 0;
            r = 0;
        }
    }
    BIO_free(b);
    return r;
}

int crypto_cert_matches_key(const moat_cert *c, const moat_pkey *key)
{
    int ok = X509_check_private_key(c->x509, key->pkey) == 1;
    ERR_clear_error();
    return ok;
}

int crypto_cert_signed_by(const moat_cert *c, const moat_cert *ca)
{
    int ok = X509_check_issued(ca->x509, c->x509) == X509_V_OK;
    if (ok) {
        EVP_PKEY *pub = X509_get0_pubkey(ca->x509);
        ok = pub && X509_verify(c->x509, pub) == 1;
    }
    ERR_clear_error();
    return ok;
}

int crypto_cert_is_ca(const moat_cert *c)
{
    return X509_check_ca(c->x509) == 1;
}

int crypto_cert_fingerprint(const moat_cert *c, char *buf, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (len < 65) return MOAT_ERR_ARG;
    if (X509_digest(c->x509, EVP_sha256(), md, &n) != 1 || n != 32) {
        ERR_clear_error();
        return MOAT_ERR_INTERNAL;
    }
    for (unsigned i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* One GENERAL_NAME as text: a DNS name, email address or URI, or an IP
 * address (with "/prefix" when it carries a mask, as in name constraints).
 * 0 when of another kind. */
static int general_name_text(const GENERAL_NAME *g, char *buf, size_t len)
{
    if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI) {
        const ASN1_STRING *s = g->d.ia5; /* the three are IA5Strings */
        snprintf(buf, len, "%.*s", ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
        return 1;
    }
    if (g->type != GEN_IPADD) return 0;
    const unsigned char *b = ASN1_STRING_get0_data(g->d.iPAddress);
    int n = ASN1_STRING_length(g->d.iPAddress);
    char a[64];
    int af = (n == 4 || n == 8) ? AF_INET : (n == 16 || n == 32) ? AF_INET6 : 0;
    if (!af || !inet_ntop(af, b, a, sizeof a)) return 0;
    if (n == 8 || n == 32) {
        int half = n / 2, bits = 0;
        for (int i = 0; i < half; i++)
            for (int k = 7; k >= 0; k--)
                bits += (b[half + i] >> k) & 1;
        snprintf(buf, len, "%s/%d", a, bits);
    } else {
        snprintf(buf, len, "%s", a);
    }
    return 1;
}

static void append(char *buf, size_t len, size_t *used, const char *s)
{
    int n = snprintf(buf + *used, len - *used, "%s%s", *used ? ", " : "", s);
    if (n > 0) *used = *used + (size_t)n < len ? *used + (size_t)n : len - 1;
}

int crypto_cert_names(const moat_cert *c, char *buf, size_t len)
{
    if (len == 0) return MOAT_ERR_ARG;
    buf[0] = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->x509, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        char one[300];
        if (general_name_text(sk_GENERAL_NAME_value(gens, i), one, sizeof one))
            append(buf, len, &used, one);
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    return 0;
}

int crypto_cert_constraints(const moat_cert *ca, char *buf, size_t len)
{
    if (len == 0) return MOAT_ERR_ARG;
    buf[0] = 0;
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca->x509, NID_name_constraints, NULL, NULL);
    size_t used = 0;
    for (int which = 0; nc && which < 2; which++) {
        STACK_OF(GENERAL_SUBTREE) *sts = which ? nc->excludedSubtrees : nc->permittedSubtrees;
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(sts); i++) {
            const GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(sts, i)->base;
            char one[300], item[320];
            if (!general_name_text(g, one, sizeof one)) continue;
            snprintf(item, sizeof item, "%s%s:%s", which ? "not " : "",
                     g->type == GEN_DNS     ? "DNS"
                     : g->type == GEN_EMAIL ? "email"
                     : g->type == GEN_URI   ? "URI"
                                            : "IP",
                     one);
            append(buf, len, &used, item);
        }
    }
    NAME_CONSTRAINTS_free(nc);
    ERR_clear_error();
    return 0;
}

/* RFC 5280 4.2.1.10: a DNS name is in the subtree of base when it is base
 * or base with labels added on the left (case-insensitively); a base
 * starting with '.' takes only names below it; an empty base takes all. */
static int dns_in_subtree(const char *name, const ASN1_STRING *base)
{
    const char *b = (const char *)ASN1_STRING_get0_data(base);
    size_t bl = (size_t)ASN1_STRING_length(base), nl = strlen(name);
    if (bl == 0) return 1;
    if (nl < bl || strncasecmp(name + nl - bl, b, bl) != 0) return 0;
    if (nl == bl) return b[0] != '.';
    return b[0] == '.' || name[nl - bl - 1] == '.';
}

/* A host against an rfc822Name or URI constraint's host part (RFC 5280
 * 4.2.1.10): ".domain" takes the hosts below it, anything else that host
 * alone (case-insensitively). */
static int host_in(const char *host, size_t hl, const char *b, size_t bl)
{
    if (bl && b[0] == '.') return hl > bl && strncasecmp(host + hl - bl, b, bl) == 0;
    return hl == bl && strncasecmp(host, b, bl) == 0;
}

/* RFC 5280 4.2.1.10: an rfc822Name constraint is a mailbox (that address
 * alone; its local part compared exactly), a host (every mailbox there),
 * or ".domain" (every mailbox on a host below it). */
static int email_in_subtree(const char *mail, const ASN1_STRING *base)
{
    const char *b = (const char *)ASN1_STRING_get0_data(base);
    size_t bl = (size_t)ASN1_STRING_length(base), ml = strlen(mail);
    const char *at = strrchr(mail, '@');
    if (!at) return 0;
    const char *bat = memchr(b, '@', bl);
    if (bat) {
        size_t local = (size_t)(bat - b);
        return (size_t)(at - mail) == local && memcmp(mail, b, local) == 0 &&
               host_in(at + 1, ml - local - 1, bat + 1, bl - local - 1);
    }
    return host_in(at + 1, strlen(at + 1), b, bl);
}

/* RFC 5280 4.2.1.10: a URI constraint is held to the URI's host, not to
 * the rest of it. */
static int uri_in_subtree(const char *uri, const ASN1_STRING *base)
{
    const char *host = strstr(uri, "://");
    if (!host) return 0;
    host += 3;
    size_t alen = strcspn(host, "/?#");
    const char *at = memchr(host, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    const char *colon = memchr(host, ':', alen);
    size_t hl = colon ? (size_t)(colon - host) : alen;
    return host_in(host, hl, (const char *)ASN1_STRING_get0_data(base),
                   (size_t)ASN1_STRING_length(base));
}

static int ip_in_subtree(const unsigned char *ip, int n, const ASN1_STRING *base)
{
    const unsigned char *b = ASN1_STRING_get0_data(base);
    if (ASN1_STRING_length(base) != 2 * n) return 0;
    for (int i = 0; i < n; i++)
        if ((ip[i] & b[n + i]) != (b[i] & b[n + i])) return 0;
    return 1;
}

int crypto_cert_name_permitted(const moat_cert *ca, const char *name)
{
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca->x509, NID_name_constraints, NULL, NULL);
    ERR_clear_error();
    if (!nc) return 1;
    unsigned char ip[16];
    int iplen = inet_pton(AF_INET, name, ip) == 1 ? 4 : inet_pton(AF_INET6, name, ip) == 1 ? 16 : 0;
    int type = san_type(name);
    int constrained = 0, permitted = 0, excluded = 0;
    for (int which = 0; which < 2; which++) {
        STACK_OF(GENERAL_SUBTREE) *sts = which ? nc->excludedSubtrees : nc->permittedSubtrees;
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(sts); i++) {
            const GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(sts, i)->base;
            if (g->type != type) continue;
            int in = type == GEN_DNS     ? dns_in_subtree(name, g->d.dNSName)
                     : type == GEN_EMAIL ? email_in_subtree(name, g->d.rfc822Name)
                     : type == GEN_URI   ? uri_in_subtree(name, g->d.uniformResourceIdentifier)
                                         : ip_in_subtree(ip, iplen, g->d.iPAddress);
            if (which) {
                excluded |= in;
            } else {
                constrained = 1;
                permitted |= in;
            }
        }
    }
    NAME_CONSTRAINTS_free(nc);
    return !excluded && (!constrained || permitted);
}
