/*
 * reply.c — the pieces every reply shares: the one error-reply builder, the
 * writeErrors entries, operationTime/$clusterTime, and MongoDB's wording for
 * wrong-type fields.
 */
#include "server/command.h"

#include <string.h>

void duet_reply_error(const duet_error_t *error, bson_t *reply)
{
   bson_reinit(reply);
   int32_t code = error->code ? error->code : DUET_ERR_INTERNAL;
   char name_buffer[32];
   BSON_APPEND_DOUBLE(reply, "ok", 0.0);
   BSON_APPEND_UTF8(reply, "errmsg", error->message);
   BSON_APPEND_INT32(reply, "code", code);
   BSON_APPEND_UTF8(reply, "codeName", duet_error_code_name(code, name_buffer));
   if (error->extra) {
      bson_iter_t iter;
      bson_iter_init(&iter, error->extra);
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         if (strcmp(key, "ok") == 0 || strcmp(key, "errmsg") == 0 || strcmp(key, "code") == 0 ||
             strcmp(key, "codeName") == 0) {
            continue;
         }
         bson_append_iter(reply, key, -1, &iter);
      }
   }
}

void duet_reply_append_write_error(bson_t *array, uint32_t *count, int32_t index, const duet_error_t *failure)
{
   char key_buffer[16];
   const char *key;
   bson_uint32_to_string((*count)++, &key, key_buffer, sizeof key_buffer);
   bson_t entry;
   bson_append_document_begin(array, key, -1, &entry);
   BSON_APPEND_INT32(&entry, "index", index);
   BSON_APPEND_INT32(&entry, "code", failure->code);
   BSON_APPEND_UTF8(&entry, "errmsg", failure->message);
   if (failure->extra) {
      bson_iter_t iter;
      bson_iter_init(&iter, failure->extra);
      while (bson_iter_next(&iter)) {
         const char *name = bson_iter_key(&iter);
         if (strcmp(name, "index") != 0 && strcmp(name, "code") != 0 && strcmp(name, "errmsg") != 0) {
            bson_append_iter(&entry, name, -1, &iter);
         }
      }
   }
   bson_append_document_end(array, &entry);
}

void duet_reply_append_cluster_time(duet_server_t *server, bson_t *reply)
{
   uint32_t seconds, increment;
   duet_clock_now(&server->clock, &seconds, &increment);
   bson_t cluster_time, signature;
   bson_append_document_begin(reply, "$clusterTime", -1, &cluster_time);
   bson_append_timestamp(&cluster_time, "clusterTime", -1, seconds, increment);
   bson_append_document_begin(&cluster_time, "signature", -1, &signature);
   static const uint8_t zero_hash[20] = {0};
   bson_append_binary(&signature, "hash", -1, BSON_SUBTYPE_BINARY, zero_hash, sizeof zero_hash);
   bson_append_int64(&signature, "keyId", -1, 0);
   bson_append_document_end(&cluster_time, &signature);
   bson_append_document_end(reply, &cluster_time);
   bson_append_timestamp(reply, "operationTime", -1, seconds, increment);
}

const char *duet_bson_type_name(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_DOUBLE: return "double";
   case BSON_TYPE_UTF8: return "string";
   case BSON_TYPE_DOCUMENT: return "object";
   case BSON_TYPE_ARRAY: return "array";
   case BSON_TYPE_BINARY: return "binData";
   case BSON_TYPE_UNDEFINED: return "undefined";
   case BSON_TYPE_OID: return "objectId";
   case BSON_TYPE_BOOL: return "bool";
   case BSON_TYPE_DATE_TIME: return "date";
   case BSON_TYPE_NULL: return "null";
   case BSON_TYPE_REGEX: return "regex";
   case BSON_TYPE_DBPOINTER: return "dbPointer";
   case BSON_TYPE_CODE: return "javascript";
   case BSON_TYPE_SYMBOL: return "symbol";
   case BSON_TYPE_CODEWSCOPE: return "javascriptWithScope";
   case BSON_TYPE_INT32: return "int";
   case BSON_TYPE_TIMESTAMP: return "timestamp";
   case BSON_TYPE_INT64: return "long";
   case BSON_TYPE_DECIMAL128: return "decimal";
   case BSON_TYPE_MINKEY: return "minKey";
   case BSON_TYPE_MAXKEY: return "maxKey";
   default: return "unknown";
   }
}

void duet_error_wrong_type(duet_error_t *error, const char *command_name, const char *field, const bson_iter_t *iter,
                           const char *expected)
{
   duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "BSON field '%s.%s' is the wrong type '%s', expected type '%s'",
                  command_name, field, duet_bson_type_name(bson_iter_type(iter)), expected);
}
