/* `moat serve`'s command line: the usage text, the flags (each one a
 * setting of server/config.c, as a --config line is) and their checks;
 * the serving itself is serve_run (server/serve.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "cli/cli.h"
#include "core/exit.h"
#include "server/config.h"
#include "server/proxy.h"

static const char usage[] =
    "usage: moat serve [DIR] [--listen [ADDR:]PORT] [--cert FILE --key FILE]...\n"
    "         [--ciphers LIST] [--groups LIST] [--tls-min 1.2|1.3] [--ticket-keys FILE]\n"
    "         [--ticket-lifetime S] "
    "[--psk-ke]\n"
    "         [--client-ca FILE [--client-auth require|optional|none]] [--ocsp-staple FILE]...\n"
    "         [--workers N] [--max-conns N] [--redirect-http ADDR:PORT] [--hsts SECONDS]\n"
    "         [--list-dirs] [--serve-dotfiles] [--access-log FILE|-]\n"
    "         [--access-log-format combined|json] [--error-log FILE] [--metrics [ADDR:]PORT]\n"
    "         [--pid-file FILE] [--user NAME] [--handshake-timeout S] [--header-timeout S]\n"
    "         [--idle-timeout S] [--stop-timeout S] [--max-header-size BYTES]\n"
    "         [--max-body-size BYTES] [--http2 on|off] [--http2-max-streams N]\n"
    "         [--http2-stream-window BYTES] [--http2-conn-window BYTES] [--http2-max-resets N]\n"
    "         [--proxy [/PREFIX=]URL[,URL...]]... [--proxy-only]\n"
    "         [--proxy-connect-timeout S] [--proxy-read-timeout S] [--proxy-idle-timeout S]\n"
    "         [--proxy-tunnel-timeout S] [--proxy-send-proxy v1|v2]\n"
    "         [--proxy-protocol https|redirect|https,redirect --proxy-protocol-from CIDR...]\n"
    "         [--acme [DIRECTORY_URL] --domain NAME... --acme-agree-tos [--acme-email ADDR]\n"
    "          [--acme-ca-root FILE] [--acme-dir DIR] [--acme-challenge tls-alpn-01|http-01]\n"
    "          [--acme-key-type p256|rsa2048] [--acme-renew-before DAYS]]\n"
    "         [--config FILE]\n"
    "DIR defaults to the current directory, --listen to 127.0.0.1:8443.\n";

/* The flags that take no value; every other --name takes one. */
static const char *const switches[] = {"acme-agree-tos", "list-dirs", "proxy-only", "psk-ke",
                                       "serve-dotfiles"};

static int complain(const char *fmt, const char *arg)
{
    return cli_usage_error("moat serve: ", usage, fmt, arg);
}

/* One --name, --name=VALUE or --name VALUE at argv[*i]. Returns an exit
 * status. */
static int parse_flag(int argc, char **argv, int *i, struct moat_serve_opts *o)
{
    const char *a = argv[*i];
    char name[64];
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (n >= sizeof name) return complain("unknown option %s", a);
    memcpy(name, a + 2, n);
    name[n] = '\0';
    const char *v = eq ? eq + 1 : NULL;
    int sw = 0;
    for (size_t k = 0; k < sizeof switches / sizeof *switches; k++)
        if (strcmp(name, switches[k]) == 0) sw = 1;
    /* --acme takes its URL only when one follows. */
    int optional = strcmp(name, "acme") == 0;
    if (optional && !v && *i + 1 < argc && !strncmp(argv[*i + 1], "http", 4)) v = argv[++*i];
    if (optional) sw = 1;
    if (!v && !sw && *i + 1 < argc) v = argv[++*i];
    if (!v && !sw) return complain("--%s needs a value", name);
    char err[1200];
    int r = server_config_set(o, name, v, NULL, err, sizeof err);
    if (r) {
        /* A mistake in a file names the file and line; one in a flag gets
         * the usage too. */
        fprintf(stderr, "moat serve: %s\n", err);
        if (strcmp(name, "config") != 0) fputs(usage, stderr);
    }
    return r;
}

/* --acme and its settings. Returns an exit status. */
static int acme_opts(struct moat_serve_opts *o)
{
    if (!o->acme_url) {
        if (o->ndomains) return complain("%s", "--domain needs --acme (the CA to ask)");
        return 0;
    }
    if (!o->acme_agree_tos)
        return complain("%s", "--acme needs --acme-agree-tos: moat creates an account at the CA, "
                              "which means agreeing to its terms of service");
    if (!o->ndomains) return complain("%s", "--acme needs at least one --domain NAME");
    if (o->ncerts) return complain("%s", "--acme and --cert: give one or the other");
    if (o->acme_challenge && strcmp(o->acme_challenge, "tls-alpn-01") &&
        strcmp(o->acme_challenge, "http-01"))
        return complain("--acme-challenge takes tls-alpn-01 or http-01, not '%s'",
                        o->acme_challenge);
    if (o->acme_challenge && !strcmp(o->acme_challenge, "http-01") && !o->redirect_http)
        return complain("%s", "--acme-challenge http-01 needs --redirect-http ADDR:PORT (where the "
                              "CA's port 80 arrives)");
    if (o->acme_key_type && strcmp(o->acme_key_type, "p256") && strcmp(o->acme_key_type, "rsa2048"))
        return complain("--acme-key-type takes p256 or rsa2048, not '%s'", o->acme_key_type);
    if (o->acme_renew_before) {
        char *end;
        double d = strtod(o->acme_renew_before, &end);
        if (!*o->acme_renew_before || *end || !(d >= 0 && d <= 100000))
            return complain("--acme-renew-before wants a number of days, not '%s'",
                            o->acme_renew_before);
    }
    /* The state directory, its default resolved and created now. */
    static struct acme_cert_opts a;
    a.dir = o->acme_dir;
    if (acme_state_dir(&a) < 0) return MOAT_EXIT_USAGE;
    o->acme_dir = a.dir;
    o->acme_run = acme_serve_run;
    return 0;
}

/* The options that only make sense together. Returns an exit status. */
static int validate(struct moat_serve_opts *o)
{
    if (!o->dir) o->dir = ".";
    if (o->ncerts != o->nkeys)
        return complain("%s", "each --cert FILE needs its --key FILE, in the same order");
    if (o->nstaples > (o->ncerts ? o->ncerts : 1))
        return complain("%s", "one --ocsp-staple per certificate, in the same order");
    if (o->client_auth && strcmp(o->client_auth, "require") && strcmp(o->client_auth, "optional") &&
        strcmp(o->client_auth, "none"))
        return complain("--client-auth takes require, optional or none, not '%s'", o->client_auth);
    if (o->client_auth && strcmp(o->client_auth, "none") && !o->client_ca)
        return complain("%s", "--client-auth needs --client-ca FILE (the CAs to trust)");
    if (o->proxy_protocol && !o->pp_from.n)
        return complain("%s", "--proxy-protocol needs --proxy-protocol-from CIDR (the balancers "
                              "allowed to send a PROXY header)");
    if (o->pp_from.n && !o->proxy_protocol)
        return complain("%s", "--proxy-protocol-from needs --proxy-protocol (the listeners that "
                              "read a PROXY header)");
    if ((o->proxy_protocol & SERVER_PP_REDIRECT) && !o->redirect_http)
        return complain("%s", "--proxy-protocol redirect needs --redirect-http ADDR:PORT");
    int r = acme_opts(o);
    return r ? r : server_proxy_check(o->proxy);
}

/* Reads argv into o. Returns an exit status, or CLI_HELP after --help. */
static int parse_opts(int argc, char **argv, struct moat_serve_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return CLI_HELP;
        }
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            if ((r = parse_flag(argc, argv, &i, o))) return r;
        } else if (a[0] == '-' && a[1] != '\0') {
            return complain("unknown option %s", a);
        } else if (o->dir) {
            return complain("one DIR only (got a second: %s)", a);
        } else {
            o->dir = a;
        }
    }
    return validate(o);
}

int cli_serve_main(int argc, char **argv)
{
    /* Static: config strings live in it until exit. */
    static struct moat_serve_opts o;
    server_opts_init(&o);
    int r = parse_opts(argc, argv, &o);
    if (r) return r == CLI_HELP ? MOAT_EXIT_OK : r;
    return serve_run(&o, usage);
}
