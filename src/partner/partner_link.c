/*
 * partner_link.c — a running migration: the persisted link (store meta "partner_link"), the
 * two mirror hooks that copy every write through the transform inside the writing
 * transaction, restore after a restart, and retire.
 *
 * Mirror rules (docs/partner.md, "Mirrors"):
 *   insert          insert transform(new) into the other side
 *   update/replace  the other side's document with the transformed _id is updated (inserted
 *                   when it is not there yet: the backfill has not reached it); when the
 *                   transformed _id changed, the document under the old one is deleted
 *   delete          delete by transform(old)._id
 * Both hooks share one origin, so the store never runs the opposite hook for a mirrored
 * write.  Any failure fails the original write with the cause's code and a message naming
 * the partner.
 */
#include "partner/partner_internal.h"

#include <duet/doc.h>

#include <string.h>
#include <time.h>

_Thread_local const duet_partner_link_t *partner_backfill_link = NULL;

const char *duet_partner_link_name(const duet_partner_link_t *link)
{
   return link->name;
}

const duet_partner_spec_t *duet_partner_link_spec(const duet_partner_link_t *link)
{
   return link->spec;
}

const duet_partner_transform_t *duet_partner_link_transform(const duet_partner_link_t *link)
{
   return link->transform;
}

int64_t duet_partner_link_mirrored(const duet_partner_link_t *link)
{
   return atomic_load(&((duet_partner_link_t *)link)->mirrored);
}

int64_t duet_partner_link_mirror_errors(const duet_partner_link_t *link)
{
   return atomic_load(&((duet_partner_link_t *)link)->mirror_errors);
}

/* ---- the mirror hook ------------------------------------------------------------------- */

/* Wraps a failure so it names the partner and the cause, keeping the code. */
static bool mirror_failed(const partner_side_t *side, const duet_store_write_t *write, const char *stage,
                          duet_error_t *error)
{
   duet_partner_link_t *link = side->link;
   atomic_fetch_add(&link->mirror_errors, 1);
   const char *cause;
   if (stage) {
      cause = stage;
   } else if (error->code == DUET_ERR_DOCUMENT_VALIDATION_FAILURE) {
      cause = "its validator rejected the transformed document";
   } else if (error->code == DUET_ERR_DUPLICATE_KEY) {
      cause = "the transformed document's _id collides with an existing document";
   } else {
      cause = "the mirrored write failed";
   }
   duet_error_wrap(error, "cannot mirror this write on %s.%s to %s collection %s.%s (partner link %s): %s", write->db,
                   write->coll, side->direction == DUET_PARTNER_FORWARD ? "partner" : "source", link->spec->database,
                   side->target, link->name, cause);
   return false;
}

static bool id_of(const bson_t *doc, bson_value_t *out)
{
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, doc, "_id")) {
      return false;
   }
   *out = *bson_iter_value(&iter);
   return true;
}

static bool mirror_hook(duet_session_t *session, const duet_store_write_t *write, void *context, duet_error_t *error)
{
   const partner_side_t *side = context;
   duet_partner_link_t *link = side->link;
   if (partner_backfill_link == link) {
      return true; /* the backfill writes the transformed document itself */
   }
   const char *db = link->spec->database;
   bson_t transformed, current;
   bson_value_t id;
   bool ok = false, found = false;

   if (write->op == DUET_STORE_OP_DELETE) {
      if (!duet_partner_transform_apply(link->transform, side->direction, write->old_doc, &transformed, error)) {
         bson_destroy(&transformed);
         return mirror_failed(side, write,
                              side->direction == DUET_PARTNER_FORWARD
                                  ? "the forward transform of the deleted document failed"
                                  : "the reverse transform of the deleted document failed",
                              error);
      }
      id_of(&transformed, &id);
      ok = duet_store_delete(session, db, side->target, &id, NULL, error);
      bson_destroy(&transformed);
      if (!ok) {
         return mirror_failed(side, write, NULL, error);
      }
      atomic_fetch_add(&link->mirrored, 1);
      return true;
   }

   if (!duet_partner_transform_apply(link->transform, side->direction, write->new_doc, &transformed, error)) {
      bson_destroy(&transformed);
      return mirror_failed(side, write,
                           side->direction == DUET_PARTNER_FORWARD ? "the forward transform failed"
                                                                   : "the reverse transform failed",
                           error);
   }
   id_of(&transformed, &id);
   if (write->op == DUET_STORE_OP_INSERT) {
      ok = duet_store_insert(session, db, side->target, &transformed, NULL, error);
      bson_destroy(&transformed);
      if (!ok) {
         return mirror_failed(side, write, NULL, error);
      }
      atomic_fetch_add(&link->mirrored, 1);
      return true;
   }

   /* update or replace */
   if (!duet_store_find_id(session, db, side->target, &id, &current, &found, error)) {
      bson_destroy(&transformed);
      return mirror_failed(side, write, NULL, error);
   }
   if (found) {
      ok = duet_store_update(session, db, side->target, &current, &transformed,
                             write->op == DUET_STORE_OP_UPDATE ? DUET_STORE_UPDATE : DUET_STORE_REPLACE, NULL, error);
      bson_destroy(&current);
   } else {
      /* not there under the new _id: drop the copy under the old one (if the transform moved
       * it), then insert (a document the backfill has not reached yet) */
      bson_t old_transformed;
      if (!duet_partner_transform_apply(link->transform, side->direction, write->old_doc, &old_transformed, error)) {
         bson_destroy(&old_transformed);
         bson_destroy(&transformed);
         return mirror_failed(side, write, "the transform of the document before the update failed", error);
      }
      bson_value_t old_id;
      id_of(&old_transformed, &old_id);
      ok = true;
      if (duet_value_compare(&old_id, &id) != 0 || old_id.value_type != id.value_type) {
         ok = duet_store_delete(session, db, side->target, &old_id, NULL, error);
      }
      bson_destroy(&old_transformed);
      ok = ok && duet_store_insert(session, db, side->target, &transformed, NULL, error);
   }
   bson_destroy(&transformed);
   if (!ok) {
      return mirror_failed(side, write, NULL, error);
   }
   atomic_fetch_add(&link->mirrored, 1);
   return true;
}

bool partner_link_register(duet_partner_link_t *link, duet_error_t *error)
{
   if (link->spec->strategy != DUET_PARTNER_STRATEGY_PARTNER || link->hooks_registered) {
      return true;
   }
   const duet_partner_spec_t *spec = link->spec;
   if (!duet_store_hook_add(link->store, spec->database, spec->source, link->origin, mirror_hook, &link->to_partner,
                            &link->hook_ids[0], error)) {
      return false;
   }
   if (!duet_store_hook_add(link->store, spec->database, spec->partner, link->origin, mirror_hook, &link->to_source,
                            &link->hook_ids[1], error)) {
      duet_store_hook_remove(link->store, link->hook_ids[0]);
      return false;
   }
   link->hooks_registered = true;
   return true;
}

void partner_link_unregister(duet_partner_link_t *link)
{
   if (!link->hooks_registered) {
      return;
   }
   duet_store_hook_remove(link->store, link->hook_ids[0]);
   duet_store_hook_remove(link->store, link->hook_ids[1]);
   link->hooks_registered = false;
}

/* ---- links ------------------------------------------------------------------------------- */

static bool link_new(duet_store_t *store, const duet_partner_spec_t *spec, duet_partner_link_t **out,
                     duet_error_t *error)
{
   duet_partner_link_t *link = bson_malloc0(sizeof *link);
   *out = NULL;
   if (!duet_partner_transform_new(spec, &link->transform, error)) {
      bson_free(link);
      return false;
   }
   link->store = store;
   link->spec = duet_partner_spec_copy(spec);
   link->name =
       bson_strdup_printf("%s.%s:%s", spec->database, spec->source, spec->partner ? spec->partner : "in-place");
   link->origin = bson_strdup_printf("partner:%s", link->name);
   link->to_partner = (partner_side_t){link, DUET_PARTNER_FORWARD, link->spec->partner};
   link->to_source = (partner_side_t){link, DUET_PARTNER_REVERSE, link->spec->source};
   atomic_init(&link->mirrored, 0);
   atomic_init(&link->mirror_errors, 0);
   atomic_init(&link->run_started_us, 0);
   atomic_init(&link->run_done, 0);
   *out = link;
   return true;
}

void duet_partner_link_destroy(duet_partner_link_t *link)
{
   if (!link) {
      return;
   }
   partner_link_unregister(link);
   duet_partner_transform_destroy(link->transform);
   duet_partner_spec_destroy(link->spec);
   bson_free(link->name);
   bson_free(link->origin);
   bson_free(link);
}

void duet_partner_links_free(duet_partner_link_t **links, size_t count)
{
   for (size_t i = 0; i < count; i++) {
      duet_partner_link_destroy(links[i]);
   }
   bson_free(links);
}

/* Reads the list of link names (an array, initialized in *names). */
static bool index_read(duet_session_t *session, bson_t *names, duet_error_t *error)
{
   bson_t doc;
   bool found = false;
   bson_iter_t iter;
   bson_init(names);
   if (!duet_store_meta_get(session, PARTNER_META_LINK, PARTNER_LINK_INDEX, &doc, &found, error)) {
      return false;
   }
   if (found) {
      if (bson_iter_init_find(&iter, &doc, "names") && BSON_ITER_HOLDS_ARRAY(&iter)) {
         uint32_t len;
         const uint8_t *data;
         bson_iter_array(&iter, &len, &data);
         bson_t array;
         bson_init_static(&array, data, len);
         bson_concat(names, &array);
      }
      bson_destroy(&doc);
   }
   return true;
}

/* Adds (add) or removes `name` in the index of links. */
static bool index_update(duet_session_t *session, const char *name, bool add, duet_error_t *error)
{
   bson_t names, doc, array;
   bson_iter_t iter;
   if (!index_read(session, &names, error)) {
      bson_destroy(&names);
      return false;
   }
   bson_init(&doc);
   BSON_APPEND_ARRAY_BEGIN(&doc, "names", &array);
   uint32_t index = 0;
   char key[16];
   const char *key_text;
   bson_iter_init(&iter, &names);
   while (bson_iter_next(&iter)) {
      if (BSON_ITER_HOLDS_UTF8(&iter) && strcmp(bson_iter_utf8(&iter, NULL), name) != 0) {
         bson_uint32_to_string(index++, &key_text, key, sizeof key);
         bson_append_utf8(&array, key_text, -1, bson_iter_utf8(&iter, NULL), -1);
      }
   }
   if (add) {
      bson_uint32_to_string(index++, &key_text, key, sizeof key);
      bson_append_utf8(&array, key_text, -1, name, -1);
   }
   bson_append_array_end(&doc, &array);
   bool ok = duet_store_meta_put(session, PARTNER_META_LINK, PARTNER_LINK_INDEX, &doc, error);
   bson_destroy(&doc);
   bson_destroy(&names);
   return ok;
}

bool duet_partner_link_create(duet_session_t *session, const duet_partner_spec_t *spec, duet_partner_link_t **out,
                              duet_error_t *error)
{
   duet_partner_link_t *link = NULL;
   bool exists = false, found = false;
   *out = NULL;
   if (!link_new(duet_session_store(session), spec, &link, error)) {
      return false;
   }
   if (!duet_session_begin(session, error)) {
      duet_partner_link_destroy(link);
      return false;
   }
   /* the write transaction holds off every other writer: the mirrors are in place before
    * any write can follow the creation */
   bson_t existing;
   if (!duet_store_meta_get(session, PARTNER_META_LINK, link->name, &existing, &found, error)) {
      goto fail;
   }
   if (found) {
      bson_destroy(&existing);
      duet_error_set(error, DUET_ERR_NAMESPACE_EXISTS,
                     "partner link %s exists already; see its progress, or retire it first", link->name);
      goto fail;
   }
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      duet_store_collection_info_t info;
      if (!duet_store_collection_info(session, spec->database, spec->partner, &info, &exists, error)) {
         goto fail;
      }
      if (exists) {
         duet_store_collection_info_clear(&info);
         duet_error_set(error, DUET_ERR_NAMESPACE_EXISTS,
                        "partner collection %s.%s exists already; a partner collection starts empty: drop it or "
                        "choose another name with --partner",
                        spec->database, spec->partner);
         goto fail;
      }
      bson_t options, validator;
      duet_partner_schema_validator(duet_partner_transform_schema(link->transform), &validator);
      bson_init(&options);
      BSON_APPEND_DOCUMENT(&options, "validator", &validator);
      bool created = duet_store_create_collection(session, spec->database, spec->partner, &options, error);
      bson_destroy(&options);
      bson_destroy(&validator);
      if (!created) {
         goto fail;
      }
   }
   int64_t total = 0;
   if (!duet_store_count(session, spec->database, spec->source, &total, error)) {
      goto fail;
   }
   bson_t link_doc, spec_doc, progress;
   duet_partner_spec_to_bson(spec, &spec_doc);
   bson_init(&link_doc);
   BSON_APPEND_DOCUMENT(&link_doc, "spec", &spec_doc);
   BSON_APPEND_DATE_TIME(&link_doc, "created", (int64_t)time(NULL) * 1000);
   bson_init(&progress);
   BSON_APPEND_UTF8(&progress, "state", "backfilling");
   BSON_APPEND_INT64(&progress, "done", 0);
   BSON_APPEND_INT64(&progress, "total", total);
   BSON_APPEND_INT64(&progress, "copied", 0);
   bool ok = duet_store_meta_put(session, PARTNER_META_LINK, link->name, &link_doc, error) &&
             duet_store_meta_put(session, PARTNER_META_PROGRESS, link->name, &progress, error) &&
             index_update(session, link->name, true, error);
   bson_destroy(&spec_doc);
   bson_destroy(&link_doc);
   bson_destroy(&progress);
   if (!ok || !partner_link_register(link, error)) {
      goto fail;
   }
   if (!duet_session_commit(session, error)) {
      duet_partner_link_destroy(link); /* unregisters */
      return false;
   }
   *out = link;
   return true;

fail:
   duet_session_abort(session);
   duet_partner_link_destroy(link);
   return false;
}

bool duet_partner_links_restore(duet_session_t *session, duet_partner_link_t ***links, size_t *count,
                                duet_error_t *error)
{
   bson_t names;
   bson_iter_t iter, spec_iter;
   *links = NULL;
   *count = 0;
   if (!index_read(session, &names, error)) {
      bson_destroy(&names);
      return false;
   }
   size_t capacity = 0;
   bson_iter_init(&iter, &names);
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         continue;
      }
      const char *name = bson_iter_utf8(&iter, NULL);
      bson_t doc;
      bool found = false;
      if (!duet_store_meta_get(session, PARTNER_META_LINK, name, &doc, &found, error)) {
         goto fail;
      }
      if (!found) {
         continue; /* retired between index and link: nothing to restore */
      }
      duet_partner_spec_t *spec = NULL;
      duet_partner_link_t *link = NULL;
      bool ok = false;
      if (bson_iter_init_find(&spec_iter, &doc, "spec") && BSON_ITER_HOLDS_DOCUMENT(&spec_iter)) {
         uint32_t len;
         const uint8_t *data;
         bson_iter_document(&spec_iter, &len, &data);
         bson_t spec_doc;
         bson_init_static(&spec_doc, data, len);
         ok = duet_partner_spec_from_bson(name, &spec_doc, &spec, error);
      } else {
         duet_error_set(error, DUET_ERR_INTERNAL, "partner link %s: the persisted link has no spec", name);
      }
      bson_destroy(&doc);
      ok = ok && link_new(duet_session_store(session), spec, &link, error) && partner_link_register(link, error);
      duet_partner_spec_destroy(spec);
      if (!ok) {
         duet_partner_link_destroy(link);
         goto fail;
      }
      if (*count == capacity) {
         capacity = capacity ? capacity * 2 : 4;
         *links = bson_realloc(*links, capacity * sizeof **links);
      }
      (*links)[(*count)++] = link;
   }
   bson_destroy(&names);
   return true;

fail:
   bson_destroy(&names);
   duet_partner_links_free(*links, *count);
   *links = NULL;
   *count = 0;
   return false;
}

bool duet_partner_collection_linked(duet_session_t *session, const char *db, const char *coll, bool *linked,
                                    char **link_name, duet_error_t *error)
{
   bson_t names;
   bson_iter_t iter, field;
   bool ok = true;
   *linked = false;
   if (link_name) {
      *link_name = NULL;
   }
   if (!index_read(session, &names, error)) {
      bson_destroy(&names);
      return false;
   }
   bson_iter_init(&iter, &names);
   while (!*linked && bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         continue;
      }
      const char *name = bson_iter_utf8(&iter, NULL);
      bson_t doc;
      bool found = false;
      if (!duet_store_meta_get(session, PARTNER_META_LINK, name, &doc, &found, error)) {
         ok = false;
         break;
      }
      if (!found) {
         continue;
      }
      const char *keys[] = {"spec.source", "spec.partner"};
      bool same_db = bson_iter_init(&field, &doc) && bson_iter_find_descendant(&field, "spec.database", &field) &&
                     BSON_ITER_HOLDS_UTF8(&field) && strcmp(bson_iter_utf8(&field, NULL), db) == 0;
      for (int k = 0; same_db && k < 2 && !*linked; k++) {
         if (bson_iter_init(&field, &doc) && bson_iter_find_descendant(&field, keys[k], &field) &&
             BSON_ITER_HOLDS_UTF8(&field) && strcmp(bson_iter_utf8(&field, NULL), coll) == 0) {
            *linked = true;
            if (link_name) {
               *link_name = bson_strdup(name);
            }
         }
      }
      bson_destroy(&doc);
   }
   bson_destroy(&names);
   return ok;
}

bool duet_partner_retire(duet_partner_link_t *link, duet_session_t *session, duet_partner_keep_t keep, bool drop,
                         duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   partner_link_unregister(link);
   bool ok = duet_session_begin(session, error);
   ok = ok && duet_store_meta_delete(session, PARTNER_META_LINK, link->name, error) &&
        duet_store_meta_delete(session, PARTNER_META_PROGRESS, link->name, error) &&
        index_update(session, link->name, false, error);
   if (ok && drop && spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      const char *retired = keep == DUET_PARTNER_KEEP_NEW ? spec->source : spec->partner;
      ok = duet_store_drop_collection(session, spec->database, retired, NULL, error);
   }
   if (ok) {
      ok = duet_session_commit(session, error);
   } else {
      duet_session_abort(session);
   }
   duet_partner_link_destroy(link);
   return ok;
}
