/*
 * retry.c — retryable writes: the in-memory records of lsid.c in front of the durable ones of
 * duet/store_retry.h (see retry.h).
 */
#include "server/retry.h"

#include "server/lsid.h"

#include <duet/store_retry.h>

#include <string.h>
#include <time.h>

bool duet_retry_lookup(duet_command_ctx_t *ctx, bson_t *reply, bool *replayed, duet_error_t *error)
{
   duet_server_t *server = ctx->server;
   bool known = false;
   if (!duet_lsid_retry_lookup(&server->sessions, ctx->args.lsid, ctx->args.txn_number, ctx->entry->name, reply,
                               replayed, &known, error)) {
      return false;
   }
   if (*replayed || known || !server->store) {
      return true; /* memory holds this session's newest write whenever it holds one */
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(server, &session, error)) {
      return false;
   }
   duet_store_retry_record_t record;
   bool found = false;
   bool ok = duet_store_retry_get(session, ctx->args.lsid, &record, &found, error);
   duet_server_session_release(server, session);
   if (!ok || !found) {
      return ok;
   }
   /* known from now on: the registry takes the record over, then answers as it always does */
   duet_lsid_touch(&server->sessions, ctx->args.lsid, ctx->args.start_us);
   duet_lsid_retry_record(&server->sessions, ctx->args.lsid, record.txn_number, record.command, &record.reply);
   duet_store_retry_record_clear(&record);
   return duet_lsid_retry_lookup(&server->sessions, ctx->args.lsid, ctx->args.txn_number, ctx->entry->name, reply,
                                 replayed, &known, error);
}

bool duet_retry_persist(const duet_command_ctx_t *ctx, duet_session_t *session, const bson_t *reply,
                        duet_error_t *error)
{
   if (!ctx->args.has_lsid || !ctx->args.has_txn_number) {
      return true;
   }
   return duet_store_retry_put(session, ctx->args.lsid, ctx->args.txn_number, ctx->entry->name, reply, error);
}

void duet_retry_prune(duet_server_t *server)
{
   if (!server->store) {
      return;
   }
   duet_session_t *session;
   duet_error_t error = DUET_ERROR_INIT;
   struct timespec now;
   clock_gettime(CLOCK_REALTIME, &now);
   int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
   int64_t pruned = 0;
   if (duet_server_session_acquire(server, &session, &error)) {
      bool ok = duet_store_retry_prune(session, now_ms - (int64_t)DUET_LSID_TIMEOUT_MINUTES * 60 * 1000, &pruned,
                                       &error);
      duet_server_session_release(server, session);
      if (ok) {
         return;
      }
   }
   bson_t attr = BSON_INITIALIZER;
   BSON_APPEND_UTF8(&attr, "error", error.message);
   duet_log_event(server->log, DUET_LOG_WARNING, "STORAGE", 22200, "reaper",
                  "Could not drop old retryable-write records", &attr, 0);
   bson_destroy(&attr);
   duet_error_clear(&error);
}
