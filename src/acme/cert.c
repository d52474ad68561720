/* The work of `moat cert obtain|renew|revoke` (its command line is
 * cli/cert.c): certificates from an ACME CA, once,
 * with a temporary challenge listener; the state (account key, what each
 * certificate was ordered with) in --acme-dir under a lock. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"
#include "ca/ca.h"
#include "core/file.h"
#include "crypto/crypto.h"
#include "crypto/x509gen.h"
#include "moat/tlsfile.h"

/* --acme-dir, or $XDG_DATA_HOME/moat/acme (~/.local/share), or
 * /var/lib/moat/acme as root; created 0700. */
int acme_state_dir(struct acme_cert_opts *o)
{
    if (!o->dir) {
        const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        if (geteuid() == 0 && !x)
            snprintf(o->dirbuf, sizeof o->dirbuf, "/var/lib/moat/acme");
        else if (x && *x)
            snprintf(o->dirbuf, sizeof o->dirbuf, "%s/moat/acme", x);
        else
            snprintf(o->dirbuf, sizeof o->dirbuf, "%s/.local/share/moat/acme", home ? home : ".");
        o->dir = o->dirbuf;
    }
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", o->dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "moat: cert: cannot create %s: %s\n", p, strerror(errno));
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    return 0;
}

/* flock on DIR/lock (RFC-free: two processes sharing a directory must
 * not both order): waits up to lock_wait seconds, saying so once. */
static int take_lock(const struct acme_cert_opts *o)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/lock", o->dir);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "moat: cert: cannot open %s: %s\n", p, strerror(errno));
        return -ACME_EXIT_IO;
    }
    for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited++) {
        if (errno != EWOULDBLOCK || waited >= o->lock_wait * 10) {
            fprintf(stderr, "moat: cert: another moat still holds %s; giving up\n", p);
            close(fd);
            return -ACME_EXIT_LOCKED;
        }
        if (!waited) fprintf(stderr, "moat: cert: waiting for another moat that holds %s\n", p);
        usleep(100000);
    }
    return fd;
}

/* mkcert's naming: the first name, "+N" for N more, '*' as "_wildcard". */
static void base_name(const struct acme_cert_opts *o, char *out, size_t n)
{
    const char *first = o->names[0];
    char extra[24] = "";
    if (o->nnames > 1) snprintf(extra, sizeof extra, "+%zu", o->nnames - 1);
    if (!strncmp(first, "*.", 2))
        snprintf(out, n, "_wildcard%s%s", first + 1, extra);
    else
        snprintf(out, n, "%s%s", first, extra);
}

/* A directory URL as one file name: its letters, digits, '.' and '-'. */
static void account_dir(const struct acme_cert_opts *o, char *out, size_t n)
{
    char u[256];
    size_t j = 0;
    for (const char *s = strstr(o->acme, "://") ? strstr(o->acme, "://") + 3 : o->acme;
         *s && j < sizeof u - 1; s++)
        u[j++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                         *s == '.' || *s == '-'
                     ? *s
                     : '_';
    u[j] = 0;
    snprintf(out, n, "%s/accounts/%s", o->dir, u);
}

/* A state file or a certificate: small, NUL-terminated (core_read_file). */
static char *slurp(const char *path, size_t *len)
{
    size_t n = 0;
    char *b = (char *)core_read_file(path, 1 << 20, &n);
    if (b && len) *len = n;
    return b;
}

/* The account: its key created once (0600) and reused; its URL kept
 * beside it. newAccount each run finds it again (RFC 8555 7.3.1). */
static int account(struct acme_client *c, const struct acme_cert_opts *o)
{
    char d[PATH_MAX], key[PATH_MAX + 32], url[PATH_MAX + 32], err[1024] = "";
    snprintf(d, sizeof d, "%s/accounts", o->dir);
    mkdir(d, 0700);
    account_dir(o, d, sizeof d);
    mkdir(d, 0700);
    snprintf(key, sizeof key, "%s/account-key.pem", d);
    snprintf(url, sizeof url, "%s/account.url", d);
    char *known = slurp(url, NULL);
    if (!known && !o->agree) {
        fprintf(stderr, "moat: cert: a new account needs --acme-agree-tos (the CA's terms: %s)\n",
                c->dir.terms[0] ? c->dir.terms : "see the CA");
        return ACME_EXIT_USAGE;
    }
    int r = access(key, F_OK) == 0 ? ca_read_key(key, &c->key, err, sizeof err) : 1;
    if (r == 1) {
        r = crypto_pkey_generate(MOAT_KEY_EC_P256, &c->key, err, sizeof err);
        if (!r) r = ca_write_key(c->key, key, err, sizeof err);
    }
    if (r) {
        free(known);
        fprintf(stderr, "moat: cert: account key %s: %s\n", key, err);
        return ACME_EXIT_IO;
    }
    r = acme_account(c, o->email, 1, err, sizeof err);
    if (r == 0 && (!known || strcmp(known, c->kid)))
        r = core_write_file_atomic(url, c->kid, strlen(c->kid), 0600, err, sizeof err) ? -1 : 0;
    free(known);
    if (r) fprintf(stderr, "moat: cert: %s\n", err);
    return r ? ACME_EXIT_FAIL : 0;
}

static int connect_ca(struct acme_client *c, const struct acme_cert_opts *o, int with_account)
{
    char err[2048] = "";
    memset(c, 0, sizeof *c);
    c->verbose = o->verbose;
    c->bind_addr = o->listen;
    c->publisher = o->publisher;
    c->tls = moat_tls_config_new();
    static const char *const alpn[] = {"http/1.1"};
    if (!c->tls || moat_tls_config_set_alpn(c->tls, alpn, 1) < 0) return ACME_EXIT_FAIL;
    if (o->ca_root && moat_tls_config_set_ca_file(c->tls, o->ca_root, err, sizeof err) < 0) {
        fprintf(stderr, "moat: cert: cannot use --acme-ca-root %s: %s\n", o->ca_root, err);
        return ACME_EXIT_USAGE;
    }
    if (acme_open(c, o->acme, err, sizeof err) < 0) {
        fprintf(stderr, "moat: cert: %s\n", err);
        return ACME_EXIT_NETWORK;
    }
    return with_account ? account(c, o) : 0;
}

static void disconnect(struct acme_client *c)
{
    acme_client_free(c);
    moat_tls_config_free(c->tls);
    c->tls = NULL;
}

/* What renew needs to order the same certificate again. */
static int save_order(const struct acme_cert_opts *o, const char *base, const char *out)
{
    json_t *names = json_array();
    for (size_t i = 0; names && i < o->nnames; i++)
        json_array_append_new(names, json_string(o->names[i]));
    char root[PATH_MAX] = "";
    /* Absolute, so that renew from cron finds it from any directory. */
    if (o->ca_root && !realpath(o->ca_root, root)) snprintf(root, sizeof root, "%s", o->ca_root);
    json_t *j = json_pack("{s:s, s:o, s:s, s:i, s:s, s:s, s:s*, s:s*, s:s*}", "directory", o->acme,
                          "domains", names, "challenge", o->tls_port ? "tls-alpn-01" : "http-01",
                          "port", o->tls_port ? o->tls_port : o->http_port, "key_type",
                          o->key_type == MOAT_KEY_RSA2048 ? "rsa2048" : "p256", "out", out, "email",
                          o->email, "listen", o->listen, "ca_root", root[0] ? root : NULL);
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    char p[PATH_MAX + 300], err[512];
    snprintf(p, sizeof p, "%s/certs", o->dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/certs/%s.json", o->dir, base);
    int r = s ? core_write_file_atomic(p, s, strlen(s), 0600, err, sizeof err) : -1;
    free(s);
    return r;
}

/* Whether the certificate at path is due for renewal: less than a third
 * of its lifetime left, or less than renew_before days when given. -1
 * when it cannot be read. */
int acme_cert_due(const char *path, double renew_before, int64_t *not_after, int64_t *lifetime)
{
    moat_cert *c;
    char err[256];
    int64_t nb, na;
    if (ca_read_cert(path, &c, err, sizeof err) < 0) return -1;
    int r = crypto_cert_not_before(c, &nb) | crypto_cert_not_after(c, &na);
    crypto_cert_free(c);
    if (r) return -1;
    *not_after = na;
    if (lifetime) *lifetime = na - nb;
    int64_t left = na - (int64_t)time(NULL);
    int64_t margin = renew_before >= 0 ? (int64_t)(renew_before * 86400) : (na - nb) / 3;
    return left < margin;
}

/* Whether every requested name is among the certificate's SANs. */
static int covers(const char *path, const struct acme_cert_opts *o)
{
    moat_cert *c;
    char err[256], names[8192];
    if (ca_read_cert(path, &c, err, sizeof err) < 0) return 0;
    crypto_cert_names(c, names, sizeof names);
    crypto_cert_free(c);
    for (size_t i = 0; i < o->nnames; i++) {
        size_t n = strlen(o->names[i]);
        int found = 0;
        /* crypto_cert_names separates with ", ". */
        for (const char *s = names; *s && !found;
             s += strcspn(s, ",") + (s[strcspn(s, ",")] ? 2 : 0))
            found = strcspn(s, ",") == n && !strncmp(s, o->names[i], n);
        if (!found) return 0;
    }
    return 1;
}

/* Writes NAME-key.pem (0600) then NAME.pem (0644), each atomically, and
 * the alternate chains beside the state. */
static int write_result(const struct acme_cert_opts *o, const char *base, const char *out,
                        const moat_pkey *key, const char *chain, char **alt, int nalt)
{
    char kp[PATH_MAX + 300], cp[PATH_MAX + 300], err[1024];
    snprintf(kp, sizeof kp, "%s/%s-key.pem", out, base);
    snprintf(cp, sizeof cp, "%s/%s.pem", out, base);
    if (ca_write_key(key, kp, err, sizeof err) < 0 ||
        core_write_file_atomic(cp, chain, strlen(chain), 0644, err, sizeof err) < 0) {
        fprintf(stderr, "moat: cert: %s\n", err);
        return ACME_EXIT_IO;
    }
    char ap[PATH_MAX + 300];
    snprintf(ap, sizeof ap, "%s/certs", o->dir);
    mkdir(ap, 0700);
    for (int i = 0; i < nalt; i++) {
        snprintf(ap, sizeof ap, "%s/certs/%s-alternate-%d.pem", o->dir, base, i + 1);
        if (core_write_file_atomic(ap, alt[i], strlen(alt[i]), 0644, err, sizeof err) < 0)
            fprintf(stderr, "moat: cert: warning: the alternate chain is not kept: %s\n", err);
    }
    if (!o->no_state) save_order(o, base, out);
    printf("moat: cert: wrote %s and %s (%s)\n", cp, kp, o->names[0]);
    return 0;
}

static int obtain_locked(struct acme_cert_opts *o, const char *out)
{
    char base[300], cp[PATH_MAX + 300];
    base_name(o, base, sizeof base);
    snprintf(cp, sizeof cp, "%s/%s.pem", out, base);
    int64_t na;
    /* A second process that waited for the lock finds the certificate
     * the first one obtained, and does not order it again. */
    if (!o->force && acme_cert_due(cp, o->renew_before, &na, NULL) == 0 && covers(cp, o)) {
        char when[64];
        time_t t = (time_t)na;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
        printf("moat: cert: %s already holds a certificate for these names, valid until %s and "
               "not due for renewal; not ordering (--force orders anyway)\n",
               cp, when);
        return 0;
    }
    struct acme_client c;
    int r = connect_ca(&c, o, 1);
    moat_pkey *key = NULL;
    char err[2048] = "", *chain = NULL, *alt[4] = {0};
    int nalt = 0;
    if (!r && crypto_pkey_generate(o->key_type, &key, err, sizeof err) < 0) r = ACME_EXIT_FAIL;
    if (!r) {
        enum acme_chall type = o->tls_port ? ACME_TLSALPN01 : ACME_HTTP01;
        int port = o->tls_port ? o->tls_port : o->http_port ? o->http_port : 80;
        if (acme_issue(&c, o->names, o->nnames, type, port, key, &chain, alt, &nalt, err,
                       sizeof err) < 0) {
            fprintf(stderr, "moat: cert: %s\n", err);
            r = ACME_EXIT_FAIL;
        }
    }
    snprintf(o->problem, sizeof o->problem, "%s", c.problem);
    o->retry_after = c.retry_after;
    if (o->verbose && c.nonce_retries)
        fprintf(stderr, "moat: cert: %d badNonce answers retried\n", c.nonce_retries);
    if (!r) r = write_result(o, base, out, key, chain, alt, nalt);
    free(chain);
    for (int i = 0; i < nalt; i++)
        free(alt[i]);
    crypto_pkey_free(key);
    disconnect(&c);
    return r;
}

int acme_cert_obtain_into(struct acme_cert_opts *o, const char *out)
{
    o->problem[0] = 0;
    o->retry_after = 0;
    int lock = take_lock(o);
    if (lock < 0) return -lock;
    int r = obtain_locked(o, out);
    close(lock);
    return r;
}

int acme_cert_obtain(struct acme_cert_opts *o)
{
    if (crypto_init() < 0) return ACME_EXIT_FAIL;
    char out[PATH_MAX];
    if (!realpath(o->out ? o->out : ".", out)) {
        fprintf(stderr, "moat: cert: --out %s: %s\n", o->out ? o->out : ".", strerror(errno));
        return ACME_EXIT_IO;
    }
    if (acme_state_dir(o) < 0) return ACME_EXIT_IO;
    int lock = take_lock(o);
    if (lock < 0) return -lock;
    int r = obtain_locked(o, out);
    close(lock);
    return r;
}

int acme_cert_ari(struct acme_cert_opts *o, const char *path, int64_t *start, int64_t *end)
{
    size_t len;
    char *pem = slurp(path, &len), err[2048] = "";
    if (!pem) return -1;
    struct acme_client c;
    int r = connect_ca(&c, o, 0) ? -1 : acme_ari_window(&c, pem, len, start, end, err, sizeof err);
    if (r < 0 && err[0]) fprintf(stderr, "moat: cert: %s\n", err);
    disconnect(&c);
    free(pem);
    return r;
}

/* The options of a certificate obtained before (certs/BASE.json). */
static json_t *load_order(const struct acme_cert_opts *o, const char *file,
                          struct acme_cert_opts *r)
{
    char p[PATH_MAX + 300];
    snprintf(p, sizeof p, "%s/certs/%s", o->dir, file);
    json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    *r = *o;
    r->acme = json_string_value(json_object_get(j, "directory"));
    r->out = json_string_value(json_object_get(j, "out"));
    if (!o->email) r->email = json_string_value(json_object_get(j, "email"));
    if (!o->listen) r->listen = json_string_value(json_object_get(j, "listen"));
    if (!o->ca_root) r->ca_root = json_string_value(json_object_get(j, "ca_root"));
    const char *ch = json_string_value(json_object_get(j, "challenge"));
    int port = (int)json_integer_value(json_object_get(j, "port"));
    if (!o->http_port && !o->tls_port) {
        r->tls_port = ch && !strcmp(ch, "tls-alpn-01") ? port : 0;
        r->http_port = r->tls_port ? 0 : port;
    }
    const char *kt = json_string_value(json_object_get(j, "key_type"));
    r->key_type = kt && !strcmp(kt, "rsa2048") ? MOAT_KEY_RSA2048 : MOAT_KEY_EC_P256;
    json_t *names = json_object_get(j, "domains");
    r->nnames = 0;
    for (size_t i = 0; i < json_array_size(names) && i < ACME_MAX_NAMES; i++)
        if (json_string_value(json_array_get(names, i)))
            r->names[r->nnames++] = json_string_value(json_array_get(names, i));
    if (!r->acme || !r->out || !r->nnames) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int acme_cert_renew(struct acme_cert_opts *o)
{
    if (crypto_init() < 0) return ACME_EXIT_FAIL;
    if (acme_state_dir(o) < 0) return ACME_EXIT_IO;
    int lock = take_lock(o);
    if (lock < 0) return -lock;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/certs", o->dir);
    DIR *d = opendir(p);
    int r = 0, seen = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
        struct acme_cert_opts one;
        json_t *j = load_order(o, e->d_name, &one);
        if (!j) {
            fprintf(stderr, "moat: cert: %s/%s is unreadable; skipped\n", p, e->d_name);
            r = ACME_EXIT_IO;
            continue;
        }
        seen++;
        char base[300], cp[PATH_MAX + 300];
        int64_t na;
        base_name(&one, base, sizeof base);
        snprintf(cp, sizeof cp, "%s/%s.pem", one.out, base);
        int due_now = acme_cert_due(cp, o->renew_before, &na, NULL);
        if (due_now == 0) {
            printf("moat: cert: %s is not due for renewal\n", cp);
        } else {
            printf("moat: cert: renewing %s\n", cp);
            one.force = 1;
            int rr = obtain_locked(&one, one.out);
            if (rr) r = rr;
        }
        json_decref(j);
    }
    if (d) closedir(d);
    if (!seen) printf("moat: cert: no certificates in %s to renew\n", p);
    close(lock);
    return r;
}

/* The certificate's own key for revocation: JWS here is ES256 only. */
static int revoke_key(const char *path, moat_pkey **key)
{
    char err[512];
    if (ca_read_key(path, key, err, sizeof err) < 0) {
        fprintf(stderr, "moat: cert: --key: %s\n", err);
        return ACME_EXIT_USAGE;
    }
    if (crypto_pkey_type(*key) != MOAT_KEY_EC_P256) {
        fprintf(stderr,
                "moat: cert: --key %s: revocation by the certificate's key needs a P-256 "
                "key (without --key the account revokes)\n",
                path);
        crypto_pkey_free(*key);
        *key = NULL;
        return ACME_EXIT_USAGE;
    }
    return 0;
}

int acme_cert_revoke(struct acme_cert_opts *o)
{
    if (crypto_init() < 0) return ACME_EXIT_FAIL;
    if (acme_state_dir(o) < 0) return ACME_EXIT_IO;
    size_t len;
    char *pem = slurp(o->file, &len);
    if (!pem) {
        fprintf(stderr, "moat: cert: cannot read %s: %s\n", o->file, strerror(errno));
        return ACME_EXIT_IO;
    }
    /* Without --acme, the CA that issued it, from what obtain saved. */
    json_t *j = NULL;
    struct acme_cert_opts saved;
    if (!o->acme) {
        const char *b = strrchr(o->file, '/') ? strrchr(o->file, '/') + 1 : o->file;
        char name[300];
        snprintf(name, sizeof name, "%.*s.json", (int)(strlen(b) > 4 ? strlen(b) - 4 : strlen(b)),
                 b);
        if ((j = load_order(o, name, &saved))) {
            o->acme = saved.acme;
            o->ca_root = saved.ca_root;
        }
    }
    int r = ACME_EXIT_USAGE;
    if (!o->acme)
        fprintf(stderr, "moat: cert: which CA issued %s? (--acme URL)\n", o->file);
    else {
        struct acme_client c = {0};
        char err[2048];
        moat_pkey *key = NULL;
        o->agree = 1; /* revoking needs the account that exists */
        r = o->key ? revoke_key(o->key, &key) : 0;
        /* RFC 8555 7.6: signed by the certificate's own key (jwk), no
         * account is needed; otherwise by the account that ordered it. */
        if (!r) r = connect_ca(&c, o, key == NULL);
        if (!r && acme_revoke(&c, pem, len, o->reason, key, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cert: %s\n", err);
            r = ACME_EXIT_FAIL;
        } else if (!r) {
            printf("moat: cert: revoked %s\n", o->file);
        }
        crypto_pkey_free(key);
        disconnect(&c);
    }
    json_decref(j);
    free(pem);
    return r;
}
