/* TLS 1.2 known answers: the PRF (RFC 5246 5) with SHA-256 and SHA-384,
 * the extended master secret (RFC 7627), the key block (6.3), Finished
 * (7.4.9), and the AEAD records with the nonces of RFC 5288 (GCM) and
 * RFC 7905 (ChaCha20-Poly1305). The PRF values are the published test
 * vectors (the IETF TLS list's, which `openssl kdf TLS1-PRF` also gives);
 * the others were computed with `openssl kdf ... TLS1-PRF` and, for the
 * records, Python's cryptography AEADs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tls/internal.h"

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; s[0] && s[1]; s += 2)
        sscanf(s, "%2hhx", &out[n++]);
    return n;
}

static int same_hex(const uint8_t *got, size_t n, const char *want)
{
    uint8_t w[512];
    size_t wn = unhex(want, w);
    return wn == n && !memcmp(got, w, n);
}

static void seq_bytes(uint8_t *p, uint8_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(from + i);
}

static void test_prf(void)
{
    uint8_t secret[16], seed[16], out[148];
    unhex("9bbe436ba940f017b17652849a71db35", secret);
    unhex("a0ba9f936cda311827a6f796ffd5198c", seed);
    int r = ks12_prf(MOAT_HASH_SHA256, secret, 16, "test label", seed, 16, NULL, 0, out, 100);
    check(!r && same_hex(out, 100,
                         "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b3017"
                         "91e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9d"
                         "ef9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66"),
          "PRF SHA-256: the published 100-byte vector");
    unhex("b80b733d6ceefcdc71566ea48e5567df", secret);
    unhex("cd665cf6a8447dd6ff8b27555edb7465", seed);
    r = ks12_prf(MOAT_HASH_SHA384, secret, 16, "test label", seed, 8, seed + 8, 8, out, 148);
    check(!r && same_hex(out, 148,
                         "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0f"
                         "aa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9"
                         "e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31"
                         "e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be8"
                         "5e0990703d73e56f"),
          "PRF SHA-384: the published 148-byte vector, its seed in two parts");
    check(ks12_prf(MOAT_HASH_SHA256, secret, 16, "x", seed, 100, seed, 100, out, 10) != 0,
          "PRF: a seed over its cap is refused");
}

static void test_ems_and_keys(void)
{
    uint8_t pms[32], sh[48], ms[48], cr[32], sr[32], key[32], iv[12], fin[12];
    seq_bytes(pms, 1, 32);
    seq_bytes(sh, 0x40, 48);
    int r = ks12_ems(MOAT_HASH_SHA256, pms, 32, sh, ms);
    check(!r && same_hex(ms, 48,
                         "f8b6bdb334d1ebe2801447e98d6f8716b1ef84f569790f4bec18a0c6cb193514be89a5"
                         "ba50ddf525fa16c21471b33228"),
          "extended master secret, SHA-256");
    r = ks12_ems(MOAT_HASH_SHA384, pms, 32, sh, ms);
    check(!r && same_hex(ms, 48,
                         "4e54cc20bafbdd9d04fe868dbccf09507c90848ee128a08c5fad1171bce92f8e01c6e1"
                         "6ced6c8a601d8b2d68c96d5326"),
          "extended master secret, SHA-384 (a 48-byte session hash)");
    seq_bytes(ms, 0x80, 48);
    seq_bytes(cr, 0x00, 32);
    seq_bytes(sr, 0x20, 32);
    /* key block 128-GCM: ckey(16) skey(16) civ(4) siv(4) */
    const char *kb128 = "0cfe337ef516fad72c8a1d8d51e8364f27251e7621b5a0f81dc42c8b1632743cee623119"
                        "ed0d8b3d";
    uint8_t want[88];
    unhex(kb128, want);
    r = ks12_keys(MOAT_HASH_SHA256, MOAT_AEAD_AES128_GCM, ms, cr, sr, 0, key, iv);
    check(!r && !memcmp(key, want, 16) && !memcmp(iv, want + 32, 4) && !iv[4] && !iv[11],
          "key block, AES-128-GCM: the client's key and 4-byte salt");
    r = ks12_keys(MOAT_HASH_SHA256, MOAT_AEAD_AES128_GCM, ms, cr, sr, 1, key, iv);
    check(!r && !memcmp(key, want + 16, 16) && !memcmp(iv, want + 36, 4),
          "key block, AES-128-GCM: the server's key and salt");
    unhex("04cd3cff88a0aafed3b2bc4f07bec99a9ee24c6d272b1a23cf6b9049d161fc4899327398067e42b377"
          "366e149ec2527e0ae8a5074b235be63442c79345b0ae47e7e32d739f64fd20",
          want);
    r = ks12_keys(MOAT_HASH_SHA384, MOAT_AEAD_AES256_GCM, ms, cr, sr, 1, key, iv);
    check(!r && !memcmp(key, want + 32, 32) && !memcmp(iv, want + 68, 4),
          "key block, AES-256-GCM with SHA-384: the server's key and salt");
    unhex("0cfe337ef516fad72c8a1d8d51e8364f27251e7621b5a0f81dc42c8b1632743cee623119ed0d8b3d35"
          "12e08287723431b63d8c757a33a5c855cc3529ab5cf621c369f6f945b42a5d6d06e2ed3ef76acfd836"
          "3173170f443f",
          want);
    r = ks12_keys(MOAT_HASH_SHA256, MOAT_AEAD_CHACHA20_POLY1305, ms, cr, sr, 0, key, iv);
    check(!r && !memcmp(key, want, 32) && !memcmp(iv, want + 64, 12),
          "key block, ChaCha20-Poly1305: the client's key and 12-byte IV");
    r = ks12_keys(MOAT_HASH_SHA256, MOAT_AEAD_CHACHA20_POLY1305, ms, cr, sr, 1, key, iv);
    check(!r && !memcmp(key, want + 32, 32) && !memcmp(iv, want + 76, 12),
          "key block, ChaCha20-Poly1305: the server's key and IV");
    r = ks12_finished(MOAT_HASH_SHA256, ms, 0, sh, fin);
    check(!r && same_hex(fin, 12, "a621cda8ec5eb82e90a5c7ed"), "client Finished verify_data");
}

static void test_nonces(void)
{
    uint8_t iv[12], nonce[12], ex[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    seq_bytes(iv, 0xa0, 12);
    ks12_nonce(MOAT_AEAD_AES128_GCM, iv, 99, ex, nonce);
    check(same_hex(nonce, 12, "a0a1a2a30102030405060708"),
          "RFC 5288: the GCM nonce is the salt then the explicit nonce");
    ks12_nonce(MOAT_AEAD_CHACHA20_POLY1305, iv, 0x0102030405060708ull, NULL, nonce);
    check(same_hex(nonce, 12, "a0a1a2a3a5a7a5a3adafada3"),
          "RFC 7905: the ChaCha20 nonce is the IV XORed with the sequence number");
}

static void test_records(void)
{
    static const char pt[] = "hello, TLS 1.2";
    const size_t n = sizeof pt - 1;
    uint8_t key[32], iv[12] = {0xa0, 0xa1, 0xa2, 0xa3}, plain[64], type;
    size_t len;
    tls_dir w, r;
    moat_buf out;
    moat_buf_init(&out);

    memset(&w, 0, sizeof w);
    memset(&r, 0, sizeof r);
    seq_bytes(key, 0, 16);
    rl12_set_keys(&w, MOAT_AEAD_AES128_GCM, 1, key, iv);
    rl12_set_keys(&r, MOAT_AEAD_AES128_GCM, 0, key, iv);
    w.seq = r.seq = 5;
    int e = rl_seal(&w, CT_APPDATA, (const uint8_t *)pt, n, &out);
    check(!e && same_hex(out.base, out.len,
                         "17030300260000000000000005b97bffd249f365b2c605cef51c7ce1daae808c1c503c"
                         "73b9b6bbbc2fb047"),
          "AES-128-GCM record: explicit nonce on the wire, AAD seq||type||version||length");
    e = rl_open(&r, out.base, out.base + 5, out.len - 5, plain, &type, &len);
    check(!e && type == CT_APPDATA && len == n && !memcmp(plain, pt, n) && r.seq == 6,
          "AES-128-GCM record opened");
    out.base[6] ^= 1; /* the explicit nonce */
    r.seq = 5;
    e = rl_open(&r, out.base, out.base + 5, out.len - 5, plain, &type, &len);
    check(e == ALERT(BAD_RECORD_MAC), "a changed explicit nonce is bad_record_mac");
    out.base[6] ^= 1;
    out.base[0] = CT_HANDSHAKE; /* the type is authenticated */
    e = rl_open(&r, out.base, out.base + 5, out.len - 5, plain, &type, &len);
    check(e == ALERT(BAD_RECORD_MAC), "a changed record type is bad_record_mac");
    rl_clear(&w);
    rl_clear(&r);

    moat_buf_clear(&out);
    seq_bytes(key, 0, 32);
    seq_bytes(iv, 1, 12);
    rl12_set_keys(&w, MOAT_AEAD_CHACHA20_POLY1305, 1, key, iv);
    rl12_set_keys(&r, MOAT_AEAD_CHACHA20_POLY1305, 0, key, iv);
    w.seq = r.seq = 5;
    e = rl_seal(&w, CT_APPDATA, (const uint8_t *)pt, n, &out);
    check(!e && same_hex(out.base, out.len,
                         "170303001ee5ddb798945f5ab101dabe488a720f008946ae4ed759528be28c8ef72cb"
                         "9"),
          "ChaCha20-Poly1305 record: no explicit nonce");
    e = rl_open(&r, out.base, out.base + 5, out.len - 5, plain, &type, &len);
    check(!e && len == n && !memcmp(plain, pt, n), "ChaCha20-Poly1305 record opened");
    e = rl_open(&r, out.base, out.base + 5, out.len - 5, plain, &type, &len);
    check(e == ALERT(BAD_RECORD_MAC), "a replayed record (the next sequence number) fails");
    e = rl_open(&r, out.base, out.base + 5, 15, plain, &type, &len);
    check(e == ALERT(BAD_RECORD_MAC), "a record shorter than its tag is bad_record_mac");

    /* 2^14 limits: a full record seals, one byte more does not; a
     * plaintext over 2^14 is record_overflow. */
    uint8_t *big = calloc(1, TLS_MAX_PLAIN + 64);
    moat_buf_clear(&out);
    e = rl_seal(&w, CT_APPDATA, big, TLS_MAX_PLAIN, &out);
    check(!e && out.len == 5 + TLS_MAX_PLAIN + 16, "a 2^14-byte record seals");
    check(rl_seal(&w, CT_APPDATA, big, TLS_MAX_PLAIN + 1, &out) == MOAT_ERR_ARG,
          "a 2^14+1-byte record does not");
    e = rl_open(&r, out.base, out.base + 5, TLS_MAX_PLAIN + 17, big, &type, &len);
    check(e == ALERT(RECORD_OVERFLOW), "a record claiming 2^14+1 bytes is record_overflow");
    free(big);
    rl_clear(&w);
    rl_clear(&r);
    moat_buf_free(&out);
}

/* ---- moat against moat in TLS 1.2 */

static moat_tls_config *client12(void)
{
    moat_tls_config *c = client_config("ca");
    moat_tls_config_set_versions(c, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_2);
    return c;
}

/* Data both ways over an established pair. */
static int both_ways(pair_t *p)
{
    static const char a[] = "ping over 1.2", b[] = "pong over 1.2";
    moat_buf_clear(&p->s_app);
    moat_buf_clear(&p->c_app);
    int r = pair_send(p->c, p->s, a, sizeof a, &p->s_app, 1 << 20);
    if (!r) r = pair_send(p->s, p->c, b, sizeof b, &p->c_app, 1 << 20);
    return !r && p->s_app.len == sizeof a && !memcmp(p->s_app.base, a, sizeof a) &&
           p->c_app.len == sizeof b && !memcmp(p->c_app.base, b, sizeof b);
}

static void test_matrix(void)
{
    static const char *certs[] = {"p256", "p384", "rsa"};
    static const uint16_t aeads[] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                     MOAT_TLS_CHACHA20_POLY1305_SHA256};
    static const uint16_t groups[] = {MOAT_GROUP_X25519, MOAT_GROUP_SECP256R1,
                                      MOAT_GROUP_SECP384R1};
    static const uint16_t want[2][3] = {
        {TLS12_ECDHE_ECDSA_AES128_GCM_SHA256, TLS12_ECDHE_ECDSA_AES256_GCM_SHA384,
         TLS12_ECDHE_ECDSA_CHACHA20_POLY1305},
        {TLS12_ECDHE_RSA_AES128_GCM_SHA256, TLS12_ECDHE_RSA_AES256_GCM_SHA384,
         TLS12_ECDHE_RSA_CHACHA20_POLY1305}};
    moat_tls_config *cc = client12();
    for (int c = 0; c < 3; c++)
        for (int a = 0; a < 3; a++)
            for (int g = 0; g < 3; g++) {
                moat_tls_config *sc = server_config(certs[c]);
                moat_tls_config_set_ciphers(sc, &aeads[a], 1);
                moat_tls_config_set_groups(sc, &groups[g], 1);
                pair_t p;
                int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
                uint16_t suite = want[c == 2][a];
                check(!r && moat_tls_get_version(p.c) == MOAT_TLS_VERSION_1_2 &&
                          moat_tls_get_version(p.s) == MOAT_TLS_VERSION_1_2 &&
                          moat_tls_get_cipher(p.c) == suite && moat_tls_get_cipher(p.s) == suite &&
                          moat_tls_get_group(p.c) == groups[g] && both_ways(&p),
                      "1.2 %s %s %s (%d)", certs[c], moat_tls_cipher_name(suite),
                      moat_tls_group_name(groups[g]), r);
                pair_free(&p);
                moat_tls_config_free(sc);
            }
    moat_tls_config_free(cc);
}

static void test_versions(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_tls_config *cc12 = client12(), *sc12 = server_config("p256");
    moat_tls_config_set_versions(sc12, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_2);
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(!r && moat_tls_get_version(p.c) == MOAT_TLS_VERSION_1_3,
          "both speak 1.2 and 1.3: 1.3 is chosen");
    pair_free(&p);
    r = pair_handshake(&p, cc, sc12, "localhost", 1 << 20);
    check(!r && moat_tls_get_version(p.c) == MOAT_TLS_VERSION_1_2 && both_ways(&p),
          "a 1.2-only server: the default client speaks 1.2 (no sentinel: it speaks no 1.3)");
    pair_free(&p);
    moat_tls_config_set_versions(cc, MOAT_TLS_VERSION_1_3, MOAT_TLS_VERSION_1_3);
    r = pair_handshake(&p, cc, sc12, "localhost", 1 << 20);
    check(r == MOAT_ERR_PEER_ALERT(MOAT_ALERT_PROTOCOL_VERSION) || r == ALERT(PROTOCOL_VERSION),
          "a 1.3-only client and a 1.2-only server: protocol_version (%d)", r);
    pair_free(&p);

    /* The sentinel: a 1.3 server that negotiates 1.2 says so. */
    moat_tls *c = moat_tls_client_new(cc12, "localhost"), *s = moat_tls_server_new(sc);
    moat_buf to_s, to_c, app;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    moat_buf_init(&app);
    moat_tls_start(c, &to_s);
    r = moat_tls_recv(s, to_s.base, to_s.len, &to_c, &app);
    /* record header 5, handshake header 4, version 2, then the random */
    check(!r && to_c.len > 5 + 4 + 2 + 32 && !memcmp(to_c.base + 11 + 24, tls12_downgrade, 8),
          "a 1.3 server negotiating 1.2 ends ServerHello.random with DOWNGRD 01");
    moat_buf to_s2;
    moat_buf_init(&to_s2);
    r = moat_tls_recv(c, to_c.base, to_c.len, &to_s2, &app);
    check(r == 0, "a client that offered only 1.2 takes it");
    moat_tls_free(c);
    moat_tls_free(s);
    moat_buf_free(&to_s2);
    /* A client that offered 1.3 and sees the sentinel aborts. */
    moat_tls_config_set_versions(cc, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_3);
    c = moat_tls_client_new(cc, "localhost");
    s = moat_tls_server_new(sc12);
    moat_buf_clear(&to_s);
    moat_buf_clear(&to_c);
    moat_tls_start(c, &to_s);
    moat_tls_recv(s, to_s.base, to_s.len, &to_c, &app);
    memcpy(to_c.base + 11 + 24, tls12_downgrade, 8);
    moat_buf_clear(&to_s);
    r = moat_tls_recv(c, to_c.base, to_c.len, &to_s, &app);
    check(r == ALERT(ILLEGAL_PARAMETER) && to_s.len == 7 && to_s.base[6] == 47,
          "a client that offered 1.3 sees DOWNGRD in a 1.2 ServerHello: illegal_parameter");
    moat_tls_free(c);
    moat_tls_free(s);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    moat_buf_free(&app);
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
    moat_tls_config_free(cc12);
    moat_tls_config_free(sc12);
}

static void test_resumption_and_auth(void)
{
    moat_tls_config *sc = server_config("rsa"), *cc = client12();
    char err[256];
    moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err);
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_REQUIRE);
    moat_tls_config_add_cert_file(cc, cpath("alice", "pem"), cpath("alice", "key"), err,
                                  sizeof err);
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    const char *id = r ? NULL : moat_tls_get_peer_identity(p.s);
    check(!r && id && strstr(id, "alice") && both_ways(&p),
          "1.2 client certificate: the server knows alice (%d)", r);
    moat_buf sess;
    moat_buf_init(&sess);
    r = r ? r : moat_tls_get_session(p.c, &sess);
    check(!r && sess.len > 0, "a 1.2 session is saved");
    pair_free(&p);
    /* Resumed: the abbreviated handshake, the identity from the ticket. */
    memset(&p, 0, sizeof p);
    p.c = moat_tls_client_new(cc, "localhost");
    p.s = moat_tls_server_new(sc);
    r = moat_tls_set_session(p.c, sess.base, sess.len);
    moat_buf to_s, to_c;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    if (!r) r = moat_tls_start(p.c, &to_s);
    if (!r) r = pair_pump(&p, &to_s, &to_c, 1 << 20);
    id = r ? NULL : moat_tls_get_peer_identity(p.s);
    check(!r && moat_tls_resumed(p.c) && moat_tls_resumed(p.s) &&
              moat_tls_get_version(p.c) == MOAT_TLS_VERSION_1_2 && id && strstr(id, "alice") &&
              both_ways(&p),
          "1.2 resumption with a ticket keeps the identity (%d)", r);
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    moat_buf_free(&sess);
    /* Without a certificate, a server that requires one refuses. */
    moat_tls_config *cc2 = client12();
    r = pair_handshake(&p, cc2, sc, "localhost", 1 << 20);
    check(r == ALERT(HANDSHAKE_FAILURE) || r == MOAT_ERR_PEER_ALERT(MOAT_ALERT_HANDSHAKE_FAILURE),
          "1.2 without the required client certificate: handshake_failure (%d)", r);
    pair_free(&p);
    moat_tls_config_free(cc2);
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
}

static void test_one_byte_and_renegotiation(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client12();
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1);
    check(!r && moat_tls_get_version(p.s) == MOAT_TLS_VERSION_1_2,
          "1.2 handshake one byte at a time (%d)", r);
    uint8_t ekm[32];
    moat_buf ku;
    moat_buf_init(&ku);
    check(moat_tls_export(p.c, "EXPORTER-test", NULL, 0, ekm, sizeof ekm) == MOAT_ERR_STATE &&
              moat_tls_key_update(p.c, &ku, 0) == MOAT_ERR_STATE && ku.len == 0,
          "1.2: no 1.3 exporter and no KeyUpdate (MOAT_ERR_STATE, nothing sent)");
    moat_buf_free(&ku);
    moat_buf_clear(&p.s_app);
    static const char big[3000] = "x";
    r = r ? r : pair_send(p.c, p.s, big, sizeof big, &p.s_app, 1);
    check(!r && p.s_app.len == sizeof big, "1.2 records one byte at a time");
    /* A renegotiating ClientHello: a no_renegotiation warning, and on. */
    moat_buf wire, back;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    static const uint8_t ch[8] = {HS_CLIENT_HELLO, 0, 0, 4, 3, 3, 0, 0};
    tls_seal(p.c, CT_HANDSHAKE, ch, sizeof ch, &wire);
    r = moat_tls_recv(p.s, wire.base, wire.len, &back, &p.s_app);
    check(r == 0 && back.len > 0, "a renegotiating ClientHello is answered, not fatal");
    moat_buf_clear(&p.c_app);
    int rc = moat_tls_recv(p.c, back.base, back.len, &wire, &p.c_app);
    check(rc == 0 && both_ways(&p), "with a warning (no_renegotiation), and data still flows");
    moat_buf_free(&wire);
    moat_buf_free(&back);
    pair_free(&p);
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
}

int main(void)
{
    crypto_init();
    test_prf();
    test_ems_and_keys();
    test_nonces();
    test_records();
    crypto_hmac_forget();
    if (make_certs()) {
        check(0, "test certificates made");
        return 1;
    }
    test_matrix();
    test_versions();
    test_resumption_and_auth();
    test_one_byte_and_renegotiation();
    remove_certs();
    return failures ? 1 : 0;
}
