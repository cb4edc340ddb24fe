/*
 * partner_spec.c — the migration spec: parse it from JSON with errors naming the field,
 * write it back as indented JSON (format in docs/partner.md).
 */
#include <duet/doc.h>
#include <duet/partner.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

void duet_partner_spec_destroy(duet_partner_spec_t *spec)
{
   if (!spec) {
      return;
   }
   bson_free(spec->database);
   bson_free(spec->source);
   bson_free(spec->partner);
   bson_destroy(spec->schema);
   bson_destroy(spec->forward);
   bson_destroy(spec->reverse);
   bson_destroy(spec->changes);
   bson_free(spec);
}

duet_partner_spec_t *duet_partner_spec_copy(const duet_partner_spec_t *spec)
{
   duet_partner_spec_t *copy = bson_malloc0(sizeof *copy);
   *copy = *spec;
   copy->database = bson_strdup(spec->database);
   copy->source = bson_strdup(spec->source);
   copy->partner = spec->partner ? bson_strdup(spec->partner) : NULL;
   copy->schema = bson_copy(spec->schema);
   copy->forward = bson_copy(spec->forward);
   copy->reverse = bson_copy(spec->reverse);
   copy->changes = bson_copy(spec->changes);
   return copy;
}

/* Reads a required or optional string field; false with error naming it. */
static bool spec_string(const char *source_name, const bson_t *doc, const char *field, bool required, char **out,
                        duet_error_t *error)
{
   bson_iter_t iter;
   *out = NULL;
   if (!bson_iter_init_find(&iter, doc, field)) {
      if (required) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field '%s' is missing; it names the %s", source_name, field,
                        strcmp(field, "database") == 0 ? "database" : "collection");
         return false;
      }
      return true;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field '%s' must be a string, not %s", source_name, field,
                     bson_iter_type(&iter) == BSON_TYPE_DOCUMENT ? "an object" : "another type");
      return false;
   }
   uint32_t len;
   const char *value = bson_iter_utf8(&iter, &len);
   if (len == 0 || strlen(value) != len) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field '%s' must be a non-empty string without NUL bytes",
                     source_name, field);
      return false;
   }
   *out = bson_strdup(value);
   return true;
}

/* Reads an array of stage documents into *out (owned, as a BSON array). */
static bool spec_pipeline(const char *source_name, const bson_t *doc, const char *field, bool required, bson_t **out,
                          duet_error_t *error)
{
   bson_iter_t iter, child;
   *out = NULL;
   if (!bson_iter_init_find(&iter, doc, field)) {
      if (required) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "%s: field '%s' is missing; give the %s transform as an array of pipeline stages", source_name,
                        field, field);
         return false;
      }
      *out = bson_new();
      return true;
   }
   if (!BSON_ITER_HOLDS_ARRAY(&iter) || !bson_iter_recurse(&iter, &child)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                     "%s: field '%s' must be an array of stage documents such as "
                     "[{\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}]",
                     source_name, field);
      return false;
   }
   int index = 0;
   while (bson_iter_next(&child)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&child)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field '%s': stage %d must be a document", source_name,
                        field, index);
         return false;
      }
      index++;
   }
   uint32_t len;
   const uint8_t *data;
   bson_iter_array(&iter, &len, &data);
   *out = bson_new_from_data(data, len);
   if (!*out) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: field '%s' is not valid BSON", source_name, field);
      return false;
   }
   return true;
}

static bool spec_options(const char *source_name, const bson_t *doc, duet_partner_spec_t *spec, duet_error_t *error)
{
   bson_iter_t iter, option;
   spec->chunk_size = DUET_PARTNER_CHUNK_SIZE_DEFAULT;
   spec->allow_null = false;
   if (!bson_iter_init_find(&iter, doc, "options")) {
      return true;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &option)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field 'options' must be an object", source_name);
      return false;
   }
   while (bson_iter_next(&option)) {
      const char *key = bson_iter_key(&option);
      if (strcmp(key, "chunk_size") == 0) {
         if (!BSON_ITER_HOLDS_NUMBER(&option)) {
            duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field 'options.chunk_size' must be a number",
                           source_name);
            return false;
         }
         int64_t value = bson_iter_as_int64(&option);
         if (value < 1 || value > 1000000) {
            duet_error_set(error, DUET_ERR_BAD_VALUE,
                           "%s: field 'options.chunk_size' must be between 1 and 1000000, not %lld", source_name,
                           (long long)value);
            return false;
         }
         spec->chunk_size = (int32_t)value;
      } else if (strcmp(key, "allow_null") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&option)) {
            duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field 'options.allow_null' must be true or false",
                           source_name);
            return false;
         }
         spec->allow_null = bson_iter_bool(&option);
      } else {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "%s: unknown field 'options.%s'; the options are chunk_size and allow_null", source_name, key);
         return false;
      }
   }
   return true;
}

static const char *const spec_fields[] = {"version", "strategy", "database", "source",  "partner",
                                          "schema",  "forward",  "reverse",  "changes", "options"};

bool duet_partner_spec_from_bson(const char *source_name, const bson_t *doc, duet_partner_spec_t **out,
                                 duet_error_t *error)
{
   duet_partner_spec_t *spec = bson_malloc0(sizeof *spec);
   bson_iter_t iter;
   *out = NULL;
   if (!source_name) {
      source_name = "spec";
   }
   if (!bson_iter_init(&iter, doc)) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: not a valid document", source_name);
      goto fail;
   }
   while (bson_iter_next(&iter)) {
      bool known = false;
      for (size_t i = 0; i < sizeof spec_fields / sizeof spec_fields[0]; i++) {
         known = known || strcmp(bson_iter_key(&iter), spec_fields[i]) == 0;
      }
      if (!known) {
         duet_error_set(error, DUET_ERR_BAD_VALUE,
                        "%s: unknown field '%s'; a spec has version, strategy, database, source, partner, schema, "
                        "forward, reverse, changes and options",
                        source_name, bson_iter_key(&iter));
         goto fail;
      }
   }
   if (!bson_iter_init_find(&iter, doc, "version")) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field 'version' is missing; this duet writes version %d",
                     source_name, DUET_PARTNER_SPEC_VERSION);
      goto fail;
   }
   if (!BSON_ITER_HOLDS_NUMBER(&iter) || bson_iter_as_int64(&iter) != DUET_PARTNER_SPEC_VERSION) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field 'version' must be %d (the spec format this duet reads)",
                     source_name, DUET_PARTNER_SPEC_VERSION);
      goto fail;
   }
   spec->version = DUET_PARTNER_SPEC_VERSION;
   spec->strategy = DUET_PARTNER_STRATEGY_PARTNER;
   if (bson_iter_init_find(&iter, doc, "strategy")) {
      const char *value = BSON_ITER_HOLDS_UTF8(&iter) ? bson_iter_utf8(&iter, NULL) : "";
      if (strcmp(value, "partner") == 0) {
         spec->strategy = DUET_PARTNER_STRATEGY_PARTNER;
      } else if (strcmp(value, "in-place") == 0) {
         spec->strategy = DUET_PARTNER_STRATEGY_IN_PLACE;
      } else {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field 'strategy' must be \"partner\" or \"in-place\"",
                        source_name);
         goto fail;
      }
   }
   bool partner = spec->strategy == DUET_PARTNER_STRATEGY_PARTNER;
   if (!spec_string(source_name, doc, "database", true, &spec->database, error) ||
       !spec_string(source_name, doc, "source", true, &spec->source, error) ||
       !spec_string(source_name, doc, "partner", partner, &spec->partner, error)) {
      goto fail;
   }
   if (!duet_store_validate_namespace(spec->database, spec->source, error) ||
       (spec->partner && !duet_store_validate_namespace(spec->database, spec->partner, error))) {
      duet_error_wrap(error, "%s: field 'database', 'source' or 'partner'", source_name);
      goto fail;
   }
   if (!partner && spec->partner) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field 'partner' makes no sense with strategy \"in-place\"",
                     source_name);
      goto fail;
   }
   if (partner && strcmp(spec->source, spec->partner) == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: fields 'source' and 'partner' name the same collection '%s'",
                     source_name, spec->source);
      goto fail;
   }
   if (!bson_iter_init_find(&iter, doc, "schema")) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field 'schema' is missing; it holds the %s App Services schema",
                     source_name, partner ? "partner's" : "new");
      goto fail;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field 'schema' must be an object (an App Services schema)",
                     source_name);
      goto fail;
   }
   {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      spec->schema = bson_new_from_data(data, len);
      if (!spec->schema) {
         duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: field 'schema' is not valid BSON", source_name);
         goto fail;
      }
      duet_schema_set_t *set = NULL;
      if (!duet_schema_set_from_bson(source_name, spec->schema, false, &set, error)) {
         duet_error_wrap(error, "%s: field 'schema'", source_name);
         goto fail;
      }
      duet_schema_set_destroy(set);
   }
   if (!spec_pipeline(source_name, doc, "forward", true, &spec->forward, error) ||
       !spec_pipeline(source_name, doc, "reverse", partner, &spec->reverse, error)) {
      goto fail;
   }
   if (!partner && !bson_empty(spec->reverse)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: field 'reverse' must be empty with strategy \"in-place\"",
                     source_name);
      goto fail;
   }
   if (!bson_iter_init_find(&iter, doc, "changes")) {
      spec->changes = bson_new();
   } else if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "%s: field 'changes' must be an array", source_name);
      goto fail;
   } else {
      uint32_t len;
      const uint8_t *data;
      bson_iter_array(&iter, &len, &data);
      spec->changes = bson_new_from_data(data, len);
      if (!spec->changes) {
         duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: field 'changes' is not valid BSON", source_name);
         goto fail;
      }
   }
   if (!spec_options(source_name, doc, spec, error)) {
      goto fail;
   }
   *out = spec;
   return true;

fail:
   duet_partner_spec_destroy(spec);
   return false;
}

bool duet_partner_spec_parse(const char *source_name, const uint8_t *data, size_t len, duet_partner_spec_t **out,
                             duet_error_t *error)
{
   bson_error_t json_error;
   *out = NULL;
   if (!source_name) {
      source_name = "spec";
   }
   if (len > (size_t)INT32_MAX) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: too large for a spec", source_name);
      return false;
   }
   if (memchr(data, '\0', len)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "%s: not JSON text (it contains a NUL byte)", source_name);
      return false;
   }
   size_t start = 0;
   while (start < len && (data[start] == ' ' || data[start] == '\t' || data[start] == '\n' || data[start] == '\r')) {
      start++;
   }
   if (start == len || data[start] != '{') {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: not a JSON object: a spec is one object {\"version\": 1, ...}", source_name);
      return false;
   }
   bson_t *doc = bson_new_from_json(data, (ssize_t)len, &json_error);
   if (!doc) {
      duet_json_report_error(source_name, data, len, json_error.message, error);
      return false;
   }
   bool ok = duet_partner_spec_from_bson(source_name, doc, out, error);
   bson_destroy(doc);
   return ok;
}

bool duet_partner_spec_load(const char *path, duet_partner_spec_t **out, duet_error_t *error)
{
   *out = NULL;
   FILE *file = fopen(path, "rb");
   if (!file) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot open spec %s: %s", path, strerror(errno));
      return false;
   }
   size_t capacity = 4096, len = 0;
   uint8_t *data = bson_malloc(capacity);
   size_t n;
   while ((n = fread(data + len, 1, capacity - len, file)) > 0) {
      len += n;
      if (len == capacity) {
         capacity *= 2;
         data = bson_realloc(data, capacity);
      }
   }
   bool read_error = ferror(file) != 0;
   fclose(file);
   if (read_error) {
      bson_free(data);
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot read spec %s", path);
      return false;
   }
   bool ok = duet_partner_spec_parse(path, data, len, out, error);
   bson_free(data);
   return ok;
}

void duet_partner_spec_to_bson(const duet_partner_spec_t *spec, bson_t *out)
{
   bson_t options;
   bson_init(out);
   BSON_APPEND_INT32(out, "version", spec->version ? spec->version : DUET_PARTNER_SPEC_VERSION);
   BSON_APPEND_UTF8(out, "strategy", spec->strategy == DUET_PARTNER_STRATEGY_IN_PLACE ? "in-place" : "partner");
   BSON_APPEND_UTF8(out, "database", spec->database);
   BSON_APPEND_UTF8(out, "source", spec->source);
   if (spec->partner) {
      BSON_APPEND_UTF8(out, "partner", spec->partner);
   }
   BSON_APPEND_DOCUMENT(out, "schema", spec->schema);
   BSON_APPEND_ARRAY(out, "forward", spec->forward);
   BSON_APPEND_ARRAY(out, "reverse", spec->reverse);
   BSON_APPEND_ARRAY(out, "changes", spec->changes);
   BSON_APPEND_DOCUMENT_BEGIN(out, "options", &options);
   BSON_APPEND_INT32(&options, "chunk_size", spec->chunk_size ? spec->chunk_size : DUET_PARTNER_CHUNK_SIZE_DEFAULT);
   BSON_APPEND_BOOL(&options, "allow_null", spec->allow_null);
   bson_append_document_end(out, &options);
}

/* Appends relaxed Extended JSON of the value under `iter`, indented by `depth` levels. */
static void json_value(bson_string_t *text, bson_iter_t *iter, int depth);

static void json_container(bson_string_t *text, bson_iter_t *iter, bool is_array, int depth)
{
   bson_iter_t child;
   bson_iter_recurse(iter, &child);
   bool first = true;
   bson_string_append(text, is_array ? "[" : "{");
   while (bson_iter_next(&child)) {
      bson_string_append_printf(text, "%s\n%*s", first ? "" : ",", (depth + 1) * 2, "");
      if (!is_array) {
         bson_t key;
         bson_init(&key);
         BSON_APPEND_UTF8(&key, "k", bson_iter_key(&child));
         char *json = bson_as_relaxed_extended_json(&key, NULL);
         /* json is { "k" : "<escaped>" } */
         char *start = strchr(json, ':') + 2;
         start[strlen(start) - 2] = '\0';
         bson_string_append_printf(text, "%s: ", start);
         bson_free(json);
         bson_destroy(&key);
      }
      json_value(text, &child, depth + 1);
      first = false;
   }
   if (!first) {
      bson_string_append_printf(text, "\n%*s", depth * 2, "");
   }
   bson_string_append(text, is_array ? "]" : "}");
}

static void json_value(bson_string_t *text, bson_iter_t *iter, int depth)
{
   if (BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter)) {
      json_container(text, iter, BSON_ITER_HOLDS_ARRAY(iter), depth);
      return;
   }
   if (BSON_ITER_HOLDS_INT64(iter)) {
      /* relaxed JSON would print a plain number, read back as an int: keep the type */
      bson_string_append_printf(text, "{\"$numberLong\": \"%lld\"}", (long long)bson_iter_int64(iter));
      return;
   }
   bson_t wrapper;
   bson_init(&wrapper);
   bson_append_iter(&wrapper, "v", 1, iter);
   char *json = bson_as_relaxed_extended_json(&wrapper, NULL);
   /* json is { "v" : <value> } */
   char *start = strchr(json, ':') + 2;
   start[strlen(start) - 2] = '\0';
   bson_string_append(text, start);
   bson_free(json);
   bson_destroy(&wrapper);
}

char *duet_partner_spec_to_json(const duet_partner_spec_t *spec)
{
   bson_t doc;
   duet_partner_spec_to_bson(spec, &doc);
   bson_t root;
   bson_init(&root);
   BSON_APPEND_DOCUMENT(&root, "spec", &doc);
   bson_iter_t iter;
   bson_iter_init_find(&iter, &root, "spec");
   bson_string_t *text = bson_string_new(NULL);
   json_value(text, &iter, 0);
   bson_string_append(text, "\n");
   bson_destroy(&root);
   bson_destroy(&doc);
   return bson_string_free(text, false);
}

bool duet_partner_spec_save(const duet_partner_spec_t *spec, const char *path, duet_error_t *error)
{
   char *json = duet_partner_spec_to_json(spec);
   FILE *file = fopen(path, "wb");
   if (!file) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot write spec %s: %s", path, strerror(errno));
      bson_free(json);
      return false;
   }
   size_t len = strlen(json);
   bool ok = fwrite(json, 1, len, file) == len;
   ok = (fclose(file) == 0) && ok;
   bson_free(json);
   if (!ok) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot write spec %s: %s", path, strerror(errno));
   }
   return ok;
}
