/*
 * test_update_replace.c — replacement documents, upserts (seed from the query's
 * equalities, $setOnInsert, _id first) and pipeline-style updates, following
 * MongoDB's update and upsert documentation and its pipeline_style_updates tests.
 */
#include "duet_test.h"

#include <duet/mql_update.h>

static duet_update_t *parse_or_fail(const char *update_json, bool pipeline)
{
   bson_t *spec = TEST_JSON(update_json);
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.now_ms = 1700000000000;
   bool ok;
   if (pipeline) {
      bson_iter_t iter;
      assert_true(bson_iter_init_find(&iter, spec, "p"));
      ok = duet_update_parse_value(bson_iter_value(&iter), &options, &update, &error);
   } else {
      ok = duet_update_parse(spec, &options, &update, &error);
   }
   if (!ok) {
      fail_msg("parse %s: %d %s", update_json, error.code, error.message);
   }
   bson_destroy(spec);
   return update;
}

/* `update_json` is a document, or {"p": [...]} for a pipeline. */
static void check(const char *doc_json, const char *update_json, bool pipeline, const char *expected_json,
                  bool expected_modified)
{
   duet_update_t *update = parse_or_fail(update_json, pipeline);
   bson_t *doc = TEST_JSON(doc_json);
   bson_t out;
   bool modified = !expected_modified;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_update_apply(update, doc, NULL, false, &out, &modified, &error)) {
      fail_msg("apply %s: %d %s", update_json, error.code, error.message);
   }
   ASSERT_JSON_EQ(&out, expected_json);
   assert_int_equal(modified, expected_modified);
   bson_destroy(&out);
   bson_destroy(doc);
   duet_update_destroy(update);
}

static void check_error(const char *doc_json, const char *update_json, bool pipeline, int code, const char *message)
{
   duet_update_t *update = parse_or_fail(update_json, pipeline);
   bson_t *doc = TEST_JSON(doc_json);
   bson_t out;
   bool modified = false;
   duet_error_t error = DUET_ERROR_INIT;
   assert_false(duet_update_apply(update, doc, NULL, false, &out, &modified, &error));
   assert_true(bson_empty(&out));
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s:\n  got      %d %s\n  expected %d %s", update_json, error.code, error.message, code, message);
   }
   bson_destroy(&out);
   bson_destroy(doc);
   duet_update_destroy(update);
   duet_error_clear(&error);
}

/* Upserts; when `expected_json` has no _id the result must start with a generated ObjectId. */
static void check_upsert(const char *query_json, const char *update_json, bool pipeline, const char *expected_json)
{
   duet_update_t *update = parse_or_fail(update_json, pipeline);
   bson_t *query = TEST_JSON(query_json);
   bson_t out;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_update_apply_upsert(update, query, &out, &error)) {
      fail_msg("upsert %s / %s: %d %s", query_json, update_json, error.code, error.message);
   }
   bson_t *expected = TEST_JSON(expected_json);
   bool expected_has_id = bson_has_field(expected, "_id");
   bson_destroy(expected);
   bson_iter_t iter;
   assert_true(bson_iter_init(&iter, &out) && bson_iter_next(&iter));
   assert_string_equal(bson_iter_key(&iter), "_id");
   if (!expected_has_id) {
      assert_true(BSON_ITER_HOLDS_OID(&iter));
      bson_t rest = BSON_INITIALIZER;
      bson_copy_to_excluding_noinit(&out, &rest, "_id", NULL);
      bson_destroy(&out);
      bson_steal(&out, &rest);
   }
   ASSERT_JSON_EQ(&out, expected_json);
   bson_destroy(&out);
   bson_destroy(query);
   duet_update_destroy(update);
}

static void check_upsert_error(const char *query_json, const char *update_json, int code, const char *message)
{
   duet_update_t *update = parse_or_fail(update_json, false);
   bson_t *query = TEST_JSON(query_json);
   bson_t out;
   duet_error_t error = DUET_ERROR_INIT;
   assert_false(duet_update_apply_upsert(update, query, &out, &error));
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s / %s:\n  got      %d %s\n  expected %d %s", query_json, update_json, error.code, error.message, code,
               message);
   }
   bson_destroy(&out);
   bson_destroy(query);
   duet_update_destroy(update);
   duet_error_clear(&error);
}

static void test_replacement(void **state)
{
   (void)state;
   check("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"c\": 3}", false, "{\"_id\": 1, \"c\": 3}", true);
   check("{\"_id\": 1, \"a\": 1}", "{\"_id\": 1, \"a\": 1}", false, "{\"_id\": 1, \"a\": 1}", false);
   check("{\"_id\": 1, \"a\": 1}", "{}", false, "{\"_id\": 1}", true);
   check("{\"_id\": 1, \"a\": 1}", "{\"a\": 1}", false, "{\"_id\": 1, \"a\": 1}", false);
   /* numerically equal _id of another type is not a change of _id */
   check("{\"_id\": 1, \"a\": 1}", "{\"_id\": 1.0, \"a\": 2}", false, "{\"_id\": 1.0, \"a\": 2}", true);
   /* top-level zero timestamps take the current time */
   check("{\"_id\": 1}",
         "{\"t\": {\"$timestamp\": {\"t\": 0, \"i\": 0}}, \"u\": {\"v\": {\"$timestamp\": {\"t\": 0, \"i\": 0}}}}",
         false,
         "{\"_id\": 1, \"t\": {\"$timestamp\": {\"t\": 1700000000, \"i\": 1}}, \"u\": {\"v\": {\"$timestamp\": {\"t\": "
         "0, "
         "\"i\": 0}}}}",
         true);
   check_error("{\"_id\": 1}", "{\"_id\": [1]}", false, 53, "The '_id' value cannot be of type array");
   check_error("{\"_id\": 1, \"a\": 1}", "{\"_id\": 2, \"a\": 1}", false, 66,
               "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2");
   check_error("{\"_id\": 1}", "{\"a\": 1, \"$set\": {\"b\": 1}}", false, 52,
               "The dollar ($) prefixed field '$set' in '$set' is not allowed in the context of an update's "
               "replacement document. Consider using an aggregation pipeline with $replaceWith.");
   duet_update_t *update = parse_or_fail("{\"a\": 1}", false);
   assert_int_equal(duet_update_kind(update), DUET_UPDATE_REPLACEMENT);
   duet_update_destroy(update);
}

static void test_upsert(void **state)
{
   (void)state;
   /* equality fields of the query, in path order, then the update */
   check_upsert("{\"name\": \"Andy\", \"rating\": 1, \"score\": {\"$gt\": 5}}", "{\"$inc\": {\"score\": 1}}", false,
                "{\"name\": \"Andy\", \"rating\": 1, \"score\": 1}");
   check_upsert("{\"b\": 1, \"a\": 2}", "{\"$set\": {\"c\": 3}}", false, "{\"a\": 2, \"b\": 1, \"c\": 3}");
   check_upsert("{\"_id\": 5, \"x\": {\"$eq\": 1}}", "{\"$set\": {\"y\": 2}, \"$setOnInsert\": {\"z\": 3}}", false,
                "{\"_id\": 5, \"x\": 1, \"y\": 2, \"z\": 3}");
   check_upsert("{\"$and\": [{\"a.b\": 1}, {\"c\": 2}], \"$or\": [{\"d\": 1}]}", "{\"$set\": {\"e\": 1}}", false,
                "{\"a\": {\"b\": 1}, \"c\": 2, \"e\": 1}");
   /* _id moves to the front */
   check_upsert("{\"a\": 1}", "{\"$set\": {\"_id\": 7}}", false, "{\"_id\": 7, \"a\": 1}");
   /* replacement upserts take only _id from the query */
   check_upsert("{\"_id\": 3, \"a\": 1}", "{\"b\": 2}", false, "{\"_id\": 3, \"b\": 2}");
   check_upsert("{\"a\": 1}", "{\"b\": 2}", false, "{\"b\": 2}");
   /* inserted documents may hold top-level '$' fields (assertDocumentToBeInsertedIsValid) */
   check_upsert("{\"_id\": 1}", "{\"$set\": {\"$x\": 1}}", false, "{\"_id\": 1, \"$x\": 1}");
   /* regexes are not equalities */
   check_upsert(
       "{\"a\": {\"$regex\": \"x\"}, \"b\": {\"$regularExpression\": {\"pattern\": \"y\", \"options\": \"\"}}}",
       "{\"$set\": {\"c\": 1}}", false, "{\"c\": 1}");
   check_upsert_error("{\"_id\": 1}", "{\"$set\": {\"_id\": 2}}", 66,
                      "Performing an update on the path '_id' would modify the immutable field '_id'");
   check_upsert_error("{\"a\": 1, \"a.b\": 2}", "{\"$set\": {\"c\": 1}}", 54,
                      "cannot infer query fields to set, both paths 'a.b' and 'a' are matched");
   check_upsert_error("{\"$and\": [{\"a\": 1}, {\"a\": 2}]}", "{\"$set\": {\"c\": 1}}", 54,
                      "cannot infer query fields to set, path 'a' is matched twice");

   bson_t *query = TEST_JSON("{\"_id\": 1, \"a\": 2}");
   bson_t seed;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_update_upsert_seed(query, true, &seed, &error));
   ASSERT_JSON_EQ(&seed, "{\"_id\": 1}");
   bson_destroy(&seed);
   bson_destroy(query);
}

static void test_pipeline(void **state)
{
   (void)state;
   check("{\"_id\": 1, \"member\": \"abc123\", \"status\": \"A\", \"points\": 2, \"misc1\": \"note to self: confirm "
         "status\", \"misc2\": \"Need to activate\"}",
         "{\"p\": [{\"$set\": {\"status\": \"Modified\", \"comments\": [\"$misc1\", \"$misc2\"], \"lastUpdate\": "
         "\"$$NOW\"}}, {\"$unset\": [\"misc1\", \"misc2\"]}]}",
         true,
         "{\"_id\": 1, \"member\": \"abc123\", \"status\": \"Modified\", \"points\": 2, \"comments\": [\"note to self: "
         "confirm status\", \"Need to activate\"], \"lastUpdate\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}}",
         true);
   check("{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 2}}", "{\"p\": [{\"$set\": {\"a.b\": 5, \"a.d\": 1}}]}", true,
         "{\"_id\": 1, \"a\": {\"b\": 5, \"c\": 2, \"d\": 1}}", true);
   check("{\"_id\": 1, \"a\": 1}", "{\"p\": [{\"$set\": {\"a\": 1}}]}", true, "{\"_id\": 1, \"a\": 1}", false);
   check("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"p\": [{\"$project\": {\"b\": 0}}]}", true, "{\"_id\": 1, \"a\": 1}",
         true);
   check("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"p\": [{\"$project\": {\"b\": 1}}]}", true, "{\"_id\": 1, \"b\": 2}",
         true);
   /* computed fields of an inclusion projection follow the included ones */
   check("{\"_id\": 1, \"a\": 1, \"b\": 2, \"c\": {\"d\": 1, \"e\": 2}}",
         "{\"p\": [{\"$project\": {\"a\": \"$b\", \"b\": 1, \"c\": {\"e\": 1, \"f\": {\"$literal\": 5}}}}]}", true,
         "{\"_id\": 1, \"b\": 2, \"c\": {\"e\": 2, \"f\": 5}, \"a\": 2}", true);
   check("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"p\": [{\"$project\": {\"_id\": 0, \"b\": 1}}]}", true,
         "{\"_id\": 1, \"b\": 2}", true);
   check("{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 2}, \"d\": 3}",
         "{\"p\": [{\"$project\": {\"a\": {\"c\": 0}, \"d\": 0}}]}", true, "{\"_id\": 1, \"a\": {\"b\": 1}}", true);
   check("{\"_id\": 1, \"a\": {\"x\": 1}}", "{\"p\": [{\"$replaceWith\": {\"_id\": \"$_id\", \"y\": \"$a.x\"}}]}", true,
         "{\"_id\": 1, \"y\": 1}", true);
   check("{\"_id\": 1, \"a\": {\"x\": 1}}", "{\"p\": [{\"$replaceRoot\": {\"newRoot\": {\"_id\": 1, \"z\": 2}}}]}",
         true, "{\"_id\": 1, \"z\": 2}", true);
   check_error("{\"_id\": 1}", "{\"p\": [{\"$set\": {\"_id\": 2}}]}", true, 66,
               "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2");
   check_error("{\"_id\": 1, \"n\": 1}", "{\"p\": [{\"$replaceRoot\": {\"newRoot\": \"$n\"}}]}", true, 40228,
               "'newRoot' expression  must evaluate to an object, but resulting value was: 1. Type of resulting value: "
               "'int'. Input document: {_id: 1, n: 1}");
   check_error("{\"_id\": 1, \"list\": []}", "{\"p\": [{\"$replaceWith\": \"$list\"}]}", true, 40228,
               "'replacement document' must evaluate to an object, but resulting value was: []. Type of resulting "
               "value: 'array'. Input document: {_id: 1, list: []}");
   /* a pipeline result without _id keeps the old one; top-level '$' fields are allowed there */
   check("{\"_id\": 1, \"a\": 1}", "{\"p\": [{\"$replaceWith\": {\"a\": 2}}]}", true, "{\"_id\": 1, \"a\": 2}", true);
   check("{\"_id\": 1, \"a\": 1}", "{\"p\": [{\"$unset\": [\"_id\", \"a\"]}]}", true, "{\"_id\": 1}", true);
   check("{\"_id\": 1}", "{\"p\": [{\"$replaceWith\": {\"$literal\": {\"$x\": 1}}}]}", true, "{\"_id\": 1, \"$x\": 1}",
         true);
   check_upsert("{\"_id\": 4, \"k\": 1}", "{\"p\": [{\"$set\": {\"n\": {\"$add\": [\"$k\", 1]}}}]}", true,
                "{\"_id\": 4, \"k\": 1, \"n\": 2}");

   bson_t *spec = TEST_JSON("{\"p\": [{\"$match\": {\"a\": 1}}]}");
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, spec, "p"));
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_false(duet_update_parse_value(bson_iter_value(&iter), NULL, &update, &error));
   assert_int_equal(error.code, 72);
   assert_string_equal(error.message, "$match is not allowed to be used within an update");
   bson_destroy(spec);

   const char *bad[][3] = {
       {"{\"p\": [{\"$foo\": {}}]}", "40324", "Unrecognized pipeline stage name: '$foo'"},
       {"{\"p\": [1]}", "14", "Each element of the 'pipeline' array must be an object"},
       {"{\"p\": [{\"$set\": {\"a\": 1}, \"$unset\": \"b\"}]}", "40323",
        "A pipeline stage specification object must contain exactly one field."},
       {"{\"p\": [{\"$unset\": []}]}", "31119",
        "$unset specification must be a string or an array with at least one field"},
       {"{\"p\": [{\"$unset\": 1}]}", "31002", "$unset specification must be a string or an array"},
       {"{\"p\": [{\"$unset\": [\"a\", \"a\"]}]}", "31250", "Invalid $unset :: caused by :: Path collision at a"},
       {"{\"p\": [{\"$unset\": \"$a\"}]}", "16410",
        "Invalid $unset :: caused by :: FieldPath field names may not start with '$'. Consider using $getField or "
        "$setField."},
       {"{\"p\": [{\"$project\": {\"a\": 0, \"b\": 1}}]}", "31253",
        "Invalid $project :: caused by :: Cannot do inclusion on field b in exclusion projection"},
       {"{\"p\": [{\"$project\": {\"a\": 1, \"c\": {\"b\": 0}}}]}", "31254",
        "Invalid $project :: caused by :: Cannot do exclusion on field c.b in inclusion projection"},
       {"{\"p\": [{\"$project\": {\"a\": 1, \"a.b\": 1}}]}", "31250",
        "Invalid $project :: caused by :: Path collision at a.b"},
       {"{\"p\": [{\"$project\": {}}]}", "51272",
        "Invalid $project :: caused by :: projection specification must have at least one field"},
       {"{\"p\": [{\"$set\": {\"a\": {}}}]}", "40180",
        "Invalid $set :: caused by :: an empty object is not a valid value. Found empty object at path a"},
       {"{\"p\": [{\"$addFields\": {\"a\": {\"b\": {}}}}]}", "40180",
        "Invalid $addFields :: caused by :: an empty object is not a valid value. Found empty object at path a.b"},
       {"{\"p\": [{\"$set\": {\"a\": 1, \"a.b\": 2}}]}", "40176",
        "Invalid $set :: caused by :: specification contains two conflicting paths. Cannot specify both 'a.b' and "
        "'a': { a: 1, a.b: 2 }"},
       {"{\"p\": [{\"$set\": {\"a.c\": 1, \"a.b\": 2, \"a\": 3}}]}", "40176",
        "Invalid $set :: caused by :: specification contains two conflicting paths. Cannot specify both 'a' and "
        "'a.b': { a.c: 1, a.b: 2, a: 3 }"},
       {"{\"p\": [{\"$set\": {\"a\": {\"b.c\": 1}}}]}", "40183",
        "Invalid $set :: caused by :: cannot use dotted field name 'b.c' in a sub object: { b.c: 1 }"},
       {"{\"p\": [{\"$set\": {\"b\": \"$$NOPE\"}}]}", "17276",
        "Invalid $set :: caused by :: Use of undefined variable: NOPE"},
       {"{\"p\": [{\"$project\": {\"a\": 0, \"b\": \"$x\"}}]}", "31252",
        "Invalid $project :: caused by :: Cannot use expression other than $meta in exclusion projection"},
       {"{\"p\": [{\"$set\": {\"$a\": 1}}]}", "16410",
        "Invalid $set :: caused by :: FieldPath field names may not start with '$'. Consider using $getField or "
        "$setField."},
       {"{\"p\": [{\"$set\": {\"a\": {\"$foo\": 1}}}]}", "168",
        "Invalid $set :: caused by :: Unrecognized expression '$foo'"},
   };
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      bson_t *pipeline_spec = TEST_JSON(bad[i][0]);
      assert_true(bson_iter_init_find(&iter, pipeline_spec, "p"));
      duet_error_clear(&error);
      assert_false(duet_update_parse_value(bson_iter_value(&iter), NULL, &update, &error));
      if (error.code != atoi(bad[i][1]) || strcmp(error.message, bad[i][2]) != 0) {
         fail_msg("%s: got %d %s", bad[i][0], error.code, error.message);
      }
      bson_destroy(pipeline_spec);
   }

   bson_value_t number = {.value_type = BSON_TYPE_INT32};
   assert_false(duet_update_parse_value(&number, NULL, &update, &error));
   assert_int_equal(error.code, 9);
   assert_string_equal(error.message, "Update argument must be either an object or an array");
}

/* $merge-style pipelines see caller variables ($$new) declared in a scope at parse. */
static void test_pipeline_variables(void **state)
{
   (void)state;
   duet_expr_scope_t *scope = duet_expr_scope_new();
   int index = duet_expr_scope_define(scope, "new");
   bson_t *spec = TEST_JSON("{\"p\": [{\"$set\": {\"total\": {\"$add\": [\"$total\", \"$$new.total\"]}}}]}");
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, spec, "p"));
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.scope = scope;
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_update_parse_value(bson_iter_value(&iter), &options, &update, &error)) {
      fail_msg("%d %s", error.code, error.message);
   }
   duet_expr_scope_destroy(scope);

   bson_t *incoming = TEST_JSON("{\"_id\": 1, \"total\": 5}");
   bson_value_t values[1];
   values[0].value_type = BSON_TYPE_DOCUMENT;
   values[0].value.v_doc.data = (uint8_t *)bson_get_data(incoming);
   values[0].value.v_doc.data_len = incoming->len;
   assert_int_equal(index, 0);
   duet_expr_env_t env = DUET_EXPR_ENV_INIT;
   env.variables = values;
   env.variable_count = 1;
   bson_t *doc = TEST_JSON("{\"_id\": 1, \"total\": 10}");
   bson_t out;
   bool modified = false;
   if (!duet_update_apply_env(update, doc, NULL, false, &env, &out, &modified, &error)) {
      fail_msg("%d %s", error.code, error.message);
   }
   ASSERT_JSON_EQ(&out, "{\"_id\": 1, \"total\": 15}");
   assert_true(modified);
   bson_destroy(&out);
   bson_destroy(doc);
   bson_destroy(incoming);
   bson_destroy(spec);
   duet_update_destroy(update);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_replacement),
       cmocka_unit_test(test_upsert),
       cmocka_unit_test(test_pipeline),
       cmocka_unit_test(test_pipeline_variables),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
