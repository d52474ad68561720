/* moat get: the transfers. Connect, TLS handshake, send the request, read
 * the response head and body (Content-Length, chunked, or until close) and
 * write them out, telling truncation from a clean end; follow redirects
 * with -L, reusing the connection when the origin stays the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "core/clock.h"
#include "core/exit.h"
#include "core/file.h"
#include "client/net.h"
#include "crypto/crypto.h"
#include "http/reader.h"
#include "moat/http.h"

#define READ_CHUNK 65536
#define SEND_CHUNK 65536
#define MAX_REDIRECTS 20
#define MAX_CERTS 10
/* exchange() result: a reused connection died before answering; retry. */
#define STALE (-100)

/* One connection: socket, TLS, what the observer collected. */
struct conn {
    int fd;
    moat_tls *t;
    char host[256];
    int port;
    int reusable;              /* the last response left it usable for another */
    int used;                  /* it has carried a request already */
    moat_buf certs[MAX_CERTS]; /* the peer's chain, DER, for -v */
    size_t ncerts;
    moat_buf staple;      /* the OCSP response stapled to the leaf, DER, for -v and -k */
    char unverified[700]; /* -k: why the chain would have been refused; "" if not */
    struct moat_explain *ex;
    int explained; /* the handshake part of --explain has been shown */
};

struct xfer {
    struct moat_get_opts *o;
    const moat_tls_config *cfg;
    const struct moat_url *u; /* the URL of the current request */
    struct conn c;
    moat_buf out;     /* records to send */
    moat_buf app;     /* decrypted bytes not yet used */
    moat_buf decoded; /* chunked body decoded, not yet written */
    int64_t start, deadline;
    FILE *sink; /* stdout or -o FILE, opened on first output */
    int write_failed;
    /* -w and -v: the last connection's and request's times since start */
    int64_t start_us, t_lookup, t_connect, t_app, t_first, t_sent; /* microseconds */
    int http_code;
    uint64_t size_download;
    int verify_result; /* -w ssl_verify_result: 0 verified (or would be, with -k), 1 not */
    int send_failed;   /* the body could not all be sent: the server may have answered early */
    /* progress bar with -o on a terminal */
    int progress;
    int64_t prog_last;
    uint64_t prog_total; /* 0 when unknown */
    int prog_shown;
};

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

/* "HOST" or "[v6]", with ":PORT" unless it is 443, as browsers show it. */
static void origin_of(const char *host, int port, char *out, size_t n)
{
    int v6 = strchr(host, ':') != NULL;
    if (port != 443)
        snprintf(out, n, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    else
        snprintf(out, n, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
}

static void origin(const struct moat_url *u, char *out, size_t n)
{
    origin_of(u->host, u->port, out, n);
}

/* "https://café.test/ (xn--caf-dma.test)" for messages: the origin as
 * the user wrote it, and the A-labels when they differ. */
static void shown_origin(const struct moat_url *u, char *out, size_t n)
{
    char o[300];
    origin_of(u->unicode[0] ? u->unicode : u->host, u->port, o, sizeof o);
    if (u->unicode[0])
        snprintf(out, n, "https://%s/ (%s)", o, u->name);
    else
        snprintf(out, n, "https://%s/", o);
}

static int flush_tls(struct xfer *x, int64_t deadline)
{
    if (!x->out.len) return 0;
    int r = client_send_all(x->c.fd, x->out.base, x->out.len, deadline);
    moat_buf_clear(&x->out);
    return r;
}

static void human(double v, char *out, size_t n)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* The progress bar: bytes, rate and time left, redrawn at most 5 times a
 * second (and once more at the end). */
static void progress(struct xfer *x, int last)
{
    int64_t now = core_mono_ms();
    if (!x->progress || (!last && now - x->prog_last < 200)) return;
    x->prog_last = now;
    double secs = (double)(core_mono_us() - x->start_us - x->t_first) / 1e6;
    double rate = (double)x->size_download / (secs > 0.001 ? secs : 0.001);
    char got[32], tot[32], rt[32], left[32] = "";
    human((double)x->size_download, got, sizeof got);
    human(rate, rt, sizeof rt);
    char bar[24];
    if (x->prog_total) {
        human((double)x->prog_total, tot, sizeof tot);
        int pct = (int)(100.0 * (double)x->size_download / (double)x->prog_total);
        if (pct > 100) pct = 100;
        int fill = pct / 5;
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        if (secs > 0.2 && !last) {
            long s = (long)((double)(x->prog_total - x->size_download) / rate);
            snprintf(left, sizeof left, ", %ld:%02ld left", s / 60, s % 60);
        }
        fprintf(stderr, "\r[%s] %3d%% %s of %s, %s/s%s   ", bar, pct, got, tot, rt, left);
    } else {
        fprintf(stderr, "\r%s, %s/s   ", got, rt);
    }
    if (last) fprintf(stderr, "in %.2f s\n", secs);
    x->prog_shown = 1;
}

static int emit(struct xfer *x, const void *p, size_t n, int body)
{
    if (x->write_failed || n == 0) return x->write_failed ? -1 : 0;
    if (!x->sink) {
        x->sink = x->o->output ? fopen(x->o->output, "wb") : stdout;
        if (!x->sink) {
            fprintf(stderr, "moat: cannot write %s: %s\n", x->o->output, strerror(errno));
            x->write_failed = 1;
            return -1;
        }
    }
    if (fwrite(p, 1, n, x->sink) != n) {
        fprintf(stderr, "moat: write error on %s: %s\n", x->o->output ? x->o->output : "stdout",
                strerror(errno));
        x->write_failed = 1;
        return -1;
    }
    if (body) {
        x->size_download += n;
        progress(x, 0);
    }
    return 0;
}

static int timeout_exit(struct xfer *x, const char *what)
{
    if (x->c.ex && !x->c.explained) {
        client_explain_handshake_done(x->c.ex, x->c.t, 0);
        x->c.explained = 1;
    }
    fprintf(stderr, "moat: timed out %s %s\n", what, x->u->shown);
    return GET_EXIT_OPERATION_TIMEDOUT;
}

/* The observer: keeps the peer's certificates and staple for -v and -k,
 * and passes every event on to --explain. */
static void observe(void *arg, int event, const uint8_t *data, size_t len, int info)
{
    struct conn *c = arg;
    if (event == MOAT_EV_PEER_CERT && c->ncerts < MAX_CERTS) {
        moat_buf_init(&c->certs[c->ncerts]);
        if (moat_buf_append(&c->certs[c->ncerts], data, len) == 0) c->ncerts++;
    }
    if (event == MOAT_EV_PEER_STAPLE) {
        moat_buf_clear(&c->staple);
        moat_buf_append(&c->staple, data, len);
    }
    if (c->ex) client_explain_observe(c->ex, event, data, len, info);
}

/* -k: the judgement the handshake skipped, made on the chain it received
 * with the trust it would have used, for -w ssl_verify_result and -v.
 * Returns 0 when the chain would have been accepted. */
static int judge_insecure(struct xfer *x)
{
    struct conn *c = &x->c;
    c->unverified[0] = 0;
    if (!x->o->check_trust || !c->ncerts) {
        snprintf(c->unverified, sizeof c->unverified, "%s",
                 c->ncerts ? "no trust store to check it with" : "no certificate was sent");
        return 1;
    }
    const uint8_t *ders[MAX_CERTS];
    size_t lens[MAX_CERTS];
    for (size_t i = 0; i < c->ncerts; i++) {
        ders[i] = c->certs[i].base;
        lens[i] = c->certs[i].len;
    }
    moat_verdict v;
    int r = crypto_verify_chain(x->o->check_trust, ders, lens, c->ncerts, x->u->name,
                                (int64_t)time(NULL), 0, c->staple.len ? c->staple.base : NULL,
                                c->staple.len, &v);
    if (r)
        snprintf(c->unverified, sizeof c->unverified, "%s (%s)", v.reason[0] ? v.reason : "refused",
                 v.code ? v.code : "?");
    return r ? 1 : 0;
}

/* --explain: show the handshake part once, before any failure message. */
static void explain_done(struct xfer *x, int ok)
{
    if (x->c.ex && !x->c.explained) client_explain_handshake_done(x->c.ex, x->c.t, ok);
    x->c.explained = 1;
}

static int handshake_fail(struct xfer *x, int status, const char *fmt, const char *a, const char *b)
{
    explain_done(x, 0);
    fprintf(stderr, fmt, a, b);
    return status;
}

static int handshake(struct xfer *x, int64_t deadline)
{
    uint8_t buf[READ_CHUNK];
    int r = moat_tls_start(x->c.t, &x->out);
    if (r == 0 && flush_tls(x, deadline) == -2) return timeout_exit(x, "in the TLS handshake with");
    for (int i = 0; r == 0 && !moat_tls_handshake_done(x->c.t) && i < 100000; i++) {
        ssize_t n = client_recv_some(x->c.fd, buf, sizeof buf, deadline);
        if (n == -2) return timeout_exit(x, "in the TLS handshake with");
        if (n <= 0)
            return handshake_fail(x, GET_EXIT_SSL_CONNECT_ERROR,
                                  "moat: TLS handshake with %s failed: %s\n", x->u->shown,
                                  n == 0 ? "the server closed the connection" : strerror(errno));
        r = moat_tls_recv(x->c.t, buf, (size_t)n, &x->out, &x->app);
        /* Send what the engine produced, the fatal alert included. */
        if (flush_tls(x, deadline) == -2 && r == 0)
            return timeout_exit(x, "in the TLS handshake with");
    }
    if (r < 0 || !moat_tls_handshake_done(x->c.t)) {
        const char *why = moat_tls_verify_error(x->c.t);
        explain_done(x, 0);
        if (why) {
            char o[600];
            shown_origin(x->u, o, sizeof o);
            const char *code = moat_tls_verify_code(x->c.t);
            fprintf(stderr, "moat: refused %s: %s (%s)\n", o, why, code ? code : "?");
            return GET_EXIT_PEER_FAILED_VERIFICATION;
        }
        const char *refusal = moat_tls_refusal(x->c.t);
        fprintf(stderr, "moat: TLS handshake with %s failed: %s%s%s\n", x->u->shown,
                moat_strerror(r), refusal ? ": " : "", refusal ? refusal : "");
        return GET_EXIT_SSL_CONNECT_ERROR;
    }
    return 0;
}

static void verbose_tls(struct xfer *x, const char *addr)
{
    moat_tls *t = x->c.t;
    const char *alpn = moat_tls_get_alpn(t);
    fprintf(stderr, "* connected to %s (%s) port %d\n", x->u->shown, addr, x->u->port);
    fprintf(stderr, "* protocol: %s%s\n", moat_tls_version_name(moat_tls_get_version(t)),
            moat_tls_did_hrr(t) ? " (after a HelloRetryRequest)" : "");
    fprintf(stderr, "* cipher: %s\n", moat_tls_cipher_name(moat_tls_get_cipher(t)));
    fprintf(stderr, "* group: %s\n", moat_tls_group_name(moat_tls_get_group(t)));
    if (moat_tls_resumed(t))
        fprintf(stderr, "* signature: none (resumed: the server proved itself with the ticket)\n");
    else
        fprintf(stderr, "* signature: %s\n", moat_tls_sigscheme_name(moat_tls_get_sigscheme(t)));
    fprintf(stderr, "* ALPN: %s\n", alpn ? alpn : "none");
    fprintf(stderr, "* resumed: %s\n",
            moat_tls_resumed(t) ? "yes (session ticket accepted)" : "no (full handshake)");
    char st[400] = "";
    if (x->c.staple.len)
        crypto_ocsp_describe(x->c.staple.base, x->c.staple.len, (int64_t)time(NULL), st, sizeof st);
    if (!x->c.staple.len)
        fprintf(stderr, "* OCSP stapled: no\n");
    else if (x->o->insecure)
        fprintf(stderr, "* OCSP stapled: yes (not enforced, -k): %s\n", st);
    else if (moat_tls_ocsp_ignored(t))
        fprintf(stderr, "* OCSP stapled: yes, but ignored: %s (it says: %s)\n",
                moat_tls_ocsp_ignored(t), st);
    else
        fprintf(stderr, "* OCSP stapled: yes (checked): %s\n", st);
    if (x->c.ncerts) client_print_chain(stderr, x->c.certs, x->c.ncerts);
    if (x->o->insecure && x->c.unverified[0])
        fprintf(stderr, "* certificate: NOT verified (-k); it would have been refused: %s\n",
                x->c.unverified);
    else if (x->o->insecure)
        fprintf(stderr, "* certificate: NOT verified (-k); it would have passed\n");
    else if (moat_tls_resumed(t))
        fprintf(stderr, "* certificate: verified for %s when the session began\n", x->u->shown);
    else
        fprintf(stderr, "* certificate: verified for %s\n", x->u->shown);
}

/* Prints each line of a head to stderr behind a marker ("> " or "< "). */
static void verbose_head(const char *mark, const char *p, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n') {
            if (i > s) fprintf(stderr, "%s%.*s\n", mark, (int)(i - s), p + s);
            s = i + 2;
            i++;
        }
    }
}

static void session_load(struct xfer *x)
{
    const char *path = x->o->session;
    if (!path) return;
    size_t n = 0;
    uint8_t *buf = core_read_file(path, 65536, &n);
    if (!buf && errno != EFBIG) return; /* none yet: a full handshake, saved afterwards */
    if ((!buf || (n && moat_tls_set_session(x->c.t, buf, n) < 0)) && !x->o->silent)
        fprintf(stderr, "moat: warning: --session %s is damaged; not resuming\n", path);
    if (buf) moat_wipe(buf, n);
    free(buf);
}

/* Writes the latest ticket, 0600, atomically (it is a secret: never left
 * half-written or readable by others). */
static void session_save(struct xfer *x)
{
    const char *path = x->o->session;
    if (!path || !x->c.t) return;
    moat_buf s;
    moat_buf_init(&s);
    if (moat_tls_get_session(x->c.t, &s) == 0 && s.len) {
        char err[256];
        if (core_write_file_atomic(path, s.base, s.len, 0600, err, sizeof err) == 0) {
            if (x->o->verbose) fprintf(stderr, "* session saved to %s\n", path);
        } else {
            fprintf(stderr, "moat: warning: cannot save the session to %s: %s\n", path,
                    strerror(errno));
        }
    }
    if (s.base) moat_wipe(s.base, s.cap);
    moat_buf_free(&s);
}

static void conn_close(struct xfer *x)
{
    struct conn *c = &x->c;
    if (c->t) {
        session_save(x);
        if (c->fd >= 0 && !moat_tls_peer_closed(c->t) && moat_tls_handshake_done(c->t) &&
            moat_tls_close(c->t, &x->out) == 0)
            flush_tls(x, core_mono_ms() + 1000);
    }
    if (c->ex) {
        client_explain_finish(c->ex);
        client_explain_free(c->ex);
    }
    moat_tls_free(c->t);
    if (c->fd >= 0) close(c->fd);
    for (size_t i = 0; i < c->ncerts; i++)
        moat_buf_free(&c->certs[i]);
    moat_buf_free(&c->staple);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    moat_buf_clear(&x->out);
    moat_buf_clear(&x->app);
}

static int conn_open(struct xfer *x)
{
    const struct moat_url *u = x->u;
    struct conn *c = &x->c;
    int64_t t0 = core_mono_ms(), looked = 0;
    int64_t hs_deadline = min_deadline(x->deadline, t0 + (int64_t)(x->o->connect_timeout * 1000));
    int status = 0;
    char addr[64] = "?";
    c->fd = client_connect(u->host, u->shown, u->port, x->o->resolve, hs_deadline, addr,
                           sizeof addr, &status, &looked);
    x->t_lookup = (looked ? looked : core_mono_us()) - x->start_us;
    if (c->fd < 0) return status;
    x->t_connect = core_mono_us() - x->start_us;
    snprintf(c->host, sizeof c->host, "%s", u->host);
    c->port = u->port;
    c->t = moat_tls_client_new(x->cfg, u->name);
    if (!c->t) {
        fprintf(stderr, "moat: cannot start TLS (out of memory)\n");
        return 1;
    }
    if (x->o->explain) {
        const char *trust = x->o->insecure ? NULL
                            : x->o->capath ? x->o->capath
                            : x->o->cacert ? x->o->cacert
                                           : "the system trust store";
        c->ex = client_explain_new(stderr, u->shown, u->port, trust);
    }
    moat_tls_set_observer(c->t, observe, c);
    session_load(x);
    x->verify_result = 1;
    status = handshake(x, hs_deadline);
    explain_done(x, status == 0);
    if (status) return status;
    x->verify_result = x->o->insecure ? judge_insecure(x) : 0;
    x->t_app = core_mono_us() - x->start_us;
    if (x->o->verbose) verbose_tls(x, addr);
    return 0;
}

/* The header named like the start of h ("Name: value"), in -H? */
static const char *user_header(const struct moat_get_opts *o, const char *name, int skip_auth)
{
    size_t n = strlen(name);
    for (int i = 0; i < o->nheaders; i++) {
        const char *h = o->headers[i];
        if (skip_auth &&
            (strncasecmp(h, "authorization:", 14) == 0 || strncasecmp(h, "cookie:", 7) == 0))
            continue;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') return h;
    }
    return NULL;
}

static int add_line(moat_buf *b, const char *fmt, const char *a, const char *v)
{
    char line[9000];
    int n = snprintf(line, sizeof line, fmt, a, v);
    if (n < 0 || (size_t)n >= sizeof line) return -1;
    return moat_buf_append(b, line, (size_t)n);
}

/* Default headers unless -H names them ("Name:" alone removes one). */
static int add_default(moat_buf *b, const struct moat_get_opts *o, const char *name,
                       const char *value)
{
    if (user_header(o, name, 0)) return 0;
    return add_line(b, "%s: %s\r\n", name, value);
}

static int send_request(struct xfer *x, const char *method, int with_body, int cross_origin)
{
    const struct moat_url *u = x->u;
    const struct moat_get_opts *o = x->o;
    char host[300], len[32];
    origin(u, host, sizeof host);
    moat_buf req;
    moat_buf_init(&req);
    int bad = add_line(&req, "%s %s HTTP/1.1\r\n", method, u->path) < 0 ||
              add_default(&req, o, "Host", host) < 0 ||
              add_default(&req, o, "User-Agent", "moat/0.1") < 0 ||
              add_default(&req, o, "Accept", "*/*") < 0;
    if (with_body) {
        snprintf(len, sizeof len, "%zu", o->data.len);
        if (o->data_form)
            bad |= add_default(&req, o, "Content-Type", "application/x-www-form-urlencoded") < 0;
        bad |= add_default(&req, o, "Content-Length", len) < 0;
    }
    if (!o->follow) bad |= add_default(&req, o, "Connection", "close") < 0;
    for (int i = 0; i < o->nheaders && !bad; i++) {
        const char *h = o->headers[i], *c = strchr(h, ':');
        if (cross_origin &&
            (strncasecmp(h, "authorization:", 14) == 0 || strncasecmp(h, "cookie:", 7) == 0))
            continue; /* not handed to another site on a redirect, as curl */
        if (strncasecmp(h, "content-length:", 15) == 0 && with_body) continue;
        const char *v = c + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!*v) continue; /* "Name:" removes the default */
        bad |= moat_buf_append(&req, h, strlen(h)) < 0 || moat_buf_append(&req, "\r\n", 2) < 0;
    }
    bad |= moat_buf_append(&req, "\r\n", 2) < 0;
    if (bad) {
        moat_buf_free(&req);
        fprintf(stderr, "moat: request head too long\n");
        return GET_EXIT_URL_MALFORMAT;
    }
    if (o->verbose) verbose_head("> ", (const char *)req.base, req.len);
    if (x->c.ex) {
        size_t l = strcspn((const char *)req.base, "\r");
        char line[200];
        snprintf(line, sizeof line, "%.*s", (int)(l < 190 ? l : 190), (const char *)req.base);
        client_explain_request(x->c.ex, line, with_body ? o->data.len : 0);
    }
    int r = moat_tls_send(x->c.t, &x->out, req.base, req.len);
    moat_buf_free(&req);
    if (r == 0) r = flush_tls(x, x->deadline);
    x->send_failed = 0;
    for (size_t off = 0; r == 0 && with_body && off < o->data.len; off += SEND_CHUNK) {
        size_t n = o->data.len - off < SEND_CHUNK ? o->data.len - off : SEND_CHUNK;
        r = moat_tls_send(x->c.t, &x->out, o->data.base + off, n);
        if (r == 0) r = flush_tls(x, x->deadline);
        if (r == -1) {
            /* A server may answer (a redirect, 413) and close before it
             * has read the body: look for that answer before failing. */
            x->send_failed = 1;
            x->c.reusable = 0;
            moat_buf_clear(&x->out);
            r = 0;
            break;
        }
    }
    x->t_sent = core_mono_us() - x->start_us;
    if (r == -2) return timeout_exit(x, "sending to");
    if (r < 0) {
        if (x->c.used) return STALE;
        fprintf(stderr, "moat: failure sending the request to %s\n", u->shown);
        return GET_EXIT_SEND_ERROR;
    }
    return 0;
}

/* Reads more application data into x->app. Returns 0 with data, 1 on
 * close_notify, or an exit status: 18 for a connection that ended without
 * close_notify (the rest may have been cut off), 28, 56. */
static int read_more(struct xfer *x)
{
    uint8_t buf[READ_CHUNK];
    for (int i = 0; i < 100000; i++) {
        if (moat_tls_peer_closed(x->c.t)) return 1;
        ssize_t n = client_recv_some(x->c.fd, buf, sizeof buf, x->deadline);
        if (n == -2) return timeout_exit(x, "receiving from");
        if (n < 0) {
            if (errno == ECONNRESET) return GET_EXIT_PARTIAL_FILE;
            fprintf(stderr, "moat: failure receiving data from %s: %s\n", x->u->shown,
                    strerror(errno));
            return GET_EXIT_RECV_ERROR;
        }
        if (n == 0) return GET_EXIT_PARTIAL_FILE;
        size_t before = x->app.len;
        int r = moat_tls_recv(x->c.t, buf, (size_t)n, &x->out, &x->app);
        flush_tls(x, x->deadline);
        if (r < 0) {
            fprintf(stderr, "moat: failure receiving data from %s: %s\n", x->u->shown,
                    moat_strerror(r));
            return GET_EXIT_RECV_ERROR;
        }
        if (x->app.len > before) return 0;
    }
    return GET_EXIT_RECV_ERROR;
}

static int truncated(struct xfer *x, const char *how)
{
    fprintf(stderr, "moat: the response from %s was cut off: %s\n", x->u->shown, how);
    return GET_EXIT_PARTIAL_FILE;
}

struct answer {
    int status;
    char location[8192]; /* "" when none */
};

static int is_redirect(int s)
{
    return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

/* Reads until the final response head is at the start of x->app (interim
 * 1xx heads dropped, shown with -v). Returns 0 with its length in *hl,
 * STALE, or an exit status. */
static int read_head(struct xfer *x, http_reader *rd, moat_http_response *resp, size_t *hl)
{
    x->t_first = 0;
    for (int i = 0; i < 100000; i++) {
        if (x->app.len && !x->t_first) x->t_first = core_mono_us() - x->start_us;
        int h = http_reader_head(rd, x->app.base, x->app.len, resp, hl);
        if (h == HTTP_HEAD_BAD) {
            fprintf(stderr, "moat: malformed HTTP response from %s\n", x->u->shown);
            return GET_EXIT_WEIRD_SERVER_REPLY;
        }
        if (h == HTTP_HEAD_FINAL) return 0;
        if (h == HTTP_HEAD_INTERIM) {
            if (x->o->verbose) verbose_head("< ", (const char *)x->app.base, *hl);
            moat_buf_consume(&x->app, *hl);
            continue;
        }
        int r = read_more(x);
        if ((r == 1 || r == 18) && x->c.used && x->app.len == 0) return STALE;
        if (r == 1 || r == 18) return truncated(x, "the connection ended before the response head");
        if (r) return r;
    }
    return GET_EXIT_RECV_ERROR;
}

/* What the final head says, for the caller and the user: the status and
 * Location into a, -v, --explain, -f, -i and -I. Returns 0 or an exit
 * status. */
static int take_head(struct xfer *x, const moat_http_response *resp, size_t hl, struct answer *a)
{
    a->status = x->http_code = resp->status;
    a->location[0] = '\0';
    const moat_http_header *loc = moat_http_find_header(&resp->f, "Location");
    if (loc && loc->value_len < sizeof a->location) {
        memcpy(a->location, loc->value, loc->value_len);
        a->location[loc->value_len] = '\0';
    }
    x->c.reusable = resp->f.keep_alive;
    if (x->o->verbose) verbose_head("< ", (const char *)x->app.base, hl);
    if (x->c.ex) {
        size_t l = strcspn((const char *)x->app.base, "\r");
        char line[200];
        snprintf(line, sizeof line, "%.*s", (int)(l < 190 ? l : 190), (const char *)x->app.base);
        client_explain_response(x->c.ex, line,
                                resp->f.content_length >= 0 ? (uint64_t)resp->f.content_length : 0);
    }
    if (x->o->fail && resp->status >= 400) {
        fprintf(stderr, "moat: the server answered %d %.*s for https://", resp->status,
                (int)resp->reason_len, resp->reason);
        char o[300];
        origin(x->u, o, sizeof o);
        fprintf(stderr, "%s%s\n", o, x->u->path);
        x->c.reusable = 0;
        return GET_EXIT_HTTP_RETURNED_ERROR;
    }
    if ((x->o->include || x->o->head) && emit(x, x->app.base, hl, 0) < 0)
        return GET_EXIT_WRITE_ERROR;
    return 0;
}

/* The exit status of a body the connection ended: r is read_more's 1
 * (close_notify) or 18 (no close_notify). */
static int body_cut(struct xfer *x, const http_body *b, int r)
{
    char how[96];
    if (r == 1) {
        x->c.reusable = 0;
        if (b->framing == HTTP_BODY_CLOSE) return 0;
        if (b->framing == HTTP_BODY_LENGTH)
            snprintf(how, sizeof how, "%llu bytes of the body never came",
                     (unsigned long long)b->left);
        else
            snprintf(how, sizeof how, "the chunked body never ended");
        return truncated(x, how);
    }
    if (b->framing == HTTP_BODY_LENGTH) {
        snprintf(how, sizeof how, "the connection closed with %llu bytes of the body still to come",
                 (unsigned long long)b->left);
        return truncated(x, how);
    }
    return truncated(x, "the connection ended without TLS close_notify");
}

/* Pumps the body out of x->app and the connection, to the output when out.
 * Each turn uses what has arrived, then reads more; bounded by the data: a
 * turn without new bytes ends the transfer. */
static int read_body(struct xfer *x, http_body *b, int out)
{
    while (!b->done) {
        http_piece p;
        int r = http_body_feed(b, x->app.base, x->app.len, &x->decoded, &p);
        if (out && emit(x, p.data, p.len, 1) < 0) return GET_EXIT_WRITE_ERROR;
        moat_buf_consume(&x->app, p.used);
        moat_buf_clear(&x->decoded);
        if (r < 0) { /* HTTP_BODY_BAD, or out of memory */
            fprintf(stderr, "moat: malformed chunked body from %s\n", x->u->shown);
            return GET_EXIT_RECV_ERROR;
        }
        if (b->done) break;
        r = read_more(x);
        if (r == 1 && b->framing == HTTP_BODY_CLOSE) {
            x->c.reusable = 0;
            break;
        }
        if (r == 1 || r == 18) return body_cut(x, b, r);
        if (r) return r;
    }
    return 0;
}

/* Reads the response head (skipping 1xx interim responses) and body; a
 * redirect's body is read and dropped when it will be followed. */
static int read_response(struct xfer *x, const char *method, struct answer *a)
{
    http_reader rd;
    moat_http_response resp;
    size_t hl = 0;
    http_reader_init(&rd, strcmp(method, "HEAD") == 0);
    int r = read_head(x, &rd, &resp, &hl);
    if (r == 0) r = take_head(x, &resp, hl, a);
    if (r) return r;
    int follow = x->o->follow && is_redirect(resp.status) && a->location[0];
    if (rd.body.framing == HTTP_BODY_CLOSE) x->c.reusable = 0;
    moat_buf_consume(&x->app, hl);
    if (follow && !x->c.reusable) return 0; /* the body is not wanted */
    int out = !follow;
    x->size_download = 0;
    x->prog_total = rd.body.framing == HTTP_BODY_LENGTH ? rd.body.left : 0;
    x->progress = out && x->o->output && !x->o->silent && isatty(2);
    r = read_body(x, &rd.body, out);
    if (r) return r;
    if (x->progress) progress(x, 1);
    if (x->app.len || moat_tls_peer_closed(x->c.t)) x->c.reusable = 0;
    return 0;
}

/* -w FORMAT: %{name} variables and \n \t \r \\ escapes, to stdout. */
static void write_out(struct xfer *x, int64_t end)
{
    const char *f = x->o->writeout;
    FILE *w = stdout;
    for (const char *p = f; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            fputc(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p, w);
        } else if (*p == '%' && p[1] == '%') {
            fputc('%', w);
            p++;
        } else if (*p == '%' && p[1] == '{' && strchr(p, '}')) {
            const char *e = strchr(p, '}');
            char name[64];
            size_t n = (size_t)(e - p - 2);
            snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p + 2);
            double t = -1;
            if (strcmp(name, "time_namelookup") == 0)
                t = (double)x->t_lookup;
            else if (strcmp(name, "time_connect") == 0)
                t = (double)x->t_connect;
            else if (strcmp(name, "time_appconnect") == 0)
                t = (double)x->t_app;
            else if (strcmp(name, "time_starttransfer") == 0)
                t = (double)x->t_first;
            else if (strcmp(name, "time_total") == 0)
                t = (double)(end - x->start_us);
            if (t >= 0)
                fprintf(w, "%.6f", t / 1e6);
            else if (strcmp(name, "http_code") == 0 || strcmp(name, "response_code") == 0)
                fprintf(w, "%03d", x->http_code);
            else if (strcmp(name, "size_download") == 0)
                fprintf(w, "%llu", (unsigned long long)x->size_download);
            else if (strcmp(name, "ssl_verify_result") == 0)
                fprintf(w, "%d", x->verify_result);
            else if (strcmp(name, "url_effective") == 0)
                fprintf(w, "https://%s%s", x->u->host, x->u->path);
            else
                fprintf(w, "%%{%s}", name);
            p = e;
        } else {
            fputc(*p, w);
        }
    }
    fflush(w);
}

static int same_origin(const struct conn *c, const struct moat_url *u)
{
    return c->t && c->port == u->port && strcasecmp(c->host, u->host) == 0;
}

/* One request and its response on the connection to x->u's origin (a
 * kept one when it may be reused), once more on a new connection when a
 * reused one turns out closed. Returns an exit status. */
static int exchange(struct xfer *x, const char *method, int with_body, int cross_origin,
                    struct answer *a)
{
    const struct moat_url *u = x->u;
    int status = 0;
    if (x->c.t && (!x->c.reusable || !same_origin(&x->c, u))) conn_close(x);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!x->c.t && (status = conn_open(x))) break;
        if (x->c.used && x->o->verbose)
            fprintf(stderr, "* reusing the connection to %s\n", u->shown);
        status = send_request(x, method, with_body, cross_origin);
        if (status == 0) status = read_response(x, method, a);
        if (status && status != STALE && x->send_failed) {
            fprintf(stderr, "moat: failure sending the request body to %s\n", u->shown);
            status = 55;
        }
        if (status == 0 && x->send_failed) x->c.reusable = 0;
        x->c.used = 1;
        if (status != STALE) break;
        conn_close(x); /* the server closed an idle connection: once more */
    }
    if (status == STALE) {
        fprintf(stderr, "moat: the server closed the connection to %s\n", u->shown);
        status = 56;
    }
    return status;
}

/* The URL a followed redirect leads to, into url (8400 bytes), and the
 * method and body it is sent with. Returns 0 or an exit status. */
static int redirect_to(const struct moat_get_opts *o, const struct moat_url *u,
                       const struct answer *a, int hops, char *url, const char **method,
                       int *with_body)
{
    char err[512];
    if (hops == MAX_REDIRECTS) {
        fprintf(stderr, "moat: stopped after %d redirects (the last to %s)\n", MAX_REDIRECTS,
                a->location);
        return GET_EXIT_TOO_MANY_REDIRECTS;
    }
    static char next[8400];
    int status =
        client_url_resolve(u, a->location, strlen(a->location), next, sizeof next, err, sizeof err);
    if (status) {
        fprintf(stderr, "moat: cannot follow the redirect to %s: %s\n", a->location, err);
        return status;
    }
    if (o->verbose) fprintf(stderr, "* following %d to %s\n", a->status, next);
    /* RFC 9110 15.4: 301 and 302 turn POST into GET (as browsers do), 303
     * turns anything but HEAD into GET; 307 and 308 keep both. */
    if (((a->status == 301 || a->status == 302) && strcmp(*method, "POST") == 0) ||
        (a->status == 303 && strcmp(*method, "HEAD") != 0)) {
        *method = "GET";
        *with_body = 0;
    }
    memcpy(url, next, 8400);
    return 0;
}

/* The end of a run: the connection closed, -v timings, the output file
 * closed, -w. Returns the exit status. */
static int finish(struct xfer *x, int status)
{
    const struct moat_get_opts *o = x->o;
    int64_t end = core_mono_us();
    if (x->c.t || x->c.fd >= 0) conn_close(x);
    if (o->verbose)
        fprintf(stderr,
                "* timings: name lookup %.1f ms, connect %.1f ms, TLS %.1f ms, first byte %.1f ms, "
                "total %.1f ms\n",
                (double)x->t_lookup / 1e3, (double)x->t_connect / 1e3, (double)x->t_app / 1e3,
                (double)x->t_first / 1e3, (double)(end - x->start_us) / 1e3);
    if (!x->sink && status == 0 && o->output && !(x->sink = fopen(o->output, "wb"))) {
        fprintf(stderr, "moat: cannot write %s: %s\n", o->output, strerror(errno));
        status = 23;
    }
    if (x->sink && x->sink != stdout && fclose(x->sink) != 0 && status == 0) {
        fprintf(stderr, "moat: write error on %s\n", o->output);
        status = 23;
    }
    if (x->sink == stdout && fflush(stdout) != 0 && status == 0) status = 23;
    if (o->writeout) write_out(x, end);
    moat_buf_free(&x->out);
    moat_buf_free(&x->app);
    moat_buf_free(&x->decoded);
    return status;
}

int client_fetch(struct moat_get_opts *o, const moat_tls_config *cfg)
{
    struct xfer x = {.o = o, .cfg = cfg};
    x.c.fd = -1;
    moat_buf_init(&x.out);
    moat_buf_init(&x.app);
    moat_buf_init(&x.decoded);
    x.start = core_mono_ms();
    x.start_us = core_mono_us();
    if (o->max_time > 0) x.deadline = x.start + (int64_t)(o->max_time * 1000);

    static char url[8400];
    char err[512], first_host[256] = "";
    int first_port = 0;
    snprintf(url, sizeof url, "%s", o->url);
    const char *method = o->method ? o->method : o->head ? "HEAD" : o->has_data ? "POST" : "GET";
    int with_body = o->has_data;
    struct moat_url u;
    struct answer a;
    int status = 0;
    for (int hops = 0;; hops++) {
        status = client_url_parse(url, &u, err, sizeof err);
        if (status) {
            fprintf(stderr, "moat: %s\n", err);
            break;
        }
        x.u = &u;
        /* The origin of the first URL: -H credentials go only there. */
        if (!first_host[0]) {
            snprintf(first_host, sizeof first_host, "%s", u.host);
            first_port = u.port;
        }
        /* As curl does: Authorization and Cookie from -H are dropped once
         * a redirect leaves the first origin (RFC 6454: scheme, host and
         * port; the scheme is always https here). */
        status = exchange(&x, method, with_body,
                          strcasecmp(first_host, u.host) != 0 || first_port != u.port, &a);
        if (status || !(o->follow && is_redirect(a.status) && a.location[0])) break;
        if ((status = redirect_to(o, &u, &a, hops, url, &method, &with_body))) break;
    }
    return finish(&x, status);
}
