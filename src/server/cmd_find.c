/*
 * cmd_find.c — find: a store scan streamed through the aggregation engine
 * ($match, $sort, $skip, $limit) and the find projection into a cursor.
 */
#include "server/command.h"
#include "server/query.h"

#include <duet/mql_match.h>

#include <string.h>

static bool find_is_boolish(const bson_iter_t *iter)
{
   return BSON_ITER_HOLDS_BOOL(iter) || BSON_ITER_HOLDS_NUMBER(iter);
}

/* Reads a non-negative integer option (skip, limit, batchSize). */
static bool find_read_count(const bson_iter_t *iter, const char *field, int64_t *out, duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_NUMBER(iter)) {
      duet_error_wrong_type(error, "FindCommandRequest", field, iter, "long");
      return false;
   }
   double value = bson_iter_as_double(iter);
   if (value < 0) {
      duet_error_set(error, 51024, "BSON field '%s' value must be >= 0, actual value '%lld'", field,
                     (long long)bson_iter_as_int64(iter));
      return false;
   }
   *out = bson_iter_as_int64(iter);
   return true;
}

bool duet_cmd_find(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const known[] = {"filter", "projection", "sort", "hint", "skip", "limit", "batchSize",
                                       "singleBatch", "allowDiskUse", "noCursorTimeout", "allowPartialResults",
                                       "collation", "let", "tailable", "awaitData", "oplogReplay", "min", "max",
                                       "returnKey", "showRecordId", NULL};
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error) || !duet_command_check_fields(ctx, "FindCommandRequest", known, error)) {
      return false;
   }
   bson_t filter = BSON_INITIALIZER, projection = BSON_INITIALIZER, sort = BSON_INITIALIZER;
   bool has_projection = false, has_sort = false, single_batch = false, allow_disk_use = false;
   int64_t skip = 0, limit = 0, batch_size = -1;
   bool ok = true;
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   while (ok && bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      bool is_document = BSON_ITER_HOLDS_DOCUMENT(&iter);
      if (strcmp(key, "filter") == 0 || strcmp(key, "projection") == 0 || strcmp(key, "sort") == 0) {
         if (!is_document) {
            duet_error_wrong_type(error, "FindCommandRequest", key, &iter, "object");
            ok = false;
            break;
         }
         uint32_t length;
         const uint8_t *data;
         bson_iter_document(&iter, &length, &data);
         bson_t value;
         bson_init_static(&value, data, length);
         bson_t *target = key[0] == 'f' ? &filter : key[0] == 'p' ? &projection : &sort;
         bson_reinit(target);
         bson_concat(target, &value);
         has_projection |= key[0] == 'p' && !bson_empty(&value);
         has_sort |= key[0] == 's' && !bson_empty(&value);
      } else if (strcmp(key, "skip") == 0) {
         ok = find_read_count(&iter, key, &skip, error);
      } else if (strcmp(key, "limit") == 0) {
         ok = find_read_count(&iter, key, &limit, error);
      } else if (strcmp(key, "batchSize") == 0) {
         ok = find_read_count(&iter, key, &batch_size, error);
      } else if (strcmp(key, "singleBatch") == 0 || strcmp(key, "allowDiskUse") == 0 ||
                 strcmp(key, "noCursorTimeout") == 0 || strcmp(key, "allowPartialResults") == 0 ||
                 strcmp(key, "tailable") == 0 || strcmp(key, "awaitData") == 0 || strcmp(key, "returnKey") == 0 ||
                 strcmp(key, "showRecordId") == 0 || strcmp(key, "oplogReplay") == 0) {
         if (!find_is_boolish(&iter)) {
            duet_error_wrong_type(error, "FindCommandRequest", key, &iter, "bool");
            ok = false;
            break;
         }
         bool value = bson_iter_as_bool(&iter);
         if (strcmp(key, "singleBatch") == 0) {
            single_batch = value;
         } else if (strcmp(key, "allowDiskUse") == 0) {
            allow_disk_use = value;
         } else if (value && strcmp(key, "tailable") == 0) {
            duet_error_set(error, DUET_ERR_BAD_VALUE,
                           "error processing query: tailable cursor requested on non capped collection");
            ok = false;
         } else if (value && (strcmp(key, "returnKey") == 0 || strcmp(key, "showRecordId") == 0)) {
            duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "find option '%s' is not supported by duetd", key);
            ok = false;
         }
      } else if (strcmp(key, "collation") == 0) {
         bson_iter_t locale;
         bson_iter_t child;
         bool simple = is_document && bson_iter_recurse(&iter, &child) && bson_iter_find(&child, "locale") &&
                       (locale = child, BSON_ITER_HOLDS_UTF8(&locale)) &&
                       strcmp(bson_iter_utf8(&locale, NULL), "simple") == 0;
         if (!simple) {
            duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "collation other than 'simple' is not supported by duetd");
            ok = false;
         }
      } else if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0 || strcmp(key, "let") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "find option '%s' is not supported by duetd", key);
         ok = false;
      }
      /* hint only chooses a plan: the results are the same without it */
   }

   duet_match_t *match = NULL;
   duet_query_spec_t spec = {ctx->db, collection, NULL, NULL, NULL, ctx->args.max_time_ms, NULL};
   duet_cursor_source_t source = {NULL, NULL};
   if (ok) {
      /* the pipeline: $match, $sort, $skip, $limit */
      bson_t stages = BSON_INITIALIZER;
      uint32_t stage_count = 0;
      bson_value_t value;
      if (!bson_empty(&filter)) {
         value.value_type = BSON_TYPE_DOCUMENT;
         value.value.v_doc.data = (uint8_t *)bson_get_data(&filter);
         value.value.v_doc.data_len = filter.len;
         duet_query_append_stage(&stages, &stage_count, "$match", &value);
      }
      if (has_sort) {
         value.value_type = BSON_TYPE_DOCUMENT;
         value.value.v_doc.data = (uint8_t *)bson_get_data(&sort);
         value.value.v_doc.data_len = sort.len;
         duet_query_append_stage(&stages, &stage_count, "$sort", &value);
      }
      value.value_type = BSON_TYPE_INT64;
      if (skip > 0) {
         value.value.v_int64 = skip;
         duet_query_append_stage(&stages, &stage_count, "$skip", &value);
      }
      if (limit > 0) {
         value.value.v_int64 = limit;
         duet_query_append_stage(&stages, &stage_count, "$limit", &value);
      }
      duet_pipeline_options_t options = {NULL, allow_disk_use, 0};
      ok = duet_pipeline_parse(&stages, &options, &spec.pipeline, error);
      bson_destroy(&stages);
      if (ok && has_projection) {
         ok = duet_projection_parse(&projection, &filter, &spec.projection, error);
      }
      /* {_id: v}: read one key instead of scanning the collection */
      if (ok && !bson_empty(&filter)) {
         ok = duet_match_parse(&filter, DUET_MATCH_FEATURES_DEFAULT, &match, error);
         if (ok && !duet_match_id_equality(match, &spec.id_equals)) {
            spec.id_equals = NULL;
         }
      }
      if (ok) {
         ok = duet_query_open(ctx->server, &spec, &source, error);
      } else {
         duet_pipeline_destroy(spec.pipeline);
         duet_projection_destroy(spec.projection);
      }
   }
   duet_match_destroy(match);
   bson_destroy(&filter);
   bson_destroy(&projection);
   bson_destroy(&sort);
   if (!ok) {
      return false;
   }
   char ns[512];
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   duet_cursor_options_t cursor_options = DUET_CURSOR_OPTIONS_INIT;
   cursor_options.batch_size = batch_size;
   cursor_options.single_batch = single_batch || (limit > 0 && batch_size >= limit);
   cursor_options.has_lsid = ctx->args.has_lsid;
   memcpy(cursor_options.lsid, ctx->args.lsid, sizeof cursor_options.lsid);
   __atomic_add_fetch(&ctx->server->op_query, 1, __ATOMIC_RELAXED);
   return duet_cursor_reply_first(&ctx->server->cursors, ns, source, &cursor_options, reply, error);
}
