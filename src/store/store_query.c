/*
 * store_query.c — the read side of the operations layer: find (filter, index
 * choice, sort/skip/limit through a pipeline, projection), count and distinct.
 * See duet/store_ops.h.
 */
#include "store/store_internal.h"

#include <duet/doc.h>
#include <duet/mql_match.h>
#include <duet/mql_pipeline.h>
#include <duet/mql_projection.h>
#include <duet/store_ops.h>

#include <string.h>

/* A set of encoded _id keys (open addressing), to return a document once when a
 * multikey index lists it several times. */
typedef struct id_set {
   duet_key_t *slots;
   size_t capacity;
   size_t count;
} id_set_t;

static uint64_t hash_bytes(const uint8_t *data, size_t len)
{
   uint64_t h = 1469598103934665603ULL;
   for (size_t i = 0; i < len; i++) {
      h = (h ^ data[i]) * 1099511628211ULL;
   }
   return h;
}

/* Adds the key; false when it was already there. */
static bool id_set_add(id_set_t *set, const duet_key_t *key)
{
   if ((set->count + 1) * 2 > set->capacity) {
      size_t old_capacity = set->capacity;
      duet_key_t *old = set->slots;
      set->capacity = old_capacity ? old_capacity * 2 : 64;
      set->slots = bson_malloc0(set->capacity * sizeof *set->slots);
      for (size_t i = 0; i < old_capacity; i++) {
         if (old[i].len) {
            size_t slot = hash_bytes(old[i].data, old[i].len) & (set->capacity - 1);
            while (set->slots[slot].len) {
               slot = (slot + 1) & (set->capacity - 1);
            }
            set->slots[slot] = old[i];
         }
      }
      bson_free(old);
   }
   size_t slot = hash_bytes(key->data, key->len) & (set->capacity - 1);
   while (set->slots[slot].len) {
      if (set->slots[slot].len == key->len && memcmp(set->slots[slot].data, key->data, key->len) == 0) {
         return false;
      }
      slot = (slot + 1) & (set->capacity - 1);
   }
   duet_key_init(&set->slots[slot]);
   duet_key_append_bytes(&set->slots[slot], key->data, key->len);
   set->count++;
   return true;
}

static void id_set_destroy(id_set_t *set)
{
   for (size_t i = 0; i < set->capacity; i++) {
      duet_key_destroy(&set->slots[i]);
   }
   bson_free(set->slots);
}

struct duet_store_find {
   duet_session_t *session;                 /* borrowed */
   duet_match_t *match;                     /* owned; NULL: matches everything */
   duet_projection_t *projection;           /* owned or NULL */
   duet_pipeline_t *pipeline;               /* owned: sort/skip/limit, or NULL */
   duet_pipeline_cursor_t *pipeline_cursor; /* owned or NULL */
   duet_store_cursor_t *cursor;             /* owned scan, or NULL for a point read */
   bson_t *point;                           /* owned: the point-read document, or NULL */
   bool point_done;
   bool dedupe; /* scanning a secondary index */
   id_set_t seen;
   int64_t remaining; /* limit left when no pipeline does it; -1: none */
   int64_t to_skip;   /* skip left when no pipeline does it */
   bson_t *projected; /* owned scratch: the last projected result */
};

/* Candidates that pass the filter, from the scan or the point read. */
static bool next_match(duet_store_find_t *find, const bson_t **doc, duet_error_t *error)
{
   for (;;) {
      const bson_t *candidate = NULL;
      if (find->point) {
         candidate = find->point_done ? NULL : find->point;
         find->point_done = true;
      } else if (find->cursor) {
         if (!duet_store_cursor_next(find->cursor, &candidate, error)) {
            return false;
         }
      }
      if (!candidate) {
         *doc = NULL;
         return true;
      }
      if (find->dedupe) {
         bson_iter_t id;
         if (bson_iter_init_find(&id, candidate, "_id")) {
            duet_key_set_value(&find->session->key, bson_iter_value(&id));
            if (!id_set_add(&find->seen, &find->session->key)) {
               continue;
            }
         }
      }
      bool matched = true;
      if (find->match && !duet_match_matches(find->match, candidate, &matched, NULL, error)) {
         return false;
      }
      if (matched) {
         *doc = candidate;
         return true;
      }
   }
}

static bool pipeline_source(void *context, const bson_t **doc, duet_error_t *error)
{
   return next_match(context, doc, error);
}

/* Picks the access path: point read, _id range, secondary index or full scan. */
static bool open_access_path(duet_store_find_t *find, const char *db, const char *coll_name, duet_error_t *error)
{
   duet_session_t *session = find->session;
   const bson_value_t *id_value = NULL;
   if (find->match && duet_match_id_equality(find->match, &id_value) && id_value) {
      bson_t doc;
      bool found = false;
      if (!duet_store_find_id(session, db, coll_name, id_value, &doc, &found, error)) {
         return false;
      }
      if (found) {
         find->point = bson_copy(&doc); /* no point and no cursor: no documents */
         bson_destroy(&doc);
      }
      return true;
   }
   duet_match_predicate_t predicates[8];
   duet_store_bound_t lower = {NULL, true}, upper = {NULL, true};
   if (find->match) {
      size_t n = duet_match_path_predicates(find->match, "_id", predicates, 8);
      for (size_t i = 0; i < n && i < 8; i++) {
         const bson_value_t *v = predicates[i].value;
         switch (predicates[i].op) {
         case DUET_MATCH_OP_GT: lower = (duet_store_bound_t){v, false}; break;
         case DUET_MATCH_OP_GTE: lower = (duet_store_bound_t){v, true}; break;
         case DUET_MATCH_OP_LT: upper = (duet_store_bound_t){v, false}; break;
         case DUET_MATCH_OP_LTE: upper = (duet_store_bound_t){v, true}; break;
         default: break;
         }
      }
      if (lower.value || upper.value) {
         return duet_store_scan(session, db, coll_name, &lower, &upper, false, &find->cursor, error);
      }
      duet_store_coll_t *coll = NULL;
      if (!duet_store_coll_lookup(session, db, coll_name, &coll, error)) {
         return false;
      }
      for (size_t i = 0; coll && i < coll->index_count; i++) {
         duet_store_index_t *index = &coll->indexes[i];
         if (index->sparse || index->has_partial) {
            continue; /* they do not list every document */
         }
         n = duet_match_path_predicates(find->match, index->fields[0], predicates, 8);
         lower = (duet_store_bound_t){NULL, true};
         upper = (duet_store_bound_t){NULL, true};
         for (size_t p = 0; p < n && p < 8; p++) {
            const bson_value_t *v = predicates[p].value;
            switch (predicates[p].op) {
            case DUET_MATCH_OP_EQ:
               if (v->value_type != BSON_TYPE_ARRAY) { /* an array also matches whole-array equality */
                  lower = (duet_store_bound_t){v, true};
                  upper = (duet_store_bound_t){v, true};
               }
               break;
            case DUET_MATCH_OP_GT: lower = (duet_store_bound_t){v, false}; break;
            case DUET_MATCH_OP_GTE: lower = (duet_store_bound_t){v, true}; break;
            case DUET_MATCH_OP_LT: upper = (duet_store_bound_t){v, false}; break;
            case DUET_MATCH_OP_LTE: upper = (duet_store_bound_t){v, true}; break;
            default: break;
            }
         }
         if (lower.value || upper.value) {
            find->dedupe = true;
            char *name = bson_strdup(index->name); /* the catalog entry may be reloaded by the scan */
            bool ok = duet_store_index_scan(session, db, coll_name, name, &lower, &upper, false, &find->cursor, error);
            bson_free(name);
            return ok;
         }
      }
   }
   return duet_store_scan(session, db, coll_name, NULL, NULL, false, &find->cursor, error);
}

/* [{$sort: sort}, {$skip: n}, {$limit: n}] as a pipeline, or none when not needed. */
static bool build_pipeline(duet_store_find_t *find, const duet_store_find_options_t *options, duet_error_t *error)
{
   int64_t limit = options->limit < 0 ? -options->limit : options->limit;
   find->remaining = limit ? limit : -1;
   find->to_skip = options->skip;
   if (!options->sort || bson_count_keys(options->sort) == 0) {
      return true; /* skip and limit are counted in duet_store_find_next */
   }
   bson_t stages = BSON_INITIALIZER, stage;
   BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &stage);
   BSON_APPEND_DOCUMENT(&stage, "$sort", options->sort);
   bson_append_document_end(&stages, &stage);
   const char *next_key = "1";
   if (options->skip > 0) {
      BSON_APPEND_DOCUMENT_BEGIN(&stages, next_key, &stage);
      BSON_APPEND_INT64(&stage, "$skip", options->skip);
      bson_append_document_end(&stages, &stage);
      next_key = "2";
   }
   if (limit > 0) {
      BSON_APPEND_DOCUMENT_BEGIN(&stages, next_key, &stage);
      BSON_APPEND_INT64(&stage, "$limit", limit);
      bson_append_document_end(&stages, &stage);
   }
   bool ok = duet_pipeline_parse(&stages, NULL, &find->pipeline, error);
   bson_destroy(&stages);
   if (!ok) {
      return false;
   }
   find->remaining = -1;
   find->to_skip = 0;
   find->pipeline_cursor = duet_pipeline_open(find->pipeline, pipeline_source, find, NULL);
   return true;
}

bool duet_store_find(duet_session_t *session, const char *db, const char *coll,
                     const duet_store_find_options_t *options, duet_store_find_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_store_find_options_t defaults = DUET_STORE_FIND_OPTIONS_INIT;
   if (!options) {
      options = &defaults;
   }
   if (options->skip < 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "skip value must be non-negative, but received: %lld",
                     (long long)options->skip);
      return false;
   }
   duet_store_find_t *find = bson_malloc0(sizeof *find);
   find->session = session;
   bool ok = true;
   if (options->filter && bson_count_keys(options->filter) > 0) {
      ok = duet_match_parse(options->filter, DUET_MATCH_FEATURES_DEFAULT, &find->match, error);
   }
   if (ok && options->projection && bson_count_keys(options->projection) > 0) {
      ok = duet_projection_parse(options->projection, options->filter, &find->projection, error);
   }
   ok = ok && build_pipeline(find, options, error) && open_access_path(find, db, coll, error);
   if (!ok) {
      duet_store_find_destroy(find);
      return false;
   }
   *out = find;
   return true;
}

bool duet_store_find_next(duet_store_find_t *find, const bson_t **doc, duet_error_t *error)
{
   *doc = NULL;
   const bson_t *result = NULL;
   if (find->pipeline_cursor) {
      if (!duet_pipeline_next(find->pipeline_cursor, &result, error)) {
         return false;
      }
   } else {
      for (;;) {
         if (find->remaining == 0) {
            return true;
         }
         if (!next_match(find, &result, error)) {
            return false;
         }
         if (result && find->to_skip > 0) {
            find->to_skip--;
            continue;
         }
         break;
      }
      if (result && find->remaining > 0) {
         find->remaining--;
      }
   }
   if (!result) {
      return true;
   }
   if (find->projection) {
      if (find->projected) {
         bson_destroy(find->projected);
      }
      find->projected = bson_new();
      bson_t out;
      bool ok = duet_projection_apply(find->projection, result, NULL, &out, error);
      if (ok) {
         bson_concat(find->projected, &out);
      }
      bson_destroy(&out);
      if (!ok) {
         return false;
      }
      result = find->projected;
   }
   *doc = result;
   return true;
}

void duet_store_find_destroy(duet_store_find_t *find)
{
   if (!find) {
      return;
   }
   if (find->pipeline_cursor) {
      duet_pipeline_close(find->pipeline_cursor);
   }
   duet_pipeline_destroy(find->pipeline);
   duet_store_cursor_destroy(find->cursor);
   duet_match_destroy(find->match);
   if (find->projection) {
      duet_projection_destroy(find->projection);
   }
   if (find->point) {
      bson_destroy(find->point);
   }
   if (find->projected) {
      bson_destroy(find->projected);
   }
   id_set_destroy(&find->seen);
   bson_free(find);
}

bool duet_store_count_matching(duet_session_t *session, const char *db, const char *coll, const bson_t *filter,
                               int64_t skip, int64_t limit, int64_t *count, duet_error_t *error)
{
   *count = 0;
   if (!filter || bson_count_keys(filter) == 0) {
      int64_t total;
      if (!duet_store_count(session, db, coll, &total, error)) {
         return false;
      }
      total = total > skip ? total - skip : 0;
      *count = limit > 0 && total > limit ? limit : total;
      return true;
   }
   duet_store_find_options_t options = {filter, NULL, NULL, skip, limit};
   duet_store_find_t *find;
   if (!duet_store_find(session, db, coll, &options, &find, error)) {
      return false;
   }
   const bson_t *doc;
   bool ok;
   while ((ok = duet_store_find_next(find, &doc, error)) && doc) {
      (*count)++;
   }
   duet_store_find_destroy(find);
   return ok;
}

static int compare_values(const void *a, const void *b)
{
   return duet_value_compare(a, b);
}

/* Appends `value` to values unless an equal one is there (MongoDB's comparison). */
static void add_distinct(bson_t *values, uint32_t *n, const bson_value_t *value)
{
   bson_iter_t iter;
   bson_iter_init(&iter, values);
   while (bson_iter_next(&iter)) {
      if (duet_value_compare(bson_iter_value(&iter), value) == 0) {
         return;
      }
   }
   char key[16];
   const char *k;
   bson_uint32_to_string((*n)++, &k, key, sizeof key);
   bson_append_value(values, k, -1, value);
}

/* Values at a dotted path, arrays along the way and at the end unwound once. */
static void distinct_collect(bson_iter_t *iter, const char *path, bson_t *values, uint32_t *n)
{
   const char *dot = strchr(path, '.');
   size_t len = dot ? (size_t)(dot - path) : strlen(path);
   while (bson_iter_next(iter)) {
      const char *key = bson_iter_key(iter);
      if (strlen(key) != len || strncmp(key, path, len) != 0) {
         continue;
      }
      bson_iter_t child;
      if (!dot) {
         if (BSON_ITER_HOLDS_ARRAY(iter) && bson_iter_recurse(iter, &child)) {
            while (bson_iter_next(&child)) {
               add_distinct(values, n, bson_iter_value(&child));
            }
         } else {
            add_distinct(values, n, bson_iter_value(iter));
         }
      } else if (BSON_ITER_HOLDS_DOCUMENT(iter) && bson_iter_recurse(iter, &child)) {
         distinct_collect(&child, dot + 1, values, n);
      } else if (BSON_ITER_HOLDS_ARRAY(iter) && bson_iter_recurse(iter, &child)) {
         while (bson_iter_next(&child)) {
            bson_iter_t element;
            if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &element)) {
               distinct_collect(&element, dot + 1, values, n);
            }
         }
      }
      return;
   }
}

bool duet_store_distinct(duet_session_t *session, const char *db, const char *coll, const char *key,
                         const bson_t *filter, bson_t *values, duet_error_t *error)
{
   bson_init(values);
   if (key[0] == '\0') {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "FieldPath cannot be constructed with empty string");
      return false;
   }
   duet_store_find_options_t options = {filter, NULL, NULL, 0, 0};
   duet_store_find_t *find;
   if (!duet_store_find(session, db, coll, &options, &find, error)) {
      return false;
   }
   const bson_t *doc;
   bool ok;
   uint32_t n = 0;
   while ((ok = duet_store_find_next(find, &doc, error)) && doc) {
      bson_iter_t iter;
      bson_iter_init(&iter, doc);
      distinct_collect(&iter, key, values, &n);
   }
   duet_store_find_destroy(find);
   if (!ok) {
      return false;
   }
   /* MongoDB order, whatever access path found them */
   bson_value_t *sorted = bson_malloc0((n ? n : 1) * sizeof *sorted);
   bson_iter_t iter;
   bson_iter_init(&iter, values);
   for (uint32_t i = 0; i < n && bson_iter_next(&iter); i++) {
      bson_value_copy(bson_iter_value(&iter), &sorted[i]);
   }
   qsort(sorted, n, sizeof *sorted, compare_values);
   bson_reinit(values);
   for (uint32_t i = 0; i < n; i++) {
      char index[16];
      const char *k;
      bson_uint32_to_string(i, &k, index, sizeof index);
      bson_append_value(values, k, -1, &sorted[i]);
      bson_value_destroy(&sorted[i]);
   }
   bson_free(sorted);
   return true;
}

/* ---- aggregate ---------------------------------------------------------------------------- */

/* What $lookup's storage callbacks read through: the aggregate's session and database. */
typedef struct lookup_storage_context {
   duet_session_t *session; /* borrowed: the aggregate's session (its transaction or snapshot) */
   char *db;                /* owned copy of the database being aggregated */
} lookup_storage_context_t;

struct duet_store_aggregate {
   duet_store_find_t *source;       /* owned: the collection, filtered by a leading $match */
   duet_pipeline_t *pipeline;       /* owned */
   duet_pipeline_cursor_t *cursor;  /* owned */
   duet_pipeline_storage_t storage; /* $lookup's foreign reads; outlives pipeline and cursor */
   lookup_storage_context_t lookup; /* storage.context points here */
};

static bool aggregate_source(void *context, const bson_t **doc, duet_error_t *error)
{
   return duet_store_find_next(context, doc, error);
}

/* duet_pipeline_storage_t.open: a find on db.coll with the join filter as its filter, so an
 * _id point read or an index on the foreignField is used when there is one (the stage
 * re-applies the filter; a missing collection reads as empty). */
static bool lookup_storage_open(void *context, const char *coll, const bson_t *filter, void **scan, duet_error_t *error)
{
   lookup_storage_context_t *lookup = context;
   duet_store_find_options_t options = {filter, NULL, NULL, 0, 0};
   duet_store_find_t *find = NULL;
   *scan = NULL;
   if (!duet_store_find(lookup->session, lookup->db, coll, &options, &find, error)) {
      return false;
   }
   *scan = find;
   return true;
}

static bool lookup_storage_next(void *scan, const bson_t **doc, duet_error_t *error)
{
   return duet_store_find_next(scan, doc, error);
}

static void lookup_storage_close(void *scan)
{
   duet_store_find_destroy(scan);
}

static void lookup_storage_init(duet_pipeline_storage_t *storage, void *context)
{
   storage->context = context;
   storage->open = lookup_storage_open;
   storage->next = lookup_storage_next;
   storage->close = lookup_storage_close;
}

/* Opens the pipeline over db.coll (no $out handling). */
static bool aggregate_open(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                           bool allow_disk_use, duet_store_aggregate_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_store_aggregate_t *aggregate = bson_malloc0(sizeof *aggregate);
   aggregate->lookup.session = session;
   aggregate->lookup.db = bson_strdup(db);
   lookup_storage_init(&aggregate->storage, &aggregate->lookup);
   duet_pipeline_options_t options = {NULL, allow_disk_use, 0, &aggregate->storage};
   if (!duet_pipeline_parse(pipeline, &options, &aggregate->pipeline, error)) {
      duet_store_aggregate_destroy(aggregate);
      return false;
   }
   /* a leading {$match: filter} narrows the scan; the stage itself still runs */
   bson_t filter_view;
   const bson_t *filter = NULL;
   bson_iter_t iter, stage;
   if (bson_iter_init(&iter, pipeline) && bson_iter_next(&iter) && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
       bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage) && strcmp(bson_iter_key(&stage), "$match") == 0 &&
       BSON_ITER_HOLDS_DOCUMENT(&stage)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&stage, &len, &data);
      if (bson_init_static(&filter_view, data, len)) {
         filter = &filter_view;
      }
   }
   duet_store_find_options_t find_options = {filter, NULL, NULL, 0, 0};
   if (!duet_store_find(session, db, coll, &find_options, &aggregate->source, error)) {
      duet_store_aggregate_destroy(aggregate);
      return false;
   }
   aggregate->cursor = duet_pipeline_open(aggregate->pipeline, aggregate_source, aggregate->source, NULL);
   *out = aggregate;
   return true;
}

bool duet_store_aggregate(duet_session_t *session, const char *db, const char *coll, const bson_t *pipeline,
                          const duet_store_aggregate_options_t *options, duet_store_aggregate_t **out,
                          duet_error_t *error)
{
   *out = NULL;
   duet_store_aggregate_options_t defaults = DUET_STORE_AGGREGATE_OPTIONS_INIT;
   if (!options) {
      options = &defaults;
   }
   /* find $out / $merge: only as the last stage */
   bson_iter_t iter;
   uint32_t count = 0, write_at = UINT32_MAX;
   bool is_merge = false;
   bson_iter_init(&iter, pipeline);
   while (bson_iter_next(&iter)) {
      bson_iter_t stage;
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage) &&
          (strcmp(bson_iter_key(&stage), "$out") == 0 || strcmp(bson_iter_key(&stage), "$merge") == 0)) {
         if (write_at != UINT32_MAX) {
            break; /* reported below as not last */
         }
         write_at = count;
         is_merge = bson_iter_key(&stage)[1] == 'm';
      }
      count++;
   }
   if (write_at == UINT32_MAX) {
      return aggregate_open(session, db, coll, pipeline, options->allow_disk_use, out, error);
   }
   if (write_at != count - 1) {
      duet_error_set(error, 40601, "%s can only be the final stage in the pipeline", is_merge ? "$merge" : "$out");
      return false;
   }
   bool written = is_merge ? duet_store_aggregate_merge(session, db, coll, pipeline, count - 1, options, error)
                           : duet_store_aggregate_out(session, db, coll, pipeline, count - 1, options, error);
   if (!written) {
      return false;
   }
   *out = bson_malloc0(sizeof **out); /* no results */
   return true;
}

bool duet_store_aggregate_next(duet_store_aggregate_t *aggregate, const bson_t **doc, duet_error_t *error)
{
   if (!aggregate->cursor) {
      *doc = NULL;
      return true;
   }
   return duet_pipeline_next(aggregate->cursor, doc, error);
}

bool duet_store_aggregate_open_internal(duet_session_t *session, const char *db, const char *coll,
                                        const bson_t *pipeline, bool allow_disk_use, duet_store_aggregate_t **out,
                                        duet_error_t *error)
{
   return aggregate_open(session, db, coll, pipeline, allow_disk_use, out, error);
}

void duet_store_aggregate_destroy(duet_store_aggregate_t *aggregate)
{
   if (!aggregate) {
      return;
   }
   if (aggregate->cursor) {
      duet_pipeline_close(aggregate->cursor);
   }
   duet_pipeline_destroy(aggregate->pipeline);
   duet_store_find_destroy(aggregate->source);
   bson_free(aggregate->lookup.db);
   bson_free(aggregate);
}
