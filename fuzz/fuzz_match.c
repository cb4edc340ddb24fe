/*
 * fuzz_match.c — libFuzzer target for the matcher, $jsonSchema and find
 * projections.  The input is two concatenated BSON documents: the first is
 * used as a filter, a $jsonSchema and a projection; the second as the
 * document they are applied to.  Only crashes, sanitizer reports and leaks
 * count as findings: errors are expected.
 */
#include <duet/mql_match.h>
#include <duet/mql_projection.h>

#include <duet/doc.h>

#include <stdint.h>
#include <string.h>

/* Feed only structurally sound BSON, as the wire layer does (duet_doc_check_structure:
 * libbson 1.23's bson_validate misses some corrupt nested documents). */
static bool read_document(const uint8_t **data, size_t *size, bson_t *out)
{
   if (*size < 5) {
      return false;
   }
   uint32_t length;
   memcpy(&length, *data, 4);
   length = BSON_UINT32_FROM_LE(length);
   if (length < 5 || length > *size || !bson_init_static(out, *data, length)) {
      return false;
   }
   size_t offset;
   if (!bson_validate(out, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &offset) || !duet_doc_check_structure(*data, length, "input", NULL)) {
      return false;
   }
   *data += length;
   *size -= length;
   return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   bson_t spec, doc;
   if (!read_document(&data, &size, &spec) || !read_document(&data, &size, &doc)) {
      return 0;
   }
   duet_error_t error = DUET_ERROR_INIT;

   duet_match_t *match = NULL;
   if (duet_match_parse(&spec, DUET_MATCH_FEATURES_DEFAULT, &match, &error)) {
      bool matched;
      duet_match_details_t details;
      if (duet_match_matches(match, &doc, &matched, &details, &error) && !matched) {
         bson_t report;
         duet_match_validation_details(match, &doc, &report, &error);
         bson_destroy(&report);
      }
      duet_match_predicate_t predicates[4];
      duet_match_path_predicates(match, "_id", predicates, 4);
      duet_match_destroy(match);
   }
   duet_error_clear(&error);

   const char *identifier;
   if (duet_match_parse_array_filter(&spec, &match, &identifier, &error)) {
      bson_iter_t it;
      if (bson_iter_init(&it, &doc) && bson_iter_next(&it)) {
         bool matched;
         duet_match_matches_value(match, identifier, bson_iter_value(&it), &matched, &error);
      }
      duet_match_destroy(match);
   }
   duet_error_clear(&error);

   bool valid;
   bson_t details;
   if (duet_jsonschema_validate(&spec, &doc, &valid, &details, &error)) {
      bson_destroy(&details);
   }
   duet_error_clear(&error);

   duet_projection_t *projection;
   if (duet_projection_parse(&spec, &doc, &projection, &error)) {
      bson_t out;
      duet_projection_apply(projection, &doc, NULL, &out, &error);
      bson_destroy(&out);
      duet_projection_destroy(projection);
   }
   duet_error_clear(&error);
   return 0;
}
