/* The length-prefixed writer of TLS structures (codec.h). */
#include "tls/codec.h"
#include "moat/error.h"

void wr_bytes(wr_t *w, const void *p, size_t n)
{
    if (!w->err && n && moat_buf_append(w->b, p, n)) w->err = MOAT_ERR_NOMEM;
}

void wr_uint(wr_t *w, uint32_t v, size_t k)
{
    /* Called for every field of every message: written in place. */
    moat_buf *b = w->b;
    if (w->err) return;
    if (b->cap - b->len < k && moat_buf_reserve(b, k)) {
        w->err = MOAT_ERR_NOMEM;
        return;
    }
    uint8_t *p = b->base + b->len;
    b->len += k;
    switch (k) {
    case 4:
        *p++ = (uint8_t)(v >> 24);
        /* fall through */
    case 3:
        *p++ = (uint8_t)(v >> 16);
        /* fall through */
    case 2:
        *p++ = (uint8_t)(v >> 8);
        /* fall through */
    default:
        *p = (uint8_t)v;
    }
}

void wr_open(wr_t *w, size_t k)
{
    if (w->err) return;
    if (w->depth == WR_DEPTH || k < 1 || k > 3) {
        w->err = MOAT_ERR_INTERNAL;
        return;
    }
    w->mark[w->depth] = w->b->len;
    w->k[w->depth++] = (uint8_t)k;
    wr_uint(w, 0, k);
}

void wr_close(wr_t *w)
{
    if (w->err) return;
    if (w->depth == 0) {
        w->err = MOAT_ERR_INTERNAL;
        return;
    }
    size_t k = w->k[--w->depth], mark = w->mark[w->depth];
    size_t len = w->b->len - mark - k;
    if (len >> (8 * k)) {
        w->err = MOAT_ERR_INTERNAL; /* longer than its length field can say */
        return;
    }
    uint8_t *p = w->b->base + mark;
    if (k == 3) *p++ = (uint8_t)(len >> 16);
    if (k >= 2) *p++ = (uint8_t)(len >> 8);
    *p = (uint8_t)len;
}

int wr_finish(wr_t *w)
{
    if (!w->err && w->depth) w->err = MOAT_ERR_INTERNAL;
    return w->err;
}

uint8_t *wr_room(wr_t *w, size_t n)
{
    if (w->err) return NULL;
    if (moat_buf_reserve(w->b, n)) {
        w->err = MOAT_ERR_NOMEM;
        return NULL;
    }
    return w->b->base + w->b->len;
}

void wr_advance(wr_t *w, size_t n)
{
    if (!w->err) w->b->len += n;
}
