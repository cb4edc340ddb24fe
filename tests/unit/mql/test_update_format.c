/*
 * test_update_format.c — MongoDB's BSONElement::toString() rendering used in
 * update error messages (update_format.c), and messages that embed it.
 */
#include "duet_test.h"

#include "mql/update_private.h"

#include <duet/mql_update.h>

/* Formats field "v" of `json` with duet_update_format_element. */
static void check_format(const char *json, const char *expected)
{
   bson_t *doc = TEST_JSON(json);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, doc, "v"));
   bson_string_t *s = bson_string_new(NULL);
   duet_update_format_element(s, "v", bson_iter_value(&iter));
   if (strcmp(s->str, expected) != 0) {
      fail_msg("%s:\n  got      %s\n  expected %s", json, s->str, expected);
   }
   bson_string_free(s, true);
   bson_destroy(doc);
}

static void test_scalars(void **state)
{
   (void)state;
   check_format("{\"v\": 1}", "v: 1");
   check_format("{\"v\": {\"$numberLong\": \"-5\"}}", "v: -5");
   check_format("{\"v\": 2.0}", "v: 2.0");
   check_format("{\"v\": 42.12345}", "v: 42.12345");
   check_format("{\"v\": 0.1}", "v: 0.1");
   check_format("{\"v\": {\"$numberDecimal\": \"1.50\"}}", "v: 1.50");
   check_format("{\"v\": \"x\"}", "v: \"x\"");
   check_format("{\"v\": true}", "v: true");
   check_format("{\"v\": null}", "v: null");
   check_format("{\"v\": {\"$undefined\": true}}", "v: undefined");
   check_format("{\"v\": {\"$minKey\": 1}}", "v: MinKey");
   check_format("{\"v\": {\"$maxKey\": 1}}", "v: MaxKey");
   check_format("{\"v\": {\"$oid\": \"507f1f77bcf86cd799439011\"}}", "v: ObjectId('507f1f77bcf86cd799439011')");
   check_format("{\"v\": {\"$date\": {\"$numberLong\": \"1500\"}}}", "v: new Date(1500)");
   check_format("{\"v\": {\"$timestamp\": {\"t\": 5, \"i\": 2}}}", "v: Timestamp(5, 2)");
   check_format("{\"v\": {\"$regularExpression\": {\"pattern\": \"^a\", \"options\": \"i\"}}}", "v: /^a/i");
   check_format("{\"v\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}}", "v: BinData(0, 010203)");
   check_format("{\"v\": {\"$binary\": {\"base64\": \"ASNFZ4mrze8BI0VniavN7w==\", \"subType\": \"04\"}}}",
                "v: UUID(\"01234567-89ab-cdef-0123-456789abcdef\")");
}

static void test_containers(void **state)
{
   (void)state;
   check_format("{\"v\": {}}", "v: {}");
   check_format("{\"v\": []}", "v: []");
   check_format("{\"v\": {\"a\": 1, \"b\": [1, {\"c\": \"d\"}]}}", "v: { a: 1, b: [ 1, { c: \"d\" } ] }");
}

static void test_long_string(void **state)
{
   (void)state;
   char json[400], expected[400];
   char text[201];
   memset(text, 'x', 200);
   text[200] = '\0';
   snprintf(json, sizeof json, "{\"v\": \"%s\"}", text);
   snprintf(expected, sizeof expected, "v: \"%.150s...\"", text);
   check_format(json, expected);
}

static void test_messages(void **state)
{
   (void)state;
   /* MongoDB's $pop parses its argument with parseIntegerElementToLong */
   const char *cases[][3] = {
       {"{\"$pop\": {\"a\": 1.5}}", "9", "Expected an integer: a: 1.5"},
       {"{\"$pop\": {\"a\": \"x\"}}", "9", "Expected a number in: a: \"x\""},
       {"{\"$pop\": {\"a\": 2.0}}", "9", "$pop expects 1 or -1, found: 2"},
       {"{\"$pop\": {\"a\": 1e300}}", "9", "Cannot represent as a 64-bit integer: a: 1e+300"},
       {"{\"$inc\": {\"a\": {\"$numberDecimal\": \"x\"}}, \"$foo\": 1}", "9",
        "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array"},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      bson_t *spec = TEST_JSON(cases[i][0]);
      duet_update_t *update = NULL;
      duet_error_t error = DUET_ERROR_INIT;
      assert_false(duet_update_parse(spec, NULL, &update, &error));
      if (error.code != atoi(cases[i][1]) || strcmp(error.message, cases[i][2]) != 0) {
         fail_msg("%s: got %d %s", cases[i][0], error.code, error.message);
      }
      bson_destroy(spec);
   }
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_scalars),
       cmocka_unit_test(test_containers),
       cmocka_unit_test(test_long_string),
       cmocka_unit_test(test_messages),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
