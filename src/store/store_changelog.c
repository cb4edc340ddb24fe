/*
 * store_changelog.c — the change log: one row per event in duet_changelog,
 * written in the transaction of the write it describes, keyed by its cluster
 * time (BSON Timestamp packed as t << 32 | i, strictly increasing).  Reading
 * rebuilds MongoDB's change-event fields; retention drops the oldest rows by
 * age and by total size and remembers the newest dropped time (the horizon)
 * so a reader resuming before it gets 286 ChangeStreamHistoryLost.
 */
#include "store/store_internal.h"

#include <string.h>

#define PRUNE_EVERY_COMMITS 64

static void bind_doc(sqlite3_stmt *stmt, int index, const bson_t *doc)
{
   if (doc) {
      sqlite3_bind_blob(stmt, index, bson_get_data(doc), (int)doc->len, SQLITE_STATIC);
   } else {
      sqlite3_bind_null(stmt, index);
   }
}

bool duet_store_changelog_append(duet_session_t *session, const duet_store_change_entry_t *entry,
                                 duet_error_t *error)
{
   duet_store_ts_t ts;
   if (!duet_store_next_ts(session, &ts, error)) {
      return false;
   }
   sqlite3_stmt *stmt = duet_store_stmt(session,
                                        "INSERT INTO duet_changelog(ts, wall, op, db, coll, doc_key, update_desc, "
                                        "post, pre, extra, size) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                        error);
   if (!stmt) {
      return false;
   }
   bson_t key = BSON_INITIALIZER;
   if (entry->id) {
      bson_append_value(&key, "_id", 3, entry->id);
   }
   int64_t size = 48 + (int64_t)strlen(entry->db) + (entry->coll ? (int64_t)strlen(entry->coll) : 0) +
                  (entry->id ? key.len : 0) + (entry->update_description ? entry->update_description->len : 0) +
                  (entry->post ? entry->post->len : 0) + (entry->pre ? entry->pre->len : 0) +
                  (entry->extra ? entry->extra->len : 0);
   sqlite3_bind_int64(stmt, 1, (int64_t)ts);
   sqlite3_bind_int64(stmt, 2, duet_store_now_ms());
   sqlite3_bind_text(stmt, 3, entry->op, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 4, entry->db, -1, SQLITE_STATIC);
   if (entry->coll) {
      sqlite3_bind_text(stmt, 5, entry->coll, -1, SQLITE_STATIC);
   }
   bind_doc(stmt, 6, entry->id ? &key : NULL);
   bind_doc(stmt, 7, entry->update_description);
   bind_doc(stmt, 8, entry->post);
   bind_doc(stmt, 9, entry->pre);
   bind_doc(stmt, 10, entry->extra);
   sqlite3_bind_int64(stmt, 11, size);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   bson_destroy(&key);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "append to the change log", error);
   }
   session->changelog_bytes += size;
   return true;
}

static bool append_column_doc(bson_t *event, const char *field, sqlite3_stmt *stmt, int column)
{
   if (sqlite3_column_type(stmt, column) == SQLITE_NULL) {
      return true;
   }
   bson_t view;
   if (!bson_init_static(&view, sqlite3_column_blob(stmt, column), (size_t)sqlite3_column_bytes(stmt, column))) {
      return false;
   }
   if (field) {
      bson_append_document(event, field, -1, &view);
   } else {
      bson_concat(event, &view);
   }
   return true;
}

static bool read_meta_int(duet_session_t *session, const char *key, int64_t *value, duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(session, "SELECT value FROM duet_meta WHERE key = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   *value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
   sqlite3_reset(stmt);
   return rc == SQLITE_ROW || rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "read meta", error);
}

static bool read_events(duet_session_t *session, duet_store_ts_t after, size_t limit, duet_store_change_fn fn,
                        void *context, duet_error_t *error)
{
   int64_t horizon;
   if (!read_meta_int(session, "changelog_horizon", &horizon, error)) {
      return false;
   }
   if (after != 0 && after < (duet_store_ts_t)horizon) {
      duet_error_set(error, DUET_ERR_CHANGE_STREAM_HISTORY_LOST,
                     "Resume of change stream was not possible, as the resume point may no longer be in the oplog.");
      return false;
   }
   sqlite3_stmt *stmt = duet_store_stmt(session,
                                        "SELECT ts, wall, op, db, coll, doc_key, update_desc, post, pre, extra "
                                        "FROM duet_changelog WHERE ts > ? ORDER BY ts LIMIT ?",
                                        error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, (int64_t)after);
   sqlite3_bind_int64(stmt, 2, limit ? (int64_t)limit : -1);
   int rc;
   bool ok = true;
   while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      duet_store_ts_t ts = (duet_store_ts_t)sqlite3_column_int64(stmt, 0);
      bson_t event = BSON_INITIALIZER;
      BSON_APPEND_TIMESTAMP(&event, "clusterTime", (uint32_t)(ts >> 32), (uint32_t)ts);
      BSON_APPEND_DATE_TIME(&event, "wallTime", sqlite3_column_int64(stmt, 1));
      BSON_APPEND_UTF8(&event, "operationType", (const char *)sqlite3_column_text(stmt, 2));
      bson_t ns;
      BSON_APPEND_DOCUMENT_BEGIN(&event, "ns", &ns);
      BSON_APPEND_UTF8(&ns, "db", (const char *)sqlite3_column_text(stmt, 3));
      if (sqlite3_column_type(stmt, 4) != SQLITE_NULL) {
         BSON_APPEND_UTF8(&ns, "coll", (const char *)sqlite3_column_text(stmt, 4));
      }
      bson_append_document_end(&event, &ns);
      bool well_formed = append_column_doc(&event, "documentKey", stmt, 5) &&
                         append_column_doc(&event, "updateDescription", stmt, 6) &&
                         append_column_doc(&event, "fullDocument", stmt, 7) &&
                         append_column_doc(&event, "fullDocumentBeforeChange", stmt, 8) &&
                         append_column_doc(&event, NULL, stmt, 9);
      if (!well_formed) {
         bson_destroy(&event);
         duet_error_set(error, DUET_ERR_INTERNAL, "change log entry %llu is not valid BSON", (unsigned long long)ts);
         ok = false;
         break;
      }
      bool more = fn(&event, ts, context);
      bson_destroy(&event);
      if (!more) {
         break;
      }
   }
   if (ok && rc != SQLITE_ROW && rc != SQLITE_DONE) {
      ok = duet_store_sqlite_error(session->db, rc, "read the change log", error);
   }
   sqlite3_reset(stmt);
   return ok;
}

bool duet_store_changelog_read(duet_session_t *session, duet_store_ts_t after, size_t limit,
                               duet_store_change_fn fn, void *context, duet_error_t *error)
{
   /* horizon and rows from one snapshot */
   bool own_snapshot = !session->in_write && !session->in_read;
   if (own_snapshot && !duet_session_begin_read(session, error)) {
      return false;
   }
   bool ok = read_events(session, after, limit, fn, context, error);
   if (own_snapshot) {
      duet_session_end_read(session);
   }
   return ok;
}

bool duet_store_changelog_latest(duet_session_t *session, duet_store_ts_t *latest, duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(
      session,
      "SELECT max(coalesce((SELECT max(ts) FROM duet_changelog), 0),"
      " (SELECT value FROM duet_meta WHERE key = 'changelog_horizon'))",
      error);
   if (!stmt) {
      return false;
   }
   int rc = sqlite3_step(stmt);
   *latest = rc == SQLITE_ROW ? (duet_store_ts_t)sqlite3_column_int64(stmt, 0) : 0;
   sqlite3_reset(stmt);
   return rc == SQLITE_ROW || duet_store_sqlite_error(session->db, rc, "read the change log", error);
}

/* Deletes rows with ts <= `upto`, moving the horizon and the byte count. */
static bool drop_upto(duet_session_t *session, int64_t upto, duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(
      session, "SELECT coalesce(sum(size), 0), max(ts) FROM duet_changelog WHERE ts <= ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, upto);
   int rc = sqlite3_step(stmt);
   int64_t bytes = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
   bool any = rc == SQLITE_ROW && sqlite3_column_type(stmt, 1) != SQLITE_NULL;
   int64_t newest = any ? sqlite3_column_int64(stmt, 1) : 0;
   sqlite3_reset(stmt);
   if (rc != SQLITE_ROW) {
      return duet_store_sqlite_error(session->db, rc, "prune the change log", error);
   }
   if (!any) {
      return true;
   }
   stmt = duet_store_stmt(session, "DELETE FROM duet_changelog WHERE ts <= ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, newest);
   rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "prune the change log", error);
   }
   stmt = duet_store_stmt(session,
                          "UPDATE duet_meta SET value = CASE key WHEN 'changelog_horizon' THEN max(value, ?1) "
                          "ELSE max(value - ?2, 0) END WHERE key IN ('changelog_horizon', 'changelog_bytes')",
                          error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, newest);
   sqlite3_bind_int64(stmt, 2, bytes);
   rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   return rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "prune the change log", error);
}

static bool prune_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   (void)arg;
   const duet_store_options_t *options = &session->store->options;
   if (options->changelog_max_age_seconds > 0) {
      int64_t cutoff_seconds = duet_store_now_ms() / 1000 - options->changelog_max_age_seconds;
      if (cutoff_seconds > 0 && !drop_upto(session, (int64_t)duet_store_ts_make((uint32_t)cutoff_seconds, 0), error)) {
         return false;
      }
   }
   if (options->changelog_max_bytes > 0) {
      int64_t bytes;
      if (!read_meta_int(session, "changelog_bytes", &bytes, error)) {
         return false;
      }
      int64_t excess = bytes - options->changelog_max_bytes;
      if (excess > 0) {
         sqlite3_stmt *stmt = duet_store_stmt(session, "SELECT ts, size FROM duet_changelog ORDER BY ts", error);
         if (!stmt) {
            return false;
         }
         int64_t freed = 0, upto = 0;
         int rc;
         while (freed < excess && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            upto = sqlite3_column_int64(stmt, 0);
            freed += sqlite3_column_int64(stmt, 1);
         }
         sqlite3_reset(stmt);
         if (upto && !drop_upto(session, upto, error)) {
            return false;
         }
      }
   }
   return true;
}

bool duet_store_changelog_prune(duet_session_t *session, duet_error_t *error)
{
   return duet_store_in_write(session, prune_work, NULL, error);
}

void duet_store_changelog_after_commit(duet_session_t *session)
{
   unsigned count = atomic_fetch_add(&session->store->commits_since_prune, 1) + 1;
   if (count < PRUNE_EVERY_COMMITS) {
      return;
   }
   atomic_store(&session->store->commits_since_prune, 0);
   duet_error_t ignored = DUET_ERROR_INIT;
   /* Retention is best effort here: a failure (full disk) leaves the log longer
    * and is retried after the next PRUNE_EVERY_COMMITS commits. */
   duet_store_changelog_prune(session, &ignored);
   duet_error_clear(&ignored);
}
