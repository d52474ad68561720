/* Fuzz target: the PROXY protocol parser (pp_feed), whole and in pieces
 * of the size the first byte picks; both must agree, never take a byte
 * past the header, and a header taken must encode and parse back the same. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http/proxyproto.h"

static void reencode(const struct pp_header *h)
{
    unsigned char out[PP_MAX];
    struct pp_parser *q = malloc(sizeof *q);
    if (!q) return;
    for (int ver = 1; ver <= 2; ver++) {
        long n =
            ver == 1 ? pp_encode_v1(h, out, sizeof out) : pp_encode_v2(h, ver, out, sizeof out);
        if (n <= 0) abort();
        size_t used;
        pp_init(q);
        if (pp_feed(q, out, (size_t)n, &used) != PP_DONE || used != (size_t)n) abort();
        size_t w = h->family == AF_INET ? 4 : 16;
        int fam = h->local ? 0 : h->family;
        if (q->hdr.family != fam) abort();
        if (fam && (memcmp(q->hdr.src, h->src, w) || memcmp(q->hdr.dst, h->dst, w) ||
                    q->hdr.src_port != h->src_port || q->hdr.dst_port != h->dst_port))
            abort();
        if (ver == 2 && fam &&
            (strcmp(q->hdr.authority, h->authority) || q->hdr.unique_id_len != h->unique_id_len))
            abort();
    }
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t piece = (size_t)data[0] % 32 + 1;
    data++, size--;
    /* Exact-size copy: a read past the input is an ASan report. */
    unsigned char *in = malloc(size ? size : 1);
    struct pp_parser *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (!in || !a || !b) abort();
    memcpy(in, data, size);
    pp_init(a);
    pp_init(b);
    size_t used_a, used_b = 0, u;
    enum pp_status sa = pp_feed(a, in, size, &used_a), sb = PP_NEED_MORE;
    for (size_t off = 0; off < size && sb == PP_NEED_MORE; off += u) {
        size_t n = size - off < piece ? size - off : piece;
        sb = pp_feed(b, in + off, n, &u);
        used_b += u;
        if (u > n) abort();
    }
    if (sa != sb || used_a > size) abort();
    if (sa == PP_DONE) {
        if (used_a != used_b || memcmp(&a->hdr, &b->hdr, sizeof a->hdr)) abort();
        if (used_a > (a->hdr.version == 1 ? PP_V1_MAX : PP_MAX)) abort();
        reencode(&a->hdr);
    }
    if (sa == PP_ERROR && (!a->why || !b->why)) abort();
    free(in);
    free(a);
    free(b);
    return 0;
}
