/* Shared pieces of the libFuzzer targets (fuzz/fuzz_*.c): one lua_State per
 * process with lua-cjson reachable, checks written in Lua, a reference
 * UTF-8 decoder, and an assertion that libFuzzer reports as a crash. */
#ifndef SK_FUZZ_H
#define SK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#include <curl/curl.h>

#include "error.h"
#include "headers.h"
#include "json.h"
#include "mask.h"
#include "url.h"

/* An invariant broke: say which and crash, so libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: invariant failed: %s\n  ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                  \
      fputc('\n', stderr);                                                           \
      abort();                                                                       \
    }                                                                                \
  } while (0)

/* A new state with the standard libraries (require finds the system's
 * cjson.so through the default package.cpath). */
static lua_State *fuzz_new_state(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  return L;
}

/* Runs a chunk that returns one value and leaves that value on the stack. */
static void fuzz_push_chunk(lua_State *L, const char *name, const char *code) {
  if (luaL_loadbuffer(L, code, strlen(code), name) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz setup: %s\n", lua_tostring(L, -1));
    abort();
  }
}

/* Calls the Lua check function at fn_idx with the top nargs values (popped).
 * It returns nothing when all is well, else a message: that is a finding. */
static void fuzz_lua_check(lua_State *L, int fn_idx, int nargs, const char *what) {
  int base = lua_gettop(L) - nargs;
  lua_pushvalue(L, fn_idx);
  lua_insert(L, base + 1);
  if (lua_pcall(L, nargs, 1, 0) != LUA_OK) {
    fprintf(stderr, "%s: the check itself raised: %s\n", what, lua_tostring(L, -1));
    abort();
  }
  if (!lua_isnil(L, -1)) {
    fprintf(stderr, "%s: invariant failed: %s\n", what, lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, base);
}

/* Lua helpers shared by the checks: deep equality and "no integral float
 * below 2^53 is left". Loaded as a module table. */
static const char *const FUZZ_LUA_LIB =
    "local M = {}\n"
    "local function describe(v)\n"
    "  if type(v) == 'number' then return math.type(v) .. ' ' .. string.format('%.17g', v) end\n"
    "  return tostring(v)\n"
    "end\n"
    "M.describe = describe\n"
    /* Same value: numbers equal (an integer and a float of the same value
     * count as equal only when loose), tables equal key by key. */
    "function M.same(a, b, path, loose)\n"
    "  path = path or '$'\n"
    "  if type(a) ~= type(b) then\n"
    "    return path .. ': ' .. describe(a) .. ' vs ' .. describe(b)\n"
    "  end\n"
    "  if type(a) == 'number' then\n"
    "    if a ~= a and b ~= b then return nil end\n"
    "    if a ~= b then return path .. ': ' .. describe(a) .. ' ~= ' .. describe(b) end\n"
    "    if not loose and math.type(a) ~= math.type(b) then\n"
    "      return path .. ': ' .. describe(a) .. ' vs ' .. describe(b)\n"
    "    end\n"
    "    return nil\n"
    "  end\n"
    "  if type(a) ~= 'table' then\n"
    "    if rawequal(a, b) then return nil end\n"
    "    return path .. ': ' .. describe(a) .. ' vs ' .. describe(b)\n"
    "  end\n"
    "  for k, v in next, a do\n"
    "    local w = rawget(b, k)\n"
    "    if w == nil then return path .. ': key ' .. describe(k) .. ' missing' end\n"
    "    local e = M.same(v, w, path .. '[' .. describe(k) .. ']', loose)\n"
    "    if e then return e end\n"
    "  end\n"
    "  for k in next, b do\n"
    "    if rawget(a, k) == nil then return path .. ': extra key ' .. describe(k) end\n"
    "  end\n"
    "  return nil\n"
    "end\n"
    /* Depth of nested tables (a scalar is 0, {} is 1) and whether a NaN or
     * an infinity is inside: the two reasons the encoder may refuse. */
    "function M.shape(v)\n"
    "  if type(v) == 'number' then return 0, v ~= v or v == math.huge or v == -math.huge end\n"
    "  if type(v) ~= 'table' then return 0, false end\n"
    "  local depth, bad = 0, false\n"
    "  for _, x in next, v do\n"
    "    local d, b = M.shape(x)\n"
    "    if d > depth then depth = d end\n"
    "    bad = bad or b\n"
    "  end\n"
    "  return depth + 1, bad\n"
    "end\n"
    "return M\n";

/* Reference UTF-8 validator, written from Unicode 15 table 3-7 by code
 * point value (decode first, then reject overlongs, surrogates and values
 * past U+10FFFF), independently of sk_utf8_valid's byte ranges. Returns 1,
 * or 0 with the start of the first ill-formed sequence in *bad. */
static int fuzz_ref_utf8(const unsigned char *s, size_t n, size_t *bad) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    unsigned long cp;
    size_t len, k;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      goto fail;
    }
    /* The shortest ill-formed prefix stops the check at i either way, so a
     * sequence cut short by the end is ill-formed at i too. */
    for (k = 1; k < len; k++) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) goto fail;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      goto fail;
    i += len;
  }
  return 1;
fail:
  if (bad) *bad = i;
  return 0;
}

#endif
