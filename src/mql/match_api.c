/*
 * match_api.c — the public face of the matcher (include/duet/mql_match.h):
 * parse/destroy, matching documents and single values, arrayFilters, and the
 * predicate inspection the store uses to pick an index.
 */
#include "match_internal.h"

#include <ctype.h>
#include <string.h>

bool duet_match_parse_with_scope(const bson_t *filter, unsigned features, const duet_expr_scope_t *scope,
                                 duet_match_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_match_t *match = bson_malloc0(sizeof *match);
   match->filter = bson_copy(filter);
   if (!match_parse_with_scope(match->filter, features, scope, &match->root, error)) {
      bson_destroy(match->filter);
      bson_free(match);
      return false;
   }
   *out = match;
   return true;
}

bool duet_match_parse(const bson_t *filter, unsigned features, duet_match_t **out, duet_error_t *error)
{
   return duet_match_parse_with_scope(filter, features, NULL, out, error);
}

void duet_match_destroy(duet_match_t *match)
{
   if (!match) {
      return;
   }
   match_node_destroy(match->root);
   bson_free(match->placeholder_owned);
   bson_destroy(match->filter);
   bson_free(match);
}

bool duet_match_matches_env(const duet_match_t *match, const bson_t *doc, const duet_expr_env_t *env, bool *matched,
                            duet_match_details_t *details, duet_error_t *error)
{
   match_context_t context = {env, error, false};
   if (details) {
      details->has_array_index = false;
      details->array_index = 0;
   }
   bool result = match_node_matches_doc(match->root, doc, &context, details);
   if (context.failed) {
      *matched = false;
      return false;
   }
   *matched = result;
   return true;
}

bool duet_match_matches(const duet_match_t *match, const bson_t *doc, bool *matched, duet_match_details_t *details,
                        duet_error_t *error)
{
   return duet_match_matches_env(match, doc, NULL, matched, details, error);
}

bool duet_match_matches_value(const duet_match_t *match, const char *field_name, const bson_value_t *value,
                              bool *matched, duet_error_t *error)
{
   bson_t wrapper = BSON_INITIALIZER;
   if (value->value_type != BSON_TYPE_EOD) {
      bson_append_value(&wrapper, field_name, -1, value);
   }
   bool ok = duet_match_matches(match, &wrapper, matched, NULL, error);
   bson_destroy(&wrapper);
   return ok;
}

/* ---- arrayFilters ------------------------------------------------------------------------------------ */

/* Collects the first path component of every path under `node` (MongoDB's
 * ExpressionWithPlaceholder::parseTopLevelFieldName). */
static bool placeholder_of(const match_node_t *node, const char **name, size_t *length, duet_error_t *error)
{
   if (node->kind == MATCH_EXPR || node->kind == MATCH_JSON_SCHEMA) {
      return true;
   }
   if (node->path) {
      const char *dot = strchr(node->path, '.');
      size_t this_length = dot ? (size_t)(dot - node->path) : strlen(node->path);
      if (!*name) {
         *name = node->path;
         *length = this_length;
      } else if (*length != this_length || memcmp(*name, node->path, this_length) != 0) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "Expected a single top-level field name, found '%.*s' and '%.*s'", (int)*length, *name,
                        (int)this_length, node->path);
         return false;
      }
      if (node->kind == MATCH_ELEM_OBJECT || node->kind == MATCH_ELEM_VALUE) {
         return true; /* children's paths are relative to the elements */
      }
   }
   for (size_t i = 0; i < node->child_count; i++) {
      if (!placeholder_of(node->children[i], name, length, error)) {
         return false;
      }
   }
   return true;
}

bool duet_match_parse_array_filter(const bson_t *filter, duet_match_t **out, const char **identifier,
                                   duet_error_t *error)
{
   *out = NULL;
   *identifier = NULL;
   duet_match_t *match;
   if (!duet_match_parse(filter, DUET_MATCH_FEATURES_NONE, &match, error)) {
      return false;
   }
   const char *name = NULL;
   size_t length = 0;
   if (!placeholder_of(match->root, &name, &length, error)) {
      duet_match_destroy(match);
      return false;
   }
   if (!name) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "Cannot use an expression without a top-level field name in arrayFilters");
      duet_match_destroy(match);
      return false;
   }
   bool valid = length > 0 && islower((unsigned char)name[0]);
   for (size_t i = 0; valid && i < length; i++) {
      valid = isalnum((unsigned char)name[i]) != 0;
   }
   if (!valid) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The top-level field name must be an alphanumeric string beginning with a lowercase letter, "
                     "found '%.*s'",
                     (int)length, name);
      duet_match_destroy(match);
      return false;
   }
   /* Keep the identifier as its own NUL-terminated string inside the matcher. */
   match->placeholder_owned = bson_strndup(name, length);
   match->placeholder = match->placeholder_owned;
   *identifier = match->placeholder;
   *out = match;
   return true;
}

/* ---- index predicates ---------------------------------------------------------------------------- */

static bool has_regex(const match_node_t *node)
{
   return node->in_regex_count > 0;
}

static size_t collect_predicates(const match_node_t *node, const char *path, duet_match_predicate_t *out,
                                 size_t capacity, size_t count)
{
   if (node->kind == MATCH_AND) {
      for (size_t i = 0; i < node->child_count; i++) {
         count = collect_predicates(node->children[i], path, out, capacity, count);
      }
      return count;
   }
   if (!node->path || strcmp(node->path, path) != 0) {
      return count;
   }
   duet_match_op_t op;
   switch (node->kind) {
   case MATCH_EQ: op = DUET_MATCH_OP_EQ; break;
   case MATCH_LT: op = DUET_MATCH_OP_LT; break;
   case MATCH_LTE: op = DUET_MATCH_OP_LTE; break;
   case MATCH_GT: op = DUET_MATCH_OP_GT; break;
   case MATCH_GTE: op = DUET_MATCH_OP_GTE; break;
   case MATCH_IN:
      if (has_regex(node)) {
         return count;
      }
      op = DUET_MATCH_OP_IN;
      break;
   default: return count;
   }
   if (count < capacity) {
      out[count].op = op;
      out[count].value = &node->value;
   }
   return count + 1;
}

size_t duet_match_path_predicates(const duet_match_t *match, const char *path, duet_match_predicate_t *out,
                                  size_t capacity)
{
   return collect_predicates(match->root, path, out, capacity, 0);
}

bool duet_match_id_equality(const duet_match_t *match, const bson_value_t **value)
{
   duet_match_predicate_t predicates[16];
   size_t count = duet_match_path_predicates(match, "_id", predicates, 16);
   for (size_t i = 0; i < count && i < 16; i++) {
      bson_type_t type = predicates[i].value->value_type;
      if (predicates[i].op == DUET_MATCH_OP_EQ && type != BSON_TYPE_ARRAY && type != BSON_TYPE_REGEX &&
          type != BSON_TYPE_NULL && type != BSON_TYPE_MINKEY && type != BSON_TYPE_MAXKEY) {
         *value = predicates[i].value;
         return true;
      }
   }
   *value = NULL;
   return false;
}
