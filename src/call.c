/* One operation called from Lua (see call.h). */
#include <string.h>

#include "call.h"

sk_call_options sk_call_options_read(lua_State *L, int idx, const char *who) {
  sk_call_options o;
  memset(&o, 0, sizeof o);
  if (!idx || lua_isnoneornil(L, idx)) return o;
  if (!lua_istable(L, idx))
    sk_argerror(L, who, "options must be a table (got %s)", sk_typename(L, idx));
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (strcmp(key, "timeout") == 0) {
      if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0) ||
          !sk_finite(lua_tonumber(L, -1)))
        sk_argerror(L, who, "option 'timeout' must be a finite number > 0 (got %s)",
                    sk_typename(L, -1));
      o.timeout = lua_tonumber(L, -1);
    } else if (strcmp(key, "response") == 0) {
      if (lua_type(L, -1) != LUA_TBOOLEAN)
        sk_argerror(L, who, "option 'response' must be a boolean (got %s)", sk_typename(L, -1));
      o.want_response = lua_toboolean(L, -1);
    } else {
      sk_argerror(L, who, "unknown option '%s'", lua_tostring(L, -2));
    }
    lua_pop(L, 1);
  }
  return o;
}

int sk_call_run(lua_State *L, int client_idx, const sk_operation *op, int params_idx,
                const sk_call_options *opts, const char *who) {
  sk_client *c = (sk_client *)lua_touserdata(L, client_idx);
  sk_batch *b;
  sk_exchange *x;
  int batch;
  client_idx = lua_absindex(L, client_idx);
  if (params_idx) params_idx = lua_absindex(L, params_idx);
  b = sk_batch_new(L, client_idx, 1, 1, 1);
  batch = lua_gettop(L);
  x = sk_batch_exchange(b, 0);
  x->timeout = opts->timeout;
  x->want_response = opts->want_response;
  sk_request_build(L, c, op, params_idx, who, &x->req);
  sk_batch_run(L, batch);
  return sk_batch_push_outcome(L, batch, opts->want_response);
}

int sk_call_iterate(lua_State *L, int client_idx, const sk_operation *op, int params_idx, int pages,
                    const char *who) {
  int base;
  client_idx = lua_absindex(L, client_idx);
  params_idx = lua_absindex(L, params_idx);
  if (op->paging == SK_PAGING_NONE && !op->items)
    return sk_argerror(L, who, "%s returns no list", op->id);
  lua_getfield(L, LUA_REGISTRYINDEX, SK_ITERATE_KEY);
  if (!lua_isfunction(L, -1))
    return sk_argerror(L, who, "iterators need the Lua layer: require \"scalekit\"");
  base = lua_gettop(L) - 1;
  lua_pushvalue(L, client_idx);
  lua_pushstring(L, op->id);
  lua_pushvalue(L, params_idx);
  lua_pushboolean(L, pages);
  lua_pushstring(L, who);
  lua_call(L, 5, LUA_MULTRET);
  return lua_gettop(L) - base;
}
