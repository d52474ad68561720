/* Fuzz target: the HTTP/1.1 response head parser (moat_http_parse_response)
 * and the chunked decoder, fed the body in pieces as a client reads it;
 * then the reader moat get and the proxy share (src/http/reader.c): 1xx
 * heads skipped, the framing decided, the body pumped, in pieces. */
#include <stdlib.h>
#include <string.h>

#include "http/reader.h"
#include "moat/http.h"

/* The shared reader over the whole input, step bytes arriving at a time;
 * the first byte says whether the request was HEAD. */
static void reader(const uint8_t *data, size_t size, size_t step)
{
    http_reader rd;
    http_reader_init(&rd, size && data[0] & 1);
    moat_buf in, scratch;
    moat_buf_init(&in);
    moat_buf_init(&scratch);
    int final = 0;
    uint64_t body = 0;
    for (size_t off = 0; off < size;) {
        size_t k = size - off < step ? size - off : step;
        moat_buf_append(&in, data + off, k);
        off += k;
        for (;;) {
            if (!final) {
                moat_http_response resp;
                size_t hl;
                int r = http_reader_head(&rd, in.base, in.len, &resp, &hl);
                if (r == HTTP_HEAD_BAD) goto out;
                if (r == HTTP_HEAD_MORE) break;
                if (hl > in.len || hl == 0) abort();
                moat_buf_consume(&in, hl);
                final = r == HTTP_HEAD_FINAL;
                continue;
            }
            http_piece p;
            int r = http_body_feed(&rd.body, in.base, in.len, &scratch, &p);
            if (p.used > in.len) abort();
            body += p.len;
            if (rd.body.framing == HTTP_BODY_LENGTH && p.len != p.used) abort();
            moat_buf_consume(&in, p.used);
            if (r != HTTP_BODY_MORE) goto out;
            break;
        }
    }
out:
    if (body != rd.body.total) abort();
    moat_buf_free(&in);
    moat_buf_free(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader(data, size, 1);
    reader(data, size, 61);
    reader(data, size, size ? size : 1);
    moat_http_response resp;
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    int n = moat_http_parse_response(buf, size, &resp);
    size_t body = 0;
    if (n > 0) {
        if ((size_t)n > size) abort();
        moat_http_find_header(&resp.f, "location");
        body = (size_t)n;
    }
    /* The chunked decoder on the body (or on the whole input when the head
     * did not parse), in pieces of 1, 7 and all bytes. */
    static const size_t steps[3] = {1, 7, (size_t)-1};
    for (int s = 0; s < 3; s++) {
        moat_http_chunked d;
        moat_http_chunked_init(&d);
        moat_buf out;
        moat_buf_init(&out);
        const uint8_t *p = (const uint8_t *)buf + body;
        size_t left = size - body;
        while (left) {
            size_t k = left < steps[s] ? left : steps[s], used = 0;
            int r = moat_http_chunked_feed(&d, p, k, &used, &out);
            if (used > k) abort();
            if (r) break;
            p += used, left -= used;
            if (used == 0) break;
        }
        moat_buf_free(&out);
    }
    free(buf);
    return 0;
}
