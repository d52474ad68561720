/* One HTTPS request with the response kept in memory: the call other
 * modules (acme/) use to speak to an HTTPS API through moat's client,
 * with the same certificate checks as moat get. */
#ifndef MOAT_CLIENT_REQUEST_H
#define MOAT_CLIENT_REQUEST_H

#include <stddef.h>

#include "moat/buf.h"
#include "moat/tls.h"

#define MOAT_REQUEST_MAX_HEADERS 64

/* A response: status, header fields (copies, NUL-terminated, in the
 * order received) and the body (de-chunked). */
struct moat_request_response {
    int status;
    char *names[MOAT_REQUEST_MAX_HEADERS];
    char *values[MOAT_REQUEST_MAX_HEADERS];
    size_t nheaders;
    moat_buf body;
};

/* Sends one request (method, an https:// URL, extra header lines
 * "Name: value", an optional body) on a connection of its own, judged by
 * cfg as moat get judges a server (cfg's trust, verification and clock),
 * and reads the whole response into resp, the body up to max_body bytes.
 * The connection is closed afterwards. timeout_s bounds everything.
 * Returns 0 with resp filled (free it with client_request_response_free, also
 * on error), or -1 with a sentence in err (a refused certificate, a
 * connection that failed, a timeout, a malformed response). */
int client_request(const moat_tls_config *cfg, const char *method, const char *url,
                   const char *const *headers, size_t nheaders, const void *body, size_t len,
                   double timeout_s, size_t max_body, struct moat_request_response *resp, char *err,
                   size_t errlen);

/* The value of the nth (from 0) header field named name (case-insensitive),
 * or NULL. */
const char *client_request_header(const struct moat_request_response *r, const char *name,
                                  size_t nth);

void client_request_response_free(struct moat_request_response *r);

#endif
