/* moat serve --proxy: routes, backend pools with passive health checks,
 * and the exchange of one request with an HTTP/1.1 backend: the request
 * re-framed and its headers rewritten (RFC 9110 7.6), the response
 * streamed back through bounded buffers, WebSocket tunnels after 101. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/exit.h"
#include "http/proxyproto.h"
#include "http/reader.h"
#include "http/url.h"
#include "server/metrics.h"
#include "server/proxy.h"

#define MAX_ROUTES 32
#define MAX_BACKENDS 16     /* per route */
#define POOL_MAX 256        /* idle connections kept per backend */
#define UP_MAX (64 * 1024)  /* request bytes waiting for the backend */
#define OUT_MAX (64 * 1024) /* response bytes waiting for the client */
#define READ_CHUNK 16384
#define FAIL_MS 10000 /* a failing backend is left out this long */

struct backend {
    char url[512];      /* as given, for messages */
    char hostport[512]; /* Host for HTTP/1.0 clients that sent none */
    char path[512];     /* replaces a route's prefix; "" (no path in the URL) keeps the target */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t down_until;
    int idx;          /* its place in the set, and its metrics label */
    int reused_fails; /* pooled connections in a row it closed before answering */
    int idle[POOL_MAX];
    int64_t idle_since[POOL_MAX];
    int nidle;
};

struct route {
    char prefix[512]; /* "" for the fallback route */
    size_t prefix_len;
    struct backend *b[MAX_BACKENDS];
    int nb;
    unsigned rr;
};

/* Everything --proxy configures, and the worker's state of it: the
 * master parses the options into one (moat_serve_opts); each worker's loop
 * owns its own copy, forked from it, with its pools and backend health,
 * and passes it to every call. */
struct moat_proxy_set {
    struct route routes[MAX_ROUTES];
    int nroutes;
    int only;
    int send_proxy; /* --proxy-send-proxy: 0, 1 (v1) or 2 (v2) */
    int connect_ms, read_ms, idle_ms;
    int tunnel_default_ms; /* --idle-timeout */
    int tunnel_ms;     /* a WebSocket tunnel with nothing moving either way; 0: --idle-timeout's */
    uint64_t max_body; /* --max-body-size, also for chunked request bodies */
    int resolve;       /* 0: backend hosts must be numeric (config fuzzing) */
    int64_t next_pool_sweep;
    struct backend *backends[MAX_ROUTES * MAX_BACKENDS]; /* distinct URLs */
    int nbackends;
};

enum { S_ERROR, S_CONNECTING, S_ACTIVE, S_TUNNEL, S_END };

struct moat_proxy {
    struct moat_proxy_set *ps; /* the worker's routes, backends and pools */
    struct evloop *el;         /* the worker's loop, where the backend socket waits */
    loop_fn *fn;               /* and the callback it wakes */
    void *arg;
    struct route *rt;
    struct backend *be;
    int fd;
    int reused; /* fd came from the pool */
    /* --proxy-send-proxy: the PROXY header for each new backend
     * connection, and how much of it the current one still needs */
    unsigned char pp[PP_V1_MAX > 256 ? PP_V1_MAX : 256];
    size_t pp_len, pp_off;
    int pp_pending;
    int tries;
    int state;
    int result;
    int64_t deadline;
    char *orig;   /* copy of the client's request head */
    char *target; /* its target, normalised (see normalise) */
    size_t target_len;
    size_t orig_len;
    moat_http_request req; /* parsed from orig */
    moat_buf head;         /* the request head for the backend */
    moat_buf up;           /* bytes still to go to the backend */
    moat_buf down;         /* bytes from the backend not yet handled */
    moat_buf tmp;
    http_body req_body; /* the request's body, as the client frames it */
    int req_done;
    int sent_body; /* request body bytes have left for the backend */
    uint64_t up_sent;
    int close; /* the client connection ends after this */
    int is_head;
    int websocket;
    int send_continue;
    int err_status; /* S_ERROR: answer this */
    int head_sent;  /* the response head went to the client */
    int status;
    long long bytes;
    http_reader rd; /* the backend's response */
    moat_buf dec;   /* its chunked body, decoded */
    int resp_done;
    int out_chunked;
    int backend_keep;
    int got_bytes; /* the backend sent anything at all */
};

/* ---- options */

/* Formats a message about an option into err (where: "FILE:LINE" or NULL). */
static int opt_err(char *err, size_t errlen, const char *where, const char *fmt, const char *arg)
{
    int n = snprintf(err, errlen, "%s%s", where ? where : "", where ? ": " : "");
    if (n >= 0 && (size_t)n < errlen) snprintf(err + n, errlen - (size_t)n, fmt, arg);
    return MOAT_EXIT_USAGE;
}

/* Parses "http://host[:port][/path]" into b: split by the URL parser
 * moat get uses (http/url.c), the host and port resolved here, once. */
static int parse_url(const struct moat_proxy_set *ps, const char *url, size_t n, struct backend *b,
                     const char *where, char *err, size_t errlen)
{
    char u[512];
    if (n >= sizeof u) return opt_err(err, errlen, where, "--proxy URL too long: %.400s", url);
    memcpy(u, url, n);
    u[n] = '\0';
    snprintf(b->url, sizeof b->url, "%s", u);
    http_url parts;
    int split = http_url_split(u, &parts);
    if (!parts.scheme || parts.scheme_len != 4 || strncasecmp(u, "http", 4) != 0)
        return opt_err(err, errlen, where,
                       "--proxy wants an http:// URL (plain HTTP/1.1 to the application), not '%s'",
                       u);
    if (split == HTTP_URL_BAD_IPV6)
        return opt_err(err, errlen, where, "--proxy: bad IPv6 address in '%s'", b->url);
    if (split == HTTP_URL_USERINFO)
        return opt_err(err, errlen, where, "--proxy: no user name or password in '%s'", b->url);
    if (split != HTTP_URL_OK || *parts.rest == '?' || *parts.rest == '#')
        return opt_err(err, errlen, where, "--proxy: malformed URL '%s'", b->url);
    snprintf(b->path, sizeof b->path, "%s", parts.rest);
    const char *auth = parts.scheme + 7;
    snprintf(b->hostport, sizeof b->hostport, "%.*s", (int)(parts.rest - auth), auth);
    char host[512], port[512];
    snprintf(host, sizeof host, "%.*s", (int)parts.host_len, parts.host);
    snprintf(port, sizeof port, "%.*s", (int)parts.port_len, parts.port ? parts.port : "");
    if (!*host) return opt_err(err, errlen, where, "--proxy: no host in '%s'", b->url);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (!ps->resolve) hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int r = getaddrinfo(host, *port ? port : "80", &hints, &res);
    if (r || !res) {
        /* Built whole, never used as a format: the host may hold a '%'. */
        char msg[1200];
        snprintf(msg, sizeof msg, "--proxy %.500s: cannot resolve %.200s: %s", b->url, host,
                 gai_strerror(r));
        return opt_err(err, errlen, where, "%s", msg);
    }
    memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
    b->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The backend of that URL, shared by every route naming it, so that its
 * health (and its pool) is one. */
static int add_backend(struct moat_proxy_set *ps, struct route *rt, const char *url, size_t n,
                       const char *where, char *err, size_t errlen)
{
    for (int i = 0; i < ps->nbackends; i++)
        if (strlen(ps->backends[i]->url) == n && memcmp(ps->backends[i]->url, url, n) == 0) {
            rt->b[rt->nb++] = ps->backends[i];
            return 0;
        }
    if (ps->nbackends >= MAX_ROUTES * MAX_BACKENDS)
        return opt_err(err, errlen, where, "%s", "too many --proxy URLs");
    struct backend *b = calloc(1, sizeof *b);
    if (!b) return opt_err(err, errlen, where, "%s", "out of memory");
    if (parse_url(ps, url, n, b, where, err, errlen)) {
        free(b);
        return MOAT_EXIT_USAGE;
    }
    b->idx = ps->nbackends;
    ps->backends[ps->nbackends++] = b;
    rt->b[rt->nb++] = b;
    return 0;
}

static int add_proxy(struct moat_proxy_set *ps, const char *v, const char *where, char *err,
                     size_t errlen)
{
    const char *urls = v;
    char prefix[512] = "";
    if (v[0] == '/') {
        const char *eq = strchr(v, '=');
        if (!eq || (size_t)(eq - v) >= sizeof prefix)
            return opt_err(err, errlen, where, "--proxy takes URL or /PREFIX=URL, not '%.600s'", v);
        memcpy(prefix, v, (size_t)(eq - v));
        prefix[eq - v] = '\0';
        urls = eq + 1;
    }
    struct route *rt = NULL;
    for (int i = 0; i < ps->nroutes; i++)
        if (strcmp(ps->routes[i].prefix, prefix) == 0) rt = &ps->routes[i];
    if (!rt) {
        if (ps->nroutes >= MAX_ROUTES)
            return opt_err(err, errlen, where, "at most 32 --proxy routes (%.600s)", v);
        rt = &ps->routes[ps->nroutes++];
        snprintf(rt->prefix, sizeof rt->prefix, "%s", prefix);
        rt->prefix_len = strlen(prefix);
    }
    while (*urls) {
        size_t n = strcspn(urls, ",");
        if (n) {
            if (rt->nb >= MAX_BACKENDS)
                return opt_err(err, errlen, where, "at most 16 URLs per --proxy route (%.600s)", v);
            if (add_backend(ps, rt, urls, n, where, err, errlen)) return MOAT_EXIT_USAGE;
        }
        urls += n;
        if (*urls == ',') urls++;
    }
    if (!rt->nb) return opt_err(err, errlen, where, "--proxy %.600s names no URL", v);
    return 0;
}

static int parse_ms(const char *name, const char *v, int *out, const char *where, char *err,
                    size_t errlen)
{
    char *end;
    double d = v ? strtod(v, &end) : -1;
    if (!v || end == v || *end || !(d > 0) || d > 86400) {
        char msg[800];
        snprintf(msg, sizeof msg, "%s wants seconds (more than 0, up to 86400), not '%.600s'", name,
                 v ? v : "");
        return opt_err(err, errlen, where, "%s", msg);
    }
    *out = (int)(d * 1000 + 0.5);
    if (*out < 1) *out = 1;
    return 0;
}

int server_proxy_option(struct moat_proxy_set *ps, const char *name, const char *v,
                        const char *where, char *err, size_t errlen)
{
    if (strcmp(name, "proxy") == 0) {
        if (!v || !*v)
            return opt_err(err, errlen, where, "%s", "--proxy needs a URL or /PREFIX=URL");
        return add_proxy(ps, v, where, err, errlen);
    }
    if (strcmp(name, "proxy-only") == 0) {
        if (!v || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
            ps->only = 1;
        else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
            ps->only = 0;
        else
            return opt_err(err, errlen, where, "proxy-only takes on or off, not '%.600s'", v);
        return 0;
    }
    if (strcmp(name, "proxy-send-proxy") == 0) {
        if (v && strcmp(v, "v1") == 0)
            ps->send_proxy = 1;
        else if (v && strcmp(v, "v2") == 0)
            ps->send_proxy = 2;
        else if (v && strcmp(v, "off") == 0)
            ps->send_proxy = 0;
        else
            return opt_err(err, errlen, where, "proxy-send-proxy takes v1, v2 or off, not '%.600s'",
                           v ? v : "");
        return 0;
    }
    if (strcmp(name, "proxy-connect-timeout") == 0)
        return parse_ms(name, v, &ps->connect_ms, where, err, errlen);
    if (strcmp(name, "proxy-read-timeout") == 0)
        return parse_ms(name, v, &ps->read_ms, where, err, errlen);
    if (strcmp(name, "proxy-idle-timeout") == 0)
        return parse_ms(name, v, &ps->idle_ms, where, err, errlen);
    if (strcmp(name, "proxy-tunnel-timeout") == 0)
        return parse_ms(name, v, &ps->tunnel_ms, where, err, errlen);
    return 1;
}

int server_proxy_sends_pp(const struct moat_proxy_set *ps)
{
    return ps ? ps->send_proxy : 0;
}

int server_proxy_routes(const struct moat_proxy_set *ps)
{
    return ps && (ps->only || ps->nroutes > 0);
}

void server_proxy_origin(struct moat_proxy *px, const struct pp_header *h)
{
    long n = px->ps->send_proxy == 1   ? pp_encode_v1(h, px->pp, sizeof px->pp)
             : px->ps->send_proxy == 2 ? pp_encode_v2(h, 0, px->pp, sizeof px->pp)
                                       : 0;
    px->pp_len = n > 0 ? (size_t)n : 0;
}

int server_proxy_check(const struct moat_proxy_set *ps)
{
    if (ps->only && !ps->nroutes) {
        fprintf(stderr, "moat serve: --proxy-only needs a --proxy URL to send requests to\n");
        return MOAT_EXIT_USAGE;
    }
    return 0;
}

struct moat_proxy_set *server_proxy_set_new(int resolve)
{
    struct moat_proxy_set *ps = calloc(1, sizeof *ps);
    if (ps) server_proxy_reset(ps, resolve);
    return ps;
}

void server_proxy_set_free(struct moat_proxy_set *ps)
{
    if (!ps) return;
    server_proxy_reset(ps, 1);
    free(ps);
}

void server_proxy_reset(struct moat_proxy_set *ps, int resolve)
{
    for (int i = 0; i < ps->nbackends; i++) {
        for (int k = 0; k < ps->backends[i]->nidle; k++)
            close(ps->backends[i]->idle[k]);
        free(ps->backends[i]);
    }
    memset(ps, 0, sizeof *ps);
    ps->connect_ms = 10000;
    ps->read_ms = 60000;
    ps->idle_ms = 30000;
    ps->tunnel_ms = 0;
    ps->tunnel_default_ms = 60000;
    ps->max_body = UINT64_MAX;
    ps->resolve = resolve;
}

void server_proxy_set_limits(struct moat_proxy_set *ps, uint64_t max_body, int idle_ms)
{
    ps->max_body = max_body;
    ps->tunnel_default_ms = idle_ms;
}

/* ---- routing */

static size_t path_len(const char *t, size_t n)
{
    const char *q = memchr(t, '?', n);
    return q ? (size_t)(q - t) : n;
}

static int hexdig(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies target to out (room for n + 1) with the percent-encoded
 * unreserved characters of its path decoded (RFC 3986 6.2.2.2: the same
 * URI), so that /%61pi/x is routed, checked and forwarded as /api/x.
 * Returns the new length. */
static size_t normalise(const char *t, size_t n, char *out)
{
    size_t pl = path_len(t, n), o = 0, i = 0;
    while (i < pl) {
        int hi, lo;
        if (t[i] == '%' && i + 2 < pl && (hi = hexdig(t[i + 1])) >= 0 &&
            (lo = hexdig(t[i + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~') {
                out[o++] = c;
                i += 3;
                continue;
            }
        }
        out[o++] = t[i++];
    }
    memcpy(out + o, t + pl, n - pl);
    o += n - pl;
    out[o] = '\0';
    return o;
}

static struct route *find_route(struct moat_proxy_set *ps, const char *target, size_t target_len)
{
    struct route *best = NULL;
    size_t pl = path_len(target, target_len);
    for (int i = 0; i < ps->nroutes; i++) {
        struct route *rt = &ps->routes[i];
        size_t n = rt->prefix_len;
        if (n == 0) {
            if (!best) best = rt;
            continue;
        }
        if (pl < n || memcmp(target, rt->prefix, n) != 0) continue;
        /* "/api" covers /api and /api/x, not /apix. */
        if (rt->prefix[n - 1] != '/' && pl > n && target[n] != '/') continue;
        if (!best || n > best->prefix_len) best = rt;
    }
    return best;
}

int server_proxy_match(struct moat_proxy_set *ps, const moat_http_request *req)
{
    if (ps->only) return MOAT_PROXY_CLAIM;
    if (!ps->nroutes) return MOAT_PROXY_NONE;
    char *t = malloc(req->target_len + 1);
    if (!t) return MOAT_PROXY_NONE;
    struct route *rt = find_route(ps, t, normalise(req->target, req->target_len, t));
    free(t);
    if (!rt) return MOAT_PROXY_NONE;
    return rt->prefix_len ? MOAT_PROXY_CLAIM : MOAT_PROXY_FALLBACK;
}

/* RFC 9110 9.2.2: a request that may be sent again after a connection
 * failed, since repeating it changes nothing more: the safe methods, PUT
 * and DELETE. A POST or PATCH the backend read before it closed may have
 * been acted on, so it is never repeated (the client gets 502). */
static int idempotent(const moat_http_request *q)
{
    static const char *const m[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (q->method_len == strlen(m[i]) && memcmp(q->method, m[i], q->method_len) == 0) return 1;
    return 0;
}

/* ---- headers */

static int name_is(const moat_http_header *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* Whether token (case-insensitive) is in a comma-separated list value. */
static int list_has(const char *v, size_t n, const char *tok, size_t tl)
{
    size_t i = 0, s, e;
    while (http_list_next(v, n, &i, &s, &e))
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0) return 1;
    return 0;
}

/* Named by a Connection field of f (RFC 9110 7.6.1). */
static int in_connection(const moat_http_fields *f, const char *name, size_t nl)
{
    for (size_t i = 0; i < f->nheaders; i++)
        if (name_is(&f->headers[i], "connection") &&
            list_has(f->headers[i].value, f->headers[i].value_len, name, nl))
            return 1;
    return 0;
}

/* Hop-by-hop fields, dropped in both directions; framing is ours. */
static int hop_by_hop(const moat_http_fields *f, const moat_http_header *h)
{
    static const char *const hop[] = {"connection",    "keep-alive",        "te",
                                      "trailer",       "transfer-encoding", "upgrade",
                                      "content-length"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (name_is(h, hop[i])) return 1;
    if (h->name_len >= 6 && strncasecmp(h->name, "proxy-", 6) == 0) return 1;
    return in_connection(f, h->name, h->name_len);
}

static void put(moat_buf *b, const char *s, size_t n, int *r)
{
    if (!*r) *r = moat_buf_append(b, s, n);
}

static void puts_(moat_buf *b, const char *s, int *r)
{
    put(b, s, strlen(s), r);
}

static void put_field(moat_buf *b, const char *name, const char *v, size_t vl, int *r)
{
    puts_(b, name, r);
    put(b, ": ", 2, r);
    put(b, v, vl, r);
    put(b, "\r\n", 2, r);
}

/* A value fit to put in a header: no CR, LF or NUL. */
static int clean(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

/* Headers we set ourselves, or that claim what only the edge can know
 * (X-Real-IP, RFC 9440 Client-Cert and Client-Cert-Chain, 4: the proxy
 * must remove any the client sent); an incoming copy never reaches the
 * backend. */
static const char *const ours[] = {
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",      "forwarded", "x-real-ip",
    "client-cert",     "client-cert-chain", "x-client-cert-subject", "expect",
};

/* A name with '_' that reads as one of ours (or any X-Forwarded-*) once
 * '_' is taken for '-': CGI, WSGI and Rack map both to HTTP_X_..., so
 * X_Client_Cert_Subject would pass for the real X-Client-Cert-Subject. */
static int spoofs_ours(const moat_http_header *h)
{
    if (!memchr(h->name, '_', h->name_len)) return 0;
    char n[64];
    size_t len = h->name_len < sizeof n - 1 ? h->name_len : sizeof n - 1; /* ours are shorter */
    for (size_t i = 0; i < len; i++) {
        char c = h->name[i] == '_' ? '-' : h->name[i];
        n[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
    }
    n[len] = '\0';
    if (strncmp(n, "x-forwarded-", 12) == 0) return 1;
    for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++)
        if (strcmp(n, ours[k]) == 0) return 1;
    return 0;
}

/* Appends s as an RFC 9110 5.6.4 quoted-string: '"' and '\\' escaped. */
static void put_quoted(moat_buf *b, const char *s, size_t n, int *r)
{
    put(b, "\"", 1, r);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') put(b, "\\", 1, r);
        put(b, s + i, 1, r);
    }
    put(b, "\"", 1, r);
}

/* Forwarded (RFC 7239): for= the client, proto=https, host= the Host.
 * 4: a value that is not a token is a quoted-string, so an IPv6 node
 * ("[2001:db8::1]", 6) and any host (a port's ':' is no tchar) are
 * quoted; Host was validated by the parser, and is escaped anyway, so
 * no value can end early and start a pair of its own. */
static void put_forwarded(moat_buf *b, const char *addr, const char *host, size_t host_len, int *r)
{
    puts_(b, "Forwarded: for=", r);
    if (strchr(addr, ':')) {
        char v6[80];
        int n = snprintf(v6, sizeof v6, "[%s]", addr);
        put_quoted(b, v6, n > 0 && (size_t)n < sizeof v6 ? (size_t)n : 0, r);
    } else if (addr[strspn(addr, "0123456789.")] == '\0' && addr[0]) {
        puts_(b, addr, r); /* an IPv4 address is a token */
    } else {
        put_quoted(b, addr, strlen(addr), r);
    }
    puts_(b, ";proto=https", r);
    if (host_len) {
        puts_(b, ";host=", r);
        put_quoted(b, host, host_len, r);
    }
    puts_(b, "\r\n", r);
}

/* The verified client certificate (--client-ca): its subject, and RFC
 * 9440 2: Client-Cert, the DER as a structured-field byte sequence, and
 * Client-Cert-Chain, the intermediates the client sent, a list of them.
 * After resumption they come from the ticket, which carries the chain;
 * one whose chain was too long for a ticket knows the subject only, so
 * only X-Client-Cert-Subject goes. */
static void put_client_cert(moat_buf *b, const moat_tls *peer, int *r)
{
    const char *identity = moat_tls_get_peer_identity(peer);
    if (!identity) return;
    if (clean(identity)) put_field(b, "X-Client-Cert-Subject", identity, strlen(identity), r);
    size_t len;
    const uint8_t *der = moat_tls_get_peer_cert(peer, 0, &len);
    if (!der) return;
    puts_(b, "Client-Cert: ", r);
    if (!*r) *r = moat_http_sf_binary(b, der, len);
    puts_(b, "\r\n", r);
    for (size_t i = 1; (der = moat_tls_get_peer_cert(peer, i, &len)); i++) {
        puts_(b, i == 1 ? "Client-Cert-Chain: " : ", ", r);
        if (!*r) *r = moat_http_sf_binary(b, der, len);
    }
    if (moat_tls_get_peer_cert(peer, 1, &len)) puts_(b, "\r\n", r);
}

/* The framing of a request with no body of its own: the client's
 * Content-Length: 0 is kept, and RFC 9110 8.6 wants one on a POST, PUT or
 * PATCH (whose content has a meaning) even when the client sent none;
 * some applications answer 411 without it. */
static int zero_length(const moat_http_request *q)
{
    if (q->f.content_length == 0) return 1;
    static const char *const m[] = {"POST", "PUT", "PATCH"};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (q->method_len == strlen(m[i]) && memcmp(q->method, m[i], q->method_len) == 0) return 1;
    return 0;
}

/* Builds the request head for the backend. */
static int build_request(struct moat_proxy *px, const char *addr, const moat_tls *peer)
{
    const moat_http_request *q = &px->req;
    const char *t = px->target;
    size_t tl = px->target_len;
    moat_buf *b = &px->head;
    int r = 0;
    put(b, q->method, q->method_len, &r);
    put(b, " ", 1, &r);
    if (px->rt->prefix_len && px->be->path[0]) {
        /* The route's prefix becomes the URL's path. */
        size_t pl = strlen(px->be->path), skip = px->rt->prefix_len;
        if (px->be->path[pl - 1] == '/' && skip < tl && t[skip] == '/') skip++;
        if (px->be->path[pl - 1] != '/' && px->rt->prefix[skip - 1] == '/') skip--;
        puts_(b, px->be->path, &r);
        put(b, t + skip, tl - skip, &r);
    } else {
        put(b, t, tl, &r);
    }
    puts_(b, " HTTP/1.1\r\n", &r);
    for (size_t i = 0; i < q->f.nheaders; i++) {
        const moat_http_header *h = &q->f.headers[i];
        int skip = hop_by_hop(&q->f, h) || spoofs_ours(h);
        for (size_t k = 0; !skip && k < sizeof ours / sizeof ours[0]; k++)
            skip = name_is(h, ours[k]);
        if (skip) continue;
        put(b, h->name, h->name_len, &r);
        put(b, ": ", 2, &r);
        put(b, h->value, h->value_len, &r);
        put(b, "\r\n", 2, &r);
    }
    if (!q->host) put_field(b, "Host", px->be->hostport, strlen(px->be->hostport), &r);
    put_field(b, "X-Forwarded-For", addr, strlen(addr), &r);
    puts_(b, "X-Forwarded-Proto: https\r\n", &r);
    if (q->host_len) put_field(b, "X-Forwarded-Host", q->host, q->host_len, &r);
    put_forwarded(b, addr, q->host, q->host_len, &r);
    put_client_cert(b, peer, &r);
    if (px->websocket) {
        puts_(b, "Connection: Upgrade\r\nUpgrade: websocket\r\n", &r);
    } else if (px->req_body.framing == HTTP_BODY_LENGTH) {
        char cl[48];
        snprintf(cl, sizeof cl, "Content-Length: %llu\r\n", (unsigned long long)px->req_body.left);
        puts_(b, cl, &r);
    } else if (px->req_body.framing == HTTP_BODY_CHUNKED) {
        puts_(b, "Transfer-Encoding: chunked\r\n", &r);
    } else if (zero_length(q)) {
        puts_(b, "Content-Length: 0\r\n", &r);
    }
    puts_(b, "\r\n", &r);
    return r;
}

/* ---- backends and their pools */

static void close_fd(struct moat_proxy *px)
{
    if (px->fd < 0) return;
    loop_del(px->el, px->fd);
    close(px->fd);
    px->fd = -1;
}

/* Leaves the backend out for FAIL_MS: every URL of the same address, in
 * every route, since the health is the server's. */
static void mark_down(struct moat_proxy *px, const char *why)
{
    const struct moat_proxy_set *ps = px->ps;
    int64_t until = core_mono_ms() + FAIL_MS;
    for (int i = 0; i < ps->nbackends; i++) {
        struct backend *b = ps->backends[i];
        if (b == px->be ||
            (b->addrlen == px->be->addrlen && !memcmp(&b->addr, &px->be->addr, b->addrlen))) {
            b->down_until = until;
            metrics_gauge(M_BACKEND_UP, (size_t)b->idx, 0, 0);
        }
    }
    px->be->reused_fails = 0;
    fprintf(stderr, "moat serve: proxy: backend %s: %s; left out for %d s\n", px->be->url, why,
            FAIL_MS / 1000);
}

void server_proxy_sweep(struct moat_proxy_set *ps, int64_t now)
{
    if (now < ps->next_pool_sweep) return;
    ps->next_pool_sweep = now + 1000;
    for (int j = 0; j < ps->nbackends; j++) {
        struct backend *b = ps->backends[j];
        int k = 0;
        for (int m = 0; m < b->nidle; m++) {
            char c;
            ssize_t n = recv(b->idle[m], &c, 1, MSG_PEEK | MSG_DONTWAIT);
            int alive = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
            if (alive && now - b->idle_since[m] < ps->idle_ms) {
                b->idle[k] = b->idle[m];
                b->idle_since[k++] = b->idle_since[m];
            } else {
                close(b->idle[m]);
            }
        }
        b->nidle = k;
    }
}

/* An idle connection from be's pool that is still open, or -1. */
static int pool_take(const struct moat_proxy_set *ps, struct backend *be, int64_t now)
{
    while (be->nidle) {
        be->nidle--;
        int fd = be->idle[be->nidle];
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            now - be->idle_since[be->nidle] < ps->idle_ms)
            return fd;
        close(fd);
    }
    return -1;
}

/* The next backend of the route, round-robin, skipping those left out;
 * when all are, the one back soonest. */
static struct backend *choose(struct route *rt, int64_t now)
{
    struct backend *soonest = NULL;
    for (int i = 0; i < rt->nb; i++) {
        struct backend *b = rt->b[rt->rr++ % (unsigned)rt->nb];
        if (b->down_until <= now) return b;
        if (!soonest || b->down_until < soonest->down_until) soonest = b;
    }
    return soonest;
}

static int set_interest(struct moat_proxy *px, uint32_t ev)
{
    if (px->fd < 0) return 0;
    return loop_mod(px->el, px->fd, ev);
}

/* Opens a connection to px->be (or takes one from its pool unless fresh);
 * a backend that refuses at once is left out and the next one tried.
 * Returns 0, or -1 when no connection could even be started. */
static int connect_backend(struct moat_proxy *px, int64_t now, int fresh)
{
    const struct moat_proxy_set *ps = px->ps;
    for (;;) {
        if (px->tries > px->rt->nb) return -1;
        int fd = fresh ? -1 : pool_take(px->ps, px->be, now);
        px->reused = fd >= 0;
        int in_progress = 0;
        if (fd < 0) {
            fd = socket(px->be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) return -1;
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(fd, (struct sockaddr *)&px->be->addr, px->be->addrlen) < 0) {
                if (errno != EINPROGRESS) {
                    close(fd);
                    metrics_count(M_BACKEND_ERRORS, (size_t)px->be->idx, BACKEND_ERR_CONNECT, 1);
                    mark_down(px, strerror(errno));
                    px->tries++;
                    px->be = choose(px->rt, now);
                    fresh = 0;
                    continue;
                }
                in_progress = 1;
            }
        }
        if (loop_add(px->el, fd, EPOLLOUT | (in_progress ? 0 : EPOLLIN), px->fn, px->arg) < 0) {
            close(fd);
            return -1;
        }
        px->fd = fd;
        px->pp_pending = !px->reused; /* a new connection starts with the PROXY header */
        px->pp_off = 0;
        px->state = in_progress ? S_CONNECTING : S_ACTIVE;
        px->deadline = now + (in_progress ? ps->connect_ms : ps->read_ms);
        return 0;
    }
}

static int tunnel_ms(const struct moat_proxy_set *ps)
{
    return ps->tunnel_ms ? ps->tunnel_ms : ps->tunnel_default_ms;
}

/* ---- the exchange */

struct moat_proxy *server_proxy_start(struct moat_proxy_set *ps, const moat_http_request *req,
                                      const uint8_t *buf, size_t len, const char *addr,
                                      const moat_tls *peer, struct evloop *el, loop_fn *fn,
                                      void *arg, int close)
{
    struct moat_proxy *px = calloc(1, sizeof *px);
    if (!px) return NULL;
    px->fd = -1;
    px->ps = ps;
    px->el = el;
    px->fn = fn;
    px->arg = arg;
    px->close = close;
    px->result = MOAT_PROXY_BUSY;
    moat_buf_init(&px->head);
    moat_buf_init(&px->up);
    moat_buf_init(&px->down);
    moat_buf_init(&px->tmp);
    moat_buf_init(&px->dec);
    /* Our own copy of the head, parsed again so req lives in it. */
    const uint8_t *start = (const uint8_t *)req->method;
    size_t off = (size_t)(start - buf), n = 0;
    for (size_t i = off; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            n = i + 4 - off;
            break;
        }
    px->orig = n ? malloc(n) : NULL;
    if (!px->orig ||
        (memcpy(px->orig, start, n), moat_http_parse_request(px->orig, n, &px->req)) <= 0) {
        free(px->orig);
        free(px);
        return NULL;
    }
    px->orig_len = n;
    const moat_http_request *q = &px->req;
    px->is_head = q->method_len == 4 && memcmp(q->method, "HEAD", 4) == 0;
    if (q->f.chunked)
        http_body_init(&px->req_body, HTTP_BODY_CHUNKED, 0);
    else if (q->f.content_length > 0)
        http_body_init(&px->req_body, HTTP_BODY_LENGTH, (uint64_t)q->f.content_length);
    else
        http_body_init(&px->req_body, HTTP_BODY_NONE, 0);
    px->req_done = px->req_body.done;
    http_reader_init(&px->rd, px->is_head);
    if (q->f.minor == 0 || !q->f.keep_alive) px->close = 1;
    const moat_http_header *up = moat_http_find_header(&q->f, "Upgrade");
    px->websocket = up && q->method_len == 3 && memcmp(q->method, "GET", 3) == 0 &&
                    list_has(up->value, up->value_len, "websocket", 9) &&
                    in_connection(&q->f, "upgrade", 7) && px->req_body.framing == HTTP_BODY_NONE;
    const moat_http_header *ex = moat_http_find_header(&q->f, "Expect");
    px->send_continue = ex && px->req_body.framing != HTTP_BODY_NONE && q->f.minor == 1 &&
                        list_has(ex->value, ex->value_len, "100-continue", 12);
    px->target = malloc(q->target_len + 1);
    px->rt = px->target
                 ? find_route(ps, px->target,
                              px->target_len = normalise(q->target, q->target_len, px->target))
                 : NULL;
    px->state = S_ERROR;
    if (!px->target) {
        px->err_status = 500;
    } else if (!px->rt) {
        px->err_status = 404; /* --proxy-only and no route for this path */
    } else if (px->target_len == 0 || px->target[0] != '/' ||
               moat_http_path_escapes(px->target, path_len(px->target, px->target_len),
                                      px->rt->prefix_len != 0)) {
        /* What is forwarded must not climb out of its route at a backend
         * that decodes and resolves it: behind a prefix, no dot segment,
         * encoded separator, backslash, ';' or "//"; the fallback route,
         * which owns the backend's whole tree, no dot segment. */
        px->err_status = 400;
    } else {
        px->be = choose(px->rt, core_mono_ms());
        if (build_request(px, addr, peer) < 0 ||
            moat_buf_append(&px->up, px->head.base, px->head.len) < 0)
            px->err_status = 500;
        else if (connect_backend(px, core_mono_ms(), 0) < 0)
            px->err_status = 502;
    }
    if (px->state == S_ERROR && !px->err_status) px->err_status = 502;
    if (px->err_status == 502)
        fprintf(stderr, "moat serve: proxy: %.*s %.*s: no backend could be reached (502)\n",
                (int)q->method_len, q->method, (int)q->target_len, q->target);
    return px;
}

/* Sends plaintext to the client: encrypted by tls, or, with no tls (an
 * HTTP/2 stream, which frames it itself: h2.c), as it is. */
static int to_client(moat_tls *tls, moat_buf *out, const void *p, size_t n)
{
    if (!n) return 0;
    return tls ? moat_tls_send(tls, out, p, n) : moat_buf_append(out, p, n);
}

/* Answers with an error page of ours; the connection then ends. */
static int fail(struct moat_proxy *px, moat_tls *tls, moat_buf *out, int status, const char *why)
{
    if (why)
        fprintf(stderr, "moat serve: proxy: %.*s %.*s -> %s: %s (%s%d)\n", (int)px->req.method_len,
                px->req.method, (int)px->req.target_len, px->req.target, px->be ? px->be->url : "-",
                why, px->head_sent ? "response cut short after " : "",
                px->head_sent ? px->status : status);
    close_fd(px);
    px->state = S_END;
    px->backend_keep = 0;
    if (px->head_sent) {
        /* Too late for an error page: cut the response short. */
        px->result = MOAT_PROXY_ABORT;
        return px->result;
    }
    moat_buf_clear(&px->tmp);
    int n = server_error(&px->tmp, status, px->is_head, 1);
    px->status = status;
    px->bytes = n;
    px->head_sent = 1;
    px->result =
        to_client(tls, out, px->tmp.base, px->tmp.len) < 0 ? MOAT_PROXY_ABORT : MOAT_PROXY_CLOSE;
    return px->result;
}

/* Appends one chunk of n bytes to up (RFC 9112 7.1). */
static int up_chunk(struct moat_proxy *px, const uint8_t *p, size_t n)
{
    char sz[24];
    int k = snprintf(sz, sizeof sz, "%zx\r\n", n);
    if (moat_buf_append(&px->up, sz, (size_t)k) < 0 || moat_buf_append(&px->up, p, n) < 0 ||
        moat_buf_append(&px->up, "\r\n", 2) < 0)
        return -1;
    return 0;
}

/* Moves request body bytes from in to up, re-framed: a Content-Length
 * body as it is, a chunked one decoded, counted against --max-body-size
 * and chunked again; after a 101, whatever comes. Returns 0, -1 out of
 * memory, -2 malformed chunked body, -3 over --max-body-size. */
static int fill_up(struct moat_proxy *px, moat_buf *in, int *progress)
{
    const struct moat_proxy_set *ps = px->ps;
    http_body *b = &px->req_body;
    while (!px->req_done && in->len && px->up.len < UP_MAX) {
        if (px->state == S_TUNNEL) {
            size_t n = in->len < UP_MAX ? in->len : UP_MAX;
            if (moat_buf_append(&px->up, in->base, n) < 0) return -1;
            moat_buf_consume(in, n);
            *progress = 1;
            continue;
        }
        size_t n = in->len;
        if (n > (b->framing == HTTP_BODY_CHUNKED ? READ_CHUNK : UP_MAX))
            n = b->framing == HTTP_BODY_CHUNKED ? READ_CHUNK : UP_MAX;
        http_piece p;
        int r = http_body_feed(b, in->base, n, &px->tmp, &p);
        if (r == HTTP_BODY_BAD) return -2; /* malformed chunked body: never forwarded */
        if (r < 0) return -1;
        if (b->framing == HTTP_BODY_CHUNKED) {
            moat_buf_consume(in, p.used);           /* p.data is in px->tmp */
            if (b->total > ps->max_body) return -3; /* the rest is never forwarded */
            if (p.len && up_chunk(px, p.data, p.len) < 0) return -1;
            if (r == HTTP_BODY_END && moat_buf_append(&px->up, "0\r\n\r\n", 5) < 0) return -1;
        } else {
            if (moat_buf_append(&px->up, p.data, p.len) < 0) return -1; /* p.data is in in */
            moat_buf_consume(in, p.used);
        }
        px->req_done = b->done;
        if (!p.used && !r) break;
        *progress = 1;
    }
    return 0;
}

/* Builds and sends the client's response head. */
static int send_head(struct moat_proxy *px, moat_tls *tls, moat_buf *out,
                     const moat_http_response *rs)
{
    moat_buf *b = &px->tmp;
    moat_buf_clear(b);
    int r = 0;
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", rs->status);
    puts_(b, line, &r);
    put(b, rs->reason, rs->reason_len, &r);
    put(b, "\r\n", 2, &r);
    int nobody = px->is_head || rs->status == 204 || rs->status == 304 || rs->status == 101;
    /* --hsts covers proxied answers too, unless the application set its own. */
    long hsts = server_hsts();
    if (hsts >= 0 && !moat_http_find_header(&rs->f, "Strict-Transport-Security")) {
        snprintf(line, sizeof line, "Strict-Transport-Security: max-age=%ld\r\n", hsts);
        puts_(b, line, &r);
    }
    for (size_t i = 0; i < rs->f.nheaders; i++) {
        const moat_http_header *h = &rs->f.headers[i];
        /* HEAD and 304 keep the length they describe. */
        if (nobody && rs->status != 101 && name_is(h, "content-length")) {
            put_field(b, "Content-Length", h->value, h->value_len, &r);
            continue;
        }
        if (hop_by_hop(&rs->f, h)) continue;
        put(b, h->name, h->name_len, &r);
        put(b, ": ", 2, &r);
        put(b, h->value, h->value_len, &r);
        put(b, "\r\n", 2, &r);
    }
    if (rs->status == 101) {
        puts_(b, "Connection: Upgrade\r\nUpgrade: websocket\r\n", &r);
    } else {
        if (px->rd.body.framing == HTTP_BODY_LENGTH) {
            snprintf(line, sizeof line, "Content-Length: %llu\r\n",
                     (unsigned long long)px->rd.body.left);
            puts_(b, line, &r);
        } else if (px->rd.body.framing != HTTP_BODY_NONE) {
            if (px->req.f.minor == 1)
                px->out_chunked = 1;
            else
                px->close = 1; /* HTTP/1.0: the end of the connection ends the body */
            if (px->out_chunked) puts_(b, "Transfer-Encoding: chunked\r\n", &r);
        }
        if (px->close) puts_(b, "Connection: close\r\n", &r);
    }
    puts_(b, "\r\n", &r);
    if (r) return r;
    px->head_sent = 1;
    px->status = rs->status;
    return to_client(tls, out, b->base, b->len);
}

/* Sends response body bytes to the client, chunked when we re-frame. */
static int body_out(struct moat_proxy *px, moat_tls *tls, moat_buf *out, const uint8_t *p, size_t n)
{
    if (!n) return 0;
    px->bytes += (long long)n;
    if (!px->out_chunked) return to_client(tls, out, p, n);
    moat_buf c;
    moat_buf_init(&c);
    char sz[24];
    int k = snprintf(sz, sizeof sz, "%zx\r\n", n);
    int r = moat_buf_append(&c, sz, (size_t)k);
    r = r ? r : moat_buf_append(&c, p, n);
    r = r ? r : moat_buf_append(&c, "\r\n", 2);
    r = r ? r : to_client(tls, out, c.base, c.len);
    moat_buf_free(&c);
    return r;
}

static int end_body(struct moat_proxy *px, moat_tls *tls, moat_buf *out)
{
    px->resp_done = 1;
    return px->out_chunked ? to_client(tls, out, "0\r\n\r\n", 5) : 0;
}

/* The backend's response head, once it is all here: interim ones
 * dropped (ours were sent already), the final one sent on re-framed.
 * Returns 1 when it took bytes, 0 for more, -1 to fail (with *why). */
static int down_head(struct moat_proxy *px, moat_tls *tls, moat_buf *out, const char **why)
{
    moat_http_response rs;
    size_t n;
    int h = http_reader_head(&px->rd, px->down.base, px->down.len, &rs, &n);
    if (h == HTTP_HEAD_BAD) {
        *why = "malformed response head";
        return -1;
    }
    if (h == HTTP_HEAD_MORE) return 0;
    if (h == HTTP_HEAD_INTERIM) {
        moat_buf_consume(&px->down, n);
        return 1;
    }
    if (rs.status == 101 && !px->websocket) {
        *why = "101 to a request that asked for no upgrade";
        return -1;
    }
    px->backend_keep =
        rs.f.keep_alive && px->rd.body.framing != HTTP_BODY_CLOSE && rs.status != 101;
    if (rs.status == 101) px->close = 1;
    metrics_gauge(M_BACKEND_UP, (size_t)px->be->idx, 0, 1);
    if (send_head(px, tls, out, &rs) < 0) return -1;
    moat_buf_consume(&px->down, n);
    if (rs.status == 101) {
        px->state = S_TUNNEL;
        px->req_done = 0;
    } else if (px->rd.body.done) {
        px->resp_done = 1;
        if (px->down.len) px->backend_keep = 0; /* more than it said */
    }
    return 1;
}

/* Response body bytes from the backend to the client. Returns 1 when it
 * took bytes, 0 for more, -1 to fail (with *why, or out of memory). */
static int down_body(struct moat_proxy *px, moat_tls *tls, moat_buf *out, const char **why)
{
    http_piece p;
    int r = http_body_feed(&px->rd.body, px->down.base, px->down.len, &px->dec, &p);
    if (r >= 0 && body_out(px, tls, out, p.data, p.len) < 0) return -1;
    if (r == HTTP_BODY_BAD) *why = "malformed chunked response body";
    if (r < 0) return -1;
    moat_buf_consume(&px->down, p.used);
    if (r == HTTP_BODY_END) {
        if (end_body(px, tls, out) < 0) return -1;
        if (px->down.len) px->backend_keep = 0; /* more than it said */
    }
    return p.used ? 1 : 0;
}

/* Handles what the backend sent. Returns 0, or a negative error for fail. */
static int handle_down(struct moat_proxy *px, moat_tls *tls, moat_buf *out, const char **why)
{
    while (px->down.len && !px->resp_done) {
        if (px->state == S_TUNNEL) {
            if (to_client(tls, out, px->down.base, px->down.len) < 0) return -1;
            px->bytes += (long long)px->down.len;
            moat_buf_clear(&px->down);
            return 0;
        }
        int r = px->head_sent ? down_body(px, tls, out, why) : down_head(px, tls, out, why);
        if (r <= 0) return r;
    }
    return 0;
}

#define GO_ON (-1) /* a step of the pump: carry on */
#define RETRY (-2) /* a new connection was started: the next round */

/* The exchange is over and the client connection ends with it. */
static int end_close(struct moat_proxy *px)
{
    close_fd(px);
    px->state = S_END;
    px->result = MOAT_PROXY_CLOSE;
    return px->result;
}

/* S_CONNECTING: whether the connection was made; a refused one leaves the
 * backend out and tries the next. Returns GO_ON, RETRY, or a result. */
static int step_connect(struct moat_proxy *px, moat_tls *tls, moat_buf *out, int64_t now,
                        int *moved)
{
    struct pollfd pf = {.fd = px->fd, .events = POLLOUT};
    if (poll(&pf, 1, 0) <= 0) return GO_ON;
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(px->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        close_fd(px);
        metrics_count(M_BACKEND_ERRORS, (size_t)px->be->idx, BACKEND_ERR_CONNECT, 1);
        mark_down(px, strerror(err));
        px->tries++;
        px->be = choose(px->rt, now);
        if (connect_backend(px, now, 0) < 0) return fail(px, tls, out, 502, strerror(err));
        return RETRY;
    }
    px->state = S_ACTIVE;
    *moved = 1;
    return GO_ON;
}

/* Sends what waits for the backend. Returns NULL, or why it failed. */
static const char *send_up(struct moat_proxy *px, int *moved)
{
    while (px->pp_pending && px->pp_len) { /* --proxy-send-proxy, before the request */
        ssize_t n = send(px->fd, px->pp + px->pp_off, px->pp_len - px->pp_off, MSG_NOSIGNAL);
        if (n > 0) {
            px->pp_off += (size_t)n;
            if (px->pp_off == px->pp_len) px->pp_pending = 0;
            *moved = 1;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return NULL;
        return n < 0 ? strerror(errno) : "closed";
    }
    while (px->up.len) {
        ssize_t n = send(px->fd, px->up.base, px->up.len, MSG_NOSIGNAL);
        if (n > 0) {
            moat_buf_consume(&px->up, (size_t)n);
            *moved = 1;
            px->up_sent += (uint64_t)n;
            if (px->up_sent > px->head.len) px->sent_body = 1;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return n < 0 ? strerror(errno) : "closed";
    }
    return NULL;
}

/* The backend closed (or failed: err): the end of a tunnel or of a
 * close-delimited body, a pooled connection to try again, or a failure
 * (*why). Returns GO_ON or a result. */
static int backend_closed(struct moat_proxy *px, moat_tls *tls, moat_buf *out, int64_t now,
                          const char *err, int *moved, const char **why)
{
    if (px->state == S_TUNNEL) return end_close(px);
    if (px->head_sent && px->rd.body.framing == HTTP_BODY_CLOSE) {
        if (end_body(px, tls, out) < 0) return fail(px, tls, out, 500, "out of memory");
        px->backend_keep = 0;
        return GO_ON;
    }
    /* Twice in a row a pooled connection closed under a request: the
     * backend is restarting or failing. */
    if (px->reused && !px->got_bytes && ++px->be->reused_fails >= 2)
        mark_down(px, "closed pooled connections twice before answering");
    if (px->reused && !px->got_bytes && !px->sent_body && px->req_body.framing == HTTP_BODY_NONE &&
        idempotent(&px->req)) {
        /* A pooled connection the backend had closed: once more on a new
         * one. Only an idempotent request: the backend may have acted on
         * it before it closed (RFC 9110 9.2.2). */
        close_fd(px);
        moat_buf_clear(&px->up);
        px->up_sent = 0;
        if (moat_buf_append(&px->up, px->head.base, px->head.len) < 0 ||
            connect_backend(px, now, 1) < 0)
            return fail(px, tls, out, 502, "cannot reconnect");
        *moved = 1;
        return GO_ON;
    }
    *why = err ? err : "closed the connection early";
    return GO_ON;
}

/* Reads the backend while the client keeps up, and hands on what came.
 * Returns GO_ON (with *why on a failure) or a result. */
static int read_down(struct moat_proxy *px, moat_tls *tls, moat_buf *out, int64_t now, int *moved,
                     const char **why)
{
    /* Read on the stack, kept in px->down only as far as it filled: a
     * small response then costs a small buffer, not 16 KB allocated,
     * faulted in and wiped for each request. */
    uint8_t chunk[READ_CHUNK];
    while (!px->resp_done && out->len < OUT_MAX) {
        ssize_t n = recv(px->fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            if (moat_buf_append(&px->down, chunk, (size_t)n) < 0) {
                moat_wipe(chunk, (size_t)n);
                return fail(px, tls, out, 500, "out of memory");
            }
            moat_wipe(chunk, (size_t)n);
            px->got_bytes = 1;
            px->be->reused_fails = 0;
            *moved = 1;
            if (handle_down(px, tls, out, why) < 0)
                return fail(px, tls, out, 502, *why ? *why : "out of memory");
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return backend_closed(px, tls, out, now, n < 0 ? strerror(errno) : NULL, moved, why);
    }
    return GO_ON;
}

/* Nothing moves now: the client gone mid-request, a tunnel idle, a
 * timeout, or else the events to wait for. Returns a result. */
static int wait_more(struct moat_proxy *px, moat_tls *tls, moat_buf *in, moat_buf *out,
                     int peer_done, int64_t now)
{
    if (peer_done && !px->req_done && !in->len && px->state != S_TUNNEL)
        return fail(px, tls, out, 400, "the client went away mid-request");
    if (now >= px->deadline && px->state == S_TUNNEL) {
        /* An upgraded connection quiet both ways: no 504 (the 101 went
         * long ago), just the end of it, with close_notify. */
        fprintf(stderr, "moat serve: proxy: %.*s %.*s -> %s: tunnel idle for %d s, closed\n",
                (int)px->req.method_len, px->req.method, (int)px->req.target_len, px->req.target,
                px->be->url, tunnel_ms(px->ps) / 1000);
        return end_close(px);
    }
    if (now >= px->deadline) {
        metrics_count(M_BACKEND_ERRORS, (size_t)px->be->idx, BACKEND_ERR_TIMEOUT, 1);
        /* Passive health check: a backend that lets a request time out
         * is left out a while, like one that refuses connections. */
        mark_down(px, px->state == S_CONNECTING ? "did not accept the connection in time"
                                                : "did not answer in time");
        return fail(px, tls, out, 504,
                    px->state == S_CONNECTING ? "connect timed out" : "timed out");
    }
    uint32_t ev = 0;
    if (px->state == S_CONNECTING || px->up.len) ev |= EPOLLOUT;
    if (px->state != S_CONNECTING && out->len < OUT_MAX) ev |= EPOLLIN;
    if (set_interest(px, ev) < 0) return fail(px, tls, out, 502, "epoll");
    return MOAT_PROXY_BUSY;
}

int server_proxy_pump(struct moat_proxy *px, moat_tls *tls, moat_buf *in, moat_buf *out,
                      int peer_done, int64_t now, int *progress)
{
    struct moat_proxy_set *ps = px->ps;
    if (px->result != MOAT_PROXY_BUSY) return px->result;
    server_proxy_sweep(ps, now);
    if (px->state == S_ERROR) return fail(px, tls, out, px->err_status, NULL);
    if (px->send_continue) {
        px->send_continue = 0;
        if (to_client(tls, out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
            return fail(px, tls, out, 500, "out of memory");
    }
    for (int round = 0; round < 8; round++) {
        int moved = 0, r;
        const char *why = NULL;
        if (px->state == S_CONNECTING && (r = step_connect(px, tls, out, now, &moved)) != GO_ON) {
            if (r == RETRY) continue;
            return r;
        }
        r = fill_up(px, in, &moved);
        if (r == -2) return fail(px, tls, out, 400, "malformed chunked request body");
        if (r == -3) return fail(px, tls, out, 413, "chunked request body over --max-body-size");
        if (r < 0) return fail(px, tls, out, 500, "out of memory");
        if (px->state == S_ACTIVE || px->state == S_TUNNEL) {
            why = send_up(px, &moved);
            if (!why && (r = read_down(px, tls, out, now, &moved, &why)) != GO_ON) return r;
            if (why) {
                metrics_count(M_BACKEND_ERRORS, (size_t)px->be->idx, BACKEND_ERR_RESPONSE, 1);
                if (!px->head_sent && !px->reused) mark_down(px, why);
                return fail(px, tls, out, 502, why);
            }
        }
        if (px->state == S_TUNNEL && peer_done && !in->len && !px->up.len) return end_close(px);
        if (moved) {
            *progress = 1;
            px->deadline = now + (px->state == S_CONNECTING ? ps->connect_ms
                                  : px->state == S_TUNNEL   ? tunnel_ms(ps)
                                                            : ps->read_ms);
        }
        if (px->resp_done) {
            if (!px->req_done) {
                /* Answered before the request body was all here: the rest
                 * cannot be told from a next request, so both ends go. */
                px->backend_keep = 0;
                px->close = 1;
            }
            px->result = px->close ? MOAT_PROXY_CLOSE : MOAT_PROXY_DONE;
            return px->result;
        }
        if (!moved) break;
    }
    return wait_more(px, tls, in, out, peer_done, now);
}

void server_proxy_result(const struct moat_proxy *px, moat_http_request *req,
                         struct moat_resp *resp)
{
    *req = px->req;
    resp->status = px->status ? px->status : 502;
    resp->bytes = px->bytes;
}

void server_proxy_free(struct moat_proxy *px)
{
    if (!px) return;
    if (px->fd >= 0 && px->backend_keep && px->resp_done && px->req_done && !px->up.len &&
        !px->down.len && px->be->nidle < POOL_MAX) {
        loop_del(px->el, px->fd);
        px->be->idle[px->be->nidle] = px->fd;
        px->be->idle_since[px->be->nidle++] = core_mono_ms();
        px->fd = -1;
    }
    close_fd(px);
    free(px->orig);
    free(px->target);
    moat_buf_free(&px->head);
    moat_buf_free(&px->up);
    moat_buf_free(&px->down);
    moat_buf_free(&px->tmp);
    moat_buf_free(&px->dec);
    free(px);
}

size_t server_proxy_backend_names(const struct moat_proxy_set *ps, const char **names, size_t max)
{
    size_t n = 0;
    for (int i = 0; ps && i < ps->nbackends && n < max; i++)
        names[n++] = ps->backends[i]->url;
    return n;
}
