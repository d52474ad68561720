/* The growable byte buffer, wiping and constant-time comparison. */
#include <stdlib.h>
#include <string.h>

#include "moat/buf.h"
#include "moat/error.h"

void moat_buf_init(moat_buf *b)
{
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
}

int moat_buf_reserve(moat_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len) return MOAT_ERR_NOMEM;
    if (b->len + extra <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra)
        ncap *= 2;
    /* Not realloc: the old block may hold secrets and must be wiped. */
    uint8_t *n = malloc(ncap);
    if (!n) return MOAT_ERR_NOMEM;
    if (b->base) {
        memcpy(n, b->base, b->len);
        moat_wipe(b->base, b->cap);
        free(b->base);
    }
    b->base = n;
    b->cap = ncap;
    return 0;
}

int moat_buf_append(moat_buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    int r = moat_buf_reserve(b, n);
    if (r) return r;
    memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

void moat_buf_consume(moat_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}

void moat_buf_clear(moat_buf *b)
{
    if (b->base) moat_wipe(b->base, b->cap);
    b->len = 0;
}

void moat_buf_free(moat_buf *b)
{
    if (b->base) {
        moat_wipe(b->base, b->cap);
        free(b->base);
    }
    moat_buf_init(b);
}

void moat_wipe(void *p, size_t n)
{
    explicit_bzero(p, n); /* a memset the compiler may not remove */
}

int moat_ct_memcmp(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d;
}
