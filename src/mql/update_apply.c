/*
 * update_apply.c — walks the parsed update tree over one document (MongoDB's
 * UpdateObjectNode/UpdateArrayNode::apply and UpdateDriver::update): object
 * levels in field-name order with the positional `$` merged in, `$[]` and
 * `$[<id>]` over array elements, path creation, and the final checks on the
 * new document (_id, '$'-prefixed top-level fields, nesting depth).
 */
#include "mql/update_private.h"

#include <duet/doc.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

/* MongoDB's pathsupport::kMaxPaddingAllowed */
#define UPDATE_MAX_PADDING 1500000
/* BSONObjMaxUserSize */
#define UPDATE_MAX_USER_SIZE (16 * 1024 * 1024)
/* BSONDepth::getMaxDepthForUserStorage() */
#define UPDATE_MAX_STORAGE_DEPTH 100

/* ---- owned path parts ------------------------------------------------------------ */

static void upath_push(duet_upath_t *path, const char *part)
{
   if (path->count == path->capacity) {
      path->capacity = path->capacity ? path->capacity * 2 : 8;
      path->parts = bson_realloc(path->parts, path->capacity * sizeof *path->parts);
   }
   path->parts[path->count++] = bson_strdup(part);
}

static void upath_pop(duet_upath_t *path)
{
   BSON_ASSERT(path->count > 0);
   bson_free(path->parts[--path->count]);
}

static void upath_clear(duet_upath_t *path)
{
   while (path->count) {
      upath_pop(path);
   }
}

static void upath_destroy(duet_upath_t *path)
{
   upath_clear(path);
   bson_free(path->parts);
   path->parts = NULL;
   path->capacity = 0;
}

void duet_upath_join(const duet_upath_t *path, bson_string_t *out)
{
   for (size_t i = 0; i < path->count; i++) {
      if (i) {
         bson_string_append_c(out, '.');
      }
      bson_string_append(out, path->parts[i]);
   }
}

/* "taken.create" as one dotted string (owned by the caller). */
static char *full_path(const duet_upath_t *taken, const duet_upath_t *create, const char *extra)
{
   bson_string_t *s = bson_string_new(NULL);
   duet_upath_join(taken, s);
   if (create && create->count) {
      if (taken->count) {
         bson_string_append_c(s, '.');
      }
      duet_upath_join(create, s);
   }
   if (extra) {
      if (s->len) {
         bson_string_append_c(s, '.');
      }
      bson_string_append(s, extra);
   }
   return bson_string_free(s, false);
}

/* ---- path creation ---------------------------------------------------------------- */

bool duet_update_create_path(duet_uapply_t *ctx, duet_uelem_t *element, const duet_upath_t *path_taken,
                             const duet_upath_t *path_to_create, duet_uelem_t *leaf_value, duet_uelem_t **created,
                             duet_error_t *error)
{
   (void)ctx;
   (void)path_taken;
   BSON_ASSERT(path_to_create->count > 0);
   size_t first = 0;
   duet_uelem_t *parent = element;
   if (element->type == BSON_TYPE_ARRAY) {
      size_t index;
      if (!duet_update_parse_index(path_to_create->parts[0], &index)) {
         goto not_viable;
      }
      if (index > element->count && index - element->count > UPDATE_MAX_PADDING) {
         duet_uelem_free(leaf_value);
         duet_error_set(error, DUET_ERR_CANNOT_BACKFILL_ARRAY, "can't backfill more than %d elements",
                        UPDATE_MAX_PADDING);
         return false;
      }
      while (element->count < index) {
         duet_uelem_push(element, duet_uelem_new_null(""));
      }
   } else if (element->type != BSON_TYPE_DOCUMENT) {
      goto not_viable;
   }
   duet_uelem_t *top = NULL;
   for (size_t i = first; i + 1 < path_to_create->count; i++) {
      duet_uelem_t *doc =
          duet_uelem_new_container(parent->type == BSON_TYPE_ARRAY ? "" : path_to_create->parts[i], BSON_TYPE_DOCUMENT);
      duet_uelem_push(parent, doc);
      if (!top) {
         top = doc;
      }
      parent = doc;
   }
   bson_free(leaf_value->name);
   leaf_value->name =
       bson_strdup(parent->type == BSON_TYPE_ARRAY ? "" : path_to_create->parts[path_to_create->count - 1]);
   duet_uelem_push(parent, leaf_value);
   if (!top) {
      top = leaf_value;
   }
   *created = top;
   return true;

not_viable : {
   bson_string_t *text = bson_string_new(NULL);
   duet_update_format_uelem(text, element);
   duet_error_set(error, DUET_ERR_PATH_NOT_VIABLE, "Cannot create field '%s' in element {%s}", path_to_create->parts[0],
                  text->str);
   bson_string_free(text, true);
   duet_uelem_free(leaf_value);
   return false;
}
}

/* ---- storage validation ------------------------------------------------------------ */

static bool check_depth(const duet_uelem_t *elem, uint32_t level, duet_error_t *error)
{
   if (level > UPDATE_MAX_STORAGE_DEPTH) {
      duet_error_set(error, DUET_ERR_OVERFLOW, "Document exceeds maximum nesting depth of %d",
                     UPDATE_MAX_STORAGE_DEPTH);
      return false;
   }
   for (size_t i = 0; i < elem->count; i++) {
      if (!check_depth(elem->children[i], level + 1, error)) {
         return false;
      }
   }
   return true;
}

/* The DBRef shapes MongoDB admits for '$'-prefixed names ($ref, $id, $db in order). */
static bool dollar_field_allowed(const duet_uelem_t *parent, size_t index, duet_error_t *error)
{
   const duet_uelem_t *elem = parent->children[index];
   const char *name = elem->name;
   size_t at = index;
   if (strcmp(name, "$db") == 0) {
      if (elem->type != BSON_TYPE_UTF8) {
         duet_error_set(error, DUET_ERR_INVALID_DBREF, "The DBRef $db field must be a String, not a %s",
                        duet_type_name(elem->type));
         return false;
      }
      if (at == 0 || strcmp(parent->children[at - 1]->name, "$id") != 0) {
         duet_error_set(error, DUET_ERR_INVALID_DBREF, "Found $db field without a $id before it, which is invalid.");
         return false;
      }
      at--;
      name = "$id";
   }
   if (strcmp(name, "$id") == 0) {
      if (at == 0 || strcmp(parent->children[at - 1]->name, "$ref") != 0) {
         duet_error_set(error, DUET_ERR_INVALID_DBREF, "Found $id field without a $ref before it, which is invalid.");
         return false;
      }
      at--;
      name = "$ref";
   }
   if (strcmp(name, "$ref") == 0) {
      const duet_uelem_t *ref = parent->children[at];
      if (ref->type != BSON_TYPE_UTF8) {
         duet_error_set(error, DUET_ERR_INVALID_DBREF, "The DBRef $ref field must be a String, not a %s",
                        duet_type_name(ref->type));
         return false;
      }
      if (at + 1 >= parent->count || strcmp(parent->children[at + 1]->name, "$id") != 0) {
         duet_error_set(error, DUET_ERR_INVALID_DBREF, "The DBRef $ref field must be followed by a $id field");
         return false;
      }
      return true;
   }
   duet_error_set(error, DUET_ERR_DOLLAR_PREFIXED_FIELD_NAME,
                  "The dollar ($) prefixed field '%s' in '%s' is not allowed in the context of an update's "
                  "replacement document. Consider using an aggregation pipeline with $replaceWith.",
                  elem->name, elem->name);
   return false;
}

static bool check_id_value(const duet_uelem_t *id, duet_error_t *error)
{
   if (id->type == BSON_TYPE_REGEX || id->type == BSON_TYPE_ARRAY || id->type == BSON_TYPE_UNDEFINED) {
      duet_error_set(error, DUET_ERR_INVALID_ID_FIELD, "The '_id' value cannot be of type %s",
                     duet_type_name(id->type));
      return false;
   }
   if (id->type == BSON_TYPE_DOCUMENT) {
      for (size_t i = 0; i < id->count; i++) {
         if (id->children[i]->name[0] == '$') {
            duet_error_t inner = DUET_ERROR_INIT;
            if (!dollar_field_allowed(id, i, &inner)) {
               if (inner.code == DUET_ERR_DOLLAR_PREFIXED_FIELD_NAME) {
                  duet_error_set(error, inner.code,
                                 "_id fields may not contain '$'-prefixed fields: %s is not valid for storage.",
                                 id->children[i]->name);
               } else {
                  duet_error_move(error, &inner);
               }
               duet_error_clear(&inner);
               return false;
            }
         }
      }
   }
   return true;
}

/* storage_validation::storageValid over the whole new document (pipeline results
 * may hold top-level '$'-prefixed fields, replacements and modifiers may not). */
static bool validate_document(const duet_uelem_t *root, bool allow_top_level_dollar, duet_error_t *error)
{
   for (size_t i = 0; i < root->count; i++) {
      const duet_uelem_t *child = root->children[i];
      if (strcmp(child->name, "_id") == 0 && !check_id_value(child, error)) {
         return false;
      }
      if (!allow_top_level_dollar && child->name[0] == '$' && !dollar_field_allowed(root, i, error)) {
         return false;
      }
   }
   return check_depth(root, 0, error);
}

/* ---- tree walk --------------------------------------------------------------------- */

static bool apply_node(duet_uapply_t *ctx, const duet_unode_t *node, duet_uelem_t *element, duet_upath_t *taken,
                       duet_upath_t *create, duet_error_t *error);

/* UpdateObjectNode's applyChild: resolves `field` under *element and applies `child`. */
static bool apply_child(duet_uapply_t *ctx, const duet_unode_t *child, const char *field, duet_uelem_t **element,
                        duet_upath_t *taken, duet_upath_t *create, duet_error_t *error)
{
   duet_uelem_t *child_element = NULL;
   if (create->count == 0) {
      child_element = duet_uelem_child(*element, field);
   }
   if (child_element) {
      upath_push(taken, field);
   } else {
      child_element = *element;
      upath_push(create, field);
   }
   bool ok = apply_node(ctx, child, child_element, taken, create, error);
   if (create->count) {
      upath_pop(create);
   } else {
      upath_pop(taken);
   }
   if (!ok) {
      return false;
   }
   /* The child may have created the rest of the path: move it to `taken`. */
   if (create->count) {
      duet_uelem_t *next = duet_uelem_child(*element, create->parts[0]);
      if (next) {
         *element = next;
         upath_push(taken, create->parts[0]);
         for (size_t i = 1; i < create->count; i++) {
            *element = duet_uelem_child(*element, create->parts[i]);
            BSON_ASSERT(*element);
            upath_push(taken, create->parts[i]);
         }
         upath_clear(create);
      }
   }
   return true;
}

/* ---- merging nodes (UpdateNode::createUpdateNodeByMerging) ------------------------
 * When `$` resolves to a field that also has its own child, or several `$[...]`
 * children select the same array element, their subtrees are merged into one
 * before applying; two leaves meeting at one path is a conflict.  Merged nodes
 * borrow everything from the parsed tree and live in an arena freed afterwards. */

typedef struct merge_arena {
   duet_unode_t **nodes; /* owned containers of temporary nodes */
   size_t count;
} merge_arena_t;

static void arena_free(merge_arena_t *arena)
{
   for (size_t i = 0; i < arena->count; i++) {
      bson_free(arena->nodes[i]->children);
      bson_free(arena->nodes[i]);
   }
   bson_free(arena->nodes);
   arena->nodes = NULL;
   arena->count = 0;
}

static void merged_add(duet_unode_t *node, char *name, duet_unode_t *child)
{
   if (node->count == node->capacity) {
      node->capacity = node->capacity ? node->capacity * 2 : 4;
      node->children = bson_realloc(node->children, node->capacity * sizeof *node->children);
   }
   node->children[node->count].name = name; /* borrowed from the parsed tree */
   node->children[node->count].node = child;
   node->count++;
}

static const duet_unode_t *merge_nodes(const duet_unode_t *a, const duet_unode_t *b, const char *path,
                                       merge_arena_t *arena, duet_error_t *error)
{
   if (a->kind != b->kind || a->kind == DUET_UNODE_LEAF) {
      duet_error_set(error, DUET_ERR_CONFLICTING_UPDATE_OPERATORS, "Update created a conflict at '%s'", path);
      return NULL;
   }
   duet_unode_t *merged = bson_malloc0(sizeof *merged);
   merged->kind = a->kind;
   arena->nodes = bson_realloc(arena->nodes, (arena->count + 1) * sizeof *arena->nodes);
   arena->nodes[arena->count++] = merged;
   size_t i = 0, j = 0;
   while (i < a->count || j < b->count) {
      int c = i == a->count ? 1 : (j == b->count ? -1 : strcmp(a->children[i].name, b->children[j].name));
      if (c < 0) {
         merged_add(merged, a->children[i].name, a->children[i].node);
         i++;
      } else if (c > 0) {
         merged_add(merged, b->children[j].name, b->children[j].node);
         j++;
      } else {
         char *child_path = a->kind == DUET_UNODE_ARRAY ? bson_strdup_printf("%s.$[%s]", path, a->children[i].name)
                                                        : bson_strdup_printf("%s.%s", path, a->children[i].name);
         const duet_unode_t *child = merge_nodes(a->children[i].node, b->children[j].node, child_path, arena, error);
         bson_free(child_path);
         if (!child) {
            return NULL;
         }
         merged_add(merged, a->children[i].name, (duet_unode_t *)child);
         i++;
         j++;
      }
   }
   if (a->positional && b->positional) {
      char *child_path = bson_strdup_printf("%s.$", path);
      const duet_unode_t *child = merge_nodes(a->positional, b->positional, child_path, arena, error);
      bson_free(child_path);
      if (!child) {
         return NULL;
      }
      merged->positional = (duet_unode_t *)child;
   } else {
      merged->positional = a->positional ? a->positional : b->positional;
   }
   return merged;
}

static bool apply_object(duet_uapply_t *ctx, const duet_unode_t *node, duet_uelem_t *element, duet_upath_t *taken,
                         duet_upath_t *create, duet_error_t *error)
{
   bool apply_positional = node->positional != NULL;
   const char *matched = ctx->matched_field;
   if (apply_positional && !matched) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The positional operator did not find the match needed from the query.");
      return false;
   }
   for (size_t i = 0; i < node->count; i++) {
      const char *name = node->children[i].name;
      const duet_unode_t *child = node->children[i].node;
      if (apply_positional && strcmp(name, matched) == 0) {
         merge_arena_t arena = {0};
         char *path = full_path(taken, create, matched);
         const duet_unode_t *merged = merge_nodes(node->positional, child, path, &arena, error);
         bson_free(path);
         bool ok = merged && apply_child(ctx, merged, name, &element, taken, create, error);
         arena_free(&arena);
         if (!ok) {
            return false;
         }
         apply_positional = false;
         continue;
      }
      if (apply_positional && strcmp(matched, name) < 0) {
         if (!apply_child(ctx, node->positional, matched, &element, taken, create, error)) {
            return false;
         }
         apply_positional = false;
      }
      if (!apply_child(ctx, child, name, &element, taken, create, error)) {
         return false;
      }
   }
   if (apply_positional && !apply_child(ctx, node->positional, matched, &element, taken, create, error)) {
      return false;
   }
   return true;
}

static bool filter_matches(duet_uapply_t *ctx, const char *identifier, const duet_uelem_t *elem, bool *matched,
                           duet_error_t *error)
{
   if (!identifier[0]) {
      *matched = true;
      return true;
   }
   for (size_t i = 0; i < ctx->update->filter_count; i++) {
      const duet_update_array_filter_t *filter = &ctx->update->filters[i];
      if (strcmp(filter->identifier, identifier) == 0) {
         bson_value_t value;
         duet_uelem_to_value(elem, &value);
         bool ok = duet_match_matches_value(filter->match, identifier, &value, matched, error);
         bson_value_destroy(&value);
         return ok;
      }
   }
   *matched = false;
   return true;
}

static bool apply_array(duet_uapply_t *ctx, const duet_unode_t *node, duet_uelem_t *element, duet_upath_t *taken,
                        duet_upath_t *create, duet_error_t *error)
{
   if (create->count) {
      char *path = full_path(taken, create, NULL);
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "The path '%s' must exist in the document in order to apply array updates.", path);
      bson_free(path);
      return false;
   }
   if (element->type != BSON_TYPE_ARRAY) {
      bson_string_t *text = bson_string_new(NULL);
      duet_update_format_uelem(text, element);
      duet_error_set(error, DUET_ERR_BAD_VALUE, "Cannot apply array updates to non-array element %s", text->str);
      bson_string_free(text, true);
      return false;
   }
   const duet_unode_t **matching = bson_malloc((node->count ? node->count : 1) * sizeof *matching);
   bool ok = true;
   for (size_t i = 0; ok && i < element->count; i++) {
      size_t n = 0;
      for (size_t c = 0; c < node->count; c++) {
         bool matched = false;
         if (!filter_matches(ctx, node->children[c].name, element->children[i], &matched, error)) {
            ok = false;
            break;
         }
         if (matched) {
            matching[n++] = node->children[c].node;
         }
      }
      if (!ok || n == 0) {
         continue;
      }
      char index[24];
      snprintf(index, sizeof index, "%zu", i);
      merge_arena_t arena = {0};
      const duet_unode_t *merged = matching[0];
      if (n > 1) {
         char *path = full_path(taken, create, index);
         for (size_t m = 1; merged && m < n; m++) {
            merged = merge_nodes(merged, matching[m], path, &arena, error);
         }
         bson_free(path);
      }
      duet_uelem_t *array = element;
      ok = merged && apply_child(ctx, merged, index, &array, taken, create, error);
      arena_free(&arena);
   }
   bson_free(matching);
   return ok;
}

static bool apply_node(duet_uapply_t *ctx, const duet_unode_t *node, duet_uelem_t *element, duet_upath_t *taken,
                       duet_upath_t *create, duet_error_t *error)
{
   switch (node->kind) {
   case DUET_UNODE_OBJECT: return apply_object(ctx, node, element, taken, create, error);
   case DUET_UNODE_ARRAY: return apply_array(ctx, node, element, taken, create, error);
   case DUET_UNODE_LEAF: return duet_update_leaf_apply(ctx, node, element, taken, create, error);
   }
   return false;
}

/* ---- driver ----------------------------------------------------------------------- */

static int64_t wall_clock_ms(void)
{
   struct timespec now;
   clock_gettime(CLOCK_REALTIME, &now);
   return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ensureIdFieldIsFirst(doc, generateOIDIfMissing = true) for upsert inserts. */
static void ensure_id_first(duet_uelem_t *root)
{
   for (size_t i = 0; i < root->count; i++) {
      if (strcmp(root->children[i]->name, "_id") == 0) {
         if (i > 0) {
            duet_uelem_t *id = duet_uelem_detach_at(root, i);
            duet_uelem_insert(root, 0, id);
         }
         return;
      }
   }
   bson_value_t oid = {.value_type = BSON_TYPE_OID};
   bson_oid_init(&oid.value.v_oid, NULL);
   duet_uelem_insert(root, 0, duet_uelem_from_value("_id", &oid));
}

static bool find_positional_match(const duet_update_t *update, const bson_t *old_doc, const bson_t *query,
                                  char matched[24], bool *found, duet_error_t *error)
{
   *found = false;
   if (!update->positional || !query) {
      return true;
   }
   duet_match_t *match = NULL;
   if (!duet_match_parse(query, DUET_MATCH_FEATURES_DEFAULT, &match, error)) {
      return false;
   }
   bool is_match = false;
   duet_match_details_t details = {0};
   bool ok = duet_match_matches(match, old_doc, &is_match, &details, error);
   duet_match_destroy(match);
   if (ok && is_match && details.has_array_index) {
      snprintf(matched, 24, "%u", (unsigned)details.array_index);
      *found = true;
   }
   return ok;
}

/*
** ObjectReplaceExecutor::applyReplacementUpdate: the old document's _id stays
** (first) unless the replacement has one; top-level zero timestamps of a
** replacement document take the current time; storage validation, then the
** _id immutability check (numerically equal values of other types are allowed).
** *out receives the new tree (owned by the caller, also on failure).
*/
static bool replace_document(const duet_uelem_t *old_root, const bson_t *replacement, bool from_pipeline,
                             bool allow_top_level_dollar, int64_t now_ms, duet_uelem_t **out, duet_error_t *error)
{
   duet_uelem_t *root = duet_uelem_from_bson(replacement);
   *out = root;
   if (!from_pipeline) {
      for (size_t i = 0; i < root->count; i++) {
         duet_uelem_t *child = root->children[i];
         if (child->type == BSON_TYPE_TIMESTAMP && child->value.value.v_timestamp.timestamp == 0 &&
             child->value.value.v_timestamp.increment == 0) {
            child->value.value.v_timestamp.timestamp = (uint32_t)(now_ms / 1000);
            child->value.value.v_timestamp.increment = 1;
         }
      }
   }
   const duet_uelem_t *old_id = duet_uelem_child(old_root, "_id");
   duet_uelem_t *new_id = duet_uelem_child(root, "_id");
   if (old_id && !new_id) {
      duet_uelem_insert(root, 0, duet_uelem_clone(old_id, NULL));
   }
   if (!validate_document(root, allow_top_level_dollar, error)) {
      return false;
   }
   if (old_id && new_id && duet_uelem_compare(old_id, new_id) != 0) {
      bson_string_t *text = bson_string_new(NULL);
      duet_update_format_uelem(text, new_id);
      duet_error_set(error, DUET_ERR_IMMUTABLE_FIELD,
                     "After applying the update, the (immutable) field '_id' was found to have been altered to %s",
                     text->str);
      bson_string_free(text, true);
      return false;
   }
   return true;
}

bool duet_update_apply(const duet_update_t *update, const bson_t *old_doc, const bson_t *query, bool is_upsert_insert,
                       bson_t *new_doc_out, bool *modified_out, duet_error_t *error)
{
   return duet_update_apply_env(update, old_doc, query, is_upsert_insert, NULL, new_doc_out, modified_out, error);
}

bool duet_update_apply_env(const duet_update_t *update, const bson_t *old_doc, const bson_t *query,
                           bool is_upsert_insert, const duet_expr_env_t *env, bson_t *new_doc_out, bool *modified_out,
                           duet_error_t *error)
{
   bson_init(new_doc_out);
   *modified_out = false;
   int64_t now_ms = env && env->now_ms ? env->now_ms : (update->now_ms ? update->now_ms : wall_clock_ms());
   duet_uelem_t *old_root = duet_uelem_from_bson(old_doc);
   duet_uelem_t *root = NULL;
   bool ok = true;
   bool leaf_modified = false;

   if (update->kind == DUET_UPDATE_PIPELINE) {
      bson_t result;
      duet_expr_env_t pipeline_env = DUET_EXPR_ENV_INIT;
      if (env) {
         pipeline_env = *env;
      }
      pipeline_env.now_ms = now_ms;
      ok = duet_update_pipeline_apply(update, old_doc, &pipeline_env, &result, error);
      if (ok) {
         ok = replace_document(old_root, &result, true, true, now_ms, &root, error);
      }
      bson_destroy(&result);
   } else if (update->kind == DUET_UPDATE_REPLACEMENT) {
      ok = replace_document(old_root, update->spec, false, is_upsert_insert, now_ms, &root, error);
   } else {
      char matched[24];
      bool found = false;
      ok = find_positional_match(update, old_doc, query, matched, &found, error);
      root = old_root;
      old_root = NULL;
      if (ok) {
         duet_uapply_t ctx = {0};
         ctx.update = update;
         ctx.root = root;
         ctx.insert = is_upsert_insert;
         ctx.matched_field = found ? matched : NULL;
         ctx.now_ms = now_ms;
         duet_upath_t taken = {0}, create = {0};
         ok = apply_node(&ctx, update->root, root, &taken, &create, error);
         upath_destroy(&taken);
         upath_destroy(&create);
         leaf_modified = ctx.force_modified;
      }
      if (ok) {
         /* upsert inserts are validated as inserts: top-level '$' fields pass */
         ok = validate_document(root, is_upsert_insert, error);
      }
   }
   if (ok && is_upsert_insert) {
      ensure_id_first(root);
   }
   if (ok) {
      duet_uelem_write_children(root, new_doc_out);
      if (new_doc_out->len > UPDATE_MAX_USER_SIZE) {
         if (is_upsert_insert) {
            duet_error_set(error, 17420, "Document to upsert is larger than %d", UPDATE_MAX_USER_SIZE);
         } else {
            duet_error_set(error, 17419, "Resulting document after update is larger than %d", UPDATE_MAX_USER_SIZE);
         }
         ok = false;
      }
   }
   if (ok) {
      if (update->kind == DUET_UPDATE_MODIFIERS) {
         /* MongoDB's notion: some modifier was not a noop */
         *modified_out = leaf_modified;
      } else {
         *modified_out = new_doc_out->len != old_doc->len ||
                         memcmp(bson_get_data(new_doc_out), bson_get_data(old_doc), old_doc->len) != 0;
      }
   } else {
      bson_reinit(new_doc_out);
   }
   duet_uelem_free(old_root);
   duet_uelem_free(root);
   return ok;
}
