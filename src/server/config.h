/* moat serve: its settings, from flags and from --config files. The
 * parser takes bytes (a file is read whole first), so the config fuzzer
 * (fuzz/fuzz_config.c) drives the same code as `moat serve --config`. */
#ifndef MOAT_SERVER_CONFIG_H
#define MOAT_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "http/proxyproto.h"
#include "server/server.h"

#define MOAT_SERVE_MAX_WORKERS 256
#define MOAT_SERVE_CONFIG_MAX (1 << 20) /* bytes of one config file */

/* Every setting, as given; a flag --name VALUE and a config line
 * `name VALUE` set the same field. */
struct moat_serve_opts {
    const char *dir;
    const char *listen;
    const char *certs[MOAT_SERVE_MAX_CERTS];
    const char *keys[MOAT_SERVE_MAX_CERTS];
    const char *staples[MOAT_SERVE_MAX_CERTS];
    int ncerts, nkeys, nstaples;
    const char *ciphers, *groups;
    const char *tls_min; /* "1.2" or "1.3": the oldest TLS version spoken */
    const char *ticket_keys;
    const char *client_ca, *client_auth;
    const char *redirect_http;
    const char *access_log, *error_log, *pid_file, *user;
    const char *metrics;           /* --metrics [ADDR:]PORT: where /metrics is served */
    const char *access_log_format; /* --access-log-format combined|json */
    long workers, max_conns, hsts;
    long handshake_timeout, header_timeout, idle_timeout, stop_timeout;
    long max_header, max_body;
    int http2; /* --http2 on|off: ALPN offers h2 first */
    long h2_max_streams, h2_stream_window, h2_conn_window, h2_max_resets;
    long ticket_lifetime;
    int list_dirs;
    int serve_dotfiles; /* --serve-dotfiles: paths with a segment starting with '.' */
    int psk_ke;         /* --psk-ke: resume without ECDHE when the client allows it */
    int config_depth;
    int no_include; /* a `config FILE` line is refused (the fuzzer reads no files) */
    char **kept;    /* copies of config strings, freed by server_opts_free */
    size_t nkept;
    /* --proxy-protocol: the listeners that read a PROXY header first
     * (SERVER_PP_HTTPS, SERVER_PP_REDIRECT), and the peers allowed to
     * send one (--proxy-protocol-from) */
    int proxy_protocol;
    struct pp_allow pp_from;
    /* --proxy routes and their options (proxy.c) */
    struct moat_proxy_set *proxy;
    /* --acme: certificates from an ACME CA (server/acme.c answers the
     * challenges in the workers; acme/serve.c orders and renews) */
    const char *acme_url; /* the CA's directory; NULL: no --acme */
    const char *domains[MOAT_SERVE_MAX_DOMAINS];
    int ndomains;
    const char *acme_email, *acme_ca_root, *acme_dir, *acme_challenge, *acme_key_type;
    const char *acme_renew_before; /* days, checked by cli/serve.c */
    int acme_agree_tos;
    /* Set by cli/serve.c: the ordering process's work (acme_serve_run),
     * run by the master in a child of its own. */
    int (*acme_run)(const struct moat_serve_opts *o);
};

/* Let's Encrypt's production directory: --acme without a URL. */
#define MOAT_ACME_DEFAULT_URL "https://acme-v02.api.letsencrypt.org/directory"

/* Sets the defaults (every pointer NULL). */
void server_opts_init(struct moat_serve_opts *o);

/* Frees the strings config files left in o. */
void server_opts_free(struct moat_serve_opts *o);

/* Applies one setting. where is NULL for a flag (v then stays the
 * caller's), "FILE:LINE" for a config line (v is copied). v is NULL for a
 * switch given without a value. Returns 0, or MOAT_EXIT_USAGE with a
 * message (starting with where) in err. */
int server_config_set(struct moat_serve_opts *o, const char *name, const char *v, const char *where,
                      char *err, size_t errlen);

/* Parses a config file's bytes buf[0..len) (not NUL-terminated; fname is
 * for messages): one setting per line, `name value` (the flag without its
 * dashes), `#` starts a comment. Returns 0, or MOAT_EXIT_USAGE with
 * "FNAME:LINE: what is wrong" in err. */
int server_config_parse(struct moat_serve_opts *o, const char *buf, size_t len, const char *fname,
                        char *err, size_t errlen);

/* Serves with the settings of o (checked by the caller; see cli/serve.c)
 * until told to stop: the TLS configuration, the listeners, the master
 * and its workers. usage is printed after a mistake found in o here (a
 * cipher name, a listen address), as after one in a flag. Returns the
 * exit status: MOAT_EXIT_OK after a clean stop, MOAT_EXIT_FAIL on a
 * runtime failure, MOAT_EXIT_USAGE on bad settings or unreadable files. */
int serve_run(const struct moat_serve_opts *o, const char *usage);

/* Reads path (at most MOAT_SERVE_CONFIG_MAX bytes) and parses it. Returns
 * 0, or MOAT_EXIT_USAGE with a message in err. */
int server_config_load(struct moat_serve_opts *o, const char *path, char *err, size_t errlen);

#endif
