/*
 * partner_verify.c — `duet verify`: both collections compared through the forward transform
 * in one read snapshot.  Pass 1 walks the source: forward(d) must be in the partner and equal
 * (duet_partner_docs_equal); each partner key seen goes into a temporary on-disk key set.
 * Pass 2 walks the partner: a document whose key was not seen is extra.  In-place specs: each
 * document must already be its own forward transform and satisfy the new schema.
 */
#include "partner/partner_internal.h"

#include <string.h>

int64_t duet_partner_verify_differences(const duet_partner_verify_report_t *report)
{
   return report->missing + report->extra + report->differing + report->failed;
}

void duet_partner_verify_report_clear(duet_partner_verify_report_t *report)
{
   bson_destroy(&report->examples);
   memset(report, 0, sizeof *report);
   bson_init(&report->examples);
}

static void verify_record(duet_partner_verify_report_t *report, const char *kind, int64_t count, size_t max_examples,
                          const bson_value_t *id, const char *reason, const bson_t *expected, const bson_t *actual)
{
   if (count > (int64_t)max_examples) {
      return;
   }
   bson_t entry;
   bson_init(&entry);
   BSON_APPEND_VALUE(&entry, "_id", id);
   if (reason) {
      BSON_APPEND_UTF8(&entry, "reason", reason);
   }
   if (expected) {
      BSON_APPEND_DOCUMENT(&entry, "expected", expected);
   }
   if (actual) {
      BSON_APPEND_DOCUMENT(&entry, "actual", actual);
   }
   partner_example_append(&report->examples, kind, max_examples, count, &entry);
   bson_destroy(&entry);
}

/* Pass 1 on one source document. */
static bool verify_source_doc(duet_session_t *session, const duet_partner_spec_t *spec,
                              const duet_partner_transform_t *transform, partner_keyset_t *keys, const bson_t *doc,
                              size_t max_examples, duet_partner_verify_report_t *report, duet_error_t *error)
{
   bson_t forward, actual;
   bson_iter_t iter;
   duet_error_t failure = DUET_ERROR_INIT;
   bson_value_t id = {.value_type = BSON_TYPE_NULL};
   bool found = false, ok = true;
   if (bson_iter_init_find(&iter, doc, "_id")) {
      id = *bson_iter_value(&iter);
   }
   report->source_count++;
   if (!duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &forward, &failure)) {
      report->failed++;
      verify_record(report, "failed", report->failed, max_examples, &id, failure.message, NULL, NULL);
      duet_error_clear(&failure);
      bson_destroy(&forward);
      return true;
   }
   if (spec->strategy == DUET_PARTNER_STRATEGY_IN_PLACE) {
      char reason[512];
      if (!duet_partner_docs_equal(&forward, doc)) {
         report->differing++;
         verify_record(report, "differing", report->differing, max_examples, &id, "not rewritten yet", &forward, doc);
      } else if (!duet_partner_transform_validate(transform, doc, reason, sizeof reason)) {
         report->differing++;
         verify_record(report, "differing", report->differing, max_examples, &id, reason, NULL, doc);
      }
      bson_destroy(&forward);
      return true;
   }
   bson_iter_init_find(&iter, &forward, "_id");
   const bson_value_t *partner_id = bson_iter_value(&iter);
   bool added = false;
   if (!partner_keyset_add(keys, partner_id, &id, &added, NULL, error) ||
       !duet_store_find_id(session, spec->database, spec->partner, partner_id, &actual, &found, error)) {
      bson_destroy(&forward);
      return false;
   }
   if (!found) {
      report->missing++;
      verify_record(report, "missing", report->missing, max_examples, &id, NULL, &forward, NULL);
   } else {
      if (!duet_partner_docs_equal(&forward, &actual)) {
         report->differing++;
         verify_record(report, "differing", report->differing, max_examples, &id, NULL, &forward, &actual);
      }
      bson_destroy(&actual);
   }
   bson_destroy(&forward);
   return ok;
}

/* Walks db.coll calling `each` per document. */
typedef bool (*verify_each_fn)(const bson_t *doc, void *context, duet_error_t *error);

static bool verify_scan(duet_session_t *session, const char *db, const char *coll, verify_each_fn each, void *context,
                        duet_error_t *error)
{
   duet_store_cursor_t *cursor = NULL;
   if (!duet_store_scan(session, db, coll, NULL, NULL, false, &cursor, error)) {
      return false;
   }
   bool ok = true;
   for (;;) {
      const bson_t *doc = NULL;
      if (!duet_store_cursor_next(cursor, &doc, error)) {
         ok = false;
         break;
      }
      if (!doc || !each(doc, context, error)) {
         ok = doc == NULL;
         break;
      }
   }
   duet_store_cursor_destroy(cursor);
   return ok;
}

typedef struct {
   duet_session_t *session;
   const duet_partner_spec_t *spec;
   const duet_partner_transform_t *transform;
   partner_keyset_t *keys;
   size_t max_examples;
   duet_partner_verify_report_t *report;
} verify_context_t;

static bool verify_source_each(const bson_t *doc, void *context, duet_error_t *error)
{
   verify_context_t *v = context;
   return verify_source_doc(v->session, v->spec, v->transform, v->keys, doc, v->max_examples, v->report, error);
}

static bool verify_partner_each(const bson_t *doc, void *context, duet_error_t *error)
{
   verify_context_t *v = context;
   bson_iter_t iter;
   bool found = false;
   v->report->partner_count++;
   if (!bson_iter_init_find(&iter, doc, "_id")) {
      return true;
   }
   if (!partner_keyset_contains(v->keys, bson_iter_value(&iter), &found, error)) {
      return false;
   }
   if (!found) {
      v->report->extra++;
      verify_record(v->report, "extra", v->report->extra, v->max_examples, bson_iter_value(&iter), NULL, NULL, doc);
   }
   return true;
}

bool duet_partner_verify(duet_session_t *session, const duet_partner_spec_t *spec, size_t max_examples,
                         duet_partner_verify_report_t *report, duet_error_t *error)
{
   duet_partner_transform_t *transform = NULL;
   partner_keyset_t *keys = NULL;
   bool ok = false, reading = false;
   memset(report, 0, sizeof *report);
   bson_init(&report->examples);
   if (!duet_partner_transform_new(spec, &transform, error) || !partner_keyset_open(&keys, error) ||
       !duet_session_begin_read(session, error)) {
      goto done;
   }
   reading = true;
   verify_context_t context = {session, spec, transform, keys, max_examples, report};
   if (!verify_scan(session, spec->database, spec->source, verify_source_each, &context, error)) {
      goto done;
   }
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER &&
       !verify_scan(session, spec->database, spec->partner, verify_partner_each, &context, error)) {
      goto done;
   }
   ok = true;

done:
   if (reading) {
      duet_session_end_read(session);
   }
   partner_keyset_close(keys);
   duet_partner_transform_destroy(transform);
   return ok;
}
