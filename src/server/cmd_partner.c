/*
 * cmd_partner.c — partner-collection migrations served by duetd (docs/partner.md, "duetd
 * commands"): the admin commands duetCheck, duetApply, duetStatus, duetVerify, duetRetire;
 * the partner_registry of running links with one background backfill thread each; restore at
 * startup and a clean stop at shutdown; and the checks that keep mirrored collections
 * consistent ($out refused into them, breaking collMod schema changes refused).
 *
 * Registry.  One per process (duetd runs one server).  `partner_registry.lock` guards the list;
 * a link's counters are atomic and its persisted progress is read through the store, so a
 * status never waits for a backfill.  A backfill thread owns its own store session; retire
 * and shutdown take the entry out of the list first, ask the thread to stop (it returns at
 * the next chunk boundary: each chunk is one transaction), join it, then retire or destroy
 * the link.
 */
#include "server/cmd_partner.h"

#include <duet/partner.h>
#include <duet/schema.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define PARTNER_MAX_EXAMPLES_DEFAULT 5
#define PARTNER_MAX_EXAMPLES_LIMIT 1000

typedef struct partner_entry {
   duet_partner_link_t *link; /* owned */
   duet_server_t *server;     /* borrowed */
   pthread_t thread;
   bool has_thread;     /* thread started and not joined yet (guarded by partner_registry.lock) */
   atomic_bool stop;    /* ask the backfill to stop at the next chunk boundary */
   atomic_bool running; /* the backfill thread has not returned yet */
   struct partner_entry *next;
} partner_entry_t;

static struct {
   pthread_mutex_t lock;
   partner_entry_t *entries; /* guarded by lock */
} partner_registry = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* ---- the backfill thread ----------------------------------------------------------------- */

static void partner_log(duet_server_t *server, duet_log_level_t level, int32_t id, const char *msg, const char *name,
                        const duet_error_t *error)
{
   if (!server->log) {
      return;
   }
   bson_t attr = BSON_INITIALIZER;
   BSON_APPEND_UTF8(&attr, "link", name);
   if (error) {
      BSON_APPEND_INT32(&attr, "code", error->code);
      BSON_APPEND_UTF8(&attr, "error", error->message);
   }
   duet_log_event(server->log, level, "STORAGE", id, "partner", msg, &attr, 0);
   bson_destroy(&attr);
}

/* After each chunk: keep going unless asked to stop (retire, shutdown). */
static bool partner_progress_continue(const duet_partner_progress_t *progress, void *context)
{
   (void)progress;
   partner_entry_t *entry = context;
   if (atomic_load(&entry->stop) || __atomic_load_n(&entry->server->stopping, __ATOMIC_ACQUIRE)) {
      return false;
   }
   sched_yield(); /* let writers waiting for the store's write lock go first */
   return true;
}

/* In-place migrations: once every document is rewritten, the new schema becomes the
 * collection's validator (before that, old documents would fail their next update). */
static bool partner_in_place_finish(duet_session_t *session, const duet_partner_link_t *link, duet_error_t *error)
{
   const duet_partner_spec_t *spec = duet_partner_link_spec(link);
   bson_t changes, validator;
   duet_partner_schema_validator(duet_partner_transform_schema(duet_partner_link_transform(link)), &validator);
   bson_init(&changes);
   BSON_APPEND_DOCUMENT(&changes, "validator", &validator);
   bool ok = duet_session_begin(session, error) &&
             duet_store_coll_mod(session, spec->database, spec->source, &changes, error) &&
             duet_session_commit(session, error);
   if (!ok) {
      duet_session_abort(session);
   }
   bson_destroy(&changes);
   bson_destroy(&validator);
   return ok;
}

static void *partner_backfill_thread(void *arg)
{
   partner_entry_t *entry = arg;
   duet_server_t *server = entry->server;
   const char *name = duet_partner_link_name(entry->link);
   duet_session_t *session = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   duet_partner_progress_t progress;
   memset(&progress, 0, sizeof progress);
   partner_log(server, DUET_LOG_INFO, 7810001, "Backfill started", name, NULL);
   bool ok = duet_session_open(server->store, &session, &error) &&
             duet_partner_backfill_run(entry->link, session, partner_progress_continue, entry, &error) &&
             duet_partner_progress_get(entry->link, session, &progress, &error);
   if (ok && progress.finished) {
      if (duet_partner_link_spec(entry->link)->strategy == DUET_PARTNER_STRATEGY_IN_PLACE) {
         ok = partner_in_place_finish(session, entry->link, &error);
      }
      if (ok) {
         partner_log(server, DUET_LOG_INFO, 7810002, "Backfill finished", name, NULL);
      }
   } else if (ok) {
      partner_log(server, DUET_LOG_INFO, 7810003, "Backfill paused at a chunk boundary", name, NULL);
   }
   if (!ok) {
      /* the engine recorded the error in the link's progress: duetStatus reports it */
      partner_log(server, DUET_LOG_WARNING, 7810004, "Backfill failed", name, &error);
   }
   duet_partner_progress_clear(&progress);
   duet_session_close(session);
   duet_error_clear(&error);
   atomic_store(&entry->running, false);
   return NULL;
}

/* Starts the backfill thread of `entry`; partner_registry.lock held. */
static bool partner_start_thread(partner_entry_t *entry, duet_error_t *error)
{
   atomic_store(&entry->stop, false);
   atomic_store(&entry->running, true);
   if (pthread_create(&entry->thread, NULL, partner_backfill_thread, entry) != 0) {
      atomic_store(&entry->running, false);
      duet_error_set(error, DUET_ERR_INTERNAL, "cannot start the backfill thread of partner link %s",
                     duet_partner_link_name(entry->link));
      return false;
   }
   entry->has_thread = true;
   return true;
}

/* Stops and joins the thread of an entry no longer in the list (no lock held). */
static void partner_join_thread(partner_entry_t *entry)
{
   atomic_store(&entry->stop, true);
   if (entry->has_thread) {
      pthread_join(entry->thread, NULL);
      entry->has_thread = false;
   }
}

static partner_entry_t *partner_entry_new(duet_server_t *server, duet_partner_link_t *link)
{
   partner_entry_t *entry = bson_malloc0(sizeof *entry);
   entry->link = link;
   entry->server = server;
   atomic_init(&entry->stop, false);
   atomic_init(&entry->running, false);
   return entry;
}

/* Joins the thread of a finished backfill so its resources go (partner_registry.lock held). */
static void partner_reap_locked(void)
{
   for (partner_entry_t *entry = partner_registry.entries; entry; entry = entry->next) {
      if (entry->has_thread && !atomic_load(&entry->running)) {
         pthread_join(entry->thread, NULL);
         entry->has_thread = false;
      }
   }
}

/* ---- startup and shutdown ---------------------------------------------------------------- */

bool duet_partner_server_start(duet_server_t *server, duet_error_t *error)
{
   duet_session_t *session = NULL;
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   if (!duet_server_session_acquire(server, &session, error)) {
      return false;
   }
   bool ok = duet_partner_links_restore(session, &links, &count, error);
   pthread_mutex_lock(&partner_registry.lock);
   for (size_t i = 0; ok && i < count; i++) {
      partner_entry_t *entry = partner_entry_new(server, links[i]);
      links[i] = NULL;
      entry->next = partner_registry.entries;
      partner_registry.entries = entry;
      duet_partner_progress_t progress;
      ok = duet_partner_progress_get(entry->link, session, &progress, error);
      bool finished = ok && progress.finished;
      duet_partner_progress_clear(&progress);
      partner_log(server, DUET_LOG_INFO, 7810005,
                  finished ? "Partner link restored" : "Partner link restored, resuming its backfill",
                  duet_partner_link_name(entry->link), NULL);
      if (ok && !finished) {
         ok = partner_start_thread(entry, error);
      }
   }
   pthread_mutex_unlock(&partner_registry.lock);
   duet_partner_links_free(links, count); /* the entries own the links taken */
   duet_server_session_release(server, session);
   if (!ok) {
      duet_error_wrap(error, "cannot restore the partner links of the data directory");
   }
   return ok;
}

void duet_partner_server_stop(duet_server_t *server)
{
   pthread_mutex_lock(&partner_registry.lock);
   partner_entry_t *entries = partner_registry.entries;
   partner_registry.entries = NULL;
   pthread_mutex_unlock(&partner_registry.lock);
   for (partner_entry_t *entry = entries; entry; entry = entry->next) {
      atomic_store(&entry->stop, true);
   }
   while (entries) {
      partner_entry_t *entry = entries;
      entries = entry->next;
      partner_join_thread(entry);
      partner_log(server, DUET_LOG_INFO, 7810008, "Partner link closed for shutdown",
                  duet_partner_link_name(entry->link), NULL);
      duet_partner_link_destroy(entry->link); /* unregisters the mirrors; the persisted link stays */
      bson_free(entry);
   }
}

/* ---- command arguments ------------------------------------------------------------------ */

/* Reads the `spec` field (a document) into an owned spec. */
static bool partner_arg_spec(duet_command_ctx_t *ctx, bool required, duet_partner_spec_t **spec, duet_error_t *error)
{
   bson_iter_t iter;
   *spec = NULL;
   if (!bson_iter_init_find(&iter, ctx->command, "spec")) {
      if (required) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "BSON field '%s.spec' is missing but a required field",
                        ctx->entry->name);
         return false;
      }
      return true;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, "spec", &iter, "object");
      return false;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_document(&iter, &length, &data);
   bson_t doc;
   if (!bson_init_static(&doc, data, length)) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s.spec is not valid BSON", ctx->entry->name);
      return false;
   }
   char source[64];
   snprintf(source, sizeof source, "%s.spec", ctx->entry->name);
   return duet_partner_spec_from_bson(source, &doc, spec, error);
}

static bool partner_arg_max_examples(duet_command_ctx_t *ctx, size_t *out, duet_error_t *error)
{
   bson_iter_t iter;
   *out = PARTNER_MAX_EXAMPLES_DEFAULT;
   if (!bson_iter_init_find(&iter, ctx->command, "maxExamples")) {
      return true;
   }
   if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, "maxExamples", &iter, "int");
      return false;
   }
   int64_t value = bson_iter_as_int64(&iter);
   if (value < 0 || value > PARTNER_MAX_EXAMPLES_LIMIT) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s.maxExamples must be between 0 and %d, not %lld", ctx->entry->name,
                     PARTNER_MAX_EXAMPLES_LIMIT, (long long)value);
      return false;
   }
   *out = (size_t)value;
   return true;
}

/* The link name a spec gets (duet_partner_link_name): "<db>.<source>:<partner>|in-place". */
static char *partner_spec_link_name(const duet_partner_spec_t *spec)
{
   return bson_strdup_printf("%s.%s:%s", spec->database, spec->source,
                             spec->strategy == DUET_PARTNER_STRATEGY_PARTNER ? spec->partner : "in-place");
}

/* The link a command names: `name` (a string) or `spec`; *name owned by the caller. */
static bool partner_arg_link_name(duet_command_ctx_t *ctx, bool required, char **name, duet_error_t *error)
{
   bson_iter_t iter;
   *name = NULL;
   if (bson_iter_init_find(&iter, ctx->command, "name")) {
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         duet_error_wrong_type(error, ctx->entry->name, "name", &iter, "string");
         return false;
      }
      *name = bson_strdup(bson_iter_utf8(&iter, NULL));
      return true;
   }
   duet_partner_spec_t *spec = NULL;
   if (!partner_arg_spec(ctx, false, &spec, error)) {
      return false;
   }
   if (spec) {
      *name = partner_spec_link_name(spec);
      duet_partner_spec_destroy(spec);
   } else if (required) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "%s needs the migration: a 'name' or a 'spec' field",
                     ctx->entry->name);
      return false;
   }
   return true;
}

/* ---- duetCheck, duetVerify --------------------------------------------------------------- */

bool duet_cmd_duet_check(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const allowed[] = {"spec", "maxExamples", NULL};
   duet_partner_spec_t *spec = NULL;
   size_t max_examples;
   if (!duet_command_check_fields(ctx, ctx->entry->name, allowed, error) || !partner_arg_max_examples(ctx, &max_examples, error) ||
       !partner_arg_spec(ctx, true, &spec, error)) {
      return false;
   }
   duet_session_t *session = NULL;
   duet_partner_check_report_t report;
   bool ok = duet_server_session_acquire(ctx->server, &session, error);
   if (ok) {
      ok = duet_partner_check(session, spec, max_examples, &report, error);
      if (ok) {
         bson_t doc;
         duet_partner_check_report_to_bson(&report, &doc);
         bson_concat(reply, &doc);
         bson_destroy(&doc);
      }
      duet_partner_check_report_clear(&report);
   }
   duet_server_session_release(ctx->server, session);
   duet_partner_spec_destroy(spec);
   return ok;
}

bool duet_cmd_duet_verify(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const allowed[] = {"spec", "maxExamples", NULL};
   duet_partner_spec_t *spec = NULL;
   size_t max_examples;
   if (!duet_command_check_fields(ctx, ctx->entry->name, allowed, error) || !partner_arg_max_examples(ctx, &max_examples, error) ||
       !partner_arg_spec(ctx, true, &spec, error)) {
      return false;
   }
   duet_session_t *session = NULL;
   duet_partner_verify_report_t report;
   bool ok = duet_server_session_acquire(ctx->server, &session, error);
   if (ok) {
      ok = duet_partner_verify(session, spec, max_examples, &report, error);
      if (ok) {
         bson_t doc;
         duet_partner_verify_report_to_bson(&report, &doc);
         bson_concat(reply, &doc);
         bson_destroy(&doc);
      }
      duet_partner_verify_report_clear(&report);
   }
   duet_server_session_release(ctx->server, session);
   duet_partner_spec_destroy(spec);
   return ok;
}

/* ---- duetApply ---------------------------------------------------------------------------- */

bool duet_cmd_duet_apply(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const allowed[] = {"spec", NULL};
   duet_partner_spec_t *spec = NULL;
   if (!duet_command_check_fields(ctx, ctx->entry->name, allowed, error) || !partner_arg_spec(ctx, true, &spec, error)) {
      return false;
   }
   duet_session_t *session = NULL;
   duet_partner_link_t *link = NULL;
   bool ok = duet_server_session_acquire(ctx->server, &session, error);
   if (ok && spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      /* the source must exist: a partner of nothing is a typo */
      duet_store_collection_info_t info;
      bool exists = false;
      ok = duet_store_collection_info(session, spec->database, spec->source, &info, &exists, error);
      if (ok && exists) {
         duet_store_collection_info_clear(&info);
      } else if (ok) {
         duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "source collection %s.%s does not exist", spec->database,
                        spec->source);
         ok = false;
      }
   }
   if (ok) {
      pthread_mutex_lock(&partner_registry.lock); /* one apply or retire at a time changes the list */
      ok = duet_partner_link_create(session, spec, &link, error);
      if (ok) {
         partner_entry_t *entry = partner_entry_new(ctx->server, link);
         entry->next = partner_registry.entries;
         partner_registry.entries = entry;
         partner_reap_locked();
         ok = partner_start_thread(entry, error);
      }
      pthread_mutex_unlock(&partner_registry.lock);
   }
   if (ok) {
      bson_t status;
      ok = duet_partner_link_status(link, session, &status, error);
      if (ok) {
         bson_concat(reply, &status);
      }
      bson_destroy(&status);
      partner_log(ctx->server, DUET_LOG_INFO, 7810006, "Partner link created", duet_partner_link_name(link), NULL);
   }
   duet_server_session_release(ctx->server, session);
   duet_partner_spec_destroy(spec);
   return ok;
}

/* ---- duetStatus ------------------------------------------------------------------------- */

bool duet_cmd_duet_status(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const allowed[] = {"name", "spec", NULL};
   char *name = NULL;
   if (!duet_command_check_fields(ctx, ctx->entry->name, allowed, error) || !partner_arg_link_name(ctx, false, &name, error)) {
      return false;
   }
   duet_session_t *session = NULL;
   bool ok = duet_server_session_acquire(ctx->server, &session, error);
   bool matched = false;
   bson_t migrations;
   uint32_t index = 0;
   bson_append_array_begin(reply, "migrations", -1, &migrations);
   pthread_mutex_lock(&partner_registry.lock);
   partner_reap_locked();
   for (partner_entry_t *entry = partner_registry.entries; ok && entry; entry = entry->next) {
      if (name && strcmp(name, duet_partner_link_name(entry->link)) != 0) {
         continue;
      }
      matched = true;
      bson_t status;
      ok = duet_partner_link_status(entry->link, session, &status, error);
      if (ok) {
         BSON_APPEND_BOOL(&status, "backfill_running", atomic_load(&entry->running));
         char key_buffer[16];
         const char *key;
         bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         BSON_APPEND_DOCUMENT(&migrations, key, &status);
      }
      bson_destroy(&status);
   }
   pthread_mutex_unlock(&partner_registry.lock);
   bson_append_array_end(reply, &migrations);
   if (ok && name && !matched) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "no migration named %s is running on this duetd", name);
      ok = false;
   }
   duet_server_session_release(ctx->server, session);
   bson_free(name);
   return ok;
}

/* ---- duetRetire ------------------------------------------------------------------------- */

bool duet_cmd_duet_retire(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   static const char *const allowed[] = {"name", "spec", "keep", "drop", NULL};
   char *name = NULL;
   bson_iter_t iter;
   duet_partner_keep_t keep = DUET_PARTNER_KEEP_NEW;
   bool drop = false;
   if (!duet_command_check_fields(ctx, ctx->entry->name, allowed, error)) {
      return false;
   }
   if (!bson_iter_init_find(&iter, ctx->command, "keep")) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "BSON field 'duetRetire.keep' is missing but a required field");
      return false;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, "keep", &iter, "string");
      return false;
   }
   if (strcmp(bson_iter_utf8(&iter, NULL), "old") == 0) {
      keep = DUET_PARTNER_KEEP_OLD;
   } else if (strcmp(bson_iter_utf8(&iter, NULL), "new") != 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "duetRetire.keep must be \"old\" or \"new\", not \"%s\"",
                     bson_iter_utf8(&iter, NULL));
      return false;
   }
   if (bson_iter_init_find(&iter, ctx->command, "drop")) {
      if (!BSON_ITER_HOLDS_BOOL(&iter) && !BSON_ITER_HOLDS_NUMBER(&iter)) {
         duet_error_wrong_type(error, ctx->entry->name, "drop", &iter, "bool");
         return false;
      }
      drop = bson_iter_as_bool(&iter);
   }
   if (!partner_arg_link_name(ctx, true, &name, error)) {
      return false;
   }
   /* take the entry out of the list, so nothing else reaches its link */
   partner_entry_t *entry = NULL;
   pthread_mutex_lock(&partner_registry.lock);
   for (partner_entry_t **slot = &partner_registry.entries; *slot; slot = &(*slot)->next) {
      if (strcmp(name, duet_partner_link_name((*slot)->link)) == 0) {
         entry = *slot;
         *slot = entry->next;
         break;
      }
   }
   pthread_mutex_unlock(&partner_registry.lock);
   if (!entry) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "no migration named %s is running on this duetd", name);
      bson_free(name);
      return false;
   }
   partner_join_thread(entry); /* returns at a chunk boundary */
   const duet_partner_spec_t *spec = duet_partner_link_spec(entry->link);
   char *kept = NULL, *retired = NULL;
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      kept = bson_strdup_printf("%s.%s", spec->database, keep == DUET_PARTNER_KEEP_NEW ? spec->partner : spec->source);
      retired =
          bson_strdup_printf("%s.%s", spec->database, keep == DUET_PARTNER_KEEP_NEW ? spec->source : spec->partner);
   } else {
      kept = bson_strdup_printf("%s.%s", spec->database, spec->source);
   }
   duet_session_t *session = NULL;
   bool ok = duet_server_session_acquire(ctx->server, &session, error);
   if (ok) {
      ok = duet_partner_retire(entry->link, session, keep, drop && retired, error); /* destroys the link */
   } else {
      duet_partner_link_destroy(entry->link);
   }
   entry->link = NULL;
   bson_free(entry);
   duet_server_session_release(ctx->server, session);
   if (ok) {
      BSON_APPEND_UTF8(reply, "name", name);
      BSON_APPEND_UTF8(reply, "kept", kept);
      if (retired) {
         BSON_APPEND_UTF8(reply, "retired", retired);
      }
      BSON_APPEND_BOOL(reply, "dropped", drop && retired);
      partner_log(ctx->server, DUET_LOG_INFO, 7810007, "Partner link retired", name, NULL);
   }
   bson_free(kept);
   bson_free(retired);
   bson_free(name);
   return ok;
}

/* ---- checks for other commands -------------------------------------------------------------- */

bool duet_partner_server_check_write_target(duet_server_t *server, const char *db, const char *coll, const char *stage,
                                            duet_error_t *error)
{
   duet_session_t *session = NULL;
   bool linked = false;
   char *link_name = NULL;
   bool ok = duet_server_session_acquire(server, &session, error) &&
             duet_partner_collection_linked(session, db, coll, &linked, &link_name, error);
   duet_server_session_release(server, session);
   if (ok && linked) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION,
                     "%s cannot write into %s.%s while it is mirrored by partner link %s: its writes would bypass "
                     "the mirror; retire the migration first (duet retire)",
                     stage, db, coll, link_name);
      ok = false;
   }
   bson_free(link_name);
   return ok;
}

bool duet_partner_server_check_ddl(duet_server_t *server, const char *db, const char *coll, const char *command,
                                   duet_error_t *error)
{
   duet_session_t *session = NULL;
   if (!duet_server_session_acquire(server, &session, error)) {
      return false;
   }
   duet_store_collection_info_t *infos = NULL;
   size_t count = 0;
   bool ok = true;
   if (!coll) {
      ok = duet_store_list_collections(session, db, &infos, &count, error);
   }
   bool linked = false;
   char *link_name = NULL;
   const char *linked_coll = coll;
   if (ok && coll) {
      ok = duet_partner_collection_linked(session, db, coll, &linked, &link_name, error);
   }
   for (size_t i = 0; ok && !linked && i < count; i++) {
      ok = duet_partner_collection_linked(session, db, infos[i].name, &linked, &link_name, error);
      linked_coll = infos[i].name;
   }
   if (ok && linked) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION,
                     "%s cannot touch %s.%s while it is mirrored by partner link %s: the other side would diverge; "
                     "end the migration first (duet retire SPEC --keep old|new [--drop])",
                     command, db, linked_coll, link_name);
      ok = false;
   }
   bson_free(link_name);
   duet_store_collection_infos_free(infos, count);
   duet_server_session_release(server, session);
   return ok;
}

/* The App Services schema a validator holds ({$jsonSchema: {...}}), titled `coll` when it has
 * no title; NULL when the validator is not one (then nothing is classified). */
static duet_schema_set_t *partner_validator_schema(const char *coll, const bson_t *holder)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, holder) || !bson_iter_find_descendant(&iter, "validator.$jsonSchema", &iter) ||
       !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      return NULL;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_document(&iter, &length, &data);
   bson_t schema, titled;
   bson_init_static(&schema, data, length);
   bson_init(&titled);
   if (!bson_has_field(&schema, "title")) {
      BSON_APPEND_UTF8(&titled, "title", coll);
   }
   bson_concat(&titled, &schema);
   duet_schema_set_t *set = NULL;
   duet_error_t ignored = DUET_ERROR_INIT;
   if (!duet_schema_set_from_bson(coll, &titled, false, &set, &ignored)) {
      set = NULL;
   }
   duet_error_clear(&ignored);
   bson_destroy(&titled);
   return set;
}

bool duet_partner_server_check_coll_mod(duet_server_t *server, const char *db, const char *coll, const bson_t *changes,
                                        duet_error_t *error)
{
   if (!bson_has_field(changes, "validator")) {
      return true;
   }
   duet_session_t *session = NULL;
   duet_store_collection_info_t info;
   bool exists = false;
   bool ok = duet_server_session_acquire(server, &session, error) &&
             duet_store_collection_info(session, db, coll, &info, &exists, error);
   duet_server_session_release(server, session);
   if (!ok || !exists) {
      return ok; /* a missing collection gets collMod's own error */
   }
   duet_schema_set_t *old_set = info.options ? partner_validator_schema(coll, info.options) : NULL;
   duet_store_collection_info_clear(&info);
   if (!old_set) {
      return true; /* no schema yet: nothing to break */
   }
   duet_schema_set_t *new_set = partner_validator_schema(coll, changes);
   if (!new_set) {
      duet_schema_set_destroy(old_set);
      return true; /* not an App Services schema: not classified */
   }
   duet_schema_diff_t *diff = NULL;
   duet_error_t ignored = DUET_ERROR_INIT;
   if (duet_schema_diff(old_set, new_set, NULL, &diff, &ignored) && diff->breaking) {
      char *message = duet_schema_diff_realm_message(diff);
      duet_error_set(error, DUET_ERR_INVALID_SCHEMA_CHANGE,
                     "collMod of %s.%s refused: %s\nA breaking change on live data goes through a partner "
                     "collection: write a migration spec with `duet plan OLD NEW -o SPEC`, then `duet check SPEC` "
                     "and `duet apply SPEC`.",
                     db, coll, message ? message : "breaking schema change");
      bson_free(message);
      ok = false;
   }
   duet_error_clear(&ignored);
   duet_schema_diff_destroy(diff);
   duet_schema_set_destroy(old_set);
   duet_schema_set_destroy(new_set);
   return ok;
}
