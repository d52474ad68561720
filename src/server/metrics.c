/* The metrics of moat serve (one table below), counted per process in a
 * shared block and rendered for Prometheus (text exposition format 0.0.4)
 * summed over the processes. The memory scheme is in metrics.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"
#include "crypto/x509info.h"
#include "moat/error.h"
#include "moat/http.h"
#include "server/metrics.h"
#include "server/server.h"

/* Label dimensions. A static one lists its values; with `other`, the last
 * value takes whatever is out of range, so a strange method or alert is
 * counted rather than lost and the label's values stay few (Prometheus:
 * every distinct label value is a series kept forever). */
enum dim_id {
    D_NONE,
    D_OUTCOME,
    D_ALERT,
    D_VERSION,
    D_GROUP,
    D_SUITE,
    D_METHOD,
    D_CODE,
    D_CERT,
    D_BACKEND,
    D_BACKEND_ERR
};

struct dim {
    const char *label;
    const char *const *values;
    size_t n;
    int other;
};

static const char *const outcome_v[] = {"full", "resumed", "failed"};
static const char *const version_v[] = {"TLSv1.3", "TLSv1.2"};
static const char *const group_v[] = {"x25519", "secp256r1", "secp384r1", "X25519MLKEM768"};
static const char *const suite_v[] = {"TLS_AES_128_GCM_SHA256",
                                      "TLS_AES_256_GCM_SHA384",
                                      "TLS_CHACHA20_POLY1305_SHA256",
                                      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                                      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"};
static const char *const method_v[] = {"GET",    "HEAD",    "POST",  "PUT",
                                       "DELETE", "OPTIONS", "PATCH", "other"};
static const char *const code_v[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const berr_v[] = {"connect", "timeout", "response"};

/* The alerts a handshake can end with (RFC 8446 6.2), then "other". */
static const int alert_code[] = {10, 20, 22, 40, 42, 43, 44,  45,  46,  47,  48, 49,
                                 50, 51, 70, 71, 80, 90, 109, 110, 112, 116, 120};
static const char *const alert_v[] = {"unexpected_message",
                                      "bad_record_mac",
                                      "record_overflow",
                                      "handshake_failure",
                                      "bad_certificate",
                                      "unsupported_certificate",
                                      "certificate_revoked",
                                      "certificate_expired",
                                      "certificate_unknown",
                                      "illegal_parameter",
                                      "unknown_ca",
                                      "access_denied",
                                      "decode_error",
                                      "decrypt_error",
                                      "protocol_version",
                                      "insufficient_security",
                                      "internal_error",
                                      "user_canceled",
                                      "missing_extension",
                                      "unsupported_extension",
                                      "unrecognized_name",
                                      "certificate_required",
                                      "no_application_protocol",
                                      "other"};
#define NALERTS (sizeof alert_code / sizeof alert_code[0])
_Static_assert(sizeof alert_v / sizeof alert_v[0] == NALERTS + 1, "one name per alert, and other");

static const struct dim dims[] = {
    [D_NONE] = {NULL, NULL, 1, 0},
    [D_OUTCOME] = {"outcome", outcome_v, 3, 0},
    [D_ALERT] = {"alert", alert_v, NALERTS + 1, 1},
    [D_VERSION] = {"version", version_v, 2, 0},
    [D_GROUP] = {"group", group_v, 4, 0},
    [D_SUITE] = {"suite", suite_v, sizeof suite_v / sizeof suite_v[0], 0},
    [D_METHOD] = {"method", method_v, 8, 1},
    [D_CODE] = {"code", code_v, 5, 0},
    [D_CERT] = {"name", NULL, 0, 0},       /* values: metrics_names.certs */
    [D_BACKEND] = {"backend", NULL, 0, 0}, /* values: metrics_names.backends */
    [D_BACKEND_ERR] = {"error", berr_v, 3, 0},
};

enum kind { COUNTER, GAUGE, HISTOGRAM };
/* How a stored value is shown: as is, or as seconds until or since the
 * timestamp stored (so nothing needs to tick to keep them current). */
enum show { AS_IS, UNTIL, SINCE };

/* Every metric. Names follow Prometheus's conventions: the moat_ prefix,
 * base units (seconds, bytes) in the name, _total on counters. */
static const struct def {
    const char *name, *help;
    enum kind kind;
    enum dim_id d0, d1;
    int max; /* aggregated by the highest value, not the sum */
    enum show show;
} defs[M__COUNT] = {
    [M_CONNECTIONS_ACCEPTED] = {.name = "moat_connections_accepted_total",
                                .help = "Connections accepted on the HTTPS listeners.",
                                .kind = COUNTER},
    [M_CONNECTIONS_OPEN] = {.name = "moat_connections_open",
                            .help = "Connections open now.",
                            .kind = GAUGE},
    [M_HANDSHAKES] = {.name = "moat_tls_handshakes_total",
                      .help = "TLS handshakes by outcome: full, resumed with a ticket, or failed.",
                      .kind = COUNTER,
                      .d0 = D_OUTCOME},
    [M_HANDSHAKE_FAILURES] = {.name = "moat_tls_handshake_failures_total",
                              .help = "Failed TLS handshakes by the alert that ended them.",
                              .kind = COUNTER,
                              .d0 = D_ALERT},
    [M_TLS_VERSIONS] = {.name = "moat_tls_versions_negotiated_total",
                        .help = "Handshakes completed by TLS version.",
                        .kind = COUNTER,
                        .d0 = D_VERSION},
    [M_TLS_GROUPS] = {.name = "moat_tls_groups_negotiated_total",
                      .help = "Handshakes completed by key exchange group.",
                      .kind = COUNTER,
                      .d0 = D_GROUP},
    [M_TLS_SUITES] = {.name = "moat_tls_cipher_suites_negotiated_total",
                      .help = "Handshakes completed by cipher suite.",
                      .kind = COUNTER,
                      .d0 = D_SUITE},
    [M_REQUESTS] = {.name = "moat_http_requests_total",
                    .help = "HTTP requests answered, by method and status class.",
                    .kind = COUNTER,
                    .d0 = D_METHOD,
                    .d1 = D_CODE},
    [M_RECEIVED_BYTES] = {.name = "moat_received_bytes_total",
                          .help = "Bytes received from clients, TLS records included.",
                          .kind = COUNTER},
    [M_SENT_BYTES] = {.name = "moat_sent_bytes_total",
                      .help = "Bytes sent to clients, TLS records included.",
                      .kind = COUNTER},
    [M_REQUEST_DURATION] = {.name = "moat_http_request_duration_seconds",
                            .help = "Time from a request's first byte to its answer's last.",
                            .kind = HISTOGRAM},
    [M_BACKEND_UP] = {.name = "moat_proxy_backend_up",
                      .help = "Whether the proxy backend answered its last connection (1) or "
                              "not (0).",
                      .kind = GAUGE,
                      .d0 = D_BACKEND,
                      .max = 1},
    [M_BACKEND_ERRORS] = {.name = "moat_proxy_backend_errors_total",
                          .help = "Proxy backend failures: connect, timeout, bad or cut response.",
                          .kind = COUNTER,
                          .d0 = D_BACKEND,
                          .d1 = D_BACKEND_ERR},
    [M_WORKER_RESTARTS] = {.name = "moat_worker_restarts_total",
                           .help = "Workers the master started again after one ended.",
                           .kind = COUNTER},
    [M_CERT_EXPIRY] = {.name = "moat_certificate_expiry_seconds",
                       .help = "Seconds until the certificate's notAfter (negative once expired).",
                       .kind = GAUGE,
                       .d0 = D_CERT,
                       .max = 1,
                       .show = UNTIL},
    [M_TICKET_KEY_AGE] = {.name = "moat_ticket_key_age_seconds",
                          .help = "Seconds since the session ticket key in use was made.",
                          .kind = GAUGE,
                          .max = 1,
                          .show = SINCE},
};

/* The histogram's upper bounds, in microseconds. */
static const uint64_t bounds[METRICS_NBUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

static size_t dim_n(const struct metrics *m, enum dim_id d)
{
    return d == D_CERT ? m->ncerts : d == D_BACKEND ? m->nbackends : dims[d].n;
}

static const char *dim_value(const struct metrics *m, enum dim_id d, size_t i)
{
    return d == D_CERT ? m->certs[i] : d == D_BACKEND ? m->backends[i] : dims[d].values[i];
}

/* Values per series: one, or a histogram's buckets, count and sum. */
static size_t per_series(enum metric_id id)
{
    return defs[id].kind == HISTOGRAM ? METRICS_NBUCKETS + 2 : 1;
}

static char **copy_names(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) return out; /* metrics_free frees the partial copy */
    return out;
}

int metrics_init(struct metrics *m, size_t nworkers, const struct metrics_names *names)
{
    memset(m, 0, sizeof *m);
    size_t nc = names ? names->ncerts : 0, nb = names ? names->nbackends : 0;
    for (size_t i = 0; i < nc; i++)
        if (strlen(names->certs[i]) > 255) return MOAT_ERR_ARG;
    for (size_t i = 0; i < nb; i++)
        if (strlen(names->backends[i]) > 255) return MOAT_ERR_ARG;
    m->certs = copy_names(nc ? names->certs : NULL, nc);
    m->backends = copy_names(nb ? names->backends : NULL, nb);
    m->ncerts = nc;
    m->nbackends = nb;
    int ok = m->certs && m->backends;
    for (size_t i = 0; ok && i < nc; i++)
        ok = m->certs[i] != NULL;
    for (size_t i = 0; ok && i < nb; i++)
        ok = m->backends[i] != NULL;
    if (!ok) {
        metrics_free(m);
        return MOAT_ERR_NOMEM;
    }
    size_t at = 0;
    for (int id = 0; id < M__COUNT; id++) {
        m->base[id] = at;
        at += dim_n(m, defs[id].d0) * dim_n(m, defs[id].d1) * per_series((enum metric_id)id);
    }
    m->nvalues = at;
    m->block = (at * sizeof(uint64_t) + 63) / 64 * 64;
    m->nblocks = 1 + nworkers;
    return 0;
}

int metrics_map(struct metrics *m)
{
    void *p = mmap(NULL, m->block * m->nblocks, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) return MOAT_ERR_NOMEM;
    m->shm = p;
    return 0;
}

void metrics_free(struct metrics *m)
{
    if (m->shm) munmap(m->shm, m->block * m->nblocks);
    for (size_t i = 0; m->certs && i < m->ncerts; i++)
        free(m->certs[i]);
    for (size_t i = 0; m->backends && i < m->nbackends; i++)
        free(m->backends[i]);
    free(m->certs);
    free(m->backends);
    memset(m, 0, sizeof *m);
}

uint64_t *metrics_block(const struct metrics *m, size_t slot)
{
    return (uint64_t *)((char *)m->shm + slot * m->block);
}

/* The value index of series (a, b) of id, or SIZE_MAX to drop it. */
static size_t series(const struct metrics *m, enum metric_id id, size_t a, size_t b)
{
    const struct def *d = &defs[id];
    size_t na = dim_n(m, d->d0), nb = dim_n(m, d->d1);
    if (a >= na) {
        if (!dims[d->d0].other) return SIZE_MAX;
        a = na - 1;
    }
    if (b >= nb) {
        if (!dims[d->d1].other) return SIZE_MAX;
        b = nb - 1;
    }
    return m->base[id] + (a * nb + b) * per_series(id);
}

/* Stores of the gauges set outright; counters add atomically. */
static void put(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void metrics_add(const struct metrics *m, uint64_t *blk, enum metric_id id, size_t a, size_t b,
                 uint64_t v)
{
    size_t i = series(m, id, a, b);
    if (i != SIZE_MAX) __atomic_fetch_add(&blk[i], v, __ATOMIC_RELAXED);
}

void metrics_sub(const struct metrics *m, uint64_t *blk, enum metric_id id, size_t a, size_t b,
                 uint64_t v)
{
    size_t i = series(m, id, a, b);
    if (i != SIZE_MAX) __atomic_fetch_sub(&blk[i], v, __ATOMIC_RELAXED);
}

void metrics_set(const struct metrics *m, uint64_t *blk, enum metric_id id, size_t a, size_t b,
                 uint64_t v)
{
    size_t i = series(m, id, a, b);
    if (i != SIZE_MAX) put(&blk[i], v);
}

void metrics_observe(const struct metrics *m, uint64_t *blk, enum metric_id id, uint64_t usec)
{
    size_t i = series(m, id, 0, 0);
    if (i == SIZE_MAX || defs[id].kind != HISTOGRAM) return;
    size_t k = 0;
    while (k < METRICS_NBUCKETS && usec > bounds[k])
        k++;
    if (k < METRICS_NBUCKETS) __atomic_fetch_add(&blk[i + k], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&blk[i + METRICS_NBUCKETS], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&blk[i + METRICS_NBUCKETS + 1], usec, __ATOMIC_RELAXED);
}

size_t metrics_method(const char *method, size_t len)
{
    for (size_t i = 0; i + 1 < sizeof method_v / sizeof method_v[0]; i++)
        if (strlen(method_v[i]) == len && !memcmp(method_v[i], method, len)) return i;
    return sizeof method_v / sizeof method_v[0] - 1;
}

size_t metrics_status(int status)
{
    return status >= 100 && status <= 599 ? (size_t)(status / 100 - 1) : SIZE_MAX;
}

size_t metrics_alert(int desc)
{
    for (size_t i = 0; i < NALERTS; i++)
        if (alert_code[i] == desc) return i;
    return NALERTS;
}

void metrics_reset_gauges(const struct metrics *m, size_t slot)
{
    if (!m->shm || slot >= m->nblocks) return;
    uint64_t *blk = metrics_block(m, slot);
    for (int id = 0; id < M__COUNT; id++) {
        if (defs[id].kind != GAUGE || defs[id].show != AS_IS) continue;
        size_t n = dim_n(m, defs[id].d0) * dim_n(m, defs[id].d1);
        for (size_t i = 0; i < n; i++)
            put(&blk[m->base[id] + i], 0);
    }
}

/* ---- Rendering: the text exposition format 0.0.4 ---- */

struct out {
    moat_buf *b;
    int err;
};

static void outf(struct out *o, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (o->err) return;
    if (n < 0 || (size_t)n >= sizeof line)
        o->err = MOAT_ERR_ARG;
    else if (moat_buf_append(o->b, line, (size_t)n))
        o->err = MOAT_ERR_NOMEM;
}

/* A label value: backslash, double quote and line feed escaped, as the
 * format asks. Values are at most 255 bytes (metrics_init), so 512 fit. */
static void escape(char *dst, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') dst[o++] = '\\';
        dst[o++] = *s == '\n' ? 'n' : *s;
    }
    dst[o] = 0;
}

/* {k="v",k2="v2",le="x"}, or "" for a series with no label. */
static void labels(char *dst, size_t cap, const struct metrics *m, const struct def *d, size_t a,
                   size_t b, const char *le)
{
    char v0[512], v1[512];
    const char *sep = "";
    size_t o = 0;
    dst[0] = 0;
    if (d->d0 != D_NONE) {
        escape(v0, dim_value(m, d->d0, a));
        o += (size_t)snprintf(dst + o, cap - o, "{%s=\"%s\"", dims[d->d0].label, v0);
        sep = ",";
    }
    if (d->d1 != D_NONE) {
        escape(v1, dim_value(m, d->d1, b));
        o += (size_t)snprintf(dst + o, cap - o, ",%s=\"%s\"", dims[d->d1].label, v1);
    }
    if (le) {
        o += (size_t)snprintf(dst + o, cap - o, "%s%sle=\"%s\"", o ? "" : "{", sep, le);
        sep = ",";
    }
    if (o) snprintf(dst + o, cap - o, "}");
}

/* Value i over every block: the sum, or the highest. */
static uint64_t total(const struct metrics *m, size_t i, int max)
{
    uint64_t t = 0;
    for (size_t s = 0; s < m->nblocks; s++) {
        uint64_t v = get(&metrics_block(m, s)[i]);
        t = max ? (v > t ? v : t) : t + v;
    }
    return t;
}

static void render_histogram(const struct metrics *m, const struct def *d, size_t i, struct out *o)
{
    char lab[1400], le[32];
    uint64_t cum = 0;
    for (size_t k = 0; k < METRICS_NBUCKETS; k++) {
        cum += total(m, i + k, 0);
        snprintf(le, sizeof le, "%llu.%06llu", (unsigned long long)(bounds[k] / 1000000),
                 (unsigned long long)(bounds[k] % 1000000));
        /* Trailing zeros off: "0.005", "1.0" -> "1". */
        char *e = le + strlen(le) - 1;
        while (*e == '0')
            *e-- = 0;
        if (*e == '.') *e = 0;
        labels(lab, sizeof lab, m, d, 0, 0, le);
        outf(o, "%s_bucket%s %llu\n", d->name, lab, (unsigned long long)cum);
    }
    uint64_t count = total(m, i + METRICS_NBUCKETS, 0), sum = total(m, i + METRICS_NBUCKETS + 1, 0);
    labels(lab, sizeof lab, m, d, 0, 0, "+Inf");
    outf(o, "%s_bucket%s %llu\n", d->name, lab, (unsigned long long)count);
    outf(o, "%s_sum %llu.%06llu\n", d->name, (unsigned long long)(sum / 1000000),
         (unsigned long long)(sum % 1000000));
    outf(o, "%s_count %llu\n", d->name, (unsigned long long)count);
}

static void render_metric(const struct metrics *m, enum metric_id id, int64_t now, struct out *o)
{
    static const char *const type[] = {"counter", "gauge", "histogram"};
    const struct def *d = &defs[id];
    outf(o, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, type[d->kind]);
    size_t na = dim_n(m, d->d0), nb = dim_n(m, d->d1);
    for (size_t a = 0; a < na; a++) {
        for (size_t b = 0; b < nb; b++) {
            size_t i = series(m, id, a, b);
            if (d->kind == HISTOGRAM) {
                render_histogram(m, d, i, o);
                continue;
            }
            uint64_t v = total(m, i, d->max);
            char lab[1400];
            labels(lab, sizeof lab, m, d, a, b, NULL);
            if (d->show == AS_IS) {
                outf(o, "%s%s %llu\n", d->name, lab, (unsigned long long)v);
            } else if (v) { /* a time not yet set shows no series */
                long long t = (long long)v;
                outf(o, "%s%s %lld\n", d->name, lab, d->show == UNTIL ? t - now : now - t);
            }
        }
    }
}

int metrics_render(const struct metrics *m, int64_t now, moat_buf *out)
{
    struct out o = {out, 0};
    for (int id = 0; id < M__COUNT && !o.err; id++)
        render_metric(m, (enum metric_id)id, now, &o);
    return o.err;
}

/* ---- The process's own block ---- */

static const struct metrics *cur;
static uint64_t *cur_blk;

void metrics_use(const struct metrics *m, size_t slot)
{
    cur = m && m->shm && slot < m->nblocks ? m : NULL;
    cur_blk = cur ? metrics_block(m, slot) : NULL;
}

void metrics_conn_accepted(void)
{
    if (!cur) return;
    metrics_add(cur, cur_blk, M_CONNECTIONS_ACCEPTED, 0, 0, 1);
    metrics_add(cur, cur_blk, M_CONNECTIONS_OPEN, 0, 0, 1);
}

void metrics_count(enum metric_id id, size_t a, size_t b, uint64_t v)
{
    if (cur) metrics_add(cur, cur_blk, id, a, b, v);
}

void metrics_uncount(enum metric_id id, size_t a, size_t b, uint64_t v)
{
    if (cur) metrics_sub(cur, cur_blk, id, a, b, v);
}

void metrics_gauge(enum metric_id id, size_t a, size_t b, uint64_t v)
{
    if (cur) metrics_set(cur, cur_blk, id, a, b, v);
}

void metrics_request(const char *method, size_t len, int status, int64_t start_us, int64_t now_us)
{
    if (!cur) return;
    metrics_add(cur, cur_blk, M_REQUESTS, method ? metrics_method(method, len) : SIZE_MAX,
                metrics_status(status), 1);
    if (start_us > 0 && now_us >= start_us)
        metrics_observe(cur, cur_blk, M_REQUEST_DURATION, (uint64_t)(now_us - start_us));
}

/* Label indexes of the TLS code points (enum GROUP_*, SUITE_*). */
static size_t group_index(uint16_t g)
{
    static const uint16_t code[] = {0x001d, 0x0017, 0x0018, 0x11ec};
    for (size_t i = 0; i < sizeof code / sizeof code[0]; i++)
        if (code[i] == g) return i;
    return SIZE_MAX;
}

static size_t suite_index(uint16_t s)
{
    /* TLS 1.3's three, then TLS 1.2's six in suite_v's order */
    static const uint16_t code[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                    0xc02c, 0xc030, 0xcca9, 0xcca8};
    for (size_t i = 0; i < sizeof code / sizeof code[0]; i++)
        if (code[i] == s) return i;
    return SIZE_MAX;
}

void metrics_handshake(const moat_tls *t)
{
    if (!cur) return;
    metrics_add(cur, cur_blk, M_HANDSHAKES, moat_tls_resumed(t) ? OUTCOME_RESUMED : OUTCOME_FULL, 0,
                1);
    metrics_add(cur, cur_blk, M_TLS_VERSIONS,
                moat_tls_get_version(t) == 0x0303 ? VERSION_TLS12 : VERSION_TLS13, 0, 1);
    uint16_t g = moat_tls_get_group(t); /* 0 after a psk_ke resumption: no group */
    if (g) metrics_add(cur, cur_blk, M_TLS_GROUPS, group_index(g), 0, 1);
    metrics_add(cur, cur_blk, M_TLS_SUITES, suite_index(moat_tls_get_cipher(t)), 0, 1);
}

void metrics_handshake_failed(int r)
{
    if (!cur) return;
    metrics_add(cur, cur_blk, M_HANDSHAKES, OUTCOME_FAILED, 0, 1);
    /* MOAT_ERR_ALERT(desc) is -(0x100 + desc); any other failure is a
     * malformed or cut connection, counted as "other". */
    int desc = r <= -0x100 && r >= -0x1ff ? -r - 0x100 : -1;
    metrics_add(cur, cur_blk, M_HANDSHAKE_FAILURES, metrics_alert(desc), 0, 1);
}

/* ---- /metrics over plain HTTP/1.1, answered by the master ---- */

#define ANSWER_MS 2000   /* a scrape must send its request and take the answer in this */
#define REQUEST_MAX 8192 /* bytes of a scrape's request head */

/* Sends all of b before deadline. */
static void send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n) {
        int64_t left = deadline - core_mono_ms();
        struct pollfd pf = {fd, POLLOUT, 0};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) return;
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

void metrics_answer(const struct metrics *m, int fd)
{
    int64_t deadline = core_mono_ms() + ANSWER_MS;
    char req[REQUEST_MAX];
    size_t got = 0;
    moat_http_request r;
    int n = 0;
    while (n == 0 && got < sizeof req) {
        int64_t left = deadline - core_mono_ms();
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) return; /* too slow: closed unanswered */
        ssize_t k = recv(fd, req + got, sizeof req - got, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (k <= 0) return;
        got += (size_t)k;
        n = moat_http_parse_request(req, got, &r);
    }
    moat_buf out, body;
    moat_buf_init(&out);
    moat_buf_init(&body);
    int head_only = n > 0 && r.method_len == 4 && memcmp(r.method, "HEAD", 4) == 0;
    int is_get = n > 0 && r.method_len == 3 && memcmp(r.method, "GET", 3) == 0;
    /* The path, before any query (the target is not NUL-terminated). */
    const char *q = n > 0 ? memchr(r.target, '?', r.target_len) : NULL;
    size_t plen = n <= 0 ? 0 : q ? (size_t)(q - r.target) : r.target_len;
    int status = n == 0 ? 431 : n < 0 ? -n : !is_get && !head_only ? 405 : 200;
    if (status == 200 && !(plen == 8 && memcmp(r.target, "/metrics", 8) == 0)) status = 404;
    if (status == 200 && metrics_render(m, (int64_t)time(NULL), &body) < 0) status = 500;
    if (status == 200) {
        char date[30];
        moat_http_date(time(NULL), date);
        int e = moat_http_write_status(&out, 200);
        e = e ? e : moat_http_write_header(&out, "Date", "%s", date);
        e = e ? e : moat_http_write_header(&out, "Server", "moat");
        e = e ? e : moat_http_write_header(&out, "Content-Type", "%s", METRICS_CONTENT_TYPE);
        e = e ? e : moat_http_write_header(&out, "Content-Length", "%zu", body.len);
        e = e ? e : moat_http_write_header(&out, "Connection", "close");
        e = e ? e : moat_buf_append(&out, "\r\n", 2);
        if (!head_only) e = e ? e : moat_buf_append(&out, body.base, body.len);
        if (e) {
            moat_buf_clear(&out);
            status = 500;
        }
    }
    if (status != 200) server_error(&out, status, head_only, 1);
    send_all(fd, out.base, out.len, deadline);
    /* Unread input would turn the close into a reset that destroys the
     * answer in flight (a 431 to a head too long): our side is shut, and
     * the client's bytes read until its FIN, within the same deadline. */
    shutdown(fd, SHUT_WR);
    for (size_t drained = 0; drained < 1 << 20;) {
        int64_t left = deadline - core_mono_ms();
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) break;
        ssize_t k = recv(fd, req, sizeof req, MSG_DONTWAIT);
        if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EINTR))) break;
        drained += k > 0 ? (size_t)k : 0;
    }
    moat_buf_free(&out);
    moat_buf_free(&body);
}

int metrics_cert_info(const char *path, char *name, size_t n, int64_t *not_after)
{
    size_t len = 0, dlen = 0;
    uint8_t *der = NULL;
    char *pem = (char *)core_read_file(path, 1 << 20, &len);
    int r = pem ? crypto_jose_pem_to_der(pem, len, &der, &dlen) : MOAT_ERR_ARG;
    free(pem);
    struct moat_x509_info info;
    if (r == 0) r = crypto_x509_not_after(der, dlen, not_after);
    if (r == 0) r = crypto_x509_describe(der, dlen, &info) < 0 ? MOAT_ERR_ARG : 0;
    free(der);
    if (r) return r;
    /* The first DNS name of the subjectAltName, else the subject. */
    const char *dns = strstr(info.sans, "DNS:");
    if (dns) {
        dns += 4;
        snprintf(name, n, "%.*s", (int)strcspn(dns, ", "), dns);
    } else {
        snprintf(name, n, "%s", info.subject);
    }
    return 0;
}
