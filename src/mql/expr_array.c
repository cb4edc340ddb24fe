/*
 * expr_array.c — array expressions: $arrayElemAt $first $last $size $in $concatArrays $slice
 * $isArray $reverseArray and the iterating ones with bound variables: $map $filter $reduce.
 */
#include "mql/expr_internal.h"

#include <string.h>

/* Appends `value` to an array under construction at position *index (missing becomes null when
 * `missing_as_null`, else is skipped). */
static void array_push(bson_t *array, uint32_t *index, const bson_value_t *value, bool missing_as_null)
{
   char key_buffer[16];
   const char *key;
   if (value->value_type == BSON_TYPE_EOD && !missing_as_null) {
      return;
   }
   size_t key_length = bson_uint32_to_string((*index)++, &key, key_buffer, sizeof key_buffer);
   if (value->value_type == BSON_TYPE_EOD) {
      bson_append_null(array, key, (int)key_length);
   } else {
      bson_append_value(array, key, (int)key_length, value);
   }
}

static bool array_iter(const bson_value_t *array, bson_iter_t *iter)
{
   bson_t view;
   return expr_value_as_bson(array, &view) && bson_iter_init(iter, &view);
}

/* ---- $arrayElemAt, $first, $last ------------------------------------------------------------------ */

static bool element_at(const duet_expr_t *node, const bson_value_t *array, const bson_value_t *index, bson_value_t *out,
                       duet_error_t *error)
{
   if (expr_value_is_nullish(array) || expr_value_is_nullish(index)) {
      expr_set_null(out);
      return true;
   }
   if (array->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 28689, "%s's %s must be an array, but is %s", node->name,
                     node->arg_count == 1 ? "argument" : "first argument", duet_type_name(array->value_type));
      return false;
   }
   if (!duet_type_is_number(index->value_type)) {
      duet_error_set(error, 28690, "%s's second argument must be a numeric value, but is %s", node->name,
                     duet_type_name(index->value_type));
      return false;
   }
   int32_t i;
   if (!expr_number_as_int32(index, &i)) {
      duet_error_set(error, 28691, "%s's second argument must be representable as a 32-bit integer: %g", node->name,
                     expr_number_as_double(index));
      return false;
   }
   int64_t length = expr_array_length(array);
   int64_t position = i < 0 ? length + i : i;
   expr_set_missing(out);
   if (position < 0 || position >= length) {
      return true;
   }
   bson_iter_t iter;
   int64_t k = 0;
   if (array_iter(array, &iter)) {
      while (bson_iter_next(&iter)) {
         if (k++ == position) {
            bson_value_copy(bson_iter_value(&iter), out);
            break;
         }
      }
   }
   return true;
}

static bool eval_array_elem_at(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t array, index;
   if (!expr_eval(node->args[0], state, &array, error)) {
      return false;
   }
   if (node->arg_count > 1) {
      if (!expr_eval(node->args[1], state, &index, error)) {
         bson_value_destroy(&array);
         return false;
      }
   } else {
      expr_set_int32(&index, (int32_t)node->option);
   }
   expr_set_missing(out);
   bool ok = element_at(node, &array, &index, out, error);
   bson_value_destroy(&array);
   bson_value_destroy(&index);
   return ok;
}

/* ---- $size, $isArray, $reverseArray ------------------------------------------------------------------- */

static bool eval_size(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t array;
   if (!expr_eval(node->args[0], state, &array, error)) {
      return false;
   }
   if (array.value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 17124, "The argument to $size must be an array, but was of type: %s",
                     duet_type_name(array.value_type));
      bson_value_destroy(&array);
      expr_set_missing(out);
      return false;
   }
   expr_set_int32(out, (int32_t)expr_array_length(&array));
   bson_value_destroy(&array);
   return true;
}

static bool eval_is_array(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   expr_set_bool(out, value.value_type == BSON_TYPE_ARRAY);
   bson_value_destroy(&value);
   return true;
}

static bool eval_reverse_array(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t array;
   if (!expr_eval(node->args[0], state, &array, error)) {
      return false;
   }
   if (expr_value_is_nullish(&array)) {
      bson_value_destroy(&array);
      expr_set_null(out);
      return true;
   }
   if (array.value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 34435, "The argument to $reverseArray must be an array, but was of type: %s",
                     duet_type_name(array.value_type));
      bson_value_destroy(&array);
      expr_set_missing(out);
      return false;
   }
   uint32_t n = expr_array_length(&array);
   bson_value_t *items = bson_malloc0((n ? n : 1) * sizeof *items); /* shallow, into `array` */
   bson_iter_t iter;
   uint32_t k = 0;
   if (array_iter(&array, &iter)) {
      while (bson_iter_next(&iter) && k < n) {
         items[k++] = *bson_iter_value(&iter);
      }
   }
   bson_t result = BSON_INITIALIZER;
   uint32_t index = 0;
   for (uint32_t i = k; i-- > 0;) {
      array_push(&result, &index, &items[i], true);
   }
   bson_free(items);
   bson_value_destroy(&array);
   expr_set_document_steal(out, &result, true);
   return true;
}

/* ---- $in ------------------------------------------------------------------------------------------- */

static bool eval_in(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t needle, array;
   if (!expr_eval(node->args[0], state, &needle, error)) {
      return false;
   }
   if (!expr_eval(node->args[1], state, &array, error)) {
      bson_value_destroy(&needle);
      return false;
   }
   bool ok = true;
   if (array.value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 40081, "$in requires an array as a second argument, found: %s",
                     duet_type_name(array.value_type));
      expr_set_missing(out);
      ok = false;
   } else {
      bool found = false;
      bson_iter_t iter;
      if (array_iter(&array, &iter)) {
         while (!found && bson_iter_next(&iter)) {
            found = duet_value_compare(&needle, bson_iter_value(&iter)) == 0;
         }
      }
      expr_set_bool(out, found);
   }
   bson_value_destroy(&needle);
   bson_value_destroy(&array);
   return ok;
}

/* ---- $concatArrays ---------------------------------------------------------------------------------- */

static bool eval_concat_arrays(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_t result = BSON_INITIALIZER;
   uint32_t index = 0;
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         bson_destroy(&result);
         return false;
      }
      if (expr_value_is_nullish(&value)) {
         bson_destroy(&result);
         expr_set_null(out);
         return true;
      }
      if (value.value_type != BSON_TYPE_ARRAY) {
         duet_error_set(error, 28664, "$concatArrays only supports arrays, not %s", duet_type_name(value.value_type));
         bson_value_destroy(&value);
         bson_destroy(&result);
         expr_set_missing(out);
         return false;
      }
      bson_iter_t iter;
      if (array_iter(&value, &iter)) {
         while (bson_iter_next(&iter)) {
            array_push(&result, &index, bson_iter_value(&iter), true);
         }
      }
      bson_value_destroy(&value);
   }
   expr_set_document_steal(out, &result, true);
   return true;
}

/* ---- $slice ----------------------------------------------------------------------------------------- */

/* values: array, position or count, [count]; the third is only looked at after the first two
 * passed their checks, as MongoDB evaluates it. */
static bool slice(const bson_value_t *values, size_t count, bson_value_t *out, duet_error_t *error)
{
   if (expr_value_is_nullish(&values[0]) || expr_value_is_nullish(&values[1])) {
      expr_set_null(out);
      return true;
   }
   const bson_value_t *array = &values[0];
   if (array->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 28724, "First argument to $slice must be an array, but is of type: %s",
                     duet_type_name(array->value_type));
      return false;
   }
   if (!duet_type_is_number(values[1].value_type)) {
      duet_error_set(error, 28725, "Second argument to $slice must be a numeric value, but is of type: %s",
                     duet_type_name(values[1].value_type));
      return false;
   }
   int64_t second;
   if (!expr_number_as_int64(&values[1], &second)) {
      duet_error_set(error, 28726, "Second argument to $slice can't be represented as a 32-bit integer: %g",
                     expr_number_as_double(&values[1]));
      return false;
   }
   int32_t position = (int32_t)second; /* coerceToInt */
   int64_t length = expr_array_length(array);
   int64_t start, n;
   if (count == 2) {
      if (position >= 0) {
         start = 0;
         n = position;
      } else {
         start = length + position < 0 ? 0 : length + position;
         n = length - start;
      }
   } else {
      start = position < 0 ? (length + position < 0 ? 0 : length + position) : (position > length ? length : position);
      if (expr_value_is_nullish(&values[2])) {
         expr_set_null(out);
         return true;
      }
      if (!duet_type_is_number(values[2].value_type)) {
         duet_error_set(error, 28727, "Third argument to $slice must be numeric, but is of type: %s",
                        duet_type_name(values[2].value_type));
         return false;
      }
      int64_t third;
      if (!expr_number_as_int64(&values[2], &third)) {
         duet_error_set(error, 28728, "Third argument to $slice can't be represented as a 32-bit integer: %g",
                        expr_number_as_double(&values[2]));
         return false;
      }
      if ((int32_t)third <= 0) {
         duet_error_set(error, 28729, "Third argument to $slice must be positive: %d", (int32_t)third);
         return false;
      }
      n = (int32_t)third;
   }
   bson_t result = BSON_INITIALIZER;
   uint32_t index = 0;
   bson_iter_t iter;
   int64_t k = 0;
   if (array_iter(array, &iter)) {
      while (bson_iter_next(&iter)) {
         if (k >= start && k < start + n) {
            array_push(&result, &index, bson_iter_value(&iter), true);
         }
         k++;
      }
   }
   expr_set_document_steal(out, &result, true);
   return true;
}

static bool eval_slice(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t values[3];
   size_t evaluated = 0;
   bool ok = false;
   expr_set_missing(out);
   for (; evaluated < node->arg_count; evaluated++) {
      if (!expr_eval(node->args[evaluated], state, &values[evaluated], error)) {
         goto done;
      }
   }
   ok = slice(values, node->arg_count, out, error);
done:
   for (size_t i = 0; i < evaluated; i++) {
      bson_value_destroy(&values[i]);
   }
   return ok;
}

/* ---- $map, $filter, $reduce ----------------------------------------------------------------------- */

enum { ITER_INPUT, ITER_BODY, ITER_EXTRA, ITER_COUNT }; /* extra: $filter limit, $reduce initialValue */

static bool eval_map(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input;
   if (!expr_eval(node->args[ITER_INPUT], state, &input, error)) {
      return false;
   }
   if (expr_value_is_nullish(&input)) {
      bson_value_destroy(&input);
      expr_set_null(out);
      return true;
   }
   if (input.value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 16883, "input to $map must be an array not %s", duet_type_name(input.value_type));
      bson_value_destroy(&input);
      expr_set_missing(out);
      return false;
   }
   bson_t result = BSON_INITIALIZER;
   uint32_t index = 0;
   bson_iter_t iter;
   bool ok = true;
   if (array_iter(&input, &iter)) {
      while (ok && bson_iter_next(&iter)) {
         state->slots[node->slot] = *bson_iter_value(&iter); /* borrowed from `input` */
         bson_value_t mapped;
         ok = expr_eval(node->args[ITER_BODY], state, &mapped, error);
         if (ok) {
            array_push(&result, &index, &mapped, true);
            bson_value_destroy(&mapped);
         }
      }
   }
   state->slots[node->slot].value_type = BSON_TYPE_EOD;
   bson_value_destroy(&input);
   if (!ok) {
      bson_destroy(&result);
      expr_set_missing(out);
      return false;
   }
   expr_set_document_steal(out, &result, true);
   return true;
}

static bool eval_filter(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input, limit = {.value_type = BSON_TYPE_EOD};
   expr_set_missing(out);
   if (!expr_eval(node->args[ITER_INPUT], state, &input, error)) {
      return false;
   }
   if (expr_value_is_nullish(&input)) {
      bson_value_destroy(&input);
      expr_set_null(out);
      return true;
   }
   if (input.value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 28651, "input to $filter must be an array not %s", duet_type_name(input.value_type));
      bson_value_destroy(&input);
      return false;
   }
   int64_t max_items = -1;
   if (node->args[ITER_EXTRA]) {
      if (!expr_eval(node->args[ITER_EXTRA], state, &limit, error)) {
         bson_value_destroy(&input);
         return false;
      }
      if (!expr_value_is_nullish(&limit)) {
         int32_t l;
         if (!duet_type_is_number(limit.value_type) || !expr_number_as_int32(&limit, &l)) {
            char *t = duet_expr_value_to_string(&limit);
            duet_error_set(error, 327391, "$filter: limit must be represented as a 32-bit integral value: %s", t);
            bson_free(t);
            bson_value_destroy(&limit);
            bson_value_destroy(&input);
            return false;
         }
         if (l < 1) {
            duet_error_set(error, 327392, "$filter: limit must be greater than 0: %d", l);
            bson_value_destroy(&limit);
            bson_value_destroy(&input);
            return false;
         }
         max_items = l;
      }
      bson_value_destroy(&limit);
   }
   bson_t result = BSON_INITIALIZER;
   uint32_t index = 0;
   bson_iter_t iter;
   bool ok = true;
   if (array_iter(&input, &iter)) {
      while (ok && (max_items < 0 || index < max_items) && bson_iter_next(&iter)) {
         state->slots[node->slot] = *bson_iter_value(&iter);
         bson_value_t keep;
         ok = expr_eval(node->args[ITER_BODY], state, &keep, error);
         if (ok) {
            if (duet_expr_value_truthy(&keep)) {
               array_push(&result, &index, bson_iter_value(&iter), true);
            }
            bson_value_destroy(&keep);
         }
      }
   }
   state->slots[node->slot].value_type = BSON_TYPE_EOD;
   bson_value_destroy(&input);
   if (!ok) {
      bson_destroy(&result);
      return false;
   }
   expr_set_document_steal(out, &result, true);
   return true;
}

static bool eval_reduce(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input;
   expr_set_missing(out);
   if (!expr_eval(node->args[ITER_INPUT], state, &input, error)) {
      return false;
   }
   if (expr_value_is_nullish(&input)) {
      bson_value_destroy(&input);
      expr_set_null(out);
      return true;
   }
   if (input.value_type != BSON_TYPE_ARRAY) {
      char *t = duet_expr_value_to_string(&input);
      duet_error_set(error, 40080, "$reduce requires that 'input' be an array, found: %s", t);
      bson_free(t);
      bson_value_destroy(&input);
      return false;
   }
   bson_value_t accumulator;
   if (!expr_eval(node->args[ITER_EXTRA], state, &accumulator, error)) {
      bson_value_destroy(&input);
      return false;
   }
   bson_iter_t iter;
   bool ok = true;
   if (array_iter(&input, &iter)) {
      while (ok && bson_iter_next(&iter)) {
         state->slots[node->slot] = *bson_iter_value(&iter);
         state->slots[node->slot2] = accumulator;
         bson_value_t next;
         ok = expr_eval(node->args[ITER_BODY], state, &next, error);
         bson_value_destroy(&accumulator);
         accumulator = next;
      }
   }
   state->slots[node->slot].value_type = BSON_TYPE_EOD;
   state->slots[node->slot2].value_type = BSON_TYPE_EOD;
   bson_value_destroy(&input);
   if (!ok) {
      bson_value_destroy(&accumulator);
      return false;
   }
   *out = accumulator;
   return true;
}

/* Parses {input, as, in|cond, [limit]} for $map/$filter, or {input, initialValue, in} for $reduce. */
static bool parse_iterating(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                            duet_error_t *error)
{
   bool is_map = strcmp(name, "$map") == 0;
   bool is_reduce = strcmp(name, "$reduce") == 0;
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      if (is_reduce) {
         duet_error_set(error, 40075, "$reduce requires an object as an argument, found: %s",
                        duet_type_name(value->value_type));
      } else {
         duet_error_set(error, is_map ? 16878 : 28646, "%s only supports an object as its argument", name);
      }
      return false;
   }
   bson_iter_t iter, input_iter, body_iter, extra_iter;
   bool have_input = false, have_body = false, have_extra = false;
   const char *as = "this";
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "input") == 0) {
         input_iter = iter;
         have_input = true;
      } else if (!is_reduce && strcmp(key, "as") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            /* BSONElement::str() of a non-string is "" */
            duet_error_set(error, 16866, "empty variable names are not allowed");
            return false;
         }
         as = bson_iter_utf8(&iter, NULL);
         if (!expr_validate_variable_name(as, error)) {
            return false;
         }
      } else if (strcmp(key, is_map ? "in" : is_reduce ? "in" : "cond") == 0) {
         body_iter = iter;
         have_body = true;
      } else if (strcmp(key, is_reduce ? "initialValue" : is_map ? "\x01" : "limit") == 0) {
         extra_iter = iter;
         have_extra = true;
      } else {
         if (is_reduce) {
            duet_error_set(error, 40076, "$reduce found an unknown argument: %s", key);
         } else {
            duet_error_set(error, is_map ? 16879 : 28647, "Unrecognized parameter to %s: %s", name, key);
         }
         return false;
      }
   }
   if (!have_input) {
      if (is_reduce) {
         duet_error_set(error, 40077, "$reduce requires 'input' to be specified");
      } else {
         duet_error_set(error, is_map ? 16880 : 28648, "Missing 'input' parameter to %s", name);
      }
      return false;
   }
   if (is_reduce && !have_extra) {
      duet_error_set(error, 40078, "$reduce requires 'initialValue' to be specified");
      return false;
   }
   if (!have_body) {
      if (is_reduce) {
         duet_error_set(error, 40079, "$reduce requires 'in' to be specified");
      } else if (is_map) {
         duet_error_set(error, 16882, "Missing 'in' parameter to $map");
      } else {
         duet_error_set(error, 28650, "Missing 'cond' parameter to $filter");
      }
      return false;
   }
   duet_expr_t *node = expr_node_new(is_map ? eval_map : is_reduce ? eval_reduce : eval_filter, name, ITER_COUNT);
   size_t saved = ctx->count;
   /* input and initialValue/limit are parsed outside the new variables' scope */
   if (!expr_parse_iter(&input_iter, ctx, &node->args[ITER_INPUT], error) ||
       (have_extra && !expr_parse_iter(&extra_iter, ctx, &node->args[ITER_EXTRA], error))) {
      goto fail;
   }
   if (is_reduce) {
      node->slot = expr_ctx_bind(ctx, "this");
      node->slot2 = expr_ctx_bind(ctx, "value");
   } else {
      node->slot = expr_ctx_bind(ctx, as);
   }
   if (!expr_parse_iter(&body_iter, ctx, &node->args[ITER_BODY], error)) {
      goto fail;
   }
   while (ctx->count > saved) {
      bson_free(ctx->names[--ctx->count]);
   }
   *out = node;
   return true;
fail:
   while (ctx->count > saved) {
      bson_free(ctx->names[--ctx->count]);
   }
   duet_expr_destroy(node);
   return false;
}

const expr_operator_t expr_operators_array[] = {
    {"$arrayElemAt", eval_array_elem_at, 2, 2, NULL, 0},
    {"$first", eval_array_elem_at, 1, 1, NULL, 0},
    {"$last", eval_array_elem_at, 1, 1, NULL, -1},
    {"$size", eval_size, 1, 1, NULL, 0},
    {"$isArray", eval_is_array, 1, 1, NULL, 0},
    {"$reverseArray", eval_reverse_array, 1, 1, NULL, 0},
    {"$in", eval_in, 2, 2, NULL, 0},
    {"$concatArrays", eval_concat_arrays, 0, -1, NULL, 0},
    {"$slice", eval_slice, 2, 3, NULL, 0},
    {"$map", NULL, 0, 0, parse_iterating, 0},
    {"$filter", NULL, 0, 0, parse_iterating, 0},
    {"$reduce", NULL, 0, 0, parse_iterating, 0},
    {NULL, NULL, 0, 0, NULL, 0},
};
