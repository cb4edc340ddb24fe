/*
 * test_schema_render.c — the three renderings of a classified diff: the --json
 * document, the human table, and Realm's additive-only message.
 */
#include "schema_test_util.h"

#define TASK(id_type)                                                                                                  \
   "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', 'name'], 'properties': {'_id': {'bsonType': '" id_type \
   "'}, 'name': {'bsonType': 'string'}, 'complete': {'bsonType': 'bool', 'default': false}}}"

static void test_json_document(void **state)
{
   (void)state;
   diff_fixture_t f = diff_json(TASK("objectId"), "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', "
                                                  "'name', 'due'], 'properties': {'_id': {'bsonType': 'string'}, "
                                                  "'name': {'bsonType': 'string'}, 'due': {'bsonType': 'int'}}}");
   bson_t doc;
   duet_schema_diff_to_bson(f.diff, &doc);
   ASSERT_JSON_EQ(&doc,
                  "{\"breaking\": true, \"changes\": ["
                  "{\"kind\": \"change_property_type\", \"collection\": \"Task\", \"property\": \"_id\", \"from\": "
                  "\"objectId\", \"to\": \"string\", \"server\": \"breaking\", \"client\": \"breaking\", "
                  "\"handling\": \"partner_collection\", \"message\": \"- Property 'Task._id' has been changed from "
                  "'object id' to 'string'.\", \"object_type\": \"Task\", \"primary_key\": true},"
                  "{\"kind\": \"remove_property\", \"collection\": \"Task\", \"property\": \"complete\", \"from\": "
                  "\"bool\", \"to\": null, \"server\": \"breaking\", \"client\": \"non-breaking\", \"handling\": "
                  "\"remove_from_client_only\", \"message\": \"- Property 'Task.complete' has been removed.\", "
                  "\"object_type\": \"Task\", \"primary_key\": false},"
                  "{\"kind\": \"add_required_property\", \"collection\": \"Task\", \"property\": \"due\", \"from\": "
                  "null, \"to\": \"int\", \"server\": \"non-breaking\", \"client\": \"non-breaking\", \"handling\": "
                  "\"apply_and_update_documents\", \"message\": \"- Property 'Task.due' has been added.\", "
                  "\"object_type\": \"Task\", \"primary_key\": false, \"update_value\": {\"$numberInt\": \"0\"}, "
                  "\"update_value_source\": \"zero\"}]}");
   bson_destroy(&doc);
   /* the text form parses back to the same document */
   char *json = duet_schema_diff_to_json(f.diff);
   bson_error_t error;
   bson_t *parsed = bson_new_from_json((const uint8_t *)json, -1, &error);
   assert_non_null(parsed);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, parsed, "breaking") && bson_iter_as_bool(&iter));
   bson_destroy(parsed);
   bson_free(json);
   diff_fixture_destroy(&f);

   /* a non-breaking diff, with a note */
   f = diff_json(TASK("objectId"), "[" TASK("objectId") ", {'title': 'Tag', 'bsonType': 'object', 'properties': "
                                                        "{'_id': {'bsonType': 'string'}}}]");
   duet_schema_diff_to_bson(f.diff, &doc);
   ASSERT_JSON_EQ(&doc, "{\"breaking\": false, \"changes\": [{\"kind\": \"add_object_type\", \"collection\": "
                        "\"Tag\", \"property\": null, \"from\": null, \"to\": \"Tag\", \"server\": \"non-breaking\", "
                        "\"client\": \"non-breaking\", \"handling\": \"apply\", \"message\": \"- Class 'Tag' has been "
                        "added.\", \"object_type\": \"Tag\", \"primary_key\": false}]}");
   bson_destroy(&doc);
   diff_fixture_destroy(&f);
}

static void test_table(void **state)
{
   (void)state;
   diff_fixture_t f = diff_json(TASK("objectId"), TASK("string"));
   char *table = duet_schema_diff_render_table(f.diff, "old.json", "new.json");
   assert_string_equal(table,
                       "duet diff old.json -> new.json\n"
                       "\n"
                       "#  CHANGE                              WHERE     FROM -> TO          SERVER    CLIENT\n"
                       "1  change property type (primary key)  Task._id  objectId -> string  breaking  breaking\n"
                       "   handling: partner collection (or terminate sync, update documents and client reset)\n"
                       "   realm:    - Property 'Task._id' has been changed from 'object id' to 'string'.\n"
                       "\n"
                       "Verdict: BREAKING: 1 of 1 changes are breaking (exit status 1)\n"
                       "\n"
                       "Realm's additive-only check reports:\n"
                       "The following changes cannot be made in additive-only schema mode:\n"
                       "- Property 'Task._id' has been changed from 'object id' to 'string'.\n"
                       "If your app is running in development mode, you can delete the realm and restart the app "
                       "to update your schema.\n");
   bson_free(table);
   diff_fixture_destroy(&f);

   f = diff_json(TASK("objectId"), TASK("objectId"));
   table = duet_schema_diff_render_table(f.diff, "a", "b");
   assert_contains(table, "No differences");
   assert_contains(table, "Verdict: non-breaking");
   bson_free(table);
   diff_fixture_destroy(&f);

   f = diff_json("{'title': 'Task', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'int'}}}",
                 "{'title': 'Task', 'bsonType': 'object', 'required': ['n'], 'properties': {'_id': {'bsonType': "
                 "'int'}, 'n': {'bsonType': 'string', 'default': 'x'}, 'o': {'bsonType': 'int'}}}");
   table = duet_schema_diff_render_table(f.diff, "a", "b");
   assert_contains(table, "1  add required property  Task.n  (none) -> string  non-breaking  non-breaking\n");
   assert_contains(table, "handling: apply, then update existing documents that lack 'n' with its default value "
                          "\"x\"\n");
   assert_contains(table, "handling: apply as is\n");
   assert_contains(table, "Verdict: non-breaking: 2 changes, none breaking (exit status 0)\n");
   assert_null(strstr(table, "additive-only"));
   bson_free(table);
   diff_fixture_destroy(&f);
}

static void test_handling_texts(void **state)
{
   (void)state;
   diff_fixture_t f = diff_json(TASK("objectId"), "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', "
                                                  "'name', 'z'], 'properties': {'_id': {'bsonType': 'objectId'}, "
                                                  "'name': {'bsonType': 'string'}, 'z': {'bsonType': 'date'}}}");
   assert_int_equal(f.diff->change_count, 2);
   char *text = duet_schema_change_handling_text(&f.diff->changes[0]);
   assert_string_equal(text, "remove it only from the client object model; keep it in the server-side schema");
   bson_free(text);
   text = duet_schema_change_handling_text(&f.diff->changes[1]);
   assert_string_equal(text, "apply, then update existing documents that lack 'z' with the zero value of its type, "
                             "{ \"$date\" : \"1970-01-01T00:00:00Z\" }");
   bson_free(text);
   diff_fixture_destroy(&f);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_json_document),
       cmocka_unit_test(test_table),
       cmocka_unit_test(test_handling_texts),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
