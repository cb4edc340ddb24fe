/*
 * duet/doc.h — document helpers on libbson shared by every module:
 * MongoDB's BSON comparison order, type names, and Decimal128 arithmetic.
 *
 * Nothing here allocates unless its comment says so; bson_value_t arguments
 * are borrowed (for documents and arrays they point into the caller's buffer).
 */
#ifndef DUET_DOC_H
#define DUET_DOC_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- comparison order -------------------------------------------------------
 * MongoDB orders values first by a canonical type class
 *   MinKey < undefined < null < numbers < string,symbol < object < array < binData
 *   < objectId < bool < date < timestamp < regex < dbPointer < javascript
 *   < javascriptWithScope < MaxKey
 * then within a class: numbers by value across int32/int64/double/decimal128
 * (NaN below every other number, NaN == NaN, -0 == 0); strings bytewise; objects
 * and arrays element by element (canonical type, then field name, then value;
 * the shorter one is less); binData by length, subtype, bytes; and so on.      */

/* Canonical type class of a BSON type (-1 for MinKey, 127 for MaxKey). */
int duet_doc_canonical_type(bson_type_t type);

/* <0, 0, >0. Both values borrowed. */
int duet_value_compare(const bson_value_t *a, const bson_value_t *b);

/* Same, reading the current element of two iterators. */
int duet_iter_compare(bson_iter_t *a, bson_iter_t *b);

/* Whole documents, field names included (MongoDB's BSONObj::woCompare). */
int duet_doc_compare(const bson_t *a, const bson_t *b);

/* Compares two embedded documents/arrays given as raw buffers. */
int duet_doc_compare_raw(const uint8_t *a, uint32_t a_len, const uint8_t *b, uint32_t b_len);

static inline bool duet_value_equal(const bson_value_t *a, const bson_value_t *b)
{
   return duet_value_compare(a, b) == 0;
}

/* True for int32, int64, double and decimal128. */
bool duet_type_is_number(bson_type_t type);

/* MongoDB's typeName(): "double", "string", "object", "array", "binData", "undefined",
 * "objectId", "bool", "date", "null", "regex", "dbPointer", "javascript", "symbol",
 * "javascriptWithScope", "int", "timestamp", "long", "decimal", "minKey", "maxKey".
 * `type == 0` (BSON_TYPE_EOD) names a missing value: "missing". */
const char *duet_type_name(bson_type_t type);

/* Reverse of duet_type_name for the $type/$convert aliases; false when unknown.
 * "missing" and "number" are not types and are rejected here. */
bool duet_type_from_name(const char *name, bson_type_t *type);

/* ---- raw BSON structure ---------------------------------------------------------
 * Checks, without recursion, that data[0..length) is one structurally sound BSON
 * document: the declared length, every element's length inside its enclosing
 * document, string terminators, nesting at most DUET_DOC_MAX_DEPTH (MongoDB's
 * maxBSONDepth).  Errors: 22 InvalidBSON "<what>: invalid BSON at byte N of the
 * document", 15 Overflow "<what>: BSONObj exceeded maximum nested object depth: 200".
 * Run it before bson_validate() and before any recursive walk of untrusted bytes. */
#define DUET_DOC_MAX_DEPTH 200

struct duet_error;
bool duet_doc_check_structure(const uint8_t *data, size_t length, const char *what, struct duet_error *error);

/* ---- JSON text positions (doc_json.c) -------------------------------------------- */

/* 1-based line and column (in characters, not bytes) of byte `offset` of data[0..len). */
void duet_json_line_column(const uint8_t *data, size_t len, size_t offset, unsigned *line, unsigned *column);
/* Offset of the first byte that does not start a valid UTF-8 sequence, or len. */
size_t duet_json_first_invalid_utf8(const uint8_t *data, size_t len);
/* Fills `error` (9 FailedToParse) from libbson's JSON error `message` about data[0..len):
 * "<source>: line L, column C: invalid JSON near '<text>': <reason>; fix the JSON syntax there". */
void duet_json_report_error(const char *source, const uint8_t *data, size_t len, const char *message,
                            struct duet_error *error);

/* ---- Decimal128 ---------------------------------------------------------------
 * IEEE 754-2008 decimal128 in BID encoding (BSON's own), computed by the BID
 * runtime that ships with libgcc.  Results are rounded half-to-even to 34 digits. */

bson_decimal128_t duet_decimal_from_int64(int64_t value);
/* Correctly rounded to 34 significant digits. */
bson_decimal128_t duet_decimal_from_double(double value);
double duet_decimal_to_double(bson_decimal128_t value);
/* Truncates toward zero; false for NaN, infinity or a value outside int64. */
bool duet_decimal_to_int64(bson_decimal128_t value, int64_t *out);
bson_decimal128_t duet_decimal_add(bson_decimal128_t a, bson_decimal128_t b);
bson_decimal128_t duet_decimal_subtract(bson_decimal128_t a, bson_decimal128_t b);
bson_decimal128_t duet_decimal_multiply(bson_decimal128_t a, bson_decimal128_t b);
bson_decimal128_t duet_decimal_divide(bson_decimal128_t a, bson_decimal128_t b);
bool duet_decimal_is_nan(bson_decimal128_t value);
bool duet_decimal_is_infinite(bson_decimal128_t value);
bool duet_decimal_is_zero(bson_decimal128_t value);
bool duet_decimal_is_negative(bson_decimal128_t value);
/* Numeric order with MongoDB's NaN rule (NaN lowest, NaN == NaN). */
int duet_decimal_compare(bson_decimal128_t a, bson_decimal128_t b);
/* Any numeric bson_value_t (int32/int64/double/decimal128) as a decimal. */
bson_decimal128_t duet_decimal_from_value(const bson_value_t *number);

#ifdef __cplusplus
}
#endif

#endif /* DUET_DOC_H */
