/* The connection: its lifecycle and getters, the public calls of the
 * engine, and the receive loop (RFC 8446 5) that reassembles records and
 * handshake messages and hands them to the client (client.c), the server
 * (server.c) or the post-handshake messages (4.6). Top of src/tls: it
 * calls down, nothing calls it. */
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

static moat_tls *tls_new(const moat_tls_config *cfg, int is_server)
{
    if (!cfg || crypto_init()) return NULL;
    moat_tls *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->hs = calloc(1, sizeof *t->hs);
    if (!t->hs) {
        free(t);
        return NULL;
    }
    t->cfg = cfg;
    t->is_server = is_server;
    t->state = ST_START;              /* the server's START waits for a ClientHello */
    t->key_limit = (uint64_t)1 << 24; /* 5.5: AES-GCM is safe to 2^24.5 records */
    return t;
}

moat_tls *moat_tls_client_new(const moat_tls_config *cfg, const char *server_name)
{
    if (!server_name || strlen(server_name) >= sizeof tls_no_text.server_name) return NULL;
    /* The caller loads the trust store (moat_tls_config_set_system_trust
     * or a CA set): the configuration is read-only here, and may be shared
     * by threads. */
    if (cfg && cfg->verify && !cfg->trust) return NULL;
    moat_tls *t = tls_new(cfg, 0);
    if (t && !tls_text(t)) {
        moat_tls_free(t);
        return NULL;
    }
    if (t) {
        /* RFC 6066 3: "The hostname is represented ... without a trailing
         * dot": good.test. is sent, matched and resumed as good.test. */
        size_t n = strlen(server_name);
        if (n > 1 && server_name[n - 1] == '.') n--;
        memcpy(t->tx->server_name, server_name, n);
        t->tx->server_name[n] = '\0';
    }
    return t;
}

moat_tls *moat_tls_server_new(const moat_tls_config *cfg)
{
    if (!cfg || !cfg->ncreds) return NULL;
    return tls_new(cfg, 1);
}

void moat_tls_free(moat_tls *t)
{
    if (!t) return;
    tls_hs_free(t);
    moat_buf_free(&t->rx);
    moat_buf_free(&t->hsmsg);
    rl_clear(&t->rd);
    rl_clear(&t->wr);
    tls_session_free(t->session);
    free(t->sni);
    if (t->tx) {
        free(t->tx->peer_certs);
        moat_wipe(t->tx, sizeof *t->tx);
        free(t->tx);
    }
    moat_wipe(t, sizeof *t);
    free(t);
}

/* ---- alerts */

/* Ends the connection after an error: the fatal alert goes out first. */
static int fail(moat_tls *t, int err, moat_buf *out)
{
    if (t->state == ST_DEAD) return err;
    t->state = ST_DEAD;
    if (t->hs) moat_buf_clear(&t->hs->queue);
    if (!MOAT_IS_PEER_ALERT(err) && out) {
        int desc = MOAT_IS_ALERT(err) ? MOAT_ALERT_DESC(err) : MOAT_ALERT_INTERNAL_ERROR;
        tls_send_alert(t, out, 2, desc);
    }
    tls_hs_free(t);
    return err;
}

/* ---- post-handshake messages (4.6) */

static int handle_post_handshake(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len,
                                 moat_buf *out)
{
    rd_t r = rd_init(msg + 4, len - 4);
    if (t->version == TLS_V12) {
        /* RFC 5746 4.2, 4.4: no renegotiation. A server answers a
         * ClientHello with a no_renegotiation warning (and the client
         * goes on, or ends it); a HelloRequest ends a client's
         * connection. A flood of attempts is cut off. */
        if (t->is_server && type == HS_CLIENT_HELLO) {
            if (++t->renego_refused > MAX_EMPTY_RECORDS) return ALERT(UNEXPECTED_MESSAGE);
            return tls_send_alert(t, out, 1, MOAT_ALERT_NO_RENEGOTIATION);
        }
        if (!t->is_server && type == HS_HELLO_REQUEST) return ALERT(NO_RENEGOTIATION);
        return ALERT(UNEXPECTED_MESSAGE);
    }
    if (type == HS_KEY_UPDATE) {
        uint8_t req = rd_u8(&r);
        if (r.err || r.n) return ALERT(DECODE_ERROR);
        if (req > 1) return ALERT(ILLEGAL_PARAMETER);
        if (++t->ku_received > MAX_KEY_UPDATES) return ALERT(UNEXPECTED_MESSAGE);
        int e = tls_update_read_key(t);
        /* 4.6.3: update_requested asks for a KeyUpdate of ours before our
         * next application data. One we sent since our last application
         * data already satisfies it: that key has protected nothing yet,
         * so a flood of requests gets one answer, not one each. */
        if (!e && req == 1 && !t->sent_close && !t->ku_fresh) e = tls_send_key_update(t, out, 0);
        return e;
    }
    if (type == HS_NEW_SESSION_TICKET && !t->is_server) return tls_handle_ticket(t, &r);
    return ALERT(UNEXPECTED_MESSAGE);
}

/* ---- the record loop */

static int handle_handshake_bytes(moat_tls *t, const uint8_t *p, size_t n, moat_buf *out)
{
    int r = moat_buf_append(&t->hsmsg, p, n);
    if (r) return r;
    size_t off = 0;
    moat_buf *m = &t->hsmsg;
    while (m->len - off >= 4 && t->state != ST_DEAD) {
        uint8_t *msg = m->base + off;
        size_t len = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
        if (len > MAX_HS_MSG) return ALERT(DECODE_ERROR);
        if (m->len - off < 4 + len) break;
        unsigned epoch = t->rd.epoch;
        tls_observe(t, MOAT_EV_HS_RECEIVED, msg, 4 + len, msg[0]);
        if (t->state == ST_CONNECTED)
            r = handle_post_handshake(t, msg[0], msg, 4 + len, out);
        else if (t->is_server)
            r = tls_server_handle(t, msg[0], msg, 4 + len, out);
        else
            r = tls_client_handle(t, msg[0], msg, 4 + len, out);
        if (r) return r;
        off += 4 + len;
        /* 5.1: a message that precedes a key change must end its record. */
        if (t->rd.epoch != epoch && m->len != off) return ALERT(UNEXPECTED_MESSAGE);
    }
    if (m->len - off >= 4) {
        size_t len =
            (size_t)m->base[off + 1] << 16 | (size_t)m->base[off + 2] << 8 | m->base[off + 3];
        if (len > MAX_HS_MSG) return ALERT(DECODE_ERROR);
    }
    moat_buf_consume(m, off);
    return 0;
}

static int handle_alert(moat_tls *t, const uint8_t *p, size_t n)
{
    if (n != 2) return ALERT(DECODE_ERROR);
    if (p[1] == MOAT_ALERT_CLOSE_NOTIFY) {
        t->peer_closed = 1;
        return 0;
    }
    /* RFC 5246 7.2.2: in 1.2 no_renegotiation is a warning that ends
     * nothing (the answer to a renegotiation we would never start). */
    if (p[1] == MOAT_ALERT_USER_CANCELED ||
        (t->version == TLS_V12 && p[0] == 1 && p[1] == MOAT_ALERT_NO_RENEGOTIATION))
        return ++t->empty_received > MAX_EMPTY_RECORDS ? ALERT(UNEXPECTED_MESSAGE) : 0;
    /* 6.2: every other alert ends the connection, whatever its level. */
    t->state = ST_DEAD;
    return MOAT_ERR_PEER_ALERT(p[1]);
}

static int hs_in_progress(const moat_tls *t)
{
    return t->state != ST_CONNECTED && t->state != ST_DEAD;
}

/* One complete record. */
static int handle_record(moat_tls *t, const uint8_t *rec, size_t bodylen, moat_buf *out,
                         moat_buf *app)
{
    uint8_t type = rec[0];
    const uint8_t *body = rec + 5;
    if (type == CT_CCS && t->version == TLS_V12) {
        /* TLS 1.2 (RFC 5246 7.1): a real key change, once, where the
         * handshake expects it, never inside a split message. */
        if (bodylen != 1 || body[0] != 1 || t->hsmsg.len || t->rd.aead)
            return ALERT(UNEXPECTED_MESSAGE);
        return tls12_recv_ccs(t);
    }
    if (type == CT_CCS) {
        /* 5: an unprotected CCS of value 1 between the first ClientHello
         * and the peer's Finished is dropped, each time (up to MAX_CCS);
         * any other value is unexpected_message. 5.1: it must not fall
         * between the records of one split handshake message. */
        if (bodylen != 1 || body[0] != 1 || !hs_in_progress(t) || t->hsmsg.len ||
            ++t->ccs_received > MAX_CCS ||
            (t->is_server && t->state == SERVER_START && !t->did_hrr && !t->hs->transcript))
            return ALERT(UNEXPECTED_MESSAGE);
        return 0;
    }
    uint8_t itype = type;
    const uint8_t *p = body;
    size_t n = bodylen;
    if (t->observe && !t->rd.aead)
        t->observe(t->observe_arg, MOAT_EV_RECORD_RECEIVED, rec, 5, type);
    if (t->rd.aead && (type == CT_APPDATA || t->rd.v12)) {
        /* At least 1: an empty record must not leave app->base NULL. */
        int r = moat_buf_reserve(app, bodylen ? bodylen : 1);
        if (r) return r;
        uint8_t *dst = app->base + app->len;
        r = rl_open(&t->rd, rec, body, bodylen, dst, &itype, &n);
        if (r == ALERT(BAD_RECORD_MAC) && t->skip_early_data) {
            /* 4.2.10: 0-RTT data we declined is skipped, up to a limit. */
            t->early_skipped += bodylen;
            return t->early_skipped > MAX_EARLY_SKIP ? r : 0;
        }
        if (r) return r;
        t->skip_early_data = 0;
        if (t->observe) t->observe(t->observe_arg, MOAT_EV_RECORD_RECEIVED, rec, 5, itype);
        if (itype == CT_APPDATA) {
            if (t->state != ST_CONNECTED || t->hsmsg.len) return ALERT(UNEXPECTED_MESSAGE);
            app->len += n;
            /* Empty records reset neither cap, and are capped themselves. */
            if (n)
                t->ku_received = t->empty_received = 0;
            else if (++t->empty_received > MAX_EMPTY_RECORDS)
                return ALERT(UNEXPECTED_MESSAGE);
            return 0;
        }
        p = dst;
    } else if (!t->rd.aead && type == CT_APPDATA && t->skip_early_data && t->did_hrr) {
        /* 4.2.10: after our HelloRetryRequest, the 0-RTT records a client
         * sent behind its first ClientHello arrive before we have any key:
         * records of type application_data are skipped, up to a limit,
         * until the second ClientHello. */
        t->early_skipped += bodylen;
        return t->early_skipped > MAX_EARLY_SKIP ? ALERT(UNEXPECTED_MESSAGE) : 0;
    } else if (t->rd.aead) {
        /* A peer that failed before it had our keys may send a plaintext alert. */
        if (!(type == CT_ALERT && hs_in_progress(t))) return ALERT(UNEXPECTED_MESSAGE);
        if (bodylen > TLS_MAX_PLAIN) return ALERT(RECORD_OVERFLOW);
    } else if (bodylen > TLS_MAX_PLAIN) {
        return ALERT(RECORD_OVERFLOW);
    }
    switch (itype) {
    case CT_HANDSHAKE:
        if (n == 0) return ALERT(UNEXPECTED_MESSAGE);
        return handle_handshake_bytes(t, p, n, out);
    case CT_ALERT:
        /* 5.4: an alert record with empty content (padding or not) is
         * unexpected_message, as an empty handshake record is; 5.1: an
         * alert must not fall inside a split handshake message. */
        if (n == 0 || t->hsmsg.len) return ALERT(UNEXPECTED_MESSAGE);
        return handle_alert(t, p, n);
    default:
        /* Application data before keys, a protected CCS, or an unknown type. */
        return ALERT(UNEXPECTED_MESSAGE);
    }
}

/* Every public function that may derive a key returns through this: what
 * the derivation left in libcrypto's cached HMAC context (the last key:
 * a handshake, traffic or resumption secret) is wiped before the caller
 * gets control back, so no secret outlives its connection there. */
static int forget(int r)
{
    crypto_hmac_forget();
    return r;
}

static int recv_records(moat_tls *t, const uint8_t *in, size_t len, moat_buf *out, moat_buf *app)
{
    if (!t || t->state == ST_DEAD) return MOAT_ERR_STATE;
    if (!t->is_server && t->state == ST_START) return MOAT_ERR_STATE; /* moat_tls_start first */
    int pr = tls_unpark(t);
    if (pr) return fail(t, pr, NULL); /* no key to protect an alert with */
    while (len > 0 && !t->peer_closed) {
        const uint8_t *rec;
        size_t reclen;
        if (t->rx.len == 0 && len >= 5 && len >= 5 + ((size_t)in[3] << 8 | in[4])) {
            rec = in; /* a whole record in the input: no copy */
        } else {
            /* Gather a header, then the body, in rx. */
            size_t need = 5;
            if (t->rx.len >= 5) need = 5 + ((size_t)t->rx.base[3] << 8 | t->rx.base[4]);
            size_t take = need - t->rx.len < len ? need - t->rx.len : len;
            int r = moat_buf_append(&t->rx, in, take);
            if (r) return fail(t, r, out);
            in += take;
            len -= take;
            if (t->rx.len == 5 && (r = tls_check_header(t, t->rx.base))) return fail(t, r, out);
            if (t->rx.len < 5 || t->rx.len < 5 + ((size_t)t->rx.base[3] << 8 | t->rx.base[4]))
                continue;
            rec = NULL;
        }
        if (rec) {
            int r = tls_check_header(t, rec);
            if (r) return fail(t, r, out);
            reclen = 5 + ((size_t)rec[3] << 8 | rec[4]);
            in += reclen;
            len -= reclen;
        } else {
            rec = t->rx.base;
            reclen = t->rx.len;
        }
        int r = handle_record(t, rec, reclen - 5, out, app);
        if (rec == t->rx.base) moat_buf_clear(&t->rx);
        if (r) return fail(t, r, out);
    }
    /* Nothing partial waits: the gathering buffers go back (wiped), so an
     * idle connection holds keys and little else (a record that came in
     * pieces, or the handshake's messages, would keep their capacity). */
    if (!t->rx.len) moat_buf_free(&t->rx);
    if (!t->hsmsg.len && t->state == ST_CONNECTED) moat_buf_free(&t->hsmsg);
    return 0;
}

int moat_tls_recv(moat_tls *t, const uint8_t *in, size_t len, moat_buf *out, moat_buf *app)
{
    return forget(recv_records(t, in, len, out, app));
}

int moat_tls_start(moat_tls *t, moat_buf *out)
{
    if (!t || t->state == ST_DEAD) return MOAT_ERR_STATE;
    if (t->is_server) return 0;
    if (t->state != ST_START) return MOAT_ERR_STATE;
    int r = tls_client_start(t, out);
    return forget(r ? fail(t, r, NULL) : 0);
}

static int send_data(moat_tls *t, moat_buf *out, const void *data, size_t len)
{
    if (!t || t->state != ST_CONNECTED || t->sent_close) return MOAT_ERR_STATE;
    int pr = tls_unpark(t);
    if (pr) return fail(t, pr, NULL); /* no key to protect an alert with */
    const uint8_t *p = data;
    do {
        size_t n = len > TLS_MAX_PLAIN ? TLS_MAX_PLAIN : len;
        int r = 0;
        /* 5.5: change keys before a key has protected too many records. */
        if (t->wr.seq >= t->key_limit) r = tls_send_key_update(t, out, 0);
        if (!r) r = tls_seal(t, CT_APPDATA, p, n, out);
        if (r) return fail(t, r, out);
        t->ku_fresh = 0;
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int moat_tls_send(moat_tls *t, moat_buf *out, const void *data, size_t len)
{
    return forget(send_data(t, out, data, len));
}

/* The room of one record's data, and all a record takes around it. */
static size_t record_span(const moat_tls *t)
{
    return rl_prefix(&t->wr) + TLS_MAX_PLAIN + rl_suffix(&t->wr);
}

static int send_space(moat_tls *t, moat_buf *out, size_t len, struct iovec *iov, size_t max)
{
    if (!t || t->state != ST_CONNECTED || t->sent_close) return MOAT_ERR_STATE;
    t->send_room = 0;
    if (!out || !iov || !len || !max) return MOAT_ERR_ARG;
    int r = tls_unpark(t);
    if (r) return fail(t, r, NULL); /* no key to protect an alert with */
    /* 5.5: change keys before a key has protected too many records, and
     * let no reservation run past the limit. */
    if (t->wr.seq >= t->key_limit && (r = tls_send_key_update(t, out, 0))) return fail(t, r, out);
    uint64_t left = t->key_limit - t->wr.seq;
    size_t k = (len + TLS_MAX_PLAIN - 1) / TLS_MAX_PLAIN;
    if (k > max) k = max;
    if (k > left) k = (size_t)left;
    if (len > k * TLS_MAX_PLAIN) len = k * TLS_MAX_PLAIN;
    size_t span = record_span(t), last = len - (k - 1) * TLS_MAX_PLAIN;
    if ((r = moat_buf_reserve(out, (k - 1) * span + span - TLS_MAX_PLAIN + last)))
        return r; /* nothing changed: the caller may try again */
    uint8_t *p = out->base + out->len + rl_prefix(&t->wr);
    for (size_t i = 0; i < k; i++, p += span) {
        iov[i].iov_base = p;
        iov[i].iov_len = i + 1 < k ? TLS_MAX_PLAIN : last;
    }
    t->send_room = len;
    return (int)k;
}

int moat_tls_send_space(moat_tls *t, moat_buf *out, size_t len, struct iovec *iov, size_t max)
{
    return forget(send_space(t, out, len, iov, max));
}

int moat_tls_send_seal(moat_tls *t, moat_buf *out, size_t len)
{
    if (!t || t->state != ST_CONNECTED || t->sent_close) return MOAT_ERR_STATE;
    if (!out || len > t->send_room) return MOAT_ERR_ARG;
    t->send_room = 0;
    size_t pre = rl_prefix(&t->wr), post = rl_suffix(&t->wr);
    while (len > 0) {
        size_t n = len > TLS_MAX_PLAIN ? TLS_MAX_PLAIN : len;
        uint8_t *rec = out->base + out->len;
        int r = rl_seal_at(&t->wr, CT_APPDATA, rec, rec + pre, n);
        if (r) return fail(t, r, out);
        out->len += pre + n + post;
        if (t->observe) t->observe(t->observe_arg, MOAT_EV_RECORD_SENT, rec, 5, CT_APPDATA);
        t->ku_fresh = 0;
        len -= n; /* only the last record is short: the next one starts here */
    }
    return 0;
}

int moat_tls_close(moat_tls *t, moat_buf *out)
{
    if (!t || t->state == ST_DEAD) return MOAT_ERR_STATE;
    if (t->sent_close) return 0;
    int pr = forget(tls_unpark(t));
    if (pr) return fail(t, pr, NULL);
    t->sent_close = 1;
    return tls_send_alert(t, out, 1, MOAT_ALERT_CLOSE_NOTIFY);
}

int moat_tls_key_update(moat_tls *t, moat_buf *out, int request_peer)
{
    if (!t || t->state != ST_CONNECTED || t->sent_close || t->version != TLS_V13)
        return MOAT_ERR_STATE;
    int r = tls_unpark(t);
    if (r) return forget(fail(t, r, NULL));
    r = tls_send_key_update(t, out, request_peer ? 1 : 0);
    return forget(r ? fail(t, r, out) : 0);
}

int moat_tls_export(moat_tls *t, const char *label, const uint8_t *ctx, size_t ctxlen, uint8_t *out,
                    size_t outlen)
{
    /* 1.3's exporter (7.5) only: a 1.2 connection has no exporter secret. */
    if (!t || t->state != ST_CONNECTED || t->version != TLS_V13) return MOAT_ERR_STATE;
    uint8_t empty[MOAT_HASH_MAX], hctx[MOAT_HASH_MAX], sec[MOAT_HASH_MAX];
    int r = crypto_hash(t->hash, "", 0, empty);
    if (!r) r = crypto_hash(t->hash, ctx ? ctx : (const uint8_t *)"", ctx ? ctxlen : 0, hctx);
    if (!r) r = ks_derive_secret(t->hash, t->exporter, label, empty, sec);
    if (!r) r = ks_expand_label(t->hash, sec, "exporter", hctx, t->hlen, out, outlen);
    moat_wipe(sec, sizeof sec);
    return forget(r);
}

int moat_tls_handshake_done(const moat_tls *t)
{
    return t && t->state == ST_CONNECTED;
}
int moat_tls_peer_closed(const moat_tls *t)
{
    return t && t->peer_closed;
}
int moat_tls_is_server(const moat_tls *t)
{
    return t && t->is_server;
}
uint16_t moat_tls_get_cipher(const moat_tls *t)
{
    return t->suite;
}
uint16_t moat_tls_get_version(const moat_tls *t)
{
    return t->version;
}
uint16_t moat_tls_get_group(const moat_tls *t)
{
    return t->group;
}
uint16_t moat_tls_get_sigscheme(const moat_tls *t)
{
    return t->sigscheme;
}
int moat_tls_did_hrr(const moat_tls *t)
{
    return t->did_hrr;
}
const char *moat_tls_get_alpn(const moat_tls *t)
{
    return t->alpn;
}
const char *moat_tls_get_sni(const moat_tls *t)
{
    return t->sni;
}
const char *moat_tls_verify_error(const moat_tls *t)
{
    return TX(t)->verdict.reason[0] ? TX(t)->verdict.reason : NULL;
}
const char *moat_tls_refusal(const moat_tls *t)
{
    return TX(t)->refusal[0] ? TX(t)->refusal : NULL;
}
const char *moat_tls_verify_code(const moat_tls *t)
{
    return TX(t)->verdict.reason[0] ? TX(t)->verdict.code : NULL;
}
const char *moat_tls_ocsp_ignored(const moat_tls *t)
{
    return TX(t)->verdict.staple[0] ? TX(t)->verdict.staple : NULL;
}
