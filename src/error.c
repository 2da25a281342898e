/* Error objects: plain tables with a shared metatable, so callers can read
 * err.status / err.kind and print them; tostring gives one line. */
#include <stdio.h>
#include <string.h>
#include "error.h"
#include "json.h"

static void set_string(lua_State *L, const char *key, const char *value, sk_masks masks) {
  if (value && *value) {
    sk_push_masked(L, masks, value, strlen(value));
    lua_setfield(L, -2, key);
  }
}

void sk_error_push(lua_State *L, const sk_error_info *info, int details_idx, sk_masks masks) {
  if (details_idx) details_idx = lua_absindex(L, details_idx);
  lua_createtable(L, 0, 10);
  set_string(L, "kind", info->kind, NULL);
  if (info->status > 0) {
    lua_pushinteger(L, (lua_Integer)info->status);
    lua_setfield(L, -2, "status");
  }
  set_string(L, "code", info->code, masks);
  set_string(L, "message", info->message, masks);
  set_string(L, "request_id", info->request_id, masks);
  set_string(L, "operation", info->operation, NULL);
  lua_pushboolean(L, info->retryable);
  lua_setfield(L, -2, "retryable");
  lua_pushinteger(L, info->attempts);
  lua_setfield(L, -2, "attempts");
  if (details_idx) {
    lua_pushvalue(L, details_idx);
    lua_setfield(L, -2, "details");
  }
  luaL_getmetatable(L, SK_ERROR_MT);
  lua_setmetatable(L, -2);
}

static int has_secret(lua_State *L, int idx, sk_masks masks) {
  size_t n, len = 0;
  const char *s;
  if (lua_type(L, idx) != LUA_TSTRING) return 0;
  s = lua_tolstring(L, idx, &n);
  return sk_mask_find(masks, s, n, &len) != NULL;
}

static void push_redacted_value(lua_State *L, int idx, sk_masks masks) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  sk_push_masked(L, masks, s, n);
}

/* Pushes the value of the first of keys (NULL-terminated) that holds a
 * non-empty string, masked, and returns it; pushes nothing and returns
 * NULL if none does. */
static const char *string_field(lua_State *L, int idx, const char *const *keys, sk_masks redact) {
  for (; *keys; keys++) {
    lua_getfield(L, idx, *keys);
    /* non-empty as a C string: the message is one (it stops at a NUL) */
    if (lua_type(L, -1) == LUA_TSTRING && *lua_tostring(L, -1)) {
      push_redacted_value(L, -1, redact);
      lua_remove(L, -2);
      return lua_tostring(L, -1);
    }
    lua_pop(L, 1);
  }
  return NULL;
}

/* Masks every string, keys included, in the decoded table at idx, in
 * place. The decoder's depth limit bounds the recursion. */
static void redact_table(lua_State *L, int idx, sk_masks redact) {
  int renamed, i, n = 0;
  if (!lua_checkstack(L, 6)) return;
  lua_newtable(L); /* keys to rename: a key cannot be added during lua_next */
  renamed = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (has_secret(L, -1, redact)) {
      lua_pushvalue(L, -2);
      push_redacted_value(L, -2, redact);
      lua_rawset(L, idx); /* assigning an existing field is allowed in lua_next */
    } else if (lua_type(L, -1) == LUA_TTABLE) {
      redact_table(L, lua_gettop(L), redact);
    }
    lua_pop(L, 1);
    if (has_secret(L, -1, redact)) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, renamed, ++n);
    }
  }
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, renamed, i);         /* key */
    push_redacted_value(L, -1, redact); /* key, masked */
    lua_pushvalue(L, -2);
    lua_rawget(L, idx); /* key, masked, value */
    lua_rawset(L, idx); /* key */
    lua_pushnil(L);
    lua_rawset(L, idx);
  }
  lua_pop(L, 1);
}

void sk_error_push_response(lua_State *L, sk_error_info *info, int decoder_idx, const char *body,
                            size_t len, const char *content_type, sk_masks redact) {
  char message[200];
  int base = lua_gettop(L), details = 0;
  snprintf(message, sizeof message, "HTTP %ld", info->status);
  info->message = message;
  /* Masked after decoding: a JSON escape inside a secret would slip past
   * masking of the raw text. */
  if (len && sk_json_decode(L, decoder_idx, body, len) == 0 && lua_istable(L, -1)) {
    int decoded = lua_gettop(L);
    /* {code, message, details} from the API, {error, error_description}
     * from the OAuth endpoint, {title, detail} from RFC 7807 problem
     * bodies (proxies, gateways). Each stays on the stack while used. */
    static const char *const code_keys[] = {"code", "error", NULL};
    static const char *const message_keys[] = {"message", "error_description", "detail", "title",
                                               NULL};
    const char *text;
    info->code = string_field(L, decoded, code_keys, redact);
    if ((text = string_field(L, decoded, message_keys, redact)) != NULL) info->message = text;
    lua_getfield(L, decoded, "details");
    if (lua_istable(L, -1)) {
      redact_table(L, lua_gettop(L), redact);
    } else if (lua_type(L, -1) == LUA_TSTRING) { /* not the documented shape */
      push_redacted_value(L, -1, redact);
      lua_remove(L, -2);
    }
    if (!lua_isnil(L, -1)) details = lua_gettop(L);
  } else if (len && content_type && *content_type) {
    snprintf(message, sizeof message, "HTTP %ld with a non-JSON body (%.120s)", info->status,
             content_type);
    sk_push_masked(L, redact, message, strlen(message));
    info->message = lua_tostring(L, -1);
  }
  sk_error_push(L, info, details, redact);
  /* The error object replaces what reading the body left on the stack. */
  if (lua_gettop(L) > base + 1) {
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
  }
}

static const char *field(lua_State *L, int idx, const char *key) {
  const char *s;
  lua_getfield(L, idx, key);
  s = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the table still anchors the string */
  return s;
}

/* Control characters from a server's message would break the one-line
 * promise of tostring. */
static void add_line(luaL_Buffer *b, const char *s) {
  for (; *s; s++) luaL_addchar(b, (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* "scalekit: api error 404 NOT_FOUND: no such organization
 *  (getOrganization, request_id req-7, 1 attempt)" */
static int error_tostring(lua_State *L) {
  const char *kind, *code, *message, *operation, *request_id, *where;
  luaL_Buffer b;
  lua_Integer status, attempts;
  char num[64];
  luaL_checktype(L, 1, LUA_TTABLE);
  kind = field(L, 1, "kind");
  code = field(L, 1, "code");
  message = field(L, 1, "message");
  operation = field(L, 1, "operation");
  request_id = field(L, 1, "request_id");
  where = field(L, 1, "where"); /* set when an iterator raised it */
  lua_getfield(L, 1, "status");
  status = lua_tointeger(L, -1);
  lua_getfield(L, 1, "attempts");
  attempts = lua_tointeger(L, -1);
  lua_pop(L, 2);

  luaL_buffinit(L, &b);
  if (where) {
    add_line(&b, where);
    luaL_addstring(&b, ": ");
  }
  luaL_addstring(&b, "scalekit: ");
  luaL_addstring(&b, kind ? kind : "unknown");
  luaL_addstring(&b, " error");
  if (status > 0) {
    snprintf(num, sizeof num, " %lld", (long long)status);
    luaL_addstring(&b, num);
  }
  if (code) {
    luaL_addchar(&b, ' ');
    add_line(&b, code);
  }
  if (message) {
    luaL_addstring(&b, ": ");
    add_line(&b, message);
  }
  if (operation || request_id || attempts > 0) {
    const char *sep = "";
    luaL_addstring(&b, " (");
    if (operation) {
      add_line(&b, operation);
      sep = ", ";
    }
    if (request_id) {
      luaL_addstring(&b, sep);
      luaL_addstring(&b, "request_id ");
      add_line(&b, request_id);
      sep = ", ";
    }
    if (attempts > 0) {
      snprintf(num, sizeof num, "%s%lld attempt%s", sep, (long long)attempts,
               attempts == 1 ? "" : "s");
      luaL_addstring(&b, num);
    }
    luaL_addchar(&b, ')');
  }
  luaL_pushresult(&b);
  return 1;
}

void sk_error_register(lua_State *L) {
  sk_new_metatable(L, SK_ERROR_MT, NULL);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

int sk_error_is(lua_State *L) {
  int yes = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, SK_ERROR_MT);
    yes = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, yes);
  return 1;
}

/* Gives a plain table (an error built in Lua, or one that crossed from
 * another Lua VM) the error metatable. */
int sk_error_adopt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_getmetatable(L, SK_ERROR_MT);
  lua_setmetatable(L, 1);
  return 1;
}
