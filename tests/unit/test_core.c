/* Unit tests of core/: the capped whole-file reader, the atomic writer
 * (mode kept, no temporary file left on failure) and the monotonic clock. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "harness.h"
#include "moat/error.h"

static char dir[512];

static void put(const char *name, const char *data, size_t len)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* How many entries dir holds, . and .. aside. */
static int entries(const char *d)
{
    DIR *dd = opendir(d);
    int n = 0;
    for (struct dirent *e; dd && (e = readdir(dd));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (dd) closedir(dd);
    return n;
}

static void test_read(void)
{
    char p[700], big[5000];
    size_t len = 99;
    memset(big, 'x', sizeof big);
    put("small", "hello", 5);
    put("big", big, sizeof big);
    snprintf(p, sizeof p, "%s/small", dir);
    uint8_t *b = core_read_file(p, 5, &len);
    check(b && len == 5 && memcmp(b, "hello", 6) == 0,
          "read: a file of exactly the cap, NUL-ended");
    free(b);
    errno = 0;
    check(!core_read_file(p, 4, &len) && errno == EFBIG, "read: one byte over the cap is EFBIG");
    snprintf(p, sizeof p, "%s/big", dir);
    b = core_read_file(p, sizeof big, &len);
    check(b && len == sizeof big, "read: a file larger than one read buffer, whole");
    free(b);
    errno = 0;
    check(!core_read_file(p, sizeof big - 1, &len) && errno == EFBIG,
          "read: larger file over the cap");
    errno = 0;
    check(!core_read_file(dir, 1 << 20, &len) && errno == EINVAL, "read: a directory is EINVAL");
    snprintf(p, sizeof p, "%s/missing", dir);
    errno = 0;
    check(!core_read_file(p, 10, &len) && errno == ENOENT, "read: a missing file is ENOENT");
    put("empty", "", 0);
    snprintf(p, sizeof p, "%s/empty", dir);
    b = core_read_file(p, 10, &len);
    check(b && len == 0 && b[0] == 0, "read: an empty file is an empty buffer");
    free(b);
    /* A pipe has no size to check first: the cap holds while reading. */
    int fds[2];
    if (pipe(fds) == 0) {
        ssize_t w = write(fds[1], big, 3000);
        close(fds[1]);
        errno = 0;
        check(w == 3000 && !core_read_fd(fds[0], 2999, &len) && errno == EFBIG,
              "read: a pipe past the cap is EFBIG");
        close(fds[0]);
    }
    if (pipe(fds) == 0) {
        ssize_t w = write(fds[1], big, 3000);
        close(fds[1]);
        b = core_read_fd(fds[0], 3000, &len);
        check(w == 3000 && b && len == 3000, "read: a pipe within the cap, whole");
        free(b);
        close(fds[0]);
    }
}

static int mode_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void test_write(void)
{
    char p[700], err[512], sub[600];
    size_t len = 0;
    snprintf(sub, sizeof sub, "%s/w", dir);
    mkdir(sub, 0700);
    snprintf(p, sizeof p, "%s/key.pem", sub);
    mode_t old = umask(0);
    int r = core_write_file_atomic(p, "secret", 6, 0600, err, sizeof err);
    umask(old);
    check(r == 0 && mode_of(p) == 0600, "write: mode 0600 whatever the umask (0)");
    old = umask(077);
    r = core_write_file_atomic(p, "public", 6, 0644, err, sizeof err);
    umask(old);
    uint8_t *b = core_read_file(p, 100, &len);
    check(r == 0 && mode_of(p) == 0644 && b && strcmp((char *)b, "public") == 0,
          "write: replaces the file, with exactly the mode asked (umask 077)");
    free(b);
    r = core_write_file_atomic(p, "", 0, 0600, err, sizeof err);
    check(r == 0 && mode_of(p) == 0600 && entries(sub) == 1, "write: an empty file, no temp left");
    /* A directory where the file should go: the rename fails after the
     * temporary file was written, which must go too. */
    char d2[700];
    snprintf(d2, sizeof d2, "%s/adir", sub);
    mkdir(d2, 0700);
    put("w/adir/inside", "x", 1);
    errno = 0;
    r = core_write_file_atomic(d2, "data", 4, 0600, err, sizeof err);
    check(r == MOAT_ERR_IO && errno != 0 && strstr(err, "cannot write") && entries(sub) == 2 &&
              entries(d2) == 1,
          "write: a failed rename leaves no temporary file (%s)", err);
    snprintf(p, sizeof p, "%s/no/such/dir/f", sub);
    r = core_write_file_atomic(p, "x", 1, 0600, err, sizeof err);
    check(r == MOAT_ERR_IO && strstr(err, "no/such") != NULL,
          "write: a missing directory fails with a message");
    char longp[5000];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    errno = 0;
    r = core_write_file_atomic(longp, "x", 1, 0600, err, sizeof err);
    check(r == MOAT_ERR_IO && errno == ENAMETOOLONG, "write: a path too long is refused");
}

static void test_clock(void)
{
    int64_t a = core_mono_ms(), au = core_mono_us(), c = core_mono_coarse_ms();
    usleep(20000);
    int64_t b = core_mono_ms(), bu = core_mono_us();
    check(b - a >= 19 && bu - au >= 19000 && b - a < 5000, "clock: ms and us advance with a sleep");
    check(au / 1000 - a <= 1 && au / 1000 - a >= -1, "clock: ms and us are the same clock");
    check(c <= b && b - c < 1000, "clock: the coarse clock is at most a tick behind");
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/moat-core-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        printf("not ok - core temp dir\n");
        return 1;
    }
    test_read();
    test_write();
    test_clock();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (failures == 0 && system(cmd) != 0) printf("# could not remove %s\n", dir);
    return failures ? 1 : 0;
}
