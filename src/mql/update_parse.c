/*
 * update_parse.c — turns an update document into the parsed update tree
 * (MongoDB's UpdateDriver::parse + UpdateObjectNode::parseAndMerge): picks the
 * kind (modifiers / replacement / pipeline), validates each modifier and path,
 * merges all paths into one tree keyed by field name, and checks arrayFilters.
 */
#include "mql/update_private.h"

#include <duet/doc.h>

#include <string.h>

/* ---- the modifier table ---------------------------------------------------------- */

static const struct {
   const char *name;
   duet_uop_t op;
} modifier_table[] = {
    {"$set", DUET_UOP_SET},
    {"$unset", DUET_UOP_UNSET},
    {"$inc", DUET_UOP_INC},
    {"$mul", DUET_UOP_MUL},
    {"$rename", DUET_UOP_RENAME},
    {"$setOnInsert", DUET_UOP_SET_ON_INSERT},
    {"$min", DUET_UOP_MIN},
    {"$max", DUET_UOP_MAX},
    {"$currentDate", DUET_UOP_CURRENT_DATE},
    {"$push", DUET_UOP_PUSH},
    {"$addToSet", DUET_UOP_ADD_TO_SET},
    {"$pop", DUET_UOP_POP},
    {"$pull", DUET_UOP_PULL},
    {"$pullAll", DUET_UOP_PULL_ALL},
    {"$bit", DUET_UOP_BIT},
};

static bool lookup_modifier(const char *name, duet_uop_t *op, const char **static_name)
{
   for (size_t i = 0; i < sizeof modifier_table / sizeof modifier_table[0]; i++) {
      if (strcmp(modifier_table[i].name, name) == 0) {
         *op = modifier_table[i].op;
         *static_name = modifier_table[i].name;
         return true;
      }
   }
   return false;
}

/* ---- tree nodes ------------------------------------------------------------------- */

static duet_unode_t *unode_new(duet_unode_kind_t kind)
{
   duet_unode_t *node = bson_malloc0(sizeof *node);
   node->kind = kind;
   return node;
}

void duet_unode_free(duet_unode_t *node)
{
   if (!node) {
      return;
   }
   for (size_t i = 0; i < node->count; i++) {
      bson_free(node->children[i].name);
      duet_unode_free(node->children[i].node);
   }
   bson_free(node->children);
   duet_unode_free(node->positional);
   bson_free(node->path);
   bson_free(node->field);
   bson_free(node->values);
   bson_free(node->rename_from);
   bson_free(node->bit_ops);
   duet_match_destroy(node->pull_match);
   bson_free(node);
}

duet_unode_t *duet_unode_find(const duet_unode_t *node, const char *name)
{
   if (node->kind == DUET_UNODE_OBJECT && strcmp(name, "$") == 0) {
      return node->positional;
   }
   for (size_t i = 0; i < node->count; i++) {
      if (strcmp(node->children[i].name, name) == 0) {
         return node->children[i].node;
      }
   }
   return NULL;
}

/* Inserts keeping the children sorted bytewise by name (std::map order). */
static void unode_set_child(duet_unode_t *node, const char *name, duet_unode_t *child)
{
   if (node->kind == DUET_UNODE_OBJECT && strcmp(name, "$") == 0) {
      BSON_ASSERT(!node->positional);
      node->positional = child;
      return;
   }
   size_t at = 0;
   while (at < node->count && strcmp(node->children[at].name, name) < 0) {
      at++;
   }
   if (node->count == node->capacity) {
      node->capacity = node->capacity ? node->capacity * 2 : 4;
      node->children = bson_realloc(node->children, node->capacity * sizeof *node->children);
   }
   memmove(node->children + at + 1, node->children + at, (node->count - at) * sizeof *node->children);
   node->children[at].name = bson_strdup(name);
   node->children[at].node = child;
   node->count++;
}

/* ---- paths ------------------------------------------------------------------------ */

typedef struct parsed_path {
   char *copy;   /* owned buffer holding the parts */
   char **parts; /* owned array of pointers into copy */
   size_t count;
} parsed_path_t;

static void path_split(const char *dotted, parsed_path_t *path)
{
   path->copy = bson_strdup(dotted);
   size_t n = 1;
   for (const char *p = dotted; *p; p++) {
      n += *p == '.';
   }
   path->parts = bson_malloc(n * sizeof *path->parts);
   path->count = 0;
   char *start = path->copy;
   for (char *p = path->copy;; p++) {
      if (*p == '.' || *p == '\0') {
         bool end = *p == '\0';
         *p = '\0';
         path->parts[path->count++] = start;
         start = p + 1;
         if (end) {
            break;
         }
      }
   }
}

static void path_free(parsed_path_t *path)
{
   bson_free(path->copy);
   bson_free(path->parts);
}

static bool is_array_filter_part(const char *part)
{
   size_t n = strlen(part);
   return n >= 3 && part[0] == '$' && part[1] == '[' && part[n - 1] == ']';
}

/* "a.b.c" prefix of `count` parts of the original dotted path. */
static void path_prefix(const char *dotted, size_t count, bson_string_t *out)
{
   size_t seen = 0;
   const char *p = dotted;
   for (; *p; p++) {
      if (*p == '.') {
         if (++seen == count) {
            break;
         }
      }
   }
   char *prefix = bson_strndup(dotted, (size_t)(p - dotted));
   bson_string_append(out, prefix);
   bson_free(prefix);
}

static void set_conflict(duet_error_t *error, const char *dotted, size_t parts)
{
   bson_string_t *at = bson_string_new(NULL);
   path_prefix(dotted, parts, at);
   duet_error_set(error, DUET_ERR_CONFLICTING_UPDATE_OPERATORS,
                  "Updating the path '%s' would create a conflict at '%s'", dotted, at->str);
   bson_string_free(at, true);
}

static bool check_updatable(const char *dotted, const parsed_path_t *path, duet_error_t *error)
{
   if (dotted[0] == '\0') {
      duet_error_set(error, DUET_ERR_EMPTY_FIELD_NAME, "An empty update path is not valid.");
      return false;
   }
   for (size_t i = 0; i < path->count; i++) {
      if (path->parts[i][0] == '\0') {
         duet_error_set(error, DUET_ERR_EMPTY_FIELD_NAME,
                        "The update path '%s' contains an empty field name, which is not allowed.", dotted);
         return false;
      }
   }
   return true;
}

/* Resolves "$[id]" to its identifier, checking the filter exists. */
static bool array_filter_identifier(duet_update_t *update, const char *part, size_t position, const char *dotted,
                                    char **identifier, duet_error_t *error)
{
   if (position == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path "
                     "'%s'",
                     dotted);
      return false;
   }
   size_t n = strlen(part);
   char *id = bson_strndup(part + 2, n - 3);
   if (id[0]) {
      bool found = false;
      for (size_t i = 0; i < update->filter_count; i++) {
         if (strcmp(update->filters[i].identifier, id) == 0) {
            update->filters[i].used = true;
            found = true;
         }
      }
      if (!found) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "No array filter found for identifier '%s' in path '%s'", id,
                        dotted);
         bson_free(id);
         return false;
      }
   }
   *identifier = id;
   return true;
}

/* fieldchecker::isUpdatable plus the positional rules of parseAndMerge. */
static bool check_path(const char *dotted, const parsed_path_t *path, size_t *positional_count, duet_error_t *error)
{
   if (!check_updatable(dotted, path, error)) {
      return false;
   }
   size_t count = 0, first = 0;
   for (size_t i = 0; i < path->count; i++) {
      if (strcmp(path->parts[i], "$") == 0 && count++ == 0) {
         first = i;
      }
   }
   if (count > 1) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "Too many positional (i.e. '$') elements found in path '%s'", dotted);
      return false;
   }
   if (count == 1 && first == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "Cannot have positional (i.e. '$') element in the first position in path '%s'", dotted);
      return false;
   }
   *positional_count = count;
   return true;
}

/*
** Adds one modifier at `dotted` to the tree (UpdateObjectNode::parseAndMerge).
** `leaf` is owned by this function from the call on (freed on failure).
*/
static bool merge_leaf(duet_update_t *update, const char *dotted, duet_unode_t *leaf, duet_error_t *error)
{
   parsed_path_t path;
   path_split(dotted, &path);
   bool ok = false;
   char *child_name = NULL;

   size_t positional_count = 0;
   if (!check_path(dotted, &path, &positional_count, error)) {
      goto done;
   }
   duet_unode_t *current = update->root;
   for (size_t i = 0; i + 1 < path.count; i++) {
      if (is_array_filter_part(path.parts[i])) {
         if (!array_filter_identifier(update, path.parts[i], i, dotted, &child_name, error)) {
            goto done;
         }
      } else {
         child_name = bson_strdup(path.parts[i]);
      }
      duet_unode_kind_t want = is_array_filter_part(path.parts[i + 1]) ? DUET_UNODE_ARRAY : DUET_UNODE_OBJECT;
      duet_unode_t *child = duet_unode_find(current, child_name);
      if (child) {
         if (child->kind != want) {
            set_conflict(error, dotted, i + 1);
            goto done;
         }
      } else {
         child = unode_new(want);
         unode_set_child(current, child_name, child);
      }
      bson_free(child_name);
      child_name = NULL;
      current = child;
   }
   const char *last = path.parts[path.count - 1];
   if (is_array_filter_part(last)) {
      if (!array_filter_identifier(update, last, path.count - 1, dotted, &child_name, error)) {
         goto done;
      }
   } else {
      child_name = bson_strdup(last);
   }
   if (duet_unode_find(current, child_name)) {
      set_conflict(error, dotted, path.count);
      goto done;
   }
   unode_set_child(current, child_name, leaf);
   leaf = NULL;
   if (positional_count) {
      update->positional = true;
   }
   ok = true;
done:
   bson_free(child_name);
   duet_unode_free(leaf);
   path_free(&path);
   return ok;
}

static duet_unode_t *leaf_new(duet_uop_t op, const char *op_name, const char *path)
{
   duet_unode_t *leaf = unode_new(DUET_UNODE_LEAF);
   leaf->op = op;
   leaf->op_name = op_name;
   leaf->path = bson_strdup(path);
   return leaf;
}

static bool parse_modifier_field(duet_update_t *update, duet_uop_t op, const char *op_name, bson_iter_t *field,
                                 duet_error_t *error)
{
   const char *name = bson_iter_key(field);
   const bson_value_t *arg = bson_iter_value(field);

   if (op == DUET_UOP_RENAME) {
      /* a placeholder reserves the source path, the rename itself sits at the target */
      duet_unode_t *placeholder = leaf_new(DUET_UOP_PLACEHOLDER, op_name, name);
      if (!merge_leaf(update, name, placeholder, error)) {
         return false;
      }
      if (arg->value_type != BSON_TYPE_UTF8) {
         bson_string_t *text = bson_string_new(NULL);
         duet_update_format_element(text, name, arg);
         duet_error_set(error, DUET_ERR_BAD_VALUE, "The 'to' field for $rename must be a string: %s", text->str);
         bson_string_free(text, true);
         return false;
      }
      parsed_path_t to_path;
      path_split(arg->value.v_utf8.str, &to_path);
      size_t to_positional = 0;
      bool to_ok = check_path(arg->value.v_utf8.str, &to_path, &to_positional, error);
      path_free(&to_path);
      if (!to_ok) {
         return false;
      }
      duet_unode_t *rename = leaf_new(DUET_UOP_RENAME, op_name, arg->value.v_utf8.str);
      if (!duet_update_leaf_init(rename, name, arg, error)) {
         duet_unode_free(rename);
         return false;
      }
      return merge_leaf(update, arg->value.v_utf8.str, rename, error);
   }

   duet_unode_t *leaf = leaf_new(op, op_name, name);
   /* The path is checked before the argument in MongoDB only for emptiness;
    * argument errors come first otherwise (leaf->init precedes the merge). */
   parsed_path_t path;
   path_split(name, &path);
   size_t positional_count = 0;
   bool updatable = check_path(name, &path, &positional_count, error);
   path_free(&path);
   if (!updatable) {
      duet_unode_free(leaf);
      return false;
   }
   if (!duet_update_leaf_init(leaf, name, arg, error)) {
      duet_unode_free(leaf);
      return false;
   }
   return merge_leaf(update, name, leaf, error);
}

static bool parse_modifiers(duet_update_t *update, duet_error_t *error)
{
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init(&iter, update->spec));
   while (bson_iter_next(&iter)) {
      const char *name = bson_iter_key(&iter);
      duet_uop_t op;
      const char *op_name;
      if (!lookup_modifier(name, &op, &op_name)) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified "
                        "as an array",
                        name);
         return false;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_string_t *text = bson_string_new(NULL);
         duet_update_format_element(text, name, bson_iter_value(&iter));
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "Modifiers operate on fields but we found type %s instead. For example: {$mod: {<field>: "
                        "...}} not {%s}",
                        duet_type_name(bson_iter_type(&iter)), text->str);
         bson_string_free(text, true);
         return false;
      }
      bson_iter_t fields;
      BSON_ASSERT(bson_iter_recurse(&iter, &fields));
      while (bson_iter_next(&fields)) {
         if (!parse_modifier_field(update, op, op_name, &fields, error)) {
            return false;
         }
      }
   }
   for (size_t i = 0; i < update->filter_count; i++) {
      if (!update->filters[i].used) {
         bson_string_t *text = bson_string_new(NULL);
         bson_value_t whole;
         whole.value_type = BSON_TYPE_DOCUMENT;
         whole.value.v_doc.data = (uint8_t *)bson_get_data(update->spec);
         whole.value.v_doc.data_len = update->spec->len;
         duet_update_format_value(text, &whole);
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "The array filter for identifier '%s' was not used in the update %s",
                        update->filters[i].identifier, text->str);
         bson_string_free(text, true);
         return false;
      }
   }
   return true;
}

static bool parse_array_filters(duet_update_t *update, const duet_update_options_t *options, duet_error_t *error)
{
   if (!options || !options->array_filters) {
      return true;
   }
   bson_iter_t iter;
   if (!bson_iter_init(&iter, options->array_filters)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "arrayFilters is not a valid array");
      return false;
   }
   uint32_t n = bson_count_keys(options->array_filters);
   update->filters = bson_malloc0((n ? n : 1) * sizeof *update->filters);
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Each array filter must be an object, found %s",
                        duet_type_name(bson_iter_type(&iter)));
         return false;
      }
      uint32_t length;
      const uint8_t *data;
      bson_iter_document(&iter, &length, &data);
      bson_t filter;
      BSON_ASSERT(bson_init_static(&filter, data, length));
      duet_update_array_filter_t *entry = &update->filters[update->filter_count];
      if (!duet_match_parse_array_filter(&filter, &entry->match, &entry->identifier, error)) {
         return false;
      }
      update->filter_count++;
      for (size_t i = 0; i + 1 < update->filter_count; i++) {
         if (strcmp(update->filters[i].identifier, entry->identifier) == 0) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "Found multiple array filters with the same top-level field name %s", entry->identifier);
            return false;
         }
      }
   }
   return true;
}

/* Structural check of every nested document (bson_validate does not always recurse). */
static bool bson_deep_valid(const uint8_t *data, uint32_t length, int depth)
{
   bson_iter_t iter;
   if (depth > 200 || !bson_iter_init_from_data(&iter, data, length)) {
      return false;
   }
   while (bson_iter_next(&iter)) {
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) || BSON_ITER_HOLDS_ARRAY(&iter)) {
         uint32_t child_length;
         const uint8_t *child;
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_iter_document(&iter, &child_length, &child);
         } else {
            bson_iter_array(&iter, &child_length, &child);
         }
         if (!child || !bson_deep_valid(child, child_length, depth + 1)) {
            return false;
         }
      }
   }
   return iter.err_off == 0;
}

static bool check_bson(const bson_t *spec, duet_error_t *error)
{
   if (!bson_deep_valid(bson_get_data(spec), spec->len, 0)) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "update specification is not valid BSON");
      return false;
   }
   return true;
}

static duet_update_t *update_new(const bson_t *spec, const duet_update_options_t *options)
{
   duet_update_t *update = bson_malloc0(sizeof *update);
   update->spec = bson_copy(spec);
   update->now_ms = options ? options->now_ms : 0;
   return update;
}

bool duet_update_parse(const bson_t *spec, const duet_update_options_t *options, duet_update_t **out,
                       duet_error_t *error)
{
   *out = NULL;
   if (!check_bson(spec, error) || (options && options->array_filters && !check_bson(options->array_filters, error))) {
      return false;
   }
   duet_update_t *update = update_new(spec, options);
   bson_iter_t iter;
   bool modifiers = bson_iter_init(&iter, spec) && bson_iter_next(&iter) && bson_iter_key(&iter)[0] == '$';
   if (!modifiers) {
      update->kind = DUET_UPDATE_REPLACEMENT;
      if (options && options->array_filters && !bson_empty(options->array_filters)) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "arrayFilters may not be specified for replacement-style updates");
         duet_update_destroy(update);
         return false;
      }
      *out = update;
      return true;
   }
   update->kind = DUET_UPDATE_MODIFIERS;
   update->root = unode_new(DUET_UNODE_OBJECT);
   if (!parse_array_filters(update, options, error) || !parse_modifiers(update, error)) {
      duet_update_destroy(update);
      return false;
   }
   *out = update;
   return true;
}

bool duet_update_parse_pipeline(const bson_t *pipeline, const duet_update_options_t *options, duet_update_t **out,
                                duet_error_t *error)
{
   *out = NULL;
   if (options && options->array_filters && !bson_empty(options->array_filters)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "arrayFilters may not be specified for pipeline-style updates");
      return false;
   }
   if (!check_bson(pipeline, error)) {
      return false;
   }
   duet_update_t *update = update_new(pipeline, options);
   update->kind = DUET_UPDATE_PIPELINE;
   if (!duet_update_pipeline_compile(update, pipeline, options ? options->scope : NULL, error)) {
      duet_update_destroy(update);
      return false;
   }
   *out = update;
   return true;
}

bool duet_update_parse_value(const bson_value_t *u, const duet_update_options_t *options, duet_update_t **out,
                             duet_error_t *error)
{
   *out = NULL;
   if (u->value_type != BSON_TYPE_DOCUMENT && u->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Update argument must be either an object or an array");
      return false;
   }
   bson_t doc;
   if (!bson_init_static(&doc, u->value.v_doc.data, u->value.v_doc.data_len)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Update argument is not valid BSON");
      return false;
   }
   if (u->value_type == BSON_TYPE_ARRAY) {
      return duet_update_parse_pipeline(&doc, options, out, error);
   }
   return duet_update_parse(&doc, options, out, error);
}

void duet_update_destroy(duet_update_t *update)
{
   if (!update) {
      return;
   }
   duet_unode_free(update->root);
   for (size_t i = 0; i < update->filter_count; i++) {
      duet_match_destroy(update->filters[i].match);
   }
   bson_free(update->filters);
   duet_update_pipeline_free(update->pipeline);
   bson_destroy(update->spec);
   bson_free(update);
}

duet_update_kind_t duet_update_kind(const duet_update_t *update)
{
   return update->kind;
}

bool duet_update_uses_positional(const duet_update_t *update)
{
   return update->positional;
}
