/*
 * cursor.c — the cursor registry: batches, getMore, killCursors, idle timeout.
 * See cursor.h for the contract and the locking rules.
 */
#include "server/cursor.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

struct duet_cursor {
   int64_t id;                   /* > 0, unique in the registry */
   char *ns;                     /* owned "db.collection" */
   duet_cursor_source_t source;  /* owned */
   bson_t *pending;              /* owned: a document that did not fit the last batch, or NULL
                                  * (a pointer: an embedded bson_t would need 128-byte alignment) */
   bool in_use;                  /* checked out by a getMore (source called without the lock) */
   bool killed;                  /* killCursors/killSessions hit it while in use */
   bool tailable, await_data;
   bool has_lsid;
   uint8_t lsid[16];
   int64_t last_used_us;         /* monotonic time of the last batch */
   duet_cursor_t *next;          /* registry list */
};

int64_t duet_cursor_now_us(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void duet_cursor_registry_init(duet_cursor_registry_t *registry, int64_t idle_timeout_ms)
{
   memset(registry, 0, sizeof *registry);
   pthread_mutex_init(&registry->lock, NULL);
   registry->idle_timeout_ms = idle_timeout_ms;
   struct timespec ts;
   clock_gettime(CLOCK_REALTIME, &ts);
   registry->id_state = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

static void cursor_free(duet_cursor_t *cursor)
{
   if (cursor->source.ops && cursor->source.ops->destroy) {
      cursor->source.ops->destroy(cursor->source.state);
   }
   if (cursor->pending) {
      bson_destroy(cursor->pending);
   }
   bson_free(cursor->ns);
   bson_free(cursor);
}

void duet_cursor_registry_destroy(duet_cursor_registry_t *registry)
{
   duet_cursor_t *cursor = registry->head;
   while (cursor) {
      duet_cursor_t *next = cursor->next;
      cursor_free(cursor);
      cursor = next;
   }
   registry->head = NULL;
   pthread_mutex_destroy(&registry->lock);
}

/* Requires the lock. */
static duet_cursor_t *cursor_find(duet_cursor_registry_t *registry, int64_t id)
{
   for (duet_cursor_t *cursor = registry->head; cursor; cursor = cursor->next) {
      if (cursor->id == id) {
         return cursor;
      }
   }
   return NULL;
}

/* Requires the lock. Unlinks `cursor` without freeing it. */
static void cursor_unlink(duet_cursor_registry_t *registry, duet_cursor_t *cursor)
{
   for (duet_cursor_t **link = &registry->head; *link; link = &(*link)->next) {
      if (*link == cursor) {
         *link = cursor->next;
         registry->open_count--;
         return;
      }
   }
}

/* Requires the lock. A random id in [1, 2^63) not in use. */
static int64_t cursor_new_id(duet_cursor_registry_t *registry)
{
   for (;;) {
      uint64_t r = (registry->id_state += 0x9E3779B97F4A7C15ull);
      r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ull;
      r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
      r ^= r >> 31;
      int64_t id = (int64_t)(r & 0x7FFFFFFFFFFFFFFFull);
      if (id != 0 && !cursor_find(registry, id)) {
         return id;
      }
   }
}

/*
 * The decimal text of `value` in `buffer` (at least 11 bytes), NUL-terminated; returns it.
 * bson_uint32_to_string formats keys past 999 with snprintf, which took a third of a
 * large getMore's time.
 */
static const char *cursor_array_key(uint32_t value, char buffer[static 11])
{
   char *end = buffer + 10;
   *end = '\0';
   do {
      *--end = (char)('0' + value % 10);
      value /= 10;
   } while (value > 0);
   return end;
}

/*
 * Appends up to `limit` documents (limit < 0: no count limit) from the cursor
 * to `array`, stopping before 16 MiB.  Called without the registry lock on a
 * cursor owned by the caller.  Sets *ended when the source is exhausted.
 */
static bool cursor_fill(duet_cursor_t *cursor, int64_t limit, bson_t *array, bool *ended, int64_t *count_out,
                        duet_error_t *error)
{
   int64_t count = 0;
   size_t bytes = 0;
   *ended = false;
   while (limit < 0 || count < limit) {
      const bson_t *doc;
      bson_t *pending = cursor->pending; /* owned here until appended */
      cursor->pending = NULL;
      if (pending) {
         doc = pending;
      } else {
         duet_cursor_step_t step = cursor->source.ops->next(cursor->source.state, &doc, error);
         if (step == DUET_CURSOR_STEP_END) {
            *ended = true;
            break;
         }
         if (step == DUET_CURSOR_STEP_NONE_YET) {
            break;
         }
         if (step == DUET_CURSOR_STEP_ERROR) {
            return false;
         }
      }
      if (count > 0 && bytes + doc->len > DUET_CURSOR_MAX_BATCH_BYTES) {
         cursor->pending = pending ? pending : bson_copy(doc); /* the source's copy is gone at its next call */
         break;
      }
      char key_buffer[11];
      const char *key = cursor_array_key((uint32_t)count, key_buffer);
      bson_append_document(array, key, (int)(key_buffer + 10 - key), doc);
      bytes += doc->len;
      count++;
      if (pending) {
         bson_destroy(pending);
      }
   }
   *count_out = count;
   return true;
}

/*
 * The reply's "cursor" document is written in place: begin opens {cursor: {<batch_name>: [ and
 * hands out the array the batch is filled into (no copy of a 16 MiB batch), end closes the
 * array and adds id, ns and the source's fields.  A failed fill still ends both (the dispatcher
 * then replaces the reply with the error).
 */
typedef struct cursor_reply {
   bson_t cursor_document; /* child of the reply */
   bson_t batch;           /* child of cursor_document */
} cursor_reply_t;

static void cursor_reply_begin(bson_t *reply, const char *batch_name, cursor_reply_t *out)
{
   bson_append_document_begin(reply, "cursor", 6, &out->cursor_document);
   bson_append_array_begin(&out->cursor_document, batch_name, -1, &out->batch);
}

static void cursor_reply_end(duet_cursor_t *cursor, int64_t id, bson_t *reply, cursor_reply_t *open)
{
   bson_append_array_end(&open->cursor_document, &open->batch);
   BSON_APPEND_INT64(&open->cursor_document, "id", id);
   BSON_APPEND_UTF8(&open->cursor_document, "ns", cursor->ns);
   if (cursor->source.ops->append_batch_fields) {
      cursor->source.ops->append_batch_fields(cursor->source.state, &open->cursor_document);
   }
   bson_append_document_end(reply, &open->cursor_document);
}

/* Ends an open reply after a failed fill; its content no longer matters. */
static void cursor_reply_abandon(bson_t *reply, cursor_reply_t *open)
{
   bson_append_array_end(&open->cursor_document, &open->batch);
   bson_append_document_end(reply, &open->cursor_document);
}

bool duet_cursor_reply_first(duet_cursor_registry_t *registry, const char *ns, duet_cursor_source_t source,
                             const duet_cursor_options_t *options, bson_t *reply, duet_error_t *error)
{
   duet_cursor_t *cursor = bson_malloc0(sizeof *cursor);
   cursor->ns = bson_strdup(ns);
   cursor->source = source;
   cursor->tailable = options->tailable;
   cursor->await_data = options->tailable && options->await_data;
   cursor->has_lsid = options->has_lsid;
   memcpy(cursor->lsid, options->lsid, sizeof cursor->lsid);

   int64_t limit = options->batch_size < 0 ? DUET_CURSOR_DEFAULT_FIRST_BATCH : options->batch_size;
   cursor_reply_t open;
   cursor_reply_begin(reply, "firstBatch", &open);
   bool ended = false;
   int64_t count = 0;
   if (!cursor_fill(cursor, limit, &open.batch, &ended, &count, error)) {
      cursor_reply_abandon(reply, &open);
      cursor_free(cursor);
      return false;
   }
   /* END closes tailable cursors too (a change stream after its invalidate); a tailable
    * source with nothing yet answers NONE_YET */
   bool keep = !options->single_batch && !ended;
   if (keep) {
      pthread_mutex_lock(&registry->lock);
      cursor->id = cursor_new_id(registry);
      cursor->last_used_us = duet_cursor_now_us();
      cursor->next = registry->head;
      registry->head = cursor;
      registry->open_count++;
      registry->total_opened++;
      /* the reply is finished under the lock: a concurrent getMore cannot know the id yet, and
       * killCursors on it would have to guess it */
      cursor_reply_end(cursor, cursor->id, reply, &open);
      pthread_mutex_unlock(&registry->lock);
   } else {
      cursor_reply_end(cursor, 0, reply, &open);
      cursor_free(cursor);
   }
   return true;
}

bool duet_cursor_get_more(duet_cursor_registry_t *registry, int64_t id, const char *ns, int64_t batch_size,
                          int64_t max_await_ms, bson_t *reply, duet_error_t *error)
{
   pthread_mutex_lock(&registry->lock);
   duet_cursor_t *cursor = cursor_find(registry, id);
   if (!cursor || cursor->killed) {
      pthread_mutex_unlock(&registry->lock);
      duet_error_set(error, DUET_ERR_CURSOR_NOT_FOUND, "cursor id %lld not found", (long long)id);
      return false;
   }
   if (strcmp(cursor->ns, ns) != 0) {
      duet_error_set(error, 13, "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s",
                     ns, cursor->ns);
      pthread_mutex_unlock(&registry->lock);
      return false;
   }
   if (cursor->in_use) {
      pthread_mutex_unlock(&registry->lock);
      duet_error_set(error, DUET_ERR_CURSOR_IN_USE, "cursor id %lld is already in use", (long long)id);
      return false;
   }
   if (max_await_ms >= 0 && !cursor->await_data) {
      pthread_mutex_unlock(&registry->lock);
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot set maxTimeMS on getMore command for a non-awaitData cursor");
      return false;
   }
   cursor->in_use = true;
   pthread_mutex_unlock(&registry->lock);

   int64_t deadline = duet_cursor_now_us() +
                      (max_await_ms < 0 ? DUET_CURSOR_DEFAULT_AWAIT_MS : max_await_ms) * 1000;
   cursor_reply_t open;
   cursor_reply_begin(reply, "nextBatch", &open);
   bool ended = false;
   bool ok = true;
   for (;;) {
      int64_t count = 0; /* a retry after a wait starts on an empty batch */
      ok = cursor_fill(cursor, batch_size > 0 ? batch_size : -1, &open.batch, &ended, &count, error);
      if (!ok || count > 0 || ended || !cursor->await_data || !cursor->source.ops->wait) {
         break;
      }
      if (duet_cursor_now_us() >= deadline || __atomic_load_n(&cursor->killed, __ATOMIC_ACQUIRE)) {
         break;
      }
      cursor->source.ops->wait(cursor->source.state, deadline);
   }

   pthread_mutex_lock(&registry->lock);
   cursor->in_use = false;
   bool close = !ok || cursor->killed || ended;
   if (ok) {
      cursor_reply_end(cursor, close ? 0 : cursor->id, reply, &open);
   } else {
      cursor_reply_abandon(reply, &open);
   }
   if (close) {
      cursor_unlink(registry, cursor);
   } else {
      cursor->last_used_us = duet_cursor_now_us();
   }
   pthread_mutex_unlock(&registry->lock);
   if (close) {
      cursor_free(cursor);
   }
   return ok;
}

static void cursor_append_id(bson_t *array, uint32_t *index, int64_t id)
{
   char key_buffer[16];
   const char *key;
   bson_uint32_to_string((*index)++, &key, key_buffer, sizeof key_buffer);
   bson_append_int64(array, key, -1, id);
}

void duet_cursor_kill(duet_cursor_registry_t *registry, const char *ns, bson_iter_t *ids, bson_t *reply)
{
   bson_t killed = BSON_INITIALIZER, not_found = BSON_INITIALIZER;
   uint32_t killed_count = 0, not_found_count = 0;
   duet_cursor_t *to_free = NULL;
   pthread_mutex_lock(&registry->lock);
   while (bson_iter_next(ids)) {
      int64_t id = bson_iter_as_int64(ids);
      duet_cursor_t *cursor = cursor_find(registry, id);
      if (!cursor || cursor->killed || strcmp(cursor->ns, ns) != 0) {
         cursor_append_id(&not_found, &not_found_count, id);
         continue;
      }
      if (cursor->in_use) {
         __atomic_store_n(&cursor->killed, true, __ATOMIC_RELEASE); /* the getMore frees it */
      } else {
         cursor_unlink(registry, cursor);
         cursor->next = to_free;
         to_free = cursor;
      }
      cursor_append_id(&killed, &killed_count, id);
   }
   pthread_mutex_unlock(&registry->lock);
   while (to_free) {
      duet_cursor_t *next = to_free->next;
      cursor_free(to_free);
      to_free = next;
   }
   bson_t empty = BSON_INITIALIZER;
   BSON_APPEND_ARRAY(reply, "cursorsKilled", &killed);
   BSON_APPEND_ARRAY(reply, "cursorsNotFound", &not_found);
   BSON_APPEND_ARRAY(reply, "cursorsAlive", &empty);
   BSON_APPEND_ARRAY(reply, "cursorsUnknown", &empty);
   bson_destroy(&killed);
   bson_destroy(&not_found);
   bson_destroy(&empty);
}

/* Closes every cursor for which `match` is true; returns how many. */
static size_t cursor_close_matching(duet_cursor_registry_t *registry, bool (*match)(duet_cursor_t *, const void *),
                                    const void *arg, bool count_timeouts)
{
   size_t closed = 0;
   duet_cursor_t *to_free = NULL;
   pthread_mutex_lock(&registry->lock);
   duet_cursor_t **link = &registry->head;
   while (*link) {
      duet_cursor_t *cursor = *link;
      if (!cursor->killed && match(cursor, arg)) {
         closed++;
         if (cursor->in_use) {
            __atomic_store_n(&cursor->killed, true, __ATOMIC_RELEASE);
            link = &cursor->next;
         } else {
            *link = cursor->next;
            registry->open_count--;
            cursor->next = to_free;
            to_free = cursor;
         }
      } else {
         link = &cursor->next;
      }
   }
   if (count_timeouts) {
      registry->timed_out += (int64_t)closed;
   }
   pthread_mutex_unlock(&registry->lock);
   while (to_free) {
      duet_cursor_t *next = to_free->next;
      cursor_free(to_free);
      to_free = next;
   }
   return closed;
}

static bool cursor_match_session(duet_cursor_t *cursor, const void *arg)
{
   return cursor->has_lsid && memcmp(cursor->lsid, arg, 16) == 0;
}

size_t duet_cursor_kill_session(duet_cursor_registry_t *registry, const uint8_t lsid[16])
{
   return cursor_close_matching(registry, cursor_match_session, lsid, false);
}

typedef struct cursor_reap_arg {
   int64_t now_us;
   int64_t timeout_us;
} cursor_reap_arg_t;

static bool cursor_match_idle(duet_cursor_t *cursor, const void *arg)
{
   const cursor_reap_arg_t *reap = arg;
   return !cursor->in_use && reap->now_us - cursor->last_used_us > reap->timeout_us;
}

size_t duet_cursor_reap(duet_cursor_registry_t *registry, int64_t now_us)
{
   pthread_mutex_lock(&registry->lock);
   cursor_reap_arg_t arg = {now_us, registry->idle_timeout_ms * 1000};
   pthread_mutex_unlock(&registry->lock);
   return cursor_close_matching(registry, cursor_match_idle, &arg, true);
}

/* ---- array source ------------------------------------------------------------ */

typedef struct cursor_array_state {
   bson_t **documents; /* owned; entries before `position` - 1 are already destroyed (NULL) */
   size_t count;
   size_t position;
} cursor_array_state_t;

static duet_cursor_step_t cursor_array_next(void *state, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   cursor_array_state_t *array = state;
   if (array->position > 0 && array->documents[array->position - 1]) {
      bson_destroy(array->documents[array->position - 1]); /* the batch has copied it */
      array->documents[array->position - 1] = NULL;
   }
   if (array->position == array->count) {
      return DUET_CURSOR_STEP_END;
   }
   *doc = array->documents[array->position++];
   return DUET_CURSOR_STEP_DOC;
}

static void cursor_array_destroy(void *state)
{
   cursor_array_state_t *array = state;
   for (size_t i = array->position > 0 ? array->position - 1 : 0; i < array->count; i++) {
      bson_destroy(array->documents[i]); /* NULL-safe */
   }
   bson_free(array->documents);
   bson_free(array);
}

static const duet_cursor_source_ops_t cursor_array_ops = {cursor_array_next, NULL, NULL, cursor_array_destroy};

duet_cursor_source_t duet_cursor_source_from_array(bson_t **documents, size_t count)
{
   cursor_array_state_t *state = bson_malloc0(sizeof *state);
   state->documents = documents;
   state->count = count;
   return (duet_cursor_source_t){&cursor_array_ops, state};
}
