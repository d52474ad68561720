/* The TLS engine's internal state and who offers what to whom. Calls go
 * one way, down this list: tls.c (the connection) -> client.c, server.c
 * (the two handshakes) -> ticket.c, cert.c -> handshake.c (shared steps)
 * -> record.c (records, keys, alerts) -> keysched.c, codec.c. */
#ifndef MOAT_TLS_INTERNAL_H
#define MOAT_TLS_INTERNAL_H

#include "crypto/crypto.h"
#include "moat/tls.h"
#include "tls/codec.h"
#include "tls/keysched.h"

/* Certificates a server configuration holds (each SNI name a hash lookup,
 * certindex.c); ten thousand virtual hosts fit with room to spare. */
#define MAX_CREDS 65536
/* Certificates whose names may match one SNI name that a handshake
 * considers through the index; more (many certificates for one name),
 * and it tries them all in order. */
#define TLS_NAME_CAND_MAX 32
#define MAX_PEER_CERTS 10
#define MAX_HS_MSG (1 << 17)     /* cap on one handshake message */
#define MAX_EARLY_SKIP (1 << 20) /* cap on undecryptable 0-RTT bytes skipped */
/* 5: unprotected change_cipher_spec records dropped in one handshake. A
 * middlebox-compatible peer sends one (two across a HelloRetryRequest);
 * more than this is a peer making us do empty work. */
#define MAX_CCS 16
/* 4.6.3: KeyUpdates a peer may send with no application data between
 * them. A peer rekeys after ~2^24 records (5.5) or when asked to, so even
 * a burst of deliberate updates stays far below this; each one costs us
 * an HKDF and an AEAD rekey for a 22-byte record, so an unbounded stream
 * of them is a cheap way to burn our CPU. */
#define MAX_KEY_UPDATES 128
/* 5.1 allows zero-length application_data records (a traffic analysis
 * countermeasure), and 6.1 a user_canceled alert that ends nothing; both
 * move nothing. Records of these kinds in a row, with no application data
 * between them: a peer past it is making us decrypt for nothing (or
 * keeping a connection looking busy), and gets unexpected_message.
 * BoringSSL allows 32 as well. */
#define MAX_EMPTY_RECORDS 32

/* Content types (5.1) and handshake types (4). */
enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23 };
enum {
    HS_HELLO_REQUEST = 0, /* TLS 1.2 (RFC 5246 7.4.1.1) */
    HS_CLIENT_HELLO = 1,
    HS_SERVER_HELLO = 2,
    HS_NEW_SESSION_TICKET = 4,
    HS_END_OF_EARLY_DATA = 5,
    HS_ENCRYPTED_EXTENSIONS = 8,
    HS_CERTIFICATE = 11,
    HS_SERVER_KEY_EXCHANGE = 12, /* TLS 1.2 */
    HS_CERTIFICATE_REQUEST = 13,
    HS_SERVER_HELLO_DONE = 14, /* TLS 1.2 */
    HS_CERTIFICATE_VERIFY = 15,
    HS_CLIENT_KEY_EXCHANGE = 16, /* TLS 1.2 */
    HS_FINISHED = 20,
    HS_CERTIFICATE_STATUS = 22, /* TLS 1.2 (RFC 6066 8) */
    HS_KEY_UPDATE = 24,
    HS_MESSAGE_HASH = 254,
};
/* Extension types (4.2). */
enum {
    EXT_SERVER_NAME = 0,
    EXT_STATUS_REQUEST = 5,
    EXT_SUPPORTED_GROUPS = 10,
    EXT_EC_POINT_FORMATS = 11, /* TLS 1.2 (RFC 8422 5.1.2) */
    EXT_SIGNATURE_ALGORITHMS = 13,
    EXT_ALPN = 16,
    EXT_EXTENDED_MASTER_SECRET = 23, /* TLS 1.2 (RFC 7627) */
    EXT_SESSION_TICKET = 35,         /* TLS 1.2 (RFC 5077) */
    EXT_PRE_SHARED_KEY = 41,
    EXT_EARLY_DATA = 42,
    EXT_SUPPORTED_VERSIONS = 43,
    EXT_COOKIE = 44,
    EXT_PSK_KEY_EXCHANGE_MODES = 45,
    EXT_CERTIFICATE_AUTHORITIES = 47,
    EXT_POST_HANDSHAKE_AUTH = 49,
    EXT_SIGNATURE_ALGORITHMS_CERT = 50,
    EXT_KEY_SHARE = 51,
    EXT_RENEGOTIATION_INFO = 0xff01, /* TLS 1.2 (RFC 5746) */
};
#define TLS12_SCSV_RENEGOTIATION 0x00ff /* RFC 5746 3.3 */
#define TLS_V12 0x0303
#define TLS_V13 0x0304
/* RFC 8446 4.1.3: the last 8 bytes of ServerHello.random from a 1.3
 * server that negotiates 1.2 ("DOWNGRD" then 01). */
extern const uint8_t tls12_downgrade[8];

/* Handshake states, named after RFC 8446 Appendix A. t->state holds the
 * role's own: a tls_client_state (A.1) or a tls_server_state (A.2).
 * START, CONNECTED and DEAD (after a fatal error) are common to both, and
 * they are all the receive loop (tls.c) knows. Each role dispatches on its
 * enum with a switch and no default, so -Wswitch finds a state left out. */
enum { ST_START = 0, ST_CONNECTED = 1, ST_DEAD = 2 };
typedef enum {
    CLIENT_START = ST_START,
    CLIENT_CONNECTED = ST_CONNECTED,
    CLIENT_DEAD = ST_DEAD,
    CLIENT_WAIT_SH = 16,
    CLIENT_WAIT_EE,
    CLIENT_WAIT_CERT_CR,
    CLIENT_WAIT_CERT,
    CLIENT_WAIT_CV,
    CLIENT_WAIT_FINISHED,
    /* TLS 1.2 (RFC 5246 7.3): Certificate, CertificateStatus (when the
     * server said it staples), ServerKeyExchange, CertificateRequest or
     * ServerHelloDone, then after our flight NewSessionTicket (when
     * promised), ChangeCipherSpec and Finished; a resumed handshake
     * goes from ServerHello to the last three. */
    CLIENT12_WAIT_CERT,
    CLIENT12_WAIT_STATUS,
    CLIENT12_WAIT_SKE,
    CLIENT12_WAIT_CR_DONE,
    CLIENT12_WAIT_DONE,
    CLIENT12_WAIT_TICKET,
    CLIENT12_WAIT_CCS,
    CLIENT12_WAIT_FINISHED,
} tls_client_state;
typedef enum {
    SERVER_START = ST_START, /* waiting for a ClientHello (again after a HelloRetryRequest) */
    SERVER_CONNECTED = ST_CONNECTED,
    SERVER_DEAD = ST_DEAD,
    /* RECVD_CH, NEGOTIATED and WAIT_FLIGHT2 are passed through while one
     * ClientHello is answered: no message arrives in them (no 0-RTT). */
    SERVER_RECVD_CH = 32,
    SERVER_NEGOTIATED,
    SERVER_WAIT_FLIGHT2,
    SERVER_WAIT_CERT,
    SERVER_WAIT_CV,
    SERVER_WAIT_FINISHED,
    /* TLS 1.2 (RFC 5246 7.3): after ServerHelloDone, the client's
     * Certificate (when asked for), ClientKeyExchange, CertificateVerify
     * (after a non-empty Certificate), ChangeCipherSpec and Finished; a
     * resumed handshake waits for the last two only. */
    SERVER12_WAIT_CERT,
    SERVER12_WAIT_CKE,
    SERVER12_WAIT_CV,
    SERVER12_WAIT_CCS,
    SERVER12_WAIT_FINISHED,
} tls_server_state;

/* Where the key schedule stands (7.1): what hs->secret holds. The Early
 * Secret is only a step on the way to the Handshake Secret. */
typedef enum { KS_NONE, KS_HANDSHAKE, KS_MASTER } tls_ks_stage;

struct tls_name_entry;

struct moat_tls_config {
    uint16_t min_version, max_version; /* TLS_V12 or TLS_V13 */
    uint16_t suites[3];
    size_t nsuites;
    uint16_t groups[4];
    size_t ngroups;
    moat_cred **creds; /* ncreds of them, room for creds_cap (as ocsp*) */
    size_t ncreds, creds_cap;
    struct tls_name_entry *names; /* certindex.c: SAN DNS name -> creds */
    size_t nnames, names_cap;
    moat_trust
        *trust; /* set by the caller before use; NULL: none (a verifying client is refused) */
    int verify;
    /* Client: what trust is in use, for the sessions it saves (ticket.c):
     * SHA-256 chained over the CA set or the system store's bytes, then
     * each CRL added. */
    uint8_t trust_id[32];
    moat_clock_fn clock;
    void *clock_arg;
    uint8_t alpn[512]; /* wire form: vec8 entries */
    size_t alpn_len;
    char alpn_names[512]; /* the same protocols as strings, one after another */
    moat_tls_keylog_fn keylog; /* NULL: no key log */
    void *keylog_arg;
    /* resumption (server) */
    int tickets;               /* NewSessionTickets after a full handshake */
    uint32_t ticket_lifetime;  /* seconds */
    uint32_t ticket_rotate;    /* seconds each automatic key seals */
    uint8_t ticket_master[32]; /* automatic keys derive from it, per period */
    uint8_t *ticket_derived;   /* or keys from a file: name and AES key, 48 bytes each */
    size_t nticket_keys;
    int allow_psk_ke;
    /* client authentication (server) */
    moat_trust *client_trust;
    uint8_t client_ca_id[32]; /* SHA-256 of the client CA file: tickets name it */
    int client_auth;          /* MOAT_CLIENT_AUTH_* */
    /* OCSP staples (server), one per certificate */
    uint8_t **ocsp;
    size_t *ocsp_len;
    int64_t *ocsp_next;
};

/* A ticket carries the client chain up to this many bytes of DER (and
 * MAX_PEER_CERTS certificates); a longer chain, the identity only. A
 * ticket is at most TLS_TICKET_MAX bytes (4.6.1 allows 2^16-1). */
#define TLS_TICKET_CHAIN_MAX 16384
#define TLS_TICKET_MAX (2048 + TLS_TICKET_CHAIN_MAX)

/* What a ticket carries (server) or a saved session holds (client). */
typedef struct {
    uint16_t suite;
    uint64_t time_ms;  /* server: when issued; client: when received */
    uint32_t lifetime; /* seconds; server: counted from auth_ms */
    uint64_t auth_ms;  /* server: when the full handshake behind it was done */
    int64_t not_after; /* server, with ident: when the client's chain expires */
    /* server, with ident: the verified client chain as sent, DER (NULL
     * when the ticket carries the identity only); owned, freed by
     * tls_session_free */
    uint8_t *chain;
    size_t nchain, chain_len[MAX_PEER_CERTS];
    uint32_t age_add;
    uint8_t psk[MOAT_HASH_MAX];
    size_t psklen;
    char sni[256];
    char alpn[256];
    char ident[256];                /* the client certificate's identity, when there was one */
    uint8_t client_ca[32];          /* server: the client CAs that verified it (client_ca_id) */
    uint8_t ticket[TLS_TICKET_MAX]; /* client: the opaque ticket */
    size_t ticketlen;
} tls_session;

/* A set of 16-bit code points (extension types, groups), one bit each.
 * 8 KiB, zeroed once per list: a list as long as its message allows (a
 * ClientHello's 2^16-byte extension block holds 16,383 empty extensions,
 * its key_share as many shares) is checked for repeats in one pass,
 * never by comparing every pair. */
typedef struct {
    uint64_t w[1024];
} tls_set16;

/* Adds v to s; 1 when it was there already. */
static inline int tls_set16_add(tls_set16 *s, uint16_t v)
{
    uint64_t bit = (uint64_t)1 << (v & 63);
    int had = (s->w[v >> 6] & bit) != 0;
    s->w[v >> 6] |= bit;
    return had;
}

static inline int tls_set16_has(const tls_set16 *s, uint16_t v)
{
    return (s->w[v >> 6] >> (v & 63)) & 1;
}

/* The extensions of one message read so far: every type, known or not,
 * so a repeated one is found however many come (4.2). */
typedef struct {
    size_t n;
    tls_set16 types;
    int err; /* the alert when the list was malformed or repeated a type */
} ext_seen;

/* Steps through an extension list: 1 with the next type and body, 0 at
 * the end or on an error (then seen->err holds the alert: decode_error,
 * or illegal_parameter for a repeated type, 4.2). No cap on their number
 * but the message's own size: unknown extensions are skipped at O(1)
 * each. */
int tls_next_ext(rd_t *exts, ext_seen *seen, uint16_t *type, rd_t *body);

/* State that lives only during the handshake. */
struct hs {
    moat_hash_ctx *transcript; /* NULL until the suite is known */
    moat_buf ch;               /* client: its ClientHello, until the hash is known */
    moat_buf queue;            /* handshake bytes waiting to be put in records */
    moat_kex *kex;             /* client: the key of its (first) share */
    moat_kex *kex2;            /* client: the x25519 key sent beside a hybrid share, or NULL */
    uint8_t random[32];        /* client_random (for the key log) */
    uint8_t sid[32];
    size_t sidlen;
    tls_ks_stage stage;
    uint8_t secret[MOAT_HASH_MAX]; /* the Handshake or Master Secret, as stage says */
    uint8_t c_hs[MOAT_HASH_MAX], s_hs[MOAT_HASH_MAX];
    /* The application traffic secrets, from the server's Finished until
     * each direction takes its keys (the server reads with c_ap only after
     * the client's Finished). */
    uint8_t c_ap[MOAT_HASH_MAX], s_ap[MOAT_HASH_MAX];
    uint8_t cookie[512];
    size_t cookielen;
    uint16_t hrr_suite, hrr_group;
    /* client */
    int cert_requested;
    uint8_t cr_ctx[255];
    size_t cr_ctx_len;
    uint16_t cr_sigs[32]; /* the server's signature_algorithms in its request */
    size_t ncr_sigs;
    moat_buf peer_certs;
    size_t npeer;
    size_t cert_off[MAX_PEER_CERTS], cert_len[MAX_PEER_CERTS];
    /* server */
    const moat_cred *cred;
    size_t cred_i;   /* its index in the configuration (its staple's) */
    int want_staple; /* the client sent status_request */
    /* resumption */
    tls_session *psk; /* client: the session offered; server: the one accepted */
    int psk_accepted;
    uint8_t c_fin_key[MOAT_HASH_MAX];
    /* TLS 1.2 */
    uint8_t srandom[32];
    uint8_t ms[TLS12_MS_LEN];         /* the (extended) master secret */
    uint8_t pms[MOAT_KEX_SECRET_MAX]; /* client: the premaster secret, until ClientKeyExchange */
    size_t pmslen;
    uint8_t key12[2][32], iv12[2][12]; /* the key block: [0] the client's, [1] the server's */
    moat_buf raw; /* the handshake messages, while a CertificateVerify needs them */
    int keep_raw;
    int expect_ccs; /* the peer's ChangeCipherSpec is due; then state becomes next_state */
    int next_state;
    int send_ticket12; /* server: a NewSessionTicket precedes our ChangeCipherSpec */
    int status12;      /* client: the server said it staples (CertificateStatus) */
    int ticket12;      /* client: the server promised a NewSessionTicket */
};

/* Text few connections need, kept apart so that a server connection that
 * verifies no client certificate does not carry it (an idle connection
 * keeps keys and little else): allocated by clients at creation, by a
 * server when it first writes a field (tls_text). */
struct tls_text {
    char server_name[256];   /* client: the name asked for */
    moat_verdict verdict;    /* the peer's chain judged: why refused, a staple ignored */
    char refusal[200];       /* why the handshake was refused, beyond its alert (1.2: no EMS) */
    char peer_identity[256]; /* the verified peer's identity (crypto_x509_identity) */
    int64_t peer_not_after;  /* server: when that identity's chain expires */
    /* server: the verified client chain as sent, DER (for RFC 9440
     * Client-Cert); tickets carry it (up to TLS_TICKET_CHAIN_MAX) */
    uint8_t *peer_certs;
    size_t npeer, peer_off[MAX_PEER_CERTS], peer_len[MAX_PEER_CERTS];
};

struct moat_tls {
    const moat_tls_config *cfg;
    int is_server;
    int state;
    moat_buf rx;    /* bytes of an incomplete record */
    moat_buf hsmsg; /* bytes of an incomplete handshake message */
    tls_dir rd, wr;
    uint16_t suite, group, sigscheme;
    uint16_t version; /* TLS_V13 or TLS_V12 once ServerHello is sent or read; 0 before */
    int hash;
    size_t hlen;
    struct hs *hs;
    uint8_t exporter[MOAT_HASH_MAX], resumption[MOAT_HASH_MAX];
    struct tls_text *tx; /* NULL until needed; read through TX(t) */
    char *sni;  /* server: the name the client sent; NULL when none */
    const char *alpn; /* the protocol agreed, in cfg->alpn_names; NULL when none */
    int peer_closed, sent_close, did_hrr, ccs_sent;
    unsigned ccs_received; /* unprotected CCS records dropped so far */
    int skip_early_data;   /* 4.2.10: the client offered 0-RTT, which we never accept */
    size_t early_skipped;
    int ku_fresh;            /* 4.6.3: our write key has changed since our last app data */
    unsigned ku_received;    /* KeyUpdates received since the peer's last app data */
    unsigned empty_received; /* records in a row that moved nothing (MAX_EMPTY_RECORDS) */
    uint64_t key_limit;      /* records per key before a KeyUpdate (5.5) */
    size_t send_room;        /* data bytes reserved in out by moat_tls_send_space */
    unsigned renego_refused; /* TLS 1.2: renegotiation attempts answered no_renegotiation */
    int resumed;
    int ocsp_stapled;     /* client: a staple came, was checked and counted */
    tls_session *session; /* client: the latest ticket received */
    uint32_t tickets_sent;
    /* server, resumed: the full handshake the ticket stands for (when,
     * and the lifetime counted from then), passed on to new tickets */
    uint64_t auth_ms;
    uint32_t auth_lifetime;
    moat_tls_observer observe;
    void *observe_arg;
};

/* What the server keeps of a ClientHello while answering it (server.c
 * reads it; the 1.2 server, server12.c, answers from it). */
typedef struct {
    rd_t suites, groups, sigalgs, sigalgs_cert, shares, sni, alpn, psk_ids, psk_binders;
    int has_groups, has_sigalgs, has_sigalgs_cert, has_shares, has_sv13, has_sni, has_alpn;
    int early_data;
    int has_psk, has_modes, mode_dhe, mode_ke;
    size_t binders_off; /* where the binders list starts in the message */
    const uint8_t *sid;
    size_t sidlen;
    const uint8_t *random;
    /* TLS 1.2 */
    uint32_t legacy;      /* legacy_version */
    int has_sv, has_sv12; /* supported_versions came; it lists 1.2 */
    int has_ems, has_reneg, reneg_bad, has_ticket, has_ecpf;
    rd_t ticket, comp;
} tls_hello;

/* server12.c: the TLS 1.2 server (RFC 5246 7.3), from a parsed
 * ClientHello whose name and ALPN are chosen, and its later messages. */
int tls12_server_hello(moat_tls *t, const tls_hello *ch, const uint8_t *msg, size_t len,
                       moat_buf *out);
int tls12_server_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out);

/* client12.c: the TLS 1.2 client, from a ServerHello without
 * supported_versions (checked for the downgrade sentinel by client.c). */
int tls12_client_server_hello(moat_tls *t, const uint8_t *msg, size_t len, rd_t sid, uint16_t suite,
                              rd_t exts);
int tls12_client_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out);

/* hs12.c: TLS 1.2 steps both roles share */
/* The master secret (RFC 7627: over the transcript through
 * ClientKeyExchange) and the key block, kept in hs. */
int tls12_derive(moat_tls *t, const uint8_t *pms, size_t pmslen);
/* The key block from hs->ms (a resumed session's) and the randoms. */
int tls12_key_block(moat_tls *t);
/* Our ChangeCipherSpec, then our write keys. */
int tls12_send_ccs(moat_tls *t, moat_buf *out);
/* The peer's ChangeCipherSpec: its keys for reading, when it is due. */
int tls12_recv_ccs(moat_tls *t);
/* Finished (7.4.9): ours queued, the peer's checked and added. */
int tls12_queue_finished(moat_tls *t);
int tls12_read_finished(moat_tls *t, const uint8_t *msg, size_t len);
/* A 1.2 Certificate (7.4.2): ours queued; the peer's read into hs. */
int tls12_queue_certificate(moat_tls *t, const moat_cred *cred);
int tls12_read_certificate(moat_tls *t, const uint8_t *msg, size_t len);
/* Whether a configuration speaks TLS 1.2 suite s (1.2 is in its range,
 * the suite's AEAD among its suites). */
int tls12_offers(const moat_tls_config *c, uint16_t s);
/* The 1.2 suites, ECDSA's then RSA's for each AEAD in c's order, into
 * out (6 at most); the count. 0 when 1.2 is not in c's range. */
size_t tls12_suites(const moat_tls_config *c, uint16_t out[6]);
/* The signature schemes 1.2 uses, in our order of preference. */
extern const uint16_t tls12_sigschemes[];
extern const size_t tls12_nsigschemes;

/* handshake.c: steps both handshakes share */
extern const struct tls_text tls_no_text;
#define TX(t) ((const struct tls_text *)((t)->tx ? (t)->tx : &tls_no_text))
/* t->tx, allocated on first use; NULL when memory is short. */
struct tls_text *tls_text(moat_tls *t);
int tls_transcript_start(moat_tls *t);
int tls_transcript_add(moat_tls *t, const uint8_t *msg, size_t len);
int tls_transcript_hash(moat_tls *t, uint8_t *out);
/* Queues a complete handshake message (adds it to the transcript). */
int tls_queue_hs(moat_tls *t, const moat_buf *msg);
/* Finishes the message written by w over m, queues it once and frees m. */
int tls_queue_written(moat_tls *t, wr_t *w, moat_buf *m);
/* The ALPN extension of a server reply: the one protocol chosen (RFC 7301 3.1). */
void tls_wr_alpn_chosen(wr_t *w, const char *alpn);
void tls_keylog(moat_tls *t, const char *label, const uint8_t *secret);
int tls_set_suite(moat_tls *t, uint16_t suite);
void tls_hs_free(moat_tls *t);
/* Wipes and frees a session and the chain it holds (NULL: nothing). */
void tls_session_free(tls_session *s);
/* 7.1: Early Secret from the PSK (NULL: none), Handshake Secret from the
 * (EC)DHE secret (NULL: none, psk_ke), and the handshake traffic secrets
 * over the transcript through ServerHello; keys installed both ways. */
int tls_install_hs_secrets(moat_tls *t, const uint8_t *psk, const uint8_t *ecdhe, size_t elen);
/* 7.1: the Master Secret and, over the transcript through the server's
 * Finished, hs->c_ap, hs->s_ap and the exporter secret. */
int tls_derive_app_secrets(moat_tls *t);
/* Installs the application keys of one direction (write 1: ours). */
int tls_install_app_keys(moat_tls *t, int write);
/* 7.1: the resumption master secret, over the transcript through the
 * client's Finished. */
int tls_resumption_secret(moat_tls *t);
/* 4.4.4: the peer's Finished, checked, then added to the transcript. */
int tls_read_finished(moat_tls *t, const uint8_t *msg, size_t len);
/* 4.4.4: our Finished, queued. */
int tls_queue_finished(moat_tls *t);
/* 4.4.1: the transcript after a HelloRetryRequest begins with
 * message_hash(Hash(ClientHello1)); starts it so. */
int tls_transcript_message_hash(moat_tls *t, const uint8_t *ch1, size_t len);
/* 4.2.11.2: the transcript hash a binder covers, under hash h: the
 * transcript so far (a HelloRetryRequest's, when there was one), then
 * the ClientHello up to its binders (ch, len). */
int tls_binder_transcript(moat_tls *t, int h, const uint8_t *ch, size_t len, uint8_t *out);
/* RFC 7301: whether a vec8 list of protocols holds p. */
int tls_alpn_has(const uint8_t *list, size_t listlen, const uint8_t *p, size_t n);
/* Replaces *dst (freed) with a copy of p[0..n) as a string; n 0 frees it
 * and leaves NULL. 0 or MOAT_ERR_NOMEM. A connection keeps the name the
 * peer sent so, not in a fixed array every idle connection would carry. */
int tls_set_str(char **dst, const uint8_t *p, size_t n);
#define TLS_STR(s) ((s) ? (s) : "")
/* The name in c->alpn_names of protocol p[0..n), one of c's; NULL when
 * c has no such protocol. */
const char *tls_alpn_name(const moat_tls_config *c, const uint8_t *p, size_t n);
int tls_cv_content(moat_tls *t, int server, uint8_t *out, size_t *len);
extern const uint16_t tls_sigschemes[];
extern const size_t tls_nsigschemes;
extern const uint8_t tls_hrr_random[32];
int64_t tls_now(const moat_tls *t);

/* record.c: records, keys, alerts */
int tls_seal(moat_tls *t, uint8_t type, const uint8_t *data, size_t len, moat_buf *out);
/* Installs the keys of a traffic secret for reading (write 0) or writing. */
int tls_set_keys(moat_tls *t, int write, const uint8_t *secret, const char *label);
void tls_observe(moat_tls *t, int event, const uint8_t *data, size_t len, int info);
/* Handshake bytes in as many records as they need (5.1: a message may
 * span records), under the current write key. */
int tls_seal_hs(moat_tls *t, const uint8_t *data, size_t len, moat_buf *out);
/* Puts queued handshake bytes into records under the current write key. */
int tls_flush_hs(moat_tls *t, moat_buf *out);
int tls_send_ccs(moat_tls *t, moat_buf *out);
int tls_send_alert(moat_tls *t, moat_buf *out, int level, int desc);
/* 4.6.3: the peer's KeyUpdate changes our read key; ours, our write key
 * (request asks the peer for one in return). */
int tls_update_read_key(moat_tls *t);
int tls_send_key_update(moat_tls *t, moat_buf *out, int request);
/* A record header, checked as soon as it arrives. */
int tls_check_header(const moat_tls *t, const uint8_t *h);
/* A parked connection's cipher contexts, made again before any record. */
int tls_unpark(moat_tls *t);

/* certindex.c */
/* Indexes the SAN DNS names of c->creds[cred]. 0 or MOAT_ERR_NOMEM. */
int tls_names_add(moat_tls_config *c, size_t cred);
void tls_names_free(moat_tls_config *c);
/* The indices (ascending, at most max) of the certificates that carry
 * host or "*.<host less its first label>" among their names, compared
 * without case: a superset of those crypto_cred_matches_name accepts.
 * Returns how many, or -1 when the caller must try every certificate. */
int tls_names_find(const moat_tls_config *c, const char *host, uint32_t *out, int max);

/* cert.c */
int tls_queue_certificate(moat_tls *t, const moat_cred *cred, const uint8_t *ctx, size_t ctxlen,
                          const uint8_t *ocsp, size_t ocsplen);
/* CertificateVerify with our signature over signed_data (1.2: every message so far). */
int tls_queue_cert_verify_over(moat_tls *t, const moat_cred *cred, uint16_t scheme,
                               const uint8_t *signed_data, size_t len);
int tls_queue_cert_verify(moat_tls *t, const moat_cred *cred, uint16_t scheme);
int tls_queue_cert_request(moat_tls *t);
int tls_read_certificate(moat_tls *t, const uint8_t *msg, size_t len, const uint8_t *ctx,
                         size_t ctxlen, int staple_ok, rd_t *staple);
int tls_verify_peer_chain(moat_tls *t, moat_trust *trust, const char *host, const rd_t *staple);
int tls_check_cert_verify(moat_tls *t, const uint8_t *msg, size_t len);
/* Server, after tls_verify_peer_chain accepted the client's chain: its
 * identity, when it expires and the chain as sent, kept in t->tx. */
int tls_keep_client_chain(moat_tls *t);
/* The scheme (4.2.3 numbering) a DER certificate is signed with, 0 when
 * it has none; *self_signed when its issuer is its subject. */
uint16_t tls_cert_sig_scheme(const uint8_t *der, size_t len, int *self_signed);

/* ticket.c */
uint64_t tls_now_ms(const moat_tls *t);
/* Appends a sealed ticket to what w writes. */
int tls_ticket_seal(moat_tls *t, const tls_session *s, wr_t *w);
int tls_ticket_open(moat_tls *t, const uint8_t *tk, size_t len, tls_session *s);
/* The binder over a (partial) transcript hash: HMAC of the binder
 * finished key derived from the PSK (4.2.11.2). */
int tls_psk_binder(int h, const uint8_t *psk, const uint8_t *thash, uint8_t *out);
/* Until when (ms since the epoch) a ticket may be resumed: its lifetime,
 * never longer than the one configured now, counted from the full
 * handshake behind it (4.6.1), and, when it carries an identity, no later
 * than the client's chain expires. */
uint64_t tls_ticket_end_ms(const moat_tls *t, const tls_session *s);
int tls_send_tickets(moat_tls *t, moat_buf *out);
/* Server: whether a ticket's client authentication answers today's
 * settings (a resumed handshake asks for no certificate). */
int tls_ticket_auth_ok(const moat_tls *t, const tls_session *s);
/* Server, resumed: the client's identity (and chain) from the ticket. */
int tls_resume_identity(moat_tls *t);
int tls_handle_ticket(moat_tls *t, rd_t *r);

/* client.c / server.c */
int tls_client_start(moat_tls *t, moat_buf *out);
int tls_client_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out);
int tls_server_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out);

#define ALERT(x) MOAT_ERR_ALERT(MOAT_ALERT_##x)

#endif
