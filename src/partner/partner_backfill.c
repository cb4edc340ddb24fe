/*
 * partner_backfill.c — the online backfill: chunks of the source in _id order, each chunk
 * one write transaction that also persists the position (store meta "migration_progress"),
 * so a crash loses at most the chunk in flight and the next run resumes after the last
 * committed one.
 *
 * Races.  A chunk reads and writes under the store's single-writer transaction, so no client
 * write interleaves with it.  The mirrors are registered before the first chunk (in the
 * transaction that created the link), so every client write since then reached the partner
 * in its own transaction.  Hence a partner document already present when the chunk reaches
 * its source document was written by a mirror and is at least as new as the source: the chunk
 * leaves it alone.  A document deleted since is absent on both sides and the chunk never sees
 * it.  The chunk's own partner writes skip the reverse mirror (partner_backfill_link).
 *
 * Progress document: {state: "backfilling"|"done", done, total, copied, last_id?, rate?, error?}.
 * rate (documents per second) is written by the chunk that finishes the backfill: the rate of
 * the run that finished it, frozen there, so that status keeps reporting the backfill as it ran
 * instead of a figure that falls with the time since the start.
 */
#include "partner/partner_internal.h"
#include "store/store_bulk.h"

#include <string.h>

void duet_partner_progress_clear(duet_partner_progress_t *progress)
{
   if (progress->has_last_id) {
      bson_value_destroy(&progress->last_id);
   }
   memset(progress, 0, sizeof *progress);
}

/* Reads the persisted progress into `progress` (initialized); *found. */
static bool progress_read(duet_partner_link_t *link, duet_session_t *session, duet_partner_progress_t *progress,
                          bool *found, duet_error_t *error)
{
   bson_t doc;
   bson_iter_t iter;
   memset(progress, 0, sizeof *progress);
   if (!duet_store_meta_get(session, PARTNER_META_PROGRESS, link->name, &doc, found, error)) {
      return false;
   }
   if (!*found) {
      return true;
   }
   if (bson_iter_init_find(&iter, &doc, "state") && BSON_ITER_HOLDS_UTF8(&iter)) {
      progress->finished = strcmp(bson_iter_utf8(&iter, NULL), "done") == 0;
   }
   if (bson_iter_init_find(&iter, &doc, "done")) {
      progress->done = bson_iter_as_int64(&iter);
   }
   if (bson_iter_init_find(&iter, &doc, "total")) {
      progress->total_estimate = bson_iter_as_int64(&iter);
   }
   if (bson_iter_init_find(&iter, &doc, "copied")) {
      progress->copied = bson_iter_as_int64(&iter);
   }
   if (bson_iter_init_find(&iter, &doc, "last_id")) {
      bson_value_copy(bson_iter_value(&iter), &progress->last_id);
      progress->has_last_id = true;
   }
   if (bson_iter_init_find(&iter, &doc, "rate") && BSON_ITER_HOLDS_NUMBER(&iter)) {
      progress->rate = bson_iter_as_double(&iter);
   }
   bson_destroy(&doc);
   return true;
}

static bool progress_write(duet_partner_link_t *link, duet_session_t *session, const duet_partner_progress_t *progress,
                           duet_error_t *error)
{
   bson_t doc;
   bson_init(&doc);
   BSON_APPEND_UTF8(&doc, "state", progress->finished ? "done" : "backfilling");
   BSON_APPEND_INT64(&doc, "done", progress->done);
   BSON_APPEND_INT64(&doc, "total", progress->total_estimate);
   BSON_APPEND_INT64(&doc, "copied", progress->copied);
   if (progress->has_last_id) {
      BSON_APPEND_VALUE(&doc, "last_id", &progress->last_id);
   }
   if (progress->finished) {
      BSON_APPEND_DOUBLE(&doc, "rate", progress->rate);
   }
   bool ok = duet_store_meta_put(session, PARTNER_META_PROGRESS, link->name, &doc, error);
   bson_destroy(&doc);
   return ok;
}

/* Documents per second of the current run, `done_in_run` documents by now (0 before a run). */
static double run_rate(const duet_partner_link_t *link, int64_t done_in_run)
{
   int64_t started = atomic_load(&((duet_partner_link_t *)link)->run_started_us);
   if (!started) {
      return 0;
   }
   double seconds = (double)(bson_get_monotonic_time() - started) / 1e6;
   return seconds > 0 ? (double)done_in_run / seconds : 0;
}

/* The rate of a backfill in progress: the current run's.  A finished one keeps the rate
 * frozen by its last chunk (progress_read; 0 when none was recorded). */
static void progress_rate(const duet_partner_link_t *link, duet_partner_progress_t *progress)
{
   if (!progress->finished) {
      progress->rate = run_rate(link, atomic_load(&((duet_partner_link_t *)link)->run_done));
   }
}

bool duet_partner_progress_get(duet_partner_link_t *link, duet_session_t *session, duet_partner_progress_t *progress,
                               duet_error_t *error)
{
   bool found = false;
   if (!progress_read(link, session, progress, &found, error)) {
      return false;
   }
   if (!found) {
      duet_error_set(error, DUET_ERR_NO_SUCH_KEY, "partner link %s has no migration progress", link->name);
      return false;
   }
   progress_rate(link, progress);
   return true;
}

/* Rewrites one source document in place through the forward transform; *copied when it changed. */
static bool backfill_in_place(duet_partner_link_t *link, duet_session_t *session, const bson_t *doc, int64_t now_ms,
                              bool *copied, duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   bson_t transformed;
   bool changed = false;
   *copied = false;
   if (!partner_transform_apply_at(link->transform, DUET_PARTNER_FORWARD, doc, now_ms, &transformed, error)) {
      bson_destroy(&transformed);
      return false;
   }
   bool ok =
       duet_store_update(session, spec->database, spec->source, doc, &transformed, DUET_STORE_REPLACE, &changed, error);
   *copied = changed;
   bson_destroy(&transformed);
   return ok;
}

/* "backfill of partner link L stopped at source document {_id: ...}" around error. */
static void backfill_wrap(duet_partner_link_t *link, const bson_value_t *source_id, duet_error_t *error)
{
   bson_t wrapper;
   bson_init(&wrapper);
   bson_append_value(&wrapper, "_id", 3, source_id);
   char *id_json = bson_as_relaxed_extended_json(&wrapper, NULL);
   duet_error_wrap(error, "backfill of partner link %s stopped at source document %s", link->name, id_json);
   bson_free(id_json);
   bson_destroy(&wrapper);
}

/* One chunk as read: the source _ids (owned values) and, for a partner spec, forward(d) of
 * each document (owned, in an aligned array), for an in-place spec copies of the documents. */
typedef struct backfill_chunk {
   size_t count;
   bson_value_t *ids;   /* owned array, count owned values */
   bson_t *transformed; /* owned aligned array of count owned documents (partner) */
   bson_t **copies;     /* owned array of count owned documents (in-place) */
} backfill_chunk_t;

static void chunk_init(backfill_chunk_t *chunk, size_t capacity, bool partner)
{
   memset(chunk, 0, sizeof *chunk);
   chunk->ids = bson_malloc0(capacity * sizeof *chunk->ids);
   if (partner) {
      chunk->transformed = bson_aligned_alloc0(BSON_ALIGNOF(bson_t), capacity * sizeof *chunk->transformed);
   } else {
      chunk->copies = bson_malloc0(capacity * sizeof *chunk->copies);
   }
}

static void chunk_clear(backfill_chunk_t *chunk)
{
   for (size_t i = 0; i < chunk->count; i++) {
      bson_value_destroy(&chunk->ids[i]);
      if (chunk->transformed) {
         bson_destroy(&chunk->transformed[i]);
      } else {
         bson_destroy(chunk->copies[i]);
      }
   }
   bson_free(chunk->ids);
   bson_free(chunk->transformed);
   bson_free(chunk->copies);
   memset(chunk, 0, sizeof *chunk);
}

/* Reads up to `capacity` source documents after the position into `chunk` (a partner spec
 * transforms them as they are read: no copy of the source is kept). */
static bool chunk_read(duet_partner_link_t *link, duet_session_t *session, const duet_partner_progress_t *progress,
                       size_t capacity, int64_t now_ms, backfill_chunk_t *chunk, duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   duet_store_cursor_t *cursor = NULL;
   duet_store_bound_t lower = {progress->has_last_id ? &progress->last_id : NULL, false};
   if (!duet_store_scan(session, spec->database, spec->source, progress->has_last_id ? &lower : NULL, NULL, false,
                        &cursor, error)) {
      return false;
   }
   bool ok = true;
   while (ok && chunk->count < capacity) {
      const bson_t *doc = NULL;
      bson_iter_t id;
      ok = duet_store_cursor_next(cursor, &doc, error);
      if (!ok || !doc) {
         break;
      }
      if (!bson_iter_init_find(&id, doc, "_id")) {
         duet_error_set(error, DUET_ERR_INTERNAL, "a stored document of %s.%s has no _id", spec->database,
                        spec->source);
         ok = false;
         break;
      }
      size_t i = chunk->count;
      bson_value_copy(bson_iter_value(&id), &chunk->ids[i]);
      if (chunk->transformed) {
         ok = partner_transform_apply_at(link->transform, DUET_PARTNER_FORWARD, doc, now_ms, &chunk->transformed[i],
                                         error);
         if (!ok) {
            backfill_wrap(link, &chunk->ids[i], error);
         }
      } else {
         chunk->copies[i] = bson_copy(doc);
      }
      chunk->count++; /* the failed transform's output is initialized too: chunk_clear frees it */
   }
   duet_store_cursor_destroy(cursor);
   return ok;
}

/* Writes the chunk: a partner spec inserts each forward(d) whose partner _id is missing, in
 * one bulk insert (a present one was written by a mirror and is never older: it stays);
 * in-place rewrites each document.  *copied counts the documents written. */
static bool chunk_write(duet_partner_link_t *link, duet_session_t *session, const backfill_chunk_t *chunk,
                        int64_t now_ms, int64_t *copied, duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   bool ok = true;
   *copied = 0;
   partner_backfill_link = link; /* the partner's reverse mirror skips these writes */
   if (chunk->transformed) {
      const bson_t **docs = bson_malloc((chunk->count ? chunk->count : 1) * sizeof *docs);
      bool *inserted = bson_malloc0((chunk->count ? chunk->count : 1) * sizeof *inserted);
      size_t failed = chunk->count;
      for (size_t i = 0; i < chunk->count; i++) {
         docs[i] = &chunk->transformed[i];
      }
      ok = duet_store_insert_bulk(session, spec->database, spec->partner, docs, chunk->count,
                                  DUET_STORE_BULK_SKIP_EXISTING, inserted, &failed, error);
      if (!ok && failed < chunk->count) {
         backfill_wrap(link, &chunk->ids[failed], error);
      }
      for (size_t i = 0; ok && i < chunk->count; i++) {
         *copied += inserted[i] ? 1 : 0;
      }
      bson_free(docs);
      bson_free(inserted);
   } else {
      for (size_t i = 0; ok && i < chunk->count; i++) {
         bool changed = false;
         ok = backfill_in_place(link, session, chunk->copies[i], now_ms, &changed, error);
         if (!ok) {
            backfill_wrap(link, &chunk->ids[i], error);
         }
         *copied += changed ? 1 : 0;
      }
   }
   partner_backfill_link = NULL;
   return ok;
}

/* Records the error of a failed chunk in the progress document (its own transaction). */
static void backfill_record_error(duet_partner_link_t *link, duet_session_t *session, const duet_error_t *failure)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t doc, updated;
   bool found = false;
   if (duet_store_meta_get(session, PARTNER_META_PROGRESS, link->name, &doc, &found, &error) && found) {
      bson_init(&updated);
      bson_copy_to_excluding_noinit(&doc, &updated, "error", NULL);
      BSON_APPEND_UTF8(&updated, "error", failure->message);
      duet_store_meta_put(session, PARTNER_META_PROGRESS, link->name, &updated, &error);
      bson_destroy(&updated);
      bson_destroy(&doc);
   }
   duet_error_clear(&error);
}

bool duet_partner_backfill_step(duet_partner_link_t *link, duet_session_t *session, bool *finished, duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   duet_partner_progress_t progress;
   backfill_chunk_t chunk;
   size_t capacity = (size_t)spec->chunk_size;
   int64_t now_ms = partner_now_ms(); /* $$NOW of this chunk */
   int64_t copied = 0;
   bool found = false, ok = false;
   *finished = false;
   memset(&progress, 0, sizeof progress);
   chunk_init(&chunk, capacity, spec->strategy != DUET_PARTNER_STRATEGY_IN_PLACE);
   if (!duet_session_begin(session, error)) {
      chunk_clear(&chunk);
      return false;
   }
   if (!progress_read(link, session, &progress, &found, error)) {
      goto fail;
   }
   if (!found) {
      duet_error_set(error, DUET_ERR_NO_SUCH_KEY, "partner link %s has no migration progress (retired?)", link->name);
      goto fail;
   }
   if (progress.finished) {
      *finished = true;
      duet_session_abort(session);
      duet_partner_progress_clear(&progress);
      chunk_clear(&chunk);
      return true;
   }
   /* read the chunk first (bounded: chunk_size documents), then write with no cursor open */
   if (!chunk_read(link, session, &progress, capacity, now_ms, &chunk, error) ||
       !chunk_write(link, session, &chunk, now_ms, &copied, error)) {
      goto fail;
   }
   progress.copied += copied;
   if (chunk.count > 0) {
      if (progress.has_last_id) {
         bson_value_destroy(&progress.last_id);
      }
      bson_value_copy(&chunk.ids[chunk.count - 1], &progress.last_id);
      progress.has_last_id = true;
   }
   progress.done += (int64_t)chunk.count;
   progress.finished = chunk.count < capacity;
   if (progress.finished) {
      /* freeze the rate of the run as it ran, this chunk included */
      progress.rate = run_rate(link, atomic_load(&link->run_done) + (int64_t)chunk.count);
   }
   if (!progress_write(link, session, &progress, error) || !duet_session_commit(session, error)) {
      goto fail;
   }
   atomic_fetch_add(&link->run_done, (int64_t)chunk.count);
   *finished = progress.finished;
   ok = true;

fail:
   if (!ok) {
      duet_session_abort(session);
   }
   chunk_clear(&chunk);
   duet_partner_progress_clear(&progress);
   return ok;
}

bool duet_partner_backfill_run(duet_partner_link_t *link, duet_session_t *session, duet_partner_progress_fn fn,
                               void *context, duet_error_t *error)
{
   atomic_store(&link->run_done, 0);
   atomic_store(&link->run_started_us, bson_get_monotonic_time());
   for (;;) {
      bool finished = false;
      if (!duet_partner_backfill_step(link, session, &finished, error)) {
         backfill_record_error(link, session, error);
         return false;
      }
      if (fn) {
         duet_partner_progress_t progress;
         bool keep_going = true;
         if (duet_partner_progress_get(link, session, &progress, error)) {
            keep_going = fn(&progress, context);
         } else {
            return false;
         }
         duet_partner_progress_clear(&progress);
         if (!keep_going) {
            return true;
         }
      }
      if (finished) {
         return true;
      }
   }
}
