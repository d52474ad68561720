/* Whole files in and out, once for every layer that may touch files (not
 * tls/ nor crypto/ for their own use): a capped reader, an atomic writer. */
#ifndef MOAT_CORE_FILE_H
#define MOAT_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The whole of the regular file path, at most max bytes, NUL-terminated
 * (the terminator is not counted in *len); the caller frees it. NULL with
 * errno set: EINVAL when path is not a regular file, EFBIG when it holds
 * more than max bytes, ENOMEM, or what open or read said. */
uint8_t *core_read_file(const char *path, size_t max, size_t *len);

/* The same from an open descriptor (a pipe or stdin too), read to its end;
 * fd stays open. EFBIG past max. */
uint8_t *core_read_fd(int fd, size_t max, size_t *len);

/* Replaces path with data[0..len) so that a reader sees the old file or
 * the new one, never half of either, even across a crash: a temporary
 * file beside path, created O_CREAT|O_EXCL (never written through a file
 * or link someone else put there) with exactly mode (umask aside, so keys
 * stay 0600), written whole, fsync'd, renamed over path, and the directory
 * fsync'd. On failure nothing new is left behind. Returns 0, or
 * MOAT_ERR_IO with a message in err and errno kept from the cause. */
int core_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
                           size_t errlen);

#endif
