/* moat serve: static responses. Maps a request target to a file under the
 * served root, never outside it, and writes the response head. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"

static int common_headers(moat_buf *out, int status, const char *type, off_t length, int close)
{
    char date[30];
    moat_http_date(time(NULL), date);
    int r = moat_http_write_status(out, status);
    r = r ? r : moat_http_write_header(out, "Date", "%s", date);
    r = r ? r : moat_http_write_header(out, "Server", "moat");
    if (type) r = r ? r : moat_http_write_header(out, "Content-Type", "%s", type);
    r = r ? r : moat_http_write_header(out, "Content-Length", "%lld", (long long)length);
    if (close) r = r ? r : moat_http_write_header(out, "Connection", "close");
    return r;
}

static int end_head(moat_buf *out)
{
    return moat_buf_append(out, "\r\n", 2);
}

int moat_server_error(moat_buf *out, int status, int head_only, int close)
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
    return r;
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

/* Resolves path and checks that it is the root or below it. */
static int confined(const struct moat_server *s, const char *path, char *real)
{
    if (!realpath(path, real)) return 0;
    return strncmp(real, s->root, s->root_len) == 0 &&
           (real[s->root_len] == '\0' || real[s->root_len] == '/' ||
            (s->root_len == 1 && s->root[0] == '/'));
}

/* Opens a regular file or directory without blocking (a FIFO would). */
static int open_node(const char *real, struct stat *st)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    if (fstat(fd, st) < 0 || !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
        close(fd);
        return -1;
    }
    return fd;
}

int moat_server_static(const struct moat_server *s, const moat_http_request *req, moat_buf *head,
                       struct moat_body *body, int *close_conn)
{
    body->fd = -1;
    body->off = body->left = 0;
    int is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    int is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    if (!is_get && !is_head) {
        moat_server_error(head, 405, 0, *close_conn);
        return 405;
    }

    size_t plen, qlen;
    const char *query;
    const char *raw = target_path(req->target, req->target_len, &plen, &query, &qlen);
    char decoded[MOAT_HTTP_MAX_REQUEST_LINE + 1];
    if (!raw || moat_http_percent_decode(raw, plen, decoded) < 0 || normalize(decoded) < 0) {
        moat_server_error(head, 400, is_head, *close_conn);
        return 400;
    }
    int want_dir = plen > 0 && raw[plen - 1] == '/';

    char path[PATH_MAX], real[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", s->root, decoded) >= sizeof path ||
        !confined(s, path, real)) {
        moat_server_error(head, 404, is_head, *close_conn);
        return 404;
    }
    struct stat st;
    int fd = open_node(real, &st);
    if (fd < 0) {
        moat_server_error(head, 404, is_head, *close_conn);
        return 404;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        if (!want_dir) {
            /* Relative links in the index need the trailing slash. */
            int r = common_headers(head, 301, "text/html; charset=utf-8", 0, *close_conn);
            r = r ? r
                  : moat_http_write_header(head, "Location", "%.*s/%.*s", (int)plen, raw, (int)qlen,
                                           query);
            if (r == 0) end_head(head);
            return 301;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/index.html", real) >= sizeof path ||
            !confined(s, path, real) || (fd = open_node(real, &st)) < 0 || !S_ISREG(st.st_mode)) {
            if (fd >= 0) close(fd);
            moat_server_error(head, 404, is_head, *close_conn);
            return 404;
        }
    }

    char lm[30];
    moat_http_date(st.st_mtime, lm);
    int r = common_headers(head, 200, moat_http_mime_type(real), st.st_size, *close_conn);
    r = r ? r : moat_http_write_header(head, "Last-Modified", "%s", lm);
    r = r ? r : end_head(head);
    if (r || is_head || st.st_size == 0) {
        close(fd);
        return 200;
    }
    body->fd = fd;
    body->left = st.st_size;
    return 200;
}
