/*
 * fuzz_schema.c — libFuzzer target over the schema parser and diff: the input is split
 * at the first NUL-free midpoint into two JSON texts; each is parsed, and when both parse
 * they are diffed both ways (with and without a rename hint) and rendered as JSON, table
 * and Realm message; each schema also validates a few documents.  Only crashes, sanitizer
 * reports and leaks count as failures.
 */
#include <duet/schema.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void exercise_diff(const duet_schema_set_t *a, const duet_schema_set_t *b)
{
   duet_schema_rename_t renames[2];
   duet_schema_rename_t collection_rename;
   duet_error_t error = DUET_ERROR_INIT;
   size_t rename_count = 0;
   if (a->schema_count > 0 && a->schemas[0].root.property_count > 0 && b->schema_count > 0 &&
       b->schemas[0].root.property_count > 0) {
      char *spec = bson_strdup_printf("%s.%s=%s.%s", a->schemas[0].collection, a->schemas[0].root.properties[0].name,
                                      a->schemas[0].collection, b->schemas[0].root.properties[0].name);
      if (duet_schema_rename_parse(spec, false, &renames[0], &error)) {
         rename_count = 1;
      }
      bson_free(spec);
   }
   bool have_collection_rename = false;
   if (a->schema_count > 0 && b->schema_count > 0) {
      char *spec = bson_strdup_printf("%s=%s", a->schemas[0].collection, b->schemas[b->schema_count - 1].collection);
      have_collection_rename = duet_schema_rename_parse(spec, true, &collection_rename, &error);
      bson_free(spec);
   }
   duet_schema_diff_options_t variants[3] = {
       {NULL, 0, NULL, 0},
       {renames, rename_count, NULL, 0},
       {NULL, 0, &collection_rename, have_collection_rename ? 1 : 0},
   };
   for (int v = 0; v < 3; v++) {
      duet_schema_diff_t *diff = NULL;
      if (duet_schema_diff(a, b, &variants[v], &diff, &error)) {
         char *json = duet_schema_diff_to_json(diff);
         char *table = duet_schema_diff_render_table(diff, "a", "b");
         char *message = duet_schema_diff_realm_message(diff);
         for (size_t i = 0; i < diff->change_count; i++) {
            char *handling = duet_schema_change_handling_text(&diff->changes[i]);
            bson_free(handling);
         }
         bson_free(json);
         bson_free(table);
         bson_free(message);
         duet_schema_diff_destroy(diff);
      }
   }
   for (size_t i = 0; i < rename_count; i++) {
      duet_schema_rename_clear(&renames[i]);
   }
   if (have_collection_rename) {
      duet_schema_rename_clear(&collection_rename);
   }
   duet_error_clear(&error);
}

static void exercise_validate(const duet_schema_set_t *set)
{
   static const char *const documents[] = {
       "{}",
       "{\"_id\": 1, \"name\": \"x\", \"a\": [1, 2, 2], \"b\": {\"c\": null}}",
       "{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}, \"complete\": false, \"tags\": [\"a\"]}",
   };
   for (size_t i = 0; i < set->schema_count; i++) {
      for (size_t d = 0; d < sizeof documents / sizeof documents[0]; d++) {
         bson_t *doc = bson_new_from_json((const uint8_t *)documents[d], -1, NULL);
         char reason[128];
         duet_schema_validate_document(&set->schemas[i], doc, d & 1 ? DUET_SCHEMA_VALIDATE_ALLOW_NULL : 0, reason,
                                       sizeof reason);
         bson_destroy(doc);
      }
      /* the zero value of every property validates as a value of its type */
      for (size_t p = 0; p < set->schemas[i].root.property_count; p++) {
         bson_value_t zero;
         duet_schema_type_zero_value(&set->schemas[i].root.properties[p].type, &zero);
         bson_value_destroy(&zero);
      }
   }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   size_t half = size / 2;
   duet_schema_set_t *a = NULL, *b = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   duet_schema_set_t *whole = NULL;
   if (duet_schema_set_parse("whole.json", data, size, &whole, &error)) {
      exercise_validate(whole);
      exercise_diff(whole, whole);
      duet_schema_set_destroy(whole);
   }
   bool a_ok = duet_schema_set_parse("a.json", data, half, &a, &error);
   bool b_ok = duet_schema_set_parse("b.json", data + half, size - half, &b, &error);
   if (a_ok && b_ok) {
      exercise_diff(a, b);
      exercise_diff(b, a);
   }
   duet_schema_set_destroy(a);
   duet_schema_set_destroy(b);
   duet_error_clear(&error);
   return 0;
}
