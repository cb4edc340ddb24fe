/*
 * store_validate.c — collection validators (validator, validationLevel,
 * validationAction) and partial-index filters, evaluated with the MQL matcher
 * (duet/mql_match.h).  A rejected write is 121 DocumentValidationFailure
 * "Document failed validation" with errInfo {failingDocumentId, details}.
 */
#include "store/store_internal.h"

#include <duet/mql_match.h>

bool duet_store_match_parse(const bson_t *filter, void **match, duet_error_t *error)
{
   duet_match_t *parsed = NULL;
   if (!duet_match_parse(filter, DUET_MATCH_FEATURES_DEFAULT, &parsed, error)) {
      *match = NULL;
      return false;
   }
   *match = parsed;
   return true;
}

bool duet_store_match_doc(void *match, const bson_t *doc, bool *matched, duet_error_t *error)
{
   return duet_match_matches(match, doc, matched, NULL, error);
}

void duet_store_match_free(void *match)
{
   duet_match_destroy(match);
}

static bool validator_of(const bson_t *options, bson_t *validator)
{
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, options, "validator") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      return false;
   }
   uint32_t len;
   const uint8_t *data;
   bson_iter_document(&iter, &len, &data);
   return bson_init_static(validator, data, len) && len > 5;
}

bool duet_store_validator_check(const bson_t *options, duet_error_t *error)
{
   bson_t validator;
   if (!validator_of(options, &validator)) {
      return true;
   }
   duet_match_t *match = NULL;
   if (!duet_match_parse(&validator, DUET_MATCH_FEATURES_DEFAULT, &match, error)) {
      return false;
   }
   duet_match_destroy(match);
   return true;
}

bool duet_store_validator_load(duet_store_coll_t *coll, duet_error_t *error)
{
   coll->validator = NULL;
   bson_t validator;
   if (!coll->has_validator || !validator_of(&coll->options, &validator)) {
      coll->has_validator = false;
      return true;
   }
   return duet_store_match_parse(&validator, &coll->validator, error);
}

void duet_store_validator_free(duet_store_coll_t *coll)
{
   if (coll->validator) {
      duet_match_destroy(coll->validator);
      coll->validator = NULL;
   }
}

bool duet_store_validate_write(duet_store_coll_t *coll, const bson_t *old_doc, const bson_t *new_doc,
                               duet_error_t *error)
{
   if (!coll->has_validator || !coll->validator || coll->validation_level == 0) {
      return true;
   }
   bool matched = false;
   if (old_doc && coll->validation_level == 2) {
      /* moderate: updates of documents that already fail are not checked */
      if (!duet_match_matches(coll->validator, old_doc, &matched, NULL, error)) {
         return false;
      }
      if (!matched) {
         return true;
      }
   }
   if (!duet_match_matches(coll->validator, new_doc, &matched, NULL, error)) {
      return false;
   }
   if (matched || coll->validation_action == 1) {
      return true; /* warn: accepted (MongoDB only logs) */
   }
   bson_t details;
   if (!duet_match_validation_details(coll->validator, new_doc, &details, error)) {
      bson_destroy(&details);
      return false;
   }
   bson_t *extra = bson_new();
   bson_t info;
   BSON_APPEND_DOCUMENT_BEGIN(extra, "errInfo", &info);
   bson_iter_t id;
   if (bson_iter_init_find(&id, new_doc, "_id")) {
      bson_append_iter(&info, "failingDocumentId", -1, &id);
   }
   BSON_APPEND_DOCUMENT(&info, "details", &details);
   bson_append_document_end(extra, &info);
   bson_destroy(&details);
   duet_error_set(error, DUET_ERR_DOCUMENT_VALIDATION_FAILURE, "Document failed validation");
   duet_error_take_extra(error, extra);
   return false;
}
