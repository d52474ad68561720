/* curl's everyday flags in a transfer of moat get (body.h): -A, -e, -u,
 * -b/-c, --json, -F, -T, -C, -D, --max-filesize. fetch.c calls these at
 * the start, for each request's head, each response head, and the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "client/body.h"
#include "client/client.h"
#include "core/exit.h"
#include "moat/http.h"

/* -H names this header (then the flag's value is not sent). */
static int given(const struct moat_get_opts *o, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < o->nheaders; i++)
        if (strncasecmp(o->headers[i], name, n) == 0 && o->headers[i][n] == ':') return 1;
    return 0;
}

static int header(moat_buf *b, const char *name, const char *v, size_t vn)
{
    return moat_buf_append(b, name, strlen(name)) < 0 || moat_buf_append(b, ": ", 2) < 0 ||
                   moat_buf_append(b, v, vn) < 0 || moat_buf_append(b, "\r\n", 2) < 0
               ? -1
               : 0;
}

int client_extra_start(struct moat_get_opts *o, struct client_extra *e)
{
    char err[600];
    memset(e, 0, sizeof *e);
    client_body_init(&e->body);
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < o->ncookie_in; i++) {
        e->jar_on = 1;
        if (strchr(o->cookie_in[i], '=')) continue; /* a literal: sent as it is */
        if (client_jar_load(&e->jar, o->cookie_in[i], now, err, sizeof err) < 0) {
            fprintf(stderr, "moat: %s\n", err);
            return GET_EXIT_READ_ERROR;
        }
    }
    if (o->cookie_jar) e->jar_on = 1;
    if (o->dump_header) {
        e->dump = strcmp(o->dump_header, "-") == 0 ? stdout : fopen(o->dump_header, "wb");
        if (!e->dump) {
            fprintf(stderr, "moat: cannot write %s: %s\n", o->dump_header, strerror(errno));
            return GET_EXIT_WRITE_ERROR;
        }
    }
    if (o->resume) {
        struct stat st;
        if (o->continue_at >= 0)
            e->offset = (uint64_t)o->continue_at;
        else if (o->output && stat(o->output, &st) == 0 && S_ISREG(st.st_mode))
            e->offset = (uint64_t)st.st_size;
    }
    if (o->upload) {
        e->has_body = 1;
        if (client_body_add_file(&e->body, o->upload, err, sizeof err) < 0) {
            fprintf(stderr, "moat: %s\n", err);
            return GET_EXIT_READ_ERROR;
        }
    } else if (o->nforms) {
        e->has_body = 1;
        if (client_form_build(o->forms, o->nforms, &e->body, e->ctype, sizeof e->ctype, err,
                              sizeof err) < 0) {
            int usage = strncmp(err, "bad -F", 6) == 0;
            fprintf(stderr, "moat%s: %s\n", usage ? " get" : "", err);
            return usage ? GET_EXIT_USAGE : GET_EXIT_READ_ERROR;
        }
    }
    return 0;
}

int client_extra_headers(const struct moat_get_opts *o, struct client_extra *e,
                         const struct moat_url *u, int cross_origin, int with_body, moat_buf *req)
{
    int bad = 0;
    char v[1200];
    /* -A "" sends none, as curl. */
    if (!given(o, "User-Agent") && !(o->user_agent && !o->user_agent[0]))
        bad |= header(req, "User-Agent", o->user_agent ? o->user_agent : "moat/0.1",
                      strlen(o->user_agent ? o->user_agent : "moat/0.1"));
    if (!given(o, "Accept"))
        bad |=
            header(req, "Accept", o->data_json ? "application/json" : "*/*", o->data_json ? 16 : 3);
    const char *ref = o->referer_auto && e->prev_url[0] ? e->prev_url : o->referer;
    if (ref && !given(o, "Referer")) bad |= header(req, "Referer", ref, strlen(ref));
    /* -u: Basic credentials to the first origin only, as curl without
     * --location-trusted; moat get speaks https only, so never in clear. */
    if (o->userpwd && !cross_origin && !given(o, "Authorization")) {
        moat_buf b;
        moat_buf_init(&b);
        bad |= moat_http_sf_binary(&b, (const uint8_t *)o->userpwd, strlen(o->userpwd)) < 0;
        if (!bad && b.len >= 2) {
            int n = snprintf(v, sizeof v, "Basic %.*s", (int)(b.len - 2), b.base + 1);
            bad |= n < 0 || (size_t)n >= sizeof v || header(req, "Authorization", v, (size_t)n);
        }
        moat_buf_free(&b);
    }
    if (e->jar_on && !given(o, "Cookie")) {
        moat_buf c;
        moat_buf_init(&c);
        client_jar_header(&e->jar, u->host, u->path, (int64_t)time(NULL), &c);
        for (int i = 0; i < o->ncookie_in && !cross_origin; i++)
            if (strchr(o->cookie_in[i], '='))
                bad |= (c.len && moat_buf_append(&c, "; ", 2) < 0) ||
                       moat_buf_append(&c, o->cookie_in[i], strlen(o->cookie_in[i])) < 0;
        if (c.len) bad |= header(req, "Cookie", (const char *)c.base, c.len);
        moat_buf_free(&c);
    }
    if (e->offset && !given(o, "Range")) {
        int n = snprintf(v, sizeof v, "bytes=%llu-", (unsigned long long)e->offset);
        bad |= header(req, "Range", v, (size_t)n);
    }
    if (with_body && o->data_json && !given(o, "Content-Type"))
        bad |= header(req, "Content-Type", "application/json", 16);
    if (with_body && e->has_body) {
        if (e->ctype[0] && !given(o, "Content-Type"))
            bad |= header(req, "Content-Type", e->ctype, strlen(e->ctype));
        if (e->body.total >= 0) {
            int n = snprintf(v, sizeof v, "%lld", (long long)e->body.total);
            bad |= header(req, "Content-Length", v, (size_t)n);
        } else {
            bad |= header(req, "Transfer-Encoding", "chunked", 7);
        }
    }
    return bad ? -1 : 0;
}

/* The first value of a header field, or NULL. */
static const moat_http_header *field(const moat_http_response *r, const char *name, size_t *from)
{
    for (size_t i = *from; i < r->f.nheaders; i++)
        if (strlen(name) == r->f.headers[i].name_len &&
            strncasecmp(r->f.headers[i].name, name, r->f.headers[i].name_len) == 0) {
            *from = i + 1;
            return &r->f.headers[i];
        }
    return NULL;
}

int client_extra_head(const struct moat_get_opts *o, struct client_extra *e,
                      const struct moat_url *u, const void *resp_, const uint8_t *head, size_t hl,
                      int out)
{
    const moat_http_response *resp = resp_;
    if (e->dump && (fwrite(head, 1, hl, e->dump) != hl || fflush(e->dump) != 0)) {
        fprintf(stderr, "moat: cannot write the head to %s\n", o->dump_header);
        return GET_EXIT_WRITE_ERROR;
    }
    if (e->jar_on && resp->status >= 200) {
        size_t from = 0;
        const moat_http_header *h;
        while ((h = field(resp, "Set-Cookie", &from)))
            client_jar_set(&e->jar, u->host, u->path, h->value, h->value_len, (int64_t)time(NULL));
    }
    if (!out || resp->status < 200) return 0;
    /* 416 to a resume: the file is whole already; curl ends with success
     * and leaves the file as it is. */
    e->skip_body = e->offset && resp->status == 416;
    if (e->offset && resp->status >= 200 && resp->status < 300) {
        /* Resuming needs a 206 that starts where the file ends, as curl
         * checks (else exit 33, and the file is left alone). */
        size_t from = 0;
        const moat_http_header *cr =
            resp->status == 206 ? field(resp, "Content-Range", &from) : NULL;
        char want[64];
        int n = snprintf(want, sizeof want, "bytes %llu-", (unsigned long long)e->offset);
        if (!cr || cr->value_len < (size_t)n || memcmp(cr->value, want, (size_t)n) != 0) {
            fprintf(stderr,
                    "moat: the server does not seem to support byte ranges: cannot resume at "
                    "byte %llu\n",
                    (unsigned long long)e->offset);
            return GET_EXIT_RANGE_ERROR;
        }
    }
    if (o->max_filesize && resp->f.content_length > o->max_filesize) {
        fprintf(stderr, "moat: the file is %lld bytes, over --max-filesize %lld\n",
                (long long)resp->f.content_length, (long long)o->max_filesize);
        return GET_EXIT_FILESIZE_EXCEEDED;
    }
    return 0;
}

int client_extra_size(const struct moat_get_opts *o, uint64_t total)
{
    if (o->max_filesize && total > (uint64_t)o->max_filesize) {
        fprintf(stderr, "moat: the body went over --max-filesize %lld bytes\n",
                (long long)o->max_filesize);
        return GET_EXIT_FILESIZE_EXCEEDED;
    }
    return 0;
}

int client_extra_finish(const struct moat_get_opts *o, struct client_extra *e, int status)
{
    if (o->cookie_jar && client_jar_save(&e->jar, o->cookie_jar, (int64_t)time(NULL)) < 0) {
        fprintf(stderr, "moat: cannot write the cookie jar %s: %s\n", o->cookie_jar,
                strerror(errno));
        if (!status) status = GET_EXIT_WRITE_ERROR;
    }
    if (e->dump && e->dump != stdout) fclose(e->dump);
    e->dump = NULL;
    client_jar_free(&e->jar);
    client_body_free(&e->body);
    return status;
}
