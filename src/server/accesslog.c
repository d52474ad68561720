/* The access log's two formats, written from one entry (accesslog.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http/reader.h"
#include "moat/error.h"
#include "server/accesslog.h"

/* Appends s to b with quotes, backslashes and control bytes escaped (an
 * access log line must not be forgeable by a client). */
static void log_quoted(moat_buf *b, const char *s, size_t n)
{
    moat_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[5];
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            moat_buf_append(b, esc, 4);
        } else {
            moat_buf_append(b, (const char *)&ch, 1);
        }
    }
    moat_buf_append(b, "\"", 1);
}

static void log_quoted_or_dash(moat_buf *b, const char *s, size_t n)
{
    if (s)
        log_quoted(b, s, n);
    else
        moat_buf_append(b, "\"-\"", 3);
}

static const moat_http_header *header(const struct server_log_entry *e, const char *name)
{
    return e->req ? moat_http_find_header(&e->req->f, name) : NULL;
}

/* The TLS facts of the connection, NULL where there are none. */
static const char *tls_version(const moat_tls *t)
{
    uint16_t v = t && moat_tls_handshake_done(t) ? moat_tls_get_version(t) : 0;
    return v ? moat_tls_version_name(v) : NULL;
}

static const char *tls_suite(const moat_tls *t)
{
    uint16_t s = t && moat_tls_handshake_done(t) ? moat_tls_get_cipher(t) : 0;
    return s ? moat_tls_cipher_name(s) : NULL;
}

static const char *tls_group(const moat_tls *t)
{
    uint16_t g = t ? moat_tls_get_group(t) : 0; /* 0: no TLS, or psk_ke */
    return g ? moat_tls_group_name(g) : NULL;
}

/* Combined Log Format, then the client certificate's subject (with client
 * certificates configured), the TLS version, suite and group ("-" for
 * each without one), and pp=
 * "authority","unique-id" after a PROXY v2 header that had either. */
static void combined(moat_buf *b, const struct server_log_entry *e)
{
    char when[64], num[64];
    struct tm tm;
    gmtime_r(&e->when, &tm);
    strftime(when, sizeof when, "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
    moat_buf_append(b, e->addr, strlen(e->addr));
    moat_buf_append(b, " - - ", 5);
    moat_buf_append(b, when, strlen(when));
    moat_buf_append(b, " ", 1);
    if (e->req) {
        char line[MOAT_HTTP_MAX_REQUEST_LINE + 32];
        char proto[16];
        snprintf(proto, sizeof proto, "HTTP/1.%d", e->req->f.minor);
        int n = snprintf(line, sizeof line, "%.*s %.*s %s", (int)e->req->method_len, e->req->method,
                         (int)e->req->target_len, e->req->target, e->proto ? e->proto : proto);
        if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
        log_quoted(b, line, (size_t)n);
    } else {
        moat_buf_append(b, "\"-\"", 3);
    }
    int n = snprintf(num, sizeof num, " %d %lld ", e->status, (long long)e->bytes);
    moat_buf_append(b, num, (size_t)n);
    const moat_http_header *h = header(e, "Referer");
    log_quoted_or_dash(b, h ? h->value : NULL, h ? h->value_len : 0);
    moat_buf_append(b, " ", 1);
    h = header(e, "User-Agent");
    log_quoted_or_dash(b, h ? h->value : NULL, h ? h->value_len : 0);
    if (e->log_identity) {
        const char *id = e->tls ? moat_tls_get_peer_identity(e->tls) : NULL;
        moat_buf_append(b, " ", 1);
        log_quoted_or_dash(b, id, id ? strlen(id) : 0);
    }
    /* The version and suite, then the group (the last field, as before). */
    const char *facts[] = {tls_version(e->tls), tls_suite(e->tls), tls_group(e->tls)};
    for (int i = 0; i < 3; i++) {
        moat_buf_append(b, " ", 1);
        moat_buf_append(b, facts[i] ? facts[i] : "-", strlen(facts[i] ? facts[i] : "-"));
    }
    if (e->pp_authority || e->pp_id) {
        moat_buf_append(b, " pp=", 4);
        const char *a = e->pp_authority ? e->pp_authority : "-", *u = e->pp_id ? e->pp_id : "-";
        log_quoted(b, a, strlen(a));
        moat_buf_append(b, ",", 1);
        log_quoted(b, u, strlen(u));
    }
    moat_buf_append(b, "\n", 1);
}

/* JSON members, each after a comma but the first. */
struct obj {
    moat_buf *b;
    int n;
};

static void key(struct obj *o, const char *k)
{
    if (o->n++) moat_buf_append(o->b, ",", 1);
    http_json_string(o->b, k, strlen(k));
    moat_buf_append(o->b, ":", 1);
}

static void str(struct obj *o, const char *k, const char *v, size_t n)
{
    key(o, k);
    if (v)
        http_json_string(o->b, v, n);
    else
        moat_buf_append(o->b, "null", 4);
}

static void cstr(struct obj *o, const char *k, const char *v)
{
    str(o, k, v, v ? strlen(v) : 0);
}

static void num(struct obj *o, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void num(struct obj *o, const char *k, const char *fmt, ...)
{
    char v[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    key(o, k);
    moat_buf_append(o->b, v, n > 0 && (size_t)n < sizeof v ? (size_t)n : 0);
}

static void open_obj(struct obj *o, struct obj *in, const char *k)
{
    key(o, k);
    moat_buf_append(o->b, "{", 1);
    *in = (struct obj){o->b, 0};
}

/* One object per line, shaped as Caddy's access log is: the request (with
 * its TLS facts) in "request", the response's status, size and duration
 * at the top; absent values are null. */
static void json(moat_buf *b, const struct server_log_entry *e)
{
    struct obj top = {b, 0}, rq, tls, pp;
    const moat_http_request *r = e->req;
    moat_buf_append(b, "{", 1);
    num(&top, "ts", "%lld.%03d", (long long)e->when, e->when_ms);
    cstr(&top, "msg", "handled request");
    open_obj(&top, &rq, "request");
    cstr(&rq, "remote_ip", e->addr);
    char proto[16];
    snprintf(proto, sizeof proto, "HTTP/1.%d", r ? r->f.minor : 1);
    cstr(&rq, "proto", r ? (e->proto ? e->proto : proto) : NULL);
    str(&rq, "method", r ? r->method : NULL, r ? r->method_len : 0);
    str(&rq, "host", r ? r->host : NULL, r ? r->host_len : 0);
    str(&rq, "uri", r ? r->target : NULL, r ? r->target_len : 0);
    const moat_http_header *h = header(e, "Referer");
    str(&rq, "referer", h ? h->value : NULL, h ? h->value_len : 0);
    h = header(e, "User-Agent");
    str(&rq, "user_agent", h ? h->value : NULL, h ? h->value_len : 0);
    if (e->tls) {
        open_obj(&rq, &tls, "tls");
        cstr(&tls, "version", tls_version(e->tls));
        cstr(&tls, "cipher_suite", tls_suite(e->tls));
        cstr(&tls, "group", tls_group(e->tls));
        key(&tls, "resumed");
        moat_buf_append(b, moat_tls_resumed(e->tls) ? "true" : "false",
                        moat_tls_resumed(e->tls) ? 4 : 5);
        cstr(&tls, "server_name", moat_tls_get_sni(e->tls));
        cstr(&tls, "client_subject", moat_tls_get_peer_identity(e->tls));
        moat_buf_append(b, "}", 1);
    }
    if (e->pp_authority || e->pp_id) {
        open_obj(&rq, &pp, "proxy_protocol");
        cstr(&pp, "authority", e->pp_authority);
        cstr(&pp, "unique_id", e->pp_id);
        moat_buf_append(b, "}", 1);
    }
    moat_buf_append(b, "}", 1);
    if (e->duration_us >= 0)
        num(&top, "duration", "%lld.%06lld", (long long)(e->duration_us / 1000000),
            (long long)(e->duration_us % 1000000));
    num(&top, "size", "%lld", (long long)e->bytes);
    num(&top, "status", "%d", e->status);
    moat_buf_append(b, "}\n", 2);
}

int server_log_line(moat_buf *b, const struct server_log_entry *e, int as_json)
{
    if (as_json)
        json(b, e);
    else
        combined(b, e);
    /* An append that failed left the line without its newline. */
    return b->len && b->base[b->len - 1] == '\n' ? 0 : MOAT_ERR_NOMEM;
}
