/* -b and -c: a cookie jar as curl keeps it. Set-Cookie read by RFC 6265
 * 5.2 (attributes) and 5.3 (storage), the Cookie header by 5.4 (domain,
 * path, secure, expiry), and the file in the Netscape format curl reads
 * and writes (tab-separated: domain, tailmatch, path, secure, expiry,
 * name, value; "#HttpOnly_" before the domain of an HttpOnly cookie). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client/body.h"
#include "core/file.h"

#define COOKIE_FILE_MAX (4u << 20)
#define COOKIE_MAX_LEN 8190 /* name and value together, as curl's limit */

static void cookie_free(struct client_cookie *c)
{
    free(c->name);
    free(c->value);
    free(c->domain);
    free(c->path);
}

void client_jar_free(struct client_jar *j)
{
    for (size_t i = 0; i < j->n; i++)
        cookie_free(&j->c[i]);
    free(j->c);
    j->c = NULL;
    j->n = 0;
}

static void jar_remove(struct client_jar *j, size_t i)
{
    cookie_free(&j->c[i]);
    memmove(&j->c[i], &j->c[i + 1], (j->n - i - 1) * sizeof *j->c);
    j->n--;
}

/* Stores c (its strings now the jar's), replacing the cookie of the same
 * name, domain and path; an expired one only removes. */
static void jar_put(struct client_jar *j, struct client_cookie *c, int64_t now)
{
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->c[i].name, c->name) && !strcasecmp(j->c[i].domain, c->domain) &&
            !strcmp(j->c[i].path, c->path)) {
            jar_remove(j, i);
            break;
        }
    if ((c->expires && c->expires <= now) || j->n >= CLIENT_JAR_MAX) {
        cookie_free(c);
        return;
    }
    struct client_cookie *n = realloc(j->c, (j->n + 1) * sizeof *n);
    if (!n) {
        cookie_free(c);
        return;
    }
    j->c = n;
    j->c[j->n++] = *c;
}

/* 5.1.3: host domain-matches d (d equal, or a suffix after a dot, and
 * host not an IP address). */
static int domain_match(const char *host, const char *d, int tail)
{
    size_t hl = strlen(host), dl = strlen(d);
    if (hl == dl) return strcasecmp(host, d) == 0;
    if (!tail || hl < dl + 1 || host[hl - dl - 1] != '.') return 0;
    if (strspn(host, "0123456789.") == hl || strchr(host, ':')) return 0;
    return strcasecmp(host + hl - dl, d) == 0;
}

/* 5.1.4: the cookie path p matches the request path rp. */
static int path_match(const char *rp, const char *p)
{
    size_t pl = strlen(p), rl = strcspn(rp, "?#");
    if (rl < pl || strncmp(rp, p, pl) != 0) return 0;
    return rl == pl || p[pl - 1] == '/' || rp[pl] == '/';
}

/* An HTTP date in any of the forms curl takes (IMF-fixdate, RFC 850,
 * asctime, and dashes for spaces), or -1. */
static int64_t parse_date(const char *s)
{
    static const char *const fmts[] = {"%a, %d %b %Y %H:%M:%S", "%a, %d-%b-%Y %H:%M:%S",
                                       "%A, %d-%b-%y %H:%M:%S", "%a %b %d %H:%M:%S %Y",
                                       "%d %b %Y %H:%M:%S"};
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *e = strptime(s, fmts[i], &tm);
        if (e && (*e == '\0' || *e == ' ')) return (int64_t)timegm(&tm);
    }
    return -1;
}

/* Bytes a Cookie header may carry: no control character (a CR or LF from
 * a file would split the request head), no DEL. */
static int clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) return 0;
    return 1;
}

static char *trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

void client_jar_set(struct client_jar *j, const char *host, const char *path, const char *v,
                    size_t vlen, int64_t now)
{
    if (vlen > COOKIE_MAX_LEN || !clean(v, vlen)) return;
    char *line = strndup(v, vlen);
    if (!line) return;
    struct client_cookie c = {0};
    char *save = NULL, *domain = NULL, *cpath = NULL;
    int64_t max_age = -1, expires = 0;
    for (char *a = strtok_r(line, ";", &save); a; a = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        char *name = trimmed(a, nl), *val = trimmed(eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0);
        if (!name || !val) {
            free(name);
            free(val);
            break;
        }
        if (!c.name) {
            if (!eq || !name[0]) { /* 5.2: no '=' or an empty name: ignored */
                free(name);
                free(val);
                break;
            }
            c.name = name;
            c.value = val;
            continue;
        }
        if (!strcasecmp(name, "domain") && val[0]) {
            free(domain);
            domain = strdup(val[0] == '.' ? val + 1 : val);
        } else if (!strcasecmp(name, "path") && val[0] == '/') {
            free(cpath);
            cpath = strdup(val);
        } else if (!strcasecmp(name, "max-age")) {
            char *e;
            long long n = strtoll(val, &e, 10);
            if (*val && !*e) max_age = n <= 0 ? 0 : n;
        } else if (!strcasecmp(name, "expires")) {
            int64_t t = parse_date(val);
            if (t > 0) expires = t;
        } else if (!strcasecmp(name, "secure")) {
            c.secure = 1;
        } else if (!strcasecmp(name, "httponly")) {
            c.httponly = 1;
        }
        free(name);
        free(val);
    }
    free(line);
    if (!c.name) goto drop;
    /* 5.3 (5)(6): a Domain must cover the host, and be more than a single
     * label (the guard curl keeps without a public suffix list). */
    if (domain && (!strchr(domain, '.') || !domain_match(host, domain, 1))) goto drop;
    c.tailmatch = domain != NULL;
    c.domain = domain ? domain : strdup(host);
    domain = NULL;
    if (!cpath) { /* 5.1.4: the directory of the request path, with its
                   * slash as curl keeps it ("/a/" for "/a/b") */
        size_t rl = strcspn(path, "?#");
        const char *last = memrchr(path, '/', rl);
        cpath = last ? strndup(path, (size_t)(last - path) + 1) : strdup("/");
    }
    c.path = cpath;
    cpath = NULL;
    if (!c.domain || !c.path) goto drop;
    /* Max-Age wins over Expires (5.3 (3)); 0 or less expires it now; a
     * huge one is the end of time, not an overflow. */
    c.expires = max_age == 0                ? 1
                : max_age > INT64_MAX - now ? INT64_MAX
                : max_age > 0               ? now + max_age
                                            : expires;
    jar_put(j, &c, now);
    return;
drop:
    free(domain);
    free(cpath);
    cookie_free(&c);
}

/* curl's order of the Cookie header (RFC 6265 5.4 (2) and more): longer
 * paths first, then longer domains, longer names, newer cookies (later in
 * the jar: set later, or read later from the file). */
static const struct client_cookie *sort_base;
static int by_curl_order(const void *a, const void *b)
{
    const struct client_cookie *x = &sort_base[*(const size_t *)a],
                               *y = &sort_base[*(const size_t *)b];
    size_t lx, ly;
    if ((lx = strlen(x->path)) != (ly = strlen(y->path))) return lx > ly ? -1 : 1;
    if ((lx = strlen(x->domain)) != (ly = strlen(y->domain))) return lx > ly ? -1 : 1;
    if ((lx = strlen(x->name)) != (ly = strlen(y->name))) return lx > ly ? -1 : 1;
    return *(const size_t *)a > *(const size_t *)b ? -1 : 1;
}

int client_jar_header(const struct client_jar *j, const char *host, const char *path, int64_t now,
                      moat_buf *out)
{
    size_t *idx = malloc((j->n + 1) * sizeof *idx), k = 0;
    if (!idx) return 0;
    for (size_t i = 0; i < j->n; i++) {
        const struct client_cookie *c = &j->c[i];
        if ((c->expires && c->expires <= now) || !domain_match(host, c->domain, c->tailmatch) ||
            !path_match(path, c->path))
            continue; /* moat get speaks https only: secure cookies go too */
        idx[k++] = i;
    }
    sort_base = j->c;
    qsort(idx, k, sizeof *idx, by_curl_order);
    int count = 0;
    for (size_t i = 0; i < k; i++) {
        const struct client_cookie *c = &j->c[idx[i]];
        if ((count++ && moat_buf_append(out, "; ", 2) < 0) ||
            moat_buf_append(out, c->name, strlen(c->name)) < 0 ||
            moat_buf_append(out, "=", 1) < 0 ||
            moat_buf_append(out, c->value, strlen(c->value)) < 0)
            break;
    }
    free(idx);
    return count;
}

static int is_true(const char *s)
{
    return strcasecmp(s, "TRUE") == 0;
}

int client_jar_load_text(struct client_jar *j, const char *text, size_t len, int64_t now)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[COOKIE_MAX_LEN + 1024];
        if (ll && p[ll - 1] == '\r') ll--;
        if (ll < sizeof line && clean(p, ll)) {
            memcpy(line, p, ll);
            line[ll] = '\0';
            int httponly = 0;
            char *l = line;
            if (!strncasecmp(l, "Set-Cookie:", 11)) {
                /* curl takes these too: as if the cookie came from no host
                 * in particular, it must then name its Domain. */
                const char *d = strcasestr(l, "domain=");
                if (d) {
                    char host[256];
                    snprintf(host, sizeof host, "%.*s", (int)strcspn(d + 7, "; \t"), d + 7);
                    client_jar_set(j, host[0] == '.' ? host + 1 : host, "/", l + 11, strlen(l + 11),
                                   now);
                }
            } else {
                if (!strncmp(l, "#HttpOnly_", 10)) {
                    httponly = 1;
                    l += 10;
                }
                char *f[7];
                int nf = 0;
                if (l[0] != '#') {
                    char *save = NULL;
                    for (char *t = strtok_r(l, "\t", &save); t && nf < 7;
                         t = strtok_r(NULL, "\t", &save))
                        f[nf++] = t;
                }
                /* A cookie without a value has six fields, as curl writes it. */
                if (nf == 6) f[nf++] = "";
                char *e;
                long long exp = nf == 7 ? strtoll(f[4], &e, 10) : 0;
                if (nf == 7 && !*e && exp >= 0 && f[2][0] == '/' && f[0][0] && f[5][0]) {
                    struct client_cookie c = {
                        .name = strdup(f[5]),
                        .value = strdup(f[6]),
                        .domain = strdup(f[0][0] == '.' ? f[0] + 1 : f[0]),
                        .path = strdup(f[2]),
                        .tailmatch = is_true(f[1]),
                        .secure = is_true(f[3]),
                        .httponly = httponly,
                        .expires = exp,
                    };
                    if (c.name && c.value && c.domain && c.path)
                        jar_put(j, &c, now);
                    else
                        cookie_free(&c);
                }
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int client_jar_load(struct client_jar *j, const char *path, int64_t now, char *err, size_t errlen)
{
    size_t n = 0;
    uint8_t *text = core_read_file(path, COOKIE_FILE_MAX, &n);
    if (!text) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot read the cookie file %s: %s", path, strerror(errno));
        return -1;
    }
    client_jar_load_text(j, (const char *)text, n, now);
    free(text);
    return 0;
}

int client_jar_save(const struct client_jar *j, const char *path, int64_t now)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) return -1;
    fputs("# Netscape HTTP Cookie File\n"
          "# https://curl.se/docs/http-cookies.html\n"
          "# This file was generated by libcurl! Edit at your own risk.\n\n",
          f);
    for (size_t i = j->n; i-- > 0;) { /* newest first, as curl writes them */
        const struct client_cookie *c = &j->c[i];
        if (c->expires && c->expires <= now) continue;
        fprintf(f, "%s%s%s\t%s\t%s\t%s\t%lld\t%s\t%s\n", c->httponly ? "#HttpOnly_" : "",
                c->tailmatch ? "." : "", c->domain, c->tailmatch ? "TRUE" : "FALSE", c->path,
                c->secure ? "TRUE" : "FALSE", (long long)c->expires, c->name, c->value);
    }
    if (f == stdout) return fflush(f) == 0 ? 0 : -1;
    return fclose(f) == 0 ? 0 : -1;
}
