/*
 * test_expr_ops.c — every aggregation expression operator other than the $convert family:
 * field paths and variables, conditionals, comparisons, arithmetic, strings, arrays,
 * objects and dates, with MongoDB's results and error codes/messages.
 */
#include "expr_test_util.h"


static void test_paths_literals_variables(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK("{\"a\": {\"b\": 5}}", "\"$a.b\"", "5"),
       OK("{\"a\": {\"b\": 5}}", "\"$a.c\"", "MISSING"),
       OK("{\"a\": [{\"b\": 1}, {\"c\": 2}, {\"b\": 3}, 7, [{\"b\": 4}]]}", "\"$a.b\"", "[1, 3, [4]]"),
       OK("{\"a\": 1}", "\"$$ROOT\"", "{\"a\": 1}"),
       OK("{\"a\": 1}", "\"$$CURRENT.a\"", "1"),
       OK("{\"a\": 1}", "\"$$REMOVE\"", "MISSING"),
       OK("{\"a\": 1}", "{\"x\": \"$a\", \"y\": \"$nope\", \"z\": {\"w\": [\"$a\", \"$nope\"]}}",
          "{\"x\": 1, \"z\": {\"w\": [1, null]}}"),
       OK(NULL, "{\"$literal\": \"$notapath\"}", "\"$notapath\""),
       OK(NULL, "{\"$literal\": {\"$add\": [1, 2]}}", "{\"$add\": [1, 2]}"),
       OK(NULL, "{\"$let\": {\"vars\": {\"x\": 2, \"y\": 3}, \"in\": {\"$multiply\": [\"$$x\", \"$$y\"]}}}", "6"),
       OK(NULL,
          "{\"$let\": {\"vars\": {\"x\": 2}, \"in\": {\"$let\": {\"vars\": {\"x\": {\"$add\": [\"$$x\", 1]}}, "
          "\"in\": \"$$x\"}}}}",
          "3"),
       OK("{\"o\": {\"p\": 9}}", "{\"$let\": {\"vars\": {\"v\": \"$o\"}, \"in\": \"$$v.p\"}}", "9"),
       ERR(NULL, "\"$$nope\"", 17276, "Use of undefined variable: nope"),
       ERR(NULL, "{\"$let\": {\"vars\": {\"X\": 1}, \"in\": 1}}", 16867,
           "'X' starts with an invalid character for a user variable name"),
       ERR(NULL, "{\"$let\": {\"vars\": {\"x\": 1}}}", 16877, "Missing 'in' parameter to $let"),
       ERR(NULL, "{\"$let\": {\"in\": 1}}", 16876, "Missing 'vars' parameter to $let"),
       ERR(NULL, "{\"$let\": {\"vars\": {}, \"in\": 1, \"z\": 1}}", 16875, "Unrecognized parameter to $let: z"),
       ERR(NULL, "\"$\"", 16872, "'$' by itself is not a valid FieldPath"),
       ERR(NULL, "\"$a..b\"", 15998, "FieldPath field names may not be empty strings."),
       ERR(NULL, "{\"$foo\": 1}", 168, "Unrecognized expression '$foo'"),
       ERR(NULL, "{\"$add\": [1], \"x\": 1}", 15983,
           "an expression specification must contain exactly one field, the name of the expression. Found 2 fields "
           "in {$add: [1], x: 1}"),
       ERR(NULL, "{\"a\": 1, \"$add\": [1]}", 16410,
           "FieldPath field names may not start with '$'. Consider using $getField or $setField."),
   };
   RUN(cases);
}

static void test_type_and_conditionals(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$isNumber\": 1.5}", "true"),
       OK(NULL, "{\"$isNumber\": \"1\"}", "false"),
       OK(NULL, "{\"$ifNull\": [null, \"$missing\", 3]}", "3"),
       OK(NULL, "{\"$ifNull\": [\"$missing\", \"$alsoMissing\"]}", "MISSING"),
       OK(NULL, "{\"$ifNull\": [0, 1]}", "0"),
       ERR(NULL, "{\"$ifNull\": [1]}", 1257300, "$ifNull needs at least two arguments, had: 1"),
       OK(NULL, "{\"$cond\": [true, 1, 2]}", "1"),
       OK(NULL, "{\"$cond\": {\"if\": 0, \"then\": 1, \"else\": 2}}", "2"),
       OK(NULL, "{\"$cond\": {\"if\": \"$missing\", \"then\": 1, \"else\": \"$missing\"}}", "MISSING"),
       ERR(NULL, "{\"$cond\": {\"then\": 1, \"else\": 2}}", 17080, "Missing 'if' parameter to $cond"),
       ERR(NULL, "{\"$cond\": {\"if\": 1, \"then\": 1, \"else\": 2, \"x\": 1}}", 17083,
           "Unrecognized parameter to $cond: x"),
       ERR(NULL, "{\"$cond\": [1, 2]}", 16020, "Expression $cond takes exactly 3 arguments. 2 were passed in."),
       OK("{\"n\": 5}",
          "{\"$switch\": {\"branches\": [{\"case\": {\"$lt\": [\"$n\", 3]}, \"then\": \"low\"}, "
          "{\"case\": {\"$lt\": [\"$n\", 9]}, \"then\": \"mid\"}], \"default\": \"high\"}}",
          "\"mid\""),
       OK("{\"n\": 50}",
          "{\"$switch\": {\"branches\": [{\"case\": {\"$lt\": [\"$n\", 3]}, \"then\": \"low\"}], "
          "\"default\": \"high\"}}",
          "\"high\""),
       ERR("{\"n\": 50}", "{\"$switch\": {\"branches\": [{\"case\": false, \"then\": 1}]}}", 40066,
           "$switch could not find a matching branch for an input, and no default was specified."),
       ERR(NULL, "{\"$switch\": {\"branches\": []}}", 40068, "$switch requires at least one branch."),
       ERR(NULL, "{\"$switch\": {\"branches\": [{\"then\": 1}]}}", 40064,
           "$switch requires each branch have a 'case' expression"),
       ERR(NULL, "{\"$switch\": 1}", 40060, "$switch requires an object as an argument, found: int"),
   };
   RUN(cases);
}

/* libbson's JSON reader claims any "$type" key for legacy binary, so $type specs are built here. */
static void check_type(const char *doc_json, const char *argument_json, const char *expected)
{
   bson_t *argument = TEST_JSON(argument_json);
   bson_t *doc = TEST_JSON(doc_json);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, argument, "a"));
   bson_t spec = BSON_INITIALIZER;
   bson_append_value(&spec, "$type", 5, bson_iter_value(&iter));
   bson_value_t spec_value = {.value_type = BSON_TYPE_DOCUMENT};
   spec_value.value.v_doc.data = (uint8_t *)bson_get_data(&spec);
   spec_value.value.v_doc.data_len = spec.len;
   duet_expr_t *expr = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_expr_parse(&spec_value, NULL, &expr, &error));
   bson_value_t out;
   assert_true(duet_expr_evaluate(expr, doc, NULL, &out, &error));
   assert_int_equal(out.value_type, BSON_TYPE_UTF8);
   assert_string_equal(out.value.v_utf8.str, expected);
   bson_value_destroy(&out);
   duet_expr_destroy(expr);
   bson_destroy(&spec);
   bson_destroy(argument);
   bson_destroy(doc);
}

static void test_type(void **state)
{
   (void)state;
   check_type("{}", "{\"a\": 1}", "int");
   check_type("{}", "{\"a\": [1.5]}", "double");
   check_type("{}", "{\"a\": \"$missing\"}", "missing");
   check_type("{}", "{\"a\": [[1]]}", "array");
   check_type("{}", "{\"a\": {\"$numberDecimal\": \"1\"}}", "decimal");
   check_type("{\"x\": {\"$date\": {\"$numberLong\": \"1\"}}}", "{\"a\": \"$x\"}", "date");
   check_type("{\"x\": {\"y\": null}}", "{\"a\": \"$x.y\"}", "null");
   check_type("{}", "{\"a\": {\"$literal\": {\"k\": 1}}}", "object");
}

static void test_comparison_and_boolean(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$eq\": [1, 1.0]}", "true"),
       OK(NULL, "{\"$eq\": [1, {\"$numberDecimal\": \"1.00\"}]}", "true"),
       OK(NULL, "{\"$eq\": [\"$missing\", null]}", "false"),
       OK(NULL, "{\"$ne\": [\"a\", \"b\"]}", "true"),
       OK(NULL, "{\"$gt\": [\"a\", 5]}", "true"),
       OK(NULL, "{\"$gte\": [2, 2]}", "true"),
       OK(NULL, "{\"$lt\": [null, 0]}", "true"),
       OK(NULL, "{\"$lte\": [[1, 2], [1, 3]]}", "true"),
       OK(NULL, "{\"$cmp\": [\"b\", \"a\"]}", "1"),
       OK(NULL, "{\"$cmp\": [1, 2]}", "-1"),
       OK(NULL, "{\"$cmp\": [{\"a\": 1}, {\"a\": 1}]}", "0"),
       ERR(NULL, "{\"$eq\": [1]}", 16020, "Expression $eq takes exactly 2 arguments. 1 were passed in."),
       OK(NULL, "{\"$and\": [1, \"green\"]}", "true"),
       OK(NULL, "{\"$and\": []}", "true"),
       OK(NULL, "{\"$and\": [true, 0]}", "false"),
       OK(NULL, "{\"$or\": [null, 0, \"$missing\"]}", "false"),
       OK(NULL, "{\"$or\": [null, [false]]}", "true"),
       OK(NULL, "{\"$not\": [0]}", "true"),
       OK(NULL, "{\"$not\": {\"$numberDecimal\": \"0.0\"}}", "true"),
       ERR(NULL, "{\"$not\": [1, 2]}", 16020, "Expression $not takes exactly 1 arguments. 2 were passed in."),
   };
   RUN(cases);
}

static void test_arithmetic(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$add\": [1, 2]}", "3"),
       OK(NULL, "{\"$add\": [2147483647, 1]}", "{\"$numberLong\": \"2147483648\"}"),
       OK(NULL, "{\"$add\": [{\"$numberLong\": \"9223372036854775807\"}, 1]}", "9223372036854775808.0"),
       OK(NULL, "{\"$add\": [1, 2.5]}", "3.5"),
       OK(NULL, "{\"$add\": [1, {\"$numberDecimal\": \"2.5\"}]}", "{\"$numberDecimal\": \"3.5\"}"),
       OK(NULL, "{\"$add\": [1, null, \"x\"]}", "null"),
       OK(NULL, "{\"$add\": []}", "0"),
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"1000\"}}}", "{\"$add\": [\"$d\", 500, 1.6]}",
          "{\"$date\": {\"$numberLong\": \"1502\"}}"),
       ERR("{\"d\": {\"$date\": {\"$numberLong\": \"1000\"}}}", "{\"$add\": [\"$d\", \"$d\"]}", 16612,
           "only one date allowed in an $add expression"),
       ERR(NULL, "{\"$add\": [1, \"a\"]}", 14, "$add only supports numeric or date types, not string"),
       OK(NULL, "{\"$subtract\": [5, 7]}", "-2"),
       OK(NULL, "{\"$subtract\": [{\"$numberLong\": \"5\"}, 7]}", "{\"$numberLong\": \"-2\"}"),
       OK(NULL, "{\"$subtract\": [5, null]}", "null"),
       OK("{\"a\": {\"$date\": {\"$numberLong\": \"5000\"}}, \"b\": {\"$date\": {\"$numberLong\": \"1000\"}}}",
          "{\"$subtract\": [\"$a\", \"$b\"]}", "{\"$numberLong\": \"4000\"}"),
       OK("{\"a\": {\"$date\": {\"$numberLong\": \"5000\"}}}", "{\"$subtract\": [\"$a\", 1000]}",
          "{\"$date\": {\"$numberLong\": \"4000\"}}"),
       ERR("{\"a\": {\"$date\": {\"$numberLong\": \"5000\"}}}", "{\"$subtract\": [1000, \"$a\"]}", 14,
           "can't $subtract date from int"),
       ERR(NULL, "{\"$subtract\": [\"a\", \"b\"]}", 14, "can't $subtract string from string"),
       ERR(NULL, "{\"$subtract\": [1]}", 16020, "Expression $subtract takes exactly 2 arguments. 1 were passed in."),
       OK(NULL, "{\"$multiply\": [2, 3, 4]}", "24"),
       OK(NULL, "{\"$multiply\": [65536, 65536]}", "{\"$numberLong\": \"4294967296\"}"),
       OK(NULL, "{\"$multiply\": [2, 1.5]}", "3.0"),
       ERR(NULL, "{\"$multiply\": [2, \"x\"]}", 14, "$multiply only supports numeric types, not string"),
       OK(NULL, "{\"$divide\": [9, 2]}", "4.5"),
       OK(NULL, "{\"$divide\": [{\"$numberDecimal\": \"9\"}, 2]}", "{\"$numberDecimal\": \"4.5\"}"),
       OK(NULL, "{\"$divide\": [null, 2]}", "null"),
       ERR(NULL, "{\"$divide\": [1, 0]}", 2, "can't $divide by zero"),
       ERR(NULL, "{\"$divide\": [\"a\", 2]}", 14, "$divide only supports numeric types, not string and int"),
       OK(NULL, "{\"$mod\": [7, 3]}", "1"),
       OK(NULL, "{\"$mod\": [-7, 3]}", "-1"),
       OK(NULL, "{\"$mod\": [7.5, 2]}", "1.5"),
       OK(NULL, "{\"$mod\": [{\"$numberLong\": \"7\"}, 3]}", "{\"$numberLong\": \"1\"}"),
       OK(NULL, "{\"$mod\": [{\"$numberDecimal\": \"7.5\"}, 2]}", "{\"$numberDecimal\": \"1.5\"}"),
       ERR(NULL, "{\"$mod\": [7, 0]}", 16610, "can't $mod by zero"),
       ERR(NULL, "{\"$mod\": [\"a\", 1]}", 16611, "$mod only supports numeric types, not string and int"),
       OK(NULL, "{\"$abs\": -5}", "5"),
       OK(NULL, "{\"$abs\": -2147483648}", "{\"$numberLong\": \"2147483648\"}"),
       OK(NULL, "{\"$abs\": -1.5}", "1.5"),
       OK(NULL, "{\"$abs\": null}", "null"),
       ERR(NULL, "{\"$abs\": {\"$numberLong\": \"-9223372036854775808\"}}", 28680, "can't take $abs of long long min"),
       ERR(NULL, "{\"$abs\": \"x\"}", 28765, "$abs only supports numeric types, not string"),
       OK(NULL, "{\"$floor\": -1.5}", "-2.0"),
       OK(NULL, "{\"$ceil\": 1.2}", "2.0"),
       OK(NULL, "{\"$ceil\": 7}", "7"),
       OK(NULL, "{\"$floor\": {\"$numberDecimal\": \"-1.5\"}}", "{\"$numberDecimal\": \"-2\"}"),
       OK(NULL, "{\"$ceil\": {\"$numberDecimal\": \"1.01\"}}", "{\"$numberDecimal\": \"2\"}"),
       ERR(NULL, "{\"$floor\": \"x\"}", 28765, "$floor only supports numeric types, not string"),
       OK(NULL, "{\"$round\": [2.5, 0]}", "2.0"),
       OK(NULL, "{\"$round\": [3.5]}", "4.0"),
       OK(NULL, "{\"$round\": [19.25, 1]}", "19.2"),
       OK(NULL, "{\"$round\": [28.73, -1]}", "30.0"),
       OK(NULL, "{\"$round\": [1234, -2]}", "1200"),
       OK(NULL, "{\"$round\": [{\"$numberDecimal\": \"1.2345\"}, 2]}", "{\"$numberDecimal\": \"1.23\"}"),
       OK(NULL, "{\"$round\": [5, 2]}", "5"),
       OK(NULL, "{\"$trunc\": [19.25, 1]}", "19.2"),
       OK(NULL, "{\"$trunc\": [-7.9]}", "-7.0"),
       OK(NULL, "{\"$trunc\": [1299, -2]}", "1200"),
       OK(NULL, "{\"$round\": [null, 1]}", "null"),
       ERR(NULL, "{\"$round\": [1.5, 101]}", 51083,
           "cannot apply $round with precision value 101 value must be in [-20, 100]"),
       ERR(NULL, "{\"$round\": [1.5, 1.5]}", 51082, "precision argument to  $round must be a integral value"),
       ERR(NULL, "{\"$trunc\": [\"a\"]}", 51081, "$trunc only supports numeric types, not string"),
       ERR(NULL, "{\"$round\": [1, 2, 3]}", 28667,
           "Expression $round takes at least 1 arguments, and at most 2, but 3 were passed in."),
   };
   RUN(cases);
}

static void test_strings(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$concat\": [\"a\", \"b\", \"c\"]}", "\"abc\""),
       OK(NULL, "{\"$concat\": [\"a\", null]}", "null"),
       OK(NULL, "{\"$concat\": []}", "\"\""),
       ERR(NULL, "{\"$concat\": [\"a\", 1]}", 16702, "$concat only supports strings, not int"),
       OK(NULL, "{\"$toLower\": \"ABC déF\"}", "\"abc déf\""),
       OK(NULL, "{\"$toUpper\": \"abc\"}", "\"ABC\""),
       OK(NULL, "{\"$toUpper\": null}", "\"\""),
       OK(NULL, "{\"$toLower\": 12}", "\"12\""),
       ERR(NULL, "{\"$toLower\": [[1]]}", 16007, "can't convert from BSON type array to String"),
       OK(NULL, "{\"$substrCP\": [\"héllo\", 1, 3]}", "\"éll\""),
       OK(NULL, "{\"$substrCP\": [\"abc\", 5, 3]}", "\"\""),
       OK(NULL, "{\"$substrCP\": [null, 0, 3]}", "\"\""),
       ERR(NULL, "{\"$substrCP\": [\"abc\", \"1\", 3]}", 34450,
           "$substrCP: starting index must be a numeric type (is BSON type string)"),
       ERR(NULL, "{\"$substrCP\": [\"abc\", 1.5, 3]}", 34451,
           "$substrCP: starting index cannot be represented as a 32-bit integral value: 1.5"),
       ERR(NULL, "{\"$substrCP\": [\"abc\", 0, -1]}", 34454, "$substrCP: length must be a nonnegative integer."),
       ERR(NULL, "{\"$substrCP\": [\"abc\", -1, 1]}", 34455,
           "$substrCP: the starting index must be nonnegative integer."),
       OK(NULL, "{\"$strLenCP\": \"héllo\"}", "5"),
       ERR(NULL, "{\"$strLenCP\": null}", 34471, "$strLenCP requires a string argument, found: null"),
       OK(NULL, "{\"$indexOfCP\": [\"cafétéria\", \"é\"]}", "3"),
       OK(NULL, "{\"$indexOfCP\": [\"cafétéria\", \"é\", 4]}", "5"),
       OK(NULL, "{\"$indexOfCP\": [\"abc\", \"z\"]}", "-1"),
       OK(NULL, "{\"$indexOfCP\": [\"abc\", \"b\", 0, 1]}", "-1"),
       OK(NULL, "{\"$indexOfCP\": [\"\", \"\"]}", "0"),
       OK(NULL, "{\"$indexOfCP\": [null, \"a\"]}", "null"),
       ERR(NULL, "{\"$indexOfCP\": [1, \"a\"]}", 40093,
           "$indexOfCP requires a string as the first argument, found: int"),
       ERR(NULL, "{\"$indexOfCP\": [\"a\", null]}", 40094,
           "$indexOfCP requires a string as the second argument, found: null"),
       ERR(NULL, "{\"$indexOfCP\": [\"a\", \"a\", -1]}", 40097,
           "$indexOfCP requires a nonnegative starting index, found: -1"),
       ERR(NULL, "{\"$indexOfCP\": [\"a\", \"a\", 1.5]}", 40096,
           "$indexOfCPrequires an integral starting index, found a value of type: double, with value: 1.5"),
       OK(NULL, "{\"$split\": [\"June-15-2013\", \"-\"]}", "[\"June\", \"15\", \"2013\"]"),
       OK(NULL, "{\"$split\": [\"banana split\", \"a\"]}", "[\"b\", \"n\", \"n\", \" split\"]"),
       OK(NULL, "{\"$split\": [\"headphone jack\", \"headphone jack\"]}", "[\"\", \"\"]"),
       OK(NULL, "{\"$split\": [null, \"a\"]}", "null"),
       ERR(NULL, "{\"$split\": [1, \"a\"]}", 40085,
           "$split requires an expression that evaluates to a string as a first argument, found: int"),
       ERR(NULL, "{\"$split\": [\"a\", 1]}", 40086,
           "$split requires an expression that evaluates to a string as a second argument, found: int"),
       ERR(NULL, "{\"$split\": [\"a\", \"\"]}", 40087, "$split requires a non-empty separator"),
       OK(NULL, "{\"$trim\": {\"input\": \"  \\t hi \\n \"}}", "\"hi\""),
       OK(NULL, "{\"$ltrim\": {\"input\": \"  hi  \"}}", "\"hi  \""),
       OK(NULL, "{\"$rtrim\": {\"input\": \"  hi  \"}}", "\"  hi\""),
       OK(NULL, "{\"$trim\": {\"input\": \"xxhixyx\", \"chars\": \"xy\"}}", "\"hi\""),
       OK(NULL, "{\"$trim\": {\"input\": \"\\u00a0é hi é\", \"chars\": \"é \\u00a0\"}}", "\"hi\""),
       OK(NULL, "{\"$trim\": {\"input\": null}}", "null"),
       ERR(NULL, "{\"$trim\": {\"input\": 1}}", 50699,
           "$trim requires its input to be a string, got 1 (of type int) instead."),
       ERR(NULL, "{\"$trim\": {\"chars\": \"a\"}}", 50695, "$trim requires an 'input' field"),
       ERR(NULL, "{\"$trim\": {\"input\": \"a\", \"x\": 1}}", 50694, "$trim found an unknown argument: x"),
       ERR(NULL, "{\"$trim\": \"a\"}", 50696, "$trim only supports an object as an argument, found string"),
   };
   RUN(cases);
}

static void test_arrays(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$arrayElemAt\": [[1, 2, 3], 0]}", "1"),
       OK(NULL, "{\"$arrayElemAt\": [[1, 2, 3], -1]}", "3"),
       OK(NULL, "{\"$arrayElemAt\": [[1, 2, 3], 15]}", "MISSING"),
       OK(NULL, "{\"$arrayElemAt\": [null, 0]}", "null"),
       ERR(NULL, "{\"$arrayElemAt\": [\"a\", 0]}", 28689,
           "$arrayElemAt's first argument must be an array, but is string"),
       ERR(NULL, "{\"$arrayElemAt\": [[1], \"a\"]}", 28690,
           "$arrayElemAt's second argument must be a numeric value, but is string"),
       ERR(NULL, "{\"$arrayElemAt\": [[1], 1.5]}", 28691,
           "$arrayElemAt's second argument must be representable as a 32-bit integer: 1.5"),
       OK(NULL, "{\"$first\": [[1, 2, 3]]}", "1"),
       OK(NULL, "{\"$last\": [[1, 2, 3]]}", "3"),
       OK(NULL, "{\"$first\": [[]]}", "MISSING"),
       OK(NULL, "{\"$first\": \"$missing\"}", "null"),
       ERR(NULL, "{\"$first\": \"a\"}", 28689, "$first's argument must be an array, but is string"),
       OK(NULL, "{\"$size\": [[1, 2]]}", "2"),
       ERR(NULL, "{\"$size\": \"$missing\"}", 17124,
           "The argument to $size must be an array, but was of type: missing"),
       OK(NULL, "{\"$in\": [2, [1, 2, 3]]}", "true"),
       OK(NULL, "{\"$in\": [2.0, [1, {\"$numberLong\": \"2\"}]]}", "true"),
       OK(NULL, "{\"$in\": [\"a\", []]}", "false"),
       ERR(NULL, "{\"$in\": [1, \"$missing\"]}", 40081, "$in requires an array as a second argument, found: missing"),
       OK(NULL, "{\"$concatArrays\": [[1], [2, [3]], []]}", "[1, 2, [3]]"),
       OK(NULL, "{\"$concatArrays\": [[1], null]}", "null"),
       ERR(NULL, "{\"$concatArrays\": [[1], 2]}", 28664, "$concatArrays only supports arrays, not int"),
       OK(NULL, "{\"$slice\": [[1, 2, 3], 2]}", "[1, 2]"),
       OK(NULL, "{\"$slice\": [[1, 2, 3], -2]}", "[2, 3]"),
       OK(NULL, "{\"$slice\": [[1, 2, 3], 15, 2]}", "[]"),
       OK(NULL, "{\"$slice\": [[1, 2, 3], -20, 2]}", "[1, 2]"),
       OK(NULL, "{\"$slice\": [[1, 2, 3, 4], 1, 2]}", "[2, 3]"),
       OK(NULL, "{\"$slice\": [null, 1]}", "null"),
       ERR(NULL, "{\"$slice\": [\"a\", 1]}", 28724,
           "First argument to $slice must be an array, but is of type: string"),
       ERR(NULL, "{\"$slice\": [[1], \"a\"]}", 28725,
           "Second argument to $slice must be a numeric value, but is of type: string"),
       ERR(NULL, "{\"$slice\": [[1], 1.5]}", 28726,
           "Second argument to $slice can't be represented as a 32-bit integer: 1.5"),
       ERR(NULL, "{\"$slice\": [[1], 0, 0]}", 28729, "Third argument to $slice must be positive: 0"),
       ERR(NULL, "{\"$slice\": [\"a\", 1, null]}", 28724,
           "First argument to $slice must be an array, but is of type: string"),
       OK(NULL, "{\"$slice\": [[1], 1, null]}", "null"),
       ERR(NULL, "{\"$arrayElemAt\": [[1], 2147483648.5]}", 28691,
           "$arrayElemAt's second argument must be representable as a 32-bit integer: 2.14748e+09"),
       OK(NULL, "{\"$isArray\": [[1]]}", "true"),
       OK(NULL, "{\"$reverseArray\": [[1, 2, 3]]}", "[3, 2, 1]"),
       OK("{\"q\": [1, 2, 3]}",
          "{\"$map\": {\"input\": \"$q\", \"as\": \"n\", \"in\": {\"$multiply\": [\"$$n\", 10]}}}", "[10, 20, 30]"),
       OK("{\"q\": [{\"a\": 1}, {}]}", "{\"$map\": {\"input\": \"$q\", \"in\": \"$$this.a\"}}", "[1, null]"),
       OK(NULL, "{\"$map\": {\"input\": null, \"in\": 1}}", "null"),
       ERR(NULL, "{\"$map\": {\"input\": 1, \"in\": 1}}", 16883, "input to $map must be an array not int"),
       ERR(NULL, "{\"$map\": {\"in\": 1}}", 16880, "Missing 'input' parameter to $map"),
       ERR(NULL, "{\"$map\": {\"input\": []}}", 16882, "Missing 'in' parameter to $map"),
       ERR(NULL, "{\"$map\": {\"input\": [], \"in\": 1, \"z\": 1}}", 16879, "Unrecognized parameter to $map: z"),
       OK("{\"q\": [1, 5, 2, 8]}",
          "{\"$filter\": {\"input\": \"$q\", \"as\": \"n\", \"cond\": {\"$gt\": [\"$$n\", 2]}}}", "[5, 8]"),
       OK("{\"q\": [1, 5, 2, 8]}",
          "{\"$filter\": {\"input\": \"$q\", \"cond\": {\"$gt\": [\"$$this\", 0]}, \"limit\": 2}}", "[1, 5]"),
       ERR(NULL, "{\"$filter\": {\"input\": \"a\", \"cond\": true}}", 28651,
           "input to $filter must be an array not string"),
       ERR(NULL, "{\"$filter\": {\"input\": []}}", 28650, "Missing 'cond' parameter to $filter"),
       ERR(NULL, "{\"$filter\": {\"input\": [], \"as\": [], \"cond\": 1}}", 16866,
           "empty variable names are not allowed"),
       ERR(NULL, "{\"$map\": {\"input\": [], \"as\": \"Bad\", \"in\": 1}}", 16867,
           "'Bad' starts with an invalid character for a user variable name"),
       OK(NULL,
          "{\"$reduce\": {\"input\": [1, 2, 3], \"initialValue\": 0, \"in\": {\"$add\": [\"$$value\", \"$$this\"]}}}",
          "6"),
       OK(NULL,
          "{\"$reduce\": {\"input\": [\"a\", \"b\"], \"initialValue\": \"\", \"in\": {\"$concat\": [\"$$value\", "
          "\"$$this\"]}}}",
          "\"ab\""),
       OK(NULL, "{\"$reduce\": {\"input\": null, \"initialValue\": 0, \"in\": 1}}", "null"),
       ERR(NULL, "{\"$reduce\": {\"input\": 5, \"initialValue\": 0, \"in\": 1}}", 40080,
           "$reduce requires that 'input' be an array, found: 5"),
       ERR(NULL, "{\"$reduce\": {\"input\": [], \"in\": 1}}", 40078, "$reduce requires 'initialValue' to be specified"),
       ERR(NULL, "\"$$this\"", 17276, "Use of undefined variable: this"),
   };
   RUN(cases);
}

static void test_objects(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$mergeObjects\": [{\"a\": 1, \"b\": 2}, null, {\"b\": 3, \"c\": 4}]}",
          "{\"a\": 1, \"b\": 3, \"c\": 4}"),
       OK(NULL, "{\"$mergeObjects\": [\"$missing\"]}", "{}"),
       ERR(NULL, "{\"$mergeObjects\": [{\"a\": 1}, 5]}", 40400,
           "$mergeObjects requires object inputs, but input 5 is of type int"),
       OK(NULL, "{\"$objectToArray\": {\"$literal\": {\"a\": 1, \"b\": [2]}}}",
          "[{\"k\": \"a\", \"v\": 1}, {\"k\": \"b\", \"v\": [2]}]"),
       OK(NULL, "{\"$objectToArray\": null}", "null"),
       ERR(NULL, "{\"$objectToArray\": 1}", 40390, "$objectToArray requires a document input, found: int"),
       OK(NULL, "{\"$arrayToObject\": [[[\"a\", 1], [\"b\", 2], [\"a\", 3]]]}", "{\"a\": 3, \"b\": 2}"),
       OK(NULL, "{\"$arrayToObject\": [[{\"k\": \"x\", \"v\": 1}]]}", "{\"x\": 1}"),
       OK(NULL, "{\"$arrayToObject\": [[]]}", "{}"),
       ERR(NULL, "{\"$arrayToObject\": [[[\"a\", 1], {\"k\": \"b\", \"v\": 2}]]}", 40396,
           "$arrayToObject requires a consistent input format. Elements mustall be arrays or all be objects. Array was "
           "detected, now found: object"),
       ERR(NULL, "{\"$arrayToObject\": [[[\"a\"]]]}", 40397,
           "$arrayToObject requires an array of size 2 arrays,found array of size: 1"),
       ERR(NULL, "{\"$arrayToObject\": [[[1, 2]]]}", 40395,
           "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key "
           "type: int"),
       ERR(NULL, "{\"$arrayToObject\": [[{\"k\": \"a\"}]]}", 40392,
           "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:1"),
       ERR(NULL, "{\"$arrayToObject\": [[1]]}", 40398, "Unrecognised input type format for $arrayToObject: int"),
       ERR(NULL, "{\"$arrayToObject\": [1]}", 40386, "$arrayToObject requires an array input, found: int"),
       OK("{\"a.b\": 5, \"a\": {\"b\": 1}}", "{\"$getField\": \"a.b\"}", "5"),
       OK("{\"$x\": 5}", "{\"$getField\": {\"field\": {\"$literal\": \"$x\"}, \"input\": \"$$ROOT\"}}", "5"),
       OK(NULL, "{\"$getField\": {\"field\": \"a\", \"input\": null}}", "null"),
       OK(NULL, "{\"$getField\": {\"field\": \"a\", \"input\": {\"b\": 1}}}", "MISSING"),
       OK(NULL, "{\"$getField\": {\"field\": \"a\", \"input\": 1}}", "MISSING"),
       OK("{\"s\": \"abc\", \"k\": \"s\"}", "{\"$getField\": \"$k\"}", "\"abc\""),
       ERR(NULL, "{\"$getField\": {\"input\": {}}}", 3041702, "$getField requires 'field' to be specified"),
       ERR("{\"n\": 1}", "{\"$getField\": \"$n\"}", 3041704,
           "$getField requires 'field' to evaluate to type String, but got int"),
       ERR(NULL, "{\"$getField\": \"$nosuch\"}", 3041704,
           "$getField requires 'field' to evaluate to type String, but got missing"),
       ERR(NULL, "{\"$getField\": {\"field\": 5, \"input\": {}}}", 3041704,
           "$getField requires 'field' to evaluate to type String, but got int"),
       OK("{\"a\": 1, \"b\": 2}", "{\"$setField\": {\"field\": \"b\", \"input\": \"$$ROOT\", \"value\": 9}}",
          "{\"a\": 1, \"b\": 9}"),
       OK("{\"a\": 1}", "{\"$setField\": {\"field\": \"c.d\", \"input\": \"$$ROOT\", \"value\": 9}}",
          "{\"a\": 1, \"c.d\": 9}"),
       OK("{\"a\": 1, \"b\": 2}", "{\"$setField\": {\"field\": \"a\", \"input\": \"$$ROOT\", \"value\": \"$$REMOVE\"}}",
          "{\"b\": 2}"),
       OK(NULL, "{\"$setField\": {\"field\": \"a\", \"input\": null, \"value\": 1}}", "null"),
       ERR(NULL, "{\"$setField\": {\"field\": \"a\", \"input\": {}}}", 4161103,
           "$setField requires 'value' to be specified"),
   };
   RUN(cases);
}

static void test_dates(void **state)
{
   (void)state;
#define doc "{\"d\": {\"$date\": \"2014-01-01T08:15:39.736Z\"}}"
   static const expr_case_t cases[] = {
       OK(doc, "{\"$year\": \"$d\"}", "2014"),
       OK(doc, "{\"$month\": \"$d\"}", "1"),
       OK(doc, "{\"$dayOfMonth\": \"$d\"}", "1"),
       OK(doc, "{\"$year\": {\"date\": \"$d\", \"timezone\": \"-09:00\"}}", "2013"),
       OK(doc, "{\"$dayOfMonth\": [\"$d\"]}", "1"),
       OK(doc, "{\"$year\": null}", "null"),
       /* the extremes of the int64 millisecond range (found by fuzz_expr: no overflow) */
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"-9223372036854775808\"}}}", "{\"$year\": \"$d\"}",
          "-292275055"),
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"-9223372036854775808\"}}}", "{\"$dayOfMonth\": \"$d\"}",
          "16"),
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"9223372036854775807\"}}}", "{\"$year\": \"$d\"}",
          "292278994"),
       OK("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$month\": \"$_id\"}", "3"),
       ERR(doc, "{\"$year\": \"abc\"}", 16006, "can't convert from BSON type string to Date"),
       ERR(doc, "{\"$year\": {\"date\": \"$d\", \"timezone\": \"Mars/Olympus_Mons\"}}", 40485,
           "unrecognized time zone identifier: \"Mars/Olympus_Mons\""),
       ERR(doc, "{\"$year\": {\"date\": \"$d\", \"timezone\": \"../../etc/passwd\"}}", 40485,
           "unrecognized time zone identifier: \"../../etc/passwd\""),
       ERR(doc, "{\"$year\": {\"date\": \"$d\", \"timezone\": 5}}", 40517,
           "timezone must evaluate to a string, found int"),
       ERR(doc, "{\"$year\": {\"date\": \"$d\", \"x\": 1}}", 40535, "unrecognized option to $year: \"x\""),
       ERR(doc, "{\"$year\": [\"$d\", 1]}", 40536,
           "$year accepts exactly one argument if given an array, but was given 2"),
       OK(doc, "{\"$dateToString\": {\"date\": \"$d\"}}", "\"2014-01-01T08:15:39.736Z\""),
       OK(doc, "{\"$dateToString\": {\"format\": \"%Y-%m-%d\", \"date\": \"$d\"}}", "\"2014-01-01\""),
       OK(doc, "{\"$dateToString\": {\"format\": \"%H:%M:%S:%L%z\", \"date\": \"$d\", \"timezone\": \"+04:30\"}}",
          "\"12:45:39:736+0430\""),
       OK(doc, "{\"$dateToString\": {\"format\": \"%j %w %u %U %V %G %Z %%\", \"date\": \"$d\"}}",
          "\"001 4 3 00 01 2014 +0 %\""),
       OK(doc, "{\"$dateToString\": {\"format\": \"%b %B\", \"date\": \"$d\"}}", "\"Jan January\""),
       OK(NULL, "{\"$dateToString\": {\"date\": null, \"onNull\": \"none\"}}", "\"none\""),
       OK(NULL, "{\"$dateToString\": {\"date\": \"$missing\"}}", "null"),
       ERR(doc, "{\"$dateToString\": {\"format\": \"%Q\", \"date\": \"$d\"}}", 18536,
           "Invalid format character '%Q' in format string"),
       ERR(doc, "{\"$dateToString\": {\"format\": \"abc%\", \"date\": \"$d\"}}", 18535,
           "Unmatched '%' at end of format string"),
       ERR(doc, "{\"$dateToString\": {\"format\": \"%Y\"}}", 18628, "Missing 'date' parameter to $dateToString"),
       ERR(doc, "{\"$dateToString\": {\"date\": \"$d\", \"x\": 1}}", 18534,
           "Unrecognized argument to $dateToString: x"),
       OK(NULL, "{\"$dateFromString\": {\"dateString\": \"2017-02-08T12:10:40.787\"}}",
          "{\"$date\": \"2017-02-08T12:10:40.787Z\"}"),
       OK(NULL, "{\"$dateFromString\": {\"dateString\": \"2017-02-08T12:10:40.787\", \"timezone\": \"+05:00\"}}",
          "{\"$date\": \"2017-02-08T07:10:40.787Z\"}"),
       OK(NULL, "{\"$dateFromString\": {\"dateString\": \"15-06-2018\", \"format\": \"%d-%m-%Y\"}}",
          "{\"$date\": \"2018-06-15T00:00:00Z\"}"),
       OK(NULL, "{\"$dateFromString\": {\"dateString\": \"oops\", \"onError\": \"bad\"}}", "\"bad\""),
       OK(NULL, "{\"$dateFromString\": {\"dateString\": null, \"onNull\": 0}}", "0"),
       ERR(NULL, "{\"$dateFromString\": {\"dateString\": \"oops\"}}", 241,
           "Error parsing date string 'oops'; an incomplete date/time string has been found, with elements missing"),
       ERR(NULL, "{\"$dateFromString\": {\"format\": \"%Y\"}}", 40542,
           "Missing 'dateString' parameter to $dateFromString"),
       ERR(NULL, "{\"$dateFromString\": 5}", 40540,
           "$dateFromString only supports an object as an argument, found: int"),
   };
   RUN(cases);
#undef doc
}

/* Olson zones come from the system's tz database (tzdata); without it they are 40485 errors. */
static void test_olson_time_zones(void **state)
{
   (void)state;
   const char *directory = getenv("TZDIR");
   char path[512];
   snprintf(path, sizeof path, "%s/America/New_York", directory && *directory ? directory : "/usr/share/zoneinfo");
   FILE *probe = fopen(path, "rb");
   if (!probe) {
      skip();
   }
   fclose(probe);
   static const expr_case_t cases[] = {
       OK("{\"d\": {\"$date\": \"2014-01-01T03:00:00Z\"}}",
          "{\"$year\": {\"date\": \"$d\", \"timezone\": \"America/New_York\"}}", "2013"),
       OK("{\"d\": {\"$date\": \"2017-07-04T12:00:00Z\"}}",
          "{\"$dateToString\": {\"date\": \"$d\", \"format\": \"%H:%M %z\", \"timezone\": \"America/New_York\"}}",
          "\"08:00 -0400\""),
       OK("{\"d\": {\"$date\": \"2017-01-04T12:00:00Z\"}}",
          "{\"$dateToString\": {\"date\": \"$d\", \"format\": \"%H:%M %z\", \"timezone\": \"America/New_York\"}}",
          "\"07:00 -0500\""),
       OK("{\"d\": {\"$date\": \"2100-07-04T12:00:00Z\"}}",
          "{\"$dateToString\": {\"date\": \"$d\", \"format\": \"%Y %H:%M %z\", \"timezone\": \"America/New_York\"}}",
          "\"2100 08:00 -0400\""),
       OK("{\"d\": {\"$date\": \"2020-06-01T00:00:00Z\"}}",
          "{\"$dateToString\": {\"date\": \"$d\", \"format\": \"%H:%M %z %Z\", \"timezone\": \"Asia/Kolkata\"}}",
          "\"05:30 +0530 +330\""),
       OK(NULL, "{\"$dateFromString\": {\"dateString\": \"2017-07-04T08:00:00\", \"timezone\": \"America/New_York\"}}",
          "{\"$date\": \"2017-07-04T12:00:00Z\"}"),
       OK(NULL,
          "{\"$dateFromString\": {\"dateString\": \"2017-07-04T08:00:00Z\", \"timezone\": \"Europe/London\", "
          "\"onError\": \"conflict\"}}",
          "\"conflict\""),
   };
   RUN(cases);
}

static void test_caller_variables_and_now(void **state)
{
   (void)state;
   duet_expr_scope_t *scope = duet_expr_scope_new();
   int index = duet_expr_scope_define(scope, "new");
   assert_int_equal(index, 0);
   assert_int_equal(duet_expr_scope_define(scope, "new"), 0);
   assert_int_equal(duet_expr_scope_lookup(scope, "nope"), -1);
   bson_t *spec = TEST_JSON("{\"e\": {\"x\": \"$$new.a\", \"n\": \"$$NOW\", "
                            "\"l\": {\"$let\": {\"vars\": {\"y\": 1}, \"in\": {\"$add\": [\"$$y\", \"$$new.a\"]}}}}}");
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, spec, "e"));
   duet_expr_t *expr = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_expr_parse_iter(&iter, scope, &expr, &error));
   assert_false(duet_expr_is_constant(expr));
   bson_t *variable_doc = TEST_JSON("{\"v\": {\"a\": 41}}");
   bson_iter_t vi;
   assert_true(bson_iter_init_find(&vi, variable_doc, "v"));
   bson_value_t variables[1];
   variables[0] = *bson_iter_value(&vi);
   duet_expr_env_t env = {variables, 1, 86400000};
   bson_t *root = TEST_JSON("{}");
   bson_value_t out;
   assert_true(duet_expr_evaluate(expr, root, &env, &out, &error));
   bson_t result = BSON_INITIALIZER;
   bson_append_value(&result, "v", 1, &out);
   ASSERT_JSON_EQ(&result, "{\"v\": {\"x\": 41, \"n\": {\"$date\": \"1970-01-02T00:00:00Z\"}, \"l\": 42}}");
   bson_destroy(&result);
   bson_value_destroy(&out);
   duet_expr_destroy(expr);
   /* without the scope, $$new is undefined */
   assert_false(duet_expr_parse_iter(&iter, NULL, &expr, &error));
   assert_int_equal(error.code, 17276);
   duet_error_clear(&error);
   duet_expr_scope_destroy(scope);
   bson_destroy(spec);
   bson_destroy(variable_doc);
   bson_destroy(root);
}

static void test_field_path_api(void **state)
{
   (void)state;
   bson_value_t spec = {.value_type = BSON_TYPE_UTF8};
   spec.value.v_utf8.str = (char *)"$a.b";
   spec.value.v_utf8.len = 4;
   duet_expr_t *expr = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_expr_parse(&spec, NULL, &expr, &error));
   const char *path = NULL;
   assert_true(duet_expr_is_field_path(expr, &path));
   assert_string_equal(path, "a.b");
   duet_expr_destroy(expr);
   char buffer[32];
   duet_expr_format_double(5e-324, buffer, sizeof buffer);
   assert_string_equal(buffer, "5e-324");
   duet_expr_format_double(1.7976931348623157e308, buffer, sizeof buffer);
   assert_string_equal(buffer, "1.7976931348623157e+308");
   duet_expr_format_double(0.1 + 0.2, buffer, sizeof buffer);
   assert_string_equal(buffer, "0.30000000000000004");
   duet_expr_format_date(-1, buffer, sizeof buffer);
   assert_string_equal(buffer, "1969-12-31T23:59:59.999Z");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_paths_literals_variables),
       cmocka_unit_test(test_type_and_conditionals),
       cmocka_unit_test(test_type),
       cmocka_unit_test(test_comparison_and_boolean),
       cmocka_unit_test(test_arithmetic),
       cmocka_unit_test(test_strings),
       cmocka_unit_test(test_arrays),
       cmocka_unit_test(test_objects),
       cmocka_unit_test(test_dates),
       cmocka_unit_test(test_olson_time_zones),
       cmocka_unit_test(test_caller_variables_and_now),
       cmocka_unit_test(test_field_path_api),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
