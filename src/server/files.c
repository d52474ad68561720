/* moat serve: static responses. Maps a request target to a file under the
 * served root, never outside it; answers conditional (ETag, dates) and
 * range requests, prefers precompressed siblings, lists directories when
 * asked, and writes the response head. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/reader.h"
#include "server/filecache.h"
#include "server/server.h"

#define MAX_RANGES 16           /* more and we send the whole file */
#define MULTIPART_MAX (1 << 20) /* multipart bodies are built in memory */
#define LISTING_MAX 10000       /* entries shown in a directory listing */

static long hsts = -1;

void server_set_hsts(long seconds)
{
    hsts = seconds;
}

long server_hsts(void)
{
    return hsts;
}

/* Extensions the built-in table lacks, from /etc/mime.types. */
static struct mime {
    char ext[16];
    char type[80];
} * mimes;
static size_t nmimes;

void server_load_mime_types(const char *path)
{
    FILE *f = fopen(path ? path : "/etc/mime.types", "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f) && nmimes < 4096) {
        if (line[0] == '#') continue;
        char *save = NULL, *type = strtok_r(line, " \t\r\n", &save), *ext;
        if (!type || strlen(type) >= sizeof mimes->type || !strchr(type, '/')) continue;
        while ((ext = strtok_r(NULL, " \t\r\n", &save)) && nmimes < 4096) {
            if (strlen(ext) >= sizeof mimes->ext) continue;
            if (nmimes % 256 == 0) {
                struct mime *m = realloc(mimes, (nmimes + 256) * sizeof *m);
                if (!m) break;
                mimes = m;
            }
            snprintf(mimes[nmimes].ext, sizeof mimes->ext, "%s", ext);
            snprintf(mimes[nmimes].type, sizeof mimes->type, "%s", type);
            nmimes++;
        }
    }
    fclose(f);
}

static const char *mime_type(const char *path)
{
    const char *t = moat_http_mime_type(path);
    if (strcmp(t, "application/octet-stream") != 0) return t;
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot || !dot[1]) return t;
    for (size_t i = 0; i < nmimes; i++)
        if (strcasecmp(dot + 1, mimes[i].ext) == 0) return mimes[i].type;
    return t;
}

/* n in decimal into out (room for 21): for the per-response numbers,
 * without snprintf's cost. Returns out. */
static const char *decimal(unsigned long long n, char out[24])
{
    char *p = out + 23;
    *p = '\0';
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    return p;
}

/* n in lowercase hex at p; returns the end. */
static char *hex(char *p, unsigned long long n)
{
    char tmp[16];
    int k = 0;
    do {
        tmp[k++] = "0123456789abcdef"[n & 15];
        n >>= 4;
    } while (n);
    while (k)
        *p++ = tmp[--k];
    return p;
}

/* A header whose value moat made itself (http_put_header: unchecked). */
static int put(moat_buf *out, const char *name, const char *value)
{
    return http_put_header(out, name, value, strlen(value));
}

static int common_headers(moat_buf *out, int status, const char *type, off_t length, int close)
{
    char date[30], num[24];
    moat_http_date(time(NULL), date);
    int r = moat_http_write_status(out, status);
    r = r ? r : put(out, "Date", date);
    r = r ? r : put(out, "Server", "moat");
    if (hsts >= 0)
        r = r ? r : moat_http_write_header(out, "Strict-Transport-Security", "max-age=%ld", hsts);
    if (type) r = r ? r : put(out, "Content-Type", type);
    if (length >= 0) r = r ? r : put(out, "Content-Length", decimal((unsigned long long)length, num));
    if (close) r = r ? r : put(out, "Connection", "close");
    return r;
}

static int end_head(moat_buf *out)
{
    return moat_buf_append(out, "\r\n", 2);
}

int server_error(moat_buf *out, int status, int head_only, int close)
{
    char body[256];
    int n = snprintf(body, sizeof body,
                     "<!doctype html>\n<title>%d %s</title>\n<h1>%d %s</h1>\n<p>moat</p>\n", status,
                     moat_http_reason(status), status, moat_http_reason(status));
    int r = common_headers(out, status, "text/html; charset=utf-8", n, close);
    /* RFC 9110 15.5.6: a 405 lists the methods the resource allows. */
    if (status == 405) r = r ? r : moat_http_write_header(out, "Allow", "GET, HEAD");
    r = r ? r : end_head(out);
    if (!head_only) r = r ? r : moat_buf_append(out, body, (size_t)n);
    return head_only ? 0 : n;
}

/* The path part of an origin-form or absolute-form target (RFC 9112 3.2),
 * before any query or fragment; NULL length when the form is not one we
 * serve. *query points at "?..." (or the end). */
static const char *target_path(const char *t, size_t n, size_t *plen, const char **query,
                               size_t *qlen)
{
    size_t i = 0;
    if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
        i = 8;
    else if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
        i = 7;
    if (i) {
        while (i < n && t[i] != '/' && t[i] != '?')
            i++;
        if (i == n || t[i] != '/') return NULL;
    } else if (n == 0 || t[0] != '/') {
        return NULL;
    }
    size_t s = i;
    while (i < n && t[i] != '?' && t[i] != '#')
        i++;
    *plen = i - s;
    *query = t + i;
    *qlen = 0;
    while (i + *qlen < n && t[i + *qlen] != '#')
        (*qlen)++;
    return t + s;
}

/* Rewrites the decoded path in place as a relative path with no empty or
 * "." segments. Returns -1 when a segment is ".." (RFC 3986 5.2.4 dot
 * segments have no business in a request to us). */
static int normalize(char *p)
{
    char *out = p, *seg = p;
    size_t o = 0;
    for (;;) {
        while (*seg == '/')
            seg++;
        if (!*seg) break;
        char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 2 && seg[0] == '.' && seg[1] == '.') return -1;
        if (!(n == 1 && seg[0] == '.')) {
            if (o) out[o++] = '/';
            memmove(out + o, seg, n);
            o += n;
        }
        seg += n;
    }
    out[o] = '\0';
    return 0;
}

/* 1 when the normalised path p names a hidden file or directory: a
 * segment starting with '.' (/.git/config, /.env, /a/.htpasswd), which
 * holds what a site's owner keeps beside it, not in it (listings leave
 * them out too). /.well-known/ stays public: RFC 8615 puts ACME
 * challenges, security.txt and the like there. */
static int hidden_path(const char *p)
{
    static const char wk[] = ".well-known";
    size_t i = 0;
    if (strncmp(p, wk, sizeof wk - 1) == 0 && (p[sizeof wk - 1] == '/' || !p[sizeof wk - 1]))
        i = sizeof wk - 1;
    for (; p[i]; i++)
        if (p[i] == '.' && (i == 0 || p[i - 1] == '/')) return 1;
    return 0;
}

static const moat_http_header *hdr(const moat_http_request *req, const char *name)
{
    return moat_http_find_header(&req->f, name);
}

/* An entity tag from size and modification time: it changes when the
 * file does (RFC 9110 8.8.3). */
static void make_etag(const struct stat *st, char out[64])
{
    /* "size-mtime-nsec" in hex (at most 16 digits each): made by hand,
     * as it is for every response. */
    char *p = out;
    *p++ = '"';
    p = hex(p, (unsigned long long)st->st_size);
    *p++ = '-';
    p = hex(p, (unsigned long long)st->st_mtim.tv_sec);
    *p++ = '-';
    p = hex(p, (unsigned long)st->st_mtim.tv_nsec);
    *p++ = '"';
    *p = '\0';
}

/* If-None-Match: "*" or a list of tags, compared weakly (RFC 9110 13.1.2). */
static int etag_listed(const moat_http_header *h, const char *etag)
{
    const char *p = h->value, *end = h->value + h->value_len;
    size_t el = strlen(etag);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p < end && *p == '*') return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *t = q;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == el && memcmp(p, etag, el) == 0) return 1;
        p = q;
    }
    return 0;
}

/* An HTTP date in a header, or -1. */
static time_t header_time(const moat_http_header *h)
{
    char v[64];
    if (!h || h->value_len >= sizeof v) return -1;
    memcpy(v, h->value, h->value_len);
    v[h->value_len] = '\0';
    struct tm tm = {0};
    const char *e = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!e || *e) return -1;
    return timegm(&tm);
}

/* Does Accept-Encoding allow coding (q above zero)? */
static int accepts(const moat_http_request *req, const char *coding)
{
    const moat_http_header *h = hdr(req, "Accept-Encoding");
    if (!h) return 0;
    const char *p = h->value, *end = h->value + h->value_len;
    size_t cl = strlen(coding);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *q = p;
        while (q < end && *q != ',' && *q != ';' && *q != ' ')
            q++;
        int match = (size_t)(q - p) == cl && strncasecmp(p, coding, cl) == 0;
        const char *next = q;
        while (next < end && *next != ',')
            next++;
        if (match) {
            const char *qv = memchr(q, '=', (size_t)(next - q));
            if (!qv) return 1;
            qv++;
            while (qv < next && (*qv == '0' || *qv == '.'))
                qv++;
            return qv < next && *qv >= '1' && *qv <= '9';
        }
        p = next;
    }
    return 0;
}

struct range {
    off_t first, last;
};

/* Parses "bytes=..." (RFC 9110 14.1.2) against a size. Returns the number
 * of satisfiable ranges, 0 when none is (416), -1 to ignore the header
 * (malformed, another unit, too many). */
static int parse_ranges(const moat_http_header *h, off_t size, struct range *r)
{
    const char *p = h->value, *end = h->value + h->value_len;
    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0) return -1;
    p += 6;
    int n = 0, specs = 0;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p >= end) break;
        if (++specs > MAX_RANGES) return -1;
        long long a = -1, b = -1;
        if (*p >= '0' && *p <= '9') {
            a = 0;
            while (p < end && *p >= '0' && *p <= '9') {
                if (a > (1LL << 50)) return -1;
                a = a * 10 + (*p++ - '0');
            }
        }
        if (p >= end || *p++ != '-') return -1;
        if (p < end && *p >= '0' && *p <= '9') {
            b = 0;
            while (p < end && *p >= '0' && *p <= '9') {
                if (b > (1LL << 50)) return -1;
                b = b * 10 + (*p++ - '0');
            }
        }
        while (p < end && *p == ' ')
            p++;
        if (p < end && *p != ',') return -1;
        if (a < 0 && b < 0) return -1;
        if (a >= 0 && b >= 0 && b < a) return -1;
        off_t first, last;
        if (a < 0) { /* suffix: the last b bytes */
            if (b == 0 || size == 0) continue;
            first = b >= size ? 0 : size - b;
            last = size - 1;
        } else {
            if (a >= size) continue;
            first = a;
            last = b < 0 || b >= size ? size - 1 : b;
        }
        r[n].first = first;
        r[n].last = last;
        n++;
    }
    return specs ? n : -1;
}

/* Appends s HTML-escaped. */
static void html_escape(moat_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '&':
            e = "&amp;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        }
        if (e)
            moat_buf_append(b, e, strlen(e));
        else
            moat_buf_append(b, s, 1);
    }
}

/* Appends s percent-encoded for a path segment. */
static void url_escape(moat_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c)) {
            moat_buf_append(b, s, 1);
        } else {
            char e[4];
            snprintf(e, sizeof e, "%%%02X", c);
            moat_buf_append(b, e, 3);
        }
    }
}

/* The same for a path: its slashes stay. */
static void url_escape_path(moat_buf *b, const char *s)
{
    for (const char *seg = s;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        char part[PATH_MAX];
        if (n >= sizeof part) n = sizeof part - 1;
        memcpy(part, seg, n);
        part[n] = '\0';
        url_escape(b, part);
        if (!slash) break;
        moat_buf_append(b, "/", 1);
        seg = slash + 1;
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory listing page (--list-dirs), names escaped for HTML and for
 * URLs, of the directory open at dfd (which it takes and closes). Returns
 * the body length or -1. */
static long listing(int dfd, const char *shown, moat_buf *body)
{
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < LISTING_MAX) {
        if (e->d_name[0] == '.') continue; /* hidden files stay hidden */
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (!nn) break;
        names = nn;
        size_t len = strlen(e->d_name);
        int isdir = e->d_type == DT_DIR;
        if ((names[n] = malloc(len + 2))) {
            memcpy(names[n], e->d_name, len);
            names[n][len] = isdir ? '/' : '\0';
            names[n][len + 1] = '\0';
            n++;
        }
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names); /* names is NULL when empty */
    moat_buf_append(body, "<!doctype html>\n<meta charset=utf-8>\n<title>Index of ", 52);
    html_escape(body, shown);
    moat_buf_append(body, "</title>\n<h1>Index of ", 22);
    html_escape(body, shown);
    moat_buf_append(body, "</h1>\n<ul>\n<li><a href=\"../\">../</a>\n", 37);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        int isdir = len && names[i][len - 1] == '/';
        if (isdir) names[i][len - 1] = '\0';
        moat_buf_append(body, "<li><a href=\"", 13);
        url_escape(body, names[i]);
        if (isdir) moat_buf_append(body, "/", 1);
        moat_buf_append(body, "\">", 2);
        html_escape(body, names[i]);
        if (isdir) moat_buf_append(body, "/", 1);
        moat_buf_append(body, "</a>\n", 5);
        free(names[i]);
    }
    free(names);
    moat_buf_append(body, "</ul>\n", 6);
    return (long)body->len;
}

/* An error page as the answer. */
static void answer_error(moat_buf *head, struct moat_resp *resp, int code, int is_head, int close)
{
    resp->status = code;
    resp->bytes = server_error(head, code, is_head, close);
}

/* 0 for GET and HEAD; RFC 9110 15.6.2: 405 for a method a static site does
 * not serve, 501 for one we do not know at all. */
static int method_status(const moat_http_request *req, int *is_head, int *is_get)
{
    *is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    *is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    if (*is_get || *is_head) return 0;
    static const char *const known[] = {"POST",  "PUT",   "DELETE", "OPTIONS",
                                        "PATCH", "TRACE", "CONNECT"};
    int k = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        k |= req->method_len == strlen(known[i]) &&
             memcmp(req->method, known[i], req->method_len) == 0;
    return k ? 405 : 501;
}

/* What a request for a file is answered from, as it is worked out. */
struct file_answer {
    const moat_http_request *req;
    moat_buf *head;
    struct moat_resp *resp;
    int is_head, is_get, close;
    const struct moat_cached *e; /* the cache entry */
    int fd;                      /* the file or its precompressed sibling */
    struct stat st;
    const uint8_t *data; /* the whole file in memory, or NULL */
    const char *coding;  /* Content-Encoding of a sibling, or NULL */
    int vary;            /* a sibling exists: Vary: Accept-Encoding */
    const char *type;
    char lm[30], etag[64];
    struct range rg[MAX_RANGES];
    int nr; /* ranges to send; -1 the whole file, 0 none satisfiable */
};

/* /dir without its slash: 301 to /dir/. Relative links in the index need
 * the trailing slash. The Location is the normalised path, re-encoded:
 * never the raw one, whose leading "//evil.example" a browser would take
 * for another host (a protocol-relative open redirect). */
static void redirect_dir(struct file_answer *a, const char *decoded, const char *query, size_t qlen)
{
    moat_buf loc;
    moat_buf_init(&loc);
    moat_buf_append(&loc, "/", 1);
    url_escape_path(&loc, decoded);
    if (decoded[0]) moat_buf_append(&loc, "/", 1);
    int r = common_headers(a->head, 301, "text/html; charset=utf-8", 0, a->close);
    r = r ? r
          : moat_http_write_header(a->head, "Location", "%.*s%.*s", (int)loc.len,
                                   loc.base ? (const char *)loc.base : "", (int)qlen, query);
    moat_buf_free(&loc);
    if (r == 0) end_head(a->head);
    if (r) {
        moat_buf_clear(a->head);
        answer_error(a->head, a->resp, 414, a->is_head, a->close);
        return;
    }
    a->resp->status = 301;
}

/* A directory: its index.html into a->e (returns 0), or its listing as
 * the answer (returns 1). rel has room for PATH_MAX. */
static int directory(const struct moat_server *s, struct file_answer *a, const char *decoded,
                     char *rel)
{
    /* The listing reads the very directory that was confined, through a
     * descriptor of its own (a dup would share the cached one's position),
     * taken before the index lookup may evict it: never the path again,
     * which a symlink could meanwhile send elsewhere. */
    int dfd = s->list_dirs ? openat(a->e->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if ((size_t)snprintf(rel, PATH_MAX, "%s%sindex.html", decoded, decoded[0] ? "/" : "") <
            PATH_MAX &&
        (a->e = server_filecache_get(s, rel)) && S_ISREG(a->e->st.st_mode)) {
        if (dfd >= 0) close(dfd);
        return 0;
    }
    if (!s->list_dirs) {
        answer_error(a->head, a->resp, 404, a->is_head, a->close);
        return 1;
    }
    moat_buf page;
    moat_buf_init(&page);
    char shown[MOAT_HTTP_MAX_REQUEST_LINE + 8];
    snprintf(shown, sizeof shown, "/%s%s", decoded, decoded[0] ? "/" : "");
    long n = listing(dfd, shown, &page);
    if (n < 0) {
        moat_buf_free(&page);
        answer_error(a->head, a->resp, 404, a->is_head, a->close);
        return 1;
    }
    common_headers(a->head, 200, "text/html; charset=utf-8", n, a->close);
    end_head(a->head);
    if (!a->is_head) moat_buf_append(a->head, page.base, page.len);
    moat_buf_free(&page);
    a->resp->status = 200;
    a->resp->bytes = a->is_head ? 0 : n;
    return 1;
}

/* A precompressed sibling, when the client takes it (.br first), and the
 * validators of what will be sent. */
static void choose_representation(struct file_answer *a)
{
    const struct moat_cached *e = a->e;
    a->fd = e->fd;
    a->st = e->st;
    a->data = e->data;
    static const char *const codings[2] = {"br", "gzip"};
    for (int i = 0; i < 2; i++) {
        if (e->sib_fd[i] < 0) continue;
        a->vary = 1;
        if (!a->coding && accepts(a->req, codings[i])) {
            a->fd = e->sib_fd[i];
            a->st = e->sib_st[i];
            a->data = NULL;
            a->coding = codings[i];
        }
    }
    moat_http_date(a->st.st_mtime, a->lm);
    make_etag(&a->st, a->etag);
}

/* Conditionals, RFC 9110 13.2.2: If-None-Match, else If-Modified-Since.
 * Returns 1 when the answer is 304. */
static int not_modified(struct file_answer *a)
{
    const moat_http_header *inm = hdr(a->req, "If-None-Match");
    time_t ims = inm ? -1 : header_time(hdr(a->req, "If-Modified-Since"));
    if (!((inm && etag_listed(inm, a->etag)) || (ims >= 0 && a->st.st_mtime <= ims))) return 0;
    int r = common_headers(a->head, 304, NULL, -1, a->close);
    r = r ? r : moat_http_write_header(a->head, "ETag", "%s", a->etag);
    r = r ? r : moat_http_write_header(a->head, "Last-Modified", "%s", a->lm);
    if (a->vary) r = r ? r : moat_http_write_header(a->head, "Vary", "Accept-Encoding");
    if (r == 0) end_head(a->head);
    a->resp->status = 304;
    return 1;
}

/* Range, unless If-Range names another version (RFC 9110 13.1.5): sets
 * a->nr. Returns 1 when the answer is 416 (none satisfiable). */
static int ranges(struct file_answer *a)
{
    a->nr = -1;
    const moat_http_header *rh = a->is_get ? hdr(a->req, "Range") : NULL;
    if (rh) {
        const moat_http_header *ir = hdr(a->req, "If-Range");
        int current = 1;
        if (ir) {
            if (ir->value_len && ir->value[0] == '"')
                current = ir->value_len == strlen(a->etag) &&
                          memcmp(ir->value, a->etag, ir->value_len) == 0;
            else
                current = header_time(ir) == a->st.st_mtime;
        }
        if (current) a->nr = parse_ranges(rh, a->st.st_size, a->rg);
    }
    if (a->nr != 0) return 0;
    int r = common_headers(a->head, 416, "text/plain; charset=utf-8", 0, a->close);
    r = r ? r
          : moat_http_write_header(a->head, "Content-Range", "bytes */%lld",
                                   (long long)a->st.st_size);
    if (r == 0) end_head(a->head);
    a->resp->status = 416;
    return 1;
}

/* multipart/byteranges (RFC 9110 14.6), built in memory into mp. Returns
 * 0, or -1 when the file could not be read. */
static int multipart(struct file_answer *a, const char *boundary, moat_buf *mp)
{
    for (int i = 0; i < a->nr && !a->is_head; i++) {
        char part[256];
        int n = snprintf(
            part, sizeof part,
            "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n", boundary,
            a->type, (long long)a->rg[i].first, (long long)a->rg[i].last, (long long)a->st.st_size);
        moat_buf_append(mp, part, (size_t)n);
        size_t want = (size_t)(a->rg[i].last - a->rg[i].first + 1);
        if (moat_buf_reserve(mp, want) < 0 ||
            pread(a->fd, mp->base + mp->len, want, a->rg[i].first) != (ssize_t)want)
            return -1;
        mp->len += want;
    }
    if (!a->is_head) {
        char endb[64];
        int n = snprintf(endb, sizeof endb, "\r\n--%s--\r\n", boundary);
        moat_buf_append(mp, endb, (size_t)n);
    }
    return 0;
}

/* The head of a 200 or 206. Returns 0 or an error of the writers. */
static int file_head(struct file_answer *a, int status, const char *ctype, off_t length)
{
    moat_buf *head = a->head;
    int r = common_headers(head, status, ctype, length, a->close);
    r = r ? r : put(head, "Last-Modified", a->lm);
    r = r ? r : put(head, "ETag", a->etag);
    r = r ? r : put(head, "Accept-Ranges", "bytes");
    if (a->coding) r = r ? r : put(head, "Content-Encoding", a->coding);
    if (a->vary) r = r ? r : put(head, "Vary", "Accept-Encoding");
    if (a->nr == 1)
        r = r ? r
              : moat_http_write_header(head, "Content-Range", "bytes %lld-%lld/%lld",
                                       (long long)a->rg[0].first, (long long)a->rg[0].last,
                                       (long long)a->st.st_size);
    return r ? r : end_head(head);
}

/* Several ranges as one multipart/byteranges 206. */
static void send_multipart(struct file_answer *a)
{
    char boundary[40], ctype[160];
    snprintf(boundary, sizeof boundary, "moat-%08lx%08lx", (unsigned long)random(),
             (unsigned long)random());
    moat_buf mp;
    moat_buf_init(&mp);
    if (multipart(a, boundary, &mp) < 0) {
        moat_buf_free(&mp);
        answer_error(a->head, a->resp, 500, a->is_head, a->close);
        return;
    }
    snprintf(ctype, sizeof ctype, "multipart/byteranges; boundary=%s", boundary);
    file_head(a, 206, ctype, a->is_head ? -1 : (off_t)mp.len);
    a->resp->status = 206;
    if (!a->is_head) moat_buf_append(a->head, mp.base, mp.len);
    a->resp->bytes = a->is_head ? 0 : (off_t)mp.len;
    moat_buf_free(&mp);
}

/* The whole file (200) or one range of it (206): the head, then the bytes
 * from memory after it, or the file in *body. */
static void send_file(struct file_answer *a, struct moat_body *body)
{
    off_t length = a->st.st_size;
    if (a->nr == 1) length = a->rg[0].last - a->rg[0].first + 1;
    int r = file_head(a, a->nr == 1 ? 206 : 200, a->type, length);
    a->resp->status = a->nr == 1 ? 206 : 200;
    if (r || a->is_head || length == 0) return;
    if (a->nr < 0 && a->data) {
        /* A small file from memory: head and body leave in one record. */
        if (moat_buf_append(a->head, a->data, (size_t)length) < 0) {
            moat_buf_clear(a->head);
            answer_error(a->head, a->resp, 500, a->is_head, a->close);
            return;
        }
        a->resp->bytes = length;
        return;
    }
    body->fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
    if (body->fd < 0) { /* out of descriptors */
        moat_buf_clear(a->head);
        answer_error(a->head, a->resp, 503, a->is_head, a->close);
        return;
    }
    body->off = a->nr == 1 ? a->rg[0].first : 0;
    body->left = length;
    a->resp->bytes = length;
}

void server_static(const struct moat_server *s, const moat_http_request *req, moat_buf *head,
                   struct moat_body *body, int *close_conn, struct moat_resp *resp)
{
    body->fd = -1;
    body->off = body->left = 0;
    resp->bytes = 0;
    struct file_answer a = {.req = req, .head = head, .resp = resp, .close = *close_conn};
    int bad = method_status(req, &a.is_head, &a.is_get);
    if (bad) {
        answer_error(head, resp, bad, a.is_head, a.close);
        return;
    }

    size_t plen, qlen;
    const char *query;
    const char *raw = target_path(req->target, req->target_len, &plen, &query, &qlen);
    char decoded[MOAT_HTTP_MAX_REQUEST_LINE + 1];
    int status = 0;
    if (!raw || moat_http_percent_decode(raw, plen, decoded) < 0 || normalize(decoded) < 0)
        status = 400;
    else if (!s->serve_dotfiles && hidden_path(decoded))
        status = 404;
    if (status) {
        answer_error(head, resp, status, a.is_head, a.close);
        return;
    }
    int want_dir = plen > 0 && raw[plen - 1] == '/';

    /* rel: the file's path under the root, as the cache knows it. */
    char rel[PATH_MAX];
    /* Borrowed from the worker's cache (filecache.h): nothing here closes
     * its descriptors; a body that outlives this call gets a dup. */
    size_t dl = strlen(decoded);
    if (dl < sizeof rel) memcpy(rel, decoded, dl + 1);
    if (dl >= sizeof rel || !(a.e = server_filecache_get(s, rel))) {
        answer_error(head, resp, 404, a.is_head, a.close);
        return;
    }
    if (S_ISDIR(a.e->st.st_mode) && !want_dir) {
        redirect_dir(&a, decoded, query, qlen);
        return;
    }
    if (S_ISDIR(a.e->st.st_mode) && directory(s, &a, decoded, rel)) return;
    a.type = mime_type(rel);
    choose_representation(&a);
    if (not_modified(&a) || ranges(&a)) return;
    off_t total = 0;
    for (int i = 0; i < a.nr; i++)
        total += a.rg[i].last - a.rg[i].first + 1;
    if (a.nr > 1 && total > MULTIPART_MAX) a.nr = -1; /* too big to build: the whole file */
    if (a.nr > 1)
        send_multipart(&a);
    else
        send_file(&a, body);
}
