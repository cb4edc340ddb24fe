/*
 * wire.h — the MongoDB wire format: message headers, OP_MSG and OP_QUERY
 * requests, OP_MSG and OP_REPLY replies, CRC-32C checksums.
 *
 * Pure functions over byte buffers: nothing here touches a socket, so the
 * fuzz target (fuzz/fuzz_wire.c) drives exactly the code the server runs.
 *
 * Frame layout (little-endian):
 *   int32 messageLength  (whole message, header included; 16 .. 48,000,000)
 *   int32 requestID
 *   int32 responseTo
 *   int32 opCode         (1 OP_REPLY, 2004 OP_QUERY, 2012 OP_COMPRESSED, 2013 OP_MSG)
 */
#ifndef DUET_SERVER_WIRE_H
#define DUET_SERVER_WIRE_H

#include <duet/error.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUET_WIRE_HEADER_SIZE 16
#define DUET_WIRE_MAX_MESSAGE_SIZE 48000000
#define DUET_WIRE_MAX_BSON_SIZE 16777216
#define DUET_WIRE_MAX_WRITE_BATCH 100000

#define DUET_WIRE_OP_REPLY 1
#define DUET_WIRE_OP_QUERY 2004
#define DUET_WIRE_OP_COMPRESSED 2012
#define DUET_WIRE_OP_MSG 2013

#define DUET_WIRE_MSG_CHECKSUM_PRESENT 0x1u
#define DUET_WIRE_MSG_MORE_TO_COME 0x2u
#define DUET_WIRE_MSG_EXHAUST_ALLOWED 0x10000u

typedef struct duet_wire_header {
   int32_t message_length; /* whole message in bytes, header included */
   int32_t request_id;     /* chosen by the sender */
   int32_t response_to;    /* request_id of the request a reply answers */
   int32_t op_code;        /* DUET_WIRE_OP_* */
} duet_wire_header_t;

/*
 * A decoded request, OP_MSG or OP_QUERY.
 *
 * Ownership: `command` is owned by the request (duet_wire_request_destroy).  For
 * OP_MSG it is the kind-0 body with every kind-1 document sequence appended as
 * an array named by the sequence identifier.  For OP_QUERY it is the query
 * document with "$db" appended from the "<db>.$cmd" namespace (unless present).
 */
typedef struct duet_wire_request {
   duet_wire_header_t header;
   uint32_t flags;       /* OP_MSG flagBits, or OP_QUERY flags */
   bool is_legacy_query; /* true for OP_QUERY (answer with OP_REPLY) */
   bool more_to_come;    /* OP_MSG moreToCome: the client wants no reply */
   bson_t command;       /* owned; see above */
} duet_wire_request_t;

/* Reads the 16-byte header at `data` (at least 16 bytes). No validation. */
void duet_wire_read_header(const uint8_t *data, duet_wire_header_t *header);

/*
 * Checks the bounds of a header's messageLength before the body is read:
 * 16 <= length <= DUET_WIRE_MAX_MESSAGE_SIZE.  Fails with code 10334
 * BSONObjectTooLarge for oversized and 9 FailedToParse for undersized lengths.
 */
bool duet_wire_check_length(const duet_wire_header_t *header, duet_error_t *error);

/*
 * Decodes one complete message (`length` bytes, header included; the header's
 * messageLength must equal `length`).  On success `request` is initialized and
 * the caller must call duet_wire_request_destroy.  On failure `request` needs no
 * cleanup and `error` says what was wrong; request->header, is_legacy_query and
 * more_to_come are still filled as far as they were read, so the caller can
 * answer a well-framed but malformed request with an error reply.
 */
bool duet_wire_decode(const uint8_t *data, size_t length, duet_wire_request_t *request, duet_error_t *error);

void duet_wire_request_destroy(duet_wire_request_t *request);

/*
 * Frames body[0 .. body_length) as the reply to `request` in `out`: the frame is
 * head[0 .. head_length) followed by the body, which is not copied.  With `owned` the body
 * (bson_malloc'ed) passes to `out` and duet_wire_buffer_destroy frees it; otherwise it is
 * borrowed and must stay until the reply is sent.  OP_MSG requests get OP_MSG with flagBits 0
 * and one kind-0 section; OP_QUERY requests get OP_REPLY (flags 0, cursorID 0, startingFrom 0,
 * numberReturned 1).
 */
#define DUET_WIRE_REPLY_HEAD_MAX (DUET_WIRE_HEADER_SIZE + 20)

typedef struct duet_wire_buffer {
   uint8_t head[DUET_WIRE_REPLY_HEAD_MAX]; /* the message header and the opcode's fields */
   size_t head_length;
   uint8_t *body; /* NULL when there is no reply */
   size_t body_length;
   bool body_owned; /* body is freed by duet_wire_buffer_destroy */
   size_t length;   /* head_length + body_length: the messageLength; 0 when there is no reply */
} duet_wire_buffer_t;

#define DUET_WIRE_BUFFER_INIT {{0}, 0, NULL, 0, false, 0}

void duet_wire_encode_reply(const duet_wire_request_t *request, int32_t reply_request_id, uint8_t *body,
                            size_t body_length, bool owned, duet_wire_buffer_t *out);

void duet_wire_buffer_destroy(duet_wire_buffer_t *buffer);

/* CRC-32C (Castagnoli) of `length` bytes, as OP_MSG checksums use it. */
uint32_t duet_wire_crc32c(const uint8_t *data, size_t length);

/* Little-endian helpers. */
static inline int32_t duet_wire_get_int32(const uint8_t *p)
{
   return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
}

static inline void duet_wire_put_int32(uint8_t *p, int32_t value)
{
   uint32_t v = (uint32_t)value;
   p[0] = (uint8_t)v;
   p[1] = (uint8_t)(v >> 8);
   p[2] = (uint8_t)(v >> 16);
   p[3] = (uint8_t)(v >> 24);
}

#endif /* DUET_SERVER_WIRE_H */
