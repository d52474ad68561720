/* moat get's HTTP/2 session (src/client/h2.c) against an nghttp2 server
 * session, in memory: the request head turned into h2 fields, the body
 * under flow control, the response head as text, 1xx heads, Location,
 * the caps, RST_STREAM, GOAWAY, a PING flood, a second stream. */
#include <nghttp2/nghttp2.h>

#include <stdio.h>
#include <unistd.h>

#include "client/body.h"
#include "client/h2.h"
#include "harness.h"
#include "http/reader.h"

/* The server: what it received, and how it answers. */
struct srv {
    nghttp2_session *s;
    char fields[2048]; /* "name=value\n" for each request field */
    moat_buf body;
    int ended; /* the request is complete */
    int32_t stream;
    const nghttp2_nv *resp; /* answered when the request ends */
    size_t nresp;
    const char *resp_body;
    size_t resp_off;
    int closed;           /* a stream closed */
    uint32_t closed_code; /* with this code */
};

static int s_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                    const uint8_t *v, size_t vl, uint8_t flags, void *arg)
{
    (void)s, (void)f, (void)flags;
    struct srv *t = arg;
    size_t l = strlen(t->fields);
    snprintf(t->fields + l, sizeof t->fields - l, "%.*s=%.*s\n", (int)nl, (const char *)n, (int)vl,
             (const char *)v);
    return 0;
}

static int s_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
                  void *arg)
{
    (void)s, (void)flags, (void)id;
    struct srv *t = arg;
    moat_buf_append(&t->body, p, n);
    return 0;
}

static ssize_t s_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                      nghttp2_data_source *src, void *arg)
{
    (void)s, (void)id, (void)src;
    struct srv *t = arg;
    size_t left = strlen(t->resp_body) - t->resp_off, n = left < len ? left : len;
    memcpy(buf, t->resp_body + t->resp_off, n);
    t->resp_off += n;
    if (t->resp_off == strlen(t->resp_body)) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int s_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    struct srv *t = arg;
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        t->ended = 1;
        t->stream = f->hd.stream_id;
        if (t->resp) {
            nghttp2_data_provider prd = {.read_callback = s_read};
            t->resp_off = 0;
            nghttp2_submit_response(s, f->hd.stream_id, t->resp, t->nresp,
                                    t->resp_body ? &prd : NULL);
        }
    }
    return 0;
}

static int s_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
    (void)s, (void)id;
    struct srv *t = arg;
    t->closed = 1;
    t->closed_code = code;
    return 0;
}

static void srv_init(struct srv *t)
{
    memset(t, 0, sizeof *t);
    moat_buf_init(&t->body);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, s_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, s_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, s_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, s_close);
    nghttp2_session_server_new(&t->s, cb, t);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(t->s, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void srv_free(struct srv *t)
{
    nghttp2_session_del(t->s);
    moat_buf_free(&t->body);
}

/* Moves bytes both ways until neither side has more to say; the client's
 * body bytes and interim heads gathered into got and interim. */
static void pump(struct client_h2 *h, struct srv *t, moat_buf *got, moat_buf *interim)
{
    moat_buf out;
    moat_buf_init(&out);
    for (int i = 0; i < 10000; i++) {
        moat_buf_clear(&out);
        client_h2_output(h, &out);
        if (out.len) nghttp2_session_mem_recv(t->s, out.base, out.len);
        const uint8_t *p;
        ssize_t n, total = 0;
        while ((n = nghttp2_session_mem_send(t->s, &p)) > 0) {
            total += n;
            if (client_h2_input(h, p, (size_t)n) < 0) break;
        }
        moat_buf_append(got, h->data.base, h->data.len);
        moat_buf_clear(&h->data);
        moat_buf_append(interim, h->interim.base, h->interim.len);
        moat_buf_clear(&h->interim);
        if (!out.len && !total) break;
    }
    moat_buf_free(&out);
}

/* A client, a test server, and the buffers pump() fills. */
static void setup(struct client_h2 *h, struct srv *t, moat_buf *got, moat_buf *interim)
{
    srv_init(t);
    client_h2_init(h, NULL);
    moat_buf_init(got);
    moat_buf_init(interim);
}

static void teardown(struct client_h2 *h, struct srv *t, moat_buf *got, moat_buf *interim)
{
    moat_buf_free(got);
    moat_buf_free(interim);
    client_h2_free(h);
    srv_free(t);
}

/* GET / sent and pumped to the server, which has not answered yet
 * (t->stream is the request's stream). */
static void get_root(struct client_h2 *h, struct srv *t, moat_buf *got, moat_buf *interim)
{
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    client_h2_request(h, req, strlen(req), NULL, 0, NULL, 0);
    pump(h, t, got, interim);
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0                            \
    }

static int has(const moat_buf *b, const char *s)
{
    return b->len && memmem(b->base, b->len, s, strlen(s)) != NULL;
}

/* A GET: the fields as RFC 9113 8.3 wants them; the response as text. */
static void get_fields(void)
{
    struct client_h2 h;
    struct srv t;
    moat_buf got, interim;
    setup(&h, &t, &got, &interim);
    static const nghttp2_nv resp[] = {NV(":status", "200"), NV("content-type", "text/plain"),
                                      NV("content-length", "5")};
    t.resp = resp;
    t.nresp = 3;
    t.resp_body = "hello";
    const char *req = "GET /p?q=1 HTTP/1.1\r\nHost: ex.test:8443\r\nUser-Agent: moat/0.1\r\n"
                      "Accept: */*\r\nConnection: close\r\nX-Mixed-Case: Val\r\nTE: gzip\r\n"
                      "Keep-Alive: 5\r\n\r\n";
    check(client_h2_request(&h, req, strlen(req), NULL, 0, NULL, 0) == 0 && h.stream == 1,
          "h2 get: the request opens stream 1");
    pump(&h, &t, &got, &interim);
    char flat[sizeof t.fields];
    snprintf(flat, sizeof flat, "%s", t.fields);
    for (char *c = flat; (c = strchr(c, '\n'));)
        *c = ' ';
    check(strcmp(t.fields, ":method=GET\n:scheme=https\n:authority=ex.test:8443\n:path=/p?q=1\n"
                           "user-agent=moat/0.1\naccept=*/*\nx-mixed-case=Val\n") == 0,
          "h2 get: pseudo-fields first, :authority from Host, names lowercased, Host, "
          "Connection, Keep-Alive and TE: gzip left out (got %s)",
          flat);
    const char *want = "HTTP/2 200 \r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n";
    check(h.head_ready && h.status == 200 && h.head.len == strlen(want) &&
              !memcmp(h.head.base, want, h.head.len) && h.content_length == 5,
          "h2 get: the head as curl -i shows it, Content-Length read");
    check(got.len == 5 && !memcmp(got.base, "hello", 5) && h.closed && !h.stream_error,
          "h2 get: the body, and the stream closed cleanly");
    char loc[64];
    check(client_h2_field(&h, "location", loc, sizeof loc) < 0 &&
              client_h2_field(&h, "content-type", loc, sizeof loc) == 0 &&
              !strcmp(loc, "text/plain"),
          "h2 get: client_h2_field finds a field, and no Location");
    check(client_h2_reusable(&h), "h2 get: the session can carry another request");
    /* a second request: stream 3, the state reset */
    moat_buf_clear(&got);
    t.fields[0] = '\0';
    check(client_h2_request(&h, req, strlen(req), NULL, 0, NULL, 0) == 0 && h.stream == 3 &&
              !h.head_ready && !h.closed,
          "h2 get: a second request on the session is stream 3");
    pump(&h, &t, &got, &interim);
    check(h.closed && got.len == 5 && h.status == 200, "h2 get: stream 3 answered");
    /* the server says goodbye: no more requests */
    nghttp2_submit_goaway(t.s, 0, 3, NGHTTP2_NO_ERROR, NULL, 0);
    pump(&h, &t, &got, &interim);
    check(h.goaway && !h.goaway_code && !client_h2_reusable(&h),
          "h2 get: after GOAWAY(NO_ERROR) the session is not reused");
    teardown(&h, &t, &got, &interim);
}

/* A POST of 200 KB, more than the default 64 KB window: sent as the
 * server's WINDOW_UPDATEs open it. */
static void post_body(void)
{
    struct client_h2 h;
    struct srv t;
    moat_buf got, interim;
    setup(&h, &t, &got, &interim);
    static const nghttp2_nv resp[] = {NV(":status", "204")};
    t.resp = resp;
    t.nresp = 1;
    size_t n = 200000;
    uint8_t *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 31 + (i >> 8));
    const char *req = "POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n";
    client_h2_request(&h, req, strlen(req), body, n, NULL, 0);
    pump(&h, &t, &got, &interim);
    check(t.ended && t.body.len == n && !memcmp(t.body.base, body, n),
          "h2 post: 200000 bytes arrive whole and in order past the first window (%zu)",
          t.body.len);
    check(strstr(t.fields, "content-length=200000\n") && strstr(t.fields, ":method=POST\n"),
          "h2 post: :method POST and content-length sent");
    check(h.closed && h.status == 204 && !got.len, "h2 post: the 204 with no body");
    free(body);
    teardown(&h, &t, &got, &interim);
}

/* A 103 then a 302: the interim head kept for -v, the Location found. */
static void interim_redirect(void)
{
    struct client_h2 h;
    struct srv t;
    moat_buf got, interim;
    setup(&h, &t, &got, &interim);
    get_root(&h, &t, &got, &interim);
    static const nghttp2_nv early[] = {NV(":status", "103"), NV("link", "</a.css>; rel=preload")};
    static const nghttp2_nv resp[] = {NV(":status", "302"), NV("location", "/next")};
    nghttp2_submit_headers(t.s, NGHTTP2_FLAG_NONE, t.stream, NULL, early, 2, NULL);
    nghttp2_submit_response(t.s, t.stream, resp, 2, NULL);
    pump(&h, &t, &got, &interim);
    char loc[64] = "";
    client_h2_field(&h, "location", loc, sizeof loc);
    check(has(&interim, "HTTP/2 103 \r\nlink: </a.css>; rel=preload\r\n\r\n") && h.status == 302 &&
              !strcmp(loc, "/next") && h.closed,
          "h2 redirect: 103 kept as interim, then 302 with Location /next (%s)", loc);
    /* 1xx heads without end: the stream is reset after HTTP_MAX_INTERIM */
    get_root(&h, &t, &got, &interim);
    for (int i = 0; i < HTTP_MAX_INTERIM + 5; i++)
        nghttp2_submit_headers(t.s, NGHTTP2_FLAG_NONE, t.stream, NULL, early, 2, NULL);
    pump(&h, &t, &got, &interim);
    check(h.too_big && h.closed && h.stream_error && !h.head_ready,
          "h2 redirect: %d 103 heads reset the stream (%s)", HTTP_MAX_INTERIM + 5, h.err);
    teardown(&h, &t, &got, &interim);
}

/* The server's misdeeds: a head over the cap, RST_STREAM, GOAWAY with an
 * error, a PING flood. */
static void hostile(int which)
{
    struct client_h2 h;
    struct srv t;
    moat_buf got, interim;
    setup(&h, &t, &got, &interim);
    get_root(&h, &t, &got, &interim);
    if (which == 0) {
        static nghttp2_nv many[150];
        static char names[150][16];
        many[0] = (nghttp2_nv)NV(":status", "200");
        for (int i = 1; i < 150; i++) {
            snprintf(names[i], sizeof names[i], "x-f%d", i);
            many[i] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)"v", strlen(names[i]), 1, 0};
        }
        nghttp2_submit_response(t.s, t.stream, many, 150, NULL);
        pump(&h, &t, &got, &interim);
        check(h.too_big && h.closed && h.stream_error && !h.head_ready,
              "h2 hostile: 150 fields are over the cap: the stream reset, no head (%s)", h.err);
    } else if (which == 1) {
        nghttp2_submit_rst_stream(t.s, 0, t.stream, NGHTTP2_INTERNAL_ERROR);
        pump(&h, &t, &got, &interim);
        check(h.closed && h.stream_error == NGHTTP2_INTERNAL_ERROR && strstr(h.err, "not closed"),
              "h2 hostile: RST_STREAM closes the stream with its code (%s)", h.err);
    } else if (which == 2) {
        nghttp2_submit_goaway(t.s, 0, 0, NGHTTP2_PROTOCOL_ERROR, NULL, 0);
        pump(&h, &t, &got, &interim);
        check(h.goaway && h.goaway_code == NGHTTP2_PROTOCOL_ERROR && h.closed &&
                  !client_h2_reusable(&h),
              "h2 hostile: GOAWAY PROTOCOL_ERROR, the stream refused, the session done (%s)",
              h.err);
    } else {
        for (int i = 0; i < CLIENT_H2_MAX_CONTROL + 10; i++)
            nghttp2_submit_ping(t.s, 0, NULL);
        pump(&h, &t, &got, &interim);
        check(h.fatal && strstr(h.err, "control frames"),
              "h2 hostile: %d PINGs end the session (%s)", CLIENT_H2_MAX_CONTROL + 10, h.err);
        check(nghttp2_session_get_remote_settings(t.s, NGHTTP2_SETTINGS_ENABLE_PUSH) == 0 &&
                  nghttp2_session_get_remote_settings(t.s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) ==
                      CLIENT_H2_STREAM_WINDOW,
              "h2: moat's SETTINGS: no push, its stream window");
    }
    teardown(&h, &t, &got, &interim);
}

/* -T and -F's streamed body: memory and a file piece read as the windows
 * allow, a body of no length (stdin) ended by END_STREAM with no
 * Transfer-Encoding; a file that shrinks resets the stream. */
static void streamed_body(int shrink)
{
    struct client_h2 h;
    struct srv t;
    moat_buf got, interim;
    setup(&h, &t, &got, &interim);
    static const nghttp2_nv resp[] = {NV(":status", "201")};
    t.resp = resp;
    t.nresp = 1;
    char path[] = "/tmp/moat-h2body-XXXXXX";
    int fd = mkstemp(path);
    static uint8_t file[150000];
    for (size_t i = 0; i < sizeof file; i++)
        file[i] = (uint8_t)(i * 7 + (i >> 9));
    check(fd >= 0 && write(fd, file, sizeof file) == (ssize_t)sizeof file, "h2 stream: a file");
    struct client_body b;
    char err[256];
    client_body_init(&b);
    client_body_add_mem(&b, "head-", 5);
    client_body_add_file(&b, path, err, sizeof err);
    b.total = -1; /* as stdin's: no length known */
    if (shrink && ftruncate(fd, 1000) < 0) check(0, "h2 stream: truncate");
    const char *req = "PUT /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    check(client_h2_request(&h, req, strlen(req), NULL, 0, &b, 0) == 0, "h2 stream: the request");
    pump(&h, &t, &got, &interim);
    if (!shrink) {
        check(t.ended && t.body.len == 5 + sizeof file && !memcmp(t.body.base, "head-", 5) &&
                  !memcmp(t.body.base + 5, file, sizeof file),
              "h2 stream: memory and a 150000-byte file arrive whole past the first window (%zu)",
              t.body.len);
        check(!strstr(t.fields, "transfer-encoding") && !strstr(t.fields, "content-length"),
              "h2 stream: no length known: neither transfer-encoding nor content-length sent");
        check(h.closed && h.status == 201 && !h.body_err[0], "h2 stream: the 201");
    } else {
        check(h.closed && strstr(h.body_err, "shrank") && !t.ended && t.closed &&
                  t.closed_code == NGHTTP2_INTERNAL_ERROR,
              "h2 stream: a file that shrinks resets the stream (%s)", h.body_err);
    }
    close(fd);
    unlink(path);
    client_body_free(&b);
    teardown(&h, &t, &got, &interim);
}

/* A response moat no longer wants (a redirect's body): RST_STREAM(CANCEL),
 * no error of the server's recorded, the session still usable. */
static void cancel(void)
{
    struct client_h2 h;
    struct srv t;
    moat_buf got, interim;
    setup(&h, &t, &got, &interim);
    get_root(&h, &t, &got, &interim);
    static const nghttp2_nv head[] = {NV(":status", "302"), NV("location", "/next")};
    nghttp2_submit_headers(t.s, 0, t.stream, NULL, head, 2, NULL);
    pump(&h, &t, &got, &interim);
    check(h.head_ready && h.status == 302 && !h.closed, "h2 cancel: a 302 head, its body to come");
    client_h2_cancel(&h);
    pump(&h, &t, &got, &interim);
    check(h.closed && !h.stream_error && !h.err[0] && t.closed && t.closed_code == NGHTTP2_CANCEL &&
              client_h2_reusable(&h),
          "h2 cancel: RST_STREAM CANCEL sent, no error, the session reusable");
    teardown(&h, &t, &got, &interim);
}

int main(void)
{
    streamed_body(0);
    streamed_body(1);
    cancel();
    get_fields();
    post_body();
    interim_redirect();
    for (int i = 0; i < 4; i++)
        hostile(i);
    return failures ? 1 : 0;
}
