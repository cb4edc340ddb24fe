/*
 * doc_structure.c — a structural check of raw BSON bytes that neither recurses nor
 * trusts libbson's validation alone: every element's length is checked against its
 * enclosing document (libbson 1.23's bson_validate misses some corrupt nested
 * strings), and documents may nest at most DUET_DOC_MAX_DEPTH deep, so a peer cannot
 * exhaust a thread's stack through the recursive walks that follow.
 */
#include <duet/doc.h>
#include <duet/error.h>

#include <string.h>

static int32_t get_int32(const uint8_t *p)
{
   uint32_t v;
   memcpy(&v, p, 4);
   return (int32_t)BSON_UINT32_FROM_LE(v);
}

bool duet_doc_check_structure(const uint8_t *data, size_t length, const char *what, duet_error_t *error)
{
   size_t ends[DUET_DOC_MAX_DEPTH + 2]; /* end offset (exclusive) of each open document */
   int depth = 0;
   if (length < 5 || get_int32(data) < 5 || (size_t)get_int32(data) != length) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: invalid BSON document length", what);
      return false;
   }
   ends[0] = length;
   size_t offset = 4;
   while (depth >= 0) {
      size_t end = ends[depth];
      if (offset >= end) {
         goto invalid;
      }
      uint8_t type = data[offset++];
      if (type == 0) {
         if (offset != end) {
            goto invalid;
         }
         depth--;
         continue;
      }
      const uint8_t *nul = memchr(data + offset, '\0', end - offset);
      if (!nul) {
         goto invalid;
      }
      offset = (size_t)(nul - data) + 1;
      size_t left = end - offset;
      size_t skip;
      int32_t n;
      switch (type) {
      case 0x01: case 0x09: case 0x11: case 0x12: skip = 8; break;
      case 0x07: skip = 12; break;
      case 0x08: skip = 1; break;
      case 0x10: skip = 4; break;
      case 0x13: skip = 16; break;
      case 0x06: case 0x0A: case 0x7F: case 0xFF: skip = 0; break;
      case 0x02: case 0x0D: case 0x0E: case 0x0C:
         if (left < 4 || (n = get_int32(data + offset)) < 1 || (size_t)n > left - 4 ||
             data[offset + 4 + (size_t)n - 1] != '\0') {
            goto invalid; /* libbson's validation misses some corrupt nested strings: check here */
         }
         skip = 4 + (size_t)n + (type == 0x0C ? 12 : 0);
         break;
      case 0x05:
         if (left < 5 || (n = get_int32(data + offset)) < 0 || (size_t)n > left - 5) {
            goto invalid;
         }
         skip = 5 + (size_t)n;
         break;
      case 0x0B: {
         const uint8_t *first = memchr(data + offset, '\0', left);
         const uint8_t *second = first ? memchr(first + 1, '\0', end - (size_t)(first + 1 - data)) : NULL;
         if (!second) {
            goto invalid;
         }
         skip = (size_t)(second - (data + offset)) + 1;
         break;
      }
      case 0x0F: /* code with scope: int32 total, string, document (walked as a nested document) */
         if (left < 14 || (n = get_int32(data + offset)) < 14 || (size_t)n > left) {
            goto invalid;
         }
         {
            int32_t code_length = get_int32(data + offset + 4);
            if (code_length < 1 || (size_t)code_length > (size_t)n - 13) {
               goto invalid;
            }
            size_t scope = offset + 8 + (size_t)code_length;
            int32_t scope_length = get_int32(data + scope);
            if (scope_length < 5 || scope + (size_t)scope_length != offset + (size_t)n) {
               goto invalid;
            }
            if (depth + 1 > DUET_DOC_MAX_DEPTH) {
               goto too_deep;
            }
            /* walk the scope as a nested document; it ends where the element ends */
            ends[++depth] = scope + (size_t)scope_length;
            offset = scope + 4;
            continue;
         }
      case 0x03: case 0x04:
         if (left < 5 || (n = get_int32(data + offset)) < 5 || (size_t)n > left) {
            goto invalid;
         }
         if (depth + 1 > DUET_DOC_MAX_DEPTH) {
            goto too_deep;
         }
         ends[++depth] = offset + (size_t)n;
         offset += 4;
         continue;
      default:
         goto invalid;
      }
      if (skip > left) {
         goto invalid;
      }
      offset += skip;
   }
   return true;
invalid:
   duet_error_set(error, DUET_ERR_INVALID_BSON, "%s: invalid BSON at byte %zu of the document", what, offset);
   return false;
too_deep:
   duet_error_set(error, DUET_ERR_OVERFLOW, "%s: BSONObj exceeded maximum nested object depth: %d", what,
                  DUET_DOC_MAX_DEPTH);
   return false;
}

