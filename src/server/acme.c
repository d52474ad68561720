/* moat serve --acme, the server's side: the certificates the ordering
 * process (acme/serve.c) keeps in --acme-dir/live, loaded into the TLS
 * configuration; and the challenges answered by the workers, from the
 * files the ordering process writes in --acme-dir/challenges while an
 * order is pending:
 * - http-01 (RFC 8555 8.3): challenges/http-01/TOKEN holds the key
 *   authorization, answered on the --redirect-http listener at
 *   /.well-known/acme-challenge/TOKEN (that path is never redirected);
 * - tls-alpn-01 (RFC 8737): challenges/tls-alpn-01/NAME.pem holds the
 *   self-signed validation certificate and its key; a ClientHello on the
 *   HTTPS listener that offers ALPN acme-tls/1 for NAME is answered with
 *   them, ALPN acme-tls/1, and nothing after the handshake.
 * Files rather than messages from the master: a worker started at any
 * time (after a crash or a reload) sees the pending challenges, and the
 * ordering process needs no channel to each worker. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "moat/tlsfile.h"
#include "server/acme.h"

#define CHALLENGE_MAX (64 * 1024)

int server_acme_add_certs(moat_tls_config *cfg, const struct moat_serve_opts *o)
{
    int n = 0;
    for (int i = 0; i < o->ndomains; i++) {
        char cp[PATH_MAX + 300], kp[PATH_MAX + 300], err[512] = "";
        snprintf(cp, sizeof cp, "%s/live/%s.pem", o->acme_dir, o->domains[i]);
        snprintf(kp, sizeof kp, "%s/live/%s-key.pem", o->acme_dir, o->domains[i]);
        if (access(cp, F_OK) < 0) continue; /* not obtained yet */
        if (moat_tls_config_add_cert_file(cfg, cp, kp, err, sizeof err) < 0) {
            /* A pair left mismatched by a crash between its two files:
             * the ordering process orders again. */
            fprintf(stderr, "moat serve: acme: %s not served: %s\n", o->domains[i], err);
            continue;
        }
        n++;
    }
    return n;
}

/* ---- http-01 */

static int is_token(const char *s, size_t n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (!n || n > 255) return 0;
    for (size_t i = 0; i < n; i++)
        if (!memchr(set, s[i], sizeof set - 1)) return 0;
    return 1;
}

int server_acme_http01(const char *acme_dir, const moat_http_request *req, moat_buf *head,
                       struct moat_resp *resp)
{
    static const char prefix[] = "/.well-known/acme-challenge/";
    size_t pl = sizeof prefix - 1;
    if (!acme_dir || req->target_len < pl || memcmp(req->target, prefix, pl)) return 0;
    const char *tok = req->target + pl;
    size_t tl = req->target_len - pl;
    char *body = NULL;
    size_t blen = 0;
    int get = (req->method_len == 3 && !memcmp(req->method, "GET", 3)) ||
              (req->method_len == 4 && !memcmp(req->method, "HEAD", 4));
    if (get && is_token(tok, tl)) {
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/challenges/http-01/%.*s", acme_dir, (int)tl, tok);
        body = (char *)core_read_file(p, CHALLENGE_MAX, &blen);
    }
    if (!body) {
        resp->status = 404;
        resp->bytes = server_error(head, 404, 0, 1);
        return 1;
    }
    int r = moat_http_write_status(head, 200);
    r = r ? r : moat_http_write_header(head, "Server", "moat");
    r = r ? r : moat_http_write_header(head, "Content-Type", "text/plain");
    r = r ? r : moat_http_write_header(head, "Content-Length", "%zu", blen);
    r = r ? r : moat_http_write_header(head, "Connection", "close");
    if (!r) r = moat_buf_append(head, "\r\n", 2);
    if (!r && req->method_len == 3) r = moat_buf_append(head, body, blen);
    free(body);
    if (r) {
        moat_buf_clear(head);
        resp->status = 500;
        resp->bytes = server_error(head, 500, 0, 1);
        return 1;
    }
    resp->status = 200;
    resp->bytes = req->method_len == 3 ? (off_t)blen : 0;
    return 1;
}

/* ---- tls-alpn-01 */

struct rd {
    const uint8_t *p;
    size_t n;
    int err;
};

static size_t rd_num(struct rd *r, size_t bytes)
{
    size_t v = 0;
    if (r->n < bytes) {
        r->err = 1;
        r->n = 0;
        return 0;
    }
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    r->n -= bytes;
    return v;
}

static struct rd rd_sub(struct rd *r, size_t lenbytes)
{
    size_t n = rd_num(r, lenbytes);
    struct rd s = {r->p, 0, r->err};
    if (r->err || n > r->n) {
        r->err = s.err = 1;
        r->n = 0;
        return s;
    }
    s.n = n;
    r->p += n;
    r->n -= n;
    return s;
}

int server_acme_alpn_name(const uint8_t *buf, size_t n, char *name, size_t namelen)
{
    /* One handshake record (RFC 8446 5.1) holding a whole ClientHello. */
    struct rd r = {buf, n, 0};
    if (rd_num(&r, 1) != 22) return 0;
    rd_num(&r, 2);
    struct rd rec = rd_sub(&r, 2);
    if (rec.err || rd_num(&rec, 1) != 1) return 0;
    struct rd ch = rd_sub(&rec, 3);
    rd_num(&ch, 2 + 32);
    rd_sub(&ch, 1);
    rd_sub(&ch, 2);
    rd_sub(&ch, 1);
    struct rd ext = rd_sub(&ch, 2);
    if (ch.err || ext.err) return 0;
    int acme = 0;
    name[0] = 0;
    while (ext.n && !ext.err) {
        size_t type = rd_num(&ext, 2);
        struct rd e = rd_sub(&ext, 2);
        if (type == 16) { /* application_layer_protocol_negotiation */
            struct rd list = rd_sub(&e, 2);
            while (list.n && !list.err) {
                struct rd proto = rd_sub(&list, 1);
                if (!list.err && proto.n == 10 && !memcmp(proto.p, "acme-tls/1", 10)) acme = 1;
            }
        } else if (type == 0) { /* server_name */
            struct rd list = rd_sub(&e, 2);
            while (list.n && !list.err) {
                size_t kind = rd_num(&list, 1);
                struct rd host = rd_sub(&list, 2);
                if (list.err || kind != 0 || !host.n || host.n >= namelen) continue;
                for (size_t i = 0; i < host.n; i++) {
                    char c = (char)host.p[i];
                    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
                    if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.-", c) || !c) {
                        name[0] = 0;
                        break;
                    }
                    name[i] = c;
                    name[i + 1] = 0;
                }
            }
        }
    }
    /* A name that starts with '.' could climb out of the directory. */
    return !ext.err && acme && name[0] && name[0] != '.';
}

moat_tls_config *server_acme_alpn_config(const char *acme_dir, const uint8_t *buf, size_t n)
{
    char name[256];
    if (!acme_dir || !server_acme_alpn_name(buf, n, name, sizeof name)) return NULL;
    char p[PATH_MAX + 300], err[512] = "";
    snprintf(p, sizeof p, "%s/challenges/tls-alpn-01/%s.pem", acme_dir, name);
    size_t len = 0;
    char *pem = (char *)core_read_file(p, CHALLENGE_MAX, &len);
    if (!pem) return NULL; /* no challenge pending for the name */
    moat_tls_config *cfg = moat_tls_config_new();
    static const char *const alpn[] = {"acme-tls/1"};
    if (!cfg || moat_tls_config_set_alpn(cfg, alpn, 1) < 0 ||
        moat_tls_config_add_cert_pem(cfg, pem, len, pem, len, err, sizeof err) < 0) {
        fprintf(stderr, "moat serve: acme: the tls-alpn-01 certificate of %s: %s\n", name,
                err[0] ? err : "cannot load it");
        moat_tls_config_free(cfg);
        cfg = NULL;
    } else {
        moat_tls_config_set_tickets(cfg, 0, 0);
    }
    memset(pem, 0, len);
    free(pem);
    return cfg;
}

/* ---- the ordering process, a child of the master */

static pid_t acme_pid = -1;
static int64_t acme_started;

pid_t server_acme_start(const struct moat_serve_opts *o, const sigset_t *oldmask,
                        void (*in_child)(void))
{
    if (!o->acme_run) return -1;
    fflush(NULL);
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGHUP, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, oldmask, NULL);
        if (in_child) in_child();
        /* It goes with the master, however the master ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != master) _exit(0);
        _exit(o->acme_run(o));
    }
    if (pid < 0) fprintf(stderr, "moat serve: acme: fork: %s\n", strerror(errno));
    acme_pid = pid;
    acme_started = core_mono_ms();
    return pid;
}

int server_acme_reaped(pid_t pid, int status, const struct moat_serve_opts *o,
                       const sigset_t *oldmask, void (*in_child)(void), int stopping)
{
    if (pid != acme_pid || pid <= 0) return 0;
    acme_pid = -1;
    if (stopping) return 1;
    fprintf(stderr, "moat serve: acme: the ordering process %s %d; starting another\n",
            WIFSIGNALED(status) ? "was killed by signal" : "exited with",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    /* One that dies at once would spin: pace it. */
    if (core_mono_ms() - acme_started < 1000) sleep(1);
    server_acme_start(o, oldmask, in_child);
    return 1;
}

void server_acme_stop(void)
{
    if (acme_pid > 0) kill(acme_pid, SIGTERM);
}
