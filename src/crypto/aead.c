/* AEAD record protection: AES-128/256-GCM and ChaCha20-Poly1305. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "moat/error.h"

struct moat_aead {
    EVP_CIPHER_CTX *ctx;
    int encrypt;
    uint16_t suite;
};

size_t crypto_aead_key_len(uint16_t suite)
{
    switch (suite) {
    case MOAT_AEAD_AES128_GCM:
        return 16;
    case MOAT_AEAD_AES256_GCM:
        return 32;
    case MOAT_AEAD_CHACHA20_POLY1305:
        return 32;
    }
    return 0;
}

int crypto_suite_hash(uint16_t suite)
{
    switch (suite) {
    case MOAT_AEAD_AES128_GCM:
    case MOAT_AEAD_CHACHA20_POLY1305:
        return MOAT_HASH_SHA256;
    case MOAT_AEAD_AES256_GCM:
        return MOAT_HASH_SHA384;
    }
    return -1;
}

moat_aead *crypto_aead_new(uint16_t suite, int encrypt, const uint8_t *key)
{
    if (crypto_init()) return NULL;
    const EVP_CIPHER *c = suite == MOAT_AEAD_AES128_GCM          ? moat_algs.aes128gcm
                          : suite == MOAT_AEAD_AES256_GCM        ? moat_algs.aes256gcm
                          : suite == MOAT_AEAD_CHACHA20_POLY1305 ? moat_algs.chacha
                                                                 : NULL;
    if (!c) return NULL;
    moat_aead *a = OPENSSL_zalloc(sizeof *a);
    if (!a) return NULL;
    a->encrypt = encrypt;
    a->suite = suite;
    a->ctx = EVP_CIPHER_CTX_new();
    if (!a->ctx || !EVP_CipherInit_ex2(a->ctx, c, key, NULL, encrypt, NULL)) {
        crypto_aead_free(a);
        return NULL;
    }
    return a;
}

int crypto_aead_rekey(moat_aead *a, uint16_t suite, const uint8_t *key)
{
    if (suite != a->suite) return MOAT_ERR_ARG;
    return EVP_CipherInit_ex2(a->ctx, NULL, key, NULL, a->encrypt, NULL) ? 0 : MOAT_ERR_INTERNAL;
}

int crypto_aead_seal(moat_aead *a, const uint8_t nonce[12], const uint8_t *aad, size_t aadlen,
                     const uint8_t *in, size_t inlen, uint8_t *out)
{
    return crypto_aead_seal_tail(a, nonce, aad, aadlen, in, inlen, NULL, 0, out);
}

/* The tag, straight through the provider's parameters: EVP_CIPHER_CTX_ctrl
 * would build the same parameter and more around it, on every record. */
static int aead_tag(moat_aead *a, uint8_t *tag, int get)
{
    OSSL_PARAM p[2] = {OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16), OSSL_PARAM_END};
    return get ? EVP_CIPHER_CTX_get_params(a->ctx, p) : EVP_CIPHER_CTX_set_params(a->ctx, p);
}

int crypto_aead_seal_tail(moat_aead *a, const uint8_t nonce[12], const uint8_t *aad, size_t aadlen,
                          const uint8_t *in, size_t inlen, const uint8_t *tail, size_t taillen,
                          uint8_t *out)
{
    int l1 = 0, l2 = 0, l4 = 0;
    /* A small record's bytes and tail (its content type) are joined in
     * out and encrypted in place: one update fewer costs more than the
     * copy. A large one is not copied. */
    if (taillen && taillen <= 16 && inlen <= 4096) {
        if (out != in) memmove(out, in, inlen);
        memcpy(out + inlen, tail, taillen);
        in = out;
        inlen += taillen;
        taillen = 0;
    }
    int l3 = 0;
    if (!EVP_CipherInit_ex2(a->ctx, NULL, NULL, nonce, 1, NULL) ||
        !EVP_CipherUpdate(a->ctx, NULL, &l1, aad, (int)aadlen) ||
        !EVP_CipherUpdate(a->ctx, out, &l2, in, (int)inlen) ||
        (taillen && !EVP_CipherUpdate(a->ctx, out + l2, &l3, tail, (int)taillen)) ||
        !EVP_CipherFinal_ex(a->ctx, out + l2 + l3, &l4) || !aead_tag(a, out + inlen + taillen, 1))
        return MOAT_ERR_INTERNAL;
    return 0;
}

int crypto_aead_open(moat_aead *a, const uint8_t nonce[12], const uint8_t *aad, size_t aadlen,
                     const uint8_t *in, size_t inlen, uint8_t *out)
{
    int l1 = 0, l2 = 0, l3 = 0;
    if (inlen < 16) return -1;
    size_t clen = inlen - 16;
    if (!EVP_CipherInit_ex2(a->ctx, NULL, NULL, nonce, 0, NULL) ||
        !EVP_CipherUpdate(a->ctx, NULL, &l1, aad, (int)aadlen) ||
        !EVP_CipherUpdate(a->ctx, out, &l2, in, (int)clen) ||
        !aead_tag(a, (uint8_t *)(in + clen), 0) || EVP_CipherFinal_ex(a->ctx, out + l2, &l3) <= 0)
        return -1;
    return 0;
}

void crypto_aead_free(moat_aead *a)
{
    if (!a) return;
    EVP_CIPHER_CTX_free(a->ctx); /* libcrypto clears the key schedule */
    OPENSSL_free(a);
}
