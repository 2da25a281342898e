/* Lua params -> an HTTP request: every value is read raw, once, checked,
 * and written; nothing is allocated outside req, so a raise leaks nothing.
 * Paging (SK_PAGING_TOKEN, SK_PAGING_NUMBER) is lua/scalekit/iterate.lua's. */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "request.h"
#include "url.h"

#define MAX_SAFE_DOUBLE_INT 9007199254740992.0 /* 2^53 */

static const char *type_name(int type) {
  switch (type) {
    case SK_T_STRING: return "a string";
    case SK_T_INTEGER: return "an integer";
    case SK_T_NUMBER: return "a number";
    case SK_T_BOOLEAN: return "a boolean";
    case SK_T_OBJECT: return "a table (JSON object)";
    default: return "a table (JSON array)";
  }
}

static int is_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

typedef enum { INT_OK, INT_NOT_INTEGER, INT_OUT_OF_RANGE } int_check;

/* An integer the API can take, exactly, within the range of format. */
static int_check integer_value(lua_State *L, int idx, int format, long long *out) {
  long long v;
  if (lua_type(L, idx) != LUA_TNUMBER) return INT_NOT_INTEGER;
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx)) {
    v = (long long)lua_tointeger(L, idx);
  } else
#endif
  {
    lua_Number d = lua_tonumber(L, idx);
    if (!sk_finite(d) || d != (lua_Number)(long long)d) return INT_NOT_INTEGER;
    /* from 2^53 on, a float no longer says which integer was meant
     * (2^53 + 1 rounds to 2^53) */
    if (d >= MAX_SAFE_DOUBLE_INT || d <= -MAX_SAFE_DOUBLE_INT) return INT_OUT_OF_RANGE;
    v = (long long)d;
  }
  switch (format) {
    case SK_F_INT32:
      if (v < -2147483648LL || v > 2147483647LL) return INT_OUT_OF_RANGE;
      break;
    case SK_F_UINT32:
      if (v < 0 || v > 4294967295LL) return INT_OUT_OF_RANGE;
      break;
    case SK_F_INT64: break;
    default:
      if (v > 9007199254740992LL || v < -9007199254740992LL) return INT_OUT_OF_RANGE;
  }
  *out = v;
  return INT_OK;
}

/* Raises unless the value at idx fits type (and, for integers, format). */
static void check_type(lua_State *L, int idx, int type, int format, const char *who,
                       const char *field) {
  long long v;
  int ok;
  switch (type) {
    case SK_T_STRING: ok = lua_type(L, idx) == LUA_TSTRING; break;
    case SK_T_INTEGER:
      switch (integer_value(L, idx, format, &v)) {
        case INT_OK: return;
        case INT_OUT_OF_RANGE:
          sk_argerror(L, who, "field '%s' is out of range (%s)", field,
                      format == SK_F_INT32    ? "32-bit integer"
                      : format == SK_F_UINT32 ? "unsigned 32-bit integer"
                                              : "an integer given as a float must be below 2^53");
          return;
        default: ok = 0;
      }
      break;
    case SK_T_NUMBER:
      ok = lua_type(L, idx) == LUA_TNUMBER && sk_finite(lua_tonumber(L, idx));
      break;
    case SK_T_BOOLEAN: ok = lua_type(L, idx) == LUA_TBOOLEAN; break;
    default: ok = lua_type(L, idx) == LUA_TTABLE;
  }
  if (!ok)
    sk_argerror(L, who, "field '%s' must be %s (got %s)", field, type_name(type),
                sk_typename(L, idx));
}

static void check_utf8(lua_State *L, int idx, const char *who, const char *field) {
  size_t n, bad;
  const char *s = lua_tolstring(L, idx, &n);
  if (!sk_utf8_valid(s, n, &bad))
    sk_argerror(L, who, "field '%s' is not valid UTF-8 (byte %d)", field, (int)bad + 1);
}

void sk_request_check_path_value(lua_State *L, int idx, const char *who, const char *what) {
  size_t n = 0;
  /* type first: lua_tolstring would turn a number into a string */
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
  if (!s || n == 0)
    sk_argerror(L, who, "%s must be a non-empty string (got %s)", what,
                s ? "an empty string" : sk_typename(L, idx));
  if (sk_has_forbidden_byte(s, n)) sk_argerror(L, who, "%s must not contain CR, LF or NUL", what);
  /* a dot segment would name another resource (".." is the parent) */
  if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    sk_argerror(L, who, "%s must not be '.' or '..'", what);
}

/* Pushes params[p->name] (raw), or the fallback, or the client's own
 * credential; nil when none. */
static void push_value(lua_State *L, const sk_client *c, const sk_operation *op, int params_idx,
                       const sk_param *p, sk_request *req) {
  if (params_idx) {
    lua_pushstring(L, p->name);
    lua_rawget(L, params_idx);
  } else {
    lua_pushnil(L);
  }
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  if (p->fallback) {
    lua_pushstring(L, p->fallback);
  } else if ((op->flags & SK_OP_CLIENT_AUTH) && strcmp(p->name, "client_id") == 0) {
    lua_pushstring(L, c->client_id);
    req->own_credentials |= 1;
  } else if ((op->flags & SK_OP_CLIENT_AUTH) && strcmp(p->name, "client_secret") == 0) {
    lua_pushstring(L, c->client_secret);
    req->own_credentials |= 2;
  } else {
    lua_pushnil(L);
  }
}

static int same_string(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* Two names for one field on the wire (a first-document name kept as an
 * alias of the live one, e.g. tool_input and params). */
static int same_field(const sk_param *a, const sk_param *b) {
  return a->in == b->in && same_string(a->parent, b->parent) && strcmp(a->wire, b->wire) == 0;
}

/* The first parameter of op naming the same field as p. */
static const sk_param *primary_of(const sk_operation *op, const sk_param *p) {
  const sk_param *q;
  for (q = op->params; q != p; q++)
    if (same_field(q, p)) return q;
  return p;
}

/* Pushes the value of the field whose primary parameter is p, under
 * whichever of its names the caller used (two at once raise), or its
 * fallback; returns the parameter that names it. */
static const sk_param *push_field(lua_State *L, const sk_client *c, const sk_operation *op,
                                  int params_idx, const sk_param *p, const char *who,
                                  sk_request *req) {
  const sk_param *q, *given = NULL;
  for (q = p; q->name && params_idx; q++) {
    if (!same_field(q, p)) continue;
    lua_pushstring(L, q->name);
    lua_rawget(L, params_idx);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
    } else if (given) {
      sk_argerror(L, who, "'%s' and '%s' are the same field: give one", given->name, q->name);
    } else {
      given = q;
    }
  }
  if (given) return given;
  push_value(L, c, op, 0, p, req);
  return p;
}

static void check_keys(lua_State *L, const sk_operation *op, int params_idx, const char *who) {
  lua_pushnil(L);
  while (lua_next(L, params_idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      sk_argerror(L, who, "field names must be strings (got a %s key)", sk_typename(L, -1));
    if (!sk_catalog_param(op, lua_tostring(L, -1)))
      sk_argerror(L, who, "unknown field '%s'", lua_tostring(L, -1));
  }
}

static const sk_param *path_param(const sk_operation *op, const char *wire, size_t len) {
  const sk_param *p;
  for (p = op->params; p->name; p++)
    if (p->in == SK_IN_PATH && strlen(p->wire) == len && strncmp(p->wire, wire, len) == 0) return p;
  return NULL;
}

/* Query value of the scalar at idx (checked already). */
static void add_query_value(lua_State *L, sk_buf *url, const char *name, int idx, int type) {
  char num[40];
  const char *value;
  size_t n;
  long long v;
  if (type == SK_T_INTEGER && integer_value(L, idx, SK_F_INT64, &v) == INT_OK) {
    n = (size_t)snprintf(num, sizeof num, "%lld", v);
    value = num;
  } else if (type == SK_T_NUMBER) {
    n = (size_t)snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, idx));
    value = num;
  } else if (type == SK_T_BOOLEAN) {
    value = lua_toboolean(L, idx) ? "true" : "false";
    n = strlen(value);
  } else {
    value = lua_tolstring(L, idx, &n);
  }
  sk_query_add(url, name, value, n);
}

static void build_url(lua_State *L, const sk_client *c, const sk_operation *op, int params_idx,
                      const char *who, sk_request *req) {
  const char *t = op->path, *open;
  const sk_param *p;
  sk_buf *url = &req->url;
  sk_buf_adds(url, c->base_url);
  while ((open = strchr(t, '{')) != NULL) {
    const char *close = strchr(open, '}');
    char what[80];
    size_t n;
    const char *value;
    p = path_param(op, open + 1, (size_t)(close - open - 1));
    sk_buf_add(url, t, (size_t)(open - t));
    p = push_field(L, c, op, params_idx, p, who, req);
    if (lua_isnil(L, -1)) sk_argerror(L, who, "missing required field '%s'", p->name);
    snprintf(what, sizeof what, "'%s'", p->name);
    sk_request_check_path_value(L, -1, who, what);
    check_utf8(L, -1, who, p->name);
    value = lua_tolstring(L, -1, &n);
    sk_url_escape(url, value, n);
    lua_pop(L, 1);
    t = close + 1;
  }
  sk_buf_adds(url, t);
  for (p = op->params; p->name; p++) {
    const sk_param *field = p;
    if (p->in != SK_IN_QUERY || primary_of(op, p) != p) continue;
    p = push_field(L, c, op, params_idx, p, who, req);
    if (lua_isnil(L, -1)) {
      if (p->required) sk_argerror(L, who, "missing required field '%s'", p->name);
    } else if (p->type == SK_T_ARRAY) {
      int i, top = lua_gettop(L);
      size_t count;
      check_type(L, top, SK_T_ARRAY, 0, who, p->name);
      count = sk_rawlen(L, top);
      for (i = 1; i <= (int)count; i++) {
        char element[96];
        lua_rawgeti(L, top, i);
        snprintf(element, sizeof element, "%s[%d]", p->name, i);
        check_type(L, -1, p->items, p->format, who, element);
        if (p->items == SK_T_STRING) check_utf8(L, -1, who, element);
        add_query_value(L, url, p->wire, lua_gettop(L), p->items);
        lua_pop(L, 1);
      }
    } else {
      check_type(L, -1, p->type, p->format, who, p->name);
      if (p->type == SK_T_STRING) check_utf8(L, -1, who, p->name);
      add_query_value(L, url, p->wire, lua_gettop(L), p->type);
    }
    lua_pop(L, 1);
    p = field;
  }
}

/* Writes the JSON value at idx for field p; raises on a wrong value. */
static void add_json_value(lua_State *L, int idx, const sk_param *p, const char *who,
                           sk_buf *body) {
  char inner[200];
  long long v;
  idx = lua_absindex(L, idx);
  if (is_null(L, idx) && !p->required) {
    sk_buf_adds(body, "null");
    return;
  }
  check_type(L, idx, p->type, p->format, who, p->name);
  if (p->type == SK_T_ARRAY) {
    size_t i, count = sk_rawlen(L, idx);
    for (i = 1; i <= count; i++) {
      char element[96];
      lua_rawgeti(L, idx, (int)i);
      snprintf(element, sizeof element, "%s[%d]", p->name, (int)i);
      check_type(L, -1, p->items, SK_F_NONE, who, element);
      lua_pop(L, 1);
    }
  }
  if (p->type == SK_T_INTEGER) {
    char num[32];
    integer_value(L, idx, p->format, &v);
    snprintf(num, sizeof num, "%lld", v);
    sk_buf_adds(body, num);
    return;
  }
  if (sk_json_encode(L, idx, p->type == SK_T_ARRAY, body, inner, sizeof inner) != 0) {
    char err[300];
    /* inner is "reason" or ".path[2]: reason" */
    snprintf(err, sizeof err, inner[0] == '.' || inner[0] == '[' ? "field %s%s" : "field %s: %s",
             p->name, inner);
    sk_argerror(L, who, "%s", err);
  }
}

static void add_key(sk_buf *body, int *first, const char *key) {
  if (!*first) sk_buf_addc(body, ',');
  *first = 0;
  sk_json_add_string(body, key, strlen(key));
  sk_buf_addc(body, ':');
}

/* A body object that also takes flat fields (parent == p->wire): the
 * caller's table for it (value at idx, or nil) merged with them. */
static void add_container(lua_State *L, const sk_client *c, const sk_operation *op, int params_idx,
                          const sk_param *container, int idx, const char *who, sk_request *req) {
  const sk_param *p;
  int first = 1;
  sk_buf *body = &req->body;
  idx = lua_absindex(L, idx);
  sk_buf_addc(body, '{');
  if (!lua_isnil(L, idx)) {
    check_type(L, idx, SK_T_OBJECT, 0, who, container->name);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      char err[200];
      if (lua_type(L, -2) != LUA_TSTRING)
        sk_argerror(L, who, "field '%s' has a %s key", container->name, sk_typename(L, -2));
      for (p = op->params; p->name; p++)
        if (p->parent && strcmp(p->parent, container->wire) == 0 &&
            strcmp(p->wire, lua_tostring(L, -2)) == 0) {
          lua_pushstring(L, p->name);
          lua_rawget(L, params_idx);
          if (!lua_isnil(L, -1))
            sk_argerror(L, who, "'%s' is given twice: flat and inside '%s'", p->name,
                        container->name);
          lua_pop(L, 1);
        }
      add_key(body, &first, lua_tostring(L, -2));
      if (sk_json_encode(L, lua_gettop(L), 0, body, err, sizeof err) != 0)
        sk_argerror(L, who, "field %s.%s: %s", container->name, lua_tostring(L, -2), err);
      lua_pop(L, 1);
    }
  }
  for (p = op->params; p->name; p++) {
    const sk_param *given;
    if (!p->parent || strcmp(p->parent, container->wire) != 0 || primary_of(op, p) != p) continue;
    given = push_field(L, c, op, params_idx, p, who, req);
    if (lua_isnil(L, -1)) {
      if (p->required) sk_argerror(L, who, "missing required field '%s'", p->name);
    } else {
      add_key(body, &first, p->wire);
      add_json_value(L, -1, given, who, body);
    }
    lua_pop(L, 1);
  }
  sk_buf_addc(body, '}');
}

static int has_children(const sk_operation *op, const sk_param *container) {
  const sk_param *p;
  for (p = op->params; p->name; p++)
    if (p->parent && strcmp(p->parent, container->wire) == 0) return 1;
  return 0;
}

static int any_child_given(lua_State *L, const sk_operation *op, int params_idx,
                           const sk_param *container) {
  const sk_param *p;
  int given = 0;
  for (p = op->params; p->name && params_idx && !given; p++) {
    if (!p->parent || strcmp(p->parent, container->wire) != 0) continue;
    lua_pushstring(L, p->name);
    lua_rawget(L, params_idx);
    given = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  return given;
}

static void build_json_body(lua_State *L, const sk_client *c, const sk_operation *op,
                            int params_idx, const char *who, sk_request *req) {
  const sk_param *p;
  int first = 1;
  sk_buf *body = &req->body;
  sk_buf_addc(body, '{');
  for (p = op->params; p->name; p++) {
    const sk_param *given;
    if (p->in != SK_IN_BODY || p->parent || primary_of(op, p) != p) continue;
    given = push_field(L, c, op, params_idx, p, who, req);
    if (has_children(op, p)) {
      if (!lua_isnil(L, -1) || any_child_given(L, op, params_idx, p)) {
        add_key(body, &first, p->wire);
        add_container(L, c, op, params_idx, p, -1, who, req);
      } else if (p->required) {
        sk_argerror(L, who, "missing required field '%s'", p->name);
      }
    } else if (lua_isnil(L, -1)) {
      if (p->required) sk_argerror(L, who, "missing required field '%s'", p->name);
    } else {
      add_key(body, &first, p->wire);
      add_json_value(L, -1, given, who, body);
    }
    lua_pop(L, 1);
  }
  sk_buf_addc(body, '}');
}

/* The fields of a credentials form that are no secret (everything else:
 * client_secret, code, code_verifier, refresh_token, is masked). */
static int public_form_field(const sk_param *p) {
  static const char *const public_names[] = {"grant_type", "client_id", "redirect_uri", "scope",
                                             NULL};
  const char *const *name;
  for (name = public_names; *name; name++)
    if (strcmp(p->wire, *name) == 0) return 1;
  return 0;
}

static void build_form_body(lua_State *L, const sk_client *c, const sk_operation *op,
                            int params_idx, const char *who, sk_request *req) {
  const sk_param *p;
  for (p = op->params; p->name; p++) {
    const char *value;
    size_t n;
    const sk_param *given;
    if (p->in != SK_IN_BODY || primary_of(op, p) != p) continue;
    given = push_field(L, c, op, params_idx, p, who, req);
    if (lua_isnil(L, -1)) {
      if (p->required) sk_argerror(L, who, "missing required field '%s'", p->name);
      lua_pop(L, 1);
      continue;
    }
    check_type(L, -1, given->type, given->format, who, given->name);
    value = lua_tolstring(L, -1, &n);
    if (req->body.len) sk_buf_addc(&req->body, '&');
    sk_buf_adds(&req->body, p->wire);
    sk_buf_addc(&req->body, '=');
    sk_form_escape(&req->body, value, n);
    if ((op->flags & SK_OP_CLIENT_AUTH) && !public_form_field(p))
      sk_mask_add(&req->secrets, value, n);
    lua_pop(L, 1);
  }
}

void sk_request_init(sk_request *req) {
  memset(req, 0, sizeof *req);
  sk_buf_init(&req->url);
  sk_buf_init(&req->body);
  sk_mask_init(&req->secrets);
}

void sk_request_build(lua_State *L, const sk_client *c, const sk_operation *op, int params_idx,
                      const char *who, sk_request *req) {
  if (params_idx) {
    params_idx = lua_absindex(L, params_idx);
    check_keys(L, op, params_idx, who);
  }
  req->op = op;
  build_url(L, c, op, params_idx, who, req);
  if (op->body == SK_BODY_JSON) {
    req->content_type = "application/json";
    build_json_body(L, c, op, params_idx, who, req);
  } else if (op->body == SK_BODY_FORM) {
    req->content_type = "application/x-www-form-urlencoded";
    build_form_body(L, c, op, params_idx, who, req);
  }
  if (req->url.oom || req->body.oom) luaL_error(L, "%s: out of memory", who);
}

void sk_request_free(sk_request *req) {
  sk_buf_free(&req->url);
  sk_buf_free(&req->body);
  sk_mask_free(&req->secrets);
}
