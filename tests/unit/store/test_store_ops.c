/*
 * test_store_ops.c — the operations layer: ordered/unordered insert batches
 * with partial success, find with filter/projection/sort/skip/limit (through
 * the _id point read, _id ranges, a secondary index and a full scan), update
 * one/many/upsert/replace, delete one/many, findAndModify, count and distinct.
 */
#include "store_test.h"

#include <duet/store_ops.h>

/* Runs find and renders the results as {"0": doc, ...}. */
static void find_json(duet_session_t *session, const char *filter, const char *projection, const char *sort,
                      int64_t skip, int64_t limit, const char *expected)
{
   bson_t *f = filter ? TEST_JSON(filter) : NULL;
   bson_t *p = projection ? TEST_JSON(projection) : NULL;
   bson_t *s = sort ? TEST_JSON(sort) : NULL;
   duet_store_find_options_t options = {f, p, s, skip, limit};
   duet_store_find_t *find;
   ASSERT_OK(duet_store_find(session, "db", "c", &options, &find, error));
   bson_t results = BSON_INITIALIZER;
   const bson_t *doc;
   int n = 0;
   for (;;) {
      ASSERT_OK(duet_store_find_next(find, &doc, error));
      if (!doc) {
         break;
      }
      char key[8];
      snprintf(key, sizeof key, "%d", n++);
      BSON_APPEND_DOCUMENT(&results, key, doc);
   }
   duet_store_find_destroy(find);
   ASSERT_JSON_EQ(&results, expected);
   bson_destroy(&results);
   if (f) {
      bson_destroy(f);
   }
   if (p) {
      bson_destroy(p);
   }
   if (s) {
      bson_destroy(s);
   }
}

static void insert_batch(duet_session_t *session, const char *const *json, size_t n, bool ordered, int64_t expected,
                         const char *expected_errors)
{
   bson_t **docs = malloc(n * sizeof *docs);
   for (size_t i = 0; i < n; i++) {
      docs[i] = TEST_JSON(json[i]);
   }
   int64_t inserted = -1;
   bson_t write_errors;
   ASSERT_OK(duet_store_insert_many(session, "db", "c", (const bson_t *const *)docs, n, ordered, &inserted,
                                    &write_errors, error));
   assert_int_equal(inserted, expected);
   ASSERT_JSON_EQ(&write_errors, expected_errors);
   bson_destroy(&write_errors);
   for (size_t i = 0; i < n; i++) {
      bson_destroy(docs[i]);
   }
   free(docs);
}

static void seed(duet_session_t *session)
{
   const char *docs[] = {"{\"_id\": 1, \"name\": \"a\", \"n\": 5, \"tags\": [\"x\", \"y\"]}",
                         "{\"_id\": 2, \"name\": \"b\", \"n\": 3, \"tags\": [\"y\"]}",
                         "{\"_id\": 3, \"name\": \"c\", \"n\": 9}",
                         "{\"_id\": 4, \"name\": \"d\", \"n\": 3, \"tags\": []}"};
   insert_batch(session, docs, 4, true, 4, "{}");
}

static void test_insert_batches(void **state)
{
   store_fixture_t *f = *state;
   const char *ordered[] = {"{\"_id\": 1}", "{\"_id\": 2}", "{\"_id\": 1}", "{\"_id\": 3}"};
   insert_batch(f->session, ordered, 4, true, 2,
                "{\"0\": {\"index\": 2, \"code\": 11000, \"keyPattern\": {\"_id\": 1}, \"keyValue\": {\"_id\": 1},"
                " \"errmsg\": \"E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }\"}}");
   const char *unordered[] = {"{\"_id\": 1}", "{\"_id\": 3}", "{\"$bad\": 1}", "{\"_id\": 4}"};
   insert_batch(f->session, unordered, 4, false, 2,
                "{\"0\": {\"index\": 0, \"code\": 11000, \"keyPattern\": {\"_id\": 1}, \"keyValue\": {\"_id\": 1},"
                " \"errmsg\": \"E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }\"},"
                " \"1\": {\"index\": 2, \"code\": 52, \"errmsg\": \"Document can't have $ prefixed field names: $bad\"}}");
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 4);
}

static void test_find(void **state)
{
   store_fixture_t *f = *state;
   seed(f->session);
   find_json(f->session, "{\"_id\": 2}", NULL, NULL, 0, 0,
             "{\"0\": {\"_id\": 2, \"name\": \"b\", \"n\": 3, \"tags\": [\"y\"]}}");
   find_json(f->session, "{\"_id\": 7}", NULL, NULL, 0, 0, "{}");
   find_json(f->session, "{\"_id\": {\"$gt\": 2}}", "{\"name\": 1}", NULL, 0, 0,
             "{\"0\": {\"_id\": 3, \"name\": \"c\"}, \"1\": {\"_id\": 4, \"name\": \"d\"}}");
   find_json(f->session, "{\"n\": 3}", "{\"_id\": 0, \"name\": 1}", NULL, 0, 0,
             "{\"0\": {\"name\": \"b\"}, \"1\": {\"name\": \"d\"}}");
   find_json(f->session, NULL, "{\"n\": 1}", "{\"n\": -1, \"_id\": 1}", 1, 2,
             "{\"0\": {\"_id\": 1, \"n\": 5}, \"1\": {\"_id\": 2, \"n\": 3}}");
   find_json(f->session, "{\"tags\": \"y\"}", "{\"_id\": 1}", NULL, 0, 0, "{\"0\": {\"_id\": 1}, \"1\": {\"_id\": 2}}");
   find_json(f->session, NULL, "{\"_id\": 1}", NULL, 2, 1, "{\"0\": {\"_id\": 3}}");
   /* through a multikey secondary index: each document once, same answers */
   bson_t *specs = TEST_JSON("{\"0\": {\"key\": {\"tags\": 1}}, \"1\": {\"key\": {\"n\": 1}}}");
   ASSERT_OK(duet_store_create_indexes(f->session, "db", "c", specs, NULL, error));
   bson_destroy(specs);
   find_json(f->session, "{\"tags\": {\"$gte\": \"x\"}}", "{\"_id\": 1}", NULL, 0, 0,
             "{\"0\": {\"_id\": 1}, \"1\": {\"_id\": 2}}");
   find_json(f->session, "{\"n\": {\"$lt\": 9}, \"name\": {\"$ne\": \"d\"}}", "{\"_id\": 1}", "{\"_id\": 1}", 0, 0,
             "{\"0\": {\"_id\": 1}, \"1\": {\"_id\": 2}}");
   /* errors from the MQL parsers */
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *bad = TEST_JSON("{\"n\": {\"$bogus\": 1}}");
   duet_store_find_options_t options = {bad, NULL, NULL, 0, 0};
   duet_store_find_t *find;
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_store_find(f->session, "db", "c", &options, &find, error));
   assert_string_equal(err.message, "unknown operator: $bogus");
   duet_error_clear(&err);
   bson_destroy(bad);
   /* count and distinct */
   int64_t count;
   bson_t *filter = TEST_JSON("{\"n\": {\"$gte\": 3}}");
   ASSERT_OK(duet_store_count_matching(f->session, "db", "c", filter, 1, 2, &count, error));
   assert_int_equal(count, 2);
   bson_t values;
   ASSERT_OK(duet_store_distinct(f->session, "db", "c", "tags", NULL, &values, error));
   ASSERT_JSON_EQ(&values, "{\"0\": \"x\", \"1\": \"y\"}");
   bson_destroy(&values);
   ASSERT_OK(duet_store_distinct(f->session, "db", "c", "n", filter, &values, error));
   ASSERT_JSON_EQ(&values, "{\"0\": 3, \"1\": 5, \"2\": 9}");
   bson_destroy(&values);
   bson_destroy(filter);
}

static void test_update_and_delete(void **state)
{
   store_fixture_t *f = *state;
   seed(f->session);
   bson_t *filter = TEST_JSON("{\"n\": 3}");
   bson_t *set = TEST_JSON("{\"u\": {\"$inc\": {\"n\": 1}}}");
   bson_iter_t u;
   bson_iter_init_find(&u, set, "u");
   duet_store_update_spec_t spec = {filter, bson_iter_value(&u), NULL, true, false};
   duet_store_update_result_t result;
   ASSERT_OK(duet_store_update_matching(f->session, "db", "c", &spec, &result, error));
   assert_int_equal(result.matched, 2);
   assert_int_equal(result.modified, 2);
   assert_false(result.upserted);
   duet_store_update_result_clear(&result);
   find_json(f->session, "{\"n\": 4}", "{\"_id\": 1}", NULL, 0, 0, "{\"0\": {\"_id\": 2}, \"1\": {\"_id\": 4}}");
   /* upsert */
   bson_t *missing = TEST_JSON("{\"name\": \"z\"}");
   spec = (duet_store_update_spec_t){missing, bson_iter_value(&u), NULL, false, true};
   ASSERT_OK(duet_store_update_matching(f->session, "db", "c", &spec, &result, error));
   assert_int_equal(result.matched, 0);
   assert_true(result.upserted);
   bson_iter_t id;
   assert_true(bson_iter_init_find(&id, result.upserted_id, "_id"));
   assert_int_equal(bson_iter_type(&id), BSON_TYPE_OID);
   duet_store_update_result_clear(&result);
   find_json(f->session, "{\"name\": \"z\"}", "{\"_id\": 0}", NULL, 0, 0, "{\"0\": {\"name\": \"z\", \"n\": 1}}");
   /* replacement; multi with a replacement is refused */
   bson_t *replace = TEST_JSON("{\"u\": {\"name\": \"B\"}}");
   bson_iter_init_find(&u, replace, "u");
   bson_t *two = TEST_JSON("{\"_id\": 2}");
   spec = (duet_store_update_spec_t){two, bson_iter_value(&u), NULL, false, false};
   ASSERT_OK(duet_store_update_matching(f->session, "db", "c", &spec, &result, error));
   assert_int_equal(result.modified, 1);
   duet_store_update_result_clear(&result);
   find_json(f->session, "{\"_id\": 2}", NULL, NULL, 0, 0, "{\"0\": {\"_id\": 2, \"name\": \"B\"}}");
   duet_error_t err = DUET_ERROR_INIT;
   spec.multi = true;
   ASSERT_FAILS(err, DUET_ERR_FAILED_TO_PARSE, duet_store_update_matching(f->session, "db", "c", &spec, &result, error));
   duet_error_clear(&err);
   duet_store_update_result_clear(&result);
   /* delete one, then many */
   int64_t deleted;
   ASSERT_OK(duet_store_delete_matching(f->session, "db", "c", NULL, 1, &deleted, error));
   assert_int_equal(deleted, 1);
   ASSERT_OK(duet_store_delete_matching(f->session, "db", "c", NULL, 0, &deleted, error));
   assert_int_equal(deleted, 4);
   bson_destroy(filter);
   bson_destroy(set);
   bson_destroy(missing);
   bson_destroy(replace);
   bson_destroy(two);
}

static void test_find_and_modify(void **state)
{
   store_fixture_t *f = *state;
   seed(f->session);
   bson_t *filter = TEST_JSON("{\"n\": 3}");
   bson_t *sort = TEST_JSON("{\"_id\": -1}");
   bson_t *update = TEST_JSON("{\"u\": {\"$set\": {\"done\": true}}}");
   bson_t *fields = TEST_JSON("{\"done\": 1}");
   bson_iter_t u;
   bson_iter_init_find(&u, update, "u");
   duet_store_fam_options_t options = {filter, sort, fields, false, bson_iter_value(&u), NULL, true, false};
   bson_t value, last_error;
   bool found;
   ASSERT_OK(duet_store_find_and_modify(f->session, "db", "c", &options, &value, &found, &last_error, error));
   assert_true(found);
   ASSERT_JSON_EQ(&value, "{\"_id\": 4, \"done\": true}");
   ASSERT_JSON_EQ(&last_error, "{\"n\": 1, \"updatedExisting\": true}");
   bson_destroy(&value);
   bson_destroy(&last_error);
   /* remove returns the old document */
   options = (duet_store_fam_options_t){filter, sort, NULL, true, NULL, NULL, false, false};
   ASSERT_OK(duet_store_find_and_modify(f->session, "db", "c", &options, &value, &found, &last_error, error));
   ASSERT_JSON_EQ(&value, "{\"_id\": 4, \"name\": \"d\", \"n\": 3, \"tags\": [], \"done\": true}");
   ASSERT_JSON_EQ(&last_error, "{\"n\": 1}");
   bson_destroy(&value);
   bson_destroy(&last_error);
   /* upsert with new: true */
   bson_t *none = TEST_JSON("{\"_id\": 10}");
   options = (duet_store_fam_options_t){none, NULL, NULL, false, bson_iter_value(&u), NULL, true, true};
   ASSERT_OK(duet_store_find_and_modify(f->session, "db", "c", &options, &value, &found, &last_error, error));
   ASSERT_JSON_EQ(&value, "{\"_id\": 10, \"done\": true}");
   ASSERT_JSON_EQ(&last_error, "{\"n\": 1, \"updatedExisting\": false, \"upserted\": 10}");
   bson_destroy(&value);
   bson_destroy(&last_error);
   /* argument errors */
   duet_error_t err = DUET_ERROR_INIT;
   options = (duet_store_fam_options_t){filter, NULL, NULL, true, bson_iter_value(&u), NULL, false, false};
   ASSERT_FAILS(err, DUET_ERR_FAILED_TO_PARSE,
                duet_store_find_and_modify(f->session, "db", "c", &options, &value, &found, &last_error, error));
   assert_string_equal(err.message, "Cannot specify both an update and remove=true");
   duet_error_clear(&err);
   bson_destroy(&value);
   bson_destroy(&last_error);
   bson_destroy(filter);
   bson_destroy(sort);
   bson_destroy(update);
   bson_destroy(fields);
   bson_destroy(none);
}

static void test_aggregate(void **state)
{
   store_fixture_t *f = *state;
   seed(f->session);
   bson_t *pipeline = TEST_JSON("{\"0\": {\"$match\": {\"n\": {\"$lte\": 5}}},"
                                " \"1\": {\"$group\": {\"_id\": \"$n\", \"names\": {\"$push\": \"$name\"}}},"
                                " \"2\": {\"$sort\": {\"_id\": 1}}}");
   duet_store_aggregate_t *aggregate;
   ASSERT_OK(duet_store_aggregate(f->session, "db", "c", pipeline, NULL, &aggregate, error));
   bson_t results = BSON_INITIALIZER;
   const bson_t *doc;
   int n = 0;
   for (;;) {
      ASSERT_OK(duet_store_aggregate_next(aggregate, &doc, error));
      if (!doc) {
         break;
      }
      char key[8];
      snprintf(key, sizeof key, "%d", n++);
      BSON_APPEND_DOCUMENT(&results, key, doc);
   }
   duet_store_aggregate_destroy(aggregate);
   ASSERT_JSON_EQ(&results, "{\"0\": {\"_id\": 3, \"names\": [\"b\", \"d\"]}, \"1\": {\"_id\": 5, \"names\": [\"a\"]}}");
   bson_destroy(&results);
   bson_destroy(pipeline);
   /* $out: replaces the target, keeping its validator and indexes */
   bson_t *options = TEST_JSON("{\"validator\": {\"total\": {\"$gte\": 0}}, \"validationLevel\": \"moderate\"}");
   ASSERT_OK(duet_store_create_collection(f->session, "db", "t", options, error));
   bson_destroy(options);
   bson_t *specs = TEST_JSON("{\"0\": {\"key\": {\"total\": 1}, \"unique\": true}}");
   ASSERT_OK(duet_store_create_indexes(f->session, "db", "t", specs, NULL, error));
   bson_destroy(specs);
   store_test_insert_json(f->session, "db", "t", "{\"_id\": \"old\", \"total\": 1}");
   pipeline = TEST_JSON("{\"0\": {\"$group\": {\"_id\": \"$n\", \"total\": {\"$sum\": \"$n\"}}}, \"1\": {\"$out\": \"t\"}}");
   ASSERT_OK(duet_store_aggregate(f->session, "db", "c", pipeline, NULL, &aggregate, error));
   ASSERT_OK(duet_store_aggregate_next(aggregate, &doc, error));
   assert_null(doc);
   duet_store_aggregate_destroy(aggregate);
   bson_destroy(pipeline);
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "t", &count, error));
   assert_int_equal(count, 3); /* groups 3 (total 6), 5, 9; the old document is gone */
   bson_t list;
   ASSERT_OK(duet_store_list_indexes(f->session, "db", "t", &list, error));
   ASSERT_JSON_EQ(&list, "{\"0\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"},"
                         " \"1\": {\"v\": 2, \"key\": {\"total\": 1}, \"name\": \"total_1\", \"unique\": true}}");
   bson_destroy(&list);
   duet_store_collection_info_t info;
   bool exists;
   ASSERT_OK(duet_store_collection_info(f->session, "db", "t", &info, &exists, error));
   ASSERT_JSON_EQ(info.options, "{\"validator\": {\"total\": {\"$gte\": 0}}, \"validationLevel\": \"moderate\"}");
   duet_store_collection_info_clear(&info);
   /* a failing $out (the target's validator rejects a result) leaves the target as it was */
   duet_error_t err = DUET_ERROR_INIT;
   pipeline = TEST_JSON("{\"0\": {\"$project\": {\"total\": {\"$literal\": -1}}}, \"1\": {\"$out\": \"t\"}}");
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE,
                duet_store_aggregate(f->session, "db", "c", pipeline, NULL, &aggregate, error));
   duet_error_clear(&err);
   bson_destroy(pipeline);
   ASSERT_OK(duet_store_count(f->session, "db", "t", &count, error));
   assert_int_equal(count, 3);
   duet_store_collection_info_t *infos;
   size_t n_infos;
   ASSERT_OK(duet_store_list_collections(f->session, "db", &infos, &n_infos, error));
   assert_int_equal(n_infos, 2); /* c and t: no temporary collection left */
   duet_store_collection_infos_free(infos, n_infos);
   /* $out must be last */
   pipeline = TEST_JSON("{\"0\": {\"$out\": \"t\"}, \"1\": {\"$match\": {}}}");
   ASSERT_FAILS(err, 40601, duet_store_aggregate(f->session, "db", "c", pipeline, NULL, &aggregate, error));
   assert_string_equal(err.message, "$out can only be the final stage in the pipeline");
   duet_error_clear(&err);
   bson_destroy(pipeline);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_insert_batches, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_find, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_update_and_delete, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_find_and_modify, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_aggregate, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
