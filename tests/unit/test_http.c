/* Unit tests of src/http: request and response heads, the chunked decoder
 * and the helpers, with well-formed and hostile inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moat/error.h"
#include "http/reader.h"
#include "http/url.h"
#include "moat/http.h"
#include "server/config.h"
#include "server/proxy.h"

static int failures;

static void check(int cond, const char *name)
{
    printf("%s - %s\n", cond ? "ok" : "not ok", name);
    if (!cond) failures++;
}

static int req(const char *s, moat_http_request *r)
{
    return moat_http_parse_request(s, strlen(s), r);
}

static int req_status(const char *s)
{
    moat_http_request r;
    return req(s, &r);
}

static int span_is(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void test_request_ok(void)
{
    moat_http_request r;
    const char *s = "GET /a/b.html?x=1 HTTP/1.1\r\nHost: localhost:8443\r\n"
                    "User-Agent: t\r\nAccept:  */*  \r\n\r\nextra";
    int n = req(s, &r);
    check(n == (int)(strlen(s) - 5), "request: head length excludes what follows");
    check(span_is(r.method, r.method_len, "GET"), "request: method");
    check(span_is(r.target, r.target_len, "/a/b.html?x=1"), "request: target");
    check(r.f.minor == 1, "request: version 1.1");
    check(span_is(r.host, r.host_len, "localhost:8443"), "request: host");
    check(r.f.nheaders == 3, "request: three fields");
    const moat_http_header *h = moat_http_find_header(&r.f, "accept");
    check(h && span_is(h->value, h->value_len, "*/*"),
          "request: value trimmed, lookup ignores case");
    check(r.f.keep_alive == 1, "request: 1.1 keeps alive by default");
    check(r.f.content_length == -1 && !r.f.chunked, "request: no body framing");

    /* Every strict prefix is incomplete. */
    int all_zero = 1;
    size_t full = strlen(s) - 5;
    for (size_t i = 0; i < full; i++)
        if (moat_http_parse_request(s, i, &r) != 0) all_zero = 0;
    check(all_zero, "request: every prefix needs more bytes");

    check(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r) > 0 &&
              r.f.keep_alive == 0,
          "request: Connection: close");
    check(req("GET / HTTP/1.0\r\n\r\n", &r) > 0 && r.f.minor == 0 && r.f.keep_alive == 0,
          "request: 1.0 closes by default, Host optional");
    check(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0 && r.f.keep_alive == 1,
          "request: 1.0 with keep-alive");
    check(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &r) > 0 &&
              r.f.keep_alive == 0,
          "request: close within a Connection list");
    check(req("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0, "request: leading CRLF ignored");
    check(req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &r) > 0 &&
              r.f.content_length == 5,
          "request: Content-Length");
    check(req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
              &r) > 0 &&
              r.f.content_length == 7,
          "request: repeated equal Content-Length");
    check(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0 &&
              r.f.chunked == 1,
          "request: chunked");
    check(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0 &&
              span_is(r.target, r.target_len, "*"),
          "request: asterisk-form");
    check(req("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", &r) > 0 &&
              r.f.headers[1].value_len == 0,
          "request: empty field value");
    check(req("GET / HTTP/1.1\r\nHost: a\r\nX-Bin: caf\xc3\xa9\r\n\r\n", &r) > 0,
          "request: obs-text in a value");
}

static void test_request_bad(void)
{
    check(req_status("GET / HTTP/1.1\nHost: a\n\n") == -400, "bad: bare LF");
    check(req_status("GET / HTTP/1.1\r\nHost: a\n\r\n") == -400, "bad: bare LF in fields");
    check(req_status("GET / HTTP/1.1\rHost: a\r\n\r\n") == -400, "bad: bare CR");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  continued\r\n\r\n") == -400,
          "bad: obs-fold");
    check(req_status("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == -400, "bad: space before colon");
    check(req_status("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n") == -400, "bad: tab before colon");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n") == -400, "bad: no colon");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n") == -400, "bad: empty name");
    check(moat_http_parse_request("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30,
                                  &(moat_http_request){0}) == -400,
          "bad: NUL in value");
    check(req_status("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n") == -400, "bad: control char");
    check(req_status("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n") == -400, "bad: DEL in value");
    check(req_status("GET / HTTP/1.1\r\n\r\n") == -400, "bad: 1.1 without Host");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == -400, "bad: two Hosts");
    check(req_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == -400, "bad: double space");
    check(req_status("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n") == -400, "bad: CTL in target");
    check(req_status("G(T / HTTP/1.1\r\nHost: a\r\n\r\n") == -400, "bad: method not a token");
    check(req_status(" / HTTP/1.1\r\nHost: a\r\n\r\n") == -400, "bad: empty method");
    check(req_status("GET /\r\nHost: a\r\n\r\n") == -400, "bad: HTTP/0.9 request line");
    check(req_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n") == -400, "bad: trailing space");
    check(req_status("GET / http/1.1\r\nHost: a\r\n\r\n") == -400, "bad: lowercase version");
    check(req_status("GET / HTTP/1.10\r\nHost: a\r\n\r\n") == -400, "bad: two-digit minor");
    check(req_status("GET / HTTP/1\r\nHost: a\r\n\r\n") == -400, "bad: no minor");
    check(req_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == -505, "bad: HTTP/2.0 is 505");
    check(req_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n") == -505, "bad: HTTP/0.9 is 505");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n") == -400,
          "bad: negative Content-Length");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n") == -400,
          "bad: signed Content-Length");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\n") == -400,
          "bad: junk in Content-Length");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n") == -400,
          "bad: empty Content-Length");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n") == -400,
          "bad: Content-Length list disagrees");
    check(
        req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") ==
            -400,
        "bad: two different Content-Lengths");
    check(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n") ==
              -400,
          "bad: Content-Length overflow");
    check(req_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n") == -400,
          "bad: Transfer-Encoding with Content-Length");
    check(req_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n") == -400,
          "bad: final coding not chunked");
    check(req_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") ==
              -400,
          "bad: chunked twice");
    check(req_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
              -501,
          "bad: unsupported coding is 501");
    check(req_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == -400,
          "bad: Transfer-Encoding in HTTP/1.0");
}

static void test_request_limits(void)
{
    size_t big = MOAT_HTTP_MAX_REQUEST_LINE + 100;
    char *s = malloc(big + 64);
    char *h = malloc(64 * 1024);
    if (!s || !h) {
        check(0, "limit: allocation");
        free(s);
        free(h);
        return;
    }
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', big);
    check(moat_http_parse_request(s, big, &(moat_http_request){0}) == -414,
          "limit: long request line without its end is 414");
    strcpy(s + 5 + big - 40, " HTTP/1.1\r\nHost: a\r\n\r\n");
    check(moat_http_parse_request(s, strlen(s), &(moat_http_request){0}) == -414,
          "limit: long complete request line is 414");
    /* Just under the limit is fine. */
    size_t ok = MOAT_HTTP_MAX_REQUEST_LINE - 20;
    memset(s + 5, 'a', ok);
    strcpy(s + 5 + ok, " HTTP/1.1\r\nHost: a\r\n\r\n");
    check(moat_http_parse_request(s, strlen(s), &(moat_http_request){0}) > 0,
          "limit: request line under 8 KiB accepted");
    free(s);

    size_t n = (size_t)sprintf(h, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < MOAT_HTTP_MAX_HEADERS; i++)
        n += (size_t)sprintf(h + n, "X-%d: v\r\n", i);
    strcpy(h + n, "\r\n");
    check(moat_http_parse_request(h, n + 2, &(moat_http_request){0}) == -431,
          "limit: 101 fields is 431");
    n = (size_t)sprintf(h, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < MOAT_HTTP_MAX_HEADERS - 2; i++)
        n += (size_t)sprintf(h + n, "X-%d: v\r\n", i);
    strcpy(h + n, "\r\n");
    check(moat_http_parse_request(h, n + 2, &(moat_http_request){0}) > 0,
          "limit: 99 fields accepted");
    n = (size_t)sprintf(h, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(h + n, 'b', 33 * 1024);
    n += 33 * 1024;
    check(moat_http_parse_request(h, n, &(moat_http_request){0}) == -431,
          "limit: 33 KiB of fields without end is 431");
    strcpy(h + n, "\r\n\r\n");
    check(moat_http_parse_request(h, n + 4, &(moat_http_request){0}) == -431,
          "limit: 33 KiB complete header section is 431");
    free(h);
}

static void test_response(void)
{
    moat_http_response r;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello";
    int n = moat_http_parse_response(s, strlen(s), &r);
    check(n == (int)strlen(s) - 5, "response: head length");
    check(r.status == 200 && span_is(r.reason, r.reason_len, "OK"), "response: status and reason");
    check(r.f.content_length == 12 && !r.f.chunked && r.f.keep_alive, "response: framing");
    check(moat_http_parse_response(s, 20, &r) == 0, "response: partial needs more");

    s = "HTTP/1.1 404 \r\nTransfer-Encoding: chunked\r\n\r\n";
    check(moat_http_parse_response(s, strlen(s), &r) > 0 && r.status == 404 && r.reason_len == 0 &&
              r.f.chunked,
          "response: empty reason, chunked");
    s = "HTTP/1.1 204\r\n\r\n";
    check(moat_http_parse_response(s, strlen(s), &r) > 0 && r.status == 204,
          "response: no reason phrase at all");
    s = "HTTP/1.0 200 OK\r\n\r\n";
    check(moat_http_parse_response(s, strlen(s), &r) > 0 && !r.f.keep_alive &&
              r.f.content_length == -1,
          "response: 1.0 body until close");
    s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    check(moat_http_parse_response(s, strlen(s), &r) > 0 && r.f.chunked &&
              r.f.content_length == -1 && !r.f.keep_alive,
          "response: Transfer-Encoding overrides Content-Length");
    s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
    check(moat_http_parse_response(s, strlen(s), &r) > 0 && !r.f.chunked && !r.f.keep_alive,
          "response: non-chunked coding reads until close");

    const char *bad[] = {
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\n\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "response: malformed #%zu rejected", i);
        check(moat_http_parse_response(bad[i], strlen(bad[i]), &r) == -1, name);
    }
}

/* Decodes s in pieces of `step` bytes; returns the result of the last feed
 * and the decoded bytes in out. */
static int chunked(const char *s, size_t step, moat_buf *out, size_t *total_used)
{
    moat_http_chunked d;
    moat_http_chunked_init(&d);
    size_t len = strlen(s), pos = 0;
    int r = 0;
    *total_used = 0;
    while (pos < len) {
        size_t n = len - pos < step ? len - pos : step;
        size_t used = 0;
        r = moat_http_chunked_feed(&d, (const uint8_t *)s + pos, n, &used, out);
        *total_used += used;
        if (r != 0) return r;
        pos += n;
    }
    return r;
}

static void test_chunked(void)
{
    const char *body = "5\r\nhello\r\n7;ext=1\r\n, world\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
    size_t steps[] = {1, 2, 3, 7, 1000};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        moat_buf out;
        moat_buf_init(&out);
        size_t used;
        int r = chunked(body, steps[k], &out, &used);
        char name[64];
        snprintf(name, sizeof name, "chunked: decodes in steps of %zu", steps[k]);
        check(r == 1 && out.len == 22 && memcmp(out.base, "hello, world0123456789", 22) == 0 &&
                  used == strlen(body) - 4,
              name);
        moat_buf_free(&out);
    }

    moat_buf out;
    moat_buf_init(&out);
    size_t used;
    check(chunked("3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", 1, &out, &used) == 1 &&
              out.len == 3,
          "chunked: trailers skipped");
    moat_buf_clear(&out);
    check(chunked("00000\r\n\r\n", 4, &out, &used) == 1 && out.len == 0,
          "chunked: last-chunk of zeros");
    moat_buf_clear(&out);
    check(chunked("5\r\nhel", 2, &out, &used) == 0 && out.len == 3, "chunked: partial data");
    moat_buf_clear(&out);
    check(chunked("ff\r\n", 1, &out, &used) == 0, "chunked: lowercase hex size");

    const char *bad[] = {
        "\r\n",                      /* no size */
        "g\r\n",                     /* not hex */
        "5\r\nhelloX\r\n0\r\n\r\n",  /* data longer than the size */
        "5\nhello\r\n",              /* bare LF after the size */
        "5\r\nhello\n0\r\n\r\n",     /* bare LF after data */
        "1000000000000000\r\n",      /* 2^60: too big */
        "-5\r\n",                    /* sign */
        "0\r\nbad\ntrailer\r\n\r\n", /* bare LF in trailer */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        moat_buf_clear(&out);
        snprintf(name, sizeof name, "chunked: malformed #%zu rejected", i);
        check(chunked(bad[i], 1, &out, &used) == -1, name);
    }
    moat_buf_free(&out);
}

static void test_helpers(void)
{
    char dst[64];
    check(moat_http_percent_decode("/a%20b%2Fc", 10, dst) == 6 && strcmp(dst, "/a b/c") == 0,
          "percent: decodes");
    check(moat_http_percent_decode("/a%00b", 6, dst) == -1, "percent: %00 rejected");
    check(moat_http_percent_decode("/a%2", 4, dst) == -1, "percent: truncated escape");
    check(moat_http_percent_decode("/a%", 3, dst) == -1, "percent: lone percent");
    check(moat_http_percent_decode("/a%zz", 5, dst) == -1, "percent: bad hex");
    check(moat_http_percent_decode("/%2e%2E", 7, dst) == 3 && strcmp(dst, "/..") == 0,
          "percent: encoded dots decode (the server then rejects ..)");

    char date[30];
    moat_http_date(784111777, date);
    check(strcmp(date, "Sun, 06 Nov 1994 08:49:37 GMT") == 0, "date: IMF-fixdate");
    /* the remembered dates: three times in turn, each asked again */
    int dates_ok = 1;
    for (int round = 0; round < 3; round++) {
        moat_http_date(784111777, date);
        dates_ok &= strcmp(date, "Sun, 06 Nov 1994 08:49:37 GMT") == 0;
        moat_http_date(0, date);
        dates_ok &= strcmp(date, "Thu, 01 Jan 1970 00:00:00 GMT") == 0;
        moat_http_date(1700000000, date);
        dates_ok &= strcmp(date, "Tue, 14 Nov 2023 22:13:20 GMT") == 0;
        moat_http_date(1700000000, date);
        dates_ok &= strcmp(date, "Tue, 14 Nov 2023 22:13:20 GMT") == 0;
    }
    check(dates_ok, "date: the same answers from the remembered dates");

    check(strcmp(moat_http_mime_type("/x/index.html"), "text/html; charset=utf-8") == 0,
          "mime: html");
    check(strcmp(moat_http_mime_type("style.CSS"), "text/css; charset=utf-8") == 0,
          "mime: css, any case");
    check(strcmp(moat_http_mime_type("/a.b/noext"), "application/octet-stream") == 0,
          "mime: no extension");
    check(strcmp(moat_http_reason(404), "Not Found") == 0, "reason: 404");

    moat_buf b;
    moat_buf_init(&b);
    check(moat_http_write_status(&b, 200) == 0 && b.len == 17 &&
              memcmp(b.base, "HTTP/1.1 200 OK\r\n", 17) == 0,
          "write: status line");
    moat_buf_clear(&b);
    check(moat_http_write_header(&b, "Content-Length", "%d", 42) == 0 &&
              b.len == strlen("Content-Length: 42\r\n"),
          "write: header");
    check(moat_http_write_header(&b, "X", "a\r\nSet-Cookie: evil") == MOAT_ERR_ARG,
          "write: CRLF in a value refused");
    static const char *const sf[][2] = {
        {"", "::"},        {"f", ":Zg==:"},        {"fo", ":Zm8=:"},
        {"foo", ":Zm9v:"}, {"foob", ":Zm9vYg==:"}, {"foobar", ":Zm9vYmFy:"}};
    for (size_t i = 0; i < sizeof sf / sizeof sf[0]; i++) {
        moat_buf_clear(&b);
        char name[96];
        snprintf(name, sizeof name, "sf: byte sequence of '%s' is %s (RFC 8941 3.3.5)", sf[i][0],
                 sf[i][1]);
        check(moat_http_sf_binary(&b, (const uint8_t *)sf[i][0], strlen(sf[i][0])) == 0 &&
                  b.len == strlen(sf[i][1]) && memcmp(b.base, sf[i][1], b.len) == 0,
              name);
    }
    moat_buf_free(&b);
}

/* Mutated and truncated requests, responses and chunked bodies: every
 * result must be one the header documents, and nothing may read outside
 * the input (run under `make asan`). A fixed seed keeps it repeatable. */
static void test_mutations(void)
{
    static const char *seeds[] = {
        "GET /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        "4\r\nwiki\r\n5;x\r\npedia\r\n0\r\nT: v\r\n\r\n",
    };
    static const char alphabet[] = "\r\n :;,0aF%\t\x00\x7f\x80/";
    unsigned seed = 12345;
    int bad = 0;
    moat_buf out;
    moat_buf_init(&out);
    for (int iter = 0; iter < 20000; iter++) {
        const char *src = seeds[iter % 4];
        size_t len = strlen(src);
        char *m = malloc(len + 1);
        if (!m) break;
        memcpy(m, src, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245 + 12345;
            size_t pos = (seed >> 8) % len;
            m[pos] = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
        }
        seed = seed * 1103515245 + 12345;
        size_t cut = (seed >> 8) % (len + 1);
        moat_http_request rq;
        moat_http_response rs;
        int r;
        switch (iter % 4) {
        case 0:
        case 1:
            r = moat_http_parse_request(m, cut, &rq);
            if (!(r == 0 || (r > 0 && (size_t)r <= cut) || r == -400 || r == -414 || r == -431 ||
                  r == -501 || r == -505))
                bad++;
            break;
        case 2:
            r = moat_http_parse_response(m, cut, &rs);
            if (!(r == 0 || r == -1 || (r > 0 && (size_t)r <= cut))) bad++;
            break;
        default: {
            moat_http_chunked d;
            moat_http_chunked_init(&d);
            size_t used = 0;
            moat_buf_clear(&out);
            r = moat_http_chunked_feed(&d, (const uint8_t *)m, cut, &used, &out);
            if (!(r >= -1 && r <= 1) || used > cut || out.len > cut) bad++;
        }
        }
        free(m);
    }
    moat_buf_free(&out);
    check(bad == 0, "mutations: 20000 mutated inputs give documented results");
}

/* moat serve --config, from bytes (src/server/config.c). */
static int conf(struct moat_serve_opts *o, const char *text, char *err, size_t errlen)
{
    server_opts_init(o);
    o->no_include = 1;
    server_proxy_reset(o->proxy, 0);
    err[0] = '\0';
    return server_config_parse(o, text, strlen(text), "t.conf", err, errlen);
}

static void test_config(void)
{
    static struct moat_serve_opts o;
    char err[1200];
    int r = conf(&o,
                 "workers 3\r\n  # note\n--hsts 60 # trailing\nlist-dirs\ncert a.pem\nkey a.key\n"
                 "max-body-size 0\nproxy /api=http://127.0.0.1:3000/v1/\nproxy-only on",
                 err, sizeof err);
    check(r == 0 && o.workers == 3 && o.hsts == 60 && o.list_dirs == 1 && o.ncerts == 1 &&
              !strcmp(o.certs[0], "a.pem") && o.max_body == 0,
          "config: settings, CRLF, comments, dashes, a last line without newline");
    server_opts_free(&o);
    r = conf(&o, "workers 2\n\nworkers lots\n", err, sizeof err);
    check(r == 2 && !strncmp(err, "t.conf:3: workers wants a whole number", 38),
          "config: a bad value is file:line and what is wrong");
    server_opts_free(&o);
    r = conf(&o, "serve-dotfiles\nlist-dirs off\n", err, sizeof err);
    check(r == 0 && o.serve_dotfiles == 1 && o.list_dirs == 0, "config: serve-dotfiles switch");
    server_opts_free(&o);
    r = conf(&o, "serve-dotfiles on\nserve-dotfiles off\n", err, sizeof err);
    check(r == 0 && o.serve_dotfiles == 0, "config: serve-dotfiles on, then off");
    server_opts_free(&o);
    r = conf(&o, "serve-dotfiles perhaps\n", err, sizeof err);
    check(r == 2 && !strcmp(err, "t.conf:1: serve-dotfiles takes on or off, not 'perhaps'"),
          "config: serve-dotfiles with a bad value is named");
    server_opts_free(&o);
    r = conf(&o, "metrics 9464\naccess-log-format json\n", err, sizeof err);
    check(r == 0 && !strcmp(o.metrics, "9464") && !strcmp(o.access_log_format, "json"),
          "config: metrics and access-log-format");
    server_opts_free(&o);
    r = conf(&o, "access-log-format apache\n", err, sizeof err);
    check(r == 2 &&
              !strcmp(err, "t.conf:1: access-log-format takes combined or json, not 'apache'"),
          "config: access-log-format with a bad value is named");
    server_opts_free(&o);
    r = conf(&o, "frobnicate yes\n", err, sizeof err);
    check(r == 2 && !strcmp(err, "t.conf:1: unknown setting frobnicate"),
          "config: an unknown setting is named");
    server_opts_free(&o);
    char nul[] = "workers 2\nhsts\0 5\n";
    server_opts_init(&o);
    o.no_include = 1;
    r = server_config_parse(&o, nul, sizeof nul - 1, "t.conf", err, sizeof err);
    check(r == 2 && strstr(err, "t.conf:2: a NUL byte"), "config: a NUL byte is refused, not cut");
    server_opts_free(&o);
    char longl[5000];
    memset(longl, 'a', sizeof longl - 1);
    longl[sizeof longl - 1] = '\0';
    r = conf(&o, longl, err, sizeof err);
    check(r == 2 && strstr(err, "t.conf:1: line too long"), "config: an over-long line is refused");
    server_opts_free(&o);
    r = conf(&o, "config /etc/passwd\n", err, sizeof err);
    check(r == 2, "config: includes can be turned off (the fuzzer reads no files)");
    server_opts_free(&o);
    /* Found by fuzz_config: a '%' in a backend host reached a format. */
    r = conf(&o, "proxy http://%n%n%s%s%s:1/\n", err, sizeof err);
    check(r == 2 && strstr(err, "cannot resolve %n%n%s%s%s"),
          "config: a backend host with '%' is reported, never used as a format");
    server_opts_free(&o);
    r = conf(&o, "proxy-read-timeout %s%s%n\n", err, sizeof err);
    check(r == 2 && strstr(err, "not '%s%s%n'"), "config: a bad timeout with '%' is quoted as is");
    server_opts_free(&o);
}

/* Host = uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2-3.2.3);
 * port = *DIGIT, so "h:" is one. */
static void test_host(void)
{
    static const char *const good[] = {
        "localhost",
        "localhost:8443",
        "127.0.0.1",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:443",
        "[2001:db8::1]:8443",
        "[::ffff:192.0.2.1]",
        "xn--caf-dma.example",
        "a_b.example",
        "caf%C3%A9.example",
        "example.com.",
        "h:",
        "[::1]:",
        "h:65535",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char name[128], r[256];
        snprintf(name, sizeof name, "host: '%s' is host[:port]", good[i]);
        check(moat_http_host_valid(good[i], strlen(good[i])) == 1, name);
        snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
        snprintf(name, sizeof name, "host: a request with Host '%s' parses", good[i]);
        check(req_status(r) > 0, name);
    }
    static const char *const bad[] = {
        "attacker.example, for=6.6.6.6;host=x",
        "a,for=6.6.6.6",
        "a;host=x",
        "a=b",
        "a\"b",
        "a\\b",
        "a b",
        "a/b",
        "a@b",
        "user@host",
        "a?b",
        "a#b",
        "a%2",
        "a%zz",
        ":80",
        "[::1",
        "::1",
        "[::1]x",
        "[zz::1]",
        "[v1.x]",
        "[fe80::1%25eth0]",
        "h:65536",
        "h:123456",
        "h:8a",
        "h:-1",
        "h:80:80",
        "[]",
        "a!b",
        "a$b",
        "a'b",
        "a(b)",
        "a*b",
        "a+b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[128], r[256];
        snprintf(name, sizeof name, "host: '%s' refused", bad[i]);
        check(moat_http_host_valid(bad[i], strlen(bad[i])) == 0, name);
        snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        snprintf(name, sizeof name, "host: a request with Host '%s' is 400", bad[i]);
        check(req_status(r) == -400, name);
    }
    check(req_status("GET / HTTP/1.1\r\nHost:\r\n\r\n") > 0,
          "host: an empty Host is allowed (a target without authority)");
    check(req_status("GET / HTTP/1.0\r\n\r\n") > 0, "host: HTTP/1.0 may go without");
    check(req_status("GET / HTTP/1.0\r\nHost: a b\r\n\r\n") == -400,
          "host: HTTP/1.0 with a bad Host is 400 too");
}

/* What a proxied path may not carry behind a route's prefix (the path as
 * forwarded, unreserved escapes already decoded). */
static void test_path_escapes(void)
{
    static const char *const climbs[] = {
        "/app/..%2fsecret.txt",
        "/app/..%2Fsecret.txt",
        "/app/%2e%2e/secret.txt",
        "/app/%2e%2e%2fsecret.txt",
        "/app/..%5csecret.txt",
        "/app/..%5Csecret.txt",
        "/app/..\\secret.txt",
        "/app/;/../secret.txt",
        "/app/..;/secret.txt",
        "/app/x;jsessionid=1",
        "/app/a%2fb",
        "/app//etc/passwd",
        "/app/a%00.txt",
        "/app/.%2E/x",
        "/app/..%3B/x",
        "/app/.",
        "/app/..",
        "/app/../x",
        "/app/./x",
    };
    for (size_t i = 0; i < sizeof climbs / sizeof climbs[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "path: %s refused behind a prefix", climbs[i]);
        check(moat_http_path_escapes(climbs[i], strlen(climbs[i]), 1) == 1, name);
    }
    static const char *const fine[] = {
        "/app/",    "/app/a%20b.txt", "/app/caf%C3%A9.txt", "/app/%252e%252e/x", "/app/%252fx",
        "/app/...", "/app/..a",       "/app/.hidden",       "/app/a.b/c",        "/app/%5Bx%5D",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "path: %s passes behind a prefix", fine[i]);
        check(moat_http_path_escapes(fine[i], strlen(fine[i]), 1) == 0, name);
    }
    check(moat_http_path_escapes("/a;b//c%2fd\\e", 13, 0) == 0,
          "path: the fallback route refuses only dot segments");
    check(moat_http_path_escapes("/a/%2E%2e/b", 11, 0) == 1,
          "path: the fallback route refuses an encoded dot segment");
}

/* Feeds s to a reader in pieces of step bytes, as sockets deliver them:
 * interim heads dropped, the final head taken, then the body pumped.
 * Returns the last body result, or the head result when it never got
 * past the head; the body bytes go to body. */
static int read_all(const char *s, size_t step, int head_request, int *status, moat_buf *body)
{
    http_reader rd;
    http_reader_init(&rd, head_request);
    moat_buf in, scratch;
    moat_buf_init(&in);
    moat_buf_init(&scratch);
    size_t len = strlen(s), off = 0;
    int final = 0, r = HTTP_HEAD_MORE;
    while (off < len || in.len) {
        size_t k = len - off < step ? len - off : step;
        moat_buf_append(&in, s + off, k);
        off += k;
        for (;;) {
            if (!final) {
                moat_http_response resp;
                size_t hl;
                r = http_reader_head(&rd, in.base, in.len, &resp, &hl);
                if (r == HTTP_HEAD_BAD) goto out;
                if (r == HTTP_HEAD_MORE) break;
                *status = resp.status;
                moat_buf_consume(&in, hl);
                if (r == HTTP_HEAD_FINAL) final = 1;
                continue;
            }
            http_piece p;
            r = http_body_feed(&rd.body, in.base, in.len, &scratch, &p);
            moat_buf_append(body, p.data, p.len);
            moat_buf_consume(&in, p.used);
            if (r != HTTP_BODY_MORE) goto out;
            break;
        }
        if (off == len) break;
    }
out:
    moat_buf_free(&in);
    moat_buf_free(&scratch);
    if (!final && r != HTTP_HEAD_BAD) return 99;
    return r;
}

static void test_reader(void)
{
    static const size_t steps[] = {1, 3, 1000};
    for (size_t i = 0; i < 3; i++) {
        char name[128];
        int st = 0;
        moat_buf b;
        moat_buf_init(&b);
        int r =
            read_all("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
                     steps[i], 0, &st, &b);
        snprintf(name, sizeof name, "reader: 1xx skipped, Content-Length body, pieces of %zu",
                 steps[i]);
        check(r == HTTP_BODY_END && st == 200 && b.len == 5 && !memcmp(b.base, "hello", 5), name);
        moat_buf_clear(&b);
        r = read_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
                     steps[i], 0, &st, &b);
        snprintf(name, sizeof name, "reader: chunked body decoded, pieces of %zu", steps[i]);
        check(r == HTTP_BODY_END && b.len == 5 && !memcmp(b.base, "abcde", 5), name);
        moat_buf_free(&b);
    }
    int st = 0;
    moat_buf b;
    moat_buf_init(&b);
    check(read_all("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nbody", 1000, 1, &st, &b) ==
                  HTTP_BODY_END &&
              b.len == 0,
          "reader: no body after HEAD, whatever Content-Length says");
    check(read_all("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 1000, 0, &st, &b) ==
              HTTP_BODY_END,
          "reader: no body for 304");
    check(read_all("HTTP/1.1 204 No Content\r\n\r\n", 1000, 0, &st, &b) == HTTP_BODY_END,
          "reader: no body for 204");
    check(read_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxx", 1000, 0, &st,
                   &b) == HTTP_BODY_END &&
              st == 101,
          "reader: 101 is final, with no body");
    check(read_all("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1000, 0, &st, &b) ==
              HTTP_BODY_END,
          "reader: Content-Length 0 is done at once");
    check(read_all("HTTP/1.1 200 OK\r\n\r\nuntil close", 1000, 0, &st, &b) == HTTP_BODY_MORE &&
              b.len == 11,
          "reader: no framing reads until close");
    check(read_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1000, 0, &st,
                   &b) == HTTP_BODY_BAD,
          "reader: malformed chunk");
    check(read_all("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1000, 0,
                   &st, &b) == HTTP_HEAD_BAD,
          "reader: conflicting lengths");
    moat_buf_free(&b);
    /* A peer sending 103s forever is cut off. */
    moat_buf many;
    moat_buf_init(&many);
    for (int i = 0; i <= HTTP_MAX_INTERIM; i++)
        moat_buf_append(&many, "HTTP/1.1 103 Early Hints\r\n\r\n", 28);
    moat_buf_append(&many, "HTTP/1.1 200 OK\r\n\r\n\0", 20);
    moat_buf_init(&b);
    check(read_all((const char *)many.base, 4096, 0, &st, &b) == HTTP_HEAD_BAD,
          "reader: too many interim responses");
    moat_buf_free(&b);
    moat_buf_free(&many);
    /* A head that never ends is malformed once over the limit. */
    http_reader rd;
    http_reader_init(&rd, 0);
    char *big = malloc(HTTP_MAX_HEAD + 2);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', HTTP_MAX_HEAD + 2 - 20);
    moat_http_response resp;
    size_t hl;
    check(http_reader_head(&rd, (const uint8_t *)big, 100, &resp, &hl) == HTTP_HEAD_MORE &&
              http_reader_head(&rd, (const uint8_t *)big, HTTP_MAX_HEAD + 1, &resp, &hl) ==
                  HTTP_HEAD_BAD,
          "reader: head over the limit");
    free(big);
}

/* The URL splitter moat get and the proxy share (src/http/url.c). */
static void test_url_split(void)
{
    http_url u;
    check(http_url_split("https://Example.com:8443/a/b?q#f", &u) == HTTP_URL_OK &&
              span_is(u.scheme, u.scheme_len, "https") &&
              span_is(u.host, u.host_len, "Example.com") && span_is(u.port, u.port_len, "8443") &&
              !strcmp(u.rest, "/a/b?q#f") && !u.ipv6,
          "url: scheme, host, port, rest");
    check(http_url_split("http://[::1]:80", &u) == HTTP_URL_OK && u.ipv6 &&
              span_is(u.host, u.host_len, "::1") && span_is(u.port, u.port_len, "80") && !*u.rest,
          "url: an IPv6 literal without its brackets");
    check(http_url_split("example.com?x", &u) == HTTP_URL_OK && !u.scheme && !u.port &&
              span_is(u.host, u.host_len, "example.com") && !strcmp(u.rest, "?x"),
          "url: no scheme, the authority ends at '?'");
    check(http_url_split("h:/p", &u) == HTTP_URL_OK && u.port && u.port_len == 0,
          "url: an empty port");
    check(http_url_split("https://u:p@h/", &u) == HTTP_URL_USERINFO, "url: userinfo");
    check(http_url_split("https://[::1/", &u) == HTTP_URL_BAD_IPV6, "url: '[' without ']'");
    check(http_url_split("https://[]/", &u) == HTTP_URL_BAD_IPV6, "url: empty brackets");
    check(http_url_split("https://[::1]x/", &u) == HTTP_URL_AFTER_HOST, "url: junk after ']'");
}

/* http_json_string: every byte a client sends becomes valid JSON. */
static int json_is(const char *in, size_t n, const char *want)
{
    moat_buf b;
    moat_buf_init(&b);
    int ok = http_json_string(&b, in, n) == 0 && b.len == strlen(want) &&
             memcmp(b.base, want, b.len) == 0;
    moat_buf_free(&b);
    return ok;
}

static void test_json_string(void)
{
    check(json_is("abc", 3, "\"abc\""), "json: plain ASCII quoted");
    check(json_is("", 0, "\"\""), "json: the empty string");
    check(json_is("a\"b\\c", 5, "\"a\\\"b\\\\c\""), "json: quote and backslash escaped");
    check(json_is("\n\t\x01\x1f\x7f", 5, "\"\\u000a\\u0009\\u0001\\u001f\\u007f\""),
          "json: control bytes and DEL as \\u00XX");
    check(json_is("a\0b", 3, "\"a\\u0000b\""), "json: a NUL byte inside");
    check(json_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", 14,
                  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92\""),
          "json: well-formed UTF-8 (2, 3, 4 bytes) kept");
    check(json_is("\xff\xfe", 2, "\"\\u00ff\\u00fe\""),
          "json: bytes that are not UTF-8 as \\u00XX");
    check(json_is("\xc3", 1, "\"\\u00c3\""), "json: a truncated sequence");
    check(json_is("\xc0\xaf", 2, "\"\\u00c0\\u00af\""), "json: an overlong '/' refused");
    check(json_is("\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\""), "json: a surrogate refused");
    check(json_is("\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\""),
          "json: past U+10FFFF refused");
    check(json_is("\xe2\x82", 2, "\"\\u00e2\\u0082\""), "json: a 3-byte sequence cut short");
}

int main(void)
{
    test_json_string();
    test_request_ok();
    test_request_bad();
    test_host();
    test_request_limits();
    test_response();
    test_chunked();
    test_reader();
    test_url_split();
    test_helpers();
    test_path_escapes();
    test_mutations();
    test_config();
    return failures ? 1 : 0;
}
