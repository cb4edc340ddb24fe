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
 * Progress document: {state: "backfilling"|"done", done, total, copied, last_id?, error?}.
 */
#include "partner/partner_internal.h"

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
   bool ok = duet_store_meta_put(session, PARTNER_META_PROGRESS, link->name, &doc, error);
   bson_destroy(&doc);
   return ok;
}

static void progress_rate(const duet_partner_link_t *link, duet_partner_progress_t *progress)
{
   progress->rate = 0;
   int64_t started = atomic_load(&((duet_partner_link_t *)link)->run_started_us);
   if (started) {
      double seconds = (double)(bson_get_monotonic_time() - started) / 1e6;
      if (seconds > 0) {
         progress->rate = (double)atomic_load(&((duet_partner_link_t *)link)->run_done) / seconds;
      }
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

/* Writes one source document's counterpart (copy, or in-place rewrite); *copied when it wrote. */
static bool backfill_one(duet_partner_link_t *link, duet_session_t *session, const bson_t *doc, bool *copied,
                         duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   bson_t transformed, existing;
   bson_iter_t iter;
   bool ok, found = false;
   *copied = false;
   if (!duet_partner_transform_apply(link->transform, DUET_PARTNER_FORWARD, doc, &transformed, error)) {
      bson_destroy(&transformed);
      return false;
   }
   if (spec->strategy == DUET_PARTNER_STRATEGY_IN_PLACE) {
      bool changed = false;
      ok = duet_store_update(session, spec->database, spec->source, doc, &transformed, DUET_STORE_REPLACE, &changed,
                             error);
      *copied = changed;
      bson_destroy(&transformed);
      return ok;
   }
   bson_iter_init_find(&iter, &transformed, "_id");
   ok = duet_store_find_id(session, spec->database, spec->partner, bson_iter_value(&iter), &existing, &found, error);
   if (ok && found) {
      bson_destroy(&existing); /* written by a mirror: newer or equal, keep it */
   } else if (ok) {
      ok = duet_store_insert(session, spec->database, spec->partner, &transformed, NULL, error);
      *copied = ok;
   }
   bson_destroy(&transformed);
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
   duet_store_cursor_t *cursor = NULL;
   bson_t **chunk = bson_malloc0((size_t)spec->chunk_size * sizeof *chunk);
   size_t chunk_count = 0;
   bool found = false, ok = false;
   *finished = false;
   memset(&progress, 0, sizeof progress);
   if (!duet_session_begin(session, error)) {
      bson_free(chunk);
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
      bson_free(chunk);
      return true;
   }
   /* read the chunk first (bounded: chunk_size copies), then write with no cursor open */
   duet_store_bound_t lower = {progress.has_last_id ? &progress.last_id : NULL, false};
   if (!duet_store_scan(session, spec->database, spec->source, progress.has_last_id ? &lower : NULL, NULL, false,
                        &cursor, error)) {
      goto fail;
   }
   while (chunk_count < (size_t)spec->chunk_size) {
      const bson_t *doc = NULL;
      if (!duet_store_cursor_next(cursor, &doc, error)) {
         goto fail;
      }
      if (!doc) {
         break;
      }
      chunk[chunk_count++] = bson_copy(doc);
   }
   duet_store_cursor_destroy(cursor);
   cursor = NULL;
   partner_backfill_link = link;
   for (size_t i = 0; i < chunk_count; i++) {
      bool copied = false;
      if (!backfill_one(link, session, chunk[i], &copied, error)) {
         bson_iter_t id;
         bson_iter_init_find(&id, chunk[i], "_id");
         char *id_json = NULL;
         bson_t wrapper;
         bson_init(&wrapper);
         bson_append_iter(&wrapper, "_id", 3, &id);
         id_json = bson_as_relaxed_extended_json(&wrapper, NULL);
         duet_error_wrap(error, "backfill of partner link %s stopped at source document %s", link->name, id_json);
         bson_free(id_json);
         bson_destroy(&wrapper);
         partner_backfill_link = NULL;
         goto fail;
      }
      progress.copied += copied ? 1 : 0;
   }
   partner_backfill_link = NULL;
   if (chunk_count > 0) {
      bson_iter_t id;
      bson_iter_init_find(&id, chunk[chunk_count - 1], "_id");
      if (progress.has_last_id) {
         bson_value_destroy(&progress.last_id);
      }
      bson_value_copy(bson_iter_value(&id), &progress.last_id);
      progress.has_last_id = true;
   }
   progress.done += (int64_t)chunk_count;
   progress.finished = chunk_count < (size_t)spec->chunk_size;
   if (!progress_write(link, session, &progress, error) || !duet_session_commit(session, error)) {
      goto fail;
   }
   atomic_fetch_add(&link->run_done, (int64_t)chunk_count);
   *finished = progress.finished;
   ok = true;

fail:
   duet_store_cursor_destroy(cursor);
   if (!ok) {
      duet_session_abort(session);
   }
   for (size_t i = 0; i < chunk_count; i++) {
      bson_destroy(chunk[i]);
   }
   bson_free(chunk);
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
