/* Response decoding: sk_json_decode (src/json.c) = UTF-8 gate + lua-cjson
 * (the SDK's private instance from sk_json_push_decoder) + integer
 * normalisation (sk_json_normalize). Checked per input, for the default
 * max_depth (128) and for 1000, the depth sk_json_normalize covers:
 *  - the stack grows by exactly one value; a failure leaves a message;
 *  - invalid UTF-8 is refused, naming the same offset as the reference;
 *  - success and failure agree with a plain call of the same decoder;
 *  - the normalised value equals that plain decode, except that every
 *    integral float below 2^53 has become the integer of the same value
 *    (at any depth), and nothing else changed type. */
#include "fuzz.h"

static lua_State *L;
#define DECODER_128  1
#define DECODER_1000 2
#define CHECK_FN     3

static const char *const CHECK =
    "local lib = ...\n"
    "local describe = lib.describe\n"
    "local function check(raw, norm, path)\n"
    "  if type(raw) == 'number' then\n"
    "    if type(norm) ~= 'number' then return path .. ': became ' .. describe(norm) end\n"
    "    if math.type(raw) == 'float' and raw == math.floor(raw) and math.abs(raw) < 2^53 then\n"
    "      if math.type(norm) ~= 'integer' then\n"
    "        return path .. ': integral ' .. describe(raw) .. ' left as ' .. describe(norm)\n"
    "      end\n"
    "      if norm ~= raw or norm + 0.0 ~= raw then\n"
    "        return path .. ': ' .. describe(raw) .. ' normalised to ' .. describe(norm)\n"
    "      end\n"
    "      return nil\n"
    "    end\n"
    "    if math.type(norm) ~= math.type(raw) or (norm ~= raw and (raw == raw or norm == norm)) "
    "then\n"
    "      return path .. ': ' .. describe(raw) .. ' changed to ' .. describe(norm)\n"
    "    end\n"
    "    return nil\n"
    "  end\n"
    "  if type(raw) == 'table' then\n"
    "    if type(norm) ~= 'table' then return path .. ': table became ' .. describe(norm) end\n"
    "    for k, v in next, raw do\n"
    "      local e = check(v, rawget(norm, k), path .. '[' .. describe(k) .. ']')\n"
    "      if e then return e end\n"
    "    end\n"
    "    for k in next, norm do\n"
    "      if rawget(raw, k) == nil then return path .. ': extra key ' .. describe(k) end\n"
    "    end\n"
    "    return nil\n"
    "  end\n"
    "  if not rawequal(raw, norm) then return path .. ': ' .. describe(raw) .. ' vs ' .. "
    "describe(norm) end\n"
    "end\n"
    "return function(raw, norm) return check(raw, norm, '$') end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = fuzz_new_state();
  sk_json_push_decoder(L, 128);
  sk_json_push_decoder(L, 1000);
  fuzz_push_chunk(L, "=fuzzlib", FUZZ_LUA_LIB);
  {
    int lib = lua_gettop(L);
    if (luaL_loadbuffer(L, CHECK, strlen(CHECK), "=check") != LUA_OK) abort();
    lua_pushvalue(L, lib);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) abort();
    lua_remove(L, lib);
  }
  if (lua_gettop(L) != CHECK_FN) abort();
  return 0;
}

static void decode_with(int decoder, const char *s, size_t n, int utf8_ok, size_t utf8_bad) {
  int top = lua_gettop(L), rc, raw_ok;
  rc = sk_json_decode(L, decoder, s, n);
  FUZZ_CHECK(lua_gettop(L) == top + 1, "stack grew by %d", lua_gettop(L) - top);
  if (!utf8_ok) {
    char want[48];
    snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", utf8_bad);
    FUZZ_CHECK(rc == -1, "accepted invalid UTF-8 (bad byte %zu)", utf8_bad);
    FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), want) == 0,
               "message '%s', want '%s'", lua_tostring(L, -1), want);
    lua_settop(L, top);
    return;
  }
  /* The same decoder, called plainly: no normalisation. */
  lua_pushvalue(L, decoder);
  lua_pushlstring(L, s, n);
  raw_ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
  if (rc != 0) {
    FUZZ_CHECK(rc == -1, "rc %d", rc);
    /* A NUL byte is refused even where lua-cjson stops reading at it. */
    FUZZ_CHECK(!raw_ok || memchr(s, '\0', n) != NULL,
               "sk_json_decode failed (%s) where the decoder succeeds", lua_tostring(L, -2));
    FUZZ_CHECK(lua_type(L, -2) == LUA_TSTRING && lua_rawlen(L, -2) > 0, "no message on failure");
    lua_settop(L, top);
    return;
  }
  FUZZ_CHECK(raw_ok, "sk_json_decode succeeded where the decoder fails: %s", lua_tostring(L, -1));
  /* stack: normalised, raw -> check(raw, normalised) */
  lua_insert(L, -2);
  fuzz_lua_check(L, CHECK_FN, 2, "normalisation");
  lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Exact-size copy (data may be read past its end otherwise unnoticed). */
  char *s = malloc(size ? size : 1);
  size_t bad = 0;
  int ok;
  if (s == NULL) abort();
  memcpy(s, data, size);
  ok = fuzz_ref_utf8((const unsigned char *)s, size, &bad);
  decode_with(DECODER_128, s, size, ok, bad);
  decode_with(DECODER_1000, s, size, ok, bad);
  free(s);
  /* Free this input's garbage now: libFuzzer counts mallocs and frees
   * per input and runs a (slow) leak check whenever they differ. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
