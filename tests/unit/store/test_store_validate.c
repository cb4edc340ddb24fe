/*
 * test_store_validate.c — collection validators through the matcher: 121
 * DocumentValidationFailure with errInfo {failingDocumentId, details},
 * validationLevel moderate/off, validationAction warn, collMod, create option
 * errors, and partial indexes (partialFilterExpression).
 */
#include "store_test.h"

static void test_validator_rejects_with_err_info(void **state)
{
   store_fixture_t *f = *state;
   bson_t *options = TEST_JSON("{\"validator\": {\"$jsonSchema\": {\"bsonType\": \"object\", \"required\": [\"name\"],"
                               " \"properties\": {\"name\": {\"bsonType\": \"string\"}}}}}");
   ASSERT_OK(duet_store_create_collection(f->session, "db", "v", options, error));
   bson_destroy(options);
   store_test_insert_json(f->session, "db", "v", "{\"_id\": 1, \"name\": \"ok\"}");
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *bad = TEST_JSON("{\"_id\": 2}");
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE, duet_store_insert(f->session, "db", "v", bad, NULL, error));
   assert_string_equal(err.message, "Document failed validation");
   assert_non_null(err.extra);
   ASSERT_JSON_EQ(err.extra, "{\"errInfo\": {\"failingDocumentId\": 2, \"details\": {\"operatorName\": \"$jsonSchema\","
                             " \"schemaRulesNotSatisfied\": [{\"operatorName\": \"required\", \"specifiedAs\": {\"required\": [\"name\"]},"
                             " \"missingProperties\": [\"name\"]}]}}}");
   duet_error_clear(&err);
   bson_destroy(bad);
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "v", &count, error));
   assert_int_equal(count, 1);
   /* moderate: a document already invalid may be updated; a valid one may not become invalid */
   bson_t *off = TEST_JSON("{\"validationLevel\": \"off\"}");
   ASSERT_OK(duet_store_coll_mod(f->session, "db", "v", off, error));
   bson_destroy(off);
   store_test_insert_json(f->session, "db", "v", "{\"_id\": 3, \"name\": 5}");
   bson_t *level = TEST_JSON("{\"validationLevel\": \"moderate\"}");
   ASSERT_OK(duet_store_coll_mod(f->session, "db", "v", level, error));
   bson_destroy(level);
   bson_t *old3 = TEST_JSON("{\"_id\": 3, \"name\": 5}");
   bson_t *new3 = TEST_JSON("{\"_id\": 3, \"name\": 6}");
   ASSERT_OK(duet_store_update(f->session, "db", "v", old3, new3, DUET_STORE_UPDATE, NULL, error));
   bson_t *old1 = TEST_JSON("{\"_id\": 1, \"name\": \"ok\"}");
   bson_t *new1 = TEST_JSON("{\"_id\": 1, \"name\": 10}");
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE,
                duet_store_update(f->session, "db", "v", old1, new1, DUET_STORE_UPDATE, NULL, error));
   duet_error_clear(&err);
   /* warn: accepted */
   bson_t *warn = TEST_JSON("{\"validationAction\": \"warn\"}");
   ASSERT_OK(duet_store_coll_mod(f->session, "db", "v", warn, error));
   bson_destroy(warn);
   ASSERT_OK(duet_store_update(f->session, "db", "v", old1, new1, DUET_STORE_UPDATE, NULL, error));
   bson_destroy(old3);
   bson_destroy(new3);
   bson_destroy(old1);
   bson_destroy(new1);
   /* options are reported as stored */
   duet_store_collection_info_t info;
   bool exists;
   ASSERT_OK(duet_store_collection_info(f->session, "db", "v", &info, &exists, error));
   assert_true(exists);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, info.options, "validationLevel"));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "moderate");
   assert_true(bson_iter_init_find(&iter, info.options, "validator"));
   duet_store_collection_info_clear(&info);
}

static void test_create_option_errors(void **state)
{
   store_fixture_t *f = *state;
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *options = TEST_JSON("{\"validationLevel\": \"sometimes\"}");
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_store_create_collection(f->session, "db", "x", options, error));
   assert_string_equal(err.message, "Enumeration value 'sometimes' for field 'create.validationLevel' is not a valid value.");
   duet_error_clear(&err);
   bson_destroy(options);
   options = TEST_JSON("{\"validator\": {\"a\": {\"$bogus\": 1}}}");
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_store_create_collection(f->session, "db", "x", options, error));
   duet_error_clear(&err);
   bson_destroy(options);
   options = TEST_JSON("{\"capped\": true, \"size\": 100}");
   ASSERT_FAILS(err, DUET_ERR_COMMAND_NOT_SUPPORTED, duet_store_create_collection(f->session, "db", "x", options, error));
   duet_error_clear(&err);
   bson_destroy(options);
   ASSERT_OK(duet_store_create_collection(f->session, "db", "x", NULL, error));
   ASSERT_FAILS(err, DUET_ERR_NAMESPACE_EXISTS, duet_store_create_collection(f->session, "db", "x", NULL, error));
   assert_string_equal(err.message, "Collection db.x already exists.");
   duet_error_clear(&err);
   ASSERT_FAILS(err, DUET_ERR_INVALID_NAMESPACE, duet_store_create_collection(f->session, "db", "system.x", NULL, error));
   duet_error_clear(&err);
   char **names;
   size_t count;
   ASSERT_OK(duet_store_list_databases(f->session, &names, &count, error));
   assert_int_equal(count, 1);
   assert_string_equal(names[0], "db");
   duet_store_names_free(names, count);
}

static void test_partial_index(void **state)
{
   store_fixture_t *f = *state;
   bson_t *specs = TEST_JSON("{\"0\": {\"key\": {\"email\": 1}, \"unique\": true,"
                             " \"partialFilterExpression\": {\"active\": true}}}");
   ASSERT_OK(duet_store_create_indexes(f->session, "db", "p", specs, NULL, error));
   bson_destroy(specs);
   store_test_insert_json(f->session, "db", "p", "{\"_id\": 1, \"email\": \"a\", \"active\": true}");
   store_test_insert_json(f->session, "db", "p", "{\"_id\": 2, \"email\": \"a\", \"active\": false}");
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *dup = TEST_JSON("{\"_id\": 3, \"email\": \"a\", \"active\": true}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "p", dup, NULL, error));
   duet_error_clear(&err);
   bson_destroy(dup);
   bson_t *bad = TEST_JSON("{\"0\": {\"key\": {\"x\": 1}, \"partialFilterExpression\": {\"x\": {\"$nope\": 1}}}}");
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_store_create_indexes(f->session, "db", "p", bad, NULL, error));
   duet_error_clear(&err);
   bson_destroy(bad);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_validator_rejects_with_err_info, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_create_option_errors, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_partial_index, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
