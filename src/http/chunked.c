/* The chunked transfer coding (RFC 9112 7.1) as an incremental decoder: any
 * split of the input gives the same output. */
#include "moat/error.h"
#include "moat/http.h"

enum {
    S_SIZE,       /* hex digits of chunk-size */
    S_EXT,        /* chunk-ext up to CR */
    S_SIZE_LF,    /* LF after the size line */
    S_DATA,       /* chunk-data */
    S_DATA_CR,    /* CR after chunk-data */
    S_DATA_LF,    /* LF after chunk-data */
    S_TRAILER0,   /* start of a trailer line, or the final CRLF */
    S_TRAILER,    /* inside a trailer field line */
    S_TRAILER_LF, /* LF ending a trailer line */
    S_END_LF,     /* LF of the final CRLF */
    S_DONE,
};

#define MAX_LINE 4096     /* chunk-size line with extensions */
#define MAX_TRAILER 32768 /* the whole trailer section */

void moat_http_chunked_init(moat_http_chunked *d)
{
    d->state = S_SIZE;
    d->remaining = 0;
    d->line_len = 0;
    d->trailer_bytes = 0;
    d->digits = 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int moat_http_chunked_feed(moat_http_chunked *d, const uint8_t *in, size_t len, size_t *used,
                           moat_buf *out)
{
    size_t i = 0;
    int ret = 0;
    while (i < len && d->state != S_DONE) {
        uint8_t c = in[i];
        switch (d->state) {
        case S_SIZE: {
            int h = hexval(c);
            if (h >= 0) {
                if (d->digits++ >= 15) /* 2^60 bytes is no real chunk */
                    goto bad;
                d->remaining = d->remaining * 16 + (uint64_t)h;
                d->line_len++;
                i++;
                break;
            }
            if (d->digits == 0) goto bad;
            if (c == '\r') {
                d->state = S_SIZE_LF;
            } else if (c == ';' || c == ' ' || c == '\t') {
                d->state = S_EXT;
            } else {
                goto bad;
            }
            i++;
            break;
        }
        case S_EXT:
            if (c == '\n' || ++d->line_len > MAX_LINE) goto bad;
            if (c == '\r') d->state = S_SIZE_LF;
            i++;
            break;
        case S_SIZE_LF:
            if (c != '\n') goto bad;
            i++;
            d->line_len = 0;
            d->digits = 0;
            d->state = d->remaining ? S_DATA : S_TRAILER0;
            break;
        case S_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > d->remaining) n = (size_t)d->remaining;
            int r = moat_buf_append(out, in + i, n);
            if (r) {
                ret = r;
                goto done;
            }
            i += n;
            d->remaining -= n;
            if (d->remaining == 0) d->state = S_DATA_CR;
            break;
        }
        case S_DATA_CR:
            if (c != '\r') goto bad;
            d->state = S_DATA_LF;
            i++;
            break;
        case S_DATA_LF:
            if (c != '\n') goto bad;
            d->state = S_SIZE;
            i++;
            break;
        case S_TRAILER0:
            if (c == '\r') {
                d->state = S_END_LF;
                i++;
                break;
            }
            d->state = S_TRAILER;
            /* fall through: this byte starts a trailer field */
            __attribute__((fallthrough));
        case S_TRAILER:
            if (c == '\n' || ++d->trailer_bytes > MAX_TRAILER) goto bad;
            if (c == '\r') d->state = S_TRAILER_LF;
            i++;
            break;
        case S_TRAILER_LF:
            if (c != '\n') goto bad;
            d->state = S_TRAILER0;
            i++;
            break;
        case S_END_LF:
            if (c != '\n') goto bad;
            d->state = S_DONE;
            i++;
            break;
        }
    }
    ret = d->state == S_DONE;
    goto done;
bad:
    ret = -1;
done:
    *used = i;
    return ret;
}
