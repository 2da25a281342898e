/* Lua 5.1 / LuaJIT 2.1 / 5.3 / 5.4 differences, kept in one place. */
#ifndef SCALEKIT_COMPAT_H
#define SCALEKIT_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* Lua 5.1 and LuaJIT: userdata carry an environment table instead of a
 * user value, and there is no integer subtype. */
#define sk_getuservalue(L, idx) lua_getfenv((L), (idx))
#define sk_setuservalue(L, idx) lua_setfenv((L), (idx))
#define sk_rawlen(L, idx)       lua_objlen((L), (idx))
#define sk_isinteger(L, idx)    0
#define lua_absindex(L, i)      ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)
#ifndef LUA_OK
#define LUA_OK 0
#endif
#else
#define sk_rawlen(L, idx)    lua_rawlen((L), (idx))
#define sk_isinteger(L, idx) lua_isinteger((L), (idx))
#if LUA_VERSION_NUM >= 504
#define sk_getuservalue(L, idx) ((void)lua_getiuservalue((L), (idx), 1))
#define sk_setuservalue(L, idx) ((void)lua_setiuservalue((L), (idx), 1))
#else
#define sk_getuservalue(L, idx) ((void)lua_getuservalue((L), (idx)))
#define sk_setuservalue(L, idx) lua_setuservalue((L), (idx))
#endif
#endif

/* Plain Lua 5.1 lacks these (LuaJIT has them, but one definition for
 * both keeps the 5.1 ABI build identical). */
#if LUA_VERSION_NUM < 502
void sk_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *sk_compat_testudata(lua_State *L, int ud, const char *tname);
#undef luaL_setfuncs
#define luaL_setfuncs  sk_compat_setfuncs
#define luaL_testudata sk_compat_testudata
#endif

/* A new userdata of the given size whose user value (environment on 5.1)
 * is a fresh table, so every object can anchor the Lua values it needs
 * without registry references. */
void *sk_newuserdata(lua_State *L, size_t size);

#endif
