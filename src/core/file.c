/* Whole-file reading with a cap, and the atomic replacement of a file
 * (core/file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "moat/error.h"

uint8_t *core_read_fd(int fd, size_t max, size_t *len)
{
    size_t cap = 4096, got = 0;
    uint8_t *p = malloc(cap + 1);
    if (!p) goto nomem;
    for (;;) {
        if (got == cap) {
            if (cap > max) break; /* one byte past max was read: too big */
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *np = realloc(p, ncap + 1);
            if (!np) goto nomem;
            p = np;
            cap = ncap;
        }
        ssize_t n = read(fd, p + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(p);
            errno = e;
            return NULL;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    if (got > max) {
        free(p);
        errno = EFBIG;
        return NULL;
    }
    p[got] = 0;
    *len = got;
    return p;
nomem:
    free(p);
    errno = ENOMEM;
    return NULL;
}

uint8_t *core_read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EINVAL;
    else if ((uint64_t)st.st_size > max)
        e = EFBIG; /* refused before a byte is read */
    uint8_t *p = e ? NULL : core_read_fd(fd, max, len);
    if (!p && !e) e = errno;
    close(fd);
    if (!p) errno = e;
    return p;
}

static int io_fail(char *err, size_t errlen, const char *fmt, ...)
{
    int saved = errno;
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = saved;
    return MOAT_ERR_IO;
}

/* Creates a fresh temporary file beside path: its name in tmp, its fd. */
static int create_temp(const char *path, mode_t mode, char *tmp, size_t tmplen, char *err,
                       size_t errlen)
{
    static unsigned counter;
    /* O_EXCL makes the name safe; pid, counter and clock only make a
     * clash with a stale temp file unlikely, and a clash is tried again. */
    for (int tries = 0; tries < 16; tries++) {
        unsigned salt = (unsigned)core_mono_us() * 2654435761u;
        int n = snprintf(tmp, tmplen, "%s.tmp-%ld-%u-%08x", path, (long)getpid(), counter++, salt);
        if (n < 0 || (size_t)n >= tmplen) {
            errno = ENAMETOOLONG;
            return io_fail(err, errlen, "%s: path too long", path);
        }
        int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
        if (fd >= 0) return fd;
        if (errno != EEXIST)
            return io_fail(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    }
    return io_fail(err, errlen, "cannot create a temporary file next to %s", path);
}

/* fsync of the directory holding path, so that a rename there lasts. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

int core_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
                           size_t errlen)
{
    char tmp[4096];
    int fd = create_temp(path, mode, tmp, sizeof tmp, err, errlen);
    if (fd < 0) return MOAT_ERR_IO;
    /* The umask may have narrowed the mode; set exactly what was asked. */
    if (fchmod(fd, mode) != 0) goto io_error;
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w == 0) errno = EIO;
        if (w <= 0) goto io_error;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) goto io_error;
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(tmp, path) != 0) goto io_error;
    sync_dir_of(path);
    return 0;

io_error : {
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = saved;
    return io_fail(err, errlen, "cannot write %s: %s", path, strerror(saved));
}
}
