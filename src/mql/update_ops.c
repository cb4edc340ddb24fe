/*
 * update_ops.c — argument parsing of the update modifiers at parse time
 * (MongoDB's *Node::init): $set $unset $inc $mul $bit $min $max $currentDate
 * $setOnInsert $rename $push $addToSet $pop $pull $pullAll.  Applying them is
 * update_modify.c.
 */
#include "mql/update_private.h"

#include <duet/doc.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------- */

static bool is_number(bson_type_t type)
{
   return duet_type_is_number(type);
}

/* "{<field>: <value>}"-style rendering of the modifier element. */
static char *format_element(const char *name, const bson_value_t *value)
{
   bson_string_t *s = bson_string_new(NULL);
   duet_update_format_element(s, name, value);
   return bson_string_free(s, false);
}

/* Integer value of a number element as MongoDB's parseIntegerElementToLong. */
static bool integer_argument(const bson_value_t *value, int64_t *out)
{
   switch (value->value_type) {
   case BSON_TYPE_INT32: *out = value->value.v_int32; return true;
   case BSON_TYPE_INT64: *out = value->value.v_int64; return true;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (isnan(d) || d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
         return false;
      }
      *out = (int64_t)d;
      return true;
   }
   case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t dec = value->value.v_decimal128;
      int64_t v;
      if (!duet_decimal_to_int64(dec, &v)) {
         return false;
      }
      if (duet_decimal_compare(duet_decimal_from_int64(v), dec) != 0) {
         return false;
      }
      *out = v;
      return true;
   }
   default: return false;
   }
}

static double number_as_double(const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_INT32: return value->value.v_int32;
   case BSON_TYPE_INT64: return (double)value->value.v_int64;
   case BSON_TYPE_DOUBLE: return value->value.v_double;
   case BSON_TYPE_DECIMAL128: return duet_decimal_to_double(value->value.v_decimal128);
   default: return 0;
   }
}

/* ---- argument parsing ------------------------------------------------------------ */

static bool init_arithmetic(duet_unode_t *leaf, const char *field, const bson_value_t *arg, duet_error_t *error)
{
   if (!is_number(arg->value_type)) {
      char *text = format_element(field, arg);
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Cannot %s with non-numeric argument: {%s}",
                     leaf->op == DUET_UOP_INC ? "increment" : "multiply", text);
      bson_free(text);
      return false;
   }
   return true;
}

static bool init_current_date(duet_unode_t *leaf, const bson_value_t *arg, duet_error_t *error)
{
   if (arg->value_type == BSON_TYPE_BOOL) {
      leaf->current_date_is_timestamp = false;
      return true;
   }
   if (arg->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "%s is not valid type for $currentDate. Please use a boolean ('true') or a $type expression "
                     "({$type: 'timestamp/date'}).",
                     duet_type_name(arg->value_type));
      return false;
   }
   bson_iter_t iter;
   bool found = false;
   BSON_ASSERT(bson_iter_init_from_data(&iter, arg->value.v_doc.data, arg->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      if (strcmp(bson_iter_key(&iter), "$type") == 0) {
         if (BSON_ITER_HOLDS_UTF8(&iter)) {
            const char *type = bson_iter_utf8(&iter, NULL);
            if (strcmp(type, "date") == 0) {
               leaf->current_date_is_timestamp = false;
               found = true;
            } else if (strcmp(type, "timestamp") == 0) {
               leaf->current_date_is_timestamp = true;
               found = true;
            }
         }
      } else {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Unrecognized $currentDate option: %s", bson_iter_key(&iter));
         return false;
      }
   }
   if (!found) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : "
                     "{$type: 'date'}}}");
      return false;
   }
   return true;
}

static void collect_array(duet_unode_t *leaf, const bson_value_t *array)
{
   bson_iter_t iter;
   size_t n = 0;
   BSON_ASSERT(bson_iter_init_from_data(&iter, array->value.v_doc.data, array->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      n++;
   }
   leaf->values = bson_malloc0((n ? n : 1) * sizeof *leaf->values);
   leaf->value_count = 0;
   BSON_ASSERT(bson_iter_init_from_data(&iter, array->value.v_doc.data, array->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      leaf->values[leaf->value_count++] = *bson_iter_value(&iter);
   }
}

static bool check_sort_pattern(const bson_value_t *pattern, duet_error_t *error)
{
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init_from_data(&iter, pattern->value.v_doc.data, pattern->value.v_doc.data_len));
   bool empty = true;
   while (bson_iter_next(&iter)) {
      empty = false;
      const bson_value_t *v = bson_iter_value(&iter);
      double order = is_number(v->value_type) ? number_as_double(v) : 0;
      if (order != -1 && order != 1) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "The $sort element value must be either 1 or -1");
         return false;
      }
      const char *key = bson_iter_key(&iter);
      if (!key[0]) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "The $sort field cannot be empty");
         return false;
      }
      size_t n = strlen(key);
      bool empty_part = key[0] == '.' || key[n - 1] == '.' || strstr(key, "..");
      if (empty_part) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "The $sort field is a dotted field but has an empty part: %s", key);
         return false;
      }
   }
   if (empty) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "The $sort pattern is empty when it should be a set of fields.");
      return false;
   }
   return true;
}

static bool init_push(duet_unode_t *leaf, const bson_value_t *arg, duet_error_t *error)
{
   bson_iter_t iter;
   bool has_each = false;
   if (arg->value_type == BSON_TYPE_DOCUMENT) {
      BSON_ASSERT(bson_iter_init_from_data(&iter, arg->value.v_doc.data, arg->value.v_doc.data_len));
      has_each = bson_iter_find(&iter, "$each");
   }
   if (!has_each) {
      leaf->values = bson_malloc(sizeof *leaf->values);
      leaf->values[0] = *arg;
      leaf->value_count = 1;
      return true;
   }
   static const char *const clauses[] = {"$each", "$slice", "$sort", "$position"};
   bson_value_t found_values[4];
   const bson_value_t *found[4] = {NULL, NULL, NULL, NULL};
   BSON_ASSERT(bson_iter_init_from_data(&iter, arg->value.v_doc.data, arg->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      int which = -1;
      for (int i = 0; i < 4; i++) {
         if (strcmp(key, clauses[i]) == 0) {
            which = i;
         }
      }
      if (which < 0) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Unrecognized clause in $push: %s", key);
         return false;
      }
      if (found[which]) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Only one %s is supported.", key);
         return false;
      }
      found_values[which] = *bson_iter_value(&iter); /* borrowed from the spec copy */
      found[which] = &found_values[which];
   }
   if (found[0]->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The argument to $each in $push must be an array but it was of type: %s",
                     duet_type_name(found[0]->value_type));
      return false;
   }
   collect_array(leaf, found[0]);
   if (found[1]) {
      if (!integer_argument(found[1], &leaf->slice)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "The value for $slice must be an integer value but was given type: %s",
                        duet_type_name(found[1]->value_type));
         return false;
      }
      leaf->has_slice = true;
   }
   if (found[2]) {
      const bson_value_t *sort = found[2];
      if (sort->value_type == BSON_TYPE_DOCUMENT) {
         if (!check_sort_pattern(sort, error)) {
            return false;
         }
         leaf->has_sort = true;
         leaf->sort_whole = false;
         leaf->sort_pattern = *sort; /* a struct copy; its data points into the spec */
      } else if (is_number(sort->value_type)) {
         double order = number_as_double(sort);
         if (order != 1 && order != -1) {
            duet_error_set(error, DUET_ERR_BAD_VALUE, "The $sort element value must be either 1 or -1");
            return false;
         }
         leaf->has_sort = true;
         leaf->sort_whole = true;
         leaf->sort_direction = order > 0 ? 1 : -1;
      } else {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded "
                        "fields");
         return false;
      }
   }
   if (found[3]) {
      if (!integer_argument(found[3], &leaf->position)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "The value for $position must be an integer value, not of type: %s",
                        duet_type_name(found[3]->value_type));
         return false;
      }
      leaf->has_position = true;
   }
   return true;
}

static bool init_add_to_set(duet_unode_t *leaf, const bson_value_t *arg, duet_error_t *error)
{
   if (arg->value_type == BSON_TYPE_DOCUMENT) {
      bson_iter_t iter;
      BSON_ASSERT(bson_iter_init_from_data(&iter, arg->value.v_doc.data, arg->value.v_doc.data_len));
      if (bson_iter_next(&iter) && strcmp(bson_iter_key(&iter), "$each") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                           "The argument to $each in $addToSet must be an array but it was of type %s",
                           duet_type_name(bson_iter_type(&iter)));
            return false;
         }
         bson_value_t each = *bson_iter_value(&iter);
         if (bson_iter_next(&iter)) {
            bson_string_t *s = bson_string_new(NULL);
            duet_update_format_value(s, arg);
            duet_error_set(error, DUET_ERR_BAD_VALUE, "Found unexpected fields after $each in $addToSet: %s", s->str);
            bson_string_free(s, true);
            return false;
         }
         collect_array(leaf, &each);
         goto dedupe;
      }
   }
   leaf->values = bson_malloc(sizeof *leaf->values);
   leaf->values[0] = *arg;
   leaf->value_count = 1;
dedupe:
   /* keep the first of equal values */
   {
      size_t kept = 0;
      for (size_t i = 0; i < leaf->value_count; i++) {
         bool duplicate = false;
         for (size_t j = 0; j < kept && !duplicate; j++) {
            duplicate = duet_value_compare(&leaf->values[j], &leaf->values[i]) == 0;
         }
         if (!duplicate) {
            leaf->values[kept++] = leaf->values[i];
         }
      }
      leaf->value_count = kept;
   }
   return true;
}

/* BSONElement::parseIntegerElementToLong with its FailedToParse messages. */
static bool parse_integer_element(const char *field, const bson_value_t *arg, int64_t *out, duet_error_t *error)
{
   if (integer_argument(arg, out)) {
      return true;
   }
   bson_string_t *text = bson_string_new(NULL);
   duet_update_format_element_full(text, field, arg);
   if (!is_number(arg->value_type)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected a number in: %s", text->str);
   } else if (arg->value_type == BSON_TYPE_DOUBLE && isnan(arg->value.v_double)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected an integer, but found NaN in: %s", text->str);
   } else if (arg->value_type == BSON_TYPE_DOUBLE &&
              (arg->value.v_double >= 9223372036854775808.0 || arg->value.v_double < -9223372036854775808.0)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot represent as a 64-bit integer: %s", text->str);
   } else if (arg->value_type == BSON_TYPE_DOUBLE) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected an integer: %s", text->str);
   } else {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot represent as a 64-bit integer: %s", text->str);
   }
   bson_string_free(text, true);
   return false;
}

static bool init_pop(duet_unode_t *leaf, const char *field, const bson_value_t *arg, duet_error_t *error)
{
   int64_t direction;
   if (!parse_integer_element(field, arg, &direction, error)) {
      return false;
   }
   if (direction != 1 && direction != -1) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$pop expects 1 or -1, found: %" PRId64, direction);
      return false;
   }
   leaf->pop_direction = (int)direction;
   return true;
}

/* Top-level query keywords: an object starting with one of these is a query on documents. */
static bool is_path_accepting_keyword(const char *key)
{
   static const char *const keywords[] = {
       "$eq",
       "$ne",
       "$gt",
       "$gte",
       "$lt",
       "$lte",
       "$in",
       "$nin",
       "$all",
       "$exists",
       "$mod",
       "$type",
       "$regex",
       "$options",
       "$elemMatch",
       "$size",
       "$not",
       "$bitsAllSet",
       "$bitsAllClear",
       "$bitsAnySet",
       "$bitsAnyClear",
       "$geoIntersects",
       "$geoWithin",
       "$near",
       "$nearSphere",
       "$within",
       "$_internalSchemaType",
   };
   for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
      if (strcmp(keywords[i], key) == 0) {
         return true;
      }
   }
   return false;
}

static bool init_pull(duet_unode_t *leaf, const bson_value_t *arg, duet_error_t *error)
{
   if (arg->value_type == BSON_TYPE_DOCUMENT) {
      bson_iter_t iter;
      BSON_ASSERT(bson_iter_init_from_data(&iter, arg->value.v_doc.data, arg->value.v_doc.data_len));
      bool keyword = bson_iter_next(&iter) && is_path_accepting_keyword(bson_iter_key(&iter));
      bson_t condition;
      BSON_ASSERT(bson_init_static(&condition, arg->value.v_doc.data, arg->value.v_doc.data_len));
      if (!keyword) {
         leaf->pull_match_as_document = true;
         return duet_match_parse(&condition, DUET_MATCH_FEATURES_NONE, &leaf->pull_match, error);
      }
   }
   if (arg->value_type == BSON_TYPE_DOCUMENT || arg->value_type == BSON_TYPE_REGEX) {
      bson_t wrapped = BSON_INITIALIZER;
      bson_append_value(&wrapped, "", 0, arg);
      bool ok = duet_match_parse(&wrapped, DUET_MATCH_FEATURES_NONE, &leaf->pull_match, error);
      bson_destroy(&wrapped);
      return ok;
   }
   return true; /* plain equality */
}

/* A path with a positional `$` or an array filter `$[...]` part. */
static bool path_is_dynamic(const char *path)
{
   const char *part = path;
   for (const char *p = path;; p++) {
      if (*p == '.' || *p == '\0') {
         size_t n = (size_t)(p - part);
         if ((n == 1 && part[0] == '$') || (n >= 3 && part[0] == '$' && part[1] == '[' && part[n - 1] == ']')) {
            return true;
         }
         if (*p == '\0') {
            return false;
         }
         part = p + 1;
      }
   }
}

static bool init_rename(duet_unode_t *leaf, const char *field, const bson_value_t *arg, duet_error_t *error)
{
   const char *to = arg->value.v_utf8.str;
   if (strlen(to) != arg->value.v_utf8.len) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "The 'to' field for $rename cannot contain an embedded null byte");
      return false;
   }
   char *text = format_element(field, arg);
   size_t from_len = strlen(field), to_len = strlen(to);
   bool ok = true;
   if (strcmp(field, to) == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "The source and target field for $rename must differ: %s", text);
      ok = false;
   } else if ((from_len < to_len && strncmp(field, to, from_len) == 0 && to[from_len] == '.') ||
              (to_len < from_len && strncmp(field, to, to_len) == 0 && field[to_len] == '.')) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The source and target field for $rename must not be on the same path: %s", text);
      ok = false;
   }
   bson_free(text);
   if (ok && (path_is_dynamic(field) || path_is_dynamic(to))) {
      bool source = path_is_dynamic(field);
      duet_error_set(error, DUET_ERR_BAD_VALUE, "The %s field for $rename may not be dynamic: %s",
                     source ? "source" : "destination", source ? field : to);
      ok = false;
   }
   if (ok) {
      leaf->rename_from = bson_strdup(field);
   }
   return ok;
}

static bool init_bit(duet_unode_t *leaf, const bson_value_t *arg, duet_error_t *error)
{
   if (arg->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The $bit modifier is not compatible with a %s. You must pass in an embedded document: {$bit: "
                     "{field: {and/or/xor: #}}",
                     duet_type_name(arg->value_type));
      return false;
   }
   collect_array(leaf, arg); /* operands, in order */
   leaf->bit_ops = bson_malloc0(leaf->value_count + 1);
   bson_iter_t iter;
   size_t i = 0;
   BSON_ASSERT(bson_iter_init_from_data(&iter, arg->value.v_doc.data, arg->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      char *text = format_element(key, bson_iter_value(&iter));
      if (strcmp(key, "and") != 0 && strcmp(key, "or") != 0 && strcmp(key, "xor") != 0) {
         duet_error_set(
             error, DUET_ERR_BAD_VALUE,
             "The $bit modifier only supports 'and', 'or', and 'xor', not '%s' which is an unknown operator: "
             "{%s}",
             key, text);
         bson_free(text);
         return false;
      }
      if (!BSON_ITER_HOLDS_INT32(&iter) && !BSON_ITER_HOLDS_INT64(&iter)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "The $bit modifier field must be an Integer(32/64 bit); a '%s' is not supported here: {%s}",
                        duet_type_name(bson_iter_type(&iter)), text);
         bson_free(text);
         return false;
      }
      bson_free(text);
      leaf->bit_ops[i++] = key[0];
   }
   if (i == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}");
      return false;
   }
   return true;
}

bool duet_update_leaf_init(duet_unode_t *leaf, const char *field, const bson_value_t *arg, duet_error_t *error)
{
   leaf->arg = *arg;
   leaf->field = bson_strdup(field);
   switch (leaf->op) {
   case DUET_UOP_INC:
   case DUET_UOP_MUL: return init_arithmetic(leaf, field, arg, error);
   case DUET_UOP_CURRENT_DATE: return init_current_date(leaf, arg, error);
   case DUET_UOP_PUSH: return init_push(leaf, arg, error);
   case DUET_UOP_ADD_TO_SET: return init_add_to_set(leaf, arg, error);
   case DUET_UOP_POP: return init_pop(leaf, field, arg, error);
   case DUET_UOP_PULL: return init_pull(leaf, arg, error);
   case DUET_UOP_PULL_ALL:
      if (arg->value_type != BSON_TYPE_ARRAY) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$pullAll requires an array argument but was given a %s",
                        duet_type_name(arg->value_type));
         return false;
      }
      collect_array(leaf, arg);
      return true;
   case DUET_UOP_RENAME: return init_rename(leaf, field, arg, error);
   case DUET_UOP_BIT: return init_bit(leaf, arg, error);
   default: return true;
   }
}
