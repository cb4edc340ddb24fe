/*
 * test_expr_convert.c — the $convert family cell by cell: the conversion table of
 * ../shared/reference/mongodb-semantics.md §1.2, its error texts (§1.3), number and date
 * formatting (§1.4), evaluation order and onError/onNull (§1.1), and the shorthands.
 */
#include "expr_test_util.h"

#define NOERR " in $convert with no onError value"

static void test_from_double(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$toString\": 1.5}", "\"1.5\""),
       OK(NULL, "{\"$toString\": 0.1337}", "\"0.1337\""),
       OK(NULL, "{\"$toString\": 1.3e37}", "\"1.3e+37\""),
       OK(NULL, "{\"$toString\": 1.3e-37}", "\"1.3e-37\""),
       OK(NULL, "{\"$toString\": {\"$numberDouble\": \"-0.0\"}}", "\"-0\""),
       OK(NULL, "{\"$toString\": {\"$numberDouble\": \"Infinity\"}}", "\"Infinity\""),
       OK(NULL, "{\"$toString\": {\"$numberDouble\": \"-Infinity\"}}", "\"-Infinity\""),
       OK(NULL, "{\"$toString\": {\"$numberDouble\": \"NaN\"}}", "\"NaN\""),
       OK(NULL, "{\"$toString\": 1.23456789}", "\"1.23456789\""),
       OK(NULL, "{\"$toString\": 100000.0}", "\"100000\""),
       OK(NULL, "{\"$toString\": 1e16}", "\"1e+16\""),
       OK(NULL, "{\"$toString\": 1234567890123456.0}", "\"1234567890123456\""),
       OK(NULL, "{\"$toString\": 0.0001}", "\"0.0001\""),
       OK(NULL, "{\"$toString\": 0.00001}", "\"1e-05\""),
       OK(NULL, "{\"$toString\": -2.5}", "\"-2.5\""),
       OK(NULL, "{\"$toBool\": 0.0}", "false"),
       OK(NULL, "{\"$toBool\": {\"$numberDouble\": \"-0.0\"}}", "false"),
       OK(NULL, "{\"$toBool\": {\"$numberDouble\": \"NaN\"}}", "true"),
       OK(NULL, "{\"$toBool\": 2.5}", "true"),
       OK(NULL, "{\"$toDouble\": 2.5}", "2.5"),
       OK(NULL, "{\"$toInt\": 1.9}", "1"),
       OK(NULL, "{\"$toInt\": -1.9}", "-1"),
       OK(NULL, "{\"$toLong\": 1e18}", "{\"$numberLong\": \"1000000000000000000\"}"),
       OK(NULL, "{\"$toLong\": -5.5}", "{\"$numberLong\": \"-5\"}"),
       OK(NULL, "{\"$toDecimal\": 2.5}", "{\"$numberDecimal\": \"2.50000000000000\"}"),
       OK(NULL, "{\"$toDecimal\": 0.1}", "{\"$numberDecimal\": \"0.100000000000000\"}"),
       OK(NULL, "{\"$toDate\": 1.5e12}", "{\"$date\": {\"$numberLong\": \"1500000000000\"}}"),
       OK(NULL, "{\"$toDate\": 1.5}", "{\"$date\": {\"$numberLong\": \"1\"}}"),
       ERR(NULL, "{\"$toInt\": {\"$numberDouble\": \"NaN\"}}", 241,
           "Attempt to convert NaN value to integer type" NOERR),
       ERR(NULL, "{\"$toInt\": {\"$numberDouble\": \"Infinity\"}}", 241,
           "Attempt to convert infinity value to integer type" NOERR),
       ERR(NULL, "{\"$toLong\": {\"$numberDouble\": \"-Infinity\"}}", 241,
           "Attempt to convert infinity value to integer type" NOERR),
       ERR(NULL, "{\"$toDate\": {\"$numberDouble\": \"NaN\"}}", 241,
           "Attempt to convert NaN value to integer type" NOERR),
       ERR(NULL, "{\"$toInt\": 1e10}", 241, "Conversion would overflow target type" NOERR ": 1e+10"),
       ERR(NULL, "{\"$toInt\": 2147483647.5}", 241, "Conversion would overflow target type" NOERR ": 2.14748e+09"),
       ERR(NULL, "{\"$toLong\": 9.3e18}", 241, "Conversion would overflow target type" NOERR ": 9.3e+18"),
       ERR(NULL, "{\"$toDate\": 1e100}", 241, "Conversion would overflow target type" NOERR ": 1e+100"),
       ERR(NULL, "{\"$toObjectId\": 1.5}", 241, "Unsupported conversion from double to objectId" NOERR),
   };
   RUN(cases);
}

static void test_from_string(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$toDouble\": \"1.5\"}", "1.5"),
       OK(NULL, "{\"$toDouble\": \"-1e3\"}", "-1000.0"),
       OK(NULL, "{\"$toDouble\": \"7.08263e-317\"}", "{\"$numberDouble\": \"7.08263e-317\"}"),
       ERR(NULL, "{\"$toDouble\": \"\"}", 241, "Failed to parse number ''" NOERR ": Empty string"),
       ERR(NULL, "{\"$toDouble\": \" 1\"}", 241, "Failed to parse number ' 1'" NOERR ": Leading whitespace"),
       ERR(NULL, "{\"$toDouble\": \"abc\"}", 241, "Failed to parse number 'abc'" NOERR ": Did not consume any digits"),
       ERR(NULL, "{\"$toDouble\": \"1.5x\"}", 241,
           "Failed to parse number '1.5x'" NOERR ": Did not consume whole string."),
       ERR(NULL, "{\"$toDouble\": \"1E-1000\"}", 241, "Failed to parse number '1E-1000'" NOERR ": Out of range"),
       ERR(NULL, "{\"$toDouble\": \"1e1000\"}", 241, "Failed to parse number '1e1000'" NOERR ": Out of range"),
       ERR(NULL, "{\"$toDouble\": \"0x1A\"}", 241, "Illegal hexadecimal input" NOERR ": 0x1A"),
       ERR(NULL, "{\"$toInt\": \"0XFF\"}", 241, "Illegal hexadecimal input" NOERR ": 0XFF"),
       OK(NULL, "{\"$toInt\": \"123\"}", "123"),
       OK(NULL, "{\"$toInt\": \"-5\"}", "-5"),
       OK(NULL, "{\"$toInt\": \"+7\"}", "7"),
       OK(NULL, "{\"$toInt\": \"-2147483648\"}", "-2147483648"),
       ERR(NULL, "{\"$toInt\": \"5.5\"}", 241, "Failed to parse number '5.5'" NOERR ": Did not consume whole string."),
       ERR(NULL, "{\"$toInt\": \"\"}", 241, "Failed to parse number ''" NOERR ": No digits"),
       ERR(NULL, "{\"$toInt\": \"-\"}", 241, "Failed to parse number '-'" NOERR ": No digits"),
       ERR(NULL, "{\"$toInt\": \" 5\"}", 241, "Failed to parse number ' 5'" NOERR ": Did not consume whole string."),
       ERR(NULL, "{\"$toInt\": \"1e3\"}", 241, "Failed to parse number '1e3'" NOERR ": Did not consume whole string."),
       ERR(NULL, "{\"$toInt\": \"2147483648\"}", 241, "Failed to parse number '2147483648'" NOERR ": Overflow"),
       OK(NULL, "{\"$toLong\": \"5000000000\"}", "{\"$numberLong\": \"5000000000\"}"),
       OK(NULL, "{\"$toLong\": \"-9223372036854775808\"}", "{\"$numberLong\": \"-9223372036854775808\"}"),
       ERR(NULL, "{\"$toLong\": \"9223372036854775808\"}", 241,
           "Failed to parse number '9223372036854775808'" NOERR ": Overflow"),
       OK(NULL, "{\"$toDecimal\": \"1.5\"}", "{\"$numberDecimal\": \"1.5\"}"),
       OK(NULL, "{\"$toDecimal\": \"0.0000\"}", "{\"$numberDecimal\": \"0.0000\"}"),
       ERR(NULL, "{\"$toDecimal\": \"abc\"}", 241,
           "Failed to parse number 'abc'" NOERR ": Failed to parse string to decimal"),
       OK(NULL, "{\"$toDecimal\": \"-1.500\"}", "{\"$numberDecimal\": \"-1.500\"}"),
       OK(NULL, "{\"$toDecimal\": \"1.2345678901234567890123456789012345678\"}",
          "{\"$numberDecimal\": \"1.234567890123456789012345678901235\"}"),
       OK(NULL, "{\"$toDecimal\": \"12345678901234567890123456789012345\"}",
          "{\"$numberDecimal\": \"1.234567890123456789012345678901234E+34\"}"),
       OK(NULL, "{\"$toDecimal\": \"-Infinity\"}", "{\"$numberDecimal\": \"-Infinity\"}"),
       OK(NULL, "{\"$toDecimal\": \"1E+6144\"}", "{\"$numberDecimal\": \"1.000000000000000000000000000000000E+6144\"}"),
       ERR(NULL, "{\"$toDecimal\": \"1E+6200\"}", 241,
           "Failed to parse number '1E+6200'" NOERR ": Conversion from string to decimal would overflow"),
       ERR(NULL, "{\"$toDecimal\": \"1.5E-6200\"}", 241,
           "Failed to parse number '1.5E-6200'" NOERR ": Conversion from string to decimal would underflow"),
       ERR(NULL, "{\"$toDecimal\": \" 1\"}", 241, "Failed to parse number ' 1'" NOERR ": Leading whitespace"),
       ERR(NULL, "{\"$toDecimal\": \"1.5x\"}", 241,
           "Failed to parse number '1.5x'" NOERR ": Did not consume whole string."),
       ERR(NULL, "{\"$toDecimal\": \"\"}", 241, "Failed to parse number ''" NOERR ": Empty string"),
       OK(NULL, "{\"$toBool\": \"\"}", "true"),
       OK(NULL, "{\"$toBool\": \"false\"}", "true"),
       OK(NULL, "{\"$toString\": \"abc\"}", "\"abc\""),
       OK(NULL, "{\"$toObjectId\": \"5ab9cbfa31c2ab715d42129e\"}", "{\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}"),
       OK(NULL, "{\"$toObjectId\": \"5AB9CBFA31C2AB715D42129E\"}", "{\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}"),
       ERR(NULL, "{\"$toObjectId\": \"abc\"}", 241,
           "Failed to parse objectId 'abc'" NOERR
           ": Invalid string length for parsing to OID, expected 24 but found 3"),
       ERR(NULL, "{\"$toObjectId\": \"5ab9cbfa31c2ab715d42129z\"}", 241,
           "Failed to parse objectId '5ab9cbfa31c2ab715d42129z'" NOERR ": Invalid character found in hex string: z"),
       OK(NULL, "{\"$toDate\": \"2018-03-03\"}", "{\"$date\": \"2018-03-03T00:00:00Z\"}"),
       OK(NULL, "{\"$toDate\": \"2018-03-03T12:00:00Z\"}", "{\"$date\": \"2018-03-03T12:00:00Z\"}"),
       OK(NULL, "{\"$toDate\": \"2018-03-20T11:00:06.123+0500\"}", "{\"$date\": \"2018-03-20T06:00:06.123Z\"}"),
       OK(NULL, "{\"$toDate\": \"2018-03-20 11:00:06 +05:00\"}", "{\"$date\": \"2018-03-20T06:00:06Z\"}"),
       OK(NULL, "{\"$toDate\": \"2017-07-14T12:02:44.771 GMT+02:00\"}", "{\"$date\": \"2017-07-14T10:02:44.771Z\"}"),
       OK(NULL, "{\"$toDate\": \"2017-07-14T12:02:44.771 A\"}", "{\"$date\": \"2017-07-14T11:02:44.771Z\"}"),
       OK(NULL, "{\"$toDate\": \"July 4th, 2017\"}", "{\"$date\": \"2017-07-04T00:00:00Z\"}"),
       OK(NULL, "{\"$toDate\": \"July 4th, 2017 12pm\"}", "{\"$date\": \"2017-07-04T12:00:00Z\"}"),
       OK(NULL, "{\"$toDate\": \"2017-Jul-04 noon\"}", "{\"$date\": \"2017-07-04T12:00:00Z\"}"),
       OK(NULL, "{\"$toDate\": \"1970-01-01T00:00:00.001Z\"}", "{\"$date\": \"1970-01-01T00:00:00.001Z\"}"),
   };
   RUN(cases);
   /* an unparseable date string is a ConversionFailure that onError catches */
   static const expr_case_t dates[] = {
       OK(NULL, "{\"$convert\": {\"input\": \"not a date\", \"to\": \"date\", \"onError\": \"bad\"}}", "\"bad\""),
       OK(NULL, "{\"$convert\": {\"input\": \"2018-02-30\", \"to\": \"date\", \"onError\": \"bad\"}}", "\"bad\""),
       OK(NULL, "{\"$convert\": {\"input\": \"60.Monday1770/06:59\", \"to\": \"date\", \"onError\": \"bad\"}}",
          "\"bad\""),
       OK(NULL, "{\"$convert\": {\"input\": \"2017-07-13T10:02:57 Europe/London\", \"to\": \"date\", \"onError\": 0}}",
          "0"),
       OK(NULL, "{\"$convert\": {\"input\": \"July 4, 2017 Europe/London\", \"to\": \"date\", \"onError\": 0}}", "0"),
       ERR(NULL, "{\"$toDate\": \"Definitely not a date\"}", 241,
           "Error parsing date string 'Definitely not a date'; an incomplete date/time string has been found, with "
           "elements missing"),
   };
   RUN(dates);
}

static void test_from_other_scalars(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       /* objectId */
       OK("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toString\": \"$_id\"}",
          "\"5ab9cbfa31c2ab715d42129e\""),
       OK("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toDate\": \"$_id\"}",
          "{\"$date\": \"2018-03-27T04:43:38Z\"}"),
       OK("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toBool\": \"$_id\"}", "true"),
       OK("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toObjectId\": \"$_id\"}",
          "{\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}"),
       ERR("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toDouble\": \"$_id\"}", 241,
           "Unsupported conversion from objectId to double" NOERR),
       ERR("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toInt\": \"$_id\"}", 241,
           "Unsupported conversion from objectId to int" NOERR),
       ERR("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toLong\": \"$_id\"}", 241,
           "Unsupported conversion from objectId to long" NOERR),
       ERR("{\"_id\": {\"$oid\": \"5ab9cbfa31c2ab715d42129e\"}}", "{\"$toDecimal\": \"$_id\"}", 241,
           "Unsupported conversion from objectId to decimal" NOERR),
       /* bool */
       OK(NULL, "{\"$toDouble\": true}", "1.0"),
       OK(NULL, "{\"$toDouble\": false}", "0.0"),
       OK(NULL, "{\"$toString\": true}", "\"true\""),
       OK(NULL, "{\"$toString\": false}", "\"false\""),
       OK(NULL, "{\"$toInt\": true}", "1"),
       OK(NULL, "{\"$toLong\": false}", "{\"$numberLong\": \"0\"}"),
       OK(NULL, "{\"$toDecimal\": true}", "{\"$numberDecimal\": \"1\"}"),
       OK(NULL, "{\"$toBool\": false}", "false"),
       ERR(NULL, "{\"$toDate\": true}", 241, "Unsupported conversion from bool to date" NOERR),
       ERR(NULL, "{\"$toObjectId\": true}", 241, "Unsupported conversion from bool to objectId" NOERR),
       /* date */
       OK("{\"d\": {\"$date\": \"2018-03-03T00:00:00Z\"}}", "{\"$toDouble\": \"$d\"}", "1520035200000.0"),
       OK("{\"d\": {\"$date\": \"2018-03-03T00:00:00Z\"}}", "{\"$toString\": \"$d\"}", "\"2018-03-03T00:00:00.000Z\""),
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"0\"}}}", "{\"$toString\": \"$d\"}", "\"1970-01-01T00:00:00.000Z\""),
       OK("{\"d\": {\"$date\": \"2018-03-03T00:00:00Z\"}}", "{\"$toLong\": \"$d\"}",
          "{\"$numberLong\": \"1520035200000\"}"),
       OK("{\"d\": {\"$date\": \"2018-03-03T00:00:00Z\"}}", "{\"$toDecimal\": \"$d\"}",
          "{\"$numberDecimal\": \"1520035200000\"}"),
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"0\"}}}", "{\"$toBool\": \"$d\"}", "true"),
       OK("{\"d\": {\"$date\": {\"$numberLong\": \"5\"}}}", "{\"$toDate\": \"$d\"}",
          "{\"$date\": {\"$numberLong\": \"5\"}}"),
       ERR("{\"d\": {\"$date\": {\"$numberLong\": \"253402300800000\"}}}",
           "{\"$convert\": {\"input\": \"$d\", "
           "\"to\": \"string\", \"onError\": 0}}",
           18537, "Could not convert date to string: date component was outside the supported range of 0-9999: 10000"),
       ERR("{\"d\": {\"$date\": {\"$numberLong\": \"0\"}}}", "{\"$toInt\": \"$d\"}", 241,
           "Unsupported conversion from date to int" NOERR),
       ERR("{\"d\": {\"$date\": {\"$numberLong\": \"0\"}}}", "{\"$toObjectId\": \"$d\"}", 241,
           "Unsupported conversion from date to objectId" NOERR),
       /* int */
       OK(NULL, "{\"$toDouble\": 5}", "5.0"),
       OK(NULL, "{\"$toString\": -5}", "\"-5\""),
       OK(NULL, "{\"$toBool\": 0}", "false"),
       OK(NULL, "{\"$toBool\": 7}", "true"),
       OK(NULL, "{\"$toInt\": 7}", "7"),
       OK(NULL, "{\"$toLong\": 7}", "{\"$numberLong\": \"7\"}"),
       OK(NULL, "{\"$toDecimal\": 7}", "{\"$numberDecimal\": \"7\"}"),
       ERR(NULL, "{\"$toDate\": 7}", 241, "Unsupported conversion from int to date" NOERR),
       ERR(NULL, "{\"$toObjectId\": 7}", 241, "Unsupported conversion from int to objectId" NOERR),
       /* long */
       OK(NULL, "{\"$toInt\": {\"$numberLong\": \"-2147483648\"}}", "-2147483648"),
       ERR(NULL, "{\"$toInt\": {\"$numberLong\": \"2147483648\"}}", 241,
           "Conversion would overflow target type" NOERR ": "),
       OK(NULL, "{\"$toDate\": {\"$numberLong\": \"1520035200000\"}}", "{\"$date\": \"2018-03-03T00:00:00Z\"}"),
       OK(NULL, "{\"$toDouble\": {\"$numberLong\": \"9007199254740993\"}}", "9007199254740992.0"),
       OK(NULL, "{\"$toString\": {\"$numberLong\": \"-9223372036854775808\"}}", "\"-9223372036854775808\""),
       OK(NULL, "{\"$toBool\": {\"$numberLong\": \"0\"}}", "false"),
       OK(NULL, "{\"$toDecimal\": {\"$numberLong\": \"9223372036854775807\"}}",
          "{\"$numberDecimal\": \"9223372036854775807\"}"),
       ERR(NULL, "{\"$toObjectId\": {\"$numberLong\": \"1\"}}", 241,
           "Unsupported conversion from long to objectId" NOERR),
       /* decimal */
       OK(NULL, "{\"$toDouble\": {\"$numberDecimal\": \"1.5\"}}", "1.5"),
       ERR(NULL, "{\"$toDouble\": {\"$numberDecimal\": \"1E+400\"}}", 241,
           "Conversion would overflow target type" NOERR ": 1E+400"),
       OK(NULL, "{\"$toInt\": {\"$numberDecimal\": \"2.9\"}}", "2"),
       OK(NULL, "{\"$toInt\": {\"$numberDecimal\": \"-2.9\"}}", "-2"),
       OK(NULL, "{\"$toLong\": {\"$numberDecimal\": \"5000000000.5\"}}", "{\"$numberLong\": \"5000000000\"}"),
       ERR(NULL, "{\"$toInt\": {\"$numberDecimal\": \"NaN\"}}", 241,
           "Attempt to convert NaN value to integer type" NOERR),
       ERR(NULL, "{\"$toLong\": {\"$numberDecimal\": \"Infinity\"}}", 241,
           "Attempt to convert infinity value to integer type" NOERR),
       ERR(NULL, "{\"$toInt\": {\"$numberDecimal\": \"1E+20\"}}", 241,
           "Conversion would overflow target type" NOERR ": 1E+20"),
       ERR(NULL, "{\"$toLong\": {\"$numberDecimal\": \"1E+20\"}}", 241,
           "Conversion would overflow target type" NOERR ": 1E+20"),
       OK(NULL, "{\"$toString\": {\"$numberDecimal\": \"0.133700\"}}", "\"0.133700\""),
       OK(NULL, "{\"$toString\": {\"$numberDecimal\": \"1.3E+37\"}}", "\"1.3E+37\""),
       OK(NULL, "{\"$toString\": {\"$numberDecimal\": \"0.0000\"}}", "\"0.0000\""),
       OK(NULL, "{\"$toString\": {\"$numberDecimal\": \"-NaN\"}}", "\"NaN\""),
       OK(NULL, "{\"$toBool\": {\"$numberDecimal\": \"-0.00\"}}", "false"),
       OK(NULL, "{\"$toBool\": {\"$numberDecimal\": \"NaN\"}}", "true"),
       OK(NULL, "{\"$toBool\": {\"$numberDecimal\": \"-Infinity\"}}", "true"),
       OK(NULL, "{\"$toDate\": {\"$numberDecimal\": \"1520035200000.9\"}}", "{\"$date\": \"2018-03-03T00:00:00Z\"}"),
       ERR(NULL, "{\"$toObjectId\": {\"$numberDecimal\": \"1\"}}", 241,
           "Unsupported conversion from decimal to objectId" NOERR),
       /* timestamp */
       OK("{\"t\": {\"$timestamp\": {\"t\": 1, \"i\": 2}}}", "{\"$toDate\": \"$t\"}",
          "{\"$date\": {\"$numberLong\": \"1000\"}}"),
       OK("{\"t\": {\"$timestamp\": {\"t\": 1, \"i\": 2}}}", "{\"$toBool\": \"$t\"}", "true"),
       ERR("{\"t\": {\"$timestamp\": {\"t\": 1, \"i\": 2}}}", "{\"$toLong\": \"$t\"}", 241,
           "Unsupported conversion from timestamp to long" NOERR),
       OK("{\"t\": {\"$timestamp\": {\"t\": 1, \"i\": 2}}}", "{\"$toString\": \"$t\"}", "\"Timestamp(1, 2)\""),
   };
   RUN(cases);
}

static void test_from_structured(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK("{\"o\": {\"a\": 1}}", "{\"$toBool\": \"$o\"}", "true"),
       OK("{\"a\": []}", "{\"$toBool\": \"$a\"}", "true"),
       OK("{\"r\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}}", "{\"$toBool\": \"$r\"}",
          "true"),
       OK("{\"b\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}}", "{\"$toBool\": \"$b\"}", "true"),
       OK("{\"m\": {\"$minKey\": 1}}", "{\"$toBool\": \"$m\"}", "true"),
       OK("{\"m\": {\"$maxKey\": 1}}", "{\"$toBool\": \"$m\"}", "true"),
       /* newest servers (featureFlagMqlJsEngineGap): every type has a string form */
       OK("{\"o\": {\"foo\": \"bar\"}}", "{\"$toString\": \"$o\"}", "\"{\\\"foo\\\":\\\"bar\\\"}\""),
       OK("{\"o\": {}}", "{\"$toString\": \"$o\"}", "\"{}\""),
       OK("{\"o\": []}", "{\"$toString\": \"$o\"}", "\"[]\""),
       OK("{\"o\": {\"foo\": 1.123123}}", "{\"$toString\": \"$o\"}", "\"{\\\"foo\\\":1.123123}\""),
       OK("{\"o\": {\"foo\": [null, null]}}", "{\"$toString\": \"$o\"}", "\"{\\\"foo\\\":[null,null]}\""),
       OK("{\"m\": {\"$minKey\": 1}}", "{\"$toString\": \"$m\"}", "\"MinKey\""),
       OK("{\"m\": {\"$maxKey\": 1}}", "{\"$toString\": \"$m\"}", "\"MaxKey\""),
       OK("{\"r\": {\"$regularExpression\": {\"pattern\": \"^ABC\", \"options\": \"i\"}}}", "{\"$toString\": \"$r\"}",
          "\"/^ABC/i\""),
       OK("{\"p\": {\"$dbPointer\": {\"$ref\": \"coll\", \"$id\": {\"$oid\": \"0102030405060708090A0B0C\"}}}}",
          "{\"$toString\": \"$p\"}", "\"DBRef(\\\"coll\\\", 0102030405060708090a0b0c)\""),
       OK("{\"c\": {\"$code\": \"function() {}\"}}", "{\"$toString\": \"$c\"}", "\"function() {}\""),
       OK("{\"c\": {\"$code\": \"function() {}\", \"$scope\": {}}}", "{\"$toString\": \"$c\"}",
          "\"CodeWScope(\\\"function() {}\\\", {})\""),
       OK("{\"s\": {\"$symbol\": \"foo\"}}", "{\"$toString\": \"$s\"}", "\"foo\""),
       OK("{\"o\": {\"arr\": [null, {\"$undefined\": true}, {\"$minKey\": 1}, {\"$maxKey\": 1}, "
          "{\"$regularExpression\": {\"pattern\": \"^ABC\", \"options\": \"i\"}}, {\"$timestamp\": {\"t\": 1, \"i\": "
          "2}}, "
          "{\"$dbPointer\": {\"$ref\": \"coll\", \"$id\": {\"$oid\": \"0102030405060708090A0B0C\"}}}, "
          "{\"$code\": \"function() {}\", \"$scope\": {}}, {\"$code\": \"function() {}\"}, {\"$symbol\": \"foo\"}, "
          "{\"obj\": 1}, [1, [\"foo\"]]]}}",
          "{\"$toString\": \"$o\"}",
          "\"{\\\"arr\\\":[null,null,\\\"MinKey\\\",\\\"MaxKey\\\",\\\"/^ABC/i\\\",\\\"Timestamp(1, 2)\\\","
          "\\\"DBRef(\\\\\\\"coll\\\\\\\", 0102030405060708090a0b0c)\\\",\\\"CodeWScope(\\\\\\\"function() {}\\\\\\\", "
          "{})\\\","
          "\\\"function() {}\\\",\\\"foo\\\",{\\\"obj\\\":1},[1,[\\\"foo\\\"]]]}\""),
       OK("{\"o\": {\"i\": {\"$oid\": \"0102030405060708090a0b0c\"}, \"d\": {\"$date\": {\"$numberLong\": \"0\"}}, "
          "\"n\": {\"$numberDecimal\": \"-Infinity\"}, \"x\": {\"$numberDouble\": \"NaN\"}, \"l\": {\"$numberLong\": "
          "\"5\"}}}",
          "{\"$toString\": \"$o\"}",
          "\"{\\\"i\\\":\\\"0102030405060708090a0b0c\\\",\\\"d\\\":\\\"1970-01-01T00:00:00.000Z\\\","
          "\\\"n\\\":\\\"-Infinity\\\",\\\"x\\\":\\\"NaN\\\",\\\"l\\\":5}\""),
       OK("{\"o\": {\"u\": {\"$binary\": {\"base64\": \"hn3uUsMxSE6S0cVkebjmfg==\", \"subType\": \"04\"}}, "
          "\"b\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}, \"q\": \"a\\\"b\\nc\"}}",
          "{\"$toString\": \"$o\"}",
          "\"{\\\"u\\\":\\\"867dee52-c331-484e-92d1-c56479b8e67e\\\",\\\"b\\\":\\\"AQID\\\","
          "\\\"q\\\":\\\"a\\\\\\\"b\\\\nc\\\"}\""),
       OK("{\"b\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}}",
          "{\"$convert\": {\"input\": \"$b\", "
          "\"to\": \"string\", \"onError\": 0}}",
          "0"),
       ERR(NULL, "{\"$convert\": {\"input\": 1.5, \"to\": \"binData\"}}", 241,
           "Unsupported conversion from double to binData" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": \"AQID\", \"to\": \"binData\", \"format\": \"base64\"}}", 241,
           "Unsupported conversion from string to binData" NOERR),
       ERR("{\"a\": [1]}", "{\"$toInt\": \"$a\"}", 241, "Unsupported conversion from array to int" NOERR),
       ERR(NULL, "{\"$toInt\": [[\"1\"]]}", 241, "Unsupported conversion from array to int" NOERR),
       ERR("{\"b\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}}", "{\"$toObjectId\": \"$b\"}", 241,
           "Unsupported conversion from binData to objectId" NOERR),
       ERR("{\"r\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}}", "{\"$toDouble\": \"$r\"}", 241,
           "Unsupported conversion from regex to double" NOERR),
       ERR("{\"m\": {\"$minKey\": 1}}", "{\"$toDate\": \"$m\"}", 241,
           "Unsupported conversion from minKey to date" NOERR),
       ERR("{\"m\": {\"$maxKey\": 1}}", "{\"$toLong\": \"$m\"}", 241,
           "Unsupported conversion from maxKey to long" NOERR),
       /* unsupported target types are ConversionFailures too */
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"object\"}}", 241,
           "Unsupported conversion from int to object" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": \"a\", \"to\": \"array\"}}", 241,
           "Unsupported conversion from string to array" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"null\"}}", 241,
           "Unsupported conversion from int to null" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"regex\"}}", 241,
           "Unsupported conversion from int to regex" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"timestamp\"}}", 241,
           "Unsupported conversion from int to timestamp" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"minKey\"}}", 241,
           "Unsupported conversion from int to minKey" NOERR),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": 127}}", 241, "Unsupported conversion from int to maxKey" NOERR),
       OK(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"javascript\", \"onError\": \"caught\"}}", "\"caught\""),
   };
   RUN(cases);
}

static void test_order_and_options(void **state)
{
   (void)state;
   static const expr_case_t cases[] = {
       OK(NULL, "{\"$toInt\": null}", "null"),
       OK(NULL, "{\"$toString\": \"$missing\"}", "null"),
       OK(NULL, "{\"$convert\": {\"input\": null, \"to\": \"int\", \"onNull\": \"x\"}}", "\"x\""),
       OK(NULL, "{\"$convert\": {\"input\": \"$missing\", \"to\": \"int\", \"onNull\": 0}}", "0"),
       OK("{\"u\": {\"$undefined\": true}}", "{\"$convert\": {\"input\": \"$u\", \"to\": \"int\", \"onNull\": 0}}",
          "0"),
       /* null input wins over a null `to` */
       OK(NULL, "{\"$convert\": {\"input\": null, \"to\": null, \"onNull\": \"n\"}}", "\"n\""),
       /* nullish `to` returns null, ignoring onError/onNull */
       OK(NULL, "{\"$convert\": {\"input\": 1, \"to\": null, \"onNull\": \"n\", \"onError\": \"e\"}}", "null"),
       OK(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"$missing\"}}", "null"),
       OK(NULL, "{\"$convert\": {\"input\": \"abc\", \"to\": \"int\", \"onError\": -1}}", "-1"),
       OK(NULL, "{\"$convert\": {\"input\": \"abc\", \"to\": \"int\", \"onError\": \"$$REMOVE\"}}", "MISSING"),
       OK(NULL, "{\"$convert\": {\"input\": 5, \"to\": 16}}", "5"),
       OK(NULL, "{\"$convert\": {\"input\": 5, \"to\": 2}}", "\"5\""),
       OK(NULL, "{\"$convert\": {\"input\": 5, \"to\": {\"$numberLong\": \"18\"}}}", "{\"$numberLong\": \"5\"}"),
       OK(NULL, "{\"$convert\": {\"input\": 5, \"to\": 1.0}}", "5.0"),
       OK("{\"t\": \"decimal\"}", "{\"$convert\": {\"input\": 5, \"to\": \"$t\"}}", "{\"$numberDecimal\": \"5\"}"),
       OK(NULL, "{\"$convert\": {\"input\": \"5\", \"to\": \"bool\"}}", "true"),
       OK(NULL, "{\"$convert\": {\"input\": \"5\", \"to\": {\"type\": \"int\"}}}", "5"),
       OK(NULL, "{\"$convert\": {\"input\": 5, \"to\": {\"type\": 2}}}", "\"5\""),
       /* 8.x `base` */
       OK(NULL, "{\"$convert\": {\"input\": 10, \"to\": \"string\", \"base\": 2}}", "\"1010\""),
       OK(NULL, "{\"$convert\": {\"input\": -255, \"to\": \"string\", \"base\": 16}}", "\"-FF\""),
       OK(NULL, "{\"$convert\": {\"input\": 8.0, \"to\": \"string\", \"base\": 8}}", "\"10\""),
       OK(NULL, "{\"$convert\": {\"input\": \"ff\", \"to\": \"int\", \"base\": 16}}", "255"),
       OK(NULL, "{\"$convert\": {\"input\": \"-101\", \"to\": \"long\", \"base\": 2}}", "{\"$numberLong\": \"-5\"}"),
       OK(NULL, "{\"$convert\": {\"input\": \"777\", \"to\": \"double\", \"base\": 8}}", "511.0"),
       ERR(NULL, "{\"$convert\": {\"input\": 1.5, \"to\": \"string\", \"base\": 2}}", 241,
           "Base conversion is not supported for non-integers" NOERR ": "),
       ERR(NULL, "{\"$convert\": {\"input\": \"12\", \"to\": \"int\", \"base\": 2}}", 241,
           "Failed to parse number '12'" NOERR ": Did not consume whole string."),
       ERR(NULL, "{\"$convert\": {\"input\": \"0x1\", \"to\": \"int\", \"base\": 16}}", 241,
           "Illegal hexadecimal input" NOERR ": 0x1"),
       ERR(NULL, "{\"$convert\": {\"input\": \"FFFFFFFFF\", \"to\": \"int\", \"base\": 16}}", 241,
           "Conversion would overflow target type" NOERR ": "),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"string\", \"base\": 3, \"onError\": 0}}", 3501301,
           "In $convert, 'base' argument is not a valid base"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"string\", \"base\": 2.5}}", 3501300,
           "In $convert, 'base' argument is not an integer"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"string\", \"format\": \"nope\"}}", 4341125,
           "Invalid 'format' argument for $convert: nope"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"string\", \"byteOrder\": \"middle\"}}", 9130002,
           "Invalid 'byteOrder' argument for $convert: middle"),
       /* errors while evaluating `input` are not caught */
       ERR(NULL, "{\"$convert\": {\"input\": {\"$divide\": [1, 0]}, \"to\": \"int\", \"onError\": 0}}", 2,
           "can't $divide by zero"),
       /* `to` errors are not ConversionFailures */
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"dinosaur\", \"onError\": 0}}", 2,
           "Unknown type name: dinosaur"),
       ERR(NULL, "{\"$convert\": {\"input\": null, \"to\": \"dinosaur\"}}", 2, "Unknown type name: dinosaur"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"number\"}}", 2, "Unknown type name: number"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": 3.6, \"onError\": 0}}", 9,
           "In $convert, numeric 'to' argument is not an integer"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": 100}}", 9,
           "In $convert, numeric value for 'to' does not correspond to a BSON type: 100"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": -2}}", 9,
           "In $convert, numeric value for 'to' does not correspond to a BSON type: -2"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": {\"$literal\": {\"a\": 1}}}}", 9,
           "$convert's 'to' argument must be a string or number, but is object"),
       ERR(NULL, "{\"$convert\": {\"to\": \"int\"}}", 9, "Missing 'input' parameter to $convert"),
       ERR(NULL, "{\"$convert\": {\"input\": 1}}", 9, "Missing 'to' parameter to $convert"),
       ERR(NULL, "{\"$convert\": {\"input\": 1, \"to\": \"int\", \"foo\": 1}}", 9,
           "$convert found an unknown argument: foo"),
       ERR(NULL, "{\"$convert\": 1}", 9, "$convert expects an object of named arguments but found: int"),
       ERR(NULL, "{\"$toInt\": []}", 50723, "Expression $toInt takes exactly 1 arguments. 0 were passed in."),
       ERR(NULL, "{\"$toString\": [1, 2]}", 50723, "Expression $toString takes exactly 1 arguments. 2 were passed in."),
       OK(NULL, "{\"$toInt\": [\"7\"]}", "7"),
       ERR(NULL, "{\"$toInt\": \"abc\"}", 241, "Failed to parse number 'abc'" NOERR ": Did not consume whole string."),
   };
   RUN(cases);
}

static void test_seed_transform_round_trip(void **state)
{
   (void)state;
   /* the seeds' forward and reverse transforms on _id */
   static const expr_case_t cases[] = {
       OK("{\"_id\": {\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}, \"name\": \"x\"}", "{\"$toString\": \"$_id\"}",
          "\"64b7f0c2a1b2c3d4e5f60718\""),
       OK("{\"_id\": \"64b7f0c2a1b2c3d4e5f60718\"}", "{\"$toObjectId\": \"$_id\"}",
          "{\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}"),
       OK("{\"_id\": \"not-an-oid\"}", "{\"$convert\": {\"input\": \"$_id\", \"to\": \"objectId\", \"onError\": null}}",
          "null"),
   };
   RUN(cases);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_from_double),        cmocka_unit_test(test_from_string),
       cmocka_unit_test(test_from_other_scalars), cmocka_unit_test(test_from_structured),
       cmocka_unit_test(test_order_and_options),  cmocka_unit_test(test_seed_transform_round_trip),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
