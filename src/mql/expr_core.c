/*
 * expr_core.c — the expression engine's core: parsing specs into trees (operators, field
 * paths, variables, literal objects and arrays), variable scopes, evaluation entry point,
 * and the value helpers every operator file uses.
 */
#include "mql/expr_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- nodes ------------------------------------------------------------------------------ */

duet_expr_t *expr_node_new(expr_eval_fn eval, const char *name, size_t arg_count)
{
   duet_expr_t *node = bson_malloc0(sizeof *node);
   node->eval = eval;
   node->name = name;
   node->arg_count = arg_count;
   node->args = arg_count ? bson_malloc0(arg_count * sizeof *node->args) : NULL;
   node->constant.value_type = BSON_TYPE_EOD;
   node->variable = EXPR_VAR_CURRENT;
   node->slot = -1;
   node->slot2 = -1;
   return node;
}

void duet_expr_destroy(duet_expr_t *expr)
{
   if (!expr) {
      return;
   }
   for (size_t i = 0; i < expr->arg_count; i++) {
      duet_expr_destroy(expr->args[i]);
      if (expr->keys) {
         bson_free(expr->keys[i]);
      }
   }
   bson_free(expr->args);
   bson_free(expr->keys);
   for (size_t i = 0; i < expr->path_length; i++) {
      bson_free(expr->path[i]);
   }
   bson_free(expr->path);
   bson_free(expr->dotted);
   expr_value_clear(&expr->constant);
   bson_free(expr);
}

static bool eval_constant(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   (void)state;
   (void)error;
   if (node->constant.value_type == BSON_TYPE_EOD) {
      expr_set_missing(out);
   } else {
      bson_value_copy(&node->constant, out);
   }
   return true;
}

duet_expr_t *expr_node_constant(const bson_value_t *value)
{
   duet_expr_t *node = expr_node_new(eval_constant, NULL, 0);
   if (value->value_type != BSON_TYPE_EOD) {
      bson_value_copy(value, &node->constant);
   }
   return node;
}

bool duet_expr_is_constant(const duet_expr_t *expr)
{
   return expr->eval == eval_constant;
}

/* ---- value helpers ------------------------------------------------------------------------ */

void expr_set_string_owned(bson_value_t *out, char *string, uint32_t length)
{
   out->value_type = BSON_TYPE_UTF8;
   out->value.v_utf8.str = string;
   out->value.v_utf8.len = length;
}

void expr_set_string(bson_value_t *out, const char *string, uint32_t length)
{
   char *copy = bson_malloc(length + 1);
   memcpy(copy, string, length);
   copy[length] = '\0';
   expr_set_string_owned(out, copy, length);
}

void expr_set_document_steal(bson_value_t *out, bson_t *doc, bool is_array)
{
   uint32_t length = 0;
   uint8_t *data = bson_destroy_with_steal(doc, true, &length);
   out->value_type = is_array ? BSON_TYPE_ARRAY : BSON_TYPE_DOCUMENT;
   out->value.v_doc.data = data;
   out->value.v_doc.data_len = length;
}

void expr_append_value(bson_t *doc, const char *key, int key_length, const bson_value_t *value)
{
   if (value->value_type != BSON_TYPE_EOD) {
      bson_append_value(doc, key, key_length, value);
   }
}

bool expr_value_as_bson(const bson_value_t *value, bson_t *view)
{
   if (value->value_type != BSON_TYPE_DOCUMENT && value->value_type != BSON_TYPE_ARRAY) {
      return false;
   }
   return bson_init_static(view, value->value.v_doc.data, value->value.v_doc.data_len);
}

uint32_t expr_array_length(const bson_value_t *array)
{
   bson_t view;
   if (!expr_value_as_bson(array, &view)) {
      return 0;
   }
   return bson_count_keys(&view);
}

double expr_number_as_double(const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_INT32: return value->value.v_int32;
   case BSON_TYPE_INT64: return (double)value->value.v_int64;
   case BSON_TYPE_DOUBLE: return value->value.v_double;
   case BSON_TYPE_DECIMAL128: return duet_decimal_to_double(value->value.v_decimal128);
   default: return NAN;
   }
}

bool expr_number_as_int64(const bson_value_t *value, int64_t *out)
{
   switch (value->value_type) {
   case BSON_TYPE_INT32: *out = value->value.v_int32; return true;
   case BSON_TYPE_INT64: *out = value->value.v_int64; return true;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != trunc(d)) {
         return false;
      }
      *out = (int64_t)d;
      return true;
   }
   case BSON_TYPE_DECIMAL128: {
      int64_t v;
      if (!duet_decimal_to_int64(value->value.v_decimal128, &v)) {
         return false;
      }
      if (duet_decimal_compare(duet_decimal_from_int64(v), value->value.v_decimal128) != 0) {
         return false;
      }
      *out = v;
      return true;
   }
   default: return false;
   }
}

bool expr_number_as_int32(const bson_value_t *value, int32_t *out)
{
   int64_t v;
   if (!expr_number_as_int64(value, &v) || v < INT32_MIN || v > INT32_MAX) {
      return false;
   }
   *out = (int32_t)v;
   return true;
}

bool duet_expr_value_truthy(const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_EOD:
   case BSON_TYPE_NULL:
   case BSON_TYPE_UNDEFINED: return false;
   case BSON_TYPE_BOOL: return value->value.v_bool;
   case BSON_TYPE_INT32: return value->value.v_int32 != 0;
   case BSON_TYPE_INT64: return value->value.v_int64 != 0;
   case BSON_TYPE_DOUBLE: return value->value.v_double != 0;
   case BSON_TYPE_DECIMAL128: return !duet_decimal_is_zero(value->value.v_decimal128);
   default: return true;
   }
}

/* ---- printing values the way MongoDB's Value::toString does ------------------------------ */

static void print_value(bson_string_t *s, const bson_value_t *value);

static void print_document(bson_string_t *s, const bson_value_t *value, bool is_array)
{
   bson_t view;
   bson_iter_t iter;
   bson_string_append(s, is_array ? "[" : "{");
   bool first = true;
   if (expr_value_as_bson(value, &view) && bson_iter_init(&iter, &view)) {
      while (bson_iter_next(&iter)) {
         bson_string_append(s, first ? "" : ", ");
         if (!is_array) {
            bson_string_append_printf(s, "%s: ", bson_iter_key(&iter));
         }
         print_value(s, bson_iter_value(&iter));
         first = false;
      }
   }
   bson_string_append(s, is_array ? "]" : "}");
}

static void print_value(bson_string_t *s, const bson_value_t *value)
{
   char buffer[64];
   switch (value->value_type) {
   case BSON_TYPE_EOD: bson_string_append(s, "MISSING"); break;
   case BSON_TYPE_NULL: bson_string_append(s, "null"); break;
   case BSON_TYPE_UNDEFINED: bson_string_append(s, "undefined"); break;
   case BSON_TYPE_BOOL: bson_string_append(s, value->value.v_bool ? "true" : "false"); break;
   case BSON_TYPE_INT32: bson_string_append_printf(s, "%d", value->value.v_int32); break;
   case BSON_TYPE_INT64: bson_string_append_printf(s, "%lld", (long long)value->value.v_int64); break;
   case BSON_TYPE_DOUBLE: {
      /* std::ostream << double: six significant digits, "inf"/"nan" */
      double d = value->value.v_double;
      if (isnan(d)) {
         bson_string_append(s, "nan");
      } else if (isinf(d)) {
         bson_string_append(s, d > 0 ? "inf" : "-inf");
      } else {
         bson_string_append_printf(s, "%g", d);
      }
      break;
   }
   case BSON_TYPE_DECIMAL128: {
      char dec[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&value->value.v_decimal128, dec);
      bson_string_append(s, dec);
      break;
   }
   case BSON_TYPE_UTF8:
      bson_string_append_c(s, '"');
      bson_string_append(s, value->value.v_utf8.str);
      bson_string_append_c(s, '"');
      break;
   case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string(&value->value.v_oid, hex);
      bson_string_append(s, hex);
      break;
   }
   case BSON_TYPE_DATE_TIME:
      duet_expr_format_date(value->value.v_datetime, buffer, sizeof buffer);
      bson_string_append(s, buffer);
      break;
   case BSON_TYPE_TIMESTAMP:
      bson_string_append_printf(s, "Timestamp(%u, %u)", value->value.v_timestamp.timestamp,
                                value->value.v_timestamp.increment);
      break;
   case BSON_TYPE_DOCUMENT: print_document(s, value, false); break;
   case BSON_TYPE_ARRAY: print_document(s, value, true); break;
   case BSON_TYPE_REGEX:
      bson_string_append_printf(s, "/%s/%s", value->value.v_regex.regex, value->value.v_regex.options);
      break;
   case BSON_TYPE_MINKEY: bson_string_append(s, "MinKey"); break;
   case BSON_TYPE_MAXKEY: bson_string_append(s, "MaxKey"); break;
   default: bson_string_append(s, duet_type_name(value->value_type)); break;
   }
}

char *duet_expr_value_to_string(const bson_value_t *value)
{
   bson_string_t *s = bson_string_new(NULL);
   print_value(s, value);
   return bson_string_free(s, false);
}

/* ---- scopes ------------------------------------------------------------------------------ */

struct duet_expr_scope {
   expr_parse_ctx_t ctx;
};

int expr_ctx_bind(expr_parse_ctx_t *ctx, const char *name)
{
   if (ctx->count == ctx->capacity) {
      ctx->capacity = ctx->capacity ? ctx->capacity * 2 : 8;
      ctx->names = bson_realloc(ctx->names, ctx->capacity * sizeof *ctx->names);
      ctx->slots = bson_realloc(ctx->slots, ctx->capacity * sizeof *ctx->slots);
   }
   ctx->names[ctx->count] = bson_strdup(name);
   ctx->slots[ctx->count] = ctx->next_slot++;
   return ctx->slots[ctx->count++];
}

/* Drops bindings made after `count` (slots are not reused, so nested bodies never clash). */
static void ctx_unbind_to(expr_parse_ctx_t *ctx, size_t count)
{
   while (ctx->count > count) {
      bson_free(ctx->names[--ctx->count]);
   }
}

static int ctx_lookup(const expr_parse_ctx_t *ctx, const char *name, size_t length)
{
   for (size_t i = ctx->count; i-- > 0;) {
      if (strlen(ctx->names[i]) == length && memcmp(ctx->names[i], name, length) == 0) {
         return ctx->slots[i];
      }
   }
   return -1;
}

duet_expr_scope_t *duet_expr_scope_new(void)
{
   return bson_malloc0(sizeof(duet_expr_scope_t));
}

int duet_expr_scope_define(duet_expr_scope_t *scope, const char *name)
{
   int slot = ctx_lookup(&scope->ctx, name, strlen(name));
   return slot >= 0 ? slot : expr_ctx_bind(&scope->ctx, name);
}

int duet_expr_scope_lookup(const duet_expr_scope_t *scope, const char *name)
{
   return ctx_lookup(&scope->ctx, name, strlen(name));
}

size_t duet_expr_scope_count(const duet_expr_scope_t *scope)
{
   return scope->ctx.count;
}

void duet_expr_scope_destroy(duet_expr_scope_t *scope)
{
   if (!scope) {
      return;
   }
   ctx_unbind_to(&scope->ctx, 0);
   bson_free(scope->ctx.names);
   bson_free(scope->ctx.slots);
   bson_free(scope);
}

bool expr_validate_variable_name(const char *name, duet_error_t *error)
{
   if (name[0] == '\0') {
      duet_error_set(error, 16866, "empty variable names are not allowed");
      return false;
   }
   unsigned char first = (unsigned char)name[0];
   if (!((first >= 'a' && first <= 'z') || first >= 0x80)) {
      duet_error_set(error, 16867, "'%s' starts with an invalid character for a user variable name", name);
      return false;
   }
   for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
      if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
            *p >= 0x80)) {
         duet_error_set(error, 16868, "'%s' contains an invalid character for a variable name: '%c'", name, *p);
         return false;
      }
   }
   return true;
}

/* ---- field paths and variables ------------------------------------------------------------ */

/* Walks `path[index..]` below `value` with MongoDB's array rules (ExpressionFieldPath::evaluatePath):
 * through an array, each element that is a document or array is walked and the non-missing
 * results are collected in an array. */
static void walk_path(const duet_expr_t *node, size_t index, const bson_value_t *value, bson_value_t *out)
{
   if (index == node->path_length) {
      bson_value_copy(value, out);
      return;
   }
   if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_t view;
      bson_iter_t iter;
      if (expr_value_as_bson(value, &view) && bson_iter_init_find(&iter, &view, node->path[index])) {
         walk_path(node, index + 1, bson_iter_value(&iter), out);
         return;
      }
      expr_set_missing(out);
      return;
   }
   if (value->value_type == BSON_TYPE_ARRAY) {
      bson_t view;
      bson_iter_t iter;
      bson_t result = BSON_INITIALIZER;
      uint32_t n = 0;
      if (expr_value_as_bson(value, &view) && bson_iter_init(&iter, &view)) {
         while (bson_iter_next(&iter)) {
            const bson_value_t *element = bson_iter_value(&iter);
            if (element->value_type != BSON_TYPE_DOCUMENT && element->value_type != BSON_TYPE_ARRAY) {
               continue;
            }
            bson_value_t sub;
            walk_path(node, index, element, &sub);
            if (sub.value_type != BSON_TYPE_EOD) {
               char key_buffer[16];
               const char *key;
               size_t key_length = bson_uint32_to_string(n++, &key, key_buffer, sizeof key_buffer);
               bson_append_value(&result, key, (int)key_length, &sub);
               bson_value_destroy(&sub);
            }
         }
      }
      expr_set_document_steal(out, &result, true);
      return;
   }
   expr_set_missing(out);
}

static bool eval_path(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   (void)error;
   if (node->variable == EXPR_VAR_CURRENT || node->variable == EXPR_VAR_ROOT) {
      if (node->path_length == 0) {
         out->value_type = BSON_TYPE_DOCUMENT;
         out->value.v_doc.data = bson_malloc(state->root->len);
         memcpy(out->value.v_doc.data, bson_get_data(state->root), state->root->len);
         out->value.v_doc.data_len = state->root->len;
         return true;
      }
      bson_iter_t iter;
      if (!bson_iter_init_find(&iter, state->root, node->path[0])) {
         expr_set_missing(out);
         return true;
      }
      walk_path(node, 1, bson_iter_value(&iter), out);
      return true;
   }
   bson_value_t now;
   const bson_value_t *base;
   if (node->variable == EXPR_VAR_REMOVE) {
      expr_set_missing(out);
      return true;
   } else if (node->variable == EXPR_VAR_NOW) {
      expr_set_date(&now, state->now_ms);
      base = &now;
   } else {
      base = &state->slots[node->variable];
   }
   if (base->value_type == BSON_TYPE_EOD) {
      expr_set_missing(out);
      return true;
   }
   walk_path(node, 0, base, out);
   return true;
}

bool duet_expr_is_field_path(const duet_expr_t *expr, const char **path)
{
   if (expr->eval != eval_path || expr->variable != EXPR_VAR_CURRENT || expr->path_length == 0) {
      return false;
   }
   *path = expr->dotted;
   return true;
}

/* Splits "a.b.c" into components, validating FieldPath rules. */
static bool split_path(const char *text, size_t length, duet_expr_t *node, duet_error_t *error)
{
   size_t start = 0;
   size_t capacity = 4;
   node->path = bson_malloc(capacity * sizeof *node->path);
   for (size_t i = 0; i <= length; i++) {
      if (i < length && text[i] != '.') {
         continue;
      }
      if (i == start) {
         duet_error_set(error, 15998, "FieldPath field names may not be empty strings.");
         return false;
      }
      if (text[start] == '$') {
         duet_error_set(error, 16410,
                        "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
         return false;
      }
      if (node->path_length == capacity) {
         capacity *= 2;
         node->path = bson_realloc(node->path, capacity * sizeof *node->path);
      }
      node->path[node->path_length++] = bson_strndup(text + start, i - start);
      start = i + 1;
   }
   return true;
}

static bool parse_path(const char *text, uint32_t length, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error)
{
   duet_expr_t *node = expr_node_new(eval_path, NULL, 0);
   if (memchr(text, '\0', length)) {
      duet_error_set(error, 16411, "FieldPath field names may not contain '\\0'.");
      goto fail;
   }
   if (length >= 2 && text[1] == '$') {
      /* $$variable[.path] */
      const char *name = text + 2;
      const char *dot = memchr(name, '.', length - 2);
      size_t name_length = dot ? (size_t)(dot - name) : length - 2;
      if (name_length == 0) {
         duet_error_set(error, 16869, "empty variable names are not allowed");
         goto fail;
      }
      if (name_length == 4 && memcmp(name, "ROOT", 4) == 0) {
         node->variable = EXPR_VAR_ROOT;
      } else if (name_length == 7 && memcmp(name, "CURRENT", 7) == 0) {
         node->variable = EXPR_VAR_CURRENT;
      } else if (name_length == 6 && memcmp(name, "REMOVE", 6) == 0) {
         node->variable = EXPR_VAR_REMOVE;
      } else if (name_length == 3 && memcmp(name, "NOW", 3) == 0) {
         node->variable = EXPR_VAR_NOW;
      } else {
         int slot = ctx_lookup(ctx, name, name_length);
         if (slot < 0) {
            duet_error_set(error, 17276, "Use of undefined variable: %.*s", (int)name_length, name);
            goto fail;
         }
         node->variable = slot;
      }
      if (dot && !split_path(dot + 1, length - 2 - name_length - 1, node, error)) {
         goto fail;
      }
   } else {
      if (length == 1) {
         duet_error_set(error, 16872, "'$' by itself is not a valid FieldPath");
         goto fail;
      }
      if (!split_path(text + 1, length - 1, node, error)) {
         goto fail;
      }
      node->dotted = bson_strndup(text + 1, length - 1);
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

/* ---- literal objects and arrays ------------------------------------------------------------- */

static bool eval_object(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_t result = BSON_INITIALIZER;
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         bson_destroy(&result);
         expr_set_missing(out);
         return false;
      }
      expr_append_value(&result, node->keys[i], -1, &value);
      bson_value_destroy(&value);
   }
   expr_set_document_steal(out, &result, false);
   return true;
}

static bool eval_array(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_t result = BSON_INITIALIZER;
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         bson_destroy(&result);
         expr_set_missing(out);
         return false;
      }
      char key_buffer[16];
      const char *key;
      size_t key_length = bson_uint32_to_string((uint32_t)i, &key, key_buffer, sizeof key_buffer);
      if (value.value_type == BSON_TYPE_EOD) {
         bson_append_null(&result, key, (int)key_length);
      } else {
         bson_append_value(&result, key, (int)key_length, &value);
         bson_value_destroy(&value);
      }
   }
   expr_set_document_steal(out, &result, true);
   return true;
}

/* Replaces a node whose children are all constants by its value (no errors possible for
 * literal objects/arrays). */
static duet_expr_t *fold_if_constant(duet_expr_t *node)
{
   for (size_t i = 0; i < node->arg_count; i++) {
      if (node->args[i] && !duet_expr_is_constant(node->args[i])) {
         return node;
      }
   }
   expr_state_t state = {0};
   bson_value_t value;
   duet_error_t ignored = DUET_ERROR_INIT;
   if (!node->eval(node, &state, &value, &ignored)) {
      duet_error_clear(&ignored);
      return node;
   }
   duet_expr_t *constant = expr_node_new(eval_constant, NULL, 0);
   constant->constant = value;
   duet_expr_destroy(node);
   return constant;
}

static bool parse_array(const bson_value_t *spec, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error)
{
   bson_t view;
   bson_iter_t iter;
   expr_value_as_bson(spec, &view);
   duet_expr_t *node = expr_node_new(eval_array, NULL, bson_count_keys(&view));
   size_t i = 0;
   if (bson_iter_init(&iter, &view)) {
      while (bson_iter_next(&iter) && i < node->arg_count) {
         if (!expr_parse_iter(&iter, ctx, &node->args[i++], error)) {
            duet_expr_destroy(node);
            return false;
         }
      }
   }
   *out = fold_if_constant(node);
   return true;
}

static bool parse_object_literal(const bson_t *spec, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error)
{
   duet_expr_t *node = expr_node_new(eval_object, NULL, bson_count_keys(spec));
   node->keys = bson_malloc0(node->arg_count * sizeof *node->keys);
   bson_iter_t iter;
   size_t i = 0;
   if (bson_iter_init(&iter, spec)) {
      while (bson_iter_next(&iter) && i < node->arg_count) {
         const char *key = bson_iter_key(&iter);
         if (key[0] == '$') {
            duet_error_set(error, 16410,
                           "FieldPath field names may not start with '$'. Consider using $getField or "
                           "$setField.");
            goto fail;
         }
         if (key[0] == '\0') {
            duet_error_set(error, 16412, "FieldPath field names may not be empty strings.");
            goto fail;
         }
         if (strchr(key, '.')) {
            duet_error_set(error, 16412, "FieldPath field names may not contain '.'.");
            goto fail;
         }
         for (size_t j = 0; j < i; j++) {
            if (strcmp(node->keys[j], key) == 0) {
               duet_error_set(error, 16406, "duplicate field name specified in object literal: %s", key);
               goto fail;
            }
         }
         node->keys[i] = bson_strdup(key);
         if (!expr_parse_iter(&iter, ctx, &node->args[i], error)) {
            goto fail;
         }
         i++;
      }
   }
   *out = fold_if_constant(node);
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

/* ---- operators ------------------------------------------------------------------------------ */

static const expr_operator_t *const operator_tables[] = {
    expr_operators_logic,  expr_operators_arith, expr_operators_string,  expr_operators_array,
    expr_operators_object, expr_operators_date,  expr_operators_convert,
};

static const expr_operator_t *find_operator(const char *name)
{
   for (size_t t = 0; t < sizeof operator_tables / sizeof operator_tables[0]; t++) {
      for (const expr_operator_t *op = operator_tables[t]; op->name; op++) {
         if (strcmp(op->name, name) == 0) {
            return op;
         }
      }
   }
   return NULL;
}

bool expr_parse_args(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, int min_args, int max_args,
                     duet_expr_t *node, duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   size_t count = 1;
   bson_t view;
   if (value->value_type == BSON_TYPE_ARRAY) {
      expr_value_as_bson(value, &view);
      count = bson_count_keys(&view);
   }
   if (min_args == max_args && (int)count != min_args) {
      duet_error_set(error, 16020, "Expression %s takes exactly %d arguments. %zu were passed in.", name, min_args,
                     count);
      return false;
   }
   if ((int)count < min_args || (max_args >= 0 && (int)count > max_args)) {
      if (max_args < 0) {
         duet_error_set(error, 16021, "Expression %s takes at least %d arguments, but %zu were passed in.", name,
                        min_args, count);
      } else {
         duet_error_set(error, 28667,
                        "Expression %s takes at least %d arguments, and at most %d, but %zu were passed in.", name,
                        min_args, max_args, count);
      }
      return false;
   }
   node->args = count ? bson_malloc0(count * sizeof *node->args) : NULL;
   node->arg_count = count;
   if (value->value_type != BSON_TYPE_ARRAY) {
      return expr_parse_iter(arg, ctx, &node->args[0], error);
   }
   bson_iter_t iter;
   size_t i = 0;
   if (bson_iter_init(&iter, &view)) {
      while (bson_iter_next(&iter) && i < count) {
         if (!expr_parse_iter(&iter, ctx, &node->args[i++], error)) {
            return false;
         }
      }
   }
   return true;
}

static bool parse_operator(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                           duet_error_t *error)
{
   const expr_operator_t *op = find_operator(name);
   if (!op) {
      duet_error_set(error, DUET_ERR_INVALID_PIPELINE_OPERATOR, "Unrecognized expression '%s'", name);
      return false;
   }
   if (op->parse) {
      return op->parse(op->name, arg, ctx, out, error);
   }
   duet_expr_t *node = expr_node_new(op->eval, op->name, 0);
   node->option = op->option;
   if (!expr_parse_args(op->name, arg, ctx, op->min_args, op->max_args, node, error)) {
      duet_expr_destroy(node);
      return false;
   }
   *out = node;
   return true;
}

static bool parse_document(const bson_t *spec, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error)
{
   bson_iter_t iter;
   if (bson_iter_init(&iter, spec) && bson_iter_next(&iter) && bson_iter_key(&iter)[0] == '$') {
      uint32_t n = bson_count_keys(spec);
      if (n != 1) {
         char *text = duet_expr_value_to_string(&(bson_value_t){
             .value_type = BSON_TYPE_DOCUMENT, .value.v_doc = {(uint8_t *)bson_get_data(spec), spec->len}});
         duet_error_set(error, 15983,
                        "an expression specification must contain exactly one field, the name of the expression. "
                        "Found %u fields in %s",
                        n, text);
         bson_free(text);
         return false;
      }
      return parse_operator(bson_iter_key(&iter), &iter, ctx, out, error);
   }
   return parse_object_literal(spec, ctx, out, error);
}

bool expr_parse_value(const bson_value_t *spec, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error)
{
   *out = NULL;
   switch (spec->value_type) {
   case BSON_TYPE_UTF8:
      if (spec->value.v_utf8.len > 0 && spec->value.v_utf8.str[0] == '$') {
         return parse_path(spec->value.v_utf8.str, spec->value.v_utf8.len, ctx, out, error);
      }
      break;
   case BSON_TYPE_DOCUMENT: {
      bson_t view;
      expr_value_as_bson(spec, &view);
      return parse_document(&view, ctx, out, error);
   }
   case BSON_TYPE_ARRAY: return parse_array(spec, ctx, out, error);
   default: break;
   }
   *out = expr_node_constant(spec);
   return true;
}

bool expr_parse_iter(const bson_iter_t *iter, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error)
{
   return expr_parse_value(bson_iter_value((bson_iter_t *)iter), ctx, out, error);
}

/* ---- public entry points --------------------------------------------------------------------- */

static void ctx_init_from_scope(expr_parse_ctx_t *ctx, const duet_expr_scope_t *scope)
{
   memset(ctx, 0, sizeof *ctx);
   if (scope) {
      for (size_t i = 0; i < scope->ctx.count; i++) {
         expr_ctx_bind(ctx, scope->ctx.names[i]);
      }
      ctx->next_slot = scope->ctx.next_slot;
   }
}

static void ctx_destroy(expr_parse_ctx_t *ctx)
{
   ctx_unbind_to(ctx, 0);
   bson_free(ctx->names);
   bson_free(ctx->slots);
}

static bool parse_with(const bson_value_t *spec, const bson_t *object, const duet_expr_scope_t *scope,
                       duet_expr_t **out, duet_error_t *error)
{
   expr_parse_ctx_t ctx;
   ctx_init_from_scope(&ctx, scope);
   bool ok = object ? parse_object_literal(object, &ctx, out, error) : expr_parse_value(spec, &ctx, out, error);
   if (ok) {
      (*out)->slot_count = ctx.next_slot;
   } else {
      duet_expr_destroy(*out);
      *out = NULL;
   }
   ctx_destroy(&ctx);
   return ok;
}

bool duet_expr_parse(const bson_value_t *spec, const duet_expr_scope_t *scope, duet_expr_t **out, duet_error_t *error)
{
   return parse_with(spec, NULL, scope, out, error);
}

bool duet_expr_parse_iter(const bson_iter_t *iter, const duet_expr_scope_t *scope, duet_expr_t **out,
                          duet_error_t *error)
{
   return parse_with(bson_iter_value((bson_iter_t *)iter), NULL, scope, out, error);
}

bool duet_expr_parse_object(const bson_t *spec, const duet_expr_scope_t *scope, duet_expr_t **out, duet_error_t *error)
{
   return parse_with(NULL, spec, scope, out, error);
}

bool duet_expr_evaluate(const duet_expr_t *expr, const bson_t *root, const duet_expr_env_t *env, bson_value_t *out,
                        duet_error_t *error)
{
   static const bson_t empty = BSON_INITIALIZER;
   expr_state_t state = {.root = root ? root : &empty, .now_ms = env ? env->now_ms : 0};
   size_t given = env ? env->variable_count : 0;
   size_t needed = expr->slot_count > 0 ? (size_t)expr->slot_count : 0;
   bson_value_t local[16];
   bson_value_t *slots = NULL;
   if (needed > 0) {
      slots = needed <= 16 ? local : bson_malloc(needed * sizeof *slots);
      for (size_t i = 0; i < needed; i++) {
         if (i < given && env->variables) {
            slots[i] = env->variables[i]; /* shallow: borrowed from the caller */
         } else {
            slots[i].value_type = BSON_TYPE_EOD;
         }
      }
   }
   state.slots = slots;
   bool ok = expr->eval(expr, &state, out, error);
   if (!ok) {
      expr_set_missing(out);
   }
   if (slots && slots != local) {
      bson_free(slots);
   }
   return ok;
}
