/*
 * test_pipeline_stages.c — aggregation stages over in-memory documents: $addFields/$set,
 * $unset, $project, $replaceRoot/$replaceWith, $match, $sort, $limit, $skip, $count, $group,
 * $unwind, $documents; parse errors with MongoDB's codes; memory limits; the per-document
 * fast path.  Cases follow MongoDB's documentation and jstests (reference §2.3).
 */
#include "duet_test.h"

#include <duet/doc.h>
#include <duet/mql_pipeline.h>

typedef struct array_source {
   bson_t **docs;
   size_t count;
   size_t position;
} array_source_t;

static bool array_source_next(void *context, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   array_source_t *source = context;
   *doc = source->position < source->count ? source->docs[source->position++] : NULL;
   return true;
}

/* Runs `pipeline_json` (an array) over the documents of `input_json` (an array) and returns the
 * outputs as {"r": [...]} or NULL with *error set. */
static bson_t *run_with(const char *input_json, const char *pipeline_json, const duet_pipeline_options_t *options,
                        duet_error_t *error)
{
   char buffer[16384];
   snprintf(buffer, sizeof buffer, "{\"p\": %s}", pipeline_json);
   bson_t *pipeline_doc = TEST_JSON(buffer);
   snprintf(buffer, sizeof buffer, "{\"d\": %s}", input_json);
   bson_t *input_doc = TEST_JSON(buffer);
   bson_iter_t iter, child;
   bson_t pipeline_array;
   uint32_t length;
   const uint8_t *data;
   assert_true(bson_iter_init_find(&iter, pipeline_doc, "p"));
   bson_iter_array(&iter, &length, &data);
   bson_init_static(&pipeline_array, data, length);
   bson_t *docs[256];
   size_t count = 0;
   assert_true(bson_iter_init_find(&iter, input_doc, "d"));
   bson_iter_recurse(&iter, &child);
   while (bson_iter_next(&child) && count < 256) {
      bson_iter_document(&child, &length, &data);
      docs[count++] = bson_new_from_data(data, length);
   }
   bson_t *result = NULL;
   duet_pipeline_t *pipeline = NULL;
   if (duet_pipeline_parse(&pipeline_array, options, &pipeline, error)) {
      array_source_t source = {docs, count, 0};
      duet_expr_env_t env = DUET_EXPR_ENV_INIT;
      duet_pipeline_cursor_t *cursor = duet_pipeline_open(pipeline, array_source_next, &source, &env);
      result = bson_new();
      bson_t array;
      bson_append_array_begin(result, "r", 1, &array);
      uint32_t index = 0;
      for (;;) {
         const bson_t *out;
         if (!duet_pipeline_next(cursor, &out, error)) {
            bson_append_array_end(result, &array);
            bson_destroy(result);
            result = NULL;
            break;
         }
         if (!out) {
            bson_append_array_end(result, &array);
            break;
         }
         char key_buffer[16];
         const char *key;
         size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_append_document(&array, key, (int)key_length, out);
      }
      duet_pipeline_close(cursor);
      duet_pipeline_destroy(pipeline);
   }
   for (size_t i = 0; i < count; i++) {
      bson_destroy(docs[i]);
   }
   bson_destroy(pipeline_doc);
   bson_destroy(input_doc);
   return result;
}

static void expect_output(const char *input_json, const char *pipeline_json, const char *expected_json)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *result = run_with(input_json, pipeline_json, NULL, &error);
   if (!result) {
      fail_msg("%s: unexpected error %d '%s'", pipeline_json, error.code, error.message);
   }
   char expected[8192];
   snprintf(expected, sizeof expected, "{\"r\": %s}", expected_json);
   ASSERT_JSON_EQ(result, expected);
   bson_destroy(result);
}

static void expect_error(const char *input_json, const char *pipeline_json, int code, const char *message)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *result = run_with(input_json, pipeline_json, NULL, &error);
   if (result) {
      bson_destroy(result);
      fail_msg("%s: expected error %d", pipeline_json, code);
   }
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s: expected %d '%s', got %d '%s'", pipeline_json, code, message, error.code, error.message);
   }
   duet_error_clear(&error);
}

static void test_add_fields(void **state)
{
   (void)state;
   /* the seeds' forward transform keeps _id in place */
   expect_output("[{\"_id\": {\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}, \"name\": \"a\", \"complete\": false}]",
                 "[{\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}]",
                 "[{\"_id\": \"64b7f0c2a1b2c3d4e5f60718\", \"name\": \"a\", \"complete\": false}]");
   expect_output("[{\"_id\": 1, \"a\": 1}]", "[{\"$addFields\": {\"b\": {\"$add\": [\"$a\", 1]}, \"c\": \"x\"}}]",
                 "[{\"_id\": 1, \"a\": 1, \"b\": 2, \"c\": \"x\"}]");
   expect_output("[{\"_id\": 1, \"specs\": {\"doors\": 4}}, {\"_id\": 2}]",
                 "[{\"$addFields\": {\"specs.fuel_type\": \"unleaded\"}}]",
                 "[{\"_id\": 1, \"specs\": {\"doors\": 4, \"fuel_type\": \"unleaded\"}}, "
                 "{\"_id\": 2, \"specs\": {\"fuel_type\": \"unleaded\"}}]");
   /* nested objects are sub-specifications, like dotted paths */
   expect_output("[{\"_id\": 1, \"specs\": {\"doors\": 4}}]",
                 "[{\"$set\": {\"specs\": {\"fuel_type\": \"unleaded\"}}}]",
                 "[{\"_id\": 1, \"specs\": {\"doors\": 4, \"fuel_type\": \"unleaded\"}}]");
   expect_output(
       "[{\"_id\": 0, \"array\": [1, 2, {\"m1\": \"str\"}]}]", "[{\"$addFields\": {\"array.m2\": \"what?\"}}]",
       "[{\"_id\": 0, \"array\": [{\"m2\": \"what?\"}, {\"m2\": \"what?\"}, {\"m1\": \"str\", \"m2\": \"what?\"}]}]");
   expect_output("[{\"_id\": 0, \"arrayField\": [1, {\"subField\": [2, {}]}, [1]]}]",
                 "[{\"$addFields\": {\"arrayField.newSubPath.b\": \"newValue\"}}]",
                 "[{\"_id\": 0, \"arrayField\": [{\"newSubPath\": {\"b\": \"newValue\"}}, {\"subField\": [2, {}], "
                 "\"newSubPath\": {\"b\": \"newValue\"}}, [{\"newSubPath\": {\"b\": \"newValue\"}}]]}]");
   expect_output("[{\"_id\": 0, \"objField\": 5}]", "[{\"$addFields\": {\"objField.subArr\": \"newValue\"}}]",
                 "[{\"_id\": 0, \"objField\": {\"subArr\": \"newValue\"}}]");
   expect_output("[{\"_id\": 0, \"a\": 1, \"b\": 2}]", "[{\"$addFields\": {\"a\": \"$$REMOVE\"}}]",
                 "[{\"_id\": 0, \"b\": 2}]");
   expect_output("[{\"_id\": 0, \"date\": null}, {\"_id\": 1, \"date\": 5}]",
                 "[{\"$addFields\": {\"date\": {\"$ifNull\": [\"$date\", \"$$REMOVE\"]}}}]",
                 "[{\"_id\": 0}, {\"_id\": 1, \"date\": 5}]");
   expect_output("[{\"_id\": 0, \"a\": {\"b\": 1}}]", "[{\"$addFields\": {\"c\": \"$a.b\", \"a.b\": 7}}]",
                 "[{\"_id\": 0, \"a\": {\"b\": 7}, \"c\": 1}]");
   expect_error("[]", "[{\"$addFields\": {}}]", 40177,
                "Invalid $addFields :: caused by :: specification must have at least one field");
   expect_error("[]", "[{\"$addFields\": 1}]", 40272, "$addFields specification stage must be an object, got int");
   expect_error("[]", "[{\"$addFields\": {\"a\": 1, \"a.b\": 2}}]", 31250,
                "Invalid $addFields :: caused by :: Path collision at a.b remaining portion b");
   expect_error("[]", "[{\"$set\": {\"$a\": 1}}]", 16410,
                "Invalid $set :: caused by :: FieldPath field names may not start with '$'. Consider using $getField "
                "or $setField.");
   expect_error("[{\"a\": 1}]", "[{\"$addFields\": {\"b\": {\"$divide\": [\"$a\", 0]}}}]", 2, "can't $divide by zero");
}

static void test_unset_and_project(void **state)
{
   (void)state;
   static const char *doc = "[{\"_id\": 1, \"a\": 1, \"b\": {\"c\": 1, \"d\": 2}, \"e\": [{\"c\": 1, \"f\": 1}, 3]}]";
   expect_output(doc, "[{\"$unset\": \"a\"}]",
                 "[{\"_id\": 1, \"b\": {\"c\": 1, \"d\": 2}, \"e\": [{\"c\": 1, \"f\": 1}, 3]}]");
   expect_output(doc, "[{\"$unset\": [\"a\", \"b.c\", \"e.c\"]}]",
                 "[{\"_id\": 1, \"b\": {\"d\": 2}, \"e\": [{\"f\": 1}, 3]}]");
   expect_error("[]", "[{\"$unset\": 1}]", 31002, "$unset specification must be a string or an array");
   expect_error("[]", "[{\"$unset\": []}]", 31119,
                "$unset specification must be a string or an array with at least one field");
   expect_error("[]", "[{\"$unset\": [\"a\", 1]}]", 31120,
                "$unset specification must be a string or an array containing only string values");
   expect_output(doc, "[{\"$project\": {\"a\": 1}}]", "[{\"_id\": 1, \"a\": 1}]");
   expect_output(doc, "[{\"$project\": {\"a\": true, \"_id\": 0}}]", "[{\"a\": 1}]");
   expect_output(doc, "[{\"$project\": {\"b.d\": 1, \"e.f\": 1}}]",
                 "[{\"_id\": 1, \"b\": {\"d\": 2}, \"e\": [{\"f\": 1}]}]");
   expect_output(doc, "[{\"$project\": {\"a\": 0, \"b\": {\"c\": 0}}}]",
                 "[{\"_id\": 1, \"b\": {\"d\": 2}, \"e\": [{\"c\": 1, \"f\": 1}, 3]}]");
   expect_output(doc, "[{\"$project\": {\"_id\": 0}}]",
                 "[{\"a\": 1, \"b\": {\"c\": 1, \"d\": 2}, \"e\": [{\"c\": 1, \"f\": 1}, 3]}]");
   expect_output(doc, "[{\"$project\": {\"x\": \"$b.c\", \"a\": 1, \"lit\": \"hello\", \"gone\": \"$$REMOVE\"}}]",
                 "[{\"_id\": 1, \"a\": 1, \"x\": 1, \"lit\": \"hello\"}]");
   expect_output("[{\"_id\": 0, \"array\": [1, 2, {\"m1\": \"str\"}]}]",
                 "[{\"$project\": {\"_id\": 0, \"array.m1\": 1}}]", "[{\"array\": [{\"m1\": \"str\"}]}]");
   expect_output("[{\"_id\": 0, \"array\": [1, 2, {\"m1\": \"str\"}]}]",
                 "[{\"$project\": {\"_id\": 0, \"array.m1\": 1, \"array.m2\": \"what?\"}}]",
                 "[{\"array\": [{\"m2\": \"what?\"}, {\"m2\": \"what?\"}, {\"m1\": \"str\", \"m2\": \"what?\"}]}]");
   expect_error("[]", "[{\"$project\": {\"a\": 1, \"b\": 0}}]", 31254,
                "Invalid $project :: caused by :: Cannot do exclusion on field b in inclusion projection");
   expect_error("[]", "[{\"$project\": {\"a\": 0, \"b\": 1}}]", 31253,
                "Invalid $project :: caused by :: Cannot do inclusion on field b in exclusion projection");
   expect_error("[]", "[{\"$project\": {}}]", 51272,
                "Invalid $project :: caused by :: projection specification must have at least one field");
   expect_error("[]", "[{\"$project\": \"a\"}]", 15969, "$project specification must be an object");
   expect_error("[]", "[{\"$project\": {\"a\": {\"$foo\": 1}}}]", 168,
                "Invalid $project :: caused by :: Unrecognized expression '$foo'");
}

static void test_replace_root_and_match(void **state)
{
   (void)state;
   expect_output("[{\"_id\": 1, \"a\": {\"x\": 1}}]", "[{\"$replaceRoot\": {\"newRoot\": \"$a\"}}]", "[{\"x\": 1}]");
   expect_output("[{\"_id\": 1, \"a\": {\"x\": 1}}]",
                 "[{\"$replaceWith\": {\"$mergeObjects\": [{\"d\": 0}, \"$a\", {\"id\": \"$_id\"}]}}]",
                 "[{\"d\": 0, \"x\": 1, \"id\": 1}]");
   expect_error("[{\"_id\": 1, \"a\": 1}]", "[{\"$replaceRoot\": {\"newRoot\": \"$a\"}}]", 40228,
                "'newRoot' expression  must evaluate to an object, but resulting value was: 1. Type of resulting "
                "value: 'int'. Input document: {_id: 1, a: 1}");
   expect_error("[{\"_id\": 1}]", "[{\"$replaceWith\": \"$a\"}]", 40228,
                "'replacement document'  must evaluate to an object, but resulting value was: MISSING. Type of "
                "resulting value: 'missing'. Input document: {_id: 1}");
   expect_error("[]", "[{\"$replaceRoot\": 1}]", 40229,
                "expected an object as specification for $replaceRoot stage, got int");
   expect_error("[]", "[{\"$replaceRoot\": {}}]", 40231, "no newRoot specified for the $replaceRoot stage");
   expect_error("[]", "[{\"$replaceRoot\": {\"newRoot\": 1, \"x\": 1}}]", 40230,
                "unrecognized option to $replaceRoot stage: x, only valid option is 'newRoot'.");
   static const char *docs = "[{\"_id\": 1, \"a\": 5, \"t\": [\"x\", \"y\"]}, {\"_id\": 2, \"a\": 10}, {\"_id\": 3}]";
   expect_output(docs, "[{\"$match\": {\"a\": {\"$gte\": 5}}}]",
                 "[{\"_id\": 1, \"a\": 5, \"t\": [\"x\", \"y\"]}, {\"_id\": 2, \"a\": 10}]");
   expect_output(docs, "[{\"$match\": {\"t\": \"y\"}}, {\"$project\": {\"_id\": 1}}]", "[{\"_id\": 1}]");
   expect_output(docs, "[{\"$match\": {\"a\": null}}]", "[{\"_id\": 3}]");
   expect_output(docs, "[{\"$match\": {\"$expr\": {\"$gt\": [\"$a\", 7]}}}]", "[{\"_id\": 2, \"a\": 10}]");
   expect_error("[]", "[{\"$match\": 1}]", 15959, "the match filter must be an expression in an object");
   expect_error("[]", "[{\"$match\": {\"a\": {\"$foo\": 1}}}]", 2, "unknown operator: $foo");
}

static void test_sort_limit_skip_count(void **state)
{
   (void)state;
   static const char *docs =
       "[{\"_id\": 1, \"a\": 3}, {\"_id\": 2, \"a\": 1}, {\"_id\": 3}, {\"_id\": 4, \"a\": [0, 9]}, "
       "{\"_id\": 5, \"a\": 1}, {\"_id\": 6, \"a\": \"s\"}]";
   expect_output(docs, "[{\"$sort\": {\"a\": 1}}, {\"$project\": {\"_id\": 1}}]",
                 "[{\"_id\": 3}, {\"_id\": 4}, {\"_id\": 2}, {\"_id\": 5}, {\"_id\": 1}, {\"_id\": 6}]");
   expect_output(docs, "[{\"$sort\": {\"a\": -1, \"_id\": -1}}, {\"$project\": {\"_id\": 1}}]",
                 "[{\"_id\": 6}, {\"_id\": 4}, {\"_id\": 1}, {\"_id\": 5}, {\"_id\": 2}, {\"_id\": 3}]");
   expect_output(docs, "[{\"$sort\": {\"_id\": -1}}, {\"$skip\": 1}, {\"$limit\": 2}, {\"$project\": {\"_id\": 1}}]",
                 "[{\"_id\": 5}, {\"_id\": 4}]");
   expect_output(docs, "[{\"$skip\": 10}]", "[]");
   expect_output(docs, "[{\"$limit\": 1}]", "[{\"_id\": 1, \"a\": 3}]");
   expect_output(docs, "[{\"$count\": \"n\"}]", "[{\"n\": 6}]");
   expect_output(docs, "[{\"$match\": {\"zz\": 1}}, {\"$count\": \"n\"}]", "[]");
   expect_error("[]", "[{\"$sort\": 1}]", 15973, "the $sort key specification must be an object");
   expect_error("[]", "[{\"$sort\": {}}]", 15976, "$sort stage must have at least one sort key");
   expect_error("[]", "[{\"$sort\": {\"a\": 2}}]", 15975,
                "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
   expect_error("[]", "[{\"$limit\": 0}]", 15958, "the limit must be positive");
   expect_error("[]", "[{\"$limit\": \"a\"}]", 15957, "the limit must be specified as a number");
   expect_error("[]", "[{\"$skip\": -1}]", 15956, "Argument to $skip cannot be negative");
   expect_error("[]", "[{\"$skip\": \"a\"}]", 15972, "Argument to $skip must be a number.");
   expect_error("[]", "[{\"$count\": \"\"}]", 40156, "the count field must be a non-empty string");
   expect_error("[]", "[{\"$count\": \"$n\"}]", 40158, "the count field cannot be a $-prefixed path");
   expect_error("[]", "[{\"$count\": \"a.b\"}]", 40160, "the count field cannot contain '.'");
}

static void test_group(void **state)
{
   (void)state;
   static const char *docs = "[{\"_id\": 1, \"item\": \"abc\", \"price\": 10, \"quantity\": 2}, "
                             "{\"_id\": 2, \"item\": \"jkl\", \"price\": 20, \"quantity\": 1}, "
                             "{\"_id\": 3, \"item\": \"xyz\", \"price\": 5, \"quantity\": 10}, "
                             "{\"_id\": 4, \"item\": \"xyz\", \"price\": 5.5, \"quantity\": 20}, "
                             "{\"_id\": 5, \"item\": \"abc\", \"price\": 10, \"quantity\": 10}, "
                             "{\"_id\": 6, \"item\": \"def\", \"price\": 7.5, \"quantity\": 5}]";
   expect_output(
       docs,
       "[{\"$group\": {\"_id\": \"$item\", \"total\": {\"$sum\": {\"$multiply\": [\"$price\", \"$quantity\"]}}, "
       "\"avgQ\": {\"$avg\": \"$quantity\"}, \"n\": {\"$count\": {}}, \"minP\": {\"$min\": \"$price\"}, "
       "\"maxP\": {\"$max\": \"$price\"}, \"first\": {\"$first\": \"$_id\"}, \"last\": {\"$last\": \"$_id\"}, "
       "\"ids\": {\"$push\": \"$_id\"}, \"prices\": {\"$addToSet\": \"$price\"}}}]",
       "[{\"_id\": \"abc\", \"total\": 120, \"avgQ\": 6.0, \"n\": 2, \"minP\": 10, \"maxP\": 10, \"first\": 1, "
       "\"last\": 5, \"ids\": [1, 5], \"prices\": [10]}, "
       "{\"_id\": \"jkl\", \"total\": 20, \"avgQ\": 1.0, \"n\": 1, \"minP\": 20, \"maxP\": 20, \"first\": 2, "
       "\"last\": 2, \"ids\": [2], \"prices\": [20]}, "
       "{\"_id\": \"xyz\", \"total\": 160.0, \"avgQ\": 15.0, \"n\": 2, \"minP\": 5, \"maxP\": 5.5, \"first\": 3, "
       "\"last\": 4, \"ids\": [3, 4], \"prices\": [5, 5.5]}, "
       "{\"_id\": \"def\", \"total\": 37.5, \"avgQ\": 5.0, \"n\": 1, \"minP\": 7.5, \"maxP\": 7.5, \"first\": 6, "
       "\"last\": 6, \"ids\": [6], \"prices\": [7.5]}]");
   expect_output(docs,
                 "[{\"$group\": {\"_id\": null, \"count\": {\"$sum\": 1}, \"none\": {\"$avg\": \"$nope\"}, "
                 "\"m\": {\"$max\": \"$nope\"}}}]",
                 "[{\"_id\": null, \"count\": 6, \"none\": null, \"m\": null}]");
   /* 1, 1.0 and NumberLong(1) are one group; the first key seen is kept */
   expect_output("[{\"k\": 1}, {\"k\": 1.0}, {\"k\": {\"$numberLong\": \"1\"}}, {\"k\": \"1\"}, {}]",
                 "[{\"$group\": {\"_id\": \"$k\", \"n\": {\"$sum\": 1}}}]",
                 "[{\"_id\": 1, \"n\": 3}, {\"_id\": \"1\", \"n\": 1}, {\"_id\": null, \"n\": 1}]");
   expect_output(
       "[{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 2}, {\"a\": 1}]",
       "[{\"$group\": {\"_id\": {\"a\": \"$a\", \"b\": \"$b\"}, \"n\": {\"$sum\": 1}}}, {\"$sort\": {\"n\": 1}}]",
       "[{\"_id\": {\"a\": 1}, \"n\": 1}, {\"_id\": {\"a\": 1, \"b\": 2}, \"n\": 2}]");
   expect_output("[{\"v\": 2147483647}, {\"v\": 1}]", "[{\"$group\": {\"_id\": 0, \"s\": {\"$sum\": \"$v\"}}}]",
                 "[{\"_id\": 0, \"s\": {\"$numberLong\": \"2147483648\"}}]");
   expect_error("[]", "[{\"$group\": {\"n\": {\"$sum\": 1}}}]", 15955, "a group specification must include an _id");
   expect_error("[]", "[{\"$group\": {\"_id\": 1, \"n\": 1}}]", 40234, "The field 'n' must be an accumulator object");
   expect_error("[]", "[{\"$group\": {\"_id\": 1, \"n\": {\"$foo\": 1}}}]", 15952, "unknown group operator '$foo'");
   expect_error("[]", "[{\"$group\": {\"_id\": 1, \"n\": {\"$sum\": 1, \"$avg\": 1}}}]", 40238,
                "The field 'n' must specify one accumulator");
   expect_error("[]", "[{\"$group\": {\"_id\": 1, \"a.b\": {\"$sum\": 1}}}]", 40235,
                "The field name 'a.b' cannot contain '.'");
   expect_error("[]", "[{\"$group\": 1}]", 15947, "a group's fields must be specified in an object");
}

static void test_unwind(void **state)
{
   (void)state;
   static const char *docs =
       "[{\"_id\": 1, \"item\": \"ABC\", \"sizes\": [\"S\", \"M\"]}, {\"_id\": 2, \"item\": \"EFG\", \"sizes\": []}, "
       "{\"_id\": 3, \"item\": \"IJK\", \"sizes\": \"M\"}, {\"_id\": 4, \"item\": \"LMN\"}, "
       "{\"_id\": 5, \"item\": \"XYZ\", \"sizes\": null}]";
   expect_output(
       docs, "[{\"$unwind\": \"$sizes\"}]",
       "[{\"_id\": 1, \"item\": \"ABC\", \"sizes\": \"S\"}, {\"_id\": 1, \"item\": \"ABC\", \"sizes\": \"M\"}, "
       "{\"_id\": 3, \"item\": \"IJK\", \"sizes\": \"M\"}]");
   expect_output(
       docs,
       "[{\"$unwind\": {\"path\": \"$sizes\", \"preserveNullAndEmptyArrays\": true, \"includeArrayIndex\": \"i\"}}]",
       "[{\"_id\": 1, \"item\": \"ABC\", \"sizes\": \"S\", \"i\": {\"$numberLong\": \"0\"}}, "
       "{\"_id\": 1, \"item\": \"ABC\", \"sizes\": \"M\", \"i\": {\"$numberLong\": \"1\"}}, "
       "{\"_id\": 2, \"item\": \"EFG\", \"i\": null}, {\"_id\": 3, \"item\": \"IJK\", \"sizes\": \"M\", \"i\": null}, "
       "{\"_id\": 4, \"item\": \"LMN\", \"i\": null}, {\"_id\": 5, \"item\": \"XYZ\", \"sizes\": null, \"i\": null}]");
   expect_output("[{\"_id\": 1, \"a\": {\"b\": [1, 2], \"c\": 0}}]", "[{\"$unwind\": \"$a.b\"}]",
                 "[{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 0}}, {\"_id\": 1, \"a\": {\"b\": 2, \"c\": 0}}]");
   expect_error("[]", "[{\"$unwind\": 1}]", 15981,
                "expected either a string or an object as specification for $unwind stage, got int");
   expect_error("[]", "[{\"$unwind\": \"sizes\"}]", 28818,
                "path option to $unwind stage should be prefixed with a '$': sizes");
   expect_error("[]", "[{\"$unwind\": {}}]", 28812, "no path specified to $unwind stage");
   expect_error("[]", "[{\"$unwind\": {\"path\": \"$a\", \"x\": 1}}]", 28811,
                "unrecognized option to $unwind stage: x");
   expect_error("[]", "[{\"$unwind\": {\"path\": \"$a\", \"preserveNullAndEmptyArrays\": 1}}]", 28809,
                "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got int");
}

static void test_documents_and_stage_errors(void **state)
{
   (void)state;
   expect_output("[{\"ignored\": 1}]", "[{\"$documents\": [{\"x\": 1}, {\"x\": 2}]}, {\"$match\": {\"x\": 2}}]",
                 "[{\"x\": 2}]");
   expect_error("[]", "[{\"$match\": {}}, {\"$documents\": []}]", 40602,
                "$documents is only valid as the first stage in a pipeline");
   expect_error("[]", "[{\"$documents\": 1}]", 5858203, "an array of documents must be specified to $documents");
   expect_error("[]", "[{\"$foo\": 1}]", 40324, "Unrecognized pipeline stage name: '$foo'");
   expect_error("[]", "[{\"$match\": {}, \"$limit\": 1}]", 40323,
                "A pipeline stage specification object must contain exactly one field.");
   expect_error("[]", "[1]", 14, "Each element of the 'pipeline' array must be an object");
   /* $lookup is tested in test_pipeline_lookup.c; $out/$merge are the store's */
   expect_error("[]", "[{\"$out\": \"x\"}]", 115,
                "$out is carried out by the store (duet_store_aggregate), not by duet_pipeline");
   expect_output("[{\"a\": 1}]", "[]", "[{\"a\": 1}]");
}

/* The conversion table of MongoDB's jstests/aggregation/expressions/convert.js, run through a
 * pipeline as the jstest does: every row must convert to `expected` with type `target`. */
static void test_convert_jstest_table(void **state)
{
   (void)state;
   static const char *docs =
       "[{\"_id\": 0, \"input\": 1.9, \"target\": \"double\", \"expected\": 1.9},"
       "{\"_id\": 1, \"input\": 1.9, \"target\": \"string\", \"expected\": \"1.9\"},"
       "{\"_id\": 2, \"input\": 1.9, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 3, \"input\": 1.9, \"target\": \"date\", \"expected\": {\"$date\": \"1970-01-01T00:00:00.001Z\"}},"
       "{\"_id\": 4, \"input\": 1.9, \"target\": \"int\", \"expected\": 1},"
       "{\"_id\": 5, \"input\": 1.9, \"target\": \"long\", \"expected\": {\"$numberLong\": \"1\"}},"
       "{\"_id\": 6, \"input\": 1.9, \"target\": \"decimal\", \"expected\": {\"$numberDecimal\": \"1.9\"}},"
       "{\"_id\": 7, \"input\": \"1.9\", \"target\": \"double\", \"expected\": 1.9},"
       "{\"_id\": 8, \"input\": \"str\", \"target\": \"string\", \"expected\": \"str\"},"
       "{\"_id\": 9, \"input\": \"0123456789abcdef01234567\", \"target\": \"objectId\", \"expected\": {\"$oid\": "
       "\"0123456789abcdef01234567\"}},"
       "{\"_id\": 10, \"input\": \"\", \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 11, \"input\": \"1970-01-01T00:00:00.001Z\", \"target\": \"date\", \"expected\": {\"$date\": "
       "\"1970-01-01T00:00:00.001Z\"}},"
       "{\"_id\": 12, \"input\": \"1\", \"target\": \"int\", \"expected\": 1},"
       "{\"_id\": 13, \"input\": \"1\", \"target\": \"long\", \"expected\": {\"$numberLong\": \"1\"}},"
       "{\"_id\": 14, \"input\": \"1.9\", \"target\": \"decimal\", \"expected\": {\"$numberDecimal\": \"1.9\"}},"
       "{\"_id\": 15, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"string\", \"expected\": "
       "\"0123456789abcdef01234567\"},"
       "{\"_id\": 16, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 17, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"objectId\", \"expected\": "
       "{\"$oid\": \"0123456789abcdef01234567\"}},"
       "{\"_id\": 18, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"date\", \"expected\": "
       "{\"$date\": \"1970-08-09T22:25:43Z\"}},"
       "{\"_id\": 19, \"input\": false, \"target\": \"double\", \"expected\": 0.0},"
       "{\"_id\": 20, \"input\": false, \"target\": \"string\", \"expected\": \"false\"},"
       "{\"_id\": 21, \"input\": false, \"target\": \"bool\", \"expected\": false},"
       "{\"_id\": 22, \"input\": false, \"target\": \"int\", \"expected\": 0},"
       "{\"_id\": 23, \"input\": false, \"target\": \"long\", \"expected\": {\"$numberLong\": \"0\"}},"
       "{\"_id\": 24, \"input\": false, \"target\": \"decimal\", \"expected\": {\"$numberDecimal\": \"0\"}},"
       "{\"_id\": 25, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"double\", \"expected\": "
       "123.0},"
       "{\"_id\": 26, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"string\", \"expected\": "
       "\"1970-01-01T00:00:00.123Z\"},"
       "{\"_id\": 27, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 28, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"date\", \"expected\": "
       "{\"$date\": \"1970-01-01T00:00:00.123Z\"}},"
       "{\"_id\": 29, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"long\", \"expected\": "
       "{\"$numberLong\": \"123\"}},"
       "{\"_id\": 30, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"decimal\", \"expected\": "
       "{\"$numberDecimal\": \"123\"}},"
       "{\"_id\": 31, \"input\": 1, \"target\": \"double\", \"expected\": 1.0},"
       "{\"_id\": 32, \"input\": 1, \"target\": \"string\", \"expected\": \"1\"},"
       "{\"_id\": 33, \"input\": 1, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 34, \"input\": 1, \"target\": \"int\", \"expected\": 1},"
       "{\"_id\": 35, \"input\": 1, \"target\": \"long\", \"expected\": {\"$numberLong\": \"1\"}},"
       "{\"_id\": 36, \"input\": 1, \"target\": \"decimal\", \"expected\": {\"$numberDecimal\": \"1\"}},"
       "{\"_id\": 37, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"double\", \"expected\": 1.0},"
       "{\"_id\": 38, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"string\", \"expected\": \"1\"},"
       "{\"_id\": 39, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 40, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"date\", \"expected\": {\"$date\": "
       "\"1970-01-01T00:00:00.001Z\"}},"
       "{\"_id\": 41, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"int\", \"expected\": 1},"
       "{\"_id\": 42, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"long\", \"expected\": {\"$numberLong\": "
       "\"1\"}},"
       "{\"_id\": 43, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"decimal\", \"expected\": {\"$numberDecimal\": "
       "\"1\"}},"
       "{\"_id\": 44, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"double\", \"expected\": 1.9},"
       "{\"_id\": 45, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"string\", \"expected\": \"1.9\"},"
       "{\"_id\": 46, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 47, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"date\", \"expected\": {\"$date\": "
       "\"1970-01-01T00:00:00.001Z\"}},"
       "{\"_id\": 48, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"int\", \"expected\": 1},"
       "{\"_id\": 49, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"long\", \"expected\": {\"$numberLong\": "
       "\"1\"}},"
       "{\"_id\": 50, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"decimal\", \"expected\": "
       "{\"$numberDecimal\": \"1.9\"}},"
       "{\"_id\": 51, \"input\": {\"$minKey\": 1}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 52, \"input\": {\"foo\": 1, \"bar\": 2}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 53, \"input\": [1, 2], \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 54, \"input\": {\"$binary\": {\"base64\": \"BBBBBBBBBBBBBBBBBBBBBBBBBBBB\", \"subType\": \"00\"}}, "
       "\"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 55, \"input\": {\"$regularExpression\": {\"pattern\": \"B*\", \"options\": \"\"}}, \"target\": "
       "\"bool\", \"expected\": true},"
       "{\"_id\": 56, \"input\": {\"$ref\": \"db.test\", \"$id\": \"oid\"}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 57, \"input\": {\"$code\": \"function() {}\"}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 58, \"input\": {\"$timestamp\": {\"t\": 0, \"i\": 1}}, \"target\": \"bool\", \"expected\": true},"
       "{\"_id\": 59, \"input\": {\"$maxKey\": 1}, \"target\": \"bool\", \"expected\": true}]";
   /* every row converts to `expected` (by value) with the type named by `target` */
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *result =
       run_with(docs,
                "[{\"$project\": {\"output\": {\"$convert\": {\"to\": \"$target\", \"input\": \"$input\"}}, "
                "\"target\": \"$target\", \"expected\": \"$expected\"}}, {\"$sort\": {\"_id\": 1}}]",
                NULL, &error);
   assert_non_null(result);
   bson_iter_t rows, row;
   assert_true(bson_iter_init_find(&rows, result, "r"));
   bson_iter_recurse(&rows, &row);
   int count = 0;
   while (bson_iter_next(&row)) {
      bson_t doc;
      uint32_t length;
      const uint8_t *data;
      bson_iter_document(&row, &length, &data);
      bson_init_static(&doc, data, length);
      bson_iter_t output, target, expected, id;
      assert_true(bson_iter_init_find(&id, &doc, "_id"));
      assert_true(bson_iter_init_find(&output, &doc, "output"));
      assert_true(bson_iter_init_find(&target, &doc, "target"));
      assert_true(bson_iter_init_find(&expected, &doc, "expected"));
      if (strcmp(duet_type_name(bson_iter_type(&output)), bson_iter_utf8(&target, NULL)) != 0 ||
          duet_value_compare(bson_iter_value(&output), bson_iter_value(&expected)) != 0) {
         char *text = bson_as_canonical_extended_json(&doc, NULL);
         fail_msg("row %d: %s", bson_iter_int32(&id), text);
      }
      count++;
   }
   assert_int_equal(count, 60);
   bson_destroy(result);
   expect_output(docs,
                 "[{\"$project\": {\"output\": {\"$switch\": {\"branches\": ["
                 "{\"case\": {\"$eq\": [\"$target\", \"double\"]}, \"then\": {\"$toDouble\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"string\"]}, \"then\": {\"$toString\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"objectId\"]}, \"then\": {\"$toObjectId\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"bool\"]}, \"then\": {\"$toBool\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"date\"]}, \"then\": {\"$toDate\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"int\"]}, \"then\": {\"$toInt\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"long\"]}, \"then\": {\"$toLong\": \"$input\"}},"
                 "{\"case\": {\"$eq\": [\"$target\", \"decimal\"]}, \"then\": {\"$toDecimal\": \"$input\"}}]}}, "
                 "\"target\": \"$target\", \"expected\": \"$expected\"}}, {\"$count\": \"n\"}]",
                 "[{\"n\": 60}]");
   static const char *illegal =
       "[{\"_id\": 0, \"input\": 1.9, \"target\": \"objectId\"},"
       "{\"_id\": 1, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"double\"},"
       "{\"_id\": 2, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"int\"},"
       "{\"_id\": 3, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"long\"},"
       "{\"_id\": 4, \"input\": {\"$oid\": \"0123456789abcdef01234567\"}, \"target\": \"decimal\"},"
       "{\"_id\": 5, \"input\": false, \"target\": \"objectId\"},"
       "{\"_id\": 6, \"input\": false, \"target\": \"date\"},"
       "{\"_id\": 7, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"objectId\"},"
       "{\"_id\": 8, \"input\": {\"$date\": \"1970-01-01T00:00:00.123Z\"}, \"target\": \"int\"},"
       "{\"_id\": 9, \"input\": 1, \"target\": \"objectId\"},"
       "{\"_id\": 10, \"input\": 1, \"target\": \"date\"},"
       "{\"_id\": 11, \"input\": {\"$numberLong\": \"1\"}, \"target\": \"objectId\"},"
       "{\"_id\": 12, \"input\": {\"$numberDecimal\": \"1.9\"}, \"target\": \"objectId\"},"
       "{\"_id\": 13, \"input\": 1.9, \"target\": \"minKey\"}, {\"_id\": 14, \"input\": 1.9, \"target\": \"missing\"},"
       "{\"_id\": 15, \"input\": 1.9, \"target\": \"object\"}, {\"_id\": 16, \"input\": 1.9, \"target\": \"array\"},"
       "{\"_id\": 17, \"input\": 1.9, \"target\": \"binData\"}, {\"_id\": 18, \"input\": 1.9, \"target\": "
       "\"undefined\"},"
       "{\"_id\": 19, \"input\": 1.9, \"target\": \"null\"}, {\"_id\": 20, \"input\": 1.9, \"target\": \"regex\"},"
       "{\"_id\": 21, \"input\": 1.9, \"target\": \"dbPointer\"}, {\"_id\": 22, \"input\": 1.9, \"target\": "
       "\"javascript\"},"
       "{\"_id\": 23, \"input\": 1.9, \"target\": \"symbol\"}, {\"_id\": 24, \"input\": 1.9, \"target\": "
       "\"javascriptWithScope\"},"
       "{\"_id\": 25, \"input\": 1.9, \"target\": \"timestamp\"}, {\"_id\": 26, \"input\": 1.9, \"target\": "
       "\"maxKey\"}]";
   for (int id = 0; id <= 26; id++) {
      char pipeline[512];
      snprintf(pipeline, sizeof pipeline,
               "[{\"$match\": {\"_id\": %d}}, {\"$project\": {\"output\": {\"$convert\": {\"to\": \"$target\", "
               "\"input\": \"$input\"}}}}]",
               id);
      result = run_with(illegal, pipeline, NULL, &error);
      if (result) {
         fail_msg("illegal conversion %d succeeded", id);
      }
      assert_int_equal(error.code, 241);
      duet_error_clear(&error);
   }
   expect_output(
       illegal,
       "[{\"$project\": {\"_id\": false, \"output\": {\"$convert\": {\"to\": \"$target\", \"input\": \"$input\", "
       "\"onError\": \"ERROR\"}}}}, {\"$match\": {\"output\": {\"$ne\": \"ERROR\"}}}]",
       "[]");
   expect_output(
       illegal,
       "[{\"$project\": {\"_id\": false, \"output\": {\"$convert\": {\"to\": \"$target\", \"input\": \"$input\", "
       "\"onError\": \"$$REMOVE\"}}}}, {\"$match\": {\"$expr\": {\"$ne\": [\"$$ROOT\", {}]}}}, {\"$count\": \"n\"}]",
       "[]");
   static const char *nulls =
       "[{\"_id\": 0, \"input\": null}, {\"_id\": 1, \"input\": {\"$undefined\": true}}, {\"_id\": 2}]";
   expect_output(
       nulls,
       "[{\"$project\": {\"output\": {\"$convert\": {\"to\": \"int\", \"input\": \"$input\", \"onNull\": \"NULL\"}}}}]",
       "[{\"_id\": 0, \"output\": \"NULL\"}, {\"_id\": 1, \"output\": \"NULL\"}, {\"_id\": 2, \"output\": \"NULL\"}]");
   expect_output(
       nulls,
       "[{\"$project\": {\"output\": {\"$convert\": {\"to\": null, \"input\": \"$input\", \"onNull\": \"NULL\"}}}}]",
       "[{\"_id\": 0, \"output\": \"NULL\"}, {\"_id\": 1, \"output\": \"NULL\"}, {\"_id\": 2, \"output\": \"NULL\"}]");
}

static void test_memory_limit(void **state)
{
   (void)state;
   duet_pipeline_options_t options = {NULL, false, 200};
   duet_error_t error = DUET_ERROR_INIT;
   static const char *docs =
       "[{\"a\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}, {\"a\": \"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}, "
       "{\"a\": \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"}, {\"a\": "
       "\"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\"}]";
   bson_t *result = run_with(docs, "[{\"$sort\": {\"a\": 1}}]", &options, &error);
   assert_null(result);
   assert_int_equal(error.code, 292);
   assert_string_equal(error.message,
                       "Sort exceeded memory limit of 200 bytes, but did not opt in to external sorting.");
   duet_error_clear(&error);
   result = run_with(docs, "[{\"$group\": {\"_id\": \"$a\", \"all\": {\"$push\": \"$$ROOT\"}}}]", &options, &error);
   assert_null(result);
   assert_int_equal(error.code, 292);
   duet_error_clear(&error);
   options.allow_disk_use = true;
   result = run_with(docs, "[{\"$sort\": {\"a\": -1}}, {\"$limit\": 1}]", &options, &error);
   assert_non_null(result);
   ASSERT_JSON_EQ(result, "{\"r\": [{\"a\": \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"}]}");
   bson_destroy(result);
}

static void test_apply_per_document(void **state)
{
   (void)state;
   bson_t *spec =
       TEST_JSON("{\"p\": [{\"$match\": {\"keep\": true}}, {\"$set\": {\"_id\": {\"$toString\": \"$_id\"}}}, "
                 "{\"$unset\": \"keep\"}]}");
   bson_iter_t iter;
   bson_t array;
   uint32_t length;
   const uint8_t *data;
   assert_true(bson_iter_init_find(&iter, spec, "p"));
   bson_iter_array(&iter, &length, &data);
   bson_init_static(&array, data, length);
   duet_pipeline_t *pipeline = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_pipeline_parse(&array, NULL, &pipeline, &error));
   assert_int_equal(duet_pipeline_stage_count(pipeline), 3);
   assert_true(duet_pipeline_is_per_document(pipeline));
   bson_t *doc = TEST_JSON("{\"_id\": {\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}, \"keep\": true, \"n\": 1}");
   bson_t out;
   bool emitted = false;
   assert_true(duet_pipeline_apply(pipeline, doc, NULL, &out, &emitted, &error));
   assert_true(emitted);
   ASSERT_JSON_EQ(&out, "{\"_id\": \"64b7f0c2a1b2c3d4e5f60718\", \"n\": 1}");
   bson_destroy(&out);
   bson_t *dropped = TEST_JSON("{\"_id\": 1, \"keep\": false}");
   assert_true(duet_pipeline_apply(pipeline, dropped, NULL, &out, &emitted, &error));
   assert_false(emitted);
   bson_destroy(&out);
   duet_pipeline_destroy(pipeline);
   /* a buffering pipeline is refused */
   bson_t *sort_spec = TEST_JSON("{\"0\": {\"$sort\": {\"a\": 1}}}");
   assert_true(duet_pipeline_parse(sort_spec, NULL, &pipeline, &error));
   assert_false(duet_pipeline_is_per_document(pipeline));
   assert_false(duet_pipeline_apply(pipeline, doc, NULL, &out, &emitted, &error));
   assert_int_equal(error.code, 2);
   bson_destroy(&out);
   duet_pipeline_destroy(pipeline);
   duet_error_clear(&error);
   bson_destroy(sort_spec);
   bson_destroy(dropped);
   bson_destroy(doc);
   bson_destroy(spec);
}

/* A generated source: documents are built on demand, so nothing but the pipeline holds memory. */
typedef struct generated_source {
   int64_t next;
   int64_t count;
   bson_t current;
} generated_source_t;

static bool generated_next(void *context, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   generated_source_t *source = context;
   bson_reinit(&source->current);
   if (source->next >= source->count) {
      *doc = NULL;
      return true;
   }
   bson_oid_t oid;
   bson_oid_init(&oid, NULL);
   BSON_APPEND_OID(&source->current, "_id", &oid);
   BSON_APPEND_INT64(&source->current, "n", source->next++);
   *doc = &source->current;
   return true;
}

static void test_streaming_many_documents(void **state)
{
   (void)state;
   bson_t *spec = TEST_JSON("{\"0\": {\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}, \"1\": {\"$match\": "
                            "{\"n\": {\"$mod\": [2, 0]}}}, "
                            "\"2\": {\"$project\": {\"n\": 1}}, \"3\": {\"$skip\": 10}}");
   duet_pipeline_t *pipeline = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_pipeline_parse(spec, NULL, &pipeline, &error));
   generated_source_t source = {0, 100000, BSON_INITIALIZER};
   duet_pipeline_cursor_t *cursor = duet_pipeline_open(pipeline, generated_next, &source, NULL);
   int64_t seen = 0;
   const bson_t *out;
   while (duet_pipeline_next(cursor, &out, &error) && out) {
      bson_iter_t iter;
      assert_true(bson_iter_init_find(&iter, out, "_id"));
      assert_int_equal(bson_iter_type(&iter), BSON_TYPE_UTF8);
      seen++;
   }
   assert_int_equal(error.code, 0);
   assert_int_equal(seen, 50000 - 10);
   duet_pipeline_close(cursor);
   duet_pipeline_destroy(pipeline);
   bson_destroy(&source.current);
   bson_destroy(spec);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_add_fields),
       cmocka_unit_test(test_unset_and_project),
       cmocka_unit_test(test_replace_root_and_match),
       cmocka_unit_test(test_sort_limit_skip_count),
       cmocka_unit_test(test_group),
       cmocka_unit_test(test_unwind),
       cmocka_unit_test(test_documents_and_stage_errors),
       cmocka_unit_test(test_convert_jstest_table),
       cmocka_unit_test(test_memory_limit),
       cmocka_unit_test(test_apply_per_document),
       cmocka_unit_test(test_streaming_many_documents),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
