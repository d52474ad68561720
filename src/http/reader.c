/* The HTTP/1.1 message reader shared by moat get and the reverse proxy:
 * response heads with their framing, interim responses skipped, and the
 * body pump (Content-Length, chunked, until close). */
#include "http/reader.h"

#include "moat/error.h"

void http_body_init(http_body *b, int framing, uint64_t length)
{
    b->framing = framing;
    b->left = framing == HTTP_BODY_LENGTH ? length : 0;
    b->total = 0;
    moat_http_chunked_init(&b->dec);
    b->done = framing == HTTP_BODY_NONE || (framing == HTTP_BODY_LENGTH && length == 0);
}

int http_body_feed(http_body *b, const uint8_t *in, size_t len, moat_buf *scratch, http_piece *p)
{
    p->used = 0;
    p->data = in;
    p->len = 0;
    if (b->done) return HTTP_BODY_END;
    switch (b->framing) {
    case HTTP_BODY_LENGTH:
        p->len = p->used = len < b->left ? len : (size_t)b->left;
        b->left -= p->len;
        b->done = b->left == 0;
        break;
    case HTTP_BODY_CHUNKED: {
        moat_buf_clear(scratch);
        int r = moat_http_chunked_feed(&b->dec, in, len, &p->used, scratch);
        p->data = scratch->base;
        p->len = scratch->len;
        b->total += p->len;
        if (r < 0) return r == -1 ? HTTP_BODY_BAD : r;
        b->done = r == 1;
        return b->done ? HTTP_BODY_END : HTTP_BODY_MORE;
    }
    case HTTP_BODY_CLOSE:
        p->len = p->used = len;
        break;
    default: /* HTTP_BODY_NONE is done from the start */
        break;
    }
    b->total += p->len;
    return b->done ? HTTP_BODY_END : HTTP_BODY_MORE;
}

int http_response_framing(const moat_http_response *r, int head_request, uint64_t *length)
{
    *length = 0;
    /* RFC 9112 6.3 (1): these never have content, whatever they say. */
    if (head_request || r->status < 200 || r->status == 204 || r->status == 304)
        return HTTP_BODY_NONE;
    /* (4): chunked as the final coding; the parser refused any other. */
    if (r->f.chunked) return HTTP_BODY_CHUNKED;
    /* (6) */
    if (r->f.content_length >= 0) {
        *length = (uint64_t)r->f.content_length;
        return HTTP_BODY_LENGTH;
    }
    /* (8): a response without either reads until the connection closes. */
    return HTTP_BODY_CLOSE;
}

void http_reader_init(http_reader *r, int head_request)
{
    r->head_request = head_request;
    r->interim = 0;
    r->interim_bytes = 0;
    http_body_init(&r->body, HTTP_BODY_NONE, 0);
}

int http_reader_head(http_reader *r, const uint8_t *buf, size_t len, moat_http_response *resp,
                     size_t *head_len)
{
    *head_len = 0;
    int n = len ? moat_http_parse_response((const char *)buf, len, resp) : 0;
    if (n < 0 || (n == 0 && len > HTTP_MAX_HEAD)) return HTTP_HEAD_BAD;
    if (n == 0) return HTTP_HEAD_MORE;
    *head_len = (size_t)n;
    /* RFC 9110 15.2: interim responses come before the final one and are
     * dropped; 101 ends HTTP/1.1 on this connection, so it is final. */
    if (resp->status >= 100 && resp->status < 200 && resp->status != 101) {
        r->interim_bytes += (size_t)n;
        if (++r->interim > HTTP_MAX_INTERIM || r->interim_bytes > HTTP_MAX_INTERIM_BYTES)
            return HTTP_HEAD_BAD;
        return HTTP_HEAD_INTERIM;
    }
    uint64_t length;
    int framing = http_response_framing(resp, r->head_request, &length);
    http_body_init(&r->body, framing, length);
    return HTTP_HEAD_FINAL;
}

int http_head_over_limit(const uint8_t *buf, size_t len)
{
    size_t pos = 0, fields = 0, section = 0;
    for (int first = 1;; first = 0) {
        size_t e = pos;
        while (e + 1 < len && !(buf[e] == '\r' && buf[e + 1] == '\n'))
            e++;
        int whole = e + 1 < len;
        size_t line = (whole ? e : len) - pos;
        if (first ? line >= MOAT_HTTP_MAX_REQUEST_LINE : line > HTTP_MAX_HEAD_LINE)
            return HTTP_HEAD_LINE_TOO_LONG;
        if (!whole || (!first && line == 0)) {
            if (!first) section += line;
            break;
        }
        if (!first) {
            fields++;
            section += line + 2;
        }
        pos = e + 2;
    }
    if (fields > MOAT_HTTP_MAX_HEADERS || section >= MOAT_HTTP_MAX_HEADER_BYTES)
        return HTTP_HEAD_TOO_LARGE;
    return HTTP_HEAD_WITHIN_LIMITS;
}
