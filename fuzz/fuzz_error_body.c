/* Error-body parsing: sk_error_push_response (src/error.c) on the body of a
 * non-2xx response, as call.c uses it (the client's decoder, the client
 * secret and the token as the strings to mask).
 *
 * Input: 2 bytes status (100 + big-endian value % 500), then the
 * Content-Type up to the first '\n', then the body. (No '\n': no content
 * type, the rest is the body.)
 *
 * Checked: never raises; the stack grows by exactly the error object; it
 * has the error metatable, kind "api", the status as an integer and the
 * fields given in info; code/message/details come from a JSON object body
 * as documented ({code, message, details}, {error, error_description},
 * or an RFC 7807 {title, detail}),
 * otherwise the message is "HTTP <status>" or, with a content type and
 * a body, "HTTP <status> with a non-JSON body (<type>)"; tostring(err) is one line;
 * and neither secret appears anywhere in the object (message, code, any
 * key or string in details) or in tostring(err). */
#include "fuzz.h"

#define SECRET "test_secret"
#define TOKEN  "tok-1-4739bddab44a08b4"

static lua_State *L;
#define DECODER  1
#define CHECK_FN 2

static const char *const CHECK =
    "local lib, SECRET, TOKEN = ...\n"
    "local describe, same = lib.describe, lib.same\n"
    "local function cut(s) return (s:match('^[^%z]*')) end\n"
    "local function has_secret(s)\n"
    "  return s:find(SECRET, 1, true) or s:find(TOKEN, 1, true)\n"
    "end\n"
    /* The decodings under which the masker also looks for secrets. */
    "local function pdec(s, plus)\n"
    "  if plus then s = s:gsub('+', ' ') end\n"
    "  return (s:gsub('%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end))\n"
    "end\n"
    "local function junesc(s)\n"
    "  return (s:gsub('\\\\u00(%x%x)', function(h) return string.char(tonumber(h, 16)) end)\n"
    "           :gsub('\\\\([\"\\\\/])', '%1'))\n"
    "end\n"
    "local function shows_secret(s)\n"
    "  local j = junesc(s)\n"
    "  for _, v in ipairs { s, pdec(s), pdec(pdec(s)), pdec(s, true), j, pdec(j), pdec(j, true) } "
    "do\n"
    "    if has_secret(v) then return true end\n"
    "  end\n"
    "end\n"
    "local function leak(v, path, seen)\n"
    "  if type(v) == 'string' then\n"
    "    if has_secret(v) then return path .. ' = ' .. ('%q'):format(v) end\n"
    "  elseif type(v) == 'table' and not seen[v] then\n"
    "    seen[v] = true\n"
    "    for k, x in next, v do\n"
    "      local e = leak(k, path .. ' (key)', seen) or leak(x, path .. '.' .. tostring(k), seen)\n"
    "      if e then return e end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local ALLOWED = { kind = 1, status = 1, code = 1, message = 1, details = 1,\n"
    "  request_id = 1, operation = 1, retryable = 1, attempts = 1 }\n"
    /* err, its metatable, status, body, content type, ok, decoded */
    "return function(err, mt, status, body, ctype, ok, decoded)\n"
    "  if type(err) ~= 'table' then return 'not a table: ' .. describe(err) end\n"
    "  if getmetatable(err) ~= mt then return 'no error metatable' end\n"
    "  local e = leak(err, 'err', {})\n"
    "  if e then return 'secret in ' .. e end\n"
    "  local line = tostring(err)\n"
    "  if has_secret(line) then return 'secret in tostring: ' .. line end\n"
    "  if line:find('[%c\\127]') then return 'tostring not one line: ' .. ('%q'):format(line) end\n"
    "  local head = 'scalekit: api error ' .. status\n"
    "  if line:sub(1, #head) ~= head then return 'tostring: ' .. line end\n"
    "  for k in next, err do\n"
    "    if not ALLOWED[k] then return 'unexpected field ' .. describe(k) end\n"
    "  end\n"
    "  if err.kind ~= 'api' or err.status ~= status or math.type(err.status) ~= 'integer'\n"
    "     or err.operation ~= 'getOrganization' or err.request_id ~= 'req-7'\n"
    "     or err.retryable ~= true or err.attempts ~= 2 then\n"
    "    return 'fixed fields changed: ' .. line\n"
    "  end\n"
    "  if err.message ~= nil and (type(err.message) ~= 'string' or err.message == '') then\n"
    "    return 'message ' .. describe(err.message)\n"
    "  end\n"
    "  if err.code ~= nil and (type(err.code) ~= 'string' or err.code == '') then\n"
    "    return 'code ' .. describe(err.code)\n"
    "  end\n"
    /* Where secrets were masked the exact values are the masker's business. */
    "  if shows_secret(body) or shows_secret(ctype) or (ok and leak(decoded, 'body', {})) then "
    "return nil end\n"
    "  if ok and type(decoded) == 'table' then\n"
    "    local function first(keys)\n"
    "      for _, k in ipairs(keys) do\n"
    "        if type(decoded[k]) == 'string' and cut(decoded[k]) ~= '' then return cut(decoded[k]) "
    "end\n"
    "      end\n"
    "    end\n"
    "    local c = first { 'code', 'error' }\n"
    "    if err.code ~= c then return 'code ' .. describe(err.code) .. ', want ' .. describe(c) "
    "end\n"
    "    local want = first { 'message', 'error_description', 'detail', 'title' } or ('HTTP ' .. "
    "status)\n"
    "    if err.message ~= want then return 'message ' .. describe(err.message) .. ', want ' .. "
    "describe(want) end\n"
    "    local d = same(err.details, decoded.details, 'details')\n"
    "    if d then return d end\n"
    "    return nil\n"
    "  end\n"
    "  if err.code ~= nil or err.details ~= nil then return 'code/details from a non-object body' "
    "end\n"
    "  local want = 'HTTP ' .. status\n"
    "  if ctype ~= '' and #body > 0 then want = want .. ' with a non-JSON body (' .. ctype:sub(1, "
    "120) .. ')' end\n"
    "  if err.message ~= want then return 'message ' .. describe(err.message) .. ', want ' .. want "
    "end\n"
    "end\n";

static sk_mask secrets;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  int lib;
  sk_mask_init(&secrets);
  if (sk_mask_add(&secrets, SECRET, strlen(SECRET)) || sk_mask_add(&secrets, TOKEN, strlen(TOKEN)))
    abort();
  (void)argc;
  (void)argv;
  L = fuzz_new_state();
  sk_error_register(L);
  sk_json_push_decoder(L, 128);
  fuzz_push_chunk(L, "=fuzzlib", FUZZ_LUA_LIB);
  lib = lua_gettop(L);
  if (luaL_loadbuffer(L, CHECK, strlen(CHECK), "=check") != LUA_OK) abort();
  lua_pushvalue(L, lib);
  lua_pushliteral(L, SECRET);
  lua_pushliteral(L, TOKEN);
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) abort();
  lua_remove(L, lib);
  if (lua_gettop(L) != CHECK_FN) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const sk_mask *redact[2];
  const uint8_t *nl;
  size_t ctlen, blen;
  char *ctype, *body;
  long status;
  int top = lua_gettop(L), ok;
  sk_error_info info;

  if (size < 2) return 0;
  status = 100 + (long)(((unsigned)data[0] << 8 | data[1]) % 500);
  data += 2;
  size -= 2;
  nl = memchr(data, '\n', size);
  ctlen = nl ? (size_t)(nl - data) : 0;
  /* Exact-size copies: ASan catches reads past either. The content type is
   * a C string in call.c (a header value), so it stops at a NUL. */
  ctype = malloc(ctlen + 1);
  if (ctype == NULL) abort();
  memcpy(ctype, data, ctlen);
  ctype[ctlen] = '\0';
  if (nl) {
    data += ctlen + 1;
    size -= ctlen + 1;
  }
  blen = size;
  body = malloc(blen ? blen : 1);
  if (body == NULL) abort();
  memcpy(body, data, blen);

  redact[0] = &secrets;
  redact[1] = NULL;
  memset(&info, 0, sizeof info);
  info.kind = "api";
  info.status = status;
  info.request_id = "req-7";
  info.operation = "getOrganization";
  info.retryable = 1;
  info.attempts = 2;
  /* call.c passes NULL data for an empty body. */
  sk_error_push_response(L, &info, DECODER, blen ? body : NULL, blen, ctype, redact);
  FUZZ_CHECK(lua_gettop(L) == top + 1, "stack grew by %d", lua_gettop(L) - top);

  luaL_getmetatable(L, SK_ERROR_MT);
  lua_pushinteger(L, status);
  lua_pushlstring(L, body, blen);
  lua_pushstring(L, ctype);
  /* The body decoded on its own (normalised, as err.details is). */
  ok = blen > 0 && sk_json_decode(L, DECODER, body, blen) == 0;
  if (!ok) {
    lua_settop(L, top + 5);
    lua_pushnil(L);
  }
  lua_pushboolean(L, ok);
  lua_insert(L, -2);
  fuzz_lua_check(L, CHECK_FN, 7, "error object");
  lua_settop(L, top);
  free(ctype);
  free(body);
  /* Free this input's garbage now: libFuzzer counts mallocs and frees
   * per input and runs a (slow) leak check whenever they differ. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
