/*
 * cmd_stats.c — dbStats and collStats.  The store keeps no running totals, so
 * both count documents and add up their BSON sizes by reading the collections
 * (linear in the data; fine for an administrative command).  Figures the store
 * cannot tell (index sizes, pages on disk per collection) are left out rather
 * than invented; filesystem figures come from statvfs on --dbpath.
 */
#include "server/command.h"
#include "server/query.h"

#include <string.h>
#include <sys/statvfs.h>

/* Documents and BSON bytes of db.coll. */
static bool stats_measure(duet_command_ctx_t *ctx, const char *collection, int64_t *count, int64_t *bytes,
                          duet_error_t *error)
{
   *count = 0;
   *bytes = 0;
   bson_t empty = BSON_INITIALIZER;
   duet_query_spec_t spec = {ctx->db, collection, NULL, NULL, NULL, ctx->args.max_time_ms, NULL};
   bool ok = duet_pipeline_parse(&empty, NULL, &spec.pipeline, error);
   bson_destroy(&empty);
   duet_cursor_source_t source = {NULL, NULL};
   ok = ok && duet_query_open(ctx->server, &spec, &source, error);
   while (ok) {
      const bson_t *doc;
      duet_cursor_step_t step = source.ops->next(source.state, &doc, error);
      if (step == DUET_CURSOR_STEP_END) {
         break;
      }
      if (step != DUET_CURSOR_STEP_DOC) {
         ok = false;
         break;
      }
      (*count)++;
      *bytes += doc->len;
   }
   if (source.ops) {
      source.ops->destroy(source.state);
   }
   return ok;
}

/* The optional `scale` (a positive number; sizes are divided by it). */
static bool stats_scale(duet_command_ctx_t *ctx, int64_t *scale, duet_error_t *error)
{
   *scale = 1;
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, ctx->command, "scale")) {
      if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
         duet_error_wrong_type(error, ctx->entry->name, "scale", &iter, "number");
         return false;
      }
      *scale = bson_iter_as_int64(&iter);
      if (*scale < 1) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Scale factor must be greater than zero");
         return false;
      }
   }
   return true;
}

static int32_t stats_index_count(duet_session_t *session, const char *db, const char *coll)
{
   bson_t specs;
   duet_error_t ignored = DUET_ERROR_INIT;
   int32_t count = 0;
   if (duet_store_list_indexes(session, db, coll, &specs, &ignored)) {
      count = (int32_t)bson_count_keys(&specs);
   }
   bson_destroy(&specs);
   duet_error_clear(&ignored);
   return count;
}

bool duet_cmd_db_stats(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   int64_t scale;
   if (!stats_scale(ctx, &scale, error) || !duet_store_validate_db_name(ctx->db, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   duet_store_collection_info_t *infos = NULL;
   size_t count = 0;
   bool ok = duet_store_list_collections(session, ctx->db, &infos, &count, error);
   int64_t objects = 0, bytes = 0;
   int32_t indexes = 0;
   for (size_t i = 0; ok && i < count; i++) {
      int64_t n, size;
      ok = stats_measure(ctx, infos[i].name, &n, &size, error);
      objects += n;
      bytes += size;
      indexes += stats_index_count(session, ctx->db, infos[i].name);
   }
   duet_server_session_release(ctx->server, session);
   if (ok) {
      BSON_APPEND_UTF8(reply, "db", ctx->db);
      BSON_APPEND_INT64(reply, "collections", (int64_t)count);
      BSON_APPEND_INT64(reply, "views", 0);
      BSON_APPEND_INT64(reply, "objects", objects);
      BSON_APPEND_DOUBLE(reply, "avgObjSize", objects ? (double)bytes / (double)objects : 0.0);
      BSON_APPEND_DOUBLE(reply, "dataSize", (double)bytes / (double)scale);
      BSON_APPEND_INT64(reply, "indexes", indexes);
      BSON_APPEND_DOUBLE(reply, "totalSize", (double)bytes / (double)scale);
      BSON_APPEND_INT64(reply, "scaleFactor", scale);
      struct statvfs fs;
      if (statvfs(ctx->server->options->dbpath, &fs) == 0) {
         double total = (double)fs.f_blocks * (double)fs.f_frsize;
         double used = total - (double)fs.f_bfree * (double)fs.f_frsize;
         BSON_APPEND_DOUBLE(reply, "fsUsedSize", used / (double)scale);
         BSON_APPEND_DOUBLE(reply, "fsTotalSize", total / (double)scale);
      }
   }
   duet_store_collection_infos_free(infos, count);
   return ok;
}

bool duet_cmd_coll_stats(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "collection name has invalid type %s",
                     duet_bson_type_name(bson_iter_type(&iter)));
      return false;
   }
   const char *collection = bson_iter_utf8(&iter, NULL);
   int64_t scale;
   if (!duet_store_validate_namespace(ctx->db, collection, error) || !stats_scale(ctx, &scale, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   duet_store_collection_info_t info;
   bool exists = false;
   bool ok = duet_store_collection_info(session, ctx->db, collection, &info, &exists, error);
   int32_t indexes = 0;
   if (ok && exists) {
      duet_store_collection_info_clear(&info);
      indexes = stats_index_count(session, ctx->db, collection);
   }
   duet_server_session_release(ctx->server, session);
   if (ok && !exists) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "Collection [%s.%s] not found.", ctx->db, collection);
      return false;
   }
   int64_t count = 0, bytes = 0;
   ok = ok && stats_measure(ctx, collection, &count, &bytes, error);
   if (ok) {
      char ns[512];
      snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
      BSON_APPEND_UTF8(reply, "ns", ns);
      BSON_APPEND_INT64(reply, "size", bytes / scale);
      BSON_APPEND_INT64(reply, "count", count);
      if (count > 0) {
         BSON_APPEND_INT64(reply, "avgObjSize", bytes / count);
      }
      BSON_APPEND_INT32(reply, "nindexes", indexes);
      BSON_APPEND_INT64(reply, "scaleFactor", scale);
      BSON_APPEND_BOOL(reply, "capped", false);
   }
   return ok;
}
