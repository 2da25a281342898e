/* The client's Lua methods and the core functions around them. */
#ifndef SK_API_H
#define SK_API_H

#include "util.h"

void sk_api_register(lua_State *L);
/* core.is_closed, core.set_token, core.peek_token, core.set_extra */
int sk_api_is_closed(lua_State *L);
int sk_api_set_token(lua_State *L);
int sk_api_peek_token(lua_State *L);
int sk_api_set_extra(lua_State *L);
/* core.method_tables() -> client methods, {resource = {name = fn}} */
int sk_api_method_tables(lua_State *L);
/* core.exchanges(client, calls, options) -> exchanges, concurrency */
int sk_api_exchanges(lua_State *L);
/* core.set_iterator(fn): the Lua iterator factory */
int sk_api_set_iterator(lua_State *L);

#endif
