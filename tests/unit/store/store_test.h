/*
 * store_test.h — fixtures shared by the storage-engine unit tests: a fresh data
 * directory per test (removed afterwards), an open store and one session.
 */
#ifndef DUET_STORE_TEST_H
#define DUET_STORE_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif

#include "duet_test.h"

#include <duet/store.h>

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct store_fixture {
   char directory[64];
   duet_store_t *store;
   duet_session_t *session;
} store_fixture_t;

static int store_test_unlink(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path);
}

static inline void store_test_rmdir(const char *directory)
{
   nftw(directory, store_test_unlink, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int store_fixture_open_with(void **state, const duet_store_options_t *options)
{
   store_fixture_t *f = calloc(1, sizeof *f);
   snprintf(f->directory, sizeof f->directory, "/tmp/duet-store-test-XXXXXX");
   if (!mkdtemp(f->directory)) {
      return -1;
   }
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_store_open(f->directory, options, &f->store, &error) ||
       !duet_session_open(f->store, &f->session, &error)) {
      fprintf(stderr, "open: %s\n", error.message);
      duet_error_clear(&error);
      return -1;
   }
   *state = f;
   return 0;
}

static inline int store_fixture_open(void **state)
{
   return store_fixture_open_with(state, NULL);
}

static inline int store_fixture_close(void **state)
{
   store_fixture_t *f = *state;
   duet_session_close(f->session);
   duet_store_close(f->store);
   store_test_rmdir(f->directory);
   free(f);
   return 0;
}

/* Asserts a call succeeded, printing the error otherwise. */
#define ASSERT_OK(call)                                                                                                \
   do {                                                                                                                \
      duet_error_t assert_ok_error_ = DUET_ERROR_INIT;                                                                 \
      duet_error_t *error = &assert_ok_error_;                                                                         \
      if (!(call)) {                                                                                                   \
         fail_msg("%s failed: %d %s", #call, assert_ok_error_.code, assert_ok_error_.message);                         \
      }                                                                                                                \
      duet_error_clear(&assert_ok_error_);                                                                             \
   } while (0)

/* Asserts a call failed with `code`; the error is left in `err` (caller clears). */
#define ASSERT_FAILS(err, expected_code, call)                                                                         \
   do {                                                                                                                \
      duet_error_t *error = &(err);                                                                                    \
      if (call) {                                                                                                      \
         fail_msg("%s succeeded; expected code %d", #call, (int)(expected_code));                                      \
      }                                                                                                                \
      if ((err).code != (expected_code)) {                                                                             \
         fail_msg("%s: code %d (%s), expected %d", #call, (err).code, (err).message, (int)(expected_code));            \
      }                                                                                                                \
   } while (0)

static inline void store_test_insert_json(duet_session_t *session, const char *db, const char *coll, const char *json)
{
   bson_t *doc = TEST_JSON(json);
   ASSERT_OK(duet_store_insert(session, db, coll, doc, NULL, error));
   bson_destroy(doc);
}

#endif /* DUET_STORE_TEST_H */
