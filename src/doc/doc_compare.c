/*
 * doc_compare.c — MongoDB's BSON comparison order (BSONElement::woCompare and
 * compareElementValues), and the type-name table shared by $type, $convert and
 * error messages.  See include/duet/doc.h for the order itself.
 */
#include <duet/doc.h>

#include <math.h>
#include <string.h>

int duet_doc_canonical_type(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_MINKEY: return -1;
   case BSON_TYPE_EOD:
   case BSON_TYPE_UNDEFINED: return 0;
   case BSON_TYPE_NULL: return 5;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DECIMAL128: return 10;
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL: return 15;
   case BSON_TYPE_DOCUMENT: return 20;
   case BSON_TYPE_ARRAY: return 25;
   case BSON_TYPE_BINARY: return 30;
   case BSON_TYPE_OID: return 35;
   case BSON_TYPE_BOOL: return 40;
   case BSON_TYPE_DATE_TIME: return 45;
   case BSON_TYPE_TIMESTAMP: return 47;
   case BSON_TYPE_REGEX: return 50;
   case BSON_TYPE_DBPOINTER: return 55;
   case BSON_TYPE_CODE: return 60;
   case BSON_TYPE_CODEWSCOPE: return 65;
   case BSON_TYPE_MAXKEY: return 127;
   default: return 126; /* unknown types sort just below MaxKey */
   }
}

bool duet_type_is_number(bson_type_t type)
{
   return type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 || type == BSON_TYPE_DOUBLE ||
          type == BSON_TYPE_DECIMAL128;
}

static const struct {
   bson_type_t type;
   const char *name;
} duet_type_names[] = {
   {BSON_TYPE_DOUBLE, "double"},
   {BSON_TYPE_UTF8, "string"},
   {BSON_TYPE_DOCUMENT, "object"},
   {BSON_TYPE_ARRAY, "array"},
   {BSON_TYPE_BINARY, "binData"},
   {BSON_TYPE_UNDEFINED, "undefined"},
   {BSON_TYPE_OID, "objectId"},
   {BSON_TYPE_BOOL, "bool"},
   {BSON_TYPE_DATE_TIME, "date"},
   {BSON_TYPE_NULL, "null"},
   {BSON_TYPE_REGEX, "regex"},
   {BSON_TYPE_DBPOINTER, "dbPointer"},
   {BSON_TYPE_CODE, "javascript"},
   {BSON_TYPE_SYMBOL, "symbol"},
   {BSON_TYPE_CODEWSCOPE, "javascriptWithScope"},
   {BSON_TYPE_INT32, "int"},
   {BSON_TYPE_TIMESTAMP, "timestamp"},
   {BSON_TYPE_INT64, "long"},
   {BSON_TYPE_DECIMAL128, "decimal"},
   {BSON_TYPE_MINKEY, "minKey"},
   {BSON_TYPE_MAXKEY, "maxKey"},
};

const char *duet_type_name(bson_type_t type)
{
   if (type == BSON_TYPE_EOD) {
      return "missing";
   }
   for (size_t i = 0; i < sizeof duet_type_names / sizeof duet_type_names[0]; i++) {
      if (duet_type_names[i].type == type) {
         return duet_type_names[i].name;
      }
   }
   return "unknown";
}

bool duet_type_from_name(const char *name, bson_type_t *type)
{
   for (size_t i = 0; i < sizeof duet_type_names / sizeof duet_type_names[0]; i++) {
      if (strcmp(duet_type_names[i].name, name) == 0) {
         *type = duet_type_names[i].type;
         return true;
      }
   }
   return false;
}

static int compare_int64(int64_t a, int64_t b)
{
   return a < b ? -1 : (a > b ? 1 : 0);
}

static int compare_uint64(uint64_t a, uint64_t b)
{
   return a < b ? -1 : (a > b ? 1 : 0);
}

static int compare_double(double a, double b)
{
   if (a < b) {
      return -1;
   }
   if (a > b) {
      return 1;
   }
   if (a == b) {
      return 0;
   }
   /* at least one NaN: NaN sorts below every number and equals NaN */
   bool a_nan = isnan(a);
   bool b_nan = isnan(b);
   return a_nan && b_nan ? 0 : (a_nan ? -1 : 1);
}

/* Exact comparison of an int64 with a double (no rounding of the long). */
static int compare_int64_double(int64_t a, double b)
{
   if (isnan(b)) {
      return 1;
   }
   if (b >= 9223372036854775808.0) {
      return -1;
   }
   if (b < -9223372036854775808.0) {
      return 1;
   }
   int64_t b_whole = (int64_t)b; /* truncation; exact because |b| < 2^63 */
   if (a != b_whole) {
      return a < b_whole ? -1 : 1;
   }
   double fraction = b - (double)b_whole;
   return fraction > 0 ? -1 : (fraction < 0 ? 1 : 0);
}

static int compare_numbers(const bson_value_t *a, const bson_value_t *b)
{
   bson_type_t ta = a->value_type;
   bson_type_t tb = b->value_type;
   if (ta == BSON_TYPE_DECIMAL128 || tb == BSON_TYPE_DECIMAL128) {
      return duet_decimal_compare(duet_decimal_from_value(a), duet_decimal_from_value(b));
   }
   if (ta == BSON_TYPE_DOUBLE && tb == BSON_TYPE_DOUBLE) {
      return compare_double(a->value.v_double, b->value.v_double);
   }
   if (ta == BSON_TYPE_DOUBLE) {
      int64_t bi = tb == BSON_TYPE_INT32 ? b->value.v_int32 : b->value.v_int64;
      return -compare_int64_double(bi, a->value.v_double);
   }
   int64_t ai = ta == BSON_TYPE_INT32 ? a->value.v_int32 : a->value.v_int64;
   if (tb == BSON_TYPE_DOUBLE) {
      return compare_int64_double(ai, b->value.v_double);
   }
   int64_t bi = tb == BSON_TYPE_INT32 ? b->value.v_int32 : b->value.v_int64;
   return compare_int64(ai, bi);
}

/* Bytewise, then by length (MongoDB's StringData comparison). */
static int compare_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
   size_t common = a_len < b_len ? a_len : b_len;
   int c = common ? memcmp(a, b, common) : 0;
   if (c != 0) {
      return c < 0 ? -1 : 1;
   }
   return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

static int sign(int x)
{
   return x < 0 ? -1 : (x > 0 ? 1 : 0);
}

int duet_doc_compare_raw(const uint8_t *a, uint32_t a_len, const uint8_t *b, uint32_t b_len)
{
   bson_iter_t ia;
   bson_iter_t ib;
   if (!bson_iter_init_from_data(&ia, a, a_len) || !bson_iter_init_from_data(&ib, b, b_len)) {
      return compare_bytes(a, a_len, b, b_len);
   }
   for (;;) {
      bool more_a = bson_iter_next(&ia);
      bool more_b = bson_iter_next(&ib);
      if (!more_a || !more_b) {
         return more_a == more_b ? 0 : (more_a ? 1 : -1);
      }
      int c = duet_doc_canonical_type(bson_iter_type(&ia)) - duet_doc_canonical_type(bson_iter_type(&ib));
      if (c != 0) {
         return sign(c);
      }
      c = strcmp(bson_iter_key(&ia), bson_iter_key(&ib));
      if (c != 0) {
         return sign(c);
      }
      c = duet_iter_compare(&ia, &ib);
      if (c != 0) {
         return c;
      }
   }
}

int duet_value_compare(const bson_value_t *a, const bson_value_t *b)
{
   int ca = duet_doc_canonical_type(a->value_type);
   int cb = duet_doc_canonical_type(b->value_type);
   if (ca != cb) {
      return ca < cb ? -1 : 1;
   }
   switch (a->value_type) {
   case BSON_TYPE_EOD:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_NULL:
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY:
      return 0;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DECIMAL128:
      return compare_numbers(a, b);
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL: {
      const char *sa = a->value_type == BSON_TYPE_UTF8 ? a->value.v_utf8.str : a->value.v_symbol.symbol;
      uint32_t la = a->value_type == BSON_TYPE_UTF8 ? a->value.v_utf8.len : a->value.v_symbol.len;
      const char *sb = b->value_type == BSON_TYPE_UTF8 ? b->value.v_utf8.str : b->value.v_symbol.symbol;
      uint32_t lb = b->value_type == BSON_TYPE_UTF8 ? b->value.v_utf8.len : b->value.v_symbol.len;
      return compare_bytes(sa, la, sb, lb);
   }
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY:
      return duet_doc_compare_raw(a->value.v_doc.data, a->value.v_doc.data_len, b->value.v_doc.data,
                                  b->value.v_doc.data_len);
   case BSON_TYPE_BINARY: {
      uint32_t la = a->value.v_binary.data_len;
      uint32_t lb = b->value.v_binary.data_len;
      if (la != lb) {
         return la < lb ? -1 : 1;
      }
      if (a->value.v_binary.subtype != b->value.v_binary.subtype) {
         return a->value.v_binary.subtype < b->value.v_binary.subtype ? -1 : 1;
      }
      return la ? sign(memcmp(a->value.v_binary.data, b->value.v_binary.data, la)) : 0;
   }
   case BSON_TYPE_OID:
      return sign(memcmp(a->value.v_oid.bytes, b->value.v_oid.bytes, 12));
   case BSON_TYPE_BOOL:
      return (int)a->value.v_bool - (int)b->value.v_bool;
   case BSON_TYPE_DATE_TIME:
      return compare_int64(a->value.v_datetime, b->value.v_datetime);
   case BSON_TYPE_TIMESTAMP: {
      uint64_t ta = ((uint64_t)a->value.v_timestamp.timestamp << 32) | a->value.v_timestamp.increment;
      uint64_t tb = ((uint64_t)b->value.v_timestamp.timestamp << 32) | b->value.v_timestamp.increment;
      return compare_uint64(ta, tb);
   }
   case BSON_TYPE_REGEX: {
      int c = strcmp(a->value.v_regex.regex, b->value.v_regex.regex);
      if (c != 0) {
         return sign(c);
      }
      return sign(strcmp(a->value.v_regex.options, b->value.v_regex.options));
   }
   case BSON_TYPE_DBPOINTER: {
      /* value size first (namespace length), then namespace, then id bytes */
      uint32_t la = a->value.v_dbpointer.collection_len;
      uint32_t lb = b->value.v_dbpointer.collection_len;
      if (la != lb) {
         return la < lb ? -1 : 1;
      }
      int c = memcmp(a->value.v_dbpointer.collection, b->value.v_dbpointer.collection, la);
      if (c != 0) {
         return sign(c);
      }
      return sign(memcmp(a->value.v_dbpointer.oid.bytes, b->value.v_dbpointer.oid.bytes, 12));
   }
   case BSON_TYPE_CODE:
      return compare_bytes(a->value.v_code.code, a->value.v_code.code_len, b->value.v_code.code,
                           b->value.v_code.code_len);
   case BSON_TYPE_CODEWSCOPE: {
      int c = compare_bytes(a->value.v_codewscope.code, a->value.v_codewscope.code_len, b->value.v_codewscope.code,
                            b->value.v_codewscope.code_len);
      if (c != 0) {
         return c;
      }
      return duet_doc_compare_raw(a->value.v_codewscope.scope_data, a->value.v_codewscope.scope_len,
                                  b->value.v_codewscope.scope_data, b->value.v_codewscope.scope_len);
   }
   default:
      return 0;
   }
}

int duet_iter_compare(bson_iter_t *a, bson_iter_t *b)
{
   const bson_value_t *va = bson_iter_value(a);
   const bson_value_t *vb = bson_iter_value(b);
   return duet_value_compare(va, vb);
}

int duet_doc_compare(const bson_t *a, const bson_t *b)
{
   return duet_doc_compare_raw(bson_get_data(a), a->len, bson_get_data(b), b->len);
}
