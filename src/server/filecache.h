/* A worker's cache of opened static files, in the manner of nginx's
 * open_file_cache: a path under the root is resolved and opened once, and
 * for a second the answer (an open descriptor and its stat, its
 * precompressed siblings, the bytes of a small file; or "absent") is
 * reused, so a keep-alive request for a small file costs no system call
 * beyond the socket's. */
#ifndef MOAT_SERVER_FILECACHE_H
#define MOAT_SERVER_FILECACHE_H

#include <stdint.h>
#include <sys/stat.h>

#include "server/server.h"

/* How long an answer is reused before the path is resolved again: a file
 * changed on disk is seen within this time. */
#define MOAT_FILECACHE_VALID_MS 1000
/* Files up to this size are kept in memory too: one TLS record's worth. */
#define MOAT_FILECACHE_DATA_MAX 16384

/* What is served for a path: the file or directory itself; for a regular
 * file its bytes when small, and its ".br" and ".gz" siblings. */
struct moat_cached {
    int fd; /* the file or directory, open for reading */
    struct stat st;
    const uint8_t *data; /* all st.st_size bytes, or NULL (large, or unread) */
    int sib_fd[2];       /* rel.br, rel.gz when regular files under the root; -1 */
    struct stat sib_st[2];
};

/* The entry for rel (a normalised path relative to s->root, "" for the
 * root itself) when it is a regular file or a directory that resolves to
 * the root or below it; NULL otherwise: a symlink leading out of the root
 * is refused, as is a FIFO or device. The root is opened once per process;
 * the answer is kept for MOAT_FILECACHE_VALID_MS. Borrowed: it and its
 * descriptors stay valid until the next server_filecache_get or
 * server_filecache_clear; dup a descriptor to keep it longer. */
const struct moat_cached *server_filecache_get(const struct moat_server *s, const char *rel);

/* Closes every cached descriptor and forgets every answer. */
void server_filecache_clear(void);

#endif
