/*
 * duet_test.h — helpers shared by the cmocka unit tests.
 *
 * TEST_JSON("{...}") parses relaxed/canonical Extended JSON into a new bson_t
 * (the test owns it: bson_destroy).  Tests fail loudly on malformed fixtures.
 */
#ifndef DUET_TEST_H
#define DUET_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bson/bson.h>

static inline bson_t *duet_test_json(const char *json, const char *file, int line)
{
   bson_error_t error;
   bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &error);
   if (!doc) {
      fail_msg("%s:%d: bad JSON fixture %s: %s", file, line, json, error.message);
   }
   return doc;
}

#define TEST_JSON(json) duet_test_json((json), __FILE__, __LINE__)

/* Asserts two documents are equal as canonical Extended JSON (prints both on failure). */
static inline void duet_test_assert_json_equal(const bson_t *actual, const char *expected_json, const char *file,
                                               int line)
{
   bson_t *expected = duet_test_json(expected_json, file, line);
   char *a = bson_as_canonical_extended_json(actual, NULL);
   char *e = bson_as_canonical_extended_json(expected, NULL);
   if (strcmp(a, e) != 0) {
      fprintf(stderr, "%s:%d: documents differ\n  actual:   %s\n  expected: %s\n", file, line, a, e);
      bson_free(a);
      bson_free(e);
      bson_destroy(expected);
      fail();
   }
   bson_free(a);
   bson_free(e);
   bson_destroy(expected);
}

#define ASSERT_JSON_EQ(actual, expected_json) duet_test_assert_json_equal((actual), (expected_json), __FILE__, __LINE__)

#endif /* DUET_TEST_H */
