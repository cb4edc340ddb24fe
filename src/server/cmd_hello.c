/*
 * cmd_hello.c — hello / isMaster / ismaster: the handshake every driver runs
 * first and repeats for monitoring.  duetd presents itself as the primary of
 * a single-member replica set (setName from --replSet), so drivers enable
 * sessions, retryable writes and change streams.  Field types follow what the
 * drivers check (int32 sizes, bool flags, ObjectId electionId, DateTime
 * localTime); topologyVersion and compression are deliberately absent.
 */
#include "server/command.h"

#include <string.h>
#include <sys/time.h>

static int64_t hello_now_ms(void)
{
   struct timeval now;
   gettimeofday(&now, NULL);
   return (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
}

bool duet_cmd_hello(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   bool is_hello = strcmp(ctx->entry->name, "hello") == 0;
   bool hello_ok = false;
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, ctx->command, "helloOk")) {
      hello_ok = bson_iter_as_bool(&iter);
   }
   if (bson_iter_init_find(&iter, ctx->command, "client")) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         duet_error_wrong_type(error, ctx->name, "client", &iter, "object");
         return false;
      }
      if (ctx->conn && ctx->conn->handshake_done) {
         duet_error_set(error, DUET_ERR_CLIENT_METADATA_CANNOT_BE_MUTATED,
                        "The client metadata document may only be sent in the first %s", ctx->name);
         return false;
      }
      if (ctx->conn) {
         ctx->conn->handshake_done = true;
         bson_t attr = BSON_INITIALIZER;
         bson_append_iter(&attr, "client", -1, &iter);
         BSON_APPEND_UTF8(&attr, "remote", ctx->conn->remote);
         duet_log_event(ctx->server->log, DUET_LOG_DEBUG, "NETWORK", 51800, ctx->conn->ctx, "client metadata", &attr,
                        false);
         bson_destroy(&attr);
      }
   }

   const char *address = ctx->conn && ctx->conn->local[0] ? ctx->conn->local : "127.0.0.1:27017";
   const char *set_name = ctx->server->options->repl_set;
   uint32_t seconds, increment;
   duet_clock_now(&ctx->server->clock, &seconds, &increment);
   int64_t now_ms = hello_now_ms();

   bson_t hosts;
   bson_append_array_begin(reply, "hosts", -1, &hosts);
   BSON_APPEND_UTF8(&hosts, "0", address);
   bson_append_array_end(reply, &hosts);
   BSON_APPEND_UTF8(reply, "setName", set_name);
   BSON_APPEND_INT32(reply, "setVersion", 1);
   BSON_APPEND_BOOL(reply, is_hello ? "isWritablePrimary" : "ismaster", true);
   BSON_APPEND_BOOL(reply, "secondary", false);
   BSON_APPEND_UTF8(reply, "primary", address);
   BSON_APPEND_UTF8(reply, "me", address);
   BSON_APPEND_OID(reply, "electionId", &ctx->server->election_id);
   bson_t last_write, op_time;
   bson_append_document_begin(reply, "lastWrite", -1, &last_write);
   bson_append_document_begin(&last_write, "opTime", -1, &op_time);
   bson_append_timestamp(&op_time, "ts", -1, seconds, increment);
   BSON_APPEND_INT64(&op_time, "t", 1);
   bson_append_document_end(&last_write, &op_time);
   BSON_APPEND_DATE_TIME(&last_write, "lastWriteDate", (int64_t)seconds * 1000);
   bson_append_document_begin(&last_write, "majorityOpTime", -1, &op_time);
   bson_append_timestamp(&op_time, "ts", -1, seconds, increment);
   BSON_APPEND_INT64(&op_time, "t", 1);
   bson_append_document_end(&last_write, &op_time);
   BSON_APPEND_DATE_TIME(&last_write, "majorityWriteDate", (int64_t)seconds * 1000);
   bson_append_document_end(reply, &last_write);
   if (hello_ok) {
      BSON_APPEND_BOOL(reply, "helloOk", true);
   }
   BSON_APPEND_INT32(reply, "maxBsonObjectSize", DUET_WIRE_MAX_BSON_SIZE);
   BSON_APPEND_INT32(reply, "maxMessageSizeBytes", DUET_WIRE_MAX_MESSAGE_SIZE);
   BSON_APPEND_INT32(reply, "maxWriteBatchSize", DUET_WIRE_MAX_WRITE_BATCH);
   BSON_APPEND_DATE_TIME(reply, "localTime", now_ms);
   BSON_APPEND_INT32(reply, "logicalSessionTimeoutMinutes", DUET_LSID_TIMEOUT_MINUTES);
   BSON_APPEND_INT32(reply, "connectionId", ctx->conn ? (int32_t)ctx->conn->id : 0);
   BSON_APPEND_INT32(reply, "minWireVersion", 0);
   BSON_APPEND_INT32(reply, "maxWireVersion", DUET_SERVER_MAX_WIRE_VERSION);
   BSON_APPEND_BOOL(reply, "readOnly", false);
   return true;
}
