/* Names for moat's error codes and TLS alerts. */
#include <stdio.h>

#include "moat/error.h"

const char *moat_alert_name(int desc)
{
    switch (desc) {
    case 0:
        return "close_notify";
    case 10:
        return "unexpected_message";
    case 20:
        return "bad_record_mac";
    case 22:
        return "record_overflow";
    case 40:
        return "handshake_failure";
    case 42:
        return "bad_certificate";
    case 43:
        return "unsupported_certificate";
    case 44:
        return "certificate_revoked";
    case 45:
        return "certificate_expired";
    case 46:
        return "certificate_unknown";
    case 47:
        return "illegal_parameter";
    case 48:
        return "unknown_ca";
    case 49:
        return "access_denied";
    case 50:
        return "decode_error";
    case 51:
        return "decrypt_error";
    case 70:
        return "protocol_version";
    case 71:
        return "insufficient_security";
    case 80:
        return "internal_error";
    case 86:
        return "inappropriate_fallback";
    case 90:
        return "user_canceled";
    case 100:
        return "no_renegotiation";
    case 109:
        return "missing_extension";
    case 110:
        return "unsupported_extension";
    case 112:
        return "unrecognized_name";
    case 113:
        return "bad_certificate_status_response";
    case 115:
        return "unknown_psk_identity";
    case 116:
        return "certificate_required";
    case 120:
        return "no_application_protocol";
    default:
        return "unknown";
    }
}

const char *moat_strerror(int err)
{
    static __thread char msg[96];
    switch (err) {
    case MOAT_OK:
        return "success";
    case MOAT_ERR_NOMEM:
        return "out of memory";
    case MOAT_ERR_INTERNAL:
        return "internal error";
    case MOAT_ERR_ARG:
        return "invalid argument";
    case MOAT_ERR_STATE:
        return "call not valid in this state";
    case MOAT_ERR_IO:
        return "input/output error";
    case MOAT_ERR_CLOSED:
        return "connection closed";
    case MOAT_ERR_FILE:
        return "file could not be read";
    }
    if (MOAT_IS_ALERT(err)) {
        snprintf(msg, sizeof msg, "sent alert %s", moat_alert_name(MOAT_ALERT_DESC(err)));
        return msg;
    }
    if (MOAT_IS_PEER_ALERT(err)) {
        snprintf(msg, sizeof msg, "peer sent alert %s", moat_alert_name(MOAT_ALERT_DESC(err)));
        return msg;
    }
    return "unknown error";
}
