/* moat serve: command-line options, TLS configuration and the listening
 * socket; then hands over to the event loop (loop.c). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/ca.h"
#include "server/server.h"

#define MAX_CERTS 16

static const char usage[] =
    "usage: moat serve DIR [--listen [ADDR:]PORT] [--cert FILE --key FILE]...\n"
    "                      [--ciphers LIST] [--groups LIST]\n";

struct opts {
    const char *dir;
    const char *listen;
    const char *certs[MAX_CERTS];
    const char *keys[MAX_CERTS];
    int ncerts, nkeys;
    const char *ciphers;
    const char *groups;
};

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("moat serve: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return 2;
}

/* "--name VALUE" or "--name=VALUE". Returns the value and advances *i, or
 * NULL when argv[*i] is not this option. *missing is set when the value is
 * absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if ((v = opt_value(argc, argv, &i, "--listen", &missing))) {
            o->listen = v;
        } else if ((v = opt_value(argc, argv, &i, "--cert", &missing))) {
            if (o->ncerts >= MAX_CERTS) return fail_usage("too many --cert (at most %s)", "16");
            o->certs[o->ncerts++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--key", &missing))) {
            if (o->nkeys >= MAX_CERTS) return fail_usage("too many --key (at most %s)", "16");
            o->keys[o->nkeys++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--ciphers", &missing))) {
            o->ciphers = v;
        } else if ((v = opt_value(argc, argv, &i, "--groups", &missing))) {
            o->groups = v;
        } else if (missing) {
            return fail_usage("%s needs a value", a);
        } else if (a[0] == '-' && a[1] != '\0') {
            return fail_usage("unknown option %s", a);
        } else if (o->dir) {
            return fail_usage("one DIR only (got a second: %s)", a);
        } else {
            o->dir = a;
        }
    }
    if (!o->dir) return fail_usage("%s", "missing DIR, the directory to serve");
    if (o->ncerts != o->nkeys)
        return fail_usage("%s", "each --cert FILE needs its --key FILE, in the same order");
    return 0;
}

/* Parses a comma-separated list of names with `lookup` into ids. */
static int parse_list(const char *list, uint16_t (*lookup)(const char *), uint16_t *ids, size_t max,
                      size_t *n, const char *what)
{
    char buf[512];
    if (strlen(list) >= sizeof buf) return fail_usage("%s list too long", what);
    strcpy(buf, list);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint16_t id = lookup(tok);
        if (!id) {
            fprintf(stderr, "moat serve: unknown %s '%s'\n", what, tok);
            return 2;
        }
        if (*n >= max) {
            fprintf(stderr, "moat serve: at most %zu in --%s\n", max,
                    strcmp(what, "group") == 0 ? "groups" : "ciphers");
            return 2;
        }
        ids[(*n)++] = id;
    }
    if (*n == 0) return fail_usage("empty %s list", what);
    return 0;
}

static int configure_tls(struct opts *o, moat_tls_config *cfg)
{
    char err[512];
    const char *cert[MAX_CERTS], *key[MAX_CERTS];
    int n = o->ncerts;
    char cpath[4096], kpath[4096];
    for (int i = 0; i < n; i++) {
        cert[i] = o->certs[i];
        key[i] = o->keys[i];
    }
    if (n == 0) {
        /* No certificate given: one for localhost from the user's own CA. */
        if (moat_ca_localhost_cert(cpath, sizeof cpath, kpath, sizeof kpath, err, sizeof err) < 0) {
            fprintf(stderr, "moat serve: no --cert given and no localhost certificate: %s\n", err);
            return 2;
        }
        cert[0] = cpath;
        key[0] = kpath;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        err[0] = '\0';
        if (moat_tls_config_add_cert_file(cfg, cert[i], key[i], err, sizeof err) < 0) {
            fprintf(stderr, "moat serve: %s\n", err[0] ? err : "cannot load certificate");
            return 2;
        }
    }
    uint16_t ids[3];
    size_t nids;
    int r;
    if (o->ciphers) {
        if ((r = parse_list(o->ciphers, moat_tls_cipher_from_name, ids, 3, &nids, "cipher suite")))
            return r;
        if (moat_tls_config_set_ciphers(cfg, ids, nids) < 0)
            return fail_usage("cannot use --ciphers %s", o->ciphers);
    }
    if (o->groups) {
        if ((r = parse_list(o->groups, moat_tls_group_from_name, ids, 3, &nids, "group"))) return r;
        if (moat_tls_config_set_groups(cfg, ids, nids) < 0)
            return fail_usage("cannot use --groups %s", o->groups);
    }
    static const char *const alpn[] = {"http/1.1"};
    moat_tls_config_set_alpn(cfg, alpn, 1);
    const char *keylog = getenv("SSLKEYLOGFILE");
    if (keylog && *keylog && moat_tls_config_set_keylog_file(cfg, keylog) < 0) {
        fprintf(stderr, "moat serve: cannot open SSLKEYLOGFILE %s\n", keylog);
        return 2;
    }
    return 0;
}

/* Splits "[v6]:PORT", "HOST:PORT" or "PORT" (meaning 127.0.0.1:PORT). */
static int split_listen(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(spec, ':');
    if (!colon) {
        snprintf(host, hlen, "127.0.0.1");
        snprintf(port, plen, "%s", spec);
    } else if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close + 1 != colon || (size_t)(close - spec - 1) >= hlen) return -1;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        snprintf(port, plen, "%s", colon + 1);
    } else {
        if ((size_t)(colon - spec) >= hlen || memchr(spec, ':', (size_t)(colon - spec))) return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        snprintf(port, plen, "%s", colon + 1);
    }
    if (!*host || !*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
        atoi(port) > 65535)
        return -1;
    return 0;
}

/* Opens the listening socket. Returns the fd, or -1 with a message. */
static int open_listener(const char *host, const char *port, int *bound_port)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r) {
        fprintf(stderr, "moat serve: cannot listen on %s: %s\n", host, gai_strerror(r));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "moat serve: cannot listen on %s port %s: %s\n", host, port, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
    *bound_port = atoi(port);
    if (getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        *bound_port = atoi(pbuf);
    return fd;
}

int moat_serve_main(int argc, char **argv)
{
    struct opts o = {0};
    int r = parse_opts(argc, argv, &o);
    if (r) return r == 1 ? 0 : r;

    static struct moat_server s; /* PATH_MAX buffers: not on the stack */
    memset(&s, 0, sizeof s);
    struct stat st;
    if (stat(o.dir, &st) < 0 || !realpath(o.dir, s.root)) {
        fprintf(stderr, "moat serve: %s: %s\n", o.dir, strerror(errno));
        return 2;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "moat serve: %s is not a directory\n", o.dir);
        return 2;
    }
    s.root_len = strlen(s.root);

    char host[256], port[16];
    const char *spec = o.listen ? o.listen : "127.0.0.1:8443";
    if (split_listen(spec, host, sizeof host, port, sizeof port) < 0)
        return fail_usage("bad --listen %s (want ADDR:PORT, [IPv6]:PORT or PORT)", spec);

    s.cfg = moat_tls_config_new();
    if (!s.cfg) {
        fprintf(stderr, "moat serve: cannot set up TLS (libcrypto lacks an algorithm?)\n");
        return 1;
    }
    if ((r = configure_tls(&o, s.cfg))) {
        moat_tls_config_free(s.cfg);
        return r;
    }

    int bound_port = 0;
    s.lfd = open_listener(host, port, &bound_port);
    s.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s.lfd < 0 || s.epfd < 0) {
        if (s.epfd < 0) perror("moat serve: epoll_create1");
        if (s.lfd >= 0) close(s.lfd);
        moat_tls_config_free(s.cfg);
        return 1;
    }
    s.handshake_timeout_ms = 10 * 1000;
    s.idle_timeout_ms = 60 * 1000;
    s.max_conns = 4096;

    int v6 = strchr(host, ':') != NULL;
    printf("moat: serving %s on https://%s%s%s:%d/\n", o.dir, v6 ? "[" : "", host, v6 ? "]" : "",
           bound_port);
    fflush(stdout);

    r = moat_server_run(&s);
    close(s.lfd);
    close(s.epfd);
    moat_tls_config_free(s.cfg);
    return r;
}
