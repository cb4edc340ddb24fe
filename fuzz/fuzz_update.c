/*
 * fuzz_update.c — libFuzzer target for the update engine: the input is a
 * sequence of BSON documents read as
 *   1. the update: a document, or {"u": <array>} for a pipeline-style update;
 *   2. the document to update (default {});
 *   3. the query used by positional `$` and upsert seeds (default {});
 *   4. {"f": [...]} arrayFilters (optional).
 * Every outcome is either a result or a MongoDB error; the target checks that
 * the result is valid BSON, that errors carry a code, and that nothing leaks.
 */
#include <duet/mql_update.h>

#include <bson/bson.h>
#include <stddef.h>
#include <duet/doc.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_result(bool ok, const bson_t *out, const duet_error_t *error)
{
   if (ok) {
      if (!bson_validate(out, BSON_VALIDATE_NONE, NULL)) {
         abort();
      }
   } else if (error->code == 0 || !bson_empty(out)) {
      abort();
   }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The wire layer rejects malformed BSON (and invalid UTF-8) before the engine
 * sees it; do the same (bson_validate does not descend into every nested document). */
static bool deep_valid(const uint8_t *data, uint32_t length, int depth)
{
   bson_iter_t iter;
   if (depth > 100 || !bson_iter_init_from_data(&iter, data, length)) {
      return false;
   }
   while (bson_iter_next(&iter)) {
      uint32_t child_length = 0;
      const uint8_t *child = NULL;
      const char *key = bson_iter_key(&iter);
      if (!bson_utf8_validate(key, strlen(key), false)) {
         return false;
      }
      if (BSON_ITER_HOLDS_UTF8(&iter)) {
         uint32_t text_length;
         const char *text = bson_iter_utf8(&iter, &text_length);
         if (!bson_utf8_validate(text, text_length, true)) {
            return false;
         }
         continue;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_iter_document(&iter, &child_length, &child);
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         bson_iter_array(&iter, &child_length, &child);
      } else {
         continue;
      }
      if (!child || !deep_valid(child, child_length, depth + 1)) {
         return false;
      }
   }
   return iter.err_off == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   bson_reader_t *reader = bson_reader_new_from_data(data, size);
   bson_t *docs[4] = {NULL, NULL, NULL, NULL};
   size_t count = 0;
   const bson_t *next;
   bool eof = false;
   while (count < 4 && (next = bson_reader_read(reader, &eof))) {
      if (!bson_validate(next, BSON_VALIDATE_UTF8_ALLOW_NULL, NULL) ||
          !duet_doc_check_structure(bson_get_data(next), next->len, "input", NULL) ||
          !deep_valid(bson_get_data(next), next->len, 0)) {
         break;
      }
      docs[count++] = bson_copy(next);
   }
   bson_reader_destroy(reader);
   if (count == 0) {
      return 0;
   }
   bson_t empty = BSON_INITIALIZER;
   const bson_t *doc = count > 1 ? docs[1] : &empty;
   const bson_t *query = count > 2 ? docs[2] : &empty;

   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.now_ms = 1700000000000;
   bson_t filters;
   bson_iter_t iter;
   if (count > 3 && bson_iter_init_find(&iter, docs[3], "f") && BSON_ITER_HOLDS_ARRAY(&iter)) {
      uint32_t length;
      const uint8_t *array;
      bson_iter_array(&iter, &length, &array);
      if (bson_init_static(&filters, array, length)) {
         options.array_filters = &filters;
      }
   }

   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   bool parsed;
   if (bson_iter_init_find(&iter, docs[0], "u") && BSON_ITER_HOLDS_ARRAY(&iter)) {
      parsed = duet_update_parse_value(bson_iter_value(&iter), &options, &update, &error);
   } else {
      parsed = duet_update_parse(docs[0], &options, &update, &error);
   }
   if (parsed) {
      bson_t out;
      bool modified = false;
      bool ok = duet_update_apply(update, doc, query, false, &out, &modified, &error);
      check_result(ok, &out, &error);
      bson_destroy(&out);
      duet_error_clear(&error);

      ok = duet_update_apply_upsert(update, query, &out, &error);
      check_result(ok, &out, &error);
      bson_destroy(&out);
      duet_error_clear(&error);
      duet_update_destroy(update);
   } else if (error.code == 0 || update != NULL) {
      abort();
   }
   duet_error_clear(&error);
   for (size_t i = 0; i < count; i++) {
      bson_destroy(docs[i]);
   }
   bson_destroy(&empty);
   return 0;
}
