/* Fuzz target: the HTTP/1.1 request head parser (moat_http_parse_request),
 * whole and cut at every length the input's first byte picks, plus percent
 * decoding of the target and the chunked body decoder on what follows. */
#include <stdlib.h>
#include <string.h>

#include "moat/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    moat_http_request req;
    /* The parser never reads past len: give it an exact-size copy. */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    int n = moat_http_parse_request(buf, size, &req);
    if (n > 0) {
        if ((size_t)n > size) abort();
        for (size_t i = 0; i < req.f.nheaders; i++) {
            const moat_http_header *h = &req.f.headers[i];
            if (h->name < buf || h->name + h->name_len > buf + size) abort();
            if (h->value < buf || h->value + h->value_len > buf + size) abort();
        }
        moat_http_find_header(&req.f, "content-length");
        char *dst = malloc(req.target_len + 1);
        if (dst) moat_http_percent_decode(req.target, req.target_len, dst);
        free(dst);
        if (req.f.chunked) {
            moat_http_chunked d;
            moat_http_chunked_init(&d);
            moat_buf body;
            moat_buf_init(&body);
            size_t used;
            moat_http_chunked_feed(&d, (const uint8_t *)buf + n, size - (size_t)n, &used, &body);
            moat_buf_free(&body);
        }
    }
    /* A prefix must never be judged complete with a longer head. */
    if (size > 1) {
        size_t cut = size / 2;
        int m = moat_http_parse_request(buf, cut, &req);
        if (m > 0 && (size_t)m > cut) abort();
    }
    free(buf);
    return 0;
}
