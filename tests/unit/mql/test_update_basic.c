/*
 * test_update_basic.c — modifier updates: $set/$unset/$inc/$mul/$min/$max/
 * $currentDate/$setOnInsert/$rename, field order, noops, dotted paths and the
 * parse errors (unknown modifier, conflicts, empty paths), from MongoDB's
 * documentation examples and its update_node unit tests.
 */
#include "duet_test.h"

#include <duet/mql_update.h>

/* Applies `spec` (owned: destroyed here) to `doc_json`; expects success and `expected_json`. */
static void check_update_spec(const char *doc_json, bson_t *spec, const char *expected_json, bool expected_modified)
{
   char *update_json = bson_as_relaxed_extended_json(spec, NULL);
   bson_t *doc = TEST_JSON(doc_json);
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.now_ms = 1700000000000;
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_update_parse(spec, &options, &update, &error)) {
      fail_msg("parse %s: %d %s", update_json, error.code, error.message);
   }
   bson_t out;
   bool modified = !expected_modified;
   if (!duet_update_apply(update, doc, NULL, false, &out, &modified, &error)) {
      fail_msg("apply %s: %d %s", update_json, error.code, error.message);
   }
   ASSERT_JSON_EQ(&out, expected_json);
   if (modified != expected_modified) {
      fail_msg("%s on %s: modified=%d", update_json, doc_json, modified);
   }
   bson_destroy(&out);
   duet_update_destroy(update);
   bson_destroy(doc);
   bson_destroy(spec);
   bson_free(update_json);
   duet_error_clear(&error);
}

static void check_update(const char *doc_json, const char *update_json, const char *expected_json,
                         bool expected_modified)
{
   check_update_spec(doc_json, TEST_JSON(update_json), expected_json, expected_modified);
}

/* Expects parsing `spec` (owned: destroyed here) to fail with `code` and exactly `message`. */
static void check_parse_error_spec(bson_t *spec, int code, const char *message)
{
   char *update_json = bson_as_relaxed_extended_json(spec, NULL);
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (duet_update_parse(spec, NULL, &update, &error)) {
      fail_msg("parse %s unexpectedly succeeded", update_json);
   }
   assert_null(update);
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s:\n  got      %d %s\n  expected %d %s", update_json, error.code, error.message, code, message);
   }
   bson_destroy(spec);
   bson_free(update_json);
   duet_error_clear(&error);
}

static void check_parse_error(const char *update_json, int code, const char *message)
{
   check_parse_error_spec(TEST_JSON(update_json), code, message);
}

/* Expects applying to fail with `code` and exactly `message`; new doc must come back empty. */
static void check_apply_error(const char *doc_json, const char *update_json, int code, const char *message)
{
   bson_t *doc = TEST_JSON(doc_json);
   bson_t *spec = TEST_JSON(update_json);
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_update_parse(spec, NULL, &update, &error)) {
      fail_msg("parse %s: %d %s", update_json, error.code, error.message);
   }
   bson_t out;
   bool modified = false;
   if (duet_update_apply(update, doc, NULL, false, &out, &modified, &error)) {
      char *json = bson_as_relaxed_extended_json(&out, NULL);
      fail_msg("apply %s unexpectedly gave %s", update_json, json);
   }
   assert_true(bson_empty(&out));
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s on %s:\n  got      %d %s\n  expected %d %s", update_json, doc_json, error.code, error.message, code,
               message);
   }
   bson_destroy(&out);
   duet_update_destroy(update);
   bson_destroy(doc);
   bson_destroy(spec);
   duet_error_clear(&error);
}

static void test_set(void **state)
{
   (void)state;
   /* existing field keeps its position, new fields are appended in name order */
   check_update("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$set\": {\"a\": 5}}", "{\"_id\": 1, \"a\": 5, \"b\": 2}", true);
   check_update("{\"_id\": 1, \"value\": \"foo\"}", "{\"$set\": {\"foo\": 1, \"bar\": []}}",
                "{\"_id\": 1, \"value\": \"foo\", \"bar\": [], \"foo\": 1}", true);
   /* dotted paths create intermediate documents */
   check_update("{\"_id\": 1}", "{\"$set\": {\"a.b.c\": 1}}", "{\"_id\": 1, \"a\": {\"b\": {\"c\": 1}}}", true);
   check_update("{\"_id\": 1, \"a\": {\"x\": 1}}", "{\"$set\": {\"a.b\": 2}}",
                "{\"_id\": 1, \"a\": {\"x\": 1, \"b\": 2}}", true);
   /* array index paths, with null padding */
   check_update("{\"_id\": 1, \"a\": [1, 2]}", "{\"$set\": {\"a.1\": 5}}", "{\"_id\": 1, \"a\": [1, 5]}", true);
   check_update("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.3\": 5}}", "{\"_id\": 1, \"a\": [1, null, null, 5]}",
                true);
   check_update("{\"_id\": 1, \"a\": [{\"b\": 1}]}", "{\"$set\": {\"a.0.c\": 2}}",
                "{\"_id\": 1, \"a\": [{\"b\": 1, \"c\": 2}]}", true);
   /* noop: same value and type */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"a\": 1}}", "{\"_id\": 1, \"a\": 1}", false);
   /* not a noop: 1.0 is a different type */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"a\": 1.0}}", "{\"_id\": 1, \"a\": 1.0}", true);
   /* signed zeros differ in bytes: stored and counted (mongod 8.2) */
   check_update("{\"_id\": 1, \"a\": 0.0}", "{\"$set\": {\"a\": -0.0}}", "{\"_id\": 1, \"a\": -0.0}", true);
   check_update("{\"_id\": 1, \"a\": [0.0]}", "{\"$set\": {\"a.0\": -0.0}}", "{\"_id\": 1, \"a\": [-0.0]}", true);
   check_update("{\"_id\": 1, \"a\": 0.0}", "{\"$set\": {\"a\": 0.0}}", "{\"_id\": 1, \"a\": 0.0}", false);
   /* $set of _id to its own value is allowed */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"_id\": 1}}", "{\"_id\": 1, \"a\": 1}", false);
   /* empty modifier document is a noop */
   check_update("{\"_id\": 1}", "{\"$set\": {}}", "{\"_id\": 1}", false);
   /* embedded $-prefixed names are allowed below the top level (5.0+) */
   check_update("{\"_id\": 1}", "{\"$set\": {\"a\": {\"$b\": 1}}}", "{\"_id\": 1, \"a\": {\"$b\": 1}}", true);
}

static void test_set_errors(void **state)
{
   (void)state;
   check_apply_error("{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"a.b\": 1}}", 28,
                     "Cannot create field 'b' in element {a: 1}");
   check_apply_error("{\"_id\": 1, \"eatenBy\": [{\"name\": \"alice\", \"amount\": 2.0}]}",
                     "{\"$set\": {\"eatenBy.amount\": 1}}", 28,
                     "Cannot create field 'amount' in element {eatenBy: [ { name: \"alice\", amount: 2.0 } ]}");
   check_apply_error("{\"_id\": 1, \"a\": null}", "{\"$set\": {\"a.b\": 1}}", 28,
                     "Cannot create field 'b' in element {a: null}");
   check_apply_error("{\"_id\": 1}", "{\"$set\": {\"_id\": 2}}", 66,
                     "Performing an update on the path '_id' would modify the immutable field '_id'");
   check_apply_error("{\"_id\": {\"a\": 1}}", "{\"$set\": {\"_id.a\": 2}}", 66,
                     "Performing an update on the path '_id.a' would modify the immutable field '_id'");
   check_apply_error("{\"_id\": 1}", "{\"$unset\": {\"_id\": 1}}", 66,
                     "Performing an update on the path '_id' would modify the immutable field '_id'");
   check_apply_error("{\"_id\": 1}", "{\"$set\": {\"$x\": 1}}", 52,
                     "The dollar ($) prefixed field '$x' in '$x' is not allowed in the context of an update's "
                     "replacement document. Consider using an aggregation pipeline with $replaceWith.");
   check_apply_error("{\"a\": 1}", "{\"$set\": {\"_id\": [1]}}", 53, "The '_id' value cannot be of type array");
   check_apply_error("{\"_id\": 1, \"arr\": []}", "{\"$set\": {\"arr.999999999\": 1}}", 34,
                     "can't backfill more than 1500000 elements");
   check_apply_error("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.x\": 1}}", 28,
                     "Cannot create field 'x' in element {a: [ 1 ]}");
}

static void test_parse_errors(void **state)
{
   (void)state;
   check_parse_error("{\"$foo\": {\"a\": 1}}", 9,
                     "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as "
                     "an array");
   check_parse_error("{\"$set\": {\"a\": 1}, \"b\": 1}", 9,
                     "Unknown modifier: b. Expected a valid update modifier or pipeline-style update specified as an "
                     "array");
   check_parse_error("{\"$set\": \"string\"}", 9,
                     "Modifiers operate on fields but we found type string instead. For example: {$mod: {<field>: "
                     "...}} not {$set: \"string\"}");
   check_parse_error("{\"$set\": 42.12345}", 9,
                     "Modifiers operate on fields but we found type double instead. For example: {$mod: {<field>: "
                     "...}} not {$set: 42.12345}");
   check_parse_error("{\"$set\": []}", 9,
                     "Modifiers operate on fields but we found type array instead. For example: {$mod: {<field>: "
                     "...}} not {$set: []}");
   check_parse_error("{\"$currentDate\": null}", 9,
                     "Modifiers operate on fields but we found type null instead. For example: {$mod: {<field>: "
                     "...}} not {$currentDate: null}");
   check_parse_error("{\"$set\": {\"a\": 1}, \"$unset\": {\"a\": 1}}", 40,
                     "Updating the path 'a' would create a conflict at 'a'");
   check_parse_error("{\"$set\": {\"a.b\": 1}, \"$inc\": {\"a\": 1}}", 40,
                     "Updating the path 'a' would create a conflict at 'a'");
   check_parse_error("{\"$set\": {\"a\": 1, \"a.b\": 1}}", 40,
                     "Updating the path 'a.b' would create a conflict at 'a'");
   check_parse_error("{\"$set\": {\"\": 1}}", 56, "An empty update path is not valid.");
   check_parse_error("{\"$set\": {\"a..b\": 1}}", 56,
                     "The update path 'a..b' contains an empty field name, which is not allowed.");
   check_parse_error("{\"$set\": {\"a.\": 1}}", 56,
                     "The update path 'a.' contains an empty field name, which is not allowed.");
   check_parse_error("{\"$set\": {\"$.a\": 1}}", 2,
                     "Cannot have positional (i.e. '$') element in the first position in path '$.a'");
   check_parse_error("{\"$set\": {\"a.$.b.$\": 1}}", 2,
                     "Too many positional (i.e. '$') elements found in path 'a.$.b.$'");
   check_parse_error("{\"$inc\": {\"a\": \"x\"}}", 14, "Cannot increment with non-numeric argument: {a: \"x\"}");
   check_parse_error("{\"$mul\": {\"a\": null}}", 14, "Cannot multiply with non-numeric argument: {a: null}");
   check_parse_error("{\"$set\": {\"a.$[x]\": 1}}", 2, "No array filter found for identifier 'x' in path 'a.$[x]'");
}

static void test_unset(void **state)
{
   (void)state;
   check_update("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$unset\": {\"a\": \"\"}}", "{\"_id\": 1, \"b\": 2}", true);
   check_update("{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 2}}", "{\"$unset\": {\"a.b\": 1}}",
                "{\"_id\": 1, \"a\": {\"c\": 2}}", true);
   /* missing and non-viable paths are noops */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$unset\": {\"x\": 1}}", "{\"_id\": 1, \"a\": 1}", false);
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$unset\": {\"a.b\": 1}}", "{\"_id\": 1, \"a\": 1}", false);
   /* an array element becomes null */
   check_update("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$unset\": {\"a.1\": 1}}", "{\"_id\": 1, \"a\": [1, null, 3]}",
                true);
}

static void test_inc_mul(void **state)
{
   (void)state;
   check_update("{\"_id\": 1, \"quantity\": 10, \"metrics\": {\"orders\": 2}}",
                "{\"$inc\": {\"quantity\": -2, \"metrics.orders\": 1}}",
                "{\"_id\": 1, \"quantity\": 8, \"metrics\": {\"orders\": 3}}", true);
   check_update("{\"_id\": 1}", "{\"$inc\": {\"a\": 5}}", "{\"_id\": 1, \"a\": 5}", true);
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": 0}}", "{\"_id\": 1, \"a\": 1}", false);
   /* int32 overflow widens to int64 */
   check_update("{\"_id\": 1, \"a\": 2147483647}", "{\"$inc\": {\"a\": 1}}",
                "{\"_id\": 1, \"a\": {\"$numberLong\": \"2147483648\"}}", true);
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": 0.5}}", "{\"_id\": 1, \"a\": 1.5}", true);
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": {\"$numberLong\": \"2\"}}}",
                "{\"_id\": 1, \"a\": {\"$numberLong\": \"3\"}}", true);
   check_update("{\"_id\": 1, \"a\": {\"$numberDecimal\": \"1.5\"}}", "{\"$inc\": {\"a\": 1}}",
                "{\"_id\": 1, \"a\": {\"$numberDecimal\": \"2.5\"}}", true);
   /* doubles meet decimals through 15 significant digits (SafeNum::getDecimal) */
   check_update("{\"_id\": 1, \"a\": {\"$numberDecimal\": \"1\"}}", "{\"$inc\": {\"a\": 0.1}}",
                "{\"_id\": 1, \"a\": {\"$numberDecimal\": \"1.100000000000000\"}}", true);
   check_update("{\"_id\": 1, \"price\": 10.99, \"qty\": 25}", "{\"$mul\": {\"price\": 1.25, \"qty\": 2}}",
                "{\"_id\": 1, \"price\": 13.7375, \"qty\": 50}", true);
   /* $mul on a missing field creates 0 of the argument's type */
   check_update("{\"_id\": 1}", "{\"$mul\": {\"price\": {\"$numberLong\": \"100\"}}}",
                "{\"_id\": 1, \"price\": {\"$numberLong\": \"0\"}}", true);
   check_update("{\"_id\": 1, \"a\": 5}", "{\"$mul\": {\"a\": 1}}", "{\"_id\": 1, \"a\": 5}", false);
   check_apply_error("{\"_id\": 1, \"a\": \"x\"}", "{\"$inc\": {\"a\": 1}}", 14,
                     "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type "
                     "string");
   check_apply_error("{\"_id\": 1, \"a\": {\"$numberLong\": \"9223372036854775807\"}}", "{\"$inc\": {\"a\": 1}}", 2,
                     "Failed to apply $inc operations to current value ((NumberLong)9223372036854775807) for document "
                     "{_id: 1}");
   check_apply_error("{\"_id\": 1, \"a\": {\"$numberLong\": \"4611686018427387904\"}}", "{\"$mul\": {\"a\": 4}}", 2,
                     "Failed to apply $mul operations to current value ((NumberLong)4611686018427387904) for document "
                     "{_id: 1}");
   check_apply_error("{\"_id\": \"int32\", \"v\": 42}",
                     "{\"$inc\": {\"v\": {\"$numberLong\": \"9223372036854775807\"}}}", 2,
                     "Failed to apply $inc operations to current value ((NumberInt)42) for document {_id: \"int32\"}");
   check_apply_error(
       "{\"_id\": \"x\", \"v\": [{\"foo\": [{\"bar\": \"s\"}]}]}", "{\"$inc\": {\"v.0.foo.0.bar\": 1}}", 14,
       "Cannot apply $inc to a value of non-numeric type. {_id: \"x\"} has the field 'bar' of non-numeric "
       "type string");
   check_apply_error("{\"_id\": 1}", "{\"$inc\": {\"_id\": 1}}", 66,
                     "Performing an update on the path '_id' would modify the immutable field '_id'");
}

static void test_min_max(void **state)
{
   (void)state;
   check_update("{\"_id\": 1, \"highScore\": 800, \"lowScore\": 200}", "{\"$min\": {\"lowScore\": 150}}",
                "{\"_id\": 1, \"highScore\": 800, \"lowScore\": 150}", true);
   check_update("{\"_id\": 1, \"lowScore\": 150}", "{\"$min\": {\"lowScore\": 250}}", "{\"_id\": 1, \"lowScore\": 150}",
                false);
   check_update("{\"_id\": 1, \"highScore\": 800}", "{\"$max\": {\"highScore\": 950}}",
                "{\"_id\": 1, \"highScore\": 950}", true);
   check_update("{\"_id\": 1, \"highScore\": 950}", "{\"$max\": {\"highScore\": 870}}",
                "{\"_id\": 1, \"highScore\": 950}", false);
   /* equal values of another numeric type are noops */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$max\": {\"a\": 1.0}}", "{\"_id\": 1, \"a\": 1}", false);
   /* comparison across types follows BSON order */
   check_update("{\"_id\": 1, \"a\": \"x\"}", "{\"$min\": {\"a\": 5}}", "{\"_id\": 1, \"a\": 5}", true);
   check_update("{\"_id\": 1}", "{\"$max\": {\"a\": 5}}", "{\"_id\": 1, \"a\": 5}", true);
}

static void test_current_date(void **state)
{
   (void)state;
   check_update_spec(
       "{\"_id\": 1, \"a\": 1}",
       BCON_NEW("$currentDate", "{", "d", BCON_BOOL(true), "t", "{", "$type", BCON_UTF8("timestamp"), "}", "}"),
       "{\"_id\": 1, \"a\": 1, \"d\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}, \"t\": {\"$timestamp\": "
       "{\"t\": 1700000000, \"i\": 1}}}",
       true);
   check_update_spec(
       "{\"_id\": 1}",
       BCON_NEW("$currentDate", "{", "a", "{", "$type", BCON_UTF8("timestamp"), "}", "b", "{", "$type",
                BCON_UTF8("timestamp"), "}", "}"),
       "{\"_id\": 1, \"a\": {\"$timestamp\": {\"t\": 1700000000, \"i\": 1}}, \"b\": {\"$timestamp\": {\"t\": "
       "1700000000, \"i\": 2}}}",
       true);
   check_update_spec("{\"_id\": 1}", BCON_NEW("$currentDate", "{", "d", "{", "$type", BCON_UTF8("date"), "}", "}"),
                     "{\"_id\": 1, \"d\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}}", true);
   check_parse_error("{\"$currentDate\": {\"d\": 1}}", 2,
                     "int is not valid type for $currentDate. Please use a boolean ('true') or a $type expression "
                     "({$type: 'timestamp/date'}).");
   check_parse_error_spec(BCON_NEW("$currentDate", "{", "d", "{", "$type", BCON_UTF8("x"), "}", "}"), 2,
                          "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : "
                          "{$type: 'date'}}}");
   check_parse_error("{\"$currentDate\": {\"d\": {\"x\": 1}}}", 2, "Unrecognized $currentDate option: x");
}

static void test_rename(void **state)
{
   (void)state;
   /* the renamed field moves to the end */
   check_update("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$rename\": {\"a\": \"z\"}}", "{\"_id\": 1, \"b\": 2, \"z\": 1}",
                true);
   check_update("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$rename\": {\"a\": \"b\"}}", "{\"_id\": 1, \"b\": 1}", true);
   check_update("{\"_id\": 1, \"name\": {\"first\": \"a\", \"last\": \"b\"}}",
                "{\"$rename\": {\"name.first\": \"name.fname\"}}",
                "{\"_id\": 1, \"name\": {\"last\": \"b\", \"fname\": \"a\"}}", true);
   check_update("{\"_id\": 1, \"a\": {\"b\": 1}}", "{\"$rename\": {\"a.b\": \"c.d\"}}",
                "{\"_id\": 1, \"a\": {}, \"c\": {\"d\": 1}}", true);
   /* missing source is a noop */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$rename\": {\"x\": \"y\"}}", "{\"_id\": 1, \"a\": 1}", false);
   check_parse_error("{\"$rename\": {\"a\": 1}}", 2, "The 'to' field for $rename must be a string: a: 1");
   check_parse_error("{\"$rename\": {\"a\": \"a\"}}", 2,
                     "The source and target field for $rename must differ: a: \"a\"");
   check_parse_error("{\"$rename\": {\"a\": \"a.b\"}}", 2,
                     "The source and target field for $rename must not be on the same path: a: \"a.b\"");
   check_parse_error("{\"$rename\": {\"a.$\": \"b\"}}", 2, "The source field for $rename may not be dynamic: a.$");
   check_parse_error("{\"$rename\": {\"a\": \"b.$[]\"}}", 2,
                     "The destination field for $rename may not be dynamic: b.$[]");
   check_parse_error("{\"$rename\": {\"a.$\": 1}}", 2, "The 'to' field for $rename must be a string: a.$: 1");
   check_parse_error("{\"$rename\": {\"a\": \"a.\"}}", 56,
                     "The update path 'a.' contains an empty field name, which is not allowed.");
   check_parse_error("{\"$rename\": {\"a\": \"b\"}, \"$set\": {\"b\": 1}}", 40,
                     "Updating the path 'b' would create a conflict at 'b'");
   check_apply_error(
       "{\"_id\": 1, \"a\": [{\"b\": 1}]}", "{\"$rename\": {\"a.0.b\": \"c\"}}", 2,
       "The source field cannot be an array element, 'a.0.b' in doc with _id: 1 has an array field called "
       "'a'");
   check_apply_error("{\"_id\": 1, \"a\": 1, \"x\": [1]}", "{\"$rename\": {\"a\": \"x.5\"}}", 2,
                     "The destination field cannot be an array element, 'x.5' in doc with _id: 1 has an array field "
                     "called 'x'");
   check_apply_error("{\"_id\": 1}", "{\"$rename\": {\"_id\": \"b\"}}", 66,
                     "Unsetting the path '_id' using $rename would modify the immutable field '_id'");
}

static void test_set_on_insert(void **state)
{
   (void)state;
   /* not an insert: ignored */
   check_update("{\"_id\": 1, \"a\": 1}", "{\"$setOnInsert\": {\"b\": 1}}", "{\"_id\": 1, \"a\": 1}", false);
}

static void test_bit(void **state)
{
   (void)state;
   /* MongoDB's $bit reference examples */
   check_update("{\"_id\": 1, \"expdata\": 13}", "{\"$bit\": {\"expdata\": {\"and\": 10}}}",
                "{\"_id\": 1, \"expdata\": 8}", true);
   check_update("{\"_id\": 2, \"expdata\": 3}", "{\"$bit\": {\"expdata\": {\"or\": 5}}}",
                "{\"_id\": 2, \"expdata\": 7}", true);
   check_update("{\"_id\": 3, \"expdata\": 1}", "{\"$bit\": {\"expdata\": {\"xor\": 5}}}",
                "{\"_id\": 3, \"expdata\": 4}", true);
   check_update("{\"_id\": 1, \"a\": 3}", "{\"$bit\": {\"a\": {\"and\": 3}}}", "{\"_id\": 1, \"a\": 3}", false);
   check_update("{\"_id\": 1, \"a\": 3}", "{\"$bit\": {\"a\": {\"or\": {\"$numberLong\": \"4\"}}}}",
                "{\"_id\": 1, \"a\": {\"$numberLong\": \"7\"}}", true);
   check_update("{\"_id\": 1}", "{\"$bit\": {\"a\": {\"or\": 6}}}", "{\"_id\": 1, \"a\": 6}", true);
   check_parse_error("{\"$bit\": {\"a\": 1}}", 2,
                     "The $bit modifier is not compatible with a int. You must pass in an embedded document: {$bit: "
                     "{field: {and/or/xor: #}}");
   check_parse_error("{\"$bit\": {\"a\": {\"nand\": 1}}}", 2,
                     "The $bit modifier only supports 'and', 'or', and 'xor', not 'nand' which is an unknown operator: "
                     "{nand: 1}");
   check_parse_error("{\"$bit\": {\"a\": {\"and\": 1.5}}}", 2,
                     "The $bit modifier field must be an Integer(32/64 bit); a 'double' is not supported here: {and: "
                     "1.5}");
   check_parse_error("{\"$bit\": {\"a\": {}}}", 2,
                     "You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}");
   check_apply_error("{\"_id\": 1, \"a\": 1.0}", "{\"$bit\": {\"a\": {\"and\": 1}}}", 2,
                     "Cannot apply $bit to a value of non-integral type._id: 1 has the field a of non-integer type "
                     "double");
}

static void test_kinds(void **state)
{
   (void)state;
   const struct {
      const char *json;
      duet_update_kind_t kind;
      bool positional;
   } cases[] = {
       {"{\"$set\": {\"a\": 1}}", DUET_UPDATE_MODIFIERS, false},
       {"{\"$set\": {\"a.$.b\": 1}}", DUET_UPDATE_MODIFIERS, true},
       {"{\"$inc\": {\"a.$[]\": 1}}", DUET_UPDATE_MODIFIERS, false},
       {"{\"a\": 1}", DUET_UPDATE_REPLACEMENT, false},
       {"{}", DUET_UPDATE_REPLACEMENT, false},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      bson_t *spec = TEST_JSON(cases[i].json);
      duet_update_t *update = NULL;
      duet_error_t error = DUET_ERROR_INIT;
      assert_true(duet_update_parse(spec, NULL, &update, &error));
      assert_int_equal(duet_update_kind(update), cases[i].kind);
      assert_int_equal(duet_update_uses_positional(update), cases[i].positional);
      duet_update_destroy(update);
      bson_destroy(spec);
   }
   /* arrayFilters belong to modifier updates only */
   bson_t *spec = TEST_JSON("{\"a\": 1}");
   bson_t *filters = TEST_JSON("{\"0\": {\"x\": 1}}");
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.array_filters = filters;
   duet_update_t *update = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_false(duet_update_parse(spec, &options, &update, &error));
   assert_int_equal(error.code, 9);
   assert_string_equal(error.message, "arrayFilters may not be specified for replacement-style updates");
   bson_destroy(spec);
   bson_destroy(filters);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_set),          cmocka_unit_test(test_set_errors), cmocka_unit_test(test_parse_errors),
       cmocka_unit_test(test_unset),        cmocka_unit_test(test_inc_mul),    cmocka_unit_test(test_min_max),
       cmocka_unit_test(test_current_date), cmocka_unit_test(test_rename),     cmocka_unit_test(test_set_on_insert),
       cmocka_unit_test(test_bit),          cmocka_unit_test(test_kinds),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
