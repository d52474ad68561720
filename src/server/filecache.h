/* A worker's cache of opened static files, in the manner of nginx's
 * open_file_cache: a path under the root is resolved and opened once, and
 * for a second the answer (an open descriptor and its stat, or "absent") is
 * reused, so a keep-alive request for a small file costs no path walk. */
#ifndef MOAT_SERVER_FILECACHE_H
#define MOAT_SERVER_FILECACHE_H

#include <sys/stat.h>

#include "server/server.h"

/* How long an answer is reused before the path is resolved again: a file
 * changed on disk is seen within this time. */
#define MOAT_FILECACHE_VALID_MS 1000

/* Opens rel (a normalised path relative to s->root, "" for the root
 * itself) if it is a regular file or a directory that resolves to the root
 * or below it: a symlink leading out of the root is refused, as is a
 * FIFO or device. Returns a descriptor the caller owns and closes, with
 * *st filled, or -1. The root is opened once per process; the answer is
 * cached for MOAT_FILECACHE_VALID_MS. */
int moat_filecache_open(const struct moat_server *s, const char *rel, struct stat *st);

/* Closes every cached descriptor and forgets every answer. */
void moat_filecache_clear(void);

#endif
