/* luaopen_scalekit_core: the module table of the C core. */
#include "scalekit.h"

void sk_new_metatable(lua_State *L, const char *name, lua_CFunction close) {
  luaL_newmetatable(L, name);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  if (close) {
    /* one function for close, __gc and __close, as liolib does */
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
  }
}

/* scalekit.core.is_error(v) -> boolean */
static int core_is_error(lua_State *L) {
  int yes = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, SK_ERROR_MT);
    yes = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, yes);
  return 1;
}

/* core.error(t): gives a plain table (an error object that crossed from
 * another Lua VM) the error metatable again. */
static int core_error(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_getmetatable(L, SK_ERROR_MT);
  lua_setmetatable(L, 1);
  return 1;
}

/* operations[operationId] = {method=, path=, items=} for introspection. */
static void push_operations(lua_State *L) {
  size_t i;
  lua_createtable(L, 0, (int)sk_operation_count);
  for (i = 0; i < sk_operation_count; i++) {
    const sk_operation *op = &sk_operations[i];
    lua_createtable(L, 0, 3);
    lua_pushstring(L, op->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, op->path);
    lua_setfield(L, -2, "path");
    if (op->items) {
      lua_pushstring(L, op->items);
      lua_setfield(L, -2, "items");
    }
    lua_setfield(L, -2, op->id);
  }
}

/* methods[resource][name] = operationId, for introspection and docs. */
static void push_methods(lua_State *L) {
  size_t i;
  lua_newtable(L);
  for (i = 0; i < sk_method_count; i++) {
    lua_getfield(L, -1, sk_methods[i].resource);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, sk_methods[i].resource);
    }
    lua_pushstring(L, sk_methods[i].operation);
    lua_setfield(L, -2, sk_methods[i].name);
    lua_pop(L, 1);
  }
}

int luaopen_scalekit_core(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"new", sk_client_new},
      {"is_error", core_is_error},
      {"error", core_error},
      {"prepare", sk_resource_prepare},
      {"set_overrides", sk_client_set_overrides},
      {"set_token", sk_client_set_token},
      {"peek_token", sk_client_peek_token},
      {NULL, NULL}};
  sk_transport_global_init();
  sk_error_register(L);
  sk_client_register(L);
  sk_resource_register(L);
  sk_iterator_register(L);

  lua_newtable(L);
  luaL_setfuncs(L, functions, 0);
  lua_pushlightuserdata(L, NULL); /* the same sentinel as cjson.null */
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, SK_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  push_operations(L);
  lua_setfield(L, -2, "operations");
  push_methods(L);
  lua_setfield(L, -2, "methods");
  return 1;
}
