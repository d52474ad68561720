/* Revocation for the local CA: the record of revoked serials, CRLs signed
 * from it, and `moat ca revoke`, `moat ca crl`, `moat ca list`. Every
 * change happens under the CA's flock and is written atomically. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "core/file.h"
#include "moat/error.h"

static const char *const reason_names[] = {
    "unspecified",        "keyCompromise", "cACompromise",
    "affiliationChanged", "superseded",    "cessationOfOperation",
};
#define N_REASONS (sizeof reason_names / sizeof *reason_names)

int ca_reason_code(const char *name)
{
    for (size_t i = 0; i < N_REASONS; i++)
        if (strcasecmp(name, reason_names[i]) == 0) return (int)i;
    return -1;
}

const char *ca_reason_name(int code)
{
    return code >= 0 && (size_t)code < N_REASONS ? reason_names[code] : "unspecified";
}

int ca_normalize_serial(const char *in, char *out, size_t outlen)
{
    char digits[128];
    size_t n = 0;
    if (strncasecmp(in, "serial=", 7) == 0) in += 7; /* as openssl x509 -serial prints */
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) in += 2;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ':' || c == ' ') continue;
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return MOAT_ERR_ARG;
        if (n == 0 && c == '0') continue; /* leading zeros */
        if (n + 2 >= sizeof digits) return MOAT_ERR_ARG;
        digits[n++] = c;
    }
    if (n == 0 || n > 40) return MOAT_ERR_ARG; /* 20 octets at most (RFC 5280 4.1.2.2) */
    if (outlen < n + 2) return MOAT_ERR_ARG;
    size_t j = 0;
    if (n % 2) out[j++] = '0';
    memcpy(out + j, digits, n);
    out[j + n] = 0;
    return 0;
}

static void record_path(const struct moat_ca *ca, const char *file, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", ca->dir, file);
}

int ca_read_revoked(const struct moat_ca *ca, struct moat_ca_revoked **out, size_t *n, char *err,
                    size_t errlen)
{
    *out = NULL;
    *n = 0;
    char path[4200];
    record_path(ca, MOAT_CA_REVOKED_FILE, path, sizeof path);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) return 0;
        ca_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return MOAT_ERR_FILE;
    }
    struct moat_ca_revoked *v = NULL;
    size_t cap = 0, count = 0;
    char line[512];
    int r = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char serial[128], reason[64], norm[48];
        long long when;
        int code;
        if (!strchr(line, '\n') || sscanf(line, "%127s %lld %63s", serial, &when, reason) != 3 ||
            ca_normalize_serial(serial, norm, sizeof norm) != 0 || strcmp(norm, serial) != 0 ||
            (code = ca_reason_code(reason)) < 0) {
            ca_seterr(err, errlen, "the revocation record %s is damaged at line %d", path, lineno);
            r = MOAT_ERR_FILE;
            break;
        }
        if (count == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct moat_ca_revoked *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                r = MOAT_ERR_NOMEM;
                ca_seterr(err, errlen, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        snprintf(v[count].serial, sizeof v[count].serial, "%s", norm);
        v[count].when = (int64_t)when;
        v[count].reason = code;
        count++;
    }
    if (r == 0 && ferror(f)) {
        ca_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        r = MOAT_ERR_FILE;
    }
    fclose(f);
    if (r != 0) {
        free(v);
        return r;
    }
    *out = v;
    *n = count;
    return 0;
}

int ca_is_revoked(const struct moat_ca *ca, const char *serial)
{
    struct moat_ca_revoked *v = NULL;
    size_t n = 0;
    if (ca_read_revoked(ca, &v, &n, NULL, 0) != 0) return 1;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(v[i].serial, serial) == 0;
    free(v);
    return found;
}

int ca_revoke(const struct moat_ca *ca, const char *serial, int reason, int64_t when,
              struct moat_ca_revoked *prev, char *err, size_t errlen)
{
    struct moat_ca_revoked *v = NULL;
    size_t n = 0;
    int r = ca_read_revoked(ca, &v, &n, err, errlen);
    if (r != 0) return r;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].serial, serial) == 0) {
            if (prev) *prev = v[i];
            free(v);
            return 1;
        }
    /* The whole record again plus one line, then an atomic rename: a crash
     * leaves either the old record or the new one. */
    size_t cap = (n + 2) * 96 + 128, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        free(v);
        ca_seterr(err, errlen, "out of memory");
        return MOAT_ERR_NOMEM;
    }
    len += (size_t)snprintf(buf + len, cap - len,
                            "# moat CA revocation record: serial, time (seconds since 1970, "
                            "UTC), RFC 5280 reason\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %lld %s\n", v[i].serial,
                                (long long)v[i].when, ca_reason_name(v[i].reason));
    len += (size_t)snprintf(buf + len, cap - len, "%s %lld %s\n", serial, (long long)when,
                            ca_reason_name(reason));
    char path[4200];
    record_path(ca, MOAT_CA_REVOKED_FILE, path, sizeof path);
    r = core_write_file_atomic(path, buf, len, 0644, err, errlen);
    free(buf);
    free(v);
    return r;
}

/* The last CRL number, from <dir>/crlnumber (0 when there is none). */
static int read_crl_number(const struct moat_ca *ca, uint64_t *out, char *err, size_t errlen)
{
    char path[4200];
    record_path(ca, MOAT_CA_CRLNUMBER_FILE, path, sizeof path);
    *out = 0;
    size_t len = 0;
    char *line = (char *)core_read_file(path, 1 << 20, &len);
    /* Not a regular file, or far too long: damaged, as a bad number is. */
    if (!line && errno != EINVAL && errno != EFBIG) {
        if (errno == ENOENT) return 0;
        ca_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return MOAT_ERR_FILE;
    }
    int ok = line && len > 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = ok ? strtoull(line, &end, 10) : 0;
    if (!ok || errno || end == line || (*end != '\n' && *end != 0) || line[0] == '-') {
        free(line);
        ca_seterr(err, errlen, "%s is damaged (it should hold one number)", path);
        return MOAT_ERR_FILE;
    }
    free(line);
    *out = (uint64_t)v;
    return 0;
}

int ca_make_crl(const struct moat_ca *ca, long days, int der, unsigned char **out, size_t *outlen,
                uint64_t *number, char *err, size_t errlen)
{
    struct moat_ca_revoked *v = NULL;
    size_t n = 0;
    uint64_t last = 0;
    int r = ca_read_revoked(ca, &v, &n, err, errlen);
    if (r == 0) r = read_crl_number(ca, &last, err, errlen);
    if (r != 0) {
        free(v);
        return r;
    }
    struct moat_crl_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e) {
        free(v);
        ca_seterr(err, errlen, "out of memory");
        return MOAT_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].serial_hex = v[i].serial;
        e[i].revoked_at = v[i].when;
        e[i].reason = v[i].reason;
    }
    int64_t now = ca_now();
    *number = last + 1;
    /* The number first: a CRL out in the world never shares its number
     * with a later one, even if we crash right after (RFC 5280 5.2.3). */
    char path[4200], num[32];
    record_path(ca, MOAT_CA_CRLNUMBER_FILE, path, sizeof path);
    int nl = snprintf(num, sizeof num, "%" PRIu64 "\n", *number);
    r = core_write_file_atomic(path, num, (size_t)nl, 0644, err, errlen);
    if (r == 0)
        r = crypto_crl_make(ca->cert, ca->key, e, n, now, now + (int64_t)days * 86400, *number, der,
                            out, outlen, err, errlen);
    if (r == 0) {
        /* A PEM copy beside the CA, for whoever wants the latest. */
        unsigned char *pem = NULL;
        size_t pl = 0;
        char cpath[4200];
        record_path(ca, MOAT_CA_CRL_FILE, cpath, sizeof cpath);
        if (!der) {
            r = core_write_file_atomic(cpath, *out, *outlen, 0644, err, errlen);
        } else {
            r = crypto_crl_make(ca->cert, ca->key, e, n, now, now + (int64_t)days * 86400, *number,
                                0, &pem, &pl, err, errlen);
            if (r == 0) r = core_write_file_atomic(cpath, pem, pl, 0644, err, errlen);
            free(pem);
        }
        if (r != 0) {
            free(*out);
            *out = NULL;
            *outlen = 0;
        }
    }
    free(e);
    free(v);
    return r;
}

/* ---- the commands */

static int open_exit(int r)
{
    return r == MOAT_ERR_FILE || r == MOAT_ERR_ARG ? MOAT_CA_EXIT_USAGE : MOAT_CA_EXIT_FAIL;
}

static void fmt_day(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%d", &tm) == 0) snprintf(out, len, "?");
}

static void fmt_time(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, len, "?");
}

int ca_cmd_revoke(const char *dir, const char *what, const char *reason_name)
{
    int reason = MOAT_CRL_REASON_UNSPECIFIED;
    if (reason_name && (reason = ca_reason_code(reason_name)) < 0) {
        fprintf(stderr,
                "moat ca revoke: unknown reason \"%s\"; say one of unspecified, keyCompromise, "
                "cACompromise, affiliationChanged, superseded, cessationOfOperation\n",
                reason_name);
        return MOAT_CA_EXIT_USAGE;
    }
    char err[1024], serial[64] = "", names[512] = "";
    struct moat_ca ca;
    int r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "moat ca revoke: %s\n", err);
        return open_exit(r);
    }
    int rc = MOAT_CA_EXIT_USAGE;
    moat_cert *c = NULL;
    struct stat st;
    if (stat(what, &st) == 0) {
        /* A certificate file: it must be one this CA signed. */
        if (ca_read_cert(what, &c, err, sizeof err) != 0) {
            fprintf(stderr, "moat ca revoke: %s\n", err);
            goto out;
        }
        if (!crypto_cert_signed_by(c, ca.cert)) {
            fprintf(stderr,
                    "moat ca revoke: %s was not issued by the CA in %s; only its issuer can "
                    "revoke it\n",
                    what, dir);
            goto out;
        }
        crypto_cert_serial_hex(c, serial, sizeof serial);
    } else {
        if (ca_normalize_serial(what, serial, sizeof serial) != 0) {
            fprintf(stderr,
                    "moat ca revoke: \"%s\" is neither a certificate file nor a serial number "
                    "(hex digits, as `moat ca list` shows them)\n",
                    what);
            goto out;
        }
        char rec[4400];
        snprintf(rec, sizeof rec, "%s/%s/%s.pem", dir, MOAT_CA_ISSUED_DIR, serial);
        if (ca_read_cert(rec, &c, err, sizeof err) != 0) {
            fprintf(stderr,
                    "moat ca revoke: this CA has no record of a certificate with serial %s "
                    "(see `moat ca list`; to revoke a certificate by its file, name the file)\n",
                    serial);
            goto out;
        }
    }
    crypto_cert_names(c, names, sizeof names);
    struct moat_ca_revoked prev;
    int64_t now = ca_now();
    r = ca_revoke(&ca, serial, reason, now, &prev, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "moat ca revoke: %s\n", err);
        rc = open_exit(r) == MOAT_CA_EXIT_USAGE ? MOAT_CA_EXIT_USAGE : MOAT_CA_EXIT_FAIL;
        goto out;
    }
    char when[64];
    if (r == 1) {
        fmt_time(prev.when, when, sizeof when);
        printf("Certificate %s (%s) was already revoked on %s (%s); nothing changed.\n", serial,
               names, when, ca_reason_name(prev.reason));
    } else {
        fmt_time(now, when, sizeof when);
        printf("Revoked certificate %s (%s) on %s, reason %s.\n"
               "Clients learn of it from a new CRL: run `moat ca crl --out FILE` and give them "
               "FILE.\n",
               serial, names, when, ca_reason_name(reason));
    }
    rc = 0;
out:
    crypto_cert_free(c);
    ca_store_close(&ca);
    return rc;
}

int ca_cmd_crl(const char *dir, const char *out_file, long days, int der)
{
    char err[1024];
    struct moat_ca ca;
    int r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "moat ca crl: %s\n", err);
        return open_exit(r);
    }
    unsigned char *crl = NULL;
    size_t len = 0;
    uint64_t number = 0;
    int64_t ca_end = 0;
    crypto_cert_not_after(ca.cert, &ca_end);
    if (days <= 0) days = MOAT_CA_CRL_DAYS;
    r = ca_make_crl(&ca, days, der, &crl, &len, &number, err, sizeof err);
    int rc = 0;
    if (r != 0) {
        fprintf(stderr, "moat ca crl: %s\n", err);
        rc = open_exit(r);
    } else if (out_file) {
        r = core_write_file_atomic(out_file, crl, len, 0644, err, sizeof err);
        if (r != 0) {
            fprintf(stderr, "moat ca crl: %s\n", err);
            rc = MOAT_CA_EXIT_FAIL;
        } else {
            struct moat_ca_revoked *v = NULL;
            size_t n = 0;
            ca_read_revoked(&ca, &v, &n, NULL, 0);
            free(v);
            char next[32];
            fmt_day(ca_now() + (int64_t)days * 86400, next, sizeof next);
            printf("Wrote CRL number %" PRIu64 " to %s (%s, %zu revoked certificate%s, next "
                   "update %s)\n",
                   number, out_file, der ? "DER" : "PEM", n, n == 1 ? "" : "s", next);
        }
    } else {
        size_t w = fwrite(crl, 1, len, stdout);
        if (w != len || fflush(stdout) != 0) {
            fprintf(stderr, "moat ca crl: cannot write the CRL to stdout\n");
            rc = MOAT_CA_EXIT_FAIL;
        }
    }
    free(crl);
    ca_store_close(&ca);
    return rc;
}

struct listed {
    char serial[64];
    char names[512];
    int64_t nb, na;
};

static int by_date(const void *a, const void *b)
{
    const struct listed *x = a, *y = b;
    if (x->nb != y->nb) return x->nb < y->nb ? -1 : 1;
    return strcmp(x->serial, y->serial);
}

int ca_cmd_list(const char *dir)
{
    char err[1024];
    struct moat_ca ca;
    int r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "moat ca list: %s\n", err);
        return open_exit(r);
    }
    struct moat_ca_revoked *rev = NULL;
    size_t n_rev = 0;
    r = ca_read_revoked(&ca, &rev, &n_rev, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "moat ca list: %s\n", err);
        ca_store_close(&ca);
        return open_exit(r);
    }
    char issued[4200];
    snprintf(issued, sizeof issued, "%s/%s", dir, MOAT_CA_ISSUED_DIR);
    struct listed *v = NULL;
    size_t n = 0, cap = 0;
    int damaged = 0;
    DIR *d = opendir(issued);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".pem") != 0 || strstr(de->d_name, ".tmp-"))
            continue;
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", issued, de->d_name);
        moat_cert *c = NULL;
        if (ca_read_cert(path, &c, err, sizeof err) != 0) {
            fprintf(stderr, "moat ca list: skipping %s\n", err);
            damaged = 1;
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct listed *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                crypto_cert_free(c);
                break;
            }
            v = nv;
            cap = nc;
        }
        struct listed *e = &v[n++];
        crypto_cert_serial_hex(c, e->serial, sizeof e->serial);
        crypto_cert_names(c, e->names, sizeof e->names);
        crypto_cert_not_before(c, &e->nb);
        crypto_cert_not_after(c, &e->na);
        crypto_cert_free(c);
    }
    if (d) closedir(d);
    if (n) qsort(v, n, sizeof *v, by_date);

    char subject[512] = "", until[32], nc[512] = "";
    int64_t ca_na = 0, now = ca_now();
    crypto_cert_subject(ca.cert, subject, sizeof subject);
    crypto_cert_not_after(ca.cert, &ca_na);
    fmt_day(ca_na, until, sizeof until);
    crypto_cert_constraints(ca.cert, nc, sizeof nc);
    printf("CA %s: %s, valid until %s%s%s\n", dir, subject, until, nc[0] ? ", only for " : "", nc);
    printf("%-34s %-10s %-10s %-41s %s\n", "SERIAL", "FROM", "UNTIL", "STATUS", "NAMES");
    size_t n_revoked = 0;
    for (size_t i = 0; i < n; i++) {
        char from[32], to[32], status[96] = "valid";
        fmt_day(v[i].nb, from, sizeof from);
        fmt_day(v[i].na, to, sizeof to);
        if (v[i].na < now) snprintf(status, sizeof status, "expired");
        if (v[i].nb > now) snprintf(status, sizeof status, "not yet valid");
        for (size_t k = 0; k < n_rev; k++)
            if (strcmp(rev[k].serial, v[i].serial) == 0) {
                char on[32];
                fmt_day(rev[k].when, on, sizeof on);
                snprintf(status, sizeof status, "REVOKED %s (%s)", on,
                         ca_reason_name(rev[k].reason));
                n_revoked++;
            }
        printf("%-34s %-10s %-10s %-41s %s\n", v[i].serial, from, to, status, v[i].names);
    }
    printf("%zu certificate%s, %zu revoked\n", n, n == 1 ? "" : "s", n_revoked);
    free(v);
    free(rev);
    ca_store_close(&ca);
    return damaged ? MOAT_CA_EXIT_FAIL : 0;
}
