/*
 * test_partner_plan.c — `duet plan` rules: every change type of the seeds' table gets the
 * step the seeds prescribe, and the proposed transforms do what they say on real documents
 * (objectId->string, int->string with $toInt back, renames, optional<->required, removed
 * and added properties, in-place plans with the update value).
 */
#include "partner_test.h"

#define TASK_OLD                                                                                                       \
   "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], \"properties\": {\"_id\": "     \
   "{\"bsonType\": \"%s\"}, \"name\": {\"bsonType\": \"string\"}, \"n\": {\"bsonType\": \"%s\"}, \"note\": "           \
   "{\"bsonType\": \"string\"}%s}}"

static char *write_temp(const char *text)
{
   char path[] = "/tmp/duet-plan-XXXXXX";
   int fd = mkstemp(path);
   assert_true(fd >= 0);
   assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
   close(fd);
   return bson_strdup(path);
}

/* Plans old -> new (JSON texts); returns the spec. */
static duet_partner_spec_t *plan(const char *old_json, const char *new_json, const duet_partner_plan_options_t *options,
                                 bool *breaking)
{
   char *old_path = write_temp(old_json);
   char *new_path = write_temp(new_json);
   duet_partner_spec_t *spec = NULL;
   ASSERT_OK(duet_partner_plan_files(old_path, new_path, options, &spec, breaking, error));
   unlink(old_path);
   unlink(new_path);
   bson_free(old_path);
   bson_free(new_path);
   return spec;
}

static void round_trip(const duet_partner_spec_t *spec, const char *doc_json, const char *forward_json)
{
   duet_partner_transform_t *transform = NULL;
   ASSERT_OK(duet_partner_transform_new(spec, &transform, error));
   bson_t *doc = TEST_JSON(doc_json);
   bson_t forward, reverse;
   ASSERT_OK(duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &forward, error));
   ASSERT_JSON_EQ(&forward, forward_json);
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      ASSERT_OK(duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, &forward, &reverse, error));
      if (!duet_partner_docs_equal(&reverse, doc)) {
         char *json = bson_as_canonical_extended_json(&reverse, NULL);
         fail_msg("round trip of %s gave %s", doc_json, json);
      }
      bson_destroy(&reverse);
   }
   char reason[256];
   if (!duet_partner_transform_validate(transform, &forward, reason, sizeof reason)) {
      fail_msg("forward of %s fails the new schema: %s", doc_json, reason);
   }
   bson_destroy(&forward);
   bson_destroy(doc);
   duet_partner_transform_destroy(transform);
}

static const char *step_field(const duet_partner_spec_t *spec, int index, const char *field)
{
   bson_iter_t iter;
   char path[64];
   snprintf(path, sizeof path, "%d.%s", index, field);
   if (bson_iter_init(&iter, spec->changes) && bson_iter_find_descendant(&iter, path, &iter) &&
       BSON_ITER_HOLDS_UTF8(&iter)) {
      return bson_iter_utf8(&iter, NULL);
   }
   return "";
}

static void test_seed_example(void **state)
{
   (void)state;
   char *old_path = partner_test_fixture("schemas/task.json");
   char *new_path = partner_test_fixture("schemas/taskv2.json");
   duet_partner_spec_t *spec = NULL;
   bool breaking = false;
   ASSERT_OK(duet_partner_plan_files(old_path, new_path, NULL, &spec, &breaking, error));
   assert_true(breaking);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_PARTNER);
   assert_string_equal(spec->database, "test");
   assert_string_equal(spec->source, "Task");
   assert_string_equal(spec->partner, "TaskV2");
   ASSERT_JSON_EQ(spec->forward, "{\"0\": {\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}}");
   ASSERT_JSON_EQ(spec->reverse, "{\"0\": {\"$addFields\": {\"_id\": {\"$toObjectId\": \"$_id\"}}}}");
   assert_string_equal(step_field(spec, 0, "kind"), "change_property_type");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\"}",
              "{\"_id\": \"5f1e2d3c4b5a697887766554\", \"name\": \"a\"}");
   duet_partner_spec_destroy(spec);
   /* options: database, partner name */
   duet_partner_plan_options_t options = {.database = "app", .partner = "Task_2"};
   ASSERT_OK(duet_partner_plan_files(old_path, new_path, &options, &spec, &breaking, error));
   assert_string_equal(spec->database, "app");
   assert_string_equal(spec->partner, "Task_2");
   duet_partner_spec_destroy(spec);
   bson_free(old_path);
   bson_free(new_path);
}

static void test_int_to_string_optional_field(void **state)
{
   (void)state;
   char *old_json = bson_strdup_printf(TASK_OLD, "int", "int", "");
   char *new_json = bson_strdup_printf(TASK_OLD, "string", "string", "");
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, NULL, &breaking);
   assert_true(breaking);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_PARTNER);
   /* _id converts unconditionally, the optional n keeps a missing value missing */
   round_trip(spec, "{\"_id\": 7, \"name\": \"a\", \"n\": 5}", "{\"_id\": \"7\", \"name\": \"a\", \"n\": \"5\"}");
   round_trip(spec, "{\"_id\": 8, \"name\": \"b\"}", "{\"_id\": \"8\", \"name\": \"b\"}");
   char *reverse = bson_as_relaxed_extended_json(spec->reverse, NULL);
   assert_non_null(strstr(reverse, "$toInt"));
   bson_free(reverse);
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
   bson_free(new_json);
}

static void test_int_long_and_others(void **state)
{
   (void)state;
   char *old_json = bson_strdup_printf(TASK_OLD, "objectId", "int", "");
   char *new_json = bson_strdup_printf(TASK_OLD, "objectId", "long", "");
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, NULL, &breaking);
   assert_true(breaking); /* the server schema changes even though Realm's type does not */
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": 5}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": {\"$numberLong\": \"5\"}}");
   duet_partner_spec_destroy(spec);
   bson_free(new_json);
   new_json = bson_strdup_printf(TASK_OLD, "objectId", "double", "");
   spec = plan(old_json, new_json, NULL, &breaking);
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": 5}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": 5.0}");
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
   bson_free(new_json);
}

static void test_rename_property(void **state)
{
   (void)state;
   const char *old_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], "
                          "\"properties\": {\"_id\": {\"bsonType\": \"objectId\"}, \"name\": {\"bsonType\": "
                          "\"string\"}, \"done\": {\"bsonType\": \"bool\"}}}";
   const char *new_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], "
                          "\"properties\": {\"_id\": {\"bsonType\": \"objectId\"}, \"name\": {\"bsonType\": "
                          "\"string\"}, \"complete\": {\"bsonType\": \"bool\"}}}";
   duet_schema_rename_t rename;
   ASSERT_OK(duet_schema_rename_parse("Task.done=Task.complete", false, &rename, error));
   duet_schema_diff_options_t diff_options = {&rename, 1, NULL, 0};
   duet_partner_plan_options_t options = {.diff_options = &diff_options};
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, &options, &breaking);
   assert_true(breaking);
   assert_string_equal(step_field(spec, 0, "kind"), "rename_property");
   ASSERT_JSON_EQ(spec->forward, "{\"0\": {\"$set\": {\"complete\": \"$done\"}}, \"1\": {\"$unset\": \"done\"}}");
   ASSERT_JSON_EQ(spec->reverse, "{\"0\": {\"$set\": {\"done\": \"$complete\"}}, \"1\": {\"$unset\": \"complete\"}}");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"done\": true}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"complete\": true}");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\"}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\"}");
   duet_schema_rename_clear(&rename);
   duet_partner_spec_destroy(spec);
}

static void test_rename_nested_property(void **state)
{
   (void)state;
   const char *old_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\"], \"properties\": "
                          "{\"_id\": {\"bsonType\": \"objectId\"}, \"address\": {\"title\": \"Address\", "
                          "\"bsonType\": \"object\", \"properties\": {\"zip\": {\"bsonType\": \"string\"}}}}}";
   const char *new_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\"], \"properties\": "
                          "{\"_id\": {\"bsonType\": \"objectId\"}, \"address\": {\"title\": \"Address\", "
                          "\"bsonType\": \"object\", \"properties\": {\"postcode\": {\"bsonType\": \"string\"}}}}}";
   duet_schema_rename_t rename;
   ASSERT_OK(duet_schema_rename_parse("Task.address.zip=Task.address.postcode", false, &rename, error));
   duet_schema_diff_options_t diff_options = {&rename, 1, NULL, 0};
   duet_partner_plan_options_t options = {.diff_options = &diff_options};
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, &options, &breaking);
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"address\": {\"zip\": \"1\"}}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"address\": {\"postcode\": \"1\"}}");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}}");
   duet_schema_rename_clear(&rename);
   duet_partner_spec_destroy(spec);
}

static void test_optional_required(void **state)
{
   (void)state;
   char *old_json = bson_strdup_printf(TASK_OLD, "objectId", "int", "");
   /* n becomes required (zero value 0), name becomes optional */
   const char *new_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"n\"], "
                          "\"properties\": {\"_id\": {\"bsonType\": \"objectId\"}, \"name\": {\"bsonType\": "
                          "\"string\"}, \"n\": {\"bsonType\": \"int\"}, \"note\": {\"bsonType\": \"string\"}}}";
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, NULL, &breaking);
   assert_true(breaking);
   ASSERT_JSON_EQ(spec->forward, "{\"0\": {\"$addFields\": {\"n\": {\"$ifNull\": [\"$n\", {\"$literal\": 0}]}}}}");
   assert_true(bson_empty(spec->reverse)); /* identity back: required values are valid optional ones */
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": 4}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": 4}");
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
   /* with a default, the default fills */
   old_json = bson_strdup_printf(TASK_OLD, "objectId", "int", "");
   const char *with_default =
       "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\", "
       "\"n\"], \"properties\": {\"_id\": {\"bsonType\": \"objectId\"}, \"name\": {\"bsonType\": "
       "\"string\"}, \"n\": {\"bsonType\": \"int\", \"default\": 3}, \"note\": {\"bsonType\": "
       "\"string\"}}}";
   spec = plan(old_json, with_default, NULL, &breaking);
   ASSERT_JSON_EQ(spec->forward, "{\"0\": {\"$addFields\": {\"n\": {\"$ifNull\": [\"$n\", {\"$literal\": 3}]}}}}");
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
}

static void test_remove_property_keeps_values(void **state)
{
   (void)state;
   char *old_json = bson_strdup_printf(TASK_OLD, "objectId", "int", "");
   const char *new_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], "
                          "\"properties\": {\"_id\": {\"bsonType\": \"objectId\"}, \"name\": {\"bsonType\": "
                          "\"string\"}, \"n\": {\"bsonType\": \"int\"}}}";
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, NULL, &breaking);
   assert_true(breaking);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_PARTNER);
   assert_string_equal(step_field(spec, 0, "kind"), "remove_property");
   assert_true(bson_empty(spec->forward));
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"note\": \"kept\"}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"note\": \"kept\"}");
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
}

static void test_non_breaking_in_place_with_update_value(void **state)
{
   (void)state;
   char *old_json = bson_strdup_printf(TASK_OLD, "objectId", "int", "");
   char *new_json = bson_strdup_printf(TASK_OLD, "objectId", "int",
                                       ", \"priority\": {\"bsonType\": \"int\", \"default\": 3}, \"extra\": "
                                       "{\"bsonType\": \"string\"}");
   /* make priority required */
   char *required = strstr(new_json, "\"required\": [\"_id\", \"name\"]");
   assert_non_null(required);
   char *patched =
       bson_strdup_printf("%.*s\"required\": [\"_id\", \"name\", \"priority\"]%s", (int)(required - new_json), new_json,
                          required + strlen("\"required\": [\"_id\", \"name\"]"));
   bool breaking = true;
   duet_partner_spec_t *spec = plan(old_json, patched, NULL, &breaking);
   assert_false(breaking);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_IN_PLACE);
   assert_null(spec->partner);
   assert_string_equal(step_field(spec, 0, "kind"), "add_required_property");
   assert_string_equal(step_field(spec, 0, "handling"), "apply_and_update_documents");
   bson_iter_t iter;
   assert_true(bson_iter_init(&iter, spec->changes) && bson_iter_find_descendant(&iter, "0.update_value", &iter));
   assert_int_equal(bson_iter_int32(&iter), 3);
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\"}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"priority\": 3}");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"priority\": 1}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"priority\": 1}");
   duet_partner_spec_destroy(spec);
   /* a forced partner strategy keeps the added value on the old side */
   duet_partner_plan_options_t options = {.strategy_given = true, .strategy = DUET_PARTNER_STRATEGY_PARTNER};
   spec = plan(old_json, patched, &options, &breaking);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_PARTNER);
   assert_string_equal(spec->partner, "TaskV2");
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
   bson_free(new_json);
   bson_free(patched);
}

static void test_forced_in_place_for_breaking(void **state)
{
   (void)state;
   char *old_json = bson_strdup_printf(TASK_OLD, "objectId", "int", "");
   char *new_json = bson_strdup_printf(TASK_OLD, "objectId", "string", "");
   duet_partner_plan_options_t options = {.strategy_given = true, .strategy = DUET_PARTNER_STRATEGY_IN_PLACE};
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, &options, &breaking);
   assert_true(breaking);
   assert_int_equal(spec->strategy, DUET_PARTNER_STRATEGY_IN_PLACE);
   assert_true(bson_empty(spec->reverse));
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": 12}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"name\": \"a\", \"n\": \"12\"}");
   duet_partner_spec_destroy(spec);
   bson_free(old_json);
   bson_free(new_json);
}

static void test_nested_property_type_change(void **state)
{
   (void)state;
   const char *old_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\"], \"properties\": "
                          "{\"_id\": {\"bsonType\": \"objectId\"}, \"address\": {\"title\": \"Address\", "
                          "\"bsonType\": \"object\", \"properties\": {\"zip\": {\"bsonType\": \"int\"}, \"city\": "
                          "{\"bsonType\": \"string\"}}}}}";
   const char *new_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\"], \"properties\": "
                          "{\"_id\": {\"bsonType\": \"objectId\"}, \"address\": {\"title\": \"Address\", "
                          "\"bsonType\": \"object\", \"properties\": {\"zip\": {\"bsonType\": \"string\"}, \"city\": "
                          "{\"bsonType\": \"string\"}}}}}";
   bool breaking = false;
   duet_partner_spec_t *spec = plan(old_json, new_json, NULL, &breaking);
   assert_true(breaking);
   assert_string_equal(step_field(spec, 0, "property"), "address.zip");
   round_trip(spec,
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"address\": {\"zip\": 1234, \"city\": \"x\"}}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"address\": {\"zip\": \"1234\", \"city\": \"x\"}}");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"address\": {\"city\": \"x\"}}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}, \"address\": {\"city\": \"x\"}}");
   round_trip(spec, "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}}",
              "{\"_id\": {\"$oid\": \"5f1e2d3c4b5a697887766554\"}}");
   duet_partner_spec_destroy(spec);
}

static void test_no_transform_possible(void **state)
{
   (void)state;
   const char *old_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\"], \"properties\": "
                          "{\"_id\": {\"bsonType\": \"objectId\"}, \"tags\": {\"bsonType\": \"array\", \"items\": "
                          "{\"bsonType\": \"string\"}}}}";
   const char *new_json = "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\"], \"properties\": "
                          "{\"_id\": {\"bsonType\": \"objectId\"}, \"tags\": {\"bsonType\": \"string\"}}}";
   char *old_path = write_temp(old_json);
   char *new_path = write_temp(new_json);
   duet_partner_spec_t *spec = NULL;
   bool breaking = false;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_partner_plan_files(old_path, new_path, NULL, &spec, &breaking, error));
   assert_null(spec);
   assert_non_null(strstr(err.message, "property 'Task.tags' (array<string> -> string)"));
   duet_error_clear(&err);
   /* nothing changed: nothing to plan */
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_partner_plan_files(old_path, old_path, NULL, &spec, &breaking, error));
   assert_non_null(strstr(err.message, "nothing to plan"));
   duet_error_clear(&err);
   unlink(old_path);
   unlink(new_path);
   bson_free(old_path);
   bson_free(new_path);
}

static void test_several_collections_need_collection_option(void **state)
{
   (void)state;
   char *old_path = partner_test_fixture("schemas/app_v1.json");
   char *new_path = partner_test_fixture("schemas/app_v2.json");
   duet_partner_spec_t *spec = NULL;
   bool breaking = false;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_BAD_VALUE, duet_partner_plan_files(old_path, new_path, NULL, &spec, &breaking, error));
   assert_non_null(strstr(err.message, "--collection"));
   duet_error_clear(&err);
   duet_partner_plan_options_t options = {.collection = "users"};
   ASSERT_OK(duet_partner_plan_files(old_path, new_path, &options, &spec, &breaking, error));
   assert_true(breaking); /* nickname removed */
   assert_string_equal(spec->source, "users");
   assert_string_equal(spec->partner, "usersV2");
   ASSERT_JSON_EQ(spec->schema, "{\"title\": \"User\", \"bsonType\": \"object\", \"required\": [\"_id\"], "
                                "\"properties\": {\"_id\": {\"bsonType\": \"string\"}, \"displayName\": "
                                "{\"bsonType\": \"string\"}}}");
   duet_partner_spec_destroy(spec);
   bson_free(old_path);
   bson_free(new_path);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_seed_example),
       cmocka_unit_test(test_int_to_string_optional_field),
       cmocka_unit_test(test_int_long_and_others),
       cmocka_unit_test(test_rename_property),
       cmocka_unit_test(test_rename_nested_property),
       cmocka_unit_test(test_optional_required),
       cmocka_unit_test(test_remove_property_keeps_values),
       cmocka_unit_test(test_non_breaking_in_place_with_update_value),
       cmocka_unit_test(test_forced_in_place_for_breaking),
       cmocka_unit_test(test_nested_property_type_change),
       cmocka_unit_test(test_no_transform_possible),
       cmocka_unit_test(test_several_collections_need_collection_option),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
