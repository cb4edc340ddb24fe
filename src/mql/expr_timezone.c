/*
 * expr_timezone.c — time zones of the date expressions: "UTC"/"GMT"/"Z", fixed offsets
 * ("+05:30", "-0800", "+03") and Olson names ("America/New_York") read from the system's
 * compiled tz database (TZif files under $TZDIR or /usr/share/zoneinfo), including the POSIX
 * rule in the file's footer for instants after its last transition.  An unknown name fails
 * with 40485 as MongoDB's TimeZoneDatabase does.
 *
 * Loaded zones are cached for the life of the process (immutable once loaded; the cache is
 * guarded by a mutex), so evaluation never re-reads a file.
 */
#include "mql/expr_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tz_rule_date {
   int month, week, weekday; /* Mm.w.d */
   int32_t seconds;          /* local time of day of the change */
} tz_rule_date_t;

typedef struct tz_zone {
   char *name;
   int64_t *transitions; /* UTC seconds, ascending */
   int32_t *offsets;     /* UTC offset (seconds, east positive) in effect from transitions[i] */
   size_t count;
   int32_t initial_offset; /* before the first transition */
   bool has_rule;          /* footer rule for instants after the last transition */
   int32_t std_offset, dst_offset;
   bool has_dst;
   tz_rule_date_t start, end;
} tz_zone_t;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static tz_zone_t **cache;
static size_t cache_count;

/* ---- TZif parsing -------------------------------------------------------------------------- */

static uint32_t read_be32(const uint8_t *p)
{
   return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t read_be64(const uint8_t *p)
{
   return (int64_t)((uint64_t)read_be32(p) << 32 | read_be32(p + 4));
}

/* POSIX offset "[+-]hh[:mm[:ss]]" (positive west); returns chars used or 0. */
static size_t posix_offset(const char *s, int32_t *seconds)
{
   size_t i = 0;
   int sign = 1;
   if (s[i] == '+' || s[i] == '-') {
      sign = s[i] == '-' ? -1 : 1;
      i++;
   }
   if (!isdigit((unsigned char)s[i])) {
      return 0;
   }
   int32_t parts[3] = {0, 0, 0};
   for (int k = 0; k < 3; k++) {
      int value = 0, digits = 0;
      while (isdigit((unsigned char)s[i]) && digits < 3) {
         value = value * 10 + (s[i++] - '0');
         digits++;
      }
      parts[k] = value;
      if (s[i] != ':' || k == 2) {
         break;
      }
      i++;
   }
   *seconds = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
   return i;
}

static size_t posix_name(const char *s)
{
   size_t i = 0;
   if (s[0] == '<') {
      while (s[i] && s[i] != '>') {
         i++;
      }
      return s[i] == '>' ? i + 1 : 0;
   }
   while (isalpha((unsigned char)s[i])) {
      i++;
   }
   return i >= 3 ? i : 0;
}

static bool posix_date(const char *s, size_t *used, tz_rule_date_t *date)
{
   int m, w, d, n = 0;
   if (sscanf(s, "M%d.%d.%d%n", &m, &w, &d, &n) != 3 || m < 1 || m > 12 || w < 1 || w > 5 || d < 0 || d > 6) {
      return false; /* Jn and n forms are not used by current tzdata footers */
   }
   date->month = m;
   date->week = w;
   date->weekday = d;
   date->seconds = 7200;
   size_t i = (size_t)n;
   if (s[i] == '/') {
      size_t k = posix_offset(s + i + 1, &date->seconds);
      if (k == 0) {
         return false;
      }
      i += 1 + k;
   }
   *used = i;
   return true;
}

/* Parses a footer like "EST5EDT,M3.2.0,M11.1.0" or "<+0530>-5:30". */
static void parse_rule(tz_zone_t *zone, const char *s)
{
   size_t i = posix_name(s);
   int32_t posix;
   size_t k;
   if (i == 0 || (k = posix_offset(s + i, &posix)) == 0) {
      return;
   }
   i += k;
   zone->std_offset = -posix;
   zone->dst_offset = zone->std_offset + 3600;
   zone->has_rule = true;
   if (s[i] == '\0') {
      return;
   }
   k = posix_name(s + i);
   if (k == 0) {
      zone->has_rule = false;
      return;
   }
   i += k;
   if (s[i] != ',') {
      k = posix_offset(s + i, &posix);
      if (k == 0) {
         zone->has_rule = false;
         return;
      }
      zone->dst_offset = -posix;
      i += k;
   }
   if (s[i] != ',' || !posix_date(s + i + 1, &k, &zone->start)) {
      zone->has_rule = false;
      return;
   }
   i += 1 + k;
   if (s[i] != ',' || !posix_date(s + i + 1, &k, &zone->end)) {
      zone->has_rule = false;
      return;
   }
   zone->has_dst = true;
}

static tz_zone_t *load_zone(const char *name)
{
   const char *directory = getenv("TZDIR");
   char path[512];
   snprintf(path, sizeof path, "%s/%s", directory && *directory ? directory : "/usr/share/zoneinfo", name);
   FILE *file = fopen(path, "rb");
   if (!file) {
      return NULL;
   }
   uint8_t *data = NULL;
   size_t length = 0, capacity = 0;
   for (;;) {
      if (length == capacity) {
         capacity = capacity ? capacity * 2 : 8192;
         if (capacity > (1u << 22)) {
            break;
         }
         data = bson_realloc(data, capacity);
      }
      size_t n = fread(data + length, 1, capacity - length, file);
      if (n == 0) {
         break;
      }
      length += n;
   }
   fclose(file);
   tz_zone_t *zone = NULL;
   if (length < 44 || memcmp(data, "TZif", 4) != 0) {
      goto done;
   }
   /* header: magic(4) version(1) reserved(15) isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
   const uint8_t *p = data;
   int version = p[4];
   size_t time_size = 4;
   if (version >= '2') {
      /* skip the v1 block and read the 64-bit one */
      uint32_t isut = read_be32(p + 20), isstd = read_be32(p + 24), leap = read_be32(p + 28),
               timecnt = read_be32(p + 32), typecnt = read_be32(p + 36), charcnt = read_be32(p + 40);
      size_t v1 = 44 + (size_t)timecnt * 5 + (size_t)typecnt * 6 + charcnt + (size_t)leap * 8 + isstd + isut;
      if (v1 + 44 > length || memcmp(p + v1, "TZif", 4) != 0) {
         goto done;
      }
      p += v1;
      time_size = 8;
   }
   uint32_t isut = read_be32(p + 20), isstd = read_be32(p + 24), leap = read_be32(p + 28), timecnt = read_be32(p + 32),
            typecnt = read_be32(p + 36), charcnt = read_be32(p + 40);
   size_t block = (size_t)timecnt * (time_size + 1) + (size_t)typecnt * 6 + charcnt + (size_t)leap * (time_size + 4) +
                  isstd + isut;
   if (typecnt == 0 || (size_t)(p - data) + 44 + block > length) {
      goto done;
   }
   const uint8_t *times = p + 44;
   const uint8_t *indices = times + (size_t)timecnt * time_size;
   const uint8_t *types = indices + timecnt;
   zone = bson_malloc0(sizeof *zone);
   zone->name = bson_strdup(name);
   zone->count = timecnt;
   zone->transitions = bson_malloc0((timecnt ? timecnt : 1) * sizeof *zone->transitions);
   zone->offsets = bson_malloc0((timecnt ? timecnt : 1) * sizeof *zone->offsets);
   for (uint32_t i = 0; i < timecnt; i++) {
      zone->transitions[i] = time_size == 8 ? read_be64(times + 8 * i) : (int32_t)read_be32(times + 4 * i);
      uint8_t type = indices[i] < typecnt ? indices[i] : 0;
      zone->offsets[i] = (int32_t)read_be32(types + 6 * type);
   }
   /* before the first transition: the first standard-time type (RFC 8536 §3.2), else type 0 */
   zone->initial_offset = (int32_t)read_be32(types);
   for (uint32_t t = 0; t < typecnt; t++) {
      if (types[6 * t + 4] == 0) {
         zone->initial_offset = (int32_t)read_be32(types + 6 * t);
         break;
      }
   }
   if (time_size == 8) {
      const uint8_t *footer = p + 44 + block;
      const uint8_t *end = data + length;
      if (footer < end && *footer == '\n') {
         const uint8_t *close = memchr(footer + 1, '\n', (size_t)(end - footer - 1));
         if (close) {
            char *rule = bson_strndup((const char *)footer + 1, (size_t)(close - footer - 1));
            parse_rule(zone, rule);
            bson_free(rule);
         }
      }
   }
done:
   bson_free(data);
   return zone;
}

static const tz_zone_t *find_zone(const char *name)
{
   /* names are paths inside the database: no absolute paths, no "..", tz characters only */
   if (name[0] == '/' || strstr(name, "..") || strlen(name) > 200) {
      return NULL;
   }
   for (const char *c = name; *c; c++) {
      if (!(isalnum((unsigned char)*c) || *c == '/' || *c == '_' || *c == '-' || *c == '+')) {
         return NULL;
      }
   }
   pthread_mutex_lock(&cache_lock);
   const tz_zone_t *found = NULL;
   for (size_t i = 0; i < cache_count && !found; i++) {
      if (strcmp(cache[i]->name, name) == 0) {
         found = cache[i];
      }
   }
   if (!found) {
      tz_zone_t *zone = load_zone(name);
      if (zone) {
         cache = bson_realloc(cache, (cache_count + 1) * sizeof *cache);
         cache[cache_count++] = zone;
         found = zone;
      }
   }
   pthread_mutex_unlock(&cache_lock);
   return found;
}

/* ---- offsets --------------------------------------------------------------------------------- */

/* Seconds since the epoch of local midnight starting the rule's day in `year`. */
static int64_t rule_day(int64_t year, const tz_rule_date_t *rule)
{
   static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
   int64_t first = expr_days_from_civil(year, (unsigned)rule->month, 1);
   int first_weekday = (int)(((first + 4) % 7 + 7) % 7); /* 0 = Sunday */
   int day = 1 + (rule->weekday - first_weekday + 7) % 7 + (rule->week - 1) * 7;
   int length = month_days[rule->month - 1];
   if (rule->month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) {
      length = 29;
   }
   while (day > length) {
      day -= 7;
   }
   return (first + day - 1) * 86400;
}

static int32_t rule_offset(const tz_zone_t *zone, int64_t utc)
{
   if (!zone->has_dst) {
      return zone->std_offset;
   }
   int64_t days = utc / 86400 - (utc % 86400 < 0);
   int64_t year;
   unsigned month, day;
   expr_civil_from_days(days, &year, &month, &day);
   /* the start is given in standard local time, the end in daylight local time */
   int64_t start = rule_day(year, &zone->start) + zone->start.seconds - zone->std_offset;
   int64_t end = rule_day(year, &zone->end) + zone->end.seconds - zone->dst_offset;
   bool dst = start < end ? (utc >= start && utc < end) : (utc >= start || utc < end);
   return dst ? zone->dst_offset : zone->std_offset;
}

static int32_t zone_offset(const tz_zone_t *zone, int64_t utc)
{
   if (zone->count == 0 || utc < zone->transitions[0]) {
      return zone->count == 0 && zone->has_rule ? rule_offset(zone, utc) : zone->initial_offset;
   }
   if (utc >= zone->transitions[zone->count - 1] && zone->has_rule) {
      return rule_offset(zone, utc);
   }
   size_t lo = 0, hi = zone->count; /* last transition <= utc */
   while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (zone->transitions[mid] <= utc) {
         lo = mid;
      } else {
         hi = mid;
      }
   }
   return zone->offsets[lo];
}

/* Parses "+hh", "+hhmm", "+hh:mm" (sign required); minutes east or false. */
static bool fixed_offset(const char *s, int *minutes)
{
   if (s[0] != '+' && s[0] != '-') {
      return false;
   }
   int sign = s[0] == '-' ? -1 : 1;
   int digits[4], n = 0;
   for (const char *p = s + 1; *p; p++) {
      if (*p == ':' && n == 2) {
         continue;
      }
      if (!isdigit((unsigned char)*p) || n == 4) {
         return false;
      }
      digits[n++] = *p - '0';
   }
   if (n != 2 && n != 4) {
      return false;
   }
   int hours = digits[0] * 10 + digits[1];
   int mins = n == 4 ? digits[2] * 10 + digits[3] : 0;
   *minutes = sign * (hours * 60 + mins);
   return true;
}

bool expr_timezone_parse(const char *name, expr_tz_t *tz, duet_error_t *error)
{
   tz->fixed_minutes = 0;
   tz->zone = NULL;
   if (strcmp(name, "UTC") == 0 || strcmp(name, "GMT") == 0 || strcmp(name, "Z") == 0) {
      return true;
   }
   if (fixed_offset(name, &tz->fixed_minutes)) {
      return true;
   }
   tz->zone = find_zone(name);
   if (tz->zone) {
      return true;
   }
   duet_error_set(error, 40485, "unrecognized time zone identifier: \"%s\"", name);
   return false;
}

int expr_timezone_offset_at(const expr_tz_t *tz, int64_t utc_ms)
{
   if (!tz->zone) {
      return tz->fixed_minutes;
   }
   int64_t seconds = utc_ms / 1000 - (utc_ms % 1000 < 0);
   return (int)(zone_offset(tz->zone, seconds) / 60);
}

int64_t expr_timezone_local_to_utc(const expr_tz_t *tz, int64_t local_ms)
{
   /* the offset in effect at the resulting instant; a second pass settles DST edges */
   int offset = expr_timezone_offset_at(tz, local_ms);
   int second = expr_timezone_offset_at(tz, local_ms - (int64_t)offset * 60000);
   return local_ms - (int64_t)second * 60000;
}
