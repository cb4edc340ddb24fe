/*
 * schema_diff.c — compares two schema sets and classifies each difference per the
 * App Services "Update a data model" table (server-side / client-side verdicts and
 * the prescribed handling) with the line Realm's schema-difference explainer prints
 * (realm-core object_store.cpp, see docs/diff.md).
 *
 * Order of changes: for each old object type in written order (removed, renamed or
 * compared), then added object types in written order.  Within an object type: each
 * old property in written order (removed / renamed / type / status / default, then
 * its embedded object's properties), then added properties in written order — the
 * order realm-core's Schema::compare uses.
 */
#include "schema/schema_internal.h"

#include <duet/doc.h>

#include <string.h>

typedef struct {
   const duet_schema_diff_options_t *options;
   bool *property_rename_used; /* one per options->property_renames */
   duet_schema_diff_t *diff;
   size_t capacity;
   const duet_schema_t *old_schema; /* the pair being compared */
   const duet_schema_t *new_schema;
   duet_error_t *error;
   bool failed; /* error is set */
} diff_context_t;

static const struct {
   const char *name;
   const char *title;
   duet_schema_verdict_t server;
   duet_schema_verdict_t client;
   duet_schema_handling_t handling;
} kind_rules[] = {
    [DUET_CHANGE_ADD_OBJECT_TYPE] = {"add_object_type", "add object type", DUET_VERDICT_NON_BREAKING,
                                     DUET_VERDICT_NON_BREAKING, DUET_HANDLING_APPLY},
    [DUET_CHANGE_ADD_DEFAULT_VALUE] = {"add_default_value", "add default value", DUET_VERDICT_NON_BREAKING,
                                       DUET_VERDICT_NON_BREAKING, DUET_HANDLING_APPLY},
    [DUET_CHANGE_ADD_REQUIRED_PROPERTY] = {"add_required_property", "add required property", DUET_VERDICT_NON_BREAKING,
                                           DUET_VERDICT_NON_BREAKING, DUET_HANDLING_APPLY_UPDATE_DOCUMENTS},
    [DUET_CHANGE_ADD_OPTIONAL_PROPERTY] = {"add_optional_property", "add optional property", DUET_VERDICT_NON_BREAKING,
                                           DUET_VERDICT_NON_BREAKING, DUET_HANDLING_APPLY},
    [DUET_CHANGE_REMOVE_OBJECT_TYPE] = {"remove_object_type", "remove object type", DUET_VERDICT_BREAKING,
                                        DUET_VERDICT_NON_BREAKING, DUET_HANDLING_CLIENT_ONLY},
    [DUET_CHANGE_REMOVE_PROPERTY] = {"remove_property", "remove property", DUET_VERDICT_BREAKING,
                                     DUET_VERDICT_NON_BREAKING, DUET_HANDLING_CLIENT_ONLY},
    [DUET_CHANGE_RENAME_OBJECT_TYPE] = {"rename_object_type", "rename object type", DUET_VERDICT_BREAKING,
                                        DUET_VERDICT_BREAKING, DUET_HANDLING_REMAP_NAME},
    [DUET_CHANGE_RENAME_PROPERTY] = {"rename_property", "rename property", DUET_VERDICT_BREAKING, DUET_VERDICT_BREAKING,
                                     DUET_HANDLING_REMAP_NAME},
    [DUET_CHANGE_CHANGE_PROPERTY_TYPE] = {"change_property_type", "change property type", DUET_VERDICT_BREAKING,
                                          DUET_VERDICT_BREAKING, DUET_HANDLING_PARTNER_COLLECTION},
    [DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED] = {"change_optional_required", "change optional/required",
                                              DUET_VERDICT_BREAKING, DUET_VERDICT_BREAKING,
                                              DUET_HANDLING_PARTNER_COLLECTION},
    [DUET_CHANGE_CHANGE_DEFAULT_VALUE] = {"change_default_value", "change default value", DUET_VERDICT_NON_BREAKING,
                                          DUET_VERDICT_NON_BREAKING, DUET_HANDLING_APPLY},
    [DUET_CHANGE_REMOVE_DEFAULT_VALUE] = {"remove_default_value", "remove default value", DUET_VERDICT_NON_BREAKING,
                                          DUET_VERDICT_NON_BREAKING, DUET_HANDLING_APPLY},
};

const char *duet_schema_change_kind_name(duet_schema_change_kind_t kind)
{
   return kind_rules[kind].name;
}

const char *duet_schema_change_kind_title(duet_schema_change_kind_t kind)
{
   return kind_rules[kind].title;
}

const char *duet_schema_verdict_name(duet_schema_verdict_t verdict)
{
   return verdict == DUET_VERDICT_BREAKING ? "breaking" : "non-breaking";
}

const char *duet_schema_handling_name(duet_schema_handling_t handling)
{
   switch (handling) {
   case DUET_HANDLING_APPLY: return "apply";
   case DUET_HANDLING_APPLY_UPDATE_DOCUMENTS: return "apply_and_update_documents";
   case DUET_HANDLING_CLIENT_ONLY: return "remove_from_client_only";
   case DUET_HANDLING_REMAP_NAME: return "remap_name_in_client";
   case DUET_HANDLING_PARTNER_COLLECTION:
   default: return "partner_collection";
   }
}

char *duet_schema_change_handling_text(const duet_schema_change_t *change)
{
   switch (change->handling) {
   case DUET_HANDLING_APPLY: return bson_strdup("apply as is");
   case DUET_HANDLING_APPLY_UPDATE_DOCUMENTS: {
      char *value = duet_schema_value_to_json(&change->update_value);
      char *text = bson_strdup_printf(
          "apply, then update existing documents that lack '%s' with %s %s", change->property,
          change->update_value_source == DUET_VALUE_DEFAULT ? "its default value" : "the zero value of its type,",
          value);
      bson_free(value);
      return text;
   }
   case DUET_HANDLING_CLIENT_ONLY:
      return bson_strdup("remove it only from the client object model; keep it in the server-side schema");
   case DUET_HANDLING_REMAP_NAME:
      return bson_strdup("keep the old name on the server and remap the name in the client SDK (or use a partner "
                         "collection)");
   case DUET_HANDLING_PARTNER_COLLECTION:
   default: return bson_strdup("partner collection (or terminate sync, update documents and client reset)");
   }
}

/* ---- building changes ---------------------------------------------------------- */

static duet_schema_change_t *add_change(diff_context_t *context, duet_schema_change_kind_t kind,
                                        const char *object_type, const char *property)
{
   duet_schema_diff_t *diff = context->diff;
   if (diff->change_count == context->capacity) {
      context->capacity = context->capacity ? 2 * context->capacity : 8;
      diff->changes = bson_realloc(diff->changes, context->capacity * sizeof *diff->changes);
   }
   duet_schema_change_t *change = &diff->changes[diff->change_count++];
   memset(change, 0, sizeof *change);
   change->kind = kind;
   const duet_schema_t *schema = context->old_schema ? context->old_schema : context->new_schema;
   change->collection = bson_strdup(schema->collection);
   change->object_type = bson_strdup(object_type);
   change->property = property ? bson_strdup(property) : NULL;
   change->server = kind_rules[kind].server;
   change->client = kind_rules[kind].client;
   change->handling = kind_rules[kind].handling;
   change->old_schema = context->old_schema;
   change->new_schema = context->new_schema;
   return change;
}

static char *join_path(const char *prefix, const char *name)
{
   return prefix[0] ? bson_strdup_printf("%s.%s", prefix, name) : bson_strdup(name);
}

/* Does rename hint `rename` apply to the pair being compared? */
static bool rename_names_pair(const diff_context_t *context, const duet_schema_rename_t *rename)
{
   const duet_schema_t *schemas[2] = {context->old_schema, context->new_schema};
   for (int i = 0; i < 2; i++) {
      if (schemas[i] && (strcmp(rename->collection, schemas[i]->collection) == 0 ||
                         strcmp(rename->collection, schemas[i]->root.title) == 0)) {
         return true;
      }
   }
   return false;
}

/* The leaf name a property at `path` is renamed to, or NULL. */
static const char *renamed_to(diff_context_t *context, const char *path)
{
   const duet_schema_diff_options_t *options = context->options;
   for (size_t i = 0; options && i < options->property_rename_count; i++) {
      const duet_schema_rename_t *rename = &options->property_renames[i];
      if (strcmp(rename->from, path) == 0 && rename_names_pair(context, rename)) {
         context->property_rename_used[i] = true;
         const char *leaf = strrchr(rename->to, '.');
         return leaf ? leaf + 1 : rename->to;
      }
   }
   return NULL;
}

/* Is `name` (in object at `prefix`) the target of a rename hint for this pair? */
static bool is_rename_target(const diff_context_t *context, const char *prefix, const char *name)
{
   const duet_schema_diff_options_t *options = context->options;
   char *path = join_path(prefix, name);
   bool found = false;
   for (size_t i = 0; options && i < options->property_rename_count && !found; i++) {
      const duet_schema_rename_t *rename = &options->property_renames[i];
      found = strcmp(rename->to, path) == 0 && rename_names_pair(context, rename);
   }
   bson_free(path);
   return found;
}

static bool is_primary_key(const char *prefix, const char *name)
{
   return prefix[0] == '\0' && strcmp(name, "_id") == 0;
}

static void compare_objects(diff_context_t *context, const duet_schema_object_t *old_object,
                            const duet_schema_object_t *new_object, const char *prefix);

static void compare_property(diff_context_t *context, const char *object_type, const char *prefix,
                             const duet_schema_property_t *old_property, const duet_schema_property_t *new_property)
{
   char *path = join_path(prefix, old_property->name);
   const duet_schema_type_t *old_type = &old_property->type, *new_type = &new_property->type;
   if (!duet_schema_type_equal(old_type, new_type)) {
      duet_schema_change_t *change = add_change(context, DUET_CHANGE_CHANGE_PROPERTY_TYPE, object_type, path);
      change->old_property = old_property;
      change->new_property = new_property;
      change->primary_key = is_primary_key(prefix, old_property->name);
      change->from = duet_schema_type_spelling(old_type);
      change->to = duet_schema_type_spelling(new_type);
      char *old_realm = duet_schema_type_realm_name(old_type);
      char *new_realm = duet_schema_type_realm_name(new_type);
      if (strcmp(old_realm, new_realm) == 0) {
         /* int <-> long: one Realm type ('int'); the client model does not change. */
         change->client = DUET_VERDICT_NON_BREAKING;
         change->note = bson_strdup_printf("bsonTypes '%s' and '%s' are both Realm '%s': client models are "
                                           "unchanged, but existing documents must be converted on the server",
                                           change->from, change->to, old_realm);
      } else {
         change->message = bson_strdup_printf("Property '%s.%s' has been changed from '%s' to '%s'.", object_type,
                                              new_property->name, old_realm, new_realm);
      }
      bson_free(old_realm);
      bson_free(new_realm);
      bson_free(path);
      return; /* realm-core skips the other checks of a property whose type changed */
   }
   if (old_property->required != new_property->required) {
      duet_schema_change_t *change = add_change(context, DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED, object_type, path);
      change->old_property = old_property;
      change->new_property = new_property;
      change->primary_key = is_primary_key(prefix, old_property->name);
      change->from = bson_strdup(old_property->required ? "required" : "optional");
      change->to = bson_strdup(new_property->required ? "required" : "optional");
      change->message = bson_strdup_printf("Property '%s.%s' has been made %s.", object_type, new_property->name,
                                           new_property->required ? "required" : "optional");
   }
   if (old_property->has_default || new_property->has_default) {
      duet_schema_change_kind_t kind;
      bool changed = true;
      if (!old_property->has_default) {
         kind = DUET_CHANGE_ADD_DEFAULT_VALUE;
      } else if (!new_property->has_default) {
         kind = DUET_CHANGE_REMOVE_DEFAULT_VALUE;
      } else {
         kind = DUET_CHANGE_CHANGE_DEFAULT_VALUE;
         changed = old_property->default_value.value_type != new_property->default_value.value_type ||
                   !duet_value_equal(&old_property->default_value, &new_property->default_value);
      }
      if (changed) {
         duet_schema_change_t *change = add_change(context, kind, object_type, path);
         change->old_property = old_property;
         change->new_property = new_property;
         change->primary_key = is_primary_key(prefix, old_property->name);
         change->from = old_property->has_default ? duet_schema_value_to_json(&old_property->default_value) : NULL;
         change->to = new_property->has_default ? duet_schema_value_to_json(&new_property->default_value) : NULL;
         if (kind == DUET_CHANGE_REMOVE_DEFAULT_VALUE && new_property->required) {
            change->note = bson_strdup("clients no longer fill this required property in documents that lack it; "
                                       "those documents stop syncing until they get a value");
         }
      }
   }
   if (old_type->element == DUET_SCHEMA_OBJECT && old_type->object && new_type->object) {
      compare_objects(context, old_type->object, new_type->object, path);
   }
   bson_free(path);
}

static void add_property_change(diff_context_t *context, const char *object_type, const char *prefix,
                                const duet_schema_property_t *property)
{
   char *path = join_path(prefix, property->name);
   duet_schema_change_t *change =
       add_change(context, property->required ? DUET_CHANGE_ADD_REQUIRED_PROPERTY : DUET_CHANGE_ADD_OPTIONAL_PROPERTY,
                  object_type, path);
   change->new_property = property;
   change->to = duet_schema_type_spelling(&property->type);
   change->primary_key = is_primary_key(prefix, property->name);
   change->message = bson_strdup_printf("Property '%s.%s' has been added.", object_type, property->name);
   if (property->required) {
      if (property->has_default) {
         change->update_value_source = DUET_VALUE_DEFAULT;
         bson_value_copy(&property->default_value, &change->update_value);
      } else {
         change->update_value_source = DUET_VALUE_ZERO;
         duet_schema_type_zero_value(&property->type, &change->update_value);
      }
   }
   if (change->primary_key) {
      /* realm-core: ChangePrimaryKey is rejected in additive mode. */
      duet_schema_append(&change->message, "\nPrimary Key for class '%s' has been added.", object_type);
      change->client = DUET_VERDICT_BREAKING;
      change->handling = DUET_HANDLING_PARTNER_COLLECTION;
   }
   bson_free(path);
}

static void remove_property_change(diff_context_t *context, const char *object_type, const char *prefix,
                                   const duet_schema_property_t *property)
{
   char *path = join_path(prefix, property->name);
   duet_schema_change_t *change = add_change(context, DUET_CHANGE_REMOVE_PROPERTY, object_type, path);
   change->old_property = property;
   change->from = duet_schema_type_spelling(&property->type);
   change->primary_key = is_primary_key(prefix, property->name);
   change->message = bson_strdup_printf("Property '%s.%s' has been removed.", object_type, property->name);
   if (change->primary_key) {
      duet_schema_append(&change->message, "\nPrimary Key for class '%s' has been removed.", object_type);
      change->client = DUET_VERDICT_BREAKING;
      change->handling = DUET_HANDLING_PARTNER_COLLECTION;
   }
   bson_free(path);
}

/* Adds notes suggesting --rename to removed/added property pairs of one type, among the
 * changes made since `first`. */
static void suggest_property_renames(diff_context_t *context, size_t first)
{
   duet_schema_diff_t *diff = context->diff;
   for (size_t i = first; i < diff->change_count; i++) {
      duet_schema_change_t *removed = &diff->changes[i];
      if (removed->kind != DUET_CHANGE_REMOVE_PROPERTY || removed->note) {
         continue;
      }
      for (size_t j = first; j < diff->change_count; j++) {
         duet_schema_change_t *added = &diff->changes[j];
         if ((added->kind != DUET_CHANGE_ADD_REQUIRED_PROPERTY && added->kind != DUET_CHANGE_ADD_OPTIONAL_PROPERTY) ||
             added->note || strcmp(added->object_type, removed->object_type) != 0 ||
             !duet_schema_type_equal(&removed->old_property->type, &added->new_property->type)) {
            continue;
         }
         const char *collection = removed->collection;
         removed->note = bson_strdup_printf("'%s' was added with the same type; if '%s' was renamed, run again with "
                                            "--rename %s.%s=%s.%s",
                                            added->property, removed->property, collection, removed->property,
                                            collection, added->property);
         added->note =
             bson_strdup_printf("'%s' was removed with the same type; if this is a rename, run again with "
                                "--rename %s.%s=%s.%s",
                                removed->property, collection, removed->property, collection, added->property);
         break;
      }
   }
}

static void compare_objects(diff_context_t *context, const duet_schema_object_t *old_object,
                            const duet_schema_object_t *new_object, const char *prefix)
{
   const char *object_type = new_object->title;
   size_t first = context->diff->change_count;
   for (size_t i = 0; i < old_object->property_count; i++) {
      const duet_schema_property_t *old_property = &old_object->properties[i];
      char *path = join_path(prefix, old_property->name);
      const char *new_name = renamed_to(context, path);
      const duet_schema_property_t *new_property =
          duet_schema_object_find(new_object, new_name ? new_name : old_property->name);
      if (new_name && new_property) {
         duet_schema_change_t *change = add_change(context, DUET_CHANGE_RENAME_PROPERTY, object_type, path);
         change->old_property = old_property;
         change->new_property = new_property;
         change->primary_key = is_primary_key(prefix, old_property->name);
         change->from = bson_strdup(path);
         change->to = join_path(prefix, new_name);
         change->message = bson_strdup_printf("Property '%s.%s' has been removed.\nProperty '%s.%s' has been added.",
                                              object_type, old_property->name, object_type, new_name);
         compare_property(context, object_type, prefix, old_property, new_property);
      } else if (new_name) {
         if (!context->failed) {
            duet_error_set(context->error, DUET_ERR_BAD_VALUE,
                           "--rename: '%s' of '%s' is renamed to '%s', which the new schema does not define; name "
                           "a property the new schema has",
                           path, context->old_schema->collection, new_name);
            context->failed = true;
         }
      } else if (!new_property) {
         remove_property_change(context, object_type, prefix, old_property);
      } else {
         compare_property(context, object_type, prefix, old_property, new_property);
      }
      bson_free(path);
   }
   for (size_t i = 0; i < new_object->property_count; i++) {
      const duet_schema_property_t *new_property = &new_object->properties[i];
      if (!duet_schema_object_find(old_object, new_property->name) &&
          !is_rename_target(context, prefix, new_property->name)) {
         add_property_change(context, object_type, prefix, new_property);
      }
   }
   suggest_property_renames(context, first);
}

/* ---- object types ----------------------------------------------------------------- */

static const duet_schema_rename_t *collection_rename_for(const duet_schema_diff_options_t *options,
                                                         const duet_schema_t *schema)
{
   for (size_t i = 0; options && i < options->collection_rename_count; i++) {
      const duet_schema_rename_t *rename = &options->collection_renames[i];
      if (strcmp(rename->from, schema->root.title) == 0 || strcmp(rename->from, schema->collection) == 0) {
         return rename;
      }
   }
   return NULL;
}

static bool same_property_names(const duet_schema_object_t *a, const duet_schema_object_t *b)
{
   if (a->property_count != b->property_count) {
      return false;
   }
   for (size_t i = 0; i < a->property_count; i++) {
      if (!duet_schema_object_find(b, a->properties[i].name)) {
         return false;
      }
   }
   return true;
}

static void suggest_collection_renames(diff_context_t *context, size_t removed_count, size_t added_count)
{
   duet_schema_diff_t *diff = context->diff;
   for (size_t i = 0; i < diff->change_count; i++) {
      duet_schema_change_t *removed = &diff->changes[i];
      if (removed->kind != DUET_CHANGE_REMOVE_OBJECT_TYPE) {
         continue;
      }
      for (size_t j = 0; j < diff->change_count; j++) {
         duet_schema_change_t *added = &diff->changes[j];
         if (added->kind != DUET_CHANGE_ADD_OBJECT_TYPE || added->note) {
            continue;
         }
         if ((removed_count == 1 && added_count == 1) ||
             same_property_names(&removed->old_schema->root, &added->new_schema->root)) {
            removed->note = bson_strdup_printf("'%s' was added; if it replaces '%s', run again with "
                                               "--rename-collection %s=%s",
                                               added->new_schema->collection, removed->old_schema->collection,
                                               removed->old_schema->collection, added->new_schema->collection);
            added->note = bson_strdup_printf("'%s' was removed; if this type replaces it, run again with "
                                             "--rename-collection %s=%s",
                                             removed->old_schema->collection, removed->old_schema->collection,
                                             added->new_schema->collection);
            break;
         }
      }
   }
}

bool duet_schema_diff(const duet_schema_set_t *old_set, const duet_schema_set_t *new_set,
                      const duet_schema_diff_options_t *options, duet_schema_diff_t **out, duet_error_t *error)
{
   *out = NULL;
   diff_context_t context = {options, NULL, bson_malloc0(sizeof(duet_schema_diff_t)), 0, NULL, NULL, error, false};
   size_t rename_count = options ? options->property_rename_count : 0;
   context.property_rename_used = bson_malloc0((rename_count ? rename_count : 1) * sizeof(bool));
   bool *new_matched = bson_malloc0((new_set->schema_count ? new_set->schema_count : 1) * sizeof(bool));
   size_t removed_count = 0, added_count = 0;
   bool ok = true;

   /* Every collection rename must name an old and a new type. */
   for (size_t i = 0; options && i < options->collection_rename_count && ok; i++) {
      const duet_schema_rename_t *rename = &options->collection_renames[i];
      if (!duet_schema_set_find(old_set, rename->from)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "--rename-collection %s=%s: %s has no object type or collection '%s'; name one it defines",
                        rename->from, rename->to, old_set->source, rename->from);
         ok = false;
      } else if (!duet_schema_set_find(new_set, rename->to)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "--rename-collection %s=%s: %s has no object type or collection '%s'; name one it defines",
                        rename->from, rename->to, new_set->source, rename->to);
         ok = false;
      }
   }

   for (size_t i = 0; ok && i < old_set->schema_count; i++) {
      const duet_schema_t *old_schema = &old_set->schemas[i];
      const duet_schema_rename_t *rename = collection_rename_for(options, old_schema);
      const duet_schema_t *new_schema = duet_schema_set_find(new_set, rename ? rename->to : old_schema->root.title);
      if (new_schema && new_matched[new_schema - new_set->schemas]) {
         new_schema = NULL; /* already paired through a rename */
      }
      context.old_schema = old_schema;
      context.new_schema = new_schema;
      if (!new_schema) {
         duet_schema_change_t *change =
             add_change(&context, DUET_CHANGE_REMOVE_OBJECT_TYPE, old_schema->root.title, NULL);
         change->from = bson_strdup(old_schema->root.title);
         change->message = bson_strdup_printf("Class '%s' has been removed.", old_schema->root.title);
         removed_count++;
         continue;
      }
      new_matched[new_schema - new_set->schemas] = true;
      if (strcmp(old_schema->root.title, new_schema->root.title) != 0) {
         duet_schema_change_t *change =
             add_change(&context, DUET_CHANGE_RENAME_OBJECT_TYPE, new_schema->root.title, NULL);
         change->from = bson_strdup(old_schema->root.title);
         change->to = bson_strdup(new_schema->root.title);
         change->message = bson_strdup_printf("Class '%s' has been removed.\nClass '%s' has been added.",
                                              old_schema->root.title, new_schema->root.title);
      }
      compare_objects(&context, &old_schema->root, &new_schema->root, "");
   }
   for (size_t i = 0; ok && i < new_set->schema_count; i++) {
      if (new_matched[i]) {
         continue;
      }
      const duet_schema_t *new_schema = &new_set->schemas[i];
      context.old_schema = NULL;
      context.new_schema = new_schema;
      duet_schema_change_t *change = add_change(&context, DUET_CHANGE_ADD_OBJECT_TYPE, new_schema->root.title, NULL);
      change->to = bson_strdup(new_schema->root.title);
      change->message = bson_strdup_printf("Class '%s' has been added.", new_schema->root.title);
      added_count++;
   }
   if (ok && context.failed) {
      ok = false;
   }
   for (size_t i = 0; ok && i < rename_count; i++) {
      if (!context.property_rename_used[i]) {
         const duet_schema_rename_t *rename = &options->property_renames[i];
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "--rename %s.%s=%s.%s: no property '%s' of '%s' in %s is renamed to '%s' in %s; name an "
                        "existing property on both sides",
                        rename->collection, rename->from, rename->collection, rename->to, rename->from,
                        rename->collection, old_set->source, rename->to, new_set->source);
         ok = false;
      }
   }
   if (ok) {
      suggest_collection_renames(&context, removed_count, added_count);
      for (size_t i = 0; i < context.diff->change_count; i++) {
         const duet_schema_change_t *change = &context.diff->changes[i];
         if (change->server == DUET_VERDICT_BREAKING || change->client == DUET_VERDICT_BREAKING) {
            context.diff->breaking = true;
         }
      }
   }
   bson_free(new_matched);
   bson_free(context.property_rename_used);
   if (!ok) {
      duet_schema_diff_destroy(context.diff);
      return false;
   }
   *out = context.diff;
   return true;
}

void duet_schema_diff_destroy(duet_schema_diff_t *diff)
{
   if (!diff) {
      return;
   }
   for (size_t i = 0; i < diff->change_count; i++) {
      duet_schema_change_t *change = &diff->changes[i];
      bson_free(change->collection);
      bson_free(change->object_type);
      bson_free(change->property);
      bson_free(change->from);
      bson_free(change->to);
      bson_free(change->message);
      bson_free(change->note);
      if (change->update_value_source != DUET_VALUE_NONE) {
         bson_value_destroy(&change->update_value);
      }
   }
   bson_free(diff->changes);
   bson_free(diff);
}

/* ---- rename hints ------------------------------------------------------------------- */

void duet_schema_rename_clear(duet_schema_rename_t *rename)
{
   bson_free(rename->collection);
   bson_free(rename->from);
   bson_free(rename->to);
   memset(rename, 0, sizeof *rename);
}

bool duet_schema_rename_parse(const char *spec, bool is_collection, duet_schema_rename_t *out, duet_error_t *error)
{
   memset(out, 0, sizeof *out);
   const char *equals = strchr(spec, '=');
   const char *option = is_collection ? "--rename-collection" : "--rename";
   const char *shape = is_collection ? "Old=New" : "Collection.old=Collection.new";
   if (!equals || equals == spec || equals[1] == '\0' || strchr(equals + 1, '=')) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s '%s': expected %s", option, spec, shape);
      return false;
   }
   char *left = bson_strndup(spec, (size_t)(equals - spec));
   char *right = bson_strdup(equals + 1);
   if (is_collection) {
      out->from = left;
      out->to = right;
      return true;
   }
   char *left_dot = strchr(left, '.');
   if (!left_dot || left_dot == left || left_dot[1] == '\0') {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "--rename '%s': expected %s (the collection, a dot, the property)",
                     spec, shape);
      bson_free(left);
      bson_free(right);
      return false;
   }
   *left_dot = '\0';
   out->collection = bson_strdup(left);
   out->from = bson_strdup(left_dot + 1);
   /* The right side may repeat the collection (old or renamed) or give the path alone. */
   const char *right_path = right;
   size_t collection_len = strlen(out->collection);
   const char *right_dot = strchr(right, '.');
   if (strncmp(right, out->collection, collection_len) == 0 && right[collection_len] == '.') {
      right_path = right + collection_len + 1;
   } else if (right_dot && strchr(out->from, '.') == NULL) {
      right_path = right_dot + 1;
   }
   out->to = bson_strdup(right_path);
   bson_free(left);
   bson_free(right);
   /* A rename keeps the property in the same object: the parent paths must match. */
   const char *from_leaf = strrchr(out->from, '.');
   const char *to_leaf = strrchr(out->to, '.');
   size_t from_parent = from_leaf ? (size_t)(from_leaf - out->from) : 0;
   size_t to_parent = to_leaf ? (size_t)(to_leaf - out->to) : 0;
   if (out->to[0] == '\0' || from_parent != to_parent || strncmp(out->from, out->to, from_parent) != 0 ||
       (to_leaf && to_leaf[1] == '\0')) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "--rename '%s': a rename keeps the property in the same object; write %s with the same parent "
                     "path on both sides",
                     spec, shape);
      duet_schema_rename_clear(out);
      return false;
   }
   return true;
}
