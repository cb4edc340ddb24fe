/*
 * partner_test.h — fixtures shared by the partner unit tests: the store fixture of
 * store/store_test.h, spec loading from tests/fixtures/specs, and small document helpers.
 */
#ifndef DUET_PARTNER_TEST_H
#define DUET_PARTNER_TEST_H

#include "store/store_test.h"

#include <duet/partner.h>

/* Path of a file under tests/fixtures (DUET_SOURCE_DIR or the source tree of this file). */
static inline char *partner_test_fixture(const char *relative)
{
   const char *root = getenv("DUET_SOURCE_DIR");
   if (root) {
      return bson_strdup_printf("%s/tests/fixtures/%s", root, relative);
   }
   /* __FILE__ is .../tests/unit/partner/partner_test.h in CMake builds */
   const char *here = __FILE__;
   const char *tests = strstr(here, "/tests/unit/");
   int prefix = tests ? (int)(tests - here) : 1;
   return bson_strdup_printf("%.*s/tests/fixtures/%s", prefix, tests ? here : ".", relative);
}

static inline duet_partner_spec_t *partner_test_spec_json(const char *json)
{
   duet_partner_spec_t *spec = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_partner_spec_parse("test.json", (const uint8_t *)json, strlen(json), &spec, &error)) {
      fail_msg("spec: %d %s", error.code, error.message);
   }
   return spec;
}

static inline duet_partner_spec_t *partner_test_spec_file(const char *name)
{
   char *relative = bson_strdup_printf("specs/%s", name);
   char *path = partner_test_fixture(relative);
   duet_partner_spec_t *spec = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_partner_spec_load(path, &spec, &error)) {
      fail_msg("spec %s: %d %s", path, error.code, error.message);
   }
   bson_free(relative);
   bson_free(path);
   return spec;
}

/* Reads db.coll's document with _id from JSON `{"_id": ...}`; returns NULL when absent. */
static inline bson_t *partner_test_find(duet_session_t *session, const char *coll, const char *id_json)
{
   bson_t *key = TEST_JSON(id_json);
   bson_iter_t iter;
   bson_iter_init_find(&iter, key, "_id");
   bson_t doc;
   bool found = false;
   ASSERT_OK(duet_store_find_id(session, "test", coll, bson_iter_value(&iter), &doc, &found, error));
   bson_destroy(key);
   if (!found) {
      return NULL;
   }
   bson_t *copy = bson_copy(&doc);
   bson_destroy(&doc);
   return copy;
}

static inline int64_t partner_test_count(duet_session_t *session, const char *coll)
{
   int64_t n = -1;
   ASSERT_OK(duet_store_count(session, "test", coll, &n, error));
   return n;
}

#endif /* DUET_PARTNER_TEST_H */
