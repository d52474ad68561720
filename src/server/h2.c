/* moat serve: HTTP/2 streams on one connection, through libnghttp2's
 * callback API (no I/O of its own). A request's pseudo-headers and fields
 * become the same parsed request an HTTP/1.1 head gives (held in
 * nghttp2's own reference-counted buffers, no copy), answered by the one
 * handler (host->route); its head is split into HEADERS fields and its
 * body goes out as DATA: one code path serves both protocols. Only when a
 * proxy route may forward the request is its HTTP/1.1 head written out
 * (the backend gets it) and parsed by the one request parser. Bodies are
 * pulled by nghttp2's data providers only as far as the peer's windows
 * and our output queue allow. */
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "core/clock.h"
#include "http/reader.h"
#include "server/h2.h"
#include "server/proxy.h"

/* Debian 12's 1.52.0-1+deb12u3 carries the fixes for CVE-2023-44487
 * (rapid reset) and CVE-2024-28182 (CONTINUATION flood); the options of
 * those fixes are called below, so a library without them fails to build. */
#if NGHTTP2_VERSION_NUM < 0x013400
#error "moat needs libnghttp2 1.52 or later (Debian 12's, with its CVE fixes)"
#endif

#define H2_CONTINUATIONS 8       /* CONTINUATION frames after one HEADERS */
#define H2_CTRL_PER_SEC 2000     /* SETTINGS, PING, PRIORITY, WINDOW_UPDATE, empty DATA */
#define H2_BOMB_FACTOR 4         /* decoded header bytes past 4x the limit: a bomb */
#define H2_BODY_HIGH (64 * 1024) /* proxied response bytes decoded ahead of the window */
#define H2_STAGE 16384           /* frames gathered into one TLS record */
#define H2_METHOD_MAX 32

/* A request field as nghttp2 decoded it: its buffers are held (a
 * reference each) until the stream ends, and req points into them. */
struct h2_field {
    nghttp2_rcbuf *name, *value;
};

struct h2_stream {
    int32_t id;
    struct h2_stream *prev, *next;
    int64_t start_us; /* when its HEADERS began (core_mono_us): the log's duration */
    /* the request as it arrives */
    nghttp2_rcbuf *method, *path, *authority;
    size_t nfields; /* in fields[], at the end */
    size_t hbytes;  /* decoded header bytes, RFC 9113 6.5.2's way */
    int has_host, has_cl, too_big;
    int req_done;   /* END_STREAM received */
    int chunked_up; /* its body goes on as chunks (no content-length) */
    /* a body of unknown size for the files is read (and bounded by
     * --max-body-size) before the answer; then head_len is its head's */
    int wait_body;
    size_t head_len;
    uint64_t body_total;
    moat_buf head; /* its HTTP/1.1 head when host->text_head; req points into it */
    int have_req;
    /* the answer */
    struct moat_resp resp;
    int answered; /* HEADERS submitted */
    moat_buf inl; /* a small body from memory */
    size_t inl_off;
    struct moat_body body; /* a file */
    /* a proxied exchange: request body (HTTP/1.1-framed) to it, its
     * HTTP/1.1 response from it, decoded into DATA */
    struct moat_proxy *px;
    moat_buf in;
    uint64_t unconsumed; /* DATA bytes in `in` not yet given back to the window */
    moat_buf pxout, pxbody, scratch;
    http_reader rd;
    int pxdone; /* the exchange ended (MOAT_PROXY_*), px freed */
    int pxend;  /* the response body is complete */
    int deferred;
    /* Set before use, so not zeroed at the stream's start (stream_new):
     * the parsed request (by build_request or the HTTP/1.1 parser) and
     * the fields it points into (nfields of them). */
    moat_http_request req;
    struct h2_field fields[MOAT_HTTP_MAX_HEADERS];
};

struct server_h2 {
    nghttp2_session *ng;
    const struct moat_server *s;
    struct h2_host host;
    struct h2_stream *streams;
    size_t nstreams;
    moat_buf stage; /* frames not yet encrypted */
    moat_buf tmp;   /* a response head from the handler */
    int activity, sent, fatal, goaway;
    int over;             /* the session failed to write: nothing more will go out */
    int64_t window_start; /* the current second of the flood counters */
    uint32_t resets, ctrl, continuations;
};

static size_t header_limit(const struct server_h2 *h)
{
    return h->s->max_header + MOAT_HTTP_MAX_REQUEST_LINE;
}

/* A peer that floods us: GOAWAY ENHANCE_YOUR_CALM (RFC 9113 5.4.1), and
 * nothing it sends is read any more. */
static int calm(struct server_h2 *h, const char *why)
{
    if (!h->fatal) {
        fprintf(stderr, "moat serve: HTTP/2 peer sent %s; GOAWAY ENHANCE_YOUR_CALM\n", why);
        nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    h->fatal = 1;
    return 0;
}

static void stream_free(struct server_h2 *h, struct h2_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    h->nstreams--;
    if (st->body.fd >= 0) close(st->body.fd);
    server_proxy_free(st->px);
    nghttp2_rcbuf *held[] = {st->method, st->path, st->authority};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
        if (held[i]) nghttp2_rcbuf_decref(held[i]);
    for (size_t i = 0; i < st->nfields; i++) {
        nghttp2_rcbuf_decref(st->fields[i].name);
        nghttp2_rcbuf_decref(st->fields[i].value);
    }
    moat_buf *bufs[] = {&st->head, &st->inl, &st->in, &st->pxout, &st->pxbody, &st->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        moat_buf_free(bufs[i]);
    free(st);
}

static struct h2_stream *stream_of(struct server_h2 *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->ng, id);
}

/* Flood counters, per second. */
static void tick(struct server_h2 *h)
{
    int64_t now = core_mono_ms();
    if (now - h->window_start >= 1000) {
        h->window_start = now;
        h->resets = h->ctrl = 0;
    }
}

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    struct server_h2 *h = ud;
    (void)ng;
    tick(h);
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        h->continuations = 0;
        break;
    case NGHTTP2_CONTINUATION:
        /* CVE-2024-28182 / CVE-2024-27316: a header block that never ends */
        if (++h->continuations > H2_CONTINUATIONS) return calm(h, "a CONTINUATION flood");
        break;
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM)) h->ctrl++;
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_WINDOW_UPDATE:
        h->ctrl++;
        break;
    }
    if (h->ctrl > H2_CTRL_PER_SEC) return calm(h, "a flood of control frames");
    return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct server_h2 *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || h->fatal)
        return 0;
    if (h->nstreams >= h->s->h2_max_streams) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    /* The request and its fields are written before they are read: only
     * the state before them starts zeroed. */
    struct h2_stream *st = malloc(sizeof *st);
    if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    memset(st, 0, offsetof(struct h2_stream, req));
    st->id = f->hd.stream_id;
    st->start_us = core_mono_us();
    st->body.fd = -1;
    st->next = h->streams;
    if (h->streams) h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    nghttp2_session_set_stream_user_data(ng, st->id, st);
    return 0;
}

static int is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* Keeps one reference to b in *to (a repeated pseudo-header, which
 * nghttp2's checks already refuse, replaces the first). */
static void hold(nghttp2_rcbuf **to, nghttp2_rcbuf *b)
{
    nghttp2_rcbuf_incref(b);
    if (*to) nghttp2_rcbuf_decref(*to);
    *to = b;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, nghttp2_rcbuf *name,
                     nghttp2_rcbuf *value, uint8_t flags, void *ud)
{
    struct server_h2 *h = ud;
    (void)flags, (void)ng;
    struct h2_stream *st = stream_of(h, f->hd.stream_id);
    if (!st || h->fatal) return 0;
    nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);
    /* RFC 9113 6.5.2's size: name, value and 32 bytes each. Decoding
     * goes on past the limit (HPACK state must stay in step) but keeps
     * nothing; far past it, the block is an HPACK bomb. */
    st->hbytes += n.len + v.len + 32;
    if (st->hbytes > header_limit(h) * H2_BOMB_FACTOR) return calm(h, "an HPACK bomb");
    if (st->hbytes > header_limit(h)) st->too_big = 1;
    if (st->too_big || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0; /* trailers: dropped */
    if (n.len && n.base[0] == ':') {
        if (is(n.base, n.len, ":method"))
            hold(&st->method, value);
        else if (is(n.base, n.len, ":path"))
            hold(&st->path, value);
        else if (is(n.base, n.len, ":authority"))
            hold(&st->authority, value);
        return 0;
    }
    /* As an HTTP/1.1 head with more fields than the parser takes: 431. */
    if (st->nfields >= MOAT_HTTP_MAX_HEADERS) {
        st->too_big = 1;
        return 0;
    }
    if (is(n.base, n.len, "host")) st->has_host = 1;
    if (is(n.base, n.len, "content-length")) st->has_cl = 1;
    nghttp2_rcbuf_incref(name);
    nghttp2_rcbuf_incref(value);
    st->fields[st->nfields++] = (struct h2_field){name, value};
    return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    struct h2_stream *st = src->ptr;
    struct server_h2 *h = ud;
    (void)ng, (void)id;
    size_t n = 0;
    if (st->inl_off < st->inl.len) {
        n = st->inl.len - st->inl_off < len ? st->inl.len - st->inl_off : len;
        memcpy(buf, st->inl.base + st->inl_off, n);
        st->inl_off += n;
    } else if (st->body.fd >= 0) {
        size_t want = (off_t)len < st->body.left ? len : (size_t)st->body.left;
        ssize_t r;
        do
            r = pread(st->body.fd, buf, want, st->body.off);
        while (r < 0 && errno == EINTR);
        if (r <= 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the file shrank: reset */
        n = (size_t)r;
        st->body.off += r;
        st->body.left -= r;
        if (!st->body.left) {
            close(st->body.fd);
            st->body.fd = -1;
        }
    } else if (st->pxbody.len) {
        n = st->pxbody.len < len ? st->pxbody.len : len;
        memcpy(buf, st->pxbody.base, n);
        moat_buf_consume(&st->pxbody, n);
    } else if (st->rd.body.framing && !st->pxend) {
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    int more = st->inl_off < st->inl.len || st->body.fd >= 0 || st->pxbody.len ||
               (st->rd.body.framing && !st->pxend);
    if (!more) *flags |= NGHTTP2_DATA_FLAG_EOF;
    h->sent = 1;
    return (ssize_t)n;
}

/* RFC 9113 8.2.2: fields that do not travel in HTTP/2. */
static int connection_specific(const uint8_t *n, size_t l)
{
    static const struct {
        const char *name;
        size_t len;
    } names[] = {{"connection", 10}, {"keep-alive", 10}, {"proxy-connection", 16},
                 {"transfer-encoding", 17}, {"upgrade", 7}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (l == names[i].len && strncasecmp((const char *)n, names[i].name, l) == 0) return 1;
    return 0;
}

/* Submits HEADERS of status and the n fields in nv[1..n] (nv[0] is kept
 * for :status; names lowercase); body: a DATA provider follows. */
static int submit(struct server_h2 *h, struct h2_stream *st, int status, nghttp2_nv *nv, size_t n,
                  int body)
{
    unsigned code = (unsigned)status % 1000;
    uint8_t digits[3] = {(uint8_t)('0' + code / 100), (uint8_t)('0' + code / 10 % 10),
                         (uint8_t)('0' + code % 10)};
    nv[0] = (nghttp2_nv){(uint8_t *)":status", digits, 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    st->answered = 1;
    st->resp.status = status;
    return nghttp2_submit_response(h->ng, st->id, nv, n + 1, body ? &prd : NULL);
}

/* Submits the HTTP/1.1 response r (parsed from buf, which it may change:
 * names are lowercased in place) as HEADERS; body: a DATA provider follows. */
static int submit_head(struct server_h2 *h, struct h2_stream *st, uint8_t *buf,
                       const moat_http_response *r, int body)
{
    nghttp2_nv nv[MOAT_HTTP_MAX_HEADERS + 1];
    size_t n = 0;
    for (size_t i = 0; i < r->f.nheaders; i++) {
        const moat_http_header *f = &r->f.headers[i];
        uint8_t *nm = buf + (f->name - (const char *)buf);
        if (connection_specific(nm, f->name_len)) continue;
        for (size_t k = 0; k < f->name_len; k++)
            if (nm[k] >= 'A' && nm[k] <= 'Z') nm[k] = (uint8_t)(nm[k] + 32);
        nv[++n] =
            (nghttp2_nv){nm, (uint8_t *)f->value, f->name_len, f->value_len, NGHTTP2_NV_FLAG_NONE};
    }
    return submit(h, st, r->status, nv, n, body);
}

/* Splits a head the handler wrote (ours, so well formed: the status line
 * "HTTP/1.1 NNN reason", "Name: value" lines, an empty line) straight
 * into nv[1..], names lowercased in place, without the checks a peer's
 * head needs. Returns the head's length and sets *status and *n, or -1
 * when it is not such a head. */
static long split_head(uint8_t *p, size_t len, nghttp2_nv *nv, size_t cap, int *status, size_t *n)
{
    uint8_t *end = p + len, *eol = memchr(p, '\n', len);
    if (!eol || eol - p < 14 || memcmp(p, "HTTP/1.1 ", 9) != 0) return -1;
    *status = 0;
    for (int k = 9; k < 12; k++) {
        if (p[k] < '0' || p[k] > '9') return -1;
        *status = *status * 10 + (p[k] - '0');
    }
    *n = 0;
    for (uint8_t *line = eol + 1;; line = eol + 1) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol || eol == line || eol[-1] != '\r') return -1;
        if (eol == line + 1) return (long)(eol + 1 - p); /* the empty line */
        uint8_t *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line || colon + 1 >= eol || colon[1] != ' ') return -1;
        size_t nl = (size_t)(colon - line);
        if (connection_specific(line, nl)) continue;
        if (*n + 1 >= cap) return -1;
        for (size_t k = 0; k < nl; k++)
            if (line[k] >= 'A' && line[k] <= 'Z') line[k] = (uint8_t)(line[k] + 32);
        nv[++*n] = (nghttp2_nv){line, colon + 2, nl, (size_t)(eol - 1 - (colon + 2)),
                                NGHTTP2_NV_FLAG_NONE};
    }
}

/* The handler's answer in h->tmp (an HTTP/1.1 head, maybe a small body
 * after it) and st->body, as HEADERS and DATA. */
static void answer(struct server_h2 *h, struct h2_stream *st)
{
    nghttp2_nv nv[MOAT_HTTP_MAX_HEADERS + 1];
    size_t n = 0;
    int status = 0;
    long hl = split_head(h->tmp.base, h->tmp.len, nv, sizeof nv / sizeof nv[0], &status, &n);
    if (hl <= 0 ||
        moat_buf_append(&st->inl, h->tmp.base + hl, h->tmp.len - (size_t)hl) < 0 ||
        submit(h, st, status, nv, n, st->inl.len || st->body.fd >= 0) < 0)
        nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static void answer_error(struct server_h2 *h, struct h2_stream *st, int status)
{
    moat_buf_clear(&h->tmp);
    st->resp.status = status;
    st->resp.bytes = server_error(&h->tmp, status, 0, 0);
    answer(h, st);
}

static nghttp2_vec vec(nghttp2_rcbuf *b)
{
    return b ? nghttp2_rcbuf_get_buf(b) : (nghttp2_vec){NULL, 0};
}

static int put(moat_buf *b, nghttp2_rcbuf *x)
{
    nghttp2_vec v = vec(x);
    return moat_buf_append(b, v.base, v.len);
}

/* The request's HTTP/1.1 head into st->head, for the one parser (and a
 * backend). */
static int write_head(struct h2_stream *st)
{
    moat_buf *b = &st->head;
    int r = put(b, st->method);
    r |= moat_buf_append(b, " ", 1);
    r |= put(b, st->path);
    r |= moat_buf_append(b, " HTTP/1.1\r\n", 11);
    /* RFC 9113 8.3.1: :authority stands for Host */
    if (!st->has_host && st->authority) {
        r |= moat_buf_append(b, "host: ", 6);
        r |= put(b, st->authority);
        r |= moat_buf_append(b, "\r\n", 2);
    }
    for (size_t i = 0; i < st->nfields; i++) {
        r |= put(b, st->fields[i].name);
        r |= moat_buf_append(b, ": ", 2);
        r |= put(b, st->fields[i].value);
        r |= moat_buf_append(b, "\r\n", 2);
    }
    /* A body of unknown length goes on to a backend as chunks. */
    if (!st->req_done && !st->has_cl) {
        st->chunked_up = 1;
        r |= moat_buf_append(b, "transfer-encoding: chunked\r\n", 28);
    }
    r |= moat_buf_append(b, "\r\n", 2);
    return r ? -1 : 0;
}

static int is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 8.6: 1*DIGIT (nghttp2 has checked it too), or -1. */
static int64_t content_length(const uint8_t *v, size_t n)
{
    int64_t x = 0;
    if (!n || n > 18) return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* st->req straight from the decoded HEADERS, as the HTTP/1.1 parser would
 * make it of write_head's text: the same fields (:authority as the first,
 * "host", when no Host came), the same limits and checks. nghttp2 has
 * already refused what RFC 9113 8.2 and 8.3 forbid (connection-specific
 * fields, uppercase names, bad values, pseudo-header misuse). Returns 0
 * or the status to answer with. */
static int build_request(struct h2_stream *st)
{
    moat_http_request *q = &st->req;
    nghttp2_vec m = vec(st->method), t = vec(st->path);
    for (size_t i = 0; i < m.len; i++)
        if (!is_tchar(m.base[i])) return 400;
    for (size_t i = 0; i < t.len; i++)
        if (t.base[i] <= 0x20 || t.base[i] >= 0x7f) return 400;
    if (m.len + t.len + 11 > MOAT_HTTP_MAX_REQUEST_LINE) return 414;
    *q = (moat_http_request){.method = (const char *)m.base, .method_len = m.len,
                             .target = (const char *)t.base, .target_len = t.len};
    moat_http_fields *f = &q->f;
    f->minor = 1;
    f->keep_alive = 1;
    f->content_length = -1;
    size_t bytes = 2, hosts = 0;
    if (!st->has_host && st->authority) {
        nghttp2_vec a = vec(st->authority);
        f->headers[f->nheaders++] = (moat_http_header){"host", 4, (const char *)a.base, a.len};
    }
    for (size_t i = 0; i < st->nfields; i++) {
        if (f->nheaders >= MOAT_HTTP_MAX_HEADERS) return 431;
        nghttp2_vec n = vec(st->fields[i].name), v = vec(st->fields[i].value);
        f->headers[f->nheaders++] =
            (moat_http_header){(const char *)n.base, n.len, (const char *)v.base, v.len};
    }
    for (size_t i = 0; i < f->nheaders; i++) {
        const moat_http_header *x = &f->headers[i];
        if ((bytes += x->name_len + x->value_len + 4) > MOAT_HTTP_MAX_HEADER_BYTES) return 431;
        if (x->name_len == 14 && !memcmp(x->name, "content-length", 14)) {
            int64_t v = content_length((const uint8_t *)x->value, x->value_len);
            if (v < 0 || (f->content_length >= 0 && v != f->content_length)) return 400;
            f->content_length = v;
        } else if (x->name_len == 4 && !memcmp(x->name, "host", 4) && hosts++ == 0) {
            q->host = x->value;
            q->host_len = x->value_len;
        }
    }
    /* RFC 9112 3.2's one Host (from :authority or a field), a valid one */
    if (hosts != 1 || !moat_http_host_valid(q->host, q->host_len)) return 400;
    /* A body of unknown length: as an HTTP/1.1 chunked one. */
    if (!st->req_done && !st->has_cl) st->chunked_up = f->chunked = 1;
    return 0;
}

static void route(struct server_h2 *h, struct h2_stream *st, size_t head_len);

static void start_request(struct server_h2 *h, struct h2_stream *st)
{
    h->activity = 1;
    if (st->too_big) return answer_error(h, st, 431);
    nghttp2_vec m = vec(st->method), t = vec(st->path);
    if (!m.len || !t.len || m.len > H2_METHOD_MAX || memchr(t.base, ' ', t.len))
        return answer_error(h, st, 400);
    size_t n = 0;
    if (h->host.text_head) {
        if (write_head(st) < 0) return answer_error(h, st, 400);
        int r = moat_http_parse_request((const char *)st->head.base, st->head.len, &st->req);
        if (r <= 0) return answer_error(h, st, r < 0 ? -r : 400);
        n = (size_t)r;
    } else {
        int r = build_request(st);
        if (r) return answer_error(h, st, r);
    }
    st->have_req = 1;
    if (st->req.f.content_length > 0 && (uint64_t)st->req.f.content_length > h->s->max_body)
        return answer_error(h, st, 413);
    /* As for HTTP/1.1's chunked bodies: one of unknown size that the
     * files would answer is read to its end first, 413 past the limit. */
    if (st->chunked_up && h->host.reads_body(h->host.conn, &st->req)) {
        st->wait_body = 1;
        st->head_len = n;
        return;
    }
    route(h, st, n);
}

static void route(struct server_h2 *h, struct h2_stream *st, size_t head_len)
{
    moat_buf_clear(&h->tmp);
    h->host.route(h->host.conn, &st->req, st->head.base, head_len, &h->tmp, &st->body, &st->px,
                  &st->resp);
    if (st->px) {
        http_reader_init(&st->rd, st->req.method_len == 4 && !memcmp(st->req.method, "HEAD", 4));
        return;
    }
    answer(h, st);
}

/* The request body ended: a chunked one gets its last chunk; one the
 * files waited for is answered now. */
static void end_request(struct server_h2 *h, struct h2_stream *st)
{
    if (st->req_done) return;
    st->req_done = 1;
    if (st->chunked_up && st->px) moat_buf_append(&st->in, "0\r\n\r\n", 5);
    if (st->wait_body) {
        st->wait_body = 0;
        route(h, st, st->head_len);
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct server_h2 *h = ud;
    (void)ng;
    if (h->fatal) return 0;
    struct h2_stream *st = f->hd.stream_id ? stream_of(h, f->hd.stream_id) : NULL;
    int end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (!st) break;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            st->req_done = end;
            start_request(h, st);
        } else if (end) {
            end_request(h, st);
        }
        break;
    case NGHTTP2_DATA:
        if (st && end) end_request(h, st);
        break;
    case NGHTTP2_RST_STREAM:
        /* CVE-2023-44487: streams opened and cancelled at once cost us
         * work and the peer nothing; past the cap the connection ends. */
        tick(h);
        if (++h->resets > h->s->h2_max_resets) return calm(h, "too many RST_STREAM a second");
        break;
    }
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    struct server_h2 *h = ud;
    (void)flags;
    struct h2_stream *st = stream_of(h, id);
    h->activity = 1;
    if (!st || !st->px || st->req_done) { /* nobody reads it: the window reopens */
        if (nghttp2_session_consume(ng, id, len) != 0) nghttp2_session_consume_connection(ng, len);
        if (st && st->wait_body && (st->body_total += len) > h->s->max_body) {
            st->wait_body = 0;
            answer_error(h, st, 413);
        }
        return 0;
    }
    /* Kept until the backend takes it: the stream window bounds it. */
    char line[24];
    int r = 0;
    if (st->chunked_up && len) {
        int k = snprintf(line, sizeof line, "%zx\r\n", len);
        r |= moat_buf_append(&st->in, line, (size_t)k);
    }
    r |= moat_buf_append(&st->in, data, len);
    if (st->chunked_up && len) r |= moat_buf_append(&st->in, "\r\n", 2);
    st->unconsumed += len;
    if (r) nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    return 0;
}

/* A complete response to a request still sending its body leaves the
 * stream half-closed: the rest of the body is read and dropped (its
 * window reopened), as nginx does. RFC 9113 8.1 allows RST_STREAM
 * NO_ERROR instead, but curl 7.88 takes that for a failed request. A
 * body that never ends holds one stream of --http2-max-streams until
 * --idle-timeout ends the connection. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct server_h2 *h = ud;
    (void)ng;
    if (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) h->sent = 1;
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct server_h2 *h = ud;
    (void)code;
    struct h2_stream *st = stream_of(h, id);
    if (!st) return 0;
    if (st->answered || st->pxdone || st->px) {
        if (!st->resp.status) st->resp.status = 499;
        h->host.log(h->host.conn, st->have_req ? &st->req : NULL, &st->resp, st->start_us);
    }
    if (st->unconsumed) nghttp2_session_consume_connection(ng, st->unconsumed);
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_free(h, st);
    return 0;
}

struct server_h2 *server_h2_new(const struct moat_server *s, const struct h2_host *host)
{
    struct server_h2 *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    if (!h || nghttp2_session_callbacks_new(&cb) || nghttp2_option_new(&opt)) goto fail;
    h->s = s;
    h->host = *host;
    h->window_start = core_mono_ms();
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    /* Windows reopen as the backend takes the bytes, not as they arrive. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* The library's own limits, behind ours (which answer first). */
    nghttp2_option_set_max_continuations(opt, 2 * H2_CONTINUATIONS);
    nghttp2_option_set_stream_reset_rate_limit(opt, 2 * (uint64_t)s->h2_max_resets,
                                               2 * (uint64_t)s->h2_max_resets);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    /* No RFC 7540 priority tree (RFC 9113 5.3.2 deprecates it; below we
     * say so, RFC 9218 2.1): closed streams are not kept for it and
     * every frame sent skips its bookkeeping. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    if (nghttp2_session_server_new2(&h->ng, cb, h, opt)) goto fail;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->h2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s->h2_stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)header_limit(h)},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) ||
        nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)s->h2_conn_window))
        goto fail;
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    return h;
fail:
    if (cb) nghttp2_session_callbacks_del(cb);
    if (opt) nghttp2_option_del(opt);
    server_h2_free(h);
    return NULL;
}

void server_h2_free(struct server_h2 *h)
{
    if (!h) return;
    while (h->streams)
        stream_free(h, h->streams);
    nghttp2_session_del(h->ng);
    moat_buf_free(&h->stage);
    moat_buf_free(&h->tmp);
    free(h);
}

int server_h2_recv(struct server_h2 *h, const uint8_t *p, size_t n)
{
    h->activity = 0;
    if (h->fatal) return -1;
    ssize_t r = nghttp2_session_mem_recv(h->ng, p, n);
    if (r < 0) {
        /* A protocol error: nghttp2 queued its GOAWAY; a preface that is
         * not HTTP/2's gets none (RFC 9113 3.4). */
        if (r == NGHTTP2_ERR_FLOODED) /* acks piling up unread: a flood */
            calm(h, "frames whose answers it does not read");
        else if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
            nghttp2_session_terminate_session(h->ng, NGHTTP2_PROTOCOL_ERROR);
        h->fatal = 1;
        return -1;
    }
    return h->fatal ? -1 : h->activity;
}

/* Moves one proxied stream on: the exchange, then its response into
 * HEADERS and decoded DATA. */
static void proxy_stream(struct server_h2 *h, struct h2_stream *st, int64_t now)
{
    if (st->px) {
        size_t before = st->in.len;
        int progress = 0;
        int r = server_proxy_pump(st->px, NULL, &st->in, &st->pxout, st->req_done, now, &progress);
        size_t taken = before > st->in.len ? before - st->in.len : 0;
        if (taken > st->unconsumed) taken = (size_t)st->unconsumed;
        if (taken) {
            nghttp2_session_consume(h->ng, st->id, taken);
            st->unconsumed -= taken;
        }
        if (r != MOAT_PROXY_BUSY) {
            moat_http_request ignored;
            struct moat_resp resp;
            server_proxy_result(st->px, &ignored, &resp);
            st->resp = resp;
            server_proxy_free(st->px);
            st->px = NULL;
            st->pxdone = r;
        }
    }
    while (!st->answered && st->pxout.len) {
        moat_http_response resp;
        size_t hl = 0;
        int r = http_reader_head(&st->rd, st->pxout.base, st->pxout.len, &resp, &hl);
        if (r == HTTP_HEAD_MORE) break;
        if (r == HTTP_HEAD_INTERIM) {
            moat_buf_consume(&st->pxout, hl);
            continue;
        }
        if (r < 0 || submit_head(h, st, st->pxout.base, &resp, !st->rd.body.done) < 0) {
            nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
            st->pxend = 1;
            moat_buf_clear(&st->pxout);
            return;
        }
        if (st->rd.body.done) st->pxend = 1;
        moat_buf_consume(&st->pxout, hl);
    }
    while (st->answered && !st->pxend && st->pxout.len && st->pxbody.len < H2_BODY_HIGH) {
        http_piece p;
        int r = http_body_feed(&st->rd.body, st->pxout.base, st->pxout.len, &st->scratch, &p);
        if (p.len) moat_buf_append(&st->pxbody, p.data, p.len);
        moat_buf_consume(&st->pxout, p.used);
        if (r == HTTP_BODY_END) st->pxend = 1;
        if (r < 0) {
            nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
            st->pxend = 1;
            return;
        }
        if (!p.used) break;
    }
    if (st->pxdone && !st->pxout.len && !st->pxend) {
        if (st->answered && st->rd.body.framing == HTTP_BODY_CLOSE &&
            st->pxdone != MOAT_PROXY_ABORT) {
            st->pxend = 1;
        } else { /* cut short */
            nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
            st->pxend = 1;
        }
    }
    if (st->deferred && (st->pxbody.len || st->pxend)) {
        st->deferred = 0;
        nghttp2_session_resume_data(h->ng, st->id);
    }
}

static int flush_stage(struct server_h2 *h)
{
    int r = h->stage.len ? h->host.send(h->host.conn, h->stage.base, h->stage.len) : 0;
    moat_buf_clear(&h->stage);
    return r;
}

int server_h2_pump(struct server_h2 *h, const size_t *queued, size_t high, int64_t now)
{
    h->sent = 0;
    for (struct h2_stream *st = h->streams, *next; st; st = next) {
        next = st->next;
        if (st->px || st->pxout.len || (st->pxdone && !st->pxend)) proxy_stream(h, st, now);
    }
    while (*queued + h->stage.len < high) {
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(h->ng, &d);
        if (n <= 0) {
            if (n < 0) h->fatal = h->over = 1;
            break;
        }
        if (moat_buf_append(&h->stage, d, (size_t)n) < 0) {
            h->fatal = 1;
            break;
        }
        if (h->stage.len >= H2_STAGE && flush_stage(h) < 0) h->fatal = 1;
    }
    if (flush_stage(h) < 0) h->fatal = 1;
    return h->sent;
}

void server_h2_goaway(struct server_h2 *h)
{
    if (h->goaway || h->fatal) return;
    h->goaway = 1;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

int server_h2_done(const struct server_h2 *h)
{
    int ww = nghttp2_session_want_write(h->ng);
    return h->over || (h->fatal && !ww) || (!nghttp2_session_want_read(h->ng) && !ww);
}

int server_h2_want_write(const struct server_h2 *h)
{
    return !h->over && nghttp2_session_want_write(h->ng);
}

int server_h2_idle(const struct server_h2 *h)
{
    return h->nstreams == 0;
}
