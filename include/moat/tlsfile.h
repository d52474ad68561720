/* A TLS configuration from files: the setters of <moat/tls.h> that take
 * PEM text, given file names instead, and the system trust store read
 * from where libcrypto says it is. The engine itself opens no file; these
 * read each file whole (at most 16 MiB) and hand its bytes in. */
#ifndef MOAT_TLSFILE_H
#define MOAT_TLSFILE_H

#include <stddef.h>

#include "moat/tls.h"

#pragma GCC visibility push(default)

/* moat_tls_config_add_cert_pem with the contents of two PEM files (one
 * file may hold both). Returns 0, or MOAT_ERR_FILE (MOAT_ERR_ARG past the
 * number of certificates) with err naming the file and the problem. */
int moat_tls_config_add_cert_file(moat_tls_config *cfg, const char *cert_file, const char *key_file,
                                  char *err, size_t errlen);

/* Client trust: moat_tls_config_set_ca_pem with the certificates of a PEM
 * file. Returns 0 or MOAT_ERR_FILE with err filled. */
int moat_tls_config_set_ca_file(moat_tls_config *cfg, const char *path, char *err, size_t errlen);

/* Client trust: the system trust store, read now: the PEM file named by
 * SSL_CERT_FILE, else libcrypto's default (/usr/lib/ssl/cert.pem on
 * Debian), and the files named by subject hash (HASH.N, HASH.rN) in the
 * directories of SSL_CERT_DIR (':'-separated), else libcrypto's default
 * (/usr/lib/ssl/certs), at most 10,000 files of 1 MiB each. A file or
 * directory that is missing or unreadable is passed over, as libcrypto
 * does. Then moat_tls_config_set_system_trust_pem. Returns 0 or a
 * negative error with err filled. */
int moat_tls_config_set_system_trust(moat_tls_config *cfg, char *err, size_t errlen);

/* Client: moat_tls_config_add_crl with the CRLs of a file (PEM or DER).
 * Call it after moat_tls_config_set_ca_file, if any; with no trust store
 * yet, the system store is loaded first. */
int moat_tls_config_add_crl_file(moat_tls_config *cfg, const char *path, char *err, size_t errlen);

/* Server: moat_tls_config_set_client_ca_pem with the CAs of a PEM file. */
int moat_tls_config_set_client_ca_file(moat_tls_config *cfg, const char *path, char *err,
                                       size_t errlen);

#pragma GCC visibility pop

#endif
