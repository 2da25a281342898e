/* luaopen_scalekit_core: the module table of the C core. */
#include "api.h"
#include "batch.h"
#include "call.h"
#include "crypto.h"
#include "driver.h"
#include "resource.h"

static const char *const paging_names[] = {"none", "token", "number"};

/* operations[id] = {method, path, items, paging, flags...} for
 * introspection; aliases point at the same table. */
static void push_operations(lua_State *L) {
  size_t i;
  lua_createtable(L, 0, (int)(sk_operation_count + sk_operation_alias_count));
  for (i = 0; i < sk_operation_count; i++) {
    const sk_operation *op = &sk_operations[i];
    const sk_param *p;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, op->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, op->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, op->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, paging_names[op->paging]);
    lua_setfield(L, -2, "paging");
    if (op->items) {
      lua_pushstring(L, op->items);
      lua_setfield(L, -2, "items");
    }
    lua_pushboolean(L, (op->flags & SK_OP_NO_TOKEN) == 0);
    lua_setfield(L, -2, "needs_token");
    lua_pushboolean(L, (op->flags & SK_OP_TOKEN) != 0);
    lua_setfield(L, -2, "issues_token");
    lua_newtable(L);
    for (p = op->params; p->name; p++) {
      static const char *const in_names[] = {"path", "query", "body"};
      lua_pushstring(L, in_names[p->in]);
      lua_setfield(L, -2, p->name);
    }
    lua_setfield(L, -2, "params");
    lua_setfield(L, -2, op->id);
  }
  for (i = 0; i < sk_operation_alias_count; i++) {
    lua_getfield(L, -1, sk_catalog_find(sk_operation_aliases[i].alias)->id);
    lua_setfield(L, -2, sk_operation_aliases[i].alias);
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
    lua_pushstring(L, sk_catalog_find(sk_methods[i].operation)->id);
    lua_setfield(L, -2, sk_methods[i].name);
    lua_pop(L, 1);
  }
}

int luaopen_scalekit_core(lua_State *L) {
  static const luaL_Reg functions[] = {{"new", sk_client_new},
                                       {"is_error", sk_error_is},
                                       {"error", sk_error_adopt},
                                       {"is_closed", sk_api_is_closed},
                                       {"set_token", sk_api_set_token},
                                       {"peek_token", sk_api_peek_token},
                                       {"set_extra", sk_api_set_extra},
                                       {"set_iterator", sk_api_set_iterator},
                                       {"method_tables", sk_api_method_tables},
                                       {"prepare", sk_resource_prepare},
                                       {"exchange", sk_driver_exchange},
                                       {"exchanges", sk_api_exchanges},
                                       {"transport", sk_driver_transport},
                                       {NULL, NULL}};
  sk_transport_global_init();
  sk_error_register(L);
  sk_api_register(L);
  sk_resource_register(L);
  sk_batch_register(L);
  sk_driver_register(L);

  lua_newtable(L);
  luaL_setfuncs(L, functions, 0);
  sk_crypto_open(L);
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
