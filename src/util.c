/* General helpers: clock, sleeping, metatables, argument errors. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "util.h"

double sk_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sk_sleep(double s) {
  struct timespec ts;
  if (!(s > 0)) return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

long sk_seconds_to_ms(double s) {
  double ms;
  if (!(s > 0)) return 0;
  ms = ceil(s * 1000);
  return ms > 2e9 ? 2000000000L : (long)ms;
}

int sk_finite(double v) { return v == v && v - v == 0; }

void sk_new_metatable(lua_State *L, const char *name, lua_CFunction close) {
  luaL_newmetatable(L, name);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  if (close) {
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
  }
}

/* 1 when source is one of this SDK's own Lua modules. */
static int own_module(const char *source) {
  static const char *const names[] = {"init.lua", "nginx.lua",    "iterate.lua", "auth.lua",
                                      "jwt.lua",  "webhooks.lua", NULL};
  const char *const *name;
  const char *at = NULL, *p = source;
  while ((p = strstr(p, "scalekit/")) != NULL) at = p++;
  if (!at) return 0;
  for (name = names; *name; name++)
    if (strcmp(at + 9, *name) == 0) return 1;
  return 0;
}

/* Pushes "file:line: " of the first Lua function up the stack that is
 * not one of our own Lua modules, so a mistake points at the user's line
 * whichever of our wrappers it went through. */
static void push_caller_position(lua_State *L) {
  lua_Debug ar;
  int level;
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar)) break;
    if (ar.currentline <= 0) continue; /* C functions */
    if (own_module(ar.source)) continue;
    lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    return;
  }
  lua_pushliteral(L, "");
}

int sk_argerror(lua_State *L, const char *who, const char *fmt, ...) {
  va_list ap;
  push_caller_position(L);
  lua_pushstring(L, who);
  lua_pushliteral(L, ": ");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 4);
  return lua_error(L);
}

const char *sk_typename(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL)
    return "scalekit.null";
  return luaL_typename(L, idx);
}
