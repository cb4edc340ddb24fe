/*
 * match_details.c — errInfo.details for a document a collection validator
 * rejects (MongoDB 5.0+ doc_validation_error.cpp): the $jsonSchema report from
 * jsonschema_eval.c, and for plain query operators
 * {operatorName, specifiedAs, reason, consideredValue(s)}, with $and/$or/$nor
 * listing clausesNotSatisfied.  Also duet_jsonschema_validate().
 */
#include "jsonschema_internal.h"

#include <duet/doc.h>

#include <string.h>

typedef struct details_state {
   const bson_t *doc;
   match_context_t *context;
} details_state_t;

static void explain_node(const match_node_t *node, details_state_t *state, bool inverted, bson_t *out);

/* Values at the node's path, arrays at the leaf expanded (MongoDB's kTraverseOmitArray). */
typedef struct values_visit {
   rule_list_t *list;
   uint32_t count;
   bson_value_t first;
   bool expand;
} values_visit_t;

static bool collect_value(const bson_value_t *value, int64_t array_index, void *data)
{
   (void)array_index;
   values_visit_t *visit = data;
   if (value->value_type == BSON_TYPE_EOD) {
      return false;
   }
   if (value->value_type == BSON_TYPE_ARRAY && visit->expand) {
      bson_t elements;
      if (!bson_init_static(&elements, value->value.v_doc.data, value->value.v_doc.data_len)) {
         bson_init(&elements); /* malformed nested BSON reads as empty */
      }
      bson_iter_t it;
      bson_iter_init(&it, &elements);
      while (bson_iter_next(&it)) {
         if (visit->count++ == 0) {
            visit->first = *bson_iter_value(&it);
         }
         if (visit->list) {
            list_append_value(visit->list, bson_iter_value(&it));
         }
      }
      return false;
   }
   if (visit->count++ == 0) {
      visit->first = *value;
   }
   if (visit->list) {
      list_append_value(visit->list, value);
   }
   return false;
}

static bool path_exists(const bson_t *doc, const char *path, uint32_t *count, bson_value_t *first, bool expand)
{
   values_visit_t visit = {NULL, 0, {0}, expand};
   match_path_visit(doc, path, false, collect_value, &visit);
   *count = visit.count;
   *first = visit.first;
   /* an existing empty array yields no value but is not missing */
   if (visit.count == 0) {
      bool exists = false;
      values_visit_t probe = {NULL, 0, {0}, false};
      match_path_visit(doc, path, false, collect_value, &probe);
      exists = probe.count > 0;
      return exists;
   }
   return true;
}

static void append_considered(bson_t *out, const bson_t *doc, const char *path, bool expand)
{
   uint32_t count;
   bson_value_t first;
   path_exists(doc, path, &count, &first, expand);
   if (count == 1) {
      BSON_APPEND_VALUE(out, "consideredValue", &first);
   } else if (count > 1) {
      rule_list_t list;
      list_begin(out, "consideredValues", &list);
      values_visit_t visit = {&list, 0, {0}, expand};
      match_path_visit(doc, path, false, collect_value, &visit);
      list_end(out, &list);
   }
}

static const char *reason_for(const match_node_t *node, bool inverted)
{
   switch (node->kind) {
   case MATCH_EQ:
   case MATCH_LT:
   case MATCH_LTE:
   case MATCH_GT:
   case MATCH_GTE: return inverted ? "comparison succeeded" : "comparison failed";
   case MATCH_IN: return inverted ? "matching value found in array" : "no matching value found in array";
   case MATCH_REGEX: return inverted ? "regular expression did match" : "regular expression did not match";
   case MATCH_EXISTS: return inverted ? "path does exist" : "path does not exist";
   case MATCH_TYPE: return inverted ? "type did match" : "type did not match";
   case MATCH_SIZE:
      return inverted ? "array length was equal to given size" : "array length was not equal to given size";
   case MATCH_MOD:
      return inverted ? "$mod did evaluate to expected remainder" : "$mod did not evaluate to expected remainder";
   case MATCH_ELEM_OBJECT:
   case MATCH_ELEM_VALUE:
      return inverted ? "array did satisfy the child predicate" : "array did not satisfy the child predicate";
   case MATCH_ALWAYS_FALSE: return "expression always evaluates to false";
   default: return inverted ? "expression did match" : "expression did not match";
   }
}

/* specifiedAs: {path: {op: operand}} as the user wrote it ({path: operand} for implicit equality). */
static void append_specified(const match_node_t *node, const char *op_name, bson_t *out)
{
   bson_t specified, inner;
   BSON_APPEND_DOCUMENT_BEGIN(out, "specifiedAs", &specified);
   if (node->path) {
      bson_append_document_begin(&specified, node->path, -1, &inner);
      if (node->spec.value_type != BSON_TYPE_EOD) {
         BSON_APPEND_VALUE(&inner, op_name, &node->spec);
      }
      bson_append_document_end(&specified, &inner);
   } else if (node->spec.value_type != BSON_TYPE_EOD) {
      BSON_APPEND_VALUE(&specified, op_name, &node->spec);
   }
   bson_append_document_end(out, &specified);
}

static void explain_leaf(const match_node_t *node, const char *op_name, details_state_t *state, bool inverted,
                         bson_t *out)
{
   BSON_APPEND_UTF8(out, "operatorName", op_name);
   append_specified(node, op_name, out);
   if (!node->path) {
      BSON_APPEND_UTF8(out, "reason", reason_for(node, inverted));
      return;
   }
   uint32_t count;
   bson_value_t first;
   bool array_operator = node->kind == MATCH_SIZE || node->kind == MATCH_ELEM_OBJECT ||
                         node->kind == MATCH_ELEM_VALUE ||
                         (node->kind == MATCH_AND && node->op_name && strcmp(node->op_name, "$all") == 0);
   bool exists = path_exists(state->doc, node->path, &count, &first, !array_operator);
   if (!exists && !(inverted || node->kind == MATCH_EXISTS)) {
      if (!(node->kind == MATCH_EQ && node->value.value_type == BSON_TYPE_NULL)) {
         BSON_APPEND_UTF8(out, "reason", "field was missing");
         return;
      }
   }
   if (node->kind == MATCH_AND) {
      BSON_APPEND_UTF8(out, "reason",
                       inverted ? "array did contain all specified values"
                                : "array did not contain all specified values");
   } else {
      BSON_APPEND_UTF8(out, "reason", reason_for(node, inverted));
   }
   if (node->kind == MATCH_TYPE && count > 0) {
      BSON_APPEND_VALUE(out, "consideredValue", &first);
      BSON_APPEND_UTF8(out, "consideredType", duet_type_name(first.value_type));
      return;
   }
   append_considered(out, state->doc, node->path, !array_operator);
}

static void explain_clauses(const match_node_t *node, const char *op_name, details_state_t *state, bool inverted,
                            bson_t *out)
{
   BSON_APPEND_UTF8(out, "operatorName", op_name);
   rule_list_t list;
   list_begin(out, "clausesNotSatisfied", &list);
   for (size_t i = 0; i < node->child_count; i++) {
      bool matched = match_node_matches_doc(node->children[i], state->doc, state->context, NULL);
      /* children of $and/$or fail by not matching; children of $nor by matching */
      bool child_inverted = node->kind == MATCH_NOR ? !inverted : inverted;
      if (matched != child_inverted) {
         continue;
      }
      bson_t entry, child;
      list_doc_begin(&list, &entry);
      BSON_APPEND_INT32(&entry, "index", (int32_t)i);
      BSON_APPEND_DOCUMENT_BEGIN(&entry, "details", &child);
      explain_node(node->children[i], state, child_inverted, &child);
      bson_append_document_end(&entry, &child);
      list_doc_end(&list, &entry);
   }
   list_end(out, &list);
}

static void explain_node(const match_node_t *node, details_state_t *state, bool inverted, bson_t *out)
{
   switch (node->kind) {
   case MATCH_AND:
      if (node->op_name && strcmp(node->op_name, "$all") == 0) {
         explain_leaf(node, "$all", state, inverted, out);
         return;
      }
      explain_clauses(node, "$and", state, inverted, out);
      return;
   case MATCH_OR: explain_clauses(node, "$or", state, inverted, out); return;
   case MATCH_NOR: explain_clauses(node, "$nor", state, inverted, out); return;
   case MATCH_NOT: {
      const char *name = node->op_name ? node->op_name : "$not";
      if (strcmp(name, "$not") != 0) {
         /* $ne / $nin / {$exists: false}: reported as the operator itself, inverted */
         const match_node_t *child = node->children[0];
         BSON_APPEND_UTF8(out, "operatorName", name);
         append_specified(node, name, out);
         BSON_APPEND_UTF8(out, "reason", reason_for(child, !inverted));
         if (child->path) {
            append_considered(out, state->doc, child->path, true);
         }
         return;
      }
      BSON_APPEND_UTF8(out, "operatorName", "$not");
      bson_t child;
      BSON_APPEND_DOCUMENT_BEGIN(out, "details", &child);
      explain_node(node->children[0], state, !inverted, &child);
      bson_append_document_end(out, &child);
      return;
   }
   case MATCH_ALWAYS_FALSE:
      BSON_APPEND_UTF8(out, "operatorName", node->op_name ? node->op_name : "$alwaysFalse");
      BSON_APPEND_UTF8(out, "reason", reason_for(node, inverted));
      return;
   case MATCH_EXPR: {
      BSON_APPEND_UTF8(out, "operatorName", "$expr");
      bson_t specified;
      BSON_APPEND_DOCUMENT_BEGIN(out, "specifiedAs", &specified);
      BSON_APPEND_VALUE(&specified, "$expr", &node->spec);
      bson_append_document_end(out, &specified);
      BSON_APPEND_UTF8(out, "reason", inverted ? "expression did match" : "expression did not match");
      BSON_APPEND_BOOL(out, "expressionResult", inverted);
      return;
   }
   case MATCH_JSON_SCHEMA: duet_jsonschema_explain(node->schema, state->doc, out); return;
   default: explain_leaf(node, node->op_name ? node->op_name : "$eq", state, inverted, out); return;
   }
}

bool duet_match_validation_details(const duet_match_t *validator, const bson_t *doc, bson_t *details,
                                   duet_error_t *error)
{
   bson_init(details);
   match_context_t context = {NULL, error, false};
   details_state_t state = {doc, &context};
   explain_node(validator->root, &state, false, details);
   if (context.failed) {
      bson_reinit(details);
      return false;
   }
   return true;
}

bool duet_jsonschema_validate(const bson_t *schema, const bson_t *doc, bool *valid, bson_t *details,
                              duet_error_t *error)
{
   duet_jsonschema_t *parsed;
   if (!duet_jsonschema_parse(schema, &parsed, error)) {
      return false;
   }
   *valid = duet_jsonschema_matches(parsed, doc);
   if (details) {
      bson_init(details);
      if (!*valid) {
         duet_jsonschema_explain(parsed, doc, details);
      }
   }
   duet_jsonschema_destroy(parsed);
   return true;
}
