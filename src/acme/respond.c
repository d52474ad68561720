/* The temporary challenge responders of `moat cert`: a child process on
 * a listening socket that answers the CA's validation requests until it
 * is stopped. http-01 (RFC 8555 8.3): a plain HTTP/1.1 GET of
 * /.well-known/acme-challenge/TOKEN answered with the key authorization.
 * tls-alpn-01 (RFC 8737 3): a TLS handshake with ALPN acme-tls/1 and the
 * self-signed certificate carrying the key authorization's digest,
 * through moat's own engine; no application data. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"
#include "moat/http.h"

static int listen_on(const char *addr, int port, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "cannot listen on %s: not an IPv4 address", addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d for the challenge: %s", addr, port,
                 strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* A validation request is small and quick; a peer that stalls is dropped. */
static void bound(int fd)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

static void http01_one(int fd, const struct acme_token *t, size_t n)
{
    char buf[8192];
    size_t len = 0;
    moat_http_request req;
    int hl = 0;
    while (len < sizeof buf && (hl = moat_http_parse_request(buf, len, &req)) == 0) {
        ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
        if (r <= 0) return;
        len += (size_t)r;
    }
    static const char prefix[] = "/.well-known/acme-challenge/";
    const char *body = NULL;
    if (hl > 0 && req.method_len == 3 && !memcmp(req.method, "GET", 3) &&
        req.target_len > sizeof prefix - 1 && !memcmp(req.target, prefix, sizeof prefix - 1)) {
        const char *tok = req.target + sizeof prefix - 1;
        size_t tlen = req.target_len - (sizeof prefix - 1);
        for (size_t i = 0; i < n && !body; i++)
            if (strlen(t[i].token) == tlen && !memcmp(t[i].token, tok, tlen)) body = t[i].keyauth;
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      body ? "200 OK" : "404 Not Found", body ? strlen(body) : 0);
    send_all(fd, head, (size_t)hn);
    if (body) send_all(fd, body, strlen(body));
}

static void tlsalpn01_one(int fd, const moat_tls_config *cfg)
{
    moat_tls *t = moat_tls_server_new(cfg);
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    uint8_t buf[16384];
    int r = 0;
    while (t && r == 0 && !moat_tls_handshake_done(t)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        r = moat_tls_recv(t, buf, (size_t)n, &out, &app);
        send_all(fd, out.base, out.len);
        moat_buf_clear(&out);
    }
    /* RFC 8737 3: the CA closes once it has seen the certificate; we
     * end with close_notify and never send application data. */
    if (t && r == 0 && moat_tls_close(t, &out) == 0) send_all(fd, out.base, out.len);
    moat_tls_free(t);
    moat_buf_free(&out);
    moat_buf_free(&app);
}

/* The tls-alpn-01 configuration: one validation certificate per name,
 * picked by SNI, ALPN acme-tls/1 only, no tickets. */
static moat_tls_config *alpn_config(const struct acme_token *t, size_t n, char *err, size_t errlen)
{
    moat_tls_config *cfg = moat_tls_config_new();
    static const char *const alpn[] = {"acme-tls/1"};
    if (!cfg || moat_tls_config_set_alpn(cfg, alpn, 1) < 0) goto fail;
    moat_tls_config_set_tickets(cfg, 0, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t digest[32];
        char *cert, *key;
        size_t clen, klen;
        if (crypto_hash(MOAT_HASH_SHA256, t[i].keyauth, strlen(t[i].keyauth), digest) < 0 ||
            crypto_jose_alpn_cert(t[i].name, digest, &cert, &clen, &key, &klen, err, errlen) < 0)
            goto fail;
        int r = moat_tls_config_add_cert_pem(cfg, cert, clen, key, klen, err, errlen);
        memset(key, 0, klen);
        free(key);
        free(cert);
        if (r < 0) goto fail;
    }
    return cfg;
fail:
    if (err[0] == 0) snprintf(err, errlen, "cannot set up the tls-alpn-01 responder");
    moat_tls_config_free(cfg);
    return NULL;
}

int acme_responder_start(struct acme_responder *r, enum acme_chall type, const char *addr, int port,
                         const struct acme_token *t, size_t n, char *err, size_t errlen)
{
    r->pid = -1;
    err[0] = 0;
    moat_tls_config *cfg = NULL;
    if (type == ACME_TLSALPN01 && !(cfg = alpn_config(t, n, err, errlen))) return -1;
    /* Listening before the CA is told to look, so its first try queues. */
    r->fd = listen_on(addr ? addr : "0.0.0.0", port, err, errlen);
    if (r->fd < 0) {
        moat_tls_config_free(cfg);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    r->pid = fork();
    if (r->pid == 0) {
        signal(SIGTERM, SIG_DFL);
        /* A moat cert killed mid-order (SIGKILL) takes its responder with
         * it, so the port is free for the next try. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(0);
        for (;;) {
            int c = accept(r->fd, NULL, NULL);
            if (c < 0) continue;
            bound(c);
            if (type == ACME_HTTP01)
                http01_one(c, t, n);
            else
                tlsalpn01_one(c, cfg);
            close(c);
        }
    }
    moat_tls_config_free(cfg);
    if (r->pid < 0) {
        snprintf(err, errlen, "cannot start the challenge responder: %s", strerror(errno));
        close(r->fd);
        return -1;
    }
    return 0;
}

void acme_responder_stop(struct acme_responder *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    if (r->fd >= 0) close(r->fd);
    r->pid = -1;
    r->fd = -1;
}
