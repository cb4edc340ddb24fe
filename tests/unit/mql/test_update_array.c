/*
 * test_update_array.c — array update operators: $push (with $each, $slice,
 * $sort, $position), $addToSet (with $each), $pop, $pull, $pullAll, the
 * positional `$`, `$[]` and `$[<identifier>]` with arrayFilters.  Cases follow
 * the examples of MongoDB's operator reference pages and its update_node tests.
 */
#include "duet_test.h"

#include <duet/mql_update.h>

/* Applies update (JSON) with optional arrayFilters (JSON array wrapped as {"f": [...]}) and query. */
static void run_update(const char *doc_json, const char *update_json, const char *filters_json, const char *query_json,
                       bson_t *out, bool *modified, duet_error_t *error, bool *parsed, bool *applied)
{
   bson_t *doc = TEST_JSON(doc_json);
   bson_t *spec = TEST_JSON(update_json);
   bson_t *query = query_json ? TEST_JSON(query_json) : NULL;
   bson_t *filters_holder = filters_json ? TEST_JSON(filters_json) : NULL;
   bson_t filters;
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   if (filters_holder) {
      bson_iter_t iter;
      assert_true(bson_iter_init_find(&iter, filters_holder, "f"));
      uint32_t length;
      const uint8_t *data;
      bson_iter_array(&iter, &length, &data);
      assert_true(bson_init_static(&filters, data, length));
      options.array_filters = &filters;
   }
   duet_update_t *update = NULL;
   *parsed = duet_update_parse(spec, &options, &update, error);
   *applied = false;
   if (*parsed) {
      *applied = duet_update_apply(update, doc, query, false, out, modified, error);
   } else {
      bson_init(out);
   }
   duet_update_destroy(update);
   bson_destroy(doc);
   bson_destroy(spec);
   if (query) {
      bson_destroy(query);
   }
   if (filters_holder) {
      bson_destroy(filters_holder);
   }
}

static void check(const char *doc_json, const char *update_json, const char *filters_json, const char *query_json,
                  const char *expected_json, bool expected_modified)
{
   bson_t out;
   bool modified = false, parsed, applied;
   duet_error_t error = DUET_ERROR_INIT;
   run_update(doc_json, update_json, filters_json, query_json, &out, &modified, &error, &parsed, &applied);
   if (!parsed || !applied) {
      fail_msg("%s on %s: %d %s", update_json, doc_json, error.code, error.message);
   }
   ASSERT_JSON_EQ(&out, expected_json);
   if (modified != expected_modified) {
      fail_msg("%s on %s: modified=%d", update_json, doc_json, modified);
   }
   bson_destroy(&out);
   duet_error_clear(&error);
}

#define CHECK(doc, update, expected, modified) check((doc), (update), NULL, NULL, (expected), (modified))

/* Expects an error (at parse or apply) with `code` and exactly `message`. */
static void check_error(const char *doc_json, const char *update_json, const char *filters_json, const char *query_json,
                        int code, const char *message)
{
   bson_t out;
   bool modified = false, parsed, applied;
   duet_error_t error = DUET_ERROR_INIT;
   run_update(doc_json, update_json, filters_json, query_json, &out, &modified, &error, &parsed, &applied);
   if (parsed && applied) {
      char *json = bson_as_relaxed_extended_json(&out, NULL);
      fail_msg("%s on %s unexpectedly gave %s", update_json, doc_json, json);
   }
   assert_true(bson_empty(&out));
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s on %s:\n  got      %d %s\n  expected %d %s", update_json, doc_json, error.code, error.message, code,
               message);
   }
   bson_destroy(&out);
   duet_error_clear(&error);
}

#define CHECK_ERROR(doc, update, code, message) check_error((doc), (update), NULL, NULL, (code), (message))

static void test_push(void **state)
{
   (void)state;
   CHECK("{\"_id\": 1, \"scores\": [44, 78]}", "{\"$push\": {\"scores\": 89}}",
         "{\"_id\": 1, \"scores\": [44, 78, 89]}", true);
   CHECK("{\"_id\": 1}", "{\"$push\": {\"scores\": 89}}", "{\"_id\": 1, \"scores\": [89]}", true);
   /* an array value is pushed as one element */
   CHECK("{\"_id\": 1, \"a\": [1]}", "{\"$push\": {\"a\": [2, 3]}}", "{\"_id\": 1, \"a\": [1, [2, 3]]}", true);
   CHECK("{\"_id\": 1, \"scores\": [44]}", "{\"$push\": {\"scores\": {\"$each\": [90, 92, 85]}}}",
         "{\"_id\": 1, \"scores\": [44, 90, 92, 85]}", true);
   /* $position */
   CHECK("{\"_id\": 1, \"scores\": [100]}", "{\"$push\": {\"scores\": {\"$each\": [50, 60, 70], \"$position\": 0}}}",
         "{\"_id\": 1, \"scores\": [50, 60, 70, 100]}", true);
   CHECK("{\"_id\": 1, \"scores\": [50, 60, 70, 100]}",
         "{\"$push\": {\"scores\": {\"$each\": [20, 30], \"$position\": 2}}}",
         "{\"_id\": 1, \"scores\": [50, 60, 20, 30, 70, 100]}", true);
   CHECK("{\"_id\": 1, \"scores\": [50, 60, 20, 30, 70, 100]}",
         "{\"$push\": {\"scores\": {\"$each\": [90, 80], \"$position\": -2}}}",
         "{\"_id\": 1, \"scores\": [50, 60, 20, 30, 90, 80, 70, 100]}", true);
   CHECK("{\"_id\": 1, \"s\": [1, 2]}", "{\"$push\": {\"s\": {\"$each\": [9], \"$position\": -5}}}",
         "{\"_id\": 1, \"s\": [9, 1, 2]}", true);
   /* $sort by field (stable), whole-element $sort */
   CHECK("{\"_id\": 1, \"quizzes\": [{\"id\": 1, \"score\": 6}, {\"id\": 2, \"score\": 9}]}",
         "{\"$push\": {\"quizzes\": {\"$each\": [{\"id\": 3, \"score\": 8}, {\"id\": 4, \"score\": 7}, {\"id\": 5, "
         "\"score\": 6}], \"$sort\": {\"score\": 1}}}}",
         "{\"_id\": 1, \"quizzes\": [{\"id\": 1, \"score\": 6}, {\"id\": 5, \"score\": 6}, {\"id\": 4, \"score\": 7}, "
         "{\"id\": 3, \"score\": 8}, {\"id\": 2, \"score\": 9}]}",
         true);
   CHECK("{\"_id\": 2, \"tests\": [89, 70, 89, 50]}", "{\"$push\": {\"tests\": {\"$each\": [40, 60], \"$sort\": 1}}}",
         "{\"_id\": 2, \"tests\": [40, 50, 60, 70, 89, 89]}", true);
   CHECK("{\"_id\": 3, \"tests\": [89, 70, 100, 20]}", "{\"$push\": {\"tests\": {\"$each\": [], \"$sort\": -1}}}",
         "{\"_id\": 3, \"tests\": [100, 89, 70, 20]}", true);
   /* $slice */
   CHECK("{\"_id\": 1, \"scores\": [40, 50, 60]}",
         "{\"$push\": {\"scores\": {\"$each\": [80, 78, 86], \"$slice\": -5}}}",
         "{\"_id\": 1, \"scores\": [50, 60, 80, 78, 86]}", true);
   CHECK("{\"_id\": 2, \"scores\": [89, 90]}", "{\"$push\": {\"scores\": {\"$each\": [100, 20], \"$slice\": 3}}}",
         "{\"_id\": 2, \"scores\": [89, 90, 100]}", true);
   CHECK("{\"_id\": 3, \"scores\": [89, 70, 100, 20]}", "{\"$push\": {\"scores\": {\"$each\": [], \"$slice\": -3}}}",
         "{\"_id\": 3, \"scores\": [70, 100, 20]}", true);
   CHECK(
       "{\"_id\": 5, \"quizzes\": [{\"wk\": 1, \"score\": 10}, {\"wk\": 2, \"score\": 8}]}",
       "{\"$push\": {\"quizzes\": {\"$each\": [{\"wk\": 5, \"score\": 8}, {\"wk\": 6, \"score\": 7}, {\"wk\": 7, "
       "\"score\": 6}], \"$sort\": {\"score\": -1}, \"$slice\": 3}}}",
       "{\"_id\": 5, \"quizzes\": [{\"wk\": 1, \"score\": 10}, {\"wk\": 2, \"score\": 8}, {\"wk\": 5, \"score\": 8}]}",
       true);
   /* $each of nothing without sort/slice is a noop */
   CHECK("{\"_id\": 1, \"s\": [1]}", "{\"$push\": {\"s\": {\"$each\": []}}}", "{\"_id\": 1, \"s\": [1]}", false);
   /* an object without $each is the value itself */
   CHECK("{\"_id\": 1, \"s\": []}", "{\"$push\": {\"s\": {\"a\": 1}}}", "{\"_id\": 1, \"s\": [{\"a\": 1}]}", true);

   CHECK_ERROR("{\"_id\": 1, \"a\": 1}", "{\"$push\": {\"a\": 2}}", 2,
               "The field 'a' must be an array but is of type int in document {_id: 1}");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": 1}}}", 2,
               "The argument to $each in $push must be an array but it was of type: int");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": [1], \"$slice\": \"x\"}}}", 2,
               "The value for $slice must be an integer value but was given type: string");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": [1], \"$position\": 1.5}}}", 2,
               "The value for $position must be an integer value, not of type: double");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": [1], \"$sort\": 2}}}", 2,
               "The $sort element value must be either 1 or -1");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": [1], \"$sort\": {}}}}", 2,
               "The $sort pattern is empty when it should be a set of fields.");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": [1], \"$sort\": \"x\"}}}", 2,
               "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields");
   CHECK_ERROR("{\"_id\": 1}", "{\"$push\": {\"a\": {\"$each\": [1], \"$foo\": 1}}}", 2,
               "Unrecognized clause in $push: $foo");
}

static void test_add_to_set(void **state)
{
   (void)state;
   CHECK("{\"_id\": 1, \"letters\": [\"a\", \"b\"]}", "{\"$addToSet\": {\"letters\": [\"c\", \"d\"]}}",
         "{\"_id\": 1, \"letters\": [\"a\", \"b\", [\"c\", \"d\"]]}", true);
   CHECK("{\"_id\": 1, \"colors\": [\"blue\", \"green\", \"red\"]}", "{\"$addToSet\": {\"colors\": \"mauve\"}}",
         "{\"_id\": 1, \"colors\": [\"blue\", \"green\", \"red\", \"mauve\"]}", true);
   CHECK("{\"_id\": 2, \"item\": \"cable\", \"tags\": [\"electronics\", \"supplies\"]}",
         "{\"$addToSet\": {\"tags\": {\"$each\": [\"camera\", \"electronics\", \"accessories\"]}}}",
         "{\"_id\": 2, \"item\": \"cable\", \"tags\": [\"electronics\", \"supplies\", \"camera\", \"accessories\"]}",
         true);
   CHECK("{\"_id\": 1, \"colors\": [\"blue\"]}", "{\"$addToSet\": {\"colors\": \"blue\"}}",
         "{\"_id\": 1, \"colors\": [\"blue\"]}", false);
   /* numerically equal values are already present */
   CHECK("{\"_id\": 1, \"n\": [1]}", "{\"$addToSet\": {\"n\": 1.0}}", "{\"_id\": 1, \"n\": [1]}", false);
   CHECK("{\"_id\": 1}", "{\"$addToSet\": {\"n\": {\"$each\": [1, 2, 1]}}}", "{\"_id\": 1, \"n\": [1, 2]}", true);
   CHECK_ERROR("{\"_id\": 1, \"a\": 1}", "{\"$addToSet\": {\"a\": 2}}", 2,
               "Cannot apply $addToSet to non-array field. Field named 'a' has non-array type int");
   CHECK_ERROR("{\"_id\": 1}", "{\"$addToSet\": {\"a\": {\"$each\": 1}}}", 14,
               "The argument to $each in $addToSet must be an array but it was of type int");
   CHECK_ERROR("{\"_id\": 1}", "{\"$addToSet\": {\"a\": {\"$each\": [1], \"x\": 1}}}", 2,
               "Found unexpected fields after $each in $addToSet: { $each: [ 1 ], x: 1 }");
}

static void test_pop(void **state)
{
   (void)state;
   CHECK("{\"_id\": 1, \"scores\": [8, 9, 10]}", "{\"$pop\": {\"scores\": -1}}", "{\"_id\": 1, \"scores\": [9, 10]}",
         true);
   CHECK("{\"_id\": 1, \"scores\": [9, 10]}", "{\"$pop\": {\"scores\": 1}}", "{\"_id\": 1, \"scores\": [9]}", true);
   CHECK("{\"_id\": 1, \"scores\": []}", "{\"$pop\": {\"scores\": 1}}", "{\"_id\": 1, \"scores\": []}", false);
   CHECK("{\"_id\": 1}", "{\"$pop\": {\"scores\": 1}}", "{\"_id\": 1}", false);
   CHECK_ERROR("{\"_id\": 1, \"a\": 1}", "{\"$pop\": {\"a\": 1}}", 14,
               "Path 'a' contains an element of non-array type 'int'");
   CHECK_ERROR("{\"_id\": 1, \"a\": 1}", "{\"$pop\": {\"a.b\": 1}}", 28,
               "Cannot use the part (b) of (a.b) to traverse the element ({a: 1})");
   CHECK_ERROR("{\"_id\": 1}", "{\"$pop\": {\"a\": 2}}", 9, "$pop expects 1 or -1, found: 2");
   /* missing parts under a document or past the end of an array are noops */
   CHECK("{\"_id\": 1, \"a\": {\"b\": {}}}", "{\"$pop\": {\"a.b.c\": 1}}", "{\"_id\": 1, \"a\": {\"b\": {}}}", false);
   CHECK("{\"_id\": 1, \"a\": [{\"b\": [0]}]}", "{\"$pop\": {\"a.2.b\": 1}}", "{\"_id\": 1, \"a\": [{\"b\": [0]}]}",
         false);
   CHECK_ERROR("{\"_id\": 1, \"a\": [1]}", "{\"$pop\": {\"a.x\": 1}}", 28,
               "Cannot use the part (x) of (a.x) to traverse the element ({a: [ 1 ]})");
   CHECK_ERROR("{\"_id\": 1}", "{\"$pop\": {\"a\": \"x\"}}", 9, "Expected a number in: a: \"x\"");
}

static void test_pull(void **state)
{
   (void)state;
   CHECK("{\"_id\": 1, \"fruits\": [\"apples\", \"pears\", \"oranges\", \"grapes\", \"bananas\"], \"vegetables\": "
         "[\"carrots\", \"celery\", \"squash\", \"carrots\"]}",
         "{\"$pull\": {\"fruits\": {\"$in\": [\"apples\", \"oranges\"]}, \"vegetables\": \"carrots\"}}",
         "{\"_id\": 1, \"fruits\": [\"pears\", \"grapes\", \"bananas\"], \"vegetables\": [\"celery\", \"squash\"]}",
         true);
   CHECK("{\"_id\": 1, \"votes\": [3, 5, 6, 7, 7, 8]}", "{\"$pull\": {\"votes\": {\"$gte\": 6}}}",
         "{\"_id\": 1, \"votes\": [3, 5]}", true);
   /* a condition without operators is a query on the document elements */
   CHECK("{\"_id\": 1, \"results\": [{\"item\": \"A\", \"score\": 5}, {\"item\": \"B\", \"score\": 8}]}",
         "{\"$pull\": {\"results\": {\"score\": 8, \"item\": \"B\"}}}",
         "{\"_id\": 1, \"results\": [{\"item\": \"A\", \"score\": 5}]}", true);
   CHECK("{\"_id\": 1, \"results\": [{\"item\": \"A\", \"answers\": [{\"q\": 1, \"a\": 4}, {\"q\": 2, \"a\": 6}]}, "
         "{\"item\": \"B\", \"answers\": [{\"q\": 1, \"a\": 8}, {\"q\": 2, \"a\": 9}]}]}",
         "{\"$pull\": {\"results\": {\"answers\": {\"$elemMatch\": {\"q\": 2, \"a\": {\"$gte\": 8}}}}}}",
         "{\"_id\": 1, \"results\": [{\"item\": \"A\", \"answers\": [{\"q\": 1, \"a\": 4}, {\"q\": 2, \"a\": 6}]}]}",
         true);
   /* an exact value removes equal documents only when every field matches, in order */
   CHECK("{\"_id\": 1, \"a\": [1, 2, 1.0, \"1\"]}", "{\"$pull\": {\"a\": 1}}", "{\"_id\": 1, \"a\": [2, \"1\"]}", true);
   CHECK("{\"_id\": 1, \"a\": [1, 2]}", "{\"$pull\": {\"a\": 3}}", "{\"_id\": 1, \"a\": [1, 2]}", false);
   CHECK("{\"_id\": 1}", "{\"$pull\": {\"a\": 3}}", "{\"_id\": 1}", false);
   CHECK_ERROR("{\"_id\": 1, \"a\": 1}", "{\"$pull\": {\"a\": 1}}", 2, "Cannot apply $pull to a non-array value");
   /* $pullAll */
   CHECK("{\"_id\": 1, \"scores\": [0, 2, 5, 5, 1, 0]}", "{\"$pullAll\": {\"scores\": [0, 5]}}",
         "{\"_id\": 1, \"scores\": [2, 1]}", true);
   CHECK_ERROR("{\"_id\": 1}", "{\"$pullAll\": {\"a\": 1}}", 2,
               "$pullAll requires an array argument but was given a int");
   CHECK_ERROR("{\"_id\": 1, \"a\": \"x\"}", "{\"$pullAll\": {\"a\": [1]}}", 2,
               "Cannot apply $pull to a non-array value");
}

static void test_positional(void **state)
{
   (void)state;
   check("{\"_id\": 1, \"grades\": [85, 80, 80]}", "{\"$set\": {\"grades.$\": 82}}", NULL,
         "{\"_id\": 1, \"grades\": 80}", "{\"_id\": 1, \"grades\": [85, 82, 80]}", true);
   check("{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 8}, {\"grade\": 85, \"mean\": 90, \"std\": "
         "5}]}",
         "{\"$set\": {\"grades.$.std\": 6}}", NULL, "{\"_id\": 4, \"grades.grade\": 85}",
         "{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 8}, {\"grade\": 85, \"mean\": 90, \"std\": "
         "6}]}",
         true);
   check("{\"_id\": 1, \"a\": [{\"b\": 1}, {\"b\": 2}]}", "{\"$inc\": {\"a.$.b\": 10}}", NULL,
         "{\"a\": {\"$elemMatch\": {\"b\": 2}}}", "{\"_id\": 1, \"a\": [{\"b\": 1}, {\"b\": 12}]}", true);
   check_error("{\"_id\": 1, \"grades\": [85, 80]}", "{\"$set\": {\"grades.$\": 82}}", NULL, "{\"_id\": 1}", 2,
               "The positional operator did not find the match needed from the query.");
   check_error("{\"_id\": 1, \"a\": [1, 2]}", "{\"$set\": {\"a.$\": 5, \"a.0\": 6}}", NULL, "{\"a\": 1}", 40,
               "Update created a conflict at 'a.0'");
}

static void test_all_positional(void **state)
{
   (void)state;
   CHECK("{\"_id\": 1, \"grades\": [85, 82, 80]}", "{\"$inc\": {\"grades.$[]\": 10}}",
         "{\"_id\": 1, \"grades\": [95, 92, 90]}", true);
   CHECK("{\"_id\": 1, \"grades\": [{\"g\": 1}, {\"g\": 2}]}", "{\"$set\": {\"grades.$[].x\": 0}}",
         "{\"_id\": 1, \"grades\": [{\"g\": 1, \"x\": 0}, {\"g\": 2, \"x\": 0}]}", true);
   CHECK("{\"_id\": 1, \"a\": [[1, 2], [3]]}", "{\"$inc\": {\"a.$[].$[]\": 1}}", "{\"_id\": 1, \"a\": [[2, 3], [4]]}",
         true);
   CHECK("{\"_id\": 1, \"a\": []}", "{\"$set\": {\"a.$[]\": 1}}", "{\"_id\": 1, \"a\": []}", false);
   CHECK_ERROR("{\"_id\": 1}", "{\"$set\": {\"a.$[]\": 1}}", 2,
               "The path 'a' must exist in the document in order to apply array updates.");
   CHECK_ERROR("{\"_id\": 1, \"x\": {}}", "{\"$set\": {\"x.a.$[]\": 1}}", 2,
               "The path 'x.a' must exist in the document in order to apply array updates.");
   /* update_array_node_test: a scalar element cannot take a field */
   CHECK_ERROR("{\"_id\": 1, \"a\": [0]}", "{\"$set\": {\"a.$[].b\": 1}}", 28,
               "Cannot create field 'b' in element {0: 0}");
   CHECK_ERROR("{\"_id\": 1, \"a\": [0]}", "{\"$set\": {\"a.$[]\": 1, \"a.$[].b\": 2}}", 40,
               "Updating the path 'a.$[].b' would create a conflict at 'a.$[]'");
   CHECK("{\"_id\": 1, \"a\": [1, 2]}", "{\"$unset\": {\"a.$[]\": 1}}", "{\"_id\": 1, \"a\": [null, null]}", true);
   CHECK("{\"_id\": 1, \"a\": [{\"b\": [1, 2, 3]}, {\"b\": [3]}]}", "{\"$pull\": {\"a.$[].b\": 3}}",
         "{\"_id\": 1, \"a\": [{\"b\": [1, 2]}, {\"b\": []}]}", true);
   CHECK_ERROR("{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"a.$[]\": 1}}", 2,
               "Cannot apply array updates to non-array element a: 1");
}

static void test_array_filters(void **state)
{
   (void)state;
   check("{\"_id\": 1, \"grades\": [95, 92, 90]}", "{\"$set\": {\"grades.$[element]\": 100}}",
         "{\"f\": [{\"element\": {\"$gte\": 92}}]}", NULL, "{\"_id\": 1, \"grades\": [100, 100, 90]}", true);
   check("{\"_id\": 1, \"grades\": [{\"grade\": 80, \"mean\": 75}, {\"grade\": 85, \"mean\": 90}, {\"grade\": 85, "
         "\"mean\": 85}]}",
         "{\"$set\": {\"grades.$[elem].mean\": 100}}", "{\"f\": [{\"elem.grade\": {\"$gte\": 85}}]}", NULL,
         "{\"_id\": 1, \"grades\": [{\"grade\": 80, \"mean\": 75}, {\"grade\": 85, \"mean\": 100}, {\"grade\": 85, "
         "\"mean\": 100}]}",
         true);
   check("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$inc\": {\"a.$[x]\": 10}}", "{\"f\": [{\"x\": {\"$gt\": 5}}]}", NULL,
         "{\"_id\": 1, \"a\": [1, 2, 3]}", false);
   check_error("{\"_id\": 1, \"a\": [0]}", "{\"$set\": {\"a.$[]\": 1, \"a.$[i]\": 2}}", "{\"f\": [{\"i\": 0}]}", NULL,
               40, "Update created a conflict at 'a.0'");
   check_error("{\"_id\": 1, \"a\": [0]}", "{\"$set\": {\"$[i]\": 2}}", "{\"f\": [{\"i\": 0}]}", NULL, 2,
               "Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '$[i]'");
   check_error("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.0\": 1}}", "{\"f\": [{\"x\": 1}]}", NULL, 9,
               "The array filter for identifier 'x' was not used in the update { $set: { a.0: 1 } }");
   check_error("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.$[x]\": 1, \"a.$[y]\": 2}}",
               "{\"f\": [{\"x\": 1}, {\"y\": {\"$gte\": 1}}]}", NULL, 40, "Update created a conflict at 'a.0'");
   /* subtrees selecting the same element merge; leaves meeting deeper conflict there (jstests update_arrayFilters.js)
    */
   check_error("{\"_id\": 0, \"a\": [{\"x\": 0, \"b\": [{\"y\": 0, \"c\": 0}]}]}",
               "{\"$set\": {\"a.$[i].b.$[k].c\": 1, \"a.$[j].b.$[k].c\": 2}}",
               "{\"f\": [{\"i.x\": 0}, {\"j.x\": 0}, {\"k.y\": 0}]}", NULL, 40,
               "Update created a conflict at 'a.0.b.$[k].c'");
   check("{\"_id\": 0, \"a\": [{\"x\": 0, \"b\": 1, \"c\": 1}]}", "{\"$set\": {\"a.$[i].b\": 5, \"a.$[j].c\": 6}}",
         "{\"f\": [{\"i.x\": 0}, {\"j.x\": 0}]}", NULL, "{\"_id\": 0, \"a\": [{\"x\": 0, \"b\": 5, \"c\": 6}]}", true);
   /* positional merged with a same-named child */
   check("{\"_id\": 1, \"a\": [{\"b\": 1, \"c\": 1}]}", "{\"$set\": {\"a.$.b\": 2, \"a.0.c\": 3}}", NULL,
         "{\"a.b\": 1}", "{\"_id\": 1, \"a\": [{\"b\": 2, \"c\": 3}]}", true);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_push),          cmocka_unit_test(test_add_to_set), cmocka_unit_test(test_pop),
       cmocka_unit_test(test_pull),          cmocka_unit_test(test_positional), cmocka_unit_test(test_all_positional),
       cmocka_unit_test(test_array_filters),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
