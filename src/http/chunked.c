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

/* The size line (RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF), one byte.
 * Returns 0, or -1 when it is malformed. */
static int size_byte(moat_http_chunked *d, uint8_t c)
{
    switch (d->state) {
    case S_SIZE: {
        int h = hexval(c);
        if (h >= 0) {
            if (d->digits++ >= 15) return -1; /* 2^60 bytes is no real chunk */
            d->remaining = d->remaining * 16 + (uint64_t)h;
            d->line_len++;
            return 0;
        }
        if (d->digits == 0) return -1;
        if (c == '\r')
            d->state = S_SIZE_LF;
        else if (c == ';' || c == ' ' || c == '\t')
            d->state = S_EXT;
        else
            return -1;
        return 0;
    }
    case S_EXT:
        if (c == '\n' || ++d->line_len > MAX_LINE) return -1;
        if (c == '\r') d->state = S_SIZE_LF;
        return 0;
    default: /* S_SIZE_LF */
        if (c != '\n') return -1;
        d->line_len = 0;
        d->digits = 0;
        d->state = d->remaining ? S_DATA : S_TRAILER0;
        return 0;
    }
}

/* The CRLF after chunk-data, and the trailer section (7.1.2) with the
 * final CRLF, one byte. Returns 0, or -1 when it is malformed. */
static int tail_byte(moat_http_chunked *d, uint8_t c)
{
    switch (d->state) {
    case S_DATA_CR:
        if (c != '\r') return -1;
        d->state = S_DATA_LF;
        return 0;
    case S_DATA_LF:
        if (c != '\n') return -1;
        d->state = S_SIZE;
        return 0;
    case S_TRAILER0:
        if (c == '\r') {
            d->state = S_END_LF;
            return 0;
        }
        d->state = S_TRAILER; /* this byte starts a trailer field */
        __attribute__((fallthrough));
    case S_TRAILER:
        if (c == '\n' || ++d->trailer_bytes > MAX_TRAILER) return -1;
        if (c == '\r') d->state = S_TRAILER_LF;
        return 0;
    case S_TRAILER_LF:
        if (c != '\n') return -1;
        d->state = S_TRAILER0;
        return 0;
    default: /* S_END_LF */
        if (c != '\n') return -1;
        d->state = S_DONE;
        return 0;
    }
}

int moat_http_chunked_feed(moat_http_chunked *d, const uint8_t *in, size_t len, size_t *used,
                           moat_buf *out)
{
    size_t i = 0;
    int ret = 0;
    while (i < len && d->state != S_DONE) {
        if (d->state == S_DATA) {
            /* chunk-data: as much of it as has arrived, in one append */
            size_t n = len - i;
            if ((uint64_t)n > d->remaining) n = (size_t)d->remaining;
            if ((ret = moat_buf_append(out, in + i, n)) != 0) break;
            i += n;
            d->remaining -= n;
            if (d->remaining == 0) d->state = S_DATA_CR;
            continue;
        }
        int bad = d->state <= S_SIZE_LF ? size_byte(d, in[i]) : tail_byte(d, in[i]);
        if (bad) {
            ret = -1;
            break;
        }
        i++;
    }
    if (ret == 0) ret = d->state == S_DONE;
    *used = i;
    return ret;
}
