/*
 * store_checkpoint.c — WAL checkpoints off the writers' path.
 *
 * SQLite's default auto-checkpoint runs inside the COMMIT that pushes the WAL past 1000
 * pages: that writer copies the WAL into the database file and, with synchronous=NORMAL,
 * fsyncs the WAL before and the database after — all while it holds the store's single
 * writer lock.  Instead, every session connection gets a WAL hook (duet_store_wal_hook)
 * that, past DUET_STORE_CHECKPOINT_PAGES, wakes the store's checkpointer thread, which runs
 * PASSIVE checkpoints on its own connection while writers go on.  Durability is unchanged:
 * a commit is in the WAL when it is acknowledged (kill -9 safe, as before), checkpoints only
 * move committed pages into the database file.  Should the checkpointer fall behind (long
 * readers pin old frames), the committing writer checkpoints itself once the WAL passes
 * DUET_STORE_CHECKPOINT_PAGES_MAX, so the WAL stays bounded as with auto-checkpoints.
 *
 * Threads: the checkpointer thread owns checkpoint_db; checkpoint_mutex guards
 * checkpoint_requested and checkpoint_stop.  When the thread cannot start (or its
 * connection cannot open), sessions keep SQLite's auto-checkpoint.
 */
#include "store/store_internal.h"

#include <string.h>

static void *checkpoint_main(void *arg)
{
   duet_store_t *store = arg;
   pthread_mutex_lock(&store->checkpoint_mutex);
   for (;;) {
      while (!store->checkpoint_requested && !store->checkpoint_stop) {
         pthread_cond_wait(&store->checkpoint_cond, &store->checkpoint_mutex);
      }
      if (store->checkpoint_stop) {
         break;
      }
      store->checkpoint_requested = false;
      pthread_mutex_unlock(&store->checkpoint_mutex);
      /* PASSIVE: copies what no reader pins, never waits for readers or the writer; a
       * failure (busy, I/O) leaves the frames in the WAL for the next request */
      int log_frames = 0, done_frames = 0;
      sqlite3_wal_checkpoint_v2(store->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done_frames);
      atomic_fetch_add(&store->checkpoints, 1);
      pthread_mutex_lock(&store->checkpoint_mutex);
   }
   pthread_mutex_unlock(&store->checkpoint_mutex);
   return NULL;
}

void duet_store_checkpointer_start(duet_store_t *store, sqlite3 *db)
{
   pthread_mutex_init(&store->checkpoint_mutex, NULL);
   pthread_cond_init(&store->checkpoint_cond, NULL);
   store->checkpoint_db = db;
   store->checkpoint_requested = false;
   store->checkpoint_stop = false;
   store->checkpoint_running = pthread_create(&store->checkpoint_thread, NULL, checkpoint_main, store) == 0;
   if (!store->checkpoint_running) {
      sqlite3_close(db);
      store->checkpoint_db = NULL;
   }
}

void duet_store_checkpointer_stop(duet_store_t *store)
{
   if (store->checkpoint_running) {
      pthread_mutex_lock(&store->checkpoint_mutex);
      store->checkpoint_stop = true;
      pthread_cond_signal(&store->checkpoint_cond);
      pthread_mutex_unlock(&store->checkpoint_mutex);
      pthread_join(store->checkpoint_thread, NULL);
      store->checkpoint_running = false;
   }
   /* the last connection to close checkpoints the rest and removes the WAL */
   sqlite3_close(store->checkpoint_db);
   store->checkpoint_db = NULL;
   pthread_mutex_destroy(&store->checkpoint_mutex);
   pthread_cond_destroy(&store->checkpoint_cond);
}

/* sqlite3_wal_hook callback: runs on the committing session's thread after each commit,
 * with the WAL's size in pages. */
static int wal_hook(void *context, sqlite3 *db, const char *name, int pages)
{
   duet_store_t *store = context;
   if (pages >= DUET_STORE_CHECKPOINT_PAGES_MAX) {
      /* the checkpointer is behind: do it here, as SQLite's auto-checkpoint would */
      sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
   } else if (pages >= DUET_STORE_CHECKPOINT_PAGES) {
      pthread_mutex_lock(&store->checkpoint_mutex);
      if (!store->checkpoint_requested) {
         store->checkpoint_requested = true;
         pthread_cond_signal(&store->checkpoint_cond);
      }
      pthread_mutex_unlock(&store->checkpoint_mutex);
   }
   return SQLITE_OK;
}

void duet_store_checkpointer_attach(duet_store_t *store, sqlite3 *db)
{
   if (store->checkpoint_running) {
      sqlite3_wal_hook(db, wal_hook, store); /* replaces SQLite's auto-checkpoint */
   }
}
