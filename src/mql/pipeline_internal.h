/*
 * pipeline_internal.h — stage representations shared by the pipeline_*.c files:
 * the projection tree ($addFields/$set/$project/$unset), sort keys, $group accumulators,
 * and the parsed stage list.
 */
#ifndef DUET_PIPELINE_INTERNAL_H
#define DUET_PIPELINE_INTERNAL_H

#include <duet/error.h>
#include <duet/mql_expr.h>
#include <duet/mql_match.h>
#include <duet/mql_pipeline.h>

#include <bson/bson.h>
#include <stdbool.h>

/* ---- projections ------------------------------------------------------------------------- */

typedef enum {
   PROJECT_ADD_FIELDS, /* $addFields/$set: copy everything, computed fields set in place */
   PROJECT_INCLUSION,  /* $project with inclusions/computed fields */
   PROJECT_EXCLUSION,  /* $project with exclusions, $unset */
} project_mode_t;

typedef enum {
   PROJECT_NODE_INCLUDE,
   PROJECT_NODE_EXCLUDE,
   PROJECT_NODE_COMPUTED,
   PROJECT_NODE_SUBTREE,
} project_node_kind_t;

typedef struct project_node {
   char *name; /* owned; field name at this level */
   size_t name_length;
   project_node_kind_t kind;
   duet_expr_t *expr;              /* owned; PROJECT_NODE_COMPUTED */
   struct project_node **children; /* owned; PROJECT_NODE_SUBTREE, in spec order */
   size_t child_count;
   bool has_computed; /* the subtree holds a computed field somewhere */
} project_node_t;

typedef struct projection {
   project_mode_t mode;
   project_node_t root; /* a SUBTREE with no name */
   bool flat;           /* $addFields whose fields are all top-level: raw-copy fast path */
} projection_t;

/* Parses $addFields/$set (`stage_name` is used in messages). */
bool projection_parse_add_fields(const char *stage_name, const bson_t *spec, const duet_expr_scope_t *scope,
                                 projection_t **out, duet_error_t *error);
/* Parses $project. */
bool projection_parse_project(const bson_t *spec, const duet_expr_scope_t *scope, projection_t **out,
                              duet_error_t *error);
/* Parses $unset's value. */
bool projection_parse_unset(const bson_value_t *spec, projection_t **out, duet_error_t *error);
/* Applies to `doc`, appending the result to `out` (initialized by the caller). */
bool projection_apply(const projection_t *projection, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                      duet_error_t *error);
void projection_destroy(projection_t *projection);

/* ---- sort --------------------------------------------------------------------------------- */

typedef struct sort_key {
   char *path;    /* owned; dotted */
   int direction; /* 1 or -1 */
} sort_key_t;

typedef struct sort_spec {
   sort_key_t *keys;
   size_t count;
} sort_spec_t;

bool sort_spec_parse(const bson_value_t *spec, sort_spec_t *out, duet_error_t *error);
void sort_spec_destroy(sort_spec_t *spec);
/* Sorts `docs` in place (stable), by MongoDB's rules for missing fields and arrays. */
void sort_documents(const sort_spec_t *spec, bson_t **docs, size_t count);
/* The value `doc` sorts by for each key (keys[spec->count], borrowed into doc; null when missing). */
void sort_document_keys(const sort_spec_t *spec, const bson_t *doc, bson_value_t *keys);

/* ---- spilling (pipeline_spill.c) ----------------------------------------------------------- */

/* A private temporary SQLite database of (key, sequence, document) rows, read back ordered by
 * (key bytes, sequence).  Writing ends with the first spill_read(). */
typedef struct spill spill_t;
bool spill_open(spill_t **out, duet_error_t *error);
bool spill_write(spill_t *spill, const uint8_t *key, size_t key_length, int64_t sequence, const bson_t *doc,
                 duet_error_t *error);
/* Next row: *doc borrowed until the next call, NULL at the end; *key likewise. */
bool spill_read(spill_t *spill, const uint8_t **key, size_t *key_length, const bson_t **doc, duet_error_t *error);
void spill_close(spill_t *spill);

/* $sort's buffer: in memory up to the limit, then (allow_disk_use) spilled; 292 otherwise. */
typedef struct sorter sorter_t;
sorter_t *sorter_new(const sort_spec_t *spec, size_t memory_limit, bool allow_disk_use);
bool sorter_add(sorter_t *sorter, const bson_t *doc, duet_error_t *error); /* copies doc */
bool sorter_finish(sorter_t *sorter, duet_error_t *error);                 /* after the last add */
/* Next document in order: *doc borrowed until the next call, NULL at the end. */
bool sorter_next(sorter_t *sorter, const bson_t **doc, duet_error_t *error);
bool sorter_used_disk(const sorter_t *sorter);
void sorter_destroy(sorter_t *sorter);

/* ---- $group -------------------------------------------------------------------------------- */

typedef struct group_spec group_spec_t;

bool group_spec_parse(const bson_t *spec, const duet_expr_scope_t *scope, group_spec_t **out, duet_error_t *error);
void group_spec_destroy(group_spec_t *spec);

/* Running state of one $group execution. */
typedef struct group_state group_state_t;
group_state_t *group_state_new(const group_spec_t *spec, size_t memory_limit, bool allow_disk_use);
bool group_state_add(group_state_t *state, const bson_t *doc, const duet_expr_env_t *env, duet_error_t *error);
/* True when groups were spilled (allow_disk_use past the memory limit): read the results with
 * group_state_next_spilled() instead of group_state_finish(). */
bool group_state_used_disk(const group_state_t *state);
/* Next merged group of a spilled $group, appended to `out` (initialized by the caller);
 * *found false at the end. */
bool group_state_next_spilled(group_state_t *state, bson_t *out, bool *found, duet_error_t *error);
/* Moves the finished groups out as new documents (caller owns them and the array). */
void group_state_finish(group_state_t *state, bson_t ***docs, size_t *count);
void group_state_destroy(group_state_t *state);

/* ---- $lookup (pipeline_lookup.c) --------------------------------------------------------- */

typedef struct lookup_spec lookup_spec_t;

/* Most nested sub-pipelines (MongoDB's kMaxSubPipelineDepth): deeper fails with 232. */
#define PIPELINE_MAX_SUB_PIPELINE_DEPTH 20

/* Parses a $lookup stage's value found in a pipeline at nesting `depth` (0: top level).
 * `options` are the enclosing pipeline's (scope, storage, memory limit), inherited by the
 * sub-pipeline. */
bool lookup_parse(const bson_value_t *value, const duet_pipeline_options_t *options, int depth, lookup_spec_t **out,
                  duet_error_t *error);
void lookup_destroy(lookup_spec_t *spec);
/* Runs the join for one input document (borrowed), appending the result document to `out`
 * (initialized by the caller). */
bool lookup_apply(const lookup_spec_t *spec, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                  duet_error_t *error);

/* Parses a pipeline at nesting `depth` (0: top level; > 0: a $lookup sub-pipeline, which
 * refuses $out/$merge with 51047, 40601 when not last). */
bool pipeline_parse_internal(const bson_t *pipeline, const duet_pipeline_options_t *options, int depth,
                             duet_pipeline_t **out, duet_error_t *error);

/* ---- stages --------------------------------------------------------------------------------- */

typedef enum {
   STAGE_MATCH,
   STAGE_PROJECTION, /* $addFields $set $project $unset */
   STAGE_REPLACE_ROOT,
   STAGE_SORT,
   STAGE_LIMIT,
   STAGE_SKIP,
   STAGE_COUNT,
   STAGE_GROUP,
   STAGE_UNWIND,
   STAGE_DOCUMENTS,
   STAGE_LOOKUP,
} stage_kind_t;

typedef struct pipeline_stage {
   stage_kind_t kind;
   const char *name;         /* static, e.g. "$replaceWith" */
   duet_match_t *match;      /* $match */
   projection_t *projection; /* $addFields $set $project $unset */
   duet_expr_t *expr;        /* $replaceRoot newRoot, $documents */
   sort_spec_t sort;         /* $sort */
   int64_t number;           /* $limit, $skip */
   char *field;              /* $count field; $unwind path (without '$'); */
   char *index_field;        /* $unwind includeArrayIndex */
   bool preserve;            /* $unwind preserveNullAndEmptyArrays */
   group_spec_t *group;      /* $group */
   lookup_spec_t *lookup;    /* $lookup */
} pipeline_stage_t;

struct duet_pipeline {
   pipeline_stage_t *stages;
   size_t count;
   size_t memory_limit;
   bool allow_disk_use;
   int depth; /* 0: top level; n: inside n nested $lookup sub-pipelines */
};

/* Approximate memory a buffered document costs. */
static inline size_t pipeline_doc_cost(const bson_t *doc)
{
   return doc->len + sizeof(bson_t) + 16;
}

#endif /* DUET_PIPELINE_INTERNAL_H */
