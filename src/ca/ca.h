/* ca/: moat's local certificate authority, in the manner of mkcert: one
 * root per user, kept in a directory of its own, issuing leaf certificates
 * for development names (`moat ca ...`, and `moat serve` without --cert). */
#ifndef MOAT_CA_H
#define MOAT_CA_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/x509gen.h"

/* File names inside the CA directory. */
#define MOAT_CA_CERT_FILE "rootCA.pem"
#define MOAT_CA_KEY_FILE "rootCA-key.pem"
#define MOAT_CA_SERVE_DIR "serve"   /* certificates for `moat serve` */
#define MOAT_CA_ISSUED_DIR "issued" /* a copy of each issued leaf, by serial */
#define MOAT_CA_LOCK_FILE ".lock"   /* flock()ed while the CA changes */

#define MOAT_CA_ROOT_YEARS 10  /* validity of a new root */
#define MOAT_CA_ROOT_DAYS 3652 /* the same, when the calendar fails */
#define MOAT_CA_LEAF_DAYS 825  /* the longest Apple platforms accept */
#define MOAT_CA_RENEW_DAYS 30  /* serve renews when fewer remain */

/* Exit codes of moat_ca_main. */
enum { MOAT_CA_EXIT_OK = 0, MOAT_CA_EXIT_FAIL = 1, MOAT_CA_EXIT_USAGE = 2 };

/* `moat ca SUBCOMMAND ...`. argv[0] is "ca" (the word after `moat`),
 * argv[1] the subcommand:
 *   init  [--ca-dir DIR]             make a new CA; refuses to replace one
 *   issue NAME... [--ca-dir DIR] [--days N] [--rsa] [--client]
 *         [--cert-file F] [--key-file F]
 *         [--not-before YYYY-MM-DD] [--not-after YYYY-MM-DD]
 *                                    issue a leaf into the current directory
 *   path  [--ca-dir DIR]             print the CA directory
 * Messages go to stdout (results) and stderr (errors). Returns an exit
 * code: 0 success, 1 failure (files, crypto), 2 bad usage or refused. */
int moat_ca_main(int argc, char **argv);

/* For `moat serve` without --cert: the certificate and key for localhost
 * (DNS:localhost, IP:127.0.0.1, IP:::1), issued by the user's CA and kept
 * in <CA dir>/serve/localhost{,-key}.pem. Makes the CA on first use (and
 * says so in one line on stderr, with the path of rootCA.pem); reuses the
 * stored certificate while it is valid for 30 days more, matches its key
 * and was signed by the current CA, and issues a new one otherwise.
 * Returns 0 with both paths filled, or a negative moat error with err
 * filled. */
int moat_ca_localhost_cert(char *cert_path, size_t cplen, char *key_path, size_t kplen, char *err,
                           size_t errlen);

/* ---- the pieces, for the commands that come next (revoke, crl, trust) */

/* The CA directory: dir_flag when not NULL, else $MOAT_CA_HOME, else
 * $XDG_DATA_HOME/moat/ca, else ~/.local/share/moat/ca. Does not create it. */
int moat_ca_dir(const char *dir_flag, char *out, size_t outlen, char *err, size_t errlen);

/* An open CA: its directory, root certificate and key, and the lock. */
struct moat_ca {
    char dir[4096];
    moat_cert *cert;
    moat_pkey *key;
    int lock_fd;
};

/* Creates dir (mode 0700, parents too), takes the CA lock and loads the
 * CA. With create set, makes a new CA when there is none and sets
 * *created (may be NULL). With create clear, a missing CA is
 * MOAT_ERR_FILE. A half-present CA (one of the two files) is always an
 * error. Release with moat_ca_close. */
int moat_ca_open(const char *dir, int create, int *created, struct moat_ca *ca, char *err,
                 size_t errlen);
void moat_ca_close(struct moat_ca *ca);

/* Makes a new CA in dir (which exists and is locked by the caller);
 * MOAT_ERR_STATE if one is already there. */
int moat_ca_create(const char *dir, char *err, size_t errlen);

/* Name checks for `issue`. Returns MOAT_CA_NAME_DNS, MOAT_CA_NAME_IP, or
 * -1 with a reason in why. A DNS name is LDH labels of 1..63 bytes, at
 * most 253 bytes in all, optionally starting with "*." (then at least one
 * more label), and its last label is not all digits. */
enum { MOAT_CA_NAME_DNS = 1, MOAT_CA_NAME_IP = 2 };
int moat_ca_check_name(const char *name, char *why, size_t whylen);

/* "user@host" for the OU of the certificates we make. */
void moat_ca_user_at_host(char *out, size_t len);

/* The clock used for validity and renewal: seconds since the epoch.
 * Tests set their own; NULL restores time(). */
void moat_ca_set_clock(int64_t (*now)(void));
int64_t moat_ca_now(void);

#endif
