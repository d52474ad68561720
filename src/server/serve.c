/* moat serve, once its options are read (cli/serve.c): the TLS
 * configuration, the listening sockets, and the master process that keeps
 * N workers running (loop.c), restarts the ones that die, reloads on
 * SIGHUP and stops gracefully on SIGTERM/SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "core/keylog.h"
#include "core/clock.h"
#include "core/exit.h"
#include "core/file.h"
#include "moat/tlsfile.h"
#include "server/acme.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/proxy.h"
#include "server/server.h"

#define MAX_CERTS MOAT_SERVE_MAX_CERTS
#define MAX_WORKERS MOAT_SERVE_MAX_WORKERS

/* The usage text of cli/serve.c, printed after a mistake in the options
 * found here (a cipher name, a listen address), as after one in a flag. */
static const char *usage;

static int complain(const char *where, const char *fmt, const char *arg)
{
    fprintf(stderr, "moat serve: %s%s", where ? where : "", where ? ": " : "");
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    if (!where && usage) fputs(usage, stderr);
    return MOAT_EXIT_USAGE;
}

/* Parses a comma-separated list of names with `lookup` into ids. */
static int parse_list(const char *list, uint16_t (*lookup)(const char *), uint16_t *ids, size_t max,
                      size_t *n, const char *what)
{
    char buf[512];
    if (strlen(list) >= sizeof buf) return complain(NULL, "%s list too long", what);
    strcpy(buf, list);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint16_t id = lookup(tok);
        if (!id) {
            fprintf(stderr, "moat serve: unknown %s '%s'\n", what, tok);
            return MOAT_EXIT_USAGE;
        }
        if (*n >= max) {
            fprintf(stderr, "moat serve: at most %zu in --%s\n", max,
                    strcmp(what, "group") == 0 ? "groups" : "ciphers");
            return MOAT_EXIT_USAGE;
        }
        ids[(*n)++] = id;
    }
    if (*n == 0) return complain(NULL, "empty %s list", what);
    return 0;
}

/* Loads the OCSP response in path for certificate idx. Returns 0, or -1
 * with a message. */
static int load_staple(moat_tls_config *cfg, int idx, const char *path, const char *who)
{
    size_t len = 0;
    uint8_t *der = core_read_file(path, 1 << 20, &len);
    if (!der) {
        fprintf(stderr, "%s: cannot read OCSP response %s: %s\n", who, path, strerror(errno));
        return -1;
    }
    int r = moat_tls_config_set_ocsp_staple(cfg, (size_t)idx, der, len);
    free(der);
    if (r < 0) {
        fprintf(stderr, "%s: %s is not a successful DER OCSP response\n", who, path);
        return -1;
    }
    return 0;
}

/* The local CA's localhost certificate, when serve runs without --cert. */
static char cpath[4096], kpath[4096];

#define RENEW_CHECK_MS (3600 * 1000) /* how often the master looks at it */

/* Without --cert: asks the local CA for the localhost certificate again
 * (it issues a new one when fewer than MOAT_CA_RENEW_DAYS remain) and
 * returns 1 when the file changed, so that the master reloads. */
static int localhost_renewed(void)
{
    struct stat a, b;
    char c2[sizeof cpath], k2[sizeof kpath], err[512];
    int had = stat(cpath, &a) == 0;
    if (ca_localhost_cert(c2, sizeof c2, k2, sizeof k2, err, sizeof err) < 0) {
        fprintf(stderr, "moat serve: cannot renew the localhost certificate: %s\n", err);
        return 0;
    }
    if (stat(c2, &b) < 0) return 0;
    return !had || strcmp(c2, cpath) != 0 || a.st_ino != b.st_ino ||
           a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec ||
           a.st_size != b.st_size;
}

/* The certificates of --cert/--key, or the local CA's for localhost.
 * Returns 0, or -1 after a message. */
static int add_certs(moat_tls_config *cfg, const struct moat_serve_opts *o)
{
    char err[512];
    const char *cert[MAX_CERTS], *key[MAX_CERTS];
    int n = o->ncerts;
    /* --acme: the names obtained so far; the others wait for theirs. */
    if (o->acme_url) return server_acme_add_certs(cfg, o) < 0 ? -1 : 0;
    for (int i = 0; i < n; i++) {
        cert[i] = o->certs[i];
        key[i] = o->keys[i];
    }
    if (n == 0) {
        /* No certificate given: one for localhost from the user's own CA. */
        if (ca_localhost_cert(cpath, sizeof cpath, kpath, sizeof kpath, err, sizeof err) < 0) {
            fprintf(stderr, "moat serve: no --cert given and no localhost certificate: %s\n", err);
            return -1;
        }
        cert[0] = cpath;
        key[0] = kpath;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        err[0] = '\0';
        if (moat_tls_config_add_cert_file(cfg, cert[i], key[i], err, sizeof err) < 0) {
            fprintf(stderr, "moat serve: %s\n", err[0] ? err : "cannot load certificate");
            return -1;
        }
    }
    return 0;
}

/* --ciphers, --groups and --tls-min. Returns 0, or -1 after a message. */
static int set_suites(moat_tls_config *cfg, const struct moat_serve_opts *o)
{
    uint16_t ids[4];
    size_t nids;
    if (o->ciphers) {
        if (parse_list(o->ciphers, moat_tls_cipher_from_name, ids, 3, &nids, "cipher suite"))
            return -1;
        if (moat_tls_config_set_ciphers(cfg, ids, nids) < 0) {
            complain(NULL, "cannot use --ciphers %s", o->ciphers);
            return -1;
        }
    }
    if (o->tls_min && strcmp(o->tls_min, "1.3") == 0)
        moat_tls_config_set_versions(cfg, MOAT_TLS_VERSION_1_3, MOAT_TLS_VERSION_1_3);
    if (o->groups) {
        if (parse_list(o->groups, moat_tls_group_from_name, ids, 4, &nids, "group")) return -1;
        if (moat_tls_config_set_groups(cfg, ids, nids) < 0) {
            complain(NULL, "cannot use --groups %s", o->groups);
            return -1;
        }
    }
    return 0;
}

/* --ticket-keys, --ticket-lifetime, --psk-ke. Returns 0, or -1 after a
 * message. */
static int set_tickets(moat_tls_config *cfg, const struct moat_serve_opts *o)
{
    if (o->ticket_keys) {
        size_t len = 0;
        uint8_t *k = core_read_file(o->ticket_keys, 80 * 64, &len);
        if (!k) {
            fprintf(stderr, "moat serve: cannot read --ticket-keys %s: %s\n", o->ticket_keys,
                    errno == EFBIG ? "more than 64 keys" : strerror(errno));
            return -1;
        }
        int r = len && len % 80 == 0 ? moat_tls_config_set_ticket_keys(cfg, k, len) : MOAT_ERR_ARG;
        memset(k, 0, len);
        free(k);
        if (r < 0) {
            fprintf(stderr,
                    "moat serve: --ticket-keys %s is %zu bytes; it must hold whole 80-byte keys "
                    "(make one with: head -c 80 /dev/urandom > FILE)\n",
                    o->ticket_keys, len);
            return -1;
        }
    }
    if (o->ticket_lifetime) moat_tls_config_set_tickets(cfg, 2, (uint32_t)o->ticket_lifetime);
    if (o->psk_ke) moat_tls_config_set_psk_ke(cfg, 1);
    return 0;
}

/* --client-ca and --client-auth. Returns 0, or -1 after a message. */
static int set_client_auth(moat_tls_config *cfg, const struct moat_serve_opts *o)
{
    char err[512];
    if (o->client_ca) {
        err[0] = '\0';
        if (moat_tls_config_set_client_ca_file(cfg, o->client_ca, err, sizeof err) < 0) {
            fprintf(stderr, "moat serve: --client-ca %s\n", err[0] ? err : o->client_ca);
            return -1;
        }
        int mode = MOAT_CLIENT_AUTH_REQUIRE;
        if (o->client_auth && strcmp(o->client_auth, "optional") == 0)
            mode = MOAT_CLIENT_AUTH_OPTIONAL;
        if (o->client_auth && strcmp(o->client_auth, "none") == 0) mode = MOAT_CLIENT_AUTH_NONE;
        moat_tls_config_set_client_auth(cfg, mode);
    }
    return 0;
}

/* Builds the TLS configuration from the options: certificates, suites,
 * groups, tickets, client certificates, staples. Returns NULL after a
 * message (on stderr) naming what is wrong. */
static moat_tls_config *build_config(const struct moat_serve_opts *o)
{
    moat_tls_config *cfg = moat_tls_config_new();
    if (!cfg) {
        fprintf(stderr, "moat serve: cannot set up TLS (libcrypto lacks an algorithm?)\n");
        return NULL;
    }
    if (add_certs(cfg, o) < 0 || set_suites(cfg, o) < 0 || set_tickets(cfg, o) < 0 ||
        set_client_auth(cfg, o) < 0)
        goto fail;
    for (int i = 0; i < o->nstaples; i++)
        if (load_staple(cfg, i, o->staples[i], "moat serve") < 0) goto fail;
    /* ALPN: h2 first unless --http2 off (RFC 9113 3.2); never h2c */
    static const char *const alpn[] = {"h2", "http/1.1"};
    moat_tls_config_set_alpn(cfg, alpn + !o->http2, o->http2 ? 2 : 1);
    const char *keylog = getenv("SSLKEYLOGFILE");
    if (keylog && *keylog) {
        if (core_keylog_open(keylog) < 0) {
            fprintf(stderr, "moat serve: cannot open SSLKEYLOGFILE %s\n", keylog);
            goto fail;
        }
        moat_tls_config_set_keylog(cfg, core_keylog_write, NULL);
    }
    return cfg;
fail:
    moat_tls_config_free(cfg);
    return NULL;
}

/* Splits "[v6]:PORT", "HOST:PORT" or "PORT" (meaning 127.0.0.1:PORT). */
static int split_listen(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(spec, ':');
    if (!colon) {
        snprintf(host, hlen, "127.0.0.1");
        snprintf(port, plen, "%s", spec);
    } else if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close + 1 != colon || (size_t)(close - spec - 1) >= hlen) return -1;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        snprintf(port, plen, "%s", colon + 1);
    } else {
        if ((size_t)(colon - spec) >= hlen || memchr(spec, ':', (size_t)(colon - spec))) return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        snprintf(port, plen, "%s", colon + 1);
    }
    if (!*host || !*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
        atoi(port) > 65535)
        return -1;
    return 0;
}

/* Opens a listening socket on spec, with SO_REUSEPORT so that several
 * can share the address. Returns the fd, or -1 (-2 for a bad spec) with a
 * message; *bound_port and numeric (the address as digits) say where. */
static int open_listener(const char *spec, int *bound_port, char *host, size_t hlen, char *numeric,
                         size_t nlen, int reuseport)
{
    char port[16];
    if (split_listen(spec, host, hlen, port, sizeof port) < 0) {
        complain(NULL, "bad listen address %s (want ADDR:PORT, [IPv6]:PORT or PORT)", spec);
        return -2;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r) {
        fprintf(stderr, "moat serve: cannot listen on %s: %s\n", host, gai_strerror(r));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        /* Accepted sockets inherit it on Linux: no setsockopt per
         * connection (loop.c). */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "moat serve: cannot listen on %s port %s: %s\n", host, port, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
    *bound_port = atoi(port);
    snprintf(numeric, nlen, "%s", host);
    if (getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        *bound_port = atoi(pbuf);
        snprintf(numeric, nlen, "%s", hbuf);
    }
    return fd;
}

/* One listening socket per worker slot on spec, all bound to one address
 * with SO_REUSEPORT: the kernel spreads new connections over them, and
 * the master keeps them open, so connections queued for a slot wait for
 * the worker that replaces a dead one or takes over on a reload, and
 * none is lost. Returns 0, or -1 (-2 for a bad spec) with a message. */
static int open_listeners(const char *spec, long n, int *fds, int *bound_port, char *host,
                          size_t hlen)
{
    char numeric[NI_MAXHOST], again[NI_MAXHOST + 16];
    /* First a plain bind: it fails when anything, another moat serve
     * included, already listens there (SO_REUSEPORT alone would let the
     * two share the port silently); it also fixes the port for port 0. */
    int probe = open_listener(spec, bound_port, host, hlen, numeric, sizeof numeric, 0);
    if (probe < 0) return probe;
    close(probe);
    snprintf(again, sizeof again, strchr(numeric, ':') ? "[%s]:%d" : "%s:%d", numeric, *bound_port);
    for (long i = 0; i < n; i++) {
        char h[256];
        int p;
        if ((fds[i] = open_listener(again, &p, h, sizeof h, numeric, sizeof numeric, 1)) < 0) {
            while (i-- > 0) {
                close(fds[i]);
                fds[i] = -1;
            }
            return -1;
        }
    }
    return 0;
}

/* ---- master and workers */

static volatile sig_atomic_t got_hup, got_stop, got_chld;

static void on_master_signal(int sig)
{
    if (sig == SIGHUP) got_hup = 1;
    if (sig == SIGTERM || sig == SIGINT) got_stop = 1;
    if (sig == SIGCHLD) got_chld = 1;
}

struct worker {
    pid_t pid;
    int gen;  /* configuration generation it runs */
    int slot; /* which listening sockets it accepts on */
    int64_t started_ms;
};

/* The master's listening sockets, one per worker slot (open_listeners). */
static int https_fds[MAX_WORKERS], plain_fds[MAX_WORKERS];
static long nslots;

/* --metrics: the blocks every process counts in (block 0 the master's,
 * 1 + slot a worker's), and the master's listener for /metrics. */
static struct metrics mx;
static int metrics_fd = -1;

static void close_listeners(void)
{
    for (long i = 0; i < nslots; i++) {
        if (https_fds[i] >= 0) close(https_fds[i]);
        if (plain_fds[i] >= 0) close(plain_fds[i]);
        https_fds[i] = plain_fds[i] = -1;
    }
}

static int open_log(const char *path)
{
    if (!path) return -1;
    if (strcmp(path, "-") == 0) return dup(1);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fprintf(stderr, "moat serve: cannot open log %s: %s\n", path, strerror(errno));
    return fd;
}

static struct passwd *run_as;

/* In a new worker: drop privileges, then serve until told to stop.
 * master is the pid of the process that forked it. */
static void worker_main(struct moat_server *s, sigset_t *oldmask, pid_t master)
{
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (run_as &&
        (setgroups(0, NULL) < 0 || setgid(run_as->pw_gid) < 0 || setuid(run_as->pw_uid) < 0)) {
        fprintf(stderr, "moat serve: cannot become user %s: %s\n", run_as->pw_name,
                strerror(errno));
        _exit(MOAT_EXIT_FAIL);
    }
    /* Never outlive the master: a worker left behind would keep serving
     * the old configuration and hold the port. Set after the change of
     * user, because the kernel clears the death signal on any change of
     * credentials (prctl(2)); then the master may already be gone, which
     * the signal would never report, so the parent is checked by pid (an
     * orphan is adopted by init or a subreaper, never by its master). */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != master) _exit(0);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        perror("moat serve: epoll_create1");
        _exit(MOAT_EXIT_FAIL);
    }
    _exit(server_run(s));
}

static pid_t spawn(struct moat_server *s, sigset_t *oldmask, int slot)
{
    s->lfd = https_fds[slot];
    s->redirect_fd = plain_fds[slot];
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < nslots; i++) { /* a worker holds its own slot's only */
            if (i == slot) continue;
            if (https_fds[i] >= 0) close(https_fds[i]);
            if (plain_fds[i] >= 0) close(plain_fds[i]);
        }
        if (metrics_fd >= 0) close(metrics_fd);
        metrics_use(&mx, (size_t)slot + 1);
        worker_main(s, oldmask, master);
    }
    if (pid < 0) fprintf(stderr, "moat serve: fork: %s\n", strerror(errno));
    return pid;
}

/* spawn, tried again a few times; a slot that still has no worker has
 * its sockets closed, so that the kernel routes nothing more to it. */
static pid_t spawn_slot(struct moat_server *s, sigset_t *oldmask, int slot)
{
    for (int tries = 0; tries < 5; tries++) {
        pid_t pid = spawn(s, oldmask, slot);
        if (pid > 0) return pid;
        usleep(100 * 1000);
    }
    fprintf(stderr, "moat serve: no worker for slot %d; the other workers take its share\n", slot);
    if (https_fds[slot] >= 0) close(https_fds[slot]);
    if (plain_fds[slot] >= 0) close(plain_fds[slot]);
    https_fds[slot] = plain_fds[slot] = -1;
    return -1;
}

/* Raises the soft descriptor limit to the hard one; returns the limit. */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
        struct rlimit nl = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0) rl.rlim_cur = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1048576 : rl.rlim_cur;
}

/* The master: its server, its workers, and where it is in its life. */
struct master {
    struct moat_server *s;
    const struct moat_serve_opts *o;
    long nworkers;
    struct worker w[2 * MAX_WORKERS * 4];
    size_t nw;
    int gen;                 /* configuration generation of new workers */
    sigset_t block, oldmask; /* the master's signals, and the mask before */
    int64_t stop_deadline;   /* 0 until told to stop */
    int status;
    int64_t renew_every, next_renew; /* the localhost certificate's checks */
    char host[256], rhost[256];      /* where it listens, for the banner */
    int rport;
    char mhost[256]; /* --metrics: where /metrics is served */
    int mport;
};

/* The served directory, --user and the TLS configuration. Returns an
 * exit status. */
static int prepare(struct moat_server *s, const struct moat_serve_opts *o)
{
    memset(s, 0, sizeof *s);
    s->redirect_fd = -1;
    s->access_log = -1;
    struct stat st;
    if (stat(o->dir, &st) < 0 || !realpath(o->dir, s->root)) {
        fprintf(stderr, "moat serve: %s: %s\n", o->dir, strerror(errno));
        return MOAT_EXIT_USAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "moat serve: %s is not a directory\n", o->dir);
        return MOAT_EXIT_USAGE;
    }
    s->root_len = strlen(s->root);
    if (o->user && !(run_as = getpwnam(o->user))) {
        fprintf(stderr, "moat serve: --user %s: no such user\n", o->user);
        return MOAT_EXIT_USAGE;
    }
    if (!(s->cfg = build_config(o))) return MOAT_EXIT_USAGE;
    for (int i = 0; i < o->nstaples; i++) {
        s->staples[i].path = o->staples[i];
        if (stat(o->staples[i], &st) == 0) s->staples[i].mtime = st.st_mtim;
    }
    s->nstaples = o->nstaples;
    s->acme_dir = o->acme_url ? o->acme_dir : NULL;
    return MOAT_EXIT_OK;
}

/* The files of the certificates served: --cert's, or the local CA's. */
static int cert_files(const struct moat_serve_opts *o, const char **files)
{
    if (o->ncerts == 0) {
        files[0] = cpath;
        return 1;
    }
    for (int i = 0; i < o->ncerts; i++)
        files[i] = o->certs[i];
    return o->ncerts;
}

/* --metrics: each certificate's notAfter and when the ticket keys were
 * made, in the master's block; at start and after each reload (a renewed
 * certificate, a rotated key file). The automatic ticket key is made at
 * start and kept across reloads. */
static void metrics_times(const struct moat_serve_opts *o, int start)
{
    const char *files[MAX_CERTS];
    int n = cert_files(o, files);
    for (int i = 0; i < n && (size_t)i < mx.ncerts; i++) {
        char name[256];
        int64_t na;
        if (metrics_cert_info(files[i], name, sizeof name, &na) == 0 && na > 0)
            metrics_gauge(M_CERT_EXPIRY, (size_t)i, 0, (uint64_t)na);
    }
    struct stat st;
    if (o->ticket_keys && stat(o->ticket_keys, &st) == 0)
        metrics_gauge(M_TICKET_KEY_AGE, 0, 0, (uint64_t)st.st_mtim.tv_sec);
    else if (!o->ticket_keys && start)
        metrics_gauge(M_TICKET_KEY_AGE, 0, 0, (uint64_t)time(NULL));
}

/* --metrics: the shared blocks (labelled with the certificates' names and
 * the proxy's backends), mapped before the workers fork. Returns an exit
 * status. */
static int setup_metrics(struct master *m)
{
    const struct moat_serve_opts *o = m->o;
    if (!o->metrics) return MOAT_EXIT_OK;
    static char names[MAX_CERTS][300];
    const char *files[MAX_CERTS], *np[MAX_CERTS], *bn[512];
    int n = cert_files(o, files);
    for (int i = 0; i < n; i++) {
        int64_t na;
        if (metrics_cert_info(files[i], names[i], 256, &na))
            snprintf(names[i], 256, "%s", files[i]);
        for (int j = 0; j < i; j++) /* two certificates for one name: the second is "name #2" */
            if (strcmp(names[i], names[j]) == 0)
                snprintf(names[i] + strlen(names[i]), 300 - strlen(names[i]), " #%d", i + 1);
        np[i] = names[i];
    }
    struct metrics_names mn = {np, (size_t)n, bn, server_proxy_backend_names(o->proxy, bn, 512)};
    if (metrics_init(&mx, (size_t)m->nworkers, &mn) || metrics_map(&mx)) {
        fprintf(stderr, "moat serve: --metrics: out of memory\n");
        return MOAT_EXIT_FAIL;
    }
    metrics_use(&mx, 0);
    metrics_times(o, 1);
    return MOAT_EXIT_OK;
}

/* --metrics: its listener, first of all (a bad address is a usage error
 * before anything else is bound). Returns an exit status. */
static int listen_metrics(struct master *m)
{
    if (!m->o->metrics) return MOAT_EXIT_OK;
    char numeric[NI_MAXHOST], port[16];
    if (split_listen(m->o->metrics, m->mhost, sizeof m->mhost, port, sizeof port) < 0)
        return complain(NULL, "bad --metrics address %s (want ADDR:PORT, [IPv6]:PORT or PORT)",
                        m->o->metrics);
    metrics_fd = open_listener(m->o->metrics, &m->mport, m->mhost, sizeof m->mhost, numeric,
                               sizeof numeric, 0);
    if (metrics_fd < 0) return metrics_fd == -2 ? MOAT_EXIT_USAGE : MOAT_EXIT_FAIL;
    return MOAT_EXIT_OK;
}

/* The HTTPS listeners and --redirect-http's, one of each per worker slot.
 * Returns an exit status. */
static int listen_all(struct master *m)
{
    const struct moat_serve_opts *o = m->o;
    m->nworkers = o->workers;
    if (m->nworkers < 1) {
        m->nworkers = sysconf(_SC_NPROCESSORS_ONLN);
        if (m->nworkers < 1) m->nworkers = 1;
        if (m->nworkers > MAX_WORKERS) m->nworkers = MAX_WORKERS;
    }
    const char *spec = o->listen ? o->listen : "127.0.0.1:8443";
    int bound_port = 0;
    nslots = m->nworkers;
    for (long i = 0; i < nslots; i++)
        https_fds[i] = plain_fds[i] = -1;
    int lr = open_listeners(spec, nslots, https_fds, &bound_port, m->host, sizeof m->host);
    if (lr < 0) {
        moat_tls_config_free(m->s->cfg);
        return lr == -2 ? MOAT_EXIT_USAGE : MOAT_EXIT_FAIL;
    }
    m->s->https_port = bound_port;
    if (o->redirect_http && (lr = open_listeners(o->redirect_http, nslots, plain_fds, &m->rport,
                                                 m->rhost, sizeof m->rhost)) < 0) {
        close_listeners();
        moat_tls_config_free(m->s->cfg);
        return lr == -2 ? MOAT_EXIT_USAGE : MOAT_EXIT_FAIL;
    }
    return MOAT_EXIT_OK;
}

/* Timeouts and limits from the options, for the workers. */
static void set_limits(struct moat_server *s, const struct moat_serve_opts *o)
{
    rlim_t nofile = raise_nofile();
    s->handshake_timeout_ms = (int)o->handshake_timeout * 1000;
    s->header_timeout_ms = (int)o->header_timeout * 1000;
    s->idle_timeout_ms = (int)o->idle_timeout * 1000;
    s->stop_timeout_ms = (int)o->stop_timeout * 1000;
    /* Each connection holds a socket and, while a body is sent, a file. */
    s->max_conns =
        o->max_conns > 0 ? (size_t)o->max_conns : (size_t)(nofile > 64 ? (nofile - 32) / 2 : 16);
    s->max_header = (size_t)o->max_header;
    s->max_body = (uint64_t)o->max_body;
    s->list_dirs = o->list_dirs;
    s->serve_dotfiles = o->serve_dotfiles;
    s->http2 = o->http2;
    s->h2_max_streams = (uint32_t)o->h2_max_streams;
    s->h2_stream_window = (uint32_t)o->h2_stream_window;
    s->h2_conn_window = (uint32_t)o->h2_conn_window;
    s->h2_max_resets = (uint32_t)o->h2_max_resets;
    s->log_identity = o->client_ca != NULL;
    s->proxy_protocol = o->proxy_protocol;
    s->log_json = o->access_log_format && strcmp(o->access_log_format, "json") == 0;
    s->pp_from = &o->pp_from;
    server_set_hsts(o->hsts);
    server_proxy_set_limits(o->proxy, s->max_body, s->idle_timeout_ms);
    s->proxy = o->proxy;
    server_load_mime_types(NULL);
}

/* --access-log, --error-log and --pid-file. Returns an exit status. */
static int open_outputs(struct moat_server *s, const struct moat_serve_opts *o)
{
    if (o->access_log && (s->access_log = open_log(o->access_log)) < 0) return MOAT_EXIT_USAGE;
    if (o->error_log) {
        int fd = open_log(o->error_log);
        if (fd < 0) return MOAT_EXIT_USAGE;
        dup2(fd, 2);
        close(fd);
    }
    if (o->pid_file) {
        FILE *f = fopen(o->pid_file, "w");
        if (!f) {
            fprintf(stderr, "moat serve: cannot write --pid-file %s: %s\n", o->pid_file,
                    strerror(errno));
            return MOAT_EXIT_USAGE;
        }
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    return MOAT_EXIT_OK;
}

/* The master's signals wait for sigsuspend (or sigtimedwait), so none
 * slips in between a check and the wait. */
static void take_signals(struct master *m)
{
    sigemptyset(&m->block);
    sigaddset(&m->block, SIGHUP);
    sigaddset(&m->block, SIGTERM);
    sigaddset(&m->block, SIGINT);
    sigaddset(&m->block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &m->block, &m->oldmask);
    struct sigaction sa = {0};
    sa.sa_handler = on_master_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The lines that say where moat serves, once the workers run. */
static void announce(const struct master *m)
{
    const struct moat_serve_opts *o = m->o;
    int v6 = strchr(m->host, ':') != NULL;
    printf("moat: serving %s on https://%s%s%s:%d/ (%ld worker%s)\n", o->dir, v6 ? "[" : "",
           m->host, v6 ? "]" : "", m->s->https_port, m->nworkers, m->nworkers == 1 ? "" : "s");
    if (o->redirect_http) {
        int rv6 = strchr(m->rhost, ':') != NULL;
        printf("moat: redirecting http://%s%s%s:%d/ to https\n", rv6 ? "[" : "", m->rhost,
               rv6 ? "]" : "", m->rport);
    }
    if (o->metrics) {
        int mv6 = strchr(m->mhost, ':') != NULL;
        printf("moat: metrics on http://%s%s%s:%d/metrics\n", mv6 ? "[" : "", m->mhost,
               mv6 ? "]" : "", m->mport);
    }
    if (o->acme_url) {
        printf("moat: certificates for %s%s from %s, kept in %s\n", o->domains[0],
               o->ndomains > 1 ? " and more" : "", o->acme_url, o->acme_dir);
    } else if (o->ncerts == 0) {
        char home[4096], err[256];
        if (ca_store_dir(NULL, home, sizeof home, err, sizeof err) == 0)
            printf("moat: the certificate is from the local CA; trust it with `moat ca trust`, or "
                   "curl --cacert %s/rootCA.pem\n",
                   home);
    }
    fflush(stdout);
}

/* Workers that ended: a current one is replaced, for any reason it ended
 * (a crash, SIGKILL, a SIGTERM from outside), since the kernel keeps
 * routing connections to its slot. */
static void reap(struct master *m)
{
    int wst;
    pid_t pid;
    while ((pid = waitpid(-1, &wst, WNOHANG)) > 0) {
        if (server_acme_reaped(pid, wst, m->o, &m->oldmask, close_listeners, m->stop_deadline != 0))
            continue;
        for (size_t i = 0; i < m->nw; i++) {
            struct worker *w = &m->w[i];
            if (w->pid != pid) continue;
            if (w->gen == m->gen && !m->stop_deadline) {
                fprintf(stderr, "moat serve: worker %ld %s %d; starting another\n", (long)pid,
                        WIFSIGNALED(wst) ? "killed by signal" : "exited with",
                        WIFSIGNALED(wst) ? WTERMSIG(wst) : WEXITSTATUS(wst));
                metrics_reset_gauges(&mx, (size_t)w->slot + 1); /* its connections are gone */
                metrics_count(M_WORKER_RESTARTS, 0, 0, 1);
                /* A worker that dies at once would spin: pace it. */
                if (core_mono_ms() - w->started_ms < 1000) usleep(200 * 1000);
                pid_t np = spawn_slot(m->s, &m->oldmask, w->slot);
                if (np > 0) {
                    *w = (struct worker){np, m->gen, w->slot, core_mono_ms()};
                    break;
                }
            }
            m->w[i] = m->w[--m->nw];
            break;
        }
    }
}

/* SIGTERM or SIGINT: new connections are refused at once rather than
 * queued for workers that will never take them; the workers finish. */
static void begin_stop(struct master *m)
{
    server_notify("STOPPING=1");
    m->stop_deadline = core_mono_ms() + m->s->stop_timeout_ms + 2000;
    close_listeners();
    m->s->lfd = m->s->redirect_fd = -1;
    server_acme_stop();
    for (size_t i = 0; i < m->nw; i++)
        kill(m->w[i].pid, SIGTERM);
}

/* SIGHUP: a new configuration for new workers; the old ones stop
 * accepting and finish what they hold. */
static void reload(struct master *m)
{
    struct moat_server *s = m->s;
    server_notify("RELOADING=1");
    moat_tls_config *ncfg = build_config(m->o);
    if (!ncfg) {
        fprintf(stderr, "moat serve: reload failed; still serving the old configuration\n");
        server_notify("READY=1");
        return;
    }
    if (m->nw + (size_t)m->nworkers > sizeof m->w / sizeof m->w[0]) {
        fprintf(stderr, "moat serve: reload refused: too many workers still finishing\n");
        moat_tls_config_free(ncfg);
        server_notify("READY=1");
        return;
    }
    moat_tls_config *old = s->cfg;
    /* Tickets sealed before the reload still open after it (the automatic
     * ticket secret carries over; tickets keep the client CA they were
     * verified against, so a changed --client-ca still refuses them). */
    moat_tls_config_inherit_tickets(ncfg, old);
    s->cfg = ncfg;
    struct stat st;
    for (int i = 0; i < s->nstaples; i++)
        if (stat(s->staples[i].path, &st) == 0) s->staples[i].mtime = st.st_mtim;
    if (m->o->access_log) {
        int fd = open_log(m->o->access_log);
        if (fd >= 0) {
            if (s->access_log >= 0) close(s->access_log);
            s->access_log = fd;
        }
    }
    m->gen++;
    size_t before = m->nw;
    for (long i = 0; i < m->nworkers; i++) {
        pid_t pid = spawn(s, &m->oldmask, (int)i);
        if (pid > 0) {
            m->w[m->nw++] = (struct worker){pid, m->gen, (int)i, core_mono_ms()};
            continue;
        }
        /* No new worker for this slot: its old one keeps serving it,
         * with the old configuration. */
        for (size_t j = 0; j < before; j++)
            if (m->w[j].slot == i && m->w[j].gen != m->gen) m->w[j].gen = m->gen;
    }
    for (size_t i = 0; i < before; i++)
        if (m->w[i].gen != m->gen) kill(m->w[i].pid, SIGTERM);
    moat_tls_config_free(old);
    metrics_times(m->o, 0);
    fprintf(stderr, "moat serve: reloaded (generation %d)\n", m->gen);
    server_notify("READY=1");
}

/* Sleeps until a signal; with a stop deadline or renewal checks due,
 * wakes now and then to enforce the one or look at the certificate. */
static void wait_signal(struct master *m)
{
    if (metrics_fd >= 0) { /* and answer /metrics meanwhile */
        sigset_t waitmask = m->oldmask;
        sigdelset(&waitmask, SIGHUP);
        sigdelset(&waitmask, SIGTERM);
        sigdelset(&waitmask, SIGINT);
        sigdelset(&waitmask, SIGCHLD);
        struct timespec ts, *tp = NULL;
        if (m->stop_deadline || m->renew_every) {
            int64_t wait = m->stop_deadline ? 200 : m->next_renew - core_mono_ms();
            if (wait < 1) wait = 1;
            ts = (struct timespec){wait / 1000, (long)(wait % 1000) * 1000000};
            tp = &ts;
        }
        struct pollfd pf = {metrics_fd, POLLIN, 0};
        if (ppoll(&pf, 1, tp, &waitmask) > 0 && (pf.revents & POLLIN)) {
            int fd = accept4(metrics_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                metrics_answer(&mx, fd);
                close(fd);
            }
        }
        return;
    }
    if (m->stop_deadline || m->renew_every) {
        int64_t wait = m->stop_deadline ? 200 : m->next_renew - core_mono_ms();
        if (wait < 1) wait = 1;
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000};
        siginfo_t si;
        if (sigtimedwait(&m->block, &si, &ts) > 0) on_master_signal(si.si_signo);
    } else {
        sigset_t waitmask = m->oldmask;
        sigdelset(&waitmask, SIGHUP);
        sigdelset(&waitmask, SIGTERM);
        sigdelset(&waitmask, SIGINT);
        sigdelset(&waitmask, SIGCHLD);
        sigsuspend(&waitmask);
    }
}

/* The master's life after the workers start, until they have all ended.
 * Returns the exit status. */
static int run_master(struct master *m)
{
    /* The local CA's certificate lasts 90 days: a server up for months
     * must renew it itself. MOAT_SERVE_RENEW_CHECK_MS shortens the wait
     * (for tests). */
    if (m->o->ncerts == 0 && !m->o->acme_url) {
        const char *e = getenv("MOAT_SERVE_RENEW_CHECK_MS");
        m->renew_every = e && atol(e) > 0 ? atol(e) : RENEW_CHECK_MS;
        m->next_renew = core_mono_ms() + m->renew_every;
    }
    for (;;) {
        if (m->renew_every && !m->stop_deadline && !got_hup && core_mono_ms() >= m->next_renew) {
            m->next_renew = core_mono_ms() + m->renew_every;
            if (localhost_renewed()) {
                fprintf(stderr, "moat serve: the localhost certificate was renewed; reloading\n");
                got_hup = 1;
            }
        }
        if (got_chld) {
            got_chld = 0;
            reap(m);
        }
        if (got_stop && !m->stop_deadline) {
            got_stop = 0;
            begin_stop(m);
        }
        if (m->stop_deadline && m->nw == 0) break;
        if (m->stop_deadline && core_mono_ms() >= m->stop_deadline) {
            for (size_t i = 0; i < m->nw; i++)
                kill(m->w[i].pid, SIGKILL);
            m->status = MOAT_EXIT_FAIL;
            m->stop_deadline = core_mono_ms() + 1000000;
        }
        if (got_hup && !m->stop_deadline) {
            got_hup = 0;
            reload(m);
        }
        if (!got_chld && !got_hup && !(got_stop && !m->stop_deadline)) wait_signal(m);
    }
    return m->status;
}

int serve_run(const struct moat_serve_opts *o, const char *usage_text)
{
    usage = usage_text;
    static struct moat_server s; /* PATH_MAX buffers: not on the stack */
    static struct master m;      /* the worker table is large too */
    memset(&m, 0, sizeof m);
    m.s = &s;
    m.o = o;
    int r = prepare(&s, o);
    if (r == MOAT_EXIT_OK) r = listen_metrics(&m);
    if (r == MOAT_EXIT_OK) r = listen_all(&m);
    if (r == MOAT_EXIT_OK) r = setup_metrics(&m);
    if (r != MOAT_EXIT_OK) return r;
    set_limits(&s, o);
    if ((r = open_outputs(&s, o)) != MOAT_EXIT_OK) return r;
    take_signals(&m);
    for (long i = 0; i < m.nworkers; i++) {
        pid_t pid = spawn_slot(&s, &m.oldmask, (int)i);
        if (pid > 0) m.w[m.nw++] = (struct worker){pid, m.gen, (int)i, core_mono_ms()};
    }
    if (m.nw == 0) return MOAT_EXIT_FAIL;
    announce(&m);
    server_acme_start(o, &m.oldmask, close_listeners);
    server_notify("READY=1");
    r = run_master(&m);
    if (o->pid_file) unlink(o->pid_file);
    close_listeners();
    if (metrics_fd >= 0) close(metrics_fd);
    metrics_free(&mx);
    moat_tls_config_free(s.cfg);
    return r;
}
