/* The CA directory: where it is, creating and loading the root, locking,
 * name checks. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "moat/error.h"

static int64_t (*clock_fn)(void);
static int ca_create_fault;

void ca_test_fault(int where)
{
    ca_create_fault = where;
}

void ca_set_clock(int64_t (*now)(void))
{
    clock_fn = now;
}

int64_t ca_now(void)
{
    return clock_fn ? clock_fn() : (int64_t)time(NULL);
}

void ca_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- where */

int ca_store_dir(const char *dir_flag, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *e;
    int n;
    if (dir_flag && *dir_flag)
        n = snprintf(out, outlen, "%s", dir_flag);
    else if ((e = getenv("MOAT_CA_HOME")) && *e)
        n = snprintf(out, outlen, "%s", e);
    else if ((e = getenv("XDG_DATA_HOME")) && *e == '/')
        n = snprintf(out, outlen, "%s/moat/ca", e);
    else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home) {
            ca_seterr(err, errlen,
                      "cannot find a home directory for the CA; set MOAT_CA_HOME or use "
                      "--ca-dir");
            return MOAT_ERR_ARG;
        }
        n = snprintf(out, outlen, "%s/.local/share/moat/ca", home);
    }
    if (n < 0 || (size_t)n >= outlen) {
        ca_seterr(err, errlen, "CA directory path too long");
        return MOAT_ERR_ARG;
    }
    /* Trailing slashes would double up in the file paths we print. */
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = 0;
    return 0;
}

int ca_make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (!*dir || snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        ca_seterr(err, errlen, "path too long: %s", dir);
        return MOAT_ERR_ARG;
    }
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                char m[256];
                snprintf(m, sizeof m, "%s", strerror(errno));
                ca_seterr(err, errlen, "cannot create the directory %s: %s", path, m);
                return MOAT_ERR_IO;
            }
            *p = c;
            if (c == 0) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ca_seterr(err, errlen, "%s is not a directory", path);
        return MOAT_ERR_IO;
    }
    return 0;
}

static int join(char *out, size_t len, const char *dir, const char *file)
{
    int n = snprintf(out, len, "%s/%s", dir, file);
    return n >= 0 && (size_t)n < len ? 0 : MOAT_ERR_ARG;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- creating and opening */

void ca_user_at_host(char *out, size_t len)
{
    const char *user = getenv("USER");
    struct passwd *pw = NULL;
    if (!user || !*user) {
        pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "user";
    }
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    snprintf(out, len, "%.100s@%.100s", user, host);
}

int ca_create(const char *dir, const char *const *permit_dns, size_t n_dns,
              const char *const *permit_ip, size_t n_ip, char *err, size_t errlen)
{
    char cert_path[4200], key_path[4200];
    if (join(cert_path, sizeof cert_path, dir, MOAT_CA_CERT_FILE) ||
        join(key_path, sizeof key_path, dir, MOAT_CA_KEY_FILE)) {
        ca_seterr(err, errlen, "path too long: %s", dir);
        return MOAT_ERR_ARG;
    }
    if (exists(cert_path) || exists(key_path)) {
        ca_seterr(err, errlen, "a CA already exists in %s", dir);
        return MOAT_ERR_STATE;
    }
    int64_t now = ca_now();
    char ou[256], cn[64];
    ca_user_at_host(ou, sizeof ou);
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(cn, sizeof cn, "moat root %Y-%m-%d", &tm);
    struct moat_root_params rp = {
        .org = "moat local CA",
        .org_unit = ou,
        .common_name = cn,
        .not_before = now,
        .not_after = now + (int64_t)MOAT_CA_ROOT_DAYS * 86400,
        .permit_dns = permit_dns,
        .n_permit_dns = n_dns,
        .permit_ip = permit_ip,
        .n_permit_ip = n_ip,
    };
    /* Ten calendar years (leap days included), when the calendar allows. */
    tm.tm_year += MOAT_CA_ROOT_YEARS;
    time_t end = timegm(&tm);
    if (end != (time_t)-1 && end > t) rp.not_after = (int64_t)end;
    moat_pkey *key = NULL;
    moat_cert *cert = NULL;
    int r = crypto_pkey_generate(MOAT_KEY_EC_P256, &key, err, errlen);
    if (r == 0) r = crypto_x509_make_root(key, &rp, &cert, err, errlen);
    /* Both files are written whole under temporary names first; only then
     * do they take their real names, the key first and the certificate
     * last. A crash before the renames leaves only the temporary files,
     * which the next creation overwrites; the certificate's rename is the
     * moment the CA exists. What no order can rule out, a crash between
     * the two renames, leaves a key without its certificate: open_ca
     * explains that case rather than replacing a key. */
    char tmp_cert[4300], tmp_key[4300];
    snprintf(tmp_cert, sizeof tmp_cert, "%s/%s", dir, MOAT_CA_NEW_CERT_FILE);
    snprintf(tmp_key, sizeof tmp_key, "%s/%s", dir, MOAT_CA_NEW_KEY_FILE);
    if (r == 0) r = ca_write_key(key, tmp_key, err, errlen);
    if (r == 0) {
        const moat_cert *chain[1] = {cert};
        r = ca_write_certs(chain, 1, tmp_cert, 0644, err, errlen);
    }
    if (r == 0 && ca_create_fault == 1) r = MOAT_ERR_IO; /* tests: a crash before the renames */
    if (r == 0 && rename(tmp_key, key_path) != 0) {
        ca_seterr(err, errlen, "cannot create %s: %s", key_path, strerror(errno));
        r = MOAT_ERR_IO;
    }
    if (r == 0 && rename(tmp_cert, cert_path) != 0) {
        ca_seterr(err, errlen, "cannot create %s: %s", cert_path, strerror(errno));
        unlink(key_path);
        r = MOAT_ERR_IO;
    }
    if (r == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd); /* make the renames durable */
            close(dfd);
        }
    } else if (ca_create_fault != 1) {
        unlink(tmp_key);
        unlink(tmp_cert);
    }
    crypto_cert_free(cert);
    crypto_pkey_free(key);
    return r;
}

static int take_lock(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    if (join(path, sizeof path, dir, MOAT_CA_LOCK_FILE)) {
        ca_seterr(err, errlen, "path too long: %s", dir);
        return MOAT_ERR_ARG;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ca_seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return MOAT_ERR_IO;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            ca_seterr(err, errlen, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return MOAT_ERR_IO;
        }
    }
    return fd;
}

/* ca_store_open, and with fresh set ca_init: create means make one
 * when there is none (with these constraints); fresh means there must be
 * none (MOAT_ERR_STATE otherwise). */
static int open_ca(const char *dir, int create, int fresh, const char *const *dns, size_t nd,
                   const char *const *ip, size_t ni, int *created, struct moat_ca *ca, char *err,
                   size_t errlen)
{
    memset(ca, 0, sizeof *ca);
    ca->lock_fd = -1;
    if (created) *created = 0;
    if (snprintf(ca->dir, sizeof ca->dir, "%s", dir) >= (int)sizeof ca->dir) {
        ca_seterr(err, errlen, "path too long: %s", dir);
        return MOAT_ERR_ARG;
    }
    char cert_path[4200], key_path[4200];
    if (join(cert_path, sizeof cert_path, dir, MOAT_CA_CERT_FILE) ||
        join(key_path, sizeof key_path, dir, MOAT_CA_KEY_FILE)) {
        ca_seterr(err, errlen, "path too long: %s", dir);
        return MOAT_ERR_ARG;
    }
    int r;
    if (create) {
        r = ca_make_dirs(dir, err, errlen);
        if (r != 0) return r;
    } else {
        /* Create nothing (not even the lock file) where there is no CA. */
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            ca_seterr(err, errlen,
                      "there is no CA directory %s; make a CA with `moat ca init` (or name "
                      "another with --ca-dir or $MOAT_CA_HOME)",
                      dir);
            return MOAT_ERR_FILE;
        }
        if (!exists(cert_path) && !exists(key_path)) {
            ca_seterr(err, errlen, "there is no CA in %s; make one with `moat ca init`", dir);
            return MOAT_ERR_FILE;
        }
    }
    r = take_lock(dir, err, errlen);
    if (r < 0) return r;
    ca->lock_fd = r;

    int have_cert = exists(cert_path), have_key = exists(key_path);
    if (fresh && have_cert && have_key) {
        ca_seterr(err, errlen, "a CA already exists in %s", dir);
        r = MOAT_ERR_STATE;
        goto fail;
    }
    if (!have_cert && !have_key) {
        if (!create) {
            ca_seterr(err, errlen, "there is no CA in %s; make one with `moat ca init`", dir);
            r = MOAT_ERR_FILE;
            goto fail;
        }
        r = ca_create(dir, dns, nd, ip, ni, err, errlen);
        if (r != 0) goto fail;
        if (created) *created = 1;
    } else if (!have_cert) {
        /* The key without its certificate: a creation that stopped
         * between its two renames (or a root deleted by hand). Nothing can
         * have been issued by it, but a private key is not ours to delete. */
        ca_seterr(err, errlen,
                  "the CA in %s is incomplete: %s is there but %s is missing (an interrupted "
                  "`moat ca init`, or a deleted file); restore %s, or move %s away and run "
                  "`moat ca init` again",
                  dir, MOAT_CA_KEY_FILE, MOAT_CA_CERT_FILE, MOAT_CA_CERT_FILE, key_path);
        r = MOAT_ERR_FILE;
        goto fail;
    } else if (!have_key) {
        ca_seterr(err, errlen,
                  "the CA in %s is incomplete: %s is missing, so nothing can be issued; restore "
                  "it, or move the CA directory away and run `moat ca init` again",
                  dir, MOAT_CA_KEY_FILE);
        r = MOAT_ERR_FILE;
        goto fail;
    }
    char why[1024];
    r = ca_read_cert(cert_path, &ca->cert, why, sizeof why);
    if (r == 0) r = ca_read_key(key_path, &ca->key, why, sizeof why);
    if (r != 0) {
        ca_seterr(err, errlen, "the CA in %s is damaged: %s", dir, why);
        r = MOAT_ERR_FILE;
        goto fail;
    }
    if (!crypto_cert_is_ca(ca->cert)) {
        ca_seterr(err, errlen, "the CA in %s is damaged: %s is not a CA certificate", dir,
                  cert_path);
        r = MOAT_ERR_FILE;
        goto fail;
    }
    if (!crypto_cert_matches_key(ca->cert, ca->key)) {
        ca_seterr(err, errlen,
                  "the CA in %s is damaged: %s is not the private key of %s (wrong key)", dir,
                  key_path, cert_path);
        r = MOAT_ERR_FILE;
        goto fail;
    }
    return 0;
fail:
    ca_store_close(ca);
    return r;
}

int ca_store_open(const char *dir, int create, int *created, struct moat_ca *ca, char *err,
                  size_t errlen)
{
    return open_ca(dir, create, 0, NULL, 0, NULL, 0, created, ca, err, errlen);
}

int ca_init(const char *dir, const char *const *permit_dns, size_t n_dns,
            const char *const *permit_ip, size_t n_ip, struct moat_ca *ca, char *err, size_t errlen)
{
    return open_ca(dir, 1, 1, permit_dns, n_dns, permit_ip, n_ip, NULL, ca, err, errlen);
}

void ca_store_close(struct moat_ca *ca)
{
    crypto_cert_free(ca->cert);
    crypto_pkey_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
    if (ca->lock_fd >= 0) close(ca->lock_fd); /* releases the flock */
    ca->lock_fd = -1;
}

int ca_record_issued(const struct moat_ca *ca, const moat_cert *leaf, char *err, size_t errlen)
{
    char serial[64], issued[4200], record[4300];
    if (crypto_cert_serial_hex(leaf, serial, sizeof serial) != 0 ||
        join(issued, sizeof issued, ca->dir, MOAT_CA_ISSUED_DIR)) {
        ca_seterr(err, errlen, "cannot name the record of the certificate");
        return MOAT_ERR_ARG;
    }
    snprintf(record, sizeof record, "%s/%s.pem", issued, serial);
    if (mkdir(issued, 0700) != 0 && errno != EEXIST) {
        ca_seterr(err, errlen, "cannot create %s: %s", issued, strerror(errno));
        return MOAT_ERR_IO;
    }
    const moat_cert *chain[1] = {leaf};
    return ca_write_certs(chain, 1, record, 0644, err, errlen);
}

/* ---- names */

/* A host name (see ca_check_name), or -1 with why. */
static int check_dns(const char *name, char *why, size_t whylen)
{
    const char *p = name;
    size_t total = strlen(name);
    if (total == 0) {
        ca_seterr(why, whylen, "an empty name is not a host name");
        return -1;
    }
    if (total > 253) {
        ca_seterr(why, whylen, "\"%.60s...\" is longer than the 253 bytes a DNS name may have",
                  name);
        return -1;
    }
    if (p[0] == '*') {
        if (p[1] != '.' || p[2] == 0) {
            ca_seterr(why, whylen,
                      "\"%s\" is not a valid wildcard: it must be \"*.\" followed by a domain",
                      name);
            return -1;
        }
        p += 2;
    }
    const char *label = p, *last = p;
    int all_digits = 1;
    for (;; p++) {
        char c = *p;
        if (c == '.' || c == 0) {
            size_t n = (size_t)(p - label);
            if (n == 0) {
                ca_seterr(why, whylen, "\"%s\" has an empty label (two dots, or a dot at an end)",
                          name);
                return -1;
            }
            if (n > 63) {
                ca_seterr(why, whylen, "\"%s\" has a label longer than 63 bytes", name);
                return -1;
            }
            if (label[0] == '-' || p[-1] == '-') {
                ca_seterr(why, whylen, "\"%s\" has a label that starts or ends with '-'", name);
                return -1;
            }
            last = label;
            if (c == 0) break;
            label = p + 1;
            continue;
        }
        if (!(isalnum((unsigned char)c) || c == '-') || (unsigned char)c >= 0x80) {
            if (c == '*')
                ca_seterr(why, whylen,
                          "\"%s\" is not a valid name: '*' is allowed only as a whole first "
                          "label (\"*.example.com\")",
                          name);
            else
                ca_seterr(why, whylen,
                          "\"%s\" is neither a host name (letters, digits, '-' and '.') nor an IP "
                          "address (nor, for --client, an email address or a scheme://host URI)",
                          name);
            return -1;
        }
    }
    for (const char *q = last; *q; q++)
        if (!isdigit((unsigned char)*q)) all_digits = 0;
    if (all_digits) {
        ca_seterr(why, whylen, "\"%s\" is not a valid IP address, nor a host name", name);
        return -1;
    }
    return MOAT_CA_NAME_DNS;
}

/* An email address for an rfc822Name SAN (RFC 5280 4.2.1.6, a Mailbox of
 * RFC 5321 4.1.2), stricter than the RFCs: a dot-atom local part without
 * '=' (so an identity taken from it never reads as a subject, "CN=..."),
 * '@', a host name. No quotes, spaces or control bytes. */
static int check_email(const char *name, char *why, size_t whylen)
{
    static const char atext[] = "!#$%&'*+-/?^_`{|}~.";
    const char *at = strchr(name, '@');
    size_t local = (size_t)(at - name);
    if (strlen(name) > 254 || local == 0 || local > 64) {
        ca_seterr(why, whylen,
                  "\"%.80s\" is not an email address: it needs 1 to 64 bytes before '@' and at "
                  "most 254 in all",
                  name);
        return -1;
    }
    for (const char *p = name; p < at; p++) {
        unsigned char c = (unsigned char)*p;
        int dot_ok = c != '.' || (p > name && p + 1 < at && p[1] != '.');
        if (!(isalnum(c) || (c && strchr(atext, c))) || c >= 0x80 || !dot_ok) {
            ca_seterr(why, whylen,
                      "\"%s\" is not an email address moat takes: before '@' go letters, digits "
                      "and !#$%%&'*+-/?^_`{|}~ with single dots between them (no spaces, quotes "
                      "or '=')",
                      name);
            return -1;
        }
    }
    char dwhy[8];
    if (strchr(at + 1, '@') || at[1] == '*' ||
        check_dns(at + 1, dwhy, sizeof dwhy) != MOAT_CA_NAME_DNS) {
        ca_seterr(why, whylen,
                  "\"%s\" is not an email address: after '@' comes a host name like example.test",
                  name);
        return -1;
    }
    return MOAT_CA_NAME_EMAIL;
}

/* A URI for a uniformResourceIdentifier SAN (RFC 5280 4.2.1.6: absolute,
 * with a scheme; like mkcert, moat also asks for a host: scheme://host...,
 * as spiffe:// and https:// identities have). Only the bytes RFC 3986
 * allows, so no spaces or control bytes. */
static int check_uri(const char *name, char *why, size_t whylen)
{
    static const char allowed[] = "-._~:/?#[]@!$&'()*+,;=%";
    const char *sep = strstr(name, "://");
    int ok = strlen(name) <= 1024 && isalpha((unsigned char)name[0]);
    for (const char *p = name; ok && p < sep; p++)
        ok = isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.';
    for (const char *p = name; ok && *p; p++)
        ok = (isalnum((unsigned char)*p) && (unsigned char)*p < 0x80) || strchr(allowed, *p);
    /* The authority: [userinfo@]host[:port], up to the path. */
    const char *host = sep + 3;
    size_t alen = strcspn(host, "/?#");
    const char *userinfo_end = memchr(host, '@', alen);
    if (userinfo_end) {
        alen -= (size_t)(userinfo_end + 1 - host);
        host = userinfo_end + 1;
    }
    if (ok && (alen == 0 || host[0] == ':')) ok = 0;
    if (!ok) {
        ca_seterr(why, whylen,
                  "\"%.80s\" is not a URI moat takes: it needs a scheme and a host "
                  "(spiffe://example.test/workload, https://example.test/alice), at most 1024 "
                  "bytes, no spaces or control bytes",
                  name);
        return -1;
    }
    return MOAT_CA_NAME_URI;
}

int ca_check_name(const char *name, char *why, size_t whylen)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
        return MOAT_CA_NAME_IP;
    if (strstr(name, "://")) return check_uri(name, why, whylen);
    if (strchr(name, '@')) return check_email(name, why, whylen);
    return check_dns(name, why, whylen);
}

const char *ca_common_name(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int kind = ca_check_name(names[i], NULL, 0);
        if (kind == MOAT_CA_NAME_EMAIL || kind == MOAT_CA_NAME_URI) return names[i];
    }
    for (size_t i = 0; i < n; i++)
        if (ca_check_name(names[i], NULL, 0) == MOAT_CA_NAME_DNS) return names[i];
    return NULL;
}
