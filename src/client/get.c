/* moat get: command-line options and the TLS configuration of the client;
 * the transfer itself is in fetch.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "core/exit.h"
#include "core/file.h"
#include "crypto/crypto.h"

static const char usage[] =
    "usage: moat get URL [options]\n"
    "  -o FILE, -O            write the body to FILE, or to the URL's last segment\n"
    "  -i, -I                 include the response head; HEAD request\n"
    "  -X METHOD, -H 'N: v'   request method; extra header (repeatable)\n"
    "  -d DATA, --data-binary @FILE   POST a body (-d @FILE strips newlines)\n"
    "  -L, -f, -s, -v         follow redirects (20 at most); exit 22 on >= 400; silent; verbose\n"
    "  --explain              narrate the TLS handshake of this connection\n"
    "  -w FORMAT              after the transfer print FORMAT: %{http_code} %{time_total} ...\n"
    "  --resolve HOST:PORT:ADDR, --connect-timeout S, -m S\n"
    "  --cacert FILE, --capath DIR, --crl FILE, -k (no verification: insecure)\n"
    "  --tls-group NAME, --ciphers LIST, --session FILE, --cert FILE --key FILE\n";

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("moat get: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return GET_EXIT_USAGE;
}

/* "--name VALUE" or "--name=VALUE" (or "-m VALUE"). */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=' && name[1] == '-') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int seconds(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0) || d > 1e6) return -1;
    *out = d;
    return 0;
}

/* Short flags may be bundled: -sSkv. Returns 0, or 2 on an unknown one. */
static int short_flags(const char *a, struct moat_get_opts *o)
{
    for (const char *p = a + 1; *p; p++) {
        switch (*p) {
        case 'k':
            o->insecure = 1;
            break;
        case 'i':
            o->include = 1;
            break;
        case 'I':
            o->head = 1;
            break;
        case 's':
            o->silent = 1;
            break;
        case 'S':
            break; /* curl's show-errors: ours always show */
        case 'v':
            o->verbose = 1;
            break;
        case 'L':
            o->follow = 1;
            break;
        case 'f':
            o->fail = 1;
            break;
        case 'O':
            o->remote_name = 1;
            break;
        default:
            return fail_usage("unknown option %s", a);
        }
    }
    return 0;
}

/* Appends a whole file (or stdin for "-") to b: any kind of file (a
 * pipe too), as large as memory allows. Returns 0, or -1 with errno. */
static int read_file(const char *path, moat_buf *b)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    uint8_t *p = core_read_fd(fd, SIZE_MAX / 4, &n);
    int e = errno;
    if (fd != 0) close(fd);
    int r = p && moat_buf_append(b, p, n) == 0 ? 0 : -1;
    free(p);
    errno = e;
    return r;
}

/* -d DATA / -d @FILE (newlines dropped, as curl) / --data-binary. Several
 * are joined with '&'. Returns 0, or 26 when FILE cannot be read. */
static int add_data(struct moat_get_opts *o, const char *v, int binary)
{
    if (o->has_data && o->data.len && moat_buf_append(&o->data, "&", 1) < 0)
        return GET_EXIT_READ_ERROR;
    o->has_data = 1;
    if (!binary) o->data_form = 1;
    if (v[0] != '@') return moat_buf_append(&o->data, v, strlen(v)) < 0 ? GET_EXIT_READ_ERROR : 0;
    size_t at = o->data.len;
    if (read_file(v + 1, &o->data) < 0) {
        fprintf(stderr, "moat: cannot read %s: %s\n", v + 1, strerror(errno));
        return GET_EXIT_READ_ERROR;
    }
    if (!binary) {
        size_t w = at;
        for (size_t i = at; i < o->data.len; i++)
            if (o->data.base[i] != '\r' && o->data.base[i] != '\n')
                o->data.base[w++] = o->data.base[i];
        o->data.len = w;
    }
    return 0;
}

/* --resolve HOST:PORT:ADDR with HOST read as a URL's host is (café.test
 * as its A-labels, 127.1 as 127.0.0.1), so it matches the URL's. */
static int canonical_resolve(struct moat_get_opts *o, const char *colon)
{
    static char spec[1400];
    char url[600], err[512];
    struct moat_url u;
    size_t hl = (size_t)(colon - o->resolve);
    if (hl > 500) return -1;
    snprintf(url, sizeof url, "https://%.*s/", (int)hl, o->resolve);
    if (moat_url_parse(url, &u, err, sizeof err) || strchr(u.host, ':')) return -1;
    if ((size_t)snprintf(spec, sizeof spec, "%s%s", u.host, colon) >= sizeof spec) return -1;
    o->resolve = spec;
    return 0;
}

static int parse_opts(int argc, char **argv, struct moat_get_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0, r;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if ((v = opt_value(argc, argv, &i, "--cacert", &missing))) {
            o->cacert = v;
        } else if ((v = opt_value(argc, argv, &i, "--capath", &missing))) {
            o->capath = v;
        } else if ((v = opt_value(argc, argv, &i, "--crl", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--crlfile", &missing))) {
            o->crl = v;
        } else if ((v = opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--output", &missing))) {
            o->output = v;
        } else if ((v = opt_value(argc, argv, &i, "--resolve", &missing))) {
            o->resolve = v;
        } else if ((v = opt_value(argc, argv, &i, "--tls-group", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--curves", &missing))) {
            o->groups = v;
        } else if ((v = opt_value(argc, argv, &i, "--ciphers", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--tls13-ciphers", &missing))) {
            o->ciphers = v;
        } else if ((v = opt_value(argc, argv, &i, "--session", &missing))) {
            o->session = v;
        } else if ((v = opt_value(argc, argv, &i, "--cert", &missing)) ||
                   (v = opt_value(argc, argv, &i, "-E", &missing))) {
            o->cert = v;
        } else if ((v = opt_value(argc, argv, &i, "--key", &missing))) {
            o->key = v;
        } else if ((v = opt_value(argc, argv, &i, "-X", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--request", &missing))) {
            for (const char *c = v; *c; c++)
                if (*c <= ' ' || *c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *c))
                    return fail_usage("bad method %s", v);
            if (!*v) return fail_usage("%s", "empty method");
            o->method = v;
        } else if ((v = opt_value(argc, argv, &i, "-H", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--header", &missing))) {
            const char *c = strchr(v, ':');
            if (!c || c == v || strpbrk(v, "\r\n"))
                return fail_usage("bad header '%s' (want 'Name: value')", v);
            if (o->nheaders == MOAT_GET_MAX_HEADERS) return fail_usage("too many -H (%s)", v);
            o->headers[o->nheaders++] = v;
        } else if ((v = opt_value(argc, argv, &i, "-d", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--data", &missing))) {
            if ((r = add_data(o, v, 0))) return r;
        } else if ((v = opt_value(argc, argv, &i, "--data-binary", &missing))) {
            if ((r = add_data(o, v, 1))) return r;
        } else if ((v = opt_value(argc, argv, &i, "-w", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--write-out", &missing))) {
            o->writeout = v;
        } else if ((v = opt_value(argc, argv, &i, "--connect-timeout", &missing))) {
            if (seconds(v, &o->connect_timeout) < 0)
                return fail_usage("bad --connect-timeout %s (seconds, more than 0)", v);
        } else if ((v = opt_value(argc, argv, &i, "-m", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--max-time", &missing))) {
            if (seconds(v, &o->max_time) < 0)
                return fail_usage("bad -m %s (seconds, more than 0)", v);
        } else if (missing) {
            return fail_usage("%s needs a value", a);
        } else if (strcmp(a, "--insecure") == 0) {
            o->insecure = 1;
        } else if (strcmp(a, "--include") == 0) {
            o->include = 1;
        } else if (strcmp(a, "--head") == 0) {
            o->head = 1;
        } else if (strcmp(a, "--silent") == 0) {
            o->silent = 1;
        } else if (strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "--explain") == 0) {
            o->explain = 1;
        } else if (strcmp(a, "--location") == 0) {
            o->follow = 1;
        } else if (strcmp(a, "--fail") == 0) {
            o->fail = 1;
        } else if (strcmp(a, "--remote-name") == 0) {
            o->remote_name = 1;
        } else if (a[0] == '-' && a[1] != '-' && a[1] != '\0') {
            r = short_flags(a, o);
            if (r) return r;
        } else if (a[0] == '-' && a[1] != '\0') {
            return fail_usage("unknown option %s", a);
        } else if (o->url) {
            return fail_usage("one URL only (got a second: %s)", a);
        } else {
            o->url = a;
        }
    }
    if (!o->url) return fail_usage("%s", "missing URL");
    if (o->resolve) {
        const char *c1 = strchr(o->resolve, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || c1 == o->resolve || !c2[1] || canonical_resolve(o, c1) < 0)
            return fail_usage("bad --resolve %s (want HOST:PORT:ADDR)", o->resolve);
    }
    if (o->key && !o->cert) return fail_usage("%s", "--key needs --cert");
    if (o->head && o->has_data) return fail_usage("%s", "-I and -d cannot go together");
    if (o->output && o->remote_name) return fail_usage("%s", "-o and -O cannot go together");
    return 0;
}

/* -O: the last segment of the URL's path, without its query. */
static int remote_name(const struct moat_url *u, char *out, size_t n)
{
    size_t plen = strcspn(u->path, "?");
    size_t s = plen;
    while (s > 0 && u->path[s - 1] != '/')
        s--;
    if (s == plen || plen - s >= n) return -1;
    memcpy(out, u->path + s, plen - s);
    out[plen - s] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) return -1;
    return 0;
}

/* --capath DIR: every certificate in the files of DIR, as PEM text. */
static int read_capath(const char *dir, moat_buf *pem)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 22)) continue;
        moat_buf one;
        moat_buf_init(&one);
        if (read_file(path, &one) == 0 && one.len &&
            memmem(one.base, one.len, "-----BEGIN CERTIFICATE-----", 27)) {
            moat_buf_append(pem, one.base, one.len);
            moat_buf_append(pem, "\n", 1);
        }
        moat_buf_free(&one);
    }
    closedir(d);
    return 0;
}

static int set_list(moat_tls_config *cfg, const char *list, int groups)
{
    char buf[512];
    uint16_t ids[3];
    size_t n = 0;
    if (strlen(list) >= sizeof buf) return fail_usage("list too long: %s", list);
    strcpy(buf, list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        uint16_t id = groups ? moat_tls_group_from_name(t) : moat_tls_cipher_from_name(t);
        if (!id)
            return fail_usage(groups ? "unknown group '%s' (x25519, secp256r1, secp384r1)"
                                     : "unknown cipher suite '%s'",
                              t);
        if (n == 3) return fail_usage("at most 3 names in %s", list);
        ids[n++] = id;
    }
    if (n == 0) return fail_usage("empty list '%s'", list);
    int r =
        groups ? moat_tls_config_set_groups(cfg, ids, n) : moat_tls_config_set_ciphers(cfg, ids, n);
    return r < 0 ? fail_usage("cannot use %s", list) : 0;
}

/* -k: the trust the handshake will not apply (the same --cacert, --capath
 * and --crl, or the system store), kept to tell -w ssl_verify_result and
 * -v what the verdict would have been. Left NULL when it cannot be made. */
static void insecure_trust(struct moat_get_opts *o)
{
    moat_buf pem, crl;
    moat_buf_init(&pem);
    moat_buf_init(&crl);
    char err[256];
    int bad = 0;
    if (o->capath) bad = read_capath(o->capath, &pem) < 0;
    if (!bad && o->cacert) bad = read_file(o->cacert, &pem) < 0;
    if (!bad && (pem.len || (!o->capath && !o->cacert)))
        o->check_trust =
            moat_trust_new(pem.len ? (const char *)pem.base : NULL, pem.len, err, sizeof err);
    if (o->check_trust && o->crl &&
        (read_file(o->crl, &crl) < 0 ||
         moat_trust_add_crl(o->check_trust, (const char *)crl.base, crl.len, err, sizeof err))) {
        moat_trust_free(o->check_trust);
        o->check_trust = NULL;
    }
    moat_buf_free(&pem);
    moat_buf_free(&crl);
}

static int setup(struct moat_get_opts *o, moat_tls_config *cfg)
{
    char err[512];
    static const char *const alpn[] = {"http/1.1"};
    moat_tls_config_set_alpn(cfg, alpn, 1);
    const char *keylog = getenv("SSLKEYLOGFILE");
    if (keylog && *keylog && moat_tls_config_set_keylog_file(cfg, keylog) < 0)
        fprintf(stderr, "moat: warning: cannot write SSLKEYLOGFILE %s\n", keylog);
    if (o->capath) {
        moat_buf pem;
        moat_buf_init(&pem);
        int bad = read_capath(o->capath, &pem) < 0;
        if (!bad && o->cacert) bad = read_file(o->cacert, &pem) < 0;
        err[0] = '\0';
        if (bad || !pem.len ||
            moat_tls_config_set_ca_pem(cfg, (const char *)pem.base, pem.len, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --capath %s: %s\n", o->capath,
                    err[0] ? err
                    : bad  ? strerror(errno)
                           : "no certificates in it");
            moat_buf_free(&pem);
            return GET_EXIT_SSL_CACERT_BADFILE;
        }
        moat_buf_free(&pem);
    } else if (o->cacert) {
        err[0] = '\0';
        if (moat_tls_config_set_ca_file(cfg, o->cacert, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --cacert %s: %s\n", o->cacert,
                    err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CACERT_BADFILE;
        }
    }
    if (o->crl) {
        err[0] = '\0';
        if (moat_tls_config_add_crl_file(cfg, o->crl, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --crl %s: %s\n", o->crl, err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CACERT_BADFILE; /* as curl does for a bad --crlfile */
        }
    }
    if (o->cert) {
        err[0] = '\0';
        if (moat_tls_config_add_cert_file(cfg, o->cert, o->key ? o->key : o->cert, err,
                                          sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --cert %s: %s\n", o->cert,
                    err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CERTPROBLEM;
        }
    }
    int r;
    if ((o->groups && (r = set_list(cfg, o->groups, 1))) ||
        (o->ciphers && (r = set_list(cfg, o->ciphers, 0))))
        return r;
    if (o->insecure) {
        moat_tls_config_set_verify(cfg, 0);
        insecure_trust(o);
        fprintf(stderr,
                "moat: WARNING: -k: the server's certificate is NOT checked. Anyone on the path "
                "can read and change this transfer.\n");
    }
    return 0;
}

int moat_get_main(int argc, char **argv)
{
    struct moat_get_opts o = {0};
    o.connect_timeout = 30;
    moat_buf_init(&o.data);
    int r = parse_opts(argc, argv, &o);
    if (r) {
        moat_buf_free(&o.data);
        return r == 1 ? 0 : r;
    }

    struct moat_url u;
    char err[512], name[256];
    r = moat_url_parse(o.url, &u, err, sizeof err);
    if (r) {
        fprintf(stderr, "moat: %s\n", err);
        moat_buf_free(&o.data);
        return r;
    }
    if (o.remote_name) {
        if (remote_name(&u, name, sizeof name) < 0) {
            fprintf(stderr, "moat: -O: the URL has no file name to save under (use -o FILE)\n");
            moat_buf_free(&o.data);
            return GET_EXIT_WRITE_ERROR;
        }
        o.output = name;
    }

    moat_tls_config *cfg = moat_tls_config_new();
    if (!cfg) {
        fprintf(stderr, "moat: cannot set up TLS (libcrypto lacks an algorithm?)\n");
        moat_buf_free(&o.data);
        return GET_EXIT_INTERNAL;
    }
    r = setup(&o, cfg);
    if (!r) r = moat_get_fetch(&o, cfg);
    moat_tls_config_free(cfg);
    moat_trust_free(o.check_trust);
    moat_buf_free(&o.data);
    return r;
}
