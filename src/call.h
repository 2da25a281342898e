/* One operation called from Lua: options, the batch of one, results. */
#ifndef SK_CALL_H
#define SK_CALL_H

#include "batch.h"

/* Registry key of the Lua iterator factory (set by scalekit.lua):
 * function(client, operation_id, params, pages, who) -> for-loop values. */
#define SK_ITERATE_KEY "scalekit.iterate"

typedef struct sk_call_options {
  double timeout;    /* 0: the client's */
  int want_response; /* also return {status, request_id, max_age} */
} sk_call_options;

/* Reads per-call options from the table at idx (0: none); raises naming
 * who on unknown or wrong ones. */
sk_call_options sk_call_options_read(lua_State *L, int idx, const char *who);
/* Builds (raising on mistakes) and runs op for the client at client_idx;
 * pushes `value [, response]` or `nil, err` and returns their count. */
int sk_call_run(lua_State *L, int client_idx, const sk_operation *op, int params_idx,
                const sk_call_options *opts, const char *who);
/* Returns the for-loop values of the Lua iterator over op. */
int sk_call_iterate(lua_State *L, int client_idx, const sk_operation *op, int params_idx, int pages,
                    const char *who);

#endif
