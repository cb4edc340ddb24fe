/*
 * update_pipeline.c — pipeline-style updates (MongoDB's PipelineExecutor):
 * `[{$set: ...}, {$unset: ...}, ...]` run over the one document being updated,
 * with the stages an update admits: $addFields/$set, $project/$unset,
 * $replaceRoot/$replaceWith.  Expressions go through the expression engine
 * (duet/mql_expr.h).
 */
#include "mql/update_private.h"

#include <duet/doc.h>
#include <duet/mql_expr.h>

#include <string.h>

typedef enum pipeline_stage_kind {
   STAGE_ADD_FIELDS,   /* $addFields / $set */
   STAGE_UNSET,        /* $unset, and $project in exclusion mode */
   STAGE_INCLUDE,      /* $project in inclusion mode */
   STAGE_REPLACE_ROOT, /* $replaceRoot / $replaceWith */
} pipeline_stage_kind_t;

/* One field of an $addFields/$project spec: a nested spec or an expression. */
typedef struct field_spec field_spec_t;
struct field_spec {
   char *name;             /* owned: one path part */
   duet_expr_t *expr;      /* owned; NULL for nested specs and inclusion leaves */
   field_spec_t *children; /* owned nested spec (array of count) */
   size_t count;
   bool include; /* inclusion leaf ($project: {a: 1}) */
};

typedef struct pipeline_stage {
   pipeline_stage_kind_t kind;
   const char *name;      /* stage name as written (static) */
   field_spec_t root;     /* ADD_FIELDS / UNSET / INCLUDE */
   bool include_id;       /* INCLUDE: _id kept unless {_id: 0} */
   duet_expr_t *new_root; /* REPLACE_ROOT */
} pipeline_stage_t;

typedef struct pipeline {
   pipeline_stage_t *stages;
   size_t count;
} pipeline_t;

/* ---- spec trees ------------------------------------------------------------------- */

static void field_spec_clear(field_spec_t *spec)
{
   for (size_t i = 0; i < spec->count; i++) {
      field_spec_clear(&spec->children[i]);
   }
   bson_free(spec->children);
   bson_free(spec->name);
   duet_expr_destroy(spec->expr);
   memset(spec, 0, sizeof *spec);
}

/* Finds or appends the child named `name`. */
static field_spec_t *field_spec_child(field_spec_t *spec, const char *name, size_t name_length)
{
   for (size_t i = 0; i < spec->count; i++) {
      if (strlen(spec->children[i].name) == name_length && strncmp(spec->children[i].name, name, name_length) == 0) {
         return &spec->children[i];
      }
   }
   spec->children = bson_realloc(spec->children, (spec->count + 1) * sizeof *spec->children);
   field_spec_t *child = &spec->children[spec->count++];
   memset(child, 0, sizeof *child);
   child->name = bson_strndup(name, name_length);
   return child;
}

/* The smallest (bytewise) full path of a leaf under `spec`, appended to `out`. */
static void smallest_leaf_path(const field_spec_t *spec, bson_string_t *out)
{
   const field_spec_t *best = NULL;
   for (size_t i = 0; i < spec->count; i++) {
      if (!best || strcmp(spec->children[i].name, best->name) < 0) {
         best = &spec->children[i];
      }
   }
   if (best) {
      bson_string_append_c(out, '.');
      bson_string_append(out, best->name);
      smallest_leaf_path(best, out);
   }
}

/* ProjectionSpecValidator's 40176 for `path` meeting `existing` (both full paths). */
static void set_path_conflict(const char *path, const char *existing, const bson_value_t *raw_spec, duet_error_t *error)
{
   bson_string_t *raw = bson_string_new(NULL);
   duet_update_format_value(raw, raw_spec);
   duet_error_set(error, 40176, "specification contains two conflicting paths. Cannot specify both '%s' and '%s': %s",
                  path, existing, raw->str);
   bson_string_free(raw, true);
}

/*
** Walks/creates the nodes for dotted `path` (below the full path `prefix`, "" at
** the top) and returns the new leaf node; fails with MongoDB's FieldPath errors
** and 40176 when the path meets one already specified.  `raw_spec` is the
** stage's specification (for the message).
*/
static field_spec_t *field_spec_path_checked(field_spec_t *root, const char *prefix, const char *path,
                                             const bson_value_t *raw_spec, duet_error_t *error)
{
   if (!path[0] || path[0] == '$') {
      duet_error_set(error, path[0] ? 16410 : 40352,
                     path[0] ? "FieldPath field names may not start with '$'. Consider using $getField or $setField."
                             : "FieldPath cannot be constructed with empty string");
      return NULL;
   }
   for (const char *p = path;; p++) {
      if (*p == '.' || *p == '\0') {
         if (p == path || p[-1] == '.' || (*p == '.' && p[1] == '\0')) {
            duet_error_set(error, 15998, "FieldPath field names may not be empty strings.");
            return NULL;
         }
         if (*p == '\0') {
            break;
         }
      }
   }
   char *full = prefix[0] ? bson_strdup_printf("%s.%s", prefix, path) : bson_strdup(path);
   field_spec_t *current = root;
   const char *start = path;
   for (const char *p = path;; p++) {
      if (*p != '.' && *p != '\0') {
         continue;
      }
      current = field_spec_child(current, start, (size_t)(p - start));
      if (*p == '\0') {
         break;
      }
      if (current->expr || current->include) {
         size_t keep = strlen(full) - strlen(p);
         char *existing = bson_strndup(full, keep);
         set_path_conflict(full, existing, raw_spec, error);
         bson_free(existing);
         bson_free(full);
         return NULL;
      }
      start = p + 1;
   }
   if (current->expr || current->include || current->count) {
      bson_string_t *existing = bson_string_new(full);
      smallest_leaf_path(current, existing);
      set_path_conflict(full, existing->str, raw_spec, error);
      bson_string_free(existing, true);
      bson_free(full);
      return NULL;
   }
   bson_free(full);
   return current;
}

/* Unchecked walk for $unset lists (repeated paths are harmless there). */
static field_spec_t *field_spec_path(field_spec_t *root, const char *path, duet_error_t *error)
{
   if (!path[0] || path[0] == '$') {
      duet_error_set(error, path[0] ? 16410 : 40352,
                     path[0] ? "FieldPath field names may not start with '$'. Consider using $getField or $setField."
                             : "FieldPath cannot be constructed with empty string");
      return NULL;
   }
   field_spec_t *current = root;
   const char *start = path;
   for (const char *p = path;; p++) {
      if (*p == '.' || *p == '\0') {
         if (p == start) {
            duet_error_set(error, 15998, "FieldPath field names may not be empty strings.");
            return NULL;
         }
         current = field_spec_child(current, start, (size_t)(p - start));
         if (*p == '\0') {
            return current;
         }
         start = p + 1;
      }
   }
}

static bool is_expression_object(const bson_value_t *value)
{
   bson_iter_t iter;
   return value->value_type == BSON_TYPE_DOCUMENT &&
          bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len) &&
          bson_iter_next(&iter) && bson_iter_key(&iter)[0] == '$';
}

static bool parse_add_fields(field_spec_t *level, const char *prefix, const bson_value_t *spec,
                             const bson_value_t *raw_spec, const duet_expr_scope_t *scope, duet_error_t *error)
{
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init_from_data(&iter, spec->value.v_doc.data, spec->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (prefix[0] && strchr(key, '.')) {
         bson_string_t *raw = bson_string_new(NULL);
         duet_update_format_value(raw, spec);
         duet_error_set(error, 40183, "cannot use dotted field name '%s' in a sub object: %s", key, raw->str);
         bson_string_free(raw, true);
         return false;
      }
      field_spec_t *node = field_spec_path_checked(level, prefix, key, raw_spec, error);
      if (!node) {
         return false;
      }
      const bson_value_t *value = bson_iter_value(&iter);
      if (value->value_type == BSON_TYPE_DOCUMENT && !is_expression_object(value)) {
         char *full = prefix[0] ? bson_strdup_printf("%s.%s", prefix, key) : bson_strdup(key);
         bool ok;
         if (value->value.v_doc.data_len <= 5) {
            duet_error_set(error, 40180, "an empty object is not a valid value. Found empty object at path %s", full);
            ok = false;
         } else {
            ok = parse_add_fields(node, full, value, raw_spec, scope, error);
         }
         bson_free(full);
         if (!ok) {
            return false;
         }
      } else if (!duet_expr_parse(value, scope, &node->expr, error)) {
         return false;
      }
   }
   return true;
}

/* ---- applying $addFields ---------------------------------------------------------- */

static bool add_fields_into(const field_spec_t *spec, duet_uelem_t *target, const bson_t *root,
                            const duet_expr_env_t *env, duet_error_t *error);

static bool add_field(const field_spec_t *child, duet_uelem_t *target, const bson_t *root, const duet_expr_env_t *env,
                      duet_error_t *error)
{
   duet_uelem_t *existing = duet_uelem_child(target, child->name);
   if (child->expr) {
      bson_value_t value;
      if (!duet_expr_evaluate(child->expr, root, env, &value, error)) {
         bson_value_destroy(&value);
         return false;
      }
      if (value.value_type == BSON_TYPE_EOD) {
         if (existing) {
            duet_uelem_remove_at(target, (size_t)duet_uelem_child_index(target, existing));
         }
      } else if (existing) {
         duet_uelem_set_value(existing, &value);
      } else {
         duet_uelem_push(target, duet_uelem_from_value(child->name, &value));
      }
      bson_value_destroy(&value);
      return true;
   }
   /* nested spec: merge into an existing document, map over an array of documents */
   if (!existing || (existing->type != BSON_TYPE_DOCUMENT && existing->type != BSON_TYPE_ARRAY)) {
      duet_uelem_t *doc = duet_uelem_new_container(child->name, BSON_TYPE_DOCUMENT);
      if (existing) {
         size_t at = (size_t)duet_uelem_child_index(target, existing);
         duet_uelem_remove_at(target, at);
         duet_uelem_insert(target, at, doc);
      } else {
         duet_uelem_push(target, doc);
      }
      existing = doc;
   }
   return add_fields_into(child, existing, root, env, error);
}

static bool add_fields_into(const field_spec_t *spec, duet_uelem_t *target, const bson_t *root,
                            const duet_expr_env_t *env, duet_error_t *error)
{
   if (target->type == BSON_TYPE_ARRAY) {
      for (size_t i = 0; i < target->count; i++) {
         duet_uelem_t *item = target->children[i];
         if (item->type == BSON_TYPE_DOCUMENT || item->type == BSON_TYPE_ARRAY) {
            if (!add_fields_into(spec, item, root, env, error)) {
               return false;
            }
         } else {
            /* a scalar element becomes a document with the new fields */
            duet_uelem_t *doc = duet_uelem_new_container("", BSON_TYPE_DOCUMENT);
            duet_uelem_remove_at(target, i);
            duet_uelem_insert(target, i, doc);
            if (!add_fields_into(spec, doc, root, env, error)) {
               return false;
            }
         }
      }
      return true;
   }
   for (size_t i = 0; i < spec->count; i++) {
      if (!add_field(&spec->children[i], target, root, env, error)) {
         return false;
      }
   }
   return true;
}

/* ---- $unset / $project ------------------------------------------------------------ */

static field_spec_t *project_path(field_spec_t *level, const char *prefix, const char *key, duet_error_t *error);

/* One $unset path: projection parsing errors come wrapped as "Invalid $unset :: caused by :: ...". */
static bool unset_path(pipeline_stage_t *stage, const char *path, duet_error_t *error)
{
   field_spec_t *node = project_path(&stage->root, "", path, error);
   if (!node) {
      duet_error_wrap(error, "Invalid $unset");
      return false;
   }
   node->include = true;
   return true;
}

static bool parse_unset_list(pipeline_stage_t *stage, const bson_value_t *spec, duet_error_t *error)
{
   if (spec->value_type == BSON_TYPE_UTF8) {
      return unset_path(stage, spec->value.v_utf8.str, error);
   }
   if (spec->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, 31002, "$unset specification must be a string or an array");
      return false;
   }
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init_from_data(&iter, spec->value.v_doc.data, spec->value.v_doc.data_len));
   bool any = false;
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         duet_error_set(error, 31120,
                        "$unset specification must be a string or an array containing only string values");
         return false;
      }
      if (!unset_path(stage, bson_iter_utf8(&iter, NULL), error)) {
         return false;
      }
      any = true;
   }
   if (!any) {
      duet_error_set(error, 31119, "$unset specification must be a string or an array with at least one field");
      return false;
   }
   return true;
}

static bool value_is_inclusion(const bson_value_t *value, bool *include)
{
   switch (value->value_type) {
   case BSON_TYPE_BOOL: *include = value->value.v_bool; return true;
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128: {
      bson_value_t zero = {.value_type = BSON_TYPE_INT32};
      *include = duet_value_compare(value, &zero) != 0;
      return true;
   }
   default: return false;
   }
}

/* Walks/creates a $project path below `level`; 31250 when it meets a path already given. */
static field_spec_t *project_path(field_spec_t *level, const char *prefix, const char *key, duet_error_t *error)
{
   field_spec_t *node = field_spec_path(level, key, error);
   if (!node) {
      return NULL;
   }
   bool collision = node->include || node->expr || node->count;
   /* a leaf on the way down (e.g. "a" then "a.b") */
   field_spec_t *walk = level;
   const char *start = key;
   for (const char *p = key; !collision && *p; p++) {
      if (*p == '.') {
         for (size_t i = 0; i < walk->count; i++) {
            if (strlen(walk->children[i].name) == (size_t)(p - start) &&
                strncmp(walk->children[i].name, start, (size_t)(p - start)) == 0) {
               walk = &walk->children[i];
               break;
            }
         }
         collision = walk->include || walk->expr;
         start = p + 1;
      }
   }
   if (collision) {
      duet_error_set(error, 31250, "Path collision at %s%s%s", prefix, prefix[0] ? "." : "", key);
      return NULL;
   }
   return node;
}

/* One level of a $project spec; *mode is 1 for inclusion, -1 for exclusion, 0 unknown yet. */
static bool parse_project_level(pipeline_stage_t *stage, field_spec_t *level, const char *prefix,
                                const bson_value_t *spec, int *mode, const duet_expr_scope_t *scope,
                                duet_error_t *error)
{
   bool top = prefix[0] == '\0';
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init_from_data(&iter, spec->value.v_doc.data, spec->value.v_doc.data_len));
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      const bson_value_t *value = bson_iter_value(&iter);
      bool include;
      bool is_inclusion = value_is_inclusion(value, &include);
      if (top && is_inclusion && strcmp(key, "_id") == 0) {
         stage->include_id = include; /* _id follows neither mode */
         continue;
      }
      char *full = top ? bson_strdup(key) : bson_strdup_printf("%s.%s", prefix, key);
      if (is_inclusion && *mode && (include ? 1 : -1) != *mode) {
         if (include) {
            duet_error_set(error, 31253, "Cannot do inclusion on field %s in exclusion projection", full);
         } else {
            duet_error_set(error, 31254, "Cannot do exclusion on field %s in inclusion projection", full);
         }
         bson_free(full);
         return false;
      }
      field_spec_t *node = project_path(level, prefix, key, error);
      bool ok = node != NULL;
      if (ok && is_inclusion) {
         *mode = include ? 1 : -1;
         node->include = true;
      } else if (ok && value->value_type == BSON_TYPE_DOCUMENT && !is_expression_object(value)) {
         if (value->value.v_doc.data_len <= 5) {
            duet_error_set(error, 40180, "an empty object is not a valid value. Found empty object at path %s", full);
            ok = false;
         } else {
            ok = parse_project_level(stage, node, full, value, mode, scope, error);
         }
      } else if (ok) {
         if (*mode == -1) {
            duet_error_set(error, 31252, "Cannot use expression other than $meta in exclusion projection");
            ok = false;
         } else {
            *mode = 1;
            ok = duet_expr_parse(value, scope, &node->expr, error);
         }
      }
      bson_free(full);
      if (!ok) {
         return false;
      }
   }
   return true;
}

static bool parse_project(pipeline_stage_t *stage, const bson_value_t *spec, const duet_expr_scope_t *scope,
                          duet_error_t *error)
{
   int mode = 0;
   stage->include_id = true;
   if (!parse_project_level(stage, &stage->root, "", spec, &mode, scope, error)) {
      return false;
   }
   if (mode == 0 && stage->include_id && stage->root.count == 0) {
      duet_error_set(error, 51272, "projection specification must have at least one field");
      return false;
   }
   stage->kind = mode == 1 ? STAGE_INCLUDE : STAGE_UNSET;
   if (stage->kind == STAGE_UNSET && !stage->include_id) {
      field_spec_t *id = field_spec_path(&stage->root, "_id", error);
      BSON_ASSERT(id);
      id->include = true;
   }
   return true;
}

static bool has_expr(const field_spec_t *spec)
{
   if (spec->expr) {
      return true;
   }
   for (size_t i = 0; i < spec->count; i++) {
      if (has_expr(&spec->children[i])) {
         return true;
      }
   }
   return false;
}

/* Computed fields of an inclusion projection, appended after the included ones. */
static bool add_computed(const field_spec_t *spec, duet_uelem_t *target, const bson_t *root, const duet_expr_env_t *env,
                         duet_error_t *error)
{
   if (target->type == BSON_TYPE_ARRAY) {
      for (size_t i = 0; i < target->count; i++) {
         duet_uelem_t *item = target->children[i];
         if ((item->type == BSON_TYPE_DOCUMENT || item->type == BSON_TYPE_ARRAY) &&
             !add_computed(spec, item, root, env, error)) {
            return false;
         }
      }
      return true;
   }
   for (size_t i = 0; i < spec->count; i++) {
      const field_spec_t *child = &spec->children[i];
      if (child->expr) {
         if (!add_field(child, target, root, env, error)) {
            return false;
         }
      } else if (child->count && has_expr(child)) {
         duet_uelem_t *existing = duet_uelem_child(target, child->name);
         if (!existing || (existing->type != BSON_TYPE_DOCUMENT && existing->type != BSON_TYPE_ARRAY)) {
            if (existing) {
               duet_uelem_remove_at(target, (size_t)duet_uelem_child_index(target, existing));
            }
            existing = duet_uelem_new_container(child->name, BSON_TYPE_DOCUMENT);
            duet_uelem_push(target, existing);
         }
         if (!add_computed(child, existing, root, env, error)) {
            return false;
         }
      }
   }
   return true;
}

static void unset_in(const field_spec_t *spec, duet_uelem_t *target)
{
   if (target->type == BSON_TYPE_ARRAY) {
      for (size_t i = 0; i < target->count; i++) {
         if (target->children[i]->type == BSON_TYPE_DOCUMENT || target->children[i]->type == BSON_TYPE_ARRAY) {
            unset_in(spec, target->children[i]);
         }
      }
      return;
   }
   for (size_t i = 0; i < spec->count; i++) {
      const field_spec_t *child = &spec->children[i];
      duet_uelem_t *existing = duet_uelem_child(target, child->name);
      if (!existing) {
         continue;
      }
      if (child->count == 0) {
         duet_uelem_remove_at(target, (size_t)duet_uelem_child_index(target, existing));
      } else if (existing->type == BSON_TYPE_DOCUMENT || existing->type == BSON_TYPE_ARRAY) {
         unset_in(child, existing);
      }
   }
}

/* Keeps only included paths (documents inside arrays are projected element by element). */
static void include_in(const field_spec_t *spec, duet_uelem_t *target, bool keep_id)
{
   if (target->type == BSON_TYPE_ARRAY) {
      for (size_t i = 0; i < target->count;) {
         duet_uelem_t *item = target->children[i];
         if (item->type == BSON_TYPE_DOCUMENT || item->type == BSON_TYPE_ARRAY) {
            include_in(spec, item, false);
            i++;
         } else {
            duet_uelem_remove_at(target, i);
         }
      }
      return;
   }
   for (size_t i = 0; i < target->count;) {
      duet_uelem_t *child = target->children[i];
      const field_spec_t *rule = NULL;
      for (size_t r = 0; r < spec->count; r++) {
         if (strcmp(spec->children[r].name, child->name) == 0) {
            rule = &spec->children[r];
         }
      }
      bool is_id = keep_id && strcmp(child->name, "_id") == 0;
      if (is_id || (rule && rule->include && rule->count == 0)) {
         i++;
      } else if (rule && rule->count && (child->type == BSON_TYPE_DOCUMENT || child->type == BSON_TYPE_ARRAY)) {
         include_in(rule, child, false);
         i++;
      } else {
         duet_uelem_remove_at(target, i);
      }
   }
}

/* ---- compile / apply ------------------------------------------------------------- */

/* Stage names MongoDB's Pipeline::parse knows (the rest fail with 40324). */
static bool is_known_stage(const char *name)
{
   static const char *const stages[] = {
       "$match",
       "$group",
       "$sort",
       "$limit",
       "$skip",
       "$count",
       "$unwind",
       "$lookup",
       "$out",
       "$merge",
       "$facet",
       "$bucket",
       "$bucketAuto",
       "$sortByCount",
       "$sample",
       "$geoNear",
       "$graphLookup",
       "$unionWith",
       "$redact",
       "$documents",
       "$densify",
       "$setWindowFields",
       "$indexStats",
       "$collStats",
       "$currentOp",
       "$listSessions",
       "$listLocalSessions",
       "$planCacheStats",
       "$changeStream",
       "$search",
       "$searchMeta",
       "$vectorSearch",
       "$listSearchIndexes",
       "$changeStreamSplitLargeEvent",
   };
   for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
      if (strcmp(stages[i], name) == 0) {
         return true;
      }
   }
   return false;
}

static bool compile_stage(pipeline_stage_t *stage, const bson_value_t *value, const duet_expr_scope_t *scope,
                          duet_error_t *error)
{
   bson_iter_t iter;
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Each element of the 'pipeline' array must be an object");
      return false;
   }
   if (!bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len) ||
       !bson_iter_next(&iter)) {
      duet_error_set(error, 40323, "A pipeline stage specification object must contain exactly one field.");
      return false;
   }
   const char *name = bson_iter_key(&iter);
   const bson_value_t *spec = bson_iter_value(&iter);
   bson_iter_t extra = iter;
   if (bson_iter_next(&extra)) {
      duet_error_set(error, 40323, "A pipeline stage specification object must contain exactly one field.");
      return false;
   }
   if (strcmp(name, "$addFields") == 0 || strcmp(name, "$set") == 0) {
      stage->kind = STAGE_ADD_FIELDS;
      stage->name = name[1] == 'a' ? "$addFields" : "$set";
      if (spec->value_type != BSON_TYPE_DOCUMENT) {
         duet_error_set(error, 40272, "%s specification stage must be an object, got %s", stage->name,
                        duet_type_name(spec->value_type));
         return false;
      }
      if (!parse_add_fields(&stage->root, "", spec, spec, scope, error)) {
         duet_error_wrap(error, "Invalid %s", stage->name);
         return false;
      }
      return true;
   }
   if (strcmp(name, "$unset") == 0) {
      stage->kind = STAGE_UNSET;
      stage->name = "$unset";
      return parse_unset_list(stage, spec, error);
   }
   if (strcmp(name, "$project") == 0) {
      stage->name = "$project";
      if (spec->value_type != BSON_TYPE_DOCUMENT) {
         duet_error_set(error, 15969, "$project specification must be an object");
         return false;
      }
      if (!parse_project(stage, spec, scope, error)) {
         duet_error_wrap(error, "Invalid $project");
         return false;
      }
      return true;
   }
   if (strcmp(name, "$replaceRoot") == 0 || strcmp(name, "$replaceWith") == 0) {
      stage->kind = STAGE_REPLACE_ROOT;
      stage->name = name[8] == 'R' ? "$replaceRoot" : "$replaceWith";
      const bson_value_t *root_spec = spec;
      bson_value_t new_root;
      if (stage->name[8] == 'R') {
         bson_iter_t fields;
         if (spec->value_type != BSON_TYPE_DOCUMENT) {
            duet_error_set(error, 40229, "expected an object as specification for $replaceRoot stage, got %s",
                           duet_type_name(spec->value_type));
            return false;
         }
         BSON_ASSERT(bson_iter_init_from_data(&fields, spec->value.v_doc.data, spec->value.v_doc.data_len));
         bool found = false;
         while (bson_iter_next(&fields)) {
            if (strcmp(bson_iter_key(&fields), "newRoot") != 0) {
               duet_error_set(error, 40415, "BSON field '$replaceRoot.%s' is an unknown field.",
                              bson_iter_key(&fields));
               return false;
            }
            new_root = *bson_iter_value(&fields);
            found = true;
         }
         if (!found) {
            duet_error_set(error, 40414, "BSON field '$replaceRoot.newRoot' is missing but a required field");
            return false;
         }
         root_spec = &new_root;
      }
      return duet_expr_parse(root_spec, scope, &stage->new_root, error);
   }
   if (strcmp(name, "$fill") == 0) {
      /* MongoDB admits $fill here; duet does not implement it */
      duet_error_set(error, DUET_ERR_INVALID_PIPELINE_OPERATOR, "$fill is not supported in pipeline-style updates");
      return false;
   }
   if (!is_known_stage(name)) {
      duet_error_set(error, 40324, "Unrecognized pipeline stage name: '%s'", name);
      return false;
   }
   duet_error_set(error, DUET_ERR_INVALID_OPTIONS, "%s is not allowed to be used within an update", name);
   return false;
}

bool duet_update_pipeline_compile(duet_update_t *update, const bson_t *pipeline_spec, const duet_expr_scope_t *scope,
                                  duet_error_t *error)
{
   pipeline_t *pipeline = bson_malloc0(sizeof *pipeline);
   update->pipeline = pipeline;
   uint32_t n = bson_count_keys(pipeline_spec);
   pipeline->stages = bson_malloc0((n ? n : 1) * sizeof *pipeline->stages);
   bson_iter_t iter;
   BSON_ASSERT(bson_iter_init(&iter, pipeline_spec));
   while (bson_iter_next(&iter)) {
      pipeline_stage_t *stage = &pipeline->stages[pipeline->count++];
      if (!compile_stage(stage, bson_iter_value(&iter), scope, error)) {
         return false;
      }
   }
   return true;
}

void duet_update_pipeline_free(void *opaque)
{
   pipeline_t *pipeline = opaque;
   if (!pipeline) {
      return;
   }
   for (size_t i = 0; i < pipeline->count; i++) {
      field_spec_clear(&pipeline->stages[i].root);
      duet_expr_destroy(pipeline->stages[i].new_root);
   }
   bson_free(pipeline->stages);
   bson_free(pipeline);
}

static bool replace_root(const pipeline_stage_t *stage, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                         duet_error_t *error)
{
   bson_value_t value;
   if (!duet_expr_evaluate(stage->new_root, doc, env, &value, error)) {
      bson_value_destroy(&value);
      return false;
   }
   if (value.value_type != BSON_TYPE_DOCUMENT) {
      /* Value::toString / Document::toString renderings, as mongod 8.2 prints them */
      bson_value_t whole = {.value_type = BSON_TYPE_DOCUMENT};
      whole.value.v_doc.data = (uint8_t *)bson_get_data(doc);
      whole.value.v_doc.data_len = doc->len;
      char *input = duet_expr_value_to_string(&whole);
      char *shown = value.value_type == BSON_TYPE_EOD ? bson_strdup("MISSING") : duet_expr_value_to_string(&value);
      duet_error_set(error, 40228,
                     "%s must evaluate to an object, but resulting value was: %s. Type of resulting value: '%s'. Input "
                     "document: %s",
                     strcmp(stage->name, "$replaceRoot") == 0 ? "'newRoot' expression " : "'replacement document'",
                     shown, duet_type_name(value.value_type), input);
      bson_free(shown);
      bson_free(input);
      bson_value_destroy(&value);
      return false;
   }
   bson_t result;
   BSON_ASSERT(bson_init_static(&result, value.value.v_doc.data, value.value.v_doc.data_len));
   bson_copy_to(&result, out);
   bson_value_destroy(&value);
   return true;
}

bool duet_update_pipeline_apply(const duet_update_t *update, const bson_t *old_doc, const duet_expr_env_t *env_in,
                                bson_t *new_doc, duet_error_t *error)
{
   const pipeline_t *pipeline = update->pipeline;
   duet_expr_env_t env = *env_in;
   bson_copy_to(old_doc, new_doc);
   for (size_t i = 0; i < pipeline->count; i++) {
      const pipeline_stage_t *stage = &pipeline->stages[i];
      bson_t next;
      if (stage->kind == STAGE_REPLACE_ROOT) {
         if (!replace_root(stage, new_doc, &env, &next, error)) {
            return false;
         }
      } else {
         duet_uelem_t *root = duet_uelem_from_bson(new_doc);
         bool ok = true;
         if (stage->kind == STAGE_ADD_FIELDS) {
            ok = add_fields_into(&stage->root, root, new_doc, &env, error);
         } else if (stage->kind == STAGE_UNSET) {
            unset_in(&stage->root, root);
         } else {
            include_in(&stage->root, root, stage->include_id);
            ok = add_computed(&stage->root, root, new_doc, &env, error);
         }
         if (!ok) {
            duet_uelem_free(root);
            return false;
         }
         bson_init(&next);
         duet_uelem_write_children(root, &next);
         duet_uelem_free(root);
      }
      bson_destroy(new_doc);
      bson_steal(new_doc, &next);
   }
   return true;
}
