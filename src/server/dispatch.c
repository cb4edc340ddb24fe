/*
 * dispatch.c — from a command document to a reply: name lookup in the table,
 * flag checks, the global fields every command accepts ($db lsid txnNumber
 * $clusterTime $readPreference readConcern writeConcern apiVersion comment
 * maxTimeMS ...), the handler, the common reply tail, counters and the
 * slow-operation log line.
 */
#include "server/command.h"
#include "server/retry.h"

#include <string.h>

bool duet_command_collection(const duet_command_ctx_t *ctx, bool allow_one, const char **collection,
                             duet_error_t *error)
{
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   if (allow_one && BSON_ITER_HOLDS_NUMBER(&iter) && bson_iter_as_double(&iter) == 1.0) {
      *collection = NULL;
      return duet_store_validate_db_name(ctx->db, error);
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "collection name has invalid type %s",
                     duet_bson_type_name(bson_iter_type(&iter)));
      return false;
   }
   uint32_t length;
   *collection = bson_iter_utf8(&iter, &length);
   if (strlen(*collection) != length) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid namespace specified '%s.%s'", ctx->db, *collection);
      return false;
   }
   return duet_store_validate_namespace(ctx->db, *collection, error);
}

bool duet_command_is_generic_field(const char *key)
{
   static const char *generic[] = {"$db", "lsid", "txnNumber", "$clusterTime", "$readPreference", "readConcern",
                                   "writeConcern", "apiVersion", "apiStrict", "apiDeprecationErrors", "comment",
                                   "maxTimeMS", "autocommit", "startTransaction", "$audit", "$client",
                                   "mayBypassWriteBlocking"};
   for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++) {
      if (strcmp(key, generic[i]) == 0) {
         return true;
      }
   }
   return false;
}

bool duet_command_check_fields(const duet_command_ctx_t *ctx, const char *struct_name, const char *const *known,
                               duet_error_t *error)
{
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter); /* the command name */
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      bool found = duet_command_is_generic_field(key);
      for (size_t i = 0; !found && known[i]; i++) {
         found = strcmp(key, known[i]) == 0;
      }
      if (!found) {
         duet_error_set(error, 40415, "BSON field '%s.%s' is an unknown field.", struct_name, key);
         return false;
      }
   }
   return true;
}

static bool dispatch_is_type(const bson_iter_t *iter, bson_type_t type)
{
   return bson_iter_type(iter) == type;
}

static bool dispatch_is_number(const bson_iter_t *iter)
{
   bson_type_t type = bson_iter_type(iter);
   return type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 || type == BSON_TYPE_DOUBLE ||
          type == BSON_TYPE_DECIMAL128;
}

static bool dispatch_parse_lsid(const bson_iter_t *field, duet_generic_args_t *args, duet_error_t *error)
{
   if (!dispatch_is_type(field, BSON_TYPE_DOCUMENT)) {
      duet_error_wrong_type(error, "OperationSessionInfo", "lsid", field, "object");
      return false;
   }
   bson_iter_t child;
   bool have_id = false;
   bson_iter_recurse(field, &child);
   while (bson_iter_next(&child)) {
      const char *key = bson_iter_key(&child);
      if (strcmp(key, "id") == 0) {
         bson_subtype_t subtype;
         uint32_t length;
         const uint8_t *bytes;
         if (!dispatch_is_type(&child, BSON_TYPE_BINARY)) {
            duet_error_wrong_type(error, "OperationSessionInfo.lsid", "id", &child, "binData");
            return false;
         }
         bson_iter_binary(&child, &subtype, &length, &bytes);
         if (subtype != BSON_SUBTYPE_UUID || length != 16) {
            duet_error_set(error, DUET_ERR_BAD_VALUE,
                           "BSON field 'OperationSessionInfo.lsid.id' must be a UUID (binData subtype 4, 16 bytes)");
            return false;
         }
         memcpy(args->lsid, bytes, 16);
         have_id = true;
      } else if (strcmp(key, "uid") != 0) {
         duet_error_set(error, 40415, "BSON field 'OperationSessionInfo.lsid.%s' is an unknown field.", key);
         return false;
      }
   }
   if (!have_id) {
      duet_error_set(error, 40414, "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field");
      return false;
   }
   args->has_lsid = true;
   return true;
}

static bool dispatch_parse_max_time(const bson_iter_t *field, duet_generic_args_t *args, duet_error_t *error)
{
   if (!dispatch_is_number(field)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "maxTimeMS must be a number");
      return false;
   }
   double value = bson_iter_as_double(field);
   if (bson_iter_type(field) == BSON_TYPE_DECIMAL128) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "maxTimeMS must be a number");
      return false;
   }
   if (value < 0 || value > 2147483647.0 || value != (double)(int64_t)value) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s value for maxTimeMS is out of range [0, 2147483647]",
                     value != (double)(int64_t)value ? "non-integral" : "the");
      return false;
   }
   args->max_time_ms = (int64_t)value;
   return true;
}

/* Checks the global fields; unknown other fields are left to the handler. */
static bool dispatch_parse_generic(duet_command_ctx_t *ctx, duet_error_t *error)
{
   duet_generic_args_t *args = &ctx->args;
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bool has_transaction_fields = false;
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "lsid") == 0) {
         if (!dispatch_parse_lsid(&iter, args, error)) {
            return false;
         }
      } else if (strcmp(key, "txnNumber") == 0) {
         if (!dispatch_is_type(&iter, BSON_TYPE_INT64)) {
            duet_error_wrong_type(error, "OperationSessionInfo", "txnNumber", &iter, "long");
            return false;
         }
         args->has_txn_number = true;
         args->txn_number = bson_iter_int64(&iter);
      } else if (strcmp(key, "maxTimeMS") == 0) {
         if (!dispatch_parse_max_time(&iter, args, error)) {
            return false;
         }
      } else if (strcmp(key, "autocommit") == 0 || strcmp(key, "startTransaction") == 0) {
         if (!dispatch_is_type(&iter, BSON_TYPE_BOOL)) {
            duet_error_wrong_type(error, "OperationSessionInfo", key, &iter, "bool");
            return false;
         }
         has_transaction_fields = true;
      } else if (strcmp(key, "$clusterTime") == 0 || strcmp(key, "$readPreference") == 0 ||
                 strcmp(key, "readConcern") == 0 || strcmp(key, "writeConcern") == 0) {
         if (!dispatch_is_type(&iter, BSON_TYPE_DOCUMENT)) {
            duet_error_wrong_type(error, ctx->name, key, &iter, "object");
            return false;
         }
      } else if (strcmp(key, "apiVersion") == 0) {
         if (!dispatch_is_type(&iter, BSON_TYPE_UTF8)) {
            duet_error_wrong_type(error, "APIParametersFromClient", key, &iter, "string");
            return false;
         }
         if (strcmp(bson_iter_utf8(&iter, NULL), "1") != 0) {
            duet_error_set(error, DUET_ERR_API_VERSION_ERROR, "API version must be \"1\"");
            return false;
         }
      } else if (strcmp(key, "apiStrict") == 0 || strcmp(key, "apiDeprecationErrors") == 0) {
         if (!dispatch_is_type(&iter, BSON_TYPE_BOOL)) {
            duet_error_wrong_type(error, "APIParametersFromClient", key, &iter, "bool");
            return false;
         }
      }
      /* comment: any type */
   }
   if (args->has_txn_number && !args->has_lsid) {
      duet_error_set(error, DUET_ERR_INVALID_OPTIONS, "Transaction number requires a session ID to also be specified");
      return false;
   }
   if (has_transaction_fields) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "multi-document transactions are not supported by duetd");
      return false;
   }
   if (args->max_time_ms > 0) {
      args->deadline_us = args->start_us + args->max_time_ms * 1000;
   }
   return true;
}

bool duet_command_check_deadline(const duet_command_ctx_t *ctx, duet_error_t *error)
{
   if (ctx->args.deadline_us && duet_cursor_now_us() >= ctx->args.deadline_us) {
      duet_error_set(error, DUET_ERR_MAX_TIME_MS_EXPIRED, "operation exceeded time limit");
      return false;
   }
   return true;
}

/* Finds the table row and $db; fills ctx or error. */
static bool dispatch_prepare(duet_command_ctx_t *ctx, duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, ctx->command) || !bson_iter_next(&iter)) {
      duet_error_set(error, DUET_ERR_COMMAND_NOT_FOUND, "no such command: ''");
      return false;
   }
   ctx->name = bson_iter_key(&iter);
   ctx->entry = duet_command_find(ctx->name);
   if (ctx->legacy && (!ctx->entry || !(ctx->entry->flags & DUET_CMD_OP_QUERY_OK))) {
      duet_error_set(error, DUET_ERR_UNSUPPORTED_OP_QUERY_COMMAND,
                     "Unsupported OP_QUERY command: %s. The client driver may require an upgrade. For more details "
                     "see https://dochub.mongodb.org/core/legacy-opcode-removal",
                     ctx->name);
      return false;
   }
   if (!ctx->entry) {
      duet_error_set(error, DUET_ERR_COMMAND_NOT_FOUND, "no such command: '%s'", ctx->name);
      return false;
   }
   if (!bson_iter_init_find(&iter, ctx->command, "$db")) {
      duet_error_set(error, 40571, "OP_MSG requests require a $db argument");
      return false;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_wrong_type(error, ctx->name, "$db", &iter, "string");
      return false;
   }
   uint32_t db_length;
   ctx->db = bson_iter_utf8(&iter, &db_length);
   if (db_length == 0 || strlen(ctx->db) != db_length || strpbrk(ctx->db, "/\\. \"$") != NULL || db_length >= 64) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid database name: '%s'", ctx->db);
      return false;
   }
   if ((ctx->entry->flags & DUET_CMD_ADMIN_ONLY) && strcmp(ctx->db, "admin") != 0) {
      duet_error_set(error, DUET_ERR_UNAUTHORIZED, "%s may only be run against the admin database.", ctx->name);
      return false;
   }
   return dispatch_parse_generic(ctx, error);
}

/* After a write: the reply's operationTime is the cluster time the store stamped it with. */
static void dispatch_observe_cluster_time(duet_server_t *server)
{
   duet_session_t *session = NULL;
   duet_store_ts_t latest = 0;
   duet_error_t ignored = DUET_ERROR_INIT;
   if (duet_server_session_acquire(server, &session, &ignored) &&
       duet_store_changelog_latest(session, &latest, &ignored)) {
      duet_clock_advance(&server->clock, (uint32_t)(latest >> 32), (uint32_t)latest);
   }
   duet_server_session_release(server, session);
   duet_error_clear(&ignored);
}

static void dispatch_count(duet_server_t *server, const duet_command_t *entry)
{
   int64_t *counter = &server->op_command;
   if (entry && entry->handler == duet_cmd_get_more) {
      counter = &server->op_getmore;
   }
   __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

void duet_command_dispatch(duet_server_t *server, duet_conn_t *conn, const bson_t *command, bool legacy, bson_t *reply)
{
   duet_command_ctx_t ctx;
   memset(&ctx, 0, sizeof ctx);
   ctx.server = server;
   ctx.conn = conn;
   ctx.command = command;
   ctx.legacy = legacy;
   ctx.args.start_us = duet_cursor_now_us();

   duet_error_t error = DUET_ERROR_INIT;
   bool ok = dispatch_prepare(&ctx, &error);
   dispatch_count(server, ctx.entry);
   if (ok && ctx.args.has_lsid && !(ctx.entry->flags & DUET_CMD_NO_SESSION)) {
      duet_lsid_touch(&server->sessions, ctx.args.lsid, ctx.args.start_us);
   }
   /* a retried retryable write (same lsid and txnNumber) gets the first outcome */
   bool retryable = ok && (ctx.entry->flags & DUET_CMD_WRITE) && ctx.args.has_lsid && ctx.args.has_txn_number;
   bool replayed = false;
   if (retryable) {
      ok = duet_retry_lookup(&ctx, reply, &replayed, &error);
   }
   if (!replayed) {
      if (ok) {
         ok = ctx.entry->handler(&ctx, reply, &error);
      }
      if (ok && retryable) {
         duet_lsid_retry_record(&server->sessions, ctx.args.lsid, ctx.args.txn_number, ctx.entry->name, reply);
      }
   }
   if (ok && !replayed && (ctx.entry->flags & DUET_CMD_WRITE) && server->store) {
      dispatch_observe_cluster_time(server);
   }
   if (ok) {
      BSON_APPEND_DOUBLE(reply, "ok", 1.0);
   } else {
      duet_reply_error(&error, reply); /* drops what the handler wrote */
   }
   duet_reply_append_cluster_time(server, reply);

   int64_t elapsed_ms = (duet_cursor_now_us() - ctx.args.start_us) / 1000;
   bool slow = elapsed_ms >= server->options->slow_ms;
   bool internal = !ok && error.code == DUET_ERR_INTERNAL; /* the server's fault (SQLite, disk): always logged */
   if (slow || internal || (!ok && server->log && server->log->level >= DUET_LOG_DEBUG)) {
      bson_t attr = BSON_INITIALIZER;
      BSON_APPEND_UTF8(&attr, "command", ctx.name ? ctx.name : "");
      BSON_APPEND_UTF8(&attr, "db", ctx.db ? ctx.db : "");
      BSON_APPEND_INT64(&attr, "durationMillis", elapsed_ms);
      if (!ok) {
         BSON_APPEND_INT32(&attr, "errCode", error.code);
         BSON_APPEND_UTF8(&attr, "errMsg", error.message);
      }
      duet_log_level_t level = internal ? DUET_LOG_ERROR : slow ? DUET_LOG_INFO : DUET_LOG_DEBUG;
      duet_log_event(server->log, level, "COMMAND", 51803, conn ? conn->ctx : "-",
                     internal ? "Command failed with an internal error" : slow ? "Slow query" : "Command failed",
                     &attr, 0);
      bson_destroy(&attr);
   }
   duet_error_clear(&error);
}
