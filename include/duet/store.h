/*
 * duet/store.h — the storage engine: durable collections on SQLite with a
 * change log, secondary indexes and write hooks (src/store/).
 *
 * Threads.  One duet_store_t is shared by the whole process; every thread (one
 * per client connection in duetd) opens its own duet_session_t, which holds its
 * own SQLite connection.  A session is used by one thread at a time.  Writers
 * are serialized (one write transaction at a time per store, the others wait);
 * readers never wait for writers and see the last committed snapshot.
 *
 * Transactions.  Every write primitive joins the session's open write
 * transaction (duet_session_begin) or, when none is open, runs in its own.
 * A failed primitive leaves the open transaction usable but may have written
 * part of its work: the caller aborts, or wraps the primitive in a savepoint
 * (what the ordered/unordered insert paths do) to drop just that part.
 *
 * Errors carry MongoDB codes (duet/error.h).  SQLite failures map to 1
 * InternalError with SQLite's text, except a full disk ("database or disk is
 * full") and a read-only directory, reported at the failing operation.
 *
 * Ownership.  Names and documents passed in are borrowed.  Documents handed out
 * through cursors are borrowed views valid until the next call on that cursor;
 * bson_copy() what you keep.  Out-parameters documented "initialized" are always
 * initialized by the callee and bson_destroy()ed by the caller.
 */
#ifndef DUET_STORE_H
#define DUET_STORE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duet/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_store duet_store_t;
typedef struct duet_session duet_session_t;
typedef struct duet_store_cursor duet_store_cursor_t;

/* ---- opening a data directory ------------------------------------------------ */

typedef enum duet_store_sync {
   DUET_STORE_SYNC_NORMAL, /* WAL + synchronous=NORMAL: survives a process crash (default) */
   DUET_STORE_SYNC_FULL,   /* WAL + synchronous=FULL: also survives power loss */
} duet_store_sync_t;

typedef struct duet_store_options {
   duet_store_sync_t synchronous;
   int64_t changelog_max_bytes;       /* retention by size; 0 = default 256 MiB; < 0 = unbounded */
   int64_t changelog_max_age_seconds; /* retention by age; 0 = default 7 days; < 0 = unbounded */
   bool skip_integrity_check;         /* quick_check at open is on unless this is set */
} duet_store_options_t;

#define DUET_STORE_OPTIONS_INIT {DUET_STORE_SYNC_NORMAL, 0, 0, false}

/*
** Opens (creating when missing) the data directory `directory`, which holds one
** SQLite database file, duet.sqlite.  `options` may be NULL for the defaults.
** Runs PRAGMA quick_check and fails with 1 InternalError on a damaged file.
** Return: true and *out (free with duet_store_close); false with error.
*/
bool duet_store_open(const char *directory, const duet_store_options_t *options, duet_store_t **out,
                     duet_error_t *error);

/* Closes the store; every session must be closed first.  NULL is a no-op. */
void duet_store_close(duet_store_t *store);

/* Path of the SQLite database file (borrowed from the store). */
const char *duet_store_path(const duet_store_t *store);

/* ---- sessions and transactions -------------------------------------------------- */

/* Opens a session (its own SQLite connection). Free with duet_session_close. */
bool duet_session_open(duet_store_t *store, duet_session_t **out, duet_error_t *error);

/* Closes the session, aborting an open transaction.  NULL is a no-op. */
void duet_session_close(duet_session_t *session);

duet_store_t *duet_session_store(duet_session_t *session);

/* Starts the session's write transaction; waits while another session writes. */
bool duet_session_begin(duet_session_t *session, duet_error_t *error);
/* Commits it: documents, index entries, change-log entries and hook writes become
 * durable together.  On failure the transaction is rolled back. */
bool duet_session_commit(duet_session_t *session, duet_error_t *error);
/* Rolls back the open write transaction (no-op when none is open). */
void duet_session_abort(duet_session_t *session);
bool duet_session_in_transaction(const duet_session_t *session);

/* Savepoints inside the write transaction (nest freely). */
bool duet_session_savepoint(duet_session_t *session, duet_error_t *error);
bool duet_session_savepoint_release(duet_session_t *session, duet_error_t *error);
void duet_session_savepoint_rollback(duet_session_t *session);

/* Read snapshot: every read between begin_read and end_read sees one committed
 * state.  Outside of one each read sees the latest commit.  Not needed (and not
 * allowed) inside a write transaction, which reads its own writes. */
bool duet_session_begin_read(duet_session_t *session, duet_error_t *error);
void duet_session_end_read(duet_session_t *session);

/* ---- namespaces and the catalog ---------------------------------------------------- */

/* 73 InvalidNamespace with MongoDB's message for a bad database name. */
bool duet_store_validate_db_name(const char *db, duet_error_t *error);
/* 73 InvalidNamespace for a bad collection name (also checks the db name). */
bool duet_store_validate_namespace(const char *db, const char *coll, duet_error_t *error);

/*
** Creates collection db.coll.  `options` (borrowed, may be NULL) are the create
** command's options: validator (document), validationLevel ("off", "strict",
** "moderate"), validationAction ("error", "warn"), changeStreamPreAndPostImages
** ({enabled: bool}); they are stored and reported by listCollections.  capped,
** timeseries, clusteredIndex, viewOn fail with 115 CommandNotSupported.
** Errors: 73 InvalidNamespace, 48 NamespaceExists "Collection db.coll already exists.",
** 72 InvalidOptions / 14 TypeMismatch / 2 BadValue for malformed options.
*/
bool duet_store_create_collection(duet_session_t *session, const char *db, const char *coll, const bson_t *options,
                                  duet_error_t *error);

/* Drops db.coll, its indexes and documents; appends a `drop` change event.
 * *dropped (may be NULL) says whether it existed; a missing one is not an error. */
bool duet_store_drop_collection(duet_session_t *session, const char *db, const char *coll, bool *dropped,
                                duet_error_t *error);

/* Drops every collection of `db` (a `drop` event each, then `dropDatabase`). */
bool duet_store_drop_database(duet_session_t *session, const char *db, duet_error_t *error);

/* Renames db.from to to_db.to (indexes, options and documents move with it);
 * appends a `rename` event.  Errors: 26 NamespaceNotFound "Source collection
 * db.from does not exist", 48 NamespaceExists "target namespace exists" unless
 * drop_target (then the target is dropped first, with its `drop` event). */
bool duet_store_rename_collection(duet_session_t *session, const char *db, const char *from, const char *to_db,
                                  const char *to, bool drop_target, duet_error_t *error);

/* collMod: replaces validator/validationLevel/validationAction/
 * changeStreamPreAndPostImages given in `changes`; 26 when the collection is missing. */
bool duet_store_coll_mod(duet_session_t *session, const char *db, const char *coll, const bson_t *changes,
                         duet_error_t *error);

typedef struct duet_store_collection_info {
   char *db;         /* owned */
   char *name;       /* owned */
   uint8_t uuid[16]; /* collection UUID (listCollections info.uuid) */
   bson_t *options;  /* owned: the create options as stored (validator, ...) */
} duet_store_collection_info_t;

/* Looks db.coll up; *exists false when missing (info then untouched).
 * On success with *exists, info's fields are owned by the caller:
 * duet_store_collection_info_clear releases them. */
bool duet_store_collection_info(duet_session_t *session, const char *db, const char *coll,
                                duet_store_collection_info_t *info, bool *exists, duet_error_t *error);
void duet_store_collection_info_clear(duet_store_collection_info_t *info);

/* The collections of `db` ordered by name (db NULL: of every database).
 * *infos is an owned array of *count entries: duet_store_collection_infos_free. */
bool duet_store_list_collections(duet_session_t *session, const char *db, duet_store_collection_info_t **infos,
                                 size_t *count, duet_error_t *error);
void duet_store_collection_infos_free(duet_store_collection_info_t *infos, size_t count);

/* Names of the databases holding at least one collection, sorted.
 * *names is an owned array of owned strings: duet_store_names_free. */
bool duet_store_list_databases(duet_session_t *session, char ***names, size_t *count, duet_error_t *error);
void duet_store_names_free(char **names, size_t count);

/* ---- documents ---------------------------------------------------------------------- */

/*
** Inserts `doc` into db.coll (created when missing, as MongoDB does).  An _id
** (ObjectId) is generated and put first when missing; *stored (may be NULL) is
** initialized with the document as stored.  Checks: BSON validity, 16 MB
** (10334 BSONObjectTooLarge), field names (52 DollarPrefixedFieldName for a
** top-level "$name", 56 EmptyFieldName for an empty top-level name), _id of
** type array/regex/undefined (53 InvalidIdField), validator (121), unique
** indexes (11000).  Appends an `insert` change event and runs the write hooks.
*/
bool duet_store_insert(duet_session_t *session, const char *db, const char *coll, const bson_t *doc,
                       bson_t *stored, duet_error_t *error);

typedef enum duet_store_update_kind {
   DUET_STORE_UPDATE,  /* an update with operators: change event `update` with updateDescription */
   DUET_STORE_REPLACE, /* a replacement document: change event `replace` */
} duet_store_update_kind_t;

/*
** Replaces the stored version `old_doc` (as read from this collection in this
** transaction) with `new_doc`.  `_id` must not change (66 ImmutableField
** "After applying the update, the (immutable) field '_id' was found to have
** been altered to _id: 2").  Same checks as insert; appends an `update`
** (updateDescription diffed from old and new) or `replace` event.
** *changed (may be NULL) is false when new_doc equals old_doc byte for byte:
** then nothing is written and no event is logged (MongoDB's no-op update).
*/
bool duet_store_update(duet_session_t *session, const char *db, const char *coll, const bson_t *old_doc,
                       const bson_t *new_doc, duet_store_update_kind_t kind, bool *changed, duet_error_t *error);

/* Deletes the document with _id `id` (borrowed); *deleted (may be NULL) says
 * whether one existed.  Appends a `delete` event and runs the hooks. */
bool duet_store_delete(duet_session_t *session, const char *db, const char *coll, const bson_value_t *id,
                       bool *deleted, duet_error_t *error);

/* Point read by _id: *found, and when found *doc initialized with a copy.
 * A missing collection reads as empty. */
bool duet_store_find_id(duet_session_t *session, const char *db, const char *coll, const bson_value_t *id,
                        bson_t *doc, bool *found, duet_error_t *error);

/* Number of documents of db.coll (0 when missing). */
bool duet_store_count(duet_session_t *session, const char *db, const char *coll, int64_t *count,
                      duet_error_t *error);

/* ---- cursors ------------------------------------------------------------------------ */

/* Bounds of a scan on the encoded key of an index (or of _id), each optional. */
typedef struct duet_store_bound {
   const bson_value_t *value; /* NULL: unbounded on this side */
   bool inclusive;
} duet_store_bound_t;

/*
** Scans db.coll in _id order (reverse: descending) between two _id bounds
** (either may be NULL: unbounded).  A missing collection gives an empty cursor.
** The cursor reads the snapshot current at its first step; it must be
** destroyed before the session closes (and before commit/abort when opened
** inside a write transaction).
*/
bool duet_store_scan(duet_session_t *session, const char *db, const char *coll, const duet_store_bound_t *lower,
                     const duet_store_bound_t *upper, bool reverse, duet_store_cursor_t **out,
                     duet_error_t *error);

/*
** Scans the secondary index `index_name` of db.coll for entries whose first
** key component lies between the bounds (values compared in MongoDB order;
** NULL: unbounded), returning each matching document once per index entry (a
** multikey document may come more than once: callers dedupe by _id).  Index
** order (each component's direction honoured); reverse flips it.
** 27 IndexNotFound when the index does not exist.
*/
bool duet_store_index_scan(duet_session_t *session, const char *db, const char *coll, const char *index_name,
                           const duet_store_bound_t *lower, const duet_store_bound_t *upper, bool reverse,
                           duet_store_cursor_t **out, duet_error_t *error);

/* Next document: true with *doc a borrowed view (valid until the next call or
 * destroy), or true with *doc NULL at the end; false with error. */
bool duet_store_cursor_next(duet_store_cursor_t *cursor, const bson_t **doc, duet_error_t *error);
void duet_store_cursor_destroy(duet_store_cursor_t *cursor);

/* ---- indexes -------------------------------------------------------------------------- */

/*
** createIndexes: `specs` is an array of index specs ({key: {a: 1, b: -1}, name:
** "a_1_b_-1", unique, sparse, partialFilterExpression}) as the command sends it;
** a missing name is generated MongoDB's way.  Builds each index over the existing
** documents (11000 when a unique index meets duplicates; nothing is created then).
** The collection is created when missing.  *created (may be NULL) counts the new
** indexes; an identical existing index is not an error.  Errors: 67
** CannotCreateIndex, 85 IndexOptionsConflict, 86 IndexKeySpecsConflict, 2 BadValue.
*/
bool duet_store_create_indexes(duet_session_t *session, const char *db, const char *coll, const bson_t *specs,
                               int32_t *created, duet_error_t *error);

/* dropIndexes by name ("*" drops all but _id_).  27 IndexNotFound "index not
 * found with name [x]"; 72 InvalidOptions "cannot drop _id index". */
bool duet_store_drop_index(duet_session_t *session, const char *db, const char *coll, const char *name,
                           duet_error_t *error);

/* listIndexes: *specs initialized with an array document {"0": {v: 2, key: {_id: 1},
 * name: "_id_"}, ...}.  26 NamespaceNotFound "ns does not exist: db.coll". */
bool duet_store_list_indexes(duet_session_t *session, const char *db, const char *coll, bson_t *specs,
                             duet_error_t *error);

/* ---- change log ------------------------------------------------------------------------ */

/* A cluster time, BSON Timestamp (seconds, increment) packed as t << 32 | i. */
typedef uint64_t duet_store_ts_t;

static inline duet_store_ts_t duet_store_ts_make(uint32_t t, uint32_t i)
{
   return ((uint64_t)t << 32) | i;
}

/* One change event, borrowed by the callback for the duration of the call:
 *   {clusterTime: Timestamp, wallTime: Date, operationType: "insert"|"update"|
 *    "replace"|"delete"|"drop"|"rename"|"dropDatabase"|"invalidate",
 *    ns: {db, coll}, documentKey: {_id}, updateDescription: {updatedFields,
 *    removedFields, truncatedArrays}, fullDocument (post-image; absent for
 *    delete), fullDocumentBeforeChange (when the collection records pre-images),
 *    to: {db, coll} (rename)}
 * Return false from the callback to stop early (not an error). */
typedef bool (*duet_store_change_fn)(const bson_t *event, duet_store_ts_t cluster_time, void *context);

/*
** Calls `fn` for each retained change after `after` (exclusive; 0: from the
** oldest retained), in cluster-time order, at most `limit` (0: no limit).
** startAtOperationTime T (inclusive) is after = T - 1.  Inside a write
** transaction the session's own pending events are included.
** Error 286 ChangeStreamHistoryLost "Resume of change stream was not possible,
** as the resume point may no longer be in the oplog." when entries after
** `after` were already dropped by retention.
*/
bool duet_store_changelog_read(duet_session_t *session, duet_store_ts_t after, size_t limit,
                               duet_store_change_fn fn, void *context, duet_error_t *error);

/*
** The same with the events and fields of MongoDB's expanded change streams
** (showExpandedEvents): also operationType "create" (explicit or implicit
** creation), "createIndexes", "dropIndexes" and "modify" (collMod); every event
** of a collection carries collectionUUID (binary subtype 4, as listCollections'
** info.uuid; absent from events logged before duetd recorded it, and from
** dropDatabase); operationDescription on create ({<options>, idIndex}),
** createIndexes and dropIndexes ({indexes: [specs]}), modify (the changed
** options) and rename ({to, dropTarget: <UUID of a dropped target>}); modify's
** stateBeforeChange {collectionOptions: {uuid, <options>}}; and
** updateDescription.disambiguatedPaths ({} when no path is ambiguous).
*/
bool duet_store_changelog_read_expanded(duet_session_t *session, duet_store_ts_t after, size_t limit,
                                        duet_store_change_fn fn, void *context, duet_error_t *error);

/* The newest cluster time written (0 when the log is empty and nothing was pruned). */
bool duet_store_changelog_latest(duet_session_t *session, duet_store_ts_t *latest, duet_error_t *error);

/* Applies retention now (also done automatically every few commits). */
bool duet_store_changelog_prune(duet_session_t *session, duet_error_t *error);

/*
** Commit notification (store_notify.c), for readers that wait for new events
** without polling.  The store counts its commits; every duet_session_commit
** (client writes, hook writes, background backfills alike) bumps the count and
** wakes the waiters.  A reader takes duet_store_changelog_sequence() BEFORE it
** reads the log, then, having found nothing new, calls
** duet_store_changelog_wait(store, that_sequence, deadline_us): it returns
** true at once when a commit happened since, else blocks until one does (true)
** or until the monotonic deadline (CLOCK_MONOTONIC microseconds) passes
** (false).  Thread-safe.  duet_store_changelog_notify is the commit path's hook.
*/
uint64_t duet_store_changelog_sequence(duet_store_t *store);
bool duet_store_changelog_wait(duet_store_t *store, uint64_t after_sequence, int64_t deadline_us);
void duet_store_changelog_notify(duet_store_t *store);

/* ---- write hooks ---------------------------------------------------------------------- */

typedef enum duet_store_op {
   DUET_STORE_OP_INSERT,
   DUET_STORE_OP_UPDATE,
   DUET_STORE_OP_REPLACE,
   DUET_STORE_OP_DELETE,
} duet_store_op_t;

/* What a hook sees; everything borrowed for the call. */
typedef struct duet_store_write {
   duet_store_op_t op;
   const char *db;
   const char *coll;
   const bson_t *old_doc; /* NULL for insert */
   const bson_t *new_doc; /* NULL for delete */
   const char *origin;    /* origin of the hook whose write this is; NULL for a client write */
} duet_store_write_t;

/* Runs inside the write's transaction on the writing session; may write through
 * `session`.  Returning false (error filled) aborts the whole write command. */
typedef bool (*duet_store_hook_fn)(duet_session_t *session, const duet_store_write_t *write, void *context,
                                   duet_error_t *error);

/*
** Registers `fn` for writes to db.coll.  Writes made (through the session) while
** a hook of origin `origin` runs do not call hooks of that same origin (so a
** mirror pair A->B, B->A registered with one origin never echoes).  `context`
** is borrowed and must outlive the registration.  *id identifies it for removal.
*/
bool duet_store_hook_add(duet_store_t *store, const char *db, const char *coll, const char *origin,
                         duet_store_hook_fn fn, void *context, uint64_t *id, duet_error_t *error);
/* Unregisters; waits for a write in progress, so do not call it from a hook. */
void duet_store_hook_remove(duet_store_t *store, uint64_t id);

/* ---- partner links and migration progress (for src/partner) -------------------------- */

/* Durable named documents in two catalog tables, written in the session's
 * transaction: kind "partner_link" or "migration_progress".  get initializes
 * *doc when *found.  put replaces. */
bool duet_store_meta_put(duet_session_t *session, const char *kind, const char *name, const bson_t *doc,
                         duet_error_t *error);
bool duet_store_meta_get(duet_session_t *session, const char *kind, const char *name, bson_t *doc, bool *found,
                         duet_error_t *error);
bool duet_store_meta_delete(duet_session_t *session, const char *kind, const char *name, duet_error_t *error);

#ifdef __cplusplus
}
#endif

#endif /* DUET_STORE_H */
