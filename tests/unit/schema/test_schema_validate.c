/*
 * test_schema_validate.c — duet_schema_validate_document: would Device Sync sync this
 * document to a client?  bsonType per property (uuid = binData subtype 4, mixed),
 * required (and defaults), null handling, embedded objects, lists, sets, dictionaries.
 */
#include "schema_test_util.h"

static const char *const SHOP =
    "{'title': 'Shop', 'bsonType': 'object', 'required': ['_id', 'name', 'open'], 'properties': {"
    "'_id': {'bsonType': 'objectId'}, 'name': {'bsonType': 'string'}, 'open': {'bsonType': 'bool', 'default': true},"
    "'rank': {'bsonType': 'int'}, 'visits': {'bsonType': 'long'}, 'rating': {'bsonType': 'double'},"
    "'price': {'bsonType': 'decimal'}, 'since': {'bsonType': 'date'}, 'key': {'bsonType': 'uuid'},"
    "'logo': {'bsonType': 'binData'}, 'meta': {'bsonType': 'mixed'},"
    "'address': {'bsonType': 'object', 'title': 'Address', 'required': ['city'], 'properties': {"
    "'city': {'bsonType': 'string'}, 'zip': {'bsonType': 'int'}}},"
    "'tags': {'bsonType': 'array', 'items': {'bsonType': 'string'}},"
    "'codes': {'bsonType': 'array', 'uniqueItems': true, 'items': {'bsonType': 'int'}},"
    "'stock': {'bsonType': 'object', 'additionalProperties': {'bsonType': 'long'}},"
    "'branches': {'bsonType': 'array', 'items': {'bsonType': 'object', 'title': 'Branch', 'required': ['n'],"
    " 'properties': {'n': {'bsonType': 'int'}}}}}}";

/* Validates `doc_json` (Extended JSON) against SHOP; returns the reason ("" when valid). */
static bool check(const char *doc_json, unsigned flags, char *reason)
{
   duet_schema_set_t *set = parse_ok("shop.json", SHOP);
   bson_t *doc = TEST_JSON(doc_json);
   bool ok = duet_schema_validate_document(&set->schemas[0], doc, flags, reason, 256);
   bson_destroy(doc);
   duet_schema_set_destroy(set);
   return ok;
}

#define OID "{\"$oid\": \"507f1f77bcf86cd799439011\"}"

static void expect_valid(const char *fields)
{
   char reason[256];
   char *json = bson_strdup_printf("{\"_id\": " OID ", \"name\": \"a\"%s%s}", fields[0] ? ", " : "", fields);
   if (!check(json, 0, reason)) {
      fail_msg("expected %s to be valid, got: %s", json, reason);
   }
   assert_string_equal(reason, "");
   bson_free(json);
}

static void expect_invalid(const char *fields, const char *expected_reason)
{
   char reason[256];
   char *json = bson_strdup_printf("{\"_id\": " OID ", \"name\": \"a\"%s%s}", fields[0] ? ", " : "", fields);
   if (check(json, 0, reason)) {
      fail_msg("expected %s to be invalid (%s)", json, expected_reason);
   }
   assert_string_equal(reason, expected_reason);
   bson_free(json);
}

static void test_scalar_types(void **state)
{
   (void)state;
   expect_valid("");
   expect_valid("\"rank\": 3, \"visits\": {\"$numberLong\": \"3\"}, \"rating\": 4.5, \"price\": {\"$numberDecimal\": "
                "\"9.99\"}, \"since\": {\"$date\": \"2024-01-01T00:00:00Z\"}, \"logo\": {\"$binary\": {\"base64\": "
                "\"AQID\", \"subType\": \"00\"}}, \"key\": {\"$uuid\": \"00112233-4455-6677-8899-aabbccddeeff\"}, "
                "\"other\": \"fields the schema does not name are ignored\"");
   expect_invalid("\"rank\": {\"$numberLong\": \"3\"}", "property 'rank' is long, expected int");
   expect_invalid("\"visits\": 3", "property 'visits' is int, expected long");
   expect_invalid("\"rating\": 4", "property 'rating' is int, expected double");
   expect_invalid("\"price\": 9.99", "property 'price' is double, expected decimal");
   expect_invalid("\"since\": \"2024-01-01\"", "property 'since' is string, expected date");
   expect_invalid("\"open\": 1", "property 'open' is int, expected bool");
   expect_invalid("\"logo\": \"png\"", "property 'logo' is string, expected binData");
   expect_invalid("\"key\": {\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAA==\", \"subType\": \"00\"}}",
                  "property 'key' is binData subtype 0 of 16 bytes, expected uuid (subtype 4, 16 bytes)");
   expect_invalid("\"key\": \"00112233-4455-6677-8899-aabbccddeeff\"", "property 'key' is string, expected uuid");
   char reason[256];
   assert_false(check("{\"_id\": \"x\", \"name\": \"a\"}", 0, reason));
   assert_string_equal(reason, "property '_id' is string, expected objectId");
}

static void test_mixed_accepts_anything(void **state)
{
   (void)state;
   expect_valid("\"meta\": 1");
   expect_valid("\"meta\": \"s\"");
   expect_valid("\"meta\": {\"a\": [1, \"x\"]}");
   expect_valid("\"meta\": null");
}

static void test_required_and_null(void **state)
{
   (void)state;
   char reason[256];
   assert_false(check("{\"_id\": " OID "}", 0, reason));
   assert_string_equal(reason, "required property 'name' is missing");
   /* 'open' is required but has a default: clients fill it, so the document syncs */
   assert_true(check("{\"_id\": " OID ", \"name\": \"a\"}", 0, reason));
   expect_invalid("\"open\": null", "required property 'open' is null");
   /* optional null: rejected unless Null Type Schema Validation is on */
   expect_invalid("\"rank\": null", "property 'rank' is null, and null is not accepted (App Services \"Null Type "
                                    "Schema Validation\" is off)");
   assert_true(check("{\"_id\": " OID ", \"name\": \"a\", \"rank\": null}", DUET_SCHEMA_VALIDATE_ALLOW_NULL, reason));
   assert_false(check("{\"_id\": " OID ", \"name\": null}", DUET_SCHEMA_VALIDATE_ALLOW_NULL, reason));
   assert_string_equal(reason, "required property 'name' is null");
   /* a NULL reason buffer is allowed */
   duet_schema_set_t *set = parse_ok("shop.json", SHOP);
   bson_t *doc = TEST_JSON("{}");
   assert_false(duet_schema_validate_document(&set->schemas[0], doc, 0, NULL, 0));
   bson_destroy(doc);
   duet_schema_set_destroy(set);
}

static void test_embedded_objects(void **state)
{
   (void)state;
   expect_valid("\"address\": {\"city\": \"Delft\", \"zip\": 2611}");
   expect_invalid("\"address\": {\"zip\": 2611}", "required property 'address.city' is missing");
   expect_invalid("\"address\": {\"city\": \"Delft\", \"zip\": \"2611\"}",
                  "property 'address.zip' is string, expected int");
   expect_invalid("\"address\": \"Delft\"", "property 'address' is string, expected object");
   expect_valid("\"branches\": [{\"n\": 1}, {\"n\": 2}]");
   expect_invalid("\"branches\": [{\"n\": 1}, {}]", "required property 'branches.1.n' is missing");
}

static void test_collections(void **state)
{
   (void)state;
   expect_valid("\"tags\": [\"a\", \"b\", \"a\"], \"codes\": [1, 2, 3], \"stock\": {\"x\": {\"$numberLong\": "
                "\"1\"}}");
   expect_valid("\"tags\": [], \"codes\": [], \"stock\": {}");
   expect_invalid("\"tags\": [\"a\", 2]", "property 'tags.1' is int, expected string");
   expect_invalid("\"tags\": \"a\"", "property 'tags' is string, expected array<string>");
   expect_invalid("\"tags\": [\"a\", null]", "property 'tags.1' is null, expected string");
   expect_invalid("\"codes\": [1, 2, 1]", "property 'codes' is a set, but elements 0 and 2 are equal");
   expect_invalid("\"stock\": {\"x\": 1}", "property 'stock.x' is int, expected long");
   expect_invalid("\"stock\": [1]", "property 'stock' is array, expected dictionary<long>");
}

/* A document whose every property holds the zero value of its type (what duet writes for an
 * added required property) is valid; a default is accepted for its own type. */
static void test_zero_values_validate(void **state)
{
   (void)state;
   duet_schema_set_t *set = parse_ok("shop.json", SHOP);
   const duet_schema_t *shop = &set->schemas[0];
   bson_t doc = BSON_INITIALIZER;
   for (size_t i = 0; i < shop->root.property_count; i++) {
      const duet_schema_property_t *property = &shop->root.properties[i];
      bson_value_t zero;
      duet_schema_type_zero_value(&property->type, &zero);
      assert_true(duet_schema_type_accepts_value(&property->type, &zero));
      if (property->type.element != DUET_SCHEMA_OBJECT || property->type.container != DUET_SCHEMA_SINGLE) {
         BSON_APPEND_VALUE(&doc, property->name, &zero);
      }
      bson_value_destroy(&zero);
   }
   char reason[256];
   if (!duet_schema_validate_document(shop, &doc, 0, reason, sizeof reason)) {
      fail_msg("zero values rejected: %s", reason);
   }
   /* the embedded Address requires 'city', so its zero value {} is not enough by itself */
   bson_value_t zero;
   duet_schema_type_zero_value(&duet_schema_object_find(&shop->root, "address")->type, &zero);
   BSON_APPEND_VALUE(&doc, "address", &zero);
   bson_value_destroy(&zero);
   assert_false(duet_schema_validate_document(shop, &doc, 0, reason, sizeof reason));
   assert_string_equal(reason, "required property 'address.city' is missing");
   bson_destroy(&doc);
   duet_schema_set_destroy(set);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_scalar_types),      cmocka_unit_test(test_mixed_accepts_anything),
       cmocka_unit_test(test_required_and_null), cmocka_unit_test(test_embedded_objects),
       cmocka_unit_test(test_collections),       cmocka_unit_test(test_zero_values_validate),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
