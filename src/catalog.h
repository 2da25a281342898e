/* Lookups over the generated operation table (operations.h). */
#ifndef SK_CATALOG_H
#define SK_CATALOG_H

#include "operations.h"

/* The operation with this operationId or alias, or NULL. */
const sk_operation *sk_catalog_find(const char *id);
/* The operation that issues the client's access token. */
const sk_operation *sk_catalog_token_operation(void);
/* The parameter the caller names `name`, or NULL. */
const sk_param *sk_catalog_param(const sk_operation *op, const char *name);
/* The method sk.<resource>:<name>, or NULL. */
const sk_method *sk_catalog_method(const char *resource, const char *name);
/* The positional parameters of m, in order: up to max into out; returns
 * their count. */
int sk_catalog_positional(const sk_method *m, const sk_operation *op, const sk_param **out,
                          int max);

#endif
