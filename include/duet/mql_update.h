/*
 * duet/mql_update.h — MongoDB update documents: modifier updates ($set, $inc,
 * $push, ...), replacement documents and pipeline-style updates, applied to one
 * document at a time with MongoDB's results, field order and errors.
 *
 * An update is parsed once and applied to every matched document:
 *
 *     duet_update_t *update = NULL;
 *     duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
 *     options.array_filters = filters;                  // optional
 *     if (!duet_update_parse(spec, &options, &update, error)) ...
 *     bson_t new_doc;
 *     bool modified;
 *     if (!duet_update_apply(update, old_doc, query, false, &new_doc, &modified, error)) ...
 *     bson_destroy(&new_doc);                            // always, even on failure
 *     duet_update_destroy(update);
 *
 * Upserts: duet_update_upsert_seed() builds the document MongoDB starts from
 * (the query's equality fields, `$and` of equalities, `_id`); apply the update to
 * it with is_upsert_insert = true ($setOnInsert then takes effect): the result
 * has `_id` first, a new ObjectId when neither the query nor the update gave one
 * (MongoDB's ensureIdFieldIsFirst), and is validated as an insert.
 *
 * Semantics (MongoDB 5.0+ update system):
 *  - Modifiers are merged into one tree keyed by path; a path that is a prefix of
 *    or equal to another fails to parse with 40 ConflictingUpdateOperators.
 *  - Fields are applied in byte order of their names at each level, so new
 *    fields are appended in that order; an existing field keeps its position;
 *    $rename removes the source and appends the target.
 *  - `$` (positional) needs the query that matched the document; `$[]` and
 *    `$[<id>]` walk arrays, the latter filtered by `arrayFilters`.
 *  - `_id` is immutable (66); replacement documents may not hold `$` fields (52).
 *  - A no-op update reports modified = false (nModified counts it as 0).
 *
 * Ownership: the parsed update copies the spec and the array filters; it is
 * immutable after parsing and may be shared between threads.  Documents passed
 * to apply are borrowed; new_doc_out is initialized by the callee in every case
 * and destroyed by the caller.
 */
#ifndef DUET_MQL_UPDATE_H
#define DUET_MQL_UPDATE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include <duet/error.h>
#include <duet/mql_expr.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_update duet_update_t;

/* What an update spec is. */
typedef enum duet_update_kind {
   DUET_UPDATE_MODIFIERS,   /* {$set: {...}, $inc: {...}} */
   DUET_UPDATE_REPLACEMENT, /* {a: 1, b: 2} (also {}) */
   DUET_UPDATE_PIPELINE,    /* [{$set: {...}}, {$unset: [...]}] */
} duet_update_kind_t;

typedef struct duet_update_options {
   /* Borrowed during parse (copied): an array, as the bson_t holding keys "0", "1", ...,
    * of arrayFilters documents; NULL when the command has none. */
   const bson_t *array_filters;
   /* Milliseconds since the epoch used by $currentDate and $$NOW; 0 reads the
    * wall clock once per duet_update_apply call. */
   int64_t now_ms;
   /* Pipeline updates: names of caller variables the stages may use ($merge's
    * `let`, e.g. `new`); borrowed during parse only.  NULL when none.  Their
    * values are passed to duet_update_apply_env. */
   const duet_expr_scope_t *scope;
} duet_update_options_t;

#define DUET_UPDATE_OPTIONS_INIT                                                                                       \
   {                                                                                                                   \
      NULL, 0, NULL                                                                                                    \
   }

/*
** Parses an update given as a document (modifiers or replacement).  `options`
** may be NULL.
** Return: true and *out set (free with duet_update_destroy); false with error
** (9 FailedToParse "Unknown modifier: $foo. Expected a valid update modifier or
** pipeline-style update specified as an array", 40, 2, 14, 56, 52, ...) and *out NULL.
*/
bool duet_update_parse(const bson_t *update, const duet_update_options_t *options, duet_update_t **out,
                       duet_error_t *error);

/*
** Parses a pipeline-style update: `pipeline` is an array (keys "0", "1", ...) of
** stages, each one of $addFields/$set, $project/$unset, $replaceRoot/$replaceWith.
** Other stages fail with 9 FailedToParse "<stage> is not allowed to be used within an update".
*/
bool duet_update_parse_pipeline(const bson_t *pipeline, const duet_update_options_t *options, duet_update_t **out,
                                duet_error_t *error);

/*
** Parses the `u` field of an update statement: a document or an array (pipeline).
** Any other type fails with 9 FailedToParse "Update argument must be either an
** object or an array".  `u` is borrowed.
*/
bool duet_update_parse_value(const bson_value_t *u, const duet_update_options_t *options, duet_update_t **out,
                             duet_error_t *error);

/* Frees an update; NULL is a no-op. */
void duet_update_destroy(duet_update_t *update);

duet_update_kind_t duet_update_kind(const duet_update_t *update);

/* True when a path of the update uses the positional `$` (then apply needs the query). */
bool duet_update_uses_positional(const duet_update_t *update);

/*
** Applies the update to `old_doc` (borrowed).
**   query             the filter that matched old_doc (borrowed), needed only by
**                     positional `$` paths; may be NULL otherwise.
**   is_upsert_insert  true when old_doc is the upsert seed: $setOnInsert applies,
**                     `_id` is moved to the front (generated when missing) and
**                     top-level '$' fields pass as in an insert.
** new_doc_out is always initialized (caller bson_destroys it); on success it holds
** the new document and *modified_out tells whether it differs from old_doc.
** Return: false with MongoDB's error (66 ImmutableField, 14 TypeMismatch, 28
** PathNotViable, 2 BadValue, ...); new_doc_out is then empty.
** Errors from apply depend on the stored document ("execution time"): mongod
** reports them as "Plan executor error during <command> :: caused by :: <message>"
** (command = update, findAndModify); the command layer adds that prefix
** (duet_error_wrap).  Errors from parse are reported bare.
*/
bool duet_update_apply(const duet_update_t *update, const bson_t *old_doc, const bson_t *query, bool is_upsert_insert,
                       bson_t *new_doc_out, bool *modified_out, duet_error_t *error);

/*
** duet_update_apply with caller variables for pipeline updates: env->variables
** are the values of the scope given at parse (indexed as duet_expr_scope_define
** returned); env->now_ms, when non-zero, is $$NOW and the $currentDate clock.
** `env` may be NULL.  Same contract as duet_update_apply otherwise.
*/
bool duet_update_apply_env(const duet_update_t *update, const bson_t *old_doc, const bson_t *query,
                           bool is_upsert_insert, const duet_expr_env_t *env, bson_t *new_doc_out, bool *modified_out,
                           duet_error_t *error);

/*
** Builds the upsert seed from a query filter (borrowed): the equality predicates
** among its top-level conjuncts ({a: 1}, {a: {$eq: 1}}, {"a.b": 1}, $and of those),
** as MongoDB's extractEqualityMatches; dotted paths become embedded documents.
** For a replacement update pass only_id = true: only `_id` is taken.
** seed_out is always initialized (caller destroys).
** Errors: 54 NotSingleValueField "cannot infer query fields to set, path 'a' is
** matched twice" / "... both paths 'a.b' and 'a' are matched".
*/
bool duet_update_upsert_seed(const bson_t *query, bool only_id, bson_t *seed_out, duet_error_t *error);

/*
** Convenience for an upsert that inserts: seed from `query`, apply with
** is_upsert_insert = true.  Same contract as duet_update_apply.
*/
bool duet_update_apply_upsert(const duet_update_t *update, const bson_t *query, bson_t *new_doc_out,
                              duet_error_t *error);

#ifdef __cplusplus
}
#endif

#endif /* DUET_MQL_UPDATE_H */
