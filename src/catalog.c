/* Lookups over the generated tables, which are sorted for bsearch. */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"

static int by_id(const void *key, const void *row) {
  return strcmp((const char *)key, ((const sk_operation *)row)->id);
}

static int by_alias(const void *key, const void *row) {
  return strcmp((const char *)key, ((const sk_operation_alias *)row)->alias);
}

const sk_operation *sk_catalog_find(const char *id) {
  const sk_operation *op =
      bsearch(id, sk_operations, sk_operation_count, sizeof sk_operations[0], by_id);
  const sk_operation_alias *alias;
  if (op) return op;
  alias = bsearch(id, sk_operation_aliases, sk_operation_alias_count,
                  sizeof sk_operation_aliases[0], by_alias);
  return alias ? sk_catalog_find(alias->id) : NULL;
}

const sk_operation *sk_catalog_token_operation(void) {
  static const sk_operation *token;
  size_t i;
  for (i = 0; !token && i < sk_operation_count; i++)
    if (sk_operations[i].flags & SK_OP_TOKEN) token = &sk_operations[i];
  return token;
}

const sk_param *sk_catalog_param(const sk_operation *op, const char *name) {
  const sk_param *p;
  for (p = op->params; p->name; p++)
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

typedef struct method_key {
  const char *resource;
  const char *name;
} method_key;

static int by_method(const void *key, const void *row) {
  const method_key *k = (const method_key *)key;
  const sk_method *m = (const sk_method *)row;
  int c = strcmp(k->resource, m->resource);
  return c ? c : strcmp(k->name, m->name);
}

const sk_method *sk_catalog_method(const char *resource, const char *name) {
  method_key key;
  key.resource = resource;
  key.name = name;
  return bsearch(&key, sk_methods, sk_method_count, sizeof sk_methods[0], by_method);
}

int sk_catalog_positional(const sk_method *m, const sk_operation *op, const sk_param **out,
                          int max) {
  const sk_param *p;
  int n = 0;
  if (!m->positional) {
    for (p = op->params; p->name && n < max; p++)
      if (p->in == SK_IN_PATH) out[n++] = p;
    return n;
  }
  {
    const char *s = m->positional;
    while (*s && n < max) {
      const char *end = strchr(s, ',');
      size_t len = end ? (size_t)(end - s) : strlen(s);
      for (p = op->params; p->name; p++)
        if (strlen(p->name) == len && strncmp(p->name, s, len) == 0) {
          out[n++] = p;
          break;
        }
      s += len + (end ? 1 : 0);
    }
  }
  return n;
}
