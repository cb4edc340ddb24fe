/*
 * pipeline_project.c — the projection tree behind $addFields/$set, $project and $unset:
 * parsing dotted and nested specs into one tree (with MongoDB's inclusion/exclusion rules
 * and messages), and applying it with MongoDB's field order and array semantics
 * (reference §2.3: paths through arrays apply to every element; $addFields replaces
 * scalars in such arrays by new subdocuments, inclusion drops them, exclusion keeps them).
 */
#include "mql/pipeline_internal.h"

#include <duet/doc.h>

#include <string.h>

/* ---- tree ------------------------------------------------------------------------------- */

static void node_clear(project_node_t *node)
{
   for (size_t i = 0; i < node->child_count; i++) {
      node_clear(node->children[i]);
      bson_free(node->children[i]);
   }
   bson_free(node->children);
   bson_free(node->name);
   duet_expr_destroy(node->expr);
   memset(node, 0, sizeof *node);
}

void projection_destroy(projection_t *projection)
{
   if (!projection) {
      return;
   }
   node_clear(&projection->root);
   bson_free(projection);
}

static project_node_t *find_child(const project_node_t *node, const char *name, size_t length)
{
   for (size_t i = 0; i < node->child_count; i++) {
      if (node->children[i]->name_length == length && memcmp(node->children[i]->name, name, length) == 0) {
         return node->children[i];
      }
   }
   return NULL;
}

static project_node_t *add_child(project_node_t *node, const char *name, size_t length, project_node_kind_t kind)
{
   project_node_t *child = bson_malloc0(sizeof *child);
   child->name = bson_strndup(name, length);
   child->name_length = length;
   child->kind = kind;
   node->children = bson_realloc(node->children, (node->child_count + 1) * sizeof *node->children);
   node->children[node->child_count++] = child;
   return child;
}

/* Inserts `path` (dotted) with a leaf of `kind`; takes ownership of `expr`. */
static bool insert_path(project_node_t *root, const char *path, project_node_kind_t kind, duet_expr_t *expr,
                        duet_error_t *error)
{
   project_node_t *node = root;
   const char *component = path;
   for (;;) {
      const char *dot = strchr(component, '.');
      size_t length = dot ? (size_t)(dot - component) : strlen(component);
      if (length == 0) {
         duet_error_set(error, 15998, "FieldPath field names may not be empty strings.");
         duet_expr_destroy(expr);
         return false;
      }
      if (component[0] == '$') {
         duet_error_set(error, 16410,
                        "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
         duet_expr_destroy(expr);
         return false;
      }
      project_node_t *child = find_child(node, component, length);
      if (!dot) {
         if (child) {
            duet_error_set(error, 31250, "Path collision at %s", path);
            duet_expr_destroy(expr);
            return false;
         }
         child = add_child(node, component, length, kind);
         child->expr = expr;
         return true;
      }
      if (child && child->kind != PROJECT_NODE_SUBTREE) {
         duet_error_set(error, 31250, "Path collision at %s remaining portion %s", path, dot + 1);
         duet_expr_destroy(expr);
         return false;
      }
      if (!child) {
         child = add_child(node, component, length, PROJECT_NODE_SUBTREE);
      }
      node = child;
      component = dot + 1;
   }
}

static bool mark_computed(project_node_t *node)
{
   bool any = node->kind == PROJECT_NODE_COMPUTED;
   for (size_t i = 0; i < node->child_count; i++) {
      any |= mark_computed(node->children[i]);
   }
   node->has_computed = any;
   return any;
}

static bool is_operator_object(const bson_value_t *value)
{
   bson_t view;
   bson_iter_t iter;
   if (value->value_type != BSON_TYPE_DOCUMENT ||
       !bson_init_static(&view, value->value.v_doc.data, value->value.v_doc.data_len)) {
      return false;
   }
   return bson_iter_init(&iter, &view) && bson_iter_next(&iter) && bson_iter_key(&iter)[0] == '$';
}

static char *join_path(const char *prefix, const char *key)
{
   return prefix ? bson_strdup_printf("%s.%s", prefix, key) : bson_strdup(key);
}

/* ---- $addFields / $set --------------------------------------------------------------------- */

static bool parse_add_fields_level(projection_t *projection, const bson_t *spec, const char *prefix,
                                   const duet_expr_scope_t *scope, duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, spec)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      char *path = join_path(prefix, bson_iter_key(&iter));
      const bson_value_t *value = bson_iter_value(&iter);
      bool ok;
      if (value->value_type == BSON_TYPE_DOCUMENT && !is_operator_object(value)) {
         bson_t nested;
         bson_init_static(&nested, value->value.v_doc.data, value->value.v_doc.data_len);
         if (bson_empty(&nested)) {
            duet_error_set(error, 51270, "An empty sub-projection is not a valid value. Found empty object at path");
            ok = false;
         } else {
            ok = parse_add_fields_level(projection, &nested, path, scope, error);
         }
      } else {
         duet_expr_t *expr = NULL;
         ok = duet_expr_parse_iter(&iter, scope, &expr, error) &&
              insert_path(&projection->root, path, PROJECT_NODE_COMPUTED, expr, error);
      }
      bson_free(path);
      if (!ok) {
         return false;
      }
   }
   return true;
}

bool projection_parse_add_fields(const char *stage_name, const bson_t *spec, const duet_expr_scope_t *scope,
                                 projection_t **out, duet_error_t *error)
{
   projection_t *projection = bson_malloc0(sizeof *projection);
   projection->mode = PROJECT_ADD_FIELDS;
   projection->root.kind = PROJECT_NODE_SUBTREE;
   if (bson_empty(spec)) {
      duet_error_set(error, 40177, "specification must have at least one field");
      goto fail;
   }
   if (!parse_add_fields_level(projection, spec, NULL, scope, error)) {
      goto fail;
   }
   mark_computed(&projection->root);
   projection->flat = true;
   for (size_t i = 0; i < projection->root.child_count; i++) {
      projection->flat &= projection->root.children[i]->kind == PROJECT_NODE_COMPUTED;
   }
   *out = projection;
   return true;
fail:
   duet_error_wrap(error, "Invalid %s", stage_name);
   projection_destroy(projection);
   return false;
}

/* ---- $project ---------------------------------------------------------------------------------- */

typedef struct project_parse {
   projection_t *projection;
   int mode; /* -1 unknown, else project_mode_t */
   const duet_expr_scope_t *scope;
} project_parse_t;

static bool parse_project_level(project_parse_t *parse, const bson_t *spec, const char *prefix, duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, spec)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      char *path = join_path(prefix, bson_iter_key(&iter));
      const bson_value_t *value = bson_iter_value(&iter);
      bool is_id = strcmp(path, "_id") == 0;
      bool ok = true;
      if (value->value_type == BSON_TYPE_BOOL || duet_type_is_number(value->value_type)) {
         bool include = duet_expr_value_truthy(value);
         if (!is_id) {
            if (include && parse->mode == PROJECT_EXCLUSION) {
               duet_error_set(error, 31253, "Cannot do inclusion on field %s in exclusion projection", path);
               ok = false;
            } else if (!include && parse->mode == PROJECT_INCLUSION) {
               duet_error_set(error, 31254, "Cannot do exclusion on field %s in inclusion projection", path);
               ok = false;
            } else {
               parse->mode = include ? PROJECT_INCLUSION : PROJECT_EXCLUSION;
            }
         }
         ok = ok && insert_path(&parse->projection->root, path, include ? PROJECT_NODE_INCLUDE : PROJECT_NODE_EXCLUDE,
                                NULL, error);
      } else if (value->value_type == BSON_TYPE_DOCUMENT && !is_operator_object(value)) {
         bson_t nested;
         bson_init_static(&nested, value->value.v_doc.data, value->value.v_doc.data_len);
         if (bson_empty(&nested)) {
            duet_error_set(error, 51270, "An empty sub-projection is not a valid value. Found empty object at path");
            ok = false;
         } else {
            ok = parse_project_level(parse, &nested, path, error);
         }
      } else {
         if (parse->mode == PROJECT_EXCLUSION) {
            duet_error_set(error, 31252, "Cannot use expression other than $meta in exclusion projection");
            ok = false;
         } else {
            parse->mode = PROJECT_INCLUSION;
            duet_expr_t *expr = NULL;
            ok = duet_expr_parse_iter(&iter, parse->scope, &expr, error) &&
                 insert_path(&parse->projection->root, path, PROJECT_NODE_COMPUTED, expr, error);
         }
      }
      bson_free(path);
      if (!ok) {
         return false;
      }
   }
   return true;
}

bool projection_parse_project(const bson_t *spec, const duet_expr_scope_t *scope, projection_t **out,
                              duet_error_t *error)
{
   projection_t *projection = bson_malloc0(sizeof *projection);
   projection->root.kind = PROJECT_NODE_SUBTREE;
   project_parse_t parse = {projection, -1, scope};
   if (bson_empty(spec)) {
      duet_error_set(error, 51272, "projection specification must have at least one field");
      goto fail;
   }
   if (!parse_project_level(&parse, spec, NULL, error)) {
      goto fail;
   }
   if (parse.mode < 0) {
      /* only _id was named */
      project_node_t *id = find_child(&projection->root, "_id", 3);
      parse.mode = id && id->kind == PROJECT_NODE_EXCLUDE ? PROJECT_EXCLUSION : PROJECT_INCLUSION;
   }
   projection->mode = (project_mode_t)parse.mode;
   if (projection->mode == PROJECT_INCLUSION && !find_child(&projection->root, "_id", 3)) {
      add_child(&projection->root, "_id", 3, PROJECT_NODE_INCLUDE);
   }
   mark_computed(&projection->root);
   *out = projection;
   return true;
fail:
   duet_error_wrap(error, "Invalid $project");
   projection_destroy(projection);
   return false;
}

/* ---- $unset ----------------------------------------------------------------------------------- */

bool projection_parse_unset(const bson_value_t *spec, projection_t **out, duet_error_t *error)
{
   projection_t *projection = bson_malloc0(sizeof *projection);
   projection->mode = PROJECT_EXCLUSION;
   projection->root.kind = PROJECT_NODE_SUBTREE;
   if (spec->value_type == BSON_TYPE_UTF8) {
      if (!insert_path(&projection->root, spec->value.v_utf8.str, PROJECT_NODE_EXCLUDE, NULL, error)) {
         goto fail;
      }
   } else if (spec->value_type == BSON_TYPE_ARRAY) {
      bson_t view;
      bson_iter_t iter;
      bson_init_static(&view, spec->value.v_doc.data, spec->value.v_doc.data_len);
      if (bson_empty(&view)) {
         duet_error_set(error, 31119, "$unset specification must be a string or an array with at least one field");
         goto fail;
      }
      bson_iter_init(&iter, &view);
      while (bson_iter_next(&iter)) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            duet_error_set(error, 31120,
                           "$unset specification must be a string or an array containing only string values");
            goto fail;
         }
      }
      bson_iter_init(&iter, &view);
      while (bson_iter_next(&iter)) {
         if (!insert_path(&projection->root, bson_iter_utf8(&iter, NULL), PROJECT_NODE_EXCLUDE, NULL, error)) {
            goto fail;
         }
      }
   } else {
      duet_error_set(error, 31002, "$unset specification must be a string or an array");
      goto fail;
   }
   mark_computed(&projection->root);
   *out = projection;
   return true;
fail:
   projection_destroy(projection);
   return false;
}

/* ---- apply ------------------------------------------------------------------------------------ */

typedef struct apply_context {
   project_mode_t mode;
   const bson_t *root;
   const duet_expr_env_t *env;
   duet_error_t *error;
} apply_context_t;

static bool apply_level(const apply_context_t *ctx, const project_node_t *node, const bson_t *input, bson_t *out);

static bool append_computed(const apply_context_t *ctx, const project_node_t *child, bson_t *out, const char *key,
                            int key_length)
{
   bson_value_t value;
   if (!duet_expr_evaluate(child->expr, ctx->root, ctx->env, &value, ctx->error)) {
      return false;
   }
   if (value.value_type != BSON_TYPE_EOD) {
      bson_append_value(out, key, key_length, &value);
      bson_value_destroy(&value);
   }
   return true;
}

/* A new subdocument holding only the computed fields of `child` (for missing or scalar values). */
static bool append_created(const apply_context_t *ctx, const project_node_t *child, bson_t *out, const char *key,
                           int key_length)
{
   bson_t sub;
   bson_append_document_begin(out, key, key_length, &sub);
   bool ok = apply_level(ctx, child, NULL, &sub);
   bson_append_document_end(out, &sub);
   return ok;
}

static bool apply_array(const apply_context_t *ctx, const project_node_t *child, const bson_iter_t *array_iter,
                        bson_t *out)
{
   bson_iter_t iter;
   uint32_t index = 0;
   bson_iter_recurse(array_iter, &iter);
   while (bson_iter_next(&iter)) {
      char key_buffer[16];
      const char *key;
      int key_length = (int)bson_uint32_to_string(index, &key, key_buffer, sizeof key_buffer);
      bool ok = true;
      if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_t element, sub;
         uint32_t length;
         const uint8_t *data;
         bson_iter_document(&iter, &length, &data);
         bson_init_static(&element, data, length);
         bson_append_document_begin(out, key, key_length, &sub);
         ok = apply_level(ctx, child, &element, &sub);
         bson_append_document_end(out, &sub);
         index++;
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         bson_t sub;
         bson_append_array_begin(out, key, key_length, &sub);
         ok = apply_array(ctx, child, &iter, &sub);
         bson_append_array_end(out, &sub);
         index++;
      } else if (ctx->mode == PROJECT_EXCLUSION) {
         bson_append_value(out, key, key_length, bson_iter_value(&iter));
         index++;
      } else if (child->has_computed) {
         ok = append_created(ctx, child, out, key, key_length);
         index++;
      }
      if (!ok) {
         return false;
      }
   }
   return true;
}

static bool apply_level(const apply_context_t *ctx, const project_node_t *node, const bson_t *input, bson_t *out)
{
   bool seen_local[64];
   bool *seen = node->child_count <= 64 ? seen_local : bson_malloc0(node->child_count * sizeof *seen);
   memset(seen, 0, (node->child_count <= 64 ? 64 : node->child_count) * sizeof *seen);
   bool ok = true;
   bson_iter_t iter;
   if (input && bson_iter_init(&iter, input)) {
      while (ok && bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         int key_length = (int)bson_iter_key_len(&iter);
         project_node_t *child = NULL;
         size_t child_index = 0;
         for (size_t i = 0; i < node->child_count; i++) {
            if (node->children[i]->name_length == (size_t)key_length &&
                memcmp(node->children[i]->name, key, (size_t)key_length) == 0) {
               child = node->children[i];
               child_index = i;
               break;
            }
         }
         if (!child) {
            if (ctx->mode != PROJECT_INCLUSION) {
               bson_append_iter(out, key, key_length, &iter);
            }
            continue;
         }
         seen[child_index] = true;
         switch (child->kind) {
         case PROJECT_NODE_EXCLUDE: break;
         case PROJECT_NODE_INCLUDE: bson_append_iter(out, key, key_length, &iter); break;
         case PROJECT_NODE_COMPUTED:
            if (ctx->mode == PROJECT_ADD_FIELDS) {
               ok = append_computed(ctx, child, out, key, key_length);
            }
            break;
         case PROJECT_NODE_SUBTREE:
            if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
               bson_t element, sub;
               uint32_t length;
               const uint8_t *data;
               bson_iter_document(&iter, &length, &data);
               bson_init_static(&element, data, length);
               bson_append_document_begin(out, key, key_length, &sub);
               ok = apply_level(ctx, child, &element, &sub);
               bson_append_document_end(out, &sub);
            } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
               bson_t sub;
               bson_append_array_begin(out, key, key_length, &sub);
               ok = apply_array(ctx, child, &iter, &sub);
               bson_append_array_end(out, &sub);
            } else if (ctx->mode == PROJECT_EXCLUSION) {
               bson_append_iter(out, key, key_length, &iter);
            } else if (child->has_computed) {
               ok = append_created(ctx, child, out, key, key_length);
            }
            break;
         }
      }
   }
   for (size_t i = 0; ok && i < node->child_count; i++) {
      const project_node_t *child = node->children[i];
      if (child->kind == PROJECT_NODE_COMPUTED && (ctx->mode == PROJECT_INCLUSION || !seen[i])) {
         ok = append_computed(ctx, child, out, child->name, -1);
      } else if (child->kind == PROJECT_NODE_SUBTREE && !seen[i] && ctx->mode != PROJECT_EXCLUSION &&
                 child->has_computed) {
         ok = append_created(ctx, child, out, child->name, -1);
      }
   }
   if (seen != seen_local) {
      bson_free(seen);
   }
   return ok;
}

/* A growable byte buffer for raw BSON assembly (stack storage first). */
typedef struct raw_buffer {
   uint8_t *data;
   size_t length;
   size_t capacity;
   uint8_t local[512];
} raw_buffer_t;

static void raw_append(raw_buffer_t *buffer, const void *bytes, size_t length)
{
   if (buffer->length + length > buffer->capacity) {
      size_t capacity = (buffer->length + length) * 2;
      uint8_t *grown = bson_malloc(capacity);
      memcpy(grown, buffer->data, buffer->length);
      if (buffer->data != buffer->local) {
         bson_free(buffer->data);
      }
      buffer->data = grown;
      buffer->capacity = capacity;
   }
   memcpy(buffer->data + buffer->length, bytes, length);
   buffer->length += length;
}

/* Appends the element `key: value` in raw form (common scalar types encoded directly). */
static void raw_append_element(raw_buffer_t *buffer, const char *key, size_t key_length, const bson_value_t *value)
{
   uint8_t type = (uint8_t)value->value_type;
   switch (value->value_type) {
   case BSON_TYPE_UTF8: {
      uint32_t length = BSON_UINT32_TO_LE(value->value.v_utf8.len + 1);
      raw_append(buffer, &type, 1);
      raw_append(buffer, key, key_length + 1);
      raw_append(buffer, &length, 4);
      raw_append(buffer, value->value.v_utf8.str, value->value.v_utf8.len);
      raw_append(buffer, "", 1);
      return;
   }
   case BSON_TYPE_OID:
      raw_append(buffer, &type, 1);
      raw_append(buffer, key, key_length + 1);
      raw_append(buffer, value->value.v_oid.bytes, 12);
      return;
   case BSON_TYPE_INT32: {
      int32_t v = (int32_t)BSON_UINT32_TO_LE((uint32_t)value->value.v_int32);
      raw_append(buffer, &type, 1);
      raw_append(buffer, key, key_length + 1);
      raw_append(buffer, &v, 4);
      return;
   }
   case BSON_TYPE_INT64:
   case BSON_TYPE_DATE_TIME: {
      uint64_t v = BSON_UINT64_TO_LE(
          (uint64_t)(value->value_type == BSON_TYPE_INT64 ? value->value.v_int64 : value->value.v_datetime));
      raw_append(buffer, &type, 1);
      raw_append(buffer, key, key_length + 1);
      raw_append(buffer, &v, 8);
      return;
   }
   case BSON_TYPE_BOOL: {
      uint8_t v = value->value.v_bool ? 1 : 0;
      raw_append(buffer, &type, 1);
      raw_append(buffer, key, key_length + 1);
      raw_append(buffer, &v, 1);
      return;
   }
   case BSON_TYPE_NULL:
      raw_append(buffer, &type, 1);
      raw_append(buffer, key, key_length + 1);
      return;
   default: break;
   }
   bson_t element = BSON_INITIALIZER;
   bson_append_value(&element, key, (int)key_length, value);
   raw_append(buffer, bson_get_data(&element) + 4, element.len - 5);
   bson_destroy(&element);
}

static bool raw_append_computed(raw_buffer_t *buffer, const apply_context_t *ctx, const project_node_t *child)
{
   bson_value_t value;
   if (!duet_expr_evaluate(child->expr, ctx->root, ctx->env, &value, ctx->error)) {
      return false;
   }
   if (value.value_type != BSON_TYPE_EOD) {
      raw_append_element(buffer, child->name, child->name_length, &value);
      bson_value_destroy(&value);
   }
   return true;
}

/* $addFields with only top-level fields (the seeds' `{_id: {$toString: "$_id"}}`): untouched
 * fields are copied as raw bytes, computed ones encoded in place or appended, and the whole
 * document lands in `out` with one copy. */
static bool apply_flat(const apply_context_t *ctx, const project_node_t *node, const bson_t *input, bson_t *out)
{
   raw_buffer_t buffer;
   buffer.data = buffer.local;
   buffer.length = 4;
   buffer.capacity = sizeof buffer.local;
   uint64_t seen = 0;
   bool ok = true;
   const uint8_t *data = bson_get_data(input);
   bson_iter_t iter;
   if (bson_iter_init(&iter, input)) {
      while (ok && bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         size_t key_length = bson_iter_key_len(&iter);
         size_t i = 0;
         for (; i < node->child_count; i++) {
            if (node->children[i]->name_length == key_length && memcmp(node->children[i]->name, key, key_length) == 0) {
               break;
            }
         }
         if (i == node->child_count) {
            raw_append(&buffer, data + iter.off, iter.next_off - iter.off);
            continue;
         }
         if (i < 64) {
            seen |= 1ULL << i;
         }
         ok = raw_append_computed(&buffer, ctx, node->children[i]);
      }
   }
   for (size_t i = 0; ok && i < node->child_count; i++) {
      if (i >= 64 || !(seen & (1ULL << i))) {
         bool present = false;
         if (i >= 64) {
            bson_iter_t probe;
            present = bson_iter_init_find(&probe, input, node->children[i]->name);
         }
         if (!present) {
            ok = raw_append_computed(&buffer, ctx, node->children[i]);
         }
      }
   }
   if (ok) {
      uint8_t zero = 0;
      raw_append(&buffer, &zero, 1);
      uint32_t length = BSON_UINT32_TO_LE((uint32_t)buffer.length);
      memcpy(buffer.data, &length, 4);
      bson_t view;
      if (bson_init_static(&view, buffer.data, buffer.length)) {
         bson_concat(out, &view);
      }
   }
   if (buffer.data != buffer.local) {
      bson_free(buffer.data);
   }
   return ok;
}

bool projection_apply(const projection_t *projection, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                      duet_error_t *error)
{
   apply_context_t ctx = {projection->mode, doc, env, error};
   if (projection->flat) {
      return apply_flat(&ctx, &projection->root, doc, out);
   }
   return apply_level(&ctx, &projection->root, doc, out);
}
