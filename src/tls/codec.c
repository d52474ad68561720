/* Length-prefixed writing of TLS structures into a moat_buf. */
#include "tls/codec.h"
#include "moat/error.h"

int wr_bytes(moat_buf *b, const void *p, size_t n)
{
    return moat_buf_append(b, p, n);
}

int wr_uint(moat_buf *b, uint32_t v, size_t k)
{
    uint8_t t[4];
    for (size_t i = 0; i < k; i++)
        t[i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    return moat_buf_append(b, t, k);
}

int wr_begin(moat_buf *b, size_t k, size_t *mark)
{
    *mark = b->len;
    return wr_uint(b, 0, k);
}

int wr_end(moat_buf *b, size_t k, size_t mark)
{
    size_t len = b->len - mark - k;
    if (k < 4 && len >> (8 * k)) return MOAT_ERR_INTERNAL;
    for (size_t i = 0; i < k; i++)
        b->base[mark + i] = (uint8_t)(len >> (8 * (k - 1 - i)));
    return 0;
}
