/* moat's own ML-KEM-768 (FIPS 203), step by step: the algorithms of the
 * standard under its names, for crypto/ and for the unit tests that check
 * each one alone. crypto.h has the interface the rest of moat uses. */
#ifndef MOAT_CRYPTO_MLKEM_H
#define MOAT_CRYPTO_MLKEM_H

#include <stddef.h>
#include <stdint.h>

/* FIPS 203 section 8, ML-KEM-768. */
#define MLKEM_N 256
#define MLKEM_Q 3329
#define MLKEM_K 3
#define MLKEM_ETA1 2
#define MLKEM_ETA2 2
#define MLKEM_DU 10
#define MLKEM_DV 4
#define MLKEM_POLY_BYTES 384                            /* ByteEncode_12 of one polynomial */
#define MLKEM_PKE_DK_BYTES (MLKEM_POLY_BYTES * MLKEM_K) /* 1152 */

/* A polynomial of R_q or T_q: 256 coefficients, each always in [0, q). */
typedef struct {
    uint16_t c[MLKEM_N];
} mlkem_poly;

/* Tables of 4.3: zeta^BitRev7(i) (NTT) and zeta^(2 BitRev7(i) + 1) (MultiplyNTTs). */
extern const uint16_t moat_mlkem_zetas[128];
extern const uint16_t moat_mlkem_gammas[128];

/* Compress_d and Decompress_d (4.2.1, equations 4.7 and 4.8), 1 <= d < 12. */
uint16_t crypto_mlkem_compress(int d, uint16_t x);
uint16_t crypto_mlkem_decompress(int d, uint16_t y);

/* Algorithm 5 ByteEncode_d: 32 d bytes out. Algorithm 6 ByteDecode_d:
 * 32 d bytes in; for d = 12 the values are taken mod q. */
void crypto_mlkem_byte_encode(int d, const mlkem_poly *f, uint8_t *b);
void crypto_mlkem_byte_decode(int d, const uint8_t *b, mlkem_poly *f);

/* Algorithm 7 SampleNTT: B = rho || j || i, 34 bytes. */
int crypto_mlkem_sample_ntt(const uint8_t b[34], mlkem_poly *a);
/* Algorithm 8 SamplePolyCBD_eta: B is 64 eta bytes, eta 2 or 3. */
void crypto_mlkem_sample_poly_cbd(int eta, const uint8_t *b, mlkem_poly *f);

/* Algorithms 9 and 10: NTT and its inverse, in place. */
void crypto_mlkem_ntt(mlkem_poly *f);
void crypto_mlkem_ntt_inverse(mlkem_poly *f);
/* Algorithm 11 MultiplyNTTs (with Algorithm 12 BaseCaseMultiply): h = f x g in T_q. */
void crypto_mlkem_multiply_ntts(const mlkem_poly *f, const mlkem_poly *g, mlkem_poly *h);

/* Algorithms 13 to 15: K-PKE, the CPA-secure scheme under ML-KEM.
 * ek 1184 bytes, dk 1152, m and r 32, c 1088. */
int crypto_mlkem_pke_keygen(const uint8_t d[32], uint8_t *ek, uint8_t *dk);
int crypto_mlkem_pke_encrypt(const uint8_t *ek, const uint8_t m[32], const uint8_t r[32],
                             uint8_t *c);
void crypto_mlkem_pke_decrypt(const uint8_t *dk, const uint8_t *c, uint8_t m[32]);

/* Algorithms 16 to 18, moat's own whichever ML-KEM crypto.h's functions use. */
int crypto_mlkem_own_keygen_internal(const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                                     uint8_t *dk);
int crypto_mlkem_own_encaps_internal(const uint8_t *ek, const uint8_t m[32], uint8_t *c,
                                     uint8_t k[32]);
int crypto_mlkem_own_decaps_internal(const uint8_t *dk, const uint8_t *c, uint8_t k[32]);

/* The input checks of 7.2 (modulus check of ek) and 7.3 (hash check of
 * dk): 0 when they pass. */
int crypto_mlkem_check_ek(const uint8_t *ek);
int crypto_mlkem_check_dk(const uint8_t *dk);

#endif
