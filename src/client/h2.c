/* moat get over HTTP/2: the client session on libnghttp2 (framing, HPACK,
 * flow control), fed and drained by the caller; limits on what the server
 * may make it hold. */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/body.h"
#include "client/client.h"
#include "client/h2.h"
#include "http/reader.h"

/* RFC 9113 8.2.2: connection-specific fields never travel in HTTP/2. */
static int connection_specific(const char *name, size_t n, const char *v, size_t vn)
{
    static const char *const drop[] = {"connection",        "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade",    "host"};
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        if (strlen(drop[i]) == n && strncasecmp(name, drop[i], n) == 0) return 1;
    return n == 2 && strncasecmp(name, "te", 2) == 0 &&
           !(vn == 8 && !strncasecmp(v, "trailers", 8));
}

static const char *frame_name(uint8_t t)
{
    static const char *const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    return t < sizeof names / sizeof *names ? names[t] : "unknown";
}

/* --explain: one line per frame, with what it carried. */
static void tell_frame(struct client_h2 *h, const nghttp2_frame *f, int sent)
{
    if (!h->ex) return;
    char line[200];
    int n = snprintf(line, sizeof line, "%s", frame_name(f->hd.type));
    if (f->hd.stream_id)
        n += snprintf(line + n, sizeof line - (size_t)n, " stream %d", f->hd.stream_id);
    n += snprintf(line + n, sizeof line - (size_t)n, ", %zu bytes", f->hd.length);
    switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
        if (f->hd.flags & NGHTTP2_FLAG_ACK) {
            snprintf(line + n, sizeof line - (size_t)n, ", ACK");
            break;
        }
        for (size_t i = 0; i < f->settings.niv && n < (int)sizeof line - 40; i++) {
            static const char *const s[] = {"?",
                                            "HEADER_TABLE_SIZE",
                                            "ENABLE_PUSH",
                                            "MAX_CONCURRENT_STREAMS",
                                            "INITIAL_WINDOW_SIZE",
                                            "MAX_FRAME_SIZE",
                                            "MAX_HEADER_LIST_SIZE"};
            int32_t id = f->settings.iv[i].settings_id;
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%s=%u", i ? " " : ": ",
                          id > 0 && id < 7 ? s[id] : "?", f->settings.iv[i].value);
        }
        break;
    case NGHTTP2_WINDOW_UPDATE:
        snprintf(line + n, sizeof line - (size_t)n, ", +%d",
                 f->window_update.window_size_increment);
        break;
    case NGHTTP2_RST_STREAM:
        snprintf(line + n, sizeof line - (size_t)n, ", %s",
                 nghttp2_http2_strerror(f->rst_stream.error_code));
        break;
    case NGHTTP2_GOAWAY:
        snprintf(line + n, sizeof line - (size_t)n, ", last stream %d, %s",
                 f->goaway.last_stream_id, nghttp2_http2_strerror(f->goaway.error_code));
        break;
    case NGHTTP2_PING:
        if (f->hd.flags & NGHTTP2_FLAG_ACK) snprintf(line + n, sizeof line - (size_t)n, ", ACK");
        break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
            snprintf(line + n, sizeof line - (size_t)n, ", END_STREAM");
        break;
    }
    client_explain_frame(h->ex, sent, f->hd.type, line);
}

static void failed(struct client_h2 *h, const char *what)
{
    if (!h->err[0]) snprintf(h->err, sizeof h->err, "%s", what);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)s;
    struct client_h2 *h = arg;
    if (f->hd.type != NGHTTP2_HEADERS || f->hd.stream_id != h->stream) return 0;
    h->in_trailers = h->head_ready;
    if (!h->in_trailers && h->ninterim >= HTTP_MAX_INTERIM) {
        /* as for HTTP/1.1: a server could send 1xx heads forever */
        h->too_big = 1;
        snprintf(h->err, sizeof h->err, "over %d interim (1xx) responses", HTTP_MAX_INTERIM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    }
    if (!h->in_trailers) {
        moat_buf_clear(&h->head);
        h->status = 0;
        h->content_length = -1;
    }
    return 0;
}

/* One field of the response: checked against the caps (the same as for an
 * HTTP/1.1 head, in RFC 9113's measure: name, value and 32 bytes), then
 * added to the head text. */
static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
    (void)s, (void)flags;
    struct client_h2 *h = arg;
    if (f->hd.type != NGHTTP2_HEADERS || f->hd.stream_id != h->stream) return 0;
    h->head_bytes += nl + vl + 32;
    if (++h->nfields > MOAT_HTTP_MAX_HEADERS * (h->ninterim + 1) ||
        h->head_bytes > HTTP_MAX_HEAD + HTTP_MAX_INTERIM_BYTES * (h->ninterim > 0)) {
        h->too_big = 1;
        snprintf(h->err, sizeof h->err, "the response head is over %d fields or %d bytes",
                 MOAT_HTTP_MAX_HEADERS, HTTP_MAX_HEAD);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    }
    if (h->in_trailers) return 0;
    int bad = 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        /* libnghttp2 checks it too (RFC 9113 8.3.2); moat does not rely on it */
        if (vl != 3 || value[0] < '1' || value[0] > '9' || value[1] < '0' || value[1] > '9' ||
            value[2] < '0' || value[2] > '9')
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        h->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        char line[32];
        int n = snprintf(line, sizeof line, "HTTP/2 %03d \r\n", h->status);
        bad = moat_buf_append(&h->head, line, (size_t)n) < 0;
    } else {
        if (nl == 14 && memcmp(name, "content-length", 14) == 0) {
            h->content_length = 0;
            for (size_t i = 0; i < vl && i < 18 && value[i] >= '0' && value[i] <= '9'; i++)
                h->content_length = h->content_length * 10 + (value[i] - '0');
        }
        bad = moat_buf_append(&h->head, name, nl) < 0 || moat_buf_append(&h->head, ": ", 2) < 0 ||
              moat_buf_append(&h->head, value, vl) < 0 || moat_buf_append(&h->head, "\r\n", 2) < 0;
    }
    return bad ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* A complete HEADERS block: a 1xx is interim (kept for -v, bounded as for
 * HTTP/1.1), anything else the final head. */
static void headers_done(struct client_h2 *h)
{
    if (h->in_trailers || h->head_ready) return;
    moat_buf_append(&h->head, "\r\n", 2);
    if (h->status >= 200) {
        h->head_ready = 1;
        return;
    }
    h->ninterim++;
    moat_buf_append(&h->interim, h->head.base, h->head.len);
    moat_buf_clear(&h->head);
    h->status = 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    struct client_h2 *h = arg;
    tell_frame(h, f, 0);
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (f->hd.stream_id == h->stream) headers_done(h);
        return 0;
    case NGHTTP2_DATA:
        if (f->hd.length || f->hd.flags & NGHTTP2_FLAG_END_STREAM) return 0;
        break;
    case NGHTTP2_GOAWAY:
        h->goaway = 1;
        h->goaway_code = f->goaway.error_code;
        if (f->goaway.error_code != NGHTTP2_NO_ERROR)
            snprintf(h->err, sizeof h->err, "the server ended the HTTP/2 session: GOAWAY %s",
                     nghttp2_http2_strerror(f->goaway.error_code));
        return 0;
    case NGHTTP2_WINDOW_UPDATE:
        return 0;
    case NGHTTP2_RST_STREAM:
        if (f->hd.stream_id == h->stream) return 0;
        break;
    }
    /* Frames that carry nothing for the transfer: a server sending them
     * without end would keep moat answering them forever. */
    if (++h->control > CLIENT_H2_MAX_CONTROL) {
        snprintf(h->err, sizeof h->err, "the server sent over %d control frames (%s last)",
                 CLIENT_H2_MAX_CONTROL, frame_name(f->hd.type));
        nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
        h->fatal = 1;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)s;
    struct client_h2 *h = arg;
    tell_frame(h, f, 1);
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
        h->fatal = 1;
        char why[160];
        snprintf(why, sizeof why, "moat ended the HTTP/2 session: GOAWAY %s",
                 nghttp2_http2_strerror(f->goaway.error_code));
        failed(h, why);
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
                   void *arg)
{
    (void)s, (void)flags;
    struct client_h2 *h = arg;
    if (id != h->stream) return 0;
    /* Taken by the caller after each client_h2_input, so bounded by the
     * bytes of one call. */
    return moat_buf_append(&h->data, p, n) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
    (void)s;
    struct client_h2 *h = arg;
    if (id != h->stream) return 0;
    h->closed = 1;
    if (h->cancelled) return 0; /* moat reset it itself: no error of the server's */
    h->stream_error = code;
    h->refused = code == NGHTTP2_REFUSED_STREAM;
    if (code != NGHTTP2_NO_ERROR && !h->too_big) {
        char why[160];
        snprintf(why, sizeof why, "HTTP/2 stream %d was not closed cleanly: %s (err %u)", id,
                 nghttp2_http2_strerror(code), code);
        failed(h, why);
    }
    return 0;
}

static int on_error(nghttp2_session *s, int code, const char *msg, size_t len, void *arg)
{
    (void)s, (void)code;
    struct client_h2 *h = arg;
    char why[200];
    snprintf(why, sizeof why, "the server broke HTTP/2: %.*s", (int)(len < 150 ? len : 150), msg);
    failed(h, why);
    return 0;
}

/* The request body, as the windows allow: from memory, or read from the
 * streamed body (-T, -F) a frame's worth at a time, ending with END_STREAM
 * (a body of unknown length, stdin, needs no coding here). */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *arg)
{
    (void)s, (void)id, (void)src;
    struct client_h2 *h = arg;
    if (h->stream_body) {
        ssize_t n = client_body_read(h->stream_body, buf, len, h->body_err, sizeof h->body_err);
        if (n < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
        if (n == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return n;
    }
    size_t left = h->body_len - h->body_off;
    size_t n = left < len ? left : len;
    if (n) memcpy(buf, h->body + h->body_off, n);
    h->body_off += n;
    if (h->body_off == h->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

int client_h2_init(struct client_h2 *h, struct moat_explain *ex)
{
    memset(h, 0, sizeof *h);
    moat_buf_init(&h->head);
    moat_buf_init(&h->interim);
    moat_buf_init(&h->data);
    h->ex = ex;
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb)) return -1;
    if (nghttp2_option_new(&opt)) {
        nghttp2_session_callbacks_del(cb);
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    /* The peer's SETTINGS frames carry at most this many entries. */
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_session *s = NULL;
    int r = nghttp2_session_client_new2(&s, cb, h, opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    if (r) return -1;
    h->session = s;
    /* RFC 9113 6.5.2: no server push; windows and the field cap above. */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, CLIENT_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HTTP_MAX_HEAD},
    };
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv) ||
        nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, CLIENT_H2_CONN_WINDOW)) {
        client_h2_free(h);
        return -1;
    }
    return 0;
}

void client_h2_free(struct client_h2 *h)
{
    nghttp2_session_del(h->session);
    h->session = NULL;
    moat_buf_free(&h->head);
    moat_buf_free(&h->interim);
    moat_buf_free(&h->data);
}

/* Adds one field to nv (names lowercased in place in names). */
static int add_nv(nghttp2_nv *nv, size_t *n, size_t cap, const char *name, size_t nl,
                  const char *value, size_t vl)
{
    if (*n == cap) return -1;
    nv[*n] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, nl, vl, NGHTTP2_NV_FLAG_NONE};
    (*n)++;
    return 0;
}

int client_h2_request(struct client_h2 *h, const char *head, size_t n, const uint8_t *body,
                      size_t len, struct client_body *stream, int verbose)
{
    enum { CAP = 80 };
    nghttp2_nv nv[CAP];
    size_t nnv = 0;
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, head, n);
    copy[n] = '\0';
    /* The request line: METHOD SP path SP HTTP/1.1 */
    char *eol = strstr(copy, "\r\n"), *sp1 = strchr(copy, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    int bad = !eol || !sp1 || !sp2 || sp2 > eol;
    const char *auth = NULL;
    size_t authlen = 0;
    if (!bad) {
        add_nv(nv, &nnv, CAP, ":method", 7, copy, (size_t)(sp1 - copy));
        add_nv(nv, &nnv, CAP, ":scheme", 7, "https", 5);
        add_nv(nv, &nnv, CAP, ":authority", 10, "", 0); /* filled from Host below */
        add_nv(nv, &nnv, CAP, ":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    }
    for (char *p = eol ? eol + 2 : NULL; !bad && p && *p && !(p[0] == '\r' && p[1] == '\n');) {
        char *e = strstr(p, "\r\n"), *c = strchr(p, ':');
        if (!e || !c || c > e) {
            bad = 1;
            break;
        }
        *e = '\0';
        size_t nl = (size_t)(c - p);
        const char *v = c + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        for (size_t i = 0; i < nl; i++)
            if (p[i] >= 'A' && p[i] <= 'Z') p[i] = (char)(p[i] - 'A' + 'a');
        if (nl == 4 && memcmp(p, "host", 4) == 0) {
            auth = v;
            authlen = vl;
        }
        if (!connection_specific(p, nl, v, vl)) bad = add_nv(nv, &nnv, CAP, p, nl, v, vl) < 0;
        p = e + 2;
    }
    if (bad || !auth) {
        free(copy);
        failed(h, "the request cannot be sent over HTTP/2");
        return -1;
    }
    nv[2].value = (uint8_t *)auth;
    nv[2].valuelen = authlen;
    if (verbose)
        for (size_t i = 0; i < nnv; i++)
            fprintf(stderr, "> %.*s: %.*s\n", (int)nv[i].namelen, (const char *)nv[i].name,
                    (int)nv[i].valuelen, (const char *)nv[i].value);
    moat_buf_clear(&h->head);
    moat_buf_clear(&h->interim);
    moat_buf_clear(&h->data);
    h->status = h->head_ready = h->closed = h->in_trailers = h->too_big = h->refused = 0;
    h->cancelled = 0;
    h->body_err[0] = '\0';
    h->stream_body = stream;
    h->stream_error = 0;
    h->head_bytes = h->nfields = h->ninterim = 0;
    h->content_length = -1;
    h->err[0] = '\0';
    h->body = body;
    h->body_len = len;
    h->body_off = 0;
    nghttp2_data_provider prd = {.read_callback = read_body};
    int32_t id =
        nghttp2_submit_request(h->session, NULL, nv, nnv, body || stream ? &prd : NULL, NULL);
    free(copy); /* nghttp2 copied the fields */
    if (id < 0) {
        snprintf(h->err, sizeof h->err, "cannot start an HTTP/2 stream: %s", nghttp2_strerror(id));
        return -1;
    }
    h->stream = id;
    return 0;
}

int client_h2_output(struct client_h2 *h, moat_buf *out)
{
    while (out->len < CLIENT_H2_SEND_CHUNK) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(h->session, &p);
        if (n < 0) {
            snprintf(h->err, sizeof h->err, "HTTP/2: %s", nghttp2_strerror((int)n));
            h->fatal = 1;
            return -1;
        }
        if (n == 0) break;
        if (moat_buf_append(out, p, (size_t)n) < 0) {
            failed(h, "out of memory");
            h->fatal = 1;
            return -1;
        }
    }
    return 0;
}

int client_h2_want_write(const struct client_h2 *h)
{
    return h->session && nghttp2_session_want_write(h->session);
}

int client_h2_input(struct client_h2 *h, const uint8_t *p, size_t n)
{
    ssize_t r = nghttp2_session_mem_recv(h->session, p, n);
    if (r < 0) {
        h->refused_input = r != NGHTTP2_ERR_CALLBACK_FAILURE;
        char why[160];
        snprintf(why, sizeof why, "HTTP/2: %s", nghttp2_strerror((int)r));
        failed(h, why);
        h->fatal = 1;
        return -1;
    }
    return h->fatal ? -1 : 0;
}

void client_h2_cancel(struct client_h2 *h)
{
    if (!h->session || h->fatal || !h->stream || h->closed || h->cancelled) return;
    h->cancelled = 1;
    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, h->stream, NGHTTP2_CANCEL);
}

int client_h2_reusable(const struct client_h2 *h)
{
    nghttp2_session *s = h->session;
    return s && !h->goaway && !h->fatal && nghttp2_session_want_read(s) &&
           nghttp2_session_check_request_allowed(s);
}

void client_h2_goodbye(struct client_h2 *h)
{
    if (h->session && !h->fatal && !h->goaway)
        nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                              NULL, 0);
}

int client_h2_field(const struct client_h2 *h, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = (const char *)h->head.base, *end = p + h->head.len;
    while (p && p < end) {
        const char *e = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!e) break;
        if ((size_t)(e - p) > nl + 1 && memcmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 2;
            size_t vl = (size_t)(e - v);
            if (vl >= outlen) vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        p = e + 2;
    }
    return -1;
}
