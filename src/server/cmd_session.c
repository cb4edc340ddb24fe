/*
 * cmd_session.c — startSession, endSessions, killSessions.  Ending or killing
 * a session also closes the cursors it opened.
 */
#include "server/command.h"

#include <string.h>

static void session_append_lsid(bson_t *parent, const char *key, const uint8_t lsid[16])
{
   bson_t doc;
   bson_append_document_begin(parent, key, -1, &doc);
   bson_append_binary(&doc, "id", 2, BSON_SUBTYPE_UUID, lsid, 16);
   bson_append_document_end(parent, &doc);
}

bool duet_cmd_start_session(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)error;
   uint8_t lsid[16];
   duet_lsid_new(lsid);
   duet_lsid_touch(&ctx->server->sessions, lsid, duet_cursor_now_us());
   session_append_lsid(reply, "id", lsid);
   BSON_APPEND_INT32(reply, "timeoutMinutes", DUET_LSID_TIMEOUT_MINUTES);
   return true;
}

/* Reads the session ids of `{<name>: [{id: UUID}, ...]}` (at most 10,000, as MongoDB);
 * calls `apply` on each once all are valid. */
static bool session_for_each(duet_command_ctx_t *ctx, void (*apply)(duet_server_t *, const uint8_t *),
                             size_t *count, duet_error_t *error)
{
   bson_iter_t iter, element;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, ctx->entry->name, &iter, "array");
      return false;
   }
   for (int pass = 0; pass < 2; pass++) {
      bson_iter_recurse(&iter, &element);
      *count = 0;
      while (bson_iter_next(&element)) {
         char field[64];
         snprintf(field, sizeof field, "%s.%s", ctx->entry->name, bson_iter_key(&element));
         if (!BSON_ITER_HOLDS_DOCUMENT(&element)) {
            duet_error_wrong_type(error, ctx->entry->name, field + strlen(ctx->entry->name) + 1, &element, "object");
            return false;
         }
         bson_iter_t id;
         bson_iter_t child;
         bson_iter_recurse(&element, &child);
         if (!bson_iter_find_descendant(&child, "id", &id) || !BSON_ITER_HOLDS_BINARY(&id)) {
            duet_error_set(error, 40414, "BSON field '%s.id' is missing but a required field", field);
            return false;
         }
         bson_subtype_t subtype;
         uint32_t length;
         const uint8_t *bytes;
         bson_iter_binary(&id, &subtype, &length, &bytes);
         if (subtype != BSON_SUBTYPE_UUID || length != 16) {
            duet_error_set(error, DUET_ERR_BAD_VALUE, "BSON field '%s.id' must be a UUID", field);
            return false;
         }
         if (pass == 1) {
            apply(ctx->server, bytes);
         }
         (*count)++;
      }
      if (pass == 0 && *count > 10000) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "%s accepts at most 10000 session ids, got %zu", ctx->entry->name,
                        *count);
         return false;
      }
   }
   return true;
}

static void session_end_one(duet_server_t *server, const uint8_t *lsid)
{
   duet_cursor_kill_session(&server->cursors, lsid);
   duet_lsid_end(&server->sessions, lsid);
}

bool duet_cmd_end_sessions(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)reply;
   size_t count;
   return session_for_each(ctx, session_end_one, &count, error);
}

bool duet_cmd_kill_sessions(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)reply;
   size_t count;
   if (!session_for_each(ctx, session_end_one, &count, error)) {
      return false;
   }
   if (count == 0) {
      /* an empty list kills every session (no authentication: all belong to the caller) */
      uint8_t ids[64][16];
      size_t n;
      while ((n = duet_lsid_reap(&ctx->server->sessions, INT64_MAX, -1, ids, 64)) > 0) {
         for (size_t i = 0; i < n; i++) {
            duet_cursor_kill_session(&ctx->server->cursors, ids[i]);
         }
      }
   }
   return true;
}
