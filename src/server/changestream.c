/*
 * changestream.c — change streams: an aggregate whose first stage is
 * $changeStream opens a tailable awaitData cursor over the store's change log.
 *
 * Scope: a collection (aggregate: "c"), a database (aggregate: 1), or the whole
 * deployment (aggregate: 1 on admin with allChangesForCluster: true).  Events of
 * the internal databases (admin, config, local) and of system.* collections are
 * never shown.  A collection stream ends with an invalidate after the drop or
 * rename of its collection (or a rename onto it), a database stream after
 * dropDatabase; the cursor closes with the invalidate.
 *
 * Resume tokens are {_data: "<16 hex digits: cluster time><2 hex digits: kind>"},
 * kind 00 an event, 01 an invalidate, 02 a high-water mark (postBatchResumeToken
 * past the last returned event).  They name a position in the durable change
 * log, so they survive a duetd restart.  Resuming after an event token requires
 * that event to be in the log still: 286 ChangeStreamHistoryLost when retention
 * dropped it, 280 ChangeStreamFatalError when the log never held it.
 *
 * showExpandedEvents: true adds MongoDB's DDL events (create, createIndexes,
 * dropIndexes, modify), collectionUUID on every event, operationDescription,
 * stateBeforeChange and updateDescription.disambiguatedPaths.  The log is always
 * read with them (duet_store_changelog_read_expanded), so positions and resume
 * tokens are the same for both kinds of stream; other streams skip and strip them.
 *
 * Waiting: a getMore that finds no event blocks in duet_store_changelog_wait
 * (store_notify.c), which every commit wakes, until its maxTimeMS (1 s by
 * default) — no polling delay between a write and its event.
 */
#include "server/changestream.h"

#include <duet/mql_pipeline.h>

#include <stdio.h>
#include <string.h>

#define CHANGESTREAM_READ_LIMIT 256
#define CHANGESTREAM_STOP_CHECK_US (200 * 1000) /* a waiting getMore notices shutdown this fast */

typedef enum { SCOPE_COLLECTION, SCOPE_DATABASE, SCOPE_CLUSTER } changestream_scope_t;
typedef enum { FULL_DEFAULT, FULL_UPDATE_LOOKUP, FULL_WHEN_AVAILABLE, FULL_REQUIRED } changestream_full_t;
typedef enum { BEFORE_OFF, BEFORE_WHEN_AVAILABLE, BEFORE_REQUIRED } changestream_before_t;

typedef struct changestream_item {
   bson_t *event; /* owned */
   duet_store_ts_t ts;
   duet_changestream_token_kind_t kind;
} changestream_item_t;

typedef struct changestream {
   duet_server_t *server;   /* borrowed */
   duet_session_t *session; /* owned (from the server's pool) */
   changestream_scope_t scope;
   char *db;         /* owned */
   char *collection; /* owned; NULL unless SCOPE_COLLECTION */
   changestream_full_t full_document;
   changestream_before_t before_change;
   bool show_expanded; /* showExpandedEvents: true */
   duet_pipeline_t *pipeline; /* owned; the per-document stages after $changeStream */
   duet_store_ts_t position;  /* every event up to here has been read from the log */
   duet_store_ts_t verify_ts; /* != 0: the resume token's event, expected as the next one read */
   duet_store_ts_t returned;  /* cluster time of the last event handed out (or of the start point) */
   duet_changestream_token_kind_t returned_kind;
   changestream_item_t *items; /* owned ring of events read but not handed out yet */
   size_t item_start, item_count, item_capacity;
   duet_error_t deferred; /* an event failed after others were queued: reported once they are out */
   bool deferred_due;     /* the batch carrying the events before it has ended */
   bool invalidated;      /* an invalidate was queued: nothing is read after it */
   bool ended;            /* the invalidate was handed out: the cursor closes */
   bson_t *current;       /* owned: the event handed out last (the batch copies it), or NULL */
} changestream_t;

void duet_changestream_token(duet_store_ts_t ts, duet_changestream_token_kind_t kind, bson_t *parent, const char *key)
{
   char data[32];
   snprintf(data, sizeof data, "%016llX%02X", (unsigned long long)ts, (unsigned)kind);
   bson_t token;
   bson_append_document_begin(parent, key, -1, &token);
   BSON_APPEND_UTF8(&token, "_data", data);
   bson_append_document_end(parent, &token);
}

bool duet_changestream_parse_token(const bson_iter_t *iter, const char *option, duet_store_ts_t *ts,
                                   duet_changestream_token_kind_t *kind, duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_DOCUMENT(iter)) {
      duet_error_wrong_type(error, "$changeStream", option, iter, "object");
      return false;
   }
   bson_iter_t child;
   if (!bson_iter_recurse(iter, &child) || !bson_iter_find(&child, "_data") || !BSON_ITER_HOLDS_UTF8(&child)) {
      duet_error_set(error, DUET_ERR_INVALID_RESUME_TOKEN, "Bad resume token: _data of missing or of wrong type");
      return false;
   }
   uint32_t length;
   const char *data = bson_iter_utf8(&child, &length);
   unsigned long long value = 0;
   unsigned flags = 0;
   int used = 0;
   if (length != 18 || strspn(data, "0123456789abcdefABCDEF") != 18 ||
       sscanf(data, "%16llx%2x%n", &value, &flags, &used) != 2 || used != 18 || flags > DUET_CHANGESTREAM_TOKEN_HWM) {
      duet_error_set(error, DUET_ERR_INVALID_RESUME_TOKEN, "Bad resume token: _data '%s' is not a duetd resume token",
                     data);
      return false;
   }
   *ts = (duet_store_ts_t)value;
   *kind = (duet_changestream_token_kind_t)flags;
   return true;
}

static void changestream_free(changestream_t *stream)
{
   for (size_t i = 0; i < stream->item_count; i++) {
      bson_destroy(stream->items[(stream->item_start + i) % stream->item_capacity].event);
   }
   bson_free(stream->items);
   if (stream->current) {
      bson_destroy(stream->current);
   }
   duet_pipeline_destroy(stream->pipeline);
   duet_server_session_release(stream->server, stream->session);
   bson_free(stream->db);
   bson_free(stream->collection);
   duet_error_clear(&stream->deferred);
   bson_free(stream);
}

/* Queues `event` (ownership passes to the stream). */
static void changestream_push(changestream_t *stream, bson_t *event, duet_store_ts_t ts,
                              duet_changestream_token_kind_t kind)
{
   if (stream->item_count == stream->item_capacity) {
      size_t capacity = stream->item_capacity ? stream->item_capacity * 2 : 64;
      changestream_item_t *items = bson_malloc(sizeof *items * capacity);
      for (size_t i = 0; i < stream->item_count; i++) {
         items[i] = stream->items[(stream->item_start + i) % stream->item_capacity];
      }
      bson_free(stream->items);
      stream->items = items;
      stream->item_start = 0;
      stream->item_capacity = capacity;
   }
   stream->items[(stream->item_start + stream->item_count) % stream->item_capacity] =
       (changestream_item_t){event, ts, kind};
   stream->item_count++;
}

/* ---- event shapes ----------------------------------------------------------------------- */

/* Reads {db, coll} of the sub-document `field` of `event` (borrowed strings; coll NULL when absent). */
static void changestream_namespace(const bson_t *event, const char *field, const char **db, const char **coll)
{
   bson_iter_t iter, child;
   *db = "";
   *coll = NULL;
   if (bson_iter_init_find(&iter, event, field) && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
       bson_iter_recurse(&iter, &child)) {
      while (bson_iter_next(&child)) {
         if (BSON_ITER_HOLDS_UTF8(&child) && strcmp(bson_iter_key(&child), "db") == 0) {
            *db = bson_iter_utf8(&child, NULL);
         } else if (BSON_ITER_HOLDS_UTF8(&child) && strcmp(bson_iter_key(&child), "coll") == 0) {
            *coll = bson_iter_utf8(&child, NULL);
         }
      }
   }
}

static bool changestream_is_internal(const char *db, const char *coll)
{
   return strcmp(db, "admin") == 0 || strcmp(db, "config") == 0 || strcmp(db, "local") == 0 ||
          (coll && strncmp(coll, "system.", 7) == 0);
}

/* Whether namespace {db, coll} (coll NULL: the database itself) belongs to this stream. */
static bool changestream_in_scope(const changestream_t *stream, const char *db, const char *coll)
{
   if (changestream_is_internal(db, coll)) {
      return false;
   }
   switch (stream->scope) {
   case SCOPE_COLLECTION: return strcmp(db, stream->db) == 0 && coll && strcmp(coll, stream->collection) == 0;
   case SCOPE_DATABASE: return strcmp(db, stream->db) == 0;
   default: return true;
   }
}

/* Whether events of this type are shown only by showExpandedEvents streams. */
static bool changestream_expanded_only(const char *type)
{
   return strcmp(type, "create") == 0 || strcmp(type, "createIndexes") == 0 || strcmp(type, "dropIndexes") == 0 ||
          strcmp(type, "modify") == 0;
}

/* Appends updateDescription; disambiguatedPaths only for showExpandedEvents streams. */
static void changestream_update_description(const changestream_t *stream, const bson_iter_t *stored, bson_t *event)
{
   if (stream->show_expanded) {
      bson_append_iter(event, "updateDescription", -1, stored);
      return;
   }
   bson_t description;
   bson_iter_t field;
   BSON_APPEND_DOCUMENT_BEGIN(event, "updateDescription", &description);
   if (bson_iter_recurse(stored, &field)) {
      while (bson_iter_next(&field)) {
         if (strcmp(bson_iter_key(&field), "disambiguatedPaths") != 0) {
            bson_append_iter(&description, NULL, 0, &field);
         }
      }
   }
   bson_append_document_end(event, &description);
}

/* Whether the store event (in scope) ends this stream with an invalidate. */
static bool changestream_invalidates(const changestream_t *stream, const char *type)
{
   if (stream->scope == SCOPE_COLLECTION) {
      return strcmp(type, "drop") == 0 || strcmp(type, "rename") == 0;
   }
   return stream->scope == SCOPE_DATABASE && strcmp(type, "dropDatabase") == 0;
}

/* MongoDB's description of an event in the "image not found" errors. */
static void changestream_image_error(const bson_t *stored, const char *image, const char *events, duet_error_t *error)
{
   bson_t summary = BSON_INITIALIZER;
   static const char *const fields[] = {"operationType", "ns", "clusterTime", "documentKey"};
   for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
      bson_iter_t iter;
      if (bson_iter_init_find(&iter, stored, fields[i])) {
         bson_append_iter(&summary, fields[i], -1, &iter);
      }
   }
   char *json = bson_as_relaxed_extended_json(&summary, NULL);
   duet_error_set(error, DUET_ERR_NO_MATCHING_DOCUMENT,
                  "Change stream was configured to require a %s for all %s events, but the %s was not found for "
                  "event: %s",
                  image, events, image, json);
   bson_free(json);
   bson_destroy(&summary);
}

/* Appends fullDocument of an update event as the stream's fullDocument mode asks. */
static bool changestream_update_post_image(changestream_t *stream, const bson_t *stored, bson_t *event,
                                           duet_error_t *error)
{
   bson_iter_t iter;
   if (stream->full_document == FULL_UPDATE_LOOKUP) {
      const char *db, *coll;
      changestream_namespace(stored, "ns", &db, &coll);
      bson_iter_t key, id;
      bson_t current;
      bool found = false;
      if (coll && bson_iter_init_find(&key, stored, "documentKey") && bson_iter_recurse(&key, &id) &&
          bson_iter_find(&id, "_id") &&
          !duet_store_find_id(stream->session, db, coll, bson_iter_value(&id), &current, &found, error)) {
         return false;
      }
      if (found) {
         BSON_APPEND_DOCUMENT(event, "fullDocument", &current);
         bson_destroy(&current);
      } else {
         BSON_APPEND_NULL(event, "fullDocument");
      }
      return true;
   }
   /* whenAvailable/required: the post-image exists when the collection records images
    * (changeStreamPreAndPostImages), i.e. when the event carries the pre-image */
   bool available = bson_iter_init_find(&iter, stored, "fullDocumentBeforeChange") &&
                    bson_iter_init_find(&iter, stored, "fullDocument");
   if (available) {
      bson_append_iter(event, "fullDocument", -1, &iter);
   } else if (stream->full_document == FULL_REQUIRED) {
      changestream_image_error(stored, "post-image", "update", error);
      return false;
   } else {
      BSON_APPEND_NULL(event, "fullDocument");
   }
   return true;
}

/* Builds the client's event for store event `stored` (borrowed) into *out (initialized on success). */
static bool changestream_shape(changestream_t *stream, const bson_t *stored, duet_store_ts_t ts,
                               duet_changestream_token_kind_t kind, bson_t *event, duet_error_t *error)
{
   bson_iter_t iter;
   const char *type = "";
   if (bson_iter_init_find(&iter, stored, "operationType") && BSON_ITER_HOLDS_UTF8(&iter)) {
      type = bson_iter_utf8(&iter, NULL);
   }
   bool is_update = strcmp(type, "update") == 0;
   bool carries_document = strcmp(type, "insert") == 0 || strcmp(type, "replace") == 0;
   bson_init(event);
   duet_changestream_token(ts, kind, event, "_id");
   BSON_APPEND_UTF8(event, "operationType", kind == DUET_CHANGESTREAM_TOKEN_INVALIDATE ? "invalidate" : type);
   if (bson_iter_init_find(&iter, stored, "clusterTime")) {
      bson_append_iter(event, "clusterTime", -1, &iter);
   }
   if (stream->show_expanded && kind != DUET_CHANGESTREAM_TOKEN_INVALIDATE &&
       bson_iter_init_find(&iter, stored, "collectionUUID")) {
      bson_append_iter(event, "collectionUUID", -1, &iter);
   }
   if (bson_iter_init_find(&iter, stored, "wallTime")) {
      bson_append_iter(event, "wallTime", -1, &iter);
   }
   if (kind == DUET_CHANGESTREAM_TOKEN_INVALIDATE) {
      return true;
   }
   if (carries_document && bson_iter_init_find(&iter, stored, "fullDocument")) {
      bson_append_iter(event, "fullDocument", -1, &iter);
   }
   static const char *const copied[] = {"ns", "documentKey", "to"};
   for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
      if (bson_iter_init_find(&iter, stored, copied[i])) {
         bson_append_iter(event, copied[i], -1, &iter);
      }
   }
   if (stream->show_expanded && bson_iter_init_find(&iter, stored, "operationDescription")) {
      bson_append_iter(event, "operationDescription", -1, &iter);
   }
   if (bson_iter_init_find(&iter, stored, "updateDescription")) {
      changestream_update_description(stream, &iter, event);
   }
   if (stream->show_expanded && bson_iter_init_find(&iter, stored, "stateBeforeChange")) {
      bson_append_iter(event, "stateBeforeChange", -1, &iter);
   }
   if (is_update && stream->full_document != FULL_DEFAULT &&
       !changestream_update_post_image(stream, stored, event, error)) {
      bson_destroy(event);
      return false;
   }
   bool has_before = is_update || strcmp(type, "replace") == 0 || strcmp(type, "delete") == 0;
   if (stream->before_change != BEFORE_OFF && has_before) {
      if (bson_iter_init_find(&iter, stored, "fullDocumentBeforeChange")) {
         bson_append_iter(event, "fullDocumentBeforeChange", -1, &iter);
      } else if (stream->before_change == BEFORE_REQUIRED) {
         changestream_image_error(stored, "pre-image", "update, delete and replace", error);
         bson_destroy(event);
         return false;
      } else {
         BSON_APPEND_NULL(event, "fullDocumentBeforeChange");
      }
   }
   return true;
}

static bool changestream_same_value(const bson_t *a, const bson_t *b, const char *key)
{
   bson_iter_t x, y;
   if (!bson_iter_init_find(&x, a, key) || !bson_iter_init_find(&y, b, key) ||
       bson_iter_type(&x) != bson_iter_type(&y)) {
      return false;
   }
   uint32_t x_length, y_length;
   const uint8_t *x_data, *y_data;
   if (!BSON_ITER_HOLDS_DOCUMENT(&x)) {
      return false;
   }
   bson_iter_document(&x, &x_length, &x_data);
   bson_iter_document(&y, &y_length, &y_data);
   return x_length == y_length && memcmp(x_data, y_data, x_length) == 0;
}

/* Shapes the event, runs the stages after $changeStream, queues what comes out. */
static bool changestream_deliver(changestream_t *stream, const bson_t *stored, duet_store_ts_t ts,
                                 duet_changestream_token_kind_t kind, duet_error_t *error)
{
   bson_t *event = bson_new();
   bson_t shaped;
   if (!changestream_shape(stream, stored, ts, kind, &shaped, error)) {
      bson_destroy(event);
      return false;
   }
   if (duet_pipeline_stage_count(stream->pipeline) == 0) {
      bson_concat(event, &shaped);
      bson_destroy(&shaped);
      changestream_push(stream, event, ts, kind);
      return true;
   }
   bool emitted = false;
   bson_t out;
   bool ok = duet_pipeline_apply(stream->pipeline, &shaped, NULL, &out, &emitted, error);
   if (ok && emitted && !changestream_same_value(&shaped, &out, "_id")) {
      duet_error_set(error, DUET_ERR_CHANGE_STREAM_FATAL_ERROR,
                     "Encountered an event whose _id field, which contains the resume token, was modified by the "
                     "pipeline. Modifying the _id field of an event makes it impossible to resume the stream from "
                     "that point. Only transformations that retain the unmodified _id field are allowed.");
      ok = false;
   }
   if (ok && emitted) {
      bson_concat(event, &out);
      changestream_push(stream, event, ts, kind);
      event = NULL;
   }
   bson_destroy(&out);
   bson_destroy(&shaped);
   if (event) {
      bson_destroy(event);
   }
   return ok;
}

/* ---- reading the log ------------------------------------------------------------------------ */

typedef struct changestream_read {
   changestream_t *stream;
   duet_error_t *error;
   bool failed;
} changestream_read_t;

static bool changestream_fail(changestream_read_t *read)
{
   read->failed = true;
   return false;
}

static bool changestream_on_event(const bson_t *stored, duet_store_ts_t ts, void *context)
{
   changestream_read_t *read = context;
   changestream_t *stream = read->stream;
   const char *type = "", *db, *coll;
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, stored, "operationType") && BSON_ITER_HOLDS_UTF8(&iter)) {
      type = bson_iter_utf8(&iter, NULL);
   }
   changestream_namespace(stored, "ns", &db, &coll);
   bool in_scope = changestream_in_scope(stream, db, coll);
   if (!in_scope && stream->scope == SCOPE_COLLECTION && strcmp(type, "rename") == 0) {
      const char *to_db, *to_coll;
      changestream_namespace(stored, "to", &to_db, &to_coll);
      in_scope = changestream_in_scope(stream, to_db, to_coll); /* renamed onto the watched collection */
   }
   bool invalidates = in_scope && changestream_invalidates(stream, type);
   if (stream->verify_ts) {
      /* the resume token's own event: already seen by the client, but it may still end the stream */
      if (ts != stream->verify_ts) {
         duet_error_set(read->error, DUET_ERR_CHANGE_STREAM_FATAL_ERROR,
                        "cannot resume stream; the resume token was not found. {_data: \"%016llX00\"}",
                        (unsigned long long)stream->verify_ts);
         return changestream_fail(read);
      }
      stream->verify_ts = 0;
      in_scope = false;
   }
   stream->position = ts;
   in_scope = in_scope && (stream->show_expanded || !changestream_expanded_only(type));
   if (in_scope && !changestream_deliver(stream, stored, ts, DUET_CHANGESTREAM_TOKEN_EVENT, read->error)) {
      return changestream_fail(read);
   }
   if (invalidates) {
      if (!changestream_deliver(stream, stored, ts, DUET_CHANGESTREAM_TOKEN_INVALIDATE, read->error)) {
         return changestream_fail(read);
      }
      stream->invalidated = true;
      return false; /* nothing after an invalidate */
   }
   return stream->item_count < CHANGESTREAM_READ_LIMIT;
}

/* Reads the next events from the log into the queue.  An event that cannot be shown (a
 * required image missing, a pipeline error) fails the read when it is the first one, and
 * is deferred behind the events queued before it otherwise. */
static bool changestream_fill(changestream_t *stream, duet_error_t *error)
{
   if (stream->deferred.code) {
      if (stream->item_count > 0) {
         return true;
      }
      duet_error_move(error, &stream->deferred);
      return false;
   }
   if (stream->invalidated) {
      return true;
   }
   duet_error_t event_error = DUET_ERROR_INIT;
   changestream_read_t read = {stream, &event_error, false};
   duet_store_ts_t after = stream->verify_ts ? stream->verify_ts - 1 : stream->position;
   if (!duet_store_changelog_read_expanded(stream->session, after, CHANGESTREAM_READ_LIMIT, changestream_on_event,
                                           &read, error)) {
      duet_error_clear(&event_error);
      return false;
   }
   if (!read.failed) {
      return true;
   }
   if (stream->item_count > 0) {
      duet_error_move(&stream->deferred, &event_error);
      return true;
   }
   duet_error_move(error, &event_error);
   return false;
}

/* Adds MongoDB's change-stream error label: 280 and 286 end the stream for good
 * (NonResumableChangeStreamError), a shutdown is worth resuming (ResumableChangeStreamError). */
static void changestream_label_error(duet_error_t *error)
{
   const char *label =
       error->code == DUET_ERR_CHANGE_STREAM_FATAL_ERROR || error->code == DUET_ERR_CHANGE_STREAM_HISTORY_LOST
           ? "NonResumableChangeStreamError"
       : error->code == DUET_ERR_INTERRUPTED_AT_SHUTDOWN ? "ResumableChangeStreamError"
                                                         : NULL;
   if (!label || error->extra) {
      return;
   }
   bson_t *extra = bson_new(), labels;
   BSON_APPEND_ARRAY_BEGIN(extra, "errorLabels", &labels);
   BSON_APPEND_UTF8(&labels, "0", label);
   bson_append_array_end(extra, &labels);
   duet_error_take_extra(error, extra);
}

static duet_cursor_step_t changestream_step(changestream_t *stream, const bson_t **doc, duet_error_t *error)
{
   if (stream->current) {
      bson_destroy(stream->current);
      stream->current = NULL;
   }
   if (stream->ended) {
      return DUET_CURSOR_STEP_END;
   }
   if (__atomic_load_n(&stream->server->stopping, __ATOMIC_ACQUIRE)) {
      /* a getMore waiting at shutdown ends now; the driver resumes from its token */
      duet_error_set(error, DUET_ERR_INTERRUPTED_AT_SHUTDOWN, "interrupted at shutdown");
      return DUET_CURSOR_STEP_ERROR;
   }
   if (stream->item_count == 0 && stream->deferred.code && !stream->deferred_due) {
      stream->deferred_due = true; /* end this batch with the events before the failure */
      return DUET_CURSOR_STEP_NONE_YET;
   }
   if ((stream->item_count == 0 || stream->deferred.code) && !changestream_fill(stream, error)) {
      return DUET_CURSOR_STEP_ERROR;
   }
   if (stream->item_count == 0) {
      return DUET_CURSOR_STEP_NONE_YET;
   }
   changestream_item_t item = stream->items[stream->item_start];
   stream->item_start = (stream->item_start + 1) % stream->item_capacity;
   stream->item_count--;
   stream->returned = item.ts;
   stream->returned_kind = item.kind;
   stream->current = item.event;
   *doc = item.event;
   if (item.kind == DUET_CHANGESTREAM_TOKEN_INVALIDATE) {
      stream->ended = true; /* the cursor closes after this batch */
   }
   return DUET_CURSOR_STEP_DOC;
}

static duet_cursor_step_t changestream_next(void *state, const bson_t **doc, duet_error_t *error)
{
   duet_cursor_step_t step = changestream_step(state, doc, error);
   if (step == DUET_CURSOR_STEP_ERROR) {
      changestream_label_error(error);
   }
   return step;
}

static void changestream_wait(void *state, int64_t deadline_us)
{
   changestream_t *stream = state;
   duet_store_t *store = duet_session_store(stream->session);
   /* the sequence first, then one more look: a commit in between wakes the wait at once */
   uint64_t sequence = duet_store_changelog_sequence(store);
   bool ready = stream->deferred.code || stream->item_count > 0 || stream->invalidated;
   duet_error_t failure = DUET_ERROR_INIT;
   if (!ready && !changestream_fill(stream, &failure)) {
      duet_error_move(&stream->deferred, &failure); /* reported by the next call of next() */
   }
   ready = ready || stream->deferred.code || stream->item_count > 0 || stream->invalidated;
   if (ready || __atomic_load_n(&stream->server->stopping, __ATOMIC_ACQUIRE)) {
      return;
   }
   int64_t stop_check = duet_cursor_now_us() + CHANGESTREAM_STOP_CHECK_US;
   duet_store_changelog_wait(store, sequence, stop_check < deadline_us ? stop_check : deadline_us);
}

static void changestream_batch_fields(void *state, bson_t *cursor_document)
{
   changestream_t *stream = state;
   if (stream->item_count > 0 || stream->ended || stream->verify_ts || stream->position <= stream->returned) {
      duet_changestream_token(stream->returned, stream->returned_kind, cursor_document, "postBatchResumeToken");
   } else {
      duet_changestream_token(stream->position, DUET_CHANGESTREAM_TOKEN_HWM, cursor_document, "postBatchResumeToken");
   }
}

static void changestream_destroy(void *state)
{
   changestream_free(state);
}

static const duet_cursor_source_ops_t changestream_ops = {changestream_next, changestream_wait,
                                                          changestream_batch_fields, changestream_destroy};

/* ---- opening ------------------------------------------------------------------------------ */

bool duet_changestream_in_pipeline(const bson_t *pipeline)
{
   bson_iter_t iter, stage;
   if (!bson_iter_init(&iter, pipeline)) {
      return false;
   }
   while (bson_iter_next(&iter)) {
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage) &&
          strcmp(bson_iter_key(&stage), "$changeStream") == 0) {
         return true;
      }
   }
   return false;
}

static bool changestream_enum(const bson_iter_t *iter, const char *option, const char *const *names, int *out,
                              duet_error_t *error)
{
   if (!BSON_ITER_HOLDS_UTF8(iter)) {
      duet_error_wrong_type(error, "$changeStream", option, iter, "string");
      return false;
   }
   const char *value = bson_iter_utf8(iter, NULL);
   for (int i = 0; names[i]; i++) {
      if (strcmp(value, names[i]) == 0) {
         *out = i;
         return true;
      }
   }
   duet_error_set(error, DUET_ERR_BAD_VALUE,
                  "Enumeration value '%s' for field '$changeStream.%s' is not a valid value.", value, option);
   return false;
}

typedef struct changestream_start {
   bool resume_after, start_after, at_operation_time, all_changes, show_expanded;
   duet_store_ts_t ts;
   duet_changestream_token_kind_t kind;
} changestream_start_t;

/* Parses the $changeStream stage's document into the stream and the start point. */
static bool changestream_parse_spec(changestream_t *stream, const bson_iter_t *spec, changestream_start_t *start,
                                    duet_error_t *error)
{
   bson_iter_t option;
   bson_iter_recurse(spec, &option);
   while (bson_iter_next(&option)) {
      const char *key = bson_iter_key(&option);
      int value = 0;
      if (strcmp(key, "fullDocument") == 0) {
         static const char *const names[] = {"default", "updateLookup", "whenAvailable", "required", NULL};
         if (!changestream_enum(&option, key, names, &value, error)) {
            return false;
         }
         stream->full_document = (changestream_full_t)value;
      } else if (strcmp(key, "fullDocumentBeforeChange") == 0) {
         static const char *const names[] = {"off", "whenAvailable", "required", NULL};
         if (!changestream_enum(&option, key, names, &value, error)) {
            return false;
         }
         stream->before_change = (changestream_before_t)value;
      } else if (strcmp(key, "resumeAfter") == 0 || strcmp(key, "startAfter") == 0) {
         if (!duet_changestream_parse_token(&option, key, &start->ts, &start->kind, error)) {
            return false;
         }
         *(key[0] == 'r' ? &start->resume_after : &start->start_after) = true;
      } else if (strcmp(key, "startAtOperationTime") == 0) {
         if (!BSON_ITER_HOLDS_TIMESTAMP(&option)) {
            duet_error_wrong_type(error, "$changeStream", key, &option, "timestamp");
            return false;
         }
         uint32_t t, i;
         bson_iter_timestamp(&option, &t, &i);
         start->at_operation_time = true;
         start->ts = duet_store_ts_make(t, i);
      } else if (strcmp(key, "allChangesForCluster") == 0 || strcmp(key, "showExpandedEvents") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&option)) {
            duet_error_wrong_type(error, "$changeStream", key, &option, "bool");
            return false;
         }
         *(key[0] == 'a' ? &start->all_changes : &start->show_expanded) = bson_iter_bool(&option);
      } else {
         duet_error_set(error, 40415, "BSON field '$changeStream.%s' is an unknown field.", key);
         return false;
      }
   }
   if (start->resume_after && start->start_after) {
      duet_error_set(error, 50865, "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage");
      return false;
   }
   if (start->at_operation_time && (start->resume_after || start->start_after)) {
      duet_error_set(error, 40674, "Only one type of resume option is allowed, but multiple were found");
      return false;
   }
   if (start->resume_after && start->kind == DUET_CHANGESTREAM_TOKEN_INVALIDATE) {
      duet_error_set(error, DUET_ERR_INVALID_RESUME_TOKEN,
                     "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate "
                     "notification");
      return false;
   }
   return true;
}

/* MongoDB's namespace rules for where a stream may be opened. */
static bool changestream_check_namespace(const duet_command_ctx_t *ctx, const char *collection,
                                         const changestream_start_t *start, duet_error_t *error)
{
   bool admin = strcmp(ctx->db, "admin") == 0;
   if (start->all_changes && (!admin || collection)) {
      duet_error_set(error, DUET_ERR_INVALID_OPTIONS,
                     "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, "
                     "and with no collection name; found %s.%s",
                     ctx->db, collection ? collection : "$cmd.aggregate");
      return false;
   }
   if (admin ? !start->all_changes : (strcmp(ctx->db, "config") == 0 || strcmp(ctx->db, "local") == 0)) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "$changeStream may not be opened on the internal %s database",
                     ctx->db);
      return false;
   }
   if (collection && strncmp(collection, "system.", 7) == 0) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE,
                     "$changeStream may not be opened on the internal %s.%s collection", ctx->db, collection);
      return false;
   }
   return true;
}

/* Parses the stages after $changeStream (only per-document ones are allowed). */
static bool changestream_parse_stages(changestream_t *stream, bson_iter_t *iter, duet_error_t *error)
{
   static const char *const allowed[] = {"$match",       "$project",     "$addFields", "$set", "$unset",
                                         "$replaceRoot", "$replaceWith", "$redact",    NULL};
   bson_t rest = BSON_INITIALIZER;
   uint32_t count = 0;
   bool ok = true;
   while (ok && bson_iter_next(iter)) {
      bson_iter_t stage;
      if (BSON_ITER_HOLDS_DOCUMENT(iter) && bson_iter_recurse(iter, &stage) && bson_iter_next(&stage)) {
         const char *name = bson_iter_key(&stage);
         bool known = false;
         for (size_t i = 0; allowed[i]; i++) {
            known = known || strcmp(name, allowed[i]) == 0;
         }
         if (strcmp(name, "$changeStream") == 0) {
            duet_error_set(error, 40602, "$changeStream is only valid as the first stage in a pipeline.");
            ok = false;
         } else if (!known && name[0] == '$') {
            duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "%s is not permitted in a $changeStream pipeline", name);
            ok = false;
         }
      }
      char key_buffer[16];
      const char *key;
      bson_uint32_to_string(count++, &key, key_buffer, sizeof key_buffer);
      bson_append_iter(&rest, key, -1, iter);
   }
   ok = ok && duet_pipeline_parse(&rest, NULL, &stream->pipeline, error);
   bson_destroy(&rest);
   if (ok && !duet_pipeline_is_per_document(stream->pipeline)) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "the stages after $changeStream must be per-document stages");
      ok = false;
   }
   return ok;
}

bool duet_changestream_open(duet_command_ctx_t *ctx, const char *collection, const bson_t *pipeline, int64_t batch_size,
                            bson_t *reply, duet_error_t *error)
{
   bson_iter_t iter, stage;
   if (!bson_iter_init(&iter, pipeline) || !bson_iter_next(&iter) || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
       !bson_iter_recurse(&iter, &stage) || !bson_iter_next(&stage) ||
       strcmp(bson_iter_key(&stage), "$changeStream") != 0) {
      duet_error_set(error, 40602, "$changeStream is only valid as the first stage in a pipeline.");
      return false;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&stage)) {
      duet_error_set(error, 50808, "$changeStream stage expects a document as argument");
      return false;
   }
   changestream_t *stream = bson_malloc0(sizeof *stream);
   stream->server = ctx->server;
   stream->db = bson_strdup(ctx->db);
   stream->collection = collection ? bson_strdup(collection) : NULL;
   changestream_start_t start = {false, false, false, false, false, 0, DUET_CHANGESTREAM_TOKEN_EVENT};
   bool ok = changestream_parse_spec(stream, &stage, &start, error) &&
             changestream_check_namespace(ctx, collection, &start, error) &&
             changestream_parse_stages(stream, &iter, error) &&
             duet_server_session_acquire(ctx->server, &stream->session, error);
   stream->scope = start.all_changes ? SCOPE_CLUSTER : collection ? SCOPE_COLLECTION : SCOPE_DATABASE;
   stream->show_expanded = start.show_expanded;
   if (ok && (start.resume_after || start.start_after)) {
      /* after an event: that event must still be in the log (it is read again, not returned);
       * after an invalidate or a high-water mark: straight after the position */
      stream->position = start.ts;
      stream->returned = start.ts;
      stream->returned_kind = start.kind;
      if (start.kind == DUET_CHANGESTREAM_TOKEN_EVENT && start.ts > 0) {
         stream->verify_ts = start.ts;
      }
      ok = changestream_fill(stream, error);
   } else if (ok && start.at_operation_time) {
      stream->position = start.ts > 0 ? start.ts - 1 : 0; /* inclusive */
      stream->returned = stream->position;
      stream->returned_kind = DUET_CHANGESTREAM_TOKEN_HWM;
      ok = changestream_fill(stream, error); /* 286 now when that time is gone */
   } else if (ok) {
      ok = duet_store_changelog_latest(stream->session, &stream->position, error);
      stream->returned = stream->position;
      stream->returned_kind = DUET_CHANGESTREAM_TOKEN_HWM;
   }
   if (!ok) {
      changestream_label_error(error);
      changestream_free(stream);
      return false;
   }
   char ns[512];
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection ? collection : "$cmd.aggregate");
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   options.batch_size = batch_size;
   options.tailable = true;
   options.await_data = true;
   options.has_lsid = ctx->args.has_lsid;
   memcpy(options.lsid, ctx->args.lsid, sizeof options.lsid);
   return duet_cursor_reply_first(&ctx->server->cursors, ns, (duet_cursor_source_t){&changestream_ops, stream},
                                  &options, reply, error);
}
