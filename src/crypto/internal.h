/* Shared state of crypto/: the algorithms fetched once per process. */
#ifndef MOAT_CRYPTO_INTERNAL_H
#define MOAT_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

struct moat_algs {
    EVP_MD *md[2]; /* by MOAT_HASH_* */
    EVP_MD *md_sha512;
    EVP_MD *sha3_256, *sha3_512, *shake128, *shake256; /* ML-KEM's H, G, XOF; J and PRF */
    EVP_CIPHER *aes128gcm, *aes256gcm, *chacha;
    EVP_MAC_CTX *hmac[2]; /* templates with the digest set */
};
extern struct moat_algs moat_algs;

/* This thread's key-generation contexts (kex.c): 0, or -1 when libcrypto lacks a group. */
int crypto_kex_init(void);
const EVP_MD *crypto_scheme_md(uint16_t scheme); /* NULL for Ed25519 */

#endif
