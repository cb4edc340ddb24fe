/*
 * test_doc_structure.c — duet_doc_check_structure: sound documents pass; lengths that
 * lie at any depth, unterminated strings and nesting past 200 levels are errors
 * (22 InvalidBSON, 15 Overflow), without recursion.
 */
#include "duet_test.h"

#include <duet/doc.h>
#include <duet/error.h>

static void test_sound_documents_pass(void **state)
{
   (void)state;
   bson_t *doc = TEST_JSON("{\"a\": 1, \"b\": {\"c\": [1, \"two\", {\"d\": null}]}, \"e\": {\"$binary\": "
                           "{\"base64\": \"AQID\", \"subType\": \"00\"}}, \"f\": {\"$regularExpression\": "
                           "{\"pattern\": \"x\", \"options\": \"i\"}}}");
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_doc_check_structure(bson_get_data(doc), doc->len, "doc", &error));
   bson_destroy(doc);
}

static void test_lying_nested_string_length(void **state)
{
   (void)state;
   bson_t *doc = TEST_JSON("{\"a\": [\"xyz\"]}");
   uint8_t *bytes = bson_malloc(doc->len);
   memcpy(bytes, bson_get_data(doc), doc->len);
   /* doc: len(4) 0x04 "a\0" array: len(4) 0x02 "0\0" strlen(4) "xyz\0" 0 0 — make strlen run past the array */
   size_t string_length_at = 4 + 1 + 2 + 4 + 1 + 2;
   bytes[string_length_at] = 20;
   duet_error_t error = DUET_ERROR_INIT;
   assert_false(duet_doc_check_structure(bytes, doc->len, "doc", &error));
   assert_int_equal(error.code, DUET_ERR_INVALID_BSON);
   assert_non_null(strstr(error.message, "doc: invalid BSON at byte"));
   /* a declared length that differs from the buffer */
   assert_false(duet_doc_check_structure(bytes, doc->len - 1, "doc", &error));
   assert_int_equal(error.code, DUET_ERR_INVALID_BSON);
   duet_error_clear(&error);
   bson_free(bytes);
   bson_destroy(doc);
}

static bson_t *nested(int depth)
{
   bson_t *inner = bson_new();
   BSON_APPEND_INT32(inner, "x", 1);
   for (int i = 0; i < depth; i++) {
      bson_t *outer = bson_new();
      BSON_APPEND_DOCUMENT(outer, "n", inner);
      bson_destroy(inner);
      inner = outer;
   }
   return inner;
}

static void test_nesting_limit(void **state)
{
   (void)state;
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *ok = nested(DUET_DOC_MAX_DEPTH - 1);
   assert_true(duet_doc_check_structure(bson_get_data(ok), ok->len, "doc", &error));
   bson_t *deep = nested(DUET_DOC_MAX_DEPTH + 5);
   assert_false(duet_doc_check_structure(bson_get_data(deep), deep->len, "doc", &error));
   assert_int_equal(error.code, DUET_ERR_OVERFLOW);
   assert_string_equal(error.message, "doc: BSONObj exceeded maximum nested object depth: 200");
   duet_error_clear(&error);
   bson_destroy(ok);
   bson_destroy(deep);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sound_documents_pass),
      cmocka_unit_test(test_lying_nested_string_length),
      cmocka_unit_test(test_nesting_limit),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
