/*
 * query.c — a store scan piped through a pipeline and a projection, as a
 * cursor source (see query.h).
 */
#include "server/query.h"

#include <duet/store_ops.h>

#include <stdlib.h>
#include <string.h>

struct duet_query_storage {
   duet_pipeline_storage_t callbacks; /* context = this struct */
   char *db;                          /* owned */
   duet_session_t *session;           /* borrowed from the source once it is open; NULL before */
};

/* duet_pipeline_storage_t.open: a find with the join filter (a missing collection is empty). */
static bool storage_open(void *context, const char *coll, const bson_t *filter, void **scan, duet_error_t *error)
{
   duet_query_storage_t *storage = context;
   *scan = NULL;
   if (!storage->session) {
      duet_error_set(error, DUET_ERR_INTERNAL, "$lookup read before its query source was opened");
      return false;
   }
   duet_store_find_options_t options = {filter, NULL, NULL, 0, 0};
   duet_store_find_t *find = NULL;
   if (!duet_store_find(storage->session, storage->db, coll, &options, &find, error)) {
      return false;
   }
   *scan = find;
   return true;
}

static bool storage_next(void *scan, const bson_t **doc, duet_error_t *error)
{
   return duet_store_find_next(scan, doc, error);
}

static void storage_close(void *scan)
{
   duet_store_find_destroy(scan);
}

duet_query_storage_t *duet_query_storage_new(const char *db)
{
   duet_query_storage_t *storage = bson_malloc0(sizeof *storage);
   storage->callbacks = (duet_pipeline_storage_t){storage, storage_open, storage_next, storage_close};
   storage->db = bson_strdup(db);
   return storage;
}

const duet_pipeline_storage_t *duet_query_storage_callbacks(const duet_query_storage_t *storage)
{
   return &storage->callbacks;
}

void duet_query_storage_destroy(duet_query_storage_t *storage)
{
   if (!storage) {
      return;
   }
   bson_free(storage->db);
   bson_free(storage);
}

typedef struct query_source {
   duet_server_t *server;           /* borrowed */
   duet_session_t *session;         /* the scan's session */
   bool owns_session;               /* pooled (released at destroy) or borrowed */
   duet_store_cursor_t *scan;       /* owned; NULL without a collection */
   duet_pipeline_t *pipeline;       /* owned */
   duet_query_storage_t *storage;   /* owned, may be NULL; destroyed after pipeline */
   duet_pipeline_cursor_t *running; /* owned */
   duet_projection_t *projection;   /* owned, may be NULL */
   bson_t projected;                /* the last projected document handed out (valid when has_projected) */
   bool has_projected;
   int64_t budget_us;               /* execution time left; -1 = unlimited */
} query_source_t;

static bool query_pull(void *context, const bson_t **doc, duet_error_t *error)
{
   query_source_t *query = context;
   if (!query->scan) {
      *doc = NULL;
      return true;
   }
   return duet_store_cursor_next(query->scan, doc, error);
}

static duet_cursor_step_t query_next(void *state, const bson_t **doc, duet_error_t *error)
{
   query_source_t *query = state;
   if (query->has_projected) {
      bson_destroy(&query->projected);
      query->has_projected = false;
   }
   const bson_t *next = NULL;
   int64_t start = query->budget_us >= 0 ? duet_cursor_now_us() : 0;
   bool ok = duet_pipeline_next(query->running, &next, error);
   if (query->budget_us >= 0) {
      /* like MongoDB, maxTimeMS bounds the time spent executing, summed over the command and its getMores */
      query->budget_us -= duet_cursor_now_us() - start;
      if (ok && query->budget_us < 0) {
         duet_error_set(error, DUET_ERR_MAX_TIME_MS_EXPIRED, "operation exceeded time limit");
         return DUET_CURSOR_STEP_ERROR;
      }
   }
   if (!ok) {
      return DUET_CURSOR_STEP_ERROR;
   }
   if (!next) {
      return DUET_CURSOR_STEP_END;
   }
   if (!query->projection) {
      *doc = next; /* the pipeline's (or the store's) document, valid until the next pull */
      return DUET_CURSOR_STEP_DOC;
   }
   if (!duet_projection_apply(query->projection, next, NULL, &query->projected, error)) {
      bson_destroy(&query->projected);
      return DUET_CURSOR_STEP_ERROR;
   }
   query->has_projected = true;
   *doc = &query->projected;
   return DUET_CURSOR_STEP_DOC;
}

static void query_destroy(void *state)
{
   query_source_t *query = state;
   if (query->has_projected) {
      bson_destroy(&query->projected);
   }
   if (query->running) {
      duet_pipeline_close(query->running);
   }
   duet_pipeline_destroy(query->pipeline);
   duet_query_storage_destroy(query->storage);
   if (query->scan) {
      duet_store_cursor_destroy(query->scan);
   }
   duet_projection_destroy(query->projection);
   if (query->owns_session) {
      duet_server_session_release(query->server, query->session);
   }
   free(query); /* from aligned_alloc */
}

static const duet_cursor_source_ops_t query_ops = {query_next, NULL, NULL, query_destroy};

bool duet_query_open(duet_server_t *server, duet_query_spec_t *spec, duet_cursor_source_t *source, duet_error_t *error)
{
   /* aligned_alloc, not bson_malloc: the embedded bson_t needs its 128-byte alignment */
   query_source_t *query = aligned_alloc(_Alignof(query_source_t), sizeof *query);
   if (!query) {
      abort(); /* out of memory: what bson_malloc does too */
   }
   memset(query, 0, sizeof *query);
   query->server = server;
   query->pipeline = spec->pipeline;
   query->projection = spec->projection;
   query->storage = spec->storage;
   query->budget_us = spec->max_time_ms > 0 ? spec->max_time_ms * 1000 : -1;
   spec->pipeline = NULL;
   spec->projection = NULL;
   spec->storage = NULL;
   bool ok = true;
   if (spec->collection || query->storage) { /* $lookup reads even without input documents */
      if (spec->session) {
         query->session = spec->session;
      } else {
         ok = duet_server_session_acquire(server, &query->session, error);
         query->owns_session = ok;
      }
      if (ok && query->storage) {
         query->storage->session = query->session;
      }
      if (ok && spec->collection) {
         duet_store_bound_t bound = {spec->id_equals, true};
         ok = duet_store_scan(query->session, spec->db, spec->collection, spec->id_equals ? &bound : NULL,
                              spec->id_equals ? &bound : NULL, false, &query->scan, error);
      }
   }
   if (!ok) {
      query_destroy(query);
      return false;
   }
   query->running = duet_pipeline_open(query->pipeline, query_pull, query, NULL);
   *source = (duet_cursor_source_t){&query_ops, query};
   return true;
}

void duet_query_append_stage(bson_t *stages, uint32_t *count, const char *stage, const bson_value_t *value)
{
   char key_buffer[16];
   const char *key;
   bson_uint32_to_string((*count)++, &key, key_buffer, sizeof key_buffer);
   bson_t doc;
   bson_append_document_begin(stages, key, -1, &doc);
   bson_append_value(&doc, stage, -1, value);
   bson_append_document_end(stages, &doc);
}
