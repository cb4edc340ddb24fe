/*
 * wire.c — decoding requests and encoding replies in the MongoDB wire format.
 * See wire.h for the frame layout and ownership.  Every length read from the
 * peer is checked against the bytes actually present before it is used.
 */
#include "server/wire.h"

#include <duet/doc.h>

#include <string.h>

/* Error codes MongoDB uses for malformed OP_MSG (src/mongo/rpc/op_msg.cpp). */
enum {
   WIRE_ERR_ILLEGAL_OP_MSG_FLAG = 223,
   WIRE_ERR_CHECKSUM_MISMATCH = 282,
   WIRE_ERR_MULTIPLE_BODIES = 40430,
   WIRE_ERR_DUPLICATE_SEQUENCE = 40431,
   WIRE_ERR_UNKNOWN_SECTION_KIND = 40432,
   WIRE_ERR_DUPLICATE_FIELD = 40433,
   WIRE_ERR_NO_BODY = 40587,
   WIRE_ERR_OP_QUERY_REMOVED = 5739101,
};

void duet_wire_read_header(const uint8_t *data, duet_wire_header_t *header)
{
   header->message_length = duet_wire_get_int32(data);
   header->request_id = duet_wire_get_int32(data + 4);
   header->response_to = duet_wire_get_int32(data + 8);
   header->op_code = duet_wire_get_int32(data + 12);
}

bool duet_wire_check_length(const duet_wire_header_t *header, duet_error_t *error)
{
   if (header->message_length < DUET_WIRE_HEADER_SIZE) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Invalid message length %d: shorter than the %d-byte header",
                     (int)header->message_length, DUET_WIRE_HEADER_SIZE);
      return false;
   }
   if (header->message_length > DUET_WIRE_MAX_MESSAGE_SIZE) {
      duet_error_set(error, DUET_ERR_BSON_OBJECT_TOO_LARGE, "Message size %d exceeds the maximum of %d bytes",
                     (int)header->message_length, DUET_WIRE_MAX_MESSAGE_SIZE);
      return false;
   }
   return true;
}

/* ---- CRC-32C ---------------------------------------------------------------- */

static uint32_t wire_crc_table[256];
static bool wire_crc_ready;

static void wire_crc_init(void)
{
   for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) {
         c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      }
      wire_crc_table[i] = c;
   }
   __atomic_store_n(&wire_crc_ready, true, __ATOMIC_RELEASE);
}

uint32_t duet_wire_crc32c(const uint8_t *data, size_t length)
{
   if (!__atomic_load_n(&wire_crc_ready, __ATOMIC_ACQUIRE)) {
      wire_crc_init(); /* idempotent: concurrent callers compute the same table */
   }
   uint32_t crc = 0xFFFFFFFFu;
   for (size_t i = 0; i < length; i++) {
      crc = wire_crc_table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
   }
   return crc ^ 0xFFFFFFFFu;
}

/* ---- decoding --------------------------------------------------------------- */

/*
 * Reads the BSON document at data[0..available) into a static bson_t after
 * checking its declared length and structure (bson_validate).  The document
 * borrows `data`.  Returns the document length in *used.
 */
static bool wire_read_document(const uint8_t *data, size_t available, bson_t *doc, size_t *used, const char *what,
                               duet_error_t *error)
{
   if (available < 5) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: %zu bytes left, too short for a BSON document", what,
                     available);
      return false;
   }
   int32_t length = duet_wire_get_int32(data);
   if (length < 5 || (size_t)length > available) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: BSON length %d does not fit the %zu bytes left", what,
                     (int)length, available);
      return false;
   }
   if (!bson_init_static(doc, data, (size_t)length)) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: invalid BSON document", what);
      return false;
   }
   if (!duet_doc_check_structure(data, (size_t)length, what, error)) {
      return false;
   }
   size_t offset = 0;
   if (!bson_validate(doc, BSON_VALIDATE_UTF8_ALLOW_NULL, &offset)) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: invalid BSON at byte %zu of the document", what, offset);
      return false;
   }
   *used = (size_t)length;
   return true;
}

/* True if `doc` has a top-level field named `name`. */
static bool wire_has_field(const bson_t *doc, const char *name)
{
   bson_iter_t iter;
   return bson_iter_init_find(&iter, doc, name);
}

typedef struct wire_sequence {
   const char *identifier; /* borrowed from the message */
   const uint8_t *documents;
   size_t length;
} wire_sequence_t;

#define WIRE_MAX_SEQUENCES 16

static bool wire_decode_op_msg(const uint8_t *data, size_t length, duet_wire_request_t *request, duet_error_t *error)
{
   size_t end = length;
   if (length < DUET_WIRE_HEADER_SIZE + 4) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_MSG of %zu bytes has no flagBits", length);
      return false;
   }
   uint32_t flags = (uint32_t)duet_wire_get_int32(data + DUET_WIRE_HEADER_SIZE);
   request->flags = flags;
   uint32_t known = DUET_WIRE_MSG_CHECKSUM_PRESENT | DUET_WIRE_MSG_MORE_TO_COME;
   if ((flags & 0xFFFFu) & ~known) {
      duet_error_set(error, WIRE_ERR_ILLEGAL_OP_MSG_FLAG, "Message contains illegal flags value: 0x%x", flags);
      return false;
   }
   if (flags & DUET_WIRE_MSG_CHECKSUM_PRESENT) {
      if (length < DUET_WIRE_HEADER_SIZE + 4 + 4) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_MSG with checksumPresent has no room for the checksum");
         return false;
      }
      end = length - 4;
      uint32_t expected = (uint32_t)duet_wire_get_int32(data + end);
      if (duet_wire_crc32c(data, end) != expected) {
         duet_error_set(error, WIRE_ERR_CHECKSUM_MISMATCH, "OP_MSG checksum does not match contents");
         return false;
      }
   }
   request->more_to_come = (flags & DUET_WIRE_MSG_MORE_TO_COME) != 0;

   bson_t body;
   bool have_body = false;
   wire_sequence_t sequences[WIRE_MAX_SEQUENCES];
   size_t sequence_count = 0;
   size_t offset = DUET_WIRE_HEADER_SIZE + 4;
   while (offset < end) {
      uint8_t kind = data[offset++];
      if (kind == 0) {
         if (have_body) {
            duet_error_set(error, WIRE_ERR_MULTIPLE_BODIES, "Multiple body sections in message");
            return false;
         }
         size_t used;
         if (!wire_read_document(data + offset, end - offset, &body, &used, "OP_MSG body section", error)) {
            return false;
         }
         have_body = true;
         offset += used;
      } else if (kind == 1) {
         if (end - offset < 4) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_MSG document sequence has no size");
            return false;
         }
         int32_t size = duet_wire_get_int32(data + offset);
         if (size < 5 || (size_t)size > end - offset) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "OP_MSG document sequence size %d does not fit the %zu bytes left", (int)size, end - offset);
            return false;
         }
         const uint8_t *section = data + offset + 4;
         size_t section_length = (size_t)size - 4;
         const uint8_t *nul = memchr(section, '\0', section_length);
         if (!nul) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_MSG document sequence identifier is not terminated");
            return false;
         }
         const char *identifier = (const char *)section;
         if (!bson_utf8_validate(identifier, (size_t)(nul - section), false) || *identifier == '\0') {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_MSG document sequence identifier is invalid");
            return false;
         }
         for (size_t i = 0; i < sequence_count; i++) {
            if (strcmp(sequences[i].identifier, identifier) == 0) {
               duet_error_set(error, WIRE_ERR_DUPLICATE_SEQUENCE, "Duplicate document sequence: %s", identifier);
               return false;
            }
         }
         if (sequence_count == WIRE_MAX_SEQUENCES) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_MSG has more than %d document sequences",
                           WIRE_MAX_SEQUENCES);
            return false;
         }
         const uint8_t *documents = nul + 1;
         size_t documents_length = section_length - (size_t)(documents - section);
         /* validate every document of the sequence now */
         size_t inner = 0;
         while (inner < documents_length) {
            bson_t doc;
            size_t used;
            if (!wire_read_document(documents + inner, documents_length - inner, &doc, &used,
                                    "OP_MSG document sequence", error)) {
               return false;
            }
            inner += used;
         }
         sequences[sequence_count++] = (wire_sequence_t){identifier, documents, documents_length};
         offset += (size_t)size;
      } else {
         duet_error_set(error, WIRE_ERR_UNKNOWN_SECTION_KIND, "Unknown section kind %u", (unsigned)kind);
         return false;
      }
   }
   if (!have_body) {
      duet_error_set(error, WIRE_ERR_NO_BODY, "OP_MSG messages must have a body");
      return false;
   }
   for (size_t i = 0; i < sequence_count; i++) {
      if (wire_has_field(&body, sequences[i].identifier)) {
         duet_error_set(error, WIRE_ERR_DUPLICATE_FIELD, "Duplicate field between command body and document sequence: %s",
                        sequences[i].identifier);
         return false;
      }
   }

   bson_init(&request->command);
   bson_concat(&request->command, &body);
   for (size_t i = 0; i < sequence_count; i++) {
      bson_t array;
      bson_append_array_begin(&request->command, sequences[i].identifier, -1, &array);
      size_t inner = 0;
      uint32_t index = 0;
      while (inner < sequences[i].length) {
         int32_t doc_length = duet_wire_get_int32(sequences[i].documents + inner);
         bson_t doc;
         /* already validated above */
         bson_init_static(&doc, sequences[i].documents + inner, (size_t)doc_length);
         char key_buffer[16];
         const char *key;
         bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_append_document(&array, key, -1, &doc);
         inner += (size_t)doc_length;
      }
      bson_append_array_end(&request->command, &array);
   }
   return true;
}

static bool wire_decode_op_query(const uint8_t *data, size_t length, duet_wire_request_t *request,
                                 duet_error_t *error)
{
   size_t offset = DUET_WIRE_HEADER_SIZE;
   request->is_legacy_query = true; /* set first: even an error is answered with OP_REPLY */
   if (length < offset + 4) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_QUERY of %zu bytes has no flags", length);
      return false;
   }
   request->flags = (uint32_t)duet_wire_get_int32(data + offset);
   offset += 4;
   const uint8_t *nul = memchr(data + offset, '\0', length - offset);
   if (!nul) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_QUERY collection name is not terminated");
      return false;
   }
   const char *namespace_name = (const char *)(data + offset);
   size_t namespace_length = (size_t)(nul - (data + offset));
   offset += namespace_length + 1;
   if (length - offset < 8) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_QUERY has no numberToSkip/numberToReturn");
      return false;
   }
   offset += 8; /* numberToSkip, numberToReturn: commands return one document */
   bson_t query;
   size_t used;
   if (!wire_read_document(data + offset, length - offset, &query, &used, "OP_QUERY query", error)) {
      return false;
   }
   offset += used;
   if (offset < length) {
      bson_t selector;
      if (!wire_read_document(data + offset, length - offset, &selector, &used, "OP_QUERY returnFieldsSelector",
                              error)) {
         return false;
      }
      offset += used;
      if (offset != length) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_QUERY has %zu trailing bytes", length - offset);
         return false;
      }
   }
   if (!bson_utf8_validate(namespace_name, namespace_length, false)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "OP_QUERY collection name is not UTF-8");
      return false;
   }
   const char *suffix = ".$cmd";
   size_t suffix_length = strlen(suffix);
   bool is_command = namespace_length > suffix_length &&
                     memcmp(namespace_name + namespace_length - suffix_length, suffix, suffix_length) == 0;
   if (!is_command) {
      duet_error_set(error, WIRE_ERR_OP_QUERY_REMOVED,
                     "OP_QUERY is no longer supported. The client driver may require an upgrade. "
                     "For more details see https://dochub.mongodb.org/core/legacy-opcode-removal");
      return false;
   }
   bson_init(&request->command);
   bson_concat(&request->command, &query);
   if (!wire_has_field(&query, "$db")) {
      bson_append_utf8(&request->command, "$db", 3, namespace_name, (int)(namespace_length - suffix_length));
   }
   return true;
}

bool duet_wire_decode(const uint8_t *data, size_t length, duet_wire_request_t *request, duet_error_t *error)
{
   memset(request, 0, sizeof *request);
   if (length < DUET_WIRE_HEADER_SIZE) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "message of %zu bytes is shorter than its header", length);
      return false;
   }
   duet_wire_read_header(data, &request->header);
   if (!duet_wire_check_length(&request->header, error)) {
      return false;
   }
   if ((size_t)request->header.message_length != length) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "message length %d does not match the %zu bytes received",
                     (int)request->header.message_length, length);
      return false;
   }
   switch (request->header.op_code) {
   case DUET_WIRE_OP_MSG:
      return wire_decode_op_msg(data, length, request, error);
   case DUET_WIRE_OP_QUERY:
      return wire_decode_op_query(data, length, request, error);
   default:
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Unsupported opCode %d", (int)request->header.op_code);
      return false;
   }
}

void duet_wire_request_destroy(duet_wire_request_t *request)
{
   bson_destroy(&request->command);
   memset(request, 0, sizeof *request);
}

/* ---- encoding --------------------------------------------------------------- */

void duet_wire_encode_reply(const duet_wire_request_t *request, int32_t reply_request_id, uint8_t *body,
                            size_t body_length, bool owned, duet_wire_buffer_t *out)
{
   out->body = body;
   out->body_length = body_length;
   out->body_owned = owned;
   uint8_t *head = out->head;
   size_t offset = DUET_WIRE_HEADER_SIZE;
   duet_wire_put_int32(head + 4, reply_request_id);
   duet_wire_put_int32(head + 8, request->header.request_id);
   if (request->is_legacy_query) {
      duet_wire_put_int32(head + 12, DUET_WIRE_OP_REPLY);
      duet_wire_put_int32(head + offset, 0); /* responseFlags */
      offset += 4;
      memset(head + offset, 0, 8); /* cursorID */
      offset += 8;
      duet_wire_put_int32(head + offset, 0); /* startingFrom */
      offset += 4;
      duet_wire_put_int32(head + offset, 1); /* numberReturned */
      offset += 4;
   } else {
      duet_wire_put_int32(head + 12, DUET_WIRE_OP_MSG);
      duet_wire_put_int32(head + offset, 0); /* flagBits: no checksum, no moreToCome */
      offset += 4;
      head[offset++] = 0; /* one kind-0 section */
   }
   out->head_length = offset;
   out->length = offset + out->body_length;
   duet_wire_put_int32(head, (int32_t)out->length);
}

void duet_wire_buffer_destroy(duet_wire_buffer_t *buffer)
{
   if (buffer->body_owned) {
      bson_free(buffer->body);
   }
   buffer->body_owned = false;
   buffer->body = NULL;
   buffer->body_length = 0;
   buffer->head_length = 0;
   buffer->length = 0;
}
