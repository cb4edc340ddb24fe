/*
 * test_doc_compare.c — MongoDB's comparison order across and within types,
 * and Decimal128 arithmetic through the BID runtime.
 */
#include "duet_test.h"

#include <duet/doc.h>
#include <math.h>

/* Compares field "v" of two JSON documents. */
static int compare_json_values(const char *a_json, const char *b_json)
{
   bson_t *a = TEST_JSON(a_json);
   bson_t *b = TEST_JSON(b_json);
   bson_iter_t ia, ib;
   assert_true(bson_iter_init_find(&ia, a, "v"));
   assert_true(bson_iter_init_find(&ib, b, "v"));
   int c = duet_iter_compare(&ia, &ib);
   bson_destroy(a);
   bson_destroy(b);
   return c;
}

static void test_type_order(void **state)
{
   (void)state;
   /* one value of each class, in MongoDB's ascending order */
   const char *ordered[] = {
      "{\"v\": {\"$minKey\": 1}}",
      "{\"v\": null}",
      "{\"v\": -5}",
      "{\"v\": \"abc\"}",
      "{\"v\": {\"a\": 1}}",
      "{\"v\": [1, 2]}",
      "{\"v\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}}",
      "{\"v\": {\"$oid\": \"507f1f77bcf86cd799439011\"}}",
      "{\"v\": false}",
      "{\"v\": {\"$date\": {\"$numberLong\": \"0\"}}}",
      "{\"v\": {\"$timestamp\": {\"t\": 1, \"i\": 1}}}",
      "{\"v\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}}",
      "{\"v\": {\"$maxKey\": 1}}",
   };
   size_t n = sizeof ordered / sizeof ordered[0];
   for (size_t i = 0; i < n; i++) {
      for (size_t j = 0; j < n; j++) {
         int c = compare_json_values(ordered[i], ordered[j]);
         if (i < j) {
            assert_true(c < 0);
         } else if (i > j) {
            assert_true(c > 0);
         } else {
            assert_int_equal(c, 0);
         }
      }
   }
}

static void test_numbers_across_types(void **state)
{
   (void)state;
   assert_int_equal(compare_json_values("{\"v\": 1}", "{\"v\": {\"$numberLong\": \"1\"}}"), 0);
   assert_int_equal(compare_json_values("{\"v\": 1}", "{\"v\": 1.0}"), 0);
   assert_int_equal(compare_json_values("{\"v\": 1}", "{\"v\": {\"$numberDecimal\": \"1.00\"}}"), 0);
   assert_true(compare_json_values("{\"v\": 1}", "{\"v\": 1.5}") < 0);
   assert_true(compare_json_values("{\"v\": {\"$numberDecimal\": \"2.5\"}}", "{\"v\": 2}") > 0);
   assert_true(compare_json_values("{\"v\": {\"$numberDouble\": \"NaN\"}}", "{\"v\": -1e308}") < 0);
   assert_int_equal(compare_json_values("{\"v\": {\"$numberDouble\": \"NaN\"}}",
                                        "{\"v\": {\"$numberDecimal\": \"NaN\"}}"),
                    0);
   assert_int_equal(compare_json_values("{\"v\": -0.0}", "{\"v\": 0}"), 0);
   /* int64 values beyond double precision compare exactly */
   assert_true(compare_json_values("{\"v\": {\"$numberLong\": \"9007199254740993\"}}",
                                   "{\"v\": 9007199254740992.0}") > 0);
   assert_true(compare_json_values("{\"v\": {\"$numberLong\": \"9223372036854775807\"}}",
                                   "{\"v\": 9223372036854775808.0}") < 0);
   /* decimal 0.1 is not the double 0.1 */
   assert_true(compare_json_values("{\"v\": {\"$numberDecimal\": \"0.1\"}}", "{\"v\": 0.1}") < 0);
   assert_true(compare_json_values("{\"v\": {\"$numberDouble\": \"-Infinity\"}}", "{\"v\": -1}") < 0);
}

static void test_strings_and_documents(void **state)
{
   (void)state;
   assert_true(compare_json_values("{\"v\": \"ab\"}", "{\"v\": \"abc\"}") < 0);
   assert_true(compare_json_values("{\"v\": \"b\"}", "{\"v\": \"abc\"}") > 0);
   assert_true(compare_json_values("{\"v\": \"Z\"}", "{\"v\": \"a\"}") < 0);
   /* field order matters; field names compare before values */
   assert_true(compare_json_values("{\"v\": {\"a\": 1, \"b\": 2}}", "{\"v\": {\"b\": 2, \"a\": 1}}") < 0);
   assert_true(compare_json_values("{\"v\": {\"a\": 1}}", "{\"v\": {\"a\": 1, \"b\": 0}}") < 0);
   /* element type is compared before the field name */
   assert_true(compare_json_values("{\"v\": {\"z\": 1}}", "{\"v\": {\"a\": \"x\"}}") < 0);
   assert_int_equal(compare_json_values("{\"v\": {\"a\": 1}}", "{\"v\": {\"a\": 1.0}}"), 0);
   assert_true(compare_json_values("{\"v\": [1, 2]}", "{\"v\": [1, 3]}") < 0);
   assert_true(compare_json_values("{\"v\": []}", "{\"v\": [null]}") < 0);
   /* binData: length before bytes */
   assert_true(compare_json_values("{\"v\": {\"$binary\": {\"base64\": \"/w==\", \"subType\": \"00\"}}}",
                                   "{\"v\": {\"$binary\": {\"base64\": \"AAA=\", \"subType\": \"00\"}}}") < 0);
   assert_true(compare_json_values("{\"v\": true}", "{\"v\": false}") > 0);
   assert_true(compare_json_values("{\"v\": {\"$date\": {\"$numberLong\": \"-1\"}}}",
                                   "{\"v\": {\"$date\": {\"$numberLong\": \"1\"}}}") < 0);
}

static void test_type_names(void **state)
{
   (void)state;
   assert_string_equal(duet_type_name(BSON_TYPE_OID), "objectId");
   assert_string_equal(duet_type_name(BSON_TYPE_INT32), "int");
   assert_string_equal(duet_type_name(BSON_TYPE_EOD), "missing");
   bson_type_t t;
   assert_true(duet_type_from_name("javascriptWithScope", &t));
   assert_int_equal(t, BSON_TYPE_CODEWSCOPE);
   assert_false(duet_type_from_name("dinosaur", &t));
}

static void test_decimal_arithmetic(void **state)
{
   (void)state;
   bson_decimal128_t a, b;
   char text[BSON_DECIMAL128_STRING];
   bson_decimal128_from_string("1.1", &a);
   bson_decimal128_from_string("2.2", &b);
   bson_decimal128_t p = duet_decimal_multiply(a, b);
   bson_decimal128_to_string(&p, text);
   assert_string_equal(text, "2.42");
   bson_decimal128_t s = duet_decimal_add(a, b);
   bson_decimal128_to_string(&s, text);
   assert_string_equal(text, "3.3");
   int64_t out = 0;
   bson_decimal128_from_string("-7.9", &a);
   assert_true(duet_decimal_to_int64(a, &out));
   assert_int_equal(out, -7);
   bson_decimal128_from_string("9223372036854775808", &a);
   assert_false(duet_decimal_to_int64(a, &out));
   bson_decimal128_from_string("-9223372036854775808", &a);
   assert_true(duet_decimal_to_int64(a, &out));
   assert_true(out == INT64_MIN);
   bson_decimal128_from_string("NaN", &a);
   assert_true(duet_decimal_is_nan(a));
   assert_false(duet_decimal_to_int64(a, &out));
   bson_decimal128_from_string("-Infinity", &a);
   assert_true(duet_decimal_is_infinite(a));
   assert_true(duet_decimal_is_negative(a));
   bson_decimal128_from_string("0.000", &a);
   assert_true(duet_decimal_is_zero(a));
   assert_true(fabs(duet_decimal_to_double(p) - 2.42) < 1e-12);
   bson_decimal128_t d = duet_decimal_from_double(0.5);
   bson_decimal128_to_string(&d, text);
   assert_string_equal(text, "0.5");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_type_order),
      cmocka_unit_test(test_numbers_across_types),
      cmocka_unit_test(test_strings_and_documents),
      cmocka_unit_test(test_type_names),
      cmocka_unit_test(test_decimal_arithmetic),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
