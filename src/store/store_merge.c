/*
 * store_merge.c — the $merge stage: each result document is matched in the
 * target on the `on` fields (default _id; otherwise a unique index on exactly
 * those fields must exist) and written per whenMatched (replace, merge,
 * keepExisting, fail) and whenNotMatched (insert, discard, fail), MongoDB's
 * way: every document is tried, a failing one is rolled back alone, the first
 * failure is reported after the others were written (MongoDB does not roll
 * back the writes of a failed $merge).  A whenMatched pipeline is an update
 * pipeline (duet/mql_update.h) applied to the existing document, with `$$new`
 * the result and the `let` variables evaluated on the result.
 */
#include "store/store_internal.h"

#include <duet/doc.h>
#include <duet/mql_expr.h>
#include <duet/mql_update.h>
#include <duet/store_ops.h>

#include <string.h>

typedef enum { MATCHED_REPLACE, MATCHED_MERGE, MATCHED_KEEP, MATCHED_FAIL, MATCHED_PIPELINE } when_matched_t;
typedef enum { NOT_MATCHED_INSERT, NOT_MATCHED_DISCARD, NOT_MATCHED_FAIL } when_not_matched_t;

typedef struct merge_spec {
   const char *db;     /* target database (borrowed) */
   const char *coll;   /* target collection (borrowed) */
   const char *on[16]; /* borrowed field paths */
   size_t on_count;
   bool on_id; /* on is exactly ["_id"] */
   when_matched_t matched;
   when_not_matched_t not_matched;
   /* MATCHED_PIPELINE only (all owned, released by spec_clear): */
   duet_update_t *update;    /* the whenMatched pipeline */
   duet_expr_scope_t *scope; /* the let variables ("new" among them when defined) */
   duet_expr_t **let_exprs;  /* let_count expressions, evaluated on each result */
   int *let_slots;           /* scope index of each */
   size_t let_count;
} merge_spec_t;

static const char *matched_names[] = {"replace", "merge", "keepExisting", "fail", "pipeline"};

static void spec_clear(merge_spec_t *spec)
{
   duet_update_destroy(spec->update);
   for (size_t i = 0; i < spec->let_count; i++) {
      duet_expr_destroy(spec->let_exprs[i]);
   }
   bson_free(spec->let_exprs);
   bson_free(spec->let_slots);
   if (spec->scope) {
      duet_expr_scope_destroy(spec->scope);
   }
   spec->update = NULL;
   spec->scope = NULL;
   spec->let_exprs = NULL;
   spec->let_slots = NULL;
   spec->let_count = 0;
}

/* Adds let variable `name` = expression `value` (borrowed) to the spec. */
static bool spec_add_let(merge_spec_t *spec, const char *name, const bson_value_t *value, duet_error_t *error)
{
   duet_expr_t *expr = NULL;
   if (!duet_expr_parse(value, NULL, &expr, error)) {
      return false;
   }
   spec->let_exprs = bson_realloc(spec->let_exprs, (spec->let_count + 1) * sizeof *spec->let_exprs);
   spec->let_slots = bson_realloc(spec->let_slots, (spec->let_count + 1) * sizeof *spec->let_slots);
   spec->let_exprs[spec->let_count] = expr;
   spec->let_slots[spec->let_count] = duet_expr_scope_define(spec->scope, name);
   spec->let_count++;
   return true;
}

/* MongoDB's let for a whenMatched pipeline: {new: "$$ROOT"} by default; `new` may only be
 * "$$ROOT" and is added when missing and whenNotMatched is insert.  Then parses the pipeline. */
static bool parse_pipeline_mode(merge_spec_t *spec, const bson_t *pipeline, const bson_t *let, duet_error_t *error)
{
   spec->scope = duet_expr_scope_new();
   bson_value_t root = {.value_type = BSON_TYPE_UTF8};
   root.value.v_utf8.str = (char *)"$$ROOT";
   root.value.v_utf8.len = 6;
   bool has_new = false;
   if (let) {
      bson_iter_t iter;
      bson_iter_init(&iter, let);
      while (bson_iter_next(&iter)) {
         const char *name = bson_iter_key(&iter);
         if (!strcmp(name, "new")) {
            if (!BSON_ITER_HOLDS_UTF8(&iter) || strcmp(bson_iter_utf8(&iter, NULL), "$$ROOT") != 0) {
               duet_error_set(error, 51273,
                              "'let' may not define a value for the reserved 'new' variable other than '$$ROOT'");
               return false;
            }
            has_new = true;
         }
         if (!spec_add_let(spec, name, bson_iter_value(&iter), error)) {
            return false;
         }
      }
   }
   if (!has_new && (!let || spec->not_matched == NOT_MATCHED_INSERT) && !spec_add_let(spec, "new", &root, error)) {
      return false;
   }
   duet_update_options_t options = DUET_UPDATE_OPTIONS_INIT;
   options.scope = spec->scope;
   return duet_update_parse_pipeline(pipeline, &options, &spec->update, error);
}
static const char *not_matched_names[] = {"insert", "discard", "fail"};

/* Fills *spec (clear it with spec_clear in every case). */
static bool parse_spec(const bson_value_t *value, const char *default_db, merge_spec_t *spec, duet_error_t *error)
{
   memset(spec, 0, sizeof *spec);
   bson_t pipeline_view, let_view;
   const bson_t *pipeline = NULL, *let = NULL;
   spec->db = default_db;
   spec->matched = MATCHED_MERGE;
   spec->not_matched = NOT_MATCHED_INSERT;
   if (value->value_type == BSON_TYPE_UTF8) {
      spec->coll = value->value.v_utf8.str;
   } else if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_iter_t iter;
      bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len);
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         if (!strcmp(key, "into")) {
            if (BSON_ITER_HOLDS_UTF8(&iter)) {
               spec->coll = bson_iter_utf8(&iter, NULL);
            } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
               bson_iter_t into;
               bson_iter_recurse(&iter, &into);
               while (bson_iter_next(&into)) {
                  if (!strcmp(bson_iter_key(&into), "db") && BSON_ITER_HOLDS_UTF8(&into)) {
                     spec->db = bson_iter_utf8(&into, NULL);
                  } else if (!strcmp(bson_iter_key(&into), "coll") && BSON_ITER_HOLDS_UTF8(&into)) {
                     spec->coll = bson_iter_utf8(&into, NULL);
                  }
               }
            } else {
               duet_error_set(error, 51178, "$merge 'into' field  must be either a string or an object, but found %s",
                              duet_type_name(bson_iter_type(&iter)));
               return false;
            }
         } else if (!strcmp(key, "on")) {
            if (BSON_ITER_HOLDS_UTF8(&iter)) {
               spec->on[spec->on_count++] = bson_iter_utf8(&iter, NULL);
            } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
               bson_iter_t field;
               bson_iter_recurse(&iter, &field);
               while (bson_iter_next(&field)) {
                  if (!BSON_ITER_HOLDS_UTF8(&field)) {
                     duet_error_set(error, 51134, "$merge 'on' array elements must be strings, but found %s",
                                    duet_type_name(bson_iter_type(&field)));
                     return false;
                  }
                  const char *name = bson_iter_utf8(&field, NULL);
                  for (size_t i = 0; i < spec->on_count; i++) {
                     if (!strcmp(spec->on[i], name)) {
                        duet_error_set(error, 31465, "Found a duplicate field '%s'", name);
                        return false;
                     }
                  }
                  if (spec->on_count == 16) {
                     duet_error_set(error, DUET_ERR_BAD_VALUE, "$merge 'on' supports at most 16 fields");
                     return false;
                  }
                  spec->on[spec->on_count++] = name;
               }
               if (spec->on_count == 0) {
                  duet_error_set(error, 51187, "If explicitly specifying $merge 'on', must include at least one field");
                  return false;
               }
            } else {
               duet_error_set(error, 51186,
                              "$merge 'on' field  must be either a string or an array of strings, but found %s",
                              duet_type_name(bson_iter_type(&iter)));
               return false;
            }
         } else if (!strcmp(key, "whenMatched")) {
            if (BSON_ITER_HOLDS_ARRAY(&iter)) {
               uint32_t length;
               const uint8_t *data;
               bson_iter_array(&iter, &length, &data);
               if (!bson_init_static(&pipeline_view, data, length)) {
                  duet_error_set(error, DUET_ERR_BAD_VALUE, "$merge 'whenMatched' pipeline is not valid BSON");
                  return false;
               }
               pipeline = &pipeline_view;
               spec->matched = MATCHED_PIPELINE;
               continue;
            }
            const char *mode = BSON_ITER_HOLDS_UTF8(&iter) ? bson_iter_utf8(&iter, NULL) : "";
            size_t i = 0;
            while (i < 4 && strcmp(matched_names[i], mode) != 0) {
               i++;
            }
            if (i == 4) {
               duet_error_set(error, DUET_ERR_BAD_VALUE,
                              "Enumeration value '%s' for field '$merge.whenMatched' is not a valid value.", mode);
               return false;
            }
            spec->matched = (when_matched_t)i;
         } else if (!strcmp(key, "whenNotMatched")) {
            const char *mode = BSON_ITER_HOLDS_UTF8(&iter) ? bson_iter_utf8(&iter, NULL) : "";
            size_t i = 0;
            while (i < 3 && strcmp(not_matched_names[i], mode) != 0) {
               i++;
            }
            if (i == 3) {
               duet_error_set(error, DUET_ERR_BAD_VALUE,
                              "Enumeration value '%s' for field '$merge.whenNotMatched' is not a valid value.", mode);
               return false;
            }
            spec->not_matched = (when_not_matched_t)i;
         } else if (!strcmp(key, "let")) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
               duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                              "BSON field '$merge.let' is the wrong type '%s', expected type 'object'",
                              duet_type_name(bson_iter_type(&iter)));
               return false;
            }
            uint32_t length;
            const uint8_t *data;
            bson_iter_document(&iter, &length, &data);
            if (!bson_init_static(&let_view, data, length)) {
               duet_error_set(error, DUET_ERR_BAD_VALUE, "$merge 'let' is not valid BSON");
               return false;
            }
            let = &let_view;
         } else {
            duet_error_set(error, 40415, "BSON field '$merge.%s' is an unknown field.", key);
            return false;
         }
      }
   } else {
      duet_error_set(error, 51182, "$merge only supports a string or object argument, not %s",
                     duet_type_name(value->value_type));
      return false;
   }
   if (!spec->coll) {
      duet_error_set(error, 40414, "BSON field '$merge.into' is missing but a required field");
      return false;
   }
   if (spec->on_count == 0) {
      spec->on[spec->on_count++] = "_id";
   }
   spec->on_id = spec->on_count == 1 && !strcmp(spec->on[0], "_id");
   bool unsupported = (spec->matched == MATCHED_FAIL && spec->not_matched != NOT_MATCHED_INSERT) ||
                      (spec->matched == MATCHED_KEEP && spec->not_matched != NOT_MATCHED_INSERT);
   if (unsupported) {
      duet_error_set(error, 51181,
                     "Combination of $merge modes 'whenMatched: %s' and 'whenNotMatched: %s' is not supported",
                     matched_names[spec->matched], not_matched_names[spec->not_matched]);
      return false;
   }
   if (!duet_store_validate_namespace(spec->db, spec->coll, error)) {
      return false;
   }
   if (spec->matched != MATCHED_PIPELINE) {
      if (let) {
         duet_error_set(error, 51199, "Cannot use 'let' variables with 'whenMatched: %s' mode",
                        matched_names[spec->matched]);
         return false;
      }
      return true;
   }
   return parse_pipeline_mode(spec, pipeline, let, error);
}

/* A unique index on exactly the `on` fields must exist when `on` is not _id. */
static bool check_on_index(duet_session_t *session, const merge_spec_t *spec, duet_error_t *error)
{
   if (spec->on_id) {
      return true;
   }
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, spec->db, spec->coll, &coll, error)) {
      return false;
   }
   for (size_t i = 0; coll && i < coll->index_count; i++) {
      duet_store_index_t *index = &coll->indexes[i];
      if (!index->unique || index->has_partial || index->sparse || index->field_count != spec->on_count) {
         continue;
      }
      size_t found = 0;
      for (size_t f = 0; f < index->field_count; f++) {
         for (size_t o = 0; o < spec->on_count; o++) {
            found += strcmp(index->fields[f], spec->on[o]) == 0;
         }
      }
      if (found == spec->on_count) {
         return true;
      }
   }
   duet_error_set(error, 51183, "Cannot find index to verify that join fields will be unique");
   return false;
}

/* The value at a dotted path (borrowed from doc), NULL when missing. */
static bool value_at(const bson_t *doc, const char *path, bson_iter_t *out)
{
   bson_iter_t iter;
   return bson_iter_init(&iter, doc) && bson_iter_find_descendant(&iter, path, out);
}

/* The whenMatched pipeline applied to `existing` with the let variables evaluated on
 * `result`; *new_doc is initialized by the callee in every case. */
static bool apply_pipeline(const merge_spec_t *spec, const bson_t *existing, const bson_t *result, bson_t *new_doc,
                           duet_error_t *error)
{
   size_t count = duet_expr_scope_count(spec->scope);
   bson_value_t *values = bson_malloc0((count ? count : 1) * sizeof *values);
   bool ok = true;
   for (size_t i = 0; ok && i < spec->let_count; i++) {
      bson_value_t value;
      if ((ok = duet_expr_evaluate(spec->let_exprs[i], result, NULL, &value, error))) {
         bson_value_destroy(&values[spec->let_slots[i]]);
         values[spec->let_slots[i]] = value;
      }
   }
   duet_expr_env_t env = {values, count, 0};
   bool modified = false;
   if (ok) {
      ok = duet_update_apply_env(spec->update, existing, NULL, false, &env, new_doc, &modified, error);
   } else {
      bson_init(new_doc);
   }
   for (size_t i = 0; i < count; i++) {
      bson_value_destroy(&values[i]);
   }
   bson_free(values);
   return ok;
}

/* Writes one result document. */
static bool merge_one(duet_session_t *session, const merge_spec_t *spec, const bson_t *result, duet_error_t *error)
{
   bson_t with_id = BSON_INITIALIZER;
   const bson_t *doc = result;
   bson_iter_t id_iter;
   bool has_on_id = false;
   for (size_t i = 0; i < spec->on_count; i++) {
      has_on_id |= !strcmp(spec->on[i], "_id");
   }
   if (has_on_id && !bson_iter_init_find(&id_iter, result, "_id")) {
      bson_oid_t oid;
      bson_oid_init(&oid, NULL);
      BSON_APPEND_OID(&with_id, "_id", &oid);
      bson_concat(&with_id, result);
      doc = &with_id;
   }
   /* filter {f: {$eq: v}, ...} on the on fields */
   bson_t filter = BSON_INITIALIZER;
   bool ok = true;
   for (size_t i = 0; ok && i < spec->on_count; i++) {
      bson_iter_t value;
      if (!value_at(doc, spec->on[i], &value) || BSON_ITER_HOLDS_NULL(&value) ||
          bson_iter_type(&value) == BSON_TYPE_UNDEFINED) {
         duet_error_set(error, 51132,
                        "$merge write error: 'on' field '%s' cannot be missing, null, undefined or an array",
                        spec->on[i]);
         ok = false;
      } else if (BSON_ITER_HOLDS_ARRAY(&value)) {
         duet_error_set(error, 51185, "$merge write error: 'on' field '%s' is an array", spec->on[i]);
         ok = false;
      } else {
         bson_t eq;
         bson_append_document_begin(&filter, spec->on[i], -1, &eq);
         bson_append_iter(&eq, "$eq", 3, &value);
         bson_append_document_end(&filter, &eq);
      }
   }
   bson_t existing = BSON_INITIALIZER;
   bool matched = false;
   if (ok) {
      duet_store_find_options_t options = {&filter, NULL, NULL, 0, 1};
      duet_store_find_t *find;
      ok = duet_store_find(session, spec->db, spec->coll, &options, &find, error);
      const bson_t *found = NULL;
      if (ok && (ok = duet_store_find_next(find, &found, error)) && found) {
         bson_concat(&existing, found);
         matched = true;
      }
      if (ok) {
         duet_store_find_destroy(find);
      }
   }
   if (ok && matched) {
      switch (spec->matched) {
      case MATCHED_KEEP: break;
      case MATCHED_FAIL: {
         bson_iter_t eid;
         bson_iter_init_find(&eid, &existing, "_id");
         bson_t pattern = BSON_INITIALIZER, key = BSON_INITIALIZER;
         BSON_APPEND_INT32(&pattern, "_id", 1);
         bson_append_iter(&key, "_id", 3, &eid);
         duet_store_duplicate_key_error(spec->db, spec->coll, "_id_", &pattern, &key, error);
         duet_error_wrap(error, "$merge with whenMatched: fail found an existing document with the same values for "
                                "the 'on' fields");
         bson_destroy(&pattern);
         bson_destroy(&key);
         ok = false;
         break;
      }
      case MATCHED_PIPELINE:
      case MATCHED_REPLACE:
      case MATCHED_MERGE: {
         bson_t new_doc = BSON_INITIALIZER;
         if (spec->matched == MATCHED_PIPELINE) {
            bson_destroy(&new_doc); /* re-initialized by apply */
            ok = apply_pipeline(spec, &existing, doc, &new_doc, error);
         } else if (spec->matched == MATCHED_REPLACE) {
            bson_concat(&new_doc, doc);
         } else {
            /* {$set: <whole result>}: top-level fields overwritten, others kept */
            bson_iter_t field;
            bson_iter_init(&field, &existing);
            while (bson_iter_next(&field)) {
               if (!bson_has_field(doc, bson_iter_key(&field))) {
                  bson_append_iter(&new_doc, NULL, 0, &field);
               } else {
                  bson_iter_t replacement;
                  bson_iter_init_find(&replacement, doc, bson_iter_key(&field));
                  bson_append_iter(&new_doc, bson_iter_key(&field), -1, &replacement);
               }
            }
            bson_iter_init(&field, doc);
            while (bson_iter_next(&field)) {
               if (!bson_has_field(&existing, bson_iter_key(&field))) {
                  bson_append_iter(&new_doc, NULL, 0, &field);
               }
            }
         }
         ok = ok &&
              duet_store_update(session, spec->db, spec->coll, &existing, &new_doc,
                                spec->matched == MATCHED_REPLACE ? DUET_STORE_REPLACE : DUET_STORE_UPDATE, NULL, error);
         if (!ok && error && error->code == DUET_ERR_IMMUTABLE_FIELD) {
            duet_error_wrap(error, "$merge failed to update the matching document, did you attempt to modify the _id "
                                   "or the shard key?");
         } else if (!ok && error && error->code == DUET_ERR_DUPLICATE_KEY) {
            duet_error_wrap(error, "$merge failed due to a DuplicateKey error");
         }
         bson_destroy(&new_doc);
         break;
      }
      }
   } else if (ok) {
      switch (spec->not_matched) {
      case NOT_MATCHED_DISCARD: break;
      case NOT_MATCHED_FAIL:
         duet_error_set(error, DUET_ERR_MERGE_STAGE_NO_MATCHING_DOCUMENT,
                        "$merge could not find a matching document in the target collection for at least one "
                        "document in the source collection");
         ok = false;
         break;
      case NOT_MATCHED_INSERT:
         ok = duet_store_insert(session, spec->db, spec->coll, doc, NULL, error);
         if (!ok && error && error->code == DUET_ERR_DUPLICATE_KEY && spec->matched != MATCHED_FAIL) {
            duet_error_wrap(error, "$merge failed due to a DuplicateKey error");
         }
         break;
      }
   }
   bson_destroy(&existing);
   bson_destroy(&filter);
   bson_destroy(&with_id);
   return ok;
}

bool duet_store_aggregate_merge(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                                uint32_t merge_index, const duet_store_aggregate_options_t *options,
                                duet_error_t *error)
{
   bson_t stages = BSON_INITIALIZER;
   bson_value_t spec_value = {0};
   bson_iter_t iter;
   uint32_t i = 0;
   bson_iter_init(&iter, pipeline);
   while (bson_iter_next(&iter)) {
      if (i == merge_index) {
         bson_iter_t stage;
         bson_iter_recurse(&iter, &stage);
         bson_iter_next(&stage);
         bson_value_copy(bson_iter_value(&stage), &spec_value);
      } else {
         bson_append_iter(&stages, bson_iter_key(&iter), -1, &iter);
      }
      i++;
   }
   merge_spec_t spec;
   bool ok = parse_spec(&spec_value, db, &spec, error) && check_on_index(session, &spec, error);
   if (!ok) {
      spec_clear(&spec);
      bson_value_destroy(&spec_value);
      bson_destroy(&stages);
      return false;
   }
   bool own = ok && !session->in_write;
   if (own) {
      ok = duet_session_begin(session, error);
      own = ok;
   }
   /* Results are collected first when the target is the source (no reading
    * what this stage writes), streamed otherwise. */
   bool same = ok && !strcmp(spec.db, db) && !strcmp(spec.coll, coll);
   duet_store_aggregate_t *aggregate = NULL;
   ok =
       ok && duet_store_aggregate_open_internal(session, db, coll, &stages, options->allow_disk_use, &aggregate, error);
   bson_t collected = BSON_INITIALIZER;
   uint32_t collected_count = 0;
   duet_error_t first = DUET_ERROR_INIT;
   bool saved_bypass = session->bypass_validation;
   session->bypass_validation = options->bypass_document_validation;
   const bson_t *doc;
   while (ok && (ok = duet_store_aggregate_next(aggregate, &doc, error)) && doc) {
      if (!(ok = duet_store_check_deadline(options->deadline_us, error))) {
         break;
      }
      if (same) {
         char key[16];
         const char *k;
         bson_uint32_to_string(collected_count++, &k, key, sizeof key);
         BSON_APPEND_DOCUMENT(&collected, k, doc);
         continue;
      }
      duet_error_t failure = DUET_ERROR_INIT;
      if (!duet_session_savepoint(session, &failure)) {
         duet_error_move(error, &failure);
         ok = false;
         break;
      }
      if (merge_one(session, &spec, doc, &failure)) {
         ok = duet_session_savepoint_release(session, error);
      } else {
         duet_session_savepoint_rollback(session);
         if (!first.code) {
            duet_error_move(&first, &failure);
         }
      }
      duet_error_clear(&failure);
   }
   duet_store_aggregate_destroy(aggregate);
   if (ok && same) {
      bson_iter_t each;
      bson_iter_init(&each, &collected);
      while (ok && bson_iter_next(&each)) {
         uint32_t len;
         const uint8_t *data;
         bson_iter_document(&each, &len, &data);
         bson_t result;
         bson_init_static(&result, data, len);
         duet_error_t failure = DUET_ERROR_INIT;
         if (!duet_session_savepoint(session, error)) {
            ok = false;
            break;
         }
         if (merge_one(session, &spec, &result, &failure)) {
            ok = duet_session_savepoint_release(session, error);
         } else {
            duet_session_savepoint_rollback(session);
            if (!first.code) {
               duet_error_move(&first, &failure);
            }
         }
         duet_error_clear(&failure);
      }
   }
   session->bypass_validation = saved_bypass;
   bson_destroy(&collected);
   if (own) {
      /* what was written stays, even when a document failed (as MongoDB) */
      if (ok) {
         ok = duet_session_commit(session, error);
      } else {
         duet_session_abort(session);
      }
   }
   if (ok && first.code) {
      duet_error_move(error, &first);
      ok = false;
   }
   duet_error_clear(&first);
   spec_clear(&spec);
   bson_value_destroy(&spec_value);
   bson_destroy(&stages);
   return ok;
}
