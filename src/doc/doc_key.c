/*
 * doc_key.c — the order-preserving key encoding of BSON values (duet/doc_key.h).
 *
 * Layout of one value (all multi-byte integers big-endian):
 *   class byte = canonical type + 2 (MinKey 0x01 ... MaxKey 0x81), then
 *   MinKey, undefined, null, MaxKey:  nothing more
 *   numbers:  a kind byte 0x01 NaN, 0x02 -Inf, 0x03 negative, 0x04 zero,
 *             0x05 positive, 0x06 +Inf; for finite non-zero values the
 *             adjusted decimal exponent + 0x8000 (2 bytes) and the significant
 *             digits (trailing zeros dropped) packed two per byte as
 *             10*d1+d2+1, an odd last digit padded with 0, ended by 0x00; for
 *             negative numbers exponent and digit bytes are complemented.
 *             Every number is first converted to decimal128 (doubles correctly
 *             rounded to 34 digits, as duet_value_compare does), so equal
 *             values of different types encode identically.
 *   string, symbol, javascript: bytes with 0x00 written as 0x00 0xFF, ended by 0x00 0x01
 *   object, array: per element: element class byte, field name, 0x00, value
 *             encoding; then 0x00
 *   binData:  length (4), subtype (1), bytes
 *   objectId: 12 bytes;  bool: 1 byte;  date: int64 with the sign bit flipped
 *   timestamp: (t << 32 | i) as 8 bytes
 *   regex:    pattern, 0x00, options, 0x00
 *   dbPointer: namespace length (4), namespace bytes, 12 id bytes
 *   javascriptWithScope: code as a string, then scope as an object
 */
#include <duet/doc.h>
#include <duet/doc_key.h>

#include <string.h>

void duet_key_init(duet_key_t *key)
{
   key->data = NULL;
   key->len = 0;
   key->capacity = 0;
}

void duet_key_destroy(duet_key_t *key)
{
   bson_free(key->data);
   duet_key_init(key);
}

void duet_key_reset(duet_key_t *key)
{
   key->len = 0;
}

static void key_reserve(duet_key_t *key, size_t extra)
{
   if (key->len + extra <= key->capacity) {
      return;
   }
   size_t capacity = key->capacity ? key->capacity * 2 : 64;
   while (capacity < key->len + extra) {
      capacity *= 2;
   }
   key->data = bson_realloc(key->data, capacity);
   key->capacity = capacity;
}

static void put_byte(duet_key_t *key, uint8_t byte)
{
   key_reserve(key, 1);
   key->data[key->len++] = byte;
}

void duet_key_append_bytes(duet_key_t *key, const uint8_t *bytes, size_t len)
{
   if (len == 0) {
      return;
   }
   key_reserve(key, len);
   memcpy(key->data + key->len, bytes, len);
   key->len += len;
}

static void put_u32(duet_key_t *key, uint32_t v)
{
   uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
   duet_key_append_bytes(key, b, 4);
}

static void put_u64(duet_key_t *key, uint64_t v)
{
   uint8_t b[8];
   for (int i = 7; i >= 0; i--) {
      b[i] = (uint8_t)v;
      v >>= 8;
   }
   duet_key_append_bytes(key, b, 8);
}

/* Length-free bytes that may contain NULs: escape 0x00 as 0x00 0xFF, end 0x00 0x01. */
static void put_escaped(duet_key_t *key, const char *bytes, size_t len)
{
   key_reserve(key, len + 2);
   for (size_t i = 0; i < len; i++) {
      uint8_t b = (uint8_t)bytes[i];
      put_byte(key, b);
      if (b == 0x00) {
         put_byte(key, 0xFF);
      }
   }
   put_byte(key, 0x00);
   put_byte(key, 0x01);
}

/* C strings (no NULs inside): bytes then 0x00. */
static void put_cstring(duet_key_t *key, const char *s)
{
   duet_key_append_bytes(key, (const uint8_t *)s, strlen(s) + 1);
}

static uint8_t class_byte(bson_type_t type)
{
   return (uint8_t)(duet_doc_canonical_type(type) + 2);
}

enum {
   NUMBER_NAN = 0x01,
   NUMBER_NEG_INF = 0x02,
   NUMBER_NEGATIVE = 0x03,
   NUMBER_ZERO = 0x04,
   NUMBER_POSITIVE = 0x05,
   NUMBER_POS_INF = 0x06,
};

static void put_number(duet_key_t *key, const bson_value_t *value)
{
   bson_decimal128_t d = duet_decimal_from_value(value);
   if (duet_decimal_is_nan(d)) {
      put_byte(key, NUMBER_NAN);
      return;
   }
   bool negative = duet_decimal_is_negative(d);
   if (duet_decimal_is_infinite(d)) {
      put_byte(key, negative ? NUMBER_NEG_INF : NUMBER_POS_INF);
      return;
   }
   if (duet_decimal_is_zero(d)) {
      put_byte(key, NUMBER_ZERO);
      return;
   }
   /* BID: exponent in bits 62..49 of high (biased by 6176), coefficient in the
    * low 113 bits; the "11" combination form was ruled out by is_zero above. */
   int exponent = (int)((d.high >> 49) & 0x3fff) - 6176;
   unsigned __int128 coefficient = ((unsigned __int128)(d.high & 0x0001ffffffffffffULL) << 64) | d.low;
   char digits[40];
   int count = 0;
   while (coefficient > 0) {
      digits[count++] = (char)(coefficient % 10);
      coefficient /= 10;
   }
   /* digits[] is least-significant first: drop trailing zeros of the value */
   int low = 0;
   while (digits[low] == 0) {
      low++;
      exponent++;
   }
   /* exponent of the leading digit: value = d1.d2d3... * 10^adjusted */
   int adjusted = exponent + (count - low) - 1;
   uint8_t flip = negative ? 0xFF : 0x00;
   put_byte(key, negative ? NUMBER_NEGATIVE : NUMBER_POSITIVE);
   uint16_t biased = (uint16_t)(adjusted + 0x8000);
   put_byte(key, (uint8_t)(biased >> 8) ^ flip);
   put_byte(key, (uint8_t)biased ^ flip);
   for (int i = count - 1; i >= low; i -= 2) {
      int d1 = digits[i];
      int d2 = i - 1 >= low ? digits[i - 1] : 0;
      put_byte(key, (uint8_t)(10 * d1 + d2 + 1) ^ flip);
   }
   put_byte(key, 0x00 ^ flip);
}

static void put_value(duet_key_t *key, const bson_value_t *value);

static void put_document(duet_key_t *key, const uint8_t *data, uint32_t len)
{
   bson_iter_t iter;
   if (bson_iter_init_from_data(&iter, data, len)) {
      while (bson_iter_next(&iter)) {
         const bson_value_t *element = bson_iter_value(&iter);
         put_byte(key, class_byte(element->value_type));
         put_cstring(key, bson_iter_key(&iter));
         put_value(key, element);
      }
   }
   put_byte(key, 0x00);
}

static void put_value(duet_key_t *key, const bson_value_t *value)
{
   put_byte(key, class_byte(value->value_type));
   switch (value->value_type) {
   case BSON_TYPE_EOD:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_NULL:
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY:
      return;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DECIMAL128:
      put_number(key, value);
      return;
   case BSON_TYPE_UTF8:
      put_escaped(key, value->value.v_utf8.str, value->value.v_utf8.len);
      return;
   case BSON_TYPE_SYMBOL:
      put_escaped(key, value->value.v_symbol.symbol, value->value.v_symbol.len);
      return;
   case BSON_TYPE_CODE:
      put_escaped(key, value->value.v_code.code, value->value.v_code.code_len);
      return;
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY:
      put_document(key, value->value.v_doc.data, value->value.v_doc.data_len);
      return;
   case BSON_TYPE_BINARY:
      put_u32(key, value->value.v_binary.data_len);
      put_byte(key, (uint8_t)value->value.v_binary.subtype);
      duet_key_append_bytes(key, value->value.v_binary.data, value->value.v_binary.data_len);
      return;
   case BSON_TYPE_OID:
      duet_key_append_bytes(key, value->value.v_oid.bytes, 12);
      return;
   case BSON_TYPE_BOOL:
      put_byte(key, value->value.v_bool ? 1 : 0);
      return;
   case BSON_TYPE_DATE_TIME:
      put_u64(key, (uint64_t)value->value.v_datetime ^ 0x8000000000000000ULL);
      return;
   case BSON_TYPE_TIMESTAMP:
      put_u64(key, ((uint64_t)value->value.v_timestamp.timestamp << 32) | value->value.v_timestamp.increment);
      return;
   case BSON_TYPE_REGEX:
      put_cstring(key, value->value.v_regex.regex);
      put_cstring(key, value->value.v_regex.options ? value->value.v_regex.options : "");
      return;
   case BSON_TYPE_DBPOINTER:
      put_u32(key, value->value.v_dbpointer.collection_len);
      duet_key_append_bytes(key, (const uint8_t *)value->value.v_dbpointer.collection,
                            value->value.v_dbpointer.collection_len);
      duet_key_append_bytes(key, value->value.v_dbpointer.oid.bytes, 12);
      return;
   case BSON_TYPE_CODEWSCOPE:
      put_escaped(key, value->value.v_codewscope.code, value->value.v_codewscope.code_len);
      put_document(key, value->value.v_codewscope.scope_data, value->value.v_codewscope.scope_len);
      return;
   default:
      return;
   }
}

void duet_key_append_value(duet_key_t *key, const bson_value_t *value, bool descending)
{
   size_t start = key->len;
   put_value(key, value);
   if (descending) {
      for (size_t i = start; i < key->len; i++) {
         key->data[i] = (uint8_t)~key->data[i];
      }
   }
}

void duet_key_set_value(duet_key_t *key, const bson_value_t *value)
{
   duet_key_reset(key);
   duet_key_append_value(key, value, false);
}

int duet_key_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
   size_t common = a_len < b_len ? a_len : b_len;
   int c = common ? memcmp(a, b, common) : 0;
   if (c != 0) {
      return c < 0 ? -1 : 1;
   }
   return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

bool duet_key_prefix_successor(duet_key_t *key)
{
   while (key->len > 0 && key->data[key->len - 1] == 0xFF) {
      key->len--;
   }
   if (key->len == 0) {
      return false;
   }
   key->data[key->len - 1]++;
   return true;
}
