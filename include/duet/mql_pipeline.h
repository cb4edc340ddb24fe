/*
 * duet/mql_pipeline.h — MongoDB aggregation pipelines: parse once, stream documents through.
 *
 * Supported stages: $match (through duet/mql_match.h), $addFields/$set, $unset, $project,
 * $replaceRoot/$replaceWith, $sort, $limit, $skip, $count, $group (accumulators $sum $avg
 * $min $max $first $last $push $addToSet $count), $unwind, $documents and $lookup (equality,
 * pipeline and combined forms; foreign collections are read through the storage callbacks
 * of duet_pipeline_options_t).  $out and $merge are carried out by the store
 * (duet/store_ops.h), which strips them before parsing: here they fail to parse with 115
 * CommandNotSupported, and inside a $lookup sub-pipeline with 51047 (40601 when not last).
 * Any other stage name fails with 40324 "Unrecognized pipeline stage name: '$foo'".
 *
 * Streaming: documents are pulled one at a time from a source callback, so memory stays flat
 * for $match/$addFields/$project/$unset/$replaceRoot/$unwind/$skip/$limit/$lookup pipelines.
 * $sort and $group buffer their input up to the memory limit (MongoDB's 100 MB by default).
 * Past it they fail with 292 QueryExceededMemoryLimitNoDiskUseAllowed unless allow_disk_use is
 * set; with allow_disk_use they spill: $sort writes sorted runs, $group writes partial groups,
 * to a private temporary SQLite database (SQLite's temporary directory: $SQLITE_TMPDIR,
 * $TMPDIR or /tmp; deleted when the stage finishes or the cursor closes) and read back in
 * order, so memory stays near the limit whatever the input size.
 *
 * Ownership: duet_pipeline_parse copies nothing it keeps beyond the parsed tree (the spec is
 * borrowed for the call).  Documents handed out by duet_pipeline_next() are borrowed and valid
 * until the next call on the same cursor or duet_pipeline_close().  Source documents are
 * borrowed from the source until its next call.  A parsed pipeline is immutable and may be
 * run by several cursors (threads) at once.
 */
#ifndef DUET_MQL_PIPELINE_H
#define DUET_MQL_PIPELINE_H

#include <duet/error.h>
#include <duet/mql_expr.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_pipeline duet_pipeline_t;
typedef struct duet_pipeline_cursor duet_pipeline_cursor_t;

#define DUET_PIPELINE_MEMORY_LIMIT_DEFAULT (100u * 1024u * 1024u)

/* A document source: sets *doc to the next document (borrowed until the next call) or NULL at
 * the end.  Returns false with error set to abort the pipeline. */
typedef bool (*duet_pipeline_source_fn)(void *context, const bson_t **doc, duet_error_t *error);

/*
** Storage for stages that read other collections ($lookup).  The store supplies it; the
** pipeline only borrows it, and it must outlive every pipeline parsed with it and every
** cursor opened on those pipelines.
**
**   open(context, coll, filter, &scan, error)
**      Opens a scan over collection `coll` of the database being aggregated (the database
**      is the store's business: bind it into `context`).  A collection that does not exist
**      is an empty scan, not an error.  `filter` (borrowed for the call, may be NULL) is a
**      hint: the scan may return only the documents matching it (e.g. an index on the
**      foreignField) or every document; the stage applies the filter again itself.  On
**      success *scan is an opaque handle for next() and close().  $lookup opens one scan per
**      input document (and per input document of a nested $lookup), so several scans of
**      the same or different collections may be open at once, all on the caller's thread.
**   next(scan, &doc, error)
**      As duet_pipeline_source_fn: *doc borrowed until the next call, NULL at the end.
**   close(scan)
**      Releases the scan; called exactly once for every successful open(), also on errors.
**
** The store's aggregate entry point passes it as options.storage to duet_pipeline_parse()
** (its scans read inside the aggregate's own transaction/snapshot).
*/
typedef struct duet_pipeline_storage {
   void *context; /* passed to open() */
   bool (*open)(void *context, const char *coll, const bson_t *filter, void **scan, duet_error_t *error);
   bool (*next)(void *scan, const bson_t **doc, duet_error_t *error);
   void (*close)(void *scan);
} duet_pipeline_storage_t;

typedef struct duet_pipeline_options {
   const duet_expr_scope_t *scope;         /* borrowed; caller variables ($lookup/$merge let), may be NULL */
   bool allow_disk_use;                    /* $sort/$group spill to a temporary database past memory_limit */
   size_t memory_limit;                    /* bytes for $sort/$group; 0 = DUET_PIPELINE_MEMORY_LIMIT_DEFAULT */
   const duet_pipeline_storage_t *storage; /* borrowed; NULL: $lookup with `from` fails with 115 */
} duet_pipeline_options_t;

/*
** Parses `pipeline`, an array (or array-shaped document) of stage documents.  `options` may
** be NULL.  On success *out is owned by the caller (duet_pipeline_destroy).  Errors carry
** MongoDB's codes: 40323 (stage object with more than one field), 40324 (unknown stage),
** 14 (stage not an object), and each stage's own parse errors.
*/
bool duet_pipeline_parse(const bson_t *pipeline, const duet_pipeline_options_t *options, duet_pipeline_t **out,
                         duet_error_t *error);

void duet_pipeline_destroy(duet_pipeline_t *pipeline);

/* Number of stages. */
size_t duet_pipeline_stage_count(const duet_pipeline_t *pipeline);

/* True when every stage maps one input document to at most one output document without
 * buffering ($match, $addFields/$set, $unset, $project, $replaceRoot/$replaceWith): such a
 * pipeline can be used with duet_pipeline_apply(). */
bool duet_pipeline_is_per_document(const duet_pipeline_t *pipeline);

/*
** Runs a per-document pipeline over one document (borrowed).  `out` is always initialized
** (bson_init) and the caller always destroys it.  *emitted is false when $match dropped the
** document.  Fails with 2 BadValue when the pipeline is not per-document.
*/
bool duet_pipeline_apply(const duet_pipeline_t *pipeline, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                         bool *emitted, duet_error_t *error);

/* Opens a cursor; `env` (borrowed, may be NULL) must outlive the cursor. */
duet_pipeline_cursor_t *duet_pipeline_open(const duet_pipeline_t *pipeline, duet_pipeline_source_fn source,
                                           void *source_context, const duet_expr_env_t *env);

/* Next output document (borrowed, see above) or *doc = NULL at the end. */
bool duet_pipeline_next(duet_pipeline_cursor_t *cursor, const bson_t **doc, duet_error_t *error);

/* True once a $sort or $group of this cursor spilled to disk (explain's usedDisk). */
bool duet_pipeline_used_disk(const duet_pipeline_cursor_t *cursor);

void duet_pipeline_close(duet_pipeline_cursor_t *cursor);

#ifdef __cplusplus
}
#endif

#endif /* DUET_MQL_PIPELINE_H */
