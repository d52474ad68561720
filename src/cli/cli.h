/* The commands of `moat` (cli/main.c dispatches to them): each reads its
 * arguments, prints its usage and messages, and returns an exit status of
 * core/exit.h. argv[0] is the command's own name ("serve", "get", "ca"). */
#ifndef MOAT_CLI_H
#define MOAT_CLI_H

/* What an option parser returns after printing the usage for --help:
 * the command then ends with status 0. */
#define CLI_HELP (-1)

/* Prints prefix, fmt with arg, a newline and the usage text to stderr;
 * returns the usage exit status (2). */
int cli_usage_error(const char *prefix, const char *usage, const char *fmt, const char *arg);

/* `moat serve [DIR] ...`: MOAT_EXIT_OK after a clean stop, MOAT_EXIT_FAIL
 * on a runtime failure, MOAT_EXIT_USAGE on bad usage or unreadable files. */
int cli_serve_main(int argc, char **argv);

/* `moat get URL ...`: an exit status with curl's meanings (enum
 * moat_get_exit). */
int cli_get_main(int argc, char **argv);

/* `moat ca SUBCOMMAND ...`; argv[1] is the subcommand:
 *   init  [--ca-dir DIR] [--permit-dns NAME]... [--permit-ip CIDR]...
 *                                    make a new CA; refuses to replace one
 *   issue NAME... [--ca-dir DIR] [--days N] [--rsa] [--client]
 *         [--cert-file F] [--key-file F]
 *         [--not-before YYYY-MM-DD] [--not-after YYYY-MM-DD]
 *                                    issue a leaf into the current directory
 *   path  [--ca-dir DIR]             print the CA directory
 *   revoke FILE|SERIAL [--reason R]  record a certificate as revoked
 *   crl   [--out FILE] [--days N] [--der]   sign a CRL (stdout by default)
 *   list                             the certificates issued, and their state
 *   trust | untrust [--nss-db DIR]... [--system-only] [--nss-only]
 *                                    install the root in trust stores, or remove it
 * Messages go to stdout (results) and stderr (errors). Returns enum
 * moat_ca_exit: OK, FAIL (files, crypto, a trust store), USAGE (bad usage
 * or refused: a bad name, a missing, damaged or mismatched CA). */
int cli_ca_main(int argc, char **argv);

/* `moat cert obtain|renew|revoke ...` (cli/cert.c); argv[0] is "cert". */
int cli_cert_main(int argc, char **argv);

#endif
