/*
 * fuzz_spec.c — libFuzzer target over the migration spec parser: the input is parsed as a
 * spec; when it parses, it is written back as JSON and parsed again (which must succeed and
 * give the same BSON), its transforms are built and, when they build, applied both ways to a
 * few documents, checked for round trips and validated against the spec's schema.  Only
 * crashes, sanitizer reports, leaks and the write/parse mismatch count as failures.
 */
#include <duet/partner.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const fuzz_documents[] = {
    "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"complete\": true}",
    "{\"_id\": 7, \"name\": \"b\", \"n\": {\"x\": [1, 2, {\"y\": null}]}}",
    "{\"_id\": \"5f1e2d3c4b5a697887766554\", \"address\": {\"zip\": 12}}",
    "{\"name\": \"no id\"}",
};

static void exercise_transform(const duet_partner_spec_t *spec)
{
   duet_partner_transform_t *transform = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_partner_transform_new(spec, &transform, &error)) {
      duet_error_clear(&error);
      return;
   }
   bson_t validator;
   duet_partner_schema_validator(duet_partner_transform_schema(transform), &validator);
   bson_destroy(&validator);
   for (size_t i = 0; i < sizeof fuzz_documents / sizeof fuzz_documents[0]; i++) {
      bson_t *doc = bson_new_from_json((const uint8_t *)fuzz_documents[i], -1, NULL);
      bson_t forward, reverse;
      char reason[256];
      if (duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &forward, &error)) {
         (void)duet_partner_transform_validate(transform, &forward, reason, sizeof reason);
         if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER &&
             duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, &forward, &reverse, &error)) {
            (void)duet_partner_docs_equal(&reverse, doc);
         }
         if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
            bson_destroy(&reverse);
         }
      }
      duet_error_clear(&error);
      bson_destroy(&forward);
      bson_destroy(doc);
   }
   duet_partner_transform_destroy(transform);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   duet_partner_spec_t *spec = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_partner_spec_parse("fuzz.json", data, size, &spec, &error)) {
      duet_error_clear(&error);
      return 0;
   }
   char *json = duet_partner_spec_to_json(spec);
   duet_partner_spec_t *again = NULL;
   if (!duet_partner_spec_parse("again.json", (const uint8_t *)json, strlen(json), &again, &error)) {
      abort(); /* a written spec must parse */
   }
   bson_t a, b;
   duet_partner_spec_to_bson(spec, &a);
   duet_partner_spec_to_bson(again, &b);
   if (a.len != b.len || memcmp(bson_get_data(&a), bson_get_data(&b), a.len) != 0) {
      abort(); /* writing and parsing must not change the spec */
   }
   bson_destroy(&a);
   bson_destroy(&b);
   exercise_transform(spec);
   duet_partner_spec_destroy(again);
   duet_partner_spec_destroy(spec);
   bson_free(json);
   return 0;
}
