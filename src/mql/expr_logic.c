/*
 * expr_logic.c — literal, variable binding, type, conditional, comparison and boolean
 * expressions: $literal $let $type $isNumber $ifNull $cond $switch $eq $ne $gt $gte $lt $lte
 * $cmp $and $or $not.
 */
#include "mql/expr_internal.h"

#include <string.h>

/* ---- $literal ------------------------------------------------------------------------------- */

static bool parse_literal(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                          duet_error_t *error)
{
   (void)name;
   (void)ctx;
   (void)error;
   *out = expr_node_constant(bson_iter_value((bson_iter_t *)arg));
   return true;
}

/* ---- $let ----------------------------------------------------------------------------------- */

/* args[0..n-1] are the variable values (bound to slots slot..slot+n-1), args[n] is `in`. */
static bool eval_let(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   size_t count = node->arg_count - 1;
   bson_value_t *values = count ? bson_malloc(count * sizeof *values) : NULL;
   bool ok = true;
   size_t bound = 0;
   for (; bound < count; bound++) {
      /* all vars are evaluated in the outer scope before any is bound */
      if (!expr_eval(node->args[bound], state, &values[bound], error)) {
         ok = false;
         break;
      }
   }
   if (ok) {
      for (size_t i = 0; i < count; i++) {
         state->slots[node->slot + (int)i] = values[i];
      }
      ok = expr_eval(node->args[count], state, out, error);
      for (size_t i = 0; i < count; i++) {
         state->slots[node->slot + (int)i].value_type = BSON_TYPE_EOD;
      }
   }
   for (size_t i = 0; i < bound; i++) {
      bson_value_destroy(&values[i]);
   }
   bson_free(values);
   return ok;
}

static bool parse_let(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                      duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, 16874, "$let only supports an object as its argument");
      return false;
   }
   bson_iter_t iter, vars_iter, in_iter;
   bool have_vars = false, have_in = false;
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "vars") == 0) {
         vars_iter = iter;
         have_vars = true;
      } else if (strcmp(key, "in") == 0) {
         in_iter = iter;
         have_in = true;
      } else {
         duet_error_set(error, 16875, "Unrecognized parameter to $let: %s", key);
         return false;
      }
   }
   if (!have_vars) {
      duet_error_set(error, 16876, "Missing 'vars' parameter to $let");
      return false;
   }
   if (!have_in) {
      duet_error_set(error, 16877, "Missing 'in' parameter to $let");
      return false;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&vars_iter)) {
      duet_error_set(error, 10065, "invalid parameter: expected an object (vars)");
      return false;
   }
   bson_iter_t child;
   bson_iter_recurse(&vars_iter, &child);
   size_t count = 0;
   while (bson_iter_next(&child)) {
      count++;
   }
   duet_expr_t *node = expr_node_new(eval_let, name, count + 1);
   size_t saved = ctx->count;
   size_t i = 0;
   bson_iter_recurse(&vars_iter, &child);
   /* values are parsed in the outer scope */
   while (bson_iter_next(&child)) {
      if (!expr_validate_variable_name(bson_iter_key(&child), error) ||
          !expr_parse_iter(&child, ctx, &node->args[i++], error)) {
         goto fail;
      }
   }
   bson_iter_recurse(&vars_iter, &child);
   i = 0;
   while (bson_iter_next(&child)) {
      int slot = expr_ctx_bind(ctx, bson_iter_key(&child));
      if (i++ == 0) {
         node->slot = slot;
      }
   }
   if (!expr_parse_iter(&in_iter, ctx, &node->args[count], error)) {
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

/* ---- $type, $isNumber --------------------------------------------------------------------------- */

static bool eval_type(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   const char *name = duet_type_name(value.value_type);
   bson_value_destroy(&value);
   expr_set_string(out, name, (uint32_t)strlen(name));
   return true;
}

static bool eval_is_number(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   expr_set_bool(out, duet_type_is_number(value.value_type));
   bson_value_destroy(&value);
   return true;
}

/* ---- $ifNull, $cond, $switch --------------------------------------------------------------------- */

static bool eval_if_null(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   for (size_t i = 0; i < node->arg_count; i++) {
      if (!expr_eval(node->args[i], state, out, error)) {
         return false;
      }
      if (i + 1 == node->arg_count || !expr_value_is_nullish(out)) {
         return true;
      }
      bson_value_destroy(out);
   }
   expr_set_missing(out);
   return true;
}

static bool parse_if_null(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                          duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   uint32_t count = value->value_type == BSON_TYPE_ARRAY ? expr_array_length(value) : 1;
   if (count < 2) {
      duet_error_set(error, 1257300, "$ifNull needs at least two arguments, had: %u", count);
      return false;
   }
   duet_expr_t *node = expr_node_new(eval_if_null, name, 0);
   if (!expr_parse_args(name, arg, ctx, 2, -1, node, error)) {
      duet_expr_destroy(node);
      return false;
   }
   *out = node;
   return true;
}

static bool eval_cond(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t test;
   if (!expr_eval(node->args[0], state, &test, error)) {
      return false;
   }
   bool truthy = duet_expr_value_truthy(&test);
   bson_value_destroy(&test);
   return expr_eval(node->args[truthy ? 1 : 2], state, out, error);
}

static bool parse_cond(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                       duet_error_t *error)
{
   duet_expr_t *node = expr_node_new(eval_cond, name, 0);
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      if (!expr_parse_args(name, arg, ctx, 3, 3, node, error)) {
         goto fail;
      }
      *out = node;
      return true;
   }
   node->args = bson_malloc0(3 * sizeof *node->args);
   node->arg_count = 3;
   bson_iter_t iter;
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      int index = strcmp(key, "if") == 0 ? 0 : strcmp(key, "then") == 0 ? 1 : strcmp(key, "else") == 0 ? 2 : -1;
      if (index < 0) {
         duet_error_set(error, 17083, "Unrecognized parameter to $cond: %s", key);
         goto fail;
      }
      duet_expr_destroy(node->args[index]);
      node->args[index] = NULL;
      if (!expr_parse_iter(&iter, ctx, &node->args[index], error)) {
         goto fail;
      }
   }
   if (!node->args[0]) {
      duet_error_set(error, 17080, "Missing 'if' parameter to $cond");
      goto fail;
   }
   if (!node->args[1]) {
      duet_error_set(error, 17081, "Missing 'then' parameter to $cond");
      goto fail;
   }
   if (!node->args[2]) {
      duet_error_set(error, 17082, "Missing 'else' parameter to $cond");
      goto fail;
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

/* args: case0, then0, case1, then1, ..., default (may be NULL). */
static bool eval_switch(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   size_t pairs = (node->arg_count - 1) / 2;
   for (size_t i = 0; i < pairs; i++) {
      bson_value_t test;
      if (!expr_eval(node->args[2 * i], state, &test, error)) {
         return false;
      }
      bool truthy = duet_expr_value_truthy(&test);
      bson_value_destroy(&test);
      if (truthy) {
         return expr_eval(node->args[2 * i + 1], state, out, error);
      }
   }
   if (!node->args[node->arg_count - 1]) {
      duet_error_set(error, 40066,
                     "$switch could not find a matching branch for an input, and no default was "
                     "specified.");
      expr_set_missing(out);
      return false;
   }
   return expr_eval(node->args[node->arg_count - 1], state, out, error);
}

static bool parse_switch(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                         duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, 40060, "$switch requires an object as an argument, found: %s",
                     duet_type_name(value->value_type));
      return false;
   }
   bson_iter_t iter, branches_iter, default_iter;
   bool have_branches = false, have_default = false;
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "branches") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            duet_error_set(error, 40061,
                           "$switch expects its 'branches' parameter to be an array of objects, "
                           "found: %s",
                           duet_type_name(bson_iter_type(&iter)));
            return false;
         }
         branches_iter = iter;
         have_branches = true;
      } else if (strcmp(key, "default") == 0) {
         default_iter = iter;
         have_default = true;
      } else {
         duet_error_set(error, 40067, "$switch found an unknown argument: %s", key);
         return false;
      }
   }
   size_t count = have_branches ? expr_array_length(bson_iter_value(&branches_iter)) : 0;
   if (count == 0) {
      duet_error_set(error, 40068, "$switch requires at least one branch.");
      return false;
   }
   duet_expr_t *node = expr_node_new(eval_switch, name, 2 * count + 1);
   bson_iter_t branch;
   bson_iter_recurse(&branches_iter, &branch);
   size_t i = 0;
   while (bson_iter_next(&branch)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&branch)) {
         duet_error_set(error, 40062, "$switch expects each branch to be an object, found: %s",
                        duet_type_name(bson_iter_type(&branch)));
         goto fail;
      }
      bson_iter_t field;
      bson_iter_recurse(&branch, &field);
      while (bson_iter_next(&field)) {
         const char *key = bson_iter_key(&field);
         int index = strcmp(key, "case") == 0 ? 0 : strcmp(key, "then") == 0 ? 1 : -1;
         if (index < 0) {
            duet_error_set(error, 40063, "$switch found an unknown argument to a branch: %s", key);
            goto fail;
         }
         duet_expr_destroy(node->args[2 * i + (size_t)index]);
         node->args[2 * i + (size_t)index] = NULL;
         if (!expr_parse_iter(&field, ctx, &node->args[2 * i + (size_t)index], error)) {
            goto fail;
         }
      }
      if (!node->args[2 * i]) {
         duet_error_set(error, 40064, "$switch requires each branch have a 'case' expression");
         goto fail;
      }
      if (!node->args[2 * i + 1]) {
         duet_error_set(error, 40065, "$switch requires each branch have a 'then' expression.");
         goto fail;
      }
      i++;
   }
   if (have_default && !expr_parse_iter(&default_iter, ctx, &node->args[2 * count], error)) {
      goto fail;
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

/* ---- comparisons ------------------------------------------------------------------------------- */

enum { CMP_EQ, CMP_NE, CMP_GT, CMP_GTE, CMP_LT, CMP_LTE, CMP_CMP };

static bool eval_compare(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t a, b;
   if (!expr_eval(node->args[0], state, &a, error)) {
      return false;
   }
   if (!expr_eval(node->args[1], state, &b, error)) {
      bson_value_destroy(&a);
      return false;
   }
   int c = duet_value_compare(&a, &b);
   bson_value_destroy(&a);
   bson_value_destroy(&b);
   switch (node->option) {
   case CMP_EQ: expr_set_bool(out, c == 0); break;
   case CMP_NE: expr_set_bool(out, c != 0); break;
   case CMP_GT: expr_set_bool(out, c > 0); break;
   case CMP_GTE: expr_set_bool(out, c >= 0); break;
   case CMP_LT: expr_set_bool(out, c < 0); break;
   case CMP_LTE: expr_set_bool(out, c <= 0); break;
   default: expr_set_int32(out, c < 0 ? -1 : c > 0 ? 1 : 0); break;
   }
   return true;
}

/* ---- boolean ------------------------------------------------------------------------------------ */

static bool eval_and_or(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bool is_and = node->option == 0;
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         return false;
      }
      bool truthy = duet_expr_value_truthy(&value);
      bson_value_destroy(&value);
      if (truthy != is_and) {
         expr_set_bool(out, !is_and);
         return true;
      }
   }
   expr_set_bool(out, is_and);
   return true;
}

static bool eval_not(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   bool truthy = duet_expr_value_truthy(&value);
   bson_value_destroy(&value);
   expr_set_bool(out, !truthy);
   return true;
}

const expr_operator_t expr_operators_logic[] = {
    {"$literal", NULL, 0, 0, parse_literal, 0},  {"$let", NULL, 0, 0, parse_let, 0},
    {"$type", eval_type, 1, 1, NULL, 0},         {"$isNumber", eval_is_number, 1, 1, NULL, 0},
    {"$ifNull", NULL, 0, 0, parse_if_null, 0},   {"$cond", NULL, 0, 0, parse_cond, 0},
    {"$switch", NULL, 0, 0, parse_switch, 0},    {"$eq", eval_compare, 2, 2, NULL, CMP_EQ},
    {"$ne", eval_compare, 2, 2, NULL, CMP_NE},   {"$gt", eval_compare, 2, 2, NULL, CMP_GT},
    {"$gte", eval_compare, 2, 2, NULL, CMP_GTE}, {"$lt", eval_compare, 2, 2, NULL, CMP_LT},
    {"$lte", eval_compare, 2, 2, NULL, CMP_LTE}, {"$cmp", eval_compare, 2, 2, NULL, CMP_CMP},
    {"$and", eval_and_or, 0, -1, NULL, 0},       {"$or", eval_and_or, 0, -1, NULL, 1},
    {"$not", eval_not, 1, 1, NULL, 0},           {NULL, NULL, 0, 0, NULL, 0},
};
