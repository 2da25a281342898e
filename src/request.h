/* Lua params -> one HTTP request for an operation row. */
#ifndef SK_REQUEST_H
#define SK_REQUEST_H

#include "catalog.h"
#include "client.h"

typedef struct sk_request {
  const sk_operation *op;
  sk_buf url;
  sk_buf body;
  const char *content_type; /* NULL: no body */
  int own_credentials;      /* CLIENT_AUTH: the client's id and secret went out */
  sk_mask secrets;          /* values of a credentials form, masked like secrets */
} sk_request;

void sk_request_init(sk_request *req);
/* Validates the params table at params_idx (0: none) against op and
 * builds the URL and body into req, which the caller owns (and frees
 * even when this raises). Params are read raw, each value once: it is
 * checked right before it is written. Raises naming `who` on a
 * programming mistake. */
void sk_request_build(lua_State *L, const sk_client *c, const sk_operation *op, int params_idx,
                      const char *who, sk_request *req);
void sk_request_free(sk_request *req);
/* Checks a path parameter value (the string at idx); raises naming who
 * and what (e.g. "argument #1 (id)"). */
void sk_request_check_path_value(lua_State *L, int idx, const char *who, const char *what);

#endif
