/*
 * store_out.c — the $out stage: run the pipeline, write its results into a
 * temporary collection created with the target's options and indexes, then
 * rename it over the target (dropTarget), all in one write transaction, as
 * MongoDB does (an empty result still replaces the target).  The temporary
 * collection lives in the target's database, so {$out: {db, coll}} may name
 * another database.  On failure the transaction is rolled back and the target
 * is untouched.
 */
#include "store/store_internal.h"

#include <duet/doc.h>
#include <duet/store_ops.h>

#include <string.h>
#include <time.h>

bool duet_store_check_deadline(int64_t deadline_us, duet_error_t *error)
{
   if (deadline_us == 0) {
      return true;
   }
   struct timespec now;
   clock_gettime(CLOCK_MONOTONIC, &now);
   if ((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 < deadline_us) {
      return true;
   }
   duet_error_set(error, DUET_ERR_MAX_TIME_MS_EXPIRED, "operation exceeded time limit");
   return false;
}

typedef struct out_args {
   const char *db, *coll;
   const bson_t *stages; /* the pipeline without $out */
   const char *target_db, *target;
   const duet_store_aggregate_options_t *options;
} out_args_t;

/* The target's options and secondary index specs onto the temporary collection. */
static bool prepare_temp(duet_session_t *session, const out_args_t *args, const char *temp, bson_t *final_options,
                         duet_error_t *error)
{
   bson_init(final_options);
   duet_store_collection_info_t info;
   bool exists = false;
   if (!duet_store_collection_info(session, args->target_db, args->target, &info, &exists, error)) {
      return false;
   }
   bson_t create_options = BSON_INITIALIZER;
   if (exists) {
      bson_concat(final_options, info.options);
      bson_iter_t iter;
      bson_iter_init(&iter, info.options);
      while (bson_iter_next(&iter)) {
         if (!(args->options->bypass_document_validation && strcmp(bson_iter_key(&iter), "validator") == 0)) {
            bson_append_iter(&create_options, NULL, 0, &iter);
         }
      }
      duet_store_collection_info_clear(&info);
   }
   bool ok = duet_store_create_collection(session, args->target_db, temp, &create_options, error);
   bson_destroy(&create_options);
   if (ok && exists) {
      bson_t specs;
      ok = duet_store_list_indexes(session, args->target_db, args->target, &specs, error);
      bson_t secondary = BSON_INITIALIZER;
      bson_iter_t iter;
      uint32_t n = 0;
      if (ok && bson_iter_init(&iter, &specs)) {
         while (bson_iter_next(&iter)) {
            bson_iter_t name;
            if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &name) && bson_iter_find(&name, "name") &&
                strcmp(bson_iter_utf8(&name, NULL), "_id_") != 0) {
               char key[16];
               const char *k;
               bson_uint32_to_string(n++, &k, key, sizeof key);
               bson_append_iter(&secondary, k, -1, &iter);
            }
         }
      }
      ok = ok && (n == 0 || duet_store_create_indexes(session, args->target_db, temp, &secondary, NULL, error));
      bson_destroy(&secondary);
      bson_destroy(&specs);
   }
   return ok;
}

static bool out_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   out_args_t *args = arg;
   bson_oid_t oid;
   bson_oid_init(&oid, NULL);
   char hex[25];
   bson_oid_to_string(&oid, hex);
   char temp[64];
   snprintf(temp, sizeof temp, "tmp.agg_out.%s", hex);
   bson_t final_options;
   if (!prepare_temp(session, args, temp, &final_options, error)) {
      bson_destroy(&final_options);
      return false;
   }
   duet_store_aggregate_t *aggregate = NULL;
   bool ok = duet_store_aggregate_open_internal(session, args->db, args->coll, args->stages,
                                                args->options->allow_disk_use, &aggregate, error);
   const bson_t *doc;
   while (ok && (ok = duet_store_aggregate_next(aggregate, &doc, error)) && doc) {
      ok = duet_store_check_deadline(args->options->deadline_us, error) &&
           duet_store_insert(session, args->target_db, temp, doc, NULL, error);
   }
   duet_store_aggregate_destroy(aggregate); /* before the rename drops a table it may read */
   if (ok && args->options->bypass_document_validation && bson_has_field(&final_options, "validator")) {
      bson_t validator = BSON_INITIALIZER;
      bson_iter_t iter;
      bson_iter_init_find(&iter, &final_options, "validator");
      bson_append_iter(&validator, "validator", -1, &iter);
      ok = duet_store_coll_mod(session, args->target_db, temp, &validator, error);
      bson_destroy(&validator);
   }
   bson_destroy(&final_options);
   return ok &&
          duet_store_rename_collection(session, args->target_db, temp, args->target_db, args->target, true, error);
}

bool duet_store_aggregate_out(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                              uint32_t out_index, const duet_store_aggregate_options_t *options, duet_error_t *error)
{
   bson_t stages = BSON_INITIALIZER;
   const char *target_db = db, *target = NULL;
   bson_iter_t iter;
   uint32_t i = 0;
   bson_iter_init(&iter, pipeline);
   while (bson_iter_next(&iter)) {
      if (i == out_index) {
         bson_iter_t stage;
         bson_iter_recurse(&iter, &stage);
         bson_iter_next(&stage);
         if (BSON_ITER_HOLDS_UTF8(&stage)) {
            target = bson_iter_utf8(&stage, NULL);
         } else if (BSON_ITER_HOLDS_DOCUMENT(&stage)) {
            bson_iter_t field;
            bson_iter_recurse(&stage, &field);
            while (bson_iter_next(&field)) {
               const char *key = bson_iter_key(&field);
               if (strcmp(key, "db") == 0 && BSON_ITER_HOLDS_UTF8(&field)) {
                  target_db = bson_iter_utf8(&field, NULL);
               } else if (strcmp(key, "coll") == 0 && BSON_ITER_HOLDS_UTF8(&field)) {
                  target = bson_iter_utf8(&field, NULL);
               } else {
                  duet_error_set(error, strcmp(key, "timeseries") == 0 ? DUET_ERR_COMMAND_NOT_SUPPORTED : 40415,
                                 strcmp(key, "timeseries") == 0 ? "$out to a time-series collection is not supported"
                                                                : "BSON field '$out.%s' is an unknown field.",
                                 key);
                  bson_destroy(&stages);
                  return false;
               }
            }
            if (!target) {
               duet_error_set(error, 40414, "BSON field '$out.coll' is missing but a required field");
               bson_destroy(&stages);
               return false;
            }
         } else {
            duet_error_set(error, 16990, "$out only supports a string or object argument, but found %s",
                           duet_type_name(bson_iter_type(&stage)));
            bson_destroy(&stages);
            return false;
         }
      } else {
         bson_append_iter(&stages, bson_iter_key(&iter), -1, &iter);
      }
      i++;
   }
   /* a system collection is a valid namespace to MongoDB, refused by $out with its own code */
   bool valid = true;
   if (strncmp(target, "system.", 7) == 0) {
      duet_error_set(error, 17385, "Can't $out to special collection: %s", target);
      valid = false;
   } else if (!duet_store_validate_namespace(target_db, target, error)) {
      valid = false;
   } else if (strcmp(target_db, "admin") == 0 || strcmp(target_db, "local") == 0 || strcmp(target_db, "config") == 0) {
      duet_error_set(error, 31321, "Can't $out to internal database: %s", target_db);
      valid = false;
   }
   if (!valid) {
      bson_destroy(&stages);
      return false;
   }
   out_args_t args = {db, coll, &stages, target_db, target, options};
   bool ok;
   if (session->in_write) {
      /* all or nothing inside the caller's transaction too */
      ok = duet_session_savepoint(session, error);
      if (ok && !(ok = out_work(session, &args, error))) {
         duet_session_savepoint_rollback(session);
      } else if (ok) {
         ok = duet_session_savepoint_release(session, error);
      }
   } else {
      ok = duet_store_in_write(session, out_work, &args, error);
   }
   bson_destroy(&stages);
   return ok;
}
