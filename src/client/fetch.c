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

#include "client/body.h"
#include "client/client.h"
#include "client/h2.h"
#include "core/clock.h"
#include "core/exit.h"
#include "core/file.h"
#include "client/getnet.h"
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
    int is_h2;     /* ALPN chose h2: requests go through h2 */
    struct client_h2 h2;
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
    int was_h2;        /* the last response came over HTTP/2 (-w http_version) */
    /* progress bar with -o on a terminal */
    int progress;
    int64_t prog_last;
    uint64_t prog_total; /* 0 when unknown */
    int prog_shown;
    struct client_extra ex; /* -b/-c, -D, -C, -T, -F (flags.c) */
    /* --compressed, --limit-rate, --retry, -x (getnet.h) */
    struct client_decode dec;
    int decode_err; /* the body did not decode: curl's exit status for it (61, 23) */
    struct client_pace down, up;
    struct client_retry retry;
    int discard;         /* a response that will be retried: its head and body are not output */
    int64_t retry_after; /* its Retry-After, seconds */
    int64_t decided_ms;  /* when discard was decided (monotonic) */
    int refused;         /* the connection was refused (ECONNREFUSED) */
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
        x->sink = x->o->output ? fopen(x->o->output, x->ex.offset ? "ab" : "wb") : stdout;
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

static int emit_body(void *arg, const uint8_t *p, size_t n)
{
    return emit(arg, p, n, 0);
}

/* A piece of the body to the output, decoded with --compressed. The
 * bytes counted (-w size_download, the progress bar) are the body's as
 * sent, before decoding, as curl counts them. */
static int emit_decoded(struct xfer *x, const uint8_t *p, size_t n)
{
    int r = client_decode_feed(&x->dec, p, n, emit_body, x);
    if (r == 0 && n) {
        x->size_download += n;
        progress(x, 0);
    }
    if (r == -1 || r == -3) {
        fprintf(stderr, "moat: cannot decode the response from %s: %s\n", x->u->shown, x->dec.err);
        x->decode_err = r == -1 ? GET_EXIT_BAD_CONTENT_ENCODING : GET_EXIT_WRITE_ERROR;
    }
    return r;
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
    if (c->is_h2) {
        /* RST_STREAM(CANCEL) for a stream moat gave up on (-f, a write
         * error, --max-filesize ...), then GOAWAY(NO_ERROR) before
         * close_notify, as curl and browsers do */
        moat_buf frames;
        moat_buf_init(&frames);
        client_h2_cancel(&c->h2);
        client_h2_goodbye(&c->h2);
        if (c->fd >= 0 && !moat_tls_peer_closed(c->t) && client_h2_output(&c->h2, &frames) == 0 &&
            frames.len && moat_tls_send(c->t, &x->out, frames.base, frames.len) == 0)
            flush_tls(x, core_mono_ms() + 1000);
        moat_buf_free(&frames);
        client_h2_free(&c->h2);
    }
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
    struct client_proxy px;
    int proxied = client_proxy_pick(u->host, x->o->proxy, x->o->proxy_user, x->o->noproxy, &px);
    if (proxied > 1) {
        moat_wipe(px.auth, sizeof px.auth);
        return proxied;
    }
    if (proxied) {
        /* The proxy resolves the server's name; --resolve applies to the
         * proxy's own, as curl does. */
        if (x->o->verbose) fprintf(stderr, "* using proxy %s (%s)\n", px.shown, px.from);
        c->fd = client_connect(px.host, px.shown, px.port, x->o->resolve, hs_deadline, addr,
                               sizeof addr, &status, &looked);
        if (status == GET_EXIT_COULDNT_RESOLVE_HOST) status = GET_EXIT_COULDNT_RESOLVE_PROXY;
    } else {
        c->fd = client_connect(u->host, u->shown, u->port, x->o->resolve, hs_deadline, addr,
                               sizeof addr, &status, &looked);
    }
    x->refused = c->fd < 0 && status == GET_EXIT_COULDNT_CONNECT && errno == ECONNREFUSED;
    x->t_lookup = (looked ? looked : core_mono_us()) - x->start_us;
    if (c->fd < 0) return status;
    int tunnel_status = 0;
    if (proxied) {
        status = client_proxy_connect(c->fd, &px, u->host, u->port, hs_deadline, x->o->verbose,
                                      &tunnel_status);
        moat_wipe(px.auth, sizeof px.auth);
        if (status) return status;
    }
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
        if (proxied) client_explain_tunnel(c->ex, px.shown);
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
    if (x->o->verbose && proxied)
        fprintf(stderr, "* the TLS connection is tunnelled through proxy %s (HTTP CONNECT)\n",
                px.shown);
    const char *alpn = moat_tls_get_alpn(c->t);
    if (alpn && strcmp(alpn, "h2") == 0) {
        if (client_h2_init(&c->h2, c->ex) < 0) {
            fprintf(stderr, "moat: cannot start HTTP/2 (out of memory)\n");
            return GET_EXIT_INTERNAL;
        }
        c->is_h2 = 1;
    }
    if (x->o->verbose) fprintf(stderr, "* using %s\n", c->is_h2 ? "HTTP/2" : "HTTP/1.1");
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

/* -T and -F: the body read piece by piece as it is sent, in the chunked
 * coding when its length is not known (stdin). Returns 0, -1 or -2 as
 * flush_tls, or 1 when the body could not be read (after a message). */
static int send_stream(struct xfer *x)
{
    static uint8_t buf[SEND_CHUNK + 16];
    char err[600];
    int chunked = x->ex.body.total < 0;
    if (client_body_rewind(&x->ex.body) < 0) {
        fprintf(stderr, "moat: cannot send the body again: stdin was read already\n");
        return 1;
    }
    for (;;) {
        ssize_t n = client_body_read(&x->ex.body, buf + 10, SEND_CHUNK, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "moat: %s\n", err);
            return 1;
        }
        if (n == 0 && !chunked) return 0;
        int r;
        if (chunked) {
            char sz[12];
            int k = snprintf(sz, sizeof sz, "%zx\r\n", (size_t)n);
            memcpy(buf + 10 - k, sz, (size_t)k);
            memcpy(buf + 10 + n, "\r\n", 2); /* the chunk's end; "0\r\n\r\n" at the last */
            r = moat_tls_send(x->c.t, &x->out, buf + 10 - k, (size_t)k + (size_t)n + 2);
        } else {
            r = moat_tls_send(x->c.t, &x->out, buf + 10, (size_t)n);
        }
        if (r == 0) r = flush_tls(x, x->deadline);
        if (r == -1) {
            /* A server may answer (a redirect, 413) and close before it
             * has read the body: look for that answer before failing. */
            x->send_failed = 1;
            x->c.reusable = 0;
            moat_buf_clear(&x->out);
            return 0;
        }
        if (r) return r;
        if (n == 0) return 0;
    }
}

static int send_request(struct xfer *x, const char *method, int with_body, int cross_origin)
{
    const struct moat_url *u = x->u;
    const struct moat_get_opts *o = x->o;
    char host[300], len[32];
    origin(u, host, sizeof host);
    moat_buf req;
    moat_buf_init(&req);
    int bad =
        add_line(&req, "%s %s HTTP/1.1\r\n", method, u->path) < 0 ||
        add_default(&req, o, "Host", host) < 0 ||
        client_extra_headers(o, &x->ex, u, cross_origin, with_body, &req) < 0 ||
        (o->compressed && add_default(&req, o, "Accept-Encoding", CLIENT_ACCEPT_ENCODING) < 0);
    if (with_body && !x->ex.has_body) {
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
        if (strncasecmp(h, "transfer-encoding:", 18) == 0 && with_body) continue;
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
    if (o->verbose && !x->c.is_h2) verbose_head("> ", (const char *)req.base, req.len);
    if (x->c.ex) {
        size_t l = strcspn((const char *)req.base, "\r");
        char line[200];
        if (x->c.is_h2) l -= l > 9 ? 9 : l; /* " HTTP/1.1" */
        snprintf(line, sizeof line, "%.*s%s", (int)(l < 190 ? l : 190), (const char *)req.base,
                 x->c.is_h2 ? " HTTP/2" : "");
        client_explain_request(x->c.ex, line,
                               !with_body ? 0
                               : x->ex.has_body
                                   ? (size_t)(x->ex.body.total > 0 ? x->ex.body.total : 0)
                                   : o->data.len);
    }
    if (x->c.is_h2) {
        /* the request goes out with the response's reading (h2_response);
         * a streamed body (-T, -F) is read as the windows allow */
        int stream = with_body && x->ex.has_body;
        if (stream && client_body_rewind(&x->ex.body) < 0) {
            moat_buf_free(&req);
            fprintf(stderr, "moat: cannot send the body again: stdin was read already\n");
            return GET_EXIT_READ_ERROR;
        }
        int r = client_h2_request(
            &x->c.h2, (const char *)req.base, req.len, with_body && !stream ? o->data.base : NULL,
            with_body && !stream ? o->data.len : 0, stream ? &x->ex.body : NULL, o->verbose);
        moat_buf_free(&req);
        if (r < 0) fprintf(stderr, "moat: %s\n", x->c.h2.err);
        return r < 0 ? GET_EXIT_URL_MALFORMAT : 0;
    }
    int r = moat_tls_send(x->c.t, &x->out, req.base, req.len);
    moat_buf_free(&req);
    if (r == 0) r = flush_tls(x, x->deadline);
    x->send_failed = 0;
    if (r == 0 && with_body && x->ex.has_body) {
        r = send_stream(x);
        if (r == 1) return GET_EXIT_READ_ERROR;
    }
    client_pace_init(&x->up, o->limit_rate);
    for (size_t off = 0, n = 0; r == 0 && with_body && !x->ex.has_body && off < o->data.len;
         off += n) {
        n = client_pace_chunk(&x->up,
                              o->data.len - off < SEND_CHUNK ? o->data.len - off : SEND_CHUNK);
        r = moat_tls_send(x->c.t, &x->out, o->data.base + off, n);
        if (r == 0) r = flush_tls(x, x->deadline);
        if (r == 0) client_pace_account(&x->up, n, x->deadline);
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
        ssize_t n =
            client_recv_some(x->c.fd, buf, client_pace_chunk(&x->down, sizeof buf), x->deadline);
        if (n > 0) client_pace_account(&x->down, (size_t)n, x->deadline);
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

/* A head the reader refused: too many interim heads (8); over the limits,
 * with curl 7.88's codes (a line over HTTP_MAX_HEAD_LINE: 27, as curl's
 * "header line too long"; more bytes or fields than the limits: 56); or
 * malformed (8). */
static int head_refused(struct xfer *x, const http_reader *rd)
{
    if (rd->interim > HTTP_MAX_INTERIM || rd->interim_bytes > HTTP_MAX_INTERIM_BYTES) {
        fprintf(stderr, "moat: %s sent more than %d interim (1xx) responses or %d bytes of them\n",
                x->u->shown, HTTP_MAX_INTERIM, HTTP_MAX_INTERIM_BYTES);
        return GET_EXIT_WEIRD_SERVER_REPLY;
    }
    int over = http_head_over_limit(x->app.base, x->app.len);
    if (over == HTTP_HEAD_LINE_TOO_LONG) {
        fprintf(stderr, "moat: the response from %s has a header line over %d bytes\n", x->u->shown,
                HTTP_MAX_HEAD_LINE);
        return GET_EXIT_OUT_OF_MEMORY;
    }
    if (over == HTTP_HEAD_TOO_LARGE) {
        fprintf(stderr,
                "moat: the response head from %s is too large (over %d bytes or %d fields)\n",
                x->u->shown, MOAT_HTTP_MAX_HEADER_BYTES, MOAT_HTTP_MAX_HEADERS);
        return GET_EXIT_RECV_ERROR;
    }
    fprintf(stderr, "moat: malformed HTTP response from %s\n", x->u->shown);
    return GET_EXIT_WEIRD_SERVER_REPLY;
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
        if (h == HTTP_HEAD_BAD) return head_refused(x, rd);
        if (h == HTTP_HEAD_FINAL) return 0;
        if (h == HTTP_HEAD_INTERIM) {
            if (x->o->verbose) verbose_head("< ", (const char *)x->app.base, *hl);
            int r = client_extra_head(x->o, &x->ex, x->u, resp, x->app.base, *hl, 0);
            if (r) return r;
            moat_buf_consume(&x->app, *hl);
            continue;
        }
        int r = read_more(x);
        if ((r == 1 || r == 18) && x->c.used && x->app.len == 0) return STALE;
        if ((r == 1 || r == 18) && x->app.len == 0 && rd->interim == 0) {
            /* Not a byte of answer: curl's 52. */
            fprintf(stderr,
                    "moat: empty reply from %s: it closed the connection without answering\n",
                    x->u->shown);
            return GET_EXIT_GOT_NOTHING;
        }
        if (r == 1 || r == 18) return truncated(x, "the connection ended before the response head");
        if (r) return r;
    }
    return GET_EXIT_RECV_ERROR;
}

/* A final response head, from HTTP/1.1 or HTTP/2: its text as shown by
 * -v and -i ("HTTP/1.1 200 OK" or "HTTP/2 200" and the fields) and the
 * facts taken from it. */
struct head {
    int status;
    const char *reason; /* "" for HTTP/2 */
    size_t reason_len;
    const char *text;
    size_t len;
    int64_t content_length; /* -1 when none */
    int keep_alive;
    int64_t retry_after; /* its Retry-After in seconds (--retry), 0 when none */
};

/* What the final head says, for the caller and the user: the status and
 * Location (already in a) into a, -v, --explain, -f, -i and -I. Returns 0
 * or an exit status. */
static int take_head(struct xfer *x, const struct head *h, struct answer *a)
{
    a->status = x->http_code = h->status;
    x->c.reusable = h->keep_alive;
    if (x->o->verbose) verbose_head("< ", h->text, h->len);
    /* --retry: a response that will be tried again is not output (curl
     * writes it, then truncates a file: a terminal would keep it). */
    x->retry_after = h->retry_after;
    struct client_retry peek = x->retry;
    char msg[200];
    int64_t wait;
    x->decided_ms = core_mono_ms();
    x->discard = x->o->retry && client_retry_next(&peek, 0, h->status, x->retry_after, 0,
                                                  x->decided_ms, &wait, msg, sizeof msg) > 0;
    if (x->discard) return 0;
    if (x->c.ex) {
        size_t l = strcspn(h->text, "\r");
        char line[200];
        snprintf(line, sizeof line, "%.*s", (int)(l < 190 ? l : 190), h->text);
        client_explain_response(x->c.ex, line,
                                h->content_length >= 0 ? (uint64_t)h->content_length : 0);
    }
    if (x->o->fail && h->status >= 400) {
        fprintf(stderr, "moat: the server answered %d%s%.*s for https://", h->status,
                h->reason_len ? " " : "", (int)h->reason_len, h->reason);
        char o[300];
        origin(x->u, o, sizeof o);
        fprintf(stderr, "%s%s\n", o, x->u->path);
        x->c.reusable = 0;
        return GET_EXIT_HTTP_RETURNED_ERROR;
    }
    if ((x->o->include || x->o->head) && emit(x, h->text, h->len, 0) < 0)
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
    /* A body that runs until the connection closes, closed without TLS
     * close_notify: curl with OpenSSL 3 calls it done (exit 0); so does
     * moat, saying what it cannot know. */
    x->c.reusable = 0;
    if (!x->o->silent)
        fprintf(stderr,
                "moat: warning: %s ended the body without TLS close_notify: it may have been cut "
                "off\n",
                x->u->shown);
    return 0;
}

/* Pumps the body out of x->app and the connection, to the output when out.
 * Each turn uses what has arrived, then reads more; bounded by the data: a
 * turn without new bytes ends the transfer. */
static int read_body(struct xfer *x, http_body *b, int out)
{
    while (!b->done) {
        http_piece p;
        int r = http_body_feed(b, x->app.base, x->app.len, &x->decoded, &p);
        if (out && client_extra_size(x->o, b->total)) return GET_EXIT_FILESIZE_EXCEEDED;
        if (out && emit_decoded(x, p.data, p.len) < 0)
            return x->decode_err ? x->decode_err : GET_EXIT_WRITE_ERROR;
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

/* HTTP/2: how the stream or the session failed, in curl's exit codes: 56
 * where curl 7.88 says it (input nghttp2 refuses outright, such as too
 * many CONTINUATION frames; a response head over the cap), 16 for the
 * session (a frame against the protocol, a GOAWAY with an error, a flood
 * of control frames), 92 for the stream (reset, or ended without a
 * complete response). */
static int h2_fail(struct xfer *x)
{
    struct client_h2 *h = &x->c.h2;
    x->c.reusable = 0;
    if (!h->err[0])
        snprintf(h->err, sizeof h->err,
                 "HTTP/2 stream %d was closed cleanly, but before "
                 "getting all response header fields",
                 h->stream);
    fprintf(stderr, "moat: %s (from %s)\n", h->err, x->u->shown);
    if (h->refused_input || h->too_big) return GET_EXIT_RECV_ERROR;
    if (h->fatal || (h->goaway && h->goaway_code)) return GET_EXIT_HTTP2;
    return GET_EXIT_HTTP2_STREAM;
}

/* HTTP/2: sends what the session has to send (the request, its body as
 * the windows allow, acknowledgements, WINDOW_UPDATEs). Returns 0 or an
 * exit status. */
static int h2_send(struct xfer *x)
{
    struct client_h2 *h = &x->c.h2;
    moat_buf frames;
    moat_buf_init(&frames);
    int r = 0;
    do {
        moat_buf_clear(&frames);
        if (client_h2_output(h, &frames) < 0) break;
        if (frames.len && (r = moat_tls_send(x->c.t, &x->out, frames.base, frames.len)) == 0)
            r = flush_tls(x, x->deadline);
    } while (r == 0 && frames.len && client_h2_want_write(h));
    moat_buf_free(&frames);
    if (h->fatal) return h2_fail(x);
    if (r == -2) return timeout_exit(x, "sending to");
    if (r < 0) {
        if (x->c.used && !h->head_ready) return STALE;
        fprintf(stderr, "moat: failure sending the request to %s\n", x->u->shown);
        return GET_EXIT_SEND_ERROR;
    }
    return 0;
}

/* HTTP/2: the flags' part of a head (client_extra_head, as for HTTP/1.1):
 * text is an "HTTP/2 200 " head as h2.c writes it, its fields read back
 * into a response (the head is under the same caps as an HTTP/1.1 one). */
static int h2_extra_head(struct xfer *x, const moat_buf *text, int64_t content_length, int out)
{
    moat_http_response resp;
    memset(&resp, 0, sizeof resp);
    const char *p = (const char *)text->base, *end = p + text->len;
    resp.status = text->len > 10 ? atoi(p + 7) : 0;
    resp.f.content_length = content_length;
    const char *e = memmem(p, text->len, "\r\n", 2);
    for (p = e ? e + 2 : end; p < end && resp.f.nheaders < MOAT_HTTP_MAX_HEADERS; p = e + 2) {
        e = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *c = e ? memchr(p, ':', (size_t)(e - p)) : NULL;
        if (!e || !c) break;
        moat_http_header *f = &resp.f.headers[resp.f.nheaders++];
        f->name = p;
        f->name_len = (size_t)(c - p);
        f->value = c + 2 <= e ? c + 2 : e;
        f->value_len = (size_t)(e - f->value);
    }
    return client_extra_head(x->o, &x->ex, x->u, &resp, text->base, text->len, out);
}

/* HTTP/2: the head of the response, once it is complete. Returns 0 or an
 * exit status; *out says whether the body goes to the output. */
static int h2_head(struct xfer *x, struct answer *a, int *out)
{
    struct client_h2 *h = &x->c.h2;
    if (client_h2_field(h, "location", a->location, sizeof a->location) < 0) a->location[0] = '\0';
    char ra[64];
    int64_t retry_after = client_h2_field(h, "retry-after", ra, sizeof ra) < 0
                              ? 0
                              : client_retry_after(ra, strlen(ra), time(NULL));
    struct head hd = {h->status,         "", 0,          (const char *)h->head.base, h->head.len,
                      h->content_length, 1,  retry_after};
    int r = take_head(x, &hd, a);
    if (r) return r;
    int follow = x->o->follow && is_redirect(h->status) && a->location[0];
    r = h2_extra_head(x, &h->head, h->content_length, !follow && !x->o->head);
    if (r) return r;
    /* a redirect's body is not wanted: the stream is cancelled, the
     * connection kept */
    if (follow) client_h2_cancel(h);
    *out = !follow && !x->discard && !x->ex.skip_body;
    /* --compressed: the decoder, as for HTTP/1.1 */
    char ce[256];
    client_decode_free(&x->dec);
    if (*out && x->o->compressed && client_h2_field(h, "content-encoding", ce, sizeof ce) >= 0 &&
        client_decode_init(&x->dec, ce, strlen(ce)) < 0) {
        fprintf(stderr, "moat: cannot decode the response from %s: %s\n", x->u->shown, x->dec.err);
        return GET_EXIT_BAD_CONTENT_ENCODING;
    }
    x->size_download = 0;
    x->prog_total = h->content_length > 0 ? (uint64_t)h->content_length : 0;
    x->progress = *out && x->o->output && !x->o->silent && isatty(2);
    return 0;
}

/* HTTP/2: the response of the stream client_h2_request opened, the request
 * sent along the way. The body goes out as each read brings it, so memory
 * holds one read's worth whatever the size. */
static int h2_response(struct xfer *x, struct answer *a)
{
    struct client_h2 *h = &x->c.h2;
    int took = 0, out = 0, r;
    x->t_first = 0;
    for (int i = 0;; i++) {
        if (x->app.len) {
            if (!x->t_first) x->t_first = core_mono_us() - x->start_us;
            client_h2_input(h, x->app.base, x->app.len);
            moat_buf_clear(&x->app);
        }
        if ((r = h2_send(x))) return r;
        if (h->interim.len && x->o->verbose)
            verbose_head("< ", (const char *)h->interim.base, h->interim.len);
        if (h->interim.len && (r = h2_extra_head(x, &h->interim, -1, 0))) return r;
        moat_buf_clear(&h->interim);
        if (h->head_ready && !took) {
            took = 1;
            if ((r = h2_head(x, a, &out))) return r;
            if (h->cancelled && (r = h2_send(x))) return r; /* the RST_STREAM, now */
        }
        if (h->data.len && took) {
            if (out && client_extra_size(x->o, x->size_download + h->data.len))
                return GET_EXIT_FILESIZE_EXCEEDED;
            if (out && emit_decoded(x, h->data.base, h->data.len) < 0)
                return x->decode_err ? x->decode_err : GET_EXIT_WRITE_ERROR;
            moat_buf_clear(&h->data);
        }
        if (h->body_err[0]) {
            fprintf(stderr, "moat: %s\n", h->body_err);
            return GET_EXIT_READ_ERROR;
        }
        if (h->fatal) return h2_fail(x);
        if (h->closed) break;
        if ((r = read_more(x)) == 0) continue;
        if (r != 1 && r != 18) return r;
        if (h->err[0]) return h2_fail(x);
        if (x->c.used && !took && i == 0) return STALE;
        x->c.reusable = 0;
        if (took && h->content_length >= 0) {
            char how[120];
            snprintf(how, sizeof how,
                     "the connection closed with the HTTP/2 stream open, %llu bytes of the body "
                     "still to come",
                     (unsigned long long)h->content_length - x->size_download);
            return truncated(x, how);
        }
        if (took) return truncated(x, "the connection closed with the HTTP/2 stream open");
        snprintf(h->err, sizeof h->err,
                 "HTTP/2 stream %d was not closed cleanly before the end of the connection",
                 h->stream);
        return h2_fail(x);
    }
    if (h->refused && x->c.used && !took) return STALE; /* RFC 9113 8.7: safe to retry */
    if (h->stream_error || !took) return h2_fail(x);
    if (x->progress) progress(x, 1);
    x->c.reusable = client_h2_reusable(h);
    return 0;
}

/* Reads the response head (skipping 1xx interim responses) and body; a
 * redirect's body is read and dropped when it will be followed. */
static int read_response(struct xfer *x, const char *method, struct answer *a)
{
    if (x->c.is_h2) return h2_response(x, a);
    http_reader rd;
    moat_http_response resp;
    size_t hl = 0;
    http_reader_init(&rd, strcmp(method, "HEAD") == 0);
    int r = read_head(x, &rd, &resp, &hl);
    if (r) return r;
    a->location[0] = '\0';
    const moat_http_header *loc = moat_http_find_header(&resp.f, "Location");
    if (loc && loc->value_len < sizeof a->location) {
        memcpy(a->location, loc->value, loc->value_len);
        a->location[loc->value_len] = '\0';
    }
    const moat_http_header *ra = moat_http_find_header(&resp.f, "Retry-After");
    struct head h = {resp.status,
                     resp.reason,
                     resp.reason_len,
                     (const char *)x->app.base,
                     hl,
                     resp.f.content_length,
                     resp.f.keep_alive,
                     ra ? client_retry_after(ra->value, ra->value_len, time(NULL)) : 0};
    r = take_head(x, &h, a);
    if (r) return r;
    int follow = x->o->follow && is_redirect(resp.status) && a->location[0];
    r = client_extra_head(x->o, &x->ex, x->u, &resp, x->app.base, hl, !follow && !x->o->head);
    if (r) return r;
    if (rd.body.framing == HTTP_BODY_CLOSE) x->c.reusable = 0;
    int out = !follow && !x->discard && !x->ex.skip_body;
    /* --compressed: the decoder, set up while resp still points at the head. */
    client_decode_free(&x->dec);
    const moat_http_header *ce = moat_http_find_header(&resp.f, "Content-Encoding");
    if (out && x->o->compressed && ce &&
        client_decode_init(&x->dec, ce->value, ce->value_len) < 0) {
        fprintf(stderr, "moat: cannot decode the response from %s: %s\n", x->u->shown, x->dec.err);
        return GET_EXIT_BAD_CONTENT_ENCODING;
    }
    moat_buf_consume(&x->app, hl);
    if (follow && !x->c.reusable) return 0; /* the body is not wanted */
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
            else if (strcmp(name, "http_version") == 0)
                fputs(x->c.is_h2 || x->was_h2 ? "2" : "1.1", w);
            else if (strcmp(name, "ssl_verify_result") == 0)
                fprintf(w, "%d", x->verify_result);
            else if (strcmp(name, "url_effective") == 0)
                fprintf(w, "https://%s%s", x->u ? x->u->host : "", x->u ? x->u->path : "");
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
        x->was_h2 = x->c.is_h2;
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
    if (!x->sink && status == 0 && o->output &&
        !(x->sink = fopen(o->output, x->ex.offset ? "ab" : "wb"))) {
        fprintf(stderr, "moat: cannot write %s: %s\n", o->output, strerror(errno));
        status = 23;
    }
    if (x->sink && x->sink != stdout && fclose(x->sink) != 0 && status == 0) {
        fprintf(stderr, "moat: write error on %s\n", o->output);
        status = 23;
    }
    if (x->sink == stdout && fflush(stdout) != 0 && status == 0) status = 23;
    if (o->writeout) write_out(x, end);
    status = client_extra_finish(o, &x->ex, status);
    moat_buf_free(&x->out);
    moat_buf_free(&x->app);
    moat_buf_free(&x->decoded);
    return status;
}

/* One run of the request, following redirects with -L. Returns the exit
 * status. */
static int transfer(struct xfer *x)
{
    const struct moat_get_opts *o = x->o;
    static char url[8400];
    char err[512], first_host[256] = "";
    int first_port = 0;
    snprintf(url, sizeof url, "%s", o->url);
    /* -T FILE to a URL ending in '/': the file's name is added, as curl. */
    size_t ul = strlen(url);
    if (o->upload && strcmp(o->upload, "-") != 0 && ul && url[ul - 1] == '/') {
        const char *base = strrchr(o->upload, '/');
        snprintf(url + ul, sizeof url - ul, "%s", base ? base + 1 : o->upload);
    }
    const char *method = o->method                  ? o->method
                         : o->head                  ? "HEAD"
                         : o->upload                ? "PUT"
                         : o->has_data || o->nforms ? "POST"
                                                    : "GET";
    int with_body = o->has_data || o->upload || o->nforms;
    static struct moat_url u;
    struct answer a;
    int status = 0;
    for (int hops = 0;; hops++) {
        status = client_url_parse(url, &u, err, sizeof err);
        if (status) {
            fprintf(stderr, "moat: %s\n", err);
            break;
        }
        x->u = &u;
        /* The origin of the first URL: -H credentials go only there. */
        if (!first_host[0]) {
            snprintf(first_host, sizeof first_host, "%s", u.host);
            first_port = u.port;
        }
        /* As curl does: Authorization and Cookie from -H are dropped once
         * a redirect leaves the first origin (RFC 6454: scheme, host and
         * port; the scheme is always https here). */
        status = exchange(x, method, with_body,
                          strcasecmp(first_host, u.host) != 0 || first_port != u.port, &a);
        if (status || !(o->follow && is_redirect(a.status) && a.location[0])) break;
        snprintf(x->ex.prev_url, sizeof x->ex.prev_url, "%s", url);
        if ((status = redirect_to(o, &u, &a, hops, url, &method, &with_body))) break;
    }
    return status;
}

/* --retry: after a failed attempt, whether to try again (the warning
 * printed, the output file emptied, the pause taken). Returns 1 to go on. */
static int retry_wait(struct xfer *x, int status)
{
    int64_t wait = 0;
    char msg[300];
    int http = status == 0 || status == GET_EXIT_HTTP_RETURNED_ERROR ? x->http_code : 0;
    /* A response already left out of the output is retried whatever the
     * clock says now: the decision made on its head stands. */
    int64_t now = x->discard && status == 0 ? x->decided_ms : core_mono_ms();
    int why = client_retry_next(&x->retry, status, http, x->retry_after, x->refused, now, &wait,
                                msg, sizeof msg);
    if (why && !x->o->silent) fprintf(stderr, "Warning: %s\n", msg);
    if (why <= 0) return 0;
    if (x->c.t || x->c.fd >= 0) conn_close(x);
    /* What an attempt wrote to a file is thrown away, as curl does. */
    long written = x->sink && x->sink != stdout ? ftell(x->sink) : 0;
    if (written > 0 && !x->o->silent) fprintf(stderr, "Throwing away %ld bytes\n", written);
    if (written > 0 && (fflush(x->sink) != 0 || ftruncate(fileno(x->sink), 0) != 0 ||
                        fseek(x->sink, 0, SEEK_SET))) {
        fprintf(stderr, "moat: cannot truncate %s to retry: %s\n", x->o->output, strerror(errno));
        return 0;
    }
    struct timespec ts = {.tv_sec = (time_t)(wait / 1000),
                          .tv_nsec = (long)(wait % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return 1;
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
    client_retry_init(&x.retry, o->retry, o->retry_delay, o->retry_max_time, o->retry_all_errors,
                      o->retry_connrefused, x.start);
    int status = client_extra_start(o, &x.ex);
    if (!status) do {
            /* -m bounds each attempt, as curl's does. */
            int64_t now = core_mono_ms();
            x.deadline = o->max_time > 0 ? now + (int64_t)(o->max_time * 1000) : 0;
            x.discard = x.refused = x.decode_err = x.http_code = 0;
            x.retry_after = 0;
            client_pace_init(&x.down, o->limit_rate);
            status = transfer(&x);
        } while (o->retry && retry_wait(&x, status));
    client_decode_free(&x.dec);
    return finish(&x, status);
}
