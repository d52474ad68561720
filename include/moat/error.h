/* moat's one error space: 0 is success, negative values are errors.
 * A TLS alert that we send is encoded as MOAT_ERR_ALERT(desc); an alert the
 * peer sent as MOAT_ERR_PEER_ALERT(desc), so the alert is never guessed twice. */
#ifndef MOAT_ERROR_H
#define MOAT_ERROR_H

/* The public API: exported by libmoat.so, which hides everything else. */
#pragma GCC visibility push(default)

#define MOAT_OK 0
#define MOAT_ERR_NOMEM (-1)    /* allocation failed */
#define MOAT_ERR_INTERNAL (-2) /* a libcrypto call or invariant failed */
#define MOAT_ERR_ARG (-3)      /* bad argument from the caller */
#define MOAT_ERR_STATE (-4)    /* call not valid in this state */
#define MOAT_ERR_IO (-5)       /* a read or write failed */
#define MOAT_ERR_CLOSED (-6)   /* the connection is closed */
#define MOAT_ERR_FILE (-7)     /* a file could not be read or parsed */

#define MOAT_ERR_ALERT(desc) (-(0x100 + (desc)))
#define MOAT_ERR_PEER_ALERT(desc) (-(0x200 + (desc)))
#define MOAT_IS_ALERT(e) ((e) <= -0x100 && (e) > -0x200)
#define MOAT_IS_PEER_ALERT(e) ((e) <= -0x200 && (e) > -0x300)
#define MOAT_ALERT_DESC(e) (MOAT_IS_ALERT(e) ? -(e)-0x100 : -(e)-0x200)

/* TLS alert descriptions, RFC 8446 section 6. */
enum {
    MOAT_ALERT_CLOSE_NOTIFY = 0,
    MOAT_ALERT_UNEXPECTED_MESSAGE = 10,
    MOAT_ALERT_BAD_RECORD_MAC = 20,
    MOAT_ALERT_RECORD_OVERFLOW = 22,
    MOAT_ALERT_HANDSHAKE_FAILURE = 40,
    MOAT_ALERT_BAD_CERTIFICATE = 42,
    MOAT_ALERT_UNSUPPORTED_CERTIFICATE = 43,
    MOAT_ALERT_CERTIFICATE_REVOKED = 44,
    MOAT_ALERT_CERTIFICATE_EXPIRED = 45,
    MOAT_ALERT_CERTIFICATE_UNKNOWN = 46,
    MOAT_ALERT_ILLEGAL_PARAMETER = 47,
    MOAT_ALERT_UNKNOWN_CA = 48,
    MOAT_ALERT_ACCESS_DENIED = 49,
    MOAT_ALERT_DECODE_ERROR = 50,
    MOAT_ALERT_DECRYPT_ERROR = 51,
    MOAT_ALERT_PROTOCOL_VERSION = 70,
    MOAT_ALERT_INSUFFICIENT_SECURITY = 71,
    MOAT_ALERT_INTERNAL_ERROR = 80,
    MOAT_ALERT_INAPPROPRIATE_FALLBACK = 86,
    MOAT_ALERT_USER_CANCELED = 90,
    MOAT_ALERT_NO_RENEGOTIATION = 100, /* TLS 1.2 (RFC 5246 7.2.2) */
    MOAT_ALERT_MISSING_EXTENSION = 109,
    MOAT_ALERT_UNSUPPORTED_EXTENSION = 110,
    MOAT_ALERT_UNRECOGNIZED_NAME = 112,
    MOAT_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE = 113,
    MOAT_ALERT_UNKNOWN_PSK_IDENTITY = 115,
    MOAT_ALERT_CERTIFICATE_REQUIRED = 116,
    MOAT_ALERT_NO_APPLICATION_PROTOCOL = 120,
};

/* The RFC name of an alert description ("bad_record_mac"), or "unknown". */
const char *moat_alert_name(int desc);

/* A short human description of any moat error code (static string). */
const char *moat_strerror(int err);

#pragma GCC visibility pop

#endif
