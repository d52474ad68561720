/* The libcrypto side of ACME: ES256 in JOSE's raw r || s form (RFC 7518
 * 3.4), JWK coordinates, CSRs (RFC 8555 7.4) and the tls-alpn-01
 * certificate (RFC 8737 3). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/jose.h"
#include "crypto/x509gen_int.h"
#include "moat/error.h"

/* id-pe-acmeIdentifier (RFC 8737 6.1). */
#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

int crypto_jose_ec_xy(const moat_pkey *k, uint8_t x[32], uint8_t y[32])
{
    if (crypto_pkey_type(k) != MOAT_KEY_EC_P256) return MOAT_ERR_ARG;
    BIGNUM *bx = NULL, *by = NULL;
    int ok = EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
             EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
             BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32;
    BN_free(bx);
    BN_free(by);
    ERR_clear_error();
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

int crypto_jose_es256_sign(const moat_pkey *k, const void *msg, size_t len, uint8_t sig[64])
{
    if (crypto_pkey_type(k) != MOAT_KEY_EC_P256) return MOAT_ERR_ARG;
    unsigned char der[80];
    size_t dlen = sizeof der;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
             EVP_DigestSign(m, der, &dlen, msg, len) == 1;
    EVP_MD_CTX_free(m);
    ECDSA_SIG *s = NULL;
    if (ok) {
        /* libcrypto writes the DER SEQUENCE of RFC 3279; JWS wants the two
         * integers side by side, fixed width (RFC 7518 3.4). */
        const unsigned char *p = der;
        s = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        ok = s && BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32) == 32 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32) == 32;
    }
    ECDSA_SIG_free(s);
    ERR_clear_error();
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

int crypto_jose_es256_verify(const moat_pkey *k, const void *msg, size_t len, const uint8_t sig[64])
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int dlen = -1, ok = 0;
    if (s && r && ss && ECDSA_SIG_set0(s, r, ss) == 1) {
        r = ss = NULL;
        dlen = i2d_ECDSA_SIG(s, &der);
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (dlen > 0 && m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k->pkey) == 1)
        ok = EVP_DigestVerify(m, der, (size_t)dlen, msg, len) == 1;
    EVP_MD_CTX_free(m);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    ERR_clear_error();
    return ok ? 0 : MOAT_ERR_ARG;
}

/* A GENERAL_NAMES of dNSNames. */
static GENERAL_NAMES *dns_names(const char *const *names, size_t n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (size_t i = 0; gens && i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (!g || !s || !ASN1_STRING_set(s, names[i], (int)strlen(names[i]))) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(s);
            GENERAL_NAMES_free(gens);
            return NULL;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            GENERAL_NAMES_free(gens);
            return NULL;
        }
    }
    return gens;
}

int crypto_jose_csr(const moat_pkey *key, const char *const *names, size_t n, uint8_t **der,
                    size_t *len, char *err, size_t errlen)
{
    *der = NULL;
    *len = 0;
    X509_REQ *req = X509_REQ_new();
    GENERAL_NAMES *gens = dns_names(names, n);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    /* The subject stays empty: RFC 8555 7.4 has the CA take the names
     * from the SAN extension, and an empty subject makes that extension
     * the whole identity. */
    int ok = req && gens && exts && X509_REQ_set_version(req, 0) == 1 &&
             X509_REQ_set_pubkey(req, key->pkey) == 1 &&
             X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1 &&
             X509_REQ_add_extensions(req, exts) == 1 &&
             X509_REQ_sign(req, key->pkey, EVP_sha256()) > 0;
    unsigned char *out = NULL;
    int olen = ok ? i2d_X509_REQ(req, &out) : -1;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_REQ_free(req);
    if (olen <= 0) return crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot make the CSR");
    *der = malloc((size_t)olen);
    if (*der) memcpy(*der, out, (size_t)olen);
    OPENSSL_free(out);
    if (!*der) return MOAT_ERR_NOMEM;
    *len = (size_t)olen;
    return 0;
}

/* Copies a memory BIO's contents into a malloc'd NUL-terminated string. */
static int bio_text(BIO *b, char **out, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || !data) return MOAT_ERR_INTERNAL;
    *out = malloc((size_t)n + 1);
    if (!*out) return MOAT_ERR_NOMEM;
    memcpy(*out, data, (size_t)n);
    (*out)[n] = 0;
    *len = (size_t)n;
    return 0;
}

/* The critical acmeIdentifier extension: its extnValue holds the DER of
 * an OCTET STRING of the 32-byte digest (RFC 8737 3). */
static int add_acme_identifier(X509 *x, const uint8_t digest[32])
{
    unsigned char v[34] = {0x04, 0x20};
    memcpy(v + 2, digest, 32);
    ASN1_OBJECT *obj = OBJ_txt2obj(ACME_IDENTIFIER_OID, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (obj && os && ASN1_OCTET_STRING_set(os, v, sizeof v))
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok;
}

static int alpn_x509(X509 *x, EVP_PKEY *pk, const char *name, const uint8_t digest[32])
{
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return 0;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    BN_free(bn);
    const char *names[1] = {name};
    GENERAL_NAMES *gens = dns_names(names, 1);
    X509_NAME *subj = X509_get_subject_name(x);
    time_t now = time(NULL);
    /* A short validity around now: the CA only checks the names and the
     * extension, and the certificate lives as long as the listener. */
    int ok = ai && gens && X509_set_version(x, 2) == 1 && X509_set_serialNumber(x, ai) == 1 &&
             X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1,
                                        -1, 0) == 1 &&
             X509_set_issuer_name(x, subj) == 1 &&
             X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now) &&
             X509_time_adj_ex(X509_getm_notAfter(x), 7, 0, &now) && X509_set_pubkey(x, pk) == 1 &&
             X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1 &&
             add_acme_identifier(x, digest) && X509_sign(x, pk, EVP_sha256()) > 0;
    ASN1_INTEGER_free(ai);
    GENERAL_NAMES_free(gens);
    return ok;
}

int crypto_jose_alpn_cert(const char *name, const uint8_t digest[32], char **cert_pem,
                          size_t *cert_len, char **key_pem, size_t *key_len, char *err,
                          size_t errlen)
{
    *cert_pem = *key_pem = NULL;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_secmem());
    int ok = pk && x && cb && kb && alpn_x509(x, pk, name, digest) &&
             PEM_write_bio_X509(cb, x) == 1 &&
             PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) == 1;
    int r =
        ok ? 0
           : crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot make the tls-alpn-01 certificate");
    if (!r) r = bio_text(cb, cert_pem, cert_len);
    if (!r) r = bio_text(kb, key_pem, key_len);
    if (r) {
        free(*cert_pem);
        *cert_pem = NULL;
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pk);
    return r;
}

static X509 *pem_x509(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return x;
}

int crypto_jose_alpn_digest(const char *cert_pem, size_t len, uint8_t digest[32], int *critical)
{
    X509 *x = pem_x509(cert_pem, len);
    ASN1_OBJECT *obj = OBJ_txt2obj(ACME_IDENTIFIER_OID, 1);
    int i = x && obj ? X509_get_ext_by_OBJ(x, obj, -1) : -1;
    X509_EXTENSION *ext = i >= 0 ? X509_get_ext(x, i) : NULL;
    ASN1_OCTET_STRING *v = ext ? X509_EXTENSION_get_data(ext) : NULL;
    const unsigned char *p = v ? ASN1_STRING_get0_data(v) : NULL;
    int ok = p && ASN1_STRING_length(v) == 34 && p[0] == 0x04 && p[1] == 0x20;
    if (ok) {
        memcpy(digest, p + 2, 32);
        *critical = X509_EXTENSION_get_critical(ext);
    }
    ASN1_OBJECT_free(obj);
    X509_free(x);
    return ok ? 0 : MOAT_ERR_ARG;
}

int crypto_jose_pem_to_der(const char *pem, size_t len, uint8_t **der, size_t *derlen)
{
    *der = NULL;
    X509 *x = pem_x509(pem, len);
    unsigned char *out = NULL;
    int n = x ? i2d_X509(x, &out) : -1;
    X509_free(x);
    if (n <= 0) return MOAT_ERR_ARG;
    *der = malloc((size_t)n);
    if (*der) memcpy(*der, out, (size_t)n);
    OPENSSL_free(out);
    if (!*der) return MOAT_ERR_NOMEM;
    *derlen = (size_t)n;
    return 0;
}

int crypto_jose_csr_names(const uint8_t *der, size_t len, char *buf, size_t buflen, int *sig_ok)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    if (!req) return MOAT_ERR_ARG;
    *sig_ok = X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1;
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS) continue;
        int n = snprintf(buf + used, buflen - used, "%s%.*s", used ? "," : "",
                         ASN1_STRING_length(g->d.dNSName),
                         (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        if (n < 0 || (size_t)n >= buflen - used) break;
        used += (size_t)n;
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    ERR_clear_error();
    return 0;
}

int crypto_jose_ari_parts(const char *pem, size_t len, uint8_t aki[64], size_t *aki_len,
                          uint8_t serial[32], size_t *serial_len)
{
    X509 *x = pem_x509(pem, len);
    if (!x) return MOAT_ERR_ARG;
    int r = MOAT_ERR_ARG;
    const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(x);
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    unsigned char *der = NULL;
    int dl = sn ? i2d_ASN1_INTEGER(sn, &der) : -1;
    /* The INTEGER's tag and one length byte go: serials are <= 20 bytes
     * (RFC 5280 4.1.2.2), so the length is always short-form. */
    if (kid && kid->length > 0 && kid->length <= 64 && dl > 2 && dl - 2 <= 32 && der[1] < 0x80 &&
        der[1] == dl - 2) {
        memcpy(aki, kid->data, (size_t)kid->length);
        *aki_len = (size_t)kid->length;
        memcpy(serial, der + 2, (size_t)(dl - 2));
        *serial_len = (size_t)(dl - 2);
        r = 0;
    }
    OPENSSL_free(der);
    X509_free(x);
    ERR_clear_error();
    return r;
}
