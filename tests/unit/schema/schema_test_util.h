/*
 * schema_test_util.h — helpers shared by the schema unit tests: parse JSON text into
 * a schema set, diff two JSON texts, find a change.
 */
#ifndef DUET_SCHEMA_TEST_UTIL_H
#define DUET_SCHEMA_TEST_UTIL_H

#include "duet_test.h"

#include <duet/schema.h>

/* Test JSON is written with single quotes; this turns them into double quotes. Caller frees. */
static inline char *unquote(const char *json)
{
   char *text = bson_strdup(json);
   for (char *c = text; *c; c++) {
      if (*c == '\'') {
         *c = '"';
      }
   }
   return text;
}

/* Parses `json` (single-quoted); fails the test when it does not parse. Caller destroys. */
static inline duet_schema_set_t *parse_ok(const char *source, const char *json)
{
   duet_schema_set_t *set = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   char *text = unquote(json);
   bool ok = duet_schema_set_parse(source, (const uint8_t *)text, strlen(text), &set, &error);
   bson_free(text);
   if (!ok) {
      fail_msg("unexpected parse failure: %s", error.message);
   }
   assert_non_null(set);
   duet_error_clear(&error);
   return set;
}

/* Parses `json` (single-quoted) expecting failure; returns the code and copies the message
 * into `message` (size DUET_ERROR_MESSAGE_MAX). */
static inline int32_t parse_fails(const char *json, char *message)
{
   duet_schema_set_t *set = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   char *text = unquote(json);
   bool ok = duet_schema_set_parse("s.json", (const uint8_t *)text, strlen(text), &set, &error);
   bson_free(text);
   if (ok) {
      duet_schema_set_destroy(set);
      fail_msg("expected a parse failure for %s", json);
   }
   assert_null(set);
   int32_t code = error.code;
   strcpy(message, error.message);
   duet_error_clear(&error);
   return code;
}

static inline void assert_contains(const char *haystack, const char *needle)
{
   if (!strstr(haystack, needle)) {
      fail_msg("expected to find\n  %s\nin\n  %s", needle, haystack);
   }
}

/* A diff together with the sets it borrows from. */
typedef struct {
   duet_schema_set_t *old_set;
   duet_schema_set_t *new_set;
   duet_schema_diff_t *diff;
} diff_fixture_t;

static inline diff_fixture_t diff_json_with(const char *old_json, const char *new_json,
                                            const duet_schema_diff_options_t *options)
{
   diff_fixture_t f;
   f.old_set = parse_ok("old.json", old_json);
   f.new_set = parse_ok("new.json", new_json);
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_schema_diff(f.old_set, f.new_set, options, &f.diff, &error)) {
      fail_msg("unexpected diff failure: %s", error.message);
   }
   duet_error_clear(&error);
   return f;
}

static inline diff_fixture_t diff_json(const char *old_json, const char *new_json)
{
   return diff_json_with(old_json, new_json, NULL);
}

static inline void diff_fixture_destroy(diff_fixture_t *f)
{
   duet_schema_diff_destroy(f->diff);
   duet_schema_set_destroy(f->old_set);
   duet_schema_set_destroy(f->new_set);
}

/* The only change of a diff (asserts there is exactly one). */
static inline const duet_schema_change_t *only_change(const diff_fixture_t *f)
{
   if (f->diff->change_count != 1) {
      char *json = duet_schema_diff_to_json(f->diff);
      fprintf(stderr, "expected one change, got: %s\n", json);
      bson_free(json);
      fail();
   }
   return &f->diff->changes[0];
}

static inline void assert_change(const duet_schema_change_t *change, duet_schema_change_kind_t kind,
                                 duet_schema_verdict_t server, duet_schema_verdict_t client,
                                 duet_schema_handling_t handling, const char *message)
{
   assert_string_equal(duet_schema_change_kind_name(change->kind), duet_schema_change_kind_name(kind));
   assert_string_equal(duet_schema_verdict_name(change->server), duet_schema_verdict_name(server));
   assert_string_equal(duet_schema_verdict_name(change->client), duet_schema_verdict_name(client));
   assert_string_equal(duet_schema_handling_name(change->handling), duet_schema_handling_name(handling));
   if (message) {
      assert_non_null(change->message);
      assert_string_equal(change->message, message);
   } else {
      assert_null(change->message);
   }
}

#define NB DUET_VERDICT_NON_BREAKING
#define BR DUET_VERDICT_BREAKING

#endif /* DUET_SCHEMA_TEST_UTIL_H */
