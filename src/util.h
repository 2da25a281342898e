/* General helpers every other file may use: clock, sleeping, metatables,
 * argument errors. Depends on nothing but Lua. */
#ifndef SK_UTIL_H
#define SK_UTIL_H

#include "compat.h"

#define SK_VERSION "0.2.0"

/* Metatable names in the registry. */
#define SK_CLIENT_MT    "scalekit.client"
#define SK_RESOURCE_MT  "scalekit.resource"
#define SK_ERROR_MT     "scalekit.error"
#define SK_BATCH_MT     "scalekit.batch"
#define SK_EXCHANGE_MT  "scalekit.exchange"
#define SK_TRANSPORT_MT "scalekit.transport"

/* Seconds on a clock that never jumps. */
double sk_monotonic(void);
/* Sleeps s seconds (nothing when s <= 0), resuming after signals. */
void sk_sleep(double s);
/* Seconds -> milliseconds for libcurl: any positive time is at least 1 ms,
 * so a tiny timeout never turns into "no timeout" (0). */
long sk_seconds_to_ms(double s);
/* 1 when v is neither NaN nor an infinity. */
int sk_finite(double v);

/* luaL_newmetatable plus __name and, when close is given, __gc and
 * __close (one function for both, as liolib does). Leaves it on the stack. */
void sk_new_metatable(lua_State *L, const char *name, lua_CFunction close);

/* Raises "<who>: <message>" at the position of the Lua code that called
 * the C function. */
int sk_argerror(lua_State *L, const char *who, const char *fmt, ...);
/* A readable name for the type of the value at idx ("number 42"-style
 * detail is the caller's). */
const char *sk_typename(lua_State *L, int idx);

#endif
