/* HTTP helpers shared by server and client: percent-decoding, reason
 * phrases, dates, media types and writing a message head. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "moat/error.h"
#include "http/reader.h"
#include "moat/http.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long moat_http_percent_decode(const char *src, size_t srclen, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < srclen; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= srclen) return -1;
            int h = hexval(src[i + 1]), l = hexval(src[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0') return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}

/* A "." or ".." segment, also spelt %2e (RFC 3986 2.3 makes them the
 * same): RFC 3986 5.2.4 removes it, so it names a path elsewhere. */
static int dot_segment(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n; dots++) {
        if (s[i] == '.')
            i++;
        else if (s[i] == '%' && i + 2 < n && s[i + 1] == '2' && (s[i + 2] | 0x20) == 'e')
            i += 3;
        else
            return 0;
    }
    return dots == 1 || dots == 2;
}

/* An escape a backend would decode into a separator (%2F, and %5C which
 * Windows and some frameworks take for one), a ';' (%3B: one that decodes
 * before it strips path parameters reads "..%3B" as "..") or a NUL that C
 * code there would end the path at. */
static int risky_escape(const char *s, size_t n)
{
    if (n < 3 || s[0] != '%') return 0;
    char hi = s[1], lo = (char)(s[2] | 0x20);
    return (hi == '2' && lo == 'f') || (hi == '5' && lo == 'c') || (hi == '3' && lo == 'b') ||
           (hi == '0' && lo == '0');
}

int moat_http_path_escapes(const char *path, size_t n, int strict)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i + (path[i] == '/'), e = s;
        while (e < n && path[e] != '/')
            e++;
        if (dot_segment(path + s, e - s)) return 1;
        if (strict) {
            /* "//": a backend that strips its mount point and joins the
             * rest onto a directory gets an absolute path. */
            if (path[i] == '/' && e == s && e < n) return 1;
            for (size_t k = s; k < e; k++)
                if (path[k] == '\\' || path[k] == ';' || risky_escape(path + k, e - k)) return 1;
        }
        i = e;
    }
    return 0;
}

int moat_http_sf_binary(moat_buf *out, const uint8_t *p, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int r = moat_buf_reserve(out, (n + 2) / 3 * 4 + 2);
    if (r) return r;
    char *o = (char *)out->base + out->len;
    size_t k = 0;
    o[k++] = ':';
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        o[k++] = b64[v >> 18 & 63];
        o[k++] = b64[v >> 12 & 63];
        o[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? b64[v & 63] : '=';
    }
    o[k++] = ':';
    out->len += k;
    return 0;
}

const char *moat_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void moat_http_date(time_t t, char out[30])
{
    /* Every response of a second carries the same Date, and a file's
     * Last-Modified is asked for again with every request for it: the
     * last few made are kept (replaced in turn), so the current second
     * and the files in use are formatted once. */
    enum { KEPT = 4 };
    static _Thread_local time_t kept_t[KEPT] = {-1, -1, -1, -1};
    static _Thread_local char kept[KEPT][30];
    static _Thread_local unsigned next;
    for (int i = 0; i < KEPT; i++) {
        if (kept_t[i] == t) {
            memcpy(out, kept[i], 30);
            return;
        }
    }
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
    unsigned i = next++ % KEPT;
    memcpy(kept[i], out, 30);
    kept_t[i] = t;
}

static const struct {
    const char *ext;
    const char *type;
} mime_table[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"pem", "application/x-pem-file"},
};

const char *moat_http_mime_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot && dot[1]) {
        for (size_t i = 0; i < sizeof mime_table / sizeof mime_table[0]; i++)
            if (strcasecmp(dot + 1, mime_table[i].ext) == 0) return mime_table[i].type;
    }
    return "application/octet-stream";
}

int moat_http_write_status(moat_buf *out, int status)
{
    const char *reason = moat_http_reason(status);
    if (status < 100 || status > 999) {
        char line[128];
        int n = snprintf(line, sizeof line, "HTTP/1.1 %03d %s\r\n", status, reason);
        return moat_buf_append(out, line, (size_t)n);
    }
    /* Made by hand: once per response, where snprintf costs more than
     * the rest of the line. */
    size_t rl = strlen(reason);
    int r = moat_buf_reserve(out, 13 + rl + 2);
    if (r) return r;
    char *p = (char *)out->base + out->len;
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + status / 100);
    p[10] = (char)('0' + status / 10 % 10);
    p[11] = (char)('0' + status % 10);
    p[12] = ' ';
    memcpy(p + 13, reason, rl);
    memcpy(p + 13 + rl, "\r\n", 2);
    out->len += 13 + rl + 2;
    return 0;
}

int moat_http_write_header(moat_buf *out, const char *name, const char *fmt, ...)
{
    char buf[2048];
    const char *value = buf;
    int n;
    va_list ap;
    va_start(ap, fmt);
    if (fmt[0] == '%' && fmt[1] == 's' && !fmt[2]) {
        /* The common case, a string as it is: no formatting. */
        value = va_arg(ap, const char *);
        size_t l = strlen(value);
        n = l < sizeof buf ? (int)l : -1;
    } else if (!strchr(fmt, '%')) {
        value = fmt;
        n = (int)strlen(fmt);
    } else {
        n = vsnprintf(buf, sizeof buf, fmt, ap);
    }
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return MOAT_ERR_ARG;
    /* A CR or LF in a value would let it smuggle a header of its own. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return MOAT_ERR_ARG;
    return http_put_header(out, name, value, (size_t)n);
}

int http_put_header(moat_buf *out, const char *name, const char *value, size_t vlen)
{
    size_t nl = strlen(name);
    int r = moat_buf_reserve(out, nl + vlen + 4);
    if (r) return r;
    uint8_t *p = out->base + out->len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vlen);
    memcpy(p + nl + 2 + vlen, "\r\n", 2);
    out->len += nl + vlen + 4;
    return 0;
}

int http_list_next(const char *v, size_t n, size_t *pos, size_t *start, size_t *end)
{
    size_t i = *pos;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s) {
            *pos = i, *start = s, *end = e;
            return 1;
        }
    }
    *pos = i;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
    if (c == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
    return len;
}

int http_json_string(moat_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    int r = moat_buf_append(out, "\"", 1);
    for (size_t i = 0; i < n && !r;) {
        unsigned char c = p[i];
        char esc[8];
        size_t u = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        if (u) {
            r = moat_buf_append(out, p + i, u);
            i += u;
            continue;
        }
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            r = moat_buf_append(out, esc, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            r = moat_buf_append(out, esc, 6);
        } else {
            r = moat_buf_append(out, &c, 1);
        }
        i++;
    }
    return r ? r : moat_buf_append(out, "\"", 1);
}
