/* Metrics for Prometheus: one table of every metric moat serve reports,
 * per-process blocks of plain counters in one shared mapping, and the
 * text exposition format 0.0.4 summed over the blocks.
 *
 * Memory: the master maps one region (MAP_SHARED|MAP_ANONYMOUS) before
 * it forks: block 0 is the master's own, blocks 1..nworkers are one per
 * worker slot. Each process writes only its own block, so there are no
 * locks: a writer adds with a relaxed atomic add (so the old and the new
 * worker of a slot, both alive for a while after a reload, never lose
 * each other's counts), and the renderer reads with relaxed atomic loads,
 * so it never sees a torn value. Blocks are 64-byte aligned so two workers
 * never share a cache line. A worker that dies leaves its block; the one
 * that replaces it keeps counting in it (counters never go back), and the
 * master zeroes the block's gauges (metrics_reset_gauges) since the open
 * connections they counted are gone. */
#ifndef MOAT_SERVER_METRICS_H
#define MOAT_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "moat/buf.h"
#include "moat/tls.h"

/* Every metric, in the order of the table in metrics.c. */
enum metric_id {
    M_CONNECTIONS_ACCEPTED, /* counter */
    M_CONNECTIONS_OPEN,     /* gauge, summed */
    M_HANDSHAKES,           /* counter {outcome} */
    M_HANDSHAKE_FAILURES,   /* counter {alert} */
    M_TLS_VERSIONS,         /* counter {version} */
    M_TLS_GROUPS,           /* counter {group} */
    M_TLS_SUITES,           /* counter {suite} */
    M_REQUESTS,             /* counter {method, code} */
    M_RECEIVED_BYTES,       /* counter */
    M_SENT_BYTES,           /* counter */
    M_REQUEST_DURATION,     /* histogram, observed in microseconds */
    M_BACKEND_UP,           /* gauge {backend}, the highest over blocks */
    M_BACKEND_ERRORS,       /* counter {backend, error} */
    M_WORKER_RESTARTS,      /* counter, the master's */
    M_CERT_EXPIRY,          /* gauge {name}: notAfter stored, seconds left shown */
    M_TICKET_KEY_AGE,       /* gauge: creation time stored, age shown */
    M__COUNT
};

/* Label values of the fixed label sets: pass these indexes as a and b. */
enum { OUTCOME_FULL, OUTCOME_RESUMED, OUTCOME_FAILED };
enum { VERSION_TLS13, VERSION_TLS12 };
enum { GROUP_X25519, GROUP_SECP256R1, GROUP_SECP384R1, GROUP_X25519MLKEM768 };
enum { SUITE_AES_128_GCM, SUITE_AES_256_GCM, SUITE_CHACHA20 };
enum { BACKEND_ERR_CONNECT, BACKEND_ERR_TIMEOUT, BACKEND_ERR_RESPONSE };

/* The histogram's upper bounds in seconds (+Inf implied), Prometheus's
 * default buckets, in microseconds. */
#define METRICS_NBUCKETS 11

/* The dynamic label values, known at start: certificate names and proxy
 * backends (their "host:port"). Copied by metrics_init. */
struct metrics_names {
    const char *const *certs;
    size_t ncerts;
    const char *const *backends;
    size_t nbackends;
};

/* The layout: where each series lives in a block. Read-only once built;
 * workers inherit it across fork. */
struct metrics {
    size_t base[M__COUNT]; /* index of the metric's first value in a block */
    size_t nvalues;        /* values per block */
    size_t block;          /* bytes per block, a multiple of 64 */
    size_t nblocks;        /* 1 + workers */
    uint64_t *shm;         /* nblocks blocks */
    char **certs, **backends;
    size_t ncerts, nbackends;
};

/* Builds the layout for 1 + nworkers blocks. Returns 0 or MOAT_ERR_NOMEM
 * (MOAT_ERR_ARG for a name longer than 255 bytes). The blocks are not
 * allocated: see metrics_map, or point m->shm at nblocks * block zeroed
 * bytes aligned to 64. */
int metrics_init(struct metrics *m, size_t nworkers, const struct metrics_names *names);

/* Maps the blocks shared and zeroed (mmap MAP_SHARED|MAP_ANONYMOUS), for a
 * master to fork workers after. Returns 0 or MOAT_ERR_NOMEM. */
int metrics_map(struct metrics *m);

/* Unmaps what metrics_map mapped (if anything) and frees the names. */
void metrics_free(struct metrics *m);

/* The block process `slot` writes (0: the master, 1..nworkers). */
uint64_t *metrics_block(const struct metrics *m, size_t slot);

/* Series index of a label pair. a and b are the label values' indexes
 * (b is 0 for metrics with one label, both 0 for none); out of range
 * goes to a last "other" value where the label set has one (methods,
 * alerts), and is dropped otherwise. */
void metrics_add(const struct metrics *m, uint64_t *blk, enum metric_id id, size_t a, size_t b,
                 uint64_t v);
void metrics_sub(const struct metrics *m, uint64_t *blk, enum metric_id id, size_t a, size_t b,
                 uint64_t v);
void metrics_set(const struct metrics *m, uint64_t *blk, enum metric_id id, size_t a, size_t b,
                 uint64_t v);
/* Records one request duration in microseconds. */
void metrics_observe(const struct metrics *m, uint64_t *blk, enum metric_id id, uint64_t usec);

/* Label value indexes for what moat meets on the wire. */
size_t metrics_method(const char *method, size_t len); /* GET .. PATCH, or "other" */
size_t metrics_status(int status);                     /* 1xx..5xx -> 0..4 */
size_t metrics_alert(int desc);                        /* a TLS alert, or "other" */

/* Zeroes block slot's gauges that a process's death makes stale (open
 * connections, backend health), for the master when a worker is gone. */
void metrics_reset_gauges(const struct metrics *m, size_t slot);

/* Appends the exposition text (format 0.0.4: # HELP, # TYPE, one line per
 * series) of every metric summed over the blocks (M_BACKEND_UP: the
 * highest), now in seconds since the epoch for the times stored as
 * such. Returns 0 or MOAT_ERR_NOMEM. */
int metrics_render(const struct metrics *m, int64_t now, moat_buf *out);

/* ---- The process's own block: one-line counts where things happen ----
 *
 * metrics_use makes block slot of m the one the calls below count in (the
 * master's 0 before it forks, each worker its slot after). Until then, or
 * without --metrics, they do nothing. */
void metrics_use(const struct metrics *m, size_t slot);
void metrics_conn_accepted(void); /* a TLS connection: accepted, and open */
void metrics_count(enum metric_id id, size_t a, size_t b, uint64_t v);
void metrics_uncount(enum metric_id id, size_t a, size_t b, uint64_t v);
void metrics_gauge(enum metric_id id, size_t a, size_t b, uint64_t v);
/* A request answered: its method and status, and how long it took from
 * its first byte (start_us, monotonic microseconds; 0 unknown) to now_us. */
void metrics_request(const char *method, size_t len, int status, int64_t start_us, int64_t now_us);

/* A handshake that completed (full or resumed, its version, group and
 * suite), or failed with r from moat_tls_recv (MOAT_ERR_ALERT(desc) names
 * the alert sent). */
void metrics_handshake(const moat_tls *t);
void metrics_handshake_failed(int r);

/* Where /metrics is served: the master answers each connection of the
 * --metrics listener itself (metrics_answer), one at a time, within a
 * bounded time, with the sum over every block. */
void metrics_answer(const struct metrics *m, int fd);

/* The name a certificate's expiry is labelled with (the first DNS name of
 * its subjectAltName, else its subject) and its notAfter, from the first
 * certificate of the PEM file path. Returns 0 or a MOAT_ERR_*. */
int metrics_cert_info(const char *path, char *name, size_t n, int64_t *not_after);

/* The content type of what metrics_render writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
