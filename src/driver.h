/* Exchanges driven from Lua (the nginx layer): the policy stays in
 * exchange.c, the bytes move elsewhere (a worker thread's transport). */
#ifndef SK_DRIVER_H
#define SK_DRIVER_H

#include "call.h"

void sk_driver_register(lua_State *L);
/* core.exchange(client, operation_id, params, options, who) -> exchange;
 * who names the method in argument errors. */
int sk_driver_exchange(lua_State *L);
/* Pushes a new exchange of op for the client at client_idx (built now:
 * raises naming who on mistakes). */
void sk_driver_push_exchange(lua_State *L, int client_idx, const sk_operation *op, int params_idx,
                             const sk_call_options *opts, const char *who);
/* core.transport() -> transport: one reusable easy handle; its
 * :perform(request) -> response, as exchange:next() and :received use. */
int sk_driver_transport(lua_State *L);

#endif
