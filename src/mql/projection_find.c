/*
 * projection_find.c — find() projections (include/duet/mql_projection.h):
 * parsing into a tree of path components with MongoDB's errors
 * (projection_parser.cpp), and applying it to documents in inclusion or
 * exclusion mode with $slice, $elemMatch, positional `$` and computed fields.
 */
#include <duet/doc.h>
#include <duet/mql_match.h>
#include <duet/mql_projection.h>

#include <stdio.h>
#include <string.h>

typedef enum proj_kind {
   PROJ_INTERNAL,   /* a path component with children */
   PROJ_INCLUDE,    /* field: 1 */
   PROJ_EXCLUDE,    /* field: 0 */
   PROJ_SLICE,      /* field: {$slice: n | [skip, limit]} */
   PROJ_ELEM_MATCH, /* field: {$elemMatch: {...}} (top level only) */
   PROJ_POSITIONAL, /* "field.$": 1 */
   PROJ_EXPR,       /* field: <expression or literal> */
} proj_kind_t;

typedef struct proj_node {
   proj_kind_t kind;
   char *name;                  /* owned path component ("" for the root) */
   struct proj_node **children; /* owned; PROJ_INTERNAL */
   size_t child_count;
   bool has_skip;            /* PROJ_SLICE: [skip, limit] form */
   int32_t skip, limit;      /* PROJ_SLICE: limit alone may be negative (from the end) */
   duet_match_t *elem_match; /* PROJ_ELEM_MATCH: owned matcher of {name: {$elemMatch: ...}} */
   duet_expr_t *expr;        /* PROJ_EXPR: owned */
} proj_node_t;

struct duet_projection {
   proj_node_t *root;   /* owned */
   bool inclusion;      /* projection type */
   duet_match_t *query; /* owned; the find filter, for the positional operator (or NULL) */
};

/* ---- tree ---------------------------------------------------------------------------------- */

static proj_node_t *node_new(proj_kind_t kind, const char *name, size_t length)
{
   proj_node_t *node = bson_malloc0(sizeof *node);
   node->kind = kind;
   node->name = bson_strndup(name, length);
   return node;
}

static void node_destroy(proj_node_t *node)
{
   if (!node) {
      return;
   }
   for (size_t i = 0; i < node->child_count; i++) {
      node_destroy(node->children[i]);
   }
   bson_free(node->children);
   duet_match_destroy(node->elem_match);
   duet_expr_destroy(node->expr);
   bson_free(node->name);
   bson_free(node);
}

static proj_node_t *node_child(const proj_node_t *node, const char *name, size_t length)
{
   for (size_t i = 0; i < node->child_count; i++) {
      if (strlen(node->children[i]->name) == length && memcmp(node->children[i]->name, name, length) == 0) {
         return node->children[i];
      }
   }
   return NULL;
}

static void node_add(proj_node_t *parent, proj_node_t *child)
{
   parent->children = bson_realloc(parent->children, (parent->child_count + 1) * sizeof *parent->children);
   parent->children[parent->child_count++] = child;
}

/* MongoDB's FieldPath checks. */
static bool validate_path(const char *path, duet_error_t *error)
{
   size_t length = strlen(path);
   if (length == 0) {
      duet_error_set(error, 40352, "FieldPath cannot be constructed with empty string");
      return false;
   }
   if (path[length - 1] == '.') {
      duet_error_set(error, 40353, "FieldPath must not end with a '.'.");
      return false;
   }
   const char *component = path;
   for (;;) {
      const char *dot = strchr(component, '.');
      size_t component_length = dot ? (size_t)(dot - component) : strlen(component);
      if (component_length == 0) {
         duet_error_set(error, 15998, "FieldPath field names may not be empty strings.");
         return false;
      }
      if (component[0] == '$') {
         duet_error_set(error, 16410,
                        "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
         return false;
      }
      if (!dot) {
         return true;
      }
      component = dot + 1;
   }
}

/* addNodeAtPath: takes ownership of `leaf` (its name is replaced by the last component). */
static bool add_at_path(proj_node_t *root, const char *path, proj_node_t *leaf, duet_error_t *error)
{
   if (!validate_path(path, error)) {
      node_destroy(leaf);
      return false;
   }
   const char *tail = strchr(path, '.');
   proj_node_t *node = root;
   const char *component = path;
   for (;;) {
      const char *dot = strchr(component, '.');
      size_t length = dot ? (size_t)(dot - component) : strlen(component);
      proj_node_t *child = node_child(node, component, length);
      if (!dot) {
         if (child) {
            duet_error_set(error, 31250, "Path collision at %s", path);
            node_destroy(leaf);
            return false;
         }
         bson_free(leaf->name);
         leaf->name = bson_strndup(component, length);
         node_add(node, leaf);
         return true;
      }
      if (!child) {
         child = node_new(PROJ_INTERNAL, component, length);
         node_add(node, child);
      } else if (child->kind != PROJ_INTERNAL) {
         duet_error_set(error, 31249, "Path collision at %s remaining portion %s", path, tail ? tail + 1 : "");
         node_destroy(leaf);
         return false;
      }
      node = child;
      component = dot + 1;
   }
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static bool iter_is_number(const bson_iter_t *it)
{
   return BSON_ITER_HOLDS_NUMBER(it) || BSON_ITER_HOLDS_DECIMAL128(it);
}

static bool value_is_true(const bson_iter_t *it)
{
   return bson_iter_as_bool(it);
}

static bool query_mentions(const bson_t *query, const char *field, size_t length)
{
   /* hasPositionalOperatorMatch: some predicate's path starts with `field` (through $and/$or/$nor) */
   bson_iter_t it;
   if (!query || !bson_iter_init(&it, query)) {
      return false;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (key[0] == '$') {
         if (BSON_ITER_HOLDS_ARRAY(&it) &&
             (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 || strcmp(key, "$nor") == 0)) {
            uint32_t array_length;
            const uint8_t *data;
            bson_iter_array(&it, &array_length, &data);
            bson_t array;
            if (!bson_init_static(&array, data, array_length)) {
               bson_init(&array); /* malformed nested BSON reads as empty */
            }
            bson_iter_t clause;
            bson_iter_init(&clause, &array);
            while (bson_iter_next(&clause)) {
               if (BSON_ITER_HOLDS_DOCUMENT(&clause)) {
                  uint32_t clause_length;
                  const uint8_t *clause_data;
                  bson_iter_document(&clause, &clause_length, &clause_data);
                  bson_t sub;
                  if (!bson_init_static(&sub, clause_data, clause_length)) {
                     bson_init(&sub); /* malformed nested BSON reads as empty */
                  }
                  if (query_mentions(&sub, field, length)) {
                     return true;
                  }
               }
            }
         }
         continue;
      }
      const char *dot = strchr(key, '.');
      size_t prefix = dot ? (size_t)(dot - key) : strlen(key);
      if (prefix == length && memcmp(key, field, length) == 0) {
         return true;
      }
   }
   return false;
}

static bool parse_slice(const char *path, const bson_iter_t *operand, proj_node_t **out, duet_error_t *error)
{
   proj_node_t *node = node_new(PROJ_SLICE, "", 0);
   if (BSON_ITER_HOLDS_NUMBER(operand) || BSON_ITER_HOLDS_DECIMAL128(operand)) {
      double d = BSON_ITER_HOLDS_DECIMAL128(operand) ? 0 : bson_iter_as_double(operand);
      node->limit = d >= INT32_MAX ? INT32_MAX : d <= INT32_MIN ? INT32_MIN : (int32_t)d;
   } else if (BSON_ITER_HOLDS_ARRAY(operand)) {
      uint32_t length;
      const uint8_t *data;
      bson_iter_array(operand, &length, &data);
      bson_t array;
      if (!bson_init_static(&array, data, length)) {
         bson_init(&array); /* malformed nested BSON reads as empty */
      }
      if (bson_count_keys(&array) != 2) {
         duet_error_set(error, 31272, "$slice array argument should be of form [skip, limit]");
         node_destroy(node);
         return false;
      }
      bson_iter_t it;
      bson_iter_init(&it, &array);
      bson_iter_next(&it);
      if (!BSON_ITER_HOLDS_NUMBER(&it)) {
         duet_error_set(error, 31257, "$slice expects the skip argument to be a number, got %s",
                        bson_iter_type(&it) == BSON_TYPE_UTF8 ? "string" : "non-number");
         node_destroy(node);
         return false;
      }
      node->skip = (int32_t)bson_iter_as_int64(&it);
      bson_iter_next(&it);
      if (!BSON_ITER_HOLDS_NUMBER(&it)) {
         duet_error_set(error, 31258, "$slice expects the limit argument to be a number, got %s",
                        bson_iter_type(&it) == BSON_TYPE_UTF8 ? "string" : "non-number");
         node_destroy(node);
         return false;
      }
      node->limit = (int32_t)bson_iter_as_int64(&it);
      if (node->limit <= 0) {
         duet_error_set(error, 31259, "$slice limit must be positive, got %d", node->limit);
         node_destroy(node);
         return false;
      }
      node->has_skip = true;
   } else {
      duet_error_set(error, 31273, "$slice only supports numbers and [skip, limit] arrays");
      node_destroy(node);
      return false;
   }
   (void)path;
   *out = node;
   return true;
}

typedef enum { TYPE_UNSET, TYPE_INCLUSION, TYPE_EXCLUSION } proj_type_t;

static bool parse_element(duet_projection_t *projection, const bson_iter_t *elem, const bson_t *query,
                          proj_type_t *type, bool *has_positional, bool *has_elem_match, bool *has_slice,
                          duet_error_t *error)
{
   const char *key = bson_iter_key(elem);
   size_t key_length = strlen(key);
   bool positional = strstr(key, ".$.") != NULL || (key_length >= 2 && strcmp(key + key_length - 2, ".$") == 0) ||
                     strcmp(key, "$") == 0;
   if (BSON_ITER_HOLDS_DOCUMENT(elem)) {
      if (positional) {
         duet_error_set(error, 31271, "positional projection cannot be used with an expression");
         return false;
      }
      uint32_t length;
      const uint8_t *data;
      bson_iter_document(elem, &length, &data);
      bson_t sub;
      if (!bson_init_static(&sub, data, length)) {
         bson_init(&sub); /* malformed nested BSON reads as empty */
      }
      bson_iter_t first;
      const char *first_key = bson_iter_init(&first, &sub) && bson_iter_next(&first) ? bson_iter_key(&first) : "";
      if (strcmp(first_key, "$slice") == 0) {
         proj_node_t *node;
         if (!parse_slice(key, &first, &node, error)) {
            return false;
         }
         *has_slice = true;
         return add_at_path(projection->root, key, node, error);
      }
      if (strcmp(first_key, "$elemMatch") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&first)) {
            duet_error_set(error, 31274, "elemMatch: Invalid argument, object required, but got %s",
                           bson_iter_type(&first) == BSON_TYPE_ARRAY ? "array" : "a non-object");
            return false;
         }
         if (*has_positional) {
            duet_error_set(error, 31255, "Cannot specify positional operator and $elemMatch.");
            return false;
         }
         if (strchr(key, '.')) {
            duet_error_set(error, 31275, "Cannot use $elemMatch projection on a nested field.");
            return false;
         }
         bson_t wrapped = BSON_INITIALIZER;
         bson_append_iter(&wrapped, key, -1, elem);
         proj_node_t *node = node_new(PROJ_ELEM_MATCH, "", 0);
         bool ok = duet_match_parse(&wrapped, DUET_MATCH_FEATURES_NONE, &node->elem_match, error);
         bson_destroy(&wrapped);
         if (!ok) {
            node_destroy(node);
            return false;
         }
         *has_elem_match = true;
         return add_at_path(projection->root, key, node, error);
      }
      bool is_meta = strcmp(first_key, "$meta") == 0;
      if (is_meta) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "$meta projections are not supported by duet");
         return false;
      }
      if (*type == TYPE_EXCLUSION) {
         duet_error_set(error, 31252, "Cannot use expression other than $meta in exclusion projection");
         return false;
      }
      *type = TYPE_INCLUSION;
      proj_node_t *node = node_new(PROJ_EXPR, "", 0);
      if (!duet_expr_parse(bson_iter_value((bson_iter_t *)elem), NULL, &node->expr, error)) {
         node_destroy(node);
         return false;
      }
      return add_at_path(projection->root, key, node, error);
   }
   bool flag = BSON_ITER_HOLDS_BOOL(elem) || iter_is_number(elem);
   if (!flag) {
      /* 4.4+: any other literal (string, array, null, ...) is an expression */
      if (positional) {
         duet_error_set(error, 31271, "positional projection cannot be used with an expression");
         return false;
      }
      if (*type == TYPE_EXCLUSION) {
         duet_error_set(error, 31252, "Cannot use expression other than $meta in exclusion projection");
         return false;
      }
      *type = TYPE_INCLUSION;
      proj_node_t *node = node_new(PROJ_EXPR, "", 0);
      if (!duet_expr_parse(bson_iter_value((bson_iter_t *)elem), NULL, &node->expr, error)) {
         node_destroy(node);
         return false;
      }
      return add_at_path(projection->root, key, node, error);
   }
   bool truthy = value_is_true(elem);
   if (BSON_ITER_HOLDS_DECIMAL128(elem)) {
      bson_decimal128_t d;
      bson_iter_decimal128(elem, &d);
      truthy = !duet_decimal_is_zero(d);
   }
   if (truthy) {
      if (!positional) {
         if (!add_at_path(projection->root, key, node_new(PROJ_INCLUDE, "", 0), error)) {
            return false;
         }
      } else {
         if (*has_positional) {
            duet_error_set(error, 31276, "Cannot specify more than one positional projection per query.");
            return false;
         }
         if (*has_elem_match) {
            duet_error_set(error, 31256, "Cannot specify positional operator and $elemMatch.");
            return false;
         }
         const char *dot = strchr(key, '.');
         size_t match_field = dot ? (size_t)(dot - key) : key_length;
         if (!query_mentions(query, key, match_field)) {
            duet_error_set(error, 31277, "Positional projection '%s' does not match the query document.", key);
            return false;
         }
         if (key_length >= 3 && strcmp(key + key_length - 3, ".$.") == 0) {
            duet_error_set(error, 31270, "Path cannot end with '.$.'");
            return false;
         }
         const char *first = strstr(key, ".$.");
         size_t begin = first ? (size_t)(first - key) : key_length - 2;
         size_t end = first ? begin + 3 : key_length;
         const char *rest = key + end;
         if (strstr(rest, ".$.") || (strlen(rest) >= 2 && strcmp(rest + strlen(rest) - 2, ".$") == 0) ||
             strcmp(rest, "$") == 0) {
            duet_error_set(error, 31287, "Cannot use positional operator twice: %s", key);
            return false;
         }
         char *path = bson_strndup(key, begin);
         bool ok = add_at_path(projection->root, path, node_new(PROJ_POSITIONAL, "", 0), error);
         bson_free(path);
         if (!ok) {
            return false;
         }
         *has_positional = true;
      }
      if (*type == TYPE_EXCLUSION) {
         duet_error_set(error, 31253, "Cannot do inclusion on field %s in exclusion projection", key);
         return false;
      }
      *type = TYPE_INCLUSION;
      return true;
   }
   if (!add_at_path(projection->root, key, node_new(PROJ_EXCLUDE, "", 0), error)) {
      return false;
   }
   if (strcmp(key, "_id") != 0) {
      if (*type == TYPE_INCLUSION) {
         duet_error_set(error, 31254, "Cannot do exclusion on field %s in inclusion projection", key);
         return false;
      }
      *type = TYPE_EXCLUSION;
   }
   return true;
}

bool duet_projection_parse(const bson_t *spec, const bson_t *query, duet_projection_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_projection_t *projection = bson_malloc0(sizeof *projection);
   projection->root = node_new(PROJ_INTERNAL, "", 0);
   proj_type_t type = TYPE_UNSET;
   bool has_positional = false, has_elem_match = false, has_slice = false, id_specified = false;
   bson_iter_t it;
   bool ok = bson_iter_init(&it, spec);
   while (ok && bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      id_specified = id_specified || strcmp(key, "_id") == 0 || strncmp(key, "_id.", 4) == 0;
      ok = parse_element(projection, &it, query, &type, &has_positional, &has_elem_match, &has_slice, error);
   }
   if (ok && has_positional) {
      ok = duet_match_parse(query, DUET_MATCH_FEATURES_DEFAULT, &projection->query, error);
   }
   if (!ok) {
      duet_projection_destroy(projection);
      return false;
   }
   if (type == TYPE_UNSET) {
      type = has_slice ? TYPE_EXCLUSION : has_elem_match ? TYPE_INCLUSION : TYPE_EXCLUSION;
   }
   projection->inclusion = type == TYPE_INCLUSION;
   if (!id_specified && projection->inclusion) {
      add_at_path(projection->root, "_id", node_new(PROJ_INCLUDE, "", 0), error);
   }
   *out = projection;
   return true;
}

bool duet_projection_is_inclusion(const duet_projection_t *projection)
{
   return projection->inclusion;
}

void duet_projection_destroy(duet_projection_t *projection)
{
   if (!projection) {
      return;
   }
   node_destroy(projection->root);
   duet_match_destroy(projection->query);
   bson_free(projection);
}

/* ---- applying --------------------------------------------------------------------------------- */

typedef struct apply_state {
   const bson_t *root_doc;
   const duet_expr_env_t *env;
   duet_error_t *error;
   bool failed;
   bool has_positional_index;
   uint32_t positional_index;
} apply_state_t;

static void view_document(const bson_value_t *value, bson_t *out)
{
   if (!bson_init_static(out, value->value.v_doc.data, value->value.v_doc.data_len)) {
      bson_init(out); /* malformed nested BSON reads as empty */
   }
}

static void append_slice(bson_t *out, const char *key, const proj_node_t *node, const bson_value_t *value)
{
   if (value->value_type != BSON_TYPE_ARRAY) {
      bson_append_value(out, key, -1, value);
      return;
   }
   bson_t elements;
   view_document(value, &elements);
   int64_t count = (int64_t)bson_count_keys(&elements);
   int64_t start, stop;
   if (node->has_skip) {
      start = node->skip < 0 ? count + node->skip : node->skip;
      if (start < 0) {
         start = 0;
      }
      stop = start + node->limit;
   } else if (node->limit >= 0) {
      start = 0;
      stop = node->limit;
   } else {
      start = count + node->limit;
      if (start < 0) {
         start = 0;
      }
      stop = count;
   }
   bson_t array;
   bson_append_array_begin(out, key, -1, &array);
   bson_iter_t it;
   bson_iter_init(&it, &elements);
   uint32_t index = 0;
   for (int64_t i = 0; bson_iter_next(&it); i++) {
      if (i >= start && i < stop) {
         char buffer[16];
         const char *element_key;
         bson_uint32_to_string(index++, &element_key, buffer, sizeof buffer);
         bson_append_value(&array, element_key, -1, bson_iter_value(&it));
      }
   }
   bson_append_array_end(out, &array);
}

static bool subtree_has_expr(const proj_node_t *node)
{
   if (node->kind == PROJ_EXPR) {
      return true;
   }
   for (size_t i = 0; i < node->child_count; i++) {
      if (subtree_has_expr(node->children[i])) {
         return true;
      }
   }
   return false;
}

static void include_doc(const proj_node_t *node, const bson_t *doc, bool top, apply_state_t *state, bson_t *out);
static void exclude_doc(const proj_node_t *node, const bson_t *doc, apply_state_t *state, bson_t *out);

/* Appends the computed fields of `node` (and of internal children absent from `doc`). */
static void append_computed(const proj_node_t *node, const bson_t *doc, apply_state_t *state, bson_t *out)
{
   for (size_t i = 0; i < node->child_count && !state->failed; i++) {
      const proj_node_t *child = node->children[i];
      if (child->kind == PROJ_EXPR) {
         bson_value_t result;
         if (!duet_expr_evaluate(child->expr, state->root_doc, state->env, &result, state->error)) {
            state->failed = true;
            return;
         }
         if (result.value_type != BSON_TYPE_EOD) {
            bson_append_value(out, child->name, -1, &result);
         }
         bson_value_destroy(&result);
      } else if (child->kind == PROJ_INTERNAL && subtree_has_expr(child)) {
         bson_iter_t it;
         bool present = doc && bson_iter_init_find(&it, doc, child->name) &&
                        (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it));
         if (!present) {
            bson_t sub;
            bson_append_document_begin(out, child->name, -1, &sub);
            append_computed(child, NULL, state, &sub);
            bson_append_document_end(out, &sub);
         }
      }
   }
}

static void include_array(const proj_node_t *node, const bson_value_t *array, apply_state_t *state, bson_t *out,
                          const char *key)
{
   bson_t elements, result;
   view_document(array, &elements);
   bson_append_array_begin(out, key, -1, &result);
   bson_iter_t it;
   bson_iter_init(&it, &elements);
   uint32_t index = 0;
   while (bson_iter_next(&it)) {
      char buffer[16];
      const char *element_key;
      const bson_value_t *element = bson_iter_value(&it);
      if (element->value_type == BSON_TYPE_DOCUMENT) {
         bson_uint32_to_string(index++, &element_key, buffer, sizeof buffer);
         bson_t sub, projected;
         view_document(element, &sub);
         bson_append_document_begin(&result, element_key, -1, &projected);
         include_doc(node, &sub, false, state, &projected);
         bson_append_document_end(&result, &projected);
      } else if (element->value_type == BSON_TYPE_ARRAY) {
         bson_uint32_to_string(index++, &element_key, buffer, sizeof buffer);
         include_array(node, element, state, &result, element_key);
      }
   }
   bson_append_array_end(out, &result);
}

static void exclude_array(const proj_node_t *node, const bson_value_t *array, apply_state_t *state, bson_t *out,
                          const char *key)
{
   bson_t elements, result;
   view_document(array, &elements);
   bson_append_array_begin(out, key, -1, &result);
   bson_iter_t it;
   bson_iter_init(&it, &elements);
   while (bson_iter_next(&it)) {
      const bson_value_t *element = bson_iter_value(&it);
      const char *element_key = bson_iter_key(&it);
      if (element->value_type == BSON_TYPE_DOCUMENT) {
         bson_t sub, projected;
         view_document(element, &sub);
         bson_append_document_begin(&result, element_key, -1, &projected);
         exclude_doc(node, &sub, state, &projected);
         bson_append_document_end(&result, &projected);
      } else if (element->value_type == BSON_TYPE_ARRAY) {
         exclude_array(node, element, state, &result, element_key);
      } else {
         bson_append_value(&result, element_key, -1, element);
      }
   }
   bson_append_array_end(out, &result);
}

static void append_positional(const char *key, const bson_value_t *value, apply_state_t *state, bson_t *out)
{
   if (value->value_type != BSON_TYPE_ARRAY) {
      bson_append_value(out, key, -1, value);
      return;
   }
   if (!state->has_positional_index) {
      duet_error_set(state->error, 51246,
                     "Executor error during find command :: caused by :: positional operator '.$' couldn't find a "
                     "matching element in the array");
      state->failed = true;
      return;
   }
   bson_t elements;
   view_document(value, &elements);
   char buffer[16];
   const char *index_key;
   bson_uint32_to_string(state->positional_index, &index_key, buffer, sizeof buffer);
   bson_iter_t it;
   if (!bson_iter_init_find(&it, &elements, index_key)) {
      duet_error_set(state->error, 51246,
                     "Executor error during find command :: caused by :: positional operator '.$' element mismatch");
      state->failed = true;
      return;
   }
   bson_t array;
   bson_append_array_begin(out, key, -1, &array);
   bson_append_value(&array, "0", 1, bson_iter_value(&it));
   bson_append_array_end(out, &array);
}

static void append_elem_match(const proj_node_t *node, apply_state_t *state, bson_t *out)
{
   bool matched;
   duet_match_details_t details;
   if (!duet_match_matches(node->elem_match, state->root_doc, &matched, &details, state->error)) {
      state->failed = true;
      return;
   }
   if (!matched || !details.has_array_index) {
      return;
   }
   bson_iter_t it, element;
   if (!bson_iter_init_find(&it, state->root_doc, node->name) || !BSON_ITER_HOLDS_ARRAY(&it)) {
      return;
   }
   char buffer[16];
   const char *index_key;
   bson_uint32_to_string(details.array_index, &index_key, buffer, sizeof buffer);
   if (!bson_iter_recurse(&it, &element) || !bson_iter_find(&element, index_key)) {
      return;
   }
   bson_t array;
   bson_append_array_begin(out, node->name, -1, &array);
   bson_append_value(&array, "0", 1, bson_iter_value(&element));
   bson_append_array_end(out, &array);
}

static void include_doc(const proj_node_t *node, const bson_t *doc, bool top, apply_state_t *state, bson_t *out)
{
   bson_iter_t it;
   bson_iter_init(&it, doc);
   while (bson_iter_next(&it) && !state->failed) {
      const char *key = bson_iter_key(&it);
      const proj_node_t *child = node_child(node, key, bson_iter_key_len(&it));
      if (!child) {
         continue;
      }
      const bson_value_t *value = bson_iter_value(&it);
      switch (child->kind) {
      case PROJ_INCLUDE: bson_append_value(out, key, -1, value); break;
      case PROJ_SLICE: append_slice(out, key, child, value); break;
      case PROJ_POSITIONAL: append_positional(key, value, state, out); break;
      case PROJ_INTERNAL:
         if (value->value_type == BSON_TYPE_DOCUMENT) {
            bson_t sub, projected;
            view_document(value, &sub);
            bson_append_document_begin(out, key, -1, &projected);
            include_doc(child, &sub, false, state, &projected);
            bson_append_document_end(out, &projected);
         } else if (value->value_type == BSON_TYPE_ARRAY) {
            include_array(child, value, state, out, key);
         } else if (subtree_has_expr(child)) {
            bson_t projected;
            bson_append_document_begin(out, key, -1, &projected);
            append_computed(child, NULL, state, &projected);
            bson_append_document_end(out, &projected);
         }
         break;
      default: break; /* excluded _id, computed fields and $elemMatch come later */
      }
   }
   append_computed(node, doc, state, out);
   if (top) {
      for (size_t i = 0; i < node->child_count && !state->failed; i++) {
         if (node->children[i]->kind == PROJ_ELEM_MATCH) {
            append_elem_match(node->children[i], state, out);
         }
      }
   }
}

static void exclude_doc(const proj_node_t *node, const bson_t *doc, apply_state_t *state, bson_t *out)
{
   bson_iter_t it;
   bson_iter_init(&it, doc);
   while (bson_iter_next(&it) && !state->failed) {
      const char *key = bson_iter_key(&it);
      const proj_node_t *child = node_child(node, key, bson_iter_key_len(&it));
      const bson_value_t *value = bson_iter_value(&it);
      if (!child || child->kind == PROJ_INCLUDE) {
         bson_append_value(out, key, -1, value);
         continue;
      }
      switch (child->kind) {
      case PROJ_SLICE: append_slice(out, key, child, value); break;
      case PROJ_INTERNAL:
         if (value->value_type == BSON_TYPE_DOCUMENT) {
            bson_t sub, projected;
            view_document(value, &sub);
            bson_append_document_begin(out, key, -1, &projected);
            exclude_doc(child, &sub, state, &projected);
            bson_append_document_end(out, &projected);
         } else if (value->value_type == BSON_TYPE_ARRAY) {
            exclude_array(child, value, state, out, key);
         } else {
            bson_append_value(out, key, -1, value);
         }
         break;
      default: break; /* excluded, or $elemMatch (appended at the end) */
      }
   }
}

bool duet_projection_apply(const duet_projection_t *projection, const bson_t *doc, const duet_expr_env_t *env,
                           bson_t *out, duet_error_t *error)
{
   bson_init(out);
   apply_state_t state = {doc, env, error, false, false, 0};
   if (projection->query) {
      bool matched;
      duet_match_details_t details;
      if (!duet_match_matches_env(projection->query, doc, env, &matched, &details, error)) {
         return false;
      }
      state.has_positional_index = matched && details.has_array_index;
      state.positional_index = details.array_index;
   }
   if (projection->inclusion) {
      include_doc(projection->root, doc, true, &state, out);
   } else {
      exclude_doc(projection->root, doc, &state, out);
      for (size_t i = 0; i < projection->root->child_count && !state.failed; i++) {
         if (projection->root->children[i]->kind == PROJ_ELEM_MATCH) {
            append_elem_match(projection->root->children[i], &state, out);
         }
      }
   }
   if (state.failed) {
      bson_reinit(out);
      return false;
   }
   return true;
}
