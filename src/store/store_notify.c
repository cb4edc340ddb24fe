/*
 * store_notify.c — commit notification for change-log readers: every commit of a
 * write transaction (client commands, partner mirrors, backfill threads — all of
 * them end in duet_session_commit) bumps a per-store commit sequence and wakes
 * the threads blocked in duet_store_changelog_wait, so a change stream sees a new
 * event without polling.
 *
 * The state lives in a small process-wide table keyed by the store (its address
 * and its file path: a store closed and another opened at the same address on a
 * different directory gets a fresh entry; one reopened on the same directory
 * continues the old entry, whose sequence only ever grows).  One mutex guards the
 * table and one condition variable (monotonic clock) carries the wake-ups; a
 * spurious wake-up from another store's commit only costs the waiter a re-read.
 */
#include "store/store_internal.h"

#include <string.h>
#include <time.h>

typedef struct notify_entry {
   const duet_store_t *store; /* compared only, never dereferenced after close */
   char *path;                /* owned copy of the store's file path */
   uint64_t sequence;         /* commits notified so far */
   struct notify_entry *next;
} notify_entry_t;

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t notify_once = PTHREAD_ONCE_INIT;
static pthread_cond_t notify_cond;
static notify_entry_t *notify_entries; /* owned list, guarded by notify_lock; lives for the process */

static void notify_init(void)
{
   pthread_condattr_t attr;
   pthread_condattr_init(&attr);
   pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
   pthread_cond_init(&notify_cond, &attr);
   pthread_condattr_destroy(&attr);
}

/* The entry of `store`, created when missing.  Requires notify_lock. */
static notify_entry_t *notify_entry(const duet_store_t *store)
{
   const char *path = duet_store_path(store);
   for (notify_entry_t *entry = notify_entries; entry; entry = entry->next) {
      if (entry->store == store && strcmp(entry->path, path) == 0) {
         return entry;
      }
   }
   notify_entry_t *entry = bson_malloc0(sizeof *entry);
   entry->store = store;
   entry->path = bson_strdup(path);
   entry->next = notify_entries;
   notify_entries = entry;
   return entry;
}

void duet_store_changelog_notify(duet_store_t *store)
{
   pthread_once(&notify_once, notify_init);
   pthread_mutex_lock(&notify_lock);
   notify_entry(store)->sequence++;
   pthread_cond_broadcast(&notify_cond);
   pthread_mutex_unlock(&notify_lock);
}

uint64_t duet_store_changelog_sequence(duet_store_t *store)
{
   pthread_once(&notify_once, notify_init);
   pthread_mutex_lock(&notify_lock);
   uint64_t sequence = notify_entry(store)->sequence;
   pthread_mutex_unlock(&notify_lock);
   return sequence;
}

bool duet_store_changelog_wait(duet_store_t *store, uint64_t after, int64_t deadline_us)
{
   pthread_once(&notify_once, notify_init);
   struct timespec until = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};
   pthread_mutex_lock(&notify_lock);
   notify_entry_t *entry = notify_entry(store);
   while (entry->sequence == after) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if ((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 >= deadline_us) {
         break;
      }
      pthread_cond_timedwait(&notify_cond, &notify_lock, &until);
   }
   bool moved = entry->sequence != after;
   pthread_mutex_unlock(&notify_lock);
   return moved;
}
