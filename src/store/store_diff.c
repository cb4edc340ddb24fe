/*
 * store_diff.c — the updateDescription of an `update` change event, computed
 * by diffing the old and new document the way MongoDB's doc_diff does:
 * fields only in the new document and changed scalars go to updatedFields
 * (dotted paths), fields gone to removedFields, embedded documents and arrays
 * are diffed recursively (array elements as "path.<index>"), an array that
 * shrank is reported in truncatedArrays {field, newSize}.  An embedded
 * document or array none of whose old members survives unchanged was replaced
 * wholesale and is reported as one updated field (MongoDB reports a replaced
 * array under updatedFields, a changed member of a kept one by dotted path).
 *
 * A dotted path that does not say what it names — a field name that contains
 * a dot, or a numeric field name after the first component, which reads like
 * an array index — is also listed in disambiguatedPaths {path: [components]},
 * array indexes as integers and field names as strings (MongoDB 6.1+, shown by
 * expanded change streams).  The document is stored only when not empty.
 */
#include "store/store_internal.h"

#include <string.h>

typedef struct diff_out {
   bson_t updated;   /* dotted path -> new value */
   bson_t removed;   /* array of paths */
   bson_t truncated; /* array of {field, newSize} */
   bson_t paths;     /* disambiguatedPaths: dotted path -> [components] */
   uint32_t removed_count;
   uint32_t truncated_count;
} diff_out_t;

/* One component of the current path: a field name (borrowed from the documents) or an array index. */
typedef struct component {
   const char *name; /* NULL for an array index */
   uint32_t index;
   bool ambiguous; /* this component or an earlier one makes the path ambiguous */
} component_t;

typedef struct path_stack {
   component_t *items; /* owned */
   size_t count;
   size_t capacity;
} path_stack_t;

static void out_init(diff_out_t *out)
{
   bson_init(&out->updated);
   bson_init(&out->removed);
   bson_init(&out->truncated);
   bson_init(&out->paths);
   out->removed_count = 0;
   out->truncated_count = 0;
}

static void out_destroy(diff_out_t *out)
{
   bson_destroy(&out->updated);
   bson_destroy(&out->removed);
   bson_destroy(&out->truncated);
   bson_destroy(&out->paths);
}

static void out_merge(diff_out_t *to, const diff_out_t *from)
{
   bson_concat(&to->updated, &from->updated);
   bson_concat(&to->paths, &from->paths);
   bson_iter_t iter;
   char index[16];
   const char *key;
   bson_iter_init(&iter, &from->removed);
   while (bson_iter_next(&iter)) {
      bson_uint32_to_string(to->removed_count++, &key, index, sizeof index);
      bson_append_iter(&to->removed, key, -1, &iter);
   }
   bson_iter_init(&iter, &from->truncated);
   while (bson_iter_next(&iter)) {
      bson_uint32_to_string(to->truncated_count++, &key, index, sizeof index);
      bson_append_iter(&to->truncated, key, -1, &iter);
   }
}

/* MongoDB's FieldRef::isNumericPathComponentStrict: digits only, no leading zero. */
static bool numeric_component(const char *name)
{
   size_t len = strlen(name);
   return len > 0 && strspn(name, "0123456789") == len && (len == 1 || name[0] != '0');
}

static void push(path_stack_t *stack, const char *name, uint32_t index)
{
   if (stack->count == stack->capacity) {
      stack->capacity = stack->capacity ? stack->capacity * 2 : 16;
      stack->items = bson_realloc(stack->items, stack->capacity * sizeof *stack->items);
   }
   bool ambiguous = stack->count > 0 && stack->items[stack->count - 1].ambiguous;
   if (name && !ambiguous) {
      ambiguous = (stack->count > 0 && numeric_component(name)) || strchr(name, '.') != NULL;
   }
   stack->items[stack->count++] = (component_t){name, index, ambiguous};
}

static void pop(path_stack_t *stack)
{
   stack->count--;
}

/* Lists the current path in disambiguatedPaths when it is ambiguous; `path` is its dotted form. */
static void note_path(const path_stack_t *stack, const char *path, diff_out_t *out)
{
   if (stack->count == 0 || !stack->items[stack->count - 1].ambiguous) {
      return;
   }
   bson_t components;
   bson_append_array_begin(&out->paths, path, -1, &components);
   for (size_t i = 0; i < stack->count; i++) {
      char index[16];
      const char *key;
      bson_uint32_to_string((uint32_t)i, &key, index, sizeof index);
      if (stack->items[i].name) {
         bson_append_utf8(&components, key, -1, stack->items[i].name, -1);
      } else {
         bson_append_int32(&components, key, -1, (int32_t)stack->items[i].index);
      }
   }
   bson_append_array_end(&out->paths, &components);
}

static void add_updated(const path_stack_t *stack, const char *path, const bson_iter_t *value, diff_out_t *out)
{
   bson_append_iter(&out->updated, path, -1, value);
   note_path(stack, path, out);
}

static char *join(const char *prefix, const char *field)
{
   return prefix[0] ? bson_strdup_printf("%s.%s", prefix, field) : bson_strdup(field);
}

static bool same_value(const bson_iter_t *a, const bson_iter_t *b)
{
   if (bson_iter_type(a) != bson_iter_type(b)) {
      return false;
   }
   uint32_t a_len = a->next_off - a->d1;
   uint32_t b_len = b->next_off - b->d1;
   return a_len == b_len && memcmp(a->raw + a->d1, b->raw + b->d1, a_len) == 0;
}

static void diff_value(const char *path, bson_iter_t *old_iter, bson_iter_t *new_iter, path_stack_t *stack,
                       diff_out_t *out);

/* Both diff functions return how many old members survived unchanged. */
static size_t diff_object(const char *prefix, bson_iter_t *old_parent, bson_iter_t *new_parent, path_stack_t *stack,
                          diff_out_t *out)
{
   size_t unchanged = 0;
   bson_iter_t old_iter, new_iter, probe;
   bson_iter_recurse(old_parent, &old_iter);
   while (bson_iter_next(&old_iter)) {
      bson_iter_recurse(new_parent, &probe);
      if (!bson_iter_find(&probe, bson_iter_key(&old_iter))) {
         char *path = join(prefix, bson_iter_key(&old_iter));
         char index[16];
         const char *key;
         bson_uint32_to_string(out->removed_count++, &key, index, sizeof index);
         bson_append_utf8(&out->removed, key, -1, path, -1);
         push(stack, bson_iter_key(&old_iter), 0);
         note_path(stack, path, out);
         pop(stack);
         bson_free(path);
      }
   }
   bson_iter_recurse(new_parent, &new_iter);
   while (bson_iter_next(&new_iter)) {
      char *path = join(prefix, bson_iter_key(&new_iter));
      bson_iter_recurse(old_parent, &probe);
      push(stack, bson_iter_key(&new_iter), 0);
      if (!bson_iter_find(&probe, bson_iter_key(&new_iter))) {
         add_updated(stack, path, &new_iter, out);
      } else if (!same_value(&probe, &new_iter)) {
         diff_value(path, &probe, &new_iter, stack, out);
      } else {
         unchanged++;
      }
      pop(stack);
      bson_free(path);
   }
   return unchanged;
}

static size_t diff_array(const char *path, bson_iter_t *old_parent, bson_iter_t *new_parent, path_stack_t *stack,
                         diff_out_t *out)
{
   size_t unchanged = 0;
   bson_iter_t old_iter, new_iter;
   bson_iter_recurse(old_parent, &old_iter);
   bson_iter_recurse(new_parent, &new_iter);
   uint32_t index = 0;
   bool old_more = bson_iter_next(&old_iter);
   bool new_more = bson_iter_next(&new_iter);
   while (new_more) {
      char *element_path = bson_strdup_printf("%s.%u", path, index);
      push(stack, NULL, index);
      if (!old_more) {
         add_updated(stack, element_path, &new_iter, out);
      } else if (!same_value(&old_iter, &new_iter)) {
         diff_value(element_path, &old_iter, &new_iter, stack, out);
      } else {
         unchanged++;
      }
      pop(stack);
      bson_free(element_path);
      index++;
      old_more = old_more && bson_iter_next(&old_iter);
      new_more = bson_iter_next(&new_iter);
   }
   if (old_more) {
      char key_buffer[16];
      const char *key;
      bson_uint32_to_string(out->truncated_count++, &key, key_buffer, sizeof key_buffer);
      bson_t entry;
      bson_append_document_begin(&out->truncated, key, -1, &entry);
      BSON_APPEND_UTF8(&entry, "field", path);
      BSON_APPEND_INT32(&entry, "newSize", (int32_t)index);
      bson_append_document_end(&out->truncated, &entry);
      note_path(stack, path, out);
   }
   return unchanged;
}

/* Both present and different; the top of `stack` is `path`'s last component. */
static void diff_value(const char *path, bson_iter_t *old_iter, bson_iter_t *new_iter, path_stack_t *stack,
                       diff_out_t *out)
{
   bson_type_t type = bson_iter_type(new_iter);
   if (type != bson_iter_type(old_iter) || (type != BSON_TYPE_DOCUMENT && type != BSON_TYPE_ARRAY)) {
      add_updated(stack, path, new_iter, out);
      return;
   }
   diff_out_t sub;
   out_init(&sub);
   size_t unchanged = type == BSON_TYPE_DOCUMENT ? diff_object(path, old_iter, new_iter, stack, &sub)
                                                 : diff_array(path, old_iter, new_iter, stack, &sub);
   if (unchanged == 0) {
      add_updated(stack, path, new_iter, out);
   } else {
      out_merge(out, &sub);
   }
   out_destroy(&sub);
}

void duet_store_diff(const bson_t *old_doc, const bson_t *new_doc, bson_t *description)
{
   diff_out_t out;
   out_init(&out);
   path_stack_t stack = {NULL, 0, 0};
   /* wrap both documents so diff_object can recurse from an element iterator */
   bson_t old_wrap = BSON_INITIALIZER, new_wrap = BSON_INITIALIZER;
   BSON_APPEND_DOCUMENT(&old_wrap, "d", old_doc);
   BSON_APPEND_DOCUMENT(&new_wrap, "d", new_doc);
   bson_iter_t old_iter, new_iter;
   bson_iter_init_find(&old_iter, &old_wrap, "d");
   bson_iter_init_find(&new_iter, &new_wrap, "d");
   diff_object("", &old_iter, &new_iter, &stack, &out);
   bson_init(description);
   BSON_APPEND_DOCUMENT(description, "updatedFields", &out.updated);
   BSON_APPEND_ARRAY(description, "removedFields", &out.removed);
   BSON_APPEND_ARRAY(description, "truncatedArrays", &out.truncated);
   if (!bson_empty(&out.paths)) {
      BSON_APPEND_DOCUMENT(description, "disambiguatedPaths", &out.paths);
   }
   bson_free(stack.items);
   bson_destroy(&old_wrap);
   bson_destroy(&new_wrap);
   out_destroy(&out);
}
