/*
 * duet/error.h — errors that speak MongoDB.
 *
 * Every fallible function in libduet returns bool and takes `duet_error_t *error`
 * as its last parameter.  On failure it fills `code` with a MongoDB server error
 * code (121 DocumentValidationFailure, 11000 DuplicateKey, ...) and `message`
 * with text that says what failed and what to do.  `extra` optionally carries
 * fields the wire reply adds next to errmsg/code/codeName (errInfo, keyPattern,
 * keyValue); it is owned by the error and released by duet_error_clear().
 *
 * Ownership: a duet_error_t starts as DUET_ERROR_INIT; whoever declares it calls
 * duet_error_clear() when done with it (a no-op when no extra was attached).
 */
#ifndef DUET_ERROR_H
#define DUET_ERROR_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DUET_ERROR_MESSAGE_MAX 1024

typedef struct duet_error {
   int32_t code;                          /* MongoDB error code; 0 when no error */
   char message[DUET_ERROR_MESSAGE_MAX];  /* human text, NUL-terminated */
   bson_t *extra;                         /* owned; extra reply fields or NULL */
} duet_error_t;

#define DUET_ERROR_INIT {0, {0}, NULL}

/* MongoDB error codes used by duet (values from the server's error_codes.yml). */
enum {
   DUET_ERR_INTERNAL = 1,
   DUET_ERR_BAD_VALUE = 2,
   DUET_ERR_NO_SUCH_KEY = 4,
   DUET_ERR_GRAPH_CONTAINS_CYCLE = 5,
   DUET_ERR_FAILED_TO_PARSE = 9,
   DUET_ERR_INVALID_DBREF = 10,
   DUET_ERR_UNAUTHORIZED = 13,
   DUET_ERR_TYPE_MISMATCH = 14,
   DUET_ERR_OVERFLOW = 15,
   DUET_ERR_INVALID_LENGTH = 16,
   DUET_ERR_ILLEGAL_OPERATION = 20,
   DUET_ERR_INVALID_BSON = 22,
   DUET_ERR_NAMESPACE_NOT_FOUND = 26,
   DUET_ERR_INDEX_NOT_FOUND = 27,
   DUET_ERR_PATH_NOT_VIABLE = 28,
   DUET_ERR_CANNOT_BACKFILL_ARRAY = 34,
   DUET_ERR_CONFLICTING_UPDATE_OPERATORS = 40,
   DUET_ERR_CURSOR_NOT_FOUND = 43,
   DUET_ERR_NAMESPACE_EXISTS = 48,
   DUET_ERR_NO_MATCHING_DOCUMENT = 47,
   DUET_ERR_MAX_TIME_MS_EXPIRED = 50,
   DUET_ERR_DOLLAR_PREFIXED_FIELD_NAME = 52,
   DUET_ERR_INVALID_ID_FIELD = 53,
   DUET_ERR_NOT_SINGLE_VALUE_FIELD = 54,
   DUET_ERR_EMPTY_FIELD_NAME = 56,
   DUET_ERR_COMMAND_NOT_FOUND = 59,
   DUET_ERR_IMMUTABLE_FIELD = 66,
   DUET_ERR_CANNOT_CREATE_INDEX = 67,
   DUET_ERR_INDEX_ALREADY_EXISTS = 68,
   DUET_ERR_INVALID_OPTIONS = 72,
   DUET_ERR_INVALID_NAMESPACE = 73,
   DUET_ERR_INDEX_OPTIONS_CONFLICT = 85,
   DUET_ERR_INDEX_KEY_SPECS_CONFLICT = 86,
   DUET_ERR_OPERATION_FAILED = 96,
   DUET_ERR_DOCUMENT_VALIDATION_FAILURE = 121,
   DUET_ERR_COMMAND_NOT_SUPPORTED = 115,
   DUET_ERR_CURSOR_IN_USE = 143,
   DUET_ERR_CLIENT_METADATA_CANNOT_BE_MUTATED = 186,
   DUET_ERR_ILLEGAL_OP_MSG_FLAG = 223,
   DUET_ERR_TRANSACTION_TOO_OLD = 225,
   DUET_ERR_CHECKSUM_MISMATCH = 282,
   DUET_ERR_API_VERSION_ERROR = 322,
   DUET_ERR_UNSUPPORTED_OP_QUERY_COMMAND = 352,
   DUET_ERR_INVALID_PIPELINE_OPERATOR = 168,
   DUET_ERR_QUERY_FEATURE_NOT_ALLOWED = 224,
   DUET_ERR_CONVERSION_FAILURE = 241,
   DUET_ERR_INVALID_RESUME_TOKEN = 260,
   DUET_ERR_OPERATION_NOT_SUPPORTED_IN_TRANSACTION = 263,
   DUET_ERR_CHANGE_STREAM_FATAL_ERROR = 280,
   DUET_ERR_CHANGE_STREAM_HISTORY_LOST = 286,
   DUET_ERR_BSON_OBJECT_TOO_LARGE = 10334,
   DUET_ERR_DUPLICATE_KEY = 11000,
   DUET_ERR_INTERRUPTED_AT_SHUTDOWN = 11600,
   DUET_ERR_MERGE_STAGE_NO_MATCHING_DOCUMENT = 13113,
   DUET_ERR_LOCATION_16554 = 16554,
   DUET_ERR_EXCEEDED_MEMORY_LIMIT = 292,
   DUET_ERR_MAX_SUB_PIPELINE_DEPTH_EXCEEDED = 232,
   DUET_ERR_INVALID_SCHEMA_CHANGE = 2019, /* Realm's additive-only refusal */
   DUET_ERR_CANNOT_INDEX_PARALLEL_ARRAYS = 171,
   DUET_ERR_OUT_OF_DISK_SPACE = 14031,
};

/* Sets code and a printf-formatted message; drops any previous extra. */
void duet_error_set(duet_error_t *error, int32_t code, const char *format, ...)
   __attribute__((format(printf, 3, 4)));

/* Prefixes the current message: "<prefix> :: caused by :: <message>". */
void duet_error_wrap(duet_error_t *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Attaches extra reply fields; the error takes ownership of `extra`. */
void duet_error_take_extra(duet_error_t *error, bson_t *extra);

/* Moves `from` into `to` (to is cleared first; from is left empty). */
void duet_error_move(duet_error_t *to, duet_error_t *from);

/* Releases extra and resets to DUET_ERROR_INIT. Safe on a cleared error. */
void duet_error_clear(duet_error_t *error);

/* MongoDB's codeName for a code ("DuplicateKey"), or "Location<code>" when unnamed. */
const char *duet_error_code_name(int32_t code, char buffer[32]);

#ifdef __cplusplus
}
#endif

#endif /* DUET_ERROR_H */
