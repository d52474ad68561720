/* Fuzz target: moat get --compressed's decoders (client_decode_*), and the
 * small parsers beside them (no_proxy, Retry-After, --limit-rate). The
 * input is "CODINGS\nBODY": the Content-Encoding value, then the body,
 * fed in pieces whose sizes come from the body's own bytes. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/getnet.h"

struct count {
    uint64_t total;
    unsigned touch; /* every byte handed out is readable */
};

static int sink(void *arg, const uint8_t *p, size_t n)
{
    struct count *c = arg;
    if (n == 0 || n > 16384) abort(); /* the pieces are bounded */
    c->total += n;
    c->touch += p[0] ^ p[n - 1];
    /* A bomb stops here rather than spinning the fuzzer for minutes. */
    return c->total > (64u << 20) ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t cl = nl ? (size_t)(nl - data) : size;
    char *line = malloc(cl + 1);
    if (!line) return 0;
    memcpy(line, data, cl);
    line[cl] = '\0';
    uint64_t rate;
    client_parse_rate(line, &rate);
    client_retry_after(line, cl, (time_t)1445412480);
    client_noproxy_match("www.example.com", line);
    client_noproxy_match("10.1.2.3", line);
    client_noproxy_match("2001:db8::1", line);

    struct client_decode d;
    if (client_decode_init(&d, line, cl) == 0) {
        const uint8_t *body = nl ? nl + 1 : data + size;
        size_t left = (size_t)(data + size - body);
        struct count c = {0};
        int r = 0;
        for (size_t i = 0; left && r == 0; i++) {
            size_t n = 1 + (size_t)(body[0] % 64) * (i % 3 ? 1 : 97);
            if (n > left) n = left;
            r = client_decode_feed(&d, body, n, sink, &c);
            if (r < -3 || r > 0) abort();
            body += n;
            left -= n;
        }
        client_decode_free(&d);
    }
    free(line);
    return 0;
}
