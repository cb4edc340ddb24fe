/*
 * duet/mql_pipeline.h — MongoDB aggregation pipelines: parse once, stream documents through.
 *
 * Supported stages: $match (through duet/mql_match.h), $addFields/$set, $unset, $project,
 * $replaceRoot/$replaceWith, $sort, $limit, $skip, $count, $group (accumulators $sum $avg
 * $min $max $first $last $push $addToSet $count), $unwind and $documents.  $lookup, $out and
 * $merge need storage and fail to parse with 115 CommandNotSupported; any other stage name
 * fails with 40324 "Unrecognized pipeline stage name: '$foo'".
 *
 * Streaming: documents are pulled one at a time from a source callback, so memory stays flat
 * for $match/$addFields/$project/$unset/$replaceRoot/$unwind/$skip/$limit pipelines.  $sort and
 * $group buffer their input and enforce MongoDB's 100 MB limit (292
 * QueryExceededMemoryLimitNoDiskUseAllowed) unless allow_disk_use is set; with allow_disk_use
 * they keep buffering in memory (no spill files yet).
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

typedef struct duet_pipeline_options {
   const duet_expr_scope_t *scope; /* borrowed; caller variables ($lookup/$merge let), may be NULL */
   bool allow_disk_use;            /* lifts the $sort/$group memory limit */
   size_t memory_limit;            /* bytes for $sort/$group; 0 = DUET_PIPELINE_MEMORY_LIMIT_DEFAULT */
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

/* A document source: sets *doc to the next document (borrowed until the next call) or NULL at
 * the end.  Returns false with error set to abort the pipeline. */
typedef bool (*duet_pipeline_source_fn)(void *context, const bson_t **doc, duet_error_t *error);

/* Opens a cursor; `env` (borrowed, may be NULL) must outlive the cursor. */
duet_pipeline_cursor_t *duet_pipeline_open(const duet_pipeline_t *pipeline, duet_pipeline_source_fn source,
                                           void *source_context, const duet_expr_env_t *env);

/* Next output document (borrowed, see above) or *doc = NULL at the end. */
bool duet_pipeline_next(duet_pipeline_cursor_t *cursor, const bson_t **doc, duet_error_t *error);

void duet_pipeline_close(duet_pipeline_cursor_t *cursor);

#ifdef __cplusplus
}
#endif

#endif /* DUET_MQL_PIPELINE_H */
