/* onebyte.so: an LD_PRELOAD shim that cuts every socket read and write to
 * one byte (send, recv, read, write, sendto, recvfrom on sockets), so a
 * test can show that moat serve and moat get carry a whole handshake and
 * download through the shortest reads and writes a kernel may give.
 * Built by the Makefile as $(B)/tests/onebyte.so; used by
 * tests/interop/52-one-byte.sh. Not part of libmoat. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

/* The first call each process cuts short appends "cut PID" to the file
 * $ONEBYTE_REPORT names, so a test knows the shim was really in the way. */
static atomic_int reported;

static void cut(void)
{
    if (atomic_exchange(&reported, 1)) return;
    const char *f = getenv("ONEBYTE_REPORT");
    if (!f) return;
    int fd = open(f, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    char line[32];
    int n = snprintf(line, sizeof line, "cut %ld\n", (long)getpid());
    if (n > 0) (void)!pwrite(fd, line, (size_t)n, 0); /* O_APPEND: at the end */
    close(fd);
}

static int is_sock(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

#define REAL(name, ret, ...)                                                                       \
    static ret (*real_##name)(__VA_ARGS__);                                                        \
    if (!real_##name) real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    REAL(send, ssize_t, int, const void *, size_t, int);
    if (len > 1) len = 1, cut();
    return real_send(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a,
               socklen_t al)
{
    REAL(sendto, ssize_t, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    if (len > 1) len = 1, cut();
    return real_sendto(fd, buf, len, flags, a, al);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    REAL(recv, ssize_t, int, void *, size_t, int);
    if (len > 1 && !(flags & MSG_PEEK)) len = 1, cut();
    return real_recv(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *al)
{
    REAL(recvfrom, ssize_t, int, void *, size_t, int, struct sockaddr *, socklen_t *);
    if (len > 1 && !(flags & MSG_PEEK)) len = 1, cut();
    return real_recvfrom(fd, buf, len, flags, a, al);
}

ssize_t read(int fd, void *buf, size_t len)
{
    REAL(read, ssize_t, int, void *, size_t);
    if (len > 1 && is_sock(fd)) len = 1, cut();
    return real_read(fd, buf, len);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    REAL(write, ssize_t, int, const void *, size_t);
    if (len > 1 && is_sock(fd)) len = 1, cut();
    return real_write(fd, buf, len);
}
