/*
 * doc_json.c — where JSON text went wrong, in words a person can act on: libbson's
 * JSON reader reports a byte offset and a yajl token; these turn them into
 * "SOURCE: line L, column C: invalid JSON near '...': <reason>; fix the JSON syntax there".
 * Used for App Services schemas and migration specs.
 */
#include <duet/doc.h>
#include <duet/error.h>

#include <stdlib.h>
#include <string.h>

/* 1-based line and column (in characters) of byte `offset`. */
void duet_json_line_column(const uint8_t *data, size_t len, size_t offset, unsigned *line, unsigned *column)
{
   *line = 1;
   *column = 1;
   for (size_t i = 0; i < offset && i < len; i++) {
      if (data[i] == '\n') {
         (*line)++;
         *column = 1;
      } else if ((data[i] & 0xC0) != 0x80) {
         (*column)++;
      }
   }
}

/* Offset of the first byte that does not start a valid UTF-8 sequence, or len. */
size_t duet_json_first_invalid_utf8(const uint8_t *data, size_t len)
{
   size_t i = 0;
   while (i < len) {
      uint8_t c = data[i];
      size_t extra;
      uint32_t min;
      if (c < 0x80) {
         i++;
         continue;
      } else if ((c & 0xE0) == 0xC0) {
         extra = 1;
         min = 0x80;
      } else if ((c & 0xF0) == 0xE0) {
         extra = 2;
         min = 0x800;
      } else if ((c & 0xF8) == 0xF0) {
         extra = 3;
         min = 0x10000;
      } else {
         return i;
      }
      uint32_t code = c & (0x3F >> extra);
      for (size_t k = 1; k <= extra; k++) {
         if (i + k >= len || (data[i + k] & 0xC0) != 0x80) {
            return i;
         }
         code = (code << 6) | (data[i + k] & 0x3F);
      }
      if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
         return i;
      }
      i += extra + 1;
   }
   return len;
}

/* libbson's yajl reason token → words. */
static const char *describe_reason(const char *token)
{
   static const struct {
      const char *token;
      const char *words;
   } reasons[] = {
       {"TRAILING_COMMA", "a comma before a closing bracket or brace"},
       {"SPECIAL_EXPECTED", "expected a value (string, number, object, array, true, false or null)"},
       {"STRING_OUTSIDE_CONTAINER", "a value outside of any object or array"},
       {"MISSING_COMMA", "a missing comma"},
       {"MISSING_COLON", "a missing colon after a key"},
       {"OBJECT_KEY_EXPECTED", "expected a quoted key"},
       {"INVALID_STRING", "an invalid string"},
       {"INVALID_NUMBER", "an invalid number"},
       {"MISSING_EXPONENT", "a number with a missing exponent"},
       {"MISSING_INTEGER_AFTER_DECIMAL", "a number with no digits after the decimal point"},
       {"MISSING_INTEGER_AFTER_MINUS", "a minus sign not followed by digits"},
       {"UNALLOWED_CHAR", "a character that is not allowed here"},
       {"INVALID_ESCAPE", "an invalid escape sequence"},
       {"INVALID_UTF8", "invalid UTF-8"},
       {"PREMATURE_EOF", "the text ends too early"},
       {"STRAY_TOKEN", "an unexpected token (a missing comma?)"},
   };
   for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
      if (strcmp(reasons[i].token, token) == 0) {
         return reasons[i].words;
      }
   }
   return NULL;
}

void duet_json_report_error(const char *source, const uint8_t *data, size_t len, const char *message,
                            duet_error_t *error)
{
   const char *position = strstr(message, "position ");
   if (position) {
      size_t offset = strtoul(position + strlen("position "), NULL, 10);
      unsigned line, column;
      duet_json_line_column(data, len, offset, &line, &column);
      /* message: Got parse error at "<near>", position N: "<REASON>" */
      char near[64] = "";
      const char *near_start = strstr(message, "at \"");
      if (near_start) {
         near_start += 4;
         const char *near_end = strstr(near_start, "\", position");
         size_t n = near_end ? (size_t)(near_end - near_start) : 0;
         if (n >= sizeof near) {
            n = sizeof near - 1;
         }
         memcpy(near, near_start, n);
         near[n] = '\0';
      }
      char token[64] = "";
      const char *reason_start = strstr(position, ": \"");
      if (reason_start) {
         reason_start += 3;
         size_t n = strcspn(reason_start, "\"");
         if (n >= sizeof token) {
            n = sizeof token - 1;
         }
         memcpy(token, reason_start, n);
         token[n] = '\0';
      }
      const char *words = describe_reason(token);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: line %u, column %u: invalid JSON near '%s': %s; fix the JSON syntax there", source,
                     line, column, near, words ? words : token);
      return;
   }
   if (strstr(message, "Incomplete JSON")) {
      unsigned line, column;
      duet_json_line_column(data, len, len, &line, &column);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: line %u, column %u: invalid JSON: the text ends before every object and array is "
                     "closed; add the missing '}' or ']'",
                     source, line, column);
      return;
   }
   duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                  "%s: invalid JSON: %s; fix the value libbson names",
                  source, message);
}

