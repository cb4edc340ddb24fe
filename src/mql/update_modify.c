/*
 * update_modify.c — applies one parsed modifier to the element at the end of its
 * path (MongoDB's ModifierNode::apply and the *_node.cpp updateExistingElement /
 * setValueForNewElement pairs), with the _id immutability checks and MongoDB's
 * noop rules (a noop leaf does not count towards nModified).
 */
#include "mql/update_private.h"

#include <duet/doc.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers (MongoDB's SafeNum) ------------------------------------------------- */

static bool add_overflows(int64_t a, int64_t b, int64_t *out)
{
   return __builtin_add_overflow(a, b, out);
}

static bool mul_overflows(int64_t a, int64_t b, int64_t *out)
{
   return __builtin_mul_overflow(a, b, out);
}

static int64_t as_int64(const bson_value_t *v)
{
   return v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
}

static double as_double(const bson_value_t *v)
{
   switch (v->value_type) {
   case BSON_TYPE_INT32: return v->value.v_int32;
   case BSON_TYPE_INT64: return (double)v->value.v_int64;
   case BSON_TYPE_DOUBLE: return v->value.v_double;
   case BSON_TYPE_DECIMAL128: return duet_decimal_to_double(v->value.v_decimal128);
   default: return 0;
   }
}

/* SafeNum::getDecimal: a double becomes Decimal128(double, kRoundTo15Digits),
 * 15 significant digits with trailing zeros kept (0.1 -> 0.100000000000000). */
static bson_decimal128_t as_decimal(const bson_value_t *v)
{
   if (v->value_type != BSON_TYPE_DOUBLE) {
      return duet_decimal_from_value(v);
   }
   double d = v->value.v_double;
   bson_decimal128_t result;
   if (isnan(d)) {
      bson_decimal128_from_string("NaN", &result);
   } else if (isinf(d)) {
      bson_decimal128_from_string(d > 0 ? "Infinity" : "-Infinity", &result);
   } else if (d == 0) {
      bson_decimal128_from_string(signbit(d) ? "-0" : "0", &result);
   } else {
      char text[40];
      snprintf(text, sizeof text, "%.14e", d);
      bson_decimal128_from_string(text, &result);
   }
   return result;
}

/* a (op) b for two numbers; false when int64 arithmetic overflows. */
static bool safe_arith(duet_uop_t op, const bson_value_t *a, const bson_value_t *b, bson_value_t *out)
{
   bson_type_t ta = a->value_type, tb = b->value_type;
   memset(out, 0, sizeof *out);
   if (ta == BSON_TYPE_DECIMAL128 || tb == BSON_TYPE_DECIMAL128) {
      out->value_type = BSON_TYPE_DECIMAL128;
      out->value.v_decimal128 = op == DUET_UOP_INC ? duet_decimal_add(as_decimal(a), as_decimal(b))
                                                   : duet_decimal_multiply(as_decimal(a), as_decimal(b));
      return true;
   }
   if (ta == BSON_TYPE_DOUBLE || tb == BSON_TYPE_DOUBLE) {
      out->value_type = BSON_TYPE_DOUBLE;
      out->value.v_double = op == DUET_UOP_INC ? as_double(a) + as_double(b) : as_double(a) * as_double(b);
      return true;
   }
   int64_t result;
   bool overflow = op == DUET_UOP_INC ? add_overflows(as_int64(a), as_int64(b), &result)
                                      : mul_overflows(as_int64(a), as_int64(b), &result);
   if (overflow) {
      return false;
   }
   if (ta == BSON_TYPE_INT32 && tb == BSON_TYPE_INT32 && result >= INT32_MIN && result <= INT32_MAX) {
      out->value_type = BSON_TYPE_INT32;
      out->value.v_int32 = (int32_t)result;
   } else {
      out->value_type = BSON_TYPE_INT64;
      out->value.v_int64 = result;
   }
   return true;
}

/* SafeNum::isIdentical: same type and same value. */
static bool numbers_identical(const bson_value_t *a, const bson_value_t *b)
{
   if (a->value_type != b->value_type) {
      return false;
   }
   switch (a->value_type) {
   case BSON_TYPE_INT32: return a->value.v_int32 == b->value.v_int32;
   case BSON_TYPE_INT64: return a->value.v_int64 == b->value.v_int64;
   case BSON_TYPE_DOUBLE: return a->value.v_double == b->value.v_double;
   case BSON_TYPE_DECIMAL128:
      return a->value.v_decimal128.high == b->value.v_decimal128.high &&
             a->value.v_decimal128.low == b->value.v_decimal128.low;
   default: return false;
   }
}

static void safe_num_debug(bson_string_t *out, const bson_value_t *v)
{
   switch (v->value_type) {
   case BSON_TYPE_INT32: bson_string_append_printf(out, "(NumberInt)%d", (int)v->value.v_int32); break;
   case BSON_TYPE_INT64: bson_string_append_printf(out, "(NumberLong)%" PRId64, v->value.v_int64); break;
   case BSON_TYPE_DOUBLE: bson_string_append_printf(out, "(NumberDouble)%g", v->value.v_double); break;
   default: {
      char text[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&v->value.v_decimal128, text);
      bson_string_append_printf(out, "(NumberDecimal)%s", text);
   }
   }
}

/* SafeNum bitAnd/bitOr/bitXor over the $bit operation list; `value` is int32 or int64. */
static void apply_bit_ops(const duet_unode_t *leaf, const bson_value_t *value, bson_value_t *out)
{
   bool wide = value->value_type == BSON_TYPE_INT64;
   int64_t v = as_int64(value);
   for (size_t i = 0; i < leaf->value_count; i++) {
      const bson_value_t *operand = &leaf->values[i];
      wide = wide || operand->value_type == BSON_TYPE_INT64;
      int64_t o = as_int64(operand);
      switch (leaf->bit_ops[i]) {
      case 'a': v &= o; break;
      case 'o': v |= o; break;
      default: v ^= o; break;
      }
      if (!wide) {
         v = (int32_t)v;
      }
   }
   memset(out, 0, sizeof *out);
   if (wide) {
      out->value_type = BSON_TYPE_INT64;
      out->value.v_int64 = v;
   } else {
      out->value_type = BSON_TYPE_INT32;
      out->value.v_int32 = (int32_t)v;
   }
}

/* ---- helpers ---------------------------------------------------------------------- */

static char *id_text(const duet_uapply_t *ctx)
{
   const duet_uelem_t *id = duet_uelem_child(ctx->root, "_id");
   if (!id) {
      return NULL;
   }
   bson_string_t *s = bson_string_new(NULL);
   duet_update_format_uelem(s, id);
   return bson_string_free(s, false);
}

static char *path_text(const duet_upath_t *a, const duet_upath_t *b)
{
   bson_string_t *s = bson_string_new(NULL);
   duet_upath_join(a, s);
   if (b && b->count) {
      if (a->count) {
         bson_string_append_c(s, '.');
      }
      duet_upath_join(b, s);
   }
   return bson_string_free(s, false);
}

static const char *elem_field_name(const duet_uelem_t *elem, char buffer[24])
{
   if (elem->parent && elem->parent->type == BSON_TYPE_ARRAY) {
      snprintf(buffer, 24, "%td", duet_uelem_child_index(elem->parent, elem));
      return buffer;
   }
   return elem->name;
}

static int64_t now_ms(const duet_uapply_t *ctx)
{
   return ctx->now_ms;
}

/* $currentDate's value; timestamps take successive ticks (LogicalClock::reserveTicks(1)). */
static void current_date_value(duet_uapply_t *ctx, const duet_unode_t *leaf, bson_value_t *out)
{
   memset(out, 0, sizeof *out);
   if (leaf->current_date_is_timestamp) {
      out->value_type = BSON_TYPE_TIMESTAMP;
      out->value.v_timestamp.timestamp = (uint32_t)(now_ms(ctx) / 1000);
      out->value.v_timestamp.increment = ++ctx->timestamp_ticks;
   } else {
      out->value_type = BSON_TYPE_DATE_TIME;
      out->value.v_datetime = now_ms(ctx);
   }
}

/* ---- $push ordering -------------------------------------------------------------- */

/* Value at a dotted path inside an element (numeric parts index arrays), NULL when missing. */
static const duet_uelem_t *value_at(const duet_uelem_t *elem, const char *dotted)
{
   char *copy = bson_strdup(dotted);
   const duet_uelem_t *current = elem;
   char *save = NULL;
   for (char *part = strtok_r(copy, ".", &save); part && current; part = strtok_r(NULL, ".", &save)) {
      if (current->type == BSON_TYPE_DOCUMENT || current->type == BSON_TYPE_ARRAY) {
         current = duet_uelem_child(current, part);
      } else {
         current = NULL;
      }
   }
   bson_free(copy);
   return current;
}

/* PatternElementCmp: compares the pattern's fields (missing = null) of two elements. */
static int compare_by_pattern(const bson_value_t *pattern, const duet_uelem_t *a, const duet_uelem_t *b)
{
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init_from_data(&iter, pattern->value.v_doc.data, pattern->value.v_doc.data_len));
   bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      int direction = as_double(bson_iter_value(&iter)) < 0 ? -1 : 1;
      const duet_uelem_t *va = a->type == BSON_TYPE_DOCUMENT ? value_at(a, key) : NULL;
      const duet_uelem_t *vb = b->type == BSON_TYPE_DOCUMENT ? value_at(b, key) : NULL;
      int c;
      if (va && vb) {
         c = duet_uelem_compare(va, vb);
      } else if (va) {
         c = duet_uelem_compare_value(va, &null_value);
      } else if (vb) {
         c = -duet_uelem_compare_value(vb, &null_value);
      } else {
         c = 0;
      }
      if (c) {
         return c * direction;
      }
   }
   return 0;
}

/* Orders two array elements by the $push $sort of `leaf`. */
static int compare_for_push(const duet_unode_t *leaf, const duet_uelem_t *a, const duet_uelem_t *b)
{
   if (leaf->sort_whole) {
      return duet_uelem_compare(a, b) * leaf->sort_direction;
   }
   return compare_by_pattern(&leaf->sort_pattern, a, b);
}

/* Stable merge sort of items[0..n) (no global state: updates are shared between threads). */
static void merge_sort(const duet_unode_t *leaf, duet_uelem_t **items, duet_uelem_t **scratch, size_t n)
{
   if (n < 2) {
      return;
   }
   size_t half = n / 2;
   merge_sort(leaf, items, scratch, half);
   merge_sort(leaf, items + half, scratch, n - half);
   size_t i = 0, j = half, k = 0;
   while (i < half && j < n) {
      /* take from the right only when strictly smaller: equal elements keep their order */
      if (compare_for_push(leaf, items[j], items[i]) < 0) {
         scratch[k++] = items[j++];
      } else {
         scratch[k++] = items[i++];
      }
   }
   while (i < half) {
      scratch[k++] = items[i++];
   }
   while (j < n) {
      scratch[k++] = items[j++];
   }
   memcpy(items, scratch, n * sizeof *items);
}

static void sort_array(duet_uelem_t *array, const duet_unode_t *leaf)
{
   if (array->count < 2) {
      return;
   }
   duet_uelem_t **scratch = bson_malloc(array->count * sizeof *scratch);
   merge_sort(leaf, array->children, scratch, array->count);
   bson_free(scratch);
}

/* PushNode::performPush on an array element; returns whether it changed. */
static bool perform_push(duet_uelem_t *array, const duet_unode_t *leaf)
{
   bool changed = false;
   if (leaf->value_count) {
      int64_t size = (int64_t)array->count;
      int64_t position = leaf->has_position ? leaf->position : INT64_MAX;
      size_t at;
      if (size == 0 || position > size) {
         at = (size_t)size;
      } else if (position >= 0) {
         at = (size_t)position;
      } else if (-position < size) {
         at = (size_t)(size + position);
      } else {
         at = 0;
      }
      for (size_t i = 0; i < leaf->value_count; i++) {
         duet_uelem_insert(array, at + i, duet_uelem_from_value("", &leaf->values[i]));
      }
      changed = true;
   }
   if (leaf->has_sort) {
      sort_array(array, leaf);
      changed = true;
   }
   if (leaf->has_slice) {
      int64_t slice = leaf->slice;
      uint64_t keep = slice == INT64_MIN ? (uint64_t)INT64_MAX : (uint64_t)(slice < 0 ? -slice : slice);
      while ((uint64_t)array->count > keep) {
         changed = true;
         duet_uelem_remove_at(array, slice >= 0 ? array->count - 1 : 0);
      }
   }
   return changed;
}

/* ---- $pull ------------------------------------------------------------------------ */

static bool pull_matches(const duet_unode_t *leaf, const duet_uelem_t *elem, bool *matched, duet_error_t *error)
{
   if (leaf->op == DUET_UOP_PULL_ALL) {
      *matched = false;
      for (size_t i = 0; i < leaf->value_count && !*matched; i++) {
         *matched = duet_uelem_compare_value(elem, &leaf->values[i]) == 0;
      }
      return true;
   }
   if (!leaf->pull_match) {
      *matched = duet_uelem_compare_value(elem, &leaf->arg) == 0;
      return true;
   }
   if (leaf->pull_match_as_document) {
      if (elem->type != BSON_TYPE_DOCUMENT) {
         *matched = false;
         return true;
      }
      bson_t doc = BSON_INITIALIZER;
      duet_uelem_write_children(elem, &doc);
      bool ok = duet_match_matches(leaf->pull_match, &doc, matched, NULL, error);
      bson_destroy(&doc);
      return ok;
   }
   bson_value_t value;
   duet_uelem_to_value(elem, &value);
   bool ok = duet_match_matches_value(leaf->pull_match, "", &value, matched, error);
   bson_value_destroy(&value);
   return ok;
}

/* ---- modifying an existing element ------------------------------------------------ */

/* Sets *changed; false on error. `path` is the dotted path taken (for messages). */
static bool update_existing(duet_uapply_t *ctx, const duet_unode_t *leaf, duet_uelem_t *element, const char *path,
                            bool *changed, duet_error_t *error)
{
   *changed = false;
   char name_buffer[24];
   switch (leaf->op) {
   case DUET_UOP_SET:
   case DUET_UOP_SET_ON_INSERT:
      if (!duet_uelem_binary_equal(element, &leaf->arg)) {
         duet_uelem_set_value(element, &leaf->arg);
         *changed = true;
      }
      return true;
   case DUET_UOP_UNSET: {
      duet_uelem_t *parent = element->parent;
      if (parent->type == BSON_TYPE_ARRAY) {
         bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
         duet_uelem_set_value(element, &null_value);
      } else {
         duet_uelem_remove_at(parent, (size_t)duet_uelem_child_index(parent, element));
      }
      *changed = true;
      return true;
   }
   case DUET_UOP_INC:
   case DUET_UOP_MUL: {
      if (!duet_type_is_number(element->type)) {
         char *id = id_text(ctx);
         duet_error_set(
             error, DUET_ERR_TYPE_MISMATCH,
             "Cannot apply %s to a value of non-numeric type. {%s} has the field '%s' of non-numeric type %s",
             leaf->op_name, id ? id : "", elem_field_name(element, name_buffer), duet_type_name(element->type));
         bson_free(id);
         return false;
      }
      bson_value_t result;
      if (!safe_arith(leaf->op, &leaf->arg, &element->value, &result)) {
         char *id = id_text(ctx);
         bson_string_t *s = bson_string_new(NULL);
         safe_num_debug(s, &element->value);
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "Failed to apply %s operations to current value (%s) for document {%s}", leaf->op_name, s->str,
                        id ? id : "");
         bson_string_free(s, true);
         bson_free(id);
         return false;
      }
      if (!numbers_identical(&result, &element->value)) {
         duet_uelem_set_value(element, &result);
         *changed = true;
      }
      return true;
   }
   case DUET_UOP_BIT: {
      if (element->type != BSON_TYPE_INT32 && element->type != BSON_TYPE_INT64) {
         char *id = id_text(ctx);
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "Cannot apply $bit to a value of non-integral type.%s has the field %s of non-integer type %s",
                        id ? id : "", elem_field_name(element, name_buffer), duet_type_name(element->type));
         bson_free(id);
         return false;
      }
      bson_value_t result;
      apply_bit_ops(leaf, &element->value, &result);
      if (!numbers_identical(&result, &element->value)) {
         duet_uelem_set_value(element, &result);
         *changed = true;
      }
      return true;
   }
   case DUET_UOP_MIN:
   case DUET_UOP_MAX: {
      int c = duet_uelem_compare_value(element, &leaf->arg);
      if ((leaf->op == DUET_UOP_MIN && c > 0) || (leaf->op == DUET_UOP_MAX && c < 0)) {
         duet_uelem_set_value(element, &leaf->arg);
         *changed = true;
      }
      return true;
   }
   case DUET_UOP_CURRENT_DATE: {
      bson_value_t now;
      current_date_value(ctx, leaf, &now);
      duet_uelem_set_value(element, &now);
      *changed = true;
      return true;
   }
   case DUET_UOP_PUSH:
      if (element->type != BSON_TYPE_ARRAY) {
         char *id = id_text(ctx);
         duet_error_set(error, DUET_ERR_BAD_VALUE, "The field '%s' must be an array but is of type %s in document {%s}",
                        path, duet_type_name(element->type), id ? id : "no id");
         bson_free(id);
         return false;
      }
      *changed = perform_push(element, leaf);
      return true;
   case DUET_UOP_ADD_TO_SET:
      if (element->type != BSON_TYPE_ARRAY) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "Cannot apply $addToSet to non-array field. Field named '%s' has non-array type %s",
                        elem_field_name(element, name_buffer), duet_type_name(element->type));
         return false;
      }
      for (size_t i = 0; i < leaf->value_count; i++) {
         bool present = false;
         for (size_t j = 0; j < element->count && !present; j++) {
            present = duet_uelem_compare_value(element->children[j], &leaf->values[i]) == 0;
         }
         if (!present) {
            duet_uelem_push(element, duet_uelem_from_value("", &leaf->values[i]));
            *changed = true;
         }
      }
      return true;
   case DUET_UOP_POP:
      if (element->type != BSON_TYPE_ARRAY) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Path '%s' contains an element of non-array type '%s'", path,
                        duet_type_name(element->type));
         return false;
      }
      if (element->count) {
         duet_uelem_remove_at(element, leaf->pop_direction > 0 ? element->count - 1 : 0);
         *changed = true;
      }
      return true;
   case DUET_UOP_PULL:
   case DUET_UOP_PULL_ALL:
      if (element->type != BSON_TYPE_ARRAY) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Cannot apply $pull to a non-array value");
         return false;
      }
      for (size_t i = 0; i < element->count;) {
         bool matched = false;
         if (!pull_matches(leaf, element->children[i], &matched, error)) {
            return false;
         }
         if (matched) {
            duet_uelem_remove_at(element, i);
            *changed = true;
         } else {
            i++;
         }
      }
      return true;
   default: return true;
   }
}

/* setValueForNewElement: the value a creating modifier puts at a missing path (owned). */
static duet_uelem_t *value_for_new(duet_uapply_t *ctx, const duet_unode_t *leaf)
{
   switch (leaf->op) {
   case DUET_UOP_MUL: {
      bson_value_t zero = {.value_type = BSON_TYPE_INT32}, result;
      zero.value.v_int32 = 0;
      BSON_ASSERT(safe_arith(DUET_UOP_MUL, &leaf->arg, &zero, &result));
      return duet_uelem_from_value("", &result);
   }
   case DUET_UOP_CURRENT_DATE: {
      bson_value_t now;
      current_date_value(ctx, leaf, &now);
      return duet_uelem_from_value("", &now);
   }
   case DUET_UOP_BIT: {
      bson_value_t zero = {.value_type = BSON_TYPE_INT32}, result;
      zero.value.v_int32 = 0;
      apply_bit_ops(leaf, &zero, &result);
      return duet_uelem_from_value("", &result);
   }
   case DUET_UOP_PUSH: {
      duet_uelem_t *array = duet_uelem_new_container("", BSON_TYPE_ARRAY);
      (void)perform_push(array, leaf);
      return array;
   }
   case DUET_UOP_ADD_TO_SET: {
      duet_uelem_t *array = duet_uelem_new_container("", BSON_TYPE_ARRAY);
      for (size_t i = 0; i < leaf->value_count; i++) {
         duet_uelem_push(array, duet_uelem_from_value("", &leaf->values[i]));
      }
      return array;
   }
   default: return duet_uelem_from_value("", &leaf->arg);
   }
}

static bool allows_creation(duet_uop_t op)
{
   return op != DUET_UOP_UNSET && op != DUET_UOP_POP && op != DUET_UOP_PULL && op != DUET_UOP_PULL_ALL;
}

static bool immutable_modified(const duet_upath_t *taken, duet_error_t *error)
{
   if (taken->count && strcmp(taken->parts[0], "_id") == 0) {
      char *path = path_text(taken, NULL);
      duet_error_set(error, DUET_ERR_IMMUTABLE_FIELD,
                     "Performing an update on the path '%s' would modify the immutable field '_id'", path);
      bson_free(path);
      return true;
   }
   return false;
}

/* Creates the missing path; `value` is owned.  Checks _id as ModifierNode::applyToNonexistentElement. */
static bool create_with(duet_uapply_t *ctx, duet_uelem_t *element, duet_upath_t *taken, duet_upath_t *create,
                        duet_uelem_t *value, duet_error_t *error)
{
   duet_uelem_t *created = NULL;
   if (!duet_update_create_path(ctx, element, taken, create, value, &created, error)) {
      return false;
   }
   if (taken->count && strcmp(taken->parts[0], "_id") == 0) {
      char *path = path_text(taken, NULL);
      bson_string_t *s = bson_string_new(NULL);
      duet_update_format_uelem(s, element);
      duet_error_set(error, DUET_ERR_IMMUTABLE_FIELD,
                     "Updating the path '%s' to %s would modify the immutable field '_id'", path, s->str);
      bson_string_free(s, true);
      bson_free(path);
      return false;
   }
   ctx->force_modified = true;
   return true;
}

/* ---- $rename ---------------------------------------------------------------------- */

static bool apply_rename(duet_uapply_t *ctx, const duet_unode_t *leaf, duet_uelem_t *element, duet_upath_t *taken,
                         duet_upath_t *create, duet_error_t *error)
{
   /* find the source (pathsupport::findLongestPrefix) */
   char *copy = bson_strdup(leaf->rename_from);
   duet_uelem_t *from = ctx->root;
   char *save = NULL;
   for (char *part = strtok_r(copy, ".", &save); part && from; part = strtok_r(NULL, ".", &save)) {
      if (from->type == BSON_TYPE_DOCUMENT) {
         from = duet_uelem_child(from, part);
      } else {
         size_t index;
         if (from->type == BSON_TYPE_ARRAY && duet_update_parse_index(part, &index)) {
            from = duet_uelem_child(from, part);
         } else {
            bson_string_t *s = bson_string_new(NULL);
            duet_update_format_uelem(s, from);
            duet_error_set(error, DUET_ERR_PATH_NOT_VIABLE,
                           "cannot use the part (%s of %s) to traverse the element ({%s})", part, leaf->rename_from,
                           s->str);
            bson_string_free(s, true);
            bson_free(copy);
            return false;
         }
      }
   }
   bson_free(copy);
   if (!from || from == ctx->root) {
      return true; /* nothing to rename: noop */
   }
   for (duet_uelem_t *up = from->parent; up && up != ctx->root; up = up->parent) {
      if (up->type == BSON_TYPE_ARRAY) {
         char *id = id_text(ctx);
         char name[24];
         duet_error_set(
             error, DUET_ERR_BAD_VALUE,
             "The source field cannot be an array element, '%s' in doc with %s has an array field called '%s'",
             leaf->rename_from, id ? id : "no id", elem_field_name(up, name));
         bson_free(id);
         return false;
      }
   }
   for (duet_uelem_t *up = create->count ? element : element->parent; up && up != ctx->root; up = up->parent) {
      if (up->type == BSON_TYPE_ARRAY) {
         char *id = id_text(ctx);
         char name[24];
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "The destination field cannot be an array element, '%s' in doc with %s has an array field "
                        "called '%s'",
                        leaf->path, id ? id : "no id", elem_field_name(up, name));
         bson_free(id);
         return false;
      }
   }
   if (create->count) {
      if (!create_with(ctx, element, taken, create, duet_uelem_clone(from, ""), error)) {
         return false;
      }
   } else if (duet_uelem_compare(from, element) != 0) {
      duet_uelem_set_from(element, from);
      if (immutable_modified(taken, error)) {
         return false;
      }
   }
   if (strcmp(leaf->rename_from, "_id") == 0 || strncmp(leaf->rename_from, "_id.", 4) == 0) {
      duet_error_set(error, DUET_ERR_IMMUTABLE_FIELD,
                     "Unsetting the path '%s' using $rename would modify the immutable field '_id'", leaf->rename_from);
      return false;
   }
   duet_uelem_t *parent = from->parent;
   duet_uelem_remove_at(parent, (size_t)duet_uelem_child_index(parent, from));
   ctx->force_modified = true;
   return true;
}

/* ---- entry point ------------------------------------------------------------------ */

bool duet_update_leaf_apply(duet_uapply_t *ctx, const duet_unode_t *leaf, duet_uelem_t *element,
                            duet_upath_t *path_taken, duet_upath_t *path_to_create, duet_error_t *error)
{
   if (leaf->op == DUET_UOP_PLACEHOLDER || (leaf->op == DUET_UOP_SET_ON_INSERT && !ctx->insert)) {
      return true;
   }
   if (leaf->op == DUET_UOP_RENAME) {
      return apply_rename(ctx, leaf, element, path_taken, path_to_create, error);
   }
   if (path_to_create->count) {
      if (allows_creation(leaf->op)) {
         return create_with(ctx, element, path_taken, path_to_create, value_for_new(ctx, leaf), error);
      }
      if (leaf->op == DUET_UOP_POP) {
         /* UpdateLeafNode::checkViability */
         size_t index;
         bool viable = element->type == BSON_TYPE_DOCUMENT ||
                       (element->type == BSON_TYPE_ARRAY && duet_update_parse_index(path_to_create->parts[0], &index));
         if (!viable) {
            char *path = path_text(path_taken, path_to_create);
            bson_string_t *s = bson_string_new(NULL);
            duet_update_format_uelem(s, element);
            char *taken = path_text(path_taken, NULL);
            char *to_create = path_text(path_to_create, NULL);
            duet_error_set(error, DUET_ERR_PATH_NOT_VIABLE,
                           "Cannot use the part (%s) of (%s.%s) to traverse the element ({%s})",
                           path_to_create->parts[0], taken, to_create, s->str);
            bson_free(taken);
            bson_free(to_create);
            bson_string_free(s, true);
            bson_free(path);
            return false;
         }
      }
      return true; /* $unset/$pop/$pull/$pullAll of a missing path: noop */
   }
   char *path = path_text(path_taken, NULL);
   bool changed = false;
   bool ok = update_existing(ctx, leaf, element, path, &changed, error);
   bson_free(path);
   if (!ok) {
      return false;
   }
   if (changed) {
      if (immutable_modified(path_taken, error)) {
         return false;
      }
      ctx->force_modified = true;
   }
   return true;
}
