/* The metrics registry (src/server/metrics.c): the layout, worker
 * processes counting in their own shared blocks while the master sums
 * them, and the exposition text exactly. `test_metrics --dump` prints a
 * sample exposition instead (interop/88-metrics-promtool.sh checks it
 * with promtool). */
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "moat/error.h"
#include "server/metrics.h"

static const char *const certs[] = {"localhost", "we\"ird\\name\n"};
static const char *const backends[] = {"127.0.0.1:8080", "[::1]:9000"};
static const struct metrics_names names = {certs, 2, backends, 2};
#define NOW 1800000000

/* What one worker does: its own block only. */
static void work(const struct metrics *m, size_t slot)
{
    uint64_t *b = metrics_block(m, slot);
    for (int i = 0; i < 1000; i++) {
        metrics_add(m, b, M_CONNECTIONS_ACCEPTED, 0, 0, 1);
        metrics_add(m, b, M_REQUESTS, metrics_method("GET", 3), metrics_status(200), 1);
        metrics_add(m, b, M_SENT_BYTES, 0, 0, 100);
    }
    metrics_add(m, b, M_CONNECTIONS_OPEN, 0, 0, 3);
    metrics_sub(m, b, M_CONNECTIONS_OPEN, 0, 0, 1);
    metrics_add(m, b, M_HANDSHAKES, OUTCOME_FULL, 0, slot);
    metrics_add(m, b, M_HANDSHAKES, OUTCOME_RESUMED, 0, 1);
    metrics_add(m, b, M_HANDSHAKES, OUTCOME_FAILED, 0, 1);
    metrics_add(m, b, M_HANDSHAKE_FAILURES, metrics_alert(40), 0, 1);
    metrics_add(m, b, M_REQUESTS, metrics_method("BREW", 4), metrics_status(418), 1);
    metrics_add(m, b, M_REQUESTS, metrics_method("GET", 3), metrics_status(600), 1); /* dropped */
    metrics_observe(m, b, M_REQUEST_DURATION, 3000);     /* 0.003 s: le 0.005 */
    metrics_observe(m, b, M_REQUEST_DURATION, 250000);   /* 0.25 s: le 0.25 exactly */
    metrics_observe(m, b, M_REQUEST_DURATION, 60000000); /* 60 s: +Inf only */
    metrics_set(m, b, M_BACKEND_UP, 0, 0, slot == 2);
    metrics_add(m, b, M_BACKEND_ERRORS, 1, BACKEND_ERR_TIMEOUT, 1);
    metrics_add(m, b, M_TLS_GROUPS, GROUP_X25519MLKEM768, 0, 1);
    metrics_add(m, b, M_TLS_SUITES, 7, 0, 1); /* no such suite: dropped */
}

static int has(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    return strstr(text, want) != NULL;
}

static void expect(const char *text, const char *line)
{
    check(has(text, line), "metrics: exposition has \"%s\"", line);
}

static int setup(struct metrics *m)
{
    if (metrics_init(m, 3, &names) || metrics_map(m)) return -1;
    uint64_t *master = metrics_block(m, 0);
    metrics_add(m, master, M_WORKER_RESTARTS, 0, 0, 2);
    metrics_set(m, master, M_CERT_EXPIRY, 0, 0, NOW + 86400);
    metrics_set(m, master, M_CERT_EXPIRY, 1, 0, NOW - 10);
    metrics_set(m, master, M_TICKET_KEY_AGE, 0, 0, NOW - 3600);
    /* Three worker processes, each in its own block of the shared map. */
    for (size_t slot = 1; slot <= 3; slot++) {
        pid_t pid = fork();
        if (pid == 0) {
            work(m, slot);
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, NULL, 0) != pid) return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct metrics m;
    int ok = setup(&m) == 0;
    moat_buf out;
    moat_buf_init(&out);
    ok = ok && metrics_render(&m, NOW, &out) == 0 && moat_buf_append(&out, "", 1) == 0;
    if (argc > 1 && !strcmp(argv[1], "--dump")) {
        fputs(ok ? (const char *)out.base : "", stdout);
        fflush(stdout);
        moat_buf_free(&out);
        metrics_free(&m);
        return ok ? 0 : 1;
    }
    check(ok, "metrics: init, map, three forked workers, render");
    if (!ok) return 1;
    check(m.block % 64 == 0 && m.block >= m.nvalues * 8 && m.nblocks == 4,
          "metrics: 4 blocks of %zu bytes (64-byte multiples) for %zu values", m.block, m.nvalues);
    const char *text = (const char *)out.base;
    /* has() looks for "\n" LINE "\n": a newline before the first line too. */
    char *withnl = malloc(out.len + 2);
    withnl[0] = '\n';
    memcpy(withnl + 1, text, out.len);
    expect(withnl, "# HELP moat_connections_accepted_total Connections accepted on the HTTPS "
                   "listeners.");
    expect(withnl, "# TYPE moat_connections_accepted_total counter");
    expect(withnl, "moat_connections_accepted_total 3000");
    expect(withnl, "# TYPE moat_connections_open gauge");
    expect(withnl, "moat_connections_open 6");
    expect(withnl, "moat_tls_handshakes_total{outcome=\"full\"} 6");
    expect(withnl, "moat_tls_handshakes_total{outcome=\"resumed\"} 3");
    expect(withnl, "moat_tls_handshakes_total{outcome=\"failed\"} 3");
    expect(withnl, "moat_tls_handshake_failures_total{alert=\"handshake_failure\"} 3");
    expect(withnl, "moat_tls_handshake_failures_total{alert=\"other\"} 0");
    expect(withnl, "moat_tls_groups_negotiated_total{group=\"X25519MLKEM768\"} 3");
    expect(withnl, "moat_tls_cipher_suites_negotiated_total{suite=\"TLS_AES_128_GCM_SHA256\"} 0");
    expect(withnl, "moat_http_requests_total{method=\"GET\",code=\"2xx\"} 3000");
    expect(withnl, "moat_http_requests_total{method=\"other\",code=\"4xx\"} 3");
    expect(withnl, "moat_http_requests_total{method=\"GET\",code=\"5xx\"} 0");
    expect(withnl, "moat_sent_bytes_total 300000");
    expect(withnl, "moat_received_bytes_total 0");
    expect(withnl, "# TYPE moat_http_request_duration_seconds histogram");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"0.005\"} 3");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"0.1\"} 3");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"0.25\"} 6");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"1\"} 6");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"10\"} 6");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"+Inf\"} 9");
    expect(withnl, "moat_http_request_duration_seconds_count 9");
    expect(withnl, "moat_http_request_duration_seconds_sum 180.759000");
    expect(withnl, "moat_proxy_backend_up{backend=\"127.0.0.1:8080\"} 1");
    expect(withnl, "moat_proxy_backend_up{backend=\"[::1]:9000\"} 0");
    expect(withnl, "moat_proxy_backend_errors_total{backend=\"[::1]:9000\",error=\"timeout\"} 3");
    expect(withnl,
           "moat_proxy_backend_errors_total{backend=\"127.0.0.1:8080\",error=\"connect\"} 0");
    expect(withnl, "moat_worker_restarts_total 2");
    expect(withnl, "moat_certificate_expiry_seconds{name=\"localhost\"} 86400");
    expect(withnl, "moat_certificate_expiry_seconds{name=\"we\\\"ird\\\\name\\n\"} -10");
    expect(withnl, "moat_ticket_key_age_seconds 3600");
    check(!strstr(text, "code=\"6xx\"") && !strstr(withnl, "\n\n"),
          "metrics: no 6xx series, no empty line");

    /* A worker gone: its open connections and backend view reset, its
     * counters kept (the next worker in the slot counts on from them). */
    metrics_reset_gauges(&m, 2);
    moat_buf_clear(&out);
    ok = metrics_render(&m, NOW, &out) == 0 && moat_buf_append(&out, "", 1) == 0;
    free(withnl);
    withnl = malloc(out.len + 2);
    withnl[0] = '\n';
    memcpy(withnl + 1, out.base, out.len);
    expect(withnl, "moat_connections_open 4");
    expect(withnl, "moat_proxy_backend_up{backend=\"127.0.0.1:8080\"} 0");
    expect(withnl, "moat_connections_accepted_total 3000");
    free(withnl);

    /* An unset time shows no series; a too-long name is refused. */
    struct metrics e;
    check(metrics_init(&e, 0, NULL) == 0 && metrics_map(&e) == 0, "metrics: no names, no workers");
    moat_buf_clear(&out);
    check(metrics_render(&e, NOW, &out) == 0 && out.len && moat_buf_append(&out, "", 1) == 0 &&
              !strstr((char *)out.base, "\nmoat_ticket_key_age_seconds ") &&
              !strstr((char *)out.base, "moat_certificate_expiry_seconds{"),
          "metrics: no ticket key age or certificate series until set");
    metrics_free(&e);
    char longname[300];
    memset(longname, 'a', 299);
    longname[299] = 0;
    const char *ln[] = {longname};
    struct metrics_names bad = {ln, 1, NULL, 0};
    check(metrics_init(&e, 1, &bad) != 0, "metrics: a 299-byte certificate name refused");
    check(metrics_method("GETX", 4) == metrics_method("BREW", 4) &&
              metrics_method("GET", 3) != metrics_method("get", 3),
          "metrics: methods match exactly, the rest is other");

    /* The process's own block: nothing counted before metrics_use, then
     * into slot 1's block only; alerts read from MOAT_ERR_ALERT. */
    struct metrics u;
    check(metrics_init(&u, 2, NULL) == 0 && metrics_map(&u) == 0, "metrics: a second registry");
    metrics_count(M_SENT_BYTES, 0, 0, 5); /* no block in use: dropped */
    metrics_use(&u, 1);
    metrics_count(M_SENT_BYTES, 0, 0, 7);
    metrics_conn_accepted();
    metrics_conn_accepted();
    metrics_uncount(M_CONNECTIONS_OPEN, 0, 0, 1);
    metrics_request("PUT", 3, 503, 1000, 251000); /* 0.25 s */
    metrics_request(NULL, 0, 400, 0, 5);          /* unparsed, no start: other, no duration */
    metrics_handshake_failed(MOAT_ERR_ALERT(70));
    metrics_handshake_failed(MOAT_ERR_NOMEM);
    metrics_use(NULL, 0);
    metrics_count(M_SENT_BYTES, 0, 0, 11); /* none again */
    moat_buf_clear(&out);
    ok = metrics_render(&u, NOW, &out) == 0 && moat_buf_append(&out, "", 1) == 0;
    withnl = malloc(out.len + 2);
    withnl[0] = '\n';
    memcpy(withnl + 1, out.base, out.len);
    check(ok && metrics_block(&u, 0)[u.base[M_SENT_BYTES]] == 0 &&
              metrics_block(&u, 1)[u.base[M_SENT_BYTES]] == 7,
          "metrics: counts go to the block in use, none without one");
    expect(withnl, "moat_sent_bytes_total 7");
    expect(withnl, "moat_connections_accepted_total 2");
    expect(withnl, "moat_connections_open 1");
    expect(withnl, "moat_http_requests_total{method=\"PUT\",code=\"5xx\"} 1");
    expect(withnl, "moat_http_requests_total{method=\"other\",code=\"4xx\"} 1");
    expect(withnl, "moat_http_request_duration_seconds_count 1");
    expect(withnl, "moat_http_request_duration_seconds_bucket{le=\"0.25\"} 1");
    expect(withnl, "moat_tls_handshakes_total{outcome=\"failed\"} 2");
    expect(withnl, "moat_tls_handshake_failures_total{alert=\"protocol_version\"} 1");
    expect(withnl, "moat_tls_handshake_failures_total{alert=\"other\"} 1");
    free(withnl);
    metrics_free(&u);
    moat_buf_free(&out);
    metrics_free(&m);
    return failures ? 1 : 0;
}
