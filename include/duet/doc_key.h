/*
 * duet/doc_key.h — the order-preserving key encoding of BSON values.
 *
 * duet_key_* turns BSON values into byte strings whose memcmp() order is
 * MongoDB's comparison order (duet_value_compare): comparing two encodings
 * bytewise (shorter-is-less when one is a prefix) gives the same sign as
 * comparing the values.  Values that compare equal encode identically, so
 * int32 1, int64 1, double 1.0 and decimal 1.00 are the same key (MongoDB
 * treats them as the same _id).  Every encoding is prefix-free, so encodings
 * can be concatenated into compound keys; a descending component is the
 * bitwise complement of its ascending encoding.
 *
 * The byte format is documented in docs/storage.md ("Key encoding"); it is an
 * on-disk format: changing it requires a data-directory migration.
 *
 * Ownership: a duet_key_t owns its buffer (duet_key_destroy frees it).  Input
 * values are borrowed.  Nothing here fails: every BSON value has an encoding.
 */
#ifndef DUET_DOC_KEY_H
#define DUET_DOC_KEY_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_key {
   uint8_t *data;   /* owned; NULL while empty */
   size_t len;      /* bytes used */
   size_t capacity; /* bytes allocated */
} duet_key_t;

#define DUET_KEY_INIT {NULL, 0, 0}

void duet_key_init(duet_key_t *key);
/* Frees the buffer and leaves an empty key. */
void duet_key_destroy(duet_key_t *key);
/* Empties the key, keeping its buffer. */
void duet_key_reset(duet_key_t *key);

/* Appends the encoding of `value` (borrowed); complemented when `descending`. */
void duet_key_append_value(duet_key_t *key, const bson_value_t *value, bool descending);

/* Appends raw bytes (used to concatenate already-encoded keys). */
void duet_key_append_bytes(duet_key_t *key, const uint8_t *bytes, size_t len);

/* Resets `key` and encodes a single ascending value into it. */
void duet_key_set_value(duet_key_t *key, const bson_value_t *value);

/* memcmp order, shorter-is-less on a common prefix: <0, 0, >0. */
int duet_key_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* Turns `key` into the smallest byte string greater than every string that
 * starts with it (drops trailing 0xFF bytes, increments the last byte): the
 * exclusive upper bound of a prefix scan.  False (key emptied) when no such
 * bound exists, i.e. the key was all 0xFF: scan to the end instead. */
bool duet_key_prefix_successor(duet_key_t *key);

#ifdef __cplusplus
}
#endif

#endif /* DUET_DOC_KEY_H */
