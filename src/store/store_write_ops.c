/*
 * store_write_ops.c — the write side of the operations layer: insert batches
 * with MongoDB's ordered/unordered partial success, update and delete
 * statements driven by a filter (upserts included), and findAndModify.
 * See duet/store_ops.h.
 */
#include "store/store_internal.h"

#include <duet/mql_match.h>
#include <duet/mql_projection.h>
#include <duet/mql_update.h>
#include <duet/store_ops.h>

#include <string.h>

/* ---- insert ------------------------------------------------------------------------- */

static void append_write_error(bson_t *write_errors, uint32_t *n, size_t index, const duet_error_t *failure)
{
   char key[16];
   const char *k;
   bson_uint32_to_string((*n)++, &k, key, sizeof key);
   bson_t entry;
   BSON_APPEND_DOCUMENT_BEGIN(write_errors, k, &entry);
   BSON_APPEND_INT32(&entry, "index", (int32_t)index);
   BSON_APPEND_INT32(&entry, "code", failure->code);
   if (failure->extra) {
      bson_concat(&entry, failure->extra);
   }
   BSON_APPEND_UTF8(&entry, "errmsg", failure->message);
   bson_append_document_end(write_errors, &entry);
}

bool duet_store_insert_many(duet_session_t *session, const char *db, const char *coll, const bson_t *const *docs,
                            size_t count, bool ordered, int64_t *inserted, bson_t *write_errors, duet_error_t *error)
{
   bson_init(write_errors);
   *inserted = 0;
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   bool own = !session->in_write;
   if (own && !duet_session_begin(session, error)) {
      return false;
   }
   uint32_t errors = 0;
   for (size_t i = 0; i < count; i++) {
      duet_error_t failure = DUET_ERROR_INIT;
      bool ok = duet_session_savepoint(session, &failure);
      if (ok) {
         ok = duet_store_insert(session, db, coll, docs[i], NULL, &failure);
         if (ok) {
            ok = duet_session_savepoint_release(session, &failure);
         } else {
            duet_session_savepoint_rollback(session);
         }
      }
      if (ok) {
         (*inserted)++;
      } else {
         append_write_error(write_errors, &errors, i, &failure);
      }
      duet_error_clear(&failure);
      if (!ok && ordered) {
         break;
      }
   }
   if (own && !duet_session_commit(session, error)) {
      *inserted = 0;
      return false;
   }
   return true;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The _id values of matching documents (copies), in scan order, at most limit (0: all). */
static bool matching_ids(duet_session_t *session, const char *db, const char *coll, const bson_t *filter,
                         const bson_t *sort, int64_t limit, bson_t *ids, uint32_t *count, duet_error_t *error)
{
   bson_init(ids);
   *count = 0;
   duet_store_find_options_t options = {filter, NULL, sort, 0, limit};
   duet_store_find_t *find;
   if (!duet_store_find(session, db, coll, &options, &find, error)) {
      return false;
   }
   const bson_t *doc;
   bool ok;
   while ((ok = duet_store_find_next(find, &doc, error)) && doc) {
      bson_iter_t id;
      if (bson_iter_init_find(&id, doc, "_id")) {
         char key[16];
         const char *k;
         bson_uint32_to_string((*count)++, &k, key, sizeof key);
         bson_append_iter(ids, k, -1, &id);
      }
   }
   duet_store_find_destroy(find);
   return ok;
}

static bool parse_update(const bson_value_t *u, const bson_t *array_filters, duet_update_t **update,
                         duet_error_t *error)
{
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.array_filters = array_filters;
   return duet_update_parse_value(u, &options, update, error);
}

/* Applies `update` to the stored document with _id `id`; *found false when it is gone. */
static bool update_one_id(duet_session_t *session, const char *db, const char *coll, const bson_value_t *id,
                          const duet_update_t *update, const bson_t *query, bool *found, bool *modified,
                          bson_t *old_out, bson_t *new_out, duet_error_t *error)
{
   *modified = false;
   bson_t old_doc;
   if (!duet_store_find_id(session, db, coll, id, &old_doc, found, error)) {
      return false;
   }
   if (!*found) {
      return true;
   }
   bson_t new_doc;
   bool changed = false;
   bool ok = duet_update_apply(update, &old_doc, query, false, &new_doc, &changed, error);
   if (ok && changed) {
      duet_store_update_kind_t kind =
         duet_update_kind(update) == DUET_UPDATE_REPLACEMENT ? DUET_STORE_REPLACE : DUET_STORE_UPDATE;
      ok = duet_store_update(session, db, coll, &old_doc, &new_doc, kind, modified, error);
   }
   if (ok && old_out) {
      bson_copy_to(&old_doc, old_out);
   }
   if (ok && new_out) {
      bson_copy_to(&new_doc, new_out);
   }
   bson_destroy(&old_doc);
   bson_destroy(&new_doc);
   return ok;
}

/* Inserts the upsert document; *stored initialized with it on success. */
static bool upsert_insert(duet_session_t *session, const char *db, const char *coll, const duet_update_t *update,
                          const bson_t *filter, bson_t *stored, duet_error_t *error)
{
   bson_t empty = BSON_INITIALIZER;
   bson_t new_doc;
   bool ok = duet_update_apply_upsert(update, filter ? filter : &empty, &new_doc, error);
   ok = ok && duet_store_insert(session, db, coll, &new_doc, stored, error);
   if (!ok) {
      bson_init(stored);
   }
   bson_destroy(&new_doc);
   bson_destroy(&empty);
   return ok;
}

/* ---- update --------------------------------------------------------------------------- */

void duet_store_update_result_clear(duet_store_update_result_t *result)
{
   if (result->upserted_id) {
      bson_destroy(result->upserted_id);
   }
   memset(result, 0, sizeof *result);
}

typedef struct update_args {
   const char *db, *coll;
   const duet_store_update_spec_t *spec;
   const duet_update_t *update;
   duet_store_update_result_t *result;
} update_args_t;

static bool update_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   update_args_t *args = arg;
   bson_t ids;
   uint32_t count;
   if (!matching_ids(session, args->db, args->coll, args->spec->filter, NULL, args->spec->multi ? 0 : 1, &ids, &count,
                     error)) {
      bson_destroy(&ids);
      return false;
   }
   bson_iter_t iter;
   bson_iter_init(&iter, &ids);
   bool ok = true;
   while (ok && bson_iter_next(&iter)) {
      bool found, modified;
      ok = update_one_id(session, args->db, args->coll, bson_iter_value(&iter), args->update, args->spec->filter,
                         &found, &modified, NULL, NULL, error);
      args->result->matched += found;
      args->result->modified += modified;
   }
   bson_destroy(&ids);
   if (ok && count == 0 && args->spec->upsert) {
      bson_t stored;
      ok = upsert_insert(session, args->db, args->coll, args->update, args->spec->filter, &stored, error);
      bson_iter_t id;
      if (ok && bson_iter_init_find(&id, &stored, "_id")) {
         args->result->upserted = true;
         args->result->upserted_id = bson_new();
         bson_append_iter(args->result->upserted_id, "_id", 3, &id);
      }
      bson_destroy(&stored);
   }
   return ok;
}

bool duet_store_update_matching(duet_session_t *session, const char *db, const char *coll,
                                const duet_store_update_spec_t *spec, duet_store_update_result_t *result,
                                duet_error_t *error)
{
   memset(result, 0, sizeof *result);
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   duet_update_t *update = NULL;
   if (!parse_update(spec->update, spec->array_filters, &update, error)) {
      return false;
   }
   if (spec->multi && duet_update_kind(update) == DUET_UPDATE_REPLACEMENT) {
      duet_update_destroy(update);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "multi update is not supported for replacement-style update");
      return false;
   }
   update_args_t args = {db, coll, spec, update, result};
   bool ok = duet_store_in_write(session, update_work, &args, error);
   duet_update_destroy(update);
   if (!ok) {
      duet_store_update_result_clear(result);
   }
   return ok;
}

/* ---- delete ----------------------------------------------------------------------------- */

typedef struct delete_args {
   const char *db, *coll;
   const bson_t *filter;
   int64_t limit;
   int64_t *deleted;
} delete_args_t;

static bool delete_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   delete_args_t *args = arg;
   bson_t ids;
   uint32_t count;
   if (!matching_ids(session, args->db, args->coll, args->filter, NULL, args->limit, &ids, &count, error)) {
      bson_destroy(&ids);
      return false;
   }
   bson_iter_t iter;
   bson_iter_init(&iter, &ids);
   bool ok = true;
   while (ok && bson_iter_next(&iter)) {
      bool deleted = false;
      ok = duet_store_delete(session, args->db, args->coll, bson_iter_value(&iter), &deleted, error);
      *args->deleted += deleted;
   }
   bson_destroy(&ids);
   return ok;
}

bool duet_store_delete_matching(duet_session_t *session, const char *db, const char *coll, const bson_t *filter,
                                int64_t limit, int64_t *deleted, duet_error_t *error)
{
   *deleted = 0;
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   delete_args_t args = {db, coll, filter, limit, deleted};
   bool ok = duet_store_in_write(session, delete_work, &args, error);
   if (!ok) {
      *deleted = 0;
   }
   return ok;
}

/* ---- findAndModify ------------------------------------------------------------------------ */

typedef struct fam_args {
   const char *db, *coll;
   const duet_store_fam_options_t *options;
   const duet_update_t *update;
   bson_t *result;     /* the unprojected document to return (initialized) */
   bool *found;
   bson_t *last_error; /* initialized */
} fam_args_t;

static bool fam_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   fam_args_t *args = arg;
   const duet_store_fam_options_t *options = args->options;
   bson_t ids;
   uint32_t count;
   if (!matching_ids(session, args->db, args->coll, options->filter, options->sort, 1, &ids, &count, error)) {
      bson_destroy(&ids);
      return false;
   }
   bool ok = true;
   bson_iter_t id;
   if (count > 0 && bson_iter_init_find(&id, &ids, "0")) {
      if (options->remove) {
         bson_t old_doc;
         bool found = false;
         ok = duet_store_find_id(session, args->db, args->coll, bson_iter_value(&id), &old_doc, &found, error);
         if (ok && found) {
            ok = duet_store_delete(session, args->db, args->coll, bson_iter_value(&id), NULL, error);
            if (ok) {
               bson_concat(args->result, &old_doc);
               *args->found = true;
            }
            bson_destroy(&old_doc);
         }
         BSON_APPEND_INT32(args->last_error, "n", found ? 1 : 0);
      } else {
         bool found, modified;
         bson_t old_doc = BSON_INITIALIZER, new_doc = BSON_INITIALIZER;
         ok = update_one_id(session, args->db, args->coll, bson_iter_value(&id), args->update, options->filter, &found,
                            &modified, &old_doc, &new_doc, error);
         if (ok && found) {
            bson_concat(args->result, options->return_new ? &new_doc : &old_doc);
            *args->found = true;
         }
         BSON_APPEND_INT32(args->last_error, "n", found ? 1 : 0);
         BSON_APPEND_BOOL(args->last_error, "updatedExisting", found);
         bson_destroy(&old_doc);
         bson_destroy(&new_doc);
      }
   } else if (!options->remove && options->upsert) {
      bson_t stored;
      ok = upsert_insert(session, args->db, args->coll, args->update, options->filter, &stored, error);
      if (ok) {
         BSON_APPEND_INT32(args->last_error, "n", 1);
         BSON_APPEND_BOOL(args->last_error, "updatedExisting", false);
         bson_iter_t stored_id;
         if (bson_iter_init_find(&stored_id, &stored, "_id")) {
            bson_append_iter(args->last_error, "upserted", -1, &stored_id);
         }
         if (options->return_new) {
            bson_concat(args->result, &stored);
            *args->found = true;
         }
      }
      bson_destroy(&stored);
   } else {
      BSON_APPEND_INT32(args->last_error, "n", 0);
      if (!options->remove) {
         BSON_APPEND_BOOL(args->last_error, "updatedExisting", false);
      }
   }
   bson_destroy(&ids);
   return ok;
}

bool duet_store_find_and_modify(duet_session_t *session, const char *db, const char *coll,
                                const duet_store_fam_options_t *options, bson_t *value, bool *found,
                                bson_t *last_error, duet_error_t *error)
{
   bson_init(value);
   bson_init(last_error);
   *found = false;
   if (!options->remove && !options->update) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Either an update or remove=true must be specified");
      return false;
   }
   if (options->remove && options->update) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot specify both an update and remove=true");
      return false;
   }
   if (options->remove && options->upsert) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot specify both upsert=true and remove=true");
      return false;
   }
   if (options->remove && options->return_new) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document");
      return false;
   }
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   duet_update_t *update = NULL;
   if (options->update && !parse_update(options->update, options->array_filters, &update, error)) {
      return false;
   }
   duet_projection_t *projection = NULL;
   if (options->fields && bson_count_keys(options->fields) > 0 &&
       !duet_projection_parse(options->fields, options->filter, &projection, error)) {
      duet_update_destroy(update);
      return false;
   }
   bson_t result = BSON_INITIALIZER;
   fam_args_t args = {db, coll, options, update, &result, found, last_error};
   bool ok = duet_store_in_write(session, fam_work, &args, error);
   if (ok && *found) {
      if (projection) {
         bson_t projected;
         ok = duet_projection_apply(projection, &result, NULL, &projected, error);
         if (ok) {
            bson_concat(value, &projected);
         }
         bson_destroy(&projected);
      } else {
         bson_concat(value, &result);
      }
   }
   if (!ok) {
      bson_reinit(value);
      bson_reinit(last_error);
      *found = false;
   }
   bson_destroy(&result);
   if (projection) {
      duet_projection_destroy(projection);
   }
   duet_update_destroy(update);
   return ok;
}
