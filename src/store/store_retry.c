/*
 * store_retry.c — durable retryable-write records (duet/store_retry.h): one row per logical
 * session in duet_retryable_writes(lsid, txn_number, command, reply, written_ms), written in the
 * caller's write transaction.
 */
#include "store/store_internal.h"

#include <duet/store_retry.h>

#include <string.h>

typedef struct retry_put_args {
   const uint8_t *lsid;
   int64_t txn_number;
   const char *command;
   const bson_t *reply;
} retry_put_args_t;

static bool retry_put_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   retry_put_args_t *args = arg;
   sqlite3_stmt *stmt = duet_store_stmt(session,
                                        "INSERT OR REPLACE INTO duet_retryable_writes"
                                        "(lsid, txn_number, command, reply, written_ms) VALUES(?, ?, ?, ?, ?)",
                                        error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_blob(stmt, 1, args->lsid, 16, SQLITE_STATIC);
   sqlite3_bind_int64(stmt, 2, args->txn_number);
   sqlite3_bind_text(stmt, 3, args->command, -1, SQLITE_STATIC);
   sqlite3_bind_blob(stmt, 4, bson_get_data(args->reply), (int)args->reply->len, SQLITE_STATIC);
   sqlite3_bind_int64(stmt, 5, duet_store_now_ms());
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   return rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "record a retryable write", error);
}

bool duet_store_retry_put(duet_session_t *session, const uint8_t lsid[16], int64_t txn_number, const char *command,
                          const bson_t *reply, duet_error_t *error)
{
   retry_put_args_t args = {lsid, txn_number, command, reply};
   return duet_store_in_write(session, retry_put_work, &args, error);
}

bool duet_store_retry_get(duet_session_t *session, const uint8_t lsid[16], duet_store_retry_record_t *record,
                          bool *found, duet_error_t *error)
{
   *found = false;
   sqlite3_stmt *stmt = duet_store_stmt(
      session, "SELECT txn_number, command, reply FROM duet_retryable_writes WHERE lsid = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_blob(stmt, 1, lsid, 16, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   bool ok = true;
   if (rc == SQLITE_ROW) {
      bson_t view;
      const char *command = (const char *)sqlite3_column_text(stmt, 1);
      if (!command || strlen(command) >= sizeof record->command ||
          !bson_init_static(&view, sqlite3_column_blob(stmt, 2), (size_t)sqlite3_column_bytes(stmt, 2))) {
         duet_error_set(error, DUET_ERR_INTERNAL, "the retryable-write record of a session is damaged");
         ok = false;
      } else {
         record->txn_number = sqlite3_column_int64(stmt, 0);
         snprintf(record->command, sizeof record->command, "%s", command);
         bson_copy_to(&view, &record->reply);
         *found = true;
      }
   } else if (rc != SQLITE_DONE) {
      ok = duet_store_sqlite_error(session->db, rc, "read a retryable-write record", error);
   }
   sqlite3_reset(stmt);
   return ok;
}

void duet_store_retry_record_clear(duet_store_retry_record_t *record)
{
   bson_destroy(&record->reply);
   memset(record, 0, sizeof *record);
}

typedef struct retry_prune_args {
   int64_t before_ms;
   int64_t *pruned;
} retry_prune_args_t;

static bool retry_prune_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   retry_prune_args_t *args = arg;
   sqlite3_stmt *stmt = duet_store_stmt(session, "DELETE FROM duet_retryable_writes WHERE written_ms < ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, args->before_ms);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "prune retryable-write records", error);
   }
   *args->pruned = sqlite3_changes(session->db);
   return true;
}

bool duet_store_retry_prune(duet_session_t *session, int64_t before_ms, int64_t *pruned, duet_error_t *error)
{
   int64_t ignored = 0;
   retry_prune_args_t args = {before_ms, pruned ? pruned : &ignored};
   return duet_store_in_write(session, retry_prune_work, &args, error);
}
