/* JSON <-> Lua: our encoder, lua-cjson's decoder. */
#ifndef SK_JSON_H
#define SK_JSON_H

#include "buf.h"
#include "util.h"

/* Encodes the value at idx into b. Tables whose keys are 1..n encode as
 * arrays, other tables as objects (string keys only); an empty table is
 * `[]` when array_hint is set, `{}` otherwise. The null sentinel
 * (lightuserdata NULL) encodes as null; strings must be valid UTF-8.
 * Uses raw access only (no metamethods run). Returns 0, or -1 with a
 * message naming the offending place in err. Never raises. */
int sk_json_encode(lua_State *L, int idx, int array_hint, sk_buf *b, char *err, size_t errcap);
/* Appends s[0..n) as a JSON string literal (quotes included). */
void sk_json_add_string(sk_buf *b, const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8, else 0 with the offset of the first bad
 * byte in *bad. */
int sk_utf8_valid(const char *s, size_t n, size_t *bad);
/* Pushes a lua-cjson decoder configured for this SDK (max nesting depth,
 * no NaN/Infinity/hex numbers): a function(string) -> value that raises
 * on bad input. */
void sk_json_push_decoder(lua_State *L, int max_depth);
/* Decodes s with the decoder at decoder_idx. On success pushes the value
 * (integral numbers as integers on 5.3+, null as the sentinel) and returns
 * 0; on failure pushes a message string and returns -1. Never raises
 * (except out of memory). */
int sk_json_decode(lua_State *L, int decoder_idx, const char *s, size_t n);
/* Integral floats in +-2^53 become integers, recursively (no-op on 5.1). */
void sk_json_normalize(lua_State *L, int idx);
/* 1 + the deepest nesting level at which the JSON text s has a number (a
 * top-level number is level 0), or 0 when it has none: how deep
 * normalisation must look. Any input is safe; strings are skipped. */
int sk_json_number_levels(const char *s, size_t n);

#endif
