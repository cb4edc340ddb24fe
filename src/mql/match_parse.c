/*
 * match_parse.c — turns a query filter document into a tree of match nodes,
 * following MongoDB's MatchExpressionParser (expression_parser.cpp): which
 * operators exist at the top level and under a field, how each operand is
 * checked, and the exact error codes and messages for malformed filters.
 */
#include "match_internal.h"

#include <duet/doc.h>

#include <math.h>
#include <string.h>

typedef struct parse_state {
   unsigned features;              /* DUET_MATCH_ALLOW_* */
   const duet_expr_scope_t *scope; /* variables visible to $expr; may be NULL */
} parse_state_t;

static bool parse_document(const parse_state_t *state, const bson_t *filter, bool sub_document, match_node_t **out,
                           duet_error_t *error);

/* ---- nodes ---------------------------------------------------------------------- */

match_node_t *match_node_new(match_kind_t kind, const char *path)
{
   match_node_t *node = bson_malloc0(sizeof *node);
   node->kind = kind;
   node->path = path ? bson_strdup(path) : NULL;
   return node;
}

void match_node_add_child(match_node_t *parent, match_node_t *child)
{
   parent->children = bson_realloc(parent->children, (parent->child_count + 1) * sizeof *parent->children);
   parent->children[parent->child_count++] = child;
}

void match_node_destroy(match_node_t *node)
{
   if (!node) {
      return;
   }
   for (size_t i = 0; i < node->child_count; i++) {
      match_node_destroy(node->children[i]);
   }
   bson_free(node->children);
   match_regex_destroy(node->regex);
   for (size_t i = 0; i < node->in_regex_count; i++) {
      match_regex_destroy(node->in_regexes[i]);
   }
   bson_free(node->in_regexes);
   bson_free(node->in_values);
   duet_expr_destroy(node->expr);
   duet_jsonschema_destroy(node->schema);
   bson_free(node->path);
   bson_free(node);
}

/* A node with its operand as written, for validation details. */
static match_node_t *leaf_new(match_kind_t kind, const char *path, const char *op_name, const bson_iter_t *operand)
{
   match_node_t *node = match_node_new(kind, path);
   node->op_name = op_name;
   if (operand) {
      node->value = *bson_iter_value((bson_iter_t *)operand);
      node->spec = node->value;
   }
   return node;
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool iter_document(const bson_iter_t *iter, bson_t *out)
{
   uint32_t length;
   const uint8_t *data;
   if (BSON_ITER_HOLDS_DOCUMENT(iter)) {
      bson_iter_document(iter, &length, &data);
   } else if (BSON_ITER_HOLDS_ARRAY(iter)) {
      bson_iter_array(iter, &length, &data);
   } else {
      return false;
   }
   if (!bson_init_static(out, data, length)) {
      bson_init(out); /* malformed nested BSON reads as empty */
   }
   return true;
}

/* MongoDB's isDBRefDocument: {$ref, $id} (or any of $ref/$id/$db when incomplete ones are allowed). */
static bool is_dbref_document(const bson_t *doc, bool allow_incomplete)
{
   bool has_ref = false, has_id = false, has_db = false;
   bson_iter_t it;
   bson_iter_init(&it, doc);
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      has_ref = has_ref || strcmp(key, "$ref") == 0;
      has_id = has_id || strcmp(key, "$id") == 0;
      has_db = has_db || strcmp(key, "$db") == 0;
   }
   return allow_incomplete ? (has_ref || has_id || has_db) : (has_ref && has_id);
}

/* MongoDB's isExpressionDocument: a non-empty object whose first key starts with '$'. */
static bool is_expression_document(const bson_iter_t *iter, bool allow_incomplete_dbref)
{
   if (!BSON_ITER_HOLDS_DOCUMENT(iter)) {
      return false;
   }
   bson_t doc;
   iter_document(iter, &doc);
   bson_iter_t it;
   if (!bson_iter_init(&it, &doc) || !bson_iter_next(&it)) {
      return false;
   }
   if (bson_iter_key(&it)[0] != '$') {
      return false;
   }
   return !is_dbref_document(&doc, allow_incomplete_dbref);
}

static bool is_pathless_operator(const char *name)
{
   static const char *const names[] = {"$and",     "$or",         "$nor",        "$expr",        "$where",      "$text",
                                       "$comment", "$jsonSchema", "$alwaysTrue", "$alwaysFalse", "$sampleRate", NULL};
   for (size_t i = 0; names[i]; i++) {
      if (strcmp(names[i], name) == 0) {
         return true;
      }
   }
   return false;
}

/* Operators accepted under a field (MongoDB's parsePathAcceptingKeyword). */
static bool is_path_accepting_keyword(const char *name)
{
   static const char *const names[] = {
       "$lt",        "$lte",           "$gt",         "$gte",          "$ne",         "$eq",           "$in",
       "$nin",       "$size",          "$exists",     "$type",         "$mod",        "$options",      "$regex",
       "$elemMatch", "$all",           "$not",        "$near",         "$nearSphere", "$geoNear",      "$within",
       "$geoWithin", "$geoIntersects", "$bitsAllSet", "$bitsAllClear", "$bitsAnySet", "$bitsAnyClear", NULL};
   for (size_t i = 0; names[i]; i++) {
      if (strcmp(names[i], name) == 0) {
         return true;
      }
   }
   return false;
}

static bool first_key_is_path_keyword(const bson_iter_t *iter)
{
   if (!BSON_ITER_HOLDS_DOCUMENT(iter)) {
      return false;
   }
   bson_t doc;
   iter_document(iter, &doc);
   bson_iter_t it;
   return bson_iter_init(&it, &doc) && bson_iter_next(&it) && is_path_accepting_keyword(bson_iter_key(&it));
}

/* ---- comparison leaves ----------------------------------------------------------------- */

static bool parse_comparison(const char *path, match_kind_t kind, const char *op_name, const bson_iter_t *operand,
                             match_node_t **out, duet_error_t *error)
{
   if (kind != MATCH_EQ && BSON_ITER_HOLDS_REGEX(operand)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "Can't have RegEx as arg to predicate over field '%s'.", path);
      return false;
   }
   if (bson_iter_type(operand) == BSON_TYPE_UNDEFINED) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot compare to undefined");
      return false;
   }
   *out = leaf_new(kind, path, op_name, operand);
   return true;
}

/* Fills an IN node from an array (shared by $in and $nin). */
static bool parse_in_array(match_node_t *node, const bson_iter_t *operand, duet_error_t *error)
{
   bson_t array;
   iter_document(operand, &array);
   uint32_t count = bson_count_keys(&array);
   node->in_values = bson_malloc0((count ? count : 1) * sizeof *node->in_values);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (is_expression_document(&it, false)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot nest $ under $in");
         return false;
      }
      if (BSON_ITER_HOLDS_REGEX(&it)) {
         const char *options;
         const char *pattern = bson_iter_regex(&it, &options);
         match_regex_t *regex;
         if (!match_regex_compile(pattern, options, &regex, error)) {
            return false;
         }
         node->in_regexes = bson_realloc(node->in_regexes, (node->in_regex_count + 1) * sizeof *node->in_regexes);
         node->in_regexes[node->in_regex_count++] = regex;
         continue;
      }
      if (bson_iter_type(&it) == BSON_TYPE_UNDEFINED) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "InMatchExpression equality cannot be undefined");
         return false;
      }
      if (BSON_ITER_HOLDS_NULL(&it)) {
         node->in_has_null = true;
      }
      node->in_values[node->in_count++] = *bson_iter_value(&it);
   }
   return true;
}

/* ---- $regex / $options ----------------------------------------------------------------- */

static bool parse_regex_document(const char *path, const bson_t *context, match_node_t **out, duet_error_t *error)
{
   const char *pattern = NULL;
   const char *options = "";
   bson_iter_t it;
   bson_iter_init(&it, context);
   const bson_iter_t *regex_iter = NULL;
   bson_iter_t saved;
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (strcmp(key, "$regex") == 0) {
         saved = it;
         regex_iter = &saved;
         if (BSON_ITER_HOLDS_UTF8(&it)) {
            pattern = bson_iter_utf8(&it, NULL);
            if (strlen(pattern) != bson_iter_value(&it)->value.v_utf8.len) {
               duet_error_set(error, 51109, "Regular expression cannot contain an embedded null byte");
               return false;
            }
         } else if (BSON_ITER_HOLDS_REGEX(&it)) {
            const char *flags;
            pattern = bson_iter_regex(&it, &flags);
            if (flags && flags[0]) {
               if (options[0]) {
                  duet_error_set(error, 51074, "options set in both $regex and $options");
                  return false;
               }
               options = flags;
            }
         } else {
            duet_error_set(error, DUET_ERR_BAD_VALUE, "$regex has to be a string");
            return false;
         }
      } else if (strcmp(key, "$options") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&it)) {
            duet_error_set(error, DUET_ERR_BAD_VALUE, "$options has to be a string");
            return false;
         }
         if (options[0]) {
            duet_error_set(error, 51075, "options set in both $regex and $options");
            return false;
         }
         options = bson_iter_utf8(&it, NULL);
      }
   }
   match_node_t *node = leaf_new(MATCH_REGEX, path, "$regex", regex_iter);
   if (!match_regex_compile(pattern ? pattern : "", options, &node->regex, error)) {
      match_node_destroy(node);
      return false;
   }
   *out = node;
   return true;
}

/* ---- $type -------------------------------------------------------------------------------- */

static int type_bit(bson_type_t type)
{
   switch ((int)type) {
   case BSON_TYPE_MINKEY: return 20;
   case BSON_TYPE_MAXKEY: return 21;
   default: return (int)type;
   }
}

static bool type_add(const char *path, const bson_iter_t *it, uint64_t *mask, duet_error_t *error)
{
   (void)path;
   if (BSON_ITER_HOLDS_UTF8(it)) {
      const char *name = bson_iter_utf8(it, NULL);
      if (strcmp(name, "number") == 0) {
         *mask |= 1u;
         return true;
      }
      bson_type_t type;
      if (!duet_type_from_name(name, &type)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Unknown type name alias: %s", name);
         return false;
      }
      *mask |= (uint64_t)1 << type_bit(type);
      return true;
   }
   if (BSON_ITER_HOLDS_NUMBER(it) || BSON_ITER_HOLDS_DECIMAL128(it)) {
      double d = BSON_ITER_HOLDS_DECIMAL128(it) ? 0.5 : bson_iter_as_double(it);
      if (BSON_ITER_HOLDS_DECIMAL128(it)) {
         int64_t as_int;
         bson_decimal128_t dec;
         bson_iter_decimal128(it, &dec);
         if (duet_decimal_to_int64(dec, &as_int) && duet_decimal_compare(dec, duet_decimal_from_int64(as_int)) == 0) {
            d = (double)as_int;
         }
      }
      if (isnan(d) || d != floor(d) || d < INT32_MIN || d > INT32_MAX) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Invalid numerical type code: %g", d);
         return false;
      }
      int code = (int)d;
      if (!((code >= 1 && code <= 19) || code == -1 || code == 127)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Invalid numerical type code: %d", code);
         return false;
      }
      *mask |= (uint64_t)1 << type_bit((bson_type_t)(code == -1 ? BSON_TYPE_MINKEY : code));
      return true;
   }
   duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "type must be represented as a number or a string");
   return false;
}

static bool parse_type(const char *path, const char *op_name, const bson_iter_t *operand, match_node_t **out,
                       duet_error_t *error)
{
   uint64_t mask = 0;
   if (BSON_ITER_HOLDS_ARRAY(operand)) {
      bson_t array;
      iter_document(operand, &array);
      bson_iter_t it;
      bson_iter_init(&it, &array);
      while (bson_iter_next(&it)) {
         if (!type_add(path, &it, &mask, error)) {
            return false;
         }
      }
      if (!mask) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "%s must match at least one type", path);
         return false;
      }
   } else if (!type_add(path, operand, &mask, error)) {
      return false;
   }
   *out = leaf_new(MATCH_TYPE, path, op_name, operand);
   (*out)->type_mask = mask;
   return true;
}

/* ---- $mod / $size ----------------------------------------------------------------------------- */

/* BSONElement::tryCoerce to long long: truncates doubles/decimals. */
static bool coerce_int64(const bson_iter_t *it, int64_t *out, const char *what, duet_error_t *error)
{
   if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
      *out = bson_iter_as_int64(it);
      return true;
   }
   double d;
   if (BSON_ITER_HOLDS_DECIMAL128(it)) {
      bson_decimal128_t dec;
      bson_iter_decimal128(it, &dec);
      if (duet_decimal_is_nan(dec) || duet_decimal_is_infinite(dec)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "malformed mod, %s value is invalid :: caused by :: Unable to coerce NaN/Inf to integral type",
                        what);
         return false;
      }
      if (!duet_decimal_to_int64(dec, out)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "malformed mod, %s value is invalid :: caused by :: Out of bounds coercing to integral value",
                        what);
         return false;
      }
      return true;
   }
   d = bson_iter_double(it);
   if (isnan(d) || isinf(d)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "malformed mod, %s value is invalid :: caused by :: Unable to coerce NaN/Inf to integral type",
                     what);
      return false;
   }
   d = trunc(d);
   if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "malformed mod, %s value is invalid :: caused by :: Out of bounds coercing to integral value",
                     what);
      return false;
   }
   *out = (int64_t)d;
   return true;
}

static bool parse_mod(const char *path, const bson_iter_t *operand, match_node_t **out, duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_ARRAY(operand)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "malformed mod, needs to be an array");
      return false;
   }
   bson_t array;
   iter_document(operand, &array);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   if (!bson_iter_next(&it)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "malformed mod, not enough elements");
      return false;
   }
   bson_iter_t divisor_it = it;
   if (!duet_type_is_number(bson_iter_type(&it))) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "malformed mod, divisor not a number");
      return false;
   }
   if (!bson_iter_next(&it)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "malformed mod, not enough elements");
      return false;
   }
   bson_iter_t remainder_it = it;
   if (!duet_type_is_number(bson_iter_type(&it))) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "malformed mod, remainder not a number");
      return false;
   }
   if (bson_iter_next(&it)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "malformed mod, too many elements");
      return false;
   }
   int64_t divisor, remainder;
   if (!coerce_int64(&divisor_it, &divisor, "divisor", error) ||
       !coerce_int64(&remainder_it, &remainder, "remainder", error)) {
      return false;
   }
   if (divisor == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "divisor cannot be 0");
      return false;
   }
   *out = leaf_new(MATCH_MOD, path, "$mod", operand);
   (*out)->divisor = divisor;
   (*out)->remainder = remainder;
   return true;
}

static bool parse_size(const char *path, const bson_iter_t *operand, match_node_t **out, duet_error_t *error)
{
   int64_t size;
   switch (bson_iter_type(operand)) {
   case BSON_TYPE_INT32: size = bson_iter_int32(operand); break;
   case BSON_TYPE_INT64:
      size = bson_iter_int64(operand);
      if (size != (int32_t)size) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$size must be representable as a 32-bit integer");
         return false;
      }
      break;
   case BSON_TYPE_DOUBLE: {
      double d = bson_iter_double(operand);
      if (!(d == floor(d) && d >= INT32_MIN && d <= INT32_MAX)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$size must be a whole number");
         return false;
      }
      size = (int64_t)d;
      break;
   }
   default: duet_error_set(error, DUET_ERR_BAD_VALUE, "$size needs a number"); return false;
   }
   if (size < 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$size may not be negative");
      return false;
   }
   *out = leaf_new(MATCH_SIZE, path, "$size", operand);
   (*out)->size = size;
   return true;
}

/* ---- $elemMatch / $all / $not ------------------------------------------------------------------ */

static bool parse_sub(const parse_state_t *state, const char *path, const bson_t *sub, match_node_t *root,
                      bool sub_document, duet_error_t *error);

static bool parse_elem_match(const parse_state_t *state, const char *path, const bson_iter_t *operand,
                             match_node_t **out, duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$elemMatch needs an Object");
      return false;
   }
   bson_t obj;
   iter_document(operand, &obj);
   bool value_case = false;
   if (is_expression_document(operand, true)) {
      bson_iter_t first;
      bson_iter_init(&first, &obj);
      bson_iter_next(&first);
      value_case = !is_pathless_operator(bson_iter_key(&first));
   }
   if (value_case) {
      match_node_t *node = leaf_new(MATCH_ELEM_VALUE, path, "$elemMatch", operand);
      if (!parse_sub(state, "", &obj, node, true, error)) {
         match_node_destroy(node);
         return false;
      }
      *out = node;
      return true;
   }
   match_node_t *child;
   if (!parse_document(state, &obj, true, &child, error)) {
      return false;
   }
   match_node_t *node = leaf_new(MATCH_ELEM_OBJECT, path, "$elemMatch", operand);
   match_node_add_child(node, child);
   *out = node;
   return true;
}

static bool parse_all(const parse_state_t *state, const char *path, const bson_iter_t *operand, match_node_t **out,
                      duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_ARRAY(operand)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$all needs an array");
      return false;
   }
   bson_t array;
   iter_document(operand, &array);
   match_node_t *and_node = leaf_new(MATCH_AND, path, "$all", operand);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   bool elem_match_form = false;
   if (bson_iter_next(&it) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      bson_t first_doc;
      iter_document(&it, &first_doc);
      bson_iter_t first;
      elem_match_form = bson_iter_init(&first, &first_doc) && bson_iter_next(&first) &&
                        strcmp(bson_iter_key(&first), "$elemMatch") == 0;
   }
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      match_node_t *child = NULL;
      if (elem_match_form) {
         bson_t doc;
         bson_iter_t inner;
         if (!BSON_ITER_HOLDS_DOCUMENT(&it) || (iter_document(&it, &doc), !bson_iter_init(&inner, &doc)) ||
             !bson_iter_next(&inner) || strcmp(bson_iter_key(&inner), "$elemMatch") != 0) {
            duet_error_set(error, DUET_ERR_BAD_VALUE, "$all/$elemMatch has to be consistent");
            match_node_destroy(and_node);
            return false;
         }
         if (!parse_elem_match(state, path, &inner, &child, error)) {
            match_node_destroy(and_node);
            return false;
         }
      } else if (BSON_ITER_HOLDS_REGEX(&it)) {
         const char *options;
         const char *pattern = bson_iter_regex(&it, &options);
         child = leaf_new(MATCH_REGEX, path, "$regex", &it);
         if (!match_regex_compile(pattern, options, &child->regex, error)) {
            match_node_destroy(child);
            match_node_destroy(and_node);
            return false;
         }
      } else if (first_key_is_path_keyword(&it)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "no $ expressions in $all");
         match_node_destroy(and_node);
         return false;
      } else {
         child = leaf_new(MATCH_EQ, path, "$eq", &it);
      }
      match_node_add_child(and_node, child);
   }
   if (and_node->child_count == 0) {
      and_node->kind = MATCH_ALWAYS_FALSE;
   }
   *out = and_node;
   return true;
}

static bool parse_not(const parse_state_t *state, const char *path, const bson_iter_t *operand, bool sub_document,
                      match_node_t **out, duet_error_t *error)
{
   match_node_t *child;
   if (BSON_ITER_HOLDS_REGEX(operand)) {
      const char *options;
      const char *pattern = bson_iter_regex(operand, &options);
      child = leaf_new(MATCH_REGEX, path, "$regex", operand);
      if (!match_regex_compile(pattern, options, &child->regex, error)) {
         match_node_destroy(child);
         return false;
      }
   } else {
      if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$not needs a regex or a document");
         return false;
      }
      bson_t obj;
      iter_document(operand, &obj);
      if (bson_empty(&obj)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$not cannot be empty");
         return false;
      }
      child = leaf_new(MATCH_AND, NULL, "$and", NULL);
      if (!parse_sub(state, path, &obj, child, sub_document, error)) {
         match_node_destroy(child);
         return false;
      }
   }
   match_node_t *node = leaf_new(MATCH_NOT, path, "$not", operand);
   match_node_add_child(node, child);
   *out = node;
   return true;
}

/* ---- one operator under a field: {path: {<op>: operand}} --------------------------------------- */

static bool parse_sub_field(const parse_state_t *state, const bson_t *context, const char *path, const bson_iter_t *e,
                            bool sub_document, match_node_t **out, duet_error_t *error)
{
   const char *op = bson_iter_key(e);
   *out = NULL;
   static const struct {
      const char *name;
      match_kind_t kind;
   } comparisons[] = {
       {"$eq", MATCH_EQ}, {"$lt", MATCH_LT}, {"$lte", MATCH_LTE}, {"$gt", MATCH_GT}, {"$gte", MATCH_GTE}};
   for (size_t i = 0; i < sizeof comparisons / sizeof comparisons[0]; i++) {
      if (strcmp(op, comparisons[i].name) == 0) {
         return parse_comparison(path, comparisons[i].kind, comparisons[i].name, e, out, error);
      }
   }
   if (strcmp(op, "$not") == 0) {
      return parse_not(state, path, e, sub_document, out, error);
   }
   if (strcmp(op, "$ne") == 0) {
      if (BSON_ITER_HOLDS_REGEX(e)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Can't have regex as arg to $ne.");
         return false;
      }
      match_node_t *eq;
      if (!parse_comparison(path, MATCH_EQ, "$eq", e, &eq, error)) {
         return false;
      }
      *out = leaf_new(MATCH_NOT, path, "$ne", e);
      match_node_add_child(*out, eq);
      return true;
   }
   if (strcmp(op, "$in") == 0 || strcmp(op, "$nin") == 0) {
      bool negate = op[1] == 'n';
      if (!BSON_ITER_HOLDS_ARRAY(e)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "%s needs an array", op);
         return false;
      }
      match_node_t *in = leaf_new(MATCH_IN, path, "$in", e);
      if (!parse_in_array(in, e, error)) {
         match_node_destroy(in);
         return false;
      }
      if (!negate) {
         *out = in;
         return true;
      }
      *out = leaf_new(MATCH_NOT, path, "$nin", e);
      match_node_add_child(*out, in);
      return true;
   }
   if (strcmp(op, "$size") == 0) {
      return parse_size(path, e, out, error);
   }
   if (strcmp(op, "$exists") == 0) {
      match_node_t *exists = leaf_new(MATCH_EXISTS, path, "$exists", e);
      if (bson_iter_as_bool(e)) {
         *out = exists;
         return true;
      }
      *out = leaf_new(MATCH_NOT, path, "$exists", e);
      match_node_add_child(*out, exists);
      return true;
   }
   if (strcmp(op, "$type") == 0) {
      return parse_type(path, "$type", e, out, error);
   }
   if (strcmp(op, "$mod") == 0) {
      return parse_mod(path, e, out, error);
   }
   if (strcmp(op, "$options") == 0) {
      bson_iter_t it;
      bson_iter_init(&it, context);
      while (bson_iter_next(&it)) {
         if (strcmp(bson_iter_key(&it), "$regex") == 0) {
            return true; /* handled with $regex */
         }
      }
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$options needs a $regex");
      return false;
   }
   if (strcmp(op, "$regex") == 0) {
      return parse_regex_document(path, context, out, error);
   }
   if (strcmp(op, "$elemMatch") == 0) {
      return parse_elem_match(state, path, e, out, error);
   }
   if (strcmp(op, "$all") == 0) {
      return parse_all(state, path, e, out, error);
   }
   if (strcmp(op, "$where") == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$where cannot be applied to a field");
      return false;
   }
   if (is_path_accepting_keyword(op)) {
      /* geo and bit-test operators: MongoDB has them, duet does not (yet). */
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s is not supported by duet", op);
      return false;
   }
   duet_error_set(error, DUET_ERR_BAD_VALUE, "unknown operator: %s", op);
   return false;
}

static bool parse_sub(const parse_state_t *state, const char *path, const bson_t *sub, match_node_t *root,
                      bool sub_document, duet_error_t *error)
{
   bson_iter_t it;
   bson_iter_init(&it, sub);
   while (bson_iter_next(&it)) {
      match_node_t *node;
      if (!parse_sub_field(state, sub, path, &it, sub_document, &node, error)) {
         return false;
      }
      if (node) {
         match_node_add_child(root, node);
      }
   }
   return true;
}

/* ---- top level: {$and: [...]}, {path: value}, {path: {$op: ...}} --------------------------------- */

static bool parse_tree(const parse_state_t *state, const bson_iter_t *e, match_kind_t kind, bool sub_document,
                       match_node_t **out, duet_error_t *error)
{
   const char *name = bson_iter_key(e);
   if (!BSON_ITER_HOLDS_ARRAY(e)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s must be an array", name);
      return false;
   }
   bson_t array;
   iter_document(e, &array);
   if (bson_empty(&array)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$and/$or/$nor must be a nonempty array");
      return false;
   }
   match_node_t *node = leaf_new(kind, NULL, name, e);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$or/$and/$nor entries need to be full objects");
         match_node_destroy(node);
         return false;
      }
      bson_t sub;
      iter_document(&it, &sub);
      match_node_t *child;
      if (!parse_document(state, &sub, sub_document, &child, error)) {
         match_node_destroy(node);
         return false;
      }
      match_node_add_child(node, child);
   }
   *out = node;
   return true;
}

static bool parse_always(const bson_iter_t *e, match_kind_t kind, match_node_t **out, duet_error_t *error)
{
   const char *name = bson_iter_key(e);
   if (!duet_type_is_number(bson_iter_type(e))) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected a number in: %s", name);
      return false;
   }
   if (bson_iter_as_double(e) != 1.0) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "%s must be an integer value of 1", name);
      return false;
   }
   *out = leaf_new(kind, NULL, name, e);
   return true;
}

static bool parse_pathless(const parse_state_t *state, const bson_iter_t *e, bool sub_document, match_node_t **out,
                           duet_error_t *error)
{
   const char *name = bson_iter_key(e);
   *out = NULL;
   if (strcmp(name, "$and") == 0) {
      return parse_tree(state, e, MATCH_AND, sub_document, out, error);
   }
   if (strcmp(name, "$or") == 0) {
      return parse_tree(state, e, MATCH_OR, sub_document, out, error);
   }
   if (strcmp(name, "$nor") == 0) {
      return parse_tree(state, e, MATCH_NOR, sub_document, out, error);
   }
   if (strcmp(name, "$comment") == 0) {
      return true;
   }
   if (strcmp(name, "$alwaysTrue") == 0) {
      return parse_always(e, MATCH_AND, out, error);
   }
   if (strcmp(name, "$alwaysFalse") == 0) {
      return parse_always(e, MATCH_ALWAYS_FALSE, out, error);
   }
   if (strcmp(name, "$expr") == 0) {
      if (sub_document) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$expr can only be applied to the top-level document");
         return false;
      }
      if (!(state->features & DUET_MATCH_ALLOW_EXPR)) {
         duet_error_set(error, DUET_ERR_QUERY_FEATURE_NOT_ALLOWED, "$expr is not allowed in this context");
         return false;
      }
      match_node_t *node = leaf_new(MATCH_EXPR, NULL, "$expr", e);
      if (!duet_expr_parse_iter(e, state->scope, &node->expr, error)) {
         match_node_destroy(node);
         return false;
      }
      *out = node;
      return true;
   }
   if (strcmp(name, "$jsonSchema") == 0) {
      if (!(state->features & DUET_MATCH_ALLOW_JSON_SCHEMA)) {
         duet_error_set(error, DUET_ERR_QUERY_FEATURE_NOT_ALLOWED, "$jsonSchema is not allowed in this context");
         return false;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(e)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema must be an object");
         return false;
      }
      bson_t schema;
      iter_document(e, &schema);
      match_node_t *node = leaf_new(MATCH_JSON_SCHEMA, NULL, "$jsonSchema", e);
      if (!duet_jsonschema_parse(&schema, &node->schema, error)) {
         match_node_destroy(node);
         return false;
      }
      *out = node;
      return true;
   }
   if (strcmp(name, "$where") == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$where is not allowed in this context");
      return false;
   }
   if (strcmp(name, "$text") == 0) {
      duet_error_set(error, DUET_ERR_INDEX_NOT_FOUND, "text index required for $text query");
      return false;
   }
   if (strcmp(name, "$sampleRate") == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$sampleRate is not supported by duet");
      return false;
   }
   duet_error_set(error, DUET_ERR_BAD_VALUE,
                  "unknown top level operator: %s. If you have a field name that starts with a '$' symbol, consider "
                  "using $getField or $setField.",
                  name);
   return false;
}

static bool parse_document(const parse_state_t *state, const bson_t *filter, bool sub_document, match_node_t **out,
                           duet_error_t *error)
{
   *out = NULL;
   match_node_t *root = leaf_new(MATCH_AND, NULL, "$and", NULL);
   bson_iter_t it;
   if (!bson_iter_init(&it, filter)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "filter is not a valid BSON document");
      match_node_destroy(root);
      return false;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      match_node_t *node = NULL;
      bool ok;
      if (key[0] == '$') {
         ok = parse_pathless(state, &it, sub_document, &node, error);
      } else if (is_expression_document(&it, false)) {
         bson_t sub;
         iter_document(&it, &sub);
         ok = parse_sub(state, key, &sub, root, sub_document, error);
      } else if (BSON_ITER_HOLDS_REGEX(&it)) {
         const char *options;
         const char *pattern = bson_iter_regex(&it, &options);
         node = leaf_new(MATCH_REGEX, key, "$regex", &it);
         ok = match_regex_compile(pattern, options, &node->regex, error);
      } else {
         ok = parse_comparison(key, MATCH_EQ, "$eq", &it, &node, error);
      }
      if (node) {
         match_node_add_child(root, node);
      }
      if (!ok) {
         match_node_destroy(root);
         return false;
      }
   }
   if (root->child_count == 1) {
      match_node_t *only = root->children[0];
      root->child_count = 0;
      match_node_destroy(root);
      *out = only;
      return true;
   }
   *out = root;
   return true;
}

bool match_parse_document(const bson_t *filter, unsigned features, bool sub_document, match_node_t **out,
                          duet_error_t *error)
{
   parse_state_t state = {features, NULL};
   return parse_document(&state, filter, sub_document, out, error);
}

bool match_parse_with_scope(const bson_t *filter, unsigned features, const duet_expr_scope_t *scope, match_node_t **out,
                            duet_error_t *error)
{
   parse_state_t state = {features, scope};
   return parse_document(&state, filter, false, out, error);
}
