/* moat's TLS 1.3 engine (RFC 8446), client and server, sans-I/O.
 *
 * The engine never touches a socket. The caller feeds it the bytes it read
 * (moat_tls_recv) and sends whatever the engine appended to the `out`
 * buffer. Decrypted application data is appended to the `app` buffer.
 *
 *   client: moat_tls_client_new -> moat_tls_start(out) -> send out
 *           loop: read -> moat_tls_recv(in, out, app) -> send out, use app
 *   server: moat_tls_server_new -> loop as above
 *
 * Every function returns 0 or a negative moat error (include/moat/error.h).
 * When moat_tls_recv fails with MOAT_ERR_ALERT(desc), the fatal alert has
 * already been appended to `out`: send it, then close the socket. After any
 * error the connection is dead and further calls return MOAT_ERR_STATE.
 *
 * Nor does it open a file: certificates, keys, CAs and CRLs come in as
 * bytes. <moat/tlsfile.h> has the same setters taking file names, and the
 * system trust store read from its usual places. */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "moat/buf.h"
#include "moat/error.h"

/* The public API: exported by libmoat.so, which hides everything else. */
#pragma GCC visibility push(default)

/* Cipher suites (RFC 8446 B.4). */
#define MOAT_TLS_AES_128_GCM_SHA256 0x1301
#define MOAT_TLS_AES_256_GCM_SHA384 0x1302
#define MOAT_TLS_CHACHA20_POLY1305_SHA256 0x1303

/* Named groups (RFC 8446 4.2.7). */
#define MOAT_GROUP_SECP256R1 0x0017
#define MOAT_GROUP_SECP384R1 0x0018
#define MOAT_GROUP_X25519 0x001d
/* The hybrid of ML-KEM-768 and X25519 (draft-ietf-tls-ecdhe-mlkem). */
#define MOAT_GROUP_X25519MLKEM768 0x11ec

/* Signature schemes (RFC 8446 4.2.3). */
#define MOAT_SIG_ECDSA_SECP256R1_SHA256 0x0403
#define MOAT_SIG_ECDSA_SECP384R1_SHA384 0x0503
#define MOAT_SIG_RSA_PSS_RSAE_SHA256 0x0804
#define MOAT_SIG_RSA_PSS_RSAE_SHA384 0x0805
#define MOAT_SIG_RSA_PSS_RSAE_SHA512 0x0806
#define MOAT_SIG_ED25519 0x0807

typedef struct moat_tls_config moat_tls_config;
typedef struct moat_tls moat_tls;

/* Returns the current time in seconds since the Unix epoch. Injected so
 * that certificate validity can be tested at any date. */
typedef int64_t (*moat_clock_fn)(void *arg);

/* ---- configuration (shared by many connections, read-only once in use) */

/* A new configuration with defaults: all three suites (AES-128-GCM first),
 * groups X25519MLKEM768, x25519, secp256r1, secp384r1, peer verification
 * on, no trust store yet (a verifying client needs one:
 * moat_tls_config_set_ca_pem or _set_system_trust_pem, or their file forms
 * in <moat/tlsfile.h>), the real clock. NULL when out of memory or libcrypto cannot
 * provide the algorithms. Free with moat_tls_config_free. */
moat_tls_config *moat_tls_config_new(void);
void moat_tls_config_free(moat_tls_config *cfg);

/* Adds a certificate chain (PEM text: leaf first, then intermediates) and
 * its private key (PEM). A server picks among them by SNI against each
 * leaf's SAN DNS names; the first one added is the default. Supported
 * keys: RSA 2048+, ECDSA P-256/P-384, Ed25519. On failure writes a message
 * naming the problem into err (if errlen > 0) and returns MOAT_ERR_FILE.
 * (moat_tls_config_add_cert_file reads the two files.) */
int moat_tls_config_add_cert_pem(moat_tls_config *cfg, const char *cert_pem, size_t cert_len,
                                 const char *key_pem, size_t key_len, char *err, size_t errlen);

/* Client trust: replaces the trust store with the certificates of PEM
 * text, every one of them an anchor (partial chains, as curl --cacert).
 * Returns 0 or MOAT_ERR_FILE with err filled. */
int moat_tls_config_set_ca_pem(moat_tls_config *cfg, const char *pem, size_t len, char *err,
                               size_t errlen);
/* Client trust: replaces the trust store with the system's, as PEM text
 * the caller read from the system bundle and hashed directory
 * (certificates and CRLs; moat_tls_config_set_system_trust in
 * <moat/tlsfile.h> reads them from where libcrypto says, SSL_CERT_FILE
 * and SSL_CERT_DIR first). Unlike _set_ca_pem's, these roots are held to
 * 112-bit security, as Chromium holds chains to public roots, and none
 * at all is allowed (every server is then refused). A verifying client
 * made from a configuration without any trust store is refused
 * (moat_tls_client_new returns NULL): the engine never loads one itself.
 * Returns 0, or a negative error with err filled. */
int moat_tls_config_set_system_trust_pem(moat_tls_config *cfg, const char *pem, size_t len,
                                         char *err, size_t errlen);

/* Client: adds CRLs (PEM, several allowed, or one DER) to the trust store
 * in use, which must be set first (else MOAT_ERR_STATE). From then on the
 * server's certificate is checked for revocation, and a certificate whose
 * issuer has no CRL here is refused (as curl --crlfile does). */
int moat_tls_config_add_crl(moat_tls_config *cfg, const char *data, size_t len, char *err,
                            size_t errlen);

/* Client: 1 (default) verifies the server's chain, name and dates;
 * 0 accepts any certificate (curl's -k). */
void moat_tls_config_set_verify(moat_tls_config *cfg, int on);

/* Clock used for certificate validity. NULL restores the real clock. */
void moat_tls_config_set_clock(moat_tls_config *cfg, moat_clock_fn fn, void *arg);

/* Cipher suites in preference order (the server picks its own first
 * preference among those the client offers). n <= 3. Returns MOAT_ERR_ARG
 * for an unknown suite. */
int moat_tls_config_set_ciphers(moat_tls_config *cfg, const uint16_t *suites, size_t n);

/* Groups in preference order. The client offers all of them in
 * supported_groups and sends a key share for the first, and when that is
 * X25519MLKEM768 and x25519 is listed too, one for x25519 as well (as
 * browsers do, so that a server without the hybrid needs no
 * HelloRetryRequest). The server accepts only these, uses the share the
 * client sent in the first of them it can, and answers with
 * HelloRetryRequest only when the client sent none it can use. n <= 4. */
int moat_tls_config_set_groups(moat_tls_config *cfg, const uint16_t *groups, size_t n);

/* Protocol versions, as on the wire. */
#define MOAT_TLS_VERSION_1_2 0x0303
#define MOAT_TLS_VERSION_1_3 0x0304
/* The range of versions spoken, min <= max, each MOAT_TLS_VERSION_1_2 or
 * _1_3; the default is 1.2 to 1.3. TLS 1.2 is its safe subset: ECDHE
 * with AES-GCM or ChaCha20-Poly1305, the extended master secret
 * required, no renegotiation. Returns 0 or MOAT_ERR_ARG. */
int moat_tls_config_set_versions(moat_tls_config *cfg, uint16_t min, uint16_t max);

/* ALPN protocols in preference order, e.g. {"http/1.1"}. Each 1..255 bytes.
 * The server selects the first of its own it finds in the client's list;
 * with no overlap it sends no_application_protocol. */
int moat_tls_config_set_alpn(moat_tls_config *cfg, const char *const *protos, size_t n);

/* The key log: fn gets one NSS key-log line (CLIENT_HANDSHAKE_TRAFFIC_SECRET
 * <client_random> <secret>, in hex, ending in '\n'; len bytes, also
 * NUL-terminated) for every secret of every connection made with this
 * configuration, from the thread driving that connection. The line holds a
 * secret: the engine wipes it when fn returns. The engine opens no file:
 * the caller writes where it likes (moat serve and moat get append to
 * SSLKEYLOGFILE). fn NULL turns it off. */
typedef void (*moat_tls_keylog_fn)(void *arg, const char *line, size_t len);
void moat_tls_config_set_keylog(moat_tls_config *cfg, moat_tls_keylog_fn fn, void *arg);

/* Server resumption (RFC 8446 4.6.1). Tickets are sealed with AES-256-GCM.
 * By default the keys derive from a random secret made with the
 * configuration and change every 12 hours; older periods' keys still open
 * tickets for as long as the ticket lifetime allows, so a ticket lives its
 * whole lifetime. Every worker forked from one configuration agrees; a
 * new configuration (a reload) has a new secret, and tickets of the old
 * one no longer open (a full handshake follows). set_ticket_keys
 * replaces that with keys from a file in nginx's ssl_session_ticket_key
 * format: 80-byte keys, the first seals, all open; len must be a multiple
 * of 80 (else MOAT_ERR_ARG). */
int moat_tls_config_set_ticket_keys(moat_tls_config *cfg, const uint8_t *keys, size_t len);
/* Server: gives dst the secret src's automatic ticket keys derive from,
 * so tickets issued under src still open under dst (for a reload that
 * builds a new configuration; without this a reload ends every ticket).
 * Keys from set_ticket_keys are not copied. NULL src does nothing. */
void moat_tls_config_inherit_tickets(moat_tls_config *dst, const moat_tls_config *src);
/* NewSessionTickets sent after each handshake (default 2, 0 turns
 * resumption off) and their lifetime in seconds (default 86400, at most
 * 604800; 0 keeps the current value). */
void moat_tls_config_set_tickets(moat_tls_config *cfg, int count, uint32_t lifetime);
/* Server: resume without a fresh key exchange (psk_ke) whenever the
 * client allows it, psk_dhe_ke otherwise. Off by default: psk_dhe_ke
 * keeps forward secrecy, while a psk_ke session is open to whoever later
 * learns the ticket key; psk_ke saves the two ECDHE operations. */
void moat_tls_config_set_psk_ke(moat_tls_config *cfg, int allow);

/* Server: client certificates (RFC 8446 4.3.2). Certificates are
 * verified against the client CAs for clientAuth. With REQUIRE a
 * client that sends none gets certificate_required. Tickets remember
 * whether a verified certificate came and which CAs verified it: a
 * ticket without one does not resume under REQUIRE, and one with an
 * identity resumes only while client certificates are asked for (OPTIONAL
 * or REQUIRE) with the same CAs; otherwise a full handshake. */
enum { MOAT_CLIENT_AUTH_NONE = 0, MOAT_CLIENT_AUTH_OPTIONAL = 1, MOAT_CLIENT_AUTH_REQUIRE = 2 };
/* The client CAs, as PEM text (their file: moat_tls_config_set_client_ca_file).
 * Returns 0 or MOAT_ERR_FILE with err filled. */
int moat_tls_config_set_client_ca_pem(moat_tls_config *cfg, const char *pem, size_t len, char *err,
                                      size_t errlen);
void moat_tls_config_set_client_auth(moat_tls_config *cfg, int mode);

/* Server: the DER OCSP response to staple for certificate number `index`
 * (in the order added); len 0 removes it. It is stapled only to clients
 * that ask and only until its nextUpdate. MOAT_ERR_FILE when der is not a
 * successful OCSP response. */
int moat_tls_config_set_ocsp_staple(moat_tls_config *cfg, size_t index, const uint8_t *der,
                                    size_t len);

/* Client: a certificate to present when a server asks for one is the
 * first one added with moat_tls_config_add_cert_pem (or _file). */

/* Names for the command line: "TLS_AES_128_GCM_SHA256" or
 * "aes128gcm"-style aliases; "x25519", "P-256"/"secp256r1", ... Return 0
 * when unknown. */
uint16_t moat_tls_cipher_from_name(const char *name);
uint16_t moat_tls_group_from_name(const char *name);
const char *moat_tls_cipher_name(uint16_t suite);
/* "TLSv1.3", "TLSv1.2" (as OpenSSL names them), or "unknown". */
const char *moat_tls_version_name(uint16_t version); /* "TLS_AES_128_GCM_SHA256" */
const char *moat_tls_group_name(uint16_t group);     /* "x25519" */
const char *moat_tls_sigscheme_name(uint16_t sig);   /* "ecdsa_secp256r1_sha256" */

/* ---- connections */

/* A client connection. server_name is a DNS name (sent as SNI and checked
 * against the certificate) or an IP address literal (checked against IP
 * SANs, not sent as SNI). One trailing dot is dropped (RFC 6066 3: SNI
 * has none), and a SAN written with one (good.test.) matches too. The
 * config must outlive the connection. */
moat_tls *moat_tls_client_new(const moat_tls_config *cfg, const char *server_name);
moat_tls *moat_tls_server_new(const moat_tls_config *cfg);
/* Wipes every secret and frees. NULL is allowed. */
void moat_tls_free(moat_tls *t);

/* Client, before moat_tls_start: offers a session saved earlier with
 * moat_tls_get_session. Resuming skips the certificate check, so a
 * session remembers how the server was judged (verification on or off,
 * and the trust: the CA set and CRLs given, or the system store) and is
 * offered only by a configuration that judges the same way: one saved
 * with verification off is never offered with it on. A session judged
 * otherwise, for another server name, expired, saved before sessions
 * carried that binding, or with no suite of its hash offered is not
 * offered: 0 is returned and a full handshake follows. MOAT_ERR_ARG when
 * data is malformed. */
int moat_tls_set_session(moat_tls *t, const uint8_t *data, size_t len);
/* Client: appends the latest session (from the server's tickets) in a
 * form moat_tls_set_session takes, bound to this connection's
 * verification and trust. It holds a secret: store it 0600.
 * MOAT_ERR_STATE when no ticket has arrived. */
int moat_tls_get_session(const moat_tls *t, moat_buf *out);

/* Client: appends the ClientHello to out. Server: does nothing. */
int moat_tls_start(moat_tls *t, moat_buf *out);

/* Feeds received bytes (any amount, any split). Records to send (handshake
 * replies, KeyUpdate answers, alerts) are appended to out; application
 * data to app. Partial records are kept inside the engine. */
int moat_tls_recv(moat_tls *t, const uint8_t *in, size_t len, moat_buf *out, moat_buf *app);

/* Encrypts application data into records appended to out. Only after the
 * handshake is done. */
int moat_tls_send(moat_tls *t, moat_buf *out, const void *data, size_t len);

/* Sending without a copy: the caller writes application data straight
 * into the records being built at the end of out (from a file with
 * preadv, say), and the engine seals them where they lie.
 *
 * moat_tls_send_space reserves room at the end of out for up to len bytes
 * in at most max records (16 KiB of data each) and points iov[0..k) at
 * their data areas, in order; it returns k (>= 1) or a negative error.
 * The caller fills those areas in order (each whole before the next:
 * exactly what preadv or readv does), then calls moat_tls_send_seal with
 * the number of bytes it wrote (0 to give up; at most the sum of the
 * areas). Records are then complete in out, as moat_tls_send would have
 * made them. Between the two calls nothing may use out or t. Records
 * may precede the reserved room (a KeyUpdate due under 5.5), so iov is
 * all the caller may assume about where the data goes. Only after the
 * handshake; len and max at least 1 (else MOAT_ERR_ARG). */
int moat_tls_send_space(moat_tls *t, moat_buf *out, size_t len, struct iovec *iov, size_t max);
int moat_tls_send_seal(moat_tls *t, moat_buf *out, size_t len);

/* Appends a close_notify alert. */
int moat_tls_close(moat_tls *t, moat_buf *out);

/* Sends a KeyUpdate (RFC 8446 4.6.3) and switches the sending keys;
 * request_peer asks the peer to update its own. MOAT_ERR_STATE on a TLS
 * 1.2 connection, which has no KeyUpdate. */
int moat_tls_key_update(moat_tls *t, moat_buf *out, int request_peer);

/* RFC 8446 7.5 exporter; MOAT_ERR_STATE on a TLS 1.2 connection. */
int moat_tls_export(moat_tls *t, const char *label, const uint8_t *ctx, size_t ctxlen, uint8_t *out,
                    size_t outlen);

/* ---- watching a connection (for -v and --explain)
 *
 * An observer sees what the engine does, as it happens: every handshake
 * message (its plaintext bytes, type in info), every record (header and
 * plaintext length: data is the 5-byte header, info the inner content
 * type), each change of keys (data is a label such as "handshake", info 1
 * for our sending side, 0 for receiving), each certificate the peer
 * sent (DER, info its position in the chain) and the OCSP response
 * stapled to its leaf (DER, RFC 8446 4.4.2.1; info 0), as the engine's
 * reader found them: the observer never parses TLS bytes itself. No
 * secret is ever passed. */
enum {
    MOAT_EV_HS_SENT = 1,
    MOAT_EV_HS_RECEIVED,
    MOAT_EV_RECORD_SENT,
    MOAT_EV_RECORD_RECEIVED,
    MOAT_EV_KEYS,
    MOAT_EV_PEER_CERT,
    MOAT_EV_PEER_STAPLE,
};
typedef void (*moat_tls_observer)(void *arg, int event, const uint8_t *data, size_t len, int info);
void moat_tls_set_observer(moat_tls *t, moat_tls_observer fn, void *arg);

/* ---- state and what was negotiated */
int moat_tls_handshake_done(const moat_tls *t);

/* Tells the engine its connection is idle: the cipher contexts of both
 * directions (about 1.2 KB each with OpenSSL's AES-GCM) are freed, wiped;
 * the traffic secrets, IVs and sequence numbers stay. The next
 * moat_tls_recv, moat_tls_send, moat_tls_close or moat_tls_key_update
 * derives the keys again (two HKDF-Expand-Label and two context
 * creations), so call it only after a pause, not between requests. Does
 * nothing before the handshake ends or while a record or handshake
 * message is partly received. Returns 1 when it freed something, else 0. */
int moat_tls_park(moat_tls *t);
int moat_tls_peer_closed(const moat_tls *t); /* close_notify received */
int moat_tls_is_server(const moat_tls *t);
uint16_t moat_tls_get_cipher(const moat_tls *t);
/* The negotiated version (MOAT_TLS_VERSION_1_2 or _1_3); 0 before it is known. */
uint16_t moat_tls_get_version(const moat_tls *t);
uint16_t moat_tls_get_group(const moat_tls *t);
uint16_t moat_tls_get_sigscheme(const moat_tls *t);
int moat_tls_did_hrr(const moat_tls *t); /* a HelloRetryRequest happened */
int moat_tls_resumed(const moat_tls *t); /* the handshake used a ticket */
/* Server: who the verified client certificate names: its email address
 * or URI SAN, else its subject (RFC 2253); also after resumption; NULL
 * when the client sent none. */
const char *moat_tls_get_peer_identity(const moat_tls *t);
/* Server: certificate i (DER, *len bytes) of the verified client chain
 * as the client sent it: 0 its own, then the intermediates. NULL past the
 * last, without a verified certificate, and after resumption (a ticket
 * keeps the subject, not the certificates). Lives as long as t. */
const uint8_t *moat_tls_get_peer_cert(const moat_tls *t, size_t i, size_t *len);
/* Client: 1 when the server stapled an OCSP response that was checked and
 * counted (it said good or unknown; revoked refuses the server). */
int moat_tls_ocsp_stapled(const moat_tls *t);
/* Client: when the server stapled an OCSP response that was ignored as
 * unusable (another certificate's, a bad signature, stale), why, in words
 * ("it is about another certificate"); NULL otherwise. */
const char *moat_tls_ocsp_ignored(const moat_tls *t);
const char *moat_tls_get_alpn(const moat_tls *t); /* NULL when none */
const char *moat_tls_get_sni(const moat_tls *t);  /* server: name the client sent */
/* Client: when the server's certificate was refused, a sentence in plain
 * words ("its certificate expired on 2026-01-01") and the browser's code
 * for it ("NET::ERR_CERT_DATE_INVALID"); NULL otherwise. */
/* Why the handshake was refused when an alert alone does not say it
 * (TLS 1.2: the peer lacks the extended master secret, no suite in
 * common), in words; NULL otherwise. */
const char *moat_tls_refusal(const moat_tls *t);
const char *moat_tls_verify_error(const moat_tls *t);
const char *moat_tls_verify_code(const moat_tls *t);

#pragma GCC visibility pop

#endif
