/* moat get through an HTTP proxy: the proxy chosen as curl 7.88 chooses it
 * (-x, https_proxy, all_proxy; --noproxy, no_proxy), and the tunnel opened
 * with CONNECT (RFC 9110 9.3.6) as curl sends it; TLS then runs inside. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/getnet.h"
#include "client/net.h"
#include "core/exit.h"
#include "http/reader.h"
#include "moat/http.h"

/* curl's port for a proxy given without one. */
#define PROXY_DEFAULT_PORT 1080

/* ---- no_proxy ---- */

/* Does IPv4 or IPv6 address a fall in net/bits (bits 0: the whole address)? */
static int cidr_match(int family, const char *a, const char *net, unsigned bits)
{
    unsigned char x[16], y[16];
    unsigned len = family == AF_INET ? 4 : 16;
    if (inet_pton(family, a, x) != 1 || inet_pton(family, net, y) != 1) return 0;
    if (bits == 0 || bits > len * 8) bits = len * 8;
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, whole) != 0) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

static int token_match(const char *host, size_t hl, int family, const char *t, size_t tl)
{
    if (family) {
        char ip[128];
        if (tl >= sizeof ip) return 0;
        memcpy(ip, t, tl);
        ip[tl] = '\0';
        unsigned bits = 0;
        char *slash = strchr(ip, '/');
        if (slash) {
            bits = (unsigned)atoi(slash + 1);
            *slash = '\0';
        }
        char *net = ip;
        size_t nl = strlen(net);
        if (nl >= 2 && net[0] == '[' && net[nl - 1] == ']') {
            net[nl - 1] = '\0';
            net++;
        }
        char h[64];
        if (hl >= sizeof h) return 0;
        memcpy(h, host, hl);
        h[hl] = '\0';
        return cidr_match(family, h, net, bits);
    }
    /* A name: ".example.com" and "example.com" both cover example.com and
     * its subdomains; one trailing dot is ignored. */
    if (tl && t[0] == '.') {
        t++;
        tl--;
    }
    if (tl && t[tl - 1] == '.') tl--;
    if (!tl) return 0;
    if (tl == hl) return strncasecmp(host, t, tl) == 0;
    if (tl < hl) return host[hl - tl - 1] == '.' && strncasecmp(host + hl - tl, t, tl) == 0;
    return 0;
}

int client_noproxy_match(const char *host, const char *list)
{
    if (!list || !*list) return 0;
    if (strcmp(list, "*") == 0) return 1;
    size_t hl = strlen(host);
    int family = 0;
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) == 1)
        family = AF_INET;
    else if (strchr(host, ':'))
        family = AF_INET6;
    else if (hl && host[hl - 1] == '.')
        hl--;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *t = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ',')
            p++;
        if (p > t && token_match(host, hl, family, t, (size_t)(p - t))) return 1;
    }
    return 0;
}

/* ---- choosing the proxy ---- */

static int unhex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

/* Percent-decodes s[0..n) onto the end of out (size cap). */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = strlen(out);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            c = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* "[http://][user:password@]host[:port][/]" into p. Returns 0 or an exit
 * status after a message. */
static int parse_proxy(const char *spec, struct client_proxy *p)
{
    const char *s = spec, *sep = strstr(s, "://");
    if (sep) {
        size_t sl = (size_t)(sep - s);
        if (!(sl == 4 && strncasecmp(s, "http", 4) == 0)) {
            fprintf(stderr,
                    "moat: unsupported proxy scheme for '%s' (moat speaks to HTTP proxies: "
                    "http://HOST:PORT)\n",
                    spec);
            return GET_EXIT_COULDNT_CONNECT; /* curl's answer to a scheme it lacks */
        }
        s = sep + 3;
    }
    size_t end = strcspn(s, "/?#");
    const char *at = memrchr(s, '@', end);
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ul = colon ? (size_t)(colon - s) : (size_t)(at - s);
        if (pct_decode(s, ul, p->auth, sizeof p->auth) < 0 ||
            pct_decode(":", 1, p->auth, sizeof p->auth) < 0 ||
            (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), p->auth, sizeof p->auth) < 0))
            goto bad;
        end -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    const char *hend = s + end, *port = NULL;
    if (*s == '[') {
        const char *rb = memchr(s, ']', end);
        if (!rb || rb - s - 1 >= (long)sizeof p->host || rb == s + 1) goto bad;
        memcpy(p->host, s + 1, (size_t)(rb - s - 1));
        p->host[rb - s - 1] = '\0';
        if (rb + 1 < hend) {
            if (rb[1] != ':') goto bad;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', end);
        size_t hl = colon ? (size_t)(colon - s) : end;
        if (hl == 0 || hl >= sizeof p->host) goto bad;
        memcpy(p->host, s, hl);
        p->host[hl] = '\0';
        if (colon) port = colon + 1;
    }
    p->port = port ? client_parse_port(port, hend) : PROXY_DEFAULT_PORT;
    if (p->port <= 0 || p->port > 65535) goto bad;
    for (char *c = p->host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    int v6 = strchr(p->host, ':') != NULL;
    snprintf(p->shown, sizeof p->shown, "%s%s%s:%d", v6 ? "[" : "", p->host, v6 ? "]" : "",
             p->port);
    return 0;
bad:
    fprintf(stderr, "moat: bad proxy '%s' (want [http://][USER:PASSWORD@]HOST[:PORT])\n", spec);
    return GET_EXIT_COULDNT_RESOLVE_PROXY;
}

static const char *env_first(const char *const *names, const char **which)
{
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            *which = names[i];
            return v;
        }
    }
    return NULL;
}

int client_proxy_pick(const char *host, const char *proxy, const char *proxy_user,
                      const char *noproxy, struct client_proxy *p)
{
    static const char *const no_names[] = {"no_proxy", "NO_PROXY", NULL};
    static const char *const names[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                        NULL};
    const char *which = NULL;
    memset(p, 0, sizeof *p);
    /* --noproxy (even "") stands for no_proxy; either covers -x as well. */
    const char *list = noproxy ? noproxy : env_first(no_names, &which);
    if (client_noproxy_match(host, list)) return 0;
    if (proxy && !*proxy) return 0; /* -x "": no proxy, the environment's neither */
    const char *spec = proxy;
    p->from = "-x";
    if (!spec) {
        spec = env_first(names, &which);
        p->from = which;
    }
    if (!spec) return 0;
    int r = parse_proxy(spec, p);
    if (r) return r;
    if (proxy_user) {
        if (strlen(proxy_user) >= sizeof p->auth) {
            fprintf(stderr, "moat: -U is too long\n");
            return GET_EXIT_USAGE;
        }
        snprintf(p->auth, sizeof p->auth, "%s", proxy_user);
    }
    return 1;
}

/* ---- the tunnel ---- */

static void base64(const char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

/* Prints each line of a head on stderr behind mark. */
static void show_head(const char *mark, const char *h, size_t n)
{
    for (size_t s = 0, i = 0; i + 1 < n; i++)
        if (h[i] == '\r' && h[i + 1] == '\n') {
            if (i > s) fprintf(stderr, "%s%.*s\n", mark, (int)(i - s), h + s);
            s = i + 2;
        }
}

int client_proxy_connect(int fd, const struct client_proxy *p, const char *host, int port,
                         int64_t deadline, int verbose, int *status_out)
{
    char req[2400], cred[1000] = "", target[300];
    int v6 = strchr(host, ':') != NULL;
    snprintf(target, sizeof target, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (p->auth[0]) {
        char b64[960];
        base64(p->auth, strlen(p->auth), b64);
        snprintf(cred, sizeof cred, "Proxy-Authorization: Basic %s\r\n", b64);
        moat_wipe(b64, sizeof b64);
    }
    /* curl 7.88's CONNECT, field for field. */
    int n = snprintf(req, sizeof req,
                     "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%sUser-Agent: moat/0.1\r\n"
                     "Proxy-Connection: Keep-Alive\r\n\r\n",
                     target, target, cred);
    moat_wipe(cred, sizeof cred);
    if (verbose) {
        /* The head as sent, the credentials left out (-v output is
         * pasted into bug reports). */
        char shown[sizeof req];
        snprintf(shown, sizeof shown,
                 "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%sUser-Agent: moat/0.1\r\n"
                 "Proxy-Connection: Keep-Alive\r\n\r\n",
                 target, target, p->auth[0] ? "Proxy-Authorization: Basic [hidden]\r\n" : "");
        fprintf(stderr, "* Establish HTTP proxy tunnel to %s\n", target);
        show_head("> ", shown, strlen(shown));
    }
    int r = client_send_all(fd, (const uint8_t *)req, (size_t)n, deadline);
    moat_wipe(req, sizeof req);
    if (r == -2) {
        fprintf(stderr, "moat: timed out sending CONNECT to proxy %s\n", p->shown);
        return GET_EXIT_OPERATION_TIMEDOUT;
    }
    if (r < 0) {
        fprintf(stderr, "moat: failure sending CONNECT to proxy %s\n", p->shown);
        return GET_EXIT_SEND_ERROR;
    }
    /* The answer, a byte at a time (as curl reads it): the bytes after its
     * head are the server's and belong to TLS. */
    static uint8_t head[HTTP_MAX_HEAD];
    size_t len = 0;
    http_reader rd;
    http_reader_init(&rd, 1);
    for (;;) {
        if (len == sizeof head) {
            fprintf(stderr, "moat: the answer of proxy %s to CONNECT is too long\n", p->shown);
            return GET_EXIT_RECV_ERROR;
        }
        ssize_t got = client_recv_some(fd, head + len, 1, deadline);
        if (got == -2) {
            fprintf(stderr, "moat: timed out waiting for proxy %s to answer CONNECT\n", p->shown);
            return GET_EXIT_OPERATION_TIMEDOUT;
        }
        if (got <= 0) {
            fprintf(stderr, "moat: proxy %s closed the connection before answering CONNECT\n",
                    p->shown);
            return GET_EXIT_RECV_ERROR;
        }
        len++;
        if (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) continue;
        moat_http_response resp;
        size_t hl = 0;
        int h = http_reader_head(&rd, head, len, &resp, &hl);
        if (h == HTTP_HEAD_INTERIM) {
            if (verbose) show_head("< ", (const char *)head, hl);
            len = 0;
            continue;
        }
        if (h != HTTP_HEAD_FINAL) {
            fprintf(stderr, "moat: malformed answer to CONNECT from proxy %s\n", p->shown);
            return GET_EXIT_RECV_ERROR;
        }
        if (verbose) show_head("< ", (const char *)head, hl);
        *status_out = resp.status;
        if (resp.status / 100 != 2) {
            fprintf(stderr, "moat: CONNECT tunnel failed, response %d (proxy %s%s)\n", resp.status,
                    p->shown,
                    resp.status == 407 ? (p->auth[0] ? ": it refused the -U credentials"
                                                     : ": it wants credentials, -U USER:PASSWORD")
                                       : "");
            return GET_EXIT_RECV_ERROR;
        }
        if (verbose) fprintf(stderr, "* CONNECT tunnel established, response %d\n", resp.status);
        return 0;
    }
}
