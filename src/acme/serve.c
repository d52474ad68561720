/* moat serve --acme's ordering process, a child of the master
 * (server/acme.c starts it again if it dies): for each --domain, one
 * certificate in --acme-dir/live/NAME.pem and NAME-key.pem, obtained when
 * missing, renewed when due (a third of its lifetime left, or
 * --acme-renew-before; jittered), through the flow of `moat cert`
 * (acme_cert_obtain_into: the lock, the account, the order). The
 * challenges are answered by the server's own workers, from files
 * written here in --acme-dir/challenges (server/acme.c reads them). A new
 * certificate on disk is followed by SIGHUP to the master, whose reload
 * puts it in every worker without dropping a connection. A failure keeps
 * what is served, is logged with the CA's words, and is tried again
 * with backoff (at least the CA's Retry-After when it says rateLimited). */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"
#include "core/file.h"
#include "moat/tlsfile.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"
#include "server/config.h"

#define RETRY_BASE_S 60      /* the first retry after a failure */
#define RETRY_CAP_S 86400    /* backoff doubles up to this */
#define MIN_RENEW_GAP_S 3600 /* a certificate due as soon as issued: at most this often */
#define RECHECK_S 3600       /* the files are looked at at least this often */

struct job {
    const char *name;
    time_t next; /* when to look at it again */
    int fails;
    time_t last_ok;
    struct stat loaded; /* the files the master serves, as last seen */
    int have;
};

static char *path_of(const char *dir, const char *sub, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(sub) + strlen(name) + strlen(ext) + 4;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s%s", dir, sub, name, ext);
    return p;
}

/* ---- the challenges, as files for the workers */

/* --user: the workers' identity, which must read the challenge files;
 * -1 when the workers keep the master's. */
static uid_t worker_uid = (uid_t)-1;
static gid_t worker_gid = (gid_t)-1;

static void give(const char *path)
{
    if (worker_uid != (uid_t)-1 && chown(path, worker_uid, worker_gid) < 0)
        fprintf(stderr, "moat serve: acme: cannot give %s to --user: %s\n", path, strerror(errno));
}

static int publish(void *arg, int type, const struct acme_token *t, size_t n, char *err,
                   size_t errlen)
{
    const char *dir = arg;
    const char *sub = type == ACME_HTTP01 ? "challenges/http-01" : "challenges/tls-alpn-01";
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s/challenges", dir);
    mkdir(d, 0700);
    give(d);
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    mkdir(d, 0700);
    give(d);
    for (size_t i = 0; i < n; i++) {
        int r;
        if (type == ACME_HTTP01) {
            char *p = path_of(dir, sub, t[i].token, "");
            r = p ? core_write_file_atomic(p, t[i].keyauth, strlen(t[i].keyauth), 0644, err, errlen)
                  : -1;
            free(p);
        } else {
            uint8_t digest[32];
            char *cert = NULL, *key = NULL;
            size_t clen = 0, klen = 0;
            r = crypto_hash(MOAT_HASH_SHA256, t[i].keyauth, strlen(t[i].keyauth), digest);
            if (r == 0)
                r = crypto_jose_alpn_cert(t[i].name, digest, &cert, &clen, &key, &klen, err,
                                          errlen);
            char *both = r == 0 ? malloc(clen + klen + 1) : NULL;
            char *p = both ? path_of(dir, sub, t[i].name, ".pem") : NULL;
            if (p) {
                memcpy(both, cert, clen);
                memcpy(both + clen, key, klen);
                r = core_write_file_atomic(p, both, clen + klen, 0600, err, errlen);
                if (r == 0) give(p);
                memset(both, 0, clen + klen);
            } else {
                r = -1;
            }
            if (key) memset(key, 0, klen);
            free(key);
            free(cert);
            free(both);
            free(p);
        }
        if (r < 0) {
            if (!err[0]) snprintf(err, errlen, "cannot write the challenge for the workers");
            return -1;
        }
    }
    return 0;
}

static void unpublish(void *arg, int type, const struct acme_token *t, size_t n)
{
    const char *dir = arg;
    for (size_t i = 0; i < n; i++) {
        char *p = type == ACME_HTTP01 ? path_of(dir, "challenges/http-01", t[i].token, "")
                                      : path_of(dir, "challenges/tls-alpn-01", t[i].name, ".pem");
        if (p) unlink(p);
        free(p);
    }
}

/* ---- scheduling */

/* The HTTPS port of --listen (8443 by default). */
static int listen_port(const struct moat_serve_opts *o)
{
    const char *l = o->listen ? o->listen : "8443";
    const char *c = strrchr(l, ':');
    return atoi(c ? c + 1 : l);
}

/* RFC 8737 when the HTTPS port is the public one (443), or when there is
 * no --redirect-http to answer http-01 on; http-01 otherwise. */
static int challenge_type(const struct moat_serve_opts *o)
{
    if (o->acme_challenge)
        return strcmp(o->acme_challenge, "http-01") ? ACME_TLSALPN01 : ACME_HTTP01;
    return listen_port(o) == 443 || !o->redirect_http ? ACME_TLSALPN01 : ACME_HTTP01;
}

/* The test hook: MOAT_ACME_RETRY_MS shortens the first retry and the gap
 * between two renewals of one certificate (seconds otherwise). */
static double retry_base(void)
{
    const char *e = getenv("MOAT_ACME_RETRY_MS");
    return e && atol(e) > 0 ? atol(e) / 1000.0 : RETRY_BASE_S;
}

double acme_serve_backoff(int fails, const char *problem, int retry_after, double base)
{
    double delay = base;
    for (int i = 1; i < fails && delay < RETRY_CAP_S; i++)
        delay *= 2;
    if (delay > RETRY_CAP_S) delay = RETRY_CAP_S;
    /* RFC 8555 6.6: the CA's rate limit, with its Retry-After. */
    if (problem && strstr(problem, ":rateLimited") && retry_after > delay) delay = retry_after;
    return delay;
}

/* Whether the pair on disk loads (a crash between its two files leaves
 * a key that does not match): the certificate's and key's public keys. */
static int pair_ok(const char *cp, const char *kp)
{
    char err[256];
    moat_tls_config *c = moat_tls_config_new();
    int ok = c && moat_tls_config_add_cert_file(c, cp, kp, err, sizeof err) == 0;
    moat_tls_config_free(c);
    return ok;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* When a certificate not due yet is to be renewed: not_after less the
 * margin, less up to a tenth of the margin at random, so that servers
 * started together do not all order at once. */
static time_t renew_at(int64_t not_after, int64_t lifetime, double renew_before)
{
    int64_t margin = renew_before >= 0 ? (int64_t)(renew_before * 86400) : lifetime / 3;
    int64_t jitter = margin > 10 ? (int64_t)(random() % (margin / 10)) : 0;
    return (time_t)(not_after - margin - jitter);
}

static void look(struct job *j, struct acme_cert_opts *base, const char *live, double gap)
{
    time_t now = time(NULL);
    char *cp = path_of(live, ".", j->name, ".pem"), *kp = path_of(live, ".", j->name, "-key.pem");
    if (!cp || !kp) {
        free(cp);
        free(kp);
        j->next = now + 60;
        return;
    }
    int64_t na = 0, life = 0;
    int d = acme_cert_due(cp, base->renew_before, &na, &life);
    if (d >= 0 && !pair_ok(cp, kp)) {
        fprintf(stderr, "moat serve: acme: %s and its key do not match; ordering again\n", cp);
        unlink(cp);
        d = -1;
    }
    /* RFC 9773: the CA's window, when it offers one, decides (a random
     * moment in it); --acme-renew-before still renews when fewer days
     * remain. */
    int64_t ws, we;
    if (d == 0 && acme_cert_ari(base, cp, &ws, &we) == 1) {
        time_t at = (time_t)(ws + (int64_t)(random() % (we - ws)));
        fprintf(stderr, "moat serve: acme: the CA suggests renewing %s between %lld and %lld\n",
                j->name, (long long)ws, (long long)we);
        if (at <= now) {
            d = 1;
        } else {
            j->next = at < now + RECHECK_S ? at : now + RECHECK_S;
            free(cp);
            free(kp);
            return;
        }
    }
    if (d == 0) {
        j->next = renew_at(na, life, base->renew_before);
        if (j->next < now + 1) j->next = now + 1;
        if (j->next > now + RECHECK_S) j->next = now + RECHECK_S;
    } else if (d == 1 && j->last_ok && now - j->last_ok < gap) {
        /* Due as soon as issued (--acme-renew-before beyond the lifetime). */
        j->next = j->last_ok + (time_t)gap;
    } else {
        struct acme_cert_opts one = *base;
        one.names[0] = j->name;
        one.nnames = 1;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fprintf(stderr, "moat serve: acme: %s %s\n", d == 1 ? "renewing" : "obtaining", j->name);
        int r = acme_cert_obtain_into(&one, live);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        struct stat st;
        if (r == 0) {
            j->fails = 0;
            j->last_ok = time(NULL);
            j->next = now + 1; /* looked at again, to schedule the renewal */
            if (stat(cp, &st) == 0 && (!j->have || !same_file(&st, &j->loaded))) {
                j->loaded = st;
                j->have = 1;
                fprintf(stderr, "moat serve: acme: a new certificate for %s (%.2f s); reloading\n",
                        j->name, secs);
                kill(getppid(), SIGHUP);
            }
        } else {
            j->fails++;
            double delay = acme_serve_backoff(j->fails, one.problem, one.retry_after, retry_base());
            fprintf(stderr,
                    "moat serve: acme: no certificate for %s this time (%.2f s; %s); trying "
                    "again in %.0f s\n",
                    j->name, secs,
                    j->have || d == 1 ? "the current one is still served" : "none served yet",
                    delay);
            j->next = now + (time_t)(delay < 1 ? 1 : delay);
        }
    }
    free(cp);
    free(kp);
}

int acme_serve_run(const struct moat_serve_opts *o)
{
    if (crypto_init() < 0) return 1;
    srandom((unsigned)(getpid() ^ time(NULL)));
    static struct acme_cert_opts base;
    static struct job jobs[ACME_MAX_NAMES];
    static struct acme_publisher pub = {publish, unpublish, NULL};
    pub.arg = (void *)o->acme_dir;
    base.cmd = "obtain";
    base.acme = o->acme_url;
    base.email = o->acme_email;
    base.ca_root = o->acme_ca_root;
    base.dir = o->acme_dir;
    base.agree = o->acme_agree_tos;
    base.key_type = o->acme_key_type && !strcmp(o->acme_key_type, "rsa2048") ? MOAT_KEY_RSA2048
                                                                             : MOAT_KEY_EC_P256;
    base.renew_before = o->acme_renew_before ? strtod(o->acme_renew_before, NULL) : -1;
    base.lock_wait = 600;
    base.publisher = &pub;
    base.no_state = 1;
    /* Only the type matters: the workers answer on the server's ports. */
    int type = challenge_type(o);
    base.tls_port = type == ACME_TLSALPN01;
    base.http_port = type == ACME_HTTP01;
    fprintf(stderr, "moat serve: acme: %s challenges, answered by the %s listener\n",
            type == ACME_HTTP01 ? "http-01" : "tls-alpn-01",
            type == ACME_HTTP01 ? "--redirect-http" : "HTTPS");
    /* --user: the workers may pass through --acme-dir (not list it) to
     * the challenges, which are theirs; the rest stays the master's. */
    struct passwd *pw = o->user ? getpwnam(o->user) : NULL;
    if (pw && pw->pw_uid != geteuid()) {
        worker_uid = pw->pw_uid;
        worker_gid = pw->pw_gid;
        chmod(o->acme_dir, 0711);
    }
    char live[PATH_MAX];
    snprintf(live, sizeof live, "%s/live", o->acme_dir);
    if (mkdir(live, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "moat serve: acme: cannot create %s: %s\n", live, strerror(errno));
        return 3;
    }
    double gap = getenv("MOAT_ACME_RETRY_MS") ? retry_base() : MIN_RENEW_GAP_S;
    size_t n = (size_t)o->ndomains;
    for (size_t i = 0; i < n; i++) {
        jobs[i].name = o->domains[i];
        char *cp = path_of(live, ".", jobs[i].name, ".pem");
        jobs[i].have = cp && stat(cp, &jobs[i].loaded) == 0;
        free(cp);
    }
    for (;;) {
        time_t now = time(NULL), wake = now + RECHECK_S;
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].next <= now) look(&jobs[i], &base, live, gap);
            if (jobs[i].next < wake) wake = jobs[i].next;
        }
        fflush(NULL);
        now = time(NULL);
        if (wake > now) sleep((unsigned)(wake - now));
    }
}
