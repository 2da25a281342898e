/* Structured error objects: tables with a shared metatable. */
#ifndef SK_ERROR_H
#define SK_ERROR_H

#include "mask.h"

typedef struct sk_error_info {
  const char *kind; /* api, auth, transport, timeout, decode, closed */
  long status;      /* 0: no response (nil) */
  const char *code; /* NULL: nil */
  const char *message;
  const char *request_id; /* NULL or "": nil */
  const char *operation;  /* operationId */
  int retryable;
  int attempts;
} sk_error_info;

void sk_error_register(lua_State *L);
/* Pushes a new error object. Every string of info is masked with masks;
 * if details_idx is not 0 the value there becomes err.details. */
void sk_error_push(lua_State *L, const sk_error_info *info, int details_idx, sk_masks masks);
/* Pushes the error object of a non-2xx response (info's status set; its
 * code and message are filled here). A JSON body, decoded with the
 * decoder at decoder_idx, gives code, message and details, masked after
 * decoding. Never raises on any body. */
void sk_error_push_response(lua_State *L, sk_error_info *info, int decoder_idx, const char *body,
                            size_t len, const char *content_type, sk_masks masks);
/* core.is_error(v), core.error(t) */
int sk_error_is(lua_State *L);
int sk_error_adopt(lua_State *L);

#endif
