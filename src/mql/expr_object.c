/*
 * expr_object.c — object expressions: $mergeObjects $objectToArray $arrayToObject $getField
 * $setField.  Field order follows MongoDB's MutableDocument: overwriting a field keeps its
 * position, new fields are appended.
 */
#include "mql/expr_internal.h"

#include <string.h>

/* An ordered list of fields being assembled; keys and values are owned. */
typedef struct field_list {
   char **keys;
   bson_value_t *values;
   size_t count;
   size_t capacity;
} field_list_t;

static void field_list_set(field_list_t *list, const char *key, size_t key_length, const bson_value_t *value)
{
   for (size_t i = 0; i < list->count; i++) {
      if (strlen(list->keys[i]) == key_length && memcmp(list->keys[i], key, key_length) == 0) {
         bson_value_destroy(&list->values[i]);
         bson_value_copy(value, &list->values[i]);
         return;
      }
   }
   if (list->count == list->capacity) {
      list->capacity = list->capacity ? list->capacity * 2 : 8;
      list->keys = bson_realloc(list->keys, list->capacity * sizeof *list->keys);
      list->values = bson_realloc(list->values, list->capacity * sizeof *list->values);
   }
   list->keys[list->count] = bson_strndup(key, key_length);
   bson_value_copy(value, &list->values[list->count]);
   list->count++;
}

static void field_list_remove(field_list_t *list, const char *key, size_t key_length)
{
   for (size_t i = 0; i < list->count; i++) {
      if (strlen(list->keys[i]) == key_length && memcmp(list->keys[i], key, key_length) == 0) {
         bson_free(list->keys[i]);
         bson_value_destroy(&list->values[i]);
         memmove(&list->keys[i], &list->keys[i + 1], (list->count - i - 1) * sizeof *list->keys);
         memmove(&list->values[i], &list->values[i + 1], (list->count - i - 1) * sizeof *list->values);
         list->count--;
         return;
      }
   }
}

static void field_list_add_document(field_list_t *list, const bson_value_t *document)
{
   bson_t view;
   bson_iter_t iter;
   if (expr_value_as_bson(document, &view) && bson_iter_init(&iter, &view)) {
      while (bson_iter_next(&iter)) {
         field_list_set(list, bson_iter_key(&iter), bson_iter_key_len(&iter), bson_iter_value(&iter));
      }
   }
}

/* Builds the document into *out and frees the list. */
static void field_list_finish(field_list_t *list, bson_value_t *out)
{
   bson_t result = BSON_INITIALIZER;
   for (size_t i = 0; i < list->count; i++) {
      expr_append_value(&result, list->keys[i], -1, &list->values[i]);
      bson_free(list->keys[i]);
      bson_value_destroy(&list->values[i]);
   }
   bson_free(list->keys);
   bson_free(list->values);
   memset(list, 0, sizeof *list);
   expr_set_document_steal(out, &result, false);
}

static void field_list_destroy(field_list_t *list)
{
   for (size_t i = 0; i < list->count; i++) {
      bson_free(list->keys[i]);
      bson_value_destroy(&list->values[i]);
   }
   bson_free(list->keys);
   bson_free(list->values);
   memset(list, 0, sizeof *list);
}

/* ---- $mergeObjects ----------------------------------------------------------------------------------- */

static bool eval_merge_objects(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   field_list_t list = {0};
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         field_list_destroy(&list);
         return false;
      }
      if (expr_value_is_nullish(&value)) {
         continue;
      }
      if (value.value_type != BSON_TYPE_DOCUMENT) {
         char *t = duet_expr_value_to_string(&value);
         duet_error_set(error, 40400, "$mergeObjects requires object inputs, but input %s is of type %s", t,
                        duet_type_name(value.value_type));
         bson_free(t);
         bson_value_destroy(&value);
         field_list_destroy(&list);
         expr_set_missing(out);
         return false;
      }
      field_list_add_document(&list, &value);
      bson_value_destroy(&value);
   }
   field_list_finish(&list, out);
   return true;
}

/* ---- $objectToArray ---------------------------------------------------------------------------------- */

static bool eval_object_to_array(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   if (expr_value_is_nullish(&value)) {
      bson_value_destroy(&value);
      expr_set_null(out);
      return true;
   }
   if (value.value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, 40390, "$objectToArray requires a document input, found: %s",
                     duet_type_name(value.value_type));
      bson_value_destroy(&value);
      expr_set_missing(out);
      return false;
   }
   bson_t result = BSON_INITIALIZER;
   bson_t view;
   bson_iter_t iter;
   uint32_t index = 0;
   if (expr_value_as_bson(&value, &view) && bson_iter_init(&iter, &view)) {
      while (bson_iter_next(&iter)) {
         char key_buffer[16];
         const char *key;
         size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_t pair;
         bson_append_document_begin(&result, key, (int)key_length, &pair);
         bson_append_utf8(&pair, "k", 1, bson_iter_key(&iter), (int)bson_iter_key_len(&iter));
         bson_append_value(&pair, "v", 1, bson_iter_value(&iter));
         bson_append_document_end(&result, &pair);
      }
   }
   bson_value_destroy(&value);
   expr_set_document_steal(out, &result, true);
   return true;
}

/* ---- $arrayToObject ---------------------------------------------------------------------------------- */

static bool array_to_object(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   if (input->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 40386, "$arrayToObject requires an array input, found: %s",
                     duet_type_name(input->value_type));
      return false;
   }
   field_list_t list = {0};
   bson_t view;
   bson_iter_t iter;
   bool first = true, array_format = false;
   expr_value_as_bson(input, &view);
   bson_iter_init(&iter, &view);
   while (bson_iter_next(&iter)) {
      const bson_value_t *element = bson_iter_value(&iter);
      if (first) {
         if (element->value_type == BSON_TYPE_ARRAY) {
            array_format = true;
         } else if (element->value_type != BSON_TYPE_DOCUMENT) {
            duet_error_set(error, 40398, "Unrecognised input type format for $arrayToObject: %s",
                           duet_type_name(element->value_type));
            goto fail;
         }
         first = false;
      }
      const bson_value_t *key = NULL, *value = NULL;
      bson_t pair;
      bson_iter_t pair_iter;
      if (array_format) {
         if (element->value_type != BSON_TYPE_ARRAY) {
            duet_error_set(error, 40396,
                           "$arrayToObject requires a consistent input format. Elements mustall be arrays or all be "
                           "objects. Array was detected, now found: %s",
                           duet_type_name(element->value_type));
            goto fail;
         }
         uint32_t n = expr_array_length(element);
         if (n != 2) {
            duet_error_set(error, 40397, "$arrayToObject requires an array of size 2 arrays,found array of size: %u",
                           n);
            goto fail;
         }
         expr_value_as_bson(element, &pair);
         bson_iter_init(&pair_iter, &pair);
         bson_iter_next(&pair_iter);
         key = bson_iter_value(&pair_iter);
         bson_value_t key_copy = *key;
         bson_iter_next(&pair_iter);
         value = bson_iter_value(&pair_iter);
         if (key_copy.value_type != BSON_TYPE_UTF8) {
            duet_error_set(error, 40395,
                           "$arrayToObject requires an array of key-value pairs, where the key must be of type "
                           "string. Found key type: %s",
                           duet_type_name(key_copy.value_type));
            goto fail;
         }
         if (memchr(key_copy.value.v_utf8.str, '\0', key_copy.value.v_utf8.len)) {
            duet_error_set(error, 4940400, "Key field cannot contain an embedded null byte");
            goto fail;
         }
         field_list_set(&list, key_copy.value.v_utf8.str, key_copy.value.v_utf8.len, value);
      } else {
         if (element->value_type != BSON_TYPE_DOCUMENT) {
            duet_error_set(error, 40391,
                           "$arrayToObject requires a consistent input format. Elements mustall be arrays or all be "
                           "objects. Object was detected, now found: %s",
                           duet_type_name(element->value_type));
            goto fail;
         }
         expr_value_as_bson(element, &pair);
         uint32_t n = bson_count_keys(&pair);
         if (n != 2) {
            duet_error_set(error, 40392,
                           "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:%u",
                           n);
            goto fail;
         }
         bson_value_t k = {.value_type = BSON_TYPE_EOD}, v = {.value_type = BSON_TYPE_EOD};
         bson_iter_init(&pair_iter, &pair);
         while (bson_iter_next(&pair_iter)) {
            if (strcmp(bson_iter_key(&pair_iter), "k") == 0) {
               k = *bson_iter_value(&pair_iter);
            } else if (strcmp(bson_iter_key(&pair_iter), "v") == 0) {
               v = *bson_iter_value(&pair_iter);
            }
         }
         if (k.value_type == BSON_TYPE_EOD || v.value_type == BSON_TYPE_EOD) {
            char *t = duet_expr_value_to_string(element);
            duet_error_set(error, 40393,
                           "$arrayToObject requires an object with keys 'k' and 'v'. Missing either or both keys "
                           "from: %s",
                           t);
            bson_free(t);
            goto fail;
         }
         if (k.value_type != BSON_TYPE_UTF8) {
            duet_error_set(error, 40394,
                           "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be "
                           "of type string. Found type: %s",
                           duet_type_name(k.value_type));
            goto fail;
         }
         if (memchr(k.value.v_utf8.str, '\0', k.value.v_utf8.len)) {
            duet_error_set(error, 4940401, "Key field cannot contain an embedded null byte");
            goto fail;
         }
         field_list_set(&list, k.value.v_utf8.str, k.value.v_utf8.len, &v);
      }
   }
   field_list_finish(&list, out);
   return true;
fail:
   field_list_destroy(&list);
   return false;
}

static bool eval_array_to_object(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   expr_set_missing(out);
   bool ok = true;
   if (expr_value_is_nullish(&value)) {
      expr_set_null(out);
   } else {
      ok = array_to_object(&value, out, error);
   }
   bson_value_destroy(&value);
   return ok;
}

/* ---- $getField, $setField ---------------------------------------------------------------------------- */

/* args: 0 input (NULL = $$CURRENT), 1 value ($setField); node->constant holds the field name. */
static bool eval_input_object(const duet_expr_t *node, expr_state_t *state, bson_value_t *input, duet_error_t *error)
{
   if (node->args[0]) {
      return expr_eval(node->args[0], state, input, error);
   }
   input->value_type = BSON_TYPE_DOCUMENT;
   input->value.v_doc.data = bson_malloc(state->root->len);
   memcpy(input->value.v_doc.data, bson_get_data(state->root), state->root->len);
   input->value.v_doc.data_len = state->root->len;
   return true;
}

/* args: 0 input (NULL = $$CURRENT), 1 field (any expression, checked when evaluated). */
static bool eval_get_field(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t field, input;
   expr_set_missing(out);
   if (!expr_eval(node->args[1], state, &field, error)) {
      return false;
   }
   if (field.value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 3041704, "$getField requires 'field' to evaluate to type String, but got %s",
                     duet_type_name(field.value_type));
      bson_value_destroy(&field);
      return false;
   }
   if (!eval_input_object(node, state, &input, error)) {
      bson_value_destroy(&field);
      return false;
   }
   if (expr_value_is_nullish(&input)) {
      /* null (or missing) input reads back as null; any other non-document as missing */
      expr_set_null(out);
   } else if (input.value_type == BSON_TYPE_DOCUMENT) {
      bson_t view;
      bson_iter_t iter;
      expr_value_as_bson(&input, &view);
      if (bson_iter_init(&iter, &view)) {
         while (bson_iter_next(&iter)) {
            if (bson_iter_key_len(&iter) == field.value.v_utf8.len &&
                memcmp(bson_iter_key(&iter), field.value.v_utf8.str, field.value.v_utf8.len) == 0) {
               bson_value_copy(bson_iter_value(&iter), out);
               break;
            }
         }
      }
   }
   bson_value_destroy(&input);
   bson_value_destroy(&field);
   return true;
}

static bool eval_set_field(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input, value = {.value_type = BSON_TYPE_EOD};
   expr_set_missing(out);
   if (!eval_input_object(node, state, &input, error)) {
      return false;
   }
   bool ok = true;
   if (expr_value_is_nullish(&input)) {
      expr_set_null(out);
   } else if (input.value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, 4161105, "$setField requires 'input' to evaluate to type Object");
      ok = false;
   } else if ((ok = expr_eval(node->args[1], state, &value, error))) {
      field_list_t list = {0};
      field_list_add_document(&list, &input);
      const char *field = node->constant.value.v_utf8.str;
      uint32_t length = node->constant.value.v_utf8.len;
      if (value.value_type == BSON_TYPE_EOD) {
         field_list_remove(&list, field, length);
      } else {
         field_list_set(&list, field, length, &value);
      }
      field_list_finish(&list, out);
   }
   bson_value_destroy(&input);
   bson_value_destroy(&value);
   return ok;
}

static bool parse_field_ops(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                            duet_error_t *error)
{
   bool is_get = strcmp(name, "$getField") == 0;
   duet_expr_t *node = expr_node_new(is_get ? eval_get_field : eval_set_field, name, 2);
   duet_expr_t *field = NULL;
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   bool have_input = false, have_value = false;
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      if (!is_get) {
         duet_error_set(error, 4161100, "$setField only supports an object as its argument");
         goto fail;
      }
      if (!expr_parse_iter(arg, ctx, &field, error)) {
         goto fail;
      }
   } else {
      bson_iter_t iter;
      bson_iter_recurse(arg, &iter);
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         if (strcmp(key, "field") == 0) {
            duet_expr_destroy(field);
            field = NULL;
            if (!expr_parse_iter(&iter, ctx, &field, error)) {
               goto fail;
            }
         } else if (strcmp(key, "input") == 0) {
            have_input = true;
            duet_expr_destroy(node->args[0]);
            node->args[0] = NULL;
            if (!expr_parse_iter(&iter, ctx, &node->args[0], error)) {
               goto fail;
            }
         } else if (!is_get && strcmp(key, "value") == 0) {
            have_value = true;
            duet_expr_destroy(node->args[1]);
            node->args[1] = NULL;
            if (!expr_parse_iter(&iter, ctx, &node->args[1], error)) {
               goto fail;
            }
         } else {
            duet_error_set(error, is_get ? 3041701 : 4161101, "%s found an unknown argument: %s", name, key);
            goto fail;
         }
      }
      if (!field) {
         duet_error_set(error, is_get ? 3041702 : 4161102, "%s requires 'field' to be specified", name);
         goto fail;
      }
      if (!is_get && !have_value) {
         duet_error_set(error, 4161103, "$setField requires 'value' to be specified");
         goto fail;
      }
      if (!is_get && !have_input) {
         duet_error_set(error, 4161104, "$setField requires 'input' to be specified");
         goto fail;
      }
   }
   if (is_get) {
      /* the field name may be computed; its type is checked when evaluated (3041704) */
      node->args[1] = field;
      *out = node;
      return true;
   }
   if (!duet_expr_is_constant(field)) {
      duet_error_set(error, 4161106, "%s requires 'field' to evaluate to a constant, but got a non-constant argument",
                     name);
      goto fail;
   }
   if (field->constant.value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 4161107, "%s requires 'field' to evaluate to type String, but got %s", name,
                     duet_type_name(field->constant.value_type));
      goto fail;
   }
   bson_value_copy(&field->constant, &node->constant);
   duet_expr_destroy(field);
   *out = node;
   return true;
fail:
   duet_expr_destroy(field);
   duet_expr_destroy(node);
   return false;
}

const expr_operator_t expr_operators_object[] = {
    {"$mergeObjects", eval_merge_objects, 0, -1, NULL, 0},   {"$objectToArray", eval_object_to_array, 1, 1, NULL, 0},
    {"$arrayToObject", eval_array_to_object, 1, 1, NULL, 0}, {"$getField", NULL, 0, 0, parse_field_ops, 0},
    {"$setField", NULL, 0, 0, parse_field_ops, 0},           {NULL, NULL, 0, 0, NULL, 0},
};
