/*
 * update_elem.c — the mutable document tree updates are applied to (the role of
 * MongoDB's mutablebson::Document): built from a bson_t, edited in place by the
 * update operators, written back out once.  See update_private.h for ownership.
 */
#include "mql/update_private.h"

#include <duet/doc.h>

#include <string.h>

static duet_uelem_t *uelem_alloc(const char *name, bson_type_t type)
{
   duet_uelem_t *elem = bson_malloc0(sizeof *elem);
   elem->name = bson_strdup(name ? name : "");
   elem->type = type;
   elem->value.value_type = type;
   return elem;
}

duet_uelem_t *duet_uelem_new_container(const char *name, bson_type_t type)
{
   BSON_ASSERT(type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY);
   return uelem_alloc(name, type);
}

duet_uelem_t *duet_uelem_new_null(const char *name)
{
   return uelem_alloc(name, BSON_TYPE_NULL);
}

void duet_uelem_push(duet_uelem_t *parent, duet_uelem_t *child)
{
   duet_uelem_insert(parent, parent->count, child);
}

void duet_uelem_insert(duet_uelem_t *parent, size_t index, duet_uelem_t *child)
{
   BSON_ASSERT(index <= parent->count);
   if (parent->count == parent->capacity) {
      parent->capacity = parent->capacity ? parent->capacity * 2 : 4;
      parent->children = bson_realloc(parent->children, parent->capacity * sizeof *parent->children);
   }
   memmove(parent->children + index + 1, parent->children + index, (parent->count - index) * sizeof *parent->children);
   parent->children[index] = child;
   parent->count++;
   child->parent = parent;
}

duet_uelem_t *duet_uelem_detach_at(duet_uelem_t *parent, size_t index)
{
   BSON_ASSERT(index < parent->count);
   duet_uelem_t *child = parent->children[index];
   memmove(parent->children + index, parent->children + index + 1,
           (parent->count - index - 1) * sizeof *parent->children);
   parent->count--;
   child->parent = NULL;
   return child;
}

void duet_uelem_remove_at(duet_uelem_t *parent, size_t index)
{
   duet_uelem_free(duet_uelem_detach_at(parent, index));
}

static void uelem_fill_children(duet_uelem_t *elem, bson_iter_t *iter)
{
   while (bson_iter_next(iter)) {
      duet_uelem_t *child =
          duet_uelem_from_value(elem->type == BSON_TYPE_ARRAY ? "" : bson_iter_key(iter), bson_iter_value(iter));
      duet_uelem_push(elem, child);
   }
}

duet_uelem_t *duet_uelem_from_value(const char *name, const bson_value_t *value)
{
   duet_uelem_t *elem = uelem_alloc(name, value->value_type);
   if (value->value_type == BSON_TYPE_DOCUMENT || value->value_type == BSON_TYPE_ARRAY) {
      bson_iter_t iter;
      if (bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len)) {
         uelem_fill_children(elem, &iter);
      }
   } else {
      bson_value_copy(value, &elem->value);
   }
   return elem;
}

duet_uelem_t *duet_uelem_from_bson(const bson_t *doc)
{
   duet_uelem_t *elem = uelem_alloc("", BSON_TYPE_DOCUMENT);
   bson_iter_t iter;
   if (bson_iter_init(&iter, doc)) {
      uelem_fill_children(elem, &iter);
   }
   return elem;
}

duet_uelem_t *duet_uelem_clone(const duet_uelem_t *elem, const char *new_name)
{
   duet_uelem_t *copy = uelem_alloc(new_name ? new_name : elem->name, elem->type);
   if (elem->type == BSON_TYPE_DOCUMENT || elem->type == BSON_TYPE_ARRAY) {
      for (size_t i = 0; i < elem->count; i++) {
         duet_uelem_push(copy, duet_uelem_clone(elem->children[i], NULL));
      }
   } else {
      bson_value_copy(&elem->value, &copy->value);
   }
   return copy;
}

static void uelem_clear_value(duet_uelem_t *elem)
{
   if (elem->type == BSON_TYPE_DOCUMENT || elem->type == BSON_TYPE_ARRAY) {
      for (size_t i = 0; i < elem->count; i++) {
         duet_uelem_free(elem->children[i]);
      }
      bson_free(elem->children);
      elem->children = NULL;
      elem->count = elem->capacity = 0;
   } else {
      bson_value_destroy(&elem->value);
   }
   memset(&elem->value, 0, sizeof elem->value);
}

void duet_uelem_free(duet_uelem_t *elem)
{
   if (!elem) {
      return;
   }
   uelem_clear_value(elem);
   bson_free(elem->name);
   bson_free(elem);
}

void duet_uelem_set_value(duet_uelem_t *elem, const bson_value_t *value)
{
   duet_uelem_t *fresh = duet_uelem_from_value("", value);
   uelem_clear_value(elem);
   elem->type = fresh->type;
   elem->value = fresh->value;
   elem->children = fresh->children;
   elem->count = fresh->count;
   elem->capacity = fresh->capacity;
   for (size_t i = 0; i < elem->count; i++) {
      elem->children[i]->parent = elem;
   }
   bson_free(fresh->name);
   bson_free(fresh);
}

void duet_uelem_set_from(duet_uelem_t *elem, const duet_uelem_t *source)
{
   duet_uelem_t *fresh = duet_uelem_clone(source, "");
   uelem_clear_value(elem);
   elem->type = fresh->type;
   elem->value = fresh->value;
   elem->children = fresh->children;
   elem->count = fresh->count;
   elem->capacity = fresh->capacity;
   for (size_t i = 0; i < elem->count; i++) {
      elem->children[i]->parent = elem;
   }
   bson_free(fresh->name);
   bson_free(fresh);
}

void duet_uelem_append(const duet_uelem_t *elem, bson_t *out, const char *key, int key_length)
{
   if (elem->type == BSON_TYPE_DOCUMENT) {
      bson_t child;
      bson_append_document_begin(out, key, key_length, &child);
      duet_uelem_write_children(elem, &child);
      bson_append_document_end(out, &child);
   } else if (elem->type == BSON_TYPE_ARRAY) {
      bson_t child;
      bson_append_array_begin(out, key, key_length, &child);
      duet_uelem_write_children(elem, &child);
      bson_append_array_end(out, &child);
   } else {
      bson_append_value(out, key, key_length, &elem->value);
   }
}

void duet_uelem_write_children(const duet_uelem_t *elem, bson_t *out)
{
   char index_buffer[16];
   for (size_t i = 0; i < elem->count; i++) {
      const duet_uelem_t *child = elem->children[i];
      if (elem->type == BSON_TYPE_ARRAY) {
         const char *key;
         size_t length = bson_uint32_to_string((uint32_t)i, &key, index_buffer, sizeof index_buffer);
         duet_uelem_append(child, out, key, (int)length);
      } else {
         duet_uelem_append(child, out, child->name, -1);
      }
   }
}

void duet_uelem_to_value(const duet_uelem_t *elem, bson_value_t *out)
{
   if (elem->type == BSON_TYPE_DOCUMENT || elem->type == BSON_TYPE_ARRAY) {
      bson_t holder = BSON_INITIALIZER;
      duet_uelem_append(elem, &holder, "v", 1);
      bson_iter_t iter;
      BSON_ASSERT(bson_iter_init_find(&iter, &holder, "v"));
      bson_value_copy(bson_iter_value(&iter), out);
      bson_destroy(&holder);
   } else {
      bson_value_copy(&elem->value, out);
   }
}

duet_uelem_t *duet_uelem_child(const duet_uelem_t *elem, const char *name)
{
   if (elem->type == BSON_TYPE_DOCUMENT) {
      for (size_t i = 0; i < elem->count; i++) {
         if (strcmp(elem->children[i]->name, name) == 0) {
            return elem->children[i];
         }
      }
   } else if (elem->type == BSON_TYPE_ARRAY) {
      size_t index;
      if (duet_update_parse_index(name, &index) && index < elem->count) {
         return elem->children[index];
      }
   }
   return NULL;
}

ptrdiff_t duet_uelem_child_index(const duet_uelem_t *parent, const duet_uelem_t *child)
{
   for (size_t i = 0; i < parent->count; i++) {
      if (parent->children[i] == child) {
         return (ptrdiff_t)i;
      }
   }
   return -1;
}

int duet_uelem_compare_value(const duet_uelem_t *a, const bson_value_t *b)
{
   if (a->type == BSON_TYPE_DOCUMENT || a->type == BSON_TYPE_ARRAY) {
      bson_value_t value;
      duet_uelem_to_value(a, &value);
      int c = duet_value_compare(&value, b);
      bson_value_destroy(&value);
      return c;
   }
   return duet_value_compare(&a->value, b);
}

int duet_uelem_compare(const duet_uelem_t *a, const duet_uelem_t *b)
{
   if (b->type == BSON_TYPE_DOCUMENT || b->type == BSON_TYPE_ARRAY) {
      bson_value_t value;
      duet_uelem_to_value(b, &value);
      int c = duet_uelem_compare_value(a, &value);
      bson_value_destroy(&value);
      return c;
   }
   return duet_uelem_compare_value(a, &b->value);
}

static bool raw_value_equal(const bson_value_t *a, const bson_value_t *b)
{
   /* Byte comparison of the two values' BSON encodings. */
   bson_t ha = BSON_INITIALIZER, hb = BSON_INITIALIZER;
   bson_append_value(&ha, "", 0, a);
   bson_append_value(&hb, "", 0, b);
   bool equal = ha.len == hb.len && memcmp(bson_get_data(&ha), bson_get_data(&hb), ha.len) == 0;
   bson_destroy(&ha);
   bson_destroy(&hb);
   return equal;
}

bool duet_uelem_binary_equal(const duet_uelem_t *a, const bson_value_t *b)
{
   if (a->type != b->value_type) {
      return false;
   }
   if (a->type == BSON_TYPE_DOCUMENT || a->type == BSON_TYPE_ARRAY) {
      bson_value_t value;
      duet_uelem_to_value(a, &value);
      bool equal = raw_value_equal(&value, b);
      bson_value_destroy(&value);
      return equal;
   }
   return raw_value_equal(&a->value, b);
}

bool duet_update_parse_index(const char *part, size_t *index)
{
   if (!part[0]) {
      return false;
   }
   size_t value = 0;
   for (const char *p = part; *p; p++) {
      if (*p < '0' || *p > '9') {
         return false;
      }
      value = value * 10 + (size_t)(*p - '0');
      if (value > UINT32_MAX) {
         return false; /* MongoDB parses array indexes as unsigned int */
      }
   }
   *index = value;
   return true;
}
