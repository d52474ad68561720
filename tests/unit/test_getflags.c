/* moat get's curl flags, their parsers alone: the cookie jar (Set-Cookie
 * attributes, domain, path, secure and expiry matching, the Netscape file
 * both ways), the multipart encoder of -F, the -K config file syntax, and
 * the response-head limits that give curl's exit codes. */
#include <unistd.h>

#include "cli/getconf.h"
#include "core/file.h"
#include "client/body.h"
#include "harness.h"
#include "http/reader.h"

#define NOW 1800000000

static char *cookie_for(struct client_jar *j, const char *host, const char *path)
{
    static char out[4096];
    moat_buf b;
    moat_buf_init(&b);
    client_jar_header(j, host, path, NOW, &b);
    snprintf(out, sizeof out, "%.*s", (int)b.len, b.base ? (const char *)b.base : "");
    moat_buf_free(&b);
    return out;
}

static void set(struct client_jar *j, const char *host, const char *path, const char *v)
{
    client_jar_set(j, host, path, v, strlen(v), NOW);
}

static void test_cookies(void)
{
    struct client_jar j = {0};
    set(&j, "www.example.com", "/a/b", "host=1");
    set(&j, "www.example.com", "/a/b", "dom=2; Domain=.example.com; Path=/");
    set(&j, "www.example.com", "/", "other=3; Domain=example.org");
    set(&j, "www.example.com", "/", "tld=4; Domain=com");
    set(&j, "www.example.com", "/", "old=5; Expires=Thu, 01 Jan 1970 00:00:10 GMT");
    set(&j, "www.example.com", "/", "late=6; Expires=Wed, 01 Jan 2042 00:00:00 GMT; Path=/x");
    set(&j, "www.example.com", "/", "noval");
    set(&j, "www.example.com", "/", "=novalue");
    set(&j, "www.example.com", "/", "sec=7; Secure; HttpOnly; Max-Age=60");
    check(j.n == 4,
          "Set-Cookie: a foreign or single-label Domain, an expired date, no '=' and an "
          "empty name are dropped (%zu kept)",
          j.n);
    check(!strcmp(cookie_for(&j, "www.example.com", "/a/b/c"), "host=1; sec=7; dom=2"),
          "the default path is the request's directory (/a/), longer paths first: %s",
          cookie_for(&j, "www.example.com", "/a/b/c"));
    check(!strcmp(cookie_for(&j, "www.example.com", "/a"), "sec=7; dom=2"),
          "/a/ does not cover /a: %s", cookie_for(&j, "www.example.com", "/a"));
    check(!strcmp(cookie_for(&j, "x.example.com", "/"), "dom=2"),
          "a Domain cookie goes to a sibling host, a host-only one does not: %s",
          cookie_for(&j, "x.example.com", "/"));
    check(!strcmp(cookie_for(&j, "badexample.com", "/"), ""),
          "a domain matches at a dot only (badexample.com gets nothing)");
    check(!strcmp(cookie_for(&j, "www.example.com", "/xy"), "sec=7; dom=2"),
          "path /x does not cover /xy: %s", cookie_for(&j, "www.example.com", "/xy"));
    check(!strcmp(cookie_for(&j, "www.example.com", "/x/y"), "late=6; sec=7; dom=2"),
          "path /x covers /x/y: %s", cookie_for(&j, "www.example.com", "/x/y"));
    set(&j, "www.example.com", "/", "late=gone; Max-Age=0; Path=/x");
    check(!strstr(cookie_for(&j, "www.example.com", "/x/y"), "late"),
          "Max-Age=0 removes the cookie of that name, domain and path");
    set(&j, "www.example.com", "/", "far=8; Max-Age=99999999999999999999; Path=/far");
    check(strstr(cookie_for(&j, "www.example.com", "/far"), "far=8") != NULL,
          "a Max-Age past the end of time keeps the cookie (no overflow)");
    set(&j, "www.example.com", "/", "far=gone; Max-Age=0; Path=/far");
    set(&j, "www.example.com", "/a/b", "host=new");
    check(strstr(cookie_for(&j, "www.example.com", "/a/"), "host=new") && j.n == 3,
          "a cookie of the same name, domain and path replaces the old one");

    /* Written and read back in the Netscape format. */
    char path[] = "/tmp/moat-jar-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    check(client_jar_save(&j, path, NOW) == 0, "the jar is written");
    struct client_jar k = {0};
    char err[256];
    int loaded = client_jar_load(&k, path, NOW, err, sizeof err);
    check(loaded == 0 && k.n == j.n, "and read back whole (%zu cookies)", k.n);
    check(!strcmp(cookie_for(&k, "www.example.com", "/a/b/c"),
                  cookie_for(&j, "www.example.com", "/a/b/c")) &&
              !strcmp(cookie_for(&k, "x.example.com", "/"), "dom=2"),
          "the read jar sends what the written one did");
    size_t n = 0;
    char *text = (char *)core_read_file(path, 1 << 20, &n);
    check(text && strstr(text, "#HttpOnly_www.example.com\tFALSE\t/\tTRUE\t1800000060\tsec\t7") &&
              strstr(text, ".example.com\tTRUE\t/\tFALSE\t0\tdom\t2"),
          "lines as curl writes them: #HttpOnly_, a leading dot and TRUE for a Domain cookie");
    free(text);
    unlink(path);
    client_jar_free(&k);
    client_jar_free(&j);

    /* Hostile files: long lines, missing fields, junk. */
    const char junk[] = "a\tb\n\t\t\t\t\t\t\n.x\tTRUE\tnopath\tFALSE\t0\tn\tv\n"
                        "h.test\tFALSE\t/\tFALSE\t-5\tn\tv\nh.test\tFALSE\t/\tFALSE\t0\tok\t1\n"
                        "h.test\tFALSE\t/\tFALSE\t0\tempty\n"
                        "Set-Cookie: sc=1; Domain=h.test\n";
    client_jar_load_text(&k, junk, sizeof junk - 1, NOW);
    check(k.n == 3 && !strcmp(cookie_for(&k, "h.test", "/"), "empty=; sc=1; ok=1"),
          "a file with junk lines keeps only the well-formed ones (%s)",
          cookie_for(&k, "h.test", "/"));
    client_jar_free(&k);
    const char crlf[] = "h.test\tFALSE\t/\tFALSE\t0\tn\tv\rX-Injected: 1\n"
                        "h.test\tFALSE\t/\tFALSE\t0\tdel\t\x7f\n";
    client_jar_load_text(&k, crlf, sizeof crlf - 1, NOW);
    set(&k, "h.test", "/", "a=b\rX-Injected: 1");
    check(k.n == 0, "a cookie with a CR or DEL inside, from a file or Set-Cookie, is dropped");
    client_jar_free(&k);
    char *big = malloc(200000);
    memset(big, 'v', 200000);
    memcpy(big, "h.test\tFALSE\t/\tFALSE\t0\tn\t", 25);
    big[199999] = '\0';
    client_jar_load_text(&k, big, 199999, NOW);
    check(k.n == 0, "a cookie line of 200 kB is dropped");
    set(&k, "h.test", "/", big + 24);
    check(k.n == 0, "so is a Set-Cookie of 200 kB");
    free(big);
    for (int i = 0; i < CLIENT_JAR_MAX + 50; i++) {
        char v[64];
        snprintf(v, sizeof v, "c%d=%d", i, i);
        set(&k, "h.test", "/", v);
    }
    check(k.n == CLIENT_JAR_MAX, "the jar holds %d cookies at most", CLIENT_JAR_MAX);
    client_jar_free(&k);
}

static char *body_text(struct client_body *b, size_t *len)
{
    static char out[65536];
    char err[256];
    size_t n = 0;
    ssize_t r;
    client_body_rewind(b);
    while ((r = client_body_read(b, (uint8_t *)out + n, 7, err, sizeof err)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    *len = n;
    return r < 0 ? NULL : out;
}

static void test_form(void)
{
    char path[] = "/tmp/moat-form-XXXXXX.txt";
    int fd = mkstemps(path, 4);
    check(fd >= 0 && write(fd, "file body", 9) == 9, "a file to send");
    close(fd);
    char spec1[300], spec2[300];
    snprintf(spec1, sizeof spec1, "up=@%s", path);
    snprintf(spec2, sizeof spec2, "raw=@%s;type=a/b;charset=x;filename=n\"q", path);
    const char *specs[] = {"a=1", "semi=x;y", "q=\"p;q\\\"r\"", spec1, spec2};
    struct client_body b;
    client_body_init(&b);
    char ct[128], err[256];
    ct[0] = '\0';
    int r = client_form_build(specs, 5, &b, ct, sizeof ct, err, sizeof err);
    check(r == 0 && !strncmp(ct, "multipart/form-data; boundary=------------------------", 54) &&
              strlen(ct) == 30 + 24 + 16,
          "-F: the Content-Type with curl's boundary shape (%s)", ct);
    const char *bd = ct + 30;
    size_t len;
    char *t = body_text(&b, &len);
    char want[4096];
    snprintf(want, sizeof want,
             "--%s\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"semi\"\r\n\r\nx\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\np;q\"r\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"up\"; filename=\"%s\"\r\n"
             "Content-Type: text/plain\r\n\r\nfile body\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"raw\"; filename=\"n%%22q\"\r\n"
             "Content-Type: a/b;charset=x\r\n\r\nfile body\r\n--%s--\r\n",
             bd, bd, bd, bd, strrchr(path, '/') + 1, bd, bd);
    check(t && !strcmp(t, want), "-F: values, a quoted value, files with their type and name");
    check(b.total == (int64_t)len, "the length is known before sending (%lld = %zu)",
          (long long)b.total, len);
    t = body_text(&b, &len);
    check(t && !strcmp(t, want), "the body reads again the same after a rewind (a 307)");
    client_body_free(&b);

    const char *bad[] = {"noequals", "=x", "f=@", "q=\"unterminated"};
    for (size_t i = 0; i < 4; i++) {
        client_body_init(&b);
        check(client_form_build(&bad[i], 1, &b, ct, sizeof ct, err, sizeof err) < 0,
              "-F '%s' is refused: %s", bad[i], err);
        client_body_free(&b);
    }
    const char *missing = "f=@/nonexistent/file";
    client_body_init(&b);
    check(client_form_build(&missing, 1, &b, ct, sizeof ct, err, sizeof err) < 0 &&
              strstr(err, "/nonexistent/file"),
          "-F with a missing file names it: %s", err);
    client_body_free(&b);

    /* A file that shrinks after the body was built is an error, not a
     * short body sent under the promised length. */
    client_body_init(&b);
    client_body_add_file(&b, path, err, sizeof err);
    check(truncate(path, 3) == 0, "the file shrinks to 3 bytes");
    uint8_t buf[64];
    ssize_t n1 = client_body_read(&b, buf, sizeof buf, err, sizeof err);
    ssize_t n2 = client_body_read(&b, buf, sizeof buf, err, sizeof err);
    check(n1 == 3 && n2 < 0 && strstr(err, "shrank"), "a file that shrank while sent: %s", err);
    client_body_free(&b);
    unlink(path);
}

static int takes(const char *name)
{
    return !strcmp(name, "--output") || !strcmp(name, "-o") || !strcmp(name, "--header") ||
           !strcmp(name, "-H") || !strcmp(name, "--user-agent");
}

static void conf_is(const char *text, int ok, const char *want)
{
    struct cli_args a = {0};
    char err[256] = "", got[2048] = "";
    int r = cli_getconf_parse(text, strlen(text), takes, &a, err, sizeof err);
    for (int i = 0; i < a.n; i++) {
        strncat(got, a.v[i], sizeof got - strlen(got) - 2);
        strcat(got, "|");
    }
    if (ok)
        check(r == 0 && !strcmp(got, want), "-K: %s gives %s (got %s %s)", want, want, got, err);
    else
        check(r < 0 && !strncmp(err, want, strlen(want)), "-K: refused: %s", err);
    cli_args_free(&a);
}

static void test_config(void)
{
    conf_is("# comment\n\nurl = \"https://x.test/\"\n", 1, "https://x.test/|");
    conf_is("output = f.txt\n--output g\n-o h\noutput: i\noutput=j\n", 1,
            "--output|f.txt|--output|g|-o|h|--output|i|--output|j|");
    conf_is("  silent  \n--verbose\n", 1, "--silent|--verbose|");
    conf_is("user-agent \"a \\\"b\\\"\\tc\\\\d\\qe\"\n", 1, "--user-agent|a \"b\"\tc\\dqe|");
    conf_is("-H \"X-A: 1\"\r\nheader = \"X-B: 2\" # trailing comment\n", 1,
            "-H|X-A: 1|--header|X-B: 2|");
    conf_is("url https://a.test/p?q=1\n", 1, "https://a.test/p?q=1|");
    conf_is("output\n", 0, "line 1: no value for --output");
    conf_is("\n\nurl = \"open\n", 0, "line 3: unterminated");
    conf_is("output a b\n", 0, "line 1: text after the value");
    char big[70000];
    memset(big, 'x', sizeof big);
    memcpy(big, "output ", 7);
    big[sizeof big - 1] = '\0';
    conf_is(big, 0, "line 1: value too long");
}

static void over(const char *what, const char *head, size_t len, int want)
{
    int got = http_head_over_limit((const uint8_t *)head, len);
    check(got == want, "head limits: %s is %d (got %d)", what, want, got);
}

static void test_limits(void)
{
    static char h[200000];
    size_t n = (size_t)snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nX-Long: ");
    memset(h + n, 'l', sizeof h - n);
    over("one header line of 200 kB (curl: 27)", h, sizeof h, HTTP_HEAD_LINE_TOO_LONG);
    n = (size_t)snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(h + n, sizeof h - n, "X-F%d: %01000d\r\n", i, 0);
    over("40 fields of 1 kB (curl: 56)", h, n, HTTP_HEAD_TOO_LARGE);
    n = (size_t)snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 120; i++)
        n += (size_t)snprintf(h + n, sizeof h - n, "X-%d: a\r\n", i);
    n += (size_t)snprintf(h + n, sizeof h - n, "\r\n");
    over("120 short fields", h, n, HTTP_HEAD_TOO_LARGE);
    over("a malformed small head", "HTTP/1.1 200 OK\r\nBad Field\r\n\r\n", 29,
         HTTP_HEAD_WITHIN_LIMITS);
    memset(h, 's', 9000);
    memcpy(h, "HTTP/1.1 200 ", 13);
    over("a status line of 9000 bytes", h, 9000, HTTP_HEAD_LINE_TOO_LONG);
}

int main(void)
{
    test_cookies();
    test_form();
    test_config();
    test_limits();
    return failures ? 1 : 0;
}
