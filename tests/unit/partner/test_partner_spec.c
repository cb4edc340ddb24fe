/*
 * test_partner_spec.c — the migration spec: the seeds' example parses, writing and parsing
 * again gives the same spec, and bad input gets an error naming the field.
 */
#include "partner_test.h"

static void test_seed_spec_parses(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_file("task_v2.json");
   assert_int_equal(spec->version, 1);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_PARTNER);
   assert_string_equal(spec->database, "test");
   assert_string_equal(spec->source, "Task");
   assert_string_equal(spec->partner, "TaskV2");
   ASSERT_JSON_EQ(spec->forward, "{\"0\": {\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}}");
   ASSERT_JSON_EQ(spec->reverse, "{\"0\": {\"$addFields\": {\"_id\": {\"$toObjectId\": \"$_id\"}}}}");
   assert_int_equal(spec->chunk_size, 1000);
   assert_false(spec->allow_null);
   duet_partner_spec_destroy(spec);
}

static void test_write_then_parse_is_identity(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_file("task_int_string.json");
   assert_int_equal(spec->chunk_size, 3);
   char *json = duet_partner_spec_to_json(spec);
   duet_partner_spec_t *again = partner_test_spec_json(json);
   bson_t a, b;
   duet_partner_spec_to_bson(spec, &a);
   duet_partner_spec_to_bson(again, &b);
   char *ja = bson_as_canonical_extended_json(&a, NULL);
   char *jb = bson_as_canonical_extended_json(&b, NULL);
   assert_string_equal(ja, jb);
   bson_free(ja);
   bson_free(jb);
   bson_destroy(&a);
   bson_destroy(&b);
   /* the copy is deep and equal */
   duet_partner_spec_t *copy = duet_partner_spec_copy(again);
   assert_string_equal(copy->partner, "TaskV2");
   duet_partner_spec_destroy(copy);
   duet_partner_spec_destroy(again);
   duet_partner_spec_destroy(spec);
   bson_free(json);
}

static void test_types_survive_writing(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_json(
       "{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", \"schema\": {\"title\": "
       "\"T\", \"bsonType\": \"object\", \"properties\": {\"_id\": {\"bsonType\": \"long\", \"default\": "
       "{\"$numberLong\": \"7\"}}}}, \"forward\": [{\"$set\": {\"l\": {\"$numberLong\": \"5\"}, \"d\": 1.0, "
       "\"t\": {\"$date\": \"2020-01-01T00:00:00Z\"}, \"m\": {\"$numberDecimal\": \"1.50\"}, \"s\": \"q\\\"uote\"}}], "
       "\"reverse\": []}");
   char *json = duet_partner_spec_to_json(spec);
   duet_partner_spec_t *again = partner_test_spec_json(json);
   bson_t a, b;
   duet_partner_spec_to_bson(spec, &a);
   duet_partner_spec_to_bson(again, &b);
   assert_int_equal(a.len, b.len);
   assert_memory_equal(bson_get_data(&a), bson_get_data(&b), a.len);
   bson_destroy(&a);
   bson_destroy(&b);
   bson_free(json);
   duet_partner_spec_destroy(again);
   duet_partner_spec_destroy(spec);
}

static void test_save_and_load(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_file("task_v2.json");
   char path[] = "/tmp/duet-spec-XXXXXX";
   int fd = mkstemp(path);
   assert_true(fd >= 0);
   close(fd);
   ASSERT_OK(duet_partner_spec_save(spec, path, error));
   duet_partner_spec_t *loaded = NULL;
   ASSERT_OK(duet_partner_spec_load(path, &loaded, error));
   assert_string_equal(loaded->partner, "TaskV2");
   duet_partner_spec_destroy(loaded);
   duet_partner_spec_destroy(spec);
   unlink(path);
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_partner_spec_load("/nonexistent/spec.json", &loaded, error));
   assert_non_null(strstr(err.message, "/nonexistent/spec.json"));
   duet_error_clear(&err);
}

typedef struct {
   const char *json;
   int32_t code;
   const char *needle; /* must appear in the message */
} bad_case_t;

#define SCHEMA                                                                                                         \
   "\"schema\": {\"title\": \"T\", \"bsonType\": \"object\", \"properties\": {\"_id\": {\"bsonType\": \"string\"}}}"
#define BASE "\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", " SCHEMA

static void test_bad_specs_name_the_field(void **state)
{
   (void)state;
   static const bad_case_t cases[] = {
       {"{", DUET_ERR_FAILED_TO_PARSE, "test.json: line 1, column 2: invalid JSON: the text ends before"},
       {"{\n  \"version\": 1,\n}", DUET_ERR_FAILED_TO_PARSE,
        "test.json: line 3, column 1: invalid JSON near '}': a comma before a closing bracket or brace"},
       {"[1]", DUET_ERR_FAILED_TO_PARSE, "test.json"},
       {"{\"database\": \"test\"}", DUET_ERR_BAD_VALUE, "field 'version' is missing"},
       {"{\"version\": 2}", DUET_ERR_BAD_VALUE, "field 'version' must be 1"},
       {"{\"version\": 1, \"source\": \"A\"}", DUET_ERR_BAD_VALUE, "field 'database' is missing"},
       {"{\"version\": 1, \"database\": 5, \"source\": \"A\"}", DUET_ERR_TYPE_MISMATCH,
        "field 'database' must be a string"},
       {"{" BASE ", \"forward\": {}, \"reverse\": []}", DUET_ERR_TYPE_MISMATCH, "field 'forward' must be an array"},
       {"{" BASE ", \"forward\": [1], \"reverse\": []}", DUET_ERR_TYPE_MISMATCH,
        "field 'forward': stage 0 must be a document"},
       {"{" BASE ", \"forward\": []}", DUET_ERR_BAD_VALUE, "field 'reverse' is missing"},
       {"{" BASE ", \"forward\": [], \"reverse\": [], \"bogus\": 1}", DUET_ERR_BAD_VALUE, "unknown field 'bogus'"},
       {"{" BASE ", \"forward\": [], \"reverse\": [], \"options\": {\"chunk_size\": 0}}", DUET_ERR_BAD_VALUE,
        "options.chunk_size"},
       {"{" BASE ", \"forward\": [], \"reverse\": [], \"options\": {\"x\": 0}}", DUET_ERR_BAD_VALUE, "options.x"},
       {"{" BASE ", \"forward\": [], \"reverse\": [], \"strategy\": \"sideways\"}", DUET_ERR_BAD_VALUE,
        "field 'strategy'"},
       {"{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"A\", " SCHEMA
        ", \"forward\": [], \"reverse\": []}",
        DUET_ERR_BAD_VALUE, "name the same collection"},
       {"{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", \"forward\": [], \"reverse\": "
        "[]}",
        DUET_ERR_BAD_VALUE, "field 'schema' is missing"},
       {"{\"version\": 1, \"database\": \"test\", \"source\": \"A\", \"partner\": \"B\", \"schema\": {\"bsonType\": "
        "3}, "
        "\"forward\": [], \"reverse\": []}",
        0, "field 'schema'"},
       {"{\"version\": 1, \"strategy\": \"in-place\", \"database\": \"test\", \"source\": \"A\", " SCHEMA
        ", \"forward\": [], \"reverse\": [{\"$match\": {}}]}",
        DUET_ERR_BAD_VALUE, "field 'reverse' must be empty"},
       {"{\"version\": 1, \"database\": \"a.b\", \"source\": \"A\", \"partner\": \"B\", " SCHEMA
        ", \"forward\": [], \"reverse\": []}",
        DUET_ERR_INVALID_NAMESPACE, "field 'database'"},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      duet_partner_spec_t *spec = NULL;
      duet_error_t error = DUET_ERROR_INIT;
      bool ok =
          duet_partner_spec_parse("test.json", (const uint8_t *)cases[i].json, strlen(cases[i].json), &spec, &error);
      if (ok) {
         fail_msg("case %zu parsed: %s", i, cases[i].json);
      }
      assert_null(spec);
      if (cases[i].code && error.code != cases[i].code) {
         fail_msg("case %zu: code %d (%s), expected %d", i, error.code, error.message, cases[i].code);
      }
      if (!strstr(error.message, cases[i].needle)) {
         fail_msg("case %zu: message '%s' lacks '%s'", i, error.message, cases[i].needle);
      }
      duet_error_clear(&error);
   }
}

static void test_in_place_spec(void **state)
{
   (void)state;
   duet_partner_spec_t *spec = partner_test_spec_json(
       "{\"version\": 1, \"strategy\": \"in-place\", \"database\": \"test\", \"source\": \"A\", " SCHEMA
       ", \"forward\": [{\"$set\": {\"p\": {\"$ifNull\": [\"$p\", 3]}}}]}");
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_IN_PLACE);
   assert_null(spec->partner);
   assert_true(bson_empty(spec->reverse));
   duet_partner_spec_destroy(spec);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_seed_spec_parses),      cmocka_unit_test(test_write_then_parse_is_identity),
       cmocka_unit_test(test_save_and_load),         cmocka_unit_test(test_bad_specs_name_the_field),
       cmocka_unit_test(test_types_survive_writing), cmocka_unit_test(test_in_place_spec),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
