/* Fault injection, as SQLite does it: every allocation of an in-memory
 * handshake and transfer is made to fail in turn (moat's own through
 * -Wl,--wrap=malloc,calloc,realloc,free in this program's build only,
 * libcrypto's through CRYPTO_set_mem_functions), and each time an error
 * must come back with nothing crashed and nothing leaked; reads and writes
 * cut to one byte through a whole handshake and transfer; and regression
 * tests for what the fuzzers (fuzz/) found. */
#include <openssl/crypto.h>

#include "harness.h"
#include "moat/http.h"

/* ---- the allocation hook */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static long alloc_count; /* allocations so far (both hooks) */
static long fail_at;     /* the allocation number that fails; 0: none */
static long failed;      /* how many were made to fail */
static int failed_own;   /* the one that failed was moat's own (not libcrypto's) */
/* moat's own allocations not yet freed. libcrypto's are not counted: it
 * keeps per-thread and global state made on first use (its error queue,
 * say), which is not a leak; LeakSanitizer in the ASan build checks those
 * for memory that is no longer reachable. */
static long live;

static int should_fail_kind(int own)
{
    alloc_count++;
    if (fail_at && alloc_count == fail_at) {
        failed++;
        failed_own = own;
        return 1;
    }
    return 0;
}
#define should_fail() should_fail_kind(1)

void *__wrap_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = __real_malloc(n);
    if (p) live++;
    return p;
}

void *__wrap_calloc(size_t k, size_t n)
{
    if (should_fail()) return NULL;
    void *p = __real_calloc(k, n);
    if (p) live++;
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (should_fail()) return NULL;
    void *p = __real_realloc(old, n);
    if (p && !old) live++;
    return p;
}

void __wrap_free(void *p)
{
    if (p) live--;
    __real_free(p);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return should_fail_kind(0) ? NULL : __real_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return should_fail_kind(0) ? NULL : __real_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    __real_free(p);
}

/* ---- one handshake and one request/response, as the sweep runs it */

static const char request[] = "GET /index.html HTTP/1.1\r\nHost: localhost\r\n"
                              "User-Agent: moat-test\r\nAccept-Encoding: gzip\r\n\r\n";
static char response[20000];

/* The server's side of the request, as moat serve's layers do it: parse the
 * request head the engine delivered, then write the response head and body
 * into a buffer (which grows, and so allocates). 0, or an error. */
static int answer(const moat_buf *in, moat_buf *out)
{
    moat_http_request req;
    int n = moat_http_parse_request((const char *)in->base, in->len, &req);
    if (n != (int)in->len || req.method_len != 3 || memcmp(req.method, "GET", 3) || !req.host ||
        req.host_len != 9 || memcmp(req.host, "localhost", 9))
        return -2002;
    char date[30];
    moat_http_date(1700000000, date);
    int r = moat_http_write_status(out, 200);
    if (!r) r = moat_http_write_header(out, "Date", "%s", date);
    if (!r)
        r = moat_http_write_header(out, "Content-Type", "%s", moat_http_mime_type("/index.html"));
    if (!r) r = moat_http_write_header(out, "Content-Length", "%zu", sizeof response);
    if (!r) r = moat_buf_append(out, "\r\n", 2);
    if (!r) r = moat_buf_append(out, response, sizeof response);
    return r;
}

/* The client's side: the response head parsed, the body where it says. */
static int check_answer(const moat_buf *in)
{
    moat_http_response resp;
    int n = moat_http_parse_response((const char *)in->base, in->len, &resp);
    if (n <= 0 || resp.status != 200 || resp.f.content_length != (int64_t)sizeof response ||
        in->len - (size_t)n != sizeof response || memcmp(in->base + n, response, sizeof response))
        return -2001;
    return 0;
}

/* 0 when everything worked and arrived intact, else the first error. */
static int session(const moat_tls_config *cc, const moat_tls_config *sc, size_t step)
{
    pair_t p;
    moat_buf head;
    moat_buf_init(&head);
    int r = pair_handshake(&p, cc, sc, "localhost", step);
    if (!r) r = pair_send(p.c, p.s, request, sizeof request - 1, &p.s_app, step);
    if (!r && (p.s_app.len != sizeof request - 1 || memcmp(p.s_app.base, request, p.s_app.len)))
        r = -2000;
    if (!r) r = answer(&p.s_app, &head);
    if (!r) r = pair_send(p.s, p.c, (const char *)head.base, head.len, &p.c_app, step);
    if (!r) r = check_answer(&p.c_app);
    moat_buf_free(&head);
    pair_free(&p);
    return r;
}

/* Fails allocation n = 1, 2, ... of a whole session until a session needs
 * fewer allocations than n. Each must end in an error or, where the
 * failure was absorbed (a cache that is filled later), in a correct
 * session; and the allocations live before must be all that is left. */
static void sweep(const char *what, const moat_tls_config *cc, const moat_tls_config *sc)
{
    /* A session first, so that libcrypto's lazily built tables exist. */
    int r0 = session(cc, sc, 1 << 20);
    check(r0 == 0, "faults %s: a session works with no fault (%d)", what, r0);
    /* libcrypto's count varies a little from one session to the next (a
     * random nonce that must be drawn again, a number one byte shorter):
     * the sweep covers the fewest a session took in five. */
    long base = live, total = 0;
    for (int i = 0; i < 5; i++) {
        alloc_count = 0;
        session(cc, sc, 1 << 20);
        if (!total || alloc_count < total) total = alloc_count;
    }
    check(live == base, "faults %s: a session frees all it allocates (%ld left)", what,
          live - base);
    long errors = 0, absorbed = 0, leaks = 0, bad = 0, first_leak = 0, own = 0, own_absorbed = 0;
    /* MOAT_FAULT_AT=N runs only allocation N (to study one under ASan). */
    long only = getenv("MOAT_FAULT_AT") ? atol(getenv("MOAT_FAULT_AT")) : 0;
    for (long n = only ? only : 1; n <= (only ? only : total); n++) {
        base = live;
        alloc_count = 0;
        failed = 0;
        fail_at = n;
        int r = session(cc, sc, 1 << 20);
        fail_at = 0;
        if (!failed) break; /* fewer allocations than n: done */
        if (r)
            errors++;
        else
            absorbed++;
        if (failed_own) {
            own++;
            if (!r) own_absorbed++;
        }
        if (r > 0) bad++;
        if (live != base) {
            if (only) printf("# allocation %ld: %ld left\n", n, live - base);
            if (!leaks) first_leak = n;
            leaks++;
        }
    }
    printf("# faults %s: %ld allocations per session (%ld moat's own, the rest libcrypto's); "
           "%ld failures gave an error, %ld were absorbed (%ld of moat's own)\n",
           what, total, own, errors, absorbed, own_absorbed);
    if (only) return;
    check(errors + absorbed == total && bad == 0,
          "faults %s: each of the %ld allocations failed in turn, no crash, an error or a "
          "correct session each time",
          what, total);
    check(own > 0 && own_absorbed == 0,
          "faults %s: each of moat's own %ld allocations, failed, gave an error", what, own);
    check(leaks == 0,
          "faults %s: nothing leaked after any failed allocation (%ld leaked, first "
          "at allocation %ld)",
          what, leaks, first_leak);
}

/* Allocations of configurations: loading certificates and trust. */
static void sweep_config(void)
{
    long errors = 0, leaks = 0, total = 0;
    for (long n = 1; n < 100000; n++) {
        long base = live;
        alloc_count = 0;
        failed = 0;
        fail_at = n;
        moat_tls_config *sc = server_config("p256");
        moat_tls_config *cc = client_config("ca");
        fail_at = 0;
        int ok = sc && cc;
        moat_tls_config_free(sc);
        moat_tls_config_free(cc);
        if (!failed) break;
        total++;
        if (!ok) errors++;
        if (live != base) leaks++;
    }
    printf("# faults config: %ld allocations, %ld failures gave an error\n", total, errors);
    check(total > 0 && leaks == 0,
          "faults config: each allocation of loading a certificate and a CA failed in turn, "
          "nothing leaked (%ld leaked)",
          leaks);
}

/* ---- reads and writes of one byte */

static void test_one_byte(const moat_tls_config *cc, const moat_tls_config *sc)
{
    int r = session(cc, sc, 1);
    check(r == 0, "faults: handshake and a 20 KB response delivered one byte at a time (%d)", r);

    /* Writes of one byte: the application sends 1 byte per call, every
     * record crosses one byte per read. */
    pair_t p;
    r = pair_handshake(&p, cc, sc, "localhost", 1);
    size_t n = 4096;
    for (size_t i = 0; i < n && !r; i++)
        r = pair_send(p.s, p.c, response + i, 1, &p.c_app, 1);
    check(r == 0 && p.c_app.len == n && !memcmp(p.c_app.base, response, n),
          "faults: 4096 writes of one byte each, read one byte at a time (%d)", r);
    pair_free(&p);
}

/* ---- what the fuzzers found */

static void test_fuzz_regressions(void)
{
    /* fuzz_cert: a certificate "PEM" with no certificate in it freed its
     * BIO twice in crypto_cred_load (src/crypto/cert.c). */
    moat_tls_config *c = moat_tls_config_new();
    char err[256] = "";
    static const char junk[] = "\xc6\xd5";
    int r = c ? moat_tls_config_add_cert_pem(c, junk, 2, "", 0, err, sizeof err) : -1;
    check(r == MOAT_ERR_FILE && strstr(err, "no PEM certificate"),
          "fuzz regression: add_cert_pem with no certificate in the PEM fails cleanly (%s)", err);
    moat_tls_config_free(c);
}

/* fuzz_record: an empty application_data record once keys are in use made
 * handle_record compute NULL + 0 (undefined behaviour, fatal under UBSan)
 * when the caller's app buffer had never been used (src/tls/tls.c). */
static void test_fuzz_empty_record(const moat_tls_config *cc, const moat_tls_config *sc)
{
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    static const uint8_t empty[5] = {23, 3, 3, 0, 0};
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    int e = r ? r : moat_tls_recv(p.s, empty, sizeof empty, &out, &app);
    check(r == 0 && e == MOAT_ERR_ALERT(MOAT_ALERT_BAD_RECORD_MAC),
          "fuzz regression: an empty encrypted record into an unused app buffer gets "
          "bad_record_mac (%d)",
          e);
    moat_buf_free(&out);
    moat_buf_free(&app);
    pair_free(&p);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Before libcrypto allocates anything. */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        printf("not ok - faults: libcrypto allocation hook could not be set\n");
        return 1;
    }
    if (make_certs()) {
        printf("not ok - test certificates could not be made (see %s/gen.log)\n", certdir);
        return 1;
    }
    for (size_t i = 0; i < sizeof response; i++)
        response[i] = (char)('a' + i % 26);
    test_fuzz_regressions();
    moat_tls_config *sc = server_config("p256");
    moat_tls_config *cc = client_config("ca");
    if (!sc || !cc) {
        printf("not ok - faults: configurations\n");
        return 1;
    }
    test_fuzz_empty_record(cc, sc);
    test_one_byte(cc, sc);
    sweep("handshake and request (P-256, x25519)", cc, sc);
    /* A HelloRetryRequest (the client's key share is x25519, the server
     * takes only P-256) with an Ed25519 certificate. */
    moat_tls_config *sc2 = server_config("ed25519");
    moat_tls_config *cc2 = client_config("ca");
    static const uint16_t cg[2] = {MOAT_GROUP_X25519, MOAT_GROUP_SECP256R1};
    static const uint16_t sg[1] = {MOAT_GROUP_SECP256R1};
    if (sc2 && cc2 && !moat_tls_config_set_groups(cc2, cg, 2) &&
        !moat_tls_config_set_groups(sc2, sg, 1))
        sweep("HelloRetryRequest (Ed25519, P-256)", cc2, sc2);
    else
        check(0, "faults: HelloRetryRequest configurations");
    moat_tls_config_free(sc2);
    moat_tls_config_free(cc2);
    /* TLS 1.2 (an RSA certificate, secp384r1): the 1.2 handshake and
     * records, every allocation failed in turn. */
    moat_tls_config *sc3 = server_config("rsa");
    moat_tls_config *cc3 = client_config("ca");
    static const uint16_t g384[1] = {MOAT_GROUP_SECP384R1};
    if (sc3 && cc3 &&
        !moat_tls_config_set_versions(cc3, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_2) &&
        !moat_tls_config_set_groups(sc3, g384, 1))
        sweep("TLS 1.2 handshake and request (RSA, P-384)", cc3, sc3);
    else
        check(0, "faults: TLS 1.2 configurations");
    moat_tls_config_free(sc3);
    moat_tls_config_free(cc3);
    sweep_config();
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
    remove_certs();
    return failures ? 1 : 0;
}
