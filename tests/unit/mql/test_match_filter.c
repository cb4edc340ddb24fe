/*
 * test_match_filter.c — query filters: every operator, implicit equality,
 * dotted paths through arrays and documents, null/missing, type brackets,
 * and MongoDB's parse errors.  Cases follow MongoDB's query operator
 * documentation examples.
 */
#include "duet_test.h"

#include <duet/mql_match.h>

/* libbson's JSON reader takes {"$type": ..} and {"$regex": ..} for legacy extended
 * JSON; fixtures write those operators as "%type" / "%regex" and this copy turns a
 * leading '%' of every key back into '$'. */
static void copy_renaming(const bson_t *from, bson_t *to)
{
   bson_iter_t it;
   bson_iter_init(&it, from);
   while (bson_iter_next(&it)) {
      char key[128];
      snprintf(key, sizeof key, "%s", bson_iter_key(&it));
      if (key[0] == '%') {
         key[0] = '$';
      }
      if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
         uint32_t length;
         const uint8_t *data;
         bson_t child, sub;
         if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_document(&it, &length, &data);
            bson_init_static(&sub, data, length);
            bson_append_document_begin(to, key, -1, &child);
            copy_renaming(&sub, &child);
            bson_append_document_end(to, &child);
         } else {
            bson_iter_array(&it, &length, &data);
            bson_init_static(&sub, data, length);
            bson_append_array_begin(to, key, -1, &child);
            copy_renaming(&sub, &child);
            bson_append_array_end(to, &child);
         }
      } else {
         bson_append_value(to, key, -1, bson_iter_value(&it));
      }
   }
}

static bson_t *fixture(const char *json)
{
   bson_t *parsed = TEST_JSON(json);
   bson_t *renamed = bson_new();
   copy_renaming(parsed, renamed);
   bson_destroy(parsed);
   return renamed;
}

/* Parses `filter` (must succeed) and matches `doc`. */
static bool matches(const char *filter_json, const char *doc_json)
{
   bson_t *filter = fixture(filter_json);
   bson_t *doc = TEST_JSON(doc_json);
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match = NULL;
   if (!duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error)) {
      fail_msg("parse of %s failed: %d %s", filter_json, error.code, error.message);
   }
   bool matched = false;
   if (!duet_match_matches(match, doc, &matched, NULL, &error)) {
      fail_msg("match of %s failed: %d %s", filter_json, error.code, error.message);
   }
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);
   duet_error_clear(&error);
   return matched;
}

#define MATCHES(f, d) assert_true(matches((f), (d)))
#define NO_MATCH(f, d) assert_false(matches((f), (d)))

static void expect_parse_error(const char *filter_json, int32_t code, const char *message)
{
   bson_t *filter = fixture(filter_json);
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match = NULL;
   bool ok = duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error);
   if (ok) {
      fail_msg("parse of %s succeeded; expected %d %s", filter_json, code, message);
   }
   assert_null(match);
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s: got %d '%s', expected %d '%s'", filter_json, error.code, error.message, code, message);
   }
   duet_error_clear(&error);
   bson_destroy(filter);
}

static void test_implicit_equality(void **state)
{
   (void)state;
   MATCHES("{\"qty\": 20}", "{\"qty\": 20}");
   MATCHES("{\"qty\": 20}", "{\"qty\": 20.0}");
   MATCHES("{\"qty\": 20}", "{\"qty\": {\"$numberLong\": \"20\"}}");
   MATCHES("{\"qty\": 20}", "{\"qty\": {\"$numberDecimal\": \"20.0\"}}");
   NO_MATCH("{\"qty\": 20}", "{\"qty\": \"20\"}");
   NO_MATCH("{\"qty\": 20}", "{\"other\": 20}");
   MATCHES("{}", "{\"a\": 1}");
   MATCHES("{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1}");
   NO_MATCH("{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 3}");
   /* embedded documents compare whole, field order included */
   MATCHES("{\"size\": {\"h\": 14, \"w\": 21, \"uom\": \"cm\"}}",
           "{\"size\": {\"h\": 14, \"w\": 21, \"uom\": \"cm\"}}");
   NO_MATCH("{\"size\": {\"w\": 21, \"h\": 14, \"uom\": \"cm\"}}",
            "{\"size\": {\"h\": 14, \"w\": 21, \"uom\": \"cm\"}}");
}

static void test_arrays(void **state)
{
   (void)state;
   const char *doc = "{\"tags\": [\"blank\", \"red\"], \"dim_cm\": [14, 21]}";
   MATCHES("{\"tags\": \"red\"}", doc);
   MATCHES("{\"tags\": [\"blank\", \"red\"]}", doc);
   NO_MATCH("{\"tags\": [\"red\", \"blank\"]}", doc);
   MATCHES("{\"tags\": {\"$all\": [\"red\", \"blank\"]}}", doc);
   NO_MATCH("{\"tags\": {\"$all\": [\"red\", \"plain\"]}}", doc);
   MATCHES("{\"dim_cm\": {\"$gt\": 15, \"$lt\": 20}}", doc); /* different elements may satisfy each */
   NO_MATCH("{\"dim_cm\": {\"$elemMatch\": {\"$gt\": 15, \"$lt\": 20}}}", doc);
   MATCHES("{\"dim_cm.1\": {\"$gt\": 20}}", doc);
   NO_MATCH("{\"dim_cm.0\": {\"$gt\": 20}}", doc);
   MATCHES("{\"tags\": {\"$size\": 2}}", doc);
   NO_MATCH("{\"tags\": {\"$size\": 3}}", doc);
   /* nested arrays are only expanded one level at the leaf */
   MATCHES("{\"a\": [1, 2]}", "{\"a\": [[1, 2], 3]}");
   NO_MATCH("{\"a\": 1}", "{\"a\": [[1, 2], 3]}");
   /* empty array */
   MATCHES("{\"a\": []}", "{\"a\": []}");
   NO_MATCH("{\"a\": null}", "{\"a\": []}");
}

static void test_dotted_paths(void **state)
{
   (void)state;
   MATCHES("{\"size.uom\": \"in\"}", "{\"size\": {\"h\": 8.5, \"uom\": \"in\"}}");
   MATCHES("{\"instock.qty\": 5}",
           "{\"instock\": [{\"warehouse\": \"A\", \"qty\": 5}, {\"warehouse\": \"C\", \"qty\": 15}]}");
   MATCHES("{\"instock.0.qty\": {\"$lte\": 20}}", "{\"instock\": [{\"qty\": 5}, {\"qty\": 40}]}");
   NO_MATCH("{\"instock.0.qty\": {\"$gt\": 20}}", "{\"instock\": [{\"qty\": 5}, {\"qty\": 40}]}");
   MATCHES("{\"a.b.c\": 1}", "{\"a\": [{\"b\": [{\"c\": 1}]}]}");
   MATCHES("{\"a.b\": 2}", "{\"a\": {\"b\": [1, 2]}}");
   NO_MATCH("{\"a.b\": 1}", "{\"a\": [[{\"b\": 1}]]}");
   NO_MATCH("{\"a.b\": 1}", "{\"a\": 5}");
   /* instock documents: both conditions met by a single element only with $elemMatch */
   const char *doc = "{\"instock\": [{\"warehouse\": \"A\", \"qty\": 5}, {\"warehouse\": \"C\", \"qty\": 15}]}";
   MATCHES("{\"instock\": {\"$elemMatch\": {\"qty\": 5, \"warehouse\": \"A\"}}}", doc);
   NO_MATCH("{\"instock\": {\"$elemMatch\": {\"qty\": 15, \"warehouse\": \"A\"}}}", doc);
   MATCHES("{\"instock.qty\": 15, \"instock.warehouse\": \"A\"}", doc);
}

static void test_null_and_missing(void **state)
{
   (void)state;
   MATCHES("{\"item\": null}", "{\"_id\": 1, \"item\": null}");
   MATCHES("{\"item\": null}", "{\"_id\": 2}");
   NO_MATCH("{\"item\": null}", "{\"item\": 0}");
   MATCHES("{\"item\": {\"%type\": 10}}", "{\"item\": null}");
   NO_MATCH("{\"item\": {\"%type\": 10}}", "{}");
   MATCHES("{\"item\": {\"$exists\": false}}", "{}");
   NO_MATCH("{\"item\": {\"$exists\": false}}", "{\"item\": null}");
   MATCHES("{\"item\": {\"$exists\": true}}", "{\"item\": null}");
   MATCHES("{\"item\": {\"$ne\": null}}", "{\"item\": 1}");
   NO_MATCH("{\"item\": {\"$ne\": null}}", "{}");
   MATCHES("{\"a.b\": null}", "{\"a\": [{\"b\": 1}, {\"c\": 2}]}");
   MATCHES("{\"a.b\": null}", "{\"a\": 5}");
   NO_MATCH("{\"a.b\": null}", "{\"a\": [{\"b\": 1}]}");
   MATCHES("{\"a\": {\"$in\": [null, 5]}}", "{}");
   MATCHES("{\"a\": {\"$gte\": null}}", "{}");
   NO_MATCH("{\"a\": {\"$gt\": null}}", "{}");
   /* MongoDB 8.0: null no longer matches undefined */
   NO_MATCH("{\"a\": null}", "{\"a\": {\"$undefined\": true}}");
}

static void test_comparison_brackets(void **state)
{
   (void)state;
   MATCHES("{\"a\": {\"$gt\": 5}}", "{\"a\": 6}");
   MATCHES("{\"a\": {\"$gt\": 5}}", "{\"a\": {\"$numberDecimal\": \"5.01\"}}");
   NO_MATCH("{\"a\": {\"$gt\": 5}}", "{\"a\": \"6\"}");
   NO_MATCH("{\"a\": {\"$gt\": 5}}", "{\"a\": true}");
   NO_MATCH("{\"a\": {\"$lt\": 5}}", "{\"a\": null}");
   MATCHES("{\"a\": {\"$lt\": \"b\"}}", "{\"a\": \"a\"}");
   NO_MATCH("{\"a\": {\"$lt\": \"b\"}}", "{\"a\": 1}");
   MATCHES("{\"a\": {\"$gte\": 5, \"$lte\": 5}}", "{\"a\": 5.0}");
   MATCHES("{\"d\": {\"$gt\": {\"$date\": \"2020-01-01T00:00:00Z\"}}}",
           "{\"d\": {\"$date\": \"2021-01-01T00:00:00Z\"}}");
   /* NaN equals NaN only */
   MATCHES("{\"a\": NaN}", "{\"a\": NaN}");
   NO_MATCH("{\"a\": {\"$lt\": 5}}", "{\"a\": NaN}");
   NO_MATCH("{\"a\": {\"$gt\": NaN}}", "{\"a\": 5}");
   MATCHES("{\"a\": {\"$gte\": NaN}}", "{\"a\": NaN}");
   /* MinKey / MaxKey */
   MATCHES("{\"a\": {\"$lt\": {\"$maxKey\": 1}}}", "{\"a\": \"x\"}");
   MATCHES("{\"a\": {\"$gt\": {\"$minKey\": 1}}}", "{\"a\": {\"b\": 1}}");
   NO_MATCH("{\"a\": {\"$gt\": {\"$maxKey\": 1}}}", "{\"a\": 1}");
   /* $eq with a regex compares regexes, implicit equality with a regex matches strings */
   MATCHES("{\"a\": {\"$eq\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}",
           "{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}");
   NO_MATCH("{\"a\": {\"$eq\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}", "{\"a\": \"x\"}");
   MATCHES("{\"a\": {\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}}", "{\"a\": \"xy\"}");
}

static void test_ne_in_nin(void **state)
{
   (void)state;
   MATCHES("{\"a\": {\"$ne\": 5}}", "{}");
   MATCHES("{\"a\": {\"$ne\": 5}}", "{\"a\": [1, 2]}");
   NO_MATCH("{\"a\": {\"$ne\": 5}}", "{\"a\": [5, 6]}");
   MATCHES("{\"quantity\": {\"$in\": [5, 15]}}", "{\"quantity\": 15}");
   NO_MATCH("{\"quantity\": {\"$in\": [5, 15]}}", "{\"quantity\": 20}");
   MATCHES("{\"tags\": {\"$in\": [{\"$regularExpression\": {\"pattern\": \"^be\", \"options\": \"\"}}]}}",
           "{\"tags\": [\"school\", \"bella\"]}");
   NO_MATCH("{\"a\": {\"$in\": []}}", "{\"a\": 1}");
   MATCHES("{\"quantity\": {\"$nin\": [5, 15]}}", "{\"quantity\": 20}");
   MATCHES("{\"quantity\": {\"$nin\": [5, 15]}}", "{}");
   NO_MATCH("{\"quantity\": {\"$nin\": [5, 15]}}", "{\"quantity\": [1, 5]}");
   MATCHES("{\"a\": {\"$in\": [[1, 2]]}}", "{\"a\": [1, 2]}");
}

static void test_logical(void **state)
{
   (void)state;
   MATCHES("{\"$and\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 2}");
   NO_MATCH("{\"$and\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1}");
   MATCHES("{\"$or\": [{\"quantity\": {\"$lt\": 20}}, {\"price\": 10}]}", "{\"quantity\": 30, \"price\": 10}");
   NO_MATCH("{\"$or\": [{\"quantity\": {\"$lt\": 20}}, {\"price\": 10}]}", "{\"quantity\": 30, \"price\": 11}");
   MATCHES("{\"$nor\": [{\"price\": 1.99}, {\"sale\": true}]}", "{\"price\": 2}");
   MATCHES("{\"$nor\": [{\"price\": 1.99}, {\"sale\": true}]}", "{}");
   NO_MATCH("{\"$nor\": [{\"price\": 1.99}, {\"sale\": true}]}", "{\"sale\": true}");
   MATCHES("{\"price\": {\"$not\": {\"$gt\": 1.99}}}", "{\"price\": 1.5}");
   MATCHES("{\"price\": {\"$not\": {\"$gt\": 1.99}}}", "{}");
   NO_MATCH("{\"price\": {\"$not\": {\"$gt\": 1.99}}}", "{\"price\": 2}");
   MATCHES("{\"item\": {\"$not\": {\"$regularExpression\": {\"pattern\": \"^p.*\", \"options\": \"\"}}}}",
           "{\"item\": \"apple\"}");
   NO_MATCH("{\"item\": {\"$not\": {\"$regularExpression\": {\"pattern\": \"^p.*\", \"options\": \"\"}}}}",
            "{\"item\": \"pear\"}");
   MATCHES("{\"item\": {\"$not\": {\"%regex\": \"^p.*\"}}}", "{\"item\": \"apple\"}");
   MATCHES("{\"$comment\": \"why\", \"a\": 1}", "{\"a\": 1}");
   MATCHES("{\"$alwaysTrue\": 1}", "{}");
   NO_MATCH("{\"$alwaysFalse\": 1}", "{}");
}

static void test_exists_type(void **state)
{
   (void)state;
   MATCHES("{\"a\": {\"$exists\": 1}}", "{\"a\": 0}");
   MATCHES("{\"a\": {\"$exists\": 0}}", "{\"b\": 0}");
   MATCHES("{\"a.b\": {\"$exists\": false}}", "{\"a\": []}");
   MATCHES("{\"zip\": {\"%type\": \"string\"}}", "{\"zip\": \"10001\"}");
   MATCHES("{\"zip\": {\"%type\": 2}}", "{\"zip\": \"10001\"}");
   MATCHES("{\"zip\": {\"%type\": \"number\"}}", "{\"zip\": {\"$numberLong\": \"10001\"}}");
   MATCHES("{\"zip\": {\"%type\": [\"string\", \"double\"]}}", "{\"zip\": 1.5}");
   NO_MATCH("{\"zip\": {\"%type\": [\"string\", \"double\"]}}", "{\"zip\": 1}");
   MATCHES("{\"zip\": {\"%type\": \"int\"}}", "{\"zip\": [\"a\", 1]}");
   MATCHES("{\"zip\": {\"%type\": \"array\"}}", "{\"zip\": []}");
   MATCHES("{\"zip\": {\"%type\": \"minKey\"}}", "{\"zip\": {\"$minKey\": 1}}");
   MATCHES("{\"zip\": {\"%type\": -1}}", "{\"zip\": {\"$minKey\": 1}}");
   MATCHES("{\"zip\": {\"%type\": 127}}", "{\"zip\": {\"$maxKey\": 1}}");
   NO_MATCH("{\"zip\": {\"%type\": \"object\"}}", "{}");
}

static void test_regex(void **state)
{
   (void)state;
   MATCHES("{\"sku\": {\"%regex\": \"789$\"}}", "{\"sku\": \"abc789\"}");
   NO_MATCH("{\"sku\": {\"%regex\": \"^ABC\"}}", "{\"sku\": \"abc789\"}");
   MATCHES("{\"sku\": {\"%regex\": \"^ABC\", \"%options\": \"i\"}}", "{\"sku\": \"abc789\"}");
   MATCHES("{\"sku\": {\"%options\": \"i\", \"%regex\": \"^ABC\"}}", "{\"sku\": \"abc789\"}");
   MATCHES("{\"sku\": {\"%regex\": {\"$regularExpression\": {\"pattern\": \"^ABC\", \"options\": \"i\"}}}}",
           "{\"sku\": \"abc789\"}");
   MATCHES("{\"d\": {\"%regex\": \"^S\", \"%options\": \"m\"}}", "{\"d\": \"First line\\nSecond line\"}");
   NO_MATCH("{\"d\": {\"%regex\": \"^S\"}}", "{\"d\": \"First line\\nSecond line\"}");
   MATCHES("{\"d\": {\"%regex\": \"a.b\", \"%options\": \"s\"}}", "{\"d\": \"a\\nb\"}");
   NO_MATCH("{\"d\": {\"%regex\": \"a.b\"}}", "{\"d\": \"a\\nb\"}");
   MATCHES("{\"d\": {\"%regex\": \"a b # comment\", \"%options\": \"x\"}}", "{\"d\": \"ab\"}");
   MATCHES("{\"d\": {\"%regex\": \"é\"}}", "{\"d\": \"café\"}");
   NO_MATCH("{\"d\": {\"%regex\": \"1\"}}", "{\"d\": 1}");
   MATCHES("{\"d\": {\"%regex\": \"^a\"}}", "{\"d\": [\"b\", \"ab\", \"a\"]}");
   MATCHES("{\"d\": {\"%regex\": \"^a\"}}", "{\"d\": {\"$symbol\": \"abc\"}}");
}

static void test_elem_match_size_all_mod(void **state)
{
   (void)state;
   MATCHES("{\"results\": {\"$elemMatch\": {\"$gte\": 80, \"$lt\": 85}}}", "{\"results\": [82, 85, 88]}");
   NO_MATCH("{\"results\": {\"$elemMatch\": {\"$gte\": 80, \"$lt\": 85}}}", "{\"results\": [75, 88, 89]}");
   const char *survey = "{\"results\": [{\"product\": \"abc\", \"score\": 10}, {\"product\": \"xyz\", \"score\": 5}]}";
   MATCHES("{\"results\": {\"$elemMatch\": {\"product\": \"xyz\", \"score\": {\"$gte\": 5}}}}", survey);
   NO_MATCH("{\"results\": {\"$elemMatch\": {\"product\": \"xyz\", \"score\": {\"$gte\": 8}}}}", survey);
   MATCHES("{\"results\": {\"$elemMatch\": {\"product\": \"xyz\"}}}", survey);
   NO_MATCH("{\"results\": {\"$elemMatch\": {\"$gt\": 1}}}", "{\"results\": 5}");
   MATCHES("{\"results\": {\"$elemMatch\": {}}}", survey);
   MATCHES("{\"a\": {\"$elemMatch\": {\"$or\": [{\"b\": 1}, {\"c\": 1}]}}}", "{\"a\": [{\"c\": 1}]}");
   MATCHES("{\"a\": {\"$elemMatch\": {\"$elemMatch\": {\"$eq\": 2}}}}", "{\"a\": [[1, 2]]}");
   MATCHES("{\"a\": {\"$elemMatch\": {\"$in\": [3]}}}", "{\"a\": [1, 3]}");
   MATCHES("{\"a\": {\"$elemMatch\": {\"$not\": {\"$gt\": 2}}}}", "{\"a\": [3, 1]}");
   NO_MATCH("{\"a\": {\"$elemMatch\": {\"$not\": {\"$gt\": 2}}}}", "{\"a\": [3, 4]}");
   MATCHES("{\"a\": {\"$size\": 0}}", "{\"a\": []}");
   NO_MATCH("{\"a\": {\"$size\": 1}}", "{\"a\": 1}");
   MATCHES("{\"a.b\": {\"$size\": 1}}", "{\"a\": [{\"b\": [1]}, {\"b\": [1, 2]}]}");
   MATCHES("{\"a\": {\"$size\": 2.0}}", "{\"a\": [1, 2]}");
   MATCHES("{\"qty\": {\"$mod\": [4, 0]}}", "{\"qty\": 12}");
   NO_MATCH("{\"qty\": {\"$mod\": [4, 0]}}", "{\"qty\": 21}");
   MATCHES("{\"qty\": {\"$mod\": [4.5, 0]}}", "{\"qty\": 8}"); /* divisor truncated to 4 */
   MATCHES("{\"qty\": {\"$mod\": [4, 0]}}", "{\"qty\": 8.9}"); /* value truncated to 8 */
   MATCHES("{\"qty\": {\"$mod\": [-4, -1]}}", "{\"qty\": -5}");
   NO_MATCH("{\"qty\": {\"$mod\": [4, 0]}}", "{\"qty\": \"8\"}");
   MATCHES("{\"qty\": {\"$mod\": [-1, 0]}}", "{\"qty\": {\"$numberLong\": \"-9223372036854775808\"}}");
   NO_MATCH("{\"a\": {\"$all\": []}}", "{\"a\": []}");
   MATCHES("{\"a\": {\"$all\": [[1, 2]]}}", "{\"a\": [[1, 2], 3]}");
   MATCHES("{\"a\": {\"$all\": [{\"$elemMatch\": {\"x\": 1}}, {\"$elemMatch\": {\"y\": 1}}]}}",
           "{\"a\": [{\"x\": 1}, {\"y\": 1}]}");
   MATCHES("{\"a\": {\"$all\": [{\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}]}}",
           "{\"a\": [\"y\", \"xx\"]}");
   MATCHES("{\"a\": {\"$all\": [5]}}", "{\"a\": 5}");
}

static void test_parse_errors(void **state)
{
   (void)state;
   expect_parse_error("{\"a\": {\"$foo\": 1}}", 2, "unknown operator: $foo");
   expect_parse_error("{\"a\": {\"$gt\": 1, \"b\": 1}}", 2, "unknown operator: b");
   expect_parse_error("{\"$foo\": 1}", 2,
                      "unknown top level operator: $foo. If you have a field name that starts with a '$' symbol, "
                      "consider using $getField or $setField.");
   expect_parse_error("{\"$and\": []}", 2, "$and/$or/$nor must be a nonempty array");
   expect_parse_error("{\"$or\": 1}", 2, "$or must be an array");
   expect_parse_error("{\"$nor\": [1]}", 2, "$or/$and/$nor entries need to be full objects");
   expect_parse_error("{\"a\": {\"$in\": 1}}", 2, "$in needs an array");
   expect_parse_error("{\"a\": {\"$nin\": 1}}", 2, "$nin needs an array");
   expect_parse_error("{\"a\": {\"$in\": [{\"$gt\": 1}]}}", 2, "cannot nest $ under $in");
   expect_parse_error("{\"a\": {\"$size\": \"1\"}}", 2, "$size needs a number");
   expect_parse_error("{\"a\": {\"$size\": -1}}", 2, "$size may not be negative");
   expect_parse_error("{\"a\": {\"$size\": 1.5}}", 2, "$size must be a whole number");
   expect_parse_error("{\"a\": {\"$not\": 1}}", 2, "$not needs a regex or a document");
   expect_parse_error("{\"a\": {\"$not\": {}}}", 2, "$not cannot be empty");
   expect_parse_error("{\"a\": {\"$elemMatch\": 1}}", 2, "$elemMatch needs an Object");
   expect_parse_error("{\"a\": {\"$all\": 1}}", 2, "$all needs an array");
   expect_parse_error("{\"a\": {\"$all\": [{\"$gt\": 1}]}}", 2, "no $ expressions in $all");
   expect_parse_error("{\"a\": {\"$all\": [{\"$elemMatch\": {}}, 1]}}", 2, "$all/$elemMatch has to be consistent");
   expect_parse_error("{\"a\": {\"%regex\": 1}}", 2, "$regex has to be a string");
   expect_parse_error("{\"a\": {\"%options\": \"i\"}}", 2, "$options needs a $regex");
   expect_parse_error("{\"a\": {\"%regex\": \"x\", \"%options\": 1}}", 2, "$options has to be a string");
   expect_parse_error("{\"a\": {\"%regex\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"i\"}}, "
                      "\"%options\": \"m\"}}",
                      51075, "options set in both $regex and $options");
   expect_parse_error("{\"a\": {\"%regex\": \"x\", \"%options\": \"z\"}}", 51108, "invalid flag in regex options: z");
   expect_parse_error("{\"a\": {\"%regex\": \"(\"}}", 51091,
                      "Regular expression is invalid: missing closing parenthesis");
   expect_parse_error("{\"a\": {\"$gt\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}", 2,
                      "Can't have RegEx as arg to predicate over field 'a'.");
   expect_parse_error("{\"a\": {\"$ne\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}", 2,
                      "Can't have regex as arg to $ne.");
   expect_parse_error("{\"a\": {\"$mod\": 1}}", 2, "malformed mod, needs to be an array");
   expect_parse_error("{\"a\": {\"$mod\": [1]}}", 2, "malformed mod, not enough elements");
   expect_parse_error("{\"a\": {\"$mod\": [1, 2, 3]}}", 2, "malformed mod, too many elements");
   expect_parse_error("{\"a\": {\"$mod\": [\"1\", 2]}}", 2, "malformed mod, divisor not a number");
   expect_parse_error("{\"a\": {\"$mod\": [1, \"2\"]}}", 2, "malformed mod, remainder not a number");
   expect_parse_error("{\"a\": {\"$mod\": [0, 1]}}", 2, "divisor cannot be 0");
   expect_parse_error(
       "{\"a\": {\"$mod\": [NaN, 1]}}", 2,
       "malformed mod, divisor value is invalid :: caused by :: Unable to coerce NaN/Inf to integral type");
   expect_parse_error(
       "{\"a\": {\"$mod\": [1e300, 1]}}", 2,
       "malformed mod, divisor value is invalid :: caused by :: Out of bounds coercing to integral value");
   expect_parse_error("{\"a\": {\"%type\": \"foo\"}}", 2, "Unknown type name alias: foo");
   expect_parse_error("{\"a\": {\"%type\": 100}}", 2, "Invalid numerical type code: 100");
   expect_parse_error("{\"a\": {\"%type\": true}}", 14, "type must be represented as a number or a string");
   expect_parse_error("{\"a\": {\"%type\": []}}", 9, "a must match at least one type");
   expect_parse_error("{\"a\": {\"$where\": \"x\"}}", 2, "$where cannot be applied to a field");
   expect_parse_error("{\"a\": {\"$elemMatch\": {\"$expr\": {\"$eq\": [1, 1]}}}}", 2,
                      "$expr can only be applied to the top-level document");
   expect_parse_error("{\"$jsonSchema\": 1}", 14, "$jsonSchema must be an object");
   expect_parse_error("{\"$alwaysTrue\": 2}", 9, "$alwaysTrue must be an integer value of 1");
}

static void test_features(void **state)
{
   (void)state;
   bson_t *filter = TEST_JSON("{\"$expr\": {\"$eq\": [\"$a\", 1]}}");
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match = NULL;
   assert_false(duet_match_parse(filter, DUET_MATCH_FEATURES_NONE, &match, &error));
   assert_int_equal(error.code, 224);
   assert_string_equal(error.message, "$expr is not allowed in this context");
   duet_error_clear(&error);
   bson_destroy(filter);
   filter = TEST_JSON("{\"$jsonSchema\": {}}");
   assert_false(duet_match_parse(filter, DUET_MATCH_FEATURES_NONE, &match, &error));
   assert_int_equal(error.code, 224);
   assert_string_equal(error.message, "$jsonSchema is not allowed in this context");
   duet_error_clear(&error);
   bson_destroy(filter);
}

static void test_details_array_index(void **state)
{
   (void)state;
   bson_t *filter = TEST_JSON("{\"grades\": {\"$gte\": 85}}");
   bson_t *doc = TEST_JSON("{\"grades\": [80, 85, 90]}");
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match;
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   bool matched;
   duet_match_details_t details;
   assert_true(duet_match_matches(match, doc, &matched, &details, &error));
   assert_true(matched);
   assert_true(details.has_array_index);
   assert_int_equal(details.array_index, 1);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);

   filter = TEST_JSON("{\"students\": {\"$elemMatch\": {\"school\": 102, \"age\": {\"$gt\": 10}}}}");
   doc = TEST_JSON("{\"students\": [{\"school\": 102, \"age\": 10}, {\"school\": 102, \"age\": 11}]}");
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   assert_true(duet_match_matches(match, doc, &matched, &details, &error));
   assert_true(matched);
   assert_true(details.has_array_index);
   assert_int_equal(details.array_index, 1);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);

   filter = TEST_JSON("{\"a\": 1}");
   doc = TEST_JSON("{\"a\": 1}");
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   assert_true(duet_match_matches(match, doc, &matched, &details, &error));
   assert_true(matched);
   assert_false(details.has_array_index);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);
}

static void test_array_filters_and_values(void **state)
{
   (void)state;
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match;
   const char *identifier;
   bson_t *filter = TEST_JSON("{\"elem.grade\": {\"$gte\": 85}, \"elem.mean\": {\"$gt\": 80}}");
   assert_true(duet_match_parse_array_filter(filter, &match, &identifier, &error));
   assert_string_equal(identifier, "elem");
   bson_t *element = TEST_JSON("{\"v\": {\"grade\": 90, \"mean\": 85}}");
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, element, "v"));
   bool matched;
   assert_true(duet_match_matches_value(match, identifier, bson_iter_value(&it), &matched, &error));
   assert_true(matched);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(element);

   filter = TEST_JSON("{\"x\": {\"$gte\": 100}}");
   assert_true(duet_match_parse_array_filter(filter, &match, &identifier, &error));
   bson_value_t value = {.value_type = BSON_TYPE_INT32};
   value.value.v_int32 = 100;
   assert_true(duet_match_matches_value(match, "x", &value, &matched, &error));
   assert_true(matched);
   value.value.v_int32 = 99;
   assert_true(duet_match_matches_value(match, "x", &value, &matched, &error));
   assert_false(matched);
   duet_match_destroy(match);
   bson_destroy(filter);

   filter = TEST_JSON("{\"a\": 1, \"b\": 2}");
   assert_false(duet_match_parse_array_filter(filter, &match, &identifier, &error));
   assert_int_equal(error.code, 9);
   assert_string_equal(error.message, "Expected a single top-level field name, found 'a' and 'b'");
   bson_destroy(filter);
   filter = TEST_JSON("{\"Elem\": 1}");
   assert_false(duet_match_parse_array_filter(filter, &match, &identifier, &error));
   assert_int_equal(error.code, 2);
   assert_string_equal(error.message,
                       "The top-level field name must be an alphanumeric string beginning with a lowercase letter, "
                       "found 'Elem'");
   bson_destroy(filter);
   filter = TEST_JSON("{}");
   assert_false(duet_match_parse_array_filter(filter, &match, &identifier, &error));
   assert_int_equal(error.code, 9);
   bson_destroy(filter);
   duet_error_clear(&error);

   /* $pull-style condition on scalar elements: {"": value} */
   filter = TEST_JSON("{\"\": {\"$gte\": 6}}");
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_NONE, &match, &error));
   value.value.v_int32 = 7;
   assert_true(duet_match_matches_value(match, "", &value, &matched, &error));
   assert_true(matched);
   duet_match_destroy(match);
   bson_destroy(filter);
}

static void test_path_predicates(void **state)
{
   (void)state;
   bson_t *filter = TEST_JSON("{\"_id\": 5, \"a\": {\"$gt\": 1, \"$lte\": 9}, \"$and\": [{\"a\": {\"$in\": [2, 3]}}], "
                              "\"$or\": [{\"a\": 4}, {\"b\": 1}]}");
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match;
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   const bson_value_t *id;
   assert_true(duet_match_id_equality(match, &id));
   assert_int_equal(id->value_type, BSON_TYPE_INT32);
   assert_int_equal(id->value.v_int32, 5);
   duet_match_predicate_t predicates[8];
   size_t count = duet_match_path_predicates(match, "a", predicates, 8);
   assert_int_equal(count, 3);
   assert_int_equal(predicates[0].op, DUET_MATCH_OP_GT);
   assert_int_equal(predicates[1].op, DUET_MATCH_OP_LTE);
   assert_int_equal(predicates[2].op, DUET_MATCH_OP_IN);
   assert_int_equal(predicates[2].value->value_type, BSON_TYPE_ARRAY);
   assert_int_equal(duet_match_path_predicates(match, "b", predicates, 8), 0);
   duet_match_destroy(match);
   bson_destroy(filter);

   filter = TEST_JSON("{\"_id\": {\"$gt\": 5}}");
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   assert_false(duet_match_id_equality(match, &id));
   duet_match_destroy(match);
   bson_destroy(filter);
}

static void test_expr(void **state)
{
   (void)state;
   MATCHES("{\"$expr\": {\"$gt\": [\"$spent\", \"$budget\"]}}", "{\"spent\": 400, \"budget\": 200}");
   NO_MATCH("{\"$expr\": {\"$gt\": [\"$spent\", \"$budget\"]}}", "{\"spent\": 100, \"budget\": 200}");
   MATCHES("{\"a\": 1, \"$expr\": {\"$eq\": [\"$a\", 1]}}", "{\"a\": 1}");
   expect_parse_error("{\"$expr\": {\"$bogus\": 1}}", 168, "Unrecognized expression '$bogus'");
}

static void test_expr_with_variables(void **state)
{
   (void)state;
   duet_expr_scope_t *scope = duet_expr_scope_new();
   int index = duet_expr_scope_define(scope, "limit");
   bson_t *filter = TEST_JSON("{\"$expr\": {\"$lt\": [\"$qty\", \"$$limit\"]}}");
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match;
   assert_true(duet_match_parse_with_scope(filter, DUET_MATCH_FEATURES_DEFAULT, scope, &match, &error));
   bson_value_t variables[1];
   variables[0].value_type = BSON_TYPE_INT32;
   variables[0].value.v_int32 = 10;
   assert_int_equal(index, 0);
   duet_expr_env_t env = {variables, 1, 0};
   bson_t *doc = TEST_JSON("{\"qty\": 5}");
   bool matched;
   assert_true(duet_match_matches_env(match, doc, &env, &matched, NULL, &error));
   assert_true(matched);
   variables[0].value.v_int32 = 3;
   assert_true(duet_match_matches_env(match, doc, &env, &matched, NULL, &error));
   assert_false(matched);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);

   /* an undefined variable is a parse error from the expression engine */
   filter = TEST_JSON("{\"$expr\": {\"$eq\": [\"$a\", \"$$nope\"]}}");
   assert_false(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   assert_int_equal(error.code, 17276);
   duet_error_clear(&error);
   bson_destroy(filter);
   duet_expr_scope_destroy(scope);

   /* a run-time expression error surfaces from duet_match_matches */
   filter = TEST_JSON("{\"$expr\": {\"$toInt\": \"$s\"}}");
   doc = TEST_JSON("{\"s\": \"abc\"}");
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   assert_false(duet_match_matches(match, doc, &matched, NULL, &error));
   assert_int_equal(error.code, 241);
   duet_error_clear(&error);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);
}

static void expect_details(const char *filter_json, const char *doc_json, const char *expected_json)
{
   bson_t *filter = fixture(filter_json);
   bson_t *doc = TEST_JSON(doc_json);
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match;
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   bson_t details;
   assert_true(duet_match_validation_details(match, doc, &details, &error));
   ASSERT_JSON_EQ(&details, expected_json);
   bson_destroy(&details);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);
}

static void test_validation_details(void **state)
{
   (void)state;
   expect_details("{\"a\": {\"$ne\": 1}}", "{\"a\": 1}",
                  "{\"operatorName\": \"$ne\", \"specifiedAs\": {\"a\": {\"$ne\": 1}}, "
                  "\"reason\": \"comparison succeeded\", \"consideredValue\": 1}");
   expect_details("{\"a\": {\"$exists\": true}}", "{}",
                  "{\"operatorName\": \"$exists\", \"specifiedAs\": {\"a\": {\"$exists\": true}}, "
                  "\"reason\": \"path does not exist\"}");
   expect_details("{\"a\": {\"$in\": [1, 2]}}", "{\"a\": [3, 4]}",
                  "{\"operatorName\": \"$in\", \"specifiedAs\": {\"a\": {\"$in\": [1, 2]}}, "
                  "\"reason\": \"no matching value found in array\", \"consideredValues\": [3, 4]}");
   expect_details("{\"a\": {\"%type\": \"string\"}}", "{\"a\": 1}",
                  "{\"operatorName\": \"$type\", \"specifiedAs\": {\"a\": {\"$type\": \"string\"}}, "
                  "\"reason\": \"type did not match\", \"consideredValue\": 1, \"consideredType\": \"int\"}");
   expect_details("{\"$or\": [{\"a\": 1}, {\"b\": {\"$lt\": 0}}]}", "{\"a\": 2, \"b\": 5}",
                  "{\"operatorName\": \"$or\", \"clausesNotSatisfied\": ["
                  "{\"index\": 0, \"details\": {\"operatorName\": \"$eq\", \"specifiedAs\": {\"a\": {\"$eq\": 1}}, "
                  "\"reason\": \"comparison failed\", \"consideredValue\": 2}}, "
                  "{\"index\": 1, \"details\": {\"operatorName\": \"$lt\", \"specifiedAs\": {\"b\": {\"$lt\": 0}}, "
                  "\"reason\": \"comparison failed\", \"consideredValue\": 5}}]}");
   expect_details("{\"$expr\": {\"$eq\": [\"$a\", 1]}}", "{\"a\": 2}",
                  "{\"operatorName\": \"$expr\", \"specifiedAs\": {\"$expr\": {\"$eq\": [\"$a\", 1]}}, "
                  "\"reason\": \"expression did not match\", \"expressionResult\": false}");
   expect_details("{\"a\": {\"$all\": [1, 2]}}", "{\"a\": [1]}",
                  "{\"operatorName\": \"$all\", \"specifiedAs\": {\"a\": {\"$all\": [1, 2]}}, "
                  "\"reason\": \"array did not contain all specified values\", \"consideredValue\": [1]}");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_implicit_equality),
       cmocka_unit_test(test_arrays),
       cmocka_unit_test(test_dotted_paths),
       cmocka_unit_test(test_null_and_missing),
       cmocka_unit_test(test_comparison_brackets),
       cmocka_unit_test(test_ne_in_nin),
       cmocka_unit_test(test_logical),
       cmocka_unit_test(test_exists_type),
       cmocka_unit_test(test_regex),
       cmocka_unit_test(test_elem_match_size_all_mod),
       cmocka_unit_test(test_parse_errors),
       cmocka_unit_test(test_features),
       cmocka_unit_test(test_details_array_index),
       cmocka_unit_test(test_array_filters_and_values),
       cmocka_unit_test(test_path_predicates),
       cmocka_unit_test(test_expr),
       cmocka_unit_test(test_expr_with_variables),
       cmocka_unit_test(test_validation_details),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
