/*
 * test_schema_parse.c — App Services schema JSON → duet_schema_set_t: the three file
 * shapes, every property form (scalars, embedded objects, lists, sets, dictionaries),
 * key order, warnings, and one clear message for each bad input (JSON syntax with line
 * and column, unknown bsonType, `required` naming a missing property, a default of the
 * wrong type, a root that is not an object schema, duplicate titles, ...).
 */
#include "schema_test_util.h"

static void test_single_schema_in_written_order(void **state)
{
   (void)state;
   duet_schema_set_t *set = parse_ok(
       "t.json", "{'title': 'Task', 'bsonType': 'object', 'required': ['_id', 'name'], 'properties': {"
                 "'_id': {'bsonType': 'objectId'}, 'name': {'bsonType': 'string'}, 'zeta': {'bsonType': 'int'},"
                 " 'alpha': {'bsonType': 'long'}, 'complete': {'bsonType': 'bool', 'default': false}}}");
   assert_int_equal(set->schema_count, 1);
   assert_string_equal(set->source, "t.json");
   const duet_schema_t *task = &set->schemas[0];
   assert_string_equal(task->collection, "Task");
   assert_string_equal(task->root.title, "Task");
   assert_int_equal(task->root.property_count, 5);
   const char *order[] = {"_id", "name", "zeta", "alpha", "complete"};
   for (size_t i = 0; i < 5; i++) {
      assert_string_equal(task->root.properties[i].name, order[i]);
   }
   assert_true(task->root.properties[0].required);
   assert_true(task->root.properties[1].required);
   assert_false(task->root.properties[2].required);
   assert_int_equal(task->root.properties[3].type.element, DUET_SCHEMA_LONG);
   const duet_schema_property_t *complete = duet_schema_object_find(&task->root, "complete");
   assert_true(complete->has_default);
   assert_int_equal(complete->default_value.value_type, BSON_TYPE_BOOL);
   assert_false(complete->default_value.value.v_bool);
   assert_int_equal(set->warning_count, 0);
   assert_ptr_equal(duet_schema_set_find(set, "Task"), task);
   assert_null(duet_schema_set_find(set, "Nope"));
   duet_schema_set_destroy(set);
}

static void test_property_forms(void **state)
{
   (void)state;
   duet_schema_set_t *set = parse_ok(
       "t.json", "{'title': 'Shop', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'uuid'},"
                 " 'tags': {'bsonType': 'array', 'items': {'bsonType': 'string'}},"
                 " 'codes': {'bsonType': 'array', 'uniqueItems': true, 'items': {'bsonType': 'int'}},"
                 " 'prices': {'bsonType': 'object', 'additionalProperties': {'bsonType': 'decimal'}},"
                 " 'extra': {'bsonType': 'object', 'properties': {}, 'additionalProperties': true},"
                 " 'owner': {'bsonType': 'object', 'title': 'Owner', 'properties': {'name': {'bsonType': 'string'}}},"
                 " 'lines': {'bsonType': 'array', 'items': {'bsonType': 'object', 'properties': {'sku': {'bsonType': "
                 "'string'}}}},"
                 " 'nullable': {'bsonType': ['date', 'null']},"
                 " 'blob': {'bsonType': 'binData'}, 'any': {'bsonType': 'mixed'}, 'inferred': {'properties': {'x': "
                 "{'bsonType': 'double'}}}}}");
   const duet_schema_object_t *shop = &set->schemas[0].root;
   struct {
      const char *name;
      const char *spelling;
      const char *realm;
   } expected[] = {
       {"_id", "uuid", "uuid"},
       {"tags", "array<string>", "array<string>"},
       {"codes", "set<int>", "set<int>"},
       {"prices", "dictionary<decimal>", "dictionary<string, decimal>"},
       {"extra", "dictionary<mixed>", "dictionary<string, mixed>"},
       {"owner", "<Owner>", "<Owner>"},
       {"lines", "array<lines>", "array<lines>"}, /* untitled embedded object: named after the property */
       {"nullable", "date", "date"},
       {"blob", "binData", "data"},
       {"any", "mixed", "mixed"},
       {"inferred", "<inferred>", "<inferred>"},
   };
   assert_int_equal(shop->property_count, sizeof expected / sizeof expected[0]);
   for (size_t i = 0; i < shop->property_count; i++) {
      assert_string_equal(shop->properties[i].name, expected[i].name);
      char *spelling = duet_schema_type_spelling(&shop->properties[i].type);
      char *realm = duet_schema_type_realm_name(&shop->properties[i].type);
      assert_string_equal(spelling, expected[i].spelling);
      assert_string_equal(realm, expected[i].realm);
      bson_free(spelling);
      bson_free(realm);
   }
   const duet_schema_property_t *owner = duet_schema_object_find(shop, "owner");
   assert_non_null(owner->type.object);
   assert_string_equal(owner->type.object->properties[0].name, "name");
   assert_int_equal(duet_schema_object_find(shop, "lines")->type.container, DUET_SCHEMA_LIST);
   /* no _id of a primary-key type? uuid is one: no warning */
   assert_int_equal(set->warning_count, 0);
   duet_schema_set_destroy(set);
}

static void test_numeric_defaults_take_the_property_type(void **state)
{
   (void)state;
   duet_schema_set_t *set = parse_ok("d.json", "{'title': 'T', 'bsonType': 'object', 'properties': {"
                                               "'i': {'bsonType': 'int', 'default': 7}, 'l': {'bsonType': 'long', "
                                               "'default': 7}, 'd': {'bsonType': 'double', 'default': 7}, 'm': "
                                               "{'bsonType': 'decimal', 'default': 2.5}, 'n': {'bsonType': "
                                               "'decimal', 'default': 3}}}");
   const duet_schema_object_t *t = &set->schemas[0].root;
   assert_int_equal(t->properties[0].default_value.value_type, BSON_TYPE_INT32);
   assert_int_equal(t->properties[1].default_value.value_type, BSON_TYPE_INT64);
   assert_int_equal(t->properties[1].default_value.value.v_int64, 7);
   assert_int_equal(t->properties[2].default_value.value_type, BSON_TYPE_DOUBLE);
   assert_true(t->properties[2].default_value.value.v_double == 7.0);
   char text[BSON_DECIMAL128_STRING];
   assert_int_equal(t->properties[3].default_value.value_type, BSON_TYPE_DECIMAL128);
   bson_decimal128_to_string(&t->properties[3].default_value.value.v_decimal128, text);
   assert_string_equal(text, "2.5");
   bson_decimal128_to_string(&t->properties[4].default_value.value.v_decimal128, text);
   assert_string_equal(text, "3");
   duet_schema_set_destroy(set);
}

static void test_array_and_keyed_files(void **state)
{
   (void)state;
   duet_schema_set_t *set = parse_ok("a.json", "[{'title': 'A', 'bsonType': 'object', 'properties': {'_id': "
                                               "{'bsonType': 'int'}}}, {'title': 'B', 'bsonType': 'object', "
                                               "'properties': {'_id': {'bsonType': 'string'}}}]");
   assert_int_equal(set->schema_count, 2);
   assert_string_equal(set->schemas[0].collection, "A");
   assert_string_equal(set->schemas[1].root.title, "B");
   duet_schema_set_destroy(set);

   set = parse_ok("k.json", "{'tasks': {'title': 'Task', 'bsonType': 'object', 'properties': {'_id': "
                            "{'bsonType': 'int'}}}, 'Note': {'bsonType': 'object', 'properties': {'_id': "
                            "{'bsonType': 'int'}}}}");
   assert_int_equal(set->schema_count, 2);
   assert_string_equal(set->schemas[0].collection, "tasks");
   assert_string_equal(set->schemas[0].root.title, "Task");
   assert_string_equal(set->schemas[1].collection, "Note");
   assert_string_equal(set->schemas[1].root.title, "Note"); /* the key names an untitled schema */
   assert_ptr_equal(duet_schema_set_find(set, "tasks"), &set->schemas[0]);
   assert_ptr_equal(duet_schema_set_find(set, "Task"), &set->schemas[0]);
   duet_schema_set_destroy(set);
}

static void test_warnings(void **state)
{
   (void)state;
   /* the seeds write bsonType 'boolean'; a schema without _id cannot sync */
   duet_schema_set_t *set = parse_ok("w.json", "{'title': 'Task', 'bsonType': 'object', 'properties': {"
                                               "'complete': {'bsonType': 'boolean', 'default': false}}}");
   assert_int_equal(set->warning_count, 2);
   assert_string_equal(set->warnings[0],
                       "w.json: Task.complete: bsonType 'boolean' is not a BSON type name; read as 'bool'");
   assert_contains(set->warnings[1], "no '_id' property; Device Sync requires a primary key named _id");
   assert_int_equal(set->schemas[0].root.properties[0].type.element, DUET_SCHEMA_BOOL);
   duet_schema_set_destroy(set);

   set = parse_ok("w.json", "{'title': 'T', 'bsonType': 'object', 'properties': {'_id': {'bsonType': 'double'}}}");
   assert_int_equal(set->warning_count, 1);
   assert_contains(set->warnings[0], "'_id' is of type 'double'; a primary key must be");
   duet_schema_set_destroy(set);
}

/* ---- JSON syntax ---------------------------------------------------------------------- */

static void test_invalid_json_line_and_column(void **state)
{
   (void)state;
   char message[DUET_ERROR_MESSAGE_MAX];
   assert_int_equal(parse_fails("{'title': 'Task',\n  'bsonType': 'object',\n  'properties': {'a': x}}", message),
                    DUET_ERR_FAILED_TO_PARSE);
   assert_string_equal(message, "s.json: line 3, column 23: invalid JSON near 'x': expected a value (string, "
                                "number, object, array, true, false or null); fix the JSON syntax there");
   parse_fails("{'a': 1,\n 'b': [1, 2,]}", message);
   assert_contains(message, "s.json: line 2, column 13: invalid JSON near ']': a comma before a closing bracket");
   /* columns count characters, not bytes */
   parse_fails("{'t\xc3\xa9': 1 'x': 2}", message);
   assert_contains(message, "line 1, column 10: invalid JSON near '\"': an unexpected token (a missing comma?)");
   parse_fails("{'title': 'Task',\n 'bsonType': 'object'", message);
   assert_string_equal(message, "s.json: line 2, column 22: invalid JSON: the text ends before every object and "
                                "array is closed; add the missing '}' or ']'");
   parse_fails("{'title': 'A', 'bsonType': 'object'}\n{'title': 'B'}", message);
   assert_contains(message, "s.json: line 2, column 1: invalid JSON: a second value follows the schema");
   parse_fails("{'title': 'A', 'bsonType': 'object'} junk", message);
   assert_contains(message, "line 1, column 38: invalid JSON near 'j'");
   assert_int_equal(parse_fails("", message), DUET_ERR_FAILED_TO_PARSE);
   assert_contains(message, "s.json: the file is empty");
   parse_fails("  \n  ", message);
   assert_contains(message, "the file is empty");
   parse_fails("\n  'Task'", message);
   assert_contains(message, "s.json: line 2, column 3: the root is not an object schema");
   parse_fails("42", message);
   assert_contains(message, "the root is not an object schema");
   /* libbson's Extended JSON rules */
   parse_fails("{'title': 'T', 'bsonType': 'object', 'x': {'$numberLong': 5}}", message);
   assert_contains(message, "s.json: invalid JSON:");
}

static void test_nul_byte_and_invalid_utf8(void **state)
{
   (void)state;
   char message[DUET_ERROR_MESSAGE_MAX];
   parse_fails("{'title': 'T',\n 'x': '\xff'}", message);
   assert_string_equal(message, "s.json: line 2, column 8: invalid JSON: bytes that are not UTF-8; save the file as "
                                "UTF-8");
   parse_fails("{'a': '\xc3'}", message); /* truncated sequence */
   assert_contains(message, "line 1, column 8: invalid JSON: bytes that are not UTF-8");
   parse_fails("{'a': '\xc0\xaf'}", message); /* overlong */
   assert_contains(message, "bytes that are not UTF-8");
   parse_fails("{'a': '\xed\xa0\x80'}", message); /* surrogate */
   assert_contains(message, "bytes that are not UTF-8");
   duet_schema_set_t *ok = parse_ok("u.json", "{'title': 'T\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80', 'bsonType': "
                                              "'object'}");
   duet_schema_set_destroy(ok);
   const char text[] = "{\"title\": \"T\0\"}";
   duet_schema_set_t *set = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_false(duet_schema_set_parse("n.json", (const uint8_t *)text, sizeof text - 1, &set, &error));
   assert_contains(error.message, "n.json: line 1, column 13: invalid JSON: a NUL byte");
   duet_error_clear(&error);
}

/* ---- schema errors ------------------------------------------------------------------- */

static void test_bad_schemas(void **state)
{
   (void)state;
   char message[DUET_ERROR_MESSAGE_MAX];
   static const struct {
      const char *json;
      const char *expected;
   } cases[] = {
       /* unknown bsonType */
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'n': {'bsonType': 'integer'}}}",
        "s.json: T.n: unknown bsonType 'integer'; use one of: objectId, string, int, long, double, decimal, bool, "
        "date, uuid, binData, mixed, object, array"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 'array', 'items': {'bsonType': "
        "'float'}}}}",
        "s.json: T.a[]: unknown bsonType 'float'"},
       /* required naming a property that does not exist */
       {"{'title': 'T', 'bsonType': 'object', 'required': ['_id', 'nmae'], 'properties': {'_id': {'bsonType': "
        "'int'}, 'name': {'bsonType': 'string'}}}",
        "s.json: T: \"required\" names 'nmae', which is not in \"properties\"; define it or remove it from "
        "\"required\""},
       {"{'title': 'T', 'bsonType': 'object', 'required': ['_id', '_id'], 'properties': {'_id': {'bsonType': "
        "'int'}}}",
        "\"required\" lists '_id' twice"},
       {"{'title': 'T', 'bsonType': 'object', 'required': '_id', 'properties': {'_id': {'bsonType': 'int'}}}",
        "\"required\" is a string; it must be an array of property names"},
       /* default of the wrong type */
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'done': {'bsonType': 'bool', 'default': 'no'}}}",
        "s.json: T.done: the default \"no\" does not match the property's bsonType 'bool'; App Services does not "
        "check this"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'n': {'bsonType': 'int', 'default': 1.5}}}",
        "s.json: T.n: the default 1.5 does not match the property's bsonType 'int'"},
       /* root not an object schema */
       {"{'title': 'T', 'bsonType': 'array', 'items': {'bsonType': 'int'}}",
        "s.json: T: the root is not an object schema: its bsonType is 'array'"},
       {"{'title': 'T', 'properties': {}}", "s.json: T: the root is not an object schema: it has no \"bsonType\""},
       {"[{'title': 'T', 'bsonType': 'object'}, 5]", "s.json: schema [1]: the root is not an object schema: found "
                                                     "a number"},
       {"{'tasks': 'Task'}", "s.json: 'tasks': the root is not an object schema: found a string"},
       {"[]", "s.json: root array: holds no schema"},
       {"{}", "s.json: root object: holds no schema"},
       /* duplicate titles */
       {"[{'title': 'T', 'bsonType': 'object'}, {'title': 'T', 'bsonType': 'object'}]",
        "s.json: T: title 'T' is used by two schemas; titles name Realm object types and must be unique"},
       {"{'a': {'title': 'T', 'bsonType': 'object'}, 'b': {'title': 'T', 'bsonType': 'object'}}",
        "title 'T' is used by two schemas"},
       {"{'a': {'bsonType': 'object'}, 'a': {'bsonType': 'object'}}", "collection 'a' appears twice"},
       /* other shapes */
       {"{'bsonType': 'object', 'properties': {}}", "s.json: root schema: the schema has no \"title\""},
       {"{'title': 5, 'bsonType': 'object'}", "\"title\" is a number"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 'int'}, 'a': {'bsonType': 'int'}}}",
        "s.json: T.a: property 'a' is defined twice"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': 'string'}}",
        "s.json: T.a: the property's schema is a string"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'type': 'string'}}}",
        "uses the JSON Schema keyword \"type\""},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'description': 'x'}}}",
        "s.json: T.a: has no \"bsonType\""},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 'array'}}}",
        "s.json: T.a: is an array without \"items\""},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 'array', 'items': [{'bsonType': "
        "'int'}]}}}",
        "\"items\" is an array; it must be one schema object"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 'array', 'items': {'bsonType': "
        "'array', 'items': {'bsonType': 'int'}}}}}",
        "s.json: T.a[]: is a collection inside a collection"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 'array', 'uniqueItems': true, "
        "'items': {'bsonType': 'object', 'properties': {'x': {'bsonType': 'int'}}}}}}",
        "is a set of embedded objects"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': ['int', 'string']}}}",
        "\"bsonType\" lists both 'int' and 'string'"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'a': {'bsonType': 7}}}", "\"bsonType\" is a number"},
       {"{'title': 'T', 'bsonType': 'object', 'properties': {'o': {'bsonType': 'object', 'properties': {'x': "
        "{'bsonType': 'nope'}}}}}",
        "s.json: T.o.x: unknown bsonType 'nope'"},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      int32_t code = parse_fails(cases[i].json, message);
      assert_true(code == DUET_ERR_BAD_VALUE || code == DUET_ERR_FAILED_TO_PARSE);
      if (!strstr(message, cases[i].expected)) {
         fail_msg("case %zu: expected\n  %s\nin\n  %s", i, cases[i].expected, message);
      }
   }
}

static void test_depth_limit(void **state)
{
   (void)state;
   /* 80 nested embedded objects: refused with a message, not a crash */
   bson_string_t *json = bson_string_new("{'title': 'T', 'bsonType': 'object', 'properties': {'a': ");
   for (int i = 0; i < 80; i++) {
      bson_string_append(json, "{'bsonType': 'object', 'properties': {'a': ");
   }
   bson_string_append(json, "{'bsonType': 'int'}");
   for (int i = 0; i < 80; i++) {
      bson_string_append(json, "}}");
   }
   bson_string_append(json, "}}");
   char message[DUET_ERROR_MESSAGE_MAX];
   parse_fails(json->str, message);
   assert_true(strstr(message, "nesting is deeper than") || strstr(message, "invalid JSON"));
   bson_string_free(json, true);
}

static void test_load_file(void **state)
{
   (void)state;
   const char *source_dir = getenv("DUET_SOURCE_DIR");
   char *path = bson_strdup_printf("%s/tests/fixtures/schemas/task.json", source_dir ? source_dir : ".");
   duet_schema_set_t *set = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_schema_set_load(path, &set, &error));
   assert_string_equal(set->schemas[0].root.title, "Task");
   assert_string_equal(set->source, path);
   duet_schema_set_destroy(set);
   bson_free(path);
   assert_false(duet_schema_set_load("/nonexistent/old.json", &set, &error));
   assert_string_equal(error.message, "/nonexistent/old.json: cannot open the file (No such file or directory); "
                                      "check the path");
   assert_false(duet_schema_set_load("/", &set, &error));
   assert_contains(error.message, "/: cannot read the file");
   duet_error_clear(&error);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_single_schema_in_written_order),
       cmocka_unit_test(test_property_forms),
       cmocka_unit_test(test_numeric_defaults_take_the_property_type),
       cmocka_unit_test(test_array_and_keyed_files),
       cmocka_unit_test(test_warnings),
       cmocka_unit_test(test_invalid_json_line_and_column),
       cmocka_unit_test(test_nul_byte_and_invalid_utf8),
       cmocka_unit_test(test_bad_schemas),
       cmocka_unit_test(test_depth_limit),
       cmocka_unit_test(test_load_file),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
