/* Masking of secrets in every encoding that can go on the wire: a server
 * that echoes a request back shows the form or percent encoding, a JSON
 * body the escaped one. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mask.h"
#include "url.h"

void sk_mask_init(sk_mask *m) {
  m->items = NULL;
  m->count = m->cap = 0;
  sk_buf_init(&m->raw);
}

void sk_mask_free(sk_mask *m) {
  size_t i;
  for (i = 0; i < m->count; i++) {
    volatile char *v = m->items[i];
    while (*v) *v++ = 0;
    free(m->items[i]);
  }
  free(m->items);
  if (m->raw.data) memset(m->raw.data, 0, m->raw.cap);
  sk_buf_free(&m->raw);
  sk_mask_init(m);
}

static int add_item(sk_mask *m, sk_buf *b) {
  size_t i;
  char *copy;
  if (b->oom) return -1;
  if (b->len < SK_MASK_MIN) return 0;
  for (i = 0; i < m->count; i++)
    if (strlen(m->items[i]) == b->len && memcmp(m->items[i], b->data, b->len) == 0) return 0;
  if (m->count + 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 8;
    char **items = (char **)realloc(m->items, cap * sizeof *items);
    if (!items) return -1;
    m->items = items;
    m->cap = cap;
  }
  if (!(copy = (char *)malloc(b->len + 1))) return -1;
  memcpy(copy, b->data, b->len);
  copy[b->len] = '\0';
  m->items[m->count++] = copy;
  m->items[m->count] = NULL;
  return 0;
}

static void lower_hex(sk_buf *b) {
  size_t i;
  for (i = 0; i + 2 < b->len; i++) {
    if (b->data[i] != '%') continue;
    if (b->data[i + 1] >= 'A' && b->data[i + 1] <= 'F') b->data[i + 1] += 'a' - 'A';
    if (b->data[i + 2] >= 'A' && b->data[i + 2] <= 'F') b->data[i + 2] += 'a' - 'A';
  }
}

int sk_mask_add(sk_mask *m, const char *s, size_t n) {
  sk_buf b;
  int rc = 0, form;
  if (n < SK_MASK_MIN || memchr(s, '\0', n)) return 0;
  sk_buf_init(&b);
  sk_buf_add(&m->raw, s, n);
  sk_buf_addc(&m->raw, '\0');
  rc |= m->raw.oom ? -1 : 0;
  sk_buf_add(&b, s, n);
  rc |= add_item(m, &b);
  for (form = 0; form < 2; form++) {
    sk_buf_reset(&b);
    if (form)
      sk_form_escape(&b, s, n);
    else
      sk_url_escape(&b, s, n);
    rc |= add_item(m, &b);
    lower_hex(&b);
    rc |= add_item(m, &b);
  }
  /* JSON: the escapes of our encoder, and "\/" as lua-cjson writes it. */
  sk_buf_reset(&b);
  sk_json_add_string(&b, s, n);
  if (!b.oom && b.len >= 2) {
    sk_buf inner;
    size_t i;
    sk_buf_init(&inner);
    sk_buf_add(&inner, b.data + 1, b.len - 2);
    rc |= add_item(m, &inner);
    sk_buf_reset(&inner);
    for (i = 1; i + 1 < b.len; i++) {
      if (b.data[i] == '/') sk_buf_addc(&inner, '\\');
      sk_buf_addc(&inner, b.data[i]);
    }
    rc |= add_item(m, &inner);
    sk_buf_free(&inner);
  }
  sk_buf_free(&b);
  return rc ? -1 : 0;
}

const char *sk_mask_find(sk_masks masks, const char *s, size_t n, size_t *found_len) {
  const char *first = NULL;
  for (; masks && *masks; masks++) {
    char *const *item;
    if (!(*masks)->items) continue;
    for (item = (*masks)->items; *item; item++) {
      size_t len = strlen(*item);
      const char *at = memmem(s, n, *item, len);
      /* the longest match at the earliest place: an encoding may start
       * with the raw secret */
      if (at && (!first || at < first || (at == first && len > *found_len))) {
        first = at;
        *found_len = len;
      }
    }
  }
  return first;
}

/* ---- decoded views: what a reader could recover from a string ---- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void percent_decode(const sk_buf *in, sk_buf *out, int plus_is_space) {
  size_t i;
  sk_buf_reset(out);
  for (i = 0; i < in->len; i++) {
    char c = in->data[i];
    if (c == '%' && i + 2 < in->len && hex_value(in->data[i + 1]) >= 0 &&
        hex_value(in->data[i + 2]) >= 0) {
      sk_buf_addc(out, (char)(hex_value(in->data[i + 1]) * 16 + hex_value(in->data[i + 2])));
      i += 2;
    } else {
      sk_buf_addc(out, plus_is_space && c == '+' ? ' ' : c);
    }
  }
}

static void json_unescape(const sk_buf *in, sk_buf *out) {
  size_t i;
  sk_buf_reset(out);
  for (i = 0; i < in->len; i++) {
    char c = in->data[i];
    if (c == '\\' && i + 5 < in->len && in->data[i + 1] == 'u' && in->data[i + 2] == '0' &&
        in->data[i + 3] == '0' && hex_value(in->data[i + 4]) >= 0 &&
        hex_value(in->data[i + 5]) >= 0) {
      sk_buf_addc(out, (char)(hex_value(in->data[i + 4]) * 16 + hex_value(in->data[i + 5])));
      i += 5;
    } else if (c == '\\' && i + 1 < in->len && strchr("\"\\/", in->data[i + 1])) {
      sk_buf_addc(out, in->data[++i]);
    } else {
      sk_buf_addc(out, c);
    }
  }
}

static int shows_raw(sk_masks masks, const sk_buf *view) {
  for (; masks && *masks; masks++) {
    const sk_buf *raw = &(*masks)->raw;
    size_t at = 0;
    while (at < raw->len) {
      size_t len = strlen(raw->data + at);
      if (len && view->len && memmem(view->data, view->len, raw->data + at, len)) return 1;
      at += len + 1;
    }
  }
  return 0;
}

/* 1 when some decoding of s[0..n) shows a secret. */
static int reveals(sk_masks masks, const char *s, size_t n) {
  sk_buf text, a, b;
  int found;
  if (!memchr(s, '%', n) && !memchr(s, '\\', n) && !memchr(s, '+', n)) return 0;
  sk_buf_init(&text);
  sk_buf_init(&a);
  sk_buf_init(&b);
  sk_buf_add(&text, s, n);
  percent_decode(&text, &a, 0);
  found = shows_raw(masks, &a);
  if (!found) {
    percent_decode(&a, &b, 0); /* percent of percent */
    found = shows_raw(masks, &b);
  }
  if (!found) {
    percent_decode(&text, &a, 1);
    found = shows_raw(masks, &a);
  }
  if (!found) {
    json_unescape(&text, &a);
    found = shows_raw(masks, &a);
    if (!found) {
      percent_decode(&a, &b, 0);
      found = shows_raw(masks, &b);
    }
    if (!found) {
      percent_decode(&a, &b, 1);
      found = shows_raw(masks, &b);
    }
  }
  /* out of memory: say yes, never leak */
  if (text.oom || a.oom || b.oom) found = 1;
  sk_buf_free(&text);
  sk_buf_free(&a);
  sk_buf_free(&b);
  return found;
}

void sk_push_masked(lua_State *L, sk_masks masks, const char *s, size_t n) {
  luaL_Buffer b;
  size_t len = 0;
  const char *at = sk_mask_find(masks, s, n, &len);
  if (!at) {
    if (reveals(masks, s, n))
      lua_pushliteral(L, "[redacted: shows a secret]");
    else
      lua_pushlstring(L, s, n);
    return;
  }
  luaL_buffinit(L, &b);
  do {
    luaL_addlstring(&b, s, (size_t)(at - s));
    luaL_addstring(&b, "[redacted]");
    n -= (size_t)(at - s) + len;
    s = at + len;
    len = 0;
  } while ((at = sk_mask_find(masks, s, n, &len)) != NULL);
  luaL_addlstring(&b, s, n);
  luaL_pushresult(&b);
  s = lua_tolstring(L, -1, &n);
  if (reveals(masks, s, n)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "[redacted: shows a secret]");
  }
}
