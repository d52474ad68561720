/* Bounds-checked reading and length-prefixed writing of TLS wire structures.
 * A reader that runs short sets err instead of reading past its end. */
#ifndef MOAT_TLS_CODEC_H
#define MOAT_TLS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "moat/buf.h"

typedef struct {
    const uint8_t *p;
    size_t n;
    int err;
} rd_t;

static inline rd_t rd_init(const uint8_t *p, size_t n)
{
    rd_t r = {p, n, 0};
    return r;
}

static inline int rd_take(rd_t *r, size_t k, const uint8_t **out)
{
    if (r->err || r->n < k) {
        r->err = 1;
        r->n = 0;
        *out = NULL;
        return -1;
    }
    *out = r->p;
    r->p += k;
    r->n -= k;
    return 0;
}

static inline uint32_t rd_uint(rd_t *r, size_t k)
{
    const uint8_t *p;
    uint32_t v = 0;
    if (rd_take(r, k, &p)) return 0;
    for (size_t i = 0; i < k; i++)
        v = v << 8 | p[i];
    return v;
}
#define rd_u8(r) ((uint8_t)rd_uint(r, 1))
#define rd_u16(r) ((uint16_t)rd_uint(r, 2))
#define rd_u24(r) rd_uint(r, 3)

/* A sub-reader over a vector with a k-byte length prefix. */
static inline rd_t rd_vec(rd_t *r, size_t k)
{
    size_t len = rd_uint(r, k);
    const uint8_t *p;
    rd_t sub = {NULL, 0, 1};
    if (!r->err && !rd_take(r, len, &p)) sub = rd_init(p, len);
    return sub;
}

/* Writing: wr_begin reserves a k-byte length, wr_end fills it in. */
int wr_bytes(moat_buf *b, const void *p, size_t n);
int wr_uint(moat_buf *b, uint32_t v, size_t k);
#define wr_u8(b, v) wr_uint(b, v, 1)
#define wr_u16(b, v) wr_uint(b, v, 2)
#define wr_u24(b, v) wr_uint(b, v, 3)
int wr_begin(moat_buf *b, size_t k, size_t *mark);
int wr_end(moat_buf *b, size_t k, size_t mark);

#endif
