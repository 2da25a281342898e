/* The request-body encoder, sk_json_encode (src/json.c), on values decoded
 * from the input by the SDK's own decoder (sk_json_decode, max_depth 128):
 *  - it fails exactly when the value nests deeper than its 64-level limit
 *    or holds NaN/infinity (1e999 decodes to inf), never otherwise;
 *  - on failure the message fits errcap (several sizes, and NULL) and,
 *    given room, names the reason;
 *  - on success the output is valid UTF-8, decodes again, and the decoded
 *    value equals the original exactly (integers stay integers, floats
 *    round-trip bit for bit through %.17g);
 *  - the Lua stack is left as it was and the input value is not changed. */
#include "fuzz.h"

static lua_State *L;
#define DECODER 1
#define LIB     2

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = fuzz_new_state();
  sk_json_push_decoder(L, 128);
  fuzz_push_chunk(L, "=fuzzlib", FUZZ_LUA_LIB);
  return 0;
}

/* lib.<fn>(args...) with nargs values on top; leaves nres results. */
static void call_lib(const char *fn, int nargs, int nres) {
  lua_getfield(L, LIB, fn);
  lua_insert(L, -nargs - 1);
  if (lua_pcall(L, nargs, nres, 0) != LUA_OK) {
    fprintf(stderr, "lib.%s raised: %s\n", fn, lua_tostring(L, -1));
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t caps[] = {0, 1, 2, 7, 40, 100, 256, 1000};
  int top = lua_gettop(L), value, rc, expect_fail, array_hint = (int)(size & 1);
  size_t errcap = caps[size % (sizeof caps / sizeof caps[0])];
  char *err = size % 5 == 0 ? NULL : malloc(errcap ? errcap : 1);
  lua_Integer depth;
  int has_bad;
  sk_buf b;

  if (sk_json_decode(L, DECODER, (const char *)data, size) != 0) {
    free(err);
    lua_settop(L, top);
    return 0;
  }
  value = lua_gettop(L);
  lua_pushvalue(L, value);
  call_lib("shape", 1, 2);
  depth = lua_tointeger(L, -2);
  has_bad = lua_toboolean(L, -1);
  lua_pop(L, 2);
  expect_fail = depth > 64 || has_bad;

  /* A decoded copy to compare the input value with afterwards. */
  lua_pushvalue(L, DECODER);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) abort();
  sk_json_normalize(L, -1);

  sk_buf_init(&b);
  rc = sk_json_encode(L, value, array_hint, &b, err, errcap);
  FUZZ_CHECK(lua_gettop(L) == value + 1, "stack changed by %d", lua_gettop(L) - value - 1);
  FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
  FUZZ_CHECK((rc == -1) == expect_fail, "rc %d for depth %lld%s: %s", rc, (long long)depth,
             has_bad ? " with NaN/inf" : "", err && errcap ? err : "(no err buffer)");
  lua_pushvalue(L, value);
  call_lib("same", 2, 1);
  FUZZ_CHECK(lua_isnil(L, -1), "the input value changed: %s", lua_tostring(L, -1));
  lua_pop(L, 1);

  if (rc != 0) {
    if (err != NULL && errcap > 0) {
      size_t len = strnlen(err, errcap);
      FUZZ_CHECK(len < errcap, "message not terminated within errcap %zu", errcap);
      if (errcap > 1) FUZZ_CHECK(len > 0, "empty message");
      if (errcap >= 100)
        FUZZ_CHECK(strstr(err, "nesting deeper than 64") || strstr(err, "NaN or infinity"),
                   "message without the reason: %s", err);
    }
  } else {
    const char *out = sk_buf_cstr(&b);
    FUZZ_CHECK(!b.oom, "out of memory flag set");
    FUZZ_CHECK(b.len > 0, "empty output");
    FUZZ_CHECK(strlen(out) == b.len, "NUL byte in the output");
    FUZZ_CHECK(sk_utf8_valid(out, b.len, NULL), "output not UTF-8: %s", out);
    if (lua_type(L, value) == LUA_TTABLE) {
      lua_pushnil(L);
      if (lua_next(L, value) == 0) /* empty */
        FUZZ_CHECK(strcmp(out, array_hint ? "[]" : "{}") == 0, "empty table as %s", out);
      lua_settop(L, value);
    }
    FUZZ_CHECK(sk_json_decode(L, DECODER, out, b.len) == 0, "own output does not decode: %s\n%s",
               lua_tostring(L, -1), out);
    lua_pushvalue(L, value);
    call_lib("same", 2, 1);
    FUZZ_CHECK(lua_isnil(L, -1), "round trip changed the value: %s\nencoded: %.2000s",
               lua_tostring(L, -1), out);
  }
  sk_buf_free(&b);
  free(err);
  lua_settop(L, top);
  /* Free this input's garbage now: libFuzzer counts mallocs and frees
   * per input and runs a (slow) leak check whenever they differ. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
