/* In-memory benchmark for make bench: a client engine and a server engine
 * joined by buffers, no sockets. Run under callgrind with
 * --collect-atstart=no: only the calls into the chosen side's engine are
 * counted (CALLGRIND_TOGGLE_COLLECT around them), so the instruction counts
 * are that side's own, split later by object (libcrypto, moat, libc).
 *
 *   inmem MODE N CERT KEY [SIDE [SNI [CERT2 ...]]]
 *
 * MODE: full    N full handshakes (x25519, TLS_AES_128_GCM_SHA256)
 *       resume  N resumed handshakes (psk_dhe_ke) after one full one
 *       records one handshake, then N 16 KB records server -> client
 *       kex     N of each key-exchange step, timed alone (no CERT, KEY):
 *               ML-KEM-768 keygen, encaps, decaps; X25519 keygen and
 *               derive; each side of X25519MLKEM768 and of x25519
 * SIDE: server (default), client or both.
 * SNI: the name the client sends (default localhost); CERT2 ...: more
 * certificates for the server, each with KEY, loaded after CERT (so that
 * the cost of choosing among many by SNI can be counted).
 * The client does not verify the chain (as the socket loads do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "moat/tls.h"
#include "moat/tlsfile.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

enum { SRV = 1, CLI = 2 };
static int side = SRV;
#define ON(s)                                                                                      \
    do {                                                                                           \
        if (side & (s)) CALLGRIND_TOGGLE_COLLECT;                                                  \
    } while (0)

static void die(const char *what, int r)
{
    fprintf(stderr, "inmem: %s failed: %s\n", what, moat_strerror(r));
    exit(1);
}

/* Feeds all of `bytes` to one engine; the engine's side is counted. */
static void feed(moat_tls *t, int who, moat_buf *bytes, moat_buf *reply, moat_buf *app)
{
    ON(who);
    int r = moat_tls_recv(t, bytes->base, bytes->len, reply, app);
    ON(who);
    if (r) die("moat_tls_recv", r);
    bytes->len = 0;
}

/* One handshake; returns the pair connected (caller frees) and leaves the
 * client's latest session in sess when asked. */
static const char *sni = "localhost";

static void handshake(const moat_tls_config *cc, const moat_tls_config *sc, moat_buf *sess,
                      moat_tls **cp, moat_tls **sp)
{
    moat_buf to_s, to_c, app;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    moat_buf_init(&app);
    ON(CLI);
    moat_tls *c = moat_tls_client_new(cc, sni);
    int r = c && sess && sess->len ? moat_tls_set_session(c, sess->base, sess->len) : 0;
    if (!r && c) r = moat_tls_start(c, &to_s);
    ON(CLI);
    if (!c || r) die("client start", r);
    ON(SRV);
    moat_tls *s = moat_tls_server_new(sc);
    ON(SRV);
    if (!s) die("moat_tls_server_new", MOAT_ERR_NOMEM);
    for (int round = 0; round < 10; round++) {
        if (to_s.len) feed(s, SRV, &to_s, &to_c, &app);
        if (to_c.len) feed(c, CLI, &to_c, &to_s, &app);
        if (moat_tls_handshake_done(c) && moat_tls_handshake_done(s) && !to_s.len && !to_c.len)
            break;
    }
    if (!moat_tls_handshake_done(c) || !moat_tls_handshake_done(s)) die("handshake", -999);
    if (sess) {
        moat_buf_clear(sess);
        if (moat_tls_get_session(c, sess)) die("moat_tls_get_session", MOAT_ERR_STATE);
    }
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    moat_buf_free(&app);
    *cp = c;
    *sp = s;
}

static void drop(moat_tls *c, moat_tls *s)
{
    ON(CLI);
    moat_tls_free(c);
    ON(CLI);
    ON(SRV);
    moat_tls_free(s);
    ON(SRV);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* kex mode: microseconds per step, one line of name=value pairs. */
static int kex_costs(long n)
{
    static uint8_t ek[MOAT_MLKEM768_EK_LEN], dk[MOAT_MLKEM768_DK_LEN], ct[MOAT_MLKEM768_CT_LEN];
    uint8_t k[32], cs[MOAT_KEX_SHARE_MAX], ss[MOAT_KEX_SHARE_MAX], sec[MOAT_KEX_SECRET_MAX];
    size_t csl, ssl, secl;
    double t[9];
    int r = 0;
    t[0] = now_us();
    for (long i = 0; i < n && !r; i++)
        r = crypto_mlkem768_keygen(ek, dk);
    t[1] = now_us();
    for (long i = 0; i < n && !r; i++)
        r = crypto_mlkem768_encaps(ek, sizeof ek, ct, k);
    t[2] = now_us();
    for (long i = 0; i < n && !r; i++)
        r = crypto_mlkem768_decaps(dk, ct, sizeof ct, k);
    t[3] = now_us();
    static const uint16_t groups[2] = {MOAT_KEX_X25519, MOAT_KEX_X25519MLKEM768};
    for (int g = 0; g < 2 && !r; g++) {
        double tc = 0, ts = 0, tk = 0;
        for (long i = 0; i < n && !r; i++) {
            double a = now_us();
            moat_kex *c = crypto_kex_new(groups[g]); /* client: keygen, its share */
            r = c ? crypto_kex_pub(c, cs, &csl) : -1;
            double b = now_us();
            if (!r) r = crypto_kex_respond(groups[g], cs, csl, ss, &ssl, sec, &secl);
            double d = now_us();
            if (!r) r = crypto_kex_derive(c, ss, ssl, sec, &secl);
            double e = now_us();
            crypto_kex_free(c);
            tk += b - a;
            ts += d - b;
            tc += e - d;
        }
        t[4 + 2 * g] = (tk + tc) / (double)n; /* client: keygen + derive */
        t[5 + 2 * g] = ts / (double)n;        /* server: respond */
        if (g == 0) t[8] = tk / (double)n;    /* X25519 keygen alone */
    }
    if (r) die("kex", r);
    printf("kex n=%ld impl=\"%s\" mlkem768_keygen_us=%.2f mlkem768_encaps_us=%.2f "
           "mlkem768_decaps_us=%.2f x25519_keygen_us=%.2f x25519_client_us=%.2f "
           "x25519_server_us=%.2f x25519mlkem768_client_us=%.2f x25519mlkem768_server_us=%.2f\n",
           n, crypto_mlkem_impl(), (t[1] - t[0]) / (double)n, (t[2] - t[1]) / (double)n,
           (t[3] - t[2]) / (double)n, t[8], t[4], t[5], t[6], t[7]);
    moat_wipe(dk, sizeof dk);
    moat_wipe(k, sizeof k);
    moat_wipe(sec, sizeof sec);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "kex")) {
        if (crypto_init()) die("crypto_init", MOAT_ERR_INTERNAL);
        return kex_costs(atol(argv[2]));
    }
    if (argc < 5) {
        fprintf(stderr, "usage: inmem full|resume|records N CERT KEY [server|client|both]\n"
                        "       inmem kex N\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    if (argc > 5) side = !strcmp(argv[5], "client") ? CLI : !strcmp(argv[5], "both") ? SRV | CLI : SRV;
    char err[256];
    moat_tls_config *sc = moat_tls_config_new(), *cc = moat_tls_config_new();
    if (!sc || !cc) die("moat_tls_config_new", MOAT_ERR_NOMEM);
    int r = moat_tls_config_add_cert_file(sc, argv[3], argv[4], err, sizeof err);
    if (argc > 6) sni = argv[6];
    for (int i = 7; !r && i < argc; i++)
        r = moat_tls_config_add_cert_file(sc, argv[i], argv[4], err, sizeof err);
    if (r) {
        fprintf(stderr, "inmem: %s\n", err);
        return 1;
    }
    uint16_t suite = MOAT_TLS_AES_128_GCM_SHA256, group = MOAT_GROUP_X25519;
    const char *alpn[] = {"http/1.1"};
    moat_tls_config_set_ciphers(cc, &suite, 1);
    moat_tls_config_set_groups(cc, &group, 1);
    moat_tls_config_set_alpn(cc, alpn, 1);
    moat_tls_config_set_alpn(sc, alpn, 1);
    moat_tls_config_set_verify(cc, 0);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    moat_tls *c, *s;
    moat_buf sess;
    moat_buf_init(&sess);
    if (!strcmp(mode, "full")) {
        for (long i = 0; i < n; i++) {
            handshake(cc, sc, NULL, &c, &s);
            drop(c, s);
        }
    } else if (!strcmp(mode, "resume")) {
        int saved = side;
        side = 0; /* the first, full handshake is not counted */
        handshake(cc, sc, &sess, &c, &s);
        drop(c, s);
        side = saved;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            handshake(cc, sc, &sess, &c, &s);
            if (!moat_tls_resumed(s)) die("resumption", -998);
            drop(c, s);
        }
    } else if (!strcmp(mode, "records")) {
        int saved = side;
        side = 0;
        handshake(cc, sc, NULL, &c, &s);
        side = saved;
        static uint8_t data[16384];
        memset(data, 'x', sizeof data);
        moat_buf wire, app, junk;
        moat_buf_init(&wire);
        moat_buf_init(&app);
        moat_buf_init(&junk);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            ON(SRV);
            r = moat_tls_send(s, &wire, data, sizeof data);
            ON(SRV);
            if (r) die("moat_tls_send", r);
            feed(c, CLI, &wire, &junk, &app);
            if (app.len != sizeof data) die("record size", -997);
            app.len = 0;
        }
        moat_buf_free(&wire);
        moat_buf_free(&app);
        moat_buf_free(&junk);
        drop(c, s);
    } else {
        fprintf(stderr, "inmem: unknown mode %s\n", mode);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / (double)n;
    printf("%s n=%ld %.1f us each (both sides, wall clock)\n", mode, n, us);
    moat_buf_free(&sess);
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
    return 0;
}
