/*
 * log.c — structured JSON log lines for duetd, with the in-memory ring that
 * getLog answers from.  See log.h.
 */
#include "server/log.h"

#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

bool duet_log_open(duet_log_t *log, const char *path, duet_log_level_t level, char *message, size_t message_size)
{
   memset(log, 0, sizeof *log);
   pthread_mutex_init(&log->lock, NULL);
   log->level = level;
   if (path) {
      log->file = fopen(path, "a");
      if (!log->file) {
         snprintf(message, message_size, "cannot open log file %s: %s", path, strerror(errno));
         pthread_mutex_destroy(&log->lock);
         return false;
      }
      setvbuf(log->file, NULL, _IOLBF, 0);
   } else {
      log->file = stderr;
   }
   return true;
}

void duet_log_close(duet_log_t *log)
{
   if (log->file && log->file != stderr) {
      fclose(log->file);
   }
   log->file = NULL;
   for (size_t i = 0; i < log->ring_count; i++) {
      bson_free(log->ring[(log->ring_start + i) % DUET_LOG_RING_SIZE]);
   }
   for (size_t i = 0; i < log->warning_count; i++) {
      bson_free(log->warnings[i]);
   }
   log->ring_count = 0;
   log->warning_count = 0;
   pthread_mutex_destroy(&log->lock);
}

bool duet_log_parse_level(const char *text, duet_log_level_t *level)
{
   static const char *names[] = {"error", "warning", "info", "debug"};
   for (int i = 0; i < 4; i++) {
      if (strcmp(text, names[i]) == 0 || (text[0] == (char)('0' + i) && text[1] == '\0')) {
         *level = (duet_log_level_t)i;
         return true;
      }
   }
   if (strcmp(text, "warn") == 0) {
      *level = DUET_LOG_WARNING;
      return true;
   }
   return false;
}

void duet_log_event(duet_log_t *log, duet_log_level_t level, const char *component, int32_t id, const char *ctx,
                    const char *msg, const bson_t *attr, unsigned flags)
{
   if (!log) {
      return;
   }
   bool startup_warning = (flags & DUET_LOG_STARTUP_WARNING) != 0;
   if (level > log->level && !(flags & (DUET_LOG_STARTUP_WARNING | DUET_LOG_ALWAYS))) {
      return;
   }
   struct timeval now;
   gettimeofday(&now, NULL);
   static const char severity[] = {'E', 'W', 'I', 'D'};
   char severity_text[2] = {severity[level], '\0'};

   bson_t event = BSON_INITIALIZER;
   bson_t t;
   struct tm utc;
   time_t seconds = now.tv_sec;
   gmtime_r(&seconds, &utc);
   char date[96]; /* room for any int the compiler assumes */
   snprintf(date, sizeof date, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
            utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, (int)(now.tv_usec / 1000));
   bson_append_document_begin(&event, "t", 1, &t);
   BSON_APPEND_UTF8(&t, "$date", date); /* as MongoDB writes it: {"t":{"$date":"2026-01-01T00:00:00.000Z"}} */
   bson_append_document_end(&event, &t);
   BSON_APPEND_UTF8(&event, "s", severity_text);
   BSON_APPEND_UTF8(&event, "c", component);
   BSON_APPEND_INT32(&event, "id", id);
   BSON_APPEND_UTF8(&event, "ctx", ctx);
   BSON_APPEND_UTF8(&event, "msg", msg);
   if (attr && !bson_empty(attr)) {
      BSON_APPEND_DOCUMENT(&event, "attr", attr);
   }
   char *line = bson_as_relaxed_extended_json(&event, NULL);
   bson_destroy(&event);

   pthread_mutex_lock(&log->lock);
   if (log->file) {
      fprintf(log->file, "%s\n", line);
      fflush(log->file);
   }
   log->total_lines++;
   if (log->ring_count == DUET_LOG_RING_SIZE) {
      bson_free(log->ring[log->ring_start]);
      log->ring_start = (log->ring_start + 1) % DUET_LOG_RING_SIZE;
      log->ring_count--;
   }
   log->ring[(log->ring_start + log->ring_count) % DUET_LOG_RING_SIZE] = bson_strdup(line);
   log->ring_count++;
   if (startup_warning && log->warning_count < sizeof log->warnings / sizeof log->warnings[0]) {
      log->warnings[log->warning_count++] = bson_strdup(line);
   }
   pthread_mutex_unlock(&log->lock);
   bson_free(line);
}

bool duet_log_copy(duet_log_t *log, const char *name, bson_t *array, int64_t *total_lines)
{
   bool global = strcmp(name, "global") == 0;
   if (!global && strcmp(name, "startupWarnings") != 0) {
      return false;
   }
   pthread_mutex_lock(&log->lock);
   size_t count = global ? log->ring_count : log->warning_count;
   for (size_t i = 0; i < count; i++) {
      const char *line = global ? log->ring[(log->ring_start + i) % DUET_LOG_RING_SIZE] : log->warnings[i];
      char key_buffer[16];
      const char *key;
      bson_uint32_to_string((uint32_t)i, &key, key_buffer, sizeof key_buffer);
      bson_append_utf8(array, key, -1, line, -1);
   }
   *total_lines = global ? log->total_lines : (int64_t)log->warning_count;
   pthread_mutex_unlock(&log->lock);
   return true;
}
