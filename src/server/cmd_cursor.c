/*
 * cmd_cursor.c — getMore and killCursors over the cursor registry (cursor.h).
 */
#include "server/command.h"

#include <string.h>

/* Reads the required string field `name` (a collection name); builds "<db>.<collection>" into ns. */
static bool cursor_cmd_namespace(duet_command_ctx_t *ctx, const char *field, char *ns, size_t ns_size,
                                 duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, field)) {
      duet_error_set(error, 40414, "BSON field '%s.%s' is missing but a required field", ctx->entry->name, field);
      return false;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, field, &iter, "string");
      return false;
   }
   uint32_t length;
   const char *collection = bson_iter_utf8(&iter, &length);
   if (length == 0 || strlen(collection) != length) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid namespace specified '%s.%s'", ctx->db, collection);
      return false;
   }
   if ((size_t)snprintf(ns, ns_size, "%s.%s", ctx->db, collection) >= ns_size) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Fully qualified namespace is too long");
      return false;
   }
   return true;
}

bool duet_cmd_get_more(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   if (!BSON_ITER_HOLDS_INT64(&iter)) {
      duet_error_wrong_type(error, "getMore", "getMore", &iter, "long");
      return false;
   }
   int64_t id = bson_iter_int64(&iter);
   char ns[512];
   if (!cursor_cmd_namespace(ctx, "collection", ns, sizeof ns, error)) {
      return false;
   }
   int64_t batch_size = 0;
   if (bson_iter_init_find(&iter, ctx->command, "batchSize")) {
      if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
         duet_error_wrong_type(error, "getMore", "batchSize", &iter, "long");
         return false;
      }
      batch_size = bson_iter_as_int64(&iter);
      if (batch_size < 0) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "BSON field 'batchSize' value must be >= 0, actual value '%lld'",
                        (long long)batch_size);
         return false;
      }
   }
   int64_t max_await_ms = -1;
   if (bson_iter_init_find(&iter, ctx->command, "maxTimeMS")) {
      max_await_ms = ctx->args.max_time_ms; /* validated by the dispatcher */
   }
   return duet_cursor_get_more(&ctx->server->cursors, id, ns, batch_size, max_await_ms, reply, error);
}

bool duet_cmd_kill_cursors(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   char ns[512];
   if (!cursor_cmd_namespace(ctx, "killCursors", ns, sizeof ns, error)) {
      return false;
   }
   bson_iter_t iter, element;
   if (!bson_iter_init_find(&iter, ctx->command, "cursors")) {
      duet_error_set(error, 40414, "BSON field 'killCursors.cursors' is missing but a required field");
      return false;
   }
   if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
      duet_error_wrong_type(error, "killCursors", "cursors", &iter, "array");
      return false;
   }
   bson_iter_recurse(&iter, &element);
   while (bson_iter_next(&element)) {
      if (!BSON_ITER_HOLDS_INT64(&element)) {
         char field[48];
         snprintf(field, sizeof field, "cursors.%s", bson_iter_key(&element));
         duet_error_wrong_type(error, "killCursors", field, &element, "long");
         return false;
      }
   }
   bson_iter_recurse(&iter, &element);
   duet_cursor_kill(&ctx->server->cursors, ns, &element, reply);
   return true;
}
