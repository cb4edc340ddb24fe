/*
 * cursor.h — the server's registry of open cursors, shared by every command
 * that answers with a cursor (find, aggregate, listCollections, change streams).
 *
 * A command produces its results through a duet_cursor_source_t (a small
 * vtable over its own state), hands it to duet_cursor_reply_first(), and the
 * registry does the rest: the first batch (101 documents by default, at most
 * 16 MiB), registering the cursor under a random positive int64 id when more
 * may follow, getMore batches, killCursors, killSessions, and closing cursors
 * idle longer than the timeout (cursorTimeoutMillis, 10 minutes by default).
 *
 * Thread-safety: one mutex guards the registry.  A cursor being served by a
 * getMore is checked out (in_use) and its source is called without the lock;
 * a second getMore on it fails with 143 CursorInUse; killCursors on a checked-
 * out cursor marks it killed and the getMore destroys it when it returns.
 */
#ifndef DUET_SERVER_CURSOR_H
#define DUET_SERVER_CURSOR_H

#include <duet/error.h>

#include <bson/bson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DUET_CURSOR_DEFAULT_FIRST_BATCH 101
#define DUET_CURSOR_MAX_BATCH_BYTES (16 * 1024 * 1024)
#define DUET_CURSOR_DEFAULT_TIMEOUT_MS (10 * 60 * 1000)
#define DUET_CURSOR_DEFAULT_AWAIT_MS 1000

typedef enum duet_cursor_step {
   DUET_CURSOR_STEP_DOC,      /* *doc points to the next document (owned by the source) */
   DUET_CURSOR_STEP_END,      /* the source is exhausted for good */
   DUET_CURSOR_STEP_NONE_YET, /* tailable: nothing now, more may come later */
   DUET_CURSOR_STEP_ERROR,    /* `error` is set; the cursor is closed */
} duet_cursor_step_t;

typedef struct duet_cursor_source_ops {
   /* Produces the next document.  On DOC, *doc is borrowed from the source and stays valid until
    * the next call of next() or destroy(): a batch copies it once, straight into the reply. */
   duet_cursor_step_t (*next)(void *state, const bson_t **doc, duet_error_t *error);
   /* Optional (tailable awaitData sources): blocks until more may be available or until
    * `deadline_us` (monotonic microseconds, duet_cursor_now_us) passes. */
   void (*wait)(void *state, int64_t deadline_us);
   /* Optional: appends fields to the reply's cursor document after each batch (postBatchResumeToken). */
   void (*append_batch_fields)(void *state, bson_t *cursor_document);
   /* Releases `state`. */
   void (*destroy)(void *state);
} duet_cursor_source_ops_t;

typedef struct duet_cursor_source {
   const duet_cursor_source_ops_t *ops; /* static, borrowed */
   void *state;                          /* owned by the source, released by ops->destroy */
} duet_cursor_source_t;

typedef struct duet_cursor_options {
   int64_t batch_size; /* first batch: -1 = default 101; 0 = empty first batch */
   bool single_batch;  /* close after the first batch */
   bool tailable;      /* an exhausted batch leaves the cursor open */
   bool await_data;    /* getMore waits up to its maxTimeMS (default 1 s) for data */
   bool has_lsid;      /* the session that opened the cursor */
   uint8_t lsid[16];
} duet_cursor_options_t;

#define DUET_CURSOR_OPTIONS_INIT {-1, false, false, false, false, {0}}

typedef struct duet_cursor duet_cursor_t; /* private to cursor.c */

typedef struct duet_cursor_registry {
   pthread_mutex_t lock;
   duet_cursor_t *head;     /* singly linked list of open cursors */
   int64_t idle_timeout_ms; /* cursors unused this long are closed by duet_cursor_reap */
   int64_t open_count;      /* cursors registered now */
   int64_t total_opened;    /* cursors ever registered */
   int64_t timed_out;       /* cursors closed by the idle timeout */
   uint64_t id_state;       /* splitmix64 state for cursor ids */
} duet_cursor_registry_t;

void duet_cursor_registry_init(duet_cursor_registry_t *registry, int64_t idle_timeout_ms);

/* Destroys every cursor (none may be checked out) and the registry. */
void duet_cursor_registry_destroy(duet_cursor_registry_t *registry);

/* Monotonic clock in microseconds. */
int64_t duet_cursor_now_us(void);

/*
 * Runs the first batch of `source` and appends `cursor: {firstBatch, id, ns, …}`
 * to `reply`.  Takes ownership of `source` whatever the outcome: it is
 * registered when more documents may follow, destroyed otherwise.  False with
 * `error` set (nothing appended to reply) when the source failed.
 */
bool duet_cursor_reply_first(duet_cursor_registry_t *registry, const char *ns, duet_cursor_source_t source,
                             const duet_cursor_options_t *options, bson_t *reply, duet_error_t *error);

/*
 * getMore: appends `cursor: {nextBatch, id, ns, …}` to `reply`.  `batch_size`
 * <= 0 means no document limit (16 MiB still applies).  `max_await_ms` < 0
 * means the default (1 s) for awaitData cursors; it is rejected (2 BadValue)
 * for other cursors.  Errors: 43 CursorNotFound, 143 CursorInUse,
 * 13 Unauthorized (the cursor belongs to another namespace), or the source's
 * own error (the cursor is then closed).
 */
bool duet_cursor_get_more(duet_cursor_registry_t *registry, int64_t id, const char *ns, int64_t batch_size,
                          int64_t max_await_ms, bson_t *reply, duet_error_t *error);

/*
 * killCursors: closes the listed cursors of namespace `ns` and appends
 * cursorsKilled, cursorsNotFound, cursorsAlive, cursorsUnknown to `reply`.
 * `ids` iterates an array of int64 ids (validated by the caller).
 */
void duet_cursor_kill(duet_cursor_registry_t *registry, const char *ns, bson_iter_t *ids, bson_t *reply);

/* Closes every cursor opened by session `lsid`. Returns how many. */
size_t duet_cursor_kill_session(duet_cursor_registry_t *registry, const uint8_t lsid[16]);

/* Closes cursors idle longer than the timeout as of `now_us`. Returns how many. */
size_t duet_cursor_reap(duet_cursor_registry_t *registry, int64_t now_us);

/* A source over an array of documents (e.g. listCollections).  Takes ownership of every
 * bson_t in `documents` (heap-allocated with bson_new/bson_copy) and of the array itself. */
duet_cursor_source_t duet_cursor_source_from_array(bson_t **documents, size_t count);

#endif /* DUET_SERVER_CURSOR_H */
