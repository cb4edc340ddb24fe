/*
 * duet/store_retry.h — durable retryable-write records: for each logical session (lsid), the
 * txnNumber, command name and reply of the last write it ran with a txnNumber.  A server writes
 * the record in the write's own transaction, so a write is committed with its record or not at
 * all: a driver that retries after losing the reply — even across a restart of the server —
 * gets the first outcome instead of running the write twice (MongoDB keeps the same in
 * config.transactions).
 *
 *     in the write's transaction:  duet_store_retry_put(session, lsid, 7, "update", reply, error)
 *     on a retry:                  duet_store_retry_get(session, lsid, &record, &found, error)
 *
 * Records older than the logical session timeout are dropped by duet_store_retry_prune.
 * Threads: as duet/store.h (one session per thread).
 */
#ifndef DUET_STORE_RETRY_H
#define DUET_STORE_RETRY_H

#include <duet/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A session's record; `reply` is initialized by duet_store_retry_get when found and destroyed
 * by duet_store_retry_record_clear. */
typedef struct duet_store_retry_record {
   int64_t txn_number;
   char command[32]; /* canonical command name: "insert", "update", "delete", "findAndModify" */
   bson_t reply;     /* the handler's reply fields (without ok/operationTime/$clusterTime) */
} duet_store_retry_record_t;

/* Replaces lsid's record, inside the session's write transaction (or in one of its own).
 * `reply` borrowed. */
bool duet_store_retry_put(duet_session_t *session, const uint8_t lsid[16], int64_t txn_number, const char *command,
                          const bson_t *reply, duet_error_t *error);

/* Reads lsid's record into *record (*found false: none). */
bool duet_store_retry_get(duet_session_t *session, const uint8_t lsid[16], duet_store_retry_record_t *record,
                          bool *found, duet_error_t *error);

void duet_store_retry_record_clear(duet_store_retry_record_t *record);

/* Deletes the records last written before `before_ms` (milliseconds since the epoch); *pruned
 * (may be NULL) counts them. */
bool duet_store_retry_prune(duet_session_t *session, int64_t before_ms, int64_t *pruned, duet_error_t *error);

#ifdef __cplusplus
}
#endif

#endif /* DUET_STORE_RETRY_H */
