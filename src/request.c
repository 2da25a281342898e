/* Lua arguments -> an HTTP request for one operation row: validation
 * first (raising on programming mistakes), then URL and body. */
#include <stdio.h>
#include <string.h>
#include "scalekit.h"

static const char *type_name(int type) {
  switch (type) {
    case SK_T_STRING: return "a string";
    case SK_T_INTEGER: return "an integer";
    case SK_T_BOOLEAN: return "a boolean";
    case SK_T_OBJECT: return "a table (JSON object)";
    default: return "a table (JSON array)";
  }
}

static int is_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

static int is_integral(lua_State *L, int idx) {
  lua_Number n;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  if (sk_isinteger(L, idx)) return 1;
  n = lua_tonumber(L, idx);
  return n == (lua_Number)(long long)n && n > -9007199254740992.0 && n < 9007199254740992.0;
}

static int type_ok(lua_State *L, int idx, const sk_param *p) {
  switch (p->type) {
    case SK_T_STRING: return lua_type(L, idx) == LUA_TSTRING;
    case SK_T_INTEGER: return is_integral(L, idx);
    case SK_T_BOOLEAN: return lua_type(L, idx) == LUA_TBOOLEAN;
    default: return lua_type(L, idx) == LUA_TTABLE;
  }
}

/* Every check that can fail on the caller's input, before any allocation. */
static void validate(lua_State *L, const sk_operation *op, int params_idx, const char *who) {
  const sk_param *p;
  if (params_idx) {
    lua_pushnil(L);
    while (lua_next(L, params_idx)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        sk_argerror(L, who, "field names must be strings (got a %s key)",
                    luaL_typename(L, -2));
      p = sk_operation_param(op, lua_tostring(L, -2));
      if (!p) {
        sk_argerror(L, who, "unknown field '%s'", lua_tostring(L, -2));
      } else if (p->in == SK_IN_PATH) {
        size_t n = 0;
        /* type first: lua_tolstring would turn a number into a string */
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        if (!s || n == 0)
          sk_argerror(L, who, "'%s' must be a non-empty string", p->name);
        if (sk_has_forbidden_byte(s, n))
          sk_argerror(L, who, "'%s' must not contain CR, LF or NUL", p->name);
      } else if (!type_ok(L, -1, p) && !(p->in == SK_IN_BODY && !p->required && is_null(L, -1))) {
        sk_argerror(L, who, "field '%s' must be %s (got %s)", p->name, type_name(p->type),
                    luaL_typename(L, -1));
      }
      lua_pop(L, 1);
    }
  }
  for (p = op->params; p->name; p++) {
    if (!p->required) continue;
    if (params_idx) lua_getfield(L, params_idx, p->name);
    else lua_pushnil(L);
    if (lua_isnil(L, -1)) sk_argerror(L, who, "missing required field '%s'", p->name);
    lua_pop(L, 1);
  }
}

static int build_url(lua_State *L, const sk_client *c, const sk_operation *op, int params_idx,
                     sk_buf *url) {
  const char *t = op->path, *open;
  const sk_param *p;
  sk_buf_adds(url, c->base_url);
  while ((open = strchr(t, '{')) != NULL) {
    const char *close = strchr(open, '}');
    char name[32];
    size_t n;
    const char *value;
    sk_buf_add(url, t, (size_t)(open - t));
    snprintf(name, sizeof name, "%.*s", (int)(close - open - 1), open + 1);
    lua_getfield(L, params_idx, name);
    value = lua_tolstring(L, -1, &n);
    sk_url_escape(url, value, n);
    lua_pop(L, 1);
    t = close + 1;
  }
  sk_buf_adds(url, t);
  for (p = op->params; p->name; p++) {
    if (p->in != SK_IN_QUERY || !params_idx) continue;
    lua_getfield(L, params_idx, p->name);
    if (!lua_isnil(L, -1)) {
      char num[32];
      const char *value;
      size_t n;
      if (p->type == SK_T_INTEGER) {
        n = (size_t)snprintf(num, sizeof num, "%lld", (long long)lua_tonumber(L, -1));
        value = num;
      } else if (p->type == SK_T_BOOLEAN) {
        value = lua_toboolean(L, -1) ? "true" : "false";
        n = strlen(value);
      } else {
        value = lua_tolstring(L, -1, &n);
      }
      sk_query_add(url, p->name, value, n);
    }
    lua_pop(L, 1);
  }
  return url->oom ? -1 : 0;
}

static int build_json_body(lua_State *L, const sk_operation *op, int params_idx, sk_buf *body,
                           char *err, size_t errcap) {
  const sk_param *p;
  int first = 1;
  sk_buf_addc(body, '{');
  for (p = op->params; p->name && params_idx; p++) {
    if (p->in != SK_IN_BODY) continue;
    lua_getfield(L, params_idx, p->name);
    if (!lua_isnil(L, -1)) {
      char inner[200];
      if (!first) sk_buf_addc(body, ',');
      first = 0;
      sk_buf_addc(body, '"');
      sk_buf_adds(body, p->name);
      sk_buf_adds(body, "\":");
      if (sk_json_encode(L, -1, p->type == SK_T_ARRAY, body, inner, sizeof inner) != 0) {
        /* inner is "reason" or ".path[2]: reason" */
        snprintf(err, errcap, inner[0] == '.' || inner[0] == '[' ? "field %s%s" : "field %s: %s",
                 p->name, inner);
        lua_pop(L, 1);
        return -1;
      }
    }
    lua_pop(L, 1);
  }
  sk_buf_addc(body, '}');
  return 0;
}

static void build_form_body(lua_State *L, const sk_operation *op, int params_idx, sk_buf *body) {
  const sk_param *p;
  for (p = op->params; p->name; p++) {
    const char *value;
    size_t n;
    lua_getfield(L, params_idx, p->name);
    value = lua_tolstring(L, -1, &n);
    if (value) {
      if (body->len) sk_buf_addc(body, '&');
      sk_buf_adds(body, p->name);
      sk_buf_addc(body, '=');
      sk_form_escape(body, value, n);
    }
    lua_pop(L, 1);
  }
}

void sk_request_build(lua_State *L, const sk_client *c, const sk_operation *op,
                      int params_idx, const char *who, sk_request *req) {
  char err[256];
  if (params_idx) params_idx = lua_absindex(L, params_idx);
  validate(L, op, params_idx, who);

  memset(req, 0, sizeof *req);
  req->op = op;
  sk_buf_init(&req->url);
  sk_buf_init(&req->body);
  err[0] = '\0';
  if (build_url(L, c, op, params_idx, &req->url) == 0) {
    if (op->body == SK_BODY_JSON) {
      req->content_type = "application/json";
      build_json_body(L, op, params_idx, &req->body, err, sizeof err);
    } else if (op->body == SK_BODY_FORM) {
      req->content_type = "application/x-www-form-urlencoded";
      build_form_body(L, op, params_idx, &req->body);
    }
  }
  if (err[0] || req->url.oom || req->body.oom) {
    int oom = !err[0];
    sk_request_free(req);
    if (oom) luaL_error(L, "%s: out of memory", who);
    sk_argerror(L, who, "%s", err);
  }
}

void sk_request_free(sk_request *req) {
  sk_buf_free(&req->url);
  sk_buf_free(&req->body);
}
