/* Fuzz target: the HTTP/1.1 request head parser (moat_http_parse_request),
 * whole and cut at every length the input's first byte picks, plus percent
 * decoding of the target and the chunked body decoder on what follows; and
 * the access log's JSON string escaper on the whole input: its output is
 * quoted, has no byte under 0x20 nor DEL, and any byte over 0x7f in it is
 * part of well-formed UTF-8 (checked here independently). */
#include <stdlib.h>
#include <string.h>

#include "http/reader.h"
#include "moat/http.h"

/* Whether p[0..n) is well-formed UTF-8 (RFC 3629 table 3-7). */
static int utf8_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (!len || i + len > n) return 0;
        uint8_t lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        if (len > 1 && (p[i + 1] < lo || p[i + 1] > hi)) return 0;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

static void check_json(const uint8_t *data, size_t size)
{
    moat_buf j;
    moat_buf_init(&j);
    if (http_json_string(&j, (const char *)data, size) == 0) {
        if (j.len < 2 || j.base[0] != '"' || j.base[j.len - 1] != '"') abort();
        for (size_t i = 0; i < j.len; i++)
            if (j.base[i] < 0x20 || j.base[i] == 0x7f) abort();
        if (!utf8_ok(j.base, j.len)) abort();
        /* Only the two quotes unescaped: every other quote has its backslash. */
        for (size_t i = 1; i + 1 < j.len; i++) {
            if (j.base[i] == '\\') {
                i++;
                continue;
            }
            if (j.base[i] == '"') abort();
        }
    }
    moat_buf_free(&j);
}

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
    check_json(data, size);
    /* A prefix must never be judged complete with a longer head. */
    if (size > 1) {
        size_t cut = size / 2;
        int m = moat_http_parse_request(buf, cut, &req);
        if (m > 0 && (size_t)m > cut) abort();
    }
    free(buf);
    return 0;
}
