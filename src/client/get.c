/* moat get: command-line options and the TLS configuration of the client;
 * the transfer itself is in fetch.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

static const char usage[] =
    "usage: moat get URL [--cacert FILE] [--crl FILE] [-k] [-o FILE] [-i] [-I] [-s] [-v]\n"
    "                    [--resolve HOST:PORT:ADDR] [--tls-group NAME] [--ciphers LIST]\n"
    "                    [--connect-timeout S] [-m S]\n";

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("moat get: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return 2;
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
        default:
            return fail_usage("unknown option %s", a);
        }
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct moat_get_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if ((v = opt_value(argc, argv, &i, "--cacert", &missing))) {
            o->cacert = v;
        } else if ((v = opt_value(argc, argv, &i, "--crl", &missing))) {
            o->crl = v;
        } else if ((v = opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = opt_value(argc, argv, &i, "--output", &missing))) {
            o->output = v;
        } else if ((v = opt_value(argc, argv, &i, "--resolve", &missing))) {
            o->resolve = v;
        } else if ((v = opt_value(argc, argv, &i, "--tls-group", &missing))) {
            o->groups = v;
        } else if ((v = opt_value(argc, argv, &i, "--ciphers", &missing))) {
            o->ciphers = v;
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
        } else if (a[0] == '-' && a[1] != '-' && a[1] != '\0') {
            int r = short_flags(a, o);
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
        if (!c1 || !c2 || c1 == o->resolve || !c2[1])
            return fail_usage("bad --resolve %s (want HOST:PORT:ADDR)", o->resolve);
    }
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

int moat_get_main(int argc, char **argv)
{
    struct moat_get_opts o = {0};
    o.connect_timeout = 30;
    int r = parse_opts(argc, argv, &o);
    if (r) return r == 1 ? 0 : r;

    struct moat_url u;
    char err[512];
    r = moat_url_parse(o.url, &u, err, sizeof err);
    if (r) {
        fprintf(stderr, "moat: %s\n", err);
        return r;
    }

    moat_tls_config *cfg = moat_tls_config_new();
    if (!cfg) {
        fprintf(stderr, "moat: cannot set up TLS (libcrypto lacks an algorithm?)\n");
        return 1;
    }
    static const char *const alpn[] = {"http/1.1"};
    moat_tls_config_set_alpn(cfg, alpn, 1);
    const char *keylog = getenv("SSLKEYLOGFILE");
    if (keylog && *keylog && moat_tls_config_set_keylog_file(cfg, keylog) < 0)
        fprintf(stderr, "moat: warning: cannot write SSLKEYLOGFILE %s\n", keylog);
    if (o.cacert) {
        err[0] = '\0';
        if (moat_tls_config_set_ca_file(cfg, o.cacert, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --cacert %s: %s\n", o.cacert,
                    err[0] ? err : "unreadable");
            moat_tls_config_free(cfg);
            return 77; /* curl's "problem with the CA cert" */
        }
    }
    if (o.crl) {
        err[0] = '\0';
        if (moat_tls_config_add_crl_file(cfg, o.crl, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --crl %s: %s\n", o.crl, err[0] ? err : "unreadable");
            moat_tls_config_free(cfg);
            return 77; /* as curl does for a bad --crlfile */
        }
    }
    if ((o.groups && (r = set_list(cfg, o.groups, 1))) ||
        (o.ciphers && (r = set_list(cfg, o.ciphers, 0)))) {
        moat_tls_config_free(cfg);
        return r;
    }
    if (o.insecure) {
        moat_tls_config_set_verify(cfg, 0);
        if (!o.silent)
            fprintf(stderr, "moat: WARNING: -k: the server's certificate is NOT checked; anyone "
                            "on the path can read and change this transfer\n");
    }

    r = moat_get_fetch(&o, &u, cfg);
    moat_tls_config_free(cfg);
    return r;
}
