/* ML-KEM-768 (FIPS 203): each algorithm of crypto/mlkem.c alone, then the
 * whole against the known answers of ../shared/kat/mlkem (accumulated 100
 * and 10,000 tests, the strcmp case, 780 keys failing the modulus check). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "harness.h"
#include "crypto/crypto.h"
#include "crypto/mlkem.h"
#include "moat/error.h"

#define EK MOAT_MLKEM768_EK_LEN
#define DK MOAT_MLKEM768_DK_LEN
#define CT MOAT_MLKEM768_CT_LEN
#define Q MLKEM_Q

/* A small deterministic generator for test inputs (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}
static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd64();
}
static void rnd_poly(mlkem_poly *f, uint32_t bound)
{
    for (int i = 0; i < MLKEM_N; i++)
        f->c[i] = (uint16_t)(rnd64() % bound);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static size_t from_hex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    unsigned v;
    while (n < max && sscanf(s + 2 * n, "%2x", &v) == 1)
        out[n++] = (uint8_t)v;
    return n;
}

/* The test's own SHAKE, straight from libcrypto, independent of mlkem.c. */
static void shake(const char *name, const uint8_t *in, size_t n, uint8_t *out, size_t outlen)
{
    EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!md || !c || !EVP_DigestInit_ex2(c, md, NULL) || !EVP_DigestUpdate(c, in, n) ||
        !EVP_DigestFinalXOF(c, out, outlen))
        memset(out, 0, outlen);
    EVP_MD_CTX_free(c);
    EVP_MD_free(md);
}

static uint32_t modpow(uint32_t b, uint32_t e)
{
    uint32_t r = 1;
    for (; e; e >>= 1, b = b * b % Q)
        if (e & 1) r = r * b % Q;
    return r;
}

static uint32_t bitrev7(uint32_t i)
{
    uint32_t r = 0;
    for (int b = 0; b < 7; b++)
        r |= ((i >> b) & 1) << (6 - b);
    return r;
}

static void test_tables(void)
{
    int ok = 1;
    for (uint32_t i = 0; i < 128; i++) {
        ok &= moat_mlkem_zetas[i] == modpow(17, bitrev7(i));
        ok &= moat_mlkem_gammas[i] == modpow(17, 2 * bitrev7(i) + 1);
    }
    check(ok, "mlkem: zeta^BitRev7(i) and zeta^(2 BitRev7(i)+1) tables (4.3)");
}

/* Compress_d against its definition with exact division, every x and y. */
static void test_compress(void)
{
    static const int ds[] = {1, 4, 5, 10, 11};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
        int d = ds[k], exact = 1, bounds = 1, err = 1, back = 1;
        uint32_t bq = (Q + (1u << d)) >> (d + 1); /* round(q / 2^(d+1)) */
        for (uint32_t x = 0; x < Q; x++) {
            uint32_t want = (((x << d) * 2 + Q) / (2 * Q)) & ((1u << d) - 1);
            uint16_t c = crypto_mlkem_compress(d, (uint16_t)x);
            exact &= c == want;
            bounds &= c < (1u << d);
            /* eq 4.9: |Decompress(Compress(x)) - x mod+- q| <= round(q / 2^(d+1)) */
            int32_t diff = ((int32_t)crypto_mlkem_decompress(d, c) - (int32_t)x + Q) % Q;
            if (diff > Q / 2) diff -= Q;
            err &= (uint32_t)abs(diff) <= bq;
        }
        for (uint32_t y = 0; y < (1u << d); y++) {
            uint16_t x = crypto_mlkem_decompress(d, (uint16_t)y);
            bounds &= x < Q;
            back &= crypto_mlkem_compress(d, x) == y;
            uint32_t want = (2 * y * Q + (1u << d)) / (2u << d); /* round(q y / 2^d) */
            exact &= x == want;
        }
        check(exact, "mlkem: Compress_%d and Decompress_%d equal their definitions for all inputs",
              d, d);
        check(bounds, "mlkem: Compress_%d below 2^%d, Decompress_%d below q", d, d, d);
        check(err, "mlkem: Decompress_%d(Compress_%d(x)) within round(q/2^%d) of x", d, d, d + 1);
        check(back, "mlkem: Compress_%d(Decompress_%d(y)) = y", d, d);
    }
}

static void test_byte_codec(void)
{
    int ok = 1, ok2 = 1;
    for (int d = 1; d <= 12; d++)
        for (int round = 0; round < 20; round++) {
            mlkem_poly f, g;
            uint8_t b[384], b2[384];
            rnd_poly(&f, d == 12 ? Q : 1u << d);
            crypto_mlkem_byte_encode(d, &f, b);
            crypto_mlkem_byte_decode(d, b, &g);
            ok &= !memcmp(&f, &g, sizeof f);
            if (d < 12) { /* every byte string is an encoding */
                rnd_bytes(b, 32 * d);
                crypto_mlkem_byte_decode(d, b, &g);
                crypto_mlkem_byte_encode(d, &g, b2);
                ok2 &= !memcmp(b, b2, 32 * d);
            }
        }
    check(ok, "mlkem: ByteDecode_d(ByteEncode_d(F)) = F, d = 1..12");
    check(ok2, "mlkem: ByteEncode_d(ByteDecode_d(B)) = B, d = 1..11");

    /* Bit order: bit j of F[i] is bit i d + j, least significant first. */
    mlkem_poly f;
    uint8_t b[384];
    memset(&f, 0, sizeof f);
    f.c[0] = 0xabc;
    f.c[1] = 0x123;
    crypto_mlkem_byte_encode(12, &f, b);
    check(b[0] == 0xbc && b[1] == 0x3a && b[2] == 0x12, "mlkem: ByteEncode_12 bit order");
    f.c[0] = 1;
    f.c[1] = 0;
    f.c[9] = 1;
    crypto_mlkem_byte_encode(1, &f, b);
    check(b[0] == 1 && b[1] == 2, "mlkem: ByteEncode_1 bit order");
    /* ByteDecode_12 takes values mod q: 4095 decodes to 766. */
    memset(b, 0xff, sizeof b);
    crypto_mlkem_byte_decode(12, b, &f);
    check(f.c[0] == 4095 - Q && f.c[255] == 4095 - Q, "mlkem: ByteDecode_12 reduces mod q");
}

static void test_cbd(void)
{
    for (int eta = 2; eta <= 3; eta++) {
        uint8_t b[192];
        mlkem_poly f;
        int range = 1;
        long sum = 0, hist[7] = {0};
        for (int round = 0; round < 200; round++) {
            rnd_bytes(b, 64 * eta);
            crypto_mlkem_sample_poly_cbd(eta, b, &f);
            for (int i = 0; i < MLKEM_N; i++) {
                int v = f.c[i] > Q / 2 ? f.c[i] - Q : f.c[i];
                range &= f.c[i] < Q && v >= -eta && v <= eta;
                if (v >= -3 && v <= 3) hist[v + 3]++;
                sum += v;
            }
        }
        check(range, "mlkem: SamplePolyCBD_%d in [-%d, %d] mod q", eta, eta, eta);
        /* 51,200 samples: mean near 0, and P(0) = C(2 eta, eta) / 4^eta (0.375 or 0.3125). */
        double p0 = (double)hist[3] / 51200, want = eta == 2 ? 0.375 : 0.3125;
        check(labs(sum) < 1500 && p0 > want - 0.02 && p0 < want + 0.02,
              "mlkem: SamplePolyCBD_%d centered (mean %.4f, P(0) %.4f)", eta, sum / 51200.0, p0);
        memset(b, 0, sizeof b);
        b[0] = eta == 2 ? 0x03 : 0x07; /* x = eta, y = 0 for the first coefficient */
        crypto_mlkem_sample_poly_cbd(eta, b, &f);
        int first = f.c[0] == eta && f.c[1] == 0;
        b[0] = eta == 2 ? 0x0c : 0x38; /* y = eta */
        crypto_mlkem_sample_poly_cbd(eta, b, &f);
        first &= f.c[0] == Q - eta;
        check(first, "mlkem: SamplePolyCBD_%d bit positions", eta);
    }
}

/* SampleNTT against a plain reading of Algorithm 7 over a long XOF output,
 * for many seeds, among them some that need more than 504 bytes. */
static void test_sample_ntt(void)
{
    int ok = 1, longer = 0, n;
    for (n = 0; n < 3000 || (!longer && n < 100000); n++) {
        uint8_t b[34], x[168 * 16];
        rnd_bytes(b, 34);
        shake("SHAKE-128", b, 34, x, sizeof x);
        mlkem_poly want, got;
        size_t pos = 0;
        for (int j = 0; j < MLKEM_N; pos += 3) {
            uint32_t d1 = x[pos] + 256u * (x[pos + 1] % 16),
                     d2 = x[pos + 1] / 16 + 16u * x[pos + 2];
            if (d1 < Q) want.c[j++] = (uint16_t)d1;
            if (d2 < Q && j < MLKEM_N) want.c[j++] = (uint16_t)d2;
        }
        longer += pos > 504;
        ok &= !crypto_mlkem_sample_ntt(b, &got) && !memcmp(&want, &got, sizeof want);
    }
    check(ok && longer, "mlkem: SampleNTT as Algorithm 7 (%d seeds, %d needing over 504 bytes)", n,
          longer);
}

/* f g in R_q = Z_q[X] / (X^256 + 1), the schoolbook way. */
static void slow_mul(const mlkem_poly *f, const mlkem_poly *g, mlkem_poly *h)
{
    int64_t acc[MLKEM_N] = {0};
    for (int i = 0; i < MLKEM_N; i++)
        for (int j = 0; j < MLKEM_N; j++) {
            int64_t p = (int64_t)f->c[i] * g->c[j];
            if (i + j < MLKEM_N)
                acc[i + j] += p;
            else
                acc[i + j - MLKEM_N] -= p;
        }
    for (int i = 0; i < MLKEM_N; i++)
        h->c[i] = (uint16_t)(((acc[i] % Q) + Q) % Q);
}

static void test_ntt(void)
{
    int round_trip = 1, mul = 1, ranges = 1;
    for (int round = 0; round < 50; round++) {
        mlkem_poly f, g, fh, gh, h, want;
        rnd_poly(&f, Q);
        rnd_poly(&g, Q);
        if (round == 0) /* extremes: all q - 1 */
            for (int i = 0; i < MLKEM_N; i++)
                f.c[i] = g.c[i] = Q - 1;
        fh = f;
        gh = g;
        crypto_mlkem_ntt(&fh);
        crypto_mlkem_ntt(&gh);
        h = fh;
        crypto_mlkem_ntt_inverse(&h);
        round_trip &= !memcmp(&h, &f, sizeof f);
        crypto_mlkem_multiply_ntts(&fh, &gh, &h);
        for (int i = 0; i < MLKEM_N; i++)
            ranges &= fh.c[i] < Q && h.c[i] < Q;
        crypto_mlkem_ntt_inverse(&h);
        if (round < 10) {
            slow_mul(&f, &g, &want);
            mul &= !memcmp(&h, &want, sizeof h);
        }
    }
    check(round_trip, "mlkem: NTT^-1(NTT(f)) = f");
    check(mul, "mlkem: NTT^-1(MultiplyNTTs(NTT(f), NTT(g))) = f g mod X^256 + 1");
    check(ranges, "mlkem: NTT and MultiplyNTTs stay in [0, q)");
    /* NTT of X: coefficient 2i is zeta^(2 BitRev7(i) + 1) = gamma_i, 2i + 1 is 0. */
    mlkem_poly x;
    memset(&x, 0, sizeof x);
    x.c[1] = 1;
    crypto_mlkem_ntt(&x);
    int ok = 1;
    for (int i = 0; i < 128; i++)
        ok &= x.c[2 * i] == 0 && x.c[2 * i + 1] == 1;
    check(ok, "mlkem: NTT(X) is (0, 1) in every pair");
}

static void test_pke(void)
{
    int ok = 1;
    for (int round = 0; round < 20; round++) {
        uint8_t d[32], m[32], r[32], m2[32], ek[EK], dk[MLKEM_PKE_DK_BYTES], c[CT];
        rnd_bytes(d, 32);
        rnd_bytes(m, 32);
        rnd_bytes(r, 32);
        ok &= !crypto_mlkem_pke_keygen(d, ek, dk) && !crypto_mlkem_pke_encrypt(ek, m, r, c);
        crypto_mlkem_pke_decrypt(dk, c, m2);
        ok &= !memcmp(m, m2, 32);
    }
    check(ok, "mlkem: K-PKE.Decrypt(K-PKE.Encrypt(m)) = m");
}

/* The Fujisaki-Okamoto transform: agreement, implicit rejection as
 * J(z || c), and the randomized functions. */
static void test_kem(void)
{
    uint8_t ek[EK], dk[DK], ct[CT], k1[32], k2[32], kj[32], zc[32 + CT];
    int ok = !crypto_mlkem768_keygen(ek, dk) && !crypto_mlkem768_encaps(ek, EK, ct, k1) &&
             !crypto_mlkem768_decaps(dk, ct, CT, k2) && !memcmp(k1, k2, 32);
    check(ok, "mlkem: KeyGen, Encaps, Decaps agree (fresh randomness)");
    check(!memcmp(dk + 1152, ek, EK), "mlkem: dk holds ek");
    ct[100] ^= 1;
    memcpy(zc, dk + DK - 32, 32);
    memcpy(zc + 32, ct, CT);
    shake("SHAKE-256", zc, sizeof zc, kj, 32);
    ok = !crypto_mlkem768_decaps(dk, ct, CT, k2);
    check(ok && memcmp(k1, k2, 32) && !memcmp(k2, kj, 32),
          "mlkem: a changed ciphertext gives J(z || c) (implicit rejection)");

    check(crypto_mlkem768_encaps(ek, EK - 1, ct, k1) ==
              MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER),
          "mlkem: Encaps refuses an ek one byte short (7.2 type check)");
    check(crypto_mlkem768_encaps(ek, EK + 1, ct, k1) ==
              MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER),
          "mlkem: Encaps refuses an ek one byte long");
    check(crypto_mlkem768_decaps(dk, ct, CT - 1, k1) ==
              MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER),
          "mlkem: Decaps refuses a ciphertext one byte short (7.3 type check)");
    check(crypto_mlkem768_decaps(dk, ct, CT + 1, k1) ==
              MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER),
          "mlkem: Decaps refuses a ciphertext one byte long");
    dk[1152 + 5] ^= 1;
    check(crypto_mlkem768_decaps(dk, ct, CT, k1) == MOAT_ERR_ARG,
          "mlkem: Decaps refuses a dk whose ek does not hash to its H(ek) (7.3 hash check)");
    dk[1152 + 5] ^= 1;

    /* The modulus check at its edge: coefficient 0 set to q - 1, then q. */
    ek[0] = (uint8_t)(Q - 1);
    ek[1] = (uint8_t)((ek[1] & 0xf0) | (Q - 1) >> 8);
    int lo = crypto_mlkem768_encaps(ek, EK, ct, k1);
    ek[0] = (uint8_t)Q;
    int hi = crypto_mlkem768_encaps(ek, EK, ct, k1);
    check(lo == 0 && hi == MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER),
          "mlkem: Encaps takes a coefficient q - 1, refuses q (7.2 modulus check)");
}

/* The file from ../shared/kat/mlkem (or $MOAT_KAT_MLKEM), NULL if none. */
static FILE *kat_open(const char *name, int gz)
{
    const char *dirs[] = {getenv("MOAT_KAT_MLKEM"), "../shared/kat/mlkem",
                          "../../shared/kat/mlkem"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        if (!dirs[i]) continue;
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!gz) return f;
        fclose(f);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
        return popen(cmd, "r");
    }
    return NULL;
}

static void test_strcmp(void)
{
    static uint8_t dk[DK], c[CT], want[32], k[32];
    static char line[8192];
    size_t ndk = 0, nc = 0, nk = 0;
    FILE *f = kat_open("strcmp-ML-KEM-768.txt", 0);
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "dk = ", 5)) ndk = from_hex(line + 5, dk, DK);
        if (!strncmp(line, "c = ", 4)) nc = from_hex(line + 4, c, CT);
        if (!strncmp(line, "K = ", 4)) nk = from_hex(line + 4, want, 32);
    }
    if (f) fclose(f);
    check(ndk == DK && nc == CT && nk == 32, "mlkem: strcmp-ML-KEM-768.txt read");
    check(!crypto_mlkem768_decaps(dk, c, CT, k) && !memcmp(k, want, 32),
          "mlkem: strcmp case, ciphertexts equal up to a zero byte: the implicit-rejection K");
}

static void test_modulus(void)
{
    static char line[8192];
    static uint8_t ek[EK];
    uint8_t ct[CT], k[32];
    int n = 0, refused = 0;
    FILE *f = kat_open("modulus-ML-KEM-768.txt.gz", 1);
    while (f && fgets(line, sizeof line, f)) {
        if (from_hex(line, ek, EK) != EK) continue;
        n++;
        refused +=
            crypto_mlkem768_encaps(ek, EK, ct, k) == MOAT_ERR_ALERT(MOAT_ALERT_ILLEGAL_PARAMETER);
    }
    if (f) pclose(f);
    check(n == 780 && refused == 780,
          "mlkem: Encaps refuses all 780 keys of modulus-ML-KEM-768 (%d of %d)", refused, n);
}

/* The accumulated test of the README: n full operations from one SHAKE-128
 * stream, their outputs absorbed into another. */
static void accumulated(int n, const char *want)
{
    size_t per = 32 + 32 + 32 + CT;
    uint8_t *in = malloc(per * n), out[32];
    static uint8_t ek[EK], dk[DK], ct[CT];
    uint8_t k[32], k2[32], kbad[32];
    char hex[65];
    int ok = in != NULL, agree = 1;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHAKE-128", NULL);
    EVP_MD_CTX *acc = EVP_MD_CTX_new();
    ok = ok && md && acc && EVP_DigestInit_ex2(acc, md, NULL);
    if (ok) shake("SHAKE-128", NULL, 0, in, per * n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; ok && i < n; i++) {
        const uint8_t *d = in + i * per, *z = d + 32, *m = z + 32, *bad = m + 32;
        ok = !crypto_mlkem768_keygen_internal(d, z, ek, dk) &&
             !crypto_mlkem768_encaps_internal(ek, EK, m, ct, k) &&
             !crypto_mlkem768_decaps(dk, ct, CT, k2) && !crypto_mlkem768_decaps(dk, bad, CT, kbad);
        agree &= !memcmp(k, k2, 32);
        ok = ok && EVP_DigestUpdate(acc, ek, EK) && EVP_DigestUpdate(acc, dk, DK) &&
             EVP_DigestUpdate(acc, ct, CT) && EVP_DigestUpdate(acc, k, 32) &&
             EVP_DigestUpdate(acc, kbad, 32);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    ok = ok && EVP_DigestFinalXOF(acc, out, 32);
    to_hex(out, 32, hex);
    check(ok && agree && !strcmp(hex, want), "mlkem: accumulated %d tests: %s", n, hex);
    printf("# %d tests in %.2f s of CPU time\n", n,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    EVP_MD_CTX_free(acc);
    EVP_MD_free(md);
    free(in);
}

/* CPU time of this thread: the machine may be shared. */
static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Microseconds per operation, for the record (nothing is asserted). */
static void timings(void)
{
    static uint8_t ek[EK], dk[DK], ct[CT];
    uint8_t k[32];
    int n = 200;
    double t0 = now_us();
    for (int i = 0; i < n; i++)
        crypto_mlkem768_keygen(ek, dk);
    double t1 = now_us();
    for (int i = 0; i < n; i++)
        crypto_mlkem768_encaps(ek, EK, ct, k);
    double t2 = now_us();
    for (int i = 0; i < n; i++)
        crypto_mlkem768_decaps(dk, ct, CT, k);
    double t3 = now_us();
    printf("# %s: keygen %.1f us, encaps %.1f us, decaps %.1f us (CPU time)\n", crypto_mlkem_impl(),
           (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n);
}

int main(void)
{
    check(crypto_init() == 0, "mlkem: crypto init");
    test_tables();
    test_compress();
    test_byte_codec();
    test_cbd();
    test_sample_ntt();
    test_ntt();
    test_pke();
    test_kem();
    test_strcmp();
    test_modulus();
    accumulated(100, "8d65b902f28edc683cebee2872962fd165a4d197c9e24ec74caa4470270df0b7");
    accumulated(10000, "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1");
    timings();
    return failures ? 1 : 0;
}
