/* Implementations behind compat.h. */
#include "compat.h"

void *sk_newuserdata(lua_State *L, size_t size) {
#if LUA_VERSION_NUM >= 504
  void *p = lua_newuserdatauv(L, size, 1);
#else
  void *p = lua_newuserdata(L, size);
#endif
  lua_newtable(L);
  sk_setuservalue(L, -2);
  return p;
}

#if LUA_VERSION_NUM < 502
void sk_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  int i;
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

void *sk_compat_testudata(lua_State *L, int ud, const char *tname) {
  void *p = lua_touserdata(L, ud);
  if (p && lua_getmetatable(L, ud)) {
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
    lua_pop(L, 2);
    return p;
  }
  return NULL;
}
#endif
