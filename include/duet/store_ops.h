/*
 * duet/store_ops.h — the operations layer of the storage engine: MongoDB's
 * find / insert / update / delete / findAndModify / count / distinct on top of
 * duet/store.h, with filters (duet/mql_match.h), updates (duet/mql_update.h),
 * projections (duet/mql_projection.h) and sort/skip/limit (duet/mql_pipeline.h).
 *
 * Query path: a filter pinning _id reads one document; _id ranges scan the
 * _id key range; otherwise a secondary (non-sparse, non-partial) index whose
 * first field the filter constrains (equality or range) is scanned; else the
 * whole collection.  Every candidate is re-checked against the full filter.
 *
 * Writes: each call is one write command and joins the session's transaction
 * or runs in its own.  Threads: as duet/store.h (one session per thread).
 */
#ifndef DUET_STORE_OPS_H
#define DUET_STORE_OPS_H

#include <duet/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- find ------------------------------------------------------------------------ */

typedef struct duet_store_find_options {
   const bson_t *filter;     /* NULL: {} */
   const bson_t *projection; /* NULL: whole documents */
   const bson_t *sort;       /* NULL: _id order of the chosen scan */
   int64_t skip;             /* >= 0 */
   int64_t limit;            /* 0: no limit; < 0 is treated as its absolute value (single batch) */
} duet_store_find_options_t;

#define DUET_STORE_FIND_OPTIONS_INIT {NULL, NULL, NULL, 0, 0}

typedef struct duet_store_find duet_store_find_t;

/*
** Opens a find cursor on db.coll (a missing collection gives no documents).
** Parse errors of filter/projection/sort come back here (2 BadValue "unknown
** operator: $foo", 31254, ...).  The cursor must be destroyed on the session's
** thread before the session closes (or commits, when opened in a transaction).
*/
bool duet_store_find(duet_session_t *session, const char *db, const char *coll, const duet_store_find_options_t *options,
                     duet_store_find_t **out, duet_error_t *error);
/* Next result: *doc borrowed until the next call, NULL at the end. */
bool duet_store_find_next(duet_store_find_t *find, const bson_t **doc, duet_error_t *error);
void duet_store_find_destroy(duet_store_find_t *find);

/* Number of matching documents after skip, capped by limit (0: none). */
bool duet_store_count_matching(duet_session_t *session, const char *db, const char *coll, const bson_t *filter,
                               int64_t skip, int64_t limit, int64_t *count, duet_error_t *error);

/* distinct: the distinct values of `key` (dotted) among matching documents, arrays
 * unwound one level, sorted in MongoDB's comparison order; *values initialized as an
 * array document {"0": v0, ...}. */
bool duet_store_distinct(duet_session_t *session, const char *db, const char *coll, const char *key,
                         const bson_t *filter, bson_t *values, duet_error_t *error);

/* ---- aggregate ----------------------------------------------------------------------- */

typedef struct duet_store_aggregate duet_store_aggregate_t;

typedef struct duet_store_aggregate_options {
   bool allow_disk_use;             /* lifts the $sort/$group memory limit */
   bool bypass_document_validation; /* $out/$merge write without the target's validator */
   int64_t deadline_us;             /* CLOCK_MONOTONIC microseconds (maxTimeMS); 0: none.  A
                                       $out/$merge past it fails with 50 MaxTimeMSExpired */
} duet_store_aggregate_options_t;

#define DUET_STORE_AGGREGATE_OPTIONS_INIT {false, false, 0}

/*
** Runs an aggregation pipeline (an array document of stages, duet/mql_pipeline.h)
** over db.coll.  A leading $match also chooses the access path (point read,
** _id range, index), as for find.  `options` may be NULL.
** A final {$out: "coll"} or {$out: {db, coll}} runs here, before this returns,
** MongoDB's way: the results go into a temporary collection created with the
** target's options (validator, ...) and indexes, which then replaces the target
** (rename with dropTarget), all in one transaction: on any failure the target
** is untouched.  A final $merge ({into, on, whenMatched, whenNotMatched}) writes
** each result per its modes (on: _id or fields with a unique index, 51183
** otherwise); every result is tried, a failing one is rolled back alone and the
** first failure is returned after the others were committed, as MongoDB does
** (13113, 11000 with "$merge ... :: caused by :: E11000 ...", 66, 121, 51132).
** whenMatched may be a pipeline, with `let` variables and `$$new` (51273, 51199
** for a `let` with a non-pipeline mode).  $lookup stages read their foreign
** collections on this session.  Either $out or $merge anywhere but last is 40601.  The cursor then yields no documents.
** Same cursor rules as find.
*/
bool duet_store_aggregate(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                          const duet_store_aggregate_options_t *options, duet_store_aggregate_t **out,
                          duet_error_t *error);
/* Next output document: *doc borrowed until the next call, NULL at the end. */
bool duet_store_aggregate_next(duet_store_aggregate_t *aggregate, const bson_t **doc, duet_error_t *error);
void duet_store_aggregate_destroy(duet_store_aggregate_t *aggregate);

/* ---- insert ---------------------------------------------------------------------- */

/*
** Inserts `count` documents as one write command (one transaction).  Each
** document is tried in its own savepoint: a failing one is rolled back alone.
** ordered: stop at the first failure (the ones before stay, as MongoDB does);
** unordered: try them all.  Per-document failures go to *write_errors
** (initialized by the callee) as {"0": {index, code, errmsg[, errInfo /
** keyPattern / keyValue]}, ...}; *inserted counts the successes.
** Return: false only for a command-level failure (bad namespace, commit failed).
*/
bool duet_store_insert_many(duet_session_t *session, const char *db, const char *coll, const bson_t *const *docs,
                            size_t count, bool ordered, int64_t *inserted, bson_t *write_errors, duet_error_t *error);

/* ---- update / delete --------------------------------------------------------------- */

typedef struct duet_store_update_spec {
   const bson_t *filter;        /* NULL: {} */
   const bson_value_t *update;  /* a document (modifiers or replacement) or an array (pipeline) */
   const bson_t *array_filters; /* NULL or an array of filters */
   bool multi;
   bool upsert;
} duet_store_update_spec_t;

typedef struct duet_store_update_result {
   int64_t matched;
   int64_t modified;
   bool upserted;
   bson_t *upserted_id; /* owned ({_id: v}) when upserted, else NULL: duet_store_update_result_clear */
} duet_store_update_result_t;

/* One update statement (updateOne / updateMany / replaceOne).  *result is always
 * initialized; clear it with duet_store_update_result_clear. */
bool duet_store_update_matching(duet_session_t *session, const char *db, const char *coll,
                                const duet_store_update_spec_t *spec, duet_store_update_result_t *result,
                                duet_error_t *error);
void duet_store_update_result_clear(duet_store_update_result_t *result);

/* One delete statement: limit 1 (deleteOne) or 0 (deleteMany). */
bool duet_store_delete_matching(duet_session_t *session, const char *db, const char *coll, const bson_t *filter,
                                int64_t limit, int64_t *deleted, duet_error_t *error);

/* ---- findAndModify ------------------------------------------------------------------- */

typedef struct duet_store_fam_options {
   const bson_t *filter;        /* NULL: {} */
   const bson_t *sort;          /* picks the first match */
   const bson_t *fields;        /* projection of the returned document */
   bool remove;
   const bson_value_t *update;  /* when !remove */
   const bson_t *array_filters;
   bool return_new;             /* new: true */
   bool upsert;
} duet_store_fam_options_t;

/*
** findAndModify.  *value is initialized: the document (before or after, per
** return_new, projected by fields) or empty when there was none (reply null);
** *found says which.  *last_error (initialized) is lastErrorObject:
** {n, updatedExisting[, upserted]}.
** Errors: 9 FailedToParse "Either an update or remove=true must be specified",
** "Cannot specify both an update and remove=true", "Cannot specify both upsert=true and remove=true".
*/
bool duet_store_find_and_modify(duet_session_t *session, const char *db, const char *coll,
                                const duet_store_fam_options_t *options, bson_t *value, bool *found,
                                bson_t *last_error, duet_error_t *error);

#ifdef __cplusplus
}
#endif

#endif /* DUET_STORE_OPS_H */
