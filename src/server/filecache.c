/* A worker's cache of opened static files (filecache.h): paths resolved
 * beneath the root with openat2(RESOLVE_BENEATH) in one system call, the
 * descriptor and its stat (or the fact that nothing is there) kept for a
 * second, so a request for a file asked for a moment ago costs a dup(). */
#include "server/filecache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Few enough that the descriptors they hold are nothing beside
 * --max-conns (which keeps half the descriptor limit spare). */
#define SLOTS 256

struct slot {
    char *key; /* the relative path; NULL: empty */
    uint64_t hash;
    long long until_ms; /* reused until then */
    int fd;             /* -1: nothing servable there */
    struct stat st;
};

static struct slot slots[SLOTS];
static int root_fd = -1;
static char root_path[PATH_MAX];
static int no_openat2; /* the kernel (or a seccomp filter) refused it */

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* A regular file or a directory; never a FIFO, socket or device. */
static int servable(int fd, struct stat *st)
{
    if (fstat(fd, st) < 0 || !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    return fd;
}

/* The slow way, for what openat2 cannot decide alone: an absolute symlink
 * that may lead back under the root, or a kernel without openat2. The
 * path is resolved whole and must be the root or below it. */
static int open_confined(const struct moat_server *s, const char *rel, int flags, struct stat *st)
{
    char path[PATH_MAX], real[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", s->root, rel) >= sizeof path ||
        !realpath(path, real))
        return -1;
    if (strncmp(real, s->root, s->root_len) != 0 ||
        !(real[s->root_len] == '\0' || real[s->root_len] == '/' ||
          (s->root_len == 1 && s->root[0] == '/'))) {
        errno = ENOENT;
        return -1;
    }
    int fd = open(real, flags);
    return fd < 0 ? -1 : servable(fd, st);
}

static int resolve(const struct moat_server *s, const char *rel, struct stat *st)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    if (root_fd >= 0 && strcmp(root_path, s->root) != 0) {
        close(root_fd);
        root_fd = -1;
    }
    if (root_fd < 0 && !no_openat2) {
        root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        snprintf(root_path, sizeof root_path, "%s", s->root);
    }
    if (root_fd >= 0 && !no_openat2) {
        /* RESOLVE_BENEATH: no step of the walk, symlinks included, may
         * leave the root (EXDEV); magic links (/proc/PID/fd) are refused. */
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, root_fd, rel[0] ? rel : ".", &how, sizeof how);
        if (fd >= 0) return servable((int)fd, st);
        if (errno == ENOSYS || errno == EPERM)
            no_openat2 = 1;
        else if (errno != EXDEV && errno != ELOOP)
            return -1; /* ENOENT, EACCES, ENOTDIR...: the answer */
    }
    return open_confined(s, rel, flags, st);
}

static void drop(struct slot *sl)
{
    if (!sl->key) return;
    free(sl->key);
    sl->key = NULL;
    if (sl->fd >= 0) close(sl->fd);
    sl->fd = -1;
}

int moat_filecache_open(const struct moat_server *s, const char *rel, struct stat *st)
{
    uint64_t h = fnv1a(rel);
    struct slot *sl = &slots[h % SLOTS];
    long long now = now_ms();
    if (sl->key && sl->hash == h && now < sl->until_ms && strcmp(sl->key, rel) == 0) {
        if (sl->fd < 0) return -1;
        int fd = fcntl(sl->fd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0) *st = sl->st;
        return fd;
    }
    drop(sl);
    int fd = resolve(s, rel, st);
    /* Out of descriptors or memory says nothing about the file. */
    if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) return -1;
    size_t n = strlen(rel);
    char *key = malloc(n + 1);
    int keep = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (!key || (fd >= 0 && keep < 0)) {
        free(key);
        if (keep >= 0) close(keep);
        return fd;
    }
    memcpy(key, rel, n + 1);
    sl->key = key;
    sl->hash = h;
    sl->until_ms = now + MOAT_FILECACHE_VALID_MS;
    sl->fd = keep;
    if (fd >= 0) sl->st = *st;
    return fd;
}

void moat_filecache_clear(void)
{
    for (size_t i = 0; i < SLOTS; i++)
        drop(&slots[i]);
    if (root_fd >= 0) close(root_fd);
    root_fd = -1;
}
