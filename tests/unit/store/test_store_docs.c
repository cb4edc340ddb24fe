/*
 * test_store_docs.c — documents: insert with generated/moved _id, point reads
 * across equal numeric _ids, update/replace/delete, _id immutability, size and
 * field-name errors, scans in _id order across types, and reopening a store.
 */
#include "store_test.h"

static bson_value_t int_value(int32_t v)
{
   bson_value_t value = {.value_type = BSON_TYPE_INT32, .value.v_int32 = v};
   return value;
}

static void test_insert_and_find(void **state)
{
   store_fixture_t *f = *state;
   bson_t *doc = TEST_JSON("{\"name\": \"a\", \"_id\": 1}");
   bson_t stored;
   ASSERT_OK(duet_store_insert(f->session, "db", "c", doc, &stored, error));
   ASSERT_JSON_EQ(&stored, "{\"_id\": 1, \"name\": \"a\"}"); /* _id moved first */
   bson_destroy(&stored);
   bson_destroy(doc);

   /* 1, 1L, 1.0 and decimal 1.00 are the same _id */
   bson_value_t id = {.value_type = BSON_TYPE_DOUBLE, .value.v_double = 1.0};
   bson_t found_doc;
   bool found = false;
   ASSERT_OK(duet_store_find_id(f->session, "db", "c", &id, &found_doc, &found, error));
   assert_true(found);
   ASSERT_JSON_EQ(&found_doc, "{\"_id\": 1, \"name\": \"a\"}");
   bson_destroy(&found_doc);

   duet_error_t err = DUET_ERROR_INIT;
   bson_t *dup = TEST_JSON("{\"_id\": {\"$numberDecimal\": \"1.00\"}}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "c", dup, NULL, error));
   assert_string_equal(err.message,
                       "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: NumberDecimal(\"1.00\") }");
   assert_non_null(err.extra);
   ASSERT_JSON_EQ(err.extra, "{\"keyPattern\": {\"_id\": 1}, \"keyValue\": {\"_id\": {\"$numberDecimal\": \"1.00\"}}}");
   duet_error_clear(&err);
   bson_destroy(dup);

   /* generated ObjectId */
   bson_t *no_id = TEST_JSON("{\"x\": 1}");
   ASSERT_OK(duet_store_insert(f->session, "db", "c", no_id, &stored, error));
   bson_iter_t iter;
   assert_true(bson_iter_init(&iter, &stored) && bson_iter_next(&iter));
   assert_string_equal(bson_iter_key(&iter), "_id");
   assert_int_equal(bson_iter_type(&iter), BSON_TYPE_OID);
   bson_destroy(&stored);
   bson_destroy(no_id);
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 2);
}

static void test_bad_documents(void **state)
{
   store_fixture_t *f = *state;
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *dollar = TEST_JSON("{\"$set\": 1}");
   ASSERT_FAILS(err, DUET_ERR_DOLLAR_PREFIXED_FIELD_NAME, duet_store_insert(f->session, "db", "c", dollar, NULL, error));
   duet_error_clear(&err);
   bson_destroy(dollar);
   bson_t *empty = TEST_JSON("{\"\": 1}");
   ASSERT_FAILS(err, DUET_ERR_EMPTY_FIELD_NAME, duet_store_insert(f->session, "db", "c", empty, NULL, error));
   duet_error_clear(&err);
   bson_destroy(empty);
   bson_t *array_id = TEST_JSON("{\"_id\": [1]}");
   ASSERT_FAILS(err, DUET_ERR_INVALID_ID_FIELD, duet_store_insert(f->session, "db", "c", array_id, NULL, error));
   duet_error_clear(&err);
   bson_destroy(array_id);
   /* over 16 MB */
   size_t big = 16 * 1024 * 1024;
   char *text = malloc(big + 1);
   memset(text, 'x', big);
   text[big] = '\0';
   bson_t large = BSON_INITIALIZER;
   BSON_APPEND_UTF8(&large, "s", text);
   free(text);
   ASSERT_FAILS(err, DUET_ERR_BSON_OBJECT_TOO_LARGE, duet_store_insert(f->session, "db", "c", &large, NULL, error));
   duet_error_clear(&err);
   bson_destroy(&large);
   /* invalid BSON: an embedded document whose length runs past its parent */
   bson_t *nested = TEST_JSON("{\"_id\": 9, \"a\": {\"b\": 1}}");
   uint8_t *bytes = bson_malloc(nested->len);
   memcpy(bytes, bson_get_data(nested), nested->len);
   /* {_id: int32} is 4 + 1+4+4 bytes; "a" starts at 13: type, "a\0", then the length */
   bytes[16] = 0x7f;
   bson_t corrupt;
   assert_true(bson_init_static(&corrupt, bytes, nested->len));
   ASSERT_FAILS(err, DUET_ERR_INVALID_BSON, duet_store_insert(f->session, "db", "c", &corrupt, NULL, error));
   duet_error_clear(&err);
   bson_free(bytes);
   bson_destroy(nested);
   /* nested $ names and dots are allowed (MongoDB 5.0+) */
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1, \"a\": {\"$x\": 1, \"b.c\": 2}}");
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 1);
   /* bad namespaces */
   bson_t *doc = TEST_JSON("{\"a\": 1}");
   ASSERT_FAILS(err, DUET_ERR_INVALID_NAMESPACE, duet_store_insert(f->session, "d.b", "c", doc, NULL, error));
   assert_string_equal(err.message, "Invalid database name: 'd.b'");
   duet_error_clear(&err);
   ASSERT_FAILS(err, DUET_ERR_INVALID_NAMESPACE, duet_store_insert(f->session, "db", "", doc, NULL, error));
   assert_string_equal(err.message, "Invalid namespace specified 'db.'");
   duet_error_clear(&err);
   ASSERT_FAILS(err, DUET_ERR_INVALID_NAMESPACE, duet_store_insert(f->session, "db", "a$b", doc, NULL, error));
   duet_error_clear(&err);
   bson_destroy(doc);
}

static void test_update_replace_delete(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1, \"a\": 1}");
   bson_value_t id = int_value(1);
   bson_t old_doc;
   bool found;
   ASSERT_OK(duet_store_find_id(f->session, "db", "c", &id, &old_doc, &found, error));
   bson_t *new_doc = TEST_JSON("{\"a\": 2}"); /* no _id: the old one is kept */
   bool changed = false;
   ASSERT_OK(duet_store_update(f->session, "db", "c", &old_doc, new_doc, DUET_STORE_REPLACE, &changed, error));
   assert_true(changed);
   bson_destroy(new_doc);
   bson_t now;
   ASSERT_OK(duet_store_find_id(f->session, "db", "c", &id, &now, &found, error));
   ASSERT_JSON_EQ(&now, "{\"_id\": 1, \"a\": 2}");
   /* no-op update */
   ASSERT_OK(duet_store_update(f->session, "db", "c", &now, &now, DUET_STORE_UPDATE, &changed, error));
   assert_false(changed);
   /* _id is immutable */
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *moved = TEST_JSON("{\"_id\": 2, \"a\": 2}");
   ASSERT_FAILS(err, DUET_ERR_IMMUTABLE_FIELD,
                duet_store_update(f->session, "db", "c", &now, moved, DUET_STORE_UPDATE, NULL, error));
   assert_string_equal(err.message,
                       "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2");
   duet_error_clear(&err);
   bson_destroy(moved);
   bson_destroy(&now);
   bson_destroy(&old_doc);
   bool deleted = false;
   ASSERT_OK(duet_store_delete(f->session, "db", "c", &id, &deleted, error));
   assert_true(deleted);
   ASSERT_OK(duet_store_delete(f->session, "db", "c", &id, &deleted, error));
   assert_false(deleted);
   ASSERT_OK(duet_store_find_id(f->session, "db", "c", &id, &now, &found, error));
   assert_false(found);
}

static void test_scan_order_and_bounds(void **state)
{
   store_fixture_t *f = *state;
   const char *docs[] = {"{\"_id\": \"b\"}", "{\"_id\": 3}", "{\"_id\": null}", "{\"_id\": -1.5}",
                         "{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}}", "{\"_id\": \"a\"}",
                         "{\"_id\": {\"$numberLong\": \"2\"}}"};
   for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
      store_test_insert_json(f->session, "db", "c", docs[i]);
   }
   duet_store_cursor_t *cursor;
   ASSERT_OK(duet_store_scan(f->session, "db", "c", NULL, NULL, false, &cursor, error));
   bson_t all = BSON_INITIALIZER;
   const bson_t *doc;
   int n = 0;
   for (;;) {
      ASSERT_OK(duet_store_cursor_next(cursor, &doc, error));
      if (!doc) {
         break;
      }
      char key[8];
      snprintf(key, sizeof key, "%d", n++);
      bson_iter_t iter;
      bson_iter_init_find(&iter, doc, "_id");
      bson_append_iter(&all, key, -1, &iter);
   }
   duet_store_cursor_destroy(cursor);
   ASSERT_JSON_EQ(&all, "{\"0\": null, \"1\": -1.5, \"2\": {\"$numberLong\": \"2\"}, \"3\": 3, \"4\": \"a\", \"5\": \"b\","
                        " \"6\": {\"$oid\": \"507f1f77bcf86cd799439011\"}}");
   bson_destroy(&all);
   /* numbers in (-1.5, 3] */
   bson_value_t low = {.value_type = BSON_TYPE_DOUBLE, .value.v_double = -1.5};
   bson_value_t high = int_value(3);
   duet_store_bound_t lower = {&low, false}, upper = {&high, true};
   ASSERT_OK(duet_store_scan(f->session, "db", "c", &lower, &upper, true, &cursor, error));
   n = 0;
   for (;;) {
      ASSERT_OK(duet_store_cursor_next(cursor, &doc, error));
      if (!doc) {
         break;
      }
      bson_iter_t iter;
      bson_iter_init_find(&iter, doc, "_id");
      assert_int_equal(bson_iter_as_int64(&iter), n == 0 ? 3 : 2); /* reverse order */
      n++;
   }
   assert_int_equal(n, 2);
   duet_store_cursor_destroy(cursor);
}

static void test_reopen_keeps_data(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 7, \"v\": \"kept\"}");
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   bson_value_t id = int_value(7);
   bson_t doc;
   bool found;
   ASSERT_OK(duet_store_find_id(f->session, "db", "c", &id, &doc, &found, error));
   assert_true(found);
   ASSERT_JSON_EQ(&doc, "{\"_id\": 7, \"v\": \"kept\"}");
   bson_destroy(&doc);
}

static void test_transaction_abort_and_savepoint(void **state)
{
   store_fixture_t *f = *state;
   ASSERT_OK(duet_session_begin(f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1}");
   ASSERT_OK(duet_session_savepoint(f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 2}");
   duet_session_savepoint_rollback(f->session);
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 3}");
   ASSERT_OK(duet_session_commit(f->session, error));
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 2);
   ASSERT_OK(duet_session_begin(f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 4}");
   store_test_insert_json(f->session, "db", "other", "{\"_id\": 4}");
   duet_session_abort(f->session);
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 2);
   bool exists = true;
   duet_store_collection_info_t info;
   ASSERT_OK(duet_store_collection_info(f->session, "db", "other", &info, &exists, error));
   assert_false(exists); /* the implicit create was rolled back too */
}

static void test_read_only_directory(void **state)
{
   store_fixture_t *f = *state;
   if (geteuid() == 0) {
      skip(); /* root ignores permissions */
   }
   char directory[80];
   snprintf(directory, sizeof directory, "%s/ro", f->directory);
   mkdir(directory, 0555);
   duet_store_t *store = NULL;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_ILLEGAL_OPERATION, duet_store_open(directory, NULL, &store, error));
   duet_error_clear(&err);
   chmod(directory, 0755);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_insert_and_find, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_bad_documents, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_update_replace_delete, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_scan_order_and_bounds, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_reopen_keeps_data, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_transaction_abort_and_savepoint, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_read_only_directory, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
