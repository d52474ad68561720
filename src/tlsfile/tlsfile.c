/* The files of a TLS configuration, read whole through core/ and handed
 * to the engine's setters as bytes: certificates and keys, CA sets, CRLs,
 * client CAs, and the system trust store. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "crypto/crypto.h"
#include "tlsfile/tlsfile.h"

#define PEM_FILE_MAX (16u << 20) /* no certificate, key or CRL file is this big */
#define HASHED_FILE_MAX (1u << 20)
#define HASHED_FILES_MAX 10000

/* The whole file, or NULL with err saying why. */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    char *p = (char *)core_read_file(path, PEM_FILE_MAX, len);
    if (!p && errno == EFBIG)
        snprintf(err, errlen, "%s is too large", path);
    else if (!p)
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return p;
}

int moat_tls_config_add_cert_file(moat_tls_config *c, const char *cert_file, const char *key_file,
                                  char *err, size_t errlen)
{
    size_t cl = 0, kl = 0;
    char sub[400] = "";
    char *cp = slurp(cert_file, &cl, err, errlen);
    if (!cp) return MOAT_ERR_FILE;
    char *kp = slurp(key_file, &kl, err, errlen);
    if (!kp) {
        free(cp);
        return MOAT_ERR_FILE;
    }
    int r = moat_tls_config_add_cert_pem(c, cp, cl, kp, kl, sub, sizeof sub);
    if (r) snprintf(err, errlen, "%s / %s: %s", cert_file, key_file, sub);
    moat_wipe(kp, kl);
    free(kp);
    free(cp);
    return r;
}

/* One of the setters that take a single file's bytes, with the file's
 * name before the setter's reason. */
typedef int (*bytes_setter)(moat_tls_config *, const char *, size_t, char *, size_t);
static int from_file(moat_tls_config *c, bytes_setter set, const char *path, char *err,
                     size_t errlen)
{
    size_t len = 0;
    char sub[300] = "";
    char *p = slurp(path, &len, err, errlen);
    if (!p) return MOAT_ERR_FILE;
    int r = set(c, p, len, sub, sizeof sub);
    if (r) snprintf(err, errlen, "%s: %s", path, sub);
    free(p);
    return r;
}

int moat_tls_config_set_ca_file(moat_tls_config *c, const char *path, char *err, size_t errlen)
{
    return from_file(c, moat_tls_config_set_ca_pem, path, err, errlen);
}

int moat_tls_config_set_client_ca_file(moat_tls_config *c, const char *path, char *err,
                                       size_t errlen)
{
    int r = from_file(c, moat_tls_config_set_client_ca_pem, path, err, errlen);
    return r ? MOAT_ERR_FILE : 0;
}

int moat_tls_config_add_crl_file(moat_tls_config *c, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char sub[300] = "";
    char *p = slurp(path, &len, err, errlen);
    if (!p) return MOAT_ERR_FILE;
    int r = moat_tls_config_add_crl(c, p, len, sub, sizeof sub);
    /* With no trust store yet, the CRLs are for the system's. */
    if (r == MOAT_ERR_STATE) {
        r = moat_tls_config_set_system_trust(c, err, errlen) ? MOAT_ERR_FILE : 0;
        if (!r) r = moat_tls_config_add_crl(c, p, len, sub, sizeof sub);
    }
    if (r && sub[0]) snprintf(err, errlen, "%s: %s", path, sub);
    free(p);
    return r;
}

/* A name the hashed directory lookup of libcrypto would open: the subject
 * hash in lower-case hex, a dot, an optional 'r' (a CRL), a number. */
static int hashed_name(const struct dirent *de)
{
    const char *n = de->d_name;
    for (int i = 0; i < 8; i++)
        if (!n[i] || !strchr("0123456789abcdef", n[i])) return 0;
    n += 8;
    if (*n++ != '.') return 0;
    if (*n == 'r') n++;
    if (!*n) return 0;
    for (; *n; n++)
        if (*n < '0' || *n > '9') return 0;
    return 1;
}

/* Appends the file at path, and a newline, to pem; a file that cannot be
 * read is passed over. -1 only when out of memory. */
static int append_file(moat_buf *pem, const char *path, size_t max)
{
    size_t len = 0;
    uint8_t *p = core_read_file(path, max, &len);
    if (!p) return 0;
    int r = moat_buf_append(pem, p, len) || moat_buf_append(pem, "\n", 1) ? -1 : 0;
    free(p);
    return r;
}

/* The PEM blocks already read (the bundle file), to pass over the hashed
 * files that hold the same bytes: on Debian every one of them is a link to
 * a certificate the bundle has, and parsing each twice doubled the cost of
 * loading the store. */
struct seen_block {
    uint64_t hash;
    size_t off, len;
};
struct seen {
    struct seen_block *b;
    size_t n;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The next "-----BEGIN ...-----END ...-----" block of p[0..n) at or after
 * *pos: its start and length; 0 when there is none. */
static int next_block(const uint8_t *p, size_t n, size_t *pos, size_t *start, size_t *len)
{
    static const char begin[] = "-----BEGIN ", end[] = "-----END ";
    if (!p || *pos >= n) return 0;
    const uint8_t *b = memmem(p + *pos, n - *pos, begin, sizeof begin - 1);
    if (!b) return 0;
    const uint8_t *e = memmem(b, (size_t)(p + n - b), end, sizeof end - 1);
    const uint8_t *close = e ? memmem(e + 9, (size_t)(p + n - e - 9), "-----", 5) : NULL;
    if (!close) return 0;
    *start = (size_t)(b - p);
    *len = (size_t)(close + 5 - b);
    *pos = *start + *len;
    return 1;
}

static int cmp_block(const void *a, const void *b)
{
    uint64_t x = ((const struct seen_block *)a)->hash, y = ((const struct seen_block *)b)->hash;
    return x < y ? -1 : x > y;
}

static void seen_build(struct seen *s, const moat_buf *pem)
{
    size_t pos = 0, st, ln, cap = 0;
    s->b = NULL;
    s->n = 0;
    while (next_block(pem->base, pem->len, &pos, &st, &ln)) {
        if (s->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct seen_block *nb = realloc(s->b, nc * sizeof *nb);
            if (!nb) break; /* without the list every file is read: slower, not wrong */
            s->b = nb;
            cap = nc;
        }
        s->b[s->n++] = (struct seen_block){fnv1a(pem->base + st, ln), st, ln};
    }
    if (s->n) qsort(s->b, s->n, sizeof *s->b, cmp_block);
}

/* Whether every PEM block of p[0..n) (and at least one) is in the bundle. */
static int all_seen(const struct seen *s, const moat_buf *pem, const uint8_t *p, size_t n)
{
    size_t pos = 0, st, ln, blocks = 0;
    while (next_block(p, n, &pos, &st, &ln)) {
        struct seen_block key = {fnv1a(p + st, ln), 0, 0};
        const struct seen_block *f = s->n ? bsearch(&key, s->b, s->n, sizeof *s->b, cmp_block) : NULL;
        if (!f) return 0;
        /* Equal hashes sit together: look at each for the same bytes. */
        while (f > s->b && f[-1].hash == key.hash)
            f--;
        int same = 0;
        for (; f < s->b + s->n && f->hash == key.hash && !same; f++)
            same = f->len == ln && memcmp(pem->base + f->off, p + st, ln) == 0;
        if (!same) return 0;
        blocks++;
    }
    return blocks > 0;
}

/* The hashed files of one directory, in name order, but for those the
 * bundle already holds. Eagerly, where libcrypto looked each up when a
 * chain needed it: every certificate of the store is then in memory,
 * which the caps keep bounded. */
static int append_dir(moat_buf *pem, const struct seen *seen, const char *dir, size_t *files)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, hashed_name, alphasort);
    if (n < 0) return 0;
    int r = 0;
    char path[4096];
    for (int i = 0; i < n; i++) {
        int fits = snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) < (int)sizeof path;
        if (!r && fits && (*files)++ < HASHED_FILES_MAX) {
            size_t len = 0;
            uint8_t *p = core_read_file(path, HASHED_FILE_MAX, &len);
            if (p && !all_seen(seen, pem, p, len))
                r = moat_buf_append(pem, p, len) || moat_buf_append(pem, "\n", 1) ? -1 : 0;
            free(p);
        }
        free(list[i]);
    }
    free(list);
    return r;
}

int tlsfile_read_system_trust(moat_buf *pem)
{
    struct crypto_trust_paths d;
    crypto_trust_default_paths(&d);
    /* secure_getenv: libcrypto ignores these too when set-user-ID. */
    const char *file = secure_getenv(d.file_env);
    const char *dirs = secure_getenv(d.dir_env);
    if (append_file(pem, file ? file : d.file, PEM_FILE_MAX)) return MOAT_ERR_NOMEM;
    char *list = strdup(dirs ? dirs : d.dir);
    if (!list) return MOAT_ERR_NOMEM;
    struct seen seen;
    seen_build(&seen, pem);
    size_t files = 0;
    int r = 0;
    char *save = NULL;
    for (char *dir = strtok_r(list, ":", &save); dir && !r; dir = strtok_r(NULL, ":", &save))
        r = append_dir(pem, &seen, dir, &files);
    free(seen.b);
    free(list);
    return r ? MOAT_ERR_NOMEM : 0;
}

int moat_tls_config_set_system_trust(moat_tls_config *c, char *err, size_t errlen)
{
    moat_buf pem;
    moat_buf_init(&pem);
    int r = tlsfile_read_system_trust(&pem);
    if (r)
        snprintf(err, errlen, "the system trust store could not be loaded: out of memory");
    else
        r = moat_tls_config_set_system_trust_pem(c, pem.len ? (const char *)pem.base : "", pem.len,
                                                 err, errlen);
    moat_buf_free(&pem);
    return r;
}
