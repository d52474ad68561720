/* Fuzz target: the HTTP/1.1 response head parser (moat_http_parse_response)
 * and the chunked decoder, fed the body in pieces as a client reads it. */
#include <stdlib.h>
#include <string.h>

#include "moat/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
