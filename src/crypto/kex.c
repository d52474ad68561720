/* Ephemeral key shares: ECDHE with X25519, P-256, P-384 (RFC 8446
 * 4.2.8) and the hybrid X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem),
 * ML-KEM-768 then X25519, behind one interface. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "moat/error.h"

struct moat_kex {
    uint16_t group;
    EVP_PKEY *key;  /* the ECDH key: for the hybrid, its X25519 half */
    uint8_t *mlkem; /* the hybrid: ek (1184 bytes) then dk (2400), else NULL */
};

#define HYB_EK MOAT_MLKEM768_EK_LEN
#define HYB_CT MOAT_MLKEM768_CT_LEN
#define HYB_SS MOAT_MLKEM768_SS_LEN
#define HYB_X 32 /* the X25519 half of each share and of the secret */

/* Key-generation contexts prepared once per thread (libcrypto cannot dup
 * them, and a context must not be shared between threads). */
static __thread EVP_PKEY_CTX *gen_x25519, *gen_p256, *gen_p384;

static EVP_PKEY_CTX *make_gen(const char *alg, const char *curve)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    if (!c || EVP_PKEY_keygen_init(c) <= 0 ||
        (curve && EVP_PKEY_CTX_set_group_name(c, curve) <= 0)) {
        EVP_PKEY_CTX_free(c);
        return NULL;
    }
    return c;
}

int crypto_kex_init(void)
{
    if (gen_x25519 && gen_p256 && gen_p384) return 0;
    gen_x25519 = make_gen("X25519", NULL);
    gen_p256 = make_gen("EC", "P-256");
    gen_p384 = make_gen("EC", "P-384");
    return gen_x25519 && gen_p256 && gen_p384 ? 0 : -1;
}

static EVP_PKEY_CTX *gen_for(uint16_t group)
{
    switch (group) {
    case MOAT_KEX_X25519:
        return gen_x25519;
    case MOAT_KEX_P256:
        return gen_p256;
    case MOAT_KEX_P384:
        return gen_p384;
    }
    return NULL;
}

int crypto_kex_supported(uint16_t group)
{
    return group == MOAT_KEX_X25519 || group == MOAT_KEX_P256 || group == MOAT_KEX_P384 ||
           group == MOAT_KEX_X25519MLKEM768;
}

/* The ECDH group of a share: the hybrid's is X25519. */
static uint16_t ecdh_group(uint16_t group)
{
    return group == MOAT_KEX_X25519MLKEM768 ? MOAT_KEX_X25519 : group;
}

size_t crypto_kex_pub_len(uint16_t group)
{
    switch (group) {
    case MOAT_KEX_X25519:
        return 32;
    case MOAT_KEX_P256:
        return 65;
    case MOAT_KEX_P384:
        return 97;
    case MOAT_KEX_X25519MLKEM768:
        return HYB_EK + HYB_X; /* draft-ietf-tls-ecdhe-mlkem 4.1: ek || X25519 */
    }
    return 0;
}

size_t crypto_kex_server_share_len(uint16_t group)
{
    /* draft-ietf-tls-ecdhe-mlkem 4.1: ct || X25519; ECDHE: a public key. */
    return group == MOAT_KEX_X25519MLKEM768 ? HYB_CT + HYB_X : crypto_kex_pub_len(group);
}

moat_kex *crypto_kex_new(uint16_t group)
{
    /* The generators are this thread's, made on its first key
     * (crypto_kex_init); a libcrypto without the curve fails here. */
    if (!crypto_kex_supported(group) || crypto_kex_init()) return NULL;
    EVP_PKEY_CTX *c = gen_for(ecdh_group(group));
    moat_kex *k = OPENSSL_zalloc(sizeof *k);
    if (!k) return NULL;
    k->group = group;
    if (EVP_PKEY_keygen(c, &k->key) <= 0) {
        crypto_kex_free(k);
        return NULL;
    }
    if (group == MOAT_KEX_X25519MLKEM768 &&
        (!(k->mlkem = OPENSSL_malloc(HYB_EK + MOAT_MLKEM768_DK_LEN)) ||
         crypto_mlkem768_keygen(k->mlkem, k->mlkem + HYB_EK))) {
        crypto_kex_free(k);
        return NULL;
    }
    return k;
}

moat_kex *crypto_kex_from_private(uint16_t group, const uint8_t *priv, size_t len)
{
    if (group != MOAT_KEX_X25519) return NULL;
    moat_kex *k = OPENSSL_zalloc(sizeof *k);
    if (!k) return NULL;
    k->group = group;
    k->key = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, len);
    if (!k->key) {
        crypto_kex_free(k);
        return NULL;
    }
    return k;
}

/* The ECDH key's public half as TLS encodes it. */
static int ecdh_pub(EVP_PKEY *key, uint16_t group, uint8_t *out)
{
    size_t want = crypto_kex_pub_len(group), got = 0;
    if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, want,
                                         &got) ||
        got != want)
        return MOAT_ERR_INTERNAL;
    return 0;
}

int crypto_kex_pub(const moat_kex *k, uint8_t *out, size_t *len)
{
    size_t off = 0;
    if (k->mlkem) { /* draft-ietf-tls-ecdhe-mlkem 4.1: ek first */
        memcpy(out, k->mlkem, HYB_EK);
        off = HYB_EK;
    }
    int r = ecdh_pub(k->key, ecdh_group(k->group), out + off);
    if (!r) *len = off + crypto_kex_pub_len(ecdh_group(k->group));
    return r;
}

/* ECDH of our key with the peer's public key in group; 4.2.8.2. */
static int ecdh_derive(EVP_PKEY *key, uint16_t group, const uint8_t *peer, size_t peerlen,
                       uint8_t *out, size_t *outlen)
{
    /* RFC 8446 4.2.8.2: X25519 keys are 32 bytes; NIST points uncompressed. */
    if (peerlen != crypto_kex_pub_len(group) || (group != MOAT_KEX_X25519 && peer[0] != 4))
        return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY *p = NULL;
    if (group == MOAT_KEX_X25519) {
        p = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, peerlen);
    } else {
        p = EVP_PKEY_new();
        if (p && (!EVP_PKEY_copy_parameters(p, key) ||
                  !EVP_PKEY_set1_encoded_public_key(p, peer, peerlen))) {
            EVP_PKEY_free(p);
            return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
        }
    }
    if (!p) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    int r = MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    size_t n = 48;
    /* validate_peer=1 checks the point is on the curve; X25519 derivation
     * fails on an all-zero result (RFC 8446 7.4.2). */
    if (c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer_ex(c, p, 1) > 0 &&
        EVP_PKEY_derive(c, out, &n) > 0) {
        *outlen = n;
        r = 0;
    }
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(p);
    return r;
}

/* The hybrid's client side (draft-ietf-tls-ecdhe-mlkem 4.1): the server's
 * share is ct || X25519 key; the secret ML-KEM's then X25519's. */
static int hybrid_derive(moat_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *out,
                         size_t *outlen)
{
    if (peerlen != HYB_CT + HYB_X) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    size_t xlen = 0;
    int r = crypto_mlkem768_decaps(k->mlkem + HYB_EK, peer, HYB_CT, out);
    if (!r) r = ecdh_derive(k->key, MOAT_KEX_X25519, peer + HYB_CT, HYB_X, out + HYB_SS, &xlen);
    if (r) {
        OPENSSL_cleanse(out, HYB_SS + HYB_X);
        return r;
    }
    *outlen = HYB_SS + xlen;
    return 0;
}

int crypto_kex_derive(moat_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *out,
                      size_t *outlen)
{
    if (k->mlkem) return hybrid_derive(k, peer, peerlen, out, outlen);
    return ecdh_derive(k->key, k->group, peer, peerlen, out, outlen);
}

/* The hybrid's server side (draft-ietf-tls-ecdhe-mlkem 4.1): encapsulate
 * to the client's ek, answer its X25519 key with one of ours. */
static int hybrid_respond(const uint8_t *cs, size_t len, uint8_t *share, size_t *sharelen,
                          uint8_t *secret, size_t *secretlen)
{
    if (len != HYB_EK + HYB_X) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    moat_kex *x = crypto_kex_new(MOAT_KEX_X25519);
    if (!x) return MOAT_ERR_INTERNAL;
    size_t xlen = 0;
    int r = crypto_mlkem768_encaps(cs, HYB_EK, share, secret);
    if (!r) r = ecdh_derive(x->key, MOAT_KEX_X25519, cs + HYB_EK, HYB_X, secret + HYB_SS, &xlen);
    if (!r) r = ecdh_pub(x->key, MOAT_KEX_X25519, share + HYB_CT);
    crypto_kex_free(x);
    if (r) {
        OPENSSL_cleanse(secret, HYB_SS + HYB_X);
        return r;
    }
    *sharelen = HYB_CT + HYB_X;
    *secretlen = HYB_SS + xlen;
    return 0;
}

int crypto_kex_respond(uint16_t group, const uint8_t *client_share, size_t len, uint8_t *share,
                       size_t *sharelen, uint8_t *secret, size_t *secretlen)
{
    if (!crypto_kex_supported(group)) return MOAT_ERR_ARG;
    if (group == MOAT_KEX_X25519MLKEM768)
        return hybrid_respond(client_share, len, share, sharelen, secret, secretlen);
    moat_kex *k = crypto_kex_new(group);
    if (!k) return MOAT_ERR_INTERNAL;
    int r = ecdh_derive(k->key, group, client_share, len, secret, secretlen);
    if (!r) r = crypto_kex_pub(k, share, sharelen);
    if (r) OPENSSL_cleanse(secret, MOAT_KEX_SECRET_MAX);
    crypto_kex_free(k);
    return r;
}

void crypto_kex_free(moat_kex *k)
{
    if (!k) return;
    EVP_PKEY_free(k->key);
    OPENSSL_clear_free(k->mlkem, HYB_EK + MOAT_MLKEM768_DK_LEN); /* dk is secret */
    OPENSSL_free(k);
}
