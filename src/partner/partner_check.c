/*
 * partner_check.c — `duet check`: a dry run of a spec over the source collection, reading
 * one snapshot and writing nothing.  For each document: the forward transform, the partner's
 * schema (in-place: the new schema), the reverse transform, the round trip, and collisions on
 * the partner _id (through a temporary on-disk key set, so memory stays flat).
 */
#include "partner/partner_internal.h"

#include <string.h>

static const char *const check_kind_names[DUET_PARTNER_CHECK_KIND_COUNT] = {
    [DUET_PARTNER_CHECK_FORWARD_FAILED] = "forward_failed", [DUET_PARTNER_CHECK_SCHEMA_FAILED] = "schema_failed",
    [DUET_PARTNER_CHECK_REVERSE_FAILED] = "reverse_failed", [DUET_PARTNER_CHECK_NOT_ROUND_TRIP] = "not_round_trip",
    [DUET_PARTNER_CHECK_ID_COLLISION] = "id_collision",
};

const char *duet_partner_check_kind_name(duet_partner_check_kind_t kind)
{
   return kind < DUET_PARTNER_CHECK_KIND_COUNT ? check_kind_names[kind] : "unknown";
}

int64_t duet_partner_check_problems(const duet_partner_check_report_t *report)
{
   int64_t total = 0;
   for (int i = 0; i < DUET_PARTNER_CHECK_KIND_COUNT; i++) {
      total += report->counts[i];
   }
   return total;
}

void duet_partner_check_report_clear(duet_partner_check_report_t *report)
{
   bson_destroy(&report->examples);
   memset(report, 0, sizeof *report);
   bson_init(&report->examples);
}

/* Counts a problem and keeps it as an example while there is room. */
static void check_record(duet_partner_check_report_t *report, duet_partner_check_kind_t kind, size_t max_examples,
                         const bson_value_t *id, const char *reason, const bson_value_t *other_id, const bson_t *result)
{
   report->counts[kind]++;
   if (report->counts[kind] > (int64_t)max_examples) {
      return;
   }
   bson_t entry;
   bson_init(&entry);
   BSON_APPEND_VALUE(&entry, "_id", id);
   BSON_APPEND_UTF8(&entry, "reason", reason);
   if (other_id) {
      BSON_APPEND_VALUE(&entry, "other_id", other_id);
   }
   if (result) {
      BSON_APPEND_DOCUMENT(&entry, "result", result);
   }
   partner_example_append(&report->examples, duet_partner_check_kind_name(kind), max_examples, report->counts[kind],
                          &entry);
   bson_destroy(&entry);
}

/* Checks one document; false only on an error of the check itself. */
static bool check_one(const duet_partner_spec_t *spec, const duet_partner_transform_t *transform,
                      partner_keyset_t *keys, const bson_t *doc, size_t max_examples,
                      duet_partner_check_report_t *report, duet_error_t *error)
{
   bson_t forward, reverse;
   bson_iter_t iter;
   duet_error_t failure = DUET_ERROR_INIT;
   char reason[512];
   bson_value_t id = {.value_type = BSON_TYPE_NULL};
   if (bson_iter_init_find(&iter, doc, "_id")) {
      id = *bson_iter_value(&iter);
   }
   report->scanned++;
   if (!duet_partner_transform_apply(transform, DUET_PARTNER_FORWARD, doc, &forward, &failure)) {
      check_record(report, DUET_PARTNER_CHECK_FORWARD_FAILED, max_examples, &id, failure.message, NULL, NULL);
      bson_destroy(&forward);
      duet_error_clear(&failure);
      return true;
   }
   if (!duet_partner_transform_validate(transform, &forward, reason, sizeof reason)) {
      check_record(report, DUET_PARTNER_CHECK_SCHEMA_FAILED, max_examples, &id, reason, NULL, &forward);
   }
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      bson_iter_init_find(&iter, &forward, "_id");
      bool added = false;
      bson_value_t other;
      if (!partner_keyset_add(keys, bson_iter_value(&iter), &id, &added, &other, error)) {
         bson_destroy(&forward);
         return false;
      }
      if (!added) {
         check_record(report, DUET_PARTNER_CHECK_ID_COLLISION, max_examples, &id,
                      "its partner _id is the partner _id of another document", &other, NULL);
         bson_value_destroy(&other);
      }
      if (!duet_partner_transform_apply(transform, DUET_PARTNER_REVERSE, &forward, &reverse, &failure)) {
         check_record(report, DUET_PARTNER_CHECK_REVERSE_FAILED, max_examples, &id, failure.message, NULL, &forward);
         duet_error_clear(&failure);
      } else if (!duet_partner_docs_equal(&reverse, doc)) {
         check_record(report, DUET_PARTNER_CHECK_NOT_ROUND_TRIP, max_examples, &id,
                      "reverse(forward(document)) differs from the document", NULL, &reverse);
      }
      bson_destroy(&reverse);
   }
   bson_destroy(&forward);
   return true;
}

bool duet_partner_check(duet_session_t *session, const duet_partner_spec_t *spec, size_t max_examples,
                        duet_partner_check_report_t *report, duet_error_t *error)
{
   duet_partner_transform_t *transform = NULL;
   partner_keyset_t *keys = NULL;
   duet_store_cursor_t *cursor = NULL;
   bool ok = false, reading = false;
   memset(report, 0, sizeof *report);
   bson_init(&report->examples);
   if (!duet_partner_transform_new(spec, &transform, error) || !partner_keyset_open(&keys, error) ||
       !duet_session_begin_read(session, error)) {
      goto done;
   }
   reading = true;
   if (!duet_store_scan(session, spec->database, spec->source, NULL, NULL, false, &cursor, error)) {
      goto done;
   }
   for (;;) {
      const bson_t *doc = NULL;
      if (!duet_store_cursor_next(cursor, &doc, error)) {
         goto done;
      }
      if (!doc) {
         break;
      }
      if (!check_one(spec, transform, keys, doc, max_examples, report, error)) {
         goto done;
      }
   }
   ok = true;

done:
   duet_store_cursor_destroy(cursor);
   if (reading) {
      duet_session_end_read(session);
   }
   partner_keyset_close(keys);
   duet_partner_transform_destroy(transform);
   return ok;
}
