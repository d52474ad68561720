/* `moat ca`'s command line: the usage text, the flags, and each
 * subcommand (init, issue, path, revoke, crl, list, trust, untrust) on
 * the CA of ca/. Results go to stdout, errors to stderr; exit 0, 1
 * (failure), 2 (usage, refused, a missing or damaged CA). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "moat/error.h"

static const char usage_text[] =
    "usage: moat ca init  [--ca-dir DIR] [--permit-dns NAME]... [--permit-ip CIDR]...\n"
    "       moat ca issue NAME... [--ca-dir DIR] [--days N] [--rsa] [--client]\n"
    "                     [--cert-file FILE] [--key-file FILE]\n"
    "                     [--not-before YYYY-MM-DD] [--not-after YYYY-MM-DD]\n"
    "       moat ca revoke FILE|SERIAL [--reason R] [--ca-dir DIR]\n"
    "       moat ca crl   [--out FILE] [--days N] [--der] [--ca-dir DIR]\n"
    "       moat ca list  [--ca-dir DIR]\n"
    "       moat ca trust | untrust [--nss-db DIR]... [--system-only | --nss-only]\n"
    "                     [--ca-dir DIR]\n"
    "       moat ca path  [--ca-dir DIR]\n"
    "\n"
    "init    makes a new local CA (rootCA.pem, rootCA-key.pem) in the CA directory;\n"
    "        --permit-dns limits it to names under NAME (name constraints), and then\n"
    "        IP addresses to --permit-ip ranges (default 127.0.0.0/8 and ::1/128)\n"
    "issue   issues a certificate for host names, wildcards (*.example.test) and IP\n"
    "        addresses, into NAME.pem and NAME-key.pem in the current directory,\n"
    "        valid for 90 days unless --days N or --not-after says otherwise;\n"
    "        --client makes a client certificate, which may also name people and\n"
    "        workloads: alice@example.test, spiffe://example.test/workload\n"
    "revoke  records a certificate (its file, or serial) as revoked; R is one of\n"
    "        unspecified, keyCompromise, cACompromise, affiliationChanged,\n"
    "        superseded, cessationOfOperation\n"
    "crl     signs a CRL of the revoked certificates, valid N days (default 30),\n"
    "        PEM (or --der) to stdout or FILE\n"
    "list    the certificates this CA issued: serial, validity, revoked or not, names\n"
    "trust   installs the root in the system store (needs root) and in NSS databases\n"
    "        (~/.pki/nssdb for Chromium, Firefox profiles), or only in --nss-db DIR\n"
    "untrust removes it from the same places\n"
    "path    prints the CA directory: --ca-dir, else $MOAT_CA_HOME, else\n"
    "        $XDG_DATA_HOME/moat/ca, else ~/.local/share/moat/ca\n";

/* The options every subcommand may see; which ones it accepts is checked
 * by the subcommand. */
struct opts {
    const char *ca_dir;
    const char *cert_file, *key_file;
    const char *not_before, *not_after;
    const char *reason, *out;
    long days; /* 0: not given */
    int rsa, client, help, der, system_only, nss_only;
    const char **names;
    size_t n_names;
    const char **permit_dns, **permit_ip, **nss_dbs; /* repeatable flags */
    size_t n_permit_dns, n_permit_ip, n_nss_dbs;
    const char *seen[32]; /* flags given, for "not valid here" checks */
    size_t n_seen;
};

static void fmt_date(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%d", &tm) == 0) snprintf(out, len, "?");
}

/* YYYY-MM-DD, strictly, as seconds since the epoch at 00:00:00 UTC. */
static int parse_date(const char *s, int64_t *out)
{
    int y, m, d, n = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
        s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
    if (y < 1950 || m < 1 || m > 12 || d < 1 || d > 31) return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm);
    /* timegm normalises 2026-02-31 into March: refuse such dates. */
    struct tm back;
    if (!gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != m - 1) return -1;
    *out = (int64_t)t;
    return 0;
}

static int usage_error(const char *sub, const char *msg, const char *arg)
{
    fprintf(stderr, "moat ca%s%s: %s%s%s\n", sub ? " " : "", sub ? sub : "", msg, arg ? " " : "",
            arg ? arg : "");
    fprintf(stderr, "Run `moat ca help` for the usage.\n");
    return MOAT_CA_EXIT_USAGE;
}

/* Every flag of `moat ca`: whether it takes a value and may be repeated.
 * Which subcommand takes which is checked by the subcommand (only_flags). */
static const struct flag {
    const char *name;
    int value, repeat;
} flags[] = {
    {"--ca-dir", 1, 0},     {"--cert-file", 1, 0}, {"--key-file", 1, 0},    {"--not-before", 1, 0},
    {"--not-after", 1, 0},  {"--days", 1, 0},      {"--reason", 1, 0},      {"--out", 1, 0},
    {"--permit-dns", 1, 1}, {"--permit-ip", 1, 1}, {"--nss-db", 1, 1},      {"--rsa", 0, 0},
    {"--client", 0, 0},     {"--der", 0, 0},       {"--system-only", 0, 0}, {"--nss-only", 0, 0},
};

/* Stores the value of a known flag (value NULL for a switch). Returns an
 * exit status. */
static int set_flag(const char *sub, struct opts *o, const char *flag, const char *value)
{
    if (strcmp(flag, "--ca-dir") == 0) {
        o->ca_dir = value;
    } else if (strcmp(flag, "--cert-file") == 0) {
        o->cert_file = value;
    } else if (strcmp(flag, "--key-file") == 0) {
        o->key_file = value;
    } else if (strcmp(flag, "--not-before") == 0) {
        o->not_before = value;
    } else if (strcmp(flag, "--not-after") == 0) {
        o->not_after = value;
    } else if (strcmp(flag, "--days") == 0) {
        char *end = NULL;
        errno = 0;
        long d = strtol(value, &end, 10);
        if (errno || !end || *end || value[0] < '0' || value[0] > '9' || d < 1 || d > 36500)
            return usage_error(sub, "--days needs a whole number of days from 1 to 36500, not",
                               value);
        o->days = d;
    } else if (strcmp(flag, "--rsa") == 0) {
        o->rsa = 1;
    } else if (strcmp(flag, "--client") == 0) {
        o->client = 1;
    } else if (strcmp(flag, "--der") == 0) {
        o->der = 1;
    } else if (strcmp(flag, "--system-only") == 0) {
        o->system_only = 1;
    } else if (strcmp(flag, "--nss-only") == 0) {
        o->nss_only = 1;
    } else if (strcmp(flag, "--reason") == 0) {
        o->reason = value;
    } else if (strcmp(flag, "--out") == 0) {
        o->out = value;
    } else if (strcmp(flag, "--permit-dns") == 0) {
        o->permit_dns[o->n_permit_dns++] = value;
    } else if (strcmp(flag, "--permit-ip") == 0) {
        o->permit_ip[o->n_permit_ip++] = value;
    } else if (strcmp(flag, "--nss-db") == 0) {
        o->nss_dbs[o->n_nss_dbs++] = value;
    }
    return MOAT_CA_EXIT_OK;
}

/* One --flag, --flag=VALUE or --flag VALUE at argv[*i]. Returns an exit
 * status. */
static int parse_flag(const char *sub, int argc, char **argv, int *i, struct opts *o)
{
    const char *a = argv[*i];
    char flag[64];
    const char *eq = strchr(a, '=');
    size_t fl = eq ? (size_t)(eq - a) : strlen(a);
    if (a[1] != '-' || fl >= sizeof flag) return usage_error(sub, "unknown option", a);
    memcpy(flag, a, fl);
    flag[fl] = 0;
    const struct flag *f = NULL;
    for (size_t k = 0; k < sizeof flags / sizeof *flags && !f; k++)
        if (strcmp(flag, flags[k].name) == 0) f = &flags[k];
    if (!f) return usage_error(sub, "unknown option", flag);
    const char *value = NULL;
    if (f->value) {
        if (eq)
            value = eq + 1;
        else if (*i + 1 < argc)
            value = argv[++*i];
        else
            return usage_error(sub, "this option needs a value:", flag);
        if (!*value) return usage_error(sub, "this option needs a non-empty value:", flag);
    } else if (eq) {
        return usage_error(sub, "this option takes no value:", flag);
    }
    int again = 0;
    for (size_t k = 0; k < o->n_seen; k++)
        if (strcmp(o->seen[k], flag) == 0) again = 1;
    if (again && !f->repeat) return usage_error(sub, "this option is given twice:", flag);
    if (!again && o->n_seen < sizeof o->seen / sizeof *o->seen) o->seen[o->n_seen++] = f->name;
    return set_flag(sub, o, flag, value);
}

/* Reads argv[2..] (after `ca SUBCOMMAND`) into o: names, and flags.
 * Returns an exit status. */
static int parse(const char *sub, int argc, char **argv, struct opts *o)
{
    int only_names = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (only_names || a[0] != '-' || a[1] == 0) {
            o->names[o->n_names++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_names = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = 1;
            continue;
        }
        int r = parse_flag(sub, argc, argv, &i, o);
        if (r) return r;
    }
    return MOAT_CA_EXIT_OK;
}

/* Refuses flags a subcommand does not take (allowed: NULL-terminated). */
static int only_flags(const char *sub, const struct opts *o, const char *const *allowed)
{
    for (size_t i = 0; i < o->n_seen; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, o->seen[i]) == 0) ok = 1;
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s is not an option of `moat ca %s`", o->seen[i], sub);
            return usage_error(sub, msg, NULL);
        }
    }
    return MOAT_CA_EXIT_OK;
}

static int resolve_dir(const struct opts *o, char *dir, size_t len)
{
    char err[512];
    if (ca_store_dir(o->ca_dir, dir, len, err, sizeof err) != 0) {
        fprintf(stderr, "moat ca: %s\n", err);
        return MOAT_CA_EXIT_FAIL;
    }
    return MOAT_CA_EXIT_OK;
}

static int path_exists(const char *dir, const char *file)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return lstat(p, &st) == 0;
}

static int cmd_path(const struct opts *o)
{
    char dir[4096];
    int r = resolve_dir(o, dir, sizeof dir);
    if (r) return r;
    printf("%s\n", dir);
    return MOAT_CA_EXIT_OK;
}

/* A failure to open the CA: its state (missing, damaged, wrong key) is
 * the user's to fix (2); anything else (I/O, memory) is ours (1). */
static int open_exit(int r)
{
    return r == MOAT_ERR_FILE || r == MOAT_ERR_ARG ? MOAT_CA_EXIT_USAGE : MOAT_CA_EXIT_FAIL;
}

static int cmd_init(struct opts *o)
{
    static const char *const allowed[] = {"--ca-dir", "--permit-dns", "--permit-ip", NULL};
    int r = only_flags("init", o, allowed);
    if (r) return r;
    if (o->n_permit_ip && !o->n_permit_dns)
        return usage_error("init", "--permit-ip goes with --permit-dns", NULL);
    /* Permitted names: plain DNS names (no wildcard, no IP), lower-cased. */
    char **dns = calloc(o->n_permit_dns + 1, sizeof *dns);
    if (!dns) return MOAT_CA_EXIT_FAIL;
    size_t nd = 0;
    for (size_t i = 0; i < o->n_permit_dns; i++) {
        char why[512];
        const char *n = o->permit_dns[i];
        if (ca_check_name(n, why, sizeof why) != MOAT_CA_NAME_DNS || n[0] == '*') {
            fprintf(stderr,
                    "moat ca init: --permit-dns needs a DNS name like example.test (it then "
                    "permits that name and every name under it), not \"%s\"\n",
                    n);
            r = MOAT_CA_EXIT_USAGE;
            goto out;
        }
        if (!(dns[nd] = strdup(n))) {
            r = MOAT_CA_EXIT_FAIL;
            goto out;
        }
        for (char *p = dns[nd]; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        nd++;
    }
    for (size_t i = 0; i < o->n_permit_ip; i++) {
        if (!ca_range_ok(o->permit_ip[i])) {
            fprintf(stderr,
                    "moat ca init: --permit-ip needs an address range like 10.0.0.0/8 or "
                    "fd00::/8 (no bits set after the prefix), not \"%s\"\n",
                    o->permit_ip[i]);
            r = MOAT_CA_EXIT_USAGE;
            goto out;
        }
    }
    /* Constraints on DNS names alone would leave every IP address open
     * (RFC 5280 4.2.1.10 constrains only the kinds of name it lists). */
    static const char *const loopback[] = {"127.0.0.0/8", "::1/128"};
    const char *const *ips = o->n_permit_ip ? o->permit_ip : loopback;
    size_t n_ips = nd ? (o->n_permit_ip ? o->n_permit_ip : 2) : 0;
    char dir[4096], err[1024];
    if ((r = resolve_dir(o, dir, sizeof dir)) != 0) goto out;
    /* Half a CA (an interrupted init) is explained by ca_init. */
    if (path_exists(dir, MOAT_CA_CERT_FILE) && path_exists(dir, MOAT_CA_KEY_FILE)) goto exists;
    struct moat_ca ca;
    r = ca_init(dir, (const char *const *)dns, nd, ips, n_ips, &ca, err, sizeof err);
    if (r == MOAT_ERR_STATE) goto exists; /* made between our check and the lock */
    if (r != 0) {
        fprintf(stderr, "moat ca init: %s\n", err);
        r = open_exit(r); /* a half CA or bad constraint: 2; files: 1 */
        goto out;
    }
    struct ca_root_info root;
    char until[32];
    ca_describe(&ca, &root);
    fmt_date(root.not_after, until, sizeof until);
    printf("Created a new local CA in %s\n"
           "  certificate: %s/%s\n"
           "               %s, valid until %s\n"
           "  private key: %s/%s (mode 0600: keep it secret, it can sign certificates\n"
           "               for any name that browsers trusting this CA will accept)\n"
           "To make browsers trust the certificates it issues, run `moat ca trust` (or add\n"
           "%s/%s to their trust store).\n",
           dir, dir, MOAT_CA_CERT_FILE, root.subject, until, dir, MOAT_CA_KEY_FILE, dir,
           MOAT_CA_CERT_FILE);
    if (root.constraints[0])
        printf("It may certify only names within: %s (name constraints).\n", root.constraints);
    ca_store_close(&ca);
    r = MOAT_CA_EXIT_OK;
    goto out;
exists:
    fprintf(stderr,
            "moat ca init: a CA already exists in %s; moat will not overwrite it.\n"
            "To start over, move that directory away first (certificates it issued will no "
            "longer be trusted).\n",
            dir);
    r = MOAT_CA_EXIT_USAGE;
out:
    for (size_t i = 0; i < nd; i++)
        free(dns[i]);
    free(dns);
    return r;
}

/* The file stem for a certificate: the first name, '*' as "_wildcard"
 * and any byte but letters, digits and "-._@+" (the ':' of IPv6, the '/'
 * of a URI) as '_', so the name is one safe file name on every file
 * system, never a path. */
static void file_stem(const char *name, char *out, size_t len)
{
    size_t j = 0;
    for (const char *p = name; *p && j + 10 < len; p++) {
        if (*p == '*') {
            memcpy(out + j, "_wildcard", 9);
            j += 9;
        } else {
            int keep = isalnum((unsigned char)*p) || strchr("-._@+", *p);
            out[j++] = keep ? *p : '_';
        }
    }
    out[j] = 0;
}

/* The case-insensitive parts of a name lower-cased, so that the same
 * name given twice is one SAN: a DNS name, an email address's host, a
 * URI's scheme (RFC 3986 3.1). */
static void lower_name(char *s, int kind)
{
    char *p = s, *end = s + strlen(s);
    if (kind == MOAT_CA_NAME_EMAIL) p = strrchr(s, '@');
    if (kind == MOAT_CA_NAME_URI) end = strstr(s, "://");
    if (kind == MOAT_CA_NAME_IP) p = end;
    for (; p < end; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
}

/* The names of `issue` into names (o->n_names slots, freed by the
 * caller), checked, lower-cased where case means nothing, without
 * duplicates. Email addresses and URIs name clients, so they need
 * --client. Returns an exit code. */
static int take_names(const struct opts *o, char **names, size_t *n)
{
    for (size_t i = 0; i < o->n_names; i++) {
        char why[512];
        int kind = ca_check_name(o->names[i], why, sizeof why);
        if (kind < 0) {
            fprintf(stderr, "moat ca issue: %s\n", why);
            return MOAT_CA_EXIT_USAGE;
        }
        if ((kind == MOAT_CA_NAME_EMAIL || kind == MOAT_CA_NAME_URI) && !o->client) {
            fprintf(stderr,
                    "moat ca issue: \"%s\" is %s: it names a client, not a server, so it goes "
                    "only in a client certificate (add --client)\n",
                    o->names[i], kind == MOAT_CA_NAME_EMAIL ? "an email address" : "a URI");
            return MOAT_CA_EXIT_USAGE;
        }
        char *s = strdup(o->names[i]);
        if (!s) {
            fprintf(stderr, "moat ca issue: out of memory\n");
            return MOAT_CA_EXIT_FAIL;
        }
        lower_name(s, kind);
        int dup = 0;
        for (size_t k = 0; k < *n; k++)
            if (strcmp(names[k], s) == 0) dup = 1;
        if (dup)
            free(s);
        else
            names[(*n)++] = s;
    }
    return MOAT_CA_EXIT_OK;
}

/* 1 when one of the names is a host name or an IP address. */
static int names_a_host(char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int kind = ca_check_name(names[i], NULL, 0);
        if (kind == MOAT_CA_NAME_DNS || kind == MOAT_CA_NAME_IP) return 1;
    }
    return 0;
}

/* What `issue` is making, gathered step by step. */
struct issue_job {
    char **names; /* checked names (take_names) */
    size_t n;
    int64_t nb, na; /* validity */
    int host;       /* names a host or an IP address: a server certificate */
    char dir[4096]; /* the CA directory */
    char cert_path[4200], key_path[4200];
};

/* The validity of `issue` from --not-before, --not-after and --days.
 * Returns an exit code. */
static int issue_validity(const struct opts *o, struct issue_job *j)
{
    j->nb = ca_now();
    if (o->not_before && parse_date(o->not_before, &j->nb) != 0)
        return usage_error("issue", "--not-before needs a date as YYYY-MM-DD, not", o->not_before);
    if (o->not_after) {
        if (parse_date(o->not_after, &j->na) != 0)
            return usage_error("issue", "--not-after needs a date as YYYY-MM-DD, not",
                               o->not_after);
        j->na += 86399; /* valid through the whole of that day */
    } else {
        j->na = j->nb + (int64_t)(o->days ? o->days : MOAT_CA_LEAF_DAYS) * 86400;
    }
    if (j->na <= j->nb)
        return usage_error("issue", "the certificate would expire before it becomes valid", NULL);
    return MOAT_CA_EXIT_OK;
}

/* Output files: --cert-file and --key-file, else NAME.pem and
 * NAME-key.pem in the current directory. Returns an exit code. */
static int issue_paths(const struct opts *o, struct issue_job *j)
{
    char stem[512];
    file_stem(j->names[0], stem, sizeof stem);
    if (o->cert_file)
        snprintf(j->cert_path, sizeof j->cert_path, "%s", o->cert_file);
    else
        snprintf(j->cert_path, sizeof j->cert_path, "./%s.pem", stem);
    if (o->key_file)
        snprintf(j->key_path, sizeof j->key_path, "%s", o->key_file);
    else
        snprintf(j->key_path, sizeof j->key_path, "./%s-key.pem", stem);
    if (strcmp(j->cert_path, j->key_path) == 0)
        return usage_error("issue", "--cert-file and --key-file name the same file:", j->cert_path);
    return MOAT_CA_EXIT_OK;
}

/* What was issued, on stdout, and notes on its dates on stderr. */
static void report_issued(const struct opts *o, const struct issue_job *j, const char *serial)
{
    char from[32], until[32];
    int64_t now = ca_now();
    fmt_date(j->nb, from, sizeof from);
    fmt_date(j->na, until, sizeof until);
    printf("Created a certificate for:\n");
    static const char *const kinds[] = {"", "", " (IP address)", " (email address)", " (URI)"};
    for (size_t i = 0; i < j->n; i++) {
        int kind = ca_check_name(j->names[i], NULL, 0);
        printf("  - %s%s\n", j->names[i], kind > 0 && kind <= MOAT_CA_NAME_URI ? kinds[kind] : "");
    }
    printf("  certificate: %s\n"
           "  private key: %s (mode 0600)\n"
           "  valid from %s to %s, %s key, for %s, serial %s\n"
           "  issued by the CA in %s\n",
           j->cert_path, j->key_path, from, until, o->rsa ? "RSA-2048" : "ECDSA P-256",
           !o->client ? "servers"
           : j->host  ? "servers and clients"
                      : "clients",
           serial, j->dir);
    if (j->na < now)
        fprintf(stderr,
                "moat ca issue: note: this certificate expired on %s; clients will "
                "refuse it\n",
                until);
    else if (j->nb > now)
        fprintf(stderr, "moat ca issue: note: this certificate is not valid before %s\n", from);
    if (j->na - j->nb > (int64_t)MOAT_CA_APPLE_MAX_DAYS * 86400 + 86399)
        fprintf(stderr,
                "moat ca issue: note: Apple platforms refuse server certificates valid "
                "for more than %d days\n",
                MOAT_CA_APPLE_MAX_DAYS);
}

static int cmd_issue(struct opts *o)
{
    static const char *const allowed[] = {"--ca-dir",     "--days",      "--rsa",
                                          "--client",     "--cert-file", "--key-file",
                                          "--not-before", "--not-after", NULL};
    int rc = only_flags("issue", o, allowed);
    if (rc) return rc;
    if (o->n_names == 0)
        return usage_error("issue",
                           "name at least one host name or IP address (or, with --client, "
                           "email address or URI) to certify",
                           NULL);
    if (o->days && o->not_after)
        return usage_error("issue", "give either --days or --not-after, not both", NULL);

    struct issue_job j;
    memset(&j, 0, sizeof j);
    struct moat_ca ca;
    int ca_open = 0;
    if (!(j.names = calloc(o->n_names, sizeof *j.names))) {
        fprintf(stderr, "moat ca issue: out of memory\n");
        return MOAT_CA_EXIT_FAIL;
    }
    if ((rc = take_names(o, j.names, &j.n)) != 0 || (rc = issue_validity(o, &j)) != 0 ||
        (rc = resolve_dir(o, j.dir, sizeof j.dir)) != 0)
        goto out;
    j.host = names_a_host(j.names, j.n);
    char err[1024], serial[64] = "";
    int created = 0, or = ca_store_open(j.dir, 1, &created, &ca, err, sizeof err);
    if (or != 0) {
        fprintf(stderr, "moat ca issue: %s\n", err);
        rc = open_exit(or);
        goto out;
    }
    ca_open = 1;
    if (created)
        fprintf(stderr, "moat ca issue: created a new local CA in %s (its certificate is %s/%s)\n",
                j.dir, j.dir, MOAT_CA_CERT_FILE);
    struct ca_issue_req q = {
        .names = (const char *const *)j.names,
        .n_names = j.n,
        .not_before = j.nb,
        .not_after = j.na,
        .client = o->client,
        .rsa = o->rsa,
        .host = j.host,
        .cert_path = j.cert_path, /* filled in by issue_paths */
        .key_path = j.key_path,
    };
    /* What the CA may not certify is said before a mistake in the paths. */
    if ((rc = ca_issue_fits(&ca, &q, err, sizeof err)) != 0) {
        fprintf(stderr, "moat ca issue: %s\n", err);
        goto out;
    }
    if ((rc = issue_paths(o, &j)) != 0) goto out;
    if ((rc = ca_issue(&ca, &q, serial, sizeof serial, err, sizeof err)) != 0) {
        fprintf(stderr, "moat ca issue: %s\n", err);
        goto out;
    }
    report_issued(o, &j, serial);
out:
    if (ca_open) ca_store_close(&ca);
    for (size_t i = 0; i < j.n; i++)
        free(j.names[i]);
    free(j.names);
    return rc;
}

static int cmd_revoke(struct opts *o)
{
    static const char *const allowed[] = {"--ca-dir", "--reason", NULL};
    int r = only_flags("revoke", o, allowed);
    if (r) return r;
    if (o->n_names != 1)
        return usage_error("revoke",
                           "name one certificate: its file, or its serial number (see `moat ca "
                           "list`)",
                           NULL);
    char dir[4096];
    if ((r = resolve_dir(o, dir, sizeof dir)) != 0) return r;
    return ca_cmd_revoke(dir, o->names[0], o->reason);
}

static int cmd_crl(struct opts *o)
{
    static const char *const allowed[] = {"--ca-dir", "--out", "--days", "--der", NULL};
    int r = only_flags("crl", o, allowed);
    if (r) return r;
    if (o->n_names) return usage_error("crl", "takes no names; unexpected", o->names[0]);
    char dir[4096];
    if ((r = resolve_dir(o, dir, sizeof dir)) != 0) return r;
    return ca_cmd_crl(dir, o->out, o->days, o->der);
}

static int cmd_list(struct opts *o)
{
    static const char *const allowed[] = {"--ca-dir", NULL};
    int r = only_flags("list", o, allowed);
    if (r) return r;
    if (o->n_names) return usage_error("list", "takes no names; unexpected", o->names[0]);
    char dir[4096];
    if ((r = resolve_dir(o, dir, sizeof dir)) != 0) return r;
    return ca_cmd_list(dir);
}

static int cmd_trust(struct opts *o, int remove)
{
    const char *sub = remove ? "untrust" : "trust";
    static const char *const allowed[] = {"--ca-dir", "--nss-db", "--system-only", "--nss-only",
                                          NULL};
    int r = only_flags(sub, o, allowed);
    if (r) return r;
    if (o->n_names) return usage_error(sub, "takes no names; unexpected", o->names[0]);
    if (o->system_only && (o->nss_only || o->n_nss_dbs))
        return usage_error(sub, "--system-only goes with neither --nss-only nor --nss-db", NULL);
    char dir[4096];
    if ((r = resolve_dir(o, dir, sizeof dir)) != 0) return r;
    struct moat_ca_trust_opts t = {
        .remove = remove,
        .system = !o->nss_only && !o->n_nss_dbs,
        .nss = !o->system_only,
        .nss_dbs = o->nss_dbs,
        .n_nss_dbs = o->n_nss_dbs,
    };
    return ca_cmd_trust(dir, &t);
}

int cli_ca_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? MOAT_CA_EXIT_USAGE : MOAT_CA_EXIT_OK;
    }
    const char *sub = argv[1];
    struct opts o;
    memset(&o, 0, sizeof o);
    o.names = calloc((size_t)argc, sizeof *o.names);
    o.permit_dns = calloc((size_t)argc, sizeof *o.permit_dns);
    o.permit_ip = calloc((size_t)argc, sizeof *o.permit_ip);
    o.nss_dbs = calloc((size_t)argc, sizeof *o.nss_dbs);
    if (!o.names || !o.permit_dns || !o.permit_ip || !o.nss_dbs) {
        free(o.names);
        free(o.permit_dns);
        free(o.permit_ip);
        free(o.nss_dbs);
        fprintf(stderr, "moat ca: out of memory\n");
        return MOAT_CA_EXIT_FAIL;
    }
    int r;
    static const char *const subs[] = {"init", "issue", "path",  "revoke",
                                       "crl",  "list",  "trust", "untrust"};
    int known = 0;
    for (size_t k = 0; k < sizeof subs / sizeof *subs; k++)
        if (strcmp(sub, subs[k]) == 0) known = 1;
    if (!known) {
        r = usage_error(NULL, "unknown subcommand", sub);
        goto out;
    }
    if ((r = parse(sub, argc, argv, &o)) != 0) goto out;
    if (o.help) {
        fputs(usage_text, stdout);
        goto out;
    }
    if (strcmp(sub, "issue") == 0) {
        r = cmd_issue(&o);
    } else if (strcmp(sub, "revoke") == 0) {
        r = cmd_revoke(&o);
    } else if (strcmp(sub, "crl") == 0) {
        r = cmd_crl(&o);
    } else if (strcmp(sub, "list") == 0) {
        r = cmd_list(&o);
    } else if (strcmp(sub, "trust") == 0 || strcmp(sub, "untrust") == 0) {
        r = cmd_trust(&o, strcmp(sub, "untrust") == 0);
    } else if (o.n_names) {
        r = usage_error(sub, "takes no names; unexpected", o.names[0]);
    } else if (strcmp(sub, "init") == 0) {
        r = cmd_init(&o);
    } else {
        static const char *const dir_only[] = {"--ca-dir", NULL};
        if ((r = only_flags(sub, &o, dir_only)) == 0) r = cmd_path(&o);
    }
out:
    free(o.names);
    free(o.permit_dns);
    free(o.permit_ip);
    free(o.nss_dbs);
    return r;
}
