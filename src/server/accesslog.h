/* moat serve's access log: one line per request, in the Combined Log
 * Format (the default) or as one JSON object (--access-log-format json).
 * The event loop fills an entry; both formats write from it, so a new
 * field is one member here and one line in each writer. */
#ifndef MOAT_SERVER_ACCESSLOG_H
#define MOAT_SERVER_ACCESSLOG_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "moat/buf.h"
#include "moat/http.h"
#include "moat/tls.h"

struct server_log_entry {
    const char *addr;                 /* the client (a PROXY header's) */
    time_t when;                      /* wall clock, for the line */
    int when_ms;                      /* and its milliseconds (JSON's ts) */
    const moat_http_request *req;     /* NULL for a request that did not parse */
    const char *proto;                /* "HTTP/2.0"; NULL: HTTP/1.x from req */
    int status;                       /* of the response */
    off_t bytes;                      /* body bytes of the response */
    int64_t duration_us;              /* from the request's first byte; -1 unknown */
    const moat_tls *tls;              /* NULL on plain HTTP (--redirect-http) */
    int log_identity;                 /* client certificates configured */
    const char *pp_authority, *pp_id; /* a PROXY v2 header's TLVs, or NULL */
};

/* Appends the entry's line, newline included, to b: Combined Log Format
 * with the client certificate's subject (when configured), the key
 * exchange group and the PROXY TLVs after it; or, with json, one object.
 * Every value a client chose is escaped, so no line can be forged.
 * Returns 0 or MOAT_ERR_NOMEM. */
int server_log_line(moat_buf *b, const struct server_log_entry *e, int json);

#endif
