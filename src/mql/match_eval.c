/*
 * match_eval.c — evaluates a parsed filter against documents: MongoDB's path
 * walk through embedded documents and arrays (path.cpp's element iterator),
 * comparison with type brackets (ComparisonMatchExpression), and the
 * single-element tests of every leaf operator.
 */
#include "match_internal.h"

#include <duet/doc.h>

#include <math.h>
#include <string.h>

/* ---- the path walk ------------------------------------------------------------------------------ */

typedef struct walk_state {
   match_visit_fn visit;
   void *data;
   bool expand_leaf_arrays;
} walk_state_t;

static bool value_document(const bson_value_t *value, bson_t *out)
{
   if (value->value_type != BSON_TYPE_DOCUMENT && value->value_type != BSON_TYPE_ARRAY) {
      return false;
   }
   if (!bson_init_static(out, value->value.v_doc.data, value->value.v_doc.data_len)) {
      bson_init(out); /* malformed nested BSON reads as empty */
   }
   return true;
}

static bool find_field(const bson_t *doc, const char *name, size_t length, bson_iter_t *out)
{
   if (!bson_iter_init(out, doc)) {
      return false;
   }
   while (bson_iter_next(out)) {
      if (bson_iter_key_len(out) == length && memcmp(bson_iter_key(out), name, length) == 0) {
         return true;
      }
   }
   return false;
}

static bool yield(walk_state_t *state, const bson_value_t *value, int64_t array_index)
{
   return state->visit(value, array_index, state->data);
}

static bool yield_missing(walk_state_t *state, int64_t array_index)
{
   bson_value_t missing = {.value_type = BSON_TYPE_EOD};
   return yield(state, &missing, array_index);
}

static bool walk(const bson_t *doc, const char *path, int64_t array_index, walk_state_t *state);

/* The path continues past an array: each element that is a document is walked
 * with the rest of the path, and an element whose index equals the next
 * component is taken as that component. */
static bool walk_array(const bson_value_t *array, const char *rest, int64_t array_index, walk_state_t *state)
{
   const char *dot = strchr(rest, '.');
   size_t next_length = dot ? (size_t)(dot - rest) : strlen(rest);
   bson_t elements;
   value_document(array, &elements);
   bson_iter_t it;
   bson_iter_init(&it, &elements);
   for (int64_t k = 0; bson_iter_next(&it); k++) {
      int64_t index = array_index >= 0 ? array_index : k;
      const bson_value_t *element = bson_iter_value(&it);
      if (bson_iter_key_len(&it) == next_length && memcmp(bson_iter_key(&it), rest, next_length) == 0) {
         if (!dot) {
            if (yield(state, element, index)) {
               return true;
            }
            continue;
         }
         bson_t sub;
         if (value_document(element, &sub)) {
            if (walk(&sub, dot + 1, index, state)) {
               return true;
            }
         } else if (yield_missing(state, index)) {
            return true;
         }
         continue;
      }
      if (element->value_type == BSON_TYPE_DOCUMENT) {
         bson_t sub;
         value_document(element, &sub);
         if (walk(&sub, rest, index, state)) {
            return true;
         }
      }
   }
   return false;
}

static bool walk(const bson_t *doc, const char *path, int64_t array_index, walk_state_t *state)
{
   const char *dot = strchr(path, '.');
   size_t length = dot ? (size_t)(dot - path) : strlen(path);
   bson_iter_t it;
   if (!find_field(doc, path, length, &it)) {
      return yield_missing(state, array_index);
   }
   const bson_value_t *value = bson_iter_value(&it);
   if (!dot) {
      if (value->value_type == BSON_TYPE_ARRAY && state->expand_leaf_arrays) {
         bson_t elements;
         value_document(value, &elements);
         bson_iter_t element;
         bson_iter_init(&element, &elements);
         for (int64_t k = 0; bson_iter_next(&element); k++) {
            if (yield(state, bson_iter_value(&element), array_index >= 0 ? array_index : k)) {
               return true;
            }
         }
      }
      return yield(state, value, array_index);
   }
   if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_t sub;
      value_document(value, &sub);
      return walk(&sub, dot + 1, array_index, state);
   }
   if (value->value_type == BSON_TYPE_ARRAY) {
      return walk_array(value, dot + 1, array_index, state);
   }
   return yield_missing(state, array_index);
}

bool match_path_visit(const bson_t *doc, const char *path, bool expand_leaf_arrays, match_visit_fn visit, void *data)
{
   walk_state_t state = {visit, data, expand_leaf_arrays};
   return walk(doc, path, -1, &state);
}

/* ---- comparisons ------------------------------------------------------------------------------ */

static bool value_is_nan(const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_DOUBLE: return isnan(value->value.v_double);
   case BSON_TYPE_DECIMAL128: return duet_decimal_is_nan(value->value.v_decimal128);
   default: return false;
   }
}

bool match_compare_matches(match_kind_t kind, const bson_value_t *operand, const bson_value_t *value)
{
   if (duet_doc_canonical_type(value->value_type) != duet_doc_canonical_type(operand->value_type)) {
      /* null matches missing ($eq, $lte, $gte) */
      if (operand->value_type == BSON_TYPE_NULL && value->value_type == BSON_TYPE_EOD) {
         return kind == MATCH_EQ || kind == MATCH_LTE || kind == MATCH_GTE;
      }
      if (operand->value_type == BSON_TYPE_MAXKEY || operand->value_type == BSON_TYPE_MINKEY) {
         switch (kind) {
         case MATCH_LT:
         case MATCH_LTE: return operand->value_type == BSON_TYPE_MAXKEY;
         case MATCH_GT:
         case MATCH_GTE: return operand->value_type == BSON_TYPE_MINKEY;
         default: return false;
         }
      }
      return false;
   }
   if (value->value_type == BSON_TYPE_EOD) {
      return false;
   }
   bool value_nan = value_is_nan(value), operand_nan = value_is_nan(operand);
   if (value_nan || operand_nan) {
      bool both = value_nan && operand_nan;
      return (kind == MATCH_EQ || kind == MATCH_LTE || kind == MATCH_GTE) && both;
   }
   int c = duet_value_compare(value, operand);
   switch (kind) {
   case MATCH_EQ: return c == 0;
   case MATCH_LT: return c < 0;
   case MATCH_LTE: return c <= 0;
   case MATCH_GT: return c > 0;
   case MATCH_GTE: return c >= 0;
   default: return false;
   }
}

/* ---- single-element tests ------------------------------------------------------------------------ */

typedef struct elem_index {
   int64_t index; /* set by $elemMatch when it matched element `index`; -1 otherwise */
} elem_index_t;

static bool matches_single(const match_node_t *node, const bson_value_t *value, match_context_t *context,
                           elem_index_t *elem);

static bool in_matches(const match_node_t *node, const bson_value_t *value)
{
   if (value->value_type == BSON_TYPE_EOD) {
      return node->in_has_null;
   }
   for (size_t i = 0; i < node->in_count; i++) {
      if (match_compare_matches(MATCH_EQ, &node->in_values[i], value)) {
         return true;
      }
   }
   for (size_t i = 0; i < node->in_regex_count; i++) {
      if (match_regex_matches_value(node->in_regexes[i], value)) {
         return true;
      }
   }
   return false;
}

static bool type_matches(uint64_t mask, bson_type_t type)
{
   if (type == BSON_TYPE_EOD) {
      return false;
   }
   if ((mask & 1u) && duet_type_is_number(type)) {
      return true;
   }
   int bit = type == BSON_TYPE_MINKEY ? 20 : type == BSON_TYPE_MAXKEY ? 21 : (int)type;
   return bit < 64 && (mask & ((uint64_t)1 << bit));
}

static bool mod_matches(const match_node_t *node, const bson_value_t *value)
{
   int64_t number;
   switch (value->value_type) {
   case BSON_TYPE_INT32: number = value->value.v_int32; break;
   case BSON_TYPE_INT64: number = value->value.v_int64; break;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (isnan(d) || isinf(d)) {
         return false;
      }
      if (d >= 9223372036854775807.0) {
         number = INT64_MAX;
      } else if (d <= -9223372036854775808.0) {
         number = INT64_MIN;
      } else {
         number = (int64_t)d;
      }
      break;
   }
   case BSON_TYPE_DECIMAL128:
      if (!duet_decimal_to_int64(value->value.v_decimal128, &number)) {
         return false;
      }
      break;
   default: return false;
   }
   int64_t remainder = node->divisor == -1 ? 0 : number % node->divisor;
   return remainder == node->remainder;
}

static bool elem_match_matches(const match_node_t *node, const bson_value_t *value, match_context_t *context,
                               elem_index_t *elem)
{
   if (value->value_type != BSON_TYPE_ARRAY) {
      return false;
   }
   bson_t elements;
   value_document(value, &elements);
   bson_iter_t it;
   bson_iter_init(&it, &elements);
   for (int64_t k = 0; bson_iter_next(&it); k++) {
      const bson_value_t *element = bson_iter_value(&it);
      bool matched;
      if (node->kind == MATCH_ELEM_OBJECT) {
         bson_t sub;
         if (!value_document(element, &sub)) {
            continue;
         }
         matched = match_node_matches_doc(node->children[0], &sub, context, NULL);
      } else {
         matched = true;
         for (size_t i = 0; i < node->child_count && matched; i++) {
            matched = matches_single(node->children[i], element, context, NULL);
         }
      }
      if (matched) {
         if (elem) {
            elem->index = k;
         }
         return true;
      }
   }
   return false;
}

static bool matches_single(const match_node_t *node, const bson_value_t *value, match_context_t *context,
                           elem_index_t *elem)
{
   switch (node->kind) {
   case MATCH_AND:
      for (size_t i = 0; i < node->child_count; i++) {
         if (!matches_single(node->children[i], value, context, elem)) {
            return false;
         }
      }
      return true;
   case MATCH_OR:
      for (size_t i = 0; i < node->child_count; i++) {
         if (matches_single(node->children[i], value, context, elem)) {
            return true;
         }
      }
      return false;
   case MATCH_NOR:
      for (size_t i = 0; i < node->child_count; i++) {
         if (matches_single(node->children[i], value, context, NULL)) {
            return false;
         }
      }
      return true;
   case MATCH_NOT: return !matches_single(node->children[0], value, context, NULL);
   case MATCH_ALWAYS_FALSE: return false;
   case MATCH_EQ:
   case MATCH_LT:
   case MATCH_LTE:
   case MATCH_GT:
   case MATCH_GTE: return match_compare_matches(node->kind, &node->value, value);
   case MATCH_IN: return in_matches(node, value);
   case MATCH_REGEX: return match_regex_matches_value(node->regex, value);
   case MATCH_EXISTS: return value->value_type != BSON_TYPE_EOD;
   case MATCH_TYPE: return type_matches(node->type_mask, value->value_type);
   case MATCH_SIZE:
      if (value->value_type != BSON_TYPE_ARRAY) {
         return false;
      } else {
         bson_t elements;
         value_document(value, &elements);
         return (int64_t)bson_count_keys(&elements) == node->size;
      }
   case MATCH_MOD: return mod_matches(node, value);
   case MATCH_ELEM_OBJECT:
   case MATCH_ELEM_VALUE: return elem_match_matches(node, value, context, elem);
   case MATCH_EXPR:
   case MATCH_JSON_SCHEMA: return false; /* top-level only; never reached through a path */
   }
   return false;
}

bool match_node_matches_single(const match_node_t *node, const bson_value_t *value, match_context_t *context)
{
   return matches_single(node, value, context, NULL);
}

/* ---- document-level evaluation ---------------------------------------------------------------------- */

typedef struct leaf_visit {
   const match_node_t *node;
   match_context_t *context;
   int64_t matched_index; /* -1 when the match went through no array */
} leaf_visit_t;

static bool leaf_visit(const bson_value_t *value, int64_t array_index, void *data)
{
   leaf_visit_t *visit = data;
   elem_index_t elem = {-1};
   if (!matches_single(visit->node, value, visit->context, &elem)) {
      return false;
   }
   visit->matched_index = array_index >= 0 ? array_index : elem.index;
   return true;
}

static bool leaf_matches_doc(const match_node_t *node, const bson_t *doc, match_context_t *context,
                             duet_match_details_t *details)
{
   bool expand = node->kind != MATCH_SIZE && node->kind != MATCH_ELEM_OBJECT && node->kind != MATCH_ELEM_VALUE;
   leaf_visit_t visit = {node, context, -1};
   if (!match_path_visit(doc, node->path, expand, leaf_visit, &visit)) {
      return false;
   }
   if (details && visit.matched_index >= 0) {
      details->has_array_index = true;
      details->array_index = (uint32_t)visit.matched_index;
   }
   return true;
}

static bool expr_matches(const match_node_t *node, const bson_t *doc, match_context_t *context)
{
   if (context->failed) {
      return false;
   }
   bson_value_t result;
   if (!duet_expr_evaluate(node->expr, doc, context->env, &result, context->error)) {
      context->failed = true;
      return false;
   }
   bool truthy = duet_expr_value_truthy(&result);
   bson_value_destroy(&result);
   return truthy;
}

bool match_node_matches_doc(const match_node_t *node, const bson_t *doc, match_context_t *context,
                            duet_match_details_t *details)
{
   switch (node->kind) {
   case MATCH_AND:
      for (size_t i = 0; i < node->child_count; i++) {
         if (!match_node_matches_doc(node->children[i], doc, context, details)) {
            return false;
         }
      }
      return true;
   case MATCH_OR:
      for (size_t i = 0; i < node->child_count; i++) {
         if (match_node_matches_doc(node->children[i], doc, context, details)) {
            return true;
         }
      }
      return false;
   case MATCH_NOR:
      for (size_t i = 0; i < node->child_count; i++) {
         if (match_node_matches_doc(node->children[i], doc, context, NULL)) {
            return false;
         }
      }
      return true;
   case MATCH_NOT: return !match_node_matches_doc(node->children[0], doc, context, NULL);
   case MATCH_ALWAYS_FALSE: return false;
   case MATCH_EXPR: return expr_matches(node, doc, context);
   case MATCH_JSON_SCHEMA: return duet_jsonschema_matches(node->schema, doc);
   default: return leaf_matches_doc(node, doc, context, details);
   }
}
