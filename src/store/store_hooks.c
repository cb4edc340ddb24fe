/*
 * store_hooks.c — write hooks: callbacks registered per collection that run
 * inside the writing transaction (the partner mirrors plug in here).  A hook's
 * own writes skip the hooks of the same origin, so mirrors never echo.
 */
#include "store/store_internal.h"

#include <string.h>

bool duet_store_hook_add(duet_store_t *store, const char *db, const char *coll, const char *origin,
                         duet_store_hook_fn fn, void *context, uint64_t *id, duet_error_t *error)
{
   if (!fn || !db || !coll) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "a write hook needs a database, a collection and a function");
      return false;
   }
   pthread_mutex_lock(&store->hooks_mutex);
   store->hooks = bson_realloc(store->hooks, (store->hook_count + 1) * sizeof *store->hooks);
   duet_store_hook_t *hook = &store->hooks[store->hook_count++];
   hook->id = store->next_hook_id++;
   hook->db = bson_strdup(db);
   hook->coll = bson_strdup(coll);
   hook->origin = origin ? bson_strdup(origin) : NULL;
   hook->fn = fn;
   hook->context = context;
   if (id) {
      *id = hook->id;
   }
   atomic_store(&store->hooks_registered, store->hook_count);
   pthread_mutex_unlock(&store->hooks_mutex);
   return true;
}

void duet_store_hook_remove(duet_store_t *store, uint64_t id)
{
   /* waiting for the writer guarantees no call of this hook is in flight afterwards */
   pthread_mutex_lock(&store->write_mutex);
   pthread_mutex_lock(&store->hooks_mutex);
   for (size_t i = 0; i < store->hook_count; i++) {
      if (store->hooks[i].id == id) {
         bson_free(store->hooks[i].db);
         bson_free(store->hooks[i].coll);
         bson_free(store->hooks[i].origin);
         memmove(&store->hooks[i], &store->hooks[i + 1], (store->hook_count - i - 1) * sizeof *store->hooks);
         store->hook_count--;
         break;
      }
   }
   atomic_store(&store->hooks_registered, store->hook_count);
   pthread_mutex_unlock(&store->hooks_mutex);
   pthread_mutex_unlock(&store->write_mutex);
}

static bool origin_active(const duet_session_t *session, const char *origin)
{
   if (!origin) {
      return false;
   }
   for (size_t i = 0; i < session->origin_depth; i++) {
      if (session->origins[i] && strcmp(session->origins[i], origin) == 0) {
         return true;
      }
   }
   return false;
}

bool duet_store_hooks_run(duet_session_t *session, const duet_store_write_t *write, duet_error_t *error)
{
   duet_store_t *store = session->store;
   if (atomic_load(&store->hooks_registered) == 0) {
      return true;
   }
   /* copy the matching hooks so none is called with the table locked */
   duet_store_hook_t local[8];
   duet_store_hook_t *matching = local;
   size_t count = 0;
   pthread_mutex_lock(&store->hooks_mutex);
   if (store->hook_count > 8) {
      matching = bson_malloc(store->hook_count * sizeof *matching);
   }
   for (size_t i = 0; i < store->hook_count; i++) {
      duet_store_hook_t *hook = &store->hooks[i];
      if (strcmp(hook->db, write->db) == 0 && strcmp(hook->coll, write->coll) == 0 &&
          !origin_active(session, hook->origin)) {
         matching[count++] = *hook;
      }
   }
   pthread_mutex_unlock(&store->hooks_mutex);
   bool ok = true;
   for (size_t i = 0; ok && i < count; i++) {
      if (session->origin_depth >= DUET_STORE_MAX_ORIGIN_DEPTH) {
         duet_error_set(error, DUET_ERR_INTERNAL, "write hooks nested deeper than %d levels on %s.%s",
                        DUET_STORE_MAX_ORIGIN_DEPTH, write->db, write->coll);
         ok = false;
         break;
      }
      /* the origin string stays valid: removal waits for this write to finish */
      session->origins[session->origin_depth++] = matching[i].origin;
      ok = matching[i].fn(session, write, matching[i].context, error);
      session->origin_depth--;
      if (!ok && error && error->code == 0) {
         duet_error_set(error, DUET_ERR_OPERATION_FAILED, "a write hook on %s.%s failed", write->db, write->coll);
      }
   }
   if (matching != local) {
      bson_free(matching);
   }
   return ok;
}
