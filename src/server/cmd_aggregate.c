/*
 * cmd_aggregate.c — aggregate (with $out or $merge as the last stage), count
 * and distinct, reading through query.h.  A final $out or $merge hands the
 * whole pipeline to the store (duet_store_aggregate) in one write transaction,
 * MongoDB's way: $out writes a temporary collection in the target's database,
 * created with the target's options and indexes, which then replaces the
 * target — all or nothing, into this database or another one; $merge keeps the
 * documents written before a failing one.  Here only the target is checked
 * first (spec errors, a mirrored partner collection is refused).  $lookup
 * reads the foreign collections through the query's session (query.h storage).
 */
#include "server/changestream.h"
#include "server/cmd_partner.h"
#include "server/command.h"
#include "server/query.h"

#include <duet/doc.h>
#include <duet/mql_match.h>
#include <duet/store_ops.h>

#include <stdlib.h>
#include <string.h>

/* The reply of a pipeline that wrote its results: an empty, exhausted cursor. */
static void aggregate_reply_empty(duet_command_ctx_t *ctx, const char *collection, bson_t *reply)
{
   char ns[512];
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection ? collection : "$cmd.aggregate");
   bson_t cursor, batch = BSON_INITIALIZER;
   bson_append_document_begin(reply, "cursor", -1, &cursor);
   BSON_APPEND_ARRAY(&cursor, "firstBatch", &batch);
   BSON_APPEND_INT64(&cursor, "id", 0);
   BSON_APPEND_UTF8(&cursor, "ns", ns);
   bson_append_document_end(reply, &cursor);
   bson_destroy(&batch);
}

/* ---- $out ------------------------------------------------------------------------------ */

/* Reads {$out: "coll"} or {$out: {db, coll}} into target_db/target_coll (borrowed). */
static bool aggregate_out_target(const bson_iter_t *stage, const char *db, const char **target_db,
                                 const char **target_coll, duet_error_t *error)
{
   *target_db = db;
   if (BSON_ITER_HOLDS_UTF8(stage)) {
      *target_coll = bson_iter_utf8(stage, NULL);
   } else if (BSON_ITER_HOLDS_DOCUMENT(stage)) {
      bson_iter_t field;
      bson_iter_recurse(stage, &field);
      *target_coll = NULL;
      while (bson_iter_next(&field)) {
         const char *key = bson_iter_key(&field);
         if ((strcmp(key, "db") == 0 || strcmp(key, "coll") == 0) && !BSON_ITER_HOLDS_UTF8(&field)) {
            duet_error_wrong_type(error, "$out", key, &field, "string");
            return false;
         }
         if (strcmp(key, "db") == 0) {
            *target_db = bson_iter_utf8(&field, NULL);
         } else if (strcmp(key, "coll") == 0) {
            *target_coll = bson_iter_utf8(&field, NULL);
         } else {
            duet_error_set(error, 40415, "BSON field '$out.%s' is an unknown field.", key);
            return false;
         }
      }
      if (!*target_coll) {
         duet_error_set(error, 40414, "BSON field '$out.coll' is missing but a required field");
         return false;
      }
   } else {
      duet_error_set(error, 16990, "$out only supports a string or object argument, but found %s",
                     duet_bson_type_name(bson_iter_type(stage)));
      return false;
   }
   /* a system collection is a valid namespace to MongoDB, refused by $out with its own code */
   if (strncmp(*target_coll, "system.", 7) == 0) {
      duet_error_set(error, 17385, "Can't $out to special collection: %s", *target_coll);
      return false;
   }
   if (!duet_store_validate_namespace(*target_db, *target_coll, error)) {
      return false;
   }
   if (strcmp(*target_db, "admin") == 0 || strcmp(*target_db, "local") == 0 || strcmp(*target_db, "config") == 0) {
      duet_error_set(error, 31321, "Can't $out to internal database: %s", *target_db);
      return false;
   }
   return true;
}

/* ---- $merge ---------------------------------------------------------------------------- */

/* The target named by a $merge spec: {$merge: "coll"} or {$merge: {into: "coll" | {db, coll}}}
 * (borrowed).  False when the spec names none; the store then reports why. */
static bool aggregate_merge_target(const bson_iter_t *stage, const char *db, const char **target_db,
                                   const char **target_coll)
{
   *target_db = db;
   *target_coll = NULL;
   bson_iter_t into;
   if (BSON_ITER_HOLDS_UTF8(stage)) {
      *target_coll = bson_iter_utf8(stage, NULL);
   } else if (BSON_ITER_HOLDS_DOCUMENT(stage) && bson_iter_recurse(stage, &into) && bson_iter_find(&into, "into")) {
      bson_iter_t field;
      if (BSON_ITER_HOLDS_UTF8(&into)) {
         *target_coll = bson_iter_utf8(&into, NULL);
      } else if (BSON_ITER_HOLDS_DOCUMENT(&into) && bson_iter_recurse(&into, &field)) {
         while (bson_iter_next(&field)) {
            if (strcmp(bson_iter_key(&field), "db") == 0 && BSON_ITER_HOLDS_UTF8(&field)) {
               *target_db = bson_iter_utf8(&field, NULL);
            } else if (strcmp(bson_iter_key(&field), "coll") == 0 && BSON_ITER_HOLDS_UTF8(&field)) {
               *target_coll = bson_iter_utf8(&field, NULL);
            }
         }
      }
   }
   return *target_coll != NULL;
}

/*
 * Runs the whole pipeline (borrowed, ending with $out or $merge) through the store on a
 * pooled session: $out replaces its target in one write transaction (nothing changes on a
 * failure); $merge commits the documents merged before a failure (the failure is then
 * returned, as MongoDB does).  The caller has checked the target.
 */
static bool aggregate_run_in_store(duet_command_ctx_t *ctx, const char *collection, const bson_t *pipeline,
                                   bool allow_disk_use, bool bypass_validation, bson_t *reply, duet_error_t *error)
{
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   duet_store_aggregate_options_t options = {allow_disk_use, bypass_validation, ctx->args.deadline_us};
   duet_store_aggregate_t *aggregate = NULL;
   /* a collectionless aggregate ($documents) reads no collection: the store's scan of a
    * missing one is empty, and $documents ignores its input */
   bool ok = duet_store_aggregate(session, ctx->db, collection ? collection : "$cmd.aggregate", pipeline, &options,
                                  &aggregate, error);
   duet_store_aggregate_destroy(aggregate);
   duet_server_session_release(ctx->server, session);
   if (ok) {
      aggregate_reply_empty(ctx, collection, reply);
   }
   return ok;
}

/* ---- aggregate ----------------------------------------------------------------------------- */

bool duet_cmd_aggregate(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, true, &collection, error)) {
      return false;
   }
   bson_iter_t iter;
   bool allow_disk_use = false, bypass_validation = false;
   int64_t batch_size = -1;
   bool has_cursor = false, explain = false;
   const bson_t *pipeline_doc = NULL;
   bson_t pipeline_static;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "pipeline") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            duet_error_wrong_type(error, "aggregate", "pipeline", &iter, "array");
            return false;
         }
         uint32_t length;
         const uint8_t *data;
         bson_iter_array(&iter, &length, &data);
         bson_init_static(&pipeline_static, data, length);
         pipeline_doc = &pipeline_static;
      } else if (strcmp(key, "cursor") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            duet_error_wrong_type(error, "aggregate", "cursor", &iter, "object");
            return false;
         }
         has_cursor = true;
         bson_iter_t child;
         bson_iter_recurse(&iter, &child);
         if (bson_iter_find(&child, "batchSize")) {
            if (!BSON_ITER_HOLDS_NUMBER(&child) || bson_iter_as_int64(&child) < 0) {
               duet_error_set(error, DUET_ERR_BAD_VALUE, "cursor.batchSize must be a non-negative number");
               return false;
            }
            batch_size = bson_iter_as_int64(&child);
         }
      } else if (strcmp(key, "allowDiskUse") == 0) {
         allow_disk_use = bson_iter_as_bool(&iter);
      } else if (strcmp(key, "explain") == 0) {
         explain = bson_iter_as_bool(&iter);
      } else if (strcmp(key, "collation") == 0 || strcmp(key, "let") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "aggregate option '%s' is not supported by duetd", key);
         return false;
      } else if (strcmp(key, "bypassDocumentValidation") == 0) {
         bypass_validation = bson_iter_as_bool(&iter);
      } else if (strcmp(key, "hint") != 0 && !duet_command_is_generic_field(key)) {
         duet_error_set(error, 40415, "BSON field 'aggregate.%s' is an unknown field.", key);
         return false;
      }
   }
   if (!pipeline_doc) {
      duet_error_set(error, 40414, "BSON field 'aggregate.pipeline' is missing but a required field");
      return false;
   }
   if (explain) {
      duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "explain is not supported by duetd");
      return false;
   }
   if (!has_cursor) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "The 'cursor' option is required, except for aggregate with the explain argument");
      return false;
   }
   if (duet_changestream_in_pipeline(pipeline_doc)) {
      return duet_changestream_open(ctx, collection, pipeline_doc, batch_size, reply, error);
   }
   /* $out and $merge must be last; then the store runs the whole pipeline, once the target
    * has been checked here.  Other pipelines run through a query source (a cursor). */
   uint32_t stage_count = bson_count_keys(pipeline_doc);
   uint32_t index = 0;
   bson_iter_init(&iter, pipeline_doc);
   while (bson_iter_next(&iter)) {
      bson_iter_t stage;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &stage) || !bson_iter_next(&stage)) {
         index++;
         continue; /* the pipeline parser reports it */
      }
      const char *name = bson_iter_key(&stage);
      bool is_out = strcmp(name, "$out") == 0, is_merge = strcmp(name, "$merge") == 0;
      if (!is_out && !is_merge) {
         index++;
         continue;
      }
      if (index != stage_count - 1) {
         duet_error_set(error, 40601, "%s can only be the final stage in the pipeline", name);
         return false;
      }
      const char *target_db = NULL, *target_coll = NULL;
      if (is_out) {
         if (!aggregate_out_target(&stage, ctx->db, &target_db, &target_coll, error) ||
             !duet_partner_server_check_write_target(ctx->server, target_db, target_coll, "$out", error)) {
            return false;
         }
      } else if (aggregate_merge_target(&stage, ctx->db, &target_db, &target_coll) &&
                 !duet_partner_server_check_write_target(ctx->server, target_db, target_coll, "$merge", error)) {
         return false;
      }
      return aggregate_run_in_store(ctx, collection, pipeline_doc, allow_disk_use, bypass_validation, reply, error);
   }
   duet_query_storage_t *storage = duet_query_storage_new(ctx->db);
   duet_pipeline_options_t options = {NULL, allow_disk_use, 0, duet_query_storage_callbacks(storage)};
   duet_pipeline_t *pipeline = NULL;
   if (!duet_pipeline_parse(pipeline_doc, &options, &pipeline, error)) {
      duet_query_storage_destroy(storage);
      return false;
   }
   duet_query_spec_t spec = {ctx->db, collection, NULL, pipeline, NULL, ctx->args.max_time_ms, NULL, storage};
   duet_cursor_source_t source;
   if (!duet_query_open(ctx->server, &spec, &source, error)) {
      return false;
   }
   char ns[512];
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection ? collection : "$cmd.aggregate");
   duet_cursor_options_t cursor_options = DUET_CURSOR_OPTIONS_INIT;
   cursor_options.batch_size = batch_size;
   cursor_options.has_lsid = ctx->args.has_lsid;
   memcpy(cursor_options.lsid, ctx->args.lsid, sizeof cursor_options.lsid);
   return duet_cursor_reply_first(&ctx->server->cursors, ns, source, &cursor_options, reply, error);
}

/* ---- count ------------------------------------------------------------------------------------ */

/* Builds [$match: query] from the command's `query` field (absent, null or {} → no stage). */
static bool aggregate_query_stage(duet_command_ctx_t *ctx, bson_t *stages, uint32_t *count, duet_match_t **match,
                                  duet_error_t *error)
{
   bson_iter_t iter;
   *match = NULL;
   if (!bson_iter_init_find(&iter, ctx->command, "query") || BSON_ITER_HOLDS_NULL(&iter)) {
      return true;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, "query", &iter, "object");
      return false;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_document(&iter, &length, &data);
   bson_t query;
   bson_init_static(&query, data, length);
   if (bson_empty(&query)) {
      return true;
   }
   if (!duet_match_parse(&query, DUET_MATCH_FEATURES_DEFAULT, match, error)) {
      return false;
   }
   duet_query_append_stage(stages, count, "$match", bson_iter_value(&iter));
   return true;
}

bool duet_cmd_count(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   bson_t stages = BSON_INITIALIZER;
   uint32_t stage_count = 0;
   duet_match_t *match = NULL;
   bool ok = aggregate_query_stage(ctx, &stages, &stage_count, &match, error);
   for (int i = 0; ok && i < 2; i++) {
      const char *field = i == 0 ? "skip" : "limit";
      bson_iter_t iter;
      if (!bson_iter_init_find(&iter, ctx->command, field) || BSON_ITER_HOLDS_NULL(&iter)) {
         continue;
      }
      if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
         duet_error_wrong_type(error, "count", field, &iter, "long");
         ok = false;
         break;
      }
      int64_t value = bson_iter_as_int64(&iter);
      if (i == 0 && value < 0) {
         duet_error_set(error, 51024, "BSON field 'skip' value must be >= 0, actual value '%lld'", (long long)value);
         ok = false;
      } else if (value != 0) {
         bson_value_t number = {.value_type = BSON_TYPE_INT64, .value.v_int64 = value < 0 ? -value : value};
         duet_query_append_stage(&stages, &stage_count, i == 0 ? "$skip" : "$limit", &number);
      }
   }
   duet_pipeline_t *pipeline = NULL;
   ok = ok && duet_pipeline_parse(&stages, NULL, &pipeline, error);
   bson_destroy(&stages);
   duet_match_destroy(match);
   if (!ok) {
      return false;
   }
   int64_t n = 0;
   if (stage_count == 0) {
      duet_pipeline_destroy(pipeline);
      duet_session_t *session;
      if (!duet_server_session_acquire(ctx->server, &session, error)) {
         return false;
      }
      ok = duet_store_count(session, ctx->db, collection, &n, error);
      duet_server_session_release(ctx->server, session);
   } else {
      duet_query_spec_t spec = {ctx->db, collection, NULL, pipeline, NULL, ctx->args.max_time_ms, NULL};
      duet_cursor_source_t source = {NULL, NULL}; /* set only when the open succeeds */
      ok = duet_query_open(ctx->server, &spec, &source, error);
      while (ok) {
         const bson_t *doc;
         duet_cursor_step_t step = source.ops->next(source.state, &doc, error);
         if (step == DUET_CURSOR_STEP_END) {
            break;
         }
         if (step != DUET_CURSOR_STEP_DOC) {
            ok = false;
            break;
         }
         n++;
      }
      if (source.ops) {
         source.ops->destroy(source.state);
      }
   }
   if (ok) {
      if (n <= INT32_MAX) {
         BSON_APPEND_INT32(reply, "n", (int32_t)n);
      } else {
         BSON_APPEND_INT64(reply, "n", n);
      }
   }
   return ok;
}

/* ---- distinct ------------------------------------------------------------------------------------ */

typedef struct distinct_values {
   bson_value_t *values; /* owned copies */
   size_t count, capacity;
} distinct_values_t;

static void distinct_add(distinct_values_t *set, const bson_value_t *value)
{
   if (set->count == set->capacity) {
      set->capacity = set->capacity ? set->capacity * 2 : 16;
      set->values = bson_realloc(set->values, sizeof *set->values * set->capacity);
   }
   bson_value_copy(value, &set->values[set->count++]);
}

/* Collects the values at dotted `path` of the document/array under `iter`, MongoDB's way:
 * arrays met on the way are walked element by element, an array at the end adds its elements. */
static void distinct_collect(bson_iter_t *container, const char *path, distinct_values_t *set, int depth)
{
   if (depth > 200) {
      return;
   }
   const char *dot = strchr(path, '.');
   size_t length = dot ? (size_t)(dot - path) : strlen(path);
   bson_iter_t iter = *container;
   while (bson_iter_next(&iter)) {
      if (strlen(bson_iter_key(&iter)) != length || strncmp(bson_iter_key(&iter), path, length) != 0) {
         continue;
      }
      if (dot) {
         bson_iter_t child;
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_iter_recurse(&iter, &child);
            distinct_collect(&child, dot + 1, set, depth + 1);
         } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
            bson_iter_t element;
            bson_iter_recurse(&iter, &element);
            bson_iter_t by_index = element;
            /* a numeric component indexes the array; otherwise every element document is walked */
            distinct_collect(&by_index, dot + 1, set, depth + 1);
            while (bson_iter_next(&element)) {
               if (BSON_ITER_HOLDS_DOCUMENT(&element)) {
                  bson_iter_recurse(&element, &child);
                  distinct_collect(&child, dot + 1, set, depth + 1);
               }
            }
         }
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         bson_iter_t element;
         bson_iter_recurse(&iter, &element);
         while (bson_iter_next(&element)) {
            distinct_add(set, bson_iter_value(&element));
         }
      } else {
         distinct_add(set, bson_iter_value(&iter));
      }
      return;
   }
}

static int distinct_compare(const void *a, const void *b)
{
   return duet_value_compare(a, b);
}

bool duet_cmd_distinct(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, "key")) {
      duet_error_set(error, 40414, "BSON field 'distinct.key' is missing but a required field");
      return false;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_wrong_type(error, "distinct", "key", &iter, "string");
      return false;
   }
   const char *key = bson_iter_utf8(&iter, NULL);
   if (!*key) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "FieldPath cannot be constructed with empty string");
      return false;
   }
   bson_t stages = BSON_INITIALIZER;
   uint32_t stage_count = 0;
   duet_match_t *match = NULL;
   duet_pipeline_t *pipeline = NULL;
   bool ok = aggregate_query_stage(ctx, &stages, &stage_count, &match, error) &&
             duet_pipeline_parse(&stages, NULL, &pipeline, error);
   bson_destroy(&stages);
   duet_match_destroy(match);
   if (!ok) {
      return false;
   }
   duet_query_spec_t spec = {ctx->db, collection, NULL, pipeline, NULL, ctx->args.max_time_ms, NULL};
   duet_cursor_source_t source;
   if (!duet_query_open(ctx->server, &spec, &source, error)) {
      return false;
   }
   distinct_values_t set = {NULL, 0, 0};
   for (;;) {
      const bson_t *doc;
      duet_cursor_step_t step = source.ops->next(source.state, &doc, error);
      if (step == DUET_CURSOR_STEP_END) {
         break;
      }
      if (step != DUET_CURSOR_STEP_DOC) {
         ok = false;
         break;
      }
      bson_iter_t fields;
      bson_iter_init(&fields, doc);
      distinct_collect(&fields, key, &set, 0);
   }
   source.ops->destroy(source.state);
   if (ok) {
      if (set.count > 1) {
         qsort(set.values, set.count, sizeof *set.values, distinct_compare);
      }
      bson_t values;
      bson_append_array_begin(reply, "values", -1, &values);
      uint32_t index = 0;
      size_t bytes = 0;
      for (size_t i = 0; i < set.count; i++) {
         if (i > 0 && duet_value_compare(&set.values[i - 1], &set.values[i]) == 0) {
            continue;
         }
         char key_buffer[16];
         const char *array_key;
         bson_uint32_to_string(index++, &array_key, key_buffer, sizeof key_buffer);
         bson_append_value(&values, array_key, -1, &set.values[i]);
         bytes = values.len;
         if (bytes > DUET_WIRE_MAX_BSON_SIZE) {
            break;
         }
      }
      bson_append_array_end(reply, &values);
      if (bytes > DUET_WIRE_MAX_BSON_SIZE) {
         duet_error_set(error, 17217, "distinct too big, 16mb cap");
         ok = false;
      }
   }
   for (size_t i = 0; i < set.count; i++) {
      bson_value_destroy(&set.values[i]);
   }
   bson_free(set.values);
   return ok;
}
