/* `moat ca trust` and `moat ca untrust`: the root in the system trust
 * store (update-ca-certificates) and in NSS databases (certutil), which
 * Chromium and Firefox read. Tools are run with posix_spawnp and an argv,
 * never through a shell, so no path is ever interpreted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ca/ca.h"
#include "core/file.h"
#include "moat/error.h"

extern char **environ;

#define SYSTEM_CA_DIR "/usr/local/share/ca-certificates"

/* Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null and
 * stdout+stderr captured into out (truncated, always terminated).
 * Returns its exit status, 127 when it could not be started (then out
 * says why), or 128+N when killed by signal N. */
static int run(char *const argv[], char *out, size_t outlen)
{
    int p[2];
    out[0] = 0;
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(out, outlen, "pipe: %s", strerror(errno));
        return 127;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (e != 0) {
        close(p[0]);
        snprintf(out, outlen, "cannot run %s: %s", argv[0], strerror(e));
        return 127;
    }
    size_t used = 0;
    char sink[512];
    for (;;) {
        char *dst = used + 1 < outlen ? out + used : sink;
        size_t room = used + 1 < outlen ? outlen - 1 - used : sizeof sink;
        ssize_t n = read(p[0], dst, room);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (dst == out + used) used += (size_t)n;
    }
    out[used] = 0;
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 127;
    /* One line of output reads better in our messages. */
    while (used > 0 && (out[used - 1] == '\n' || out[used - 1] == ' '))
        out[--used] = 0;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p with mode 0700 for what it creates. */
static int mkdirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0700) != 0 && errno != EEXIST) return -1;
            *s = c;
            if (!c) break;
        }
    }
    return is_dir(dir) ? 0 : -1;
}

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h) return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

static const char certutil_missing[] =
    "certutil is not installed (Debian, Ubuntu: apt-get install libnss3-tools; Fedora: dnf "
    "install nss-tools)";

/* ---- the system store */

static int system_store(const char *cert_path, const char *fp, int remove)
{
    const char *dir = getenv("MOAT_SYSTEM_CA_DIR"); /* tests point it elsewhere */
    int real = !dir || !*dir;
    if (real) dir = SYSTEM_CA_DIR;
    char file[4200], out[2048];
    snprintf(file, sizeof file, "%s/moat-rootCA-%s.crt", dir, fp);
    if (real && geteuid() != 0) {
        printf("System trust store: NOT changed: writing to %s needs root.\n"
               "  Run `sudo -E moat ca %s --system-only` (-E keeps MOAT_CA_HOME), or use "
               "--nss-only to skip it.\n",
               dir, remove ? "untrust" : "trust");
        return -1;
    }
    if (remove) {
        if (!is_file(file)) {
            printf("System trust store: the root was not installed there (%s), nothing to "
                   "remove.\n",
                   file);
            return 0;
        }
        if (unlink(file) != 0) {
            printf("System trust store: cannot remove %s: %s\n", file, strerror(errno));
            return -1;
        }
        char *argv[] = {"update-ca-certificates", "--fresh", NULL};
        int st = run(argv, out, sizeof out);
        if (st != 0) {
            printf("System trust store: removed %s, but update-ca-certificates --fresh failed "
                   "(%d): %s\n",
                   file, st, out);
            return -1;
        }
        printf("System trust store: removed %s and ran update-ca-certificates --fresh.\n", file);
        return 0;
    }
    if (!is_dir(dir)) {
        printf("System trust store: NOT changed: %s does not exist; is the ca-certificates "
               "package installed? (apt-get install ca-certificates)\n",
               dir);
        return -1;
    }
    size_t n = 0;
    char *pem = (char *)core_read_file(cert_path, 16383, &n);
    char err[1024];
    if (!pem || n == 0) {
        free(pem);
        printf("System trust store: NOT changed: cannot read %s\n", cert_path);
        return -1;
    }
    int wr = core_write_file_atomic(file, pem, n, 0644, err, sizeof err);
    free(pem);
    if (wr != 0) {
        printf("System trust store: NOT changed: %s\n", err);
        return -1;
    }
    char *argv[] = {"update-ca-certificates", NULL};
    int st = run(argv, out, sizeof out);
    if (st != 0) {
        unlink(file); /* half installed helps nobody */
        printf("System trust store: NOT changed: update-ca-certificates failed (%d): %s\n", st,
               out);
        return -1;
    }
    printf("System trust store: installed %s and ran update-ca-certificates\n"
           "  (curl, wget, OpenSSL, GnuTLS and moat get now trust the root).\n",
           file);
    return 0;
}

/* ---- NSS databases */

/* One database: created (empty password) if missing when trusting. */
static int nss_one(const char *dir, const char *cert_path, const char *nick, int remove, int create)
{
    char db[4200], cert9[4300], out[2048];
    snprintf(db, sizeof db, "sql:%s", dir);
    snprintf(cert9, sizeof cert9, "%s/cert9.db", dir);
    if (!is_file(cert9)) {
        if (remove) {
            printf("NSS database %s: none there, nothing to remove.\n", dir);
            return 0;
        }
        if (!create) return 0;
        if (mkdirs(dir) != 0) {
            printf("NSS database %s: NOT changed: cannot create the directory: %s\n", dir,
                   strerror(errno));
            return -1;
        }
        char *argv[] = {"certutil", "-N", "--empty-password", "-d", db, NULL};
        int st = run(argv, out, sizeof out);
        if (st != 0) {
            printf("NSS database %s: NOT changed: %s\n", dir, st == 127 ? certutil_missing : out);
            return -1;
        }
        printf("NSS database %s: created (no password).\n", dir);
    }
    if (remove) {
        char *lv[] = {"certutil", "-L", "-d", db, "-n", (char *)nick, NULL};
        int st = run(lv, out, sizeof out);
        if (st == 127) {
            printf("NSS database %s: NOT changed: %s\n", dir, certutil_missing);
            return -1;
        }
        if (st != 0) {
            printf("NSS database %s: the root was not there, nothing to remove.\n", dir);
            return 0;
        }
        char *argv[] = {"certutil", "-D", "-d", db, "-n", (char *)nick, NULL};
        st = run(argv, out, sizeof out);
        if (st != 0) {
            printf("NSS database %s: cannot remove \"%s\": %s\n", dir, nick, out);
            return -1;
        }
        printf("NSS database %s: removed \"%s\".\n", dir, nick);
        return 0;
    }
    /* C,, : a trusted CA for TLS servers (the SSL column), as mkcert does. */
    char *argv[] = {"certutil",        "-A", "-d", db, "-t", "C,,", "-n", (char *)nick, "-i",
                    (char *)cert_path, NULL};
    int st = run(argv, out, sizeof out);
    if (st != 0) {
        printf("NSS database %s: NOT changed: %s\n", dir, st == 127 ? certutil_missing : out);
        return -1;
    }
    printf("NSS database %s: installed \"%s\" (trusted for TLS servers).\n", dir, nick);
    return 0;
}

/* The Firefox profiles under base ("~/.mozilla/firefox") with a cert9.db. */
static int nss_firefox(const char *base, const char *cert_path, const char *nick, int remove,
                       int *found)
{
    DIR *d = opendir(base);
    if (!d) return 0;
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char prof[4200], cert9[4300];
        snprintf(prof, sizeof prof, "%s/%s", base, e->d_name);
        snprintf(cert9, sizeof cert9, "%s/cert9.db", prof);
        if (!is_file(cert9)) continue;
        (*found)++;
        if (nss_one(prof, cert_path, nick, remove, 0) != 0) bad = 1;
    }
    closedir(d);
    return bad ? -1 : 0;
}

int ca_cmd_trust(const char *dir, const struct moat_ca_trust_opts *o)
{
    const char *cmd = o->remove ? "untrust" : "trust";
    char err[1024], fp[80], cert_path[4200];
    struct moat_ca ca;
    int r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "moat ca %s: %s\n", cmd, err);
        return r == MOAT_ERR_FILE || r == MOAT_ERR_ARG ? MOAT_CA_EXIT_USAGE : MOAT_CA_EXIT_FAIL;
    }
    char subject[512] = "";
    crypto_cert_subject(ca.cert, subject, sizeof subject);
    r = crypto_cert_fingerprint(ca.cert, fp, sizeof fp);
    /* The lock is not needed to read a file we only copy. */
    ca_store_close(&ca);
    if (r != 0) {
        fprintf(stderr, "moat ca %s: cannot compute the root's fingerprint\n", cmd);
        return MOAT_CA_EXIT_FAIL;
    }
    fp[16] = 0; /* 64 bits tell our roots apart; the names stay readable */
    snprintf(cert_path, sizeof cert_path, "%s/%s", dir, MOAT_CA_CERT_FILE);
    char nick[128];
    snprintf(nick, sizeof nick, "moat local CA %s", fp);
    printf("%s the root %s (%s, SHA-256 %s...)\n", o->remove ? "Removing" : "Installing", cert_path,
           subject, fp);

    int failed = 0;
    if (o->system && system_store(cert_path, fp, o->remove) != 0) failed = 1;
    if (o->nss) {
        if (o->n_nss_dbs) {
            for (size_t i = 0; i < o->n_nss_dbs; i++)
                if (nss_one(o->nss_dbs[i], cert_path, nick, o->remove, 1) != 0) failed = 1;
        } else {
            const char *home = home_dir();
            if (!home) {
                printf("NSS databases: NOT changed: no home directory (set HOME, or give "
                       "--nss-db DIR)\n");
                failed = 1;
            } else {
                /* Chromium and other NSS programs: ~/.pki/nssdb, made if missing. */
                char db[4200], ff[4200];
                snprintf(db, sizeof db, "%s/.pki/nssdb", home);
                if (nss_one(db, cert_path, nick, o->remove, 1) != 0) failed = 1;
                int found = 0;
                snprintf(ff, sizeof ff, "%s/.mozilla/firefox", home);
                if (nss_firefox(ff, cert_path, nick, o->remove, &found) != 0) failed = 1;
                snprintf(ff, sizeof ff, "%s/snap/firefox/common/.mozilla/firefox", home);
                if (nss_firefox(ff, cert_path, nick, o->remove, &found) != 0) failed = 1;
                if (!found)
                    printf("Firefox: no profile with a cert9.db under %s/.mozilla/firefox%s\n",
                           home, o->remove ? "" : " (start Firefox once, then run this again)");
                else if (!o->remove)
                    printf("Firefox: restart it to pick the root up.\n");
            }
        }
    }
    if (failed) {
        fprintf(stderr, "moat ca %s: some trust stores were not changed; see above\n", cmd);
        return MOAT_CA_EXIT_FAIL;
    }
    return 0;
}
