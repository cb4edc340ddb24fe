/*
 * pipeline_group.c — $group: specification parsing, grouping by value equality (1, 1.0 and
 * NumberLong(1) are one group, as in MongoDB) through a hash table, and the accumulators
 * $sum $avg $min $max $first $last $push $addToSet $count.  Groups are emitted in the order
 * they were first seen.  Memory is bounded by the pipeline's limit (292 without allowDiskUse).
 * With allowDiskUse, past the limit the partial groups (key and accumulator states as BSON)
 * are written to a spill database (pipeline_spill.c) keyed by the group key's duet_key
 * encoding — equal keys (1, 1.0, NumberLong(1)) encode alike — and the table starts afresh;
 * at the end the spilled partials are read back in key order and merged group by group, the
 * way MongoDB's spilling $group does (so a spilled $group emits its groups in key order).
 */
#include "mql/pipeline_internal.h"

#include <duet/doc.h>
#include <duet/doc_key.h>

#include <math.h>
#include <string.h>

typedef enum {
   ACC_SUM,
   ACC_AVG,
   ACC_MIN,
   ACC_MAX,
   ACC_FIRST,
   ACC_LAST,
   ACC_PUSH,
   ACC_ADD_TO_SET,
   ACC_COUNT,
} accumulator_kind_t;

typedef struct accumulator_spec {
   char *field; /* owned; output field */
   accumulator_kind_t kind;
   duet_expr_t *expr; /* owned; NULL for $count */
} accumulator_spec_t;

struct group_spec {
   duet_expr_t *id; /* owned */
   accumulator_spec_t *accumulators;
   size_t count;
};

static const struct {
   const char *name;
   accumulator_kind_t kind;
} accumulator_names[] = {
    {"$sum", ACC_SUM},     {"$avg", ACC_AVG},   {"$min", ACC_MIN},   {"$max", ACC_MAX},
    {"$first", ACC_FIRST}, {"$last", ACC_LAST}, {"$push", ACC_PUSH}, {"$addToSet", ACC_ADD_TO_SET},
    {"$count", ACC_COUNT},
};

void group_spec_destroy(group_spec_t *spec)
{
   if (!spec) {
      return;
   }
   duet_expr_destroy(spec->id);
   for (size_t i = 0; i < spec->count; i++) {
      bson_free(spec->accumulators[i].field);
      duet_expr_destroy(spec->accumulators[i].expr);
   }
   bson_free(spec->accumulators);
   bson_free(spec);
}

bool group_spec_parse(const bson_t *spec, const duet_expr_scope_t *scope, group_spec_t **out, duet_error_t *error)
{
   group_spec_t *group = bson_malloc0(sizeof *group);
   group->accumulators = bson_malloc0((bson_count_keys(spec) + 1) * sizeof *group->accumulators);
   bson_iter_t iter;
   bool have_id = false;
   bson_iter_init(&iter, spec);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "_id") == 0) {
         if (have_id) {
            duet_error_set(error, 16409, "duplicate field name specified in object literal: _id");
            goto fail;
         }
         have_id = true;
         if (!duet_expr_parse_iter(&iter, scope, &group->id, error)) {
            goto fail;
         }
         continue;
      }
      if (key[0] == '$') {
         duet_error_set(error, 40236, "The field name '%s' cannot be an operator name", key);
         goto fail;
      }
      if (strchr(key, '.')) {
         duet_error_set(error, 40235, "The field name '%s' cannot contain '.'", key);
         goto fail;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         duet_error_set(error, 40234, "The field '%s' must be an accumulator object", key);
         goto fail;
      }
      bson_iter_t acc;
      bson_iter_recurse(&iter, &acc);
      if (!bson_iter_next(&acc)) {
         duet_error_set(error, 40238, "The field '%s' must specify one accumulator", key);
         goto fail;
      }
      bson_iter_t extra = acc;
      if (bson_iter_next(&extra)) {
         duet_error_set(error, 40238, "The field '%s' must specify one accumulator", key);
         goto fail;
      }
      const char *op = bson_iter_key(&acc);
      int kind = -1;
      for (size_t i = 0; i < sizeof accumulator_names / sizeof accumulator_names[0]; i++) {
         if (strcmp(accumulator_names[i].name, op) == 0) {
            kind = (int)accumulator_names[i].kind;
         }
      }
      if (kind < 0) {
         duet_error_set(error, 15952, "unknown group operator '%s'", op);
         goto fail;
      }
      accumulator_spec_t *a = &group->accumulators[group->count];
      a->field = bson_strdup(key);
      a->kind = (accumulator_kind_t)kind;
      group->count++;
      for (size_t i = 0; i + 1 < group->count; i++) {
         if (strcmp(group->accumulators[i].field, key) == 0) {
            duet_error_set(error, 16406, "duplicate field name specified in object literal: %s", key);
            goto fail;
         }
      }
      if (a->kind == ACC_COUNT) {
         bson_t args;
         uint32_t length;
         const uint8_t *data;
         if (!BSON_ITER_HOLDS_DOCUMENT(&acc)) {
            duet_error_set(error, 40156, "$count takes no arguments, i.e. $count:{}");
            goto fail;
         }
         bson_iter_document(&acc, &length, &data);
         bson_init_static(&args, data, length);
         if (!bson_empty(&args)) {
            duet_error_set(error, 40156, "$count takes no arguments, i.e. $count:{}");
            goto fail;
         }
         continue;
      }
      if (!duet_expr_parse_iter(&acc, scope, &a->expr, error)) {
         goto fail;
      }
   }
   if (!have_id) {
      duet_error_set(error, 15955, "a group specification must include an _id");
      goto fail;
   }
   *out = group;
   return true;
fail:
   group_spec_destroy(group);
   return false;
}

/* ---- running state ------------------------------------------------------------------------------ */

typedef struct accumulator_state {
   bool set;           /* min/max/first/last hold a value; sum/avg saw a number */
   bson_value_t value; /* owned; min/max/first/last */
   bson_type_t widest; /* sum/avg */
   int64_t long_total;
   double double_total;
   bson_decimal128_t decimal_total;
   int64_t count; /* avg: numbers seen; push/addToSet: elements */
   bson_t *array; /* push/addToSet: owned */
} accumulator_state_t;

typedef struct group_entry {
   bson_value_t key; /* owned */
   uint64_t hash;
   accumulator_state_t *states;
} group_entry_t;

struct group_state {
   const group_spec_t *spec;
   group_entry_t *entries;
   size_t count;
   size_t capacity;
   size_t *table; /* open addressing: entry index + 1, 0 empty */
   size_t table_size;
   size_t memory;
   size_t memory_limit;
   bool allow_disk_use;
   spill_t *spill;         /* owned once groups were spilled */
   int64_t spill_count;    /* spills written; the sequence of each spilled row */
   duet_key_t key;         /* scratch: a group key's encoding */
   bool reading;           /* spilled groups are being read back */
   group_entry_t pending;  /* owned: the row read ahead while reading back */
   duet_key_t pending_key; /* its key encoding */
   bool has_pending;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
   h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
   return h;
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t length)
{
   const unsigned char *p = data;
   for (size_t i = 0; i < length; i++) {
      h = (h ^ p[i]) * 0x100000001b3ULL;
   }
   return h;
}

/* A hash consistent with duet_value_compare() == 0. */
static uint64_t hash_value(const bson_value_t *value)
{
   uint64_t h = (uint64_t)duet_doc_canonical_type(value->value_type) * 31 + 7;
   switch (value->value_type) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128: {
      double d = value->value_type == BSON_TYPE_INT32    ? value->value.v_int32
                 : value->value_type == BSON_TYPE_INT64  ? (double)value->value.v_int64
                 : value->value_type == BSON_TYPE_DOUBLE ? value->value.v_double
                                                         : duet_decimal_to_double(value->value.v_decimal128);
      if (isnan(d)) {
         return mix(h, 1);
      }
      if (d == 0) {
         d = 0; /* -0 == 0 */
      }
      /* values that differ only beyond double precision collide, which is harmless */
      return hash_bytes(h, &d, sizeof d);
   }
   case BSON_TYPE_UTF8: return hash_bytes(h, value->value.v_utf8.str, value->value.v_utf8.len);
   case BSON_TYPE_SYMBOL: return hash_bytes(h, value->value.v_symbol.symbol, value->value.v_symbol.len);
   case BSON_TYPE_OID: return hash_bytes(h, value->value.v_oid.bytes, 12);
   case BSON_TYPE_BOOL: return mix(h, value->value.v_bool);
   case BSON_TYPE_DATE_TIME: return mix(h, (uint64_t)value->value.v_datetime);
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: {
      bson_t view;
      bson_iter_t iter;
      bson_init_static(&view, value->value.v_doc.data, value->value.v_doc.data_len);
      if (bson_iter_init(&iter, &view)) {
         while (bson_iter_next(&iter)) {
            if (value->value_type == BSON_TYPE_DOCUMENT) {
               h = hash_bytes(h, bson_iter_key(&iter), bson_iter_key_len(&iter));
            }
            h = mix(h, hash_value(bson_iter_value(&iter)));
         }
      }
      return h;
   }
   default: return h; /* equal by comparison within the class is rare; compare resolves it */
   }
}

group_state_t *group_state_new(const group_spec_t *spec, size_t memory_limit, bool allow_disk_use)
{
   group_state_t *state = bson_malloc0(sizeof *state);
   state->spec = spec;
   state->memory_limit = memory_limit;
   state->allow_disk_use = allow_disk_use;
   state->table_size = 64;
   state->table = bson_malloc0(state->table_size * sizeof *state->table);
   duet_key_init(&state->key);
   duet_key_init(&state->pending_key);
   return state;
}

static void rehash(group_state_t *state)
{
   bson_free(state->table);
   state->table_size *= 2;
   state->table = bson_malloc0(state->table_size * sizeof *state->table);
   for (size_t i = 0; i < state->count; i++) {
      size_t slot = state->entries[i].hash & (state->table_size - 1);
      while (state->table[slot]) {
         slot = (slot + 1) & (state->table_size - 1);
      }
      state->table[slot] = i + 1;
   }
}

/* Finds or creates the group for `key` (borrowed; copied when created). */
static group_entry_t *find_group(group_state_t *state, const bson_value_t *key)
{
   uint64_t hash = hash_value(key);
   size_t slot = hash & (state->table_size - 1);
   while (state->table[slot]) {
      group_entry_t *entry = &state->entries[state->table[slot] - 1];
      if (entry->hash == hash && duet_value_compare(&entry->key, key) == 0) {
         return entry;
      }
      slot = (slot + 1) & (state->table_size - 1);
   }
   if (state->count == state->capacity) {
      state->capacity = state->capacity ? state->capacity * 2 : 16;
      state->entries = bson_realloc(state->entries, state->capacity * sizeof *state->entries);
   }
   group_entry_t *entry = &state->entries[state->count];
   bson_value_copy(key, &entry->key);
   entry->hash = hash;
   entry->states = bson_malloc0((state->spec->count ? state->spec->count : 1) * sizeof *entry->states);
   for (size_t i = 0; i < state->spec->count; i++) {
      entry->states[i].widest = BSON_TYPE_INT32;
   }
   state->table[slot] = ++state->count;
   state->memory +=
       sizeof *entry + 64 + (key->value_type == BSON_TYPE_UTF8 ? key->value.v_utf8.len : 0) +
       ((key->value_type == BSON_TYPE_DOCUMENT || key->value_type == BSON_TYPE_ARRAY) ? key->value.v_doc.data_len : 0);
   if (state->count * 2 > state->table_size) {
      rehash(state);
   }
   return &state->entries[state->count - 1];
}

static void sum_add(accumulator_state_t *s, const bson_value_t *value)
{
   bson_type_t old = s->widest;
   int rank_old = old == BSON_TYPE_INT32 ? 0 : old == BSON_TYPE_INT64 ? 1 : old == BSON_TYPE_DOUBLE ? 2 : 3;
   int rank_new = value->value_type == BSON_TYPE_INT32    ? 0
                  : value->value_type == BSON_TYPE_INT64  ? 1
                  : value->value_type == BSON_TYPE_DOUBLE ? 2
                                                          : 3;
   if (rank_new > rank_old) {
      s->widest = value->value_type;
      if (s->widest == BSON_TYPE_DOUBLE) {
         s->double_total = (double)s->long_total;
      } else if (s->widest == BSON_TYPE_DECIMAL128) {
         s->decimal_total = old == BSON_TYPE_DOUBLE ? duet_decimal_from_double(s->double_total)
                                                    : duet_decimal_from_int64(s->long_total);
      }
   }
   switch (s->widest) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64: {
      int64_t v = value->value_type == BSON_TYPE_INT32 ? value->value.v_int32 : value->value.v_int64;
      int64_t sum;
      if (__builtin_add_overflow(s->long_total, v, &sum)) {
         s->widest = BSON_TYPE_DOUBLE;
         s->double_total = (double)s->long_total + (double)v;
      } else {
         s->long_total = sum;
      }
      break;
   }
   case BSON_TYPE_DOUBLE:
      s->double_total += value->value_type == BSON_TYPE_INT32   ? value->value.v_int32
                         : value->value_type == BSON_TYPE_INT64 ? (double)value->value.v_int64
                                                                : value->value.v_double;
      break;
   default: s->decimal_total = duet_decimal_add(s->decimal_total, duet_decimal_from_value(value)); break;
   }
   s->set = true;
}

static bool accumulate(group_state_t *state, const accumulator_spec_t *spec, accumulator_state_t *s,
                       const bson_value_t *value)
{
   bool nullish = value->value_type == BSON_TYPE_EOD || value->value_type == BSON_TYPE_NULL ||
                  value->value_type == BSON_TYPE_UNDEFINED;
   switch (spec->kind) {
   case ACC_SUM:
   case ACC_AVG:
      if (duet_type_is_number(value->value_type)) {
         sum_add(s, value);
         s->count++;
      }
      break;
   case ACC_COUNT: {
      bson_value_t one = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
      sum_add(s, &one);
      break;
   }
   case ACC_MIN:
   case ACC_MAX:
      if (!nullish) {
         int c = s->set ? duet_value_compare(value, &s->value) : 0;
         if (!s->set || (spec->kind == ACC_MIN ? c < 0 : c > 0)) {
            if (s->set) {
               bson_value_destroy(&s->value);
            }
            bson_value_copy(value, &s->value);
            s->set = true;
         }
      }
      break;
   case ACC_FIRST:
      if (!s->set) {
         if (value->value_type == BSON_TYPE_EOD) {
            s->value.value_type = BSON_TYPE_NULL;
         } else {
            bson_value_copy(value, &s->value);
         }
         s->set = true;
      }
      break;
   case ACC_LAST:
      if (s->set) {
         bson_value_destroy(&s->value);
      }
      if (value->value_type == BSON_TYPE_EOD) {
         s->value.value_type = BSON_TYPE_NULL;
      } else {
         bson_value_copy(value, &s->value);
      }
      s->set = true;
      break;
   case ACC_PUSH:
   case ACC_ADD_TO_SET: {
      if (value->value_type == BSON_TYPE_EOD) {
         break;
      }
      if (!s->array) {
         s->array = bson_new();
      }
      if (spec->kind == ACC_ADD_TO_SET) {
         bson_iter_t iter;
         bson_iter_init(&iter, s->array);
         while (bson_iter_next(&iter)) {
            if (duet_value_compare(bson_iter_value(&iter), value) == 0) {
               return true;
            }
         }
      }
      size_t before = s->array->len;
      char key_buffer[16];
      const char *key;
      size_t key_length = bson_uint32_to_string((uint32_t)s->count++, &key, key_buffer, sizeof key_buffer);
      bson_append_value(s->array, key, (int)key_length, value);
      state->memory += s->array->len - before;
      break;
   }
   }
   return true;
}

/* ---- spilling ------------------------------------------------------------------------------------ */

static void free_states(const group_spec_t *spec, accumulator_state_t *states);

/* One accumulator's partial state as BSON (decode_state reads it back). */
static void encode_state(const accumulator_spec_t *spec, const accumulator_state_t *s, bson_t *out)
{
   BSON_APPEND_BOOL(out, "t", s->set);
   BSON_APPEND_INT64(out, "n", s->count);
   switch (spec->kind) {
   case ACC_SUM:
   case ACC_AVG:
   case ACC_COUNT:
      BSON_APPEND_INT32(out, "w", (int32_t)s->widest);
      BSON_APPEND_INT64(out, "l", s->long_total);
      BSON_APPEND_DOUBLE(out, "d", s->double_total);
      BSON_APPEND_DECIMAL128(out, "x", &s->decimal_total);
      break;
   case ACC_MIN:
   case ACC_MAX:
   case ACC_FIRST:
   case ACC_LAST:
      if (s->set && s->value.value_type != BSON_TYPE_EOD) {
         BSON_APPEND_VALUE(out, "v", &s->value);
      }
      break;
   case ACC_PUSH:
   case ACC_ADD_TO_SET:
      if (s->array) {
         BSON_APPEND_ARRAY(out, "a", s->array);
      }
      break;
   }
}

static void decode_state(const bson_t *doc, accumulator_state_t *s)
{
   bson_iter_t iter;
   memset(s, 0, sizeof *s);
   s->widest = BSON_TYPE_INT32;
   bson_iter_init(&iter, doc);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      switch (key[0]) {
      case 't': s->set = bson_iter_as_bool(&iter); break;
      case 'n': s->count = bson_iter_as_int64(&iter); break;
      case 'w': s->widest = (bson_type_t)bson_iter_int32(&iter); break;
      case 'l': s->long_total = bson_iter_int64(&iter); break;
      case 'd': s->double_total = bson_iter_double(&iter); break;
      case 'x': bson_iter_decimal128(&iter, &s->decimal_total); break;
      case 'v': bson_value_copy(bson_iter_value(&iter), &s->value); break;
      case 'a': {
         uint32_t length;
         const uint8_t *data;
         bson_iter_array(&iter, &length, &data);
         s->array = bson_new_from_data(data, length);
         break;
      }
      default: break;
      }
   }
}

static int sum_rank(bson_type_t type)
{
   return type == BSON_TYPE_INT32 ? 0 : type == BSON_TYPE_INT64 ? 1 : type == BSON_TYPE_DOUBLE ? 2 : 3;
}

/* Adds the partial sum `from` into `into`, widening as sum_add() does. */
static void sum_merge(accumulator_state_t *into, const accumulator_state_t *from)
{
   into->count += from->count;
   if (!from->set) {
      return;
   }
   if (sum_rank(from->widest) > sum_rank(into->widest)) {
      bson_type_t old = into->widest;
      into->widest = from->widest;
      if (into->widest == BSON_TYPE_DOUBLE) {
         into->double_total = (double)into->long_total;
      } else if (into->widest == BSON_TYPE_DECIMAL128) {
         into->decimal_total = old == BSON_TYPE_DOUBLE ? duet_decimal_from_double(into->double_total)
                                                       : duet_decimal_from_int64(into->long_total);
      }
   }
   switch (into->widest) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64: {
      int64_t sum;
      if (__builtin_add_overflow(into->long_total, from->long_total, &sum)) {
         into->widest = BSON_TYPE_DOUBLE;
         into->double_total = (double)into->long_total + (double)from->long_total;
      } else {
         into->long_total = sum;
      }
      break;
   }
   case BSON_TYPE_DOUBLE:
      into->double_total += from->widest == BSON_TYPE_DOUBLE ? from->double_total : (double)from->long_total;
      break;
   default:
      into->decimal_total = duet_decimal_add(
          into->decimal_total, from->widest == BSON_TYPE_DECIMAL128 ? from->decimal_total
                               : from->widest == BSON_TYPE_DOUBLE   ? duet_decimal_from_double(from->double_total)
                                                                    : duet_decimal_from_int64(from->long_total));
      break;
   }
   into->set = true;
}

/* Moves from's value into `into` (releasing into's). */
static void take_value(accumulator_state_t *into, accumulator_state_t *from)
{
   if (into->set) {
      bson_value_destroy(&into->value);
   }
   into->value = from->value;
   into->set = true;
   from->value.value_type = BSON_TYPE_EOD;
   from->set = false;
}

/* Merges the partial state of a later spill (`from`) into the earlier one (`into`). */
static void merge_state(const accumulator_spec_t *spec, accumulator_state_t *into, accumulator_state_t *from)
{
   switch (spec->kind) {
   case ACC_SUM:
   case ACC_AVG:
   case ACC_COUNT: sum_merge(into, from); break;
   case ACC_MIN:
   case ACC_MAX:
      if (from->set) {
         int c = into->set ? duet_value_compare(&from->value, &into->value) : 0;
         if (!into->set || (spec->kind == ACC_MIN ? c < 0 : c > 0)) {
            take_value(into, from);
         }
      }
      break;
   case ACC_FIRST:
      if (!into->set && from->set) {
         take_value(into, from);
      }
      break;
   case ACC_LAST:
      if (from->set) {
         take_value(into, from);
      }
      break;
   case ACC_PUSH:
   case ACC_ADD_TO_SET: {
      if (!from->array) {
         break;
      }
      if (!into->array) {
         into->array = bson_new();
      }
      bson_iter_t element;
      bson_iter_init(&element, from->array);
      while (bson_iter_next(&element)) {
         const bson_value_t *value = bson_iter_value(&element);
         bool present = false;
         if (spec->kind == ACC_ADD_TO_SET) {
            bson_iter_t existing;
            bson_iter_init(&existing, into->array);
            while (!present && bson_iter_next(&existing)) {
               present = duet_value_compare(bson_iter_value(&existing), value) == 0;
            }
         }
         if (!present) {
            char key_buffer[16];
            const char *key;
            size_t key_length = bson_uint32_to_string((uint32_t)into->count++, &key, key_buffer, sizeof key_buffer);
            bson_append_value(into->array, key, (int)key_length, value);
         }
      }
      break;
   }
   }
}

/* Writes every group in memory to the spill database and empties the table. */
static bool spill_groups(group_state_t *state, duet_error_t *error)
{
   if (!state->spill && !spill_open(&state->spill, error)) {
      return false;
   }
   bool ok = true;
   for (size_t i = 0; i < state->count; i++) {
      group_entry_t *entry = &state->entries[i];
      if (ok) {
         bson_t row = BSON_INITIALIZER, states;
         BSON_APPEND_VALUE(&row, "k", &entry->key);
         bson_append_array_begin(&row, "s", 1, &states);
         for (size_t k = 0; k < state->spec->count; k++) {
            char key_buffer[16];
            const char *key;
            size_t key_length = bson_uint32_to_string((uint32_t)k, &key, key_buffer, sizeof key_buffer);
            bson_t encoded;
            bson_append_document_begin(&states, key, (int)key_length, &encoded);
            encode_state(&state->spec->accumulators[k], &entry->states[k], &encoded);
            bson_append_document_end(&states, &encoded);
         }
         bson_append_array_end(&row, &states);
         duet_key_reset(&state->key);
         duet_key_append_value(&state->key, &entry->key, false);
         ok = spill_write(state->spill, state->key.data, state->key.len, state->spill_count, &row, error);
         bson_destroy(&row);
      }
      bson_value_destroy(&entry->key);
      free_states(state->spec, entry->states);
   }
   state->count = 0;
   state->memory = 0;
   state->spill_count++;
   memset(state->table, 0, state->table_size * sizeof *state->table);
   return ok;
}

/* Reads the next spilled row into state->pending (has_pending false at the end). */
static bool read_pending(group_state_t *state, duet_error_t *error)
{
   const uint8_t *key;
   size_t key_length;
   const bson_t *row;
   state->has_pending = false;
   if (!spill_read(state->spill, &key, &key_length, &row, error)) {
      return false;
   }
   if (!row) {
      return true;
   }
   duet_key_reset(&state->pending_key);
   duet_key_append_bytes(&state->pending_key, key, key_length);
   group_entry_t *entry = &state->pending;
   memset(entry, 0, sizeof *entry);
   entry->states = bson_malloc0((state->spec->count ? state->spec->count : 1) * sizeof *entry->states);
   for (size_t k = 0; k < state->spec->count; k++) {
      entry->states[k].widest = BSON_TYPE_INT32;
   }
   bson_iter_t iter, states;
   entry->key.value_type = BSON_TYPE_NULL;
   if (bson_iter_init_find(&iter, row, "k")) {
      bson_value_copy(bson_iter_value(&iter), &entry->key);
   }
   if (bson_iter_init_find(&iter, row, "s") && bson_iter_recurse(&iter, &states)) {
      for (size_t k = 0; k < state->spec->count && bson_iter_next(&states); k++) {
         uint32_t length;
         const uint8_t *data;
         bson_t encoded;
         bson_iter_document(&states, &length, &data);
         bson_init_static(&encoded, data, length);
         decode_state(&encoded, &entry->states[k]);
      }
   }
   state->has_pending = true;
   return true;
}

bool group_state_used_disk(const group_state_t *state)
{
   return state->spill != NULL;
}

bool group_state_add(group_state_t *state, const bson_t *doc, const duet_expr_env_t *env, duet_error_t *error)
{
   bson_value_t key;
   if (!duet_expr_evaluate(state->spec->id, doc, env, &key, error)) {
      return false;
   }
   if (key.value_type == BSON_TYPE_EOD) {
      key.value_type = BSON_TYPE_NULL;
   }
   group_entry_t *entry = find_group(state, &key);
   bson_value_destroy(&key);
   for (size_t i = 0; i < state->spec->count; i++) {
      const accumulator_spec_t *spec = &state->spec->accumulators[i];
      bson_value_t value = {.value_type = BSON_TYPE_EOD};
      if (spec->expr && !duet_expr_evaluate(spec->expr, doc, env, &value, error)) {
         return false;
      }
      accumulate(state, spec, &entry->states[i], &value);
      bson_value_destroy(&value);
   }
   if (state->memory > state->memory_limit) {
      if (!state->allow_disk_use) {
         duet_error_set(error, DUET_ERR_EXCEEDED_MEMORY_LIMIT,
                        "Exceeded memory limit for $group, but didn't allow external sort. Pass allowDiskUse:true to "
                        "opt in.");
         return false;
      }
      return spill_groups(state, error);
   }
   return true;
}

static void append_result(const accumulator_spec_t *spec, accumulator_state_t *s, bson_t *out)
{
   bson_value_t result = {.value_type = BSON_TYPE_NULL};
   switch (spec->kind) {
   case ACC_SUM:
   case ACC_COUNT:
      switch (s->widest) {
      case BSON_TYPE_INT32:
         if (s->long_total >= INT32_MIN && s->long_total <= INT32_MAX) {
            result.value_type = BSON_TYPE_INT32;
            result.value.v_int32 = (int32_t)s->long_total;
         } else {
            result.value_type = BSON_TYPE_INT64;
            result.value.v_int64 = s->long_total;
         }
         break;
      case BSON_TYPE_INT64:
         result.value_type = BSON_TYPE_INT64;
         result.value.v_int64 = s->long_total;
         break;
      case BSON_TYPE_DOUBLE:
         result.value_type = BSON_TYPE_DOUBLE;
         result.value.v_double = s->double_total;
         break;
      default:
         result.value_type = BSON_TYPE_DECIMAL128;
         result.value.v_decimal128 = s->decimal_total;
         break;
      }
      break;
   case ACC_AVG:
      if (s->count > 0) {
         if (s->widest == BSON_TYPE_DECIMAL128) {
            result.value_type = BSON_TYPE_DECIMAL128;
            result.value.v_decimal128 = duet_decimal_divide(s->decimal_total, duet_decimal_from_int64(s->count));
         } else {
            double total = s->widest == BSON_TYPE_DOUBLE ? s->double_total : (double)s->long_total;
            result.value_type = BSON_TYPE_DOUBLE;
            result.value.v_double = total / (double)s->count;
         }
      }
      break;
   case ACC_MIN:
   case ACC_MAX:
   case ACC_FIRST:
   case ACC_LAST:
      if (s->set) {
         result = s->value;
      }
      break;
   case ACC_PUSH:
   case ACC_ADD_TO_SET:
      if (s->array) {
         bson_append_array(out, spec->field, -1, s->array);
      } else {
         bson_t empty = BSON_INITIALIZER;
         bson_append_array(out, spec->field, -1, &empty);
      }
      return;
   }
   bson_append_value(out, spec->field, -1, &result);
}

static void free_states(const group_spec_t *spec, accumulator_state_t *states)
{
   for (size_t i = 0; i < spec->count; i++) {
      if (states[i].set && states[i].value.value_type != BSON_TYPE_EOD &&
          (spec->accumulators[i].kind == ACC_MIN || spec->accumulators[i].kind == ACC_MAX ||
           spec->accumulators[i].kind == ACC_FIRST || spec->accumulators[i].kind == ACC_LAST)) {
         bson_value_destroy(&states[i].value);
      }
      if (states[i].array) {
         bson_destroy(states[i].array);
      }
   }
   bson_free(states);
}

void group_state_finish(group_state_t *state, bson_t ***docs, size_t *count)
{
   *count = state->count;
   *docs = bson_malloc0((state->count ? state->count : 1) * sizeof **docs);
   for (size_t i = 0; i < state->count; i++) {
      group_entry_t *entry = &state->entries[i];
      bson_t *doc = bson_new();
      bson_append_value(doc, "_id", 3, &entry->key);
      for (size_t k = 0; k < state->spec->count; k++) {
         append_result(&state->spec->accumulators[k], &entry->states[k], doc);
      }
      (*docs)[i] = doc;
   }
}

bool group_state_next_spilled(group_state_t *state, bson_t *out, bool *found, duet_error_t *error)
{
   *found = false;
   if (!state->reading) {
      /* the groups still in memory become the last spill */
      if (!spill_groups(state, error)) {
         return false;
      }
      state->reading = true;
      if (!read_pending(state, error)) {
         return false;
      }
   }
   if (!state->has_pending) {
      return true;
   }
   group_entry_t current = state->pending;
   duet_key_t current_key = state->pending_key;
   duet_key_init(&state->pending_key);
   memset(&state->pending, 0, sizeof state->pending);
   bool ok;
   while ((ok = read_pending(state, error)) && state->has_pending && state->pending_key.len == current_key.len &&
          memcmp(state->pending_key.data, current_key.data, current_key.len) == 0) {
      for (size_t k = 0; k < state->spec->count; k++) {
         merge_state(&state->spec->accumulators[k], &current.states[k], &state->pending.states[k]);
      }
      bson_value_destroy(&state->pending.key);
      free_states(state->spec, state->pending.states);
      memset(&state->pending, 0, sizeof state->pending);
      state->has_pending = false;
   }
   if (ok) {
      bson_append_value(out, "_id", 3, &current.key);
      for (size_t k = 0; k < state->spec->count; k++) {
         append_result(&state->spec->accumulators[k], &current.states[k], out);
      }
      *found = true;
   }
   bson_value_destroy(&current.key);
   free_states(state->spec, current.states);
   duet_key_destroy(&current_key);
   return ok;
}

void group_state_destroy(group_state_t *state)
{
   if (!state) {
      return;
   }
   if (state->has_pending) {
      bson_value_destroy(&state->pending.key);
      free_states(state->spec, state->pending.states);
   }
   spill_close(state->spill);
   duet_key_destroy(&state->key);
   duet_key_destroy(&state->pending_key);
   for (size_t i = 0; i < state->count; i++) {
      bson_value_destroy(&state->entries[i].key);
      free_states(state->spec, state->entries[i].states);
   }
   bson_free(state->entries);
   bson_free(state->table);
   bson_free(state);
}
