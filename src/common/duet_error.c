/*
 * duet_error.c — the one place that builds and names MongoDB-style errors.
 * See include/duet/error.h for the ownership contract.
 */
#include <duet/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void duet_error_set(duet_error_t *error, int32_t code, const char *format, ...)
{
   if (!error) {
      return;
   }
   if (error->extra) {
      bson_destroy(error->extra);
      error->extra = NULL;
   }
   error->code = code;
   va_list args;
   va_start(args, format);
   vsnprintf(error->message, sizeof error->message, format, args);
   va_end(args);
}

void duet_error_wrap(duet_error_t *error, const char *format, ...)
{
   if (!error) {
      return;
   }
   char prefix[DUET_ERROR_MESSAGE_MAX];
   va_list args;
   va_start(args, format);
   vsnprintf(prefix, sizeof prefix, format, args);
   va_end(args);
   char combined[2 * DUET_ERROR_MESSAGE_MAX + 32];
   snprintf(combined, sizeof combined, "%s :: caused by :: %s", prefix, error->message);
   memcpy(error->message, combined, sizeof error->message - 1);
   error->message[sizeof error->message - 1] = '\0';
}

void duet_error_take_extra(duet_error_t *error, bson_t *extra)
{
   if (!error) {
      bson_destroy(extra);
      return;
   }
   if (error->extra) {
      bson_destroy(error->extra);
   }
   error->extra = extra;
}

void duet_error_move(duet_error_t *to, duet_error_t *from)
{
   duet_error_clear(to);
   *to = *from;
   from->extra = NULL;
   from->code = 0;
   from->message[0] = '\0';
}

void duet_error_clear(duet_error_t *error)
{
   if (!error) {
      return;
   }
   if (error->extra) {
      bson_destroy(error->extra);
   }
   error->extra = NULL;
   error->code = 0;
   error->message[0] = '\0';
}

static const struct {
   int32_t code;
   const char *name;
} duet_error_names[] = {
   {1, "InternalError"},
   {2, "BadValue"},
   {4, "NoSuchKey"},
   {5, "GraphContainsCycle"},
   {9, "FailedToParse"},
   {10, "InvalidDBRef"},
   {13, "Unauthorized"},
   {14, "TypeMismatch"},
   {15, "Overflow"},
   {16, "InvalidLength"},
   {20, "IllegalOperation"},
   {22, "InvalidBSON"},
   {26, "NamespaceNotFound"},
   {27, "IndexNotFound"},
   {28, "PathNotViable"},
   {34, "CannotBackfillArray"},
   {40, "ConflictingUpdateOperators"},
   {43, "CursorNotFound"},
   {47, "NoMatchingDocument"},
   {48, "NamespaceExists"},
   {50, "MaxTimeMSExpired"},
   {52, "DollarPrefixedFieldName"},
   {53, "InvalidIdField"},
   {54, "NotSingleValueField"},
   {56, "EmptyFieldName"},
   {59, "CommandNotFound"},
   {66, "ImmutableField"},
   {67, "CannotCreateIndex"},
   {68, "IndexAlreadyExists"},
   {72, "InvalidOptions"},
   {73, "InvalidNamespace"},
   {85, "IndexOptionsConflict"},
   {86, "IndexKeySpecsConflict"},
   {96, "OperationFailed"},
   {115, "CommandNotSupported"},
   {121, "DocumentValidationFailure"},
   {143, "CursorInUse"},
   {186, "ClientMetadataCannotBeMutated"},
   {168, "InvalidPipelineOperator"},
   {224, "QueryFeatureNotAllowed"},
   {171, "CannotIndexParallelArrays"},
   {223, "IllegalOpMsgFlag"},
   {225, "TransactionTooOld"},
   {241, "ConversionFailure"},
   {251, "NoSuchTransaction"},
   {260, "InvalidResumeToken"},
   {263, "OperationNotSupportedInTransaction"},
   {280, "ChangeStreamFatalError"},
   {282, "ChecksumMismatch"},
   {286, "ChangeStreamHistoryLost"},
   {292, "QueryExceededMemoryLimitNoDiskUseAllowed"},
   {232, "MaxSubPipelineDepthExceeded"},
   {322, "APIVersionError"},
   {352, "UnsupportedOpQueryCommand"},
   {2019, "InvalidSchemaChange"},
   {10334, "BSONObjectTooLarge"},
   {11000, "DuplicateKey"},
   {11600, "InterruptedAtShutdown"},
   {14031, "OutOfDiskSpace"},
};

const char *duet_error_code_name(int32_t code, char buffer[32])
{
   for (size_t i = 0; i < sizeof duet_error_names / sizeof duet_error_names[0]; i++) {
      if (duet_error_names[i].code == code) {
         return duet_error_names[i].name;
      }
   }
   snprintf(buffer, 32, "Location%d", (int)code);
   return buffer;
}
