/* moat get: one transfer. Connect, TLS handshake, send the request, read
 * the response head and body (Content-Length, chunked, or until close),
 * and write them out, telling truncation from a clean end. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/net.h"
#include "moat/http.h"

#define READ_CHUNK 16384
#define MAX_HEAD (MOAT_HTTP_MAX_REQUEST_LINE + MOAT_HTTP_MAX_HEADER_BYTES)

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct xfer {
    const struct moat_get_opts *o;
    const struct moat_url *u;
    int fd;
    moat_tls *t;
    moat_buf out;     /* records to send */
    moat_buf app;     /* decrypted bytes not yet used */
    moat_buf decoded; /* chunked body decoded, not yet written */
    int64_t deadline; /* -m, or 0 */
    FILE *sink;       /* stdout or -o FILE, opened on first output */
    int write_failed;
};

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

/* "HOST" or "[v6]", with ":PORT" unless it is 443, as browsers show it. */
static void origin(const struct moat_url *u, char *out, size_t n)
{
    int v6 = strchr(u->host, ':') != NULL;
    if (u->port != 443)
        snprintf(out, n, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    else
        snprintf(out, n, "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
}

static int flush_tls(struct xfer *x, int64_t deadline)
{
    if (!x->out.len) return 0;
    int r = moat_send_all(x->fd, x->out.base, x->out.len, deadline);
    moat_buf_clear(&x->out);
    return r;
}

static int emit(struct xfer *x, const void *p, size_t n)
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
    return 0;
}

static int timeout_exit(struct xfer *x, const char *what)
{
    fprintf(stderr, "moat: timed out %s %s\n", what, x->u->host);
    return 28;
}

static int handshake(struct xfer *x, int64_t deadline)
{
    uint8_t buf[READ_CHUNK];
    int r = moat_tls_start(x->t, &x->out);
    if (r == 0 && flush_tls(x, deadline) == -2) return timeout_exit(x, "in the TLS handshake with");
    for (int i = 0; r == 0 && !moat_tls_handshake_done(x->t) && i < 100000; i++) {
        ssize_t n = moat_recv_some(x->fd, buf, sizeof buf, deadline);
        if (n == -2) return timeout_exit(x, "in the TLS handshake with");
        if (n <= 0) {
            fprintf(stderr, "moat: TLS handshake with %s failed: %s\n", x->u->host,
                    n == 0 ? "the server closed the connection" : strerror(errno));
            return 35;
        }
        r = moat_tls_recv(x->t, buf, (size_t)n, &x->out, &x->app);
        /* Send what the engine produced, the fatal alert included. */
        if (flush_tls(x, deadline) == -2 && r == 0)
            return timeout_exit(x, "in the TLS handshake with");
    }
    if (r < 0 || !moat_tls_handshake_done(x->t)) {
        const char *why = moat_tls_verify_error(x->t);
        if (why) {
            char o[300];
            origin(x->u, o, sizeof o);
            const char *code = moat_tls_verify_code(x->t);
            fprintf(stderr, "moat: refused https://%s/: %s (%s)\n", o, why, code ? code : "?");
            return 60;
        }
        fprintf(stderr, "moat: TLS handshake with %s failed: %s\n", x->u->host, moat_strerror(r));
        return 35;
    }
    return 0;
}

static void verbose_tls(struct xfer *x, const char *addr)
{
    const char *alpn = moat_tls_get_alpn(x->t);
    fprintf(stderr, "* connected to %s (%s) port %d\n", x->u->host, addr, x->u->port);
    fprintf(stderr, "* protocol: TLSv1.3%s\n",
            moat_tls_did_hrr(x->t) ? " (after a HelloRetryRequest)" : "");
    fprintf(stderr, "* cipher: %s\n", moat_tls_cipher_name(moat_tls_get_cipher(x->t)));
    fprintf(stderr, "* group: %s\n", moat_tls_group_name(moat_tls_get_group(x->t)));
    fprintf(stderr, "* signature: %s\n", moat_tls_sigscheme_name(moat_tls_get_sigscheme(x->t)));
    fprintf(stderr, "* ALPN: %s\n", alpn ? alpn : "none");
    if (x->o->insecure)
        fprintf(stderr, "* certificate: NOT verified (-k)\n");
    else
        fprintf(stderr, "* certificate: verified for %s\n", x->u->host);
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

static int send_request(struct xfer *x)
{
    const struct moat_url *u = x->u;
    char req[9000];
    char host[300];
    origin(u, host, sizeof host);
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: moat/0.1\r\nAccept: */*\r\n"
                     "Connection: close\r\n\r\n",
                     x->o->head ? "HEAD" : "GET", u->path, host);
    if (n < 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "moat: URL too long\n");
        return 3;
    }
    if (x->o->verbose) verbose_head("> ", req, (size_t)n);
    int r = moat_tls_send(x->t, &x->out, req, (size_t)n);
    if (r == 0) r = flush_tls(x, x->deadline);
    if (r == -2) return timeout_exit(x, "sending to");
    if (r < 0) {
        fprintf(stderr, "moat: failure sending the request to %s\n", u->host);
        return 55;
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
        if (moat_tls_peer_closed(x->t)) return 1;
        ssize_t n = moat_recv_some(x->fd, buf, sizeof buf, x->deadline);
        if (n == -2) return timeout_exit(x, "receiving from");
        if (n < 0) {
            fprintf(stderr, "moat: failure receiving data from %s: %s\n", x->u->host,
                    strerror(errno));
            return 56;
        }
        if (n == 0) return 18;
        size_t before = x->app.len;
        int r = moat_tls_recv(x->t, buf, (size_t)n, &x->out, &x->app);
        flush_tls(x, x->deadline);
        if (r < 0) {
            fprintf(stderr, "moat: failure receiving data from %s: %s\n", x->u->host,
                    moat_strerror(r));
            return 56;
        }
        if (x->app.len > before) return 0;
    }
    return 56;
}

static int truncated(struct xfer *x, const char *how)
{
    fprintf(stderr, "moat: the response from %s was cut off: %s\n", x->u->host, how);
    return 18;
}

/* Reads the response head (skipping 1xx interim responses) and body. */
static int read_response(struct xfer *x)
{
    moat_http_response resp;
    int hl = 0;
    for (int i = 0; i < 100000; i++) {
        hl =
            x->app.len ? moat_http_parse_response((const char *)x->app.base, x->app.len, &resp) : 0;
        if (hl < 0 || (hl == 0 && x->app.len > MAX_HEAD)) {
            fprintf(stderr, "moat: malformed HTTP response from %s\n", x->u->host);
            return 8; /* curl's "weird server reply" */
        }
        if (hl > 0 && resp.status >= 100 && resp.status < 200 && resp.status != 101) {
            if (x->o->verbose) verbose_head("< ", (const char *)x->app.base, (size_t)hl);
            moat_buf_consume(&x->app, (size_t)hl);
            continue;
        }
        if (hl > 0) break;
        int r = read_more(x);
        if (r == 1 || r == 18) return truncated(x, "the connection ended before the response head");
        if (r) return r;
    }
    if (hl <= 0) return 56;
    if (x->o->verbose) verbose_head("< ", (const char *)x->app.base, (size_t)hl);
    if ((x->o->include || x->o->head) && emit(x, x->app.base, (size_t)hl) < 0) return 23;

    int mode;
    uint64_t left = 0;
    if (x->o->head || resp.status == 204 || resp.status == 304 || resp.status < 200)
        mode = BODY_NONE;
    else if (resp.f.chunked)
        mode = BODY_CHUNKED;
    else if (resp.f.content_length >= 0)
        mode = BODY_LENGTH, left = (uint64_t)resp.f.content_length;
    else
        mode = BODY_CLOSE;
    moat_buf_consume(&x->app, (size_t)hl);

    moat_http_chunked ch;
    moat_http_chunked_init(&ch);
    /* Each turn uses what has arrived, then reads more; bounded by the
     * data: a turn without new bytes ends the transfer. */
    for (;;) {
        if (mode == BODY_NONE) return 0;
        if (mode == BODY_LENGTH) {
            size_t n = x->app.len < left ? x->app.len : (size_t)left;
            if (emit(x, x->app.base, n) < 0) return 23;
            moat_buf_consume(&x->app, n);
            left -= n;
            if (left == 0) return 0;
        } else if (mode == BODY_CHUNKED) {
            size_t used = 0;
            int r = moat_http_chunked_feed(&ch, x->app.base, x->app.len, &used, &x->decoded);
            moat_buf_consume(&x->app, used);
            if (emit(x, x->decoded.base, x->decoded.len) < 0) return 23;
            moat_buf_clear(&x->decoded);
            if (r < 0) {
                fprintf(stderr, "moat: malformed chunked body from %s\n", x->u->host);
                return 56;
            }
            if (r == 1) return 0;
        } else {
            if (emit(x, x->app.base, x->app.len) < 0) return 23;
            moat_buf_clear(&x->app);
        }
        int r = read_more(x);
        if (r == 1) {
            if (mode == BODY_CLOSE) return 0;
            char how[96];
            if (mode == BODY_LENGTH)
                snprintf(how, sizeof how, "%llu bytes of the body never came",
                         (unsigned long long)left);
            else
                snprintf(how, sizeof how, "the chunked body never ended");
            return truncated(x, how);
        }
        if (r == 18) return truncated(x, "the connection ended without TLS close_notify");
        if (r) return r;
    }
}

int moat_get_fetch(const struct moat_get_opts *o, const struct moat_url *u,
                   const moat_tls_config *cfg)
{
    struct xfer x = {.o = o, .u = u, .fd = -1};
    moat_buf_init(&x.out);
    moat_buf_init(&x.app);
    moat_buf_init(&x.decoded);
    int64_t start = moat_now_ms();
    if (o->max_time > 0) x.deadline = start + (int64_t)(o->max_time * 1000);
    int64_t hs_deadline = min_deadline(x.deadline, start + (int64_t)(o->connect_timeout * 1000));

    int status = 0;
    char addr[64] = "?";
    x.fd =
        moat_client_connect(u->host, u->port, o->resolve, hs_deadline, addr, sizeof addr, &status);
    if (x.fd < 0) goto out;
    x.t = moat_tls_client_new(cfg, u->host);
    if (!x.t) {
        fprintf(stderr, "moat: cannot start TLS (out of memory)\n");
        status = 1;
        goto out;
    }
    if ((status = handshake(&x, hs_deadline))) goto out;
    if (o->verbose) verbose_tls(&x, addr);
    if ((status = send_request(&x))) goto out;
    status = read_response(&x);
    if (status == 0 && !moat_tls_peer_closed(x.t) && moat_tls_close(x.t, &x.out) == 0)
        flush_tls(&x, moat_now_ms() + 1000);

out:
    if (x.sink && x.sink != stdout && fclose(x.sink) != 0 && status == 0) {
        fprintf(stderr, "moat: write error on %s\n", o->output);
        status = 23;
    }
    if (x.sink == stdout && fflush(stdout) != 0 && status == 0) status = 23;
    moat_tls_free(x.t);
    if (x.fd >= 0) close(x.fd);
    moat_buf_free(&x.out);
    moat_buf_free(&x.app);
    moat_buf_free(&x.decoded);
    return status;
}
