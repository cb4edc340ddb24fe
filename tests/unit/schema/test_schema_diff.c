/*
 * test_schema_diff.c — duet_schema_diff classifies every row of the App Services
 * "Update a data model" table (server and client side, handling) and produces Realm's
 * explainer line for each: added, removed, changed type (every bsonType's Realm name),
 * made optional, made required, primary key; nested properties, multi-collection files
 * and renames with and without hints.
 */
#include "schema_test_util.h"

#define TASK_V1                                                                                                        \
   "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', 'name'], 'properties': {"                              \
   "'_id': {'bsonType': 'objectId'}, 'name': {'bsonType': 'string'}, 'done': {'bsonType': 'bool'}}}"

/* A Task schema with one extra property `p` given as a JSON fragment. */
static char *task_with(const char *property, bool required)
{
   return bson_strdup_printf("{'title': 'Task', 'bsonType': 'object', 'required': ['_id'%s], 'properties': {"
                             "'_id': {'bsonType': 'objectId'}, 'p': %s}}",
                             required ? ", 'p'" : "", property);
}

/* ---- the table, row by row -------------------------------------------------------- */

static void test_add_object_type(void **state)
{
   (void)state;
   diff_fixture_t f = diff_json(TASK_V1, "[" TASK_V1 ", {'title': 'User', 'bsonType': 'object', 'required': "
                                         "['_id'], 'properties': {'_id': {'bsonType': 'string'}}}]");
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_ADD_OBJECT_TYPE, NB, NB, DUET_HANDLING_APPLY, "Class 'User' has been added.");
   assert_string_equal(c->collection, "User");
   assert_null(c->property);
   assert_null(c->from);
   assert_string_equal(c->to, "User");
   assert_false(f.diff->breaking);
   assert_null(duet_schema_diff_realm_message(f.diff));
   diff_fixture_destroy(&f);
}

static void test_add_default_value(void **state)
{
   (void)state;
   char *old_json = task_with("{'bsonType': 'bool'}", true);
   char *new_json = task_with("{'bsonType': 'bool', 'default': false}", true);
   diff_fixture_t f = diff_json(old_json, new_json);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_ADD_DEFAULT_VALUE, NB, NB, DUET_HANDLING_APPLY, NULL);
   assert_string_equal(c->property, "p");
   assert_null(c->from);
   assert_string_equal(c->to, "false");
   assert_false(f.diff->breaking);
   diff_fixture_destroy(&f);
   bson_free(old_json);
   bson_free(new_json);
}

static void test_change_and_remove_default_value(void **state)
{
   (void)state;
   char *a = task_with("{'bsonType': 'int', 'default': 1}", true);
   char *b = task_with("{'bsonType': 'int', 'default': 2}", true);
   char *c_json = task_with("{'bsonType': 'int'}", true);
   diff_fixture_t f = diff_json(a, b);
   assert_change(only_change(&f), DUET_CHANGE_CHANGE_DEFAULT_VALUE, NB, NB, DUET_HANDLING_APPLY, NULL);
   assert_string_equal(only_change(&f)->from, "1");
   assert_string_equal(only_change(&f)->to, "2");
   diff_fixture_destroy(&f);
   f = diff_json(a, c_json);
   assert_change(only_change(&f), DUET_CHANGE_REMOVE_DEFAULT_VALUE, NB, NB, DUET_HANDLING_APPLY, NULL);
   assert_non_null(only_change(&f)->note);
   diff_fixture_destroy(&f);
   f = diff_json(a, a); /* same default: no change */
   assert_int_equal(f.diff->change_count, 0);
   diff_fixture_destroy(&f);
   bson_free(a);
   bson_free(b);
   bson_free(c_json);
}

/* Adding a required property updates existing documents with the zero value of its type. */
static void check_add_required_zero(const char *property, const char *zero_json)
{
   char *new_json = task_with(property, true);
   diff_fixture_t f = diff_json("{'title': 'Task', 'bsonType': 'object', 'required': ['_id'], 'properties': "
                                "{'_id': {'bsonType': 'objectId'}}}",
                                new_json);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_ADD_REQUIRED_PROPERTY, NB, NB, DUET_HANDLING_APPLY_UPDATE_DOCUMENTS,
                 "Property 'Task.p' has been added.");
   assert_int_equal(c->update_value_source, DUET_VALUE_ZERO);
   bson_t *expected = TEST_JSON(zero_json);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, expected, "v"));
   const bson_value_t *want = bson_iter_value(&iter);
   assert_int_equal(c->update_value.value_type, want->value_type);
   bson_t actual = BSON_INITIALIZER;
   BSON_APPEND_VALUE(&actual, "v", &c->update_value);
   ASSERT_JSON_EQ(&actual, zero_json);
   bson_destroy(&actual);
   bson_destroy(expected);
   assert_false(f.diff->breaking);
   diff_fixture_destroy(&f);
   bson_free(new_json);
}

static void test_add_required_property(void **state)
{
   (void)state;
   check_add_required_zero("{'bsonType': 'int'}", "{\"v\": {\"$numberInt\": \"0\"}}");
   check_add_required_zero("{'bsonType': 'long'}", "{\"v\": {\"$numberLong\": \"0\"}}");
   check_add_required_zero("{'bsonType': 'double'}", "{\"v\": 0.0}");
   check_add_required_zero("{'bsonType': 'decimal'}", "{\"v\": {\"$numberDecimal\": \"0\"}}");
   check_add_required_zero("{'bsonType': 'string'}", "{\"v\": \"\"}");
   check_add_required_zero("{'bsonType': 'bool'}", "{\"v\": false}");
   check_add_required_zero("{'bsonType': 'date'}", "{\"v\": {\"$date\": {\"$numberLong\": \"0\"}}}");
   check_add_required_zero("{'bsonType': 'objectId'}", "{\"v\": {\"$oid\": \"000000000000000000000000\"}}");
   check_add_required_zero("{'bsonType': 'uuid'}",
                           "{\"v\": {\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAA==\", \"subType\": \"04\"}}}");
   check_add_required_zero("{'bsonType': 'mixed'}", "{\"v\": null}");
   check_add_required_zero("{'bsonType': 'array', 'items': {'bsonType': 'string'}}", "{\"v\": []}");

   /* with a default, documents get the default */
   char *new_json = task_with("{'bsonType': 'bool', 'default': true}", true);
   diff_fixture_t f = diff_json("{'title': 'Task', 'bsonType': 'object', 'required': ['_id'], 'properties': "
                                "{'_id': {'bsonType': 'objectId'}}}",
                                new_json);
   const duet_schema_change_t *c = only_change(&f);
   assert_int_equal(c->update_value_source, DUET_VALUE_DEFAULT);
   assert_true(c->update_value.value_type == BSON_TYPE_BOOL && c->update_value.value.v_bool);
   char *text = duet_schema_change_handling_text(c);
   assert_contains(text, "its default value true");
   bson_free(text);
   diff_fixture_destroy(&f);
   bson_free(new_json);
}

static void test_add_optional_property(void **state)
{
   (void)state;
   char *new_json = task_with("{'bsonType': 'string'}", false);
   diff_fixture_t f = diff_json("{'title': 'Task', 'bsonType': 'object', 'required': ['_id'], 'properties': "
                                "{'_id': {'bsonType': 'objectId'}}}",
                                new_json);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_ADD_OPTIONAL_PROPERTY, NB, NB, DUET_HANDLING_APPLY,
                 "Property 'Task.p' has been added.");
   assert_string_equal(c->to, "string");
   assert_int_equal(c->update_value_source, DUET_VALUE_NONE);
   assert_non_null(c->new_property);
   assert_null(c->old_property);
   diff_fixture_destroy(&f);
   bson_free(new_json);
}

static void test_remove_object_type(void **state)
{
   (void)state;
   diff_fixture_t f = diff_json("{'Task': " TASK_V1 ", 'Note': {'bsonType': 'object', 'required': ['_id'], "
                                "'properties': {'_id': {'bsonType': 'objectId'}}}}",
                                TASK_V1);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_REMOVE_OBJECT_TYPE, BR, NB, DUET_HANDLING_CLIENT_ONLY,
                 "Class 'Note' has been removed.");
   assert_string_equal(c->collection, "Note");
   assert_string_equal(c->from, "Note");
   assert_true(f.diff->breaking);
   diff_fixture_destroy(&f);
}

static void test_remove_property(void **state)
{
   (void)state;
   /* optional and required alike */
   diff_fixture_t f = diff_json(TASK_V1, "{'title': 'Task', 'bsonType': 'object', 'required': ['_id'], "
                                         "'properties': {'_id': {'bsonType': 'objectId'}}}");
   assert_int_equal(f.diff->change_count, 2);
   assert_change(&f.diff->changes[0], DUET_CHANGE_REMOVE_PROPERTY, BR, NB, DUET_HANDLING_CLIENT_ONLY,
                 "Property 'Task.name' has been removed.");
   assert_string_equal(f.diff->changes[0].from, "string");
   assert_true(f.diff->changes[0].old_property->required);
   assert_change(&f.diff->changes[1], DUET_CHANGE_REMOVE_PROPERTY, BR, NB, DUET_HANDLING_CLIENT_ONLY,
                 "Property 'Task.done' has been removed.");
   assert_false(f.diff->changes[1].old_property->required);
   assert_true(f.diff->breaking);
   char *message = duet_schema_diff_realm_message(f.diff);
   assert_string_equal(message, "The following changes cannot be made in additive-only schema mode:\n"
                                "- Property 'Task.name' has been removed.\n"
                                "- Property 'Task.done' has been removed.\n"
                                "If your app is running in development mode, you can delete the realm and restart "
                                "the app to update your schema.");
   bson_free(message);
   diff_fixture_destroy(&f);
}

static void test_rename_object_type(void **state)
{
   (void)state;
   const char *renamed = "{'title': 'Todo', 'bsonType': 'object', 'required': ['_id', 'name'], 'properties': {"
                         "'_id': {'bsonType': 'objectId'}, 'name': {'bsonType': 'string'}, 'done': {'bsonType': "
                         "'bool'}}}";
   duet_schema_rename_t rename;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_schema_rename_parse("Task=Todo", true, &rename, &error));
   duet_schema_diff_options_t options = {NULL, 0, &rename, 1};
   diff_fixture_t f = diff_json_with(TASK_V1, renamed, &options);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_RENAME_OBJECT_TYPE, BR, BR, DUET_HANDLING_REMAP_NAME,
                 "Class 'Task' has been removed.\nClass 'Todo' has been added.");
   assert_string_equal(c->from, "Task");
   assert_string_equal(c->to, "Todo");
   assert_true(f.diff->breaking);
   diff_fixture_destroy(&f);

   /* without the hint: remove + add, each with a note suggesting the rename */
   f = diff_json(TASK_V1, renamed);
   assert_int_equal(f.diff->change_count, 2);
   assert_int_equal(f.diff->changes[0].kind, DUET_CHANGE_REMOVE_OBJECT_TYPE);
   assert_int_equal(f.diff->changes[1].kind, DUET_CHANGE_ADD_OBJECT_TYPE);
   assert_contains(f.diff->changes[0].note, "--rename-collection Task=Todo");
   assert_contains(f.diff->changes[1].note, "--rename-collection Task=Todo");
   diff_fixture_destroy(&f);

   /* a hint naming a type that does not exist is bad input */
   duet_schema_rename_t bad;
   assert_true(duet_schema_rename_parse("Tsak=Todo", true, &bad, &error));
   duet_schema_diff_options_t bad_options = {NULL, 0, &bad, 1};
   duet_schema_set_t *old_set = parse_ok("old.json", TASK_V1);
   duet_schema_set_t *new_set = parse_ok("new.json", renamed);
   duet_schema_diff_t *diff = NULL;
   assert_false(duet_schema_diff(old_set, new_set, &bad_options, &diff, &error));
   assert_null(diff);
   assert_int_equal(error.code, DUET_ERR_BAD_VALUE);
   assert_contains(error.message, "old.json has no object type or collection 'Tsak'");
   duet_schema_set_destroy(old_set);
   duet_schema_set_destroy(new_set);
   duet_schema_rename_clear(&bad);
   duet_schema_rename_clear(&rename);
   duet_error_clear(&error);
}

static void test_rename_property(void **state)
{
   (void)state;
   const char *renamed = "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', 'title'], 'properties': {"
                         "'_id': {'bsonType': 'objectId'}, 'title': {'bsonType': 'string'}, 'done': {'bsonType': "
                         "'bool'}}}";
   /* without a hint: remove + add with a note suggesting --rename */
   diff_fixture_t f = diff_json(TASK_V1, renamed);
   assert_int_equal(f.diff->change_count, 2);
   assert_change(&f.diff->changes[0], DUET_CHANGE_REMOVE_PROPERTY, BR, NB, DUET_HANDLING_CLIENT_ONLY,
                 "Property 'Task.name' has been removed.");
   assert_change(&f.diff->changes[1], DUET_CHANGE_ADD_REQUIRED_PROPERTY, NB, NB, DUET_HANDLING_APPLY_UPDATE_DOCUMENTS,
                 "Property 'Task.title' has been added.");
   assert_contains(f.diff->changes[0].note, "--rename Task.name=Task.title");
   assert_contains(f.diff->changes[1].note, "--rename Task.name=Task.title");
   diff_fixture_destroy(&f);

   /* with the hint */
   duet_schema_rename_t rename;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_schema_rename_parse("Task.name=Task.title", false, &rename, &error));
   duet_schema_diff_options_t options = {&rename, 1, NULL, 0};
   f = diff_json_with(TASK_V1, renamed, &options);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_RENAME_PROPERTY, BR, BR, DUET_HANDLING_REMAP_NAME,
                 "Property 'Task.name' has been removed.\nProperty 'Task.title' has been added.");
   assert_string_equal(c->from, "name");
   assert_string_equal(c->to, "title");
   assert_string_equal(c->property, "name");
   assert_true(f.diff->breaking);
   /* Realm's refusal lists only what additive mode cannot make: the removal, not the addition */
   char *message = duet_schema_diff_realm_message(f.diff);
   assert_string_equal(message, "The following changes cannot be made in additive-only schema mode:\n"
                                "- Property 'Task.name' has been removed.\n"
                                "If your app is running in development mode, you can delete the realm and restart "
                                "the app to update your schema.");
   bson_free(message);
   diff_fixture_destroy(&f);

   /* different types: no suggestion */
   f = diff_json(TASK_V1, "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', 'title'], 'properties': {"
                          "'_id': {'bsonType': 'objectId'}, 'title': {'bsonType': 'int'}, 'done': {'bsonType': "
                          "'bool'}}}");
   assert_int_equal(f.diff->change_count, 2);
   assert_null(f.diff->changes[0].note);
   diff_fixture_destroy(&f);

   /* a hint whose old property does not exist */
   duet_schema_rename_t bad;
   assert_true(duet_schema_rename_parse("Task.nme=Task.title", false, &bad, &error));
   duet_schema_diff_options_t bad_options = {&bad, 1, NULL, 0};
   duet_schema_set_t *old_set = parse_ok("old.json", TASK_V1);
   duet_schema_set_t *new_set = parse_ok("new.json", renamed);
   duet_schema_diff_t *diff = NULL;
   assert_false(duet_schema_diff(old_set, new_set, &bad_options, &diff, &error));
   assert_contains(error.message, "no property 'nme' of 'Task'");
   duet_schema_rename_clear(&bad);
   /* a hint whose new property does not exist */
   assert_true(duet_schema_rename_parse("Task.name=Task.label", false, &bad, &error));
   duet_schema_diff_options_t bad_options2 = {&bad, 1, NULL, 0};
   assert_false(duet_schema_diff(old_set, new_set, &bad_options2, &diff, &error));
   assert_contains(error.message, "renamed to 'label', which the new schema does not define");
   duet_schema_rename_clear(&bad);
   duet_schema_set_destroy(old_set);
   duet_schema_set_destroy(new_set);
   duet_schema_rename_clear(&rename);
   duet_error_clear(&error);
}

/* Changing `p` from one type to another gives Realm's line with Realm type names. */
static void check_type_change(const char *from, const char *to, const char *message, const char *from_spelling,
                              const char *to_spelling)
{
   char *old_json = task_with(from, false);
   char *new_json = task_with(to, false);
   diff_fixture_t f = diff_json(old_json, new_json);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_CHANGE_PROPERTY_TYPE, BR, BR, DUET_HANDLING_PARTNER_COLLECTION, message);
   assert_string_equal(c->from, from_spelling);
   assert_string_equal(c->to, to_spelling);
   assert_false(c->primary_key);
   assert_true(f.diff->breaking);
   diff_fixture_destroy(&f);
   bson_free(old_json);
   bson_free(new_json);
}

static void test_change_property_type_realm_names(void **state)
{
   (void)state;
   check_type_change("{'bsonType': 'objectId'}", "{'bsonType': 'string'}",
                     "Property 'Task.p' has been changed from 'object id' to 'string'.", "objectId", "string");
   check_type_change("{'bsonType': 'int'}", "{'bsonType': 'double'}",
                     "Property 'Task.p' has been changed from 'int' to 'double'.", "int", "double");
   check_type_change("{'bsonType': 'long'}", "{'bsonType': 'decimal'}",
                     "Property 'Task.p' has been changed from 'int' to 'decimal'.", "long", "decimal");
   check_type_change("{'bsonType': 'bool'}", "{'bsonType': 'date'}",
                     "Property 'Task.p' has been changed from 'bool' to 'date'.", "bool", "date");
   check_type_change("{'bsonType': 'uuid'}", "{'bsonType': 'binData'}",
                     "Property 'Task.p' has been changed from 'uuid' to 'data'.", "uuid", "binData");
   check_type_change("{'bsonType': 'string'}", "{'bsonType': 'mixed'}",
                     "Property 'Task.p' has been changed from 'string' to 'mixed'.", "string", "mixed");
   check_type_change("{'bsonType': 'array', 'items': {'bsonType': 'int'}}",
                     "{'bsonType': 'array', 'uniqueItems': true, 'items': {'bsonType': 'int'}}",
                     "Property 'Task.p' has been changed from 'array<int>' to 'set<int>'.", "array<int>", "set<int>");
   check_type_change("{'bsonType': 'array', 'items': {'bsonType': 'string'}}",
                     "{'bsonType': 'object', 'additionalProperties': {'bsonType': 'double'}}",
                     "Property 'Task.p' has been changed from 'array<string>' to 'dictionary<string, double>'.",
                     "array<string>", "dictionary<double>");
   check_type_change("{'bsonType': 'object', 'additionalProperties': true}", "{'bsonType': 'string'}",
                     "Property 'Task.p' has been changed from 'dictionary<string, mixed>' to 'string'.",
                     "dictionary<mixed>", "string");
   check_type_change("{'bsonType': 'object', 'title': 'Address', 'properties': {'zip': {'bsonType': 'string'}}}",
                     "{'bsonType': 'object', 'title': 'Location', 'properties': {'zip': {'bsonType': 'string'}}}",
                     "Property 'Task.p' has been changed from '<Address>' to '<Location>'.", "<Address>", "<Location>");
   check_type_change("{'bsonType': 'array', 'items': {'bsonType': 'object', 'title': 'Line', 'properties': {'sku': "
                     "{'bsonType': 'string'}}}}",
                     "{'bsonType': 'object', 'additionalProperties': {'bsonType': 'object', 'title': 'Line', "
                     "'properties': {'sku': {'bsonType': 'string'}}}}",
                     "Property 'Task.p' has been changed from 'array<Line>' to 'dictionary<string, Line>'.",
                     "array<Line>", "dictionary<Line>");
   check_type_change("{'bsonType': 'array', 'uniqueItems': true, 'items': {'bsonType': 'objectId'}}",
                     "{'bsonType': 'array', 'uniqueItems': true, 'items': {'bsonType': 'uuid'}}",
                     "Property 'Task.p' has been changed from 'set<object id>' to 'set<uuid>'.", "set<objectId>",
                     "set<uuid>");
}

static void test_int_long_same_realm_type(void **state)
{
   (void)state;
   char *old_json = task_with("{'bsonType': 'int'}", false);
   char *new_json = task_with("{'bsonType': 'long'}", false);
   diff_fixture_t f = diff_json(old_json, new_json);
   const duet_schema_change_t *c = only_change(&f);
   /* the server schema changes; the Realm type ('int') does not, so Realm prints nothing */
   assert_change(c, DUET_CHANGE_CHANGE_PROPERTY_TYPE, BR, NB, DUET_HANDLING_PARTNER_COLLECTION, NULL);
   assert_contains(c->note, "both Realm 'int'");
   assert_true(f.diff->breaking);
   diff_fixture_destroy(&f);
   bson_free(old_json);
   bson_free(new_json);
}

static void test_change_optional_required(void **state)
{
   (void)state;
   char *optional = task_with("{'bsonType': 'string'}", false);
   char *required = task_with("{'bsonType': 'string'}", true);
   diff_fixture_t f = diff_json(optional, required);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED, BR, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Task.p' has been made required.");
   assert_string_equal(c->from, "optional");
   assert_string_equal(c->to, "required");
   diff_fixture_destroy(&f);
   f = diff_json(required, optional);
   c = only_change(&f);
   assert_change(c, DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED, BR, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Task.p' has been made optional.");
   assert_string_equal(c->from, "required");
   assert_string_equal(c->to, "optional");
   diff_fixture_destroy(&f);
   bson_free(optional);
   bson_free(required);
}

/* ---- primary key ------------------------------------------------------------------- */

static void test_primary_key_type_change(void **state)
{
   (void)state;
   /* the seeds' Task -> TaskV2: _id objectId -> string */
   diff_fixture_t f = diff_json(TASK_V1, "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', 'name'], "
                                         "'properties': {'_id': {'bsonType': 'string'}, 'name': {'bsonType': "
                                         "'string'}, 'done': {'bsonType': 'bool'}}}");
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_CHANGE_PROPERTY_TYPE, BR, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Task._id' has been changed from 'object id' to 'string'.");
   assert_true(c->primary_key);
   assert_string_equal(c->property, "_id");
   assert_string_equal(c->from, "objectId");
   assert_string_equal(c->to, "string");
   char *message = duet_schema_diff_realm_message(f.diff);
   assert_string_equal(message, "The following changes cannot be made in additive-only schema mode:\n"
                                "- Property 'Task._id' has been changed from 'object id' to 'string'.\n"
                                "If your app is running in development mode, you can delete the realm and restart "
                                "the app to update your schema.");
   bson_free(message);
   diff_fixture_destroy(&f);

   /* the seeds' int -> string example message */
   f = diff_json("{'title': 'Task', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'int'}}}",
                 "{'title': 'Task', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'string'}}}");
   assert_string_equal(only_change(&f)->message, "Property 'Task._id' has been changed from 'int' to 'string'.");
   diff_fixture_destroy(&f);
}

static void test_primary_key_added_and_removed(void **state)
{
   (void)state;
   const char *without = "{'title': 'Task', 'bsonType': 'object', 'properties': {'name': {'bsonType': 'string'}}}";
   const char *with = "{'title': 'Task', 'bsonType': 'object', 'required': ['_id'], 'properties': {'_id': "
                      "{'bsonType': 'objectId'}, 'name': {'bsonType': 'string'}}}";
   diff_fixture_t f = diff_json(without, with);
   const duet_schema_change_t *c = only_change(&f);
   assert_change(c, DUET_CHANGE_ADD_REQUIRED_PROPERTY, NB, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Task._id' has been added.\nPrimary Key for class 'Task' has been added.");
   assert_true(c->primary_key);
   assert_true(f.diff->breaking);
   /* adding a primary key is refused in additive mode; the added column itself is not */
   char *added = duet_schema_diff_realm_message(f.diff);
   assert_string_equal(added, "The following changes cannot be made in additive-only schema mode:\n"
                              "- Primary Key for class 'Task' has been added.\n"
                              "If your app is running in development mode, you can delete the realm and restart "
                              "the app to update your schema.");
   bson_free(added);
   diff_fixture_destroy(&f);
   f = diff_json(with, without);
   c = only_change(&f);
   assert_change(c, DUET_CHANGE_REMOVE_PROPERTY, BR, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Task._id' has been removed.\nPrimary Key for class 'Task' has been removed.");
   char *message = duet_schema_diff_realm_message(f.diff);
   assert_contains(message, "\n- Property 'Task._id' has been removed.\n- Primary Key for class 'Task' has been "
                            "removed.\n");
   bson_free(message);
   diff_fixture_destroy(&f);
}

/* ---- nesting, files, order ------------------------------------------------------------ */

static void test_nested_embedded_properties(void **state)
{
   (void)state;
   const char *old_json =
       "{'title': 'Person', 'bsonType': 'object', 'required': ['_id'], 'properties': {'_id': {'bsonType': "
       "'objectId'}, 'address': {'bsonType': 'object', 'title': 'Address', 'required': ['street'], 'properties': {"
       "'street': {'bsonType': 'string'}, 'zip': {'bsonType': 'int'}, 'city': {'bsonType': 'string'}}}, "
       "'pets': {'bsonType': 'array', 'items': {'bsonType': 'object', 'title': 'Pet', 'properties': {'name': "
       "{'bsonType': 'string'}}}}}}";
   const char *new_json =
       "{'title': 'Person', 'bsonType': 'object', 'required': ['_id'], 'properties': {'_id': {'bsonType': "
       "'objectId'}, 'address': {'bsonType': 'object', 'title': 'Address', 'required': ['street', 'country'], "
       "'properties': {'street': {'bsonType': 'string'}, 'zip': {'bsonType': 'string'}, 'country': {'bsonType': "
       "'string', 'default': 'NL'}}}, 'pets': {'bsonType': 'array', 'items': {'bsonType': 'object', 'title': 'Pet', "
       "'required': ['name'], 'properties': {'name': {'bsonType': 'string'}}}}}}";
   diff_fixture_t f = diff_json(old_json, new_json);
   assert_int_equal(f.diff->change_count, 4);
   const duet_schema_change_t *c = f.diff->changes;
   assert_change(&c[0], DUET_CHANGE_CHANGE_PROPERTY_TYPE, BR, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Address.zip' has been changed from 'int' to 'string'.");
   assert_string_equal(c[0].collection, "Person");
   assert_string_equal(c[0].object_type, "Address");
   assert_string_equal(c[0].property, "address.zip");
   assert_change(&c[1], DUET_CHANGE_REMOVE_PROPERTY, BR, NB, DUET_HANDLING_CLIENT_ONLY,
                 "Property 'Address.city' has been removed.");
   assert_string_equal(c[1].property, "address.city");
   assert_change(&c[2], DUET_CHANGE_ADD_REQUIRED_PROPERTY, NB, NB, DUET_HANDLING_APPLY_UPDATE_DOCUMENTS,
                 "Property 'Address.country' has been added.");
   assert_string_equal(c[2].property, "address.country");
   assert_int_equal(c[2].update_value_source, DUET_VALUE_DEFAULT);
   assert_string_equal(c[2].update_value.value.v_utf8.str, "NL");
   assert_change(&c[3], DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED, BR, BR, DUET_HANDLING_PARTNER_COLLECTION,
                 "Property 'Pet.name' has been made required.");
   assert_string_equal(c[3].property, "pets.name");

   /* a rename inside an embedded object */
   duet_schema_rename_t rename;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_schema_rename_parse("Person.address.city=Person.address.country", false, &rename, &error));
   duet_schema_diff_options_t options = {&rename, 1, NULL, 0};
   diff_fixture_t g = diff_json_with(old_json, new_json, &options);
   assert_int_equal(g.diff->change_count, 5);
   assert_int_equal(g.diff->changes[1].kind, DUET_CHANGE_RENAME_PROPERTY);
   assert_string_equal(g.diff->changes[1].from, "address.city");
   assert_string_equal(g.diff->changes[1].to, "address.country");
   assert_string_equal(g.diff->changes[1].message,
                       "Property 'Address.city' has been removed.\nProperty 'Address.country' has been added.");
   /* the renamed property also became required and got a default */
   assert_int_equal(g.diff->changes[2].kind, DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED);
   assert_int_equal(g.diff->changes[3].kind, DUET_CHANGE_ADD_DEFAULT_VALUE);
   diff_fixture_destroy(&g);
   duet_schema_rename_clear(&rename);
   diff_fixture_destroy(&f);
}

static void test_multi_collection_files(void **state)
{
   (void)state;
   /* an array of schemas vs an object keyed by collection name */
   const char *old_json = "[{'title': 'Task', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'int'}}},"
                          " {'title': 'User', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'string'}}},"
                          " {'title': 'Log', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'string'}}}]";
   const char *new_json = "{'tasks': {'title': 'Task', 'bsonType': 'object', 'properties': {'_id': {'bsonType': "
                          "'string'}}}, 'users': {'title': 'User', 'bsonType': 'object', 'properties': {'_id': "
                          "{'bsonType': 'string'}, 'email': {'bsonType': 'string'}}}, 'Tag': {'bsonType': 'object',"
                          " 'properties': {'_id': {'bsonType': 'string'}}}}";
   diff_fixture_t f = diff_json(old_json, new_json);
   assert_int_equal(f.diff->change_count, 4);
   assert_int_equal(f.diff->changes[0].kind, DUET_CHANGE_CHANGE_PROPERTY_TYPE);
   assert_string_equal(f.diff->changes[0].object_type, "Task");
   assert_int_equal(f.diff->changes[1].kind, DUET_CHANGE_ADD_OPTIONAL_PROPERTY);
   assert_string_equal(f.diff->changes[1].message, "Property 'User.email' has been added.");
   assert_int_equal(f.diff->changes[2].kind, DUET_CHANGE_REMOVE_OBJECT_TYPE);
   assert_string_equal(f.diff->changes[2].collection, "Log");
   assert_int_equal(f.diff->changes[3].kind, DUET_CHANGE_ADD_OBJECT_TYPE);
   assert_string_equal(f.diff->changes[3].collection, "Tag");
   assert_string_equal(f.diff->changes[3].message, "Class 'Tag' has been added.");
   /* same property names: the remove/add pair gets a rename suggestion */
   assert_contains(f.diff->changes[2].note, "--rename-collection Log=Tag");
   char *message = duet_schema_diff_realm_message(f.diff);
   assert_string_equal(message, "The following changes cannot be made in additive-only schema mode:\n"
                                "- Property 'Task._id' has been changed from 'int' to 'string'.\n"
                                "- Class 'Log' has been removed.\n"
                                "If your app is running in development mode, you can delete the realm and restart "
                                "the app to update your schema.");
   bson_free(message);
   diff_fixture_destroy(&f);

   /* a keyed collection renamed while its title stays: no object-type change */
   duet_schema_rename_t rename;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_schema_rename_parse("tasks=tasks_v2", true, &rename, &error));
   duet_schema_diff_options_t options = {NULL, 0, &rename, 1};
   f = diff_json_with("{'tasks': " TASK_V1 "}", "{'tasks_v2': " TASK_V1 "}", &options);
   assert_int_equal(f.diff->change_count, 0);
   assert_false(f.diff->breaking);
   diff_fixture_destroy(&f);
   duet_schema_rename_clear(&rename);
}

static void test_identical_and_reordered(void **state)
{
   (void)state;
   diff_fixture_t f = diff_json(TASK_V1, "{'bsonType': 'object', 'title': 'Task', 'properties': {'done': "
                                         "{'bsonType': 'bool'}, 'name': {'bsonType': 'string'}, '_id': {'bsonType': "
                                         "'objectId'}}, 'required': ['name', '_id']}");
   assert_int_equal(f.diff->change_count, 0);
   assert_false(f.diff->breaking);
   assert_null(duet_schema_diff_realm_message(f.diff));
   diff_fixture_destroy(&f);
}

static void test_rename_parse(void **state)
{
   (void)state;
   duet_schema_rename_t r;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_schema_rename_parse("Task.a.b=Task.a.c", false, &r, &error));
   assert_string_equal(r.collection, "Task");
   assert_string_equal(r.from, "a.b");
   assert_string_equal(r.to, "a.c");
   duet_schema_rename_clear(&r);
   assert_true(duet_schema_rename_parse("Task.name=TaskV2.title", false, &r, &error));
   assert_string_equal(r.to, "title");
   duet_schema_rename_clear(&r);
   assert_true(duet_schema_rename_parse("Task.name=title", false, &r, &error));
   assert_string_equal(r.to, "title");
   duet_schema_rename_clear(&r);
   const char *bad[] = {"Task.name", "=x", "Task.name=", "name=title", "Task.a.b=Task.c", "a=b=c", ".x=y"};
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      assert_false(duet_schema_rename_parse(bad[i], false, &r, &error));
      assert_int_equal(error.code, DUET_ERR_BAD_VALUE);
      assert_contains(error.message, "--rename");
   }
   assert_false(duet_schema_rename_parse("Task", true, &r, &error));
   assert_contains(error.message, "expected Old=New");
   duet_error_clear(&error);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_add_object_type),
       cmocka_unit_test(test_add_default_value),
       cmocka_unit_test(test_change_and_remove_default_value),
       cmocka_unit_test(test_add_required_property),
       cmocka_unit_test(test_add_optional_property),
       cmocka_unit_test(test_remove_object_type),
       cmocka_unit_test(test_remove_property),
       cmocka_unit_test(test_rename_object_type),
       cmocka_unit_test(test_rename_property),
       cmocka_unit_test(test_change_property_type_realm_names),
       cmocka_unit_test(test_int_long_same_realm_type),
       cmocka_unit_test(test_change_optional_required),
       cmocka_unit_test(test_primary_key_type_change),
       cmocka_unit_test(test_primary_key_added_and_removed),
       cmocka_unit_test(test_nested_embedded_properties),
       cmocka_unit_test(test_multi_collection_files),
       cmocka_unit_test(test_identical_and_reordered),
       cmocka_unit_test(test_rename_parse),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
