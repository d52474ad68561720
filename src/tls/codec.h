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

/* Writing, the reader's mirror: a writer over a moat_buf with a sticky
 * error. Every call is a no-op once err is set, so a message is written
 * straight through and checked once, at wr_finish. A length-prefixed
 * vector is a block: wr_open(w, k) reserves its k-byte length, wr_close
 * fills it in with what was written since; lengths are never summed by
 * hand. Blocks nest up to WR_DEPTH deep. */
#define WR_DEPTH 8
typedef struct {
    moat_buf *b;
    int err; /* MOAT_ERR_NOMEM; MOAT_ERR_INTERNAL for a block too long or unbalanced */
    size_t depth;
    size_t mark[WR_DEPTH];
    uint8_t k[WR_DEPTH];
} wr_t;

static inline wr_t wr_init(moat_buf *b)
{
    wr_t w = {.b = b};
    return w;
}
void wr_bytes(wr_t *w, const void *p, size_t n);
void wr_uint(wr_t *w, uint32_t v, size_t k);
#define wr_u8(w, v) wr_uint(w, (uint32_t)(v), 1)
#define wr_u16(w, v) wr_uint(w, (uint32_t)(v), 2)
#define wr_u24(w, v) wr_uint(w, (uint32_t)(v), 3)
#define wr_u32(w, v) wr_uint(w, (uint32_t)(v), 4)
/* A vector with a k-byte length (1, 2 or 3), closed by wr_close. */
void wr_open(wr_t *w, size_t k);
void wr_close(wr_t *w);
/* 0, or the first error (an open block left is one). */
int wr_finish(wr_t *w);
/* Room for n more bytes, written by the caller at *p (then wr_advance). */
uint8_t *wr_room(wr_t *w, size_t n);
void wr_advance(wr_t *w, size_t n);

#endif
