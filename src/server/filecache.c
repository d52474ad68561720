/* A worker's cache of opened static files (filecache.h): paths resolved
 * beneath the root with openat2(RESOLVE_BENEATH) in one system call, the
 * descriptor and its stat (or the fact that nothing is there) kept for a
 * second, so a request for a file asked for a moment ago costs a dup(). */
#include "core/clock.h"
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
    int found;          /* 0: nothing servable there */
    struct moat_cached e;
    uint8_t *data; /* e.data's storage */
};

static struct slot slots[SLOTS];
static int root_fd = -1;
static char root_path[PATH_MAX];
static int no_openat2; /* the kernel (or a seccomp filter) refused it */

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
    /* Opened again from the root with no symlink allowed at all, so that
     * nothing swapped in since realpath is followed. */
    const char *rest = real[s->root_len] ? real + s->root_len + 1 : ".";
    if (s->root_len == 1) rest = real[1] ? real + 1 : ".";
    long fd;
    if (root_fd >= 0 && !no_openat2) {
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
        fd = syscall(SYS_openat2, root_fd, rest, &how, sizeof how);
    } else {
        fd = open(real, flags | O_NOFOLLOW);
    }
    return fd < 0 ? -1 : servable((int)fd, st);
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
        if (fd < 0 && errno == EAGAIN) /* a rename raced the walk: once more */
            fd = syscall(SYS_openat2, root_fd, rel[0] ? rel : ".", &how, sizeof how);
        if (fd >= 0) return servable((int)fd, st);
        if (errno == ENOSYS || errno == EPERM)
            no_openat2 = 1;
        else if (errno != EXDEV && errno != ELOOP && errno != EAGAIN)
            return -1; /* ENOENT, EACCES, ENOTDIR...: the answer */
    }
    return open_confined(s, rel, flags, st);
}

static void drop(struct slot *sl)
{
    if (!sl->key) return;
    free(sl->key);
    sl->key = NULL;
    if (sl->found) {
        close(sl->e.fd);
        for (int i = 0; i < 2; i++)
            if (sl->e.sib_fd[i] >= 0) close(sl->e.sib_fd[i]);
    }
    free(sl->data);
    sl->data = NULL;
    sl->found = 0;
}

static struct slot *lookup(const char *rel, uint64_t h, long long now)
{
    struct slot *sl = &slots[h % SLOTS];
    if (sl->key && sl->hash == h && now < sl->until_ms && strcmp(sl->key, rel) == 0) return sl;
    return NULL;
}

/* Fills sl for rel: the file, then for a regular file its bytes (when
 * small) and its precompressed siblings. Returns -1 when out of
 * descriptors or memory (nothing to cache), else 0. */
static int fill(const struct moat_server *s, struct slot *sl, const char *rel)
{
    struct moat_cached *e = &sl->e;
    e->sib_fd[0] = e->sib_fd[1] = -1;
    e->data = NULL;
    e->fd = resolve(s, rel, &e->st);
    if (e->fd < 0) return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -1 : 0;
    sl->found = 1;
    if (!S_ISREG(e->st.st_mode)) return 0;
    if (e->st.st_size <= MOAT_FILECACHE_DATA_MAX &&
        (sl->data = malloc((size_t)e->st.st_size + 1))) {
        if (pread(e->fd, sl->data, (size_t)e->st.st_size, 0) == (ssize_t)e->st.st_size) {
            e->data = sl->data;
        } else {
            free(sl->data);
            sl->data = NULL;
        }
    }
    static const char *const suffix[2] = {".br", ".gz"};
    for (int i = 0; i < 2; i++) {
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s%s", rel, suffix[i]) >= sizeof p) continue;
        int fd = resolve(s, p, &e->sib_st[i]);
        if (fd >= 0 && !S_ISREG(e->sib_st[i].st_mode)) {
            close(fd);
            fd = -1;
        }
        e->sib_fd[i] = fd;
    }
    return 0;
}

const struct moat_cached *server_filecache_get(const struct moat_server *s, const char *rel)
{
    uint64_t h = fnv1a(rel);
    long long now = core_mono_coarse_ms();
    struct slot *sl = lookup(rel, h, now);
    if (sl) return sl->found ? &sl->e : NULL;
    sl = &slots[h % SLOTS];
    drop(sl);
    size_t n = strlen(rel);
    char *key = malloc(n + 1);
    if (!key) return NULL;
    memcpy(key, rel, n + 1);
    sl->key = key;
    sl->hash = h;
    sl->until_ms = now + MOAT_FILECACHE_VALID_MS;
    if (fill(s, sl, rel) < 0) {
        drop(sl); /* the answer says nothing about the file: not kept */
        return NULL;
    }
    return sl->found ? &sl->e : NULL;
}

void server_filecache_clear(void)
{
    for (size_t i = 0; i < SLOTS; i++)
        drop(&slots[i]);
    if (root_fd >= 0) close(root_fd);
    root_fd = -1;
}
