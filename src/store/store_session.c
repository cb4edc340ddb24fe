/*
 * store_session.c — opening a data directory, sessions (one SQLite connection
 * each), write transactions, savepoints, read snapshots, the prepared-statement
 * cache and the cluster-time clock.  The on-disk format is in docs/storage.md.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *schema_sql =
   "CREATE TABLE IF NOT EXISTS duet_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
   "CREATE TABLE IF NOT EXISTS duet_collections("
   "  id INTEGER PRIMARY KEY AUTOINCREMENT, db TEXT NOT NULL, name TEXT NOT NULL,"
   "  uuid BLOB NOT NULL, options BLOB NOT NULL, UNIQUE(db, name));"
   "CREATE TABLE IF NOT EXISTS duet_indexes("
   "  collection_id INTEGER NOT NULL, name TEXT NOT NULL, spec BLOB NOT NULL, table_name TEXT NOT NULL,"
   "  UNIQUE(collection_id, name));"
   "CREATE TABLE IF NOT EXISTS duet_changelog("
   "  ts INTEGER PRIMARY KEY, first_ts INTEGER NOT NULL, wall INTEGER NOT NULL, events BLOB NOT NULL,"
   "  size INTEGER NOT NULL);"
   "CREATE TABLE IF NOT EXISTS duet_partner_links(name TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;"
   "CREATE TABLE IF NOT EXISTS duet_migration_progress(name TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;"
   "CREATE TABLE IF NOT EXISTS duet_retryable_writes(lsid BLOB PRIMARY KEY, txn_number INTEGER NOT NULL,"
   "  command TEXT NOT NULL, reply BLOB NOT NULL, written_ms INTEGER NOT NULL) WITHOUT ROWID;"
   "INSERT OR IGNORE INTO duet_meta(key, value) VALUES('format_version', 1);"
   "INSERT OR IGNORE INTO duet_meta(key, value) VALUES('changelog_horizon', 0);"
   "INSERT OR IGNORE INTO duet_meta(key, value) VALUES('changelog_bytes', 0);";

bool duet_store_sqlite_error(sqlite3 *db, int rc, const char *what, duet_error_t *error)
{
   const char *text = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
   int primary = rc & 0xff;
   if (primary == SQLITE_FULL) {
      duet_error_set(error, DUET_ERR_OUT_OF_DISK_SPACE, "%s: %s", what, text);
   } else if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || primary == SQLITE_PERM) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "%s: %s", what, text);
   } else {
      duet_error_set(error, DUET_ERR_INTERNAL, "%s: %s", what, text);
   }
   return false;
}

int64_t duet_store_now_ms(void)
{
   struct timespec now;
   clock_gettime(CLOCK_REALTIME, &now);
   return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Opens and configures one connection to the store's file. */
static bool open_connection(duet_store_t *store, sqlite3 **out, duet_error_t *error)
{
   sqlite3 *db = NULL;
   int rc = sqlite3_open_v2(store->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL);
   if (rc != SQLITE_OK) {
      duet_store_sqlite_error(db, rc, "cannot open the data file", error);
      sqlite3_close(db);
      return false;
   }
   sqlite3_extended_result_codes(db, 1);
   sqlite3_busy_timeout(db, 10000);
   char pragmas[256];
   snprintf(pragmas, sizeof pragmas,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;"
            "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
            store->options.synchronous == DUET_STORE_SYNC_FULL ? "FULL" : "NORMAL");
   char *message = NULL;
   rc = sqlite3_exec(db, pragmas, NULL, NULL, &message);
   if (rc != SQLITE_OK) {
      duet_error_set(error, (rc & 0xff) == SQLITE_READONLY ? DUET_ERR_ILLEGAL_OPERATION : DUET_ERR_INTERNAL,
                     "cannot configure the data file %s: %s", store->path, message ? message : sqlite3_errstr(rc));
      sqlite3_free(message);
      sqlite3_close(db);
      return false;
   }
   *out = db;
   return true;
}

static bool check_and_init(duet_store_t *store, sqlite3 *db, duet_error_t *error)
{
   char *message = NULL;
   int rc = sqlite3_exec(db, schema_sql, NULL, NULL, &message);
   if (rc != SQLITE_OK) {
      duet_error_set(error, (rc & 0xff) == SQLITE_READONLY ? DUET_ERR_ILLEGAL_OPERATION : DUET_ERR_INTERNAL,
                     "cannot initialize the data file %s: %s", store->path, message ? message : sqlite3_errstr(rc));
      sqlite3_free(message);
      return false;
   }
   sqlite3_stmt *stmt = NULL;
   rc = sqlite3_prepare_v2(db, "SELECT value FROM duet_meta WHERE key = 'format_version'", -1, &stmt, NULL);
   if (rc != SQLITE_OK || sqlite3_step(stmt) != SQLITE_ROW) {
      sqlite3_finalize(stmt);
      return duet_store_sqlite_error(db, rc, "cannot read the format version", error);
   }
   int64_t version = sqlite3_column_int64(stmt, 0);
   sqlite3_finalize(stmt);
   if (version != DUET_STORE_FORMAT_VERSION) {
      duet_error_set(error, DUET_ERR_INTERNAL, "data file %s has format version %lld; this duet reads version %d",
                     store->path, (long long)version, DUET_STORE_FORMAT_VERSION);
      return false;
   }
   if (store->options.skip_integrity_check) {
      return true;
   }
   rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, NULL);
   if (rc != SQLITE_OK) {
      return duet_store_sqlite_error(db, rc, "integrity check", error);
   }
   rc = sqlite3_step(stmt);
   const char *result = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
   if (!result || strcmp(result, "ok") != 0) {
      duet_error_set(error, DUET_ERR_INTERNAL, "integrity check of %s failed: %s", store->path,
                     result ? result : sqlite3_errmsg(db));
      sqlite3_finalize(stmt);
      return false;
   }
   sqlite3_finalize(stmt);
   return true;
}

bool duet_store_open(const char *directory, const duet_store_options_t *options, duet_store_t **out,
                     duet_error_t *error)
{
   *out = NULL;
   if (mkdir(directory, 0755) != 0 && errno != EEXIST) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "cannot create data directory %s: %s", directory,
                     strerror(errno));
      return false;
   }
   duet_store_t *store = bson_malloc0(sizeof *store);
   store->directory = bson_strdup(directory);
   store->path = bson_strdup_printf("%s/duet.sqlite", directory);
   duet_store_options_t defaults = DUET_STORE_OPTIONS_INIT;
   store->options = options ? *options : defaults;
   if (store->options.changelog_max_bytes == 0) {
      store->options.changelog_max_bytes = 256ll * 1024 * 1024;
   }
   if (store->options.changelog_max_age_seconds == 0) {
      store->options.changelog_max_age_seconds = 7ll * 24 * 3600;
   }
   pthread_mutex_init(&store->write_mutex, NULL);
   pthread_mutex_init(&store->hooks_mutex, NULL);
   atomic_init(&store->catalog_version, 1);
   atomic_init(&store->commits_since_prune, 0);
   store->next_hook_id = 1;
   sqlite3 *db = NULL;
   if (!open_connection(store, &db, error) || !check_and_init(store, db, error)) {
      sqlite3_close(db);
      duet_store_close(store);
      return false;
   }
   /* the opening connection becomes the checkpointer's */
   duet_store_checkpointer_start(store, db);
   *out = store;
   return true;
}

void duet_store_close(duet_store_t *store)
{
   if (!store) {
      return;
   }
   for (size_t i = 0; i < store->hook_count; i++) {
      bson_free(store->hooks[i].db);
      bson_free(store->hooks[i].coll);
      bson_free(store->hooks[i].origin);
   }
   bson_free(store->hooks);
   if (store->checkpoint_db || store->checkpoint_running) {
      duet_store_checkpointer_stop(store);
   }
   pthread_mutex_destroy(&store->write_mutex);
   pthread_mutex_destroy(&store->hooks_mutex);
   bson_free(store->directory);
   bson_free(store->path);
   bson_free(store);
}

const char *duet_store_path(const duet_store_t *store)
{
   return store->path;
}

bool duet_session_open(duet_store_t *store, duet_session_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_session_t *session = bson_malloc0(sizeof *session);
   session->store = store;
   duet_key_init(&session->key);
   if (!open_connection(store, &session->db, error)) {
      duet_key_destroy(&session->key);
      bson_free(session);
      return false;
   }
   duet_store_checkpointer_attach(store, session->db);
   *out = session;
   return true;
}

void duet_session_close(duet_session_t *session)
{
   if (!session) {
      return;
   }
   duet_session_abort(session);
   duet_session_end_read(session);
   duet_store_stmt_cache_clear(session);
   duet_store_catalog_cache_clear(session);
   duet_store_catalog_retired_free(session);
   sqlite3_close(session->db);
   duet_key_destroy(&session->key);
   bson_free(session->pending);
   duet_store_changelog_forget_ns(session);
   bson_free(session->stmts);
   bson_free(session);
}

duet_store_t *duet_session_store(duet_session_t *session)
{
   return session->store;
}

/* ---- statement cache ---------------------------------------------------------- */

static uint64_t hash_sql(const char *sql)
{
   uint64_t h = 1469598103934665603ULL;
   for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
      h = (h ^ *p) * 1099511628211ULL;
   }
   return h;
}

static void stmt_cache_grow(duet_session_t *session)
{
   size_t old_capacity = session->stmt_capacity;
   duet_store_stmt_slot_t *old = session->stmts;
   session->stmt_capacity = old_capacity ? old_capacity * 2 : 64;
   session->stmts = bson_malloc0(session->stmt_capacity * sizeof *session->stmts);
   for (size_t i = 0; i < old_capacity; i++) {
      if (old[i].sql) {
         size_t slot = hash_sql(old[i].sql) & (session->stmt_capacity - 1);
         while (session->stmts[slot].sql) {
            slot = (slot + 1) & (session->stmt_capacity - 1);
         }
         session->stmts[slot] = old[i];
      }
   }
   bson_free(old);
}

sqlite3_stmt *duet_store_stmt(duet_session_t *session, const char *sql, duet_error_t *error)
{
   if ((session->stmt_count + 1) * 2 > session->stmt_capacity) {
      stmt_cache_grow(session);
   }
   size_t slot = hash_sql(sql) & (session->stmt_capacity - 1);
   while (session->stmts[slot].sql) {
      if (strcmp(session->stmts[slot].sql, sql) == 0) {
         sqlite3_stmt *stmt = session->stmts[slot].stmt;
         sqlite3_reset(stmt);
         sqlite3_clear_bindings(stmt);
         return stmt;
      }
      slot = (slot + 1) & (session->stmt_capacity - 1);
   }
   sqlite3_stmt *stmt = NULL;
   int rc = sqlite3_prepare_v3(session->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
   if (rc != SQLITE_OK) {
      duet_store_sqlite_error(session->db, rc, "prepare", error);
      return NULL;
   }
   session->stmts[slot].sql = bson_strdup(sql);
   session->stmts[slot].stmt = stmt;
   session->stmt_count++;
   return stmt;
}

void duet_store_stmt_cache_clear(duet_session_t *session)
{
   for (size_t i = 0; i < session->stmt_capacity; i++) {
      if (session->stmts[i].sql) {
         sqlite3_finalize(session->stmts[i].stmt);
         bson_free(session->stmts[i].sql);
         session->stmts[i].sql = NULL;
         session->stmts[i].stmt = NULL;
      }
   }
   session->stmt_count = 0;
   session->stmt_generation++;
}

bool duet_store_exec(duet_session_t *session, const char *sql, duet_error_t *error)
{
   char *message = NULL;
   int rc = sqlite3_exec(session->db, sql, NULL, NULL, &message);
   if (rc != SQLITE_OK) {
      sqlite3_free(message);
      return duet_store_sqlite_error(session->db, rc, sql, error);
   }
   return true;
}

/* ---- transactions ------------------------------------------------------------------ */

bool duet_session_begin(duet_session_t *session, duet_error_t *error)
{
   if (session->in_write) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "a write transaction is already open on this session");
      return false;
   }
   if (session->in_read) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "cannot start a write inside a read snapshot");
      return false;
   }
   pthread_mutex_lock(&session->store->write_mutex);
   sqlite3_stmt *begin = duet_store_stmt(session, "BEGIN IMMEDIATE", error);
   int rc = begin ? sqlite3_step(begin) : SQLITE_ERROR;
   if (begin) {
      sqlite3_reset(begin);
   }
   if (rc != SQLITE_DONE) {
      if (begin) {
         duet_store_sqlite_error(session->db, rc, "begin a write transaction", error);
      }
      pthread_mutex_unlock(&session->store->write_mutex);
      return false;
   }
   session->in_write = true;
   session->savepoint_depth = 0;
   session->catalog_dirty = false;
   session->last_ts = 0;
   session->ts_seconds = 0;
   session->pending_len = 0;
   duet_store_changelog_forget_ns(session);
   return true;
}

static void end_write(duet_session_t *session)
{
   session->in_write = false;
   session->savepoint_depth = 0;
   duet_store_catalog_retired_free(session);
   if (session->catalog_dirty) {
      duet_store_catalog_cache_clear(session);
      atomic_fetch_add(&session->store->catalog_version, 1);
      session->catalog_dirty = false;
   }
   pthread_mutex_unlock(&session->store->write_mutex);
}

bool duet_session_commit(duet_session_t *session, duet_error_t *error)
{
   if (!session->in_write) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "no write transaction is open on this session");
      return false;
   }
   if (!duet_store_changelog_flush(session, error)) {
      duet_session_abort(session);
      return false;
   }
   sqlite3_stmt *commit = duet_store_stmt(session, "COMMIT", error);
   int rc = commit ? sqlite3_step(commit) : SQLITE_ERROR;
   if (commit) {
      sqlite3_reset(commit);
   }
   if (rc != SQLITE_DONE) {
      if (commit) {
         duet_store_sqlite_error(session->db, rc, "commit", error);
      }
      duet_session_abort(session);
      return false;
   }
   end_write(session);
   duet_store_changelog_notify(session->store);
   duet_store_changelog_after_commit(session);
   return true;
}

void duet_session_abort(duet_session_t *session)
{
   if (!session->in_write) {
      return;
   }
   if (!sqlite3_get_autocommit(session->db)) {
      sqlite3_exec(session->db, "ROLLBACK", NULL, NULL, NULL);
   }
   session->pending_len = 0;
   end_write(session);
}

bool duet_session_in_transaction(const duet_session_t *session)
{
   return session->in_write;
}

bool duet_session_savepoint(duet_session_t *session, duet_error_t *error)
{
   if (!session->in_write) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "savepoints need a write transaction");
      return false;
   }
   if (session->savepoint_depth >= 64) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "savepoints nested deeper than 64 levels");
      return false;
   }
   sqlite3_stmt *stmt = duet_store_stmt(session, "SAVEPOINT duet_sp", error);
   if (!stmt) {
      return false;
   }
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "savepoint", error);
   }
   if (session->savepoint_depth < 64) {
      session->savepoint_pending[session->savepoint_depth] = session->pending_len;
   }
   session->savepoint_depth++;
   return true;
}

bool duet_session_savepoint_release(duet_session_t *session, duet_error_t *error)
{
   if (session->savepoint_depth == 0) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "no savepoint to release");
      return false;
   }
   sqlite3_stmt *stmt = duet_store_stmt(session, "RELEASE duet_sp", error);
   if (!stmt) {
      return false;
   }
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "release savepoint", error);
   }
   session->savepoint_depth--;
   return true;
}

void duet_session_savepoint_rollback(duet_session_t *session)
{
   if (session->savepoint_depth == 0) {
      return;
   }
   sqlite3_exec(session->db, "ROLLBACK TO duet_sp; RELEASE duet_sp", NULL, NULL, NULL);
   session->savepoint_depth--;
   if (session->savepoint_depth < 64) {
      session->pending_len = session->savepoint_pending[session->savepoint_depth];
      session->pending_ts = 0; /* the next event states its time again */
      duet_store_changelog_forget_ns(session); /* the next event names its namespace again */
   }
   if (session->catalog_dirty) {
      duet_store_catalog_touch(session); /* the cache may hold rolled-back DDL */
   }
}

bool duet_session_begin_read(duet_session_t *session, duet_error_t *error)
{
   if (session->in_write || session->in_read) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "a transaction is already open on this session");
      return false;
   }
   /* BEGIN is deferred: the snapshot starts at the first read, so read now. */
   if (!duet_store_exec(session, "BEGIN; SELECT 1 FROM duet_meta LIMIT 1", error)) {
      if (!sqlite3_get_autocommit(session->db)) {
         sqlite3_exec(session->db, "ROLLBACK", NULL, NULL, NULL);
      }
      return false;
   }
   session->in_read = true;
   return true;
}

void duet_session_end_read(duet_session_t *session)
{
   if (!session->in_read) {
      return;
   }
   sqlite3_exec(session->db, "COMMIT", NULL, NULL, NULL);
   session->in_read = false;
   /* the cache may hold the snapshot's catalog: reload it next time */
   duet_store_catalog_cache_clear(session);
   session->catalog_version = 0;
}

bool duet_store_in_write(duet_session_t *session, duet_store_work_fn work, void *arg, duet_error_t *error)
{
   if (session->in_write) {
      return work(session, arg, error);
   }
   if (!duet_session_begin(session, error)) {
      return false;
   }
   if (!work(session, arg, error)) {
      duet_session_abort(session);
      return false;
   }
   return duet_session_commit(session, error);
}

/* ---- cluster times ---------------------------------------------------------------- */

bool duet_store_next_ts(duet_session_t *session, duet_store_ts_t *ts, duet_error_t *error)
{
   if (session->last_ts == 0) {
      /* first event of this transaction: continue after the newest logged or pruned time */
      sqlite3_stmt *stmt = duet_store_stmt(
         session,
         "SELECT max(coalesce((SELECT max(ts) FROM duet_changelog), 0),"
         " (SELECT value FROM duet_meta WHERE key = 'changelog_horizon'))",
         error);
      if (!stmt) {
         return false;
      }
      int rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) {
         sqlite3_reset(stmt);
         return duet_store_sqlite_error(session->db, rc, "read the cluster time", error);
      }
      session->last_ts = (duet_store_ts_t)sqlite3_column_int64(stmt, 0);
      sqlite3_reset(stmt);
   }
   /* one clock reading per transaction: its events share the second */
   if (session->ts_seconds == 0) {
      session->ts_seconds = (uint32_t)(duet_store_now_ms() / 1000);
   }
   uint32_t now = session->ts_seconds;
   uint32_t last_t = (uint32_t)(session->last_ts >> 32);
   uint32_t last_i = (uint32_t)session->last_ts;
   if (now > last_t) {
      session->last_ts = duet_store_ts_make(now, 1);
   } else if (last_i == UINT32_MAX) {
      session->last_ts = duet_store_ts_make(last_t + 1, 1);
   } else {
      session->last_ts = duet_store_ts_make(last_t, last_i + 1);
   }
   *ts = session->last_ts;
   return true;
}
