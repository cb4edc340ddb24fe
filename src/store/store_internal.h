/*
 * store_internal.h — private types of src/store: the shared store, sessions,
 * the per-session catalog cache and helpers every store_*.c file uses.
 *
 * Locking.  duet_store_t is shared between threads: write_mutex serializes write
 * transactions (held from duet_session_begin to commit/abort), hooks_mutex
 * guards the hook table, catalog_version (atomic) tells sessions when their
 * catalog cache is stale.  A duet_session_t belongs to one thread at a time and
 * needs no lock.
 */
#ifndef DUET_STORE_INTERNAL_H
#define DUET_STORE_INTERNAL_H

#include <duet/doc_key.h>
#include <duet/error.h>
#include <duet/store.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#define DUET_STORE_FORMAT_VERSION 1
#define DUET_STORE_MAX_BSON_SIZE (16 * 1024 * 1024)
#define DUET_STORE_MAX_ORIGIN_DEPTH 16

typedef struct duet_store_hook {
   uint64_t id;
   char *db;     /* owned */
   char *coll;   /* owned */
   char *origin; /* owned; may be NULL */
   duet_store_hook_fn fn;
   void *context; /* borrowed */
} duet_store_hook_t;

struct duet_store {
   char *directory;                   /* owned */
   char *path;                        /* owned: <directory>/duet.sqlite */
   duet_store_options_t options;      /* defaults resolved */
   pthread_mutex_t write_mutex;       /* one write transaction at a time */
   pthread_mutex_t hooks_mutex;       /* guards hooks/hook_count/next_hook_id */
   duet_store_hook_t *hooks;          /* owned array */
   size_t hook_count;
   atomic_size_t hooks_registered;    /* hook_count readable without the lock */
   uint64_t next_hook_id;
   atomic_uint_fast64_t catalog_version; /* bumped after every committed/aborted DDL */
   atomic_uint commits_since_prune;
   /* WAL checkpointer (store_checkpoint.c) */
   pthread_t checkpoint_thread;
   bool checkpoint_running;             /* the thread runs; sessions' WAL hooks signal it */
   sqlite3 *checkpoint_db;              /* owned; used by the checkpointer thread only */
   pthread_mutex_t checkpoint_mutex;    /* guards checkpoint_requested / checkpoint_stop */
   pthread_cond_t checkpoint_cond;
   bool checkpoint_requested;
   bool checkpoint_stop;
   atomic_uint_fast64_t checkpoints;    /* checkpoints run by the thread (tests) */
};

/* The statements of a collection's table, cached on the catalog entry. */
typedef enum duet_store_coll_stmt_kind {
   DUET_STORE_STMT_INSERT, /* INSERT INTO c(k, d) VALUES(?1, ?2) */
   DUET_STORE_STMT_UPDATE, /* UPDATE c SET d = ?1 WHERE k = ?2 */
   DUET_STORE_STMT_DELETE, /* DELETE FROM c WHERE k = ?1 */
   DUET_STORE_STMT_FIND,   /* SELECT d FROM c WHERE k = ?1 */
   DUET_STORE_STMT_COUNT,  /* SELECT count(*) FROM c */
   DUET_STORE_STMT_INSERT_OR_SKIP, /* INSERT INTO c(k, d) VALUES(?1, ?2) ON CONFLICT(k) DO NOTHING */
   DUET_STORE_STMT_INSERT_GROUP,   /* INSERT INTO c(k, d) VALUES(?, ?), ... DUET_STORE_INSERT_GROUP rows (store_bulk.h) */
   DUET_STORE_STMT_KINDS
} duet_store_coll_stmt_kind_t;

/* A secondary index as the catalog describes it. */
typedef struct duet_store_index {
   char *name;           /* owned */
   bson_t *spec;         /* owned: the spec as listIndexes reports it */
   char **fields;        /* owned array of owned dotted paths */
   bool *descending;     /* owned, field_count entries */
   size_t field_count;
   bool unique;
   bool sparse;
   bool has_partial;     /* partialFilterExpression present */
   void *partial;        /* duet_match_t* when has_partial (owned), else NULL */
   char table[48];       /* SQLite table of (k, id) */
} duet_store_index_t;

/* A collection as the catalog describes it (cached per session). */
typedef struct duet_store_coll {
   int64_t id;
   char *db;           /* owned */
   char *name;         /* owned */
   uint8_t uuid[16];   /* duet_collections.uuid (change events' collectionUUID) */
   char table[48];     /* SQLite table of (k, d) */
   bson_t options;     /* owned */
   bool has_validator;
   void *validator;    /* duet_match_t* (owned) when has_validator */
   int validation_level;  /* 0 off, 1 strict, 2 moderate */
   int validation_action; /* 0 error, 1 warn */
   bool pre_images;       /* changeStreamPreAndPostImages.enabled */
   sqlite3_stmt *stmts[DUET_STORE_STMT_KINDS]; /* borrowed from the session's statement cache, see duet_store_coll_stmt */
   uint64_t stmt_generation;    /* session->stmt_generation the pointers above belong to */
   duet_store_index_t *indexes; /* owned array of secondary indexes */
   size_t index_count;
   struct duet_store_coll *next;
} duet_store_coll_t;

typedef struct duet_store_stmt_slot {
   char *sql;           /* owned */
   sqlite3_stmt *stmt;  /* owned */
} duet_store_stmt_slot_t;

struct duet_session {
   duet_store_t *store;           /* borrowed */
   sqlite3 *db;                   /* owned connection */
   bool in_write;                 /* write transaction open (write_mutex held) */
   bool in_read;                  /* read snapshot open */
   bool bypass_validation;        /* writes skip collection validators ($merge/$out bypassDocumentValidation) */
   int savepoint_depth;
   bool catalog_dirty;            /* this transaction changed the catalog */
   uint_fast64_t catalog_version; /* version the cache below was loaded at */
   duet_store_coll_t *colls;      /* owned catalog cache (linked list) */
   duet_store_coll_t *retired;    /* owned: entries dropped from the cache during a write
                                   * transaction, kept until it ends because outer writes
                                   * (a hook's caller) still point at them */
   duet_store_stmt_slot_t *stmts; /* owned statement cache (open addressing) */
   size_t stmt_capacity;
   size_t stmt_count;
   uint64_t stmt_generation;      /* bumped whenever the statement cache is emptied */
   const char *origins[DUET_STORE_MAX_ORIGIN_DEPTH]; /* origins of the hooks now running */
   size_t origin_depth;
   duet_store_ts_t last_ts;       /* last cluster time handed out in this transaction */
   uint32_t ts_seconds;           /* wall-clock seconds read once per transaction (0: not yet) */
   uint8_t *pending;              /* owned: change events of this transaction, concatenated
                                   * BSON documents, written as one change-log row at commit */
   size_t pending_len;
   size_t pending_capacity;
   duet_store_ts_t pending_ts;    /* cluster time of the last pending event */
   size_t savepoint_pending[64];  /* pending_len at each open savepoint (first 64 levels) */
   char *pending_db;              /* owned: namespace of the last pending event, */
   char *pending_coll;            /* which the next event names only when it differs */
   uint8_t pending_uuid[16];      /* collection UUID of the last pending event (named with */
   bool pending_has_uuid;         /* its namespace; a different UUID names both again) */
   duet_key_t key;                /* scratch key buffer */
};

/* ---- store_checkpoint.c ---- */

/* The WAL size (pages) past which a commit wakes the checkpointer, and past which the
 * committing writer checkpoints itself (the checkpointer is behind). */
#define DUET_STORE_CHECKPOINT_PAGES 1000
#define DUET_STORE_CHECKPOINT_PAGES_MAX 16000
/* Starts the checkpointer thread on connection `db` (owned from now on, even on failure). */
void duet_store_checkpointer_start(duet_store_t *store, sqlite3 *db);
/* Stops and joins it, closing its connection. */
void duet_store_checkpointer_stop(duet_store_t *store);
/* Installs the WAL hook that wakes the checkpointer on a session connection (no-op when
 * it does not run: the connection keeps SQLite's auto-checkpoint). */
void duet_store_checkpointer_attach(duet_store_t *store, sqlite3 *db);

/* ---- store_session.c ---- */

/* Fills error from SQLite's state for `rc` (14031 on a full disk, 20 on a
 * read-only database, 1 otherwise) with `what` as context. Returns false. */
bool duet_store_sqlite_error(sqlite3 *db, int rc, const char *what, duet_error_t *error);
/* A cached prepared statement, reset and with bindings cleared. NULL + error on failure. */
sqlite3_stmt *duet_store_stmt(duet_session_t *session, const char *sql, duet_error_t *error);
/* Executes SQL without results. */
bool duet_store_exec(duet_session_t *session, const char *sql, duet_error_t *error);
/* Finalizes every cached statement (before DROP TABLE or close). */
void duet_store_stmt_cache_clear(duet_session_t *session);
/* Runs `work` in the open write transaction, or in its own when none is open. */
typedef bool (*duet_store_work_fn)(duet_session_t *session, void *arg, duet_error_t *error);
bool duet_store_in_write(duet_session_t *session, duet_store_work_fn work, void *arg, duet_error_t *error);
/* Next cluster time (strictly greater than every earlier one). Only in a write transaction. */
bool duet_store_next_ts(duet_session_t *session, duet_store_ts_t *ts, duet_error_t *error);
int64_t duet_store_now_ms(void);

sqlite3_stmt *duet_store_coll_stmt(duet_session_t *session, duet_store_coll_t *coll, duet_store_coll_stmt_kind_t kind,
                                   duet_error_t *error);

/* ---- store_catalog.c ---- */

/* Cached catalog entry for db.coll, or NULL (not an error) when missing. */
bool duet_store_coll_lookup(duet_session_t *session, const char *db, const char *coll, duet_store_coll_t **out,
                            duet_error_t *error);
/* Same, creating the collection (implicit create) when missing. */
bool duet_store_coll_lookup_or_create(duet_session_t *session, const char *db, const char *coll,
                                      duet_store_coll_t **out, duet_error_t *error);
void duet_store_catalog_cache_clear(duet_session_t *session);
/* Frees the entries retired by duet_store_catalog_touch (at the end of a write). */
void duet_store_catalog_retired_free(duet_session_t *session);
/* Marks the catalog changed by this transaction (cache dropped now, version bumped at end). */
void duet_store_catalog_touch(duet_session_t *session);
/* Parses options into the cached fields of `coll` (validator, level, action, pre_images). */
bool duet_store_coll_parse_options(duet_store_coll_t *coll, duet_error_t *error);

/* ---- store_validate.c ---- */

/* Parses the validator of `options` (if any) to report its errors at create/collMod. */
bool duet_store_validator_check(const bson_t *options, duet_error_t *error);
/* Parses coll->options' validator into coll->validator. */
bool duet_store_validator_load(duet_store_coll_t *coll, duet_error_t *error);
void duet_store_validator_free(duet_store_coll_t *coll);
/* Applies validator/validationLevel/validationAction to a write of new_doc
 * (old_doc NULL for inserts): 121 with errInfo when rejected. */
bool duet_store_validate_write(duet_store_coll_t *coll, const bson_t *old_doc, const bson_t *new_doc,
                               duet_error_t *error);
/* Parses a partialFilterExpression into a matcher (owned by the caller: duet_store_match_free). */
bool duet_store_match_parse(const bson_t *filter, void **match, duet_error_t *error);
bool duet_store_match_doc(void *match, const bson_t *doc, bool *matched, duet_error_t *error);
void duet_store_match_free(void *match);

/* ---- store_doc.c ---- */

/* Checks a document about to be stored: valid BSON, size, top-level names, _id type. */
bool duet_store_check_document(const bson_t *doc, duet_error_t *error);
/* Whether doc's first field is _id. */
bool duet_store_id_first(const bson_t *doc);
/* Initializes *out with `doc` whose _id comes first: the given one, `id` when doc has
 * none (id may be NULL: a new ObjectId).  *out is owned by the caller. */
void duet_store_with_id_first(const bson_t *doc, const bson_value_t *id, bson_t *out);
/* The 11000 error of a duplicate _id in coll. */
void duet_store_dup_id_error(duet_store_coll_t *coll, const bson_value_t *id, duet_error_t *error);
/* Runs the write hooks of coll for one write (old_doc/new_doc borrowed, NULL where absent). */
bool duet_store_run_hooks(duet_session_t *session, duet_store_op_t op, duet_store_coll_t *coll, const bson_t *old_doc,
                          const bson_t *new_doc, duet_error_t *error);

/* ---- store_index.c ---- */

/* Adds (old NULL) / removes (new NULL) / moves the index entries of one document. */
bool duet_store_index_update(duet_session_t *session, duet_store_coll_t *coll, const bson_t *old_doc,
                             const bson_t *new_doc, duet_error_t *error);
/* Loads the index definitions of coll from the catalog. */
bool duet_store_index_load(duet_session_t *session, duet_store_coll_t *coll, duet_error_t *error);
void duet_store_index_free(duet_store_index_t *index);
/* Builds the 11000 error for a duplicate on `index_name` with key pattern and value documents. */
void duet_store_duplicate_key_error(const char *db, const char *coll, const char *index_name,
                                    const bson_t *key_pattern, const bson_t *key_value, duet_error_t *error);
/* Formats a value as MongoDB's BSON toString does ("1", "\"x\"", "ObjectId('...')"). */
void duet_store_format_value(bson_string_t *out, const bson_value_t *value);

/* ---- store_changelog.c ---- */

typedef struct duet_store_change_entry {
   const char *op;             /* operationType */
   const char *db;
   const char *coll;           /* NULL for dropDatabase */
   const uint8_t *uuid;        /* the collection's UUID (16 bytes), NULL for dropDatabase */
   const bson_value_t *id;     /* documentKey._id or NULL */
   const bson_t *update_description; /* or NULL */
   const bson_t *post;         /* fullDocument or NULL */
   const bson_t *pre;          /* fullDocumentBeforeChange or NULL */
   const bson_t *extra;        /* other fields (rename: {to: {...}}) or NULL */
   const bson_t *description;  /* operationDescription (create, createIndexes, dropIndexes, modify, rename) or NULL */
   const bson_t *state;        /* stateBeforeChange (modify) or NULL */
} duet_store_change_entry_t;

bool duet_store_changelog_append(duet_session_t *session, const duet_store_change_entry_t *entry,
                                 duet_error_t *error);
/* Makes the next pending event name its namespace (after a row or a rollback). */
void duet_store_changelog_forget_ns(duet_session_t *session);
/* Writes the pending events of the transaction as one change-log row (before COMMIT). */
bool duet_store_changelog_flush(duet_session_t *session, duet_error_t *error);
/* Called after each commit: prunes when due. */
void duet_store_changelog_after_commit(duet_session_t *session);
/* Appends {uuid: UUID, <options as MongoDB lists them>} to `out` (create events, stateBeforeChange):
 * changeStreamPreAndPostImages when enabled, validator when not empty, validationLevel,
 * validationAction.  `uuid` NULL: no uuid field. */
void duet_store_changelog_options(const uint8_t *uuid, const bson_t *options, bson_t *out);

/* ---- store_diff.c ---- */

/* updateDescription {updatedFields, removedFields, truncatedArrays} of old -> new
 * (initialized by the callee). */
void duet_store_diff(const bson_t *old_doc, const bson_t *new_doc, bson_t *description);

/* ---- store_query.c / store_out.c ---- */

typedef struct duet_store_aggregate_options duet_store_aggregate_options_t;
typedef struct duet_store_aggregate duet_store_aggregate_t;
/* A pipeline cursor over db.coll without $out handling. */
bool duet_store_aggregate_open_internal(duet_session_t *session, const char *db, const char *coll,
                                        const bson_t *pipeline, bool allow_disk_use, duet_store_aggregate_t **out,
                                        duet_error_t *error);
/* Runs stages [0, out_index) of `pipeline` over db.coll and replaces the
 * target named by the $out stage at out_index (see duet_store_aggregate). */
bool duet_store_aggregate_out(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                              uint32_t out_index, const duet_store_aggregate_options_t *options, duet_error_t *error);

/* Runs stages [0, merge_index) and writes the results per the $merge stage at merge_index. */
bool duet_store_aggregate_merge(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                                uint32_t merge_index, const duet_store_aggregate_options_t *options,
                                duet_error_t *error);

/* ---- store_hooks.c ---- */

bool duet_store_hooks_run(duet_session_t *session, const duet_store_write_t *write, duet_error_t *error);

/* 50 MaxTimeMSExpired once CLOCK_MONOTONIC passes `deadline_us` (0: never). */
bool duet_store_check_deadline(int64_t deadline_us, duet_error_t *error);

#endif /* DUET_STORE_INTERNAL_H */
