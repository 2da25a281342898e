/* Resource userdata (sk.organizations, sk.directories, ...): each method is
 * a row of sk_methods; path parameters come positionally, the other
 * fields in one trailing table. */
#include <stdio.h>
#include <string.h>
#include "scalekit.h"

typedef struct sk_resource {
  const char *name; /* points into sk_methods */
} sk_resource;

/* Slot in a resource's user value holding its client. */
#define CLIENT_SLOT 1

/* Checks self and the arguments of method m (stack: self, args...) and
 * leaves: 1 = client, top = params table (fields + path arguments, as
 * sk:call takes them). Raises on a programming mistake. */
static int prepare(lua_State *L, const sk_method *m, const sk_operation *op, const char *who) {
  int npath = sk_operation_path_count(op), fields = npath + 2, params, i;
  sk_resource *r = (sk_resource *)luaL_testudata(L, 1, SK_RESOURCE_MT);
  if (!r || strcmp(r->name, m->resource) != 0)
    return sk_argerror(L, who, "call it as sk.%s:%s(...)", m->resource, m->name);
  sk_getuservalue(L, 1);
  lua_rawgeti(L, -1, CLIENT_SLOT);
  lua_replace(L, 1); /* the client takes self's place */
  lua_pop(L, 1);
  sk_client_check(L, 1, who);

  for (i = 0; i < npath; i++) {
    const sk_param *p = sk_operation_path_param(op, i);
    size_t n = 0;
    /* type first: lua_tolstring would turn a number into a string */
    const char *s = lua_type(L, i + 2) == LUA_TSTRING ? lua_tolstring(L, i + 2, &n) : NULL;
    if (!s || n == 0)
      return sk_argerror(L, who, "argument #%d (%s) must be a non-empty string", i + 1, p->name);
    if (sk_has_forbidden_byte(s, n))
      return sk_argerror(L, who, "argument #%d (%s) must not contain CR, LF or NUL", i + 1,
                         p->name);
  }
  if (!lua_isnoneornil(L, fields) && !lua_istable(L, fields))
    return sk_argerror(L, who, "argument #%d (fields) must be a table", fields - 1);
  lua_settop(L, fields);

  lua_newtable(L);
  params = lua_gettop(L);
  if (lua_istable(L, fields)) {
    lua_pushnil(L);
    while (lua_next(L, fields)) {
      const sk_param *p =
          lua_type(L, -2) == LUA_TSTRING ? sk_operation_param(op, lua_tostring(L, -2)) : NULL;
      if (p && p->in == SK_IN_PATH)
        return sk_argerror(L, who, "'%s' is passed as a positional argument, not a field",
                           p->name);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, params);
    }
  }
  for (i = 0; i < npath; i++) {
    lua_pushvalue(L, i + 2);
    lua_setfield(L, params, sk_operation_path_param(op, i)->name);
  }
  return params;
}

static int resource_method(lua_State *L) {
  const sk_method *m = (const sk_method *)lua_touserdata(L, lua_upvalueindex(1));
  const sk_operation *op = (const sk_operation *)lua_touserdata(L, lua_upvalueindex(2));
  char who[64];
  sk_request req;
  int params;
  snprintf(who, sizeof who, "%s:%s", m->resource, m->name);
  params = prepare(L, m, op, who);
  if (m->kind != SK_CALL) return sk_iterator_push(L, 1, op, params, m->kind == SK_PAGES, who);
  sk_request_build(L, (sk_client *)lua_touserdata(L, 1), op, params, who, &req);
  return sk_call_execute(L, 1, &req);
}

/* core.prepare(resource, method, args...) -> client, operationId, params,
 * kind ("call", "each" or "pages"): everything a method does before
 * sending, for callers that send elsewhere (nginx worker threads). */
int sk_resource_prepare(lua_State *L) {
  sk_resource *r = (sk_resource *)luaL_checkudata(L, 1, SK_RESOURCE_MT);
  const char *name = luaL_checkstring(L, 2);
  static const char *const kinds[] = {"call", "each", "pages"};
  const sk_method *m = NULL;
  const sk_operation *op;
  char who[64];
  sk_request req;
  size_t i;
  int params;
  for (i = 0; i < sk_method_count && !m; i++)
    if (strcmp(sk_methods[i].resource, r->name) == 0 && strcmp(sk_methods[i].name, name) == 0)
      m = &sk_methods[i];
  if (!m) return luaL_error(L, "scalekit: %s has no method '%s'", r->name, name);
  op = sk_operation_find(m->operation);
  snprintf(who, sizeof who, "%s:%s", m->resource, m->name);
  lua_remove(L, 2);
  params = prepare(L, m, op, who);
  sk_request_build(L, (sk_client *)lua_touserdata(L, 1), op, params, who, &req);
  sk_request_free(&req);
  lua_pushvalue(L, 1);
  lua_pushstring(L, op->id);
  lua_pushvalue(L, params);
  lua_pushstring(L, kinds[m->kind]);
  return 4;
}

static int resource_tostring(lua_State *L) {
  sk_resource *r = (sk_resource *)luaL_checkudata(L, 1, SK_RESOURCE_MT);
  lua_pushfstring(L, "scalekit.resource (%s)", r->name);
  return 1;
}

/* __index: methods of this resource, from the table built at load time. */
static int resource_index(lua_State *L) {
  sk_resource *r = (sk_resource *)luaL_checkudata(L, 1, SK_RESOURCE_MT);
  sk_getuservalue(L, 1);
  lua_rawgeti(L, -1, CLIENT_SLOT);
  if (sk_client_push_override(L, -1, r->name)) {
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) return 1;
  }
  lua_settop(L, 2);
  lua_getfield(L, lua_upvalueindex(1), r->name);
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

void sk_resource_register(lua_State *L) {
  size_t i;
  sk_new_metatable(L, SK_RESOURCE_MT, NULL);
  lua_pushcfunction(L, resource_tostring);
  lua_setfield(L, -2, "__tostring");
  /* methods[resource][name] = closure(method row, operation row) */
  lua_newtable(L);
  for (i = 0; i < sk_method_count; i++) {
    const sk_method *m = &sk_methods[i];
    const sk_operation *op = sk_operation_find(m->operation);
    lua_getfield(L, -1, m->resource);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, m->resource);
    }
    lua_pushlightuserdata(L, (void *)m);
    lua_pushlightuserdata(L, (void *)op);
    lua_pushcclosure(L, resource_method, 2);
    lua_setfield(L, -2, m->name);
    lua_pop(L, 1);
  }
  lua_pushcclosure(L, resource_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void sk_resource_push_all(lua_State *L, int client_idx) {
  size_t i;
  client_idx = lua_absindex(L, client_idx);
  lua_newtable(L);
  for (i = 0; i < sk_method_count; i++) {
    const char *name = sk_methods[i].resource;
    sk_resource *r;
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    r = (sk_resource *)sk_newuserdata(L, sizeof *r);
    r->name = name;
    luaL_getmetatable(L, SK_RESOURCE_MT);
    lua_setmetatable(L, -2);
    sk_getuservalue(L, -1);
    lua_pushvalue(L, client_idx);
    lua_rawseti(L, -2, CLIENT_SLOT);
    lua_pop(L, 1);
    lua_setfield(L, -2, name);
  }
}
