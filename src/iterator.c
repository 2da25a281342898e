/* Pagination iterators: walk items (each*) or pages (pages) following
 * next_page_token. Only the current page is held, so memory stays flat;
 * a failed fetch raises the error object instead of ending the loop. */
#include <stdio.h>
#include <string.h>
#include "scalekit.h"

typedef struct sk_iterator {
  const sk_operation *op;
  int pages;   /* yield whole pages instead of items */
  int started; /* the first page was requested */
  int done;    /* finished, failed or closed */
  lua_Integer index; /* items of the current page handed out so far */
  lua_Integer count;
} sk_iterator;

/* User value slots. */
#define SLOT_CLIENT "client"
#define SLOT_PARAMS "params" /* private copy; page_token advances in it */
#define SLOT_ITEMS "items"   /* current page's item list */
#define SLOT_TOKEN "next"    /* next_page_token of the current page */

static void release(lua_State *L, int it_idx, sk_iterator *it) {
  it->done = 1;
  sk_getuservalue(L, it_idx);
  lua_pushnil(L);
  lua_setfield(L, -2, SLOT_ITEMS);
  lua_pushnil(L);
  lua_setfield(L, -2, SLOT_PARAMS);
  lua_pushnil(L);
  lua_setfield(L, -2, SLOT_CLIENT);
  lua_pop(L, 1);
}

/* close, __close and __gc: stop the walk and drop the page. */
static int iterator_close(lua_State *L) {
  sk_iterator *it = (sk_iterator *)luaL_checkudata(L, 1, SK_ITERATOR_MT);
  if (!it->done) release(L, 1, it);
  return 0;
}

/* Fetches the next page into the user value (uv at uv_idx). Leaves the
 * page table on the stack. Raises the error object on failure. */
static void fetch_page(lua_State *L, int it_idx, int uv_idx, sk_iterator *it) {
  char who[96];
  sk_request req;
  int nres;
  lua_getfield(L, uv_idx, SLOT_CLIENT);
  sk_client_check(L, -1, "iterator");
  lua_getfield(L, uv_idx, SLOT_PARAMS);
  if (it->started) {
    lua_getfield(L, uv_idx, SLOT_TOKEN);
    lua_setfield(L, -2, "page_token");
  }
  it->started = 1;
  snprintf(who, sizeof who, "iterator(%s)", it->op->id);
  sk_request_build(L, (sk_client *)lua_touserdata(L, -2), it->op, -1, who, &req);
  lua_pop(L, 1); /* params */
  nres = sk_call_execute(L, -1, &req);
  if (nres == 2) {
    release(L, it_idx, it);
    lua_error(L); /* the error object */
  }
  lua_remove(L, -2); /* client */
}

/* The generic-for step: next item (or page), nil at the end. */
static int iterator_step(lua_State *L) {
  sk_iterator *it = (sk_iterator *)luaL_checkudata(L, lua_upvalueindex(1), SK_ITERATOR_MT);
  int it_idx, uv;
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  it_idx = 1;
  if (it->done) return 0;
  sk_getuservalue(L, it_idx);
  uv = 2;
  lua_getfield(L, uv, SLOT_CLIENT);
  sk_client_check(L, -1, "iterator"); /* no more items once it is closed */
  lua_pop(L, 1);
  for (;;) {
    const char *token;
    size_t token_len;
    int page;
    if (it->index < it->count) {
      lua_getfield(L, uv, SLOT_ITEMS);
      lua_rawgeti(L, -1, (int)++it->index);
      return 1;
    }
    lua_getfield(L, uv, SLOT_TOKEN);
    token = lua_tolstring(L, -1, &token_len);
    lua_pop(L, 1);
    if (it->started && (!token || token_len == 0)) {
      release(L, it_idx, it);
      return 0;
    }
    fetch_page(L, it_idx, uv, it);
    page = lua_gettop(L);
    /* A server repeating the token it was given would loop forever. */
    lua_getfield(L, page, "next_page_token");
    lua_getfield(L, uv, SLOT_PARAMS);
    lua_getfield(L, -1, "page_token");
    if (lua_type(L, -3) == LUA_TSTRING && sk_rawlen(L, -3) > 0 && lua_rawequal(L, -1, -3)) {
      sk_error_info info;
      memset(&info, 0, sizeof info);
      info.kind = "decode";
      info.message = "next_page_token repeats the token of the request";
      info.operation = it->op->id;
      release(L, it_idx, it);
      sk_error_push(L, &info, 0);
      return lua_error(L);
    }
    lua_pop(L, 2);
    lua_setfield(L, uv, SLOT_TOKEN);
    if (it->pages) return 1;
    lua_getfield(L, page, it->op->items);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
    it->index = 0;
    it->count = (lua_Integer)sk_rawlen(L, -1);
    lua_setfield(L, uv, SLOT_ITEMS);
    lua_settop(L, uv);
  }
}

int sk_iterator_push(lua_State *L, int client_idx, const sk_operation *op, int params_idx,
                     int pages, const char *who) {
  sk_iterator *it;
  sk_request req;
  client_idx = lua_absindex(L, client_idx);
  params_idx = lua_absindex(L, params_idx);
  /* Validate now, so that mistakes raise where the loop is written. */
  sk_request_build(L, (sk_client *)lua_touserdata(L, client_idx), op, params_idx, who, &req);
  sk_request_free(&req);

  it = (sk_iterator *)sk_newuserdata(L, sizeof *it);
  memset(it, 0, sizeof *it);
  it->op = op;
  it->pages = pages;
  luaL_getmetatable(L, SK_ITERATOR_MT);
  lua_setmetatable(L, -2);
  sk_getuservalue(L, -1);
  lua_pushvalue(L, client_idx);
  lua_setfield(L, -2, SLOT_CLIENT);
  lua_newtable(L); /* a copy: the caller's table is never modified */
  lua_pushnil(L);
  while (lua_next(L, params_idx)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_setfield(L, -2, SLOT_PARAMS);
  lua_pop(L, 1);

  lua_pushvalue(L, -1);
  lua_pushcclosure(L, iterator_step, 1);
  lua_insert(L, -2);
#if LUA_VERSION_NUM >= 504
  /* step, nil, nil, closing value: `for` closes the walk on break/error */
  lua_pushnil(L);
  lua_insert(L, -2);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 4;
#else
  /* step, the iterator (state, ignored by step; lets callers :close()) */
  return 2;
#endif
}

void sk_iterator_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"close", iterator_close}, {NULL, NULL}};
  sk_new_metatable(L, SK_ITERATOR_MT, iterator_close);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
