/* HTTP/1.1 message heads: request line, status line and header fields
 * (RFC 9112 2-6), strict about line endings and field syntax. */
#include <arpa/inet.h>
#include <string.h>

#include "http/reader.h"
#include "moat/http.h"

/* RFC 9110 5.6.2: tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.5: field-vchar, SP, HTAB and obs-text may appear in values. */
static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

/* Finds the CRLF ending the line that starts at pos, looking at no more than
 * max bytes. Returns 1 and sets *eol to the CR, 0 when more bytes are
 * needed, -1 on a bare CR or LF (RFC 9112 2.2: we choose to reject them),
 * -2 when no line end appears within max bytes. */
static int find_eol(const char *buf, size_t len, size_t pos, size_t max, size_t *eol)
{
    size_t end = len - pos > max ? pos + max : len;
    for (size_t i = pos; i < end; i++) {
        if (buf[i] == '\n') return -1;
        if (buf[i] == '\r') {
            if (i + 1 >= len) return 0;
            if (buf[i + 1] != '\n') return -1;
            *eol = i;
            return 1;
        }
    }
    return len - pos >= max ? -2 : 0;
}

/* Parses "HTTP/d.d" at p (8 bytes). Returns the minor version (0 or 1; a
 * later 1.x is treated as 1.1, RFC 9110 2.5), -400 when malformed, -505
 * when the major version is not 1. */
static int parse_version(const char *p, size_t n)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.') return -400;
    if (p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9') return -400;
    if (p[5] != '1') return -505;
    return p[7] == '0' ? 0 : 1;
}

/* Parses a Content-Length value: 1*DIGIT, or a list of identical ones
 * (RFC 9110 8.6). Returns the value or -1. */
static int64_t parse_length(const char *v, size_t n)
{
    int64_t result = -1;
    size_t i = 0;
    while (i < n) {
        int64_t x = 0;
        size_t digits = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            if (digits++ >= 18) return -1;
            x = x * 10 + (v[i++] - '0');
        }
        if (digits == 0 || (result >= 0 && x != result)) return -1;
        result = x;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i < n) {
            if (v[i] != ',') return -1;
            i++;
            while (i < n && (v[i] == ' ' || v[i] == '\t'))
                i++;
            if (i == n) return -1;
        }
    }
    return result;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* uri-host as IP-literal (RFC 3986 3.2.2): "[" IPv6address "]", no zone
 * and no IPvFuture. Returns the length of the literal or 0. */
static size_t ip_literal(const char *v, size_t n)
{
    const char *e = memchr(v, ']', n);
    char a[48];
    struct in6_addr x;
    size_t l = e ? (size_t)(e - v) - 1 : 0;
    if (!l || l >= sizeof a) return 0;
    memcpy(a, v + 1, l);
    a[l] = '\0';
    return inet_pton(AF_INET6, a, &x) == 1 ? l + 2 : 0;
}

int moat_http_host_valid(const char *v, size_t n)
{
    size_t i = 0;
    if (n == 0) return 1; /* RFC 9112 3.2: empty when the target has no authority */
    if (v[0] == '[') {
        if (!(i = ip_literal(v, n))) return 0;
    } else {
        /* reg-name (which covers IPv4address) as unreserved and
         * pct-encoded only: the sub-delims RFC 3986 also allows
         * ("!$&'()*+,;=") are in no DNS name and no address, and they are
         * the separators of Forwarded (RFC 7239 4) and of the lists a
         * backend reads X-Forwarded-Host as. */
        while (i < n && v[i] != ':') {
            unsigned char c = (unsigned char)v[i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~')
                i++;
            else if (c == '%' && i + 2 < n && is_hex(v[i + 1]) && is_hex(v[i + 2]))
                i += 3;
            else
                return 0;
        }
        if (i == 0) return 0;
    }
    if (i == n) return 1;
    if (v[i++] != ':') return 0;
    /* port = *DIGIT (RFC 3986 3.2.3), bounded to what a port can be. */
    if (n - i > 5) return 0;
    long port = 0;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        port = port * 10 + (v[i] - '0');
    }
    return port <= 65535;
}

/* What the Connection and Transfer-Encoding lists said. */
struct tokens {
    int close, keep_alive;
    int codings, chunked_last, chunked_seen, other;
};

/* Scans the comma-separated elements of a field value, trimmed; empty
 * elements are skipped (RFC 9110 5.6.1). */
static void scan_list(const char *v, size_t n, struct tokens *t, int is_te)
{
    size_t i = 0, s, e;
    while (http_list_next(v, n, &i, &s, &e)) {
        if (is_te) {
            t->codings++;
            t->chunked_last = ieq(v + s, e - s, "chunked");
            if (t->chunked_last)
                t->chunked_seen++;
            else
                t->other = 1;
        } else if (ieq(v + s, e - s, "close")) {
            t->close = 1;
        } else if (ieq(v + s, e - s, "keep-alive")) {
            t->keep_alive = 1;
        }
    }
}

/* Parses header fields from pos to the empty line. Returns the end of the
 * head, 0 when more is needed, or a negated status. For requests, *host
 * is set to the first Host field. */
static int parse_fields(const char *buf, size_t len, size_t pos, moat_http_fields *f,
                        int is_request, const char **host, size_t *host_len)
{
    size_t start = pos;
    int hosts = 0, cls = 0;
    int64_t cl = -1;
    struct tokens tk = {0};
    f->nheaders = 0;

    for (;;) {
        size_t used = pos - start;
        if (used >= MOAT_HTTP_MAX_HEADER_BYTES) return -431;
        size_t eol;
        int r = find_eol(buf, len, pos, MOAT_HTTP_MAX_HEADER_BYTES - used, &eol);
        if (r == 0) return 0;
        if (r == -2) return -431;
        if (r < 0) return -400;
        if (eol == pos) { /* the empty line ending the head */
            pos += 2;
            break;
        }
        if (f->nheaders >= MOAT_HTTP_MAX_HEADERS) return -431;
        /* RFC 9112 5.2: obs-fold is rejected; 5.1: no whitespace before ':'. */
        size_t i = pos;
        while (i < eol && is_tchar((unsigned char)buf[i]))
            i++;
        if (i == pos || i == eol || buf[i] != ':') return -400;
        moat_http_header *h = &f->headers[f->nheaders++];
        h->name = buf + pos;
        h->name_len = i - pos;
        i++;
        while (i < eol && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        size_t vs = i;
        for (; i < eol; i++)
            if (!is_value_char((unsigned char)buf[i])) return -400;
        size_t ve = eol;
        while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
            ve--;
        h->value = buf + vs;
        h->value_len = ve - vs;
        pos = eol + 2;

        if (ieq(h->name, h->name_len, "content-length")) {
            int64_t v = parse_length(h->value, h->value_len);
            if (v < 0 || (cls && v != cl)) return -400;
            cl = v;
            cls++;
        } else if (ieq(h->name, h->name_len, "transfer-encoding")) {
            scan_list(h->value, h->value_len, &tk, 1);
        } else if (ieq(h->name, h->name_len, "connection")) {
            scan_list(h->value, h->value_len, &tk, 0);
        } else if (ieq(h->name, h->name_len, "host")) {
            if (hosts++ == 0 && host) {
                *host = h->value;
                *host_len = h->value_len;
            }
        }
    }

    f->content_length = cl;
    f->chunked = 0;
    if (is_request) {
        /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before. */
        if (hosts > 1 || (hosts == 0 && f->minor == 1)) return -400;
        /* A Host that is no host[:port] is 400 too: it is copied into the
         * access log, redirects, X-Forwarded-Host and Forwarded. */
        if (hosts && !moat_http_host_valid(*host, *host_len)) return -400;
        if (tk.codings) {
            /* RFC 9112 6.1 and 6.3: Transfer-Encoding with Content-Length or
             * in HTTP/1.0 is a smuggling risk; the final coding must be
             * chunked, and chunked may appear only once. */
            if (cls || f->minor == 0 || !tk.chunked_last || tk.chunked_seen > 1) return -400;
            if (tk.other) return -501;
            f->chunked = 1;
        }
    } else if (tk.codings) {
        /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length; a final
         * coding other than chunked means the body runs until close. */
        f->content_length = -1;
        f->chunked = tk.chunked_last;
        if (!tk.chunked_last || cls) tk.close = 1;
    }
    f->keep_alive = f->minor == 1 ? !tk.close : (tk.keep_alive && !tk.close);
    return (int)pos;
}

int moat_http_parse_request(const char *buf, size_t len, moat_http_request *req)
{
    size_t pos = 0;
    /* RFC 9112 2.2: ignore at least one empty line before the request. */
    for (int i = 0; i < 4 && pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n'; i++)
        pos += 2;
    size_t eol;
    int r = find_eol(buf, len, pos, MOAT_HTTP_MAX_REQUEST_LINE, &eol);
    if (r == 0) return 0;
    if (r == -2) return -414;
    if (r < 0) return -400;

    /* request-line = method SP request-target SP HTTP-version */
    size_t i = pos;
    while (i < eol && is_tchar((unsigned char)buf[i]))
        i++;
    if (i == pos || i >= eol || buf[i] != ' ') return -400;
    req->method = buf + pos;
    req->method_len = i - pos;
    size_t ts = ++i;
    while (i < eol && (unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] < 0x7f)
        i++;
    if (i == ts || i >= eol || buf[i] != ' ') return -400;
    req->target = buf + ts;
    req->target_len = i - ts;
    int minor = parse_version(buf + i + 1, eol - i - 1);
    if (minor < 0) return minor;
    req->f.minor = minor;
    req->host = NULL;
    req->host_len = 0;
    return parse_fields(buf, len, eol + 2, &req->f, 1, &req->host, &req->host_len);
}

int moat_http_parse_response(const char *buf, size_t len, moat_http_response *resp)
{
    size_t eol;
    int r = find_eol(buf, len, 0, MOAT_HTTP_MAX_REQUEST_LINE, &eol);
    if (r == 0) return 0;
    if (r < 0) return -1;
    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
    if (eol < 12 || buf[8] != ' ') return -1;
    int minor = parse_version(buf, 8);
    if (minor < 0) return -1;
    int status = 0;
    for (int k = 9; k < 12; k++) {
        if (buf[k] < '0' || buf[k] > '9') return -1;
        status = status * 10 + (buf[k] - '0');
    }
    if (status < 100) return -1;
    size_t rs = 12;
    if (eol > 12) {
        if (buf[12] != ' ') return -1;
        rs = 13;
    }
    for (size_t k = rs; k < eol; k++)
        if (!is_value_char((unsigned char)buf[k])) return -1;
    resp->status = status;
    resp->reason = buf + rs;
    resp->reason_len = eol - rs;
    resp->f.minor = minor;
    r = parse_fields(buf, len, eol + 2, &resp->f, 0, NULL, NULL);
    return r < 0 ? -1 : r;
}

const moat_http_header *moat_http_find_header(const moat_http_fields *f, const char *name)
{
    for (size_t i = 0; i < f->nheaders; i++)
        if (ieq(f->headers[i].name, f->headers[i].name_len, name)) return &f->headers[i];
    return NULL;
}
