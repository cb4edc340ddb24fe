/*
 * duet/partner.h — partner collections (src/partner/): the migration spec, the plan that
 * writes one from two schemas, transforms, the dry-run check, mirrors in both directions,
 * the online backfill, verify and retire.  docs/partner.md describes the spec format and
 * the strategy rules.
 *
 * The life of a migration:
 *   duet_partner_plan()          two schema files -> a spec (partner or in-place strategy)
 *   duet_partner_check()         dry run over the source collection, no writes
 *   duet_partner_link_create()   partner collection with its validator, mirrors both ways,
 *                                link persisted in store meta "partner_link"
 *   duet_partner_backfill_run()  chunks in _id order, each one transaction, progress in
 *                                store meta "migration_progress" (resumable)
 *   duet_partner_verify()        both sides compared through the forward transform
 *   duet_partner_retire()        mirrors and link removed, optionally a side dropped
 * A restarted process calls duet_partner_links_restore() to re-register the mirrors of
 * every persisted link and resume unfinished backfills.
 *
 * Ownership.  Specs, transforms, links and reports are owned by the caller and freed with
 * their _destroy/_clear function.  Documents and strings passed in are borrowed.
 * Threads.  A transform is immutable and may be used by several threads.  A link's mirrors
 * run on whichever session writes (inside its transaction); its counters are atomic.  One
 * thread at a time runs a link's backfill; destroy or retire a link only once its backfill
 * has returned.
 */
#ifndef DUET_PARTNER_H
#define DUET_PARTNER_H

#include <duet/error.h>
#include <duet/schema.h>
#include <duet/store.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the migration spec ---------------------------------------------------------------- */

#define DUET_PARTNER_SPEC_VERSION 1
#define DUET_PARTNER_CHUNK_SIZE_DEFAULT 1000

typedef enum {
   DUET_PARTNER_STRATEGY_PARTNER,  /* a partner collection mirrored both ways */
   DUET_PARTNER_STRATEGY_IN_PLACE, /* every document rewritten by `forward`, schema replaced */
} duet_partner_strategy_t;

/*
 * A spec as the JSON file holds it (docs/partner.md):
 *   {"version": 1, "strategy": "partner" | "in-place", "database": "test",
 *    "source": "Task", "partner": "TaskV2", "schema": {App Services schema},
 *    "forward": [stages], "reverse": [stages], "changes": [plan steps],
 *    "options": {"chunk_size": 1000, "allow_null": false}}
 * In-place specs have no "partner" and an empty "reverse".
 */
typedef struct duet_partner_spec {
   int32_t version;
   duet_partner_strategy_t strategy;
   char *database;     /* owned */
   char *source;       /* owned: the existing collection */
   char *partner;      /* owned: the partner collection; NULL for in-place */
   bson_t *schema;     /* owned: the partner's (in-place: the new) App Services schema */
   bson_t *forward;    /* owned: BSON array of stage documents, source -> partner */
   bson_t *reverse;    /* owned: BSON array of stage documents, partner -> source (empty in-place) */
   bson_t *changes;    /* owned: BSON array of the plan's steps (informational, may be empty) */
   int32_t chunk_size; /* options.chunk_size: documents per backfill transaction */
   bool allow_null;    /* options.allow_null: null accepted in optional properties */
} duet_partner_spec_t;

/* Parses a spec from JSON text; `source_name` names the input in messages.  Errors:
 * 9 FailedToParse (JSON syntax), 2 BadValue / 14 TypeMismatch naming the field
 * ("spec.json: field 'forward' must be an array of stage documents"). */
bool duet_partner_spec_parse(const char *source_name, const uint8_t *data, size_t len, duet_partner_spec_t **out,
                             duet_error_t *error);
/* Same from a parsed document (borrowed). */
bool duet_partner_spec_from_bson(const char *source_name, const bson_t *doc, duet_partner_spec_t **out,
                                 duet_error_t *error);
bool duet_partner_spec_load(const char *path, duet_partner_spec_t **out, duet_error_t *error);
/* `out` initialized by the callee, destroyed by the caller. */
void duet_partner_spec_to_bson(const duet_partner_spec_t *spec, bson_t *out);
/* Indented relaxed Extended JSON ending in a newline.  Caller frees (bson_free). */
char *duet_partner_spec_to_json(const duet_partner_spec_t *spec);
bool duet_partner_spec_save(const duet_partner_spec_t *spec, const char *path, duet_error_t *error);
/* A deep copy. */
duet_partner_spec_t *duet_partner_spec_copy(const duet_partner_spec_t *spec);
void duet_partner_spec_destroy(duet_partner_spec_t *spec);

/* ---- plan ------------------------------------------------------------------------------------ */

typedef struct duet_partner_plan_options {
   const char *database;   /* NULL: "test" */
   const char *collection; /* the collection to plan for; NULL: the only one that changed */
   const char *partner;    /* NULL: the new collection name (when renamed) or <collection>V2 */
   bool strategy_given;    /* false: partner for a breaking diff, in-place otherwise */
   duet_partner_strategy_t strategy;
   const duet_schema_diff_options_t *diff_options; /* renames; may be NULL */
} duet_partner_plan_options_t;

/*
** Diffs `old_path` and `new_path` (schema files) and writes a spec: per change the step the
** seeds prescribe, with forward/reverse stages.  *breaking says whether the diff had a
** breaking change.  Fails (2 BadValue) when no transform can be proposed for a change
** (e.g. a list becoming a string), naming the property.
*/
bool duet_partner_plan_files(const char *old_path, const char *new_path, const duet_partner_plan_options_t *options,
                             duet_partner_spec_t **out, bool *breaking, duet_error_t *error);

/* ---- transforms ------------------------------------------------------------------------------- */

typedef enum {
   DUET_PARTNER_FORWARD, /* source -> partner */
   DUET_PARTNER_REVERSE, /* partner -> source */
} duet_partner_direction_t;

typedef struct duet_partner_transform duet_partner_transform_t;

/* Parses the spec's pipelines and schema.  Fails with 2 BadValue naming the field when a
 * pipeline is not per-document ("spec field 'forward': stage 1 ($sort) ...") and with the
 * pipeline's own error otherwise. */
bool duet_partner_transform_new(const duet_partner_spec_t *spec, duet_partner_transform_t **out, duet_error_t *error);
void duet_partner_transform_destroy(duet_partner_transform_t *transform);

/* Applies one direction to `doc` (borrowed).  `out` is always initialized; the caller
 * destroys it.  A document the pipeline drops, or one left without _id, is an error
 * (2 BadValue); conversion errors keep their code (241 ConversionFailure, ...). */
bool duet_partner_transform_apply(const duet_partner_transform_t *transform, duet_partner_direction_t direction,
                                  const bson_t *doc, bson_t *out, duet_error_t *error);

/* The schema of the partner (in-place: the new schema), borrowed from the transform. */
const duet_schema_t *duet_partner_transform_schema(const duet_partner_transform_t *transform);

/* Validates against that schema (schema.h rules); `reason` as duet_schema_validate_document. */
bool duet_partner_transform_validate(const duet_partner_transform_t *transform, const bson_t *doc, char *reason,
                                     size_t reason_size);

/* The $jsonSchema validator equivalent to the schema ({"$jsonSchema": {...}}); `out`
 * initialized by the callee. */
void duet_partner_schema_validator(const duet_schema_t *schema, bson_t *out);

/* Document equality for round trips and verify: duet_doc_compare after ordering the
 * fields of every embedded object by name (field order carries no meaning for Sync), and
 * the same BSON types (int 1 and long 1 differ). */
bool duet_partner_docs_equal(const bson_t *a, const bson_t *b);

/* ---- check (dry run) ------------------------------------------------------------------------ */

typedef enum {
   DUET_PARTNER_CHECK_FORWARD_FAILED,
   DUET_PARTNER_CHECK_SCHEMA_FAILED, /* forward result fails the partner's schema (in-place: new schema) */
   DUET_PARTNER_CHECK_REVERSE_FAILED,
   DUET_PARTNER_CHECK_NOT_ROUND_TRIP, /* reverse(forward(d)) != d */
   DUET_PARTNER_CHECK_ID_COLLISION,   /* two documents with one partner _id */
   DUET_PARTNER_CHECK_KIND_COUNT,
} duet_partner_check_kind_t;

/* "forward_failed", "schema_failed", "reverse_failed", "not_round_trip", "id_collision" */
const char *duet_partner_check_kind_name(duet_partner_check_kind_t kind);

typedef struct duet_partner_check_report {
   int64_t scanned;
   int64_t counts[DUET_PARTNER_CHECK_KIND_COUNT];
   /* owned: {"<kind name>": [{"_id": <source _id>, "reason": "..."}, ...], ...} with at
    * most max_examples entries per kind (an entry of id_collision also has "other_id") */
   bson_t examples;
} duet_partner_check_report_t;

/* Problems found in total (sum of counts). */
int64_t duet_partner_check_problems(const duet_partner_check_report_t *report);

/*
** Reads every document of spec->source (one read snapshot of `session`) and runs the
** transforms on it without writing.  Memory stays flat: collisions are found through a
** private temporary SQLite table keyed by the encoded partner _id.  `report` is initialized
** by the callee (also on failure) and cleared by the caller.
*/
bool duet_partner_check(duet_session_t *session, const duet_partner_spec_t *spec, size_t max_examples,
                        duet_partner_check_report_t *report, duet_error_t *error);
void duet_partner_check_report_clear(duet_partner_check_report_t *report);
/* {scanned, problems, counts: {forward_failed, ...}, examples}; `out` initialized by the callee. */
void duet_partner_check_report_to_bson(const duet_partner_check_report_t *report, bson_t *out);

/* ---- links and mirrors ------------------------------------------------------------------------ */

typedef struct duet_partner_link duet_partner_link_t;

/*
** Starts a migration: for a partner spec creates the partner collection with the schema's
** validator (48 NamespaceExists when it exists already), registers mirrors both ways
** (one origin per pair), persists the link (meta "partner_link", name
** duet_partner_link_name()) and the initial progress, in one transaction of `session`.
** For an in-place spec only the link and progress are persisted (no mirrors).
** *out is owned by the caller: duet_partner_link_destroy unregisters the mirrors (the
** persisted link stays, so a restart re-registers them).  The store must outlive it.
*/
bool duet_partner_link_create(duet_session_t *session, const duet_partner_spec_t *spec, duet_partner_link_t **out,
                              duet_error_t *error);

/* Re-registers the mirrors of every persisted link.  *links is an owned array of *count
 * owned links (duet_partner_links_free). */
bool duet_partner_links_restore(duet_session_t *session, duet_partner_link_t ***links, size_t *count,
                                duet_error_t *error);
void duet_partner_links_free(duet_partner_link_t **links, size_t count);
void duet_partner_link_destroy(duet_partner_link_t *link);

/* Whether db.coll is the source or the partner of a persisted link (in-place links count for
 * their source).  *link_name (may be NULL) is set to an owned copy of the link's name when
 * linked (bson_free).  For duetd to refuse $out/$merge into a mirrored collection. */
bool duet_partner_collection_linked(duet_session_t *session, const char *db, const char *coll, bool *linked,
                                    char **link_name, duet_error_t *error);

/* "<db>.<source>:<partner>" (in-place: "<db>.<source>:in-place"); borrowed from the link. */
const char *duet_partner_link_name(const duet_partner_link_t *link);
/* Borrowed from the link. */
const duet_partner_spec_t *duet_partner_link_spec(const duet_partner_link_t *link);
const duet_partner_transform_t *duet_partner_link_transform(const duet_partner_link_t *link);
/* Writes mirrored since the link was created or restored, and mirror failures. */
int64_t duet_partner_link_mirrored(const duet_partner_link_t *link);
int64_t duet_partner_link_mirror_errors(const duet_partner_link_t *link);

/* ---- backfill -------------------------------------------------------------------------------- */

typedef struct duet_partner_progress {
   bool finished;          /* every source document has been copied (or rewritten) */
   int64_t done;           /* documents copied/skipped so far, over all runs */
   int64_t total_estimate; /* source documents counted when the backfill started */
   int64_t copied;         /* documents written by the backfill (others were mirrored already) */
   double rate;            /* documents per second of the current run (0 before one) */
   bool has_last_id;
   bson_value_t last_id; /* owned when has_last_id: the last source _id done */
} duet_partner_progress_t;

void duet_partner_progress_clear(duet_partner_progress_t *progress);

/*
** Runs one chunk: in one write transaction of `session` reads up to chunk_size source
** documents after the persisted position, writes the forward transform of each one whose
** partner document is missing (one present was written by a mirror, which is never
** older), and persists the new position in the same transaction.  In-place: rewrites each
** document through `forward`.  *finished is set when the source is exhausted.
*/
bool duet_partner_backfill_step(duet_partner_link_t *link, duet_session_t *session, bool *finished,
                                duet_error_t *error);

/* Called after each chunk; return false to stop (not an error). */
typedef bool (*duet_partner_progress_fn)(const duet_partner_progress_t *progress, void *context);

/* Runs chunks until finished (or `fn` asks to stop). */
bool duet_partner_backfill_run(duet_partner_link_t *link, duet_session_t *session, duet_partner_progress_fn fn,
                               void *context, duet_error_t *error);

/* The persisted progress of a link (rate from the link's current run).  `progress` is
 * initialized by the callee; *found false when the link has none. */
bool duet_partner_progress_get(duet_partner_link_t *link, duet_session_t *session, duet_partner_progress_t *progress,
                               duet_error_t *error);

/* A link's status for `duet status`: {name, strategy, database, source, partner?, state:
 * "backfilling"|"mirroring"|"done", done, total, copied, rate, mirrored, mirror_errors, error?}.
 * `out` is always initialized by the callee. */
bool duet_partner_link_status(duet_partner_link_t *link, duet_session_t *session, bson_t *out, duet_error_t *error);

/* ---- verify and retire ------------------------------------------------------------------------ */

typedef struct duet_partner_verify_report {
   int64_t source_count;
   int64_t partner_count;
   int64_t missing;   /* forward(d) absent from the partner */
   int64_t extra;     /* partner documents no source document maps to */
   int64_t differing; /* present but not equal to forward(d) */
   int64_t failed;    /* source documents whose forward transform fails */
   /* owned: {"missing": [{_id}], "extra": [{_id}], "differing": [{_id, expected, actual}],
    * "failed": [{_id, reason}]} with at most max_examples entries each */
   bson_t examples;
} duet_partner_verify_report_t;

int64_t duet_partner_verify_differences(const duet_partner_verify_report_t *report);

/* Compares source and partner through the forward transform in one read snapshot of
 * `session` (flat memory: a temporary SQLite table of the partner keys seen).  For an
 * in-place spec, counts documents that fail the new schema as `differing`. */
bool duet_partner_verify(duet_session_t *session, const duet_partner_spec_t *spec, size_t max_examples,
                         duet_partner_verify_report_t *report, duet_error_t *error);
void duet_partner_verify_report_clear(duet_partner_verify_report_t *report);
/* {source_count, partner_count, differences, missing, extra, differing, failed, examples};
 * `out` initialized by the callee. */
void duet_partner_verify_report_to_bson(const duet_partner_verify_report_t *report, bson_t *out);

typedef enum {
   DUET_PARTNER_KEEP_NEW, /* keep the partner, retire the source */
   DUET_PARTNER_KEEP_OLD, /* keep the source, retire the partner */
} duet_partner_keep_t;

/* Ends the migration: unregisters the link's mirrors, deletes its persisted link and
 * progress and, with `drop`, drops the retired collection — in one transaction.  The link
 * is destroyed (also on failure). */
bool duet_partner_retire(duet_partner_link_t *link, duet_session_t *session, duet_partner_keep_t keep, bool drop,
                         duet_error_t *error);

#ifdef __cplusplus
}
#endif

#endif /* DUET_PARTNER_H */
