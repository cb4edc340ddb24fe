/*
 * duet/mql_expr.h — MongoDB aggregation expressions: parse once, evaluate many times.
 *
 * An expression spec (`"$a.b"`, `{$toString: "$_id"}`, `{x: {$add: [1, "$n"]}}`, a constant)
 * is parsed into a duet_expr_t tree; evaluation walks the tree against one document.
 *
 * Values are bson_value_t.  A *missing* value (a field that does not exist, `$$REMOVE`)
 * has value_type BSON_TYPE_EOD.  Every value an evaluation returns in `*out` is OWNED by
 * the caller, who releases it with bson_value_destroy() (a no-op for scalars; safe on
 * missing values).  Nothing in `out` is set on failure beyond value_type EOD.
 *
 * Variables.  `$$ROOT` and `$$CURRENT` are the document passed to duet_expr_evaluate(),
 * `$$REMOVE` is missing, `$$NOW` is env->now_ms as a date.  User variables come from
 * `$let`, `$map`/`$filter` (`as`), `$reduce` (`$$this`, `$$value`) and from the caller
 * (`$lookup`'s or `$merge`'s `let`): the caller names them in a duet_expr_scope_t before
 * parsing (duet_expr_scope_define returns the variable's index) and passes their values
 * in env->variables[index] when evaluating.  Undefined variables are a parse error
 * (17276 `Use of undefined variable: x`).
 *
 * Errors carry MongoDB's codes and texts: 168 InvalidPipelineOperator
 * (`Unrecognized expression '$foo'`), 241 ConversionFailure from the $convert family,
 * 16554/16555/16608/... for arithmetic, 16020 for wrong argument counts, and so on.
 *
 * Threading: a parsed duet_expr_t is immutable and may be evaluated from several threads
 * at once, each with its own env.
 */
#ifndef DUET_MQL_EXPR_H
#define DUET_MQL_EXPR_H

#include <duet/error.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_expr duet_expr_t;

/* Names of caller-supplied variables visible to an expression (e.g. `$lookup` `let`). */
typedef struct duet_expr_scope duet_expr_scope_t;

/* A new, empty scope; release with duet_expr_scope_destroy(). */
duet_expr_scope_t *duet_expr_scope_new(void);
/* Defines (or finds) `name` and returns its index into env->variables.  Names are not
 * validated here; MongoDB's rules for user variable names apply to `$let`, not callers. */
int duet_expr_scope_define(duet_expr_scope_t *scope, const char *name);
/* Index of `name`, or -1. */
int duet_expr_scope_lookup(const duet_expr_scope_t *scope, const char *name);
size_t duet_expr_scope_count(const duet_expr_scope_t *scope);
void duet_expr_scope_destroy(duet_expr_scope_t *scope);

/* Evaluation environment; plain struct, caller-owned, may be reused for every document. */
typedef struct duet_expr_env {
   const bson_value_t *variables; /* borrowed; values of the scope's variables, by index */
   size_t variable_count;         /* entries in `variables` */
   int64_t now_ms;                /* $$NOW, milliseconds since the epoch (one per command) */
} duet_expr_env_t;

#define DUET_EXPR_ENV_INIT                                                                                             \
   {                                                                                                                   \
      NULL, 0, 0                                                                                                       \
   }

/* Parses `spec` (borrowed; nothing of it is kept).  `scope` may be NULL.
 * On success *out is a new expression the caller frees with duet_expr_destroy(). */
bool duet_expr_parse(const bson_value_t *spec, const duet_expr_scope_t *scope, duet_expr_t **out, duet_error_t *error);

/* Same, for the value under an iterator. */
bool duet_expr_parse_iter(const bson_iter_t *iter, const duet_expr_scope_t *scope, duet_expr_t **out,
                          duet_error_t *error);

/* Parses an object `{field: <expr>, ...}` as an expression object (as `$addFields` values
 * do inside literals), not as an operator even when it has one `$`-prefixed key. */
bool duet_expr_parse_object(const bson_t *spec, const duet_expr_scope_t *scope, duet_expr_t **out, duet_error_t *error);

/* Evaluates against `root` (borrowed; $$ROOT and $$CURRENT).  `env` may be NULL when the
 * expression uses no caller variables ($$NOW is then 0).  *out is owned by the caller. */
bool duet_expr_evaluate(const duet_expr_t *expr, const bson_t *root, const duet_expr_env_t *env, bson_value_t *out,
                        duet_error_t *error);

/* True when the expression is a constant (a literal with no field paths or variables). */
bool duet_expr_is_constant(const duet_expr_t *expr);

/* True when the expression is exactly a field path on $$CURRENT ("$a.b"); sets *path to a
 * borrowed dotted path (valid while expr lives). */
bool duet_expr_is_field_path(const duet_expr_t *expr, const char **path);

void duet_expr_destroy(duet_expr_t *expr);

/* ---- helpers shared with the pipeline, filters and updates ---------------------------- */

/* MongoDB's truthiness: false for false, null, undefined, missing and numeric zero. */
bool duet_expr_value_truthy(const bson_value_t *value);

/* Formats a double as MongoDB's $toString does (shortest round-trip, "Infinity", "-0").
 * Writes at most `size` bytes including the NUL; 32 bytes always suffice. */
void duet_expr_format_double(double value, char *buffer, size_t size);

/* Formats ms since the epoch as "%Y-%m-%dT%H:%M:%S.%LZ" into `buffer` (64 bytes suffice). */
void duet_expr_format_date(int64_t ms, char *buffer, size_t size);

/* Value as MongoDB prints it in error messages (Value::toString), bson_malloc'd; bson_free it. */
char *duet_expr_value_to_string(const bson_value_t *value);

#ifdef __cplusplus
}
#endif

#endif /* DUET_MQL_EXPR_H */
