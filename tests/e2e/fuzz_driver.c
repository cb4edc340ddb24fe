/*
 * fuzz_driver.c — runs a libFuzzer target for a fixed number of iterations
 * without libFuzzer (gcc, sanitizers), for ctest: `fuzz_wire_smoke N [SEED]`.
 * Starts from built-in seed messages (a legacy OP_QUERY hello, OP_MSG commands
 * with document sequences and a checksum) and applies random mutations: bit
 * flips, byte overwrites with interesting values, truncation, duplication of
 * ranges, and inserted random bytes.  Deterministic for a given SEED.
 */
#include <bson/bson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t driver_state;

static uint32_t driver_random(void)
{
   driver_state ^= driver_state << 13;
   driver_state ^= driver_state >> 7;
   driver_state ^= driver_state << 17;
   return (uint32_t)(driver_state >> 11);
}

static void put_int32(uint8_t *p, int32_t v)
{
   memcpy(p, &v, 4); /* little-endian hosts only, like the tests that run this */
}

/* Builds [mode byte][frame] for an OP_MSG with `body` and optional sequence. */
static size_t seed_op_msg(uint8_t *out, const char *body_json, const char *sequence, const char *docs_json,
                          uint32_t flags)
{
   bson_error_t error;
   bson_t *body = bson_new_from_json((const uint8_t *)body_json, -1, &error);
   if (!body) {
      fprintf(stderr, "bad seed %s: %s\n", body_json, error.message);
      exit(2);
   }
   size_t offset = 1 + 16;
   out[0] = 0;
   put_int32(out + offset, (int32_t)flags);
   offset += 4;
   out[offset++] = 0;
   memcpy(out + offset, bson_get_data(body), body->len);
   offset += body->len;
   bson_destroy(body);
   if (sequence) {
      bson_t *docs = bson_new_from_json((const uint8_t *)docs_json, -1, &error);
      size_t start = offset;
      out[offset++] = 1;
      offset += 4;
      memcpy(out + offset, sequence, strlen(sequence) + 1);
      offset += strlen(sequence) + 1;
      bson_iter_t iter;
      bson_iter_init(&iter, docs);
      while (bson_iter_next(&iter)) {
         uint32_t length;
         const uint8_t *bytes;
         bson_iter_document(&iter, &length, &bytes);
         memcpy(out + offset, bytes, length);
         offset += length;
      }
      put_int32(out + start + 1, (int32_t)(offset - start - 1));
      bson_destroy(docs);
   }
   put_int32(out + 1, (int32_t)(offset - 1));
   put_int32(out + 1 + 4, 7);
   put_int32(out + 1 + 8, 0);
   put_int32(out + 1 + 12, 2013);
   return offset;
}

static size_t seed_op_query(uint8_t *out)
{
   bson_t *query = BCON_NEW("isMaster", BCON_INT32(1), "helloOk", BCON_BOOL(true), "client", "{", "driver", "{",
                            "name", "fuzz", "}", "}");
   size_t offset = 1 + 16;
   out[0] = 0;
   put_int32(out + offset, 0);
   offset += 4;
   memcpy(out + offset, "admin.$cmd", 11);
   offset += 11;
   put_int32(out + offset, 0);
   put_int32(out + offset + 4, -1);
   offset += 8;
   memcpy(out + offset, bson_get_data(query), query->len);
   offset += query->len;
   bson_destroy(query);
   put_int32(out + 1, (int32_t)(offset - 1));
   put_int32(out + 1 + 4, 9);
   put_int32(out + 1 + 12, 2004);
   return offset;
}

int main(int argc, char **argv)
{
   long iterations = argc > 1 ? atol(argv[1]) : 100000;
   driver_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x2545F4914F6CDD1Dull;
   if (driver_state == 0) {
      driver_state = 1;
   }
   enum { MAX_SEED = 4096, SEED_COUNT = 16 };
   static uint8_t seeds[SEED_COUNT][MAX_SEED];
   size_t seed_sizes[SEED_COUNT];
   int n = 0;
   seed_sizes[n] = seed_op_query(seeds[n]);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"hello\": 1, \"helloOk\": true, \"$db\": \"admin\"}", NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n],
                               "{\"ping\": 1, \"$db\": \"test\", \"lsid\": {\"id\": {\"$binary\": {\"base64\": "
                               "\"AAAAAAAAQACAAAAAAAAAAA==\", \"subType\": \"04\"}}}, \"txnNumber\": {\"$numberLong\": "
                               "\"1\"}, \"maxTimeMS\": 100, \"comment\": \"x\"}",
                               NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"insert\": \"c\", \"$db\": \"test\"}", "documents",
                               "{\"0\": {\"_id\": 1, \"a\": [1, 2, {\"b\": \"c\"}]}, \"1\": {\"_id\": 2}}", 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"getMore\": {\"$numberLong\": \"5\"}, \"collection\": \"c\", \"$db\": \"t\", "
                                          "\"batchSize\": 2, \"maxTimeMS\": 0}", NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"killCursors\": \"c\", \"cursors\": [{\"$numberLong\": \"5\"}], \"$db\": \"t\"}",
                               NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"getParameter\": {\"showDetails\": true}, \"logLevel\": 1, \"$db\": \"admin\"}",
                               NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"endSessions\": [{\"id\": {\"$binary\": {\"base64\": "
                                          "\"AAAAAAAAQACAAAAAAAAAAA==\", \"subType\": \"04\"}}}], \"$db\": \"admin\"}",
                               NULL, NULL, 2);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"serverStatus\": 1, \"$db\": \"admin\"}", NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"getLog\": \"global\", \"$db\": \"admin\"}", NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"find\": \"c\", \"filter\": {\"a\": {\"$gt\": 1}}, \"sort\": {\"a\": -1}, "
                                          "\"projection\": {\"a\": 1}, \"limit\": 3, \"batchSize\": 1, \"$db\": \"test\"}",
                               NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"update\": \"c\", \"$db\": \"test\"}", "updates",
                               "{\"0\": {\"q\": {\"_id\": 1}, \"u\": {\"$set\": {\"a.b\": 2}}, \"upsert\": true}, "
                               "\"1\": {\"q\": {}, \"u\": {\"$inc\": {\"n\": 1}}, \"multi\": true}}",
                               0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"delete\": \"c\", \"$db\": \"test\"}", "deletes",
                               "{\"0\": {\"q\": {\"a\": 1}, \"limit\": 1}}", 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"aggregate\": \"c\", \"pipeline\": [{\"$match\": {}}, {\"$group\": {\"_id\": "
                                          "\"$a\", \"n\": {\"$sum\": 1}}}, {\"$out\": \"d\"}], \"cursor\": {}, \"$db\": \"test\"}",
                               NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"findAndModify\": \"c\", \"query\": {\"a\": 1}, \"update\": {\"$set\": "
                                          "{\"b\": 1}}, \"new\": true, \"upsert\": true, \"$db\": \"test\"}",
                               NULL, NULL, 0);
   n++;
   seed_sizes[n] = seed_op_msg(seeds[n], "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": "
                                          "\"a_1\", \"unique\": true}], \"$db\": \"test\"}",
                               NULL, NULL, 0);
   n++;

   if (n != SEED_COUNT) {
      fprintf(stderr, "fuzz_driver: %d seeds built, SEED_COUNT is %d\n", n, SEED_COUNT);
      return 2;
   }
   static uint8_t buffer[2 * MAX_SEED + 64];
   static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7F, 0x80, 0xFF, 0x10, 0x12, 0x13};
   for (long i = 0; i < iterations; i++) {
      int which = (int)(driver_random() % SEED_COUNT);
      size_t size = seed_sizes[which];
      memcpy(buffer, seeds[which], size);
      int mutations = 1 + (int)(driver_random() % 4);
      for (int m = 0; m < mutations && size > 1; m++) {
         size_t position = 1 + driver_random() % (size - 1);
         switch (driver_random() % 7) {
         case 0: buffer[position] ^= (uint8_t)(1u << (driver_random() % 8)); break;
         case 1: buffer[position] = interesting[driver_random() % sizeof interesting]; break;
         case 2: size = position; break; /* truncate */
         case 3: { /* insert random bytes */
            size_t count = 1 + driver_random() % 8;
            if (size + count < sizeof buffer) {
               memmove(buffer + position + count, buffer + position, size - position);
               for (size_t k = 0; k < count; k++) {
                  buffer[position + k] = (uint8_t)driver_random();
               }
               size += count;
            }
            break;
         }
         case 4: { /* duplicate a range */
            size_t from = 1 + driver_random() % (size - 1);
            size_t count = 1 + driver_random() % 32;
            if (from + count <= size && size + count < sizeof buffer) {
               memmove(buffer + position + count, buffer + position, size - position);
               memmove(buffer + position, buffer + (from < position ? from : from + count), count);
               size += count;
            }
            break;
         }
         case 5: { /* an int32 set to a boundary value */
            static const int32_t values[] = {0, -1, 1, 4, 5, 16, 0x7FFFFFFF, (int32_t)0x80000000, 48000000, 48000001};
            if (position + 4 <= size) {
               put_int32(buffer + position, values[driver_random() % 10]);
            }
            break;
         }
         default: buffer[0] = (uint8_t)driver_random(); break; /* length patched or not */
         }
      }
      LLVMFuzzerTestOneInput(buffer, size);
   }
   printf("fuzz_wire_smoke: %ld iterations without a crash\n", iterations);
   return 0;
}
