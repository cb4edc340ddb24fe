/*
 * pipeline_lookup.c — the $lookup stage: its specification with MongoDB's parse errors, and the
 * join of one input document with a foreign collection read through the storage callbacks of
 * duet_pipeline_options_t (DocumentSourceLookUp semantics).
 *
 * Forms:
 *   equality  {from, localField, foreignField, as}
 *   pipeline  {from, let, pipeline, as}          (`from` may be absent when the pipeline
 *                                                 starts with $documents)
 *   combined  {from, localField, foreignField, let, pipeline, as}   (MongoDB 5.0+)
 * The equality join is a $match built per input document from the local values, as MongoDB's
 * makeMatchStageFromInput does: every value at localField (array elements one by one; none
 * means null) becomes {foreignField: {$eq: v}}, {foreignField: {$in: [...]}} or, when a
 * regular expression is among them, {$or: [{foreignField: {$eq: v}}, ...]}; so null/missing
 * local values join foreign documents whose foreignField is null or missing, and query
 * semantics (arrays in the foreign document) apply.  It runs before the user pipeline, after
 * a leading $documents.  Results go into `as` as an array, replacing what was there (a
 * non-document on the way to a dotted `as` is replaced by a document).
 *
 * Variables: the sub-pipeline sees the enclosing pipeline's variables and `let`'s, which are
 * evaluated against the input document.  Nested $lookup works the same way, one level down.
 *
 * Ownership: a lookup_spec_t owns its strings, expressions, scope and sub-pipelines; the
 * storage callbacks are borrowed from the parse options.
 */
#include "mql/expr_internal.h"
#include "mql/pipeline_internal.h"

#include <duet/doc.h>

#include <assert.h>
#include <string.h>

/* MongoDB's internalLookupStageIntermediateDocumentMaxSizeBytes. */
#define LOOKUP_RESULTS_MAX_BYTES (100u * 1024u * 1024u)

struct lookup_spec {
   char *from;               /* owned; NULL when the sub-pipeline starts with $documents and no `from` */
   char *as;                 /* owned; dotted path */
   char *local_field;        /* owned; NULL without an equality join */
   char *foreign_field;      /* owned; NULL without an equality join */
   duet_expr_scope_t *scope; /* owned: the enclosing scope's variables, then `let`'s */
   size_t outer_count;       /* variables of the enclosing scope (same slots in `scope`) */
   duet_expr_t **let_exprs;  /* owned; parsed in the enclosing scope */
   int *let_slots;           /* slot of each let variable in `scope` */
   size_t let_count;
   duet_pipeline_t *documents;             /* owned: a leading {$documents: ...}, replacing the collection; or NULL */
   duet_pipeline_t *pipeline;              /* owned: the user pipeline after $documents (possibly empty) */
   const duet_pipeline_storage_t *storage; /* borrowed */
};

void lookup_destroy(lookup_spec_t *spec)
{
   if (!spec) {
      return;
   }
   bson_free(spec->from);
   bson_free(spec->as);
   bson_free(spec->local_field);
   bson_free(spec->foreign_field);
   for (size_t i = 0; i < spec->let_count; i++) {
      duet_expr_destroy(spec->let_exprs[i]);
   }
   bson_free(spec->let_exprs);
   bson_free(spec->let_slots);
   duet_expr_scope_destroy(spec->scope);
   duet_pipeline_destroy(spec->documents);
   duet_pipeline_destroy(spec->pipeline);
   bson_free(spec);
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* FieldPath's checks on a dotted path (`as`, `localField`, `foreignField`). */
static bool check_field_path(const char *path, duet_error_t *error)
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

/* `name: value` as MongoDB prints a BSON element in messages. */
static char *element_text(const bson_iter_t *iter)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)iter);
   char *value_text = duet_expr_value_to_string(value);
   char *text = bson_strdup_printf("%s: %s", bson_iter_key(iter), value_text);
   bson_free(value_text);
   return text;
}

/* A new scope holding `outer`'s variables at the same slots. */
static duet_expr_scope_t *scope_inherit(const duet_expr_scope_t *outer, size_t *outer_count)
{
   duet_expr_scope_t *scope = duet_expr_scope_new();
   *outer_count = 0;
   if (outer) {
      /* struct duet_expr_scope is {expr_parse_ctx_t ctx} (expr_core.c); its names are in slot order */
      const expr_parse_ctx_t *ctx = (const expr_parse_ctx_t *)(const void *)outer;
      for (size_t i = 0; i < ctx->count; i++) {
         int slot = duet_expr_scope_define(scope, ctx->names[i]);
         assert(slot == ctx->slots[i]);
         (void)slot;
      }
      *outer_count = duet_expr_scope_count(outer);
   }
   return scope;
}

static bool parse_let(lookup_spec_t *spec, const bson_t *let, const duet_pipeline_options_t *options,
                      duet_error_t *error)
{
   uint32_t count = bson_count_keys(let);
   spec->let_exprs = bson_malloc0((count ? count : 1) * sizeof *spec->let_exprs);
   spec->let_slots = bson_malloc0((count ? count : 1) * sizeof *spec->let_slots);
   bson_iter_t iter;
   bson_iter_init(&iter, let);
   while (bson_iter_next(&iter)) {
      const char *name = bson_iter_key(&iter);
      if (!expr_validate_variable_name(name, error)) {
         return false;
      }
      if (!duet_expr_parse_iter(&iter, options ? options->scope : NULL, &spec->let_exprs[spec->let_count], error)) {
         return false;
      }
      spec->let_slots[spec->let_count++] = duet_expr_scope_define(spec->scope, name);
   }
   return true;
}

/* True when `pipeline` (an array) is non-empty and starts with a $documents stage. */
static bool starts_with_documents(const bson_t *pipeline)
{
   bson_iter_t iter, stage;
   return pipeline && bson_iter_init(&iter, pipeline) && bson_iter_next(&iter) && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
          bson_iter_recurse(&iter, &stage) && bson_iter_find(&stage, "$documents");
}

/* Parses the user pipeline (or none) into spec->documents / spec->pipeline. */
static bool parse_sub_pipeline(lookup_spec_t *spec, const bson_t *user, const duet_pipeline_options_t *options,
                               int depth, duet_error_t *error)
{
   duet_pipeline_options_t sub = {spec->scope, options && options->allow_disk_use, options ? options->memory_limit : 0,
                                  options ? options->storage : NULL};
   static const bson_t empty = BSON_INITIALIZER;
   if (!user) {
      return pipeline_parse_internal(&empty, &sub, depth, &spec->pipeline, error);
   }
   if (!starts_with_documents(user)) {
      return pipeline_parse_internal(user, &sub, depth, &spec->pipeline, error);
   }
   /* split off the $documents stage: the equality $match goes between it and the rest */
   bson_t head = BSON_INITIALIZER, rest = BSON_INITIALIZER;
   bson_iter_t iter;
   uint32_t index = 0;
   bson_iter_init(&iter, user);
   while (bson_iter_next(&iter)) {
      char key_buffer[16];
      const char *key;
      if (index == 0) {
         bson_append_iter(&head, "0", 1, &iter);
      } else {
         size_t key_length = bson_uint32_to_string(index - 1, &key, key_buffer, sizeof key_buffer);
         bson_append_iter(&rest, key, (int)key_length, &iter);
      }
      index++;
   }
   bool ok = pipeline_parse_internal(&head, &sub, depth, &spec->documents, error) &&
             pipeline_parse_internal(&rest, &sub, depth, &spec->pipeline, error);
   if (ok && spec->pipeline->count > 0 && spec->pipeline->stages[0].kind == STAGE_DOCUMENTS) {
      duet_error_set(error, 40602, "$documents is only valid as the first stage in a pipeline");
      ok = false;
   }
   bson_destroy(&head);
   bson_destroy(&rest);
   return ok;
}

/* parsePipelineFromBSON: an array of objects. */
static bool check_pipeline_array(const bson_iter_t *iter, bson_t *view, duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_ARRAY(iter)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "'pipeline' option must be specified as an array");
      return false;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_array(iter, &length, &data);
   bson_init_static(view, data, length);
   bson_iter_t element;
   bson_iter_init(&element, view);
   while (bson_iter_next(&element)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&element)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Each element of the 'pipeline' array must be an object");
         return false;
      }
   }
   return true;
}

bool lookup_parse(const bson_value_t *value, const duet_pipeline_options_t *options, int depth, lookup_spec_t **out,
                  duet_error_t *error)
{
   *out = NULL;
   if (depth + 1 > PIPELINE_MAX_SUB_PIPELINE_DEPTH) {
      duet_error_set(error, DUET_ERR_MAX_SUB_PIPELINE_DEPTH_EXCEEDED,
                     "Maximum number of nested sub-pipelines exceeded. Limit is %d", PIPELINE_MAX_SUB_PIPELINE_DEPTH);
      return false;
   }
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "the $lookup stage specification must be an object, but found %s",
                     duet_type_name(value->value_type));
      return false;
   }
   bson_t spec_doc, pipeline_view, let_view;
   bson_init_static(&spec_doc, value->value.v_doc.data, value->value.v_doc.data_len);
   const bson_t *user_pipeline = NULL, *let = NULL;
   lookup_spec_t *spec = bson_malloc0(sizeof *spec);
   bson_iter_t iter;

   /* LiteParsed::parse: a collectionless $lookup needs a pipeline starting with $documents */
   if (!bson_iter_init_find(&iter, &spec_doc, "from")) {
      bson_iter_t pipeline_iter;
      if (!bson_iter_init_find(&pipeline_iter, &spec_doc, "pipeline")) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "must specify 'pipeline' when 'from' is empty");
         goto fail;
      }
      if (!check_pipeline_array(&pipeline_iter, &pipeline_view, error)) {
         goto fail;
      }
      if (!starts_with_documents(&pipeline_view)) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "$lookup stage without explicit collection must have a pipeline with $documents as first "
                        "stage");
         goto fail;
      }
   }

   bson_iter_init(&iter, &spec_doc);
   while (bson_iter_next(&iter)) {
      const char *name = bson_iter_key(&iter);
      if (strcmp(name, "pipeline") == 0) {
         if (!check_pipeline_array(&iter, &pipeline_view, error)) {
            goto fail;
         }
         user_pipeline = &pipeline_view;
         continue;
      }
      if (strcmp(name, "let") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            char *text = element_text(&iter);
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$lookup argument '%s' must be an object, is type %s", text,
                           duet_type_name(bson_iter_type(&iter)));
            bson_free(text);
            goto fail;
         }
         uint32_t length;
         const uint8_t *data;
         bson_iter_document(&iter, &length, &data);
         bson_init_static(&let_view, data, length);
         let = &let_view;
         continue;
      }
      if (strcmp(name, "from") == 0) {
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_iter_t part;
            const char *db = "", *coll = "";
            if (bson_iter_recurse(&iter, &part)) {
               while (bson_iter_next(&part)) {
                  if (BSON_ITER_HOLDS_UTF8(&part) && strcmp(bson_iter_key(&part), "db") == 0) {
                     db = bson_iter_utf8(&part, NULL);
                  } else if (BSON_ITER_HOLDS_UTF8(&part) && strcmp(bson_iter_key(&part), "coll") == 0) {
                     coll = bson_iter_utf8(&part, NULL);
                  }
               }
            }
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "$lookup with syntax {from: {db:<>, coll:<>},..} is not supported for db: %s and coll: %s",
                           db, coll);
            goto fail;
         }
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$lookup 'from' field must be a string, but found %s",
                           duet_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         uint32_t length;
         const char *from = bson_iter_utf8(&iter, &length);
         if (length == 0 || from[0] == '.' || memchr(from, '\0', length) || strchr(from, '$')) {
            duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "invalid $lookup namespace: %s", from);
            goto fail;
         }
         bson_free(spec->from);
         spec->from = bson_strdup(from);
         continue;
      }
      if (strcmp(name, "_internalCollation") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "$lookup _internalCollation is not supported by duet");
         goto fail;
      }
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         char *text = element_text(&iter);
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$lookup argument '%s' must be a string, found %s: %s", name,
                        text, duet_type_name(bson_iter_type(&iter)));
         bson_free(text);
         goto fail;
      }
      char **target = strcmp(name, "as") == 0             ? &spec->as
                      : strcmp(name, "localField") == 0   ? &spec->local_field
                      : strcmp(name, "foreignField") == 0 ? &spec->foreign_field
                                                          : NULL;
      if (!target) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "unknown argument to $lookup: %s", name);
         goto fail;
      }
      bson_free(*target);
      *target = bson_strdup(bson_iter_utf8(&iter, NULL));
   }
   /* an empty string counts as not given, as in createFromBson */
   char **fields[] = {&spec->as, &spec->local_field, &spec->foreign_field};
   for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
      if (*fields[i] && (*fields[i])[0] == '\0') {
         bson_free(*fields[i]);
         *fields[i] = NULL;
      }
   }
   if (!spec->from && !starts_with_documents(user_pipeline)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "$lookup stage without explicit collection must have a pipeline with $documents as first stage");
      goto fail;
   }
   if (!spec->as) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "must specify 'as' field for a $lookup");
      goto fail;
   }
   if (user_pipeline) {
      if ((spec->local_field != NULL) != (spec->foreign_field != NULL)) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "$lookup requires both or neither of 'localField' and 'foreignField' to be specified");
         goto fail;
      }
   } else {
      if (!spec->local_field || !spec->foreign_field) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified");
         goto fail;
      }
      if (let) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$lookup with a 'let' argument must also specify 'pipeline'");
         goto fail;
      }
   }
   if (!check_field_path(spec->as, error) || (spec->local_field && !check_field_path(spec->local_field, error)) ||
       (spec->foreign_field && !check_field_path(spec->foreign_field, error))) {
      goto fail;
   }
   spec->scope = scope_inherit(options ? options->scope : NULL, &spec->outer_count);
   if (let && !parse_let(spec, let, options, error)) {
      goto fail;
   }
   if (!parse_sub_pipeline(spec, user_pipeline, options, depth + 1, error)) {
      goto fail;
   }
   spec->storage = options ? options->storage : NULL;
   if (spec->from && !spec->documents && (!spec->storage || !spec->storage->open)) {
      duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED,
                     "$lookup from a collection needs storage (duet_pipeline_options_t.storage), which this caller "
                     "does not provide");
      goto fail;
   }
   *out = spec;
   return true;
fail:
   lookup_destroy(spec);
   return false;
}

/* ---- the join ----------------------------------------------------------------------------------- */

/* Appends every value at `path` (document_path_support::visitAllValuesAtPath: arrays on the way
 * are traversed, a final array contributes its elements) to `values`. */
static void collect_local_values(const bson_t *doc, const char *path, bson_t *values, uint32_t *count, bool *has_regex)
{
   const char *dot = strchr(path, '.');
   size_t length = dot ? (size_t)(dot - path) : strlen(path);
   bson_iter_t iter;
   if (!bson_iter_init(&iter, doc)) {
      return;
   }
   while (bson_iter_next(&iter)) {
      if (bson_iter_key_len(&iter) != length || memcmp(bson_iter_key(&iter), path, length) != 0) {
         continue;
      }
      const bson_value_t *value = bson_iter_value(&iter);
      if (value->value_type == BSON_TYPE_ARRAY || (dot && value->value_type == BSON_TYPE_DOCUMENT)) {
         bson_t sub;
         bson_init_static(&sub, value->value.v_doc.data, value->value.v_doc.data_len);
         if (value->value_type == BSON_TYPE_DOCUMENT) {
            collect_local_values(&sub, dot + 1, values, count, has_regex);
            return;
         }
         bson_iter_t element;
         bson_iter_init(&element, &sub);
         while (bson_iter_next(&element)) {
            if (!dot) {
               const bson_value_t *item = bson_iter_value(&element);
               char key_buffer[16];
               const char *key;
               size_t key_length = bson_uint32_to_string((*count)++, &key, key_buffer, sizeof key_buffer);
               bson_append_value(values, key, (int)key_length, item);
               *has_regex = *has_regex || item->value_type == BSON_TYPE_REGEX;
            } else if (BSON_ITER_HOLDS_DOCUMENT(&element)) {
               const bson_value_t *item = bson_iter_value(&element);
               bson_t child;
               bson_init_static(&child, item->value.v_doc.data, item->value.v_doc.data_len);
               collect_local_values(&child, dot + 1, values, count, has_regex);
            }
         }
         return;
      }
      if (!dot) {
         char key_buffer[16];
         const char *key;
         size_t key_length = bson_uint32_to_string((*count)++, &key, key_buffer, sizeof key_buffer);
         bson_append_value(values, key, (int)key_length, value);
         *has_regex = *has_regex || value->value_type == BSON_TYPE_REGEX;
      }
      return;
   }
}

/* The equality join's filter for one input document, into `filter` (initialized). */
static void build_join_filter(const lookup_spec_t *spec, const bson_t *doc, bson_t *filter)
{
   bson_t values = BSON_INITIALIZER;
   uint32_t count = 0;
   bool has_regex = false;
   collect_local_values(doc, spec->local_field, &values, &count, &has_regex);
   if (count == 0) {
      bson_append_null(&values, "0", 1); /* missing values are treated as null */
      count = 1;
   }
   bson_iter_t iter;
   bson_iter_init(&iter, &values);
   if (count == 1) {
      bson_iter_next(&iter);
      bson_t condition;
      bson_append_document_begin(filter, spec->foreign_field, -1, &condition);
      bson_append_iter(&condition, "$eq", 3, &iter);
      bson_append_document_end(filter, &condition);
   } else if (!has_regex) {
      bson_t condition;
      bson_append_document_begin(filter, spec->foreign_field, -1, &condition);
      bson_append_array(&condition, "$in", 3, &values);
      bson_append_document_end(filter, &condition);
   } else {
      /* $in would pattern-match strings against a regex: equality comparisons instead */
      bson_t alternatives;
      uint32_t index = 0;
      bson_append_array_begin(filter, "$or", 3, &alternatives);
      while (bson_iter_next(&iter)) {
         char key_buffer[16];
         const char *key;
         size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_t clause, condition;
         bson_append_document_begin(&alternatives, key, (int)key_length, &clause);
         bson_append_document_begin(&clause, spec->foreign_field, -1, &condition);
         bson_append_iter(&condition, "$eq", 3, &iter);
         bson_append_document_end(&clause, &condition);
         bson_append_document_end(&alternatives, &clause);
      }
      bson_append_array_end(filter, &alternatives);
   }
   bson_destroy(&values);
}

/* The sub-pipeline's source: the foreign collection (or the $documents stage), narrowed by the
 * equality join when there is one. */
typedef struct join_source {
   const duet_pipeline_storage_t *storage; /* borrowed */
   void *scan;                             /* storage scan, or NULL */
   duet_pipeline_cursor_t *documents;      /* owned: cursor over spec->documents, or NULL */
   duet_match_t *join;                     /* owned: the equality $match, or NULL */
   const duet_expr_env_t *env;             /* borrowed */
} join_source_t;

static bool join_source_next(void *context, const bson_t **doc, duet_error_t *error)
{
   join_source_t *source = context;
   for (;;) {
      bool ok = source->documents ? duet_pipeline_next(source->documents, doc, error)
                                  : source->storage->next(source->scan, doc, error);
      if (!ok || !*doc) {
         return ok;
      }
      if (!source->join) {
         return true;
      }
      bool matched = false;
      if (!duet_match_matches_env(source->join, *doc, source->env, &matched, NULL, error)) {
         return false;
      }
      if (matched) {
         return true;
      }
   }
}

/* Copies `doc` into `out` with the dotted `path` set to `value`; a non-document on the way is
 * replaced by a document (MutableDocument::setNestedField). */
static void copy_with_nested_field(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out)
{
   const char *dot = strchr(path, '.');
   size_t length = dot ? (size_t)(dot - path) : strlen(path);
   bool done = false;
   bson_iter_t iter;
   if (doc && bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         if (done || bson_iter_key_len(&iter) != length || memcmp(bson_iter_key(&iter), path, length) != 0) {
            bson_append_iter(out, NULL, 0, &iter);
            continue;
         }
         done = true;
         if (!dot) {
            bson_append_value(out, path, (int)length, value);
            continue;
         }
         bson_t sub, child;
         bool is_document = BSON_ITER_HOLDS_DOCUMENT(&iter);
         if (is_document) {
            uint32_t sub_length;
            const uint8_t *data;
            bson_iter_document(&iter, &sub_length, &data);
            bson_init_static(&sub, data, sub_length);
         }
         bson_append_document_begin(out, path, (int)length, &child);
         copy_with_nested_field(is_document ? &sub : NULL, dot + 1, value, &child);
         bson_append_document_end(out, &child);
      }
   }
   if (!done) {
      if (!dot) {
         bson_append_value(out, path, (int)length, value);
      } else {
         bson_t child;
         bson_append_document_begin(out, path, (int)length, &child);
         copy_with_nested_field(NULL, dot + 1, value, &child);
         bson_append_document_end(out, &child);
      }
   }
}

/* Runs the sub-pipeline over `source`, collecting its documents into the array `results`. */
static bool collect_results(const lookup_spec_t *spec, join_source_t *source, const duet_expr_env_t *sub_env,
                            bson_t *results, duet_error_t *error)
{
   duet_pipeline_cursor_t *cursor = duet_pipeline_open(spec->pipeline, join_source_next, source, sub_env);
   uint32_t index = 0;
   size_t total = 0;
   bool ok;
   const bson_t *result;
   while ((ok = duet_pipeline_next(cursor, &result, error)) && result) {
      total += result->len;
      if (total > LOOKUP_RESULTS_MAX_BYTES) {
         duet_error_set(error, 4568, "Total size of documents in %s matching pipeline's $lookup stage exceeds %u bytes",
                        spec->from ? spec->from : "$cmd.aggregate", LOOKUP_RESULTS_MAX_BYTES);
         ok = false;
         break;
      }
      char key_buffer[16];
      const char *key;
      size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
      bson_append_document(results, key, (int)key_length, result);
   }
   duet_pipeline_close(cursor);
   return ok;
}

bool lookup_apply(const lookup_spec_t *spec, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                  duet_error_t *error)
{
   /* the sub-pipeline's variables: the enclosing ones, then let's evaluated on `doc` */
   size_t variable_count = duet_expr_scope_count(spec->scope);
   bson_value_t *variables = bson_malloc0((variable_count ? variable_count : 1) * sizeof *variables);
   bool *owned = bson_malloc0((variable_count ? variable_count : 1) * sizeof *owned);
   for (size_t i = 0; i < spec->outer_count && env && i < env->variable_count; i++) {
      variables[i] = env->variables[i]; /* borrowed */
   }
   duet_expr_env_t sub_env = {variables, variable_count, env ? env->now_ms : 0};
   join_source_t source = {spec->storage, NULL, NULL, NULL, &sub_env};
   bson_t filter = BSON_INITIALIZER, results = BSON_INITIALIZER;
   bool ok = true;
   for (size_t i = 0; ok && i < spec->let_count; i++) {
      bson_value_t value;
      ok = duet_expr_evaluate(spec->let_exprs[i], doc, env, &value, error);
      if (ok) {
         int slot = spec->let_slots[i];
         if (owned[slot]) {
            bson_value_destroy(&variables[slot]);
         }
         variables[slot] = value;
         owned[slot] = true;
      }
   }
   if (ok && spec->local_field) {
      build_join_filter(spec, doc, &filter);
      ok = duet_match_parse(&filter, DUET_MATCH_FEATURES_NONE, &source.join, error);
   }
   if (ok) {
      if (spec->documents) {
         source.documents = duet_pipeline_open(spec->documents, NULL, NULL, &sub_env);
      } else {
         ok = spec->storage->open(spec->storage->context, spec->from, spec->local_field ? &filter : NULL, &source.scan,
                                  error);
      }
   }
   if (ok) {
      ok = collect_results(spec, &source, &sub_env, &results, error);
   }
   if (source.scan) {
      spec->storage->close(source.scan);
   }
   duet_pipeline_close(source.documents);
   duet_match_destroy(source.join);
   if (ok) {
      bson_value_t array = {.value_type = BSON_TYPE_ARRAY};
      array.value.v_doc.data = (uint8_t *)bson_get_data(&results);
      array.value.v_doc.data_len = results.len;
      copy_with_nested_field(doc, spec->as, &array, out);
   }
   bson_destroy(&results);
   bson_destroy(&filter);
   for (size_t i = 0; i < variable_count; i++) {
      if (owned[i]) {
         bson_value_destroy(&variables[i]);
      }
   }
   bson_free(owned);
   bson_free(variables);
   return ok;
}
