/* The CA's keys and certificates as files: read whole and written
 * atomically here (core/file.h), turned into keys and certificates by
 * crypto/, which takes and gives PEM text only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "core/file.h"
#include "moat/buf.h"
#include "moat/error.h"

/* No certificate or key file of ours comes near this; a larger one is
 * not one (16 MiB, as the TLS configuration's cap). */
#define PEM_FILE_MAX (16u << 20)

static char *read_pem(const char *path, size_t *len, char *err, size_t errlen)
{
    char *p = (char *)core_read_file(path, PEM_FILE_MAX, len);
    if (!p && err && errlen) snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return p;
}

int ca_read_cert(const char *path, moat_cert **out, char *err, size_t errlen)
{
    size_t len = 0;
    *out = NULL;
    char *p = read_pem(path, &len, err, errlen);
    if (!p) return MOAT_ERR_FILE;
    int r = crypto_cert_from_pem(p, len, path, out, err, errlen);
    free(p);
    return r;
}

int ca_read_key(const char *path, moat_pkey **out, char *err, size_t errlen)
{
    size_t len = 0;
    *out = NULL;
    char *p = read_pem(path, &len, err, errlen);
    if (!p) return MOAT_ERR_FILE;
    int r = crypto_pkey_from_pem(p, len, path, out, err, errlen);
    moat_wipe(p, len);
    free(p);
    return r;
}

int ca_write_key(const moat_pkey *k, const char *path, char *err, size_t errlen)
{
    char *pem = NULL;
    size_t len = 0;
    int r = crypto_pkey_to_pem(k, &pem, &len, err, errlen);
    if (r == 0) r = core_write_file_atomic(path, pem, len, 0600, err, errlen);
    if (pem) moat_wipe(pem, len);
    free(pem);
    return r;
}

int ca_write_certs(const moat_cert *const *certs, size_t n, const char *path, mode_t mode,
                   char *err, size_t errlen)
{
    char *pem = NULL;
    size_t len = 0;
    int r = crypto_certs_to_pem(certs, n, &pem, &len, err, errlen);
    if (r == 0) r = core_write_file_atomic(path, pem, len, mode, err, errlen);
    free(pem);
    return r;
}
