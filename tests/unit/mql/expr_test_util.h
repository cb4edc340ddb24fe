/*
 * expr_test_util.h — table-driven expression cases shared by the expression unit
 * tests: each case evaluates one expression against one document and expects either
 * a value (as JSON, "MISSING" for a missing result) or an exact error code and message.
 */
#ifndef DUET_EXPR_TEST_UTIL_H
#define DUET_EXPR_TEST_UTIL_H

#include "duet_test.h"

#include <duet/mql_expr.h>

typedef struct expr_case {
   const char *document; /* JSON document, NULL for {} */
   const char *expr;     /* JSON value of the expression */
   const char *expected; /* JSON value of the result, "MISSING" for a missing value; NULL when an error */
   int code;             /* expected error code */
   const char *message;  /* expected error message (exact) */
} expr_case_t;

static void run_case(const expr_case_t *c)
{
   char buffer[4096];
   snprintf(buffer, sizeof buffer, "{\"e\": %s}", c->expr);
   bson_t *spec = TEST_JSON(buffer);
   bson_t *doc = TEST_JSON(c->document ? c->document : "{}");
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, spec, "e"));
   duet_expr_t *expr = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   bson_value_t out = {.value_type = BSON_TYPE_EOD};
   duet_expr_env_t env = DUET_EXPR_ENV_INIT;
   bool ok = duet_expr_parse_iter(&iter, NULL, &expr, &error);
   if (ok) {
      ok = duet_expr_evaluate(expr, doc, &env, &out, &error);
      duet_expr_destroy(expr);
   }
   if (c->expected == NULL) {
      if (ok) {
         fail_msg("%s: expected error %d, got success", c->expr, c->code);
      }
      if (error.code != c->code || strcmp(error.message, c->message) != 0) {
         fail_msg("%s: expected error %d '%s', got %d '%s'", c->expr, c->code, c->message, error.code, error.message);
      }
   } else {
      if (!ok) {
         fail_msg("%s: unexpected error %d '%s'", c->expr, error.code, error.message);
      }
      bson_t result = BSON_INITIALIZER;
      if (out.value_type != BSON_TYPE_EOD) {
         bson_append_value(&result, "v", 1, &out);
      }
      char expected[4096];
      if (strcmp(c->expected, "MISSING") == 0) {
         snprintf(expected, sizeof expected, "{}");
      } else {
         snprintf(expected, sizeof expected, "{\"v\": %s}", c->expected);
      }
      if (strcmp(c->expected, "MISSING") != 0 && out.value_type == BSON_TYPE_EOD) {
         fail_msg("%s: result is missing", c->expr);
      }
      ASSERT_JSON_EQ(&result, expected);
      bson_destroy(&result);
   }
   bson_value_destroy(&out);
   duet_error_clear(&error);
   bson_destroy(spec);
   bson_destroy(doc);
}

static void run_cases(const expr_case_t *cases, size_t count)
{
   for (size_t i = 0; i < count; i++) {
      run_case(&cases[i]);
   }
}

#define RUN(cases) run_cases((cases), sizeof(cases) / sizeof((cases)[0]))
#define OK(doc, e, v)                                                                                                  \
   {                                                                                                                   \
      (doc), (e), (v), 0, NULL                                                                                         \
   }
#define ERR(doc, e, code, msg)                                                                                         \
   {                                                                                                                   \
      (doc), (e), NULL, (code), (msg)                                                                                  \
   }

#endif /* DUET_EXPR_TEST_UTIL_H */
