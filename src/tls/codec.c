/* The length-prefixed writer of TLS structures (codec.h). */
#include "tls/codec.h"
#include "moat/error.h"

void wr_bytes(wr_t *w, const void *p, size_t n)
{
    if (!w->err && n && moat_buf_append(w->b, p, n)) w->err = MOAT_ERR_NOMEM;
}

void wr_uint(wr_t *w, uint32_t v, size_t k)
{
    uint8_t t[4];
    for (size_t i = 0; i < k; i++)
        t[i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    wr_bytes(w, t, k);
}

void wr_open(wr_t *w, size_t k)
{
    if (w->err) return;
    if (w->depth == WR_DEPTH) {
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
    for (size_t i = 0; i < k; i++)
        w->b->base[mark + i] = (uint8_t)(len >> (8 * (k - 1 - i)));
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
