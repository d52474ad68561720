/* Fuzz target: moat get's HTTP/2 client session (src/client/h2.c on
 * libnghttp2) fed arbitrary server bytes after its preface, in pieces, as
 * the transfer feeds it: the response head's caps, 1xx heads, trailers,
 * body bytes taken after each piece, GOAWAY, RST_STREAM, floods. The first
 * byte picks the request (bit 0: a POST with a body; bit 1: HEAD; bit 2:
 * the body streamed, of no known length, as -T -; bit 3: the stream
 * cancelled once its head came, as a followed redirect), the second the
 * piece size. */
#include <stdlib.h>
#include <string.h>

#include "client/body.h"
#include "client/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int mode = data[0];
    size_t step = (size_t)data[1] * 7 + 1;
    data += 2;
    size -= 2;
    static const char get[] = "GET /x?y HTTP/1.1\r\nHost: localhost:8443\r\nUser-Agent: "
                              "moat/0.1\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    static const char head[] = "HEAD / HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\n\r\n";
    static const char post[] = "POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                               "application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\n";
    static const uint8_t body[] = "a=1&b=2";
    const char *req = mode & 1 ? post : mode & 2 ? head : get;
    struct client_h2 h;
    if (client_h2_init(&h, NULL) < 0) return 0;
    moat_buf out;
    moat_buf_init(&out);
    static struct client_body sb;
    client_body_init(&sb);
    int streamed = (mode & 5) == 5;
    if (streamed &&
        (client_body_add_mem(&sb, body, 7) < 0 || client_body_add_mem(&sb, get, 40) < 0))
        abort();
    sb.total = -1;
    if (client_h2_request(&h, req, strlen(req), mode & 1 && !streamed ? body : NULL,
                          mode & 1 && !streamed ? 7 : 0, streamed ? &sb : NULL, 0) < 0)
        abort(); /* a head moat builds is always sendable */
    client_h2_output(&h, &out);
    for (size_t off = 0; off < size && !h.fatal && !h.closed;) {
        size_t k = size - off < step ? size - off : step;
        client_h2_input(&h, data + off, k);
        off += k;
        /* as fetch.c does after each read: send, take the interim heads
         * and the body, the head once complete */
        moat_buf_clear(&out);
        while (client_h2_output(&h, &out) == 0 && out.len && client_h2_want_write(&h))
            moat_buf_clear(&out);
        if (h.head_ready) {
            char loc[256];
            client_h2_field(&h, "location", loc, sizeof loc);
            if (h.status < 200 || h.status > 999) abort();
            if (mode & 8) client_h2_cancel(&h);
        }
        if (h.data.len > step + 16384 * 4) abort(); /* bounded by one piece */
        moat_buf_clear(&h.data);
        moat_buf_clear(&h.interim);
    }
    client_h2_reusable(&h);
    client_h2_goodbye(&h);
    client_h2_output(&h, &out);
    moat_buf_free(&out);
    client_h2_free(&h);
    client_body_free(&sb);
    return 0;
}
