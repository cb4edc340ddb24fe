/*
 * test_projection_find.c — find() projections: the examples of MongoDB's
 * "Project Fields to Return from Query" page, $slice, $elemMatch, positional $,
 * computed fields and the parse errors (31253/31254/31249/31250/...).
 */
#include "duet_test.h"

#include <duet/mql_projection.h>

static const char *inventory =
    "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\", "
    "\"size\": {\"h\": 14, \"w\": 21, \"uom\": \"cm\"}, "
    "\"instock\": [{\"warehouse\": \"A\", \"qty\": 5}, {\"warehouse\": \"C\", \"qty\": 15}]}";

static void expect_projection(const char *spec_json, const char *query_json, const char *doc_json,
                              const char *expected_json)
{
   bson_t *spec = TEST_JSON(spec_json);
   bson_t *query = query_json ? TEST_JSON(query_json) : NULL;
   bson_t *doc = TEST_JSON(doc_json);
   duet_error_t error = DUET_ERROR_INIT;
   duet_projection_t *projection;
   if (!duet_projection_parse(spec, query, &projection, &error)) {
      fail_msg("projection %s failed to parse: %d %s", spec_json, error.code, error.message);
   }
   bson_t out;
   if (!duet_projection_apply(projection, doc, NULL, &out, &error)) {
      fail_msg("projection %s failed: %d %s", spec_json, error.code, error.message);
   }
   ASSERT_JSON_EQ(&out, expected_json);
   bson_destroy(&out);
   duet_projection_destroy(projection);
   bson_destroy(spec);
   if (query) {
      bson_destroy(query);
   }
   bson_destroy(doc);
}

static void expect_parse_error(const char *spec_json, const char *query_json, int32_t code, const char *message)
{
   bson_t *spec = TEST_JSON(spec_json);
   bson_t *query = query_json ? TEST_JSON(query_json) : NULL;
   duet_error_t error = DUET_ERROR_INIT;
   duet_projection_t *projection = NULL;
   if (duet_projection_parse(spec, query, &projection, &error)) {
      fail_msg("projection %s parsed; expected %d %s", spec_json, code, message);
   }
   assert_null(projection);
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s: got %d '%s', expected %d '%s'", spec_json, error.code, error.message, code, message);
   }
   duet_error_clear(&error);
   bson_destroy(spec);
   if (query) {
      bson_destroy(query);
   }
}

static void expect_parse_error(const char *spec_json, const char *query_json, int32_t code, const char *message);

static void test_inclusion_exclusion(void **state)
{
   (void)state;
   expect_projection("{\"item\": 1, \"status\": 1}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\"}");
   expect_projection("{\"item\": 1, \"status\": 1, \"_id\": 0}", NULL, inventory,
                     "{\"item\": \"journal\", \"status\": \"A\"}");
   expect_projection("{\"status\": 0, \"instock\": 0}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"size\": {\"h\": 14, \"w\": 21, \"uom\": \"cm\"}}");
   expect_projection("{\"_id\": 0}", NULL, "{\"_id\": 1, \"a\": 2}", "{\"a\": 2}");
   expect_projection("{}", NULL, "{\"_id\": 1, \"a\": 2}", "{\"_id\": 1, \"a\": 2}");
   expect_projection("{\"item\": true, \"missing\": 1}", NULL, inventory, "{\"_id\": 1, \"item\": \"journal\"}");
   /* output follows the document's field order, not the projection's */
   expect_projection("{\"status\": 1, \"item\": 1}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\"}");
   expect_projection("{\"_id\": 1}", NULL, inventory, "{\"_id\": 1}");
   /* _id: 1 is an inclusion like any other (projection_parser.cpp) */
   expect_parse_error("{\"a\": 0, \"_id\": 1}", NULL, 31253,
                      "Cannot do inclusion on field _id in exclusion projection");
}

static void test_dotted_paths(void **state)
{
   (void)state;
   expect_projection("{\"item\": 1, \"status\": 1, \"size.uom\": 1}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\", \"size\": {\"uom\": \"cm\"}}");
   expect_projection("{\"size.uom\": 0}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\", \"size\": {\"h\": 14, \"w\": 21}, "
                     "\"instock\": [{\"warehouse\": \"A\", \"qty\": 5}, {\"warehouse\": \"C\", \"qty\": 15}]}");
   expect_projection(
       "{\"item\": 1, \"status\": 1, \"instock.qty\": 1}", NULL, inventory,
       "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\", \"instock\": [{\"qty\": 5}, {\"qty\": 15}]}");
   expect_projection("{\"instock.qty\": 0, \"_id\": 0, \"size\": 0, \"item\": 0, \"status\": 0}", NULL, inventory,
                     "{\"instock\": [{\"warehouse\": \"A\"}, {\"warehouse\": \"C\"}]}");
   /* inclusion drops scalars inside arrays, exclusion keeps them */
   expect_projection("{\"a.b\": 1, \"_id\": 0}", NULL, "{\"a\": [1, {\"b\": 2, \"c\": 3}, [{\"b\": 4}]]}",
                     "{\"a\": [{\"b\": 2}, [{\"b\": 4}]]}");
   expect_projection("{\"a.b\": 0}", NULL, "{\"a\": [1, {\"b\": 2, \"c\": 3}]}", "{\"a\": [1, {\"c\": 3}]}");
   expect_projection("{\"a.b\": 1, \"_id\": 0}", NULL, "{\"a\": 5}", "{}");
   expect_projection("{\"a.b\": 1, \"_id\": 0}", NULL, "{\"a\": {\"c\": 1}}", "{\"a\": {}}");
}

static void test_slice(void **state)
{
   (void)state;
   const char *doc = "{\"_id\": 1, \"a\": [1, 2, 3, 4, 5], \"b\": 1}";
   expect_projection("{\"a\": {\"$slice\": 2}}", NULL, doc, "{\"_id\": 1, \"a\": [1, 2], \"b\": 1}");
   expect_projection("{\"a\": {\"$slice\": -2}}", NULL, doc, "{\"_id\": 1, \"a\": [4, 5], \"b\": 1}");
   expect_projection("{\"a\": {\"$slice\": [1, 2]}}", NULL, doc, "{\"_id\": 1, \"a\": [2, 3], \"b\": 1}");
   expect_projection("{\"a\": {\"$slice\": [-2, 10]}}", NULL, doc, "{\"_id\": 1, \"a\": [4, 5], \"b\": 1}");
   expect_projection("{\"a\": {\"$slice\": [10, 1]}}", NULL, doc, "{\"_id\": 1, \"a\": [], \"b\": 1}");
   expect_projection("{\"a\": {\"$slice\": -10}}", NULL, doc, "{\"_id\": 1, \"a\": [1, 2, 3, 4, 5], \"b\": 1}");
   expect_projection("{\"b\": {\"$slice\": 1}}", NULL, doc, doc);
   expect_projection("{\"b\": 1, \"a\": {\"$slice\": 1}}", NULL, doc, "{\"_id\": 1, \"a\": [1], \"b\": 1}");
   expect_projection("{\"item\": 1, \"status\": 1, \"instock\": {\"$slice\": -1}}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"status\": \"A\", "
                     "\"instock\": [{\"warehouse\": \"C\", \"qty\": 15}]}");
   expect_projection("{\"x.a\": {\"$slice\": 1}}", NULL, "{\"x\": [{\"a\": [1, 2]}, {\"a\": [3, 4]}]}",
                     "{\"x\": [{\"a\": [1]}, {\"a\": [3]}]}");
}

static void test_elem_match(void **state)
{
   (void)state;
   const char *school = "{\"_id\": 1, \"zipcode\": \"63109\", \"students\": [{\"name\": \"john\", \"school\": 102, "
                        "\"age\": 10}, {\"name\": \"jess\", \"school\": 102, \"age\": 11}, {\"name\": \"jeff\", "
                        "\"school\": 108, \"age\": 15}]}";
   expect_projection("{\"students\": {\"$elemMatch\": {\"school\": 102}}}", NULL, school,
                     "{\"_id\": 1, \"students\": [{\"name\": \"john\", \"school\": 102, \"age\": 10}]}");
   expect_projection("{\"students\": {\"$elemMatch\": {\"school\": 102, \"age\": {\"$gt\": 10}}}}", NULL, school,
                     "{\"_id\": 1, \"students\": [{\"name\": \"jess\", \"school\": 102, \"age\": 11}]}");
   expect_projection("{\"students\": {\"$elemMatch\": {\"school\": 999}}}", NULL, school, "{\"_id\": 1}");
   /* the $elemMatch field comes after the other included fields */
   expect_projection("{\"students\": {\"$elemMatch\": {\"age\": 15}}, \"zipcode\": 1}", NULL, school,
                     "{\"_id\": 1, \"zipcode\": \"63109\", \"students\": [{\"name\": \"jeff\", \"school\": 108, "
                     "\"age\": 15}]}");
   expect_projection("{\"a\": {\"$elemMatch\": {\"$gt\": 2}}}", NULL, "{\"_id\": 1, \"a\": [1, 3, 5]}",
                     "{\"_id\": 1, \"a\": [3]}");
}

static void test_positional(void **state)
{
   (void)state;
   expect_projection("{\"grades.$\": 1}", "{\"semester\": 1, \"grades\": {\"$gte\": 85}}",
                     "{\"_id\": 1, \"semester\": 1, \"grades\": [70, 87, 90]}", "{\"_id\": 1, \"grades\": [87]}");
   expect_projection("{\"grades.$\": 1, \"semester\": 1}", "{\"grades.mean\": {\"$gt\": 70}}",
                     "{\"_id\": 7, \"semester\": 3, \"grades\": [{\"grade\": 80, \"mean\": 75}, "
                     "{\"grade\": 85, \"mean\": 90}]}",
                     "{\"_id\": 7, \"semester\": 3, \"grades\": [{\"grade\": 80, \"mean\": 75}]}");
   expect_parse_error("{\"grades.$\": 1}", "{\"semester\": 1}", 31277,
                      "Positional projection 'grades.$' does not match the query document.");
   expect_parse_error("{\"a.$\": 1, \"b.$\": 1}", "{\"a\": 1, \"b\": 1}", 31276,
                      "Cannot specify more than one positional projection per query.");
   expect_parse_error("{\"a.$\": {\"$slice\": 1}}", "{\"a\": 1}", 31271,
                      "positional projection cannot be used with an expression");

   /* no array element matched: the executor error */
   bson_t *spec = TEST_JSON("{\"a.$\": 1}");
   bson_t *query = TEST_JSON("{\"a\": {\"$size\": 2}}");
   bson_t *doc = TEST_JSON("{\"a\": [1, 2]}");
   duet_error_t error = DUET_ERROR_INIT;
   duet_projection_t *projection;
   assert_true(duet_projection_parse(spec, query, &projection, &error));
   bson_t out;
   assert_false(duet_projection_apply(projection, doc, NULL, &out, &error));
   assert_int_equal(error.code, 51246);
   assert_true(bson_empty(&out));
   bson_destroy(&out);
   duet_projection_destroy(projection);
   bson_destroy(spec);
   bson_destroy(query);
   bson_destroy(doc);
}

static void test_computed(void **state)
{
   (void)state;
   expect_projection("{\"item\": 1, \"label\": \"$status\"}", NULL, inventory,
                     "{\"_id\": 1, \"item\": \"journal\", \"label\": \"A\"}");
   expect_projection("{\"_id\": 0, \"one\": {\"$literal\": 1}, \"name\": \"fixed\"}", NULL, inventory,
                     "{\"one\": 1, \"name\": \"fixed\"}");
   expect_projection("{\"_id\": 0, \"size.depth\": \"$size.h\"}", NULL, inventory, "{\"size\": {\"depth\": 14}}");
   expect_projection("{\"_id\": 0, \"x\": \"$nothing\"}", NULL, inventory, "{}");
   expect_parse_error("{\"a\": 0, \"b\": \"$x\"}", NULL, 31252,
                      "Cannot use expression other than $meta in exclusion projection");
}

static void test_parse_errors(void **state)
{
   (void)state;
   expect_parse_error("{\"a\": 1, \"b\": 0}", NULL, 31254, "Cannot do exclusion on field b in inclusion projection");
   expect_parse_error("{\"a\": 0, \"b\": 1}", NULL, 31253, "Cannot do inclusion on field b in exclusion projection");
   expect_parse_error("{\"a\": 1, \"a.b\": 1}", NULL, 31249, "Path collision at a.b remaining portion b");
   expect_parse_error("{\"a.b\": 1, \"a\": 1}", NULL, 31250, "Path collision at a");
   expect_parse_error("{\"$a\": 1}", NULL, 16410,
                      "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
   expect_parse_error("{\"a.\": 1}", NULL, 40353, "FieldPath must not end with a '.'.");
   expect_parse_error("{\"\": 1}", NULL, 40352, "FieldPath cannot be constructed with empty string");
   expect_parse_error("{\"a..b\": 1}", NULL, 15998, "FieldPath field names may not be empty strings.");
   expect_parse_error("{\"a\": {\"$slice\": \"x\"}}", NULL, 31273,
                      "$slice only supports numbers and [skip, limit] arrays");
   expect_parse_error("{\"a\": {\"$slice\": [1]}}", NULL, 31272,
                      "$slice array argument should be of form [skip, limit]");
   expect_parse_error("{\"a\": {\"$slice\": [1, 0]}}", NULL, 31259, "$slice limit must be positive, got 0");
   expect_parse_error("{\"a\": {\"$elemMatch\": 1}}", NULL, 31274,
                      "elemMatch: Invalid argument, object required, but got a non-object");
   expect_parse_error("{\"a.b\": {\"$elemMatch\": {}}}", NULL, 31275,
                      "Cannot use $elemMatch projection on a nested field.");
   expect_parse_error("{\"a\": {\"$bogus\": 1}}", NULL, 168, "Unrecognized expression '$bogus'");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_inclusion_exclusion), cmocka_unit_test(test_dotted_paths), cmocka_unit_test(test_slice),
       cmocka_unit_test(test_elem_match),          cmocka_unit_test(test_positional),   cmocka_unit_test(test_computed),
       cmocka_unit_test(test_parse_errors),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
