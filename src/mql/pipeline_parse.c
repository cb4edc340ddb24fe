/*
 * pipeline_parse.c — turns a pipeline array into stages: the stage-name table, each stage's
 * argument checks with MongoDB's codes and messages, and pipeline destruction.
 */
#include "mql/pipeline_internal.h"

#include <duet/doc.h>

#include <math.h>
#include <string.h>

static void stage_clear(pipeline_stage_t *stage)
{
   duet_match_destroy(stage->match);
   projection_destroy(stage->projection);
   duet_expr_destroy(stage->expr);
   sort_spec_destroy(&stage->sort);
   bson_free(stage->field);
   bson_free(stage->index_field);
   group_spec_destroy(stage->group);
   lookup_destroy(stage->lookup);
   memset(stage, 0, sizeof *stage);
}

void duet_pipeline_destroy(duet_pipeline_t *pipeline)
{
   if (!pipeline) {
      return;
   }
   for (size_t i = 0; i < pipeline->count; i++) {
      stage_clear(&pipeline->stages[i]);
   }
   bson_free(pipeline->stages);
   bson_free(pipeline);
}

size_t duet_pipeline_stage_count(const duet_pipeline_t *pipeline)
{
   return pipeline->count;
}

bool duet_pipeline_is_per_document(const duet_pipeline_t *pipeline)
{
   for (size_t i = 0; i < pipeline->count; i++) {
      stage_kind_t kind = pipeline->stages[i].kind;
      if (kind != STAGE_MATCH && kind != STAGE_PROJECTION && kind != STAGE_REPLACE_ROOT) {
         return false;
      }
   }
   return true;
}

static bool as_document(const bson_value_t *value, bson_t *view)
{
   return value->value_type == BSON_TYPE_DOCUMENT &&
          bson_init_static(view, value->value.v_doc.data, value->value.v_doc.data_len);
}

static bool parse_match(pipeline_stage_t *stage, const bson_value_t *value, const duet_expr_scope_t *scope,
                        duet_error_t *error)
{
   bson_t filter;
   if (!as_document(value, &filter)) {
      duet_error_set(error, 15959, "the match filter must be an expression in an object");
      return false;
   }
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, &filter, "$text")) {
      duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "$match with $text is not supported by duet");
      return false;
   }
   return duet_match_parse_with_scope(&filter, DUET_MATCH_FEATURES_DEFAULT, scope, &stage->match, error);
}

static bool parse_replace_root(pipeline_stage_t *stage, const bson_value_t *value, const duet_expr_scope_t *scope,
                               duet_error_t *error)
{
   if (strcmp(stage->name, "$replaceWith") == 0) {
      return duet_expr_parse(value, scope, &stage->expr, error);
   }
   bson_t spec;
   if (!as_document(value, &spec)) {
      duet_error_set(error, 40229, "expected an object as specification for $replaceRoot stage, got %s",
                     duet_type_name(value->value_type));
      return false;
   }
   bson_iter_t iter;
   bson_iter_init(&iter, &spec);
   while (bson_iter_next(&iter)) {
      if (strcmp(bson_iter_key(&iter), "newRoot") != 0) {
         duet_error_set(error, 40230, "unrecognized option to $replaceRoot stage: %s, only valid option is 'newRoot'.",
                        bson_iter_key(&iter));
         return false;
      }
      duet_expr_destroy(stage->expr);
      stage->expr = NULL;
      if (!duet_expr_parse_iter(&iter, scope, &stage->expr, error)) {
         return false;
      }
   }
   if (!stage->expr) {
      duet_error_set(error, 40231, "no newRoot specified for the $replaceRoot stage");
      return false;
   }
   return true;
}

static bool parse_limit_skip(pipeline_stage_t *stage, const bson_value_t *value, duet_error_t *error)
{
   bool is_limit = stage->kind == STAGE_LIMIT;
   int64_t n;
   bool numeric = duet_type_is_number(value->value_type);
   if (!numeric) {
      if (is_limit) {
         duet_error_set(error, 15957, "the limit must be specified as a number");
      } else {
         duet_error_set(error, 15972, "Argument to $skip must be a number.");
      }
      return false;
   }
   double d = value->value_type == BSON_TYPE_DOUBLE ? value->value.v_double : 0;
   bool integral = value->value_type != BSON_TYPE_DOUBLE || (isfinite(d) && d == trunc(d));
   int64_t v = 0;
   if (value->value_type == BSON_TYPE_INT32) {
      v = value->value.v_int32;
   } else if (value->value_type == BSON_TYPE_INT64) {
      v = value->value.v_int64;
   } else if (value->value_type == BSON_TYPE_DOUBLE) {
      v = integral && fabs(d) < 9.2e18 ? (int64_t)d : (d < 0 ? INT64_MIN : INT64_MAX);
   } else {
      integral = duet_decimal_to_int64(value->value.v_decimal128, &v) &&
                 duet_decimal_compare(duet_decimal_from_int64(v), value->value.v_decimal128) == 0;
   }
   if (!integral) {
      char text[64];
      duet_expr_format_double(value->value_type == BSON_TYPE_DOUBLE ? d : 0, text, sizeof text);
      duet_error_set(error, is_limit ? 15957 : 15972, "Expected an integer: %s: %s", stage->name, text);
      return false;
   }
   n = v;
   if (is_limit && n <= 0) {
      duet_error_set(error, 15958, "the limit must be positive");
      return false;
   }
   if (!is_limit && n < 0) {
      duet_error_set(error, 15956, "Argument to $skip cannot be negative");
      return false;
   }
   stage->number = n;
   return true;
}

static bool parse_count(pipeline_stage_t *stage, const bson_value_t *value, duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_UTF8 || value->value.v_utf8.len == 0) {
      duet_error_set(error, 40156, "the count field must be a non-empty string");
      return false;
   }
   const char *field = value->value.v_utf8.str;
   if (field[0] == '$') {
      duet_error_set(error, 40158, "the count field cannot be a $-prefixed path");
      return false;
   }
   if (memchr(field, '\0', value->value.v_utf8.len)) {
      duet_error_set(error, 40159, "the count field cannot contain a null byte");
      return false;
   }
   if (strchr(field, '.')) {
      duet_error_set(error, 40160, "the count field cannot contain '.'");
      return false;
   }
   stage->field = bson_strdup(field);
   return true;
}

static bool parse_unwind(pipeline_stage_t *stage, const bson_value_t *value, duet_error_t *error)
{
   const char *path = NULL;
   if (value->value_type == BSON_TYPE_UTF8) {
      path = value->value.v_utf8.str;
   } else if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_t spec;
      bson_iter_t iter;
      as_document(value, &spec);
      bson_iter_init(&iter, &spec);
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         if (strcmp(key, "path") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&iter)) {
               duet_error_set(error, 28808, "expected a string as the path for $unwind stage, got %s",
                              duet_type_name(bson_iter_type(&iter)));
               return false;
            }
            path = bson_iter_utf8(&iter, NULL);
         } else if (strcmp(key, "preserveNullAndEmptyArrays") == 0) {
            if (!BSON_ITER_HOLDS_BOOL(&iter)) {
               duet_error_set(error, 28809,
                              "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got %s",
                              duet_type_name(bson_iter_type(&iter)));
               return false;
            }
            stage->preserve = bson_iter_bool(&iter);
         } else if (strcmp(key, "includeArrayIndex") == 0) {
            uint32_t length = 0;
            const char *name = BSON_ITER_HOLDS_UTF8(&iter) ? bson_iter_utf8(&iter, &length) : NULL;
            if (!name || length == 0) {
               duet_error_set(error, 28810,
                              "expected a non-empty string for the includeArrayIndex  option to $unwind stage, got %s",
                              duet_type_name(bson_iter_type(&iter)));
               return false;
            }
            if (name[0] == '$') {
               duet_error_set(error, 28822,
                              "includeArrayIndex option to $unwind stage should not be prefixed with a '$': %s", name);
               return false;
            }
            bson_free(stage->index_field);
            stage->index_field = bson_strdup(name);
         } else {
            duet_error_set(error, 28811, "unrecognized option to $unwind stage: %s", key);
            return false;
         }
      }
      if (!path) {
         duet_error_set(error, 28812, "no path specified to $unwind stage");
         return false;
      }
   } else {
      duet_error_set(error, 15981, "expected either a string or an object as specification for $unwind stage, got %s",
                     duet_type_name(value->value_type));
      return false;
   }
   if (path[0] != '$') {
      duet_error_set(error, 28818, "path option to $unwind stage should be prefixed with a '$': %s", path);
      return false;
   }
   if (path[1] == '\0' || path[1] == '$') {
      duet_error_set(error, 16872, "'$' by itself is not a valid FieldPath");
      return false;
   }
   stage->field = bson_strdup(path + 1);
   return true;
}

static bool parse_stage(duet_pipeline_t *pipeline, pipeline_stage_t *stage, const bson_t *spec, size_t position,
                        const duet_pipeline_options_t *options, duet_error_t *error)
{
   const duet_expr_scope_t *scope = options ? options->scope : NULL;
   static const struct {
      const char *name;
      stage_kind_t kind;
   } names[] = {
       {"$match", STAGE_MATCH},
       {"$addFields", STAGE_PROJECTION},
       {"$set", STAGE_PROJECTION},
       {"$project", STAGE_PROJECTION},
       {"$unset", STAGE_PROJECTION},
       {"$replaceRoot", STAGE_REPLACE_ROOT},
       {"$replaceWith", STAGE_REPLACE_ROOT},
       {"$sort", STAGE_SORT},
       {"$limit", STAGE_LIMIT},
       {"$skip", STAGE_SKIP},
       {"$count", STAGE_COUNT},
       {"$group", STAGE_GROUP},
       {"$unwind", STAGE_UNWIND},
       {"$documents", STAGE_DOCUMENTS},
       {"$lookup", STAGE_LOOKUP},
   };
   bson_iter_t iter;
   if (bson_count_keys(spec) != 1 || !bson_iter_init(&iter, spec) || !bson_iter_next(&iter)) {
      duet_error_set(error, 40323, "A pipeline stage specification object must contain exactly one field.");
      return false;
   }
   const char *name = bson_iter_key(&iter);
   const bson_value_t *value = bson_iter_value(&iter);
   int found = -1;
   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      if (strcmp(names[i].name, name) == 0) {
         found = (int)i;
      }
   }
   if (found < 0) {
      if (strcmp(name, "$out") == 0 || strcmp(name, "$merge") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED,
                        "%s is carried out by the store (duet_store_aggregate), not by duet_pipeline", name);
      } else {
         duet_error_set(error, 40324, "Unrecognized pipeline stage name: '%s'", name);
      }
      return false;
   }
   stage->kind = names[found].kind;
   stage->name = names[found].name;
   bson_t doc;
   switch (stage->kind) {
   case STAGE_MATCH: return parse_match(stage, value, scope, error);
   case STAGE_PROJECTION:
      if (strcmp(name, "$unset") == 0) {
         return projection_parse_unset(value, &stage->projection, error);
      }
      if (!as_document(value, &doc)) {
         if (strcmp(name, "$project") == 0) {
            duet_error_set(error, 15969, "$project specification must be an object");
         } else {
            duet_error_set(error, 40272, "%s specification stage must be an object, got %s", name,
                           duet_type_name(value->value_type));
         }
         return false;
      }
      if (strcmp(name, "$project") == 0) {
         return projection_parse_project(&doc, scope, &stage->projection, error);
      }
      return projection_parse_add_fields(name, &doc, scope, &stage->projection, error);
   case STAGE_REPLACE_ROOT: return parse_replace_root(stage, value, scope, error);
   case STAGE_SORT: return sort_spec_parse(value, &stage->sort, error);
   case STAGE_LIMIT:
   case STAGE_SKIP: return parse_limit_skip(stage, value, error);
   case STAGE_COUNT: return parse_count(stage, value, error);
   case STAGE_GROUP:
      if (!as_document(value, &doc)) {
         duet_error_set(error, 15947, "a group's fields must be specified in an object");
         return false;
      }
      return group_spec_parse(&doc, scope, &stage->group, error);
   case STAGE_UNWIND: return parse_unwind(stage, value, error);
   case STAGE_DOCUMENTS:
      if (position != 0) {
         duet_error_set(error, 40602, "$documents is only valid as the first stage in a pipeline");
         return false;
      }
      return duet_expr_parse(value, scope, &stage->expr, error);
   case STAGE_LOOKUP: return lookup_parse(value, options, pipeline->depth, &stage->lookup, error);
   }
   return false;
}

/* Inside a $lookup sub-pipeline, $out and $merge are refused after every stage parsed, as
 * MongoDB validates positions (40601) and then the sub-pipeline's stages (51047). */
static bool check_lookup_stages(const bson_t *pipeline, duet_error_t *error)
{
   bson_iter_t iter;
   uint32_t count = bson_count_keys(pipeline), position = 0;
   const char *refused = NULL;
   bson_iter_init(&iter, pipeline);
   while (bson_iter_next(&iter)) {
      bson_iter_t stage;
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage)) {
         const char *name = bson_iter_key(&stage);
         if (strcmp(name, "$out") == 0 || strcmp(name, "$merge") == 0) {
            if (position + 1 != count) {
               duet_error_set(error, 40601, "%s can only be the final stage in the pipeline", name);
               return false;
            }
            refused = name;
         }
      }
      position++;
   }
   if (refused) {
      duet_error_set(error, 51047, "%s is not allowed within a $lookup's sub-pipeline", refused);
      return false;
   }
   return true;
}

bool duet_pipeline_parse(const bson_t *pipeline, const duet_pipeline_options_t *options, duet_pipeline_t **out,
                         duet_error_t *error)
{
   return pipeline_parse_internal(pipeline, options, 0, out, error);
}

bool pipeline_parse_internal(const bson_t *pipeline, const duet_pipeline_options_t *options, int depth,
                             duet_pipeline_t **out, duet_error_t *error)
{
   bool in_lookup = depth > 0;
   *out = NULL;
   duet_pipeline_t *result = bson_malloc0(sizeof *result);
   uint32_t n = bson_count_keys(pipeline);
   result->stages = bson_malloc0((n ? n : 1) * sizeof *result->stages);
   result->memory_limit = options && options->memory_limit ? options->memory_limit : DUET_PIPELINE_MEMORY_LIMIT_DEFAULT;
   result->allow_disk_use = options && options->allow_disk_use;
   result->depth = depth;
   bson_iter_t iter;
   if (!bson_iter_init(&iter, pipeline)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "invalid pipeline");
      goto fail;
   }
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Each element of the 'pipeline' array must be an object");
         goto fail;
      }
      bson_t spec;
      uint32_t length;
      const uint8_t *data;
      bson_iter_document(&iter, &length, &data);
      bson_init_static(&spec, data, length);
      if (in_lookup) {
         bson_iter_t name;
         if (bson_iter_init(&name, &spec) && bson_iter_next(&name) &&
             (strcmp(bson_iter_key(&name), "$out") == 0 || strcmp(bson_iter_key(&name), "$merge") == 0)) {
            continue; /* refused below, once every other stage parsed */
         }
      }
      if (!parse_stage(result, &result->stages[result->count], &spec, result->count, options, error)) {
         stage_clear(&result->stages[result->count]);
         goto fail;
      }
      result->count++;
   }
   if (in_lookup && !check_lookup_stages(pipeline, error)) {
      goto fail;
   }
   *out = result;
   return true;
fail:
   duet_pipeline_destroy(result);
   return false;
}
