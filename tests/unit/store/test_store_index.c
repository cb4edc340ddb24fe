/*
 * test_store_index.c — secondary indexes: createIndexes naming and conflicts,
 * unique (11000 with MongoDB's message, keyPattern and keyValue), compound with
 * descending parts, multikey, sparse, parallel arrays (171), building over
 * existing documents, index scans, dropIndexes and listIndexes.
 */
#include "store_test.h"

static void create_indexes_json(duet_session_t *session, const char *coll, const char *json, int32_t expected)
{
   bson_t *specs = TEST_JSON(json);
   int32_t created = -1;
   ASSERT_OK(duet_store_create_indexes(session, "db", coll, specs, &created, error));
   assert_int_equal(created, expected);
   bson_destroy(specs);
}

static void test_unique_index(void **state)
{
   store_fixture_t *f = *state;
   create_indexes_json(f->session, "c", "{\"0\": {\"key\": {\"a\": 1}, \"unique\": true}}", 1);
   create_indexes_json(f->session, "c", "{\"0\": {\"key\": {\"a\": 1}, \"unique\": true}}", 0); /* same again */
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1, \"a\": 1}");
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *dup = TEST_JSON("{\"_id\": 2, \"a\": 1.0}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "c", dup, NULL, error));
   assert_string_equal(err.message, "E11000 duplicate key error collection: db.c index: a_1 dup key: { a: 1.0 }");
   ASSERT_JSON_EQ(err.extra, "{\"keyPattern\": {\"a\": 1}, \"keyValue\": {\"a\": 1.0}}");
   duet_error_clear(&err);
   bson_destroy(dup);
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 1); /* nothing partially written */
   /* two documents without the field collide on null (not sparse) */
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 3}");
   bson_t *missing = TEST_JSON("{\"_id\": 4}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "c", missing, NULL, error));
   assert_string_equal(err.message, "E11000 duplicate key error collection: db.c index: a_1 dup key: { a: null }");
   duet_error_clear(&err);
   bson_destroy(missing);
   /* updating into a duplicate fails, updating the document itself works */
   bson_t *old_doc = TEST_JSON("{\"_id\": 1, \"a\": 1}");
   bson_t *new_doc = TEST_JSON("{\"_id\": 1, \"a\": 2}");
   ASSERT_OK(duet_store_update(f->session, "db", "c", old_doc, new_doc, DUET_STORE_UPDATE, NULL, error));
   bson_t *clash = TEST_JSON("{\"_id\": 3, \"a\": 2}");
   bson_t *three = TEST_JSON("{\"_id\": 3}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY,
                duet_store_update(f->session, "db", "c", three, clash, DUET_STORE_REPLACE, NULL, error));
   duet_error_clear(&err);
   /* building a unique index over duplicates fails and creates nothing */
   store_test_insert_json(f->session, "db", "u", "{\"_id\": 5, \"b\": \"x\"}");
   store_test_insert_json(f->session, "db", "u", "{\"_id\": 6, \"b\": \"x\"}");
   bson_t *specs = TEST_JSON("{\"0\": {\"key\": {\"b\": -1}, \"name\": \"b_desc\", \"unique\": true}}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_create_indexes(f->session, "db", "u", specs, NULL, error));
   assert_string_equal(err.message, "E11000 duplicate key error collection: db.u index: b_desc dup key: { b: \"x\" }");
   duet_error_clear(&err);
   bson_t u_list;
   ASSERT_OK(duet_store_list_indexes(f->session, "db", "u", &u_list, error));
   ASSERT_JSON_EQ(&u_list, "{\"0\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"}}");
   bson_destroy(&u_list);
   bson_t list;
   ASSERT_OK(duet_store_list_indexes(f->session, "db", "c", &list, error));
   ASSERT_JSON_EQ(&list, "{\"0\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"},"
                         " \"1\": {\"v\": 2, \"key\": {\"a\": 1}, \"name\": \"a_1\", \"unique\": true}}");
   bson_destroy(&list);
   bson_destroy(specs);
   bson_destroy(old_doc);
   bson_destroy(new_doc);
   bson_destroy(clash);
   bson_destroy(three);
}

static void collect_ids(duet_store_cursor_t *cursor, char *out, size_t size)
{
   out[0] = '\0';
   const bson_t *doc;
   for (;;) {
      ASSERT_OK(duet_store_cursor_next(cursor, &doc, error));
      if (!doc) {
         break;
      }
      bson_iter_t id;
      bson_iter_init_find(&id, doc, "_id");
      size_t len = strlen(out);
      snprintf(out + len, size - len, "%s%d", len ? "," : "", bson_iter_int32(&id));
   }
   duet_store_cursor_destroy(cursor);
}

static void test_compound_multikey_sparse(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1, \"a\": 1, \"b\": 5}");
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 2, \"a\": 1, \"b\": 9}");
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 3, \"a\": 2, \"b\": 1}");
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 4, \"a\": [3, 0], \"b\": 0}");
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 5, \"b\": 7}");
   create_indexes_json(f->session, "c", "{\"0\": {\"key\": {\"a\": 1, \"b\": -1}}, \"1\": {\"key\": {\"s\": 1}, \"sparse\": true}}",
                       2);
   char ids[64];
   duet_store_cursor_t *cursor;
   /* a ascending, b descending; the multikey document 4 appears under 0 and 3; missing a is null */
   ASSERT_OK(duet_store_index_scan(f->session, "db", "c", "a_1_b_-1", NULL, NULL, false, &cursor, error));
   collect_ids(cursor, ids, sizeof ids);
   assert_string_equal(ids, "5,4,2,1,3,4");
   bson_value_t one = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
   duet_store_bound_t eq_low = {&one, true}, eq_high = {&one, true};
   ASSERT_OK(duet_store_index_scan(f->session, "db", "c", "a_1_b_-1", &eq_low, &eq_high, false, &cursor, error));
   collect_ids(cursor, ids, sizeof ids);
   assert_string_equal(ids, "2,1");
   duet_store_bound_t gt_one = {&one, false};
   ASSERT_OK(duet_store_index_scan(f->session, "db", "c", "a_1_b_-1", &gt_one, NULL, true, &cursor, error));
   collect_ids(cursor, ids, sizeof ids);
   assert_string_equal(ids, "4,3");
   /* sparse: only documents with s */
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 6, \"s\": \"x\"}");
   ASSERT_OK(duet_store_index_scan(f->session, "db", "c", "s_1", NULL, NULL, false, &cursor, error));
   collect_ids(cursor, ids, sizeof ids);
   assert_string_equal(ids, "6");
   /* entries follow updates and deletes */
   bson_t *old_doc = TEST_JSON("{\"_id\": 3, \"a\": 2, \"b\": 1}");
   bson_t *new_doc = TEST_JSON("{\"_id\": 3, \"a\": 1, \"b\": 7}");
   ASSERT_OK(duet_store_update(f->session, "db", "c", old_doc, new_doc, DUET_STORE_REPLACE, NULL, error));
   bson_value_t two = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 2};
   ASSERT_OK(duet_store_delete(f->session, "db", "c", &two, NULL, error));
   ASSERT_OK(duet_store_index_scan(f->session, "db", "c", "a_1_b_-1", &eq_low, &eq_high, false, &cursor, error));
   collect_ids(cursor, ids, sizeof ids);
   assert_string_equal(ids, "3,1");
   /* parallel arrays */
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *parallel = TEST_JSON("{\"_id\": 9, \"a\": [1], \"b\": [2]}");
   ASSERT_FAILS(err, DUET_ERR_CANNOT_INDEX_PARALLEL_ARRAYS, duet_store_insert(f->session, "db", "c", parallel, NULL, error));
   assert_string_equal(err.message, "cannot index parallel arrays [b] [a]");
   duet_error_clear(&err);
   bson_destroy(parallel);
   bson_destroy(old_doc);
   bson_destroy(new_doc);
}

static void test_index_spec_errors_and_drop(void **state)
{
   store_fixture_t *f = *state;
   create_indexes_json(f->session, "c", "{\"0\": {\"key\": {\"a\": 1}}}", 1);
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *specs = TEST_JSON("{\"0\": {\"key\": {\"a\": 1}, \"name\": \"other\"}}");
   ASSERT_FAILS(err, DUET_ERR_INDEX_OPTIONS_CONFLICT, duet_store_create_indexes(f->session, "db", "c", specs, NULL, error));
   assert_string_equal(err.message, "Index already exists with a different name: a_1");
   duet_error_clear(&err);
   bson_destroy(specs);
   specs = TEST_JSON("{\"0\": {\"key\": {\"b\": 1}, \"name\": \"a_1\"}}");
   ASSERT_FAILS(err, DUET_ERR_INDEX_KEY_SPECS_CONFLICT, duet_store_create_indexes(f->session, "db", "c", specs, NULL, error));
   duet_error_clear(&err);
   bson_destroy(specs);
   specs = TEST_JSON("{\"0\": {\"key\": {\"t\": \"text\"}}}");
   ASSERT_FAILS(err, DUET_ERR_CANNOT_CREATE_INDEX, duet_store_create_indexes(f->session, "db", "c", specs, NULL, error));
   duet_error_clear(&err);
   bson_destroy(specs);
   ASSERT_FAILS(err, DUET_ERR_INVALID_OPTIONS, duet_store_drop_index(f->session, "db", "c", "_id_", error));
   assert_string_equal(err.message, "cannot drop _id index");
   duet_error_clear(&err);
   ASSERT_FAILS(err, DUET_ERR_INDEX_NOT_FOUND, duet_store_drop_index(f->session, "db", "c", "nope", error));
   assert_string_equal(err.message, "index not found with name [nope]");
   duet_error_clear(&err);
   ASSERT_OK(duet_store_drop_index(f->session, "db", "c", "a_1", error));
   bson_t list;
   ASSERT_OK(duet_store_list_indexes(f->session, "db", "c", &list, error));
   ASSERT_JSON_EQ(&list, "{\"0\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"}}");
   bson_destroy(&list);
   ASSERT_FAILS(err, DUET_ERR_NAMESPACE_NOT_FOUND, duet_store_list_indexes(f->session, "db", "missing", &list, error));
   assert_string_equal(err.message, "ns does not exist: db.missing");
   duet_error_clear(&err);
   bson_destroy(&list);
   /* indexes survive a reopen and follow a rename */
   create_indexes_json(f->session, "c", "{\"0\": {\"key\": {\"z\": -1}, \"unique\": true}}", 1);
   ASSERT_OK(duet_store_rename_collection(f->session, "db", "c", "db", "renamed", false, error));
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   store_test_insert_json(f->session, "db", "renamed", "{\"_id\": 1, \"z\": 1}");
   bson_t *dup = TEST_JSON("{\"_id\": 2, \"z\": 1}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "renamed", dup, NULL, error));
   assert_string_equal(err.message, "E11000 duplicate key error collection: db.renamed index: z_-1 dup key: { z: 1 }");
   duet_error_clear(&err);
   bson_destroy(dup);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unique_index, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_compound_multikey_sparse, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_index_spec_errors_and_drop, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
