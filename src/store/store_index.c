/*
 * store_index.c — secondary indexes: spec checking and naming, the catalog
 * rows (duet_indexes), one SQLite table of (k = encoded key, id = encoded _id)
 * per index, key generation (dotted paths, multikey arrays, compound keys with
 * descending parts, sparse, partial filters) kept in step with every write,
 * MongoDB's E11000 DuplicateKey error, and the createIndexes/dropIndexes
 * change events ({indexes: [specs]}, logged as MongoDB logs them).
 */
#include "store/store_internal.h"

#include <duet/doc.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- formatting values as MongoDB's BSONElement::toString ------------------------ */

static void format_document(bson_string_t *out, const uint8_t *data, uint32_t len, bool array)
{
   bson_iter_t iter;
   if (!bson_iter_init_from_data(&iter, data, len)) {
      bson_string_append(out, array ? "[]" : "{}");
      return;
   }
   bson_string_append(out, array ? "[" : "{");
   bool first = true;
   while (bson_iter_next(&iter)) {
      bson_string_append(out, first ? " " : ", ");
      first = false;
      if (!array) {
         bson_string_append_printf(out, "%s: ", bson_iter_key(&iter));
      }
      duet_store_format_value(out, bson_iter_value(&iter));
   }
   bson_string_append(out, first ? (array ? "]" : "}") : (array ? " ]" : " }"));
}

void duet_store_format_value(bson_string_t *out, const bson_value_t *value)
{
   char oid[25];
   switch (value->value_type) {
   case BSON_TYPE_INT32: bson_string_append_printf(out, "%d", value->value.v_int32); break;
   case BSON_TYPE_INT64: bson_string_append_printf(out, "%lld", (long long)value->value.v_int64); break;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (isnan(d)) {
         bson_string_append(out, "nan.0");
      } else if (isinf(d)) {
         bson_string_append(out, d > 0 ? "inf.0" : "-inf.0");
      } else if (d == floor(d) && fabs(d) < 1e15) {
         bson_string_append_printf(out, "%.1f", d);
      } else {
         bson_string_append_printf(out, "%.17g", d);
      }
      break;
   }
   case BSON_TYPE_DECIMAL128: {
      char text[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&value->value.v_decimal128, text);
      bson_string_append_printf(out, "NumberDecimal(\"%s\")", text);
      break;
   }
   case BSON_TYPE_UTF8: bson_string_append_printf(out, "\"%s\"", value->value.v_utf8.str); break;
   case BSON_TYPE_SYMBOL: bson_string_append_printf(out, "\"%s\"", value->value.v_symbol.symbol); break;
   case BSON_TYPE_OID:
      bson_oid_to_string(&value->value.v_oid, oid);
      bson_string_append_printf(out, "ObjectId('%s')", oid);
      break;
   case BSON_TYPE_BOOL: bson_string_append(out, value->value.v_bool ? "true" : "false"); break;
   case BSON_TYPE_NULL: bson_string_append(out, "null"); break;
   case BSON_TYPE_UNDEFINED: bson_string_append(out, "undefined"); break;
   case BSON_TYPE_MINKEY: bson_string_append(out, "MinKey"); break;
   case BSON_TYPE_MAXKEY: bson_string_append(out, "MaxKey"); break;
   case BSON_TYPE_DATE_TIME: bson_string_append_printf(out, "new Date(%lld)", (long long)value->value.v_datetime); break;
   case BSON_TYPE_TIMESTAMP:
      bson_string_append_printf(out, "Timestamp(%u, %u)", value->value.v_timestamp.timestamp,
                                value->value.v_timestamp.increment);
      break;
   case BSON_TYPE_REGEX:
      bson_string_append_printf(out, "/%s/%s", value->value.v_regex.regex, value->value.v_regex.options);
      break;
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY:
      format_document(out, value->value.v_doc.data, value->value.v_doc.data_len,
                      value->value_type == BSON_TYPE_ARRAY);
      break;
   case BSON_TYPE_BINARY:
      bson_string_append_printf(out, "BinData(%d, ", (int)value->value.v_binary.subtype);
      for (uint32_t i = 0; i < value->value.v_binary.data_len; i++) {
         bson_string_append_printf(out, "%02X", value->value.v_binary.data[i]);
      }
      bson_string_append(out, ")");
      break;
   default: bson_string_append_printf(out, "<%s>", duet_type_name(value->value_type)); break;
   }
}

void duet_store_duplicate_key_error(const char *db, const char *coll, const char *index_name,
                                    const bson_t *key_pattern, const bson_t *key_value, duet_error_t *error)
{
   bson_string_t *text = bson_string_new(NULL);
   format_document(text, bson_get_data(key_value), key_value->len, false);
   duet_error_set(error, DUET_ERR_DUPLICATE_KEY, "E11000 duplicate key error collection: %s.%s index: %s dup key: %s",
                  db, coll, index_name, text->str);
   bson_string_free(text, true);
   bson_t *extra = bson_new();
   BSON_APPEND_DOCUMENT(extra, "keyPattern", key_pattern);
   BSON_APPEND_DOCUMENT(extra, "keyValue", key_value);
   duet_error_take_extra(error, extra);
}

/* ---- index definitions --------------------------------------------------------------- */

void duet_store_index_free(duet_store_index_t *index)
{
   bson_free(index->name);
   bson_destroy(index->spec);
   for (size_t i = 0; i < index->field_count; i++) {
      bson_free(index->fields[i]);
   }
   bson_free(index->fields);
   bson_free(index->descending);
   if (index->partial) {
      duet_store_match_free(index->partial);
   }
   memset(index, 0, sizeof *index);
}

/* Fills `index` from a stored spec (already checked). */
static bool index_from_spec(const bson_t *spec, const char *table, duet_store_index_t *index, duet_error_t *error)
{
   memset(index, 0, sizeof *index);
   index->spec = bson_copy(spec);
   snprintf(index->table, sizeof index->table, "%s", table);
   bson_iter_t iter, key;
   if (bson_iter_init_find(&iter, spec, "name")) {
      index->name = bson_strdup(bson_iter_utf8(&iter, NULL));
   }
   if (bson_iter_init_find(&iter, spec, "key") && bson_iter_recurse(&iter, &key)) {
      while (bson_iter_next(&key)) {
         index->fields = bson_realloc(index->fields, (index->field_count + 1) * sizeof *index->fields);
         index->descending = bson_realloc(index->descending, (index->field_count + 1) * sizeof *index->descending);
         index->fields[index->field_count] = bson_strdup(bson_iter_key(&key));
         index->descending[index->field_count] = bson_iter_as_double(&key) < 0;
         index->field_count++;
      }
   }
   index->unique = bson_iter_init_find(&iter, spec, "unique") && bson_iter_as_bool(&iter);
   index->sparse = bson_iter_init_find(&iter, spec, "sparse") && bson_iter_as_bool(&iter);
   if (bson_iter_init_find(&iter, spec, "partialFilterExpression") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      bson_t filter;
      bson_init_static(&filter, data, len);
      index->has_partial = true;
      if (!duet_store_match_parse(&filter, &index->partial, error)) {
         return false;
      }
   }
   if (!index->name || index->field_count == 0) {
      duet_error_set(error, DUET_ERR_INTERNAL, "malformed index spec in the catalog");
      return false;
   }
   return true;
}

bool duet_store_index_load(duet_session_t *session, duet_store_coll_t *coll, duet_error_t *error)
{
   /* rowid order is creation order, the order listIndexes reports */
   sqlite3_stmt *stmt = duet_store_stmt(
      session, "SELECT spec, table_name FROM duet_indexes WHERE collection_id = ? ORDER BY rowid", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, coll->id);
   int rc;
   bool ok = true;
   while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      bson_t spec;
      if (!bson_init_static(&spec, sqlite3_column_blob(stmt, 0), (size_t)sqlite3_column_bytes(stmt, 0))) {
         duet_error_set(error, DUET_ERR_INTERNAL, "malformed index spec in the catalog");
         ok = false;
         break;
      }
      coll->indexes = bson_realloc(coll->indexes, (coll->index_count + 1) * sizeof *coll->indexes);
      ok = index_from_spec(&spec, (const char *)sqlite3_column_text(stmt, 1), &coll->indexes[coll->index_count],
                           error);
      coll->index_count++;
   }
   if (ok && rc != SQLITE_DONE) {
      ok = duet_store_sqlite_error(session->db, rc, "load indexes", error);
   }
   sqlite3_reset(stmt);
   return ok;
}

/* ---- key generation --------------------------------------------------------------------- */

typedef struct gen_key {
   duet_key_t key;   /* encoded key */
   bson_t *value;    /* owned keyValue document for error messages */
} gen_key_t;

typedef struct value_list {
   bson_value_t *values; /* borrowed from the document (copies of bson_value_t headers) */
   size_t count;
   size_t capacity;
   bool expanded;        /* came through an array */
   bool missing;         /* path absent */
} value_list_t;

static void list_push(value_list_t *list, const bson_value_t *value)
{
   if (list->count == list->capacity) {
      list->capacity = list->capacity ? list->capacity * 2 : 4;
      list->values = bson_realloc(list->values, list->capacity * sizeof *list->values);
   }
   list->values[list->count++] = *value;
}

static void collect(bson_iter_t *parent_children, const char *path, value_list_t *list);

/* Values at `path` below the current element (a document or an array element). */
static void collect_from(const bson_value_t *value, const char *path, value_list_t *list, bson_iter_t *holder)
{
   if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_iter_t child;
      if (bson_iter_recurse(holder, &child)) {
         collect(&child, path, list);
      }
   } else if (value->value_type == BSON_TYPE_ARRAY) {
      list->expanded = true;
      bson_iter_t element;
      bson_iter_recurse(holder, &element);
      char *end;
      unsigned long position = strtoul(path, &end, 10);
      bool numeric = end != path && (*end == '.' || *end == '\0');
      while (bson_iter_next(&element)) {
         if (BSON_ITER_HOLDS_DOCUMENT(&element)) {
            bson_iter_t child;
            bson_iter_recurse(&element, &child);
            collect(&child, path, list);
         }
         if (numeric && strtoul(bson_iter_key(&element), NULL, 10) == position) {
            if (*end == '\0') {
               list_push(list, bson_iter_value(&element));
            } else {
               collect_from(bson_iter_value(&element), end + 1, list, &element);
            }
         }
      }
   }
}

static void collect(bson_iter_t *children, const char *path, value_list_t *list)
{
   const char *dot = strchr(path, '.');
   size_t len = dot ? (size_t)(dot - path) : strlen(path);
   while (bson_iter_next(children)) {
      const char *key = bson_iter_key(children);
      if (strlen(key) != len || strncmp(key, path, len) != 0) {
         continue;
      }
      const bson_value_t *value = bson_iter_value(children);
      if (!dot) {
         if (value->value_type == BSON_TYPE_ARRAY) {
            list->expanded = true;
            bson_iter_t element;
            bson_iter_recurse(children, &element);
            bool any = false;
            while (bson_iter_next(&element)) {
               list_push(list, bson_iter_value(&element));
               any = true;
            }
            if (!any) {
               bson_value_t undefined = {.value_type = BSON_TYPE_UNDEFINED};
               list_push(list, &undefined);
            }
         } else {
            list_push(list, value);
         }
      } else {
         collect_from(value, dot + 1, list, children);
      }
      return;
   }
}

static int compare_gen_keys(const void *a, const void *b)
{
   const gen_key_t *ka = a, *kb = b;
   return duet_key_compare(ka->key.data, ka->key.len, kb->key.data, kb->key.len);
}

static void free_keys(gen_key_t *keys, size_t count)
{
   for (size_t i = 0; i < count; i++) {
      duet_key_destroy(&keys[i].key);
      bson_destroy(keys[i].value);
   }
   bson_free(keys);
}

/* Index keys of `doc` (sorted, unique): *keys owned by the caller (free_keys). */
static bool generate_keys(const duet_store_index_t *index, const bson_t *doc, gen_key_t **keys, size_t *count,
                          duet_error_t *error)
{
   *keys = NULL;
   *count = 0;
   if (index->has_partial) {
      bool matched = false;
      if (!duet_store_match_doc(index->partial, doc, &matched, error)) {
         return false;
      }
      if (!matched) {
         return true;
      }
   }
   value_list_t *lists = bson_malloc0(index->field_count * sizeof *lists);
   bool all_missing = true;
   size_t array_field = SIZE_MAX;
   bool ok = true;
   for (size_t f = 0; f < index->field_count; f++) {
      bson_iter_t iter;
      bson_iter_init(&iter, doc);
      collect(&iter, index->fields[f], &lists[f]);
      if (lists[f].count == 0) {
         lists[f].missing = true;
         bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
         list_push(&lists[f], &null_value);
      } else {
         all_missing = false;
      }
      if (lists[f].expanded) {
         if (array_field != SIZE_MAX) {
            duet_error_set(error, DUET_ERR_CANNOT_INDEX_PARALLEL_ARRAYS, "cannot index parallel arrays [%s] [%s]",
                           index->fields[f], index->fields[array_field]);
            ok = false;
            break;
         }
         array_field = f;
      }
   }
   if (ok && !(index->sparse && all_missing)) {
      size_t n = array_field == SIZE_MAX ? 1 : lists[array_field].count;
      *keys = bson_malloc0(n * sizeof **keys);
      for (size_t k = 0; k < n; k++) {
         gen_key_t *key = &(*keys)[k];
         duet_key_init(&key->key);
         key->value = bson_new();
         for (size_t f = 0; f < index->field_count; f++) {
            const bson_value_t *value = &lists[f].values[f == array_field ? k : 0];
            duet_key_append_value(&key->key, value, index->descending[f]);
            bson_append_value(key->value, index->fields[f], -1, value);
         }
      }
      qsort(*keys, n, sizeof **keys, compare_gen_keys);
      size_t unique = 0;
      for (size_t k = 0; k < n; k++) {
         if (unique > 0 && compare_gen_keys(&(*keys)[unique - 1], &(*keys)[k]) == 0) {
            duet_key_destroy(&(*keys)[k].key);
            bson_destroy((*keys)[k].value);
         } else {
            (*keys)[unique++] = (*keys)[k];
         }
      }
      *count = unique;
   }
   for (size_t f = 0; f < index->field_count; f++) {
      bson_free(lists[f].values);
   }
   bson_free(lists);
   return ok;
}

static bool key_pattern(const duet_store_index_t *index, bson_t *pattern)
{
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, index->spec, "key") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      return bson_init_static(pattern, data, len);
   }
   return false;
}

static bool write_keys(duet_session_t *session, duet_store_coll_t *coll, duet_store_index_t *index,
                       const gen_key_t *keys, size_t count, const duet_key_t *id, bool insert, duet_error_t *error)
{
   char sql[128];
   if (insert) {
      snprintf(sql, sizeof sql, "INSERT INTO %s(k, id) VALUES(?, ?)", index->table);
   } else {
      snprintf(sql, sizeof sql, "DELETE FROM %s WHERE k = ? AND id = ?", index->table);
   }
   sqlite3_stmt *stmt = duet_store_stmt(session, sql, error);
   if (!stmt) {
      return false;
   }
   for (size_t i = 0; i < count; i++) {
      sqlite3_reset(stmt);
      sqlite3_bind_blob(stmt, 1, keys[i].key.data, (int)keys[i].key.len, SQLITE_STATIC);
      sqlite3_bind_blob(stmt, 2, id->data, (int)id->len, SQLITE_STATIC);
      int rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) {
         sqlite3_reset(stmt);
         if (rc == SQLITE_CONSTRAINT_PRIMARYKEY && index->unique) {
            bson_t pattern;
            key_pattern(index, &pattern);
            duet_store_duplicate_key_error(coll->db, coll->name, index->name, &pattern, keys[i].value, error);
            return false;
         }
         return duet_store_sqlite_error(session->db, rc, "index write", error);
      }
   }
   sqlite3_reset(stmt);
   return true;
}

static bool same_keys(const gen_key_t *a, size_t a_count, const gen_key_t *b, size_t b_count)
{
   if (a_count != b_count) {
      return false;
   }
   for (size_t i = 0; i < a_count; i++) {
      if (compare_gen_keys(&a[i], &b[i]) != 0) {
         return false;
      }
   }
   return true;
}

static bool index_one(duet_session_t *session, duet_store_coll_t *coll, duet_store_index_t *index,
                      const bson_t *old_doc, const bson_t *new_doc, duet_error_t *error)
{
   gen_key_t *old_keys = NULL, *new_keys = NULL;
   size_t old_count = 0, new_count = 0;
   bool ok = (!old_doc || generate_keys(index, old_doc, &old_keys, &old_count, error)) &&
             (!new_doc || generate_keys(index, new_doc, &new_keys, &new_count, error));
   if (ok && !same_keys(old_keys, old_count, new_keys, new_count)) {
      bson_iter_t id_iter;
      bson_iter_init_find(&id_iter, old_doc ? old_doc : new_doc, "_id");
      duet_key_t id = DUET_KEY_INIT;
      duet_key_set_value(&id, bson_iter_value(&id_iter));
      ok = write_keys(session, coll, index, old_keys, old_count, &id, false, error) &&
           write_keys(session, coll, index, new_keys, new_count, &id, true, error);
      duet_key_destroy(&id);
   }
   free_keys(old_keys, old_count);
   free_keys(new_keys, new_count);
   return ok;
}

bool duet_store_index_update(duet_session_t *session, duet_store_coll_t *coll, const bson_t *old_doc,
                             const bson_t *new_doc, duet_error_t *error)
{
   for (size_t i = 0; i < coll->index_count; i++) {
      if (!index_one(session, coll, &coll->indexes[i], old_doc, new_doc, error)) {
         return false;
      }
   }
   return true;
}

/* ---- createIndexes ------------------------------------------------------------------------------ */

static bool spec_error(int32_t code, const bson_t *spec, const char *what, duet_error_t *error)
{
   char *json = bson_as_relaxed_extended_json(spec, NULL);
   duet_error_set(error, code, "Error in specification %s :: caused by :: %s", json, what);
   bson_free(json);
   return false;
}

/* Checks one spec and builds the normalized spec to store: {v, key, name, unique?, sparse?, partialFilterExpression?}. */
static bool normalize_spec(const bson_t *spec, bson_t *out, duet_error_t *error)
{
   bson_iter_t iter;
   const bson_t *key_doc = NULL;
   bson_t key_view;
   const char *name = NULL;
   bool unique = false, sparse = false, has_unique = false, has_sparse = false;
   bson_t partial_view;
   bool has_partial = false;
   bson_iter_init(&iter, spec);
   while (bson_iter_next(&iter)) {
      const char *field = bson_iter_key(&iter);
      if (!strcmp(field, "key")) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            return spec_error(DUET_ERR_TYPE_MISMATCH, spec, "The 'key' field must be an object", error);
         }
         uint32_t len;
         const uint8_t *data;
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&key_view, data, len);
         key_doc = &key_view;
      } else if (!strcmp(field, "name")) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            return spec_error(DUET_ERR_TYPE_MISMATCH, spec, "The field 'name' must be a string", error);
         }
         name = bson_iter_utf8(&iter, NULL);
      } else if (!strcmp(field, "unique")) {
         has_unique = true;
         unique = bson_iter_as_bool(&iter);
      } else if (!strcmp(field, "sparse")) {
         has_sparse = true;
         sparse = bson_iter_as_bool(&iter);
      } else if (!strcmp(field, "partialFilterExpression")) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            return spec_error(DUET_ERR_TYPE_MISMATCH, spec, "The field 'partialFilterExpression' must be an object",
                              error);
         }
         uint32_t len;
         const uint8_t *data;
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&partial_view, data, len);
         has_partial = true;
      } else if (!strcmp(field, "v") || !strcmp(field, "background") || !strcmp(field, "ns")) {
         continue;
      } else {
         char *json = bson_as_relaxed_extended_json(spec, NULL);
         duet_error_set(error, 197, "The field '%s' is not valid for an index specification. Specification: %s", field,
                        json);
         bson_free(json);
         return false;
      }
   }
   if (!key_doc) {
      return spec_error(DUET_ERR_FAILED_TO_PARSE, spec, "The 'key' field is a required property of an index specification",
                        error);
   }
   if (bson_count_keys(key_doc) == 0) {
      return spec_error(DUET_ERR_CANNOT_CREATE_INDEX, spec, "Index keys cannot be an empty field", error);
   }
   bson_string_t *generated = bson_string_new(NULL);
   bson_iter_init(&iter, key_doc);
   while (bson_iter_next(&iter)) {
      const char *field = bson_iter_key(&iter);
      if (field[0] == '\0' || field[0] == '$') {
         bson_string_free(generated, true);
         return spec_error(DUET_ERR_CANNOT_CREATE_INDEX, spec, "Index key contains an illegal field name", error);
      }
      if (BSON_ITER_HOLDS_UTF8(&iter)) {
         char what[160];
         snprintf(what, sizeof what, "Index type '%s' is not supported by duetd", bson_iter_utf8(&iter, NULL));
         bson_string_free(generated, true);
         return spec_error(DUET_ERR_CANNOT_CREATE_INDEX, spec, what, error);
      }
      if (!BSON_ITER_HOLDS_NUMBER(&iter) || bson_iter_as_double(&iter) == 0 || isnan(bson_iter_as_double(&iter))) {
         bson_string_free(generated, true);
         return spec_error(DUET_ERR_CANNOT_CREATE_INDEX, spec, "Values in the index key pattern can only be positive or negative numbers", error);
      }
      bson_string_append_printf(generated, "%s%s_%d", generated->len ? "_" : "", field,
                                bson_iter_as_double(&iter) < 0 ? -1 : 1);
   }
   bson_init(out);
   BSON_APPEND_INT32(out, "v", 2);
   BSON_APPEND_DOCUMENT(out, "key", key_doc);
   BSON_APPEND_UTF8(out, "name", name ? name : generated->str);
   bson_string_free(generated, true);
   if (has_unique && unique) {
      BSON_APPEND_BOOL(out, "unique", true);
   }
   if (has_sparse && sparse) {
      BSON_APPEND_BOOL(out, "sparse", true);
   }
   if (has_partial) {
      BSON_APPEND_DOCUMENT(out, "partialFilterExpression", &partial_view);
   }
   if (name && name[0] == '\0') {
      bson_destroy(out);
      return spec_error(DUET_ERR_CANNOT_CREATE_INDEX, spec, "index name cannot be empty", error);
   }
   return true;
}

static bool spec_field_equal(const bson_t *a, const bson_t *b, const char *field)
{
   bson_iter_t ia, ib;
   bool has_a = bson_iter_init_find(&ia, a, field);
   bool has_b = bson_iter_init_find(&ib, b, field);
   if (has_a != has_b) {
      return false;
   }
   return !has_a || duet_iter_compare(&ia, &ib) == 0;
}

typedef struct create_indexes_args {
   const char *db, *coll;
   const bson_t *specs;
   int32_t *created;
} create_indexes_args_t;

static bool build_index(duet_session_t *session, duet_store_coll_t *coll, const bson_t *spec, duet_error_t *error)
{
   char table[48];
   bson_oid_t oid;
   bson_oid_init(&oid, NULL);
   char hex[25];
   bson_oid_to_string(&oid, hex);
   snprintf(table, sizeof table, "i%lld_%s", (long long)coll->id, hex);
   duet_store_index_t index;
   if (!index_from_spec(spec, table, &index, error)) {
      duet_store_index_free(&index);
      return false;
   }
   char sql[256];
   snprintf(sql, sizeof sql,
            index.unique ? "CREATE TABLE %s(k BLOB PRIMARY KEY, id BLOB NOT NULL) WITHOUT ROWID"
                         : "CREATE TABLE %s(k BLOB NOT NULL, id BLOB NOT NULL, PRIMARY KEY(k, id)) WITHOUT ROWID",
            table);
   bool ok = duet_store_exec(session, sql, error);
   sqlite3_stmt *insert = ok ? duet_store_stmt(session,
                                              "INSERT INTO duet_indexes(collection_id, name, spec, table_name) "
                                              "VALUES(?, ?, ?, ?)",
                                              error)
                             : NULL;
   if (insert) {
      sqlite3_bind_int64(insert, 1, coll->id);
      sqlite3_bind_text(insert, 2, index.name, -1, SQLITE_STATIC);
      sqlite3_bind_blob(insert, 3, bson_get_data(spec), (int)spec->len, SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, table, -1, SQLITE_STATIC);
      int rc = sqlite3_step(insert);
      sqlite3_reset(insert);
      ok = rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "create index", error);
   } else {
      ok = false;
   }
   /* build over the existing documents */
   duet_store_cursor_t *cursor = NULL;
   if (ok) {
      ok = duet_store_scan(session, coll->db, coll->name, NULL, NULL, false, &cursor, error);
   }
   const bson_t *doc;
   while (ok && duet_store_cursor_next(cursor, &doc, error) && doc) {
      ok = index_one(session, coll, &index, NULL, doc, error);
   }
   if (ok && error && error->code) {
      ok = false;
   }
   duet_store_cursor_destroy(cursor);
   duet_store_index_free(&index);
   return ok;
}

/* Appends a createIndexes or dropIndexes event {indexes: [specs]}: `specs` is an array document. */
static bool index_event(duet_session_t *session, const char *op, const char *db, const char *coll,
                        const uint8_t *uuid, const bson_t *specs, duet_error_t *error)
{
   bson_t description = BSON_INITIALIZER;
   BSON_APPEND_ARRAY(&description, "indexes", specs);
   duet_store_change_entry_t entry = {.op = op, .db = db, .coll = coll, .uuid = uuid, .description = &description};
   bool ok = duet_store_changelog_append(session, &entry, error);
   bson_destroy(&description);
   return ok;
}

/* The createIndexes events of the indexes built (`built`, an array document), as MongoDB
 * logs them: one per index on an empty collection, else one for the whole build. */
static bool create_indexes_events(duet_session_t *session, const create_indexes_args_t *args, const uint8_t *uuid,
                                  bool was_empty, const bson_t *built, duet_error_t *error)
{
   if (!was_empty) {
      return bson_count_keys(built) == 0 || index_event(session, "createIndexes", args->db, args->coll, uuid, built,
                                                        error);
   }
   bson_iter_t iter;
   bson_iter_init(&iter, built);
   bool ok = true;
   while (ok && bson_iter_next(&iter)) {
      bson_t one = BSON_INITIALIZER;
      bson_append_iter(&one, "0", 1, &iter);
      ok = index_event(session, "createIndexes", args->db, args->coll, uuid, &one, error);
      bson_destroy(&one);
   }
   return ok;
}

/* Builds the indexes of args->specs on collection coll_id; appends each new index's spec to `built`. */
static bool create_indexes_specs(duet_session_t *session, create_indexes_args_t *args, int64_t coll_id, bson_t *built,
                                 duet_error_t *error)
{
   duet_store_coll_t *coll = NULL;
   bson_iter_t iter;
   bson_iter_init(&iter, args->specs);
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Each index specification must be an object");
         return false;
      }
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      bson_t spec, normalized;
      bson_init_static(&spec, data, len);
      if (!normalize_spec(&spec, &normalized, error)) {
         return false;
      }
      /* re-read the catalog: earlier specs of this command may have added indexes */
      if (!duet_store_coll_lookup(session, args->db, args->coll, &coll, error) || !coll || coll->id != coll_id) {
         bson_destroy(&normalized);
         if (error && !error->code) {
            duet_error_set(error, DUET_ERR_INTERNAL, "collection changed during createIndexes");
         }
         return false;
      }
      bson_iter_t name_iter, key_iter;
      bson_iter_init_find(&name_iter, &normalized, "name");
      const char *name = bson_iter_utf8(&name_iter, NULL);
      bson_iter_init_find(&key_iter, &normalized, "key");
      bson_t id_pattern = BSON_INITIALIZER;
      BSON_APPEND_INT32(&id_pattern, "_id", 1);
      bson_t key_view;
      uint32_t key_len;
      const uint8_t *key_data;
      bson_iter_document(&key_iter, &key_len, &key_data);
      bson_init_static(&key_view, key_data, key_len);
      bool id_key = duet_doc_compare(&key_view, &id_pattern) == 0 && bson_count_keys(&key_view) == 1;
      bson_destroy(&id_pattern);
      if (id_key || strcmp(name, "_id_") == 0) {
         bson_destroy(&normalized);
         if (!id_key || strcmp(name, "_id_") != 0) {
            duet_error_set(error, DUET_ERR_INDEX_KEY_SPECS_CONFLICT,
                           "An existing index has the same name as the requested index or the same key pattern: _id_");
            return false;
         }
         continue; /* the _id index always exists */
      }
      bool skip = false;
      for (size_t i = 0; i < coll->index_count; i++) {
         duet_store_index_t *existing = &coll->indexes[i];
         bool same_name = strcmp(existing->name, name) == 0;
         bool same_key = spec_field_equal(existing->spec, &normalized, "key");
         bool same_options = spec_field_equal(existing->spec, &normalized, "unique") &&
                             spec_field_equal(existing->spec, &normalized, "sparse") &&
                             spec_field_equal(existing->spec, &normalized, "partialFilterExpression");
         char *requested = NULL, *current = NULL;
         if (same_name && same_key && same_options) {
            skip = true;
            break;
         }
         if (same_name || (same_key && same_options)) {
            requested = bson_as_relaxed_extended_json(&normalized, NULL);
            current = bson_as_relaxed_extended_json(existing->spec, NULL);
            if (same_name && !same_key) {
               duet_error_set(error, DUET_ERR_INDEX_KEY_SPECS_CONFLICT,
                              "An existing index has the same name as the requested index. When index names are not "
                              "specified, they are auto generated and can cause conflicts. Please refer to our "
                              "documentation. Requested index: %s, existing index: %s",
                              requested, current);
            } else if (same_name) {
               duet_error_set(error, DUET_ERR_INDEX_OPTIONS_CONFLICT,
                              "An equivalent index already exists with the same name but different options. Requested "
                              "index: %s, existing index: %s",
                              requested, current);
            } else {
               duet_error_set(error, DUET_ERR_INDEX_OPTIONS_CONFLICT,
                              "Index already exists with a different name: %s", existing->name);
            }
            bson_free(requested);
            bson_free(current);
            bson_destroy(&normalized);
            return false;
         }
      }
      if (!skip) {
         if (!build_index(session, coll, &normalized, error)) {
            bson_destroy(&normalized);
            return false;
         }
         duet_store_catalog_touch(session);
         char key_buffer[16];
         const char *key;
         bson_uint32_to_string(bson_count_keys(built), &key, key_buffer, sizeof key_buffer);
         BSON_APPEND_DOCUMENT(built, key, &normalized);
         (*args->created)++;
      }
      bson_destroy(&normalized);
   }
   return true;
}

static bool create_indexes_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   create_indexes_args_t *args = arg;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup_or_create(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   int64_t coll_id = coll->id;
   uint8_t uuid[16];
   memcpy(uuid, coll->uuid, 16);
   duet_store_cursor_t *probe = NULL;
   const bson_t *first = NULL;
   bool ok = duet_store_scan(session, args->db, args->coll, NULL, NULL, false, &probe, error) &&
             duet_store_cursor_next(probe, &first, error);
   bool was_empty = first == NULL;
   duet_store_cursor_destroy(probe);
   bson_t built = BSON_INITIALIZER;
   ok = ok && create_indexes_specs(session, args, coll_id, &built, error) &&
        create_indexes_events(session, args, uuid, was_empty, &built, error);
   bson_destroy(&built);
   return ok;
}

bool duet_store_create_indexes(duet_session_t *session, const char *db, const char *coll, const bson_t *specs,
                               int32_t *created, duet_error_t *error)
{
   int32_t ignored = 0;
   if (created) {
      *created = 0;
   }
   create_indexes_args_t args = {db, coll, specs, created ? created : &ignored};
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   if (session->in_write) {
      /* all or nothing inside the caller's transaction */
      if (!duet_session_savepoint(session, error)) {
         return false;
      }
      if (!create_indexes_work(session, &args, error)) {
         duet_session_savepoint_rollback(session);
         return false;
      }
      return duet_session_savepoint_release(session, error);
   }
   return duet_store_in_write(session, create_indexes_work, &args, error);
}

/* ---- dropIndexes / listIndexes ----------------------------------------------------------------------- */

typedef struct drop_index_args {
   const char *db, *coll, *name;
} drop_index_args_t;

static bool drop_one(duet_session_t *session, duet_store_coll_t *coll, duet_store_index_t *index, duet_error_t *error)
{
   duet_store_stmt_cache_clear(session);
   char sql[256];
   snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", index->table);
   if (!duet_store_exec(session, sql, error)) {
      return false;
   }
   sqlite3_stmt *stmt = duet_store_stmt(session, "DELETE FROM duet_indexes WHERE collection_id = ? AND name = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, coll->id);
   sqlite3_bind_text(stmt, 2, index->name, -1, SQLITE_TRANSIENT);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   return rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "drop index", error);
}

static bool drop_index_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   drop_index_args_t *args = arg;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   if (!coll) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "ns not found %s.%s", args->db, args->coll);
      return false;
   }
   if (strcmp(args->name, "_id_") == 0) {
      duet_error_set(error, DUET_ERR_INVALID_OPTIONS, "cannot drop _id index");
      return false;
   }
   bool all = strcmp(args->name, "*") == 0;
   bool found = false;
   for (size_t i = 0; i < coll->index_count; i++) {
      if (all || strcmp(coll->indexes[i].name, args->name) == 0) {
         found = true;
         bson_t one = BSON_INITIALIZER; /* MongoDB logs each dropped index on its own */
         BSON_APPEND_DOCUMENT(&one, "0", coll->indexes[i].spec);
         bool ok = drop_one(session, coll, &coll->indexes[i], error) &&
                   index_event(session, "dropIndexes", args->db, args->coll, coll->uuid, &one, error);
         bson_destroy(&one);
         if (!ok) {
            return false;
         }
      }
   }
   duet_store_catalog_touch(session);
   if (!found && !all) {
      duet_error_set(error, DUET_ERR_INDEX_NOT_FOUND, "index not found with name [%s]", args->name);
      return false;
   }
   return true;
}

bool duet_store_drop_index(duet_session_t *session, const char *db, const char *coll, const char *name,
                           duet_error_t *error)
{
   drop_index_args_t args = {db, coll, name};
   return duet_store_in_write(session, drop_index_work, &args, error);
}

bool duet_store_list_indexes(duet_session_t *session, const char *db, const char *coll_name, bson_t *specs,
                             duet_error_t *error)
{
   bson_init(specs);
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, db, coll_name, &coll, error)) {
      return false;
   }
   if (!coll) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "ns does not exist: %s.%s", db, coll_name);
      return false;
   }
   bson_t id_spec;
   BSON_APPEND_DOCUMENT_BEGIN(specs, "0", &id_spec);
   BSON_APPEND_INT32(&id_spec, "v", 2);
   bson_t key;
   BSON_APPEND_DOCUMENT_BEGIN(&id_spec, "key", &key);
   BSON_APPEND_INT32(&key, "_id", 1);
   bson_append_document_end(&id_spec, &key);
   BSON_APPEND_UTF8(&id_spec, "name", "_id_");
   bson_append_document_end(specs, &id_spec);
   for (size_t i = 0; i < coll->index_count; i++) {
      char index_key[16];
      const char *k;
      bson_uint32_to_string((uint32_t)i + 1, &k, index_key, sizeof index_key);
      BSON_APPEND_DOCUMENT(specs, k, coll->indexes[i].spec);
   }
   return true;
}
