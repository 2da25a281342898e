/* Resource userdata: each method is a row of sk_methods; positional
 * arguments first, then one table of the other fields. */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "resource.h"

typedef struct sk_resource {
  const char *name; /* points into sk_methods */
} sk_resource;

#define MAX_POSITIONAL 8
#define UV_CLIENT      1 /* slot in a resource's user value */

/* Checks self and the arguments of m (stack: self, args...) and leaves:
 * 1 = client, top = a new flat params table. Raises on mistakes. */
static int prepare(lua_State *L, const sk_method *m, const sk_operation *op, const char *who) {
  const sk_param *positional[MAX_POSITIONAL];
  int npos = sk_catalog_positional(m, op, positional, MAX_POSITIONAL);
  int fields = npos + 2, params, i;
  sk_resource *r = (sk_resource *)luaL_testudata(L, 1, SK_RESOURCE_MT);
  if (!r || strcmp(r->name, m->resource) != 0)
    return sk_argerror(L, who, "call it as sk.%s:%s(...)", m->resource, m->name);
  sk_getuservalue(L, 1);
  lua_rawgeti(L, -1, UV_CLIENT);
  lua_replace(L, 1); /* the client takes self's place */
  lua_pop(L, 1);
  sk_client_check(L, 1, who);
  for (i = 0; i < npos; i++) {
    const sk_param *p = positional[i];
    char what[80];
    snprintf(what, sizeof what, "argument #%d (%s)", i + 1, p->name);
    /* positional arguments are ids, in the path or not */
    sk_request_check_path_value(L, i + 2, who, what);
  }
  if (!lua_isnoneornil(L, fields) && !lua_istable(L, fields))
    return sk_argerror(L, who, "argument #%d (fields) must be a table (got %s)", fields - 1,
                       sk_typename(L, fields));
  lua_settop(L, fields);
  lua_newtable(L);
  params = lua_gettop(L);
  if (lua_istable(L, fields)) {
    lua_pushnil(L);
    while (lua_next(L, fields)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        for (i = 0; i < npos; i++)
          if (strcmp(positional[i]->name, lua_tostring(L, -2)) == 0)
            return sk_argerror(L, who, "'%s' is passed as a positional argument, not a field",
                               positional[i]->name);
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, params);
    }
  }
  for (i = 0; i < npos; i++) {
    lua_pushvalue(L, i + 2);
    lua_setfield(L, params, positional[i]->name);
  }
  return params;
}

static int resource_method(lua_State *L) {
  const sk_method *m = (const sk_method *)lua_touserdata(L, lua_upvalueindex(1));
  const sk_operation *op = sk_catalog_find(m->operation);
  char who[80];
  int params;
  sk_call_options none;
  snprintf(who, sizeof who, "%s:%s", m->resource, m->name);
  params = prepare(L, m, op, who);
  if (m->kind != SK_CALL) return sk_call_iterate(L, 1, op, params, m->kind == SK_PAGES, who);
  memset(&none, 0, sizeof none);
  return sk_call_run(L, 1, op, params, &none, who);
}

int sk_resource_prepare(lua_State *L) {
  sk_resource *r = (sk_resource *)luaL_testudata(L, 1, SK_RESOURCE_MT);
  const char *name = luaL_checkstring(L, 2);
  static const char *const kinds[] = {"call", "each", "pages"};
  const sk_method *m;
  if (!r) return luaL_error(L, "scalekit: prepare needs a resource");
  m = sk_catalog_method(r->name, name);
  char who[80];
  int params;
  if (!m) return luaL_error(L, "scalekit: %s has no method '%s'", r->name, name);
  snprintf(who, sizeof who, "%s:%s", m->resource, m->name);
  lua_remove(L, 2);
  params = prepare(L, m, sk_catalog_find(m->operation), who);
  lua_pushvalue(L, 1);
  lua_pushstring(L, sk_catalog_find(m->operation)->id);
  lua_pushvalue(L, params);
  lua_pushstring(L, kinds[m->kind]);
  return 4;
}

static int resource_tostring(lua_State *L) {
  sk_resource *r = (sk_resource *)luaL_checkudata(L, 1, SK_RESOURCE_MT);
  lua_pushfstring(L, "scalekit.resource (%s)", r->name);
  return 1;
}

/* __index: methods[resource][key], from the table built at load time. */
static int resource_index(lua_State *L) {
  sk_resource *r = (sk_resource *)luaL_checkudata(L, 1, SK_RESOURCE_MT);
  lua_getfield(L, lua_upvalueindex(1), r->name);
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

#define METHODS_KEY "scalekit.methods"

void sk_resource_register(lua_State *L) {
  size_t i;
  sk_new_metatable(L, SK_RESOURCE_MT, NULL);
  lua_pushcfunction(L, resource_tostring);
  lua_setfield(L, -2, "__tostring");
  /* methods[resource][name] = closure(method row) */
  lua_newtable(L);
  for (i = 0; i < sk_method_count; i++) {
    const sk_method *m = &sk_methods[i];
    lua_getfield(L, -1, m->resource);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, m->resource);
    }
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, resource_method, 1);
    lua_setfield(L, -2, m->name);
    lua_pop(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, METHODS_KEY);
  lua_pushcclosure(L, resource_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void sk_resource_push_methods(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, METHODS_KEY); }

void sk_resource_push(lua_State *L, int client_idx, const char *name) {
  sk_resource *r;
  const sk_method *m = NULL;
  size_t i;
  client_idx = lua_absindex(L, client_idx);
  for (i = 0; i < sk_method_count && !m; i++)
    if (strcmp(sk_methods[i].resource, name) == 0) m = &sk_methods[i];
  if (!m) {
    lua_pushnil(L);
    return;
  }
  sk_getuservalue(L, client_idx);
  lua_getfield(L, -1, SK_UV_RESOURCES);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, SK_UV_RESOURCES);
  }
  lua_getfield(L, -1, name);
  if (!lua_isnil(L, -1)) {
    lua_replace(L, -3);
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  r = (sk_resource *)sk_newuserdata(L, sizeof *r);
  r->name = m->resource;
  luaL_getmetatable(L, SK_RESOURCE_MT);
  lua_setmetatable(L, -2);
  sk_getuservalue(L, -1);
  lua_pushvalue(L, client_idx);
  lua_rawseti(L, -2, UV_CLIENT);
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  lua_replace(L, -3);
  lua_pop(L, 1);
}
