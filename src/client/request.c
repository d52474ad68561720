/* One HTTPS request, response in memory (request.h): URL, connect,
 * handshake with the caller's trust, request, whole response, close. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/client.h"
#include "core/clock.h"
#include "client/net.h"
#include "client/request.h"
#include "moat/http.h"

struct req {
    int fd;
    moat_tls *t;
    moat_buf out, app;
    int64_t deadline;
    const char *shown;
    char *err;
    size_t errlen;
};

static int flush(struct req *q)
{
    if (!q->out.len) return 0;
    int r = client_send_all(q->fd, q->out.base, q->out.len, q->deadline);
    moat_buf_clear(&q->out);
    return r;
}

/* Reads once and feeds the engine. 1 at the end of the stream (TCP or
 * close_notify), 0 when bytes came, -1 on failure with err set. */
static int pull(struct req *q)
{
    uint8_t buf[16384];
    if (moat_tls_peer_closed(q->t)) return 1;
    ssize_t n = client_recv_some(q->fd, buf, sizeof buf, q->deadline);
    if (n == -2) {
        snprintf(q->err, q->errlen, "timed out waiting for %s", q->shown);
        return -1;
    }
    if (n < 0) {
        snprintf(q->err, q->errlen, "cannot receive from %s: %s", q->shown, strerror(errno));
        return -1;
    }
    if (n == 0) return 1;
    int r = moat_tls_recv(q->t, buf, (size_t)n, &q->out, &q->app);
    flush(q);
    if (r < 0) {
        const char *why = moat_tls_verify_error(q->t);
        if (why)
            snprintf(q->err, q->errlen, "refused https://%s/: %s (%s)", q->shown, why,
                     moat_tls_verify_code(q->t) ? moat_tls_verify_code(q->t) : "?");
        else
            snprintf(q->err, q->errlen, "TLS with %s failed: %s", q->shown, moat_strerror(r));
        return -1;
    }
    return 0;
}

static int handshake(struct req *q)
{
    if (moat_tls_start(q->t, &q->out) < 0 || flush(q) < 0) {
        snprintf(q->err, q->errlen, "cannot start TLS with %s", q->shown);
        return -1;
    }
    while (!moat_tls_handshake_done(q->t)) {
        int r = pull(q);
        if (r < 0) return -1;
        if (r > 0) {
            snprintf(q->err, q->errlen, "%s closed the connection in the TLS handshake", q->shown);
            return -1;
        }
    }
    return 0;
}

static int send_request(struct req *q, const struct moat_url *u, const char *method,
                        const char *const *headers, size_t nheaders, const void *body, size_t len)
{
    moat_buf m;
    moat_buf_init(&m);
    char line[9000];
    int n = snprintf(line, sizeof line, "%s %s HTTP/1.1\r\nHost: %s", method, u->path, u->host);
    int bad = n < 0 || (size_t)n >= sizeof line || moat_buf_append(&m, line, (size_t)n) < 0;
    if (!bad && u->port_given) {
        n = snprintf(line, sizeof line, ":%d", u->port);
        bad = moat_buf_append(&m, line, (size_t)n) < 0;
    }
    n = snprintf(line, sizeof line,
                 "\r\nUser-Agent: moat\r\nConnection: close\r\nContent-Length: %zu\r\n", len);
    bad = bad || moat_buf_append(&m, line, (size_t)n) < 0;
    for (size_t i = 0; i < nheaders && !bad; i++)
        bad = strpbrk(headers[i], "\r\n") ||
              moat_buf_append(&m, headers[i], strlen(headers[i])) < 0 ||
              moat_buf_append(&m, "\r\n", 2) < 0;
    bad = bad || moat_buf_append(&m, "\r\n", 2) < 0 || (len && moat_buf_append(&m, body, len) < 0);
    if (!bad) bad = moat_tls_send(q->t, &q->out, m.base, m.len) < 0 || flush(q) < 0;
    moat_buf_free(&m);
    if (bad) snprintf(q->err, q->errlen, "cannot send the request to %s", q->shown);
    return bad ? -1 : 0;
}

static int keep_head(struct moat_request_response *resp, const moat_http_response *h)
{
    resp->status = h->status;
    for (size_t i = 0; i < h->f.nheaders && i < MOAT_REQUEST_MAX_HEADERS; i++) {
        const moat_http_header *f = &h->f.headers[i];
        resp->names[i] = strndup(f->name, f->name_len);
        resp->values[i] = strndup(f->value, f->value_len);
        resp->nheaders = i + 1;
        if (!resp->names[i] || !resp->values[i]) return -1;
    }
    return 0;
}

/* The body after the head (already in q->app), framed by Content-Length,
 * chunked coding, or the end of the connection. */
static int read_body(struct req *q, const moat_http_response *h, int status, size_t max_body,
                     moat_buf *body)
{
    moat_http_chunked ch;
    moat_http_chunked_init(&ch);
    int64_t want = h->f.content_length;
    if (status == 204 || status == 304 || status < 200) return 0;
    for (;;) {
        if (h->f.chunked) {
            size_t used = 0;
            int r = moat_http_chunked_feed(&ch, q->app.base, q->app.len, &used, body);
            moat_buf_consume(&q->app, used);
            if (r == 1) return 0;
            if (r < 0) break;
        } else {
            size_t take = q->app.len;
            if (want >= 0 && (int64_t)(body->len + take) > want)
                take = (size_t)(want - (int64_t)body->len);
            if (moat_buf_append(body, q->app.base, take) < 0) break;
            moat_buf_consume(&q->app, q->app.len);
            if (want >= 0 && (int64_t)body->len == want) return 0;
        }
        if (body->len > max_body) {
            snprintf(q->err, q->errlen, "the answer of %s is over %zu bytes", q->shown, max_body);
            return -1;
        }
        int r = pull(q);
        if (r < 0) return -1;
        if (r > 0) {
            if (want < 0 && !h->f.chunked) return 0;
            snprintf(q->err, q->errlen, "%s closed the connection before the whole answer",
                     q->shown);
            return -1;
        }
    }
    snprintf(q->err, q->errlen, "%s sent a malformed body", q->shown);
    return -1;
}

static int exchange(struct req *q, const struct moat_url *u, const char *method,
                    const char *const *headers, size_t nheaders, const void *body, size_t len,
                    size_t max_body, struct moat_request_response *resp)
{
    if (handshake(q) < 0 || send_request(q, u, method, headers, nheaders, body, len) < 0) return -1;
    moat_http_response h;
    int hl;
    while ((hl = moat_http_parse_response((const char *)q->app.base, q->app.len, &h)) == 0) {
        int r = pull(q);
        if (r < 0) return -1;
        if (r > 0) {
            snprintf(q->err, q->errlen, "%s closed the connection before answering", q->shown);
            return -1;
        }
    }
    if (hl < 0) {
        snprintf(q->err, q->errlen, "%s sent a malformed HTTP response", q->shown);
        return -1;
    }
    if (keep_head(resp, &h) < 0) {
        snprintf(q->err, q->errlen, "out of memory");
        return -1;
    }
    int status = h.status;
    int chunked = h.f.chunked;
    int64_t clen = h.f.content_length;
    /* The head's names point into app; drop them before the body moves it. */
    moat_buf_consume(&q->app, (size_t)hl);
    moat_http_response framing = {.status = status};
    framing.f.chunked = chunked;
    framing.f.content_length = clen;
    if (!strcmp(method, "HEAD")) return 0;
    return read_body(q, &framing, status, max_body, &resp->body);
}

int client_request(const moat_tls_config *cfg, const char *method, const char *url,
                   const char *const *headers, size_t nheaders, const void *body, size_t len,
                   double timeout_s, size_t max_body, struct moat_request_response *resp, char *err,
                   size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    moat_buf_init(&resp->body);
    struct moat_url *u = malloc(sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (client_url_parse(url, u, err, errlen) != 0) {
        free(u);
        return -1;
    }
    struct req q = {.fd = -1, .shown = u->shown, .err = err, .errlen = errlen};
    q.deadline = core_mono_ms() + (int64_t)(timeout_s * 1000);
    moat_buf_init(&q.out);
    moat_buf_init(&q.app);
    char addr[64];
    int code = 0, r = -1;
    q.fd = client_connect(u->host, u->shown, u->port, NULL, q.deadline, addr, sizeof addr, &code,
                          NULL);
    if (q.fd < 0)
        snprintf(err, errlen, "cannot connect to %s port %d", u->shown, u->port);
    else if (!(q.t = moat_tls_client_new(cfg, u->name)))
        snprintf(err, errlen, "out of memory");
    else
        r = exchange(&q, u, method, headers, nheaders, body, len, max_body, resp);
    moat_tls_free(q.t);
    if (q.fd >= 0) close(q.fd);
    moat_buf_free(&q.out);
    moat_buf_free(&q.app);
    free(u);
    return r;
}

const char *client_request_header(const struct moat_request_response *r, const char *name,
                                  size_t nth)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->names[i], name) && nth-- == 0) return r->values[i];
    return NULL;
}

void client_request_response_free(struct moat_request_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    r->nheaders = 0;
    moat_buf_free(&r->body);
}
