/* moat get --compressed: the Content-Encoding of a response body undone
 * as it streams (RFC 9110 8.4.1): gzip and deflate through zlib, br
 * through libbrotli's decoder, as curl does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>

#include "client/getnet.h"
#include "http/reader.h"

/* Decoded bytes leave in pieces of this size: a bomb costs time, never
 * memory. */
#define OUT_CHUNK 16384

enum kind { K_GZIP, K_DEFLATE, K_BR, K_UNKNOWN };

struct client_decode_stage {
    enum kind kind;
    z_stream z;
    int z_init;          /* inflateInit2 done */
    int ended;           /* the coded stream ended: any byte after it is an error */
    int deflate_restart; /* deflate: may still be tried as raw deflate */
    uint8_t head[2];     /* deflate: its first bytes, the zlib header if it has one */
    size_t headn;
    uint64_t fed;       /* input bytes before this piece */
    uint64_t out_total; /* bytes produced */
    BrotliDecoderState *br;
};

static int fail(struct client_decode *d, const char *what, const char *why)
{
    if (why && !*why)
        snprintf(d->err, sizeof d->err, "%s", what);
    else
        snprintf(d->err, sizeof d->err, "%s: %s", what, why ? why : "invalid data");
    return -1;
}

/* Bytes after the end of a coded stream: curl 7.88 calls that a write
 * error (23), not a decoding one. */
static int trailing(struct client_decode *d, const char *what)
{
    fail(d, what, "data after the end of the compressed stream");
    return -3;
}

static int zinit(struct client_decode_stage *s, int wbits)
{
    memset(&s->z, 0, sizeof s->z);
    if (inflateInit2(&s->z, wbits) != Z_OK) return -1;
    s->z_init = 1;
    return 0;
}

int client_decode_init(struct client_decode *d, const char *v, size_t n)
{
    memset(d, 0, sizeof *d);
    size_t pos = 0, a, b;
    while (http_list_next(v, n, &pos, &a, &b)) {
        size_t l = b - a;
        const char *t = v + a;
        enum kind k = K_UNKNOWN;
        if ((l == 8 && strncasecmp(t, "identity", 8) == 0) ||
            (l == 4 && strncasecmp(t, "none", 4) == 0))
            continue;
        if ((l == 4 && strncasecmp(t, "gzip", 4) == 0) ||
            (l == 6 && strncasecmp(t, "x-gzip", 6) == 0))
            k = K_GZIP;
        else if (l == 7 && strncasecmp(t, "deflate", 7) == 0)
            k = K_DEFLATE;
        else if (l == 2 && strncasecmp(t, "br", 2) == 0)
            k = K_BR;
        if (d->n == CLIENT_DECODE_MAX_STAGES) {
            client_decode_free(d);
            return fail(d, "Reject response due to more than 5 content encodings", "");
        }
        struct client_decode_stage *s = calloc(1, sizeof *s);
        if (!s) {
            client_decode_free(d);
            return fail(d, "out of memory", "");
        }
        s->kind = k;
        d->stage[d->n++] = s;
        int bad = 0;
        /* gzip: 32 lets zlib read the gzip header (and a zlib one too, as
         * curl allows); deflate is the zlib format (RFC 9110 8.4.1.2), and
         * raw deflate is tried when that fails at once, as curl does. */
        if (k == K_GZIP)
            bad = zinit(s, MAX_WBITS + 32);
        else if (k == K_DEFLATE) {
            bad = zinit(s, MAX_WBITS);
            s->deflate_restart = 1;
        } else if (k == K_BR)
            bad = !(s->br = BrotliDecoderCreateInstance(NULL, NULL, NULL));
        if (bad) {
            client_decode_free(d);
            return fail(d, "cannot start a decoder", "out of memory");
        }
    }
    return 0;
}

static int feed_stage(struct client_decode *d, int i, const uint8_t *in, size_t n,
                      client_decode_sink sink, void *arg);

/* Hands a stage's output to the next stage, or to the sink after the last. */
static int pass_on(struct client_decode *d, int i, const uint8_t *p, size_t n,
                   client_decode_sink sink, void *arg)
{
    if (n == 0) return 0;
    d->stage[i]->out_total += n;
    /* The codings were applied in the order listed: undo the last first. */
    if (i == 0) return sink(arg, p, n) < 0 ? -2 : 0;
    return feed_stage(d, i - 1, p, n, sink, arg);
}

static int feed_zlib(struct client_decode *d, int i, const uint8_t *in, size_t n,
                     client_decode_sink sink, void *arg)
{
    struct client_decode_stage *s = d->stage[i];
    uint8_t out[OUT_CHUNK];
    const char *name = s->kind == K_GZIP ? "gzip" : "deflate";
    size_t prev = s->headn; /* header bytes from earlier pieces */
    while (s->deflate_restart && s->headn < sizeof s->head && s->headn - prev < n) {
        s->head[s->headn] = in[s->headn - prev];
        s->headn++;
    }
    s->z.next_in = (Bytef *)in;
    s->z.avail_in = (uInt)n;
    while (s->z.avail_in) {
        if (s->ended) return trailing(d, name);
        s->z.next_out = out;
        s->z.avail_out = sizeof out;
        int r = inflate(&s->z, Z_NO_FLUSH);
        size_t got = sizeof out - s->z.avail_out;
        /* Only while every earlier byte is in head[], so none is lost. */
        if (r == Z_DATA_ERROR && s->deflate_restart && s->out_total == 0 && got == 0 &&
            s->fed <= sizeof s->head) {
            /* Not the zlib format: raw deflate, as some servers send. */
            inflateEnd(&s->z);
            s->z_init = 0;
            s->deflate_restart = 0;
            if (zinit(s, -MAX_WBITS) < 0) return fail(d, name, "out of memory");
            if (prev) { /* the bytes taken for a header, from earlier pieces */
                uint8_t early[sizeof s->head];
                memcpy(early, s->head, prev);
                int e = feed_zlib(d, i, early, prev, sink, arg);
                if (e) return e;
            }
            s->z.next_in = (Bytef *)in;
            s->z.avail_in = (uInt)n;
            continue;
        }
        if (r != Z_OK && r != Z_STREAM_END && !(r == Z_BUF_ERROR && got))
            return fail(d, name, s->z.msg ? s->z.msg : "invalid data");
        if (got) s->deflate_restart = 0;
        int e = pass_on(d, i, out, got, sink, arg);
        if (e) return e;
        if (r == Z_STREAM_END) s->ended = 1;
    }
    s->fed += n;
    return 0;
}

static int feed_br(struct client_decode *d, int i, const uint8_t *in, size_t n,
                   client_decode_sink sink, void *arg)
{
    struct client_decode_stage *s = d->stage[i];
    uint8_t out[OUT_CHUNK];
    size_t avail_in = n;
    const uint8_t *next_in = in;
    for (;;) {
        if (s->ended) {
            return avail_in ? trailing(d, "br") : 0;
        }
        size_t avail_out = sizeof out;
        uint8_t *next_out = out;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(s->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
        if (r == BROTLI_DECODER_RESULT_ERROR)
            return fail(d, "br", BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s->br)));
        int e = pass_on(d, i, out, sizeof out - avail_out, sink, arg);
        if (e) return e;
        if (r == BROTLI_DECODER_RESULT_SUCCESS) s->ended = 1;
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) return 0;
    }
}

static int feed_stage(struct client_decode *d, int i, const uint8_t *in, size_t n,
                      client_decode_sink sink, void *arg)
{
    if (n == 0) return 0;
    switch (d->stage[i]->kind) {
    case K_GZIP:
    case K_DEFLATE:
        return feed_zlib(d, i, in, n, sink, arg);
    case K_BR:
        return feed_br(d, i, in, n, sink, arg);
    case K_UNKNOWN:
        break;
    }
    /* curl reports an unknown coding when its body arrives, not before. */
    snprintf(d->err, sizeof d->err,
             "Unrecognized content encoding type. moat understands deflate, gzip, br content "
             "encodings.");
    return -1;
}

int client_decode_feed(struct client_decode *d, const uint8_t *in, size_t n,
                       client_decode_sink sink, void *arg)
{
    if (d->n == 0) return n && sink(arg, in, n) < 0 ? -2 : 0;
    return feed_stage(d, d->n - 1, in, n, sink, arg);
}

void client_decode_free(struct client_decode *d)
{
    for (int i = 0; i < d->n; i++) {
        struct client_decode_stage *s = d->stage[i];
        if (s->z_init) inflateEnd(&s->z);
        if (s->br) BrotliDecoderDestroyInstance(s->br);
        free(s);
        d->stage[i] = NULL;
    }
    d->n = 0;
}
