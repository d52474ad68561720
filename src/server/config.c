/* moat serve: settings by name, from a flag or a config line, and the
 * config file parser (bytes in, settings and a file:line message out). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/exit.h"
#include "core/file.h"
#include "server/config.h"
#include "server/proxy.h"

void server_opts_init(struct moat_serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = -1;
    o->hsts = -1;
    o->handshake_timeout = 10;
    o->header_timeout = 20;
    o->idle_timeout = 60;
    o->stop_timeout = 10;
    o->max_header = MOAT_HTTP_MAX_HEADER_BYTES;
    o->max_body = 1 << 20;
    o->http2 = 1;
    o->h2_max_streams = 128;
    o->h2_stream_window = 256 * 1024;
    o->h2_conn_window = 1024 * 1024;
    o->h2_max_resets = 100;
    o->proxy = server_proxy_set_new(1); /* NULL: refused at the first setting */
}

void server_opts_free(struct moat_serve_opts *o)
{
    for (size_t i = 0; i < o->nkept; i++)
        free(o->kept[i]);
    free(o->kept);
    o->kept = NULL;
    o->nkept = 0;
    server_proxy_set_free(o->proxy);
    o->proxy = NULL;
}

static int say(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s%s%s", where ? where : "", where ? ": " : "", msg);
    return MOAT_EXIT_USAGE;
}

/* A copy of s that lives as long as o's settings; NULL when out of memory. */
static const char *keep(struct moat_serve_opts *o, const char *s)
{
    if (o->nkept % 64 == 0) {
        char **k = realloc(o->kept, (o->nkept + 64) * sizeof *k);
        if (!k) return NULL;
        o->kept = k;
    }
    char *d = strdup(s);
    if (d) o->kept[o->nkept++] = d;
    return d;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

/* --proxy-protocol https|redirect|https,redirect and --proxy-protocol-from
 * CIDR (repeatable). */
static int server_pp_option(struct moat_serve_opts *o, const char *name, const char *v,
                            const char *where, char *err, size_t errlen)
{
    if (strcmp(name, "proxy-protocol-from") == 0) {
        if (pp_allow_add(&o->pp_from, v) < 0)
            return say(err, errlen, where,
                       "proxy-protocol-from wants an address or a CIDR range such as 10.0.0.0/8 "
                       "(no bits set past the prefix, at most %d), not '%.600s'",
                       PP_ALLOW_MAX, v);
        return 0;
    }
    int which = 0;
    const char *p = v;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 5 && strncmp(p, "https", 5) == 0)
            which |= SERVER_PP_HTTPS;
        else if (n == 8 && strncmp(p, "redirect", 8) == 0)
            which |= SERVER_PP_REDIRECT;
        else
            return say(err, errlen, where,
                       "proxy-protocol takes https, redirect or https,redirect, not '%.600s'", v);
        p += n;
        if (*p) p++;
    }
    if (!which)
        return say(err, errlen, where,
                   "proxy-protocol takes https, redirect or https,redirect, not '%.600s'", v);
    o->proxy_protocol = which;
    return 0;
}

int server_config_set(struct moat_serve_opts *o, const char *name, const char *v, const char *where,
                      char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
        long lo, hi;
    } nums[] = {
        {"workers", offsetof(struct moat_serve_opts, workers), 1, MOAT_SERVE_MAX_WORKERS},
        {"max-conns", offsetof(struct moat_serve_opts, max_conns), 1, 10000000},
        {"hsts", offsetof(struct moat_serve_opts, hsts), 0, 100000000},
        {"handshake-timeout", offsetof(struct moat_serve_opts, handshake_timeout), 1, 86400},
        {"header-timeout", offsetof(struct moat_serve_opts, header_timeout), 1, 86400},
        {"idle-timeout", offsetof(struct moat_serve_opts, idle_timeout), 1, 86400},
        {"stop-timeout", offsetof(struct moat_serve_opts, stop_timeout), 0, 86400},
        {"max-header-size", offsetof(struct moat_serve_opts, max_header), 256,
         MOAT_HTTP_MAX_HEADER_BYTES},
        {"max-body-size", offsetof(struct moat_serve_opts, max_body), 0, 1L << 40},
        {"ticket-lifetime", offsetof(struct moat_serve_opts, ticket_lifetime), 1, 604800},
        {"http2-max-streams", offsetof(struct moat_serve_opts, h2_max_streams), 1, 10000},
        /* RFC 9113 6.5.2 and 6.9.1: windows from 64 KiB - 1 to 2^31 - 1 */
        {"http2-stream-window", offsetof(struct moat_serve_opts, h2_stream_window), 65535,
         2147483647},
        {"http2-conn-window", offsetof(struct moat_serve_opts, h2_conn_window), 65535, 2147483647},
        {"http2-max-resets", offsetof(struct moat_serve_opts, h2_max_resets), 1, 1000000},
    };
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
        {"listen", offsetof(struct moat_serve_opts, listen)},
        {"ciphers", offsetof(struct moat_serve_opts, ciphers)},
        {"groups", offsetof(struct moat_serve_opts, groups)},
        {"ticket-keys", offsetof(struct moat_serve_opts, ticket_keys)},
        {"client-ca", offsetof(struct moat_serve_opts, client_ca)},
        {"client-auth", offsetof(struct moat_serve_opts, client_auth)},
        {"redirect-http", offsetof(struct moat_serve_opts, redirect_http)},
        {"access-log", offsetof(struct moat_serve_opts, access_log)},
        {"error-log", offsetof(struct moat_serve_opts, error_log)},
        {"pid-file", offsetof(struct moat_serve_opts, pid_file)},
        {"user", offsetof(struct moat_serve_opts, user)},
        {"dir", offsetof(struct moat_serve_opts, dir)},
        {"metrics", offsetof(struct moat_serve_opts, metrics)},
        {"acme-email", offsetof(struct moat_serve_opts, acme_email)},
        {"acme-ca-root", offsetof(struct moat_serve_opts, acme_ca_root)},
        {"acme-dir", offsetof(struct moat_serve_opts, acme_dir)},
        {"acme-challenge", offsetof(struct moat_serve_opts, acme_challenge)},
        {"acme-key-type", offsetof(struct moat_serve_opts, acme_key_type)},
        {"acme-renew-before", offsetof(struct moat_serve_opts, acme_renew_before)},
    };
    if (strcmp(name, "list-dirs") == 0 || strcmp(name, "psk-ke") == 0 ||
        strcmp(name, "serve-dotfiles") == 0 || strcmp(name, "acme-agree-tos") == 0 ||
        strcmp(name, "http2") == 0) {
        int *flag = name[0] == 'l'   ? &o->list_dirs
                    : name[0] == 'p' ? &o->psk_ke
                    : name[0] == 'a' ? &o->acme_agree_tos
                    : name[0] == 'h' ? &o->http2
                                     : &o->serve_dotfiles;
        if (!v || strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
            *flag = 1;
        else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
            *flag = 0;
        else
            return say(err, errlen, where, "%s takes on or off, not '%.600s'", name, v);
        return 0;
    }
    if (strcmp(name, "acme") == 0) { /* the URL is optional */
        if (where && v && !(v = keep(o, v))) return say(err, errlen, where, "out of memory");
        o->acme_url = v ? v : MOAT_ACME_DEFAULT_URL;
        return 0;
    }
    if (!v && strcmp(name, "proxy-only"))
        return say(err, errlen, where, "%.100s needs a value", name);
    if (where && v && !(v = keep(o, v))) return say(err, errlen, where, "out of memory");
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(name, nums[i].name)) continue;
        if (parse_long(v, nums[i].lo, nums[i].hi, (long *)((char *)o + nums[i].off)) < 0)
            return say(err, errlen, where, "%s wants a whole number from %ld to %ld, not '%.600s'",
                       name, nums[i].lo, nums[i].hi, v);
        return 0;
    }
    if (strcmp(name, "tls-min") == 0) {
        if (strcmp(v, "1.2") && strcmp(v, "1.3"))
            return say(err, errlen, where, "tls-min takes 1.2 or 1.3, not '%.600s'", v);
        o->tls_min = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (strcmp(name, strs[i].name) == 0) {
            *(const char **)((char *)o + strs[i].off) = v;
            return 0;
        }
    }
    if (strcmp(name, "access-log-format") == 0) {
        if (strcmp(v, "combined") && strcmp(v, "json"))
            return say(err, errlen, where, "access-log-format takes combined or json, not '%.600s'",
                       v);
        o->access_log_format = v;
        return 0;
    }
    if (strcmp(name, "cert") == 0 || strcmp(name, "key") == 0 || strcmp(name, "ocsp-staple") == 0) {
        const char **arr = name[0] == 'c' ? o->certs : name[0] == 'k' ? o->keys : o->staples;
        int *n = name[0] == 'c' ? &o->ncerts : name[0] == 'k' ? &o->nkeys : &o->nstaples;
        if (*n >= MOAT_SERVE_MAX_CERTS)
            return say(err, errlen, where, "too many %s (at most %d)", name, MOAT_SERVE_MAX_CERTS);
        arr[(*n)++] = v;
        return 0;
    }
    if (strcmp(name, "domain") == 0) {
        if (o->ndomains >= MOAT_SERVE_MAX_DOMAINS)
            return say(err, errlen, where, "too many domain (at most %d)", MOAT_SERVE_MAX_DOMAINS);
        size_t n = strlen(v);
        /* Lower case: the name is also a file name, and what SNI brings
         * is compared lower-cased. No wildcards: they need dns-01. */
        if (!n || n > 253 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n ||
            v[0] == '.' || v[0] == '-' || strstr(v, ".."))
            return say(err, errlen, where,
                       "domain wants a DNS name in lower case (no wildcard), not '%.600s'", v);
        o->domains[o->ndomains++] = v;
        return 0;
    }
    if (strcmp(name, "proxy-protocol") == 0 || strcmp(name, "proxy-protocol-from") == 0)
        return server_pp_option(o, name, v, where, err, errlen);
    if (strcmp(name, "config") == 0) {
        if (o->no_include) return say(err, errlen, where, "config files are not read here");
        if (o->config_depth >= 4)
            return say(err, errlen, where, "config files nest too deep at %.600s", v);
        return server_config_load(o, v, err, errlen);
    }
    if (!o->proxy) return say(err, errlen, where, "out of memory");
    int pr = server_proxy_option(o->proxy, name, v, where, err, errlen); /* proxy, proxy-* */
    if (pr != 1) return pr;
    return say(err, errlen, where, "unknown setting %.100s", name);
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int server_config_parse(struct moat_serve_opts *o, const char *buf, size_t len, const char *fname,
                        char *err, size_t errlen)
{
    char line[4096], where[PATH_MAX + 32];
    int lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        lineno++;
        snprintf(where, sizeof where, "%.*s:%d", PATH_MAX, fname, lineno);
        if (n >= sizeof line) return say(err, errlen, where, "line too long");
        memcpy(line, buf + pos, n);
        line[n] = '\0';
        pos += n + (nl != NULL);
        if (memchr(line, '\0', n)) return say(err, errlen, where, "a NUL byte in the line");
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *name = line;
        while (blank(*name))
            name++;
        if (!*name) continue;
        char *end = name;
        while (*end && !blank(*end))
            end++;
        char *val = NULL;
        if (*end) {
            *end = '\0';
            val = end + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            char *e = val + strlen(val);
            while (e > val && blank(e[-1]))
                *--e = '\0';
            if (!*val) val = NULL;
        }
        while (*name == '-')
            name++;
        int r = server_config_set(o, name, val, where, err, errlen);
        if (r) return r;
    }
    return 0;
}

int server_config_load(struct moat_serve_opts *o, const char *path, char *err, size_t errlen)
{
    size_t got = 0;
    char *buf = (char *)core_read_file(path, MOAT_SERVE_CONFIG_MAX, &got);
    if (!buf)
        return say(err, errlen, NULL, "cannot read config %.600s: %s", path,
                   errno == EFBIG    ? "larger than 1 MiB"
                   : errno == EINVAL ? "not a regular file"
                                     : strerror(errno));
    o->config_depth++;
    int r = server_config_parse(o, buf, got, path, err, errlen);
    o->config_depth--;
    free(buf);
    return r;
}
