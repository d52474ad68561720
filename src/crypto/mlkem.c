/* moat's own ML-KEM-768, written from FIPS 203 (final): Debian 12's libcrypto
 * has none. One function per algorithm of the standard, under its name.
 * Constant time: no branch and no memory index depends on a secret (dk, m,
 * K, the re-encryption comparison); tests/unit/ct_mlkem.c shows it. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "crypto/mlkem.h"
#include "moat/buf.h"
#include "moat/error.h"

/* The constant-time test builds this file with MOAT_CT_VALGRIND: values
 * that are public although computed from secrets (rho, which goes out in
 * ek) are declared so to memcheck, which then flags any branch or index
 * on what remains secret. */
#if defined(MOAT_CT_VALGRIND) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define declassify(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define declassify(p, n) ((void)(p), (void)(n))
#endif

#define Q MLKEM_Q
#define K MLKEM_K
#define EK_BYTES (MLKEM_PKE_DK_BYTES + 32)     /* 1184 */
#define C1_BYTES (32 * MLKEM_DU * K)           /* 960 */
#define CT_BYTES (C1_BYTES + 32 * MLKEM_DV)    /* 1088 */
#define DK_BYTES (2 * MLKEM_PKE_DK_BYTES + 96) /* 2400 */

/* zeta^BitRev7(i) mod q, zeta = 17 (4.3); test_mlkem recomputes them. */
const uint16_t moat_mlkem_zetas[128] = {
    1,    1729, 2580, 3289, 2642, 630,  1897, 848,  1062, 1919, 193,  797,  2786, 3260, 569,  1746,
    296,  2447, 1339, 1476, 3046, 56,   2240, 1333, 1426, 2094, 535,  2882, 2393, 2879, 1974, 821,
    289,  331,  3253, 1756, 1197, 2304, 2277, 2055, 650,  1977, 2513, 632,  2865, 33,   1320, 1915,
    2319, 1435, 807,  452,  1438, 2868, 1534, 2402, 2647, 2617, 1481, 648,  2474, 3110, 1227, 910,
    17,   2761, 583,  2649, 1637, 723,  2288, 1100, 1409, 2662, 3281, 233,  756,  2156, 3015, 3050,
    1703, 1651, 2789, 1789, 1847, 952,  1461, 2687, 939,  2308, 2437, 2388, 733,  2337, 268,  641,
    1584, 2298, 2037, 3220, 375,  2549, 2090, 1645, 1063, 319,  2773, 757,  2099, 561,  2466, 2594,
    2804, 1092, 403,  1026, 1143, 2150, 2775, 886,  1722, 1212, 1874, 1029, 2110, 2935, 885,  2154,
};

/* zeta^(2 BitRev7(i) + 1) mod q: the moduli X^2 - gamma of T_q (4.3). */
const uint16_t moat_mlkem_gammas[128] = {
    17,   3312, 2761, 568,  583,  2746, 2649, 680,  1637, 1692, 723,  2606, 2288, 1041, 1100, 2229,
    1409, 1920, 2662, 667,  3281, 48,   233,  3096, 756,  2573, 2156, 1173, 3015, 314,  3050, 279,
    1703, 1626, 1651, 1678, 2789, 540,  1789, 1540, 1847, 1482, 952,  2377, 1461, 1868, 2687, 642,
    939,  2390, 2308, 1021, 2437, 892,  2388, 941,  733,  2596, 2337, 992,  268,  3061, 641,  2688,
    1584, 1745, 2298, 1031, 2037, 1292, 3220, 109,  375,  2954, 2549, 780,  2090, 1239, 1645, 1684,
    1063, 2266, 319,  3010, 2773, 556,  757,  2572, 2099, 1230, 561,  2768, 2466, 863,  2594, 735,
    2804, 525,  1092, 2237, 403,  2926, 1026, 2303, 1143, 2186, 2150, 1179, 2775, 554,  886,  2443,
    1722, 1607, 1212, 2117, 1874, 1455, 1029, 2300, 2110, 1219, 2935, 394,  885,  2444, 2154, 1175,
};

/* ---- arithmetic in Z_q, all values in [0, q) */

/* Hides a value from the optimizer, so that a mask made from a secret is
 * not turned back into a branch or a conditional move. */
static inline uint32_t barrier(uint32_t x)
{
    __asm__("" : "+r"(x));
    return x;
}

/* a mod q for a < 2q: the borrow of a - q, as a mask, adds q back. */
static inline uint16_t reduce_once(uint32_t a)
{
    uint32_t t = a - Q;
    return (uint16_t)(t + (Q & barrier(0u - (t >> 31))));
}

static inline uint16_t fadd(uint16_t a, uint16_t b)
{
    return reduce_once((uint32_t)a + b);
}

static inline uint16_t fsub(uint16_t a, uint16_t b)
{
    return reduce_once((uint32_t)a + Q - b);
}

/* Inside the transforms values are signed and reduced only partly, so that
 * a butterfly needs no conditional subtraction. reduce_signed gives a
 * value congruent to a, of magnitude at most 0.7 q, for |a| < 2^31: the
 * quotient a / q rounded, with an error under 0.2 from 2^32 / q being
 * rounded down to 1290167 (right shifts of negative values are arithmetic in
 * the compilers moat supports). */
static inline int32_t reduce_signed(int32_t a)
{
    int32_t t = (int32_t)(((int64_t)a * 1290167 + ((int64_t)1 << 31)) >> 32);
    return a - t * Q;
}

/* a mod q in [0, q) for |a| < 2^31: the sign, as a mask, adds q back. */
static inline uint16_t canonical(int32_t a)
{
    int32_t r = reduce_signed(a);
    return (uint16_t)(r + (int32_t)(Q & barrier((uint32_t)(r >> 31))));
}

/* ---- 4.1: the cryptographic functions, from libcrypto */

/* out (outlen bytes) = md(a || b), md a hash or, with xof, an XOF. The
 * context is freed at once: libcrypto wipes the state, which held secrets. */
static int hash2(const EVP_MD *md, int xof, const uint8_t *a, size_t alen, const uint8_t *b,
                 size_t blen, uint8_t *out, size_t outlen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex2(c, md, NULL) && EVP_DigestUpdate(c, a, alen) &&
             (!blen || EVP_DigestUpdate(c, b, blen)) &&
             (xof ? EVP_DigestFinalXOF(c, out, outlen) : EVP_DigestFinal_ex(c, out, NULL));
    EVP_MD_CTX_free(c);
    return ok ? 0 : MOAT_ERR_INTERNAL;
}

/* H(s) = SHA3-256(s) (equation 4.4). */
static int hash_h(const uint8_t *s, size_t n, uint8_t out[32])
{
    return hash2(moat_algs.sha3_256, 0, s, n, NULL, 0, out, 32);
}

/* G(a || b) = SHA3-512, split in two 32-byte halves by the caller (equation 4.5). */
static int hash_g(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[64])
{
    return hash2(moat_algs.sha3_512, 0, a, alen, b, blen, out, 64);
}

/* J(z || c) = SHAKE256(z || c, 8 * 32) (equation 4.4). */
static int hash_j(const uint8_t z[32], const uint8_t *c, size_t clen, uint8_t out[32])
{
    return hash2(moat_algs.shake256, 1, z, 32, c, clen, out, 32);
}

/* PRF_eta(s, b) = SHAKE256(s || b, 8 * 64 eta) (equation 4.3). */
static int prf(int eta, const uint8_t s[32], uint8_t b, uint8_t *out)
{
    return hash2(moat_algs.shake256, 1, s, 32, &b, 1, out, (size_t)64 * eta);
}

/* ---- 4.2.1: compression */

/* Equation 4.7: round(2^d x / q) mod 2^d, that is floor((2^d x + 1664) / q)
 * as q is odd. The division is a multiplication by ceil(2^36 / q), exact
 * for numerators below 2^23 (2^d x + 1664 < 2^23 for d <= 11): the error,
 * under 2^23 / 2^36, is less than 1/q. */
uint16_t crypto_mlkem_compress(int d, uint16_t x)
{
    uint64_t v = ((uint64_t)x << d) + (Q - 1) / 2;
    uint32_t quot = (uint32_t)((v * 20642679u) >> 36);
    return (uint16_t)(quot & ((1u << d) - 1));
}

/* Equation 4.8: round(q y / 2^d), ties up. */
uint16_t crypto_mlkem_decompress(int d, uint16_t y)
{
    return (uint16_t)(((uint32_t)y * Q + (1u << (d - 1))) >> d);
}

/* ---- 4.2.1: encoding (the bit arrays of Algorithms 3 and 4 never made) */

/* Algorithm 5 ByteEncode_d, with Algorithm 3 BitsToBytes folded in: bit j
 * of F[i] is bit i d + j of the output, least significant first. */
void crypto_mlkem_byte_encode(int d, const mlkem_poly *f, uint8_t *b)
{
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < MLKEM_N; i++) {
        acc |= (uint32_t)f->c[i] << bits;
        for (bits += d; bits >= 8; bits -= 8) {
            *b++ = (uint8_t)acc;
            acc >>= 8;
        }
    }
}

/* Algorithm 6 ByteDecode_d, with Algorithm 4 BytesToBits folded in: values
 * mod 2^d, or mod q when d = 12 (a 12-bit value is below 2q). */
void crypto_mlkem_byte_decode(int d, const uint8_t *b, mlkem_poly *f)
{
    uint32_t acc = 0, mask = (1u << d) - 1;
    int bits = 0;
    for (int i = 0; i < MLKEM_N; i++) {
        for (; bits < d; bits += 8)
            acc |= (uint32_t)*b++ << bits;
        uint32_t v = acc & mask;
        f->c[i] = d == 12 ? reduce_once(v) : (uint16_t)v;
        acc >>= d;
        bits -= d;
    }
}

/* ---- 4.2.2: sampling */

/* Algorithm 7 SampleNTT. libcrypto 3.0's SHAKE cannot be squeezed again
 * after its output is read, so the XOF output is taken at a length that
 * suffices almost always (3 blocks: 336 candidates for 256 coefficients),
 * and in the rare case it does not, at a longer one, which starts with the
 * same bytes. B is public (rho from ek), so the loop may branch on it. */
int crypto_mlkem_sample_ntt(const uint8_t b[34], mlkem_poly *a)
{
    uint8_t buf[168 * 16];
    size_t len = 168 * 3, pos = 0;
    int j = 0, r = hash2(moat_algs.shake128, 1, b, 34, NULL, 0, buf, len);
    while (!r && j < MLKEM_N) {
        if (pos + 3 > len) {
            if (len == sizeof buf) return MOAT_ERR_INTERNAL; /* probability below 2^-1000 */
            len = sizeof buf;
            r = hash2(moat_algs.shake128, 1, b, 34, NULL, 0, buf, len);
            continue;
        }
        const uint8_t *c = buf + pos;
        pos += 3;
        uint16_t d1 = (uint16_t)(c[0] | (c[1] & 15) << 8);
        uint16_t d2 = (uint16_t)(c[1] >> 4 | c[2] << 4);
        if (d1 < Q) a->c[j++] = d1;
        if (d2 < Q && j < MLKEM_N) a->c[j++] = d2;
    }
    return r;
}

/* Algorithm 8 SamplePolyCBD_eta: each coefficient is the sum of eta bits
 * less the sum of the next eta bits of B, mod q. */
void crypto_mlkem_sample_poly_cbd(int eta, const uint8_t *b, mlkem_poly *f)
{
    for (int i = 0; i < MLKEM_N; i++) {
        uint32_t x = 0, y = 0;
        for (int j = 0; j < eta; j++) {
            int bx = 2 * i * eta + j, by = bx + eta;
            x += (b[bx >> 3] >> (bx & 7)) & 1;
            y += (b[by >> 3] >> (by & 7)) & 1;
        }
        f->c[i] = reduce_once(x + Q - y);
    }
}

/* ---- 4.3: the number-theoretic transform */

/* Algorithm 9 NTT: R_q to T_q, in place. Each layer adds at most 0.7 q
 * to the magnitudes, which stay below 6 q < 2^15 over the seven. */
void crypto_mlkem_ntt(mlkem_poly *f)
{
    int32_t x[MLKEM_N];
    for (int j = 0; j < MLKEM_N; j++)
        x[j] = f->c[j];
    int i = 1;
    for (int len = 128; len >= 2; len /= 2)
        for (int start = 0; start < MLKEM_N; start += 2 * len) {
            int32_t zeta = moat_mlkem_zetas[i++];
            for (int j = start; j < start + len; j++) {
                int32_t t = reduce_signed(zeta * x[j + len]);
                x[j + len] = x[j] - t;
                x[j] = x[j] + t;
            }
        }
    for (int j = 0; j < MLKEM_N; j++)
        f->c[j] = canonical(x[j]);
    OPENSSL_cleanse(x, sizeof x); /* s and e went through here */
}

/* Algorithm 10 NTT^-1: T_q to R_q, in place; 3303 is 128^-1 mod q. Both
 * outputs of each butterfly are reduced, so magnitudes stay under q. */
void crypto_mlkem_ntt_inverse(mlkem_poly *f)
{
    int32_t x[MLKEM_N];
    for (int j = 0; j < MLKEM_N; j++)
        x[j] = f->c[j];
    int i = 127;
    for (int len = 2; len <= 128; len *= 2)
        for (int start = 0; start < MLKEM_N; start += 2 * len) {
            int32_t zeta = moat_mlkem_zetas[i--];
            for (int j = start; j < start + len; j++) {
                int32_t t = x[j];
                x[j] = reduce_signed(t + x[j + len]);
                x[j + len] = reduce_signed(zeta * (x[j + len] - t));
            }
        }
    for (int j = 0; j < MLKEM_N; j++)
        f->c[j] = canonical(x[j] * 3303);
    OPENSSL_cleanse(x, sizeof x);
}

/* Algorithm 12 BaseCaseMultiply: (a0 + a1 X)(b0 + b1 X) mod X^2 - gamma.
 * Sums of products stay below 2 q^2 < 2^25. */
static void base_case_multiply(int32_t a0, int32_t a1, int32_t b0, int32_t b1, int32_t gamma,
                               uint16_t *c0, uint16_t *c1)
{
    *c0 = canonical(a0 * b0 + reduce_signed(a1 * b1) * gamma);
    *c1 = canonical(a0 * b1 + a1 * b0);
}

/* Algorithm 11 MultiplyNTTs. */
void crypto_mlkem_multiply_ntts(const mlkem_poly *f, const mlkem_poly *g, mlkem_poly *h)
{
    for (int i = 0; i < 128; i++)
        base_case_multiply(f->c[2 * i], f->c[2 * i + 1], g->c[2 * i], g->c[2 * i + 1],
                           moat_mlkem_gammas[i], &h->c[2 * i], &h->c[2 * i + 1]);
}

/* ---- vectors and the matrix */

/* out += f x g in T_q. */
static void multiply_add(const mlkem_poly *f, const mlkem_poly *g, mlkem_poly *out)
{
    mlkem_poly t;
    crypto_mlkem_multiply_ntts(f, g, &t);
    for (int i = 0; i < MLKEM_N; i++)
        out->c[i] = fadd(out->c[i], t.c[i]);
    OPENSSL_cleanse(&t, sizeof t);
}

/* A-hat[i][j] = SampleNTT(rho || j || i) (Algorithm 13 lines 3-7,
 * Algorithm 14 lines 4-8). */
static int sample_matrix(const uint8_t rho[32], mlkem_poly a[K][K])
{
    uint8_t b[34];
    memcpy(b, rho, 32);
    int r = 0;
    for (int i = 0; i < K && !r; i++)
        for (int j = 0; j < K && !r; j++) {
            b[32] = (uint8_t)j;
            b[33] = (uint8_t)i;
            r = crypto_mlkem_sample_ntt(b, &a[i][j]);
        }
    return r;
}

/* n polynomials SamplePolyCBD_eta(PRF_eta(sigma, N)), N counting up from *counter. */
static int sample_cbd_vec(int eta, const uint8_t sigma[32], uint8_t *counter, mlkem_poly *v, int n)
{
    uint8_t buf[64 * 3];
    int r = 0;
    for (int i = 0; i < n && !r; i++) {
        r = prf(eta, sigma, (*counter)++, buf);
        crypto_mlkem_sample_poly_cbd(eta, buf, &v[i]);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return r;
}

static void encode_vec(const mlkem_poly v[K], uint8_t *out)
{
    for (int i = 0; i < K; i++)
        crypto_mlkem_byte_encode(12, &v[i], out + i * MLKEM_POLY_BYTES);
}

static void decode_vec(const uint8_t *in, mlkem_poly v[K])
{
    for (int i = 0; i < K; i++)
        crypto_mlkem_byte_decode(12, in + i * MLKEM_POLY_BYTES, &v[i]);
}

/* ---- 5: K-PKE */

/* Algorithm 13 K-PKE.KeyGen(d): ek = ByteEncode_12(t-hat) || rho,
 * dk = ByteEncode_12(s-hat), t-hat = A-hat s-hat + e-hat. */
int crypto_mlkem_pke_keygen(const uint8_t d[32], uint8_t *ek, uint8_t *dk)
{
    uint8_t k = K, rs[64]; /* (rho, sigma) = G(d || k) */
    mlkem_poly a[K][K], s[K], e[K], t[K];
    uint8_t n = 0;
    int r = hash_g(d, 32, &k, 1, rs);
    declassify(rs, 32); /* rho is public: it ends ek */
    if (!r) r = sample_matrix(rs, a);
    if (!r) r = sample_cbd_vec(MLKEM_ETA1, rs + 32, &n, s, K);
    if (!r) r = sample_cbd_vec(MLKEM_ETA1, rs + 32, &n, e, K);
    if (!r) {
        for (int i = 0; i < K; i++) {
            crypto_mlkem_ntt(&s[i]);
            crypto_mlkem_ntt(&e[i]);
        }
        for (int i = 0; i < K; i++) {
            t[i] = e[i];
            for (int j = 0; j < K; j++)
                multiply_add(&a[i][j], &s[j], &t[i]);
        }
        encode_vec(t, ek);
        memcpy(ek + MLKEM_PKE_DK_BYTES, rs, 32);
        encode_vec(s, dk);
    }
    OPENSSL_cleanse(rs, sizeof rs);
    OPENSSL_cleanse(s, sizeof s);
    OPENSSL_cleanse(e, sizeof e);
    OPENSSL_cleanse(t, sizeof t);
    return r;
}

/* c2 = ByteEncode_dv(Compress_dv(v)) after c1 = ByteEncode_du(Compress_du(u))
 * (Algorithm 14 lines 22-23). */
static void encode_ciphertext(mlkem_poly u[K], mlkem_poly *v, uint8_t *c)
{
    for (int i = 0; i < K; i++) {
        for (int j = 0; j < MLKEM_N; j++)
            u[i].c[j] = crypto_mlkem_compress(MLKEM_DU, u[i].c[j]);
        crypto_mlkem_byte_encode(MLKEM_DU, &u[i], c + i * 32 * MLKEM_DU);
    }
    for (int j = 0; j < MLKEM_N; j++)
        v->c[j] = crypto_mlkem_compress(MLKEM_DV, v->c[j]);
    crypto_mlkem_byte_encode(MLKEM_DV, v, c + C1_BYTES);
}

/* Algorithm 14 K-PKE.Encrypt(ek, m, r): u = NTT^-1(A-hat^T y-hat) + e1,
 * v = NTT^-1(t-hat^T y-hat) + e2 + Decompress_1(ByteDecode_1(m)). */
int crypto_mlkem_pke_encrypt(const uint8_t *ek, const uint8_t m[32], const uint8_t r[32],
                             uint8_t *c)
{
    mlkem_poly a[K][K], t[K], y[K], e1[K], e2, u[K], v, mu;
    uint8_t n = 0;
    decode_vec(ek, t);
    int rc = sample_matrix(ek + MLKEM_PKE_DK_BYTES, a);
    if (!rc) rc = sample_cbd_vec(MLKEM_ETA1, r, &n, y, K);
    if (!rc) rc = sample_cbd_vec(MLKEM_ETA2, r, &n, e1, K);
    if (!rc) rc = sample_cbd_vec(MLKEM_ETA2, r, &n, &e2, 1);
    if (!rc) {
        for (int i = 0; i < K; i++)
            crypto_mlkem_ntt(&y[i]);
        memset(&v, 0, sizeof v);
        for (int i = 0; i < K; i++) {
            memset(&u[i], 0, sizeof u[i]);
            for (int j = 0; j < K; j++)
                multiply_add(&a[j][i], &y[j], &u[i]); /* the transpose of A-hat */
            multiply_add(&t[i], &y[i], &v);
        }
        crypto_mlkem_byte_decode(1, m, &mu);
        for (int i = 0; i < K; i++) {
            crypto_mlkem_ntt_inverse(&u[i]);
            for (int j = 0; j < MLKEM_N; j++)
                u[i].c[j] = fadd(u[i].c[j], e1[i].c[j]);
        }
        crypto_mlkem_ntt_inverse(&v);
        for (int j = 0; j < MLKEM_N; j++)
            v.c[j] = fadd(fadd(v.c[j], e2.c[j]), crypto_mlkem_decompress(1, mu.c[j]));
        encode_ciphertext(u, &v, c);
    }
    OPENSSL_cleanse(y, sizeof y);
    OPENSSL_cleanse(e1, sizeof e1);
    OPENSSL_cleanse(&e2, sizeof e2);
    OPENSSL_cleanse(u, sizeof u);
    OPENSSL_cleanse(&v, sizeof v);
    OPENSSL_cleanse(&mu, sizeof mu);
    return rc;
}

/* Algorithm 15 K-PKE.Decrypt(dk, c): w = v' - NTT^-1(s-hat^T NTT(u')),
 * m = ByteEncode_1(Compress_1(w)). */
void crypto_mlkem_pke_decrypt(const uint8_t *dk, const uint8_t *c, uint8_t m[32])
{
    mlkem_poly u, v, s, w;
    memset(&w, 0, sizeof w);
    for (int i = 0; i < K; i++) {
        crypto_mlkem_byte_decode(MLKEM_DU, c + i * 32 * MLKEM_DU, &u);
        for (int j = 0; j < MLKEM_N; j++)
            u.c[j] = crypto_mlkem_decompress(MLKEM_DU, u.c[j]);
        crypto_mlkem_ntt(&u);
        crypto_mlkem_byte_decode(12, dk + i * MLKEM_POLY_BYTES, &s);
        multiply_add(&s, &u, &w);
    }
    crypto_mlkem_ntt_inverse(&w);
    crypto_mlkem_byte_decode(MLKEM_DV, c + C1_BYTES, &v);
    for (int j = 0; j < MLKEM_N; j++)
        w.c[j] = crypto_mlkem_compress(1, fsub(crypto_mlkem_decompress(MLKEM_DV, v.c[j]), w.c[j]));
    crypto_mlkem_byte_encode(1, &w, m);
    OPENSSL_cleanse(&s, sizeof s);
    OPENSSL_cleanse(&w, sizeof w);
    OPENSSL_cleanse(&u, sizeof u);
    OPENSSL_cleanse(&v, sizeof v);
}

/* ---- 6: ML-KEM, the Fujisaki-Okamoto transform of K-PKE */

/* Algorithm 16 ML-KEM.KeyGen_internal(d, z): dk = dk_PKE || ek || H(ek) || z. */
int crypto_mlkem_own_keygen_internal(const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                                     uint8_t *dk)
{
    int r = crypto_mlkem_pke_keygen(d, ek, dk);
    if (!r) {
        memcpy(dk + MLKEM_PKE_DK_BYTES, ek, EK_BYTES);
        r = hash_h(ek, EK_BYTES, dk + MLKEM_PKE_DK_BYTES + EK_BYTES);
        memcpy(dk + DK_BYTES - 32, z, 32);
    }
    return r;
}

/* Algorithm 17 ML-KEM.Encaps_internal(ek, m): (K, r) = G(m || H(ek)),
 * c = K-PKE.Encrypt(ek, m, r). ek has passed the checks of 7.2. */
int crypto_mlkem_own_encaps_internal(const uint8_t *ek, const uint8_t m[32], uint8_t *c,
                                     uint8_t k[32])
{
    uint8_t h[32], kr[64];
    int r = hash_h(ek, EK_BYTES, h);
    if (!r) r = hash_g(m, 32, h, 32, kr);
    if (!r) r = crypto_mlkem_pke_encrypt(ek, m, kr + 32, c);
    if (!r) memcpy(k, kr, 32);
    OPENSSL_cleanse(kr, sizeof kr);
    return r;
}

/* Algorithm 18 ML-KEM.Decaps_internal(dk, c): m' = K-PKE.Decrypt, (K', r')
 * = G(m' || h), and K' if re-encrypting m' gives c, else J(z || c) (the
 * implicit rejection). Comparison and choice are made without a branch:
 * neither whether c was valid nor where it differs may show. */
int crypto_mlkem_own_decaps_internal(const uint8_t *dk, const uint8_t *c, uint8_t k[32])
{
    const uint8_t *ek = dk + MLKEM_PKE_DK_BYTES, *h = ek + EK_BYTES, *z = h + 32;
    uint8_t m[32], kr[64], kbar[32], c2[CT_BYTES];
    crypto_mlkem_pke_decrypt(dk, c, m);
    int r = hash_g(m, 32, h, 32, kr);
    if (!r) r = hash_j(z, c, CT_BYTES, kbar);
    if (!r) r = crypto_mlkem_pke_encrypt(ek, m, kr + 32, c2);
    if (!r) {
        uint32_t diff = (uint32_t)moat_ct_memcmp(c, c2, CT_BYTES); /* 0..255 */
        uint8_t mask = (uint8_t)barrier(0u - ((0u - diff) >> 31)); /* 0xff when they differ */
        for (int i = 0; i < 32; i++)
            k[i] = kr[i] ^ (mask & (kr[i] ^ kbar[i]));
    }
    OPENSSL_cleanse(m, sizeof m);
    OPENSSL_cleanse(kr, sizeof kr);
    OPENSSL_cleanse(kbar, sizeof kbar);
    OPENSSL_cleanse(c2, sizeof c2);
    return r;
}

/* 7.2, 2 (modulus check): ek[0:384k] must be ByteEncode_12 of its own
 * ByteDecode_12, that is, no 12-bit value of t-hat is q or more. ek is
 * public: an early exit shows nothing. */
int crypto_mlkem_check_ek(const uint8_t *ek)
{
    mlkem_poly t;
    uint8_t again[MLKEM_POLY_BYTES];
    for (int i = 0; i < K; i++) {
        crypto_mlkem_byte_decode(12, ek + i * MLKEM_POLY_BYTES, &t);
        crypto_mlkem_byte_encode(12, &t, again);
        if (memcmp(again, ek + i * MLKEM_POLY_BYTES, sizeof again)) return -1;
    }
    return 0;
}

/* 7.3, 3 (hash check): the H(ek) stored in dk is that of the ek in it.
 * Both are public. */
int crypto_mlkem_check_dk(const uint8_t *dk)
{
    uint8_t h[32];
    if (hash_h(dk + MLKEM_PKE_DK_BYTES, EK_BYTES, h)) return MOAT_ERR_INTERNAL;
    return memcmp(h, dk + MLKEM_PKE_DK_BYTES + EK_BYTES, 32) ? -1 : 0;
}

#ifndef MOAT_MLKEM_LIBCRYPTO
/* ---- crypto.h's ML-KEM-768: moat's own (mlkem_evp.c has libcrypto's) */

const char *crypto_mlkem_impl(void)
{
    return "moat's own (FIPS 203), libcrypto has none";
}

int crypto_mlkem768_keygen_internal(const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                                    uint8_t *dk)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    return crypto_mlkem_own_keygen_internal(d, z, ek, dk);
}

/* The checks of 7.2, then Algorithm 17. */
int crypto_mlkem768_encaps_internal(const uint8_t *ek, size_t eklen, const uint8_t m[32],
                                    uint8_t *ct, uint8_t *k)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    if (eklen != EK_BYTES || crypto_mlkem_check_ek(ek))
        return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    return crypto_mlkem_own_encaps_internal(ek, m, ct, k);
}

/* Algorithm 19 ML-KEM.KeyGen. */
int crypto_mlkem768_keygen(uint8_t *ek, uint8_t *dk)
{
    uint8_t dz[64];
    int r = crypto_random(dz, sizeof dz);
    if (!r) r = crypto_mlkem768_keygen_internal(dz, dz + 32, ek, dk);
    OPENSSL_cleanse(dz, sizeof dz);
    return r;
}

/* Algorithm 20 ML-KEM.Encaps. */
int crypto_mlkem768_encaps(const uint8_t *ek, size_t eklen, uint8_t *ct, uint8_t *k)
{
    uint8_t m[32];
    int r = crypto_random(m, sizeof m);
    if (!r) r = crypto_mlkem768_encaps_internal(ek, eklen, m, ct, k);
    OPENSSL_cleanse(m, sizeof m);
    return r;
}

/* Algorithm 21 ML-KEM.Decaps: the checks of 7.3, then Algorithm 18. */
int crypto_mlkem768_decaps(const uint8_t *dk, const uint8_t *ct, size_t ctlen, uint8_t *k)
{
    if (crypto_init()) return MOAT_ERR_INTERNAL;
    if (ctlen != CT_BYTES) return MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    int r = crypto_mlkem_check_dk(dk);
    if (r) return r == MOAT_ERR_INTERNAL ? r : MOAT_ERR_ARG;
    return crypto_mlkem_own_decaps_internal(dk, ct, k);
}
#endif
