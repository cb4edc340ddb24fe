/*
 * test_partner_transform.c — transforms of a spec: the seeds' objectId<->string pair, pipelines
 * that are not per-document rejected, dropped documents and conversion failures as errors,
 * equality up to field order (types count), the schema's $jsonSchema validator.
 */
#include "partner_test.h"

#include <duet/mql_match.h>

#include <time.h>

static duet_partner_transform_t *transform_of(const duet_partner_spec_t *spec)
{
   duet_partner_transform_t *transform = NULL;
   ASSERT_OK(duet_partner_transform_new(spec, &transform, error));
   return transform;
}

static void test_seed_forward_and_reverse(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_file("task_v2.json");
   duet_partner_transform_t *transform = transform_of(spec);
   bson_t *doc = TEST_JSON("{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"complete\": true}");
   bson_t forward, reverse;
   ASSERT_OK(duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &forward, error));
   ASSERT_JSON_EQ(&forward, "{\"_id\": \"5f1e2d3c4b5a697887766554\", \"name\": \"a\", \"complete\": true}");
   ASSERT_OK(duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, &forward, &reverse, error));
   assert_true(duet_partner_docs_equal(&reverse, doc));
   char reason[256];
   assert_true(duet_partner_transform_validate(transform, &forward, reason, sizeof reason));
   assert_false(duet_partner_transform_validate(transform, doc, reason, sizeof reason));
   assert_non_null(strstr(reason, "_id"));
   bson_destroy(&forward);
   bson_destroy(&reverse);
   bson_destroy(doc);
   duet_partner_transform_destroy(transform);
   duet_partner_spec_destroy(spec);
}

static void test_conversion_failure_keeps_code(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_file("task_v2.json");
   duet_partner_transform_t *transform = transform_of(spec);
   bson_t *doc = TEST_JSON("{\"_id\": \"not-an-object-id\", \"name\": \"a\"}");
   bson_t out;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_CONVERSION_FAILURE,
                duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, doc, &out, error));
   bson_destroy(&out);
   duet_error_clear(&err);
   bson_destroy(doc);
   duet_partner_transform_destroy(transform);
   duet_partner_spec_destroy(spec);
}

#define SCHEMA                                                                                                         \
   "\"schema\": {\"title\": \"T\", \"bsonType\": \"object\", \"properties\": {\"_id\": {\"bsonType\": \"int\"}}}"

static void test_not_per_document_rejected(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_json("{\"version\": 1, \"database\": \"test\", \"source\": \"A\", "
                                                      "\"partner\": \"B\", " SCHEMA ", \"forward\": [{\"$set\": "
                                                      "{\"a\": 1}}, {\"$sort\": {\"a\": 1}}], \"reverse\": []}");
   duet_partner_transform_t *transform = NULL;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_partner_transform_new(spec, &transform, error));
   assert_null(transform);
   assert_non_null(strstr(err.message, "spec field 'forward': stage 1 ($sort) is not a per-document stage"));
   duet_error_clear(&err);
   duet_partner_spec_destroy(spec);

   spec =
       partner_test_spec_json("{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", " SCHEMA
                              ", \"forward\": [], \"reverse\": [{\"$group\": {\"_id\": null}}]}");
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_partner_transform_new(spec, &transform, error));
   assert_non_null(strstr(err.message, "spec field 'reverse': stage 0 ($group)"));
   duet_error_clear(&err);
   duet_partner_spec_destroy(spec);

   /* an unknown stage keeps MongoDB's code and names the field */
   spec =
       partner_test_spec_json("{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", " SCHEMA
                              ", \"forward\": [{\"$frobnicate\": {}}], \"reverse\": []}");
   ASSERT_FAILS(err, 40324, duet_partner_transform_new(spec, &transform, error));
   assert_non_null(strstr(err.message, "spec field 'forward'"));
   duet_error_clear(&err);
   duet_partner_spec_destroy(spec);
}

/* $$NOW in a transform is the time of the write (the clock is read only for pipelines
 * that mention it; the others must not see a difference). */
static void test_now_is_the_time_of_the_write(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_json(
      "{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", " SCHEMA
      ", \"forward\": [{\"$set\": {\"seen\": \"$$NOW\"}}], \"reverse\": [{\"$unset\": \"seen\"}]}");
   duet_partner_transform_t *transform = transform_of(spec);
   bson_t *doc = TEST_JSON("{\"_id\": 1}");
   int64_t before = (int64_t)time(NULL) * 1000 - 1000;
   bson_t forward, reverse;
   ASSERT_OK(duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &forward, error));
   int64_t after = (int64_t)time(NULL) * 1000 + 1000;
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, &forward, "seen") && BSON_ITER_HOLDS_DATE_TIME(&iter));
   assert_true(bson_iter_date_time(&iter) >= before && bson_iter_date_time(&iter) <= after);
   ASSERT_OK(duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, &forward, &reverse, error));
   ASSERT_JSON_EQ(&reverse, "{\"_id\": 1}");
   bson_destroy(&forward);
   bson_destroy(&reverse);
   bson_destroy(doc);
   duet_partner_transform_destroy(transform);
   duet_partner_spec_destroy(spec);
}

static void test_dropped_or_idless_document_is_an_error(void **state)
{
   (void)state;
   duet_partner_spec_t *spec =
       partner_test_spec_json("{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", " SCHEMA
                              ", \"forward\": [{\"$match\": {\"keep\": true}}], \"reverse\": [{\"$unset\": \"_id\"}]}");
   duet_partner_transform_t *transform = transform_of(spec);
   bson_t *doc = TEST_JSON("{\"_id\": 1, \"keep\": false}");
   bson_t out;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE,
                duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &out, error));
   assert_non_null(strstr(err.message, "forward transform dropped the document"));
   bson_destroy(&out);
   duet_error_clear(&err);
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE,
                duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, doc, &out, error));
   assert_non_null(strstr(err.message, "without an _id"));
   bson_destroy(&out);
   duet_error_clear(&err);
   bson_destroy(doc);
   duet_partner_transform_destroy(transform);
   duet_partner_spec_destroy(spec);
}

static void test_docs_equal(void **state)
{
   (void)state;
   bson_t *a = TEST_JSON("{\"_id\": 1, \"x\": {\"b\": 2, \"a\": [1, {\"d\": 1, \"c\": 2}]}, \"y\": \"s\"}");
   bson_t *b = TEST_JSON("{\"y\": \"s\", \"x\": {\"a\": [1, {\"c\": 2, \"d\": 1}], \"b\": 2}, \"_id\": 1}");
   bson_t *c = TEST_JSON("{\"y\": \"s\", \"x\": {\"a\": [{\"c\": 2, \"d\": 1}, 1], \"b\": 2}, \"_id\": 1}");
   bson_t *d = TEST_JSON(
       "{\"_id\": {\"$numberLong\": \"1\"}, \"x\": {\"b\": 2, \"a\": [1, {\"d\": 1, \"c\": 2}]}, \"y\": \"s\"}");
   assert_true(duet_partner_docs_equal(a, a));
   assert_true(duet_partner_docs_equal(a, b));
   assert_false(duet_partner_docs_equal(a, c)); /* array order counts */
   assert_false(duet_partner_docs_equal(a, d)); /* int 1 and long 1 are different values for Sync */
   bson_destroy(a);
   bson_destroy(b);
   bson_destroy(c);
   bson_destroy(d);
}

static void test_validator_matches_schema(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_json(
       "{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", \"schema\": {\"title\": \"T\", "
       "\"bsonType\": \"object\", \"required\": [\"_id\", \"n\", \"d\"], \"properties\": {\"_id\": {\"bsonType\": "
       "\"string\"}, \"n\": {\"bsonType\": \"int\"}, \"d\": {\"bsonType\": \"bool\", \"default\": false}, \"u\": "
       "{\"bsonType\": \"uuid\"}, \"m\": {\"bsonType\": \"mixed\"}, \"tags\": {\"bsonType\": \"array\", \"items\": "
       "{\"bsonType\": \"string\"}}}}, \"forward\": [], \"reverse\": []}");
   duet_partner_transform_t *transform = transform_of(spec);
   bson_t validator;
   duet_partner_schema_validator(duet_partner_transform_schema(transform), &validator);
   ASSERT_JSON_EQ(&validator,
                  "{\"$jsonSchema\": {\"bsonType\": \"object\", \"required\": [\"_id\", \"n\"], \"properties\": "
                  "{\"_id\": {\"bsonType\": \"string\"}, \"n\": {\"bsonType\": \"int\"}, \"d\": {\"bsonType\": "
                  "\"bool\"}, \"u\": {\"bsonType\": \"binData\"}, \"m\": {}, \"tags\": {\"bsonType\": \"array\", "
                  "\"items\": {\"bsonType\": \"string\"}}}}}");
   /* and the matcher accepts it */
   duet_match_t *matcher = NULL;
   ASSERT_OK(duet_match_parse(&validator, DUET_MATCH_FEATURES_DEFAULT, &matcher, error));
   duet_match_destroy(matcher);
   bson_destroy(&validator);
   duet_partner_transform_destroy(transform);
   duet_partner_spec_destroy(spec);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_seed_forward_and_reverse),
       cmocka_unit_test(test_conversion_failure_keeps_code),
       cmocka_unit_test(test_not_per_document_rejected),
       cmocka_unit_test(test_now_is_the_time_of_the_write),
       cmocka_unit_test(test_dropped_or_idless_document_is_an_error),
       cmocka_unit_test(test_docs_equal),
       cmocka_unit_test(test_validator_matches_schema),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
