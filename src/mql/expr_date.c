/*
 * expr_date.c — date expressions ($year, $month, $dayOfMonth, $dateToString, $dateFromString)
 * and the calendar, formatting and ISO 8601 parsing helpers $convert shares.
 *
 * Time zones ("UTC", offsets, Olson names) come from expr_timezone.c; unknown names fail with
 * 40485 as in MongoDB.
 */
#include "mql/expr_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- calendar (Howard Hinnant's days_from_civil) ----------------------------------------- */

int64_t expr_days_from_civil(int64_t year, unsigned month, unsigned day)
{
   year -= month <= 2;
   int64_t era = (year >= 0 ? year : year - 399) / 400;
   unsigned yoe = (unsigned)(year - era * 400);
   unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
   unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
   return era * 146097 + (int64_t)doe - 719468;
}

void expr_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
   days += 719468;
   int64_t era = (days >= 0 ? days : days - 146096) / 146097;
   unsigned doe = (unsigned)(days - era * 146097);
   unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
   int64_t y = (int64_t)yoe + era * 400;
   unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   unsigned mp = (5 * doy + 2) / 153;
   *day = doy - (153 * mp + 2) / 5 + 1;
   *month = mp < 10 ? mp + 3 : mp - 9;
   *year = y + (*month <= 2);
}

typedef struct broken_time {
   int64_t year;
   unsigned month, day, hour, minute, second, millisecond;
   int64_t days;         /* days since the epoch */
   unsigned day_of_week; /* 1 = Sunday ... 7 = Saturday */
   unsigned day_of_year; /* 1..366 */
} broken_time_t;

static int64_t floor_div(int64_t a, int64_t b)
{
   return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void break_time(int64_t ms, broken_time_t *t)
{
   t->days = floor_div(ms, 86400000);
   int64_t in_day = ms % 86400000; /* no t->days * 86400000: it overflows near INT64_MIN */
   if (in_day < 0) {
      in_day += 86400000;
   }
   expr_civil_from_days(t->days, &t->year, &t->month, &t->day);
   t->hour = (unsigned)(in_day / 3600000);
   t->minute = (unsigned)(in_day / 60000 % 60);
   t->second = (unsigned)(in_day / 1000 % 60);
   t->millisecond = (unsigned)(in_day % 1000);
   /* 1970-01-01 was a Thursday (5 with Sunday = 1). */
   t->day_of_week = (unsigned)(((t->days + 4) % 7 + 7) % 7) + 1;
   t->day_of_year = (unsigned)(t->days - expr_days_from_civil(t->year, 1, 1)) + 1;
}

void duet_expr_format_date(int64_t ms, char *buffer, size_t size)
{
   broken_time_t t;
   break_time(ms, &t);
   snprintf(buffer, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)t.year, t.month, t.day, t.hour, t.minute,
            t.second, t.millisecond);
}

bool expr_check_date_range(int64_t ms, duet_error_t *error)
{
   broken_time_t t;
   break_time(ms, &t);
   if (t.year < 0 || t.year > 9999) {
      duet_error_set(error, 18537,
                     "Could not convert date to string: date component was outside the supported range of 0-9999: %lld",
                     (long long)t.year);
      return false;
   }
   return true;
}

bool expr_coerce_to_date(const bson_value_t *value, int64_t *ms, duet_error_t *error)
{
   switch (value->value_type) {
   case BSON_TYPE_DATE_TIME: *ms = value->value.v_datetime; return true;
   case BSON_TYPE_TIMESTAMP: *ms = (int64_t)value->value.v_timestamp.timestamp * 1000; return true;
   case BSON_TYPE_OID: *ms = (int64_t)bson_oid_get_time_t(&value->value.v_oid) * 1000; return true;
   default:
      duet_error_set(error, 16006, "can't convert from BSON type %s to Date", duet_type_name(value->value_type));
      return false;
   }
}

static const char *const month_names[] = {"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};

/* ---- time zones ----------------------------------------------------------------------------- */

/* Parses an offset "+HH", "+HHMM", "+HH:MM" (with sign) into minutes; returns chars consumed or 0. */
static size_t parse_offset(const char *s, int *minutes)
{
   if (s[0] != '+' && s[0] != '-') {
      return 0;
   }
   int sign = s[0] == '-' ? -1 : 1;
   if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2])) {
      return 0;
   }
   int hours = (s[1] - '0') * 10 + (s[2] - '0');
   size_t i = 3;
   int mins = 0;
   if (s[i] == ':') {
      i++;
   }
   if (isdigit((unsigned char)s[i]) && isdigit((unsigned char)s[i + 1])) {
      mins = (s[i] - '0') * 10 + (s[i + 1] - '0');
      i += 2;
   } else if (s[i - 1] == ':') {
      return 0;
   }
   *minutes = sign * (hours * 60 + mins);
   return i;
}

static bool parse_timezone(const bson_value_t *tz, expr_tz_t *zone, duet_error_t *error)
{
   if (tz->value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, 40517, "timezone must evaluate to a string, found %s", duet_type_name(tz->value_type));
      return false;
   }
   return expr_timezone_parse(tz->value.v_utf8.str, zone, error);
}

/* ---- ISO 8601 parsing ----------------------------------------------------------------------- */

static bool read_digits(const char **p, int count, int *out)
{
   int value = 0;
   for (int i = 0; i < count; i++) {
      if (!isdigit((unsigned char)(*p)[i])) {
         return false;
      }
      value = value * 10 + ((*p)[i] - '0');
   }
   *p += count;
   *out = value;
   return true;
}

static bool valid_date(int year, int month, int day)
{
   static const int lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
   if (month < 1 || month > 12 || day < 1) {
      return false;
   }
   int length = lengths[month - 1];
   if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) {
      length = 29;
   }
   return day <= length;
}

/* Parses ISO 8601 date[-time][offset]; *has_offset tells whether the string named a zone. */
static bool parse_iso(const char *s, int64_t *ms, bool *has_offset, char *reason, size_t reason_size)
{
   const char *p = s;
   int year, month, day, hour = 0, minute = 0, second = 0, millis = 0;
   *has_offset = false;
   while (*p == ' ') {
      p++;
   }
   if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) || *p++ != '-' ||
       !read_digits(&p, 2, &day)) {
      snprintf(reason, reason_size, "an incomplete date/time string has been found, with elements missing");
      return false;
   }
   if (!valid_date(year, month, day)) {
      snprintf(reason, reason_size, "The parsed date was invalid");
      return false;
   }
   if (*p == 'T' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
      p++;
      if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute)) {
         snprintf(reason, reason_size, "Unexpected data found.");
         return false;
      }
      if (*p == ':') {
         p++;
         if (!read_digits(&p, 2, &second)) {
            snprintf(reason, reason_size, "Unexpected data found.");
            return false;
         }
         if (*p == '.') {
            p++;
            int digits = 0;
            int value = 0;
            while (isdigit((unsigned char)*p)) {
               if (digits < 3) {
                  value = value * 10 + (*p - '0');
               }
               digits++;
               p++;
            }
            if (digits == 0) {
               snprintf(reason, reason_size, "Unexpected data found.");
               return false;
            }
            for (int i = digits; i < 3; i++) {
               value *= 10;
            }
            millis = value;
         }
      }
      if (hour > 24 || minute > 59 || second > 60) {
         snprintf(reason, reason_size, "The parsed time was invalid");
         return false;
      }
   }
   while (*p == ' ') {
      p++;
   }
   int offset = 0;
   if (*p == 'Z' || *p == 'z') {
      *has_offset = true;
      p++;
   } else if (strncmp(p, "UTC", 3) == 0 || strncmp(p, "GMT", 3) == 0) {
      *has_offset = true;
      p += 3;
      size_t n = parse_offset(p, &offset);
      p += n;
   } else if (*p == '+' || *p == '-') {
      size_t n = parse_offset(p, &offset);
      if (n == 0) {
         snprintf(reason, reason_size, "Unexpected data found.");
         return false;
      }
      *has_offset = true;
      p += n;
   }
   while (*p == ' ') {
      p++;
   }
   if (*p != '\0') {
      snprintf(reason, reason_size, "Trailing data");
      return false;
   }
   int64_t days = expr_days_from_civil(year, (unsigned)month, (unsigned)day);
   *ms = days * 86400000 + (int64_t)hour * 3600000 + (int64_t)minute * 60000 + (int64_t)second * 1000 + millis -
         (int64_t)offset * 60000;
   return true;
}

/* Military time zone letters: A-I = +1..+9, K-M = +10..+12, N-Y = -1..-12, Z = 0 (J unused). */
static bool military_zone(char letter, int *minutes)
{
   char c = (char)tolower((unsigned char)letter);
   if (c >= 'a' && c <= 'i') {
      *minutes = (c - 'a' + 1) * 60;
   } else if (c >= 'k' && c <= 'm') {
      *minutes = (c - 'k' + 10) * 60;
   } else if (c >= 'n' && c <= 'y') {
      *minutes = -(c - 'n' + 1) * 60;
   } else if (c == 'z') {
      *minutes = 0;
   } else {
      return false;
   }
   return true;
}

static int month_from_name(const char *word, size_t length)
{
   for (int m = 0; m < 12; m++) {
      size_t full = strlen(month_names[m]);
      if ((length == full || length == 3 || (m == 8 && length == 4)) && length <= full &&
          strncasecmp(word, month_names[m], length) == 0) {
         return m + 1;
      }
   }
   return 0;
}

/* Reads "hh:mm[:ss[.fff]]" at *p. */
static bool read_clock(const char **p, int *hour, int *minute, int *second, int *millis)
{
   const char *q = *p;
   int h = 0, digits = 0;
   while (isdigit((unsigned char)*q) && digits < 2) {
      h = h * 10 + (*q++ - '0');
      digits++;
   }
   if (digits == 0 || *q != ':' || !isdigit((unsigned char)q[1]) || !isdigit((unsigned char)q[2])) {
      return false;
   }
   *minute = (q[1] - '0') * 10 + (q[2] - '0');
   q += 3;
   *second = 0;
   *millis = 0;
   if (*q == ':' && isdigit((unsigned char)q[1]) && isdigit((unsigned char)q[2])) {
      *second = (q[1] - '0') * 10 + (q[2] - '0');
      q += 3;
      if (*q == '.' && isdigit((unsigned char)q[1])) {
         q++;
         int value = 0, n = 0;
         while (isdigit((unsigned char)*q)) {
            if (n < 3) {
               value = value * 10 + (*q - '0');
            }
            n++;
            q++;
         }
         for (; n < 3; n++) {
            value *= 10;
         }
         *millis = value;
      }
   }
   *hour = h;
   *p = q;
   return true;
}

/* The free-form dates timelib accepts most often: "July 4th, 2017", "July 4th, 2017 12pm",
 * "2017-Jul-04 noon", "4 July 2017 10:00:00 GMT+02:00", military zone letters. */
static bool parse_words(const char *s, int64_t *ms, bool *has_offset, char *reason, size_t reason_size)
{
   int year = -1, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0, offset = 0;
   bool pm = false, am = false;
   *has_offset = false;
   const char *p = s;
   for (;;) {
      while (*p == ' ' || *p == ',' || *p == '\t') {
         p++;
      }
      if (*p == '\0') {
         break;
      }
      if (isalpha((unsigned char)*p)) {
         const char *start = p;
         while (isalpha((unsigned char)*p)) {
            p++;
         }
         size_t length = (size_t)(p - start);
         int m;
         if (length >= 3 && (m = month_from_name(start, length)) != 0 && month == 0) {
            month = m;
         } else if (length == 4 && strncasecmp(start, "noon", 4) == 0) {
            hour = 12;
         } else if (length == 8 && strncasecmp(start, "midnight", 8) == 0) {
            hour = 0;
         } else if (length == 2 && strncasecmp(start, "am", 2) == 0) {
            am = true;
         } else if (length == 2 && strncasecmp(start, "pm", 2) == 0) {
            pm = true;
         } else if ((length == 3 && (strncasecmp(start, "utc", 3) == 0 || strncasecmp(start, "gmt", 3) == 0)) ||
                    (length == 1 && military_zone(*start, &offset))) {
            if (length == 3) {
               offset = 0;
               size_t n = parse_offset(p, &offset);
               p += n;
            }
            *has_offset = true;
         } else {
            snprintf(reason, reason_size, "The timezone could not be found in the database");
            return false;
         }
         continue;
      }
      if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && year >= 0) {
         size_t n = parse_offset(p, &offset);
         if (n == 0) {
            snprintf(reason, reason_size, "Unexpected data found.");
            return false;
         }
         *has_offset = true;
         p += n;
         continue;
      }
      if (isdigit((unsigned char)*p)) {
         const char *start = p;
         int clock_hour;
         if (read_clock(&p, &clock_hour, &minute, &second, &millis)) {
            hour = clock_hour;
            continue;
         }
         p = start;
         int value = 0, digits = 0;
         while (isdigit((unsigned char)*p)) {
            value = value * 10 + (*p++ - '0');
            digits++;
         }
         if (digits == 4 && *p == '-') {
            /* YYYY-MM-DD or YYYY-Mon-DD */
            year = value;
            p++;
            if (isalpha((unsigned char)*p)) {
               const char *word = p;
               while (isalpha((unsigned char)*p)) {
                  p++;
               }
               month = month_from_name(word, (size_t)(p - word));
            } else {
               month = 0;
               int n = 0;
               while (isdigit((unsigned char)*p) && n < 2) {
                  month = month * 10 + (*p++ - '0');
                  n++;
               }
            }
            if (month == 0 || *p != '-' || !isdigit((unsigned char)p[1])) {
               snprintf(reason, reason_size, "Unexpected data found.");
               return false;
            }
            p++;
            day = 0;
            for (int n = 0; n < 2 && isdigit((unsigned char)*p); n++) {
               day = day * 10 + (*p++ - '0');
            }
            if (*p == 'T') {
               p++;
            }
            continue;
         }
         if (digits == 4) {
            year = value;
            continue;
         }
         if (digits <= 2) {
            if ((strncasecmp(p, "st", 2) == 0 || strncasecmp(p, "nd", 2) == 0 || strncasecmp(p, "rd", 2) == 0 ||
                 strncasecmp(p, "th", 2) == 0) &&
                !isalpha((unsigned char)p[2])) {
               day = value;
               p += 2;
               continue;
            }
            if ((strncasecmp(p, "am", 2) == 0 || strncasecmp(p, "pm", 2) == 0) && !isalpha((unsigned char)p[2])) {
               hour = value;
               am = tolower((unsigned char)p[0]) == 'a';
               pm = !am;
               p += 2;
               continue;
            }
            if (day == 0) {
               day = value;
               continue;
            }
         }
      }
      snprintf(reason, reason_size, "Unexpected data found.");
      return false;
   }
   if (year < 0 || month == 0 || day == 0) {
      snprintf(reason, reason_size, "an incomplete date/time string has been found, with elements missing");
      return false;
   }
   if (!valid_date(year, month, day)) {
      snprintf(reason, reason_size, "The parsed date was invalid");
      return false;
   }
   if (pm || am) {
      if (hour < 1 || hour > 12) {
         snprintf(reason, reason_size, "Unexpected data found.");
         return false;
      }
      hour = pm ? (hour % 12) + 12 : hour % 12;
   }
   if (hour > 23 || minute > 59 || second > 60) {
      snprintf(reason, reason_size, "The parsed time was invalid");
      return false;
   }
   int64_t days = expr_days_from_civil(year, (unsigned)month, (unsigned)day);
   *ms = days * 86400000 + (int64_t)hour * 3600000 + (int64_t)minute * 60000 + (int64_t)second * 1000 + millis -
         (int64_t)offset * 60000;
   return true;
}

/* ISO 8601 first, then the free-form words timelib also understands. */
static bool parse_any_date(const char *s, int64_t *ms, bool *has_offset, char *reason, size_t reason_size)
{
   if (parse_iso(s, ms, has_offset, reason, reason_size)) {
      return true;
   }
   char iso_reason[128];
   snprintf(iso_reason, sizeof iso_reason, "%s", reason);
   if (parse_words(s, ms, has_offset, reason, reason_size)) {
      return true;
   }
   snprintf(reason, reason_size, "%s", iso_reason);
   return false;
}

bool expr_parse_date_string(const char *string, int64_t *ms, char *reason, size_t reason_size)
{
   bool has_offset;
   return parse_any_date(string, ms, &has_offset, reason, reason_size);
}

/* ---- $year, $month, $dayOfMonth ----------------------------------------------------------------- */

enum { DATE_PART_YEAR, DATE_PART_MONTH, DATE_PART_DAY };

/* args: 0 date, 1 timezone (optional). */
static bool eval_date_part(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t date, tz = {.value_type = BSON_TYPE_EOD};
   expr_set_missing(out);
   if (!expr_eval(node->args[0], state, &date, error)) {
      return false;
   }
   if (node->args[1] && !expr_eval(node->args[1], state, &tz, error)) {
      bson_value_destroy(&date);
      return false;
   }
   bool ok = true;
   if (expr_value_is_nullish(&date) || (node->args[1] && expr_value_is_nullish(&tz))) {
      expr_set_null(out);
      goto done;
   }
   expr_tz_t zone = {0, NULL};
   int64_t ms;
   if ((node->args[1] && !parse_timezone(&tz, &zone, error)) || !expr_coerce_to_date(&date, &ms, error)) {
      ok = false;
      goto done;
   }
   broken_time_t t;
   break_time(ms + (int64_t)expr_timezone_offset_at(&zone, ms) * 60000, &t);
   expr_set_int32(out, node->option == DATE_PART_YEAR    ? (int32_t)t.year
                       : node->option == DATE_PART_MONTH ? (int32_t)t.month
                                                         : (int32_t)t.day);
done:
   bson_value_destroy(&date);
   bson_value_destroy(&tz);
   return ok;
}

static bool parse_date_part(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                            duet_error_t *error)
{
   duet_expr_t *node = expr_node_new(eval_date_part, name, 2);
   node->option = strcmp(name, "$year") == 0    ? DATE_PART_YEAR
                  : strcmp(name, "$month") == 0 ? DATE_PART_MONTH
                                                : DATE_PART_DAY;
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   bson_iter_t iter;
   if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_iter_recurse(arg, &iter);
      bool is_options = bson_iter_next(&iter) && bson_iter_key(&iter)[0] != '$';
      if (is_options) {
         bson_iter_recurse(arg, &iter);
         while (bson_iter_next(&iter)) {
            const char *key = bson_iter_key(&iter);
            int index = strcmp(key, "date") == 0 ? 0 : strcmp(key, "timezone") == 0 ? 1 : -1;
            if (index < 0) {
               duet_error_set(error, 40535, "unrecognized option to %s: \"%s\"", name, key);
               goto fail;
            }
            if (!expr_parse_iter(&iter, ctx, &node->args[index], error)) {
               goto fail;
            }
         }
         if (!node->args[0]) {
            char *text = duet_expr_value_to_string(value);
            duet_error_set(error, 40539, "missing 'date' argument to %s, provided: %s", name, text);
            bson_free(text);
            goto fail;
         }
         *out = node;
         return true;
      }
   }
   if (value->value_type == BSON_TYPE_ARRAY) {
      uint32_t n = expr_array_length(value);
      if (n != 1) {
         duet_error_set(error, 40536, "%s accepts exactly one argument if given an array, but was given %u", name, n);
         goto fail;
      }
      bson_iter_recurse(arg, &iter);
      bson_iter_next(&iter);
      if (!expr_parse_iter(&iter, ctx, &node->args[0], error)) {
         goto fail;
      }
   } else if (!expr_parse_iter(arg, ctx, &node->args[0], error)) {
      goto fail;
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

/* ---- $dateToString ---------------------------------------------------------------------------- */

static bool validate_format(const char *format, duet_error_t *error)
{
   for (const char *p = format; *p; p++) {
      if (*p != '%') {
         continue;
      }
      p++;
      if (*p == '\0') {
         duet_error_set(error, 18535, "Unmatched '%%' at end of format string");
         return false;
      }
      if (!strchr("dGHjLmMSwuUVYzZbB%", *p)) {
         duet_error_set(error, 18536, "Invalid format character '%%%c' in format string", *p);
         return false;
      }
   }
   return true;
}

/* ISO 8601 week-numbering year and week of a broken-down time. */
static void iso_week(const broken_time_t *t, int64_t *iso_year, unsigned *week)
{
   unsigned iso_dow = t->day_of_week == 1 ? 7 : t->day_of_week - 1; /* Monday = 1 */
   int64_t thursday = t->days - iso_dow + 4;
   int64_t y;
   unsigned m, d;
   expr_civil_from_days(thursday, &y, &m, &d);
   *iso_year = y;
   *week = (unsigned)((thursday - expr_days_from_civil(y, 1, 1)) / 7) + 1;
}

static void format_date(const char *format, int64_t ms, int offset, bson_string_t *s)
{
   broken_time_t t;
   break_time(ms + (int64_t)offset * 60000, &t);
   for (const char *p = format; *p; p++) {
      if (*p != '%') {
         bson_string_append_c(s, *p);
         continue;
      }
      p++;
      int64_t iso_year;
      unsigned week;
      switch (*p) {
      case 'd': bson_string_append_printf(s, "%02u", t.day); break;
      case 'H': bson_string_append_printf(s, "%02u", t.hour); break;
      case 'j': bson_string_append_printf(s, "%03u", t.day_of_year); break;
      case 'L': bson_string_append_printf(s, "%03u", t.millisecond); break;
      case 'm': bson_string_append_printf(s, "%02u", t.month); break;
      case 'M': bson_string_append_printf(s, "%02u", t.minute); break;
      case 'S': bson_string_append_printf(s, "%02u", t.second); break;
      case 'w': bson_string_append_printf(s, "%u", t.day_of_week); break;
      case 'u': bson_string_append_printf(s, "%u", t.day_of_week == 1 ? 7 : t.day_of_week - 1); break;
      case 'U': {
         /* week of year, weeks starting on Sunday, days before the first Sunday in week 0 */
         bson_string_append_printf(s, "%02u", (t.day_of_year + 7 - t.day_of_week) / 7);
         break;
      }
      case 'V':
         iso_week(&t, &iso_year, &week);
         bson_string_append_printf(s, "%02u", week);
         break;
      case 'G':
         iso_week(&t, &iso_year, &week);
         bson_string_append_printf(s, "%04lld", (long long)iso_year);
         break;
      case 'Y': bson_string_append_printf(s, "%04lld", (long long)t.year); break;
      case 'z':
         bson_string_append_printf(s, "%c%02d%02d", offset < 0 ? '-' : '+', abs(offset) / 60, abs(offset) % 60);
         break;
      case 'Z': bson_string_append_printf(s, "%+d", offset); break;
      case 'b': bson_string_append_printf(s, "%.3s", month_names[t.month - 1]); break;
      case 'B': bson_string_append(s, month_names[t.month - 1]); break;
      case '%': bson_string_append_c(s, '%'); break;
      default: break;
      }
   }
}

enum { D2S_DATE, D2S_FORMAT, D2S_TIMEZONE, D2S_ON_NULL, D2S_COUNT };

static bool eval_date_to_string(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t values[D2S_COUNT];
   for (int i = 0; i < D2S_COUNT; i++) {
      values[i].value_type = BSON_TYPE_EOD;
   }
   bool ok = false;
   expr_set_missing(out);
   for (int i = 0; i < D2S_ON_NULL; i++) {
      if (!expr_eval(node->args[i], state, &values[i], error)) {
         goto done;
      }
   }
   if (node->args[D2S_FORMAT]) {
      if (expr_value_is_nullish(&values[D2S_FORMAT])) {
         expr_set_null(out);
         ok = true;
         goto done;
      }
      if (values[D2S_FORMAT].value_type != BSON_TYPE_UTF8) {
         char *text = duet_expr_value_to_string(&values[D2S_FORMAT]);
         duet_error_set(error, 18533, "$dateToString requires that 'format' be a string, found: %s with value %s",
                        duet_type_name(values[D2S_FORMAT].value_type), text);
         bson_free(text);
         goto done;
      }
      if (!validate_format(values[D2S_FORMAT].value.v_utf8.str, error)) {
         goto done;
      }
   }
   expr_tz_t zone = {0, NULL};
   if (node->args[D2S_TIMEZONE]) {
      if (expr_value_is_nullish(&values[D2S_TIMEZONE])) {
         expr_set_null(out);
         ok = true;
         goto done;
      }
      if (!parse_timezone(&values[D2S_TIMEZONE], &zone, error)) {
         goto done;
      }
   }
   if (expr_value_is_nullish(&values[D2S_DATE])) {
      if (node->args[D2S_ON_NULL]) {
         ok = expr_eval(node->args[D2S_ON_NULL], state, out, error);
      } else {
         expr_set_null(out);
         ok = true;
      }
      goto done;
   }
   int64_t ms;
   if (!expr_coerce_to_date(&values[D2S_DATE], &ms, error)) {
      goto done;
   }
   int offset = expr_timezone_offset_at(&zone, ms);
   if (!expr_check_date_range(ms + (int64_t)offset * 60000, error)) {
      goto done;
   }
   const char *format = node->args[D2S_FORMAT]     ? values[D2S_FORMAT].value.v_utf8.str
                        : node->args[D2S_TIMEZONE] ? "%Y-%m-%dT%H:%M:%S.%L"
                                                   : "%Y-%m-%dT%H:%M:%S.%LZ";
   bson_string_t *s = bson_string_new(NULL);
   format_date(format, ms, offset, s);
   uint32_t length = s->len;
   expr_set_string_owned(out, bson_string_free(s, false), length);
   ok = true;
done:
   for (int i = 0; i < D2S_COUNT; i++) {
      bson_value_destroy(&values[i]);
   }
   return ok;
}

/* Parses `{name: ..., ...}` named arguments into node->args by position in `names`. */
static bool parse_named(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, const char *const *names,
                        int count, duet_expr_t *node, int not_object_code, int unknown_code, duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      if (not_object_code == 18629) {
         duet_error_set(error, 18629, "%s only supports an object as its argument", name);
      } else {
         duet_error_set(error, not_object_code, "%s only supports an object as an argument, found: %s", name,
                        duet_type_name(value->value_type));
      }
      return false;
   }
   bson_iter_t iter;
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      int index = -1;
      for (int i = 0; i < count; i++) {
         if (strcmp(names[i], key) == 0) {
            index = i;
         }
      }
      if (index < 0) {
         duet_error_set(error, unknown_code, "Unrecognized argument to %s: %s", name, key);
         return false;
      }
      duet_expr_destroy(node->args[index]);
      node->args[index] = NULL;
      if (!expr_parse_iter(&iter, ctx, &node->args[index], error)) {
         return false;
      }
   }
   return true;
}

static bool parse_date_to_string(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                                 duet_error_t *error)
{
   static const char *const names[] = {"date", "format", "timezone", "onNull"};
   duet_expr_t *node = expr_node_new(eval_date_to_string, name, D2S_COUNT);
   if (!parse_named(name, arg, ctx, names, D2S_COUNT, node, 18629, 18534, error)) {
      goto fail;
   }
   if (!node->args[D2S_DATE]) {
      duet_error_set(error, 18628, "Missing 'date' parameter to $dateToString");
      goto fail;
   }
   if (node->args[D2S_FORMAT] && duet_expr_is_constant(node->args[D2S_FORMAT])) {
      const bson_value_t *format = &node->args[D2S_FORMAT]->constant;
      if (format->value_type == BSON_TYPE_UTF8 && !validate_format(format->value.v_utf8.str, error)) {
         goto fail;
      }
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

/* ---- $dateFromString ---------------------------------------------------------------------------- */

enum { DFS_STRING, DFS_FORMAT, DFS_TIMEZONE, DFS_ON_ERROR, DFS_ON_NULL, DFS_COUNT };

/* Parses `s` against a strftime-like `format` (%Y %m %d %H %M %S %L %z %Z %j %%). */
static bool parse_with_format(const char *s, const char *format, int64_t *ms, bool *has_offset, char *reason,
                              size_t reason_size)
{
   int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0, offset = 0, yday = 0;
   const char *p = s;
   *has_offset = false;
   for (const char *f = format; *f; f++) {
      if (*f != '%') {
         if (*p != *f) {
            snprintf(reason, reason_size, "Format literal not found");
            return false;
         }
         p++;
         continue;
      }
      f++;
      int width = 2;
      int *target = NULL;
      switch (*f) {
      case 'Y':
         width = 4;
         target = &year;
         break;
      case 'm': target = &month; break;
      case 'd': target = &day; break;
      case 'H': target = &hour; break;
      case 'M': target = &minute; break;
      case 'S': target = &second; break;
      case 'j':
         width = 3;
         target = &yday;
         break;
      case 'L': {
         int digits = 0, value = 0;
         while (isdigit((unsigned char)*p) && digits < 9) {
            if (digits < 3) {
               value = value * 10 + (*p - '0');
            }
            digits++;
            p++;
         }
         if (digits == 0) {
            snprintf(reason, reason_size, "Unexpected data found.");
            return false;
         }
         for (int i = digits; i < 3; i++) {
            value *= 10;
         }
         millis = value;
         continue;
      }
      case 'z':
      case 'Z': {
         if (*p == 'Z') {
            p++;
            *has_offset = true;
            continue;
         }
         size_t n = parse_offset(p, &offset);
         if (n == 0) {
            snprintf(reason, reason_size, "Unexpected data found.");
            return false;
         }
         *has_offset = true;
         p += n;
         continue;
      }
      case '%':
         if (*p++ != '%') {
            snprintf(reason, reason_size, "Format literal not found");
            return false;
         }
         continue;
      default: snprintf(reason, reason_size, "Invalid format character"); return false;
      }
      int value = 0, digits = 0;
      while (digits < width && isdigit((unsigned char)*p)) {
         value = value * 10 + (*p++ - '0');
         digits++;
      }
      if (digits == 0) {
         snprintf(reason, reason_size, "Unexpected data found.");
         return false;
      }
      *target = value;
   }
   if (*p != '\0') {
      snprintf(reason, reason_size, "Trailing data");
      return false;
   }
   int64_t days;
   if (yday > 0) {
      days = expr_days_from_civil(year, 1, 1) + yday - 1;
   } else {
      if (!valid_date(year, month, day)) {
         snprintf(reason, reason_size, "The parsed date was invalid");
         return false;
      }
      days = expr_days_from_civil(year, (unsigned)month, (unsigned)day);
   }
   if (hour > 23 || minute > 59 || second > 59) {
      snprintf(reason, reason_size, "The parsed time was invalid");
      return false;
   }
   *ms = days * 86400000 + (int64_t)hour * 3600000 + (int64_t)minute * 60000 + (int64_t)second * 1000 + millis -
         (int64_t)offset * 60000;
   return true;
}

static bool eval_date_from_string(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t values[DFS_ON_ERROR];
   for (int i = 0; i < DFS_ON_ERROR; i++) {
      values[i].value_type = BSON_TYPE_EOD;
   }
   bool ok = false;
   expr_set_missing(out);
   for (int i = 0; i < DFS_ON_ERROR; i++) {
      if (!expr_eval(node->args[i], state, &values[i], error)) {
         goto done;
      }
   }
   expr_tz_t zone = {0, NULL};
   if (node->args[DFS_TIMEZONE]) {
      if (expr_value_is_nullish(&values[DFS_TIMEZONE])) {
         expr_set_null(out);
         ok = true;
         goto done;
      }
      if (!parse_timezone(&values[DFS_TIMEZONE], &zone, error)) {
         goto done;
      }
   }
   if (node->args[DFS_FORMAT]) {
      if (expr_value_is_nullish(&values[DFS_FORMAT])) {
         expr_set_null(out);
         ok = true;
         goto done;
      }
      if (values[DFS_FORMAT].value_type != BSON_TYPE_UTF8) {
         char *text = duet_expr_value_to_string(&values[DFS_FORMAT]);
         duet_error_set(error, 40684, "$dateFromString requires that 'format' be a string, found: %s with value %s",
                        duet_type_name(values[DFS_FORMAT].value_type), text);
         bson_free(text);
         goto done;
      }
      if (!validate_format(values[DFS_FORMAT].value.v_utf8.str, error)) {
         goto done;
      }
   }
   const bson_value_t *input = &values[DFS_STRING];
   if (expr_value_is_nullish(input)) {
      if (node->args[DFS_ON_NULL]) {
         ok = expr_eval(node->args[DFS_ON_NULL], state, out, error);
      } else {
         expr_set_null(out);
         ok = true;
      }
      goto done;
   }
   int64_t ms = 0;
   bool has_offset = false;
   char reason[128];
   if (input->value_type != BSON_TYPE_UTF8) {
      char *text = duet_expr_value_to_string(input);
      duet_error_set(error, DUET_ERR_CONVERSION_FAILURE,
                     "$dateFromString requires that 'dateString' be a string, found: %s with value %s",
                     duet_type_name(input->value_type), text);
      bson_free(text);
   } else {
      bool parsed = node->args[DFS_FORMAT]
                        ? parse_with_format(input->value.v_utf8.str, values[DFS_FORMAT].value.v_utf8.str, &ms,
                                            &has_offset, reason, sizeof reason)
                        : parse_any_date(input->value.v_utf8.str, &ms, &has_offset, reason, sizeof reason);
      if (parsed) {
         if (has_offset && node->args[DFS_TIMEZONE]) {
            duet_error_set(error, DUET_ERR_CONVERSION_FAILURE,
                           "you cannot pass in a date/time string with GMT offset together with a timezone argument");
         } else {
            if (!has_offset) {
               ms = expr_timezone_local_to_utc(&zone, ms);
            }
            expr_set_date(out, ms);
            ok = true;
            goto done;
         }
      } else {
         duet_error_set(error, DUET_ERR_CONVERSION_FAILURE, "Error parsing date string '%s'; %s",
                        input->value.v_utf8.str, reason);
      }
   }
   if (node->args[DFS_ON_ERROR]) {
      duet_error_clear(error);
      ok = expr_eval(node->args[DFS_ON_ERROR], state, out, error);
   }
done:
   for (int i = 0; i < DFS_ON_ERROR; i++) {
      bson_value_destroy(&values[i]);
   }
   return ok;
}

static bool parse_date_from_string(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                                   duet_error_t *error)
{
   static const char *const names[] = {"dateString", "format", "timezone", "onError", "onNull"};
   duet_expr_t *node = expr_node_new(eval_date_from_string, name, DFS_COUNT);
   if (!parse_named(name, arg, ctx, names, DFS_COUNT, node, 40540, 40541, error)) {
      goto fail;
   }
   if (!node->args[DFS_STRING]) {
      duet_error_set(error, 40542, "Missing 'dateString' parameter to $dateFromString");
      goto fail;
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

const expr_operator_t expr_operators_date[] = {
    {"$year", NULL, 0, 0, parse_date_part, 0},
    {"$month", NULL, 0, 0, parse_date_part, 0},
    {"$dayOfMonth", NULL, 0, 0, parse_date_part, 0},
    {"$dateToString", NULL, 0, 0, parse_date_to_string, 0},
    {"$dateFromString", NULL, 0, 0, parse_date_from_string, 0},
    {NULL, NULL, 0, 0, NULL, 0},
};
