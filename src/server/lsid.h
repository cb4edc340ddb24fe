/*
 * lsid.h — logical sessions known to duetd (startSession, lsid on commands,
 * endSessions, killSessions).  A session is identified by its 16-byte UUID;
 * the registry remembers when each was last used and forgets sessions idle
 * longer than logicalSessionTimeoutMinutes (30).  Ending or killing a session
 * closes the cursors it opened (the caller does that through cursor.h).
 *
 * Thread-safety: one mutex guards the registry.
 */
#ifndef DUET_SERVER_LSID_H
#define DUET_SERVER_LSID_H

#include <duet/error.h>

#include <bson/bson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUET_LSID_TIMEOUT_MINUTES 30

typedef struct duet_lsid_session duet_lsid_session_t; /* private to session.c */

typedef struct duet_lsid_registry {
   pthread_mutex_t lock;
   duet_lsid_session_t *head; /* singly linked list */
   int64_t active;       /* sessions known now */
} duet_lsid_registry_t;

void duet_lsid_registry_init(duet_lsid_registry_t *registry);
void duet_lsid_registry_destroy(duet_lsid_registry_t *registry);

/* Records a use of session `lsid` at `now_us` (monotonic), creating it if new. */
void duet_lsid_touch(duet_lsid_registry_t *registry, const uint8_t lsid[16], int64_t now_us);

/* Forgets session `lsid`; false if it was not known. */
bool duet_lsid_end(duet_lsid_registry_t *registry, const uint8_t lsid[16]);

/* Forgets sessions idle since before now_us - timeout; copies up to `max` of their ids into `expired`. */
size_t duet_lsid_reap(duet_lsid_registry_t *registry, int64_t now_us, int64_t timeout_us, uint8_t (*expired)[16],
                         size_t max);

/*
 * Retryable writes: the reply of the last write a session ran with a
 * txnNumber, so a driver's retry of that same write gets the first outcome
 * instead of running twice.
 *
 * lookup: *found true with the recorded reply copied into `reply` (initialized by
 * the caller, whatever it held replaced) when (lsid, txn_number, command) matches the recorded write;
 * *known true when this registry holds a write record for lsid at all (else the durable record in
 * the store, duet/store_retry.h, decides: after a restart the registry starts empty); fails with 225
 * TransactionTooOld when a newer txnNumber was already recorded.
 * record: keeps a copy of `reply` (borrowed) for (lsid, txn_number, command).
 */
bool duet_lsid_retry_lookup(duet_lsid_registry_t *registry, const uint8_t lsid[16], int64_t txn_number,
                            const char *command, bson_t *reply, bool *found, bool *known, duet_error_t *error);
void duet_lsid_retry_record(duet_lsid_registry_t *registry, const uint8_t lsid[16], int64_t txn_number,
                            const char *command, const bson_t *reply);

/* Fills `lsid` with a new random (version 4) UUID. */
void duet_lsid_new(uint8_t lsid[16]);

#endif /* DUET_SERVER_LSID_H */
