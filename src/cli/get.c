/* `moat get`'s command line: the usage text and curl's flags, read into
 * the options of client/ (struct moat_get_opts); the fetching itself is
 * get_run (client/get.c). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/getconf.h"
#include "client/client.h"
#include "client/getnet.h"
#include "core/exit.h"
#include "core/file.h"

static const char usage[] =
    "usage: moat get URL [options]\n"
    "  -o FILE, -O            write the body to FILE, or to the URL's last segment\n"
    "  -i, -I                 include the response head; HEAD request\n"
    "  -X METHOD, -H 'N: v'   request method; extra header (repeatable)\n"
    "  -d DATA, --data-binary @FILE   POST a body (-d @FILE strips newlines)\n"
    "  -L, -f, -s, -v         follow redirects (20 at most); exit 22 on >= 400; silent; verbose\n"
    "  --explain              narrate the TLS handshake of this connection\n"
    "  --http2, --http1.1     offer h2 and http/1.1 (the default); only http/1.1\n"
    "  -w FORMAT              after the transfer print FORMAT: %{http_code} %{time_total} ...\n"
    "  --resolve HOST:PORT:ADDR, --connect-timeout S, -m S\n"
    "  --cacert FILE, --capath DIR, --crl FILE, -k (no verification: insecure)\n"
    "  --tls-group NAME, --ciphers LIST, --session FILE, --cert FILE --key FILE\n"
    "  -A AGENT, -e URL[;auto], -u USER:PASSWORD, -b FILE|'n=v', -c FILE   as curl's\n"
    "  --json DATA, -F name=value|name=@FILE, -T FILE (PUT, streamed; - is stdin)\n"
    "  -C N|-, --max-filesize BYTES, -D FILE, -K FILE (a curl config file)\n"
    "  --compressed           ask for deflate, gzip, br and decode the body\n"
    "  --retry N, --retry-delay S, --retry-max-time S, --retry-all-errors, --retry-connrefused\n"
    "  --limit-rate RATE      at most RATE bytes a second each way (K, M, G suffixes)\n"
    "  -x [http://]HOST:PORT, -U USER:PASSWORD, --noproxy LIST   HTTP CONNECT proxy\n"

    "  --tlsv1.2, --tlsv1.3   the oldest TLS version to speak (1.2 by default)\n"
    "  --tls-max VERSION      the newest (1.2 or 1.3, the default)\n";

static int fail_usage(const char *fmt, const char *arg)
{
    return cli_usage_error("moat get: ", usage, fmt, arg);
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
    V_RESOLVE,
    V_REFERER,
    V_USER,
    V_JSON,
    V_FORM,
    V_COOKIE,
    V_MAX_FILESIZE,
    V_CONTINUE_AT,
    V_NET, /* --retry, --limit-rate ...: read by take_net */
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
    {"--resolve", V_RESOLVE, 0},
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
    {"-A", V_STRING, AT(user_agent)},
    {"--user-agent", V_STRING, AT(user_agent)},
    {"-e", V_REFERER, 0},
    {"--referer", V_REFERER, 0},
    {"-u", V_USER, 0},
    {"--user", V_USER, 0},
    {"--json", V_JSON, 0},
    {"-F", V_FORM, 0},
    {"--form", V_FORM, 0},
    {"-T", V_STRING, AT(upload)},
    {"--upload-file", V_STRING, AT(upload)},
    {"-b", V_COOKIE, 0},
    {"--cookie", V_COOKIE, 0},
    {"-c", V_STRING, AT(cookie_jar)},
    {"--cookie-jar", V_STRING, AT(cookie_jar)},
    {"-D", V_STRING, AT(dump_header)},
    {"--dump-header", V_STRING, AT(dump_header)},
    {"--max-filesize", V_MAX_FILESIZE, 0},
    {"-C", V_CONTINUE_AT, 0},
    {"--continue-at", V_CONTINUE_AT, 0},
    {"-x", V_STRING, AT(proxy)},
    {"--proxy", V_STRING, AT(proxy)},
    {"-U", V_STRING, AT(proxy_user)},
    {"--proxy-user", V_STRING, AT(proxy_user)},
    {"--noproxy", V_STRING, AT(noproxy)},
    {"--retry", V_NET, AT(retry)},
    {"--retry-delay", V_NET, AT(retry_delay)},
    {"--retry-max-time", V_NET, AT(retry_max_time)},
    {"--limit-rate", V_NET, AT(limit_rate)},
    {"--tls-max", V_TLS_MAX, 0},
};

/* The long switches (the short ones are in short_flags), each an int. */
static const struct {
    const char *name;
    size_t off;
} switch_opts[] = {
    {"--insecure", AT(insecure)},
    {"--include", AT(include)},
    {"--head", AT(head)},
    {"--silent", AT(silent)},
    {"--verbose", AT(verbose)},
    {"--explain", AT(explain)},
    {"--location", AT(follow)},
    {"--fail", AT(fail)},
    {"--remote-name", AT(remote_name)},
    {"--http1.1", AT(http1_1)},
    {"--compressed", AT(compressed)},
    {"--retry-all-errors", AT(retry_all_errors)},
    {"--retry-connrefused", AT(retry_connrefused)},
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

static int add_resolve(struct moat_get_opts *o, const char *v);

/* A size: digits with an optional k, M or G (powers of 1024, as curl). */
static int64_t size_value(const char *v)
{
    char *end;
    if (*v < '0' || *v > '9') return -1;
    unsigned long long n = strtoull(v, &end, 10);
    int shift = *end == 'k' || *end == 'K'   ? 10
                : *end == 'm' || *end == 'M' ? 20
                : *end == 'g' || *end == 'G' ? 30
                                             : 0;
    if (shift) end++;
    if (*end || n > (1ull << 62) >> shift) return -1;
    return (int64_t)(n << shift);
}

/* The values of curl's everyday flags (-A -e -u --json -F -b -C ...). */
static int take_curl_value(struct moat_get_opts *o, int k, const char *v)
{
    static char referer[8192];
    if (strpbrk(v, "\r\n") && k != V_JSON) return fail_usage("a line break in '%s'", v);
    switch (k) {
    case V_RESOLVE:
        if (add_resolve(o, v) < 0) return fail_usage("bad --resolve %s (want HOST:PORT:ADDR)", v);
        return GET_EXIT_OK;
    case V_REFERER: {
        size_t n = strlen(v);
        o->referer_auto = n >= 5 && strcmp(v + n - 5, ";auto") == 0;
        if (o->referer_auto) n -= 5;
        if (n >= sizeof referer) return fail_usage("-e %s: too long", v);
        memcpy(referer, v, n);
        referer[n] = '\0';
        o->referer = n ? referer : NULL;
        return GET_EXIT_OK;
    }
    case V_USER:
        if (!strchr(v, ':'))
            return fail_usage("-u %s: give user:password (moat get does not prompt)", v);
        o->userpwd = v;
        return GET_EXIT_OK;
    case V_JSON:
        return get_add_json(o, v);
    case V_FORM:
        if (o->nforms == MOAT_GET_MAX_FORMS) return fail_usage("too many -F (%s)", v);
        if (!strchr(v, '=') || v[0] == '=')
            return fail_usage("bad -F '%s' (want name=value or name=@FILE)", v);
        o->forms[o->nforms++] = v;
        return GET_EXIT_OK;
    case V_COOKIE:
        if (o->ncookie_in == 16) return fail_usage("too many -b (%s)", v);
        o->cookie_in[o->ncookie_in++] = v;
        return GET_EXIT_OK;
    case V_MAX_FILESIZE:
        if ((o->max_filesize = size_value(v)) <= 0)
            return fail_usage("bad --max-filesize %s (bytes, more than 0; k, M, G allowed)", v);
        return GET_EXIT_OK;
    case V_CONTINUE_AT:
        o->resume = 1;
        o->continue_at = strcmp(v, "-") == 0 ? -1 : size_value(v);
        if (o->continue_at < 0 && strcmp(v, "-") != 0)
            return fail_usage("bad -C %s (an offset in bytes, or - for the size of the output)", v);
        return GET_EXIT_OK;
    }
    return GET_EXIT_OK;
}

/* --retry N, --retry-delay S, --retry-max-time S, --limit-rate RATE, as
 * curl reads them. Returns an exit status. */
static int take_net(struct moat_get_opts *o, size_t off, const char *v)
{
    char *end;
    if (off == AT(limit_rate)) {
        if (client_parse_rate(v, &o->limit_rate) < 0)
            return fail_usage("bad --limit-rate %s (bytes a second, with K, M or G)", v);
        return GET_EXIT_OK;
    }
    if (off == AT(retry)) {
        long n = strtol(v, &end, 10);
        if (end == v || *end || n < 0 || n > 1000000)
            return fail_usage("bad --retry %s (a count of retries)", v);
        o->retry = n;
        return GET_EXIT_OK;
    }
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0) || d > 1e6)
        return fail_usage(off == AT(retry_delay) ? "bad --retry-delay %s (seconds)"
                                                 : "bad --retry-max-time %s (seconds)",
                          v);
    *(double *)((char *)o + off) = d;
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
    case V_NET:
        return take_net(o, off, v);
    default:
        return take_curl_value(o, k, v);
    }
    return GET_EXIT_OK;
}

/* --resolve HOST:PORT:ADDR with HOST read as a URL's host is (café.test
 * as its A-labels, 127.1 as 127.0.0.1), so it matches the URL's; added to
 * the list of them (curl takes any number). */
static int add_resolve(struct moat_get_opts *o, const char *v)
{
    char url[600], err[512], line[1400];
    struct moat_url u;
    const char *c1 = strchr(v, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || c1 == v || !c2[1] || strchr(v, '\n')) return -1;
    size_t hl = (size_t)(c1 - v);
    if (hl > 500) return -1;
    snprintf(url, sizeof url, "https://%.*s/", (int)hl, v);
    if (client_url_parse(url, &u, err, sizeof err) || strchr(u.host, ':')) return -1;
    int n = snprintf(line, sizeof line, "%s%s\n", u.host, c1);
    if (n < 0 || (size_t)n >= sizeof line || moat_buf_append(&o->resolves, line, (size_t)n) < 0 ||
        moat_buf_append(&o->resolves, "", 1) < 0)
        return -1;
    o->resolves.len--; /* kept NUL-terminated */
    o->resolve = (const char *)o->resolves.base;
    return 0;
}

/* The options that only make sense together. Returns an exit status. */
static int validate(struct moat_get_opts *o)
{
    if (!o->url) return fail_usage("%s", "missing URL");
    if (o->key && !o->cert) return fail_usage("%s", "--key needs --cert");
    if (o->head && o->has_data) return fail_usage("%s", "-I and -d cannot go together");
    int bodies = (o->has_data != 0) + (o->upload != NULL) + (o->nforms != 0);
    if (bodies > 1) return fail_usage("%s", "-d/--json, -T and -F cannot go together");
    if (o->head && bodies) return fail_usage("%s", "-I and a request body cannot go together");
    if (o->resume && o->continue_at < 0 && !o->output && !o->remote_name)
        return fail_usage("%s", "-C - needs -o FILE or -O (the file to resume)");
    if (o->output && o->remote_name) return fail_usage("%s", "-o and -O cannot go together");
    if (o->tls_min && o->tls_max && o->tls_min > o->tls_max)
        return fail_usage("%s", "--tlsv1.3 and --tls-max 1.2 leave no version");
    return GET_EXIT_OK;
}

/* One argument (and the value after it) that is not a value option.
 * Returns an exit status. */
static int take_other(const char *a, struct moat_get_opts *o)
{
    if (strcmp(a, "--http2") == 0) { /* the default: h2 offered first */
        o->http1_1 = 0;
        return 0;
    }
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

/* For -K: whether an option of a config file takes a value. */
static int takes_value(const char *name)
{
    if (strcmp(name, "--config") == 0 || strcmp(name, "-K") == 0) return 1;
    for (size_t k = 0; k < sizeof value_opts / sizeof *value_opts; k++)
        if (strcmp(value_opts[k].name, name) == 0) return 1;
    return 0;
}

/* argv with each -K FILE / --config FILE replaced by the arguments of
 * FILE ("-" for stdin), into a; a config file may name another, as curl
 * allows, 8 deep at most. Returns an exit status. */
#define CONFIG_DEPTH 8
static int expand_config(int argc, char **argv, struct cli_args *a, int depth)
{
    char err[600];
    for (int i = 0; i < argc; i++) {
        const char *f = NULL;
        int k = strcmp(argv[i], "-K") == 0 || strcmp(argv[i], "--config") == 0;
        if (k && i + 1 >= argc) return fail_usage("%s needs a value", argv[i]);
        if (k)
            f = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            f = argv[i] + 9;
        if (f && depth == CONFIG_DEPTH)
            return fail_usage("config files nested too deep (at %s)", f);
        if (!f) {
            if (cli_args_add(a, argv[i], strlen(argv[i])) < 0) return GET_EXIT_INTERNAL;
            continue;
        }
        size_t n = 0;
        int fd = strcmp(f, "-") == 0 ? 0 : -1;
        uint8_t *text = fd == 0 ? core_read_fd(0, CLI_GETCONF_MAX_FILE, &n)
                                : core_read_file(f, CLI_GETCONF_MAX_FILE, &n);
        if (!text) {
            fprintf(stderr, "moat get: cannot read the config file %s: %s\n", f, strerror(errno));
            return GET_EXIT_READ_ERROR;
        }
        struct cli_args sub = {0};
        int r = cli_getconf_parse((const char *)text, n, takes_value, &sub, err, sizeof err);
        free(text);
        if (r < 0) {
            cli_args_free(&sub);
            fprintf(stderr, "moat get: config file %s: %s\n", f, err);
            return GET_EXIT_USAGE;
        }
        r = expand_config(sub.n, sub.v, a, depth + 1);
        cli_args_free(&sub);
        if (r) return r;
    }
    return GET_EXIT_OK;
}

int cli_get_main(int argc, char **argv)
{
    struct moat_get_opts o = {0};
    o.connect_timeout = 30;
    o.usage = usage;
    moat_buf_init(&o.data);
    moat_buf_init(&o.resolves);
    struct cli_args a = {0};
    int r = expand_config(argc, argv, &a, 0);
    if (!r) r = parse_opts(a.n, a.v, &o);
    if (r) {
        moat_buf_free(&o.data);
        moat_buf_free(&o.resolves);
        cli_args_free(&a);
        return r == CLI_HELP ? GET_EXIT_OK : r;
    }
    r = get_run(&o);
    moat_buf_free(&o.resolves);
    cli_args_free(&a);
    return r;
}
