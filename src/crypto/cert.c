/* Our certificate chain and private key: loading, SNI matching, signing,
 * and checking a peer's CertificateVerify signature. */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "moat/error.h"

#define MAX_CHAIN 10

struct moat_cred {
    X509 *leaf;
    EVP_PKEY *key;
    int kind; /* KIND_* */
    size_t n;
    uint8_t *der[MAX_CHAIN];
    size_t derlen[MAX_CHAIN];
};

enum { KIND_RSA = 1, KIND_P256, KIND_P384, KIND_ED25519 };

static int key_kind(EVP_PKEY *k, char *err, size_t errlen)
{
    char curve[32] = "";
    size_t cl = 0;
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(k) < 2048) {
            snprintf(err, errlen, "RSA key of %d bits is too small (2048 at least)",
                     EVP_PKEY_get_bits(k));
            return -1;
        }
        return KIND_RSA;
    case EVP_PKEY_EC:
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &cl);
        if (!strcmp(curve, "prime256v1") || !strcmp(curve, "P-256")) return KIND_P256;
        if (!strcmp(curve, "secp384r1") || !strcmp(curve, "P-384")) return KIND_P384;
        snprintf(err, errlen, "ECDSA curve %s is not supported (P-256 or P-384)", curve);
        return -1;
    case EVP_PKEY_ED25519:
        return KIND_ED25519;
    }
    snprintf(err, errlen, "key type is not supported (RSA, ECDSA P-256/P-384 or Ed25519)");
    return -1;
}

int crypto_cred_load(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
                     moat_cred **out, char *err, size_t errlen)
{
    char dummy[1];
    if (!errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    moat_cred *c = OPENSSL_zalloc(sizeof *c);
    if (!c) return MOAT_ERR_NOMEM;
    BIO *b = BIO_new_mem_buf(cert_pem, (int)cert_len);
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        if (c->n == MAX_CHAIN) {
            X509_free(x);
            snprintf(err, errlen, "certificate chain longer than %d certificates", MAX_CHAIN);
            goto fail;
        }
        int l = i2d_X509(x, &c->der[c->n]);
        if (l <= 0) {
            X509_free(x);
            goto fail;
        }
        c->derlen[c->n++] = (size_t)l;
        if (!c->leaf)
            c->leaf = x;
        else
            X509_free(x);
    }
    BIO_free(b);
    b = NULL; /* freed: the fail path below frees b again */
    ERR_clear_error();
    if (!c->n) {
        snprintf(err, errlen, "no PEM certificate found");
        goto fail;
    }
    b = BIO_new_mem_buf(key_pem, (int)key_len);
    c->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    b = NULL;
    if (!c->key) {
        snprintf(err, errlen, "no PEM private key found");
        goto fail;
    }
    if ((c->kind = key_kind(c->key, err, errlen)) < 0) goto fail;
    if (X509_check_private_key(c->leaf, c->key) != 1) {
        snprintf(err, errlen, "the private key does not match the certificate");
        goto fail;
    }
    ERR_clear_error();
    *out = c;
    return 0;
fail:
    BIO_free(b);
    ERR_clear_error();
    crypto_cred_free(c);
    return MOAT_ERR_FILE;
}

void crypto_cred_free(moat_cred *c)
{
    if (!c) return;
    X509_free(c->leaf);
    EVP_PKEY_free(c->key);
    for (size_t i = 0; i < c->n; i++)
        OPENSSL_free(c->der[i]);
    OPENSSL_free(c);
}

size_t crypto_cred_chain_len(const moat_cred *c)
{
    return c->n;
}

const uint8_t *crypto_cred_chain_der(const moat_cred *c, size_t i, size_t *len)
{
    *len = c->derlen[i];
    return c->der[i];
}

int crypto_cred_can_sign(const moat_cred *c, uint16_t scheme)
{
    switch (scheme) {
    case MOAT_SIGN_ECDSA_P256_SHA256:
        return c->kind == KIND_P256;
    case MOAT_SIGN_ECDSA_P384_SHA384:
        return c->kind == KIND_P384;
    case MOAT_SIGN_RSA_PSS_SHA256:
    case MOAT_SIGN_RSA_PSS_SHA384:
    case MOAT_SIGN_RSA_PSS_SHA512:
    case MOAT_SIGN_RSA_PKCS1_SHA256:
    case MOAT_SIGN_RSA_PKCS1_SHA384:
    case MOAT_SIGN_RSA_PKCS1_SHA512:
        return c->kind == KIND_RSA;
    case MOAT_SIGN_ED25519:
        return c->kind == KIND_ED25519;
    }
    return 0;
}

int crypto_cred_matches_name(const moat_cred *c, const char *host)
{
    return X509_check_host(c->leaf, host, 0,
                           X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                           NULL) == 1;
}

int crypto_cred_each_name(const moat_cred *c, int (*fn)(void *arg, const char *name, size_t len),
                          void *arg)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    int r = 0;
    for (int i = 0; !r && gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS) continue;
        const ASN1_IA5STRING *s = g->d.dNSName;
        if (s->length > 0) r = fn(arg, (const char *)s->data, (size_t)s->length);
    }
    GENERAL_NAMES_free(gens);
    return r;
}

const EVP_MD *crypto_scheme_md(uint16_t scheme)
{
    switch (scheme) {
    case MOAT_SIGN_ECDSA_P256_SHA256:
    case MOAT_SIGN_RSA_PSS_SHA256:
    case MOAT_SIGN_RSA_PKCS1_SHA256:
        return moat_algs.md[MOAT_HASH_SHA256];
    case MOAT_SIGN_ECDSA_P384_SHA384:
    case MOAT_SIGN_RSA_PSS_SHA384:
    case MOAT_SIGN_RSA_PKCS1_SHA384:
        return moat_algs.md[MOAT_HASH_SHA384];
    case MOAT_SIGN_RSA_PSS_SHA512:
    case MOAT_SIGN_RSA_PKCS1_SHA512:
        return moat_algs.md_sha512;
    }
    return NULL;
}

static int is_pss(uint16_t scheme)
{
    return scheme >= MOAT_SIGN_RSA_PSS_SHA256 && scheme <= MOAT_SIGN_RSA_PSS_SHA512;
}

/* One DigestSign/DigestVerify set-up for both directions. */
static EVP_MD_CTX *sig_ctx(EVP_PKEY *key, uint16_t scheme, int sign)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    const EVP_MD *md = crypto_scheme_md(scheme);
    int ok = m && (sign ? EVP_DigestSignInit(m, &p, md, NULL, key)
                        : EVP_DigestVerifyInit(m, &p, md, NULL, key)) > 0;
    if (ok && is_pss(scheme))
        ok = EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(p, RSA_PSS_SALTLEN_DIGEST) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(p, md) > 0;
    if (!ok) {
        EVP_MD_CTX_free(m);
        return NULL;
    }
    return m;
}

int crypto_cred_sign(const moat_cred *c, uint16_t scheme, const uint8_t *msg, size_t msglen,
                     uint8_t *sig, size_t *siglen)
{
    if (!crypto_cred_can_sign(c, scheme)) return MOAT_ERR_INTERNAL;
    EVP_MD_CTX *m = sig_ctx(c->key, scheme, 1);
    size_t len = 1024;
    int ok = m && EVP_DigestSign(m, sig, &len, msg, msglen) > 0;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    /* OpenSSL 3.0's ECDSA reports success with a length of (unsigned)-1
     * when encoding the signature runs out of memory: check the length. */
    if (!ok || len == 0 || len > 1024) return MOAT_ERR_INTERNAL;
    *siglen = len;
    return 0;
}

/* Whether a peer's key may be used with a scheme (RFC 8446 4.2.3: the
 * ECDSA curve is bound to the scheme; rsa_pss_rsae needs an rsaEncryption key). */
static int key_fits(EVP_PKEY *k, uint16_t scheme, int any_curve)
{
    char err[8];
    int kind = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? KIND_RSA : key_kind(k, err, sizeof err);
    /* TLS 1.2 (RFC 5246 7.4.1.4.1): an ECDSA scheme names the hash only. */
    if (any_curve && (kind == KIND_P256 || kind == KIND_P384) &&
        (scheme == MOAT_SIGN_ECDSA_P256_SHA256 || scheme == MOAT_SIGN_ECDSA_P384_SHA384))
        return 1;
    moat_cred fake = {.kind = kind};
    return kind > 0 && crypto_cred_can_sign(&fake, scheme);
}

static int verify_sig(const uint8_t *cert_der, size_t cert_len, uint16_t scheme, const uint8_t *msg,
                      size_t msglen, const uint8_t *sig, size_t siglen, int any_curve);

int crypto_verify_sig(const uint8_t *cert_der, size_t cert_len, uint16_t scheme, const uint8_t *msg,
                      size_t msglen, const uint8_t *sig, size_t siglen)
{
    return verify_sig(cert_der, cert_len, scheme, msg, msglen, sig, siglen, 0);
}

int crypto_verify_sig12(const uint8_t *cert_der, size_t cert_len, uint16_t scheme,
                        const uint8_t *msg, size_t msglen, const uint8_t *sig, size_t siglen)
{
    return verify_sig(cert_der, cert_len, scheme, msg, msglen, sig, siglen, 1);
}

static int verify_sig(const uint8_t *cert_der, size_t cert_len, uint16_t scheme, const uint8_t *msg,
                      size_t msglen, const uint8_t *sig, size_t siglen, int any_curve)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    const uint8_t *p = cert_der;
    X509 *x = d2i_X509(NULL, &p, (long)cert_len);
    if (!x) {
        ERR_clear_error();
        return MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
    }
    EVP_PKEY *k = X509_get0_pubkey(x);
    int r;
    if (!k) {
        r = MOAT_ERR_ALERT(MOAT_ALERT_BAD_CERTIFICATE);
    } else if (!key_fits(k, scheme, any_curve)) {
        r = MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    } else {
        EVP_MD_CTX *m = sig_ctx(k, scheme, 0);
        r = m && EVP_DigestVerify(m, sig, siglen, msg, msglen) == 1
                ? 0
                : MOAT_ERR_ALERT(MOAT_ALERT_DECRYPT_ERROR);
        EVP_MD_CTX_free(m);
    }
    X509_free(x);
    ERR_clear_error();
    return r;
}
