/*
 * partner_report.c — reports as documents, the shape duetd's admin commands and `duet
 * check | status | verify --json` return: a check report, a verify report and a link's status.
 */
#include "partner/partner_internal.h"

#include <string.h>

void duet_partner_check_report_to_bson(const duet_partner_check_report_t *report, bson_t *out)
{
   bson_t counts;
   bson_init(out);
   BSON_APPEND_INT64(out, "scanned", report->scanned);
   BSON_APPEND_INT64(out, "problems", duet_partner_check_problems(report));
   BSON_APPEND_DOCUMENT_BEGIN(out, "counts", &counts);
   for (int kind = 0; kind < DUET_PARTNER_CHECK_KIND_COUNT; kind++) {
      BSON_APPEND_INT64(&counts, duet_partner_check_kind_name((duet_partner_check_kind_t)kind), report->counts[kind]);
   }
   bson_append_document_end(out, &counts);
   BSON_APPEND_DOCUMENT(out, "examples", &report->examples);
}

void duet_partner_verify_report_to_bson(const duet_partner_verify_report_t *report, bson_t *out)
{
   bson_init(out);
   BSON_APPEND_INT64(out, "source_count", report->source_count);
   BSON_APPEND_INT64(out, "partner_count", report->partner_count);
   BSON_APPEND_INT64(out, "differences", duet_partner_verify_differences(report));
   BSON_APPEND_INT64(out, "missing", report->missing);
   BSON_APPEND_INT64(out, "extra", report->extra);
   BSON_APPEND_INT64(out, "differing", report->differing);
   BSON_APPEND_INT64(out, "failed", report->failed);
   BSON_APPEND_DOCUMENT(out, "examples", &report->examples);
}

bool duet_partner_link_status(duet_partner_link_t *link, duet_session_t *session, bson_t *out, duet_error_t *error)
{
   const duet_partner_spec_t *spec = link->spec;
   duet_partner_progress_t progress;
   bson_t doc;
   bool found = false;
   bson_init(out);
   if (!duet_partner_progress_get(link, session, &progress, error)) {
      return false;
   }
   BSON_APPEND_UTF8(out, "name", link->name);
   BSON_APPEND_UTF8(out, "strategy", spec->strategy == DUET_PARTNER_STRATEGY_PARTNER ? "partner" : "in-place");
   BSON_APPEND_UTF8(out, "database", spec->database);
   BSON_APPEND_UTF8(out, "source", spec->source);
   if (spec->partner) {
      BSON_APPEND_UTF8(out, "partner", spec->partner);
   }
   BSON_APPEND_UTF8(out, "state", progress.finished ? (spec->partner ? "mirroring" : "done") : "backfilling");
   BSON_APPEND_INT64(out, "done", progress.done);
   BSON_APPEND_INT64(out, "total", progress.total_estimate);
   BSON_APPEND_INT64(out, "copied", progress.copied);
   BSON_APPEND_DOUBLE(out, "rate", progress.rate);
   BSON_APPEND_INT64(out, "mirrored", duet_partner_link_mirrored(link));
   BSON_APPEND_INT64(out, "mirror_errors", duet_partner_link_mirror_errors(link));
   duet_partner_progress_clear(&progress);
   /* the last backfill error, when one was recorded */
   if (!duet_store_meta_get(session, PARTNER_META_PROGRESS, link->name, &doc, &found, error)) {
      return false;
   }
   if (found) {
      bson_iter_t iter;
      if (bson_iter_init_find(&iter, &doc, "error") && BSON_ITER_HOLDS_UTF8(&iter)) {
         BSON_APPEND_UTF8(out, "error", bson_iter_utf8(&iter, NULL));
      }
      bson_destroy(&doc);
   }
   return true;
}
