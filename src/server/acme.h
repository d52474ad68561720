/* moat serve --acme, the server's side (acme.c): the certificates of
 * --acme-dir/live, the challenges answered by the workers, and the
 * ordering process the master keeps running (its work is acme/serve.c). */
#ifndef MOAT_SERVER_ACME_H
#define MOAT_SERVER_ACME_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/buf.h"
#include "moat/http.h"
#include "moat/tls.h"
#include "server/config.h"
#include "server/server.h"

/* Adds the certificates obtained so far (live/NAME.pem and
 * live/NAME-key.pem per --domain); returns how many. A name without one
 * is not served yet: its handshakes fail (handshake_failure) until the
 * ordering process has it and the master reloads. */
int server_acme_add_certs(moat_tls_config *cfg, const struct moat_serve_opts *o);

/* A request on the --redirect-http listener for
 * /.well-known/acme-challenge/...: answers it (200 with the pending key
 * authorization, else 404) and returns 1; 0 for any other path. */
int server_acme_http01(const char *acme_dir, const moat_http_request *req, moat_buf *head,
                       struct moat_resp *resp);

/* Whether buf (the first bytes of a connection) is one record holding a
 * ClientHello that offers ALPN acme-tls/1, with its SNI (lowercased) in
 * name. */
int server_acme_alpn_name(const uint8_t *buf, size_t n, char *name, size_t namelen);

/* For such a ClientHello with a tls-alpn-01 challenge pending for its
 * name: a configuration with the validation certificate and ALPN
 * acme-tls/1 only (freed by the caller after the connection's engine).
 * NULL otherwise: the connection goes on as any other. */
moat_tls_config *server_acme_alpn_config(const char *acme_dir, const uint8_t *buf, size_t n);

/* The master's ordering process: started with o->acme_run (nothing when
 * NULL); in_child runs first in it (closing the listeners). */
pid_t server_acme_start(const struct moat_serve_opts *o, const sigset_t *oldmask,
                        void (*in_child)(void));
/* A child that ended: 1 when it was the ordering process (started again
 * unless stopping), 0 otherwise. */
int server_acme_reaped(pid_t pid, int status, const struct moat_serve_opts *o,
                       const sigset_t *oldmask, void (*in_child)(void), int stopping);
void server_acme_stop(void);

#endif
