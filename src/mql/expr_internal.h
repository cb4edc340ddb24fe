/*
 * expr_internal.h — the expression tree shared by the expr_*.c files: node layout,
 * parse context (variable scopes), evaluation state, and the operator table entry.
 *
 * Ownership: a node owns its children (args), its constant, its path and key strings.
 * Evaluation functions write an OWNED value to *out (caller frees with bson_value_destroy)
 * and leave *out missing (BSON_TYPE_EOD) on failure.
 */
#ifndef DUET_EXPR_INTERNAL_H
#define DUET_EXPR_INTERNAL_H

#include <duet/doc.h>
#include <duet/error.h>
#include <duet/mql_expr.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

/* Built-in variables (negative ids); user and caller variables are slots >= 0. */
enum {
   EXPR_VAR_CURRENT = -1,
   EXPR_VAR_ROOT = -2,
   EXPR_VAR_REMOVE = -3,
   EXPR_VAR_NOW = -4,
};

/* Per-evaluation state: the document and the variable slots. */
typedef struct expr_state {
   const bson_t *root;  /* borrowed; $$ROOT and $$CURRENT */
   bson_value_t *slots; /* slot values; caller's are borrowed, bound ones owned by their binder */
   int64_t now_ms;      /* $$NOW */
} expr_state_t;

typedef bool (*expr_eval_fn)(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error);

struct duet_expr {
   expr_eval_fn eval;  /* what this node computes */
   const char *name;   /* operator name ("$add"), static; NULL for literals/paths */
   duet_expr_t **args; /* owned children; entries may be NULL for absent optional args */
   size_t arg_count;
   char **keys;           /* owned; field names of an expression object (arg_count of them) */
   bson_value_t constant; /* owned; literal value (EOD when unused) */
   char **path;           /* owned; field path components after the variable */
   size_t path_length;
   char *dotted;   /* owned; the path as written after "$" (for duet_expr_is_field_path) */
   int variable;   /* variable read by a path node (EXPR_VAR_* or a slot) */
   int slot;       /* slot bound by $let/$map/$filter/$reduce ($$this for $reduce) */
   int slot2;      /* second bound slot ($$value for $reduce) */
   int64_t option; /* operator-specific parameter */
   int slot_count; /* root only: slots the tree needs */
};

/* Parse context: the variables in scope, innermost last. */
typedef struct expr_parse_ctx {
   char **names;
   int *slots;
   size_t count;
   size_t capacity;
   int next_slot; /* slots allocated so far (caller variables first) */
} expr_parse_ctx_t;

/* Parses any expression value. */
bool expr_parse_value(const bson_value_t *spec, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error);
/* Parses the value under `iter`. */
bool expr_parse_iter(const bson_iter_t *iter, expr_parse_ctx_t *ctx, duet_expr_t **out, duet_error_t *error);
/* Binds a new variable name for the parse of a sub-expression; returns its slot. */
int expr_ctx_bind(expr_parse_ctx_t *ctx, const char *name);
/* Validates a user variable name (`$let` vars, `as`): 16866/16867/16868/16869. */
bool expr_validate_variable_name(const char *name, duet_error_t *error);

duet_expr_t *expr_node_new(expr_eval_fn eval, const char *name, size_t arg_count);
/* A literal node owning a copy of `value`. */
duet_expr_t *expr_node_constant(const bson_value_t *value);

/* Evaluates a child; NULL child yields missing. */
static inline bool expr_eval(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   if (!node) {
      out->value_type = BSON_TYPE_EOD;
      return true;
   }
   return node->eval(node, state, out, error);
}

/* ---- operator table ------------------------------------------------------------------- */

/* Custom parser for operators whose argument is not a plain list (e.g. $let, $convert). */
typedef bool (*expr_parse_fn)(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                              duet_error_t *error);

typedef struct expr_operator {
   const char *name;
   expr_eval_fn eval; /* for list operators: evaluates node->args */
   int min_args;      /* list operators: arity range (max -1 = unbounded) */
   int max_args;
   expr_parse_fn parse; /* non-NULL: custom parse, eval/min/max unused */
   int64_t option;      /* copied into node->option for list operators */
} expr_operator_t;

/* Tables exported by each operator file, terminated by {NULL}. */
extern const expr_operator_t expr_operators_logic[];
extern const expr_operator_t expr_operators_arith[];
extern const expr_operator_t expr_operators_string[];
extern const expr_operator_t expr_operators_array[];
extern const expr_operator_t expr_operators_object[];
extern const expr_operator_t expr_operators_date[];
extern const expr_operator_t expr_operators_convert[];

/* Parses the list form of an operator's argument: `[a, b]` or a single `a` (one argument). */
bool expr_parse_args(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, int min_args, int max_args,
                     duet_expr_t *node, duet_error_t *error);

/* ---- value helpers ----------------------------------------------------------------------- */

static inline bool expr_value_is_nullish(const bson_value_t *value)
{
   return value->value_type == BSON_TYPE_EOD || value->value_type == BSON_TYPE_NULL ||
          value->value_type == BSON_TYPE_UNDEFINED;
}

static inline void expr_set_null(bson_value_t *out)
{
   out->value_type = BSON_TYPE_NULL;
}

static inline void expr_set_missing(bson_value_t *out)
{
   out->value_type = BSON_TYPE_EOD;
}

static inline void expr_set_bool(bson_value_t *out, bool value)
{
   out->value_type = BSON_TYPE_BOOL;
   out->value.v_bool = value;
}

static inline void expr_set_int32(bson_value_t *out, int32_t value)
{
   out->value_type = BSON_TYPE_INT32;
   out->value.v_int32 = value;
}

static inline void expr_set_int64(bson_value_t *out, int64_t value)
{
   out->value_type = BSON_TYPE_INT64;
   out->value.v_int64 = value;
}

static inline void expr_set_double(bson_value_t *out, double value)
{
   out->value_type = BSON_TYPE_DOUBLE;
   out->value.v_double = value;
}

static inline void expr_set_date(bson_value_t *out, int64_t ms)
{
   out->value_type = BSON_TYPE_DATE_TIME;
   out->value.v_datetime = ms;
}

static inline void expr_set_decimal(bson_value_t *out, bson_decimal128_t value)
{
   out->value_type = BSON_TYPE_DECIMAL128;
   out->value.v_decimal128 = value;
}

/* Takes ownership of a bson_malloc'd, NUL-terminated string of `length` bytes. */
void expr_set_string_owned(bson_value_t *out, char *string, uint32_t length);
/* Copies `length` bytes of `string`. */
void expr_set_string(bson_value_t *out, const char *string, uint32_t length);
/* Steals the buffer of `doc` (built with bson_init or bson_new) as a document/array value. */
void expr_set_document_steal(bson_value_t *out, bson_t *doc, bool is_array);
/* Releases a value and marks it missing. */
static inline void expr_value_clear(bson_value_t *value)
{
   if (value->value_type != BSON_TYPE_EOD) {
      bson_value_destroy(value);
      value->value_type = BSON_TYPE_EOD;
   }
}

/* Appends `value` to `doc` under `key` (missing values are skipped). */
void expr_append_value(bson_t *doc, const char *key, int key_length, const bson_value_t *value);

/* Reads a bson_value_t's document/array as a bson_t view (no copy). */
bool expr_value_as_bson(const bson_value_t *value, bson_t *view);

/* Number of elements of an array value. */
uint32_t expr_array_length(const bson_value_t *array);

/* A numeric value as double / as int64 (exactly when `exact` is true on return). */
double expr_number_as_double(const bson_value_t *value);
/* True when the value is numeric and integral and fits int32 ("representable as a 32-bit integer"). */
bool expr_number_as_int32(const bson_value_t *value, int32_t *out);
bool expr_number_as_int64(const bson_value_t *value, int64_t *out);

/* Coerces a value to string as $concat-like string operators do (coerceToString):
 * strings, numbers, dates, timestamps, symbols; null/missing become "". Owned result. */
bool expr_coerce_to_string(const char *op, const bson_value_t *value, bson_value_t *out, duet_error_t *error);

/* A date-like value (date, timestamp, objectId) as ms; 16006 otherwise. */
bool expr_coerce_to_date(const bson_value_t *value, int64_t *ms, duet_error_t *error);

/* The body of $convert, reused by $toString & co: converts `input` (not nullish) to `to`.
 * Returns false with 241 ConversionFailure on a failed conversion. */
bool expr_convert_value(const bson_value_t *input, bson_type_t to, bson_value_t *out, duet_error_t *error);

/* ---- $convert's 8.x arguments (expr_convert_base.c) ---- */
enum {
   EXPR_FORMAT_AUTO,
   EXPR_FORMAT_BASE64,
   EXPR_FORMAT_BASE64URL,
   EXPR_FORMAT_HEX,
   EXPR_FORMAT_UTF8,
   EXPR_FORMAT_UUID
};

typedef struct expr_convert_options {
   int base;             /* 2, 8, 10 or 16; 0 when absent */
   int format;           /* EXPR_FORMAT_*, -1 when absent */
   bool big_endian;      /* byteOrder "big" (default little) */
   bson_value_t subtype; /* borrowed `to.subtype`; EOD when absent (binData targets are unsupported) */
} expr_convert_options_t;

#define EXPR_CONVERT_OPTIONS_INIT                                                                                      \
   {                                                                                                                   \
      0, -1, false,                                                                                                    \
      {                                                                                                                \
         .value_type = BSON_TYPE_EOD                                                                                   \
      }                                                                                                                \
   }

/* Validates evaluated base/format/byteOrder (nullish = absent); errors are not ConversionFailures. */
bool expr_convert_parse_options(const bson_value_t *base, const bson_value_t *format, const bson_value_t *byte_order,
                                expr_convert_options_t *options, duet_error_t *error);
/* `base` conversions; *handled false when the pair is not one of them. */
bool expr_convert_extended(const bson_value_t *input, bson_type_t to, const expr_convert_options_t *options,
                           bson_value_t *out, duet_error_t *error, bool *handled);
/* expr_convert_value with explicit options. */
bool expr_convert_value_with(const bson_value_t *input, bson_type_t to, const expr_convert_options_t *options,
                             bson_value_t *out, duet_error_t *error);

/* $toString of the types without a classic conversion (MinKey, regex, timestamp, code, ...;
 * objects and arrays as compact JSON).  binData stays an unsupported conversion. */
bool expr_stringify_any(const bson_value_t *input, bson_value_t *out, duet_error_t *error);

/* Decimal128(double, kRoundTo15Digits): 15 significant digits, trailing zeros kept. */
bson_decimal128_t expr_double_to_decimal(double value);

/* Packs a canonical Decimal128 (coefficient < 10^34, exponent in [-6176, 6111]). */
bson_decimal128_t expr_decimal_from_parts(bool negative, unsigned __int128 coefficient, int exponent);

/* 18537 when a date's year is outside 0-9999 (MongoDB cannot format it). */
bool expr_check_date_range(int64_t ms, duet_error_t *error);

/* Parses a date string the way $toDate/$dateFromString do without a format (ISO 8601). */
bool expr_parse_date_string(const char *string, int64_t *ms, char *reason, size_t reason_size);

/* A time zone argument: a fixed offset, or an Olson zone from the tz database (expr_timezone.c). */
typedef struct expr_tz {
   int fixed_minutes;          /* offset east of UTC when zone is NULL */
   const struct tz_zone *zone; /* borrowed from the process-wide cache; NULL for fixed offsets */
} expr_tz_t;

/* "UTC"/"GMT"/"Z", "+hh", "+hhmm", "+hh:mm" or an Olson name; 40485 otherwise. */
bool expr_timezone_parse(const char *name, expr_tz_t *tz, duet_error_t *error);
/* Minutes east of UTC in effect at `utc_ms`. */
int expr_timezone_offset_at(const expr_tz_t *tz, int64_t utc_ms);
/* The instant whose local time in `tz` is `local_ms`. */
int64_t expr_timezone_local_to_utc(const expr_tz_t *tz, int64_t local_ms);

/* Calendar helpers (proleptic Gregorian, UTC). */
int64_t expr_days_from_civil(int64_t year, unsigned month, unsigned day);
void expr_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day);

#endif /* DUET_EXPR_INTERNAL_H */
