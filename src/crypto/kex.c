/* Ephemeral ECDHE key shares: X25519, P-256, P-384 (RFC 8446 4.2.8). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "moat/error.h"

struct moat_kex {
    uint16_t group;
    EVP_PKEY *key;
};

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

int moat_kex_init(void)
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

int moat_kex_supported(uint16_t group)
{
    return group == MOAT_KEX_X25519 || group == MOAT_KEX_P256 || group == MOAT_KEX_P384;
}

size_t moat_kex_pub_len(uint16_t group)
{
    switch (group) {
    case MOAT_KEX_X25519:
        return 32;
    case MOAT_KEX_P256:
        return 65;
    case MOAT_KEX_P384:
        return 97;
    }
    return 0;
}

moat_kex *moat_kex_new(uint16_t group)
{
    /* The generators are this thread's (moat_kex_init); moat_crypto_init
     * makes the first thread's, so kex.c never calls back into it. */
    if (!moat_kex_supported(group) || moat_kex_init()) return NULL;
    EVP_PKEY_CTX *c = gen_for(group);
    moat_kex *k = OPENSSL_zalloc(sizeof *k);
    if (!k || EVP_PKEY_keygen(c, &k->key) <= 0) {
        moat_kex_free(k);
        return NULL;
    }
    k->group = group;
    return k;
}

moat_kex *moat_kex_from_private(uint16_t group, const uint8_t *priv, size_t len)
{
    if (group != MOAT_KEX_X25519) return NULL;
    moat_kex *k = OPENSSL_zalloc(sizeof *k);
    if (!k) return NULL;
    k->group = group;
    k->key = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, len);
    if (!k->key) {
        moat_kex_free(k);
        return NULL;
    }
    return k;
}

int moat_kex_pub(const moat_kex *k, uint8_t *out, size_t *len)
{
    size_t want = moat_kex_pub_len(k->group), got = 0;
    if (!EVP_PKEY_get_octet_string_param(k->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, want,
                                         &got) ||
        got != want)
        return MOAT_ERR_INTERNAL;
    *len = got;
    return 0;
}

int moat_kex_derive(moat_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *out, size_t *outlen)
{
    /* RFC 8446 4.2.8.2: X25519 keys are 32 bytes; NIST points uncompressed. */
    if (peerlen != moat_kex_pub_len(k->group) || (k->group != MOAT_KEX_X25519 && peer[0] != 4))
        return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY *p = NULL;
    if (k->group == MOAT_KEX_X25519) {
        p = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, peerlen);
    } else {
        p = EVP_PKEY_new();
        if (p && (!EVP_PKEY_copy_parameters(p, k->key) ||
                  !EVP_PKEY_set1_encoded_public_key(p, peer, peerlen))) {
            EVP_PKEY_free(p);
            return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
        }
    }
    if (!p) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    int r = MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL);
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

void moat_kex_free(moat_kex *k)
{
    if (!k) return;
    EVP_PKEY_free(k->key);
    OPENSSL_free(k);
}
