/* moat get's network pieces on their own (client/getnet.h): no_proxy
 * matching as curl 7.88 reads the list, --limit-rate values, Retry-After,
 * the retry decisions and curl's backoff, and the body decoders of
 * --compressed (every coding, stacked, raw deflate, broken, a bomb). */
#include <zlib.h>

#include "client/getnet.h"
#include "core/clock.h"
#include "core/exit.h"
#include "harness.h"

static void noproxy(const char *host, const char *list, int want)
{
    check(client_noproxy_match(host, list) == want, "no_proxy '%s' %s %s", list,
          want ? "covers" : "does not cover", host);
}

static void rate(const char *s, int ok, uint64_t want)
{
    uint64_t v = 0;
    int r = client_parse_rate(s, &v);
    check(ok ? r == 0 && v == want : r < 0, "--limit-rate '%s' %s %llu", s, ok ? "is" : "refused",
          (unsigned long long)v);
}

static void after(const char *v, time_t now, int64_t want)
{
    int64_t got = client_retry_after(v, strlen(v), now);
    check(got == want, "Retry-After '%s' is %lld s (got %lld)", v, (long long)want, (long long)got);
}

/* A sink that keeps what it gets (up to a cap) and the largest piece. */
struct sink {
    uint8_t buf[4096];
    size_t len;
    uint64_t total;
    size_t biggest;
};

static int take(void *arg, const uint8_t *p, size_t n)
{
    struct sink *s = arg;
    if (s->len + n <= sizeof s->buf) memcpy(s->buf + s->len, p, n);
    if (s->len + n <= sizeof s->buf) s->len += n;
    s->total += n;
    if (n > s->biggest) s->biggest = n;
    return 0;
}

/* zlib's deflate of in with wbits (31 gzip, 15 zlib, -15 raw) into out. */
static size_t squeeze(const uint8_t *in, size_t n, int wbits, uint8_t *out, size_t cap)
{
    z_stream z = {0};
    deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

/* Decodes body (fed a byte at a time when bytewise) under coding ce.
 * Returns the feed result; s gets the output. */
static int decode(const char *ce, const uint8_t *body, size_t n, int bytewise, struct sink *s)
{
    struct client_decode d;
    memset(s, 0, sizeof *s);
    if (client_decode_init(&d, ce, strlen(ce)) < 0) return -10;
    int r = 0;
    if (bytewise)
        for (size_t i = 0; i < n && r == 0; i++)
            r = client_decode_feed(&d, body + i, 1, take, s);
    else
        r = client_decode_feed(&d, body, n, take, s);
    client_decode_free(&d);
    return r;
}

static void decoders(void)
{
    static const uint8_t plain[] = "hello, hello, hello, moat\nhello, hello, hello, moat\n"
                                   "hello, hello, hello, moat\nhello, hello, hello, moat\n";
    size_t pn = sizeof plain - 1;
    /* brotli.compress(plain) (Python's brotli 1.0.9). */
    static const uint8_t br[] = "\x1b\x67\x00\xf8\x1d\xa9\x53\x9f\xbb\x59\x82\xa0\xb5\x35\x4b\x18"
                                "\x1b\x9d\x56\x28\x63\x7b\xd3\xad\x04\x73\x8c\x3c\x3a\x80\x04\x36"
                                "\x48\xc1\xc9\x1a\xf2\x4e\xa2\x1a";
    uint8_t gz[512], zl[512], raw[512], both[512];
    size_t gzn = squeeze(plain, pn, 31, gz, sizeof gz);
    size_t zln = squeeze(plain, pn, 15, zl, sizeof zl);
    size_t rawn = squeeze(plain, pn, -15, raw, sizeof raw);
    size_t bothn = squeeze(gz, gzn, 15, both, sizeof both); /* gzip, then deflate */
    struct {
        const char *ce, *what;
        const uint8_t *body;
        size_t n;
    } good[] = {
        {"gzip", "gzip", gz, gzn},
        {"x-gzip", "x-gzip", gz, gzn},
        {"deflate", "deflate (zlib format)", zl, zln},
        {"deflate", "raw deflate, as curl takes it", raw, rawn},
        {"br", "br", br, sizeof br - 1},
        {"gzip, deflate", "gzip then deflate, undone last first", both, bothn},
        {"identity", "identity", plain, pn},
        {"GZip", "a coding's name in any case", gz, gzn},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct sink s;
            int r = decode(good[i].ce, good[i].body, good[i].n, bytewise, &s);
            check(r == 0 && s.len == pn && memcmp(s.buf, plain, pn) == 0,
                  "decode %s%s (r %d, %zu bytes)", good[i].what,
                  bytewise ? ", a byte at a time" : "", r, s.len);
        }
    struct sink s;
    uint8_t bad[512];
    memcpy(bad, gz, gzn);
    bad[gzn - 6] ^= 0x40; /* the CRC-32 */
    check(decode("gzip", bad, gzn, 0, &s) == -1, "decode: a gzip body with a wrong CRC fails");
    memcpy(bad, br, sizeof br - 1);
    bad[20] ^= 0x55;
    check(decode("br", bad, sizeof br - 1, 0, &s) == -1, "decode: a damaged br body fails");
    check(decode("deflate", (const uint8_t *)"\xff\xff\xff\xff", 4, 0, &s) == -1,
          "decode: deflate that is neither zlib nor raw fails");
    check(decode("compress", plain, pn, 0, &s) == -1,
          "decode: an unknown coding fails on its body");
    check(decode("compress", plain, 0, 0, &s) == 0,
          "decode: an unknown coding with no body is no error");
    memcpy(bad, gz, gzn);
    memcpy(bad + gzn, "junk", 4);
    check(decode("gzip", bad, gzn + 4, 0, &s) == -3, "decode: bytes after the gzip stream: -3");
    struct client_decode d;
    check(client_decode_init(&d, "gzip,gzip,gzip,gzip,gzip,gzip", 29) < 0,
          "decode: six stacked codings are refused (curl's limit is 5): %s", d.err);

    /* A bomb: 64 MiB of zeros in about 64 kB, out in pieces of 16 KiB. */
    size_t zn = 64u << 20;
    uint8_t *zeros = calloc(1, zn), *bomb = malloc(1 << 20);
    size_t bn = zeros && bomb ? squeeze(zeros, zn, 31, bomb, 1 << 20) : 0;
    int r = decode("gzip", bomb, bn, 0, &s);
    check(r == 0 && s.total == zn && s.biggest <= 16384,
          "decode: a %zu-byte gzip bomb streams out %llu bytes, 16 KiB at most at a time", bn,
          (unsigned long long)s.total);
    free(zeros);
    free(bomb);
}

static void retries(void)
{
    struct client_retry r;
    char msg[300];
    int64_t wait = 0;
    client_retry_init(&r, 3, 0, 0, 0, 0, 1000);
    int why = client_retry_next(&r, 0, 503, 0, 0, 1000, &wait, msg, sizeof msg);
    check(why == CLIENT_RETRY_HTTP && wait == 1000 &&
              strcmp(msg, "Problem : HTTP error. Will retry in 1 seconds. 3 retries left.") == 0,
          "retry: 503: curl's words, 1 s (%s)", msg);
    why = client_retry_next(&r, GET_EXIT_OPERATION_TIMEDOUT, 0, 0, 0, 2000, &wait, msg, sizeof msg);
    check(why == CLIENT_RETRY_TIMEOUT && wait == 2000 && strstr(msg, ": timeout. Will retry in 2"),
          "retry: a timeout, 2 s next (%s)", msg);
    why = client_retry_next(&r, 0, 429, 7, 0, 3000, &wait, msg, sizeof msg);
    check(why == CLIENT_RETRY_HTTP && wait == 7000 && strstr(msg, "1 retries left"),
          "retry: 429 with Retry-After: 7 waits 7 s (%s)", msg);
    check(client_retry_next(&r, 0, 503, 0, 0, 4000, &wait, msg, sizeof msg) == 0,
          "retry: none left after 3");

    client_retry_init(&r, 100, 0, 0, 0, 0, 0);
    int64_t last = 0;
    for (int i = 0; i < 20; i++)
        client_retry_next(&r, 0, 500, 0, 0, 0, &last, msg, sizeof msg);
    check(last == 600000, "retry: the backoff doubles up to 10 minutes (%lld ms)", (long long)last);

    client_retry_init(&r, 5, 2.5, 0, 0, 0, 0);
    client_retry_next(&r, 0, 502, 0, 0, 0, &wait, msg, sizeof msg);
    client_retry_next(&r, 0, 502, 0, 0, 0, &last, msg, sizeof msg);
    check(wait == 2500 && last == 2500, "retry: --retry-delay 2.5 fixes the wait");

    int statuses[] = {408, 429, 500, 502, 503, 504}, others[] = {200, 404, 501, 505, 403};
    int good = 1;
    for (size_t i = 0; i < 6; i++)
        good &= client_retry_status(statuses[i]);
    for (size_t i = 0; i < 5; i++)
        good &= !client_retry_status(others[i]);
    check(good, "retry: 408 429 500 502 503 504 are retried; 200 404 501 505 403 are not");

    client_retry_init(&r, 3, 0, 0, 0, 0, 0);
    check(client_retry_next(&r, GET_EXIT_COULDNT_CONNECT, 0, 0, 1, 0, &wait, msg, sizeof msg) == 0,
          "retry: a refused connection is not retried by default");
    check(client_retry_next(&r, GET_EXIT_PEER_FAILED_VERIFICATION, 0, 0, 0, 0, &wait, msg,
                            sizeof msg) == 0,
          "retry: a refused certificate is not retried");
    client_retry_init(&r, 3, 0, 0, 0, 1, 0);
    why = client_retry_next(&r, GET_EXIT_COULDNT_CONNECT, 0, 0, 1, 0, &wait, msg, sizeof msg);
    check(why == CLIENT_RETRY_CONNREFUSED && strstr(msg, ": connection refused."),
          "retry: --retry-connrefused (%s)", msg);
    client_retry_init(&r, 3, 0, 0, 1, 0, 0);
    why = client_retry_next(&r, GET_EXIT_PEER_FAILED_VERIFICATION, 0, 0, 0, 0, &wait, msg,
                            sizeof msg);
    check(why == CLIENT_RETRY_ALL && strstr(msg, "Problem (retrying all errors)."),
          "retry: --retry-all-errors (%s)", msg);

    client_retry_init(&r, 3, 0, 10, 0, 0, 0);
    why = client_retry_next(&r, 0, 503, 11, 0, 0, &wait, msg, sizeof msg);
    check(why == -1 && strstr(msg, "exceed the maximum allowed time"),
          "retry: a Retry-After past --retry-max-time stops at once (%s)", msg);
    client_retry_init(&r, 3, 0, 10, 0, 0, 0);
    check(client_retry_next(&r, 0, 503, 0, 0, 10000, &wait, msg, sizeof msg) == 0,
          "retry: nothing once --retry-max-time has passed");
}

int main(void)
{
    /* no_proxy as curl 7.88 reads it. */
    noproxy("localhost", "localhost", 1);
    noproxy("www.example.com", "example.com", 1);
    noproxy("www.example.com", ".example.com", 1);
    noproxy("example.com", ".example.com", 1);
    noproxy("badexample.com", "example.com", 0);
    noproxy("example.com", "www.example.com", 0);
    noproxy("EXAMPLE.com", "example.COM", 1);
    noproxy("example.com.", "example.com", 1);
    noproxy("example.com", "example.com.", 1);
    noproxy("a.test", "x.test, a.test", 1);
    noproxy("a.test", "x.test a.test", 1);
    noproxy("a.test", "x.test,,a.test", 1);
    noproxy("a.test", "*", 1);
    noproxy("a.test", "*.test", 0);
    noproxy("a.test", "a.test:443", 0);
    noproxy("a.test", "", 0);
    noproxy("10.1.2.3", "10.1.2.3", 1);
    noproxy("10.1.2.3", "10.0.0.0/8", 1);
    noproxy("11.1.2.3", "10.0.0.0/8", 0);
    noproxy("10.1.2.3", "10.1.2.0/24", 1);
    noproxy("10.1.3.3", "10.1.2.0/24", 0);
    noproxy("10.1.2.3", "1.2.3", 0);
    noproxy("::1", "::1", 1);
    noproxy("::1", "[::1]", 1);
    noproxy("2001:db8::5", "2001:db8::/32", 1);
    noproxy("2001:db9::5", "2001:db8::/32", 0);

    rate("0", 1, 0);
    rate("512", 1, 512);
    rate("100k", 1, 102400);
    rate("100K", 1, 102400);
    rate("2M", 1, 2097152);
    rate("1G", 1, 1073741824);
    rate("7B", 1, 7);
    rate("", 0, 0);
    rate("1.5M", 0, 0);
    rate("10x", 0, 0);
    rate("-5", 0, 0);
    rate("1kb", 0, 0);
    rate("99999999999999999999", 0, 0);
    rate("18014398509481984G", 0, 0);

    time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
    after("120", now, 120);
    after(" 5 ", now, 5);
    after("0", now, 0);
    after("Wed, 21 Oct 2015 07:28:30 GMT", now, 30);
    after("Wed, 21 Oct 2015 07:27:00 GMT", now, 0);
    after("soon", now, 0);
    after("12s", now, 0);
    after("", now, 0);

    struct client_pace p;
    client_pace_init(&p, 0);
    check(client_pace_chunk(&p, 65536) == 65536, "pace: no limit reads whole chunks");
    client_pace_init(&p, 10240);
    check(client_pace_chunk(&p, 65536) == 1024, "pace: 10 kB/s reads a tenth of a second's worth");
    int64_t t0 = core_mono_us();
    client_pace_account(&p, 5120, 0);
    int64_t took = core_mono_us() - t0;
    check(took >= 450000, "pace: 5 kB at 10 kB/s waits about half a second (%lld us)",
          (long long)took);

    retries();
    decoders();
    return failures ? 1 : 0;
}
