/*
 * update_upsert.c — the document an upsert starts from (MongoDB's
 * pathsupport::extractEqualityMatches + addEqualitiesToDoc): the equality
 * predicates among the query's top-level conjuncts, written in path order
 * (MongoDB keeps them in a std::map), dotted paths as embedded documents.
 */
#include "mql/update_private.h"

#include <string.h>

typedef struct equality {
   char *path;         /* owned */
   bson_value_t value; /* struct copy; its data is borrowed from the query */
} equality_t;

typedef struct equalities {
   equality_t *items;
   size_t count;
   size_t capacity;
} equalities_t;

static size_t path_parts(const char *path)
{
   size_t n = 1;
   for (const char *p = path; *p; p++) {
      n += *p == '.';
   }
   return n;
}

/* checkEqualityConflicts: a prefix of `path` (or path itself) already matched. */
static bool check_conflict(const equalities_t *eq, const char *path, duet_error_t *error)
{
   size_t n = strlen(path);
   for (size_t i = 0; i < eq->count; i++) {
      const char *other = eq->items[i].path;
      size_t m = strlen(other);
      if (m == n && strcmp(other, path) == 0) {
         duet_error_set(error, DUET_ERR_NOT_SINGLE_VALUE_FIELD,
                        "cannot infer query fields to set, path '%s' is matched twice", path);
         return false;
      }
      if (m < n && strncmp(other, path, m) == 0 && path[m] == '.') {
         duet_error_set(error, DUET_ERR_NOT_SINGLE_VALUE_FIELD,
                        "cannot infer query fields to set, both paths '%s' and '%s' are matched", path, other);
         return false;
      }
   }
   return true;
}

static bool add_equality(equalities_t *eq, const char *path, const bson_value_t *value, bool only_id,
                         duet_error_t *error)
{
   if (only_id && strcmp(path, "_id") != 0) {
      return true;
   }
   if (!check_conflict(eq, path, error)) {
      return false;
   }
   if (eq->count == eq->capacity) {
      eq->capacity = eq->capacity ? eq->capacity * 2 : 8;
      eq->items = bson_realloc(eq->items, eq->capacity * sizeof *eq->items);
   }
   eq->items[eq->count].path = bson_strdup(path);
   eq->items[eq->count].value = *value;
   eq->count++;
   return true;
}

static bool is_operator_object(const bson_value_t *value)
{
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      return false;
   }
   bson_iter_t iter;
   return bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len) &&
          bson_iter_next(&iter) && bson_iter_key(&iter)[0] == '$';
}

static bool collect(equalities_t *eq, const uint8_t *data, uint32_t length, bool only_id, duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init_from_data(&iter, data, length)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      const bson_value_t *value = bson_iter_value(&iter);
      if (strcmp(key, "$and") == 0) {
         if (value->value_type != BSON_TYPE_ARRAY) {
            continue;
         }
         bson_iter_t items;
         BSON_ASSERT(bson_iter_recurse(&iter, &items));
         while (bson_iter_next(&items)) {
            if (BSON_ITER_HOLDS_DOCUMENT(&items)) {
               const bson_value_t *item = bson_iter_value(&items);
               if (!collect(eq, item->value.v_doc.data, item->value.v_doc.data_len, only_id, error)) {
                  return false;
               }
            }
         }
         continue;
      }
      if (key[0] == '$') {
         continue; /* $or, $nor, $expr, $comment, ... are not equalities */
      }
      if (value->value_type == BSON_TYPE_REGEX) {
         continue;
      }
      if (is_operator_object(value)) {
         bson_iter_t ops;
         BSON_ASSERT(bson_iter_recurse(&iter, &ops));
         while (bson_iter_next(&ops)) {
            if (strcmp(bson_iter_key(&ops), "$eq") == 0 && !BSON_ITER_HOLDS_REGEX(&ops)) {
               if (!add_equality(eq, key, bson_iter_value(&ops), only_id, error)) {
                  return false;
               }
            }
         }
         continue;
      }
      if (!add_equality(eq, key, value, only_id, error)) {
         return false;
      }
   }
   return true;
}

static int compare_paths(const void *a, const void *b)
{
   return strcmp(((const equality_t *)a)->path, ((const equality_t *)b)->path);
}

/* pathsupport::setElementAtPath on the tree. */
static bool set_at_path(duet_uelem_t *root, const char *path, const bson_value_t *value, duet_error_t *error)
{
   size_t n = path_parts(path);
   char *copy = bson_strdup(path);
   char **parts = bson_malloc(n * sizeof *parts);
   size_t count = 0;
   char *save = NULL;
   for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
      parts[count++] = part;
   }
   bool ok = true;
   duet_uelem_t *current = root;
   for (size_t i = 0; ok && i < count; i++) {
      duet_uelem_t *child = duet_uelem_child(current, parts[i]);
      bool last = i + 1 == count;
      if (child && last) {
         duet_uelem_set_value(child, value);
      } else if (child) {
         if (child->type != BSON_TYPE_DOCUMENT && child->type != BSON_TYPE_ARRAY) {
            bson_string_t *s = bson_string_new(NULL);
            duet_update_format_uelem(s, child);
            duet_error_set(error, DUET_ERR_PATH_NOT_VIABLE,
                           "cannot use the part (%s of %s) to traverse the element ({%s})", parts[i + 1], path, s->str);
            bson_string_free(s, true);
            ok = false;
         }
         current = child;
      } else if (current->type != BSON_TYPE_DOCUMENT) {
         duet_error_set(error, DUET_ERR_PATH_NOT_VIABLE, "cannot infer query fields to set, path '%s' is not viable",
                        path);
         ok = false;
      } else if (last) {
         duet_uelem_push(current, duet_uelem_from_value(parts[i], value));
      } else {
         duet_uelem_t *doc = duet_uelem_new_container(parts[i], BSON_TYPE_DOCUMENT);
         duet_uelem_push(current, doc);
         current = doc;
      }
   }
   bson_free(parts);
   bson_free(copy);
   return ok;
}

bool duet_update_upsert_seed(const bson_t *query, bool only_id, bson_t *seed_out, duet_error_t *error)
{
   bson_init(seed_out);
   equalities_t eq = {0};
   bool ok = collect(&eq, bson_get_data(query), query->len, only_id, error);
   duet_uelem_t *root = duet_uelem_from_bson(seed_out);
   if (ok) {
      if (eq.count > 1) {
         qsort(eq.items, eq.count, sizeof *eq.items, compare_paths);
      }
      for (size_t i = 0; ok && i < eq.count; i++) {
         ok = set_at_path(root, eq.items[i].path, &eq.items[i].value, error);
      }
   }
   if (ok) {
      duet_uelem_write_children(root, seed_out);
   }
   duet_uelem_free(root);
   for (size_t i = 0; i < eq.count; i++) {
      bson_free(eq.items[i].path);
   }
   bson_free(eq.items);
   return ok;
}

bool duet_update_apply_upsert(const duet_update_t *update, const bson_t *query, bson_t *new_doc_out,
                              duet_error_t *error)
{
   bson_t seed;
   if (!duet_update_upsert_seed(query, update->kind == DUET_UPDATE_REPLACEMENT, &seed, error)) {
      bson_destroy(&seed);
      bson_init(new_doc_out);
      return false;
   }
   bool modified;
   bool ok = duet_update_apply(update, &seed, query, true, new_doc_out, &modified, error);
   bson_destroy(&seed);
   return ok;
}
