/*
 * pipeline_sort.c — $sort: key specification parsing and a stable sort with MongoDB's key
 * rules: a path reaching several values (through arrays) sorts by the smallest of them
 * ascending and the largest descending; missing sorts as null; an empty array sorts
 * before null (as undefined).  {$meta: ...} keys fail: 17312/9/31138 as MongoDB parses
 * them, 115 for valid ones (no text-search or geo metadata here).
 */
#include "mql/pipeline_internal.h"

#include <duet/doc.h>

#include <stdlib.h>
#include <string.h>

/* A {$meta: ...} sort key: MongoDB's parse errors, and 115 for the valid ones — duet has no
 * $text/$search/$geoNear metadata to sort by. */
static void sort_meta_error(const bson_value_t *value, duet_error_t *error)
{
   static const char *const valid[] = {"textScore",       "randVal",           "searchScore",
                                       "geoNearDistance", "vectorSearchScore", "score"};
   bson_t meta;
   bson_iter_t iter;
   bson_init_static(&meta, value->value.v_doc.data, value->value.v_doc.data_len);
   if (!bson_iter_init(&iter, &meta) || !bson_iter_next(&iter) || strcmp(bson_iter_key(&iter), "$meta") != 0) {
      duet_error_set(error, 17312, "$meta is the only expression supported by $sort right now");
      return;
   }
   if (bson_count_keys(&meta) != 1) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot have additional keys in a $meta sort specification");
      return;
   }
   const char *name = BSON_ITER_HOLDS_UTF8(&iter) ? bson_iter_utf8(&iter, NULL) : NULL;
   for (size_t i = 0; name && i < sizeof valid / sizeof valid[0]; i++) {
      if (strcmp(name, valid[i]) == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED,
                        "$sort by {$meta: \"%s\"} is not supported by duet (no $text, $search or $geoNear metadata)",
                        name);
         return;
      }
   }
   char *text = duet_expr_value_to_string(bson_iter_value(&iter));
   duet_error_set(error, 31138, "Illegal $meta sort: $meta: %s", text);
   bson_free(text);
}

bool sort_spec_parse(const bson_value_t *spec, sort_spec_t *out, duet_error_t *error)
{
   memset(out, 0, sizeof *out);
   if (spec->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, 15973, "the $sort key specification must be an object");
      return false;
   }
   bson_t view;
   bson_iter_t iter;
   bson_init_static(&view, spec->value.v_doc.data, spec->value.v_doc.data_len);
   uint32_t n = bson_count_keys(&view);
   if (n == 0) {
      duet_error_set(error, 15976, "$sort stage must have at least one sort key");
      return false;
   }
   out->keys = bson_malloc0(n * sizeof *out->keys);
   bson_iter_init(&iter, &view);
   while (bson_iter_next(&iter)) {
      const bson_value_t *value = bson_iter_value(&iter);
      if (value->value_type == BSON_TYPE_DOCUMENT) {
         sort_meta_error(value, error);
         sort_spec_destroy(out);
         return false;
      }
      int64_t direction = 0;
      double d = value->value_type == BSON_TYPE_DOUBLE ? value->value.v_double : 0;
      if (value->value_type == BSON_TYPE_INT32) {
         direction = value->value.v_int32;
      } else if (value->value_type == BSON_TYPE_INT64) {
         direction = value->value.v_int64;
      } else if (value->value_type == BSON_TYPE_DOUBLE) {
         direction = d == 1.0 ? 1 : d == -1.0 ? -1 : 0;
      } else if (value->value_type == BSON_TYPE_DECIMAL128) {
         int64_t v = 0;
         direction = duet_decimal_to_int64(value->value.v_decimal128, &v) ? v : 0;
      }
      if (direction != 1 && direction != -1) {
         duet_error_set(error, 15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
         sort_spec_destroy(out);
         return false;
      }
      out->keys[out->count].path = bson_strdup(bson_iter_key(&iter));
      out->keys[out->count].direction = (int)direction;
      out->count++;
   }
   return true;
}

void sort_spec_destroy(sort_spec_t *spec)
{
   for (size_t i = 0; i < spec->count; i++) {
      bson_free(spec->keys[i].path);
   }
   bson_free(spec->keys);
   memset(spec, 0, sizeof *spec);
}

/* Best key under `value` for the rest of `path`; *found stays false when nothing is reached. */
static void consider(const bson_value_t *candidate, int direction, bson_value_t *best, bool *found)
{
   if (!*found || (direction > 0 ? duet_value_compare(candidate, best) < 0 : duet_value_compare(candidate, best) > 0)) {
      *best = *candidate;
      *found = true;
   }
}

static void walk(const bson_t *doc, const char *path, int direction, bson_value_t *best, bool *found)
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
      if (!dot) {
         if (value->value_type == BSON_TYPE_ARRAY) {
            bson_t array;
            bson_iter_t element;
            bson_init_static(&array, value->value.v_doc.data, value->value.v_doc.data_len);
            if (bson_empty(&array)) {
               bson_value_t undefined = {.value_type = BSON_TYPE_UNDEFINED};
               consider(&undefined, direction, best, found);
            }
            bson_iter_init(&element, &array);
            while (bson_iter_next(&element)) {
               consider(bson_iter_value(&element), direction, best, found);
            }
         } else {
            consider(value, direction, best, found);
         }
         return;
      }
      if (value->value_type == BSON_TYPE_DOCUMENT) {
         bson_t sub;
         bson_init_static(&sub, value->value.v_doc.data, value->value.v_doc.data_len);
         walk(&sub, dot + 1, direction, best, found);
      } else if (value->value_type == BSON_TYPE_ARRAY) {
         bson_t array;
         bson_iter_t element;
         bson_init_static(&array, value->value.v_doc.data, value->value.v_doc.data_len);
         bson_iter_init(&element, &array);
         while (bson_iter_next(&element)) {
            if (BSON_ITER_HOLDS_DOCUMENT(&element)) {
               const bson_value_t *e = bson_iter_value(&element);
               bson_t sub;
               bson_init_static(&sub, e->value.v_doc.data, e->value.v_doc.data_len);
               walk(&sub, dot + 1, direction, best, found);
            }
         }
      }
      return;
   }
}

typedef struct sort_entry {
   bson_t *doc;
   bson_value_t *keys; /* borrowed into doc */
   size_t sequence;
} sort_entry_t;

/* qsort has no context argument: the spec being sorted by, per thread, set around the call. */
static __thread const sort_spec_t *thread_spec;

static int compare_entries(const void *a_ptr, const void *b_ptr)
{
   const sort_entry_t *a = a_ptr;
   const sort_entry_t *b = b_ptr;
   for (size_t i = 0; i < thread_spec->count; i++) {
      int c = duet_value_compare(&a->keys[i], &b->keys[i]);
      if (c != 0) {
         return thread_spec->keys[i].direction > 0 ? c : -c;
      }
   }
   return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence ? 1 : 0);
}

void sort_document_keys(const sort_spec_t *spec, const bson_t *doc, bson_value_t *keys)
{
   for (size_t k = 0; k < spec->count; k++) {
      bool found = false;
      walk(doc, spec->keys[k].path, spec->keys[k].direction, &keys[k], &found);
      if (!found) {
         keys[k].value_type = BSON_TYPE_NULL;
      }
   }
}

void sort_documents(const sort_spec_t *spec, bson_t **docs, size_t count)
{
   if (count < 2) {
      return;
   }
   sort_entry_t *entries = bson_malloc(count * sizeof *entries);
   bson_value_t *keys = bson_malloc(count * spec->count * sizeof *keys);
   for (size_t i = 0; i < count; i++) {
      entries[i].doc = docs[i];
      entries[i].keys = &keys[i * spec->count];
      entries[i].sequence = i;
      sort_document_keys(spec, docs[i], entries[i].keys);
   }
   thread_spec = spec;
   qsort(entries, count, sizeof *entries, compare_entries);
   thread_spec = NULL;
   for (size_t i = 0; i < count; i++) {
      docs[i] = entries[i].doc;
   }
   bson_free(keys);
   bson_free(entries);
}
