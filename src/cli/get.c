/* `moat get`'s command line: the usage text and curl's flags, read into
 * the options of client/ (struct moat_get_opts); the fetching itself is
 * get_run (client/get.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "core/exit.h"

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
    "  --tls-group NAME, --ciphers LIST, --session FILE, --cert FILE --key FILE\n"
    "  --tlsv1.2, --tlsv1.3   the oldest TLS version to speak (1.2 by default)\n"
    "  --tls-max VERSION      the newest (1.2 or 1.3, the default)\n";

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("moat get: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return GET_EXIT_USAGE;
}

/* The options that take a value, in curl's names and ours; a plain string
 * is stored at off, the others are read by take_value. */
enum value_kind {
    V_STRING,
    V_METHOD,
    V_HEADER,
    V_DATA,
    V_DATA_BINARY,
    V_CONNECT_TIMEOUT,
    V_MAX_TIME,
    V_TLS_MAX
};
#define AT(field) offsetof(struct moat_get_opts, field)
static const struct {
    const char *name;
    enum value_kind kind;
    size_t off;
} value_opts[] = {
    {"--cacert", V_STRING, AT(cacert)},
    {"--capath", V_STRING, AT(capath)},
    {"--crl", V_STRING, AT(crl)},
    {"--crlfile", V_STRING, AT(crl)},
    {"-o", V_STRING, AT(output)},
    {"--output", V_STRING, AT(output)},
    {"--resolve", V_STRING, AT(resolve)},
    {"--tls-group", V_STRING, AT(groups)},
    {"--curves", V_STRING, AT(groups)},
    {"--groups", V_STRING, AT(groups)},
    {"--ciphers", V_STRING, AT(ciphers)},
    {"--tls13-ciphers", V_STRING, AT(ciphers)},
    {"--session", V_STRING, AT(session)},
    {"--cert", V_STRING, AT(cert)},
    {"-E", V_STRING, AT(cert)},
    {"--key", V_STRING, AT(key)},
    {"-X", V_METHOD, 0},
    {"--request", V_METHOD, 0},
    {"-H", V_HEADER, 0},
    {"--header", V_HEADER, 0},
    {"-d", V_DATA, 0},
    {"--data", V_DATA, 0},
    {"--data-binary", V_DATA_BINARY, 0},
    {"-w", V_STRING, AT(writeout)},
    {"--write-out", V_STRING, AT(writeout)},
    {"--connect-timeout", V_CONNECT_TIMEOUT, 0},
    {"-m", V_MAX_TIME, 0},
    {"--max-time", V_MAX_TIME, 0},
    {"--tls-max", V_TLS_MAX, 0},
};

/* The long switches (the short ones are in short_flags), each an int. */
static const struct {
    const char *name;
    size_t off;
} switch_opts[] = {
    {"--insecure", AT(insecure)}, {"--include", AT(include)}, {"--head", AT(head)},
    {"--silent", AT(silent)},     {"--verbose", AT(verbose)}, {"--explain", AT(explain)},
    {"--location", AT(follow)},   {"--fail", AT(fail)},       {"--remote-name", AT(remote_name)},
};

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

/* Short flags may be bundled: -sSkv. Returns 0, or GET_EXIT_USAGE on an
 * unknown one. */
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
    return GET_EXIT_OK;
}

/* The value v of an option of kind k. Returns an exit status. */
static int take_value(struct moat_get_opts *o, enum value_kind k, size_t off, const char *v)
{
    switch (k) {
    case V_STRING:
        *(const char **)((char *)o + off) = v;
        return GET_EXIT_OK;
    case V_METHOD:
        for (const char *c = v; *c; c++)
            if (*c <= ' ' || *c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *c))
                return fail_usage("bad method %s", v);
        if (!*v) return fail_usage("%s", "empty method");
        o->method = v;
        return GET_EXIT_OK;
    case V_HEADER: {
        const char *c = strchr(v, ':');
        if (!c || c == v || strpbrk(v, "\r\n"))
            return fail_usage("bad header '%s' (want 'Name: value')", v);
        if (o->nheaders == MOAT_GET_MAX_HEADERS) return fail_usage("too many -H (%s)", v);
        o->headers[o->nheaders++] = v;
        return GET_EXIT_OK;
    }
    case V_DATA:
    case V_DATA_BINARY:
        return get_add_data(o, v, k == V_DATA_BINARY);
    case V_CONNECT_TIMEOUT:
        if (seconds(v, &o->connect_timeout) < 0)
            return fail_usage("bad --connect-timeout %s (seconds, more than 0)", v);
        return GET_EXIT_OK;
    case V_MAX_TIME:
        if (seconds(v, &o->max_time) < 0) return fail_usage("bad -m %s (seconds, more than 0)", v);
        return GET_EXIT_OK;
    case V_TLS_MAX: /* curl's names: 1.2, 1.3, default */
        if (strcmp(v, "1.2") == 0)
            o->tls_max = 0x0303;
        else if (strcmp(v, "1.3") == 0 || strcmp(v, "default") == 0)
            o->tls_max = 0x0304;
        else
            return fail_usage("bad --tls-max %s (1.2 or 1.3)", v);
        return GET_EXIT_OK;
    }
    return GET_EXIT_OK;
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
    if (client_url_parse(url, &u, err, sizeof err) || strchr(u.host, ':')) return -1;
    if ((size_t)snprintf(spec, sizeof spec, "%s%s", u.host, colon) >= sizeof spec) return -1;
    o->resolve = spec;
    return 0;
}

/* The options that only make sense together. Returns an exit status. */
static int validate(struct moat_get_opts *o)
{
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
    if (o->tls_min && o->tls_max && o->tls_min > o->tls_max)
        return fail_usage("%s", "--tlsv1.3 and --tls-max 1.2 leave no version");
    return GET_EXIT_OK;
}

/* One argument (and the value after it) that is not a value option.
 * Returns an exit status. */
static int take_other(const char *a, struct moat_get_opts *o)
{
    if (strcmp(a, "--tlsv1.2") == 0 || strcmp(a, "--tlsv1.3") == 0) { /* curl's: a minimum */
        o->tls_min = a[8] == '3' ? 0x0304 : 0x0303;
        return GET_EXIT_OK;
    }
    for (size_t k = 0; k < sizeof switch_opts / sizeof *switch_opts; k++)
        if (strcmp(a, switch_opts[k].name) == 0) {
            *(int *)((char *)o + switch_opts[k].off) = 1;
            return GET_EXIT_OK;
        }
    if (a[0] == '-' && a[1] != '-' && a[1] != '\0') return short_flags(a, o);
    if (a[0] == '-' && a[1] != '\0') return fail_usage("unknown option %s", a);
    if (o->url) return fail_usage("one URL only (got a second: %s)", a);
    o->url = a;
    return GET_EXIT_OK;
}

/* Reads argv into o. Returns an exit status, or CLI_HELP after --help. */
static int parse_opts(int argc, char **argv, struct moat_get_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int missing = 0, r;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return CLI_HELP;
        }
        size_t k = 0;
        for (; k < sizeof value_opts / sizeof *value_opts; k++)
            if ((v = opt_value(argc, argv, &i, value_opts[k].name, &missing))) break;
        if (v)
            r = take_value(o, value_opts[k].kind, value_opts[k].off, v);
        else if (missing)
            r = fail_usage("%s needs a value", a);
        else
            r = take_other(a, o);
        if (r) return r;
    }
    return validate(o);
}

int cli_get_main(int argc, char **argv)
{
    struct moat_get_opts o = {0};
    o.connect_timeout = 30;
    o.usage = usage;
    moat_buf_init(&o.data);
    int r = parse_opts(argc, argv, &o);
    if (r) {
        moat_buf_free(&o.data);
        return r == CLI_HELP ? GET_EXIT_OK : r;
    }
    return get_run(&o);
}
