/* ca/: moat's local certificate authority, in the manner of mkcert: one
 * root per user, kept in a directory of its own, issuing leaf certificates
 * for development names (`moat ca ...`, and `moat serve` without --cert). */
#ifndef MOAT_CA_H
#define MOAT_CA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/exit.h"
#include "crypto/x509gen.h"

/* File names inside the CA directory. */
#define MOAT_CA_CERT_FILE "rootCA.pem"
#define MOAT_CA_KEY_FILE "rootCA-key.pem"
#define MOAT_CA_SERVE_DIR "serve"               /* certificates for `moat serve` */
#define MOAT_CA_ISSUED_DIR "issued"             /* a copy of each issued leaf, by serial */
#define MOAT_CA_LOCK_FILE ".lock"               /* flock()ed while the CA changes */
#define MOAT_CA_REVOKED_FILE "revoked.txt"      /* "SERIAL UNIX-TIME REASON" lines */
#define MOAT_CA_CRLNUMBER_FILE "crlnumber"      /* the last CRL number, decimal */
#define MOAT_CA_CRL_FILE "crl.pem"              /* a copy of the last CRL made */
#define MOAT_CA_NEW_CERT_FILE ".rootCA.pem.new" /* a root being made, before its rename */
#define MOAT_CA_NEW_KEY_FILE ".rootCA-key.pem.new"

#define MOAT_CA_ROOT_YEARS 10      /* validity of a new root */
#define MOAT_CA_ROOT_DAYS 3652     /* the same, when the calendar fails */
#define MOAT_CA_LEAF_DAYS 90       /* default validity of a leaf (and serve's localhost) */
#define MOAT_CA_APPLE_MAX_DAYS 825 /* the longest Apple platforms accept */
#define MOAT_CA_RENEW_DAYS 30      /* serve renews when fewer remain */
#define MOAT_CA_CRL_DAYS 30        /* default nextUpdate of a CRL, from now */

/* Keys and certificates as files (pem.c): crypto/ takes and gives PEM
 * text, these read it whole (at most 16 MiB) and write it atomically.
 * The reader takes the first certificate or key of the file; a key with a
 * passphrase is refused. ca_write_key writes mode 0600 and wipes its copy
 * of the key; ca_write_certs writes n certificates one after the other. 0
 * or a negative moat error with err filled ("cannot open PATH: ..."). */
int ca_read_cert(const char *path, moat_cert **out, char *err, size_t errlen);
int ca_read_key(const char *path, moat_pkey **out, char *err, size_t errlen);
int ca_write_key(const moat_pkey *k, const char *path, char *err, size_t errlen);
int ca_write_certs(const moat_cert *const *certs, size_t n, const char *path, mode_t mode,
                   char *err, size_t errlen);

/* For `moat serve` without --cert: the certificate and key for localhost
 * (DNS:localhost, IP:127.0.0.1, IP:::1), issued by the user's CA and kept
 * in <CA dir>/serve/localhost{,-key}.pem. Makes the CA on first use (and
 * says so in one line on stderr, with the path of rootCA.pem); reuses the
 * stored certificate while it is valid for 30 days more, matches its key
 * and was signed by the current CA, and issues a new one otherwise.
 * Returns 0 with both paths filled, or a negative moat error with err
 * filled. */
int ca_localhost_cert(char *cert_path, size_t cplen, char *key_path, size_t kplen, char *err,
                      size_t errlen);

/* ---- the pieces, for the commands that come next (revoke, crl, trust) */

/* The CA directory: dir_flag when not NULL, else $MOAT_CA_HOME, else
 * $XDG_DATA_HOME/moat/ca, else ~/.local/share/moat/ca. Does not create it. */
int ca_store_dir(const char *dir_flag, char *out, size_t outlen, char *err, size_t errlen);

/* An open CA: its directory, root certificate and key, and the lock. */
struct moat_ca {
    char dir[4096];
    moat_cert *cert;
    moat_pkey *key;
    int lock_fd;
};

/* Takes the CA lock and loads the CA. With create set, creates dir (mode
 * 0700, parents too) and makes a new CA when there is none, and sets
 * *created (may be NULL). With create clear, a missing CA is MOAT_ERR_FILE
 * and nothing is created. A half-present CA (one of the two files), a
 * root that does not parse or is no CA, and a key that is not the root's
 * are MOAT_ERR_FILE too, with a message naming the file. Release with
 * ca_store_close. */
int ca_store_open(const char *dir, int create, int *created, struct moat_ca *ca, char *err,
                  size_t errlen);
void ca_store_close(struct moat_ca *ca);

/* `moat ca issue` (issue.c): what to make. names are checked
 * (ca_check_name) and lower-cased by the caller; host says one of
 * them is a host name or an IP address (a server certificate). */
struct ca_issue_req {
    const char *const *names;
    size_t n_names;
    int64_t not_before, not_after;
    int client, rsa, host;
    const char *cert_path, *key_path; /* where the leaf and its key go */
};
/* Checks that the CA may certify every name for that long, makes the key
 * and the leaf, has the verifier look at the leaf (never written when
 * clients would refuse it), then writes the key (0600), the certificate
 * and the record in the CA directory, taking the first two back when a
 * later one fails. Returns a MOAT_CA_EXIT_* status: OK with the serial
 * (lower-case hex) in serial, USAGE for what the CA may not certify,
 * FAIL for the rest; err says why, for "moat ca issue: ". */
int ca_issue(const struct moat_ca *ca, const struct ca_issue_req *q, char *serial,
             size_t serial_len, char *err, size_t errlen);
/* The first of ca_issue's checks alone (the paths of q are not looked
 * at): the CA may certify every name, for that long. MOAT_CA_EXIT_OK, or
 * MOAT_CA_EXIT_USAGE with err filled. */
int ca_issue_fits(const struct moat_ca *ca, const struct ca_issue_req *q, char *err, size_t errlen);

/* What a root says, for `moat ca init`'s report. */
struct ca_root_info {
    char subject[512];
    int64_t not_after;
    char constraints[512]; /* "" when it has none */
};
void ca_describe(const struct moat_ca *ca, struct ca_root_info *out);
/* 1 when cidr is an address range --permit-ip takes (crypto_cidr_parse). */
int ca_range_ok(const char *cidr);

/* `moat ca init`: creates dir as ca_store_open does, takes the lock, makes
 * a new CA with these name constraints (none when both n are 0) and
 * leaves it open in ca. MOAT_ERR_STATE when a CA (or half of one) is
 * there already; MOAT_ERR_ARG for a constraint that does not parse. */
int ca_init(const char *dir, const char *const *permit_dns, size_t n_dns,
            const char *const *permit_ip, size_t n_ip, struct moat_ca *ca, char *err,
            size_t errlen);

/* mkdir -p dir, with mode 0700 for every directory it makes. Returns 0,
 * or MOAT_ERR_ARG/MOAT_ERR_IO with a message in err. */
int ca_make_dirs(const char *dir, char *err, size_t errlen);

/* Makes a new CA in dir (which exists and is locked by the caller);
 * MOAT_ERR_STATE if one is already there. permit_dns/permit_ip (may be
 * NULL with n 0) become the root's name constraints. */
int ca_create(const char *dir, const char *const *permit_dns, size_t n_dns,
              const char *const *permit_ip, size_t n_ip, char *err, size_t errlen);

/* Tests only: 1 makes the next ca_create stop after writing its
 * temporary files, as a crash would (it returns MOAT_ERR_IO and leaves
 * them); 0 turns that off. */
void ca_test_fault(int where);

/* Keeps a copy of leaf in <dir>/issued/<serial>.pem (atomically), the
 * record `list` and `revoke SERIAL` read. */
int ca_record_issued(const struct moat_ca *ca, const moat_cert *leaf, char *err, size_t errlen);

/* ---- revocation (revoke.c); the CA must be open (and so locked) */

struct moat_ca_revoked {
    char serial[48]; /* lower-case hex, as crypto_cert_serial_hex writes it */
    int64_t when;    /* seconds since the epoch */
    int reason;      /* MOAT_CRL_REASON_* */
};

/* RFC 5280 reason names ("keyCompromise"...) to MOAT_CRL_REASON_* codes,
 * case-insensitively; -1 for an unknown name. And back. */
int ca_reason_code(const char *name);
const char *ca_reason_name(int code);

/* A serial number as the user typed it ("0A:1B..", "0x0a1b", "a1b") into
 * the form of crypto_cert_serial_hex (lower case, an even number of digits,
 * no leading zero byte). MOAT_ERR_ARG when it is not hex. */
int ca_normalize_serial(const char *in, char *out, size_t outlen);

/* The revocation record: *out (malloc'd, freed by the caller) and *n. A
 * missing file is an empty record; a damaged one MOAT_ERR_FILE. */
int ca_read_revoked(const struct moat_ca *ca, struct moat_ca_revoked **out, size_t *n, char *err,
                    size_t errlen);

/* 1 when serial is in the revocation record (a damaged record counts as
 * revoked, so nothing is reused on its word), else 0. */
int ca_is_revoked(const struct moat_ca *ca, const char *serial);

/* Adds serial to the record (rewritten atomically). Returns 0, 1 when it
 * was revoked already (the record is unchanged and *prev, if not NULL,
 * says when), or a negative error. */
int ca_revoke(const struct moat_ca *ca, const char *serial, int reason, int64_t when,
              struct moat_ca_revoked *prev, char *err, size_t errlen);

/* Signs a CRL of every revoked serial, valid from now for days days, with
 * the next CRL number (kept in <dir>/crlnumber, and a copy of the CRL in
 * <dir>/crl.pem). *out is malloc'd (PEM, or DER with der set). */
int ca_make_crl(const struct moat_ca *ca, long days, int der, unsigned char **out, size_t *outlen,
                uint64_t *number, char *err, size_t errlen);

/* The subcommands behind `moat ca` (cli/ca.c), given the CA directory; each
 * returns an exit code and prints its own messages. */
int ca_cmd_revoke(const char *dir, const char *what, const char *reason);
int ca_cmd_crl(const char *dir, const char *out_file, long days, int der);
int ca_cmd_list(const char *dir);

/* ---- trust stores (trust.c) */

struct moat_ca_trust_opts {
    int remove;                 /* untrust */
    int system, nss;            /* which kinds of store */
    const char *const *nss_dbs; /* explicit NSS databases (no discovery) */
    size_t n_nss_dbs;
};
int ca_cmd_trust(const char *dir, const struct moat_ca_trust_opts *o);

/* Name checks for `issue`. Returns MOAT_CA_NAME_DNS, MOAT_CA_NAME_IP,
 * MOAT_CA_NAME_EMAIL, MOAT_CA_NAME_URI, or -1 with a reason in why. A DNS
 * name is LDH labels of 1..63 bytes, at most 253 bytes in all, optionally
 * starting with "*." (then at least one more label), and its last label
 * is not all digits. An email address (it has '@') is a dot-atom local
 * part without '=', '@', and a DNS name without wildcard. A URI (it has
 * "://") is scheme://host..., at most 1024 bytes of what RFC 3986 allows.
 * Email addresses and URIs name clients, and only client certificates
 * carry them (the caller's rule). */
enum { MOAT_CA_NAME_DNS = 1, MOAT_CA_NAME_IP = 2, MOAT_CA_NAME_EMAIL = 3, MOAT_CA_NAME_URI = 4 };
int ca_check_name(const char *name, char *why, size_t whylen);

/* The subject CN for a leaf with these names (each accepted by
 * ca_check_name): the first email address or URI (the client it
 * names, as mkcert does), else the first DNS name, else NULL (no CN).
 * OpenSSL does not read an email address or URI as a DNS name. Never an IP
 * address: OpenSSL reads a CN such as "127.0.0.1" as a DNS name and, when
 * the leaf has no DNS SAN, holds it to the root's DNS name constraints, so
 * an IP-only leaf under a --permit-dns root would fail verification. */
const char *ca_common_name(const char *const *names, size_t n);

/* "user@host" for the OU of the certificates we make. */
void ca_user_at_host(char *out, size_t len);

/* The clock used for validity and renewal: seconds since the epoch.
 * Tests set their own; NULL restores time(). */
void ca_set_clock(int64_t (*now)(void));
int64_t ca_now(void);

/* printf into err (when err and errlen are set): the one error writer of
 * the ca/ files. */
__attribute__((format(printf, 3, 4))) void ca_seterr(char *err, size_t errlen, const char *fmt,
                                                     ...);

#endif
