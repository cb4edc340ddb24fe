/*
 * log.h — duetd's log: one JSON line per event, in MongoDB's structured log
 * shape ({"t":{"$date":…},"s":"I","c":"NETWORK","id":…,"ctx":…,"msg":…,"attr":{…}}),
 * written to stderr or a file and kept in a bounded in-memory ring that the
 * getLog command reads.
 *
 * Thread-safety: every function may be called from any thread (one mutex).
 */
#ifndef DUET_SERVER_LOG_H
#define DUET_SERVER_LOG_H

#include <bson/bson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum duet_log_level {
   DUET_LOG_ERROR = 0,
   DUET_LOG_WARNING = 1,
   DUET_LOG_INFO = 2,
   DUET_LOG_DEBUG = 3,
} duet_log_level_t;

#define DUET_LOG_RING_SIZE 1024

typedef struct duet_log {
   pthread_mutex_t lock;
   FILE *file;                        /* owned unless it is stderr */
   duet_log_level_t level;            /* events above this level are dropped */
   char *ring[DUET_LOG_RING_SIZE];    /* owned lines, oldest at ring_start */
   size_t ring_start, ring_count;
   int64_t total_lines;               /* lines written since start */
   char *warnings[16];                /* owned startup warnings (getLog startupWarnings) */
   size_t warning_count;
} duet_log_t;

/* Opens `path` for appending (NULL: stderr). Fails with errno text in `message`. */
bool duet_log_open(duet_log_t *log, const char *path, duet_log_level_t level, char *message, size_t message_size);

void duet_log_close(duet_log_t *log);

/* Parses "error", "warning", "info", "debug" (or 0..3). */
bool duet_log_parse_level(const char *text, duet_log_level_t *level);

enum {
   DUET_LOG_STARTUP_WARNING = 1, /* also kept for getLog "startupWarnings"; written at any --log-level */
   DUET_LOG_ALWAYS = 2,          /* written at any --log-level (start and stop lines) */
};

/*
 * Writes one event.  `component` is MongoDB's component name ("NETWORK",
 * "COMMAND", "CONTROL"), `ctx` the thread context ("listener", "conn12"),
 * `attr` optional extra fields (borrowed), `flags` DUET_LOG_* above or 0.
 */
void duet_log_event(duet_log_t *log, duet_log_level_t level, const char *component, int32_t id, const char *ctx,
                    const char *msg, const bson_t *attr, unsigned flags);

/* Appends the lines of log `name` ("global", "startupWarnings") to `array`. False if no such log. */
bool duet_log_copy(duet_log_t *log, const char *name, bson_t *array, int64_t *total_lines);

#endif /* DUET_SERVER_LOG_H */
