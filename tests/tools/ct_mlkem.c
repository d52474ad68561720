/* Constant time of moat's own ML-KEM-768, shown two ways (run by
 * tests/interop/45-mlkem-ct.sh):
 *   ct_mlkem            under valgrind memcheck: keygen, encaps and decaps
 *                       run with every secret input marked undefined (the
 *                       ctgrind technique); a branch or a memory index that
 *                       depends on a secret is then reported by memcheck.
 *   ct_mlkem --leaky    the same marking around a deliberate secret-dependent
 *                       branch, to show memcheck does report one.
 *   ct_mlkem --dudect N a dudect-style timing comparison of decaps on valid
 *                       and invalid ciphertexts (Welch's t-test), a report
 *                       of '#' lines: nothing timed is asserted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Without valgrind's headers (package valgrind) it builds, and says so. */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define HAVE_MEMCHECK 1
#else
#define HAVE_MEMCHECK 0
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#include "crypto/crypto.h"
#include "crypto/mlkem.h"

#define EK MOAT_MLKEM768_EK_LEN
#define DK MOAT_MLKEM768_DK_LEN
#define CT MOAT_MLKEM768_CT_LEN

static int failures;

static void check(int cond, const char *what)
{
    printf("%s - %s\n", cond ? "ok" : "not ok", what);
    if (!cond) failures++;
}

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)

/* dk's secret parts: ByteEncode_12(s-hat) at the start, z at the end; its
 * copy of ek and H(ek) are public. */
static void dk_secret(uint8_t *dk)
{
    PUBLIC(dk, DK);
    SECRET(dk, MLKEM_PKE_DK_BYTES);
    SECRET(dk + DK - 32, 32);
}

static int ctgrind(void)
{
    static uint8_t ek[EK], dk[DK], ct[CT], bad[CT];
    uint8_t d[32], z[32], m[32], k[32], k2[32], k3[32];
    if (crypto_random(d, 32) || crypto_random(z, 32) || crypto_random(m, 32)) return 1;

    /* Algorithm 16 with d and z secret: ek comes out public. */
    SECRET(d, 32);
    SECRET(z, 32);
    int r = crypto_mlkem_own_keygen_internal(d, z, ek, dk);
    PUBLIC(ek, EK);
    check(!r, "ct: ML-KEM.KeyGen_internal with d and z undefined");

    /* Algorithm 17 with m secret: ct is public, K secret. */
    SECRET(m, 32);
    r = crypto_mlkem_own_encaps_internal(ek, m, ct, k);
    PUBLIC(ct, CT);
    check(!r, "ct: ML-KEM.Encaps_internal with m undefined");

    /* Algorithm 18, then 21 with its checks, on a valid and an invalid
     * ciphertext, with s-hat and z secret. */
    memcpy(bad, ct, CT);
    bad[CT / 2] ^= 0x10;
    dk_secret(dk);
    int r2 = crypto_mlkem_own_decaps_internal(dk, ct, k2);
    int r3 = crypto_mlkem_own_decaps_internal(dk, bad, k3);
    PUBLIC(k, 32);
    PUBLIC(k2, 32);
    PUBLIC(k3, 32);
    check(!r2 && !memcmp(k, k2, 32), "ct: ML-KEM.Decaps_internal, valid ciphertext, dk undefined");
    check(!r3 && memcmp(k, k3, 32), "ct: ML-KEM.Decaps_internal, invalid ciphertext, dk undefined");
#ifndef MOAT_MLKEM_LIBCRYPTO
    dk_secret(dk);
    r2 = crypto_mlkem768_decaps(dk, ct, CT, k2);
    PUBLIC(k2, 32);
    check(!r2 && !memcmp(k, k2, 32), "ct: ML-KEM.Decaps with its 7.3 checks, dk undefined");
    SECRET(m, 32);
    r = crypto_mlkem768_encaps_internal(ek, EK, m, ct, k);
    check(!r, "ct: ML-KEM.Encaps with its 7.2 checks, m undefined");
#endif
    PUBLIC(dk, DK);
    return 0;
}

/* What a leak looks like to memcheck: an early exit on a secret byte. */
static int leaky(void)
{
    uint8_t a[32], b[32];
    if (crypto_random(a, 32)) return 1;
    memcpy(b, a, 32);
    b[31] ^= 1;
    SECRET(a, 32);
    int i = 0;
    while (i < 32 && a[i] == b[i])
        i++;
    PUBLIC(&i, sizeof i);
    check(i == 31, "ct: the deliberate early-exit compare ran (memcheck should report it)");
    return 0;
}

/* CPU time of this thread, so that time spent waiting for a core of a
 * shared machine is not counted. */
static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Welch's t between the two classes, over the measurements below cut. */
static double welch(const double *t, const int *cls, int n, double cut, int *n0, int *n1)
{
    double s[2] = {0}, s2[2] = {0};
    int c[2] = {0};
    for (int i = 0; i < n; i++)
        if (t[i] <= cut) {
            c[cls[i]]++;
            s[cls[i]] += t[i];
            s2[cls[i]] += t[i] * t[i];
        }
    *n0 = c[0];
    *n1 = c[1];
    if (c[0] < 2 || c[1] < 2) return 0;
    double m0 = s[0] / c[0], m1 = s[1] / c[1];
    double v0 = (s2[0] - c[0] * m0 * m0) / (c[0] - 1), v1 = (s2[1] - c[1] * m1 * m1) / (c[1] - 1);
    return (m0 - m1) / sqrt(v0 / c[0] + v1 / c[1]);
}

/* dudect (Reparaz, Balasch, Verbauwhede 2017): two classes of inputs in a
 * random order, one timing each; |t| above 4.5 would suggest a leak, above
 * 10 would be strong evidence. Class 0: valid ciphertexts; class 1: the
 * same with one bit changed (implicit rejection). */
static int dudect(int n)
{
    static uint8_t ek[EK], dk[DK];
    uint8_t(*cts)[CT] = malloc((size_t)n * CT), k[32], d[64];
    double *t = malloc(n * sizeof *t), *sorted = malloc(n * sizeof *t);
    int *cls = malloc(n * sizeof *cls);
    if (!cts || !t || !sorted || !cls || crypto_random(d, 64)) return 1;
    crypto_mlkem_own_keygen_internal(d, d + 32, ek, dk);
    for (int i = 0; i < n; i++) {
        uint8_t m[32], c;
        crypto_random(m, 32);
        crypto_random(&c, 1);
        cls[i] = c & 1;
        crypto_mlkem_own_encaps_internal(ek, m, cts[i], k);
        if (cls[i]) cts[i][(m[0] | m[1] << 8) % CT] ^= (uint8_t)(1 << (m[2] & 7));
    }
    for (int i = 0; i < n; i++) {
        double t0 = now_ns();
        crypto_mlkem_own_decaps_internal(dk, cts[i], k);
        t[i] = now_ns() - t0;
    }
    memcpy(sorted, t, n * sizeof *t);
    qsort(sorted, n, sizeof *t, cmp_double);
    printf("# dudect: decaps of valid (class 0) and invalid (class 1) ciphertexts, %d timings "
           "of thread CPU time\n",
           n);
    printf("# median %.1f us, 10th percentile %.1f us, 90th %.1f us\n", sorted[n / 2] / 1e3,
           sorted[n / 10] / 1e3, sorted[n * 9 / 10] / 1e3);
    static const double pct[] = {1.0, 0.9, 0.75, 0.5};
    double worst = 0;
    for (size_t p = 0; p < sizeof pct / sizeof pct[0]; p++) {
        int n0, n1;
        double cut = sorted[(int)(pct[p] * (n - 1))];
        double tv = welch(t, cls, n, cut, &n0, &n1);
        if (fabs(tv) > fabs(worst)) worst = tv;
        printf("# timings up to the %3.0fth percentile: %d valid, %d invalid, t = %+.2f\n",
               pct[p] * 100, n0, n1, tv);
    }
    printf("# largest |t| = %.2f (dudect: above 4.5 suggests a leak, above 10 shows one; "
           "a loaded machine adds noise)\n",
           fabs(worst));
    check(1, "ct: dudect report of decaps timings (nothing asserted)");
    free(cts);
    free(t);
    free(sorted);
    free(cls);
    return 0;
}

int main(int argc, char **argv)
{
    if (crypto_init()) return 1;
    if (argc > 2 && !strcmp(argv[1], "--dudect")) return dudect(atoi(argv[2])) || failures;
    check(HAVE_MEMCHECK, "ct: built with valgrind/memcheck.h");
    check(RUNNING_ON_VALGRIND, "ct: running under valgrind");
    if (argc > 1 && !strcmp(argv[1], "--leaky")) return leaky() || failures;
    return ctgrind() || failures;
}
