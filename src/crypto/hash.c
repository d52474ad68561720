/* Process-wide algorithm fetching, randomness, hashes, HMAC and HKDF. */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "moat/buf.h"
#include "moat/error.h"

struct moat_algs moat_algs;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_once(void)
{
    moat_algs.md[MOAT_HASH_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
    moat_algs.md[MOAT_HASH_SHA384] = EVP_MD_fetch(NULL, "SHA384", NULL);
    moat_algs.md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    moat_algs.sha3_256 = EVP_MD_fetch(NULL, "SHA3-256", NULL);
    moat_algs.sha3_512 = EVP_MD_fetch(NULL, "SHA3-512", NULL);
    moat_algs.shake128 = EVP_MD_fetch(NULL, "SHAKE-128", NULL);
    moat_algs.shake256 = EVP_MD_fetch(NULL, "SHAKE-256", NULL);
    moat_algs.aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    moat_algs.aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    moat_algs.chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    init_result = MOAT_ERR_INTERNAL;
    if (!moat_algs.md[0] || !moat_algs.md[1] || !moat_algs.md_sha512 || !moat_algs.aes128gcm ||
        !moat_algs.aes256gcm || !moat_algs.chacha || !hmac || !moat_algs.sha3_256 ||
        !moat_algs.sha3_512 || !moat_algs.shake128 || !moat_algs.shake256)
        goto done;
    /* One HMAC context per hash with the digest already set: each use dups
     * it, so no per-call name lookup happens. */
    for (int h = 0; h < 2; h++) {
        moat_algs.hmac[h] = EVP_MAC_CTX_new(hmac);
        if (!moat_algs.hmac[h]) goto done;
        OSSL_PARAM p[2];
        p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                (char *)EVP_MD_get0_name(moat_algs.md[h]), 0);
        p[1] = OSSL_PARAM_construct_end();
        if (!EVP_MAC_CTX_set_params(moat_algs.hmac[h], p)) goto done;
    }
    /* The key-generation contexts are per thread and made by kex.c on
     * first use: kex.c calls ML-KEM, which calls here, so calling kex.c
     * from here would make a cycle of files. */
    init_result = 0;
done:
    EVP_MAC_free(hmac);
}

int crypto_init(void)
{
    pthread_once(&once, init_once);
    return init_result;
}

const char *crypto_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

int crypto_random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : MOAT_ERR_INTERNAL;
}

size_t crypto_hash_len(int h)
{
    return h == MOAT_HASH_SHA384 ? 48 : 32;
}

struct moat_hash_ctx {
    EVP_MD_CTX *md;
    int h;
};

moat_hash_ctx *crypto_hash_new(int h)
{
    if (crypto_init()) return NULL;
    moat_hash_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (!c) return NULL;
    c->h = h;
    c->md = EVP_MD_CTX_new();
    if (!c->md || !EVP_DigestInit_ex2(c->md, moat_algs.md[h], NULL)) {
        crypto_hash_free(c);
        return NULL;
    }
    return c;
}

int crypto_hash_update(moat_hash_ctx *c, const void *p, size_t n)
{
    return EVP_DigestUpdate(c->md, p, n) ? 0 : MOAT_ERR_INTERNAL;
}

int crypto_hash_peek(const moat_hash_ctx *c, uint8_t *out)
{
    EVP_MD_CTX *tmp = EVP_MD_CTX_new();
    int ok = tmp && EVP_MD_CTX_copy_ex(tmp, c->md) && EVP_DigestFinal_ex(tmp, out, NULL);
    EVP_MD_CTX_free(tmp);
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

moat_hash_ctx *crypto_hash_dup(const moat_hash_ctx *c)
{
    moat_hash_ctx *d = OPENSSL_zalloc(sizeof *d);
    if (!d) return NULL;
    d->h = c->h;
    d->md = EVP_MD_CTX_new();
    if (!d->md || !EVP_MD_CTX_copy_ex(d->md, c->md)) {
        crypto_hash_free(d);
        return NULL;
    }
    return d;
}

void crypto_hash_free(moat_hash_ctx *c)
{
    if (!c) return;
    EVP_MD_CTX_free(c->md);
    OPENSSL_free(c);
}

int crypto_hash(int h, const void *p, size_t n, uint8_t *out)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    return EVP_Digest(p, n, out, NULL, moat_algs.md[h], NULL) ? 0 : MOAT_ERR_INTERNAL;
}

/* One context per thread and hash, re-keyed by each call: the key
 * schedule makes dozens of HMACs per handshake. keyed: crypto_hmac_forget
 * has something to wipe. */
static __thread EVP_MAC_CTX *hmac_ctx[2];
static __thread int hmac_keyed[2];

/* A zero-length key is legal in HKDF; libcrypto wants a non-NULL pointer. */
static const uint8_t nokey[1];

int crypto_hmac(int h, const uint8_t *key, size_t klen, const uint8_t *p, size_t n, uint8_t *out)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    EVP_MAC_CTX *c = hmac_ctx[h];
    if (!c && !(c = hmac_ctx[h] = EVP_MAC_CTX_dup(moat_algs.hmac[h]))) return MOAT_ERR_NOMEM;
    size_t outl = 0;
    hmac_keyed[h] = 1;
    int ok = EVP_MAC_init(c, klen ? key : nokey, klen, NULL) && EVP_MAC_update(c, p, n) &&
             EVP_MAC_final(c, out, &outl, MOAT_HASH_MAX);
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

void crypto_hmac_forget(void)
{
    /* Keyed, a context keeps a copy of the key (libcrypto holds one for
     * TLS 1.2's HMAC) and the states hashed from it, the last output
     * among them: a resumption or traffic secret of a connection long
     * closed. Keying it again with the empty key frees and wipes all of
     * that; once per derivation, not per HMAC, as it costs about what an
     * HMAC does. A context that cannot be keyed again is freed (libcrypto
     * wipes what it frees). */
    for (int h = 0; h < 2; h++) {
        if (!hmac_keyed[h]) continue;
        hmac_keyed[h] = 0;
        if (!EVP_MAC_init(hmac_ctx[h], nokey, 0, NULL)) {
            EVP_MAC_CTX_free(hmac_ctx[h]);
            hmac_ctx[h] = NULL;
        }
    }
}

int crypto_hkdf_extract(int h, const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
                        size_t ikmlen, uint8_t *out)
{
    uint8_t zeros[MOAT_HASH_MAX] = {0};
    if (!salt || !saltlen) {
        salt = zeros;
        saltlen = crypto_hash_len(h);
    }
    return crypto_hmac(h, salt, saltlen, ikm, ikmlen, out);
}

int crypto_hkdf_expand(int h, const uint8_t *prk, size_t prklen, const uint8_t *info,
                       size_t infolen, uint8_t *out, size_t outlen)
{
    size_t hl = crypto_hash_len(h);
    if (outlen > 255 * hl || infolen > 512) return MOAT_ERR_ARG;
    uint8_t t[MOAT_HASH_MAX + 512 + 1], block[MOAT_HASH_MAX];
    size_t tlen = 0, done = 0;
    int r = 0;
    for (uint8_t i = 1; done < outlen; i++) {
        /* T(i) = HMAC(PRK, T(i-1) | info | i) */
        memcpy(t + tlen, info, infolen);
        t[tlen + infolen] = i;
        if ((r = crypto_hmac(h, prk, prklen, t, tlen + infolen + 1, block))) break;
        size_t take = outlen - done < hl ? outlen - done : hl;
        memcpy(out + done, block, take);
        done += take;
        memcpy(t, block, hl);
        tlen = hl;
    }
    moat_wipe(t, sizeof t);
    moat_wipe(block, sizeof block);
    return r;
}
