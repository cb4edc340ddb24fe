/*
 * match_regex.c — $regex for the matcher and $jsonSchema `pattern`: PCRE2
 * compilation with MongoDB's option letters (i m s x u) and its error texts.
 */
#include "match_internal.h"

#include <string.h>

bool match_regex_compile(const char *pattern, const char *options, match_regex_t **out, duet_error_t *error)
{
   *out = NULL;
   uint32_t flags = PCRE2_UTF | PCRE2_NO_UTF_CHECK;
   char normalized[8] = {0};
   size_t normalized_length = 0;
   for (const char *p = options ? options : ""; *p; p++) {
      uint32_t flag;
      switch (*p) {
      case 'i': flag = PCRE2_CASELESS; break;
      case 'm': flag = PCRE2_MULTILINE; break;
      case 's': flag = PCRE2_DOTALL; break;
      case 'x': flag = PCRE2_EXTENDED; break;
      case 'u': flag = PCRE2_UCP; break;
      default: duet_error_set(error, 51108, "invalid flag in regex options: %c", *p); return false;
      }
      if (!(flags & flag) && normalized_length < sizeof normalized - 1) {
         normalized[normalized_length++] = *p;
      }
      flags |= flag;
   }
   /* libbson stores regex flags sorted; sort ours the same way for $eq-style comparison. */
   for (size_t i = 1; i < normalized_length; i++) {
      for (size_t j = i; j > 0 && normalized[j - 1] > normalized[j]; j--) {
         char swap = normalized[j];
         normalized[j] = normalized[j - 1];
         normalized[j - 1] = swap;
      }
   }
   /* libbson's own validation refuses invalid UTF-8 earlier; PCRE2 re-checks only
    * when the pattern came from elsewhere, so drop NO_UTF_CHECK to stay safe. */
   flags &= ~(uint32_t)PCRE2_NO_UTF_CHECK;
   int error_code;
   PCRE2_SIZE error_offset;
   pcre2_code *code =
       pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &error_code, &error_offset, NULL);
   if (!code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof message);
      duet_error_set(error, 51091, "Regular expression is invalid: %s", (const char *)message);
      return false;
   }
   match_regex_t *regex = bson_malloc0(sizeof *regex);
   regex->code = code;
   regex->owned_pattern = bson_strdup(pattern);
   regex->pattern = regex->owned_pattern;
   memcpy(regex->options, normalized, sizeof normalized);
   *out = regex;
   return true;
}

void match_regex_destroy(match_regex_t *regex)
{
   if (!regex) {
      return;
   }
   pcre2_code_free(regex->code);
   bson_free(regex->owned_pattern);
   bson_free(regex);
}

bool match_regex_matches_string(const match_regex_t *regex, const char *text, size_t length)
{
   pcre2_match_data *data = pcre2_match_data_create_from_pattern(regex->code, NULL);
   int rc = pcre2_match(regex->code, (PCRE2_SPTR)text, length, 0, 0, data, NULL);
   pcre2_match_data_free(data);
   return rc >= 0;
}

/* Option letters compared as sets in MongoDB's order-insensitive sense: the
 * server compares the flag strings as stored, which are normalized here. */
bool match_regex_matches_value(const match_regex_t *regex, const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_UTF8: return match_regex_matches_string(regex, value->value.v_utf8.str, value->value.v_utf8.len);
   case BSON_TYPE_SYMBOL:
      return match_regex_matches_string(regex, value->value.v_symbol.symbol, value->value.v_symbol.len);
   case BSON_TYPE_REGEX:
      return strcmp(value->value.v_regex.regex, regex->pattern) == 0 &&
             strcmp(value->value.v_regex.options ? value->value.v_regex.options : "", regex->options) == 0;
   default: return false;
   }
}
