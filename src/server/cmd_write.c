/*
 * cmd_write.c — insert, update, delete and findAndModify over the store.  One
 * write transaction per command, one savepoint per statement (write_run): a
 * failing statement leaves no trace and becomes a writeError; ordered commands
 * stop there.
 * Matching documents are collected first (through query.h, inside the
 * transaction) and changed afterwards, so an update never meets its own
 * output while scanning.
 */
#include "server/command.h"
#include "server/retry.h"
#include "server/query.h"

#include <duet/mql_match.h>
#include <duet/mql_update.h>

#include <string.h>

/* A view of the document under `iter` (borrowed). */
static void write_document(const bson_iter_t *iter, bson_t *doc)
{
   uint32_t length;
   const uint8_t *data;
   if (BSON_ITER_HOLDS_ARRAY(iter)) {
      bson_iter_array(iter, &length, &data);
   } else {
      bson_iter_document(iter, &length, &data);
   }
   bson_init_static(doc, data, length);
}

typedef struct write_matches {
   bson_t **docs; /* owned copies */
   size_t count;
} write_matches_t;

static void write_matches_clear(write_matches_t *matches)
{
   for (size_t i = 0; i < matches->count; i++) {
      bson_destroy(matches->docs[i]);
   }
   bson_free(matches->docs);
   matches->docs = NULL;
   matches->count = 0;
}

/*
 * Collects the documents of db.coll matching `filter` (borrowed), in `sort`
 * order (may be NULL), at most `limit` (0: all), reading through `session`
 * (inside its write transaction).
 */
static bool write_find(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection, const bson_t *filter,
                       const bson_t *sort, int64_t limit, write_matches_t *matches, duet_error_t *error)
{
   matches->docs = NULL;
   matches->count = 0;
   bson_t stages = BSON_INITIALIZER;
   uint32_t count = 0;
   bson_value_t value;
   duet_match_t *match = NULL;
   duet_query_spec_t spec = {ctx->db, collection, NULL, NULL, NULL, 0, session};
   if (!bson_empty(filter)) {
      value.value_type = BSON_TYPE_DOCUMENT;
      value.value.v_doc.data = (uint8_t *)bson_get_data(filter);
      value.value.v_doc.data_len = filter->len;
      duet_query_append_stage(&stages, &count, "$match", &value);
      if (!duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &match, error)) {
         bson_destroy(&stages);
         return false;
      }
      if (!duet_match_id_equality(match, &spec.id_equals)) {
         spec.id_equals = NULL;
      }
   }
   if (sort && !bson_empty(sort)) {
      value.value_type = BSON_TYPE_DOCUMENT;
      value.value.v_doc.data = (uint8_t *)bson_get_data(sort);
      value.value.v_doc.data_len = sort->len;
      duet_query_append_stage(&stages, &count, "$sort", &value);
   }
   if (limit > 0) {
      value.value_type = BSON_TYPE_INT64;
      value.value.v_int64 = limit;
      duet_query_append_stage(&stages, &count, "$limit", &value);
   }
   bool ok = duet_pipeline_parse(&stages, NULL, &spec.pipeline, error);
   bson_destroy(&stages);
   duet_cursor_source_t source = {NULL, NULL};
   ok = ok && duet_query_open(ctx->server, &spec, &source, error);
   size_t capacity = 0;
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
      if (matches->count == capacity) {
         capacity = capacity ? capacity * 2 : 8;
         matches->docs = bson_realloc(matches->docs, sizeof *matches->docs * capacity);
      }
      matches->docs[matches->count++] = bson_copy(doc);
   }
   if (source.ops) {
      source.ops->destroy(source.state); /* the scan ends before anything is written */
   }
   duet_match_destroy(match);
   if (!ok) {
      write_matches_clear(matches);
   }
   return ok;
}

/* Reads the statements array `field` of the command: every element must be an object. */
static bool write_statements(duet_command_ctx_t *ctx, const char *field, bson_iter_t *statements, uint32_t *count,
                             duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, field)) {
      duet_error_set(error, 40414, "BSON field '%s.%s' is missing but a required field", ctx->entry->name, field);
      return false;
   }
   if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, field, &iter, "array");
      return false;
   }
   *count = 0;
   bson_iter_recurse(&iter, statements);
   bson_iter_t check = *statements;
   while (bson_iter_next(&check)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&check)) {
         char name[48];
         snprintf(name, sizeof name, "%s.%u", field, *count);
         duet_error_wrong_type(error, ctx->entry->name, name, &check, "object");
         return false;
      }
      (*count)++;
   }
   if (*count == 0 || *count > DUET_WIRE_MAX_WRITE_BATCH) {
      duet_error_set(error, DUET_ERR_INVALID_LENGTH, "Write batch sizes must be between 1 and %d. Got %u operations.",
                     DUET_WIRE_MAX_WRITE_BATCH, *count);
      return false;
   }
   return true;
}

static bool write_ordered(duet_command_ctx_t *ctx, bool *ordered, duet_error_t *error)
{
   bson_iter_t iter;
   *ordered = true;
   if (bson_iter_init_find(&iter, ctx->command, "ordered")) {
      if (!BSON_ITER_HOLDS_BOOL(&iter) && !BSON_ITER_HOLDS_NUMBER(&iter)) {
         duet_error_wrong_type(error, ctx->entry->name, "ordered", &iter, "bool");
         return false;
      }
      *ordered = bson_iter_as_bool(&iter);
   }
   if (bson_iter_init_find(&iter, ctx->command, "bypassDocumentValidation") && bson_iter_as_bool(&iter)) {
      duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "bypassDocumentValidation is not supported by duetd");
      return false;
   }
   return true;
}

/* ---- the statement loop of insert, update and delete ---------------------------------------- */

/* Runs statement number `index` (borrowed); false with `failure` set when it fails (a writeError). */
typedef bool (*write_statement_fn)(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection,
                                   const bson_t *statement, int32_t index, void *totals, duet_error_t *failure);

typedef struct write_command {
   const char *field;          /* the statements array: "documents", "updates", "deletes" */
   const char *const *known;   /* the command's own fields, checked first; NULL: not checked here */
   write_statement_fn run;     /* one statement */
   void (*reply)(void *totals, bson_t *reply); /* the command's reply fields (before writeErrors) */
   void *totals;               /* what the statements add up, passed to run and reply */
   int64_t *counter;           /* serverStatus opcounter, += statements attempted */
} write_command_t;

/*
 * One write transaction, one savepoint per statement: a failing statement is rolled back and
 * becomes a writeErrors entry at its index, and ends an ordered command; maxTimeMS running out
 * ends it with a writeError too.  The reply is built before the commit, so that a retryable
 * write's record (retry.h) commits with the write.  False (error set) when the command or its
 * transaction fails.
 */
static bool write_run(duet_command_ctx_t *ctx, const write_command_t *command, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   bool ordered;
   bson_iter_t statements;
   uint32_t count;
   if (!duet_command_collection(ctx, false, &collection, error) ||
       (command->known && !duet_command_check_fields(ctx, ctx->entry->name, command->known, error)) ||
       !write_ordered(ctx, &ordered, error) || !write_statements(ctx, command->field, &statements, &count, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   bool ok = duet_session_begin(session, error);
   bson_t write_errors = BSON_INITIALIZER;
   uint32_t error_count = 0;
   int32_t index = 0;
   while (ok && bson_iter_next(&statements)) {
      bson_t statement;
      write_document(&statements, &statement);
      duet_error_t failure = DUET_ERROR_INIT;
      if (!duet_command_check_deadline(ctx, &failure)) {
         duet_reply_append_write_error(&write_errors, &error_count, index, &failure);
         duet_error_clear(&failure);
         break;
      }
      if (!duet_session_savepoint(session, error)) {
         ok = false;
         break;
      }
      if (command->run(ctx, session, collection, &statement, index, command->totals, &failure)) {
         ok = duet_session_savepoint_release(session, error);
      } else {
         duet_session_savepoint_rollback(session);
         duet_reply_append_write_error(&write_errors, &error_count, index, &failure);
         duet_error_clear(&failure);
         if (ordered) {
            break;
         }
      }
      index++;
   }
   if (ok) {
      command->reply(command->totals, reply);
      if (error_count) {
         BSON_APPEND_ARRAY(reply, "writeErrors", &write_errors);
      }
      ok = duet_retry_persist(ctx, session, reply, error);
   }
   ok = ok && duet_session_commit(session, error);
   duet_server_session_release(ctx->server, session); /* rolls back what did not commit */
   if (ok) {
      __atomic_add_fetch(command->counter, index, __ATOMIC_RELAXED);
   }
   bson_destroy(&write_errors);
   return ok;
}

/* ---- insert ---------------------------------------------------------------------------------- */

static bool insert_statement(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection,
                             const bson_t *doc, int32_t index, void *totals, duet_error_t *failure)
{
   (void)index;
   bool ok = duet_store_insert(session, ctx->db, collection, doc, NULL, failure);
   *(int32_t *)totals += ok ? 1 : 0;
   return ok;
}

static void insert_reply(void *totals, bson_t *reply)
{
   BSON_APPEND_INT32(reply, "n", *(int32_t *)totals);
}

bool duet_cmd_insert(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const known[] = {"documents", "ordered", "bypassDocumentValidation", "let", NULL};
   int32_t inserted = 0;
   write_command_t command = {"documents", known, insert_statement, insert_reply, &inserted, &ctx->server->op_insert};
   return write_run(ctx, &command, reply, error);
}

/* ---- one update statement ------------------------------------------------------------------ */

typedef struct update_result {
   int64_t matched;     /* documents matched (plus 1 for an upsert insert, as `n` counts) */
   int64_t modified;
   bool upserted;
   bson_value_t upserted_id; /* owned when upserted */
} update_result_t;

/* Runs one update statement {q, u, upsert, multi, arrayFilters, ...} (borrowed). */
static bool update_statement(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection,
                             const bson_t *statement, update_result_t *result, duet_error_t *error)
{
   memset(result, 0, sizeof *result);
   bson_t query = BSON_INITIALIZER, array_filters;
   bool has_array_filters = false, upsert = false, multi = false;
   const bson_value_t *u = NULL;
   bson_iter_t iter;
   bson_iter_init(&iter, statement);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "q") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            duet_error_wrong_type(error, "update.updates", "q", &iter, "object");
            return false;
         }
         write_document(&iter, &query);
      } else if (strcmp(key, "u") == 0) {
         u = bson_iter_value(&iter);
      } else if (strcmp(key, "upsert") == 0 || strcmp(key, "multi") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&iter) && !BSON_ITER_HOLDS_NUMBER(&iter)) {
            duet_error_wrong_type(error, "update.updates", key, &iter, "bool");
            return false;
         }
         *(key[0] == 'u' ? &upsert : &multi) = bson_iter_as_bool(&iter);
      } else if (strcmp(key, "arrayFilters") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            duet_error_wrong_type(error, "update.updates", key, &iter, "array");
            return false;
         }
         write_document(&iter, &array_filters);
         has_array_filters = true;
      } else if (strcmp(key, "collation") == 0 || strcmp(key, "c") == 0 || strcmp(key, "sort") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "update option '%s' is not supported by duetd", key);
         return false;
      } else if (strcmp(key, "hint") != 0 && strcmp(key, "upsertSupplied") != 0) {
         duet_error_set(error, 40415, "BSON field 'UpdateOpEntry.%s' is an unknown field.", key);
         return false;
      }
   }
   if (!u) {
      duet_error_set(error, 40414, "BSON field 'UpdateOpEntry.u' is missing but a required field");
      return false;
   }
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.array_filters = has_array_filters ? &array_filters : NULL;
   duet_update_t *update = NULL;
   if (!duet_update_parse_value(u, &options, &update, error)) {
      return false;
   }
   duet_update_kind_t kind = duet_update_kind(update);
   if (multi && kind == DUET_UPDATE_REPLACEMENT) {
      duet_update_destroy(update);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "multi update is not supported for replacement-style update");
      return false;
   }
   write_matches_t matches;
   bool ok = write_find(ctx, session, collection, &query, NULL, multi ? 0 : 1, &matches, error);
   for (size_t i = 0; ok && i < matches.count; i++) {
      bson_t new_doc;
      bool modified = false, changed = false;
      ok = duet_update_apply(update, matches.docs[i], &query, false, &new_doc, &modified, error);
      if (!ok) {
         duet_error_wrap(error, "Plan executor error during update");
      } else if (modified) {
         ok = duet_store_update(session, ctx->db, collection, matches.docs[i], &new_doc,
                                kind == DUET_UPDATE_REPLACEMENT ? DUET_STORE_REPLACE : DUET_STORE_UPDATE, &changed,
                                error);
      }
      bson_destroy(&new_doc);
      result->matched++;
      result->modified += changed ? 1 : 0;
   }
   if (ok && matches.count == 0 && upsert) {
      bson_t new_doc;
      ok = duet_update_apply_upsert(update, &query, &new_doc, error) &&
           duet_store_insert(session, ctx->db, collection, &new_doc, NULL, error);
      bson_iter_t id;
      if (ok && bson_iter_init_find(&id, &new_doc, "_id")) {
         bson_value_copy(bson_iter_value(&id), &result->upserted_id);
         result->upserted = true;
         result->matched = 1;
      }
      bson_destroy(&new_doc);
   }
   write_matches_clear(&matches);
   duet_update_destroy(update);
   if (!ok && result->upserted) {
      bson_value_destroy(&result->upserted_id);
      result->upserted = false;
   }
   return ok;
}

typedef struct update_totals {
   int64_t n, modified;
   bson_t upserted; /* [{index, _id}] */
   uint32_t upserted_count;
} update_totals_t;

static bool update_run(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection,
                       const bson_t *statement, int32_t index, void *context, duet_error_t *failure)
{
   update_totals_t *totals = context;
   update_result_t result;
   if (!update_statement(ctx, session, collection, statement, &result, failure)) {
      return false;
   }
   totals->n += result.matched;
   totals->modified += result.modified;
   if (result.upserted) {
      char key_buffer[16];
      const char *key;
      bson_uint32_to_string(totals->upserted_count++, &key, key_buffer, sizeof key_buffer);
      bson_t entry;
      bson_append_document_begin(&totals->upserted, key, -1, &entry);
      BSON_APPEND_INT32(&entry, "index", index);
      bson_append_value(&entry, "_id", 3, &result.upserted_id);
      bson_append_document_end(&totals->upserted, &entry);
      bson_value_destroy(&result.upserted_id);
   }
   return true;
}

static void update_reply(void *context, bson_t *reply)
{
   update_totals_t *totals = context;
   BSON_APPEND_INT32(reply, "n", (int32_t)totals->n);
   BSON_APPEND_INT32(reply, "nModified", (int32_t)totals->modified);
   if (totals->upserted_count) {
      BSON_APPEND_ARRAY(reply, "upserted", &totals->upserted);
   }
}

bool duet_cmd_update(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   update_totals_t totals = {0, 0, BSON_INITIALIZER, 0};
   write_command_t command = {"updates", NULL, update_run, update_reply, &totals, &ctx->server->op_update};
   bool ok = write_run(ctx, &command, reply, error);
   bson_destroy(&totals.upserted);
   return ok;
}

/* ---- delete --------------------------------------------------------------------------------- */

static bool delete_statement(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection,
                             const bson_t *statement, int64_t *deleted, duet_error_t *error)
{
   *deleted = 0;
   bson_t query;
   bool has_query = false, has_limit = false;
   int64_t limit = 0;
   bson_iter_t iter;
   bson_iter_init(&iter, statement);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "q") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            duet_error_wrong_type(error, "delete.deletes", "q", &iter, "object");
            return false;
         }
         write_document(&iter, &query);
         has_query = true;
      } else if (strcmp(key, "limit") == 0) {
         if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
            duet_error_wrong_type(error, "delete.deletes", "limit", &iter, "long");
            return false;
         }
         limit = bson_iter_as_int64(&iter);
         has_limit = true;
         if (limit != 0 && limit != 1) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "The limit field in delete objects must be 0 or 1. Got %lld",
                           (long long)limit);
            return false;
         }
      } else if (strcmp(key, "collation") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "delete option 'collation' is not supported by duetd");
         return false;
      } else if (strcmp(key, "hint") != 0) {
         duet_error_set(error, 40415, "BSON field 'DeleteOpEntry.%s' is an unknown field.", key);
         return false;
      }
   }
   if (!has_query || !has_limit) {
      duet_error_set(error, 40414, "BSON field 'DeleteOpEntry.%s' is missing but a required field",
                     has_query ? "limit" : "q");
      return false;
   }
   write_matches_t matches;
   if (!write_find(ctx, session, collection, &query, NULL, limit, &matches, error)) {
      return false;
   }
   bool ok = true;
   for (size_t i = 0; ok && i < matches.count; i++) {
      bson_iter_t id;
      bool removed = false;
      if (bson_iter_init_find(&id, matches.docs[i], "_id")) {
         ok = duet_store_delete(session, ctx->db, collection, bson_iter_value(&id), &removed, error);
         *deleted += removed ? 1 : 0;
      }
   }
   write_matches_clear(&matches);
   return ok;
}

static bool delete_run(duet_command_ctx_t *ctx, duet_session_t *session, const char *collection,
                       const bson_t *statement, int32_t index, void *totals, duet_error_t *failure)
{
   (void)index;
   int64_t deleted = 0;
   if (!delete_statement(ctx, session, collection, statement, &deleted, failure)) {
      return false;
   }
   *(int64_t *)totals += deleted;
   return true;
}

static void delete_reply(void *totals, bson_t *reply)
{
   BSON_APPEND_INT32(reply, "n", (int32_t) * (int64_t *)totals);
}

bool duet_cmd_delete(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   int64_t n = 0;
   write_command_t command = {"deletes", NULL, delete_run, delete_reply, &n, &ctx->server->op_delete};
   return write_run(ctx, &command, reply, error);
}

/* ---- findAndModify -------------------------------------------------------------------------- */

bool duet_cmd_find_and_modify(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   bson_t query = BSON_INITIALIZER, sort = BSON_INITIALIZER, fields = BSON_INITIALIZER, array_filters;
   bool remove = false, return_new = false, upsert = false, has_array_filters = false, has_fields = false;
   const bson_value_t *u = NULL;
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "query") == 0 || strcmp(key, "sort") == 0 || strcmp(key, "fields") == 0) {
         if (BSON_ITER_HOLDS_NULL(&iter)) {
            continue;
         }
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            duet_error_wrong_type(error, "findAndModify", key, &iter, "object");
            return false;
         }
         write_document(&iter, key[0] == 'q' ? &query : key[0] == 's' ? &sort : &fields);
         has_fields |= key[0] == 'f';
      } else if (strcmp(key, "remove") == 0 || strcmp(key, "new") == 0 || strcmp(key, "upsert") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&iter) && !BSON_ITER_HOLDS_NUMBER(&iter)) {
            duet_error_wrong_type(error, "findAndModify", key, &iter, "bool");
            return false;
         }
         *(key[0] == 'r' ? &remove : key[0] == 'n' ? &return_new : &upsert) = bson_iter_as_bool(&iter);
      } else if (strcmp(key, "update") == 0) {
         u = bson_iter_value(&iter);
      } else if (strcmp(key, "arrayFilters") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            duet_error_wrong_type(error, "findAndModify", key, &iter, "array");
            return false;
         }
         write_document(&iter, &array_filters);
         has_array_filters = true;
      } else if (strcmp(key, "bypassDocumentValidation") == 0 && bson_iter_as_bool(&iter)) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "bypassDocumentValidation is not supported by duetd");
         return false;
      } else if (strcmp(key, "collation") == 0 || strcmp(key, "let") == 0) {
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "findAndModify option '%s' is not supported by duetd",
                        key);
         return false;
      } else if (strcmp(key, "hint") != 0 && strcmp(key, "bypassDocumentValidation") != 0 &&
                 !duet_command_is_generic_field(key)) {
         duet_error_set(error, 40415, "BSON field 'findAndModify.%s' is an unknown field.", key);
         return false;
      }
   }
   if (remove && u) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot specify both an update and remove=true");
      return false;
   }
   if (!remove && !u) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Either an update or remove=true must be specified");
      return false;
   }
   if (remove && (return_new || upsert)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot specify both %s=true and remove=true",
                     return_new ? "new" : "upsert");
      return false;
   }
   duet_update_t *update = NULL;
   duet_projection_t *projection = NULL;
   if (u) {
      duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
      options.array_filters = has_array_filters ? &array_filters : NULL;
      if (!duet_update_parse_value(u, &options, &update, error)) {
         return false;
      }
   }
   if (has_fields && !bson_empty(&fields) && !duet_projection_parse(&fields, &query, &projection, error)) {
      duet_update_destroy(update);
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      duet_update_destroy(update);
      duet_projection_destroy(projection);
      return false;
   }
   write_matches_t matches = {NULL, 0};
   bson_t value = BSON_INITIALIZER; /* the document to return */
   bool has_value = false, updated_existing = false, upserted = false;
   bson_value_t upserted_id;
   bool ok = duet_session_begin(session, error) &&
             write_find(ctx, session, collection, &query, &sort, 1, &matches, error);
   if (ok && matches.count == 1) {
      const bson_t *old_doc = matches.docs[0];
      if (remove) {
         bson_iter_t id;
         bool removed = false;
         ok = bson_iter_init_find(&id, old_doc, "_id") &&
              duet_store_delete(session, ctx->db, collection, bson_iter_value(&id), &removed, error);
         bson_copy_to_excluding_noinit(old_doc, &value, "", NULL);
         has_value = true;
      } else {
         bson_t new_doc;
         bool modified = false;
         ok = duet_update_apply(update, old_doc, &query, false, &new_doc, &modified, error);
         if (!ok) {
            duet_error_wrap(error, "Plan executor error during findAndModify");
         } else if (modified) {
            ok = duet_store_update(session, ctx->db, collection, old_doc, &new_doc,
                                   duet_update_kind(update) == DUET_UPDATE_REPLACEMENT ? DUET_STORE_REPLACE
                                                                                         : DUET_STORE_UPDATE,
                                   NULL, error);
         }
         if (ok) {
            bson_copy_to_excluding_noinit(return_new ? &new_doc : old_doc, &value, "", NULL);
            has_value = true;
            updated_existing = true;
         }
         bson_destroy(&new_doc);
      }
   } else if (ok && upsert) {
      bson_t new_doc;
      ok = duet_update_apply_upsert(update, &query, &new_doc, error) &&
           duet_store_insert(session, ctx->db, collection, &new_doc, NULL, error);
      bson_iter_t id;
      if (ok && bson_iter_init_find(&id, &new_doc, "_id")) {
         bson_value_copy(bson_iter_value(&id), &upserted_id);
         upserted = true;
      }
      if (ok && return_new) {
         bson_copy_to_excluding_noinit(&new_doc, &value, "", NULL);
         has_value = true;
      }
      bson_destroy(&new_doc);
   }
   bool matched = matches.count > 0;
   write_matches_clear(&matches);
   if (ok && has_value && projection) { /* a projection that fails leaves the document as it was */
      bson_t projected;
      ok = duet_projection_apply(projection, &value, NULL, &projected, error);
      bson_reinit(&value);
      bson_concat(&value, &projected); /* (a bson_t may not be copied by assignment) */
      bson_destroy(&projected);
   }
   if (ok) { /* the reply before the commit: a retryable write's record commits with the write */
      bson_t last_error;
      bson_append_document_begin(reply, "lastErrorObject", -1, &last_error);
      BSON_APPEND_INT32(&last_error, "n", (matched || upserted) ? 1 : 0);
      if (!remove) {
         BSON_APPEND_BOOL(&last_error, "updatedExisting", updated_existing);
      }
      if (upserted) {
         bson_append_value(&last_error, "upserted", -1, &upserted_id);
      }
      bson_append_document_end(reply, &last_error);
      if (has_value) {
         BSON_APPEND_DOCUMENT(reply, "value", &value);
      } else {
         BSON_APPEND_NULL(reply, "value");
      }
      ok = duet_retry_persist(ctx, session, reply, error);
   }
   ok = ok && duet_session_commit(session, error);
   duet_server_session_release(ctx->server, session);
   if (ok) {
      __atomic_add_fetch(remove ? &ctx->server->op_delete : &ctx->server->op_update, 1, __ATOMIC_RELAXED);
   }
   if (upserted) {
      bson_value_destroy(&upserted_id);
   }
   bson_destroy(&value);
   duet_update_destroy(update);
   duet_projection_destroy(projection);
   return ok;
}
