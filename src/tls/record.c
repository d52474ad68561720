/* The record layer's side of a connection (RFC 8446 5): sealing records
 * under the current key, key changes and KeyUpdate (4.6.3, 5.5), alerts
 * (6), record headers, parking an idle connection's cipher contexts. It
 * calls only keysched.c; the receive loop that hands records up is the
 * connection's (tls.c). */
#include <string.h>

#include "tls/internal.h"

void tls_observe(moat_tls *t, int event, const uint8_t *data, size_t len, int info)
{
    if (t->observe) t->observe(t->observe_arg, event, data, len, info);
}

void moat_tls_set_observer(moat_tls *t, moat_tls_observer fn, void *arg)
{
    t->observe = fn;
    t->observe_arg = arg;
}

int tls_seal(moat_tls *t, uint8_t type, const uint8_t *data, size_t len, moat_buf *out)
{
    size_t at = out->len;
    int r = rl_seal(&t->wr, type, data, len, out);
    if (!r && t->observe) t->observe(t->observe_arg, MOAT_EV_RECORD_SENT, out->base + at, 5, type);
    return r;
}

int tls_set_keys(moat_tls *t, int write, const uint8_t *secret, const char *label)
{
    int r = rl_set_secret(write ? &t->wr : &t->rd, t->suite, write, secret);
    if (!r) tls_observe(t, MOAT_EV_KEYS, (const uint8_t *)label, strlen(label), write);
    return r;
}

int tls_seal_hs(moat_tls *t, const uint8_t *data, size_t len, moat_buf *out)
{
    for (size_t off = 0; off < len;) {
        size_t n = len - off > TLS_MAX_PLAIN ? TLS_MAX_PLAIN : len - off;
        int r = tls_seal(t, CT_HANDSHAKE, data + off, n, out);
        if (r) return r;
        off += n;
    }
    return 0;
}

int tls_flush_hs(moat_tls *t, moat_buf *out)
{
    moat_buf *q = &t->hs->queue;
    int r = tls_seal_hs(t, q->base, q->len, out);
    if (!r) moat_buf_clear(q);
    return r;
}

int tls_send_ccs(moat_tls *t, moat_buf *out)
{
    /* D.4: a plaintext change_cipher_spec for middlebox compatibility. */
    static const uint8_t ccs[6] = {CT_CCS, 3, 3, 0, 1, 1};
    if (t->ccs_sent) return 0;
    t->ccs_sent = 1;
    return moat_buf_append(out, ccs, sizeof ccs);
}

int tls_send_alert(moat_tls *t, moat_buf *out, int level, int desc)
{
    uint8_t a[2] = {(uint8_t)level, (uint8_t)desc};
    return tls_seal(t, CT_ALERT, a, 2, out);
}

int tls_update_read_key(moat_tls *t)
{
    int r = ks_update_secret(t->hash, t->rd.secret);
    return r ? r : tls_set_keys(t, 0, t->rd.secret, "updated");
}

int tls_send_key_update(moat_tls *t, moat_buf *out, int request)
{
    uint8_t m[5] = {HS_KEY_UPDATE, 0, 0, 1, (uint8_t)request};
    int r = tls_seal(t, CT_HANDSHAKE, m, sizeof m, out);
    if (!r) r = ks_update_secret(t->hash, t->wr.secret);
    if (!r) r = tls_set_keys(t, 1, t->wr.secret, "updated");
    if (!r) t->ku_fresh = 1;
    return r;
}

/* Checks a record header as soon as it arrives, so garbage or an oversized
 * length is refused without waiting for a body that may never come. */
int tls_check_header(const moat_tls *t, const uint8_t *h)
{
    size_t len = (size_t)h[3] << 8 | h[4];
    if (h[0] < CT_CCS || h[0] > CT_APPDATA) return ALERT(UNEXPECTED_MESSAGE);
    if (len > TLS_MAX_CIPHER || (!t->rd.aead && h[0] != CT_APPDATA && len > TLS_MAX_PLAIN))
        return ALERT(RECORD_OVERFLOW);
    return 0;
}

/* A parked connection's cipher contexts, made again before any record. */
int tls_unpark(moat_tls *t)
{
    int r = rl_unpark(&t->rd);
    return r ? r : rl_unpark(&t->wr);
}

int moat_tls_park(moat_tls *t)
{
    if (!t || t->state != ST_CONNECTED || t->rx.len || t->hsmsg.len) return 0;
    if (!t->rd.aead && !t->wr.aead) return 0;
    rl_park(&t->rd);
    rl_park(&t->wr);
    return 1;
}
