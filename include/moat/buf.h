/* moat_buf: the one growable byte buffer used across moat's layers.
 * Data lives in base[0..len); cap is the allocation size. */
#ifndef MOAT_BUF_H
#define MOAT_BUF_H

#include <stddef.h>
#include <stdint.h>

/* The public API: exported by libmoat.so, which hides everything else. */
#pragma GCC visibility push(default)

typedef struct {
    uint8_t *base; /* NULL until the first append */
    size_t len;    /* bytes of data held */
    size_t cap;    /* bytes allocated */
} moat_buf;

/* Sets an empty buffer; allocates nothing. */
void moat_buf_init(moat_buf *b);

/* Ensures room for `extra` more bytes. Returns 0 or MOAT_ERR_NOMEM. */
int moat_buf_reserve(moat_buf *b, size_t extra);

/* Appends n bytes. Returns 0 or MOAT_ERR_NOMEM. */
int moat_buf_append(moat_buf *b, const void *p, size_t n);

/* Drops the first n bytes (n <= len). */
void moat_buf_consume(moat_buf *b, size_t n);

/* Wipes the data and sets len to 0; keeps the allocation. */
void moat_buf_clear(moat_buf *b);

/* Wipes and frees the allocation; the buffer is empty and reusable. */
void moat_buf_free(moat_buf *b);

/* Overwrites n bytes at p with zeros in a way the compiler keeps. */
void moat_wipe(void *p, size_t n);

/* Compares n bytes in constant time: 0 when equal, nonzero otherwise. */
int moat_ct_memcmp(const void *a, const void *b, size_t n);

#pragma GCC visibility pop

#endif
