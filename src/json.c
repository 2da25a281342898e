/* JSON <-> Lua: encoder with error paths, UTF-8 check, lua-cjson decoding. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

#define SK_JSON_MAX_DEPTH 64
/* sk_json_normalize's recursion bound: lua-cjson's default decode depth,
 * so any decoder configured up to it is fully covered. */
#define SK_JSON_NORMALIZE_DEPTH 1000
/* Doubles hold every integer up to here exactly. */
#define SK_2POW53 9007199254740992.0
/* Longest object key quoted in an error path. */
#define SK_PATH_KEY_MAX 64

typedef struct sk_path_entry {
  const char *key; /* NULL: array element */
  size_t len;
  unsigned long long index;
} sk_path_entry;

typedef struct sk_enc {
  lua_State *L;
  sk_buf *b;
  int array_hint;
  char *err;
  size_t errcap;
  /* path[i] names the child taken at nesting level i; the key strings
   * stay alive on the Lua stack while their values are encoded. */
  sk_path_entry path[SK_JSON_MAX_DEPTH];
} sk_enc;

static int sk_enc_fail(sk_enc *e, int level, const char *fmt, ...) {
  char reason[96], where[256];
  size_t w = 0, room, rlen;
  int i;
  va_list ap;
  if (e->err == NULL || e->errcap == 0) return -1;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  /* The path gets what is left after ": reason", so a long path (a cycle)
   * never crowds out the reason. */
  rlen = strlen(reason) + 2;
  room = e->errcap > rlen + 1 ? e->errcap - rlen - 1 : 0;
  if (room > sizeof where) room = sizeof where;
  where[0] = '\0';
  /* The path starts with its separator ('.' or '['), so the caller can
   * put the field name right in front. */
  for (i = 0; i < level && w < room; i++) {
    const sk_path_entry *p = &e->path[i];
    int k;
    if (p->key != NULL)
      k = snprintf(where + w, room - w, ".%.*s",
                   (int)(p->len < SK_PATH_KEY_MAX ? p->len : SK_PATH_KEY_MAX), p->key);
    else
      k = snprintf(where + w, room - w, "[%llu]", p->index);
    if (k < 0) break;
    w += (size_t)k;
  }
  if (w >= room && room > 4) /* truncated: say so */
    memcpy(where + room - 4, "...", 4);
  if (level == 0 || room <= 4)
    snprintf(e->err, e->errcap, "%s", reason);
  else
    snprintf(e->err, e->errcap, "%s: %s", where, reason);
  return -1;
}

void sk_json_add_string(sk_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  sk_buf_addc(b, '"');
  while (i < n) {
    size_t run = i;
    unsigned char c;
    /* Bytes >= 0x80 pass through (sk_enc_value has checked UTF-8). */
    while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\') run++;
    if (run > i) {
      sk_buf_add(b, s + i, run - i);
      i = run;
      continue;
    }
    c = (unsigned char)s[i++];
    switch (c) {
      case '"': sk_buf_add(b, "\\\"", 2); break;
      case '\\': sk_buf_add(b, "\\\\", 2); break;
      case '\n': sk_buf_add(b, "\\n", 2); break;
      case '\r': sk_buf_add(b, "\\r", 2); break;
      case '\t': sk_buf_add(b, "\\t", 2); break;
      case '\b': sk_buf_add(b, "\\b", 2); break;
      case '\f': sk_buf_add(b, "\\f", 2); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        sk_buf_add(b, u, 6);
      }
    }
  }
  sk_buf_addc(b, '"');
}

static int sk_enc_number(sk_enc *e, int idx, int level) {
  char num[40];
  if (sk_isinteger(e->L, idx)) {
    snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(e->L, idx));
  } else {
    double x = (double)lua_tonumber(e->L, idx);
    if (isnan(x) || isinf(x)) return sk_enc_fail(e, level, "cannot encode NaN or infinity");
    if (floor(x) == x && fabs(x) < SK_2POW53) {
      /* Lua 5.1 has floats only: 100 must stay 100, not 100.0. */
      snprintf(num, sizeof num, "%lld", (long long)x);
    } else {
      char *p;
      snprintf(num, sizeof num, "%.17g", x);
      /* %g follows LC_NUMERIC; JSON wants '.' whatever the host set. */
      for (p = num; *p != '\0'; p++)
        if (*p == ',') *p = '.';
    }
  }
  sk_buf_adds(e->b, num);
  return 0;
}

/* A key that may belong to an array: a positive integer (a float with an
 * integral value on 5.1, where there are no integers). */
static int sk_array_key(lua_State *L, int idx, unsigned long long *k) {
  lua_Number d;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  if (sk_isinteger(L, idx)) {
    lua_Integer i = lua_tointeger(L, idx);
    if (i < 1) return 0;
    *k = (unsigned long long)i;
    return 1;
  }
  d = lua_tonumber(L, idx);
  if (!(d >= 1 && d < SK_2POW53 && floor(d) == d)) return 0;
  *k = (unsigned long long)d;
  return 1;
}

static int sk_enc_value(sk_enc *e, int idx, int level);

static int sk_enc_table(sk_enc *e, int idx, int level) {
  lua_State *L = e->L;
  unsigned long long count = 0, max = 0, k;
  int array = 1, first = 1;

  if (level >= SK_JSON_MAX_DEPTH)
    return sk_enc_fail(e, level, "nesting deeper than %d (a cycle?)", SK_JSON_MAX_DEPTH);
  if (!lua_checkstack(L, 2)) return sk_enc_fail(e, level, "Lua stack exhausted");

  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    if (array) {
      if (sk_array_key(L, -2, &k))
        max = k > max ? k : max;
      else
        array = 0;
    }
    lua_pop(L, 1);
  }

  if (count == 0) {
    sk_buf_adds(e->b, level == 0 && e->array_hint ? "[]" : "{}");
    return 0;
  }

  if (array && max == count) {
    unsigned long long i;
    /* lua_rawgeti takes an int on 5.1. */
    if (count > INT_MAX) return sk_enc_fail(e, level, "array too long");
    sk_buf_addc(e->b, '[');
    for (i = 1; i <= count; i++) {
      if (i > 1) sk_buf_addc(e->b, ',');
      lua_rawgeti(L, idx, (int)i);
      e->path[level].key = NULL;
      e->path[level].index = i;
      if (sk_enc_value(e, lua_gettop(L), level + 1) != 0) return -1;
      lua_pop(L, 1);
    }
    sk_buf_addc(e->b, ']');
    return 0;
  }

  sk_buf_addc(e->b, '{');
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t klen, bad;
    const char *key;
    /* Checked by type: lua_tolstring would turn a number key into a
     * string in place and break lua_next. */
    if (lua_type(L, -2) != LUA_TSTRING)
      return sk_enc_fail(e, level, "table key of type %s", luaL_typename(L, -2));
    key = lua_tolstring(L, -2, &klen);
    if (!sk_utf8_valid(key, klen, &bad))
      return sk_enc_fail(e, level, "key with invalid UTF-8 at byte %zu", bad);
    if (!first) sk_buf_addc(e->b, ',');
    first = 0;
    sk_json_add_string(e->b, key, klen);
    sk_buf_addc(e->b, ':');
    e->path[level].key = key;
    e->path[level].len = klen;
    if (sk_enc_value(e, lua_gettop(L), level + 1) != 0) return -1;
    lua_pop(L, 1);
  }
  sk_buf_addc(e->b, '}');
  return 0;
}

static int sk_enc_value(sk_enc *e, int idx, int level) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: sk_buf_adds(e->b, "null"); return 0;
    case LUA_TBOOLEAN: sk_buf_adds(e->b, lua_toboolean(L, idx) ? "true" : "false"); return 0;
    case LUA_TNUMBER: return sk_enc_number(e, idx, level);
    case LUA_TSTRING: {
      size_t n, bad;
      const char *s = lua_tolstring(L, idx, &n);
      /* JSON text is UTF-8: anything else would reach the server garbled. */
      if (!sk_utf8_valid(s, n, &bad))
        return sk_enc_fail(e, level, "invalid UTF-8 at byte %zu", bad);
      sk_json_add_string(e->b, s, n);
      return 0;
    }
    case LUA_TTABLE: return sk_enc_table(e, idx, level);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) { /* the null sentinel */
        sk_buf_adds(e->b, "null");
        return 0;
      }
      /* fall through */
    default: return sk_enc_fail(e, level, "cannot encode a %s", luaL_typename(L, idx));
  }
}

int sk_json_encode(lua_State *L, int idx, int array_hint, sk_buf *b, char *err, size_t errcap) {
  sk_enc e;
  int top = lua_gettop(L), rc;
  if (idx < 0 && idx > LUA_REGISTRYINDEX) /* lua_absindex is 5.2+ */
    idx = top + idx + 1;
  e.L = L;
  e.b = b;
  e.array_hint = array_hint;
  e.err = err;
  e.errcap = errcap;
  if (err != NULL && errcap > 0) err[0] = '\0';
  rc = sk_enc_value(&e, idx, 0);
  lua_settop(L, top); /* an error leaves the traversal mid-way */
  if (rc == 0 && b->oom) rc = sk_enc_fail(&e, 0, "out of memory");
  return rc;
}

int sk_utf8_valid(const char *s, size_t n, size_t *bad) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i], lo = 0x80, hi = 0xBF;
    size_t need, k;
    if (c < 0x80) {
      /* ASCII fast path, eight bytes at a time. */
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) break;
        i += 8;
      }
      while (i < n && p[i] < 0x80) i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c == 0xE0) {
      need = 2;
      lo = 0xA0; /* overlong below U+0800 */
    } else if (c == 0xED) {
      need = 2;
      hi = 0x9F; /* surrogates D800-DFFF */
    } else if (c >= 0xE1 && c <= 0xEF) {
      need = 2;
    } else if (c == 0xF0) {
      need = 3;
      lo = 0x90; /* overlong below U+10000 */
    } else if (c >= 0xF1 && c <= 0xF3) {
      need = 3;
    } else if (c == 0xF4) {
      need = 3;
      hi = 0x8F; /* above U+10FFFF */
    } else {
      break; /* continuation byte, overlong C0/C1, or F5-FF */
    }
    if (n - i - 1 < need || p[i + 1] < lo || p[i + 1] > hi) break;
    for (k = 2; k <= need; k++)
      if ((p[i + k] & 0xC0) != 0x80) break;
    if (k <= need) break;
    i += need + 1;
  }
  if (i == n) return 1;
  if (bad != NULL) *bad = i;
  return 0;
}

void sk_json_push_decoder(lua_State *L, int max_depth) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  /* A private instance: settings on the shared module would leak into
   * (and be changed by) other users of cjson. */
  lua_getfield(L, -1, "new");
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "decode_max_depth");
  lua_pushinteger(L, max_depth);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, "decode_invalid_numbers");
  lua_pushboolean(L, 0);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, "decode"); /* cjson, instance, decode */
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Replaces the error at the top with a short message: a string without a
 * "chunk:line: " prefix. */
static void sk_short_error(lua_State *L) {
  const char *msg = lua_tostring(L, -1), *p;
  if (msg == NULL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "invalid JSON");
    return;
  }
  p = strchr(msg, ':');
  if (p == NULL || p[1] < '0' || p[1] > '9') return;
  p++;
  while (*p >= '0' && *p <= '9') p++;
  if (p[0] == ':' && p[1] == ' ') {
    lua_pushstring(L, p + 2);
    lua_replace(L, -2);
  }
}

static void sk_normalize_levels(lua_State *L, int idx, int levels);

int sk_json_decode(lua_State *L, int decoder_idx, const char *s, size_t n) {
  size_t bad;
  if (decoder_idx < 0 && decoder_idx > LUA_REGISTRYINDEX)
    decoder_idx = lua_gettop(L) + decoder_idx + 1;
  if (!sk_utf8_valid(s, n, &bad)) {
    char msg[48];
    snprintf(msg, sizeof msg, "invalid UTF-8 at byte %zu", bad);
    lua_pushstring(L, msg);
    return -1;
  }
  /* Never valid JSON, and lua-cjson would stop reading at it. */
  if (memchr(s, '\0', n) != NULL) {
    lua_pushliteral(L, "NUL byte in JSON text");
    return -1;
  }
  lua_pushvalue(L, decoder_idx);
  lua_pushlstring(L, n > 0 ? s : "", n);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    sk_short_error(L);
    return -1;
  }
  /* Only as deep as the text has numbers: a page of 100 users whose only
   * number is total_size is not walked. */
  sk_normalize_levels(L, -1, sk_json_number_levels(s, n));
  return 0;
}

#if LUA_VERSION_NUM >= 503
/* 1 with the integer in *v when the number at idx is an integral float
 * below 2^53 (from there on the float may already be a rounded value). */
static int sk_integral_float(lua_State *L, int idx, lua_Integer *v) {
  lua_Number d;
  if (lua_isinteger(L, idx)) return 0;
  d = lua_tonumber(L, idx);
  if (floor(d) != d || fabs(d) >= SK_2POW53) /* also NaN and inf */
    return 0;
  *v = (lua_Integer)d;
  return 1;
}

/* levels: how many more levels of tables may hold numbers. */
static void sk_normalize_table(lua_State *L, int idx, int levels) {
  lua_Integer v;
  /* key, value, key copy, new value */
  if (levels <= 0 || !lua_checkstack(L, 4)) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int type = lua_type(L, -1);
    if (type == LUA_TNUMBER && sk_integral_float(L, -1, &v)) {
      /* Assigning to an existing field is allowed during lua_next. */
      lua_pushvalue(L, -2);
      lua_pushinteger(L, v);
      lua_rawset(L, idx);
    } else if (type == LUA_TTABLE) {
      sk_normalize_table(L, lua_gettop(L), levels - 1);
    }
    lua_pop(L, 1);
  }
}
#endif

static void sk_normalize_levels(lua_State *L, int idx, int levels) {
#if LUA_VERSION_NUM >= 503
  lua_Integer v;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER && sk_integral_float(L, idx, &v)) {
    lua_pushinteger(L, v);
    lua_replace(L, idx);
  } else if (lua_type(L, idx) == LUA_TTABLE) {
    /* The table's own values are level 1. */
    sk_normalize_table(L, idx, levels - 1);
  }
#else
  /* No integer subtype: floats already are the only numbers. */
  (void)L;
  (void)idx;
  (void)levels;
#endif
}

void sk_json_normalize(lua_State *L, int idx) {
  sk_normalize_levels(L, idx, SK_JSON_NORMALIZE_DEPTH);
}

int sk_json_number_levels(const char *s, size_t n) {
  size_t i = 0;
  int depth = 0, levels = 0;
  while (i < n) {
    unsigned char ch = (unsigned char)s[i++];
    if (ch == '"') {
      /* Skip the string with memchr (most of a body is strings): its end
       * is the first quote not escaped by an odd run of backslashes. */
      for (;;) {
        const char *quote = memchr(s + i, '"', n - i);
        size_t at, run = 0;
        if (!quote) return levels; /* unterminated: the decoder refuses it */
        at = (size_t)(quote - s);
        while (at - run > i && s[at - run - 1] == '\\') run++;
        i = at + 1;
        if (run % 2 == 0) break;
      }
    } else if (ch == '{' || ch == '[') {
      depth++;
    } else if (ch == '}' || ch == ']') {
      depth--;
    } else if ((ch >= '0' && ch <= '9') || ch == '-') {
      if (depth >= levels) levels = depth + 1;
      while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                       s[i] == '+' || s[i] == '-'))
        i++;
    }
  }
  return levels;
}
