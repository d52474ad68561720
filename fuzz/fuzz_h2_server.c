/* Fuzz target: moat serve's HTTP/2 session (src/server/h2.c over
 * libnghttp2) fed the client connection preface and then the input, whole
 * or in two pieces (the first byte picks the cut), with every frame it
 * answers pulled out; requests get a small answer from memory, or one
 * from a file body for paths under /f, or a 431 on a long list; the
 * requests are built from the fields or, as for a proxy, parsed from
 * their HTTP/1.1 heads. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/h2.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void route(void *conn, const moat_http_request *req, const uint8_t *head, size_t head_len,
                  moat_buf *out, struct moat_body *body, struct moat_proxy **px,
                  struct moat_resp *resp)
{
    (void)conn, (void)head, (void)head_len, (void)px;
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                              "Connection: close\r\n\r\nhello";
    if (req->target_len > 1 && req->target[1] == 'f') {
        static const char h[] = "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n";
        moat_buf_append(out, h, sizeof h - 1);
        body->fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        body->off = 0;
        body->left = 70000;
    } else {
        moat_buf_append(out, ans, sizeof ans - 1);
    }
    resp->status = 200;
}

static int reads_body(void *conn, const moat_http_request *req)
{
    (void)conn;
    return req->method_len != 3; /* POSTs are read first, PUTs streamed */
}

static void log_line(void *conn, const moat_http_request *req, const struct moat_resp *resp,
                     int64_t start_us)
{
    (void)conn, (void)req, (void)resp, (void)start_us;
}

static int sink(void *conn, const void *p, size_t n)
{
    (void)conn, (void)p, (void)n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct moat_server s;
    s.max_header = 4096;
    s.max_body = 1 << 20;
    s.h2_max_streams = 16;
    s.h2_stream_window = 65535;
    s.h2_conn_window = 1 << 20;
    s.h2_max_resets = 50;
    /* the last byte's low bit: requests as HTTP/1.1 heads (a proxy may
     * forward them) or built straight from the fields */
    struct h2_host host = {NULL, route, reads_body, log_line, sink, size && (data[size - 1] & 1)};
    struct server_h2 *h = server_h2_new(&s, &host);
    if (!h) return 0;
    size_t queued = 0;
    int r = server_h2_recv(h, (const uint8_t *)preface, sizeof preface - 1);
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (r >= 0 && cut) r = server_h2_recv(h, data, cut);
    if (r >= 0 && size > cut) r = server_h2_recv(h, data + cut, size - cut);
    for (int i = 0; i < 8; i++)
        server_h2_pump(h, &queued, 64 * 1024, 0);
    server_h2_done(h);
    server_h2_goaway(h);
    server_h2_pump(h, &queued, 64 * 1024, 0);
    server_h2_free(h);
    return 0;
}
