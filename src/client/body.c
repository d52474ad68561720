/* Streamed request bodies (body.h): pieces of memory and files, read as
 * they are sent, and -F's multipart/form-data built from them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/body.h"
#include "crypto/crypto.h"

void client_body_init(struct client_body *b)
{
    memset(b, 0, sizeof *b);
    b->fd = -1;
}

void client_body_free(struct client_body *b)
{
    for (size_t i = 0; i < b->n; i++)
        moat_buf_free(&b->p[i].mem);
    if (b->fd > 0) close(b->fd);
    client_body_init(b);
}

static struct client_body_piece *piece(struct client_body *b)
{
    if (b->n == CLIENT_BODY_MAX_PIECES) return NULL;
    struct client_body_piece *p = &b->p[b->n++];
    moat_buf_init(&p->mem);
    p->path = NULL;
    p->size = 0;
    return p;
}

int client_body_add_mem(struct client_body *b, const void *data, size_t n)
{
    /* Consecutive memory pieces are one. */
    struct client_body_piece *p = b->n && !b->p[b->n - 1].path ? &b->p[b->n - 1] : piece(b);
    if (!p || moat_buf_append(&p->mem, data, n) < 0) return -1;
    p->size = p->mem.len;
    if (b->total >= 0) b->total += (int64_t)n;
    return 0;
}

int client_body_add_file(struct client_body *b, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (strcmp(path, "-") != 0) {
        if (stat(path, &st) < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "cannot read %s: not a regular file", path);
            return -1;
        }
    }
    struct client_body_piece *p = piece(b);
    if (!p) {
        snprintf(err, errlen, "too many parts");
        return -1;
    }
    p->path = path;
    if (strcmp(path, "-") == 0)
        b->total = -1;
    else {
        p->size = (uint64_t)st.st_size;
        if (b->total >= 0) b->total += (int64_t)st.st_size;
    }
    return 0;
}

int client_body_rewind(struct client_body *b)
{
    if (b->fd > 0) close(b->fd);
    b->fd = -1;
    b->cur = 0;
    b->off = 0;
    if (b->started && b->total < 0) return -1;
    return 0;
}

ssize_t client_body_read(struct client_body *b, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
    b->started = 1;
    while (b->cur < b->n) {
        struct client_body_piece *p = &b->p[b->cur];
        if (!p->path) {
            if (b->off < p->mem.len) {
                size_t k = p->mem.len - b->off < cap ? p->mem.len - (size_t)b->off : cap;
                memcpy(buf, p->mem.base + b->off, k);
                b->off += k;
                return (ssize_t)k;
            }
        } else {
            int in = strcmp(p->path, "-") == 0;
            if (b->fd < 0) {
                b->fd = in ? 0 : open(p->path, O_RDONLY | O_CLOEXEC);
                if (b->fd < 0) {
                    snprintf(err, errlen, "cannot read %s: %s", p->path, strerror(errno));
                    return -1;
                }
            }
            size_t want = cap;
            if (!in && p->size - b->off < want) want = (size_t)(p->size - b->off);
            ssize_t k = want ? read(b->fd, buf, want) : 0;
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                snprintf(err, errlen, "cannot read %s: %s", p->path, strerror(errno));
                return -1;
            }
            if (k == 0 && !in && b->off < p->size) {
                snprintf(err, errlen, "%s shrank while it was sent", p->path);
                return -1;
            }
            if (k > 0) {
                b->off += (uint64_t)k;
                return k;
            }
            if (!in) close(b->fd);
            b->fd = -1;
        }
        b->cur++;
        b->off = 0;
    }
    return 0;
}

/* ---- -F */

/* The Content-Type curl gives a file part by its name's extension. */
static const char *type_of(const char *name)
{
    static const char *const map[][2] = {
        {"gif", "image/gif"},       {"jpg", "image/jpeg"},    {"jpeg", "image/jpeg"},
        {"png", "image/png"},       {"svg", "image/svg+xml"}, {"txt", "text/plain"},
        {"htm", "text/html"},       {"html", "text/html"},    {"pdf", "application/pdf"},
        {"xml", "application/xml"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof map / sizeof *map; i++)
            if (strcasecmp(dot + 1, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

/* A quoted-string of Content-Disposition, '"' written %22 as curl 7.88
 * and browsers do (HTML's form encoding; CR and LF never get here). */
static int quoted(moat_buf *m, const char *s, size_t n)
{
    int bad = moat_buf_append(m, "\"", 1) < 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad |= s[i] == '"' ? moat_buf_append(m, "%22", 3) < 0 : moat_buf_append(m, &s[i], 1) < 0;
    return bad || moat_buf_append(m, "\"", 1) < 0 ? -1 : 0;
}

/* One spec: name, the value (or file), and its ;type= and ;filename=. */
struct form_spec {
    const char *name;
    size_t name_len;
    char value[4096]; /* the value, or the file name after @ or < */
    char type[256], filename[1024];
    int file, content; /* '@', '<' */
};

static int parse_spec(const char *s, struct form_spec *f)
{
    memset(f, 0, sizeof *f);
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return -1;
    f->name = s;
    f->name_len = (size_t)(eq - s);
    const char *v = eq + 1;
    f->file = *v == '@';
    f->content = *v == '<';
    if (f->file || f->content) v++;
    /* The value ends at ';' unless it is in double quotes (then '\' escapes
     * the next byte), as curl reads it; ";type=" and ";filename=" follow,
     * and other attributes are skipped, as curl skips them. */
    size_t vl = 0;
    if (*v == '"') {
        for (v++; *v && *v != '"'; v++) {
            if (*v == '\\' && v[1]) v++;
            if (vl + 1 >= sizeof f->value) return -1;
            f->value[vl++] = *v;
        }
        if (*v++ != '"') return -1;
    } else {
        vl = strcspn(v, ";");
        if (vl >= sizeof f->value) return -1;
        memcpy(f->value, v, vl);
        v += vl;
    }
    const char *semi = *v == ';' ? v : NULL;
    if (!semi && *v) return -1;
    while (semi) {
        const char *a = semi + 1, *next = strchr(a, ';');
        /* A type runs on over ';' up to the next attribute curl knows
         * ("text/plain;charset=utf-8"). */
        while (strncmp(a, "type=", 5) == 0 && next && strncmp(next + 1, "type=", 5) != 0 &&
               strncmp(next + 1, "filename=", 9) != 0 && strncmp(next + 1, "headers=", 8) != 0 &&
               strncmp(next + 1, "encoder=", 8) != 0)
            next = strchr(next + 1, ';');
        size_t al = next ? (size_t)(next - a) : strlen(a);
        if (al > 5 && strncmp(a, "type=", 5) == 0 && al - 5 < sizeof f->type)
            memcpy(f->type, a + 5, al - 5);
        else if (al > 9 && strncmp(a, "filename=", 9) == 0 && al - 9 < sizeof f->filename)
            memcpy(f->filename, a + 9, al - 9);
        semi = next;
    }
    if (strpbrk(f->type, "\r\n") || strpbrk(f->filename, "\r\n")) return -1;
    if ((f->file || f->content) && !f->value[0]) return -1;
    return 0;
}

int client_form_build(const char *const *specs, int n, struct client_body *b, char *ctype,
                      size_t ctlen, char *err, size_t errlen)
{
    uint8_t rnd[8]; /* 16 hex digits, as curl's */
    char boundary[64];
    if (crypto_random(rnd, sizeof rnd) < 0) {
        snprintf(err, errlen, "no randomness for the boundary");
        return -1;
    }
    int k = snprintf(boundary, sizeof boundary, "------------------------");
    for (size_t i = 0; i < sizeof rnd; i++)
        k += snprintf(boundary + k, sizeof boundary - (size_t)k, "%02x", rnd[i]);
    snprintf(ctype, ctlen, "multipart/form-data; boundary=%s", boundary);
    moat_buf m;
    moat_buf_init(&m);
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        struct form_spec f;
        if (parse_spec(specs[i], &f) < 0) {
            snprintf(err, errlen, "bad -F '%s' (want name=value, name=@file or name=<file)",
                     specs[i]);
            moat_buf_free(&m);
            return -1;
        }
        moat_buf_clear(&m);
        bad |= moat_buf_append(&m, "--", 2) < 0 ||
               moat_buf_append(&m, boundary, strlen(boundary)) ||
               moat_buf_append(&m, "\r\nContent-Disposition: form-data; name=", 39) < 0 ||
               quoted(&m, f.name, f.name_len) < 0;
        if (f.file || f.filename[0]) {
            const char *fn = f.filename[0] ? f.filename : f.value;
            const char *slash = f.filename[0] ? NULL : strrchr(fn, '/');
            if (slash) fn = slash + 1;
            bad |= moat_buf_append(&m, "; filename=", 11) < 0 || quoted(&m, fn, strlen(fn)) < 0;
        }
        /* A type from the file's name; none for stdin, as curl. */
        if (f.file && !f.type[0] && strcmp(f.value, "-") != 0)
            snprintf(f.type, sizeof f.type, "%s", type_of(f.value));
        if (f.type[0])
            bad |= moat_buf_append(&m, "\r\nContent-Type: ", 16) < 0 ||
                   moat_buf_append(&m, f.type, strlen(f.type)) < 0;
        bad |= moat_buf_append(&m, "\r\n\r\n", 4) < 0;
        if (!f.file && !f.content) bad |= moat_buf_append(&m, f.value, strlen(f.value)) < 0;
        bad |= client_body_add_mem(b, m.base, m.len) < 0;
        if (!bad && (f.file || f.content)) {
            /* The path must outlive the body: a copy the piece owns. */
            char *copy = strdup(f.value);
            if (!copy || (strcmp(copy, "-") == 0 && b->total < 0)) {
                if (copy)
                    snprintf(err, errlen, "bad -F '%s': stdin can be read once", specs[i]);
                else
                    snprintf(err, errlen, "-F: no memory");
                free(copy);
                moat_buf_free(&m);
                return -1;
            }
            moat_buf_clear(&m);
            moat_buf_append(&m, copy, strlen(copy) + 1);
            free(copy);
            if (client_body_add_file(b, (const char *)m.base, err, errlen) < 0) {
                moat_buf_free(&m);
                return -1;
            }
            /* Keep the path alive with the body: a piece that owns it. */
            b->p[b->n - 1].mem = m;
            b->p[b->n - 1].path = (const char *)m.base;
            moat_buf_init(&m);
        }
        bad |= client_body_add_mem(b, "\r\n", 2) < 0;
    }
    moat_buf_clear(&m);
    bad |= moat_buf_append(&m, "--", 2) < 0 || moat_buf_append(&m, boundary, strlen(boundary)) ||
           moat_buf_append(&m, "--\r\n", 4) < 0 || client_body_add_mem(b, m.base, m.len) < 0;
    moat_buf_free(&m);
    if (bad) snprintf(err, errlen, "-F: out of memory or too many parts");
    return bad ? -1 : 0;
}
