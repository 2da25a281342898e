/* Exchanges driven from Lua (see driver.h). A request crosses as a table
 * {method, url, body, headers = {...}, transport settings}; a response as
 * {status, body, request_id, retry_after, content_type, max_age, outcome,
 * request_sent, error}. */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "driver.h"

typedef struct lua_exchange {
  sk_exchange x;
  sk_transfer t;
  int live; /* holds buffers */
} lua_exchange;

#define UV_CLIENT 1

static int exchange_close(lua_State *L) {
  lua_exchange *e = (lua_exchange *)luaL_checkudata(L, 1, SK_EXCHANGE_MT);
  if (e->live) {
    e->live = 0;
    sk_exchange_free(&e->x);
    sk_transfer_free(&e->t);
  }
  return 0;
}

/* Leaves the client at 2 for the exchange at 1. */
static lua_exchange *check_exchange(lua_State *L) {
  lua_exchange *e = (lua_exchange *)luaL_checkudata(L, 1, SK_EXCHANGE_MT);
  if (!e->live) luaL_error(L, "scalekit: exchange is closed");
  sk_getuservalue(L, 1);
  lua_rawgeti(L, -1, UV_CLIENT);
  lua_remove(L, -2);
  lua_insert(L, 2);
  return e;
}

void sk_driver_push_exchange(lua_State *L, int client_idx, const sk_operation *op, int params_idx,
                             const sk_call_options *opts, const char *who) {
  sk_client *c = (sk_client *)lua_touserdata(L, client_idx);
  lua_exchange *e;
  client_idx = lua_absindex(L, client_idx);
  if (params_idx) params_idx = lua_absindex(L, params_idx);
  e = (lua_exchange *)sk_newuserdata(L, sizeof *e);
  memset(e, 0, sizeof *e);
  luaL_getmetatable(L, SK_EXCHANGE_MT);
  lua_setmetatable(L, -2);
  sk_exchange_init(&e->x);
  sk_transfer_init(&e->t);
  e->live = 1;
  e->x.timeout = opts->timeout;
  e->x.want_response = opts->want_response;
  sk_getuservalue(L, -1);
  lua_pushvalue(L, client_idx);
  lua_rawseti(L, -2, UV_CLIENT);
  lua_pop(L, 1);
  sk_request_build(L, c, op, params_idx, who, &e->x.req);
}

int sk_driver_exchange(lua_State *L) {
  const sk_operation *op;
  sk_call_options opts;
  char who[128];
  sk_client_check(L, 1, "call");
  luaL_checkstring(L, 2);
  op = sk_catalog_find(lua_tostring(L, 2));
  if (!op) return sk_argerror(L, "call", "unknown operation '%s'", lua_tostring(L, 2));
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
    return sk_argerror(L, "call", "argument #2 (params) must be a table (got %s)",
                       sk_typename(L, 3));
  if (lua_type(L, 5) == LUA_TSTRING)
    snprintf(who, sizeof who, "%s", lua_tostring(L, 5));
  else
    snprintf(who, sizeof who, "call(%s)", lua_tostring(L, 2));
  opts = sk_call_options_read(L, 4, who);
  sk_driver_push_exchange(L, 1, op, lua_istable(L, 3) ? 3 : 0, &opts, who);
  return 1;
}

static void set_string(lua_State *L, const char *key, const char *value) {
  if (!value) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

static void set_number(lua_State *L, const char *key, double value) {
  lua_pushnumber(L, value);
  lua_setfield(L, -2, key);
}

static void push_request(lua_State *L, const sk_transfer *t) {
  lua_createtable(L, 0, 12);
  set_string(L, "method", t->http.method);
  set_string(L, "url", t->http.url);
  if (t->http.body) {
    lua_pushlstring(L, t->http.body, t->http.body_len);
    lua_setfield(L, -2, "body");
  }
  set_string(L, "content_type", t->http.content_type);
  set_string(L, "authorization", t->http.authorization);
  set_string(L, "user_agent", t->cfg.user_agent);
  set_string(L, "ca_file", t->cfg.ca_file);
  set_string(L, "proxy", t->cfg.proxy);
  set_number(L, "timeout_ms", (double)t->cfg.timeout_ms);
  set_number(L, "connect_timeout_ms", (double)t->cfg.connect_timeout_ms);
  set_number(L, "stall_timeout", t->cfg.stall_timeout_s);
  set_number(L, "max_body", (double)t->cfg.max_body);
  lua_pushboolean(L, t->cfg.insecure);
  lua_setfield(L, -2, "insecure");
}

/* x:next() -> "send", request | "token" | "wait", seconds | "done" */
static int exchange_next(lua_State *L) {
  lua_exchange *e = check_exchange(L);
  double wait = 0;
  switch (sk_exchange_next(L, 2, &e->x, &e->t, &wait)) {
    case SK_STEP_SEND:
      lua_pushliteral(L, "send");
      push_request(L, &e->t);
      return 2;
    case SK_STEP_TOKEN: lua_pushliteral(L, "token"); return 1;
    case SK_STEP_WAIT:
      lua_pushliteral(L, "wait");
      lua_pushnumber(L, wait);
      return 2;
    default: lua_pushliteral(L, "done"); return 1;
  }
}

static void copy_field(lua_State *L, int idx, const char *key, char *out, size_t cap) {
  lua_getfield(L, idx, key);
  snprintf(out, cap, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
  lua_pop(L, 1);
}

static double number_field(lua_State *L, int idx, const char *key, double dflt) {
  double v;
  lua_getfield(L, idx, key);
  v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

/* Fills res from a response table at idx. */
static void read_response(lua_State *L, int idx, sk_http_response *res) {
  size_t n = 0;
  const char *body;
  res->status = (long)number_field(L, idx, "status", 0);
  res->outcome = (sk_net_outcome)number_field(L, idx, "outcome", SK_NET_FAILED);
  if (res->outcome > SK_NET_FAILED) res->outcome = SK_NET_FAILED;
  res->max_age = (long)number_field(L, idx, "max_age", -1);
  lua_getfield(L, idx, "request_sent");
  res->request_sent = lua_toboolean(L, -1);
  lua_getfield(L, idx, "body");
  body = lua_tolstring(L, -1, &n);
  sk_buf_reset(&res->body);
  if (body && sk_buf_add(&res->body, body, n) != 0) luaL_error(L, "scalekit: out of memory");
  lua_pop(L, 2);
  copy_field(L, idx, "request_id", res->request_id, sizeof res->request_id);
  copy_field(L, idx, "retry_after", res->retry_after, sizeof res->retry_after);
  copy_field(L, idx, "content_type", res->content_type, sizeof res->content_type);
  copy_field(L, idx, "error", res->error, sizeof res->error);
}

/* x:received(response) */
static int exchange_received(lua_State *L) {
  lua_exchange *e = check_exchange(L);
  luaL_checktype(L, 3, LUA_TTABLE);
  read_response(L, 3, &e->t.res);
  sk_exchange_received(L, 2, &e->x, &e->t);
  return 0;
}

/* x:grant(): the token set on the client (core.set_token) is for it */
static int exchange_grant(lua_State *L) {
  lua_exchange *e = check_exchange(L);
  sk_exchange_grant(&e->x, (sk_client *)lua_touserdata(L, 2));
  return 0;
}

/* x:fail(kind, message): ends it without a response (nginx thread trouble) */
static int exchange_fail(lua_State *L) {
  lua_exchange *e = check_exchange(L);
  lua_settop(L, 4);
  /* the strings must outlive the exchange: keep them in its user value */
  sk_getuservalue(L, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "fail_kind");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "fail_message");
  lua_pop(L, 1);
  sk_exchange_abort(&e->x, luaL_checkstring(L, 3), luaL_checkstring(L, 4));
  return 0;
}

/* x:result() -> value [, response] | nil, err */
static int exchange_result(lua_State *L) {
  lua_exchange *e = check_exchange(L);
  if (!sk_exchange_done(&e->x)) return luaL_error(L, "scalekit: exchange is not done");
  lua_settop(L, 2);
  if (sk_exchange_push_result(L, 2, &e->x, &e->t)) return lua_gettop(L) - 2;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* ---- transport: the bytes, in a worker thread ---- */

typedef struct lua_transport {
  CURL *easy;
} lua_transport;

static int transport_close(lua_State *L) {
  lua_transport *tr = (lua_transport *)luaL_checkudata(L, 1, SK_TRANSPORT_MT);
  if (tr->easy) curl_easy_cleanup(tr->easy);
  tr->easy = NULL;
  return 0;
}

int sk_driver_transport(lua_State *L) {
  lua_transport *tr = (lua_transport *)sk_newuserdata(L, sizeof *tr);
  tr->easy = NULL;
  luaL_getmetatable(L, SK_TRANSPORT_MT);
  lua_setmetatable(L, -2);
  if (!(tr->easy = curl_easy_init())) return luaL_error(L, "scalekit: out of memory");
  return 1;
}

static const char *string_field(lua_State *L, int idx, const char *key) {
  const char *s;
  lua_getfield(L, idx, key);
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* the request table anchors it */
  return s;
}

/* transport:perform(request) -> response */
static int transport_perform(lua_State *L) {
  lua_transport *tr = (lua_transport *)luaL_checkudata(L, 1, SK_TRANSPORT_MT);
  sk_transport_config cfg;
  sk_http_request req;
  sk_http_response res;
  if (!tr->easy) return luaL_error(L, "scalekit: transport is closed");
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&cfg, 0, sizeof cfg);
  memset(&req, 0, sizeof req);
  req.method = string_field(L, 2, "method");
  req.url = string_field(L, 2, "url");
  req.content_type = string_field(L, 2, "content_type");
  req.authorization = string_field(L, 2, "authorization");
  lua_getfield(L, 2, "body");
  req.body = lua_tolstring(L, -1, &req.body_len);
  lua_pop(L, 1);
  cfg.user_agent = string_field(L, 2, "user_agent");
  cfg.ca_file = string_field(L, 2, "ca_file");
  cfg.proxy = string_field(L, 2, "proxy");
  cfg.timeout_ms = (long)number_field(L, 2, "timeout_ms", 0);
  cfg.connect_timeout_ms = (long)number_field(L, 2, "connect_timeout_ms", 0);
  cfg.stall_timeout_s = number_field(L, 2, "stall_timeout", 0);
  cfg.max_body = (size_t)number_field(L, 2, "max_body", 32.0 * 1024 * 1024);
  lua_getfield(L, 2, "insecure");
  cfg.insecure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!req.url) return luaL_argerror(L, 2, "request without a url");
  sk_http_response_init(&res);
  sk_transport_perform(tr->easy, &cfg, &req, &res);
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, res.status);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, res.outcome);
  lua_setfield(L, -2, "outcome");
  lua_pushboolean(L, res.request_sent);
  lua_setfield(L, -2, "request_sent");
  lua_pushinteger(L, res.max_age);
  lua_setfield(L, -2, "max_age");
  lua_pushlstring(L, res.body.data ? res.body.data : "", res.body.len);
  lua_setfield(L, -2, "body");
  sk_http_response_free(&res);
  set_string(L, "request_id", res.request_id);
  set_string(L, "retry_after", res.retry_after);
  set_string(L, "content_type", res.content_type);
  set_string(L, "error", res.error);
  return 1;
}

void sk_driver_register(lua_State *L) {
  static const luaL_Reg exchange_methods[] = {{"next", exchange_next},
                                              {"received", exchange_received},
                                              {"grant", exchange_grant},
                                              {"fail", exchange_fail},
                                              {"result", exchange_result},
                                              {"close", exchange_close},
                                              {NULL, NULL}};
  static const luaL_Reg transport_methods[] = {
      {"perform", transport_perform}, {"close", transport_close}, {NULL, NULL}};
  sk_new_metatable(L, SK_EXCHANGE_MT, exchange_close);
  lua_newtable(L);
  luaL_setfuncs(L, exchange_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  sk_new_metatable(L, SK_TRANSPORT_MT, transport_close);
  lua_newtable(L);
  luaL_setfuncs(L, transport_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
