/* The command line of `moat cert obtain|renew|revoke`: the usage text and
 * the options; the work is acme/cert.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: moat cert obtain --acme URL --domain NAME [--domain NAME]... [--http-port P | "
    "--tls-port P]\n"
    "                        [--acme-email ADDR] --acme-agree-tos [--acme-ca-root FILE]\n"
    "                        [--acme-dir DIR] [--acme-key-type p256|rsa2048] [--out DIR]\n"
    "                        [--listen-addr ADDR] [--force] [--lock-wait S] [-v]\n"
    "       moat cert renew [--acme-renew-before DAYS] [--acme-dir DIR] [--acme-ca-root FILE] "
    "[-v]\n"
    "       moat cert revoke FILE [--key KEYFILE] [--acme URL] [--reason N] [--acme-dir DIR]\n"
    "                        [--acme-ca-root FILE]\n"
    "(docs/acme.md)\n";

static int bad_usage(const char *fmt, const char *arg)
{
    return cli_usage_error("moat: cert: ", usage, fmt, arg);
}

static int port_arg(const char *v, int *out)
{
    char *end;
    long p = strtol(v, &end, 10);
    if (!*v || *end || p < 1 || p > 65535) return -1;
    *out = (int)p;
    return 0;
}

/* The value flags; 0 when a is one of them (value taken), 1 when not. */
static int value_flag(struct acme_cert_opts *o, const char *a, const char *v)
{
    static const char *const names[] = {"--acme", "--acme-email",  "--acme-ca-root", "--acme-dir",
                                        "--out",  "--listen-addr", "--key"};
    const char **dst[] = {&o->acme, &o->email, &o->ca_root, &o->dir, &o->out, &o->listen, &o->key};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i])) {
            *dst[i] = v;
            return 0;
        }
    return 1;
}

static int parse_one(struct acme_cert_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--acme-agree-tos")) return o->agree = 1, 0;
    if (!strcmp(a, "--force")) return o->force = 1, 0;
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) return o->verbose = 1, 0;
    if (a[0] != '-') {
        if (o->file) return bad_usage("unexpected argument '%s'", a);
        o->file = a;
        return 0;
    }
    static const char *const takes_value[] = {
        "--acme",      "--acme-email",  "--acme-ca-root",  "--acme-dir",
        "--out",       "--listen-addr", "--key",           "--domain",
        "--http-port", "--tls-port",    "--acme-key-type", "--acme-renew-before",
        "--lock-wait", "--reason"};
    size_t k = 0;
    while (k < sizeof takes_value / sizeof takes_value[0] && strcmp(a, takes_value[k]))
        k++;
    if (k == sizeof takes_value / sizeof takes_value[0]) return bad_usage("unknown option '%s'", a);
    if (*i + 1 >= argc) return bad_usage("%s needs a value", a);
    const char *v = argv[++*i];
    if (!value_flag(o, a, v)) return 0;
    if (!strcmp(a, "--domain")) {
        if (o->nnames == ACME_MAX_NAMES) return bad_usage("at most 100 names (%s)", v);
        if (!*v || strpbrk(v, "/ \t:@") || strlen(v) > 253)
            return bad_usage("--domain: '%s' is not a DNS name", v);
        o->names[o->nnames++] = v;
    } else if (!strcmp(a, "--http-port") || !strcmp(a, "--tls-port")) {
        if (port_arg(v, !strcmp(a, "--http-port") ? &o->http_port : &o->tls_port) < 0)
            return bad_usage("%s: not a port number (1-65535)", a);
    } else if (!strcmp(a, "--acme-key-type")) {
        if (!strcmp(v, "p256"))
            o->key_type = MOAT_KEY_EC_P256;
        else if (!strcmp(v, "rsa2048"))
            o->key_type = MOAT_KEY_RSA2048;
        else
            return bad_usage("--acme-key-type: '%s' is not p256 or rsa2048", v);
    } else if (!strcmp(a, "--acme-renew-before") || !strcmp(a, "--lock-wait") ||
               !strcmp(a, "--reason")) {
        char *end;
        double d = strtod(v, &end);
        if (!*v || *end || d < 0 || d > 100000) return bad_usage("%s: not a number", a);
        if (!strcmp(a, "--acme-renew-before"))
            o->renew_before = d;
        else if (!strcmp(a, "--lock-wait"))
            o->lock_wait = (int)d;
        else
            o->reason = (int)d;
    } else {
        return bad_usage("unknown option '%s'", a);
    }
    return 0;
}

static int parse(struct acme_cert_opts *o, int argc, char **argv)
{
    o->renew_before = -1;
    o->lock_wait = 600;
    o->reason = 0;
    for (int i = 2; i < argc; i++) {
        int r = parse_one(o, argc, argv, &i);
        if (r) return r;
    }
    if (o->http_port && o->tls_port)
        return bad_usage("%s", "give --http-port or --tls-port, not both");
    if (!strcmp(o->cmd, "obtain")) {
        if (!o->acme) return bad_usage("%s", "obtain needs --acme URL (the CA's directory)");
        if (!o->nnames) return bad_usage("%s", "obtain needs at least one --domain NAME");
        if (o->file) return bad_usage("unexpected argument '%s'", o->file);
    } else if (!strcmp(o->cmd, "revoke")) {
        if (!o->file) return bad_usage("%s", "revoke needs the certificate FILE");
        if (o->reason > 10) return bad_usage("%s", "--reason: an RFC 5280 reason code, 0-10");
    } else if (o->file) {
        return bad_usage("unexpected argument '%s'", o->file);
    }
    return 0;
}

int cli_cert_main(int argc, char **argv)
{
    struct acme_cert_opts o = {0};
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ACME_EXIT_USAGE : ACME_EXIT_OK;
    }
    o.cmd = argv[1];
    if (strcmp(o.cmd, "obtain") && strcmp(o.cmd, "renew") && strcmp(o.cmd, "revoke"))
        return bad_usage("unknown command '%s' (obtain, renew, revoke)", o.cmd);
    int r = parse(&o, argc, argv);
    if (r) return r;
    if (!strcmp(o.cmd, "obtain")) return acme_cert_obtain(&o);
    if (!strcmp(o.cmd, "renew")) return acme_cert_renew(&o);
    return acme_cert_revoke(&o);
}
