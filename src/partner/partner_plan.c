/*
 * partner_plan.c — `duet plan`: from the diff of two schema files, the step the seeds
 * prescribe for each change and the forward/reverse stages that carry it out (rules in
 * docs/partner.md, "Strategy rules").
 */
#include <duet/partner.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Stages being built: two arrays of stage documents. */
typedef struct {
   bson_t forward; /* stages in order */
   bson_t reverse; /* stages in the order they were added; emitted reversed */
   uint32_t forward_count;
   uint32_t reverse_count;
   bson_t changes; /* array of step documents */
   uint32_t change_count;
} plan_builder_t;

static void append_stage(bson_t *array, uint32_t *count, const bson_t *stage)
{
   char key[16];
   const char *key_text;
   bson_uint32_to_string((*count)++, &key_text, key, sizeof key);
   bson_append_document(array, key_text, -1, stage);
}

/* The $convert-family operator producing `type`; NULL when there is none. */
static const char *converter_for(duet_schema_bson_type_t type)
{
   switch (type) {
   case DUET_SCHEMA_STRING: return "$toString";
   case DUET_SCHEMA_OBJECT_ID: return "$toObjectId";
   case DUET_SCHEMA_INT: return "$toInt";
   case DUET_SCHEMA_LONG: return "$toLong";
   case DUET_SCHEMA_DOUBLE: return "$toDouble";
   case DUET_SCHEMA_DECIMAL: return "$toDecimal";
   case DUET_SCHEMA_BOOL: return "$toBool";
   case DUET_SCHEMA_DATE: return "$toDate";
   default: return NULL;
   }
}

/*
 * Appends under `key` of `parent` the expression computing the new value of the field at
 * `path`: `operator` applied to "$path" (operator NULL: {$ifNull: ["$path", {$literal: v}]}).
 * Unless keep_missing is false (the primary key), a missing field stays missing ($$REMOVE).
 */
static void leaf_expression(bson_t *parent, const char *key, const char *path, const char *operator,
                            const bson_value_t * literal, bool keep_missing, const char *copy_from)
{
   bson_t field, cond, if_expr, eq, type, ifnull, lit, conv;
   if (copy_from) {
      /* a rename: the value of the old field ("$a.old"); a missing one adds nothing */
      char *from_ref = bson_strdup_printf("$%s", copy_from);
      bson_append_utf8(parent, key, -1, from_ref, -1);
      bson_free(from_ref);
      return;
   }
   char *ref = bson_strdup_printf("$%s", path);
   bson_append_document_begin(parent, key, -1, &field);
   if (literal) {
      BSON_APPEND_ARRAY_BEGIN(&field, "$ifNull", &ifnull);
      BSON_APPEND_UTF8(&ifnull, "0", ref);
      BSON_APPEND_DOCUMENT_BEGIN(&ifnull, "1", &lit);
      BSON_APPEND_VALUE(&lit, "$literal", literal);
      bson_append_document_end(&ifnull, &lit);
      bson_append_array_end(&field, &ifnull);
   } else if (!keep_missing) {
      BSON_APPEND_UTF8(&field, operator, ref);
   } else {
      /* {$cond: {if: {$eq: [{$type: "$p"}, "missing"]}, then: "$$REMOVE", else: {op: "$p"}}} */
      BSON_APPEND_DOCUMENT_BEGIN(&field, "$cond", &cond);
      BSON_APPEND_DOCUMENT_BEGIN(&cond, "if", &if_expr);
      BSON_APPEND_ARRAY_BEGIN(&if_expr, "$eq", &eq);
      BSON_APPEND_DOCUMENT_BEGIN(&eq, "0", &type);
      BSON_APPEND_UTF8(&type, "$type", ref);
      bson_append_document_end(&eq, &type);
      BSON_APPEND_UTF8(&eq, "1", "missing");
      bson_append_array_end(&if_expr, &eq);
      bson_append_document_end(&cond, &if_expr);
      BSON_APPEND_UTF8(&cond, "then", "$$REMOVE");
      BSON_APPEND_DOCUMENT_BEGIN(&cond, "else", &conv);
      BSON_APPEND_UTF8(&conv, operator, ref);
      bson_append_document_end(&cond, &conv);
      bson_append_document_end(&field, &cond);
   }
   bson_append_document_end(parent, &field);
   bson_free(ref);
}

/*
 * Appends under `key` the new value of the object at `prefix` with `rest` (a dotted path
 * inside it) recomputed.  A dotted $addFields path would create missing parents ({}), so an
 * embedded object is rebuilt only where it is one:
 *   {$cond: {if: {$eq: [{$type: "$a"}, "object"]},
 *            then: {$mergeObjects: ["$a", {b: <value>}]}, else: "$a"}}
 * (a missing parent stays missing, a list of embedded objects is left as it is).
 */
static void nested_expression(bson_t *parent, const char *key, const char *prefix, const char *rest,
                              const char *operator, const bson_value_t * literal, bool keep_missing,
                              const char *copy_from)
{
   const char *dot = strchr(rest, '.');
   char *child_key = dot ? bson_strndup(rest, (size_t)(dot - rest)) : bson_strdup(rest);
   char *child_path = bson_strdup_printf("%s.%s", prefix, child_key);
   char *ref = bson_strdup_printf("$%s", prefix);
   bson_t field, cond, if_expr, eq, type, merge, then, patch;
   bson_append_document_begin(parent, key, -1, &field);
   BSON_APPEND_DOCUMENT_BEGIN(&field, "$cond", &cond);
   BSON_APPEND_DOCUMENT_BEGIN(&cond, "if", &if_expr);
   BSON_APPEND_ARRAY_BEGIN(&if_expr, "$eq", &eq);
   BSON_APPEND_DOCUMENT_BEGIN(&eq, "0", &type);
   BSON_APPEND_UTF8(&type, "$type", ref);
   bson_append_document_end(&eq, &type);
   BSON_APPEND_UTF8(&eq, "1", "object");
   bson_append_array_end(&if_expr, &eq);
   bson_append_document_end(&cond, &if_expr);
   BSON_APPEND_DOCUMENT_BEGIN(&cond, "then", &then);
   BSON_APPEND_ARRAY_BEGIN(&then, "$mergeObjects", &merge);
   BSON_APPEND_UTF8(&merge, "0", ref);
   BSON_APPEND_DOCUMENT_BEGIN(&merge, "1", &patch);
   if (dot) {
      nested_expression(&patch, child_key, child_path, dot + 1, operator, literal, keep_missing, copy_from);
   } else {
      leaf_expression(&patch, child_key, child_path, operator, literal, keep_missing, copy_from);
   }
   bson_append_document_end(&merge, &patch);
   bson_append_array_end(&then, &merge);
   bson_append_document_end(&cond, &then);
   BSON_APPEND_UTF8(&cond, "else", ref);
   bson_append_document_end(&field, &cond);
   bson_append_document_end(parent, &field);
   bson_free(child_key);
   bson_free(child_path);
   bson_free(ref);
}

/* Appends {<stage_name>: {<top>: <expression>}} recomputing `path` (copy_from: a rename's
 * old path, whose value the new field takes). */
static void set_stage_named(bson_t *stage, const char *stage_name, const char *path, const char *operator,
                            const bson_value_t * literal, bool keep_missing, const char *copy_from)
{
   bson_t set;
   bson_init(stage);
   bson_append_document_begin(stage, stage_name, -1, &set);
   const char *dot = strchr(path, '.');
   if (dot) {
      char *top = bson_strndup(path, (size_t)(dot - path));
      nested_expression(&set, top, top, dot + 1, operator, literal, keep_missing, copy_from);
      bson_free(top);
   } else {
      leaf_expression(&set, path, path, operator, literal, keep_missing, copy_from);
   }
   bson_append_document_end(stage, &set);
}

/* {$addFields: ...} (the seeds' spelling) for conversions and fills. */
static void set_stage(bson_t *stage, const char *path, const char *operator, const bson_value_t * literal,
                      bool keep_missing)
{
   set_stage_named(stage, "$addFields", path, operator, literal, keep_missing, NULL);
}

static void add_set(plan_builder_t *builder, bool forward, const char *path, const char *operator,
                    const bson_value_t * literal, bool keep_missing)
{
   bson_t stage;
   set_stage(&stage, path, operator, literal, keep_missing);
   if (forward) {
      append_stage(&builder->forward, &builder->forward_count, &stage);
   } else {
      append_stage(&builder->reverse, &builder->reverse_count, &stage);
   }
   bson_destroy(&stage);
}

/* Appends [{$set: {to: "$from"}}, {$unset: "from"}] to one direction (inside an embedded
 * object the parent is rebuilt where it is an object, see nested_expression). */
static void add_rename(plan_builder_t *builder, bool forward, const char *from, const char *to)
{
   bson_t set, unset;
   set_stage_named(&set, "$set", to, NULL, NULL, true, from);
   bson_init(&unset);
   BSON_APPEND_UTF8(&unset, "$unset", from);
   /* reverse stages are emitted back to front: add the pair so it reads set, unset */
   if (forward) {
      append_stage(&builder->forward, &builder->forward_count, &set);
      append_stage(&builder->forward, &builder->forward_count, &unset);
   } else {
      append_stage(&builder->reverse, &builder->reverse_count, &unset);
      append_stage(&builder->reverse, &builder->reverse_count, &set);
   }
   bson_destroy(&set);
   bson_destroy(&unset);
}

static bool plan_type_change(plan_builder_t *builder, const duet_schema_change_t *change, duet_error_t *error)
{
   const duet_schema_type_t *from = &change->old_property->type;
   const duet_schema_type_t *to = &change->new_property->type;
   if (from->container != DUET_SCHEMA_SINGLE || to->container != DUET_SCHEMA_SINGLE ||
       from->element == DUET_SCHEMA_OBJECT || to->element == DUET_SCHEMA_OBJECT) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "cannot propose a transform for property '%s.%s' (%s -> %s): only scalar types convert "
                     "through the $convert family; write the forward and reverse stages in the spec by hand",
                     change->collection, change->property, change->from, change->to);
      return false;
   }
   const char *forward = to->element == DUET_SCHEMA_MIXED ? NULL : converter_for(to->element);
   const char *reverse = from->element == DUET_SCHEMA_MIXED ? NULL : converter_for(from->element);
   if ((to->element != DUET_SCHEMA_MIXED && !forward) || (from->element != DUET_SCHEMA_MIXED && !reverse)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "cannot propose a transform for property '%s.%s' (%s -> %s): no $convert operator produces "
                     "%s; write the forward and reverse stages in the spec by hand",
                     change->collection, change->property, change->from, change->to,
                     forward ? change->from : change->to);
      return false;
   }
   bool keep_missing = !change->primary_key;
   if (forward) {
      add_set(builder, true, change->property, forward, NULL, keep_missing);
   }
   if (reverse) {
      add_set(builder, false, change->property, reverse, NULL, keep_missing);
   }
   return true;
}

/* Appends the step document describing `change` and what the plan does about it. */
static void add_step(plan_builder_t *builder, const duet_schema_change_t *change, const char *action)
{
   bson_t step;
   char key[16];
   const char *key_text;
   bson_uint32_to_string(builder->change_count++, &key_text, key, sizeof key);
   bson_append_document_begin(&builder->changes, key_text, -1, &step);
   BSON_APPEND_UTF8(&step, "kind", duet_schema_change_kind_name(change->kind));
   BSON_APPEND_UTF8(&step, "object_type", change->object_type);
   if (change->property) {
      BSON_APPEND_UTF8(&step, "property", change->property);
   }
   if (change->from) {
      BSON_APPEND_UTF8(&step, "from", change->from);
   }
   if (change->to) {
      BSON_APPEND_UTF8(&step, "to", change->to);
   }
   bool breaking = change->server == DUET_VERDICT_BREAKING || change->client == DUET_VERDICT_BREAKING;
   BSON_APPEND_UTF8(&step, "verdict", breaking ? "breaking" : "non-breaking");
   BSON_APPEND_UTF8(&step, "handling", duet_schema_handling_name(change->handling));
   BSON_APPEND_UTF8(&step, "action", action);
   if (change->update_value_source != DUET_VALUE_NONE) {
      BSON_APPEND_VALUE(&step, "update_value", &change->update_value);
   }
   bson_append_document_end(&builder->changes, &step);
}

/* Decides the stages for one change; false when none can be proposed. */
static bool plan_change(plan_builder_t *builder, const duet_schema_change_t *change, duet_error_t *error)
{
   bson_value_t zero;
   switch (change->kind) {
   case DUET_CHANGE_CHANGE_PROPERTY_TYPE:
      if (!plan_type_change(builder, change, error)) {
         return false;
      }
      add_step(builder, change, "convert the value both ways with the $convert family");
      return true;
   case DUET_CHANGE_RENAME_PROPERTY:
      add_rename(builder, true, change->property, change->to);
      add_rename(builder, false, change->to, change->property);
      add_step(builder, change, "rename the field both ways with $set and $unset");
      return true;
   case DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED:
      if (change->new_property && change->new_property->required) {
         const duet_schema_property_t *property = change->new_property;
         if (property->has_default) {
            add_set(builder, true, change->property, NULL, &property->default_value, false);
         } else {
            duet_schema_type_zero_value(&property->type, &zero);
            add_set(builder, true, change->property, NULL, &zero, false);
            bson_value_destroy(&zero);
         }
         add_step(builder, change,
                  property->has_default ? "fill missing values with the default ($ifNull); reverse keeps them"
                                        : "fill missing values with the type's zero value ($ifNull); reverse keeps "
                                          "them");
      } else {
         add_step(builder, change, "identity: every required value is a valid optional one");
      }
      return true;
   case DUET_CHANGE_ADD_REQUIRED_PROPERTY:
      add_set(builder, true, change->property, NULL, &change->update_value, false);
      add_step(builder, change,
               "update existing documents: give the property its value where missing ($ifNull); reverse keeps it");
      return true;
   case DUET_CHANGE_REMOVE_PROPERTY:
      add_step(builder, change,
               "keep the values: the field stays in the documents on both sides, unnamed by the new schema");
      return true;
   case DUET_CHANGE_ADD_OPTIONAL_PROPERTY:
   case DUET_CHANGE_ADD_DEFAULT_VALUE:
   case DUET_CHANGE_CHANGE_DEFAULT_VALUE:
   case DUET_CHANGE_REMOVE_DEFAULT_VALUE:
      add_step(builder, change, "apply the schema change; no data moves");
      return true;
   case DUET_CHANGE_RENAME_OBJECT_TYPE:
      add_step(builder, change, "the partner collection carries the new name");
      return true;
   case DUET_CHANGE_ADD_OBJECT_TYPE:
   case DUET_CHANGE_REMOVE_OBJECT_TYPE:
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "object type '%s' was %s: there are no documents to migrate; give the collection to plan "
                     "for with --collection",
                     change->object_type, change->kind == DUET_CHANGE_ADD_OBJECT_TYPE ? "added" : "removed");
      return false;
   }
   return true;
}

/* Reads a JSON file into a BSON document; *is_array for a top-level array. */
static bool load_json(const char *path, bson_t **out, bool *is_array, duet_error_t *error)
{
   *out = NULL;
   FILE *file = fopen(path, "rb");
   if (!file) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot open %s: %s", path, strerror(errno));
      return false;
   }
   bson_string_t *text = bson_string_new(NULL);
   char buffer[4096];
   size_t n;
   while ((n = fread(buffer, 1, sizeof buffer - 1, file)) > 0) {
      buffer[n] = '\0';
      bson_string_append(text, buffer);
   }
   fclose(file);
   const char *start = text->str;
   while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r') {
      start++;
   }
   *is_array = *start == '[';
   bson_error_t json_error;
   if (*is_array) {
      char *wrapped = bson_strdup_printf("{\"a\": %s}", start);
      bson_t *wrapper = bson_new_from_json((const uint8_t *)wrapped, -1, &json_error);
      bson_free(wrapped);
      bson_iter_t iter;
      if (wrapper && bson_iter_init_find(&iter, wrapper, "a") && BSON_ITER_HOLDS_ARRAY(&iter)) {
         uint32_t len;
         const uint8_t *data;
         bson_iter_array(&iter, &len, &data);
         *out = bson_new_from_data(data, len);
      }
      bson_destroy(wrapper);
   } else {
      *out = bson_new_from_json((const uint8_t *)start, -1, &json_error);
   }
   bson_string_free(text, true);
   if (!*out) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "%s: not JSON", path);
      return false;
   }
   return true;
}

/* Copies the raw schema document of `schema` out of the file's root into *out. */
static bool find_raw_schema(const bson_t *root, bool is_array, const duet_schema_t *schema, bson_t **out)
{
   bson_iter_t iter, title;
   *out = NULL;
   if (!is_array && (bson_has_field(root, "properties") || bson_has_field(root, "bsonType"))) {
      *out = bson_copy(root);
      return true;
   }
   if (!bson_iter_init(&iter, root)) {
      return false;
   }
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         continue;
      }
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      bson_t child;
      if (!bson_init_static(&child, data, len)) {
         continue;
      }
      bool match = !is_array && strcmp(bson_iter_key(&iter), schema->collection) == 0;
      if (!match && bson_iter_init_find(&title, &child, "title") && BSON_ITER_HOLDS_UTF8(&title)) {
         match = strcmp(bson_iter_utf8(&title, NULL), schema->root.title) == 0 && (is_array || !*out);
      }
      if (match) {
         bson_destroy(*out);
         *out = bson_copy(&child);
         if (!is_array && strcmp(bson_iter_key(&iter), schema->collection) == 0) {
            return true;
         }
      }
   }
   return *out != NULL;
}

/* The collection to plan for: the option, else the only one with changes. */
static bool choose_collection(const duet_schema_diff_t *diff, const char *wanted, const char **out, duet_error_t *error)
{
   *out = wanted;
   if (wanted) {
      return true;
   }
   for (size_t i = 0; i < diff->change_count; i++) {
      const char *name = diff->changes[i].collection;
      if (diff->changes[i].kind == DUET_CHANGE_ADD_OBJECT_TYPE) {
         continue;
      }
      if (*out && strcmp(*out, name) != 0) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "collections '%s' and '%s' both changed; plan one at a time with --collection", *out, name);
         return false;
      }
      *out = name;
   }
   if (!*out) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "no existing collection changed: there is nothing to plan");
      return false;
   }
   return true;
}

bool duet_partner_plan_files(const char *old_path, const char *new_path, const duet_partner_plan_options_t *options,
                             duet_partner_spec_t **out, bool *breaking, duet_error_t *error)
{
   static const duet_partner_plan_options_t defaults = {0};
   duet_schema_set_t *old_set = NULL, *new_set = NULL;
   duet_schema_diff_t *diff = NULL;
   bson_t *new_root = NULL;
   bool new_is_array = false, ok = false;
   duet_partner_spec_t *spec = NULL;
   plan_builder_t builder;
   bson_init(&builder.forward);
   bson_init(&builder.reverse);
   bson_init(&builder.changes);
   builder.forward_count = builder.reverse_count = builder.change_count = 0;
   *out = NULL;
   *breaking = false;
   if (!options) {
      options = &defaults;
   }
   if (!duet_schema_set_load(old_path, &old_set, error) || !duet_schema_set_load(new_path, &new_set, error) ||
       !duet_schema_diff(old_set, new_set, options->diff_options, &diff, error) ||
       !load_json(new_path, &new_root, &new_is_array, error)) {
      goto done;
   }
   const char *collection;
   if (!choose_collection(diff, options->collection, &collection, error)) {
      goto done;
   }
   const duet_schema_t *old_schema = duet_schema_set_find(old_set, collection);
   if (!old_schema) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s has no collection '%s'", old_path, collection);
      goto done;
   }
   const duet_schema_t *new_schema = NULL;
   bool collection_breaking = false;
   for (size_t i = 0; i < diff->change_count; i++) {
      const duet_schema_change_t *change = &diff->changes[i];
      if (change->old_schema != old_schema) {
         continue;
      }
      new_schema = change->new_schema;
      collection_breaking =
          collection_breaking || change->server == DUET_VERDICT_BREAKING || change->client == DUET_VERDICT_BREAKING;
   }
   if (!new_schema) {
      new_schema = duet_schema_set_find(new_set, old_schema->root.title);
   }
   if (!new_schema) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s has no schema for '%s' (removed?): there is nothing to migrate to",
                     new_path, old_schema->root.title);
      goto done;
   }
   spec = bson_malloc0(sizeof *spec);
   spec->version = DUET_PARTNER_SPEC_VERSION;
   spec->chunk_size = DUET_PARTNER_CHUNK_SIZE_DEFAULT;
   spec->strategy = options->strategy_given
                        ? options->strategy
                        : (collection_breaking ? DUET_PARTNER_STRATEGY_PARTNER : DUET_PARTNER_STRATEGY_IN_PLACE);
   spec->database = bson_strdup(options->database ? options->database : "test");
   spec->source = bson_strdup(old_schema->collection);
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      if (options->partner) {
         spec->partner = bson_strdup(options->partner);
      } else if (strcmp(new_schema->collection, old_schema->collection) != 0) {
         spec->partner = bson_strdup(new_schema->collection);
      } else {
         spec->partner = bson_strdup_printf("%sV2", old_schema->collection);
      }
   }
   if (!duet_store_validate_namespace(spec->database, spec->source, error) ||
       (spec->partner && !duet_store_validate_namespace(spec->database, spec->partner, error))) {
      goto done;
   }
   if (!find_raw_schema(new_root, new_is_array, new_schema, &spec->schema)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: cannot find the schema of '%s'", new_path, new_schema->root.title);
      goto done;
   }
   for (size_t i = 0; i < diff->change_count; i++) {
      if (diff->changes[i].old_schema == old_schema && !plan_change(&builder, &diff->changes[i], error)) {
         goto done;
      }
   }
   spec->forward = bson_copy(&builder.forward);
   /* reverse stages undo the forward ones last-first */
   spec->reverse = bson_new();
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      uint32_t index = 0;
      for (uint32_t i = builder.reverse_count; i-- > 0;) {
         char key[16];
         const char *key_text;
         bson_uint32_to_string(i, &key_text, key, sizeof key);
         bson_iter_t iter;
         bson_iter_init_find(&iter, &builder.reverse, key_text);
         uint32_t len;
         const uint8_t *data;
         bson_iter_document(&iter, &len, &data);
         bson_t stage;
         bson_init_static(&stage, data, len);
         append_stage(spec->reverse, &index, &stage);
      }
   }
   spec->changes = bson_copy(&builder.changes);
   *breaking = collection_breaking;
   *out = spec;
   spec = NULL;
   ok = true;

done:
   duet_partner_spec_destroy(spec);
   bson_destroy(&builder.forward);
   bson_destroy(&builder.reverse);
   bson_destroy(&builder.changes);
   bson_destroy(new_root);
   duet_schema_diff_destroy(diff);
   duet_schema_set_destroy(old_set);
   duet_schema_set_destroy(new_set);
   return ok;
}
