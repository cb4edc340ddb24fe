/*
 * partner_transform.c — forward and reverse transforms of a spec: per-document pipelines run
 * on one document at a time, the partner schema's validation and $jsonSchema validator, and
 * the field-order-insensitive equality used by round trips and verify.
 */
#include <duet/doc.h>
#include <duet/mql_pipeline.h>
#include <duet/partner.h>

#include "partner/partner_internal.h"

#include <stdlib.h>
#include <string.h>

struct duet_partner_transform {
   duet_pipeline_t *forward;    /* owned */
   duet_pipeline_t *reverse;    /* owned; NULL for in-place specs */
   duet_schema_set_t *schemas;  /* owned: the spec's schema */
   const duet_schema_t *schema; /* borrowed from schemas */
   unsigned validate_flags;
   bool forward_now, reverse_now; /* the pipeline may read $$NOW (its text mentions it) */
};

/* Whether a pipeline's text mentions $$NOW anywhere (conservative: keys included).  A
 * pipeline that does not cannot read the clock, so applying it needs no clock reading. */
static bool mentions_now(const bson_t *pipeline)
{
   static const char needle[] = "$$NOW";
   const size_t needle_len = sizeof needle - 1;
   if (!pipeline || pipeline->len < needle_len) {
      return false;
   }
   const uint8_t *data = bson_get_data(pipeline);
   for (size_t i = 0; i + needle_len <= pipeline->len; i++) {
      if (data[i] == '$' && memcmp(data + i, needle, needle_len) == 0) {
         return true;
      }
   }
   return false;
}

static const char *stage_name_at(const bson_t *pipeline, size_t index)
{
   bson_iter_t iter, stage;
   size_t i = 0;
   if (!bson_iter_init(&iter, pipeline)) {
      return "?";
   }
   while (bson_iter_next(&iter)) {
      if (i++ == index) {
         if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage)) {
            return bson_iter_key(&stage);
         }
         return "?";
      }
   }
   return "?";
}

/* Parses one pipeline and insists on per-document stages. */
static bool transform_parse(const bson_t *stages, const char *field, duet_pipeline_t **out, duet_error_t *error)
{
   *out = NULL;
   if (!duet_pipeline_parse(stages, NULL, out, error)) {
      duet_error_wrap(error, "spec field '%s'", field);
      return false;
   }
   if (!duet_pipeline_is_per_document(*out)) {
      /* name the first stage that is not per-document */
      size_t count = duet_pipeline_stage_count(*out);
      const char *culprit = "?";
      size_t culprit_index = 0;
      for (size_t i = 0; i < count; i++) {
         const char *name = stage_name_at(stages, i);
         if (strcmp(name, "$match") != 0 && strcmp(name, "$addFields") != 0 && strcmp(name, "$set") != 0 &&
             strcmp(name, "$unset") != 0 && strcmp(name, "$project") != 0 && strcmp(name, "$replaceRoot") != 0 &&
             strcmp(name, "$replaceWith") != 0) {
            culprit = name;
            culprit_index = i;
            break;
         }
      }
      duet_error_set(error, DUET_ERR_BAD_VALUE,
                     "spec field '%s': stage %zu (%s) is not a per-document stage; a transform maps one document "
                     "to one document and may use only $match, $addFields/$set, $unset, $project and "
                     "$replaceRoot/$replaceWith",
                     field, culprit_index, culprit);
      duet_pipeline_destroy(*out);
      *out = NULL;
      return false;
   }
   return true;
}

bool duet_partner_transform_new(const duet_partner_spec_t *spec, duet_partner_transform_t **out, duet_error_t *error)
{
   duet_partner_transform_t *transform = bson_malloc0(sizeof *transform);
   *out = NULL;
   if (!transform_parse(spec->forward, "forward", &transform->forward, error)) {
      goto fail;
   }
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER &&
       !transform_parse(spec->reverse, "reverse", &transform->reverse, error)) {
      goto fail;
   }
   if (!duet_schema_set_from_bson("spec", spec->schema, false, &transform->schemas, error)) {
      duet_error_wrap(error, "spec field 'schema'");
      goto fail;
   }
   if (transform->schemas->schema_count != 1) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "spec field 'schema' must hold exactly one schema, not %zu",
                     transform->schemas->schema_count);
      goto fail;
   }
   transform->schema = &transform->schemas->schemas[0];
   transform->validate_flags = spec->allow_null ? DUET_SCHEMA_VALIDATE_ALLOW_NULL : 0;
   transform->forward_now = mentions_now(spec->forward);
   transform->reverse_now = spec->strategy == DUET_PARTNER_STRATEGY_PARTNER && mentions_now(spec->reverse);
   *out = transform;
   return true;

fail:
   duet_partner_transform_destroy(transform);
   return false;
}

void duet_partner_transform_destroy(duet_partner_transform_t *transform)
{
   if (!transform) {
      return;
   }
   duet_pipeline_destroy(transform->forward);
   duet_pipeline_destroy(transform->reverse);
   duet_schema_set_destroy(transform->schemas);
   bson_free(transform);
}

int64_t partner_now_ms(void)
{
   struct timeval now;
   bson_gettimeofday(&now);
   return (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
}

bool duet_partner_transform_apply(const duet_partner_transform_t *transform, duet_partner_direction_t direction,
                                  const bson_t *doc, bson_t *out, duet_error_t *error)
{
   /* one clock reading per write, and none when the pipeline cannot read $$NOW */
   bool uses_now = direction == DUET_PARTNER_FORWARD ? transform->forward_now : transform->reverse_now;
   return partner_transform_apply_at(transform, direction, doc, uses_now ? partner_now_ms() : 0, out, error);
}

bool partner_transform_apply_at(const duet_partner_transform_t *transform, duet_partner_direction_t direction,
                                const bson_t *doc, int64_t now_ms, bson_t *out, duet_error_t *error)
{
   const duet_pipeline_t *pipeline = direction == DUET_PARTNER_FORWARD ? transform->forward : transform->reverse;
   const char *name = direction == DUET_PARTNER_FORWARD ? "forward" : "reverse";
   if (!pipeline) {
      bson_init(out);
      duet_error_set(error, DUET_ERR_BAD_VALUE, "an in-place spec has no reverse transform");
      return false;
   }
   bool emitted = false;
   duet_expr_env_t env = DUET_EXPR_ENV_INIT;
   env.now_ms = now_ms; /* $$NOW */
   if (!duet_pipeline_apply(pipeline, doc, &env, out, &emitted, error)) {
      return false;
   }
   if (!emitted) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "the %s transform dropped the document (a $match did not pass it)",
                     name);
      return false;
   }
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, out, "_id")) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "the %s transform left the document without an _id", name);
      return false;
   }
   return true;
}

const duet_schema_t *duet_partner_transform_schema(const duet_partner_transform_t *transform)
{
   return transform->schema;
}

bool duet_partner_transform_validate(const duet_partner_transform_t *transform, const bson_t *doc, char *reason,
                                     size_t reason_size)
{
   return duet_schema_validate_document(transform->schema, doc, transform->validate_flags, reason, reason_size);
}

/* ---- $jsonSchema validator ------------------------------------------------------------- */

static void validator_object(const duet_schema_object_t *object, bson_t *out);

/* The bsonType keyword for an element type; NULL for mixed (anything goes). */
static const char *validator_bson_type(duet_schema_bson_type_t type)
{
   switch (type) {
   case DUET_SCHEMA_MIXED: return NULL;
   case DUET_SCHEMA_UUID: return "binData";
   default: return duet_schema_bson_type_name(type);
   }
}

static void validator_element(const duet_schema_type_t *type, bson_t *out)
{
   if (type->element == DUET_SCHEMA_OBJECT && type->object) {
      validator_object(type->object, out);
      return;
   }
   const char *name = validator_bson_type(type->element);
   if (name) {
      BSON_APPEND_UTF8(out, "bsonType", name);
   }
}

static void validator_property(const duet_schema_property_t *property, bson_t *out)
{
   bson_t items;
   switch (property->type.container) {
   case DUET_SCHEMA_SINGLE: validator_element(&property->type, out); break;
   case DUET_SCHEMA_LIST:
   case DUET_SCHEMA_SET:
      BSON_APPEND_UTF8(out, "bsonType", "array");
      if (property->type.container == DUET_SCHEMA_SET) {
         BSON_APPEND_BOOL(out, "uniqueItems", true);
      }
      BSON_APPEND_DOCUMENT_BEGIN(out, "items", &items);
      validator_element(&property->type, &items);
      bson_append_document_end(out, &items);
      break;
   case DUET_SCHEMA_DICTIONARY:
      BSON_APPEND_UTF8(out, "bsonType", "object");
      BSON_APPEND_DOCUMENT_BEGIN(out, "additionalProperties", &items);
      validator_element(&property->type, &items);
      bson_append_document_end(out, &items);
      break;
   }
}

static void validator_object(const duet_schema_object_t *object, bson_t *out)
{
   bson_t required, properties, child;
   char key[16];
   const char *key_text;
   BSON_APPEND_UTF8(out, "bsonType", "object");
   uint32_t index = 0;
   for (size_t i = 0; i < object->property_count; i++) {
      /* a required property with a default is filled by clients, as Sync's validation allows */
      if (object->properties[i].required && !object->properties[i].has_default) {
         if (index == 0) {
            BSON_APPEND_ARRAY_BEGIN(out, "required", &required);
         }
         bson_uint32_to_string(index++, &key_text, key, sizeof key);
         bson_append_utf8(&required, key_text, -1, object->properties[i].name, -1);
      }
   }
   if (index > 0) {
      bson_append_array_end(out, &required);
   }
   BSON_APPEND_DOCUMENT_BEGIN(out, "properties", &properties);
   for (size_t i = 0; i < object->property_count; i++) {
      bson_append_document_begin(&properties, object->properties[i].name, -1, &child);
      validator_property(&object->properties[i], &child);
      bson_append_document_end(&properties, &child);
   }
   bson_append_document_end(out, &properties);
}

void duet_partner_schema_validator(const duet_schema_t *schema, bson_t *out)
{
   bson_t json_schema;
   bson_init(out);
   BSON_APPEND_DOCUMENT_BEGIN(out, "$jsonSchema", &json_schema);
   validator_object(&schema->root, &json_schema);
   bson_append_document_end(out, &json_schema);
}

/* ---- equality up to field order ---------------------------------------------------------- */

typedef struct {
   const char *key;
   bson_iter_t iter;
} sorted_field_t;

static int sorted_field_compare(const void *a, const void *b)
{
   return strcmp(((const sorted_field_t *)a)->key, ((const sorted_field_t *)b)->key);
}

static void normalize_into(bson_iter_t *iter, bool is_array, bson_t *out);

static void normalize_value(bson_iter_t *iter, const char *key, bson_t *out)
{
   bson_t child;
   bson_iter_t inner;
   if (BSON_ITER_HOLDS_DOCUMENT(iter) && bson_iter_recurse(iter, &inner)) {
      bson_append_document_begin(out, key, -1, &child);
      normalize_into(&inner, false, &child);
      bson_append_document_end(out, &child);
   } else if (BSON_ITER_HOLDS_ARRAY(iter) && bson_iter_recurse(iter, &inner)) {
      bson_append_array_begin(out, key, -1, &child);
      normalize_into(&inner, true, &child);
      bson_append_array_end(out, &child);
   } else {
      bson_append_iter(out, key, -1, iter);
   }
}

static void normalize_into(bson_iter_t *iter, bool is_array, bson_t *out)
{
   size_t count = 0, capacity = 8;
   sorted_field_t *fields = bson_malloc(capacity * sizeof *fields);
   while (bson_iter_next(iter)) {
      if (count == capacity) {
         capacity *= 2;
         fields = bson_realloc(fields, capacity * sizeof *fields);
      }
      fields[count].key = bson_iter_key(iter);
      fields[count].iter = *iter;
      count++;
   }
   if (!is_array) {
      qsort(fields, count, sizeof *fields, sorted_field_compare);
   }
   for (size_t i = 0; i < count; i++) {
      normalize_value(&fields[i].iter, fields[i].key, out);
   }
   bson_free(fields);
}

static void normalize(const bson_t *doc, bson_t *out)
{
   bson_iter_t iter;
   bson_init(out);
   if (bson_iter_init(&iter, doc)) {
      normalize_into(&iter, false, out);
   }
}

bool duet_partner_docs_equal(const bson_t *a, const bson_t *b)
{
   if (a->len == b->len && memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0) {
      return true;
   }
   bson_t na, nb;
   normalize(a, &na);
   normalize(b, &nb);
   /* duet_doc_compare equates numbers across types (int 1 == long 1); a transform that turns
    * an int into a long is still a difference for Sync, so the bytes must match too */
   bool equal = duet_doc_compare(&na, &nb) == 0 && na.len == nb.len &&
                memcmp(bson_get_data(&na), bson_get_data(&nb), na.len) == 0;
   bson_destroy(&na);
   bson_destroy(&nb);
   return equal;
}
