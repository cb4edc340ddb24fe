/*
 * test_jsonschema_validate.c — $jsonSchema: every keyword's semantics (restrictions
 * apply only to their own type), MongoDB's parse errors, and the errInfo.details
 * report of a failing document (docs: schema-validation examples).
 */
#include "duet_test.h"

#include <duet/mql_match.h>

static bool valid(const char *schema_json, const char *doc_json)
{
   bson_t *schema = TEST_JSON(schema_json);
   bson_t *doc = TEST_JSON(doc_json);
   duet_error_t error = DUET_ERROR_INIT;
   bool is_valid = false;
   if (!duet_jsonschema_validate(schema, doc, &is_valid, NULL, &error)) {
      fail_msg("schema %s failed to parse: %d %s", schema_json, error.code, error.message);
   }
   /* the same through the matcher */
   bson_t filter = BSON_INITIALIZER;
   BSON_APPEND_DOCUMENT(&filter, "$jsonSchema", schema);
   duet_match_t *match;
   assert_true(duet_match_parse(&filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   bool matched;
   assert_true(duet_match_matches(match, doc, &matched, NULL, &error));
   assert_int_equal(matched, is_valid);
   duet_match_destroy(match);
   bson_destroy(&filter);
   bson_destroy(schema);
   bson_destroy(doc);
   return is_valid;
}

#define VALID(s, d) assert_true(valid((s), (d)))
#define INVALID(s, d) assert_false(valid((s), (d)))

static void expect_schema_error(const char *schema_json, int32_t code, const char *message)
{
   bson_t *schema = TEST_JSON(schema_json);
   bson_t *doc = TEST_JSON("{}");
   duet_error_t error = DUET_ERROR_INIT;
   bool is_valid;
   if (duet_jsonschema_validate(schema, doc, &is_valid, NULL, &error)) {
      fail_msg("schema %s parsed; expected %d %s", schema_json, code, message);
   }
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s: got %d '%s', expected %d '%s'", schema_json, error.code, error.message, code, message);
   }
   duet_error_clear(&error);
   bson_destroy(schema);
   bson_destroy(doc);
}

static void expect_details(const char *schema_json, const char *doc_json, const char *expected_json)
{
   bson_t *schema = TEST_JSON(schema_json);
   bson_t *doc = TEST_JSON(doc_json);
   duet_error_t error = DUET_ERROR_INIT;
   bool is_valid;
   bson_t details;
   assert_true(duet_jsonschema_validate(schema, doc, &is_valid, &details, &error));
   assert_false(is_valid);
   ASSERT_JSON_EQ(&details, expected_json);
   bson_destroy(&details);
   /* the validator route gives the same report */
   bson_t filter = BSON_INITIALIZER;
   BSON_APPEND_DOCUMENT(&filter, "$jsonSchema", schema);
   duet_match_t *match;
   assert_true(duet_match_parse(&filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   assert_true(duet_match_validation_details(match, doc, &details, &error));
   ASSERT_JSON_EQ(&details, expected_json);
   bson_destroy(&details);
   duet_match_destroy(match);
   bson_destroy(&filter);
   bson_destroy(schema);
   bson_destroy(doc);
}

static void test_types(void **state)
{
   (void)state;
   const char *s = "{\"properties\": {\"a\": {\"bsonType\": \"int\"}}}";
   VALID(s, "{\"a\": 1}");
   INVALID(s, "{\"a\": 1.5}");
   VALID(s, "{}");
   s = "{\"properties\": {\"a\": {\"bsonType\": [\"string\", \"null\"]}}}";
   VALID(s, "{\"a\": null}");
   VALID(s, "{\"a\": \"x\"}");
   INVALID(s, "{\"a\": 1}");
   s = "{\"properties\": {\"a\": {\"bsonType\": \"number\"}}}";
   VALID(s, "{\"a\": {\"$numberDecimal\": \"1\"}}");
   INVALID(s, "{\"a\": \"1\"}");
   s = "{\"properties\": {\"a\": {\"type\": \"number\"}, \"b\": {\"type\": \"boolean\"}, \"c\": {\"type\": "
       "\"object\"}}}";
   VALID(s, "{\"a\": 1, \"b\": true, \"c\": {}}");
   INVALID(s, "{\"b\": 1}");
   INVALID(s, "{\"c\": []}");
   /* a top-level type other than object matches nothing */
   INVALID("{\"bsonType\": \"array\"}", "{}");
   VALID("{\"bsonType\": \"object\"}", "{}");
   VALID("{\"type\": [\"object\", \"array\"]}", "{}");
}

static void test_scalar_restrictions(void **state)
{
   (void)state;
   const char *s = "{\"properties\": {\"n\": {\"minimum\": 0, \"maximum\": 10}}}";
   VALID(s, "{\"n\": 0}");
   VALID(s, "{\"n\": 10.0}");
   INVALID(s, "{\"n\": -1}");
   INVALID(s, "{\"n\": 10.5}");
   VALID(s, "{\"n\": \"not a number\"}"); /* restrictions only apply to their type */
   s = "{\"properties\": {\"n\": {\"minimum\": 0, \"exclusiveMinimum\": true, \"maximum\": 10, \"exclusiveMaximum\": "
       "true}}}";
   INVALID(s, "{\"n\": 0}");
   INVALID(s, "{\"n\": 10}");
   VALID(s, "{\"n\": 5}");
   s = "{\"properties\": {\"n\": {\"multipleOf\": 3}}}";
   VALID(s, "{\"n\": 9}");
   INVALID(s, "{\"n\": 10}");
   VALID("{\"properties\": {\"n\": {\"multipleOf\": 0.5}}}", "{\"n\": 1.5}");
   INVALID("{\"properties\": {\"n\": {\"multipleOf\": 0.5}}}", "{\"n\": 1.2}");
   s = "{\"properties\": {\"s\": {\"minLength\": 2, \"maxLength\": 3}}}";
   VALID(s, "{\"s\": \"ab\"}");
   VALID(s, "{\"s\": \"éé\"}"); /* code points, not bytes */
   INVALID(s, "{\"s\": \"a\"}");
   INVALID(s, "{\"s\": \"abcd\"}");
   VALID(s, "{\"s\": 1}");
   s = "{\"properties\": {\"email\": {\"pattern\": \"@mongodb\\\\.com$\"}}}";
   VALID(s, "{\"email\": \"a@mongodb.com\"}");
   INVALID(s, "{\"email\": \"a@example.com\"}");
   s = "{\"properties\": {\"c\": {\"enum\": [\"red\", 1, {\"a\": 1, \"b\": 2}]}}}";
   VALID(s, "{\"c\": \"red\"}");
   VALID(s, "{\"c\": 1.0}");
   VALID(s, "{\"c\": {\"b\": 2, \"a\": 1}}"); /* field order does not matter in enum */
   INVALID(s, "{\"c\": \"blue\"}");
   /* top-level restrictions of non-object types never fail */
   VALID("{\"minimum\": 5, \"maxLength\": 1, \"minItems\": 3}", "{\"a\": 1}");
}

static void test_array_keywords(void **state)
{
   (void)state;
   const char *s = "{\"properties\": {\"a\": {\"minItems\": 1, \"maxItems\": 2, \"uniqueItems\": true}}}";
   VALID(s, "{\"a\": [1]}");
   INVALID(s, "{\"a\": []}");
   INVALID(s, "{\"a\": [1, 2, 3]}");
   INVALID(s, "{\"a\": [1, 1.0]}");
   VALID(s, "{\"a\": \"x\"}");
   s = "{\"properties\": {\"a\": {\"items\": {\"bsonType\": \"int\"}}}}";
   VALID(s, "{\"a\": [1, 2]}");
   INVALID(s, "{\"a\": [1, \"x\"]}");
   s = "{\"properties\": {\"a\": {\"items\": [{\"bsonType\": \"int\"}, {\"bsonType\": \"string\"}], "
       "\"additionalItems\": false}}}";
   VALID(s, "{\"a\": [1, \"x\"]}");
   VALID(s, "{\"a\": [1]}");
   INVALID(s, "{\"a\": [\"x\"]}");
   INVALID(s, "{\"a\": [1, \"x\", 3]}");
   s = "{\"properties\": {\"a\": {\"items\": [{\"bsonType\": \"int\"}], \"additionalItems\": {\"bsonType\": "
       "\"bool\"}}}}";
   VALID(s, "{\"a\": [1, true, false]}");
   INVALID(s, "{\"a\": [1, 2]}");
   /* additionalItems without an items array has no effect */
   VALID("{\"properties\": {\"a\": {\"additionalItems\": false}}}", "{\"a\": [1, 2]}");
}

static void test_object_keywords(void **state)
{
   (void)state;
   const char *s = "{\"required\": [\"name\"], \"properties\": {\"name\": {\"bsonType\": \"string\"}}}";
   VALID(s, "{\"name\": \"x\"}");
   INVALID(s, "{}");
   INVALID(s, "{\"name\": 1}");
   s = "{\"properties\": {\"_id\": {}, \"a\": {}}, \"additionalProperties\": false}";
   VALID(s, "{\"_id\": 1, \"a\": 1}");
   INVALID(s, "{\"_id\": 1, \"b\": 1}");
   INVALID("{\"additionalProperties\": false}", "{\"_id\": 1}");
   s = "{\"properties\": {\"_id\": {}}, \"patternProperties\": {\"^x_\": {\"bsonType\": \"int\"}}, "
       "\"additionalProperties\": {\"bsonType\": \"string\"}}";
   VALID(s, "{\"_id\": 1, \"x_a\": 1, \"other\": \"s\"}");
   INVALID(s, "{\"_id\": 1, \"x_a\": \"s\"}");
   INVALID(s, "{\"_id\": 1, \"other\": 1}");
   s = "{\"minProperties\": 2, \"maxProperties\": 3}";
   VALID(s, "{\"a\": 1, \"b\": 1}");
   INVALID(s, "{\"a\": 1}");
   INVALID(s, "{\"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1}");
   s = "{\"dependencies\": {\"card\": [\"billing\"], \"vip\": {\"required\": [\"level\"]}}}";
   VALID(s, "{}");
   VALID(s, "{\"card\": 1, \"billing\": 1}");
   INVALID(s, "{\"card\": 1}");
   INVALID(s, "{\"vip\": true}");
   VALID(s, "{\"vip\": true, \"level\": 3}");
   /* nested objects */
   s = "{\"properties\": {\"address\": {\"bsonType\": \"object\", \"required\": [\"zip\"], \"properties\": "
       "{\"zip\": {\"bsonType\": \"string\"}}}}}";
   VALID(s, "{\"address\": {\"zip\": \"10001\"}}");
   INVALID(s, "{\"address\": {}}");
   INVALID(s, "{\"address\": {\"zip\": 10001}}");
   INVALID(s, "{\"address\": \"x\"}");
   /* required inside a property schema only applies to objects */
   VALID("{\"properties\": {\"a\": {\"required\": [\"b\"]}}}", "{\"a\": 5}");
}

static void test_logical_keywords(void **state)
{
   (void)state;
   const char *s = "{\"properties\": {\"a\": {\"anyOf\": [{\"bsonType\": \"int\"}, {\"bsonType\": \"string\"}]}}}";
   VALID(s, "{\"a\": 1}");
   INVALID(s, "{\"a\": 1.5}");
   s = "{\"properties\": {\"a\": {\"allOf\": [{\"minimum\": 1}, {\"maximum\": 3}]}}}";
   VALID(s, "{\"a\": 2}");
   INVALID(s, "{\"a\": 4}");
   s = "{\"properties\": {\"a\": {\"oneOf\": [{\"minimum\": 1}, {\"maximum\": 3}]}}}";
   VALID(s, "{\"a\": 5}");
   INVALID(s, "{\"a\": 2}");
   s = "{\"properties\": {\"a\": {\"not\": {\"bsonType\": \"string\"}}}}";
   VALID(s, "{\"a\": 1}");
   INVALID(s, "{\"a\": \"x\"}");
   VALID("{\"title\": \"t\", \"description\": \"d\"}", "{}");
}

static void test_parse_errors(void **state)
{
   (void)state;
   expect_schema_error("{\"foo\": 1}", 9, "Unknown $jsonSchema keyword: foo");
   expect_schema_error("{\"format\": \"x\"}", 9, "$jsonSchema keyword 'format' is not currently supported");
   expect_schema_error("{\"$ref\": \"x\"}", 9, "$jsonSchema keyword '$ref' is not currently supported");
   expect_schema_error("{\"title\": \"a\", \"title\": \"b\"}", 9, "Duplicate $jsonSchema keyword: title");
   expect_schema_error("{\"type\": \"object\", \"bsonType\": \"object\"}", 9,
                       "Cannot specify both $jsonSchema keywords 'type' and 'bsonType'");
   expect_schema_error("{\"bsonType\": 1}", 14,
                       "$jsonSchema keyword 'bsonType' must be either a string or an array of strings");
   expect_schema_error("{\"bsonType\": []}", 9, "$jsonSchema keyword 'bsonType' must name at least one type");
   expect_schema_error("{\"bsonType\": [\"int\", \"int\"]}", 9,
                       "$jsonSchema keyword 'bsonType' has duplicate value: int");
   expect_schema_error("{\"type\": \"integer\"}", 9, "$jsonSchema type 'integer' is not currently supported.");
   expect_schema_error("{\"type\": \"int\"}", 2, "Unknown type name alias: int");
   expect_schema_error("{\"bsonType\": \"uuid\"}", 2, "Unknown type name alias: uuid");
   expect_schema_error("{\"required\": \"a\"}", 14,
                       "$jsonSchema keyword 'required' must be an array, but found an element of type string");
   expect_schema_error("{\"required\": []}", 9, "$jsonSchema keyword 'required' cannot be an empty array");
   expect_schema_error("{\"required\": [\"a\", \"a\"]}", 9,
                       "$jsonSchema keyword 'required' array cannot contain duplicate values");
   expect_schema_error("{\"required\": [1]}", 14,
                       "$jsonSchema keyword 'required' must be an array of strings, but found an element of type: int");
   expect_schema_error("{\"enum\": []}", 9, "$jsonSchema keyword 'enum' cannot be an empty array");
   expect_schema_error("{\"enum\": [1, 1]}", 9, "$jsonSchema keyword 'enum' array cannot contain duplicate values.");
   expect_schema_error("{\"properties\": 1}", 14, "$jsonSchema keyword 'properties' must be an object");
   expect_schema_error("{\"properties\": {\"a\": 1}}", 14,
                       "Nested schema for $jsonSchema property 'a' must be an object");
   expect_schema_error("{\"additionalProperties\": 1}", 14,
                       "$jsonSchema keyword 'additionalProperties' must be an object or a boolean");
   expect_schema_error("{\"maximum\": \"1\"}", 14, "$jsonSchema keyword 'maximum' must be a number");
   expect_schema_error("{\"exclusiveMaximum\": true}", 9,
                       "$jsonSchema keyword 'maximum' must be a present if exclusiveMaximum is present");
   expect_schema_error("{\"multipleOf\": 0}", 9, "$jsonSchema keyword 'multipleOf' must have a positive value");
   expect_schema_error("{\"allOf\": {}}", 14, "$jsonSchema keyword 'allOf' must be an array");
   expect_schema_error("{\"anyOf\": []}", 2, "$jsonSchema keyword 'anyOf' must be a non-empty array");
   expect_schema_error("{\"items\": 1}", 14, "$jsonSchema keyword 'items' must be an array or an object, not int");
   expect_schema_error("{\"maxLength\": -1}", 9, "Expected a positive number in: maxLength: -1");
   expect_schema_error("{\"maxLength\": \"1\"}", 9, "Expected a number in: maxLength: \"1\"");
   expect_schema_error("{\"uniqueItems\": 1}", 14, "$jsonSchema keyword 'uniqueItems' must be a boolean");
   expect_schema_error("{\"title\": 1}", 14, "$jsonSchema keyword 'title' must be of type string");
   expect_schema_error("{\"properties\": {\"a\": {\"foo\": 1}}}", 9, "Unknown $jsonSchema keyword: foo");
}

static void test_details(void **state)
{
   (void)state;
   /* the shape in MongoDB's "specify JSON schema validation" documentation */
   expect_details("{\"bsonType\": \"object\", \"title\": \"Student Object Validation\", "
                  "\"required\": [\"name\", \"phone\"], \"properties\": {\"name\": {\"bsonType\": \"string\"}, "
                  "\"gpa\": {\"bsonType\": [\"double\"], \"description\": \"'gpa' must be a double\"}}}",
                  "{\"name\": \"Alice\", \"gpa\": 3}",
                  "{\"operatorName\": \"$jsonSchema\", \"title\": \"Student Object Validation\", "
                  "\"schemaRulesNotSatisfied\": ["
                  "{\"operatorName\": \"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"gpa\", "
                  "\"description\": \"'gpa' must be a double\", \"details\": [{\"operatorName\": \"bsonType\", "
                  "\"specifiedAs\": {\"bsonType\": [\"double\"]}, \"reason\": \"type did not match\", "
                  "\"consideredValue\": 3, \"consideredType\": \"int\"}]}]}, "
                  "{\"operatorName\": \"required\", \"specifiedAs\": {\"required\": [\"name\", \"phone\"]}, "
                  "\"missingProperties\": [\"phone\"]}]}");
   expect_details("{\"properties\": {\"email\": {\"pattern\": \"@mongodb\\\\.com$\"}}}", "{\"email\": \"a@b.c\"}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"email\", \"details\": "
                  "[{\"operatorName\": \"pattern\", \"specifiedAs\": {\"pattern\": \"@mongodb\\\\.com$\"}, "
                  "\"reason\": \"regular expression did not match\", \"consideredValue\": \"a@b.c\"}]}]}]}");
   expect_details("{\"properties\": {\"a\": {\"minLength\": 4}}}", "{\"a\": \"foo\"}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"a\", \"details\": "
                  "[{\"operatorName\": \"minLength\", \"specifiedAs\": {\"minLength\": 4}, "
                  "\"reason\": \"specified string length was not satisfied\", \"consideredValue\": \"foo\"}]}]}]}");
   expect_details("{\"properties\": {\"_id\": {}}, \"additionalProperties\": false}", "{\"_id\": 1, \"x\": 2}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"additionalProperties\", \"specifiedAs\": {\"additionalProperties\": false}, "
                  "\"additionalProperties\": [\"x\"]}]}");
   expect_details("{\"properties\": {\"n\": {\"minimum\": 0}}}", "{\"n\": -1}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"n\", \"details\": "
                  "[{\"operatorName\": \"minimum\", \"specifiedAs\": {\"minimum\": 0}, \"reason\": "
                  "\"comparison failed\", \"consideredValue\": -1}]}]}]}");
   expect_details("{\"properties\": {\"c\": {\"enum\": [\"red\"]}}}", "{\"c\": \"blue\"}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"c\", \"details\": "
                  "[{\"operatorName\": \"enum\", \"specifiedAs\": {\"enum\": [\"red\"]}, \"reason\": "
                  "\"value was not found in enum\", \"consideredValue\": \"blue\"}]}]}]}");
}

static void test_more_details(void **state)
{
   (void)state;
   expect_details("{\"properties\": {\"a\": {\"items\": {\"bsonType\": \"int\"}}}}", "{\"a\": [1, \"x\"]}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"a\", \"details\": "
                  "[{\"operatorName\": \"items\", \"reason\": \"At least one item did not match the sub-schema\", "
                  "\"itemIndex\": 1, \"details\": [{\"operatorName\": \"bsonType\", "
                  "\"specifiedAs\": {\"bsonType\": \"int\"}, \"reason\": \"type did not match\", "
                  "\"consideredValue\": \"x\", \"consideredType\": \"string\"}]}]}]}]}");
   expect_details("{\"dependencies\": {\"card\": [\"billing\"]}}", "{\"card\": 1}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"dependencies\", \"failingDependencies\": [{\"conditionalProperty\": \"card\", "
                  "\"missingProperties\": [\"billing\"]}]}]}");
   expect_details("{\"oneOf\": [{\"required\": [\"a\"]}, {\"required\": [\"b\"]}]}", "{\"a\": 1, \"b\": 1}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"oneOf\", \"reason\": \"more than one subschema matched\", \"matchingSchemaIndexes\": [0, 1]}]}");
   expect_details("{\"anyOf\": [{\"required\": [\"a\"]}]}", "{}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"anyOf\", \"schemasNotSatisfied\": [{\"index\": 0, \"details\": [{\"operatorName\": "
                  "\"required\", \"specifiedAs\": {\"required\": [\"a\"]}, \"missingProperties\": [\"a\"]}]}]}]}");
   expect_details("{\"minProperties\": 2}", "{\"a\": 1}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"minProperties\", \"specifiedAs\": {\"minProperties\": 2}, \"reason\": "
                  "\"specified number of properties was not satisfied\", \"numberOfProperties\": 1}]}");
   expect_details("{\"properties\": {\"t\": {\"uniqueItems\": true}}}", "{\"t\": [1, 2, 1]}",
                  "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": [{\"operatorName\": "
                  "\"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": \"t\", \"details\": "
                  "[{\"operatorName\": \"uniqueItems\", \"specifiedAs\": {\"uniqueItems\": true}, \"reason\": "
                  "\"found a duplicate item\", \"consideredValue\": [1, 2, 1], \"duplicatedValue\": 1}]}]}]}");
}

static void test_valid_details_empty(void **state)
{
   (void)state;
   bson_t *schema = TEST_JSON("{\"required\": [\"a\"]}");
   bson_t *doc = TEST_JSON("{\"a\": 1}");
   duet_error_t error = DUET_ERROR_INIT;
   bool is_valid;
   bson_t details;
   assert_true(duet_jsonschema_validate(schema, doc, &is_valid, &details, &error));
   assert_true(is_valid);
   assert_true(bson_empty(&details));
   bson_destroy(&details);
   bson_destroy(schema);
   bson_destroy(doc);
}

static void test_query_operator_details(void **state)
{
   (void)state;
   bson_t *filter = TEST_JSON("{\"a\": {\"$gt\": 5}, \"b\": 1}");
   bson_t *doc = TEST_JSON("{\"a\": 1}");
   duet_error_t error = DUET_ERROR_INIT;
   duet_match_t *match;
   assert_true(duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, &error));
   bson_t details;
   assert_true(duet_match_validation_details(match, doc, &details, &error));
   ASSERT_JSON_EQ(&details,
                  "{\"operatorName\": \"$and\", \"clausesNotSatisfied\": ["
                  "{\"index\": 0, \"details\": {\"operatorName\": \"$gt\", \"specifiedAs\": {\"a\": {\"$gt\": 5}}, "
                  "\"reason\": \"comparison failed\", \"consideredValue\": 1}}, "
                  "{\"index\": 1, \"details\": {\"operatorName\": \"$eq\", \"specifiedAs\": {\"b\": {\"$eq\": 1}}, "
                  "\"reason\": \"field was missing\"}}]}");
   bson_destroy(&details);
   duet_match_destroy(match);
   bson_destroy(filter);
   bson_destroy(doc);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_types),
       cmocka_unit_test(test_scalar_restrictions),
       cmocka_unit_test(test_array_keywords),
       cmocka_unit_test(test_object_keywords),
       cmocka_unit_test(test_logical_keywords),
       cmocka_unit_test(test_parse_errors),
       cmocka_unit_test(test_details),
       cmocka_unit_test(test_more_details),
       cmocka_unit_test(test_valid_details_empty),
       cmocka_unit_test(test_query_operator_details),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
