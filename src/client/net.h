/* moat get: the socket side of the client: resolve, connect, and blocking
 * reads and writes bounded by a deadline (monotonic ms; 0 means none). */
#ifndef MOAT_CLIENT_NET_H
#define MOAT_CLIENT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/clock.h"

/* Resolves host (or uses the address of a matching --resolve HOST:PORT:ADDR
 * spec: resolve holds any number of them, one a line, or is NULL; a trailing dot on either name is
 * ignored) and connects to the first address that answers, the lookup and the connection both
 * ending by deadline. Returns a non-blocking socket with the numeric address in addr_out; or -1
 * after printing one line on stderr (naming the host as shown), with *exit_code set to 6 (resolve),
 * 7 (connect; errno says why) or 28 (timeout). *resolved_at (if not NULL) gets the time name resolution ended
 * (core_mono_us). */
int client_connect(const char *host, const char *shown, int port, const char *resolve,
                   int64_t deadline, char *addr_out, size_t addrlen, int *exit_code,
                   int64_t *resolved_at);

/* Sends all n bytes. Returns 0, -1 on a socket error, -2 on timeout. */
int client_send_all(int fd, const uint8_t *p, size_t n, int64_t deadline);

/* Receives up to cap bytes, waiting for at least one. Returns the count,
 * 0 at end of stream, -1 on a socket error, -2 on timeout. */
ssize_t client_recv_some(int fd, uint8_t *buf, size_t cap, int64_t deadline);

/* The port number (1..65535 digits) in [s, end), or -1. */
int client_parse_port(const char *s, const char *end);

#endif
