/*
 * expr_string.c — string expressions, code-point aware where MongoDB's are:
 * $concat $substrCP $toLower $toUpper $trim $ltrim $rtrim $split $strLenCP $indexOfCP.
 * Error codes and texts follow src/mongo/db/exec/expression/evaluate_string.cpp.
 */
#include "mql/expr_internal.h"

#include <string.h>

static bool is_continuation(unsigned char c)
{
   return (c & 0xc0) == 0x80;
}

static size_t code_point_length(unsigned char c)
{
   if (c < 0x80) {
      return 1;
   }
   if ((c & 0xe0) == 0xc0) {
      return 2;
   }
   if ((c & 0xf0) == 0xe0) {
      return 3;
   }
   return 4;
}

/* Counts code points (bytes that are not continuation bytes). */
static size_t count_code_points(const char *s, size_t length)
{
   size_t n = 0;
   for (size_t i = 0; i < length; i++) {
      n += !is_continuation((unsigned char)s[i]);
   }
   return n;
}

/* ---- $concat ------------------------------------------------------------------------------------- */

static bool eval_concat(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_string_t *result = bson_string_new(NULL);
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         bson_string_free(result, true);
         return false;
      }
      if (expr_value_is_nullish(&value)) {
         bson_string_free(result, true);
         expr_set_null(out);
         return true;
      }
      if (value.value_type != BSON_TYPE_UTF8) {
         duet_error_set(error, 16702, "$concat only supports strings, not %s", duet_type_name(value.value_type));
         bson_value_destroy(&value);
         bson_string_free(result, true);
         expr_set_missing(out);
         return false;
      }
      bson_string_append_printf(result, "%.*s", (int)value.value.v_utf8.len, value.value.v_utf8.str);
      bson_value_destroy(&value);
   }
   uint32_t length = result->len;
   expr_set_string_owned(out, bson_string_free(result, false), length);
   return true;
}

/* ---- $toLower / $toUpper ------------------------------------------------------------------------- */

static bool eval_case(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   bool ok = expr_coerce_to_string(node->name, &value, out, error);
   bson_value_destroy(&value);
   if (!ok) {
      return false;
   }
   char *s = out->value.v_utf8.str;
   for (uint32_t i = 0; i < out->value.v_utf8.len; i++) {
      if (node->option == 0 && s[i] >= 'A' && s[i] <= 'Z') {
         s[i] = (char)(s[i] - 'A' + 'a');
      } else if (node->option == 1 && s[i] >= 'a' && s[i] <= 'z') {
         s[i] = (char)(s[i] - 'a' + 'A');
      }
   }
   return true;
}

/* ---- $substrCP ------------------------------------------------------------------------------------- */

static bool eval_substr_cp(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input, lower, length, text = {.value_type = BSON_TYPE_EOD};
   bool ok = false;
   expr_set_missing(out);
   if (!expr_eval(node->args[0], state, &input, error)) {
      return false;
   }
   if (!expr_eval(node->args[1], state, &lower, error)) {
      bson_value_destroy(&input);
      return false;
   }
   if (!expr_eval(node->args[2], state, &length, error)) {
      bson_value_destroy(&input);
      bson_value_destroy(&lower);
      return false;
   }
   int32_t start, count;
   if (!expr_coerce_to_string(node->name, &input, &text, error)) {
      goto done;
   }
   if (!duet_type_is_number(lower.value_type)) {
      duet_error_set(error, 34450, "%s: starting index must be a numeric type (is BSON type %s)", node->name,
                     duet_type_name(lower.value_type));
      goto done;
   }
   if (!expr_number_as_int32(&lower, &start)) {
      char *t = duet_expr_value_to_string(&lower);
      duet_error_set(error, 34451, "%s: starting index cannot be represented as a 32-bit integral value: %s",
                     node->name, t);
      bson_free(t);
      goto done;
   }
   if (!duet_type_is_number(length.value_type)) {
      duet_error_set(error, 34452, "%s: length must be a numeric type (is BSON type %s)", node->name,
                     duet_type_name(length.value_type));
      goto done;
   }
   if (!expr_number_as_int32(&length, &count)) {
      char *t = duet_expr_value_to_string(&length);
      duet_error_set(error, 34453, "%s: length cannot be represented as a 32-bit integral value: %s", node->name, t);
      bson_free(t);
      goto done;
   }
   if (count < 0) {
      duet_error_set(error, 34454, "%s: length must be a nonnegative integer.", node->name);
      goto done;
   }
   if (start < 0) {
      duet_error_set(error, 34455, "%s: the starting index must be nonnegative integer.", node->name);
      goto done;
   }
   {
      const char *s = text.value.v_utf8.str;
      size_t n = text.value.v_utf8.len;
      size_t begin = 0;
      for (int32_t cp = 0; cp < start && begin < n; cp++) {
         begin += code_point_length((unsigned char)s[begin]);
      }
      if (begin > n) {
         begin = n;
      }
      size_t end = begin;
      for (int32_t cp = 0; cp < count && end < n; cp++) {
         end += code_point_length((unsigned char)s[end]);
      }
      if (end > n) {
         end = n;
      }
      expr_set_string(out, s + begin, (uint32_t)(end - begin));
      ok = true;
   }
done:
   bson_value_destroy(&input);
   bson_value_destroy(&lower);
   bson_value_destroy(&length);
   bson_value_destroy(&text);
   return ok;
}

/* ---- $strLenCP ------------------------------------------------------------------------------------- */

static bool eval_str_len_cp(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   if (value.value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 34471, "$strLenCP requires a string argument, found: %s", duet_type_name(value.value_type));
      bson_value_destroy(&value);
      expr_set_missing(out);
      return false;
   }
   expr_set_int32(out, (int32_t)count_code_points(value.value.v_utf8.str, value.value.v_utf8.len));
   bson_value_destroy(&value);
   return true;
}

/* ---- $indexOfCP ------------------------------------------------------------------------------------ */

static bool check_index(const duet_expr_t *node, const bson_value_t *value, const char *what, int32_t *out,
                        duet_error_t *error)
{
   int64_t v;
   if (!expr_number_as_int64(value, &v)) {
      char *t = duet_expr_value_to_string(value);
      duet_error_set(error, 40096, "%srequires an integral %s, found a value of type: %s, with value: %s", node->name,
                     what, duet_type_name(value->value_type), t);
      bson_free(t);
      return false;
   }
   if ((int32_t)v < 0) {
      char *t = duet_expr_value_to_string(value);
      duet_error_set(error, 40097, "%s requires a nonnegative %s, found: %s", node->name, what, t);
      bson_free(t);
      return false;
   }
   *out = (int32_t)v;
   return true;
}

static bool eval_index_of_cp(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t values[4];
   size_t evaluated = 0;
   bool ok = false;
   expr_set_missing(out);
   for (; evaluated < node->arg_count; evaluated++) {
      if (!expr_eval(node->args[evaluated], state, &values[evaluated], error)) {
         goto done;
      }
      if (evaluated == 0 && expr_value_is_nullish(&values[0])) {
         expr_set_null(out);
         evaluated++;
         ok = true;
         goto done;
      }
   }
   if (values[0].value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 40093, "$indexOfCP requires a string as the first argument, found: %s",
                     duet_type_name(values[0].value_type));
      goto done;
   }
   if (values[1].value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 40094, "$indexOfCP requires a string as the second argument, found: %s",
                     duet_type_name(values[1].value_type));
      goto done;
   }
   const char *input = values[0].value.v_utf8.str;
   size_t input_length = values[0].value.v_utf8.len;
   const char *token = values[1].value.v_utf8.str;
   size_t token_length = values[1].value.v_utf8.len;
   int32_t start = 0, end_arg = 0;
   if (node->arg_count > 2 && !check_index(node, &values[2], "starting index", &start, error)) {
      goto done;
   }
   size_t code_points = 0, start_byte = 0;
   for (size_t i = 0; i < input_length; code_points++) {
      if (code_points == (size_t)start) {
         start_byte = i;
      }
      if (is_continuation((unsigned char)input[i])) {
         duet_error_set(error, 40095, "$indexOfCP found bad UTF-8 in the input");
         goto done;
      }
      i += code_point_length((unsigned char)input[i]);
   }
   size_t end = code_points;
   if (node->arg_count > 3) {
      if (!check_index(node, &values[3], "ending index", &end_arg, error)) {
         goto done;
      }
      if ((size_t)end_arg < end) {
         end = (size_t)end_arg;
      }
   }
   ok = true;
   if (end < (size_t)start) {
      expr_set_int32(out, -1);
      goto done;
   }
   if (start_byte == 0 && input_length == 0 && token_length == 0) {
      expr_set_int32(out, 0);
      goto done;
   }
   size_t byte = start_byte;
   for (size_t cp = (size_t)start; cp < end; cp++) {
      if (byte + token_length <= input_length && memcmp(input + byte, token, token_length) == 0) {
         expr_set_int32(out, (int32_t)cp);
         goto done;
      }
      byte += code_point_length((unsigned char)input[byte]);
   }
   expr_set_int32(out, -1);
done:
   for (size_t i = 0; i < evaluated && i < node->arg_count; i++) {
      bson_value_destroy(&values[i]);
   }
   return ok;
}

/* ---- $split ----------------------------------------------------------------------------------------- */

static bool eval_split(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input, separator;
   if (!expr_eval(node->args[0], state, &input, error)) {
      return false;
   }
   if (!expr_eval(node->args[1], state, &separator, error)) {
      bson_value_destroy(&input);
      return false;
   }
   bool ok = false;
   expr_set_missing(out);
   if (expr_value_is_nullish(&input) || expr_value_is_nullish(&separator)) {
      expr_set_null(out);
      ok = true;
      goto done;
   }
   if (input.value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 40085,
                     "$split requires an expression that evaluates to a string as a first argument, "
                     "found: %s",
                     duet_type_name(input.value_type));
      goto done;
   }
   if (separator.value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 40086,
                     "$split requires an expression that evaluates to a string as a second "
                     "argument, found: %s",
                     duet_type_name(separator.value_type));
      goto done;
   }
   if (separator.value.v_utf8.len == 0) {
      duet_error_set(error, 40087, "$split requires a non-empty separator");
      goto done;
   }
   {
      bson_t result = BSON_INITIALIZER;
      const char *s = input.value.v_utf8.str;
      size_t n = input.value.v_utf8.len;
      const char *sep = separator.value.v_utf8.str;
      size_t sep_length = separator.value.v_utf8.len;
      size_t begin = 0;
      uint32_t index = 0;
      for (size_t i = 0; i + sep_length <= n;) {
         if (memcmp(s + i, sep, sep_length) == 0) {
            char key_buffer[16];
            const char *key;
            size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
            bson_append_utf8(&result, key, (int)key_length, s + begin, (int)(i - begin));
            i += sep_length;
            begin = i;
         } else {
            i++;
         }
      }
      char key_buffer[16];
      const char *key;
      size_t key_length = bson_uint32_to_string(index, &key, key_buffer, sizeof key_buffer);
      bson_append_utf8(&result, key, (int)key_length, s + begin, (int)(n - begin));
      expr_set_document_steal(out, &result, true);
      ok = true;
   }
done:
   bson_value_destroy(&input);
   bson_value_destroy(&separator);
   return ok;
}

/* ---- $trim, $ltrim, $rtrim --------------------------------------------------------------------------- */

/* MongoDB's kDefaultTrimWhitespaceChars as UTF-8. */
static const char *const default_trim_chars[] = {
    "\0",           " ",
    "\t",           "\n",
    "\v",           "\f",
    "\r",           "\xc2\xa0",
    "\xe1\x9a\x80", "\xe2\x80\x80",
    "\xe2\x80\x81", "\xe2\x80\x82",
    "\xe2\x80\x83", "\xe2\x80\x84",
    "\xe2\x80\x85", "\xe2\x80\x86",
    "\xe2\x80\x87", "\xe2\x80\x88",
    "\xe2\x80\x89", "\xe2\x80\x8a",
    "\xe2\x80\xa8", "\xe2\x80\xa9",
    "\xe2\x80\xaf", "\xe2\x81\x9f",
    "\xe3\x80\x80",
};

/* True when the code point at s[i] (length cp_length) is in the trim set. */
static bool in_trim_set(const char *s, size_t cp_length, const bson_value_t *chars)
{
   if (!chars) {
      for (size_t k = 0; k < sizeof default_trim_chars / sizeof default_trim_chars[0]; k++) {
         size_t l = k == 0 ? 1 : strlen(default_trim_chars[k]);
         if (l == cp_length && memcmp(default_trim_chars[k], s, l) == 0) {
            return true;
         }
      }
      return false;
   }
   const char *c = chars->value.v_utf8.str;
   size_t n = chars->value.v_utf8.len;
   for (size_t i = 0; i < n;) {
      size_t l = code_point_length((unsigned char)c[i]);
      if (l == cp_length && i + l <= n && memcmp(c + i, s, l) == 0) {
         return true;
      }
      i += l;
   }
   return false;
}

enum { TRIM_BOTH, TRIM_LEFT, TRIM_RIGHT };

static bool eval_trim(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t input, chars = {.value_type = BSON_TYPE_EOD};
   if (!expr_eval(node->args[0], state, &input, error)) {
      return false;
   }
   bool ok = false;
   expr_set_missing(out);
   if (expr_value_is_nullish(&input)) {
      expr_set_null(out);
      ok = true;
      goto done;
   }
   if (input.value_type != BSON_TYPE_UTF8) {
      char *t = duet_expr_value_to_string(&input);
      duet_error_set(error, 50699, "%s requires its input to be a string, got %s (of type %s) instead.", node->name, t,
                     duet_type_name(input.value_type));
      bson_free(t);
      goto done;
   }
   if (node->args[1]) {
      if (!expr_eval(node->args[1], state, &chars, error)) {
         goto done;
      }
      if (expr_value_is_nullish(&chars)) {
         expr_set_null(out);
         ok = true;
         goto done;
      }
      if (chars.value_type != BSON_TYPE_UTF8) {
         char *t = duet_expr_value_to_string(&chars);
         duet_error_set(error, 50700, "%s requires 'chars' to be a string, got %s (of type %s) instead.", node->name, t,
                        duet_type_name(chars.value_type));
         bson_free(t);
         goto done;
      }
   }
   {
      const char *s = input.value.v_utf8.str;
      size_t n = input.value.v_utf8.len;
      const bson_value_t *set = node->args[1] ? &chars : NULL;
      size_t begin = 0, end = n;
      if (node->option != TRIM_RIGHT) {
         while (begin < n) {
            size_t l = code_point_length((unsigned char)s[begin]);
            if (!in_trim_set(s + begin, l, set)) {
               break;
            }
            begin += l;
         }
      }
      if (node->option != TRIM_LEFT) {
         while (end > begin) {
            size_t start_of_last = end - 1;
            while (start_of_last > begin && is_continuation((unsigned char)s[start_of_last])) {
               start_of_last--;
            }
            if (!in_trim_set(s + start_of_last, end - start_of_last, set)) {
               break;
            }
            end = start_of_last;
         }
      }
      expr_set_string(out, s + begin, (uint32_t)(end - begin));
      ok = true;
   }
done:
   bson_value_destroy(&input);
   bson_value_destroy(&chars);
   return ok;
}

static bool parse_trim(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                       duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, 50696, "%s only supports an object as an argument, found %s", name,
                     duet_type_name(value->value_type));
      return false;
   }
   duet_expr_t *node = expr_node_new(eval_trim, name, 2);
   node->option = strcmp(name, "$ltrim") == 0 ? TRIM_LEFT : strcmp(name, "$rtrim") == 0 ? TRIM_RIGHT : TRIM_BOTH;
   bson_iter_t iter;
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      int index = strcmp(key, "input") == 0 ? 0 : strcmp(key, "chars") == 0 ? 1 : -1;
      if (index < 0) {
         duet_error_set(error, 50694, "%s found an unknown argument: %s", name, key);
         goto fail;
      }
      duet_expr_destroy(node->args[index]);
      node->args[index] = NULL;
      if (!expr_parse_iter(&iter, ctx, &node->args[index], error)) {
         goto fail;
      }
   }
   if (!node->args[0]) {
      duet_error_set(error, 50695, "%s requires an 'input' field", name);
      goto fail;
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

const expr_operator_t expr_operators_string[] = {
    {"$concat", eval_concat, 0, -1, NULL, 0},
    {"$toLower", eval_case, 1, 1, NULL, 0},
    {"$toUpper", eval_case, 1, 1, NULL, 1},
    {"$substrCP", eval_substr_cp, 3, 3, NULL, 0},
    {"$strLenCP", eval_str_len_cp, 1, 1, NULL, 0},
    {"$indexOfCP", eval_index_of_cp, 2, 4, NULL, 0},
    {"$split", eval_split, 2, 2, NULL, 0},
    {"$trim", NULL, 0, 0, parse_trim, 0},
    {"$ltrim", NULL, 0, 0, parse_trim, 0},
    {"$rtrim", NULL, 0, 0, parse_trim, 0},
    {NULL, NULL, 0, 0, NULL, 0},
};
