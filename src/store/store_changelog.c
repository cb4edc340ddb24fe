/*
 * store_changelog.c — the change log.  The events of one write transaction
 * are collected in the session (in order, hooks' writes included) and written
 * as one row of duet_changelog just before COMMIT, so they commit or vanish
 * with the writes they describe:
 *   duet_changelog(ts = cluster time of the row's last event, first_ts,
 *                  events = concatenated BSON event documents, size)
 * Cluster times are BSON Timestamps packed as t << 32 | i, strictly increasing.
 * Each stored event is a small BSON document:
 *   {t: <int64 cluster time>, only when it is not the previous event's + 1,
 *    o: <int32 operation code: 0 insert (then omitted), 1 update, 2 replace,
 *        3 delete, 4 drop, 5 rename, 6 dropDatabase, 7 invalidate, 8 create,
 *        9 createIndexes, 10 dropIndexes, 11 modify>,
 *    n: "db.coll" (or "db") only when it differs from the previous event of the row
 *       or the collection UUID does,
 *    c: <binary subtype 4: the collection UUID> with each n of a collection event,
 *    k: <_id> only when there is no post-image (delete), u: updateDescription,
 *    f: post-image, b: pre-image, x: {extra fields, e.g. to},
 *    d: operationDescription, s: stateBeforeChange}
 * and the row carries the wall time of its commit.  Reading rebuilds
 * MongoDB's change-event fields (documentKey from k or from f._id); the classic
 * read leaves out the DDL events 8-11 and the fields only expanded change
 * streams show (collectionUUID, operationDescription, stateBeforeChange,
 * updateDescription.disambiguatedPaths).  Rows written before codes 8-11, c, d
 * and s existed read the same, without a collectionUUID.  Retention drops whole
 * rows by age and by total size and remembers the newest dropped time (the
 * horizon) so a reader resuming before it gets 286 ChangeStreamHistoryLost.
 */
#include "store/store_internal.h"

#include <string.h>

#define PRUNE_EVERY_COMMITS 64

/* Makes room for `extra` more pending bytes; returns where they go. */
static uint8_t *pending_reserve(duet_session_t *session, size_t extra)
{
   size_t need = session->pending_len + extra;
   if (need > session->pending_capacity) {
      size_t capacity = session->pending_capacity ? session->pending_capacity : 4096;
      while (capacity < need) {
         capacity *= 2;
      }
      session->pending = bson_realloc(session->pending, capacity);
      session->pending_capacity = capacity;
   }
   return session->pending + session->pending_len;
}

static void pending_put(duet_session_t *session, const void *bytes, size_t len)
{
   memcpy(pending_reserve(session, len), bytes, len);
   session->pending_len += len;
}

static void pending_put_u32(duet_session_t *session, uint32_t value)
{
   uint32_t le = BSON_UINT32_TO_LE(value);
   pending_put(session, &le, 4);
}

/* element header: type byte, key, NUL */
static void pending_put_key(duet_session_t *session, uint8_t type, char key)
{
   uint8_t header[3] = {type, (uint8_t)key, 0};
   pending_put(session, header, 3);
}

static void pending_put_doc(duet_session_t *session, char key, const bson_t *doc)
{
   pending_put_key(session, BSON_TYPE_DOCUMENT, key);
   pending_put(session, bson_get_data(doc), doc->len);
}

/* Copies `name` (len bytes) over `held` (owned, NULL or a NUL-terminated copy of an
 * earlier name), reallocating only when it does not fit; returns the owned copy. */
static char *remember_name(char *held, const char *name, size_t len)
{
   if (!held || strlen(held) < len) {
      held = bson_realloc(held, len + 1);
   }
   memcpy(held, name, len + 1);
   return held;
}

static const char *const op_names[] = {"insert", "update", "replace", "delete", "drop", "rename", "dropDatabase",
                                       "invalidate", "create", "createIndexes", "dropIndexes", "modify"};
#define OP_CODE_RENAME 5
#define OP_CODE_FIRST_EXPANDED 8 /* create and later: shown by expanded readers only */

static int32_t op_code(const char *op)
{
   for (int32_t i = 0; i < (int32_t)(sizeof op_names / sizeof op_names[0]); i++) {
      if (strcmp(op_names[i], op) == 0) {
         return i;
      }
   }
   return -1;
}

bool duet_store_changelog_append(duet_session_t *session, const duet_store_change_entry_t *entry,
                                 duet_error_t *error)
{
   duet_store_ts_t ts;
   int32_t code = op_code(entry->op);
   if (code < 0) {
      duet_error_set(error, DUET_ERR_INTERNAL, "unknown change-log operation %s", entry->op);
      return false;
   }
   if (!duet_store_next_ts(session, &ts, error)) {
      return false;
   }
   /* the event is encoded straight into the pending buffer (BSON, little-endian) */
   size_t start = session->pending_len;
   pending_put_u32(session, 0); /* length, patched below */
   if (start == 0 || ts != session->pending_ts + 1) {
      pending_put_key(session, BSON_TYPE_INT64, 't');
      uint64_t ts_le = BSON_UINT64_TO_LE(ts);
      pending_put(session, &ts_le, 8);
   }
   session->pending_ts = ts;
   if (code != 0) {
      pending_put_key(session, BSON_TYPE_INT32, 'o');
      pending_put_u32(session, (uint32_t)code);
   }
   const char *coll = entry->coll ? entry->coll : "";
   bool same_uuid = entry->uuid ? session->pending_has_uuid && memcmp(session->pending_uuid, entry->uuid, 16) == 0
                                : !session->pending_has_uuid;
   if (!session->pending_db || !same_uuid || strcmp(session->pending_db, entry->db) != 0 ||
       strcmp(session->pending_coll, coll) != 0) {
      size_t db_len = strlen(entry->db), coll_len = strlen(coll);
      pending_put_key(session, BSON_TYPE_UTF8, 'n');
      pending_put_u32(session, (uint32_t)(db_len + (coll_len ? 1 + coll_len : 0) + 1));
      pending_put(session, entry->db, db_len);
      if (coll_len) {
         pending_put(session, ".", 1);
         pending_put(session, coll, coll_len);
      }
      pending_put(session, "", 1);
      /* reuse the buffers (a mirrored write alternates between two namespaces) */
      session->pending_db = remember_name(session->pending_db, entry->db, db_len);
      session->pending_coll = remember_name(session->pending_coll, coll, coll_len);
      session->pending_has_uuid = entry->uuid != NULL;
      if (entry->uuid) {
         uint8_t subtype = BSON_SUBTYPE_UUID;
         pending_put_key(session, BSON_TYPE_BINARY, 'c');
         pending_put_u32(session, 16);
         pending_put(session, &subtype, 1);
         pending_put(session, entry->uuid, 16);
         memcpy(session->pending_uuid, entry->uuid, 16);
      }
   }
   if (entry->id && !entry->post) {
      bson_t key = BSON_INITIALIZER;
      bson_append_value(&key, "k", 1, entry->id);
      pending_put(session, bson_get_data(&key) + 4, key.len - 5); /* the element alone */
      bson_destroy(&key);
   }
   if (entry->update_description) {
      pending_put_doc(session, 'u', entry->update_description);
   }
   if (entry->post) {
      pending_put_doc(session, 'f', entry->post);
   }
   if (entry->pre) {
      pending_put_doc(session, 'b', entry->pre);
   }
   if (entry->extra) {
      pending_put_doc(session, 'x', entry->extra);
   }
   if (entry->description) {
      pending_put_doc(session, 'd', entry->description);
   }
   if (entry->state) {
      pending_put_doc(session, 's', entry->state);
   }
   pending_put(session, "", 1);
   uint32_t length = BSON_UINT32_TO_LE((uint32_t)(session->pending_len - start));
   memcpy(session->pending + start, &length, 4);
   return true;
}

static bool add_bytes(duet_session_t *session, int64_t bytes, duet_error_t *error)
{
   sqlite3_stmt *stmt =
      duet_store_stmt(session, "UPDATE duet_meta SET value = value + ? WHERE key = 'changelog_bytes'", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, bytes);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   return rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "change log size", error);
}

void duet_store_changelog_forget_ns(duet_session_t *session)
{
   bson_free(session->pending_db);
   bson_free(session->pending_coll);
   session->pending_db = NULL;
   session->pending_coll = NULL;
   session->pending_has_uuid = false;
}

bool duet_store_changelog_flush(duet_session_t *session, duet_error_t *error)
{
   if (session->pending_len == 0) {
      return true;
   }
   /* first event's time: the first 8 bytes after the first document's header and "t" key */
   bson_t first;
   int64_t first_ts = 0;
   uint32_t first_len;
   memcpy(&first_len, session->pending, 4);
   first_len = BSON_UINT32_FROM_LE(first_len);
   bson_iter_t iter;
   if (bson_init_static(&first, session->pending, first_len) && bson_iter_init_find(&iter, &first, "t")) {
      first_ts = bson_iter_int64(&iter);
   }
   sqlite3_stmt *stmt = duet_store_stmt(
      session, "INSERT INTO duet_changelog(ts, first_ts, wall, events, size) VALUES(?, ?, ?, ?, ?)", error);
   if (!stmt) {
      return false;
   }
   int64_t size = (int64_t)session->pending_len + 40;
   sqlite3_bind_int64(stmt, 1, (int64_t)session->last_ts);
   sqlite3_bind_int64(stmt, 2, first_ts);
   sqlite3_bind_int64(stmt, 3, duet_store_now_ms());
   sqlite3_bind_blob(stmt, 4, session->pending, (int)session->pending_len, SQLITE_STATIC);
   sqlite3_bind_int64(stmt, 5, size);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "append to the change log", error);
   }
   session->pending_len = 0;
   duet_store_changelog_forget_ns(session);
   return add_bytes(session, size, error);
}

void duet_store_changelog_options(const uint8_t *uuid, const bson_t *options, bson_t *out)
{
   bson_iter_t iter, child;
   if (uuid) {
      bson_append_binary(out, "uuid", 4, BSON_SUBTYPE_UUID, uuid, 16);
   }
   if (bson_iter_init_find(&iter, options, "changeStreamPreAndPostImages") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
       bson_iter_recurse(&iter, &child) && bson_iter_find(&child, "enabled") && bson_iter_as_bool(&child)) {
      bson_append_iter(out, NULL, 0, &iter);
   }
   if (bson_iter_init_find(&iter, options, "validator") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
       bson_iter_recurse(&iter, &child) && bson_iter_next(&child)) {
      bson_append_iter(out, NULL, 0, &iter);
   }
   static const char *const strings[] = {"validationLevel", "validationAction"};
   for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
      if (bson_iter_init_find(&iter, options, strings[i])) {
         bson_append_iter(out, NULL, 0, &iter);
      }
   }
}

/* What the events of one row share: the namespace and collection UUID named last. */
typedef struct row_state {
   bson_string_t *ns;
   uint8_t uuid[16];
   bool has_uuid;
   duet_store_ts_t ts;
} row_state_t;

/* updateDescription as the reader shows it: disambiguatedPaths (stored only when not
 * empty) always for expanded readers, never for the others. */
static void append_update_description(bson_t *event, bson_iter_t *stored, bool expanded)
{
   bson_t description;
   bson_iter_t field;
   bool has_paths = false;
   BSON_APPEND_DOCUMENT_BEGIN(event, "updateDescription", &description);
   if (bson_iter_recurse(stored, &field)) {
      while (bson_iter_next(&field)) {
         bool paths = strcmp(bson_iter_key(&field), "disambiguatedPaths") == 0;
         has_paths = has_paths || paths;
         if (!paths || expanded) {
            bson_append_iter(&description, NULL, 0, &field);
         }
      }
   }
   if (expanded && !has_paths) {
      bson_t empty;
      BSON_APPEND_DOCUMENT_BEGIN(&description, "disambiguatedPaths", &empty);
      bson_append_document_end(&description, &empty);
   }
   bson_append_document_end(event, &description);
}

/* Rebuilds MongoDB's event fields from a stored event into *event (initialized);
 * `row` carries the namespace, UUID and time of the row's previous event.  Returns
 * false (event left empty) for an event only expanded readers see when !expanded. */
static bool public_event(const bson_t *stored, int64_t wall, row_state_t *row, bool expanded, bson_t *event)
{
   bson_init(event);
   bson_iter_t iter;
   int32_t code = 0; /* insert unless "o" says otherwise */
   if (bson_iter_init_find(&iter, stored, "t")) {
      row->ts = (duet_store_ts_t)bson_iter_int64(&iter);
   } else {
      row->ts++; /* the previous event's time + 1 */
   }
   if (bson_iter_init_find(&iter, stored, "o")) {
      code = bson_iter_int32(&iter);
   }
   if (bson_iter_init_find(&iter, stored, "n")) {
      bson_string_truncate(row->ns, 0);
      bson_string_append(row->ns, bson_iter_utf8(&iter, NULL));
      bson_iter_t uuid;
      const uint8_t *data = NULL;
      uint32_t length = 0;
      bson_subtype_t subtype;
      row->has_uuid = false;
      if (bson_iter_init_find(&uuid, stored, "c") && BSON_ITER_HOLDS_BINARY(&uuid)) {
         bson_iter_binary(&uuid, &subtype, &length, &data);
         row->has_uuid = length == 16;
         if (row->has_uuid) {
            memcpy(row->uuid, data, 16);
         }
      }
   }
   if (!expanded && code >= OP_CODE_FIRST_EXPANDED) {
      return false;
   }
   BSON_APPEND_TIMESTAMP(event, "clusterTime", (uint32_t)(row->ts >> 32), (uint32_t)row->ts);
   BSON_APPEND_DATE_TIME(event, "wallTime", wall);
   BSON_APPEND_UTF8(event, "operationType",
                    code >= 0 && code < (int32_t)(sizeof op_names / sizeof op_names[0]) ? op_names[code] : "unknown");
   if (expanded && row->has_uuid) {
      bson_append_binary(event, "collectionUUID", -1, BSON_SUBTYPE_UUID, row->uuid, 16);
   }
   bson_t ns_doc;
   BSON_APPEND_DOCUMENT_BEGIN(event, "ns", &ns_doc);
   const char *dot = strchr(row->ns->str, '.');
   if (dot) {
      bson_append_utf8(&ns_doc, "db", 2, row->ns->str, (int)(dot - row->ns->str));
      BSON_APPEND_UTF8(&ns_doc, "coll", dot + 1);
   } else {
      BSON_APPEND_UTF8(&ns_doc, "db", row->ns->str);
   }
   bson_append_document_end(event, &ns_doc);
   bson_iter_t post;
   bool has_post = bson_iter_init_find(&post, stored, "f");
   if (bson_iter_init_find(&iter, stored, "k")) {
      bson_t key;
      BSON_APPEND_DOCUMENT_BEGIN(event, "documentKey", &key);
      bson_append_iter(&key, "_id", 3, &iter);
      bson_append_document_end(event, &key);
   } else if (has_post) {
      bson_iter_t id;
      if (bson_iter_recurse(&post, &id) && bson_iter_find(&id, "_id")) {
         bson_t key;
         BSON_APPEND_DOCUMENT_BEGIN(event, "documentKey", &key);
         bson_append_iter(&key, "_id", 3, &id);
         bson_append_document_end(event, &key);
      }
   }
   if (bson_iter_init_find(&iter, stored, "u")) {
      append_update_description(event, &iter, expanded);
   }
   if (has_post) {
      bson_append_iter(event, "fullDocument", -1, &post);
   }
   if (bson_iter_init_find(&iter, stored, "b")) {
      bson_append_iter(event, "fullDocumentBeforeChange", -1, &iter);
   }
   bson_iter_t extra;
   if (bson_iter_init_find(&iter, stored, "x") && bson_iter_recurse(&iter, &extra)) {
      while (bson_iter_next(&extra)) {
         bson_append_iter(event, bson_iter_key(&extra), -1, &extra);
      }
   }
   if (!expanded) {
      return true;
   }
   if (bson_iter_init_find(&iter, stored, "d")) {
      bson_append_iter(event, "operationDescription", -1, &iter);
   } else if (code == OP_CODE_RENAME && bson_iter_init_find(&iter, stored, "x") && bson_iter_recurse(&iter, &extra) &&
              bson_iter_find(&extra, "to")) {
      bson_t description; /* a rename logged before operationDescription was */
      BSON_APPEND_DOCUMENT_BEGIN(event, "operationDescription", &description);
      bson_append_iter(&description, "to", 2, &extra);
      bson_append_document_end(event, &description);
   }
   if (bson_iter_init_find(&iter, stored, "s")) {
      bson_append_iter(event, "stateBeforeChange", -1, &iter);
   }
   return true;
}

static bool read_meta_int(duet_session_t *session, const char *key, int64_t *value, duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(session, "SELECT value FROM duet_meta WHERE key = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   *value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
   sqlite3_reset(stmt);
   return rc == SQLITE_ROW || rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "read meta", error);
}

typedef struct delivery {
   duet_store_ts_t after;
   size_t limit;
   size_t delivered;
   bool expanded;
   duet_store_change_fn fn;
   void *context;
   bool more; /* false once the callback or the limit stopped the read */
} delivery_t;

/* Hands the events of one row (or of the pending buffer) after `after` to the callback. */
static bool deliver_row(delivery_t *delivery, const uint8_t *data, size_t len, int64_t wall, duet_error_t *error)
{
   row_state_t row = {bson_string_new(NULL), {0}, false, 0};
   bson_reader_t *reader = bson_reader_new_from_data(data, len);
   const bson_t *stored;
   bool eof = false;
   while (delivery->more && (stored = bson_reader_read(reader, &eof)) != NULL) {
      bson_t event;
      if (public_event(stored, wall, &row, delivery->expanded, &event) && row.ts > delivery->after) {
         delivery->more = delivery->fn(&event, row.ts, delivery->context);
         delivery->delivered++;
         if (delivery->limit && delivery->delivered >= delivery->limit) {
            delivery->more = false;
         }
      }
      bson_destroy(&event);
   }
   bool ok = !delivery->more || eof;
   bson_reader_destroy(reader);
   bson_string_free(row.ns, true);
   if (!ok) {
      duet_error_set(error, DUET_ERR_INTERNAL, "a change-log row is not valid BSON");
   }
   return ok;
}

static bool read_events(duet_session_t *session, duet_store_ts_t after, size_t limit, bool expanded,
                        duet_store_change_fn fn, void *context, duet_error_t *error)
{
   int64_t horizon;
   if (!read_meta_int(session, "changelog_horizon", &horizon, error)) {
      return false;
   }
   if (after != 0 && after < (duet_store_ts_t)horizon) {
      duet_error_set(error, DUET_ERR_CHANGE_STREAM_HISTORY_LOST,
                     "Resume of change stream was not possible, as the resume point may no longer be in the oplog.");
      return false;
   }
   sqlite3_stmt *stmt =
      duet_store_stmt(session, "SELECT ts, wall, events FROM duet_changelog WHERE ts > ? ORDER BY ts", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, (int64_t)after);
   delivery_t delivery = {after, limit, 0, expanded, fn, context, true};
   int rc = SQLITE_DONE;
   bool ok = true;
   while (ok && delivery.more && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      ok = deliver_row(&delivery, sqlite3_column_blob(stmt, 2), (size_t)sqlite3_column_bytes(stmt, 2),
                       sqlite3_column_int64(stmt, 1), error);
   }
   if (ok && delivery.more && rc != SQLITE_DONE) {
      ok = duet_store_sqlite_error(session->db, rc, "read the change log", error);
   }
   sqlite3_reset(stmt);
   /* inside a write transaction: its own events, not yet a row */
   if (ok && delivery.more && session->in_write && session->pending_len > 0) {
      ok = deliver_row(&delivery, session->pending, session->pending_len, duet_store_now_ms(), error);
   }
   return ok;
}

static bool read_snapshot(duet_session_t *session, duet_store_ts_t after, size_t limit, bool expanded,
                          duet_store_change_fn fn, void *context, duet_error_t *error)
{
   if (session->in_write) {
      return read_events(session, after, limit, expanded, fn, context, error);
   }
   /* horizon and rows from one snapshot */
   bool own_snapshot = !session->in_read;
   if (own_snapshot && !duet_session_begin_read(session, error)) {
      return false;
   }
   bool ok = read_events(session, after, limit, expanded, fn, context, error);
   if (own_snapshot) {
      duet_session_end_read(session);
   }
   return ok;
}

bool duet_store_changelog_read(duet_session_t *session, duet_store_ts_t after, size_t limit,
                               duet_store_change_fn fn, void *context, duet_error_t *error)
{
   return read_snapshot(session, after, limit, false, fn, context, error);
}

bool duet_store_changelog_read_expanded(duet_session_t *session, duet_store_ts_t after, size_t limit,
                                        duet_store_change_fn fn, void *context, duet_error_t *error)
{
   return read_snapshot(session, after, limit, true, fn, context, error);
}

bool duet_store_changelog_latest(duet_session_t *session, duet_store_ts_t *latest, duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(
      session,
      "SELECT max(coalesce((SELECT max(ts) FROM duet_changelog), 0),"
      " (SELECT value FROM duet_meta WHERE key = 'changelog_horizon'))",
      error);
   if (!stmt) {
      return false;
   }
   int rc = sqlite3_step(stmt);
   *latest = rc == SQLITE_ROW ? (duet_store_ts_t)sqlite3_column_int64(stmt, 0) : 0;
   sqlite3_reset(stmt);
   if (rc == SQLITE_ROW && session->in_write && session->pending_len > 0) {
      *latest = session->last_ts;
   }
   return rc == SQLITE_ROW || duet_store_sqlite_error(session->db, rc, "read the change log", error);
}

/* Deletes rows with ts <= `upto`, moving the horizon and the byte count. */
static bool drop_upto(duet_session_t *session, int64_t upto, duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(
      session, "SELECT coalesce(sum(size), 0), max(ts) FROM duet_changelog WHERE ts <= ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, upto);
   int rc = sqlite3_step(stmt);
   int64_t bytes = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
   bool any = rc == SQLITE_ROW && sqlite3_column_type(stmt, 1) != SQLITE_NULL;
   int64_t newest = any ? sqlite3_column_int64(stmt, 1) : 0;
   sqlite3_reset(stmt);
   if (rc != SQLITE_ROW) {
      return duet_store_sqlite_error(session->db, rc, "prune the change log", error);
   }
   if (!any) {
      return true;
   }
   stmt = duet_store_stmt(session, "DELETE FROM duet_changelog WHERE ts <= ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, newest);
   rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "prune the change log", error);
   }
   stmt = duet_store_stmt(session,
                          "UPDATE duet_meta SET value = CASE key WHEN 'changelog_horizon' THEN max(value, ?1) "
                          "ELSE max(value - ?2, 0) END WHERE key IN ('changelog_horizon', 'changelog_bytes')",
                          error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_int64(stmt, 1, newest);
   sqlite3_bind_int64(stmt, 2, bytes);
   rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   return rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "prune the change log", error);
}

static bool prune_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   (void)arg;
   const duet_store_options_t *options = &session->store->options;
   if (options->changelog_max_age_seconds > 0) {
      int64_t cutoff_seconds = duet_store_now_ms() / 1000 - options->changelog_max_age_seconds;
      if (cutoff_seconds > 0 &&
          !drop_upto(session, (int64_t)duet_store_ts_make((uint32_t)cutoff_seconds, 0) - 1, error)) {
         return false;
      }
   }
   if (options->changelog_max_bytes > 0) {
      int64_t bytes;
      if (!read_meta_int(session, "changelog_bytes", &bytes, error)) {
         return false;
      }
      int64_t excess = bytes - options->changelog_max_bytes;
      if (excess > 0) {
         sqlite3_stmt *stmt = duet_store_stmt(session, "SELECT ts, size FROM duet_changelog ORDER BY ts", error);
         if (!stmt) {
            return false;
         }
         int64_t freed = 0, upto = 0;
         while (freed < excess && sqlite3_step(stmt) == SQLITE_ROW) {
            upto = sqlite3_column_int64(stmt, 0);
            freed += sqlite3_column_int64(stmt, 1);
         }
         sqlite3_reset(stmt);
         if (upto && !drop_upto(session, upto, error)) {
            return false;
         }
      }
   }
   return true;
}

bool duet_store_changelog_prune(duet_session_t *session, duet_error_t *error)
{
   return duet_store_in_write(session, prune_work, NULL, error);
}

void duet_store_changelog_after_commit(duet_session_t *session)
{
   unsigned count = atomic_fetch_add(&session->store->commits_since_prune, 1) + 1;
   if (count < PRUNE_EVERY_COMMITS) {
      return;
   }
   atomic_store(&session->store->commits_since_prune, 0);
   duet_error_t ignored = DUET_ERROR_INIT;
   /* Retention is best effort here: a failure (full disk) leaves the log longer
    * and is retried after the next PRUNE_EVERY_COMMITS commits. */
   duet_store_changelog_prune(session, &ignored);
   duet_error_clear(&ignored);
}
