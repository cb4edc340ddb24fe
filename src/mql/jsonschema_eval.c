/*
 * jsonschema_eval.c — evaluates a parsed $jsonSchema against documents and
 * builds the errInfo.details MongoDB reports for a document that fails
 * (schemaRulesNotSatisfied / propertiesNotSatisfied / missingProperties /
 * consideredValue / consideredType ..., doc_validation_error.cpp).
 *
 * JSON Schema semantics: a restriction keyword (minimum, maxLength, items,
 * required, ...) applies only when the value has the type it restricts; a
 * property listed in `properties` but absent from the document is not
 * checked; scalar and array restrictions of the top-level schema never fail
 * (the top level is always a document).
 */
#include "jsonschema_internal.h"

#include <duet/doc.h>

#include <math.h>
#include <string.h>

static void value_document(const bson_value_t *value, bson_t *out)
{
   if (!bson_init_static(out, value->value.v_doc.data, value->value.v_doc.data_len)) {
      bson_init(out); /* malformed nested BSON reads as empty */
   }
}

static bool type_in_mask(uint64_t mask, bson_type_t type)
{
   if ((mask & 1u) && duet_type_is_number(type)) {
      return true;
   }
   int bit = type == BSON_TYPE_MINKEY ? 20 : type == BSON_TYPE_MAXKEY ? 21 : (int)type;
   return bit < 64 && (mask & ((uint64_t)1 << bit));
}

/* Equality ignoring the order of fields in documents (UnorderedFieldsBSONElementComparator). */
static bool unordered_equal(const bson_value_t *a, const bson_value_t *b)
{
   if (a->value_type == BSON_TYPE_DOCUMENT && b->value_type == BSON_TYPE_DOCUMENT) {
      bson_t da, db;
      value_document(a, &da);
      value_document(b, &db);
      if (bson_count_keys(&da) != bson_count_keys(&db)) {
         return false;
      }
      bson_iter_t ia;
      bson_iter_init(&ia, &da);
      while (bson_iter_next(&ia)) {
         bson_iter_t ib;
         if (!bson_iter_init_find(&ib, &db, bson_iter_key(&ia)) ||
             !unordered_equal(bson_iter_value(&ia), bson_iter_value(&ib))) {
            return false;
         }
      }
      return true;
   }
   if (a->value_type == BSON_TYPE_ARRAY && b->value_type == BSON_TYPE_ARRAY) {
      bson_t da, db;
      value_document(a, &da);
      value_document(b, &db);
      bson_iter_t ia, ib;
      bson_iter_init(&ia, &da);
      bson_iter_init(&ib, &db);
      for (;;) {
         bool more_a = bson_iter_next(&ia), more_b = bson_iter_next(&ib);
         if (more_a != more_b) {
            return false;
         }
         if (!more_a) {
            return true;
         }
         if (!unordered_equal(bson_iter_value(&ia), bson_iter_value(&ib))) {
            return false;
         }
      }
   }
   return duet_value_compare(a, b) == 0;
}

static size_t utf8_length(const char *text, size_t bytes)
{
   size_t count = 0;
   for (size_t i = 0; i < bytes; i++) {
      if (((unsigned char)text[i] & 0xC0) != 0x80) {
         count++;
      }
   }
   return count;
}

static bool has_field(const bson_t *doc, const char *name)
{
   bson_iter_t it;
   return bson_iter_init_find(&it, doc, name);
}

/* ---- per-keyword checks (each true when satisfied) ---------------------------------------------- */

static bool check_type(const duet_jsonschema_t *s, const bson_value_t *v)
{
   return !s->type_keyword || type_in_mask(s->type_mask, v->value_type);
}

static bool check_enum(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (!s->has_enum) {
      return true;
   }
   bson_t values;
   value_document(&s->enum_spec, &values);
   bson_iter_t it;
   bson_iter_init(&it, &values);
   while (bson_iter_next(&it)) {
      if (s->top_level && !BSON_ITER_HOLDS_DOCUMENT(&it)) {
         continue; /* the top level is always a document */
      }
      if (unordered_equal(bson_iter_value(&it), v)) {
         return true;
      }
   }
   return false;
}

static bool is_number(const bson_value_t *v)
{
   return duet_type_is_number(v->value_type);
}

static bool check_minimum(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (!s->has_minimum || s->top_level || !is_number(v)) {
      return true;
   }
   match_kind_t kind = s->exclusive_minimum ? MATCH_GT : MATCH_GTE;
   return match_compare_matches(kind, &s->minimum, v);
}

static bool check_maximum(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (!s->has_maximum || s->top_level || !is_number(v)) {
      return true;
   }
   match_kind_t kind = s->exclusive_maximum ? MATCH_LT : MATCH_LTE;
   return match_compare_matches(kind, &s->maximum, v);
}

static bool check_multiple_of(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (!s->has_multiple_of || s->top_level || !is_number(v)) {
      return true;
   }
   if (v->value_type != BSON_TYPE_DECIMAL128 && s->multiple_of.value_type != BSON_TYPE_DECIMAL128) {
      if (v->value_type != BSON_TYPE_DOUBLE && s->multiple_of.value_type != BSON_TYPE_DOUBLE) {
         int64_t a = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
         int64_t b =
             s->multiple_of.value_type == BSON_TYPE_INT32 ? s->multiple_of.value.v_int32 : s->multiple_of.value.v_int64;
         return b == -1 || a % b == 0;
      }
      double a = v->value_type == BSON_TYPE_DOUBLE  ? v->value.v_double
                 : v->value_type == BSON_TYPE_INT32 ? (double)v->value.v_int32
                                                    : (double)v->value.v_int64;
      double b = s->multiple_of.value_type == BSON_TYPE_DOUBLE  ? s->multiple_of.value.v_double
                 : s->multiple_of.value_type == BSON_TYPE_INT32 ? (double)s->multiple_of.value.v_int32
                                                                : (double)s->multiple_of.value.v_int64;
      return fmod(a, b) == 0.0;
   }
   bson_decimal128_t a = duet_decimal_from_value(v), b = duet_decimal_from_value(&s->multiple_of);
   if (duet_decimal_is_nan(a) || duet_decimal_is_infinite(a)) {
      return false;
   }
   bson_decimal128_t quotient = duet_decimal_divide(a, b);
   int64_t whole;
   if (!duet_decimal_to_int64(quotient, &whole)) {
      return false;
   }
   return duet_decimal_compare(duet_decimal_multiply(duet_decimal_from_int64(whole), b), a) == 0;
}

static bool check_length(const duet_jsonschema_t *s, const bson_value_t *v, bool maximum)
{
   int64_t limit = maximum ? s->max_length : s->min_length;
   if (limit < 0 || s->top_level || v->value_type != BSON_TYPE_UTF8) {
      return true;
   }
   int64_t length = (int64_t)utf8_length(v->value.v_utf8.str, v->value.v_utf8.len);
   return maximum ? length <= limit : length >= limit;
}

static bool check_pattern(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (!s->pattern_regex || s->top_level || v->value_type != BSON_TYPE_UTF8) {
      return true;
   }
   return match_regex_matches_string(s->pattern_regex, v->value.v_utf8.str, v->value.v_utf8.len);
}

static int64_t array_count(const bson_value_t *v)
{
   bson_t array;
   value_document(v, &array);
   return (int64_t)bson_count_keys(&array);
}

static bool check_items_count(const duet_jsonschema_t *s, const bson_value_t *v, bool maximum)
{
   int64_t limit = maximum ? s->max_items : s->min_items;
   if (limit < 0 || s->top_level || v->value_type != BSON_TYPE_ARRAY) {
      return true;
   }
   int64_t count = array_count(v);
   return maximum ? count <= limit : count >= limit;
}

/* Index of the first element equal to an earlier one, or -1. */
static int64_t first_duplicate(const bson_value_t *v, bson_value_t *duplicate)
{
   bson_t array;
   value_document(v, &array);
   bson_iter_t a;
   bson_iter_init(&a, &array);
   for (int64_t i = 0; bson_iter_next(&a); i++) {
      bson_iter_t b;
      bson_iter_init(&b, &array);
      for (int64_t j = 0; j < i && bson_iter_next(&b); j++) {
         if (unordered_equal(bson_iter_value(&a), bson_iter_value(&b))) {
            if (duplicate) {
               *duplicate = *bson_iter_value(&a);
            }
            return i;
         }
      }
   }
   return -1;
}

static bool check_unique(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (!s->unique_items || s->top_level || v->value_type != BSON_TYPE_ARRAY) {
      return true;
   }
   return first_duplicate(v, NULL) < 0;
}

/* Index of the first element failing items / additionalItems, or -1. */
static int64_t failing_item(const duet_jsonschema_t *s, const bson_value_t *v, bool additional,
                            const duet_jsonschema_t **schema_out)
{
   bson_t array;
   value_document(v, &array);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   for (int64_t i = 0; bson_iter_next(&it); i++) {
      const duet_jsonschema_t *schema = NULL;
      bool allowed = true;
      bool in_list = s->items_is_array && (size_t)i < s->item_list_count;
      if (!additional) {
         if (s->items_is_array) {
            schema = in_list ? s->item_list[i] : NULL;
         } else {
            schema = s->items;
         }
      } else if (s->items_is_array && !in_list) {
         schema = s->additional_items;
         allowed = s->additional_items_allowed;
      }
      if (!allowed || (schema && !jsonschema_value_matches(schema, bson_iter_value(&it)))) {
         if (schema_out) {
            *schema_out = schema;
         }
         return i;
      }
   }
   return -1;
}

static bool check_items(const duet_jsonschema_t *s, const bson_value_t *v, bool additional)
{
   if (s->top_level || v->value_type != BSON_TYPE_ARRAY) {
      return true;
   }
   if (!additional && !s->has_items) {
      return true;
   }
   if (additional && (!s->has_additional_items || !s->items_is_array)) {
      return true;
   }
   return failing_item(s, v, additional, NULL) < 0;
}

static bool object_of(const duet_jsonschema_t *s, const bson_value_t *v, bson_t *out)
{
   (void)s;
   if (v->value_type != BSON_TYPE_DOCUMENT) {
      return false;
   }
   value_document(v, out);
   return true;
}

static bool check_required_missing(const duet_jsonschema_t *s, const bson_t *object)
{
   if (!s->has_required) {
      return true;
   }
   bson_t names;
   value_document(&s->required_spec, &names);
   bson_iter_t it;
   bson_iter_init(&it, &names);
   while (bson_iter_next(&it)) {
      if (!has_field(object, bson_iter_utf8(&it, NULL))) {
         return false;
      }
   }
   return true;
}

static const duet_jsonschema_t *property_schema(const duet_jsonschema_t *s, const char *name)
{
   for (size_t i = 0; i < s->property_count; i++) {
      if (strcmp(s->properties[i].name, name) == 0) {
         return s->properties[i].schema;
      }
   }
   return NULL;
}

static bool is_named_property(const duet_jsonschema_t *s, const char *name)
{
   return property_schema(s, name) != NULL;
}

static bool check_properties(const duet_jsonschema_t *s, const bson_t *object)
{
   bson_iter_t it;
   bson_iter_init(&it, object);
   while (bson_iter_next(&it)) {
      const duet_jsonschema_t *schema = property_schema(s, bson_iter_key(&it));
      if (schema && !jsonschema_value_matches(schema, bson_iter_value(&it))) {
         return false;
      }
   }
   return true;
}

/* patternProperties + additionalProperties for one field; true when satisfied. */
static bool check_allowed_property(const duet_jsonschema_t *s, bson_iter_t *field)
{
   const char *name = bson_iter_key(field);
   bool matched_pattern = false;
   for (size_t i = 0; i < s->pattern_property_count; i++) {
      if (match_regex_matches_string(s->pattern_properties[i].regex, name, strlen(name))) {
         matched_pattern = true;
         if (!jsonschema_value_matches(s->pattern_properties[i].schema, bson_iter_value(field))) {
            return false;
         }
      }
   }
   if (matched_pattern || is_named_property(s, name) || !s->has_additional_properties) {
      return true;
   }
   if (!s->additional_properties_allowed) {
      return false;
   }
   return !s->additional_properties || jsonschema_value_matches(s->additional_properties, bson_iter_value(field));
}

static bool check_allowed_properties(const duet_jsonschema_t *s, const bson_t *object)
{
   if (!s->has_pattern_properties && !s->has_additional_properties) {
      return true;
   }
   bson_iter_t it;
   bson_iter_init(&it, object);
   while (bson_iter_next(&it)) {
      if (!check_allowed_property(s, &it)) {
         return false;
      }
   }
   return true;
}

static bool check_property_count(const duet_jsonschema_t *s, const bson_t *object, bool maximum)
{
   int64_t limit = maximum ? s->max_properties : s->min_properties;
   if (limit < 0) {
      return true;
   }
   int64_t count = (int64_t)bson_count_keys(object);
   return maximum ? count <= limit : count >= limit;
}

static bool check_dependency(const jsonschema_dependency_t *d, const bson_t *object, const bson_value_t *v)
{
   if (!has_field(object, d->name)) {
      return true;
   }
   if (d->schema) {
      return jsonschema_value_matches(d->schema, v);
   }
   bson_t names;
   value_document(&d->required, &names);
   bson_iter_t it;
   bson_iter_init(&it, &names);
   while (bson_iter_next(&it)) {
      if (!has_field(object, bson_iter_utf8(&it, NULL))) {
         return false;
      }
   }
   return true;
}

static bool check_object(const duet_jsonschema_t *s, const bson_value_t *v)
{
   bson_t object;
   if (!object_of(s, v, &object)) {
      return true;
   }
   if (!check_required_missing(s, &object) || !check_properties(s, &object) || !check_allowed_properties(s, &object) ||
       !check_property_count(s, &object, false) || !check_property_count(s, &object, true)) {
      return false;
   }
   for (size_t i = 0; i < s->dependency_count; i++) {
      if (!check_dependency(&s->dependencies[i], &object, v)) {
         return false;
      }
   }
   return true;
}

static size_t count_matching(duet_jsonschema_t *const *list, size_t count, const bson_value_t *v)
{
   size_t matching = 0;
   for (size_t i = 0; i < count; i++) {
      matching += jsonschema_value_matches(list[i], v) ? 1 : 0;
   }
   return matching;
}

static bool check_logical(const duet_jsonschema_t *s, const bson_value_t *v)
{
   if (s->all_of_count && count_matching(s->all_of, s->all_of_count, v) != s->all_of_count) {
      return false;
   }
   if (s->any_of_count && count_matching(s->any_of, s->any_of_count, v) == 0) {
      return false;
   }
   if (s->one_of_count && count_matching(s->one_of, s->one_of_count, v) != 1) {
      return false;
   }
   if (s->not_schema && jsonschema_value_matches(s->not_schema, v)) {
      return false;
   }
   return true;
}

static bool top_level_type_allows_object(const duet_jsonschema_t *s)
{
   return !s->top_level || !s->type_keyword || type_in_mask(s->type_mask, BSON_TYPE_DOCUMENT);
}

bool jsonschema_value_matches(const duet_jsonschema_t *s, const bson_value_t *v)
{
   return top_level_type_allows_object(s) && check_type(s, v) && check_pattern(s, v) && check_length(s, v, true) &&
          check_length(s, v, false) && check_multiple_of(s, v) && check_maximum(s, v) && check_minimum(s, v) &&
          check_items_count(s, v, false) && check_items_count(s, v, true) && check_unique(s, v) &&
          check_items(s, v, false) && check_items(s, v, true) && check_object(s, v) && check_logical(s, v) &&
          check_enum(s, v);
}

bool duet_jsonschema_matches(const duet_jsonschema_t *schema, const bson_t *doc)
{
   bson_value_t value;
   value.value_type = BSON_TYPE_DOCUMENT;
   value.value.v_doc.data = (uint8_t *)bson_get_data(doc);
   value.value.v_doc.data_len = doc->len;
   return jsonschema_value_matches(schema, &value);
}

/* ---- errInfo.details -------------------------------------------------------------------------------- */

static void explain_rules(const duet_jsonschema_t *s, const bson_value_t *v, rule_list_t *rules);

static void append_specified(bson_t *rule, const char *keyword, const bson_value_t *spec)
{
   bson_t specified;
   bson_append_document_begin(rule, "specifiedAs", -1, &specified);
   bson_append_value(&specified, keyword, -1, spec);
   bson_append_document_end(rule, &specified);
}

/* {operatorName, specifiedAs: {keyword: spec}, reason, consideredValue[, consideredType]} */
static void append_value_rule(rule_list_t *rules, const char *keyword, const bson_value_t *spec, const char *reason,
                              const bson_value_t *v, bool with_type)
{
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", keyword);
   append_specified(&rule, keyword, spec);
   BSON_APPEND_UTF8(&rule, "reason", reason);
   BSON_APPEND_VALUE(&rule, "consideredValue", v);
   if (with_type) {
      BSON_APPEND_UTF8(&rule, "consideredType", duet_type_name(v->value_type));
   }
   list_doc_end(rules, &rule);
}

static void append_subschema_details(bson_t *parent, const char *key, const duet_jsonschema_t *s, const bson_value_t *v)
{
   rule_list_t details_list, *details = &details_list;
   list_begin(parent, key, details);
   explain_rules(s, v, details);
   list_end(parent, details);
}

static void explain_comparison(const duet_jsonschema_t *s, const bson_value_t *v, rule_list_t *rules, bool maximum)
{
   const char *keyword = maximum ? "maximum" : "minimum";
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", keyword);
   bson_t specified;
   BSON_APPEND_DOCUMENT_BEGIN(&rule, "specifiedAs", &specified);
   BSON_APPEND_VALUE(&specified, keyword, maximum ? &s->maximum : &s->minimum);
   if (maximum ? s->has_exclusive_maximum : s->has_exclusive_minimum) {
      BSON_APPEND_BOOL(&specified, maximum ? "exclusiveMaximum" : "exclusiveMinimum",
                       maximum ? s->exclusive_maximum : s->exclusive_minimum);
   }
   bson_append_document_end(&rule, &specified);
   BSON_APPEND_UTF8(&rule, "reason", "comparison failed");
   BSON_APPEND_VALUE(&rule, "consideredValue", v);
   list_doc_end(rules, &rule);
}

static void explain_items(const duet_jsonschema_t *s, const bson_value_t *v, rule_list_t *rules, bool additional)
{
   const duet_jsonschema_t *failing = NULL;
   int64_t index = failing_item(s, v, additional, &failing);
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", additional ? "additionalItems" : "items");
   if (additional && !s->additional_items_allowed) {
      bson_value_t no = {.value_type = BSON_TYPE_BOOL};
      append_specified(&rule, "additionalItems", &no);
      BSON_APPEND_UTF8(&rule, "reason", "found additional items");
      bson_t array;
      value_document(v, &array);
      rule_list_t extra_list, *extra = &extra_list;
      list_begin(&rule, "additionalItems", extra);
      bson_iter_t it;
      bson_iter_init(&it, &array);
      for (int64_t i = 0; bson_iter_next(&it); i++) {
         if (i >= (int64_t)s->item_list_count) {
            list_append_value(extra, bson_iter_value(&it));
         }
      }
      list_end(&rule, extra);
   } else {
      BSON_APPEND_UTF8(&rule, "reason",
                       additional ? "At least one additional item did not match the sub-schema"
                                  : "At least one item did not match the sub-schema");
      BSON_APPEND_INT32(&rule, "itemIndex", (int32_t)index); /* appendNumber: an int when it fits */
      if (failing) {
         bson_t array;
         value_document(v, &array);
         bson_iter_t it;
         bson_iter_init(&it, &array);
         for (int64_t i = 0; bson_iter_next(&it) && i <= index; i++) {
            if (i == index) {
               append_subschema_details(&rule, "details", failing, bson_iter_value(&it));
            }
         }
      }
   }
   list_doc_end(rules, &rule);
}

static void explain_required(const duet_jsonschema_t *s, const bson_t *object, rule_list_t *rules)
{
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", "required");
   append_specified(&rule, "required", &s->required_spec);
   rule_list_t missing_list, *missing = &missing_list;
   list_begin(&rule, "missingProperties", missing);
   /* MongoDB keeps required names in a sorted set */
   bson_t names;
   value_document(&s->required_spec, &names);
   const char *previous = NULL;
   for (;;) {
      const char *next = NULL;
      bson_iter_t it;
      bson_iter_init(&it, &names);
      while (bson_iter_next(&it)) {
         const char *name = bson_iter_utf8(&it, NULL);
         if ((!previous || strcmp(name, previous) > 0) && (!next || strcmp(name, next) < 0)) {
            next = name;
         }
      }
      if (!next) {
         break;
      }
      if (!has_field(object, next)) {
         list_append_utf8(missing, next);
      }
      previous = next;
   }
   list_end(&rule, missing);
   list_doc_end(rules, &rule);
}

static void explain_properties(const duet_jsonschema_t *s, const bson_t *object, rule_list_t *rules)
{
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", "properties");
   rule_list_t failing_list, *failing = &failing_list;
   list_begin(&rule, "propertiesNotSatisfied", failing);
   for (size_t i = 0; i < s->property_count; i++) {
      bson_iter_t it;
      if (!bson_iter_init_find(&it, object, s->properties[i].name) ||
          jsonschema_value_matches(s->properties[i].schema, bson_iter_value(&it))) {
         continue;
      }
      bson_t entry;
      list_doc_begin(failing, &entry);
      BSON_APPEND_UTF8(&entry, "propertyName", s->properties[i].name);
      if (s->properties[i].schema->title) {
         BSON_APPEND_UTF8(&entry, "title", s->properties[i].schema->title);
      }
      if (s->properties[i].schema->description) {
         BSON_APPEND_UTF8(&entry, "description", s->properties[i].schema->description);
      }
      append_subschema_details(&entry, "details", s->properties[i].schema, bson_iter_value(&it));
      list_doc_end(failing, &entry);
   }
   list_end(&rule, failing);
   list_doc_end(rules, &rule);
}

static void explain_allowed_properties(const duet_jsonschema_t *s, const bson_t *object, rule_list_t *rules)
{
   /* patternProperties failures */
   bool pattern_failed = false;
   bson_iter_t it;
   bson_iter_init(&it, object);
   while (bson_iter_next(&it)) {
      const char *name = bson_iter_key(&it);
      for (size_t i = 0; i < s->pattern_property_count; i++) {
         if (match_regex_matches_string(s->pattern_properties[i].regex, name, strlen(name)) &&
             !jsonschema_value_matches(s->pattern_properties[i].schema, bson_iter_value(&it))) {
            pattern_failed = true;
         }
      }
   }
   if (pattern_failed) {
      bson_t rule;
      list_doc_begin(rules, &rule);
      BSON_APPEND_UTF8(&rule, "operatorName", "patternProperties");
      rule_list_t details_list, *details = &details_list;
      list_begin(&rule, "details", details);
      bson_iter_init(&it, object);
      while (bson_iter_next(&it)) {
         const char *name = bson_iter_key(&it);
         for (size_t i = 0; i < s->pattern_property_count; i++) {
            const jsonschema_pattern_property_t *p = &s->pattern_properties[i];
            if (match_regex_matches_string(p->regex, name, strlen(name)) &&
                !jsonschema_value_matches(p->schema, bson_iter_value(&it))) {
               bson_t entry;
               list_doc_begin(details, &entry);
               BSON_APPEND_UTF8(&entry, "propertyName", name);
               BSON_APPEND_UTF8(&entry, "regexMatched", p->pattern);
               append_subschema_details(&entry, "details", p->schema, bson_iter_value(&it));
               list_doc_end(details, &entry);
            }
         }
      }
      list_end(&rule, details);
      list_doc_end(rules, &rule);
   }
   if (!s->has_additional_properties) {
      return;
   }
   /* additionalProperties failures: fields neither named nor matching a pattern */
   bool any = false;
   bson_iter_init(&it, object);
   while (bson_iter_next(&it)) {
      const char *name = bson_iter_key(&it);
      bool covered = is_named_property(s, name);
      for (size_t i = 0; !covered && i < s->pattern_property_count; i++) {
         covered = match_regex_matches_string(s->pattern_properties[i].regex, name, strlen(name));
      }
      if (covered) {
         continue;
      }
      if (!s->additional_properties_allowed ||
          (s->additional_properties && !jsonschema_value_matches(s->additional_properties, bson_iter_value(&it)))) {
         any = true;
      }
   }
   if (!any) {
      return;
   }
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", "additionalProperties");
   if (!s->additional_properties_allowed) {
      bson_value_t no = {.value_type = BSON_TYPE_BOOL};
      append_specified(&rule, "additionalProperties", &no);
      rule_list_t names_list, *names = &names_list;
      list_begin(&rule, "additionalProperties", names);
      bson_iter_init(&it, object);
      while (bson_iter_next(&it)) {
         const char *name = bson_iter_key(&it);
         bool covered = is_named_property(s, name);
         for (size_t i = 0; !covered && i < s->pattern_property_count; i++) {
            covered = match_regex_matches_string(s->pattern_properties[i].regex, name, strlen(name));
         }
         if (!covered) {
            list_append_utf8(names, name);
         }
      }
      list_end(&rule, names);
   } else {
      BSON_APPEND_UTF8(&rule, "reason", "at least one additional property did not match the subschema");
      bson_iter_init(&it, object);
      while (bson_iter_next(&it)) {
         const char *name = bson_iter_key(&it);
         bool covered = is_named_property(s, name);
         for (size_t i = 0; !covered && i < s->pattern_property_count; i++) {
            covered = match_regex_matches_string(s->pattern_properties[i].regex, name, strlen(name));
         }
         if (!covered && !jsonschema_value_matches(s->additional_properties, bson_iter_value(&it))) {
            BSON_APPEND_UTF8(&rule, "failingProperty", name);
            append_subschema_details(&rule, "details", s->additional_properties, bson_iter_value(&it));
            break;
         }
      }
   }
   list_doc_end(rules, &rule);
}

static void explain_property_count(const duet_jsonschema_t *s, const bson_t *object, rule_list_t *rules, bool maximum)
{
   const char *keyword = maximum ? "maxProperties" : "minProperties";
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", keyword);
   append_specified(&rule, keyword, maximum ? &s->max_properties_spec : &s->min_properties_spec);
   BSON_APPEND_UTF8(&rule, "reason", "specified number of properties was not satisfied");
   BSON_APPEND_INT32(&rule, "numberOfProperties", (int32_t)bson_count_keys(object));
   list_doc_end(rules, &rule);
}

static void explain_dependencies(const duet_jsonschema_t *s, const bson_t *object, const bson_value_t *v,
                                 rule_list_t *rules)
{
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", "dependencies");
   rule_list_t failing_list, *failing = &failing_list;
   list_begin(&rule, "failingDependencies", failing);
   for (size_t i = 0; i < s->dependency_count; i++) {
      const jsonschema_dependency_t *d = &s->dependencies[i];
      if (check_dependency(d, object, v)) {
         continue;
      }
      bson_t entry;
      list_doc_begin(failing, &entry);
      BSON_APPEND_UTF8(&entry, "conditionalProperty", d->name);
      if (d->schema) {
         append_subschema_details(&entry, "details", d->schema, v);
      } else {
         rule_list_t missing_list, *missing = &missing_list;
         list_begin(&entry, "missingProperties", missing);
         bson_t names;
         value_document(&d->required, &names);
         bson_iter_t it;
         bson_iter_init(&it, &names);
         while (bson_iter_next(&it)) {
            if (!has_field(object, bson_iter_utf8(&it, NULL))) {
               list_append_utf8(missing, bson_iter_utf8(&it, NULL));
            }
         }
         list_end(&entry, missing);
      }
      list_doc_end(failing, &entry);
   }
   list_end(&rule, failing);
   list_doc_end(rules, &rule);
}

static void explain_schema_list(const char *keyword, duet_jsonschema_t *const *list, size_t count,
                                const bson_value_t *v, rule_list_t *rules)
{
   bson_t rule;
   list_doc_begin(rules, &rule);
   BSON_APPEND_UTF8(&rule, "operatorName", keyword);
   rule_list_t failing_list, *failing = &failing_list;
   list_begin(&rule, "schemasNotSatisfied", failing);
   for (size_t i = 0; i < count; i++) {
      if (jsonschema_value_matches(list[i], v)) {
         continue;
      }
      bson_t entry;
      list_doc_begin(failing, &entry);
      BSON_APPEND_INT32(&entry, "index", (int32_t)i);
      append_subschema_details(&entry, "details", list[i], v);
      list_doc_end(failing, &entry);
   }
   list_end(&rule, failing);
   list_doc_end(rules, &rule);
}

static void explain_logical(const duet_jsonschema_t *s, const bson_value_t *v, rule_list_t *rules)
{
   if (s->all_of_count && count_matching(s->all_of, s->all_of_count, v) != s->all_of_count) {
      explain_schema_list("allOf", s->all_of, s->all_of_count, v, rules);
   }
   if (s->any_of_count && count_matching(s->any_of, s->any_of_count, v) == 0) {
      explain_schema_list("anyOf", s->any_of, s->any_of_count, v, rules);
   }
   if (s->one_of_count) {
      size_t matching = count_matching(s->one_of, s->one_of_count, v);
      if (matching == 0) {
         explain_schema_list("oneOf", s->one_of, s->one_of_count, v, rules);
      } else if (matching > 1) {
         bson_t rule;
         list_doc_begin(rules, &rule);
         BSON_APPEND_UTF8(&rule, "operatorName", "oneOf");
         BSON_APPEND_UTF8(&rule, "reason", "more than one subschema matched");
         rule_list_t indexes_list, *indexes = &indexes_list;
         list_begin(&rule, "matchingSchemaIndexes", indexes);
         for (size_t i = 0; i < s->one_of_count; i++) {
            if (jsonschema_value_matches(s->one_of[i], v)) {
               list_append_int32(indexes, (int32_t)i);
            }
         }
         list_end(&rule, indexes);
         list_doc_end(rules, &rule);
      }
   }
   if (s->not_schema && jsonschema_value_matches(s->not_schema, v)) {
      bson_t rule;
      list_doc_begin(rules, &rule);
      BSON_APPEND_UTF8(&rule, "operatorName", "not");
      BSON_APPEND_UTF8(&rule, "reason", "child expression matched");
      list_doc_end(rules, &rule);
   }
}

/* Appends one rule per failing keyword of `s` for value `v`. */
static void explain_rules(const duet_jsonschema_t *s, const bson_value_t *v, rule_list_t *rules)
{
   if (!top_level_type_allows_object(s) || !check_type(s, v)) {
      append_value_rule(rules, s->type_keyword, &s->type_spec, "type did not match", v, true);
      return; /* restrictions of other types are not reported on a type mismatch */
   }
   if (!check_pattern(s, v)) {
      bson_value_t pattern = {.value_type = BSON_TYPE_UTF8};
      pattern.value.v_utf8.str = (char *)s->pattern;
      pattern.value.v_utf8.len = (uint32_t)strlen(s->pattern);
      append_value_rule(rules, "pattern", &pattern, "regular expression did not match", v, false);
   }
   if (!check_length(s, v, true)) {
      append_value_rule(rules, "maxLength", &s->max_length_spec, "specified string length was not satisfied", v, false);
   }
   if (!check_length(s, v, false)) {
      append_value_rule(rules, "minLength", &s->min_length_spec, "specified string length was not satisfied", v, false);
   }
   if (!check_multiple_of(s, v)) {
      append_value_rule(rules, "multipleOf", &s->multiple_of,
                        "considered value is not a multiple of the specified value", v, false);
   }
   if (!check_maximum(s, v)) {
      explain_comparison(s, v, rules, true);
   }
   if (!check_minimum(s, v)) {
      explain_comparison(s, v, rules, false);
   }
   for (int maximum = 0; maximum <= 1; maximum++) {
      if (!check_items_count(s, v, maximum)) {
         const char *keyword = maximum ? "maxItems" : "minItems";
         bson_t rule;
         list_doc_begin(rules, &rule);
         BSON_APPEND_UTF8(&rule, "operatorName", keyword);
         append_specified(&rule, keyword, maximum ? &s->max_items_spec : &s->min_items_spec);
         BSON_APPEND_UTF8(&rule, "reason", "array did not match specified length");
         BSON_APPEND_VALUE(&rule, "consideredValue", v);
         BSON_APPEND_INT32(&rule, "numberOfItems", (int32_t)array_count(v));
         list_doc_end(rules, &rule);
      }
   }
   if (!check_unique(s, v)) {
      bson_value_t duplicate;
      first_duplicate(v, &duplicate);
      bson_value_t yes = {.value_type = BSON_TYPE_BOOL};
      yes.value.v_bool = true;
      bson_t rule;
      list_doc_begin(rules, &rule);
      BSON_APPEND_UTF8(&rule, "operatorName", "uniqueItems");
      append_specified(&rule, "uniqueItems", &yes);
      BSON_APPEND_UTF8(&rule, "reason", "found a duplicate item");
      BSON_APPEND_VALUE(&rule, "consideredValue", v);
      BSON_APPEND_VALUE(&rule, "duplicatedValue", &duplicate);
      list_doc_end(rules, &rule);
   }
   if (!check_items(s, v, false)) {
      explain_items(s, v, rules, false);
   }
   if (!check_items(s, v, true)) {
      explain_items(s, v, rules, true);
   }
   bson_t object;
   if (object_of(s, v, &object)) {
      if (s->has_properties && !check_properties(s, &object)) {
         explain_properties(s, &object, rules);
      }
      if (!check_allowed_properties(s, &object)) {
         explain_allowed_properties(s, &object, rules);
      }
      if (!check_required_missing(s, &object)) {
         explain_required(s, &object, rules);
      }
      for (int maximum = 0; maximum <= 1; maximum++) {
         if (!check_property_count(s, &object, maximum)) {
            explain_property_count(s, &object, rules, maximum);
         }
      }
      bool dependency_failed = false;
      for (size_t i = 0; i < s->dependency_count; i++) {
         dependency_failed = dependency_failed || !check_dependency(&s->dependencies[i], &object, v);
      }
      if (dependency_failed) {
         explain_dependencies(s, &object, v, rules);
      }
   }
   explain_logical(s, v, rules);
   if (!check_enum(s, v)) {
      append_value_rule(rules, "enum", &s->enum_spec, "value was not found in enum", v, false);
   }
}

void duet_jsonschema_explain(const duet_jsonschema_t *schema, const bson_t *doc, bson_t *details)
{
   BSON_APPEND_UTF8(details, "operatorName", "$jsonSchema");
   if (schema->title) {
      BSON_APPEND_UTF8(details, "title", schema->title);
   }
   bson_value_t value;
   value.value_type = BSON_TYPE_DOCUMENT;
   value.value.v_doc.data = (uint8_t *)bson_get_data(doc);
   value.value.v_doc.data_len = doc->len;
   rule_list_t rules_list, *rules = &rules_list;
   list_begin(details, "schemaRulesNotSatisfied", rules);
   explain_rules(schema, &value, rules);
   list_end(details, rules);
}
