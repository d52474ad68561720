/* crypto.h's ML-KEM-768 from libcrypto, when it has one (OpenSSL 3.5 and
 * later): the Makefile's probe defines MOAT_MLKEM_LIBCRYPTO, and then this
 * file stands in for the end of mlkem.c. Keys travel as FIPS 203 bytes. */
#include "crypto/crypto.h"

#ifdef MOAT_MLKEM_LIBCRYPTO
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "moat/error.h"

#define EK MOAT_MLKEM768_EK_LEN
#define DK MOAT_MLKEM768_DK_LEN
#define CT MOAT_MLKEM768_CT_LEN

const char *crypto_mlkem_impl(void)
{
    return "libcrypto's";
}

/* An EVP_PKEY from ek ("pub") or dk ("priv"); libcrypto's import makes the
 * checks of FIPS 203 7.2 (modulus) and 7.3 (hash). NULL when they fail. */
static EVP_PKEY *import(const char *param, const uint8_t *key, size_t len, int selection)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "ML-KEM-768", NULL);
    EVP_PKEY *k = NULL;
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_octet_string(param, (void *)key, len),
                       OSSL_PARAM_construct_end()};
    if (!c || EVP_PKEY_fromdata_init(c) <= 0 || EVP_PKEY_fromdata(c, &k, selection, p) <= 0)
        k = NULL;
    EVP_PKEY_CTX_free(c);
    return k;
}

/* Algorithm 19, or Algorithm 16 with the seed d || z when seed is set. */
static int keygen(const uint8_t *seed, uint8_t *ek, uint8_t *dk)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "ML-KEM-768", NULL);
    EVP_PKEY *k = NULL;
    OSSL_PARAM p[2] = {
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_ML_KEM_SEED, (void *)seed, 64),
        OSSL_PARAM_construct_end()};
    size_t el = 0, dl = 0;
    int ok = c && EVP_PKEY_keygen_init(c) > 0 && (!seed || EVP_PKEY_CTX_set_params(c, p) > 0) &&
             EVP_PKEY_keygen(c, &k) > 0 &&
             EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, ek, EK, &el) && el == EK &&
             EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PRIV_KEY, dk, DK, &dl) && dl == DK;
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

/* Algorithm 20, or Algorithm 17 with m when m is set. */
static int encaps(const uint8_t *ek, size_t eklen, const uint8_t *m, uint8_t *ct, uint8_t *k)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    if (eklen != EK) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY *pk = import(OSSL_PKEY_PARAM_PUB_KEY, ek, eklen, EVP_PKEY_PUBLIC_KEY);
    if (!pk) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_octet_string(OSSL_KEM_PARAM_IKME, (void *)m, 32),
                       OSSL_PARAM_construct_end()};
    size_t cl = CT, kl = 32;
    int ok = c && EVP_PKEY_encapsulate_init(c, m ? p : NULL) > 0 &&
             EVP_PKEY_encapsulate(c, ct, &cl, k, &kl) > 0 && cl == CT && kl == 32;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

int crypto_mlkem768_keygen_internal(const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                                    uint8_t *dk)
{
    uint8_t seed[64];
    memcpy(seed, d, 32);
    memcpy(seed + 32, z, 32);
    int r = keygen(seed, ek, dk);
    OPENSSL_cleanse(seed, sizeof seed);
    return r;
}

int crypto_mlkem768_encaps_internal(const uint8_t *ek, size_t eklen, const uint8_t m[32],
                                    uint8_t *ct, uint8_t *k)
{
    return encaps(ek, eklen, m, ct, k);
}

int crypto_mlkem768_keygen(uint8_t *ek, uint8_t *dk)
{
    return keygen(NULL, ek, dk);
}

int crypto_mlkem768_encaps(const uint8_t *ek, size_t eklen, uint8_t *ct, uint8_t *k)
{
    return encaps(ek, eklen, NULL, ct, k);
}

/* Algorithm 21. */
int crypto_mlkem768_decaps(const uint8_t *dk, const uint8_t *ct, size_t ctlen, uint8_t *k)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    if (ctlen != CT) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    EVP_PKEY *sk = import(OSSL_PKEY_PARAM_PRIV_KEY, dk, DK, EVP_PKEY_KEYPAIR);
    if (!sk) return MOAT_ERR_ARG;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
    size_t kl = 32;
    int ok = c && EVP_PKEY_decapsulate_init(c, NULL) > 0 &&
             EVP_PKEY_decapsulate(c, k, &kl, ct, ctlen) > 0 && kl == 32;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(sk); /* libcrypto wipes the key it held */
    return ok ? 0 : MOAT_ERR_INTERNAL;
}
#else
typedef int moat_mlkem_evp_unused; /* C wants something in every file */
#endif
