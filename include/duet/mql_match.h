/*
 * duet/mql_match.h — MongoDB query filters (the matcher) and the $jsonSchema
 * query operator used by collection validators.
 *
 * A filter is parsed once into a duet_match_t and evaluated many times:
 *
 *     duet_match_t *match = NULL;
 *     if (!duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, error)) ...
 *     bool matched;
 *     if (!duet_match_matches(match, doc, &matched, NULL, error)) ...   // fails only in $expr
 *     duet_match_destroy(match);
 *
 * Semantics follow MongoDB's MatchExpression: dotted paths walk embedded
 * documents and arrays (array elements are tried one by one, numeric path
 * components also index arrays), null matches missing, comparisons stay within
 * a type bracket ($gt: 5 never matches a string), and $regex uses PCRE2.
 * Parse errors carry MongoDB's code and text (2 BadValue "unknown operator:
 * $foo", "$in needs an array", ...).
 *
 * Ownership: duet_match_parse copies the filter; the matcher owns the copy and
 * every bson_value_t it hands out points into it (valid until
 * duet_match_destroy).  Documents passed to the match calls are borrowed.
 * A matcher is immutable after parsing and may be shared between threads.
 */
#ifndef DUET_MQL_MATCH_H
#define DUET_MQL_MATCH_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duet/error.h>
#include <duet/mql_expr.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_match duet_match_t;

/* Special features a filter may use (MongoDB's MatchExpressionParser::AllowedFeatures).
 * A disallowed one fails to parse with 224 QueryFeatureNotAllowed
 * ("$expr is not allowed in this context"). */
enum {
   DUET_MATCH_ALLOW_EXPR = 1u << 0,        /* $expr */
   DUET_MATCH_ALLOW_JSON_SCHEMA = 1u << 1, /* $jsonSchema */
};
/* find/count/delete/update filters and validators. */
#define DUET_MATCH_FEATURES_DEFAULT (DUET_MATCH_ALLOW_EXPR | DUET_MATCH_ALLOW_JSON_SCHEMA)
/* arrayFilters and $pull conditions (MongoDB bans every special feature there). */
#define DUET_MATCH_FEATURES_NONE 0u

/*
** Parses `filter` (borrowed; copied) into a new matcher.
** Return: true and *out set (caller frees with duet_match_destroy); false with
** error filled (MongoDB code/message) and *out left NULL.
*/
bool duet_match_parse(const bson_t *filter, unsigned features, duet_match_t **out, duet_error_t *error);

/* Same, naming the caller's variables $expr may use (`$$x` from a `let`); scope
 * (borrowed, may be NULL) is only read during the call. */
bool duet_match_parse_with_scope(const bson_t *filter, unsigned features, const duet_expr_scope_t *scope,
                                 duet_match_t **out, duet_error_t *error);

/* Frees a matcher; NULL is a no-op. */
void duet_match_destroy(duet_match_t *match);

/* What a successful match went through, for the positional `$` operator of
 * projections and updates (MongoDB's MatchDetails::elemMatchKey). */
typedef struct duet_match_details {
   bool has_array_index; /* true when the match went through an array element */
   uint32_t array_index; /* index of that element in the first array on the matching path */
} duet_match_details_t;

/*
** Evaluates the matcher against `doc` (borrowed).
** Return: true with *matched set; false only when an $expr fails at run time
** (error filled as the expression engine reports it).  `details` may be NULL.
*/
bool duet_match_matches(const duet_match_t *match, const bson_t *doc, bool *matched, duet_match_details_t *details,
                        duet_error_t *error);

/* Same, with the environment $expr evaluates in ($$NOW, let variables); env may be NULL. */
bool duet_match_matches_env(const duet_match_t *match, const bson_t *doc, const duet_expr_env_t *env, bool *matched,
                            duet_match_details_t *details, duet_error_t *error);

/*
** Evaluates the matcher against a single value as if it were the document
** {field_name: value}: the form MongoDB uses for arrayFilters (field_name is the
** identifier, e.g. "elem" for `$[elem]`) and for $pull conditions on
** non-document elements (field_name "").  `value` is borrowed.
*/
bool duet_match_matches_value(const duet_match_t *match, const char *field_name, const bson_value_t *value,
                              bool *matched, duet_error_t *error);

/*
** Parses one entry of an update's arrayFilters: every top-level path must start
** with the same identifier, which must be an alphanumeric string beginning with
** a lowercase letter (MongoDB's ExpressionWithPlaceholder).  On success
** *identifier points into the matcher (valid until duet_match_destroy).
** Errors: 9 FailedToParse "Cannot use an expression without a top-level field name
** in arrayFilters", "Expected a single top-level field name, found 'a' and 'b'";
** 2 BadValue "The top-level field name must be an alphanumeric string beginning
** with a lowercase letter, found '<x>'".
*/
bool duet_match_parse_array_filter(const bson_t *filter, duet_match_t **out, const char **identifier,
                                   duet_error_t *error);

/* ---- what the store needs to use an index ---------------------------------------
 * Top-level conjuncts (implicit AND and $and, recursively) that constrain one
 * exact path.  Only these shapes are reported:
 *   EQ   {path: v} / {path: {$eq: v}}   (v is never a regex; v may be null or an
 *                                       array: null also matches missing and
 *                                       [null]; an array also matches equal
 *                                       elements of a nested array)
 *   GT GTE LT LTE                       (value never MinKey/MaxKey-ambiguous: the
 *                                       store bounds by the value's type bracket)
 *   IN   {path: {$in: [...]}}           (value is the array; only reported when it
 *                                       holds no regex)
 * Predicates under $or/$nor/$not/$elemMatch are never reported.  A document
 * matching the filter satisfies every reported predicate, so the store may scan
 * an index by any one of them and then re-check the whole filter.            */
typedef enum duet_match_op {
   DUET_MATCH_OP_EQ,
   DUET_MATCH_OP_GT,
   DUET_MATCH_OP_GTE,
   DUET_MATCH_OP_LT,
   DUET_MATCH_OP_LTE,
   DUET_MATCH_OP_IN,
} duet_match_op_t;

typedef struct duet_match_predicate {
   duet_match_op_t op;
   const bson_value_t *value; /* borrowed from the matcher */
} duet_match_predicate_t;

/*
** Writes up to `capacity` predicates on `path` (e.g. "_id", "a.b") into `out`.
** Return: the number of such predicates (may exceed capacity).
*/
size_t duet_match_path_predicates(const duet_match_t *match, const char *path, duet_match_predicate_t *out,
                                  size_t capacity);

/* Convenience: true when the filter pins `_id` to one value ({_id: v} or
 * {_id: {$eq: v}} among the top-level conjuncts, v not a regex/array/document
 * holding operators).  *value is borrowed from the matcher. */
bool duet_match_id_equality(const duet_match_t *match, const bson_value_t **value);

/* ---- validators and $jsonSchema ---------------------------------------------------
 *
 ** Builds errInfo.details for a document the validator rejects (MongoDB 5.0+
 ** shape), e.g. for {$jsonSchema: ...}:
 **   {operatorName: "$jsonSchema", title: ..., schemaRulesNotSatisfied: [
 **      {operatorName: "properties", propertiesNotSatisfied: [{propertyName: "gpa",
 **          details: [{operatorName: "bsonType", specifiedAs: {bsonType: "double"},
 **                     reason: "type did not match", consideredValue: 3, consideredType: "int"}]}]},
 **      {operatorName: "required", specifiedAs: {required: ["phone"]}, missingProperties: ["phone"]}]}
 ** and for plain query operators {operatorName: "$gt", specifiedAs: {a: {$gt: 5}},
 ** reason: "comparison failed", consideredValue: 1}.
 ** `details` is always initialized by the callee (caller bson_destroys it).
 ** Return: false only when an $expr fails at run time.
 */
bool duet_match_validation_details(const duet_match_t *validator, const bson_t *doc, bson_t *details,
                                   duet_error_t *error);

/*
** Validates `doc` against a bare $jsonSchema `schema` (the value of the
** $jsonSchema key).  Parses the schema each call; for repeated use parse
** {$jsonSchema: schema} with duet_match_parse instead.
** Return: false with error on a bad schema (9 FailedToParse / 14 TypeMismatch /
** 2 BadValue as MongoDB).  Otherwise true, *valid set, and when !*valid and
** `details` is non-NULL, *details initialized with errInfo.details (caller
** destroys); when *valid, *details is initialized empty.
*/
bool duet_jsonschema_validate(const bson_t *schema, const bson_t *doc, bool *valid, bson_t *details,
                              duet_error_t *error);

#ifdef __cplusplus
}
#endif

#endif /* DUET_MQL_MATCH_H */
