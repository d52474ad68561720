/* moat get, once its options are read (cli/get.c): the request body of
 * -d, the TLS configuration of the client, then the transfer (fetch.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "core/keylog.h"
#include "core/exit.h"
#include "core/file.h"
#include "crypto/crypto.h"
#include "tlsfile/tlsfile.h"

/* A mistake in the options found here (a cipher or group name): the
 * message, then the usage text of cli/get.c. */
static int fail_usage(const struct moat_get_opts *o, const char *fmt, const char *arg)
{
    fputs("moat get: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    if (o->usage) fputs(o->usage, stderr);
    return GET_EXIT_USAGE;
}

/* Appends a whole file (or stdin for "-") to b: any kind of file (a
 * pipe too), as large as memory allows. Returns 0, or -1 with errno. */
static int read_file(const char *path, moat_buf *b)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    uint8_t *p = core_read_fd(fd, SIZE_MAX / 4, &n);
    int e = errno;
    if (fd != 0) close(fd);
    int r = p && moat_buf_append(b, p, n) == 0 ? 0 : -1;
    free(p);
    errno = e;
    return r;
}

int get_add_data(struct moat_get_opts *o, const char *v, int binary)
{
    if (o->has_data && o->data.len && moat_buf_append(&o->data, "&", 1) < 0)
        return GET_EXIT_READ_ERROR;
    o->has_data = 1;
    if (!binary) o->data_form = 1;
    if (v[0] != '@')
        return moat_buf_append(&o->data, v, strlen(v)) < 0 ? GET_EXIT_READ_ERROR : GET_EXIT_OK;
    size_t at = o->data.len;
    if (read_file(v + 1, &o->data) < 0) {
        fprintf(stderr, "moat: cannot read %s: %s\n", v + 1, strerror(errno));
        return GET_EXIT_READ_ERROR;
    }
    if (!binary) {
        size_t w = at;
        for (size_t i = at; i < o->data.len; i++)
            if (o->data.base[i] != '\r' && o->data.base[i] != '\n')
                o->data.base[w++] = o->data.base[i];
        o->data.len = w;
    }
    return GET_EXIT_OK;
}

int get_add_json(struct moat_get_opts *o, const char *v)
{
    o->has_data = 1;
    o->data_json = 1;
    if (v[0] != '@')
        return moat_buf_append(&o->data, v, strlen(v)) < 0 ? GET_EXIT_READ_ERROR : GET_EXIT_OK;
    if (read_file(v + 1, &o->data) < 0) {
        fprintf(stderr, "moat: cannot read %s: %s\n", v + 1, strerror(errno));
        return GET_EXIT_READ_ERROR;
    }
    return GET_EXIT_OK;
}

/* -O: the last segment of the URL's path, without its query. */
static int remote_name(const struct moat_url *u, char *out, size_t n)
{
    size_t plen = strcspn(u->path, "?");
    size_t s = plen;
    while (s > 0 && u->path[s - 1] != '/')
        s--;
    if (s == plen || plen - s >= n) return -1;
    memcpy(out, u->path + s, plen - s);
    out[plen - s] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) return -1;
    return 0;
}

/* --capath DIR: every certificate in the files of DIR, as PEM text. */
static int read_capath(const char *dir, moat_buf *pem)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 22)) continue;
        moat_buf one;
        moat_buf_init(&one);
        if (read_file(path, &one) == 0 && one.len &&
            memmem(one.base, one.len, "-----BEGIN CERTIFICATE-----", 27)) {
            moat_buf_append(pem, one.base, one.len);
            moat_buf_append(pem, "\n", 1);
        }
        moat_buf_free(&one);
    }
    closedir(d);
    return 0;
}

static int set_list(const struct moat_get_opts *o, moat_tls_config *cfg, const char *list,
                    int groups)
{
    char buf[512];
    uint16_t ids[4];
    size_t n = 0;
    if (strlen(list) >= sizeof buf) return fail_usage(o, "list too long: %s", list);
    strcpy(buf, list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        uint16_t id = groups ? moat_tls_group_from_name(t) : moat_tls_cipher_from_name(t);
        if (!id)
            return fail_usage(
                o,
                groups ? "unknown group '%s' (X25519MLKEM768, x25519, secp256r1, secp384r1)"
                       : "unknown cipher suite '%s'",
                t);
        if (n == (groups ? 4u : 3u))
            return fail_usage(o, groups ? "at most 4 names in %s" : "at most 3 names in %s", list);
        ids[n++] = id;
    }
    if (n == 0) return fail_usage(o, "empty list '%s'", list);
    int r =
        groups ? moat_tls_config_set_groups(cfg, ids, n) : moat_tls_config_set_ciphers(cfg, ids, n);
    return r < 0 ? fail_usage(o, "cannot use %s", list) : GET_EXIT_OK;
}

/* -k: the trust the handshake will not apply (the same --cacert, --capath
 * and --crl, or the system store), kept to tell -w ssl_verify_result and
 * -v what the verdict would have been. Left NULL when it cannot be made. */
static void insecure_trust(struct moat_get_opts *o)
{
    moat_buf pem, crl;
    moat_buf_init(&pem);
    moat_buf_init(&crl);
    char err[256];
    int bad = 0;
    if (o->capath) bad = read_capath(o->capath, &pem) < 0;
    if (!bad && o->cacert) bad = read_file(o->cacert, &pem) < 0;
    if (!bad && !o->capath && !o->cacert) {
        if (!tlsfile_read_system_trust(&pem))
            o->check_trust = crypto_trust_new_system(pem.len ? (const char *)pem.base : "", pem.len,
                                                     err, sizeof err);
    } else if (!bad && pem.len)
        o->check_trust = crypto_trust_new((const char *)pem.base, pem.len, err, sizeof err);
    if (o->check_trust && o->crl &&
        (read_file(o->crl, &crl) < 0 ||
         crypto_trust_add_crl(o->check_trust, (const char *)crl.base, crl.len, err, sizeof err))) {
        crypto_trust_free(o->check_trust);
        o->check_trust = NULL;
    }
    moat_buf_free(&pem);
    moat_buf_free(&crl);
}

static int setup(struct moat_get_opts *o, moat_tls_config *cfg)
{
    char err[512];
    /* h2 first, as curl and browsers offer (RFC 9113 3.2); --http1.1 only
     * http/1.1. */
    static const char *const alpn[] = {"h2", "http/1.1"};
    moat_tls_config_set_alpn(cfg, o->http1_1 ? alpn + 1 : alpn, o->http1_1 ? 1 : 2);
    const char *keylog = getenv("SSLKEYLOGFILE");
    if (keylog && *keylog) {
        if (core_keylog_open(keylog) < 0)
            fprintf(stderr, "moat: warning: cannot write SSLKEYLOGFILE %s\n", keylog);
        else
            moat_tls_config_set_keylog(cfg, core_keylog_write, NULL);
    }
    if (o->capath) {
        moat_buf pem;
        moat_buf_init(&pem);
        int bad = read_capath(o->capath, &pem) < 0;
        if (!bad && o->cacert) bad = read_file(o->cacert, &pem) < 0;
        err[0] = '\0';
        if (bad || !pem.len ||
            moat_tls_config_set_ca_pem(cfg, (const char *)pem.base, pem.len, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --capath %s: %s\n", o->capath,
                    err[0] ? err
                    : bad  ? strerror(errno)
                           : "no certificates in it");
            moat_buf_free(&pem);
            return GET_EXIT_SSL_CACERT_BADFILE;
        }
        moat_buf_free(&pem);
    } else if (o->cacert) {
        err[0] = '\0';
        if (moat_tls_config_set_ca_file(cfg, o->cacert, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --cacert %s: %s\n", o->cacert,
                    err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CACERT_BADFILE;
        }
    }
    if (!o->capath && !o->cacert && !o->insecure) {
        err[0] = '\0';
        if (moat_tls_config_set_system_trust(cfg, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot load the system trust store: %s\n",
                    err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CACERT_BADFILE;
        }
    }
    if (o->crl) {
        err[0] = '\0';
        if (moat_tls_config_add_crl_file(cfg, o->crl, err, sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --crl %s: %s\n", o->crl, err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CACERT_BADFILE; /* as curl does for a bad --crlfile */
        }
    }
    if (o->cert) {
        err[0] = '\0';
        if (moat_tls_config_add_cert_file(cfg, o->cert, o->key ? o->key : o->cert, err,
                                          sizeof err) < 0) {
            fprintf(stderr, "moat: cannot use --cert %s: %s\n", o->cert,
                    err[0] ? err : "unreadable");
            return GET_EXIT_SSL_CERTPROBLEM;
        }
    }
    if (o->tls_min || o->tls_max)
        moat_tls_config_set_versions(cfg, o->tls_min ? o->tls_min : MOAT_TLS_VERSION_1_2,
                                     o->tls_max ? o->tls_max : MOAT_TLS_VERSION_1_3);
    int r;
    if ((o->groups && (r = set_list(o, cfg, o->groups, 1))) ||
        (o->ciphers && (r = set_list(o, cfg, o->ciphers, 0))))
        return r;
    if (o->insecure) {
        moat_tls_config_set_verify(cfg, 0);
        insecure_trust(o);
        fprintf(stderr,
                "moat: WARNING: -k: the server's certificate is NOT checked. Anyone on the path "
                "can read and change this transfer.\n");
    }
    return GET_EXIT_OK;
}

void get_crypto_versions(const char **libcrypto, const char **mlkem)
{
    *libcrypto = crypto_version();
    *mlkem = crypto_mlkem_impl();
}

int get_run(struct moat_get_opts *o)
{
    struct moat_url u;
    char err[512], name[256];
    int r = client_url_parse(o->url, &u, err, sizeof err);
    if (r) {
        fprintf(stderr, "moat: %s\n", err);
        moat_buf_free(&o->data);
        return r;
    }
    if (o->remote_name) {
        if (remote_name(&u, name, sizeof name) < 0) {
            fprintf(stderr, "moat: -O: the URL has no file name to save under (use -o FILE)\n");
            moat_buf_free(&o->data);
            return GET_EXIT_WRITE_ERROR;
        }
        o->output = name;
    }

    moat_tls_config *cfg = moat_tls_config_new();
    if (!cfg) {
        fprintf(stderr, "moat: cannot set up TLS (libcrypto lacks an algorithm?)\n");
        moat_buf_free(&o->data);
        return GET_EXIT_INTERNAL;
    }
    r = setup(o, cfg);
    if (!r) r = client_fetch(o, cfg);
    moat_tls_config_free(cfg);
    crypto_trust_free(o->check_trust);
    moat_buf_free(&o->data);
    return r;
}
